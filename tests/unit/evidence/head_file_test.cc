// The head file's format, on string literals: its name, the signed text and every way a head
// file can be malformed.

#include "evidence/head_file.h"

#include <gtest/gtest.h>

#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using testing::TestKey;

constexpr std::string_view kNotAHead =
    "not a head file (expected the lines drift_evidence head v1, seq:, chain:, time:, key_id:, "
    "signature:)";

ChainValue Chain(std::uint8_t byte) {
  ChainValue c{};
  c.fill(byte);
  return c;
}

// TestKey(1)'s head of seq 7, chain 0xab..., at 2024-08-01T12:00:00.000Z.
constexpr std::string_view kHead7 =
    "drift_evidence head v1\n"
    "seq: 7\n"
    "chain: abababababababababababababababababababababababababababababababab\n"
    "time: 2024-08-01T12:00:00.000Z\n"
    "key_id: 1716151413121110\n"
    "signature: "
    "2pvLoQjDFxOlmoixe2B1KPW2TJtk+lv9JsVMc1v1NROk0EZTAPd+qUgoHgF/aTzOr4jbshAhCBmT3NkJNx0LAg==\n";

// kHead7 with `from` replaced by `to` (once).
std::string Edited(std::string_view from, std::string_view to) {
  std::string text(kHead7);
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(HeadFileTest, NamesCarryTheSeqInTwentyDigits) {
  EXPECT_EQ(HeadFileName(0), "head-00000000000000000000");
  EXPECT_EQ(HeadFileName(7), "head-00000000000000000007");
  EXPECT_EQ(HeadFileName(18446744073709551615u), "head-18446744073709551615");
  EXPECT_EQ(ParseHeadFileName("head-00000000000000000007"), 7u);
  EXPECT_EQ(ParseHeadFileName("head-18446744073709551615"), 18446744073709551615u);
  EXPECT_EQ(ParseHeadFileName("head-7"), std::nullopt);
  EXPECT_EQ(ParseHeadFileName("head-000000000000000000007"), std::nullopt);
  EXPECT_EQ(ParseHeadFileName("head-0000000000000000000x"), std::nullopt);
  EXPECT_EQ(ParseHeadFileName("head-+0000000000000000007"), std::nullopt);
  EXPECT_EQ(ParseHeadFileName(".head.tmp"), std::nullopt);
  EXPECT_EQ(ParseHeadFileName("Head-00000000000000000007"), std::nullopt);
  // Twenty digits can exceed 2^64-1: not a head name (and no exception).
  EXPECT_EQ(ParseHeadFileName("head-99999999999999999999"), std::nullopt);
}

TEST(HeadFileTest, TheSignedTextIsEveryLineButTheSignature) {
  EXPECT_EQ(FormatHeadBody(7, Chain(0xab), "2024-08-01T12:00:00.000Z", TestKey(1).id()),
            kHead7.substr(0, kHead7.find("signature: ")));
}

TEST(HeadFileTest, FormatsASignedHeadThatParsesAndVerifies) {
  EXPECT_EQ(FormatHead(TestKey(1), 7, Chain(0xab), "2024-08-01T12:00:00.000Z"), kHead7);
  Result<Head> head = ParseHead(kHead7);
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->seq, 7u);
  EXPECT_EQ(head->chain, Chain(0xab));
  EXPECT_EQ(head->time, "2024-08-01T12:00:00.000Z");
  EXPECT_EQ(FormatKeyId(head->key_id), "1716151413121110");
  EXPECT_EQ(head->signed_text, kHead7.substr(0, kHead7.find("signature: ")));
  EXPECT_TRUE(VerifyHead(TestKey(1).public_key(), *head).ok());
}

TEST(HeadFileTest, AnEditedHeadParsesButDoesNotVerify) {
  Result<Head> head = ParseHead(Edited("seq: 7", "seq: 9"));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->seq, 9u);
  Status s = VerifyHead(TestKey(1).public_key(), *head);
  ASSERT_FALSE(s.ok());
  Status other = VerifyHead(TestKey(2).public_key(), *ParseHead(kHead7));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message, "signed by key 1716151413121110, not by key 2726252423222120");
}

TEST(HeadFileTest, MalformedHeadsAreRejectedWithOneMessage) {
  const std::vector<std::string> bad = {
      "",
      "drift_evidence head v2\nseq: 7\n",
      std::string(kHead7.substr(0, kHead7.size() - 1)),  // no final newline
      Edited("signature: ", "sig: "),                    // no signature line
      Edited("seq: 7\n", ""),                            // a field missing
      Edited("seq: 7\n", "seq: 7\nextra: 1\n"),          // a field too many
      Edited("seq: 7\n", "seq 7\n"),                     // a line without ": "
      Edited("seq: 7", "seq: "),
      Edited("seq: 7", "seq: -7"),
      Edited("seq: 7", "seq: 0x7"),
      Edited("seq: 7", "seq: 000000000000000000007"),  // 21 digits
      Edited("seq: 7", "seq: 99999999999999999999"),   // above 2^64-1
      Edited("chain: ab", "chain: "),
      Edited("key_id: 1716151413121110", "key_id: 17161514131211"),
      Edited("signature: 2pvL", "signature: 2pv"),  // not base64
      Edited("Nx0LAg==", "Nx0L"),                   // not 64 bytes
      Edited("key_id:", "time:"),                   // a field twice, one missing
  };
  for (const std::string& text : bad) {
    Result<Head> head = ParseHead(text);
    ASSERT_FALSE(head.ok()) << text;
    EXPECT_EQ(head.error().message, kNotAHead) << text;
  }
}

}  // namespace
}  // namespace drift::evidence
