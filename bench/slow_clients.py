#!/usr/bin/env python3
"""Slow and hostile clients against an HTTP server, for bench/slow_clients.sh (which starts the
servers, waits for a quiet machine and writes the markdown section). Speaks HTTP only, so any
server can be measured the same way.

  slow_clients.py attack --port P --mode trickle|idle|body --connections N [--path PATH]
      N connections from --source (127.0.0.1) that each
        trickle: send a request line, then one header line every --interval s (2), never the
                 blank line that ends the header;
        idle:    send nothing;
        body:    send a complete POST header with Content-Length: 1000000, then one body byte
                 every --interval s.
      Whatever the server sends is read and dropped. A connection the server closes (or refuses,
      or that does not connect within 5 s) is opened again 1 s later: the attacker keeps N open for
      as long as it runs. Prints one JSON line of counters when every connection has had its first
      attempt ("ready"), and one more at SIGTERM or after --max-seconds ("final").

  slow_clients.py scrape --port P --path PATH --seconds S [--keep-alive] [--expect TEXT]
      Requests PATH from --source (127.0.0.2) at --rate per second (10), open loop (a request
      starts on time whether or not earlier ones have finished), each bounded by --timeout s (10)
      from connect to the last body byte, with the headers Prometheus sends. Without
      --keep-alive every request opens a connection and sends `Connection: close`; with it,
      requests reuse idle connections from a pool (a new one when none is idle), and a reused
      connection that fails before any byte of the answer is retried once on a new one, as Go's
      HTTP client (Prometheus) does. Success: status 200, the whole body (gzip decoded), and
      TEXT in it. Prints one JSON object.

  slow_clients.py run --port P --pid PID --server NAME --attack MODE --connections N
                      --seconds S --out FILE [--healthy-path PATH] [--post-path PATH]
      One measurement: starts the attacker (a separate process, so that its work does not delay
      the victim's clock), waits for its ramp and 2 s more, then scrapes /metrics for S s with a
      fresh connection per scrape, S/2 s with keep-alive, and PATH (if given) for S/2 s with
      fresh connections; reads the server's VmRSS, VmHWM, threads, open files and the attacker's
      connections it holds (its established sockets to --attack-source) from /proc while the
      attack still holds, and with --server-metrics-prefix the server's own samples of that
      prefix (connection counters) before and after; stops the attacker; appends one JSON line
      to FILE.

  slow_clients.py tables FILE     the markdown tables of bench/slow_clients.sh's section
  slow_clients.py summary FILE    the summary rows, one "target<TAB>measured<TAB>verdict" a line
"""

import argparse
import asyncio
import ctypes
import gzip
import http.client
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

# What Prometheus 2.x sends with every scrape (scrape/scrape.go's acceptHeader), minus the
# User-Agent version.
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
          "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
BODY_LENGTH = 1000000
CONNECT_TIMEOUT = 5.0
RECONNECT_DELAY = 1.0
# A connection the server ends this soon after it connected, having sent nothing, was turned
# away when accepted (a connection limit), not timed out.
CLOSED_AT_ONCE = 1.0
# An attacker stops ramping after this long even if some connects still hang (SYNs dropped by a
# full accept queue are retried by the kernel for minutes).
RAMP_LIMIT = 20.0
# The order of rows in the tables.
ATTACKS = ["none", "trickle", "idle", "body"]
ATTACK_TEXT = {
    "none": "no attack",
    "trickle": "header trickle",
    "idle": "idle connections",
    "body": "trickled POST body",
}
SERVERS = ["drift_exporter", "node_exporter"]


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


# --- attacker ---------------------------------------------------------------------------------


