#include "exporter/cli.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "checks/steps.h"
#include "common/atomic_file.h"
#include "common/config_node.h"
#include "common/duration.h"
#include "common/hostname.h"
#include "common/log.h"
#include "common/rfc3339.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "exporter/app.h"
#include "exporter/baseline_file.h"
#include "exporter/evidence_cli.h"
#include "exporter/heal_cli.h"
#include "exporter/module.h"
#include "exporter/pages.h"
#include "exporter/version.h"
#include "exporter/web_config.h"
#include "healing/polkit.h"

namespace drift::exporter {
namespace {

struct Flags {
  std::string config_file = "/etc/drift_exporter/config.yml";
  std::string web_config_file;  // empty: plain HTTP, no authentication
  bool config_check = false;
  HttpOptions web;
  std::string external_url;  // empty: from the listen address (ExternalUrl)
  bool enable_lifecycle = false;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string check_format = "table";
  std::string baseline_out;
  std::string polkit_user = "drift-exporter";
};

constexpr int kMallocThresholdBytes = 128 << 10;

SystemClock& Wall() {
  static SystemClock clock;
  return clock;
}

// Raises the soft limit on open files to the hard one (as Go programs do), so that the web
// server's connections, not the default 1024, are what bounds them; warns when even the hard
// limit is below what max_connections needs.
void RaiseOpenFileLimit(unsigned max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
  // Checks, the state file, evidence and alerting keep well under 256 files open.
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < max_connections + 256) {
    log::Warn("the open file limit is below what --web.max-connections needs",
              {{"limit", static_cast<std::uint64_t>(limit.rlim_cur)},
               {"max_connections", max_connections}});
  }
}

int RunDaemon(const Flags& flags) {
  // A listen address that cannot be parsed is a bad flag, not a start-up failure.
  if (Result<ListenAddress> spec = ParseListenAddress(flags.web.listen_address); !spec.ok()) {
    std::cerr << "--web.listen-address: " << spec.error().message << "\n";
    return kExitUsage;
  }
  std::shared_ptr<const WebConfig> web_config;
  if (!flags.web_config_file.empty()) {
    web_config = std::make_shared<const WebConfig>(LoadWebConfig(flags.web_config_file));
  }
  Result<std::string> external_url =
      ExternalUrl(flags.external_url, flags.web.listen_address, HostName(),
                  web_config != nullptr && web_config->tls.has_value());
  if (!external_url.ok()) {
    std::cerr << external_url.error().message << "\n";
    return kExitUsage;
  }
  // Signals are taken synchronously by this thread; every other thread (the web server's included)
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Fixed malloc thresholds instead of glibc's dynamic ones. Freeing a large block (a check's
  // 1 MiB of captured output) raises glibc's mmap threshold to its size, after which such blocks
  // come from the worker threads' arenas and stay resident once freed: four flooding checks left
  // RSS at 22 MiB instead of 10 for good. With these, blocks from 128 KiB are mmapped and given
  // back when freed, and free memory above 128 KiB at the top of a heap is trimmed
  // (bench/flood_rss.sh, bench/ANALYSIS.md).
  ::mallopt(M_MMAP_THRESHOLD, kMallocThresholdBytes);
  ::mallopt(M_TRIM_THRESHOLD, kMallocThresholdBytes);

  App::Options options;
  options.config_file = flags.config_file;
  options.enable_lifecycle = flags.enable_lifecycle;
  options.external_url = *external_url;
  App app(std::move(options), Wall());
  // Bind first: a port clash must stop the daemon before it has loaded modules or opened
  // anything that writes (the evidence store). Routes answer 503 until app.Start() returns.
  RaiseOpenFileLimit(flags.web.max_connections);
  Result<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(flags.web, app.route_table(), web_config, app.web_metrics());
  if (!server.ok()) throw StartupError(server.error().message);
  app.Start();  // on a throw, `server` stops before `app` goes (reverse order of declaration)
  log::Info("listening", {{"address", flags.web.listen_address}, {"port", (*server)->port()}});
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // Queued on the reload thread: this thread must stay free for SIGTERM.
      log::Info("SIGHUP received; reloading configuration");
      (void)app.RequestReload();
      continue;
    }
    log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                {"deadline", FormatDuration(kShutdownDeadline)}});
    break;
  }
  ShutdownDeadline deadline(kShutdownDeadline);
  deadline.Stage("the reload thread");
  app.StopReloads();
  // The scheduler before the web server: a scrape waiting for an on_scrape run is released.
  deadline.Stage("running checks");
  app.scheduler().Stop();
  deadline.Stage("the web server's open requests");
  server->reset();
  deadline.Stage("the modules (flushing alerts and evidence)");
  app.Stop();
  log::Info("stopped");
  return kExitOk;
}

