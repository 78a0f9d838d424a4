#include "exporter/web_config.h"

#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "common/config_node.h"
#include "tests/support/temp_dir.h"

namespace drift::exporter {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(DRIFT_FIXTURES_DIR);
const std::string kBadWeb = kFixtures + "/configs/bad/web/";

// A folder with the web fixtures' certificates and keys, keys private to their owner (git checks
// them out 0644), plus open_key.pem readable by others and garbage_key.pem that is no key.
class WebFiles {
 public:
  WebFiles() {
    for (const auto& entry : fs::directory_iterator(kFixtures + "/web")) {
      fs::copy_file(entry.path(), dir_.path() / entry.path().filename());
    }
    fs::copy_file(dir_.path() / "key.pem", dir_.path() / "open_key.pem");
    std::ofstream(dir_.path() / "garbage_key.pem") << "-----BEGIN PRIVATE KEY-----\nAAAA\n";
    for (const char* key : {"key.pem", "other_key.pem", "garbage_key.pem"}) {
      ::chmod((dir_.path() / key).c_str(), 0600);
    }
    ::chmod((dir_.path() / "open_key.pem").c_str(), 0644);
  }
  std::string dir() const { return dir_.root(); }
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

 private:
  testing::TempDir dir_;
};

struct BadWebConfig {
  std::string file;      // under configs/bad/web/
  std::string expected;  // "<bad>" stands for the folder the file is read from
};

void PrintTo(const BadWebConfig& c, std::ostream* os) { *os << c.file; }

// One row per rule: the exact message a user sees.
const std::vector<BadWebConfig> kBadWebConfigs = {
    // Strict YAML, as in the main configuration.
    {"unknown_key_top.yml",
     "<bad>unknown_key_top.yml:1:1: tls_server_confg: unknown key; expected one of: "
     "auth_excluded_paths, basic_auth_users, http_server_config, rate_limit, tls_server_config"},
    {"unknown_key_tls.yml",
     "<bad>unknown_key_tls.yml:4:3: tls_server_config.client_auth: unknown key; expected one of: "
     "cert, cert_file, cipher_suites, client_allowed_sans, client_auth_type, client_ca, "
     "client_ca_file, curve_preferences, key, key_file, max_version, min_version, "
     "prefer_server_cipher_suites"},
    {"duplicate_user.yml",
     "<bad>duplicate_user.yml:3:3: basic_auth_users.alice: duplicate key; first defined at line "
     "2"},
    {"wrong_type_bool.yml",
     "<bad>wrong_type_bool.yml:4:32: tls_server_config.prefer_server_cipher_suites: expected true "
     "or false, got \"yes\""},
    {"users_not_a_map.yml",
     "<bad>users_not_a_map.yml:2:3: basic_auth_users: expected a mapping, got a list"},
    {"top_level_list.yml", "<bad>top_level_list.yml:1:1: expected a mapping at the top level"},
    // Stricter than the toolkit, which serves plain HTTP for an empty file: a web configuration
    // given is meant to configure something.
    {"empty.yml", "<bad>empty.yml:1:1: empty configuration; expected a mapping"},
    {"tls_not_a_map.yml",
     "<bad>tls_not_a_map.yml:1:20: tls_server_config: expected a mapping with at least cert_file "
     "and key_file"},
    // Toolkit keys and values this build does not support.
    {"rate_limit.yml",
     "<bad>rate_limit.yml:2:3: rate_limit: not supported by this build: rate limiting; bound "
     "clients with the exporter's own connection limits"},
    {"inline_key.yml",
     "<bad>inline_key.yml:3:8: tls_server_config.key: not supported by this build: a private key "
     "inline (secrets come from files); put it in a file named by key_file, mode 0600"},
    {"inline_cert.yml",
     "<bad>inline_cert.yml:2:9: tls_server_config.cert: not supported by this build: a "
     "certificate inline; put it in a file named by cert_file, which is re-read when it changes"},
    {"http2_true.yml",
     "<bad>http2_true.yml:2:10: http_server_config.http2: not supported by this build: HTTP/2; "
     "set http2: false (HTTP/1.1 is served)"},
    // Certificate, key and client authentication rules.
    {"cert_without_key.yml",
     "<bad>cert_without_key.yml:2:3: tls_server_config.key_file: required key missing"},
    {"key_without_cert.yml",
     "<bad>key_without_cert.yml:2:3: tls_server_config.cert_file: required key missing"},
    {"client_ca_without_auth.yml",
     "<bad>client_ca_without_auth.yml:4:19: tls_server_config.client_ca_file: client_ca_file is "
     "set but client_auth_type is NoClientCert, so no client certificate is asked for; set "
     "client_auth_type: RequireAndVerifyClientCert"},
    {"verify_without_ca.yml",
     "<bad>verify_without_ca.yml:4:21: tls_server_config.client_auth_type: "
     "RequireAndVerifyClientCert needs client_ca_file, the CAs client certificates are verified "
     "against"},
    {"verify_if_given_without_ca.yml",
     "<bad>verify_if_given_without_ca.yml:4:21: tls_server_config.client_auth_type: "
     "VerifyClientCertIfGiven needs client_ca_file, the CAs client certificates are verified "
     "against"},
    {"sans_without_verify.yml",
     "<bad>sans_without_verify.yml:6:24: tls_server_config.client_allowed_sans: needs "
     "client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven), not "
     "RequireAnyClientCert: the SANs of a certificate nobody verified prove nothing"},
    {"sans_empty.yml",
     "<bad>sans_empty.yml:6:24: tls_server_config.client_allowed_sans: expected at least one "
     "entry; leave the key out for the defaults"},
    {"bad_client_auth.yml",
     "<bad>bad_client_auth.yml:4:21: tls_server_config.client_auth_type: unknown "
     "client_auth_type \"RequireAndVerify\"; expected one of: NoClientCert, RequestClientCert, "
     "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"},
    // Versions, cipher suites, curves.
    {"bad_min_version.yml",
     "<bad>bad_min_version.yml:4:16: tls_server_config.min_version: unknown TLS version "
     "\"TLS14\"; expected one of: TLS10, TLS11, TLS12, TLS13"},
    {"min_above_max.yml",
     "<bad>min_above_max.yml:4:16: tls_server_config.min_version: min_version TLS13 is above "
     "max_version TLS12"},
    {"unknown_cipher.yml",
     "<bad>unknown_cipher.yml:4:58: tls_server_config.cipher_suites[1]: unknown cipher suite "
     "\"ECDHE-RSA-AES128-GCM-SHA256\"; expected one of: TLS_AES_128_GCM_SHA256, "
     "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "
     "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "
     "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "
     "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "
     "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "
     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {"insecure_cipher.yml",
     "<bad>insecure_cipher.yml:4:19: tls_server_config.cipher_suites[0]: "
     "TLS_RSA_WITH_AES_128_GCM_SHA256 is one of Go's insecure cipher suites, which the web "
     "configuration does not accept"},
    {"duplicate_cipher.yml",
     "<bad>duplicate_cipher.yml:6:7: tls_server_config.cipher_suites[1]: "
     "\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\" is listed twice"},
    {"cipher_empty.yml",
     "<bad>cipher_empty.yml:4:18: tls_server_config.cipher_suites: expected at least one entry; "
     "leave the key out for the defaults"},
    {"cipher_pairing.yml",
     "<bad>cipher_pairing.yml:5:5: tls_server_config.cipher_suites: not supported by this build: "
     "GnuTLS enables every pairing of the listed key exchanges and ciphers, so this list would "
     "also enable TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384; "
     "list them too"},
    {"cipher_tls13_only.yml",
     "<bad>cipher_tls13_only.yml:4:18: tls_server_config.cipher_suites: lists no suite usable "
     "with TLS12 (min_version); TLS 1.3 suites do not serve older versions"},
    {"cipher_no_tls13.yml",
     "<bad>cipher_no_tls13.yml:4:18: tls_server_config.cipher_suites: leaves TLS 1.3 without a "
     "suite: GnuTLS uses the ciphers listed here for TLS 1.3 too; list an AES-GCM or ChaCha20 "
     "suite, or set max_version: TLS12"},
    {"unknown_curve.yml",
     "<bad>unknown_curve.yml:4:31: tls_server_config.curve_preferences[1]: unknown curve "
     "\"P-256\"; expected one of: X25519, CurveP256, CurveP384, CurveP521"},
    // Headers, as the toolkit allows them.
    {"bad_header.yml",
     "<bad>bad_header.yml:3:19: http_server_config.headers.X-Powered-By: HTTP header "
     "\"X-Powered-By\" cannot be configured; expected one of: Content-Security-Policy, "
     "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection"},
    {"bad_header_value.yml",
     "<bad>bad_header_value.yml:3:22: http_server_config.headers.X-Frame-Options: expected one "
     "of: deny, sameorigin, got \"allow-from\""},
    {"header_newline.yml",
     "<bad>header_newline.yml:3:30: http_server_config.headers.Content-Security-Policy: expected "
     "a header value without control characters"},
    // Users and their bcrypt hashes, checked at load rather than at the first request.
    {"bad_bcrypt.yml",
     "<bad>bad_bcrypt.yml:2:10: basic_auth_users.alice: expected a bcrypt hash ($2y$10$ and 53 "
     "more characters), as `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints it"},
    {"bad_bcrypt_plaintext.yml",
     "<bad>bad_bcrypt_plaintext.yml:2:10: basic_auth_users.alice: expected a bcrypt hash "
     "($2y$10$ and 53 more characters), as `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints it"},
    {"bad_bcrypt_cost.yml",
     "<bad>bad_bcrypt_cost.yml:2:10: basic_auth_users.alice: expected a bcrypt hash ($2y$10$ "
     "and 53 more characters), as `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints it"},
    {"user_with_colon.yml",
     "<bad>user_with_colon.yml:2:18: basic_auth_users.alice:admin: user name \"alice:admin\" "
     "cannot log in: basic auth takes a name without ':' or control characters"},
    // The files, read at load; each message names the file at fault.
    {"missing_cert_file.yml",
     "<bad>missing_cert_file.yml:2:14: tls_server_config.cert_file: cert_file <bad>none.pem: No "
     "such file or directory"},
    {"cert_not_pem.yml",
     "<bad>cert_not_pem.yml:2:14: tls_server_config.cert_file: cert_file <bad>key.pem: no PEM "
     "certificate (No certificate was found.)"},
    {"key_not_pem.yml",
     "<bad>key_not_pem.yml:3:13: tls_server_config.key_file: key_file <bad>garbage_key.pem: not "
     "a PEM private key without a password (Base64 decoding error.)"},
    {"key_mismatch.yml",
     "<bad>key_mismatch.yml:3:13: tls_server_config.key_file: key_file <bad>other_key.pem does "
     "not match the certificate in cert_file <bad>cert.pem"},
    {"key_readable.yml",
     "<bad>key_readable.yml:3:13: tls_server_config.key_file: key_file <bad>open_key.pem is "
     "readable by its group or others (mode 0644); run `chmod 600 <bad>open_key.pem`"},
    {"client_ca_not_pem.yml",
     "<bad>client_ca_not_pem.yml:5:19: tls_server_config.client_ca_file: client_ca_file "
     "<bad>key.pem: no PEM certificate (No certificate was found.)"},
};

std::string Replace(std::string text, const std::string& marker, const std::string& with) {
  for (std::size_t pos = text.find(marker); pos != std::string::npos;
       pos = text.find(marker, pos + with.size())) {
    text.replace(pos, marker.size(), with);
  }
  return text;
}

class LoadBadWebConfig : public ::testing::TestWithParam<BadWebConfig> {};

// Each fixture is read from a folder that also holds the certificates and keys it names.
TEST_P(LoadBadWebConfig, FailsWithExactMessage) {
  const BadWebConfig& c = GetParam();
  WebFiles files;
  fs::copy_file(kBadWeb + c.file, files.Path(c.file));
  std::string got;
  try {
    LoadWebConfig(files.Path(c.file));
    got = "no error";
  } catch (const ConfigError& e) {
    got = e.what();
  }
  EXPECT_EQ(got, Replace(c.expected, "<bad>", files.dir() + "/"));
}

std::string FixtureName(const ::testing::TestParamInfo<BadWebConfig>& param_info) {
  return param_info.param.file.substr(0, param_info.param.file.find('.'));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoadBadWebConfig, ::testing::ValuesIn(kBadWebConfigs),
                         FixtureName);

TEST(LoadBadWebConfigTable, CoversEveryFixture) {
  std::set<std::string> in_table;
  for (const BadWebConfig& c : kBadWebConfigs) in_table.insert(c.file);
  for (const auto& entry : fs::directory_iterator(kBadWeb)) {
    EXPECT_TRUE(in_table.contains(entry.path().filename().string()))
        << entry.path() << " has no row in kBadWebConfigs";
  }
}

TEST(WebConfig, HeadersAloneArePlainHttpWithAWarning) {
  WebConfig c = ParseWebConfig("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n",
                               "/etc/drift/web.yml");
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.headers,
            (std::vector<std::pair<std::string, std::string>>{{"X-Frame-Options", "sameorigin"}}));
  EXPECT_TRUE(c.basic_auth_users.empty());
  EXPECT_EQ(WebConfigWarnings(c),
            std::vector<std::string>{
                "configures neither TLS nor basic auth: the exporter serves plain HTTP to all"});
}

TEST(WebConfig, TlsDefaultsAreTheToolkits) {
  WebFiles files;
  WebConfig c = ParseWebConfig("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
                               files.Path("web.yml"));
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->cert_file, files.Path("cert.pem"));
  EXPECT_EQ(c.tls->key_file, files.Path("key.pem"));
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(c.tls->min_version, TlsVersion::kTls12);
  EXPECT_EQ(c.tls->max_version, TlsVersion::kTls13);
  EXPECT_TRUE(c.tls->prefer_server_cipher_suites);
  EXPECT_TRUE(c.tls->cipher_suites.empty());
  EXPECT_TRUE(c.tls->curve_preferences.empty());
  EXPECT_TRUE(WebConfigWarnings(c).empty());
}

