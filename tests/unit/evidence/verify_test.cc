#include "evidence/verify.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "evidence/store.h"
#include "tests/support/fakes.h"
#include "tests/support/memory_store_fs.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

namespace fs = std::filesystem;
using drift::testing::FakeClock;
using testing::ReadText;
using testing::TempDir;
using testing::TestKey;
using testing::WriteText;

const WallTime kT0 = WallTime(std::chrono::seconds(1'722'513'600));  // 2024-08-01T12:00:00Z
const std::string kDay1 = "records/2024/08/01/";
const std::string kDay2 = "records/2024/08/02/";

Record Rec(std::string kind, std::optional<std::string> check = std::nullopt) {
  Record r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  r.payload = {{"note", "fixture"}};
  return r;
}

// Publishes `records` to the store at `dir` (opening and recovering it first).
void Append(const std::string& dir, FakeClock& clock, const SecretKey& key,
            std::vector<Record> records, const std::string& host = "web-1") {
  auto posix = MakePosixStoreFs();
  Result<std::unique_ptr<Store>> store = Store::Open(dir, host, *posix, clock);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->Recover().ok());
  PublishOutcome out = (*store)->Publish(records, key);
  ASSERT_FALSE(out.error) << out.error->message;
}

// The fixture every case starts from (a copy of it): two runs over two days, nine records.
//   08/01: 1 start, 2 config_load, 3 transition fw, 4 attestation
//   08/02: 5 transition fw, 6 attestation, 7 stop, 8 start, 9 attestation
class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new TempDir();
    FakeClock clock(kT0);
    SecretKey key = TestKey(1);
    const std::string dir = *base_ / "store";
    Append(dir, clock, key,
           {Rec("start"), Rec("config_load"), Rec("transition", "fw"), Rec("attestation")});
    clock.Advance(std::chrono::hours(24));
    Append(dir, clock, key, {Rec("transition", "fw"), Rec("attestation"), Rec("stop")});
    clock.Advance(std::chrono::minutes(5));
    Append(dir, clock, key, {Rec("start"), Rec("attestation")});
  }
  static void TearDownTestSuite() {
    delete base_;
    base_ = nullptr;
  }
  void SetUp() override { fs::copy(*base_ / "store", dir_ / "s", fs::copy_options::recursive); }

  std::string P(const std::string& rel) { return dir_ / "s/" + rel; }
  VerifyReport Run(std::vector<PublicKey> keys = {TestKey(1).public_key()}, bool thorough = false) {
    VerifyOptions options;
    options.trusted_keys = std::move(keys);
    options.thorough = thorough;
    Result<VerifyReport> r = VerifyStore(dir_ / "s", options);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : VerifyReport{};
  }
  // Expects the first finding to be `problem` at `seq` with `message`.
  void ExpectFirst(const VerifyReport& r, Problem problem, std::uint64_t seq,
                   const std::string& message) {
    ASSERT_FALSE(r.ok()) << SummaryLine(r);
    EXPECT_EQ(ProblemName(r.findings.front().problem), ProblemName(problem)) << SummaryLine(r);
    EXPECT_EQ(r.findings.front().seq, seq) << SummaryLine(r);
    EXPECT_EQ(r.findings.front().message, message);
  }

  static TempDir* base_;
  TempDir dir_;
};
TempDir* VerifyTest::base_ = nullptr;

TEST_F(VerifyTest, TheFixtureVerifies) {
  VerifyReport r = Run({TestKey(1).public_key()}, /*thorough=*/true);
  ASSERT_TRUE(r.ok()) << SummaryLine(r);
  EXPECT_EQ(r.records, 9u);
  EXPECT_EQ(r.runs, 2u);
  EXPECT_EQ(r.head_seq, 9u);
  EXPECT_EQ(SummaryLine(r),
            "OK: 9 records, seq 1..9, 2024-08-01T12:00:00.000Z .. 2024-08-02T12:05:00.000Z, 2 "
            "runs, 0 recoveries, 0 prunes, keys 1716151413121110");
}

