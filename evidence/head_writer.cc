#include "evidence/head_writer.h"

#include <utility>

#include "evidence/head_file.h"
#include "evidence/store.h"

namespace drift::evidence {

HeadOutcome UpdateHead(StoreFs& fs, const HeadUpdate& u) {
  const std::string tmp = u.dir + "/" + std::string(kHeadTemp);
  if (u.remove_stale_temp) (void)fs.Remove(tmp);
  Result<int> fd = fs.CreateExclusive(tmp, kFileMode);
  if (!fd.ok()) return {fd.error(), FsOp::kOpen, u.name};
  Status s = fs.Write(*fd, u.text);
  Status c = fs.Close(*fd);
  if (!s.ok()) return {s, FsOp::kWrite, u.name};
  if (!c.ok()) return {c, FsOp::kClose, u.name};
  // The previous head has the new one's name only when it is left from records that were lost
  // (Recover found it ahead of the tail) and the store has grown back to its seq since: the one
  // case where a head is renamed over another.
  const bool replace = u.previous == u.name;
  if (Status r = fs.Rename(tmp, u.dir + "/" + u.name, !replace); !r.ok()) {
    return {r, FsOp::kRename, u.name};
  }
  if (!u.previous.empty() && !replace) {
    if (Status r = fs.Remove(u.dir + "/" + u.previous); !r.ok()) {
      return {r, FsOp::kUnlink, u.name};
    }
  }
  return {Status(), FsOp::kWrite, u.name};
}

HeadWriter::HeadWriter(StoreFs& fs, std::string dir, std::chrono::milliseconds interval,
                       const MonotonicClock& clock)
    : fs_(fs), dir_(std::move(dir)), interval_(interval), clock_(clock), thread_([this] {
        Loop();
      }) {}

HeadWriter::~HeadWriter() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void HeadWriter::Reset(std::string current, bool temp_may_exist) {
  MutexLock lock(mu_);
  current_ = std::move(current);
  temp_may_exist_ = temp_may_exist;
  pending_.reset();
  failure_.reset();
  blocked_ = false;
}

void HeadWriter::Submit(std::uint64_t seq, std::string text) {
  bool wake = false;
  {
    MutexLock lock(mu_);
    // A thread that already has a head to write (waiting for the interval to pass) or is
    // writing one looks for the newest when it is done: waking it per publication would only
    // cost the publishing thread a futex call and the helpers a CPU.
    wake = !pending_ && !busy_;
    pending_ = Pending{seq, std::move(text)};
  }
  if (wake) cv_.NotifyAll();
}

std::optional<HeadOutcome> HeadWriter::TakeFailure() {
  MutexLock lock(mu_);
  return std::exchange(failure_, std::nullopt);
}

std::optional<HeadOutcome> HeadWriter::Flush() {
  MutexLock lock(mu_);
  flush_ = true;
  cv_.NotifyAll();
  while (!Idle()) cv_.Wait(mu_);
  flush_ = false;
  return std::exchange(failure_, std::nullopt);
}

std::string HeadWriter::current() const {
  MutexLock lock(mu_);
  return current_;
}

void HeadWriter::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    if (stop_) return;  // the store flushed what it wanted written
    if (!pending_ || blocked_) {
      cv_.Wait(mu_);
      continue;
    }
    if (!flush_ && clock_.Now() < next_write_) {
      clock_.WaitUntil(cv_, mu_, next_write_);
      continue;
    }
    HeadUpdate update{dir_, HeadFileName(pending_->seq), current_, std::move(pending_->text),
                      temp_may_exist_};
    pending_.reset();
    busy_ = true;
    next_write_ = clock_.Now() + interval_;
    mu_.Unlock();
    HeadOutcome outcome = UpdateHead(fs_, update);
    mu_.Lock();
    busy_ = false;
    if (outcome.status.ok()) {
      current_ = std::move(outcome.name);
    } else {
      temp_may_exist_ = true;
      blocked_ = true;
      failure_ = std::move(outcome);
    }
    cv_.NotifyAll();
  }
}

}  // namespace drift::evidence
