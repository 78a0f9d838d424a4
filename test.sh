#!/usr/bin/env bash
# The whole test suite, in stages, each in its own build tree:
#   format  clang-format on every C++ file
#   gcc     GCC, -Werror, RelWithDebInfo, with the benchmarks (build-test): unit + end-to-end
#   asan    clang, AddressSanitizer + UndefinedBehaviorSanitizer, -O1, -Wthread-safety -Werror
#           (build-asan): unit
#   tsan    clang, ThreadSanitizer, -O1 (build-tsan): unit + end-to-end, the daemon under TSan
# Prints each stage's wall time at the end.
#   ./test.sh [STAGE...]   only these stages, e.g. ./test.sh format tsan
set -euo pipefail
cd "$(dirname "$0")"
packaging/deps.sh --test
jobs="$(nproc)"

# Any TSan report fails the test that caused it: a unit test's process stops at the first one,
# and tests/e2e/harness.py fails an e2e test whose daemon printed one.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(format gcc asan tsan)
times=()
current=""
start=$SECONDS
summary() {
  echo "== stage wall times"
  printf '%-8s %8s\n' stage seconds
  for t in "${times[@]}"; do printf '%-8s %8s\n' ${t}; done
  if [[ -n $current ]]; then printf '%-8s %8s  FAILED\n' "$current" $((SECONDS - start)); fi
}
trap summary EXIT

configure() {  # BUILD_DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DDRIFT_WERROR=ON "$@" >/dev/null
}

stage_format() {
  git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run --Werror
}

stage_gcc() {
  configure build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++
  cmake --build build-test -j"$jobs"
  ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout 300
}

# Sanitizer builds: clang (its thread-safety analysis, and the runtimes of libclang-rt-14-dev),
# -O1 for tests that run at a useful speed, no benchmarks.
sanitizer_configure() {  # BUILD_DIR SANITIZER
  configure "$1" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCMAKE_CXX_COMPILER=clang++ -DDRIFT_SANITIZE="$2" -DDRIFT_BUILD_BENCH=OFF
}

stage_asan() {
  sanitizer_configure build-asan address
  cmake --build build-asan -j"$jobs"
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 300
}

stage_tsan() {
  sanitizer_configure build-tsan thread
  cmake --build build-tsan -j"$jobs"
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 600
}

for s in "${stages[@]}"; do
  echo "== $s"
  current=$s
  start=$SECONDS
  "stage_$s"
  times+=("$s $((SECONDS - start))")
  current=""
done
