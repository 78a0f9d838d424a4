#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checks/activity.h"
#include "checks/host.h"
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

  static std::shared_ptr<Scheduler> Create(const Clock& clock);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the plan. Checks keep their state across plans when name and type are unchanged.
  // In interval mode, checks new to the plan run at once; others keep their cadence.
  void SetPlan(std::shared_ptr<const Plan> plan);
  void SetObserver(Observer observer);
  // Seeds the states of checks carried over from an earlier process (the state file), before
  // the first SetPlan, which keeps each one whose check has the same name and type there, as
  // across a reload. Each state needs its spec; its `runs` should be 0, so that AllRan() waits
  // for a run in this process.
  void Restore(std::vector<CheckState> states);

  // Starts the scheduling thread. In interval mode it runs every check each interval; otherwise
  // runs happen only through RefreshForScrape / RunOnce.
  void Start();
  // Stops scheduling and joins the workers; abandoned (hung) runs are left to finish on their own.
  void Stop();

  // The latest state of every check. Publishing a result only bumps the version; the snapshot is
  // assembled here, by the first reader after a change (readers are few: the metrics renderer,
  // at most four times a second, and the pages), so a cycle of N checks costs O(N), not O(N^2).
  std::shared_ptr<const Snapshot> snapshot() const;
  // Increases with every published result or plan; cheap (one atomic load).
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // on_scrape mode: starts a run of every check unless one started less than min_interval ago,
  // and waits until the running cycle ends or `until`. Concurrent callers share one cycle.
  // Returns at once in interval mode, without taking the scheduler's lock. Returns the version
  // the scrape must show (its results included): version() on return in on_scrape mode, else 0.
  // When `until` passes first, every check of the cycle still running or queued shows as not
  // successful (CheckState::overdue says what it waits for) until its run finishes.
  std::uint64_t RefreshForScrape(Deadline until);
  // Runs every check once and waits for all of them (timeouts included).
  void RunOnce();

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
    const checks::Activity* activity = nullptr;  // the worker's: what the run waits for
  };

  explicit Scheduler(const Clock& clock);

  using Transition =
      std::pair<std::shared_ptr<const CheckState>, std::shared_ptr<const CheckState>>;

  void SchedulerLoop();
  void WorkerLoop();
  void EnsureWorkersLocked();
  // Queues every check of the plan that is neither queued nor running; returns how many.
  std::size_t EnqueueCycleLocked(bool counted);
  std::vector<Transition> WatchdogLocked(Deadline now);
  // Folds a result into the check's state unless the check was reconfigured meanwhile.
  Transition PublishLocked(const std::shared_ptr<const CheckSpec>& spec, checks::CheckResult result,
                           double duration_seconds);
  void Notify(const std::vector<Transition>& transitions);
  void FinishCountedLocked();
  // on_scrape: a scrape's deadline passed with runs of its cycle unfinished; each such check
  // shows as not successful, with what it waits for, until its result arrives.
  void MarkOverdueLocked(Deadline now);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // workers: a job is queued, or stopping
  std::condition_variable state_cv_;  // waiters: a cycle finished; scheduler: plan changed, stop,
                                      // or a run's deadline comes before loop_wake_
  std::shared_ptr<const Plan> plan_;
  std::map<std::string, std::shared_ptr<const CheckState>> states_;
  std::deque<Job> queue_;
  std::map<std::uint64_t, InFlight> in_flight_;  // by run id
  std::uint64_t next_run_id_ = 1;
  std::map<std::string, bool> busy_;  // check name -> queued, running or hung
  // on_scrape: check name -> why the latest scrape got no result for it (MarkOverdueLocked);
  // erased when the check's result is published. Shown only in snapshots, never to observers.
  std::map<std::string, std::string> overdue_;
  Observer observer_;
  std::vector<std::thread> workers_;
  int running_ = 0;        // runs in progress that are not abandoned (at most concurrency)
  int stuck_workers_ = 0;  // workers inside an abandoned run
  std::atomic<std::uint64_t> version_{0};  // written under mu_
  std::atomic<std::size_t> not_ran_{0};    // checks of plan_ without a finished run; under mu_
  std::atomic<bool> on_scrape_{false};     // plan_'s mode is on_scrape; written under mu_
  std::size_t cycle_pending_ = 0;          // counted runs not yet finished
  Deadline next_cycle_{};
  Deadline last_cycle_start_{};
  Deadline loop_wake_{};  // when the scheduling thread next wakes on its own
  bool cycle_started_ = false;
  bool stopping_ = false;
  std::thread loop_;
  mutable std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace drift::exporter
