#include "exporter/basic_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace drift::exporter {
namespace {

// Made with `htpasswd -nbBC 10 alice 'correct horse'`, `htpasswd -nbBC 4 carol pw` and
// `mkpasswd -m bcrypt -R 10 s3cret` (libxcrypt's $2b$).
constexpr char kAlice[] = "$2y$10$gU2wP8HoMGLCG5y9K9FLve.X7KE/UVOPDW.P9eeL0aXqWQdF9T7..";
constexpr char kCarol[] = "$2y$04$MIbWqTGeteDbiolalmQZkuNTjAnU3Hj9rdUTIYRX3pABT/48jBxFe";
constexpr char kDave[] = "$2b$10$MX/VmS.hdlHS5m3WwzLWd.vTfTsAdqzrMK37gcyOnevoVSK1BwJva";

// "Basic " + base64 of "user:password".
constexpr char kAliceOk[] = "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==";     // alice:correct horse
constexpr char kAliceWrong[] = "Basic YWxpY2U6d3Jvbmc=";              // alice:wrong
constexpr char kCarolOk[] = "Basic Y2Fyb2w6cHc=";                     // carol:pw
constexpr char kDaveOk[] = "Basic ZGF2ZTpzM2NyZXQ=";                  // dave:s3cret
constexpr char kMalloryAny[] = "Basic bWFsbG9yeTpjb3JyZWN0IGhvcnNl";  // mallory:correct horse

std::map<std::string, std::string> Users() {
  return {{"alice", kAlice}, {"carol", kCarol}, {"dave", kDave}};
}

using Outcome = BasicAuth::Outcome;

TEST(CryptVerify, ChecksHtpasswdAndMkpasswdHashes) {
  EXPECT_TRUE(BasicAuth::CryptVerify("correct horse", kAlice));
  EXPECT_FALSE(BasicAuth::CryptVerify("correct hors", kAlice));
  EXPECT_TRUE(BasicAuth::CryptVerify("pw", kCarol));
  EXPECT_TRUE(BasicAuth::CryptVerify("s3cret", kDave));
  EXPECT_FALSE(BasicAuth::CryptVerify("s3cret", kCarol));
  EXPECT_FALSE(BasicAuth::CryptVerify(std::string_view("pw\0x", 4), kCarol));
  EXPECT_FALSE(BasicAuth::CryptVerify("pw", "not a hash"));
}

TEST(BasicAuth, VerifiesWithLibxcrypt) {
  BasicAuth auth(Users());
  EXPECT_EQ(auth.Verify(kAliceOk), "alice");
  EXPECT_EQ(auth.Verify(kCarolOk), "carol");
  EXPECT_EQ(auth.Verify(kDaveOk), "dave");
  EXPECT_EQ(auth.Verify(kAliceWrong), std::nullopt);
  EXPECT_EQ(auth.Verify(kMalloryAny), std::nullopt);
}

// A verifier that counts its calls and knows one password per hash.
struct CountingVerifier {
  std::atomic<int>* calls;
  std::vector<std::string>* hashes_seen;
  bool operator()(std::string_view password, const std::string& hash) const {
    ++*calls;
    hashes_seen->push_back(hash);
    return (hash == kAlice && password == "correct horse") || (hash == kCarol && password == "pw");
  }
};

TEST(BasicAuth, ASecondVerifyIsServedFromTheCache) {
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1024, .verify = CountingVerifier{&calls, &seen}});
  EXPECT_EQ(auth.Lookup(kAliceOk).outcome, Outcome::kNeedsVerify);
  EXPECT_EQ(auth.Verify(kAliceOk), "alice");
  EXPECT_EQ(calls, 1);
  BasicAuth::Decision d = auth.Lookup(kAliceOk);
  EXPECT_EQ(d.outcome, Outcome::kAuthenticated);
  EXPECT_EQ(d.user, "alice");
  EXPECT_EQ(auth.Verify(kAliceOk), "alice");
  EXPECT_EQ(calls, 1);  // neither Lookup nor the second Verify called the verifier
  // The scheme is case-insensitive and the cache does not care how it was spelt.
  EXPECT_EQ(auth.Lookup("bAsIc   YWxpY2U6Y29ycmVjdCBob3JzZQ==").outcome, Outcome::kAuthenticated);
}

