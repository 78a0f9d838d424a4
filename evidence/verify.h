#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "evidence/minisign.h"

namespace drift::evidence {

class StoreFs;

// What can be wrong with a store, one name per kind of tampering or damage.
enum class Problem {
  kEditedRecord,      // a record's bytes differ from what was signed
  kMalformedRecord,   // signed, but not a record this version reads (or inconsistent fields)
  kMissingSignature,  // a record without its .minisig
  kEditedSignature,   // a .minisig that does not parse or whose signature does not verify
  kUnknownKey,        // signed by a key that is neither trusted nor introduced by a rotation
  kDeletedRecord,     // a seq missing in the middle or at the start (without a prune record)
  kReorderedRecords,  // a record under another seq's name or in the wrong day folder
  kDuplicateRecord,   // two files claim one seq
  kTruncatedTail,     // the signed head names a seq beyond the last record, or is missing
  kOrphanFile,        // a file or folder the store never writes
  kUnrecoveredCrash,  // a run began after a crash without a recovery record
  kBrokenChain,       // chain values do not link (records spliced from elsewhere)
};
std::string_view ProblemName(Problem p);  // "edited_record", ...

struct VerifyOptions {
  // Keys the auditor trusts (at least one). Keys introduced by a `key_rotation` record signed by
  // a trusted key become trusted from that record on.
  std::vector<PublicKey> trusted_keys;
  int threads = 2;
  // Also check each record's file signature (Ed25519 over BLAKE2b-512 of the file), exactly what
  // `minisign -V` checks. Without it, each record is proven by its comment signature, whose
  // signed text holds the file's SHA-256 (docs/evidence.md, "Verification").
  bool thorough = false;
  // The file system the store is read through (List and Read); nullptr: the real one, each day
  // folder opened once. Not owned.
  StoreFs* fs = nullptr;
};

struct Finding {
  Problem problem;
  std::uint64_t seq = 0;  // 0 when not about one record
  std::string path;       // relative to the store
  std::string message;
};

struct VerifyReport {
  std::vector<Finding> findings;  // sorted: by seq, then path; empty when the store verifies
  std::uint64_t records = 0;      // records checked
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::string first_time;
  std::string last_time;
  std::uint64_t runs = 0;        // start records
  std::uint64_t recoveries = 0;  // recovery records
  std::uint64_t prunes = 0;
  std::uint64_t awaiting_prune = 0;  // records below a prune record's first kept seq
  std::optional<std::uint64_t> head_seq;
  std::vector<std::string> interrupted;  // leftovers of an interrupted write at the tail
  std::vector<std::string> key_ids;      // keys that signed records, in order of first use
  bool export_bundle = false;

  bool ok() const { return findings.empty(); }
};

// Verifies every record, signature, the sequence, the hash chain, the runs (start/stop/
// recovery), prune records and the head of the store at `dir`, or of an export bundle (a folder
// with export.json, whose first record may continue an earlier chain and which has no head).
// Errors only when the input cannot be read at all (no such folder, no key given).
Result<VerifyReport> VerifyStore(const std::string& dir, const VerifyOptions& options);

// One line: "OK: ..." or "FAIL: <kind>: <message> (and N more problems)".
std::string SummaryLine(const VerifyReport& report);

}  // namespace drift::evidence
