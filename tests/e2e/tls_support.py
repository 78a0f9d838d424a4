"""Certificates for the end-to-end tests, made with the openssl command line: CAs, server and
client certificates signed by them, and one whose validity ended in 2020. EC P-256 keys (quick
to make), every key file mode 0600."""

import os
import shutil
import ssl
import subprocess

import harness

OPENSSL = shutil.which("openssl")


def openssl(*args, cwd):
    run = subprocess.run([OPENSSL, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{run.stderr}")
    return run.stdout


def server_extensions():
    return "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"


def client_extensions(san):
    return f"subjectAltName=DNS:{san}\nextendedKeyUsage=clientAuth\n"


class Pki:
    """A folder of CAs and certificates: <name>.crt and <name>.key."""

    def __init__(self, folder):
        self.dir = folder

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", f"{name}.key", cwd=self.dir)
        os.chmod(self.path(f"{name}.key"), 0o600)

    def ca(self, name, cn):
        self.key(name)
        openssl("req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.crt", "-days",
                "30", "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def issue(self, name, ca, extensions, days=30, out=None):
        """Signs a certificate for `name`.key (made if missing) into `out` (default name.crt)."""
        if not os.path.exists(self.path(f"{name}.key")):
            self.key(name)
        harness.write_file(self.path(f"{name}.ext"), extensions)
        openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={name}", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", str(days), "-extfile", f"{name}.ext",
                "-out", out or f"{name}.crt", cwd=self.dir)

    def expired(self, name, ca, san):
        """A client certificate signed by `ca` for `san` whose validity ended in 2020: `openssl
        x509 -req` in OpenSSL 3.0 cannot backdate, `openssl ca` can."""
        self.key(name)
        openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={name}", cwd=self.dir)
        harness.write_file(self.path("index.txt"), "")
        harness.write_file(self.path("serial"), "1000\n")
        harness.write_file(self.path("ca.cnf"), (
            "[ca]\ndefault_ca = test_ca\n"
            "[test_ca]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
            f"certificate = {ca}.crt\nprivate_key = {ca}.key\ndefault_md = sha256\n"
            "policy = any\nx509_extensions = client\nunique_subject = no\n"
            "[any]\ncommonName = supplied\n"
            f"[client]\nsubjectAltName = DNS:{san}\nextendedKeyUsage = clientAuth\n"))
        openssl("ca", "-batch", "-config", "ca.cnf", "-notext", "-startdate", "20200101000000Z",
                "-enddate", "20200102000000Z", "-in", f"{name}.csr", "-out", f"{name}.crt",
                cwd=self.dir)

    def not_after(self, name):
        """The certificate's notAfter as Python's ssl prints it in getpeercert()."""
        out = openssl("x509", "-in", f"{name}.crt", "-noout", "-enddate", cwd=self.dir)
        return out.strip().split("=", 1)[1]

    def client_context(self, cert="client", ca="ca", **versions):
        ctx = ssl.create_default_context(cafile=self.path(f"{ca}.crt"))
        if cert:
            ctx.load_cert_chain(self.path(f"{cert}.crt"), self.path(f"{cert}.key"))
        for attribute, value in versions.items():
            setattr(ctx, attribute, value)
        return ctx
