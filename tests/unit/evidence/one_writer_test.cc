// One writer per store: the lock (StoreLock) refuses a second writer before it touches anything,
// in this process or another, and a process killed with the lock leaves none behind; a writer
// that finds records it did not write (a writer without the lock) stops at once, overwriting
// nothing; attestations that fall due while the store cannot be written are counted and named.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "evidence/catalog.h"
#include "evidence/store.h"
#include "evidence/verify.h"
#include "evidence/writer.h"
#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using drift::testing::FakeClock;
using drift::testing::FakeMonotonicClock;
using testing::FaultyFs;
using testing::FilesUnder;
using testing::Notifier;
using testing::ReadText;
using testing::TempDir;
using testing::TestKey;
using testing::VerifyWithTestKey;
using namespace std::chrono_literals;

const WallTime kT0 = WallTime(std::chrono::seconds(1'722'513'600));  // 2024-08-01T12:00:00Z
const std::string kDay = "records/2024/08/01";

Record Rec(std::string kind, std::optional<std::string> check = std::nullopt) {
  Record r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  return r;
}

std::vector<std::string> Kinds(const std::string& dir) {
  Result<std::vector<StoredRecord>> all = ListRecords(dir, {});
  EXPECT_TRUE(all.ok()) << all.error().message;
  std::vector<std::string> kinds;
  if (all.ok()) {
    for (const StoredRecord& r : *all) kinds.push_back(r.parsed.record.kind);
  }
  return kinds;
}

// A copy of the records and keys of the store at `from` (not its head, which the writer's
// head thread may be replacing meanwhile).
void CopyRecords(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  for (const char* sub : {"records", "keys"}) {
    std::filesystem::copy(from + "/" + sub, to + "/" + sub,
                          std::filesystem::copy_options::recursive);
  }
}

// What a second writer without the lock (an older binary, a file system without flock) does to
// the store at `dir`: it finds the tail and publishes `records` after it. Done on a copy of the
// store, whose new record files are then copied in, so that this process's lock on `dir` does
// not stop it. Sets the changed folders' mtime to a fixed past time, as a change made after the
// clock ticked moves it (docs/evidence.md, "One writer"). Returns the files added.
std::vector<std::string> ForeignWriterPublishes(const std::string& dir, std::vector<Record> records,
                                                const Clock& clock) {
  const std::string copy = dir + ".other";
  std::filesystem::remove_all(copy);
  CopyRecords(dir, copy);
  std::vector<std::string> before = FilesUnder(copy);
  {
    auto fs = MakePosixStoreFs();
    Result<std::unique_ptr<Store>> other = Store::Open(copy, "web-1", *fs, clock);
    EXPECT_TRUE(other.ok()) << other.error().message;
    EXPECT_TRUE((*other)->Recover().ok());
    PublishOutcome out = (*other)->Publish(records, TestKey(1));
    EXPECT_FALSE(out.error) << out.error->message;
  }
  std::vector<std::string> added;
  for (const std::string& f : FilesUnder(copy)) {
    if (!f.starts_with("records/") || std::find(before.begin(), before.end(), f) != before.end()) {
      continue;
    }
    std::filesystem::create_directories(std::filesystem::path(dir + "/" + f).parent_path());
    std::filesystem::copy_file(copy + "/" + f, dir + "/" + f);
    added.push_back(f);
    const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};
    const std::string folder = std::filesystem::path(dir + "/" + f).parent_path().string();
    EXPECT_EQ(::utimensat(AT_FDCWD, folder.c_str(), times, 0), 0);
  }
  std::filesystem::remove_all(copy);
  return added;
}

class StoreLockTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Store>> Open() { return Store::Open(dir_ / "ev", "web-1", fs_, clock_); }
  std::string LockRefusal(pid_t holder) {
    return "evidence directory " + (dir_ / "ev") + " is in use by another writer: pid " +
           std::to_string(holder) + " holds " + (dir_ / "ev/writer.lock") +
           ". One writer per store: stop it, or give this instance its own evidence.directory";
  }

  TempDir dir_;
  FakeClock clock_{kT0};
  FaultyFs fs_;
};

