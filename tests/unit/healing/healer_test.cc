#include "healing/healer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <thread>

#include "common/rfc3339.h"
#include "tests/support/fakes.h"

namespace drift::healing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using testing::Exited;
using testing::FakeClock;
using testing::FakeCommandRunner;
using testing::TimedOut;

WallTime At(const char* text) { return *ParseRfc3339(text); }

const std::string kRestart = "/usr/bin/systemctl restart rsyslog.service";
const std::string kReload = "/usr/bin/systemctl reload nftables.service";
const std::string kRollback = "/usr/bin/systemctl restart nftables.service";

class FakeChecks final : public CheckAccess {
 public:
  std::optional<CheckReading> Latest(std::string_view) const override {
    std::lock_guard lock(mu_);
    return latest;
  }
  Result<CheckReading> RunNow(std::string_view check, Deadline) override {
    std::lock_guard lock(mu_);
    runs.emplace_back(check);
    if (run_error) return *run_error;
    return after_steps;
  }
  mutable std::mutex mu_;
  std::optional<CheckReading> latest =
      CheckReading{true, false, "rsyslog is inactive", "{}", {"service_inactive"}};
  CheckReading after_steps{false, false, "", "{}", {}};
  std::optional<Error> run_error;
  std::vector<std::string> runs;
};

class MemoryRecorder final : public Recorder {
 public:
  Status Ready() const override {
    std::lock_guard lock(mu_);
    if (!ready) return Err("the evidence store is unhealthy: disk full");
    return {};
  }
  Status Record(const Event& e) override {
    std::lock_guard lock(mu_);
    if (!ready) return Err("the evidence store is unhealthy: disk full");
    events.push_back(e);
    return {};
  }
  std::vector<std::string> Kinds(const std::string& action_id = "") const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const Event& e : events) {
      if (action_id.empty() || e.action.id == action_id) {
        out.emplace_back(EventKindName(e.kind));
      }
    }
    return out;
  }
  mutable std::mutex mu_;
  bool ready = true;
  std::vector<Event> events;
};

class MemoryStore final : public StateStore {
 public:
  Result<std::optional<std::string>> Load() const override {
    std::lock_guard lock(mu_);
    return text;
  }
  Status Save(std::string_view t) override {
    std::lock_guard lock(mu_);
    if (fail) return Err("state_dir/healing.json: No space left on device");
    text = std::string(t);
    ++saves;
    return {};
  }
  mutable std::mutex mu_;
  std::optional<std::string> text;
  bool fail = false;
  int saves = 0;
};

class RecordingObserver final : public HealingObserver {
 public:
  void Finished(const Action& a) override {
    std::lock_guard lock(mu_);
    finished.push_back(a);
    cv.notify_all();
  }
  // Waits (no timeout: ctest's bounds the test) until `n` actions finished.
  void WaitFinished(std::size_t n) {
    std::unique_lock lock(mu_);
    cv.wait(lock, [&] { return finished.size() >= n; });
  }
  std::condition_variable cv;
  void Changed(const HealingSummary& s) override {
    std::lock_guard lock(mu_);
    summary = s;
  }
  std::mutex mu_;
  std::vector<Action> finished;
  HealingSummary summary;
};

