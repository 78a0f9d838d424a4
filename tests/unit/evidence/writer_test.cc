#include "evidence/writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "evidence/catalog.h"
#include "evidence/verify.h"
#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using drift::testing::FakeClock;
using drift::testing::FakeMonotonicClock;
using testing::FaultyFs;
using testing::Notifier;
using testing::TempDir;
using testing::TestKey;
using namespace std::chrono_literals;

const WallTime kT0 = WallTime(std::chrono::seconds(1'722'513'600));  // 2024-08-01T12:00:00Z

Record Rec(std::string kind, std::optional<std::string> check = std::nullopt) {
  Record r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  return r;
}

class WriterTest : public ::testing::Test {
 protected:
  // What the writer reported, recorded thread-safely; each report wakes `events_`.
  struct Log {
    std::mutex mu;
    std::vector<Published> published;
    std::vector<std::pair<bool, std::string>> health;
    std::vector<std::string> errors;  // "op: message"
    int dropped = 0;
  };

  std::unique_ptr<Writer> Start(SecretKey key, WriterOptions options = {}) {
    Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    WriterEvents events;
    events.on_published = [this](const Published& p) {
      {
        std::lock_guard lock(log_.mu);
        log_.published.push_back(p);
      }
      events_.Notify();
    };
    events.on_health = [this](bool healthy, const std::string& reason) {
      {
        std::lock_guard lock(log_.mu);
        log_.health.emplace_back(healthy, reason);
      }
      events_.Notify();
    };
    events.on_write_error = [this](FsOp op, const Error& e) {
      {
        std::lock_guard lock(log_.mu);
        log_.errors.push_back(std::string(FsOpName(op)) + ": " + e.message);
      }
      events_.Notify();
    };
    events.on_dropped = [this] {
      std::lock_guard lock(log_.mu);
      ++log_.dropped;
    };
    return std::make_unique<Writer>(
        std::move(*store), std::move(key), clock_, options, events,
        [] {
          Record r = Rec("attestation");
          r.payload = {{"checks", nlohmann::json::array()}};
          return r;
        },
        monotonic_);
  }
  std::size_t ErrorCount() {
    std::lock_guard lock(log_.mu);
    return log_.errors.size();
  }
  // After a failed write: waits until the writer waits for its retry, then lets the retry
  // delay pass, and waits for the retry's outcome (an error reported, or health).
  ::testing::AssertionResult RetryFails() {
    const std::size_t errors = ErrorCount();
    if (!monotonic_.AwaitWaiters(1)) return ::testing::AssertionFailure() << "no retry pending";
    monotonic_.Advance(kLongestRetry);
    if (!events_.Await([&] { return ErrorCount() > errors; })) {
      return ::testing::AssertionFailure() << "the retry did not fail";
    }
    return ::testing::AssertionSuccess();
  }
  std::vector<std::string> Kinds() {
    Result<std::vector<StoredRecord>> all = ListRecords(dir_ / "ev", {});
    EXPECT_TRUE(all.ok()) << all.error().message;
    std::vector<std::string> kinds;
    if (all.ok()) {
      for (const StoredRecord& r : *all) kinds.push_back(r.parsed.record.kind);
    }
    return kinds;
  }
  nlohmann::json Payload(std::uint64_t seq) {
    Result<StoredRecord> r = FindRecord(dir_ / "ev", std::to_string(seq));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r->parsed.record.payload : nlohmann::json();
  }
  VerifyReport Verify(std::vector<PublicKey> keys = {TestKey(1).public_key()}) {
    VerifyOptions options;
    options.trusted_keys = std::move(keys);
    Result<VerifyReport> r = VerifyStore(dir_ / "ev", options);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : VerifyReport{};
  }
  std::size_t PublishedCount() {
    std::lock_guard lock(log_.mu);
    return log_.published.size();
  }

  // Longer than any retry delay the tests set.
  static constexpr std::chrono::milliseconds kLongestRetry{50};

  TempDir dir_;
  FakeClock clock_{kT0};
  FakeMonotonicClock monotonic_;
  FaultyFs fs_;
  Log log_;
  Notifier events_;
};

TEST_F(WriterTest, WritesStartRecordsAndStopInOrder) {
  auto writer = Start(TestKey(1));
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "fw")));
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "av")));
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "transition", "transition", "stop"}));
  EXPECT_EQ(writer->last_seq(), 4u);
  ASSERT_EQ(PublishedCount(), 4u);
  EXPECT_EQ(log_.published[1].check, "fw");
  EXPECT_EQ(Payload(4)["records_this_run"], 4);
  EXPECT_TRUE(Verify().ok());
  EXPECT_TRUE(log_.health.empty());  // healthy throughout

  // The next run follows a clean stop: `start` again.
  auto again = Start(TestKey(1));
  again->Stop();
  EXPECT_EQ(Kinds().at(4), "start");
  EXPECT_EQ(Payload(5)["previous"]["kind"], "stop");
  EXPECT_FALSE(Payload(5).contains("reasons"));
  EXPECT_TRUE(Verify().ok()) << SummaryLine(Verify());
}

