#!/usr/bin/env bash
# Benchmark 3: SHA-256 of a 1 GiB file through RootedFileSystem::HashFile (drift_bench_sha256,
# the path the file and av_edr checks take) against `openssl dgst -sha256`, best of 5 each with a
# warm page cache, both timed by hyperfine as whole processes. Prints its markdown section for
# bench/RESULTS.md on stdout.
#
#   bench/sha256.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need hyperfine openssl python3 cmake awk
bench_build
hasher="$BUILD_DIR/drift_bench_sha256"
[[ -x "$hasher" ]] || die "$hasher not built"

runs=5
load="$(bench_wait_load)"
log "sha256: load $load"

bench_tmp
work="$BENCH_TMP"
file="$work/random-1GiB"
log "writing $file"
head -c 1G /dev/urandom >"$file"
cat "$file" >/dev/null  # warm the page cache

ours_hex="$("$hasher" "$file" 1 | sed -E 's/^hex=([0-9a-f]+) .*/\1/')"
ssl_hex="$(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)"
[[ "$ours_hex" == "$ssl_hex" ]] || die "digests differ: ours $ours_hex, openssl $ssl_hex"

log "hyperfine: best of $runs each"
m0="$(machine_ticks)"
t0="$(date +%s%N)"
# `times` after hyperfine: the CPU time of everything it ran, to tell other people's load apart.
ours_cpu="$(
  hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$work/h.json" \
    -n drift "$hasher $file 1" -n openssl "openssl dgst -sha256 $file" >&2
  times  # not piped: a pipeline would run it in a fresh subshell with no children
)"
ours_cpu="$(echo "$ours_cpu" | tail -1)"
t1="$(date +%s%N)"
m1="$(machine_ticks)"
others="$(echo "$ours_cpu" | awk -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" \
  -v m=$((m1 - m0)) -v ns=$((t1 - t0)) '
  function secs(v, parts) { split(v, parts, /[ms]/); return parts[1] * 60 + parts[2] }
  { o = 100 * (m / hz - secs($1) - secs($2)) / (ns / 1e9 * cpus); printf "%.0f", (o < 0 ? 0 : o) }')"
read -r ours_s ssl_s <<<"$(python3 -c '
import json, sys
r = {x["command"]: min(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
print(r["drift"], r["openssl"])' "$work/h.json")"
# In-process timing of HashFile alone (no process start, no library loading), for reference.
inproc="$("$hasher" "$file" "$runs" | sed -E 's/.*best_seconds=([0-9.]+) gib_per_s=([0-9.]+)/\1 \2/')"
read -r inproc_s inproc_gibs <<<"$inproc"

gibs() { awk -v s="$1" 'BEGIN { printf "%.3f", 1 / s }'; }
ours_gibs="$(gibs "$ours_s")"
ssl_gibs="$(gibs "$ssl_s")"
pct="$(awk -v a="$ours_gibs" -v b="$ssl_gibs" 'BEGIN { printf "%.1f", 100 * a / b }')"
summary "3. SHA-256 of 1 GiB vs openssl dgst" ">= 85%" \
  "${pct}% ($ours_gibs vs $ssl_gibs GiB/s)$(disturbed "$others")" \
  "$(verdict "$pct" 0 'a >= 85')"

cat <<EOF
## 3. SHA-256 of a 1 GiB file

$(quiet_line "$load") A 1 GiB file of random bytes in /tmp (\`head -c 1G
/dev/urandom\`), read once first so the page cache is warm. Both commands timed by
\`hyperfine --warmup 1 --runs $runs\` as whole processes; best run reported. Both printed the same
digest. drift_bench_sha256 (bench/sha256_file.cc) hashes the file through
\`drift::checks::RootedFileSystem::HashFile\`: openat2 below a root, 256 KiB reads, OpenSSL EVP
SHA-256.

| hasher | best seconds | GiB/s |
|---|---:|---:|
| drift (\`RootedFileSystem::HashFile\`) | $(printf '%.4f' "$ours_s") | $ours_gibs |
| \`openssl dgst -sha256\` | $(printf '%.4f' "$ssl_s") | $ssl_gibs |
| drift, in-process timing of HashFile alone | $inproc_s | $inproc_gibs |

During the hyperfine runs, ${others}% of the machine's CPU went to other processes$(
  if ((others >= 10)); then echo ": disturbed"; else echo " (undisturbed)"; fi).

Ratio: drift runs at **${pct}%** of openssl's throughput. Target >= 85%:
**$(verdict "$pct" 0 'a >= 85')**.

Reproduce: \`bench/sha256.sh\` (or \`bench/run.sh\` for everything).
EOF
