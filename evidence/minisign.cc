#include "evidence/minisign.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/secret_file.h"
#include "common/strings.h"

namespace drift::evidence {
namespace {

constexpr std::string_view kUntrustedPrefix = "untrusted comment: ";
constexpr std::string_view kTrustedPrefix = "trusted comment: ";
constexpr std::string_view kSecretHeader = "drift_exporter evidence secret key v1";
// minisign's own limit on the trusted comment line (TRUSTEDCOMMENTMAXBYTES).
constexpr std::size_t kTrustedCommentMax = 8192 - kTrustedPrefix.size();

void EnsureSodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    return true;
  }();
  (void)ready;
}

bool IsOneLine(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string Base64Encode(const std::uint8_t* data, std::size_t size) {
  EnsureSodium();
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  EnsureSodium();
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return Err("invalid base64");
  }
  out.resize(len);
  return out;
}

std::string FormatKeyId(const KeyId& id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = id.size(); i-- > 0;) {
    out += kHex[id[i] >> 4];
    out += kHex[id[i] & 0xF];
  }
  return out;
}

std::string MinisignKeyIdText(const KeyId& id) {
  std::string padded = FormatKeyId(id);
  std::size_t first = padded.find_first_not_of('0');
  return first == std::string::npos ? "0" : padded.substr(first);
}

Result<KeyId> ParseKeyId(std::string_view text) {
  if (text.size() != 16) return Err("expected a key id of 16 hex digits, got {:?}", text);
  KeyId id{};
  for (std::size_t i = 0; i < 16; ++i) {
    int v = HexValue(text[i]);
    if (v < 0) return Err("expected a key id of 16 hex digits, got {:?}", text);
    std::size_t byte = 7 - i / 2;
    id[byte] = static_cast<std::uint8_t>(id[byte] | (i % 2 == 0 ? v << 4 : v));
  }
  return id;
}

std::string FormatPublicKeyFile(const PublicKey& key) {
  std::uint8_t blob[2 + 8 + 32];
  blob[0] = 'E';
  blob[1] = 'd';
  std::memcpy(blob + 2, key.id.data(), 8);
  std::memcpy(blob + 10, key.key.data(), 32);
  return std::string(kUntrustedPrefix) + "minisign public key " + MinisignKeyIdText(key.id) + "\n" +
         Base64Encode(blob, sizeof blob) + "\n";
}

Result<PublicKey> ParsePublicKeyFile(std::string_view text) {
  std::vector<std::string_view> lines = SplitLines(text);
  std::string_view b64;
  if (lines.size() == 2 && lines[0].starts_with(kUntrustedPrefix)) {
    b64 = lines[1];
  } else if (lines.size() == 1) {
    b64 = lines[0];
  } else {
    return Err(
        "not a minisign public key: expected an \"untrusted comment: \" line and a base64 "
        "line");
  }
  Result<std::string> blob = Base64Decode(b64);
  if (!blob.ok() || blob->size() != 42) {
    return Err("not a minisign public key: the key line must be base64 of 42 bytes");
  }
  if (blob->compare(0, 2, "Ed") != 0) {
    return Err("not a minisign public key: algorithm {:?}, expected \"Ed\"", blob->substr(0, 2));
  }
  PublicKey key;
  std::memcpy(key.id.data(), blob->data() + 2, 8);
  std::memcpy(key.key.data(), blob->data() + 10, 32);
  return key;
}

struct SecretKey::Impl {
  PublicKey pub;
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  ~Impl() { sodium_memzero(sk.data(), sk.size()); }
};

SecretKey::SecretKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SecretKey::SecretKey(SecretKey&&) noexcept = default;
SecretKey& SecretKey::operator=(SecretKey&&) noexcept = default;
SecretKey::~SecretKey() = default;

SecretKey SecretKey::Generate() {
  EnsureSodium();
  auto impl = std::make_unique<Impl>();
  crypto_sign_keypair(impl->pub.key.data(), impl->sk.data());
  randombytes_buf(impl->pub.id.data(), impl->pub.id.size());
  return SecretKey(std::move(impl));
}

