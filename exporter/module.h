#pragma once

#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "exporter/config.h"
#include "exporter/http_server.h"
#include "exporter/pages.h"
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
// scheduler threads, OnConfigLoaded and CheckReload from the reloading thread.
class Module {
 public:
  virtual ~Module() = default;
  // The configuration section the module was created for ("alerting", "evidence").
  virtual std::string_view section() const = 0;
  // Before a reload applies `next`: the changes in it this module can only take by a restart, as
  // "<setting>: <change>" ("evidence.directory: changed", "evidence: section removed"), empty
  // when it can take all of them; an Error when `next` cannot
  // be applied at all (a signing key that does not load). The App refuses the whole reload unless
  // every module answers an empty list, so a reload is applied entirely or not at all. Changes
  // nothing.
  virtual Result<std::vector<std::string>> CheckReload(const Config& next) const = 0;
  // After the initial load and after each successful reload, before the new plan runs.
  virtual void OnConfigLoaded(const Config& config) = 0;
  // A check finished a run (or timed out): its state before and after. Must not block for long;
  // slow work (network, disk) belongs on the module's own thread.
  virtual void OnTransition(const CheckState& before, const CheckState& after) = 0;
  // Once the scheduler runs the first configuration's checks: work that needs check results may
  // start (healing's queued actions).
  virtual void OnStarted() {}
  // Before the scheduler stops: work that needs the checks ends here (healing lets a running
  // step finish and starts no verification that could no longer run).
  virtual void OnStopping() {}
  // Flushes what it can within its own deadline and stops its threads.
  virtual void Stop() = 0;
  // The HTTP routes this module serves (a webhook, an approval page), asked once after it is
  // created; each says its methods, body cap and who may call it. Paths must not clash with the
  // core's or another module's (the daemon does not start).
  virtual std::vector<Route> Routes() { return {}; }
  // What the module shows on the pages now (healing: actions awaiting approval). Thread-safe;
  // called by page requests.
  virtual std::vector<PageNote> PageNotes() const { return {}; }
};

// What a module may use from the daemon. Outlives every module.
struct ModuleContext {
  const Clock& clock;
  prometheus::Registry& registry;  // for the module's own metric families
  std::string config_file;
  // Where people reach this exporter (--web.external-url, no trailing '/'), for links such as
  // an alert's generatorURL.
  std::string external_url;
  // Where state that outlives the process goes (state_dir, else $STATE_DIRECTORY); empty when
  // there is none. Set before the modules are made.
  std::string state_dir{};
  // The checks as the scheduler runs them: the latest states, and one check run now, outside its
  // schedule, waited for until the deadline (healing's verification). Thread-safe.
  std::function<std::shared_ptr<const Snapshot>()> snapshot{};
  std::function<Result<std::shared_ptr<const CheckState>>(std::string_view check, Deadline until)>
      run_check_now{};
};

// Creates the daemon's modules from the first configuration (exporter/modules.cc: one line per
// module). Throws ConfigError when a module cannot start with it.
std::vector<std::unique_ptr<Module>> MakeModules(ModuleContext& context, const Config& config);

// What of `next` the running `modules` can only take by a restart: sections turned on that have
// no module ("alerting: section added"), then each module's own answer ("evidence.directory:
// changed"); empty when the reload can be applied. An Error when a module cannot apply `next` at
// all (Module::CheckReload).
Result<std::vector<std::string>> RestartRequiredBy(
    const std::vector<std::unique_ptr<Module>>& modules, const Config& next);

}  // namespace drift::exporter