nlohmann::json ResultJson(const CheckState& s) {
  nlohmann::json findings = nlohmann::json::array();
  for (const checks::Finding& f : s.result.findings) {
    findings.push_back({{"cause", f.cause}, {"observed", f.observed}, {"expected", f.expected}});
  }
  nlohmann::json observations = nlohmann::json::object();
  for (const checks::Observation& o : s.result.observations) observations[o.key] = o.value;
  return {{"name", s.spec->name},
          {"type", s.spec->type->name},
          {"verdict", checks::VerdictName(s.result.verdict)},
          {"severity", s.result.verdict == checks::Verdict::kDrifted
                           ? checks::SeverityName(DriftSeverity(*s.spec, s.result))
                           : "none"},
          {"reason", s.result.reason},
          {"controls", s.spec->controls_label},
          {"recommended_action", s.spec->recommended_action},
          {"duration_seconds", s.duration_seconds},
          {"findings", findings},
          {"observations", observations}};
}

// `drift_exporter check`: every enabled check once; the raw verdict of this run (the drift
// threshold counts consecutive runs of a daemon and does not apply).
int RunChecksOnce(const Flags& flags) {
  Config config = LoadConfig(flags.config_file);
  auto plan = std::const_pointer_cast<Plan>(MakePlan(config, Wall()));
  plan->settings.mode = ScheduleMode::kOnScrape;  // no timer: only RunOnce starts runs
  std::shared_ptr<Scheduler> scheduler = Scheduler::Create(Wall());
  scheduler->SetPlan(plan);
  scheduler->Start();
  scheduler->RunOnce();
  std::shared_ptr<const Snapshot> snap = scheduler->snapshot();
  scheduler->Stop();

  bool any_error = false;
  bool any_drift = false;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& s : snap->checks) {
    any_error = any_error || s->result.verdict == checks::Verdict::kError;
    any_drift = any_drift || s->result.verdict == checks::Verdict::kDrifted;
    all.push_back(ResultJson(*s));
  }
  if (flags.check_format == "json") {
    std::cout << all.dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<24} {:<11} {:<10} {:<9} {}\n", "CHECK", "TYPE", "VERDICT",
                             "SEVERITY", "REASON");
    for (const nlohmann::json& r : all) {
      // Reasons are one line already (CheckResult); this row must not depend on it.
      std::cout << fmt::format("{:<24} {:<11} {:<10} {:<9} {}\n", r["name"].get<std::string>(),
                               r["type"].get<std::string>(), r["verdict"].get<std::string>(),
                               r["severity"].get<std::string>(),
                               OneLine(r["reason"].get<std::string>(), checks::kMaxReasonBytes));
    }
  }
  return any_error ? kExitUsage : any_drift ? kExitDrift : kExitOk;
}

// Creates `dir` and any missing parent with mode 0750 (whatever the umask), each in its parent's
// group, so that a folder made inside the exporter's own (root:drift-exporter 0750) stays
// readable by it. The group is best effort: a user not in that group keeps their own.
Status MakeDirs(const std::filesystem::path& dir) {
  std::error_code ec;
  if (dir.empty() || std::filesystem::is_directory(dir, ec)) return {};
  std::filesystem::path parent = dir.parent_path();
  if (parent != dir) {
    if (Status s = MakeDirs(parent); !s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return SysErr(fmt::format("cannot create {}", dir.string()), errno);
  }
  if (::chmod(dir.c_str(), 0750) != 0) {
    return SysErr(fmt::format("cannot set the mode of {}", dir.string()), errno);
  }
  struct stat up {};
  if (::stat((parent.empty() ? std::filesystem::path(".") : parent).c_str(), &up) == 0) {
    // Best effort (see above); chown is declared warn_unused_result, which a cast to void
    // does not silence in GCC.
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), up.st_gid) != 0) {
      log::Debug("group not changed", {{"path", dir.string()}, {"errno", errno}});
    }
  }
  return {};
}

bool IsListingKey(const checks::CheckType& type, std::string_view key,
                  std::string_view* suffix = nullptr) {
  for (const checks::ListingKey& l : type.listing_keys) {
    if (l.key == key) {
      if (suffix) *suffix = l.suffix;
      return true;
    }
  }
  return false;
}

