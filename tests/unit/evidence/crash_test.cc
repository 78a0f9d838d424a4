// kill -9 at random moments while records are being written: after every kill the verifier
// passes (an interrupted write at the tail is reported, not failed), and after every restart
// the first record is a recovery record, so no gap is silent.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/mutex.h"
#include "evidence/catalog.h"
#include "evidence/verify.h"
#include "evidence/writer.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using testing::TempDir;
using testing::TestKey;
using testing::VerifyWithTestKey;
using namespace std::chrono_literals;

// The child's file system: the real one, announcing each operation with one byte ('o') on a
// pipe before making it, so that the parent can kill the child at a chosen operation.
class AnnouncingFs final : public StoreFs {
 public:
  explicit AnnouncingFs(int fd) : fd_(fd) {}
  Status MakeDir(const std::string& p, mode_t m) override {
    Announce();
    return real_->MakeDir(p, m);
  }
  Result<int> CreateExclusive(const std::string& p, mode_t m) override {
    Announce();
    return real_->CreateExclusive(p, m);
  }
  Status Write(int fd, std::string_view d) override {
    Announce();
    return real_->Write(fd, d);
  }
  Status Sync(int fd) override {
    Announce();
    return real_->Sync(fd);
  }
  Status Close(int fd) override {
    Announce();
    return real_->Close(fd);
  }
  Status Rename(const std::string& a, const std::string& b, bool n) override {
    Announce();
    return real_->Rename(a, b, n);
  }
  Status SyncDir(const std::string& p) override {
    Announce();
    return real_->SyncDir(p);
  }
  Status Remove(const std::string& p) override {
    Announce();
    return real_->Remove(p);
  }
  Status RemoveDir(const std::string& p) override {
    Announce();
    return real_->RemoveDir(p);
  }
  Result<std::vector<std::string>> List(const std::string& d) override {
    Announce();
    return real_->List(d);
  }
  Result<std::string> Read(const std::string& p, std::size_t m) override {
    Announce();
    return real_->Read(p, m);
  }

 private:
  void Announce() {
    // Blocks when the parent stops reading: it then kills this process.
    ssize_t n = ::write(fd_, "o", 1);
    (void)n;
  }
  const int fd_;
  std::unique_ptr<StoreFs> real_ = MakePosixStoreFs();
};

// The child: a writer appending as fast as it can until it is killed. Announces every file
// operation on `events_fd` ('o'), and its first published record ('r'). Never returns.
[[noreturn]] void WriteUntilKilled(const std::string& dir, int events_fd) {
  SystemClock clock;
  AnnouncingFs fs(events_fd);
  Result<std::unique_ptr<Store>> store = Store::Open(dir, "crash-host", fs, clock);
  if (!store.ok()) ::_exit(3);
  WriterOptions options;
  options.attestation_interval = 3ms;
  options.retry_initial = 1ms;
  // A full queue waits for the next publication.
  Mutex mu;
  CondVar published_cv;
  std::uint64_t published = 0;
  WriterEvents events;
  events.on_published = [&, sent = false](const Published&) mutable {
    if (!sent) sent = ::write(events_fd, "r", 1) == 1;
    MutexLock lock(mu);
    ++published;
    published_cv.NotifyAll();
  };
  Writer writer(std::move(*store), TestKey(1), clock, options, events, [] {
    Record r;
    r.kind = "attestation";
    return r;
  });
  for (std::uint64_t i = 0;; ++i) {
    Record r;
    r.kind = "transition";
    r.check = "check-" + std::to_string(i % 7);
    r.payload = {{"i", i}, {"reason", std::string(i % 300, 'r')}};
    MutexLock lock(mu);
    const std::uint64_t seen = published;
    mu.Unlock();
    const bool queued = writer.Enqueue(std::move(r));
    mu.Lock();
    while (!queued && published == seen) published_cv.Wait(mu);
  }
}