Runbook MakeRunbook(std::string name, Tier tier, std::string argv) {
  Runbook r;
  r.name = std::move(name);
  r.tier = tier;
  Step s;
  std::string word;
  for (char c : argv + " ") {
    if (c == ' ') {
      s.argv.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  r.steps.push_back(s);
  return r;
}

HealerConfig MakeConfig() {
  HealerConfig c;
  c.healing.enabled = true;
  c.healing.cooldown = minutes(15);
  c.healing.approval_expiry = hours(4);
  c.healing.maintenance_windows.push_back(
      *MaintenanceWindow::Make("night", 0x7f, hours(1), hours(2), "UTC"));
  c.instance = "web-1";
  c.runbooks["restart_logging_services"] =
      MakeRunbook("restart_logging_services", Tier::kAuto, kRestart);
  Runbook fw = MakeRunbook("restore_firewall_baseline", Tier::kApproval, kReload);
  fw.rollback.push_back(Step{{"/usr/bin/systemctl", "restart", "nftables.service"}});
  c.runbooks["restore_firewall_baseline"] = fw;
  Runbook manual;
  manual.name = "enable_volume_encryption";
  manual.tier = Tier::kManual;
  c.runbooks[manual.name] = manual;
  c.check_runbooks = {{"logging", "restart_logging_services"},
                      {"firewall", "restore_firewall_baseline"},
                      {"encryption", "enable_volume_encryption"}};
  return c;
}

WebhookAlert DriftAlert(const std::string& check, WallTime starts,
                        AlertStatus status = AlertStatus::kFiring) {
  WebhookAlert a;
  a.status = status;
  a.labels = {{"alertname", "ComplianceDrift"}, {"check", check}, {"instance", "web-1"}};
  a.starts_at = starts;
  if (status == AlertStatus::kResolved) a.ends_at = starts + minutes(5);
  a.fingerprint = AlertmanagerFingerprint(a.labels);
  return a;
}

WebhookMessage Message(std::vector<WebhookAlert> alerts) {
  WebhookMessage m;
  m.receiver = "drift-heal";
  m.alerts = std::move(alerts);
  return m;
}

class HealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(At("2026-12-07T12:00:00Z"));
    runner_.Script(kRestart, 0, "");
    runner_.Script(kReload, 0, "");
    runner_.Script(kRollback, 0, "");
    Open();
  }
  void Open(HealerConfig config = MakeConfig()) {
    healer_.reset();
    Result<std::unique_ptr<Healer>> h = Healer::Open(
        HealerDeps{clock_, runner_, checks_, recorder_, store_, observer_}, std::move(config));
    ASSERT_TRUE(h.ok()) << h.error().message;
    healer_ = std::move(*h);
  }
  AlertOutcome AcceptOne(const WebhookAlert& alert) {
    Result<std::vector<AlertOutcome>> out = healer_->Accept(Message({alert}), "alertmanager");
    EXPECT_TRUE(out.ok()) << out.error().message;
    return out.ok() && !out->empty() ? out->front() : AlertOutcome{};
  }
  Action Get(const std::string& id) { return *healer_->Find(id); }
  std::size_t Ran(const std::string& argv) {
    std::size_t n = 0;
    for (const auto& c : runner_.commands_ran()) {
      std::string joined;
      for (const auto& a : c) joined += (joined.empty() ? "" : " ") + a;
      if (joined == argv) ++n;
    }
    return n;
  }

  FakeClock clock_;
  FakeCommandRunner runner_;
  FakeChecks checks_;
  MemoryRecorder recorder_;
  MemoryStore store_;
  RecordingObserver observer_;
  std::unique_ptr<Healer> healer_;
  const WallTime start_ = At("2026-12-07T11:58:00Z");
};

TEST_F(HealerTest, AnAutoRunbookHealsAndRecordsEveryStep) {
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  EXPECT_EQ(out.result, "queued");
  EXPECT_EQ(Ran(kRestart), 0U);          // accepted first, run after the reply
  ASSERT_TRUE(store_.text.has_value());  // durable before the reply

  healer_->RunDue();
  EXPECT_EQ(Ran(kRestart), 1U);
  EXPECT_EQ(checks_.runs, std::vector<std::string>{"logging"});
  const Action a = Get(out.action_id);
  EXPECT_EQ(a.status, ActionStatus::kHealed);
  EXPECT_EQ(a.reason, "healed by runbook restart_logging_services");
  EXPECT_EQ(a.requested_by, "alertmanager");
  EXPECT_EQ(recorder_.Kinds(a.id), (std::vector<std::string>{"requested", "decided", "snapshot",
                                                             "step", "verified", "finished"}));
  ASSERT_EQ(observer_.finished.size(), 1U);
  EXPECT_EQ(observer_.finished[0].status, ActionStatus::kHealed);
  EXPECT_EQ(observer_.summary.last_action.at("logging"), clock_.Now());
}

