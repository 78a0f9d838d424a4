#include "common/process_runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc 2.36's <sys/pidfd.h> lacks its extern "C" (fixed in 2.37); without this, pidfd_open
// would be looked up with a C++ mangled name and fail to link.
extern "C" {
#include <sys/pidfd.h>
}

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "common/activity.h"
#include "common/fd.h"

namespace drift {
namespace {

class FileActions {
 public:
  FileActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

bool IsExecutableFile(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0 && S_ISREG(st.st_mode) && ::access(path, X_OK) == 0;
}

// A pipe whose ends are both above stdio. A daemon started with a closed stdin/stdout/stderr
// would otherwise get a pipe end numbered 0-2, and the child's dup2 calls would clobber it.
Status MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Err("cannot create a pipe: {}", std::strerror(errno));
  for (int& fd : fds) {
    if (fd > STDERR_FILENO) continue;
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    const int saved_errno = errno;
    ::close(fd);
    if (moved < 0) {
      ::close(fds[0] == fd ? fds[1] : fds[0]);
      return Err("cannot create a pipe: {}", std::strerror(saved_errno));
    }
    fd = moved;
  }
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  // Only our end is non-blocking: O_NONBLOCK lives on the open file description, and the child
  // must keep a blocking stdout.
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  return {};
}

int WaitChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// One captured output stream.
struct Stream {
  Fd fd;
  std::string* text = nullptr;
};

enum class ReadOutcome { kMore, kEof, kOverflow };

// Reads what is available (one read per wake-up). Keeps at most `cap` bytes.
ReadOutcome ReadSome(Stream& stream, std::size_t cap) {
  std::array<char, 65536> buffer;
  const ssize_t n = ::read(stream.fd.get(), buffer.data(), buffer.size());
  if (n < 0) {
    return errno == EAGAIN || errno == EINTR ? ReadOutcome::kMore : ReadOutcome::kEof;
  }
  if (n == 0) return ReadOutcome::kEof;
  const auto got = static_cast<std::size_t>(n);
  const std::size_t room = cap - std::min(cap, stream.text->size());
  stream.text->append(buffer.data(), std::min(got, room));
  return got > room ? ReadOutcome::kOverflow : ReadOutcome::kMore;
}

int PollTimeoutMs(Deadline now, Deadline end) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(end - now).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, INT_MAX));
}

}  // namespace

