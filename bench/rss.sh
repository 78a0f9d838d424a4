#!/usr/bin/env bash
# Benchmark 2: resident memory of drift_exporter on the demo config, idle and after 60 s of
# `wrk -c16` on /metrics, then idle again with TLS on (a web configuration with a self-signed
# certificate); node_exporter (textfile collector, same metric text, same web configuration)
# under the same procedure for context. Prints its markdown section for bench/RESULTS.md on stdout.
#
#   bench/rss.sh
#   DRIFT_BENCH_RSS_SECONDS=10 bench/rss.sh   # a quick look, not for RESULTS.md
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need wrk curl openssl python3 cmake awk
[[ -x "$NODE_EXPORTER" ]] || die "$NODE_EXPORTER missing; install with packaging/deps.sh --test"
bench_build

secs="${DRIFT_BENCH_RSS_SECONDS:-60}"
load="$(bench_wait_load)"
log "rss: load $load"

bench_tmp
work="$BENCH_TMP"
demo_config "$work"
label="$DEMO_LABEL"
config="$DEMO_CONFIG"

# KiB of a "Name: N kB" line of /proc/PID/status (RssAnon, RssFile) or smaps_rollup (Pss).
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/$3"; }

# idle_state PID -> "<VmRSS KiB> <RssAnon KiB> <RssFile KiB> <Pss KiB>", 1 s after the call (the
# server answered its readiness check a moment before).
idle_state() {
  local pid="$1"
  sleep 1  # let start-up allocations settle
  echo "$(rss_kib "$pid") $(proc_kib "$pid" RssAnon status) $(proc_kib "$pid" RssFile status)" \
    "$(proc_kib "$pid" Pss smaps_rollup)"
}

# measure PID URL -> "<idle KiB> <after KiB> <peak KiB> <requests/s> <other CPU %>
#   <idle RssAnon KiB> <idle RssFile KiB> <idle Pss KiB>"
measure() {
  local pid="$1" url="$2" idle anon file pss after peak rps oth
  read -r idle anon file pss <<<"$(idle_state "$pid")"
  log "idle VmRSS ${idle} KiB (RssAnon $anon, RssFile $file, Pss $pss); wrk -t2 -c16 -d${secs}s"
  read -r rps _ _ _ _ oth <<<"$(run_wrk "$url" 2 16 "$secs" "$pid")"
  after="$(rss_kib "$pid")"
  peak="$(hwm_kib "$pid")"
  echo "$idle $after $peak $rps $oth $anon $file $pss"
}

start_exporter "$config" "$work/drift.log"
pid="$BENCH_PID"
port="$BENCH_PORT"
wait_http_200 "http://127.0.0.1:$port/-/ready" 30 || die "drift_exporter not ready"
metrics_to_textfile "http://127.0.0.1:$port/metrics" "$work/textfile"
log "drift_exporter pid $pid"
read -r o_idle o_after o_peak o_rps o_oth o_anon o_file o_pss <<<"$(measure "$pid" "http://127.0.0.1:$port/metrics")"
stop_pid "$pid"

start_node_exporter "$work/textfile" "$work/node.log"
pid="$BENCH_PID"
log "node_exporter pid $pid"
read -r n_idle n_after n_peak n_rps n_oth n_anon n_file n_pss <<<"$(measure "$pid" "http://127.0.0.1:$BENCH_PORT/metrics")"
stop_pid "$pid"

# Idle with TLS on: the certificate and key loaded, GnuTLS (drift_exporter) or crypto/tls
# (node_exporter) initialised, handshakes served (the readiness check, then openssl s_client).
make_tls_web_config "$work"
start_exporter "$config" "$work/drift-tls.log" "$BENCH_WEB_CONFIG"
pid="$BENCH_PID"
wait_http_200 "https://127.0.0.1:$BENCH_PORT/-/ready" 30 || die "drift_exporter not ready over TLS"
[[ -n "$(tls_negotiated "$BENCH_PORT")" ]] || die "drift_exporter did not complete a TLS handshake"
read -r ot_idle ot_anon ot_file ot_pss <<<"$(idle_state "$pid")"
log "drift_exporter with TLS: idle VmRSS ${ot_idle} KiB"
stop_pid "$pid"

