#include "exporter/web_config.h"

#include <crypt.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <tuple>

#include "common/regular_file.h"
#include "common/secret_file.h"

namespace drift::exporter {
namespace {

// A certificate chain or CA bundle (the system bundle is a few hundred KiB).
constexpr std::size_t kMaxPemBytes = 4 << 20;

// One of Go's secure cipher suites (crypto/tls CipherSuites()) and what GnuTLS builds it from.
struct Suite {
  std::string_view go_name;
  bool tls13;               // a TLS 1.3 suite: only its cipher is configurable in GnuTLS
  std::string_view kx;      // GnuTLS key exchange ("" for TLS 1.3)
  std::string_view cipher;  // GnuTLS cipher
  std::string_view mac;     // GnuTLS MAC
};

constexpr std::array<Suite, 13> kSuites = {{
    {"TLS_AES_128_GCM_SHA256", true, "", "AES-128-GCM", "AEAD"},
    {"TLS_AES_256_GCM_SHA384", true, "", "AES-256-GCM", "AEAD"},
    {"TLS_CHACHA20_POLY1305_SHA256", true, "", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false, "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false, "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false, "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false, "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false, "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false, "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false, "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false, "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false, "ECDHE-RSA", "CHACHA20-POLY1305",
     "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false, "ECDHE-ECDSA", "CHACHA20-POLY1305",
     "AEAD"},
}};

// Go's InsecureCipherSuites(): names the toolkit refuses too; said so rather than "unknown".
constexpr std::array<std::string_view, 12> kInsecureSuites = {
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
};

// Go's defaults, in its order of preference (AES-GCM first where the CPU has AES instructions).
constexpr std::array<std::string_view, 5> kDefaultCiphers = {
    "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305", "AES-128-CBC", "AES-256-CBC"};
constexpr std::array<std::string_view, 2> kDefaultKx = {"ECDHE-ECDSA", "ECDHE-RSA"};

struct Curve {
  std::string_view go_name;
  std::string_view group;  // GnuTLS group name
};
// The toolkit's curves, in Go's default order.
constexpr std::array<Curve, 4> kCurves = {{
    {"X25519", "X25519"},
    {"CurveP256", "SECP256R1"},
    {"CurveP384", "SECP384R1"},
    {"CurveP521", "SECP521R1"},
}};

constexpr std::array<std::string_view, 4> kVersionNames = {"TLS10", "TLS11", "TLS12", "TLS13"};
constexpr std::array<std::string_view, 4> kGnutlsVersions = {"VERS-TLS1.0", "VERS-TLS1.1",
                                                             "VERS-TLS1.2", "VERS-TLS1.3"};

struct AuthName {
  std::string_view name;
  ClientAuth auth;
};
constexpr std::array<AuthName, 6> kClientAuthNames = {{
    {"NoClientCert", ClientAuth::kNoClientCert},
    {"RequestClientCert", ClientAuth::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
    {"RequireClientCert", ClientAuth::kRequireAnyClientCert},  // the toolkit's older name
    {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
}};

// The toolkit's configurable headers and the only values it allows for some (none: any).
struct HeaderRule {
  std::string_view name;
  std::vector<std::string_view> values;
};
const std::vector<HeaderRule>& HeaderRules() {
  static const std::vector<HeaderRule> rules = {
      {"Content-Security-Policy", {}},
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
  };
  return rules;
}

const Suite* FindSuite(std::string_view name) {
  for (const Suite& s : kSuites) {
    if (s.go_name == name) return &s;
  }
  return nullptr;
}

const Curve* FindCurve(std::string_view name) {
  for (const Curve& c : kCurves) {
    if (c.go_name == name) return &c;
  }
  return nullptr;
}

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool Has(const std::vector<std::string_view>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

void AddOnce(std::vector<std::string_view>& list, std::string_view item) {
  if (!Has(list, item)) list.push_back(item);
}

bool InRange(const TlsServerConfig& tls, TlsVersion v) {
  return tls.min_version <= v && v <= tls.max_version;
}
bool AllowsTls12OrBelow(const TlsServerConfig& tls) {
  return tls.min_version <= TlsVersion::kTls12;
}

// The GnuTLS algorithms of a configuration: what GnutlsPriority lists and what the suites check
// compares against.
struct Algorithms {
  std::vector<std::string_view> kx, ciphers, macs;
};

Algorithms AlgorithmsOf(const TlsServerConfig& tls) {
  Algorithms a;
  if (tls.cipher_suites.empty()) {
    a.kx.assign(kDefaultKx.begin(), kDefaultKx.end());
    a.ciphers.assign(kDefaultCiphers.begin(), kDefaultCiphers.end());
    a.macs = {"AEAD", "SHA1"};
    return a;
  }
  const bool tls13 = InRange(tls, TlsVersion::kTls13);
  for (const std::string& name : tls.cipher_suites) {
    const Suite* s = FindSuite(name);
    if (s == nullptr) continue;
    if (s->tls13) {
      // Irrelevant without TLS 1.3; with it, its cipher is listed like any other.
      if (!tls13) continue;
    } else {
      if (!AllowsTls12OrBelow(tls)) continue;
      AddOnce(a.kx, s->kx);
    }
    AddOnce(a.ciphers, s->cipher);
    AddOnce(a.macs, s->mac);
  }
  // TLS 1.3 alone still negotiates its groups through GnuTLS's ECDHE key exchanges.
  if (a.kx.empty()) a.kx.assign(kDefaultKx.begin(), kDefaultKx.end());
  if (tls13) AddOnce(a.macs, "AEAD");
  return a;
}

// The TLS 1.2 and older suites GnuTLS enables for `a`: every pairing of a listed key exchange
// with a listed cipher (and its MAC).
std::vector<const Suite*> EnabledLegacySuites(const Algorithms& a) {
  std::vector<const Suite*> out;
  for (const Suite& s : kSuites) {
    if (!s.tls13 && Has(a.kx, s.kx) && Has(a.ciphers, s.cipher) && Has(a.macs, s.mac)) {
      out.push_back(&s);
    }
  }
  return out;
}

// Each check of cipher_suites beyond the names: what GnuTLS can give for the list as a whole.
void CheckCipherSuites(const TlsServerConfig& tls, const ConfigNode& node) {
  if (tls.cipher_suites.empty()) return;
  const Algorithms a = AlgorithmsOf(tls);
  std::vector<std::string> extra;
  bool legacy_listed = false;
  for (const Suite* s : EnabledLegacySuites(a)) {
    if (std::find(tls.cipher_suites.begin(), tls.cipher_suites.end(), s->go_name) ==
        tls.cipher_suites.end()) {
      extra.emplace_back(s->go_name);
    }
  }
  for (const std::string& name : tls.cipher_suites) {
    const Suite* s = FindSuite(name);
    if (s->tls13) continue;
    // AEAD suites need TLS 1.2; CBC ones work from TLS 1.0.
    const bool usable =
        s->mac == "AEAD" ? InRange(tls, TlsVersion::kTls12) : AllowsTls12OrBelow(tls);
    legacy_listed = legacy_listed || usable;
  }
  if (AllowsTls12OrBelow(tls) && !legacy_listed) {
    node.Fail(fmt::format(
        "lists no suite usable with {} (min_version); TLS 1.3 suites do not serve older "
        "versions",
        kVersionNames[static_cast<int>(tls.min_version)]));
  }
  if (!extra.empty()) {
    node.Fail(fmt::format(
        "not supported by this build: GnuTLS enables every pairing of the listed key exchanges "
        "and ciphers, so this list would also enable {}; list {} too",
        fmt::join(extra, ", "), extra.size() == 1 ? "it" : "them"));
  }
  if (InRange(tls, TlsVersion::kTls13)) {
    bool any = false;
    for (const Suite& s : kSuites) any = any || (s.tls13 && Has(a.ciphers, s.cipher));
    if (!any) {
      node.Fail(
          "leaves TLS 1.3 without a suite: GnuTLS uses the ciphers listed here for TLS 1.3 too; "
          "list an AES-GCM or ChaCha20 suite, or set max_version: TLS12");
    }
  }
}

// Whether GnuTLS on this host offers what `tls` asks for: FIPS mode or a system-wide policy can
// take ciphers and groups away. Fails `node` (cipher_suites or curve_preferences) naming the
// first one missing.
void CheckGnutlsOffers(const TlsServerConfig& tls, const ConfigNode& tls_node) {
  const std::string priority = GnutlsPriority(tls);
  gnutls_priority_t cache = nullptr;
  const char* err_pos = nullptr;
  if (int rc = gnutls_priority_init(&cache, priority.c_str(), &err_pos); rc < 0) {
    tls_node.Fail(
        fmt::format("not supported by this build: GnuTLS refuses the priority {:?} at "
                    "{:?}: {}",
                    priority, err_pos ? err_pos : "", gnutls_strerror(rc)));
  }
  const unsigned* ciphers = nullptr;
  const unsigned* groups = nullptr;
  const int n_ciphers = gnutls_priority_cipher_list(cache, &ciphers);
  const int n_groups = gnutls_priority_group_list(cache, &groups);
  // The index in `names` of the first whose GnuTLS id (by `id_of`) the priority lacks, or -1.
  auto first_missing = [](const std::vector<std::string>& names, const unsigned* list, int n,
                          auto id_of) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      const unsigned id = id_of(names[i]);
      if (n <= 0 || std::find(list, list + n, id) == list + n) return static_cast<int>(i);
    }
    return -1;
  };
  const int suite = first_missing(tls.cipher_suites, ciphers, n_ciphers, [](const std::string& n) {
    return static_cast<unsigned>(gnutls_cipher_get_id(std::string(FindSuite(n)->cipher).c_str()));
  });
  const int curve =
      first_missing(tls.curve_preferences, groups, n_groups, [](const std::string& n) {
        return static_cast<unsigned>(gnutls_group_get_id(std::string(FindCurve(n)->group).c_str()));
      });
  gnutls_priority_deinit(cache);
  for (const auto& [key, names, index] :
       {std::tuple{"cipher_suites", &tls.cipher_suites, suite},
        std::tuple{"curve_preferences", &tls.curve_preferences, curve}}) {
    if (index < 0) continue;
    tls_node.Child(key).Items()[static_cast<std::size_t>(index)].Fail(fmt::format(
        "not supported by this build: GnuTLS on this host does not offer {} (FIPS mode or the "
        "system's crypto policy disables it)",
        (*names)[static_cast<std::size_t>(index)]));
  }
}

TlsVersion ReadVersion(const ConfigNode& node) {
  const std::string s = node.AsString();
  for (std::size_t i = 0; i < kVersionNames.size(); ++i) {
    if (kVersionNames[i] == s) return static_cast<TlsVersion>(i);
  }
  node.Fail(fmt::format("unknown TLS version {:?}; expected one of: {}", s,
                        fmt::join(kVersionNames, ", ")));
}

// A list of unique names, each checked by `check` (which fails the item's node).
template <typename Check>
std::vector<std::string> ReadNameList(const ConfigNode& node, Check check) {
  std::vector<std::string> out;
  for (const ConfigNode& item : node.Items()) {
    std::string name = item.AsString();
    check(item, name);
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      item.Fail(fmt::format("{:?} is listed twice", name));
    }
    out.push_back(std::move(name));
  }
  if (out.empty()) node.Fail("expected at least one entry; leave the key out for the defaults");
  return out;
}

std::vector<std::string_view> SuiteNames() {
  std::vector<std::string_view> out;
  for (const Suite& s : kSuites) out.push_back(s.go_name);
  return out;
}

std::vector<std::string_view> CurveNames() {
  std::vector<std::string_view> out;
  for (const Curve& c : kCurves) out.push_back(c.go_name);
  return out;
}

// Toolkit keys this build refuses, with what to do instead.
void RefuseUnsupported(const ConfigNode& node, std::string_view key, std::string_view why) {
  if (auto n = node.Find(key)) n->Fail(fmt::format("not supported by this build: {}", why));
}

TlsServerConfig ReadTls(const ConfigNode& node) {
  if (!node.IsMap()) node.Fail("expected a mapping with at least cert_file and key_file");
  RefuseUnsupported(node, "cert",
                    "a certificate inline; put it in a file named by cert_file, which is re-read "
                    "when it changes");
  RefuseUnsupported(node, "key",
                    "a private key inline (secrets come from files); put it in a file named by "
                    "key_file, mode 0600");
  RefuseUnsupported(node, "client_ca",
                    "client CAs inline; put them in a file named by client_ca_file");
  TlsServerConfig tls;
  ConfigNode cert = node.Child("cert_file");
  ConfigNode key = node.Child("key_file");
  tls.cert_file = cert.AsPath().string();
  tls.key_file = key.AsPath().string();

  std::optional<ConfigNode> auth = node.Find("client_auth_type");
  if (auth) {
    const std::string name = auth->AsString();
    auto it = std::find_if(kClientAuthNames.begin(), kClientAuthNames.end(),
                           [&](const AuthName& a) { return a.name == name; });
    if (it == kClientAuthNames.end()) {
      auth->Fail(fmt::format(
          "unknown client_auth_type {:?}; expected one of: NoClientCert, RequestClientCert, "
          "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
          name));
    }
    tls.client_auth = it->auth;
  }
  std::optional<ConfigNode> ca = node.Find("client_ca_file");
  if (ca) {
    tls.client_ca_file = ca->AsPath().string();
    if (!RequestsClientCert(tls.client_auth)) {
      ca->Fail(
          "client_ca_file is set but client_auth_type is NoClientCert, so no client certificate "
          "is asked for; set client_auth_type: RequireAndVerifyClientCert");
    }
  }
  if (VerifiesClientCert(tls.client_auth) && !ca) {
    auth->Fail(
        fmt::format("{} needs client_ca_file, the CAs client certificates are verified "
                    "against",
                    ClientAuthName(tls.client_auth)));
  }
  if (auto sans = node.Find("client_allowed_sans")) {
    tls.client_allowed_sans = ReadNameList(*sans, [](const ConfigNode& item, const std::string& s) {
      if (s.empty() || std::any_of(s.begin(), s.end(), IsControl)) {
        item.Fail("expected a SAN (DNS name, IP address, e-mail address or URI)");
      }
    });
    if (!VerifiesClientCert(tls.client_auth)) {
      sans->Fail(fmt::format(
          "needs client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven), not "
          "{}: the SANs of a certificate nobody verified prove nothing",
          ClientAuthName(tls.client_auth)));
    }
  }
  std::optional<ConfigNode> min = node.Find("min_version");
  if (min) tls.min_version = ReadVersion(*min);
  if (auto max = node.Find("max_version")) tls.max_version = ReadVersion(*max);
  if (tls.min_version > tls.max_version) {
    (min ? *min : node)
        .Fail(fmt::format("min_version {} is above max_version {}",
                          kVersionNames[static_cast<int>(tls.min_version)],
                          kVersionNames[static_cast<int>(tls.max_version)]));
  }
  std::optional<ConfigNode> suites = node.Find("cipher_suites");
  if (suites) {
    tls.cipher_suites = ReadNameList(*suites, [](const ConfigNode& item, const std::string& s) {
      if (FindSuite(s) != nullptr) return;
      if (std::find(kInsecureSuites.begin(), kInsecureSuites.end(), s) != kInsecureSuites.end()) {
        item.Fail(
            fmt::format("{} is one of Go's insecure cipher suites, which the web "
                        "configuration does not accept",
                        s));
      }
      item.Fail(fmt::format("unknown cipher suite {:?}; expected one of: {}", s,
                            fmt::join(SuiteNames(), ", ")));
    });
  }
  if (auto curves = node.Find("curve_preferences")) {
    tls.curve_preferences = ReadNameList(*curves, [](const ConfigNode& item, const std::string& s) {
      if (FindCurve(s) == nullptr) {
        item.Fail(fmt::format("unknown curve {:?}; expected one of: {}", s,
                              fmt::join(CurveNames(), ", ")));
      }
    });
  }
  tls.prefer_server_cipher_suites = node.GetBool("prefer_server_cipher_suites", true);
  if (suites) CheckCipherSuites(tls, *suites);
  CheckGnutlsOffers(tls, node);

  // The files last: the settings' own mistakes first, whatever the files hold.
  Result<std::shared_ptr<const CertKeyPair>> pair = LoadCertKeyPair(tls.cert_file, tls.key_file);
  if (!pair.ok()) {
    const std::string& m = pair.error().message;
    (m.starts_with("cert_file") ? cert : key).Fail(m);
  }
  if (ca) {
    if (Result<std::string> pem = LoadClientCa(tls.client_ca_file); !pem.ok()) {
      ca->Fail(pem.error().message);
    }
  }
  return tls;
}

std::vector<std::pair<std::string, std::string>> ReadHeaders(const ConfigNode& node) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value_node] : node.Entries()) {
    auto rule = std::find_if(HeaderRules().begin(), HeaderRules().end(),
                             [&name = name](const HeaderRule& r) { return r.name == name; });
    if (rule == HeaderRules().end()) {
      std::vector<std::string_view> names;
      for (const HeaderRule& r : HeaderRules()) names.push_back(r.name);
      value_node.Fail(fmt::format("HTTP header {:?} cannot be configured; expected one of: {}",
                                  name, fmt::join(names, ", ")));
    }
    std::string value = value_node.IsNull() ? std::string() : value_node.AsString();
    if (std::any_of(value.begin(), value.end(), IsControl)) {
      value_node.Fail("expected a header value without control characters");
    }
    if (value.empty()) continue;  // "Unset if blank"
    if (!rule->values.empty() && !Has(rule->values, value)) {
      value_node.Fail(
          fmt::format("expected one of: {}, got {:?}", fmt::join(rule->values, ", "), value));
    }
    out.emplace_back(name, std::move(value));
  }
  return out;
}

