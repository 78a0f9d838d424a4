#!/usr/bin/env bash
# Healing benchmark, on a copy of the demo host (packaging/examples/demo) behind basic auth:
# 1. the webhook under load: wrk POSTs one valid Alertmanager message (the encryption drift,
#    recorded once, then every delivery a duplicate, as retries and HA peers make them) while a
#    second wrk scrapes /metrics over one connection; /metrics alone first, for comparison;
# 2. from drift to healed: the demo's journal unit set to "failed", the exporter's own alert
#    source delivering to its own webhook (alerting.webhooks, no Alertmanager), until the action
#    is healed; the parts from the action's times (detection: to the alert's startsAt; delivery:
#    to the action's creation; runbook and verification: to its end);
# 3. the same through a real Alertmanager routing as packaging/examples/alertmanager.yml's heal
#    route (group_wait 0s), until healed and until Alertmanager holds the alert resolved.
# Prints the "Healing" section on stdout and, unless bench/run.sh runs it, puts it into
# bench/RESULTS.md. About 3 minutes.
#
#   bench/healing.sh
#   DRIFT_BENCH_SECONDS=5 DRIFT_BENCH_HEAL_SAMPLES=3 bench/healing.sh   # a quick look
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SECS="${DRIFT_BENCH_SECONDS:-20}"
SAMPLES="${DRIFT_BENCH_HEAL_SAMPLES:-10}"
bench_need wrk curl htpasswd python3 cmake awk
ALERTMANAGER=/usr/bin/prometheus-alertmanager
[[ -x "$ALERTMANAGER" ]] || die "$ALERTMANAGER missing; install with packaging/deps.sh --test"
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
am_port="$(free_port)"
cp "$demo/config.yml" "$work/demo-config.yml"
# write_config TARGET: the demo's checks every second; healing as the demo has it, but
# authenticated, with a short cooldown so that samples follow each other; the alert source
# delivers to this exporter's own webhook (TARGET self) or to the Alertmanager (TARGET am).
write_config() {
  python3 - "$work/demo-config.yml" "$demo/config.yml" "$1" "$port" "$am_port" "$work/password" <<'PY'
import sys
source, path, target, port, am_port, password = sys.argv[1:]
text = open(source).read().replace("interval: 15s", "interval: 1s")
head, rest = text.split("\nhealing:\n", 1)
runbooks = rest[rest.index("\nrunbooks:\n"):]
alerting = {
    "self": f"""  webhooks:
    - url: http://127.0.0.1:{port}/api/v1/heal
      basic_auth: {{username: alertmanager, password_file: {password}}}
""",
    "am": f"""  alertmanagers: [{{url: "http://127.0.0.1:{am_port}"}}]
""",
}[target]
open(path, "w").write(head + "\nalerting:\n" + alerting + """healing:
  webhook_callers: [alertmanager]
  approvers: [alertmanager]
  cooldown: 1s
  max_attempts: 1000
""" + runbooks)
PY
}
write_config self

