#include "exporter/healing_module.h"

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/hostname.h"
#include "common/log.h"
#include "common/rfc3339.h"
#include "common/strings.h"
#include "exporter/config.h"
#include "healing/webhook.h"

namespace drift::exporter {
namespace {

using nlohmann::json;

constexpr std::string_view kHealingFailedAlert = "ComplianceHealingFailed";
constexpr std::string_view kAwaitingApprovalAlert = "ComplianceHealingAwaitingApproval";
// Output kept in a step's evidence record, per stream: enough to see why it failed.
constexpr std::size_t kOutputExcerpt = 4096;
constexpr std::string_view kActionsPrefix = "/api/v1/heal/actions/";
constexpr std::string_view kChecksPrefix = "/api/v1/heal/checks/";

json OptionalTime(const std::optional<WallTime>& t) { return t ? json(FormatRfc3339(*t)) : json(); }

json ActionToJson(const healing::Action& a) {
  return {
      {"id", a.id},
      {"check", a.check},
      {"runbook", a.runbook},
      {"tier", healing::TierName(a.tier)},
      {"status", healing::ActionStatusName(a.status)},
      {"reason", a.reason},
      {"dry_run", a.dry_run},
      {"alert",
       {{"fingerprint", a.fingerprint},
        {"starts_at", FormatRfc3339(a.alert_starts_at)},
        {"labels", a.alert_labels},
        {"receiver", a.receiver}}},
      {"requested_by", a.requested_by},
      {"decided_by", a.decided_by},
      {"created_at", FormatRfc3339(a.created_at)},
      {"updated_at", FormatRfc3339(a.updated_at)},
      {"expires_at", OptionalTime(a.expires_at)},
      {"not_before", OptionalTime(a.not_before)},
  };
}

// The output a record keeps: the first bytes of each stream, whole characters only.
json OutputExcerpt(const CommandOutput& o) {
  auto excerpt = [](const std::string& s) {
    std::string_view cut = Utf8Prefix(s, kOutputExcerpt);
    return IsValidUtf8(cut) ? std::string(cut) : OneLine(cut, kOutputExcerpt);
  };
  return {{"exit_code", o.exit_code},     {"signal", o.signal},          {"timed_out", o.timed_out},
          {"truncated", o.truncated},     {"stdout", excerpt(o.out)},    {"stderr", excerpt(o.err)},
          {"stdout_bytes", o.out.size()}, {"stderr_bytes", o.err.size()}};
}

healing::CheckReading ReadingOf(const CheckState& state) {
  healing::CheckReading r;
  r.drifted = state.result.verdict == checks::Verdict::kDrifted;
  r.error = state.result.verdict == checks::Verdict::kError;
  r.reason = state.result.reason;
  json observed = json::object();
  for (const checks::Observation& o : state.result.observations) observed[o.key] = o.value;
  json findings = json::array();
  for (const checks::Finding& f : state.result.findings) {
    findings.push_back({{"cause", f.cause}, {"observed", f.observed}, {"expected", f.expected}});
    r.causes.push_back(f.cause);
  }
  r.observations_json =
      json{{"observed", std::move(observed)}, {"findings", std::move(findings)}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

HttpResponse JsonError(int status, std::string_view message) {
  return Json(status, {{"status", "error"}, {"error", message}});
}

}  // namespace

std::string IdentityName(const Identity& identity) {
  if (!identity.user.empty()) return identity.user;
  if (identity.certificate) {
    const ClientCertificate& c = *identity.certificate;
    if (!c.sans.empty()) return c.sans.front();
    return c.subject;
  }
  return "";
}

std::string ActionJson(const healing::Action& action) {
  return ActionToJson(action).dump(-1, ' ', false, json::error_handler_t::replace);
}

evidence::Record HealingRecord(const healing::Event& event, const CheckSpec* spec) {
  evidence::Record r;
  r.kind = fmt::format("healing_{}", healing::EventKindName(event.kind));
  if (!event.action.check.empty()) r.check = event.action.check;
  if (spec != nullptr) {
    for (const Control& c : spec->controls) r.controls.push_back(c.framework + ":" + c.id);
    r.severity = std::string(checks::SeverityName(spec->severity));
  }
  r.actor = event.actor.empty() ? std::string("unauthenticated") : event.actor;
  json payload = {{"detail", event.detail}};
  if (!event.action.id.empty()) payload["action"] = ActionToJson(event.action);
  if (event.step) {
    const healing::StepRun& s = *event.step;
    json step = {{"index", s.index},
                 {"argv", s.step.argv},
                 {"timeout_ms", s.step.timeout.count()},
                 {"duration_ms", s.duration.count()},
                 {"ok", s.ok},
                 {"dry_run", !s.output && s.error.empty()}};
    if (s.output) step["output"] = OutputExcerpt(*s.output);
    if (!s.error.empty()) step["error"] = s.error;
    payload["step"] = std::move(step);
  }
  if (event.reading) {
    payload["check_reading"] = {
        {"drifted", event.reading->drifted},
        {"error", event.reading->error},
        {"reason", event.reading->reason},
        {"state", json::parse(event.reading->observations_json, nullptr, false)}};
  }
  r.payload = std::move(payload);
  return r;
}

// The scheduler's checks, for snapshots and verification.
class HealingModule::Checks final : public healing::CheckAccess {
 public:
  explicit Checks(ModuleContext& context) : context_(context) {}
  std::optional<healing::CheckReading> Latest(std::string_view check) const override {
    if (!context_.snapshot) return std::nullopt;
    std::shared_ptr<const Snapshot> snap = context_.snapshot();
    for (const auto& s : snap->checks) {
      if (s->spec->name == check && s->ran) return ReadingOf(*s);
    }
    return std::nullopt;
  }
  Result<healing::CheckReading> RunNow(std::string_view check, Deadline deadline) override {
    if (!context_.run_check_now) return Err("checks cannot be run from here");
    Result<std::shared_ptr<const CheckState>> state = context_.run_check_now(check, deadline);
    if (!state.ok()) return state.error();  // ECANCELED when the scheduler stopped
    return ReadingOf(**state);
  }

 private:
  ModuleContext& context_;
};

class HealingModule::Recorder final : public healing::Recorder {
 public:
  explicit Recorder(HealingModule& module) : module_(module) {}
  Status Ready() const override {
    if (!module_.connections_.evidence_ready) return {};
    return module_.connections_.evidence_ready();
  }
  Status Record(const healing::Event& event) override {
    std::shared_ptr<const CheckSpec> spec;
    {
      std::lock_guard lock(module_.mu_);
      if (auto it = module_.specs_.find(event.action.check); it != module_.specs_.end()) {
        spec = it->second;
      }
    }
    if (!module_.connections_.append_evidence) return {};
    return module_.connections_.append_evidence(HealingRecord(event, spec.get()));
  }

 private:
  HealingModule& module_;
};

// drift_healing_* metrics and the healing alerts.
class HealingModule::Observer final : public healing::HealingObserver {
 public:
  Observer(prometheus::Registry& registry, const Connections& connections)
      : connections_(connections),
        actions_(prometheus::BuildCounter()
                     .Name("drift_healing_actions_total")
                     .Help("Healing actions that reached an outcome, by runbook and outcome "
                           "(healed, failed, dry_run, rejected, expired, cancelled, interrupted, "
                           "manual, skipped).")
                     .Register(registry)),
        pending_(prometheus::BuildGauge()
                     .Name("drift_healing_pending_approvals")
                     .Help("Healing actions waiting for an approver.")
                     .Register(registry)
                     .Add({})),
        last_action_(prometheus::BuildGauge()
                         .Name("drift_healing_last_action_timestamp_seconds")
                         .Help("When the latest healing action of a check ended (Unix time).")
                         .Register(registry)),
        suspended_(prometheus::BuildGauge()
                       .Name("drift_healing_suspended")
                       .Help("1 while healing of a check is suspended after a reconciliation "
                             "loop, until `drift_exporter heal reset`.")
                       .Register(registry)) {}

  void SetChecks(std::vector<std::string> checks) {
    std::lock_guard lock(mu_);
    for (const std::string& c : checks) suspended_.Add({{"check", c}});
    checks_ = std::move(checks);
  }

  void Finished(const healing::Action& a) override {
    actions_.Add({{"runbook", a.runbook}, {"outcome", std::string(ActionStatusName(a.status))}})
        .Increment();
  }

  void Changed(const healing::HealingSummary& s) override {
    std::lock_guard lock(mu_);
    pending_.Set(static_cast<double>(s.awaiting_approval.size()));
    for (const auto& [check, when] : s.last_action) {
      last_action_.Add({{"check", check}}).Set(ToUnixSeconds(when));
    }
    for (const std::string& c : checks_) {
      suspended_.Add({{"check", c}}).Set(s.suspended.contains(c) ? 1 : 0);
    }
    if (!connections_.alert) return;
    std::set<std::string> failed;
    for (const auto& [check, why] : s.escalated) {
      failed.insert(check);
      connections_.alert(kHealingFailedAlert, check, true,
                         fmt::format("Healing of check {} failed", check),
                         fmt::format("{}{}", why,
                                     s.suspended.contains(check)
                                         ? "; automatic healing of this check is suspended until "
                                           "`drift_exporter heal reset` "
                                         : ""));
    }
    for (const std::string& check : failed_) {
      if (!failed.contains(check)) connections_.alert(kHealingFailedAlert, check, false, "", "");
    }
    failed_ = std::move(failed);
    std::set<std::string> waiting;
    for (const healing::Action& a : s.awaiting_approval) {
      waiting.insert(a.check);
      connections_.alert(
          kAwaitingApprovalAlert, a.check, true,
          fmt::format("Healing of check {} awaits approval", a.check),
          fmt::format("Runbook {} waits for an approver until {}: drift_exporter heal approve {}",
                      a.runbook, a.expires_at ? FormatRfc3339(*a.expires_at) : "-", a.id));
    }
    for (const std::string& check : waiting_) {
      if (!waiting.contains(check))
        connections_.alert(kAwaitingApprovalAlert, check, false, "", "");
    }
    waiting_ = std::move(waiting);
  }

 private:
  const Connections& connections_;
  prometheus::Family<prometheus::Counter>& actions_;
  prometheus::Gauge& pending_;
  prometheus::Family<prometheus::Gauge>& last_action_;
  prometheus::Family<prometheus::Gauge>& suspended_;
  std::mutex mu_;
  std::vector<std::string> checks_;
  std::set<std::string> failed_;
  std::set<std::string> waiting_;
};

HealingModule::HealingModule(ModuleContext& context, const Config& config, Connections connections)
    : connections_(std::move(connections)),
      hostname_(HostName()),
      checks_(std::make_unique<Checks>(context)),
      recorder_(std::make_unique<Recorder>(*this)),
      observer_(std::make_unique<Observer>(context.registry, connections_)),
      webhook_requests_(prometheus::BuildCounter()
                            .Name("drift_webhook_requests_total")
                            .Help("Requests to the healing webhook POST /api/v1/heal, by HTTP "
                                  "status code.")
                            .Register(context.registry)) {
  if (context.state_dir.empty()) {
    throw StartupError(
        "healing needs a state directory (state_dir: in the configuration, or $STATE_DIRECTORY "
        "as systemd's StateDirectory= sets it): it remembers which alerts it acted on across "
        "restarts");
  }
  CommandRunner* runner = connections_.runner;
  if (runner == nullptr) {
    // Steps name absolute programs; the search path is only what ProcessRunner requires.
    own_runner_ = std::make_unique<ProcessRunner>(std::vector<std::string>{"/usr/bin", "/bin"});
    runner = own_runner_.get();
  }
  store_ = std::make_unique<healing::FileStateStore>(
      (std::filesystem::path(context.state_dir) / "healing.json").string());
  OnConfigLoaded(config);  // the specs and unauthenticated flag, before the healer runs
  Result<std::unique_ptr<healing::Healer>> healer = healing::Healer::Open(
      healing::HealerDeps{context.clock, *runner, *checks_, *recorder_, *store_, *observer_},
      MakeHealerConfig(config));
  if (!healer.ok())
    throw StartupError(fmt::format("{}: {}", store_->path(), healer.error().message));
  healer_ = std::move(*healer);
}

HealingModule::~HealingModule() { Stop(); }

healing::HealerConfig HealingModule::MakeHealerConfig(const Config& config) const {
  healing::HealerConfig h;
  h.healing = config.healing;
  h.runbooks = config.runbooks;
  for (const auto& spec : config.checks) {
    if (spec->enabled) h.check_runbooks.emplace(spec->name, spec->recommended_action);
  }
  h.instance = !config.healing.instance.empty()    ? config.healing.instance
               : !config.alerting.instance.empty() ? config.alerting.instance
                                                   : hostname_;
  return h;
}

Result<std::vector<std::string>> HealingModule::CheckReload(const Config& next) const {
  if (!next.healing.enabled) return std::vector<std::string>{"healing: section removed"};
  return std::vector<std::string>{};
}

void HealingModule::OnConfigLoaded(const Config& config) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    specs_.clear();
    for (const auto& spec : config.checks) {
      specs_[spec->name] = spec;
      if (spec->enabled && config.runbooks.contains(spec->recommended_action)) {
        names.push_back(spec->name);
      }
    }
    allow_unauthenticated_ = config.healing.allow_unauthenticated;
    webhook_callers_ = config.healing.webhook_callers;
    approvers_ = config.healing.approvers;
  }
  if (config.healing.allow_unauthenticated) {
    log::Warn(
        "healing.allow_unauthenticated is set: anyone who reaches the port may call the healing "
        "webhook and approve actions; for a demo only");
  }
  observer_->SetChecks(std::move(names));
  if (healer_) healer_->Configure(MakeHealerConfig(config));
}

void HealingModule::OnTransition(const CheckState& before, const CheckState& after) {
  if (!healer_) return;
  if (after.Status() == CheckStatus::kCompliant && before.Status() != CheckStatus::kCompliant) {
    healer_->CheckCompliant(after.spec->name);
  }
  if (after.Status() == CheckStatus::kDrifted && before.Status() != CheckStatus::kDrifted) {
    healer_->CheckDrifted(after.spec->name, after.drift_since);
  }
}

void HealingModule::OnStarted() {
  if (connections_.start_worker) healer_->Start();
}

void HealingModule::OnStopping() { healer_->Stop(); }

void HealingModule::Stop() {
  if (healer_) healer_->Stop();
}

std::optional<HttpResponse> HealingModule::Refuse(const HttpRequest& req, Role role) const {
  bool allow_unauthenticated = false;
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    allow_unauthenticated = allow_unauthenticated_;
    if (role == Role::kWebhookCaller) names = webhook_callers_;
    if (role == Role::kApprover) names = approvers_;
  }
  const std::string who = IdentityName(req.identity);
  if (who.empty()) {
    if (allow_unauthenticated) return std::nullopt;
    return JsonError(401,
                     "the healing API needs an authenticated caller: set basic_auth_users or "
                     "client certificates in --web.config.file (or "
                     "healing.allow_unauthenticated: true, for a demo)");
  }
  if (role == Role::kWebhookCaller && !names.empty() && !req.identity.AnyOf(names)) {
    return JsonError(403, fmt::format("{} may not call the healing webhook "
                                      "(healing.webhook_callers)",
                                      who));
  }
  if (role == Role::kApprover && !req.identity.AnyOf(names)) {
    return JsonError(403, fmt::format("{} may not approve, reject or reset healing "
                                      "(healing.approvers)",
                                      who));
  }
  return std::nullopt;
}

