#!/usr/bin/env python3
"""Reloading: SIGHUP and POST /-/reload. A broken configuration keeps the running one (and sets
drift_exporter_config_last_reload_successful 0); a fixed one takes over. One that changes what
only a restart applies (a section turned on) is refused whole, with a log line, a metric and the
answer saying so. The lifecycle endpoint answers only with --web.enable-lifecycle. A
configuration path that is not a regular file (a FIFO, a device) is refused without blocking, at
start-up and at reload, and SIGTERM always stops the daemon within its shutdown deadline."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RELOAD_OK = "drift_exporter_config_last_reload_successful"
RESTART_REQUIRED = "drift_exporter_config_restart_required"
BROKEN_SUFFIX = "bogus_setting: 1\n"  # an unknown top-level key, on the file's last line
NOT_REGULAR = "not a regular file ({}); name the file itself, not a pipe, device, socket or directory"
SHUTDOWN_DEADLINE = 10  # kShutdownDeadline, exporter/app.h
EXIT_USAGE = 2
NEW_CHECK = """\
  - name: backups
    type: backup
    params:
      status_file: /srv/backup/status.json
"""
# Nothing listens there: the reload that adds it is refused, and the restart's alerts just queue.
ALERTING = """\
alerting:
  alertmanagers: [{url: "http://127.0.0.1:9"}]