// `baseline capture`: asks every enabled check for its pins and writes what it got, merged into
// the file at --out: a captured key replaces its value there, everything else in that file (the
// entries of checks not captured this time, other keys) stays. Listings that explain a pinned
// hash go to "<out stem>.d/<check><suffix>" beside it. Exits 1 when any check could not be
// captured, after writing the others.
int RunBaselineCapture(const Flags& flags) {
  Config config = LoadConfig(flags.config_file);
  std::shared_ptr<const checks::Host> host = MakeHost(config.host, Wall());
  const std::filesystem::path out(flags.baseline_out);
  const std::string listing_dir_name = out.stem().string() + ".d";
  const std::filesystem::path listing_dir = out.parent_path() / listing_dir_name;

  Result<std::map<std::string, BaselineEntry>> previous = ReadBaselineEntries(flags.baseline_out);
  if (!previous.ok()) {
    std::cerr << fmt::format(
        "cannot merge into the existing baseline: {}; fix it, or move it away to capture afresh\n",
        previous.error().message);
    return kExitDrift;
  }
  if (Status s = MakeDirs(out.parent_path()); !s.ok()) {
    std::cerr << s.error().message << "\n";
    return kExitDrift;
  }

  const std::string header = fmt::format(
      "# drift_exporter baseline: the pinned state of a known-good host, captured at {}\n"
      "# by `drift_exporter baseline capture --config.file={}`.\n"
      "# Review it before relying on it: whatever this host runs now becomes the baseline.\n",
      FormatRfc3339(Wall().Now()), flags.config_file);
  BaselineEntries entries;
  std::vector<std::string> failed;
  std::vector<std::string> kept;
  int captured = 0;  // enabled checks captured, with or without values to pin
  int pinned = 0;    // of which had values to pin
  for (const auto& spec_ptr : config.checks) {
    const CheckSpec& spec = *spec_ptr;
    BaselineEntry entry;
    if (auto it = previous->find(spec.name); it != previous->end()) {
      entry = std::move(it->second);
      previous->erase(it);
    }
    if (spec.enabled) {
      Result<std::vector<checks::Observation>> pins =
          spec.check->Capture(*host, std::chrono::steady_clock::now() + spec.timeout);
      if (!pins.ok()) {
        std::cerr << fmt::format(
            "{}: cannot capture: {}, or disable the check with `enabled: false`\n", spec.name,
            pins.error().message);
        failed.push_back(spec.name);
        if (!entry.empty()) kept.push_back(spec.name);
      } else {
        for (checks::Observation& pin : *pins) {
          YAML::Node value;
          std::string_view suffix;
          if (IsListingKey(*spec.type, pin.key, &suffix)) {
            // The text goes to a file; the param names it, relative to the baseline's folder.
            std::string file = fmt::format("{}/{}{}", listing_dir_name, spec.name, suffix);
            Status s = MakeDirs(listing_dir);
            if (s.ok()) s = WriteFileAtomically((out.parent_path() / file).string(), pin.value);
            if (!s.ok()) {
              std::cerr << fmt::format("{}: cannot keep the listing: {}\n", spec.name,
                                       s.error().message);
              return kExitDrift;
            }
            value = PinValue(file);
          } else {
            value = PinValue(pin.value);
          }
          SetParam(entry, pin.key, std::move(value));
        }
        ++captured;
        if (!pins->empty()) ++pinned;
      }
    }
    if (!entry.empty()) entries.emplace_back(spec.name, std::move(entry));
  }
  for (const auto& [name, entry] : *previous) {
    std::cerr << fmt::format("{}: dropped its entry from {}: the configuration has no such check\n",
                             name, flags.baseline_out);
  }
  if (Status s = WriteFileAtomically(flags.baseline_out, EmitBaseline(header, entries)); !s.ok()) {
    std::cerr << s.error().message << "\n";
    return kExitDrift;
  }
  std::cout << fmt::format("wrote {} with the pins of {} check(s)\n", flags.baseline_out, pinned);
  if (failed.empty()) return kExitOk;
  std::string kept_note;
  if (!kept.empty()) {
    kept_note = fmt::format("; {} kept the pins of the previous file", fmt::join(kept, ", "));
  }
  std::cerr << fmt::format(
      "{} of {} check(s) could not be captured ({}){}; a check without its pins reports an error "
      "until it is captured\n",
      failed.size(), captured + failed.size(), fmt::join(failed, ", "), kept_note);
  return kExitDrift;
}

// `healing polkit-rule`: the rule on stdout; steps polkit cannot cover are warnings on stderr.
int PrintPolkitRule(const Flags& flags) {
  Config config = LoadConfig(flags.config_file);
  Result<healing::PolkitRule> rule =
      healing::MakePolkitRule(config.runbooks, flags.polkit_user, flags.config_file);
  if (!rule.ok()) {
    std::cerr << fmt::format("--user: {}\n", rule.error().message);
    return kExitUsage;
  }
  for (const std::string& warning : rule->uncovered) {
    std::cerr << fmt::format("{}: warning: {}\n", flags.config_file, warning);
  }
  if (rule->allowed.empty()) {
    std::cerr << fmt::format(
        "{}: warning: no runbook step is a systemctl unit action; the rule allows nothing\n",
        flags.config_file);
  }
  std::cout << rule->text;
  return kExitOk;
}

}  // namespace