// Whether `hash` is a bcrypt hash as htpasswd -B and mkpasswd -m bcrypt write it:
// $2a$, $2b$ or $2y$, a two-digit cost from 04 to 31, then 53 characters of bcrypt's base64.
bool IsBcryptHash(std::string_view hash) {
  if (hash.size() != 60 || !hash.starts_with("$2") || hash[3] != '$' || hash[6] != '$') {
    return false;
  }
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') return false;
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(hash.begin() + 7, hash.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  });
}

std::map<std::string, std::string> ReadUsers(const ConfigNode& node) {
  std::map<std::string, std::string> users;
  for (const auto& [user, hash_node] : node.Entries()) {
    if (user.empty() || std::any_of(user.begin(), user.end(), IsControl) ||
        user.find(':') != std::string::npos) {
      hash_node.Fail(fmt::format(
          "user name {:?} cannot log in: basic auth takes a name without ':' or control "
          "characters",
          user));
    }
    std::string hash = hash_node.AsString();
    if (!IsBcryptHash(hash)) {
      // Never the value itself: it may be a password pasted by mistake.
      hash_node.Fail(
          "expected a bcrypt hash ($2y$10$ and 53 more characters), as `htpasswd -nBC 10 \"\" "
          "| tr -d ':\\n'` prints it");
    }
    if (crypt_checksalt(hash.c_str()) == CRYPT_SALT_METHOD_DISABLED) {
      hash_node.Fail("not supported by this build: libxcrypt here has bcrypt disabled");
    }
    users.emplace(user, std::move(hash));
  }
  return users;
}

