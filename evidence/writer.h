#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "evidence/minisign.h"
#include "evidence/record.h"
#include "evidence/store.h"

namespace drift::evidence {

struct WriterOptions {
  std::size_t queue_capacity = 1024;  // records waiting; beyond it new ones are dropped (counted)
  std::size_t max_batch = 64;         // records published together (one fsync round)
  std::chrono::milliseconds attestation_interval{std::chrono::hours(1)};  // 0 = none
  std::chrono::milliseconds retention{0};  // 0 = keep forever; else prune older day folders
  std::chrono::milliseconds prune_every{std::chrono::hours(24)};
  std::chrono::milliseconds retry_initial{std::chrono::seconds(5)};  // after a failed write
  std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
  nlohmann::json start_info = nlohmann::json::object();  // added to start/recovery payloads
};

// Called on the writer thread (never with a lock of the writer held), except on_dropped, which
// runs on the thread whose Enqueue found the queue full.
struct WriterEvents {
  std::function<void(const Published&)> on_published;
  std::function<void(FsOp op, const Error& error)> on_write_error;
  std::function<void(bool healthy, const std::string& reason)> on_health;
  std::function<void()> on_dropped;  // one record dropped: the queue was full
  // `n` attestations fell due while the store could not be written (counted when the writer
  // next tries to recover, so possibly several at once).
  std::function<void(std::uint64_t n)> on_missed_attestations;
};

// Writes records to a Store on one thread of its own, in the order they are enqueued.
//
// Start-up: the thread recovers the store (removing what a crash left) and writes `start` after a
// clean stop, or `recovery` (saying what was found) otherwise; then `key_rotation` when the key
// differs from the one that signed the last record, then prunes if retention is set.
//
// Failures: a failed write, fsync or rename is not retried as such. The store is marked unhealthy
// (on_health(false, reason)), records keep queueing (up to the capacity), and after a growing
// delay (retry_initial doubling to retry_max) the writer recovers the store and writes a
// `recovery` record describing the failure; when that succeeds it is healthy again and writes
// what waited. A record dropped because the queue was full is counted, and the next record
// written carries payload.lost_records = {"queue_full": n}, so no gap is silent. Attestations
// are not queued while the store is unhealthy (a late one would attest a moment it did not see):
// each one that falls due is counted (on_missed_attestations), the recovery record names them
// (missed_attestations: count, first and last due time; lost_records.store_unhealthy), and an
// attestation follows the recovery at once.
//
// Another writer: a publication that finds records this writer did not write (Store::Publish,
// FsOp::kTailCheck) is a failure like the others: unhealthy at once, nothing overwritten, and the
// recovery record says `foreign_records` instead of `write_failed`.
//
// Time: record times from `clock`; intervals, retry delays and Append's timeout from
// `monotonic_clock` (tests pass a fake and advance it). Both must outlive the writer.
//
// Thread-safe: every public method may be called from any thread.
class Writer {
 public:
  // `attestation` builds the periodic attestation record (called on the writer thread).
  Writer(std::unique_ptr<Store> store, SecretKey key, const Clock& clock, WriterOptions options,
         WriterEvents events, std::function<Record()> attestation,
         const MonotonicClock& monotonic_clock = SteadyClock::Get());
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues a record without blocking. False (and counted) when it is invalid or the queue is full.
  bool Enqueue(Record record) DRIFT_EXCLUDES(mu_);
  // Queues a record and waits until it is published. Fails at once while the store is
  // unhealthy, and after `timeout` (on the monotonic clock).
  Result<Published> Append(Record record, std::chrono::milliseconds timeout) DRIFT_EXCLUDES(mu_);
  // Writes a `key_rotation` record signed by the current key, naming `next`, then signs with
  // `next` from the following record on.
  void RotateKey(SecretKey next) DRIFT_EXCLUDES(mu_);
  // Writes what is queued and a `stop` record, ends the thread, and closes the store, which
  // releases its lock (StoreLock) for the next writer. Idempotent.
  void Stop() DRIFT_EXCLUDES(mu_);

  bool healthy() const { return healthy_.load(); }
  std::size_t queue_length() const DRIFT_EXCLUDES(mu_);
  std::uint64_t dropped() const { return dropped_.load(); }
  // Attestations that fell due while the store could not be written.
  std::uint64_t missed_attestations() const { return missed_attestations_.load(); }
  // The seq of the latest published record (0 before the first).
  std::uint64_t last_seq() const { return last_seq_.load(); }

 private:
  // The answer to one Append, set once by the writer thread.
  class Completion {
   public:
    void Set(Result<Published> result) DRIFT_EXCLUDES(mu_);
    // The answer, or nullopt if none came by `deadline`.
    std::optional<Result<Published>> Await(const MonotonicClock& clock, Deadline deadline)
        DRIFT_EXCLUDES(mu_);

   private:
    Mutex mu_;
    CondVar cv_;
    std::optional<Result<Published>> result_ DRIFT_GUARDED_BY(mu_);
  };
  struct Item {
    Record record;
    std::shared_ptr<Completion> done;    // for Append
    std::optional<SecretKey> rotate_to;  // a key rotation
  };
  using SteadyTime = Deadline;

  void Run() DRIFT_EXCLUDES(mu_);
  // Recovers the store and writes start/recovery (+ key_rotation). Returns false on failure.
  bool Open(const std::string& failure_reason, const nlohmann::json& failure) DRIFT_EXCLUDES(mu_);
  void PublishBatch(std::deque<Item>& batch) DRIFT_EXCLUDES(mu_);
  void MaybePrune();
  void SetHealth(bool healthy, const std::string& reason);
  void Failed(FsOp op, const Error& error);
  // Adds payload.lost_records when records were dropped since the last publication.
  void AddLostRecords(Record& record);
  // Counts the attestations due by `now` while the store is not open, and moves the schedule on.
  void CountMissedAttestations(SteadyTime now);
  // The wall-clock time of a moment on the steady clock, for records.
  WallTime WallAt(SteadyTime t) const;

  std::unique_ptr<Store> store_;
  SecretKey key_;
  const Clock& clock_;
  WriterOptions options_;
  WriterEvents events_;
  std::function<Record()> attestation_;
  const MonotonicClock& monotonic_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Item> queue_ DRIFT_GUARDED_BY(mu_);
  bool stop_ DRIFT_GUARDED_BY(mu_) = false;     // the thread writes `stop` and ends
  bool stopped_ DRIFT_GUARDED_BY(mu_) = false;  // Stop() was called
  std::atomic<bool> healthy_{true};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> last_seq_{0};
  std::atomic<std::uint64_t> missed_attestations_{0};  // changed by the writer thread only

  // Writer thread only.
  bool opened_ = false;
  std::uint64_t dropped_reported_ = 0;
  std::uint64_t missed_reported_ = 0;  // attestations named in a lost_records already
  // The attestations missed in the current outage, for its recovery record.
  std::uint64_t outage_missed_ = 0;
  SteadyTime outage_first_due_{};
  SteadyTime outage_last_due_{};
  bool foreign_records_ = false;  // the current failure: records this writer did not write
  std::uint64_t records_this_run_ = 0;
  SteadyTime retry_at_{};
  std::chrono::milliseconds backoff_{0};
  SteadyTime next_attestation_{};
  SteadyTime next_prune_{};
  SteadyTime started_{};
  std::string failure_reason_;
  nlohmann::json failure_ = nlohmann::json::object();
  std::thread thread_;
};

}  // namespace drift::evidence
