#include "checks/types/patching.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <utility>

#include "checks/params.h"
#include "checks/steps.h"
#include "common/duration.h"
#include "common/rfc3339.h"
#include "common/strings.h"

namespace drift::checks::patching {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxOsReleaseBytes = 64 << 10;
constexpr std::size_t kMaxRebootPkgsBytes = 64 << 10;
constexpr std::string_view kAptListsDir = "/var/lib/apt/lists";
// Resolving upgrades reads every package list; seconds normally, more on a slow disk.
constexpr std::chrono::seconds kAptGetTimeout{60};
// Enough to read in a reason; the full list stays in the observation count.
constexpr std::size_t kMaxRebootPkgsShown = 10;
constexpr std::size_t kMaxShownBytes = 200;

constexpr ControlRef kControls[] = {{"hipaa", "164.308(a)(5)(ii)(B)"}};

// The runbooks that heal patching drift, per OS (docs/configuration.md). NixOS switches to the
// baseline's generation; Debian refreshes apt's lists, installs the pending upgrades and
// reboots when /run/reboot-required asks. The NixOS one is the type's default, for when the OS
// cannot be told at load.
constexpr std::string_view kNixosAction = "update_to_baseline_generation";
constexpr std::string_view kDebianAction = "apply_security_upgrades";

constexpr std::string_view kGenerationMeasure = "drift_patching_generation";
constexpr std::string_view kGenerationAgeMeasure = "drift_patching_generation_age_seconds";
constexpr std::string_view kAptListsAgeMeasure = "drift_patching_apt_lists_age_seconds";
constexpr std::string_view kPendingMeasure = "drift_patching_pending_upgrades";
constexpr std::string_view kPendingSecurityMeasure = "drift_patching_pending_security_upgrades";
constexpr MeasureSpec kMeasures[] = {
    {kGenerationMeasure, "NixOS: number of the system profile's current generation."},
    {kGenerationAgeMeasure,
     "NixOS: seconds since the system profile's current generation was created."},
    {kAptListsAgeMeasure, "Debian: seconds since the newest apt Release/InRelease list changed."},
    {kPendingMeasure, "Debian: packages apt-get upgrade would upgrade or install."},
    {kPendingSecurityMeasure,
     "Debian: packages apt-get upgrade would take from a -security suite."},
};

enum class OsChoice { kAuto, kNixos, kDebian };

struct NixosConfig {
  std::string profile;       // "/nix/var/nix/profiles/system"
  std::string profile_dir;   // "/nix/var/nix/profiles"
  std::string profile_name;  // "system"
  std::optional<std::int64_t> expected_generation;
  milliseconds max_age{};
};

struct DebianConfig {
  milliseconds apt_lists_max_age{};
  std::int64_t max_pending_upgrades = 0;
  std::string reboot_required_file;
};

// Ages are shown to the second: "3d4h5s" reads better than milliseconds nobody acts on.
std::string FormatAge(WallTime::duration age) {
  return FormatDuration(std::chrono::floor<std::chrono::seconds>(age));
}

WallTime::duration AgeSince(WallTime now, WallTime then) {
  // A timestamp slightly ahead of our clock (skew, a file touched by another host) is "just now".
  return std::max(now - then, WallTime::duration::zero());
}

double Seconds(WallTime::duration d) { return std::chrono::duration<double>(d).count(); }

NixosConfig ReadNixosConfig(const Params& params) {
  NixosConfig c;
  c.profile = "/nix/var/nix/profiles/system";
  if (std::optional<ConfigNode> node = params.Find("profile")) {
    c.profile = ReadHostPath(*node);
    if (c.profile.back() == '/') {
      node->Fail("expected the path of a profile link, e.g. /nix/var/nix/profiles/system");
    }
  }
  const std::size_t slash = c.profile.rfind('/');
  c.profile_dir = slash == 0 ? "/" : c.profile.substr(0, slash);
  c.profile_name = c.profile.substr(slash + 1);
  if (std::optional<ConfigNode> node = params.Find("expected_generation")) {
    c.expected_generation = node->AsInt(1, std::numeric_limits<std::int32_t>::max());
  }
  c.max_age = FindDuration(params, "max_age", std::chrono::days(30));
  return c;
}

DebianConfig ReadDebianConfig(const Params& params) {
  DebianConfig c;
  c.apt_lists_max_age = FindDuration(params, "apt_lists_max_age", std::chrono::days(7));
  if (std::optional<ConfigNode> node = params.Find("max_pending_upgrades")) {
    c.max_pending_upgrades = node->AsInt(0, std::numeric_limits<std::int32_t>::max());
  }
  c.reboot_required_file = "/run/reboot-required";
  if (std::optional<ConfigNode> node = params.Find("reboot_required_file")) {
    c.reboot_required_file = ReadHostPath(*node);
  }
  return c;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  return dir == "/" ? fmt::format("/{}", name) : fmt::format("{}/{}", dir, name);
}

class PatchingCheck final : public Check {
 public:
  PatchingCheck(OsChoice os, NixosConfig nixos, DebianConfig debian)
      : os_(os), nixos_(std::move(nixos)), debian_(std::move(debian)) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    Result<Os> os = ResolveOs(host.fs);
    if (!os.ok()) return CheckResult::Error(os.error().message);
    return *os == Os::kNixos ? RunNixos(host) : RunDebian(host, deadline);
  }

