#include "evidence/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <ostream>

#include "evidence/verify.h"
#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using drift::testing::FakeClock;
using drift::testing::FakeMonotonicClock;
using testing::FaultyFs;
using testing::FilesUnder;
using testing::kMinisign;
using testing::ReadText;
using testing::RunProgram;
using testing::TempDir;
using testing::TestKey;
using testing::WriteText;

// 2024-08-01T12:00:00Z
const WallTime kT0 = WallTime(std::chrono::seconds(1'722'513'600));

Record Rec(std::string kind, std::optional<std::string> check = std::nullopt) {
  Record r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  if (r.check) r.controls = {"hipaa:164.312(b)"};
  r.payload = {{"n", 1}};
  return r;
}

VerifyReport Verify(const std::string& dir, const SecretKey& key) {
  VerifyOptions options;
  options.trusted_keys = {key.public_key()};
  options.thorough = true;
  Result<VerifyReport> r = VerifyStore(dir, options);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : VerifyReport{};
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore(StoreFs& fs) {
    Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs, clock_, options_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    Result<RecoveryReport> rep = (*store)->Recover();
    EXPECT_TRUE(rep.ok()) << rep.error().message;
    return std::move(*store);
  }
  PublishOutcome Publish(Store& store, std::vector<Record> records) {
    return store.Publish(records, key_);
  }

  TempDir dir_;
  // The head interval's time: it passes only when a test advances it.
  FakeMonotonicClock monotonic_;
  // A head write after every publication, waited for by the next: the order of file operations
  // is fixed, so a fault can be injected at any single one. CoalescedHeadTest coalesces.
  StoreOptions options_{.head_interval = std::chrono::milliseconds(0),
                        .monotonic_clock = &monotonic_};
  FakeClock clock_{kT0};
  SecretKey key_ = TestKey(1);
  FaultyFs fs_;
};

TEST_F(StoreTest, PublishesSignedChainedRecordsInDayFolders) {
  auto store = OpenStore(fs_);
  PublishOutcome out = Publish(*store, {Rec("start"), Rec("transition", "fw")});
  ASSERT_FALSE(out.error) << out.error->message;
  ASSERT_EQ(out.published.size(), 2u);
  EXPECT_EQ(out.published[0].id, "00000000000000000001-start");
  EXPECT_EQ(out.published[1].path, "records/2024/08/01/00000000000000000002-transition.json");
  EXPECT_EQ(out.published[1].check, "fw");
  ASSERT_TRUE(store->FinishHead().ok());  // the head is written in the background
  EXPECT_EQ(FilesUnder(dir_ / "ev"),
            (std::vector<std::string>{
                "head-00000000000000000002", "keys/1716151413121110.pub",
                "records/2024/08/01/00000000000000000001-start.json",
                "records/2024/08/01/00000000000000000001-start.json.minisig",
                "records/2024/08/01/00000000000000000002-transition.json",
                "records/2024/08/01/00000000000000000002-transition.json.minisig", "writer.lock"}));
  // The second record continues the chain the first one's signature states.
  Result<Signature> sig1 = ParseSignatureFile(
      ReadText(dir_ / "ev/records/2024/08/01/00000000000000000001-start.json.minisig"));
  ASSERT_TRUE(sig1.ok());
  Result<TrustedComment> c1 = ParseTrustedComment(sig1->trusted_comment);
  ASSERT_TRUE(c1.ok());
  Result<ParsedRecord> r2 =
      ParseRecord(ReadText(dir_ / "ev/records/2024/08/01/00000000000000000002-transition.json"));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->header.prev_chain, c1->chain);
  EXPECT_EQ(r2->header.host, "web-1");
  EXPECT_EQ(store->tail().seq, 2u);
  struct stat st {};
  ASSERT_EQ(
      ::stat((dir_ / "ev/records/2024/08/01/00000000000000000002-transition.json").c_str(), &st),
      0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  Result<Head> head = ParseHead(ReadText(dir_ / "ev/head-00000000000000000002"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, 2u);
  EXPECT_TRUE(VerifyHead(key_.public_key(), *head).ok());
  EXPECT_TRUE(Verify(dir_ / "ev", key_).ok());
}

TEST_F(StoreTest, EveryRecordVerifiesWithTheRealMinisign) {
  if (::access(kMinisign, X_OK) != 0) GTEST_SKIP() << "minisign not installed";
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start"), Rec("transition", "fw"), Rec("stop")}).error);
  for (const std::string& f : FilesUnder(dir_ / "ev/records")) {
    if (!f.ends_with(".json")) continue;
    CommandOutput out = RunProgram(
        {kMinisign, "-Vm", dir_ / "ev/records/" + f, "-p", dir_ / "ev/keys/1716151413121110.pub"});
    EXPECT_EQ(out.exit_code, 0) << f << ": " << out.out << out.err;
    EXPECT_NE(out.out.find("Trusted comment: drift_evidence v1 seq="), std::string::npos);
  }
}

TEST_F(StoreTest, FoldersNeverGoBackWhenTheClockDoes) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  clock_.Advance(std::chrono::hours(24));
  ASSERT_FALSE(Publish(*store, {Rec("transition", "a")}).error);
  clock_.Advance(-std::chrono::hours(25));  // NTP steps back across midnight
  PublishOutcome out = Publish(*store, {Rec("transition", "b")});
  ASSERT_FALSE(out.error);
  EXPECT_EQ(out.published[0].path, "records/2024/08/02/00000000000000000003-transition.json");
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_TRUE(Verify(dir_ / "ev", key_).ok());

  // A restarted store finds the tail in the newest folder.
  store.reset();  // one writer at a time (StoreLock)
  auto again = OpenStore(fs_);
  EXPECT_EQ(again->tail().seq, 3u);
  EXPECT_EQ(again->tail().folder, "2024/08/02");
}

TEST_F(StoreTest, RecoverRemovesWhatAnInterruptedWriteLeft) {
  {
    auto store = OpenStore(fs_);
    ASSERT_FALSE(Publish(*store, {Rec("start"), Rec("transition", "fw")}).error);
  }
  const std::string day = dir_ / "ev/records/2024/08/01/";
  // A crash after the signature of seq 3 was renamed into place, with seq 4's temporaries.
  WriteText(day + "00000000000000000003-transition.json.minisig", "sig");
  WriteText(day + ".00000000000000000003-transition.json.tmp", "{");
  WriteText(day + ".00000000000000000004-stop.json.tmp", "");
  WriteText(dir_ / "ev/.head.tmp", "x");
  ASSERT_TRUE(Verify(dir_ / "ev", key_).ok()) << SummaryLine(Verify(dir_ / "ev", key_));

  Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
  ASSERT_TRUE(store.ok());
  Result<RecoveryReport> rep = (*store)->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_FALSE(rep->clean);
  EXPECT_EQ(rep->tail.seq, 2u);
  EXPECT_EQ(rep->tail.kind, "transition");
  EXPECT_EQ(rep->head_seq, 2u);
  std::vector<std::string> removed = rep->removed;
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{
                         ".head.tmp", "2024/08/01/.00000000000000000003-transition.json.tmp",
                         "2024/08/01/.00000000000000000004-stop.json.tmp",
                         "2024/08/01/00000000000000000003-transition.json.minisig"}));
  PublishOutcome out = (*store)->Publish(std::vector<Record>{Rec("recovery")}, key_);
  ASSERT_FALSE(out.error);
  EXPECT_EQ(out.published[0].seq, 3u);
  ASSERT_TRUE((*store)->FinishHead().ok());
  VerifyReport report = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(report.ok()) << SummaryLine(report);
  EXPECT_TRUE(report.interrupted.empty());
}

