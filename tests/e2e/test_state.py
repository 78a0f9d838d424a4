#!/usr/bin/env python3
"""Check state across restarts (docs/configuration.md#state-directory), end to end on 127.0.0.1:

- a drift that was there before a restart continues after it: drift_check_drift_age_seconds
  keeps counting, the alert a recording Alertmanager stub receives keeps the episode's startsAt,
  and neither the log nor the evidence store shows a new transition;
- the state file is written while the daemon runs, not only at shutdown;
- $STATE_DIRECTORY (systemd's StateDirectory=) is used when state_dir is not set;
- a corrupt state file is a warning and a metric; the daemon starts afresh and replaces it;
- a state directory that cannot be created is a start-up failure (exit 3).
"""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alerting_support as support  # noqa: E402
import harness  # noqa: E402

WAIT = 30
EXIT_STARTUP = 3


class Fixture:
    """A copy of tests/fixtures/e2e/alerting with sshd drifted, alerts to a recording stub, a
    state directory and an evidence store (demo key created at start)."""

    def __init__(self, test, state_dir="state_dir: data/state\n"):
        self.workdir = harness.make_workdir(test)
        self.root = harness.copy_fixture("alerting", self.workdir)
        support.drift_sshd(self.root)
        self.hook = support.Recorder(test).start()
        self.config = support.write_config(self.root, [self.hook.url()], resend_interval="1s")
        text = harness.read_file(self.config) + state_dir + (
            "evidence:\n"
            "  directory: data/evidence\n"
            "  secret_key_file: data/keys/drift-evidence.key\n"
            "  create_key_if_missing: true\n")
        harness.write_file(self.config, text)
        self.state_file = os.path.join(self.root, "data", "state", "check_state.json")
        self.evidence = os.path.join(self.root, "data", "evidence")

    def transitions(self, check):
        run = harness.run_cli("evidence", "list", f"--dir={self.evidence}", "--format=json",
                              f"--check={check}", "--kind=transition")
        if run.returncode != 0:
            raise AssertionError(f"evidence list: exit {run.returncode}: {run.stderr}")
        return json.loads(run.stdout)

    def drift_alerts(self, since=0):
        """ComplianceDrift alerts for sshd the stub received, from request `since` on."""
        return [a for a in support.posted_alerts(self.hook.recorded()[since:])
                if a["labels"].get("alertname") == "ComplianceDrift"
                and a["labels"].get("check") == "sshd"]


def metric(exporter, name, **labels):
    return harness.sample(exporter.metrics(), name, **labels)


def wait_metric(exporter, name, predicate, what, **labels):
    def check():
        value = metric(exporter, name, **labels)
        return value is not None and predicate(value)
    harness.wait_for(check, WAIT, f"{name}{labels} {what}; log:\n{exporter.log()}", interval=0.1)
    return metric(exporter, name, **labels)


def saved(path):
    try:
        return {c["name"]: c for c in json.loads(harness.read_file(path))["checks"]}
    except (OSError, ValueError):
        return None


