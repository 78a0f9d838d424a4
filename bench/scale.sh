#!/usr/bin/env bash
# Benchmark 4: how a check cycle and /metrics grow with 10, 100 and 1,000 `file` checks over
# 64 KiB files (hashes pinned with the real `drift_exporter baseline capture`), and /metrics
# latency with wrk -c4 while checks run back to back. Prints its markdown section for
# bench/RESULTS.md on stdout.
#
#   bench/scale.sh
#   DRIFT_BENCH_WRK_SECONDS=4 bench/scale.sh   # a quick look, not for RESULTS.md
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need wrk curl hyperfine python3 cmake awk
bench_build

secs="${DRIFT_BENCH_WRK_SECONDS:-10}"
busy_interval=10ms
sizes=(10 100 1000)
hz="$(getconf CLK_TCK)"
load="$(bench_wait_load)"
log "scale: load $load"

cycle_rows=()
lat_rows=()
verdicts=()
declare -A cycle_ms

# Runs wrk -t2 -c4 on URL (a /metrics) for the exporter PID; prints
# "<rps> <p50> <p99> <exporter CPU %> <other CPU %> <oldest result s>", the last being the age of
# the oldest drift_check_last_run_timestamp_seconds right after wrk: how far the checks fell
# behind while /metrics was flooded (the workers run below the HTTP threads).
latency() {
  local pid="$1" url="$2" t0 t1 rps p50 p99 n err oth
  run_wrk "$url" 2 4 2 "$pid" >/dev/null  # warm-up
  t0="$(cpu_ticks "$pid")"
  read -r rps p50 p99 n err oth <<<"$(run_wrk "$url" 2 4 "$secs" "$pid")"
  t1="$(cpu_ticks "$pid")"
  ((err == 0)) || die "wrk saw $err errors on $url"
  echo "$rps $p50 $p99 $(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * d / hz / s }') $oth $(oldest_result "$url")"
}

# Seconds since the oldest check result in URL's body (a /metrics).
oldest_result() {
  curl -sf "$1" | awk -v now="$(date +%s.%N)" '
    /^drift_check_last_run_timestamp_seconds/ { if (min == "" || $2 + 0 < min) min = $2 + 0 }
    END { if (min == "") print "-"; else printf "%.2f", (now > min ? now - min : 0) }'
}

for n in "${sizes[@]}"; do
  bench_tmp
  dir="$BENCH_TMP"
  log "$n checks: generating files and baseline"
  make_file_checks "$n" "$dir" 1h

  # The cycle alone: `check` (start, load, one cycle, exit) minus `--config.check` (start, load).
  # Fastest runs, not medians: the difference of two medians drowns in noise for 10 checks.
  hyperfine --style basic -N --warmup 2 --runs 20 --export-json "$dir/h.json" \
    -n check "$EXPORTER check --config.file=$dir/config.yml" \
    -n load "$EXPORTER --config.file=$dir/config.yml --config.check" >&2
  read -r check_ms load_ms <<<"$(python3 -c '