TEST_F(StoreTest, AStoreEndingInStopIsClean) {
  {
    auto store = OpenStore(fs_);
    ASSERT_FALSE(Publish(*store, {Rec("start"), Rec("stop")}).error);
  }
  Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
  Result<RecoveryReport> rep = (*store)->Recover();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->clean);
  EXPECT_EQ(rep->tail.kind, "stop");
  EXPECT_EQ(rep->tail.key_id, key_.id());
}

// Each file operation of a publication, failed once through the writer seam.
struct FaultCase {
  FsOp op;
  int err;
  int skip;                              // calls of that op to let through first
  std::uint64_t visible_after_recovery;  // records on disk after Recover (failed batch of 2)
};

// How gtest shows a case (instead of its bytes).
void PrintTo(const FaultCase& c, std::ostream* os) {
  *os << FsOpName(c.op) << " fails with " << std::strerror(c.err) << " after " << c.skip
      << " calls";
}

class StoreFaultTest : public StoreTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(StoreFaultTest, AFailedOperationStopsThePublicationAndRecoveryMendsIt) {
  const FaultCase& c = GetParam();
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());   // its head's calls are not counted below
  clock_.Advance(std::chrono::hours(24));  // a new day folder: mkdir is exercised too
  fs_.FailNext(c.op, c.err, c.skip);
  PublishOutcome out = Publish(*store, {Rec("transition", "a"), Rec("transition", "b")});
  ASSERT_TRUE(out.error.has_value());
  EXPECT_EQ(out.failed_op, c.op);
  EXPECT_NE(out.error->message.find(std::strerror(c.err)), std::string::npos) << out.error->message;
  EXPECT_TRUE(store->needs_recovery());
  // Nothing is retried behind the caller's back: the store refuses until recovered.
  PublishOutcome refused = Publish(*store, {Rec("transition", "c")});
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->message, "the evidence store needs recovery before it can publish");

  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->tail.seq, c.visible_after_recovery);
  PublishOutcome next = Publish(*store, {Rec("recovery")});
  ASSERT_FALSE(next.error) << next.error->message;
  EXPECT_EQ(next.published[0].seq, c.visible_after_recovery + 1);
  ASSERT_TRUE(store->FinishHead().ok());
  VerifyReport report = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(report.ok()) << SummaryLine(report);
  EXPECT_TRUE(report.interrupted.empty());
}

