#include "exporter/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "checks/registry.h"
#include "checks/rooted_fs.h"
#include "common/config_node.h"
#include "common/strings.h"

namespace drift::exporter {
namespace {

using std::chrono::milliseconds;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// Check names are label values and URL path segments: keep them plain.
std::string ReadCheckName(const ConfigNode& node) {
  std::string name = node.AsString();
  bool ok = !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0]));
  ok = ok && std::all_of(name.begin(), name.end(), IsNameChar);
  if (!ok) {
    node.Fail(
        fmt::format("expected a name of letters, digits, '_', '-', '.' (at most 64, "
                    "starting with a letter or digit), got {:?}",
                    name));
  }
  return name;
}

std::vector<Control> ReadControls(const std::optional<ConfigNode>& node,
                                  const checks::CheckType& type) {
  // Per framework: a configured framework replaces that framework's defaults; others stay.
  std::map<std::string, std::vector<std::string>> by_framework;
  std::vector<std::string> order;
  for (const checks::ControlRef& c : type.default_controls) {
    std::string fw(c.framework);
    if (!by_framework.contains(fw)) order.push_back(fw);
    by_framework[fw].emplace_back(c.id);
  }
  std::vector<std::pair<std::string, ConfigNode>> entries;
  if (node) entries = node->Entries();
  for (const auto& [framework, ids] : entries) {
    if (!IsLowerSnakeName(framework)) {
      ids.Fail(
          fmt::format("framework name {:?} must be lower case letters, digits and '_'", framework));
    }
    std::vector<std::string> list;
    for (const ConfigNode& id_node : ids.Items()) {
      std::string id = id_node.AsString();
      bool ok = !id.empty() && id.size() <= 64 && std::none_of(id.begin(), id.end(), [](char c) {
        return c == ',' || c == ';' || c == ':' || static_cast<unsigned char>(c) <= ' ';
      });
      if (!ok)
        id_node.Fail(
            fmt::format("expected a control id without spaces, ',', ';' or ':', got {:?}", id));
      list.push_back(id);
    }
    if (!by_framework.contains(framework)) order.push_back(framework);
    by_framework[framework] = std::move(list);
  }
  std::vector<Control> out;
  for (const std::string& fw : order) {
    for (const std::string& id : by_framework[fw]) out.push_back({fw, id});
  }
  return out;
}

std::string ControlsLabel(const std::vector<Control>& controls) {
  std::string out;
  std::string_view last;
  for (const Control& c : controls) {
    if (c.framework != last) {
      if (!out.empty()) out += ';';
      out += c.framework;
      out += ':';
      last = c.framework;
    } else {
      out += ',';
    }
    out += c.id;
  }
  return out;
}

std::string TypeNames() {
  std::string out;
  for (const checks::CheckType* t : checks::AllCheckTypes()) {
    if (!out.empty()) out += ", ";
    out += t->name;
  }
  return out;
}

HostSettings ReadHost(const std::optional<ConfigNode>& node) {
  HostSettings host;
  host.command_path = DefaultCommandPath();
  if (!node) return host;
  if (auto root = node->Find("root")) {
    host.root = root->AsPath().string();
    std::error_code ec;
    if (!std::filesystem::is_directory(host.root, ec)) {
      root->Fail(fmt::format("{:?} is not a directory the exporter can open", host.root));
    }
  }
  if (auto path = node->Find("command_path")) {
    host.command_path.clear();
    for (const ConfigNode& dir : path->Items()) host.command_path.push_back(dir.AsPath().string());
    if (host.command_path.empty()) path->Fail("expected at least one directory");
  }
  return host;
}

SchedulerSettings ReadScheduler(const std::optional<ConfigNode>& node, milliseconds* timeout) {
  SchedulerSettings s;
  if (!node) return s;
  if (auto mode = node->Find("mode")) {
    std::string m = mode->AsString();
    if (m == "interval") {
      s.mode = ScheduleMode::kInterval;
    } else if (m == "on_scrape") {
      s.mode = ScheduleMode::kOnScrape;
    } else {
      mode->Fail(fmt::format("expected interval or on_scrape, got {:?}", m));
    }
  }
  s.interval = node->GetDuration("interval", s.interval);
  s.min_interval = node->GetDuration("min_interval", s.min_interval);
  s.concurrency = static_cast<int>(node->GetInt("concurrency", s.concurrency, 1, 64));
  *timeout = node->GetDuration("timeout", *timeout);
  return s;
}

