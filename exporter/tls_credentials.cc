#include "exporter/tls_credentials.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <cstring>

#include "common/strings.h"
#include "exporter/http_server.h"

namespace drift::exporter {
namespace {

// How long a replaced pair stays usable: longer than any handshake that may have started with it
// (the server's request_timeout bounds them).
constexpr auto kRetiredFor = std::chrono::minutes(1);

gnutls_datum_t Datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
          static_cast<unsigned>(s.size())};
}

// REQUEST, not REQUIRE, where a certificate is required: VerifyPeer refuses its absence, so
// that the refusal is counted and logged like any other.
gnutls_certificate_request_t RequestMode(ClientAuth auth) {
  return RequestsClientCert(auth) ? GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE;
}

}  // namespace

struct TlsCredentials::Loaded {
  std::shared_ptr<const CertKeyPair> pair;
  std::vector<gnutls_pcert_st> pcerts;
  gnutls_privkey_t key = nullptr;
  double not_after = 0;

  ~Loaded() {
    for (gnutls_pcert_st& p : pcerts) gnutls_pcert_deinit(&p);
    if (key != nullptr) gnutls_privkey_deinit(key);
  }
};

bool TlsCredentials::FileStamp::operator==(const FileStamp& o) const {
  return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec;
}

TlsCredentials::FileStamp TlsCredentials::Stamp(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (::stat(path.c_str(), &st) == 0) {
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
  }
  return s;
}

TlsCredentials::TlsCredentials(TlsServerConfig config) : config_(std::move(config)) {}

TlsCredentials::~TlsCredentials() = default;

Result<std::shared_ptr<TlsCredentials::Loaded>> TlsCredentials::Build(
    std::shared_ptr<const CertKeyPair> pair) {
  auto loaded = std::make_shared<Loaded>();
  loaded->pair = std::move(pair);
  const gnutls_datum_t cert = Datum(loaded->pair->cert_pem());
  unsigned n = 16;  // a chain longer than this is refused
  loaded->pcerts.resize(n);
  int rc =
      gnutls_pcert_list_import_x509_raw(loaded->pcerts.data(), &n, &cert, GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0) {
    loaded->pcerts.clear();
    return Err("cert_file: {}", gnutls_strerror(rc));
  }
  loaded->pcerts.resize(n);
  if ((rc = gnutls_privkey_init(&loaded->key)) < 0) return Err("{}", gnutls_strerror(rc));
  const gnutls_datum_t key = Datum(loaded->pair->key_pem());
  if ((rc = gnutls_privkey_import_x509_raw(loaded->key, &key, GNUTLS_X509_FMT_PEM, nullptr, 0)) <
      0) {
    return Err("key_file: {}", gnutls_strerror(rc));
  }
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) >= 0) {
    if (gnutls_x509_crt_import(crt, &loaded->pcerts[0].cert, GNUTLS_X509_FMT_DER) >= 0) {
      loaded->not_after = static_cast<double>(gnutls_x509_crt_get_expiration_time(crt));
    }
    gnutls_x509_crt_deinit(crt);
  }
  return loaded;
}

Result<std::unique_ptr<TlsCredentials>> TlsCredentials::Load(const TlsServerConfig& config) {
  std::unique_ptr<TlsCredentials> creds(new TlsCredentials(config));
  FileStamp cert_stamp = Stamp(config.cert_file);
  FileStamp key_stamp = Stamp(config.key_file);
  Result<std::shared_ptr<const CertKeyPair>> pair =
      LoadCertKeyPair(config.cert_file, config.key_file);
  if (!pair.ok()) return pair.error();
  Result<std::shared_ptr<Loaded>> loaded = Build(std::move(*pair));
  if (!loaded.ok()) return loaded.error();
  MutexLock lock(creds->mu_);
  creds->current_ = std::move(*loaded);
  creds->cert_stamp_ = cert_stamp;
  creds->key_stamp_ = key_stamp;
  return creds;
}

int TlsCredentials::SelectCertificate(gnutls_session_t session,
                                      gnutls_certificate_verify_function* verify,
                                      gnutls_pcert_st** pcert, unsigned int* pcert_length,
                                      gnutls_privkey_t* pkey) {
  gnutls_certificate_server_set_request(session, RequestMode(config_.client_auth));
  if (config_.client_auth != ClientAuth::kNoClientCert) {
    gnutls_session_set_verify_function(session, verify);
  }
  MutexLock lock(mu_);
  *pcert = current_->pcerts.data();
  *pcert_length = static_cast<unsigned>(current_->pcerts.size());
  *pkey = current_->key;
  return 0;
}

