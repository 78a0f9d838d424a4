#include "checks/types/firewall.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/params.h"
#include "checks/steps.h"
#include "checks/text_diff.h"
#include "common/strings.h"

namespace drift::checks::firewall {
namespace {

constexpr std::chrono::milliseconds kNftTimeout{10'000};
constexpr std::string_view kRulesMeasure = "drift_firewall_rules";

constexpr std::array<MeasureSpec, 1> kMeasures{{
    {kRulesMeasure, "Rules in the host's nftables ruleset (nft -s list ruleset), by the last run."},
}};

constexpr std::array<std::string_view, 1> kPinnedKeys{"ruleset_sha256"};
constexpr std::string_view kListingKey = "ruleset_listing";
constexpr std::array<ListingKey, 1> kListingKeys{{{kListingKey, ".nft"}}};
// Rule changes reported as findings on a hash mismatch; the ruleset_diff observation counts all.
constexpr std::size_t kMaxRuleFindings = 20;
constexpr std::size_t kMaxRuleBytes = 240;  // of a rule in a finding, e.g. a set's elements

constexpr std::array<ControlRef, 2> kControls{{
    {"hipaa", "164.312(a)(1)"},
    {"hipaa", "164.312(e)(1)"},
}};

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

// The stateless ruleset listing, or why it could not be had.
Result<std::string> ListRuleset(const Host& host, Deadline deadline) {
  Command command;
  command.argv = {"nft", "-s", "list", "ruleset"};
  command.timeout = kNftTimeout;
  constexpr std::string_view kName = "nft -s list ruleset";
  Result<CommandOutput> run = RunChecked(host.commands, command, deadline,
                                         {.name = std::string(kName), .any_exit_status = true});
  if (!run.ok()) return run.error();
  if (run->exit_code != 0) {
    std::string reason = ExitStatusReason(kName, *run);
    if (run->err.find("Operation not permitted") != std::string::npos) {
      reason += " (reading the ruleset needs CAP_NET_ADMIN; grant it to the exporter's unit)";
      return Error{std::move(reason), EPERM};
    }
    return Error{std::move(reason)};
  }
  return std::move(run->out);
}

// What changed from the listing kept at capture to `ruleset`: rule_removed / rule_added findings
// (the first kMaxRuleFindings) and a ruleset_diff observation with the totals.
void DescribeChange(const std::vector<std::string>& kept, std::string_view ruleset,
                    std::vector<Finding>& findings, std::vector<Observation>& observations) {
  LineDiff diff = DiffLines(kept, NftStatements(ruleset), kMaxRuleFindings, kMaxRuleBytes);
  for (DiffLine& line : diff.lines) {
    if (line.kind == DiffLine::Kind::kRemoved) {
      findings.push_back({"rule_removed", "absent", std::move(line.text)});
    } else {
      findings.push_back({"rule_added", std::move(line.text), "absent"});
    }
  }
  std::string summary;
  if (diff.added == 0 && diff.removed == 0) {
    summary = "no rule added or removed: the listings differ in comments or blank lines only";
  } else {
    summary =
        fmt::format("{} rule(s) removed, {} added since the capture", diff.removed, diff.added);
    if (diff.lines.size() < diff.removed + diff.added) {
      summary += fmt::format("; the first {} are listed as findings", diff.lines.size());
    }
  }
  if (!diff.ordered) {
    summary += "; compared as sets (too large to compare in order), so a moved rule is not shown";
  }
  observations.push_back({"ruleset_diff", std::move(summary)});
}

class FirewallCheck final : public Check {
 public:
  FirewallCheck(std::string service, std::optional<Sha256Digest> ruleset_sha256,
                BaselineListing listing)
      : service_(std::move(service)),
        ruleset_sha256_(ruleset_sha256),
        kept_statements_(listing.text ? NftStatements(*listing.text) : std::vector<std::string>{}),
        kept_(listing.text.has_value()),
        listing_note_(std::move(listing.note)) {}

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
      if (kept_) {
        DescribeChange(kept_statements_, *ruleset, findings, observations);
      } else {
        observations.push_back({"ruleset_diff", "unavailable: " + listing_note_});
      }
    }
    return Conclude(
        std::move(findings), std::move(observations), std::move(measures),
        fmt::format("{} is active and the ruleset matches its baseline SHA-256", service_));
  }

