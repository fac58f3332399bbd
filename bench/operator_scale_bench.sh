#!/usr/bin/env bash
# Memory of the REAL kubegrant-operator holding many AccessRequests (issue 15), started the way
# `make run` starts it (operator/deploy/run-local.sh: control plane, CRDs, RBAC, seal keys,
# both webhook configurations, the operator as user kubegrant-operator):
#   1. waits for /readyz and reads the operator's idle RSS,
#   2. creates N AccessRequests as alice through both webhooks with CLIENTS parallel
#      `kubectl create` processes: half under policies that need no approval (Active, one
#      RoleBinding each), half under policies that need bob (Pending); a policy allows one
#      requester 1,000 open requests, so there is one policy per 1,000,
#   3. reports the create rate, waits until the operator has moved every request to its phase
#      (kubegrant_accessrequest_transitions_total) and its work queue is empty, and reads its
#      RSS and peak RSS (VmHWM); then once more after SETTLE seconds (the paced Events drain).
#
#   bench/operator_scale_bench.sh [BUILD_DIR] [DIR] [N] [CLIENTS] [SETTLE]
#   (defaults: build, /tmp/kg-scale, 10000, 4, 60)
#   STEADY_MINUTES=M then runs M minutes of steady work beside the N requests and prints the
#   RSS once a minute: each minute alice creates 50 requests under a policy that needs bob
#   (he approves each with `kubectl patch --subresource=status`) and 50 that need no approval,
#   all lasting 1 minute, so ~100 approvals and ~100 expiries a minute; the policies'
#   retainFor of 1 minute has the operator delete the ended ones, so the population stays level.
#   IDLE_SWEEPS=M first watches the idle operator for M minutes (each with a sweep of the
#   example DatabaseTarget): RSS after each minute and how often libpq was mapped.
#   HEAPTRACK=1 runs the operator under heaptrack (Debian's heaptrack) and prints where its
#   memory is held at the end: DIR.heaptrack.zst, read with heaptrack_print.
# The control plane is stopped at the end (tests/controlplane/down.sh --purge DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dir=${2:-/tmp/kg-scale}
n=${3:-10000}
clients=${4:-4}
settle=${5:-60}
[ -x "$build/operator/kubegrant-operator" ] || { echo "build it first (make build)" >&2; exit 1; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
health=$(free_port)
metrics=$(free_port)
mkdir -p "$dir"
log="$dir/run-local.log"
prefix=()
if [ "${HEAPTRACK:-0}" = 1 ]; then prefix=(heaptrack -o "$dir/heaptrack"); fi

pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  tests/controlplane/down.sh --purge "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
env -u KUBECONFIG WEBHOOK_PORT="$(free_port)" HEALTH_ADDR="127.0.0.1:$health" \
  METRICS_ADDR="127.0.0.1:$metrics" AUDIT_LOG=/dev/null OPERATOR_PREFIX="${prefix[*]}" \
  operator/deploy/run-local.sh "$build" "$dir" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$health/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$health/readyz" >/dev/null || { echo "never ready" >&2; cat "$log"; exit 1; }
opid=$(pgrep -n -f -- "kubegrant-operator --kubeconfig $(cd "$dir" && pwd)/kubeconfig/operator.yaml")
# shellcheck source=/dev/null
source "$dir/env"
k() { kubectl --kubeconfig "$KUBEGRANT_KUBECONFIG_ADMIN" "$@"; }
status() { # VmRSS and VmHWM in MiB, Threads as is
  awk -v k="$1:" '$1 == k {if ($3 == "kB") printf "%.1f MiB", $2 / 1024; else print $2}' "/proc/$opid/status"
}
metric() { # sum of a metric's samples whose labels contain $2
  curl -sf "http://127.0.0.1:$metrics/metrics" | awk -v m="$1" -v l="${2:-}" \
    'index($0, m) == 1 && index($0, l) > 0 {s += $NF} END {printf "%d", s}'
}
sleep 5
echo "operator pid $opid, idle: RSS $(status VmRSS), peak $(status VmHWM), threads $(status Threads)"
if [ "${IDLE_SWEEPS:-0}" -gt 0 ]; then
  # The example DatabaseTarget is swept once a minute: libpq is mapped only while the sweep's
  # connection is open. Sample the maps every 50 ms and read the RSS after each minute.
  for minute in $(seq 1 "$IDLE_SWEEPS"); do
    mapped=0
    for _ in $(seq 1 1200); do
      grep -q 'libpq\.so' "/proc/$opid/maps" && mapped=$((mapped + 1))
      sleep 0.05
    done
    echo "idle minute $minute: RSS $(status VmRSS), libpq mapped in $mapped of 1200 samples, now $(grep -c 'libpq\.so' "/proc/$opid/maps" || true) mappings"
  done
fi
[ "$n" -gt 0 ] || exit 0 # N=0: the idle figures only

policies=$(((n + 999) / 1000))
k create namespace scale --dry-run=client -o yaml | k apply -f - >/dev/null
policy() { # NAME NAMESPACE REQUIRED DURATION [RETAIN_FOR]: alice asks, bob approves
  local retain=${5:+"retainFor: $5"}
  for _ in $(seq 1 50); do
    k apply -f - >/dev/null 2>&1 <<YAML && return 0
apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata: {name: $1}
spec:
  requesters: {groups: [payments-devs]}
  namespaces: [$2]
  roles: [{kind: ClusterRole, name: view}]
  defaultDuration: $4
  maxDuration: $4
  maxOpenRequests: 1000
  $retain
  approval: {approvers: {groups: [payments-leads]}, required: $3}
YAML
    sleep 0.2
  done
  echo "cannot apply policy $1" >&2
  return 1
}
for i in $(seq 0 $((policies - 1))); do
  policy "scale-$i" scale $((i % 2)) 4h # even: no approval needed (Active), odd: bob's (Pending)
done
work=$(mktemp -d)
for c in $(seq 0 $((clients - 1))); do
  for j in $(seq "$c" "$clients" $((n - 1))); do
    printf -- '---\napiVersion: kubegrant.io/v1alpha1\nkind: AccessRequest\nmetadata: {name: r-%d, namespace: scale}\nspec: {policy: scale-%d, reason: scale bench, roles: [{kind: ClusterRole, name: view}]}\n' \
      "$j" $((j / 1000))
  done >"$work/c$c.yaml"
done
echo "load average before the creates: $(cut -d' ' -f1-3 /proc/loadavg)"
cpu() { # CPU seconds (utime + stime) of a pid
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}
declare -A cpu0
procs=(kube-apiserver etcd kube-controller-manager)
for p in "${procs[@]}"; do cpu0[$p]=$(cpu "$(cat "$dir/pids/$p.pid" 2>/dev/null)"); done
cpu0[operator]=$(cpu "$opid")
children0=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($16 + $17) / hz}' /proc/$$/stat)
t0=$(date +%s.%N)
for c in $(seq 0 $((clients - 1))); do
  kubectl --kubeconfig "$KUBEGRANT_KUBECONFIG_ALICE" create -f "$work/c$c.yaml" \
    >"$work/c$c.out" 2>&1 &
