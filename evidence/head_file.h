#pragma once

// The head file's name and text: pure formatting and parsing, no I/O (the head writer writes the
// file, Recover and the verifier read it).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "evidence/minisign.h"
#include "evidence/record.h"

namespace drift::evidence {

inline constexpr std::string_view kHeadPrefix = "head-";
inline constexpr std::string_view kHeadTemp = ".head.tmp";

// The head file: a published seq and its chain value, signed, so that deleting records from the
// end of the store (a truncated tail) is detected. Named head-<seq, 20 digits>; written (temporary
// file, rename to the new name) and the previous one removed by a helper thread, at most once per
// StoreOptions::head_interval, always naming the newest publication it has been handed, so a
// burst of records costs one head write. Not renamed over an existing file (but a stale head of
// lost records with the same name): ext4 flushes a file renamed over another (auto_da_alloc),
// which would cost as much as an fsync. Not fsynced, and only written once the records it names
// are durable: it may lag the tail (by up to about head_interval while running, by more after a
// crash), never lead it.
//   "drift_evidence head v1\nseq: <n>\nchain: <hex>\ntime: <time>\nkey_id: <ID>\n"
//   "signature: <base64 Ed25519 over every byte before this line>\n"
struct Head {
  std::uint64_t seq = 0;
  ChainValue chain{};
  std::string time;
  KeyId key_id{};
  Ed25519Signature signature{};
  std::string signed_text;  // the bytes the signature covers
};

// "head-" and `seq` in 20 digits.
std::string HeadFileName(std::uint64_t seq);
// The seq a head file's name carries, or nullopt for other names.
std::optional<std::uint64_t> ParseHeadFileName(std::string_view name);
// The text the head's signature covers: every line but the signature line.
std::string FormatHeadBody(std::uint64_t seq, const ChainValue& chain, std::string_view time,
                           const KeyId& key_id);
// The whole head file, signed by `key`. Deterministic (Ed25519), thread-safe.
std::string FormatHead(const SecretKey& key, std::uint64_t seq, const ChainValue& chain,
                       std::string_view time);
// Parses a head file without checking its signature (VerifyHead does). Never throws.
Result<Head> ParseHead(std::string_view text);
// Whether `head` is signed by `key` (and names it).
Status VerifyHead(const PublicKey& key, const Head& head);

}  // namespace drift::evidence
