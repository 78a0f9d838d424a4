#include "exporter/pages.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "checks/registry.h"

namespace drift::exporter {
namespace {

using checks::Severity;
using std::chrono::seconds;

const WallTime kT0 = WallTime(seconds(1'700'000'000));  // 2023-11-14T22:13:20Z

std::shared_ptr<CheckSpec> Spec(std::string name, std::string action, Severity severity,
                                bool configured) {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = std::move(name);
  spec->type = checks::FindCheckType("patching");
  spec->severity = severity;
  spec->severity_configured = configured;
  spec->recommended_action = std::move(action);
  return spec;
}

std::shared_ptr<CheckState> Compliant(std::shared_ptr<CheckSpec> spec, WallTime at) {
  auto s = std::make_shared<CheckState>();
  s->spec = std::move(spec);
  s->ran = s->known = s->success = true;
  s->last_run = at;
  s->result.verdict = checks::Verdict::kCompliant;
  s->result.reason = "on generation 42";
  return s;
}

std::shared_ptr<CheckState> Drifted(std::shared_ptr<CheckSpec> spec, Severity severity) {
  auto s = Compliant(std::move(spec), kT0);
  s->drifted = true;
  s->drift_streak = 1;
  s->severity = severity;
  s->drift_since = kT0;
  s->result.verdict = checks::Verdict::kDrifted;
  s->result.findings.push_back({"binary_hash_mismatch", "aa", "bb", Severity::kCritical});
  return s;
}

Snapshot SnapshotOf(std::shared_ptr<CheckState> s) {
  Snapshot snap;
  snap.checks.push_back(std::move(s));
  return snap;
}

TEST(LandingPage, ShowsTheHostAndTheLastRun) {
  Snapshot snap;
  snap.checks.push_back(
      Compliant(Spec("a", "apply_security_upgrades", Severity::kHigh, false), kT0));
  snap.checks.push_back(
      Compliant(Spec("b", "apply_security_upgrades", Severity::kHigh, false), kT0 + seconds(30)));
  const std::string page =
      RenderLandingPage(snap, kT0 + seconds(90), true, {"web1.example.com", "/"});
  EXPECT_NE(page.find("<p>Host <b>web1.example.com</b> &middot; last run finished "
                      "2023-11-14T22:13:50Z (1m ago)</p>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<title>drift_exporter on web1.example.com</title>"), std::string::npos);
  // Each check's own last run stays in the table.
  EXPECT_NE(page.find("<td>2023-11-14T22:13:20Z</td></tr>"), std::string::npos);
}

// The notes (healing's actions awaiting approval, checks waiting for a capture) show on the
// landing page and on their check's page, under their section's heading, with the command that
// acts on them; text from the notes is escaped.
TEST(Pages, ShowTheModulesNotes) {
  Snapshot snap;
  snap.checks.push_back(
      Drifted(Spec("firewall", "restore_firewall_baseline", Severity::kCritical, false),
              Severity::kCritical));
  snap.checks.push_back(Compliant(Spec("other", "", Severity::kHigh, false), kT0));
  const std::vector<PageNote> notes = {
      {"Waiting for a baseline capture", "other", "Not pinned", "ruleset_sha256 has no pin yet",
       "drift_exporter baseline capture"},
      {"Healing", "firewall", "Awaiting approval", "runbook <restore> waits",
       "drift_exporter heal approve a1"}};
  const std::string landing = RenderLandingPage(snap, kT0, true, {"h", "/"}, notes);
  const std::string row =
      "<tr><td><a href=\"/checks/firewall\">firewall</a></td><td>Awaiting approval</td>"
      "<td>runbook &lt;restore&gt; waits</td><td><code>drift_exporter heal approve a1</code></td>"
      "</tr>";
  EXPECT_NE(landing.find("<h2>Healing</h2>"), std::string::npos) << landing;
  EXPECT_NE(landing.find(row), std::string::npos) << landing;
  EXPECT_NE(RenderCheckPage(snap, "firewall", kT0, notes)->find(row), std::string::npos);
  EXPECT_EQ(RenderCheckPage(snap, "other", kT0, notes)->find("<h2>Healing</h2>"),
            std::string::npos);
  // One table per section, in the order the notes come.
  const std::size_t onboarding = landing.find("<h2>Waiting for a baseline capture</h2>");
  EXPECT_LT(onboarding, landing.find("<h2>Healing</h2>")) << landing;
  EXPECT_NE(RenderCheckPage(snap, "other", kT0, notes)
                ->find("<h2>Waiting for a baseline capture</h2>\n<table>\n<tr><th>Check</th>"
                       "<th>Status</th><th>What</th><th>Command</th></tr>\n<tr><td><a "
                       "href=\"/checks/other\">other</a></td><td>Not pinned</td>"),
            std::string::npos);
  EXPECT_EQ(RenderLandingPage(snap, kT0, true, {"h", "/"}).find("<h2>Healing</h2>"),
            std::string::npos);
}

TEST(LandingPage, NamesACheckedRootOtherThanSlash) {
  Snapshot snap;
  auto never_ran = std::make_shared<CheckState>();
  never_ran->spec = Spec("a", "x", Severity::kHigh, false);
  snap.checks.push_back(never_ran);
  const std::string page = RenderLandingPage(snap, kT0, false, {"h<1>", "/srv/host"});
  EXPECT_NE(page.find("<p>Host <b>h&lt;1&gt;</b> &middot; checking the files under "
                      "<code>/srv/host</code> (host.root) &middot; no check has finished a run "
                      "yet</p>"),
            std::string::npos)
      << page;
}

TEST(CheckPage, SeverityOfACompliantCheckSaysWhenItApplies) {
  auto configured = SnapshotOf(Compliant(Spec("p", "x", Severity::kHigh, true), kT0));
  EXPECT_NE(RenderCheckPage(configured, "p", kT0)
                ->find("<tr><th>Severity</th><td>none (configured high; applies while "
                       "drifted)</td></tr>"),
            std::string::npos);
  auto by_default = SnapshotOf(Compliant(Spec("p", "x", Severity::kHigh, false), kT0));
  EXPECT_NE(RenderCheckPage(by_default, "p", kT0)
                ->find("<tr><th>Severity</th><td>none (default high; applies while drifted, "
                       "unless a cause of the drift has its own)</td></tr>"),
            std::string::npos);
}

TEST(CheckPage, SeverityOfADriftSaysWhereItComesFrom) {
  auto from_causes =
      SnapshotOf(Drifted(Spec("p", "x", Severity::kHigh, false), Severity::kCritical));
  const std::string page = *RenderCheckPage(from_causes, "p", kT0);
  EXPECT_NE(page.find("<td><b>critical</b> (the highest severity of the drift's causes below)"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td>aa</td><td>bb</td><td>critical</td>"), std::string::npos);
  // A configured severity replaces every cause's own, in the causes' table too.
  auto configured = SnapshotOf(Drifted(Spec("p", "x", Severity::kMedium, true), Severity::kMedium));
  const std::string page2 = *RenderCheckPage(configured, "p", kT0);
  EXPECT_NE(page2.find("<td><b>medium</b> (the configured severity of this check's drift)"),
            std::string::npos)
      << page2;
  EXPECT_NE(page2.find("<td>aa</td><td>bb</td><td>medium</td>"), std::string::npos) << page2;
}

TEST(CheckPage, RecommendedActionSaysWhatItDoes) {
  auto known =
      SnapshotOf(Compliant(Spec("p", "apply_security_upgrades", Severity::kHigh, false), kT0));
  const std::string page = *RenderCheckPage(known, "p", kT0);
  EXPECT_NE(page.find("<tr><th>Recommended action</th><td><code>apply_security_upgrades</code>: "
                      "Debian: refresh apt's package lists, install the pending upgrades and "
                      "reboot when /run/reboot-required asks for it<br><span class=\"note\">The "
                      "runbook that heals this check's drift"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("docs/configuration.md"), std::string::npos);
  auto custom = SnapshotOf(Compliant(Spec("p", "page_<oncall>", Severity::kHigh, false), kT0));
  EXPECT_NE(RenderCheckPage(custom, "p", kT0)
                ->find("<code>page_&lt;oncall&gt;</code>: a runbook named in this check's "
                       "configuration"),
            std::string::npos);
}

// Every type's default runbook, and Debian's patching one, has a description.
TEST(ActionDescription, EveryDefaultRunbookIsDescribed) {
  for (const checks::CheckType* type : checks::AllCheckTypes()) {
    EXPECT_FALSE(ActionDescription(type->default_action).empty()) << type->default_action;
  }
  EXPECT_FALSE(ActionDescription("apply_security_upgrades").empty());
  EXPECT_TRUE(ActionDescription("page_security").empty());
}

}  // namespace
}  // namespace drift::exporter
