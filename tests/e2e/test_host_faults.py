#!/usr/bin/env python3
"""Host faults: on the `faults` fixture host, commands hang, flood, fail and print nonsense and
files are missing. Each such check must report drift_check_success 0 with a reason on its page,
never drift_check_drifted 0, and /metrics must keep answering quickly while a check hangs."""

import html
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# check -> part of the reason its page must show (unescaped).
EXPECTED_REASONS = {
    "hang": "cannot read the state of hang.service: systemctl is-active hang.service: timed out",
    "flood": "systemctl is-active flood.service: output larger than 65536 bytes",
    "garbage": "systemctl is-active garbage.service: <b>bogus</b> state",
    "crypt_fails": "cryptsetup status failed (exit 1; it needs root to query device-mapper): "
                   "Cannot initialize device-mapper. Is dm_mod kernel module loaded?",
    "crypt_malformed": "cryptsetup status printed unexpected output: expected \"<device> is "
                       "active.\" or \"<device> is inactive.\", got \"Device cryptodd: something "
                       "odd\"",
    "binary_missing": "the agent binary /usr/sbin/clamd-missing is not installed (no such "
                      "file; is `binary` the agent's path?)",
    "profile_missing": "cannot read the system profile link: /nix/var/nix/profiles/system: No "
                       "such file or directory",
    "nft_missing": "cannot run nft: nft is not installed (not found in command path ",
    "journal_unreadable": "cannot read the journal: journalctl: exit code 1: No journal files "
                          "were opened due to insufficient permissions.",
}
HANG_TIMEOUT = 4  # the hang check's timeout in faults/config.yml


def page_reason(exporter, check):
    r = exporter.get(f"/checks/{check}")
    if r.status != 200:
        raise AssertionError(f"/checks/{check} answered {r.status}")
    return html.unescape(r.text)