  Result<std::vector<Observation>> Capture(const Host& host, Deadline deadline) const override {
    Result<std::string> ruleset = ListRuleset(host, deadline);
    if (!ruleset.ok()) return CaptureFailed(ruleset.error(), Remedy(ruleset.error()));
    return std::vector<Observation>{{"ruleset_sha256", ToHex(Sha256Of(*ruleset))},
                                    {std::string(kListingKey), std::move(*ruleset)}};
  }

 private:
  static std::string_view Remedy(const Error& error) {
    switch (error.sys_errno) {
      case ENOENT:
        return "install nftables (the nft program) where host.command_path finds it";
      case EPERM:
        return "run the capture as root or as a user with CAP_NET_ADMIN";
      default:
        return "make `nft -s list ruleset` work for this user, then capture again";
    }
  }

  std::string service_;
  std::optional<Sha256Digest> ruleset_sha256_;  // nullopt until the host is captured
  std::vector<std::string> kept_statements_;    // of the listing kept at capture
  bool kept_;                                   // whether that listing is there and matches
  std::string listing_note_;                    // if not, why
};

CheckPtr Create(const Params& params) {
  std::optional<ConfigNode> service_node = params.Find("service");
  std::string service = service_node ? ReadUnitName(*service_node) : "nftables.service";
  std::optional<Sha256Digest> ruleset_sha256 = FindPinnedSha256(params, "ruleset_sha256");
  BaselineListing listing =
      ReadBaselineListing(params, kListingKey, ruleset_sha256, Command{}.max_output_bytes);
  return std::make_unique<FirewallCheck>(std::move(service), ruleset_sha256, std::move(listing));
}

// Net '{' minus '}' on a line, outside double-quoted strings.
int NetBraces(std::string_view line) {
  int net = 0;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '{') {
      ++net;
    } else if (!quoted && c == '}') {
      --net;
    }
  }
  return net;
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

std::vector<std::string> NftStatements(std::string_view text) {
  std::vector<std::string> out;
  std::vector<std::string> blocks;  // the headers of the blocks the current line is in
  std::string pending;              // a statement wrapped over lines, until its braces close
  int pending_depth = 0;
  auto emit = [&](std::string statement) {
    std::string context;
    for (const std::string& b : blocks) context += (context.empty() ? "" : " ") + b;
    if (context.empty()) {
      out.push_back(std::move(statement));
    } else {
      out.push_back(context + ": " + statement);
    }
  };
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!pending.empty()) {
      pending += ' ';
      pending += line;
      pending_depth += NetBraces(line);
      if (pending_depth <= 0) {
        emit(std::move(pending));
        pending.clear();
      }
      continue;
    }
    if (line.empty() || line.starts_with('#')) continue;
    int net = NetBraces(line);
    if (line == "}") {
      if (!blocks.empty()) blocks.pop_back();
    } else if (net == 1 && line.ends_with('{')) {
      // A block: its own line is a statement, and names the context of what it holds.
      std::string header(Trim(line.substr(0, line.size() - 1)));
      std::string whole;
      for (const std::string& b : blocks) whole += b + " ";
      out.push_back(whole + header);
      blocks.push_back(std::move(header));
    } else if (net > 0) {
      pending = line;
      pending_depth = net;
    } else {
      emit(std::string(line));
    }
  }
  if (!pending.empty()) emit(std::move(pending));
  return out;
}

const CheckType kType{
    .name = "firewall",
    .default_severity = Severity::kCritical,
    .default_controls = kControls,
    .default_action = "restore_firewall_baseline",
    .measures = kMeasures,
    .create = &Create,
    .pinned_keys = kPinnedKeys,
    .listing_keys = kListingKeys,
};

}  // namespace drift::checks::firewall
