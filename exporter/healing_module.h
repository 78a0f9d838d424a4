#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/process_runner.h"
#include "evidence/record.h"
#include "exporter/module.h"
#include "healing/healer.h"
#include "healing/state_file.h"

namespace drift::exporter {

// Bodies of POST /api/v1/heal: a message of a few hundred alerts is well under this.
inline constexpr std::size_t kMaxWebhookBody = 1 << 20;

// The evidence record of a healing event: kind "healing_<event>", the check and its controls,
// the actor, and a payload with the action (labels included, as data) and what the event adds
// (the step's argv, exit, output excerpt and duration; the check's reading). Pure.
evidence::Record HealingRecord(const healing::Event& event, const CheckSpec* spec);

// The JSON of an action for GET /api/v1/heal/actions and the CLI. Pure.
std::string ActionJson(const healing::Action& action);

// The name an identity is recorded under: the basic-auth user, else the client certificate's
// first SAN or subject, else "" (unauthenticated).
std::string IdentityName(const Identity& identity);

// The `healing:` capability: the webhook Alertmanager calls (POST /api/v1/heal), the actions API
// (GET /api/v1/heal/actions, approve, reject, reset), the Healer running runbooks on its own
// thread, every event recorded as signed evidence, drift_healing_* and drift_webhook_* metrics,
// and the ComplianceHealingFailed / ComplianceHealingAwaitingApproval alerts.
// Created only when the first configuration enables healing. Thread-safe.
class HealingModule final : public Module {
 public:
  // How the module reaches the rest of the daemon (modules.cc wires the evidence module).
  struct Connections {
    // Appends a record durably; an error when it cannot (the store is unhealthy).
    std::function<Status(evidence::Record)> append_evidence;
    std::function<Status()> evidence_ready;
    // Raises (firing) or resolves a per-check exporter alert; unset without alerting.
    std::function<void(std::string_view alertname, std::string_view check, bool firing,
                       std::string_view summary, std::string_view description)>
        alert;
    // Steps run here; tests pass a fake. Unset: a ProcessRunner of the module's own.
    CommandRunner* runner = nullptr;
    // Tests drive the healer with healer().RunDue() instead of its thread.
    bool start_worker = true;
  };

  // Opens the healing state in `context.state_dir` (StartupError without one, or when the file
  // cannot be read) and starts the healer. Logs a warning when the webhook takes
  // unauthenticated requests.
  HealingModule(ModuleContext& context, const Config& config, Connections connections);
  ~HealingModule() override;

  std::string_view section() const override { return "healing"; }
  // Turning healing off needs a restart; everything else is taken.
  Result<std::vector<std::string>> CheckReload(const Config& next) const override;
  void OnConfigLoaded(const Config& config) override;
  void OnTransition(const CheckState& before, const CheckState& after) override;
  // Starts the healer's thread (unless Connections::start_worker is false).
  void OnStarted() override;
  // Stops the healer's thread: a running step finishes, nothing after it runs.
  void OnStopping() override;
  void Stop() override;
  std::vector<Route> Routes() override;
  // Each action awaiting approval, with the command that approves it.
  std::vector<PageNote> PageNotes() const override;

  healing::Healer& healer() { return *healer_; }

  // The handlers, callable without a server (tests).
  HttpResponse ServeWebhook(const HttpRequest& req);
  HttpResponse ServeActions(const HttpRequest& req);
  HttpResponse ServeAction(const HttpRequest& req);

 private:
  class Checks;
  class Recorder;
  class Observer;
  healing::HealerConfig MakeHealerConfig(const Config& config) const;
  enum class Role { kReader, kWebhookCaller, kApprover };
  // 401 without an identity (unless allow_unauthenticated), 403 for an identity outside the
  // role's list; nullopt when `req` may go on.
  std::optional<HttpResponse> Refuse(const HttpRequest& req, Role role) const;
  HttpResponse Webhook(int status, std::string body);

  Connections connections_;
  std::string hostname_;
  std::unique_ptr<ProcessRunner> own_runner_;
  std::unique_ptr<Checks> checks_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<healing::FileStateStore> store_;
  std::unique_ptr<healing::Healer> healer_;

  prometheus::Family<prometheus::Counter>& webhook_requests_;

  mutable std::mutex mu_;
  bool allow_unauthenticated_ = false;
  std::vector<std::string> webhook_callers_;
  std::vector<std::string> approvers_;
  std::map<std::string, std::shared_ptr<const CheckSpec>> specs_;
};

}  // namespace drift::exporter
