#!/usr/bin/env bash
# Stops the control plane that up.sh started in DIR: kube-apiserver, etcd, PostgreSQL.
#
# Usage: tests/controlplane/down.sh [--purge] DIR
#   Idempotent: nothing running is fine. Leaves no process behind: each component gets a grace
#   period, then SIGKILL, and anything left in its session is killed too. DIR is kept (up.sh
#   restarts from it) unless --purge is given.
set -euo pipefail
# shellcheck source=tests/controlplane/lib.sh
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

purge=0
dir_arg=""
for a in "$@"; do
  case $a in
    --purge) purge=1 ;;
    -*) echo "usage: $0 [--purge] DIR" >&2; exit 2 ;;
    *) [ -z "$dir_arg" ] || { echo "usage: $0 [--purge] DIR" >&2; exit 2; }; dir_arg=$a ;;
  esac
done
[ -n "$dir_arg" ] || { echo "usage: $0 [--purge] DIR" >&2; exit 2; }
if [ ! -d "$dir_arg" ]; then
  kg_log "$dir_arg does not exist: nothing to stop"
  exit 0
fi
DIR=$(cd "$dir_arg" && pwd)
PIDS="$DIR/pids"
t_total=$(kg_now_ms)
failed=0

# Processes of the session led by the daemon (up.sh starts each in its own session), so children
# that outlive their parent are found too. Never our own session.
session_of() { ps -o sid= -p "$1" 2>/dev/null | tr -d ' '; }
kill_session_leftovers() { # sid name
  local sid=$1 name=$2 own pids
  [ -n "$sid" ] && [ "$sid" != 0 ] || return 0
  own=$(session_of $$)
  [ "$sid" != "$own" ] || return 0
  # Zombies are already dead (waiting for init to reap them): skip them.
  pids=$(ps -e -o pid=,sid=,stat= | awk -v s="$sid" '$2 == s && $3 !~ /^Z/ { print $1 }')
  [ -n "$pids" ] || return 0
  kg_log "$name: killing leftover processes of its session: $(echo $pids)"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
}

stop_component() { # name process-name grace
  local name=$1 proc=$2 grace=$3 pid sid t
  if ! pid=$(kg_live_pid "$PIDS/$name.pid" "$proc"); then
    rm -f "$PIDS/$name.pid"
    return 0
  fi
  t=$(kg_now_ms)
  sid=$(session_of "$pid")
  local children=""
  if [ "$name" = postgres ]; then
    # Postgres children start their own sessions; remember them to check they die with it.
    children=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)
    # Fast shutdown: disconnects clients, no waiting for sessions the tests left open.
    local run=()
    if [ "$(id -u)" = 0 ]; then run=(runuser -u "$(stat -c %U "$DIR/pg")" --); fi
    (cd / && "${run[@]}" "$KG_PG_BIN/pg_ctl" stop -D "$DIR/pg" -m fast -w -t "$grace" -s) \
      >>"$DIR/logs/postgres.log" 2>&1 || kg_log "postgres: pg_ctl stop failed, signalling it"
  fi
  kg_stop_pid "$PIDS/$name.pid" "$proc" "$grace" || failed=1
  kill_session_leftovers "$sid" "$name"
  local c i
  for c in $children; do
    for i in $(seq 1 50); do
      [ -d "/proc/$c" ] && grep -q postgres "/proc/$c/cmdline" 2>/dev/null || break
      sleep 0.1
    done
    if [ -d "/proc/$c" ] && grep -q postgres "/proc/$c/cmdline" 2>/dev/null; then
      kg_log "$name: killing leftover child $c"
      kill -KILL "$c" 2>/dev/null || true
    fi
  done
  kg_log "$name stopped in $(kg_elapsed "$t") (was pid $pid)"
}

stop_component kube-controller-manager kube-controller 10
stop_component kube-apiserver kube-apiserver 15
stop_component etcd etcd 10
stop_component postgres postgres 20

if [ $failed -ne 0 ]; then
  kg_die "some processes of $DIR could not be stopped"
fi

if [ $purge -eq 1 ]; then
  if [ -e "$DIR/.kubegrant-controlplane" ]; then
    rm -rf "$DIR" "/tmp/kg-pgsock-$(echo "$DIR" | sha256sum | cut -c1-12)"
    kg_log "removed $DIR"
  else
    kg_die "--purge: $DIR was not created by up.sh (no .kubegrant-controlplane marker); not removing it"
  fi
fi
kg_log "control plane in $DIR is down ($(kg_elapsed "$t_total"))"
