"""Shared helpers for drift_exporter's end-to-end tests. Python 3 standard library only.

Everything runs on 127.0.0.1 in temporary folders: the exporter binds port 0 and the test reads
the port back from its `msg=listening ... port=N` log line; Prometheus gets a port found free by
binding port 0. Every wait has a timeout, and every process started here is stopped by the test's
cleanups (and, should the test runner itself die, by PR_SET_PDEATHSIG).

Environment (set by ctest): DRIFT_EXPORTER, the binary under test; DRIFT_SOURCE_DIR, the
repository. DRIFT_UPDATE_GOLDEN=1 rewrites golden files instead of comparing with them.
"""

import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

SOURCE_DIR = os.environ.get("DRIFT_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER = os.environ.get("DRIFT_EXPORTER") or os.path.join(SOURCE_DIR, "build", "drift_exporter")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "e2e")
GOLDEN_DIR = os.path.join(SOURCE_DIR, "tests", "e2e", "golden")
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

# What ThreadSanitizer prints for a data race, a lock-order inversion and the like (./test.sh runs
# every module against a TSan build too): in the daemon's output, it fails the test.
TSAN_WARNING = "WARNING: ThreadSanitizer"
# "address" or "thread" when the binary under test was built with that sanitizer (DRIFT_SANITIZE).
SANITIZER = os.environ.get("DRIFT_SANITIZE", "")

# How long the exporter may take to print its listening line, and to run every check once.
START_TIMEOUT = 15
READY_TIMEOUT = 30


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it when the test process dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def terminate(proc):
    """SIGTERM, then SIGKILL if the process is still there after 15 s; waits for it."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def check_sanitizer_output(what, output):
    """Raises if `output` (a drift_exporter's stdout and stderr) holds a ThreadSanitizer report."""
    if TSAN_WARNING in output:
        raise AssertionError(f"{what} reported a ThreadSanitizer warning:\n{output}")


def wait_for(predicate, timeout, what, interval=0.05):
    """Calls predicate until it returns something true and returns that; raises AssertionError
    naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for programs that cannot bind 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fixtures -------------------------------------------------------------------------------


class ClassScope:
    """Lets helpers that take a test register cleanups for a whole class instead, from
    setUpClass: they run after the class's last test (or a failed setUpClass)."""

    def __init__(self, cls):
        self.addCleanup = cls.addClassCleanup


def make_workdir(test):
    """A temporary folder removed when `test` (a unittest.TestCase or ClassScope) finishes."""
    path = tempfile.mkdtemp(prefix="drift-e2e-")
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def copy_fixture(scenario, workdir):
    """Copies tests/fixtures/e2e/<scenario> into workdir (symlinks kept as links) and returns the
    copy's path. Tests always run on a copy: checks write journal files, and mtimes matter."""
    dest = os.path.join(workdir, scenario)
    shutil.copytree(os.path.join(FIXTURES, scenario), dest, symlinks=True)
    return dest


def rfc3339(when):
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def write_backup_status(path, backup_age, restore_test_age, status="success"):
    """Writes a backup status file whose timestamps are `*_age` seconds before now."""
    now = time.time()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"last_backup": rfc3339(now - backup_age),
                   "last_restore_test": rfc3339(now - restore_test_age),
                   "status": status}, f)


def set_mtime(path, age_seconds):
    """Sets the mtime of `path` itself (not a symlink's target) to `age_seconds` ago."""
    when = time.time() - age_seconds
    os.utime(path, (when, when), follow_symlinks=False)


HOUR = 3600
DAY = 24 * HOUR


def prepare_mixed(root):
    """Makes a copy of the `mixed` fixture current: git keeps no mtimes, and backup times must be
    relative to now. The NixOS generation is an hour old; /var/lib/backup is 50 hours old (stale
    for max_age 1d), /srv/backup an hour old."""
    profiles = os.path.join(root, "host", "nix", "var", "nix", "profiles")
    set_mtime(os.path.join(profiles, "system-41-link"), 3 * DAY)
    set_mtime(os.path.join(profiles, "system-42-link"), HOUR)
    set_mtime(os.path.join(profiles, "system"), HOUR)
    write_backup_status(os.path.join(root, "host", "var", "lib", "backup", "status.json"),
                        50 * HOUR, 2 * DAY)
    write_backup_status(os.path.join(root, "host", "srv", "backup", "status.json"),
                        HOUR, 2 * DAY)