INSTANTIATE_TEST_SUITE_P(
    EveryOperation, StoreFaultTest,
    ::testing::Values(FaultCase{FsOp::kMkdir, EACCES, 0, 1}, FaultCase{FsOp::kOpen, ENOSPC, 1, 1},
                      FaultCase{FsOp::kWrite, ENOSPC, 2, 1}, FaultCase{FsOp::kFsync, EIO, 1, 1},
                      FaultCase{FsOp::kClose, EIO, 3, 1},
                      // The first record's signature is in place, its record is not.
                      FaultCase{FsOp::kRename, EROFS, 1, 1},
                      // The directory fsync comes after the renames: both records are visible.
                      FaultCase{FsOp::kFsyncDir, EIO, 3, 3}),
    [](const auto& param_info) { return std::string(FsOpName(param_info.param.op)); });

// The head files and temporary head under `dir`.
std::vector<std::string> HeadFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& f : FilesUnder(dir)) {
    if (f.starts_with("head-") || f == kHeadTemp) out.push_back(f);
  }
  return out;
}

// A step of the background head update of a new store's first publication, failed once.
struct HeadFaultCase {
  FsOp op;
  int err;
  int skip;  // calls of that op the publication makes before its head update's
  std::uint64_t head_seq_after_recovery;
  std::vector<std::string> removed_by_recovery;
};

void PrintTo(const HeadFaultCase& c, std::ostream* os) {
  *os << "head " << FsOpName(c.op) << " fails with " << std::strerror(c.err);
}

class HeadFaultTest : public StoreTest, public ::testing::WithParamInterface<HeadFaultCase> {};

TEST_P(HeadFaultTest, AFailedBackgroundHeadUpdateFailsTheNextPublishBeforeItWrites) {
  const HeadFaultCase& c = GetParam();
  auto store = OpenStore(fs_);
  // Before this publication's own head update: the key file, head-0 (a new store's), the record
  // and its signature.
  fs_.FailNext(c.op, c.err, c.skip);
  PublishOutcome first = Publish(*store, {Rec("start")});
  ASSERT_FALSE(first.error) << first.error->message;  // durable; the head follows in the background
  ASSERT_EQ(first.published.size(), 1u);
  EXPECT_FALSE(store->needs_recovery());  // not known until the update is waited for

  PublishOutcome next = Publish(*store, {Rec("transition", "a")});
  ASSERT_TRUE(next.error.has_value());
  EXPECT_TRUE(next.published.empty());
  EXPECT_EQ(next.failed_op, c.op);
  EXPECT_EQ(next.error->message, std::string(FsOpName(c.op)) + ": " + std::strerror(c.err));
  EXPECT_EQ(next.error->sys_errno, c.err);
  EXPECT_TRUE(store->needs_recovery());
  EXPECT_EQ(store->last_failed_op(), c.op);
  EXPECT_EQ(FilesUnder(dir_ / "ev/records"),
            (std::vector<std::string>{"2024/08/01/00000000000000000001-start.json",
                                      "2024/08/01/00000000000000000001-start.json.minisig"}));
  PublishOutcome refused = Publish(*store, {Rec("transition", "a")});
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->message, "the evidence store needs recovery before it can publish");
  EXPECT_EQ(refused.failed_op, c.op);

  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->tail.seq, 1u);
  EXPECT_EQ(rep->head_seq, c.head_seq_after_recovery);
  EXPECT_EQ(rep->removed, c.removed_by_recovery);
  EXPECT_EQ(HeadFiles(dir_ / "ev"),
            std::vector<std::string>{HeadFileName(c.head_seq_after_recovery)});
  PublishOutcome recovered = Publish(*store, {Rec("recovery")});
  ASSERT_FALSE(recovered.error) << recovered.error->message;
  EXPECT_EQ(recovered.published[0].seq, 2u);
  store.reset();
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000002"});
  VerifyReport report = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(report.ok()) << SummaryLine(report);
  EXPECT_TRUE(report.interrupted.empty());
  EXPECT_EQ(report.head_seq, 2u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, HeadFaultTest,
    ::testing::Values(
        // Nothing written: head-0 (before the first record) is the newest head, lagging.
        HeadFaultCase{FsOp::kOpen, ENOSPC, 4, 0, {}},
        HeadFaultCase{FsOp::kWrite, ENOSPC, 4, 0, {".head.tmp"}},
        HeadFaultCase{FsOp::kClose, EIO, 4, 0, {".head.tmp"}},
        HeadFaultCase{FsOp::kRename, EROFS, 4, 0, {".head.tmp"}},
        // head-1 is in place beside head-0: the newer counts, the older goes. The only unlink
        // before it: the key file's stale temporary.
        HeadFaultCase{FsOp::kUnlink, EIO, 1, 1, {}}),
    [](const auto& param_info) { return std::string(FsOpName(param_info.param.op)); });

