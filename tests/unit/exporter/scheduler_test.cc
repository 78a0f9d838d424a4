#include "exporter/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#include "checks/rooted_fs.h"
#include "common/activity.h"
#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/fakes.h"

namespace drift::exporter {
namespace {

using namespace std::chrono_literals;

// Where runs of ScriptedChecks meet in groups of `size`: each waits, without timing, until its
// group is full, so the runs of a group are in progress together. `running` and `peak` count how
// many were at once.
struct Meeting {
  explicit Meeting(int n) : size(n) {}
  const int size;
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
};

// A check whose verdict the test sets. It returns at once, or once its group of `meeting` is full.
class ScriptedCheck final : public checks::Check {
 public:
  explicit ScriptedCheck(checks::Verdict verdict, Meeting* meeting = nullptr)
      : verdict_(verdict), meeting_(meeting) {}
  checks::CheckResult Run(const checks::Host&, Deadline deadline) const override {
    if (meeting_ != nullptr) {
      Meeting& m = *meeting_;
      int now = ++m.running;
      int seen = m.peak.load();
      while (now > seen && !m.peak.compare_exchange_weak(seen, now)) {
      }
      std::unique_lock lock(m.mu);
      const int group_end = (m.entered / m.size + 1) * m.size;
      ++m.entered;
      m.cv.notify_all();
      m.cv.wait(lock, [&] { return m.entered >= group_end; });
      --m.running;
    }
    ++runs;
    if (std::chrono::steady_clock::now() >= deadline) {
      return checks::CheckResult::Error("deadline passed");
    }
    checks::CheckResult r;
    r.verdict = verdict_;
    r.reason = "scripted";
    return r;
  }
  mutable std::atomic<int> runs{0};

 private:
  checks::Verdict verdict_;
  Meeting* meeting_;
};

// A check that waits at a gate the test opens and closes (no sleeping, no timing), saying what it
// waits for the way ProcessRunner does, then gives `verdict`.
class GatedCheck final : public checks::Check {
 public:
  explicit GatedCheck(std::string activity) : activity_(std::move(activity)) {}
  checks::CheckResult Run(const checks::Host&, Deadline) const override {
    ScopedActivity activity(activity_);
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    checks::CheckResult r;
    r.verdict = verdict_;
    r.reason = "gated";
    return r;
  }
  void Open(checks::Verdict verdict) {
    std::lock_guard lock(mu_);
    open_ = true;
    verdict_ = verdict;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  // Waits until `n` runs have started.
  void WaitEntered(int n) const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  // How many runs have started.
  int entered() const {
    std::lock_guard lock(mu_);
    return entered_;
  }

 private:
  const std::string activity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool open_ = true;
  checks::Verdict verdict_ = checks::Verdict::kCompliant;
};

const checks::CheckType kGatedType{"gated", checks::Severity::kHigh, {}, "", {}, nullptr};

class SchedulerTest : public ::testing::Test {
 protected:
  std::shared_ptr<const CheckSpec> AddCheck(const std::string& name,
                                            std::shared_ptr<const ScriptedCheck> check,
                                            std::chrono::milliseconds timeout = 2s) {
    auto spec = std::make_shared<CheckSpec>();
    spec->name = name;
    spec->check = std::move(check);
    spec->timeout = timeout;
    plan_->checks.push_back(spec);
    return spec;
  }

  void AddGated(const std::string& name, std::shared_ptr<const GatedCheck> check,
                std::chrono::milliseconds timeout = 60s) {
    auto spec = std::make_shared<CheckSpec>();
    spec->name = name;
    spec->type = &kGatedType;
    spec->check = std::move(check);
    spec->timeout = timeout;
    plan_->checks.push_back(spec);
  }

