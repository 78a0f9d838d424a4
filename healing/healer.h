#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/command.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/webhook_message.h"
#include "healing/action.h"
#include "healing/config.h"

namespace drift::healing {

// The alert name of drift alerts, the only ones healing acts on (a check that cannot run is
// ComplianceCheckFailing: nothing to heal).
inline constexpr std::string_view kDriftAlertName = "ComplianceDrift";

// What healing knows of a check's result: for the snapshot taken before anything runs, and for
// the verification after the steps.
struct CheckReading {
  bool drifted = false;
  bool error = false;  // the check could not run: neither healed nor drifted
  std::string reason;
  std::string observations_json;    // the check's observed state, as the exporter records it
  std::vector<std::string> causes;  // of its findings: what drifted

  bool operator==(const CheckReading&) const = default;
};

// The checks, as the exporter's scheduler runs them. Thread-safe.
class CheckAccess {
 public:
  virtual ~CheckAccess() = default;
  // The check's last result; nullopt before its first run.
  virtual std::optional<CheckReading> Latest(std::string_view check) const = 0;
  // Runs the check now, outside its schedule, and waits for the result until `deadline`. An
  // error with sys_errno ECANCELED: the checks stopped (shutdown) and the result is unknown.
  virtual Result<CheckReading> RunNow(std::string_view check, Deadline deadline) = 0;
};

enum class EventKind {
  kRequested,     // a firing drift alert arrived for a check with a runbook
  kDecided,       // the policy's decision (run, wait, skip, manual, suspend)
  kSnapshot,      // the drifted state, kept before anything runs
  kApproved,      // by decided_by
  kRejected,      // by decided_by
  kExpired,       // nobody approved it in time
  kCancelled,     // the drift resolved first
  kStep,          // one step ran (or would have: dry run)
  kVerified,      // the check re-run after the steps
  kRollbackStep,  // one rollback step ran
  kFinished,      // the outcome: healed, failed, dry_run
  kInterrupted,   // found running at start-up: the exporter stopped mid-runbook
  kReset,         // an operator resumed a suspended check
};
std::string_view EventKindName(EventKind kind);  // "requested", "decided", ...

struct StepRun {
  std::size_t index = 0;  // 0-based within steps or rollback
  Step step;
  std::optional<CommandOutput> output;  // unset when it could not start, or in a dry run
  std::string error;                    // why it could not start
  std::chrono::milliseconds duration{0};
  bool ok = false;  // exited 0 in time (a dry run counts as ok)
};

// One thing that happened to an action, for the evidence trail.
struct Event {
  EventKind kind = EventKind::kRequested;
  Action action;       // as it stands after the event
  std::string actor;   // who caused it: the webhook caller, an approver, "drift_exporter"
  std::string detail;  // one sentence
  std::optional<StepRun> step;
  std::optional<CheckReading> reading;  // kSnapshot, kVerified
};

// Where events go: the evidence store, through the exporter. Thread-safe.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // Why records cannot be written now (the store is unhealthy), or ok.
  virtual Status Ready() const = 0;
  // Records `event` durably before returning ok.
  virtual Status Record(const Event& event) = 0;
};

// Where the healing state file goes (state_dir/healing.json in production). Thread-safe.
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::optional<std::string>> Load() const = 0;  // nullopt: no state yet
  virtual Status Save(std::string_view text) = 0;               // durable when ok
};

// What the exporter shows and alerts on.
struct HealingSummary {
  std::vector<Action> awaiting_approval;
  std::map<std::string, std::string> escalated;  // check -> why healing failed (an alert)
  std::set<std::string> suspended;               // checks whose healing is suspended
  std::map<std::string, WallTime> last_action;   // check -> when its last action finished

  bool operator==(const HealingSummary&) const = default;
};

// Metrics and alerts. Called without the healer's lock; thread-safe implementations.
class HealingObserver {
 public:
  virtual ~HealingObserver() = default;
  virtual void Finished(const Action& action) = 0;  // a final status was reached
  virtual void Changed(const HealingSummary& summary) = 0;
};

// What became of one alert of a webhook message.
struct AlertOutcome {
  std::string fingerprint;
  std::string check;
  std::string result;     // "queued", "awaiting_approval", "duplicate", "ignored", "cancelled"...
  std::string action_id;  // when an action was created or found
  std::string reason;
};

struct HealerDeps {
  const Clock& clock;
  CommandRunner& runner;  // for steps: not the checks' (niced) runner
  CheckAccess& checks;
  Recorder& recorder;
  StateStore& store;
  HealingObserver& observer;
  const MonotonicClock& monotonic = SteadyClock::Get();
};

// What healing acts on, from the configuration: the section, the runbooks, the runbook of each
// check (its recommended_action) and this host's `instance` label.
struct HealerConfig {
  HealingConfig healing;
  std::map<std::string, Runbook> runbooks;
  std::map<std::string, std::string> check_runbooks;
  std::string instance;
};

// Healing: takes Alertmanager's webhook messages, decides per alert under the policy, keeps the
// actions (waiting for approval, for a window, queued) and runs them one at a time on its own
// thread: snapshot, steps, verification by re-running the check, rollback and escalation when
// the drift stays. Every change is recorded through the Recorder and saved through the
// StateStore before it is acknowledged, so that a retried or duplicated delivery never runs
// twice, also across a restart, and an action found running at start-up is recorded as
// interrupted, never re-run by itself.
// Thread-safe. Errors are return values; nothing throws after construction.
class Healer {
 public:
  // Loads the saved state (a corrupt file is an error: healing must not forget what it did).
  static Result<std::unique_ptr<Healer>> Open(HealerDeps deps, HealerConfig config);
  ~Healer();
  Healer(const Healer&) = delete;
  Healer& operator=(const Healer&) = delete;

