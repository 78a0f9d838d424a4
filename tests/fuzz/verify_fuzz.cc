// The evidence verifier (evidence/verify.h VerifyStore) over a store built from the input.
//
// Input: the store's files as "<relative path>\0<content>\0" repeated (a path ending in '/' is an
// empty folder); tests/fuzz/make_verify_corpus writes real stores in this form. The store is
// written to a folder on /dev/shm (else the temporary folder) that is emptied for each input,
// and verified trusting the seed corpus's key. Properties: VerifyStore does not crash, and the
// summary line of its report says OK exactly when the report has no finding.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "evidence/minisign.h"
#include "evidence/verify.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/seed_key.h"

using drift::fuzz::Expect;
using drift::fuzz::SeedKey;
namespace ev = drift::evidence;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxFiles = 64;
constexpr std::size_t kMaxDepth = 6;

// A folder of this process's own, removed at exit.
const fs::path& WorkDir() {
  static const fs::path dir = [] {
    std::error_code ec;
    fs::path base =
        fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string pattern = (base / "drift-verify-fuzz-XXXXXX").string();
    Expect(::mkdtemp(pattern.data()) != nullptr, "cannot create a temporary folder");
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(WorkDir(), ignored);
    });
    return fs::path(pattern);
  }();
  return dir;
}

// A relative path of at most kMaxDepth plain names, or false.
bool SafePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t depth = 0;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t slash = path.find('/', start);
    std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 100) return false;
    if (++depth > kMaxDepth) return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const fs::path store = WorkDir() / "s";
  std::error_code ec;
  fs::remove_all(store, ec);
  fs::create_directory(store, ec);
  Expect(!ec, "cannot create the store folder");
  for (std::size_t files = 0; files < kMaxFiles && !input.empty(); ++files) {
    std::size_t end_path = input.find('\0');
    if (end_path == std::string_view::npos) break;
    std::string_view path = input.substr(0, end_path);
    input.remove_prefix(end_path + 1);
    std::size_t end_content = input.find('\0');
    std::string_view content = input.substr(0, end_content);
    input.remove_prefix(end_content == std::string_view::npos ? input.size() : end_content + 1);
    if (!SafePath(path)) continue;
    const fs::path target = store / path;
    fs::create_directories(path.back() == '/' ? target : target.parent_path(), ec);
    if (path.back() == '/' || fs::exists(target, ec)) continue;
    std::ofstream(target, std::ios::binary)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ev::VerifyOptions options;
  options.trusted_keys = {SeedKey()};
  options.threads = 1;
  drift::Result<ev::VerifyReport> report = ev::VerifyStore(store.string(), options);
  if (!report.ok()) return 0;  // not a store at all (an empty folder, say)
  const std::string summary = ev::SummaryLine(*report);
  Expect(report->ok() ? summary.starts_with("OK: ") : summary.starts_with("FAIL: "),
         "the summary line does not match the report");
  return 0;
}