WebConfig ReadWebConfig(const ConfigNode& root, const std::string& file) {
  WebConfig config;
  config.file = file;
  if (!root.IsMap()) root.Fail("expected a mapping at the top level");
  RefuseUnsupported(root, "rate_limit",
                    "rate limiting; bound clients with the exporter's own connection limits");
  RefuseUnsupported(root, "auth_excluded_paths",
                    "paths excepted from authentication; every path takes the same credentials");
  if (auto tls = root.Find("tls_server_config")) config.tls = ReadTls(*tls);
  if (auto http = root.Find("http_server_config")) {
    if (!http->IsMap()) http->Fail("expected a mapping");
    if (auto http2 = http->Find("http2"); http2 && http2->AsBool()) {
      http2->Fail("not supported by this build: HTTP/2; set http2: false (HTTP/1.1 is served)");
    }
    if (auto headers = http->Find("headers")) config.headers = ReadHeaders(*headers);
  }
  if (auto users = root.Find("basic_auth_users")) config.basic_auth_users = ReadUsers(*users);
  root.Finish();
  return config;
}

// Reads a whole file of at most `max_bytes`, with errors "<what> <path>: <reason>".
Result<std::string> ReadNamed(std::string_view what, const std::string& path,
                              std::size_t max_bytes) {
  Result<std::string> text = ReadRegularFile(path, max_bytes);
  if (text.ok()) return text;
  Error e = text.error();
  e.message = fmt::format("{} {}: {}", what, path, e.message);
  return e;
}

