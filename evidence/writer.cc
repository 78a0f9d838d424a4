#include "evidence/writer.h"

#include <fmt/format.h>
#include <unistd.h>

#include "common/log.h"
#include "evidence/canonical_json.h"

namespace drift::evidence {
namespace {

using std::chrono::milliseconds;

Status CheckRecord(const Record& record) {
  if (Status s = ValidateRecord(record); !s.ok()) return s;
  if (Result<std::string> j = CanonicalJson(record.payload); !j.ok()) {
    return Err("payload: {}", j.error().message);
  }
  return {};
}

}  // namespace

Writer::Writer(std::unique_ptr<Store> store, SecretKey key, const Clock& clock,
               WriterOptions options, WriterEvents events, std::function<Record()> attestation,
               const MonotonicClock& monotonic_clock)
    : store_(std::move(store)),
      key_(std::move(key)),
      clock_(clock),
      options_(std::move(options)),
      events_(std::move(events)),
      attestation_(std::move(attestation)),
      monotonic_(monotonic_clock) {
  started_ = monotonic_.Now();
  next_attestation_ = started_ + options_.attestation_interval;
  next_prune_ = started_;
  retry_at_ = started_;
  thread_ = std::thread([this] { Run(); });
}

Writer::~Writer() { Stop(); }

void Writer::Completion::Set(Result<Published> result) {
  MutexLock lock(mu_);
  result_ = std::move(result);
  cv_.NotifyAll();
}

std::optional<Result<Published>> Writer::Completion::Await(const MonotonicClock& clock,
                                                           Deadline deadline) {
  MutexLock lock(mu_);
  while (!result_) {
    if (!clock.WaitUntil(cv_, mu_, deadline)) break;
  }
  return std::move(result_);
}

std::size_t Writer::queue_length() const {
  MutexLock lock(mu_);
  return queue_.size();
}

bool Writer::Enqueue(Record record) {
  if (Status s = CheckRecord(record); !s.ok()) {
    log::Error("evidence record rejected", {{"kind", record.kind}, {"err", s.error().message}});
    return false;
  }
  {
    MutexLock lock(mu_);
    if (stop_) return false;
    if (queue_.size() < options_.queue_capacity) {
      queue_.push_back({std::move(record), nullptr, std::nullopt});
      cv_.NotifyAll();
      return true;
    }
    ++dropped_;
  }
  log::Error("evidence queue full; record dropped (the next record will say so)",
             {{"kind", record.kind}, {"capacity", options_.queue_capacity}});
  if (events_.on_dropped) events_.on_dropped();
  return false;
}

Result<Published> Writer::Append(Record record, milliseconds timeout) {
  if (Status s = CheckRecord(record); !s.ok()) return s.error();
  if (!healthy_.load()) return Err("the evidence store is unhealthy; the record was not written");
  const Deadline deadline = monotonic_.Now() + timeout;
  auto done = std::make_shared<Completion>();
  {
    MutexLock lock(mu_);
    if (stop_) return Err("the evidence writer is stopping");
    if (queue_.size() >= options_.queue_capacity) return Err("the evidence queue is full");
    queue_.push_back({std::move(record), done, std::nullopt});
    cv_.NotifyAll();
  }
  std::optional<Result<Published>> result = done->Await(monotonic_, deadline);
  if (!result) {
    return Err(
        "no confirmation from the evidence writer within {} ms; the record may still be "
        "written",
        timeout.count());
  }
  return std::move(*result);
}

void Writer::RotateKey(SecretKey next) {
  MutexLock lock(mu_);
  if (stop_) return;
  queue_.push_back({Record{}, nullptr, std::move(next)});
  cv_.NotifyAll();
}

void Writer::Stop() {
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    stop_ = true;
    stopped_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  store_.reset();  // writes the last head and releases the store's lock
}

void Writer::SetHealth(bool healthy, const std::string& reason) {
  if (healthy_.exchange(healthy) == healthy) return;
  if (healthy) {
    log::Info("evidence store healthy again");
  } else {
    log::Error("evidence store unhealthy; records wait in the queue", {{"err", reason}});
  }
  if (events_.on_health) events_.on_health(healthy, reason);
}

void Writer::Failed(FsOp op, const Error& error) {
  if (events_.on_write_error) events_.on_write_error(op, error);
  opened_ = false;
  backoff_ =
      backoff_.count() == 0 ? options_.retry_initial : std::min(backoff_ * 2, options_.retry_max);
  retry_at_ = monotonic_.Now() + backoff_;
  if (failure_.empty()) {
    failure_ = {{"error", error.message},
                {"op", std::string(FsOpName(op))},
                {"since", FormatRecordTime(clock_.Now())}};
    failure_reason_ = fmt::format("{} failed: {}", FsOpName(op), error.message);
  }
  failure_["attempts"] = failure_.value("attempts", 0) + 1;
  if (op == FsOp::kTailCheck) {
    foreign_records_ = true;
    log::Error(
        "evidence store: records this process did not write appeared; another process writes "
        "the store",
        {{"dir", store_->dir()}, {"err", error.message}});
  }
  SetHealth(false, failure_reason_);
}

void Writer::AddLostRecords(Record& record) {
  nlohmann::json lost = nlohmann::json::object();
  std::uint64_t dropped = dropped_.load();
  if (dropped > dropped_reported_) lost["queue_full"] = dropped - dropped_reported_;
  std::uint64_t missed = missed_attestations_.load();
  if (missed > missed_reported_) lost["store_unhealthy"] = missed - missed_reported_;
  if (!lost.empty()) record.payload["lost_records"] = std::move(lost);
}

WallTime Writer::WallAt(SteadyTime t) const {
  return clock_.Now() - std::chrono::duration_cast<WallTime::duration>(monotonic_.Now() - t);
}

void Writer::CountMissedAttestations(SteadyTime now) {
  const milliseconds interval = options_.attestation_interval;
  if (interval.count() <= 0 || !attestation_ || now < next_attestation_) return;
  const auto n = static_cast<std::uint64_t>((now - next_attestation_) / interval) + 1;
  if (outage_missed_ == 0) outage_first_due_ = next_attestation_;
  outage_last_due_ = next_attestation_ + (n - 1) * interval;
  next_attestation_ += n * interval;
  outage_missed_ += n;
  missed_attestations_ += n;
  log::Warn("evidence attestations missed: the store cannot be written",
            {{"missed", n}, {"missed_this_outage", outage_missed_}});
  if (events_.on_missed_attestations) events_.on_missed_attestations(n);
}

bool Writer::Open(const std::string& failure_reason, const nlohmann::json& failure) {
  Result<RecoveryReport> report = store_->Recover();
  if (!report.ok()) {
    Failed(store_->last_failed_op(), report.error());
    return false;
  }
  const TailState& tail = report->tail;
  // A failed publication may have renamed records into place before failing: they are on disk
  // and count as written. They are the oldest items of the queue, in order.
  std::uint64_t known = last_seq_.load();
  // Not after finding another writer's records: then what lies above `known` is theirs.
  if (known > 0 && tail.seq > known && !foreign_records_) {
    MutexLock lock(mu_);
    for (std::uint64_t seq = known + 1; seq <= tail.seq && !queue_.empty(); ++seq) {
      Item item = std::move(queue_.front());
      queue_.pop_front();
      Published p{seq, item.record.kind, item.record.check, RecordStem(seq, item.record.kind),
                  "",  tail.time};
      if (item.done) item.done->Set(p);
      if (item.rotate_to) key_ = std::move(*item.rotate_to);  // its record is on disk
    }
  }
  nlohmann::json payload = options_.start_info;
  payload["pid"] = static_cast<std::int64_t>(::getpid());
  if (tail.seq > 0) {
    payload["previous"] = {
        {"seq", tail.seq}, {"kind", tail.kind}, {"time", FormatRecordTime(tail.time)}};
  }
  nlohmann::json reasons = nlohmann::json::array();
  if (!failure.empty()) {
    reasons.push_back(foreign_records_ ? "foreign_records" : "write_failed");
    payload["failure"] = failure;
  }
  if (foreign_records_ && known > 0 && tail.seq > known) {
    payload["foreign_records"] = {{"first_seq", known + 1}, {"last_seq", tail.seq}};
  }
  if (outage_missed_ > 0) {
    // The monitoring gap the store could not record: attestations due and not written.
    payload["missed_attestations"] = {{"count", outage_missed_},
                                      {"first_due", FormatRecordTime(WallAt(outage_first_due_))},
                                      {"last_due", FormatRecordTime(WallAt(outage_last_due_))}};
  }
  if (records_this_run_ == 0 && tail.seq > 0 && tail.kind != kinds::kStop) {
    // The previous run ended without its stop record: it crashed or was killed. Whatever it
    // had queued and not written is lost; the time since its last record is a monitoring gap.
    reasons.push_back("unclean_shutdown");
    payload["gap_seconds"] =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now() - tail.time).count();
  }
  if (!report->removed.empty()) {
    reasons.push_back("interrupted_write");
    payload["removed_files"] = report->removed;
  }
  if (!report->head_seq && tail.seq > 0) {
    // Records without any head: removed, or lost to damage. Said here, then replaced.
    reasons.push_back("head_missing");
  }
  if (report->head_seq && *report->head_seq > tail.seq) {
    reasons.push_back("records_missing");
    payload["missing_records"] = {{"first_seq", tail.seq + 1}, {"last_seq", *report->head_seq}};
  }
  Record first;
  first.kind = std::string(reasons.empty() ? kinds::kStart : kinds::kRecovery);
  if (!reasons.empty()) payload["reasons"] = reasons;
  if (!failure_reason.empty()) payload["failure_reason"] = failure_reason;
  first.payload = std::move(payload);
  AddLostRecords(first);
  std::vector<Record> records{std::move(first)};
  if (tail.seq > 0 && tail.key_id && *tail.key_id != key_.id()) {
    // The key changed while the exporter was stopped: the old key cannot vouch for the new one,
    // so the verifier needs both public keys (docs/evidence.md, "Key rotation").
    Record rotation;
    rotation.kind = std::string(kinds::kKeyRotation);
    rotation.payload = {{"previous_key_id", FormatKeyId(*tail.key_id)},
                        {"new_key_id", FormatKeyId(key_.id())},
                        {"new_public_key", FormatPublicKeyFile(key_.public_key())},
                        {"signed_by_previous_key", false}};
    records.push_back(std::move(rotation));
  }
  PublishOutcome out = store_->Publish(records, key_);
  for (const Published& p : out.published) {
    last_seq_ = p.seq;
    ++records_this_run_;
    if (events_.on_published) events_.on_published(p);
  }
  if (out.error) {
    Failed(out.failed_op, *out.error);
    return false;
  }
  dropped_reported_ = dropped_.load();
  missed_reported_ = missed_attestations_.load();
  if (outage_missed_ > 0) {
    next_attestation_ = monotonic_.Now();  // attest the present at once
    outage_missed_ = 0;
  }
  opened_ = true;
  backoff_ = milliseconds(0);
  failure_ = nlohmann::json::object();
  failure_reason_.clear();
  foreign_records_ = false;
  SetHealth(true, "");
  return true;
}