SecretKey SecretKey::FromSeed(const std::array<std::uint8_t, 32>& seed, const KeyId& id) {
  EnsureSodium();
  auto impl = std::make_unique<Impl>();
  crypto_sign_seed_keypair(impl->pub.key.data(), impl->sk.data(), seed.data());
  impl->pub.id = id;
  return SecretKey(std::move(impl));
}

Result<SecretKey> SecretKey::Parse(std::string_view text) {
  EnsureSodium();
  std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() != 3 || lines[0] != kSecretHeader || !lines[1].starts_with("key_id: ") ||
      !lines[2].starts_with("secret_key: ")) {
    return Err(
        "not a drift_exporter evidence secret key (expected the three lines `drift_exporter "
        "evidence secret key v1`, `key_id: <16 hex digits>`, `secret_key: <base64>` that "
        "`drift_exporter evidence keygen` writes)");
  }
  Result<KeyId> id = ParseKeyId(lines[1].substr(8));
  if (!id.ok()) return Err("key_id: {}", id.error().message);
  Result<std::string> sk = Base64Decode(lines[2].substr(12));
  if (!sk.ok() || sk->size() != crypto_sign_SECRETKEYBYTES) {
    if (sk.ok()) WipeString(*sk);
    return Err("secret_key: expected base64 of {} bytes", crypto_sign_SECRETKEYBYTES);
  }
  auto impl = std::make_unique<Impl>();
  std::memcpy(impl->sk.data(), sk->data(), impl->sk.size());
  WipeString(*sk);
  impl->pub.id = *id;
  // The public half is stored in the secret key's last 32 bytes; it must match the seed, or
  // signatures would verify against a key other than the one we publish.
  std::uint8_t derived[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_ed25519_sk_to_pk(impl->pub.key.data(), impl->sk.data());
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> check{};
  crypto_sign_seed_keypair(derived, check.data(), impl->sk.data());
  sodium_memzero(check.data(), check.size());
  if (std::memcmp(derived, impl->pub.key.data(), sizeof derived) != 0) {
    return Err("secret_key: the public half does not match the seed (damaged key file)");
  }
  return SecretKey(std::move(impl));
}

const PublicKey& SecretKey::public_key() const { return impl_->pub; }

std::string SecretKey::FormatFile() const {
  return std::string(kSecretHeader) + "\nkey_id: " + FormatKeyId(impl_->pub.id) +
         "\nsecret_key: " + Base64Encode(impl_->sk.data(), impl_->sk.size()) + "\n";
}

Ed25519Signature SecretKey::SignDetached(std::string_view message) const {
  Ed25519Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), impl_->sk.data());
  return sig;
}

void WipeString(std::string& s) { WipeSecret(s); }

std::array<std::uint8_t, 64> Blake2b512(std::string_view message) {
  EnsureSodium();
  std::array<std::uint8_t, 64> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), nullptr, 0);
  return out;
}

