# Shared helpers for tests/controlplane/{build,up,down}.sh. Source it; it defines functions only.
# shellcheck shell=bash

KG_CP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KG_PG_BIN="${KUBEGRANT_PG_BIN:-/usr/lib/postgresql/15/bin}"
# Go lives in /usr/local/go on the CI image; make it reachable from scripts run without a login shell.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="$PATH:/usr/local/go/bin" ;; esac

kg_log() { printf '%s %s\n' "[$(date -u +%H:%M:%S)]" "$*" >&2; }
kg_die() { kg_log "ERROR: $*"; exit 1; }

# Milliseconds since the epoch, for phase timings.
kg_now_ms() { date +%s%3N; }
kg_elapsed() { local ms=$(($(kg_now_ms) - $1)); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }

kg_cache_root() {
  echo "${KUBEGRANT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubegrant}"
}

# True when some socket (listening or not, IPv4 or IPv6) is bound to local port $1.
# /proc/net/tcp* needs no tools and also sees ports bound but not yet listening.
kg_port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Prints a free TCP port on loopback. Random in 20000-32767, below Linux's ephemeral range so
# outgoing connections cannot take it between the pick and the bind; skips ports in $KG_PORTS_TAKEN
# (already handed out by this script) and ports listed in other control planes' port files.
KG_PORTS_TAKEN=""
kg_free_port() {
  local port i
  for i in $(seq 1 200); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
    case " $KG_PORTS_TAKEN " in *" $port "*) continue ;; esac
    kg_port_in_use "$port" && continue
    KG_PORTS_TAKEN="$KG_PORTS_TAKEN $port"
    echo "$port"
    return 0
  done
  kg_die "no free loopback port found after 200 tries"
}

# Reads a PID file; prints the PID if that process is alive and its command line contains $2.
kg_live_pid() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 1
  pid=$(cat "$file" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  # A zombie has an empty cmdline: treat it as gone.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 1
  echo "$pid"
}

# Stops the process in PID file $1 (command line containing $2): SIGTERM, then SIGKILL after
# $3 seconds (default 10). Removes the PID file. Returns 1 if it is still alive at the end.
kg_stop_pid() {
  local file=$1 name=$2 grace=${3:-10} pid i
  if pid=$(kg_live_pid "$file" "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((grace * 10))); do
      kg_live_pid "$file" "$name" >/dev/null || break
      sleep 0.1
    done
    if kg_live_pid "$file" "$name" >/dev/null; then
      kg_log "$name (pid $pid) still running after ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        kg_live_pid "$file" "$name" >/dev/null || break
        sleep 0.1
      done
    fi
    if kg_live_pid "$file" "$name" >/dev/null; then
      kg_log "ERROR: $name (pid $pid) did not exit"
      return 1
    fi
  fi
  rm -f "$file"
}

# Polls command "$@" every 0.2 s until it succeeds or $KG_WAIT_TIMEOUT seconds pass.
# Also gives up early when the process in $KG_WAIT_PIDFILE (name $KG_WAIT_NAME) has exited.
kg_wait_for() {
  local deadline=$(($(date +%s) + ${KG_WAIT_TIMEOUT:-60}))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "${KG_WAIT_PIDFILE:-}" ] && ! kg_live_pid "$KG_WAIT_PIDFILE" "$KG_WAIT_NAME" >/dev/null; then
      return 2
    fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# Prints the last lines of a log file to stderr, indented, for failure reports.
kg_log_tail() {
  local file=$1 n=${2:-40}
  if [ -s "$file" ]; then
    kg_log "last $n lines of $file:"
    tail -n "$n" "$file" | sed 's/^/    | /' >&2
  else
    kg_log "$file is empty or missing"
  fi
}
