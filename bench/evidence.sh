#!/usr/bin/env bash
# Evidence benchmarks: records/s signed + fsynced vs a bare write + fsync of the same bytes;
# `evidence verify` throughput on a 100,000-record store; store size per host-year at default
# settings; a loop of kill -9 while records are written, verified after every kill.
# Prints the "## Evidence" section on stdout and, unless bench/run.sh runs it, replaces that
# section in bench/RESULTS.md.
#
#   bench/evidence.sh
#   DRIFT_BENCH_EVIDENCE_KILLS=200 bench/evidence.sh     # fewer kills (default 1000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_need cmake awk python3 minisign
KILLS="${DRIFT_BENCH_EVIDENCE_KILLS:-1000}"
RECORDS=100000
BENCH="$BUILD_DIR/drift_bench_evidence"

bench_build
[[ -x "$BENCH" ]] || die "$BENCH not built"

bench_tmp
work="$BENCH_TMP"
read -r load busy <<<"$(bench_wait_load)"
log "load $load, ${busy}% busy"

value() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# --- 1. signing + fsync overhead -----------------------------------------------------------
log "overhead: 400 records signed + fsynced vs bare write + fsync, interleaved"
"$BENCH" overhead "$work/overhead" 400 >"$work/overhead.txt"
signed_rps="$(value signed_rps "$work/overhead.txt")"
bare_rps="$(value bare_rps "$work/overhead.txt")"
ratio="$(value ratio "$work/overhead.txt")"
seal_us="$(value seal_us "$work/overhead.txt")"
batched_rps="$(value batched_rps "$work/overhead.txt")"
batched_ratio="$(value batched_ratio "$work/overhead.txt")"
fs_type="$(stat -f -c %T "$work")"

# --- 2. verify throughput --------------------------------------------------------------------
log "generating a $RECORDS-record store"
"$BENCH" generate "$work/big" "$RECORDS" >&2
verify_rate() {  # prints records/s of one `evidence verify` run; fails if it does not verify
  local out
  out="$("$EXPORTER" evidence verify --dir="$work/big/store" --public-key="$work/big/bench.pub" \
    --threads=2 "$@" 2>&1 >/dev/null)" || die "evidence verify failed on the generated store"
  echo "$out" | sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p'
}
verify_load_before="$(load1)"
rates=()
for _ in 1 2 3; do rates+=("$(verify_rate)"); done
verify_load_after="$(load1)"
verify_rps="$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)"
thorough_rps="$(verify_rate --thorough)"
one_thread_rps="$("$EXPORTER" evidence verify --dir="$work/big/store" \
  --public-key="$work/big/bench.pub" --threads=1 2>&1 >/dev/null |
  sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p')"
cold_rps="n/a (needs root)"
if [[ -w /proc/sys/vm/drop_caches ]]; then
  sync
  echo 3 >/proc/sys/vm/drop_caches
  cold_rps="$(verify_rate)"
fi
store_mib="$(du -sm "$work/big/store" | cut -f1)"

# --- 3. size per host-year -------------------------------------------------------------------
log "one host-year at default settings (6 checks)"
"$BENCH" year "$work/year" 6 >"$work/year.txt"
year_records="$(value records "$work/year.txt")"
year_att="$(value attestations "$work/year.txt")"
year_tr="$(value transitions "$work/year.txt")"
year_apparent="$(du -sb --apparent-size "$work/year/store" | cut -f1)"
year_alloc_kib="$(du -sk "$work/year/store" | cut -f1)"
avg_record="$(find "$work/year/store/records" -name '*.json' -printf '%s\n' |
  awk '{ s += $1; n++ } END { printf "%.0f", s / n }')"
avg_sig="$(find "$work/year/store/records" -name '*.minisig' -printf '%s\n' |
  awk '{ s += $1; n++ } END { printf "%.0f", s / n }')"
"$EXPORTER" evidence verify --dir="$work/year/store" --public-key="$work/year/bench.pub" \
  >/dev/null 2>&1 || die "the host-year store does not verify"

# --- 4. kill -9 loop -------------------------------------------------------------------------
log "kill -9 loop: $KILLS kills at random 1-20 ms, verify after each"
kill_dir="$work/kill"
fails=0
interrupted=0
started=$(date +%s)
for ((i = 0; i < KILLS; i++)); do
  "$BENCH" write-forever "$kill_dir" 2>/dev/null &
  pid=$!
  sleep "0.0$(printf '%02d' $((RANDOM % 20 + 1)))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [[ -d "$kill_dir/store/records" ]] || continue
  if out="$("$EXPORTER" evidence verify --dir="$kill_dir/store" \
    --public-key="$kill_dir/bench.pub" 2>/dev/null)"; then
    [[ "$out" == *"interrupted write"* ]] && interrupted=$((interrupted + 1))
  else
    fails=$((fails + 1))
    log "verify failed after kill $((i + 1)): $out"
  fi
