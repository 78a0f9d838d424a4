#include "common/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace drift {
namespace {

using Lines = std::vector<std::string_view>;

TEST(TrimTest, RemovesEveryKindOfWhitespaceAtTheEndsOnly) {
  EXPECT_EQ(Trim(" \t\r\n\f\va b\t\r\n\f\v "), "a b");
  EXPECT_EQ(TrimLeft(" \ta b \n"), "a b \n");
  EXPECT_EQ(TrimRight(" \ta b \n"), " \ta b");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim(" \n\t"), "");
  EXPECT_EQ(TrimLeft(" \n\t"), "");
  EXPECT_EQ(TrimRight(" \n\t"), "");
  EXPECT_EQ(Trim("x"), "x");
}

TEST(SplitLinesTest, SplitsAtLfAndDropsOneCr) {
  EXPECT_EQ(SplitLines(""), Lines{});
  EXPECT_EQ(SplitLines("\n"), Lines{""});
  EXPECT_EQ(SplitLines("a"), Lines{"a"});
  EXPECT_EQ(SplitLines("a\nb\n"), (Lines{"a", "b"}));
  EXPECT_EQ(SplitLines("a\r\nb"), (Lines{"a", "b"}));
  EXPECT_EQ(SplitLines("a\n\n b \r\r\n"), (Lines{"a", "", " b \r"}));
}

TEST(OneLineTest, JoinsLinesAndTrims) {
  EXPECT_EQ(OneLine("  one line  \n", 100), "one line");
  EXPECT_EQ(OneLine("first\nsecond\r\n\n  third\n", 100), "first; second; third");
  // A line that ends a sentence, or introduces the next, is followed by a space only.
  EXPECT_EQ(OneLine("Can't operate.\nFailed to connect to bus:\n  Host is down", 100),
            "Can't operate. Failed to connect to bus: Host is down");
  EXPECT_EQ(OneLine("", 100), "");
  EXPECT_EQ(OneLine("\n \n\t\n\f\v", 100), "");
}

TEST(OneLineTest, ControlCharactersCannotBreakARow) {
  EXPECT_EQ(OneLine("a\tb\x1b[31mred\x7f\rc", 100), "a b?[31mred??c");
}

TEST(OneLineTest, IsBoundedWithoutSplittingACharacter) {
  const std::string cut = OneLine(std::string(600, 'x'), 512);
  EXPECT_EQ(cut.size(), 512u);
  EXPECT_EQ(cut.substr(512 - 4), "x\xe2\x80\xa6");
  EXPECT_EQ(OneLine("abcdef", 6), "abcdef");
  EXPECT_EQ(OneLine("abcdefg", 6), "abc\xe2\x80\xa6");
  // "é" is two bytes: the cut backs off to before it rather than leave half.
  EXPECT_EQ(OneLine("ab\xc3\xa9zzzz", 6), "ab\xe2\x80\xa6");
  // Too short for the ellipsis: cut without one, still on a character boundary.
  EXPECT_EQ(OneLine("abc", 2), "ab");
  EXPECT_EQ(OneLine("a\xc3\xa9", 2), "a");
  EXPECT_EQ(OneLine("abc", 0), "");
}

TEST(Utf8, AcceptsShortestFormsOnly) {
  EXPECT_TRUE(IsValidUtf8("plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));      // cut short
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ab\xC3\xA9\xFF"), 4u);
  EXPECT_EQ(FirstInvalidUtf8("ab\xC3\xA9"), std::string_view::npos);
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82\xAC", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82", 0), 0u);
}

TEST(Utf8, APrefixNeverEndsInsideASequence) {
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 4), "ab");
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 2), "ab");
  EXPECT_EQ(Utf8Prefix("ab", 10), "ab");
  EXPECT_EQ(Utf8Prefix("\xC3\xA9", 1), "");
}

}  // namespace
}  // namespace drift
