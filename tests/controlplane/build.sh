#!/usr/bin/env bash
# Builds (or reuses) kube-apiserver, etcd and kube-controller-manager for the local test control
# plane, and the Helm CLI the chart tests use.
#
# The binaries are built from the Go wrapper modules next to this script and cached in
#   ${KUBEGRANT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubegrant}/controlplane/<hash>/
# where <hash> covers go.mod, go.sum and main.go of both modules and the build recipe, so they
# are rebuilt only when a pinned version changes. kube-controller-manager (same k8s.io/kubernetes
# version, its own module) and Helm (helm/, helm.sh/helm/v4 at the version in helm/go.mod) are
# cached the same way, apart, in .../kube-controller-manager/<hash>/ and .../helm/<hash>/, so
# adding or bumping one does not rebuild the API server. KUBEGRANT_KUBE_APISERVER /
# KUBEGRANT_ETCD / KUBEGRANT_KUBE_CONTROLLER_MANAGER / KUBEGRANT_HELM point at existing binaries
# instead (e.g. from setup-envtest) and skip the build for that binary.
#
# promtool (promtool/, github.com/prometheus/prometheus's cmd/promtool as a Go tool dependency
# at the version in promtool/go.mod), for `promtool check rules` / `test rules` on the chart's
# alerts, is cached the same way in .../promtool/<hash>/promtool; KUBEGRANT_PROMTOOL names an
# existing binary instead.
#
# `build.sh helm` builds (or finds) Helm and promtool only and prints their lines.
#
# stdout: five lines, `KUBEGRANT_KUBE_APISERVER=<path>`, `KUBEGRANT_ETCD=<path>`,
# `KUBEGRANT_KUBE_CONTROLLER_MANAGER=<path>`, `KUBEGRANT_HELM=<path>` and
# `KUBEGRANT_PROMTOOL=<path>` (eval-able); progress goes to stderr.
set -euo pipefail
# shellcheck source=tests/controlplane/lib.sh
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
only=${1:-}
case "$only" in "" | helm) ;; *) kg_die "usage: $0 [helm]" ;; esac

modules=(kube-apiserver etcd)

# The Kubernetes version comes from go.mod so it is written down once.
kube_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' \
  "$KG_CP_DIR/kube-apiserver/go.mod")
[ -n "$kube_version" ] || kg_die "cannot read the k8s.io/kubernetes version from kube-apiserver/go.mod"
kube_minor=$(echo "$kube_version" | cut -d. -f2)
kas_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version"
kas_ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
kas_ldflags+=" -X k8s.io/component-base/version.gitMinor=$kube_minor"
etcd_ldflags="-s -w"

# Bump when the recipe changes in a way the module files do not show.
recipe="v1 trimpath kas[$kas_ldflags] etcd[$etcd_ldflags]"
hash=$(
  {
    echo "$recipe"
    for m in "${modules[@]}"; do
      for f in go.mod go.sum main.go; do
        echo "== $m/$f"
        cat "$KG_CP_DIR/$m/$f"
      done
    done
  } | sha256sum | cut -c1-16
)
out_dir="$(kg_cache_root)/controlplane/$hash"

