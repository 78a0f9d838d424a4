#include "exporter/basic_auth.h"

#include <crypt.h>
#include <fmt/format.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/secret_file.h"
#include "evidence/minisign.h"

namespace drift::exporter {
namespace {

// Longer Authorization values are not credentials anyone configured (bcrypt reads 72 bytes of
// a password); refusing them early bounds the work of a hostile header.
constexpr std::size_t kMaxCredentialsBytes = 1024;

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20) && std::isalpha(static_cast<unsigned char>(x));
         });
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The highest cost among `users`' hashes ("$2y$10$..." -> 10), 10 when there are none.
int HighestCost(const std::map<std::string, std::string>& users) {
  int cost = 0;
  for (const auto& [user, hash] : users) {
    if (hash.size() >= 7) cost = std::max(cost, (hash[4] - '0') * 10 + (hash[5] - '0'));
  }
  return cost == 0 ? 10 : cost;
}

}  // namespace

// A parsed "Basic" credential; the password is wiped when it goes.
struct BasicAuth::Credentials {
  std::string user;
  std::string password;
  ~Credentials() { WipeSecret(password); }
};

namespace {

// Parses `Basic <base64 of user:password>` strictly: the scheme in any case, one or more spaces,
// base64 with its padding and nothing else, split at the first ':'; no control characters.
bool Parse(std::string_view header, std::string& user, std::string& password) {
  header = TrimSpaces(header);
  if (header.size() > kMaxCredentialsBytes) return false;
  const std::size_t space = header.find(' ');
  if (space == std::string_view::npos || !EqualsNoCase(header.substr(0, space), "basic")) {
    return false;
  }
  const std::string_view token = TrimSpaces(header.substr(space));
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return false;
  Result<std::string> decoded = evidence::Base64Decode(token);
  if (!decoded.ok()) return false;
  std::string& text = *decoded;
  const std::size_t colon = text.find(':');
  const bool ok =
      colon != std::string::npos && colon > 0 && std::none_of(text.begin(), text.end(), IsControl);
  if (ok) {
    user = text.substr(0, colon);
    password = text.substr(colon + 1);
  }
  WipeSecret(text);
  return ok;
}

}  // namespace

BasicAuth::BasicAuth(std::map<std::string, std::string> users)
    : BasicAuth(std::move(users), Options{}) {}

BasicAuth::BasicAuth(std::map<std::string, std::string> users, Options options)
    : users_(std::move(users)), options_(std::move(options)) {
  // A well-formed setting whose result matches no password: crypt runs the full cost on it.
  dummy_hash_ = fmt::format("$2b${:02}$", HighestCost(users_)) + std::string(53, '.');
  key_.resize(32);
  std::size_t got = 0;
  while (got < key_.size()) {
    const ssize_t n = ::getrandom(key_.data() + got, key_.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
}

Sha256Digest BasicAuth::CacheKey(const Credentials& c, const std::string& hash) const {
  // Length-prefixed, so that no two (user, password, hash) triples share an input.
  Sha256 h;
  h.Update(key_);
  for (const std::string* part : {&c.user, &c.password, &hash}) {
    h.Update(fmt::format("{}:", part->size()));
    h.Update(*part);
  }
  return h.Finish();
}

BasicAuth::Decision BasicAuth::Lookup(std::string_view authorization) const {
  Credentials c;
  if (!Parse(authorization, c.user, c.password)) return {Outcome::kRejected, ""};
  auto user = users_.find(c.user);
  if (user == users_.end()) return {Outcome::kNeedsVerify, ""};  // as slow as a known user
  const Sha256Digest key = CacheKey(c, user->second);
  MutexLock lock(mu_);
  if (auto it = cache_.find(key); it != cache_.end()) return {Outcome::kAuthenticated, it->second};
  return {Outcome::kNeedsVerify, ""};
}

std::optional<std::string> BasicAuth::Verify(std::string_view authorization) {
  Credentials c;
  if (!Parse(authorization, c.user, c.password)) return std::nullopt;
  auto user = users_.find(c.user);
  const std::string& hash = user == users_.end() ? dummy_hash_ : user->second;
  const Sha256Digest key = CacheKey(c, hash);
  if (user != users_.end()) {
    MutexLock lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  const Verifier& verify = options_.verify ? options_.verify : Verifier(&BasicAuth::CryptVerify);
  const bool match = verify(c.password, hash);
  if (!match || user == users_.end()) return std::nullopt;
  if (options_.cache_entries > 0) {
    MutexLock lock(mu_);
    if (cache_.emplace(key, c.user).second) {
      order_.push_back(key);
      while (order_.size() > options_.cache_entries) {
        cache_.erase(order_.front());
        order_.pop_front();
      }
    }
  }
  return c.user;
}

bool BasicAuth::CryptVerify(std::string_view password, const std::string& hash) {
  // crypt takes a C string: a password with a NUL inside would be cut short (Parse refuses
  // control characters; this keeps the function safe on its own).
  if (password.find('\0') != std::string_view::npos) return false;
  std::string phrase(password);
  // crypt_data is ~32 KiB: on the heap, as worker threads may have small stacks.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = ::crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  bool match = out != nullptr && std::strlen(out) == hash.size();
  if (match) {
    unsigned char diff = 0;
    for (std::size_t i = 0; i < hash.size(); ++i) {
      diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
    }
    match = diff == 0;
  }
  ::explicit_bzero(data.get(), sizeof(crypt_data));
  WipeSecret(phrase);
  return match;
}

}  // namespace drift::exporter
