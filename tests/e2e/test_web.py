#!/usr/bin/env python3
"""The web configuration end to end (issue 11): TLS with a required, verified client certificate
and basic auth, scraped by a real Prometheus; every refusal with what a client observes; the
certificate rotated under a running exporter; and TLS served with libssl.so and libcrypto.so
hidden, as on a host with only runtime packages. Certificates are made here with the openssl
command line, in a temporary folder."""

import base64
import datetime
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tls_support  # noqa: E402

OPENSSL = tls_support.OPENSSL
HTPASSWD = shutil.which("htpasswd")
USER = "prometheus"
PASSWORD = "scrape-secret"
CLIENT_SAN = "prometheus.test"
# The exporter looks at cert_file every 5 s; a change shows within one look and a scrape.
ROTATION_TIMEOUT = 7
QUERY_TIMEOUT = 60


def web_pki(folder):
    """A CA with a server certificate (SAN IP:127.0.0.1), client certificates (good, expired,
    with a SAN not allowed) and a second CA with a client certificate of its own."""
    pki = tls_support.Pki(folder)
    pki.ca("ca", "drift test CA")
    pki.ca("other_ca", "some other CA")
    pki.issue("server", "ca", tls_support.server_extensions())
    pki.issue("client", "ca", tls_support.client_extensions(CLIENT_SAN))
    pki.issue("stranger", "ca", tls_support.client_extensions("stranger.test"))
    pki.issue("foreign", "other_ca", tls_support.client_extensions(CLIENT_SAN))
    pki.expired("expired", "ca", CLIENT_SAN)
    return pki


