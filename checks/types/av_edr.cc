#include "checks/types/av_edr.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "checks/params.h"
#include "checks/steps.h"

namespace drift::checks::av_edr {
namespace {

class AvEdrCheck final : public Check {
 public:
  AvEdrCheck(std::string service, std::string binary, std::optional<Sha256Digest> binary_sha256,
             bool follow_symlinks)
      : service_(std::move(service)),
        binary_(std::move(binary)),
        binary_sha256_(binary_sha256),
        follow_symlinks_(follow_symlinks) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    if (!binary_sha256_) return CheckResult::Error(NotPinnedReason("binary_sha256"));
    std::vector<Finding> findings;
    std::vector<Observation> observations;
    if (Status s = CheckServiceActive(host, service_, deadline, ServiceRecord::kSoleService,
                                      Severity::kHigh, observations, findings);
        !s.ok()) {
      return CheckResult::Error(s.error().message);
    }

    Result<Sha256Digest> hash = Hash(host, deadline);
    if (!hash.ok()) {
      return ConcludeIncomplete(std::move(findings), std::move(observations), "binary_sha256",
                                hash.error().message);
    }
    std::string current = ToHex(*hash);
    observations.push_back({"binary_sha256", current});
    if (*hash != *binary_sha256_) {
      findings.push_back(
          {"binary_hash_mismatch", current, ToHex(*binary_sha256_), Severity::kCritical});
    }
    return Conclude(
        std::move(findings), std::move(observations), {},
        fmt::format("{} is active and {} matches its baseline SHA-256", service_, binary_));
  }

  Result<std::vector<Observation>> Capture(const Host& host, Deadline deadline) const override {
    Result<Sha256Digest> hash = Hash(host, deadline);
    if (!hash.ok()) {
      return CaptureFailed(
          hash.error(),
          FileCaptureRemedy(hash.error().sys_errno, "install the agent, or correct params.binary"));
    }
    return std::vector<Observation>{{"binary_sha256", ToHex(*hash)}};
  }

 private:
  Result<Sha256Digest> Hash(const Host& host, Deadline deadline) const {
    // Without follow_symlinks a symlink at the binary's path is an error rather than followed,
    // so replacing the binary with a link to another file cannot pass.
    Result<Sha256Digest> hash = host.fs.HashFile(binary_, !follow_symlinks_, deadline);
    if (!hash.ok() && IsNotFound(hash.error())) {
      return Error{fmt::format("the agent binary {} is not installed (no such file; is `binary` "
                               "the agent's path?)",
                               binary_),
                   ENOENT};
    }
    if (!hash.ok()) {
      return Error{fmt::format("cannot hash the agent binary: {}", hash.error().message),
                   hash.error().sys_errno};
    }
    return hash;
  }

  std::string service_;
  std::string binary_;
  std::optional<Sha256Digest> binary_sha256_;  // nullopt only while capturing the baseline
  bool follow_symlinks_;
};

CheckPtr Create(const Params& params) {
  std::string service = ReadUnitName(params.Child("service"));
  std::string binary = ReadHostPath(params.Child("binary"));
  std::optional<Sha256Digest> binary_sha256 = FindPinnedSha256(params, "binary_sha256");
  std::optional<ConfigNode> follow = params.Find("follow_symlinks");
  bool follow_symlinks = follow ? follow->AsBool() : false;
  return std::make_unique<AvEdrCheck>(std::move(service), std::move(binary), binary_sha256,
                                      follow_symlinks);
}

constexpr std::array<std::string_view, 1> kPinnedKeys{"binary_sha256"};

constexpr std::array<ControlRef, 2> kControls{{
    {"hipaa", "164.308(a)(5)(ii)(B)"},
    {"hipaa", "164.312(b)"},
}};

}  // namespace

const CheckType kType{
    .name = "av_edr",
    .default_severity = Severity::kHigh,
    .default_controls = kControls,
    .default_action = "restart_av_service",
    .measures = {},
    .create = &Create,
    .pinned_keys = kPinnedKeys,
};

}  // namespace drift::checks::av_edr
