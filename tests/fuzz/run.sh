#!/usr/bin/env bash
# Builds and runs the libFuzzer target over the admission webhook's entry point
# (AdmissionRouter::handle with kubegrant's real routes and rules) under ASan + UBSan.
#
#   tests/fuzz/run.sh [RUNS] [BUILD_DIR]     (defaults: 200000 executions, build-fuzz)
#   KUBEGRANT_FUZZ_SECONDS=60 tests/fuzz/run.sh   (time budget instead of a run count)
#
# Why clang 16 and a macro: libFuzzer needs clang (g++ has no -fsanitize=fuzzer), and the
# project is C++23 with std::expected from libstdc++ 12, whose <expected> is only enabled when
# __cpp_concepts >= 202002L. Clang 14 (Debian's default) lacks P0848 (conditionally trivial
# special members), so <expected> cannot work there at all. Clang 16 implements P0848 but
# still reports __cpp_concepts 201907L, so we define the macro to 202002L, which is what
# libstdc++ checks. Install once with: apt-get install clang-16 libclang-rt-16-dev
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-200000}
build=${2:-build-fuzz}
cxx=${KUBEGRANT_FUZZ_CXX:-clang++-16}
command -v "$cxx" >/dev/null || {
  echo "$0: $cxx not found: apt-get install clang-16 libclang-rt-16-dev" >&2
  exit 1
}
flags="-D__cpp_concepts=202002L -Wno-macro-redefined -Wno-builtin-macro-redefined"
flags="$flags -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
flags="$flags -fno-omit-frame-pointer -g"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUBEGRANT_FUZZ=ON \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target admission_fuzzer
corpus="$build/fuzz-corpus"
mkdir -p "$corpus"
budget=(-runs="$runs")
[ -n "${KUBEGRANT_FUZZ_SECONDS:-}" ] && budget=(-max_total_time="$KUBEGRANT_FUZZ_SECONDS")
# New inputs go to the first corpus dir (in the build dir); the committed seeds are read-only.
exec "$build/tests/fuzz/admission_fuzzer" "${budget[@]}" -dict=tests/fuzz/admission.dict \
  -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-" "$corpus" tests/fuzz/corpus
