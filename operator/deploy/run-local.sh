#!/usr/bin/env bash
# `make run`: the first runnable kubegrant, on a local control plane or your cluster.
#
# Usage: operator/deploy/run-local.sh BUILD_DIR DEV_DIR
#   Without KUBECONFIG: starts tests/controlplane/up.sh DEV_DIR (users' kubeconfigs in
#   DEV_DIR/kubeconfig/*.yaml), installs the CRDs, the operator's RBAC, the users' RBAC, the
#   webhook configurations (pointing at https://127.0.0.1:$WEBHOOK_PORT with a CA generated
#   into DEV_DIR/webhook-certs) and examples/, then runs the operator in the foreground as
#   user kubegrant-operator and prints the kubectl commands to request as alice and approve
#   as bob. Ctrl-C stops the operator; `make stop` (tests/controlplane/down.sh DEV_DIR)
#   stops the rest.
#   With KUBECONFIG set: installs the same into that cluster (you need admin rights there)
#   and runs the operator with your KUBECONFIG; the webhook configurations still point at
#   this machine, so this is for clusters that can reach it (e.g. kind with host networking).
# Environment: WEBHOOK_PORT (9443), HEALTH_ADDR (:8081), METRICS_ADDR (:8080), AUDIT_LOG (-),
#   OPERATOR_PREFIX (a command to run the operator under, e.g. "heaptrack -o FILE"),
#   OPERATOR_IDENTITY (kubegrant-operator: the username the operator's kubeconfig
#   authenticates as; the webhooks' matchConditions and the RBAC bind exactly that).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR DEV_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
DEV=$(cd "$2" && pwd)
WEBHOOK_PORT=${WEBHOOK_PORT:-9443}
OPERATOR="$BUILD/operator/kubegrant-operator"
CERTS_TOOL="$BUILD/webhooks/server/kubegrant-certs"
[ -x "$OPERATOR" ] || { echo "$0: $OPERATOR not built (make build)" >&2; exit 1; }

if [ -z "${KUBECONFIG:-}" ]; then
  "$ROOT/tests/controlplane/up.sh" "$DEV"
  ADMIN="$DEV/kubeconfig/admin.yaml"
  OPERATOR_KUBECONFIG="$DEV/kubeconfig/operator.yaml"
  local_users=1
else
  ADMIN="$KUBECONFIG"
  OPERATOR_KUBECONFIG="$KUBECONFIG"
  local_users=0
fi
k() { kubectl --kubeconfig "$ADMIN" "$@"; }

echo "== installing CRDs"
k apply --server-side -f "$ROOT/crds/" >/dev/null
k wait --for condition=Established --timeout=60s crd/accessrequests.kubegrant.io \
  crd/accesspolicies.kubegrant.io crd/databasetargets.kubegrant.io >/dev/null
# The operator's one identity: the local control plane's operator user, or (with KUBECONFIG)
# OPERATOR_IDENTITY, which must be the username your KUBECONFIG authenticates as.
OPERATOR_IDENTITY=${OPERATOR_IDENTITY:-kubegrant-operator}
echo "== installing RBAC (operator $OPERATOR_IDENTITY, users)"
"$ROOT/operator/deploy/render-rbac.sh" "$OPERATOR_IDENTITY" | k apply -f - >/dev/null
k apply -f "$ROOT/operator/deploy/rbac-users.yaml" >/dev/null
if ! k get secret -n kubegrant-system kubegrant-seal-keys >/dev/null 2>&1; then
  echo "== creating the seal keys Secret kubegrant-system/kubegrant-seal-keys"
  "$ROOT/operator/deploy/seal-keys.sh" new | k apply -f - >/dev/null
fi

CERT_DIR="$DEV/webhook-certs"
mkdir -p "$CERT_DIR"
if [ -x "$CERTS_TOOL" ]; then
  "$CERTS_TOOL" --dir "$CERT_DIR" --ip 127.0.0.1 --dns localhost >/dev/null
  echo "== installing webhook configurations -> https://127.0.0.1:$WEBHOOK_PORT"
  "$ROOT/operator/deploy/render-webhooks.sh" "https://127.0.0.1:$WEBHOOK_PORT" \
    "$CERT_DIR/ca.crt" "$OPERATOR_IDENTITY" | k apply -f - >/dev/null
  webhook_flags=(--webhook-port "$WEBHOOK_PORT" --webhook-cert-dir "$CERT_DIR")
else
  echo "!! $CERTS_TOOL not built: running without the admission webhook" >&2
  webhook_flags=(--webhook-port 0)