TEST_F(HealerTest, TheSameAlertRunsOnceAlsoAcrossARestart) {
  const AlertOutcome first = AcceptOne(DriftAlert("logging", start_));
  const AlertOutcome again = AcceptOne(DriftAlert("logging", start_));
  EXPECT_EQ(again.result, "duplicate");
  EXPECT_EQ(again.action_id, first.action_id);
  healer_->RunDue();
  Open();  // a restart: the state file is all that carries over
  EXPECT_EQ(AcceptOne(DriftAlert("logging", start_)).result, "duplicate");
  healer_->RunDue();
  EXPECT_EQ(Ran(kRestart), 1U);
  EXPECT_EQ(healer_->Actions().size(), 1U);
}

TEST_F(HealerTest, AHundredConcurrentDeliveriesMakeOneAction) {
  std::vector<std::thread> threads;
  std::atomic<int> queued = 0;
  std::atomic<int> duplicates = 0;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] {
      Result<std::vector<AlertOutcome>> out =
          healer_->Accept(Message({DriftAlert("logging", start_)}), "alertmanager");
      ASSERT_TRUE(out.ok());
      (out->front().result == "queued" ? queued : duplicates)++;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(queued, 1);
  EXPECT_EQ(duplicates, 99);
  healer_->RunDue();
  EXPECT_EQ(Ran(kRestart), 1U);
}

TEST_F(HealerTest, LabelsSelectButNeverReachACommand) {
  WebhookAlert alert = DriftAlert("logging", start_);
  alert.labels["severity"] = "$(id); rm -rf / ../../etc\n-x";
  alert.annotations["recommended_action"] = "/bin/sh";
  alert.fingerprint = AlertmanagerFingerprint(alert.labels);
  AcceptOne(alert);
  healer_->RunDue();
  ASSERT_EQ(runner_.commands_ran().size(), 1U);
  EXPECT_EQ(runner_.commands_ran()[0],
            (std::vector<std::string>{"/usr/bin/systemctl", "restart", "rsyslog.service"}));
}

TEST_F(HealerTest, IgnoresWhatIsNotADriftOfACheckHere) {
  WebhookAlert other_host = DriftAlert("logging", start_);
  other_host.labels["instance"] = "web-2";
  WebhookAlert failing = DriftAlert("logging", start_);
  failing.labels["alertname"] = "ComplianceCheckFailing";
  Result<std::vector<AlertOutcome>> out = healer_->Accept(
      Message({other_host, failing, DriftAlert("nope", start_), DriftAlert("../x", start_)}),
      "alertmanager");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].reason, "for instance \"web-2\", not this exporter's \"web-1\"");
  EXPECT_EQ((*out)[1].reason, "not a ComplianceDrift alert");
  EXPECT_EQ((*out)[2].reason, "no check named \"nope\" here");
  EXPECT_EQ((*out)[3].reason, "no check named \"../x\" here");
  for (const AlertOutcome& o : *out) EXPECT_EQ(o.result, "ignored");
  EXPECT_TRUE(healer_->Actions().empty());
  EXPECT_TRUE(recorder_.events.empty());
  EXPECT_FALSE(store_.text.has_value());  // nothing to remember
}