  std::string_view HostDefaultAction(const FileSystem& fs) const override {
    Result<Os> os = ResolveOs(fs);
    if (!os.ok()) return {};
    return *os == Os::kNixos ? kNixosAction : kDebianAction;
  }

  Result<std::vector<Observation>> Capture(const Host& host, Deadline) const override {
    Result<Os> os = ResolveOs(host.fs);
    if (!os.ok())
      return CaptureFailed(os.error(), "make /etc/os-release readable, or set params.os");
    if (*os == Os::kDebian) return std::vector<Observation>{};
    Result<std::int64_t> current = CurrentGeneration(host.fs);
    if (!current.ok()) {
      return CaptureFailed(current.error(),
                           "capture on the NixOS host itself, or correct params.profile");
    }
    return std::vector<Observation>{{"expected_generation", std::to_string(*current)}};
  }

 private:
  Result<Os> ResolveOs(const FileSystem& fs) const {
    if (os_ == OsChoice::kNixos) return Os::kNixos;
    if (os_ == OsChoice::kDebian) return Os::kDebian;
    // os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
    Result<std::string> text = fs.ReadFile("/etc/os-release", kMaxOsReleaseBytes);
    if (!text.ok()) {
      Result<std::string> fallback = fs.ReadFile("/usr/lib/os-release", kMaxOsReleaseBytes);
      if (!fallback.ok()) {
        return Err("cannot detect the OS (set params.os to nixos or debian): {}",
                   text.error().message);
      }
      text = std::move(fallback);
    }
    return DetectOs(ParseOsRelease(*text));
  }

  Result<std::int64_t> CurrentGeneration(const FileSystem& fs) const {
    Result<std::string> target = fs.ReadLink(nixos_.profile);
    if (!target.ok()) {
      return Err("cannot read the system profile link: {}", target.error().message);
    }
    Result<std::int64_t> generation = ParseGenerationLink(*target, nixos_.profile_name);
    if (!generation.ok()) return Err("{}: {}", nixos_.profile, generation.error().message);
    return generation;
  }