HttpResponse HealingModule::Webhook(int status, std::string body) {
  webhook_requests_.Add({{"code", std::to_string(status)}}).Increment();
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

HttpResponse HealingModule::ServeWebhook(const HttpRequest& req) {
  if (std::optional<HttpResponse> refused = Refuse(req, Role::kWebhookCaller)) {
    log::Warn("healing webhook refused", {{"code", refused->status},
                                          {"remote", req.remote_addr},
                                          {"caller", IdentityName(req.identity)}});
    return Webhook(refused->status, refused->body);
  }
  Result<WebhookMessage> message = healing::ParseWebhookMessage(req.body);
  if (!message.ok()) {
    return Webhook(400, JsonError(400, message.error().message).body);
  }
  Result<std::vector<healing::AlertOutcome>> outcomes =
      healer_->Accept(*message, IdentityName(req.identity));
  if (!outcomes.ok()) {
    log::Warn("healing webhook refused with 503", {{"err", outcomes.error().message}});
    return Webhook(503, JsonError(503, outcomes.error().message).body);
  }
  json alerts = json::array();
  for (const healing::AlertOutcome& o : *outcomes) {
    alerts.push_back({{"fingerprint", o.fingerprint},
                      {"check", o.check},
                      {"result", o.result},
                      {"action", o.action_id},
                      {"reason", o.reason}});
  }
  return Webhook(200, Json(200, {{"status", "accepted"}, {"alerts", std::move(alerts)}}).body);
}

HttpResponse HealingModule::ServeActions(const HttpRequest& req) {
  if (std::optional<HttpResponse> refused = Refuse(req, Role::kReader)) return *refused;
  json list = json::array();
  for (const healing::Action& a : healer_->Actions()) list.push_back(ActionToJson(a));
  return Json(200, {{"actions", std::move(list)}});
}

// GET /api/v1/heal/actions/{id}; POST .../{id}/approve, .../{id}/reject (body: the reason);
// POST /api/v1/heal/checks/{check}/reset.
HttpResponse HealingModule::ServeAction(const HttpRequest& req) {
  const Role role = req.method == "GET" ? Role::kReader : Role::kApprover;
  if (std::optional<HttpResponse> refused = Refuse(req, role)) return *refused;
  const std::string who = IdentityName(req.identity);
  std::string_view path = req.path;
  if (path.starts_with(kChecksPrefix)) {
    std::string_view rest = path.substr(kChecksPrefix.size());
    if (req.method != "POST" || !rest.ends_with("/reset")) {
      return JsonError(404, "expected POST /api/v1/heal/checks/<check>/reset");
    }
    const std::string_view check = rest.substr(0, rest.size() - 6);
    Status s = healer_->Reset(check, who.empty() ? "unauthenticated" : who);
    if (!s.ok()) return JsonError(s.error().sys_errno == ENOENT ? 404 : 503, s.error().message);
    return Json(200, {{"status", "reset"}, {"check", check}});
  }
  std::string_view rest = path.substr(kActionsPrefix.size());
  const std::size_t slash = rest.find('/');
  const std::string_view id = rest.substr(0, slash);
  const std::string_view verb = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (req.method == "GET" && verb.empty()) {
    std::optional<healing::Action> a = healer_->Find(id);
    if (!a) return JsonError(404, fmt::format("no action {:?}", id));
    return Json(200, ActionToJson(*a));
  }
  if (req.method != "POST" || (verb != "approve" && verb != "reject")) {
    return JsonError(404,
                     "expected GET /api/v1/heal/actions/<id> or POST "
                     "/api/v1/heal/actions/<id>/approve|reject");
  }
  const std::string actor = who.empty() ? "unauthenticated" : who;
  Result<healing::Action> a = verb == "approve"
                                  ? healer_->Approve(id, actor)
                                  : healer_->Reject(id, actor, OneLine(req.body, 500));
  if (!a.ok()) {
    // Unknown; not awaiting approval any more (a conflict with its state); else the store
    // failed.
    const int err = a.error().sys_errno;
    return JsonError(err == ENOENT ? 404 : err == EALREADY ? 409 : 503, a.error().message);
  }
  return Json(200, ActionToJson(*a));
}

std::vector<PageNote> HealingModule::PageNotes() const {
  std::vector<PageNote> notes;
  for (const healing::Action& a : healer_->Summary().awaiting_approval) {
    notes.push_back({"Healing", a.check, "Awaiting approval",
                     fmt::format("runbook {} waits for an approver until {}", a.runbook,
                                 a.expires_at ? FormatRfc3339(*a.expires_at) : "-"),
                     fmt::format("drift_exporter heal approve {}", a.id)});
  }
  return notes;
}

std::vector<Route> HealingModule::Routes() {
  // Who may call what is checked by the handlers against the current configuration (a reload
  // may change healing.webhook_callers and healing.approvers); the routes only need a caller
  // the web config authenticated.
  std::vector<Route> routes;
  Route webhook{"/api/v1/heal",
                {"POST"},
                [this](const HttpRequest& r) { return ServeWebhook(r); },
                /*blocks=*/true};
  webhook.max_body = kMaxWebhookBody;
  routes.push_back(std::move(webhook));
  routes.push_back({"/api/v1/heal/actions",
                    {"GET"},
                    [this](const HttpRequest& r) { return ServeActions(r); },
                    true});
  Route action{std::string(kActionsPrefix),
               {"GET", "POST"},
               [this](const HttpRequest& r) { return ServeAction(r); },
               true};
  action.max_body = 4096;  // a rejection's reason
  routes.push_back(std::move(action));
  Route reset{std::string(kChecksPrefix),
              {"POST"},
              [this](const HttpRequest& r) { return ServeAction(r); },
              true};
  routes.push_back(std::move(reset));
  return routes;
}

}  // namespace drift::exporter
