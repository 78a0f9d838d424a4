#include "evidence/fsync_pool.h"

namespace drift::evidence {

FsyncPool::FsyncPool(StoreFs& fs) : fs_(fs) {
  for (std::size_t i = 0; i < kThreads; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

FsyncPool::~FsyncPool() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  for (std::thread& t : threads_) t.join();
}

Status FsyncPool::SyncAll(const std::vector<int>& fds, const std::function<Status()>& meanwhile) {
  {
    MutexLock lock(mu_);
    fds_ = fds;
    results_.assign(kThreads, Status());
    pending_ = kThreads;
    ++generation_;
  }
  cv_.NotifyAll();
  Status other = meanwhile ? meanwhile() : Status();
  MutexLock lock(mu_);
  while (pending_ != 0) cv_.Wait(mu_);
  for (const Status& r : results_) {
    if (!r.ok()) return r;
  }
  return other;
}

void FsyncPool::Loop(std::size_t index) {
  std::uint64_t seen = 0;
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && generation_ == seen) cv_.Wait(mu_);
    if (stop_) return;
    seen = generation_;
    std::vector<int> mine;
    for (std::size_t i = index; i < fds_.size(); i += kThreads) mine.push_back(fds_[i]);
    mu_.Unlock();
    Status result;
    for (int fd : mine) {
      if (Status st = fs_.Sync(fd); !st.ok() && result.ok()) result = st;
    }
    mu_.Lock();
    results_[index] = result;
    if (--pending_ == 0) cv_.NotifyAll();
  }
}

}  // namespace drift::evidence
