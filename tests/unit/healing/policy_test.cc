#include "healing/policy.h"

#include <gtest/gtest.h>

#include "common/rfc3339.h"

namespace drift::healing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

WallTime At(const char* text) { return *ParseRfc3339(text); }

const WallTime kNow = At("2026-12-07T12:00:00Z");  // a Monday

Runbook Auto() {
  Runbook r;
  r.name = "restart_logging_services";
  r.tier = Tier::kAuto;
  r.steps = {Step{{"/usr/bin/systemctl", "restart", "rsyslog.service"}}};
  return r;
}

HealingConfig Config() {
  HealingConfig c;
  c.enabled = true;
  c.cooldown = minutes(15);
  c.max_attempts = 3;
  c.attempts_window = hours(24);
  c.maintenance_windows.push_back(*MaintenanceWindow::Make(
      "weekend", *ParseWeekday("sat") | *ParseWeekday("sun"), hours(2), hours(4), "UTC"));
  return c;
}

TEST(Decide, TiersWithoutHistory) {
  EXPECT_EQ(Decide(Auto(), Config(), {}, kNow).kind, DecisionKind::kRun);
  Runbook approval = Auto();
  approval.tier = Tier::kApproval;
  EXPECT_EQ(Decide(approval, Config(), {}, kNow).kind, DecisionKind::kAwaitApproval);
  Runbook manual = Auto();
  manual.tier = Tier::kManual;
  const Decision d = Decide(manual, Config(), {}, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kManual);
  EXPECT_EQ(d.reason,
            "runbook restart_logging_services is manual: it is recorded and shown, "
            "never run");
}

// A replaced antivirus binary is no job for a restart: its cause makes the action manual.
TEST(Decide, ManualCausesAreNeverActedOn) {
  Runbook r = Auto();
  r.name = "restart_av_service";
  r.manual_causes = {"binary_hash_mismatch"};
  const Decision d = Decide(r, Config(), {}, kNow, {"service_inactive", "binary_hash_mismatch"});
  EXPECT_EQ(d.kind, DecisionKind::kManual);
  EXPECT_EQ(d.reason,
            "the drift's cause binary_hash_mismatch is never healed by runbook "
            "restart_av_service (manual_causes): a person must look");
  EXPECT_EQ(Decide(r, Config(), {}, kNow, {"service_inactive"}).kind, DecisionKind::kRun);
}

TEST(Decide, DryRunFromTheSectionOrTheRunbook) {
  EXPECT_FALSE(Decide(Auto(), Config(), {}, kNow).dry_run);
  HealingConfig c = Config();
  c.dry_run = true;
  EXPECT_TRUE(Decide(Auto(), c, {}, kNow).dry_run);
  Runbook r = Auto();
  r.dry_run = true;
  const Decision d = Decide(r, Config(), {}, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kRun);
  EXPECT_TRUE(d.dry_run);
}

TEST(Decide, WaitsForTheNextWindowOutsideOne) {
  Runbook r = Auto();
  r.windows = {"weekend"};
  const Decision d = Decide(r, Config(), {}, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kWaitForWindow);
  EXPECT_EQ(d.not_before, At("2026-12-12T02:00:00Z"));
  EXPECT_EQ(d.reason,
            "runbook restart_logging_services runs only in its maintenance windows; "
            "the next opens at 2026-12-12T02:00:00Z");
  EXPECT_EQ(Decide(r, Config(), {}, At("2026-12-12T03:00:00Z")).kind, DecisionKind::kRun);
  EXPECT_EQ(RunWindow(r, Config(), At("2026-12-12T03:00:00Z")), std::nullopt);
  EXPECT_EQ(RunWindow(Auto(), Config(), kNow), std::nullopt);
}

TEST(Decide, OneActionPerCheckAtATime) {
  CheckHistory h;
  h.busy = true;
  const Decision d = Decide(Auto(), Config(), h, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kSkip);
  EXPECT_EQ(d.reason, "an action for this check is already waiting or running");
}

TEST(Decide, ADriftBackWithinTheCooldownOfAHealIsALoop) {
  CheckHistory h;
  h.last_healed = kNow - minutes(3);
  const Decision d = Decide(Auto(), Config(), h, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kSuspend);
  EXPECT_EQ(d.reason,
            "the drift came back 3m after runbook restart_logging_services healed it, "
            "within the cooldown of 15m: a reconciliation loop");
  h.last_healed = kNow - minutes(15);
  EXPECT_EQ(Decide(Auto(), Config(), h, kNow).kind, DecisionKind::kRun);
}

// Alertmanager's grouping may deliver late: the loop test dates the drift by its alert's start.
TEST(Decide, TheLoopTestDatesTheDriftByItsAlert) {
  CheckHistory h;
  h.last_healed = kNow - minutes(20);
  // Back 5 minutes after the heal, delivered 15 minutes later: a loop all the same.
  EXPECT_EQ(Decide(Auto(), Config(), h, kNow, {}, kNow - minutes(15)).kind, DecisionKind::kSuspend);
  EXPECT_EQ(Decide(Auto(), Config(), h, kNow, {}, kNow - minutes(1)).kind, DecisionKind::kRun);
  // Started before the heal: an alert about the drift that was healed.
  const Decision stale = Decide(Auto(), Config(), h, kNow, {}, kNow - minutes(30));
  EXPECT_EQ(stale.kind, DecisionKind::kSkip);
  EXPECT_EQ(stale.reason,
            "the alert's drift started at 2026-12-07T11:30:00Z, before runbook "
            "restart_logging_services healed the check at 2026-12-07T11:40:00Z: a "
            "stale alert");
}

TEST(Decide, SuspendedChecksWaitForAReset) {
  CheckHistory h;
  h.suspended_at = kNow - hours(1);
  h.suspended_reason = "a reconciliation loop";
  const Decision d = Decide(Auto(), Config(), h, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kSkip);
  EXPECT_EQ(d.reason,
            "healing of this check is suspended since 2026-12-07T11:00:00Z (a "
            "reconciliation loop); `drift_exporter heal reset` resumes it");
}

TEST(Decide, MaxAttemptsWithinTheWindow) {
  CheckHistory h;
  h.attempts = {kNow - hours(25), kNow - hours(20), kNow - hours(10), kNow - hours(2)};
  const Decision d = Decide(Auto(), Config(), h, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kSkip);
  EXPECT_EQ(d.reason,
            "3 attempts within 1d (max_attempts); the next is allowed from "
            "2026-12-07T16:00:00Z");
  h.attempts.erase(h.attempts.begin() + 1);  // the 20h-old one
  EXPECT_EQ(Decide(Auto(), Config(), h, kNow).kind, DecisionKind::kRun);
  EXPECT_EQ(Pruned(h, hours(24), kNow).attempts.size(), 2U);
}

TEST(Decide, CooldownAfterAFailure) {
  CheckHistory h;
  h.last_failed = kNow - minutes(5);
  const Decision d = Decide(Auto(), Config(), h, kNow);
  EXPECT_EQ(d.kind, DecisionKind::kSkip);
  EXPECT_EQ(d.reason,
            "the last attempt failed 5m ago, within the cooldown of 15m; the next is "
            "allowed from 2026-12-07T12:10:00Z");
  EXPECT_EQ(Decide(Auto(), Config(), h, kNow + minutes(10)).kind, DecisionKind::kRun);
}

}  // namespace
}  // namespace drift::healing