TEST_F(HealerTest, ApprovalWaitsWithTheDriftedStateRecorded) {
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  EXPECT_EQ(out.result, "awaiting_approval");
  healer_->RunDue();
  EXPECT_EQ(Ran(kReload), 0U);
  ASSERT_EQ(recorder_.Kinds(out.action_id),
            (std::vector<std::string>{"requested", "decided", "snapshot"}));
  EXPECT_EQ(recorder_.events[2].reading->reason, "rsyslog is inactive");
  ASSERT_EQ(observer_.summary.awaiting_approval.size(), 1U);
  EXPECT_EQ(Get(out.action_id).expires_at, clock_.Now() + hours(4));

  Result<Action> approved = healer_->Approve(out.action_id, "alice");
  ASSERT_TRUE(approved.ok()) << approved.error().message;
  EXPECT_EQ(approved->status, ActionStatus::kQueued);
  EXPECT_EQ(approved->decided_by, "alice");
  EXPECT_FALSE(healer_->Approve(out.action_id, "alice").ok());  // once
  healer_->RunDue();
  EXPECT_EQ(Ran(kReload), 1U);
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kHealed);
  EXPECT_TRUE(observer_.summary.awaiting_approval.empty());
}

TEST_F(HealerTest, RejectedAndExpiredActionsNeverRun) {
  const AlertOutcome rejected = AcceptOne(DriftAlert("firewall", start_));
  Result<Action> r = healer_->Reject(rejected.action_id, "bob", "change window is Friday");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reason, "rejected by bob: change window is Friday");
  EXPECT_FALSE(healer_->Approve(rejected.action_id, "alice").ok());

  const AlertOutcome expiring = AcceptOne(DriftAlert("firewall", start_ + minutes(1)));
  clock_.Advance(hours(4));
  healer_->RunDue();
  EXPECT_EQ(Get(expiring.action_id).status, ActionStatus::kExpired);
  Result<Action> late = healer_->Approve(expiring.action_id, "alice");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().message,
            fmt::format("action {} is expired, not awaiting approval", expiring.action_id));
  EXPECT_EQ(Ran(kReload), 0U);
}

TEST_F(HealerTest, AResolvedAlertCancelsWhatStillWaits) {
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  const AlertOutcome resolved = AcceptOne(DriftAlert("firewall", start_, AlertStatus::kResolved));
  EXPECT_EQ(resolved.result, "cancelled");
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kCancelled);
  EXPECT_FALSE(healer_->Approve(out.action_id, "alice").ok());
}

TEST_F(HealerTest, AFailedStepRollsBackAndEscalates) {
  runner_.Script(kReload, 1, "", "Error: syntax error in /etc/nftables.conf");
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  ASSERT_TRUE(healer_->Approve(out.action_id, "alice").ok());
  healer_->RunDue();
  const Action a = Get(out.action_id);
  EXPECT_EQ(a.status, ActionStatus::kFailed);
  EXPECT_EQ(a.reason, "step 1 of 1: exited with status 1; rolled back");
  EXPECT_EQ(Ran(kRollback), 1U);
  EXPECT_TRUE(checks_.runs.empty());  // no verification after a failed step
  EXPECT_EQ(observer_.summary.escalated.at("firewall"), a.reason);
  // The next drift of the check waits out the cooldown after a failure.
  const AlertOutcome next = AcceptOne(DriftAlert("firewall", start_ + minutes(20)));
  EXPECT_EQ(next.result, "skipped");
  // Compliant again: the escalation ends.
  healer_->CheckCompliant("firewall");
  healer_->RunDue();
  EXPECT_TRUE(observer_.summary.escalated.empty());
}

TEST_F(HealerTest, ADriftThatStaysIsRolledBack) {
  checks_.after_steps =
      CheckReading{true, false, "ruleset hash differs", "{}", {"ruleset_hash_mismatch"}};
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  ASSERT_TRUE(healer_->Approve(out.action_id, "alice").ok());
  healer_->RunDue();
  EXPECT_EQ(Get(out.action_id).reason, "the check still drifts: ruleset hash differs; rolled back");
  EXPECT_EQ(Ran(kRollback), 1U);
  EXPECT_EQ(recorder_.Kinds(out.action_id),
            (std::vector<std::string>{"requested", "decided", "snapshot", "approved", "snapshot",
                                      "step", "verified", "rollback_step", "finished"}));
}