TEST_F(StoreTest, BackToBackPublicationsLeaveOneHeadNamingTheLastRecord) {
  {
    auto store = OpenStore(fs_);
    for (const char* check : {"a", "b", "c"}) {
      ASSERT_FALSE(Publish(*store, {Rec("transition", check)}).error);
    }
  }  // destroyed with the last head update under way
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000003"});
  Result<Head> head = ParseHead(ReadText(dir_ / "ev/head-00000000000000000003"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, 3u);
  EXPECT_TRUE(VerifyHead(key_.public_key(), *head).ok());
  VerifyReport report = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(report.ok()) << SummaryLine(report);
  EXPECT_TRUE(report.interrupted.empty());
  EXPECT_EQ(report.head_seq, 3u);
  Result<std::unique_ptr<Store>> again = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
  ASSERT_TRUE(again.ok());
  Result<RecoveryReport> rep = (*again)->Recover();
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->head_seq, 3u);
  EXPECT_TRUE(rep->removed.empty());
}

TEST_F(StoreTest, AStopRecordsHeadIsInPlaceWhenPublishReturns) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_FALSE(Publish(*store, {Rec("transition", "a"), Rec("stop")}).error);
  // No FinishHead: a stopping exporter may never publish again.
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000003"});
  EXPECT_TRUE(store->FinishHead().ok());  // nothing under way
}

TEST_F(StoreTest, NoStaleHeadTemporaryIsRemovedUnlessAHeadWriteFailed) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());
  const int unlinks = fs_.calls(FsOp::kUnlink);
  for (const char* check : {"a", "b", "c"}) {
    ASSERT_FALSE(Publish(*store, {Rec("transition", check)}).error);
  }
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_EQ(fs_.calls(FsOp::kUnlink) - unlinks, 3);  // one previous head each, nothing else
}

TEST_F(StoreTest, ReadOnlyFileSystemAtRecovery) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  fs_.FailAlways(FsOp::kMkdir, EROFS);
  Result<RecoveryReport> rep = store->Recover();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(store->last_failed_op(), FsOp::kMkdir);
  EXPECT_EQ(rep.error().sys_errno, EROFS);
  fs_.Heal();
  EXPECT_TRUE(store->Recover().ok());
}

// A real write failure, no seam: the file-size limit makes write(2) fail with EFBIG.
TEST_F(StoreTest, RealWriteFailureFromAFileSizeLimit) {
  auto real = MakePosixStoreFs();
  auto store = OpenStore(*real);
  ASSERT_FALSE(store->Publish(std::vector<Record>{Rec("start")}, key_).error);
  ASSERT_TRUE(store->FinishHead().ok());  // written before the limit, which it would exceed
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_action {};
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 100;  // bytes; a record is several hundred
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Record big = Rec("transition", "fw");
  big.payload["text"] = std::string(500, 'x');
  PublishOutcome out = store->Publish(std::vector<Record>{big}, key_);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  ASSERT_TRUE(out.error.has_value());
  EXPECT_EQ(out.failed_op, FsOp::kWrite);
  EXPECT_EQ(out.error->sys_errno, EFBIG);
  ASSERT_TRUE(store->Recover().ok());
  ASSERT_FALSE(store->Publish(std::vector<Record>{Rec("recovery")}, key_).error);
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_TRUE(Verify(dir_ / "ev", key_).ok());
}

