#include "exporter/evidence_module.h"

#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <set>

#include "common/config_node.h"
#include "common/duration.h"
#include "common/hostname.h"
#include "common/log.h"
#include "evidence/keys.h"
#include "evidence/store_fs.h"
#include "exporter/version.h"

namespace drift::exporter {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kOwnKinds[] = {
    evidence::kinds::kStart,       evidence::kinds::kStop,       evidence::kinds::kRecovery,
    evidence::kinds::kTransition,  evidence::kinds::kConfigLoad, evidence::kinds::kAttestation,
    evidence::kinds::kKeyRotation, evidence::kinds::kPrune};

std::vector<std::string> ControlIds(const CheckSpec& spec) {
  std::vector<std::string> out;
  for (const Control& c : spec.controls) out.push_back(c.framework + ":" + c.id);
  return out;
}

nlohmann::json FilesJson(const std::vector<SourceFile>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const SourceFile& f : files) out.push_back({{"path", f.path}, {"sha256", ToHex(f.sha256)}});
  return out;
}

std::int64_t Millis(double seconds) { return static_cast<std::int64_t>(seconds * 1000.0 + 0.5); }

// What a check's state says, for records: state word, severity, last run, the latest reason.
nlohmann::json StateJson(const CheckState& s) {
  nlohmann::json j = {
      {"state", std::string(Name(s.Status()))}, {"runs", s.runs}, {"reason", s.result.reason}};
  if (s.ran) j["last_run"] = evidence::FormatRecordTime(s.last_run);
  if (s.drifted) {
    j["severity"] = std::string(checks::SeverityName(s.CurrentSeverity()));
    j["drift_since"] = evidence::FormatRecordTime(s.drift_since);
  }
  return j;
}

// Loads the key; for the demo, creates a key pair first when there is none.
evidence::SecretKey LoadOrCreateKey(const evidence::EvidenceConfig& c,
                                    const std::string& config_file) {
  if (c.create_key_if_missing && !std::filesystem::exists(c.secret_key_file)) {
    std::filesystem::path dir = std::filesystem::path(c.secret_key_file).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::exists(dir)) {
      std::filesystem::create_directories(dir, ec);
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
    evidence::SecretKey key = evidence::SecretKey::Generate();
    std::string pub = evidence::PublicKeyPathFor(c.secret_key_file);
    if (Status s = evidence::WriteKeyPairAt(c.secret_key_file, pub, key); !s.ok()) {
      throw ConfigError(config_file, "evidence.secret_key_file: cannot create the demo key: " +
                                         s.error().message);
    }
    log::Warn(
        "DEMO ONLY: no evidence signing key existed, so one was created "
        "(evidence.create_key_if_missing: true). Production configurations must not set this: "
        "generate the key with `drift_exporter evidence keygen` and keep its public half "
        "where auditors can get it",
        {{"secret_key_file", c.secret_key_file},
         {"public_key_file", pub},
         {"key_id", evidence::FormatKeyId(key.id())}});
    return key;
  }
  Result<evidence::SecretKey> key = evidence::LoadSecretKeyFile(c.secret_key_file);
  if (!key.ok()) throw ConfigError(config_file, "evidence.secret_key_file: " + key.error().message);
  return std::move(*key);
}

}  // namespace

evidence::Record TransitionRecord(const CheckState& before, const CheckState& after,
                                  const std::vector<SourceFile>& baseline_files) {
  const CheckSpec& spec = *after.spec;
  evidence::Record r;
  r.kind = std::string(evidence::kinds::kTransition);
  r.check = spec.name;
  r.controls = ControlIds(spec);
  r.severity = std::string(checks::SeverityName(after.CurrentSeverity()));
  nlohmann::json observed = nlohmann::json::object();
  for (const checks::Observation& o : after.result.observations) observed[o.key] = o.value;
  nlohmann::json findings = nlohmann::json::array();
  for (const checks::Finding& f : after.result.findings) {
    nlohmann::json finding = {
        {"cause", f.cause}, {"observed", f.observed}, {"expected", f.expected}};
    if (f.severity != checks::Severity::kNone) {
      finding["severity"] = std::string(checks::SeverityName(f.severity));
    }
    findings.push_back(std::move(finding));
  }
  r.payload = {{"from", std::string(Name(before.Status()))},
               {"to", std::string(Name(after.Status()))},
               {"reason", after.result.reason},
               {"verdict", std::string(checks::VerdictName(after.result.verdict))},
               {"check_type", std::string(spec.type->name)},
               {"recommended_action", spec.recommended_action},
               {"observed", std::move(observed)},
               {"findings", std::move(findings)},
               {"run_finished", evidence::FormatRecordTime(after.last_run)},
               {"duration_ms", Millis(after.duration_seconds)},
               {"runs", after.runs},
               {"drift_streak", after.drift_streak},
               {"drift_threshold", spec.drift_threshold},
               {"baseline_files", FilesJson(baseline_files)}};
  if (after.drifted) r.payload["drift_since"] = evidence::FormatRecordTime(after.drift_since);
  return r;
}

