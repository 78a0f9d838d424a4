#include "exporter/content_coding.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/support/gunzip.h"

namespace drift::exporter {
namespace {

constexpr ContentCoding kGzip = ContentCoding::kGzip;
constexpr ContentCoding kIdentity = ContentCoding::kIdentity;
constexpr ContentCoding kNone = ContentCoding::kNoneAcceptable;

struct Case {
  const char* why;
  std::optional<std::string_view> header;
  ContentCoding want;
};

TEST(NegotiateContentCoding, FollowsRfc9110) {
  const Case cases[] = {
      {"no header: identity, as promhttp sends", std::nullopt, kIdentity},
      {"an empty value asks for no coding", "", kIdentity},
      {"only whitespace and empty elements", " , ,\t", kIdentity},
      {"what Prometheus sends", "gzip", kGzip},
      {"what curl --compressed sends", "deflate, gzip, br, zstd", kGzip},
      {"what browsers send", "gzip, deflate, br", kGzip},
      {"other codings only: identity is acceptable unless refused", "deflate, br", kIdentity},
      {"explicit identity only", "identity", kIdentity},
      // Refusals.
      {"gzip refused", "gzip;q=0", kIdentity},
      {"gzip refused with three decimals", "gzip;q=0.000", kIdentity},
      {"gzip refused, identity named", "gzip;q=0, identity", kIdentity},
      {"identity refused, gzip accepted", "gzip, identity;q=0", kGzip},
      {"identity refused alone: nothing acceptable", "identity;q=0", kNone},
      {"everything refused", "*;q=0", kNone},
      {"both refused by name", "gzip;q=0, identity;q=0", kNone},
      {"everything refused but gzip", "*;q=0, gzip", kGzip},
      {"everything refused but identity", "*;q=0, identity", kIdentity},
      {"gzip refused, everything else accepted", "gzip;q=0, *", kIdentity},
      // Weights.
      {"the lowest weight still accepts", "gzip;q=0.001", kGzip},
      {"identity preferred by weight", "gzip;q=0.5, identity", kIdentity},
      {"gzip preferred by weight", "gzip;q=0.9, identity;q=0.8", kGzip},
      {"a tie goes to gzip", "identity;q=0.5, gzip;q=0.5", kGzip},
      {"an unnamed identity is preferred least", "gzip;q=0.2", kGzip},
      {"q=1 spelt out", "gzip;q=1.000", kGzip},
      {"q=1 with a bare dot", "gzip;q=1.", kGzip},
      // "*".
      {"* accepts gzip", "*", kGzip},
      {"* weighs gzip and identity alike: a tie", "*;q=0.3", kGzip},
      {"gzip named below *", "gzip;q=0.2, *;q=0.5", kIdentity},
      {"identity named below * (which gives gzip its weight)", "identity;q=0.1, *;q=0.5", kGzip},
      // Spelling.
      {"coding names are case-insensitive", "GZip", kGzip},
      {"so is the q", "gzip;Q=0", kIdentity},
      {"IDENTITY refused in capitals", "gzip, IDENTITY;Q=0", kGzip},
      {"x-gzip is gzip (RFC 9110 8.4.1.3)", "x-gzip", kGzip},
      {"x-gzip refused", "x-gzip;q=0", kIdentity},
      {"whitespace around elements and ';'", " \tgzip \t; \tq=0 \t, identity ", kIdentity},
      {"no whitespace after commas", "br,gzip", kGzip},
      {"empty elements are skipped", ",,gzip,,", kGzip},
      {"named twice: the highest weight", "gzip;q=0, gzip;q=0.5", kGzip},
      // Malformed elements are ignored: none of them can select gzip.
      {"q above 1", "gzip;q=2", kIdentity},
      {"q=1 with a non-zero decimal", "gzip;q=1.001", kIdentity},
      {"four decimals", "gzip;q=0.0001", kIdentity},
      {"not a number", "gzip;q=high", kIdentity},
      {"an empty weight", "gzip;q=", kIdentity},
      {"a bare ';'", "gzip;", kIdentity},
      {"a parameter other than q", "gzip;level=9", kIdentity},
      {"a second parameter", "gzip;q=0.5;x=1", kIdentity},
      {"spaces around '='", "gzip;q = 0.5", kIdentity},
      {"a negative weight", "gzip;q=-1", kIdentity},
      {"a name that is not a token", "gz/ip, g\"zip\"", kIdentity},
      {"a weight without a name", ";q=1", kIdentity},
      {"a malformed refusal is ignored too", "gzip, identity;q=oops", kGzip},
      {"a malformed * does not refuse", "*;q=zero", kIdentity},
      {"a malformed element beside a good one", "gzip;q=5, gzip;q=0.5", kGzip},
      {"gzip only as a prefix of another name", "gzipx, xgzip", kIdentity},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ContentCodingName(NegotiateContentCoding(c.header)), ContentCodingName(c.want))
        << c.why << ": " << (c.header ? std::string(*c.header) : "(no header)");
  }
}

TEST(ContentCodingName, NamesEachCoding) {
  EXPECT_EQ(ContentCodingName(kIdentity), "identity");
  EXPECT_EQ(ContentCodingName(kGzip), "gzip");
  EXPECT_EQ(ContentCodingName(kNone), "none acceptable");
}

TEST(GzipCompress, InflatesToTheInputAtEveryLevel) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "drift_check_drifted{check=\"file-" + std::to_string(i) + "\"} 0\n";
  }
  for (int level = 1; level <= 9; ++level) {
    Result<std::string> gzip = GzipCompress(text, level);
    ASSERT_TRUE(gzip.ok()) << gzip.error().message;
    EXPECT_LT(gzip->size(), text.size() / 4) << "level " << level;
    EXPECT_EQ(testing::Gunzip(*gzip), text) << "level " << level;
  }
}

TEST(GzipCompress, WritesAPlainGzipMemberTheSameEveryTime) {
  Result<std::string> a = GzipCompress("hello\n", 6);
  Result<std::string> b = GzipCompress("hello\n", 6);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b) << "no time stamp: the same body compresses to the same bytes";
  // RFC 1952: magic 1f 8b, method 8 (deflate), no flags (no name, no comment), mtime 0.
  EXPECT_EQ(a->substr(0, 8), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(testing::Gunzip(*a), "hello\n");
}

TEST(GzipCompress, AnEmptyTextIsAnEmptyMember) {
  Result<std::string> gzip = GzipCompress("", 6);
  ASSERT_TRUE(gzip.ok());
  EXPECT_FALSE(gzip->empty()) << "header and trailer";
  EXPECT_EQ(testing::Gunzip(*gzip), "");
}

TEST(GzipCompress, ABadLevelIsAnError) {
  Result<std::string> gzip = GzipCompress("text", 42);
  ASSERT_FALSE(gzip.ok());
  EXPECT_EQ(gzip.error().message, "gzip: deflateInit2: stream error");
}

}  // namespace
}  // namespace drift::exporter
