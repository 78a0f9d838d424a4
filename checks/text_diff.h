#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

// What changed between a text kept at baseline capture and the text now, line by line (or rule
// by rule, once a check type has cut its listing into rules), for checks that pin the hash of a
// text: the hash says that something changed, the diff says what. Pure functions.
namespace drift::checks {

struct DiffLine {
  enum class Kind { kRemoved, kAdded };
  Kind kind;
  std::string text;

  bool operator==(const DiffLine&) const = default;
};

struct LineDiff {
  // The changes in order (a changed line: removed, then added), each text cut to at most
  // max_line_bytes (at a UTF-8 boundary) with "..." appended.
  std::vector<DiffLine> lines;
  std::size_t removed = 0;  // totals, including changes beyond what `lines` holds
  std::size_t added = 0;
  // False when the inputs were too large to compare in order (more than ~1M line pairs left after
  // the common head and tail): they were then compared as multisets, so a line that only moved
  // is not reported.
  bool ordered = true;

  bool operator==(const LineDiff&) const = default;
};

// The lines only in `before` (removed) and only in `after` (added), from a longest common
// subsequence of the two after their common head and tail: a moved line shows as removed and
// added. `lines` holds at most `max_lines` changes; the totals count all of them. Lines are
// compared whole; only what `lines` holds is cut to `max_line_bytes` (a set of 10,000 addresses
// is one long nft statement).
LineDiff DiffLines(std::span<const std::string> before, std::span<const std::string> after,
                   std::size_t max_lines, std::size_t max_line_bytes);

}  // namespace drift::checks
