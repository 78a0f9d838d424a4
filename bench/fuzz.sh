#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of tests/fuzz (clang 14, DRIFT_FUZZ=ON: ASan + UBSan +
# coverage, in its own build tree) and runs them under `nice -n 19`, FUZZ_JOBS at a time (one
# process each), from its seed corpus and dictionary, until it has run FUZZ_RUNS inputs or for FUZZ_MAX_TIME seconds, whichever
# comes first. Prints its markdown section for bench/RESULTS.md on stdout: per target the inputs
# run, exec/s, duration, CPU time (and inputs per CPU second, the rate that does not depend on
# what else the machine runs), coverage, corpus growth and findings (crash, leak, timeout,
# out-of-memory, slow unit), followed by bench/fuzz_notes.md (findings and fixes, by hand), and
# its row for the Summary table. When it ran every target (in any order), it also puts both into
# bench/RESULTS.md in place of the last ones (bench/results_md.py; bench/run.sh keeps them when
# it rewrites the rest of the file).
# A finding's input is kept in $FUZZ_OUT/findings/<target>/; reproduce it with
# `$BUILD/fuzz/<target>_fuzz <file>`, then add it to tests/fuzz/corpus/<target>/ with the fix.
#
#   bench/fuzz.sh [target...]        (default: every target in tests/fuzz/CMakeLists.txt; the
#                                     order given is the order they start in: longest first
#                                     keeps the run short)
#
# Environment:
#   FUZZ_RUNS            inputs per target (default 10000000)
#   FUZZ_MAX_TIME        seconds per target at most (default 3600)
#   FUZZ_JOBS            targets run at the same time (default: the number of CPUs)
#   FUZZ_TIMEOUT         seconds one input may take before it counts as a timeout (default 10)
#   FUZZ_RSS_LIMIT_MB    memory limit, a finding when exceeded (default 2048)
#   DRIFT_FUZZ_BUILD_DIR build tree (default <repo>/build-fuzz)
#   FUZZ_OUT             grown corpora, findings and logs (default <build tree>/fuzz-out)
#   FUZZ_RESULTS         file to put the section and row into (default bench/RESULTS.md when
#                        every target ran, none for a subset); "-" = none, stdout only
#   DRIFT_FUZZ_SKIP_BUILD  1 = use the binaries already built
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${DRIFT_FUZZ_BUILD_DIR:-$REPO/build-fuzz}"
OUT="${FUZZ_OUT:-$BUILD/fuzz-out}"
RUNS="${FUZZ_RUNS:-10000000}"
MAX_TIME="${FUZZ_MAX_TIME:-3600}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
RSS_LIMIT="${FUZZ_RSS_LIMIT_MB:-2048}"
CORPUS="$REPO/tests/fuzz/corpus"
DICTS="$REPO/tests/fuzz/dict"

log() { echo "[fuzz] $*" >&2; }
die() {
  echo "[fuzz] error: $*" >&2
  exit 1
}
command -v clang++-14 >/dev/null || die "clang++-14 missing; install with packaging/deps.sh --test"

read -r -a all_targets <<<"$(sed -nE 's/^set\(DRIFT_FUZZ_TARGETS (.*)\)$/\1/p' \
  "$REPO/tests/fuzz/CMakeLists.txt")"
