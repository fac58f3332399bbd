#!/usr/bin/env bash
# Renders the operator's RBAC from the Helm chart (charts/kubegrant/templates/rbac-operator.yaml
# and rbac-users.yaml: the operator's ClusterRole and Roles, kubegrant-requester,
# kubegrant-approver) for the operator's identity, the same single value render-webhooks.sh
# and kubegrant-operator's --operator-identity take, plus the kubegrant-system Namespace:
#   operator/deploy/render-rbac.sh kubegrant-operator | kubectl apply -f -
#   operator/deploy/render-rbac.sh --service-account kubegrant-system/kubegrant-operator | ...
# (a username of the form system:serviceaccount:NS:NAME is bound as that ServiceAccount).
# For an operator run outside the cluster (make run, the e2e tests); in a cluster, install
# the chart instead.
set -euo pipefail
usage="usage: $0 (OPERATOR_USERNAME | --service-account NAMESPACE/NAME)"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=operator-identity.sh
source "$here/operator-identity.sh"
# shellcheck source=chart.sh
source "$here/chart.sh"
rc=0
kg_operator_identity "$@" || rc=$?
if [ "$rc" = 2 ]; then echo "$usage" >&2; exit 2; fi
if [ "$rc" != 0 ]; then echo "$0: see the message above" >&2; exit 1; fi
# An operator outside the cluster serves the certificate in --webhook-cert-dir (mode helm's
# permissions): it needs none of the self-managed certificate's Secret and caBundle rules.
rendered=$(kg_render_chart rbac-operator.yaml rbac-users.yaml -- \
  --set-string "operator.identity=$operator_username" --set webhook.certificate.mode=helm)
cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: kubegrant-system
YAML
printf '%s\n' "$rendered"
