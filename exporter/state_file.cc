#include "exporter/state_file.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log.h"
#include "common/rfc3339.h"
#include "exporter/module.h"

namespace drift::exporter {
namespace {

using nlohmann::json;

WallTime ToMillis(WallTime t) { return std::chrono::floor<std::chrono::milliseconds>(t); }

Result<checks::Verdict> ParseVerdict(std::string_view name) {
  for (checks::Verdict v :
       {checks::Verdict::kCompliant, checks::Verdict::kDrifted, checks::Verdict::kError}) {
    if (checks::VerdictName(v) == name) return v;
  }
  return Err("unknown verdict {:?}", name);
}

// Typed field access for DecodeStateFile: each failure names the entry and the field.
class Entry {
 public:
  Entry(const json& j, std::size_t index) : j_(j), index_(index) {}

  Result<std::string> String(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || !it->is_string()) return Missing(key, "a string");
    return it->get<std::string>();
  }
  Result<bool> Bool(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || !it->is_boolean()) return Missing(key, "true or false");
    return it->get<bool>();
  }
  Result<std::int64_t> Int(const char* key, std::int64_t min, std::int64_t max) const {
    auto it = j_.find(key);
    if (it == j_.end() || !it->is_number_integer() || it->get<std::int64_t>() < min ||
        it->get<std::int64_t>() > max) {
      return Missing(key, fmt::format("an integer from {} to {}", min, max));
    }
    return it->get<std::int64_t>();
  }
  Result<double> Number(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || !it->is_number() || it->get<double>() < 0) {
      return Missing(key, "a number of at least 0");
    }
    return it->get<double>();
  }
  Result<WallTime> Time(const char* key) const {
    Result<std::string> text = String(key);
    if (!text.ok()) return text.error();
    Result<WallTime> t = ParseRfc3339(*text);
    if (!t.ok()) return Err("checks[{}].{}: {}", index_, key, t.error().message);
    return *t;
  }
  Error Missing(const char* key, std::string_view expected) const {
    return Err("checks[{}].{}: expected {}", index_, key, expected);
  }

 private:
  const json& j_;
  std::size_t index_;
};

Result<SavedCheck> DecodeCheck(const json& j, std::size_t index) {
  if (!j.is_object()) return Err("checks[{}]: expected an object", index);
  Entry e(j, index);
  SavedCheck c;
  // Each field in turn; the first failure is the answer.
  Result<std::string> name = e.String("name");
  if (!name.ok()) return name.error();
  c.name = *name;
  Result<std::string> type = e.String("type");
  if (!type.ok()) return type.error();
  c.type = *type;
  Result<std::string> fingerprint = e.String("fingerprint");
  if (!fingerprint.ok()) return fingerprint.error();
  c.fingerprint = *fingerprint;
  Result<std::string> verdict = e.String("verdict");
  if (!verdict.ok()) return verdict.error();
  Result<checks::Verdict> v = ParseVerdict(*verdict);
  if (!v.ok()) return Err("checks[{}].verdict: {}", index, v.error().message);
  c.verdict = *v;
  Result<std::string> reason = e.String("reason");
  if (!reason.ok()) return reason.error();
  c.reason = *reason;
  Result<bool> known = e.Bool("known");
  if (!known.ok()) return known.error();
  c.known = *known;
  Result<bool> drifted = e.Bool("drifted");
  if (!drifted.ok()) return drifted.error();
  c.drifted = *drifted;
  Result<std::int64_t> streak = e.Int("drift_streak", 0, 1'000'000'000);
  if (!streak.ok()) return streak.error();
  c.drift_streak = static_cast<int>(*streak);
  if (c.drift_streak > 0) {
    Result<WallTime> since = e.Time("drift_since");
    if (!since.ok()) return since.error();
    c.drift_since = *since;
  }
  Result<std::string> severity = e.String("severity");
  if (!severity.ok()) return severity.error();
  if (*severity != "none") {
    Result<checks::Severity> s = checks::ParseSeverity(*severity);
    if (!s.ok()) return Err("checks[{}].severity: {}", index, s.error().message);
    c.severity = *s;
  }
  Result<WallTime> last_run = e.Time("last_run");
  if (!last_run.ok()) return last_run.error();
  c.last_run = *last_run;
  Result<double> duration = e.Number("duration_seconds");
  if (!duration.ok()) return duration.error();
  c.duration_seconds = *duration;
  // The flags must agree with each other, or the file was not written by SaveCheck.
  if (c.drifted && (!c.known || c.drift_streak == 0)) {
    return Err("checks[{}]: drifted without a verdict or a drift streak", index);
  }
  if (c.verdict != checks::Verdict::kError && !c.known) {
    return Err("checks[{}]: a verdict but known is false", index);
  }
  return c;
}

}  // namespace

