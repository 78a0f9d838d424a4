#include "exporter/alerting_module.h"
#include "exporter/evidence_module.h"
#include "exporter/module.h"

namespace drift::exporter {

std::vector<std::unique_ptr<Module>> MakeModules(ModuleContext& context, const Config& config) {
  std::vector<std::unique_ptr<Module>> modules;
  // One line per module, in the order they see each transition.
  if (config.evidence.enabled) modules.push_back(std::make_unique<EvidenceModule>(context, config));
  if (config.alerting.enabled) {
    modules.push_back(std::make_unique<AlertingModule>(context, config));
  }
  return modules;
}

}  // namespace drift::exporter
