#include "checks/types/encryption.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "checks/steps.h"
#include "common/strings.h"

namespace drift::checks::encryption {
namespace {

constexpr std::string_view kSysBlock = "/sys/block";
// sysfs attributes are a line each; a larger file is not the attribute we expect.
constexpr std::size_t kMaxAttributeBytes = 4096;
constexpr std::chrono::seconds kCryptsetupTimeout{10};
constexpr std::string_view kName = "cryptsetup status";

constexpr ControlRef kControls[] = {{"hipaa", "164.312(a)(2)(iv)"}, {"hipaa", "164.312(e)(2)(ii)"}};

struct DmDevice {
  std::string dm;  // "dm-0"
  std::string uuid;
};

// What sysfs says about the device-mapper devices, by dm name; `error` says why it could not be
// read (then the map is empty and every volume falls back to cryptsetup).
struct SysfsView {
  std::map<std::string, DmDevice> by_name;
  std::string error;
};

SysfsView ReadSysfs(const FileSystem& fs) {
  SysfsView view;
  Result<std::vector<std::string>> entries = fs.ListDir(kSysBlock);
  if (!entries.ok()) {
    view.error = entries.error().message;
    return view;
  }
  for (const std::string& entry : *entries) {
    if (!entry.starts_with("dm-")) continue;
    Result<std::string> name =
        fs.ReadFile(fmt::format("{}/{}/dm/name", kSysBlock, entry), kMaxAttributeBytes);
    Result<std::string> uuid =
        fs.ReadFile(fmt::format("{}/{}/dm/uuid", kSysBlock, entry), kMaxAttributeBytes);
    // A device removed while we look has no attributes any more; it is simply not listed.
    if (!name.ok() || !uuid.ok()) continue;
    view.by_name.emplace(std::string(Trim(*name)), DmDevice{entry, std::string(Trim(*uuid))});
  }
  return view;
}

// Whether cryptsetup's stderr reads as a lack of privilege: without root it cannot open
// device-mapper's control node.
bool NeedsRoot(std::string_view err) {
  return err.find("Cannot initialize device-mapper") != std::string_view::npos ||
         err.find("Permission denied") != std::string_view::npos ||
         err.find("Operation not permitted") != std::string_view::npos;
}

bool IsLuks(std::string_view type) { return type.starts_with("LUKS"); }

// How one required volume turned out: exactly one of luks_type, finding and error is set.
struct Outcome {
  std::string observation;  // e.g. "LUKS2 (dm-0)"
  std::string luks_type;
  std::optional<Finding> finding;
  std::string error;
};

Finding NotLuks(const std::string& name, std::string observed) {
  return {"volume_not_luks", fmt::format("{}: {}", name, observed),
          fmt::format("{}: active LUKS volume", name)};
}

Outcome FromSysfs(const std::string& name, const DmDevice& device) {
  const std::string type = VolumeTypeFromDmUuid(device.uuid);
  Outcome o;
  o.observation = fmt::format("{} ({})", type, device.dm);
  if (IsLuks(type)) {
    o.luks_type = type;
  } else {
    o.finding = NotLuks(name, o.observation);
  }
  return o;
}

// The fallback for a volume sysfs does not list: cryptsetup asks device-mapper directly, which
// needs root, so a failure here is usually a privilege problem and is reported as an error.
Outcome FromCryptsetup(const Host& host, Deadline deadline, const std::string& name,
                       const SysfsView& sysfs) {
  Outcome o;
  const std::string why_asked =
      sysfs.error.empty() ? fmt::format("{}: not listed in {}/dm-*/dm/name", name, kSysBlock)
                          : fmt::format("{}: sysfs unreadable ({})", name, sysfs.error);
  Command command;
  // "--" so that a name can never be read as an option, whatever the validation allowed.
  command.argv = {"cryptsetup", "status", "--", name};
  command.timeout = kCryptsetupTimeout;
  // cryptsetup exits 4 for an inactive device; the message is what tells it from other failures.
  Result<CommandOutput> out = RunChecked(host.commands, command, deadline,
                                         {.name = std::string(kName), .any_exit_status = true});
  if (!out.ok()) {
    o.error = fmt::format("{}, and {}", why_asked, out.error().message);
    return o;
  }
  Result<CryptsetupStatus> status = ParseCryptsetupStatus(out->out);
  if (status.ok() && !status->active) {
    o.observation = "not active (cryptsetup)";
    o.finding = Finding{"volume_missing", fmt::format("{}: not active", name),
                        fmt::format("{}: active LUKS volume", name)};
    return o;
  }
  if (out->exit_code != 0) {
    o.error = fmt::format("{}, and {}", why_asked, ExitStatusReason(kName, *out));
    if (NeedsRoot(out->err)) o.error += " (cryptsetup needs root to query device-mapper)";
    return o;
  }
  if (!status.ok()) {
    o.error = fmt::format("{}, and {} printed unexpected output: {}", why_asked, kName,
                          status.error().message);
    return o;
  }
  o.observation = fmt::format("{} (cryptsetup)", status->type);
  if (IsLuks(status->type)) {
    o.luks_type = status->type;
  } else {
    o.finding = NotLuks(name, o.observation);
  }
  return o;
}

class EncryptionCheck final : public Check {
 public:
  explicit EncryptionCheck(std::vector<std::string> volumes) : volumes_(std::move(volumes)) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    const SysfsView sysfs = ReadSysfs(host.fs);
    std::vector<Observation> observations;
    if (!sysfs.error.empty()) observations.push_back({"sysfs", sysfs.error});
    std::vector<Finding> findings;
    std::vector<std::string> errors;
    std::vector<std::string> luks;
    for (const std::string& name : volumes_) {
      auto it = sysfs.by_name.find(name);
      Outcome o = it != sysfs.by_name.end() ? FromSysfs(name, it->second)
                                            : FromCryptsetup(host, deadline, name, sysfs);
      if (!o.observation.empty()) {
        observations.push_back({fmt::format("volume {}", name), o.observation});
      }
      if (!o.error.empty()) errors.push_back(std::move(o.error));
      if (o.finding) findings.push_back(std::move(*o.finding));
      if (!o.luks_type.empty()) luks.push_back(fmt::format("{} ({})", name, o.luks_type));
    }
    // One undetermined volume makes the whole answer undetermined: never report "compliant" or
    // a partial drift picture as if every volume had been seen.
    if (!errors.empty()) {
      CheckResult r = CheckResult::Error(fmt::format("{}", fmt::join(errors, "; ")));
      r.observations = std::move(observations);
      return r;
    }
    return Conclude(std::move(findings), std::move(observations), {},
                    fmt::format("required volumes are LUKS: {}", fmt::join(luks, ", ")));
  }

