#include "checks/types/backup.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "checks/params.h"
#include "common/duration.h"
#include "common/rfc3339.h"

namespace drift::checks::backup {
namespace {

using std::chrono::milliseconds;

// A status file is a few hundred bytes; anything near this is not one.
constexpr std::size_t kMaxStatusBytes = 1 << 20;
// The backup host's clock and ours may disagree a little; beyond this the file (or a clock) is
// wrong, and a timestamp in the future would otherwise read as a fresh backup forever.
constexpr std::chrono::minutes kMaxFutureSkew{5};
constexpr std::string_view kExpectedShape =
    "a JSON object with RFC 3339 last_backup and last_restore_test";

constexpr ControlRef kControls[] = {{"hipaa", "164.308(a)(7)(ii)(A)"},
                                    {"hipaa", "164.310(d)(2)(iv)"}};

constexpr std::string_view kAgeMeasure = "drift_backup_age_seconds";
constexpr std::string_view kRestoreAgeMeasure = "drift_backup_restore_test_age_seconds";
constexpr MeasureSpec kMeasures[] = {
    {kAgeMeasure, "Seconds since the last backup recorded in the backup status file."},
    {kRestoreAgeMeasure, "Seconds since the last restore test recorded in the backup status file."},
};

// Ages are shown to the second: "3d4h5s" reads better than milliseconds nobody acts on.
std::string FormatAge(WallTime::duration age) {
  return FormatDuration(std::chrono::floor<std::chrono::seconds>(age));
}

// Values from the file end up in reasons and evidence: plain short text stays as it is, anything
// else is quoted with escapes and cut to one short line.
std::string Shorten(std::string_view s) {
  const bool plain = s.size() <= 64 && !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
                       return c >= 0x20 && c < 0x7f && c != '"';
                     });
  if (plain) return std::string(s);
  if (s.size() > 64) return fmt::format("{:?}...", s.substr(0, 64));
  return fmt::format("{:?}", s);
}

Result<WallTime> TimestampMember(const nlohmann::json& doc, const std::string& key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return Err("{}: missing", key);
  if (!it->is_string()) return Err("{}: expected an RFC 3339 string, got {}", key, it->type_name());
  Result<WallTime> t = ParseRfc3339(it->get_ref<const std::string&>());
  if (!t.ok()) return Err("{}: {}", key, t.error().message);
  return t;
}

class BackupCheck final : public Check {
 public:
  BackupCheck(std::string status_file, milliseconds max_age, milliseconds restore_test_max_age)
      : status_file_(std::move(status_file)),
        max_age_(max_age),
        restore_test_max_age_(restore_test_max_age) {}

  CheckResult Run(const Host& host, Deadline) const override {
    std::vector<Observation> observations{{"status_file", status_file_}};
    Result<std::string> text = host.fs.ReadFile(status_file_, kMaxStatusBytes);
    if (!text.ok()) {
      // A missing status file means no backup job has reported: drift, not a failure to check.
      if (IsNotFound(text.error())) {
        return Conclude(
            {{"status_file_missing", "missing", fmt::format("a status file at {}", status_file_)}},
            std::move(observations), {}, "");
      }
      return CheckResult::Error(
          fmt::format("cannot read the backup status file: {}", text.error().message));
    }
    Result<BackupStatus> status = ParseBackupStatus(*text);
    if (!status.ok()) {
      return Conclude(
          {{"status_file_invalid", status.error().message, std::string(kExpectedShape)}},
          std::move(observations), {}, "");
    }

    const WallTime now = host.clock.Now();
    std::vector<Finding> findings;
    std::vector<MeasureValue> measures;
    std::vector<std::string> in_future;
    std::vector<std::string> compliant_parts;
    struct Stamp {
      std::string_view key;   // member of the status file
      std::string_view what;  // for people
      WallTime at;
      milliseconds max_age;
      std::string_view cause;  // when older than max_age
      std::string_view measure;
    };
    const Stamp stamps[] = {
        {"last_backup", "last backup", status->last_backup, max_age_, "backup_too_old",
         kAgeMeasure},
        {"last_restore_test", "last restore test", status->last_restore_test, restore_test_max_age_,
         "restore_test_too_old", kRestoreAgeMeasure},
    };
    for (const Stamp& s : stamps) {
      observations.push_back({std::string(s.key), FormatRfc3339(s.at)});
      if (s.at - now > kMaxFutureSkew) {
        in_future.push_back(fmt::format("{} is {} in the future", s.key, FormatAge(s.at - now)));
        continue;
      }
      // Within the allowed skew a timestamp slightly ahead of us counts as "just now".
      const WallTime::duration age = std::max(now - s.at, WallTime::duration::zero());
      observations.push_back({fmt::format("{}_age", s.key), FormatAge(age)});
      measures.push_back({s.measure, std::chrono::duration<double>(age).count()});
      if (age > s.max_age) {
        findings.push_back({std::string(s.cause), FormatAge(age),
                            fmt::format("at most {}", FormatDuration(s.max_age))});
      }
      compliant_parts.push_back(fmt::format("{} {} ago", s.what, FormatAge(age)));
    }
    if (!in_future.empty()) {
      findings.insert(findings.begin(),
                      Finding{"status_file_invalid", fmt::format("{}", fmt::join(in_future, ", ")),
                              "timestamps no later than now"});
    }
    if (status->status) {
      observations.push_back({"status", Shorten(*status->status)});
      if (*status->status != "success") {
        findings.push_back({"last_backup_failed", Shorten(*status->status), "success"});
      }
    }
    return Conclude(std::move(findings), std::move(observations), std::move(measures),
                    fmt::format("{}", fmt::join(compliant_parts, ", ")));
  }

 private:
  std::string status_file_;
  milliseconds max_age_;
  milliseconds restore_test_max_age_;
};

CheckPtr Create(const Params& params) {
  std::string status_file = ReadHostPath(params.Child("status_file"));
  milliseconds max_age = FindDuration(params, "max_age", std::chrono::hours(24));
  milliseconds restore_test_max_age =
      FindDuration(params, "restore_test_max_age", std::chrono::days(30));
  return std::make_unique<BackupCheck>(std::move(status_file), max_age, restore_test_max_age);
}

}  // namespace

Result<BackupStatus> ParseBackupStatus(std::string_view text) {
  // No exceptions: a malformed file is a value, not a throw.
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Err("not valid JSON");
  if (!doc.is_object()) return Err("expected a JSON object, got {}", doc.type_name());
  Result<WallTime> last_backup = TimestampMember(doc, "last_backup");
  if (!last_backup.ok()) return last_backup.error();
  Result<WallTime> last_restore_test = TimestampMember(doc, "last_restore_test");
  if (!last_restore_test.ok()) return last_restore_test.error();
  BackupStatus out{*last_backup, *last_restore_test, std::nullopt};
  if (auto it = doc.find("status"); it != doc.end() && !it->is_null()) {
    if (!it->is_string()) return Err("status: expected a string, got {}", it->type_name());
    out.status = it->get<std::string>();
  }
  return out;
}

const CheckType kType{
    .name = "backup",
    .default_severity = Severity::kHigh,
    .default_controls = kControls,
    .default_action = "run_backup_job",
    .measures = kMeasures,
    .create = &Create,
};

}  // namespace drift::checks::backup
