#include "evidence/verify.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
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

// Open day folders of one verifier thread, so that each file is opened relative to its folder.
class FolderCache {
 public:
  explicit FolderCache(std::string records) : records_(std::move(records)) {}
  ~FolderCache() {
    for (auto& [_, fd] : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  int Get(const std::string& folder) {
    auto it = fds_.find(folder);
    if (it != fds_.end()) return it->second;
    int fd = ::open((records_ + "/" + folder).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fds_.emplace(folder, fd);
    return fd;
  }

 private:
  std::string records_;
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
  int folder_fd = folders.Get(e.folder);
  Result<std::string> bytes = ReadSmallFileAt(folder_fd, c.name, kMaxRecordBytes, dir + "/" + path);
  if (!bytes.ok()) return problem(Problem::kMalformedRecord, bytes.error().message);
  Result<std::string> sig_text =
      ReadSmallFileAt(folder_fd, c.name + ".minisig", 16384, dir + "/" + path + ".minisig");
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

Result<VerifyReport> VerifyStore(const std::string& dir_in, const VerifyOptions& options) {
  if (options.trusted_keys.empty()) return Err("no trusted public key given");
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  VerifyReport report;
  auto find = [&](Problem p, std::uint64_t seq, std::string path, std::string message) {
    report.findings.push_back({p, seq, std::move(path), std::move(message)});
  };

  Result<std::vector<std::string>> top = ListDir(dir);
  if (!top.ok()) return Err("evidence directory {}", top.error().message);
  std::set<std::string> top_names(top->begin(), top->end());
  report.export_bundle = top_names.contains(std::string(kExportManifest));
  if (!top_names.contains(std::string(kRecordsDir))) {
    return Err("{} is not an evidence store: it has no records/ folder", dir);
  }
  std::vector<std::string> heads;  // head-<seq> files, newest first
  for (const std::string& name : top_names) {
    if (name == kRecordsDir || name == kKeysDir) continue;
    if (ParseHeadFileName(name) && !report.export_bundle) {
      heads.push_back(name);
      continue;
    }
    if (report.export_bundle && (name == kExportManifest || name == kExportReadme)) continue;
    if (name == kLockFile && !report.export_bundle) continue;  // the writer's (StoreLock)
    if (name == kHeadTemp) {
      report.interrupted.push_back(name);
      continue;
    }
    find(Problem::kOrphanFile, 0, name, fmt::format("{}: not part of an evidence store", name));
  }
  // The head is read before the records are walked: a daemon writing meanwhile (verify takes no
  // lock) only adds records after the ones it names. It also replaces it, so a listed head may
  // be gone when read: then the folder is listed again.
  std::string head_name = "head-<seq>";
  Result<std::string> head_text = Err("no head-<seq> file");
  for (int attempt = 0; !report.export_bundle; ++attempt) {
    std::sort(heads.rbegin(), heads.rend());
    if (heads.empty()) break;
    head_name = heads.front();
    head_text = ReadSmallFile(dir + "/" + head_name, 4096);
    if (head_text.ok() || head_text.error().sys_errno != ENOENT || attempt == 4) break;
    Result<std::vector<std::string>> again = ListDir(dir);
    if (!again.ok()) break;
    heads.clear();
    for (const std::string& name : *again) {
      if (ParseHeadFileName(name)) heads.push_back(name);
    }
  }
  if (top_names.contains(std::string(kKeysDir))) {
    Result<std::vector<std::string>> keys = ListDir(dir + "/" + std::string(kKeysDir));
    if (keys.ok()) {
      for (const std::string& k : *keys) {
        bool ok = k.size() == 20 && k.ends_with(".pub") && ParseKeyId(k.substr(0, 16)).ok();
        if (ok) continue;
        if (k.starts_with('.') && k.ends_with(".pub.tmp")) {
          report.interrupted.push_back("keys/" + k);  // a key file being written
          continue;
        }
        find(Problem::kOrphanFile, 0, "keys/" + k, "keys/" + k + ": not a key file");
      }
    }
  }

  // Walk records/: YYYY/MM/DD folders holding record files and signatures only.
  const std::string records = dir + "/" + std::string(kRecordsDir);
  std::vector<std::pair<std::uint64_t, Entry>> files;        // one per file; grouped by seq below
  std::vector<std::pair<std::uint64_t, std::string>> temps;  // seq (0 if unknown), path
  std::function<void(const std::string&, int)> walk = [&](const std::string& rel, int level) {
    std::string abs = rel.empty() ? records : records + "/" + rel;
    Result<std::vector<std::string>> names = ListDir(abs);
    if (!names.ok()) {
      find(Problem::kOrphanFile, 0, std::string(kRecordsDir) + "/" + rel, names.error().message);
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
          walk(child, level + 1);
        } else {
          find(Problem::kOrphanFile, 0, shown, shown + ": not a day folder of the store");
        }
        continue;
      }
      if (n.starts_with('.') && n.ends_with(".tmp")) {
        auto inner = ParseRecordFileName(std::string_view(n).substr(1, n.size() - 5));
        temps.emplace_back(inner ? inner->seq : 0, shown_path());
        continue;
      }
      auto parsed = ParseRecordFileName(n);
      if (!parsed) {
        find(Problem::kOrphanFile, 0, shown_path(),
             shown_path() + ": not a record or signature file name");
        continue;
      }
      files.push_back({parsed->seq,
                       Entry{rel, std::move(parsed->kind), !parsed->signature, parsed->signature}});
    }
  };
  walk("", 0);
  // Group: a record file and its signature (same seq, folder and kind) become one entry.
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (a.second.folder != b.second.folder) return a.second.folder < b.second.folder;
    return a.second.kind < b.second.kind;
  });
  std::vector<std::pair<std::uint64_t, std::vector<Entry>>> by_seq;
  for (auto& [seq, entry] : files) {
    if (by_seq.empty() || by_seq.back().first != seq) by_seq.push_back({seq, {}});
    std::vector<Entry>& entries = by_seq.back().second;
    if (!entries.empty() && entries.back().folder == entry.folder &&
        entries.back().kind == entry.kind) {
      entries.back().has_record |= entry.has_record;
      entries.back().has_signature |= entry.has_signature;
    } else {
      entries.push_back(std::move(entry));
    }
  }

