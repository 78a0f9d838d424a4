#include "common/process_runner.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace drift {
namespace {

using std::chrono::milliseconds;

const std::string kCommands = DRIFT_FIXTURES_DIR "/commands";

Deadline Far() { return std::chrono::steady_clock::now() + std::chrono::seconds(30); }

Command Cmd(std::vector<std::string> argv, milliseconds timeout = milliseconds(10'000)) {
  Command c;
  c.argv = std::move(argv);
  c.timeout = timeout;
  return c;
}

milliseconds Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
}

// Dead means gone, or a zombie waiting for whoever adopted it to reap it.
bool ProcessIsDead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// Waits up to 2 s: the kernel delivers SIGKILL promptly, but not synchronously. A pidfd turns
// readable when its process exits (a zombie included), so nothing polls on a timer.
bool BecomesDead(pid_t pid) {
  // (glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage: call the kernel.)
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return ProcessIsDead(pid);  // ESRCH: already reaped
  pollfd pfd{fd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, 2'000);
  } while (ready < 0 && errno == EINTR);
  ::close(fd);
  return ready == 1 || ProcessIsDead(pid);
}

int CountOpenFds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count;
}

// The pid a fixture script printed on its first line, or 0 if there is none. Never -1 or less:
// the result is passed to kill(), where those mean "every process".
pid_t FirstLinePid(const std::string& out) {
  const std::string line = out.substr(0, out.find('\n'));
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
  if (ec != std::errc() || end != line.data() + line.size() || pid <= 1) return 0;
  return pid;
}

class ProcessRunnerTest : public ::testing::Test {
 protected:
  ProcessRunner runner_{{"/usr/sbin", "/usr/bin"}};
};

TEST_F(ProcessRunnerTest, ArgumentsStayLiteral) {
  auto r = runner_.Run(Cmd({"/usr/bin/printf", "%s\\n", "$(id)", "a;b", "x && y", "two words",
                            "'single' \"double\"", "line1\nline2", "*", "$HOME", "`id`"}),
                       Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out,
            "$(id)\na;b\nx && y\ntwo words\n'single' \"double\"\nline1\nline2\n*\n$HOME\n`id`\n");
  EXPECT_EQ(r->err, "");
  EXPECT_EQ(r->exit_code, 0);
}