std::optional<SavedCheck> SaveCheck(const CheckState& state) {
  if (!state.ran || state.spec == nullptr || state.spec->type == nullptr) return std::nullopt;
  SavedCheck c;
  c.name = state.spec->name;
  c.type = std::string(state.spec->type->name);
  c.fingerprint = state.spec->fingerprint;
  c.verdict = state.result.verdict;
  c.reason = state.result.reason;
  c.known = state.known;
  c.drifted = state.drifted;
  c.drift_streak = state.drift_streak;
  c.drift_since = state.drift_streak > 0 ? ToMillis(state.drift_since) : WallTime{};
  c.severity = state.severity;
  c.last_run = ToMillis(state.last_run);
  c.duration_seconds = state.duration_seconds;
  return c;
}

std::string EncodeStateFile(std::span<const SavedCheck> checks, WallTime saved_at) {
  json list = json::array();
  for (const SavedCheck& c : checks) {
    json j = {{"name", c.name},
              {"type", c.type},
              {"fingerprint", c.fingerprint},
              {"verdict", checks::VerdictName(c.verdict)},
              {"reason", c.reason},
              {"known", c.known},
              {"drifted", c.drifted},
              {"drift_streak", c.drift_streak},
              {"severity", checks::SeverityName(c.severity)},
              {"last_run", FormatRfc3339(c.last_run)},
              {"duration_seconds", c.duration_seconds}};
    if (c.drift_streak > 0) j["drift_since"] = FormatRfc3339(c.drift_since);
    list.push_back(std::move(j));
  }
  json doc = {
      {"version", kStateFileVersion}, {"saved_at", FormatRfc3339(saved_at)}, {"checks", list}};
  // Invalid UTF-8 in a reason (a program's output) is replaced, never a reason to lose the file.
  return doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<std::vector<SavedCheck>> DecodeStateFile(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Err("not valid JSON");
  if (!doc.is_object()) return Err("expected a JSON object at the top level");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) {
    return Err("no version: not a drift_exporter state file");
  }
  if (version->get<std::int64_t>() != kStateFileVersion) {
    return Err(
        "version {} is not the version this exporter reads ({}){}", version->get<std::int64_t>(),
        kStateFileVersion,
        version->get<std::int64_t>() > kStateFileVersion ? "; written by a newer exporter" : "");
  }
  auto checks = doc.find("checks");
  if (checks == doc.end() || !checks->is_array()) return Err("checks: expected a list");
  std::vector<SavedCheck> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < checks->size(); ++i) {
    Result<SavedCheck> c = DecodeCheck((*checks)[i], i);
    if (!c.ok()) return c.error();
    if (!names.insert(c->name).second) {
      return Err("checks[{}].name: {:?} is saved twice", i, c->name);
    }
    out.push_back(std::move(*c));
  }
  return out;
}

