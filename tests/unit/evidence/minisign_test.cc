#include "evidence/minisign.h"

#include <gtest/gtest.h>

#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using testing::kMinisign;
using testing::ReadText;
using testing::RunProgram;
using testing::TempDir;
using testing::TestKey;
using testing::WriteText;

std::string Bytes(const auto& array) {
  return std::string(reinterpret_cast<const char*>(array.data()), array.size());
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  EXPECT_EQ(start, text.size()) << "text must end with a newline";
  return lines;
}

TEST(KeyId, PrintsTheLittleEndianNumberLikeMinisign) {
  // minisign's public key comment drops leading zeros; our ids keep all 16 digits.
  EXPECT_EQ(MinisignKeyIdText({0xF3, 0x85, 0x0D, 0xFB, 0x60, 0xA7, 0x98, 0x04}), "498A760FB0D85F3");
  EXPECT_EQ(FormatKeyId({0xF3, 0x85, 0x0D, 0xFB, 0x60, 0xA7, 0x98, 0x04}), "0498A760FB0D85F3");
  KeyId id = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xAB};
  EXPECT_EQ(FormatKeyId(id), "AB07060504030201");
  Result<KeyId> back = ParseKeyId("AB07060504030201");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id);
  EXPECT_EQ(ParseKeyId("ab07060504030201").ok(), true);
  EXPECT_EQ(ParseKeyId("AB0706050403020").error().message,
            "expected a key id of 16 hex digits, got \"AB0706050403020\"");
}

TEST(PublicKeyFile, IsMinisignsFormatByteForByte) {
  SecretKey key = TestKey(1);
  std::string text = FormatPublicKeyFile(key.public_key());
  std::vector<std::string> lines = SplitLines(text);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "untrusted comment: minisign public key 171615141312111"
            "0");
  Result<std::string> blob = Base64Decode(lines[1]);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, "Ed" + Bytes(key.id()) + Bytes(key.public_key().key));
  // The seed of TestKey(1) is 32 bytes of 0x01. The public key in this line was derived from that
  // seed independently with OpenSSL (`openssl pkey -pubout` on the raw Ed25519 key).
  EXPECT_EQ(lines[1], "RWQQERITFBUWF4qI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c");
  Result<PublicKey> parsed = ParsePublicKeyFile(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->id, key.id());
  EXPECT_EQ(parsed->key, key.public_key().key);
}

TEST(PublicKeyFile, RejectsOtherFormatsWithReasons) {
  EXPECT_EQ(ParsePublicKeyFile("hello\nworld\nagain\n").error().message,
            "not a minisign public key: expected an \"untrusted comment: \" line and a base64 "
            "line");
  EXPECT_EQ(ParsePublicKeyFile("untrusted comment: x\nnot base64!\n").error().message,
            "not a minisign public key: the key line must be base64 of 42 bytes");
  std::string blob(42, 'x');
  blob[0] = 'E';
  blob[1] = 'C';
  std::string line = Base64Encode(reinterpret_cast<const std::uint8_t*>(blob.data()), 42);
  EXPECT_EQ(ParsePublicKeyFile(line).error().message,
            "not a minisign public key: algorithm \"EC\", expected \"Ed\"");
  // An OpenSSH key is a common mistake.
  EXPECT_FALSE(ParsePublicKeyFile("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI comment\n").ok());
}