TEST_F(StoreLockTest, ASecondStoreOnTheDirectoryIsRefusedBeforeItTouchesAnything) {
  Result<std::unique_ptr<Store>> first = Open();
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE((*first)->Recover().ok());
  ASSERT_FALSE((*first)->Publish(std::vector<Record>{Rec("start")}, TestKey(1)).error);
  ASSERT_TRUE((*first)->FinishHead().ok());
  EXPECT_EQ(ReadText(dir_ / "ev/writer.lock"), std::to_string(::getpid()) + "\n");
  const std::vector<std::string> files = FilesUnder(dir_ / "ev");
  const int calls = fs_.calls(FsOp::kRead) + fs_.calls(FsOp::kList) + fs_.calls(FsOp::kOpen) +
                    fs_.calls(FsOp::kMkdir) + fs_.calls(FsOp::kUnlink);

  Result<std::unique_ptr<Store>> second = Open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().sys_errno, EWOULDBLOCK);
  EXPECT_EQ(second.error().message, LockRefusal(::getpid()));
  EXPECT_EQ(FilesUnder(dir_ / "ev"), files);
  EXPECT_EQ(fs_.calls(FsOp::kRead) + fs_.calls(FsOp::kList) + fs_.calls(FsOp::kOpen) +
                fs_.calls(FsOp::kMkdir) + fs_.calls(FsOp::kUnlink),
            calls);
  EXPECT_EQ(ReadText(dir_ / "ev/writer.lock"), std::to_string(::getpid()) + "\n");

  // The first goes on; once it is closed, the next writer gets the lock.
  ASSERT_FALSE((*first)->Publish(std::vector<Record>{Rec("stop")}, TestKey(1)).error);
  first->reset();
  Result<std::unique_ptr<Store>> third = Open();
  ASSERT_TRUE(third.ok()) << third.error().message;
  third->reset();
  VerifyReport v = VerifyWithTestKey(dir_ / "ev");
  EXPECT_TRUE(v.ok()) << SummaryLine(v);  // the lock file is part of a store
}

TEST_F(StoreLockTest, AnotherProcessHoldsItUntilItIsKilledAndLeavesNoFalseRefusal) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    Result<StoreLock> lock = StoreLock::Acquire(Store::CheckDirectory(dir_ / "ev").value());
    if (!lock.ok() || ::write(ready[1], "x", 1) != 1) ::_exit(3);
    for (;;) ::pause();  // until killed
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  Result<std::unique_ptr<Store>> refused = Open();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, LockRefusal(child));
  EXPECT_EQ(FilesUnder(dir_ / "ev"), std::vector<std::string>{"writer.lock"});

  // kill -9 leaves the file, with the dead pid in it, but not the lock.
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(ReadText(dir_ / "ev/writer.lock"), std::to_string(child) + "\n");
  Result<std::unique_ptr<Store>> after = Open();
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(ReadText(dir_ / "ev/writer.lock"), std::to_string(::getpid()) + "\n");
}

TEST_F(StoreLockTest, AnUnreadablePidIsSaidSo) {
  Result<std::unique_ptr<Store>> first = Open();
  ASSERT_TRUE(first.ok());
  // A holder between its flock and its pid write leaves the file empty (or an old one's pid).
  ASSERT_EQ(::truncate((dir_ / "ev/writer.lock").c_str(), 0), 0);
  Result<std::unique_ptr<Store>> second = Open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message,
            "evidence directory " + (dir_ / "ev") +
                " is in use by another writer: a process that has not written its pid holds " +
                (dir_ / "ev/writer.lock") +
                ". One writer per store: stop it, or give this instance its own "
                "evidence.directory");
}

