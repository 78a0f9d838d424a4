#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "evidence/store_fs.h"
#include "exporter/config.h"
#include "exporter/state.h"

namespace drift::exporter {

// The state file keeps what a restart must not forget: each check's latest verdict and its drift
// episode (streak, start, severity), so that a drift that was already there before a restart
// continues (drift_check_drift_age_seconds keeps counting, the alert keeps its startsAt, and no
// transition is logged or recorded as evidence) instead of starting over as a new one.
//
// A restart restores a check only if its name, type and fingerprint (what it compares: its params
// and baseline pins, CheckSpec::fingerprint) are unchanged: a verdict about another baseline is
// not this check's, and its episode must not be carried into a process that never saw it. (A
// reload, which witnessed both, keeps state by name and type, as before.)

inline constexpr int kStateFileVersion = 1;
inline constexpr std::string_view kStateFileName = "check_state.json";
// The file is small (a few hundred bytes per check); anything larger is not ours.
inline constexpr std::size_t kMaxStateFileBytes = 16 << 20;
// How long the writer waits after a change before writing, so that the changes of one check
// cycle (a thousand checks turning compliant at start-up) cost one write.
inline constexpr std::chrono::milliseconds kStateWriteDelay{1'000};

// One check's state as the file keeps it.
struct SavedCheck {
  std::string name;
  std::string type;
  std::string fingerprint;
  checks::Verdict verdict = checks::Verdict::kError;  // of the latest run
  std::string reason;                                 // of the latest run
  bool known = false;                                 // some run gave a verdict (CheckState::known)
  bool drifted = false;                               // CheckState::drifted
  int drift_streak = 0;
  WallTime drift_since{};  // set while drift_streak > 0
  checks::Severity severity = checks::Severity::kNone;
  WallTime last_run{};
  double duration_seconds = 0;

  bool operator==(const SavedCheck&) const = default;
};

// What `state` is saved as; nullopt for a check that has not run (nothing to keep). Times keep
// millisecond precision, as alerts and the file show them. Pure.
std::optional<SavedCheck> SaveCheck(const CheckState& state);

// The file's text: {"version": 1, "saved_at": RFC 3339, "checks": [...]}, one object per check
// with the fields of SavedCheck. Pure.
std::string EncodeStateFile(std::span<const SavedCheck> checks, WallTime saved_at);

// Parses EncodeStateFile's output. Fails, saying why, on anything else: not JSON, a version other
// than kStateFileVersion (a newer exporter's file is not guessed at), a missing or mistyped field,
// an unknown verdict or severity, a drift without its start, two entries of one check. Pure.
Result<std::vector<SavedCheck>> DecodeStateFile(std::string_view text);

// The saved checks matched against the loaded configuration.
struct RestorePlan {
  // For Scheduler::Restore: enabled checks saved with the same name, type and fingerprint, as
  // they were (ran, runs 0, the saved verdict and episode; no findings or observations).
  std::vector<CheckState> states;
  // Saved checks that are configured but changed type or fingerprint: they start afresh.
  std::vector<std::string> changed;
};
RestorePlan PlanRestore(std::span<const SavedCheck> saved,
                        const std::vector<std::shared_ptr<const CheckSpec>>& checks);

// Whether a run that took a check from `before` to `after` changed what a restart must know
// (its state word, severity, drift start, or the streak while below the drift threshold), so that
// the file must be written soon. Other details (reason, last run) go with the next write. Pure.
bool NeedsSaving(const CheckState& before, const CheckState& after);

// The state directory: `configured` (state_dir:) if set, else the first directory of
// $STATE_DIRECTORY (systemd's StateDirectory=, colon-separated when it names several), else ""
// (no persistence). Pure.
std::string ResolveStateDir(const std::string& configured, const char* state_directory_env);

// The state file of a running daemon: loads it at start-up, writes it (tmp + fsync + rename +
// fsync of the directory) on its own thread a moment after a change that matters, and once more
// at shutdown; never on a scrape. A failed load or write is a warning log line and
// drift_exporter_state_file_errors_total{operation}; the daemon goes on (fresh, or with the
// last good file). Thread-safe.
class StateFile {
 public:
  using SnapshotSource = std::function<std::shared_ptr<const Snapshot>()>;

  // Creates `dir` (mode 0750; missing parents too) and proves it writable by creating and
  // removing a file in it. Registers the drift_exporter_state_file_* families. Throws
  // StartupError (exporter/module.h) if the directory cannot be created or written.
  StateFile(std::string dir, const Clock& clock, prometheus::Registry& registry,
            std::unique_ptr<evidence::StoreFs> fs = evidence::MakePosixStoreFs(),
            std::chrono::milliseconds write_delay = kStateWriteDelay);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  const std::string& path() const { return path_; }

  // Reads the file. No file (the first start): empty. Unreadable, corrupt or of another version:
  // a warning, drift_exporter_state_file_errors_total{operation="load"}, the file kept aside as
  // <name>.bad (for inspection; the next write would replace it), and empty.
  std::vector<SavedCheck> Load();
  // Sets drift_exporter_state_file_restored_checks.
  void SetRestored(std::size_t checks);

  // Where the states to write come from (the scheduler's snapshot). Until set, nothing is
  // written.
  void SetSource(SnapshotSource source);
  // Starts the writer thread (without it, only Flush() and Stop() write).
  void Start();
  // Asks for a write within the write delay. Cheap (no I/O); callable from any thread.
  void MarkDirty();
  // Writes the current states now if they changed since the last good write. Returns the write's
  // failure (also logged and counted).
  Status Flush();
  // Stops the writer thread, then writes once more (the latest last-run times). Idempotent.
  void Stop();

 private:
  Status Write(const std::vector<SavedCheck>& checks);
  void Run();

  const std::string dir_;
  const std::string path_;
  const Clock& clock_;
  const std::chrono::milliseconds write_delay_;
  std::unique_ptr<evidence::StoreFs> fs_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Counter& load_errors_;
  prometheus::Counter& write_errors_;
  prometheus::Gauge& restored_;
  prometheus::Gauge& last_write_;

  std::mutex write_mu_;   // one write at a time (the thread and Flush/Stop)
  bool failing_ = false;  // the last write failed; guarded by write_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  SnapshotSource source_;
  bool dirty_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace drift::exporter