  std::uint64_t max_record_seq = 0;
  for (const auto& [seq, entries] : by_seq) {
    for (const Entry& e : entries) {
      if (e.has_record) max_record_seq = std::max(max_record_seq, seq);
    }
  }

  // Candidate keys: the trusted ones, plus any a rotation record names. Whether a rotated-in key
  // is actually trusted at a given seq is decided in order below.
  std::map<KeyId, PublicKey> candidates;
  for (const PublicKey& k : options.trusted_keys) candidates[k.id] = k;
  std::vector<std::pair<std::uint64_t, const Entry*>> work;
  std::vector<std::pair<std::uint64_t, std::string>>
      lone_signatures;  // judged once the floor is known
  for (const auto& [seq, entries] : by_seq) {
    if (entries.size() > 1) {
      std::string names;
      for (const Entry& e : entries) {
        names += (names.empty() ? "" : ", ") +
                 RecordPath(e.folder, RecordStem(seq, e.kind) + std::string(kRecordSuffix));
      }
      find(Problem::kDuplicateRecord, seq, "",
           fmt::format("seq {} appears {} times: {}", seq, entries.size(), names));
      continue;
    }
    const Entry& e = entries.front();
    std::string path = RecordPath(e.folder, RecordStem(seq, e.kind) + std::string(kRecordSuffix));
    if (e.has_record && !e.has_signature) {
      find(Problem::kMissingSignature, seq, path, path + ": no .minisig beside it");
      continue;
    }
    if (!e.has_record) {
      lone_signatures.emplace_back(seq, path + ".minisig");
      continue;
    }
    work.emplace_back(seq, &e);
    if (e.kind == kinds::kKeyRotation) {
      Result<std::string> bytes = ReadSmallFile(dir + "/" + path, kMaxRecordBytes);
      if (bytes.ok()) {
        if (Result<ParsedRecord> rec = ParseRecord(*bytes); rec.ok()) {
          if (auto key = RotationKey(rec->record.payload)) candidates.emplace(key->id, *key);
        }
      }
    }
  }
  for (const auto& [seq, path] : temps) {
    if (seq > max_record_seq) {
      report.interrupted.push_back(path);
    } else {
      find(Problem::kOrphanFile, seq, path,
           fmt::format("{}: a temporary file below the tail (seq {})", path, max_record_seq));
    }
  }