class Attacker:
    def __init__(self, args):
        self.args = args
        self.stopping = asyncio.Event()
        # open: established now; connected: established ever; closed_by_server: connections the
        # server ended (EOF, reset, or a write that failed); connect_failed: attempts refused or
        # timed out; answered: connections on which the server sent anything (an error status);
        # closed_at_once: closed by the server within CLOSED_AT_ONCE s of connecting, unanswered.
        self.counts = dict(open=0, connected=0, closed_by_server=0, connect_failed=0, answered=0,
                           first_attempts=0, closed_at_once=0)
        self.host_header = f"Host: {args.host}:{args.port}\r\n".encode()

    def head(self):
        a = self.args
        if a.mode == "trickle":
            return f"GET {a.path} HTTP/1.1\r\n".encode()
        if a.mode == "body":
            return (f"POST {a.path} HTTP/1.1\r\n".encode() + self.host_header +
                    b"Content-Type: application/octet-stream\r\n" +
                    f"Content-Length: {BODY_LENGTH}\r\n\r\n".encode())
        return b""

    async def writes(self, writer, phase):
        head = self.head()
        if head:
            writer.write(head)
            await writer.drain()
        if self.args.mode == "idle":
            await self.stopping.wait()
            return
        await asyncio.sleep(phase)
        k = 0
        while True:
            if self.args.mode == "trickle":
                line = self.host_header if k == 0 else f"X-Slow-{k}: {k}\r\n".encode()
            else:
                line = b"x"
            writer.write(line)
            await writer.drain()
            k += 1
            await asyncio.sleep(self.args.interval)

    async def reads(self, reader, answered):
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if not answered:
                answered.append(True)
                self.counts["answered"] += 1

    async def hold(self, reader, writer, phase, answered):
        """Returns when the server ends the connection (or the attack stops); appends to
        answered when the server sent anything."""
        tasks = [asyncio.create_task(self.writes(writer, phase)),
                 asyncio.create_task(self.reads(reader, answered)),
                 asyncio.create_task(self.stopping.wait())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in done:
            if not t.cancelled():
                t.exception()  # a reset or broken pipe just ends the connection
        await asyncio.gather(*pending, return_exceptions=True)

    async def one(self, index):
        # Spread the connections' writes evenly over the interval, the same way in every run.
        phase = random.Random(index).uniform(0, self.args.interval)
        first = True
        while not self.stopping.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.args.host, self.args.port,
                                            local_addr=(self.args.source, 0)), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                self.counts["connect_failed"] += 1
                if first:
                    first = False
                    self.counts["first_attempts"] += 1
                await self.pause(RECONNECT_DELAY)
                continue
            if first:
                first = False
                self.counts["first_attempts"] += 1
            self.counts["connected"] += 1
            self.counts["open"] += 1
            connected_at = time.monotonic()
            answered = []
            try:
                await self.hold(reader, writer, phase, answered)
            finally:
                self.counts["open"] -= 1
                writer.close()
            if self.stopping.is_set():
                return
            self.counts["closed_by_server"] += 1
            if not answered and time.monotonic() - connected_at < CLOSED_AT_ONCE:
                self.counts["closed_at_once"] += 1
            await self.pause(RECONNECT_DELAY)

    async def pause(self, seconds):
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.call_later(self.args.max_seconds, self.stopping.set)
        tasks = [asyncio.create_task(self.one(i)) for i in range(self.args.connections)]
        start = time.monotonic()
        while (self.counts["first_attempts"] < self.args.connections and
               time.monotonic() - start < RAMP_LIMIT and not self.stopping.is_set()):
            await asyncio.sleep(0.05)
        # Let the connects of the last moment settle into the counts.
        await asyncio.sleep(0.2)
        emit(dict(self.counts, event="ready", ramp_s=round(time.monotonic() - start, 2)))
        await self.stopping.wait()
        final = dict(self.counts, event="final")  # before the connections are closed below
        await asyncio.gather(*tasks, return_exceptions=True)
        emit(final)


# --- victim -----------------------------------------------------------------------------------


class Failure(Exception):
    pass


async def read_response(reader):
    """(status, headers, body); raises Failure or asyncio.IncompleteReadError."""
    status_line = await reader.readline()
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise Failure("bad status line")
    headers = {}
    while True:
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise asyncio.IncompleteReadError(line, None)
        line = line.rstrip(b"\r\n")
        if not line:
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise Failure("bad chunk size") from None
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
        headers["connection"] = "close"
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            raise Failure("bad gzip") from None
    return int(parts[1]), headers, body