RestorePlan PlanRestore(std::span<const SavedCheck> saved,
                        const std::vector<std::shared_ptr<const CheckSpec>>& checks) {
  RestorePlan plan;
  for (const SavedCheck& c : saved) {
    auto spec = std::find_if(checks.begin(), checks.end(),
                             [&](const auto& s) { return s->name == c.name && s->enabled; });
    if (spec == checks.end()) continue;  // removed or disabled: nothing to continue
    if ((*spec)->type->name != c.type || (*spec)->fingerprint != c.fingerprint) {
      plan.changed.push_back(c.name);
      continue;
    }
    CheckState s;
    s.spec = *spec;
    s.ran = true;
    s.runs = 0;
    s.known = c.known;
    s.success = c.verdict != checks::Verdict::kError;
    s.drifted = c.drifted;
    s.drift_streak = c.drift_streak;
    s.drift_since = c.drift_since;
    s.severity = c.severity;
    s.last_run = c.last_run;
    s.duration_seconds = c.duration_seconds;
    s.result.verdict = c.verdict;
    s.result.reason = c.reason;
    plan.states.push_back(std::move(s));
  }
  return plan;
}

bool NeedsSaving(const CheckState& before, const CheckState& after) {
  int threshold = after.spec ? after.spec->drift_threshold : 1;
  return before.Status() != after.Status() || before.known != after.known ||
         before.severity != after.severity || before.drift_since != after.drift_since ||
         std::min(before.drift_streak, threshold) != std::min(after.drift_streak, threshold);
}

std::string ResolveStateDir(const std::string& configured, const char* state_directory_env) {
  if (!configured.empty()) return configured;
  if (state_directory_env == nullptr) return "";
  std::string_view env = state_directory_env;
  return std::string(env.substr(0, env.find(':')));
}

StateFile::StateFile(std::string dir, const Clock& clock, prometheus::Registry& registry,
                     std::unique_ptr<evidence::StoreFs> fs, std::chrono::milliseconds write_delay)
    : dir_(std::move(dir)),
      path_((std::filesystem::path(dir_) / kStateFileName).string()),
      clock_(clock),
      write_delay_(write_delay),
      fs_(std::move(fs)),
      errors_(prometheus::BuildCounter()
                  .Name("drift_exporter_state_file_errors_total")
                  .Help("Failures to load the state file at start-up (unreadable, corrupt, "
                        "another version: the exporter started afresh) or to write it (the "
                        "previous file stays), by operation.")
                  .Register(registry)),
      load_errors_(errors_.Add({{"operation", "load"}})),
      write_errors_(errors_.Add({{"operation", "write"}})),
      restored_(prometheus::BuildGauge()
                    .Name("drift_exporter_state_file_restored_checks")
                    .Help("Checks whose state (verdict, drift episode) was restored from the "
                          "state file at start-up.")
                    .Register(registry)
                    .Add({})),
      last_write_(prometheus::BuildGauge()
                      .Name("drift_exporter_state_file_last_write_success_timestamp_seconds")
                      .Help("Unix time of the last successful write of the state file (0: none "
                            "yet).")
                      .Register(registry)
                      .Add({})) {
  // A file-size limit (RLIMIT_FSIZE) must fail a write with EFBIG, not kill the daemon with
  // SIGXFSZ (the evidence module does the same).
  ::signal(SIGXFSZ, SIG_IGN);
  // Missing parents are made as mkdir -p would; the directory itself is private to the exporter.
  std::filesystem::path parent = std::filesystem::path(dir_).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    throw StartupError(
        fmt::format("state_dir: cannot create {}: {}", parent.string(), ec.message()));
  }
  // An existing directory may be a symlink to one: systemd's StateDirectory= with DynamicUser=
  // makes /var/lib/<name> a link to /var/lib/private/<name>.
  if (!std::filesystem::is_directory(dir_, ec)) {
    if (Status s = fs_->MakeDir(dir_, 0750); !s.ok()) {
      throw StartupError(fmt::format("state_dir: {}", s.error().message));
    }
  }
  // Prove now that writes will work, rather than at the first transition.
  std::string probe = path_ + ".probe";
  (void)fs_->Remove(probe);  // a leftover of a crash; usually not there
  Result<int> fd = fs_->CreateExclusive(probe, 0600);
  if (!fd.ok()) {
    throw StartupError(fmt::format("state_dir: {} is not writable: {}", dir_, fd.error().message));
  }
  (void)fs_->Close(*fd);
  (void)fs_->Remove(probe);
}