fi

# The example target names the in-cluster orders-db.payments.svc (true for a cluster). With the
# local control plane, up.sh's PostgreSQL is that database: its admin role and test CA go into
# the Secrets the target names, and the target's host/port are patched to the local server
# (127.0.0.1 is in its certificate, so verify-full holds). With KUBECONFIG you create the two
# Secrets for your own database.
local_database() {
  [ "$local_users" = 1 ] || return 0
  (
    # shellcheck source=/dev/null
    . "$DEV/env"
    k create namespace kubegrant-system --dry-run=client -o yaml | k apply -f - &&
      k -n kubegrant-system create secret generic orders-db-admin --dry-run=client -o yaml \
        --from-literal=username="$KUBEGRANT_PG_ADMIN_USER" \
        --from-literal=password="$KUBEGRANT_PG_ADMIN_PASSWORD" | k apply -f - &&
      k -n kubegrant-system create secret generic orders-db-ca --dry-run=client -o yaml \
        --from-file=ca.crt="$KUBEGRANT_PG_CA_CERT" | k apply -f - &&
      k patch databasetarget orders-db --type=merge \
        -p "{\"spec\":{\"host\":\"$KUBEGRANT_PG_HOST\",\"port\":$KUBEGRANT_PG_PORT}}"
  ) >/dev/null 2>&1
}

echo "== installing examples/"
# The webhook validates policies: apply examples once the operator serves (below).
apply_examples() {
  for i in $(seq 1 50); do
    if k apply -f "$ROOT/examples/namespace.yaml" >/dev/null 2>&1 &&
      k apply -f "$ROOT/examples/role-pod-debugger.yaml" >/dev/null 2>&1 &&
      k apply -f "$ROOT/examples/policy-payments-oncall.yaml" >/dev/null 2>&1 &&
      k apply -f "$ROOT/examples/databasetarget-orders-db.yaml" >/dev/null 2>&1 &&
      local_database; then
      return 0
    fi
    sleep 0.2
  done
  echo "!! could not apply examples/ (is the webhook serving?)" >&2
}

if [ "$local_users" = 1 ]; then
  KC="$DEV/kubeconfig"
  cat <<MSG

kubegrant is starting. In another terminal (make install-plugin puts \`kubectl grant\` on the PATH;
$BUILD/operator/kubectl_grant/kubectl-grant is the same program):

  # alice asks for access (she cannot list pods yet) and waits for a decision:
  kubectl --kubeconfig $KC/alice.yaml get pods -n payments        # Forbidden
  kubectl grant --kubeconfig $KC/alice.yaml -n payments request --name debug-orders \\
    --policy payments-oncall --role view --for 30m --reason "orders stuck" --ticket INC-4211 --wait

  # bob finds it and approves:
  kubectl grant --kubeconfig $KC/bob.yaml list --to-approve -A
  kubectl grant --kubeconfig $KC/bob.yaml -n payments approve debug-orders --comment ok

  # alice now has access until status.expiresAt; the story so far:
  kubectl --kubeconfig $KC/alice.yaml get pods -n payments
  # (add --db orders-db/readonly to the request for a database user; --wait then prints the
  # Secret debug-orders-orders-db and a ready psql command: email, phone, card_number withheld)
  kubectl grant --kubeconfig $KC/admin.yaml -n payments describe debug-orders

  # end it early (alice or an approver):
  kubectl grant --kubeconfig $KC/alice.yaml -n payments revoke debug-orders

  # the same with plain kubectl: apply $ROOT/examples/request-debug-orders.yaml as alice;
  # approve as bob with kubectl patch areq debug-orders -n payments --subresource=status \\
  #   --type=json -p '[{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve"}}]'

Health: curl localhost${HEALTH_ADDR:-:8081}/readyz   Metrics: curl localhost${METRICS_ADDR:-:8080}/metrics
Ctrl-C stops the operator; 'make stop' stops the control plane.

MSG
fi

apply_examples &
# OPERATOR_PREFIX runs the operator under a tool (bench/operator_scale_bench.sh: heaptrack).
# shellcheck disable=SC2086
exec ${OPERATOR_PREFIX:-} "$OPERATOR" --kubeconfig "$OPERATOR_KUBECONFIG" --operator-identity "$OPERATOR_IDENTITY" \
  "${webhook_flags[@]}" \
  --health-addr "${HEALTH_ADDR:-:8081}" --metrics-addr "${METRICS_ADDR:-:8080}" \
  --audit-log "${AUDIT_LOG:--}"