// The file node_exporter users have: every key this build supports at once.
TEST(WebConfig, ReadsAFullToolkitFile) {
  WebFiles files;
  WebConfig c = ParseWebConfig(R"(tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  client_allowed_sans: [prometheus.example.com, 10.0.0.5]
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  curve_preferences: [CurveP384, X25519]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: ""
basic_auth_users:
  alice: $2y$10$gU2wP8HoMGLCG5y9K9FLve.X7KE/UVOPDW.P9eeL0aXqWQdF9T7..
  bob: $2b$10$MX/VmS.hdlHS5m3WwzLWd.vTfTsAdqzrMK37gcyOnevoVSK1BwJva
)",
                               files.Path("web.yml"));
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c.tls->client_ca_file, files.Path("ca.pem"));
  EXPECT_EQ(c.tls->client_allowed_sans,
            (std::vector<std::string>{"prometheus.example.com", "10.0.0.5"}));
  EXPECT_EQ(c.tls->cipher_suites.size(), 2u);
  EXPECT_EQ(c.tls->curve_preferences, (std::vector<std::string>{"CurveP384", "X25519"}));
  EXPECT_FALSE(c.tls->prefer_server_cipher_suites);
  EXPECT_EQ(c.headers, (std::vector<std::pair<std::string, std::string>>{
                           {"X-Frame-Options", "deny"},
                           {"X-Content-Type-Options", "nosniff"},
                           {"Strict-Transport-Security", "max-age=31536000"}}));
  EXPECT_EQ(c.basic_auth_users.size(), 2u);
  EXPECT_EQ(c.basic_auth_users.at("alice"),
            "$2y$10$gU2wP8HoMGLCG5y9K9FLve.X7KE/UVOPDW.P9eeL0aXqWQdF9T7..");
  EXPECT_EQ(GnutlsPriority(*c.tls),
            "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:"
            "+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-SECP384R1:+GROUP-X25519");
}

