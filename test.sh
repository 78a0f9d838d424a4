#!/usr/bin/env bash
# The whole test suite, in stages, each in its own build tree:
#   format  clang-format on every C++ file
#   gcc     GCC, -Werror, RelWithDebInfo, with the benchmarks (build-test): unit + end-to-end
#   asan    clang, AddressSanitizer + UndefinedBehaviorSanitizer, -O1, -Wthread-safety -Werror
#           (build-asan): unit
#   deb     the Debian package, built twice (packaging/deb/build.sh, lintian on the first;
#           build-deb/1 and build-deb/2): reproducible, complete, its unit hardened, its binary
#           run on this host with the packaged configuration (tests/packaging/test_deb.py)
#   tsan    clang, ThreadSanitizer, -O1 (build-tsan): unit + end-to-end, the daemon under TSan
# Builds take both cores and run one after another; each stage's tests run while the next
# stage builds (the end-to-end tests mostly wait on the daemons they drive). Each step's output
# goes to build-logs/<step>.log, printed in full when the step fails; a table of each step's
# wall time ends the run.
#   ./test.sh [STAGE...]   only these stages, e.g. ./test.sh format tsan
set -euo pipefail
cd "$(dirname "$0")"
jobs="$(nproc)"

# Any TSan report fails the test that caused it: a unit test's process stops at the first one,
# and tests/e2e/harness.py fails an e2e test whose daemon printed one.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(format gcc asan deb tsan)
for s in "${stages[@]}"; do
  case $s in format | gcc | asan | deb | tsan) ;; *) echo "unknown stage: $s (format gcc asan deb tsan)" >&2; exit 2 ;; esac
done
packaging/deps.sh --test
logs="$PWD/build-logs"
rm -rf "$logs"
mkdir -p "$logs"
suite_start=$SECONDS

# step NAME COMMAND...: runs COMMAND with its output in build-logs/NAME.log and records its
# wall time (build-logs/NAME.time) and exit status (build-logs/NAME.status).
step() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "-- $name: started at +$((SECONDS - suite_start))s"
  echo "$name" >>"$logs/order"
  "$@" >"$logs/$name.log" 2>&1 || rc=$?
  echo $((SECONDS - start)) >"$logs/$name.time"
  echo $rc >"$logs/$name.status"
  if [[ $rc -eq 0 ]]; then
    echo "-- $name: passed in $((SECONDS - start))s"
  else
    echo "-- $name: FAILED (exit $rc) after $((SECONDS - start))s; its output:"
    cat "$logs/$name.log"
  fi
  return $rc
}

summary() {
  wait
  echo "== wall time of each step (seconds; tests overlap the next build)"
  local name
  while read -r name; do
    [[ -e $logs/$name.status ]] || { printf '%-12s %6s  %s\n' "$name" - "did not finish"; continue; }
    printf '%-12s %6s  %s\n' "$name" "$(cat "$logs/$name.time")" \
      "$([[ $(cat "$logs/$name.status") == 0 ]] && echo passed || echo FAILED)"
  done < <(cat "$logs/order" 2>/dev/null)
  echo "total        $((SECONDS - suite_start))"
}
trap summary EXIT

configure() {  # BUILD_DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DDRIFT_WERROR=ON "$@" >/dev/null
}

step_format() {
  git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run --Werror
}

build_gcc() {
  configure build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++
  cmake --build build-test -j"$jobs"
}
test_gcc() {
  ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout 300
}

# Sanitizer builds: clang (its thread-safety analysis, and the runtimes of libclang-rt-14-dev),
# -O1 for tests that run at a useful speed, no benchmarks.
sanitizer_configure() {  # BUILD_DIR SANITIZER
  configure "$1" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCMAKE_CXX_COMPILER=clang++ -DDRIFT_SANITIZE="$2" -DDRIFT_BUILD_BENCH=OFF
}

build_asan() {
  sanitizer_configure build-asan address
  cmake --build build-asan -j"$jobs"
}
test_asan() {
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 300
}

# Two builds of the same tree, for the reproducibility test; lintian once.
build_deb() {
  rm -rf build-deb
  packaging/deb/build.sh build-deb/1
  DRIFT_DEB_LINTIAN=0 packaging/deb/build.sh build-deb/2
}
test_deb() {
  DRIFT_DEB_DIRS="build-deb/1 build-deb/2" python3 tests/packaging/test_deb.py
}

build_tsan() {
  sanitizer_configure build-tsan thread
  cmake --build build-tsan -j"$jobs"
}
test_tsan() {
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 600
}

wanted() { [[ " ${stages[*]} " == *" $1 "* ]]; }

failed=0
running=()
if wanted format; then step format step_format || failed=1; fi
for s in gcc asan deb tsan; do
  wanted "$s" || continue
  if step "$s-build" "build_$s"; then
    step "$s-tests" "test_$s" &
    running+=($!)
  else
    failed=1
  fi
done
for pid in "${running[@]}"; do wait "$pid" || failed=1; done
exit $failed
