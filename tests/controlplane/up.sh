#!/usr/bin/env bash
# Starts a real local control plane for kubegrant's tests, all on loopback, no Docker:
#   etcd + kube-apiserver + kube-controller-manager (built by build.sh) with client-certificate
#   users signed by a test CA, and a throwaway PostgreSQL 15 with an admin role and a sample
#   schema with PII columns.
#
# Usage: tests/controlplane/up.sh DIR
#   DIR/env                      `export KUBEGRANT_...` lines for the tests (source it)
#   DIR/kubeconfig/<user>.yaml   admin, operator, alice, bob, carol, mallory
#   DIR/pki/                     test CA, API server cert, service-account keys, user certs
#   DIR/logs/{etcd,kube-apiserver,kube-controller-manager,postgres}.log, DIR/pids/
# Idempotent: when everything in DIR is already up and healthy it says so and exits 0; a DIR
# left by down.sh (without --purge) is started again with its data. Stop with down.sh DIR.
set -euo pipefail
# shellcheck source=tests/controlplane/lib.sh
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
PKI="$DIR/pki"
LOGS="$DIR/logs"
PIDS="$DIR/pids"
PGDATA_DIR="$DIR/pg"
PG_ADMIN_USER=kubegrant_admin
PG_DATABASE=orders
USERS=(admin operator alice bob carol mallory)
KAS_TIMEOUT=${KUBEGRANT_APISERVER_TIMEOUT:-90}
t_total=$(kg_now_ms)

# ---------------------------------------------------------------------------------------------
# Already up?

healthy() {
  [ -s "$DIR/env" ] && [ -s "$DIR/ports" ] || return 1
  kg_live_pid "$PIDS/etcd.pid" etcd >/dev/null || return 1
  kg_live_pid "$PIDS/kube-apiserver.pid" kube-apiserver >/dev/null || return 1
  kg_live_pid "$PIDS/kube-controller-manager.pid" kube-controller >/dev/null || return 1
  kg_live_pid "$PIDS/postgres.pid" postgres >/dev/null || return 1
  # shellcheck disable=SC1091
  (
    source "$DIR/ports"
    curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"' &&
      curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/users/admin.crt" \
        --key "$PKI/users/admin.key" "https://127.0.0.1:$KAS_PORT/readyz" >/dev/null &&
      "$KG_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 5
  )
}

if healthy; then
  kg_log "control plane in $DIR is already up and healthy; source $DIR/env"
  exit 0
fi
for f in etcd:etcd kube-apiserver:kube-apiserver kube-controller-manager:kube-controller \
  postgres:postgres; do
  if kg_live_pid "$PIDS/${f%%:*}.pid" "${f##*:}" >/dev/null; then
    kg_log "control plane in $DIR is partly up or unhealthy: stopping it first"
    "$KG_CP_DIR/down.sh" "$DIR"
    break
  fi
done