TEST_F(VerifyTest, EditedRecord) {
  std::string path = P(kDay1 + "00000000000000000003-transition.json");
  std::string text = ReadText(path);
  text.replace(text.find("fixture"), 7, "fiXture");
  WriteText(path, text);
  VerifyReport r = Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ProblemName(r.findings.front().problem), "edited_record");
  EXPECT_EQ(r.findings.front().seq, 3u);
  EXPECT_TRUE(r.findings.front().message.starts_with(
      "00000000000000000003-transition.json was changed after signing: its SHA-256 is "))
      << r.findings.front().message;
  EXPECT_EQ(r.findings.size(), 1u) << SummaryLine(r);
  // The thorough mode (minisign's own check) says the same.
  EXPECT_EQ(ProblemName(Run({TestKey(1).public_key()}, true).findings.front().problem),
            "edited_record");
}

// VerifyOptions::fs: the store read through another StoreFs (an in-memory copy of the fixture)
// gets the verdict and findings it gets on disk, the edited record included.
TEST_F(VerifyTest, ReadsThroughTheStoreFsGiven) {
  drift::testing::MemoryStoreFs memory;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir_ / "s")) {
    const std::string at = "/m/" + fs::relative(e.path(), dir_ / "s").string();
    ASSERT_TRUE(e.is_directory() ? memory.AddDir(at) : memory.AddFile(at, ReadText(e.path())));
  }
  auto verify_memory = [&](bool thorough) {
    VerifyOptions options;
    options.trusted_keys = {TestKey(1).public_key()};
    options.thorough = thorough;
    options.fs = &memory;
    Result<VerifyReport> r = VerifyStore("/m", options);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : VerifyReport{};
  };
  VerifyReport r = verify_memory(true);
  EXPECT_TRUE(r.ok()) << SummaryLine(r);
  EXPECT_EQ(r.records, 9u);
  EXPECT_EQ(SummaryLine(r), SummaryLine(Run()));

  const std::string rel = kDay1 + "00000000000000000003-transition.json";
  std::string text = ReadText(P(rel));
  text.replace(text.find("fixture"), 7, "fiXture");
  WriteText(P(rel), text);
  ASSERT_TRUE(memory.AddFile("/m/" + rel, text));
  ASSERT_TRUE(memory.Remove("/m/" + kDay2 + "00000000000000000006-attestation.json.minisig").ok());
  ASSERT_TRUE(fs::remove(P(kDay2 + "00000000000000000006-attestation.json.minisig")));
  VerifyReport on_disk = Run();
  r = verify_memory(false);
  ASSERT_EQ(r.findings.size(), 2u) << SummaryLine(r);
  ASSERT_EQ(on_disk.findings.size(), 2u) << SummaryLine(on_disk);
  for (std::size_t i = 0; i < r.findings.size(); ++i) {
    EXPECT_EQ(ProblemName(r.findings[i].problem), ProblemName(on_disk.findings[i].problem));
    EXPECT_EQ(r.findings[i].seq, on_disk.findings[i].seq);
    EXPECT_EQ(r.findings[i].path, on_disk.findings[i].path);
    EXPECT_EQ(r.findings[i].message, on_disk.findings[i].message);
  }
  EXPECT_EQ(ProblemName(r.findings[0].problem), "edited_record");
  EXPECT_EQ(ProblemName(r.findings[1].problem), "missing_signature");
}

TEST_F(VerifyTest, RecordThatIsNotJson) {
  WriteText(P(kDay1 + "00000000000000000003-transition.json"), "this is not json\n");
  VerifyReport r = Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ProblemName(r.findings.front().problem), "edited_record");
  EXPECT_TRUE(r.findings.front().message.ends_with("; not a record: not valid JSON"))
      << r.findings.front().message;
}

TEST_F(VerifyTest, EditedSignature) {
  std::string path = P(kDay1 + "00000000000000000004-attestation.json.minisig");
  std::string text = ReadText(path);
  text.replace(text.find("seq=4"), 5, "seq=5");
  WriteText(path, text);
  ExpectFirst(Run(), Problem::kEditedSignature, 4,
              "00000000000000000004-attestation.json.minisig: comment signature verification "
              "failed");
}

TEST_F(VerifyTest, GarbledSignatureFile) {
  WriteText(P(kDay1 + "00000000000000000004-attestation.json.minisig"), "untrusted comment: x\n");
  ExpectFirst(Run(), Problem::kEditedSignature, 4,
              "00000000000000000004-attestation.json.minisig: not a minisign signature: expected "
              "4 lines (untrusted comment, signature, trusted comment, global signature)");
}