class StateAcrossRestarts(unittest.TestCase):
    def test_a_drift_continues_across_a_restart(self):
        fx = Fixture(self)
        first = harness.Exporter(self, fx.config).start().wait_ready()
        wait_metric(first, "drift_check_drifted", lambda v: v == 1, "to be 1", check="sshd")
        alerts = fx.hook.wait(lambda reqs: fx.drift_alerts(), WAIT, "the first drift alert")
        starts_at = fx.drift_alerts()[0]["startsAt"]
        # Written while running, a moment after the transitions (not only at shutdown).
        state = harness.wait_for(
            lambda: (saved(fx.state_file) or {}).get("sshd"), WAIT,
            "the state file to hold sshd; log:\n" + first.log())
        self.assertTrue(state["drifted"])
        self.assertEqual(state["verdict"], "drifted")
        self.assertTrue(alerts)
        time.sleep(2)  # the drift grows older than a fresh episode could be after the restart
        age_before = metric(first, "drift_check_drift_age_seconds", check="sshd")
        self.assertGreater(age_before, 2)
        first.stop()
        transitions = fx.transitions("sshd")
        self.assertEqual([t["record"]["payload"]["to"] for t in transitions], ["drifted"])

        requests_before = len(fx.hook.recorded())
        stopped_at = time.monotonic()
        second = harness.Exporter(self, fx.config).start()
        # Restored before its first run: the drift shows at once, and its age goes on.
        age_at_start = metric(second, "drift_check_drift_age_seconds", check="sshd")
        self.assertIsNotNone(age_at_start, "the restored drift shows before the first run")
        self.assertGreaterEqual(age_at_start, age_before)
        second.wait_ready()
        self.assertEqual(metric(second, "drift_exporter_state_file_restored_checks"), 2)
        age_after = metric(second, "drift_check_drift_age_seconds", check="sshd")
        self.assertGreaterEqual(age_after, age_before + (time.monotonic() - stopped_at) - 1,
                                "the drift age continues across the restart")
        fx.hook.wait(lambda reqs: fx.drift_alerts(requests_before), WAIT,
                     "the drift alert after the restart")
        for alert in fx.drift_alerts(requests_before):
            self.assertEqual(alert["startsAt"], starts_at, "the episode's start, not the restart")
        self.assertEqual(metric(second, "drift_check_drifted", check="sshd"), 1)
        self.assertNotRegex(second.log(), r'msg="check drifted"',
                            "a continuing drift is not a new transition")
        second.stop()
        self.assertEqual(len(fx.transitions("sshd")), 1, "no new transition record")
        self.assertIn('msg="check states restored"', second.log())

    def test_state_directory_from_systemd(self):
        fx = Fixture(self, state_dir="")
        state_directory = os.path.join(fx.workdir, "var-lib-drift")
        os.mkdir(state_directory, 0o750)
        old = os.environ.get("STATE_DIRECTORY")
        os.environ["STATE_DIRECTORY"] = state_directory
        try:
            exporter = harness.Exporter(self, fx.config).start()
        finally:
            if old is None:
                del os.environ["STATE_DIRECTORY"]
            else:
                os.environ["STATE_DIRECTORY"] = old
        exporter.wait_ready()
        exporter.stop()
        self.assertIn("sshd", saved(os.path.join(state_directory, "check_state.json")))

    def test_without_a_state_directory_one_line_says_so(self):
        fx = Fixture(self, state_dir="")
        env_was = os.environ.pop("STATE_DIRECTORY", None)
        if env_was is not None:
            self.addCleanup(os.environ.__setitem__, "STATE_DIRECTORY", env_was)
        exporter = harness.Exporter(self, fx.config).start().wait_ready()
        exporter.wait_log(r"msg=\"no state_dir and no \$STATE_DIRECTORY")
        self.assertIsNone(metric(exporter, "drift_exporter_state_file_restored_checks"))

    def test_a_corrupt_state_file_is_a_warning_and_a_fresh_start(self):
        fx = Fixture(self)
        os.makedirs(os.path.dirname(fx.state_file))
        harness.write_file(fx.state_file, '{"version": 1, "checks": [')
        exporter = harness.Exporter(self, fx.config).start().wait_ready()
        exporter.wait_log(r'level=warn msg="cannot use the state file; every check starts afresh '
                          r'\(drift episodes restart\)".* err="not valid JSON"')
        self.assertEqual(metric(exporter, "drift_exporter_state_file_errors_total",
                                operation="load"), 1)
        self.assertEqual(metric(exporter, "drift_exporter_state_file_restored_checks"), 0)
        harness.wait_for(lambda: saved(fx.state_file), WAIT, "a new, valid state file")
        self.assertEqual(harness.read_file(fx.state_file + ".bad"), '{"version": 1, "checks": [')
        exporter.wait_log(r'msg="check drifted" check=sshd')

    def test_a_state_directory_that_cannot_be_created_exits_3(self):
        fx = Fixture(self, state_dir="state_dir: not-a-dir/state\n")
        harness.write_file(os.path.join(fx.root, "not-a-dir"), "a file\n")
        run = harness.run_cli(f"--config.file={fx.config}", "--web.listen-address=127.0.0.1:0")
        self.assertEqual(run.returncode, EXIT_STARTUP, run.stdout + run.stderr)
        self.assertIn(f"state_dir: cannot create {os.path.join(fx.root, 'not-a-dir')}",
                      run.stderr)
        self.assertFalse(os.path.exists(fx.evidence), "nothing recorded before the failure")


if __name__ == "__main__":
    harness.main()