TEST(WebConfig, RequireClientCertIsTheToolkitsOlderName) {
  WebFiles files;
  WebConfig c = ParseWebConfig(
      "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
      "  client_auth_type: RequireClientCert\n",
      files.Path("web.yml"));
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kRequireAnyClientCert);
  EXPECT_EQ(WebConfigWarnings(c),
            std::vector<std::string>{
                "client_auth_type RequireAnyClientCert does not verify client certificates: any "
                "certificate is accepted; RequireAndVerifyClientCert authenticates clients"});
}

TEST(WebConfig, BasicAuthWithoutTlsIsWarnedAbout) {
  WebConfig c = ParseWebConfig(
      "basic_auth_users:\n  alice: $2y$10$gU2wP8HoMGLCG5y9K9FLve.X7KE/UVOPDW.P9eeL0aXqWQdF9T7..\n",
      "/etc/drift/web.yml");
  EXPECT_EQ(WebConfigWarnings(c),
            std::vector<std::string>{"basic_auth_users without tls_server_config: passwords "
                                     "cross the network in clear text"});
}

TEST(ClientAuthModes, AskRequireAndVerifyAsGoDoes) {
  EXPECT_FALSE(RequestsClientCert(ClientAuth::kNoClientCert));
  EXPECT_TRUE(RequestsClientCert(ClientAuth::kRequestClientCert));
  EXPECT_FALSE(RequiresClientCert(ClientAuth::kRequestClientCert));
  EXPECT_FALSE(VerifiesClientCert(ClientAuth::kRequestClientCert));
  EXPECT_TRUE(RequiresClientCert(ClientAuth::kRequireAnyClientCert));
  EXPECT_FALSE(VerifiesClientCert(ClientAuth::kRequireAnyClientCert));
  EXPECT_FALSE(RequiresClientCert(ClientAuth::kVerifyClientCertIfGiven));
  EXPECT_TRUE(VerifiesClientCert(ClientAuth::kVerifyClientCertIfGiven));
  EXPECT_TRUE(RequiresClientCert(ClientAuth::kRequireAndVerifyClientCert));
  EXPECT_TRUE(VerifiesClientCert(ClientAuth::kRequireAndVerifyClientCert));
}