TEST_F(VerifyTest, MissingSignature) {
  fs::remove(P(kDay2 + "00000000000000000005-transition.json.minisig"));
  ExpectFirst(Run(), Problem::kMissingSignature, 5,
              kDay2 + "00000000000000000005-transition.json: no .minisig beside it");
}

TEST_F(VerifyTest, DeletedRecord) {
  fs::remove(P(kDay2 + "00000000000000000005-transition.json"));
  fs::remove(P(kDay2 + "00000000000000000005-transition.json.minisig"));
  ExpectFirst(Run(), Problem::kDeletedRecord, 5,
              "seq 5 is missing (the records before and after it are present)");
}

TEST_F(VerifyTest, DeletedRecordWhoseSignatureStayed) {
  fs::remove(P(kDay2 + "00000000000000000005-transition.json"));
  ExpectFirst(Run(), Problem::kDeletedRecord, 5,
              kDay2 +
                  "00000000000000000005-transition.json: the signature is there, the "
                  "record was deleted");
}

TEST_F(VerifyTest, DeletedFirstRecords) {
  fs::remove(P(kDay1 + "00000000000000000001-start.json"));
  fs::remove(P(kDay1 + "00000000000000000001-start.json.minisig"));
  ExpectFirst(Run(), Problem::kDeletedRecord, 1,
              "the store starts at seq 2: records 1 to 1 are missing and no prune record "
              "accounts for them");
}

TEST_F(VerifyTest, ReorderedRecords) {
  // Swap the contents of seq 3 and 4 (record and signature each), keeping the names.
  for (std::string suffix : {".json", ".json.minisig"}) {
    std::string a = P(kDay1 + "00000000000000000003-transition" + suffix);
    std::string b = P(kDay1 + "00000000000000000004-attestation" + suffix);
    std::string ta = ReadText(a);
    WriteText(a, ReadText(b));
    WriteText(b, ta);
  }
  ExpectFirst(Run(), Problem::kReorderedRecords, 3,
              "00000000000000000003-transition.json holds the record signed as seq 4");
}

TEST_F(VerifyTest, RecordMovedToAnotherDay) {
  for (std::string suffix : {".json", ".json.minisig"}) {
    fs::rename(P(kDay2 + "00000000000000000007-stop" + suffix),
               P(kDay1 + "00000000000000000007-stop" + suffix));
  }
  ExpectFirst(Run(), Problem::kReorderedRecords, 7,
              "00000000000000000007-stop.json is in folder 2024/08/01, expected 2024/08/02");
}

TEST_F(VerifyTest, DuplicatedRecord) {
  for (std::string suffix : {".json", ".json.minisig"}) {
    fs::copy_file(P(kDay1 + "00000000000000000003-transition" + suffix),
                  P(kDay2 + "00000000000000000003-transition" + suffix));
  }
  ExpectFirst(Run(), Problem::kDuplicateRecord, 3,
              "seq 3 appears 2 times: " + kDay1 + "00000000000000000003-transition.json, " + kDay2 +
                  "00000000000000000003-transition.json");
}

TEST_F(VerifyTest, DuplicatedUnderTheNextSeq) {
  // A copy of seq 9 named as seq 10: its signature says seq 9.
  for (std::string suffix : {".json", ".json.minisig"}) {
    fs::copy_file(P(kDay2 + "00000000000000000009-attestation" + suffix),
                  P(kDay2 + "00000000000000000010-attestation" + suffix));
  }
  ExpectFirst(Run(), Problem::kReorderedRecords, 10,
              "00000000000000000010-attestation.json holds the record signed as seq 9");
}

TEST_F(VerifyTest, TruncatedTail) {
  for (std::string name : {"00000000000000000008-start", "00000000000000000009-attestation"}) {
    fs::remove(P(kDay2 + name + ".json"));
    fs::remove(P(kDay2 + name + ".json.minisig"));
  }
  ExpectFirst(Run(), Problem::kTruncatedTail, 8,
              "the signed head names seq 9, but the store ends at seq 7: records 8 to 9 were "
              "removed");
}

