// Evidence benchmarks (bench/evidence.sh runs them):
//   drift_bench_evidence overhead DIR N      records/s signed + fsynced vs bare write + fsync of
//                                            the same bytes, interleaved in one run
//   drift_bench_evidence generate DIR N      a store of N records, written without fsync (the
//                                            bytes are the same; only generation is faster)
//   drift_bench_evidence year DIR CHECKS     one host-year at default settings (hourly
//                                            attestations, a drift episode per check per week,
//                                            a reload a week, a restart a month), no fsync
//   drift_bench_evidence write-forever DIR   appends until killed (the kill -9 loop)
// Every mode writes DIR/bench.pub (the public key) and prints "key value" lines on stdout.

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "evidence/keys.h"
#include "evidence/store.h"
#include "evidence/store_fs.h"
#include "evidence/writer.h"
#include "tests/support/fakes.h"

namespace drift::evidence {
namespace {

using Clock = std::chrono::steady_clock;

// The real file system without fsync: for generating large stores quickly.
class NoSyncFs final : public StoreFs {
 public:
  Status MakeDir(const std::string& p, mode_t m) override { return real_->MakeDir(p, m); }
  Result<int> CreateExclusive(const std::string& p, mode_t m) override {
    return real_->CreateExclusive(p, m);
  }
  Status Write(int fd, std::string_view d) override { return real_->Write(fd, d); }
  Status Sync(int) override { return {}; }
  Status Close(int fd) override { return real_->Close(fd); }
  Status Rename(const std::string& a, const std::string& b, bool n) override {
    return real_->Rename(a, b, n);
  }
  Status SyncDir(const std::string&) override { return {}; }
  Status Remove(const std::string& p) override { return real_->Remove(p); }
  Status RemoveDir(const std::string& p) override { return real_->RemoveDir(p); }
  Result<std::vector<std::string>> List(const std::string& d) override { return real_->List(d); }
  Result<std::string> Read(const std::string& p, std::size_t m) override {
    return real_->Read(p, m);
  }

 private:
  std::unique_ptr<StoreFs> real_ = MakePosixStoreFs();
};

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "drift_bench_evidence: " << what << "\n";
  std::exit(1);
}

SecretKey BenchKey(const std::string& dir) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(7);
  SecretKey key = SecretKey::FromSeed(seed, KeyId{0xbe, 0x9c, 0x40, 0x01, 0x02, 0x03, 0x04, 0x05});
  std::filesystem::create_directories(dir);
  // Written once, through a rename: the kill -9 loop must never leave a torn key file.
  if (!std::filesystem::exists(dir + "/bench.pub")) {
    std::string tmp = dir + "/.bench.pub." + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) Die("cannot write bench.pub");
    std::fputs(FormatPublicKeyFile(key.public_key()).c_str(), f);
    std::fclose(f);
    std::filesystem::rename(tmp, dir + "/bench.pub");
  }
  return key;
}

// A transition record shaped like the exporter's (about 1 KB of JSON).
Record Transition(std::uint64_t i, int check) {
  Record r;
  r.kind = "transition";
  r.check = fmt::format("check-{}", check);
  r.controls = {"hipaa:164.312(a)(1)", "hipaa:164.312(e)(1)", "soc2:CC7.1"};
  r.severity = i % 2 == 0 ? "critical" : "none";
  r.payload = {
      {"from", i % 2 == 0 ? "compliant" : "drifted"},
      {"to", i % 2 == 0 ? "drifted" : "compliant"},
      {"reason", "ruleset_hash_mismatch: observed 3f1c2a…, expected 9b0e44…"},
      {"verdict", i % 2 == 0 ? "drifted" : "compliant"},
      {"check_type", "firewall"},
      {"recommended_action", "restore_firewall_baseline"},
      {"observed", {{"service", "active"}, {"ruleset_sha256", std::string(64, 'a')}}},
      {"findings", nlohmann::json::array({{{"cause", "ruleset_hash_mismatch"},
                                           {"observed", std::string(64, 'a')},
                                           {"expected", std::string(64, 'b')}}})},
      {"run_finished", "2024-08-01T12:00:00.000Z"},
      {"duration_ms", 12},
      {"runs", i},
      {"baseline_files",
       nlohmann::json::array(
           {{{"path", "/etc/drift_exporter/config.yml"}, {"sha256", std::string(64, 'c')}},
            {{"path", "/etc/drift_exporter/baseline.yml"}, {"sha256", std::string(64, 'd')}}})}};
  return r;
}