 private:
  std::vector<std::string> volumes_;
};

CheckPtr Create(const Params& params) {
  const ConfigNode list = params.Child("volumes");
  const std::vector<ConfigNode> items = list.Items();
  if (items.empty()) list.Fail("expected a non-empty list of device-mapper names");
  std::vector<std::string> volumes;
  std::set<std::string> seen;
  for (const ConfigNode& item : items) {
    std::string name = item.AsString();
    if (!IsValidVolumeName(name)) {
      item.Fail(fmt::format(
          "expected a device-mapper name as in /dev/mapper/<name> (1 to 127 of A-Z a-z 0-9 _ . "
          "+ -, not starting with -), got {:?}",
          name));
    }
    if (!seen.insert(name).second) item.Fail(fmt::format("duplicate volume {:?}", name));
    volumes.push_back(std::move(name));
  }
  return std::make_unique<EncryptionCheck>(std::move(volumes));
}

}  // namespace

bool IsValidVolumeName(std::string_view name) {
  if (name.empty() || name.size() > 127 || name.front() == '-' || name == "." || name == "..") {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '+' || c == '-';
  });
}

std::string VolumeTypeFromDmUuid(std::string_view uuid) {
  if (uuid.empty()) return "none";
  // dm-crypt uuids are "CRYPT-<TYPE>-...", LVM's "LVM-<vg uuid><lv uuid>", multipath "mpath-...".
  std::string_view rest = uuid;
  if (rest.starts_with("CRYPT-") && rest.size() > 6) {
    rest.remove_prefix(6);
  }
  return std::string(rest.substr(0, rest.find('-')));
}

Result<CryptsetupStatus> ParseCryptsetupStatus(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::string_view line : SplitLines(text)) {
    line = Trim(line);
    if (!line.empty()) lines.push_back(line);
  }
  if (lines.empty()) return Err("empty output");
  // The first line is "<dir>/<name> is inactive." or "<dir>/<name> is active[ and is in use]."
  const std::string_view first = lines.front();
  if (first.ends_with(" is inactive.")) return CryptsetupStatus{false, ""};
  if (!first.ends_with(" is active.") && !first.ends_with(" is active and is in use.")) {
    return Err("expected \"<device> is active.\" or \"<device> is inactive.\", got {:?}",
               first.substr(0, 120));
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].starts_with("type:")) continue;
    std::string_view type = Trim(lines[i].substr(5));
    if (type.empty()) return Err("empty type line");
    return CryptsetupStatus{true, std::string(type)};
  }
  return Err("no \"type:\" line for an active device");
}

const CheckType kType{
    .name = "encryption",
    .default_severity = Severity::kCritical,
    .default_controls = kControls,
    .default_action = "enable_volume_encryption",
    .measures = {},
    .create = &Create,
};

}  // namespace drift::checks::encryption
