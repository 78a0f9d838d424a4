#!/usr/bin/env python3
"""A real Prometheus (/usr/bin/prometheus) scrapes the exporter on the `mixed` fixture host every
second; its query API must show one drift_check_drifted series per check with a verdict, with
the right values, and up == 1. Prometheus asks for gzip: every scrape it made was served gzip."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# Checks of mixed/config.yml with a verdict, and whether each is drifted. `swap` errors on its
# first run, so it has no drift_check_drifted series at all; `retired` is disabled.
EXPECTED_DRIFTED = {"patches": 0, "agent": 0, "backups": 1, "journal": 0, "firewall": 1,
                    "disks": 0}
QUERY_TIMEOUT = 60


class RealPrometheus(unittest.TestCase):
    def test_prometheus_scrapes_drift_metrics(self):
        workdir = harness.make_workdir(self)
        root = harness.copy_fixture("mixed", workdir)
        harness.prepare_mixed(root)
        exporter = harness.Exporter(self, os.path.join(root, "config.yml")).start()
        exporter.wait_ready()
        target = f"127.0.0.1:{exporter.port}"
        prometheus = harness.Prometheus(self, workdir, [target]).start()

        def all_series():
            result = prometheus.query("drift_check_drifted")
            return result if len(result) >= len(EXPECTED_DRIFTED) else None
        try:
            series = harness.wait_for(all_series, QUERY_TIMEOUT,
                                      "Prometheus to return drift_check_drifted for every check")
        except AssertionError:
            print("Prometheus log:\n" + prometheus.log())
            print("exporter log:\n" + exporter.log())
            raise

        got = {labels["check"]: value for labels, value in series}
        self.assertEqual(got, EXPECTED_DRIFTED)
        for labels, _ in series:
            self.assertEqual((labels["job"], labels["instance"]), ("drift", target))
            self.assertEqual(set(labels), {"__name__", "check", "job", "instance"})

        up = prometheus.query('up{job="drift"}')
        self.assertEqual([(l["instance"], v) for l, v in up], [(target, 1.0)])

        success = {l["check"]: v for l, v in prometheus.query("drift_check_success")}
        self.assertEqual(success, {**{name: 1.0 for name in EXPECTED_DRIFTED}, "swap": 0.0})

        severity = {l["check"]: v for l, v in prometheus.query("drift_check_severity > 0")}
        self.assertEqual(severity, {"backups": 2.0, "firewall": 4.0})

        # The info metric joins metadata onto the drift series, as the shipped rules do.
        joined = prometheus.query(
            'drift_check_drifted == 1 and on(check) drift_check_info{type="firewall"}')
        self.assertEqual([l["check"] for l, _ in joined], ["firewall"])

        # The exporter counts the responses it sent by coding; a scrape shows those sent before
        # it. Only Prometheus asked for /metrics so far: all of them gzip.
        harness.wait_for(
            lambda: prometheus.query('drift_exporter_metrics_responses_total{encoding="gzip"} > 0'),
            QUERY_TIMEOUT, "a scrape that shows gzip responses sent")
        by_coding = {l["encoding"]: v
                     for l, v in prometheus.query("drift_exporter_metrics_responses_total")}
        self.assertEqual(by_coding["identity"], 0.0)
        self.assertGreater(by_coding["gzip"], 0.0)
        # What went over the wire per scrape, against the text it inflates to.
        per_scrape = prometheus.query(
            'drift_exporter_metrics_response_bytes_total{encoding="gzip"}'
            ' / drift_exporter_metrics_responses_total{encoding="gzip"}')
        self.assertEqual(len(per_scrape), 1)
        text_bytes = len(exporter.get("/metrics").body)
        self.assertLess(per_scrape[0][1], text_bytes / 2)


if __name__ == "__main__":
    harness.main()