  testing::FakeClock clock_;
  testing::FakeCommandRunner runner_;
  testing::FakeServiceManager services_;
  testing::FakeJournal journal_{clock_};
  checks::RootedFileSystem fs_{"/"};
  testing::InstantMonotonicClock monotonic_;
  checks::Host host_{fs_, runner_, services_, journal_, clock_, monotonic_};
  std::shared_ptr<Plan> plan_ = [this] {
    auto p = std::make_shared<Plan>();
    p->settings.mode = ScheduleMode::kOnScrape;
    p->host = std::shared_ptr<const checks::Host>(&host_, [](const checks::Host*) {});
    return p;
  }();
};

const CheckState& StateOf(const Snapshot& snap, const std::string& name) {
  for (const auto& s : snap.checks) {
    if (s->spec->name == name) return *s;
  }
  throw std::runtime_error("no state for " + name);
}

TEST_F(SchedulerTest, RunOnceRunsEveryCheckAndPublishes) {
  AddCheck("ok", std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant));
  AddCheck("bad", std::make_shared<ScriptedCheck>(checks::Verdict::kDrifted));
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  EXPECT_FALSE(scheduler->AllRan());
  scheduler->Start();
  scheduler->RunOnce();
  auto snap = scheduler->snapshot();
  EXPECT_TRUE(scheduler->AllRan());
  EXPECT_FALSE(StateOf(*snap, "ok").drifted);
  EXPECT_TRUE(StateOf(*snap, "bad").drifted);
  scheduler->Stop();
}

TEST_F(SchedulerTest, ConcurrencyIsBounded) {
  Meeting meeting(3);  // 12 checks meet in 4 groups of 3: each group runs together
  plan_->settings.concurrency = 3;
  for (int i = 0; i < 12; ++i) {
    // Not "c" + std::to_string(i): GCC 12 warns -Wrestrict on that in optimised builds.
    std::string name(1, 'c');
    name += std::to_string(i);
    AddCheck(name, std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant, &meeting));
  }
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  scheduler->RunOnce();
  EXPECT_EQ(meeting.peak.load(), 3);
  EXPECT_TRUE(scheduler->AllRan());
  scheduler->Stop();
}

// On a fake monotonic clock: the hung check ignores its deadline until the test opens its gate;
// the clock is moved one second past that deadline once the run has started.
TEST_F(SchedulerTest, HungCheckIsReportedAsTimedOutWithoutDelayingOthers) {
  plan_->settings.concurrency = 1;
  auto hung = std::make_shared<GatedCheck>("");
  hung->Close();
  AddGated("hung", hung, 100ms);
  AddGated("quick", std::make_shared<GatedCheck>(""));
  testing::FakeMonotonicClock monotonic;
  auto scheduler = Scheduler::Create(clock_, monotonic);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  std::thread watchdog_time([&] {
    hung->WaitEntered(1);
    monotonic.Advance(1100ms);  // the timeout, and the watchdog's one second of grace
  });
  auto started = std::chrono::steady_clock::now();
  scheduler->RunOnce();
  auto took = std::chrono::steady_clock::now() - started;
  watchdog_time.join();
  EXPECT_LT(took, 2500ms) << "the watchdog abandons the hung run one second past its deadline";
  auto snap = scheduler->snapshot();
  const CheckState& h = StateOf(*snap, "hung");
  EXPECT_FALSE(h.success);
  EXPECT_NE(h.result.reason.find("timed out after 100ms"), std::string::npos) << h.result.reason;
  EXPECT_TRUE(StateOf(*snap, "quick").success) << "a replacement worker ran the other check";
  // The hung check is not started again while its run is still stuck.
  scheduler->RunOnce();
  EXPECT_EQ(hung->entered(), 1);
  // Let the hung run return; once it has, the check runs again (and no worker is left inside a
  // run that would outlive the fake clock).
  hung->Open(checks::Verdict::kCompliant);
  for (int i = 0; i < 10'000 && hung->entered() < 2; ++i) scheduler->RunOnce();
  EXPECT_EQ(hung->entered(), 2);
  scheduler->Stop();
}

TEST_F(SchedulerTest, ReloadKeepsStateOfUnchangedNamesAndDropsOthers) {
  auto spec = AddCheck("keep", std::make_shared<ScriptedCheck>(checks::Verdict::kDrifted));
  AddCheck("gone", std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant));
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  scheduler->RunOnce();
  WallTime since = StateOf(*scheduler->snapshot(), "keep").drift_since;

  auto next = std::make_shared<Plan>(*plan_);
  auto respec = std::make_shared<CheckSpec>(*spec);
  next->checks = {respec};
  clock_.Advance(60s);
  scheduler->SetPlan(next);
  auto snap = scheduler->snapshot();
  ASSERT_EQ(snap->checks.size(), 1u);
  EXPECT_EQ(snap->checks[0]->drift_since, since) << "drift age survives a reload";
  EXPECT_EQ(snap->checks[0]->spec, respec);
  scheduler->Stop();
}

// A restart: states restored from the state file show at once and continue with the first run,
// which is no transition; /-/ready still waits for that run.
TEST_F(SchedulerTest, RestoredStatesContinueButStillWaitForARunOfThisProcess) {
  auto spec = AddCheck("fw", std::make_shared<ScriptedCheck>(checks::Verdict::kDrifted));
  CheckState restored;
  restored.spec = spec;
  restored.ran = true;
  restored.known = true;
  restored.success = true;
  restored.drifted = true;
  restored.drift_streak = 5;
  restored.drift_since = clock_.Now() - 1h;
  restored.severity = checks::Severity::kHigh;
  restored.result.verdict = checks::Verdict::kDrifted;
  auto scheduler = Scheduler::Create(clock_);
  std::mutex mu;
  std::vector<std::pair<CheckState, CheckState>> seen;
  scheduler->SetObserver([&](const CheckState& before, const CheckState& after) {
    std::lock_guard lock(mu);
    seen.emplace_back(before, after);
  });
  scheduler->Restore({restored});
  scheduler->SetPlan(plan_);
  EXPECT_TRUE(StateOf(*scheduler->snapshot(), "fw").drifted) << "shown before the first run";
  EXPECT_FALSE(scheduler->AllRan()) << "restored is not ran in this process";

  scheduler->Start();
  scheduler->RunOnce();
  EXPECT_TRUE(scheduler->AllRan());
  const CheckState& after = StateOf(*scheduler->snapshot(), "fw");
  EXPECT_EQ(after.drift_since, clock_.Now() - 1h) << "the episode continues";
  EXPECT_EQ(after.drift_streak, 6);
  EXPECT_EQ(after.runs, 1u);
  scheduler->Stop();  // the observer runs after RunOnce returns; Stop joins the workers
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first.runs, 0u);
  EXPECT_TRUE(seen[0].first.drifted && seen[0].second.drifted) << "no pending -> drifted";
}

