#!/usr/bin/env bash
# Builds drift_exporter in Release, runs every benchmark in bench/ and rewrites bench/RESULTS.md,
# keeping its "## Fuzzing" section and summary row (bench/fuzz.sh writes those).
# Takes about 10 minutes, 15 more for slow_clients.sh, plus the wait for a quiet machine. Exits 1
# if a benchmark could not run (missed targets are reported in RESULTS.md, not as a failure).
#
#   bench/run.sh
#   DRIFT_BENCH_BUILD_DIR=/path/to/build bench/run.sh   # another (Release) build tree
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need wrk curl hyperfine openssl python3 cmake awk git minisign
[[ -x "$NODE_EXPORTER" ]] || die "$NODE_EXPORTER missing; install with packaging/deps.sh --test"
bench_build
export DRIFT_BENCH_SKIP_BUILD=1

bench_tmp
work="$BENCH_TMP"
export DRIFT_BENCH_SUMMARY="$work/summary"
: >"$DRIFT_BENCH_SUMMARY"

start_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The first wait is the long one (other engineers' builds); between benchmarks only our own
# load has to fade.
read -r start_load start_busy <<<"$(bench_wait_load)"
log "starting at load $start_load, ${start_busy}% CPU busy"

failed=()
benches=(metrics_throughput rss sha256 scale alerting healing evidence slow_clients)
for b in "${benches[@]}"; do
  log "=== $b"
  if DRIFT_BENCH_LOAD_WAIT="${DRIFT_BENCH_LOAD_WAIT:-90}" "$BENCH_DIR/$b.sh" >"$work/$b.md"; then
    :
  else
    rc=$?
    failed+=("$b")
    printf '## %s\n\nDid not complete (exit %s); run `bench/%s.sh` to see why.\n' "$b" "$rc" "$b" \
      >"$work/$b.md"
  fi
done
end_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

revision="$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ]]; then
  revision="$revision + uncommitted changes"
fi
compiler="$(grep -E '^CMAKE_CXX_COMPILER:' "$BUILD_DIR/CMakeCache.txt" | cut -d= -f2)"
# The optimisation flags main.cc was compiled with (CMake's Release flags, then the project's).
flags="$(python3 -c '
import json, shlex, sys
cmd = next(c["command"] for c in json.load(open(sys.argv[1])) if c["file"].endswith("/exporter/main.cc"))
print(" ".join(a for a in shlex.split(cmd) if a.startswith("-O") or a == "-DNDEBUG"))
' "$BUILD_DIR/compile_commands.json")"

{
  cat <<EOF
# drift_exporter benchmarks

Written by \`bench/run.sh\`; do not edit by hand. Reproduce everything with \`bench/run.sh\`, or
one benchmark with its own script (named in each section).

- Run: $start_date to $end_date (UTC), revision $revision.
- Machine: $(machine_line), $(awk '/^MemTotal:/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo).
- Load before the run: load average (1 min) $start_load, ${start_busy}% of the CPUs busy over 2 s.
  Each section states the load before it; the benchmarks run one at a time.
- Build: Release (\`$flags\`; the last \`-O\` counts), $("$compiler" --version | head -1); binaries from
  \`$(realpath --relative-to="$REPO" "$BUILD_DIR")/\`.
- Tools: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $("$NODE_EXPORTER" --version 2>&1 | head -1 | sed -E 's/ *\(.*//; s/, version//'), $(openssl version | cut -d' ' -f1-2), $(hyperfine --version).
- Everything listens on 127.0.0.1 only; temp files live under /tmp/drift-bench.* and are removed.

## Summary

| benchmark | target | measured | verdict |
|---|---|---|---|
EOF
  cat "$DRIFT_BENCH_SUMMARY"
  for b in "${benches[@]}"; do
    echo
    cat "$work/$b.md"
  done
  echo
  echo "Where the time and memory go, for the targets missed: bench/ANALYSIS.md (written by hand"
  echo "from profiles of this code; re-check it after the product code changes)."
} >"$work/RESULTS.md"
# The fuzzing section and its summary row come from bench/fuzz.sh (hours of CPU, run apart):
# the last ones are kept as they are.
python3 "$BENCH_DIR/results_md.py" carry "$BENCH_DIR/RESULTS.md" "$work/RESULTS.md"
cp "$work/RESULTS.md" "$BENCH_DIR/RESULTS.md"
log "wrote $BENCH_DIR/RESULTS.md"

if [[ ${#failed[@]} -gt 0 ]]; then
  log "did not complete: ${failed[*]}"
  exit 1
fi