import json, sys
r = {x["command"]: min(x["times"]) * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print("%.1f %.1f" % (r["check"], r["load"]))' "$dir/h.json")"
  cyc="$(awk -v a="$check_ms" -v b="$load_ms" 'BEGIN { printf "%.1f", a - b }')"
  cycle_ms[$n]="$cyc"

  # The daemon: start until /-/ready is 200 (first cycle done), then idle latency.
  t0="$(date +%s%N)"
  start_exporter "$dir/config.yml" "$dir/drift.log"
  pid="$BENCH_PID"
  url="http://127.0.0.1:$BENCH_PORT"
  wait_http_200 "$url/-/ready" 120 || die "$n checks: not ready"
  ready_ms=$((($(date +%s%N) - t0) / 1000000))
  body="$(curl -sf "$url/metrics" | wc -c)"
  log "$n checks: idle latency"
  read -r i_rps i_p50 i_p99 i_cpu i_oth _ <<<"$(latency "$pid" "$url/metrics")"
  stop_pid "$pid"

  # A cycle every second, as a short production interval would start them.
  set_interval "$dir/config.yml" 1s
  start_exporter "$dir/config.yml" "$dir/drift-1s.log"
  pid="$BENCH_PID"
  url="http://127.0.0.1:$BENCH_PORT"
  wait_http_200 "$url/-/ready" 120 || die "$n checks: not ready"
  log "$n checks: latency with a cycle every second"
  read -r s_rps s_p50 s_p99 s_cpu s_oth s_old <<<"$(latency "$pid" "$url/metrics")"
  stop_pid "$pid"

  # Checks back to back: an interval far below the cycle time, so every check is re-queued as
  # soon as its last run ends and a cycle is always running.
  set_interval "$dir/config.yml" "$busy_interval"
  start_exporter "$dir/config.yml" "$dir/drift-busy.log"
  pid="$BENCH_PID"
  url="http://127.0.0.1:$BENCH_PORT"
  wait_http_200 "$url/-/ready" 120 || die "$n checks: not ready"
  log "$n checks: latency while checks run back to back"
  read -r b_rps b_p50 b_p99 b_cpu b_oth b_old <<<"$(latency "$pid" "$url/metrics")"
  stop_pid "$pid"

  cycle_rows+=("| $n | $check_ms | $load_ms | **$cyc** | $(awk -v c="$cyc" -v n="$n" 'BEGIN { printf "%.0f", 1000 * c / n }') | $ready_ms | $body | $(awk -v b="$body" -v n="$n" 'BEGIN { printf "%.0f", b / n }') |")
  lat_rows+=("| $n | idle (interval 1h) | $i_rps | $i_p50 | $i_p99 | $i_cpu | $i_oth | - |")
  lat_rows+=("| $n | a cycle every 1s | $s_rps | $s_p50 | $s_p99 | $s_cpu | $s_oth | $s_old |")
  lat_rows+=("| $n | checks back to back (interval $busy_interval) | $b_rps | $b_p50 | **$b_p99** | $b_cpu | $b_oth | $b_old |")
  verdicts+=("$n checks: $(verdict "$b_p99" 0 'a < 5') ($b_p99 ms)")
  summary "4. /metrics p99 while $n checks run back to back" "< 5 ms" \
    "$b_p99 ms (idle $i_p99 ms, cycle every 1s $s_p99 ms)$(disturbed "$b_oth" "$i_oth" "$s_oth")" \
    "$(verdict "$b_p99" 0 'a < 5')"
  rm -rf "$dir/root"  # free the space early; the EXIT trap removes the rest
done

marginal="$(awk -v a="${cycle_ms[1000]}" -v b="${cycle_ms[10]}" 'BEGIN { printf "%.0f", 1000 * (a - b) / 990 }')"
marginal_hi="$(awk -v a="${cycle_ms[1000]}" -v b="${cycle_ms[100]}" 'BEGIN { printf "%.0f", 1000 * (a - b) / 900 }')"
summary "4. one cycle of 10 / 100 / 1,000 file checks" "(none)" \
  "${cycle_ms[10]} / ${cycle_ms[100]} / ${cycle_ms[1000]} ms; ${marginal} us per added check" "-"

cat <<EOF
## 4. Scale: 10, 100 and 1,000 file checks

$(quiet_line "$load") Each check is type \`file\` over its own 64 KiB file of random
bytes (path, pinned sha256 from \`drift_exporter baseline capture\`, mode), scheduler concurrency 4,
timeout 30 s.

Cycle time: fastest of 20 hyperfine runs (\`-N\`, 2 warm-ups) of \`drift_exporter check\` (start,
load config, one cycle, exit) and of \`drift_exporter --config.check\` (start and load only); the
difference is the cycle. "start to ready" is the daemon from spawn until \`/-/ready\` answers 200
(polled with curl every 10 ms, so +-15 ms).

| checks | \`check\` ms | \`--config.check\` ms | cycle ms | cycle us per check | daemon start to ready ms | /metrics bytes | bytes per check |
|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${cycle_rows[@]}")

Marginal cost per check: ${marginal} us from 10 to 1,000 checks, ${marginal_hi} us from 100 to 1,000.

/metrics latency: \`wrk -t2 -c4 -d${secs}s --timeout 10s --latency\` after a 2 s warm-up, a fresh daemon each time:
idle (1 h interval, first cycle done); a cycle started every second (interval 1s); and checks
back to back (interval $busy_interval, far below the cycle, so every check is re-queued the moment
its run ends and 4 workers hash without pause). The target is judged on the last, where a cycle
is always running. "CPU" is the exporter's user+system time over the wrk window (200% = both
cores; wrk takes the rest); "other CPU" is the share of the machine used by anyone else during
the run (well above 0: disturbed). "oldest result" is the age of the oldest check result on
/metrics right after wrk: the check workers run below the HTTP threads (nice 10, yielding the core
every 500 us of CPU), so under this flood they fall behind by that much (the interval plus one
cycle, plus the body's age of up to 1 s, is normal).

| checks | checks running | requests/s | p50 ms | p99 ms | exporter CPU % | other CPU % | oldest result s |
|---|---|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${lat_rows[@]}")

Target: /metrics p99 < 5 ms while checks run (back to back): $(printf '%s; ' "${verdicts[@]}" | sed 's/; $//').

Reproduce: \`bench/scale.sh\` (or \`bench/run.sh\` for everything).
EOF
