#include "healing/healer.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "common/log.h"
#include "common/rfc3339.h"

namespace drift::healing {
namespace {

using std::chrono::milliseconds;

// Final actions kept in the state file and the API, and how long an alert's key is remembered
// (Alertmanager resends a firing alert every repeat_interval, 4h by default, with its start).
constexpr std::size_t kKeepFinal = 200;
constexpr milliseconds kKeyTtl = std::chrono::hours(24 * 7);
// How long verification may take: the check's own timeout applies inside it.
constexpr milliseconds kVerifyTimeout = std::chrono::minutes(10);
// The worker looks at the clock at least this often (a wall-clock step moves windows).
constexpr milliseconds kMaxIdle = std::chrono::seconds(30);

const std::string kSelf = "drift_exporter";

std::string Describe(const StepRun& run) {
  if (!run.error.empty()) return run.error;
  if (!run.output) return "dry run: not run";
  const CommandOutput& o = *run.output;
  if (o.timed_out) return fmt::format("timed out after {} ms", run.duration.count());
  if (o.signal != 0) return fmt::format("killed by signal {}", o.signal);
  return fmt::format("exited with status {}", o.exit_code);
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kRequested:
      return "requested";
    case EventKind::kDecided:
      return "decided";
    case EventKind::kSnapshot:
      return "snapshot";
    case EventKind::kApproved:
      return "approved";
    case EventKind::kRejected:
      return "rejected";
    case EventKind::kExpired:
      return "expired";
    case EventKind::kCancelled:
      return "cancelled";
    case EventKind::kStep:
      return "step";
    case EventKind::kVerified:
      return "verified";
    case EventKind::kRollbackStep:
      return "rollback_step";
    case EventKind::kFinished:
      return "finished";
    case EventKind::kInterrupted:
      return "interrupted";
    case EventKind::kReset:
      return "reset";
  }
  return "requested";
}

Result<std::unique_ptr<Healer>> Healer::Open(HealerDeps deps, HealerConfig config) {
  Result<std::optional<std::string>> text = deps.store.Load();
  if (!text.ok()) return Err("cannot read the healing state: {}", text.error().message);
  HealingState state;
  if (*text) {
    Result<HealingState> parsed = ParseState(**text);
    if (!parsed.ok()) return Err("cannot read the healing state: {}", parsed.error().message);
    state = std::move(*parsed);
  }
  return std::unique_ptr<Healer>(new Healer(std::move(deps), std::move(config), std::move(state)));
}

Healer::Healer(HealerDeps deps, HealerConfig config, HealingState state)
    : deps_(std::move(deps)), config_(std::move(config)), state_(std::move(state)) {}

Healer::~Healer() { Stop(); }

void Healer::Start() {
  std::vector<Event> interrupted;
  {
    MutexLock lock(mu_);
    if (thread_.joinable()) return;
    // An action found running was cut short by a stop or a crash: what it changed is unknown,
    // so it is recorded and left for a person, never re-run.
    const WallTime now = deps_.clock.Now();
    for (auto& [id, a] : state_.actions) {
      if (a.status != ActionStatus::kRunning) continue;
      a.status = ActionStatus::kInterrupted;
      a.reason = "the exporter stopped while the runbook ran; it is not re-run by itself";
      a.updated_at = now;
      state_.escalated[a.check] = a.reason;
      interrupted.push_back(Event{EventKind::kInterrupted, a, kSelf, a.reason, {}, {}});
    }
    if (!interrupted.empty()) {
      for (const Event& e : interrupted) RecordAfterTheFact(e);
      (void)SaveLocked();
    }
    thread_ = std::thread([this] { Loop(); });
  }
  std::vector<Action> finished;
  for (const Event& e : interrupted) finished.push_back(e.action);
  Notify(finished);
}

void Healer::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    cv_.NotifyAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Healer::Configure(HealerConfig config) {
  {
    MutexLock lock(mu_);
    config_ = std::move(config);
    kicked_ = true;
    cv_.NotifyAll();
  }
  Notify({});
}

std::string Healer::NewId() {
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ ++id_counter_;
  std::string id = fmt::format("a{:016x}", r);
  while (state_.actions.contains(id)) id = fmt::format("a{:016x}", r + ++id_counter_);
  return id;
}

CheckHistory Healer::HistoryLocked(const std::string& check) const {
  CheckHistory h;
  if (auto it = state_.history.find(check); it != state_.history.end()) h = it->second;
  h.busy = std::any_of(state_.actions.begin(), state_.actions.end(), [&](const auto& entry) {
    return entry.second.check == check && !IsFinal(entry.second.status);
  });
  return h;
}

Status Healer::SaveLocked() {
  PruneState(state_, kKeepFinal, kKeyTtl, config_.healing.attempts_window, deps_.clock.Now());
  return deps_.store.Save(SerializeState(state_));
}

void Healer::RecordAfterTheFact(const Event& event) {
  if (Status s = deps_.recorder.Record(event); !s.ok()) {
    log::Error("healing: cannot record evidence", {{"action", event.action.id},
                                                   {"event", EventKindName(event.kind)},
                                                   {"err", s.error().message}});
  }
}

Result<std::vector<AlertOutcome>> Healer::Accept(const WebhookMessage& message,
                                                 const std::string& caller) {
  std::vector<AlertOutcome> outcomes;
  std::vector<Action> finished;
  {
    MutexLock lock(mu_);
    const WallTime now = deps_.clock.Now();
    const HealingState before = state_;
    std::vector<Event> events;
    for (const WebhookAlert& alert : message.alerts) {
      AlertOutcome out;
      out.fingerprint = alert.fingerprint;
      auto label = [&alert](const char* name) {
        auto it = alert.labels.find(name);
        return it == alert.labels.end() ? std::string() : it->second;
      };
      out.check = label("check");
      auto ignore = [&](std::string reason) {
        out.result = "ignored";
        out.reason = std::move(reason);
        outcomes.push_back(out);
      };
      if (label("alertname") != kDriftAlertName) {
        ignore(fmt::format("not a {} alert", kDriftAlertName));
        continue;
      }
      if (label("instance") != config_.instance) {
        ignore(fmt::format("for instance {:?}, not this exporter's {:?}", label("instance"),
                           config_.instance));
        continue;
      }
      auto check_runbook = config_.check_runbooks.find(out.check);
      if (check_runbook == config_.check_runbooks.end()) {
        ignore(fmt::format("no check named {:?} here", out.check));
        continue;
      }
      const std::string key = IdempotencyKey(alert.fingerprint, alert.starts_at);
      if (alert.status == AlertStatus::kResolved) {
        // The drift ended: what still waits for it has nothing to do.
        out.result = "resolved";
        for (auto& [id, a] : state_.actions) {
          if (a.fingerprint != alert.fingerprint || a.alert_starts_at != alert.starts_at) continue;
          out.action_id = id;
          if (a.status == ActionStatus::kAwaitingApproval ||
              a.status == ActionStatus::kWaitingForWindow || a.status == ActionStatus::kQueued) {
            a.status = ActionStatus::kCancelled;
            a.reason = "the drift resolved before the runbook ran";
            a.updated_at = now;
            out.result = "cancelled";
            events.push_back(Event{EventKind::kCancelled, a, caller, a.reason, {}, {}});
            finished.push_back(a);
          }
        }
        outcomes.push_back(out);
        continue;
      }
      if (auto seen = state_.handled.find(key); seen != state_.handled.end()) {
        out.result = "duplicate";
        out.action_id = seen->second;
        out.reason = "this alert (fingerprint and start) was handled already";
        outcomes.push_back(out);
        continue;
      }
      auto runbook = config_.runbooks.find(check_runbook->second);
      if (runbook == config_.runbooks.end()) {
        ignore(fmt::format("check {}'s recommended_action {:?} is not a configured runbook",
                           out.check, check_runbook->second));
        continue;
      }
      const Runbook& rb = runbook->second;
      const std::optional<CheckReading> latest = deps_.checks.Latest(out.check);
      const Decision d = Decide(rb, config_.healing, HistoryLocked(out.check), now,
                                latest ? latest->causes : std::vector<std::string>{});
      Action a;
      a.id = NewId();
      a.check = out.check;
      a.runbook = rb.name;
      a.tier = rb.tier;
      a.reason = d.reason;
      a.dry_run = d.dry_run;
      a.fingerprint = alert.fingerprint;
      a.alert_starts_at = alert.starts_at;
      a.alert_labels = alert.labels;
      a.receiver = message.receiver;
      a.requested_by = caller;
      a.created_at = now;
      a.updated_at = now;
      switch (d.kind) {
        case DecisionKind::kRun:
          a.status = ActionStatus::kQueued;
          break;
        case DecisionKind::kAwaitApproval:
          a.status = ActionStatus::kAwaitingApproval;
          a.expires_at = now + config_.healing.approval_expiry;
          break;
        case DecisionKind::kWaitForWindow:
          a.status = ActionStatus::kWaitingForWindow;
          a.not_before = d.not_before;
          break;
        case DecisionKind::kManual:
          a.status = ActionStatus::kManual;
          break;
        case DecisionKind::kSkip:
          a.status = ActionStatus::kSkipped;
          break;
        case DecisionKind::kSuspend: {
          a.status = ActionStatus::kSkipped;
          CheckHistory& h = state_.history[a.check];
          h.suspended_at = now;
          h.suspended_reason = d.reason;
          state_.escalated[a.check] = d.reason;
          break;
        }
      }
      events.push_back(
          Event{EventKind::kRequested,
                a,
                caller,
                fmt::format("drift alert for check {} received from {}", a.check,
                            caller.empty() ? std::string("an unauthenticated caller") : caller),
                {},
                {}});
      events.push_back(Event{EventKind::kDecided,
                             a,
                             kSelf,
                             fmt::format("{}: {}", DecisionName(d.kind), d.reason),
                             {},
                             {}});
      if (a.status == ActionStatus::kAwaitingApproval) {
        // Kept before anyone may approve: what the host looked like when it drifted.
        events.push_back(Event{
            EventKind::kSnapshot, a, kSelf, "the drifted state, before anything runs", {}, latest});
      }
      state_.actions.emplace(a.id, a);
      state_.handled.emplace(key, a.id);
      state_.handled_at.emplace(key, now);
      if (IsFinal(a.status)) finished.push_back(a);
      out.result = std::string(ActionStatusName(a.status));
      out.action_id = a.id;
      out.reason = a.reason;
      outcomes.push_back(out);
    }
    if (!events.empty()) {
      // Refused as a whole unless every record and the state are durable: Alertmanager retries
      // a 503, and the retry finds nothing half done.
      Status ready = deps_.recorder.Ready();
      for (std::size_t i = 0; ready.ok() && i < events.size(); ++i) {
        ready = deps_.recorder.Record(events[i]);
      }
      if (ready.ok()) ready = SaveLocked();
      if (!ready.ok()) {
        state_ = before;
        return Err("healing cannot record this request: {}", ready.error().message);
      }
      kicked_ = true;
      cv_.NotifyAll();
    }
  }
  Notify(finished);
  return outcomes;
}

Result<Action> Healer::Approve(std::string_view id, const std::string& approver) {
  Action result;
  {
    MutexLock lock(mu_);
    auto it = state_.actions.find(std::string(id));
    if (it == state_.actions.end()) return Err("no action {:?}", id);
    Action& a = it->second;
    const WallTime now = deps_.clock.Now();
    if (a.status != ActionStatus::kAwaitingApproval || (a.expires_at && *a.expires_at <= now)) {
      return Err(
          "action {} is {}, not awaiting approval", a.id,
          a.status == ActionStatus::kAwaitingApproval ? "expired" : ActionStatusName(a.status));
    }
    const Action before = a;
    a.decided_by = approver;
    a.updated_at = now;
    a.expires_at.reset();
    auto runbook = config_.runbooks.find(a.runbook);
    std::optional<WallTime> window;
    if (runbook != config_.runbooks.end())
      window = RunWindow(runbook->second, config_.healing, now);
    if (window) {
      a.status = ActionStatus::kWaitingForWindow;
      a.not_before = window;
      a.reason = fmt::format("approved by {}; runs when its maintenance window opens at {}",
                             approver, FormatRfc3339(*window));
    } else {
      a.status = ActionStatus::kQueued;
      a.reason = fmt::format("approved by {}", approver);
    }
    Status s = deps_.recorder.Record(Event{EventKind::kApproved, a, approver, a.reason, {}, {}});
    if (s.ok()) s = SaveLocked();
    if (!s.ok()) {
      state_.actions[before.id] = before;
      return Err("cannot record the approval: {}", s.error().message);
    }
    result = a;
    kicked_ = true;
    cv_.NotifyAll();
  }
  Notify({});
  return result;
}

Result<Action> Healer::Reject(std::string_view id, const std::string& approver,
                              const std::string& reason) {
  Action result;
  {
    MutexLock lock(mu_);
    auto it = state_.actions.find(std::string(id));
    if (it == state_.actions.end()) return Err("no action {:?}", id);
    Action& a = it->second;
    if (a.status != ActionStatus::kAwaitingApproval) {
      return Err("action {} is {}, not awaiting approval", a.id, ActionStatusName(a.status));
    }
    const Action before = a;
    a.status = ActionStatus::kRejected;
    a.decided_by = approver;
    a.updated_at = deps_.clock.Now();
    a.expires_at.reset();
    a.reason = reason.empty() ? fmt::format("rejected by {}", approver)
                              : fmt::format("rejected by {}: {}", approver, reason);
    Status s = deps_.recorder.Record(Event{EventKind::kRejected, a, approver, a.reason, {}, {}});
    if (s.ok()) s = SaveLocked();
    if (!s.ok()) {
      state_.actions[before.id] = before;
      return Err("cannot record the rejection: {}", s.error().message);
    }
    result = a;
  }
  Notify({result});
  return result;
}

Status Healer::Reset(std::string_view check, const std::string& by) {
  {
    MutexLock lock(mu_);
    const std::string name(check);
    if (!config_.check_runbooks.contains(name) && !state_.history.contains(name)) {
      return Err("no check named {:?}", check);
    }
    const HealingState before = state_;
    CheckHistory& h = state_.history[name];
    h.suspended_at.reset();
    h.suspended_reason.clear();
    h.last_healed.reset();  // the loop marker: the next drift is not a loop
    state_.escalated.erase(name);
    Action subject;
    subject.check = name;
    subject.status = ActionStatus::kSkipped;
    subject.updated_at = deps_.clock.Now();
    subject.reason = fmt::format("healing of check {} resumed by {}", name, by);
    Status s = deps_.recorder.Record(Event{EventKind::kReset, subject, by, subject.reason, {}, {}});
    if (s.ok()) s = SaveLocked();
    if (!s.ok()) {
      state_ = before;
      return Err("cannot record the reset: {}", s.error().message);
    }
  }
  Notify({});
  return {};
}

void Healer::CheckCompliant(std::string_view check) {
  {
    MutexLock lock(mu_);
    const std::string name(check);
    auto h = state_.history.find(name);
    const bool suspended = h != state_.history.end() && h->second.suspended_at.has_value();
    if (suspended || state_.escalated.erase(name) == 0) return;
    (void)SaveLocked();
  }
  Notify({});
}

std::vector<Action> Healer::Actions() const {
  MutexLock lock(mu_);
  std::vector<Action> out;
  for (const auto& [id, a] : state_.actions) out.push_back(a);
  std::sort(out.begin(), out.end(), [](const Action& x, const Action& y) {
    return std::tie(x.created_at, x.id) > std::tie(y.created_at, y.id);
  });
  return out;
}

std::optional<Action> Healer::Find(std::string_view id) const {
  MutexLock lock(mu_);
  auto it = state_.actions.find(std::string(id));
  if (it == state_.actions.end()) return std::nullopt;
  return it->second;
}

HealingSummary Healer::Summary() const {
  MutexLock lock(mu_);
  return SummaryLocked();
}

HealingSummary Healer::SummaryLocked() const {
  HealingSummary s;
  for (const auto& [id, a] : state_.actions) {
    if (a.status == ActionStatus::kAwaitingApproval) s.awaiting_approval.push_back(a);
    if (IsFinal(a.status) && a.status != ActionStatus::kSkipped) {
      auto [it, inserted] = s.last_action.emplace(a.check, a.updated_at);
      if (!inserted && it->second < a.updated_at) it->second = a.updated_at;
    }
  }
  for (const auto& [check, h] : state_.history) {
    if (h.suspended_at) s.suspended.insert(check);
  }
  s.escalated = state_.escalated;
  return s;
}

void Healer::Notify(const std::vector<Action>& finished) {
  for (const Action& a : finished) deps_.observer.Finished(a);
  deps_.observer.Changed(Summary());
}

std::optional<WallTime> Healer::NextDueLocked() const {
  std::optional<WallTime> next;
  auto consider = [&next](const std::optional<WallTime>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const auto& [id, a] : state_.actions) {
    if (a.status == ActionStatus::kAwaitingApproval) consider(a.expires_at);
    if (a.status == ActionStatus::kWaitingForWindow) consider(a.not_before);
  }
  return next;
}

void Healer::RunDue() {
  std::vector<std::string> queued;
  std::vector<Action> finished;
  {
    MutexLock lock(mu_);
    const WallTime now = deps_.clock.Now();
    bool changed = false;
    for (auto& [id, a] : state_.actions) {
      if (a.status == ActionStatus::kAwaitingApproval && a.expires_at && *a.expires_at <= now) {
        a.status = ActionStatus::kExpired;
        a.reason =
            fmt::format("nobody approved it by {} (approval_expiry)", FormatRfc3339(*a.expires_at));
        a.updated_at = now;
        RecordAfterTheFact(Event{EventKind::kExpired, a, kSelf, a.reason, {}, {}});
        finished.push_back(a);
        changed = true;
      } else if (a.status == ActionStatus::kWaitingForWindow && a.not_before &&
                 *a.not_before <= now) {
        auto runbook = config_.runbooks.find(a.runbook);
        std::optional<WallTime> next;
        if (runbook != config_.runbooks.end()) {
          next = RunWindow(runbook->second, config_.healing, now);
        }
        if (next) {
          a.not_before = next;  // the window closed again before we looked: the next one
        } else {
          a.status = ActionStatus::kQueued;
          a.not_before.reset();
        }
        a.updated_at = now;
        changed = true;
      }
    }
    for (const auto& [id, a] : state_.actions) {
      if (a.status == ActionStatus::kQueued) queued.push_back(id);
    }
    std::sort(queued.begin(), queued.end(), [this](const std::string& x, const std::string& y) {
      mu_.AssertHeld();
      return state_.actions.at(x).created_at < state_.actions.at(y).created_at;
    });
    if (changed) (void)SaveLocked();
  }
  if (!finished.empty()) Notify(finished);
  for (const std::string& id : queued) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    Execute(id);
  }
}

