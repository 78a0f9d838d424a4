#!/usr/bin/env python3
"""Slow, idle and greedy clients cannot hold up a scrape (docs/web_config.md, "Connections"):
idle connections, connections past the per-peer limit, header trickles cut off at the request
timeout, and concurrent on_scrape scrapes that all answer within their announced timeout."""

import concurrent.futures
import os
import resource
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_host_faults import ON_SCRAPE_CONFIG  # noqa: E402



def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def timed_get(port, path, source="127.0.0.1", headers=""):
    """GET over a fresh connection from `source`; (status line, seconds)."""
    start = time.monotonic()
    with connect(port, source) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
                  .encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode(), time.monotonic() - start


def refused(exporter, reason):
    return harness.sample(exporter.metrics(), "drift_exporter_http_connections_refused_total",
                          reason=reason)


class Connections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # This process holds a thousand sockets: past the usual soft limit of 1024 files.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        scope = harness.ClassScope(cls)
        root = harness.copy_fixture("mixed", harness.make_workdir(scope))
        harness.prepare_mixed(root)
        cls.exporter = harness.Exporter(scope, os.path.join(root, "config.yml")).start()
        cls.exporter.wait_ready()

    def hold(self, n, source="127.0.0.1"):
        socks = []
        for _ in range(n):
            socks.append(connect(self.exporter.port, source))
            self.addCleanup(socks[-1].close)
        return socks

    def test_idle_connections_do_not_delay_scrapes_or_health(self):
        self.hold(16)
        for path in ("/metrics", "/-/healthy"):
            status, seconds = timed_get(self.exporter.port, path)
            self.assertEqual(status, "HTTP/1.1 200 OK", path)
            self.assertLess(seconds, 0.5, path)

    def test_a_thousand_connections_from_one_peer_leave_others_served(self):
        before = refused(self.exporter, "max_connections_per_peer")
        socks = self.hold(1000, source="127.0.0.3")
        # Those past the per-peer limit (64) are closed as soon as they are accepted.
        harness.wait_for(
            lambda: refused(self.exporter, "max_connections_per_peer") - before >= 1000 - 64, 10,
            "the connections past the per-peer limit to be refused")
        for path in ("/metrics", "/-/healthy"):
            status, seconds = timed_get(self.exporter.port, path, source="127.0.0.2")
            self.assertEqual(status, "HTTP/1.1 200 OK", path)
            self.assertLess(seconds, 0.5, path)
        del socks

    def test_header_trickles_are_cut_off_at_the_request_timeout(self):
        before = refused(self.exporter, "request_timeout")
        trickles = self.hold(20, source="127.0.0.4")
        for s in trickles:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
        start = time.monotonic()
        closed = set()
        # One header line every second each; the server closes each 10 s (+ up to 1 s) after its
        # first byte, while scrapes from elsewhere go on.
        while len(closed) < len(trickles) and time.monotonic() - start < 15:
            for i, s in enumerate(trickles):
                if i in closed:
                    continue
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    closed.add(i)
            status, seconds = timed_get(self.exporter.port, "/metrics", source="127.0.0.2")
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertLess(seconds, 0.5)
            time.sleep(1)
        took = time.monotonic() - start
        self.assertEqual(len(closed), len(trickles), "trickles still open after 15 s")
        self.assertGreaterEqual(took, 9)
        self.assertGreaterEqual(refused(self.exporter, "request_timeout") - before, len(trickles))


class OnScrape(unittest.TestCase):
    def test_concurrent_scrapes_all_answer_within_their_announced_timeout(self):
        root = harness.copy_fixture("faults", harness.make_workdir(self))
        config = os.path.join(root, "on_scrape.yml")
        harness.write_file(config, ON_SCRAPE_CONFIG)
        exporter = harness.Exporter(self, config).start()
        # More scrapes than worker threads, each waiting on the hung check until its deadline;
        # time spent waiting for a worker counts against the announced 2 s.
        header = "X-Prometheus-Scrape-Timeout-Seconds: 2\r\n"
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: timed_get(exporter.port, "/metrics", headers=header),
                                    range(20)))
        for status, seconds in answers:
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertLess(seconds, 2.0)
        # Meanwhile /-/healthy answers at once.
        status, seconds = timed_get(exporter.port, "/-/healthy")
        self.assertEqual((status, seconds < 0.5), ("HTTP/1.1 200 OK", True))


if __name__ == "__main__":
    harness.main()