  CheckResult RunNixos(const Host& host) const {
    std::vector<Observation> observations{{"os", "nixos"}, {"profile", nixos_.profile}};
    Result<std::int64_t> current = CurrentGeneration(host.fs);
    if (!current.ok()) return CheckResult::Error(current.error().message);
    // The generation link is created when the generation is built and never touched again, so
    // its own mtime (lstat, not the store path it points at) is the generation's creation time.
    const std::string link =
        JoinPath(nixos_.profile_dir, fmt::format("{}-{}-link", nixos_.profile_name, *current));
    Result<FileStat> stat = host.fs.Stat(link);
    if (!stat.ok()) {
      return CheckResult::Error(
          fmt::format("cannot stat the current generation's link: {}", stat.error().message));
    }
    const WallTime::duration age = AgeSince(host.clock.Now(), stat->mtime);
    observations.push_back({"current_generation", std::to_string(*current)});
    observations.push_back({"generation_created", FormatRfc3339(stat->mtime)});
    observations.push_back({"generation_age", FormatAge(age)});
    // The newest generation only informs (a rollback shows as current < newest); not being able
    // to list the directory does not stop the check.
    Result<std::vector<std::string>> names = host.fs.ListDir(nixos_.profile_dir);
    if (names.ok()) {
      std::vector<std::int64_t> generations = ParseGenerations(*names, nixos_.profile_name);
      if (!generations.empty()) {
        observations.push_back({"newest_generation", std::to_string(generations.back())});
      }
    } else {
      observations.push_back(
          {"newest_generation", fmt::format("unknown ({})", names.error().message)});
    }
    std::vector<MeasureValue> measures{
        {kGenerationMeasure, static_cast<double>(*current)},
        {kGenerationAgeMeasure, Seconds(age)},
    };
    std::vector<Finding> findings;
    if (nixos_.expected_generation && *current != *nixos_.expected_generation) {
      findings.push_back({"generation_mismatch", fmt::format("generation {}", *current),
                          fmt::format("generation {}", *nixos_.expected_generation)});
    }
    if (age > nixos_.max_age) {
      findings.push_back({"generation_too_old", FormatAge(age),
                          fmt::format("at most {}", FormatDuration(nixos_.max_age))});
    }
    return Conclude(std::move(findings), std::move(observations), std::move(measures),
                    fmt::format("on generation {}, created {} ago", *current, FormatAge(age)));
  }

  CheckResult RunDebian(const Host& host, Deadline deadline) const {
    std::vector<Observation> observations{{"os", "debian"}};
    std::vector<MeasureValue> measures;
    std::vector<Finding> findings;

    // apt rewrites a suite's Release/InRelease file whenever `apt-get update` fetches a changed
    // one; the newest of them says when the package lists were last refreshed.
    Result<std::vector<std::string>> names = host.fs.ListDir(kAptListsDir);
    if (!names.ok()) {
      return CheckResult::Error(fmt::format("cannot list apt lists: {}", names.error().message));
    }
    std::optional<WallTime> newest;
    for (const std::string& name : *names) {
      if (!name.ends_with("_InRelease") && !name.ends_with("_Release")) continue;
      Result<FileStat> stat = host.fs.Stat(JoinPath(kAptListsDir, name));
      if (!stat.ok()) {
        return CheckResult::Error(fmt::format("cannot stat an apt list: {}", stat.error().message));
      }
      if (stat->type != FileStat::Type::kRegular) continue;
      if (!newest || stat->mtime > *newest) newest = stat->mtime;
    }
    if (!newest) return CheckResult::Error(fmt::format("no apt lists under {}", kAptListsDir));
    const WallTime::duration lists_age = AgeSince(host.clock.Now(), *newest);
    observations.push_back({"apt_lists_updated", FormatRfc3339(*newest)});
    observations.push_back({"apt_lists_age", FormatAge(lists_age)});
    measures.push_back({kAptListsAgeMeasure, Seconds(lists_age)});
    if (lists_age > debian_.apt_lists_max_age) {
      findings.push_back({"apt_lists_stale", FormatAge(lists_age),
                          fmt::format("at most {}", FormatDuration(debian_.apt_lists_max_age))});
    }

    // Pending reboot: the file update-notifier and needrestart-style hooks create.
    Result<FileStat> reboot = host.fs.Stat(debian_.reboot_required_file);
    const bool reboot_required = reboot.ok();
    if (!reboot.ok() && !IsNotFound(reboot.error())) {
      return CheckResult::Error(
          fmt::format("cannot check for a pending reboot: {}", reboot.error().message));
    }
    observations.push_back({"reboot_required", reboot_required ? "yes" : "no"});
    if (reboot_required) {
      findings.push_back({"reboot_required", RebootPackages(host.fs), "no pending reboot"});
    }

    Command command;
    command.argv = {"apt-get", "--simulate", "--quiet", "--quiet", "upgrade"};
    command.timeout = kAptGetTimeout;
    // A cut-off listing would undercount: RunChecked fails on truncated output.
    Result<CommandOutput> out =
        RunChecked(host.commands, command, deadline, {.name = "apt-get --simulate upgrade"});
    if (!out.ok()) return CheckResult::Error(out.error().message);
    Result<AptSimulation> simulation = ParseAptSimulate(out->out);
    if (!simulation.ok()) {
      return CheckResult::Error(fmt::format("unexpected output from apt-get --simulate upgrade: {}",
                                            simulation.error().message));
    }
    observations.push_back({"pending_upgrades", std::to_string(simulation->upgrades)});
    observations.push_back(
        {"pending_security_upgrades", std::to_string(simulation->security_upgrades)});
    measures.push_back({kPendingMeasure, static_cast<double>(simulation->upgrades)});
    measures.push_back(
        {kPendingSecurityMeasure, static_cast<double>(simulation->security_upgrades)});
    if (simulation->upgrades > debian_.max_pending_upgrades) {
      findings.push_back(
          {"pending_upgrades",
           fmt::format("{} ({} security)", simulation->upgrades, simulation->security_upgrades),
           fmt::format("at most {}", debian_.max_pending_upgrades)});
    }
    return Conclude(std::move(findings), std::move(observations), std::move(measures),
                    fmt::format("apt lists updated {} ago, {} pending upgrades, no reboot pending",
                                FormatAge(lists_age), simulation->upgrades));
  }

