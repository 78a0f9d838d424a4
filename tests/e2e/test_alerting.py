#!/usr/bin/env python3
"""The exporter as an alert source (docs/alerting.md), end to end on 127.0.0.1:

- real Alertmanagers (clustering off, group_wait 1s) receive ComplianceDrift and
  ComplianceCheckFailing from the `alerting` fixture host, with the expected labels, and their
  webhook delivers the v4 payload, then `resolved` once the fixture is fixed;
- two Alertmanagers both receive, and one stopped and restarted gets the alert again;
- a real Prometheus with alerts/rules/drift.rules.yml fires ComplianceDrift into Alertmanager,
  and with both paths on the inhibit rule of packaging/examples/alertmanager.yml leaves one
  notification;
- faults, against a fake Alertmanager: 400/422 with a body, 500, 503, a hang past the timeout,
  connection refused, a wrong CA, a path prefix, authentication, an outage with a tiny queue;
- bad alerting configs exit 2 with file:line:col.
"""

import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alerting_support as support  # noqa: E402
import harness  # noqa: E402

WAIT = 30  # seconds for anything that should take a few


def metric(exporter, name, **labels):
    return harness.sample(exporter.metrics(), name, **labels)


def wait_metric(exporter, name, predicate, what, timeout=WAIT, **labels):
    def check():
        value = metric(exporter, name, **labels)
        return value is not None and predicate(value)
    harness.wait_for(check, timeout, f"{name}{labels} {what}; log:\n{exporter.log()}",
                     interval=0.1)
    return metric(exporter, name, **labels)


class Fixture:
    """A copy of tests/fixtures/e2e/alerting in a temporary folder."""

    def __init__(self, test):
        self.workdir = harness.make_workdir(test)
        self.root = harness.copy_fixture("alerting", self.workdir)
        support.fix_sshd(self.root)  # git does not keep modes other than +x


