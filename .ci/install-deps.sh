#!/usr/bin/env bash
# Installs the Debian packages kubegrant needs to build, test and run, and only those that are
# missing. `apt-get update` runs at most once, and only when something must be installed.
set -euo pipefail

packages=(
  cmake ninja-build g++ make pkg-config ccache
  libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev libfmt-dev
  libgtest-dev libgmock-dev libpq-dev zlib1g-dev
  postgresql postgresql-client openssl curl
  kubectl clang-format libcli11-dev tmux
  wrk  # bench/webhook_bench.sh, bench/operator_webhook_bench.sh
  chromium libpng-dev  # tests/e2e/kubectl_grant: the report's HTML page rendered headless
)
if [ "${KUBEGRANT_DEPS_EXTRA:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${KUBEGRANT_DEPS_EXTRA})
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  if [ -z "${KUBEGRANT_KUBE_APISERVER:-}" ] || [ -z "${KUBEGRANT_ETCD:-}" ]; then
    echo "install-deps: Go is needed to build the test control plane (kube-apiserver, etcd) and Helm;" >&2
    echo "  install Go, or set KUBEGRANT_KUBE_APISERVER and KUBEGRANT_ETCD to existing binaries." >&2
    exit 1
  fi
fi
