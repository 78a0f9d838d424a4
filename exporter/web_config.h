#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config_node.h"
#include "common/result.h"
#include "common/sha256.h"

namespace drift::exporter {

// The web configuration file (--web.config.file) in the exporter-toolkit format that Prometheus,
// node_exporter and Alertmanager read: TLS, client certificates, basic-auth users and extra
// response headers. Read as strictly as the main configuration (docs/web_config.md).

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

// Go's tls.ClientAuthType values, by their names in the file.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // asked for, not required, not verified
  kRequireAnyClientCert,        // required, not verified ("RequireClientCert" too)
  kVerifyClientCertIfGiven,     // asked for, verified when given
  kRequireAndVerifyClientCert,  // required and verified: the one that authenticates
};

std::string_view ClientAuthName(ClientAuth auth);
// Whether the server asks the client for a certificate (GnuTLS: GNUTLS_CERT_REQUEST or more).
bool RequestsClientCert(ClientAuth auth);
// Whether a client without a certificate is refused (GNUTLS_CERT_REQUIRE).
bool RequiresClientCert(ClientAuth auth);
// Whether a client certificate given is verified against client_ca_file.
bool VerifiesClientCert(ClientAuth auth);

struct TlsServerConfig {
  // Absolute (relative ones resolved against the web config's folder). The server re-reads them
  // when they change (LoadCertKeyPair); the key is a secret file (common/secret_file.h).
  std::string cert_file;
  std::string key_file;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  std::string client_ca_file;  // empty: none
  // A verified client certificate must carry one of these as a DNS, IP, e-mail or URI SAN,
  // compared exactly; empty: any verified certificate.
  std::vector<std::string> client_allowed_sans;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // Go names, in preference order; empty: Go's defaults (every ECDHE suite with AES-GCM,
  // ChaCha20-Poly1305 or AES-CBC-SHA).
  std::vector<std::string> cipher_suites;
  // Go names (X25519, CurveP256, CurveP384, CurveP521), in preference order; empty: that order.
  std::vector<std::string> curve_preferences;
  bool prefer_server_cipher_suites = true;
};

struct WebConfig {
  std::string file;                    // the file it was read from
  std::optional<TlsServerConfig> tls;  // absent: plain HTTP
  // Extra response headers (toolkit's http_server_config.headers), in file order; blank values
  // are left out, as the toolkit does.
  std::vector<std::pair<std::string, std::string>> headers;
  // User name -> bcrypt hash, each checked at load; empty: no basic auth.
  std::map<std::string, std::string> basic_auth_users;
};

// Reads `file`. Throws ConfigError ("file:line:col: key: what") for anything the toolkit would
// refuse, for a toolkit key or value this build does not support ("not supported by this build:
// ..."), for a bcrypt hash of the wrong format, and for certificate, key and CA files that do not
// load. Configuration time only.
WebConfig LoadWebConfig(const std::string& file);
// The same from text, as if read from `file` (tests).
WebConfig ParseWebConfig(std::string_view text, const std::string& file);

// What --config.check prints as warnings: settings that are valid but weaker than they look.
std::vector<std::string> WebConfigWarnings(const WebConfig& config);

// The GnuTLS priority string for these settings (libmicrohttpd's MHD_OPTION_HTTPS_PRIORITIES):
// the versions from min to max, the key exchanges, ciphers and MACs of the cipher suites, the
// groups of curve_preferences, and server precedence. GnuTLS has one list of ciphers for every
// version, so the ciphers of cipher_suites also choose the TLS 1.3 suites (those whose cipher is
// listed). Pure; expects settings that ParseWebConfig accepted.
std::string GnutlsPriority(const TlsServerConfig& tls);

// A certificate chain and its private key read from their files, checked to parse and to match.
// The key's bytes are wiped when the pair goes. Immutable; share it between connections.
class CertKeyPair {
 public:
  CertKeyPair(std::string cert_pem, std::string key_pem);
  ~CertKeyPair();
  CertKeyPair(const CertKeyPair&) = delete;
  CertKeyPair& operator=(const CertKeyPair&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  // SHA-256 over both files' bytes: equal digests, same pair (tells whether a re-read changed).
  const Sha256Digest& digest() const { return digest_; }

 private:
  std::string cert_pem_;
  std::string key_pem_;
  Sha256Digest digest_;
};

// Reads and checks a certificate and key pair, for the load and for each re-read when the files
// change. Errors name the file at fault:
//   "cert_file <path>: No such file or directory", "cert_file <path>: no PEM certificate (...)",
//   "key_file <path> is readable by its group or others (mode 0644); run `chmod 600 <path>`",
//   "key_file <path>: not a PEM private key (...)",
//   "key_file <path> does not match the certificate in cert_file <path>".
// Thread-safe.
Result<std::shared_ptr<const CertKeyPair>> LoadCertKeyPair(const std::string& cert_file,
                                                           const std::string& key_file);

// Reads client_ca_file: the PEM certificates client certificates are verified against. Errors:
// "client_ca_file <path>: ...". Thread-safe.
Result<std::string> LoadClientCa(const std::string& path);

}  // namespace drift::exporter
