#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "alerts/alert.h"
#include "alerts/config.h"
#include "alerts/delivery.h"
#include "alerts/notifier.h"
#include "checks/check.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "exporter/module.h"

namespace drift::exporter {

// The alerts the exporter sends about checks.
inline constexpr std::string_view kDriftAlert = "ComplianceDrift";
inline constexpr std::string_view kCheckFailingAlert = "ComplianceCheckFailing";

// How long shutdown may spend delivering queued alerts.
inline constexpr std::chrono::milliseconds kAlertFlushTimeout{5'000};

// How this exporter's alerts are labelled and linked: the `alerting:` settings with their
// defaults filled in.
struct AlertLabeling {
  std::string instance;  // the `instance` label
  alerts::Labels external_labels;
  std::string external_url;  // --web.external-url, no trailing '/': generatorURL's base
  alerts::RunbookTemplate runbook_url;
};

// `instance` defaults to `hostname`. Pure.
AlertLabeling MakeAlertLabeling(const alerts::AlertingConfig& config, std::string_view hostname,
                                std::string_view external_url);

// The two alerts of one check after a run: the content to fire, or nullopt to resolve.
// ComplianceDrift fires while the check is drifted (for drift_threshold runs; an error keeps the
// last verdict, as drift_check_drifted does); ComplianceCheckFailing while its latest run failed.
// Nothing fires before the first run. `evidence_record_id` (may be empty) becomes an annotation.
// Pure.
struct CheckAlerts {
  std::optional<alerts::AlertContent> drift;
  std::optional<alerts::AlertContent> failing;
  // The drift alert's startsAt: when the drift episode began (CheckState::drift_since, the
  // moment drift_check_drift_age_seconds counts from), kept across restarts by the state file.
  WallTime drift_starts_at{};
};
CheckAlerts DecideCheckAlerts(const CheckState& state, const AlertLabeling& labeling,
                              std::string_view evidence_record_id);

// Whether two states of a check give the same alerts (same spec, verdict flags, severity, reason
// and findings), so that a run which changed nothing costs nothing. Pure.
bool SameAlertInputs(const CheckState& before, const CheckState& after);

// The content of an exporter-level alert (no `check` label), e.g.
// ComplianceEvidenceStoreUnhealthy. Pure.
alerts::AlertContent ExporterAlertContent(std::string_view alertname, checks::Severity severity,
                                          std::string_view summary, std::string_view description,
                                          const AlertLabeling& labeling);

// The `alerting:` capability: turns check transitions into ComplianceDrift and
// ComplianceCheckFailing alerts sent to every configured Alertmanager, and exports the
// drift_alerts_* metrics. Created only when the first configuration enables alerting; reloads
// may change or remove the Alertmanagers and labels. Thread-safe.
class AlertingModule final : public Module {
 public:
  // Registers the metric families in context.registry. `make_poster` connects to an
  // Alertmanager (tests inject fakes).
  AlertingModule(ModuleContext& context, const Config& config,
                 alerts::Notifier::PosterFactory make_poster = alerts::MakeCurlPoster,
                 alerts::DeliveryOptions options = {});
  ~AlertingModule() override;

  std::string_view section() const override { return "alerting"; }
  // Every `alerting:` setting applies by reload, and the section may be removed (no alert is
  // sent until it is back): nothing needs a restart.
  Result<std::vector<std::string>> CheckReload(const Config& next) const override;
  void OnConfigLoaded(const Config& config) override DRIFT_EXCLUDES(mu_);
  void OnTransition(const CheckState& before, const CheckState& after) override DRIFT_EXCLUDES(mu_);
  // Flushes queued alerts for at most kAlertFlushTimeout, then stops the threads.
  void Stop() override;

  // Names the latest evidence record of a check, for the `evidence_record_id` annotation.
  // Called from scheduler threads, so it must be thread-safe and quick; an empty answer adds no
  // annotation. Unset (the default): no annotation.
  using EvidenceRecordIdProvider = std::function<std::string(std::string_view check)>;
  void SetEvidenceRecordIdProvider(EvidenceRecordIdProvider provider) DRIFT_EXCLUDES(mu_);

  // Fires (or updates) an exporter-level alert such as "ComplianceEvidenceStoreUnhealthy", and
  // resolves it; with `check`, one alert per check that carries its `check` label
  // ("ComplianceHealingFailed"). Never blocks on the network.
  void RaiseExporterAlert(std::string_view alertname, checks::Severity severity,
                          std::string_view summary, std::string_view description,
                          std::string_view check = "");
  void ResolveExporterAlert(std::string_view alertname, std::string_view check = "");

  // Slots of the firing alerts ("ComplianceDrift/<check>", "exporter/<alertname>"), for tests.
  std::vector<std::string> FiringSlots() const { return notifier_->FiringSlots(); }

 private:
  std::shared_ptr<const AlertLabeling> labeling() const DRIFT_EXCLUDES(mu_);

  std::string hostname_;
  std::string external_url_;
  std::unique_ptr<alerts::DeliveryObserver> observer_;
  std::unique_ptr<alerts::Notifier> notifier_;
  mutable Mutex mu_;
  std::shared_ptr<const AlertLabeling> labeling_ DRIFT_GUARDED_BY(mu_);
  // Bumped with each configuration: labels may have changed.
  std::uint64_t generation_ DRIFT_GUARDED_BY(mu_) = 0;
  EvidenceRecordIdProvider evidence_id_ DRIFT_GUARDED_BY(mu_);
  // What each check's alerts were last decided from, beyond its state.
  struct Decided {
    std::uint64_t generation = 0;
    std::string evidence_id;
  };
  std::unordered_map<std::string, Decided> decided_ DRIFT_GUARDED_BY(mu_);
};

}  // namespace drift::exporter