class RealAlertmanager(unittest.TestCase):
    def test_alerts_reach_alertmanager_and_its_webhook_then_resolve(self):
        fx = Fixture(self)
        hook = support.Recorder(self).start()
        am = support.Alertmanager(self, fx.workdir, "am", hook.url("/hook")).start()
        config = support.write_config(
            fx.root, [am.url()], resend_interval="1s", instance="fixture-host",
            external_labels="{env: e2e}",
            runbook_url="'https://runbooks.test/{{alertname}}/{{check}}'")
        # No --web.external-url: the links name the address listened on, not the host name.
        exporter = harness.Exporter(self, config,
                                    listen=f"127.0.0.1:{harness.free_port()}").start()
        exporter.wait_ready()
        check_page = exporter.url("/checks/sshd")

        # vault cannot run from the start: ComplianceCheckFailing; sshd is compliant.
        failing = am.wait_alerts(WAIT, "ComplianceCheckFailing", alertname="ComplianceCheckFailing")
        self.assertEqual(failing[0]["labels"], {
            "alertname": "ComplianceCheckFailing", "check": "vault", "env": "e2e",
            "instance": "fixture-host", "severity": "medium"})
        self.assertEqual(failing[0]["annotations"]["description"], "/srv/vault: not a regular file")
        self.assertEqual(am.alerts(alertname="ComplianceDrift"), [])

        support.drift_sshd(fx.root)
        drift = am.wait_alerts(WAIT, "ComplianceDrift", alertname="ComplianceDrift")
        self.assertEqual(len(drift), 1)
        a = drift[0]
        self.assertEqual(a["labels"], {
            "alertname": "ComplianceDrift", "check": "sshd", "env": "e2e",
            "instance": "fixture-host", "severity": "high"})
        self.assertEqual(a["annotations"], {
            "summary": "Check sshd drifted from its baseline on fixture-host",
            "description": "mode_changed: observed 0666, expected 0644",
            "recommended_action": "restore_file_baseline",
            "controls": "hipaa:164.312(c)(1);pci_dss:11.5.2",
            "runbook_url": "https://runbooks.test/ComplianceDrift/sshd"})
        self.assertEqual(a["generatorURL"], check_page)
        self.assertEqual(a["status"]["state"], "active")
        # On-call clicks it: the check's page, with the finding.
        page = harness.http("GET", a["generatorURL"])
        self.assertEqual(page.status, 200)
        self.assertIn("mode_changed", page.text)

        # Alertmanager's webhook delivers the v4 payload to the receiver.
        notes = hook.wait(lambda reqs: support.webhook_alerts(reqs, "ComplianceDrift", "firing"),
                          WAIT, "a firing ComplianceDrift webhook")
        payload = next(r.json() for r in hook.recorded()
                       if support.webhook_alerts([r], "ComplianceDrift"))
        self.assertEqual(payload["version"], "4")
        self.assertEqual(payload["status"], "firing")
        self.assertEqual(payload["receiver"], "hook")
        self.assertEqual(payload["groupLabels"], {
            "alertname": "ComplianceDrift", "check": "sshd", "instance": "fixture-host"})
        self.assertEqual(payload["commonLabels"]["severity"], "high")
        status, alert = notes[0]
        self.assertEqual(alert["labels"]["check"], "sshd")
        self.assertEqual(alert["generatorURL"], check_page)

        # Fixing the fixture delivers `resolved`, for the drift and for the failing check.
        support.fix_sshd(fx.root)
        support.fix_vault(fx.root)
        hook.wait(lambda reqs: support.webhook_alerts(reqs, "ComplianceDrift", "resolved"),
                  WAIT, "a resolved ComplianceDrift webhook")
        hook.wait(lambda reqs: support.webhook_alerts(reqs, "ComplianceCheckFailing",
                                                      "resolved"),
                  WAIT, "a resolved ComplianceCheckFailing webhook")
        harness.wait_for(lambda: am.alerts() == [], WAIT, "no active alerts in Alertmanager")

        text = exporter.metrics()
        self.assertGreater(harness.sample(text, "drift_alerts_sent_total",
                                          alertmanager=am.url(), outcome="success"), 0)
        self.assertEqual(harness.sample(text, "drift_alerts_sent_total",
                                        alertmanager=am.url(), outcome="rejected"), 0)
        self.assertEqual(harness.sample(text, "drift_alerts_dropped_total",
                                        alertmanager=am.url()), 0)
        self.assertEqual(harness.sample(text, "drift_alerts_active",
                                        alertname="ComplianceDrift"), 0)
        self.assertGreater(harness.sample(text, "drift_alertmanager_last_success_timestamp_seconds",
                                          alertmanager=am.url()), time.time() - 60)


    def test_two_alertmanagers_both_receive_and_a_restarted_one_catches_up(self):
        fx = Fixture(self)
        hook = support.Recorder(self).start()
        am1 = support.Alertmanager(self, fx.workdir, "am1", hook.url("/hook")).start()
        am2 = support.Alertmanager(self, fx.workdir, "am2", hook.url("/hook")).start()
        config = support.write_config(fx.root, [am1.url(), am2.url()], resend_interval="1s",
                                      instance="fixture-host")
        exporter = harness.Exporter(self, config,
                                    ["--web.external-url=https://web1.example.com/drift/"])
        exporter.start().wait_ready()
        support.drift_sshd(fx.root)
        for am in (am1, am2):
            got = am.wait_alerts(WAIT, "ComplianceDrift", alertname="ComplianceDrift")
            self.assertEqual(got[0]["labels"]["check"], "sshd")
            self.assertEqual(got[0]["generatorURL"], "https://web1.example.com/drift/checks/sshd")

        # am2 goes away: its sends fail and are retried; am1 keeps receiving.
        am2.stop()
        wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 2, "to count failures",
                    alertmanager=am2.url(), outcome="error")
        before = metric(exporter, "drift_alerts_sent_total", alertmanager=am1.url(),
                        outcome="success")
        for _ in range(10):
            self.assertLessEqual(metric(exporter, "drift_alerts_queue_length",
                                        alertmanager=am2.url()), 10000)
            time.sleep(0.2)
        self.assertGreater(metric(exporter, "drift_alerts_sent_total", alertmanager=am1.url(),
                                  outcome="success"), before, "am1 is not held up by am2")

        # Back on the same port with an empty state: the alert reaches it again.
        am2.start()
        got = am2.wait_alerts(WAIT, "ComplianceDrift after the restart",
                              alertname="ComplianceDrift")
        self.assertEqual(got[0]["labels"], {"alertname": "ComplianceDrift", "check": "sshd",
                                            "instance": "fixture-host", "severity": "high"})
        exporter.wait_log(r'msg="alerts delivered to Alertmanager again" alertmanager='
                          + re.escape(am2.url()))
        self.assertEqual(metric(exporter, "drift_alerts_dropped_total", alertmanager=am2.url()),
                         0)


