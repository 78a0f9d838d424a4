#!/usr/bin/env python3
"""The command line: --config.check, `check` (exit codes and JSON), `baseline capture`,
--version and bad flags, run against copies of the `mixed` fixture host."""

import json
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


class Cli(unittest.TestCase):
    def setUp(self):
        self.root = harness.copy_fixture("mixed", harness.make_workdir(self))
        harness.prepare_mixed(self.root)

    def path(self, name):
        return os.path.join(self.root, name)

    def assertExit(self, run, code):
        self.assertEqual(run.returncode, code,
                         f"exit {run.returncode}, wanted {code}\nstdout:\n{run.stdout}\n"
                         f"stderr:\n{run.stderr}")

    def test_config_check_accepts_a_good_config(self):
        run = harness.run_cli(f"--config.file={self.path('config.yml')}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{self.path('config.yml')}: valid (8 checks)\n")
        self.assertEqual(run.stderr, "")

    def test_config_check_rejects_a_bad_config_with_its_position(self):
        run = harness.run_cli(f"--config.file={self.path('bad.yml')}", "--config.check")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr,
                         f"{self.path('bad.yml')}:11:7: checks[0].params.sha256_binary: unknown "
                         "key; expected one of: binary, binary_sha256, follow_symlinks, "
                         "service\n")
        self.assertEqual(run.stdout, "")

    def test_config_check_on_a_missing_file(self):
        run = harness.run_cli(f"--config.file={self.path('nope.yml')}", "--config.check")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr,
                         f"{self.path('nope.yml')}: cannot read: No such file or directory\n")

    def test_config_check_fails_where_the_daemon_would(self):
        config = self.path("noroot.yml")
        harness.write_file(config, harness.read_file(self.path("drifted.yml")).replace(
            "root: host", "root: no-such-host"))
        daemon = harness.run_cli(f"--config.file={config}", "--web.listen-address=127.0.0.1:0",
                                 timeout=30)
        self.assertExit(daemon, EXIT_USAGE)
        self.assertEqual(daemon.stderr, f'{config}:3:9: host.root: "{self.path("no-such-host")}" '
                                        'is not a directory the exporter can open\n')
        run = harness.run_cli(f"--config.file={config}", "--config.check")
        # --config.check must catch what would stop the daemon, not only the YAML.
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr, daemon.stderr)

    def test_daemon_refuses_to_start_on_a_bad_config(self):
        run = harness.run_cli(f"--config.file={self.path('bad.yml')}",
                              "--web.listen-address=127.0.0.1:0", timeout=30)
        self.assertExit(run, EXIT_USAGE)
        self.assertTrue(run.stderr.startswith(f"{self.path('bad.yml')}:11:7: "), run.stderr)

    def test_web_config_is_checked_with_the_config_and_stops_the_daemon(self):
        fixtures = os.path.join(os.environ["DRIFT_SOURCE_DIR"], "tests", "fixtures", "web")
        for name in ("cert.pem", "key.pem"):
            harness.write_file(self.path(name), harness.read_file(os.path.join(fixtures, name)))
        os.chmod(self.path("key.pem"), 0o600)  # a secret file (git checks it out 0644)
        web = self.path("web.yml")
        harness.write_file(web, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
                                "basic_auth_users:\n  prometheus: $2y$10$gU2wP8HoMGLCG5y9K9FLve."
                                "X7KE/UVOPDW.P9eeL0aXqWQdF9T7..\n")
        run = harness.run_cli(f"--config.file={self.path('config.yml')}", "--config.check",
                              f"--web.config.file={web}")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{self.path('config.yml')}: valid (8 checks)\n"
                                     f"{web}: valid (TLS)\n")
        os.chmod(self.path("key.pem"), 0o644)
        for args in (["--config.check"], ["--web.listen-address=127.0.0.1:0"]):
            run = harness.run_cli(f"--config.file={self.path('config.yml')}", *args,
                                  f"--web.config.file={web}", timeout=30)
            self.assertExit(run, EXIT_USAGE)
            self.assertEqual(run.stderr, f"{web}:3:13: tls_server_config.key_file: key_file "
                                         f"{self.path('key.pem')} is readable by its group or "
                                         f"others (mode 0644); run `chmod 600 "
                                         f"{self.path('key.pem')}`\n")

    def test_check_exits_0_when_every_check_is_compliant(self):
        run = harness.run_cli("check", f"--config.file={self.path('compliant.yml')}")
        self.assertExit(run, EXIT_OK)
        lines = run.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["CHECK", "TYPE", "VERDICT", "SEVERITY", "REASON"])
        self.assertEqual([line.split()[:4] for line in lines[1:]], [
            ["patches", "patching", "compliant", "none"],
            ["agent", "av_edr", "compliant", "none"],
            ["backups", "backup", "compliant", "none"],
            ["journal", "logging", "compliant", "none"],
            ["firewall", "firewall", "compliant", "none"],
            ["disks", "encryption", "compliant", "none"],
        ])

    def test_check_exits_1_on_drift(self):
        run = harness.run_cli("check", f"--config.file={self.path('drifted.yml')}",
                              "--format=json")
        self.assertExit(run, EXIT_DRIFT)
        results = json.loads(run.stdout)
        self.assertEqual([(r["name"], r["verdict"], r["severity"]) for r in results],
                         [("agent", "compliant", "none"), ("disks", "drifted", "critical")])
        disks = results[1]
        self.assertEqual(disks["reason"], "volume_not_luks: observed cryptdata: PLAIN (dm-1), "
                                          "expected cryptdata: active LUKS volume")
        self.assertEqual(disks["findings"], [{"cause": "volume_not_luks",
                                              "observed": "cryptdata: PLAIN (dm-1)",
                                              "expected": "cryptdata: active LUKS volume"}])
        self.assertEqual(disks["observations"], {"volume cryptroot": "LUKS2 (dm-0)",
                                                 "volume cryptdata": "PLAIN (dm-1)"})
        self.assertEqual(disks["controls"], "hipaa:164.312(a)(2)(iv),164.312(e)(2)(ii)")
        self.assertEqual(disks["recommended_action"], "enable_volume_encryption")
        self.assertEqual(disks["type"], "encryption")

    def test_check_exits_2_when_a_check_errors(self):
        run = harness.run_cli("check", f"--config.file={self.path('config.yml')}",
                              "--format=json")
        self.assertExit(run, EXIT_USAGE)
        verdicts = {r["name"]: r["verdict"] for r in json.loads(run.stdout)}
        # The disabled check `retired` is not run.
        self.assertEqual(verdicts, {"patches": "compliant", "agent": "compliant",
                                    "backups": "drifted", "journal": "compliant",
                                    "firewall": "drifted", "disks": "compliant",
                                    "swap": "error"})

    def test_check_table_keeps_one_row_per_check_without_systemd(self):
        # A container: systemctl answers with two lines on stderr, nft is not installed.
        nosd = self.path("nosd_bin")
        os.mkdir(nosd)
        for name in ("journalctl", "logger"):
            os.symlink(self.path(os.path.join("bin", name)), os.path.join(nosd, name))
        harness.write_file(os.path.join(nosd, "systemctl"), """\
#!/bin/sh
echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
echo "Failed to connect to bus: Host is down" >&2
exit 1
""")
        os.chmod(os.path.join(nosd, "systemctl"), 0o755)
        config = self.path("nosd.yml")
        harness.write_file(config, """\
host: {root: host, command_path: [nosd_bin]}
checks:
  - name: agent
    type: av_edr
    params:
      service: clamav-daemon.service
      binary: /usr/sbin/clamd
      binary_sha256: 813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46
  - name: firewall
    type: firewall
    params:
      ruleset_sha256: 8a05e9eb2a648e795db6c0b028eda5d03ac62c9dacffd886c99bc86da12ae079
""")
        run = harness.run_cli("check", f"--config.file={config}")
        self.assertExit(run, EXIT_USAGE)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 3, run.stdout)
        self.assertEqual([line.split()[:3] for line in lines[1:]],
                         [["agent", "av_edr", "error"], ["firewall", "firewall", "error"]])
        self.assertTrue(lines[1].endswith(
            "cannot read the state of clamav-daemon.service: systemd is not running here "
            "(container?)"), lines[1])
        self.assertTrue(lines[2].endswith(
            "cannot read the state of nftables.service: systemd is not running here "
            "(container?)"), lines[2])

    def test_subcommand_help_lists_config_file(self):
        for args in (["check", "--help"], ["baseline", "capture", "--help"]):
            with self.subTest(args=args):
                run = harness.run_cli(*args)
                self.assertExit(run, EXIT_OK)
                self.assertIn("--config.file", run.stdout)
        # Given after the subcommand or before it, it is the same setting.
        for args in (["check", f"--config.file={self.path('compliant.yml')}"],
                     [f"--config.file={self.path('compliant.yml')}", "check"]):
            with self.subTest(args=args):
                self.assertExit(harness.run_cli(*args), EXIT_OK)

    def test_check_rejects_an_unknown_format(self):
        run = harness.run_cli("check", f"--config.file={self.path('compliant.yml')}",
                              "--format=xml")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("--format", run.stderr)

    def test_baseline_capture_pins_what_the_config_lacks(self):
        unpinned = self.path("unpinned.yml")
        # Valid without its pins: the checks that lack them are named as warnings.
        run = harness.run_cli(f"--config.file={unpinned}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{unpinned}: valid (3 checks)\n")
        self.assertEqual(run.stderr,
                         f"{unpinned}: warning: check agent is not pinned (binary_sha256): it "
                         "reports an error until a baseline capture pins it\n"
                         f"{unpinned}: warning: check firewall is not pinned (ruleset_sha256): it "
                         "reports an error until a baseline capture pins it\n"
                         f"{unpinned}: warning: to pin: `drift_exporter baseline capture "
                         f"--config.file={unpinned} --out=<file>` as root (or as the exporter's "
                         "user when no firewall check needs pinning), review the file, then "
                         "reload\n")

        baseline = self.path("baseline.yml")
        run = harness.run_cli("baseline", "capture", f"--config.file={unpinned}",
                              f"--out={baseline}")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"wrote {baseline} with the pins of 3 check(s)\n")
        text = harness.read_file(baseline)
        self.assertTrue(text.startswith("# drift_exporter baseline: "), text)
        agent_hash = "813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46"
        ruleset_hash = "8a05e9eb2a648e795db6c0b028eda5d03ac62c9dacffd886c99bc86da12ae079"
        self.assertIn(f'  agent:\n    binary_sha256: "{agent_hash}"\n'
                      f'  firewall:\n    ruleset_sha256: "{ruleset_hash}"\n'
                      '    ruleset_listing: "baseline.d/firewall.nft"\n', text)
        # The listing the hash was taken of, kept to show what changes later.
        self.assertEqual(harness.read_file(self.path("baseline.d/firewall.nft")),
                         harness.read_file(self.path("state/nft.ruleset")))
        # An integer where the loader wants one: a quoted "42" would not load.
        self.assertIn("  patches:\n    expected_generation: 42\n", text)

        pinned = self.path("pinned.yml")
        harness.write_file(pinned, harness.read_file(unpinned) + "baseline_file: baseline.yml\n")
        run = harness.run_cli(f"--config.file={pinned}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{pinned}: valid (3 checks)\n")
        self.assertEqual(run.stderr, "")
        run = harness.run_cli("check", f"--config.file={pinned}")
        self.assertExit(run, EXIT_OK)

    def test_baseline_capture_of_hashes_makes_the_config_valid(self):
        # The hash pins alone (no NixOS generation), so that this flow is covered on its own.
        unpinned = self.path("hashes.yml")
        harness.write_file(unpinned, """\
host: {root: host, command_path: [bin]}
checks:
  - name: agent
    type: av_edr
    params: {service: clamav-daemon.service, binary: /usr/sbin/clamd}
  - name: firewall
    type: firewall
""")
        run = harness.run_cli("check", f"--config.file={unpinned}", "--format=json")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual([(r["name"], r["verdict"], r["reason"]) for r in json.loads(run.stdout)],
                         [("agent", "error",
                           "binary_sha256 not pinned: run `drift_exporter baseline capture`"),
                          ("firewall", "error",
                           "ruleset_sha256 not pinned: run `drift_exporter baseline capture`")])
        baseline = self.path("hashes.baseline.yml")
        run = harness.run_cli("baseline", "capture", f"--config.file={unpinned}",
                              f"--out={baseline}")
        self.assertExit(run, EXIT_OK)
        harness.write_file(unpinned, harness.read_file(unpinned)
                           + "baseline_file: hashes.baseline.yml\n")
        run = harness.run_cli(f"--config.file={unpinned}", "--config.check")
        self.assertExit(run, EXIT_OK)
        run = harness.run_cli("check", f"--config.file={unpinned}", "--format=json")
        self.assertExit(run, EXIT_OK)
        self.assertEqual([(r["name"], r["verdict"]) for r in json.loads(run.stdout)],
                         [("agent", "compliant"), ("firewall", "compliant")])

        # The baseline now pins this host: a changed ruleset is drift.
        with open(os.path.join(self.root, "state", "nft.ruleset"), "a", encoding="utf-8") as f:
            f.write("table inet extra {\n}\n")
        run = harness.run_cli("check", f"--config.file={unpinned}", "--format=json")
        self.assertExit(run, EXIT_DRIFT)
        results = json.loads(run.stdout)
        self.assertEqual([(r["name"], r["verdict"]) for r in results],
                         [("agent", "compliant"), ("firewall", "drifted")])
        # The listing kept at capture says what changed: a table was added.
        self.assertEqual([(f["cause"], f["observed"], f["expected"])
                          for f in results[1]["findings"][1:]],
                         [("rule_added", "table inet extra", "absent")])
        self.assertEqual(results[1]["observations"]["ruleset_diff"],
                         "0 rule(s) removed, 1 added since the capture")

    def onboarding_config(self, command_path="nobin"):
        """A host lacking parts: an AV agent that is not installed and, in `nobin`, no nft. The
        baseline is to go to a folder that does not exist yet."""
        os.makedirs(self.path("nobin"), exist_ok=True)
        os.symlink(self.path("bin/systemctl"), self.path("nobin/systemctl"))
        config = self.path("onboard.yml")
        harness.write_file(config, f"""\
host: {{root: host, command_path: [{command_path}]}}
scheduler: {{interval: 1s}}
baseline_file: conf/baseline.yml
checks:
  - name: patches
    type: patching
    params: {{os: nixos}}
  - name: agent
    type: av_edr
    params: {{service: clamav-daemon.service, binary: /usr/sbin/clamd}}
  - name: antivirus
    type: av_edr
    params: {{service: falcon-sensor.service, binary: /opt/falcon/bin/falcon-sensor}}
  - name: firewall
    type: firewall
""")
        return config

    def test_a_host_lacking_parts_is_valid_before_its_first_capture(self):
        config = self.onboarding_config()
        run = harness.run_cli(f"--config.file={config}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{config}: valid (4 checks)\n")
        warn = f"{config}: warning: "
        self.assertEqual(run.stderr.splitlines(), [
            f"{warn}baseline file {self.path('conf/baseline.yml')} does not exist yet",
            f"{warn}check agent is not pinned (binary_sha256): it reports an error until a "
            "baseline capture pins it",
            f"{warn}check antivirus is not pinned (binary_sha256): it reports an error until a "
            "baseline capture pins it",
            f"{warn}check firewall is not pinned (ruleset_sha256): it reports an error until a "
            "baseline capture pins it",
            f"{warn}to pin: `drift_exporter baseline capture --config.file={config} "
            f"--out={self.path('conf/baseline.yml')}` as root (or as the exporter's user when no "
            "firewall check needs pinning), review the file, then reload"])

    def test_capture_writes_what_it_can_and_says_what_to_do_about_the_rest(self):
        config = self.onboarding_config()
        out = self.path("conf/baseline.yml")
        run = harness.run_cli("baseline", "capture", f"--config.file={config}", f"--out={out}")
        self.assertExit(run, EXIT_DRIFT)
        self.assertEqual(run.stdout, f"wrote {out} with the pins of 2 check(s)\n")
        self.assertEqual(run.stderr.splitlines(), [
            "antivirus: cannot capture: the agent binary /opt/falcon/bin/falcon-sensor is not "
            "installed (no such file; is `binary` the agent's path?); install the agent, or "
            "correct params.binary, or disable the check with `enabled: false`",
            "firewall: cannot capture: nft is not installed (not found in "
            f"command path {self.path('nobin')}); install nftables (the nft program) where host.command_path "
            "finds it, or disable the check with `enabled: false`",
            "2 of 4 check(s) could not be captured (antivirus, firewall); a check without its "
            "pins reports an error until it is captured"])
        # The missing folder was made, 0750, and nothing but the baseline is left in it.
        self.assertEqual(os.stat(self.path("conf")).st_mode & 0o7777, 0o750)
        self.assertEqual(os.listdir(self.path("conf")), ["baseline.yml"])
        text = harness.read_file(out)
        self.assertIn("checks:\n  patches:\n    expected_generation: 42\n  agent:\n"
                      "    binary_sha256: ", text)
        self.assertNotIn("antivirus", text)

        # What was captured runs; what was not says how to pin it.
        run = harness.run_cli("check", f"--config.file={config}", "--format=json")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual([(r["name"], r["verdict"], r["reason"]) for r in json.loads(run.stdout)
                          if r["verdict"] != "compliant"],
                         [("antivirus", "error",
                           "binary_sha256 not pinned: run `drift_exporter baseline capture`"),
                          ("firewall", "error",
                           "ruleset_sha256 not pinned: run `drift_exporter baseline capture`")])

        # nft installed, the agent disabled: a second capture completes the file and keeps
        # what it had.
        harness.write_file(config, harness.read_file(config)
                           .replace("command_path: [nobin]", "command_path: [bin]")
                           .replace("  - name: antivirus\n", "  - name: antivirus\n"
                                                             "    enabled: false\n"))
        harness.write_file(out, harness.read_file(out).replace(
            "  agent:\n", "  antivirus:\n    binary_sha256: \"" + "ab" * 32 + "\"\n  agent:\n"))
        run = harness.run_cli("baseline", "capture", f"--config.file={config}", f"--out={out}")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stderr, "")
        text = harness.read_file(out)
        # The disabled check's entry stays, as it was.
        self.assertIn("  antivirus:\n    binary_sha256: \"" + "ab" * 32 + "\"\n", text)
        self.assertIn('  firewall:\n    ruleset_sha256: "8a05e9eb', text)
        self.assertIn('    ruleset_listing: "baseline.d/firewall.nft"\n', text)
        run = harness.run_cli(f"--config.file={config}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stderr, "")
        run = harness.run_cli("check", f"--config.file={config}")
        self.assertExit(run, EXIT_OK)

    def test_an_unpinned_daemon_runs_the_rest_and_shows_the_firewall_diff(self):
        config = self.onboarding_config(command_path="bin")
        exporter = harness.Exporter(self, config).start().wait_ready()
        exporter.wait_log(r"level=warn .*msg=\"configuration incomplete\".*baseline file "
                          r".*does not exist yet")
        metrics = exporter.metrics()
        self.assertEqual(harness.sample(metrics, "drift_check_success", check="patches"), 1)
        self.assertEqual(harness.sample(metrics, "drift_check_success", check="firewall"), 0)
        page = exporter.get("/checks/firewall").text
        self.assertIn("ruleset_sha256 not pinned: run `drift_exporter baseline capture`", page)

        out = self.path("conf/baseline.yml")
        run = harness.run_cli("baseline", "capture", f"--config.file={config}", f"--out={out}")
        self.assertExit(run, EXIT_DRIFT)  # antivirus still cannot be captured
        with open(self.path("state/nft.ruleset"), encoding="utf-8") as f:
            ruleset = f.read()
        harness.write_file(self.path("state/nft.ruleset"), ruleset.replace(
            "\t\ttcp dport 22 accept\n", "\t\ttcp dport 22 accept\n\t\ttcp dport 23 accept\n"))
        exporter.signal(signal.SIGHUP)
        harness.wait_for(lambda: harness.sample(exporter.metrics(), "drift_check_drifted",
                                                check="firewall") == 1,
                         20, "the firewall to drift")
        page = exporter.get("/checks/firewall").text
        self.assertIn("<td>rule_added</td><td>table inet filter chain input: tcp dport 23 "
                      "accept</td><td>absent</td>", page)
        self.assertIn("0 rule(s) removed, 1 added since the capture", page)
        self.assertEqual(harness.sample(exporter.metrics(), "drift_check_success",
                                        check="antivirus"), 0)

    def test_baseline_capture_needs_out(self):
        run = harness.run_cli("baseline", "capture", f"--config.file={self.path('unpinned.yml')}")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("--out", run.stderr)

    # The version is CMake's project(VERSION); the revision is the commit the binary was built
    # from (found at build time, not when CMake last configured), "-dirty" with local changes.
    def test_version(self):
        run = harness.run_cli("--version")
        self.assertExit(run, EXIT_OK)
        with open(os.path.join(harness.SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
            version = re.search(r"project\(drift_exporter VERSION ([0-9.]+)", f.read()).group(1)
        m = re.fullmatch(rf"drift_exporter {re.escape(version)} \(revision ([0-9a-f]{{12}})"
                         r"(-dirty)?, .+\)\n", run.stdout)
        self.assertIsNotNone(m, run.stdout)
        head = subprocess.run(["git", "-C", harness.SOURCE_DIR, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True)
        if head.returncode == 0:
            self.assertEqual(m.group(1), head.stdout.strip())

    def test_unknown_flag(self):
        run = harness.run_cli("--no-such-flag")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("--no-such-flag", run.stderr)

    def test_bad_flag_value(self):
        run = harness.run_cli(f"--config.file={self.path('compliant.yml')}", "--log.level=loud",
                              "--config.check")
        self.assertExit(run, EXIT_USAGE)


if __name__ == "__main__":
    harness.main()