TEST_F(SchedulerTest, AllRanFollowsThePlan) {
  auto kept = AddCheck("kept", std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant));
  auto scheduler = Scheduler::Create(clock_);
  EXPECT_TRUE(scheduler->AllRan()) << "no plan, no check waiting";
  scheduler->SetPlan(plan_);
  EXPECT_FALSE(scheduler->AllRan());
  scheduler->Start();
  scheduler->RunOnce();
  EXPECT_TRUE(scheduler->AllRan());

  // A reload that adds a check: not all ran until it has.
  auto added = std::make_shared<Plan>(*plan_);
  auto extra_check = std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant);
  auto extra = std::make_shared<CheckSpec>();
  extra->name = "extra";
  extra->check = extra_check;
  extra->timeout = 2s;
  added->checks.push_back(extra);
  scheduler->SetPlan(added);
  EXPECT_FALSE(scheduler->AllRan());
  // Reloaded again without it before it ran (on_scrape mode: nothing ran it): ready again, as
  // the kept check keeps its state.
  auto respec = std::make_shared<CheckSpec>(*kept);
  auto back = std::make_shared<Plan>(*plan_);
  back->checks = {respec};
  scheduler->SetPlan(back);
  EXPECT_TRUE(scheduler->AllRan());
  EXPECT_EQ(extra_check->runs.load(), 0);
  scheduler->Stop();
}

// Interval mode on a fake monotonic clock: a cycle at start, then one each time the clock
// passes the interval; a run's result (the observer) is the event the test waits for.
TEST_F(SchedulerTest, IntervalModeRunsOnItsOwnAndSnapshotsNeverBlock) {
  plan_->settings.mode = ScheduleMode::kInterval;
  plan_->settings.interval = 50ms;
  auto check = std::make_shared<GatedCheck>("");  // open: returns at once
  AddGated("tick", check);
  testing::FakeMonotonicClock monotonic;
  auto scheduler = Scheduler::Create(clock_, monotonic);
  std::mutex mu;
  std::condition_variable published_cv;
  int runs = 0;
  scheduler->SetObserver([&](const CheckState&, const CheckState&) {
    std::lock_guard lock(mu);
    ++runs;
    published_cv.notify_all();
  });
  auto await_runs = [&](int n) {
    std::unique_lock lock(mu);
    return published_cv.wait_for(lock, 10s, [&] { return runs >= n; });
  };
  scheduler->SetPlan(plan_);
  scheduler->Start();
  ASSERT_TRUE(await_runs(1)) << "the first cycle runs at start";
  monotonic.Advance(49ms);
  monotonic.Advance(1ms);
  ASSERT_TRUE(await_runs(2));
  monotonic.Advance(50ms);
  ASSERT_TRUE(await_runs(3));
  {
    std::lock_guard lock(mu);
    EXPECT_GE(runs, 3);
  }
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(scheduler->RefreshForScrape(monotonic.Now() + 5s), 0u) << "no-op in interval mode";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  scheduler->Stop();
}

