#include "evidence/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "evidence/store.h"
#include "evidence/verify.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

namespace fs = std::filesystem;
using drift::testing::FakeClock;
using testing::FilesUnder;
using testing::ReadText;
using testing::TempDir;
using testing::TestKey;

const WallTime kT0 = WallTime(std::chrono::seconds(1'722'513'600));  // 2024-08-01T12:00:00Z

// 1 start, 2 transition fw (hipaa + soc2), 3 transition av (hipaa), 4 attestation — one hour
// apart; 5 stop the next day.
class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto posix = MakePosixStoreFs();
    Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", *posix, clock_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Recover().ok());
    auto publish = [&](Record r) {
      ASSERT_FALSE((*store)->Publish(std::vector<Record>{r}, key_).error);
      clock_.Advance(std::chrono::hours(1));
    };
    Record start;
    start.kind = "start";
    publish(start);
    Record fw;
    fw.kind = "transition";
    fw.check = "fw";
    fw.severity = "critical";
    fw.controls = {"hipaa:164.312(a)(1)", "soc2:CC7.1"};
    fw.payload = {{"from", "compliant"}, {"to", "drifted"}, {"reason", "ruleset changed"}};
    publish(fw);
    Record av = fw;
    av.check = "av";
    av.controls = {"hipaa:164.308(a)(5)(ii)(B)"};
    av.payload = {{"from", "pending"}, {"to", "compliant"}, {"reason", "active"}};
    publish(av);
    Record attest;
    attest.kind = "attestation";
    attest.payload = {
        {"checks",
         {{{"check", "fw"}, {"state", "drifted"}}, {{"check", "av"}, {"state", "compliant"}}}}};
    publish(attest);
    clock_.Advance(std::chrono::hours(24));
    Record stop;
    stop.kind = "stop";
    publish(stop);
  }
  std::vector<std::uint64_t> Seqs(const ListFilter& f) {
    Result<std::vector<StoredRecord>> r = ListRecords(dir_ / "ev", f);
    EXPECT_TRUE(r.ok()) << r.error().message;
    std::vector<std::uint64_t> out;
    if (r.ok()) {
      for (const StoredRecord& s : *r) out.push_back(s.parsed.header.seq);
    }
    return out;
  }

  TempDir dir_;
  FakeClock clock_{kT0};
  SecretKey key_ = TestKey(1);
};

TEST_F(CatalogTest, ListFiltersByCheckControlKindAndTime) {
  EXPECT_EQ(Seqs({}), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  ListFilter f;
  f.check = "fw";
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{2}));
  f = {};
  f.kind = "transition";
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{2, 3}));
  f = {};
  f.control = "CC7.1";
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{2}));
  f.control = "hipaa";
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{2, 3}));
  f.control = "hipaa:164.308(a)(5)(ii)(B)";
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{3}));
  f = {};
  f.since = kT0 + std::chrono::hours(1);
  f.until = kT0 + std::chrono::hours(3);
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{2, 3, 4}));
  f = {};
  f.since = kT0 + std::chrono::hours(24);
  EXPECT_EQ(Seqs(f), (std::vector<std::uint64_t>{5}));
}

TEST_F(CatalogTest, SummarizesPayloads) {
  Result<std::vector<StoredRecord>> all = ListRecords(dir_ / "ev", {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Summarize((*all)[1].parsed), "compliant -> drifted: ruleset changed");
  EXPECT_EQ(Summarize((*all)[3].parsed), "2 checks, 1 compliant, 1 drifted");
}

TEST_F(CatalogTest, FindsARecordBySeqIdOrPath) {
  for (std::string which : {"2", "00000000000000000002-transition",
                            "records/2024/08/01/00000000000000000002-transition.json"}) {
    Result<StoredRecord> r = FindRecord(dir_ / "ev", which);
    ASSERT_TRUE(r.ok()) << which << ": " << r.error().message;
    EXPECT_EQ(r->id, "00000000000000000002-transition");
    EXPECT_EQ(r->path, "records/2024/08/01/00000000000000000002-transition.json");
  }
  EXPECT_EQ(FindRecord(dir_ / "ev", "99").error().message,
            "no record with seq 99 in " + (dir_ / "ev"));
  EXPECT_EQ(FindRecord(dir_ / "ev", "latest").error().message,
            "\"latest\" is not a record id (a seq such as 42, or 00000000000000000042-<kind>)");
}

TEST_F(CatalogTest, AListedRecordThatIsNotJsonIsAnError) {
  testing::WriteText(dir_ / "ev/records/2024/08/01/00000000000000000003-transition.json", "nope");
  Result<std::vector<StoredRecord>> r = ListRecords(dir_ / "ev", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "records/2024/08/01/00000000000000000003-transition.json: not a record: does not end "
            "with a newline (run `drift_exporter evidence verify`)");
}

TEST_F(CatalogTest, ExportsARangeThatVerifiesOnItsOwn) {
  Result<ExportReport> report =
      ExportRecords(dir_ / "ev", kT0 + std::chrono::minutes(30), kT0 + std::chrono::hours(3),
                    dir_ / "out", kT0 + std::chrono::hours(48));
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->records, 3u);
  EXPECT_EQ(report->first_seq, 2u);
  EXPECT_EQ(report->last_seq, 4u);
  EXPECT_EQ(FilesUnder(dir_ / "out"),
            (std::vector<std::string>{
                "README.md", "export.json", "keys/1716151413121110.pub",
                "records/2024/08/01/00000000000000000002-transition.json",
                "records/2024/08/01/00000000000000000002-transition.json.minisig",
                "records/2024/08/01/00000000000000000003-transition.json",
                "records/2024/08/01/00000000000000000003-transition.json.minisig",
                "records/2024/08/01/00000000000000000004-attestation.json",
                "records/2024/08/01/00000000000000000004-attestation.json.minisig"}));
  std::string readme = ReadText(dir_ / "out/README.md");
  EXPECT_NE(readme.find("minisign -Vm records/2024/08/01/00000000000000000004-attestation.json "
                        "-p keys/1716151413121110.pub"),
            std::string::npos)
      << readme;
  EXPECT_NE(readme.find("drift_exporter evidence verify --dir=. "
                        "--public-key=keys/1716151413121110.pub"),
            std::string::npos);

  VerifyOptions options;
  options.trusted_keys = {key_.public_key()};
  Result<VerifyReport> v = VerifyStore(dir_ / "out", options);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << SummaryLine(*v);
  EXPECT_TRUE(v->export_bundle);
  EXPECT_EQ(v->records, 3u);

  // A bundle with its last record removed no longer matches its manifest.
  fs::remove(dir_ / "out/records/2024/08/01/00000000000000000004-attestation.json");
  fs::remove(dir_ / "out/records/2024/08/01/00000000000000000004-attestation.json.minisig");
  v = VerifyStore(dir_ / "out", options);
  ASSERT_TRUE(v.ok());
  ASSERT_FALSE(v->ok());
  EXPECT_EQ(SummaryLine(*v),
            "FAIL: truncated_tail: the bundle should end at seq 4 but ends at seq 3");

  // Refuses to write into a folder that holds something.
  Result<ExportReport> again =
      ExportRecords(dir_ / "ev", std::nullopt, std::nullopt, dir_ / "out", kT0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, (dir_ / "out") + " exists and is not empty");
}

}  // namespace
}  // namespace drift::evidence
