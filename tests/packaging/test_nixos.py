"""The NixOS flake and module, evaluated offline with Debian's nix: every .nix file parses; the
module (packaging/nixos/module.nix), evaluated against the stand-in `lib` and `pkgs` of
tests/packaging/nix/ for several option values, gives a unit hardened exactly like the Debian
one (and systemd rates it so), the right command line, user and firewall port; the settings it
renders pass the real binary's --config.check, and the build-time scripts it declares (the
configuration check, the polkit rule) work when run with the real binary. What this cannot
prove without nixpkgs (tests/packaging/nix/lib.nix says which functions are stand-ins): that
nixpkgs builds package.nix and that a NixOS system with the module boots.

Environment (set by ctest): DRIFT_EXPORTER, the binary; DRIFT_SOURCE_DIR, the repository.
"""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

SOURCE = harness.SOURCE_DIR
EVAL = os.path.join(SOURCE, "tests", "packaging", "nix", "eval.nix")
UNIT = os.path.join(SOURCE, "packaging", "systemd", "drift-exporter.service.in")
STORE = "/nix/store/00000000000000000000000000000000-"
MAX_EXPOSURE = 2.0


def nix(*args):
    out = subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"nix-instantiate {' '.join(args)}:\n{out.stderr}")
    return out.stdout


