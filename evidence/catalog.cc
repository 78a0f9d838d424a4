#include "evidence/catalog.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "evidence/minisign.h"
#include "evidence/store.h"
#include "evidence/store_fs.h"

namespace drift::evidence {
namespace {

struct Located {
  std::string folder;
  std::string name;
  RecordFileName parsed;
};

// Every record file (not signature) under records/, in seq order; folders before `from_folder`
// are skipped.
Result<std::vector<Located>> Locate(const std::string& dir, const std::string& from_folder) {
  const std::string records = dir + "/" + std::string(kRecordsDir);
  Result<std::vector<std::string>> years = ListDir(records);
  if (!years.ok()) return Err("{} is not an evidence store: {}", dir, years.error().message);
  std::vector<Located> out;
  std::sort(years->begin(), years->end());
  for (const std::string& y : *years) {
    if (!IsDayFolderPart(y, 0)) continue;
    Result<std::vector<std::string>> months = ListDir(records + "/" + y);
    if (!months.ok()) return months.error();
    for (const std::string& m : *months) {
      if (!IsDayFolderPart(m, 1)) continue;
      Result<std::vector<std::string>> days = ListDir(records + "/" + y + "/" + m);
      if (!days.ok()) return days.error();
      for (const std::string& d : *days) {
        if (!IsDayFolderPart(d, 2)) continue;
        std::string folder = y + "/" + m + "/" + d;
        if (folder < from_folder) continue;
        Result<std::vector<std::string>> names = ListDir(records + "/" + folder);
        if (!names.ok()) return names.error();
        for (const std::string& n : *names) {
          if (auto p = ParseRecordFileName(n); p && !p->signature) out.push_back({folder, n, *p});
        }
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Located& a, const Located& b) { return a.parsed.seq < b.parsed.seq; });
  return out;
}

Result<StoredRecord> Load(const std::string& dir, const Located& l) {
  StoredRecord r;
  r.path = std::string(kRecordsDir) + "/" + l.folder + "/" + l.name;
  r.id = l.name.substr(0, l.name.size() - kRecordSuffix.size());
  Result<std::string> bytes = ReadSmallFile(dir + "/" + r.path, kMaxRecordBytes);
  if (!bytes.ok()) return bytes.error();
  Result<ParsedRecord> parsed = ParseRecord(*bytes);
  if (!parsed.ok()) {
    return Err("{}: {} (run `drift_exporter evidence verify`)", r.path, parsed.error().message);
  }
  r.bytes = std::move(*bytes);
  r.parsed = std::move(*parsed);
  return r;
}

Status CopyFile(const std::string& from, const std::string& to) {
  Result<std::string> text = ReadSmallFile(from, kMaxRecordBytes);
  if (!text.ok()) return text.error();
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return SysErr(to, errno);
  std::string_view rest = *text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return SysErr(to, err);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0) return SysErr(to, errno);
  return {};
}

Status WriteText(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return SysErr(path, errno);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  if (::close(fd) != 0 || !ok) return SysErr(path, ok ? errno : err);
  return {};
}

std::string ExportReadme(const ExportReport& r, const std::string& host, const std::string& since,
                         const std::string& until, const std::string& created,
                         const std::string& example) {
  std::string keys;
  for (const std::string& k : r.key_ids) keys += fmt::format("- `keys/{}.pub` (key id {})\n", k, k);
  const std::string key = r.key_ids.empty() ? "<KEY ID>" : r.key_ids.front();
  return fmt::format(
      R"(# Evidence export: host {host}, records {first} to {last}

Exported {created} by `drift_exporter evidence export` for the time range {since} to {until}:
{n} records, each a canonical JSON file with a detached minisign signature beside it.

- `records/YYYY/MM/DD/<seq>-<kind>.json`: one record (schema described in docs/evidence.md of
  drift_exporter).
- `records/YYYY/MM/DD/<seq>-<kind>.json.minisig`: its signature (minisign's prehashed `ED` form).
- the public keys that signed them:
{keys}- `export.json`: what this bundle holds (first and last seq, count, range).

## 1. Check the public key

Confirm each key id above with the one the host's operator published through a channel you trust
(not this bundle): the id is on the first line of the `.pub` file and in `minisign`'s output.

## 2. Verify a record with minisign (no drift_exporter needed)

```sh
minisign -Vm {example} -p keys/{key}.pub
```

It prints `Signature and comment signature verified` and the signed trusted comment:
`drift_evidence v1 seq=<n> time=<time> kind=<kind> record_sha256=<hex> chain=<hex>`.
Every record of the bundle:

```sh
find records -name '*.json' | sort | while read -r f; do
  minisign -Vqm "$f" -p keys/{key}.pub || echo "FAILED: $f"
done
```

(Use the key whose id the record's signature names, if the bundle holds more than one.)

## 3. Verify the sequence and the hash chain

```sh
drift_exporter evidence verify --dir=. --public-key=keys/{key}.pub
```

checks every signature, that the seqs {first}..{last} are all present and in order, and that
each record continues the hash chain of the one before it. By hand: `sha256sum` of a record file
equals `record_sha256` in its trusted comment, and
`chain = SHA-256(previous chain (32 bytes) || seq (8 bytes, big-endian) || record SHA-256 (32
bytes))`, where the previous chain is the `prev_chain` field of the record (hex) and the `chain`
of the record before it.

## What this proves

Each record was signed by the key above and has not changed since; no record between the first
and last of this bundle is missing, reordered or inserted. That the bundle covers the whole
range (nothing cut before the first or after the last) is proven against the host's store:
`drift_exporter evidence verify --dir=<store>` there checks the chain from the first record to
the signed head.
)",
      fmt::arg("host", host), fmt::arg("first", r.first_seq), fmt::arg("last", r.last_seq),
      fmt::arg("created", created), fmt::arg("since", since), fmt::arg("until", until),
      fmt::arg("n", r.records), fmt::arg("keys", keys), fmt::arg("key", key),
      fmt::arg("example", example));
}

}  // namespace

bool Matches(const ParsedRecord& record, const ListFilter& f) {
  const Record& r = record.record;
  if (f.kind && r.kind != *f.kind) return false;
  if (f.check && r.check != *f.check) return false;
  if (f.since && record.header.time < *f.since) return false;
  if (f.until && record.header.time > *f.until) return false;
  if (f.control) {
    const std::string& want = *f.control;
    bool any = std::any_of(r.controls.begin(), r.controls.end(), [&](const std::string& c) {
      std::size_t colon = c.find(':');
      return c == want || c.substr(colon + 1) == want || c.substr(0, colon) == want;
    });
    if (!any) return false;
  }
  return true;
}

std::string Summarize(const ParsedRecord& record) {
  const nlohmann::json& p = record.record.payload;
  auto str = [&](std::string_view key) -> std::string {
    auto it = p.find(key);
    return it != p.end() && it->is_string() ? it->get<std::string>() : "";
  };
  const std::string& kind = record.record.kind;
  if (kind == kinds::kTransition) {
    return fmt::format("{} -> {}: {}", str("from"), str("to"), str("reason"));
  }
  if (kind == kinds::kAttestation && p.contains("checks") && p["checks"].is_array()) {
    std::map<std::string, int> states;
    for (const nlohmann::json& c : p["checks"]) {
      if (c.is_object() && c.contains("state") && c["state"].is_string()) {
        ++states[c["state"].get<std::string>()];
      }
    }
    std::string out = fmt::format("{} checks", p["checks"].size());
    for (const auto& [state, n] : states) out += fmt::format(", {} {}", n, state);
    return out;
  }
  if (kind == kinds::kConfigLoad && p.contains("files") && p["files"].is_array()) {
    std::string out;
    for (const nlohmann::json& f : p["files"]) {
      if (f.is_object() && f.contains("path") && f["path"].is_string()) {
        out += (out.empty() ? "" : ", ") + f["path"].get<std::string>();
      }
    }
    return out;
  }
  if (kind == kinds::kRecovery && p.contains("reasons")) return "reasons: " + p["reasons"].dump();
  if (kind == kinds::kKeyRotation) {
    return fmt::format("{} -> {}", str("previous_key_id"), str("new_key_id"));
  }
  if (kind == kinds::kPrune && p.contains("records_removed")) {
    return fmt::format("removed {} records before {}", p["records_removed"].dump(),
                       str("cutoff_folder"));
  }
  return str("summary");
}

Result<std::vector<StoredRecord>> ListRecords(const std::string& dir, const ListFilter& filter) {
  // A record lies in the folder of its day or a later one, never an earlier one.
  Result<std::vector<Located>> all = Locate(dir, filter.since ? DayFolder(*filter.since) : "");
  if (!all.ok()) return all.error();
  std::vector<StoredRecord> out;
  for (const Located& l : *all) {
    if (filter.kind && l.parsed.kind != *filter.kind) continue;
    Result<StoredRecord> r = Load(dir, l);
    if (!r.ok()) return r.error();
    if (Matches(r->parsed, filter)) out.push_back(std::move(*r));
  }
  return out;
}

Result<StoredRecord> FindRecord(const std::string& dir, std::string_view which) {
  std::string_view w = which;
  if (w.ends_with(kRecordSuffix)) w.remove_suffix(kRecordSuffix.size());
  if (std::size_t slash = w.rfind('/'); slash != std::string_view::npos) w.remove_prefix(slash + 1);
  std::uint64_t seq = 0;
  bool numeric = !w.empty() && w.size() <= 20 &&
                 std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (numeric) {
    seq = std::stoull(std::string(w));
  } else if (auto p = ParseRecordFileName(std::string(w) + std::string(kRecordSuffix))) {
    seq = p->seq;
  } else {
    return Err("{:?} is not a record id (a seq such as 42, or 00000000000000000042-<kind>)", which);
  }
  Result<std::vector<Located>> all = Locate(dir, "");
  if (!all.ok()) return all.error();
  for (const Located& l : *all) {
    if (l.parsed.seq == seq) return Load(dir, l);
  }
  return Err("no record with seq {} in {}", seq, dir);
}

Result<ExportReport> ExportRecords(const std::string& dir, std::optional<WallTime> since,
                                   std::optional<WallTime> until, const std::string& out_dir,
                                   WallTime now) {
  ListFilter range;
  range.since = since;
  range.until = until;
  Result<std::vector<Located>> all = Locate(dir, "");
  if (!all.ok()) return all.error();
  std::vector<StoredRecord> loaded;
  for (const Located& l : *all) {
    Result<StoredRecord> r = Load(dir, l);
    if (!r.ok()) return r.error();
    loaded.push_back(std::move(*r));
  }
  // From the first record in range to the last one, everything between included.
  auto first = std::find_if(loaded.begin(), loaded.end(),
                            [&](const StoredRecord& r) { return Matches(r.parsed, range); });
  auto last = std::find_if(loaded.rbegin(), loaded.rend(),
                           [&](const StoredRecord& r) { return Matches(r.parsed, range); });
  if (first == loaded.end()) return Err("no records between the given times");
  std::vector<StoredRecord> chosen(first, last.base());

  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) && !std::filesystem::is_empty(out_dir, ec)) {
    return Err("{} exists and is not empty", out_dir);
  }
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Err("cannot create {}: {}", out_dir, ec.message());