// The lock is taken without a shell or helper, close-on-exec: a check command the daemon
// spawns never inherits it.
TEST_F(StoreLockTest, TheLockDescriptorIsCloseOnExec) {
  Result<std::unique_ptr<Store>> first = Open();
  ASSERT_TRUE(first.ok());
  int found = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target.string() != dir_ / "ev/writer.lock") continue;
    int fd = std::stoi(e.path().filename().string());
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ++found;
  }
  EXPECT_EQ(found, 1);
}

// A store that cannot be written at start-up is not refused for it (the writer starts unhealthy
// and recovers later); it still has one writer. On a tmpfs (needs CAP_SYS_ADMIN to mount).
TEST_F(StoreLockTest, AReadOnlyOrFullFileSystemStillGetsItsOneWriter) {
  const std::string mnt = dir_ / "small";
  ::mkdir(mnt.c_str(), 0750);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0750") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  const std::string ev = mnt + "/ev";
  ASSERT_TRUE(Store::Open(ev, "web-1", fs_, clock_).ok());  // creates the lock file
  // Full: the pid cannot be written; the lock is taken all the same.
  ASSERT_EQ(::truncate((ev + "/writer.lock").c_str(), 0), 0);
  testing::WriteText(mnt + "/filler", std::string(128 * 1024, 'f'));
  {
    Result<std::unique_ptr<Store>> full = Store::Open(ev, "web-1", fs_, clock_);
    ASSERT_TRUE(full.ok()) << full.error().message;
    EXPECT_EQ(ReadText(ev + "/writer.lock"), "");  // ENOSPC
    EXPECT_FALSE(Store::Open(ev, "web-1", fs_, clock_).ok());
  }
  ::unlink((mnt + "/filler").c_str());
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=64k,mode=0750"),
            0);
  {
    Result<std::unique_ptr<Store>> read_only = Store::Open(ev, "web-1", fs_, clock_);
    ASSERT_TRUE(read_only.ok()) << read_only.error().message;
    Result<std::unique_ptr<Store>> second = Store::Open(ev, "web-1", fs_, clock_);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().sys_errno, EWOULDBLOCK);
    ASSERT_FALSE((*read_only)->Recover().ok());  // EROFS: the writer starts unhealthy
  }
  ASSERT_EQ(::umount(mnt.c_str()), 0);
}

class ForeignRecordsTest : public StoreLockTest {
 protected:
  std::unique_ptr<Store> OpenStore() {
    Result<std::unique_ptr<Store>> store =
        Store::Open(dir_ / "ev", "web-1", fs_, clock_, {.head_interval = 0ms});
    EXPECT_TRUE(store.ok()) << store.error().message;
    EXPECT_TRUE((*store)->Recover().ok());
    return std::move(*store);
  }
  PublishOutcome Publish(Store& store, Record r) {
    return store.Publish(std::vector<Record>{std::move(r)}, TestKey(1));
  }
  std::string Refusal(const std::string& folder, const std::string& names, int tail) {
    return "records this process did not write are in " + (dir_ / "ev/") + folder + ": " + names +
           " (its last record is seq " + std::to_string(tail) +
           "); another process writes this evidence store. Nothing was written or overwritten";
  }
};

