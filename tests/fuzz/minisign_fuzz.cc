// minisign's public key and signature files, key ids, base64 and our secret key file on
// arbitrary bytes (evidence/minisign.h). Properties: what a parser accepts, its formatter writes
// in a form that reads back to the same value; checking a parsed signature against a key fails
// cleanly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "evidence/minisign.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/seed_key.h"

using drift::fuzz::Expect;
using drift::fuzz::SeedKey;
namespace ev = drift::evidence;

namespace {

void CheckPublicKey(std::string_view text) {
  drift::Result<ev::PublicKey> key = ev::ParsePublicKeyFile(text);
  if (!key.ok()) return;
  drift::Result<ev::PublicKey> again = ev::ParsePublicKeyFile(ev::FormatPublicKeyFile(*key));
  Expect(again.ok() && again->id == key->id && again->key == key->key,
         "a formatted public key does not read back");
}

void CheckSignature(std::string_view text) {
  drift::Result<ev::Signature> sig = ev::ParseSignatureFile(text);
  if (!sig.ok()) return;
  drift::Result<ev::Signature> again = ev::ParseSignatureFile(ev::FormatSignatureFile(*sig));
  Expect(again.ok() && again->untrusted_comment == sig->untrusted_comment &&
             again->key_id == sig->key_id && again->signature == sig->signature &&
             again->trusted_comment == sig->trusted_comment &&
             again->global_signature == sig->global_signature,
         "a formatted signature does not read back");
  // The seed signatures are over the record files; here the message is the signature itself,
  // so only the key id and the trusted comment can check.
  (void)ev::VerifyTrustedComment(SeedKey(), *sig);
  (void)ev::VerifySignature(SeedKey(), text, *sig);
}

void CheckKeyId(std::string_view text) {
  drift::Result<ev::KeyId> id = ev::ParseKeyId(text);
  if (!id.ok()) return;
  drift::Result<ev::KeyId> again = ev::ParseKeyId(ev::FormatKeyId(*id));
  Expect(again.ok() && *again == *id, "a formatted key id does not read back");
  (void)ev::MinisignKeyIdText(*id);
}

void CheckBase64(std::string_view text) {
  drift::Result<std::string> bytes = ev::Base64Decode(text);
  if (!bytes.ok()) return;
  drift::Result<std::string> again = ev::Base64Decode(
      ev::Base64Encode(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()));
  Expect(again.ok() && *again == *bytes, "base64 does not read back");
}

void CheckSecretKey(std::string_view text) {
  drift::Result<ev::SecretKey> key = ev::SecretKey::Parse(text);
  if (!key.ok()) return;
  std::string file = key->FormatFile();
  drift::Result<ev::SecretKey> again = ev::SecretKey::Parse(file);
  ev::WipeString(file);
  Expect(again.ok() && again->id() == key->id() && again->public_key().key == key->public_key().key,
         "a formatted secret key does not read back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckPublicKey(text);
  CheckSignature(text);
  CheckKeyId(text);
  CheckBase64(text);
  CheckSecretKey(text);
  return 0;
}