def write_file(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read_file(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- HTTP -----------------------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body        # bytes
        self.seconds = seconds  # time to the whole response

    @property
    def text(self):
        return self.body.decode("utf-8")

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def http(method, url, body=None, timeout=10, headers=None):
    """One request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return Response(resp.status, resp.headers, data, time.monotonic() - start)
    except urllib.error.HTTPError as e:
        data = e.read()
        return Response(e.code, e.headers, data, time.monotonic() - start)


def raw_request(port, request, timeout=10):
    """Sends raw request bytes over a fresh connection and returns everything the server sent
    until it closed the connection (the request should say `Connection: close`)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


# --- the exporter ---------------------------------------------------------------------------


class Exporter:
    """The drift_exporter daemon on 127.0.0.1:<port 0> (or on `listen`, e.g. 127.0.0.1 and a
    free_port(), for tests of what is derived from the address). Use start() then the request
    helpers; stop() is registered as a cleanup of the test that started it. `wrapper`: a command
    that runs the exporter (its arguments follow), e.g. one that changes its namespaces first."""

    _PORT = re.compile(r"msg=listening .*\bport=(\d+)")

    def __init__(self, test, config, args=(), listen="127.0.0.1:0", wrapper=()):
        self.test = test
        self.wrapper = list(wrapper)
        self.config = config
        self.args = list(args)
        self.listen = listen
        self.proc = None
        self.port = None
        self._lines = []
        self._cv = threading.Condition()
        self._reader = None

    def start(self):
        cmd = [*self.wrapper, EXPORTER, f"--config.file={self.config}",
               f"--web.listen-address={self.listen}", *self.args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.test.addCleanup(self.stop)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        with self._cv:
            while True:
                for line in self._lines:
                    m = self._PORT.search(line)
                    if m:
                        self.port = int(m.group(1))
                        return self
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"drift_exporter exited with {self.proc.returncode} before listening:\n"
                        + self.log())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"drift_exporter did not log its port within {START_TIMEOUT}s:\n"
                        + self.log())
                self._cv.wait(min(left, 0.2))

    def _read(self):
        for raw in self.proc.stdout:
            with self._cv:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def log(self):
        with self._cv:
            return "\n".join(self._lines)

    def wait_log(self, pattern, timeout=10):
        """Waits until a log line matches `pattern` (a regex) and returns the match."""
        regex = re.compile(pattern)

        def find():
            with self._cv:
                for line in self._lines:
                    m = regex.search(line)
                    if m:
                        return m
            return None
        return wait_for(find, timeout, f"a log line matching {pattern!r}; log so far:\n"
                        + self.log())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, **kw):
        return http("GET", self.url(path), **kw)

    def post(self, path, body=b"", **kw):
        return http("POST", self.url(path), body=body, **kw)

    def wait_ready(self, timeout=READY_TIMEOUT):
        wait_for(lambda: self.get("/-/ready").status == 200, timeout,
                 "/-/ready to answer 200; log:\n" + self.log(), interval=0.1)
        return self

    def metrics(self):
        r = self.get("/metrics")
        if r.status != 200:
            raise AssertionError(f"/metrics answered {r.status}: {r.text}")
        return r.text

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc is None:
            return
        terminate(self.proc)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.proc.stdout.close()
        check_sanitizer_output("drift_exporter", self.log())


def run_cli(*args, timeout=60, env=None):
    """Runs drift_exporter with `args` to completion; returns the CompletedProcess (text).
    `env`: variables to set on top of this process's environment."""
    run = subprocess.run([EXPORTER, *args], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=timeout, preexec_fn=_die_with_parent,
                         env={**os.environ, **env} if env else None)
    check_sanitizer_output(f"drift_exporter {' '.join(args)}", run.stderr)
    return run