class HostFaults(unittest.TestCase):
    def test_every_fault_is_an_error_with_a_reason(self):
        root = harness.copy_fixture("faults", harness.make_workdir(self))
        exporter = harness.Exporter(self, os.path.join(root, "config.yml")).start()
        started = time.monotonic()

        # While `hang` waits out its timeout, the exporter is not ready but /metrics answers.
        scrapes = []
        while time.monotonic() - started < HANG_TIMEOUT - 1.5:
            r = exporter.get("/metrics", timeout=5)
            self.assertEqual(r.status, 200)
            scrapes.append(r.seconds)
            time.sleep(0.2)
        self.assertGreaterEqual(len(scrapes), 5)
        self.assertLess(max(scrapes), 1.0, f"/metrics latencies while a check hangs: {scrapes}")
        self.assertEqual(exporter.get("/-/ready").status, 503)
        pending = exporter.metrics()
        self.assertIsNone(harness.sample(pending, "drift_check_success", check="hang"))
        self.assertIsNone(harness.sample(pending, "drift_check_drifted", check="hang"))

        exporter.wait_ready()
        text = exporter.metrics()
        for check, reason in EXPECTED_REASONS.items():
            with self.subTest(check=check):
                self.assertEqual(harness.sample(text, "drift_check_success", check=check), 0)
                # An error on the first run gives no verdict: no drifted series, never a 0.
                self.assertIsNone(harness.sample(text, "drift_check_drifted", check=check))
                self.assertIsNone(harness.sample(text, "drift_check_severity", check=check))
                self.assertIn(reason, page_reason(exporter, check))
                self.assertIn('<td class="error">error</td>', exporter.get(f"/checks/{check}").text)

        # The healthy check was neither delayed nor disturbed by the others.
        self.assertEqual(harness.sample(text, "drift_check_success", check="ok"), 1)
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="ok"), 0)
        self.assertLess(harness.sample(text, "drift_check_duration_seconds", check="ok"), 1.0)
        # The hung command was killed at the check's timeout, not at systemctl's own 10s.
        hang = harness.sample(text, "drift_check_duration_seconds", check="hang")
        self.assertGreaterEqual(hang, HANG_TIMEOUT - 0.5)
        self.assertLess(hang, HANG_TIMEOUT + 2)
        self.assertEqual(harness.sample(text, "drift_checks", state="error"),
                         len(EXPECTED_REASONS))
        self.assertEqual(harness.sample(text, "drift_checks", state="compliant"), 1)

    def test_control_with_only_erroring_checks_is_not_reported_compliant(self):
        root = harness.copy_fixture("faults", harness.make_workdir(self))
        config = os.path.join(root, "controls.yml")
        harness.write_file(config, """\
host: {root: host, command_path: [bin]}
checks:
  - name: ok
    type: av_edr
    params:
      service: clamav-daemon.service
      binary: /usr/sbin/clamd
      binary_sha256: 813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46
  - name: crypt_fails
    type: encryption
    params: {volumes: [cryptfail]}
""")
        exporter = harness.Exporter(self, config).start()
        text = exporter.wait_ready().metrics()
        self.assertEqual(harness.sample(text, "drift_control_drifted", framework="hipaa",
                                        control="164.312(b)"), 0)
        # 164.312(a)(2)(iv) maps only to the encryption check, which errors: nobody knows
        # whether the control holds, so the roll-up must not say "not drifted".
      
        # (exporter/metrics.cc DriftCollector::Collect counts unknown as not drifted).
        self.assertIsNone(harness.sample(text, "drift_control_drifted", framework="hipaa",
                                         control="164.312(a)(2)(iv)"))

    def test_a_service_that_is_not_installed_is_drift_saying_so(self):
        root = harness.copy_fixture("faults", harness.make_workdir(self))
        config = os.path.join(root, "absent.yml")
        harness.write_file(config, """\
host: {root: host, command_path: [bin]}
checks:
  - name: absent
    type: av_edr
    params:
      service: absent.service
      binary: /usr/sbin/clamd
      binary_sha256: 813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46
""")
        exporter = harness.Exporter(self, config).start()
        text = exporter.wait_ready().metrics()
        self.assertEqual(harness.sample(text, "drift_check_success", check="absent"), 1)
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="absent"), 1)
        page = page_reason(exporter, "absent")
        self.assertIn("service_inactive: observed absent.service is not installed, expected "
                      "active", page)
        self.assertIn("<tr><th>service_state</th><td><code>not installed</code></td></tr>", page)

    def test_error_after_drift_keeps_drifted(self):
        root = harness.copy_fixture("faults", harness.make_workdir(self))
        units = os.path.join(root, "state", "units")
        harness.write_file(os.path.join(units, "flip.service"), "failed\n")
        config = os.path.join(root, "flip.yml")
        harness.write_file(config, """\
host:
  root: host
  command_path: [bin]
scheduler:
  interval: 1s
checks:
  - name: flip
    type: av_edr
    params:
      service: flip.service
      binary: /usr/sbin/clamd
      binary_sha256: 813abedf6be2b115061af495c149216e6aef48151d96c957ee3bd5734daeee46
""")
        exporter = harness.Exporter(self, config).start()
        text = exporter.wait_ready().metrics()
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="flip"), 1)
        self.assertEqual(harness.sample(text, "drift_check_severity", check="flip"), 3)
        self.assertEqual(harness.sample(text, "drift_check_success", check="flip"), 1)

        # Now systemctl answers nonsense: the check errors, and the drift it knew stands.
        harness.write_file(os.path.join(units, "flip.service"), "garbage no idea\n")

        def errored():
            t = exporter.metrics()
            return t if harness.sample(t, "drift_check_success", check="flip") == 0 else None
        text = harness.wait_for(errored, 15, "flip to error")
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="flip"), 1)
        self.assertEqual(harness.sample(text, "drift_check_severity", check="flip"), 3)
        self.assertGreater(harness.sample(text, "drift_check_drift_age_seconds", check="flip"), 0)
        self.assertIn("systemctl is-active flip.service: no idea", page_reason(exporter, "flip"))


if __name__ == "__main__":
    harness.main()
