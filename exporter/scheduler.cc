#include "exporter/scheduler.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "common/duration.h"
#include "common/log.h"

namespace drift::exporter {
namespace {

// How long past its deadline a check may run before it is reported as timed out and abandoned.
constexpr std::chrono::seconds kGrace{1};
// Workers stuck in abandoned runs beyond the pool size; past this, hung checks cost capacity.
constexpr int kMaxStuckWorkers = 8;
// Niceness of the check workers (and so of the commands they run).
constexpr int kWorkerNice = 10;
// CPU time a worker may use between two checks before it offers the core to others (below).
constexpr std::chrono::microseconds kYieldAfter{500};

std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

std::shared_ptr<Scheduler> Scheduler::Create(const Clock& clock, const MonotonicClock& monotonic) {
  return std::shared_ptr<Scheduler>(new Scheduler(clock, monotonic));
}

Scheduler::Scheduler(const Clock& clock, const MonotonicClock& monotonic)
    : clock_(clock), monotonic_(monotonic) {
  snapshot_.store(std::make_shared<const Snapshot>());
}

Scheduler::~Scheduler() = default;

void Scheduler::SetObserver(Observer observer) {
  MutexLock lock(mu_);
  observer_ = std::move(observer);
}

void Scheduler::Restore(std::vector<CheckState> states) {
  MutexLock lock(mu_);
  for (CheckState& state : states) {
    std::string name = state.spec->name;
    states_[name] = std::make_shared<const CheckState>(std::move(state));
  }
}

void Scheduler::SetPlan(std::shared_ptr<const Plan> plan) {
  MutexLock lock(mu_);
  std::map<std::string, std::shared_ptr<const CheckState>> states;
  for (const auto& spec : plan->checks) {
    auto old = states_.find(spec->name);
    auto state = std::make_shared<CheckState>();
    if (old != states_.end() && old->second->spec->type == spec->type) *state = *old->second;
    state->spec = spec;
    states.emplace(spec->name, std::move(state));
  }
  states_ = std::move(states);
  plan_ = std::move(plan);
  overdue_.clear();  // the next scrape deadline marks what is still running
  std::size_t not_ran = 0;
  for (const auto& [name, state] : states_) not_ran += state->runs == 0 ? 1 : 0;
  not_ran_.store(not_ran, std::memory_order_release);
  on_scrape_.store(plan_->settings.mode == ScheduleMode::kOnScrape, std::memory_order_release);
  // Queued jobs belong to the old plan; running ones finish and are dropped if reconfigured.
  for (const Job& job : queue_) {
    busy_[job.spec->name] = false;
    if (job.counted) FinishCountedLocked();
  }
  queue_.clear();
  next_cycle_ = monotonic_.Now();
  version_.fetch_add(1, std::memory_order_release);
  EnsureWorkersLocked();
  state_cv_.NotifyAll();
  work_cv_.NotifyAll();
  run_cv_.NotifyAll();  // RunNow: its job may be gone, or its check
}

void Scheduler::Start() {
  MutexLock lock(mu_);
  if (loop_.joinable()) return;
  loop_ = std::thread([self = shared_from_this()] { self->SchedulerLoop(); });
}

void Scheduler::Stop() {
  std::vector<std::thread> workers;
  std::vector<std::thread::id> hung;
  std::thread loop;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    workers = std::move(workers_);
    loop = std::move(loop_);
    // Runs in flight are abandoned, not waited for: a check may take up to its timeout (30 s by
    // default), longer than the daemon's shutdown deadline, and a shutdown that stops only there
    // writes no evidence stop record and no last state. Their results are dropped unseen.
    for (auto& [id, run] : in_flight_) {
      if (!run.abandoned) {
        run.abandoned = true;
        --running_;
        ++stuck_workers_;
      }
      hung.push_back(run.worker);
    }
  }
  work_cv_.NotifyAll();
  state_cv_.NotifyAll();
  run_cv_.NotifyAll();
  if (loop.joinable()) loop.join();
  for (std::thread& t : workers) {
    if (std::find(hung.begin(), hung.end(), t.get_id()) != hung.end()) {
      t.detach();  // holds a reference to this scheduler until its hung check returns
    } else {
      t.join();
    }
  }
}

void Scheduler::EnsureWorkersLocked() {
  if (stopping_ || !plan_) return;
  int wanted = plan_->settings.concurrency + std::min(stuck_workers_, kMaxStuckWorkers);
  while (static_cast<int>(workers_.size()) < wanted) {
    workers_.emplace_back([self = shared_from_this()] { self->WorkerLoop(); });
  }
}

std::size_t Scheduler::EnqueueCycleLocked(bool counted) {
  if (!plan_) return 0;
  std::size_t queued = 0;
  for (const auto& spec : plan_->checks) {
    bool& busy = busy_[spec->name];
    if (busy) continue;
    busy = true;
    queue_.push_back({plan_, spec, counted});
    ++queued;
  }
  if (counted) cycle_pending_ += queued;
  last_cycle_start_ = monotonic_.Now();
  cycle_started_ = true;
  work_cv_.NotifyAll();
  return queued;
}

void Scheduler::FinishCountedLocked() {
  if (cycle_pending_ > 0) --cycle_pending_;
  if (cycle_pending_ == 0) state_cv_.NotifyAll();
}

void Scheduler::SchedulerLoop() {
  ::pthread_setname_np(::pthread_self(), "drift-schedule");  // for top -H and perf
  MutexLock lock(mu_);
  while (!stopping_) {
    Deadline now = monotonic_.Now();
    bool interval_mode = plan_ && plan_->settings.mode == ScheduleMode::kInterval;
    if (interval_mode && now >= next_cycle_) {
      EnqueueCycleLocked(false);
      next_cycle_ = now + plan_->settings.interval;
    }
    std::vector<Transition> timed_out = WatchdogLocked(now);
    if (!timed_out.empty()) {
      mu_.Unlock();
      Notify(timed_out);
      mu_.Lock();
      continue;
    }
    Deadline wake = now + std::chrono::seconds(1);
    if (interval_mode) wake = std::min(wake, next_cycle_);
    for (const auto& [id, run] : in_flight_) {
      if (!run.abandoned) wake = std::min(wake, run.deadline + kGrace);
    }
    loop_wake_ = wake;
    monotonic_.WaitUntil(state_cv_, mu_, wake);
  }
}

std::vector<Scheduler::Transition> Scheduler::WatchdogLocked(Deadline now) {
  std::vector<Transition> out;
  for (auto& [id, run] : in_flight_) {
    if (run.abandoned || now < run.deadline + kGrace) continue;
    run.abandoned = true;
    --running_;
    ++stuck_workers_;
    if (run.counted) {
      run.counted = false;
      FinishCountedLocked();
    }
    std::string timeout = FormatDuration(run.spec->timeout);
    log::Warn("check timed out; abandoning its run until it returns",
              {{"check", run.spec->name}, {"timeout", timeout}});
    out.push_back(PublishLocked(
        run.spec,
        checks::CheckResult::Error(fmt::format(
            "timed out after {}; the run is still hung and the check will not start again until "
            "it returns",
            timeout)),
        std::chrono::duration<double>(now - (run.deadline - run.spec->timeout)).count()));
  }
  if (!out.empty()) {
    EnsureWorkersLocked();
    work_cv_.NotifyAll();
  }
  return out;
}

void Scheduler::WorkerLoop() {
  ::pthread_setname_np(::pthread_self(), "drift-check");
  // Checks are background work: below the HTTP threads, so that hashing a thousand files does
  // not delay a scrape. Commands the checks start inherit it.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kWorkerNice) != 0) {
    log::Debug("cannot lower the check workers' priority", {{"errno", errno}});
  }
  std::chrono::nanoseconds cpu_at_yield = ThreadCpuTime();
  MutexLock lock(mu_);
  for (;;) {
    while (!stopping_ && (queue_.empty() || !plan_ || running_ >= plan_->settings.concurrency)) {
      work_cv_.Wait(mu_);
    }
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    std::uint64_t run_id = next_run_id_++;
    Deadline start = monotonic_.Now();
    Deadline deadline = start + job.spec->timeout;
    in_flight_[run_id] = {job.spec,    deadline, std::this_thread::get_id(),
                          job.counted, false,    &ThisThreadActivity()};
    ++running_;
    // The watchdog must look at this run before the scheduling thread's next planned wake-up.
    if (deadline + kGrace < loop_wake_) state_cv_.NotifyAll();
    mu_.Unlock();

    checks::CheckResult result = job.spec->check->Run(*job.plan->host, deadline);
    double seconds = std::chrono::duration<double>(monotonic_.Now() - start).count();
    // Offer the core between checks. A worker with queued checks never sleeps, and the kernel
    // lets a task that got a core keep it for a whole slice, nice or not (EEVDF: in practice
    // until the next tick, 4 ms at HZ=250); an HTTP thread woken meanwhile waited that long, and
    // a response of 470 KB needs several wake-ups. Yielding after every check starved the
    // workers under load (each yield pushes a niced task's deadline far out): a 1,000-check
    // cycle took 3 s instead of 0.4 s under a /metrics flood. Every 500 us of CPU bounds the wait
    // as well (bench/ANALYSIS.md). A yield costs ~1 us when nobody else wants the core.
    if (std::chrono::nanoseconds cpu = ThreadCpuTime(); cpu - cpu_at_yield >= kYieldAfter) {
      ::sched_yield();
      cpu_at_yield = cpu;
    }

    mu_.Lock();
    InFlight run = in_flight_[run_id];
    in_flight_.erase(run_id);
    busy_[job.spec->name] = false;
    if (run_now_waiters_ > 0) run_cv_.NotifyAll();
    if (run.abandoned) {
      --stuck_workers_;
      log::Info("hung check returned; its result is dropped", {{"check", job.spec->name}});
      continue;
    }
    --running_;
    Transition t = PublishLocked(job.spec, std::move(result), seconds);
    if (run.counted) FinishCountedLocked();
    work_cv_.NotifyOne();  // a run slot is free
    if (t.second && observer_) {
      mu_.Unlock();
      Notify({t});
      mu_.Lock();
    }
  }
}

