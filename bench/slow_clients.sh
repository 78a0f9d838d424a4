#!/usr/bin/env bash
# Slow clients: scrapes of /metrics (and drift_exporter's /-/healthy) from 127.0.0.2 while N
# connections from 127.0.0.1 trickle request headers, sit idle, or trickle a POST body;
# drift_exporter on the demo config against node_exporter's textfile collector serving the same
# text. The clients are in bench/slow_clients.py, which speaks HTTP only, so the numbers compare
# whatever server the exporter is built with. Prints the "Slow clients" section on stdout and,
# unless bench/run.sh runs it, replaces (or appends) that section in bench/RESULTS.md.
# About 15 minutes (longer while a server under attack lets scrapes time out).
#
#   bench/slow_clients.sh
#   DRIFT_BENCH_SLOW_SECONDS=6 DRIFT_BENCH_SLOW_SIZES="0 64" bench/slow_clients.sh   # a quick look
#
# Environment: DRIFT_BENCH_SLOW_SECONDS (default 20: seconds of fresh-connection scrapes per
# attack; keep-alive scrapes and /-/healthy take half as long each), DRIFT_BENCH_SLOW_SIZES
# (attack sizes, default "0 16 64 1000"), DRIFT_BENCH_SLOW_POST_PATH (the POST route the body
# attack aims at, default /-/reload).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need curl python3 cmake awk
[[ -x "$NODE_EXPORTER" ]] || die "$NODE_EXPORTER missing; install with packaging/deps.sh --test"
bench_build

secs="${DRIFT_BENCH_SLOW_SECONDS:-20}"
read -r -a sizes <<<"${DRIFT_BENCH_SLOW_SIZES:-0 16 64 1000}"
post_path="${DRIFT_BENCH_SLOW_POST_PATH:-/-/reload}"
rate=10
timeout_s=10
interval=2
helper=(python3 "$BENCH_DIR/slow_clients.py")

# Each attacking connection costs a descriptor in the attacker and one in the server; the victim
# holds up to rate x timeout more while a server stalls.
max_n=0
for n in "${sizes[@]}"; do
  if ((n > max_n)); then max_n="$n"; fi
done
need=$((2 * max_n + rate * timeout_s + 256))
soft="$(ulimit -Sn)"
if [[ "$soft" != unlimited ]] && ((soft < need)); then
  hard="$(ulimit -Hn)"
  [[ "$hard" == unlimited ]] || ((hard >= need)) ||
    die "$need open files needed, the hard limit (ulimit -Hn) is $hard"
  ulimit -n "$need"
fi
python3 -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' ||
  die "cannot bind 127.0.0.2 (the scraping client's address)"

bench_tmp
work="$BENCH_TMP"
demo_config "$work"
label="$DEMO_LABEL"
config="$DEMO_CONFIG"
results="$work/results.jsonl"
: >"$results"

# start SERVER: a fresh server, ready to serve; sets BENCH_PID and BENCH_PORT.
start() {
  if [[ "$1" == drift_exporter ]]; then
    start_exporter "$config" "$work/drift.log"
    if ! wait_http_200 "http://127.0.0.1:$BENCH_PORT/-/ready" 60; then
      tail -20 "$work/drift.log" >&2
      die "drift_exporter not ready"
    fi
  else
    start_node_exporter "$work/textfile" "$work/node.log"
  fi
}

# The connection bounds drift_exporter runs with (its defaults), as its --help states them.
flag_default() {
  "$EXPORTER" --help 2>&1 | awk -v f="$1" '$1 == f && match($0, /=[0-9]+$/) {
    print substr($0, RSTART + 1) }'
}
per_peer="$(flag_default --web.max-connections-per-peer)"
max_conns="$(flag_default --web.max-connections)"
[[ -n "$per_peer" && -n "$max_conns" ]] ||
  die "drift_exporter --help names no default for --web.max-connections(-per-peer)"

# The metric text node_exporter serves, and whether drift_exporter has the POST route.
start drift_exporter
metrics_to_textfile "http://127.0.0.1:$BENCH_PORT/metrics" "$work/textfile"
post_status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d '' \
  "http://127.0.0.1:$BENCH_PORT$post_path" || true)"
stop_pid "$BENCH_PID"
skipped=(--skipped "node_exporter:body:skipped: no POST route")
body_note="drift_exporter's \`POST $post_path\` answers $post_status to an empty POST (403: the
lifecycle API is off by default). node_exporter has no POST route (every path it serves is a GET
handler), so it faces no body attack."
case "$post_status" in
  000 | 404 | 405)
    skipped+=(--skipped "drift_exporter:body:skipped: POST $post_path answers $post_status")
    body_note="\`POST $post_path\` answers $post_status, so no server faces a body attack."
    ;;
