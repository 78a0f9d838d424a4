#include "exporter/module.h"

namespace drift::exporter {

std::vector<std::unique_ptr<Module>> MakeModules(ModuleContext& context, const Config& config) {
  std::vector<std::unique_ptr<Module>> modules;
  // One line per module, in the order they see each transition.
  (void)context;
  (void)config;
  return modules;
}

}  // namespace drift::exporter
