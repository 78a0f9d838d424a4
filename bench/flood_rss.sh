#!/usr/bin/env bash
# Memory after an output flood: four firewall checks whose `nft` prints without end (`yes`) for
# DRIFT_BENCH_FLOOD_SECONDS (default 20; each run is cut at the 1 MiB output cap), then prints a
# short ruleset again. Reports VmRSS idle, at the end of the flood, and after recovery (the
# numbers bench/ANALYSIS.md quotes). Prints its markdown section on stdout.
#
#   bench/flood_rss.sh
#   DRIFT_BENCH_SKIP_BUILD=1 DRIFT_BENCH_BUILD_DIR=build DRIFT_BENCH_ANY_BUILD=1 bench/flood_rss.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need python3 awk sha256sum
if [[ "${DRIFT_BENCH_ANY_BUILD:-0}" == 1 ]]; then
  [[ -x "$EXPORTER" ]] || die "$EXPORTER not built"
else
  bench_build
fi

flood_secs="${DRIFT_BENCH_FLOOD_SECONDS:-20}"
bench_tmp
work="$BENCH_TMP"
mkdir -p "$work/host" "$work/bin"
ruleset='table inet filter { }'
cat >"$work/bin/nft" <<SH
#!/bin/sh
# nft -s list ruleset, or a flood while ../flood exists.
PATH=/usr/bin:/bin
[ -e "\$(dirname "\$0")/../flood" ] && exec yes '$ruleset'
echo '$ruleset'
SH
printf '#!/bin/sh\necho active\n' >"$work/bin/systemctl"  # nftables.service is active
chmod +x "$work/bin/nft" "$work/bin/systemctl"
sha="$(printf '%s\n' "$ruleset" | sha256sum | cut -d' ' -f1)"
{
  echo "host: {root: host, command_path: [bin]}"
  echo "scheduler: {interval: 1s, concurrency: 4}"
  echo "checks:"
  for i in 1 2 3 4; do
    echo "  - {name: fw$i, type: firewall, params: {ruleset_sha256: $sha}}"
  done
} >"$work/config.yml"

start_exporter "$work/config.yml" "$work/drift.log"
pid="$BENCH_PID"
wait_http_200 "http://127.0.0.1:$BENCH_PORT/-/ready" 30 || die "drift_exporter not ready"
sleep 3
idle="$(rss_kib "$pid")"
log "idle VmRSS $idle KiB; flooding for ${flood_secs}s"
touch "$work/flood"
sleep "$flood_secs"
flooded="$(rss_kib "$pid")"
rm "$work/flood"
sleep 10  # ten runs of every check with a short ruleset
after="$(rss_kib "$pid")"
peak="$(hwm_kib "$pid")"
errors="$(grep -c 'printed more than' "$work/drift.log" || true)"
log "end of flood $flooded KiB, after recovery $after KiB, peak $peak KiB"
stop_pid "$pid"

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cat <<MD
## Memory after an output flood

Four \`firewall\` checks every second whose \`nft\` prints without end for ${flood_secs} s (each
run is cut at the 1 MiB cap and reported), then a short ruleset again for 10 s.

| idle | end of flood | after recovery | peak (VmHWM) |
|---|---|---|---|
| $(mib "$idle") MiB | $(mib "$flooded") MiB | $(mib "$after") MiB | $(mib "$peak") MiB |

Reproduce: \`bench/flood_rss.sh\` ($errors flood errors logged in this run).
MD