gnutls_datum_t Datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
          static_cast<unsigned>(s.size())};
}

// How many PEM certificates `pem` holds (an error when none parses).
Result<unsigned> CountCertificates(const std::string& pem) {
  gnutls_x509_crt_t* certs = nullptr;
  unsigned n = 0;
  const gnutls_datum_t data = Datum(pem);
  const int rc = gnutls_x509_crt_list_import2(&certs, &n, &data, GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0) return Err("no PEM certificate ({})", gnutls_strerror(rc));
  for (unsigned i = 0; i < n; ++i) gnutls_x509_crt_deinit(certs[i]);
  gnutls_free(certs);
  if (n == 0) return Err("no PEM certificate");
  return n;
}

}  // namespace

std::string_view ClientAuthName(ClientAuth auth) {
  for (const AuthName& a : kClientAuthNames) {
    if (a.auth == auth) return a.name;
  }
  return "?";
}

bool RequestsClientCert(ClientAuth auth) { return auth != ClientAuth::kNoClientCert; }
bool RequiresClientCert(ClientAuth auth) {
  return auth == ClientAuth::kRequireAnyClientCert ||
         auth == ClientAuth::kRequireAndVerifyClientCert;
}
bool VerifiesClientCert(ClientAuth auth) {
  return auth == ClientAuth::kVerifyClientCertIfGiven ||
         auth == ClientAuth::kRequireAndVerifyClientCert;
}

