#!/usr/bin/env python3
"""Evidence end to end: the bundled demo (a copy) writes signed records while a fixture file is
flipped; every record verifies with the real `minisign` binary and with `evidence verify`;
tampered copies are caught; list/show/export; bad input exits 2; a store that cannot be written
turns drift_evidence_store_healthy to 0 while /metrics keeps serving, and recovers; kill -9 of
the daemon is followed by a recovery record."""

import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alerting_support as support  # noqa: E402
import harness  # noqa: E402

MINISIGN = "/usr/bin/minisign"
DEMO = os.path.join(harness.SOURCE_DIR, "packaging", "examples", "demo")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TELNET_RULE = "\t\ttcp dport 23 accept\n"


def copy_demo(workdir):
    """A copy of the demo with 1 s check and attestation intervals and no evidence data yet."""
    demo = os.path.join(workdir, "demo")
    shutil.copytree(DEMO, demo, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "journal", "backup"))
    subprocess.run([os.path.join(demo, "prepare.sh")], check=True, capture_output=True)
    config = os.path.join(demo, "config.yml")
    text = harness.read_file(config)
    text = text.replace("interval: 15s", "interval: 1s").replace(
        "attestation_interval: 1m", "attestation_interval: 2s")
    harness.write_file(config, text)
    return demo


def ends_passed(alert):
    """Whether an alert as the exporter posts it has ended (a resolved alert's endsAt)."""
    return datetime.datetime.fromisoformat(alert["endsAt"]).timestamp() <= time.time()


def record_files(store):
    out = []
    for root, _, files in os.walk(os.path.join(store, "records")):
        out.extend(os.path.join(root, f) for f in files if f.endswith(".json"))
    return sorted(out)