TEST_F(VerifyTest, TruncatedTailWithTheHeadRemovedToo) {
  fs::remove(P(kDay2 + "00000000000000000009-attestation.json"));
  fs::remove(P(kDay2 + "00000000000000000009-attestation.json.minisig"));
  fs::remove(P("head-00000000000000000009"));
  ExpectFirst(Run(), Problem::kTruncatedTail, 9,
              "the head file is missing (no head-<seq> file); the end of the store cannot be "
              "confirmed");
}

TEST_F(VerifyTest, RecordSignedByAnotherKey) {
  // Re-sign seq 6 with a key nobody trusts (same bytes, same comment).
  std::string json = ReadText(P(kDay2 + "00000000000000000006-attestation.json"));
  Result<Signature> old =
      ParseSignatureFile(ReadText(P(kDay2 + "00000000000000000006-attestation.json.minisig")));
  ASSERT_TRUE(old.ok());
  Result<Signature> forged = Sign(TestKey(9), json, old->trusted_comment, "forged");
  ASSERT_TRUE(forged.ok());
  WriteText(P(kDay2 + "00000000000000000006-attestation.json.minisig"),
            FormatSignatureFile(*forged));
  ExpectFirst(Run(), Problem::kUnknownKey, 6,
              "00000000000000000006-attestation.json is signed by key 9796959493929190, which "
              "is not a trusted key");
}

TEST_F(VerifyTest, OrphanFiles) {
  WriteText(P(kDay1 + "notes.txt"), "hello");
  WriteText(P("records/2024/08/stray"), "x");
  WriteText(P("backup.tar"), "x");
  VerifyReport r = Run();
  ASSERT_EQ(r.findings.size(), 3u) << SummaryLine(r);
  for (const Finding& f : r.findings) EXPECT_EQ(ProblemName(f.problem), "orphan_file");
  EXPECT_EQ(r.findings[0].message, "backup.tar: not part of an evidence store");
  EXPECT_EQ(r.findings[1].message,
            "records/2024/08/01/notes.txt: not a record or signature file name");
  EXPECT_EQ(r.findings[2].message, "records/2024/08/stray: not a day folder of the store");
}

TEST_F(VerifyTest, TemporaryFileBelowTheTailIsAnOrphan) {
  WriteText(P(kDay1 + ".00000000000000000002-config_load.json.tmp"), "{");
  ExpectFirst(Run(), Problem::kOrphanFile, 2,
              kDay1 +
                  ".00000000000000000002-config_load.json.tmp: a temporary file below the "
                  "tail (seq 9)");
}

TEST_F(VerifyTest, AnInterruptedWriteAtTheTailIsNotAProblem) {
  WriteText(P(kDay2 + "00000000000000000010-transition.json.minisig"), "partial");
  WriteText(P(kDay2 + ".00000000000000000010-transition.json.tmp"), "{");
  WriteText(P(".head.tmp"), "");
  VerifyReport r = Run();
  ASSERT_TRUE(r.ok()) << SummaryLine(r);
  EXPECT_EQ(r.interrupted.size(), 3u);
  EXPECT_TRUE(SummaryLine(r).ends_with(
      "; 3 file(s) of an interrupted write at the tail, removed on the exporter's next start"));
}

TEST_F(VerifyTest, CrashWithoutRecoveryRecord) {
  TempDir other;
  FakeClock clock(kT0);
  SecretKey key = TestKey(1);
  Append(other / "s", clock, key, {Rec("start"), Rec("transition", "fw")});
  // The next run writes `start` straight away, as if the crash had not happened.
  Append(other / "s", clock, key, {Rec("start")});
  VerifyOptions options;
  options.trusted_keys = {key.public_key()};
  Result<VerifyReport> r = VerifyStore(other / "s", options);
  ASSERT_TRUE(r.ok());
  ExpectFirst(*r, Problem::kUnrecoveredCrash, 3,
              "00000000000000000003-start.json starts a run, but the run before ended without a "
              "stop record (last: seq 2 transition) and no recovery record accounts for the gap");
}

TEST_F(VerifyTest, RecordSplicedFromAnotherStore) {
  // Same key, same layout, another host: seq 5 from there does not continue our seq 4.
  TempDir other;
  FakeClock clock(kT0);
  SecretKey key = TestKey(1);
  Append(other / "s", clock, key,
         {Rec("start"), Rec("config_load"), Rec("transition", "fw"), Rec("attestation")}, "web-2");
  clock.Advance(std::chrono::hours(24));
  Append(other / "s", clock, key, {Rec("transition", "fw")}, "web-2");
  for (std::string suffix : {".json", ".json.minisig"}) {
    fs::copy_file(other / "s/" + kDay2 + "00000000000000000005-transition" + suffix,
                  P(kDay2 + "00000000000000000005-transition" + suffix),
                  fs::copy_options::overwrite_existing);
  }
  ExpectFirst(Run(), Problem::kBrokenChain, 5,
              "00000000000000000005-transition.json: prev_chain does not match the chain value "
              "of seq 4");
}

