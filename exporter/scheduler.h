#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checks/host.h"
#include "common/activity.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "exporter/config.h"
#include "exporter/state.h"

namespace drift::exporter {

// What the scheduler runs: the enabled checks, how, and against which host. A reload builds a new
// Plan; runs in flight keep the old one alive until they finish.
struct Plan {
  std::vector<std::shared_ptr<const CheckSpec>> checks;  // enabled checks, config order
  SchedulerSettings settings;
  std::shared_ptr<const checks::Host> host;  // owns (through its deleter) what it points to
};

// Runs checks on a bounded pool of worker threads and publishes immutable snapshots.
//
// A check gets a deadline (its timeout); commands die at it. A check still running one second
// past it is reported as timed out and abandoned: a replacement worker keeps the pool at full
// strength (up to a bound), the check is not started again until the hung run returns, and the
// late result is dropped. /metrics readers only ever load the latest snapshot.
// Always owned by a shared_ptr (Create): a hung worker keeps the scheduler alive after Stop().
// All public methods are thread-safe.
class Scheduler : public std::enable_shared_from_this<Scheduler> {
 public:
  // Called after each published result with the previous and new state of that check, on the
  // worker thread that ran it (or the watchdog for timeouts). Must not block for long.
  using Observer = std::function<void(const CheckState& before, const CheckState& after)>;

  // `clock` stamps results (wall time); `monotonic` times runs, intervals, deadlines and the
  // watchdog (tests pass a FakeMonotonicClock). Both must outlive the scheduler and its workers.
  static std::shared_ptr<Scheduler> Create(const Clock& clock,
                                           const MonotonicClock& monotonic = SteadyClock::Get());
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the plan. Checks keep their state across plans when name and type are unchanged.
  // In interval mode, checks new to the plan run at once; others keep their cadence.
  void SetPlan(std::shared_ptr<const Plan> plan) DRIFT_EXCLUDES(mu_);
  void SetObserver(Observer observer) DRIFT_EXCLUDES(mu_);
  // Seeds the states of checks carried over from an earlier process (the state file), before
  // the first SetPlan, which keeps each one whose check has the same name and type there, as
  // across a reload. Each state needs its spec; its `runs` should be 0, so that AllRan() waits
  // for a run in this process.
  void Restore(std::vector<CheckState> states) DRIFT_EXCLUDES(mu_);

  // Starts the scheduling thread. In interval mode it runs every check each interval; otherwise
  // runs happen only through RefreshForScrape / RunOnce.
  void Start() DRIFT_EXCLUDES(mu_);
  // Stops scheduling and joins the workers; abandoned (hung) runs are left to finish on their own.
  void Stop() DRIFT_EXCLUDES(mu_);

  // The latest state of every check. Publishing a result only bumps the version; the snapshot is
  // assembled here, by the first reader after a change (readers are few: the metrics renderer,
  // at most four times a second, and the pages), so a cycle of N checks costs O(N), not O(N^2).
  std::shared_ptr<const Snapshot> snapshot() const DRIFT_EXCLUDES(mu_);
  // Increases with every published result or plan; cheap (one atomic load).
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // on_scrape mode: starts a run of every check unless one started less than min_interval ago,
  // and waits until the running cycle ends or `until`. Concurrent callers share one cycle.
  // Returns at once in interval mode, without taking the scheduler's lock. Returns the version
  // the scrape must show (its results included): version() on return in on_scrape mode, else 0.
  // When `until` passes first, every check of the cycle still running or queued shows as not
  // successful (CheckState::overdue says what it waits for) until its run finishes.
  // `until` is on the scheduler's monotonic clock.
  std::uint64_t RefreshForScrape(Deadline until) DRIFT_EXCLUDES(mu_);
  // RunNow calls waiting now (tests wait for one before they let a run finish).
  int RunNowWaitersForTesting() const DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return run_now_waiters_;
  }
  // Whether the plan runs checks for scrapes (RefreshForScrape may wait). Lock-free.
  bool on_scrape() const { return on_scrape_.load(std::memory_order_acquire); }
  // Runs every check once and waits for all of them (timeouts included).
  void RunOnce() DRIFT_EXCLUDES(mu_);
  // Runs the enabled check `name` now, ahead of the queue, and returns the state its result
  // gives (healing's verification). A run already queued or in progress started before the
  // call, so it is waited for and the check runs again; a reload meanwhile runs it as
  // reconfigured. Error: no such enabled check, the scheduler stopped (sys_errno ECANCELED), or
  // `until` (on the scheduler's monotonic clock) passed first.
  Result<std::shared_ptr<const CheckState>> RunNow(std::string_view name, Deadline until)
      DRIFT_EXCLUDES(mu_);