class Victim:
    def __init__(self, args, path, keep_alive, expect):
        self.args = args
        self.path = path
        self.keep_alive = keep_alive
        self.expect = expect.encode() if expect else b""
        self.pool = []  # idle keep-alive (reader, writer) pairs
        self.new_connections = 0
        lines = [f"GET {path} HTTP/1.1", f"Host: {args.host}:{args.port}",
                 "User-Agent: Prometheus/2", f"Accept: {ACCEPT}", "Accept-Encoding: gzip",
                 f"X-Prometheus-Scrape-Timeout-Seconds: {args.timeout:g}"]
        if not keep_alive:
            lines.append("Connection: close")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def connect(self):
        self.new_connections += 1
        try:
            return await asyncio.open_connection(self.args.host, self.args.port,
                                                 local_addr=(self.args.source, 0))
        except OSError as e:
            raise Failure("connect: " + (os.strerror(e.errno) if e.errno else str(e))) from None

    async def attempt(self, conn):
        """Sends the request on conn; returns (status, headers, body). Closes conn unless it goes
        back to the pool."""
        reader, writer = conn
        pooled = False
        try:
            writer.write(self.request)
            await writer.drain()
            status, headers, body = await read_response(reader)
            if self.keep_alive and headers.get("connection", "").lower() != "close":
                self.pool.append(conn)
                pooled = True
            return status, headers, body
        finally:
            if not pooled:
                writer.close()

    async def request_once(self):
        conn = None
        while self.pool:
            conn = self.pool.pop()
            if not conn[0].at_eof() and not conn[1].is_closing():
                break
            conn[1].close()
            conn = None
        if conn is not None:
            try:
                return await self.attempt(conn)
            except (OSError, asyncio.IncompleteReadError) as e:
                # Nothing came back on a connection the server may have closed while it was idle:
                # retry on a new one, as Go's transport does for a GET.
                if isinstance(e, asyncio.IncompleteReadError) and e.partial:
                    raise
        return await self.attempt(await self.connect())

    async def one(self, results):
        start = time.perf_counter()
        try:
            status, _, body = await asyncio.wait_for(self.request_once(), self.args.timeout)
            if status != 200:
                reason = f"status {status}"
            elif self.expect and self.expect not in body:
                reason = "incomplete body"
            else:
                reason = None
        except asyncio.TimeoutError:
            reason = "timeout"
        except asyncio.IncompleteReadError:
            reason = "closed early"
        except ConnectionResetError:
            reason = "reset"
        except Failure as e:
            reason = str(e)
        except (ValueError, asyncio.LimitOverrunError):
            reason = "bad response"
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else type(e).__name__
        results.append((time.perf_counter() - start, reason))

    async def run(self, seconds):
        loop = asyncio.get_running_loop()
        results = []
        tasks = []
        start = loop.time()
        for i in range(int(round(seconds * self.args.rate))):
            delay = start + i / self.args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(results)))
        await asyncio.gather(*tasks)
        for _, writer in self.pool:
            writer.close()
        self.pool = []
        return summarize(results, self.new_connections, self.keep_alive, self.path)


