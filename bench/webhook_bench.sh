#!/usr/bin/env bash
# Load test of the admission webhook: starts bench/webhook_bench (the real WebhookServer with
# TLS and rules, a fixed policy in memory), checks one review by hand, runs wrk with 16
# keep-alive TLS connections POSTing a realistic AccessRequest AdmissionReview, and reports
# throughput, latency percentiles and the server's peak RSS (VmHWM).
#
#   bench/webhook_bench.sh [BUILD_DIR] [DURATION] [CONNECTIONS] [WRK_THREADS]
#   (defaults: build, 20s, 16, 2; WEBHOOK_BENCH_ARGS="--io-threads 4" passes server flags)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
duration=${2:-20s}
conns=${3:-16}
threads=${4:-2}
bin="$build/bench/webhook_bench"
[ -x "$bin" ] || { echo "build it first: cmake --build $build --target webhook_bench" >&2; exit 1; }
out=$(mktemp)
"$bin" ${WEBHOOK_BENCH_ARGS:-} >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 50); do grep -q '^url ' "$out" && break; sleep 0.1; done
url=$(sed -n 's/^url //p' "$out")
[ -n "$url" ] || { cat "$out"; exit 1; }
body=$(sed -n 's/^wrk.body = \[==\[\(.*\)\]==\]$/\1/p' bench/webhook_bench.lua)
curl -sk -H 'Content-Type: application/json' --data-binary "$body" "$url/validate-accessrequest" |
  grep -q '"allowed":true' || { echo "the sample review is not allowed: check the bench" >&2; exit 1; }
echo "server $url (pid $pid), RSS idle: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; } # utime + stime, in clock ticks
cpu0=$(cpu)
wrk -t"$threads" -c"$conns" -d"$duration" --latency -s bench/webhook_bench.lua \
  "$url/validate-accessrequest" | tee "$out.wrk"
cpu1=$(cpu)
reviews=$(awk '/requests in/{print $1}' "$out.wrk")
# CPU time the server spent per review: independent of how busy the shared machine is.
awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$reviews" 'BEGIN {
  s = t / hz; printf "server CPU: %.2f s for %d reviews = %.0f us/review (%.0f reviews/s per core)\n",
  s, n, s * 1e6 / n, n / s }'
rm -f "$out.wrk"
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print $2 " " $3}' /proc/$pid/status)," \
  "threads: $(awk '/Threads/{print $2}' /proc/$pid/status)"