  // Parallel phase: signatures, hashes, parsing.
  std::vector<Checked> checked(work.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    FolderCache folders(records);
    for (std::size_t i = next++; i < work.size(); i = next++) {
      checked[i] =
          CheckOne(dir, work[i].first, *work[i].second, candidates, options.thorough, folders);
    }
  };
  std::vector<std::thread> threads;
  int n_threads =
      std::max(1, std::min<int>(options.threads, static_cast<int>(work.size() / 64) + 1));
  for (int i = 1; i < n_threads; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();

  // Sequential phase: trust, prune, sequence, chain, folders, runs.
  // `checked` is in seq order (so is `work`): a map view for lookups by seq.
  struct SeqIndex {
    const std::vector<Checked>& v;
    bool empty() const { return v.empty(); }
    std::uint64_t first() const { return v.front().seq; }
    std::uint64_t last() const { return v.back().seq; }
    const Checked* find(std::uint64_t seq) const {
      auto it = std::lower_bound(v.begin(), v.end(), seq,
                                 [](const Checked& c, std::uint64_t s) { return c.seq < s; });
      return it != v.end() && it->seq == seq ? &*it : nullptr;
    }
  } by_seq_checked{checked};
  std::uint64_t prune_floor = 0;  // records below it may be gone (a prune record says so)
  std::map<std::uint64_t, ChainValue> anchors;  // first kept seq -> chain it continues from
  for (const Checked& c : checked) {
    if (c.problem) report.findings.push_back(*c.problem);
    if (c.record && c.record->kind == kinds::kPrune && !report.export_bundle) {
      const nlohmann::json& p = c.record->payload;
      std::uint64_t kept = PayloadUint(p, "first_kept_seq");
      Result<Sha256Digest> anchor = ParseSha256Hex(PayloadString(p, "anchor_chain"));
      if (kept > 0 && kept <= c.seq && anchor.ok()) {
        prune_floor = std::max(prune_floor, kept);
        anchors[kept] = *anchor;
      }
    }
  }
  for (const auto& [seq, path] : lone_signatures) {
    if (seq > max_record_seq) {
      // The signature is renamed into place before its record: a crash in between leaves this.
      report.interrupted.push_back(path);
    } else if (seq >= prune_floor) {
      find(Problem::kDeletedRecord, seq, path,
           fmt::format("{}: the signature is there, the record was deleted",
                       path.substr(0, path.size() - 8)));
    }  // below the floor: a prune was interrupted between a record and its signature
  }
  std::set<KeyId> trusted;
  for (const PublicKey& k : options.trusted_keys) trusted.insert(k.id);
  std::optional<std::uint64_t> start_seq;
  if (!by_seq_checked.empty()) {
    std::uint64_t first = by_seq_checked.first();
    if (report.export_bundle) {
      start_seq = first;
    } else if (prune_floor > 0) {
      start_seq = prune_floor;
      report.awaiting_prune = static_cast<std::uint64_t>(std::count_if(
          checked.begin(), checked.end(), [&](const Checked& c) { return c.seq < prune_floor; }));
    } else {
      start_seq = 1;
      if (first != 1) {
        find(Problem::kDeletedRecord, 1, "",
             fmt::format("the store starts at seq {}: records 1 to {} are missing and no prune "
                         "record accounts for them",
                         first, first - 1));
        start_seq = first;
      }
    }
  }
  if (start_seq) {
    const Checked* prev = nullptr;
    const Checked* first_timed = nullptr;
    const Checked* last_timed = nullptr;
    std::vector<KeyId> seen_keys;
    std::string_view prev_folder;
    std::uint64_t last = by_seq_checked.last();
    std::size_t next_index = 0;
    for (std::uint64_t seq = *start_seq; seq <= last; ++seq) {
      while (next_index < checked.size() && checked[next_index].seq < seq) ++next_index;
      if (next_index == checked.size() || checked[next_index].seq != seq) {
        // Duplicates and lone signatures were reported already; anything else is a deletion.
        bool known = std::any_of(report.findings.begin(), report.findings.end(),
                                 [&](const Finding& f) { return f.seq == seq; });
        if (!known) {
          find(Problem::kDeletedRecord, seq, "",
               fmt::format("seq {} is missing (the records before and after it are present)", seq));
        }
        prev = nullptr;
        continue;
      }
      const Checked& c = checked[next_index];
      ++report.records;
      if (report.first_seq == 0) report.first_seq = seq;
      report.last_seq = seq;
      if (!c.signature_ok || !c.record) {
        prev = nullptr;
        continue;
      }
      auto path = [&] { return RecordPath(c.folder, c.name); };  // only for findings
      const Checked::Fields& r = *c.record;
      if (first_timed == nullptr) first_timed = &c;
      last_timed = &c;
      if (std::find(seen_keys.begin(), seen_keys.end(), c.key_id) == seen_keys.end()) {
        seen_keys.push_back(c.key_id);
        report.key_ids.push_back(FormatKeyId(c.key_id));
      }
      if (!trusted.contains(c.key_id)) {
        find(Problem::kUnknownKey, seq, path(),
             fmt::format("{} is signed by key {}, which no trusted key introduced before it",
                         c.name, FormatKeyId(c.key_id)));
      }
      if (r.kind == kinds::kKeyRotation && trusted.contains(c.key_id)) {
        if (auto key = RotationKey(r.payload)) trusted.insert(key->id);
      }
      // Linking: the first record continues from genesis, an anchor, or (in an export) itself.
      const ChainValue& prev_chain = c.record->header.prev_chain;
      if (seq == *start_seq) {
        if (!report.export_bundle) {
          ChainValue want = GenesisChain();
          bool have = seq == 1;
          if (auto a = anchors.find(seq); a != anchors.end()) want = a->second, have = true;
          if (have && prev_chain != want) {
            find(Problem::kBrokenChain, seq, path(),
                 fmt::format("{}: prev_chain {} is not {}", c.name, ToHex(prev_chain),
                             seq == 1 ? "the genesis value" : "the prune record's anchor"));
          }
        }
      } else if (prev != nullptr && prev_chain != prev->comment.chain) {
        find(Problem::kBrokenChain, seq, path(),
             fmt::format("{}: prev_chain does not match the chain value of seq {}", c.name,
                         seq - 1));
      }
      // Folders only move forward: YYYY/MM/DD of the record's time, or the previous folder.
      std::string_view want_folder = std::max<std::string_view>(r.day, prev_folder);
      if (prev != nullptr && c.folder != want_folder) {
        find(Problem::kReorderedRecords, seq, path(),
             fmt::format("{} is in folder {}, expected {}", c.name, c.folder, want_folder));
      }
      prev_folder = c.folder;
      // Runs: a start follows a stop; after a stop comes a start or a recovery.
      if (prev != nullptr && prev->record) {
        const std::string& before = prev->record->kind;
        if (r.kind == kinds::kStart && before != kinds::kStop) {
          find(Problem::kUnrecoveredCrash, seq, path(),
               fmt::format("{} starts a run, but the run before ended without a stop record "
                           "(last: seq {} {}) and no recovery record accounts for the gap",
                           c.name, seq - 1, before));
        } else if (before == kinds::kStop && r.kind != kinds::kStart &&
                   r.kind != kinds::kRecovery) {
          find(Problem::kUnrecoveredCrash, seq, path(),
               fmt::format("{} follows a stop record without a start or recovery record", c.name));
        }
      }
      if (r.kind == kinds::kStart) ++report.runs;
      if (r.kind == kinds::kRecovery) ++report.recoveries;
      if (r.kind == kinds::kPrune) ++report.prunes;
      prev = &c;
    }
    if (first_timed != nullptr) report.first_time = first_timed->comment.time;
    if (last_timed != nullptr) report.last_time = last_timed->comment.time;
  }

  // An export bundle says which seqs it holds; a trimmed bundle fails here.
  if (report.export_bundle) {
    Result<std::string> text = ReadSmallFile(dir + "/" + std::string(kExportManifest), 65536);
    nlohmann::json manifest =
        text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    std::uint64_t want_first = manifest.is_object() ? PayloadUint(manifest, "first_seq") : 0;
    std::uint64_t want_last = manifest.is_object() ? PayloadUint(manifest, "last_seq") : 0;
    std::uint64_t first = by_seq_checked.empty() ? 0 : by_seq_checked.first();
    std::uint64_t last = by_seq_checked.empty() ? 0 : by_seq_checked.last();
    if (want_first == 0 || want_last < want_first) {
      find(Problem::kOrphanFile, 0, std::string(kExportManifest),
           "export.json: no first_seq and last_seq");
    } else if (first != want_first) {
      find(
          Problem::kDeletedRecord, want_first, "",
          fmt::format("the bundle should start at seq {} but starts at seq {}", want_first, first));
    } else if (last != want_last) {
      find(Problem::kTruncatedTail, last + 1, "",
           fmt::format("the bundle should end at seq {} but ends at seq {}", want_last, last));
    }
  }

  // The head: the tail the store last wrote. Records missing after it mean a truncated tail.
  if (!report.export_bundle) {
    // An older head beside the newest is what an interrupted head update leaves.
    for (std::size_t i = 1; i < heads.size(); ++i) report.interrupted.push_back(heads[i]);
    if (!head_text.ok()) {
      if (!by_seq_checked.empty()) {
        find(Problem::kTruncatedTail, report.last_seq + 1, head_name,
             fmt::format("the head file is missing ({}); the end of the store cannot be "
                         "confirmed",
                         head_text.error().message));
      }
    } else if (Result<Head> head = ParseHead(*head_text);
               !head.ok() || head->seq != *ParseHeadFileName(head_name)) {
      find(Problem::kTruncatedTail, report.last_seq + 1, head_name,
           fmt::format("{}: {}", head_name,
                       head.ok() ? "its seq differs from its name" : head.error().message));
    } else {
      report.head_seq = head->seq;
      auto key = candidates.find(head->key_id);
      Status sig =
          key == candidates.end() || !trusted.contains(head->key_id)
              ? Status(Err("signed by key {}, which is not trusted", FormatKeyId(head->key_id)))
              : VerifyHead(key->second, *head);
      std::uint64_t last = by_seq_checked.empty() ? 0 : by_seq_checked.last();
      if (!sig.ok()) {
        find(Problem::kTruncatedTail, last + 1, head_name,
             fmt::format("{}: {}", head_name, sig.error().message));
      } else if (head->seq > last) {
        find(Problem::kTruncatedTail, last + 1, head_name,
             fmt::format("the signed head names seq {}, but the store ends at seq {}: records "
                         "{} to {} were removed",
                         head->seq, last, last + 1, head->seq));
      } else if (head->seq > 0) {
        const Checked* c = by_seq_checked.find(head->seq);
        if (c != nullptr && c->signature_ok && c->comment.chain != head->chain) {
          find(Problem::kBrokenChain, head->seq, head_name,
               fmt::format("the head's chain value differs from seq {}'s", head->seq));
        }
      }
    }
  }

  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     if (a.seq != b.seq) return a.seq < b.seq;
                     return a.path < b.path;
                   });
  return report;
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