TEST(Signature, HasMinisignsLayoutAndBothSignaturesVerify) {
  SecretKey key = TestKey(1);
  Result<Signature> sig = Sign(key, "hello\n", "the trusted text", "the untrusted text");
  ASSERT_TRUE(sig.ok());
  std::vector<std::string> lines = SplitLines(FormatSignatureFile(*sig));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "untrusted comment: the untrusted text");
  EXPECT_EQ(lines[2], "trusted comment: the trusted text");
  Result<std::string> blob = Base64Decode(lines[1]);
  ASSERT_TRUE(blob.ok());
  ASSERT_EQ(blob->size(), 74u);
  EXPECT_EQ(blob->substr(0, 2), "ED");  // prehashed
  EXPECT_EQ(blob->substr(2, 8), Bytes(key.id()));
  // The signature covers BLAKE2b-512 of the file, not the file itself.
  Ed25519Signature file_sig{};
  std::copy(blob->begin() + 10, blob->end(), file_sig.begin());
  EXPECT_TRUE(VerifyEd25519(key.public_key(), Bytes(Blake2b512("hello\n")), file_sig).ok());
  EXPECT_FALSE(VerifyEd25519(key.public_key(), "hello\n", file_sig).ok());
  // The global signature covers the signature bytes followed by the trusted comment text.
  Result<std::string> global = Base64Decode(lines[3]);
  ASSERT_TRUE(global.ok());
  Ed25519Signature global_sig{};
  std::copy(global->begin(), global->end(), global_sig.begin());
  EXPECT_TRUE(
      VerifyEd25519(key.public_key(), Bytes(file_sig) + "the trusted text", global_sig).ok());
  // Ed25519 is deterministic. Both lines were computed independently with OpenSSL
  // (`openssl pkeyutl -sign -rawin` over Python's hashlib.blake2b(digest_size=64) of the file,
  // then over that signature followed by the comment).
  EXPECT_EQ(
      lines[1],
      "RUQQERITFBUWF8uDiYjBvMgeblNxvkCF8oB0he5MUp91pkulhNLqb77BReBPOCIQY7ib1DfO9iVykWKYrfygZm32"
      "svhjbmnPPgM=");
  EXPECT_EQ(
      lines[3],
      "35L1bSY5IeCxst2CB4oYsP1yGkUW0csxvsI17naJLE5lUQraSsjBL74RvcbqbcPuA3nx6DnYl8Z67zQi0g6rBg==");
}

TEST(Signature, ParsesWhatItFormatsAndVerifies) {
  SecretKey key = TestKey(2);
  Result<Signature> sig = Sign(key, "data", "tc", "uc");
  ASSERT_TRUE(sig.ok());
  Result<Signature> parsed = ParseSignatureFile(FormatSignatureFile(*sig));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifySignature(key.public_key(), "data", *parsed).ok());
  EXPECT_EQ(VerifySignature(key.public_key(), "datA", *parsed).error().message,
            "signature verification failed");
  parsed->trusted_comment = "tC";
  EXPECT_EQ(VerifySignature(key.public_key(), "data", *parsed).error().message,
            "comment signature verification failed");
  EXPECT_EQ(VerifySignature(TestKey(3).public_key(), "data", *parsed).error().message,
            "signed by key 2726252423222120, not by key 3736353433323130");
}

TEST(Signature, RejectsMalformedFiles) {
  EXPECT_EQ(ParseSignatureFile("untrusted comment: x\n").error().message,
            "not a minisign signature: expected 4 lines (untrusted comment, signature, trusted "
            "comment, global signature)");
  SecretKey key = TestKey(1);
  Result<Signature> sig = Sign(key, "x", "t", "u");
  ASSERT_TRUE(sig.ok());
  std::string text = FormatSignatureFile(*sig);
  // The legacy (non-prehashed) algorithm: "Ed" instead of "ED".
  std::vector<std::string> lines = SplitLines(text);
  std::string blob = *Base64Decode(lines[1]);
  blob[1] = 'd';
  lines[1] = Base64Encode(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size());
  EXPECT_EQ(
      ParseSignatureFile(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3] + "\n")
          .error()
          .message,
      "unsupported signature algorithm \"Ed\": expected the prehashed \"ED\"");
  EXPECT_FALSE(Sign(key, "x", "two\nlines", "u").ok());
  // A CR of its own in a comment: not what Sign() writes, and it would not read back.
  for (int comment : {0, 2}) {
    std::vector<std::string> damaged = lines;
    damaged[comment] += "\r";
    EXPECT_EQ(ParseSignatureFile(damaged[0] + "\r\n" + damaged[1] + "\n" + damaged[2] + "\r\n" +
                                 damaged[3] + "\n")
                  .error()
                  .message,
              "not a minisign signature: a comment holds a carriage return or NUL");
  }
}