# The inhibit rule of the example Alertmanager configuration: its last section.
EXAMPLE_ALERTMANAGER = os.path.join(harness.SOURCE_DIR, "packaging", "examples",
                                    "alertmanager.yml")
RULES = os.path.join(harness.SOURCE_DIR, "alerts", "rules", "drift.rules.yml")


def example_inhibit_rules():
    text = harness.read_file(EXAMPLE_ALERTMANAGER)
    start = text.index("\ninhibit_rules:")
    return text[start + 1:]


class PrometheusRules(unittest.TestCase):
    """A real Prometheus evaluating alerts/rules/drift.rules.yml on the exporter's metrics and
    sending to a real Alertmanager."""

    def prometheus(self, workdir, exporter, am, instance=None):
        prom = harness.Prometheus(self, workdir, [f"127.0.0.1:{exporter.port}"])
        relabel = ""
        if instance:
            relabel = ("    relabel_configs:\n"
                       f"      - {{target_label: instance, replacement: {instance}}}\n")
        harness.write_file(prom.config, (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: [{RULES}]\n"
            "alerting:\n  alertmanagers:\n"
            f"    - static_configs: [{{targets: ['127.0.0.1:{am.port}']}}]\n"
            "scrape_configs:\n"
            "  - job_name: drift\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n" + relabel))
        return prom.start()

    def test_rules_fire_compliance_drift_into_alertmanager(self):
        fx = Fixture(self)
        hook = support.Recorder(self).start()
        am = support.Alertmanager(self, fx.workdir, "am", hook.url("/hook")).start()
        # No `alerting:` section: Prometheus is the only alert source.
        exporter = harness.Exporter(self, os.path.join(fx.root, "config.yml"),
                                    listen=f"127.0.0.1:{harness.free_port()}").start()
        exporter.wait_ready()
        prom = self.prometheus(fx.workdir, exporter, am)
        support.drift_sshd(fx.root)
        target = f"127.0.0.1:{exporter.port}"
        try:
            notes = hook.wait(
                lambda reqs: support.webhook_alerts(reqs, "ComplianceDrift", "firing"), 60,
                "ComplianceDrift from Prometheus at the webhook")
        except AssertionError:
            print("Prometheus log:\n" + prom.log())
            raise
        _, alert = notes[0]
        self.assertEqual(alert["labels"], {
            "alertname": "ComplianceDrift", "check": "sshd", "instance": target,
            "job": "drift", "severity": "high", "source": "prometheus"})
        self.assertEqual(alert["annotations"]["recommended_action"], "restore_file_baseline")
        self.assertEqual(alert["annotations"]["controls"], "hipaa:164.312(c)(1);pci_dss:11.5.2")
        # The description ends with the check's page, taken from drift_exporter_external_url_info
        # (the default: the address listened on); on-call clicks it.
        link = alert["annotations"]["description"].split()[-1]
        self.assertEqual(link, exporter.url("/checks/sshd"))
        page = harness.http("GET", link)
        self.assertEqual(page.status, 200)
        self.assertIn("mode_changed", page.text)
        failing = am.wait_alerts(WAIT, "ComplianceCheckFailing from Prometheus",
                                 alertname="ComplianceCheckFailing")
        self.assertEqual(failing[0]["labels"], {
            "alertname": "ComplianceCheckFailing", "check": "vault", "instance": target,
            "job": "drift", "severity": "medium", "source": "prometheus"})

    def test_both_paths_on_notify_once(self):
        fx = Fixture(self)
        hook = support.Recorder(self).start()
        am = support.Alertmanager(self, fx.workdir, "am", hook.url("/hook"),
                                  extra=example_inhibit_rules()).start()
        config = support.write_config(fx.root, [am.url()], resend_interval="1s",
                                      instance="fixture-host")
        exporter = harness.Exporter(self, config, listen=f"127.0.0.1:{harness.free_port()}")
        exporter.start().wait_ready()
        # Prometheus labels the target as the exporter labels itself, so `equal` can match.
        self.prometheus(fx.workdir, exporter, am, instance="fixture-host")
        support.drift_sshd(fx.root)

        def both():
            alerts = am.alerts(alertname="ComplianceDrift")
            return alerts if len(alerts) == 2 else None
        alerts = harness.wait_for(both, 60, "ComplianceDrift from both sources")
        by_source = {a["labels"].get("source", "exporter"): a for a in alerts}
        self.assertEqual(by_source["exporter"]["status"]["state"], "active")
        self.assertEqual(by_source["prometheus"]["status"]["state"], "suppressed")
        self.assertEqual(by_source["prometheus"]["status"]["inhibitedBy"],
                         [by_source["exporter"]["fingerprint"]])
        # Both link to the same page, though Prometheus' instance label has lost the port.
        self.assertEqual(by_source["exporter"]["generatorURL"], exporter.url("/checks/sshd"))
        self.assertEqual(by_source["prometheus"]["annotations"]["description"].split()[-1],
                         exporter.url("/checks/sshd"))
        time.sleep(3)  # several group intervals: a second notification would have gone out
        notes = support.webhook_alerts(hook.recorded(), "ComplianceDrift")
        self.assertTrue(notes)
        self.assertEqual({a["labels"].get("source", "exporter") for _, a in notes}, {"exporter"})


