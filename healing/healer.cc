#include "healing/healer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "common/duration.h"
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

// A delivery of an alert whose decision was to skip it is decided again once this has passed
// (the limit or the cooldown may be over), not at each copy HA peers and retries send.
constexpr milliseconds kSkipRecheck = std::chrono::minutes(1);

Error WithErrno(Error e, int err) {
  e.sys_errno = err;
  return e;
}

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
    // The state before this message's changes, to put back if they cannot be recorded; taken at
    // the first change, so that duplicates (most deliveries) copy nothing.
    std::optional<HealingState> before;
    auto changing = [this, &before] {
      mu_.AssertHeld();
      if (!before) before = state_;
    };
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
          changing();
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
        auto earlier = state_.actions.find(seen->second);
        const bool recheck = earlier != state_.actions.end() &&
                             earlier->second.status == ActionStatus::kSkipped &&
                             now - earlier->second.updated_at >= kSkipRecheck;
        if (!recheck) {
          // Kept as long as Alertmanager keeps sending it, not only 7 days from the first.
          state_.handled_at[key] = now;
          out.result = "duplicate";
          out.action_id = seen->second;
          out.reason = "this alert (fingerprint and start) was handled already";
          outcomes.push_back(out);
          continue;
        }
        changing();
        state_.handled.erase(seen);
        state_.handled_at.erase(key);
      }
      auto runbook = config_.runbooks.find(check_runbook->second);
      if (runbook == config_.runbooks.end()) {
        ignore(fmt::format("check {}'s recommended_action {:?} is not a configured runbook",
                           out.check, check_runbook->second));
        continue;
      }
      const Runbook& rb = runbook->second;
      const std::optional<CheckReading> latest = deps_.checks.Latest(out.check);
      const Decision d =
          Decide(rb, config_.healing, HistoryLocked(out.check), now,
                 latest ? latest->causes : std::vector<std::string>{}, alert.starts_at);
      Action a;
      a.id = NewId();
      a.check = out.check;
      a.runbook = rb.name;
      a.runbook_digest = RunbookDigest(rb);
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
      changing();
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
        if (before) state_ = std::move(*before);
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
    if (it == state_.actions.end()) return WithErrno(Err("no action {:?}", id), ENOENT);
    Action& a = it->second;
    const WallTime now = deps_.clock.Now();
    if (a.status != ActionStatus::kAwaitingApproval || (a.expires_at && *a.expires_at <= now)) {
      return WithErrno(
          Err("action {} is {}, not awaiting approval", a.id,
              a.status == ActionStatus::kAwaitingApproval ? "expired" : ActionStatusName(a.status)),
          EALREADY);
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
    if (it == state_.actions.end()) return WithErrno(Err("no action {:?}", id), ENOENT);
    Action& a = it->second;
    if (a.status != ActionStatus::kAwaitingApproval) {
      return WithErrno(
          Err("action {} is {}, not awaiting approval", a.id, ActionStatusName(a.status)),
          EALREADY);
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
      return WithErrno(Err("no check named {:?}", check), ENOENT);
    }
    const HealingState before = state_;
    // The alerts it skipped (suspended, rate limits) may act when delivered again.
    std::erase_if(state_.handled, [this, &name](const auto& kv) {
      mu_.AssertHeld();
      auto a = state_.actions.find(kv.second);
      return a != state_.actions.end() && a->second.check == name &&
             a->second.status == ActionStatus::kSkipped;
    });
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
    MutexLock lock(compliant_mu_);
    compliant_.emplace(check);
  }
  // Without mu_, which a request may hold while it records: the worker sees the change when it
  // next wakes (at once, or after its idle wait when this notification slips in before it waits).
  cv_.NotifyAll();
}

void Healer::CheckDrifted(std::string_view check, WallTime since) {
  {
    MutexLock lock(compliant_mu_);
    drifted_[std::string(check)] = since;
  }
  cv_.NotifyAll();
}