void Writer::PublishBatch(std::deque<Item>& batch) {
  while (!batch.empty() && opened_) {
    // One segment: plain records up to a key rotation, which is published last with the old key.
    std::vector<Record> records;
    std::size_t taken = 0;
    std::optional<SecretKey> rotate_to;
    for (; taken < batch.size(); ++taken) {
      Item& item = batch[taken];
      if (item.rotate_to) {
        Record r;
        r.kind = std::string(kinds::kKeyRotation);
        r.payload = {{"previous_key_id", FormatKeyId(key_.id())},
                     {"new_key_id", FormatKeyId(item.rotate_to->id())},
                     {"new_public_key", FormatPublicKeyFile(item.rotate_to->public_key())},
                     {"signed_by_previous_key", true}};
        item.record = std::move(r);
        rotate_to = std::move(item.rotate_to);
        item.rotate_to.reset();
        records.push_back(item.record);
        ++taken;
        break;
      }
      records.push_back(item.record);
    }
    AddLostRecords(records.front());
    std::uint64_t dropped_now = dropped_.load();
    PublishOutcome out = store_->Publish(records, key_);
    if (!out.published.empty()) {
      dropped_reported_ = dropped_now;
      missed_reported_ = missed_attestations_.load();
    }
    for (std::size_t i = 0; i < out.published.size(); ++i) {
      const Published& p = out.published[i];
      last_seq_ = p.seq;
      ++records_this_run_;
      if (events_.on_published) events_.on_published(p);
      if (batch[i].done) batch[i].done->Set(p);
    }
    if (out.error && out.published.size() < records.size()) {
      // The unpublished rest goes back to the front of the queue, in order, for after recovery.
      MutexLock lock(mu_);
      for (std::size_t i = batch.size(); i-- > out.published.size();) {
        if (i + 1 == taken && rotate_to) batch[i].rotate_to = std::move(rotate_to);
        queue_.push_front(std::move(batch[i]));
      }
      batch.clear();
      Failed(out.failed_op, *out.error);
      return;
    }
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(taken));
    if (rotate_to) {
      log::Info("evidence signing key rotated", {{"previous_key_id", FormatKeyId(key_.id())},
                                                 {"key_id", FormatKeyId(rotate_to->id())}});
      key_ = std::move(*rotate_to);
    }
    if (out.error) {
      // This segment is published; only the head update failed. The rest waits for recovery.
      MutexLock lock(mu_);
      for (std::size_t i = batch.size(); i-- > 0;) queue_.push_front(std::move(batch[i]));
      batch.clear();
      Failed(out.failed_op, *out.error);
      return;
    }
  }
}