class Faults(unittest.TestCase):
    """A fake Alertmanager (tests/e2e/alerting_support.Recorder) that misbehaves. sshd drifts
    from the first run, so alerts are sent at start-up."""

    def exporter(self, alertmanagers, **settings):
        fx = Fixture(self)
        support.drift_sshd(fx.root)
        settings.setdefault("resend_interval", "1s")
        config = support.write_config(fx.root, alertmanagers, **settings)
        return harness.Exporter(self, config).start()

    def test_client_errors_are_logged_with_their_body_and_dropped(self):
        for status in (400, 422):
            with self.subTest(status=status):
                body = b'{"code":%d,"message":"bad alert"}' % status
                am = support.Recorder(self, lambda req, s=status, b=body: (s, b, 0)).start()
                exporter = self.exporter([am.url()])
                exporter.wait_log(
                    r'level=error msg="Alertmanager rejected alerts; dropping them" '
                    + re.escape(f"alertmanager={am.url()} status={status} ")
                    + r'alerts=\d+ body="\{\\"code\\":' + str(status)
                    + r',\\"message\\":\\"bad alert\\"\}"')
                wait_metric(exporter, "drift_alerts_dropped_total", lambda v: v >= 1,
                            "to count the rejected alerts", alertmanager=am.url())
                wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1,
                            "to count rejections", alertmanager=am.url(), outcome="rejected")
                self.assertEqual(metric(exporter, "drift_alerts_sent_total",
                                        alertmanager=am.url(), outcome="error"), 0)
                exporter.stop()

    def test_server_errors_are_retried_until_accepted(self):
        for status in (500, 503):
            with self.subTest(status=status):
                count = {"n": 0}

                def respond(req, s=status, count=count):
                    count["n"] += 1
                    return (s, b"try later", 0) if count["n"] <= 2 else (200, b"", 0)
                am = support.Recorder(self, respond).start()
                exporter = self.exporter([am.url()])
                am.wait(lambda reqs: [a for a in support.posted_alerts(reqs[2:])
                                      if a["labels"]["alertname"] == "ComplianceDrift"],
                        WAIT, "ComplianceDrift accepted after the errors")
                exporter.wait_log(r'msg="cannot send alerts to Alertmanager; will retry".*'
                                  + f'err="HTTP {status}: try later"')
                wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1,
                            "to count successes", alertmanager=am.url(), outcome="success")
                self.assertGreaterEqual(metric(exporter, "drift_alerts_sent_total",
                                               alertmanager=am.url(), outcome="error"), 2)
                self.assertEqual(metric(exporter, "drift_alerts_dropped_total",
                                        alertmanager=am.url()), 0)
                exporter.stop()

    def test_a_hang_past_the_timeout_is_retried_and_blocks_nothing(self):
        count = {"n": 0}

        def respond(req):
            count["n"] += 1
            return (200, b"", 4 if count["n"] == 1 else 0)
        am = support.Recorder(self, respond).start()
        exporter = self.exporter([{"url": am.url(), "timeout": "1500ms"}])
        # While the first POST hangs, /metrics answers at once and checks keep running.
        time.sleep(0.3)
        runs = metric(exporter, "drift_check_last_run_timestamp_seconds", check="sshd")
        response = exporter.get("/metrics")
        self.assertEqual(response.status, 200)
        self.assertLess(response.seconds, 0.5)
        wait_metric(exporter, "drift_check_last_run_timestamp_seconds", lambda v: v > runs,
                    "to advance while alerting hangs", check="sshd")
        exporter.wait_log(r'msg="cannot send alerts to Alertmanager; will retry".*'
                          r'err="POST .*/api/v2/alerts: Timeout was reached')
        reqs = am.wait(lambda r: r if len(r) >= 2 else None, WAIT, "the retry")
        first, second = sorted(reqs, key=lambda r: r.time)[:2]
        self.assertLess(second.time - first.time, 3.5, "the exporter gave up at its timeout")
        wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1, "after the retry",
                    alertmanager=am.url(), outcome="success")

    def test_connection_refused_is_retried(self):
        url = f"http://127.0.0.1:{harness.free_port()}"
        exporter = self.exporter([url])
        wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1, "to count errors",
                    alertmanager=url, outcome="error")
        exporter.wait_log(r"msg=\"cannot send alerts to Alertmanager; will retry\".*"
                          r"Couldn't connect to server")
        queued = metric(exporter, "drift_alerts_queue_length", alertmanager=url)
        self.assertTrue(0 <= queued <= 2, queued)
        self.assertEqual(metric(exporter, "drift_alerts_dropped_total", alertmanager=url), 0)

    def test_tls_with_a_wrong_ca_fails_and_the_right_ca_works(self):
        workdir = harness.make_workdir(self)
        right = support.make_cert(workdir, "right")
        wrong = support.make_cert(workdir, "wrong")
        am = support.Recorder(self, tls=right).start()
        bad = self.exporter([{"url": am.url(), "ca_file": wrong[0]}])
        wait_metric(bad, "drift_alerts_sent_total", lambda v: v >= 1, "to count TLS errors",
                    alertmanager=am.url(), outcome="error")
        bad.wait_log(r'msg="cannot send alerts to Alertmanager; will retry".*err="POST '
                     + re.escape(am.url()) + r'/api/v2/alerts: SSL peer certificate')
        self.assertEqual(support.posted_alerts(am.recorded()), [])
        bad.stop()
        good = self.exporter([{"url": am.url(), "ca_file": right[0]}])
        am.wait(support.posted_alerts, WAIT, "alerts over TLS with the right CA")
        wait_metric(good, "drift_alerts_sent_total", lambda v: v >= 1, "over TLS",
                    alertmanager=am.url(), outcome="success")

    def test_a_path_prefix_is_kept(self):
        am = support.Recorder(self).start()
        self.exporter([am.url("/prefix/alertmanager/")])
        reqs = am.wait(lambda r: r, WAIT, "a POST")
        self.assertEqual({r.path for r in reqs}, {"/prefix/alertmanager/api/v2/alerts"})
        self.assertEqual({r.method for r in reqs}, {"POST"})
        self.assertEqual(reqs[0].headers["content-type"], "application/json")

    def test_bearer_token_and_basic_auth_come_from_files(self):
        workdir = harness.make_workdir(self)
        harness.write_file(os.path.join(workdir, "token"), "tok-123\n")
        harness.write_file(os.path.join(workdir, "password"), "pw-456\n")
        # Secrets must be private to the exporter's user (common/secret_file.h).
        os.chmod(os.path.join(workdir, "token"), 0o600)
        os.chmod(os.path.join(workdir, "password"), 0o600)
        am1 = support.Recorder(self).start()
        am2 = support.Recorder(self).start()
        exporter = self.exporter([
            {"url": am1.url(), "bearer_token_file": os.path.join(workdir, "token")},
            {"url": am2.url(), "basic_auth": "{username: drift, password_file: "
                                             + os.path.join(workdir, "password") + "}"}])
        r1 = am1.wait(lambda r: r, WAIT, "a POST with a bearer token")
        r2 = am2.wait(lambda r: r, WAIT, "a POST with basic auth")
        self.assertEqual(r1[0].headers["authorization"], "Bearer tok-123")
        self.assertEqual(r2[0].headers["authorization"], "Basic ZHJpZnQ6cHctNDU2")  # drift:pw-456
        exporter.stop()
        self.assertNotIn("tok-123", exporter.log())
        self.assertNotIn("pw-456", exporter.log())

    def test_an_outage_keeps_the_queue_bounded_and_alerts_arrive_after_it(self):
        port = harness.free_port()
        url = f"http://127.0.0.1:{port}"
        # Two alerts (vault failing, sshd drifted, in that order) for a queue of one.
        exporter = self.exporter([url], queue_capacity=1)
        wait_metric(exporter, "drift_alerts_dropped_total", lambda v: v >= 1,
                    "to rise while the queue overflows", alertmanager=url)
        exporter.wait_log(r'msg="alert queue full; dropping the oldest alerts" alertmanager='
                          + re.escape(url) + " capacity=1")
        for _ in range(15):
            self.assertLessEqual(metric(exporter, "drift_alerts_queue_length", alertmanager=url),
                                 1)
            time.sleep(0.1)
        am = support.Recorder(self, port=port).start()
        # Each resend brings both alerts at once; a queue of one keeps the newest (sshd's), and
        # that one reaches the Alertmanager once it is back.
        am.wait(lambda reqs: [a for a in support.posted_alerts(reqs)
                              if a["labels"]["alertname"] == "ComplianceDrift"],
                WAIT, "the drift alert after the outage")
        wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1, "after the outage",
                    alertmanager=url, outcome="success")
        for r in am.recorded():
            self.assertEqual(len(r.json()), 1, "never more than the queue holds")

    def test_shutdown_flushes_for_at_most_its_deadline(self):
        am = support.Recorder(self, lambda req: (200, b"", 30)).start()
        exporter = self.exporter([{"url": am.url(), "timeout": "20s"}])
        exporter.wait_log(r"msg=\"sending alerts to Alertmanager\"")
        time.sleep(1)  # a POST is hanging now
        start = time.monotonic()
        exporter.signal(signal.SIGTERM)
        exporter.proc.wait(timeout=20)
        took = time.monotonic() - start
        self.assertEqual(exporter.proc.returncode, 0, exporter.log())
        self.assertLess(took, 9, "the flush deadline is 5s")
        self.assertGreater(took, 4, "it did try to flush")
        exporter.wait_log(r'msg="dropping alerts not delivered before shutdown"')