class Evidence(unittest.TestCase):
    def setUp(self):
        self.workdir = harness.make_workdir(self)
        self.demo = copy_demo(self.workdir)
        self.config = os.path.join(self.demo, "config.yml")
        self.store = os.path.join(self.demo, "data", "evidence")
        self.pub = os.path.join(self.demo, "data", "keys", "drift-evidence.pub")

    def cli(self, *args, **kw):
        return harness.run_cli(*args, **kw)

    def assertExit(self, run, code):
        self.assertEqual(run.returncode, code,
                         f"exit {run.returncode}, wanted {code}\nstdout:\n{run.stdout}\n"
                         f"stderr:\n{run.stderr}")

    def verify(self, store=None, *extra):
        return self.cli("evidence", "verify", f"--dir={store or self.store}",
                        f"--public-key={self.pub}", *extra)

    def records(self, *filters):
        run = self.cli("evidence", "list", f"--dir={self.store}", "--format=json", *filters)
        self.assertExit(run, EXIT_OK)
        return json.loads(run.stdout)

    def wait_record(self, exporter, what, *filters, count=1):
        def found():
            if not os.path.isdir(os.path.join(self.store, "records")):
                return None
            got = self.records(*filters)
            return got if len(got) >= count else None
        return harness.wait_for(found, 30, f"{what}; log:\n{exporter.log()}", interval=0.2)

    def test_demo_records_verify_with_minisign_and_evidence_verify(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        exporter.wait_log(r"msg=\"DEMO ONLY: no evidence signing key existed")
        self.wait_record(exporter, "the firewall's first state", "--check=firewall",
                         "--kind=transition")
        nft = os.path.join(self.demo, "host", "etc", "nftables.conf")
        original = harness.read_file(nft)
        harness.write_file(nft, original.replace("tcp dport 22 accept\n",
                                                 "tcp dport 22 accept\n" + TELNET_RULE))
        drift = self.wait_record(exporter, "the firewall drifting", "--check=firewall",
                                 "--kind=transition", count=2)[-1]["record"]
        self.assertEqual(drift["payload"]["from"], "compliant")
        self.assertEqual(drift["payload"]["to"], "drifted")
        self.assertEqual(drift["severity"], "critical")
        self.assertIn("hipaa:164.312(a)(1)", drift["controls"])
        self.assertEqual(drift["payload"]["findings"][0]["cause"], "ruleset_hash_mismatch")
        self.assertTrue(drift["payload"]["findings"][0]["expected"])
        # The demo's baseline kept the listing: the record says which rule changed.
        self.assertEqual(drift["payload"]["findings"][1:],
                         [{"cause": "rule_added", "expected": "absent",
                           "observed": "table inet filter chain input: tcp dport 23 accept"}])
        self.assertEqual(drift["payload"]["observed"]["ruleset_diff"],
                         "0 rule(s) removed, 1 added since the capture")
        harness.write_file(nft, original)
        back = self.wait_record(exporter, "the firewall compliant again", "--check=firewall",
                                "--kind=transition", count=3)[-1]["record"]
        self.assertEqual((back["payload"]["from"], back["payload"]["to"]),
                         ("drifted", "compliant"))
        self.wait_record(exporter, "an attestation", "--kind=attestation")

        text = exporter.metrics()
        self.assertEqual(harness.sample(text, "drift_evidence_store_healthy"), 1)
        self.assertGreaterEqual(
            harness.sample(text, "drift_evidence_records_total", kind="transition"), 8)
        self.assertEqual(harness.sample(text, "drift_evidence_records_total", kind="start"), 1)
        self.assertGreater(harness.sample(text, "drift_evidence_last_record_timestamp_seconds"),
                           1.7e9)
        self.assertEqual(harness.sample(text, "drift_evidence_write_errors_total", op="fsync"), 0)
        check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        exporter.stop()

        files = record_files(self.store)
        self.assertGreaterEqual(len(files), 12)
        for f in files:
            run = subprocess.run([MINISIGN, "-Vm", f, "-p", self.pub], capture_output=True,
                                 text=True)
            self.assertEqual(run.returncode, 0, f"{f}: {run.stdout}{run.stderr}")
            self.assertRegex(run.stdout, r"Trusted comment: drift_evidence v1 seq=\d+ ")
        run = self.verify()
        self.assertExit(run, EXIT_OK)
        self.assertRegex(run.stdout, rf"^OK: {len(files)} records, seq 1\.\.{len(files)}, ")
        self.assertExit(self.verify(self.store, "--thorough"), EXIT_OK)
        kinds = [r["record"]["kind"] for r in self.records()]
        self.assertEqual(kinds[0], "start")
        self.assertEqual(kinds[1], "config_load")
        self.assertEqual(kinds[-1], "stop")

        # Tampering with a copy is caught; the original still verifies.
        tampered = os.path.join(self.workdir, "tampered")
        shutil.copytree(self.store, tampered)
        victim = [f for f in record_files(tampered) if "transition" in f][2]
        harness.write_file(victim, harness.read_file(victim).replace('"reason":"', '"reason":"!', 1))
        run = self.verify(tampered)
        self.assertExit(run, EXIT_FAILED)
        self.assertRegex(run.stdout, r"^FAIL: edited_record: \d{20}-transition\.json was changed "
                                     r"after signing")
        bad = subprocess.run([MINISIGN, "-Vm", victim, "-p", self.pub], capture_output=True,
                             text=True)
        self.assertEqual(bad.returncode, 1)
        shutil.rmtree(tampered)
        shutil.copytree(self.store, tampered)
        last = record_files(tampered)[-1]
        os.remove(last)
        os.remove(last + ".minisig")
        run = self.verify(tampered)
        self.assertExit(run, EXIT_FAILED)
        self.assertIn("FAIL: truncated_tail: the signed head names seq", run.stdout)
        self.assertExit(self.verify(), EXIT_OK)

        # show, and export for an auditor.
        run = self.cli("evidence", "show", f"--dir={self.store}", "3", f"--public-key={self.pub}")
        self.assertExit(run, EXIT_OK)
        self.assertIn("signature:       verified", run.stdout)
        self.assertRegex(run.stdout, r"id:              00000000000000000003-transition")
        bundle = os.path.join(self.workdir, "bundle")
        run = self.cli("evidence", "export", f"--dir={self.store}", "--since=1h",
                       f"--out={bundle}")
        self.assertExit(run, EXIT_OK)
        self.assertIn(f"exported {len(files)} records", run.stdout)
        readme = harness.read_file(os.path.join(bundle, "README.md"))
        m = re.search(r"minisign -Vm (\S+) -p (\S+)", readme)
        self.assertIsNotNone(m, readme)
        run = subprocess.run([MINISIGN, "-Vm", m.group(1), "-p", m.group(2)], cwd=bundle,
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        m = re.search(r"drift_exporter evidence verify --dir=\. --public-key=(\S+)", readme)
        self.assertIsNotNone(m, readme)
        run = self.cli("evidence", "verify", f"--dir={bundle}",
                       f"--public-key={os.path.join(bundle, m.group(1))}")
        self.assertExit(run, EXIT_OK)
        self.assertIn("(export bundle)", run.stdout)

    def test_kill_9_is_followed_by_a_recovery_record(self):
        exporter = harness.Exporter(self, self.config).start().wait_ready()
        self.wait_record(exporter, "the first records", "--kind=transition", count=6)
        exporter.proc.kill()
        exporter.proc.wait(timeout=10)
        run = self.verify()
        self.assertExit(run, EXIT_OK)
        again = harness.Exporter(self, self.config).start().wait_ready()
        recovery = self.wait_record(again, "a recovery record", "--kind=recovery")[0]["record"]
        self.assertIn("unclean_shutdown", recovery["payload"]["reasons"])
        self.assertEqual(self.records("--kind=start").__len__(), 1)
        again.stop()
        run = self.verify()
        self.assertExit(run, EXIT_OK)
        self.assertIn(" 1 runs, 1 recoveries,", run.stdout)

    def start_with_small_files(self, config):
        """The exporter on `config` with RLIMIT_FSIZE so low that no record fits, after a keygen
        (the demo would create its key at start, which the limit forbids). Returns the exporter
        and a function that lifts the limit."""
        keys = os.path.join(self.demo, "data", "keys")
        self.assertExit(self.cli("evidence", "keygen", f"--out-dir={keys}"), EXIT_OK)
        limit = 300  # bytes: no record fits
        raised = 10 * 1024 * 1024  # the hard limit, which the soft one goes back to

        def small_files():
            harness._die_with_parent()
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, raised))

        cmd = [harness.EXPORTER, f"--config.file={config}", "--web.listen-address=127.0.0.1:0"]
        exporter = harness.Exporter(self, config)
        exporter.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, preexec_fn=small_files)
        self.addCleanup(exporter.stop)
        exporter._reader = threading.Thread(target=exporter._read, daemon=True)
        exporter._reader.start()
        exporter.port = int(exporter.wait_log(r"msg=listening .*\bport=(\d+)").group(1))
        exporter.wait_ready()

        def lift():
            # Raising the soft limit up to the hard one needs no privilege.
            resource.prlimit(exporter.proc.pid, resource.RLIMIT_FSIZE, (raised, raised))
        return exporter, lift

    def test_a_store_that_cannot_be_written_goes_unhealthy_and_recovers(self):
        exporter, lift = self.start_with_small_files(self.config)
        exporter.wait_log(r"msg=\"evidence store unhealthy; records wait in the queue\" "
                          r"err=\"write failed: write: File too large\"")
        text = exporter.metrics()
        self.assertEqual(harness.sample(text, "drift_evidence_store_healthy"), 0)
        self.assertGreaterEqual(harness.sample(text, "drift_evidence_write_errors_total",
                                               op="write"), 1)
        # The checks keep running and /metrics keeps serving.
        self.assertEqual(harness.sample(text, "drift_check_success", check="firewall"), 1)
        self.assertEqual(exporter.get("/-/healthy").status, 200)

        lift()
        harness.wait_for(lambda: harness.sample(exporter.metrics(),
                                                "drift_evidence_store_healthy") == 1,
                         30, "the store to recover; log:\n" + exporter.log(), interval=0.2)
        exporter.wait_log(r"msg=\"evidence store healthy again\"")
        # Attestations (every 2 s) fell due during the outage (the first retry is after 5 s):
        # counted, not silently skipped.
        missed = harness.sample(exporter.metrics(), "drift_evidence_dropped_records_total",
                                reason="store_unhealthy")
        self.assertGreaterEqual(missed, 1)
        self.assertEqual(harness.sample(exporter.metrics(), "drift_evidence_dropped_records_total",
                                        reason="queue_full"), 0)
        self.wait_record(exporter, "the attestation after the recovery", "--kind=attestation")
        exporter.stop()
        kinds = [r["record"]["kind"] for r in self.records()]
        self.assertEqual(kinds[0], "recovery")
        first = self.records("--kind=recovery")[0]["record"]["payload"]
        self.assertIn("write_failed", first["reasons"])
        self.assertEqual(first["failure"]["op"], "write")
        self.assertEqual(first["missed_attestations"]["count"], missed)
        self.assertLessEqual(first["failure"]["since"], first["missed_attestations"]["first_due"])
        self.assertLessEqual(first["missed_attestations"]["first_due"],
                             first["missed_attestations"]["last_due"])
        self.assertEqual(first["lost_records"], {"store_unhealthy": missed})
        self.assertIn("transition", kinds)
        self.assertExit(self.verify(), EXIT_OK)

    def test_with_alerting_an_unhealthy_store_alerts_and_drift_alerts_name_their_record(self):
        am = support.Recorder(self).start()
        config = support.write_config(self.demo, [am.url()], resend_interval="1s")
        exporter, lift = self.start_with_small_files(config)

        def evidence_alerts(reqs):
            return [a for a in support.posted_alerts(reqs)
                    if a["labels"]["alertname"] == "ComplianceEvidenceStoreUnhealthy"]
        firing = am.wait(evidence_alerts, 30, "ComplianceEvidenceStoreUnhealthy")[0]
        self.assertEqual(firing["labels"]["severity"], "critical")
        self.assertNotIn("check", firing["labels"])
        self.assertIn("File too large", firing["annotations"]["description"])
        # While the transition records wait in the queue, drift alerts name no record: the last
        # published one would be of an earlier state.
        drift = [a for a in support.posted_alerts(am.recorded())
                 if a["labels"]["alertname"] == "ComplianceDrift"]
        self.assertTrue(drift, "the demo's encryption check drifts from the start")
        self.assertNotIn("evidence_record_id", drift[0]["annotations"])

        lift()
        resolved = am.wait(lambda reqs: [a for a in evidence_alerts(reqs)
                                         if ends_passed(a)],
                           30, "ComplianceEvidenceStoreUnhealthy resolved")
        self.assertTrue(resolved)

        def named(reqs):
            return [a["annotations"]["evidence_record_id"] for a in support.posted_alerts(reqs)
                    if a["labels"]["alertname"] == "ComplianceDrift"
                    and "evidence_record_id" in a["annotations"]]
        record_id = am.wait(named, 30, "a drift alert naming its evidence record")[-1]
        exporter.stop()
        transitions = self.records("--check=encryption", "--kind=transition")
        self.assertEqual(record_id, transitions[-1]["id"])
        self.assertEqual(transitions[-1]["record"]["payload"]["to"], "drifted")

    def test_bad_input_exits_2_with_a_clear_message(self):
        keys = os.path.join(self.workdir, "keys")
        self.assertExit(self.cli("evidence", "keygen", f"--out-dir={keys}"), EXIT_OK)
        key = os.path.join(keys, "drift-evidence.key")
        self.assertEqual(os.stat(key).st_mode & 0o7777, 0o400)
        run = self.cli("evidence", "keygen", f"--out-dir={keys}")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr, f"evidence keygen: {key} already exists; not replacing a "
                                     "key\n")

        ssh = os.path.join(self.workdir, "id.pub")
        harness.write_file(ssh, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZvbw user@host\n")
        run = self.cli("evidence", "verify", f"--dir={self.workdir}", f"--public-key={ssh}")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr, f"evidence verify: public key file {ssh}: not a minisign "
                                     "public key: the key line must be base64 of 42 bytes\n")
        run = self.cli("evidence", "verify", f"--dir={self.workdir}/none",
                       f"--public-key={os.path.join(keys, 'drift-evidence.pub')}")
        self.assertExit(run, EXIT_USAGE)
        self.assertEqual(run.stderr, f"evidence verify: evidence directory {self.workdir}/none: "
                                     "No such file or directory\n")

        # A production-style config: the key must exist, be ours and be private.
        config = os.path.join(self.demo, "prod.yml")
        text = harness.read_file(self.config).replace("  create_key_if_missing: true\n", "")
        text = text.replace("data/keys/drift-evidence.key", key)
        harness.write_file(config, text)
        self.assertExit(self.cli(f"--config.file={config}", "--config.check"), EXIT_OK)
        os.chmod(key, 0o644)
        run = self.cli(f"--config.file={config}", "--config.check")
        self.assertExit(run, EXIT_USAGE)
        self.assertRegex(run.stderr, rf"^{re.escape(config)}:\d+:\d+: evidence.secret_key_file: "
                                     rf"secret key file {re.escape(key)} is accessible to its "
                                     r"group or others \(mode 0644\); run `chmod 600 "
                                     rf"{re.escape(key)}`$")
        os.chmod(key, 0o400)
        harness.write_file(config, text.replace(key, key + ".missing"))
        run = self.cli(f"--config.file={config}", "--web.listen-address=127.0.0.1:0")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("No such file or directory; create a key pair with `drift_exporter "
                      "evidence keygen --out-dir=DIR`", run.stderr)
        if os.geteuid() == 0:
            harness.write_file(config, text)
            os.chown(key, 65534, 65534)
            run = self.cli(f"--config.file={config}", "--web.listen-address=127.0.0.1:0")
            self.assertExit(run, EXIT_USAGE)
            self.assertEqual(run.stderr, f"{config}: evidence.secret_key_file: secret key file "
                                         f"{key} is owned by uid 65534, not by uid 0 that runs "
                                         "drift_exporter\n")
            os.chown(key, 0, 0)
            theirs = os.path.join(self.demo, "data", "evidence")
            os.makedirs(theirs, mode=0o750)
            os.chown(theirs, 65534, 65534)
            run = self.cli(f"--config.file={config}", "--web.listen-address=127.0.0.1:0")
            self.assertExit(run, EXIT_USAGE)
            self.assertEqual(run.stderr, f"{config}: evidence.directory: evidence directory "
                                         f"{theirs} is owned by uid 65534, not by uid 0 that "
                                         "runs drift_exporter; chown it to the exporter's user\n")

        # A record file that is not JSON: list names it, verify calls it an edited record.
        harness.write_file(config, text)
        os.makedirs(self.store, exist_ok=True)
        os.chown(self.store, os.geteuid(), os.getegid())
        exporter = harness.Exporter(self, config).start().wait_ready()
        self.wait_record(exporter, "some records", "--kind=transition")
        exporter.stop()
        victim = record_files(self.store)[1]
        harness.write_file(victim, "not json at all\n")
        run = self.cli("evidence", "list", f"--dir={self.store}")
        self.assertExit(run, EXIT_USAGE)
        self.assertIn("not a record: not valid JSON (run `drift_exporter evidence verify`)",
                      run.stderr)
        run = self.cli("evidence", "verify", f"--dir={self.store}",
                       f"--public-key={os.path.join(keys, 'drift-evidence.pub')}")
        self.assertExit(run, EXIT_FAILED)
        self.assertIn("; not a record: not valid JSON", run.stdout)


if __name__ == "__main__":
    harness.main()