int RunCli(int argc, char** argv) {
  Flags flags;
  CLI::App cli{
      "drift_exporter: checks this host against a declared baseline and exports "
      "drift for Prometheus."};
  cli.set_version_flag("--version", fmt::format("drift_exporter {} (revision {}, {})", kVersion,
                                                kRevision, kCompiler));
  cli.fallthrough();
  // Every subcommand that reads the configuration takes --config.file itself too, so that its
  // --help lists it (fallthrough alone would accept it there without saying so).
  auto add_config_file = [&flags](CLI::App* app) {
    app->add_option("--config.file", flags.config_file, "Configuration file")
        ->capture_default_str();
  };
  add_config_file(&cli);
  cli.add_flag("--config.check", flags.config_check,
               "Validate the configuration and exit (0 valid, 2 invalid)");
  cli.add_option("--web.config.file", flags.web_config_file,
                 "Web configuration file (TLS, client certificates, basic auth) in the "
                 "exporter-toolkit format; see docs/web_config.md");
  cli.add_option("--web.listen-address", flags.web.listen_address,
                 "Address to listen on: host:port, [ipv6]:port or :port for every address")
      ->capture_default_str();
  cli.add_option("--web.max-connections", flags.web.max_connections,
                 "Open connections at most; more are closed when accepted")
      ->check(CLI::Range(2, 65536))
      ->capture_default_str();
  cli.add_option("--web.max-connections-per-peer", flags.web.max_connections_per_peer,
                 "Open connections from one IP address at most")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  cli.add_option("--web.external-url", flags.external_url,
                 "URL people reach this exporter at, for alert links (default: "
                 "http://<listen host, or host name when listening on all addresses>:<port>)");
  cli.add_flag("--web.enable-lifecycle", flags.enable_lifecycle,
               "Enable POST /-/reload (SIGHUP always reloads)");
  cli.add_option("--log.level", flags.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  cli.add_option("--log.format", flags.log_format, "logfmt or json")
      ->check(CLI::IsMember({"logfmt", "json"}))
      ->capture_default_str();

  CLI::App* check = cli.add_subcommand(
      "check",
      "Run every check once and print the results; exit 0 all compliant, 1 drift, 2 "
      "error");
  add_config_file(check);
  check->add_option("--format", flags.check_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  CLI::App* baseline = cli.add_subcommand("baseline", "Baseline files");
  baseline->require_subcommand(1);
  CLI::App* capture = baseline->add_subcommand(
      "capture",
      "Write a baseline file with this host's current pinned values (hashes, generation)");
  add_config_file(capture);
  capture->add_option("--out", flags.baseline_out, "Baseline file to write")->required();
  EvidenceCommands evidence(cli, flags.config_file);
  HealCommands heal(cli);
  CLI::App* healing_cmd = cli.add_subcommand("healing", "Healing's privileges");
  healing_cmd->require_subcommand(1);
  CLI::App* polkit = healing_cmd->add_subcommand(
      "polkit-rule",
      "Print the polkit rule that lets the exporter's user run exactly the systemctl unit "
      "actions of the configured runbooks");
  add_config_file(polkit);
  polkit->add_option("--user", flags.polkit_user, "The user the exporter runs as")
      ->capture_default_str();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  log::Configure(log::ParseLevelOr(flags.log_level, log::Level::kInfo),
                 flags.log_format == "json" ? log::Format::kJson : log::Format::kLogfmt);
  try {
    if (flags.config_check) {
      Config config = LoadConfig(flags.config_file);
      MakeHost(config.host, Wall());  // the host root must open, as the daemon will need it
      std::cout << fmt::format("{}: valid ({} checks)\n", flags.config_file, config.checks.size());
      for (const std::string& warning : ConfigWarnings(config)) {
        std::cerr << fmt::format("{}: warning: {}\n", flags.config_file, warning);
      }
      if (!flags.web_config_file.empty()) {
        WebConfig web = LoadWebConfig(flags.web_config_file);
        std::cout << fmt::format("{}: valid ({})\n", flags.web_config_file,
                                 web.tls ? "TLS" : "plain HTTP");
        for (const std::string& warning : WebConfigWarnings(web)) {
          std::cerr << fmt::format("{}: warning: {}\n", flags.web_config_file, warning);
        }
      }
      return kExitOk;
    }
    if (check->parsed()) return RunChecksOnce(flags);
    if (capture->parsed()) return RunBaselineCapture(flags);
    if (polkit->parsed()) return PrintPolkitRule(flags);
    if (evidence.parsed()) return evidence.Run();
    if (heal.parsed()) return heal.Run();
    return RunDaemon(flags);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  } catch (const StartupError& e) {
    std::cerr << e.what() << "\n";
    return kExitStartup;
  } catch (const std::exception& e) {
    // Start-up failures outside the YAML itself, e.g. a host root that cannot be opened.
    std::cerr << flags.config_file << ": " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace drift::exporter