class Reload(unittest.TestCase):
    def test_a_reload_moves_alerts_to_the_new_alertmanagers(self):
        fx = Fixture(self)
        support.drift_sshd(fx.root)
        old = support.Recorder(self).start()
        new = support.Recorder(self).start()
        config = support.write_config(fx.root, [old.url()], resend_interval="1s")
        exporter = harness.Exporter(self, config).start()
        old.wait(lambda r: support.posted_alerts(r), WAIT, "alerts at the first Alertmanager")
        support.write_config(fx.root, [new.url()], resend_interval="1s",
                             external_labels="{env: reloaded}")
        exporter.signal(signal.SIGHUP)
        # The new one hears of the firing alert at once, then its relabelled successor.
        new.wait(lambda r: [a for a in support.posted_alerts(r)
                            if a["labels"].get("env") == "reloaded"], WAIT,
                 "the alert with the new external label")
        exporter.wait_log(r'msg="stopped sending alerts to Alertmanager" alertmanager='
                          + re.escape(old.url()))
        count = len(old.recorded())
        time.sleep(2.5)  # more than two resend intervals
        self.assertEqual(len(old.recorded()), count, "the removed Alertmanager hears no more")
        text = exporter.metrics()
        self.assertIsNone(harness.sample(text, "drift_alerts_queue_length",
                                         alertmanager=old.url()))
        wait_metric(exporter, "drift_alerts_sent_total", lambda v: v >= 1, "at the new one",
                    alertmanager=new.url(), outcome="success")

