#!/usr/bin/env bash
# Healing benchmark, on a copy of the demo host (packaging/examples/demo) behind basic auth:
# 1. the webhook under load: wrk POSTs one valid Alertmanager message (the encryption drift,
#    recorded once, then every delivery a duplicate, as retries and HA peers make them) while a
#    second wrk scrapes /metrics over one connection; /metrics alone first, for comparison;
# 2. from drift to healed: the demo's journal unit set to "failed", the exporter's own alert
#    source delivering to its own webhook (alerting.webhooks, no Alertmanager), until the action
#    is healed; the parts from the action's times (detection: to the alert's startsAt; delivery:
#    to the action's creation; runbook and verification: to its end).
# Prints the "Healing" section on stdout and, unless bench/run.sh runs it, puts it into
# bench/RESULTS.md. About 2 minutes.
#
#   bench/healing.sh
#   DRIFT_BENCH_SECONDS=5 DRIFT_BENCH_HEAL_SAMPLES=3 bench/healing.sh   # a quick look
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SECS="${DRIFT_BENCH_SECONDS:-20}"
SAMPLES="${DRIFT_BENCH_HEAL_SAMPLES:-10}"
bench_need wrk curl htpasswd python3 cmake awk
bench_build
load="$(bench_wait_load)"
log "healing: load $load"
bench_tmp
work="$BENCH_TMP"
copy_demo "$work"
demo="$work/demo"

# Basic auth for Alertmanager (the webhook's caller) and for the scraper; bcrypt cost 10, checked
# once per connection's credentials and cached.
password="bench-secret"
hash="$(htpasswd -nbBC 10 u "$password" | cut -d: -f2)"
printf 'basic_auth_users:\n  alertmanager: %s\n  prometheus: %s\n' "$hash" "$hash" >"$work/web.yml"
printf '%s\n' "$password" >"$work/password"
chmod 600 "$work/password"
auth="Authorization: Basic $(printf 'alertmanager:%s' "$password" | base64 -w0)"
scrape_auth="Authorization: Basic $(printf 'prometheus:%s' "$password" | base64 -w0)"

port="$(free_port)"
# Checks every second; healing as the demo has it, but authenticated, with a short cooldown so
# that samples follow each other; the alert source delivers to this exporter's own webhook.
python3 - "$demo/config.yml" "$port" "$work/password" <<'PY'
import sys
path, port, password = sys.argv[1:]
text = open(path).read().replace("interval: 15s", "interval: 1s")
head, rest = text.split("\nhealing:\n", 1)
runbooks = rest[rest.index("\nrunbooks:\n"):]
open(path, "w").write(head + f"""
alerting:
  webhooks:
    - url: http://127.0.0.1:{port}/api/v1/heal
      basic_auth: {{username: alertmanager, password_file: {password}}}
healing:
  webhook_callers: [alertmanager]
  approvers: [alertmanager]
  cooldown: 1s
  max_attempts: 1000
""" + runbooks)
PY

"$EXPORTER" --config.file="$demo/config.yml" --web.listen-address="127.0.0.1:$port" \
  --web.config.file="$work/web.yml" >"$work/exporter.log" 2>&1 &
pid=$!
_bench_pids+=("$pid")
base="http://127.0.0.1:$port"
for ((i = 0; i < 500; i++)); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$scrape_auth" "$base/-/ready")" == 200 ]] && break
  sleep 0.02
done

