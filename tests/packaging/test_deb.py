"""The Debian package, as built by packaging/deb/build.sh (which fails on any lintian error or
warning): reproducible, complete, with conffiles, a hardened unit that systemd accepts, rules
where the example Prometheus configuration looks for them, and a binary that runs on this real
Debian host with the packaged configuration, telling the admin what waits for a baseline capture.

Environment: DRIFT_DEB_DIRS, two folders with the packages of two builds of the same tree
(./test.sh's deb stage makes them); without it, the test builds twice itself.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

SOURCE = harness.SOURCE_DIR
# systemd-analyze's exposure score of the unit, at most (the bar; Debian's
# prometheus-node-exporter unit scores 9.2).
MAX_EXPOSURE = 2.0


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600, **kw).stdout


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(drift_exporter VERSION ([0-9.]+)", f.read()).group(1)


def the_deb(folder):
    debs = [p for p in glob.glob(os.path.join(folder, "drift-exporter_*.deb"))]
    assert len(debs) == 1, f"{folder}: expected one drift-exporter_*.deb, found {debs}"
    return debs[0]


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        dirs = os.environ.get("DRIFT_DEB_DIRS", "").split()
        if not dirs:
            cls._built = tempfile.mkdtemp(prefix="drift-deb-")
            dirs = [os.path.join(cls._built, n) for n in ("1", "2")]
            for i, d in enumerate(dirs):
                run(os.path.join(SOURCE, "packaging", "deb", "build.sh"), d,
                    env={**os.environ, "DRIFT_DEB_LINTIAN": "1" if i == 0 else "0"})
        assert len(dirs) == 2, "DRIFT_DEB_DIRS names two folders"
        cls.dirs = dirs
        cls.deb = the_deb(dirs[0])
        cls.root = tempfile.mkdtemp(prefix="drift-deb-root-")
        run("dpkg-deb", "-x", cls.deb, cls.root)
        cls.binary = os.path.join(cls.root, "usr", "bin", "drift_exporter")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        if hasattr(cls, "_built"):
            shutil.rmtree(cls._built, ignore_errors=True)

    def field(self, name):
        return run("dpkg-deb", "-f", self.deb, name).strip()

    # Two builds of one tree, in different folders at different times, give the same bytes.
    def test_two_builds_are_identical(self):
        names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.dirs[0], "*.deb")))
        self.assertIn(os.path.basename(self.deb), names)
        self.assertTrue(any("dbgsym" in n for n in names), names)
        for name in names:
            digests = []
            for d in self.dirs:
                with open(os.path.join(d, name), "rb") as f:
                    digests.append(hashlib.sha256(f.read()).hexdigest())
            self.assertEqual(digests[0], digests[1], f"{name} differs between the two builds")

    # One version: CMake's project(VERSION), debian/changelog's, the package's and the binary's.
    def test_version_comes_from_the_project(self):
        version = project_version()
        changelog = run("dpkg-parsechangelog", "-l",
                        os.path.join(SOURCE, "packaging", "deb", "debian", "changelog"),
                        "-S", "Version").strip()
        self.assertEqual(changelog, version)
        self.assertEqual(self.field("Version"), version)
        out = run(self.binary, "--version")
        self.assertTrue(out.startswith(f"drift_exporter {version} (revision "), out)
        self.assertNotIn("revision unknown", out)

    def test_contents_and_conffiles(self):
        listing = run("dpkg-deb", "-c", self.deb)
        entries = {}
        for line in listing.splitlines():
            parts = line.split()
            entries[parts[5].lstrip(".")] = (parts[0], parts[1])
        for path in ["/usr/bin/drift_exporter",
                     "/etc/drift_exporter/config.yml",
                     "/etc/default/drift-exporter",
                     "/lib/systemd/system/drift-exporter.service",
                     "/usr/share/drift-exporter/rules/drift.rules.yml",
                     "/usr/share/man/man1/drift_exporter.1.gz",
                     "/usr/share/doc/drift-exporter/copyright",
                     "/usr/share/doc/drift-exporter/operations.md.gz",
                     "/usr/share/doc/drift-exporter/healing.md.gz",
                     "/usr/share/doc/drift-exporter/examples/debian.yml",
                     "/usr/share/doc/drift-exporter/examples/prometheus.yml"]:
            self.assertIn(path, entries, listing)
        for path, (mode, owner) in entries.items():
            self.assertEqual(owner, "root/root", path)
            self.assertNotIn("s", mode[1:], f"{path}: no setuid/setgid file")
        self.assertEqual(entries["/usr/bin/drift_exporter"][0], "-rwxr-xr-x")
        # The configuration files are conffiles: an upgrade keeps the admin's edits.
        control = tempfile.mkdtemp(prefix="drift-deb-control-")
        self.addCleanup(shutil.rmtree, control, True)
        run("dpkg-deb", "-e", self.deb, control)
        with open(os.path.join(control, "conffiles"), encoding="utf-8") as f:
            self.assertEqual(sorted(f.read().split()),
                             ["/etc/default/drift-exporter", "/etc/drift_exporter/config.yml"])
        with open(os.path.join(control, "postinst"), encoding="utf-8") as f:
            postinst = f.read()
        # debhelper's part enables and starts the unit; ours makes the user and the polkit rule.
        self.assertIn("deb-systemd-helper", postinst)
        self.assertIn("adduser --quiet --system --group", postinst)
        self.assertIn("healing polkit-rule", postinst)
        # libcurl is loaded at run time (alerting), so shlibs cannot see it: named by hand.
        depends = self.field("Depends")
        for name in ("libcurl4", "adduser", "tzdata", "libsodium23", "libmicrohttpd12"):
            self.assertIn(name, depends)

    def test_man_page_renders(self):
        page = run("man", "--warnings", "-l",
                   os.path.join(self.root, "usr/share/man/man1/drift_exporter.1.gz"),
                   env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_STDERR": "1"})
        for text in ("--config.file", "--web.config.file", "baseline", "SIGHUP",
                     "/etc/drift_exporter/config.yml"):
            self.assertIn(text, page)

    # systemd accepts the unit and rates it at most MAX_EXPOSURE.
    def test_unit_is_valid_and_hardened(self):
        unit = os.path.join(self.root, "lib/systemd/system/drift-exporter.service")
        with open(unit, encoding="utf-8") as f:
            text = f.read()
        # Verified against this host's systemd units, with ExecStart naming the unpacked binary
        # (the package is not installed here).
        workdir = harness.make_workdir(self)
        here = os.path.join(workdir, "drift-exporter.service")
        harness.write_file(here, text.replace("/usr/bin/drift_exporter", self.binary))
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", here],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        self.assertEqual(verify.stderr.strip(), "", verify.stderr)
        security = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--no-pager",
             f"--threshold={int(MAX_EXPOSURE * 10)}", unit],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(security.returncode, 0, security.stdout + security.stderr)
        score = float(re.search(r"Overall exposure level for drift-exporter\.service: "
                                r"([0-9.]+)", security.stdout).group(1))
        self.assertLessEqual(score, MAX_EXPOSURE, security.stdout)
        for line in ("User=drift-exporter", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "CapabilityBoundingSet=CAP_NET_ADMIN", "SupplementaryGroups=systemd-journal",
                     "SystemCallFilter=@system-service", "StateDirectory=drift_exporter",
                     "ExecReload=/bin/kill -HUP $MAINPID",
                     "ExecStart=/usr/bin/drift_exporter --config.file=/etc/drift_exporter/config.yml"):
            self.assertIn(line, text)

    # packaging/examples/prometheus.yml's rule_files glob matches the installed rules, and
    # promtool loads them from there.
    def test_example_prometheus_finds_the_installed_rules(self):
        with open(os.path.join(SOURCE, "packaging/examples/prometheus.yml"), encoding="utf-8") as f:
            example = f.read()
        globs = re.findall(r"^rule_files:\n((?:  - .*\n)+)", example, re.M)
        self.assertEqual(len(globs), 1, example)
        patterns = [line.strip()[2:] for line in globs[0].splitlines()]
        installed = sorted(p for p in glob.glob(os.path.join(self.root, "usr/share/drift-exporter/rules/*"))
                           if os.path.isfile(p))
        self.assertTrue(installed)
        matched = sorted({m for p in patterns for m in glob.glob(self.root + p)})
        self.assertEqual(matched, installed)
        workdir = harness.make_workdir(self)
        rooted = os.path.join(workdir, "prometheus.yml")
        harness.write_file(rooted, example.replace("/usr/share/drift-exporter",
                                                   self.root + "/usr/share/drift-exporter"))
        out = run(harness.PROMTOOL, "check", "config", rooted)
        self.assertRegex(out, r"SUCCESS: [1-9][0-9]* rules found")
        self.assertIn("usr/share/drift-exporter/rules/drift.rules.yml", out)

    # The unpacked binary with the packaged configuration on this host, before any capture: it
    # serves promtool-clean metrics, runs the checks that need no pin, and says in its log and on
    # its landing page which checks wait for a capture and the command that pins them.
    def test_packaged_config_runs_here_before_a_capture(self):
        config = os.path.join(self.root, "etc/drift_exporter/config.yml")
        check = subprocess.run([self.binary, "--config.check", f"--config.file={config}"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("check antivirus is not pinned", check.stdout + check.stderr)
        capture = ("drift_exporter baseline capture --config.file=" + config +
                   " --out=/etc/drift_exporter/baseline.yml")
        if os.path.exists("/etc/drift_exporter/baseline.yml"):
            self.skipTest("this host has a baseline at /etc/drift_exporter/baseline.yml")
        harness.EXPORTER = self.binary
        exporter = harness.Exporter(self, config).start()
        exporter.wait_log(r"msg=\"configuration incomplete\".*check firewall is not pinned")
        exporter.wait_log(re.escape(f"to pin: `{capture}` as root"))
        exporter.wait_ready(timeout=90)
        metrics = exporter.metrics()
        promtool = subprocess.run([harness.PROMTOOL, "check", "metrics"], input=metrics,
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(promtool.returncode, 0, promtool.stdout + promtool.stderr)
        for name in ("patching", "logging", "antivirus", "firewall"):
            self.assertIsNotNone(harness.sample(metrics, "drift_check_success", check=name), name)
        # The unpinned checks report an error that says so; patching ran for real (apt's state).
        for name in ("antivirus", "firewall"):
            self.assertEqual(harness.sample(metrics, "drift_check_success", check=name), 0)
        landing = exporter.get("/").text
        self.assertIn("<h2>Waiting for a baseline capture</h2>", landing)
        for name in ("antivirus", "firewall"):
            self.assertRegex(landing, rf'<a href="/checks/{name}">{name}</a></td><td>Not pinned')
        self.assertIn(f"<code>{capture}</code>", landing)
        self.assertNotRegex(landing, r'<a href="/checks/patching">patching</a></td><td>Not pinned')

    # The package installed for real into a fresh Debian 12 (debootstrap, minbase) in a chroot
    # of a private mount and PID namespace: the maintainer scripts create the user, the
    # statoverride and the unit's enablement; the packaged user can read its configuration;
    # dpkg-reconfigure writes and removes the polkit rule as the runbooks come and go; remove
    # keeps the data and purge keeps what the admin made. Nothing touches this machine's own
    # state; the chroot is removed afterwards.
    def test_installs_removes_and_purges_in_a_chroot(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for debootstrap and chroot")
        root = tempfile.mkdtemp(prefix="drift-deb-chroot-")
        self.addCleanup(shutil.rmtree, root, True)
        os.chmod(root, 0o755)  # the chroot's "/", which its users must be able to enter
        run("debootstrap", "--variant=minbase", "bookworm", root, "http://deb.debian.org/debian")
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        # No service starts in a chroot; say so explicitly, as Debian's build chroots do.
        harness.write_file(os.path.join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(root, "usr/sbin/policy-rc.d"), 0o755)
        deb = "/tmp/" + os.path.basename(self.deb)
        shutil.copy(self.deb, root + deb)

        def inside(*cmd, user=None, check=True):
            chroot = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [root]
            out = subprocess.run(
                ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc",
                 *chroot, *cmd], capture_output=True, text=True, timeout=600,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
                     "LC_ALL": "C"})
            if check and out.returncode != 0:
                raise AssertionError(f"{' '.join(cmd)} exited {out.returncode}:\n"
                                     f"{out.stdout}{out.stderr}")
            return out

        inside("apt-get", "update", "-qq")
        inside("apt-get", "install", "-y", "-qq", "--no-install-recommends", deb)
        passwd = inside("getent", "passwd", "drift-exporter").stdout.strip().split(":")
        self.assertLess(int(passwd[2]), 1000, passwd)  # a system user
        self.assertEqual(passwd[5], "/var/lib/drift_exporter")
        self.assertEqual(passwd[6], "/usr/sbin/nologin")
        self.assertEqual(inside("dpkg-statoverride", "--list", "/etc/drift_exporter").stdout.strip(),
                         "root drift-exporter 750 /etc/drift_exporter")
        st = os.stat(os.path.join(root, "etc/drift_exporter"))
        self.assertEqual(oct(st.st_mode & 0o7777), "0o750")
        self.assertTrue(os.path.islink(os.path.join(
            root, "etc/systemd/system/multi-user.target.wants/drift-exporter.service")))
        # The exporter's user reads the configuration through the 0750 folder; others cannot.
        check = inside("drift_exporter", "--config.check", user="drift-exporter")
        self.assertIn("check antivirus is not pinned", check.stdout + check.stderr)
        self.assertNotEqual(inside("drift_exporter", "--config.check", user="nobody",
                                   check=False).returncode, 0)

        # Runbooks with unit actions: dpkg-reconfigure writes the polkit rule; without: removes it.
        config = os.path.join(root, "etc/drift_exporter/config.yml")
        rule = os.path.join(root, "etc/polkit-1/rules.d/60-drift-exporter.rules")
        os.makedirs(os.path.dirname(rule))
        packaged = harness.read_file(config)
        harness.write_file(config, packaged + (
            "runbooks:\n  restart_logging_services:\n    tier: auto\n    steps:\n"
            "      - argv: [/usr/bin/systemctl, restart, systemd-journald.service]\n"))
        inside("dpkg-reconfigure", "drift-exporter")
        text = harness.read_file(rule)
        self.assertIn('subject.user !== "drift-exporter"', text)
        self.assertIn('"systemd-journald.service": ["restart"]', text)
        self.assertEqual(oct(os.stat(rule).st_mode & 0o777), "0o644")
        harness.write_file(config, packaged)
        inside("dpkg-reconfigure", "drift-exporter")
        self.assertFalse(os.path.exists(rule))

        # What the exporter and the admin made: data and a baseline.
        state = os.path.join(root, "var/lib/drift_exporter/evidence")
        os.makedirs(state)
        harness.write_file(os.path.join(state, "record.json"), "{}")
        harness.write_file(os.path.join(root, "etc/drift_exporter/baseline.yml"), "checks: {}\n")
        inside("apt-get", "remove", "-y", "-qq", "drift-exporter")
        self.assertFalse(os.path.exists(os.path.join(root, "usr/bin/drift_exporter")))
        self.assertTrue(os.path.exists(config))
        self.assertTrue(os.path.exists(os.path.join(state, "record.json")))
        inside("dpkg", "--purge", "drift-exporter")
        self.assertFalse(os.path.exists(config))
        self.assertFalse(os.path.exists(os.path.join(root, "etc/default/drift-exporter")))
        self.assertEqual(inside("dpkg-statoverride", "--list", "/etc/drift_exporter",
                                check=False).stdout, "")
        self.assertTrue(os.path.exists(os.path.join(root, "etc/drift_exporter/baseline.yml")))
        self.assertTrue(os.path.exists(os.path.join(state, "record.json")))
        self.assertEqual(inside("getent", "passwd", "drift-exporter").returncode, 0)
        # Installing again after a purge reuses the user and restores the statoverride.
        inside("apt-get", "install", "-y", "-qq", "--no-install-recommends", deb)
        self.assertEqual(inside("dpkg-statoverride", "--list", "/etc/drift_exporter").stdout.strip(),
                         "root drift-exporter 750 /etc/drift_exporter")


if __name__ == "__main__":
    harness.main(needs_exporter=False)