def percentile(sorted_values, q):
    """Nearest-rank percentile; values are seconds, math.inf for a failure."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarize(results, new_connections, keep_alive, path):
    # A failed request ranks above every success: a percentile that lands on one is a failure.
    lat = sorted(math.inf if reason else t for t, reason in results)
    ok = [t for t, reason in results if not reason]
    reasons = {}
    for _, reason in results:
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1

    def ms(v):
        return None if v is None or v == math.inf else round(v * 1000, 1)

    return dict(path=path, keep_alive=keep_alive, sent=len(results), ok=len(ok),
                failures=reasons, new_connections=new_connections,
                p50_ms=ms(percentile(lat, 0.50)), p99_ms=ms(percentile(lat, 0.99)),
                max_ms=ms(lat[-1] if lat else None),
                max_ok_ms=ms(max(ok) if ok else None))


# --- one measurement --------------------------------------------------------------------------


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                fields[key] = int(value.split()[0])
    try:
        fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fields["fds"] = None
    return fields


def peer_connections(pid, ip):
    """Established TCP connections that process pid holds with remote address ip: the server's own
    count of the attacker's connections it accepted and keeps, whatever the attacker believes.
    None when the process's descriptors cannot be read."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    except OSError:
        return None
    # /proc/net/tcp{,6} print each 32-bit word of an address in host byte order; an IPv4 peer of
    # an IPv6 socket is ::ffff:a.b.c.d.
    v4 = "%08X" % struct.unpack("=I", socket.inet_aton(ip))[0]
    wanted = {v4, "0000000000000000" + "%08X" % struct.unpack("=I", b"\0\0\xff\xff")[0] + v4}
    established = "01"
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)  # the column names
                for line in f:
                    fields = line.split()
                    if (fields[3] == established and fields[2].partition(":")[0] in wanted and
                            fields[9] in inodes):
                        n += 1
        except OSError:
            continue  # no IPv6 on this host
    return n


def server_samples(args):
    """{series: value} of the samples on the server's --server-metrics-path whose names start
    with --server-metrics-prefix, requested from --source (not the attacker's address, whose
    connections the server may be refusing); None if that fails."""
    conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout,
                                      source_address=(args.source, 0))
    try:
        conn.request("GET", args.server_metrics_path)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.status != 200:
            return None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    samples = {}
    for line in body.splitlines():
        if line.startswith(args.server_metrics_prefix):
            series, _, value = line.rpartition(" ")
            try:
                samples[series] = float(value)
            except ValueError:
                pass
    return samples