WebConfig LoadWebConfig(const std::string& file) {
  return ReadWebConfig(ConfigNode::Load(file), file);
}

WebConfig ParseWebConfig(std::string_view text, const std::string& file) {
  return ReadWebConfig(ConfigNode::Parse(text, file), file);
}

std::vector<std::string> WebConfigWarnings(const WebConfig& config) {
  std::vector<std::string> out;
  if (!config.tls && config.basic_auth_users.empty()) {
    out.push_back("configures neither TLS nor basic auth: the exporter serves plain HTTP to all");
  }
  if (!config.tls && !config.basic_auth_users.empty()) {
    out.push_back(
        "basic_auth_users without tls_server_config: passwords cross the network in clear text");
  }
  if (config.tls && RequestsClientCert(config.tls->client_auth) &&
      !VerifiesClientCert(config.tls->client_auth)) {
    out.push_back(fmt::format(
        "client_auth_type {} does not verify client certificates: any certificate is accepted; "
        "RequireAndVerifyClientCert authenticates clients",
        ClientAuthName(config.tls->client_auth)));
  }
  return out;
}

std::string GnutlsPriority(const TlsServerConfig& tls) {
  std::string p = "NORMAL:-VERS-ALL";
  for (int v = static_cast<int>(tls.max_version); v >= static_cast<int>(tls.min_version); --v) {
    p += fmt::format(":+{}", kGnutlsVersions[static_cast<std::size_t>(v)]);
  }
  const Algorithms a = AlgorithmsOf(tls);
  p += ":-KX-ALL";
  for (std::string_view kx : a.kx) p += fmt::format(":+{}", kx);
  p += ":-CIPHER-ALL";
  for (std::string_view c : a.ciphers) p += fmt::format(":+{}", c);
  p += ":-MAC-ALL";
  for (std::string_view m : a.macs) p += fmt::format(":+{}", m);
  p += ":-GROUP-ALL";
  if (tls.curve_preferences.empty()) {
    for (const Curve& c : kCurves) p += fmt::format(":+GROUP-{}", c.group);
  } else {
    for (const std::string& name : tls.curve_preferences) {
      p += fmt::format(":+GROUP-{}", FindCurve(name)->group);
    }
  }
  if (tls.prefer_server_cipher_suites) p += ":%SERVER_PRECEDENCE";
  return p;
}