int TlsCredentials::VerifyPeer(gnutls_session_t session, std::string* why) const {
  unsigned int n = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &n);
  const bool given = chain != nullptr && n > 0;
  if (!given) {
    if (RequiresClientCert(config_.client_auth)) {
      *why = "no client certificate";
      return GNUTLS_E_NO_CERTIFICATE_FOUND;
    }
    return 0;
  }
  if (!VerifiesClientCert(config_.client_auth)) return 0;
  unsigned int status = 0;
  int rc = gnutls_certificate_verify_peers2(session, &status);
  if (rc < 0) {
    *why = fmt::format("client certificate not verified: {}", gnutls_strerror(rc));
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (status != 0) {
    gnutls_datum_t text{};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0) {
      *why = fmt::format("client certificate refused: {}",
                         Trim(std::string_view(reinterpret_cast<char*>(text.data), text.size)));
      gnutls_free(text.data);
    } else {
      *why = "client certificate refused";
    }
    return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
  }
  if (!config_.client_allowed_sans.empty()) {
    std::shared_ptr<const ClientCertificate> cert = PeerCertificate(session);
    const auto& allowed = config_.client_allowed_sans;
    bool ok = cert != nullptr && std::any_of(cert->sans.begin(), cert->sans.end(), [&](auto& s) {
                return std::find(allowed.begin(), allowed.end(), s) != allowed.end();
              });
    if (!ok) {
      *why = fmt::format("client certificate {:?} has no SAN in client_allowed_sans",
                         cert != nullptr ? cert->subject : "");
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  }
  return 0;
}

std::shared_ptr<const ClientCertificate> TlsCredentials::PeerCertificate(
    gnutls_session_t session) const {
  unsigned int n = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &n);
  if (chain == nullptr || n == 0) return nullptr;
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) < 0) return nullptr;
  std::shared_ptr<ClientCertificate> out;
  if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0) {
    out = std::make_shared<ClientCertificate>();
    gnutls_datum_t dn{};
    if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
      out->subject.assign(reinterpret_cast<char*>(dn.data), dn.size);
      gnutls_free(dn.data);
    }
    for (unsigned i = 0;; ++i) {
      char buf[512];
      size_t size = sizeof buf;
      int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, nullptr);
      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (type < 0) continue;  // too long for the buffer, or malformed: not a name to match
      if (type == GNUTLS_SAN_IPADDRESS) {
        char text[64];
        const int family = size == 4 ? AF_INET : size == 16 ? AF_INET6 : 0;
        if (family != 0 && inet_ntop(family, buf, text, sizeof text) != nullptr) {
          out->sans.emplace_back(text);
        }
      } else if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME ||
                 type == GNUTLS_SAN_URI) {
        out->sans.emplace_back(buf, size);
      }
    }
  }
  gnutls_x509_crt_deinit(crt);
  return out;
}

TlsCredentials::Reload TlsCredentials::ReloadIfChanged(std::string* error) {
  const FileStamp cert_stamp = Stamp(config_.cert_file);
  const FileStamp key_stamp = Stamp(config_.key_file);
  {
    MutexLock lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(retired_, [&](const auto& r) { return now - r.first > kRetiredFor; });
    if (cert_stamp == cert_stamp_ && key_stamp == key_stamp_) return Reload::kUnchanged;
  }
  Result<std::shared_ptr<const CertKeyPair>> pair =
      LoadCertKeyPair(config_.cert_file, config_.key_file);
  Result<std::shared_ptr<Loaded>> loaded =
      pair.ok() ? Build(std::move(*pair)) : Result<std::shared_ptr<Loaded>>(pair.error());
  MutexLock lock(mu_);
  // Looked at: a broken pair is reported once, not at every look, until the files change again.
  cert_stamp_ = cert_stamp;
  key_stamp_ = key_stamp;
  if (!loaded.ok()) {
    *error = loaded.error().message;
    return Reload::kFailed;
  }
  if ((*loaded)->pair->digest() == current_->pair->digest()) return Reload::kUnchanged;
  retired_.emplace_back(std::chrono::steady_clock::now(), std::move(current_));
  current_ = std::move(*loaded);
  return Reload::kReloaded;
}

double TlsCredentials::not_after() const {
  MutexLock lock(mu_);
  return current_->not_after;
}

}  // namespace drift::exporter