[[ ${#all_targets[@]} -gt 0 ]] || die "no fuzz targets found in tests/fuzz/CMakeLists.txt"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || die "unknown target $t (${all_targets[*]})"
done
results="${FUZZ_RESULTS:-}"
if [[ -z "$results" && "$(printf '%s\n' "${targets[@]}" | sort -u)" == \
  "$(printf '%s\n' "${all_targets[@]}" | sort -u)" ]]; then
  results="$REPO/bench/RESULTS.md"
fi
JOBS="${FUZZ_JOBS:-$(nproc)}"

if [[ "${DRIFT_FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
  log "building ${targets[*]} in $BUILD"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DDRIFT_FUZZ=ON -DDRIFT_BUILD_BENCH=OFF \
    "${launcher[@]}" >&2
  cmake --build "$BUILD" -j"$(nproc)" \
    --target "${targets[@]/%/_fuzz}" >&2
fi

# The dictionary of each target.
dict_of() {
  case "$1" in
    config) echo "$DICTS/config.dict" ;;
    record | minisign | verify) echo "$DICTS/evidence.dict" ;;
    http) echo "$DICTS/http.dict" ;;
    webhook) echo "$DICTS/webhook.dict" ;;
  esac
}

# fuzz_one TARGET: runs it and writes $OUT/rows/TARGET.{row,execs,findings}. Runs in a subshell
# of its own, so that `times` there gives the CPU seconds (user + system) of this target's
# fuzzer alone: on a shared machine a fuzzer at nice 19 may get little of the wall time, so the
# rate per CPU second is the one that says how fast a target is.
fuzz_one() {
  local t=$1
  local bin="$BUILD/fuzz/${t}_fuzz" work="$OUT/corpus/$t" findings="$OUT/findings/$t"
  local logf="$OUT/logs/$t.log"
  mkdir -p "$work" "$findings" "$(dirname "$logf")"
  local dict=()
  [[ -n "$(dict_of "$t")" ]] && dict=(-dict="$(dict_of "$t")")
  local seeds start rc
  seeds="$(find "$CORPUS/$t" -type f | wc -l)"
  log "$t: up to $RUNS inputs or ${MAX_TIME}s; log $logf"
  start=$(date +%s)
  # New inputs go to the first folder (the work corpus); the seeds are only read.
  # bash's `time` keyword reports the fuzzer's user and system CPU seconds ("12.345 0.678") on
  # the group's stderr; `times` would not do here, as a pipe or $(...) runs it in a subshell,
  # whose children's time is nil.
  local TIMEFORMAT='%3U %3S'
  set +e
  { time nice -n 19 "$bin" -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout="$TIMEOUT" \
    -rss_limit_mb="$RSS_LIMIT" -print_final_stats=1 -artifact_prefix="$findings/" \
    "${dict[@]}" "$work" "$CORPUS/$t" </dev/null >"$logf" 2>&1; } 2>"$OUT/rows/$t.cpu"
  rc=$?
  set -e
  local secs=$(($(date +%s) - start))
  local cpu execs per_cpu rate cov grown
  cpu="$(awk '{ printf "%.1f", $1 + $2 }' "$OUT/rows/$t.cpu")"
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$logf" | tail -1)"
  per_cpu="$(awk -v n="${execs:-0}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "?" }')"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$logf" | tail -1)"
  cov="$(grep -oE 'cov: [0-9]+' "$logf" | tail -1 | cut -d' ' -f2 || true)"  # none if it crashed at once
  grown="$(find "$work" -type f | wc -l)"
  local found=() kind n
  for kind in crash leak timeout oom slow-unit; do
    n="$(find "$findings" -name "$kind-*" | wc -l)"
    [[ "$n" -gt 0 ]] && found+=("$n $kind")
  done
  echo "${#found[@]}" >"$OUT/rows/$t.findings"
  [[ $rc -ne 0 && ${#found[@]} -eq 0 ]] && found+=("exit $rc, see $logf")
  local summary="${found[*]:-none}"
  log "$t: ${execs:-?} inputs in ${secs}s (${rate:-?}/s; ${cpu} CPU s, $per_cpu per CPU s)," \
    "coverage ${cov:-?}, findings: $summary"
  echo "${execs:-0}" >"$OUT/rows/$t.execs"
  echo "| $t | ${execs:-?} | ${rate:-?} | ${secs}s | ${cpu}s | $per_cpu | ${cov:-?} | $seeds → $grown | $summary |" \
    >"$OUT/rows/$t.row"
}

for t in "${targets[@]}"; do
  [[ -x "$BUILD/fuzz/${t}_fuzz" ]] || die "$BUILD/fuzz/${t}_fuzz not built"
done
rm -rf "$OUT/rows"
mkdir -p "$OUT/rows"
start_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
start_load="$(cut -d' ' -f1 /proc/loadavg)"
running=0
for t in "${targets[@]}"; do
  if [[ $running -ge $JOBS ]]; then
    wait -n || true
    running=$((running - 1))
  fi
  (fuzz_one "$t") &
  running=$((running + 1))
done
wait

# Rows in the order of tests/fuzz/CMakeLists.txt, whatever order they ran in.
rows=()
total_findings=0
min_execs=""
max_execs=0
for t in "${all_targets[@]}"; do
  [[ -f "$OUT/rows/$t.row" ]] || continue
  rows+=("$(cat "$OUT/rows/$t.row")")
  total_findings=$((total_findings + $(cat "$OUT/rows/$t.findings")))
  n="$(cat "$OUT/rows/$t.execs")"
  [[ -z "$min_execs" || $n -lt $min_execs ]] && min_execs=$n
  [[ $n -gt $max_execs ]] && max_execs=$n
done
[[ ${#rows[@]} -eq ${#targets[@]} ]] || die "a target stopped without its row; see $OUT/logs"

section="$OUT/section.md"
{
  echo "## Fuzzing"
  echo
  echo "\`bench/fuzz.sh ${targets[*]}\` with FUZZ_RUNS=$RUNS FUZZ_MAX_TIME=$MAX_TIME FUZZ_JOBS=$JOBS:"
  echo "$JOBS target(s) at a time, one process each, under \`nice -n 19\`, \`-runs=$RUNS -max_total_time=$MAX_TIME -timeout=$TIMEOUT"
  echo "-rss_limit_mb=$RSS_LIMIT\`, from its seed corpus (tests/fuzz/corpus) and dictionary; built"
  echo "with $(clang++-14 --version | head -1), ASan + UBSan + libFuzzer (DRIFT_FUZZ=ON,"
  echo "RelWithDebInfo). Run $start_date to $(date -u +%Y-%m-%dT%H:%M:%SZ) (UTC), load average (1 min)"
  echo "$start_load before it, on $(nproc) CPUs; revision $(git -C "$REPO" rev-parse --short=12 HEAD)."
  echo
  echo "| target | inputs run | exec/s (wall) | duration | CPU time | inputs per CPU s | coverage (edges) | corpus (seeds → grown) | findings |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
  if [[ -f "$REPO/bench/fuzz_notes.md" ]]; then
    echo
    cat "$REPO/bench/fuzz_notes.md"
  fi
} >"$section"
verdict=PASS
[[ $min_execs -lt $RUNS ]] && verdict="MISSED (count)"
[[ $total_findings -gt 0 ]] && verdict=FAIL
row="| Fuzzing: inputs per target, ${#targets[@]} libFuzzer targets (ASan + UBSan) | $RUNS each, no finding | $min_execs to $max_execs; findings: $total_findings | $verdict |"
echo "$row" >"$OUT/row.md"
cat "$section"
echo
echo "Summary row: $row"
if [[ -n "$results" && "$results" != - ]]; then
  python3 "$REPO/bench/results_md.py" put "$results" "$section" "$OUT/row.md"
  log "put the section and its summary row into $results"
fi
[[ $total_findings -eq 0 ]]