TEST_F(SchedulerTest, OnScrapeSharesOneRunAndHonoursMinInterval) {
  plan_->settings.min_interval = 10s;
  auto check = std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant);
  AddCheck("s", check);
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  std::vector<std::thread> scrapes;
  for (int i = 0; i < 4; ++i) {
    scrapes.emplace_back(
        [&] { scheduler->RefreshForScrape(std::chrono::steady_clock::now() + 5s); });
  }
  for (auto& t : scrapes) t.join();
  EXPECT_EQ(check->runs.load(), 1);
  EXPECT_EQ(scheduler->RefreshForScrape(std::chrono::steady_clock::now() + 5s),
            scheduler->version())
      << "the version the scrape must show: its run included";
  EXPECT_GE(scheduler->snapshot()->version, scheduler->version());
  EXPECT_EQ(check->runs.load(), 1) << "within min_interval the cached result is served";
  scheduler->Stop();
}

// on_scrape: when the scrape's deadline passes first, the checks still running (or still queued)
// show as not successful, saying what they wait for, with their last drift kept; their real
// result replaces that when it comes.
TEST_F(SchedulerTest, OnScrapeDeadlineShowsUnfinishedChecksAsNotSuccessful) {
  plan_->settings.min_interval = 0s;
  plan_->settings.concurrency = 1;
  auto slow = std::make_shared<GatedCheck>("command \"systemctl\" (pid 42)");
  auto queued = std::make_shared<GatedCheck>("");
  AddGated("slow", slow);
  AddGated("queued", queued);
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  slow->Open(checks::Verdict::kDrifted);
  scheduler->RefreshForScrape(std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(StateOf(*scheduler->snapshot(), "slow").drifted);

  slow->Close();
  std::uint64_t shown = scheduler->RefreshForScrape(std::chrono::steady_clock::now());
  slow->WaitEntered(2);
  shown = scheduler->RefreshForScrape(std::chrono::steady_clock::now());  // deadline passed
  auto snap = scheduler->snapshot();
  EXPECT_GE(snap->version, shown);
  const CheckState& s = StateOf(*snap, "slow");
  EXPECT_FALSE(s.success);
  EXPECT_TRUE(s.known);
  EXPECT_TRUE(s.drifted) << "the last known drift stays";
  EXPECT_TRUE(std::regex_match(s.overdue, std::regex("still running after [0-9.]+s \\(waiting "
                                                     "for command \"systemctl\" \\(pid 42\\)\\); "
                                                     "scrape deadline passed")))
      << s.overdue;
  const CheckState& q = StateOf(*snap, "queued");
  EXPECT_FALSE(q.success);
  EXPECT_TRUE(std::regex_match(q.overdue, std::regex("not started after [0-9.]+s \\(waiting for a "
                                                     "free worker: concurrency 1\\); scrape "
                                                     "deadline passed")))
      << q.overdue;

  slow->Open(checks::Verdict::kCompliant);
  scheduler->RefreshForScrape(std::chrono::steady_clock::now() + 10s);
  snap = scheduler->snapshot();
  EXPECT_TRUE(StateOf(*snap, "slow").success);
  EXPECT_TRUE(StateOf(*snap, "slow").overdue.empty());
  EXPECT_FALSE(StateOf(*snap, "slow").drifted);
  EXPECT_TRUE(StateOf(*snap, "queued").success);
  EXPECT_TRUE(StateOf(*snap, "queued").overdue.empty());
  scheduler->Stop();
}

// A shutdown does not wait for a check still running: it may take up to its timeout (60 s here),
// longer than the daemon's shutdown deadline. Stop() returns, and the late result reaches no
// observer (the modules it would reach have stopped).
TEST_F(SchedulerTest, StopDoesNotWaitForARunInFlightAndDropsItsResult) {
  plan_->settings.min_interval = 0s;
  auto slow = std::make_shared<GatedCheck>("");
  AddGated("slow", slow);
  auto scheduler = Scheduler::Create(clock_);
  std::atomic<int> observed{0};
  scheduler->SetObserver([&](const CheckState&, const CheckState&) { ++observed; });
  scheduler->SetPlan(plan_);
  scheduler->Start();
  slow->Close();
  scheduler->RefreshForScrape(std::chrono::steady_clock::now());  // starts the run, waits not
  slow->WaitEntered(1);
  scheduler->Stop();  // returns while the run is still inside the check

  std::weak_ptr<Scheduler> alive = scheduler;
  scheduler.reset();
  slow->Open(checks::Verdict::kDrifted);
  while (!alive.expired()) std::this_thread::yield();  // the abandoned worker has finished
  EXPECT_EQ(observed.load(), 0);
}

// The same without a command: the check type is named instead.
TEST_F(SchedulerTest, OnScrapeDeadlineNamesTheCheckTypeWhenNoCommandRuns) {
  plan_->settings.min_interval = 0s;
  auto hashing = std::make_shared<GatedCheck>("");
  AddGated("hashing", hashing);
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  hashing->Close();
  scheduler->RefreshForScrape(std::chrono::steady_clock::now());
  hashing->WaitEntered(1);
  scheduler->RefreshForScrape(std::chrono::steady_clock::now());
  const CheckState& s = StateOf(*scheduler->snapshot(), "hashing");
  EXPECT_FALSE(s.success);
  EXPECT_FALSE(s.ran);
  EXPECT_NE(s.overdue.find("(in its gated check, no command running); scrape deadline passed"),
            std::string::npos)
      << s.overdue;
  hashing->Open(checks::Verdict::kCompliant);
  scheduler->RefreshForScrape(std::chrono::steady_clock::now() + 10s);
  EXPECT_TRUE(StateOf(*scheduler->snapshot(), "hashing").success);
  scheduler->Stop();
}

// Healing's verification: one check, now, ahead of the others, and its new state.
TEST_F(SchedulerTest, RunNowRunsOneCheckAndReturnsItsNewState) {
  auto ok = std::make_shared<ScriptedCheck>(checks::Verdict::kCompliant);
  auto bad = std::make_shared<ScriptedCheck>(checks::Verdict::kDrifted);
  AddCheck("ok", ok);
  AddCheck("bad", bad);
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  Result<std::shared_ptr<const CheckState>> state =
      scheduler->RunNow("bad", std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_TRUE((*state)->drifted);
  EXPECT_EQ((*state)->runs, 1);
  EXPECT_EQ(bad->runs, 1);
  EXPECT_EQ(ok->runs, 0);
  Result<std::shared_ptr<const CheckState>> none =
      scheduler->RunNow("nope", std::chrono::steady_clock::now() + 10s);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "no enabled check named \"nope\"");
  scheduler->Stop();
}

// A run in progress may have started before the change being verified: RunNow waits for it and
// runs the check again.
TEST_F(SchedulerTest, RunNowRunsAgainAfterARunInProgress) {
  auto gated = std::make_shared<GatedCheck>("waiting");
  AddGated("gated", gated);
  auto scheduler = Scheduler::Create(clock_);
  scheduler->SetPlan(plan_);
  scheduler->Start();
  gated->Close();
  std::thread cycle([&] { scheduler->RunOnce(); });
  gated->WaitEntered(1);
  Result<std::shared_ptr<const CheckState>> state = Error{"not run"};
  std::thread verify(
      [&] { state = scheduler->RunNow("gated", std::chrono::steady_clock::now() + 30s); });
  while (scheduler->RunNowWaitersForTesting() == 0) std::this_thread::yield();
  gated->Open(checks::Verdict::kDrifted);
  verify.join();
  cycle.join();
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(gated->entered(), 2);
  EXPECT_EQ((*state)->runs, 2);
  EXPECT_TRUE((*state)->drifted);
  scheduler->Stop();
}

}  // namespace
}  // namespace drift::exporter
