#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "evidence/record.h"

namespace drift::evidence {

// Reading a store for people: `evidence list`, `show` and `export`. Nothing here checks
// signatures; `evidence verify` does.

struct ListFilter {
  std::optional<std::string> check;
  // "hipaa:164.312(b)" (exact), "164.312(b)" (any framework) or "hipaa" (a whole framework).
  std::optional<std::string> control;
  std::optional<std::string> kind;
  std::optional<WallTime> since;  // inclusive
  std::optional<WallTime> until;  // inclusive
};

struct StoredRecord {
  std::string path;  // relative to the store: records/YYYY/MM/DD/<id>.json
  std::string id;    // "<seq, 20 digits>-<kind>"
  ParsedRecord parsed;
  std::string bytes;  // the record file
};

bool Matches(const ParsedRecord& record, const ListFilter& filter);

// One line about a record's payload for tables ("compliant -> drifted: <reason>").
std::string Summarize(const ParsedRecord& record);

// The records matching `filter`, in seq order. A record file that does not parse is an error
// naming it (run `evidence verify` to see why).
Result<std::vector<StoredRecord>> ListRecords(const std::string& dir, const ListFilter& filter);

// One record by seq ("42"), id ("00000000000000000042-transition") or path.
Result<StoredRecord> FindRecord(const std::string& dir, std::string_view which);

struct ExportReport {
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::vector<std::string> key_ids;
};

// Copies the records whose time lies in [since, until] (and every record between the first and
// last of them, so the chain has no hole) with their signatures into `out_dir` (created; must
// not exist or be empty), with keys/<ID>.pub for every key that signed one, export.json and a
// README.md telling an auditor how to verify them with minisign and with `evidence verify`.
Result<ExportReport> ExportRecords(const std::string& dir, std::optional<WallTime> since,
                                   std::optional<WallTime> until, const std::string& out_dir,
                                   WallTime now);

}  // namespace drift::evidence
