#!/usr/bin/env bash
# The whole test suite: formatting, a -Werror build with unit and end-to-end tests, then the unit
# tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")"
packaging/deps.sh --test
jobs="$(nproc)"

echo "== formatting (.clang-format)"
git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run --Werror

echo "== build with warnings as errors"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDRIFT_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"

echo "== unit and end-to-end tests"
ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout 300

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDRIFT_WERROR=ON -DDRIFT_SANITIZE=address >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 300
