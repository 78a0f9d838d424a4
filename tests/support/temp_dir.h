#pragma once

// Host trees for tests: the fixture trees under tests/fixtures/hosts and temporary ones. Test
// binaries get DRIFT_FIXTURES_DIR from tests/CMakeLists.txt.

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "common/clock.h"

namespace drift::testing {

// The fixture host tree tests/fixtures/hosts/<scenario>.
inline std::string FixtureHost(std::string_view scenario) {
  return (std::filesystem::path(DRIFT_FIXTURES_DIR) / "hosts" / scenario).string();
}

// A fresh directory for the running test under the system temp dir, removed with all it holds
// when it goes out of scope. Host paths ("/etc/x") map into it, so that it can be the root of a
// RootedFileSystem. Not thread-safe.
class TempDir {
 public:
  // Empty, or a copy of the fixture tree tests/fixtures/hosts/<scenario> with its symlinks kept
  // as links (git keeps symlinks but not mtimes: tests set those with SetMtime).
  explicit TempDir(std::string_view scenario = "") {
    static std::atomic<int> made{0};
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        fmt::format("drift_{}_{}_{}_{}", ::getpid(), info ? info->test_suite_name() : "none",
                    info ? info->name() : "none", made++);
    for (char& c : name) {
      if (c == '/') c = '_';  // parameterised tests have a '/' in their names
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
    if (!scenario.empty()) {
      std::filesystem::copy(
          FixtureHost(scenario), path_,
          std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
    }
  }
  ~TempDir() {
    std::error_code ignored;  // a destructor must not throw; a leftover in /tmp is harmless
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string root() const { return path_.string(); }
  // Where the host path `host_path` (absolute) is in this tree.
  std::filesystem::path At(std::string_view host_path) const { return path_ / host_path.substr(1); }
  // Writes `content` to `host_path`, creating its parent directories.
  void Write(std::string_view host_path, std::string_view content) const {
    std::filesystem::create_directories(At(host_path).parent_path());
    std::ofstream(At(host_path), std::ios::binary) << content;
  }
  // Sets the mtime of `host_path` itself (a symlink's own, not its target's).
  void SetMtime(std::string_view host_path, WallTime t) const {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
    times[0].tv_nsec = times[1].tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
    ASSERT_EQ(::utimensat(AT_FDCWD, At(host_path).c_str(), times, AT_SYMLINK_NOFOLLOW), 0)
        << host_path;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace drift::testing
