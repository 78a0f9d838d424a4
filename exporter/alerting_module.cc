#include "exporter/alerting_module.h"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <set>

#include "common/hostname.h"
#include "common/log.h"

namespace drift::exporter {

namespace {

std::string Slot(std::string_view alertname, std::string_view name) {
  return fmt::format("{}/{}", alertname, name);
}

// Findings named in an alert's description; a check may report many (one per changed firewall
// rule), and a notification has to stay readable. The check's page lists them all.
constexpr std::size_t kMaxFindingsDescribed = 10;

// "cause: observed X, expected Y; ..." from the findings (the first kMaxFindingsDescribed, then
// "... and N more"), else the run's reason.
std::string Describe(const checks::CheckResult& result) {
  std::string out;
  std::size_t shown = std::min(result.findings.size(), kMaxFindingsDescribed);
  for (std::size_t i = 0; i < shown; ++i) {
    const checks::Finding& f = result.findings[i];
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: observed {}, expected {}", f.cause, f.observed, f.expected);
  }
  if (shown < result.findings.size()) {
    out += fmt::format("; ... and {} more", result.findings.size() - shown);
  }
  return out.empty() ? result.reason : out;
}

alerts::Labels BaseLabels(std::string_view alertname, std::string_view severity,
                          const AlertLabeling& labeling) {
  alerts::Labels labels = labeling.external_labels;
  labels["alertname"] = std::string(alertname);
  labels["severity"] = std::string(severity);
  labels["instance"] = labeling.instance;
  return labels;
}

void AddRunbook(alerts::AlertContent& content, const AlertLabeling& labeling,
                std::string_view check, std::string_view action) {
  if (labeling.runbook_url.empty()) return;
  alerts::Labels vars = content.labels;
  vars["check"] = std::string(check);
  vars["recommended_action"] = std::string(action);
  content.annotations["runbook_url"] = labeling.runbook_url.Render(vars);
}

alerts::AlertContent CheckAlert(std::string_view alertname, std::string_view severity,
                                const CheckSpec& spec, const AlertLabeling& labeling,
                                std::string_view evidence_record_id) {
  alerts::AlertContent c;
  c.labels = BaseLabels(alertname, severity, labeling);
  c.labels["check"] = spec.name;
  c.annotations["recommended_action"] = spec.recommended_action;
  c.annotations["controls"] = spec.controls_label;
  if (!evidence_record_id.empty()) {
    c.annotations["evidence_record_id"] = std::string(evidence_record_id);
  }
  AddRunbook(c, labeling, spec.name, spec.recommended_action);
  c.generator_url = fmt::format("{}/checks/{}", labeling.external_url, spec.name);
  return c;
}

// drift_alerts_* families in the exporter's registry.
class MetricsObserver final : public alerts::DeliveryObserver {
 public:
  explicit MetricsObserver(prometheus::Registry& registry)
      : sent_(prometheus::BuildCounter()
                  .Name("drift_alerts_sent_total")
                  .Help("Alerts sent to each Alertmanager, by outcome: success (accepted), error "
                        "(no answer, 5xx or 429; retried), rejected (other 4xx; dropped).")
                  .Register(registry)),
        queue_(prometheus::BuildGauge()
                   .Name("drift_alerts_queue_length")
                   .Help("Alerts waiting to be sent to each Alertmanager.")
                   .Register(registry)),
        dropped_(prometheus::BuildCounter()
                     .Name("drift_alerts_dropped_total")
                     .Help("Alerts that will never reach an Alertmanager: queue full (oldest "
                           "dropped), rejected with a 4xx, or still queued at shutdown.")
                     .Register(registry)),
        active_(prometheus::BuildGauge()
                    .Name("drift_alerts_active")
                    .Help("Alerts this exporter has firing, by alertname.")
                    .Register(registry)),
        last_success_(
            prometheus::BuildGauge()
                .Name("drift_alertmanager_last_success_timestamp_seconds")
                .Help("Unix time of the last batch an Alertmanager accepted (0: none yet).")
                .Register(registry)) {
    for (std::string_view name : {kDriftAlert, kCheckFailingAlert}) {
      active_.Add({{"alertname", std::string(name)}}).Set(0);
      known_alertnames_.insert(std::string(name));
    }
  }