TEST_F(ForeignRecordsTest, ARecordAboveTheTailStopsThePublicationBeforeItWritesAnything) {
  auto store = OpenStore();
  ASSERT_FALSE(Publish(*store, Rec("start")).error);
  ASSERT_FALSE(Publish(*store, Rec("transition", "fw")).error);
  std::vector<std::string> added = ForeignWriterPublishes(
      dir_ / "ev", {Rec("recovery"), Rec("config_load"), Rec("stop")}, clock_);
  ASSERT_EQ(added.size(), 6u);
  const std::vector<std::string> files = FilesUnder(dir_ / "ev");
  const int creates = fs_.calls(FsOp::kOpen);

  PublishOutcome out = Publish(*store, Rec("attestation"));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.failed_op, FsOp::kTailCheck);
  EXPECT_EQ(out.error->message, Refusal(kDay,
                                        "00000000000000000003-recovery.json, "
                                        "00000000000000000003-recovery.json.minisig, "
                                        "00000000000000000004-config_load.json, "
                                        "00000000000000000004-config_load.json.minisig and 2 more",
                                        2));
  EXPECT_TRUE(out.published.empty());
  EXPECT_TRUE(store->needs_recovery());
  EXPECT_EQ(FilesUnder(dir_ / "ev"), files);
  EXPECT_EQ(fs_.calls(FsOp::kOpen), creates);

  // Recovery takes the store as it is; the chain goes on after the other writer's records.
  Result<RecoveryReport> rep = store->Recover();
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->tail.seq, 5u);
  out = Publish(*store, Rec("recovery"));
  ASSERT_FALSE(out.error) << out.error->message;
  EXPECT_EQ(out.published.front().seq, 6u);
  ASSERT_TRUE(store->FinishHead().ok());
  VerifyReport v = VerifyWithTestKey(dir_ / "ev");
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
}

// The incident: both writers published seq 3 at about the same time, under different kinds.
TEST_F(ForeignRecordsTest, AnotherRecordUnderAnOwnSeqIsFoundAtTheNextPublication) {
  auto store = OpenStore();
  ASSERT_FALSE(Publish(*store, Rec("start")).error);
  ASSERT_FALSE(Publish(*store, Rec("transition", "fw")).error);
  const std::string copy = dir_ / "before";
  CopyRecords(dir_ / "ev", copy);
  ASSERT_FALSE(Publish(*store, Rec("attestation")).error);  // seq 3, ours
  // The other writer started from the copy's tail (seq 2), so it wrote seq 3 too.
  std::vector<std::string> added = ForeignWriterPublishes(copy, {Rec("recovery")}, clock_);
  ASSERT_EQ(added.size(), 2u);
  for (const std::string& f : added) {
    std::filesystem::copy_file(copy + "/" + f, dir_ / "ev/" + f);
  }
  const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ / "ev/" + kDay).c_str(), times, 0), 0);

  PublishOutcome out = Publish(*store, Rec("attestation"));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.failed_op, FsOp::kTailCheck);
  EXPECT_EQ(out.error->message, Refusal(kDay,
                                        "00000000000000000003-recovery.json, "
                                        "00000000000000000003-recovery.json.minisig",
                                        3));
}

TEST_F(ForeignRecordsTest, ANewDayFolderWithRecordsInItIsAnotherWritersToo) {
  auto store = OpenStore();
  ASSERT_FALSE(Publish(*store, Rec("start")).error);
  clock_.Advance(24h);
  ForeignWriterPublishes(dir_ / "ev", {Rec("recovery")}, clock_);
  // Its records went into the next day's folder; the tail's folder did not change.
  PublishOutcome out = Publish(*store, Rec("attestation"));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.failed_op, FsOp::kTailCheck);
  EXPECT_EQ(out.error->message, Refusal("records/2024/08/02",
                                        "00000000000000000002-recovery.json, "
                                        "00000000000000000002-recovery.json.minisig",
                                        1));
}

TEST_F(ForeignRecordsTest, OwnPublicationsAndRecoveriesAreNeverForeign) {
  auto store = OpenStore();
  for (int i = 0; i < 5; ++i) {
    PublishOutcome out = store->Publish(
        std::vector<Record>{Rec("transition", "a"), Rec("transition", "b")}, TestKey(1));
    ASSERT_FALSE(out.error) << out.error->message;
    // Whatever moved the folder's mtime, a listing finds only this store's records.
    const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000 + i, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ / "ev/" + kDay).c_str(), times, 0), 0);
  }
  // A failed publication leaves files that recovery removes; the next one goes on.
  fs_.FailNext(FsOp::kFsync, EIO);
  ASSERT_TRUE(Publish(*store, Rec("transition", "c")).error);
  ASSERT_TRUE(store->Recover().ok());
  ASSERT_FALSE(Publish(*store, Rec("recovery")).error);
  clock_.Advance(24h);
  ASSERT_FALSE(Publish(*store, Rec("attestation")).error);
  ASSERT_FALSE(Publish(*store, Rec("attestation")).error);
  EXPECT_EQ(store->tail().seq, 13u);
}