build_one() { # module ldflags [out_dir] [package, default: the module's main package]
  local module=$1 ldflags=$2
  local out_dir=${3:-$out_dir} pkg=${4:-.}
  local out="$out_dir/$1"
  if [ -x "$out" ]; then
    kg_log "$module: cached at $out"
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    kg_die "Go is needed to build $module (or set KUBEGRANT_KUBE_APISERVER / KUBEGRANT_ETCD)"
  local start log="$out_dir/$module.build.log" tmp="$out.tmp.$$"
  start=$(kg_now_ms)
  kg_log "$module: building from $KG_CP_DIR/$module with $(go env GOVERSION) (log: $log)"
  # -mod=readonly: the committed go.sum is the source of truth; a missing entry is a bug to fix
  # in the repository, not something to paper over at build time.
  if ! (cd "$KG_CP_DIR/$module" &&
    GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
      go build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg") >"$log" 2>&1; then
    rm -f "$tmp"
    kg_log_tail "$log" 30
    kg_die "$module: go build failed (log: $log)"
  fi
  mv -f "$tmp" "$out"
  kg_log "$module: built in $(kg_elapsed "$start") -> $out"
}

kas="${KUBEGRANT_KUBE_APISERVER:-}"
etcd="${KUBEGRANT_ETCD:-}"
if [ -n "$kas" ]; then
  [ -x "$kas" ] || kg_die "KUBEGRANT_KUBE_APISERVER=$kas is not an executable file"
  kg_log "kube-apiserver: using KUBEGRANT_KUBE_APISERVER=$kas"
fi
if [ -n "$etcd" ]; then
  [ -x "$etcd" ] || kg_die "KUBEGRANT_ETCD=$etcd is not an executable file"
  kg_log "etcd: using KUBEGRANT_ETCD=$etcd"
fi

if [ -z "$only" ] && { [ -z "$kas" ] || [ -z "$etcd" ]; }; then
  mkdir -p "$out_dir"
  # One build at a time per cache dir: parallel `make test` runs would otherwise race.
  exec 9>"$out_dir/.lock"
  if ! flock -n 9; then
    kg_log "another build holds $out_dir/.lock; waiting"
    flock 9
  fi
  [ -n "$kas" ] || { build_one kube-apiserver "$kas_ldflags"; kas="$out_dir/kube-apiserver"; }
  [ -n "$etcd" ] || { build_one etcd "$etcd_ldflags"; etcd="$out_dir/etcd"; }
  exec 9>&-
fi

# A tool in its own cache folder, keyed by its own module files (so adding or bumping one does
# not rebuild another): tool_bin VARIABLE TAG MODULE LDFLAGS PACKAGE FILES... sets REPLY to the
# binary, from $VARIABLE when set (an existing binary), else cached or built.
tool_bin() {
  local variable=$1 tag=$2 module=$3 ldflags=$4 pkg=$5
  shift 5
  local given=${!variable:-} hash dir f
  if [ -n "$given" ]; then
    [ -x "$given" ] || kg_die "$variable=$given is not an executable file"
    kg_log "$module: using $variable=$given"
    REPLY=$given
    return 0
  fi
  hash=$(
    {
      echo "v1 trimpath $tag[$ldflags]"
      for f in "$@"; do
        echo "== $module/$f"
        cat "$KG_CP_DIR/$module/$f"
      done
    } | sha256sum | cut -c1-16
  )
  dir="$(kg_cache_root)/$module/$hash"
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  if ! flock -n 9; then
    kg_log "another build holds $dir/.lock; waiting"
    flock 9
  fi
  build_one "$module" "$ldflags" "$dir" "$pkg"
  exec 9>&-
  REPLY="$dir/$module"
}

# kube-controller-manager: the same version ldflags as the API server.
kcm=""
if [ -z "$only" ]; then
  tool_bin KUBEGRANT_KUBE_CONTROLLER_MANAGER kcm kube-controller-manager "$kas_ldflags" . \
    go.mod go.sum main.go
  kcm=$REPLY
  echo "KUBEGRANT_KUBE_APISERVER=$kas"
  echo "KUBEGRANT_ETCD=$etcd"
  echo "KUBEGRANT_KUBE_CONTROLLER_MANAGER=$kcm"
fi

# Helm, its version stamped from helm/go.mod.
helm_version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v4") { print $(i + 1); exit } }' \
  "$KG_CP_DIR/helm/go.mod")
[ -n "$helm_version" ] || kg_die "cannot read the helm.sh/helm/v4 version from helm/go.mod"
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version"
helm_ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
tool_bin KUBEGRANT_HELM helm helm "$helm_ldflags" . go.mod go.sum main.go
echo "KUBEGRANT_HELM=$REPLY"

# promtool: Prometheus's cmd/promtool, a tool dependency of promtool/go.mod.
tool_bin KUBEGRANT_PROMTOOL promtool promtool "-s -w" github.com/prometheus/prometheus/cmd/promtool \
  go.mod go.sum
echo "KUBEGRANT_PROMTOOL=$REPLY"