TEST(BasicAuth, FailuresAreNotCached) {
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1024, .verify = CountingVerifier{&calls, &seen}});
  EXPECT_EQ(auth.Verify(kAliceWrong), std::nullopt);
  EXPECT_EQ(auth.Verify(kAliceWrong), std::nullopt);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(auth.Lookup(kAliceWrong).outcome, Outcome::kNeedsVerify);
}

// An unknown user is checked against a dummy hash as costly as the costliest configured one, so
// that answering takes as long as for a user who exists; Lookup cannot tell them apart either.
TEST(BasicAuth, AnUnknownUserCostsABcryptCheckLikeAKnownOne) {
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1024, .verify = CountingVerifier{&calls, &seen}});
  EXPECT_EQ(auth.Lookup(kMalloryAny).outcome, Outcome::kNeedsVerify);
  EXPECT_EQ(auth.Verify(kMalloryAny), std::nullopt);
  ASSERT_EQ(calls, 1);
  EXPECT_TRUE(seen[0].starts_with("$2b$10$")) << seen[0];
  EXPECT_EQ(seen[0].size(), 60u);
  // The dummy is a real setting: crypt runs on it (and matches nothing).
  EXPECT_FALSE(BasicAuth::CryptVerify("correct horse", seen[0]));
}

TEST(BasicAuth, MalformedHeadersAreRejectedWithoutAVerify) {
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1024, .verify = CountingVerifier{&calls, &seen}});
  const std::vector<std::string> bad = {
      "",
      "Basic",
      "Basic ",
      "Bearer YWxpY2U6Y29ycmVjdCBob3JzZQ==",
      "Basically YWxpY2U6Y29ycmVjdCBob3JzZQ==",
      "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ",     // padding missing
      "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==x",  // trailing garbage
      "Basic YWxpY2U6Y29y cmVjdCBob3JzZQ==",  // a space inside
      "Basic YWxpY2U6Y29ycmVjdCBob3JzZR==",   // non-zero unused bits
      "Basic YWxpY2U=",                       // "alice": no ':'
      "Basic OnB3",                           // ":pw": no user
      "Basic YWxpY2U6cHcKeA==",               // "alice:pw\nx": a control character
      "Basic " + std::string(2000, 'A'),      // longer than any credentials
  };
  for (const std::string& header : bad) {
    EXPECT_EQ(auth.Lookup(header).outcome, Outcome::kRejected) << header;
    EXPECT_EQ(auth.Verify(header), std::nullopt) << header;
  }
  EXPECT_EQ(calls, 0);
}

TEST(BasicAuth, ThePasswordSplitsAtTheFirstColon) {
  // "carol:pw:x" is user carol with password "pw:x", which is not hers.
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1024, .verify = CountingVerifier{&calls, &seen}});
  EXPECT_EQ(auth.Verify("Basic Y2Fyb2w6cHc6eA=="), std::nullopt);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen[0], kCarol);
}

TEST(BasicAuth, TheCacheIsBounded) {
  std::atomic<int> calls{0};
  std::vector<std::string> seen;
  BasicAuth auth(Users(), {.cache_entries = 1, .verify = CountingVerifier{&calls, &seen}});
  EXPECT_EQ(auth.Verify(kAliceOk), "alice");
  EXPECT_EQ(auth.Verify(kCarolOk), "carol");  // evicts alice
  EXPECT_EQ(auth.Lookup(kCarolOk).outcome, Outcome::kAuthenticated);
  EXPECT_EQ(auth.Lookup(kAliceOk).outcome, Outcome::kNeedsVerify);
  EXPECT_EQ(auth.Verify(kAliceOk), "alice");
  EXPECT_EQ(calls, 3);
}

// Lookups on the event loop while workers verify: no data race (run under ThreadSanitizer in
// the TSan stage), every answer right.
TEST(BasicAuth, IsThreadSafe) {
  BasicAuth auth(Users(), {.cache_entries = 1024,
                           .verify = [](std::string_view password, const std::string& hash) {
                             return hash == kCarol && password == "pw";
                           }});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (auth.Verify(kCarolOk) != "carol") ++wrong;
        if (auth.Lookup(kAliceWrong).outcome == Outcome::kAuthenticated) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace drift::exporter
