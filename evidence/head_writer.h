#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "evidence/store_fs.h"

namespace drift::evidence {

// One head update: head-<seq> written under a temporary name (.head.tmp), renamed into place,
// the previous head removed.
struct HeadUpdate {
  std::string dir;
  std::string name;
  std::string previous;  // "" when there is none
  std::string text;
  bool remove_stale_temp = false;  // .head.tmp may be left from a failed write: remove it first
};

struct HeadOutcome {
  Status status;
  FsOp op = FsOp::kWrite;  // meaningful with a failed status
  std::string name;
};

// Makes one head update through `fs` (no fsync: docs/evidence.md, "Head"). On failure, says
// which operation failed; .head.tmp may then be left.
HeadOutcome UpdateHead(StoreFs& fs, const HeadUpdate& update);

// The head writer: one thread that writes head files (create, write, close, rename, unlink)
// while the publishing thread goes on. It coalesces: Submit replaces a head not yet written
// ("latest wins"), and a write starts at most once per interval (timed by `clock`), so a burst
// of publications costs one head write instead of one each, and none is waited for. One write
// at a time, always of the newest head submitted, which names durable records: heads appear in
// seq order, never ahead of the store. After a failed write nothing more is written until Reset
// (Recover mends what it left); the failure is reported once, by TakeFailure or Flush.
//
// Thread-safe. The destructor ends the thread without writing a head still pending (the store
// flushes first). `fs` and `clock` must outlive it.
class HeadWriter {
 public:
  HeadWriter(StoreFs& fs, std::string dir, std::chrono::milliseconds interval,
             const MonotonicClock& clock);
  ~HeadWriter();
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;

  // The head file on disk ("" when there is none) and whether .head.tmp may be there, as
  // Recover left them. Drops a head not yet written and a failure, and unblocks writing. Only
  // while no write is under way (after Flush).
  void Reset(std::string current, bool temp_may_exist) DRIFT_EXCLUDES(mu_);

  // The head for `seq`, signed as `text`, to be written within the interval.
  void Submit(std::uint64_t seq, std::string text) DRIFT_EXCLUDES(mu_);

  // A failed write not reported yet, if any; does not wait.
  std::optional<HeadOutcome> TakeFailure() DRIFT_EXCLUDES(mu_);

  // Writes the submitted head now, waits until nothing is under way, and returns a failure not
  // reported yet.
  std::optional<HeadOutcome> Flush() DRIFT_EXCLUDES(mu_);

  // The name of the head file on disk, "" when there is none.
  std::string current() const DRIFT_EXCLUDES(mu_);

 private:
  struct Pending {
    std::uint64_t seq = 0;
    std::string text;
  };

  bool Idle() const DRIFT_REQUIRES(mu_) { return !busy_ && (!pending_ || blocked_); }
  void Loop() DRIFT_EXCLUDES(mu_);

  StoreFs& fs_;
  const std::string dir_;
  const std::chrono::milliseconds interval_;
  const MonotonicClock& clock_;
  mutable Mutex mu_;
  CondVar cv_;
  std::optional<Pending> pending_ DRIFT_GUARDED_BY(mu_);  // submitted, not yet being written
  std::string current_ DRIFT_GUARDED_BY(mu_);             // the head file on disk
  // A failed write may have left .head.tmp; otherwise it is never there (Recover removes it),
  // which saves a failing unlink per head write.
  bool temp_may_exist_ DRIFT_GUARDED_BY(mu_) = true;
  std::optional<HeadOutcome> failure_ DRIFT_GUARDED_BY(mu_);  // not reported yet
  bool blocked_ DRIFT_GUARDED_BY(mu_) = false;                // a write failed: none until Reset
  bool busy_ DRIFT_GUARDED_BY(mu_) = false;                   // a write is under way
  bool flush_ DRIFT_GUARDED_BY(mu_) = false;                  // write now, whatever the interval
  bool stop_ DRIFT_GUARDED_BY(mu_) = false;
  Deadline next_write_ DRIFT_GUARDED_BY(mu_){};  // the earliest start of the next write
  std::thread thread_;                           // last: it uses the members above
};

}  // namespace drift::evidence
