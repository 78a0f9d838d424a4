#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "exporter/config.h"
#include "exporter/state.h"

namespace drift::exporter {

// A valid configuration that this process cannot start with, for a reason outside the file
// (the evidence store has another writer, a directory is not writable). Thrown at start-up
// only; the daemon exits with kExitStartup (exporter/cli.h) without having changed anything.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A capability the daemon runs beside the checks (alerting, evidence). The App creates modules
// once at start-up, tells them every configuration (re)load and every check state change, and
// stops them at shutdown. Implementations must be thread-safe: OnTransition is called from
// scheduler threads, OnConfigLoaded from the reloading thread.
class Module {
 public:
  virtual ~Module() = default;
  // After the initial load and after each successful reload, before the new plan runs.
  virtual void OnConfigLoaded(const Config& config) = 0;
  // A check finished a run (or timed out): its state before and after. Must not block for long;
  // slow work (network, disk) belongs on the module's own thread.
  virtual void OnTransition(const CheckState& before, const CheckState& after) = 0;
  // Flushes what it can within its own deadline and stops its threads.
  virtual void Stop() = 0;
};

// What a module may use from the daemon. Outlives every module.
struct ModuleContext {
  const Clock& clock;
  prometheus::Registry& registry;  // for the module's own metric families
  std::string config_file;
};

// Creates the daemon's modules from the first configuration (exporter/modules.cc: one line per
// module). Throws ConfigError when a module cannot start with it.
std::vector<std::unique_ptr<Module>> MakeModules(ModuleContext& context, const Config& config);

}  // namespace drift::exporter