"""


class Reload(unittest.TestCase):
    def setUp(self):
        self.root = harness.copy_fixture("mixed", harness.make_workdir(self))
        harness.prepare_mixed(self.root)
        # drifted.yml: checks agent and disks. The test edits its copy in place.
        self.config = os.path.join(self.root, "live.yml")
        self.good = harness.read_file(os.path.join(self.root, "drifted.yml"))
        harness.write_file(self.config, self.good)
        self.broken_line = self.good.count("\n") + 1

    def reload_value(self, exporter):
        return harness.sample(exporter.metrics(), RELOAD_OK)

    def wait_reload_value(self, exporter, want):
        harness.wait_for(lambda: self.reload_value(exporter) == want, 10,
                         f"{RELOAD_OK} to become {want}; log:\n{exporter.log()}")

    def checks_in(self, text):
        return harness.label_values(text, "drift_check_info", "check")

    def test_sighup_keeps_the_old_config_when_the_new_one_is_broken(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        self.assertEqual(self.reload_value(exporter), 1)
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks"])

        harness.write_file(self.config, self.good + BROKEN_SUFFIX)
        exporter.signal(signal.SIGHUP)
        self.wait_reload_value(exporter, 0)
        exporter.wait_log(r"msg=\"configuration reload failed; keeping the running "
                          r"configuration\".*live\.yml:\d+:1: bogus_setting: unknown key")
        text = exporter.metrics()
        self.assertEqual(self.checks_in(text), ["agent", "disks"])
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="disks"), 1)
        self.assertEqual(harness.sample(text, "drift_check_success", check="agent"), 1)
        self.assertEqual(exporter.get("/-/ready").status, 200)
        self.assertEqual(exporter.get("/checks/agent").status, 200)

        # Fixed, with one check more: it takes over and the new check runs at once.
        harness.write_file(self.config, self.good + NEW_CHECK)
        exporter.signal(signal.SIGHUP)
        self.wait_reload_value(exporter, 1)

        def backups_ran():
            text = exporter.metrics()
            return text if harness.sample(text, "drift_check_success", check="backups") else None
        text = harness.wait_for(backups_ran, 15, "the new check to run")
        self.assertEqual(self.checks_in(text), ["agent", "disks", "backups"])
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="backups"), 0)
        # Unchanged checks keep their state across the reload.
        self.assertEqual(harness.sample(text, "drift_check_drifted", check="disks"), 1)
        self.assertEqual(exporter.get("/checks/backups").status, 200)

    def test_removed_check_disappears_on_reload(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        harness.write_file(self.config, self.good.split("  - name: disks")[0])
        exporter.signal(signal.SIGHUP)
        harness.wait_for(lambda: self.checks_in(exporter.metrics()) == ["agent"], 10,
                         "disks to disappear")
        text = exporter.metrics()
        self.assertIsNone(harness.sample(text, "drift_check_drifted", check="disks"))
        self.assertEqual(exporter.get("/checks/disks").status, 404)
        self.assertEqual(self.reload_value(exporter), 1)

    def test_lifecycle_endpoint_is_off_by_default(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        r = exporter.post("/-/reload")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.text,
                         "Lifecycle API is not enabled; start with --web.enable-lifecycle\n")
        self.assertEqual(self.reload_value(exporter), 1)

    def test_lifecycle_endpoint_reloads(self):
        exporter = harness.Exporter(self, self.config, ["--web.enable-lifecycle"]).start()
        exporter.wait_ready()
        r = exporter.post("/-/reload")
        self.assertEqual((r.status, r.text), (200, "Configuration reloaded\n"))

        harness.write_file(self.config, self.good + BROKEN_SUFFIX)
        r = exporter.post("/-/reload")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.text, f"failed to reload config: {self.config}:{self.broken_line}:1: "
                                 "bogus_setting: unknown key; expected one of: alerting, baseline_file, "
                                 "checks, evidence, healing, host, runbooks, scheduler, state_dir\n")
        self.assertEqual(self.reload_value(exporter), 0)
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks"])

        harness.write_file(self.config, self.good + NEW_CHECK)
        r = exporter.post("/-/reload")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.reload_value(exporter), 1)
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks", "backups"])

        r = exporter.get("/-/reload")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("Allow"), "POST")

    def stop_within_deadline(self, exporter):
        started = time.monotonic()
        exporter.signal(signal.SIGTERM)
        try:
            code = exporter.proc.wait(timeout=SHUTDOWN_DEADLINE)
        except subprocess.TimeoutExpired:
            self.fail(f"SIGTERM did not stop the exporter within {SHUTDOWN_DEADLINE}s; log:\n"
                      + exporter.log())
        self.assertEqual(code, 0, exporter.log())
        return time.monotonic() - started

    def test_fifo_at_reload_is_refused_without_blocking_and_sigterm_still_stops(self):
        # Opening a FIFO waits for a writer: this used to hang the signal thread, so later
        # SIGHUPs and SIGTERM were ignored while last_reload_successful still said 1.
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        os.remove(self.config)
        os.mkfifo(self.config)
        exporter.signal(signal.SIGHUP)
        self.wait_reload_value(exporter, 0)
        exporter.wait_log(r"msg=\"configuration reload failed; keeping the running "
                          r"configuration\".*live\.yml: " + re.escape(NOT_REGULAR.format("a FIFO")))
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks"])
        self.assertEqual(exporter.get("/-/ready").status, 200)
        exporter.signal(signal.SIGHUP)  # the signal thread still answers
        harness.wait_for(lambda: exporter.log().count("configuration reload failed") >= 2, 10,
                         "the second SIGHUP to be handled; log:\n" + exporter.log())
        took = self.stop_within_deadline(exporter)
        self.assertLess(took, 5, exporter.log())

    def test_device_node_at_reload_is_refused_and_the_old_config_keeps_running(self):
        exporter = harness.Exporter(self, self.config, ["--web.enable-lifecycle"]).start()
        exporter.wait_ready()
        os.remove(self.config)
        os.symlink("/dev/zero", self.config)  # read for ever if it were read
        r = exporter.post("/-/reload", timeout=15)
        self.assertEqual(r.status, 500)
        self.assertEqual(r.text, f"failed to reload config: {self.config}: "
                                 + NOT_REGULAR.format("a character device") + "\n")
        self.assertEqual(self.reload_value(exporter), 0)
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks"])

        os.remove(self.config)
        harness.write_file(self.config, self.good + NEW_CHECK)
        r = exporter.post("/-/reload", timeout=15)
        self.assertEqual((r.status, r.text), (200, "Configuration reloaded\n"))
        self.assertEqual(self.reload_value(exporter), 1)
        self.stop_within_deadline(exporter)


    def test_a_section_added_at_reload_is_refused_until_a_restart(self):
        exporter = harness.Exporter(self, self.config, ["--web.enable-lifecycle"]).start()
        exporter.wait_ready()
        self.assertEqual(harness.sample(exporter.metrics(), RESTART_REQUIRED), 0)

        # A new check and the alerting section: all or nothing, so neither is applied.
        harness.write_file(self.config, self.good + NEW_CHECK + ALERTING)
        r = exporter.post("/-/reload")
        self.assertEqual((r.status, r.text),
                         (500, f"failed to reload config: {self.config}: restart to apply: "
                               "alerting: section added\n"))
        exporter.wait_log(r'level=error msg="configuration reload needs a restart; keeping the '
                          r'running configuration" err=".*live\.yml: restart to apply: '
                          r'alerting: section added"')
        text = exporter.metrics()
        self.assertEqual(harness.sample(text, RELOAD_OK), 0)
        self.assertEqual(harness.sample(text, RESTART_REQUIRED), 1)
        self.assertEqual(self.checks_in(text), ["agent", "disks"])
        self.assertNotIn("drift_alerts_", text)

        # SIGHUP is refused the same way.
        exporter.signal(signal.SIGHUP)
        harness.wait_for(lambda: exporter.log().count("reload needs a restart") == 2, 10,
                         "the SIGHUP reload to be refused too; log:\n" + exporter.log())
        self.assertEqual(self.checks_in(exporter.metrics()), ["agent", "disks"])

        # A restart applies the file.
        exporter.stop()
        exporter = harness.Exporter(self, self.config, ["--web.enable-lifecycle"]).start()
        exporter.wait_ready()
        text = exporter.metrics()
        self.assertEqual(self.checks_in(text), ["agent", "disks", "backups"])
        self.assertIn('drift_alerts_queue_length{alertmanager="http://127.0.0.1:9"}', text)
        self.assertEqual(harness.sample(text, RESTART_REQUIRED), 0)

        # With the module running, removing the section applies by reload.
        harness.write_file(self.config, self.good + NEW_CHECK)
        r = exporter.post("/-/reload")
        self.assertEqual((r.status, r.text), (200, "Configuration reloaded\n"))
        text = exporter.metrics()
        self.assertEqual(harness.sample(text, RELOAD_OK), 1)
        self.assertNotIn('alertmanager="http://127.0.0.1:9"', text)


class StartUpConfig(unittest.TestCase):
    """At start-up, a configuration path that is not a regular file is a configuration error
    (exit 2) named at once, never a process stuck reading it."""

    def test_fifo_and_device_node_are_refused_at_start_up(self):
        workdir = harness.make_workdir(self)
        fifo = os.path.join(workdir, "config.yml")
        os.mkfifo(fifo)
        for path, kind in ((fifo, "a FIFO"), ("/dev/null", "a character device")):
            for extra in ((), ("--config.check",)):
                with self.subTest(path=path, args=extra):
                    run = harness.run_cli(f"--config.file={path}",
                                          "--web.listen-address=127.0.0.1:0", *extra, timeout=10)
                    self.assertEqual(run.returncode, EXIT_USAGE, run.stderr)
                    self.assertEqual(run.stderr, f"{path}: {NOT_REGULAR.format(kind)}\n")


if __name__ == "__main__":
    harness.main()