TEST_F(VerifyTest, KeyRotationExtendsTrust) {
  TempDir other;
  FakeClock clock(kT0);
  SecretKey k1 = TestKey(1);
  SecretKey k2 = TestKey(2);
  Record rotation = Rec("key_rotation");
  rotation.payload = {{"new_public_key", FormatPublicKeyFile(k2.public_key())},
                      {"new_key_id", FormatKeyId(k2.id())}};
  Append(other / "s", clock, k1, {Rec("start"), rotation});
  Append(other / "s", clock, k2, {Rec("attestation"), Rec("stop")});
  VerifyOptions options;
  options.trusted_keys = {k1.public_key()};
  Result<VerifyReport> r = VerifyStore(other / "s", options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok()) << SummaryLine(*r);
  EXPECT_EQ(r->key_ids, (std::vector<std::string>{"1716151413121110", "2726252423222120"}));

  // Trusting only the new key: the records signed before the rotation are not vouched for.
  options.trusted_keys = {k2.public_key()};
  r = VerifyStore(other / "s", options);
  ASSERT_TRUE(r.ok());
  ExpectFirst(*r, Problem::kUnknownKey, 1,
              "00000000000000000001-start.json is signed by key 1716151413121110, which is not "
              "a trusted key");
}

TEST_F(VerifyTest, BadInputIsAnErrorNotAFinding) {
  VerifyOptions options;
  options.trusted_keys = {TestKey(1).public_key()};
  Result<VerifyReport> missing = VerifyStore(dir_ / "nothing", options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "evidence directory " + (dir_ / "nothing") + ": No such file or directory");
  fs::create_directory(dir_ / "empty");
  Result<VerifyReport> empty = VerifyStore(dir_ / "empty", options);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message,
            (dir_ / "empty") + " is not an evidence store: it has no records/ folder");
  EXPECT_EQ(VerifyStore(dir_ / "s", VerifyOptions{}).error().message,
            "no trusted public key given");
}

}  // namespace
}  // namespace drift::evidence

namespace drift::evidence {
namespace {

TEST_F(VerifyTest, AHeadLeftBehindByAnInterruptedUpdateIsNotAProblem) {
  // A crash between writing head-<9> and removing head-<8>: both are there.
  FakeClock clock(kT0);
  SecretKey key = TestKey(1);
  ChainValue chain8{};
  Result<Signature> sig8 =
      ParseSignatureFile(ReadText(P(kDay2 + "00000000000000000008-start.json.minisig")));
  ASSERT_TRUE(sig8.ok());
  chain8 = ParseTrustedComment(sig8->trusted_comment)->chain;
  WriteText(P("head-00000000000000000008"), FormatHead(key, 8, chain8, "2024-08-02T12:05:00.000Z"));
  VerifyReport r = Run();
  ASSERT_TRUE(r.ok()) << SummaryLine(r);
  EXPECT_EQ(r.head_seq, 9u);
  EXPECT_EQ(r.interrupted, (std::vector<std::string>{"head-00000000000000000008"}));
  // The store removes it when it recovers.
  auto posix = MakePosixStoreFs();
  Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "s", "web-1", *posix, clock);
  ASSERT_TRUE(store.ok());
  Result<RecoveryReport> rep = (*store)->Recover();
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->head_seq, 9u);
  EXPECT_FALSE(fs::exists(P("head-00000000000000000008")));
}

TEST_F(VerifyTest, AForgedHeadIsCaught) {
  WriteText(P("head-00000000000000000012"),
            FormatHead(TestKey(9), 12, ChainValue{}, "2024-08-03T00:00:00.000Z"));
  ExpectFirst(Run(), Problem::kTruncatedTail, 10,
              "head-00000000000000000012: signed by key 9796959493929190, which is not trusted");
}

}  // namespace
}  // namespace drift::evidence
