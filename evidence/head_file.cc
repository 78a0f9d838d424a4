#include "evidence/head_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>

namespace drift::evidence {
namespace {

constexpr std::string_view kHeadTag = "drift_evidence head v1";
constexpr std::string_view kSignatureLine = "\nsignature: ";

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal digits as a seq; nullopt when empty, not all digits or above 2^64-1 (20 digits can
// be: std::stoull would throw).
std::optional<std::uint64_t> ParseSeqDigits(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || !AllDigits(s)) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The "name: value" lines of a head's body (after its tag line), or nullopt when a line has no
// ": ".
std::optional<std::map<std::string, std::string, std::less<>>> HeadFields(std::string_view body) {
  std::map<std::string, std::string, std::less<>> fields;
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return std::nullopt;
    fields.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
    body.remove_prefix(nl + 1);
  }
  return fields;
}

}  // namespace

std::string HeadFileName(std::uint64_t seq) { return fmt::format("{}{:020}", kHeadPrefix, seq); }

std::optional<std::uint64_t> ParseHeadFileName(std::string_view name) {
  if (!name.starts_with(kHeadPrefix) || name.size() != kHeadPrefix.size() + 20) return std::nullopt;
  return ParseSeqDigits(name.substr(kHeadPrefix.size()));
}

std::string FormatHeadBody(std::uint64_t seq, const ChainValue& chain, std::string_view time,
                           const KeyId& key_id) {
  return fmt::format("{}\nseq: {}\nchain: {}\ntime: {}\nkey_id: {}\n", kHeadTag, seq, ToHex(chain),
                     time, FormatKeyId(key_id));
}

std::string FormatHead(const SecretKey& key, std::uint64_t seq, const ChainValue& chain,
                       std::string_view time) {
  std::string text = FormatHeadBody(seq, chain, time, key.id());
  Ed25519Signature sig = key.SignDetached(text);
  text += kSignatureLine.substr(1);
  text += Base64Encode(sig.data(), sig.size());
  text += '\n';
  return text;
}

Result<Head> ParseHead(std::string_view text) {
  auto fail = [] {
    return Err(
        "not a head file (expected the lines drift_evidence head v1, seq:, chain:, time:, "
        "key_id:, signature:)");
  };
  std::size_t sig_at = text.find(kSignatureLine);
  if (!text.starts_with(kHeadTag) || sig_at == std::string_view::npos || !text.ends_with('\n')) {
    return fail();
  }
  Head head;
  head.signed_text = std::string(text.substr(0, sig_at + 1));
  auto fields = HeadFields(std::string_view(head.signed_text).substr(kHeadTag.size() + 1));
  if (!fields || fields->size() != 4 || !fields->contains("seq") || !fields->contains("chain") ||
      !fields->contains("time") || !fields->contains("key_id")) {
    return fail();
  }
  const std::string& seq_text = (*fields)["seq"];
  std::optional<std::uint64_t> seq = ParseSeqDigits(seq_text);
  if (!seq || seq_text.size() > 20) return fail();
  head.seq = *seq;
  Result<Sha256Digest> chain = ParseSha256Hex((*fields)["chain"]);
  Result<KeyId> id = ParseKeyId((*fields)["key_id"]);
  std::string_view sig_line = text.substr(sig_at + kSignatureLine.size());
  sig_line.remove_suffix(1);
  Result<std::string> sig = Base64Decode(sig_line);
  if (!chain.ok() || !id.ok() || !sig.ok() || sig->size() != 64) return fail();
  head.chain = *chain;
  head.time = (*fields)["time"];
  head.key_id = *id;
  std::copy(sig->begin(), sig->end(), head.signature.begin());
  return head;
}

Status VerifyHead(const PublicKey& key, const Head& head) {
  if (head.key_id != key.id) {
    return Err("signed by key {}, not by key {}", FormatKeyId(head.key_id), FormatKeyId(key.id));
  }
  return VerifyEd25519(key, head.signed_text, head.signature);
}

}  // namespace drift::evidence