CertKeyPair::CertKeyPair(std::string cert_pem, std::string key_pem)
    : cert_pem_(std::move(cert_pem)), key_pem_(std::move(key_pem)) {
  Sha256 h;
  h.Update(cert_pem_);
  h.Update(std::string_view("\0", 1));  // the boundary, so that moving bytes across it shows
  h.Update(key_pem_);
  digest_ = h.Finish();
}

CertKeyPair::~CertKeyPair() { WipeSecret(key_pem_); }

Result<std::shared_ptr<const CertKeyPair>> LoadCertKeyPair(const std::string& cert_file,
                                                           const std::string& key_file) {
  Result<std::string> cert = ReadNamed("cert_file", cert_file, kMaxPemBytes);
  if (!cert.ok()) return cert.error();
  if (Result<unsigned> n = CountCertificates(*cert); !n.ok()) {
    return Err("cert_file {}: {}", cert_file, n.error().message);
  }
  Result<std::string> key_text = ReadSecretFile(key_file, {.what = "key_file"});
  if (!key_text.ok()) return key_text.error();
  auto pair = std::make_shared<const CertKeyPair>(std::move(*cert), std::move(*key_text));
  WipeSecret(*key_text);  // moved from; whatever is left of it

  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_privkey_init(&key);
  const gnutls_datum_t key_data = Datum(pair->key_pem());
  int rc = gnutls_x509_privkey_import2(key, &key_data, GNUTLS_X509_FMT_PEM, nullptr, 0);
  gnutls_x509_privkey_deinit(key);
  if (rc < 0) {
    return Err("key_file {}: not a PEM private key without a password ({})", key_file,
               gnutls_strerror(rc));
  }
  gnutls_certificate_credentials_t cred = nullptr;
  if (gnutls_certificate_allocate_credentials(&cred) < 0) return Err("out of memory");
  const gnutls_datum_t cert_data = Datum(pair->cert_pem());
  rc = gnutls_certificate_set_x509_key_mem2(cred, &cert_data, &key_data, GNUTLS_X509_FMT_PEM,
                                            nullptr, 0);
  gnutls_certificate_free_credentials(cred);
  if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
    return Err("key_file {} does not match the certificate in cert_file {}", key_file, cert_file);
  }
  if (rc < 0) {
    return Err("key_file {}: cannot be used with cert_file {}: {}", key_file, cert_file,
               gnutls_strerror(rc));
  }
  return pair;
}

Result<std::string> LoadClientCa(const std::string& path) {
  Result<std::string> pem = ReadNamed("client_ca_file", path, kMaxPemBytes);
  if (!pem.ok()) return pem;
  if (Result<unsigned> n = CountCertificates(*pem); !n.ok()) {
    return Err("client_ca_file {}: {}", path, n.error().message);
  }
  return pem;
}

}  // namespace drift::exporter