# From here on, a failure stops whatever this run started.
started=0
on_exit() {
  local rc=$?
  if [ $rc -ne 0 ] && [ $started -eq 1 ]; then
    kg_log "up.sh failed: stopping what it started"
    "$KG_CP_DIR/down.sh" "$DIR" || true
  fi
  exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

mkdir -p "$LOGS" "$PIDS" "$DIR/kubeconfig"
touch "$DIR/.kubegrant-controlplane" # lets down.sh --purge recognize the folder

# ---------------------------------------------------------------------------------------------
# Binaries

t=$(kg_now_ms)
bins=$("$KG_CP_DIR/build.sh") || kg_die "tests/controlplane/build.sh failed"
eval "$bins"
KAS_BIN=$KUBEGRANT_KUBE_APISERVER
ETCD_BIN=$KUBEGRANT_ETCD
KCM_BIN=$KUBEGRANT_KUBE_CONTROLLER_MANAGER
kg_log "binaries ready in $(kg_elapsed "$t"): $KAS_BIN, $ETCD_BIN, $KCM_BIN"

# ---------------------------------------------------------------------------------------------
# PKI (kept across restarts of the same DIR)

issue_cert() { # name subject extensions dir
  local name=$1 subj=$2 ext=$3 dir=$4
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null &&
    openssl req -new -config "$PKI/openssl.cnf" -key "$dir/$name.key" -subj "$subj" \
      -out "$dir/$name.csr" &&
    openssl x509 -req -in "$dir/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 \
      -extfile "$PKI/openssl.cnf" -extensions "$ext" -out "$dir/$name.crt" 2>/dev/null &&
    rm -f "$dir/$name.csr"
}

if [ ! -e "$PKI/.complete" ]; then
  t=$(kg_now_ms)
  rm -rf "$PKI"
  mkdir -p "$PKI/users"
  chmod 700 "$PKI"
  cat >"$PKI/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF
  openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -config "$PKI/openssl.cnf" -extensions ca_ext -key "$PKI/ca.key" \
    -subj "/CN=kubegrant-test-ca" -days 3650 -sha256 -out "$PKI/ca.crt"
  # RSA key generation dominates on a loaded machine: issue the certificates in parallel.
  jobs=()
  issue_cert apiserver "/CN=kube-apiserver" server_ext "$PKI" & jobs+=($!)
  (openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null &&
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null) & jobs+=($!)
  issue_cert admin "/O=system:masters/CN=admin" client_ext "$PKI/users" & jobs+=($!)
  issue_cert operator "/O=kubegrant:operators/CN=kubegrant-operator" client_ext "$PKI/users" &
  jobs+=($!)
  issue_cert alice "/O=payments-devs/CN=alice" client_ext "$PKI/users" & jobs+=($!)
  issue_cert bob "/O=payments-leads/CN=bob" client_ext "$PKI/users" & jobs+=($!)
  issue_cert carol "/O=payments-leads/CN=carol" client_ext "$PKI/users" & jobs+=($!)
  issue_cert mallory "/CN=mallory" client_ext "$PKI/users" & jobs+=($!)
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager" client_ext "$PKI" &
  jobs+=($!)
  for j in "${jobs[@]}"; do wait "$j" || kg_die "generating the test PKI in $PKI failed"; done
  touch "$PKI/.complete"
  kg_log "PKI generated in $(kg_elapsed "$t"): $PKI"
fi

# A DIR from an older up.sh has no certificate for the controller-manager yet.
if [ ! -s "$PKI/kube-controller-manager.crt" ]; then
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager" client_ext "$PKI" ||
    kg_die "issuing the kube-controller-manager certificate in $PKI failed"
fi

# ---------------------------------------------------------------------------------------------
# Ports: reuse the previous ones of this DIR when still free (etcd's data remembers its peer URL),
# otherwise pick new free ones.

ETCD_CLIENT_PORT="" ETCD_PEER_PORT="" KAS_PORT="" PG_PORT=""
if [ -s "$DIR/ports" ]; then
  # shellcheck disable=SC1091
  source "$DIR/ports"
fi
for v in ETCD_CLIENT_PORT ETCD_PEER_PORT KAS_PORT PG_PORT; do
  if [ -z "${!v}" ] || kg_port_in_use "${!v}"; then
    printf -v "$v" '%s' "$(kg_free_port)"
  fi
  KG_PORTS_TAKEN="$KG_PORTS_TAKEN ${!v}"
done
cat >"$DIR/ports" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
KAS_PORT=$KAS_PORT
PG_PORT=$PG_PORT
EOF

# ---------------------------------------------------------------------------------------------
# Helpers to start a daemon detached from this script (own session: survives the script, and
# Ctrl-C in the terminal does not reach it). The process writes its own PID before exec.

start_daemon() { # name log cmd...
  local name=$1 log=$2
  shift 2
  rm -f "$PIDS/$name.pid"
  echo "=== $(date -u +%FT%TZ) starting $name" >>"$log"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" "$@" >>"$log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do
    [ -s "$PIDS/$name.pid" ] && return 0
    sleep 0.1
  done
  return 1
}

fail_component() { # name log message
  kg_log "ERROR: $1 $3 (log: $2)"
  kg_log_tail "$2" 40
  exit 1
}

wait_component() { # name log timeout description cmd...
  local name=$1 log=$2 timeout=$3 what=$4 rc=0
  shift 4
  KG_WAIT_TIMEOUT=$timeout KG_WAIT_PIDFILE="$PIDS/$name.pid" KG_WAIT_NAME=$name \
    kg_wait_for "$@" || rc=$?
  case $rc in
    0) return 0 ;;
    2) fail_component "$name" "$log" "exited while waiting for $what" ;;
    *) fail_component "$name" "$log" "not $what after ${timeout}s" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# etcd

