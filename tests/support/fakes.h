#pragma once

// Hand-written recording fakes for the Host seams (ninja's FakeCommandRunner style).

#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "checks/host.h"
#include "tests/support/fake_monotonic_clock.h"

namespace drift::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime now = WallTime(std::chrono::seconds(1'700'000'000))) : now_(now) {}
  WallTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Set(WallTime t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  WallTime now_;
};

// The output of a program that ran and exited with `exit_code`.
inline CommandOutput Exited(int exit_code, std::string out, std::string err = "") {
  CommandOutput o;
  o.exit_code = exit_code;
  o.out = std::move(out);
  o.err = std::move(err);
  return o;
}

// The output of a program killed by `signal`, after it printed `out`.
inline CommandOutput KilledBy(int signal, std::string out = "") {
  CommandOutput o;
  o.exit_code = -1;
  o.signal = signal;
  o.out = std::move(out);
  return o;
}

// The output of a program the runner killed at the deadline, after it printed `out`.
inline CommandOutput TimedOut(std::string out = "") {
  CommandOutput o = KilledBy(9, std::move(out));
  o.timed_out = true;
  return o;
}

// Answers commands from a script keyed by the space-joined argv; records every command run.
// An unscripted command fails like a missing program.
class FakeCommandRunner final : public CommandRunner {
 public:
  void Script(const std::string& argv_joined, CommandOutput output) {
    std::lock_guard lock(mu_);
    script_[argv_joined] = std::move(output);
  }
  void Script(const std::string& argv_joined, int exit_code, std::string out,
              std::string err = "") {
    Script(argv_joined, Exited(exit_code, std::move(out), std::move(err)));
  }
  // Runs of `argv_joined` fail to start with `error` (a failed spawn, no pipes left...).
  void Fail(const std::string& argv_joined, Error error) {
    std::lock_guard lock(mu_);
    errors_.insert_or_assign(argv_joined, std::move(error));
  }
  // Runs of `program` fail as ProcessRunner fails for a program that is not installed.
  void NotInstalled(const std::string& program) {
    std::lock_guard lock(mu_);
    not_installed_.push_back(program);
  }
  std::vector<std::vector<std::string>> commands_ran() const {
    std::lock_guard lock(mu_);
    return commands_ran_;
  }

  Result<CommandOutput> Run(const Command& command, Deadline) const override {
    std::string joined;
    for (const std::string& a : command.argv) {
      if (!joined.empty()) joined += ' ';
      joined += a;
    }
    std::lock_guard lock(mu_);
    commands_ran_.push_back(command.argv);
    for (const std::string& program : not_installed_) {
      if (!command.argv.empty() && command.argv.front() == program) {
        return Error{program + " is not installed (not found in command path /fake/bin)", ENOENT};
      }
    }
    if (auto failed = errors_.find(joined); failed != errors_.end()) return failed->second;
    auto it = script_.find(joined);
    // ENOENT, as ProcessRunner says of a program it cannot find.
    if (it == script_.end()) {
      const std::string program = command.argv.empty() ? "" : command.argv.front();
      return Error{fmt::format("{} is not installed (unscripted: {})", program, joined), ENOENT};
    }
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, CommandOutput> script_;
  std::vector<std::string> not_installed_;
  std::map<std::string, Error> errors_;
  mutable std::vector<std::vector<std::string>> commands_ran_;
};

// Unit states by name; an unknown unit is an error, as when systemctl cannot be asked.
class FakeServiceManager final : public checks::ServiceManager {
 public:
  void Set(const std::string& unit, std::string state) {
    std::lock_guard lock(mu_);
    states_[unit] = std::move(state);
  }
  Result<std::string> ActiveState(std::string_view unit, Deadline) const override {
    std::lock_guard lock(mu_);
    auto it = states_.find(std::string(unit));
    if (it == states_.end()) return Err("systemctl: cannot query {}", unit);
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> states_;
};

// An in-memory journal; messages are stamped with the fake clock's time.
class FakeJournal final : public checks::Journal {
 public:
  explicit FakeJournal(const Clock& clock) : clock_(clock) {}
  // When set, writes succeed but are lost (a broken logging pipeline).
  void DropWrites(bool drop) { drop_ = drop; }
  void FailReads(bool fail) { fail_reads_ = fail; }
  Status Write(std::string_view identifier, std::string_view message, Deadline) const override {
    std::lock_guard lock(mu_);
    if (!drop_) entries_.push_back({clock_.Now(), std::string(identifier), std::string(message)});
    return {};
  }
  Result<std::vector<std::string>> ReadSince(std::string_view identifier, WallTime since,
                                             Deadline) const override {
    std::lock_guard lock(mu_);
    if (fail_reads_) return Err("journalctl: failed to read the journal");
    std::vector<std::string> out;
    for (const Entry& e : entries_) {
      if (e.identifier == identifier && e.time >= since) out.push_back(e.message);
    }
    return out;
  }

 private:
  struct Entry {
    WallTime time;
    std::string identifier;
    std::string message;
  };
  const Clock& clock_;
  bool drop_ = false;
  bool fail_reads_ = false;
  mutable std::mutex mu_;
  mutable std::vector<Entry> entries_;
};

}  // namespace drift::testing
