#!/usr/bin/env bash
# Renders operator/deploy/webhooks.yaml for a webhook served at URL with a serving
# certificate signed by the CA in CA_FILE (PEM). Prints the manifests on stdout:
#   operator/deploy/render-webhooks.sh https://127.0.0.1:9443 DIR/ca.crt | kubectl apply -f -
# OPERATOR_USERNAME (default kubegrant-operator) is the identity the webhooks never see.
# WEBHOOK_CONFIG_NAME (environment, default kubegrant) names both configurations, so tests
# sharing a control plane can register their own and delete exactly those.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 WEBHOOK_URL CA_FILE [OPERATOR_USERNAME]" >&2; exit 2; }
url=${1%/}
ca_file=$2
operator_username=${3:-kubegrant-operator}
[ -s "$ca_file" ] || { echo "$0: CA file $ca_file is missing or empty" >&2; exit 1; }
case "$url" in https://*) ;; *) echo "$0: WEBHOOK_URL must be https://..." >&2; exit 1 ;; esac
ca_bundle=$(base64 -w0 <"$ca_file")
template="$(cd "$(dirname "$0")" && pwd)/webhooks.yaml"
# Plain substitution of exactly these three placeholders (no envsubst dependency, nothing
# else in the template is touched).
sed -e "s|\${WEBHOOK_URL}|$url|g" -e "s|\${CA_BUNDLE}|$ca_bundle|g" \
  -e "s|\${OPERATOR_USERNAME}|$operator_username|g" \
  -e "s|^  name: kubegrant\$|  name: ${WEBHOOK_CONFIG_NAME:-kubegrant}|" "$template"