done
wait_failed=0
for job in $(jobs -p); do [ "$job" = "$pid" ] || wait "$job" || wait_failed=1; done
t1=$(date +%s.%N)
created=$(cat "$work"/c*.out | grep -c ' created$' || true)
awk -v n="$created" -v t0="$t0" -v t1="$t1" -v c="$clients" \
  'BEGIN {printf "created %d AccessRequests with %d clients in %.1f s (%.0f/s)\n", n, c, t1 - t0, n / (t1 - t0)}'
[ "$wait_failed" = 0 ] || { echo "some creates failed:" >&2; grep -v ' created$' "$work"/c*.out | head >&2; }
# Where the time went: CPU seconds each process spent during the creates (kubectl: the
# script's waited-for children).
spent="CPU during the creates:"
for p in "${procs[@]}"; do
  spent+=" $p $(awk -v a="${cpu0[$p]}" -v b="$(cpu "$(cat "$dir/pids/$p.pid" 2>/dev/null)")" 'BEGIN {printf "%.1f", b - a}') s,"
done
spent+=" kubegrant-operator $(awk -v a="${cpu0[operator]}" -v b="$(cpu "$opid")" 'BEGIN {printf "%.1f", b - a}') s,"
spent+=" kubectl $(awk -v a="$children0" -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($16 + $17) / hz - a}' /proc/$$/stat) s"
awk -v t0="$t0" -v t1="$t1" -v s="$spent" 'BEGIN {printf "%s (wall %.1f s, 2 cores)\n", s, t1 - t0}'
rm -rf "$work"

