#include "checks/types/file.h"

#include <fmt/format.h>

#include <cerrno>
#include <optional>
#include <string>

#include "checks/params.h"
#include "checks/steps.h"

namespace drift::checks::file {
namespace {

constexpr ControlRef kControls[] = {{"hipaa", "164.312(c)(1)"}, {"pci_dss", "11.5.2"}};
constexpr std::string_view kPinned[] = {"sha256"};

class FileCheck final : public Check {
 public:
  FileCheck(std::string path, std::optional<Sha256Digest> sha256, std::optional<mode_t> mode,
            std::optional<uid_t> owner_uid, bool follow_symlinks)
      : path_(std::move(path)),
        sha256_(sha256),
        mode_(mode),
        owner_uid_(owner_uid),
        follow_symlinks_(follow_symlinks) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    if (!sha256_) return CheckResult::Error(NotPinnedReason("sha256"));
    Result<FileStat> stat = host.fs.Stat(path_);
    if (!stat.ok()) {
      // A pinned file that is gone has drifted; any other failure means we could not look.
      if (IsNotFound(stat.error())) {
        return Conclude({{"file_missing", "no such file", "present", Severity::kNone}}, {}, {}, "");
      }
      return CheckResult::Error(stat.error().message);
    }
    std::vector<Finding> findings;
    std::vector<Observation> observations;
    if (stat->type == FileStat::Type::kSymlink && !follow_symlinks_) {
      findings.push_back({"is_symlink", "a symlink", "a regular file", Severity::kNone});
      return Conclude(std::move(findings), std::move(observations), {}, "");
    }
    Result<Sha256Digest> hash = host.fs.HashFile(path_, !follow_symlinks_, deadline);
    if (!hash.ok()) return CheckResult::Error(hash.error().message);
    observations.push_back({"sha256", ToHex(*hash)});
    observations.push_back({"mode", fmt::format("{:04o}", stat->mode)});
    observations.push_back({"owner_uid", std::to_string(stat->uid)});
    if (*hash != *sha256_) {
      findings.push_back({"content_changed", ToHex(*hash), ToHex(*sha256_), Severity::kNone});
    }
    if (mode_ && stat->mode != *mode_) {
      findings.push_back({"mode_changed", fmt::format("{:04o}", stat->mode),
                          fmt::format("{:04o}", *mode_), Severity::kNone});
    }
    if (owner_uid_ && stat->uid != *owner_uid_) {
      findings.push_back({"owner_changed", std::to_string(stat->uid), std::to_string(*owner_uid_),
                          Severity::kNone});
    }
    return Conclude(std::move(findings), std::move(observations), {},
                    fmt::format("{} matches its baseline", path_));
  }

  Result<std::vector<Observation>> Capture(const Host& host, Deadline deadline) const override {
    Result<Sha256Digest> hash = host.fs.HashFile(path_, !follow_symlinks_, deadline);
    if (!hash.ok()) {
      return CaptureFailed(
          hash.error(),
          FileCaptureRemedy(hash.error().sys_errno, "create the file, or correct params.path"));
    }
    return std::vector<Observation>{{"sha256", ToHex(*hash)}};
  }

 private:
  std::string path_;
  std::optional<Sha256Digest> sha256_;
  std::optional<mode_t> mode_;
  std::optional<uid_t> owner_uid_;
  bool follow_symlinks_;
};

CheckPtr Create(const Params& params) {
  std::string path = ReadHostPath(params.Child("path"));
  std::optional<Sha256Digest> sha256 = FindPinnedSha256(params, "sha256");
  std::optional<mode_t> mode;
  if (auto n = params.Find("mode")) {
    // Octal as a string ("0640"): a bare YAML 0640 would be read as decimal 640 by some tools.
    std::string text = n->AsString();
    unsigned value = 0;
    bool ok = text.size() >= 3 && text.size() <= 4 &&
              text.find_first_not_of("01234567") == std::string::npos;
    if (ok) value = static_cast<unsigned>(std::stoul(text, nullptr, 8));
    if (!ok || value > 07777)
      n->Fail(fmt::format("expected an octal mode like \"0644\", got {:?}", text));
    mode = static_cast<mode_t>(value);
  }
  std::optional<uid_t> owner;
  if (auto n = params.Find("owner_uid")) owner = static_cast<uid_t>(n->AsInt(0, 4294967294));
  bool follow = false;
  if (auto n = params.Find("follow_symlinks")) follow = n->AsBool();
  return std::make_unique<FileCheck>(std::move(path), sha256, mode, owner, follow);
}

}  // namespace

const CheckType kType{"file", Severity::kHigh, kControls, "restore_file_baseline",
                      {},     &Create,         kPinned};

}  // namespace drift::checks::file
