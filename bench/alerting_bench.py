#!/usr/bin/env python3
"""Alerting benchmark, run by bench/alerting.sh (which builds the Release binary and waits for a
quiet machine first). Prints the markdown "Alerting" section of bench/RESULTS.md on stdout.

1. Latency: from a fixture file change (chmod of sshd_config on the tests/fixtures/e2e/alerting
   host) to the Alertmanager webhook arriving at a receiver, through
   - the direct path: exporter -> Alertmanager -> webhook;
   - the rule path: exporter -> Prometheus scrape -> alerts/rules/drift.rules.yml -> Alertmanager
     -> webhook.
2. CPU: the exporter's CPU per check cycle with 1,000 drifted `file` checks, alerting off vs on
   (a local sink answers 200), with the default resend_interval (1m) and with resend_interval =
   the check interval (every alert re-sent every cycle: the worst case).

Environment: DRIFT_EXPORTER (the binary), DRIFT_BENCH_LATENCY_SAMPLES (default 10),
DRIFT_BENCH_CPU_SECONDS (measurement window per run, default 30), DRIFT_BENCH_CPU_ROUNDS
(default 3).
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
os.environ.setdefault("DRIFT_SOURCE_DIR", REPO)
import alerting_support as support  # noqa: E402
import harness  # noqa: E402

SAMPLES = int(os.environ.get("DRIFT_BENCH_LATENCY_SAMPLES", "10"))
CPU_SECONDS = float(os.environ.get("DRIFT_BENCH_CPU_SECONDS", "30"))
CPU_ROUNDS = int(os.environ.get("DRIFT_BENCH_CPU_ROUNDS", "3"))
CHECKS = 1000
HZ = os.sysconf("SC_CLK_TCK")
RULES = os.path.join(REPO, "alerts", "rules", "drift.rules.yml")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Scope:
    """Stands in for a unittest.TestCase: collects cleanups, runs them in reverse."""

    def __init__(self):
        self._cleanups = []

    def addCleanup(self, fn, *args, **kwargs):
        self._cleanups.append((fn, args, kwargs))

    def close(self):
        while self._cleanups:
            fn, args, kwargs = self._cleanups.pop()
            try:
                fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                log(f"cleanup failed: {e}")


# --- latency ------------------------------------------------------------------------------------


def firing_drift(requests):
    for r in requests:
        for status, a in support.webhook_alerts([r], "ComplianceDrift", "firing"):
            if a["labels"].get("check") == "sshd":
                return r
    return None


def resolved_drift(requests):
    return support.webhook_alerts(requests, "ComplianceDrift", "resolved")


def measure_latency(root, hook, samples):
    """`samples` timings, after one uncounted warm-up (first group, first rule evaluations)."""
    out = []
    for i in range(samples + 1):
        # A random phase against the 1s check interval, as a real change would have.
        time.sleep(random.uniform(0.5, 1.5))
        seen = len(hook.recorded())
        t0 = time.monotonic()
        support.drift_sshd(root)
        req = hook.wait(lambda reqs: firing_drift(reqs[seen:]), 120, "the firing webhook")
        out.append(req.time - t0)
        seen = len(hook.recorded())
        support.fix_sshd(root)
        hook.wait(lambda reqs: resolved_drift(reqs[seen:]), 120, "the resolved webhook")
        log(f"  sample {i}/{samples}: {out[-1]:.2f}s" + (" (warm-up)" if i == 0 else ""))
    return out[1:]


def latency_direct(scope, workdir, samples):
    root = harness.copy_fixture("alerting", workdir)
    support.fix_sshd(root)
    hook = support.Recorder(scope).start()
    am = support.Alertmanager(scope, workdir, "am-direct", hook.url("/hook")).start()
    config = support.write_config(root, [am.url()])
    harness.Exporter(scope, config).start().wait_ready()
    return measure_latency(root, hook, samples)


def latency_rules(scope, workdir, samples):
    root = harness.copy_fixture("alerting", os.path.join(workdir, "rules"))
    support.fix_sshd(root)
    hook = support.Recorder(scope).start()
    am = support.Alertmanager(scope, workdir, "am-rules", hook.url("/hook")).start()
    exporter = harness.Exporter(scope, os.path.join(root, "config.yml")).start().wait_ready()
    prom = harness.Prometheus(scope, workdir, [f"127.0.0.1:{exporter.port}"])
    harness.write_file(prom.config, (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{RULES}]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['127.0.0.1:{am.port}']}}]\n"
        "scrape_configs:\n  - job_name: drift\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"))
    prom.start()
    return measure_latency(root, hook, samples)


# --- CPU ----------------------------------------------------------------------------------------


def make_checks(directory):
    """1,000 `file` checks over 64-byte files, pinned by `baseline capture`, then all drifted
    (mode 0644 pinned, files made 0666)."""
    data = os.path.join(directory, "root", "data")
    os.makedirs(data)
    for i in range(CHECKS):
        path = os.path.join(data, f"f{i:04d}")
        harness.write_file(path, f"{i:063d}\n")
        os.chmod(path, 0o644)
    lines = ["host: {root: root}",
             "scheduler: {mode: interval, interval: 1s, concurrency: 4, timeout: 30s}",
             "baseline_file: baseline.yml", "checks:"]
    lines += [f'  - {{name: file-{i:04d}, type: file, params: {{path: /data/f{i:04d}, '
              f'mode: "0644"}}}}' for i in range(CHECKS)]
    base = "\n".join(lines) + "\n"
    harness.write_file(os.path.join(directory, "base.yml"), base)
    harness.write_file(os.path.join(directory, "baseline.yml"), "checks: {}\n")
    r = harness.run_cli("baseline", "capture", f"--config.file={directory}/base.yml",
                        f"--out={directory}/baseline.yml", timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"baseline capture failed: {r.stderr}")
    for i in range(CHECKS):
        os.chmod(os.path.join(data, f"f{i:04d}"), 0o666)
    return base


def cpu_ticks(pid, thread_prefix=None):
    """utime + stime of the process, or of its threads whose name starts with thread_prefix."""
    if thread_prefix is None:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith(thread_prefix):
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def start_variant(scope, directory, base, variant, sink):
    text = base
    if variant != "off":
        text += ("alerting:\n"
                 f"  alertmanagers: [{{url: '{sink.url()}'}}]\n"
                 f"  resend_interval: {variant}\n")
    config = os.path.join(directory, f"config-{variant}.yml")
    harness.write_file(config, text)
    return harness.Exporter(scope, config).start()


def cpu_round(directory, base, sinks):
    """Runs the three variants side by side over the same window, so that whatever else the
    machine does weighs on all of them alike. Returns {variant: (ms of CPU per cycle, ms of the
    alerting threads per cycle, cycles, alerts received per second)}."""
    scope = Scope()
    try:
        exporters = {v: start_variant(scope, directory, base, v, sinks.get(v))
                     for v in VARIANTS}
        for e in exporters.values():
            e.wait_ready(timeout=120)
        time.sleep(5)  # the first cycles (and the first sends of 1,000 new alerts) pass
        for sink in sinks.values():
            with sink._cv:
                sink.requests.clear()
        pids = {v: e.proc.pid for v, e in exporters.items()}
        t0 = {v: cpu_ticks(p) for v, p in pids.items()}
        a0 = {v: cpu_ticks(p, "drift-a") for v, p in pids.items()}
        # Count runs: the last-run time of one check changes once per cycle.
        last = {v: None for v in VARIANTS}
        cycles = {v: -1 for v in VARIANTS}
        start = time.monotonic()
        while time.monotonic() - start < CPU_SECONDS:
            for v, e in exporters.items():
                ts = harness.sample(e.metrics(), "drift_check_last_run_timestamp_seconds",
                                    check="file-0000")
                if ts != last[v]:
                    last[v] = ts
                    cycles[v] += 1
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        out = {}
        for v, p in pids.items():
            n = max(1, cycles[v])
            received = len(support.posted_alerts(sinks[v].recorded())) if v in sinks else 0
            out[v] = (1000.0 * (cpu_ticks(p) - t0[v]) / HZ / n,
                      1000.0 * (cpu_ticks(p, "drift-a") - a0[v]) / HZ / n, n, received / elapsed)
        return out
    finally:
        scope.close()


VARIANTS = ["off", "1m", "1s"]


def cpu_bench(workdir):
    directory = os.path.join(workdir, "cpu")
    os.makedirs(directory)
    base = make_checks(directory)
    scope = Scope()
    sinks = {v: support.Recorder(scope).start() for v in VARIANTS if v != "off"}
    results = {v: [] for v in VARIANTS}
    try:
        for rnd in range(CPU_ROUNDS):
            r = cpu_round(directory, base, sinks)
            for v in VARIANTS:
                log(f"  round {rnd + 1} resend {v}: {r[v][0]:.1f} ms CPU/cycle "
                    f"({r[v][1]:.2f} ms alerting threads), {r[v][2]} cycles, "
                    f"{r[v][3]:.0f} alerts/s")
                results[v].append(r[v])
            offs = r["off"][0]
            for v in VARIANTS[1:]:
                results[v][-1] = results[v][-1] + (r[v][0] - offs,)
    finally:
        scope.close()
    return results


# --- report ---------------------------------------------------------------------------------


def summary(xs):
    return (f"{statistics.median(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} | "
            f"{statistics.mean(xs):.2f}")


def main():
    workdir = tempfile.mkdtemp(prefix="drift-bench-alerting-")
    scope = Scope()
    try:
        log(f"latency, direct path ({SAMPLES} samples)")
        direct = latency_direct(scope, workdir, SAMPLES)
        scope.close()
        log(f"latency, Prometheus rule path ({SAMPLES} samples)")
        rules = latency_rules(scope, workdir, SAMPLES)
        scope.close()
        log(f"CPU with {CHECKS} drifted checks, {CPU_ROUNDS} rounds of {CPU_SECONDS:.0f}s")
        cpu = cpu_bench(workdir)
    finally:
        scope.close()
        shutil.rmtree(workdir, ignore_errors=True)

    print("## Alerting\n")
    print("Produced by `bench/alerting.sh` (bench/alerting_bench.py); "
          f"{os.environ.get('DRIFT_BENCH_MACHINE', '')}.\n")
    if os.environ.get("DRIFT_BENCH_QUIET"):
        print(os.environ["DRIFT_BENCH_QUIET"] + "\n")
    print("**Latency from a fixture change to the webhook.** The `alerting` e2e fixture host; "
          "the script changes the mode of `/etc/ssh/sshd_config` at a random phase and times "
          "the arrival of Alertmanager's firing webhook at a local receiver, then restores the "
          "file and waits for `resolved` before the next sample "
          f"({SAMPLES} samples per path). Intervals: check `scheduler.interval` 1s, "
          "`resend_interval` 1m; Alertmanager 0.25 `group_wait` 1s, `group_interval` 1s; rule "
          "path: Prometheus 2.42 `scrape_interval` 1s, `evaluation_interval` 1s, rules without "
          "`for`.\n")
    print("| path | median s | min s | max s | mean s |")
    print("|---|---|---|---|---|")
    print(f"| direct (exporter → Alertmanager) | {summary(direct)} |")
    print(f"| rules (exporter → Prometheus → Alertmanager) | {summary(rules)} |")
    print()
    print("What adds up: direct = wait for the next check run (0 to 1 interval) + Alertmanager's "
          "flush (`group_wait` for a new group; here the group outlives each sample, so the next "
          "`group_interval` tick, 0 to 1s); the rule path adds the next scrape and the next rule "
          "evaluation (0 to 1s each) and Prometheus' send. One uncounted warm-up sample per path "
          "comes first. With production settings (interval 60s, scrape "
          "30s, evaluation 30s, `group_wait` 30s) the same sums give up to about 1.5 min direct "
          "and 2.5 min by rules.\n")
    print(f"**CPU per check cycle with {CHECKS} checks.** {CHECKS} `file` checks over 64-byte "
          "files, all drifted (1,000 `ComplianceDrift` alerts firing), interval 1s, concurrency "
          "4. Three exporters run side by side on the same checks, so that other load on the "
          "machine weighs on all alike: alerting off; on with the default `resend_interval` "
          "(1m); on with `resend_interval` 1s (all 1,000 alerts re-sent every cycle: the worst "
          "case); each alerting one sends to its own local sink answering 200. CPU is "
          f"utime+stime over {CPU_SECONDS:.0f}s after a 5s warm-up, divided by the runs of one "
          f"check in that window; {CPU_ROUNDS} rounds. \"Alerting threads\" is the CPU of the "
          "dispatcher and sender threads alone (`drift-alerts`, `drift-am-send`), measured per "
          "thread and so free of the noise; what else alerting costs is the per-run decision on "
          "the scheduler threads (a comparison with the previous state when nothing changed).\n")
    print("| alerting | CPU ms / cycle, median (range) | added vs off, median (range) | "
          "alerting threads ms / cycle | alerts sent / s |")
    print("|---|---|---|---|---|")
    labels = {"off": "off", "1m": "on, resend_interval 1m (default)",
              "1s": "on, resend_interval 1s (every alert every cycle)"}

    def med_range(xs, fmt):
        return (f"{fmt.format(statistics.median(xs))} "
                f"({fmt.format(min(xs))} to {fmt.format(max(xs))})")
    for v in VARIANTS:
        rs = cpu[v]
        total = med_range([r[0] for r in rs], "{:.1f}")
        added = "—" if v == "off" else med_range([r[4] for r in rs], "{:+.1f}")
        threads = "—" if v == "off" else f"{statistics.median(r[1] for r in rs):.2f}"
        rate = statistics.median(r[3] for r in rs)
        print(f"| {labels[v]} | {total} | {added} | {threads} | {rate:.0f} |")
    print()
    resend_ms = statistics.median(r[1] for r in cpu["1s"])
    print("With the default `resend_interval`, no resend falls in the window: re-sending the "
          f"1,000 alerts costs what the 1s row's alerting threads show ({resend_ms:.1f} ms), "
          f"once a minute, i.e. about {resend_ms / 60:.2f} ms per 1s cycle amortised; at the "
          "default 60s check interval that is one resend per cycle, "
          f"{resend_ms / 600:.3f}% of one CPU. A run that changes nothing costs a comparison "
          "with the previous state.\n")
    result = {"direct": direct, "rules": rules, "cpu": cpu}
    with open(os.environ.get("DRIFT_BENCH_JSON", os.devnull), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