TEST_F(WriterTest, AfterACrashTheFirstRecordIsARecovery) {
  {
    Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
    ASSERT_TRUE((*store)->Recover().ok());
    ASSERT_FALSE(
        (*store)
            ->Publish(std::vector<Record>{Rec("start"), Rec("transition", "fw")}, TestKey(1))
            .error);
  }  // no stop record: the process "died"
  clock_.Advance(10min);
  auto writer = Start(TestKey(1));
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "transition", "recovery", "stop"}));
  nlohmann::json p = Payload(3);
  EXPECT_EQ(p["reasons"], nlohmann::json::array({"unclean_shutdown"}));
  EXPECT_EQ(p["gap_seconds"], 600);
  EXPECT_EQ(p["previous"]["seq"], 2);
  EXPECT_TRUE(Verify().ok()) << SummaryLine(Verify());
}

TEST_F(WriterTest, ADeletedHeadIsNamedInTheRecoveryAndReplaced) {
  {
    Result<std::unique_ptr<Store>> store = Store::Open(dir_ / "ev", "web-1", fs_, clock_);
    ASSERT_TRUE((*store)->Recover().ok());
    ASSERT_FALSE((*store)->Publish(std::vector<Record>{Rec("start")}, TestKey(1)).error);
  }
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "ev")) {
    if (entry.path().filename().string().starts_with("head-")) {
      std::filesystem::remove(entry.path());
      ++removed;
    }
  }
  ASSERT_EQ(removed, 1);
  EXPECT_FALSE(Verify().ok());  // the end of the store cannot be told without a head
  auto writer = Start(TestKey(1));
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "recovery", "stop"}));
  EXPECT_EQ(Payload(2)["reasons"], nlohmann::json::array({"unclean_shutdown", "head_missing"}));
  EXPECT_TRUE(Verify().ok()) << SummaryLine(Verify());
}

TEST_F(WriterTest, AFailedWriteMakesItUnhealthyUntilARecoveryRecordIsWritten) {
  WriterOptions options;
  options.retry_initial = 20ms;
  options.retry_max = 50ms;
  auto writer = Start(TestKey(1), options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  fs_.FailAlways(FsOp::kFsync, EIO);
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "fw")));
  ASSERT_TRUE(events_.Await([&] { return !writer->healthy(); }));
  // Records keep queueing while the disk fails; Append refuses at once.
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "av")));
  Result<Published> refused = writer->Append(Rec("heal_request", "fw"), 1s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "the evidence store is unhealthy; the record was not written");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RetryFails());  // a few retries fail too
  fs_.Heal();
  ASSERT_TRUE(monotonic_.AwaitWaiters(1));
  monotonic_.Advance(kLongestRetry);
  ASSERT_TRUE(events_.Await([&] { return writer->healthy() && writer->last_seq() == 4; }));
  writer->Stop();
  EXPECT_EQ(Kinds(),
            (std::vector<std::string>{"start", "recovery", "transition", "transition", "stop"}));
  nlohmann::json p = Payload(2);
  // The failed fsyncs left temporary files, which the recovery removed and lists.
  EXPECT_EQ(p["reasons"], nlohmann::json::array({"write_failed", "interrupted_write"}));
  EXPECT_FALSE(p["removed_files"].empty());
  EXPECT_EQ(p["failure"]["op"], "fsync");
  EXPECT_EQ(p["failure"]["error"], "fsync: Input/output error");
  EXPECT_GE(p["failure"]["attempts"].get<int>(), 2);
  ASSERT_GE(log_.health.size(), 2u);
  EXPECT_EQ(log_.health[0], std::make_pair(false, std::string("fsync failed: fsync: "
                                                              "Input/output error")));
  EXPECT_EQ(log_.health.back(), std::make_pair(true, std::string()));
  EXPECT_EQ(log_.errors.front(), "fsync: fsync: Input/output error");
  VerifyReport v = Verify();
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.recoveries, 1u);
}

TEST_F(WriterTest, ADirectoryFsyncFailureAfterTheRenamesLosesNothing) {
  WriterOptions options;
  options.retry_initial = 10ms;
  auto writer = Start(TestKey(1), options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  fs_.FailNext(FsOp::kFsyncDir, EIO);
  // Append waits (on the monotonic clock) while the writer fails and waits for its retry.
  std::future<Result<Published>> pending =
      std::async(std::launch::async, [&] { return writer->Append(Rec("transition", "fw"), 5s); });
  ASSERT_TRUE(events_.Await([&] { return ErrorCount() == 1; }));
  ASSERT_TRUE(monotonic_.AwaitWaiters(2));  // Append, and the writer's retry
  monotonic_.Advance(options.retry_initial);
  Result<Published> appended = pending.get();
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(appended->seq, 2u);  // on disk despite the failed fsync: found by the recovery
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "transition", "recovery", "stop"}));
  EXPECT_TRUE(Verify().ok()) << SummaryLine(Verify());
}