  // What the reboot_required finding shows: the packages that asked for the reboot, when the
  // companion .pkgs file lists them, else just that the flag file exists.
  std::string RebootPackages(const FileSystem& fs) const {
    const std::string pkgs_file = debian_.reboot_required_file + ".pkgs";
    Result<std::string> text = fs.ReadFile(pkgs_file, kMaxRebootPkgsBytes);
    std::vector<std::string> packages;
    if (text.ok()) {
      for (std::string_view line : SplitLines(*text)) {
        line = Trim(line);
        if (line.empty()) continue;
        if (std::find(packages.begin(), packages.end(), line) == packages.end()) {
          packages.emplace_back(line);
        }
      }
    }
    if (packages.empty()) return fmt::format("{} exists", debian_.reboot_required_file);
    std::string shown =
        fmt::format("{}", fmt::join(packages.begin(),
                                    packages.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                           packages.size(), kMaxRebootPkgsShown)),
                                    ", "));
    if (packages.size() > kMaxRebootPkgsShown) {
      shown += fmt::format(" and {} more", packages.size() - kMaxRebootPkgsShown);
    }
    return fmt::format("required by {}", OneLine(shown, kMaxShownBytes));
  }

  OsChoice os_;
  NixosConfig nixos_;
  DebianConfig debian_;
};

CheckPtr Create(const Params& params) {
  OsChoice os = OsChoice::kAuto;
  if (std::optional<ConfigNode> node = params.Find("os")) {
    const std::string value = node->AsString();
    if (value == "nixos") {
      os = OsChoice::kNixos;
    } else if (value == "debian") {
      os = OsChoice::kDebian;
    } else if (value != "auto") {
      node->Fail(fmt::format("expected one of auto, nixos, debian, got {:?}", value));
    }
  }
  // Only the chosen OS's keys are read, so the loader rejects the other OS's keys as unknown
  // instead of silently ignoring them; `auto` accepts both.
  NixosConfig nixos;
  DebianConfig debian;
  if (os != OsChoice::kDebian) nixos = ReadNixosConfig(params);
  if (os != OsChoice::kNixos) debian = ReadDebianConfig(params);
  return std::make_unique<PatchingCheck>(os, std::move(nixos), std::move(debian));
}