void Healer::ApplyCompliantChecks() {
  std::set<std::string> checks;
  std::map<std::string, WallTime> drifted;
  {
    MutexLock lock(compliant_mu_);
    checks.swap(compliant_);
    drifted.swap(drifted_);
  }
  if (checks.empty() && drifted.empty()) return;
  bool changed = false;
  std::vector<Action> finished;
  {
    MutexLock lock(mu_);
    const WallTime now = deps_.clock.Now();
    for (const std::string& name : checks) {
      auto h = state_.history.find(name);
      const bool suspended = h != state_.history.end() && h->second.suspended_at.has_value();
      if (!suspended && state_.escalated.erase(name) > 0) changed = true;
    }
    // A drift back within the cooldown of a heal is a loop whether or not an alert about it
    // arrives: Alertmanager does not notify again for an alert it notified last (same labels)
    // until repeat_interval, when its resolution was not sent in between.
    for (const auto& [name, since] : drifted) {
      auto h = state_.history.find(name);
      if (h == state_.history.end() || !h->second.last_healed || h->second.suspended_at ||
          since < *h->second.last_healed ||
          since - *h->second.last_healed >= config_.healing.cooldown) {
        continue;
      }
      auto runbook = config_.check_runbooks.find(name);
      Action a;
      a.id = NewId();
      a.check = name;
      a.runbook = runbook == config_.check_runbooks.end() ? "" : runbook->second;
      a.status = ActionStatus::kSkipped;
      a.reason = fmt::format(
          "the drift came back {} after runbook {} healed it, within the cooldown of {}: a "
          "reconciliation loop",
          FormatDuration(std::chrono::duration_cast<milliseconds>(since - *h->second.last_healed)),
          a.runbook, FormatDuration(config_.healing.cooldown));
      a.requested_by = kSelf;
      a.created_at = a.updated_at = now;
      h->second.suspended_at = now;
      h->second.suspended_reason = a.reason;
      state_.escalated[name] = a.reason;
      state_.actions.emplace(a.id, a);
      RecordAfterTheFact(
          Event{EventKind::kDecided, a, kSelf, fmt::format("suspend: {}", a.reason), {}, {}});
      finished.push_back(a);
      changed = true;
    }
    if (changed) (void)SaveLocked();
  }
  if (changed) Notify(finished);
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
  // Serialised, and the summary taken inside: two threads' reports never arrive reversed.
  MutexLock lock(notify_mu_);
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
  ApplyCompliantChecks();
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

StepRun Healer::RunStep(const Step& step, std::size_t index, bool dry_run) {
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
  {
    MutexLock lock(mu_);
    command.max_output_bytes = config_.healing.max_output_bytes;
  }
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

bool Healer::Stopping() {
  MutexLock lock(mu_);
  return stopping_;
}

// Ends `a` before it ran (status and reason given); its alert may decide again.
void Healer::EndUnrunLocked(Action& a, ActionStatus status, std::string reason, WallTime now,
                            bool forget_alert) {
  a.status = status;
  a.reason = std::move(reason);
  a.updated_at = now;
  if (forget_alert) {
    std::erase_if(state_.handled, [&a](const auto& kv) { return kv.second == a.id; });
  }
  RecordAfterTheFact(
      Event{status == ActionStatus::kManual ? EventKind::kDecided : EventKind::kCancelled,
            a,
            kSelf,
            a.reason,
            {},
            {}});
  (void)SaveLocked();
}

void Healer::Execute(const std::string& id) {
  Action a;
  Runbook runbook;
  {
    MutexLock lock(mu_);
    auto it = state_.actions.find(id);
    if (it == state_.actions.end() || it->second.status != ActionStatus::kQueued) return;
    Action& queued = it->second;
    const WallTime now = deps_.clock.Now();
    // What was decided (and maybe approved) may no longer hold: look again before running.
    auto rb = config_.runbooks.find(queued.runbook);
    auto check = config_.check_runbooks.find(queued.check);
    std::string gone;
    if (check == config_.check_runbooks.end() || check->second != queued.runbook) {
      gone = fmt::format("check {} no longer names runbook {}", queued.check, queued.runbook);
    } else if (rb == config_.runbooks.end()) {
      gone = fmt::format("runbook {} is no longer configured", queued.runbook);
    } else if (RunbookDigest(rb->second) != queued.runbook_digest) {
      gone = fmt::format(
          "runbook {} changed since this action was decided; the next delivery "
          "of its alert decides again",
          queued.runbook);
    }
    if (!gone.empty()) {
      EndUnrunLocked(queued, ActionStatus::kCancelled, gone, now, /*forget_alert=*/true);
      a = queued;
    } else {
      const std::optional<CheckReading> latest = deps_.checks.Latest(queued.check);
      if (!latest) return;  // no result in this process yet: stays queued
      if (!latest->drifted && !latest->error) {
        EndUnrunLocked(queued, ActionStatus::kCancelled,
                       fmt::format("check {} is compliant again; nothing to heal", queued.check),
                       now, /*forget_alert=*/true);
        a = queued;
      } else if (auto cause = std::find_first_of(latest->causes.begin(), latest->causes.end(),
                                                 rb->second.manual_causes.begin(),
                                                 rb->second.manual_causes.end());
                 cause != latest->causes.end()) {
        EndUnrunLocked(queued, ActionStatus::kManual,
                       fmt::format("the drift's cause {} is never healed by runbook {} "
                                   "(manual_causes): a person must look",
                                   *cause, queued.runbook),
                       now, /*forget_alert=*/false);
        a = queued;
      } else {
        // Nothing runs unless its evidence can be written, starting with the drifted state.
        if (!deps_.recorder.Ready().ok()) return;  // stays queued
        runbook = rb->second;
        queued.dry_run = queued.dry_run || config_.healing.dry_run || runbook.dry_run;
        if (Status s = deps_.recorder.Record(Event{EventKind::kSnapshot,
                                                   queued,
                                                   kSelf,
                                                   "the drifted state, before the first step",
                                                   {},
                                                   latest});
            !s.ok()) {
          return;  // stays queued
        }
        const Action before = queued;
        queued.status = ActionStatus::kRunning;
        queued.reason = fmt::format("running runbook {}", runbook.name);
        queued.updated_at = now;
        if (!queued.dry_run) state_.history[queued.check].attempts.push_back(now);
        // Saved before the first step: a crash from here on is found as "running" at start-up.
        if (Status s = SaveLocked(); !s.ok()) {
          log::Error("healing: cannot save the state before running; not running",
                     {{"action", id}, {"err", s.error().message}});
          queued = before;
          if (!before.dry_run) state_.history[before.check].attempts.pop_back();
          return;
        }
        a = queued;
      }
    }
  }
  if (a.status != ActionStatus::kRunning) {
    Notify({a});
    return;
  }

  bool steps_ok = true;
  std::string failure;
  for (std::size_t i = 0; i < runbook.steps.size(); ++i) {
    if (Stopping()) return;  // stays "running": interrupted at the next start
    if (Status ready = deps_.recorder.Ready(); !ready.ok()) {
      steps_ok = false;
      failure = fmt::format("stopped before step {} of {}: {}", i + 1, runbook.steps.size(),
                            ready.error().message);
      break;
    }
    const StepRun run = RunStep(runbook.steps[i], i, a.dry_run);
    const std::string what = fmt::format("step {} of {}: {}", i + 1, runbook.steps.size(),
                                         a.dry_run ? "dry run, not run" : Describe(run));
    RecordAfterTheFact(Event{EventKind::kStep, a, kSelf, what, run, {}});
    if (!run.ok) {
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
      // The checks stopped (shutdown): the outcome is unknown, so the action stays "running"
      // and is recorded as interrupted at the next start, never rolled back blindly.
      if (!reading.ok() && reading.error().sys_errno == ECANCELED) return;
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
        if (Stopping()) return;
        const StepRun run = RunStep(runbook.rollback[i], i, false);
        RecordAfterTheFact(Event{EventKind::kRollbackStep,
                                 a,
                                 kSelf,
                                 fmt::format("rollback step {} of {}: {}", i + 1,
                                             runbook.rollback.size(), Describe(run)),
                                 run,
                                 {}});
        if (!run.ok) break;
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
    // Saved before the record: a crash between the two re-records nothing as interrupted.
    if (Status s = SaveLocked(); !s.ok()) {
      log::Error("healing: cannot save the state", {{"err", s.error().message}});
    }
    RecordAfterTheFact(Event{EventKind::kFinished, a, kSelf, reason, {}, {}});
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
      {
        MutexLock compliant(compliant_mu_);
        if (!compliant_.empty() || !drifted_.empty()) break;
      }
      if (!deps_.monotonic.WaitUntil(cv_, mu_, deadline)) break;
    }
    kicked_ = false;
  }
}

}  // namespace drift::healing
