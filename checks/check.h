#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checks/host.h"
#include "common/config_node.h"
#include "common/result.h"

namespace drift::checks {

// "Drifted" and "could not check" are different answers: an error never reads as compliant.
enum class Verdict { kCompliant, kDrifted, kError };

enum class Severity { kNone = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };

std::string_view VerdictName(Verdict v);    // "compliant", "drifted", "error"
std::string_view SeverityName(Severity s);  // "none", "low", "medium", "high", "critical"
Result<Severity> ParseSeverity(std::string_view name);

// One cause of drift, with what was seen and what the baseline wants.
struct Finding {
  std::string cause;     // short machine-friendly cause, e.g. "service_inactive"
  std::string observed;  // e.g. "failed"
  std::string expected;  // e.g. "active"
  // Severity of this cause; kNone means the check type's default. A configured severity on the
  // check overrides every cause.
  Severity severity = Severity::kNone;
};

// A fact the check saw, shown on /checks/{name} and recorded as evidence.
struct Observation {
  std::string key;
  std::string value;
};

// A measured value exported as its own metric family, in base units.
struct MeasureSpec {
  std::string_view name;  // full metric name, e.g. "drift_backup_age_seconds"
  std::string_view help;
};
struct MeasureValue {
  std::string_view name;  // one of the check type's MeasureSpec names
  double value;
};

struct CheckResult {
  Verdict verdict = Verdict::kError;
  // One line for people: why compliant, drifted or failing. Error() and Conclude() make it one
  // line of at most kMaxReasonBytes (OneLine, checks/steps.h), whatever a program printed.
  std::string reason;
  std::vector<Finding> findings;
  std::vector<Observation> observations;
  std::vector<MeasureValue> measures;

  static CheckResult Error(std::string reason);
};

// Builds the result of a run from its findings: compliant when there are none, drifted otherwise,
// with a reason listing every cause ("service_inactive: observed failed, expected active; ...").
CheckResult Conclude(std::vector<Finding> findings, std::vector<Observation> observations,
                     std::vector<MeasureValue> measures, std::string compliant_reason);

// One configured check. Instances are immutable after construction; Run() may be called from any
// thread, and concurrently for different checks.
class Check {
 public:
  virtual ~Check() = default;
  // Checks the host once. Never throws: every failure is a kError result with a reason.
  // Stops early with an error once `deadline` passes.
  virtual CheckResult Run(const Host& host, Deadline deadline) const = 0;
  // The values of this host that the baseline pins (binary hashes, ruleset hash, generation), as
  // params keys and values, for `baseline capture`; plus, under a CheckType::listing_keys key,
  // the text a pinned hash was taken of. Types with nothing to pin return none. A failure says
  // why and what would let it succeed ("<why>; <what to do>", see CaptureFailed in steps.h).
  virtual Result<std::vector<Observation>> Capture(const Host& host, Deadline deadline) const;
  // The runbook that heals this check's drift on the host `fs` shows, for types whose runbook
  // depends on the host (patching: NixOS or Debian); empty to take the type's default_action.
  // The loader asks once per load, when `recommended_action` is not configured. Reads only
  // through `fs`; never throws.
  virtual std::string_view HostDefaultAction(const FileSystem& fs) const;
};

using CheckPtr = std::unique_ptr<const Check>;

// A check's parameters: its `params:` mapping plus, when a baseline file is loaded, its entry
// there. A key may come from either but not both. Lookups mark keys as read (see ConfigNode).
class Params {
 public:
  // `check` is the check's own node, for positioning errors when there is no `params:`.
  Params(const ConfigNode& check, std::optional<ConfigNode> params,
         std::optional<ConfigNode> baseline);

  // The value for `key`, from params or baseline; throws ConfigError if it is set in both.
  std::optional<ConfigNode> Find(std::string_view key) const;
  // Like Find, but a missing key is a ConfigError naming `checks[i].params.<key>`.
  ConfigNode Child(std::string_view key) const;
  // Throws a ConfigError positioned at the params (for errors across several keys).
  [[noreturn]] void Fail(std::string_view what) const;

 private:
  ConfigNode check_;
  std::optional<ConfigNode> params_;
  std::optional<ConfigNode> baseline_;
};

struct ControlRef {
  std::string_view framework;  // "hipaa", "soc2", "pci_dss", "nist_800_53", ...
  std::string_view id;
};

// A param that names a text file `baseline capture` keeps beside the baseline file: the listing a
// pinned hash was taken of (the firewall's `nft -s list ruleset`), so that a mismatch can show
// what changed. Capture() returns the text under `key`; capture writes it to
// "<baseline stem>.d/<check name><suffix>" and sets `key` to that path. The factory reads it with
// ReadBaselineListing (checks/params.h).
struct ListingKey {
  std::string_view key;     // e.g. "ruleset_listing"
  std::string_view suffix;  // e.g. ".nft"
};

// A check type: its YAML name, defaults and factory. One per file in checks/types/.
struct CheckType {
  std::string_view name;
  Severity default_severity;
  std::span<const ControlRef> default_controls;
  // The runbook that heals it, unless the check's HostDefaultAction names another for this host.
  std::string_view default_action;
  std::span<const MeasureSpec> measures;
  // Reads `params` strictly (lookups mark what they read; the loader rejects the rest).
  // Throws ConfigError on bad params.
  CheckPtr (*create)(const Params& params);
  // Params that pin this host's state (hashes). Optional in the factory: a check without them
  // loads (a host not captured yet), its Run() returns an error (NotPinnedReason in steps.h), the
  // loader lists it as unpinned, and `baseline capture` fills them in.
  std::span<const std::string_view> pinned_keys = {};
  // Params naming listings that explain pinned hashes (see ListingKey); optional.
  std::span<const ListingKey> listing_keys = {};
};

}  // namespace drift::checks
