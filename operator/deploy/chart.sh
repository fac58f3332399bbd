# Sourced by render-rbac.sh and render-webhooks.sh: they render parts of the Helm chart
# (charts/kubegrant), the one copy of kubegrant's manifests, for an operator run outside the
# cluster. Defines kg_render_chart TEMPLATE... -- HELM_ARGS...
# Helm: $KUBEGRANT_HELM, else tests/controlplane/build.sh helm (built from Go modules and
# cached, like the control plane binaries; `make controlplane` builds it).
kg_chart_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../charts/kubegrant" && pwd)"

kg_helm() {
  if [ -z "${KUBEGRANT_HELM:-}" ]; then
    local line
    line=$("$kg_chart_dir/../../tests/controlplane/build.sh" helm | grep '^KUBEGRANT_HELM=') ||
      { echo "cannot build or find helm (tests/controlplane/build.sh helm)" >&2; return 1; }
    KUBEGRANT_HELM=${line#KUBEGRANT_HELM=}
    export KUBEGRANT_HELM
  fi
  "$KUBEGRANT_HELM" "$@"
}

# kg_render_chart TEMPLATE... -- [helm template flags]: the named templates only, as release
# "kubegrant" in namespace kubegrant-system (the names the rest of operator/deploy uses).
kg_render_chart() {
  local show=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    show+=(--show-only "templates/$1")
    shift
  done
  [ "${1:-}" = "--" ] && shift
  kg_helm template kubegrant "$kg_chart_dir" --namespace kubegrant-system "${show[@]}" "$@" |
    sed '/^# Source: /d'
}