// The cipher suites GnuTLS enables for `priority`, by IANA number.
std::set<unsigned> SuitesOf(const std::string& priority) {
  gnutls_priority_t cache = nullptr;
  const char* err_pos = nullptr;
  EXPECT_EQ(gnutls_priority_init(&cache, priority.c_str(), &err_pos), 0)
      << priority << " refused at " << (err_pos ? err_pos : "");
  std::set<unsigned> out;
  if (cache == nullptr) return out;
  for (unsigned i = 0;; ++i) {
    unsigned index = 0;
    const int rc = gnutls_priority_get_cipher_suite_index(cache, i, &index);
    if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (rc != 0) continue;
    unsigned char id[2];
    gnutls_cipher_suite_info(index, id, nullptr, nullptr, nullptr, nullptr);
    out.insert(static_cast<unsigned>(id[0] << 8 | id[1]));
  }
  gnutls_priority_deinit(cache);
  return out;
}

struct PriorityCase {
  std::string name;
  TlsServerConfig tls;
  std::string priority;
  std::set<unsigned> suites;  // IANA numbers GnuTLS must enable, exactly
};

std::vector<PriorityCase> PriorityCases() {
  TlsServerConfig defaults;
  TlsServerConfig tls12_only;
  tls12_only.max_version = TlsVersion::kTls12;
  tls12_only.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                              "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"};
  TlsServerConfig tls13_only;
  tls13_only.min_version = TlsVersion::kTls13;
  tls13_only.cipher_suites = {"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"};
  tls13_only.curve_preferences = {"X25519"};
  TlsServerConfig legacy;
  legacy.min_version = TlsVersion::kTls10;
  legacy.max_version = TlsVersion::kTls12;
  legacy.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"};
  legacy.prefer_server_cipher_suites = false;
  return {
      {"defaults",
       defaults,
       "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"
       "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+AEAD:"
       "+SHA1:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
       "%SERVER_PRECEDENCE",
       // Go's CipherSuites(), all 13.
       {0x1301, 0x1302, 0x1303, 0xC009, 0xC00A, 0xC013, 0xC014, 0xC02B, 0xC02C, 0xC02F, 0xC030,
        0xCCA8, 0xCCA9}},
      {"tls12_only",
       tls12_only,
       "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
       "-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
       "+GROUP-SECP521R1:%SERVER_PRECEDENCE",
       {0xC02F, 0xC030}},
      {"tls13_only",
       tls13_only,
       "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"
       "+CHACHA20-POLY1305:+AES-256-GCM:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:"
       "%SERVER_PRECEDENCE",
       {0x1302, 0x1303}},
      {"legacy",
       legacy,
       "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:"
       "+AES-128-CBC:-MAC-ALL:+SHA1:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
       "+GROUP-SECP521R1",
       {0xC013}},
  };
}