// A YAML node as JSON: mappings (keys sorted), lists, and scalars as their text, so that key
// order, quoting style and comments do not change a fingerprint. Reads every key, so it must run
// after Finish(), or it would mark unknown keys as known.
nlohmann::json CanonicalJson(const ConfigNode& node) {
  if (node.IsNull()) return nullptr;
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : node.Entries()) out[key] = CanonicalJson(value);
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const ConfigNode& item : node.Items()) out.push_back(CanonicalJson(item));
    return out;
  }
  return node.AsString();
}

}  // namespace

std::string CheckFingerprint(std::string_view type, const std::optional<ConfigNode>& params,
                             const std::optional<ConfigNode>& baseline) {
  // One mapping of params and pins (a key is never in both: Params rejects that), so that moving
  // a pin between the config and the baseline file, as `baseline capture` does, changes nothing.
  nlohmann::json merged = nlohmann::json::object();
  for (const auto* node : {&params, &baseline}) {
    if (!*node || (*node)->IsNull()) continue;
    nlohmann::json part = CanonicalJson(**node);
    if (!part.is_object()) continue;  // the check's factory has rejected it already
    merged.update(part);
  }
  nlohmann::json doc = {{"params", merged}, {"type", type}};
  return ToHex(Sha256Of(doc.dump()));
}

