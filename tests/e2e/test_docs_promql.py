#!/usr/bin/env python3
"""Every PromQL example in README.md and docs/*.md parses, and every Prometheus rule or
configuration example loads, as the real promtool reads them.

- A ```promql block holds one or more expressions separated by blank lines (`#` comments are
  PromQL comments); each is checked with `promtool check rules` as a recording rule (Debian 12's
  promtool has no bare "parse this expression" command).
- A ```yaml block with top-level `groups:` is a rules file: `promtool check rules`. One with
  top-level `scrape_configs:` is a Prometheus configuration: `promtool check config`.
- PromQL outside a ```promql block (in an untagged or text block) fails the test, so that no
  example escapes the check: tag it ```promql.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)

# A line that reads as a query rather than as output, a log line or prose: an aggregation or
# function call, or a metric name (with an underscore, or `up`; optional matchers) followed by a
# binary operator.
PROMQL_LINE = re.compile(
    r"^\s*(?:(?:sum|avg|min|max|count|rate|irate|increase|absent|time|topk|bottomk|"
    r"histogram_quantile|label_replace)\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\("
    r"|(?:up|[a-z:][a-z0-9:]*_[a-z0-9_:]*)(?:\{[^}]*\})?\s+(?:==|!=|>=|<=|>|<|\*|/|\+|-|and|or|unless)\s)")

# Blocks whose lines are never PromQL (shell sessions may grep metric names; JSON is data).
NOT_QUERIES = {"sh", "json", "promql", "yaml"}


def doc_files():
    files = [os.path.join(harness.SOURCE_DIR, "README.md")]
    files += sorted(glob.glob(os.path.join(harness.SOURCE_DIR, "docs", "*.md")))
    return files


def blocks(path):
    """(language, first line number of the body, body) of every fenced block in `path`."""
    text = harness.read_file(path)
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start(2)) + 1
        yield m.group(1), line, m.group(2)


def expressions(body, first_line):
    """(line number, expression) of each blank-line separated expression of a promql block;
    chunks holding only comments are headings, not expressions."""
    chunk, start = [], first_line
    for offset, line in enumerate(body.split("\n") + [""]):
        if line.strip():
            if not chunk:
                start = first_line + offset
            chunk.append(line)
            continue
        if any(not l.strip().startswith("#") for l in chunk):
            yield start, "\n".join(chunk)
        chunk = []


def top_level_keys(body):
    return {m.group(1) for m in re.finditer(r"^([A-Za-z_]\w*):", body, re.M)}


def promtool(*args):
    return subprocess.run([harness.PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def where(path, line):
    return f"{os.path.relpath(path, harness.SOURCE_DIR)}:{line}"


class DocsPromQL(unittest.TestCase):
    def setUp(self):
        self.workdir = harness.make_workdir(self)
        self.counter = 0

    def check_rules(self, text, what):
        self.counter += 1
        path = os.path.join(self.workdir, f"rules-{self.counter}.yml")
        harness.write_file(path, text)
        r = promtool("check", "rules", path)
        self.assertEqual(r.returncode, 0, f"{what} does not load:\n{r.stdout}{r.stderr}")

    def check_expression(self, expr, what):
        indented = "\n".join("          " + l for l in expr.split("\n"))
        self.check_rules("groups:\n  - name: docs\n    rules:\n      - record: docs:example\n"
                         f"        expr: |\n{indented}\n", f"PromQL at {what}")

    def test_every_example_parses(self):
        checked = {"promql": 0, "rules": 0, "config": 0}
        for path in doc_files():
            for lang, line, body in blocks(path):
                if lang == "promql":
                    for at, expr in expressions(body, line):
                        with self.subTest(at=where(path, at)):
                            self.check_expression(expr, where(path, at))
                        checked["promql"] += 1
                    continue
                if lang == "yaml" and "groups" in top_level_keys(body):
                    with self.subTest(at=where(path, line)):
                        self.check_rules(body, f"rules example at {where(path, line)}")
                    checked["rules"] += 1
                    continue
                if lang == "yaml" and "scrape_configs" in top_level_keys(body):
                    with self.subTest(at=where(path, line)):
                        config = os.path.join(self.workdir, f"prometheus-{line}.yml")
                        harness.write_file(config, body)
                        r = promtool("check", "config", "--syntax-only", config)
                        self.assertEqual(r.returncode, 0,
                                         f"Prometheus configuration at {where(path, line)} does "
                                         f"not load:\n{r.stdout}{r.stderr}")
                    checked["config"] += 1
                    continue
                if lang == "yaml" and re.search(r"^\s*expr:", body, re.M):
                    self.fail(f"{where(path, line)}: a rule example must be a whole rules file "
                              "(top-level `groups:`) so that it can be loaded")
                if lang in NOT_QUERIES:
                    continue
                for offset, text in enumerate(body.split("\n")):
                    if PROMQL_LINE.match(text):
                        self.fail(f"{where(path, line + offset)}: PromQL outside a ```promql "
                                  f"block: {text.strip()!r}")
        # docs/metrics.md's examples and the README's scrape configuration at least: a missing
        # tag or a renamed file must not make this test pass by checking nothing.
        self.assertGreaterEqual(checked["promql"], 8, checked)
        self.assertGreaterEqual(checked["config"], 1, checked)
        print(f"checked {checked}")

    def test_the_check_catches_a_bad_expression(self):
        # The expression of the issue that started this test: `1 * on (...)` matches a scalar.
        bad = ("drift_check_drifted == 1\n"
               "  * on (instance, check) group_left (type) drift_check_info")
        with self.assertRaises(AssertionError):
            self.check_expression(bad, "a known-bad example")
        self.check_expression("(drift_check_drifted == 1)\n"
                              "  * on (instance, check) group_left (type) drift_check_info",
                              "its fixed form")

    def test_unmarked_promql_is_recognised(self):
        self.assertTrue(PROMQL_LINE.match("drift_check_success == 0"))
        self.assertTrue(PROMQL_LINE.match("sum by (state) (drift_checks)"))
        self.assertTrue(PROMQL_LINE.match('rate(drift_alerts_sent_total{outcome="error"}[5m])'))
        # Exposition format and log lines are not queries.
        self.assertFalse(PROMQL_LINE.match('drift_check_drifted{check="firewall"} 1'))
        self.assertFalse(PROMQL_LINE.match("bad.yml:6:16: checks[0].params.max_age: invalid"))
        self.assertFalse(PROMQL_LINE.match("           server and pages, CLI; main.cc is the"))


if __name__ == "__main__":
    harness.main()