evidence::Record AttestationRecord(
    const std::vector<std::shared_ptr<const CheckSpec>>& checks,
    const std::map<std::string, std::shared_ptr<const CheckState>, std::less<>>& states,
    milliseconds interval, WallTime now) {
  evidence::Record r;
  r.kind = std::string(evidence::kinds::kAttestation);
  std::set<std::string> controls;
  nlohmann::json list = nlohmann::json::array();
  std::map<std::string, int> counts;
  for (const auto& spec : checks) {
    if (!spec->enabled) continue;
    for (std::string& c : ControlIds(*spec)) controls.insert(std::move(c));
    nlohmann::json entry = {{"check", spec->name}, {"check_type", std::string(spec->type->name)}};
    auto it = states.find(spec->name);
    if (it != states.end()) {
      entry.update(StateJson(*it->second));
    } else {
      entry["state"] = std::string(Name(CheckStatus::kPending));
    }
    ++counts[entry["state"].get<std::string>()];
    list.push_back(std::move(entry));
  }
  r.controls.assign(controls.begin(), controls.end());
  r.payload = {
      {"checks", std::move(list)},
      {"counts", counts},
      {"interval_seconds", std::chrono::duration_cast<std::chrono::seconds>(interval).count()},
      {"attested_at", evidence::FormatRecordTime(now)}};
  return r;
}

evidence::Record ConfigLoadRecord(const Config& config, bool reload) {
  evidence::Record r;
  r.kind = std::string(evidence::kinds::kConfigLoad);
  std::size_t enabled = 0;
  nlohmann::json names = nlohmann::json::array();
  for (const auto& spec : config.checks) {
    if (spec->enabled) ++enabled, names.push_back(spec->name);
  }
  r.payload = {{"files", FilesJson(config.files)},
               {"reload", reload},
               {"checks", names},
               {"disabled_checks", config.checks.size() - enabled}};
  return r;
}

