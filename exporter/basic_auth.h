#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"

namespace drift::exporter {

// HTTP basic authentication against the web configuration's basic_auth_users (user -> bcrypt
// hash), verified with libxcrypt.
//
// A bcrypt check takes ~70 ms at cost 10, far too long for the server's event-loop thread, so
// the work is split: Lookup is fast (a parse and a cache probe) and says whether the request is
// authenticated already, malformed, or needs Verify, which the server runs on a worker thread.
// A verified password is cached, keyed by a keyed SHA-256 of user, password and hash (never the
// password itself); failures are not cached. A user not configured costs a bcrypt check like a
// known one, so that timing does not tell which users exist. Thread-safe.
class BasicAuth {
 public:
  // Checks `password` against the bcrypt `hash`; true when it matches. Slow.
  using Verifier = std::function<bool(std::string_view password, const std::string& hash)>;

  struct Options {
    std::size_t cache_entries = 1024;  // verified (user, password) pairs kept; oldest go first
    Verifier verify;                   // default: CryptVerify
  };

  enum class Outcome {
    kAuthenticated,  // `user` is set
    kRejected,       // no usable Basic credentials in the header: 401 at once
    kNeedsVerify,    // well-formed, not cached: call Verify off the event loop
  };
  struct Decision {
    Outcome outcome = Outcome::kRejected;
    std::string user;
  };

  // `users` as WebConfig::basic_auth_users holds them (hashes checked at load).
  explicit BasicAuth(std::map<std::string, std::string> users);
  BasicAuth(std::map<std::string, std::string> users, Options options);

  // Fast. `authorization` is the Authorization header's value.
  Decision Lookup(std::string_view authorization) const;
  // Slow (one bcrypt check unless cached): the authenticated user name, or nullopt.
  std::optional<std::string> Verify(std::string_view authorization);

  // libxcrypt's crypt_rn over `password` with `hash` as the setting, compared with `hash` in
  // constant time.
  static bool CryptVerify(std::string_view password, const std::string& hash);

 private:
  struct Credentials;
  Sha256Digest CacheKey(const Credentials& c, const std::string& hash) const;

  const std::map<std::string, std::string> users_;
  const Options options_;
  // Verified against when the user is unknown: as costly as the costliest configured hash.
  std::string dummy_hash_;
  // Random per process: a cache key reveals nothing even to someone who can read this memory
  // and guess passwords.
  std::string key_;
  mutable Mutex mu_;
  std::map<Sha256Digest, std::string> cache_ DRIFT_GUARDED_BY(mu_);  // key -> user
  std::deque<Sha256Digest> order_ DRIFT_GUARDED_BY(mu_);             // oldest first
};

}  // namespace drift::exporter
