#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "evidence/config.h"
#include "evidence/record.h"
#include "evidence/writer.h"
#include "exporter/module.h"

namespace drift::exporter {

// The record of one check's state change (compliant, drifted, error; "pending" before the first
// run): observed state, findings with their expected (baseline) values, severity, controls,
// reason, and the SHA-256 of the configuration files that define the baseline. Pure.
evidence::Record TransitionRecord(const CheckState& before, const CheckState& after,
                                  const std::vector<SourceFile>& baseline_files);

// The periodic attestation: every enabled check's state at `now` (proof of continuous
// monitoring), tagged with the union of their controls. `states` may lack checks that have not
// run yet ("pending"). Pure.
evidence::Record AttestationRecord(
    const std::vector<std::shared_ptr<const CheckSpec>>& checks,
    const std::map<std::string, std::shared_ptr<const CheckState>, std::less<>>& states,
    std::chrono::milliseconds interval, WallTime now);

// A configuration (re)load: the SHA-256 of every file read. Pure.
evidence::Record ConfigLoadRecord(const Config& config, bool reload);

// The `evidence:` capability: writes a signed, hash-chained record for every check transition,
// every configuration load, a periodic attestation, key rotations, and records other modules hand
// it; exports the drift_evidence_* metrics. Created only when the first configuration enables
// evidence. Thread-safe; OnTransition never blocks on the disk (one writer thread does the I/O).
class EvidenceModule final : public Module {
 public:
  // Loads the signing key (creating a demo key pair first when create_key_if_missing allows it
  // and none exists, and saying so loudly), checks the store directory, takes its writer lock
  // (held until Stop, across reloads) and starts the writer. Throws ConfigError for a missing,
  // unreadable, wrong-mode or foreign key, or a directory that is not ours; StartupError when
  // another process holds the store's lock (the message names the lock file and its pid) or
  // the lock cannot be taken, before anything in the store was read or written. A store that
  // cannot be written otherwise is not an error here: it starts unhealthy.
  EvidenceModule(ModuleContext& context, const Config& config);
  ~EvidenceModule() override;

  std::string_view section() const override { return "evidence"; }
  // Only the signing key (`secret_key_file`: a new key rotates) and `create_key_if_missing`
  // (which acts at start-up only) may change; turning the section off, or a new directory, host,
  // attestation interval, retention or queue capacity needs a restart. An Error when the new key
  // does not load.
  Result<std::vector<std::string>> CheckReload(const Config& next) const override;
  void OnConfigLoaded(const Config& config) override;
  void OnTransition(const CheckState& before, const CheckState& after) override;
  // Writes what is queued and the `stop` record, then stops the writer and releases the
  // store's lock.
  void Stop() override;

  // Called (on the writer thread) whenever the store turns unhealthy or healthy again, e.g. to
  // raise an alert through the alerting module; at once too when the store is unhealthy already.
  // Calls are serialised, in the order of the changes.
  using HealthCallback = std::function<void(bool healthy, const std::string& reason)>;
  void SetHealthCallback(HealthCallback callback);

  // Writes a record another module hands over (healing: requests, approvals, steps, with their
  // actor) and waits until it is published, at most `timeout`. Fails at once while the store is
  // unhealthy. Thread-safe.
  Result<evidence::Published> Append(evidence::Record record,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The id of the latest published record about `check`, for alert annotations; "" if none yet,
  // or while the record of its latest transition is queued (published a moment after
  // OnTransition returns), so that an alert never names the record of an earlier state.
  // Thread-safe and quick.
  std::string LatestRecordId(std::string_view check) const;

  bool healthy() const { return writer_->healthy(); }
  // The public key of the key signing now (minisign format), for documentation and tests.
  std::string PublicKeyFile() const;

 private:
  void OnPublished(const evidence::Published& p);
  evidence::Record Attestation();

  const Clock& clock_;
  std::string config_file_;
  evidence::EvidenceConfig settings_;
  std::string key_id_;  // of the key signing now
  std::string public_key_file_;

  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Gauge& healthy_gauge_;
  prometheus::Gauge& last_record_;
  prometheus::Gauge& last_seq_;
  prometheus::Family<prometheus::Counter>& write_errors_;
  prometheus::Family<prometheus::Counter>& dropped_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const CheckSpec>> checks_;
  std::vector<SourceFile> files_;
  std::map<std::string, std::shared_ptr<const CheckState>, std::less<>> states_;
  std::map<std::string, std::string, std::less<>> latest_ids_;
  std::map<std::string, int, std::less<>> queued_transitions_;  // per check, not yet published
  // The health last reported and who hears of it. Held while the callback runs, so that the
  // callback sees the changes in order.
  std::mutex health_mu_;
  HealthCallback health_callback_;
  bool healthy_ = true;
  std::string unhealthy_reason_;
  bool loaded_once_ = false;

  std::unique_ptr<evidence::StoreFs> fs_;
  std::unique_ptr<evidence::Writer> writer_;
};

}  // namespace drift::exporter