  void Sent(std::string_view am, alerts::Outcome outcome, std::size_t n) override {
    Init(am);
    sent_.Add({{"alertmanager", std::string(am)}, {"outcome", std::string(OutcomeName(outcome))}})
        .Increment(static_cast<double>(n));
  }
  void Dropped(std::string_view am, std::size_t n) override {
    Init(am);
    dropped_.Add({{"alertmanager", std::string(am)}}).Increment(static_cast<double>(n));
  }
  void QueueLength(std::string_view am, std::size_t length) override {
    Init(am);
    queue_.Add({{"alertmanager", std::string(am)}}).Set(static_cast<double>(length));
  }
  void Delivered(std::string_view am, WallTime when) override {
    Init(am);
    last_success_.Add({{"alertmanager", std::string(am)}}).Set(ToUnixSeconds(when));
  }
  void Active(const std::map<std::string, int>& firing) override {
    MutexLock lock(mu_);
    for (const auto& [name, count] : firing) known_alertnames_.insert(name);
    for (const std::string& name : known_alertnames_) {
      auto it = firing.find(name);
      active_.Add({{"alertname", name}}).Set(it == firing.end() ? 0 : it->second);
    }
  }
  void Removed(std::string_view am) override {
    MutexLock lock(mu_);
    std::string url(am);
    if (!initialised_.erase(url)) return;
    for (alerts::Outcome o :
         {alerts::Outcome::kSuccess, alerts::Outcome::kError, alerts::Outcome::kRejected}) {
      sent_.Remove(&sent_.Add({{"alertmanager", url}, {"outcome", std::string(OutcomeName(o))}}));
    }
    dropped_.Remove(&dropped_.Add({{"alertmanager", url}}));
    queue_.Remove(&queue_.Add({{"alertmanager", url}}));
    last_success_.Remove(&last_success_.Add({{"alertmanager", url}}));
  }