  // Starts the worker thread. Without it, tests drive the work with RunDue().
  void Start() DRIFT_EXCLUDES(mu_);
  // Lets the running step finish, runs no further step, and stops the thread. The action then
  // stays "running" in the state file and is recorded as interrupted at the next start.
  void Stop() DRIFT_EXCLUDES(mu_);
  // A reloaded configuration. Waiting actions keep the runbook they were decided with.
  void Configure(HealerConfig config) DRIFT_EXCLUDES(mu_);

  // Handles one webhook message from `caller` (its authenticated identity). Error (for a 503,
  // so that Alertmanager retries): the recorder is not ready, or a record or the state could
  // not be saved; the message's new actions are then forgotten. Else one outcome per alert.
  Result<std::vector<AlertOutcome>> Accept(const WebhookMessage& message, const std::string& caller)
      DRIFT_EXCLUDES(mu_);

  // An approver's answer to an action awaiting approval. Error: no such action (sys_errno
  // ENOENT), not awaiting approval (approved, expired, ...: EALREADY), or it could not be
  // recorded.
  Result<Action> Approve(std::string_view id, const std::string& approver) DRIFT_EXCLUDES(mu_);
  Result<Action> Reject(std::string_view id, const std::string& approver, const std::string& reason)
      DRIFT_EXCLUDES(mu_);
  // Resumes healing of a suspended check and clears its escalation; the alerts it skipped are
  // decided again when they are delivered again. Error: no such check (ENOENT), or it could not
  // be recorded.
  Status Reset(std::string_view check, const std::string& by) DRIFT_EXCLUDES(mu_);
  // The check is compliant again: its escalation for a failed action ends (a suspension stays
  // until Reset). Never waits for the healer's lock (called on the scheduler's threads): the
  // change is applied by the next RunDue.
  void CheckCompliant(std::string_view check) DRIFT_EXCLUDES(mu_, compliant_mu_);
  // The check drifted (again) at `since`. Within the cooldown of its last heal that is a
  // reconciliation loop: healing of the check is suspended and escalated, as when the alert
  // arrives, without waiting for it. Never waits for the healer's lock; applied by RunDue.
  void CheckDrifted(std::string_view check, WallTime since) DRIFT_EXCLUDES(mu_, compliant_mu_);

  // The actions, newest first.
  std::vector<Action> Actions() const DRIFT_EXCLUDES(mu_);
  std::optional<Action> Find(std::string_view id) const DRIFT_EXCLUDES(mu_);
  HealingSummary Summary() const DRIFT_EXCLUDES(mu_);

  // Does what is due now, on the calling thread: expiries, windows that opened, then every
  // queued action, one after the other. The worker thread calls it; tests call it directly.
  void RunDue() DRIFT_EXCLUDES(mu_);

 private:
  Healer(HealerDeps deps, HealerConfig config, HealingState state);
  void Loop() DRIFT_EXCLUDES(mu_);
  // Runs the queued action `id` to its end. Takes and releases mu_ between steps.
  void Execute(const std::string& id) DRIFT_EXCLUDES(mu_);
  StepRun RunStep(const Step& step, std::size_t index, bool dry_run) DRIFT_EXCLUDES(mu_);
  bool Stopping() DRIFT_EXCLUDES(mu_);
  // Ends the queued action `a` without running it (cancelled or manual), records and saves it.
  // `forget_alert`: its alert's next delivery decides again.
  void EndUnrunLocked(Action& a, ActionStatus status, std::string reason, WallTime now,
                      bool forget_alert) DRIFT_REQUIRES(mu_);
  // Applies CheckCompliant calls (made on scheduler threads, which must not wait for mu_).
  void ApplyCompliantChecks() DRIFT_EXCLUDES(mu_);
  // Saves the state and tells the observer; an error when the state could not be saved.
  Status SaveLocked() DRIFT_REQUIRES(mu_);
  HealingSummary SummaryLocked() const DRIFT_REQUIRES(mu_);
  void Notify(const std::vector<Action>& finished) DRIFT_EXCLUDES(mu_);
  std::string NewId() DRIFT_REQUIRES(mu_);
  CheckHistory HistoryLocked(const std::string& check) const DRIFT_REQUIRES(mu_);
  // Records `event`; a failure is logged and counted but cannot undo what ran.
  void RecordAfterTheFact(const Event& event);
  // The next time something waits for (an expiry, a window), if any.
  std::optional<WallTime> NextDueLocked() const DRIFT_REQUIRES(mu_);

  HealerDeps deps_;
  // Held while a request, an approval or a finished step is recorded and saved, so that the
  // evidence and the state file follow the same order (a record takes a millisecond or so).
  mutable Mutex mu_;
  CondVar cv_;
  HealerConfig config_ DRIFT_GUARDED_BY(mu_);
  HealingState state_ DRIFT_GUARDED_BY(mu_);
  std::uint64_t id_counter_ DRIFT_GUARDED_BY(mu_) = 0;
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
  bool kicked_ DRIFT_GUARDED_BY(mu_) = false;
  std::thread thread_;
  // Observer calls in the order of the changes they report.
  Mutex notify_mu_ DRIFT_ACQUIRED_BEFORE(mu_);
  Mutex compliant_mu_;
  std::set<std::string> compliant_ DRIFT_GUARDED_BY(compliant_mu_);
  std::map<std::string, WallTime> drifted_ DRIFT_GUARDED_BY(compliant_mu_);
};

}  // namespace drift::healing
