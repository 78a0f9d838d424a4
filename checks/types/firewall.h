#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.h"
#include "common/result.h"

// firewall: the nftables service is active and the kernel's ruleset is the baseline's, compared
// by the SHA-256 of `nft -s list ruleset` (stateless, so counters do not change the hash).
namespace drift::checks::firewall {

extern const CheckType kType;

// Shape of a ruleset listing, for observations and the drift_firewall_rules measure.
struct NftRulesetSummary {
  std::size_t tables = 0;
  std::size_t chains = 0;
  std::size_t rules = 0;

  bool operator==(const NftRulesetSummary&) const = default;
};

// Counts the tables, chains and rules in the output of `nft [-s] list ruleset`. A rule is a line
// directly inside a chain other than its `type ... hook ...` / `policy` declaration, a chain
// comment or a closing brace. Braces inside quoted strings do not count. An empty listing (no
// ruleset loaded) is all zeros. Errors: unbalanced braces, an unterminated string, or a line
// outside every table that does not open one.
Result<NftRulesetSummary> ParseNftRuleset(std::string_view text);

// The statements of an `nft [-s] list ruleset` listing, one string each, for a rule-level diff:
// every line inside a block is prefixed by the blocks it is in ("table inet filter chain input:
// tcp dport 22 accept"), a block's own line is one too ("table inet filter chain input"), a
// statement wrapped over several lines (a set's elements) is joined into one, and blank lines,
// comments and closing braces are dropped. Never fails: what it cannot place stays a statement.
std::vector<std::string> NftStatements(std::string_view text);

}  // namespace drift::checks::firewall
