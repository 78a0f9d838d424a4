#include "common/sha256.h"

#include <gtest/gtest.h>

namespace drift {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(ToHex(Sha256Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, StreamingEqualsOneShotAndResets) {
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.Finish(), Sha256Of("abc"));
  h.Update("");
  EXPECT_EQ(h.Finish(), Sha256Of(""));
}

TEST(ParseSha256Hex, RoundTripAndErrors) {
  std::string hex = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
  Result<Sha256Digest> d = ParseSha256Hex(hex);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Sha256Of("abc"));
  EXPECT_EQ(ParseSha256Hex("abc").error().message,
            "expected a SHA-256 as 64 hex digits, got 3 characters");
  hex[10] = 'g';
  EXPECT_EQ(ParseSha256Hex(hex).error().message,
            "expected a SHA-256 as 64 hex digits, found 'g' at position 11");
}

}  // namespace
}  // namespace drift
