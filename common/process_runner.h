#pragma once

#include <spawn.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/command.h"

namespace drift {

// Runs programs for checks and for healing's steps: posix_spawn (never a shell), stdin from
// /dev/null, stdout and stderr captured through pipes, in its own process group with default signal
// dispositions and an empty signal mask, and a minimal fixed environment (PATH=<search path>,
// LC_ALL=C, TERM=dumb, SYSTEMD_PAGER=cat, SYSTEMD_COLORS=0, PAGER=cat).
//
// The whole process group is SIGKILLed when the program exits (left-over background processes
// are never wanted), when an output stream passes command.max_output_bytes, or at the deadline.
// Every child is reaped and every descriptor closed before Run returns.
//
// Thread-safe: Run may be called from many threads at once.
class ProcessRunner final : public CommandRunner {
 public:
  // `search_path` lists the directories, in order, where a bare program name is looked up; each
  // must be an absolute path. Throws std::invalid_argument otherwise (start-up only).
  explicit ProcessRunner(std::vector<std::string> search_path);
  ~ProcessRunner() override;
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // argv[0] is an absolute path to an executable regular file, or a bare name (no '/') that is
  // resolved against the search path once and then cached. Errors: empty argv, a relative path
  // with '/', a NUL byte in an argument, a program not found, or a failed spawn. A program that
  // ran is an output, whatever its exit status; when the deadline has already passed nothing is
  // run and the output says timed_out. Never throws.
  Result<CommandOutput> Run(const Command& command, Deadline deadline) const override;

 private:
  // The path to execute for argv[0]; points into `program` or into the cache, which is never
  // erased from, so the pointer stays valid for the runner's lifetime.
  Result<const char*> Resolve(const std::string& program) const;

  std::vector<std::string> search_path_;
  std::string search_path_joined_;
  std::vector<std::string> env_storage_;
  std::vector<char*> envp_;  // points into env_storage_, null-terminated
  posix_spawnattr_t attr_;   // built once; posix_spawn only reads it

  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::string> resolved_;  // bare name -> absolute path
};

}  // namespace drift