class BadConfig(unittest.TestCase):
    def test_bad_alerting_configs_exit_2_with_file_line_column(self):
        fx = Fixture(self)
        lines = harness.read_file(os.path.join(fx.root, "config.yml")).count("\n")
        url_line = lines + 3  # alerting:, alertmanagers:, - url:
        cases = [
            ("bad_url.yml", ["am:9093"], {},
             f"{url_line}:12: alerting.alertmanagers[0].url: Alertmanager URL \"am:9093\" must "
             "start with http:// or https://"),
            ("missing_token.yml", [{"url": "http://127.0.0.1:9093",
                                    "bearer_token_file": "no-such-token"}], {},
             f"{url_line + 1}:26: alerting.alertmanagers[0].bearer_token_file: cannot read "
             f"{fx.root}/no-such-token: No such file or directory"),
            ("zero_resend.yml", ["http://127.0.0.1:9093"], {"resend_interval": "0s"},
             f"{url_line + 1}:20: alerting.resend_interval: zero duration \"0s\"; expected a "
             "positive duration"),
        ]
        for name, ams, settings, message in cases:
            with self.subTest(name=name):
                path = support.write_config(fx.root, ams, name=name, **settings)
                for args in ([f"--config.file={path}", "--config.check"],
                             [f"--config.file={path}", "--web.listen-address=127.0.0.1:0"]):
                    r = harness.run_cli(*args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(f"{path}:{message}", r.stderr)

if __name__ == "__main__":
    harness.main()
