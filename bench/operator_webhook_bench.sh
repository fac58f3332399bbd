#!/usr/bin/env bash
# Load test of the REAL kubegrant-operator's admission webhook (controller, informers, API
# client and webhook in one process, as `make run` starts it), not the webhook_bench stand-in:
#   1. starts the local control plane in DIR (tests/controlplane/up.sh; reused when already
#      up, stopped at exit only when this script started it),
#   2. applies crds/, the operator's RBAC and examples/ (policy payments-oncall),
#   3. generates the webhook certificate (kubegrant-certs) and starts
#      BUILD_DIR/operator/kubegrant-operator on a free loopback port, waits for /readyz
#      (caches synced, webhook serving),
#   4. checks one review by hand, then runs wrk over CONNECTIONS keep-alive TLS connections
#      POSTing the realistic AccessRequest AdmissionReview of bench/webhook_bench.lua,
#   5. reports wrk's figures, the operator's CPU time per review, its RSS and threads, and
#      the load average.
#
#   bench/operator_webhook_bench.sh [BUILD_DIR] [DIR] [DURATION] [CONNECTIONS] [WRK_THREADS]
#   (defaults: build, /tmp/kg-owb, 20s, 16, 1; OPERATOR_ARGS="--http-threads 4" passes
#   operator flags)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build}
dir=${2:-/tmp/kg-owb}
duration=${3:-20s}
conns=${4:-16}
threads=${5:-1}
operator="$build/operator/kubegrant-operator"
certs_tool="$build/webhooks/server/kubegrant-certs"
for b in "$operator" "$certs_tool"; do
  [ -x "$b" ] || { echo "build it first: cmake --build $build --target $(basename "$b")" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started_controlplane=0
if ! { [ -f "$dir/env" ] && kubectl --kubeconfig "$dir/kubeconfig/admin.yaml" get --raw /readyz \
  >/dev/null 2>&1; }; then
  tests/controlplane/up.sh "$dir" >"$dir.up.log" 2>&1 || { cat "$dir.up.log"; exit 1; }
  started_controlplane=1
fi
# shellcheck source=/dev/null
source "$dir/env"
k() { kubectl --kubeconfig "$KUBEGRANT_KUBECONFIG_ADMIN" "$@"; }

pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "$started_controlplane" = 1 ]; then tests/controlplane/down.sh "$dir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

k apply --server-side -f crds/ >/dev/null
k wait --for condition=Established --timeout=60s crd/accessrequests.kubegrant.io \
  crd/accesspolicies.kubegrant.io crd/databasetargets.kubegrant.io >/dev/null
operator/deploy/render-rbac.sh kubegrant-operator | k apply -f - >/dev/null
k apply -f operator/deploy/rbac-users.yaml >/dev/null
# No webhook configuration is registered: wrk talks to the operator directly, and the
# examples must not depend on a webhook that is not serving yet.
for f in namespace role-pod-debugger policy-payments-oncall databasetarget-orders-db; do
  k apply -f "examples/$f.yaml" >/dev/null
done

cert_dir="$dir/webhook-bench-certs"
mkdir -p "$cert_dir"
"$certs_tool" --dir "$cert_dir" --ip 127.0.0.1 --dns localhost >/dev/null
port=$(free_port)
health=$(free_port)
log="$dir/operator-bench.log"
# shellcheck disable=SC2086
# Sealing on, as in production, with webhook_bench's fixed bench key in a Secret of its own:
# the sample review's requester seal (bench/webhook_bench.lua) verifies with it.
bench_keys="bench $(printf 'b%.0s' $(seq 1 32) | base64 -w0)"
k create secret generic kubegrant-bench-seal-keys -n kubegrant-system \
  --from-literal=keys="$bench_keys" --dry-run=client -o yaml | k apply -f - >/dev/null
k create role kubegrant-bench-seal-keys -n kubegrant-system --verb=get,list,watch \
  --resource=secrets --resource-name=kubegrant-bench-seal-keys --dry-run=client -o yaml |
  k apply -f - >/dev/null
k create rolebinding kubegrant-bench-seal-keys -n kubegrant-system \
  --role=kubegrant-bench-seal-keys --user=kubegrant-operator --dry-run=client -o yaml |
  k apply -f - >/dev/null
"$operator" --kubeconfig "$KUBEGRANT_KUBECONFIG_OPERATOR" --operator-identity kubegrant-operator \
  --seal-keys-secret kubegrant-system/kubegrant-bench-seal-keys --webhook-address 127.0.0.1 \
  --webhook-port "$port" --webhook-cert-dir "$cert_dir" --health-addr "127.0.0.1:$health" \
  --metrics-addr 0 --audit-log /dev/null ${OPERATOR_ARGS:-} 2>"$log" &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$health/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$health/readyz" >/dev/null || { echo "operator never ready" >&2; cat "$log"; exit 1; }
url="https://127.0.0.1:$port"
body=$(sed -n 's/^wrk.body = \[==\[\(.*\)\]==\]$/\1/p' bench/webhook_bench.lua)
answer=$(curl -sk -H 'Content-Type: application/json' --data-binary "$body" "$url/validate-accessrequest")
grep -q '"allowed":true' <<<"$answer" || { echo "the sample review is not allowed: $answer" >&2; exit 1; }

status() { awk -v k="$1:" '$1 == k {print $2 " " $3}' "/proc/$pid/status"; }
echo "operator $url (pid $pid, $(grep -o '"httpThreads":[0-9]*' "$log" | head -1))," \
  "RSS idle: $(status VmRSS), threads: $(status Threads)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; } # utime + stime, in clock ticks
cpu0=$(cpu)
wrk_out=$(mktemp)
wrk -t"$threads" -c"$conns" -d"$duration" --latency -s bench/webhook_bench.lua \
  "$url/validate-accessrequest" | tee "$wrk_out"
cpu1=$(cpu)
reviews=$(awk '/requests in/{print $1}' "$wrk_out")
rm -f "$wrk_out"
# CPU time the operator spent per review: independent of how busy the shared machine is.
awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$reviews" 'BEGIN {
  s = t / hz; printf "operator CPU: %.2f s for %d reviews = %.0f us/review (%.0f reviews/s per core)\n",
  s, n, s * 1e6 / n, n / s }'
echo "operator RSS after: $(status VmRSS), peak (VmHWM): $(status VmHWM), threads: $(status Threads)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -0 "$pid" 2>/dev/null || { echo "the operator died" >&2; cat "$log"; exit 1; }
grep -q '"level":"error"' "$log" && { echo "the operator logged errors:" >&2; grep '"level":"error"' "$log" >&2; exit 1; }
exit 0