t0=$(date +%s)
phases() { k get accessrequests -n scale --no-headers -o custom-columns=P:.status.phase | sort | uniq -c | tr -s ' ' | paste -sd, -; }
while :; do
  now=$(phases)
  with_phase=$(awk -F, '{for (i = 1; i <= NF; i++) {split($i, a, " "); if (a[2] != "<none>") s += a[1]}} END {print s + 0}' <<<"$now")
  [ "$with_phase" -ge "$created" ] && [ "$(metric kubegrant_workqueue_depth)" = 0 ] && break
  [ $(($(date +%s) - t0)) -lt 900 ] || { echo "not settled after 900 s: $now" >&2; break; }
  sleep 5
done
echo "all $created have a phase ($now) $(($(date +%s) - t0)) s after the last create:" \
  "RSS $(status VmRSS), peak $(status VmHWM), threads $(status Threads)"
echo "RoleBindings in scale: $(k get rolebindings -n scale --no-headers 2>/dev/null | wc -l)"
sleep "$settle"
echo "after $settle s more: RSS $(status VmRSS), peak $(status VmHWM)," \
  "Events dropped $(metric kubegrant_events_dropped)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

steady=${STEADY_MINUTES:-0}
if [ "$steady" -gt 0 ]; then
  k create namespace steady --dry-run=client -o yaml | k apply -f - >/dev/null
  # Ended requests are kept for retainFor (the audit record), then the operator deletes them:
  # with 1m the population stays level.
  for required in 0 1; do policy "steady-$required" steady "$required" 1m 1m; done
  work=$(mktemp -d)
  approve='[{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"steady"}}]'
  echo "steady: $steady minutes of ~100 approvals and ~100 expiries a minute"
  for m in $(seq 1 "$steady"); do
    start=$(date +%s)
    for j in $(seq 0 99); do
      printf -- '---\napiVersion: kubegrant.io/v1alpha1\nkind: AccessRequest\nmetadata: {name: s-%d-%d, namespace: steady}\nspec: {policy: steady-%d, reason: steady bench, roles: [{kind: ClusterRole, name: view}]}\n' \
        "$m" "$j" $((j % 2))
    done >"$work/m.yaml"
    kubectl --kubeconfig "$KUBEGRANT_KUBECONFIG_ALICE" create -f "$work/m.yaml" >/dev/null 2>&1 || true
    # bob approves the 50 that wait for him, once the operator has written their first status.
    sleep 3
    seq 1 2 99 | xargs -P 4 -I{} kubectl --kubeconfig "$KUBEGRANT_KUBECONFIG_BOB" patch \
      accessrequest "s-$m-{}" -n steady --subresource=status --type=json -p "$approve" \
      >/dev/null 2>&1 || true
    echo "steady minute $m: RSS $(status VmRSS), peak $(status VmHWM)," \
      "requests in steady $(k get accessrequests -n steady --no-headers 2>/dev/null | wc -l)," \
      "approved $(metric kubegrant_accessrequest_transitions_total 'phase="Active"')," \
      "expired $(metric kubegrant_accessrequest_transitions_total 'phase="Expired"')," \
      "load $(cut -d' ' -f1 /proc/loadavg)"
    left=$((start + 60 - $(date +%s)))
    [ "$left" -le 0 ] || sleep "$left"
  done
  rm -rf "$work"
fi
if [ "${HEAPTRACK:-0}" = 1 ]; then
  # SIGTERM to the operator itself: it shuts down cleanly and heaptrack (its parent) writes out.
  kill "$opid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  # Kept beside DIR (which is purged at exit) for heaptrack_print or heaptrack_gui.
  file="$dir.heaptrack.zst"
  mv "$(find "$dir" -maxdepth 1 -name 'heaptrack.*' | head -1)" "$file"
  echo "heaptrack: $file"
  heaptrack_print --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
    --peak-limit 25 "$file" 2>/dev/null | sed -n '/^MOST MEMORY CONSUMING\|^PEAK MEMORY CONSUMERS/,$p' | head -150
fi
