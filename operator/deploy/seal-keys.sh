#!/usr/bin/env bash
# The seal keys Secret (operator/seal/seal.h): HMAC keys the admission webhook and the
# operator seal decisions with. Every replica reads the same Secret.
#   operator/deploy/seal-keys.sh new [NAMESPACE/NAME]     prints a Secret with one fresh key
#   operator/deploy/seal-keys.sh rotate [NAMESPACE/NAME]  prints it with a fresh key on top of
#                                                         the current ones (read with kubectl)
# Pipe either into `kubectl apply -f -`. Format of data.keys: one key a line,
# "<id> <base64 of 32 random bytes>", newest first: the first line seals, every line
# verifies. Drop a line (edit the Secret) once nothing sealed with it is kept any more
# (the longest retainFor of your policies after the rotation).
set -euo pipefail
usage="usage: $0 (new | rotate) [NAMESPACE/NAME]"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
ref=${2:-kubegrant-system/kubegrant-seal-keys}
ns=${ref%%/*}
name=${ref#*/}
id="k$(date -u +%Y%m%d%H%M%S)"
fresh="$id $(openssl rand -base64 32)"
case "$1" in
  new) keys=$fresh ;;
  rotate)
    current=$(kubectl get secret -n "$ns" "$name" -o jsonpath='{.data.keys}' | base64 -d)
    [ -n "$current" ] || { echo "$0: Secret $ref has no data.keys to rotate" >&2; exit 1; }
    keys="$fresh
$current"
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $name
  namespace: $ns
  labels:
    app.kubernetes.io/name: kubegrant
type: Opaque
data:
  keys: $(printf '%s\n' "$keys" | base64 -w0)
YAML
