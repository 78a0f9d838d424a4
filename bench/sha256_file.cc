// Hashes one file through RootedFileSystem::HashFile, the path the file and av_edr checks take,
// and prints the best wall time of N runs and the throughput. bench/sha256.sh compares it with
// `openssl dgst -sha256` on the same file.
//
//   drift_bench_sha256 FILE [RUNS]   ->   "hex=<digest> bytes=<n> best_seconds=<s> gib_per_s=<x>"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "checks/rooted_fs.h"
#include "common/sha256.h"

namespace {

int Run(const std::filesystem::path& file, int runs) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(file, ec);
  if (ec) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(), ec.message().c_str());
    return 2;
  }
  struct stat st {};
  if (::stat(absolute.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "%s: not a regular file\n", absolute.c_str());
    return 2;
  }
  // The file's folder is the root, as a check's host root would be; the file is then "/name".
  drift::checks::RootedFileSystem fs(absolute.parent_path().string());
  // Appended rather than "/" + name: GCC 12 warns falsely (-Wrestrict) on that operator+ at -O2.
  std::string host_path = "/";
  host_path += absolute.filename().string();

  double best = 0;
  std::string hex;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    drift::Result<drift::Sha256Digest> digest =
        fs.HashFile(host_path, /*no_follow=*/true, start + std::chrono::hours(1));
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (!digest.ok()) {
      std::fprintf(stderr, "%s\n", digest.error().message.c_str());
      return 1;
    }
    hex = drift::ToHex(*digest);
    if (i == 0 || took.count() < best) best = took.count();
  }
  const double gib = static_cast<double>(st.st_size) / (1024.0 * 1024.0 * 1024.0);
  std::printf("hex=%s bytes=%lld best_seconds=%.4f gib_per_s=%.3f\n", hex.c_str(),
              static_cast<long long>(st.st_size), best, gib / best);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s FILE [RUNS]\n", argv[0]);
    return 2;
  }
  int runs = argc == 3 ? std::atoi(argv[2]) : 5;
  if (runs < 1) runs = 1;
  return Run(argv[1], runs);
}