// A real full file system: a 64 KiB tmpfs (needs CAP_SYS_ADMIN to mount).
TEST_F(StoreTest, RealFullFileSystem) {
  const std::string mnt = dir_ / "small";
  ::mkdir(mnt.c_str(), 0750);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0750") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  auto real = MakePosixStoreFs();
  {
    Result<std::unique_ptr<Store>> store = Store::Open(mnt + "/ev", "web-1", *real, clock_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->Recover().ok());
    ASSERT_FALSE((*store)->Publish(std::vector<Record>{Rec("start")}, key_).error);
    ASSERT_TRUE((*store)->FinishHead().ok());
    // Fill the rest of the file system.
    WriteText(mnt + "/filler", std::string(128 * 1024, 'f'));
    Record r = Rec("transition", "fw");
    r.payload["text"] = std::string(8000, 'x');
    PublishOutcome out;
    for (int i = 0; i < 20 && !out.error; ++i)
      out = (*store)->Publish(std::vector<Record>{r}, key_);
    ASSERT_TRUE(out.error.has_value());
    EXPECT_EQ(out.error->sys_errno, ENOSPC) << out.error->message;
    ::unlink((mnt + "/filler").c_str());
    ASSERT_TRUE((*store)->Recover().ok());
    ASSERT_FALSE((*store)->Publish(std::vector<Record>{Rec("recovery")}, key_).error);
    ASSERT_TRUE((*store)->FinishHead().ok());
    EXPECT_TRUE(Verify(mnt + "/ev", key_).ok()) << SummaryLine(Verify(mnt + "/ev", key_));
  }
  ASSERT_EQ(::umount(mnt.c_str()), 0);
}

TEST_F(StoreTest, PruneRemovesOldDaysWithASignedRecordTheVerifierAccepts) {
  auto store = OpenStore(fs_);
  for (int day = 0; day < 5; ++day) {
    ASSERT_FALSE(
        Publish(*store, {Rec(day == 0 ? "start" : "attestation"), Rec("attestation")}).error);
    clock_.Advance(std::chrono::hours(24));
  }
  // Days 08/01 .. 08/05 hold seqs 1-2, 3-4, 5-6, 7-8, 9-10. Keep from 08/03 on.
  Result<PruneReport> report = store->Prune("2024/08/03", key_);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->folders, (std::vector<std::string>{"2024/08/01", "2024/08/02"}));
  EXPECT_EQ(report->records_removed, 4u);
  ASSERT_TRUE(report->record.has_value());
  EXPECT_EQ(report->record->seq, 11u);
  Result<ParsedRecord> prune = ParseRecord(ReadText(dir_ / "ev/" + report->record->path));
  ASSERT_TRUE(prune.ok());
  EXPECT_EQ(prune->record.payload["first_kept_seq"], 5);
  EXPECT_EQ(prune->record.payload["records_removed"], 4);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ev/records/2024/08/01"));
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.first_seq, 5u);
  EXPECT_EQ(v.prunes, 1u);

  // Nothing old enough: nothing happens, no record.
  Result<PruneReport> none = store->Prune("2024/08/03", key_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->record.has_value());
}

TEST_F(StoreTest, AnInterruptedPruneStillVerifiesAndTheNextOneFinishes) {
  auto store = OpenStore(fs_);
  for (int day = 0; day < 3; ++day) {
    ASSERT_FALSE(
        Publish(*store, {Rec(day == 0 ? "start" : "attestation"), Rec("attestation")}).error);
    clock_.Advance(std::chrono::hours(24));
  }
  // The prune record is written, then the process dies after the first file is gone.
  // Unlinks let through: the previous head (by the prune record's head update, which Prune
  // waits for before removing anything), seq 1's record.
  ASSERT_TRUE(store->FinishHead().ok());
  fs_.FailNext(FsOp::kUnlink, EIO, 2);
  Result<PruneReport> failed = store->Prune("2024/08/03", key_);
  ASSERT_FALSE(failed.ok());
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.awaiting_prune, 3u);  // seq 1's record is gone; its signature, 2, 3, 4 are left
  ASSERT_TRUE(store->Recover().ok());
  Result<PruneReport> again = store->Prune("2024/08/03", key_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.awaiting_prune, 0u);
  EXPECT_EQ(v.prunes, 2u);
}