def die_with_parent():
    # The attacker must not outlive this process if it is killed (PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def start_attacker(args):
    cmd = [sys.executable, os.path.abspath(__file__), "attack", "--host", args.host,
           "--port", str(args.port), "--source", args.attack_source, "--mode", args.attack,
           "--connections", str(args.connections), "--interval", str(args.interval),
           "--max-seconds", str(args.max_seconds)]
    if args.attack == "body":
        cmd += ["--path", args.post_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    line = proc.stdout.readline()  # "ready": bounded by RAMP_LIMIT
    if not line:
        proc.wait(10)
        raise SystemExit(f"the attacker exited with {proc.returncode} before its ramp ended")
    return proc, json.loads(line)


def stop_attacker(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    lines = [l for l in out.splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else None


def run_one(args):
    record = dict(server=args.server, attack=args.attack, connections=args.connections,
                  seconds=args.seconds, rate=args.rate, timeout=args.timeout,
                  idle=proc_status(args.pid))
    proc = None
    if args.server_metrics_prefix:
        record["samples_before"] = server_samples(args)
    try:
        if args.attack != "none":
            attack_start = time.monotonic()
            proc, ready = start_attacker(args)
            record["attacker_ready"] = ready
            log(f"{args.server}: {args.connections} x {args.attack}: {ready['open']} open after "
                f"{ready['ramp_s']} s")
            time.sleep(args.interval)  # every trickling connection has sent its first line
            record["held_start"] = peer_connections(args.pid, args.attack_source)

        def victim(path, seconds, keep_alive, expect):
            v = Victim(args, path, keep_alive, expect)
            r = asyncio.run(v.run(seconds))
            log(f"{args.server}: {path}{' keep-alive' if keep_alive else ''}: "
                f"{r['ok']}/{r['sent']} ok, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                f"max {r['max_ms']} ms {r['failures'] or ''}")
            return r

        record["fresh"] = victim(args.path, args.seconds, False, args.expect)
        record["keepalive"] = victim(args.path, args.seconds / 2, True, args.expect)
        if args.healthy_path:
            record["healthy"] = victim(args.healthy_path, args.seconds / 2, False, "")
        record["end"] = proc_status(args.pid)
        if args.attack != "none":
            record["held_end"] = peer_connections(args.pid, args.attack_source)
            record["attack_s"] = round(time.monotonic() - attack_start, 1)
        if args.server_metrics_prefix:
            record["samples_end"] = server_samples(args)
    finally:
        if proc is not None:
            record["attacker_final"] = stop_attacker(proc)
    with open(args.out, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


# --- markdown ---------------------------------------------------------------------------------


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def fmt_ms(v):
    return "fail" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def fmt_ok(r):
    return f"{r['ok']}/{r['sent']}"


def fmt_failures(r):
    if not r["failures"]:
        return ""
    text = ", ".join(f"{n} {why}" for why, n in sorted(r["failures"].items(), key=lambda x: -x[1]))
    if r["max_ok_ms"] is not None:
        text += f"; slowest success {fmt_ms(r['max_ok_ms'])} ms"
    return text


def fmt_p99(r):
    return "p99 fail" if r["p99_ms"] is None else f"p99 {fmt_ms(r['p99_ms'])} ms"


def mib(kib):
    return f"{kib / 1024:.1f}"


def row_keys(records):
    keys = {(r["attack"], r["connections"]) for r in records}
    return sorted(keys, key=lambda k: (ATTACKS.index(k[0]), k[1]))


def find(records, server, key):
    for r in records:
        if r["server"] == server and (r["attack"], r["connections"]) == key:
            return r
    return None


def attack_cell(key):
    attack, n = key
    return ATTACK_TEXT[attack] if attack == "none" else f"{n:,} x {ATTACK_TEXT[attack]}"


def victim_table(records, phase, skipped):
    out = ["| attack (from 127.0.0.1) | " +
           " | ".join(f"{s}: ok | p50 ms | p99 ms | max ms | failures" for s in SERVERS) + " |",
           "|---|" + "---:|---:|---:|---:|---|" * len(SERVERS)]
    for key in row_keys(records):
        cells = []
        for s in SERVERS:
            r = find(records, s, key)
            if r is None:
                why = skipped.get((s, key[0]), "not run")
                cells.append(f"{why} | | | | ")
                continue
            v = r[phase]
            cells.append(f"{fmt_ok(v)} | {fmt_ms(v['p50_ms'])} | {fmt_ms(v['p99_ms'])} | "
                         f"{fmt_ms(v['max_ms'])} | {fmt_failures(v)}")
        out.append(f"| {attack_cell(key)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def healthy_table(records):
    rows = [r for r in records if "healthy" in r]
    if not rows:
        return ""
    server = rows[0]["server"]
    out = [f"| attack (from 127.0.0.1) | {server} `{rows[0]['healthy']['path']}` ok | p50 ms | "
           "p99 ms | max ms | failures |", "|---|---:|---:|---:|---:|---|"]
    for key in row_keys(rows):
        r = find(rows, server, key)
        if r is None:
            continue
        v = r["healthy"]
        out.append(f"| {attack_cell(key)} | {fmt_ok(v)} | {fmt_ms(v['p50_ms'])} | "
                   f"{fmt_ms(v['p99_ms'])} | {fmt_ms(v['max_ms'])} | {fmt_failures(v)} |")
    return "\n".join(out)


def state_table(records, skipped):
    out = ["| attack (from 127.0.0.1) | " + " | ".join(
        f"{s}: VmRSS idle -> end, MiB | peak MiB | threads | open files | attackers open / "
        "closed by server / answered" for s in SERVERS) + " |",
           "|---|" + "---:|---:|---:|---:|---:|" * len(SERVERS)]
    for key in row_keys(records):
        cells = []
        for s in SERVERS:
            r = find(records, s, key)
            if r is None:
                cells.append(f"{skipped.get((s, key[0]), 'not run')} | | | | ")
                continue
            a = r.get("attacker_final")
            attackers = f"{a['open']} / {a['closed_by_server']} / {a['answered']}" if a else ""
            cells.append(f"{mib(r['idle']['VmRSS'])} -> {mib(r['end']['VmRSS'])} | "
                         f"{mib(r['end']['VmHWM'])} | {r['end']['Threads']} | "
                         f"{r['end']['fds']} | {attackers}")
        out.append(f"| {attack_cell(key)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def refusals(record):
    """{reason: connections the server refused or closed during the attack}, from the deltas of
    its *_refused_total{reason=...} counters; None without them."""
    before, end = record.get("samples_before"), record.get("samples_end")
    if not before or not end:
        return None
    out = {}
    for series, value in end.items():
        name, _, labels = series.partition("{")
        if name.endswith("_refused_total") and 'reason="' in labels:
            reason = labels.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = int(value - before.get(series, 0))
    return out


def fmt_count(v):
    return "?" if v is None else f"{v:,}"


def held_text(r):
    return f"{fmt_count(r.get('held_start'))} / {fmt_count(r.get('held_end'))}"


def connections_table(records):
    """How many of the attacker's connections each server took: its own established sockets to
    the attacker, its refusal counters (drift_exporter), and what the attacker saw."""
    out = ["| attack (from 127.0.0.1) | server | held by the server: after the ramp / at the end | "
           "refused when accepted: per-peer limit / total limit | closed unfinished (request "
           "timeout) | attacker: connects / closed at once / closed later | over s |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for key in row_keys(records):
        if key[0] == "none":
            continue
        for s in SERVERS:
            r = find(records, s, key)
            if r is None:
                continue
            why = refusals(r)
            if why is None:
                refused = timed_out = "no such limit" if s == "node_exporter" else "?"
            else:
                refused = (f"{why.get('max_connections_per_peer', 0):,} / "
                           f"{why.get('max_connections', 0):,}")
                timed_out = f"{why.get('request_timeout', 0):,}"
            a = r.get("attacker_final") or {}
            attacker = (f"{a.get('connected', 0):,} / {a.get('closed_at_once', 0):,} / "
                        f"{a.get('closed_by_server', 0) - a.get('closed_at_once', 0):,}")
            out.append(f"| {attack_cell(key)} | {s} | {held_text(r)} | {refused} | {timed_out} | "
                       f"{attacker} | {r.get('attack_s', '?')} |")
    return "\n".join(out)


def parse_skipped(values):
    """--skipped SERVER:ATTACK:REASON, repeatable."""
    skipped = {}
    for v in values or []:
        server, attack, reason = v.split(":", 2)
        skipped[(server, attack)] = reason
    return skipped


def tables(args):
    records = load(args.file)
    skipped = parse_skipped(args.skipped)
    parts = [
        "Scrapes of `/metrics` from 127.0.0.2, a new connection per scrape (`Connection: close`):",
        "", victim_table(records, "fresh", skipped), "",
        "Scrapes of `/metrics` from 127.0.0.2 over kept-alive connections:", "",
        victim_table(records, "keepalive", skipped)
    ]
    healthy = healthy_table(records)
    if healthy:
        parts += ["", "Liveness probes from 127.0.0.2, a new connection per request:", "", healthy]
    parts += ["", "The server at the end of each attack, before the attacker stopped:", "",
              state_table(records, skipped)]
    connections = connections_table(records)
    if len(connections.splitlines()) > 2:
        parts += ["", "The attacker's connections, as each server took them: \"held\" counts the "
                  "server's own established sockets to 127.0.0.1 (from `/proc`), 2 s after the "
                  "attacker's ramp and again at the end; the refusals and request timeouts are "
                  "drift_exporter's `drift_exporter_http_connections_refused_total` counted over "
                  "the attack; \"closed at once\" are connections the attacker saw closed "
                  f"unanswered within {CLOSED_AT_ONCE:g} s of connecting (turned away when "
                  "accepted), reopened 1 s later.", "", connections]
    print("\n".join(parts))


def summary(args):
    """Rows "benchmark<TAB>target<TAB>measured<TAB>verdict" for run.sh's summary table."""
    records = load(args.file)
    n = f"{args.connections:,}"
    ours = find(records, SERVERS[0], ("trickle", args.connections))
    node = find(records, SERVERS[1], ("trickle", args.connections))
    name = f"Slow clients: scrapes OK / p99 under {n} header trickles"
    target = "all / < 50 ms"
    if ours is None:
        print(f"{name}\t{target}\tnot measured\tFAIL")
    else:
        measured = []
        passed = True
        for phase, label in (("fresh", "new connection each"), ("keepalive", "keep-alive")):
            v = ours[phase]
            passed &= v["ok"] == v["sent"] and v["p99_ms"] is not None and v["p99_ms"] < 50
            measured.append(f"{label}: {fmt_ok(v)} ok, {fmt_p99(v)}")
        why = refusals(ours)
        held = f"held {fmt_count(ours.get('held_end'))} of {n} trickles"
        if why is not None:
            held += (f", {why.get('max_connections_per_peer', 0):,} refused at the per-peer limit "
                     f"in {ours.get('attack_s', '?')} s")
        measured.append(held)
        if node is not None:
            v = node["fresh"]
            measured.append(f"node_exporter {fmt_ok(v)}, {fmt_p99(v)}, "
                            f"held {fmt_count(node.get('held_end'))}")
        print(f"{name}\t{target}\t{'; '.join(measured)}\t{'PASS' if passed else 'FAIL'}")
    name = f"Slow clients: RSS under {n} header trickles"
    target = "< 20 MiB"
    if ours is None:
        print(f"{name}\t{target}\tnot measured\tFAIL")
    else:
        # "Stays under": judged on the peak (VmHWM, the process's whole life), not one reading.
        peak = ours["end"]["VmHWM"]
        measured = f"peak {mib(peak)} MiB (at the end {mib(ours['end']['VmRSS'])})"
        if node is not None:
            measured += (f"; node_exporter peak {mib(node['end']['VmHWM'])} "
                         f"(at the end {mib(node['end']['VmRSS'])})")
        print(f"{name}\t{target}\t{measured}\t{'PASS' if peak < 20 * 1024 else 'FAIL'}")


# --- command line -----------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, source):
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, required=True)
        sp.add_argument("--source", default=source, help="local address to connect from")
        sp.add_argument("--interval", type=float, default=2.0)
        sp.add_argument("--rate", type=float, default=10.0)
        sp.add_argument("--timeout", type=float, default=10.0)

    a = sub.add_parser("attack")
    common(a, "127.0.0.1")
    a.add_argument("--mode", choices=["trickle", "idle", "body"], required=True)
    a.add_argument("--connections", type=int, required=True)
    a.add_argument("--path", default="/metrics")
    a.add_argument("--max-seconds", type=float, default=600)

    s = sub.add_parser("scrape")
    common(s, "127.0.0.2")
    s.add_argument("--path", default="/metrics")
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--keep-alive", action="store_true")
    s.add_argument("--expect", default="")

    r = sub.add_parser("run")
    common(r, "127.0.0.2")
    r.add_argument("--attack-source", default="127.0.0.1")
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--server", required=True)
    r.add_argument("--attack", choices=ATTACKS, required=True)
    r.add_argument("--connections", type=int, default=0)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--path", default="/metrics")
    r.add_argument("--expect", default="")
    r.add_argument("--healthy-path", default="")
    r.add_argument("--post-path", default="")
    r.add_argument("--max-seconds", type=float, default=600)
    r.add_argument("--out", required=True)
    r.add_argument("--server-metrics-path", default="/metrics")
    r.add_argument("--server-metrics-prefix", default="",
                   help="record the server's own samples with this name prefix before and after")

    for name, fn in (("tables", tables), ("summary", summary)):
        t = sub.add_parser(name)
        t.add_argument("file")
        t.add_argument("--skipped", action="append", help="SERVER:ATTACK:REASON")
        t.add_argument("--connections", type=int, default=1000)
        t.set_defaults(fn=fn)

    args = p.parse_args()
    if args.cmd == "attack":
        asyncio.run(Attacker(args).run())
    elif args.cmd == "scrape":
        result = asyncio.run(Victim(args, args.path, args.keep_alive, args.expect).run(
            args.seconds))
        emit(result)
    elif args.cmd == "run":
        # A SIGTERM (from `timeout`) unwinds through run_one's finally, which stops the attacker.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        run_one(args)
    else:
        args.fn(args)


if __name__ == "__main__":
    main()