def bcrypt_hash(user, password):
    run = subprocess.run([HTPASSWD, "-nbBC", "10", user, password], capture_output=True,
                         text=True, timeout=30, check=True)
    return run.stdout.strip().split(":", 1)[1]


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def epoch(not_after):
    return datetime.datetime.strptime(not_after, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class TlsExporter(harness.Exporter):
    """The exporter serving HTTPS: requests carry the client certificate and the password."""

    def __init__(self, test, config, pki, web_config, wrapper=(), auth=(USER, PASSWORD)):
        super().__init__(test, config, args=[f"--web.config.file={web_config}"],
                         wrapper=wrapper)
        self.pki = pki
        self.auth = auth

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def get(self, path, context=None, headers=None, timeout=10, **_):
        headers = dict(headers or {})
        if self.auth and "Authorization" not in headers:
            headers["Authorization"] = basic(*self.auth)
        req = urllib.request.Request(self.url(path), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=context or self.pki.client_context()) as resp:
                return harness.Response(resp.status, resp.headers, resp.read(), 0)
        except urllib.error.HTTPError as e:
            return harness.Response(e.code, e.headers, e.read(), 0)

    def wait_ready(self, timeout=harness.READY_TIMEOUT):
        def ready():
            try:
                return self.get("/-/ready").status == 200
            except OSError:
                return False
        harness.wait_for(ready, timeout, "/-/ready over HTTPS; log:\n" + self.log(),
                         interval=0.1)
        return self

    def metric(self, name, **labels):
        return harness.sample(self.metrics(), name, **labels)

    def peer_not_after(self):
        """The notAfter of the certificate a new connection gets."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.pki.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert()["notAfter"]

    def attempt(self, context):
        """One HTTPS request with `context`: ("handshake", error) when the client's handshake
        failed, ("request", error) when the connection failed after it, or ("answer", bytes)
        with what the server sent until it closed. A close without close_notify is an error
        (ssl.SSLEOFError), not an empty answer."""
        request = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                   f"{basic(USER, PASSWORD)}\r\nConnection: close\r\n\r\n").encode()
        chunks = []
        stage = "handshake"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1",
                                         suppress_ragged_eofs=False) as s:
                    stage = "request"
                    s.sendall(request)
                    while True:
                        data = s.recv(65536)
                        if not data:
                            break
                        chunks.append(data)
        except OSError as e:  # ssl.SSLError is one
            if chunks:
                raise AssertionError(f"the server sent {b''.join(chunks)[:200]!r} then {e!r}")
            return stage, e
        return "answer", b"".join(chunks)


def web_config_text(extra_tls="", users=""):
    return ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            + extra_tls + users)


def tls_setup(test, web_text=None):
    """A copy of the `mixed` fixture and a folder holding the shared server certificate, its key
    (0600) and web.yml (`web_text`, default TLS only), all removed after `test`. Returns the
    exporter's config path, the folder and the web config path."""
    workdir = harness.make_workdir(test)
    root = harness.copy_fixture("mixed", workdir)
    harness.prepare_mixed(root)
    folder = os.path.join(workdir, "web")
    os.makedirs(folder)
    for name in ("server.crt", "server.key"):
        shutil.copy(SHARED_PKI.path(name), folder)
    os.chmod(os.path.join(folder, "server.key"), 0o600)
    web = os.path.join(folder, "web.yml")
    harness.write_file(web, web_text or web_config_text())
    return os.path.join(root, "config.yml"), folder, web


class Secured(unittest.TestCase):
    """One exporter with RequireAndVerifyClientCert, client_allowed_sans, TLS 1.2 at least and a
    basic auth user; Prometheus scrapes it, the other tests are refused by it."""

    @classmethod
    def setUpClass(cls):
        scope = harness.ClassScope(cls)
        cls.pki = SHARED_PKI
        config, folder, web = tls_setup(scope, web_config_text(
            "  client_auth_type: RequireAndVerifyClientCert\n"
            f"  client_ca_file: {cls.pki.path('ca.crt')}\n"
            f"  client_allowed_sans: [{CLIENT_SAN}]\n  min_version: TLS12\n",
            f"basic_auth_users:\n  {USER}: {bcrypt_hash(USER, PASSWORD)}\n"))
        cls.workdir = os.path.dirname(folder)
        cls.exporter = TlsExporter(scope, config, cls.pki, web).start().wait_ready()

    def refused_by_certificate(self):
        return self.exporter.metric("drift_exporter_http_connections_refused_total",
                                    reason="client_certificate")

    def assert_handshake_refused(self, cert, what):
        """A client with `cert` (None: no certificate) gets no byte of HTTP over TLS 1.2 or 1.3,
        and each refusal counts as a client certificate refusal. Over TLS 1.2 the client's
        handshake itself fails (the server verifies before its Finished); over TLS 1.3 the
        client has finished its part when the server verifies, so the first read fails."""
        before = self.refused_by_certificate()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            stage, outcome = self.exporter.attempt(
                self.pki.client_context(cert=cert, maximum_version=version,
                                        minimum_version=version))
            self.assertIsInstance(outcome, ssl.SSLError,
                                  f"{what} over {version.name}: {stage}: {outcome!r:.200}")
            if version == ssl.TLSVersion.TLSv1_2:
                self.assertEqual(stage, "handshake", f"{what}: {outcome!r}")
        harness.wait_for(lambda: self.refused_by_certificate() >= before + 2, 5,
                         f"{what}: connections_refused_total{{reason=client_certificate}} to "
                         f"rise from {before} by 2")

    def test_prometheus_scrapes_over_tls_with_a_client_certificate_and_a_password(self):
        folder = os.path.join(self.workdir, "prometheus-secrets")
        os.makedirs(folder)
        password_file = os.path.join(folder, "password")
        harness.write_file(password_file, PASSWORD + "\n")
        target = f"127.0.0.1:{self.exporter.port}"
        prometheus = harness.Prometheus(self, self.workdir, [target])
        harness.write_file(prometheus.config, (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: drift\n"
            "    scheme: https\n"
            "    basic_auth:\n"
            f"      username: {USER}\n"
            f"      password_file: {password_file}\n"
            "    tls_config:\n"
            f"      ca_file: {self.pki.path('ca.crt')}\n"
            f"      cert_file: {self.pki.path('client.crt')}\n"
            f"      key_file: {self.pki.path('client.key')}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"))
        prometheus.start()
        try:
            harness.wait_for(lambda: prometheus.query('up{job="drift"} == 1'), QUERY_TIMEOUT,
                             "Prometheus to scrape the exporter over TLS")
            drifted = harness.wait_for(lambda: prometheus.query("drift_check_drifted"),
                                       QUERY_TIMEOUT, "drift_check_drifted through Prometheus")
            harness.wait_for(
                lambda: prometheus.query(
                    'drift_exporter_metrics_responses_total{encoding="gzip"} > 0'),
                QUERY_TIMEOUT, "a scrape that shows gzip responses sent")
        except AssertionError:
            print("Prometheus log:\n" + prometheus.log())
            print("exporter log:\n" + self.exporter.log())
            raise
        self.assertEqual({l["check"]: v for l, v in drifted}["firewall"], 1.0)
        up = prometheus.query('up{job="drift"}')
        self.assertEqual([(l["instance"], v) for l, v in up], [(target, 1.0)])

    def test_a_wrong_password_gets_401_with_a_basic_challenge(self):
        r = self.exporter.get("/metrics", headers={"Authorization": basic(USER, "wrong")})
        self.assertEqual(r.status, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Basic"),
                        r.headers.get("WWW-Authenticate"))
        self.assertNotIn(b"drift_check", r.body)

    def test_an_unknown_user_gets_401(self):
        r = self.exporter.get("/metrics", headers={"Authorization": basic("mallory", PASSWORD)})
        self.assertEqual(r.status, 401)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Basic"))

    def test_no_credentials_get_401(self):
        r = self.exporter.get("/metrics", headers={"Authorization": ""})
        self.assertEqual(r.status, 401)

    def test_the_right_password_and_certificate_get_the_metrics(self):
        r = self.exporter.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn(b"drift_check_drifted", r.body)
        # TLS 1.2 is allowed (min_version TLS12) as well as 1.3.
        tls12 = self.pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.exporter.get("/metrics", context=tls12).status, 200)

    def test_a_client_without_a_certificate_is_refused_in_the_handshake(self):
        self.assert_handshake_refused(None, "no client certificate")

    def test_a_certificate_from_another_ca_is_refused_in_the_handshake(self):
        self.assert_handshake_refused("foreign", "a certificate from another CA")

    def test_an_expired_certificate_is_refused_in_the_handshake(self):
        self.assert_handshake_refused("expired", "an expired certificate")

    def test_a_certificate_without_an_allowed_san_is_refused_in_the_handshake(self):
        self.assert_handshake_refused("stranger", "a SAN not in client_allowed_sans")

    def test_a_refused_client_certificate_gets_a_tls_alert(self):
        # docs/web_config.md: a refused client "gets a TLS alert and no HTTP at all", as from
        # Go, so that the client can say why (Prometheus: "remote error: tls: bad
        # certificate") rather than report an unexpected EOF. The client only reads: a write
        # racing the server's close could fail before the alert is read.
        for cert in (None, "foreign", "expired", "stranger"):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(cert=cert, version=version.name):
                    context = self.pki.client_context(cert=cert, maximum_version=version,
                                                      minimum_version=version)
                    with socket.create_connection(("127.0.0.1", self.exporter.port),
                                                  timeout=10) as raw:
                        with self.assertRaises(ssl.SSLError) as refused:
                            with context.wrap_socket(raw, server_hostname="127.0.0.1",
                                                     suppress_ragged_eofs=False) as s:
                                s.recv(1)
                    self.assertIn("ALERT", refused.exception.reason or "",
                                  repr(refused.exception))

    def test_tls_1_1_never_completes_a_handshake(self):
        with warnings.catch_warnings():  # TLSv1_1 is deprecated in ssl: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = self.pki.client_context(minimum_version=ssl.TLSVersion.TLSv1_1,
                                          maximum_version=ssl.TLSVersion.TLSv1_1)
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        stage, outcome = self.exporter.attempt(ctx)
        self.assertEqual(stage, "handshake", f"a TLS 1.1 client got {outcome!r:.200}")
        self.assertIsInstance(outcome, ssl.SSLError)
        if "NO_PROTOCOLS_AVAILABLE" not in str(outcome).upper().replace(" ", "_"):
            return  # the server refused it
        # The local OpenSSL policy would not even offer TLS 1.1: ask with openssl s_client at
        # security level 0, which sends a TLS 1.1 ClientHello.
        run = subprocess.run(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{self.exporter.port}", "-tls1_1",
             "-cipher", "DEFAULT@SECLEVEL=0", "-cert", self.pki.path("client.crt"), "-key",
             self.pki.path("client.key"), "-CAfile", self.pki.path("ca.crt")],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        output = run.stdout + run.stderr
        self.assertNotEqual(run.returncode, 0, output)
        self.assertIn("Cipher is (NONE)", output)
        self.assertNotIn("Protocol  : TLSv1.1", output)

    def test_plain_http_to_the_tls_port_gets_no_http_answer(self):
        try:
            answer = harness.raw_request(
                self.exporter.port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    b"Connection: close\r\n\r\n", timeout=10)
        except OSError:
            return  # reset: no answer at all
        self.assertFalse(answer.startswith(b"HTTP/"), answer[:200])
        self.assertNotIn(b"drift_check", answer)


