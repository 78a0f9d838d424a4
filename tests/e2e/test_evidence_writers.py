#!/usr/bin/env python3
"""One writer per evidence store, end to end: a second daemon on the same configuration (same
port, or another one) exits 3 without adding a record, naming the lock file and the first
daemon's pid, while the first one's chain goes on; reloads keep the lock; the read-only commands
(verify, list, show, export) and keygen work while the daemon writes; a lock file left by a
kill -9 refuses nothing."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_evidence  # noqa: E402  (the demo copy and store helpers; its tests do not run here)

EXIT_OK, EXIT_STARTUP = 0, 3


class OneWriter(unittest.TestCase):
    def setUp(self):
        self.workdir = harness.make_workdir(self)
        self.demo = test_evidence.copy_demo(self.workdir)
        self.config = os.path.join(self.demo, "config.yml")
        self.store = os.path.join(self.demo, "data", "evidence")
        self.lock = os.path.join(self.store, "writer.lock")
        self.pub = os.path.join(self.demo, "data", "keys", "drift-evidence.pub")

    def assertExit(self, run, code):
        self.assertEqual(run.returncode, code,
                         f"exit {run.returncode}, wanted {code}\nstdout:\n{run.stdout}\n"
                         f"stderr:\n{run.stderr}")

    def verify(self):
        run = harness.run_cli("evidence", "verify", f"--dir={self.store}",
                              f"--public-key={self.pub}")
        self.assertExit(run, EXIT_OK)
        return run.stdout

    def files(self):
        return test_evidence.record_files(self.store)

    def start_first(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        harness.wait_for(lambda: len(self.files()) >= 3, 30,
                         "the first daemon's first records; log:\n" + exporter.log(), interval=0.1)
        return exporter

    def second(self, port):
        """A second daemon on the same configuration; returns its CompletedProcess."""
        return harness.run_cli(f"--config.file={self.config}",
                               f"--web.listen-address=127.0.0.1:{port}", timeout=30)

    def assert_lock_refusal(self, run, holder):
        self.assertExit(run, EXIT_STARTUP)
        self.assertEqual(run.stderr,
                         f"evidence directory {self.store} is in use by another writer: pid "
                         f"{holder} holds {self.lock}. One writer per store: stop it, or give "
                         "this instance its own evidence.directory\n")

    def assert_first_goes_on(self, exporter, before):
        """No record of the second daemon; the first one's next records continue the chain."""
        pids = {r["record"]["payload"].get("pid")
                for r in self.records() if r["record"]["kind"] in ("start", "recovery")}
        self.assertEqual(pids, {exporter.proc.pid})
        harness.wait_for(lambda: len(self.files()) > before + 2, 30,
                         "the first daemon's next records; log:\n" + exporter.log(),
                         interval=0.1)
        self.assertIn("drift_evidence_store_healthy 1", exporter.metrics())
        exporter.stop()
        out = self.verify()
        self.assertRegex(out, r"^OK: \d+ records, seq 1\.\.\d+, .* 1 runs, 0 recoveries,")

    def records(self):
        run = harness.run_cli("evidence", "list", f"--dir={self.store}", "--format=json")
        self.assertExit(run, EXIT_OK)
        return json.loads(run.stdout)

    def test_a_second_daemon_on_another_port_is_refused_by_the_lock(self):
        first = self.start_first()
        self.assertEqual(harness.read_file(self.lock), f"{first.proc.pid}\n")
        # A reload keeps the lock.
        first.signal(signal.SIGHUP)
        harness.wait_for(lambda: [r["record"]["payload"]["reload"] for r in self.records()
                                  if r["record"]["kind"] == "config_load"] == [False, True],
                         30, "the reload's config_load record; log:\n" + first.log(),
                         interval=0.2)
        before = len(self.files())
        run = self.second(0)
        self.assert_lock_refusal(run, first.proc.pid)
        self.assertEqual(harness.read_file(self.lock), f"{first.proc.pid}\n")
        self.assert_first_goes_on(first, before)

    def test_a_second_daemon_on_the_same_port_exits_3_and_adds_nothing(self):
        first = self.start_first()
        before = len(self.files())
        run = self.second(first.port)
        # Whichever refusal comes first (the lock, or the taken address), nothing was written.
        self.assertExit(run, EXIT_STARTUP)
        if "writer.lock" in run.stderr:
            self.assert_lock_refusal(run, first.proc.pid)
        self.assert_first_goes_on(first, before)

    def test_read_only_commands_and_keygen_work_while_the_daemon_writes(self):
        first = self.start_first()
        for _ in range(3):
            self.verify()  # an interrupted write at the tail is reported, not failed
        run = harness.run_cli("evidence", "list", f"--dir={self.store}")
        self.assertExit(run, EXIT_OK)
        run = harness.run_cli("evidence", "show", f"--dir={self.store}", "1",
                              f"--public-key={self.pub}")
        self.assertExit(run, EXIT_OK)
        bundle = os.path.join(self.workdir, "bundle")
        run = harness.run_cli("evidence", "export", f"--dir={self.store}", "--since=1h",
                              f"--out={bundle}")
        self.assertExit(run, EXIT_OK)
        self.assertFalse(os.path.exists(os.path.join(bundle, "writer.lock")))
        run = harness.run_cli("evidence", "keygen",
                              f"--out-dir={os.path.join(self.workdir, 'newkeys')}")
        self.assertExit(run, EXIT_OK)
        self.assertEqual(harness.read_file(self.lock), f"{first.proc.pid}\n")
        self.assertIn("drift_evidence_store_healthy 1", first.metrics())
        first.stop()
        self.verify()

    def test_a_lock_file_left_by_kill_9_refuses_nothing(self):
        first = self.start_first()
        first.proc.kill()
        first.proc.wait(timeout=10)
        self.assertEqual(harness.read_file(self.lock), f"{first.proc.pid}\n")
        again = harness.Exporter(self, self.config).start().wait_ready()
        harness.wait_for(lambda: any(r["record"]["kind"] == "recovery" for r in self.records()),
                         30, "a recovery record; log:\n" + again.log(), interval=0.2)
        self.assertEqual(harness.read_file(self.lock), f"{again.proc.pid}\n")
        again.stop()
        self.assertRegex(self.verify(), r" 1 runs, 1 recoveries,")


if __name__ == "__main__":
    harness.main()
