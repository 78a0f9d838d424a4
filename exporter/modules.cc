#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "exporter/alerting_module.h"
#include "exporter/evidence_module.h"
#include "exporter/healing_module.h"
#include "exporter/module.h"

namespace drift::exporter {
namespace {

constexpr std::string_view kEvidenceAlert = "ComplianceEvidenceStoreUnhealthy";

// With both capabilities on: an evidence store that cannot be written raises an alert (the
// same name and severity as the Prometheus rule on drift_evidence_store_healthy), and drift
// alerts name the evidence record of the transition they are about.
void ConnectEvidenceToAlerts(EvidenceModule& evidence, AlertingModule& alerting) {
  alerting.SetEvidenceRecordIdProvider(
      [&evidence](std::string_view check) { return evidence.LatestRecordId(check); });
  evidence.SetHealthCallback([&alerting](bool healthy, const std::string& reason) {
    if (healthy) {
      alerting.ResolveExporterAlert(kEvidenceAlert);
      return;
    }
    alerting.RaiseExporterAlert(
        kEvidenceAlert, checks::Severity::kCritical, "Evidence store unhealthy",
        "drift_exporter cannot write signed evidence; records wait in its queue until the store "
        "is repaired: " +
            reason);
  });
}

}  // namespace

std::vector<std::unique_ptr<Module>> MakeModules(ModuleContext& context, const Config& config) {
  std::vector<std::unique_ptr<Module>> modules;
  // Modules see each transition, and stop, in this order: healing (whose last records need the
  // evidence writer), then evidence, so that a transition's record is queued before its alert
  // asks for the record id, and the evidence writer has stopped calling back before the
  // alerting module stops.
  std::unique_ptr<EvidenceModule> evidence;
  std::unique_ptr<AlertingModule> alerting;
  if (config.evidence.enabled) evidence = std::make_unique<EvidenceModule>(context, config);
  if (config.alerting.enabled) alerting = std::make_unique<AlertingModule>(context, config);
  if (evidence && alerting) ConnectEvidenceToAlerts(*evidence, *alerting);
  // Healing records through the evidence module (config.cc: healing needs evidence) and
  // escalates through the alert source when there is one. It stops first: its runbook's last
  // records go to an evidence writer that still runs.
  if (config.healing.enabled && evidence) {
    HealingModule::Connections c;
    EvidenceModule* ev = evidence.get();
    c.append_evidence = [ev](evidence::Record record) -> Status {
      Result<evidence::Published> p = ev->Append(std::move(record));
      if (!p.ok()) return p.error();
      return {};
    };
    c.evidence_ready = [ev]() -> Status {
      if (!ev->healthy())
        return Err("the evidence store is unhealthy (drift_evidence_store_healthy 0)");
      return {};
    };
    if (AlertingModule* al = alerting.get()) {
      c.alert = [al](std::string_view alertname, std::string_view check, bool firing,
                     std::string_view summary, std::string_view description) {
        if (!firing) return al->ResolveExporterAlert(alertname, check);
        al->RaiseExporterAlert(alertname, checks::Severity::kHigh, summary, description, check);
      };
    }
    modules.push_back(std::make_unique<HealingModule>(context, config, std::move(c)));
  }
  if (evidence) modules.push_back(std::move(evidence));
  if (alerting) modules.push_back(std::move(alerting));
  return modules;
}

Result<std::vector<std::string>> RestartRequiredBy(
    const std::vector<std::unique_ptr<Module>>& modules, const Config& next) {
  std::vector<std::string> restart;
  // A module exists only when the first configuration enabled its section (MakeModules): one
  // turned on later would need its threads, metrics and connections to the other modules made
  // while checks run. A module that exists takes its section being turned off if it can.
  for (auto [section, enabled] :
       {std::pair<std::string_view, bool>{"evidence", next.evidence.enabled},
        {"alerting", next.alerting.enabled},
        {"healing", next.healing.enabled}}) {
    // (Clang 14 cannot capture a structured binding: capture a copy of the name.)
    bool running = std::any_of(modules.begin(), modules.end(),
                               [name = section](const auto& m) { return m->section() == name; });
    if (enabled && !running) restart.push_back(fmt::format("{}: section added", section));
  }
  for (const auto& m : modules) {
    Result<std::vector<std::string>> own = m->CheckReload(next);
    if (!own.ok()) return own.error();
    restart.insert(restart.end(), own->begin(), own->end());
  }
  return restart;
}

}  // namespace drift::exporter