class BadWebConfig(unittest.TestCase):
    """Web configurations the exporter refuses to start with: exit 2 and the message."""

    @classmethod
    def setUpClass(cls):
        cls.config, cls.dir, _ = tls_setup(harness.ClassScope(cls))

    def start(self, web):
        return harness.run_cli(f"--config.file={self.config}",
                               "--web.listen-address=127.0.0.1:0", f"--web.config.file={web}",
                               timeout=30)

    def test_a_key_readable_by_others_stops_the_exporter_with_the_chmod_to_run(self):
        key = os.path.join(self.dir, "open.key")
        shutil.copy(os.path.join(self.dir, "server.key"), key)
        os.chmod(key, 0o644)
        web = os.path.join(self.dir, "open.yml")
        harness.write_file(web, "tls_server_config:\n  cert_file: server.crt\n"
                                "  key_file: open.key\n")
        run = self.start(web)
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertEqual(run.stderr, f"{web}:3:13: tls_server_config.key_file: key_file {key} is "
                                     f"readable by its group or others (mode 0644); run `chmod "
                                     f"600 {key}`\n")

    def test_a_hash_that_is_not_bcrypt_stops_the_exporter_with_its_position(self):
        web = os.path.join(self.dir, "md5.yml")
        harness.write_file(web, web_config_text(
            "", f"basic_auth_users:\n  {USER}: $1$abcdefgh$0123456789012345678901\n"))
        run = self.start(web)
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertEqual(run.stderr, f"{web}:5:15: basic_auth_users.{USER}: expected a bcrypt "
                                     "hash ($2y$10$ and 53 more characters), as `htpasswd -nBC "
                                     "10 \"\" | tr -d ':\\n'` prints it\n")