# --- metrics text ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _unescape_label(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_labels(text):
    labels = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse labels {text!r} at {pos}")
        labels[m.group(1)] = _unescape_label(m.group(2))
        pos = m.end()
    return labels


def parse_samples(text):
    """The samples of a Prometheus text exposition: [(name, {label: value}, value_text)]."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"cannot parse sample line {line!r}")
        samples.append((m.group(1), parse_labels(m.group(2) or ""), m.group(3)))
    return samples


def sample(text, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`, or None if there is
    none; more than one match is an error."""
    found = [float(v) for n, l, v in parse_samples(text)
             if n == name and all(l.get(k) == want for k, want in labels.items())]
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def label_values(text, name, label):
    """The values of `label` over every sample of `name`, in exposition order."""
    return [l.get(label) for n, l, _ in parse_samples(text) if n == name]


# --- Prometheus -----------------------------------------------------------------------------


class Prometheus:
    """A real Prometheus (/usr/bin/prometheus) on 127.0.0.1 with its config and TSDB in a
    temporary folder, scraping `targets` (host:port strings) every second."""

    def __init__(self, test, workdir, targets, job="drift"):
        self.test = test
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        self.config = os.path.join(self.dir, "prometheus.yml")
        write_file(self.config, (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: {job}\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"))
        self.proc = None
        self.port = None
        self._logfile = None

    def start(self, timeout=60):
        # The free port may be taken between the probe and Prometheus' bind: try a few.
        for _ in range(3):
            self.port = free_port()
            self._logfile = open(os.path.join(self.dir, "prometheus.log"), "ab")
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config}",
                 f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=self._logfile, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
            self.test.addCleanup(self.stop)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if http("GET", self.url("/-/ready"), timeout=2).status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.2)
            if self.proc.poll() is None:
                raise AssertionError(f"Prometheus not ready within {timeout}s:\n{self.log()}")
            if "address already in use" not in self.log():
                raise AssertionError(f"Prometheus exited with {self.proc.returncode}:\n"
                                     + self.log())
        raise AssertionError("Prometheus could not find a free port:\n" + self.log())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        try:
            return read_file(os.path.join(self.dir, "prometheus.log"))
        except OSError:
            return ""

    def query(self, expr):
        """The result vector of an instant query: [({label: value}, float)]."""
        r = http("GET", self.url("/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        if r.status != 200:
            raise AssertionError(f"query {expr!r}: HTTP {r.status}: {r.text}")
        doc = json.loads(r.body)
        if doc.get("status") != "success":
            raise AssertionError(f"query {expr!r}: {doc}")
        return [(s["metric"], float(s["value"][1])) for s in doc["data"]["result"]]

    def stop(self):
        if self.proc is not None:
            terminate(self.proc)
        if self._logfile is not None:
            self._logfile.close()
            self._logfile = None


# --- running a module -----------------------------------------------------------------------


def main(needs_exporter=True):
    """Runs the calling module's tests, prints a one-line summary and exits non-zero on any
    failure or error (so ctest sees it). `needs_exporter`: DRIFT_EXPORTER must name the binary
    (tests/packaging/test_deb.py brings its own)."""
    if needs_exporter and not os.access(EXPORTER, os.X_OK):
        print(f"e2e: DRIFT_EXPORTER={EXPORTER} is not an executable", file=sys.stderr)
        sys.exit(2)
    module = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    name = os.path.splitext(os.path.basename(module.__file__))[0]
    verdict = "PASS" if result.wasSuccessful() else "FAIL"
    print(f"\n== e2e {name}: {verdict}: {result.testsRun} tests, {len(result.failures)} failed, "
          f"{len(result.errors)} errors, {len(result.skipped)} skipped, "
          f"{time.monotonic() - start:.1f}s")
    sys.exit(0 if result.wasSuccessful() else 1)