done
kill_seconds=$(($(date +%s) - started))
final="$("$EXPORTER" evidence verify --dir="$kill_dir/store" --public-key="$kill_dir/bench.pub" \
  2>/dev/null || true)"
kill_records="$(echo "$final" | sed -n 's/^OK: \([0-9]*\) records.*/\1/p')"
kill_recoveries="$(echo "$final" | sed -n 's/.* \([0-9]*\) recoveries.*/\1/p')"

section="$work/section.md"
{
  cat <<EOF
## Evidence

\`bench/evidence.sh\` (and \`bench/evidence_bench.cc\`). Before it: load average (1 min) $load,
${busy}% of the CPUs busy. Store on $fs_type (\`$work\`).

| measure | target | measured | verdict |
|---|---|---|---|
| records/s signed + fsynced, one at a time, vs bare write + fsync of the same bytes | < 1.3x | ${ratio}x ($signed_rps vs $bare_rps records/s) | $(verdict "$ratio" 1.3 'a < b') |
| same, records queued to the writer (batches, as the daemon writes) | < 1.3x | ${batched_ratio}x ($batched_rps records/s) | $(verdict "$batched_ratio" 1.3 'a < b') |
| \`evidence verify\` on $RECORDS records, 2 threads (warm cache) | > 20,000 records/s | $verify_rps records/s | $(verdict "$verify_rps" 20000 'a > b') |
| \`evidence verify --thorough\` (both signatures, as minisign) | (none) | $thorough_rps records/s | - |
| \`evidence verify\`, 1 thread / cold cache | (none) | $one_thread_rps / $cold_rps records/s | - |
| store size per host-year, defaults, 6 checks | (none) | $((year_apparent / 1048576)) MiB of data, $((year_alloc_kib / 1024)) MiB on disk ($year_records records) | - |
| kill -9 at random 1-20 ms, verify after each | 0 failures | $fails failures in $KILLS kills | $(verdict "$fails" 0 'a == b') |

**Overhead.** 400 transition records (about ${avg_record} B of JSON each) in rounds of 25,
alternating: published through the store one at a time (canonical JSON, SHA-256 chain, two
Ed25519 signatures, both verified before publishing, temporary files with O_EXCL, the two fsyncs
run concurrently, two renames, an fsync of the day folder, a signed head at most every 100 ms), then the
same two files per record written the plain way (create, write, fsync, one file after the
other). The CPU part alone (serialise, hash, sign, verify) costs ${seal_us} µs per record.
Queued records are published in batches (one fsync round per batch), which is how the daemon's
writer thread works when records arrive together.

**Verify.** $RECORDS records ($store_mib MiB; 9 transitions to 1 attestation of 6 checks) made
by \`drift_bench_evidence generate\` (same bytes, written without fsync to save time), then
\`drift_exporter evidence verify --threads=2\`: median of three runs (load average $verify_load_before
before them, $verify_load_after after: other processes on these 2 CPUs take from the 2 threads;
the 1-thread rate times two is what 2 idle cores give). The default checks per record
the comment signature (Ed25519 over the signature and the trusted comment, which holds the
record's SHA-256), the SHA-256, the canonical JSON, seq, chain, folders and runs; \`--thorough\`
also checks the signature over BLAKE2b-512 of the file, which is what \`minisign -V\` checks
(libsodium's Ed25519 verification takes about 55 µs here, so it is the main cost).

**Size.** One simulated year: $year_att hourly attestations of 6 checks, $year_tr transitions (a
drift episode per check per week), a reload a week and a restart a month. Average record
$avg_record B, signature $avg_sig B; each file takes a 4 KiB block on ext4, so the allocation
($((year_alloc_kib / 1024)) MiB) is what to plan for: six years of retention is about
$((year_alloc_kib * 6 / 1024)) MiB per host.

**Kill -9.** \`drift_bench_evidence write-forever\` (the writer thread as the daemon runs it,
5 ms attestations and records enqueued as fast as it takes them) killed with SIGKILL after a
random 1-20 ms, $KILLS times, \`drift_exporter evidence verify\` after each ($kill_seconds s in
all): $fails failures; $interrupted kills left an interrupted write at the tail (reported, and
removed by the next start); the final store holds $kill_records records with $kill_recoveries
recovery records, one per run that followed a kill and got as far as writing.
EOF
} >"$section"
cat "$section"

summary "Evidence: signed + fsynced vs bare write + fsync, one record at a time" "< 1.3x" \
  "${ratio}x" "$(verdict "$ratio" 1.3 'a < b')"
summary "Evidence: \`evidence verify\`, $RECORDS records, 2 threads" "> 20,000 records/s" \
  "$verify_rps records/s" "$(verdict "$verify_rps" 20000 'a > b')"
summary "Evidence: kill -9 while writing, verify after each" "0 failures" \
  "$fails in $KILLS kills" "$(verdict "$fails" 0 'a == b')"
update_results_section Evidence "$section"