// Each string is checked with literals, then by GnuTLS itself: it must parse, and enable exactly
// the suites asked for (the product rule of CheckCipherSuites holds in GnuTLS).
TEST(GnutlsPriority, MapsVersionsSuitesAndCurves) {
  for (const PriorityCase& c : PriorityCases()) {
    SCOPED_TRACE(c.name);
    const std::string priority = GnutlsPriority(c.tls);
    EXPECT_EQ(priority, c.priority);
    EXPECT_EQ(SuitesOf(priority), c.suites);
  }
}

TEST(CertKeyPair, LoadsAMatchingPairAndTellsAChange) {
  WebFiles files;
  Result<std::shared_ptr<const CertKeyPair>> pair =
      LoadCertKeyPair(files.Path("cert.pem"), files.Path("key.pem"));
  ASSERT_TRUE(pair.ok()) << pair.error().message;
  EXPECT_TRUE((*pair)->cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_NE((*pair)->key_pem().find("PRIVATE KEY-----"), std::string::npos);
  Result<std::shared_ptr<const CertKeyPair>> again =
      LoadCertKeyPair(files.Path("cert.pem"), files.Path("key.pem"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*pair)->digest(), (*again)->digest());
  // A broken replacement is refused, naming the file; the server keeps the pair it has.
  std::ofstream(files.Path("cert.pem"), std::ios::trunc) << "garbage\n";
  EXPECT_EQ(
      LoadCertKeyPair(files.Path("cert.pem"), files.Path("key.pem")).error().message,
      "cert_file " + files.Path("cert.pem") + ": no PEM certificate (No certificate was found.)");
}

TEST(ClientCa, LoadsPemCertificates) {
  WebFiles files;
  Result<std::string> ca = LoadClientCa(files.Path("ca.pem"));
  ASSERT_TRUE(ca.ok()) << ca.error().message;
  EXPECT_EQ(LoadClientCa(files.Path("none.pem")).error().message,
            "client_ca_file " + files.Path("none.pem") + ": No such file or directory");
}

}  // namespace
}  // namespace drift::exporter
