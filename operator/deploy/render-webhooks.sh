#!/usr/bin/env bash
# Renders kubegrant's webhook configurations from the Helm chart
# (charts/kubegrant/templates/webhooks.yaml) for a webhook served at URL with a serving
# certificate signed by the CA in CA_FILE (PEM). Prints the manifests on stdout:
#   operator/deploy/render-webhooks.sh https://127.0.0.1:9443 DIR/ca.crt kubegrant-operator \
#     | kubectl apply -f -
#
# The third argument is the operator's identity (required: no identity is built in), which
# the webhooks' matchConditions exclude (its status writes must never wait for, or depend
# on, the webhook). It must be the same value as kubegrant-operator's --operator-identity
# and render-rbac.sh's argument:
#   USERNAME                          any username, e.g. kubegrant-operator from a client
#                                     certificate (the local user of `make run` and tests)
#   --service-account NAMESPACE/NAME  a ServiceAccount, rendered as
#                                     system:serviceaccount:NAMESPACE:NAME (the username the
#                                     API server gives a ServiceAccount token)
# See operator-identity.sh for what is accepted. In a cluster, install the chart instead: it
# points the configurations at its webhook Service.
# WEBHOOK_CONFIG_NAME (environment, default kubegrant) names both configurations, so tests
# sharing a control plane can register their own and delete exactly those.
set -euo pipefail
usage="usage: $0 WEBHOOK_URL CA_FILE (OPERATOR_USERNAME | --service-account NAMESPACE/NAME)"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=operator-identity.sh
source "$here/operator-identity.sh"
# shellcheck source=chart.sh
source "$here/chart.sh"
[ $# -ge 3 ] && [ $# -le 4 ] || { echo "$usage" >&2; exit 2; }
url=${1%/}
ca_file=$2
shift 2
rc=0
kg_operator_identity "$@" || rc=$?
if [ "$rc" = 2 ]; then echo "$usage" >&2; exit 2; fi
if [ "$rc" != 0 ]; then echo "$0: see the message above" >&2; exit 1; fi
[ -s "$ca_file" ] || { echo "$0: CA file $ca_file is missing or empty" >&2; exit 1; }
case "$url" in https://*) ;; *) echo "$0: WEBHOOK_URL must be https://..." >&2; exit 1 ;; esac
kg_render_chart webhooks.yaml -- \
  --set-string "webhook.url=$url" \
  --set-string "webhook.caBundle=$(base64 -w0 <"$ca_file")" \
  --set-string "webhook.configurationName=${WEBHOOK_CONFIG_NAME:-kubegrant}" \
  --set-string "operator.identity=$operator_username"
