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
#include <thread>

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

// The child: a writer appending as fast as it can until it is killed. Writes one byte to
// `ready_fd` once its first record is published. Never returns.
[[noreturn]] void WriteUntilKilled(const std::string& dir, int ready_fd) {
  SystemClock clock;
  auto fs = MakePosixStoreFs();
  Result<std::unique_ptr<Store>> store = Store::Open(dir, "crash-host", *fs, clock);
  if (!store.ok()) ::_exit(3);
  WriterOptions options;
  options.attestation_interval = 3ms;
  options.retry_initial = 1ms;
  WriterEvents events;
  events.on_published = [ready_fd, sent = false](const Published&) mutable {
    if (!sent) sent = ::write(ready_fd, "x", 1) == 1;
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
    if (!writer.Enqueue(std::move(r))) std::this_thread::sleep_for(1ms);
  }
}

// Waits up to `limit` for one byte on `fd`.
bool WaitReadable(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  char c;
  return ::read(fd, &c, 1) == 1;
}

TEST(CrashTest, TwoHundredKillsNeverBreakTheStore) {
  TempDir tmp;
  const std::string dir = tmp / "ev";
  std::mt19937 rng(20240801);
  std::uniform_int_distribution<int> delay_ms(1, 20);
  const int kKills = 200;
  int interrupted_seen = 0;
  std::uint64_t last_seq = 0;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kKills; ++i) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(ready[0]);
      WriteUntilKilled(dir, ready[1]);
    }
    ::close(ready[1]);
    // Every other kill lands while the writer is in its steady state (its first record
    // written); the rest anywhere from start-up on, recovery included.
    if (i % 2 == 1) {
      ASSERT_TRUE(WaitReadable(ready[0], 10s)) << "the writer wrote nothing";
    }
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
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