start() {
  "$EXPORTER" --config.file="$demo/config.yml" --web.listen-address="127.0.0.1:$port" \
    --web.config.file="$work/web.yml" >>"$work/exporter.log" 2>&1 &
  pid=$!
  _bench_pids+=("$pid")
  local i
  for ((i = 0; i < 500; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$scrape_auth" \
      "http://127.0.0.1:$port/-/ready")" == 200 ]] && return 0
    sleep 0.02
  done
  die "the exporter did not start; its log: $(tail -5 "$work/exporter.log")"
}
start
base="http://127.0.0.1:$port"

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

# 2. and 3. From drift to healed, SAMPLES times: each sample one line of seconds, "total
# detection delivery run resolved" (resolved: from healed until Alertmanager holds the alert
# resolved; "-" without an Alertmanager).
cat >"$work/sample.py" <<'PY'
import datetime, json, sys, time, urllib.request
base, auth, t0, sample, am = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1e9, int(sys.argv[4]), sys.argv[5]
name, value = auth.split(": ", 1)

def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

def get(url, headers={}):
    return json.load(urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5))

deadline = time.time() + 60
while time.time() < deadline:
    actions = get(base + "/api/v1/heal/actions", {name: value})["actions"]
    healed = [a for a in actions if a["check"] == "logging" and a["status"] == "healed"]
    if len(healed) > sample:
        a = healed[0]
        end = ts(a["updated_at"])
        start = ts(a["alert"]["starts_at"])
        created = ts(a["created_at"])
        resolved = "-"
        if am != "-":
            # Alertmanager's API lists firing alerts only: resolved once the exporter's
            # ComplianceDrift for logging is gone from it.
            while time.time() < deadline:
                if not [x for x in get(am + "/api/v2/alerts")
                        if x["labels"].get("check") == "logging"]:
                    resolved = f"{time.time() - end:.3f}"
                    break
                time.sleep(0.02)
            else:
                sys.exit("not resolved in Alertmanager within 60 s")
        print(f"{end - t0:.3f} {start - t0:.3f} {created - start:.3f} {end - created:.3f} {resolved}")
        sys.exit(0)
    time.sleep(0.02)
sys.exit("not healed within 60 s")
PY
units="$demo/host/run/demo-units/systemd-journald.service"
# drift_to_healed OUT AM_URL: SAMPLES samples into OUT; sets median_{total,detect,deliver,run,
# resolved} and max_total.
drift_to_healed() {
  local out="$1" am="$2" s t0
  : >"$out"
  # Earlier heals of logging (part 2's, when part 3 runs) are in the action list already.
  local before
  before="$(curl -s -H "$scrape_auth" "$base/api/v1/heal/actions" | python3 -c 'import json, sys
print(sum(a["check"] == "logging" and a["status"] == "healed" for a in json.load(sys.stdin)["actions"]))')"
  for ((s = 0; s < SAMPLES; s++)); do
    sleep 1.5  # past the 1s cooldown of the previous heal
    t0="$(date +%s%N)"
    printf 'failed\n' >"$units"
    python3 "$work/sample.py" "$base" "$scrape_auth" "$t0" "$((before + s))" "$am" >>"$out"
  done
  read -r median_total median_detect median_deliver median_run median_resolved <<<"$(awk '
    { for (c = 1; c <= 5; c++) v[c, NR] = $c }
    function median(c, n,   i, j, x, s) {
      if (v[c, 1] == "-") return "-"
      for (i = 1; i <= n; i++) s[i] = v[c, i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { x = s[i]; s[i] = s[j]; s[j] = x }
      return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
    }
    END { printf "%.2f %.2f %.3f %.3f %s\n", median(1, NR), median(2, NR), median(3, NR),
          median(4, NR), (v[5, 1] == "-" ? "-" : sprintf("%.2f", median(5, NR))) }
  ' "$out")"
  max_total="$(sort -n "$out" | tail -1 | cut -d' ' -f1)"
}

drift_to_healed "$work/samples-self" -
total="$median_total" detect="$median_detect" deliver="$median_deliver" run="$median_run"
self_max="$max_total"
log "drift to healed, no Alertmanager: $total s (max $self_max)"

# 3. Through a real Alertmanager: the exporter's alert source sends to it, it routes
# ComplianceDrift to the exporter's webhook as the example's heal route does (group_wait 0s).
# group_interval 1s here (the example's 1m) so that the resolved notification of one sample does
# not hold back the next; it does not change the firing path.
mkdir -p "$work/am/data"
cat >"$work/am/alertmanager.yml" <<YML
route:
  receiver: none
  group_by: [alertname, check, instance]
  routes:
    - matchers: [alertname="ComplianceDrift"]
      receiver: heal
      group_wait: 0s
      group_interval: 1s
receivers:
  - name: none
  - name: heal
    webhook_configs:
      - url: $base/api/v1/heal
        send_resolved: true
        http_config:
          basic_auth: {username: alertmanager, password_file: $work/password}
YML
"$ALERTMANAGER" --config.file="$work/am/alertmanager.yml" --storage.path="$work/am/data" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn \
  >"$work/am/alertmanager.log" 2>&1 &
_bench_pids+=("$!")
am="http://127.0.0.1:$am_port"
wait_http_200 "$am/-/ready" 30 || die "Alertmanager did not start: $(tail -5 "$work/am/alertmanager.log")"
am_version="$("$ALERTMANAGER" --version 2>&1 | awk 'NR == 1 { print $3 }')"
stop_pid "$pid"
write_config am
start
drift_to_healed "$work/samples-am" "$am"
log "drift to healed via Alertmanager: $median_total s (max $max_total), resolved +$median_resolved s"

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
  echo "**From drift to healed**, $SAMPLES times each: the demo's journal unit set to \`failed\`"
  echo "until \`restart_logging_services\` has run and the re-run check is compliant. Without an"
  echo "Alertmanager, the exporter's alert source delivers the webhook message to its own webhook;"
  echo "with one (Alertmanager $am_version, clustering off), the alert source sends the alert to"
  echo "it and it calls the webhook through a route like packaging/examples/alertmanager.yml's heal"
  echo "route (group_wait 0s: the group_wait of a route adds to \"delivery\" as it is). Resolved:"
  echo "from healed until Alertmanager's API lists the alert as no longer firing. Medians:"
  echo
  echo "| path | total | detection (check interval 1s) | delivery (alert source to webhook accepted) | runbook and verification | healed to resolved |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| own webhook | ${total} s (max ${self_max} s) | ${detect} s | ${deliver} s | ${run} s | - |"
  echo "| via Alertmanager | ${median_total} s (max ${max_total} s) | ${median_detect} s | ${median_deliver} s | ${median_run} s | ${median_resolved} s |"
} >"$section"
cat "$section"
summary "Healing: webhook p99 under load (duplicates) / /metrics p99 meanwhile" "/metrics p99 < 5 ms" \
  "${hook_p99} / ${load_p99} ms" "$(verdict "$load_p99" 0 'a < 5')"
summary "Healing: drift to healed (median, checks every 1s), own webhook / via Alertmanager" \
  "measured" "${total} s / ${median_total} s" "—"
update_results_section Healing "$section"