TEST_F(StoreTest, OpenRejectsADirectoryOthersMayWriteOrOwn) {
  ASSERT_EQ(::mkdir((dir_ / "open").c_str(), 0777), 0);
  ::chmod((dir_ / "open").c_str(), 0777);
  Result<std::unique_ptr<Store>> open = Store::Open(dir_ / "open", "h", fs_, clock_);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().message, "evidence directory " + (dir_ / "open") +
                                      " has mode 0777; it must not be writable by group or "
                                      "others (chmod 0750 " +
                                      (dir_ / "open") + ")");
  WriteText(dir_ / "file", "x");
  EXPECT_EQ(Store::Open(dir_ / "file", "h", fs_, clock_).error().message,
            "evidence directory " + (dir_ / "file") + ": not a directory");
  if (::geteuid() == 0) {
    ASSERT_EQ(::mkdir((dir_ / "theirs").c_str(), 0750), 0);
    ASSERT_EQ(::chown((dir_ / "theirs").c_str(), 65534, 65534), 0);
    EXPECT_EQ(Store::Open(dir_ / "theirs", "h", fs_, clock_).error().message,
              "evidence directory " + (dir_ / "theirs") +
                  " is owned by uid 65534, not by uid 0 that runs drift_exporter; chown it to "
                  "the exporter's user");
  }
}

// Coalesced head writes (the default interval is 100 ms). With an interval of an hour no head write
// starts by itself during a test, so the head files show exactly what the flush points wrote.
class CoalescedHeadTest : public StoreTest {
 protected:
  CoalescedHeadTest() { options_.head_interval = std::chrono::hours(1); }
  // Publishes `n` transitions, one publication each.
  void PublishEach(Store& store, int n) {
    for (int i = 0; i < n; ++i) {
      PublishOutcome out = Publish(store, {Rec("transition", "c" + std::to_string(i))});
      ASSERT_FALSE(out.error) << out.error->message;
    }
  }
  int HeadWrites() const { return fs_.creates_named(std::string(kHeadTemp)); }
  // A copy of the store as it is now: what a crash now, or a backup taken now, leaves.
  std::string Snapshot(const std::string& name) {
    std::filesystem::copy(dir_ / "ev", dir_ / name, std::filesystem::copy_options::recursive);
    return dir_ / name;
  }
};

// Removes the records (and signatures) with seq >= `first` from the store at `dir`.
void RemoveRecordsFrom(const std::string& dir, std::uint64_t first) {
  for (const std::string& f : FilesUnder(dir + "/records")) {
    auto parsed = ParseRecordFileName(f.substr(f.rfind('/') + 1));
    if (parsed && parsed->seq >= first) std::filesystem::remove(dir + "/records/" + f);
  }
}

TEST_F(CoalescedHeadTest, ABurstOfRecordsCostsOneHeadWriteAndFinishHeadWritesTheTail) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000001"});
  const int before = HeadWrites();
  PublishEach(*store, 20);
  EXPECT_EQ(store->tail().seq, 21u);
  // Inside the interval nothing is written, nothing waited for: the head lags the tail.
  EXPECT_EQ(HeadWrites(), before);
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000001"});
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_EQ(HeadWrites(), before + 1);  // the newest head only
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000021"});
  Result<Head> head = ParseHead(ReadText(dir_ / "ev/head-00000000000000000021"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, store->tail().seq);
  EXPECT_EQ(head->chain, store->tail().chain);
  EXPECT_EQ(head->time, FormatRecordTime(store->tail().time));
  EXPECT_TRUE(VerifyHead(key_.public_key(), *head).ok());
  ASSERT_TRUE(store->FinishHead().ok());  // nothing new to write
  EXPECT_EQ(HeadWrites(), before + 1);
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 21u);
}

