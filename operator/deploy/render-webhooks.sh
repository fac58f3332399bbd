#!/usr/bin/env bash
# Renders operator/deploy/webhooks.yaml for a webhook served at URL with a serving
# certificate signed by the CA in CA_FILE (PEM). Prints the manifests on stdout:
#   operator/deploy/render-webhooks.sh https://127.0.0.1:9443 DIR/ca.crt | kubectl apply -f -
#
# The third argument is the operator's identity, which the webhooks' matchConditions exclude
# (its status writes must never wait for, or depend on, the webhook):
#   (none)                            kubegrant-operator: the local user of `make run` and tests
#   USERNAME                          any username, e.g. one from a client certificate
#   --service-account NAMESPACE/NAME  the in-cluster operator's ServiceAccount, rendered as
#                                     system:serviceaccount:NAMESPACE:NAME (the username the
#                                     API server gives a ServiceAccount token)
# e.g. render-webhooks.sh https://kubegrant-webhook.kubegrant-system.svc:443 ca.crt \
#        --service-account kubegrant-system/kubegrant-operator
# The identity goes into a CEL string literal, so only the characters Kubernetes usernames
# use in practice are accepted (letters, digits, and . _ @ : -); anything else is refused.
# WEBHOOK_CONFIG_NAME (environment, default kubegrant) names both configurations, so tests
# sharing a control plane can register their own and delete exactly those.
set -euo pipefail
usage="usage: $0 WEBHOOK_URL CA_FILE [OPERATOR_USERNAME | --service-account NAMESPACE/NAME]"
[ $# -ge 2 ] && [ $# -le 4 ] || { echo "$usage" >&2; exit 2; }
url=${1%/}
ca_file=$2
operator_username=kubegrant-operator
if [ "${3:-}" = "--service-account" ]; then
  [ $# -eq 4 ] || { echo "$usage" >&2; exit 2; }
  # NAMESPACE/NAME: DNS-1123 names, as Kubernetes requires for both.
  dns='[a-z0-9]([-a-z0-9]*[a-z0-9])?'
  [[ "$4" =~ ^($dns)/($dns)$ ]] || {
    echo "$0: --service-account wants NAMESPACE/NAME (lowercase DNS names), got \"$4\"" >&2
    exit 1
  }
  operator_username="system:serviceaccount:${4%%/*}:${4#*/}"
elif [ $# -eq 3 ]; then
  operator_username=$3
elif [ $# -eq 4 ]; then
  echo "$usage" >&2
  exit 2
fi
[[ "$operator_username" =~ ^[A-Za-z0-9._@:-]+$ ]] || {
  echo "$0: operator username \"$operator_username\" has characters other than letters," \
    "digits and . _ @ : -" >&2
  exit 1
}
[ -s "$ca_file" ] || { echo "$0: CA file $ca_file is missing or empty" >&2; exit 1; }
case "$url" in https://*) ;; *) echo "$0: WEBHOOK_URL must be https://..." >&2; exit 1 ;; esac
ca_bundle=$(base64 -w0 <"$ca_file")
template="$(cd "$(dirname "$0")" && pwd)/webhooks.yaml"
# Plain substitution of exactly these three placeholders (no envsubst dependency, nothing
# else in the template is touched).
sed -e "s|\${WEBHOOK_URL}|$url|g" -e "s|\${CA_BUNDLE}|$ca_bundle|g" \
  -e "s|\${OPERATOR_USERNAME}|$operator_username|g" \
  -e "s|^  name: kubegrant\$|  name: ${WEBHOOK_CONFIG_NAME:-kubegrant}|" "$template"
