#include "checks/types/logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "checks/params.h"
#include "checks/steps.h"
#include "common/duration.h"

namespace drift::checks::logging {
namespace {

constexpr std::string_view kCanaryPrefix = "drift_exporter canary check=";
constexpr std::string_view kNonceKey = " nonce=";
constexpr std::size_t kInstanceDigits = 8;
constexpr std::size_t kNonceDigits = 16;
// journald may not have indexed the line just written when it is read back: re-read a few times.
constexpr int kRereads = 3;
constexpr std::chrono::milliseconds kRereadDelay{250};
constexpr std::size_t kMaxIdentifierLength = 64;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// `digits` random lower-case hex digits. Thread-safe: checks run concurrently and factories may
// run on a reload thread.
std::string RandomHex(std::size_t digits) {
  static std::mutex mu;
  static std::mt19937_64 engine{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  std::string out;
  std::lock_guard lock(mu);
  while (out.size() < digits) {
    std::uint64_t v = engine();
    out += fmt::format("{:016x}", v);
  }
  out.resize(digits);
  return out;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdentifierLength) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class LoggingCheck final : public Check {
 public:
  LoggingCheck(std::vector<std::string> services, std::chrono::milliseconds window,
               std::string identifier)
      : services_(std::move(services)),
        window_(window),
        identifier_(std::move(identifier)),
        instance_(RandomHex(kInstanceDigits)) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    std::vector<Finding> findings;
    std::vector<Observation> observations;
    for (const std::string& service : services_) {
      if (Status s = CheckServiceActive(host, service, deadline, ServiceRecord::kByUnit,
                                        Severity::kNone, observations, findings);
          !s.ok()) {
        return ConcludeIncomplete(std::move(findings), std::move(observations), service,
                                  s.error().message);
      }
    }

    const std::string window = FormatDuration(window_);
    const std::string nonce = RandomHex(kNonceDigits);
    observations.push_back({"canary_written", FormatCanaryLine(instance_, nonce)});
    Status written = host.journal.Write(identifier_, FormatCanaryLine(instance_, nonce), deadline);
    if (!written.ok()) {
      // Reading back would only add canary_missing: the failed write already says it.
      findings.push_back(
          {"canary_write_failed", written.error().message, "the canary written to the journal"});
      return Conclude(std::move(findings), std::move(observations), {}, "");
    }

    const WallTime since = host.clock.Now() - window_;
    std::size_t seen = 0;
    for (int attempt = 0;; ++attempt) {
      Result<std::vector<std::string>> lines = host.journal.ReadSince(identifier_, since, deadline);
      if (!lines.ok()) {
        return ConcludeIncomplete(
            std::move(findings), std::move(observations), "canary_seen",
            fmt::format("cannot read the journal: {}", lines.error().message));
      }
      seen = CountOwnCanaries(*lines);
      if (seen > 0 || attempt == kRereads) break;
      const Deadline next = host.monotonic.Now() + kRereadDelay;
      if (next > deadline) break;
      SleepUntil(host.monotonic, next);
    }
    observations.push_back(
        {"canary_seen", fmt::format("{} canary line(s) in the last {}", seen, window)});
    if (seen == 0) {
      findings.push_back({"canary_missing", fmt::format("no canary line in the last {}", window),
                          "the canary written by this exporter"});
    }
    return Conclude(std::move(findings), std::move(observations), {},
                    fmt::format("{} active; the journal recorded a canary in the last {}",
                                fmt::join(services_, ", "), window));
  }

 private:
  // Canary lines of this check instance: other checks' canaries, and those of an earlier
  // configuration, prove nothing about the services this one watches now.
  std::size_t CountOwnCanaries(const std::vector<std::string>& lines) const {
    std::size_t n = 0;
    for (const std::string& line : lines) {
      std::optional<CanaryLine> canary = ParseCanaryLine(line);
      if (canary && canary->instance == instance_) ++n;
    }
    return n;
  }

  std::vector<std::string> services_;
  std::chrono::milliseconds window_;
  std::string identifier_;
  std::string instance_;
};

CheckPtr Create(const Params& params) {
  std::optional<ConfigNode> services_node = params.Find("services");
  std::vector<std::string> services = services_node
                                          ? ReadUnitNames(*services_node)
                                          : std::vector<std::string>{"systemd-journald.service"};
  std::optional<ConfigNode> window_node = params.Find("window");
  std::chrono::milliseconds window =
      window_node ? window_node->AsDuration() : std::chrono::milliseconds(std::chrono::hours(1));
  std::string identifier = "drift_exporter";
  if (std::optional<ConfigNode> node = params.Find("identifier")) {
    identifier = node->AsString();
    if (!IsIdentifier(identifier)) {
      node->Fail("expected a syslog identifier of 1 to 64 characters from A-Z a-z 0-9 _ . -");
    }
  }
  return std::make_unique<LoggingCheck>(std::move(services), window, std::move(identifier));
}

constexpr std::array<ControlRef, 2> kControls{{
    {"hipaa", "164.312(b)"},
    {"hipaa", "164.308(a)(1)(ii)(D)"},
}};

}  // namespace

std::string FormatCanaryLine(std::string_view instance, std::string_view nonce) {
  return fmt::format("{}{}{}{}", kCanaryPrefix, instance, kNonceKey, nonce);
}

std::optional<CanaryLine> ParseCanaryLine(std::string_view line) {
  if (!line.starts_with(kCanaryPrefix)) return std::nullopt;
  line.remove_prefix(kCanaryPrefix.size());
  if (line.size() != kInstanceDigits + kNonceKey.size() + kNonceDigits) return std::nullopt;
  std::string_view instance = line.substr(0, kInstanceDigits);
  std::string_view key = line.substr(kInstanceDigits, kNonceKey.size());
  std::string_view nonce = line.substr(kInstanceDigits + kNonceKey.size());
  if (key != kNonceKey || !IsLowerHex(instance) || !IsLowerHex(nonce)) return std::nullopt;
  return CanaryLine{std::string(instance), std::string(nonce)};
}

const CheckType kType{
    .name = "logging",
    .default_severity = Severity::kHigh,
    .default_controls = kControls,
    .default_action = "restart_logging_services",
    .measures = {},
    .create = &Create,
};

}  // namespace drift::checks::logging