class OneWriterTest : public StoreLockTest {
 protected:
  std::unique_ptr<Writer> Start(WriterOptions options, bool* opened = nullptr) {
    Result<std::unique_ptr<Store>> store = Open();
    if (opened) *opened = store.ok();
    if (!store.ok()) return nullptr;
    // Each report wakes `events_`.
    WriterEvents events;
    events.on_published = [this](const Published&) { events_.Notify(); };
    events.on_health = [this](bool healthy, const std::string& reason) {
      {
        std::lock_guard lock(mu_);
        health_.emplace_back(healthy, reason);
      }
      events_.Notify();
    };
    events.on_write_error = [this](FsOp op, const Error&) {
      {
        std::lock_guard lock(mu_);
        errors_.push_back(std::string(FsOpName(op)));
      }
      events_.Notify();
    };
    events.on_missed_attestations = [this](std::uint64_t n) {
      {
        std::lock_guard lock(mu_);
        missed_ += n;
      }
      events_.Notify();
    };
    return std::make_unique<Writer>(
        std::move(*store), TestKey(1), clock_, options, events,
        [] {
          Record r = Rec("attestation");
          r.payload = {{"checks", nlohmann::json::array()}};
          return r;
        },
        monotonic_);
  }
  std::size_t ErrorCount() {
    std::lock_guard lock(mu_);
    return errors_.size();
  }
  // After the write error number `errors`: waits until the writer waits for its retry, then
  // lets `delay` pass.
  ::testing::AssertionResult PassRetryDelay(std::size_t errors, std::chrono::milliseconds delay) {
    if (!events_.Await([&] { return ErrorCount() >= errors; })) {
      return ::testing::AssertionFailure() << "no write error " << errors;
    }
    if (!monotonic_.AwaitWaiters(1)) return ::testing::AssertionFailure() << "no retry pending";
    monotonic_.Advance(delay);
    return ::testing::AssertionSuccess();
  }
  nlohmann::json Payload(const std::string& kind, std::size_t index = 0) {
    ListFilter filter;
    filter.kind = kind;
    Result<std::vector<StoredRecord>> r = ListRecords(dir_ / "ev", filter);
    EXPECT_TRUE(r.ok() && r->size() > index);
    return r.ok() && r->size() > index ? (*r)[index].parsed.record.payload : nlohmann::json();
  }

  std::mutex mu_;
  std::vector<std::pair<bool, std::string>> health_;
  std::vector<std::string> errors_;
  std::uint64_t missed_ = 0;
  FakeMonotonicClock monotonic_;
  Notifier events_;
};

TEST_F(OneWriterTest, TheLockIsHeldUntilStopAndThenReleased) {
  auto writer = Start({});
  ASSERT_TRUE(writer);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  bool opened = true;
  EXPECT_FALSE(Start({}, &opened));
  EXPECT_FALSE(opened);
  writer->Stop();  // the object lives on; the store is closed
  auto next = Start({});
  ASSERT_TRUE(next);
  next->Stop();
  EXPECT_EQ(Kinds(dir_ / "ev"), (std::vector<std::string>{"start", "stop", "start", "stop"}));
}

