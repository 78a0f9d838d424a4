// Writes the seed corpus of the evidence targets from real stores signed with the seed keys
// (seed_key.h: SeedSecretKey(1), and SeedSecretKey(2) for a rotation):
//   <out>/verify/<store>       each store in verify_fuzz's input form, "<path>\0<content>\0"...
//   <out>/record/<store>-<file> its record files and head
//   <out>/minisign/<store>-<file> its signatures and public keys, and the seed secret key file
// Usage: make_verify_corpus <corpus folder> (tests/fuzz/corpus). Deterministic: signatures are
// Ed25519 and the clock is fixed, so a rerun writes the same bytes.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "evidence/catalog.h"
#include "evidence/minisign.h"
#include "evidence/record.h"
#include "evidence/store.h"
#include "evidence/store_fs.h"
#include "tests/fuzz/seed_key.h"

namespace ev = drift::evidence;
namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::minutes;

namespace {

class StepClock final : public drift::Clock {
 public:
  drift::WallTime Now() const override { return now_; }
  void Advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  drift::WallTime now_ = drift::WallTime(std::chrono::seconds(1'722'513'600));  // 2024-08-01 12:00
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_verify_corpus: %s\n", what.c_str());
  std::exit(1);
}

ev::Record Rec(std::string kind, std::optional<std::string> check = std::nullopt) {
  ev::Record r;
  r.kind = std::move(kind);
  r.check = std::move(check);
  r.controls = {"hipaa:164.312(b)"};
  r.payload = {{"note", "fixture"}, {"n", 1}};
  return r;
}

void Append(const fs::path& dir, StepClock& clock, const ev::SecretKey& key,
            const std::vector<ev::Record>& records) {
  auto posix = ev::MakePosixStoreFs();
  ev::StoreOptions options;
  options.head_interval = std::chrono::milliseconds(0);
  drift::Result<std::unique_ptr<ev::Store>> store =
      ev::Store::Open(dir.string(), "web-1", *posix, clock, options);
  if (!store.ok()) Die(store.error().message);
  if (!(*store)->Recover().ok()) Die("recover failed");
  ev::PublishOutcome out = (*store)->Publish(records, key);
  if (out.error) Die(out.error->message);
}

void Prune(const fs::path& dir, StepClock& clock, const ev::SecretKey& key,
           const std::string& cutoff) {
  auto posix = ev::MakePosixStoreFs();
  drift::Result<std::unique_ptr<ev::Store>> store =
      ev::Store::Open(dir.string(), "web-1", *posix, clock);
  if (!store.ok() || !(*store)->Recover().ok()) Die("cannot open the store to prune");
  if (!(*store)->Prune(cutoff, key).ok()) Die("prune failed");
}

using Files = std::map<std::string, std::string>;  // relative path ("dir/" for a folder): bytes

Files ReadTree(const fs::path& dir) {
  Files files;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_directory()) {
      if (fs::is_empty(e.path())) files[rel + "/"] = "";
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    files[rel] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  files.erase("writer.lock");  // holds the generator's pid: not deterministic
  return files;
}

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void WriteStore(const fs::path& out, const std::string& name, const Files& files) {
  std::string bytes;
  for (const auto& [path, content] : files) {
    bytes.append(path).push_back('\0');
    bytes.append(content).push_back('\0');
  }
  Write(out / "verify" / name, bytes);
}

// The store's record files and head to corpus/record, its signatures and keys to
// corpus/minisign (each file once per store, named after it).
void WriteParts(const fs::path& out, const std::string& name, const Files& files) {
  for (const auto& [path, content] : files) {
    std::string flat = fs::path(path).filename().string();
    if (path.ends_with(".json") || flat.starts_with("head-")) {
      Write(out / "record" / (name + "-" + flat), content);
    } else if (path.ends_with(".minisig") || path.ends_with(".pub")) {
      Write(out / "minisign" / (name + "-" + flat), content);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: make_verify_corpus <corpus folder>");
  const fs::path out = argv[1];
  const fs::path work = fs::temp_directory_path() / "drift-make-verify-corpus";
  fs::remove_all(work);
  fs::create_directories(work);
  fs::permissions(work, fs::perms::owner_all);
  const ev::SecretKey key = drift::fuzz::SeedSecretKey(1);
  const ev::SecretKey next_key = drift::fuzz::SeedSecretKey(2);
  std::map<std::string, Files> stores;

  {  // Two runs over two days, stopped cleanly.
    StepClock clock;
    const fs::path dir = work / "basic";
    Append(dir, clock, key,
           {Rec("start"), Rec("config_load"), Rec("transition", "fw"), Rec("attestation")});
    clock.Advance(hours(24));
    Append(dir, clock, key, {Rec("transition", "fw"), Rec("stop")});
    stores["basic"] = ReadTree(dir);
    drift::Result<ev::ExportReport> exported =
        ev::ExportRecords(dir.string(), clock.Now() - hours(1), std::nullopt,
                          (work / "export").string(), clock.Now());
    if (!exported.ok()) Die(exported.error().message);
    stores["export"] = ReadTree(work / "export");
  }
  {  // A run after a crash, with its recovery record; then a key rotation.
    StepClock clock;
    const fs::path dir = work / "rotation";
    Append(dir, clock, key, {Rec("start"), Rec("attestation")});
    clock.Advance(minutes(5));
    ev::Record recovery = Rec("recovery");
    recovery.payload = {{"reasons", {"no stop record"}}};
    ev::Record rotation = Rec("key_rotation");
    rotation.payload = {{"previous_key_id", ev::FormatKeyId(key.id())},
                        {"new_key_id", ev::FormatKeyId(next_key.id())},
                        {"new_public_key", ev::FormatPublicKeyFile(next_key.public_key())},
                        {"signed_by_previous_key", true}};
    Append(dir, clock, key, {recovery, rotation});
    Append(dir, clock, next_key, {Rec("attestation"), Rec("stop")});
    stores["rotation"] = ReadTree(dir);
  }
  {  // Three days, the first two pruned.
    StepClock clock;
    const fs::path dir = work / "pruned";
    Append(dir, clock, key, {Rec("start"), Rec("attestation")});
    clock.Advance(hours(24));
    Append(dir, clock, key, {Rec("attestation")});
    clock.Advance(hours(24));
    Append(dir, clock, key, {Rec("attestation")});
    Prune(dir, clock, key, "2024/08/03");
    stores["pruned"] = ReadTree(dir);
  }
  // Damaged copies of the basic store, one kind of damage each.
  const Files& basic = stores["basic"];
  auto first_with = [&](const std::string& suffix) {
    for (const auto& [path, _] : basic) {
      if (path.ends_with(suffix)) return path;
    }
    Die("no file ending in " + suffix);
  };
  Files edited = basic;
  std::string& record = edited[first_with("-config_load.json")];
  record[record.find("fixture")] = 'F';
  stores["edited_record"] = edited;
  Files unsigned_record = basic;
  unsigned_record.erase(first_with("-attestation.json.minisig"));
  stores["missing_signature"] = unsigned_record;
  Files deleted = basic;
  deleted.erase(first_with("-config_load.json"));
  deleted.erase(first_with("-config_load.json.minisig"));
  stores["deleted_record"] = deleted;
  Files headless = basic;
  headless.erase(first_with("head-00000000000000000006"));
  stores["no_head"] = headless;
  Files orphan = basic;
  orphan["records/2024/08/01/notes.txt"] = "not a record\n";
  orphan["records/2024/13/"] = "";
  stores["orphan"] = orphan;

  for (const auto& [name, files] : stores) {
    WriteStore(out, name, files);
    if (name == "basic" || name == "rotation" || name == "pruned" || name == "export") {
      WriteParts(out, name, files);
    }
  }
  std::string secret = key.FormatFile();
  Write(out / "minisign" / "seed-secret-key", secret);
  ev::WipeString(secret);
  fs::remove_all(work);
  std::printf("wrote %zu stores to %s\n", stores.size(), out.c_str());
  return 0;
}