# 1. The webhook under load.
host="$(hostname)"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"version":"4","status":"firing","receiver":"bench","groupKey":"{}:{}","alerts":[{"status":"firing","labels":{"alertname":"ComplianceDrift","check":"encryption","instance":"$host","severity":"critical"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"00000000000000be"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$(printf 'Basic %s' "$(printf 'alertmanager:%s' "$password" | base64 -w0)")"
LUA
first="$(curl -s -X POST -H "$auth" -H 'Content-Type: application/json' \
  --data-binary "$(sed -n 's/^wrk.body = .\(.*\).$/\1/p' "$work/post.lua")" "$base/api/v1/heal")"
log "first delivery: $first"
[[ "$first" == *'"result":"manual"'* ]] || die "the first delivery was not recorded: $first"

read -r idle_rps idle_p50 idle_p99 _ idle_err idle_other \
  <<<"$(run_wrk "$base/metrics" 1 1 "$SECS" "$pid" "$scrape_auth")"
run_wrk "$base/metrics" 1 1 "$SECS" "$pid" "$scrape_auth" >"$work/metrics_under_load" &
scraper=$!
hook="$(timeout $((SECS + 30)) wrk -t1 -c8 -d"${SECS}s" --timeout 10s --latency -s "$work/post.lua" \
  "$base/api/v1/heal")"
wait "$scraper"
read -r load_rps load_p50 load_p99 _ load_err load_other <"$work/metrics_under_load"
hook_rps="$(awk '/^Requests\/sec:/ { print int($2) }' <<<"$hook")"
hook_p50="$(awk '$1 == "50%" { print $2 }' <<<"$hook")"
hook_p99="$(awk '$1 == "99%" { print $2 }' <<<"$hook")"
hook_non2xx="$(awk '/Non-2xx/ { print $NF }' <<<"$hook")"
actions="$(curl -s -H "$scrape_auth" "$base/api/v1/heal/actions" |
  python3 -c 'import json, sys
print(sum(a["alert"]["receiver"] == "bench" for a in json.load(sys.stdin)["actions"]))')"
log "webhook: $hook_rps req/s, p99 $hook_p99; /metrics p99 $idle_p99 ms idle, $load_p99 ms under load"

# 2. From drift to healed, SAMPLES times.
units="$demo/host/run/demo-units/systemd-journald.service"
: >"$work/samples"
for ((s = 0; s < SAMPLES; s++)); do
  sleep 1.5  # past the 1s cooldown of the previous heal
  t0="$(date +%s%N)"
  printf 'failed\n' >"$units"
  python3 - "$base" "$scrape_auth" "$t0" "$s" >>"$work/samples" <<'PY'
import datetime, json, sys, time, urllib.request
base, auth, t0, sample = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1e9, int(sys.argv[4])
name, value = auth.split(": ", 1)

def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

deadline = time.time() + 60
while time.time() < deadline:
    req = urllib.request.Request(base + "/api/v1/heal/actions", headers={name: value})
    actions = json.load(urllib.request.urlopen(req, timeout=5))["actions"]
    healed = [a for a in actions if a["check"] == "logging" and a["status"] == "healed"]
    if len(healed) > sample:
        a = healed[0]
        end = ts(a["updated_at"])
        start = ts(a["alert"]["starts_at"])
        created = ts(a["created_at"])
        print(f"{end - t0:.3f} {start - t0:.3f} {created - start:.3f} {end - created:.3f}")
        sys.exit(0)
    time.sleep(0.02)
sys.exit("not healed within 60 s")
PY
done
read -r total detect deliver run <<<"$(awk '
  { t[NR] = $1; d[NR] = $2; w[NR] = $3; r[NR] = $4 }
  function median(a, n,   i, j, x, s) {
    for (i = 1; i <= n; i++) s[i] = a[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { x = s[i]; s[i] = s[j]; s[j] = x }
    return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
  }
  END { printf "%.2f %.2f %.3f %.3f\n", median(t, NR), median(d, NR), median(w, NR), median(r, NR) }
' "$work/samples")"
max_total="$(sort -n "$work/samples" | tail -1 | cut -d' ' -f1)"

section="$work/healing.md"
{
  echo "## Healing"
  echo
  echo "Machine: $(machine_line). $(quiet_line "$load")"
  echo "The Release binary on a copy of the demo host, with basic auth (bcrypt cost 10) and"
  echo "checks every second. Reproduce: \`bench/healing.sh\`."
  echo
  echo "**The webhook under load.** wrk with 8 connections POSTs one valid, authenticated"
  echo "Alertmanager message for ${SECS}s: the first delivery recorded the action, every other one"
  echo "is a duplicate (answered from memory, nothing recorded). A second wrk scrapes /metrics"
  echo "over one connection meanwhile."
  echo
  echo "| | req/s | p50 | p99 | errors |"
  echo "|---|---:|---:|---:|---:|"
  echo "| POST /api/v1/heal (duplicates) | $hook_rps | $hook_p50 | $hook_p99 | ${hook_non2xx:-0} non-2xx |"
  echo "| GET /metrics, alone | $idle_rps | ${idle_p50} ms | ${idle_p99} ms | $idle_err |"
  echo "| GET /metrics, during the webhook load | $load_rps | ${load_p50} ms | ${load_p99} ms | $load_err |"
  echo
  echo "Actions the load's messages made: $actions (the first delivery's; duplicates make none)."
  echo
  echo "**From drift to healed**, $SAMPLES times: the demo's journal unit set to \`failed\` until"
  echo "\`restart_logging_services\` has run and the re-run check is compliant, through the"
  echo "exporter's own webhook delivery (no Alertmanager; with one, add its group_wait). Medians:"
  echo
  echo "| total | detection (check interval 1s) | delivery (alert source to webhook accepted) | runbook and verification |"
  echo "|---:|---:|---:|---:|"
  echo "| ${total} s (max ${max_total} s) | ${detect} s | ${deliver} s | ${run} s |"
} >"$section"
cat "$section"
summary "Healing: webhook p99 under load (duplicates) / /metrics p99 meanwhile" "/metrics p99 < 5 ms" \
  "${hook_p99} / ${load_p99} ms" "$(verdict "$load_p99" 0 'a < 5')"
summary "Healing: drift to healed (median, checks every 1s, no Alertmanager)" "measured" \
  "${total} s" "—"
update_results_section Healing "$section"