TEST(SecretKeyFile, RoundTripsAndRejectsDamage) {
  SecretKey key = TestKey(4);
  std::string text = key.FormatFile();
  EXPECT_TRUE(
      text.starts_with("drift_exporter evidence secret key v1\nkey_id: 4746454443424140\n"
                       "secret_key: "));
  Result<SecretKey> back = SecretKey::Parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->public_key().key, key.public_key().key);
  EXPECT_EQ(back->id(), key.id());
  // Flip a byte of the stored public half: the key no longer matches its seed.
  std::string b64 = text.substr(text.find("secret_key: ") + 12);
  b64.pop_back();
  std::string sk = *Base64Decode(b64);
  sk[63] = static_cast<char>(sk[63] ^ 1);
  std::string damaged = text.substr(0, text.find("secret_key: ") + 12) +
                        Base64Encode(reinterpret_cast<const std::uint8_t*>(sk.data()), 64) + "\n";
  EXPECT_EQ(SecretKey::Parse(damaged).error().message,
            "secret_key: the public half does not match the seed (damaged key file)");
  EXPECT_EQ(SecretKey::Parse("untrusted comment: minisign encrypted secret key\nRWRTY0Iy\n")
                .error()
                .message,
            "not a drift_exporter evidence secret key (expected the three lines `drift_exporter "
            "evidence secret key v1`, `key_id: <16 hex digits>`, `secret_key: <base64>` that "
            "`drift_exporter evidence keygen` writes)");
  WipeString(text);
  EXPECT_TRUE(text.empty());
}

class MinisignBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kMinisign, X_OK) != 0) GTEST_SKIP() << kMinisign << " is not installed";
  }
  TempDir dir_;
};

TEST_F(MinisignBinary, VerifiesOurSignatures) {
  SecretKey key = TestKey(5);
  WriteText(dir_ / "key.pub", FormatPublicKeyFile(key.public_key()));
  WriteText(dir_ / "file.json", "{\"a\":1}\n");
  Result<Signature> sig = Sign(key, "{\"a\":1}\n", "seq=1 chain=abc", "signed by a test");
  ASSERT_TRUE(sig.ok());
  WriteText(dir_ / "file.json.minisig", FormatSignatureFile(*sig));
  CommandOutput out = RunProgram({kMinisign, "-Vm", dir_ / "file.json", "-p", dir_ / "key.pub"});
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_EQ(out.out,
            "Signature and comment signature verified\nTrusted comment: seq=1 chain=abc\n");

  WriteText(dir_ / "file.json", "{\"a\":2}\n");
  out = RunProgram({kMinisign, "-Vm", dir_ / "file.json", "-p", dir_ / "key.pub"});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.err.find("Signature verification failed"), std::string::npos) << out.err;
}

TEST_F(MinisignBinary, WeReadItsKeysAndVerifyItsSignatures) {
  CommandOutput gen =
      RunProgram({kMinisign, "-G", "-W", "-p", dir_ / "m.pub", "-s", dir_ / "m.key"});
  ASSERT_EQ(gen.exit_code, 0) << gen.out << gen.err;
  WriteText(dir_ / "data.txt", "some evidence\n");
  CommandOutput sign = RunProgram({kMinisign, "-S", "-s", dir_ / "m.key", "-m", dir_ / "data.txt",
                                   "-t", "their trusted comment"});
  ASSERT_EQ(sign.exit_code, 0) << sign.out << sign.err;

  std::string pub_text = ReadText(dir_ / "m.pub");
  Result<PublicKey> pub = ParsePublicKeyFile(pub_text);
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  // Their comment line names the key id the way we print it.
  EXPECT_EQ(pub_text.substr(0, pub_text.find('\n')),
            "untrusted comment: minisign public key " + MinisignKeyIdText(pub->id));
  Result<Signature> sig = ParseSignatureFile(ReadText(dir_ / "data.txt.minisig"));
  ASSERT_TRUE(sig.ok()) << sig.error().message;
  EXPECT_EQ(sig->trusted_comment, "their trusted comment");
  EXPECT_EQ(sig->key_id, pub->id);
  EXPECT_TRUE(VerifySignature(*pub, "some evidence\n", *sig).ok());
  EXPECT_FALSE(VerifySignature(*pub, "other evidence\n", *sig).ok());
}

}  // namespace
}  // namespace drift::evidence