TEST_F(CoalescedHeadTest, AHeadLaggingTheTailIsNoProblemForVerifyOrRecover) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  PublishEach(*store, 4);
  ASSERT_TRUE(store->FinishHead().ok());
  PublishEach(*store, 5);  // seqs 6-10, inside the interval
  ASSERT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000005"});
  const std::string copy = Snapshot("copy");
  VerifyReport v = Verify(copy, key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 5u);
  EXPECT_EQ(v.last_seq, 10u);
  EXPECT_TRUE(v.interrupted.empty());
  Result<std::unique_ptr<Store>> again = Store::Open(copy, "web-1", fs_, clock_, options_);
  ASSERT_TRUE(again.ok());
  Result<RecoveryReport> rep = (*again)->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->tail.seq, 10u);
  EXPECT_EQ(rep->head_seq, 5u);
  EXPECT_TRUE(rep->removed.empty());  // a lagging head is not an interrupted write
  EXPECT_FALSE(rep->clean);           // only because the last record is not a stop
  ASSERT_FALSE((*again)->Publish(std::vector<Record>{Rec("recovery")}, key_).error);
  again->reset();
  v = Verify(copy, key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 11u);
}

TEST_F(CoalescedHeadTest, TruncationIsDetectedDownToTheHeadButNotInsideItsLag) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  PublishEach(*store, 4);
  ASSERT_TRUE(store->FinishHead().ok());  // head-5
  PublishEach(*store, 5);                 // seqs 6-10: published after the head
  // The record the head names, and everything after it.
  std::string cut = Snapshot("cut5");
  RemoveRecordsFrom(cut, 5);
  VerifyReport v = Verify(cut, key_);
  EXPECT_EQ(SummaryLine(v),
            "FAIL: truncated_tail: the signed head names seq 5, but the store ends at seq 4: "
            "records 5 to 5 were removed");
  // Further down.
  cut = Snapshot("cut3");
  RemoveRecordsFrom(cut, 3);
  v = Verify(cut, key_);
  EXPECT_EQ(SummaryLine(v),
            "FAIL: truncated_tail: the signed head names seq 5, but the store ends at seq 2: "
            "records 3 to 5 were removed");
  // Only records the head does not name yet: not detectable (docs/evidence.md, "Head").
  cut = Snapshot("cut7");
  RemoveRecordsFrom(cut, 7);
  v = Verify(cut, key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.last_seq, 6u);
  // Once the head has caught up, the same cut is detected.
  ASSERT_TRUE(store->FinishHead().ok());
  cut = Snapshot("cut7-after");
  RemoveRecordsFrom(cut, 7);
  v = Verify(cut, key_);
  EXPECT_EQ(SummaryLine(v),
            "FAIL: truncated_tail: the signed head names seq 10, but the store ends at seq 6: "
            "records 7 to 10 were removed");
}

TEST_F(CoalescedHeadTest, AHeadLeftFromLostRecordsIsReplacedWhenTheStoreGrowsBackToIt) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  PublishEach(*store, 3);
  ASSERT_TRUE(store->FinishHead().ok());
  RemoveRecordsFrom(dir_ / "ev", 3);  // seqs 3 and 4 lost: head-4 is ahead of the tail
  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->tail.seq, 2u);
  EXPECT_EQ(rep->head_seq, 4u);
  // New seqs 3 and 4 inside the interval: one head write, head-4 again, over the stale one.
  ASSERT_FALSE(Publish(*store, {Rec("recovery")}).error);
  PublishEach(*store, 1);
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000004"});
  ASSERT_TRUE(store->FinishHead().ok());
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000004"});
  Result<Head> head = ParseHead(ReadText(dir_ / "ev/head-00000000000000000004"));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->chain, store->tail().chain);
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 4u);
}

TEST_F(CoalescedHeadTest, AStopRecordsHeadIsWrittenBeforePublishReturns) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());
  PublishEach(*store, 3);
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000001"});
  const int before = HeadWrites();
  ASSERT_FALSE(Publish(*store, {Rec("stop")}).error);
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000005"});
  EXPECT_EQ(HeadWrites(), before + 1);
}

TEST_F(CoalescedHeadTest, TheDestructorWritesTheLastHead) {
  {
    auto store = OpenStore(fs_);
    ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
    PublishEach(*store, 6);
    // head-0, written before the first record; seq 1's head is due an hour later.
    EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000000"});
  }
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000007"});
  EXPECT_EQ(HeadWrites(), 2);
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 7u);
}

TEST_F(CoalescedHeadTest, RecoverWritesTheLastHeadBeforeItLooks) {
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  PublishEach(*store, 3);
  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->head_seq, 4u);
  EXPECT_TRUE(rep->removed.empty());
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000004"});
}