Record Attestation(int checks) {
  Record r;
  r.kind = "attestation";
  nlohmann::json list = nlohmann::json::array();
  for (int c = 0; c < checks; ++c) {
    list.push_back({{"check", fmt::format("check-{}", c)},
                    {"check_type", "firewall"},
                    {"state", "compliant"},
                    {"runs", 1000 + c},
                    {"reason", "nftables.service is active and the ruleset matches its baseline"},
                    {"last_run", "2024-08-01T12:00:00.000Z"}});
  }
  for (int c = 0; c < checks; ++c) r.controls.push_back(fmt::format("hipaa:164.312(a)({})", c));
  r.payload = {{"checks", list},
               {"counts", {{"compliant", checks}}},
               {"interval_seconds", 3600},
               {"attested_at", "2024-08-01T12:00:00.000Z"}};
  return r;
}

std::unique_ptr<Store> OpenStore(const std::string& dir, StoreFs& fs, const drift::Clock& clock) {
  Result<std::unique_ptr<Store>> store = Store::Open(dir, "bench-host", fs, clock);
  if (!store.ok()) Die(store.error().message);
  if (Result<RecoveryReport> r = (*store)->Recover(); !r.ok()) Die(r.error().message);
  return std::move(*store);
}

// The same bytes as a published record, written the plain way: each file created, written and
// fsynced, one after the other.
void BareWrite(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) Die("open " + path);
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) Die("write");
  if (::fsync(fd) != 0) Die("fsync");
  ::close(fd);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int Overhead(const std::string& dir, int n) {
  SecretKey key = BenchKey(dir);
  SystemClock clock;
  auto fs = MakePosixStoreFs();
  auto store = OpenStore(dir + "/store", *fs, clock);
  std::filesystem::create_directories(dir + "/bare");
  const int kRound = 25;
  double signed_s = 0, bare_s = 0, seal_s = 0;
  int done = 0;
  std::uint64_t bare_files = 0;
  // Rounds alternate so that both see the same disk weather.
  while (done < n) {
    std::vector<Published> round;
    auto t0 = Clock::now();
    for (int i = 0; i < kRound; ++i) {
      PublishOutcome out = store->Publish(std::vector<Record>{Transition(done + i, i % 6)}, key);
      if (out.error) Die(out.error->message);
      round.push_back(out.published.front());
    }
    signed_s += Seconds(t0);
    std::vector<std::pair<std::string, std::string>> bytes;
    for (const Published& p : round) {
      Result<std::string> json = ReadSmallFile(dir + "/store/" + p.path, 1 << 20);
      Result<std::string> sig = ReadSmallFile(dir + "/store/" + p.path + ".minisig", 1 << 20);
      if (!json.ok() || !sig.ok()) Die("cannot read back a record");
      bytes.emplace_back(*json, *sig);
    }
    t0 = Clock::now();
    for (const auto& [json, sig] : bytes) {
      BareWrite(fmt::format("{}/bare/{}.json", dir, bare_files), json);
      BareWrite(fmt::format("{}/bare/{}.json.minisig", dir, bare_files), sig);
      ++bare_files;
    }
    bare_s += Seconds(t0);
    done += kRound;
  }
  // The CPU part alone: serialise, hash, sign, verify (no I/O), on a store without fsync.
  NoSyncFs nosync;
  auto cpu_store = OpenStore(dir + "/cpu", nosync, clock);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    Record r = Transition(i, i % 6);
    RecordHeader h{static_cast<std::uint64_t>(i + 1), clock.Now(), "bench-host", ChainValue{}};
    Result<std::string> json = SerializeRecord(r, h);
    Sha256Digest hash = Sha256Of(*json);
    Result<Signature> sig = Sign(key, *json,
                                 FormatTrustedComment({h.seq, FormatRecordTime(h.time), r.kind,
                                                       hash, NextChain(h.prev_chain, h.seq, hash)}),
                                 "bench");
    if (!sig.ok() || !VerifySignature(key.public_key(), *json, *sig).ok()) Die("seal");
  }
  seal_s = Seconds(t0);

  // The writer as the daemon runs it: a queue, records published in batches.
  Result<std::unique_ptr<Store>> wstore = Store::Open(dir + "/writer", "bench-host", *fs, clock);
  if (!wstore.ok()) Die(wstore.error().message);
  Writer writer(std::move(*wstore), BenchKey(dir + "/writer-key"), clock, {}, {}, nullptr);
  while (writer.last_seq() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  t0 = Clock::now();
  int queued = 0;
  while (queued < n) {
    if (writer.Enqueue(Transition(queued, queued % 6))) {
      ++queued;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  while (writer.last_seq() < static_cast<std::uint64_t>(n) + 1) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  double batched_s = Seconds(t0);
  writer.Stop();

  std::cout << fmt::format("records {}\n", n);
  std::cout << fmt::format("signed_rps {:.1f}\n", n / signed_s);
  std::cout << fmt::format("bare_rps {:.1f}\n", n / bare_s);
  std::cout << fmt::format("ratio {:.3f}\n", signed_s / bare_s);
  std::cout << fmt::format("seal_us {:.1f}\n", seal_s / n * 1e6);
  std::cout << fmt::format("batched_rps {:.1f}\n", n / batched_s);
  std::cout << fmt::format("batched_ratio {:.3f}\n", batched_s / bare_s);
  return 0;
}

int Generate(const std::string& dir, int n) {
  SecretKey key = BenchKey(dir);
  drift::testing::FakeClock clock(WallTime(std::chrono::seconds(1'722'513'600)));
  NoSyncFs fs;
  auto store = OpenStore(dir + "/store", fs, clock);
  const int kBatch = 256;
  auto t0 = Clock::now();
  for (int i = 0; i < n; i += kBatch) {
    std::vector<Record> batch;
    for (int j = i; j < std::min(n, i + kBatch); ++j) {
      batch.push_back(j % 10 == 0 ? Attestation(6) : Transition(j, j % 6));
    }
    PublishOutcome out = store->Publish(batch, key);
    if (out.error) Die(out.error->message);
    clock.Advance(std::chrono::minutes(10));
  }
  std::cout << fmt::format("generated {} in {:.1f}s\n", n, Seconds(t0));
  return 0;
}

int Year(const std::string& dir, int checks) {
  SecretKey key = BenchKey(dir);
  drift::testing::FakeClock clock(WallTime(std::chrono::seconds(1'722'513'600)));
  NoSyncFs fs;
  auto store = OpenStore(dir + "/store", fs, clock);
  std::uint64_t counts[5] = {};  // attestation, transition, config_load, start/stop
  auto publish = [&](Record r, int kind) {
    PublishOutcome out = store->Publish(std::vector<Record>{std::move(r)}, key);
    if (out.error) Die(out.error->message);
    ++counts[kind];
  };
  const int kHours = 24 * 365;
  Record start;
  start.kind = "start";
  for (int h = 0; h < kHours; ++h) {
    if (h % (24 * 30) == 0) {  // a restart a month: stop, start, config load
      Record stop;
      stop.kind = "stop";
      if (h > 0) publish(stop, 3);
      publish(start, 3);
      Record load;
      load.kind = "config_load";
      load.payload = {{"files", nlohmann::json::array({{{"path", "/etc/drift_exporter/config.yml"},
                                                        {"sha256", std::string(64, 'c')}}})}};
      publish(load, 2);
    } else if (h % (24 * 7) == 0) {  // a reload a week
      Record load;
      load.kind = "config_load";
      load.payload = {{"files", nlohmann::json::array({{{"path", "/etc/drift_exporter/config.yml"},
                                                        {"sha256", std::string(64, 'c')}}})}};
      publish(load, 2);
    }
    // One drift episode per check per week: drifted, then compliant a few hours later.
    for (int c = 0; c < checks; ++c) {
      int at = (c * 17) % (24 * 7);
      if (h % (24 * 7) == at || h % (24 * 7) == (at + 3) % (24 * 7)) {
        publish(Transition(static_cast<std::uint64_t>(h), c), 1);
      }
    }
    publish(Attestation(checks), 0);
    clock.Advance(std::chrono::hours(1));
  }
  std::cout << fmt::format("attestations {}\ntransitions {}\nconfig_loads {}\nstart_stop {}\n",
                           counts[0], counts[1], counts[2], counts[3]);
  std::cout << fmt::format("records {}\n", counts[0] + counts[1] + counts[2] + counts[3]);
  return 0;
}

[[noreturn]] void WriteForever(const std::string& dir) {
  SecretKey key = BenchKey(dir);
  SystemClock clock;
  auto fs = MakePosixStoreFs();
  Result<std::unique_ptr<Store>> store = Store::Open(dir + "/store", "bench-host", *fs, clock);
  if (!store.ok()) Die(store.error().message);
  WriterOptions options;
  options.attestation_interval = std::chrono::milliseconds(5);
  options.retry_initial = std::chrono::milliseconds(1);
  Writer writer(std::move(*store), std::move(key), clock, options, {},
                [] { return Attestation(6); });
  for (std::uint64_t i = 0;; ++i) {
    if (!writer.Enqueue(Transition(i, static_cast<int>(i % 6)))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

}  // namespace
}  // namespace drift::evidence

int main(int argc, char** argv) {
  using namespace drift::evidence;
  std::string mode = argc > 1 ? argv[1] : "";
  std::string dir = argc > 2 ? argv[2] : "";
  int n = argc > 3 ? std::atoi(argv[3]) : 0;
  if (mode == "overhead" && n > 0) return Overhead(dir, n);
  if (mode == "generate" && n > 0) return Generate(dir, n);
  if (mode == "year" && n > 0) return Year(dir, n);
  if (mode == "write-forever" && !dir.empty()) WriteForever(dir);
  std::cerr << "usage: drift_bench_evidence overhead|generate|year DIR N | write-forever DIR\n";
  return 2;
}
