"""Helpers for the alerting end-to-end tests (test_alerting.py) and bench/alerting.sh: a recording
HTTP server that can also misbehave (a webhook receiver, or a fake Alertmanager answering 4xx/5xx,
hanging, or speaking TLS), a real Alertmanager (/usr/bin/prometheus-alertmanager, clustering off),
self-signed certificates, and the `alerting:` section for the exporter's config. Python 3
standard library only; everything on 127.0.0.1 in temporary folders.
"""

import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import harness

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
OPENSSL = "/usr/bin/openssl"


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # {lower-case name: value}
        self.body = body        # bytes
        self.time = time.monotonic()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Request {self.method} {self.path} {self.body[:200]!r}>"


class Recorder:
    """An HTTP(S) server on 127.0.0.1 that records every request. `respond(request)` returns
    (status, body bytes, delay seconds) for each; the default answers 200 with no body. Give
    `port` to listen on a chosen port (to come back on the same one), `tls` = (cert, key) for
    HTTPS. Stopped by the test's cleanups."""

    def __init__(self, test, respond=None, port=0, tls=None):
        self.test = test
        self.respond = respond or (lambda req: (200, b"", 0))
        self.port = port
        self.tls = tls
        self.requests = []
        self._cv = threading.Condition()
        self._server = None
        self._thread = None

    def start(self):
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self._handle()

            def do_GET(self):
                self._handle()

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path,
                              {k.lower(): v for k, v in self.headers.items()}, body)
                status, answer, delay = recorder.respond(req)
                if delay:
                    time.sleep(delay)
                with recorder._cv:
                    recorder.requests.append(req)
                    recorder._cv.notify_all()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (it timed out): fine

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.test.addCleanup(self.stop)
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path=""):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def recorded(self):
        with self._cv:
            return list(self.requests)

    def wait(self, predicate, timeout, what):
        """Waits until predicate(list of requests) is true; returns its value."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                result = predicate(list(self.requests))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"requests: {self.requests!r}")
                self._cv.wait(min(left, 0.2))


def posted_alerts(requests):
    """Every alert of every POST /…/api/v2/alerts request, flattened, in order."""
    out = []
    for r in requests:
        if r.method == "POST" and r.path.endswith("/api/v2/alerts"):
            out.extend(r.json())
    return out


def webhook_alerts(requests, alertname=None, status=None):
    """(notification status, alert) for every alert in the webhook notifications received."""
    out = []
    for r in requests:
        doc = r.json()
        for a in doc["alerts"]:
            if alertname and a["labels"].get("alertname") != alertname:
                continue
            if status and a["status"] != status:
                continue
            out.append((doc["status"], a))
    return out


class Alertmanager:
    """A real Alertmanager on 127.0.0.1 with clustering off, routing every alert (grouped by
    alertname, check, instance; group_wait and group_interval 1s) to `webhook_url`, with
    send_resolved. `extra` is appended to its configuration (e.g. inhibit_rules)."""

    def __init__(self, test, workdir, name, webhook_url, extra=""):
        self.test = test
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "data"))
        self.config = os.path.join(self.dir, "alertmanager.yml")
        harness.write_file(self.config, (
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname, check, instance]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 4h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_url}\n"
            "        send_resolved: true\n" + extra))
        self.port = None
        self.proc = None
        self._logfile = None

    def start(self, timeout=30):
        """Starts it (on the same port as before when restarted)."""
        for _ in range(3):
            if self.port is None:
                self.port = harness.free_port()
            self._logfile = open(os.path.join(self.dir, "alertmanager.log"), "ab")
            self.proc = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={self.config}",
                 f"--storage.path={os.path.join(self.dir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=self._logfile, stderr=subprocess.STDOUT,
                preexec_fn=harness._die_with_parent)
            self.test.addCleanup(self.stop)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if harness.http("GET", self.url("/-/ready"), timeout=2).status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.1)
            if self.proc.poll() is None:
                raise AssertionError(f"Alertmanager not ready within {timeout}s:\n{self.log()}")
            if "address already in use" not in self.log():
                raise AssertionError(f"Alertmanager exited with {self.proc.returncode}:\n"
                                     + self.log())
            self.port = None
        raise AssertionError("Alertmanager could not find a free port:\n" + self.log())

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        try:
            return harness.read_file(os.path.join(self.dir, "alertmanager.log"))
        except OSError:
            return ""

    def alerts(self, **filters):
        """GET /api/v2/alerts (active, silenced, inhibited and unprocessed alike)."""
        r = harness.http("GET", self.url("/api/v2/alerts"), timeout=5)
        if r.status != 200:
            raise AssertionError(f"GET /api/v2/alerts: HTTP {r.status}: {r.text}")
        return [a for a in json.loads(r.body)
                if all(a["labels"].get(k) == v for k, v in filters.items())]

    def wait_alerts(self, timeout, what, **filters):
        def found():
            try:
                return self.alerts(**filters)
            except OSError:
                return None
        return harness.wait_for(found, timeout, f"{what} in Alertmanager {self.url()}",
                                interval=0.1)

    def stop(self):
        if self.proc is not None:
            harness.terminate(self.proc)
        if self._logfile is not None:
            self._logfile.close()
            self._logfile = None


def make_cert(directory, name):
    """A self-signed certificate for 127.0.0.1 (usable as its own CA); returns (cert, key)."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
                    "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def write_config(root, alertmanagers, name="live.yml", **settings):
    """Writes root/<name>: the fixture's config.yml plus an `alerting:` section. Each
    Alertmanager is a URL or a dict of its keys; `settings` are the other alerting keys (values
    written as given, e.g. resend_interval="1s", external_labels="{env: e2e}")."""
    text = harness.read_file(os.path.join(root, "config.yml"))
    text += "alerting:\n  alertmanagers:\n"
    for am in alertmanagers:
        if isinstance(am, str):
            am = {"url": am}
        first = True
        for key, value in am.items():
            text += ("    - " if first else "      ") + f"{key}: {value}\n"
            first = False
    for key, value in settings.items():
        text += f"  {key}: {value}\n"
    path = os.path.join(root, name)
    harness.write_file(path, text)
    return path


def drift_sshd(root):
    """Makes the `sshd` check drift: the file's mode becomes 0666 (baseline 0644)."""
    os.chmod(os.path.join(root, "host", "etc", "ssh", "sshd_config"), 0o666)


def fix_sshd(root):
    os.chmod(os.path.join(root, "host", "etc", "ssh", "sshd_config"), 0o644)


def fix_vault(root):
    """Makes the `vault` check succeed: a file with the pinned content replaces the folder."""
    vault = os.path.join(root, "host", "srv", "vault")
    tmp = vault + ".new"
    harness.write_file(tmp, "sealed\n")
    for entry in os.listdir(vault):
        os.remove(os.path.join(vault, entry))
    os.rmdir(vault)
    os.rename(tmp, vault)