TEST_F(HealerTest, HungAndFloodingStepsFail) {
  runner_.Script(kRestart, TimedOut("partial"));
  const AlertOutcome hung = AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  EXPECT_EQ(Get(hung.action_id).status, ActionStatus::kFailed);

  CommandOutput flood = Exited(0, std::string(1000, 'x'));
  flood.truncated = true;
  runner_.Script(kRestart, flood);
  clock_.Advance(minutes(30));
  const AlertOutcome flooding = AcceptOne(DriftAlert("logging", start_ + minutes(1)));
  healer_->RunDue();
  EXPECT_EQ(Get(flooding.action_id).status, ActionStatus::kFailed);
}

TEST_F(HealerTest, ADriftBackRightAfterAHealIsALoopUntilReset) {
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  clock_.Advance(minutes(5));
  const AlertOutcome back = AcceptOne(DriftAlert("logging", start_ + minutes(6)));
  EXPECT_EQ(back.result, "skipped");
  EXPECT_NE(back.reason.find("a reconciliation loop"), std::string::npos);
  EXPECT_EQ(observer_.summary.suspended, std::set<std::string>{"logging"});
  EXPECT_TRUE(observer_.summary.escalated.contains("logging"));
  clock_.Advance(hours(1));
  EXPECT_EQ(AcceptOne(DriftAlert("logging", start_ + hours(1))).result, "skipped");  // suspended
  healer_->CheckCompliant("logging");  // a suspension stays until an operator resets it
  healer_->RunDue();
  EXPECT_TRUE(observer_.summary.escalated.contains("logging"));

  ASSERT_TRUE(healer_->Reset("logging", "carol").ok());
  EXPECT_TRUE(observer_.summary.suspended.empty());
  EXPECT_TRUE(observer_.summary.escalated.empty());
  EXPECT_EQ(AcceptOne(DriftAlert("logging", start_ + hours(2))).result, "queued");
  EXPECT_FALSE(healer_->Reset("nope", "carol").ok());
}

// The check itself reports the drift back: a loop even when no alert about it arrives.
TEST_F(HealerTest, ADriftBackSeenByTheCheckIsALoopWithoutAnAlert) {
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();  // healed at 12:00
  healer_->CheckDrifted("logging", clock_.Now() + minutes(2));
  clock_.Advance(minutes(3));
  healer_->RunDue();
  EXPECT_EQ(observer_.summary.suspended, std::set<std::string>{"logging"});
  EXPECT_TRUE(observer_.summary.escalated.contains("logging"));
  const std::vector<Action> actions = healer_->Actions();
  ASSERT_EQ(actions.size(), 2U);
  EXPECT_EQ(actions[0].status, ActionStatus::kSkipped);
  EXPECT_EQ(actions[0].reason,
            "the drift came back 2m after runbook restart_logging_services "
            "healed it, within the cooldown of 15m: a reconciliation loop");
  // A first drift, or one after the cooldown, is none.
  healer_->CheckDrifted("firewall", clock_.Now());
  healer_->RunDue();
  EXPECT_EQ(observer_.summary.suspended.size(), 1U);
}

TEST_F(HealerTest, ManualRunbooksAreRecordedNeverRun) {
  const AlertOutcome out = AcceptOne(DriftAlert("encryption", start_));
  EXPECT_EQ(out.result, "manual");
  healer_->RunDue();
  EXPECT_TRUE(runner_.commands_ran().empty());
  EXPECT_EQ(recorder_.Kinds(out.action_id), (std::vector<std::string>{"requested", "decided"}));
}

