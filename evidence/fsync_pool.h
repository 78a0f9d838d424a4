#pragma once

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "evidence/store_fs.h"

namespace drift::evidence {

// Two threads that fsync a batch's files while the publishing thread does CPU work (verifying
// the signatures, signing the head). jbd2 (ext4) and XFS commit concurrent fsyncs in one journal
// transaction, so a record and its signature cost about one commit, and the verification is
// hidden behind it.
//
// SyncAll is called from one thread at a time (the store's); the object owns its threads and
// joins them when destroyed. Never throws after construction.
class FsyncPool {
 public:
  static constexpr std::size_t kThreads = 2;

  explicit FsyncPool(StoreFs& fs);
  ~FsyncPool();
  FsyncPool(const FsyncPool&) = delete;
  FsyncPool& operator=(const FsyncPool&) = delete;

  // fsyncs every descriptor (through `fs`) on the pool's threads while running `meanwhile` on
  // this one, and waits for both. Returns the first fsync failure, else meanwhile's result.
  Status SyncAll(const std::vector<int>& fds, const std::function<Status()>& meanwhile)
      DRIFT_EXCLUDES(mu_);

 private:
  // Thread `index` fsyncs every kThreads-th descriptor of each batch, starting at `index`.
  void Loop(std::size_t index) DRIFT_EXCLUDES(mu_);

  StoreFs& fs_;
  Mutex mu_;
  CondVar cv_;
  std::vector<int> fds_ DRIFT_GUARDED_BY(mu_);          // the batch
  std::vector<Status> results_ DRIFT_GUARDED_BY(mu_);   // one per thread
  std::size_t pending_ DRIFT_GUARDED_BY(mu_) = 0;       // threads not done with the batch
  std::uint64_t generation_ DRIFT_GUARDED_BY(mu_) = 0;  // batches handed out
  bool stop_ DRIFT_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // last: they use the members above
};

}  // namespace drift::evidence