// Reads bytes from `fd` until `want` has been read (want 'o': any byte counts), each within
// `limit`. False when the child fell silent.
bool ReadEvents(int fd, int count, char want, std::chrono::milliseconds limit) {
  for (int got = 0; got < count;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
    char c;
    if (::read(fd, &c, 1) != 1) return false;
    if (want == 'o' || c == want) ++got;
  }
  return true;
}

TEST(CrashTest, TwoHundredKillsNeverBreakTheStore) {
  TempDir tmp;
  const std::string dir = tmp / "ev";
  std::mt19937 rng(20240801);
  // Where a kill lands: after this many file operations of the child (start-up, recovery and
  // a few publications take about as many).
  std::uniform_int_distribution<int> operations(0, 80);
  const int kKills = 200;
  int interrupted_seen = 0;
  std::uint64_t last_seq = 0;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kKills; ++i) {
    int events[2];
    ASSERT_EQ(::pipe(events), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(events[0]);
      WriteUntilKilled(dir, events[1]);
    }
    ::close(events[1]);
    // Every other kill lands while the writer is in its steady state (its first record
    // written); the rest anywhere from start-up on, recovery included.
    if (i % 2 == 1) {
      ASSERT_TRUE(ReadEvents(events[0], 1, 'r', 10s)) << "the writer wrote nothing";
    }
    ASSERT_TRUE(ReadEvents(events[0], operations(rng), 'o', 10s)) << "the writer stopped";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ::close(events[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself with " << status;
    if (last_seq == 0 && !std::filesystem::exists(dir + "/records")) continue;  // killed early
    VerifyReport r = VerifyWithTestKey(dir);
    ASSERT_TRUE(r.ok()) << "after kill " << i + 1 << ": " << SummaryLine(r);
    ASSERT_GE(r.last_seq, last_seq) << "records disappeared after kill " << i + 1;
    last_seq = r.last_seq;
    if (!r.interrupted.empty()) ++interrupted_seen;
  }
  // A last run that stops cleanly: every leftover is gone and each earlier run is accounted for.
  {
    SystemClock clock;
    auto fs = MakePosixStoreFs();
    Result<std::unique_ptr<Store>> store = Store::Open(dir, "crash-host", *fs, clock);
    ASSERT_TRUE(store.ok());
    Writer writer(std::move(*store), TestKey(1), clock, {}, {}, nullptr);
    writer.Stop();
  }
  VerifyReport r = VerifyWithTestKey(dir);
  ASSERT_TRUE(r.ok()) << SummaryLine(r);
  EXPECT_TRUE(r.interrupted.empty());
  // At most the very first run began with `start`; every later one with a recovery record
  // (a kill before a run's first record leaves that run without one, so fewer than kills).
  EXPECT_LE(r.runs, 1u);
  EXPECT_GE(r.recoveries, static_cast<std::uint64_t>(kKills / 2));
  EXPECT_LE(r.recoveries, static_cast<std::uint64_t>(kKills));
  ListFilter only_recoveries;
  only_recoveries.kind = "recovery";
  Result<std::vector<StoredRecord>> recoveries = ListRecords(dir, only_recoveries);
  ASSERT_TRUE(recoveries.ok());
  for (const StoredRecord& rec : *recoveries) {
    const nlohmann::json& p = rec.parsed.record.payload;
    const nlohmann::json& reasons = p["reasons"];
    bool unclean = std::find(reasons.begin(), reasons.end(), "unclean_shutdown") != reasons.end();
    // Only a store whose first run died before its first record lacks a previous record.
    EXPECT_TRUE(unclean || !p.contains("previous")) << rec.id << ": " << p.dump();
  }
  std::cout << "[ info ] " << kKills << " kills, " << r.records << " records, " << r.recoveries
            << " recoveries, " << interrupted_seen
            << " kills left an interrupted write at the tail, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms\n";
}

}  // namespace
}  // namespace drift::evidence