TEST_F(OneWriterTest, ForeignRecordsMakeItUnhealthyAtOnceAndTheRecoveryNamesThem) {
  WriterOptions options;
  options.retry_initial = 20ms;
  auto writer = Start(options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  ASSERT_TRUE(writer->Append(Rec("transition", "fw"), 5s).ok());
  ForeignWriterPublishes(dir_ / "ev", {Rec("recovery"), Rec("stop")}, clock_);
  // The next publication finds them: unhealthy before it writes anything.
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "av")));
  ASSERT_TRUE(events_.Await([&] {
    std::lock_guard lock(mu_);
    return !health_.empty();
  }));
  {
    std::lock_guard lock(mu_);
    EXPECT_FALSE(health_[0].first);
    EXPECT_TRUE(health_[0].second.starts_with(
        "tail_check failed: records this process did not write are in " + (dir_ / "ev/") + kDay +
        ": 00000000000000000003-recovery.json, "))
        << health_[0].second;
    EXPECT_EQ(errors_.front(), "tail_check");
  }
  ASSERT_TRUE(PassRetryDelay(1, options.retry_initial));
  ASSERT_TRUE(events_.Await([&] { return writer->healthy() && writer->last_seq() == 6; }));
  writer->Stop();
  EXPECT_EQ(Kinds(dir_ / "ev"), (std::vector<std::string>{"start", "transition", "recovery", "stop",
                                                          "recovery", "transition", "stop"}));
  nlohmann::json p = Payload("recovery", 1);
  EXPECT_EQ(p["reasons"], nlohmann::json::array({"foreign_records"}));
  EXPECT_EQ(p["foreign_records"], (nlohmann::json{{"first_seq", 3}, {"last_seq", 4}}));
  EXPECT_EQ(p["failure"]["op"], "tail_check");
  VerifyReport v = VerifyWithTestKey(dir_ / "ev");
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
}

TEST_F(OneWriterTest, AttestationsMissedWhileUnhealthyAreCountedNamedAndFollowedByOne) {
  WriterOptions options;
  options.attestation_interval = 20ms;
  options.retry_initial = 100ms;
  options.retry_max = 100ms;
  auto writer = Start(options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  monotonic_.Advance(options.attestation_interval);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() >= 2; }));  // start, an attestation
  fs_.FailAlways(FsOp::kOpen, EROFS);
  monotonic_.Advance(options.attestation_interval);  // the next attestation fails
  ASSERT_TRUE(events_.Await([&] { return !writer->healthy(); }));
  // Attestations keep falling due; each retry counts them.
  ASSERT_TRUE(PassRetryDelay(1, options.retry_max));
  ASSERT_TRUE(events_.Await([&] { return writer->missed_attestations() >= 3; }));
  ASSERT_TRUE(events_.Await([&] { return ErrorCount() >= 2; }));  // that retry failed
  fs_.Heal();
  ASSERT_TRUE(PassRetryDelay(2, options.retry_max));
  ASSERT_TRUE(events_.Await([&] { return writer->healthy(); }));
  const std::uint64_t missed = writer->missed_attestations();
  ASSERT_TRUE(events_.Await([&] {
    std::vector<std::string> k = Kinds(dir_ / "ev");
    auto rec = std::find(k.begin(), k.end(), "recovery");
    return rec != k.end() && rec + 1 != k.end();
  }));
  writer->Stop();
  std::vector<std::string> kinds = Kinds(dir_ / "ev");
  auto rec = std::find(kinds.begin(), kinds.end(), "recovery");
  ASSERT_NE(rec, kinds.end());
  // The attestation that failed is written after the recovery, then a fresh one at once.
  EXPECT_EQ(*(rec + 1), "attestation");
  nlohmann::json p = Payload("recovery");
  EXPECT_EQ(p["reasons"].front(), "write_failed");
  EXPECT_EQ(p["missed_attestations"]["count"], missed);
  EXPECT_EQ(p["lost_records"], (nlohmann::json{{"store_unhealthy", missed}}));
  EXPECT_LE(p["missed_attestations"]["first_due"].get<std::string>(),
            p["missed_attestations"]["last_due"].get<std::string>());
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(missed_, missed);
  }
  EXPECT_EQ(Payload("stop")["missed_attestations"], missed);
  VerifyReport v = VerifyWithTestKey(dir_ / "ev");
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
}

}  // namespace
}  // namespace drift::evidence
