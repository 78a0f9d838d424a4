#include "checks/types/firewall.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/params.h"
#include "checks/steps.h"

namespace drift::checks::firewall {
namespace {

constexpr std::chrono::milliseconds kNftTimeout{10'000};
constexpr std::size_t kMaxStderrInReason = 300;
constexpr std::string_view kRulesMeasure = "drift_firewall_rules";

constexpr std::array<MeasureSpec, 1> kMeasures{{
    {kRulesMeasure, "Rules in the host's nftables ruleset (nft -s list ruleset), by the last run."},
}};

constexpr std::array<std::string_view, 1> kPinnedKeys{"ruleset_sha256"};

constexpr std::array<ControlRef, 2> kControls{{
    {"hipaa", "164.312(a)(1)"},
    {"hipaa", "164.312(e)(1)"},
}};

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t begin = s.find_first_not_of(" \t", i);
    if (begin == std::string_view::npos) break;
    std::size_t end = s.find_first_of(" \t", begin);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(begin, end - begin));
    i = end;
  }
  return out;
}

bool IsFamily(std::string_view f) {
  return f == "ip" || f == "ip6" || f == "inet" || f == "arp" || f == "bridge" || f == "netdev";
}

// The stderr of a failed nft, made fit for a one-line reason.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : Trim(text)) {
    if (c == '\n') {
      out += "; ";
    } else if (c != '\r') {
      out += c;
    }
  }
  if (out.size() > kMaxStderrInReason) {
    out.resize(kMaxStderrInReason);
    out += "...";
  }
  return out;
}

// The stateless ruleset listing, or why it could not be had.
Result<std::string> ListRuleset(const Host& host, Deadline deadline) {
  Command command;
  command.argv = {"nft", "-s", "list", "ruleset"};
  command.timeout = kNftTimeout;
  Result<CommandOutput> run = host.commands.Run(command, deadline);
  if (!run.ok()) return Err("cannot run nft: {}", run.error().message);
  const CommandOutput& out = *run;
  if (out.timed_out) return Err("nft -s list ruleset did not finish in time and was killed");
  if (out.truncated) {
    return Err("nft -s list ruleset printed more than {} bytes; the ruleset was not hashed",
               command.max_output_bytes);
  }
  if (out.exit_code != 0) {
    std::string why = out.exit_code == -1 ? fmt::format("was killed by signal {}", out.signal)
                                          : fmt::format("exited with status {}", out.exit_code);
    std::string err = OneLine(out.err);
    std::string reason = fmt::format("nft -s list ruleset {}", why);
    if (!err.empty()) reason += ": " + err;
    if (err.find("Operation not permitted") != std::string::npos) {
      reason += " (reading the ruleset needs CAP_NET_ADMIN; grant it to the exporter's unit)";
    }
    return Error{std::move(reason)};
  }
  return out.out;
}

class FirewallCheck final : public Check {
 public:
  FirewallCheck(std::string service, std::optional<Sha256Digest> ruleset_sha256)
      : service_(std::move(service)), ruleset_sha256_(ruleset_sha256) {}

  CheckResult Run(const Host& host, Deadline deadline) const override {
    if (!ruleset_sha256_) return CheckResult::Error(NotPinnedReason("ruleset_sha256"));
    std::vector<Finding> findings;
    std::vector<Observation> observations;
    if (Status s = CheckServiceActive(host, service_, deadline, ServiceRecord::kSoleService,
                                      Severity::kNone, observations, findings);
        !s.ok()) {
      return CheckResult::Error(s.error().message);
    }

    Result<std::string> ruleset = ListRuleset(host, deadline);
    if (!ruleset.ok()) {
      return ConcludeIncomplete(std::move(findings), std::move(observations), "ruleset_sha256",
                                ruleset.error().message);
    }

    Sha256Digest hash = Sha256Of(*ruleset);
    std::vector<MeasureValue> measures;
    // The counts describe the ruleset; the verdict rests on the hash alone, so a listing this
    // parser does not understand is noted, not an error.
    Result<NftRulesetSummary> summary = ParseNftRuleset(*ruleset);
    if (summary.ok()) {
      observations.push_back({"tables", std::to_string(summary->tables)});
      observations.push_back({"chains", std::to_string(summary->chains)});
      observations.push_back({"rules", std::to_string(summary->rules)});
      measures.push_back({kRulesMeasure, static_cast<double>(summary->rules)});
    } else {
      observations.push_back({"ruleset_summary", "unknown: " + summary.error().message});
    }
    observations.push_back({"ruleset_sha256", ToHex(hash)});
    if (hash != *ruleset_sha256_) {
      findings.push_back({"ruleset_hash_mismatch", ToHex(hash), ToHex(*ruleset_sha256_)});
    }
    return Conclude(
        std::move(findings), std::move(observations), std::move(measures),
        fmt::format("{} is active and the ruleset matches its baseline SHA-256", service_));
  }

