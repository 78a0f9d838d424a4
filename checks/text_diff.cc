#include "checks/text_diff.h"

#include <cstdint>
#include <map>
#include <string_view>

#include "common/strings.h"

namespace drift::checks {
namespace {

// Line pairs compared in order at most: the LCS table holds one uint16 per pair (2 MiB). With at
// most 2^20 pairs the shorter side has at most 1024 lines, so a length fits in 16 bits.
constexpr std::size_t kMaxPairs = std::size_t{1} << 20;

struct Limits {
  std::size_t max_lines;
  std::size_t max_line_bytes;
};

void Add(LineDiff& diff, DiffLine::Kind kind, const std::string& text, Limits limits) {
  (kind == DiffLine::Kind::kRemoved ? diff.removed : diff.added) += 1;
  if (diff.lines.size() >= limits.max_lines) return;
  if (text.size() <= limits.max_line_bytes) {
    diff.lines.push_back({kind, text});
    return;
  }
  // Never split a UTF-8 sequence: evidence records must stay valid UTF-8.
  diff.lines.push_back({kind, std::string(Utf8Prefix(text, limits.max_line_bytes)) + "..."});
}

// Order-blind: each line counts as many times as it occurs.
void DiffAsMultisets(std::span<const std::string> a, std::span<const std::string> b, Limits limits,
                     LineDiff& diff) {
  std::map<std::string_view, std::ptrdiff_t> balance;  // occurrences in b minus those in a
  for (const std::string& line : a) --balance[line];
  for (const std::string& line : b) ++balance[line];
  std::map<std::string_view, std::ptrdiff_t> left = balance;
  for (const std::string& line : a) {
    if (left[line] < 0) {
      ++left[line];
      Add(diff, DiffLine::Kind::kRemoved, line, limits);
    }
  }
  for (const std::string& line : b) {
    if (balance[line] > 0) {
      --balance[line];
      Add(diff, DiffLine::Kind::kAdded, line, limits);
    }
  }
}

void DiffInOrder(std::span<const std::string> a, std::span<const std::string> b, Limits limits,
                 LineDiff& diff) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  // lcs[i][j]: length of a longest common subsequence of a[i..] and b[j..].
  std::vector<std::uint16_t> lcs((n + 1) * (m + 1), 0);
  auto at = [m](std::size_t i, std::size_t j) { return i * (m + 1) + j; };
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[at(i, j)] = a[i] == b[j] ? static_cast<std::uint16_t>(lcs[at(i + 1, j + 1)] + 1)
                                   : std::max(lcs[at(i + 1, j)], lcs[at(i, j + 1)]);
    }
  }
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ++i;
      ++j;
    } else if (j == m || (i < n && lcs[at(i + 1, j)] >= lcs[at(i, j + 1)])) {
      Add(diff, DiffLine::Kind::kRemoved, a[i++], limits);
    } else {
      Add(diff, DiffLine::Kind::kAdded, b[j++], limits);
    }
  }
}

}  // namespace

LineDiff DiffLines(std::span<const std::string> before, std::span<const std::string> after,
                   std::size_t max_lines, std::size_t max_line_bytes) {
  const Limits limits{max_lines, max_line_bytes};
  std::size_t head = 0;
  while (head < before.size() && head < after.size() && before[head] == after[head]) ++head;
  std::size_t tail = 0;
  while (tail < before.size() - head && tail < after.size() - head &&
         before[before.size() - 1 - tail] == after[after.size() - 1 - tail]) {
    ++tail;
  }
  std::span<const std::string> a = before.subspan(head, before.size() - head - tail);
  std::span<const std::string> b = after.subspan(head, after.size() - head - tail);
  LineDiff diff;
  if (a.empty() || b.empty() || (a.size() + 1) * (b.size() + 1) <= kMaxPairs) {
    DiffInOrder(a, b, limits, diff);
  } else {
    diff.ordered = false;
    DiffAsMultisets(a, b, limits, diff);
  }
  return diff;
}

}  // namespace drift::checks
