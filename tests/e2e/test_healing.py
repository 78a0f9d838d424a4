#!/usr/bin/env python3
"""Healing end to end (docs/healing.md), on a copy of the demo host whose stand-in systemctl really
changes its state, with the exporter's own alert source sending to a real Alertmanager that calls
the exporter's webhook with basic auth (a password file), as packaging/examples/alertmanager.yml
does, and a real Prometheus scraping it with the shipped rules (alerts/rules/drift.rules.yml)
alerting to the same Alertmanager:

- the logging service stopped -> ComplianceDrift -> webhook -> restarted at once (auto) ->
  compliant -> the alert resolves; every healing record verifies with `minisign` and with
  `drift_exporter evidence verify`;
- the firewall ruleset changed -> awaiting approval, the drifted state in evidence -> approved by
  an approver with `drift_exporter heal approve` -> restored -> compliant; meanwhile the rules'
  ComplianceHealingAwaitingApproval fires in Prometheus and reaches Alertmanager;
- a second firewall change rejected with `drift_exporter heal reject`, a third left to expire:
  nothing runs;
- encryption drift -> recorded as manual, nothing run;
- a runbook that does not fix its drift -> rolled back, ComplianceHealingFailed in Alertmanager;
  a drift back right after a heal -> a reconciliation loop: suspended, escalated (by the
  exporter and by the rules' ComplianceHealingFailed in Prometheus), `heal reset`;
- who may do what: no credentials 401, the webhook's caller cannot approve (403), version 3 is a
  400, 10 MB announced a 413;
- the exporter killed during a step: at the next start the action is interrupted, not re-run;
- with no Alertmanager at all, the alert source's own webhook delivery heals the same way;
- callers known by client certificate only (RequireAndVerifyClientCert, no basic-auth user):
  the certificates' SANs are the webhook caller and the approver the evidence records.
Approvals and listings go through `drift_exporter heal`.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alerting_support as support  # noqa: E402
import harness  # noqa: E402
import tls_support  # noqa: E402

WAIT = 30
HTPASSWD = shutil.which("htpasswd")
MINISIGN = shutil.which("minisign")
DEMO = os.path.join(harness.SOURCE_DIR, "packaging", "examples", "demo")
USERS = {"alertmanager": "am-secret", "alice": "alice-secret"}


def basic(user):
    return {"Authorization": "Basic " + base64.b64encode(
        f"{user}:{USERS[user]}".encode()).decode()}


def bcrypt_hash(user, password):
    run = subprocess.run([HTPASSWD, "-nbBC", "4", user, password], capture_output=True,
                         text=True, timeout=30, check=True)
    return run.stdout.strip().split(":", 1)[1]


class Demo:
    """A copy of the demo host, checked every second, alerting as `alerting` (the entries of the
    alerting: section) says, healing with authenticated callers: alertmanager may call the
    webhook, alice may approve."""

    def __init__(self, test, alerting, healing="", runbook_edit=("", ""), approvers=("alice",),
                 callers=("alertmanager",)):
        self.workdir = harness.make_workdir(test)
        self.dir = os.path.join(self.workdir, "demo")
        shutil.copytree(DEMO, self.dir, symlinks=True,
                        ignore=shutil.ignore_patterns("data", "demo.log"))
        subprocess.run([os.path.join(self.dir, "prepare.sh")], check=True, timeout=30)
        text = harness.read_file(os.path.join(self.dir, "config.yml"))
        text = text.replace("interval: 15s", "interval: 1s")
        head, rest = text.split("\nhealing:\n", 1)
        runbooks = rest[rest.index("\nrunbooks:\n"):]
        if runbook_edit[0]:
            assert runbook_edit[0] in runbooks, runbook_edit
            runbooks = runbooks.replace(*runbook_edit)
        self.config = os.path.join(self.dir, "config.yml")
        self.password_file = os.path.join(self.workdir, "am-password")
        harness.write_file(self.password_file, USERS["alertmanager"] + "\n")
        os.chmod(self.password_file, 0o600)  # a secret file others may read is refused
        harness.write_file(self.config, head + (
            "\nalerting:\n"
            f"{alerting(self.password_file)}"
            "  resend_interval: 2s\n"
            "healing:\n"
            f"  webhook_callers: [{', '.join(callers)}]\n"
            f"  approvers: [{', '.join(approvers)}]\n" + healing) + runbooks)
        self.password_files = {}
        for user, password in USERS.items():
            path = os.path.join(self.workdir, f"{user}.password")
            harness.write_file(path, password + "\n")
            os.chmod(path, 0o600)
            self.password_files[user] = path
        self.web = os.path.join(self.workdir, "web.yml")
        harness.write_file(self.web, "basic_auth_users:\n" + "".join(
            f"  {u}: {bcrypt_hash(u, p)}\n" for u, p in USERS.items()))
        self.units = os.path.join(self.dir, "host", "run", "demo-units")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def records(self, kind_prefix="healing_"):
        """(path, record) of every evidence record whose kind starts with kind_prefix."""
        out = []
        for folder, _, files in os.walk(self.path("data", "evidence")):
            for name in sorted(files):
                if name.endswith(".json"):
                    path = os.path.join(folder, name)
                    record = json.loads(harness.read_file(path))
                    if record["kind"].startswith(kind_prefix):
                        out.append((path, record))
        return sorted(out, key=lambda pr: pr[1]["seq"])


class Healing(unittest.TestCase):
    HEALING = ""  # extra healing: settings
    RUNBOOK_EDIT = ("", "")  # (text, replacement) in the demo's runbooks

    def setUp(self):
        for tool in (HTPASSWD, MINISIGN):
            if tool is None:
                self.fail("htpasswd and minisign are needed: packaging/deps.sh --test")
        # The Alertmanager's port first: the exporter alerts to it, it calls the exporter back.
        self.am_port = harness.free_port()
        self.demo = Demo(self, lambda _: (
            f"  alertmanagers: [{{url: \"http://127.0.0.1:{self.am_port}\"}}]\n"), self.HEALING,
            self.RUNBOOK_EDIT)
        self.exporter = harness.Exporter(self, self.demo.config,
                                         args=[f"--web.config.file={self.demo.web}"]).start()
        am = support.Alertmanager(self, self.demo.workdir, "am", "http://unused")
        am.port = self.am_port
        harness.write_file(am.config, (
            "route:\n"
            "  receiver: none\n"
            "  group_by: [alertname, check, instance]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 4h\n"
            "  routes:\n"
            "    - matchers: [alertname=\"ComplianceDrift\"]\n"
            "      receiver: heal\n"
            "receivers:\n"
            "  - name: none\n"
            "  - name: heal\n"
            "    webhook_configs:\n"
            f"      - url: {self.exporter.url('/api/v1/heal')}\n"
            "        send_resolved: true\n"
            "        http_config:\n"
            "          basic_auth:\n"
            "            username: alertmanager\n"
            f"            password_file: {self.demo.password_file}\n"))
        self.am = am.start()
        # A real Prometheus scraping the exporter as alice, with the shipped rules, alerting to
        # the same Alertmanager: the healing alerts of both sources.
        self.prometheus = harness.Prometheus(self, self.demo.workdir, [])
        harness.write_file(self.prometheus.config, (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: [{os.path.join(harness.SOURCE_DIR, 'alerts', 'rules', 'drift.rules.yml')}]\n"
            "alerting:\n  alertmanagers:\n"
            f"    - static_configs: [{{targets: ['127.0.0.1:{self.am_port}']}}]\n"
            "scrape_configs:\n  - job_name: drift\n"
            f"    basic_auth: {{username: alice, password_file: {self.demo.password_files['alice']}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{self.exporter.port}']}}]\n"))
        self.prometheus.start()
        self.wait_metric("drift_check_drifted", lambda v: v == 0, check="logging")

    def metric(self, name, **labels):
        return harness.sample(self.exporter.get("/metrics", headers=basic("alice")).text, name,
                              **labels)

    def wait_metric(self, name, predicate, timeout=WAIT, **labels):
        def check():
            value = self.metric(name, **labels)
            return value is not None and predicate(value)
        harness.wait_for(check, timeout, f"{name}{labels}; log:\n{self.exporter.log()}",
                         interval=0.1)

    def wait_prometheus_alert(self, alertname, **labels):
        """Waits until the shipped rules fire `alertname` in Prometheus and Alertmanager has it
        from Prometheus (source=prometheus)."""
        match = "".join(f',{k}="{v}"' for k, v in labels.items())
        harness.wait_for(lambda: self.prometheus.query(
            f'ALERTS{{alertname="{alertname}",alertstate="firing"{match}}}'), WAIT,
            f"{alertname} firing in Prometheus; log:\n{self.prometheus.log()}")
        self.am.wait_alerts(WAIT, f"{alertname} from Prometheus", alertname=alertname,
                            source="prometheus", **labels)

    def actions(self, user="alice"):
        r = self.exporter.get("/api/v1/heal/actions", headers=basic(user))
        self.assertEqual(r.status, 200, r.text)
        return json.loads(r.text)["actions"]

    def wait_action(self, check, status):
        def find():
            return [a for a in self.actions() if a["check"] == check and a["status"] == status]
        harness.wait_for(find, WAIT, f"an action for {check} that is {status}; actions: "
                                     f"{self.actions()}; log:\n{self.exporter.log()}")
        return find()[0]

    def heal(self, user, *args):
        """`drift_exporter heal ...` against this exporter, as `user`."""
        return harness.run_cli("heal", *args, f"--url={self.exporter.url('')}", f"--user={user}",
                               f"--password-file={self.demo.password_files[user]}")

    def drift_firewall(self):
        ruleset = self.demo.path("host", "etc", "nftables.conf")
        saved = harness.read_file(ruleset)
        harness.write_file(ruleset, saved.replace("tcp dport 22 accept",
                                                  "tcp dport 22 accept\n    tcp dport 23 accept"))
        return ruleset, saved

    def records(self, kind_prefix="healing_"):
        return self.demo.records(kind_prefix)

    def test_a_stopped_logging_service_is_restarted_and_every_step_is_signed(self):
        harness.write_file(os.path.join(self.demo.units, "systemd-journald.service"), "failed\n")
        action = self.wait_action("logging", "healed")
        self.assertEqual(action["runbook"], "restart_logging_services")
        self.assertEqual(action["requested_by"], "alertmanager")
        self.assertEqual(harness.read_file(os.path.join(self.demo.units,
                                                        "systemd-journald.service")), "active\n")
        self.wait_metric("drift_check_drifted", lambda v: v == 0, check="logging")
        self.assertEqual(self.metric("drift_healing_actions_total",
                                     runbook="restart_logging_services", outcome="healed"), 1)
        self.assertGreaterEqual(self.metric("drift_webhook_requests_total", code="200"), 1)
        # Alertmanager hears the drift is over.
        harness.wait_for(
            lambda: self.am.alerts(alertname="ComplianceDrift", check="logging") == [], WAIT,
            "the drift alert resolved in Alertmanager")

        kinds = [r["kind"] for _, r in self.records() if r["payload"]["action"]["id"] ==
                 action["id"]]
        self.assertEqual(kinds, ["healing_requested", "healing_decided", "healing_snapshot",
                                 "healing_step", "healing_verified", "healing_finished"])
        step = next(r for _, r in self.records("healing_step"))
        self.assertEqual(step["payload"]["step"]["argv"],
                         [self.demo.path("bin", "systemctl"), "restart",
                          "systemd-journald.service"])
        self.assertEqual(step["payload"]["step"]["output"]["exit_code"], 0)
        self.assertEqual(step["check"], "logging")
        self.assertIn("soc2:CC7.2", step["controls"])
        public_key = self.demo.path("data", "keys", "drift-evidence.pub")
        for path, _ in self.records():
            run = subprocess.run([MINISIGN, "-Vm", path, "-p", public_key], capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(run.returncode, 0, f"{path}: {run.stderr}")
        run = harness.run_cli("evidence", "verify", f"--config.file={self.demo.config}",
                              f"--public-key={public_key}", "--thorough")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_a_changed_firewall_waits_for_an_approver_then_is_restored(self):
        ruleset, saved = self.drift_firewall()
        action = self.wait_action("firewall", "awaiting_approval")
        self.wait_metric("drift_healing_pending_approvals", lambda v: v == 1)
        self.wait_prometheus_alert("ComplianceHealingAwaitingApproval")
        # The landing page and the check's page list it, with the command that approves it.
        for page in ("/", "/checks/firewall"):
            text = self.exporter.get(page, headers=basic("alice")).text
            self.assertIn(f"<code>drift_exporter heal approve {action['id']}</code>", text)
        snapshot = [r for _, r in self.records("healing_snapshot")
                    if r["payload"]["action"]["id"] == action["id"]]
        self.assertEqual(len(snapshot), 1)
        findings = snapshot[0]["payload"]["check_reading"]["state"]["findings"]
        self.assertIn("rule_added", [f["cause"] for f in findings])
        self.assertEqual(harness.read_file(ruleset).count("dport 23"), 1)  # nothing ran yet

        listed = self.heal("alice", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, rf"{action['id']} +awaiting_approval +firewall")
        # The webhook's caller is no approver.
        refused = self.heal("alertmanager", "approve", action["id"])
        self.assertEqual(refused.returncode, 1)
        self.assertIn("HTTP 403: alertmanager may not approve", refused.stderr)
        approved = self.heal("alice", "approve", action["id"])
        self.assertEqual(approved.returncode, 0, approved.stderr)
        self.assertIn(f"approved {action['id']}", approved.stdout)
        self.wait_action("firewall", "healed")
        self.assertEqual(harness.read_file(ruleset), saved)
        self.wait_metric("drift_check_drifted", lambda v: v == 0, check="firewall")
        again = self.heal("alice", "approve", action["id"])
        self.assertEqual(again.returncode, 1)
        self.assertIn("HTTP 409", again.stderr)
        approval = [r for _, r in self.records("healing_approved")]
        self.assertEqual(approval[0]["actor"], "alice")

    def test_a_rejected_action_changes_nothing(self):
        ruleset, _ = self.drift_firewall()
        action = self.wait_action("firewall", "awaiting_approval")
        rejected = self.heal("alice", "reject", action["id"], "--reason=change window is Friday")
        self.assertEqual(rejected.returncode, 0, rejected.stderr)
        a = self.wait_action("firewall", "rejected")
        self.assertEqual(a["reason"], "rejected by alice: change window is Friday")
        self.assertEqual(harness.read_file(ruleset).count("dport 23"), 1)
        self.assertEqual(self.records("healing_step"), [])

    def test_encryption_drift_is_recorded_as_manual(self):
        # The demo's encryption check drifts from the start.
        action = self.wait_action("encryption", "manual")
        self.assertEqual(action["runbook"], "enable_volume_encryption")
        self.assertEqual(self.records("healing_step"), [])

    def test_the_api_demands_credentials(self):
        self.assertEqual(self.exporter.post("/api/v1/heal", body=b"{}").status, 401)
        # The CLI puts only plain names into a URL, and takes credentials whole.
        for args in (["approve", "../x"], ["reject", "a1?x=1"], ["reset", "fire wall"]):
            run = harness.run_cli("heal", *args, f"--url={self.exporter.url('')}")
            self.assertEqual(run.returncode, 2, run.stderr)
        run = harness.run_cli("heal", "list", f"--url={self.exporter.url('')}", "--user=alice")
        self.assertEqual((run.returncode, run.stderr.strip()),
                         (2, "--user and --password-file go together"))
        run = harness.run_cli("heal", "list", f"--url={self.exporter.url('')}")
        self.assertEqual(run.returncode, 1)
        self.assertIn("HTTP 401", run.stderr)
        wrong = {"Authorization": "Basic " + base64.b64encode(b"alertmanager:nope").decode()}
        self.assertEqual(self.exporter.post("/api/v1/heal", body=b"{}", headers=wrong).status,
                         401)
        r = self.exporter.post("/api/v1/heal", body=b'{"version":"3"}',
                               headers=basic("alertmanager"))
        self.assertEqual(r.status, 400, r.text)
        self.assertIn("unsupported webhook message version", r.text)
        # 10 MB announced: refused on its Content-Length, before a byte of it is read.
        auth = basic("alertmanager")["Authorization"]
        answer = harness.raw_request(self.exporter.port, (
            "POST /api/v1/heal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: {auth}\r\nContent-Length: {10 << 20}\r\n\r\n").encode())
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.assertEqual(self.actions(), [a for a in self.actions()
                                          if a["check"] == "encryption"])


class ApprovalExpiry(Healing):
    """Nobody approves: the action expires and nothing runs."""
    HEALING = "  approval_expiry: 5s\n"

    def test_an_unapproved_action_expires(self):
        ruleset, _ = self.drift_firewall()
        self.wait_action("firewall", "awaiting_approval")
        a = self.wait_action("firewall", "expired")
        self.assertIn("nobody approved it by", a["reason"])
        self.assertEqual(harness.read_file(ruleset).count("dport 23"), 1)
        self.assertEqual(self.records("healing_step"), [])
        self.wait_metric("drift_healing_pending_approvals", lambda v: v == 0)

    # The other tests of Healing run once, in that class.
    test_a_changed_firewall_waits_for_an_approver_then_is_restored = None
    test_a_rejected_action_changes_nothing = None
    test_a_stopped_logging_service_is_restarted_and_every_step_is_signed = None
    test_encryption_drift_is_recorded_as_manual = None
    test_the_api_demands_credentials = None


class RunbooksThatDoNotHold(Healing):
    """A runbook that does not fix its drift is rolled back and escalates; a drift that comes back
    right after a heal is a reconciliation loop: healing of the check stops, and escalates."""
    # restart_av_service restarts the wrong unit: the antivirus stays failed.
    RUNBOOK_EDIT = ("restart, clamav-daemon.service]",
                    "restart, clamav-daemon-old.service]\n    rollback:\n"
                    "      - argv: [bin/systemctl, stop, clamav-daemon-old.service]")

    def test_a_runbook_that_does_not_fix_the_drift_is_rolled_back(self):
        harness.write_file(os.path.join(self.demo.units, "clamav-daemon.service"), "failed\n")
        a = self.wait_action("antivirus", "failed")
        self.assertIn("the check still drifts", a["reason"])
        self.assertTrue(a["reason"].endswith("; rolled back"), a["reason"])
        self.assertEqual(harness.read_file(os.path.join(self.demo.units,
                                                        "clamav-daemon-old.service")),
                         "inactive\n")  # the rollback ran
        kinds = [r["kind"] for _, r in self.records() if r["payload"]["action"]["id"] == a["id"]]
        self.assertEqual(kinds[-3:], ["healing_verified", "healing_rollback_step",
                                      "healing_finished"])
        failed = self.am.wait_alerts(WAIT, "ComplianceHealingFailed for antivirus",
                                     alertname="ComplianceHealingFailed", check="antivirus")
        self.assertEqual(failed[0]["labels"]["severity"], "high")

    def test_a_drift_back_right_after_a_heal_suspends_healing(self):
        journald = os.path.join(self.demo.units, "systemd-journald.service")
        harness.write_file(journald, "failed\n")
        self.wait_action("logging", "healed")
        self.wait_metric("drift_check_drifted", lambda v: v == 0, check="logging")
        harness.write_file(journald, "failed\n")  # back within the cooldown (15m)
        skipped = self.wait_action("logging", "skipped")
        self.assertIn("a reconciliation loop", skipped["reason"])
        self.wait_metric("drift_healing_suspended", lambda v: v == 1, check="logging")
        self.assertEqual(harness.read_file(journald), "failed\n")  # not restarted again
        self.am.wait_alerts(WAIT, "ComplianceHealingFailed for logging",
                            alertname="ComplianceHealingFailed", check="logging")
        self.wait_prometheus_alert("ComplianceHealingFailed", check="logging")
        reset = self.heal("alice", "reset", "logging")
        self.assertEqual(reset.returncode, 0, reset.stderr)
        self.wait_metric("drift_healing_suspended", lambda v: v == 0, check="logging")

    test_a_changed_firewall_waits_for_an_approver_then_is_restored = None
    test_a_rejected_action_changes_nothing = None
    test_a_stopped_logging_service_is_restarted_and_every_step_is_signed = None
    test_encryption_drift_is_recorded_as_manual = None
    test_the_api_demands_credentials = None


class KilledMidRunbook(Healing):
    """The exporter killed while a step runs: at the next start the action is recorded as
    interrupted and escalated, and nothing runs again by itself."""
    # The logging runbook's first step takes a while: time to kill the exporter in it.
    RUNBOOK_EDIT = ("      - argv: [bin/systemctl, restart, systemd-journald.service]\n",
                    "      - argv: [/bin/sleep, \"30\"]\n"
                    "      - argv: [bin/systemctl, restart, systemd-journald.service]\n")

    def test_an_action_cut_short_is_interrupted_not_rerun(self):
        journald = os.path.join(self.demo.units, "systemd-journald.service")
        harness.write_file(journald, "failed\n")
        running = self.wait_action("logging", "running")
        self.exporter.signal(signal.SIGKILL)
        self.exporter.proc.wait(timeout=10)
        self.exporter = harness.Exporter(self, self.demo.config,
                                         args=[f"--web.config.file={self.demo.web}"]).start()
        a = self.wait_action("logging", "interrupted")
        self.assertEqual(a["id"], running["id"])
        self.assertIn("not re-run", a["reason"])
        self.assertEqual(harness.read_file(journald), "failed\n")  # the second step never ran
        self.assertEqual([r["payload"]["action"]["id"] for _, r in self.records(
            "healing_interrupted")], [running["id"]])
        self.wait_metric("drift_healing_actions_total", lambda v: v == 1,
                         runbook="restart_logging_services", outcome="interrupted")

    test_a_changed_firewall_waits_for_an_approver_then_is_restored = None
    test_a_rejected_action_changes_nothing = None
    test_a_stopped_logging_service_is_restarted_and_every_step_is_signed = None
    test_encryption_drift_is_recorded_as_manual = None
    test_the_api_demands_credentials = None


class WithoutAlertmanager(unittest.TestCase):
    """The exporter's alert source delivers the webhook message itself, to its own healing
    endpoint: a single host heals with no Alertmanager at all."""

    def test_the_alert_source_calls_the_webhook_itself(self):
        port = harness.free_port()
        demo = Demo(self, lambda password_file: (
            "  webhooks:\n"
            f"    - url: http://127.0.0.1:{port}/api/v1/heal\n"
            "      receiver: self\n"
            "      basic_auth:\n"
            "        username: alertmanager\n"
            f"        password_file: {password_file}\n"))
        exporter = harness.Exporter(self, demo.config, listen=f"127.0.0.1:{port}",
                                    args=[f"--web.config.file={demo.web}"]).start()
        metrics = lambda: exporter.get("/metrics", headers=basic("alice")).text  # noqa: E731
        harness.wait_for(lambda: harness.sample(metrics(), "drift_check_drifted",
                                                check="logging") == 0,
                         WAIT, "the first run")
        harness.write_file(os.path.join(demo.units, "systemd-journald.service"), "failed\n")

        def healed():
            r = exporter.get("/api/v1/heal/actions", headers=basic("alice"))
            return [a for a in json.loads(r.text)["actions"]
                    if a["check"] == "logging" and a["status"] == "healed"]
        harness.wait_for(healed, WAIT, f"logging healed; log:\n{exporter.log()}")
        action = healed()[0]
        self.assertEqual(action["alert"]["receiver"], "self")
        self.assertEqual(action["requested_by"], "alertmanager")
        self.assertEqual(harness.read_file(os.path.join(demo.units, "systemd-journald.service")),
                         "active\n")
        # The encryption drift and the logging drift, each delivered as one message.
        url = f"http://127.0.0.1:{port}/api/v1/heal"
        harness.wait_for(lambda: (harness.sample(metrics(), "drift_alerts_sent_total",
                                                 alertmanager=url, outcome="success") or 0) >= 2,
                         WAIT, "two alerts sent to the webhook")


class CertificateApprover(unittest.TestCase):
    """Callers known by client certificates only: the exporter serves HTTPS with
    RequireAndVerifyClientCert and no basic-auth users; its alert source calls its own webhook
    presenting alertmanager.test's certificate (webhook_callers), and `drift_exporter heal`
    presents approver.test's (approvers)."""

    def setUp(self):
        if tls_support.OPENSSL is None:
            self.fail("openssl is needed: packaging/deps.sh --test")
        self.pki = tls_support.Pki(harness.make_workdir(self))
        self.pki.ca("ca", "drift test CA")
        self.pki.issue("server", "ca", tls_support.server_extensions())
        for name in ("alertmanager", "approver", "stranger"):
            self.pki.issue(name, "ca", tls_support.client_extensions(f"{name}.test"))
        port = harness.free_port()
        self.url = f"https://127.0.0.1:{port}"
        self.demo = Demo(self, lambda _: (
            "  webhooks:\n"
            f"    - url: {self.url}/api/v1/heal\n"
            f"      ca_file: {self.pki.path('ca.crt')}\n"
            f"      cert_file: {self.pki.path('alertmanager.crt')}\n"
            f"      key_file: {self.pki.path('alertmanager.key')}\n"),
            approvers=("approver.test",), callers=("alertmanager.test",))
        harness.write_file(self.demo.web, (
            "tls_server_config:\n"
            f"  cert_file: {self.pki.path('server.crt')}\n"
            f"  key_file: {self.pki.path('server.key')}\n"
            "  client_auth_type: RequireAndVerifyClientCert\n"
            f"  client_ca_file: {self.pki.path('ca.crt')}\n"))
        self.exporter = harness.Exporter(self, self.demo.config, listen=f"127.0.0.1:{port}",
                                         args=[f"--web.config.file={self.demo.web}"]).start()

    def heal(self, cert, *args, url=None):
        return harness.run_cli("heal", *args, f"--url={url or self.url}",
                               f"--ca-file={self.pki.path('ca.crt')}",
                               f"--cert-file={self.pki.path(cert + '.crt')}",
                               f"--key-file={self.pki.path(cert + '.key')}")

    def listed(self, status):
        run = self.heal("approver", "list", "--format=json")
        self.assertEqual(run.returncode, 0, run.stderr)
        return [a for a in json.loads(run.stdout)["actions"]
                if a["check"] == "firewall" and a["status"] == status]

    def test_the_certificate_names_the_approver_in_the_evidence(self):
        ruleset = self.demo.path("host", "etc", "nftables.conf")
        saved = harness.read_file(ruleset)
        harness.write_file(ruleset, saved.replace("tcp dport 22 accept",
                                                  "tcp dport 22 accept\n    tcp dport 23 accept"))
        harness.wait_for(lambda: self.listed("awaiting_approval"), WAIT,
                         f"the firewall action awaiting approval; log:\n{self.exporter.log()}")
        action = self.listed("awaiting_approval")[0]
        self.assertEqual(action["requested_by"], "alertmanager.test")

        stranger = self.heal("stranger", "approve", action["id"])
        self.assertEqual(stranger.returncode, 1, stranger.stderr)
        self.assertIn("HTTP 403: stranger.test may not approve", stranger.stderr)
        approved = self.heal("approver", "approve", action["id"])
        self.assertEqual(approved.returncode, 0, approved.stderr)
        harness.wait_for(lambda: self.listed("healed"), WAIT,
                         f"the firewall healed; log:\n{self.exporter.log()}")
        self.assertEqual(harness.read_file(ruleset), saved)
        self.assertEqual([r["actor"] for _, r in self.demo.records("healing_approved")],
                         ["approver.test"])

    def test_half_or_unreadable_credentials_are_refused_before_any_request(self):
        ca, cert, key = (self.pki.path(n) for n in ("ca.crt", "approver.crt", "approver.key"))
        for flags, message in (
                ([f"--cert-file={cert}"], "--cert-file and --key-file go together"),
                ([f"--key-file={key}"], "--cert-file and --key-file go together"),
                ([f"--cert-file={cert}", f"--key-file={key}x"],
                 f"--key-file: cannot read {key}x: No such file or directory")):
            run = harness.run_cli("heal", "list", f"--url={self.url}", f"--ca-file={ca}", *flags)
            self.assertEqual((run.returncode, run.stderr.strip()), (2, message))
        # A key others may read is refused as the exporter refuses such a secret.
        shared = self.pki.path("shared.key")
        shutil.copy(key, shared)
        os.chmod(shared, 0o644)
        run = harness.run_cli("heal", "list", f"--url={self.url}", f"--ca-file={ca}",
                              f"--cert-file={cert}", f"--key-file={shared}")
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertIn(f"--key-file: {shared} is readable by its group or others (mode 0644)",
                      run.stderr)
        run = self.heal("approver", "list", url=self.url.replace("https:", "http:"))
        self.assertEqual((run.returncode, run.stderr.strip()),
                         (2, "--cert-file needs an https:// --url"))


if __name__ == "__main__":
    harness.main()