  Result<std::vector<Observation>> Capture(const Host& host, Deadline deadline) const override {
    Result<std::string> ruleset = ListRuleset(host, deadline);
    if (!ruleset.ok()) return ruleset.error();
    return std::vector<Observation>{{"ruleset_sha256", ToHex(Sha256Of(*ruleset))}};
  }

 private:
  std::string service_;
  std::optional<Sha256Digest> ruleset_sha256_;  // nullopt only while capturing the baseline
};

CheckPtr Create(const Params& params) {
  std::optional<ConfigNode> service_node = params.Find("service");
  std::string service = service_node ? ReadUnitName(*service_node) : "nftables.service";
  std::optional<Sha256Digest> ruleset_sha256 = FindPinnedSha256(params, "ruleset_sha256");
  return std::make_unique<FirewallCheck>(std::move(service), ruleset_sha256);
}

}  // namespace

Result<NftRulesetSummary> ParseNftRuleset(std::string_view text) {
  enum class Block { kTable, kChain, kOther };
  NftRulesetSummary summary;
  std::vector<Block> open;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view raw = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;
    std::string_view line = Trim(raw);
    // nft prints comments too, e.g. "# Warning: table ip filter is managed by iptables-nft".
    if (line.empty() || line.starts_with('#')) continue;

    // What a '{' on this line opens, decided by the block the line is in.
    Block opens = Block::kOther;
    if (open.empty()) {
      // A stray closing brace means unbalanced braces, not a malformed table line.
      if (line.starts_with('}')) {
        return Err("line {}: '}}' closes nothing (unbalanced braces)", line_no);
      }
      std::vector<std::string_view> words = Words(line);
      if (words.size() != 4 || words[0] != "table" || !IsFamily(words[1]) || words[3] != "{") {
        return Err("line {}: expected \"table <family> <name> {{\" at the top level, got {:?}",
                   line_no, line);
      }
      ++summary.tables;
      opens = Block::kTable;
    } else if (open.back() == Block::kTable) {
      if (line.starts_with("chain ") && line.ends_with('{')) {
        ++summary.chains;
        opens = Block::kChain;
      }
    } else if (open.back() == Block::kChain) {
      bool declaration = (line.starts_with("type ") && line.find(" hook ") != line.npos) ||
                         line.starts_with("policy ") || line.starts_with("comment ") ||
                         line.starts_with('}');
      if (!declaration) ++summary.rules;
    }

    bool quoted = false;
    for (char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (quoted) {
        continue;
      } else if (c == '{') {
        open.push_back(opens);
        opens = Block::kOther;  // a second brace on the line is an anonymous set or the like
      } else if (c == '}') {
        if (open.empty()) return Err("line {}: '}}' closes nothing (unbalanced braces)", line_no);
        open.pop_back();
      }
    }
    if (quoted) return Err("line {}: unterminated string", line_no);
  }
  if (!open.empty()) {
    return Err("unbalanced braces: {} block(s) still open at the end of the listing", open.size());
  }
  return summary;
}

const CheckType kType{
    .name = "firewall",
    .default_severity = Severity::kCritical,
    .default_controls = kControls,
    .default_action = "restore_firewall_baseline",
    .measures = kMeasures,
    .create = &Create,
    .pinned_keys = kPinnedKeys,
};

}  // namespace drift::checks::firewall
