#include "checks/text_diff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drift::checks {
namespace {

using Lines = std::vector<std::string>;
constexpr auto kRemoved = DiffLine::Kind::kRemoved;
constexpr auto kAdded = DiffLine::Kind::kAdded;

LineDiff Diff(const Lines& a, const Lines& b, std::size_t max_lines = 100,
              std::size_t max_line_bytes = 100) {
  return DiffLines(a, b, max_lines, max_line_bytes);
}

TEST(DiffLines, SameLinesNoChange) {
  EXPECT_EQ(Diff({"a", "b"}, {"a", "b"}), (LineDiff{{}, 0, 0, true}));
  EXPECT_EQ(Diff({}, {}), (LineDiff{{}, 0, 0, true}));
}

TEST(DiffLines, AddedRemovedAndChangedInOrder) {
  EXPECT_EQ(Diff({"a", "b", "c"}, {"a", "x", "c", "d"}),
            (LineDiff{{{kRemoved, "b"}, {kAdded, "x"}, {kAdded, "d"}}, 1, 2, true}));
  EXPECT_EQ(Diff({}, {"a"}), (LineDiff{{{kAdded, "a"}}, 0, 1, true}));
  EXPECT_EQ(Diff({"a"}, {}), (LineDiff{{{kRemoved, "a"}}, 1, 0, true}));
}

// Order matters in a firewall: a moved rule is reported as removed and added.
TEST(DiffLines, AMovedLineIsRemovedAndAdded) {
  EXPECT_EQ(Diff({"accept ssh", "drop all", "log"}, {"drop all", "accept ssh", "log"}),
            (LineDiff{{{kRemoved, "accept ssh"}, {kAdded, "accept ssh"}}, 1, 1, true}));
}

TEST(DiffLines, RepeatedLinesCount) {
  EXPECT_EQ(Diff({"a", "a"}, {"a", "a", "a"}), (LineDiff{{{kAdded, "a"}}, 0, 1, true}));
}

TEST(DiffLines, ListsAtMostMaxLinesAndCountsAll) {
  EXPECT_EQ(Diff({"a"}, {"b", "c", "d"}, 2),
            (LineDiff{{{kRemoved, "a"}, {kAdded, "b"}}, 1, 3, true}));
}

TEST(DiffLines, CutsLongLinesAtAUtf8Boundary) {
  // "é" is two bytes: a cut after 4 bytes would split the second one.
  EXPECT_EQ(Diff({}, {"abcdefgh", "abcéé", "abc"}, 10, 4),
            (LineDiff{{{kAdded, "abcd..."}, {kAdded, "abc..."}, {kAdded, "abc"}}, 0, 3, true}));
}

// Beyond ~1M line pairs the order is not compared: multisets, with the lines in input order.
TEST(DiffLines, LargeInputsAreComparedAsMultisets) {
  Lines a;
  Lines b;
  for (int i = 0; i < 1100; ++i) a.push_back("rule " + std::to_string(i));
  b = a;
  std::swap(b[0], b[1099]);  // a move, invisible to a multiset
  b[500] = "rule new";
  LineDiff d = Diff(a, b);
  EXPECT_EQ(d, (LineDiff{{{kRemoved, "rule 500"}, {kAdded, "rule new"}}, 1, 1, false}));
}

}  // namespace
}  // namespace drift::checks