t=$(kg_now_ms)
started=1
ETCD_URL="http://127.0.0.1:$ETCD_CLIENT_PORT"
start_daemon etcd "$LOGS/etcd.log" "$ETCD_BIN" \
  --name=kubegrant \
  --data-dir="$DIR/etcd" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="kubegrant=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state=new \
  --unsafe-no-fsync=true \
  --log-level=warn ||
  fail_component etcd "$LOGS/etcd.log" "did not start"
etcd_healthy() { curl -fsS --max-time 2 "$ETCD_URL/health" | grep -q '"health":"true"'; }
wait_component etcd "$LOGS/etcd.log" 30 "healthy" etcd_healthy
kg_log "etcd healthy in $(kg_elapsed "$t"): $ETCD_URL (pid $(cat "$PIDS/etcd.pid"))"

# ---------------------------------------------------------------------------------------------
# kube-apiserver

t=$(kg_now_ms)
API_SERVER="https://127.0.0.1:$KAS_PORT"
mkdir -p "$DIR/apiserver-certs"
start_daemon kube-apiserver "$LOGS/kube-apiserver.log" "$KAS_BIN" \
  --etcd-servers="$ETCD_URL" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$KAS_PORT" \
  --cert-dir="$DIR/apiserver-certs" \
  --tls-cert-file="$PKI/apiserver.crt" \
  --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=RBAC \
  --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer="$API_SERVER" \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --endpoint-reconciler-type=none \
  --profiling=false \
  --v=1 ||
  fail_component kube-apiserver "$LOGS/kube-apiserver.log" "did not start"
kas_ready() {
  curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/users/admin.crt" \
    --key "$PKI/users/admin.key" "$API_SERVER/readyz" >/dev/null
}
wait_component kube-apiserver "$LOGS/kube-apiserver.log" "$KAS_TIMEOUT" "ready (/readyz)" kas_ready
kg_log "kube-apiserver ready in $(kg_elapsed "$t"): $API_SERVER (pid $(cat "$PIDS/kube-apiserver.pid"))"

# Kubeconfigs: one per user, certificates embedded so they can be copied around; and one for
# the controller-manager (DIR/kube-controller-manager.yaml, not a test user).
b64() { base64 -w0 <"$1"; }
write_kubeconfig() { # user cert-prefix out
  local u=$1 c=$2 out=$3
  cat >"$out.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubegrant-test
  cluster:
    server: $API_SERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $u
  user:
    client-certificate-data: $(b64 "$c.crt")
    client-key-data: $(b64 "$c.key")
contexts:
- name: $u@kubegrant-test
  context:
    cluster: kubegrant-test
    user: $u
    namespace: default
current-context: $u@kubegrant-test
EOF
  chmod 600 "$out.tmp"
  mv -f "$out.tmp" "$out"
}
for u in "${USERS[@]}"; do
  write_kubeconfig "$u" "$PKI/users/$u" "$DIR/kubeconfig/$u.yaml"
done
write_kubeconfig kube-controller-manager "$PKI/kube-controller-manager" \
  "$DIR/kube-controller-manager.yaml"

