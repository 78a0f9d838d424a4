# Shared helpers for the benchmark scripts; sourced, never run. Every process a script starts is
# recorded and killed on exit, every temp dir removed, every wait and load loop bounded in time.
# Progress goes to stderr; a script's stdout is its markdown section for bench/RESULTS.md.
#
# Environment:
#   DRIFT_BENCH_BUILD_DIR   build tree (default <repo>/build-bench), configured Release
#   DRIFT_BENCH_SKIP_BUILD  1 = use the binaries already built (run.sh builds once, then sets it)
#   DRIFT_BENCH_LOAD_WAIT   seconds to wait for a quiet machine before each benchmark (default 180)
#   DRIFT_BENCH_SUMMARY     file to which each benchmark appends its summary table rows

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
BUILD_DIR="${DRIFT_BENCH_BUILD_DIR:-$REPO/build-bench}"
EXPORTER="$BUILD_DIR/drift_exporter"
NODE_EXPORTER="${DRIFT_BENCH_NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}"

_bench_pids=()
_bench_tmps=()

log() { echo "[bench] $*" >&2; }
die() {
  echo "[bench] error: $*" >&2
  exit 1
}

bench_cleanup() {
  local pid i
  for pid in "${_bench_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_bench_pids[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  _bench_pids=()
  local d
  for d in "${_bench_tmps[@]}"; do
    rm -rf -- "$d"
  done
  _bench_tmps=()
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_need() {
  local t missing=()
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    die "missing ${missing[*]}; install with packaging/deps.sh --test"
  fi
}

# Sets BENCH_TMP to a new temp dir that is removed on exit. (A variable, not output: a dir made
# inside $(...) would be recorded in the subshell only and never removed.)
bench_tmp() {
  BENCH_TMP="$(mktemp -d /tmp/drift-bench.XXXXXX)"
  _bench_tmps+=("$BENCH_TMP")
}

# Configures and builds the Release binaries unless DRIFT_BENCH_SKIP_BUILD=1.
bench_build() {
  if [[ "${DRIFT_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building Release binaries in $BUILD_DIR"
    cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDRIFT_BUILD_TESTS=OFF \
      -DDRIFT_BUILD_BENCH=ON >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target drift_exporter drift_bench_sha256 \
      drift_bench_evidence >&2
  fi
  [[ -x "$EXPORTER" ]] || die "$EXPORTER not built"
  local type
  type="$(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD_DIR/CMakeCache.txt" | cut -d= -f2)"
  [[ "$type" == Release ]] || die "$BUILD_DIR is a $type build; benchmarks need Release"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# Percent of all CPUs busy over the next SECONDS (from /proc/stat), whoever uses them.
cpu_busy_pct() {
  local a b
  a="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)"
  sleep "$1"
  b="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2];
    printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}

# Waits (bounded by DRIFT_BENCH_LOAD_WAIT seconds, default 180) until the machine is quiet: the
# 1-minute load average below 0.5 and, with none of our processes running, under 20% of the CPUs
# busy over 2 s. The busy share matters more than the load: right after a benchmark its own load
# lingers in the average although nothing runs any more. Prints "<load> <busy %>".
bench_wait_load() {
  local limit="${DRIFT_BENCH_LOAD_WAIT:-180}" start busy
  start="$(date +%s)"
  for (( ; ; )); do
    busy="$(cpu_busy_pct 2)"
    if awk -v l="$(load1)" -v b="$busy" 'BEGIN { exit !(l < 0.5 && b < 20) }'; then break; fi
    # Our own benchmark's load decays from the average within a minute or two; accept a
    # quiet CPU once half the wait is over.
    if ((busy < 20 && $(date +%s) - start >= limit / 2)); then break; fi
    if (($(date +%s) - start >= limit)); then
      log "machine still busy after ${limit}s (load $(load1), ${busy}% CPU busy); measuring anyway"
      break
    fi
    log "waiting for a quiet machine: load $(load1), ${busy}% CPU busy"
    sleep 8
  done
  echo "$(load1) $busy"
}

# Prints a TCP port that was free a moment ago on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls URL until it answers 200, for at most SECONDS; returns 1 on timeout. An https URL is
# served with make_tls_web_config's self-signed certificate, which curl is told not to verify.
wait_http_200() {
  local url="$1" limit="$2" deadline
  deadline=$(($(date +%s%N) + limit * 1000000000))
  while (($(date +%s%N) < deadline)); do
    [[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$url")" == 200 ]] && return 0
    sleep 0.01
  done
  return 1
}

# Starts drift_exporter on CONFIG (port 0) with its log in LOG, and with the web configuration
# WEB_CONFIG if given (then it serves https); sets BENCH_PID and BENCH_PORT. Does not wait for
# /-/ready.
start_exporter() {
  local config="$1" logf="$2" web=() i
  [[ -z "${3:-}" ]] || web=(--web.config.file="$3")
  # Emptied here, not only by the redirection below: that one runs in the background job, and
  # until it does, a log reused from an earlier start still names the earlier port.
  : >"$logf"
  "$EXPORTER" --config.file="$config" --web.listen-address=127.0.0.1:0 --log.level=info \
    "${web[@]}" >"$logf" 2>&1 &
  BENCH_PID=$!
  _bench_pids+=("$BENCH_PID")
  BENCH_PORT=""
  for ((i = 0; i < 500; i++)); do
    BENCH_PORT="$(grep -o 'msg=listening .*port=[0-9]*' "$logf" 2>/dev/null | grep -o '[0-9]*$' || true)"
    [[ -n "$BENCH_PORT" ]] && return 0
    kill -0 "$BENCH_PID" 2>/dev/null || break
    sleep 0.01
  done
  cat "$logf" >&2
  die "drift_exporter did not report its port"
}

# Starts node_exporter serving only the textfile collector from DIR, with the web configuration
# WEB_CONFIG if given (then it serves https); sets BENCH_PID, BENCH_PORT.
start_node_exporter() {
  local dir="$1" logf="$2" web=() scheme=http
  if [[ -n "${3:-}" ]]; then
    web=(--web.config.file="$3")
    scheme=https
  fi
  BENCH_PORT="$(free_port)"
  "$NODE_EXPORTER" --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$dir" --web.disable-exporter-metrics \
    --web.listen-address="127.0.0.1:$BENCH_PORT" "${web[@]}" >"$logf" 2>&1 &
  BENCH_PID=$!
  _bench_pids+=("$BENCH_PID")
  if ! wait_http_200 "$scheme://127.0.0.1:$BENCH_PORT/metrics" 10; then
    cat "$logf" >&2
    die "node_exporter did not start"
  fi
}

# Stops one process this script started.
stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=() p
  for p in "${_bench_pids[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  _bench_pids=("${kept[@]}")
}

# Writes a self-signed certificate for 127.0.0.1 and localhost (RSA 2048, the common default)
# with its key (mode 0600: both servers refuse a key others may read) under DIR/tls, and
# DIR/tls/web.yml: a web configuration with only tls_server_config's cert_file and key_file, in
# the format both drift_exporter and node_exporter read. Sets BENCH_WEB_CONFIG to its path.
make_tls_web_config() {
  local dir="$1/tls"
  mkdir -p "$dir"
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
  ) || die "openssl could not make a self-signed certificate"
  chmod 0600 "$dir/server.key"
  chmod 0644 "$dir/server.crt"
  cat >"$dir/web.yml" <<EOF
# Written by bench/lib.sh make_tls_web_config: TLS with a self-signed certificate, nothing else.
tls_server_config:
  cert_file: $dir/server.crt
  key_file: $dir/server.key
EOF
  BENCH_WEB_CONFIG="$dir/web.yml"
}

# "<protocol> <cipher suite>" that an OpenSSL client (as wrk is) negotiates with 127.0.0.1:PORT.
tls_negotiated() {
  timeout 10 openssl s_client -connect "127.0.0.1:$1" </dev/null 2>/dev/null |
    awk '/^New, / { sub(/,$/, "", $2); print $2, $NF; exit }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# utime + stime of a process in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# CPU time (user+nice+system) of the whole machine so far, in clock ticks.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 }' /proc/stat; }

# Runs wrk (bounded by timeout) against URL, served by SERVER_PID, with the request header HEADER
# if given ("Accept-Encoding: gzip"), and prints
# "<requests/s> <p50 ms> <p99 ms> <requests> <errors> <others %>": errors are non-2xx responses
# plus socket errors (a request slower than 10 s is a timeout); "others" is the CPU that neither
# the server nor wrk used during the run, in % of the whole machine: other people's builds on a
# shared host. A number measured with others well above 0 is disturbed.
run_wrk() {
  local url="$1" threads="$2" conns="$3" secs="$4" server="$5" out m0 m1 p0 p1 t0 t1 header=()
  [[ -z "${6:-}" ]] || header=(-H "$6")
  m0="$(machine_ticks)"
  p0="$(cpu_ticks "$server")"
  t0="$(date +%s%N)"
  # `times` after wrk: its second line is the CPU time of this subshell's children, i.e. wrk.
  out="$(
    rc=0
    timeout $((secs + 30)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s --latency \
      "${header[@]}" "$url" || rc=$?
    times
    exit "$rc"
  )"
  t1="$(date +%s%N)"
  p1="$(cpu_ticks "$server")"
  m1="$(machine_ticks)"
  echo "$out" | awk -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" -v m=$((m1 - m0)) \
    -v p=$((p1 - p0)) -v ns=$((t1 - t0)) '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return -1
    }
    function secs(v, parts) { split(v, parts, /[ms]/); return parts[1] * 60 + parts[2] }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /requests in/ { n = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
    /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { wrk_cpu = secs($1) + secs($2) }
    END {
      others = 100 * (m / hz - p / hz - wrk_cpu) / (ns / 1e9 * cpus)
      printf "%.0f %.3f %.3f %d %d %.0f\n", rps, p50, p99, n, err, (others < 0 ? 0 : others)
    }'
}

# Creates DIR/root/data/fNNNN (N files of 64 KiB of random bytes) and DIR/config.yml with one
# `file` check per file, scheduler interval INTERVAL and concurrency 4, then pins every hash with
# the real `drift_exporter baseline capture` into DIR/baseline.yml.
make_file_checks() {
  local n="$1" dir="$2" interval="$3" i mode
  mkdir -p "$dir/root/data"
  head -c $((n * 65536)) /dev/urandom | split -b 65536 -d -a 4 - "$dir/root/data/f"
  mode="$(stat -c '%04a' "$dir/root/data/f0000")"
  {
    echo "# $n file checks over 64 KiB files; generated by bench/lib.sh make_file_checks."
    echo "host: {root: root}"
    echo "scheduler: {mode: interval, interval: $interval, concurrency: 4, timeout: 30s}"
    echo "baseline_file: baseline.yml"
    echo "checks:"
    for ((i = 0; i < n; i++)); do
      printf '  - {name: file-%04d, type: file, params: {path: /data/f%04d, mode: "%s"}}\n' \
        "$i" "$i" "$mode"
    done
  } >"$dir/config.yml"
  echo "checks: {}" >"$dir/baseline.yml"
  "$EXPORTER" baseline capture --config.file="$dir/config.yml" --out="$dir/baseline.yml" >&2
}

# Rewrites the scheduler interval of a make_file_checks config.
set_interval() {
  sed -i -E "s/^(scheduler: \{mode: interval, interval: )[^,]*,/\1$2,/" "$1"
}

# Copies the demo (packaging/examples/demo) into DIR/demo and brings its state up to now, leaving
# the repository's copy untouched; the config is then DIR/demo/config.yml.
copy_demo() {
  cp -a "$REPO/packaging/examples/demo" "$1/demo"
  "$1/demo/prepare.sh" >&2
}

# The demo's configuration copied into DIR (copy_demo), or, in a tree without the demo, six file
# checks: sets DEMO_LABEL (for tables) and DEMO_CONFIG (the config file).
demo_config() {
  if [[ -f "$REPO/packaging/examples/demo/config.yml" ]]; then
    DEMO_LABEL="demo (6 checks)"
    copy_demo "$1"
    DEMO_CONFIG="$1/demo/config.yml"
  else
    DEMO_LABEL="fixture (6 file checks)"
    make_file_checks 6 "$1" 15s
    DEMO_CONFIG="$1/config.yml"
  fi
}

# Writes the text of URL's /metrics, minus process_* families, as DIR/drift.prom for node_exporter.
metrics_to_textfile() {
  local url="$1" dir="$2"
  mkdir -p "$dir"
  curl -sf "$url" | grep -Ev '^(# (HELP|TYPE) )?process_' >"$dir/drift.prom.tmp"
  mv "$dir/drift.prom.tmp" "$dir/drift.prom"
}

# Appends a summary row "| benchmark | target | measured | verdict |" for run.sh.
summary() {
  if [[ -n "${DRIFT_BENCH_SUMMARY:-}" ]]; then echo "| $1 | $2 | $3 | $4 |" >>"$DRIFT_BENCH_SUMMARY"; fi
}

# For a benchmark run on its own (outside bench/run.sh, which assembles RESULTS.md from every
# script's stdout): replaces the "## TITLE" section of bench/RESULTS.md with the markdown in FILE,
# or inserts it before the closing paragraph.
update_results_section() {
  local title="$1" file="$2"
  [[ -z "${DRIFT_BENCH_SUMMARY:-}" ]] || return 0
  local results="$BENCH_DIR/RESULTS.md"
  [[ -f "$results" ]] || echo "# drift_exporter benchmarks" >"$results"
  python3 - "$results" "$title" "$file" <<'PY'
import re, sys
path, title, section = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().rstrip("\n") + "\n"
text = open(path).read()
m = re.search(r"^## " + re.escape(title) + r"\n.*?(?=^## |^Where the time and memory go|\Z)", text,
              re.M | re.S)
if m:
    text = text[:m.start()] + section + "\n" + text[m.end():]
else:
    tail = re.search(r"^Where the time and memory go", text, re.M)
    at = tail.start() if tail else len(text)
    text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:]
open(path, "w").write(text)
PY
  log "updated the $title section of $results"
}

# " (disturbed: N% CPU used by others)" when any of the given "other CPU %" values is 10 or more.
disturbed() {
  local max=0 v
  for v in "$@"; do ((v > max)) && max="$v"; done
  if ((max >= 10)); then echo " (disturbed: up to ${max}% CPU used by others)"; fi
}

# "Load average (1 min) at start: X; Y% of the CPUs busy ..." for a section, from
# bench_wait_load's output.
quiet_line() {
  local l b
  read -r l b <<<"$1"
  echo "Before this benchmark: load average (1 min) $l, ${b}% of the CPUs busy over 2 s."
}

# Machine facts for a results header.
machine_line() {
  printf '%s CPUs (`nproc`), %s, kernel %s' "$(nproc)" \
    "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(uname -r)"
}

# "x.yz" = a / b, or "n/a".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# PASS when the awk condition (over a and b) holds.
verdict() { awk -v a="$1" -v b="$2" "BEGIN { print (($3) ? \"PASS\" : \"FAIL\") }"; }