std::vector<std::string> DefaultCommandPath() {
  return {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"};
}

namespace {

Config ReadConfig(ConfigNode root, const std::string& path) {
  Config config;
  // The hash of the text parsed, not of a second read that could see another file.
  config.files.push_back({path, root.source_sha256()});
  config.host = ReadHost(root.Find("host"));
  milliseconds default_timeout{30'000};
  config.scheduler = ReadScheduler(root.Find("scheduler"), &default_timeout);

  // The baseline file holds per-check params captured from a known-good host.
  std::optional<ConfigNode> baseline_root;
  std::map<std::string, ConfigNode> baseline_entries;
  if (auto file = root.Find("baseline_file")) {
    std::string baseline_path = file->AsPath().string();
    config.baseline_file = baseline_path;
    // `baseline capture` is what creates the file: a host not captured yet has none, and its
    // checks load unpinned. Any other trouble with the file (a folder, no permission) is an
    // error, since the pins it holds would silently be lost.
    std::error_code ec;
    if (!std::filesystem::exists(baseline_path, ec) && !ec) {
      config.missing_baseline_file = baseline_path;
    } else {
      try {
        baseline_root = ConfigNode::Load(baseline_path);
      } catch (const ConfigError& e) {
        // Unreadable: say so where the config names it. Errors inside the baseline file keep
        // their own position.
        if (std::filesystem::is_regular_file(baseline_path)) throw;
        file->Fail(e.what());
      }
      config.files.push_back({baseline_path, baseline_root->source_sha256()});
      if (auto checks = baseline_root->Find("checks")) {
        for (auto& [name, entry] : checks->Entries()) baseline_entries.emplace(name, entry);
      }
    }
  }

  // The checked host's files, for defaults that depend on the host. Without them (a root that
  // cannot be opened, which MakeHost reports) the types' own defaults apply.
  std::unique_ptr<checks::RootedFileSystem> host_fs;
  try {
    host_fs = std::make_unique<checks::RootedFileSystem>(config.host.root);
  } catch (const std::runtime_error&) {
  }

  ConfigNode checks_node = root.Child("checks");
  // Fingerprints read every params key, so they are computed once the strict checks are done.
  struct Unfingerprinted {
    CheckSpec* spec;
    std::optional<ConfigNode> params;
    std::optional<ConfigNode> baseline;
  };
  std::vector<Unfingerprinted> fingerprints;
  std::vector<ConfigNode> items = checks_node.Items();
  if (items.empty()) checks_node.Fail("expected at least one check");
  std::map<std::string, int> first_line;
  for (const ConfigNode& item : items) {
    CheckSpec spec;
    ConfigNode name_node = item.Child("name");
    spec.name = ReadCheckName(name_node);
    if (auto [it, inserted] = first_line.emplace(spec.name, name_node.line()); !inserted) {
      name_node.Fail(fmt::format("duplicate check name; first used at line {}", it->second));
    }
    ConfigNode type_node = item.Child("type");
    std::string type_name = type_node.AsString();
    spec.type = checks::FindCheckType(type_name);
    if (spec.type == nullptr) {
      type_node.Fail(
          fmt::format("unknown check type {:?}; expected one of: {}", type_name, TypeNames()));
    }
    spec.enabled = item.GetBool("enabled", true);
    spec.severity = spec.type->default_severity;
    if (auto sev = item.Find("severity")) {
      Result<checks::Severity> parsed = checks::ParseSeverity(sev->AsString());
      if (!parsed.ok()) sev->Fail(parsed.error().message);
      spec.severity = *parsed;
      spec.severity_configured = true;
    }
    spec.controls = ReadControls(item.Find("controls"), *spec.type);
    spec.controls_label = ControlsLabel(spec.controls);
    std::optional<ConfigNode> action = item.Find("recommended_action");
    if (action) {
      spec.recommended_action = action->AsString();
      if (!IsLowerSnakeName(spec.recommended_action)) {
        action->Fail(
            fmt::format("expected a runbook name in lower case letters, digits and '_', "
                        "got {:?}",
                        spec.recommended_action));
      }
    }
    spec.drift_threshold = static_cast<int>(item.GetInt("drift_threshold", 1, 1, 1000));
    spec.timeout = item.GetDuration("timeout", default_timeout);

    std::optional<ConfigNode> baseline;
    if (auto it = baseline_entries.find(spec.name); it != baseline_entries.end()) {
      baseline = it->second;
    }
    checks::Params params(item, item.Find("params"), baseline);
    spec.check = spec.type->create(params);
    // A configured action wins; else the one for this host (patching: NixOS or Debian), else
    // the type's.
    if (!action) {
      std::string_view for_host = host_fs ? spec.check->HostDefaultAction(*host_fs) : "";
      spec.recommended_action =
          std::string(for_host.empty() ? spec.type->default_action : for_host);
    }
    // A disabled check is validated but not run, so it need not be pinned yet.
    if (spec.enabled) {
      for (std::string_view key : spec.type->pinned_keys) {
        if (!params.Find(key)) spec.unpinned_keys.push_back(key);
      }
    }
    auto shared = std::make_shared<CheckSpec>(std::move(spec));
    fingerprints.push_back({shared.get(), item.Find("params"), baseline});
    config.checks.push_back(std::move(shared));
  }

  if (baseline_root) {
    for (auto& [name, entry] : baseline_entries) {
      if (!first_line.contains(name)) {
        entry.Fail(fmt::format("no check named {:?} in {}", name, path));
      }
    }
    baseline_root->Finish();
  }
  if (auto n = root.Find("alerting")) config.alerting = alerts::ReadAlertingConfig(*n);
  if (auto n = root.Find("evidence")) config.evidence = evidence::ReadEvidenceConfig(*n);
  if (auto n = root.Find("state_dir")) config.state_dir = n->AsPath().string();
  if (auto n = root.Find("healing")) {
    config.healing = healing::ReadHealingConfig(*n);
    if (!config.evidence.enabled) {
      n->Fail(
          "healing needs the evidence: section; every request, decision and step is "
          "recorded as signed evidence");
    }
  }
  if (auto n = root.Find("runbooks")) config.runbooks = healing::ReadRunbooks(*n, config.healing);
  root.Finish();
  for (const Unfingerprinted& f : fingerprints) {
    f.spec->fingerprint = CheckFingerprint(f.spec->type->name, f.params, f.baseline);
  }
  return config;
}

}  // namespace

Config LoadConfig(const std::string& path) { return ReadConfig(ConfigNode::Load(path), path); }

Config ParseConfig(std::string_view text, const std::string& path) {
  return ReadConfig(ConfigNode::Parse(text, path), path);
}

std::vector<std::string> ConfigWarnings(const Config& config) {
  std::vector<std::string> out;
  if (!config.missing_baseline_file.empty()) {
    out.push_back(fmt::format("baseline file {} does not exist yet", config.missing_baseline_file));
  }
  for (const auto& spec : config.checks) {
    if (spec->unpinned_keys.empty()) continue;
    out.push_back(
        fmt::format("check {} is not pinned ({}): it reports an error until a baseline "
                    "capture pins it",
                    spec->name, fmt::join(spec->unpinned_keys, ", ")));
  }
  if (!out.empty()) {
    // Root can read everything a check pins (nft lists the ruleset only with CAP_NET_ADMIN); the
    // exporter's own user can pin the others, where it may write the baseline file.
    out.push_back(fmt::format(
        "to pin: `{}` as root (or as the exporter's user when no firewall check needs pinning), "
        "review the file, then reload",
        CaptureCommand(config)));
  }
  return out;
}

std::string CaptureCommand(const Config& config) {
  return fmt::format("drift_exporter baseline capture --config.file={} --out={}",
                     config.files.empty() ? "<file>" : config.files.front().path,
                     config.baseline_file.empty() ? "<file>" : config.baseline_file);
}

}  // namespace drift::exporter
