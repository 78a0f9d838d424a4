// The evidence verifier (evidence/verify.h VerifyStore) over a store built from the input.
//
// Input: the store's files as "<relative path>\0<content>\0" repeated (a path ending in '/' is an
// empty folder); tests/fuzz/make_verify_corpus writes real stores in this form. The store is
// built in memory (tests/support/memory_store_fs.h, through VerifyOptions::fs: no file system
// call per input) and verified trusting the seed corpus's key. Properties: VerifyStore does not
// crash, and the summary line of its report says OK exactly when the report has no finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "evidence/minisign.h"
#include "evidence/verify.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/seed_key.h"
#include "tests/support/memory_store_fs.h"

using drift::fuzz::Expect;
using drift::fuzz::SeedKey;
namespace ev = drift::evidence;

namespace {

constexpr std::size_t kMaxFiles = 64;
constexpr std::size_t kMaxDepth = 6;
constexpr std::string_view kStore = "/s";

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
  static drift::testing::MemoryStoreFs* const store_fs = new drift::testing::MemoryStoreFs();
  store_fs->Clear();
  const std::string store(kStore);
  store_fs->AddDir(store);
  for (std::size_t files = 0; files < kMaxFiles && !input.empty(); ++files) {
    std::size_t end_path = input.find('\0');
    if (end_path == std::string_view::npos) break;
    std::string_view path = input.substr(0, end_path);
    input.remove_prefix(end_path + 1);
    std::size_t end_content = input.find('\0');
    std::string_view content = input.substr(0, end_content);
    input.remove_prefix(end_content == std::string_view::npos ? input.size() : end_content + 1);
    if (!SafePath(path)) continue;
    // As on disk: the folders above are created, a path already taken keeps its first use.
    std::string target = store + "/" + std::string(path);
    if (path.back() == '/') {
      target.pop_back();
      store_fs->AddDir(target);
      continue;
    }
    if (!store_fs->Exists(target)) store_fs->AddFile(target, std::string(content));
  }
  ev::VerifyOptions options;
  options.trusted_keys = {SeedKey()};
  options.threads = 1;
  options.fs = store_fs;
  drift::Result<ev::VerifyReport> report = ev::VerifyStore(store, options);
  if (!report.ok()) return 0;  // not a store at all (an empty folder, say)
  const std::string summary = ev::SummaryLine(*report);
  Expect(report->ok() ? summary.starts_with("OK: ") : summary.starts_with("FAIL: "),
         "the summary line does not match the report");
  return 0;
}