TEST_F(HealerTest, DryRunRecordsTheStepsAndRunsNothing) {
  HealerConfig c = MakeConfig();
  c.healing.dry_run = true;
  healer_->Configure(c);
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  EXPECT_TRUE(runner_.commands_ran().empty());
  EXPECT_TRUE(checks_.runs.empty());
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kDryRun);
  EXPECT_EQ(recorder_.Kinds(out.action_id),
            (std::vector<std::string>{"requested", "decided", "snapshot", "step", "finished"}));
}

TEST_F(HealerTest, WaitsForTheMaintenanceWindow) {
  HealerConfig c = MakeConfig();
  c.runbooks["restart_logging_services"].windows = {"night"};  // 01:00-03:00 UTC daily
  healer_->Configure(c);
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  EXPECT_EQ(out.result, "waiting_for_window");
  EXPECT_EQ(Get(out.action_id).not_before, At("2026-12-08T01:00:00Z"));
  healer_->RunDue();
  EXPECT_EQ(Ran(kRestart), 0U);
  clock_.Set(At("2026-12-08T01:00:00Z"));
  healer_->RunDue();
  EXPECT_EQ(Ran(kRestart), 1U);
}

TEST_F(HealerTest, AnUnhealthyEvidenceStoreRefusesAndLosesNothing) {
  recorder_.ready = false;
  Result<std::vector<AlertOutcome>> out =
      healer_->Accept(Message({DriftAlert("logging", start_)}), "alertmanager");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message,
            "healing cannot record this request: the evidence store is unhealthy: disk full");
  EXPECT_TRUE(healer_->Actions().empty());
  // Alertmanager retries the 503: once the store is back, the retry is a new request.
  recorder_.ready = true;
  EXPECT_EQ(AcceptOne(DriftAlert("logging", start_)).result, "queued");
}

TEST_F(HealerTest, AStateFileThatCannotBeSavedRefusesTheRequest) {
  store_.fail = true;
  Result<std::vector<AlertOutcome>> out =
      healer_->Accept(Message({DriftAlert("logging", start_)}), "alertmanager");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message,
            "healing cannot record this request: state_dir/healing.json: "
            "No space left on device");
  EXPECT_TRUE(healer_->Actions().empty());
  healer_->RunDue();
  EXPECT_TRUE(runner_.commands_ran().empty());
}

TEST_F(HealerTest, AnActionFoundRunningAtStartIsInterruptedNotRerun) {
  HealingState state;
  Action a;
  a.id = "a0000000000000001";
  a.check = "logging";
  a.runbook = "restart_logging_services";
  a.tier = Tier::kAuto;
  a.status = ActionStatus::kRunning;
  a.created_at = a.updated_at = clock_.Now();
  state.actions[a.id] = a;
  store_.text = SerializeState(state);
  Open();
  healer_->Start();
  healer_->Stop();
  EXPECT_EQ(Get(a.id).status, ActionStatus::kInterrupted);
  EXPECT_TRUE(runner_.commands_ran().empty());
  EXPECT_EQ(recorder_.Kinds(a.id), std::vector<std::string>{"interrupted"});
  EXPECT_TRUE(observer_.summary.escalated.contains("logging"));
}

TEST_F(HealerTest, ACorruptStateFileIsAnError) {
  store_.text = "{not json";
  Result<std::unique_ptr<Healer>> h = Healer::Open(
      HealerDeps{clock_, runner_, checks_, recorder_, store_, observer_}, MakeConfig());
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(
      h.error().message.starts_with("cannot read the healing state: not a healing state "
                                    "file"));
}

TEST_F(HealerTest, ItsThreadRunsWhatIsAccepted) {
  healer_->Start();
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  observer_.WaitFinished(1);
  healer_->Stop();
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kHealed);
  EXPECT_EQ(Ran(kRestart), 1U);
}

