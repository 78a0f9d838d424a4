#pragma once

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "exporter/web_config.h"

namespace drift::exporter {

struct ClientCertificate;

// The server side of TLS for the HTTP server, in GnuTLS terms: the certificate and key in use
// (re-read when their files change), what to ask of clients and how to verify what they send.
// Independent of the HTTP library: the server hands it each session during the handshake.
class TlsCredentials {
 public:
  // Loads cert_file and key_file (errors as LoadCertKeyPair's). Thread-safe.
  static Result<std::unique_ptr<TlsCredentials>> Load(const TlsServerConfig& config);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  const TlsServerConfig& config() const { return config_; }

  // During a handshake, when GnuTLS asks for the server's certificate: sets what the session
  // asks of the client (client_auth_type) and `verify` as its verification of what the client
  // sends (a function of the server's that calls VerifyPeer), then gives the pair in use
  // (GnuTLS's retrieve_function2 contract; a pair stays valid for a minute after a reload
  // replaces it). Returns 0.
  int SelectCertificate(gnutls_session_t session, gnutls_certificate_verify_function* verify,
                        gnutls_pcert_st** pcert, unsigned int* pcert_length,
                        gnutls_privkey_t* pkey);
  // During a handshake, once the client's certificate (or none) arrived: 0 to accept it, < 0
  // to end the handshake. Absent where client_auth_type requires one; not verified against
  // client_ca_file (chain, dates, usage) where it must be; no SAN of client_allowed_sans.
  // `why` says what was wrong.
  int VerifyPeer(gnutls_session_t session, std::string* why) const;
  // After the handshake: the client's certificate when it was verified, else null.
  std::shared_ptr<const ClientCertificate> PeerCertificate(gnutls_session_t session) const;

  enum class Reload { kUnchanged, kReloaded, kFailed };
  // Re-reads the certificate and key when either file changed (size, time or inode) since the
  // last look. A pair that does not load keeps the one in use; `error` says why. Reads files:
  // not on the event loop. Thread-safe.
  Reload ReloadIfChanged(std::string* error);
  // notAfter of the certificate in use (the first of cert_file), as Unix seconds.
  double not_after() const;

 private:
  struct Loaded;
  explicit TlsCredentials(TlsServerConfig config);
  static Result<std::shared_ptr<Loaded>> Build(std::shared_ptr<const CertKeyPair> pair);
  struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const FileStamp&) const;
  };
  static FileStamp Stamp(const std::string& path);

  const TlsServerConfig config_;
  mutable Mutex mu_;
  std::shared_ptr<Loaded> current_ DRIFT_GUARDED_BY(mu_);
  // Replaced pairs, kept a while: a handshake in progress may still use one.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<Loaded>>> retired_
      DRIFT_GUARDED_BY(mu_);
  FileStamp cert_stamp_ DRIFT_GUARDED_BY(mu_);
  FileStamp key_stamp_ DRIFT_GUARDED_BY(mu_);
};

}  // namespace drift::exporter