Scheduler::Transition Scheduler::PublishLocked(const std::shared_ptr<const CheckSpec>& spec,
                                               checks::CheckResult result,
                                               double duration_seconds) {
  auto it = states_.find(spec->name);
  if (it == states_.end() || it->second->spec != spec) return {};  // reconfigured meanwhile
  overdue_.erase(spec->name);  // the real result replaces what a scrape showed meanwhile
  auto next = std::make_shared<const CheckState>(
      Advance(*it->second, std::move(result), clock_.Now(), duration_seconds));
  Transition t{it->second, next};
  if (t.first->runs == 0) not_ran_.fetch_sub(1, std::memory_order_release);
  it->second = next;
  // No notify of state_cv_: RunOnce and scrapes wait for the whole cycle (FinishCountedLocked),
  // and waking the scheduling thread at every result of a 1,000-check cycle only made it
  // contend for mu_ with the workers. RunNow waits for one result, and only then is woken.
  version_.fetch_add(1, std::memory_order_release);
  if (run_now_waiters_ > 0) run_cv_.NotifyAll();
  return t;
}

std::shared_ptr<const Snapshot> Scheduler::snapshot() const {
  std::shared_ptr<const Snapshot> snap = snapshot_.load(std::memory_order_acquire);
  if (snap->version == version()) return snap;
  MutexLock lock(mu_);
  snap = snapshot_.load(std::memory_order_acquire);
  std::uint64_t version = version_.load(std::memory_order_acquire);
  if (snap->version == version) return snap;
  auto fresh = std::make_shared<Snapshot>();
  if (plan_) {
    fresh->checks.reserve(plan_->checks.size());
    for (const auto& spec : plan_->checks) {
      const std::shared_ptr<const CheckState>& state = states_.at(spec->name);
      auto overdue = overdue_.find(spec->name);
      if (overdue == overdue_.end()) {
        fresh->checks.push_back(state);
        continue;
      }
      // Not successful for now; the last known drift stays as it was.
      auto shown = std::make_shared<CheckState>(*state);
      shown->success = false;
      shown->overdue = overdue->second;
      fresh->checks.push_back(std::move(shown));
    }
  }
  fresh->version = version;
  snapshot_.store(fresh, std::memory_order_release);
  return fresh;
}

