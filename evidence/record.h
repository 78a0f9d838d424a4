#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/sha256.h"

namespace drift::evidence {

// The record schema this code writes (the `schema` field). docs/evidence.md describes each
// version; readers reject versions they do not know.
inline constexpr std::int64_t kSchemaVersion = 1;

// The kinds this library writes itself. Other modules (healing) bring their own kinds.
namespace kinds {
inline constexpr std::string_view kStart = "start";               // a run began after a clean stop
inline constexpr std::string_view kStop = "stop";                 // a run ended cleanly
inline constexpr std::string_view kRecovery = "recovery";         // after a crash or failed write
inline constexpr std::string_view kTransition = "transition";     // a check changed state
inline constexpr std::string_view kConfigLoad = "config_load";    // configuration (re)loaded
inline constexpr std::string_view kAttestation = "attestation";   // periodic state of all checks
inline constexpr std::string_view kKeyRotation = "key_rotation";  // the signing key changed
inline constexpr std::string_view kPrune = "prune";               // old day folders removed
}  // namespace kinds

// What a producer hands the store. The store adds seq, time, host and the previous chain value.
struct Record {
  std::string kind;                      // [a-z][a-z0-9_]{0,31}
  std::optional<std::string> check;      // the check it is about, if any
  std::vector<std::string> controls;     // "framework:id", e.g. "hipaa:164.312(a)(1)"
  std::string severity = "none";         // none, low, medium, high, critical
  std::string actor = "drift_exporter";  // who caused it: the daemon, or a person for healing
  nlohmann::json payload = nlohmann::json::object();  // kind-specific; integers only, no floats
};

// Checks the fields a producer controls (kind, check, controls, severity, actor, payload).
Status ValidateRecord(const Record& record);
bool IsValidKind(std::string_view kind);

// chain_i = SHA-256(chain_{i-1} || seq as 8 bytes big-endian || SHA-256(record file)); chain_0
// (before seq 1) is 32 zero bytes.
using ChainValue = Sha256Digest;
ChainValue GenesisChain();
ChainValue NextChain(const ChainValue& previous, std::uint64_t seq,
                     const Sha256Digest& record_sha256);

// The fields the store adds to a record.
struct RecordHeader {
  std::uint64_t seq = 0;  // 1 for the first record of a store, then +1 each
  WallTime time{};        // when the store sealed it (millisecond resolution)
  std::string host;
  ChainValue prev_chain{};  // chain value of seq - 1
};

// The record file: canonical JSON (canonical_json.h) of the 11 fields, then one LF.
Result<std::string> SerializeRecord(const Record& record, const RecordHeader& header);

struct ParsedRecord {
  Record record;
  RecordHeader header;
};
// Parses a record file strictly: it must be exactly what SerializeRecord writes (so a file that
// parses is byte-for-byte canonical) and have the schema this code knows.
Result<ParsedRecord> ParseRecord(std::string_view file);

// The fields of a record file the verifier needs, read without building a JSON document.
struct RecordView {
  RecordHeader header;
  std::string kind;
  std::optional<std::string> check;
  std::string_view payload;  // the payload's canonical JSON text, pointing into the file
};
// Accepts exactly the files ParseRecord accepts (the differential test holds them together),
// about ten times faster. The message of a rejection is terse; ParseRecord explains it.
Result<RecordView> ScanRecord(std::string_view file);

// The signed trusted comment of a record's signature:
// "drift_evidence v1 seq=<n> time=<time> kind=<kind> record_sha256=<hex> chain=<hex>".
struct TrustedComment {
  std::uint64_t seq = 0;
  std::string time;  // as in the record
  std::string kind;
  Sha256Digest record_sha256{};
  ChainValue chain{};  // chain_seq
};
std::string FormatTrustedComment(const TrustedComment& comment);
Result<TrustedComment> ParseTrustedComment(std::string_view text);

// Record time on the wire: UTC, always with milliseconds ("2024-08-01T12:00:05.250Z"), so that
// the text sorts like the time.
std::string FormatRecordTime(WallTime t);
Result<WallTime> ParseRecordTime(std::string_view text);

// Store layout: records/YYYY/MM/DD/<seq, 20 digits>-<kind>.json and its ".minisig".
inline constexpr std::string_view kRecordSuffix = ".json";
inline constexpr std::string_view kSignatureSuffix = ".json.minisig";
std::string RecordStem(std::uint64_t seq, std::string_view kind);
struct RecordFileName {
  std::uint64_t seq = 0;
  std::string kind;
  bool signature = false;  // the .minisig rather than the .json
};
std::optional<RecordFileName> ParseRecordFileName(std::string_view name);
// "YYYY/MM/DD" of `t` in UTC.
std::string DayFolder(WallTime t);
// True for names of the form YYYY, MM or DD (digits of that width) at `level` 0, 1, 2.
bool IsDayFolderPart(std::string_view name, int level);

}  // namespace drift::evidence