TEST_F(WriterTest, DroppedRecordsAreCountedAndNamedInTheNextRecord) {
  WriterOptions options;
  options.queue_capacity = 2;
  options.retry_initial = 10ms;
  auto writer = Start(TestKey(1), options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  fs_.FailAlways(FsOp::kOpen, ENOSPC);
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "a")));
  ASSERT_TRUE(events_.Await([&] { return !writer->healthy(); }));
  EXPECT_TRUE(writer->Enqueue(Rec("transition", "b")));
  EXPECT_FALSE(writer->Enqueue(Rec("transition", "c")));  // full
  EXPECT_FALSE(writer->Enqueue(Rec("transition", "d")));
  EXPECT_EQ(writer->dropped(), 2u);
  EXPECT_EQ(log_.dropped, 2);
  fs_.Heal();
  writer->Stop();
  EXPECT_EQ(Kinds(),
            (std::vector<std::string>{"start", "recovery", "transition", "transition", "stop"}));
  EXPECT_EQ(Payload(2)["lost_records"], (nlohmann::json{{"queue_full", 2}}));
  EXPECT_FALSE(Payload(3).contains("lost_records"));
  EXPECT_EQ(Payload(5)["dropped_total"], 2);
}

TEST_F(WriterTest, AppendReturnsThePublishedRecord) {
  auto writer = Start(TestKey(1));
  Record r = Rec("heal_step", "fw");
  r.actor = "alice@example.com";
  r.payload = {{"step", "systemctl reload nftables.service"}, {"exit_code", 0}};
  Result<Published> p = writer->Append(r, 5s);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->seq, 2u);
  EXPECT_EQ(p->id, "00000000000000000002-heal_step");
  Result<StoredRecord> stored = FindRecord(dir_ / "ev", p->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->parsed.record.actor, "alice@example.com");
  Record bad = Rec("heal_step");
  bad.payload = {{"ratio", 0.5}};
  Result<Published> rejected = writer->Append(bad, 1s);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().message,
            "payload: ratio: floating-point number 0.5 (records hold integers only)");
  writer->Stop();
}

TEST_F(WriterTest, AttestsEveryInterval) {
  WriterOptions options;
  options.attestation_interval = 30ms;
  auto writer = Start(TestKey(1), options);
  ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == 1; }));
  for (std::uint64_t seq : {2u, 3u}) {
    monotonic_.Advance(options.attestation_interval);
    ASSERT_TRUE(events_.Await([&] { return writer->last_seq() == seq; }));
  }
  writer->Stop();
  std::vector<std::string> kinds = Kinds();
  EXPECT_EQ(kinds.front(), "start");
  EXPECT_EQ(kinds.at(1), "attestation");
  EXPECT_EQ(kinds.at(2), "attestation");
  EXPECT_EQ(kinds.back(), "stop");
}

TEST_F(WriterTest, RotatesTheKeyWithARecordSignedByTheOldOne) {
  auto writer = Start(TestKey(1));
  writer->Enqueue(Rec("transition", "fw"));
  writer->RotateKey(TestKey(2));
  writer->Enqueue(Rec("transition", "fw"));
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "transition", "key_rotation", "transition",
                                               "stop"}));
  nlohmann::json p = Payload(3);
  EXPECT_EQ(p["previous_key_id"], "1716151413121110");
  EXPECT_EQ(p["new_key_id"], "2726252423222120");
  EXPECT_EQ(p["signed_by_previous_key"], true);
  VerifyReport v = Verify();  // only the first key is trusted; the rotation vouches for the next
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.key_ids, (std::vector<std::string>{"1716151413121110", "2726252423222120"}));

  // Restarted with a third key the old one never vouched for: recorded, and the verifier needs
  // that key from the auditor.
  auto third = Start(TestKey(3));
  third->Stop();
  nlohmann::json q = Payload(7);
  EXPECT_EQ(Kinds().at(6), "key_rotation");
  EXPECT_EQ(q["signed_by_previous_key"], false);
  EXPECT_EQ(q["previous_key_id"], "2726252423222120");
  EXPECT_EQ(ProblemName(Verify().findings.front().problem), "unknown_key");
  EXPECT_TRUE(Verify({TestKey(1).public_key(), TestKey(3).public_key()}).ok());
}

TEST_F(WriterTest, PrunesPastTheRetentionAtStart) {
  {
    WriterOptions keep;
    auto writer = Start(TestKey(1), keep);
    writer->Stop();
  }
  clock_.Advance(std::chrono::hours(24 * 10));
  WriterOptions options;
  options.retention = std::chrono::hours(24 * 7);
  auto writer = Start(TestKey(1), options);
  writer->Stop();
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"start", "prune", "stop"}));
  VerifyReport v = Verify();
  EXPECT_TRUE(v.ok()) << SummaryLine(v);
  EXPECT_EQ(v.first_seq, 3u);
}

}  // namespace
}  // namespace drift::evidence