# Ready is not quite enough: the default namespace and the RBAC bootstrap roles are created by
# post-start hooks/controllers, and tests use both right away.
t=$(kg_now_ms)
bootstrap_done() {
  kubectl --kubeconfig "$DIR/kubeconfig/admin.yaml" --request-timeout=5s \
    get namespace/default clusterrole/view clusterrole/edit clusterrolebinding/cluster-admin
}
wait_component kube-apiserver "$LOGS/kube-apiserver.log" 60 \
  "bootstrapped (namespace default, clusterrole view)" bootstrap_done
kg_log "default namespace and bootstrap RBAC present after $(kg_elapsed "$t")"

# ---------------------------------------------------------------------------------------------
# kube-controller-manager (same Kubernetes version): the controllers a cluster has and the tests
# rely on. Namespace deletion and garbage collection (ownerReferences cascade; kubegrant itself
# revokes through finalizers, never through a cascade), ServiceAccounts (`default` in each
# namespace, so the ServiceAccount admission plugin stays on), ClusterRole aggregation (view/edit/admin follow roles labelled aggregate-to-*,
# also the chart's), Deployments -> ReplicaSets -> Pods (Pending: no nodes, no scheduler) and
# PodDisruptionBudget status. Each controller uses its own ServiceAccount's credentials, as in
# kubeadm clusters. No leader election (one instance), no serving port. Not the root-CA
# publisher: its kube-root-ca.crt ConfigMap in every namespace would be one more object in the
# namespaces whose ConfigMaps the informer tests count.

t=$(kg_now_ms)
start_daemon kube-controller-manager "$LOGS/kube-controller-manager.log" "$KCM_BIN" \
  --kubeconfig="$DIR/kube-controller-manager.yaml" \
  --controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,clusterrole-aggregation-controller,deployment-controller,replicaset-controller,disruption-controller \
  --use-service-account-credentials=true \
  --root-ca-file="$PKI/ca.crt" \
  --leader-elect=false \
  --secure-port=0 \
  --kube-api-qps=100 \
  --kube-api-burst=200 \
  --v=1 ||
  fail_component kube-controller-manager "$LOGS/kube-controller-manager.log" "did not start"
# Ready for the tests once aggregation has filled `view`, `edit` and `admin` (they nest) and the
# `default` ServiceAccount exists.
kcm_ready() {
  local k=(kubectl --kubeconfig "$DIR/kubeconfig/admin.yaml" --request-timeout=5s) r
  for r in view edit admin; do
    [ "$("${k[@]}" get clusterrole "$r" -o jsonpath='{.rules[0].verbs[0]}')" != "" ] || return 1
  done
  "${k[@]}" get serviceaccount default -n default >/dev/null 2>&1
}
# Polled in the background while PostgreSQL starts; joined below.
(wait_component kube-controller-manager "$LOGS/kube-controller-manager.log" 90 \
  "ready (ClusterRoles view/edit/admin aggregated, ServiceAccount default)" kcm_ready) &
kcm_wait_pid=$!

# ---------------------------------------------------------------------------------------------
# PostgreSQL 15. It refuses to run as root, so under root it runs as the `postgres` system user
# (KUBEGRANT_PG_OS_USER); otherwise as the current user.

t=$(kg_now_ms)
[ -x "$KG_PG_BIN/postgres" ] || fail_component postgres "$LOGS/postgres.log" \
  "binaries not found in $KG_PG_BIN (install Debian's postgresql-15, or set KUBEGRANT_PG_BIN)"
if [ "$(id -u)" = 0 ]; then
  PG_OS_USER=${KUBEGRANT_PG_OS_USER:-postgres}
  id "$PG_OS_USER" >/dev/null 2>&1 ||
    kg_die "postgres: running as root but system user '$PG_OS_USER' does not exist"
  PG_RUN=(runuser -u "$PG_OS_USER" --)
else
  PG_OS_USER=$(id -un)
  PG_RUN=()
