#pragma once

namespace drift::exporter {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDrift = 1;  // `check`: some check drifted; `baseline capture`: failed
inline constexpr int kExitUsage = 2;  // bad flags or bad configuration
// The daemon could not start with a valid configuration: the listen address is taken, the
// evidence store has another writer, a state directory cannot be used. Nothing was changed.
inline constexpr int kExitStartup = 3;

// The drift_exporter command line: the daemon by default, plus `check` and `baseline capture`.
int RunCli(int argc, char** argv);

}  // namespace drift::exporter
