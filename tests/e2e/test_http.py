#!/usr/bin/env python3
"""The HTTP surface: methods, unknown paths, HEAD, gzip, the landing page and the check pages
(which must HTML-escape whatever a host printed); binding the listen address before anything
else."""

import gzip
import os
import re
import shutil
import socket
import subprocess
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# mixed/config.yml plus a check whose systemctl prints markup instead of a state.
WEIRD_CHECK = """\
  - name: weird
    type: av_edr
    params:
      service: weird.service
      binary: /usr/sbin/clamd
      binary_sha256: 813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46
"""
ENABLED_CHECKS = ["patches", "agent", "backups", "journal", "firewall", "disks", "swap", "weird"]


def head_and_body(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        scope = harness.ClassScope(cls)
        root = harness.copy_fixture("mixed", harness.make_workdir(scope))
        harness.prepare_mixed(root)
        config = os.path.join(root, "http.yml")
        harness.write_file(config, harness.read_file(os.path.join(root, "config.yml"))
                           + WEIRD_CHECK)
        cls.exporter = harness.Exporter(scope, config).start().wait_ready()

    def test_metrics(self):
        r = self.exporter.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn("\ndrift_check_success{check=\"weird\"} 0\n", r.text)

    def test_metrics_are_gzipped_for_a_request_that_accepts_it(self):
        # The gzip body must inflate to the text of the same render; a render between the two
        # requests (ages and timestamps move) makes them differ, so take a few pairs.
        for _ in range(10):
            packed = self.exporter.get("/metrics", headers={"Accept-Encoding": "gzip"})
            plain = self.exporter.get("/metrics", headers={"Accept-Encoding": "identity"})
            self.assertEqual(packed.status, 200)
            self.assertEqual(packed.headers.get("Content-Encoding"), "gzip")
            self.assertEqual(packed.headers.get("Vary"), "Accept-Encoding")
            self.assertEqual(packed.headers.get("Content-Type"),
                             "text/plain; version=0.0.4; charset=utf-8")
            self.assertEqual(int(packed.headers["Content-Length"]), len(packed.body))
            if gzip.decompress(packed.body) == plain.body:
                break
        else:
            self.fail("no gzip body inflated to the text served right after it")
        self.assertIsNone(plain.headers.get("Content-Encoding"))
        self.assertLess(len(packed.body), len(plain.body) / 2)

    def test_metrics_are_text_unless_gzip_is_accepted(self):
        cases = {
            None: "no Accept-Encoding at all",
            "identity": "identity asked for",
            "gzip;q=0": "gzip refused",
            "deflate, br": "only codings the exporter does not have",
            "gzip;q=0.5, identity": "identity preferred",
            "gzip;q=high": "a malformed weight is ignored",
            # Nothing acceptable: the text anyway (as promhttp answers), not 406.
            "identity;q=0": "identity refused, gzip not named",
            "*;q=0": "everything refused",
        }
        for accept, why in cases.items():
            with self.subTest(accept=accept, why=why):
                header = b"" if accept is None else f"Accept-Encoding: {accept}\r\n".encode()
                status, headers, body = head_and_body(harness.raw_request(
                    self.exporter.port,
                    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header
                    + b"Connection: close\r\n\r\n"))
                self.assertEqual(status, "HTTP/1.1 200 OK")
                self.assertNotIn("content-encoding", headers)
                self.assertEqual(headers.get("vary"), "Accept-Encoding")
                self.assertTrue(body.startswith(b"# HELP drift_"), body[:100])
        # Coding names and the q are case-insensitive; x-gzip is gzip.
        for accept in ("GZIP", "x-gzip", "identity;Q=0.1, gzip;q=0.2"):
            with self.subTest(accept=accept):
                r = self.exporter.get("/metrics", headers={"Accept-Encoding": accept})
                self.assertEqual(r.headers.get("Content-Encoding"), "gzip")
                self.assertTrue(gzip.decompress(r.body).startswith(b"# HELP drift_"))

    def test_post_metrics_is_405_with_allow(self):
        r = self.exporter.post("/metrics", b"x=1")
        self.assertEqual(r.status, 405)
        allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
        self.assertIn("GET", allow)
        self.assertNotIn("POST", allow)
        self.assertEqual(r.text, "method POST not allowed; use GET, HEAD\n")

    def test_other_methods_are_405(self):
        for method in ("PUT", "DELETE"):
            with self.subTest(method=method):
                r = harness.http(method, self.exporter.url("/metrics"))
                self.assertEqual(r.status, 405)
                self.assertTrue(r.headers.get("Allow"))

    def test_unknown_paths_are_404(self):
        for path in ("/nope", "/metrics/", "/metricsx", "/checks/", "/checks", "/-/"):
            with self.subTest(path=path):
                self.assertEqual(self.exporter.get(path).status, 404)

    def test_unknown_check_is_404(self):
        r = self.exporter.get("/checks/nope")
        self.assertEqual((r.status, r.text), (404, 'no check named "nope"\n'))
        # A disabled check has no page either.
        self.assertEqual(self.exporter.get("/checks/retired").status, 404)

    def test_head_metrics_has_headers_and_no_body(self):
        get = self.exporter.get("/metrics")
        raw = harness.raw_request(
            self.exporter.port,
            b"HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status, headers, body = head_and_body(raw)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, b"")
        self.assertEqual(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        # The length of the body a GET would get (give or take a changing value's digits).
        self.assertAlmostEqual(int(headers["content-length"]), len(get.body), delta=200)

    def read_response(self, sock):
        """Reads one response (head and Content-Length bytes of body) from a kept-alive socket."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, f"connection closed after {data!r}")
            data += chunk
        status, headers, body = head_and_body(data)
        while len(body) < int(headers["content-length"]):
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "connection closed inside the body")
            body += chunk
        return status, headers, body

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.exporter.port), timeout=10) as s:
            for _ in range(3):
                s.sendall(request)
                status, headers, body = self.read_response(s)
                self.assertEqual(status, "HTTP/1.1 200 OK")
                self.assertEqual(headers["connection"].lower(), "keep-alive")
                self.assertEqual(len(body), int(headers["content-length"]))
                self.assertRegex(headers["date"],
                                 r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} "
                                 r"\d\d:\d\d:\d\d GMT$")
        # An HTTP/1.0 client that asks for keep-alive (any case, amid other tokens) gets it.
        request = b"GET /-/healthy HTTP/1.0\r\nConnection: TE, Keep-Alive\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.exporter.port), timeout=10) as s:
            for _ in range(2):
                s.sendall(request)
                status, headers, body = self.read_response(s)
                self.assertEqual((status, headers["connection"].lower(), body),
                                 ("HTTP/1.1 200 OK", "keep-alive", b"Healthy\n"))

    def test_the_server_closes_when_the_client_asks_or_speaks_http_1_0(self):
        for request in (b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        b"GET /-/healthy HTTP/1.0\r\n\r\n"):
            with self.subTest(request=request):
                # raw_request returns only once the server has closed the connection.
                status, headers, body = head_and_body(
                    harness.raw_request(self.exporter.port, request))
                self.assertEqual(status, "HTTP/1.1 200 OK")
                self.assertEqual(headers["connection"].lower(), "close")
                self.assertEqual(body, b"Healthy\n")

    def test_a_scrape_is_answered_in_one_segment(self):
        # Head and body leave together: one TCP segment and one client wake-up, not one per
        # header line.
        # tcpi_segs_in (struct tcp_info, offset 140) counts the segments the client received.
        def segs_in(sock):
            return struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                                                           256), 140)[0]
        self.exporter.get("/metrics")  # a body rendered before the request below
        with socket.create_connection(("127.0.0.1", self.exporter.port), timeout=10) as s:
            before = segs_in(s)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _, body = self.read_response(s)
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertGreater(len(body), 1000)
            # The response, and at most a bare ACK of the request sent before it.
            self.assertLessEqual(segs_in(s) - before, 2)

    def test_health_and_readiness(self):
        self.assertEqual((self.exporter.get("/-/healthy").status,
                          self.exporter.get("/-/healthy").text), (200, "Healthy\n"))
        self.assertEqual((self.exporter.get("/-/ready").status,
                          self.exporter.get("/-/ready").text), (200, "Ready\n"))

    def test_landing_page_lists_every_enabled_check(self):
        r = self.exporter.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Content-Type"), "text/html; charset=utf-8")
        links = re.findall(r'<a href="/checks/([^"]+)">', r.text)
        self.assertEqual(links, ENABLED_CHECKS)
        self.assertNotIn("retired", r.text)
        for check, state in (("agent", "compliant"), ("backups", "drifted"), ("swap", "error")):
            self.assertRegex(r.text, rf'<a href="/checks/{check}">{check}</a></td><td>[a-z_]+'
                                     rf'</td><td class="{state}">{state}</td>')

    def test_pages_escape_what_the_host_printed(self):
        raw = '<script>alert("drift")</script> & more'
        escaped = "&lt;script&gt;alert(&quot;drift&quot;)&lt;/script&gt; &amp; more"
        for path in ("/checks/weird", "/"):
            with self.subTest(path=path):
                r = self.exporter.get(path)
                self.assertEqual(r.status, 200)
                self.assertIn(f"systemctl is-active weird.service printed no unit state but: "
                              f"{escaped}", r.text)
                self.assertNotIn(raw, r.text)
                self.assertNotIn("<script", r.text)

    def test_check_page_shows_findings_and_observations(self):
        r = self.exporter.get("/checks/firewall")
        self.assertEqual(r.status, 200)
        self.assertIn('<td class="drifted">drifted</td>', r.text)
        self.assertIn("<tr><td>ruleset_hash_mismatch</td>"
                      "<td>8a05e9eb2a648e795db6c0b028eda5d03ac62c9dacffd886c99bc86da12ae079</td>"
                      "<td>60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752</td>"
                      "<td>critical</td></tr>", r.text)
        self.assertIn("<tr><th>rules</th><td><code>4</code></td></tr>", r.text)
        self.assertIn("<code>hipaa:164.312(a)(1),164.312(e)(1);soc2:CC6.6</code>", r.text)

    def test_check_names_are_matched_exactly(self):
        self.assertEqual(self.exporter.get("/checks/agen").status, 404)
        self.assertEqual(self.exporter.get("/checks/agentx").status, 404)
        self.assertEqual(self.exporter.get("/checks/agent/").status, 404)
        self.assertEqual(self.exporter.get("/checks/%61gent").status, 200)


EXIT_USAGE, EXIT_STARTUP = 2, 3
DEMO = os.path.join(harness.SOURCE_DIR, "packaging", "examples", "demo")


class StartUp(unittest.TestCase):
    """The daemon binds its listen address before it loads modules or opens anything that
    writes: a port clash exits 3 and changes nothing."""

    def copy_demo(self):
        demo = os.path.join(harness.make_workdir(self), "demo")
        shutil.copytree(DEMO, demo, symlinks=True,
                        ignore=shutil.ignore_patterns("data", "journal", "backup"))
        subprocess.run([os.path.join(demo, "prepare.sh")], check=True, capture_output=True)
        return demo

    def test_a_taken_port_exits_3_before_any_evidence_is_written(self):
        demo = self.copy_demo()
        data = os.path.join(demo, "data")  # evidence store and the key made on first start
        self.assertFalse(os.path.exists(data))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            address = f"127.0.0.1:{taken.getsockname()[1]}"
            run = harness.run_cli(f"--config.file={os.path.join(demo, 'config.yml')}",
                                  f"--web.listen-address={address}", timeout=30)
        self.assertEqual(run.returncode, EXIT_STARTUP, run.stderr)
        lines = run.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertRegex(lines[0], rf"^cannot listen on {re.escape(address)}: .*"
                                   r"Address already in use")
        self.assertFalse(os.path.exists(data), "the evidence module ran before the bind")

    def test_an_invalid_listen_address_is_a_usage_error(self):
        demo = self.copy_demo()
        run = harness.run_cli(f"--config.file={os.path.join(demo, 'config.yml')}",
                              "--web.listen-address=localhost", timeout=30)
        self.assertEqual(run.returncode, EXIT_USAGE, run.stderr)
        self.assertIn("--web.listen-address: invalid listen address \"localhost\"", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(demo, "data")))


if __name__ == "__main__":
    harness.main()