  // True once every check of the current plan has finished at least one run in this process
  // (a restored state does not count). Lock-free (one atomic load): /-/ready may be polled while
  // checks run.
  bool AllRan() const;

 private:
  struct Job {
    std::shared_ptr<const Plan> plan;
    std::shared_ptr<const CheckSpec> spec;
    bool counted = false;
  };
  struct InFlight {
    std::shared_ptr<const CheckSpec> spec;
    Deadline deadline;
    std::thread::id worker;
    bool counted = false;  // part of a cycle someone waits for
    bool abandoned = false;
    const Activity* activity = nullptr;  // the worker's: what the run waits for
  };

  Scheduler(const Clock& clock, const MonotonicClock& monotonic);

  using Transition =
      std::pair<std::shared_ptr<const CheckState>, std::shared_ptr<const CheckState>>;

  void SchedulerLoop() DRIFT_EXCLUDES(mu_);
  void WorkerLoop() DRIFT_EXCLUDES(mu_);
  void EnsureWorkersLocked() DRIFT_REQUIRES(mu_);
  // Queues every check of the plan that is neither queued nor running; returns how many.
  std::size_t EnqueueCycleLocked(bool counted) DRIFT_REQUIRES(mu_);
  std::vector<Transition> WatchdogLocked(Deadline now) DRIFT_REQUIRES(mu_);
  // Folds a result into the check's state unless the check was reconfigured meanwhile.
  Transition PublishLocked(const std::shared_ptr<const CheckSpec>& spec, checks::CheckResult result,
                           double duration_seconds) DRIFT_REQUIRES(mu_);
  void Notify(const std::vector<Transition>& transitions) DRIFT_EXCLUDES(mu_);
  void FinishCountedLocked() DRIFT_REQUIRES(mu_);
  std::shared_ptr<const CheckState> StateOfLocked(const std::string& name) const
      DRIFT_REQUIRES(mu_);
  // on_scrape: a scrape's deadline passed with runs of its cycle unfinished; each such check
  // shows as not successful, with what it waits for, until its result arrives.
  void MarkOverdueLocked(Deadline now) DRIFT_REQUIRES(mu_);

  const Clock& clock_;
  const MonotonicClock& monotonic_;
  mutable Mutex mu_;
  CondVar work_cv_;   // workers: a job is queued, or stopping
  CondVar run_cv_;    // RunNow: a check's result was published or its run ended
  CondVar state_cv_;  // waiters: a cycle finished; scheduler: plan changed, stop, or a run's
                      // deadline comes before loop_wake_
  std::shared_ptr<const Plan> plan_ DRIFT_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const CheckState>> states_ DRIFT_GUARDED_BY(mu_);
  std::deque<Job> queue_ DRIFT_GUARDED_BY(mu_);
  std::map<std::uint64_t, InFlight> in_flight_ DRIFT_GUARDED_BY(mu_);  // by run id
  std::uint64_t next_run_id_ DRIFT_GUARDED_BY(mu_) = 1;
  int run_now_waiters_ DRIFT_GUARDED_BY(mu_) = 0;  // RunNow calls waiting (notify only then)
  std::map<std::string, bool> busy_ DRIFT_GUARDED_BY(mu_);  // check name -> queued, running or
                                                            // hung
  // on_scrape: check name -> why the latest scrape got no result for it (MarkOverdueLocked);
  // erased when the check's result is published. Shown only in snapshots, never to observers.
  std::map<std::string, std::string> overdue_ DRIFT_GUARDED_BY(mu_);
  Observer observer_ DRIFT_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ DRIFT_GUARDED_BY(mu_);
  // Runs in progress that are not abandoned (at most concurrency).
  int running_ DRIFT_GUARDED_BY(mu_) = 0;
  int stuck_workers_ DRIFT_GUARDED_BY(mu_) = 0;  // workers inside an abandoned run
  // Atomics read without mu_ (the lock-free fast paths); written only under mu_.
  std::atomic<std::uint64_t> version_{0};
  std::atomic<std::size_t> not_ran_{0};                  // checks of plan_ without a finished run
  std::atomic<bool> on_scrape_{false};                   // plan_'s mode is on_scrape
  std::size_t cycle_pending_ DRIFT_GUARDED_BY(mu_) = 0;  // counted runs not yet finished
  Deadline next_cycle_ DRIFT_GUARDED_BY(mu_);
  Deadline last_cycle_start_ DRIFT_GUARDED_BY(mu_);
  // When the scheduling thread next wakes on its own.
  Deadline loop_wake_ DRIFT_GUARDED_BY(mu_);
  bool cycle_started_ DRIFT_GUARDED_BY(mu_) = false;
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
  std::thread loop_ DRIFT_GUARDED_BY(mu_);
  mutable std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace drift::exporter