esac

attacks=()
for n in "${sizes[@]}"; do
  if ((n == 0)); then attacks+=("none 0"); fi
done
for a in trickle idle body; do
  for n in "${sizes[@]}"; do
    if ((n > 0)); then attacks+=("$a $n"); fi
  done
done

load="$(bench_wait_load)"
log "slow_clients: load $load; ${#attacks[@]} attacks, ${secs} s of scrapes each and more"
# A bound on one measurement: the attacker's ramp, the victims (each may wait one timeout past
# its end) and the stops.
limit=$((30 + interval + secs + (secs / 2) * 2 + 3 * timeout_s + 60))
started="$(date +%s)"
for entry in "${attacks[@]}"; do
  read -r attack n <<<"$entry"
  for server in drift_exporter node_exporter; do
    extra=()
    if [[ "$server" == drift_exporter ]]; then
      # Its own count of the connections it refused or timed out, read before and after.
      extra+=(--healthy-path /-/healthy --server-metrics-prefix drift_exporter_http_connections)
      [[ "$attack" != body || " ${skipped[*]} " != *"drift_exporter:body:"* ]] || continue
    else
      [[ "$attack" != body ]] || continue
    fi
    start "$server"
    log "$server: $attack x $n"
    timeout "$limit" "${helper[@]}" run --port "$BENCH_PORT" --pid "$BENCH_PID" \
      --server "$server" --attack "$attack" --connections "$n" --seconds "$secs" \
      --rate "$rate" --timeout "$timeout_s" --interval "$interval" --expect drift_ \
      --post-path "$post_path" --max-seconds "$limit" --out "$results" "${extra[@]}" ||
      die "$server: $attack x $n did not complete"
    stop_pid "$BENCH_PID"
  done
done
log "slow_clients: measured in $(($(date +%s) - started)) s"

section="$work/section.md"
{
  cat <<EOF
## Slow clients

$(quiet_line "$load") Each row is a fresh server: drift_exporter on the $label config, and
node_exporter (\`--collector.disable-defaults --collector.textfile
--web.disable-exporter-metrics\`) serving the text of drift_exporter's \`/metrics\` (process_*
families dropped) from a \`*.prom\` file; each runs alone. The attacker tries to hold N
connections from 127.0.0.1 that each send \`GET /metrics HTTP/1.1\` and then one header line every ${interval} s,
never the blank line that ends the header (header trickle); or send nothing (idle connections);
or send a whole \`POST $post_path\` header with \`Content-Length: 1000000\` and then one body
byte every ${interval} s (trickled POST body). Whatever a server answers is read; a connection it
closes is opened again 1 s later, so the attack lasts. Once the attacker's connections are open,
and ${interval} s more, a client on 127.0.0.2 requests \`/metrics\` ${rate} times a second, open
loop, each request bounded by ${timeout_s} s from connect to the last byte and sent with
Prometheus's headers (\`Accept-Encoding: gzip\`, \`X-Prometheus-Scrape-Timeout-Seconds\`):
${secs} s with a new connection per scrape (the harsh case), then $((secs / 2)) s over kept-alive
connections; then drift_exporter's \`/-/healthy\` for $((secs / 2)) s. A scrape succeeds with
status 200 and its whole body; the percentiles rank a failed request above every success, and
"fail" means the percentile lands on a failure. $body_note

drift_exporter runs with its default connection bounds: at most $per_peer connections from one
address (\`--web.max-connections-per-peer\`) and $max_conns in all (\`--web.max-connections\`), a
connection past them closed as soon as it is accepted; a request not received whole within 10 s
closed. So of N attacking connections from one address it holds at most $per_peer at a time and
turns the rest away at accept, and the attacker reconnects each of those every second: the
attack becomes a stream of connects. node_exporter has no such bound and holds all N. The last
table shows how many each server actually took.

$("${helper[@]}" tables "$results" "${skipped[@]}")

Targets (issue 11): with 1,000 connections from one peer trickling headers, scrapes from another
client all succeed with p99 under 50 ms (fresh and kept-alive connections both), and RSS stays
under 20 MiB (judged on the peak, VmHWM, over the server's life up to the end of the attack).

Reproduce: \`bench/slow_clients.sh\` (or \`bench/run.sh\` for everything).
EOF
} >"$section"
cat "$section"

if [[ " ${sizes[*]} " == *" 1000 "* ]]; then
  while IFS=$'\t' read -r name target measured verdict; do
    summary "$name" "$target" "$measured" "$verdict"
  done < <("${helper[@]}" summary "$results" --connections 1000)
fi
update_results_section "Slow clients" "$section"