void Writer::MaybePrune() {
  if (options_.retention.count() <= 0 || monotonic_.Now() < next_prune_) return;
  next_prune_ = monotonic_.Now() + options_.prune_every;
  std::string cutoff = DayFolder(clock_.Now() - options_.retention);
  Result<PruneReport> report = store_->Prune(cutoff, key_);
  if (!report.ok()) {
    if (store_->needs_recovery()) {
      Failed(store_->last_failed_op(), report.error());
    } else {
      log::Error("evidence retention: cannot prune", {{"err", report.error().message}});
    }
    return;
  }
  if (report->record) {
    last_seq_ = report->record->seq;
    ++records_this_run_;
    if (events_.on_published) events_.on_published(*report->record);
  }
  if (!report->folders.empty()) {
    log::Info("evidence retention: pruned old day folders", {{"folders", report->folders.size()},
                                                             {"records", report->records_removed},
                                                             {"before", cutoff}});
  }
}

void Writer::Run() {
  int open_attempts_while_stopping = 0;
  for (;;) {
    std::deque<Item> batch;
    bool stopping = false;
    {
      MutexLock lock(mu_);
      // Wakes at least hourly even with nothing scheduled (no attestation, no retention).
      SteadyTime wake = monotonic_.Now() + std::chrono::hours(1);
      if (!opened_) {
        wake = retry_at_;
      } else {
        if (options_.attestation_interval.count() > 0) wake = std::min(wake, next_attestation_);
        if (options_.retention.count() > 0) wake = std::min(wake, next_prune_);
      }
      while (!stop_ && !(opened_ && !queue_.empty())) {
        if (!monotonic_.WaitUntil(cv_, mu_, wake)) break;
      }
      stopping = stop_;
      if (opened_) {
        while (!queue_.empty() && batch.size() < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    SteadyTime now = monotonic_.Now();
    if (!opened_) {
      CountMissedAttestations(now);
      if (stopping) {
        if (++open_attempts_while_stopping > 2) break;
      } else if (now < retry_at_) {
        continue;
      }
      nlohmann::json failure = failure_;
      Open(failure_reason_, failure);
      continue;
    }
    if (options_.attestation_interval.count() > 0 && now >= next_attestation_ && attestation_) {
      batch.push_back({attestation_(), nullptr, std::nullopt});
      next_attestation_ = now + options_.attestation_interval;
    }
    if (!batch.empty()) PublishBatch(batch);
    if (opened_) MaybePrune();
    if (stopping && opened_) {
      {
        MutexLock lock(mu_);
        if (!queue_.empty()) continue;
      }
      Record stop;
      stop.kind = std::string(kinds::kStop);
      stop.payload = {
          {"records_this_run", records_this_run_ + 1},
          {"dropped_total", dropped_.load()},
          {"missed_attestations", missed_attestations_.load()},
          {"uptime_seconds",
           std::chrono::duration_cast<std::chrono::seconds>(monotonic_.Now() - started_).count()}};
      std::deque<Item> last;
      last.push_back({std::move(stop), nullptr, std::nullopt});
      PublishBatch(last);
      if (opened_) break;
    }
  }
  // Whatever could not be written is answered, so that no Append waits for its timeout.
  MutexLock lock(mu_);
  for (Item& item : queue_) {
    if (item.done) item.done->Set(Err("the evidence writer stopped before writing it"));
  }
  queue_.clear();
}

}  // namespace drift::evidence
