#include "evidence/verify.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "evidence/record.h"
#include "evidence/store.h"
#include "evidence/store_fs.h"

namespace drift::evidence {
namespace {

constexpr std::string_view kExportManifest = "export.json";
constexpr std::string_view kExportReadme = "README.md";

// One file name in a day folder.
struct Entry {
  std::string folder;  // "YYYY/MM/DD"
  std::string kind;
  bool has_record = false;
  bool has_signature = false;
};

// What the parallel phase learns about one record (a record file with its signature).
struct Checked {
  std::uint64_t seq = 0;
  std::string folder;
  std::string name;  // file name of the record
  std::optional<Finding> problem;
  bool signature_ok = false;  // the comment signature verified with the key it names
  KeyId key_id{};
  TrustedComment comment;
  // The record's fields, present when it parsed; the payload only for the kinds whose payload
  // the verifier reads (prune, key_rotation).
  struct Fields {
    RecordHeader header;
    std::string kind;
    std::string day;  // DayFolder(header.time), computed here rather than in the sequential pass
    nlohmann::json payload;
  };
  std::optional<Fields> record;
};

std::string RecordPath(const std::string& folder, std::string_view name) {
  return fmt::format("{}/{}/{}", kRecordsDir, folder, name);
}

// Reads a key_rotation record's new key (without trusting it yet: the sequential pass decides).
std::optional<PublicKey> RotationKey(const nlohmann::json& p) {
  if (!p.contains("new_public_key") || !p["new_public_key"].is_string()) return std::nullopt;
  Result<PublicKey> key = ParsePublicKeyFile(p["new_public_key"].get<std::string>());
  if (!key.ok()) return std::nullopt;
  return *key;
}

// Reads the record files of one verifier thread: through options.fs when given, else with each
// day folder opened once, so that each file is opened relative to its folder.
class FolderCache {
 public:
  FolderCache(std::string records, StoreFs* fs) : records_(std::move(records)), fs_(fs) {}
  ~FolderCache() {
    for (auto& [_, fd] : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  // The file `name` in day folder `folder`; `shown` is its full path.
  Result<std::string> Read(const std::string& folder, const std::string& name,
                           std::size_t max_bytes, const std::string& shown) {
    if (fs_ != nullptr) return fs_->Read(shown, max_bytes);
    return ReadSmallFileAt(Get(folder), name, max_bytes, shown);
  }

 private:
  int Get(const std::string& folder) {
    auto it = fds_.find(folder);
    if (it != fds_.end()) return it->second;
    int fd = ::open((records_ + "/" + folder).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fds_.emplace(folder, fd);
    return fd;
  }

  std::string records_;
  StoreFs* fs_;
  std::map<std::string, int> fds_;
};

Checked CheckOne(const std::string& dir, std::uint64_t seq, const Entry& e,
                 const std::map<KeyId, PublicKey>& keys, bool thorough, FolderCache& folders) {
  Checked c;
  c.seq = seq;
  c.folder = e.folder;
  c.name = RecordStem(seq, e.kind) + std::string(kRecordSuffix);
  const std::string path = RecordPath(e.folder, c.name);
  auto problem = [&](Problem p, std::string message) {
    c.problem = Finding{p, seq, path, std::move(message)};
    return c;
  };
  Result<std::string> bytes = folders.Read(e.folder, c.name, kMaxRecordBytes, dir + "/" + path);
  if (!bytes.ok()) return problem(Problem::kMalformedRecord, bytes.error().message);
  Result<std::string> sig_text =
      folders.Read(e.folder, c.name + ".minisig", 16384, dir + "/" + path + ".minisig");
  if (!sig_text.ok()) return problem(Problem::kEditedSignature, sig_text.error().message);
  Result<Signature> sig = ParseSignatureFile(*sig_text);
  if (!sig.ok()) {
    return problem(Problem::kEditedSignature,
                   fmt::format("{}.minisig: {}", c.name, sig.error().message));
  }
  c.key_id = sig->key_id;
  auto key = keys.find(sig->key_id);
  if (key == keys.end()) {
    return problem(Problem::kUnknownKey,
                   fmt::format("{} is signed by key {}, which is not a trusted key", c.name,
                               FormatKeyId(sig->key_id)));
  }
  if (Status s = VerifyTrustedComment(key->second, *sig); !s.ok()) {
    return problem(Problem::kEditedSignature,
                   fmt::format("{}.minisig: {}", c.name, s.error().message));
  }
  c.signature_ok = true;
  Result<TrustedComment> comment = ParseTrustedComment(sig->trusted_comment);
  if (!comment.ok()) return problem(Problem::kMalformedRecord, comment.error().message);
  c.comment = *comment;
  Sha256Digest hash = Sha256Of(*bytes);
  if (hash != comment->record_sha256) {
    Result<ParsedRecord> parsed = ParseRecord(*bytes);
    return problem(Problem::kEditedRecord,
                   fmt::format("{} was changed after signing: its SHA-256 is {}, the signature "
                               "says {}{}",
                               c.name, ToHex(hash), ToHex(comment->record_sha256),
                               parsed.ok() ? "" : "; " + parsed.error().message));
  }
  if (thorough) {
    if (Status s = VerifyFileSignature(key->second, *bytes, *sig); !s.ok()) {
      return problem(Problem::kEditedRecord, fmt::format("{}: {}", c.name, s.error().message));
    }
  }
  Result<RecordView> parsed = ScanRecord(*bytes);
  if (!parsed.ok()) {
    Result<ParsedRecord> slow = ParseRecord(*bytes);  // for its more precise message
    return problem(Problem::kMalformedRecord,
                   slow.ok() ? parsed.error().message : slow.error().message);
  }
  if (thorough) {
    if (Result<ParsedRecord> slow = ParseRecord(*bytes); !slow.ok()) {
      return problem(Problem::kMalformedRecord, slow.error().message);
    }
  }
  if (comment->seq != seq || parsed->header.seq != seq) {
    return problem(Problem::kReorderedRecords,
                   fmt::format("{} holds the record signed as seq {}", c.name, comment->seq));
  }
  if (comment->kind != e.kind || parsed->kind != e.kind) {
    return problem(Problem::kReorderedRecords,
                   fmt::format("{} holds a record of kind {}", c.name, comment->kind));
  }
  if (comment->time != FormatRecordTime(parsed->header.time)) {
    return problem(
        Problem::kMalformedRecord,
        fmt::format("{}: the signed time {} differs from the record's", c.name, comment->time));
  }
  if (NextChain(parsed->header.prev_chain, seq, hash) != comment->chain) {
    return problem(
        Problem::kBrokenChain,
        fmt::format("{}: the signed chain value does not follow from its prev_chain", c.name));
  }
  c.record = Checked::Fields{parsed->header, parsed->kind, DayFolder(parsed->header.time),
                             nlohmann::json()};
  if (e.kind == kinds::kPrune || e.kind == kinds::kKeyRotation) {
    c.record->payload = nlohmann::json::parse(parsed->payload, nullptr, false);
  }
  return c;
}

std::uint64_t PayloadUint(const nlohmann::json& payload, std::string_view key) {
  auto it = payload.find(key);
  if (it == payload.end() || !it->is_number_unsigned()) return 0;
  return it->get<std::uint64_t>();
}

std::string PayloadString(const nlohmann::json& payload, std::string_view key) {
  auto it = payload.find(key);
  if (it == payload.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

std::string_view ProblemName(Problem p) {
  switch (p) {
    case Problem::kEditedRecord:
      return "edited_record";
    case Problem::kMalformedRecord:
      return "malformed_record";
    case Problem::kMissingSignature:
      return "missing_signature";
    case Problem::kEditedSignature:
      return "edited_signature";
    case Problem::kUnknownKey:
      return "unknown_key";
    case Problem::kDeletedRecord:
      return "deleted_record";
    case Problem::kReorderedRecords:
      return "reordered_records";
    case Problem::kDuplicateRecord:
      return "duplicate_record";
    case Problem::kTruncatedTail:
      return "truncated_tail";
    case Problem::kOrphanFile:
      return "orphan_file";
    case Problem::kUnrecoveredCrash:
      return "unrecovered_crash";
    case Problem::kBrokenChain:
      return "broken_chain";
  }
  return "unknown";
}

namespace {

// One run of VerifyStore. Each step reads what the earlier ones found and adds findings to the
// report; Run() lists them in order.
class Verification {
 public:
  Verification(std::string dir, const VerifyOptions& options)
      : dir_(std::move(dir)), options_(options), records_(dir_ + "/" + std::string(kRecordsDir)) {}

  Result<VerifyReport> Run() {
    if (Status s = ReadTopLevel(); !s.ok()) return s.error();
    ReadHeadFile();
    CheckKeyFolder();
    WalkRecords("", 0);
    GroupBySeq();
    SortOutEntries();
    JudgeTemporaries();
    CheckRecordsInParallel();
    ReadPrunes();
    JudgeLoneSignatures();
    for (const PublicKey& k : options_.trusted_keys) trusted_.insert(k.id);
    if (std::optional<std::uint64_t> start = StartSeq()) CheckSequence(*start);
    if (report_.export_bundle) CheckExportManifest();
    if (!report_.export_bundle) CheckHead();
    std::stable_sort(report_.findings.begin(), report_.findings.end(),
                     [](const Finding& a, const Finding& b) {
                       if (a.seq != b.seq) return a.seq < b.seq;
                       return a.path < b.path;
                     });
    return std::move(report_);
  }

 private:
  void Find(Problem p, std::uint64_t seq, std::string path, std::string message) {
    report_.findings.push_back({p, seq, std::move(path), std::move(message)});
  }
  // The store's folders and files, through options.fs when given.
  Result<std::vector<std::string>> List(const std::string& dir) const {
    return options_.fs != nullptr ? options_.fs->List(dir) : ListDir(dir);
  }
  Result<std::string> Read(const std::string& path, std::size_t max_bytes) const {
    return options_.fs != nullptr ? options_.fs->Read(path, max_bytes)
                                  : ReadSmallFile(path, max_bytes);
  }
  std::uint64_t FirstChecked() const { return checked_.empty() ? 0 : checked_.front().seq; }
  std::uint64_t LastChecked() const { return checked_.empty() ? 0 : checked_.back().seq; }
  // `checked_` is in seq order (so is `work_`).
  const Checked* CheckedAt(std::uint64_t seq) const {
    auto it = std::lower_bound(checked_.begin(), checked_.end(), seq,
                               [](const Checked& c, std::uint64_t s) { return c.seq < s; });
    return it != checked_.end() && it->seq == seq ? &*it : nullptr;
  }

  // The store's top level: records/ and keys/, head files, and (in an export bundle) its
  // manifest and README; anything else is an orphan.
  Status ReadTopLevel() {
    Result<std::vector<std::string>> top = List(dir_);
    if (!top.ok()) return Err("evidence directory {}", top.error().message);
    top_names_ = std::set<std::string>(top->begin(), top->end());
    report_.export_bundle = top_names_.contains(std::string(kExportManifest));
    if (!top_names_.contains(std::string(kRecordsDir))) {
      return Err("{} is not an evidence store: it has no records/ folder", dir_);
    }
    for (const std::string& name : top_names_) {
      if (name == kRecordsDir || name == kKeysDir) continue;
      if (ParseHeadFileName(name) && !report_.export_bundle) {
        heads_.push_back(name);
        continue;
      }
      if (report_.export_bundle && (name == kExportManifest || name == kExportReadme)) continue;
      if (name == kLockFile && !report_.export_bundle) continue;  // the writer's (StoreLock)
      if (name == kHeadTemp) {
        report_.interrupted.push_back(name);
        continue;
      }
      Find(Problem::kOrphanFile, 0, name, fmt::format("{}: not part of an evidence store", name));
    }
    return {};
  }

  // The head is read before the records are walked: a daemon writing meanwhile (verify takes no
  // lock) only adds records after the ones it names. It also replaces it, so a listed head may
  // be gone when read: then the folder is listed again.
  void ReadHeadFile() {
    for (int attempt = 0; !report_.export_bundle; ++attempt) {
      std::sort(heads_.rbegin(), heads_.rend());
      if (heads_.empty()) break;
      head_name_ = heads_.front();
      head_text_ = Read(dir_ + "/" + head_name_, 4096);
      if (head_text_.ok() || head_text_.error().sys_errno != ENOENT || attempt == 4) break;
      Result<std::vector<std::string>> again = List(dir_);
      if (!again.ok()) break;
      heads_.clear();
      for (const std::string& name : *again) {
        if (ParseHeadFileName(name)) heads_.push_back(name);
      }
    }
  }

  // keys/ holds <KEY ID>.pub files, and a key file being written.
  void CheckKeyFolder() {
    if (!top_names_.contains(std::string(kKeysDir))) return;
    Result<std::vector<std::string>> keys = List(dir_ + "/" + std::string(kKeysDir));
    if (!keys.ok()) return;
    for (const std::string& k : *keys) {
      bool ok = k.size() == 20 && k.ends_with(".pub") && ParseKeyId(k.substr(0, 16)).ok();
      if (ok) continue;
      if (k.starts_with('.') && k.ends_with(".pub.tmp")) {
        report_.interrupted.push_back("keys/" + k);  // a key file being written
        continue;
      }
      Find(Problem::kOrphanFile, 0, "keys/" + k, "keys/" + k + ": not a key file");
    }
  }

  // records/: YYYY/MM/DD folders holding record files and signatures only. `rel` is a folder
  // under records/ at depth `level` (0: records/ itself).
  void WalkRecords(const std::string& rel, int level) {
    std::string abs = rel.empty() ? records_ : records_ + "/" + rel;
    Result<std::vector<std::string>> names = List(abs);
    if (!names.ok()) {
      Find(Problem::kOrphanFile, 0, std::string(kRecordsDir) + "/" + rel, names.error().message);
      return;
    }
    std::sort(names->begin(), names->end());
    for (const std::string& n : *names) {
      auto shown_path = [&] {
        return std::string(kRecordsDir) + "/" + (rel.empty() ? n : rel + "/" + n);
      };
      if (level < 3) {
        std::string child = rel.empty() ? n : rel + "/" + n;
        std::string shown = shown_path();
        if (IsDayFolderPart(n, level)) {
          WalkRecords(child, level + 1);
        } else {
          Find(Problem::kOrphanFile, 0, shown, shown + ": not a day folder of the store");
        }
        continue;
      }
      if (n.starts_with('.') && n.ends_with(".tmp")) {
        auto inner = ParseRecordFileName(std::string_view(n).substr(1, n.size() - 5));
        temps_.emplace_back(inner ? inner->seq : 0, shown_path());
        continue;
      }
      auto parsed = ParseRecordFileName(n);
      if (!parsed) {
        Find(Problem::kOrphanFile, 0, shown_path(),
             shown_path() + ": not a record or signature file name");
        continue;
      }
      files_.push_back({parsed->seq, Entry{rel, std::move(parsed->kind), !parsed->signature,
                                           parsed->signature}});
    }
  }

  // A record file and its signature (same seq, folder and kind) become one entry; entries are
  // grouped by seq.
  void GroupBySeq() {
    std::sort(files_.begin(), files_.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      if (a.second.folder != b.second.folder) return a.second.folder < b.second.folder;
      return a.second.kind < b.second.kind;
    });
    for (auto& [seq, entry] : files_) {
      if (by_seq_.empty() || by_seq_.back().first != seq) by_seq_.push_back({seq, {}});
      std::vector<Entry>& entries = by_seq_.back().second;
      if (!entries.empty() && entries.back().folder == entry.folder &&
          entries.back().kind == entry.kind) {
        entries.back().has_record |= entry.has_record;
        entries.back().has_signature |= entry.has_signature;
      } else {
        entries.push_back(std::move(entry));
      }
    }
    for (const auto& [seq, entries] : by_seq_) {
      for (const Entry& e : entries) {
        if (e.has_record) max_record_seq_ = std::max(max_record_seq_, seq);
      }
    }
  }

  // Duplicates and records without a signature are findings; signatures without a record are
  // judged once the prune floor is known; the rest is the work of the parallel phase. Candidate
  // keys: the trusted ones, plus any a rotation record names. Whether a rotated-in key is
  // actually trusted at a given seq is decided in order by CheckSequence.
  void SortOutEntries() {
    for (const PublicKey& k : options_.trusted_keys) candidates_[k.id] = k;
    for (const auto& [seq, entries] : by_seq_) {
      if (entries.size() > 1) {
        std::string names;
        for (const Entry& e : entries) {
          names += (names.empty() ? "" : ", ") +
                   RecordPath(e.folder, RecordStem(seq, e.kind) + std::string(kRecordSuffix));
        }
        Find(Problem::kDuplicateRecord, seq, "",
             fmt::format("seq {} appears {} times: {}", seq, entries.size(), names));
        continue;
      }
      const Entry& e = entries.front();
      std::string path = RecordPath(e.folder, RecordStem(seq, e.kind) + std::string(kRecordSuffix));
      if (e.has_record && !e.has_signature) {
        Find(Problem::kMissingSignature, seq, path, path + ": no .minisig beside it");
        continue;
      }
      if (!e.has_record) {
        lone_signatures_.emplace_back(seq, path + ".minisig");
        continue;
      }
      work_.emplace_back(seq, &e);
      if (e.kind == kinds::kKeyRotation) {
        Result<std::string> bytes = Read(dir_ + "/" + path, kMaxRecordBytes);
        if (bytes.ok()) {
          if (Result<ParsedRecord> rec = ParseRecord(*bytes); rec.ok()) {
            if (auto key = RotationKey(rec->record.payload)) candidates_.emplace(key->id, *key);
          }
        }
      }
    }
  }

  // A temporary file above the last record is an interrupted write; below it, an orphan.
  void JudgeTemporaries() {
    for (const auto& [seq, path] : temps_) {
      if (seq > max_record_seq_) {
        report_.interrupted.push_back(path);
      } else {
        Find(Problem::kOrphanFile, seq, path,
             fmt::format("{}: a temporary file below the tail (seq {})", path, max_record_seq_));
      }
    }
  }

  // Signatures, hashes, parsing: CheckOne on every record, on up to options.threads threads.
  void CheckRecordsInParallel() {
    checked_.resize(work_.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      FolderCache folders(records_, options_.fs);
      for (std::size_t i = next++; i < work_.size(); i = next++) {
        checked_[i] = CheckOne(dir_, work_[i].first, *work_[i].second, candidates_,
                               options_.thorough, folders);
      }
    };
    std::vector<std::thread> threads;
    int n_threads =
        std::max(1, std::min<int>(options_.threads, static_cast<int>(work_.size() / 64) + 1));
    for (int i = 1; i < n_threads; ++i) threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads) t.join();
  }

  // The parallel phase's findings, and what prune records say: records below the highest first
  // kept seq may be gone, and where the chain continues from.
  void ReadPrunes() {
    for (const Checked& c : checked_) {
      if (c.problem) report_.findings.push_back(*c.problem);
      if (c.record && c.record->kind == kinds::kPrune && !report_.export_bundle) {
        const nlohmann::json& p = c.record->payload;
        std::uint64_t kept = PayloadUint(p, "first_kept_seq");
        Result<Sha256Digest> anchor = ParseSha256Hex(PayloadString(p, "anchor_chain"));
        if (kept > 0 && kept <= c.seq && anchor.ok()) {
          prune_floor_ = std::max(prune_floor_, kept);
          anchors_[kept] = *anchor;
        }
      }
    }
  }

  void JudgeLoneSignatures() {
    for (const auto& [seq, path] : lone_signatures_) {
      if (seq > max_record_seq_) {
        // The signature is renamed into place before its record: a crash in between leaves this.
        report_.interrupted.push_back(path);
      } else if (seq >= prune_floor_) {
        Find(Problem::kDeletedRecord, seq, path,
             fmt::format("{}: the signature is there, the record was deleted",
                         path.substr(0, path.size() - 8)));
      }  // below the floor: a prune was interrupted between a record and its signature
    }
  }

  // The seq the sequence must start at: the first one in an export, the prune floor, else 1
  // (a store starting later is a finding, and is checked from its first record on).
  std::optional<std::uint64_t> StartSeq() {
    if (checked_.empty()) return std::nullopt;
    const std::uint64_t first = FirstChecked();
    if (report_.export_bundle) return first;
    if (prune_floor_ > 0) {
      report_.awaiting_prune = static_cast<std::uint64_t>(
          std::count_if(checked_.begin(), checked_.end(),
                        [&](const Checked& c) { return c.seq < prune_floor_; }));
      return prune_floor_;
    }
    if (first != 1) {
      Find(Problem::kDeletedRecord, 1, "",
           fmt::format("the store starts at seq {}: records 1 to {} are missing and no prune "
                       "record accounts for them",
                       first, first - 1));
      return first;
    }
    return 1;
  }

  // In seq order from `start`: gaps, trust, the chain, folders, runs.
  void CheckSequence(std::uint64_t start) {
    const Checked* prev = nullptr;
    const Checked* first_timed = nullptr;
    const Checked* last_timed = nullptr;
    std::string_view prev_folder;
    const std::uint64_t last = LastChecked();
    std::size_t next_index = 0;
    for (std::uint64_t seq = start; seq <= last; ++seq) {
      while (next_index < checked_.size() && checked_[next_index].seq < seq) ++next_index;
      if (next_index == checked_.size() || checked_[next_index].seq != seq) {
        ReportGap(seq);
        prev = nullptr;
        continue;
      }
      const Checked& c = checked_[next_index];
      ++report_.records;
      if (report_.first_seq == 0) report_.first_seq = seq;
      report_.last_seq = seq;
      if (!c.signature_ok || !c.record) {
        prev = nullptr;
        continue;
      }
      if (first_timed == nullptr) first_timed = &c;
      last_timed = &c;
      CheckSigner(c);
      CheckLink(c, prev, start);
      // Folders only move forward: YYYY/MM/DD of the record's time, or the previous folder.
      std::string_view want_folder = std::max<std::string_view>(c.record->day, prev_folder);
      if (prev != nullptr && c.folder != want_folder) {
        Find(Problem::kReorderedRecords, seq, RecordPath(c.folder, c.name),
             fmt::format("{} is in folder {}, expected {}", c.name, c.folder, want_folder));
      }
      prev_folder = c.folder;
      if (prev != nullptr && prev->record) CheckRun(c, prev->record->kind);
      const std::string& kind = c.record->kind;
      if (kind == kinds::kStart) ++report_.runs;
      if (kind == kinds::kRecovery) ++report_.recoveries;
      if (kind == kinds::kPrune) ++report_.prunes;
      prev = &c;
    }
    if (first_timed != nullptr) report_.first_time = first_timed->comment.time;
    if (last_timed != nullptr) report_.last_time = last_timed->comment.time;
  }

  // A seq without a record: a deletion, unless a duplicate or a lone signature was reported.
  void ReportGap(std::uint64_t seq) {
    bool known = std::any_of(report_.findings.begin(), report_.findings.end(),
                             [&](const Finding& f) { return f.seq == seq; });
    if (!known) {
      Find(Problem::kDeletedRecord, seq, "",
           fmt::format("seq {} is missing (the records before and after it are present)", seq));
    }
  }

  // The key that signed `c`: listed in the report, trusted by then (a rotation signed by a
  // trusted key trusts the next key from the following record on).
  void CheckSigner(const Checked& c) {
    if (std::find(seen_keys_.begin(), seen_keys_.end(), c.key_id) == seen_keys_.end()) {
      seen_keys_.push_back(c.key_id);
      report_.key_ids.push_back(FormatKeyId(c.key_id));
    }
    const bool trusted = trusted_.contains(c.key_id);
    if (!trusted) {
      Find(Problem::kUnknownKey, c.seq, RecordPath(c.folder, c.name),
           fmt::format("{} is signed by key {}, which no trusted key introduced before it", c.name,
                       FormatKeyId(c.key_id)));
    }
    if (c.record->kind == kinds::kKeyRotation && trusted) {
      if (auto key = RotationKey(c.record->payload)) trusted_.insert(key->id);
    }
  }

  // Linking: the first record continues from genesis, an anchor, or (in an export) itself;
  // every other one from the chain value of the record before it.
  void CheckLink(const Checked& c, const Checked* prev, std::uint64_t start) {
    const ChainValue& prev_chain = c.record->header.prev_chain;
    if (c.seq == start) {
      if (report_.export_bundle) return;
      ChainValue want = GenesisChain();
      bool have = c.seq == 1;
      if (auto a = anchors_.find(c.seq); a != anchors_.end()) want = a->second, have = true;
      if (have && prev_chain != want) {
        Find(Problem::kBrokenChain, c.seq, RecordPath(c.folder, c.name),
             fmt::format("{}: prev_chain {} is not {}", c.name, ToHex(prev_chain),
                         c.seq == 1 ? "the genesis value" : "the prune record's anchor"));
      }
    } else if (prev != nullptr && prev_chain != prev->comment.chain) {
      Find(Problem::kBrokenChain, c.seq, RecordPath(c.folder, c.name),
           fmt::format("{}: prev_chain does not match the chain value of seq {}", c.name,
                       c.seq - 1));
    }
  }

  // Runs: a start follows a stop; after a stop comes a start or a recovery.
  void CheckRun(const Checked& c, const std::string& before) {
    const std::string& kind = c.record->kind;
    if (kind == kinds::kStart && before != kinds::kStop) {
      Find(Problem::kUnrecoveredCrash, c.seq, RecordPath(c.folder, c.name),
           fmt::format("{} starts a run, but the run before ended without a stop record "
                       "(last: seq {} {}) and no recovery record accounts for the gap",
                       c.name, c.seq - 1, before));
    } else if (before == kinds::kStop && kind != kinds::kStart && kind != kinds::kRecovery) {
      Find(Problem::kUnrecoveredCrash, c.seq, RecordPath(c.folder, c.name),
           fmt::format("{} follows a stop record without a start or recovery record", c.name));
    }
  }

  // An export bundle says which seqs it holds; a trimmed bundle fails here.
  void CheckExportManifest() {
    Result<std::string> text = Read(dir_ + "/" + std::string(kExportManifest), 65536);
    nlohmann::json manifest =
        text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    std::uint64_t want_first = manifest.is_object() ? PayloadUint(manifest, "first_seq") : 0;
    std::uint64_t want_last = manifest.is_object() ? PayloadUint(manifest, "last_seq") : 0;
    std::uint64_t first = FirstChecked();
    std::uint64_t last = LastChecked();
    if (want_first == 0 || want_last < want_first) {
      Find(Problem::kOrphanFile, 0, std::string(kExportManifest),
           "export.json: no first_seq and last_seq");
    } else if (first != want_first) {
      Find(
          Problem::kDeletedRecord, want_first, "",
          fmt::format("the bundle should start at seq {} but starts at seq {}", want_first, first));
    } else if (last != want_last) {
      Find(Problem::kTruncatedTail, last + 1, "",
           fmt::format("the bundle should end at seq {} but ends at seq {}", want_last, last));
    }
  }

  // The head: the tail the store last wrote. Records missing after it mean a truncated tail.
  void CheckHead() {
    // An older head beside the newest is what an interrupted head update leaves.
    for (std::size_t i = 1; i < heads_.size(); ++i) report_.interrupted.push_back(heads_[i]);
    if (!head_text_.ok()) {
      if (!checked_.empty()) {
        Find(Problem::kTruncatedTail, report_.last_seq + 1, head_name_,
             fmt::format("the head file is missing ({}); the end of the store cannot be "
                         "confirmed",
                         head_text_.error().message));
      }
      return;
    }
    Result<Head> head = ParseHead(*head_text_);
    if (!head.ok() || head->seq != *ParseHeadFileName(head_name_)) {
      Find(Problem::kTruncatedTail, report_.last_seq + 1, head_name_,
           fmt::format("{}: {}", head_name_,
                       head.ok() ? "its seq differs from its name" : head.error().message));
      return;
    }
    report_.head_seq = head->seq;
    auto key = candidates_.find(head->key_id);
    Status sig =
        key == candidates_.end() || !trusted_.contains(head->key_id)
            ? Status(Err("signed by key {}, which is not trusted", FormatKeyId(head->key_id)))
            : VerifyHead(key->second, *head);
    const std::uint64_t last = LastChecked();
    if (!sig.ok()) {
      Find(Problem::kTruncatedTail, last + 1, head_name_,
           fmt::format("{}: {}", head_name_, sig.error().message));
    } else if (head->seq > last) {
      Find(Problem::kTruncatedTail, last + 1, head_name_,
           fmt::format("the signed head names seq {}, but the store ends at seq {}: records "
                       "{} to {} were removed",
                       head->seq, last, last + 1, head->seq));
    } else if (head->seq > 0) {
      const Checked* c = CheckedAt(head->seq);
      if (c != nullptr && c->signature_ok && c->comment.chain != head->chain) {
        Find(Problem::kBrokenChain, head->seq, head_name_,
             fmt::format("the head's chain value differs from seq {}'s", head->seq));
      }
    }
  }

  const std::string dir_;
  const VerifyOptions& options_;
  const std::string records_;  // <dir>/records
  VerifyReport report_;
  std::set<std::string> top_names_;
  std::vector<std::string> heads_;  // head-<seq> files, newest first once read
  std::string head_name_ = "head-<seq>";
  Result<std::string> head_text_ = Err("no head-<seq> file");
  std::vector<std::pair<std::uint64_t, Entry>> files_;        // one per file
  std::vector<std::pair<std::uint64_t, std::string>> temps_;  // seq (0 if unknown), path
  std::vector<std::pair<std::uint64_t, std::vector<Entry>>> by_seq_;
  std::uint64_t max_record_seq_ = 0;  // the highest seq with a record file
  std::map<KeyId, PublicKey> candidates_;
  std::vector<std::pair<std::uint64_t, const Entry*>> work_;  // into by_seq_
  std::vector<std::pair<std::uint64_t, std::string>> lone_signatures_;
  std::vector<Checked> checked_;   // one per work_ item, in seq order
  std::uint64_t prune_floor_ = 0;  // records below it may be gone (a prune record says so)
  std::map<std::uint64_t, ChainValue> anchors_;  // first kept seq -> chain it continues from
  std::set<KeyId> trusted_;
  std::vector<KeyId> seen_keys_;  // in order of first use
};

}  // namespace

Result<VerifyReport> VerifyStore(const std::string& dir_in, const VerifyOptions& options) {
  if (options.trusted_keys.empty()) return Err("no trusted public key given");
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return Verification(std::move(dir), options).Run();
}

std::string SummaryLine(const VerifyReport& r) {
  if (!r.ok()) {
    const Finding& f = r.findings.front();
    std::string more =
        r.findings.size() > 1 ? fmt::format(" (and {} more problems)", r.findings.size() - 1) : "";
    return fmt::format("FAIL: {}: {}{}", ProblemName(f.problem), f.message, more);
  }
  std::string keys;
  for (const std::string& k : r.key_ids) keys += (keys.empty() ? "" : ",") + k;
  std::string line = fmt::format(
      "OK: {} records, seq {}..{}, {} .. {}, {} runs, {} recoveries, "
      "{} prunes, keys {}",
      r.records, r.first_seq, r.last_seq, r.first_time, r.last_time, r.runs, r.recoveries, r.prunes,
      keys.empty() ? "-" : keys);
  if (r.records == 0) line = "OK: the store holds no records yet";
  if (r.export_bundle) line += " (export bundle)";
  if (r.awaiting_prune > 0) {
    line += fmt::format("; {} records awaiting removal by a prune record", r.awaiting_prune);
  }
  if (!r.interrupted.empty()) {
    line += fmt::format(
        "; {} file(s) of an interrupted write at the tail, removed on the "
        "exporter's next start",
        r.interrupted.size());
  }
  return line;
}

}  // namespace drift::evidence