  ExportReport report;
  report.first_seq = chosen.front().parsed.header.seq;
  report.last_seq = chosen.back().parsed.header.seq;
  for (const StoredRecord& r : chosen) {
    std::filesystem::path target = std::filesystem::path(out_dir) / r.path;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return Err("cannot create {}: {}", target.parent_path().string(), ec.message());
    if (Status s = CopyFile(dir + "/" + r.path, target.string()); !s.ok()) return s.error();
    std::string sig_path = dir + "/" + r.path + ".minisig";
    if (Status s = CopyFile(sig_path, target.string() + ".minisig"); !s.ok()) return s.error();
    Result<std::string> sig_text = ReadSmallFile(sig_path, 16384);
    if (sig_text.ok()) {
      if (Result<Signature> sig = ParseSignatureFile(*sig_text); sig.ok()) {
        std::string id = FormatKeyId(sig->key_id);
        if (std::find(report.key_ids.begin(), report.key_ids.end(), id) == report.key_ids.end()) {
          report.key_ids.push_back(id);
        }
      }
    }
    ++report.records;
  }
  std::filesystem::create_directories(std::filesystem::path(out_dir) / kKeysDir, ec);
  for (const std::string& id : report.key_ids) {
    std::string rel = std::string(kKeysDir) + "/" + id + ".pub";
    if (Status s = CopyFile(dir + "/" + rel, out_dir + "/" + rel); !s.ok()) {
      return Err("public key {} not found in the store: {}", id, s.error().message);
    }
  }
  const std::string host = chosen.front().parsed.header.host;
  const std::string since_text = since ? FormatRecordTime(*since) : "the first record";
  const std::string until_text = until ? FormatRecordTime(*until) : "the last record";
  nlohmann::json manifest = {{"format", "drift_evidence export v1"},
                             {"host", host},
                             {"first_seq", report.first_seq},
                             {"last_seq", report.last_seq},
                             {"records", report.records},
                             {"since", since_text},
                             {"until", until_text},
                             {"created", FormatRecordTime(now)},
                             {"key_ids", report.key_ids}};
  if (Status s = WriteText(out_dir + "/export.json", manifest.dump(2) + "\n"); !s.ok()) {
    return s.error();
  }
  std::string readme =
      ExportReadme(report, host, since_text, until_text, FormatRecordTime(now), chosen.back().path);
  if (Status s = WriteText(out_dir + "/README.md", readme); !s.ok()) return s.error();
  return report;
}

}  // namespace drift::evidence
