#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

// Running a program without a shell: what checks (checks/host.h) and healing's steps share.
// Production implementation: ProcessRunner (common/process_runner.h); tests script a fake.
namespace drift {

struct Command {
  // argv[0] is a bare program name, resolved once against the runner's search path, or an
  // absolute path. Arguments are passed as they are: there is never a shell.
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_output_bytes = 1 << 20;  // per stream; the rest is discarded
};

struct CommandOutput {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, 0 if it exited
  std::string out;
  std::string err;
  bool timed_out = false;  // killed (with its process group) at the deadline
  bool truncated = false;  // output beyond max_output_bytes was discarded
};

// Runs programs. An error means the program could not be run at all (not found, spawn failed);
// a program that ran and failed is a CommandOutput with its exit code. A program that is not
// installed is an error with sys_errno ENOENT whose message says so ("<program> is not installed
// (...)"). Thread-safe.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs until the earlier of `deadline` and now + command.timeout.
  virtual Result<CommandOutput> Run(const Command& command, Deadline deadline) const = 0;
};

}  // namespace drift