EvidenceModule::EvidenceModule(ModuleContext& context, const Config& config)
    : clock_(context.clock),
      config_file_(context.config_file),
      settings_(config.evidence),
      records_(prometheus::BuildCounter()
                   .Name("drift_evidence_records_total")
                   .Help("Evidence records written (signed, fsynced and published), by kind.")
                   .Register(context.registry)),
      healthy_gauge_(prometheus::BuildGauge()
                         .Name("drift_evidence_store_healthy")
                         .Help("1 while the evidence store accepts writes; 0 after a failed write, "
                               "fsync or rename, or records of another writer, until a recovery "
                               "record is written.")
                         .Register(context.registry)
                         .Add({})),
      last_record_(prometheus::BuildGauge()
                       .Name("drift_evidence_last_record_timestamp_seconds")
                       .Help("Time of the latest evidence record written, in seconds since the "
                             "epoch.")
                       .Register(context.registry)
                       .Add({})),
      last_seq_(prometheus::BuildGauge()
                    .Name("drift_evidence_last_sequence")
                    .Help("Sequence number of the latest evidence record written: an outside "
                          "anchor that shows records cut from the end of the store.")
                    .Register(context.registry)
                    .Add({})),
      write_errors_(prometheus::BuildCounter()
                        .Name("drift_evidence_write_errors_total")
                        .Help("Failed evidence store operations, by operation (open, write, "
                              "fsync, close, rename, fsync_dir, mkdir, unlink, read, list, sign; "
                              "tail_check: records of another writer found).")
                        .Register(context.registry)),
      dropped_(prometheus::BuildCounter()
                   .Name("drift_evidence_dropped_records_total")
                   .Help("Evidence records lost, by reason: queue_full (the writer's queue was "
                         "full), store_unhealthy (an attestation fell due while the store could "
                         "not be written); the next record written names how many.")
                   .Register(context.registry)) {
  for (std::string_view kind : kOwnKinds) records_.Add({{"kind", std::string(kind)}});
  for (evidence::FsOp op :
       {evidence::FsOp::kOpen, evidence::FsOp::kWrite, evidence::FsOp::kFsync,
        evidence::FsOp::kRename, evidence::FsOp::kFsyncDir, evidence::FsOp::kTailCheck}) {
    write_errors_.Add({{"op", std::string(evidence::FsOpName(op))}});
  }
  prometheus::Counter& queue_full = dropped_.Add({{"reason", "queue_full"}});
  prometheus::Counter& store_unhealthy = dropped_.Add({{"reason", "store_unhealthy"}});
  healthy_gauge_.Set(1);
  // A file-size limit (RLIMIT_FSIZE) must turn into EFBIG errors the store reports, not into
  // SIGXFSZ killing the daemon.
  ::signal(SIGXFSZ, SIG_IGN);

  evidence::SecretKey key = LoadOrCreateKey(settings_, config_file_);
  key_id_ = evidence::FormatKeyId(key.id());
  public_key_file_ = evidence::FormatPublicKeyFile(key.public_key());
  fs_ = evidence::MakePosixStoreFs();
  std::string host = settings_.host.empty() ? HostName() : settings_.host;
  // A directory that is not ours is a configuration problem; another writer holding the store
  // (StoreLock), or a lock that cannot be taken, is one of this start-up. Either way nothing in
  // the store was read or written.
  if (Result<std::string> dir = evidence::Store::CheckDirectory(settings_.directory); !dir.ok()) {
    throw ConfigError(config_file_, "evidence.directory: " + dir.error().message);
  }
  Result<std::unique_ptr<evidence::Store>> store =
      evidence::Store::Open(settings_.directory, host, *fs_, clock_);
  if (!store.ok()) throw StartupError(store.error().message);

  evidence::WriterOptions options;
  options.queue_capacity = settings_.queue_capacity;
  options.attestation_interval = settings_.attestation_interval;
  options.retention = settings_.retention;
  options.start_info = {
      {"version", kVersion},
      {"revision", kRevision},
      {"config_file", config_file_},
      {"key_id", key_id_},
      {"attestation_interval_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(settings_.attestation_interval).count()},
      {"retention_days",
       std::chrono::duration_cast<std::chrono::hours>(settings_.retention).count() / 24}};
  evidence::WriterEvents events;
  events.on_published = [this](const evidence::Published& p) { OnPublished(p); };
  events.on_write_error = [this](evidence::FsOp op, const Error& e) {
    write_errors_.Add({{"op", std::string(evidence::FsOpName(op))}}).Increment();
    log::Error("evidence store operation failed; not retried",
               {{"op", evidence::FsOpName(op)}, {"err", e.message}});
  };
  events.on_health = [this](bool healthy, const std::string& reason) {
    healthy_gauge_.Set(healthy ? 1 : 0);
    std::lock_guard lock(health_mu_);
    healthy_ = healthy;
    unhealthy_reason_ = healthy ? "" : reason;
    if (health_callback_) health_callback_(healthy, reason);
  };
  events.on_dropped = [&queue_full] { queue_full.Increment(); };
  events.on_missed_attestations = [&store_unhealthy](std::uint64_t n) {
    store_unhealthy.Increment(static_cast<double>(n));
  };
  writer_ = std::make_unique<evidence::Writer>(std::move(*store), std::move(key), clock_, options,
                                               std::move(events), [this] { return Attestation(); });
  log::Info("evidence store open",
            {{"directory", settings_.directory},
             {"key_id", key_id_},
             {"attestation_interval", FormatDuration(settings_.attestation_interval)}});
}

EvidenceModule::~EvidenceModule() { Stop(); }

void EvidenceModule::OnPublished(const evidence::Published& p) {
  records_.Add({{"kind", p.kind}}).Increment();
  last_record_.Set(ToUnixSeconds(p.time));
  last_seq_.Set(static_cast<double>(p.seq));
  if (p.check) {
    std::lock_guard lock(mu_);
    latest_ids_[*p.check] = p.id;
    if (p.kind == evidence::kinds::kTransition) --queued_transitions_[*p.check];
  }
}

evidence::Record EvidenceModule::Attestation() {
  std::lock_guard lock(mu_);
  return AttestationRecord(checks_, states_, settings_.attestation_interval, clock_.Now());
}

Result<std::vector<std::string>> EvidenceModule::CheckReload(const Config& next) const {
  const evidence::EvidenceConfig& n = next.evidence;
  if (!n.enabled) return std::vector<std::string>{"evidence: section removed"};
  std::vector<std::string> restart;
  auto changed = [&](bool differs, std::string_view key) {
    if (differs) restart.push_back(fmt::format("evidence.{}: changed", key));
  };
  changed(n.directory != settings_.directory, "directory");
  changed(n.host != settings_.host, "host");
  changed(n.attestation_interval != settings_.attestation_interval, "attestation_interval");
  changed(n.retention != settings_.retention, "retention");
  changed(n.queue_capacity != settings_.queue_capacity, "queue_capacity");
  // A key that will not load would leave the reload half applied: refuse it now.
  Result<evidence::SecretKey> key = evidence::LoadSecretKeyFile(n.secret_key_file);
  if (!key.ok()) return Err("evidence.secret_key_file: {}", key.error().message);
  return restart;
}

void EvidenceModule::OnConfigLoaded(const Config& config) {
  bool reload = false;
  {
    std::lock_guard lock(mu_);
    reload = loaded_once_;
    loaded_once_ = true;
    checks_ = config.checks;
    files_ = config.files;
    // Checks no longer configured leave the attestation.
    for (auto it = states_.begin(); it != states_.end();) {
      bool kept = std::any_of(config.checks.begin(), config.checks.end(),
                              [&](const auto& s) { return s->name == it->first && s->enabled; });
      it = kept ? std::next(it) : states_.erase(it);
    }
  }
  writer_->Enqueue(ConfigLoadRecord(config, reload));
  if (!reload) return;
  // CheckReload has refused every other change, and read this key a moment ago.
  const evidence::EvidenceConfig& next = config.evidence;
  Result<evidence::SecretKey> key = evidence::LoadSecretKeyFile(next.secret_key_file);
  if (!key.ok()) {
    log::Error("evidence: cannot read the signing key; keeping the current one",
               {{"err", key.error().message}});
    return;
  }
  std::string id = evidence::FormatKeyId(key->id());
  if (id == key_id_) return;
  log::Info("evidence signing key changed; rotating",
            {{"previous_key_id", key_id_}, {"key_id", id}});
  {
    std::lock_guard lock(mu_);
    key_id_ = id;
    public_key_file_ = evidence::FormatPublicKeyFile(key->public_key());
  }
  writer_->RotateKey(std::move(*key));
}

void EvidenceModule::OnTransition(const CheckState& before, const CheckState& after) {
  std::vector<SourceFile> files;
  {
    std::lock_guard lock(mu_);
    states_[after.spec->name] = std::make_shared<const CheckState>(after);
    if (before.Status() == after.Status()) return;
    files = files_;
    ++queued_transitions_[after.spec->name];
  }
  if (!writer_->Enqueue(TransitionRecord(before, after, files))) {
    std::lock_guard lock(mu_);
    --queued_transitions_[after.spec->name];  // refused (queue full): counted as lost
  }
}

void EvidenceModule::Stop() {
  if (writer_) writer_->Stop();
}

void EvidenceModule::SetHealthCallback(HealthCallback callback) {
  std::lock_guard lock(health_mu_);
  health_callback_ = std::move(callback);
  if (health_callback_ && !healthy_) health_callback_(false, unhealthy_reason_);
}

Result<evidence::Published> EvidenceModule::Append(evidence::Record record, milliseconds timeout) {
  return writer_->Append(std::move(record), timeout);
}

std::string EvidenceModule::LatestRecordId(std::string_view check) const {
  std::lock_guard lock(mu_);
  if (auto q = queued_transitions_.find(check); q != queued_transitions_.end() && q->second > 0) {
    return "";
  }
  auto it = latest_ids_.find(check);
  return it == latest_ids_.end() ? "" : it->second;
}

std::string EvidenceModule::PublicKeyFile() const {
  std::lock_guard lock(mu_);
  return public_key_file_;
}

}  // namespace drift::exporter
