#!/usr/bin/env python3
"""The command line: --config.check, `check` (exit codes and JSON), `baseline capture`,
--version and bad flags, run against copies of the `mixed` fixture host."""

import json
import os
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

    def test_a_broken_openssl_configuration_is_named(self):
        # OpenSSL's configuration is where a host enables FIPS or sets its TLS policy: the
        # exporter loads it (without OpenSSL's error texts) and refuses to run without it.
        conf = self.path("openssl.cnf")
        harness.write_file(conf, "config_diagnostics = 1\nopenssl_conf = init\n[init]\n"
                                 "no_such_module = s\n[s]\nx = 1\n")
        run = harness.run_cli(f"--config.file={self.path('config.yml')}", "--config.check",
                              env={"OPENSSL_CONF": conf})
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr, "cannot initialise OpenSSL: its configuration (OPENSSL_CONF, "
                                     "else the system openssl.cnf) does not load; `openssl version "
                                     "-d` names the directory\n")

    def test_daemon_refuses_to_start_on_a_bad_config(self):
        run = harness.run_cli(f"--config.file={self.path('bad.yml')}",
                              "--web.listen-address=127.0.0.1:0", timeout=30)
        self.assertExit(run, EXIT_USAGE)
        self.assertTrue(run.stderr.startswith(f"{self.path('bad.yml')}:11:7: "), run.stderr)

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
        run = harness.run_cli(f"--config.file={unpinned}", "--config.check")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr,
                         f"{unpinned}:13:7: checks[1].params.binary_sha256: required key "
                         "missing; pin it from a known-good host with `drift_exporter baseline "
                         "capture`\n")

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
                      f'  firewall:\n    ruleset_sha256: "{ruleset_hash}"\n', text)
        # An integer where the loader wants one: a quoted "42" would not load.
        self.assertIn("  patches:\n    expected_generation: 42\n", text)

        pinned = self.path("pinned.yml")
        harness.write_file(pinned, harness.read_file(unpinned) + "baseline_file: baseline.yml\n")
        run = harness.run_cli(f"--config.file={pinned}", "--config.check")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(run.stdout, f"{pinned}: valid (3 checks)\n")
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
        run = harness.run_cli(f"--config.file={unpinned}", "--config.check")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("pin it from a known-good host with `drift_exporter baseline capture`",
                      run.stderr)
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
        self.assertEqual([(r["name"], r["verdict"]) for r in json.loads(run.stdout)],
                         [("agent", "compliant"), ("firewall", "drifted")])

    def test_baseline_capture_needs_out(self):
        run = harness.run_cli("baseline", "capture", f"--config.file={self.path('unpinned.yml')}")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("--out", run.stderr)

    def test_version(self):
        run = harness.run_cli("--version")
        self.assertExit(run, EXIT_OK)
        self.assertRegex(
            run.stdout, r"^drift_exporter \d+\.\d+\.\d+ \(revision ([0-9a-f]{12}|unknown), .+\)\n$")

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