class Rotation(unittest.TestCase):
    """cert_file replaced under a running exporter: a broken file keeps the old pair served and
    says so; a good one is served to new connections."""

    def test_a_broken_certificate_keeps_the_old_one_and_a_good_one_replaces_it(self):
        pki = SHARED_PKI
        config, folder, web = tls_setup(self)
        exporter = TlsExporter(self, config, pki, web, auth=None).start().wait_ready()
        old = pki.not_after("server")
        self.assertEqual(exporter.peer_not_after(), old)
        self.assertEqual(exporter.metric("drift_exporter_tls_certificate_last_reload_successful"),
                         1)
        self.assertEqual(
            exporter.metric("drift_exporter_tls_certificate_not_after_timestamp_seconds"),
            epoch(old))

        cert = os.path.join(folder, "server.crt")
        harness.write_file(cert + ".new", "-----BEGIN CERTIFICATE-----\nbroken\n")
        os.replace(cert + ".new", cert)
        harness.wait_for(
            lambda: exporter.metric("drift_exporter_tls_certificate_last_reload_successful") == 0,
            ROTATION_TIMEOUT, "last_reload_successful 0 after a broken cert_file")
        exporter.wait_log(r"level=error .*TLS certificate or key changed but does not load",
                          timeout=1)
        self.assertEqual(exporter.peer_not_after(), old)

        # Same key, a certificate that lasts longer.
        pki.issue("server", "ca", tls_support.server_extensions(),
                  days=40, out="server-renewed.crt")
        new = pki.not_after("server-renewed")
        self.assertNotEqual(new, old)
        shutil.copy(pki.path("server-renewed.crt"), cert + ".new")
        os.replace(cert + ".new", cert)
        harness.wait_for(
            lambda: exporter.metric("drift_exporter_tls_certificate_last_reload_successful") == 1,
            ROTATION_TIMEOUT, "last_reload_successful 1 after a good cert_file")
        self.assertEqual(exporter.peer_not_after(), new)
        self.assertEqual(
            exporter.metric("drift_exporter_tls_certificate_not_after_timestamp_seconds"),
            epoch(new))
        exporter.wait_log(r"msg=\"?TLS certificate reloaded", timeout=1)