start_node_exporter "$work/textfile" "$work/node-tls.log" "$BENCH_WEB_CONFIG"
pid="$BENCH_PID"
[[ -n "$(tls_negotiated "$BENCH_PORT")" ]] || die "node_exporter did not complete a TLS handshake"
read -r nt_idle nt_anon nt_file nt_pss <<<"$(idle_state "$pid")"
log "node_exporter with TLS: idle VmRSS ${nt_idle} KiB"
stop_pid "$pid"

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
o_growth=$((o_after - o_idle))
n_growth=$((n_after - n_idle))
summary "2. idle RSS, $label" "< 10 MiB" "$(mib "$o_idle") MiB (node_exporter $(mib "$n_idle"))" \
  "$(verdict "$o_idle" 0 'a < 10240')"
summary "2. idle RSS with TLS on, $label" "(none)" \
  "$(mib "$ot_idle") MiB (without TLS $(mib "$o_idle"); node_exporter with TLS $(mib "$nt_idle"))" "-"
summary "2. RSS growth after ${secs} s of wrk -c16" "< 2 MiB" "$(mib "$o_growth") MiB" \
  "$(verdict "$o_growth" 0 'a < 2048')"

cat <<EOF
## 2. Resident memory (RSS)

$(quiet_line "$load") Config: $label. VmRSS from \`/proc/PID/status\` 1 s after
\`/-/ready\` answers 200 (idle), then again right after \`wrk -t2 -c16 -d${secs}s --timeout 10s\` on \`/metrics\`; peak is
VmHWM. node_exporter serves the same metric text from its textfile collector.

| server | idle MiB | after ${secs} s of load MiB | growth MiB | peak MiB | requests/s during load | other CPU % |
|---|---:|---:|---:|---:|---:|---:|
| drift_exporter | $(mib "$o_idle") | $(mib "$o_after") | $(mib "$o_growth") | $(mib "$o_peak") | $o_rps | $o_oth |
| node_exporter textfile | $(mib "$n_idle") | $(mib "$n_after") | $(mib "$n_growth") | $(mib "$n_peak") | $n_rps | $n_oth |

Idle VmRSS split into private and file-backed memory: RssAnon (heap, stacks, relocated library
data: this process's own) and RssFile (pages of the binary and its shared libraries, also
counted by every other process that maps them), both from \`/proc/PID/status\`; Pss from
\`/proc/PID/smaps_rollup\` charges each shared page in part to every process mapping it, so it
depends on what else runs on the machine.

| server | idle VmRSS MiB | RssAnon MiB | RssFile MiB | Pss MiB |
|---|---:|---:|---:|---:|
| drift_exporter | $(mib "$o_idle") | $(mib "$o_anon") | $(mib "$o_file") | $(mib "$o_pss") |
| node_exporter textfile | $(mib "$n_idle") | $(mib "$n_anon") | $(mib "$n_file") | $(mib "$n_pss") |

Idle with TLS on: each server started again with \`--web.config.file\` naming the same file,
which has only \`tls_server_config\` with \`cert_file\` and \`key_file\` (a self-signed RSA 2048
certificate made with openssl for the run, the key mode 0600); read 1 s after the readiness
check over https answers 200 and an \`openssl s_client\` handshake completes, so the TLS
library has loaded the pair and served at least two handshakes. No target; the idle target below is
for plain HTTP.

| server | idle VmRSS MiB, TLS on | without TLS | difference MiB | RssAnon MiB | RssFile MiB | Pss MiB |
|---|---:|---:|---:|---:|---:|---:|
| drift_exporter | $(mib "$ot_idle") | $(mib "$o_idle") | $(mib $((ot_idle - o_idle))) | $(mib "$ot_anon") | $(mib "$ot_file") | $(mib "$ot_pss") |
| node_exporter textfile | $(mib "$nt_idle") | $(mib "$n_idle") | $(mib $((nt_idle - n_idle))) | $(mib "$nt_anon") | $(mib "$nt_file") | $(mib "$nt_pss") |

Targets: idle < 10 MiB: **$(verdict "$o_idle" 0 'a < 10240')** ($(mib "$o_idle") MiB);
growth < 2 MiB: **$(verdict "$o_growth" 0 'a < 2048')** ($(mib "$o_growth") MiB).
node_exporter uses $(ratio "$n_idle" "$o_idle")x our idle RSS.

Reproduce: \`bench/rss.sh\` (or \`bench/run.sh\` for everything).
EOF