// The state says "running" before the first step runs: a crash from there on is found.
TEST_F(HealerTest, RunningIsSavedBeforeTheFirstStep) {
  class Spy final : public CommandRunner {
   public:
    explicit Spy(MemoryStore& store) : store_(store) {}
    Result<CommandOutput> Run(const Command&, Deadline) const override {
      std::lock_guard lock(store_.mu_);
      saw_running = store_.text && store_.text->find("\"running\"") != std::string::npos;
      return Exited(0, "");
    }
    mutable bool saw_running = false;

   private:
    MemoryStore& store_;
  } spy(store_);
  healer_.reset();
  Result<std::unique_ptr<Healer>> h =
      Healer::Open(HealerDeps{clock_, spy, checks_, recorder_, store_, observer_}, MakeConfig());
  ASSERT_TRUE(h.ok());
  healer_ = std::move(*h);
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  EXPECT_TRUE(spy.saw_running);
}

TEST_F(HealerTest, AShutdownDuringVerificationLeavesItForTheNextStart) {
  checks_.run_error = Error{"the scheduler stopped before check logging ran", ECANCELED};
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kRunning);
  EXPECT_EQ(Ran(kRollback), 0U);
  Open();  // the next start
  healer_->Start();
  healer_->Stop();
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kInterrupted);
}

// What was approved is what runs: a reload that changes the runbook cancels the action.
TEST_F(HealerTest, AChangedRunbookCancelsWhatWasApproved) {
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  ASSERT_TRUE(healer_->Approve(out.action_id, "alice").ok());
  HealerConfig c = MakeConfig();
  c.runbooks["restore_firewall_baseline"].steps[0].argv.push_back("--force");
  healer_->Configure(c);
  healer_->RunDue();
  EXPECT_EQ(Ran(kReload), 0U);
  const Action a = Get(out.action_id);
  EXPECT_EQ(a.status, ActionStatus::kCancelled);
  EXPECT_EQ(a.reason,
            "runbook restore_firewall_baseline changed since this action was decided; "
            "the next delivery of its alert decides again");
  // ...and the alert, delivered again, is decided again under the new runbook.
  EXPECT_EQ(AcceptOne(DriftAlert("firewall", start_)).result, "awaiting_approval");
}

TEST_F(HealerTest, NothingRunsForACheckThatIsCompliantAgain) {
  const AlertOutcome out = AcceptOne(DriftAlert("firewall", start_));
  ASSERT_TRUE(healer_->Approve(out.action_id, "alice").ok());
  checks_.latest = CheckReading{false, false, "ruleset matches", "{}", {}};
  healer_->RunDue();
  EXPECT_EQ(Ran(kReload), 0U);
  EXPECT_EQ(Get(out.action_id).reason, "check firewall is compliant again; nothing to heal");
}

TEST_F(HealerTest, NothingRunsWhileTheEvidenceStoreIsUnhealthy) {
  const AlertOutcome out = AcceptOne(DriftAlert("logging", start_));
  recorder_.ready = false;
  healer_->RunDue();
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kQueued);
  EXPECT_TRUE(runner_.commands_ran().empty());
  recorder_.ready = true;
  healer_->RunDue();
  EXPECT_EQ(Get(out.action_id).status, ActionStatus::kHealed);
}

TEST_F(HealerTest, AnAlertStillFiringAWeekLaterIsStillADuplicate) {
  const AlertOutcome out = AcceptOne(DriftAlert("encryption", start_));  // manual
  for (int day = 1; day <= 10; ++day) {
    clock_.Advance(hours(24));
    EXPECT_EQ(AcceptOne(DriftAlert("encryption", start_)).result, "duplicate") << day;
  }
  EXPECT_EQ(healer_->Actions().size(), 1U);
  EXPECT_EQ(healer_->Actions()[0].id, out.action_id);
}

