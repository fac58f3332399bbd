#!/usr/bin/env bash
# Renders operator/deploy/rbac-operator.yaml for the operator's identity, the same single
# value render-webhooks.sh and kubegrant-operator's --operator-identity take:
#   operator/deploy/render-rbac.sh kubegrant-operator | kubectl apply -f -
#   operator/deploy/render-rbac.sh --service-account kubegrant-system/kubegrant-operator | ...
# (a username of the form system:serviceaccount:NS:NAME is bound as that ServiceAccount).
set -euo pipefail
usage="usage: $0 (OPERATOR_USERNAME | --service-account NAMESPACE/NAME)"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=operator-identity.sh
source "$here/operator-identity.sh"
rc=0
kg_operator_identity "$@" || rc=$?
if [ "$rc" = 2 ]; then echo "$usage" >&2; exit 2; fi
if [ "$rc" != 0 ]; then echo "$0: see the message above" >&2; exit 1; fi
sed -e "s|\${OPERATOR_SUBJECT}|$operator_subject|g" "$here/rbac-operator.yaml"