Result<StepRun> Healer::RunStep(const Step& step, std::size_t index, bool dry_run) {
  StepRun run;
  run.index = index;
  run.step = step;
  if (dry_run) {
    run.ok = true;
    return run;
  }
  Command command;
  command.argv = step.argv;
  command.timeout = step.timeout;
  std::size_t cap = 0;
  {
    MutexLock lock(mu_);
    cap = config_.healing.max_output_bytes;
  }
  command.max_output_bytes = cap;
  const Deadline start = deps_.monotonic.Now();
  Result<CommandOutput> out = deps_.runner.Run(command, start + step.timeout);
  run.duration = std::chrono::duration_cast<milliseconds>(deps_.monotonic.Now() - start);
  if (!out.ok()) {
    run.error = out.error().message;
    return run;
  }
  run.ok = out->exit_code == 0 && !out->timed_out && !out->truncated;
  run.output = std::move(*out);
  return run;
}

void Healer::Execute(const std::string& id) {
  Action a;
  Runbook runbook;
  {
    MutexLock lock(mu_);
    auto it = state_.actions.find(id);
    if (it == state_.actions.end() || it->second.status != ActionStatus::kQueued) return;
    auto rb = config_.runbooks.find(it->second.runbook);
    const WallTime now = deps_.clock.Now();
    if (rb == config_.runbooks.end()) {
      it->second.status = ActionStatus::kCancelled;
      it->second.reason = fmt::format("runbook {} is no longer configured", it->second.runbook);
      it->second.updated_at = now;
      RecordAfterTheFact(
          Event{EventKind::kCancelled, it->second, kSelf, it->second.reason, {}, {}});
      (void)SaveLocked();
      a = it->second;
    } else {
      // Nothing runs unless the evidence of it can be written.
      if (Status ready = deps_.recorder.Ready(); !ready.ok()) return;  // stays queued
      runbook = rb->second;
      it->second.status = ActionStatus::kRunning;
      it->second.reason = fmt::format("running runbook {}", runbook.name);
      it->second.updated_at = now;
      if (!it->second.dry_run) state_.history[it->second.check].attempts.push_back(now);
      // Saved before the first step: a crash from here on is found as "running" at start-up.
      if (Status s = SaveLocked(); !s.ok()) {
        log::Error("healing: cannot save the state before running; not running",
                   {{"action", id}, {"err", s.error().message}});
        it->second.status = ActionStatus::kQueued;
        return;
      }
      a = it->second;
    }
  }
  if (a.status == ActionStatus::kCancelled) {
    Notify({a});
    return;
  }
  RecordAfterTheFact(Event{EventKind::kSnapshot,
                           a,
                           kSelf,
                           "the drifted state, before the first step",
                           {},
                           deps_.checks.Latest(a.check)});

  bool steps_ok = true;
  std::string failure;
  for (std::size_t i = 0; i < runbook.steps.size(); ++i) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;  // stays "running": interrupted at the next start
    }
    Result<StepRun> run = RunStep(runbook.steps[i], i, a.dry_run);
    const std::string what = fmt::format("step {} of {}: {}", i + 1, runbook.steps.size(),
                                         a.dry_run ? "dry run, not run" : Describe(*run));
    RecordAfterTheFact(Event{EventKind::kStep, a, kSelf, what, *run, {}});
    if (!run->ok) {
      steps_ok = false;
      failure = what;
      break;
    }
  }

  ActionStatus outcome = ActionStatus::kHealed;
  std::string reason;
  if (a.dry_run) {
    outcome = ActionStatus::kDryRun;
    reason = fmt::format("dry run: {} steps recorded, none run", runbook.steps.size());
  } else {
    std::optional<CheckReading> verified;
    if (steps_ok) {
      Result<CheckReading> reading =
          deps_.checks.RunNow(a.check, deps_.monotonic.Now() + kVerifyTimeout);
      if (reading.ok()) {
        verified = *reading;
        steps_ok = !reading->drifted && !reading->error;
        failure = reading->error ? fmt::format("the check could not run: {}", reading->reason)
                                 : fmt::format("the check still drifts: {}", reading->reason);
      } else {
        steps_ok = false;
        failure = fmt::format("the check could not be re-run: {}", reading.error().message);
      }
      RecordAfterTheFact(Event{EventKind::kVerified,
                               a,
                               kSelf,
                               steps_ok ? std::string("the check is compliant") : failure,
                               {},
                               verified});
    }
    if (steps_ok) {
      reason = fmt::format("healed by runbook {}", runbook.name);
    } else {
      outcome = ActionStatus::kFailed;
      for (std::size_t i = 0; i < runbook.rollback.size(); ++i) {
        {
          MutexLock lock(mu_);
          if (stopping_) return;
        }
        Result<StepRun> run = RunStep(runbook.rollback[i], i, false);
        RecordAfterTheFact(Event{EventKind::kRollbackStep,
                                 a,
                                 kSelf,
                                 fmt::format("rollback step {} of {}: {}", i + 1,
                                             runbook.rollback.size(), Describe(*run)),
                                 *run,
                                 {}});
        if (!run->ok) break;
      }
      reason = runbook.rollback.empty() ? fmt::format("{}; no rollback configured", failure)
                                        : fmt::format("{}; rolled back", failure);
    }
  }

  {
    MutexLock lock(mu_);
    auto it = state_.actions.find(id);
    if (it == state_.actions.end()) return;
    const WallTime now = deps_.clock.Now();
    it->second.status = outcome;
    it->second.reason = reason;
    it->second.updated_at = now;
    CheckHistory& h = state_.history[a.check];
    if (outcome == ActionStatus::kHealed) {
      h.last_healed = now;
      state_.escalated.erase(a.check);
    } else if (outcome == ActionStatus::kFailed) {
      h.last_failed = now;
      state_.escalated[a.check] = reason;
    }
    a = it->second;
    RecordAfterTheFact(Event{EventKind::kFinished, a, kSelf, reason, {}, {}});
    if (Status s = SaveLocked(); !s.ok()) {
      log::Error("healing: cannot save the state", {{"err", s.error().message}});
    }
  }
  log::Info("healing: action finished", {{"action", a.id},
                                         {"check", a.check},
                                         {"runbook", a.runbook},
                                         {"outcome", ActionStatusName(a.status)},
                                         {"reason", a.reason}});
  Notify({a});
}

void Healer::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    mu_.Unlock();
    RunDue();
    mu_.Lock();
    if (stopping_) break;
    if (kicked_) {
      kicked_ = false;
      continue;
    }
    milliseconds wait = kMaxIdle;
    if (std::optional<WallTime> next = NextDueLocked()) {
      const auto until = std::chrono::duration_cast<milliseconds>(*next - deps_.clock.Now());
      wait = std::clamp(until, milliseconds(0), kMaxIdle);
    }
    const Deadline deadline = deps_.monotonic.Now() + wait;
    while (!stopping_ && !kicked_) {
      if (!deps_.monotonic.WaitUntil(cv_, mu_, deadline)) break;
    }
    kicked_ = false;
  }
}

}  // namespace drift::healing