StateFile::~StateFile() { Stop(); }

std::vector<SavedCheck> StateFile::Load() {
  Result<std::string> text = fs_->Read(path_, kMaxStateFileBytes);
  if (!text.ok() && text.error().sys_errno == ENOENT) {
    log::Info("no state file yet; every check starts afresh", {{"file", path_}});
    return {};
  }
  Result<std::vector<SavedCheck>> saved =
      text.ok() ? DecodeStateFile(*text) : Result<std::vector<SavedCheck>>(text.error());
  if (saved.ok()) return std::move(*saved);
  load_errors_.Increment();
  // Kept for inspection; the first write would otherwise replace it.
  std::string aside = path_ + ".bad";
  Status moved = fs_->Rename(path_, aside, false);
  log::Warn("cannot use the state file; every check starts afresh (drift episodes restart)",
            {{"file", path_},
             {"err", saved.error().message},
             {"kept_as", moved.ok() ? aside : "(not moved: " + moved.error().message + ")"}});
  return {};
}

void StateFile::SetRestored(std::size_t checks) { restored_.Set(static_cast<double>(checks)); }

void StateFile::SetSource(SnapshotSource source) {
  std::lock_guard lock(mu_);
  source_ = std::move(source);
}

void StateFile::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopped_) return;
  thread_ = std::thread([this] { Run(); });
}

void StateFile::MarkDirty() {
  {
    std::lock_guard lock(mu_);
    if (dirty_) return;
    dirty_ = true;
  }
  cv_.notify_all();
}

void StateFile::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return dirty_ || stopping_; });
    if (stopping_) return;
    // Let the rest of the cycle's changes arrive: one write for all of them.
    cv_.wait_for(lock, write_delay_, [&] { return stopping_; });
    if (stopping_) return;  // Stop() writes
    lock.unlock();
    // A failure is logged and counted there; the next change retries (not a loop on a full disk).
    (void)Flush();
    lock.lock();
  }
}

Status StateFile::Flush() {
  SnapshotSource source;
  {
    std::lock_guard lock(mu_);
    if (!dirty_) return {};
    dirty_ = false;
    source = source_;
  }
  if (!source) return {};
  // Held for the loop: `for (x : source()->checks)` would let the snapshot go at once (the
  // returned pointer is a temporary), and the render thread may swap in a new one meanwhile.
  std::shared_ptr<const Snapshot> snapshot = source();
  std::vector<SavedCheck> saved;
  for (const auto& state : snapshot->checks) {
    if (std::optional<SavedCheck> c = SaveCheck(*state)) saved.push_back(std::move(*c));
  }
  return Write(saved);
}

Status StateFile::Write(const std::vector<SavedCheck>& checks) {
  std::lock_guard lock(write_mu_);
  std::string text = EncodeStateFile(checks, clock_.Now());
  std::string tmp = path_ + ".tmp";
  auto write = [&]() -> Status {
    (void)fs_->Remove(tmp);  // a leftover of a failed write or a crash
    Result<int> fd = fs_->CreateExclusive(tmp, 0640);
    if (!fd.ok()) return fd.error();
    Status s = fs_->Write(*fd, text);
    if (s.ok()) s = fs_->Sync(*fd);
    Status closed = fs_->Close(*fd);
    if (s.ok()) s = closed;
    if (s.ok()) s = fs_->Rename(tmp, path_, false);
    if (s.ok()) s = fs_->SyncDir(dir_);
    return s;
  };
  Status s = write();
  if (!s.ok()) {
    (void)fs_->Remove(tmp);
    write_errors_.Increment();
    failing_ = true;
    log::Warn("cannot write the state file; a restart now would restart drift episodes",
              {{"file", path_}, {"err", s.error().message}});
    return s;
  }
  if (failing_) log::Info("state file written again", {{"file", path_}});
  failing_ = false;
  last_write_.Set(ToUnixSeconds(clock_.Now()));
  return {};
}

void StateFile::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    dirty_ = true;  // the last write saves the latest run times too
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)Flush();
}

}  // namespace drift::exporter