def to_nix(value):
    """A Python value as a Nix expression."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "\\${")
    if isinstance(value, list):
        return "[ " + " ".join(to_nix(v) for v in value) + " ]"
    return "{ " + " ".join(f"{json.dumps(k)} = {to_nix(v)};" for k, v in value.items()) + " }"


def evaluate(**values):
    return json.loads(nix("--eval", "--strict", "--json", EVAL, "--arg", "values", to_nix(values)))


def unit_hardening():
    """The Key=Value lines between the hardening markers of the Debian unit; repeated keys as
    lists."""
    out, inside = {}, False
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# hardening: begin"):
                inside = True
            elif line.startswith("# hardening: end"):
                inside = False
            elif inside and re.match(r"[A-Za-z]+=", line):
                key, value = line.rstrip("\n").split("=", 1)
                if key in out:
                    out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
                else:
                    out[key] = value
    return out


def render_unit(service):
    """The unit NixOS would write for systemd.services.drift-exporter (lists as repeated lines)."""
    lines = ["[Unit]", f"Description={service['description']}",
             f"After={' '.join(service['after'])}", "", "[Service]"]
    for key, value in sorted(service["serviceConfig"].items()):
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={v}")
    lines += ["", "[Install]", f"WantedBy={' '.join(service['wantedBy'])}", ""]
    return "\n".join(lines)


# A NixOS host's configuration: the system profile's tools, three checks, and healing with a
# runbook that reloads nftables (so the polkit rule has something to allow).
NIXOS_SETTINGS = {
    "host": {"command_path": ["/run/current-system/sw/bin"]},
    "scheduler": {"mode": "interval", "interval": "60s"},
    "baseline_file": "/etc/drift_exporter/baseline.yml",
    "checks": [
        {"name": "patching", "type": "patching",
         "params": {"os": "nixos", "max_age": "30d"}},
        {"name": "logging", "type": "logging",
         "params": {"services": ["systemd-journald.service"], "window": "10m"}},
        {"name": "firewall", "type": "firewall",
         "params": {"service": "nftables.service"},
         "recommended_action": "restore_firewall_baseline"},
    ],
    "runbooks": {
        "restore_firewall_baseline": {
            "tier": "approval",
            "steps": [{"argv": ["/run/current-system/sw/bin/systemctl", "reload",
                                "nftables.service"]}],
        },
    },
}


class NixOS(unittest.TestCase):
    def test_every_nix_file_parses(self):
        files = [os.path.join(SOURCE, "flake.nix")]
        for folder in ("packaging/nixos", "tests/packaging/nix"):
            files += [os.path.join(SOURCE, folder, n)
                      for n in sorted(os.listdir(os.path.join(SOURCE, folder))) if n.endswith(".nix")]
        self.assertGreaterEqual(len(files), 6)
        for path in files:
            nix("--parse", path)
        # The flake's outputs name files that exist.
        with open(files[0], encoding="utf-8") as f:
            flake = f.read()
        for output in ("overlays.default", "packages = ", "nixosModules.default"):
            self.assertIn(output, flake)
        for rel in set(re.findall(r"\./(packaging/nixos/[a-z.]+)", flake)):
            self.assertTrue(os.path.isfile(os.path.join(SOURCE, rel)), rel)

    def test_disabled_by_default(self):
        self.assertFalse(evaluate()["enabled"])

    def test_options_in_the_style_of_nixpkgs_exporters(self):
        self.assertEqual(
            sorted(evaluate()["options"]),
            sorted(["enable", "package", "port", "listenAddress", "extraFlags", "openFirewall",
                    "user", "group", "settings", "configFile", "checkConfig", "webConfigFile"]))

    def test_service_is_hardened_like_the_debian_unit(self):
        result = evaluate(enable=True)
        service = result["config"]["systemd"]["services"]["drift-exporter"]
        config = service["serviceConfig"]
        hardening = unit_hardening()
        self.assertIn("NoNewPrivileges", hardening)
        self.assertGreaterEqual(len(hardening), 25)
        for key, value in hardening.items():
            self.assertEqual(config.get(key), value, key)
        self.assertEqual(config["User"], "drift-exporter")
        self.assertEqual(config["SupplementaryGroups"], ["systemd-journal"])
        self.assertEqual(config["StateDirectory"], "drift_exporter")
        self.assertEqual(config["ExecReload"], f"{STORE}coreutils/bin/kill -HUP $MAINPID")
        self.assertEqual(service["wantedBy"], ["multi-user.target"])
        # The configuration reloads (SIGHUP) when it changes, rather than restarting.
        self.assertEqual(service["reloadTriggers"],
                         [result["config"]["environment"]["etc"]["drift_exporter/config.yml"]["source"]])
        # systemd itself rates the unit NixOS would write.
        workdir = harness.make_workdir(self)
        path = os.path.join(workdir, "drift-exporter.service")
        harness.write_file(path, render_unit(service))
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                              f"--threshold={int(MAX_EXPOSURE * 10)}", path],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        score = float(re.search(r"Overall exposure level .*: ([0-9.]+)", out.stdout).group(1))
        self.assertLessEqual(score, MAX_EXPOSURE)

    def test_command_line_user_and_firewall(self):
        config = evaluate(enable=True, port=9100, listenAddress="::1", openFirewall=True,
                          webConfigFile="/etc/drift_exporter/web.yml",
                          extraFlags=["--log.level=debug"])["config"]
        exec_start = config["systemd"]["services"]["drift-exporter"]["serviceConfig"]["ExecStart"]
        self.assertEqual(
            exec_start,
            f"'{STORE}drift-exporter-0.1.0/bin/drift_exporter' "
            "'--config.file=/etc/drift_exporter/config.yml' '--web.listen-address=[::1]:9100' "
            "'--web.config.file=/etc/drift_exporter/web.yml' '--log.level=debug'")
        self.assertEqual(config["networking"]["firewall"]["allowedTCPPorts"], [9100])
        self.assertTrue(config["users"]["users"]["drift-exporter"]["isSystemUser"])
        self.assertEqual(config["users"]["groups"], {"drift-exporter": {}})
        # IPv4 without brackets; no firewall hole unless asked; a user of the admin's own is
        # used as it is, not created.
        config = evaluate(enable=True, listenAddress="127.0.0.1", user="prometheus",
                          group="prometheus")["config"]
        service = config["systemd"]["services"]["drift-exporter"]["serviceConfig"]
        self.assertIn("'--web.listen-address=127.0.0.1:9968'", service["ExecStart"])
        self.assertEqual(service["User"], "prometheus")
        self.assertIsNone(config["networking"]["firewall"]["allowedTCPPorts"])
        self.assertIsNone(config["users"]["users"])
        self.assertIsNone(config["users"]["groups"])

    def test_bad_option_values_are_refused(self):
        for values in ({"enable": True, "port": 70000}, {"enable": True, "extraFlags": "-v"},
                       {"enable": True, "colour": "red"}):
            with self.subTest(values=values):
                with self.assertRaises(AssertionError):
                    evaluate(**values)

    # The settings become a configuration the real binary accepts, through the same build-time
    # scripts NixOS would run: the check, then the polkit rule for the runbooks' unit actions.
    def test_settings_check_and_polkit_rule(self):
        result = evaluate(enable=True, user="drift", settings=NIXOS_SETTINGS)
        workdir = harness.make_workdir(self)
        rendered = os.path.join(workdir, "drift_exporter.yml")
        # nixpkgs renders YAML from the same value; JSON is YAML, which the exporter reads.
        harness.write_file(rendered, json.dumps(result["settings"], indent=2))

        def run_script(script, out):
            script = (script.replace(f"{STORE}drift-exporter-0.1.0/bin/drift_exporter",
                                     harness.EXPORTER)
                      .replace(f"{STORE}drift_exporter.yml", rendered)
                      .replace("$out", out))
            return subprocess.run(["sh", "-euc", script], capture_output=True, text=True,
                                  timeout=60)

        checked = run_script(result["check_script"], os.path.join(workdir, "checked"))
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertEqual(os.readlink(os.path.join(workdir, "checked")), rendered)
        rule_file = os.path.join(workdir, "60-drift-exporter.rules")
        rule = run_script(result["polkit_script"], rule_file)
        self.assertEqual(rule.returncode, 0, rule.stderr)
        text = harness.read_file(rule_file)
        self.assertIn('subject.user !== "drift"', text)
        self.assertIn('"nftables.service": ["reload"]', text)
        self.assertEqual(
            result["config"]["environment"]["etc"]["polkit-1/rules.d/60-drift-exporter.rules"],
            {"source": f"{STORE}60-drift-exporter.rules"})
        # A bad setting fails the build's check, naming the key.
        bad = dict(NIXOS_SETTINGS, scheduler={"mode": "sometimes"})
        harness.write_file(rendered, json.dumps(evaluate(enable=True, settings=bad)["settings"]))
        checked = run_script(result["check_script"], os.path.join(workdir, "checked2"))
        self.assertEqual(checked.returncode, 2, checked.stdout + checked.stderr)
        self.assertIn("mode", checked.stdout + checked.stderr)
        # Without runbooks there is no rule to install.
        self.assertIsNone(evaluate(enable=True)["polkit_script"])

    def test_package_version_and_build(self):
        package = evaluate()["package"]
        with open(os.path.join(SOURCE, "CMakeLists.txt"), encoding="utf-8") as f:
            version = re.search(r"project\(drift_exporter VERSION ([0-9.]+)", f.read()).group(1)
        self.assertEqual(package["version"], version)
        self.assertEqual(package["pname"], "drift-exporter")
        self.assertEqual(package["mainProgram"], "drift_exporter")
        self.assertIn("-DDRIFT_REVISION=0123456789ab", package["cmakeFlags"])
        self.assertIn("-DDRIFT_BUILD_TESTS=OFF", package["cmakeFlags"])
        self.assertIn("patchelf --add-rpath", package["postFixup"])


if __name__ == "__main__":
    harness.main()