void Scheduler::Notify(const std::vector<Transition>& transitions) {
  Observer observer;
  {
    MutexLock lock(mu_);
    observer = observer_;
  }
  if (!observer) return;
  for (const auto& [before, after] : transitions) {
    if (after) observer(*before, *after);
  }
}

std::uint64_t Scheduler::RefreshForScrape(Deadline until) {
  // Every /metrics request comes here: in interval mode it must not queue on mu_ behind a worker
  // (a niced worker preempted while holding it held up every scrape).
  if (!on_scrape_.load(std::memory_order_acquire)) return 0;
  MutexLock lock(mu_);
  if (!plan_ || plan_->settings.mode != ScheduleMode::kOnScrape) return 0;
  Deadline now = monotonic_.Now();
  if (cycle_pending_ == 0 &&
      (!cycle_started_ || now - last_cycle_start_ >= plan_->settings.min_interval)) {
    EnqueueCycleLocked(true);
  }
  while (!stopping_ && cycle_pending_ != 0) {
    if (!monotonic_.WaitUntil(state_cv_, mu_, until)) {
      if (!stopping_ && cycle_pending_ != 0) MarkOverdueLocked(monotonic_.Now());
      break;
    }
  }
  return version();
}

void Scheduler::MarkOverdueLocked(Deadline now) {
  auto seconds = [&](Deadline since) { return std::chrono::duration<double>(now - since).count(); };
  // Collected first and written to overdue_ below, not through a lambda: the thread-safety
  // analysis does not see mu_ held inside one.
  std::vector<std::pair<const std::string*, std::string>> marks;  // check name, why
  for (const auto& [id, run] : in_flight_) {
    if (!run.counted || run.abandoned) continue;
    std::string command = run.activity != nullptr ? run.activity->Get() : std::string();
    std::string waiting =
        command.empty() ? fmt::format("in its {} check, no command running", run.spec->type->name)
                        : "waiting for " + command;
    marks.emplace_back(&run.spec->name,
                       fmt::format("still running after {:.1f}s ({}); scrape deadline passed",
                                   seconds(run.deadline - run.spec->timeout), waiting));
  }
  for (const Job& job : queue_) {
    if (!job.counted) continue;
    marks.emplace_back(
        &job.spec->name,
        fmt::format("not started after {:.1f}s (waiting for a free worker: concurrency {}); "
                    "scrape deadline passed",
                    seconds(last_cycle_start_), plan_->settings.concurrency));
  }
  bool changed = false;
  for (auto& [name, reason] : marks) {
    std::string& slot = overdue_[*name];
    changed = changed || slot != reason;
    slot = std::move(reason);
  }
  if (changed) version_.fetch_add(1, std::memory_order_release);
}

