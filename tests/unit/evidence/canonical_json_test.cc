#include "evidence/canonical_json.h"

#include <gtest/gtest.h>

namespace drift::evidence {
namespace {

std::string Canon(const nlohmann::json& v) {
  Result<std::string> out = CanonicalJson(v);
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  return out.ok() ? *out : "";
}

TEST(CanonicalJson, SortsKeysAndDropsWhitespace) {
  nlohmann::json v =
      nlohmann::json::parse(R"({ "b": 1, "a": [true, false, null], "c": {"z": "x", "y": -5} })");
  EXPECT_EQ(Canon(v), R"({"a":[true,false,null],"b":1,"c":{"y":-5,"z":"x"}})");
}

TEST(CanonicalJson, SortsKeysByUtf8BytesNotByUtf16) {
  // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) by UTF-8 bytes; UTF-16 order (RFC 8785)
  // would put the surrogate pair D83D first. Upper case sorts before lower case.
  nlohmann::json v = {{"\xF0\x9F\x98\x80", 1}, {"\xEF\xBC\xA1", 2}, {"a", 3}, {"B", 4}};
  EXPECT_EQ(Canon(v), "{\"B\":4,\"a\":3,\"\xEF\xBC\xA1\":2,\"\xF0\x9F\x98\x80\":1}");
}

TEST(CanonicalJson, EscapesExactlyQuoteBackslashAndControlCharacters) {
  std::string s = "q\" b\\ \b\f\n\r\t \x01\x1f \x7f / \xC3\xA9";
  EXPECT_EQ(Canon(s), "\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001\\u001f \x7f / \xC3\xA9\"");
}

TEST(CanonicalJson, WritesIntegersInPlainDecimal) {
  EXPECT_EQ(Canon(nlohmann::json(0)), "0");
  EXPECT_EQ(Canon(nlohmann::json(-9223372036854775807LL - 1)), "-9223372036854775808");
  EXPECT_EQ(Canon(nlohmann::json(18446744073709551615ULL)), "18446744073709551615");
}

TEST(CanonicalJson, RejectsFloats) {
  Result<std::string> out = CanonicalJson({{"a", {{"b", 1.5}}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "a: b: floating-point number 1.5 (records hold integers only)");
  EXPECT_FALSE(CanonicalJson(nlohmann::json::parse("[1.0]")).ok());
}

TEST(CanonicalJson, RejectsInvalidUtf8) {
  for (std::string bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
    Result<std::string> out = CanonicalJson(nlohmann::json("x" + bad));
    ASSERT_FALSE(out.ok()) << bad;
    EXPECT_EQ(out.error().message, "invalid UTF-8 at byte 1 of a string");
  }
  Result<std::string> key = CanonicalJson({{"k\xFF", 1}});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().message, "key: invalid UTF-8 at byte 1 of a string");
}

TEST(CanonicalJson, LimitsNesting) {
  nlohmann::json v = 1;
  for (int i = 0; i < 32; ++i) v = nlohmann::json::array({v});
  EXPECT_TRUE(CanonicalJson(v).ok());
  v = nlohmann::json::array({v});
  Result<std::string> out = CanonicalJson(v);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "nested deeper than 32 levels");
}

TEST(CanonicalJson, IsAFixedPointOfParsing) {
  std::string text = R"({"a":"\u00e9\n","b":[{"c":null}],"d":-1})";
  std::string once = Canon(nlohmann::json::parse(text));
  EXPECT_EQ(once, "{\"a\":\"\xC3\xA9\\n\",\"b\":[{\"c\":null}],\"d\":-1}");
  EXPECT_EQ(Canon(nlohmann::json::parse(once)), once);
}

}  // namespace
}  // namespace drift::evidence