// A skip is not for ever: the alert delivered again after the limit passed is decided again,
// but copies within a minute (HA peers, retries) are duplicates.
TEST_F(HealerTest, ASkippedAlertIsDecidedAgainWhenDeliveredLater) {
  runner_.Script(kRestart, 1, "");
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();  // fails: cooldown for 15 minutes
  const WebhookAlert second = DriftAlert("logging", start_ + minutes(1));
  EXPECT_EQ(AcceptOne(second).result, "skipped");
  EXPECT_EQ(AcceptOne(second).result, "duplicate");
  runner_.Script(kRestart, 0, "");
  clock_.Advance(minutes(16));
  EXPECT_EQ(AcceptOne(second).result, "queued");
}

TEST_F(HealerTest, AStaleAlertIsNoLoop) {
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();  // healed at 12:00
  clock_.Advance(minutes(2));
  // Another alert of the same drift (a new label set) that started before the heal.
  WebhookAlert older = DriftAlert("logging", start_ - minutes(1));
  older.labels["severity"] = "high";
  older.fingerprint = AlertmanagerFingerprint(older.labels);
  const AlertOutcome out = AcceptOne(older);
  EXPECT_EQ(out.result, "skipped");
  EXPECT_NE(out.reason.find("a stale alert"), std::string::npos) << out.reason;
  EXPECT_TRUE(observer_.summary.suspended.empty());
}

TEST_F(HealerTest, AResetLetsTheSkippedAlertAct) {
  AcceptOne(DriftAlert("logging", start_));
  healer_->RunDue();
  clock_.Advance(minutes(5));
  const WebhookAlert back = DriftAlert("logging", start_ + minutes(6));
  EXPECT_EQ(AcceptOne(back).result, "skipped");  // a loop: suspended
  ASSERT_TRUE(healer_->Reset("logging", "carol").ok());
  EXPECT_EQ(AcceptOne(back).result, "queued");
}

TEST_F(HealerTest, HostileLabelsSelectNothing) {
  for (const char* check : {"$(id)", "logging; rm -rf /", "-logging", "logging\n", "../logging"}) {
    WebhookAlert a = DriftAlert(check, start_);
    EXPECT_EQ(AcceptOne(a).result, "ignored") << check;
  }
  WebhookAlert instance = DriftAlert("logging", start_);
  instance.labels["instance"] = "web-1\nweb-2";
  EXPECT_EQ(AcceptOne(instance).result, "ignored");
  EXPECT_TRUE(healer_->Actions().empty());
}

TEST(HealingState, RoundTripsAndPrunes) {
  HealingState s;
  const WallTime now = At("2026-12-07T12:00:00Z");
  for (int i = 0; i < 5; ++i) {
    Action a;
    a.id = fmt::format("a{:016x}", i);
    a.check = "logging";
    a.status = i == 4 ? ActionStatus::kAwaitingApproval : ActionStatus::kHealed;
    a.updated_at = now - minutes(10 - i);
    a.expires_at = now + hours(1);
    a.alert_labels = {{"check", "logging"}};
    s.actions[a.id] = a;
    s.handled[fmt::format("k{}", i)] = a.id;
    s.handled_at[fmt::format("k{}", i)] = now - hours(24 * 8) + hours(i * 24);
  }
  s.history["logging"].attempts = {now - hours(30), now - hours(1)};
  s.history["logging"].suspended_at = now;
  s.escalated["logging"] = "a loop";
  Result<HealingState> back = ParseState(SerializeState(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, s);

  PruneState(s, 2, hours(24 * 7), hours(24), now);
  EXPECT_EQ(s.actions.size(), 3U);  // the two newest final ones and the waiting one
  EXPECT_TRUE(s.actions.contains("a0000000000000004"));
  EXPECT_TRUE(s.actions.contains("a0000000000000003"));
  EXPECT_EQ(s.handled.size(), 3U);  // k0 and k1 are 8 and 7 days old
  EXPECT_EQ(s.history["logging"].attempts.size(), 1U);
  EXPECT_FALSE(ParseState(R"({"version":2})").ok());
}

}  // namespace
}  // namespace drift::healing
