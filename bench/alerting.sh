#!/usr/bin/env bash
# Alerting benchmark: time from a fixture file change to the Alertmanager webhook, direct path vs
# Prometheus-rule path, and alerting's added CPU per check cycle with 1,000 checks (the work is
# in bench/alerting_bench.py). Prints the "Alerting" section on stdout and, unless bench/run.sh
# runs it, replaces (or appends) that section in bench/RESULTS.md. About 6 minutes.
#
#   bench/alerting.sh
#   DRIFT_BENCH_LATENCY_SAMPLES=3 DRIFT_BENCH_CPU_SECONDS=10 DRIFT_BENCH_CPU_ROUNDS=1 \
#     bench/alerting.sh   # a quick look, not for RESULTS.md
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need python3 cmake awk openssl
for tool in /usr/bin/prometheus /usr/bin/prometheus-alertmanager; do
  [[ -x "$tool" ]] || die "$tool missing; install with packaging/deps.sh --test"
done
bench_build

load="$(bench_wait_load)"
log "alerting: load $load"
bench_tmp
json="$BENCH_TMP/alerting.json"
section="$BENCH_TMP/alerting.md"

DRIFT_EXPORTER="$EXPORTER" DRIFT_SOURCE_DIR="$REPO" PYTHONDONTWRITEBYTECODE=1 \
  DRIFT_BENCH_JSON="$json" DRIFT_BENCH_MACHINE="$(machine_line)" \
  DRIFT_BENCH_QUIET="$(quiet_line "$load")" \
  python3 "$BENCH_DIR/alerting_bench.py" >"$section"
cat "$section"

read -r direct rules added threads <<<"$(python3 -c '
import json, statistics, sys
r = json.load(open(sys.argv[1]))
m = statistics.median
print("%.2f %.2f %+.1f %.2f" % (m(r["direct"]), m(r["rules"]), m(x[4] for x in r["cpu"]["1m"]),
                                m(x[1] for x in r["cpu"]["1m"])))' "$json")"
summary "Alerting: fixture change to webhook, direct / via rules (intervals 1s)" "measured" \
  "${direct} s / ${rules} s (median)" "—"
summary "Alerting: CPU per cycle, 1,000 drifted checks, resend 1m" "measured" \
  "${added} ms vs off (${threads} ms in alerting threads)" "—"

update_results_section Alerting "$section"