Result<Signature> Sign(const SecretKey& key, std::string_view message, std::string trusted_comment,
                       std::string untrusted_comment) {
  if (!IsOneLine(trusted_comment) || !IsOneLine(untrusted_comment)) {
    return Err("a signature comment must be one line without NUL");
  }
  if (trusted_comment.size() > kTrustedCommentMax) {
    return Err("trusted comment of {} bytes is longer than minisign's {}", trusted_comment.size(),
               kTrustedCommentMax);
  }
  Signature sig;
  sig.untrusted_comment = std::move(untrusted_comment);
  sig.trusted_comment = std::move(trusted_comment);
  sig.key_id = key.id();
  std::array<std::uint8_t, 64> digest = Blake2b512(message);
  sig.signature = key.SignDetached(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  std::string global(reinterpret_cast<const char*>(sig.signature.data()), sig.signature.size());
  global += sig.trusted_comment;
  sig.global_signature = key.SignDetached(global);
  return sig;
}

std::string FormatSignatureFile(const Signature& sig) {
  std::uint8_t blob[2 + 8 + 64];
  blob[0] = 'E';
  blob[1] = 'D';
  std::memcpy(blob + 2, sig.key_id.data(), 8);
  std::memcpy(blob + 10, sig.signature.data(), 64);
  std::string out;
  out.reserve(320 + sig.trusted_comment.size() + sig.untrusted_comment.size());
  out += kUntrustedPrefix;
  out += sig.untrusted_comment;
  out += '\n';
  out += Base64Encode(blob, sizeof blob);
  out += '\n';
  out += kTrustedPrefix;
  out += sig.trusted_comment;
  out += '\n';
  out += Base64Encode(sig.global_signature.data(), sig.global_signature.size());
  out += '\n';
  return out;
}

Result<Signature> ParseSignatureFile(std::string_view text) {
  std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() != 4 || !lines[0].starts_with(kUntrustedPrefix) ||
      !lines[2].starts_with(kTrustedPrefix)) {
    return Err(
        "not a minisign signature: expected 4 lines (untrusted comment, signature, trusted "
        "comment, global signature)");
  }
  // One CR before each LF is the line end; another is part of no comment Sign() would write,
  // and would not survive a rewrite (found by tests/fuzz/minisign_fuzz).
  if (!IsOneLine(lines[0]) || !IsOneLine(lines[2])) {
    return Err("not a minisign signature: a comment holds a carriage return or NUL");
  }
  Result<std::string> blob = Base64Decode(lines[1]);
  if (!blob.ok() || blob->size() != 74) {
    return Err("not a minisign signature: the signature line must be base64 of 74 bytes");
  }
  if (blob->compare(0, 2, "ED") != 0) {
    return Err("unsupported signature algorithm {:?}: expected the prehashed \"ED\"",
               blob->substr(0, 2));
  }
  Result<std::string> global = Base64Decode(lines[3]);
  if (!global.ok() || global->size() != 64) {
    return Err("not a minisign signature: the global signature must be base64 of 64 bytes");
  }
  Signature sig;
  sig.untrusted_comment = std::string(lines[0].substr(kUntrustedPrefix.size()));
  std::memcpy(sig.key_id.data(), blob->data() + 2, 8);
  std::memcpy(sig.signature.data(), blob->data() + 10, 64);
  sig.trusted_comment = std::string(lines[2].substr(kTrustedPrefix.size()));
  std::memcpy(sig.global_signature.data(), global->data(), 64);
  return sig;
}

Status VerifyFileSignature(const PublicKey& key, std::string_view message, const Signature& sig) {
  if (sig.key_id != key.id) {
    return Err("signed by key {}, not by key {}", FormatKeyId(sig.key_id), FormatKeyId(key.id));
  }
  std::array<std::uint8_t, 64> digest = Blake2b512(message);
  if (crypto_sign_verify_detached(sig.signature.data(), digest.data(), digest.size(),
                                  key.key.data()) != 0) {
    return Err("signature verification failed");
  }
  return {};
}

Status VerifyTrustedComment(const PublicKey& key, const Signature& sig) {
  EnsureSodium();
  if (sig.key_id != key.id) {
    return Err("signed by key {}, not by key {}", FormatKeyId(sig.key_id), FormatKeyId(key.id));
  }
  std::string global(reinterpret_cast<const char*>(sig.signature.data()), sig.signature.size());
  global += sig.trusted_comment;
  if (crypto_sign_verify_detached(sig.global_signature.data(),
                                  reinterpret_cast<const unsigned char*>(global.data()),
                                  global.size(), key.key.data()) != 0) {
    return Err("comment signature verification failed");
  }
  return {};
}

Status VerifyEd25519(const PublicKey& key, std::string_view message, const Ed25519Signature& sig) {
  EnsureSodium();
  if (crypto_sign_verify_detached(sig.data(),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), key.key.data()) != 0) {
    return Err("signature verification failed");
  }
  return {};
}

Status VerifySignature(const PublicKey& key, std::string_view message, const Signature& sig) {
  if (Status s = VerifyFileSignature(key, message, sig); !s.ok()) return s;
  return VerifyTrustedComment(key, sig);
}

}  // namespace drift::evidence