 private:
  // Every series of an Alertmanager exists from its first report, at 0, so that rate() and
  // increase() see the first error.
  void Init(std::string_view am) {
    MutexLock lock(mu_);
    std::string url(am);
    if (!initialised_.insert(url).second) return;
    for (alerts::Outcome o :
         {alerts::Outcome::kSuccess, alerts::Outcome::kError, alerts::Outcome::kRejected}) {
      sent_.Add({{"alertmanager", url}, {"outcome", std::string(OutcomeName(o))}});
    }
    dropped_.Add({{"alertmanager", url}});
    queue_.Add({{"alertmanager", url}});
    last_success_.Add({{"alertmanager", url}});
  }

  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  Mutex mu_;
  std::set<std::string> initialised_ DRIFT_GUARDED_BY(mu_);
  std::set<std::string> known_alertnames_ DRIFT_GUARDED_BY(mu_);
};

}  // namespace

AlertLabeling MakeAlertLabeling(const alerts::AlertingConfig& config, std::string_view hostname,
                                std::string_view external_url) {
  AlertLabeling l;
  l.instance = config.instance.empty() ? std::string(hostname) : config.instance;
  l.external_labels = config.external_labels;
  l.external_url = std::string(external_url);
  l.runbook_url = config.runbook_url;
  return l;
}

CheckAlerts DecideCheckAlerts(const CheckState& state, const AlertLabeling& labeling,
                              std::string_view evidence_record_id) {
  CheckAlerts out;
  const CheckStatus status = state.Status();
  if (status == CheckStatus::kPending || state.spec == nullptr) return out;
  const CheckSpec& spec = *state.spec;
  if (state.drifted) {  // kDrifted, or kError keeping the last known verdict
    checks::Severity severity = state.CurrentSeverity() == checks::Severity::kNone
                                    ? spec.severity
                                    : state.CurrentSeverity();
    alerts::AlertContent c =
        CheckAlert(kDriftAlert, checks::SeverityName(severity), spec, labeling, evidence_record_id);
    c.annotations["summary"] =
        fmt::format("Check {} drifted from its baseline on {}", spec.name, labeling.instance);
    c.annotations["description"] =
        status == CheckStatus::kDrifted
            ? Describe(state.result)
            : fmt::format("Drifted at the last successful run; the latest run failed: {}",
                          state.result.reason);
    out.drift = std::move(c);
    out.drift_starts_at = state.drift_since;
  }
  if (status == CheckStatus::kError) {
    // A check that cannot run hides drift of its own severity.
    alerts::AlertContent c = CheckAlert(kCheckFailingAlert, checks::SeverityName(spec.severity),
                                        spec, labeling, evidence_record_id);
    c.annotations["summary"] =
        fmt::format("Check {} cannot run on {}", spec.name, labeling.instance);
    c.annotations["description"] = state.result.reason;
    out.failing = std::move(c);
  }
  return out;
}

bool SameAlertInputs(const CheckState& before, const CheckState& after) {
  if (!before.ran || !after.ran || before.spec != after.spec || before.known != after.known ||
      before.drifted != after.drifted || before.success != after.success ||
      before.severity != after.severity || before.result.reason != after.result.reason) {
    return false;
  }
  const auto& a = before.result.findings;
  const auto& b = after.result.findings;
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const checks::Finding& x, const checks::Finding& y) {
                      return x.cause == y.cause && x.observed == y.observed &&
                             x.expected == y.expected && x.severity == y.severity;
                    });
}

alerts::AlertContent ExporterAlertContent(std::string_view alertname, checks::Severity severity,
                                          std::string_view summary, std::string_view description,
                                          const AlertLabeling& labeling) {
  alerts::AlertContent c;
  c.labels = BaseLabels(alertname, checks::SeverityName(severity), labeling);
  c.annotations["summary"] = std::string(summary);
  c.annotations["description"] = std::string(description);
  AddRunbook(c, labeling, "", "");
  c.generator_url = labeling.external_url + "/";
  return c;
}

AlertingModule::AlertingModule(ModuleContext& context, const Config& config,
                               alerts::Notifier::PosterFactory make_poster,
                               alerts::DeliveryOptions options)
    : hostname_(HostName()),
      external_url_(context.external_url),
      observer_(std::make_unique<MetricsObserver>(context.registry)),
      notifier_(std::make_unique<alerts::Notifier>(context.clock, *observer_,
                                                   std::move(make_poster), options)),
      labeling_(std::make_shared<const AlertLabeling>(
          MakeAlertLabeling(config.alerting, hostname_, external_url_))) {}

AlertingModule::~AlertingModule() { notifier_->Stop(std::chrono::milliseconds(0)); }

std::shared_ptr<const AlertLabeling> AlertingModule::labeling() const {
  MutexLock lock(mu_);
  return labeling_;
}

Result<std::vector<std::string>> AlertingModule::CheckReload(const Config&) const {
  return std::vector<std::string>{};
}