ProcessRunner::ProcessRunner(std::vector<std::string> search_path)
    : search_path_(std::move(search_path)) {
  for (const std::string& dir : search_path_) {
    if (dir.empty() || dir.front() != '/') {
      throw std::invalid_argument(
          fmt::format("search path directory {:?} is not an absolute path", dir));
    }
    if (!search_path_joined_.empty()) search_path_joined_ += ':';
    search_path_joined_ += dir;
  }
  env_storage_ = {"PATH=" + search_path_joined_, "LC_ALL=C",         "TERM=dumb",
                  "SYSTEMD_PAGER=cat",           "SYSTEMD_COLORS=0", "PAGER=cat"};
  for (std::string& entry : env_storage_) envp_.push_back(entry.data());
  envp_.push_back(nullptr);

  // The daemon's own signal handling (ignored SIGPIPE, blocked SIGTERM for a signal thread...)
  // must never reach a child: programs expect a default disposition and an empty mask.
  ::posix_spawnattr_init(&attr_);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t all_default;
  sigfillset(&all_default);
  sigdelset(&all_default, SIGKILL);
  sigdelset(&all_default, SIGSTOP);
  ::posix_spawnattr_setflags(
      &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // Own process group (pgid = pid), so that one kill(-pid) reaches everything it started.
  ::posix_spawnattr_setpgroup(&attr_, 0);
  ::posix_spawnattr_setsigmask(&attr_, &empty_mask);
  ::posix_spawnattr_setsigdefault(&attr_, &all_default);
}

ProcessRunner::~ProcessRunner() { ::posix_spawnattr_destroy(&attr_); }

Result<const char*> ProcessRunner::Resolve(const std::string& program) const {
  if (program.empty()) return Err("empty program name");
  if (program.front() == '/') {
    if (!IsExecutableFile(program.c_str())) {
      struct stat st {};
      if (::stat(program.c_str(), &st) != 0 && errno == ENOENT) {
        return Error{fmt::format("{} is not installed (no such file)", program), ENOENT};
      }
      return Err("command {:?}: not an executable regular file", program);
    }
    return program.c_str();
  }
  if (program.find('/') != std::string::npos) {
    return Err("command {:?}: a relative path is not allowed; use a bare name or an absolute path",
               program);
  }
  std::lock_guard lock(mu_);
  if (auto it = resolved_.find(program); it != resolved_.end()) return it->second.c_str();
  // Only hits are cached, so a program installed later is found without a restart. The lock is
  // held across the lookup; it runs once per program name.
  for (const std::string& dir : search_path_) {
    std::string candidate = dir;
    if (candidate.back() != '/') candidate += '/';
    candidate += program;
    if (IsExecutableFile(candidate.c_str())) {
      return resolved_.emplace(program, std::move(candidate)).first->second.c_str();
    }
  }
  // ENOENT tells callers the program is missing rather than failing to run (see CommandRunner).
  return Error{fmt::format("{} is not installed (not found in command path {})", program,
                           search_path_joined_),
               ENOENT};
}

Result<CommandOutput> ProcessRunner::Run(const Command& command, Deadline deadline) const {
  if (command.argv.empty()) return Err("empty command: no program to run");
  for (const std::string& arg : command.argv) {
    if (arg.find('\0') != std::string::npos) {
      return Err("command {:?}: an argument contains a NUL byte", command.argv.front());
    }
  }
  Result<const char*> program = Resolve(command.argv.front());
  if (!program) return program.error();

  CommandOutput output;
  const Deadline start = std::chrono::steady_clock::now();
  // min(deadline, start + timeout), without overflowing for a huge timeout or a far deadline.
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline > start ? deadline - start : Deadline::duration::zero());
  const Deadline end = command.timeout < remaining ? start + command.timeout : deadline;
  if (start >= end) {
    // Nothing would be left to run it in.
    output.timed_out = true;
    return output;
  }

  std::array<Stream, 2> streams;
  streams[0].text = &output.out;
  streams[1].text = &output.err;
  Fd out_write;
  Fd err_write;
  if (Status s = MakePipe(streams[0].fd, out_write); !s) return s.error();
  if (Status s = MakePipe(streams[1].fd, err_write); !s) return s.error();

  FileActions actions;
  ::posix_spawn_file_actions_adddup2(actions.get(), out_write.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), err_write.get(), STDERR_FILENO);
  ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Belt and braces: our descriptors are O_CLOEXEC, but a library's might not be.
  ::posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);

  std::vector<char*> argv;
  argv.reserve(command.argv.size() + 1);
  for (const std::string& arg : command.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawn(&pid, *program, actions.get(), &attr_, argv.data(), envp_.data());
  if (spawn_error != 0) {
    return Err("command {:?}: cannot run: {}", command.argv.front(), std::strerror(spawn_error));
  }
  // The child holds its own copies; ours would keep the pipes from ever reaching EOF.
  out_write.Reset();
  err_write.Reset();

  // For reports about a check still running: what it waits for (exporter/scheduler.cc).
  ScopedActivity activity(fmt::format("command {:?} (pid {})", command.argv.front(), pid));

  // The child cannot be reaped before we wait for it, so its pid (and process group id) stays
  // ours until then: every kill(-pid) below happens before the wait.
  Fd pidfd(::pidfd_open(pid, 0));
  if (!pidfd.open()) {
    const int saved_errno = errno;
    ::kill(-pid, SIGKILL);
    WaitChild(pid);
    return Err("command {:?}: pidfd_open: {}", command.argv.front(), std::strerror(saved_errno));
  }

  bool reaped = false;
  int status = 0;
  // Kills everything left in the group, then reaps the child (a zombie or about to be one).
  auto kill_and_reap = [&] {
    ::kill(-pid, SIGKILL);
    status = WaitChild(pid);
    reaped = true;
  };

  while (true) {
    const bool streams_open = streams[0].fd.open() || streams[1].fd.open();
    if (reaped && !streams_open) break;
    const Deadline now = std::chrono::steady_clock::now();
    if (now >= end) {
      // Also reached when a process outside the group (setsid) still holds a pipe after the
      // child exited: stop reading rather than wait for it.
      output.timed_out = true;
      if (!reaped) kill_and_reap();
      break;
    }

    std::array<pollfd, 3> fds{};
    std::array<Stream*, 3> stream_of{};
    nfds_t count = 0;
    for (Stream& stream : streams) {
      if (!stream.fd.open()) continue;
      stream_of[count] = &stream;
      fds[count++] = pollfd{stream.fd.get(), POLLIN, 0};
    }
    const nfds_t pid_index = count;
    if (!reaped) fds[count++] = pollfd{pidfd.get(), POLLIN, 0};

    if (::poll(fds.data(), count, PollTimeoutMs(now, end)) < 0) {
      if (errno == EINTR) continue;
      const int saved_errno = errno;
      if (!reaped) kill_and_reap();
      return Err("command {:?}: poll: {}", command.argv.front(), std::strerror(saved_errno));
    }

    for (nfds_t i = 0; i < pid_index; ++i) {
      if (fds[i].revents == 0) continue;
      switch (ReadSome(*stream_of[i], command.max_output_bytes)) {
        case ReadOutcome::kMore:
          break;
        case ReadOutcome::kEof:
          stream_of[i]->fd.Reset();
          break;
        case ReadOutcome::kOverflow:
          // A flood must not burn CPU until the deadline: stop it now. Closing our end also
          // stops a writer outside the group (EPIPE).
          output.truncated = true;
          if (!reaped) ::kill(-pid, SIGKILL);
          stream_of[i]->fd.Reset();
          break;
      }
    }
    if (!reaped && fds[pid_index].revents != 0) {
      // The direct child exited. Anything it left running in its group is unwanted; what is
      // still in the pipes is read afterwards.
      kill_and_reap();
    }
  }

  if (WIFEXITED(status)) {
    output.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    output.exit_code = -1;
    output.signal = WTERMSIG(status);
  }
  return output;
}

}  // namespace drift