TEST_F(ProcessRunnerTest, ReportsExitCode) {
  auto r = runner_.Run(Cmd({"/usr/bin/false"}), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_EQ(r->signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->truncated);
}

TEST_F(ProcessRunnerTest, StdinIsEmpty) {
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(Cmd({"/usr/bin/cat"}, milliseconds(5'000)), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_LT(Since(start), milliseconds(2'000));
}

TEST_F(ProcessRunnerTest, CapturesStderrApart) {
  auto r = runner_.Run(Cmd({kCommands + "/out_and_err.sh"}), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "to stdout\n");
  EXPECT_EQ(r->err, "to stderr\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST_F(ProcessRunnerTest, KillsAHungCommandAtItsTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(Cmd({"/usr/bin/sleep", "100"}, milliseconds(200)), Far());
  const auto took = Since(start);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(2'000));
}

TEST_F(ProcessRunnerTest, TheDeadlineBoundsALongerTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(Cmd({"/usr/bin/sleep", "100"}), start + milliseconds(200));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(Since(start), milliseconds(2'000));
}

TEST_F(ProcessRunnerTest, APassedDeadlineRunsNothing) {
  auto r = runner_.Run(Cmd({"/usr/bin/true"}), std::chrono::steady_clock::now() - milliseconds(1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
}

TEST_F(ProcessRunnerTest, KillsABackgroundGrandchildWhenTheChildExits) {
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(Cmd({kCommands + "/background_grandchild.sh"}), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(Since(start), milliseconds(2'000));
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  const pid_t grandchild = FirstLinePid(r->out);
  ASSERT_GT(grandchild, 0) << r->out;
  EXPECT_EQ(r->out, std::to_string(grandchild) + "\ndone\n");
  if (!BecomesDead(grandchild)) {
    ::kill(grandchild, SIGKILL);  // do not leave it behind when the test fails
    ADD_FAILURE() << "grandchild " << grandchild << " survived";
  }
}

TEST_F(ProcessRunnerTest, ASetsidGrandchildHoldingThePipeIsBoundedByTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(Cmd({kCommands + "/setsid_grandchild.sh"}, milliseconds(500)), Far());
  const auto took = Since(start);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const pid_t grandchild = FirstLinePid(r->out);
  ASSERT_GT(grandchild, 0) << r->out;
  // It left our process group, so it is the test's to clean up.
  ::kill(grandchild, SIGKILL);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 0);  // the script itself exited
  EXPECT_EQ(r->out, std::to_string(grandchild) + "\n");
  EXPECT_GE(took, milliseconds(500));
  EXPECT_LT(took, milliseconds(2'000));
}

TEST_F(ProcessRunnerTest, StopsAFloodAtTheCap) {
  Command c = Cmd({"/usr/bin/yes"});
  c.max_output_bytes = 1 << 20;
  const auto start = std::chrono::steady_clock::now();
  auto r = runner_.Run(c, Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(Since(start), milliseconds(2'000));
  EXPECT_TRUE(r->truncated);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out.size(), std::size_t{1} << 20);
  EXPECT_EQ(r->out.substr(0, 6), "y\ny\ny\n");
  EXPECT_EQ(r->signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, ResolvesABareNameInSearchPathOrder) {
  ProcessRunner runner({kCommands + "/path_a", kCommands + "/path_b"});
  auto first = runner.Run(Cmd({"drift-fixture-first"}), Far());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->out, "path_a\n");
  // Cached now; the second run must give the same answer.
  first = runner.Run(Cmd({"drift-fixture-first"}), Far());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->out, "path_a\n");
}

TEST_F(ProcessRunnerTest, SkipsAFileThatIsNotExecutable) {
  ProcessRunner runner({kCommands + "/path_a", kCommands + "/path_b"});
  auto r = runner.Run(Cmd({"drift-fixture-skipped"}), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "path_b\n");
}

// A missing program is the admin's to install: say so (with where it was looked for), and mark
// it ENOENT so that callers can tell it from a failure to run.
TEST_F(ProcessRunnerTest, NotFoundSaysNotInstalledAndNamesTheSearchPath) {
  ProcessRunner runner({"/drift-test-none/sbin", "/drift-test-none/bin"});
  auto r = runner.Run(Cmd({"nft", "list", "ruleset"}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "nft is not installed (not found in command path "
            "/drift-test-none/sbin:/drift-test-none/bin)");
  EXPECT_EQ(r.error().sys_errno, ENOENT);
}

TEST_F(ProcessRunnerTest, AMissingAbsolutePathIsNotInstalled) {
  auto r = runner_.Run(Cmd({"/drift-test-none/bin/clamd"}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "/drift-test-none/bin/clamd is not installed (no such file)");
  EXPECT_EQ(r.error().sys_errno, ENOENT);
}

TEST_F(ProcessRunnerTest, RejectsARelativePath) {
  auto r = runner_.Run(Cmd({"bin/true"}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "command \"bin/true\": a relative path is not allowed; use a bare name or an absolute "
            "path");
  EXPECT_FALSE(runner_.Run(Cmd({"./true"}), Far()).ok());
}

TEST_F(ProcessRunnerTest, RejectsAnAbsolutePathThatIsNotAnExecutableFile) {
  auto r = runner_.Run(Cmd({kCommands + "/path_a/drift-fixture-skipped"}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message,
      "command \"" + kCommands + "/path_a/drift-fixture-skipped\": not an executable regular file");
  r = runner_.Run(Cmd({"/usr/bin"}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "command \"/usr/bin\": not an executable regular file");
}

TEST_F(ProcessRunnerTest, RejectsAnEmptyCommand) {
  auto r = runner_.Run(Command{}, Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "empty command: no program to run");
  r = runner_.Run(Cmd({""}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "empty program name");
}

TEST_F(ProcessRunnerTest, RejectsANulByteInAnArgument) {
  auto r = runner_.Run(Cmd({"/usr/bin/printf", std::string("a\0b", 3)}), Far());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "command \"/usr/bin/printf\": an argument contains a NUL byte");
}

TEST_F(ProcessRunnerTest, RejectsARelativeSearchPathDirectory) {
  EXPECT_THROW(ProcessRunner({"/usr/bin", "bin"}), std::invalid_argument);
}

TEST_F(ProcessRunnerTest, EnvironmentIsExactlyTheMinimalSet) {
  ASSERT_EQ(::setenv("DRIFT_TEST_SECRET", "leaked", 1), 0);
  auto r = runner_.Run(Cmd({"/usr/bin/env"}), Far());
  ::unsetenv("DRIFT_TEST_SECRET");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out,
            "PATH=/usr/sbin:/usr/bin\nLC_ALL=C\nTERM=dumb\nSYSTEMD_PAGER=cat\nSYSTEMD_COLORS=0\n"
            "PAGER=cat\n");
}

// The daemon may ignore SIGPIPE and block or ignore SIGTERM; its children must not inherit that.
TEST_F(ProcessRunnerTest, TheDaemonsSignalSetupDoesNotLeak) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_pipe {};
  struct sigaction old_term {};
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &old_term), 0);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigset_t old_mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);

  auto term = runner_.Run(Cmd({kCommands + "/self_term.sh"}), Far());
  auto pipe = runner_.Run(Cmd({kCommands + "/broken_pipe.sh"}), Far());

  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);

  ASSERT_TRUE(term.ok()) << term.error().message;
  EXPECT_EQ(term->out, "");
  EXPECT_EQ(term->exit_code, -1);
  EXPECT_EQ(term->signal, SIGTERM);
  ASSERT_TRUE(pipe.ok()) << pipe.error().message;
  EXPECT_EQ(pipe->out, "y\n");
  EXPECT_EQ(pipe->err, "");
  EXPECT_EQ(pipe->exit_code, 0);
}

TEST_F(ProcessRunnerTest, LeavesNoDescriptorsOrZombies) {
  const int before = CountOpenFds();
  for (const char* script : {"/out_and_err.sh", "/background_grandchild.sh"}) {
    auto r = runner_.Run(Cmd({kCommands + script}), Far());
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  auto r = runner_.Run(Cmd({"/usr/bin/sleep", "100"}, milliseconds(100)), Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  Command flood = Cmd({"/usr/bin/yes"});
  flood.max_output_bytes = 1000;
  r = runner_.Run(flood, Far());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(CountOpenFds(), before);
  int status = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(ProcessRunnerTest, RunsConcurrently) {
  constexpr int kThreads = 8;
  constexpr int kRuns = 10;
  std::vector<std::vector<std::string>> outs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &outs] {
      for (int i = 0; i < kRuns; ++i) {
        auto r = runner_.Run(Cmd({"printf", "%s", fmt::format("{}-{}", t, i)}), Far());
        outs[static_cast<std::size_t>(t)].push_back(r.ok() && r->exit_code == 0 ? r->out
                                                                                : "failed");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kRuns; ++i) {
      EXPECT_EQ(outs[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)],
                fmt::format("{}-{}", t, i));
    }
  }
}

}  // namespace
}  // namespace drift