// One os-release value: unquoted, or in single or double quotes with backslash escapes.
std::string OsReleaseValue(std::string_view raw) {
  raw = Trim(raw);
  if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'') && raw.back() == raw.front()) {
    raw = raw.substr(1, raw.size() - 2);
  }
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
    out += raw[i];
  }
  return out;
}

}  // namespace

OsRelease ParseOsRelease(std::string_view text) {
  OsRelease out;
  for (std::string_view line : SplitLines(text)) {
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    if (key == "ID") out.id = OsReleaseValue(line.substr(eq + 1));
    if (key == "ID_LIKE") out.id_like = OsReleaseValue(line.substr(eq + 1));
  }
  return out;
}

Result<Os> DetectOs(const OsRelease& release) {
  if (release.id == "nixos") return Os::kNixos;
  if (release.id == "debian") return Os::kDebian;
  std::string_view like = release.id_like;
  while (!like.empty()) {
    const std::size_t space = like.find(' ');
    if (like.substr(0, space) == "debian") return Os::kDebian;
    if (space == std::string_view::npos) break;
    like.remove_prefix(space + 1);
  }
  if (release.id.empty()) {
    return Err("os-release has no ID; set params.os to nixos or debian");
  }
  if (release.id_like.empty()) {
    return Err("unsupported OS {:?} in os-release; patching supports NixOS and Debian-family hosts",
               release.id);
  }
  return Err(
      "unsupported OS {:?} (ID_LIKE {:?}) in os-release; patching supports NixOS and "
      "Debian-family hosts",
      release.id, release.id_like);
}

Result<std::int64_t> ParseGenerationLink(std::string_view target, std::string_view profile) {
  auto fail = [&] {
    return Err("profile link points at {:?}, expected {}-<generation>-link", target.substr(0, 200),
               profile);
  };
  std::string_view rest = target;
  if (!rest.starts_with(profile) || !rest.ends_with("-link")) return fail();
  rest.remove_prefix(profile.size());
  rest.remove_suffix(5);
  if (!rest.starts_with('-')) return fail();
  rest.remove_prefix(1);
  // Nix writes generation numbers in plain decimal; anything else is not one of its links.
  if (rest.empty() || rest.front() == '0' ||
      !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fail();
  }
  std::int64_t generation = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), generation);
  if (ec != std::errc() || end != rest.data() + rest.size()) return fail();
  return generation;
}

std::vector<std::int64_t> ParseGenerations(std::span<const std::string> names,
                                           std::string_view profile) {
  std::vector<std::int64_t> out;
  for (const std::string& name : names) {
    Result<std::int64_t> generation = ParseGenerationLink(name, profile);
    if (generation.ok()) out.push_back(*generation);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<AptSimulation> ParseAptSimulate(std::string_view text) {
  AptSimulation out;
  for (std::string_view line : SplitLines(text)) {
    line = Trim(line);
    if (line != "Inst" && !line.starts_with("Inst ")) continue;
    // "Inst <package> [<installed version>] (<candidate version> <suites> [<arch>])"; a new
    // package has no [installed version].
    std::string_view rest = Trim(line.substr(4));
    const std::size_t space = rest.find(' ');
    const std::size_t paren = rest.find('(');
    if (rest.empty() || space == std::string_view::npos || paren == std::string_view::npos ||
        paren < space) {
      return Err("expected \"Inst <package> ... (<version> <suites>)\", got {:?}",
                 line.substr(0, 200));
    }
    ++out.upgrades;
    // Only the candidate's origin counts: a package may well be named "foo-security".
    const std::string_view candidate = rest.substr(paren);
    if (candidate.find("-security") != std::string_view::npos ||
        candidate.find("Debian-Security") != std::string_view::npos) {
      ++out.security_upgrades;
    }
  }
  return out;
}

const CheckType kType{
    .name = "patching",
    .default_severity = Severity::kHigh,
    .default_controls = kControls,
    .default_action = kNixosAction,
    .measures = kMeasures,
    .create = &Create,
};

}  // namespace drift::checks::patching