void AlertingModule::OnConfigLoaded(const Config& config) {
  if (!config.alerting.enabled) {
    log::Warn("alerting is no longer configured: no alerts will be sent until it is again");
  }
  {
    MutexLock lock(mu_);
    labeling_ = std::make_shared<const AlertLabeling>(
        MakeAlertLabeling(config.alerting, hostname_, external_url_));
    ++generation_;
  }
  alerts::AlertingConfig targets = config.alerting;
  for (alerts::AlertmanagerConfig& t : targets.alertmanagers) {
    if (t.format == alerts::AlertFormat::kWebhook) t.external_url = external_url_;
  }
  notifier_->Configure(targets);
  // Checks removed or disabled can no longer resolve their alerts themselves.
  std::set<std::string> running;
  for (const auto& spec : config.checks) {
    if (spec->enabled) running.insert(spec->name);
  }
  {
    MutexLock lock(mu_);
    std::erase_if(decided_, [&](const auto& kv) { return !running.contains(kv.first); });
  }
  for (const std::string& slot : notifier_->FiringSlots()) {
    for (std::string_view alertname : {kDriftAlert, kCheckFailingAlert}) {
      std::string prefix = Slot(alertname, "");
      if (slot.starts_with(prefix) && !running.contains(slot.substr(prefix.size()))) {
        notifier_->Resolve(slot);
      }
    }
  }
}

void AlertingModule::OnTransition(const CheckState& before, const CheckState& after) {
  if (after.Status() == CheckStatus::kPending || after.spec == nullptr) return;
  const std::string& name = after.spec->name;
  EvidenceRecordIdProvider provider;
  std::shared_ptr<const AlertLabeling> labeling;
  std::uint64_t generation = 0;
  {
    MutexLock lock(mu_);
    provider = evidence_id_;
    labeling = labeling_;
    generation = generation_;
  }
  std::string evidence_id = provider ? provider(name) : "";
  {
    // Most runs change nothing: the alerts they would decide are the ones already decided.
    MutexLock lock(mu_);
    Decided& last = decided_[name];
    bool same = last.generation == generation && last.evidence_id == evidence_id &&
                SameAlertInputs(before, after);
    last.generation = generation;
    last.evidence_id = evidence_id;
    if (same) return;
  }
  std::string drift_slot = Slot(kDriftAlert, name);
  std::string failing_slot = Slot(kCheckFailingAlert, name);
  if (before.ran && before.runs == 0) {
    // The first run after a restart, from a state restored from the state file: its alerts are
    // taken up again as they were (the drift with its episode's start), so that this run
    // continues them, or resolves them in Alertmanager, instead of starting new ones or leaving
    // them to expire.
    CheckAlerts restored = DecideCheckAlerts(before, *labeling, evidence_id);
    if (restored.drift) {
      notifier_->Fire(drift_slot, std::move(*restored.drift), restored.drift_starts_at);
    }
    if (restored.failing) notifier_->Fire(failing_slot, std::move(*restored.failing));
  }
  CheckAlerts decided = DecideCheckAlerts(after, *labeling, evidence_id);
  if (decided.drift) {
    // A failed run says nothing new about the drift: keep the last drifted run's description.
    if (after.Status() != CheckStatus::kError || !notifier_->Firing(drift_slot)) {
      notifier_->Fire(drift_slot, std::move(*decided.drift), decided.drift_starts_at);
    }
  } else {
    notifier_->Resolve(drift_slot);
  }
  if (decided.failing) {
    notifier_->Fire(failing_slot, std::move(*decided.failing));
  } else {
    notifier_->Resolve(failing_slot);
  }
}

void AlertingModule::Stop() { notifier_->Stop(kAlertFlushTimeout); }

void AlertingModule::SetEvidenceRecordIdProvider(EvidenceRecordIdProvider provider) {
  MutexLock lock(mu_);
  evidence_id_ = std::move(provider);
}

void AlertingModule::RaiseExporterAlert(std::string_view alertname, checks::Severity severity,
                                        std::string_view summary, std::string_view description,
                                        std::string_view check) {
  alerts::AlertContent content =
      ExporterAlertContent(alertname, severity, summary, description, *labeling());
  if (!check.empty()) content.labels["check"] = std::string(check);
  notifier_->Fire(check.empty() ? Slot("exporter", alertname) : Slot(alertname, check),
                  std::move(content));
}

void AlertingModule::ResolveExporterAlert(std::string_view alertname, std::string_view check) {
  notifier_->Resolve(check.empty() ? Slot("exporter", alertname) : Slot(alertname, check));
}

}  // namespace drift::exporter