fi
pg_as() { (cd / && "${PG_RUN[@]}" "$@"); }
# The unix socket path is limited to ~107 bytes and goes through pg_ctl -o unquoted: fall back
# to a short private dir if DIR is deep or has spaces.
PG_SOCK="$DIR/pgsock"
if [ ${#PG_SOCK} -gt 80 ] || [[ "$PG_SOCK" == *[[:space:]]* ]]; then
  PG_SOCK="/tmp/kg-pgsock-$(echo "$DIR" | sha256sum | cut -c1-12)"
fi
mkdir -p "$PGDATA_DIR" "$PG_SOCK"
touch "$LOGS/postgres.log"
if [ "$(id -u)" = 0 ]; then
  chown "$PG_OS_USER:" "$PGDATA_DIR" "$PG_SOCK" "$LOGS/postgres.log"
  # The postgres user must be able to reach DIR/pg: make DIR traversable (not readable).
  if ! pg_as test -x "$DIR"; then chmod o+x "$DIR"; fi
  pg_as test -w "$PGDATA_DIR" ||
    fail_component postgres "$LOGS/postgres.log" \
      "cannot be run: user $PG_OS_USER cannot reach $PGDATA_DIR (a parent folder is not traversable)"
fi
chmod 700 "$PGDATA_DIR" "$PG_SOCK"

# TLS: a server certificate from the test CA for 127.0.0.1 and localhost (server_ext SANs), so
# clients can use sslmode=verify-full with KUBEGRANT_CA_CERT.
if [ ! -s "$PKI/postgres.crt" ]; then
  issue_cert postgres "/CN=localhost" server_ext "$PKI" ||
    fail_component postgres "$LOGS/postgres.log" "could not issue its TLS certificate"
fi

if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
  # Local (socket) connections: trust, but the socket dir is 0700 so only the owner gets in.
  # TCP: password (SCRAM) only, as the operator and users connect.
  pg_as "$KG_PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >>"$LOGS/postgres.log" 2>&1 ||
    fail_component postgres "$LOGS/postgres.log" "initdb failed"
  pg_as tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# kubegrant test settings: loopback only, throwaway data (no durability needed).
listen_addresses = '127.0.0.1'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 100
password_encryption = scram-sha-256
EOF
fi
# Rewritten on every start so a DIR from an older up.sh gets them too: TLS only over TCP,
# statement logs that name the user (auditStatements), the certificate in the data dir.
pg_as tee "$PGDATA_DIR/pg_hba.conf" >/dev/null <<'EOF'
# TYPE    DATABASE  USER  ADDRESS       METHOD
local     all       all                 trust
hostssl   all       all   127.0.0.1/32  scram-sha-256
hostnossl all       all   127.0.0.1/32  reject
EOF
pg_as tee "$PGDATA_DIR/kubegrant.conf" >/dev/null <<'EOF'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
log_line_prefix = '%m [%p] user=%u db=%d '
EOF
pg_as grep -q "^include_if_exists = 'kubegrant.conf'" "$PGDATA_DIR/postgresql.conf" ||
  echo "include_if_exists = 'kubegrant.conf'" | pg_as tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
pg_as tee "$PGDATA_DIR/server.crt" >/dev/null <"$PKI/postgres.crt"
(umask 077 && pg_as tee "$PGDATA_DIR/server.key" >/dev/null <"$PKI/postgres.key")
pg_as chmod 600 "$PGDATA_DIR/server.key"

# pg_ctl starts the postmaster in its own session and waits until it accepts connections.
(cd / && setsid -w "${PG_RUN[@]}" "$KG_PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$LOGS/postgres.log" -w -t 60 -s \
  -o "-p $PG_PORT -k $PG_SOCK" </dev/null >>"$LOGS/postgres.log" 2>&1) ||
  fail_component postgres "$LOGS/postgres.log" "did not start"
head -n1 "$PGDATA_DIR/postmaster.pid" >"$PIDS/postgres.pid"
kg_live_pid "$PIDS/postgres.pid" postgres >/dev/null ||
  fail_component postgres "$LOGS/postgres.log" "exited right after starting"
# DIR/pg-ctl stop|start: the same server down and back (tests of revocation while the database
# is unreachable); start keeps the pid file that down.sh stops.
{
  echo '#!/usr/bin/env bash'
  echo '# Written by tests/controlplane/up.sh: stop or start this control plane'"'"'s PostgreSQL.'
  echo 'set -euo pipefail'
  echo 'case "${1:-}" in'
  printf '  stop) cd / && %s %q stop -D %q -m fast -w -s ;;\n' "$(printf '%q ' "${PG_RUN[@]}")" \
    "$KG_PG_BIN/pg_ctl" "$PGDATA_DIR"
  printf '  start) cd / && setsid -w %s %q start -D %q -l %q -w -t 60 -s -o %q </dev/null >>%q 2>&1\n' \
    "$(printf '%q ' "${PG_RUN[@]}")" "$KG_PG_BIN/pg_ctl" "$PGDATA_DIR" "$LOGS/postgres.log" \
    "-p $PG_PORT -k $PG_SOCK" "$LOGS/postgres.log"
  printf '    head -n1 %q >%q ;;\n' "$PGDATA_DIR/postmaster.pid" "$PIDS/postgres.pid"
  echo '  *) echo "usage: $0 stop|start" >&2; exit 2 ;;'
  echo 'esac'
} >"$DIR/pg-ctl"
chmod 700 "$DIR/pg-ctl"

# Admin role and sample database: created on first start, the password kept in DIR.
if [ ! -s "$DIR/pg-admin-password" ]; then
  (umask 077 && openssl rand -hex 16 >"$DIR/pg-admin-password.tmp")
  mv -f "$DIR/pg-admin-password.tmp" "$DIR/pg-admin-password"
fi
PG_ADMIN_PASSWORD=$(cat "$DIR/pg-admin-password")
psql_super() { # db; SQL on stdin
  pg_as "$KG_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "$1"
}
{
  psql_super postgres <<EOF
SELECT format('CREATE ROLE %I LOGIN CREATEROLE', '$PG_ADMIN_USER')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ADMIN_USER') \gexec
ALTER ROLE $PG_ADMIN_USER WITH LOGIN CREATEROLE PASSWORD '$PG_ADMIN_PASSWORD';
SELECT 'CREATE DATABASE $PG_DATABASE OWNER $PG_ADMIN_USER'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
-- auditStatements: the admin may give issued roles log_statement = 'all' (PostgreSQL 15+).
GRANT SET ON PARAMETER log_statement TO $PG_ADMIN_USER;
EOF
  # The schema is created by the admin role itself, over TCP with its password: the tables are
  # then its own (it can grant on them), and password auth is proven to work.
  PGPASSWORD=$PG_ADMIN_PASSWORD PGSSLMODE=verify-full PGSSLROOTCERT="$PKI/ca.crt" \
    "$KG_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$PG_PORT dbname=$PG_DATABASE user=$PG_ADMIN_USER connect_timeout=10" <<'EOF'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS public.customers (
  id          integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL,
  phone       text,
  card_number text
);
COMMENT ON COLUMN public.customers.email IS 'PII';
COMMENT ON COLUMN public.customers.phone IS 'PII';
COMMENT ON COLUMN public.customers.card_number IS 'PII';
CREATE TABLE IF NOT EXISTS public.orders (
  id          integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES public.customers (id),
  status      text NOT NULL,
  total       numeric(10, 2) NOT NULL
);
INSERT INTO public.customers (name, email, phone, card_number)
SELECT * FROM (VALUES
  ('Ada Lovelace', 'ada@example.com', '+44 20 7946 0001', '4111111111111111'),
  ('Grace Hopper', 'grace@example.com', '+1 202 555 0102', '5500000000000004'),
  ('Alan Turing', 'alan@example.com', '+44 20 7946 0003', '340000000000009')
) AS v(name, email, phone, card_number)
WHERE NOT EXISTS (SELECT 1 FROM public.customers);
INSERT INTO public.orders (customer_id, status, total)
SELECT c.id, v.status, v.total
FROM (VALUES
  ('ada@example.com', 'shipped', 42.50),
  ('ada@example.com', 'pending', 10.00),
  ('grace@example.com', 'shipped', 99.99),
  ('alan@example.com', 'cancelled', 5.25)
) AS v(email, status, total)
JOIN public.customers c ON c.email = v.email
WHERE NOT EXISTS (SELECT 1 FROM public.orders);
-- Hostile names: the provider must quote every identifier (a quote in a table name, SQL in a
-- column name, a schema with a space, unicode, keywords).
CREATE TABLE IF NOT EXISTS public."weird""name" (
  id           integer PRIMARY KEY,
  "drop table" text,
  secret       text
);
INSERT INTO public."weird""name" VALUES (1, 'visible', 'hidden-value')
  ON CONFLICT (id) DO NOTHING;
CREATE SCHEMA IF NOT EXISTS "sales data";
CREATE TABLE IF NOT EXISTS "sales data"."客户" (
  id      integer PRIMARY KEY,
  "order" text,
  "邮箱"  text
);
INSERT INTO "sales data"."客户" VALUES (1, 'first', 'zoë@example.org')
  ON CONFLICT (id) DO NOTHING;
EOF
} >>"$LOGS/postgres.log" 2>&1 || fail_component postgres "$LOGS/postgres.log" "setup (role, database, schema) failed"
kg_log "PostgreSQL ready in $(kg_elapsed "$t"): 127.0.0.1:$PG_PORT db=$PG_DATABASE admin=$PG_ADMIN_USER (pid $(cat "$PIDS/postgres.pid"))"

wait "$kcm_wait_pid" || exit 1
kg_log "kube-controller-manager ready: view/edit/admin aggregated, default ServiceAccount (pid $(cat "$PIDS/kube-controller-manager.pid"))"

# ---------------------------------------------------------------------------------------------
# The environment the tests read (tests/support/test_env.h).

q() { printf '%q' "$1"; }
{
  echo "# Written by tests/controlplane/up.sh; source it before running integration/e2e tests."
  echo "export KUBEGRANT_TEST_DIR=$(q "$DIR")"
  echo "export KUBEGRANT_API_SERVER=$(q "$API_SERVER")"
  echo "export KUBEGRANT_CA_CERT=$(q "$PKI/ca.crt")"
  echo "export KUBEGRANT_CA_KEY=$(q "$PKI/ca.key")"
  for u in "${USERS[@]}"; do
    echo "export KUBEGRANT_KUBECONFIG_${u^^}=$(q "$DIR/kubeconfig/$u.yaml")"
  done
  echo "export KUBEGRANT_PG_HOST=127.0.0.1"
  echo "export KUBEGRANT_PG_PORT=$PG_PORT"
  echo "export KUBEGRANT_PG_DATABASE=$PG_DATABASE"
  echo "export KUBEGRANT_PG_ADMIN_USER=$PG_ADMIN_USER"
  echo "export KUBEGRANT_PG_ADMIN_PASSWORD=$(q "$PG_ADMIN_PASSWORD")"
  echo "export KUBEGRANT_PG_SSLMODE=verify-full"
  echo "export KUBEGRANT_PG_CA_CERT=$(q "$PKI/ca.crt")"
  echo "export KUBEGRANT_PG_LOG=$(q "$LOGS/postgres.log")"
  echo "export KUBEGRANT_PG_BIN=$(q "$KG_PG_BIN")"
  echo "export KUBEGRANT_PG_CTL=$(q "$DIR/pg-ctl")"
  echo "export KUBEGRANT_ETCD_URL=$(q "$ETCD_URL")"
  echo "export KUBEGRANT_HELM=$(q "$KUBEGRANT_HELM")"
  echo "export KUBEGRANT_PROMTOOL=$(q "$KUBEGRANT_PROMTOOL")"
} >"$DIR/env.tmp"
chmod 600 "$DIR/env.tmp"
mv -f "$DIR/env.tmp" "$DIR/env"

kg_log "control plane up in $(kg_elapsed "$t_total"): API server $API_SERVER, etcd $ETCD_URL," \
  "kube-controller-manager, PostgreSQL 127.0.0.1:$PG_PORT; source $DIR/env; stop with tests/controlplane/down.sh $DIR"
