#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift::evidence {

// minisign's key and signature formats (https://jedisct1.github.io/minisign/), so that
// `minisign -Vm record.json -p key.pub` verifies evidence with nothing of ours installed.
// Byte-by-byte description: docs/evidence.md, "Signatures".

// A key id: minisign's 8-byte `keynum`, in the order it appears in key and signature blobs.
using KeyId = std::array<std::uint8_t, 8>;
using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;

// The key id as minisign prints it: the 8 bytes read as a little-endian integer, in 16
// upper-case hex digits (so the bytes appear reversed).
std::string FormatKeyId(const KeyId& id);
// The same number the way minisign writes it in a public key's comment: without leading zeros.
std::string MinisignKeyIdText(const KeyId& id);
Result<KeyId> ParseKeyId(std::string_view text);

struct PublicKey {
  KeyId id{};
  Ed25519PublicKey key{};
};

// minisign's public key file: "untrusted comment: minisign public key <ID>\n" (ID as
// MinisignKeyIdText) then
// base64("Ed" || keynum || public key) and "\n".
std::string FormatPublicKeyFile(const PublicKey& key);
// Accepts that file (LF or CRLF, any untrusted comment) or its base64 line alone. Errors say what
// is wrong ("not a minisign public key: ...").
Result<PublicKey> ParsePublicKeyFile(std::string_view text);

// An Ed25519 signing key with its key id. The secret bytes live in one heap block that is wiped
// (sodium_memzero) on destruction and never printed. Move-only; const methods are thread-safe.
class SecretKey {
 public:
  // A new random key pair and key id.
  static SecretKey Generate();
  // A key pair derived from a 32-byte seed, for deterministic tests and fixtures.
  static SecretKey FromSeed(const std::array<std::uint8_t, 32>& seed, const KeyId& id);
  // Our own secret key file format (docs/evidence.md, "Keys"): three lines
  //   "drift_exporter evidence secret key v1", "key_id: <ID>", "secret_key: <base64 of the
  //   64-byte libsodium Ed25519 secret key>". Rejects anything else, and a secret key whose
  //   public half does not match its seed.
  static Result<SecretKey> Parse(std::string_view text);

  SecretKey(SecretKey&&) noexcept;
  SecretKey& operator=(SecretKey&&) noexcept;
  ~SecretKey();

  const PublicKey& public_key() const;
  const KeyId& id() const { return public_key().id; }
  // The file Parse reads. The caller must wipe the returned string (WipeString) when done.
  std::string FormatFile() const;
  // Ed25519 (crypto_sign_detached) over `message`.
  Ed25519Signature SignDetached(std::string_view message) const;

 private:
  struct Impl;
  explicit SecretKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Overwrites a string's bytes with zeros (sodium_memzero) and clears it.
void WipeString(std::string& s);

// One detached signature file (`<file>.minisig`) in minisign's prehashed "ED" form.
struct Signature {
  std::string untrusted_comment;  // not signed
  KeyId key_id{};
  Ed25519Signature signature{};         // Ed25519 over BLAKE2b-512(file)
  std::string trusted_comment;          // signed by global_signature
  Ed25519Signature global_signature{};  // Ed25519 over signature || trusted_comment
};

// Signs `message` the way `minisign -S` (0.11) does by default. Comments must be one line each
// (no CR, LF or NUL); the trusted comment at most 8 KiB minus its prefix.
Result<Signature> Sign(const SecretKey& key, std::string_view message, std::string trusted_comment,
                       std::string untrusted_comment);
// "untrusted comment: <c>\n<base64(ED || keynum || sig)>\ntrusted comment: <t>\n<base64(global)>\n"
std::string FormatSignatureFile(const Signature& sig);
// Parses that form (LF or CRLF). Accepts only the prehashed "ED" algorithm: the legacy "Ed" form
// signs the whole file and is never produced here.
Result<Signature> ParseSignatureFile(std::string_view text);

// BLAKE2b-512 of `message` (crypto_generichash, no key), what the "ED" signature covers.
std::array<std::uint8_t, 64> Blake2b512(std::string_view message);

// Checks both signatures as `minisign -V` does: key ids match, the signature over
// BLAKE2b-512(message), then the global signature over signature || trusted comment.
Status VerifySignature(const PublicKey& key, std::string_view message, const Signature& sig);
// Only the global signature: proves the trusted comment (and the signature bytes) came from the
// key. The verifier binds the message through the SHA-256 the comment carries (verify.h).
Status VerifyTrustedComment(const PublicKey& key, const Signature& sig);
// Only the file signature over BLAKE2b-512(message).
Status VerifyFileSignature(const PublicKey& key, std::string_view message, const Signature& sig);

// A plain Ed25519 signature check (crypto_sign_verify_detached) over `message`.
Status VerifyEd25519(const PublicKey& key, std::string_view message, const Ed25519Signature& sig);

// Standard base64 with padding, as minisign writes it.
std::string Base64Encode(const std::uint8_t* data, std::size_t size);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace drift::evidence
