#!/usr/bin/env python3
"""Golden /metrics: the real binary on the `mixed` fixture host (every check type; compliant,
drifted and erroring checks, one disabled), with volatile values masked, must match
tests/e2e/golden/mixed.prom exactly, and pass `promtool check metrics` without a word.

DRIFT_UPDATE_GOLDEN=1 rewrites the golden file from this run (review the diff before committing).
"""

import difflib
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

GOLDEN = os.path.join(harness.GOLDEN_DIR, "mixed.prom")

# Families whose values depend on when and how fast the test ran.
VOLATILE_FAMILIES = {
    "drift_check_last_run_timestamp_seconds",
    "drift_check_duration_seconds",
    "drift_check_drift_age_seconds",
    "drift_backup_age_seconds",
    "drift_backup_restore_test_age_seconds",
    "drift_patching_generation_age_seconds",
    "drift_patching_apt_lists_age_seconds",
    "drift_exporter_config_last_reload_success_timestamp_seconds",
}
# Labels that depend on the build, not on the code under test.
VOLATILE_LABELS = {"drift_exporter_build_info": ("revision", "compiler")}
MASK = "<masked>"
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?( )(\S+)$")


def mask(text):
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not line.startswith("#"):
            name, labels, _, value = m.groups()
            labels = labels or ""
            if name in VOLATILE_FAMILIES or name.startswith("process_"):
                value = MASK
            for label in VOLATILE_LABELS.get(name, ()):
                labels = re.sub(rf'\b{label}="(?:[^"\\]|\\.)*"', f'{label}="{MASK}"', labels)
            line = f"{name}{labels} {value}"
        out.append(line)
    return "\n".join(out) + "\n"


class GoldenMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One exporter run serves every test of the class.
        scope = harness.ClassScope(cls)
        root = harness.copy_fixture("mixed", harness.make_workdir(scope))
        harness.prepare_mixed(root)
        exporter = harness.Exporter(scope, os.path.join(root, "config.yml"))
        exporter.start().wait_ready()
        cls.text = exporter.metrics()

    def test_matches_golden_file(self):
        got = mask(self.text)
        if os.environ.get("DRIFT_UPDATE_GOLDEN") == "1":
            os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
            harness.write_file(GOLDEN, got)
            print(f"\nwrote {GOLDEN}")
        want = harness.read_file(GOLDEN)
        if got != want:
            diff = "".join(difflib.unified_diff(
                want.splitlines(True), got.splitlines(True),
                fromfile=os.path.relpath(GOLDEN, harness.SOURCE_DIR), tofile="/metrics (masked)"))
            self.fail("/metrics differs from the golden file (DRIFT_UPDATE_GOLDEN=1 rewrites "
                      f"it):\n{diff}")

    def test_volatile_values_are_plausible(self):
        # Masked values still have to make sense: the run was just now, and quick.
        for name, labels, value in harness.parse_samples(self.text):
            if name == "drift_check_duration_seconds":
                self.assertLess(float(value), 10, labels)
                self.assertGreaterEqual(float(value), 0, labels)
        self.assertAlmostEqual(
            harness.sample(self.text, "drift_backup_age_seconds", check="backups"),
            50 * harness.HOUR, delta=120)
        self.assertAlmostEqual(
            harness.sample(self.text, "drift_patching_generation_age_seconds", check="patches"),
            harness.HOUR, delta=120)
        drift_age = harness.sample(self.text, "drift_check_drift_age_seconds", check="firewall")
        self.assertGreaterEqual(drift_age, 0)
        self.assertLess(drift_age, 60)
        self.assertEqual(
            harness.sample(self.text, "drift_check_drift_age_seconds", check="agent"), 0)

    def test_promtool_check_metrics_is_clean(self):
        run = subprocess.run([harness.PROMTOOL, "check", "metrics"], input=self.text,
                             capture_output=True, text=True, timeout=30)
        self.assertEqual((run.returncode, run.stdout + run.stderr), (0, ""),
                         "promtool check metrics complained")


if __name__ == "__main__":
    harness.main()