TEST_F(CoalescedHeadTest, PruneWritesTheHeadsBeforeRemovingAnything) {
  auto store = OpenStore(fs_);
  for (int day = 0; day < 3; ++day) {
    ASSERT_FALSE(
        Publish(*store, {Rec(day == 0 ? "start" : "attestation"), Rec("attestation")}).error);
    clock_.Advance(std::chrono::hours(24));
  }
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000000"});
  Result<PruneReport> report = store->Prune("2024/08/03", key_);
  ASSERT_TRUE(report.ok()) << report.error().message;
  ASSERT_TRUE(report->record.has_value());
  EXPECT_EQ(report->record->seq, 7u);
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000007"});
  EXPECT_EQ(HeadWrites(), 3);  // head-0; seq 6's (Prune flushes first); the prune record's
  VerifyReport v = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.head_seq, 7u);
}

TEST_F(StoreTest, AnIdleStoresHeadCatchesUpWithinTheInterval) {
  options_.head_interval = std::chrono::milliseconds(50);
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());
  for (const char* check : {"a", "b", "c"}) {
    ASSERT_FALSE(Publish(*store, {Rec("transition", check)}).error);
  }
  // No flush point: the head thread writes the newest head by itself once the interval is over
  // (its last step removes the previous head).
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000001"});
  const int removals = fs_.completed(FsOp::kUnlink);
  monotonic_.Advance(options_.head_interval);
  ASSERT_TRUE(fs_.AwaitCompleted(FsOp::kUnlink, removals + 1));
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{"head-00000000000000000004"});
}

TEST_F(StoreTest, AFailedCoalescedHeadWriteIsReportedByTheNextPublishBeforeItWrites) {
  options_.head_interval = std::chrono::milliseconds(20);
  auto store = OpenStore(fs_);
  ASSERT_FALSE(Publish(*store, {Rec("start")}).error);
  ASSERT_TRUE(store->FinishHead().ok());  // head-1
  fs_.FailNextRenameFrom("/" + std::string(kHeadTemp), EROFS);
  // The head thread writes by itself once 20 ms have passed. Publications go on meanwhile
  // without waiting for it, until the first one that starts after the failure, which reports it.
  std::uint64_t published = 1;
  PublishOutcome failed;
  auto publish = [&] {
    PublishOutcome out = Publish(*store, {Rec("transition", "a")});
    if (out.error) {
      failed = std::move(out);
      return false;
    }
    EXPECT_EQ(out.published.size(), 1u);
    if (!out.published.empty()) published = out.published[0].seq;
    return true;
  };
  ASSERT_TRUE(publish());
  ASSERT_TRUE(publish());
  const int renames = fs_.completed(FsOp::kRename);
  monotonic_.Advance(options_.head_interval);
  ASSERT_TRUE(fs_.AwaitCompleted(FsOp::kRename, renames + 1));  // the head's, failed
  // The head thread records the failure just after its rename returns: one or two more
  // publications may start before it has.
  for (int i = 0; i < 100 && publish(); ++i) {
  }
  ASSERT_TRUE(failed.error.has_value()) << "no publication reported the failed head write";
  EXPECT_TRUE(failed.published.empty());
  EXPECT_EQ(failed.failed_op, FsOp::kRename);
  EXPECT_EQ(failed.error->message, "rename: " + std::string(std::strerror(EROFS)));
  EXPECT_EQ(failed.error->sys_errno, EROFS);
  EXPECT_TRUE(store->needs_recovery());
  EXPECT_EQ(store->last_failed_op(), FsOp::kRename);
  EXPECT_GE(published, 2u);  // the publication whose head failed
  EXPECT_EQ(store->tail().seq, published);
  // The failing publication wrote nothing: the record files end at `published`.
  EXPECT_EQ(FilesUnder(dir_ / "ev/records").size(), 2 * published);

  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->tail.seq, published);
  EXPECT_EQ(rep->head_seq, 1u);  // the failed write was the first since head-1
  EXPECT_EQ(rep->removed, std::vector<std::string>{std::string(kHeadTemp)});
  PublishOutcome recovered = Publish(*store, {Rec("recovery")});
  ASSERT_FALSE(recovered.error) << recovered.error->message;
  EXPECT_EQ(recovered.published[0].seq, published + 1);
  store.reset();
  EXPECT_EQ(HeadFiles(dir_ / "ev"), std::vector<std::string>{HeadFileName(published + 1)});
  VerifyReport report = Verify(dir_ / "ev", key_);
  EXPECT_TRUE(report.ok()) << SummaryLine(report);
  EXPECT_TRUE(report.interrupted.empty());
}

}  // namespace
}  // namespace drift::evidence
