#!/usr/bin/env bash
# Runs the whole test suite against a real control plane (called by `make test` after the build
# and tests/controlplane/build.sh):
#   1. unit tests (ctest -L unit)
#   2. a throwaway control plane in a temp dir: tests/controlplane/up.sh (etcd, kube-apiserver,
#      PostgreSQL), always stopped and removed at the end, also on failure or Ctrl-C
#   3. integration, e2e and chart tests (ctest -L 'integration|e2e|chart') with DIR/env sourced
# Prints the time of each phase and the CTest summaries; exits non-zero if anything failed.
#
# Usage: .ci/run-tests.sh BUILD_DIR
# Env: KUBEGRANT_TEST_JOBS (parallel unit tests, default nproc), KUBEGRANT_KEEP_CONTROLPLANE=1
#      (leave the control plane running and its dir in place for debugging; stop it with
#      tests/controlplane/down.sh --purge DIR).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd) || { echo "run-tests: no build dir $1" >&2; exit 2; }
# shellcheck source=tests/controlplane/lib.sh
source "$ROOT/tests/controlplane/lib.sh"

results=() # "phase<TAB>status<TAB>seconds<TAB>summary"
overall=0
t_all=$(kg_now_ms)

record() { # phase rc start summary
  phase=""
  local status=passed
  [ "$2" -eq 0 ] || { status="FAILED (exit $2)"; overall=1; }
  results+=("$1"$'\t'"$status"$'\t'"$(kg_elapsed "$3")"$'\t'"$4")
}

# CTest's own summary lines ("100% tests passed, 0 tests failed out of 12", "Total Test time"),
# so the output shows how many tests really ran.
ctest_summary() {
  grep -E 'tests passed|tests failed out of|No tests were found|Total Test time' "$1" |
    tr '\n' ';' | sed 's/;$//; s/;/; /g'
}

# Totals over every ctest run, for the closing "N passed, N failed" line.
total_passed=0 total_failed=0
tally() { # ctest log
  local line n f
  line=$(grep -E 'tests failed out of [0-9]+' "$1" | tail -n 1) || return 0
  n=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) tests failed out of.*/\1/' <<<"$line")
  total_passed=$((total_passed + n - f))
  total_failed=$((total_failed + f))
}

print_summary() {
  echo
  echo "================================ test summary ================================"
  local r phase status secs summary
  for r in "${results[@]}"; do
    IFS=$'\t' read -r phase status secs summary <<<"$r"
    printf '  %-20s %-18s %9s  %s\n' "$phase" "$status" "$secs" "$summary"
  done
  printf '  %-20s %-18s %9s\n' "total" "$([ $overall -eq 0 ] && echo passed || echo FAILED)" \
    "$(kg_elapsed "$t_all")"
  echo "=============================================================================="
  echo "tests: ${total_passed} passed, ${total_failed} failed"
}

LOG_DIR=$(mktemp -d /tmp/kubegrant-ctest.XXXXXX)
CP_DIR=""
cleanup() {
  local rc=$?
  trap '' INT TERM # finish stopping even on a second Ctrl-C
  if [ -z "$CP_DIR" ]; then
    : # interrupted before the control plane phase
  elif [ "${KUBEGRANT_KEEP_CONTROLPLANE:-0}" = 1 ]; then
    kg_log "KUBEGRANT_KEEP_CONTROLPLANE=1: leaving the control plane in $CP_DIR running;" \
      "stop it with tests/controlplane/down.sh --purge $CP_DIR"
  else
    local t drc=0
    t=$(kg_now_ms)
    kg_log "phase down: tests/controlplane/down.sh --purge $CP_DIR"
    "$ROOT/tests/controlplane/down.sh" --purge "$CP_DIR" || drc=$?
    record "control plane down" "$drc" "$t" "no process left, $CP_DIR removed"
    [ $drc -eq 0 ] || kg_log "ERROR: down.sh failed; processes of $CP_DIR may be left behind"
    rm -rf "$CP_DIR"
  fi
  rm -rf "$LOG_DIR"
  print_summary
  [ $overall -eq 0 ] || [ $rc -ne 0 ] || rc=1
  exit $rc
}
trap cleanup EXIT
phase="" phase_start=0
on_interrupt() {
  kg_log "interrupted"
  if [ -n "$phase" ]; then record "$phase" 130 "$phase_start" "interrupted"; fi
  exit 130
}
trap on_interrupt INT TERM

# ---- 1. unit ----------------------------------------------------------------------------------
kg_log "phase unit: ctest -L unit"
t=$(kg_now_ms) phase=unit phase_start=$t
rc=0
# A default per-test timeout so a hung unit test fails instead of blocking CI (integration tests
# set their own TIMEOUT in tests/CMakeLists.txt).
ctest --test-dir "$BUILD_DIR" -L unit --output-on-failure --no-tests=error \
  --timeout "${KUBEGRANT_UNIT_TEST_TIMEOUT:-120}" -j "${KUBEGRANT_TEST_JOBS:-$(nproc)}" 2>&1 |
  tee "$LOG_DIR/unit.log" || rc=$?
record unit "$rc" "$t" "$(ctest_summary "$LOG_DIR/unit.log")"
tally "$LOG_DIR/unit.log"

# ---- 2. control plane ---------------------------------------------------------------------------
CP_DIR=$(mktemp -d /tmp/kubegrant-cp.XXXXXX)

kg_log "phase up: tests/controlplane/up.sh $CP_DIR"
t=$(kg_now_ms) phase="control plane up" phase_start=$t
rc=0
"$ROOT/tests/controlplane/up.sh" "$CP_DIR" || rc=$?
record "control plane up" "$rc" "$t" "$CP_DIR"

if [ "$rc" -eq 0 ]; then
  # shellcheck disable=SC1091
  source "$CP_DIR/env"
  # ---- 3. integration + e2e ---------------------------------------------------------------------
  kg_log "phase integration|e2e: ctest -L 'integration|e2e|chart' (API server $KUBEGRANT_API_SERVER)"
  t=$(kg_now_ms) phase="integration+e2e" phase_start=$t
  rc=0
  ctest --test-dir "$BUILD_DIR" -L 'integration|e2e|chart' --output-on-failure --no-tests=error 2>&1 |
    tee "$LOG_DIR/integration.log" || rc=$?
  record "integration+e2e" "$rc" "$t" "$(ctest_summary "$LOG_DIR/integration.log")"
  tally "$LOG_DIR/integration.log"
else
  results+=("integration+e2e"$'\t'"NOT RUN"$'\t'"-"$'\t'"the control plane did not start")
  overall=1
fi

exit $overall # the summary is printed by cleanup, after the control plane is down