# Runs inside `unshare -rm` (a user and mount namespace of its own) as
# `python3 -c HIDE_OPENSSL SCRATCH EXPORTER ARGS...`: makes every library folder that has an
# unversioned libssl.so or libcrypto.so (the names a library that dlopens OpenSSL asks for) a
# folder of links to its own entries but those two, checks they are gone, then becomes the
# exporter. Bind-mounting /dev/null over them would not do: mount follows the link and hides
# libcrypto.so.3 itself, which the exporter may link. No shell: argument lists only.
HIDE_OPENSSL = r"""
import glob, os, subprocess, sys
scratch = sys.argv[1]
names = ("libssl.so", "libcrypto.so")
folders = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"]
folders += glob.glob("/usr/lib/*-linux-gnu") + glob.glob("/lib/*-linux-gnu")
done = set()
for folder in folders:
    real = os.path.realpath(folder)
    if real in done or not any(os.path.lexists(os.path.join(real, n)) for n in names):
        continue
    done.add(real)
    original = os.path.join(scratch, f"original{len(done)}")
    shadow = os.path.join(scratch, f"shadow{len(done)}")
    os.makedirs(original)
    os.makedirs(shadow)
    subprocess.run(["mount", "--bind", real, original], check=True)
    for entry in os.listdir(original):
        if entry not in names:
            os.symlink(os.path.join(original, entry), os.path.join(shadow, entry))
    subprocess.run(["mount", "--bind", shadow, real], check=True)
for folder in folders:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            sys.exit(f"hide_openssl: {path} is still there")
print("hide_openssl: hidden in " + " ".join(sorted(done)), flush=True)
os.execv(sys.argv[2], sys.argv[2:])
"""

class RuntimePackagesOnly(unittest.TestCase):
    def test_tls_is_served_with_libssl_so_and_libcrypto_so_hidden(self):
        unshare = shutil.which("unshare")
        if unshare is None:
            self.skipTest("unshare (util-linux) is not installed")
        probe = subprocess.run([unshare, "-rm", "--", "true"], capture_output=True, text=True,
                               timeout=30)
        if probe.returncode != 0:
            self.skipTest(f"user namespaces are not available here: {probe.stderr.strip()}")
        config, folder, web = tls_setup(self)
        scratch = os.path.join(folder, "libs")
        os.makedirs(scratch)
        exporter = TlsExporter(self, config, SHARED_PKI, web,
                               wrapper=[unshare, "-rm", "--", sys.executable, "-c", HIDE_OPENSSL,
                                        scratch],
                               auth=None).start()
        exporter.wait_log(r"^hide_openssl: hidden in /", timeout=1)
        exporter.wait_ready()
        r = exporter.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn(b"drift_check_drifted", r.body)
        # What served it: GnuTLS, and nothing by the hidden names.
        maps = harness.read_file(f"/proc/{exporter.proc.pid}/maps")
        self.assertRegex(maps, r"/libgnutls\.so\.\d+")
        self.assertNotRegex(maps, r"/lib(ssl|crypto)\.so\n")


SHARED_PKI = None


def setUpModule():
    global SHARED_PKI
    for tool, package in ((OPENSSL, "openssl"), (HTPASSWD, "apache2-utils")):
        if tool is None:
            raise unittest.SkipTest(f"the {package} package is not installed")
    folder = tempfile.mkdtemp(prefix="drift-e2e-pki-")
    unittest.addModuleCleanup(shutil.rmtree, folder, ignore_errors=True)
    SHARED_PKI = web_pki(folder)


if __name__ == "__main__":
    harness.main()