void Scheduler::RunOnce() {
  MutexLock lock(mu_);
  EnsureWorkersLocked();
  EnqueueCycleLocked(true);
  while (!stopping_ && cycle_pending_ != 0) state_cv_.Wait(mu_);
}

Result<std::shared_ptr<const CheckState>> Scheduler::RunNow(std::string_view name, Deadline until) {
  MutexLock lock(mu_);
  const std::string key(name);
  ++run_now_waiters_;
  Result<std::shared_ptr<const CheckState>> result = Err("check {} did not finish in time", name);
  // Each turn enqueues one run, unless one is already queued or running (it may have started
  // before the call: wait for it, then run again). A reload drops queued jobs and results of
  // checks it reconfigured: the next turn runs the check as it is configured now.
  bool in_time = true;
  while (in_time) {
    if (stopping_) {
      result = Error{fmt::format("the scheduler stopped before check {} ran", name), ECANCELED};
      break;
    }
    std::shared_ptr<const CheckSpec> spec;
    if (plan_) {
      for (const auto& s : plan_->checks) {
        if (s->name == name) spec = s;
      }
    }
    std::shared_ptr<const CheckState> before = StateOfLocked(key);
    if (!spec || !before) {
      result = Err("no enabled check named {:?}", name);
      break;
    }
    if (busy_[key]) {
      in_time = monotonic_.WaitUntil(run_cv_, mu_, until);
      continue;
    }
    busy_[key] = true;
    queue_.push_front({plan_, spec, false});
    EnsureWorkersLocked();
    work_cv_.NotifyAll();
    // Runs count across reloads (SetPlan copies a kept check's state), so a new result is one
    // with more runs, whatever object holds it.
    while (in_time && !stopping_ && busy_[key]) {
      std::shared_ptr<const CheckState> now = StateOfLocked(key);
      if (now && now->runs > before->runs) break;
      in_time = monotonic_.WaitUntil(run_cv_, mu_, until);
    }
    std::shared_ptr<const CheckState> after = StateOfLocked(key);
    if (after && after->runs > before->runs) {
      result = after;
      break;
    }
  }
  --run_now_waiters_;
  return result;
}

std::shared_ptr<const CheckState> Scheduler::StateOfLocked(const std::string& name) const {
  auto it = states_.find(name);
  return it == states_.end() ? nullptr : it->second;
}

bool Scheduler::AllRan() const { return not_ran_.load(std::memory_order_acquire) == 0; }

}  // namespace drift::exporter
