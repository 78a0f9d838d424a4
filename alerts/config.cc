#include "alerts/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <set>

#include "common/regular_file.h"
#include "common/secret_file.h"
#include "common/strings.h"

namespace drift::alerts {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 << 10;
// A CA bundle (the system one is a few hundred KiB).
constexpr std::size_t kMaxCaFileBytes = 16 << 20;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Fails `node`, which names the file at `path` that ReadRegularFile could not read.
[[noreturn]] void FailToRead(const ConfigNode& node, const std::string& path, const Error& e) {
  if (e.sys_errno == EFBIG) node.Fail(fmt::format("{} is {}", path, e.message));
  node.Fail(fmt::format("cannot read {}: {}", path, e.message));
}

// Reads the one-line secret in the file named by `node` (common/secret_file.h); positions every
// error at the node and never shows what the file holds.
std::string ReadSecret(const ConfigNode& node) {
  std::string path = node.AsPath().string();
  SecretFileOptions options;
  options.max_bytes = kMaxSecretBytes;
  Result<std::string> text = ReadSecretFile(path, options);
  if (!text.ok()) node.Fail(text.error().message);
  std::string secret(Trim(*text));
  WipeSecret(*text);
  if (secret.empty()) node.Fail(fmt::format("{} is empty", path));
  // A line break inside would end the HTTP header the secret goes into.
  if (std::any_of(secret.begin(), secret.end(), IsControl)) {
    WipeSecret(secret);
    node.Fail(fmt::format("{} contains a control character (a secret must be one line)", path));
  }
  return secret;
}

// An Alertmanager (`alertmanagers:`), or a webhook receiver (`webhooks:`): the same connection
// settings, a different URL rule and form.
AlertmanagerConfig ReadTarget(const ConfigNode& node, AlertFormat format) {
  AlertmanagerConfig am;
  am.format = format;
  ConfigNode url_node = node.Child("url");
  const bool webhook = format == AlertFormat::kWebhook;
  Result<std::string> base =
      CheckHttpUrl(url_node.AsString(), webhook ? "webhook URL" : "Alertmanager URL");
  if (!base.ok()) url_node.Fail(base.error().message);
  am.url = *base;
  if (webhook) {
    am.endpoint = *base;
    am.receiver = node.GetString("receiver", "drift_exporter");
    if (am.receiver.empty() || std::any_of(am.receiver.begin(), am.receiver.end(), IsControl)) {
      node.Child("receiver").Fail("expected a non-empty name without control characters");
    }
    am.repeat_interval = node.GetDuration("repeat_interval", am.repeat_interval);
    if (am.repeat_interval < std::chrono::seconds(1)) {
      node.Child("repeat_interval").Fail("expected at least 1s");
    }
  } else {
    Result<std::string> endpoint = AlertsEndpoint(*base);
    if (!endpoint.ok()) url_node.Fail(endpoint.error().message);
    am.endpoint = *endpoint;
  }

  auto token = node.Find("bearer_token_file");
  auto basic = node.Find("basic_auth");
  if (token && basic) {
    basic->Fail("set either bearer_token_file or basic_auth, not both");
  }
  if (token) am.bearer_token = ReadSecret(*token);
  if (basic) {
    if (!basic->IsMap()) basic->Fail("expected a mapping with username and password_file");
    ConfigNode user = basic->Child("username");
    am.basic_auth_username = user.AsString();
    if (am.basic_auth_username->empty() ||
        std::any_of(am.basic_auth_username->begin(), am.basic_auth_username->end(),
                    [](char c) { return IsControl(c) || c == ':'; })) {
      user.Fail("expected a user name without ':' or control characters");
    }
    am.basic_auth_password = ReadSecret(basic->Child("password_file"));
  }
  if (auto ca = node.Find("ca_file")) {
    if (!StartsWith(am.url, "https://")) ca->Fail("ca_file needs an https:// URL");
    am.ca_file = ca->AsPath().string();
    Result<std::string> pem = ReadRegularFile(am.ca_file, kMaxCaFileBytes);
    if (!pem.ok()) FailToRead(*ca, am.ca_file, pem.error());
  }
  // A client certificate, for a receiver that authenticates callers by certificate (this
  // exporter's own webhook behind RequireAndVerifyClientCert, for one). curl reads both files at
  // each connection; they are read here too so that a missing or exposed file is a config error.
  auto cert = node.Find("cert_file");
  auto key = node.Find("key_file");
  if (cert.has_value() != key.has_value()) {
    (cert ? *cert : *key).Fail("cert_file and key_file go together");
  }
  if (cert) {
    if (!StartsWith(am.url, "https://")) cert->Fail("cert_file needs an https:// URL");
    am.cert_file = cert->AsPath().string();
    Result<std::string> pem = ReadRegularFile(am.cert_file, kMaxCaFileBytes);
    if (!pem.ok()) FailToRead(*cert, am.cert_file, pem.error());
    am.key_file = key->AsPath().string();
    SecretFileOptions options;
    options.what = "key_file";
    Result<std::string> secret = ReadSecretFile(am.key_file, options);
    if (!secret.ok()) key->Fail(secret.error().message);
    WipeSecret(*secret);
  }
  am.timeout = node.GetDuration("timeout", am.timeout);
  return am;
}

Labels ReadExternalLabels(const ConfigNode& node) {
  Labels labels;
  for (const auto& [name, value_node] : node.Entries()) {
    if (!IsLabelName(name)) {
      value_node.Fail(fmt::format(
          "{:?} is not a label name: letters, digits and '_', not starting with a digit or "
          "\"__\"",
          name));
    }
    if (std::find(std::begin(kReservedLabels), std::end(kReservedLabels), name) !=
        std::end(kReservedLabels)) {
      value_node.Fail(fmt::format("{:?} is set by the exporter itself", name));
    }
    std::string value = value_node.AsString();
    if (value.empty()) value_node.Fail("expected a non-empty label value");
    labels.emplace(name, std::move(value));
  }
  return labels;
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

}  // namespace

bool IsLabelName(std::string_view name) {
  if (name.empty() || StartsWith(name, "__")) return false;
  if (name[0] >= '0' && name[0] <= '9') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::string> CheckHttpUrl(std::string_view url, std::string_view what) {
  std::string_view rest;
  if (StartsWith(url, "http://")) {
    rest = url.substr(7);
  } else if (StartsWith(url, "https://")) {
    rest = url.substr(8);
  } else {
    return Err("{} {:?} must start with http:// or https://", what, url);
  }
  if (std::any_of(url.begin(), url.end(), [](char c) { return IsControl(c) || c == ' '; })) {
    return Err("{} {:?} contains a space or control character", what, url);
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = rest.substr(authority.size());
  if (authority.find('@') != std::string_view::npos) {
    return Err("{} must not contain credentials; use basic_auth.password_file or bearer_token_file",
               what);
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return Err("{} {:?} must not have a query or fragment", what, url);
  }
  // host, [v6 address], then an optional :port of 1 to 65535.
  std::string_view host = authority;
  std::string_view port;
  if (StartsWith(authority, "[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return Err("{} {:?} has an unclosed '['", what, url);
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Err("{} {:?} has an invalid host", what, url);
      port = after.substr(1);
    }
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") return Err("{} {:?} has no host", what, url);
  if (authority.find(':') != std::string_view::npos && !StartsWith(authority, "[") &&
      host.find(':') != std::string_view::npos) {
    return Err("{} {:?}: put an IPv6 address in brackets", what, url);
  }
  if (authority.back() == ':' ||
      (!port.empty() &&
       (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535))) {
    return Err("{} {:?} has an invalid port", what, url);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return fmt::format("{}{}{}", url.substr(0, url.size() - rest.size()), authority, path);
}

Result<std::string> AlertsEndpoint(std::string_view url) {
  Result<std::string> base = CheckHttpUrl(url, "Alertmanager URL");
  if (!base.ok()) return base.error();
  std::string_view b = *base;
  constexpr std::string_view kApi = "/api/v2/alerts";
  if (b.size() >= kApi.size() && b.substr(b.size() - kApi.size()) == kApi) {
    return Err("give the Alertmanager's base URL, without {}", kApi);
  }
  return fmt::format("{}{}", b, kApi);
}

Result<RunbookTemplate> RunbookTemplate::Parse(std::string_view text) {
  if (!StartsWith(text, "http://") && !StartsWith(text, "https://")) {
    return Err("expected a URL template starting with http:// or https://, got {:?}", text);
  }
  RunbookTemplate t;
  t.text_ = std::string(text);
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t open = rest.find("{{");
    if (open == std::string_view::npos) {
      t.parts_.push_back({std::string(rest), ""});
      break;
    }
    if (open > 0) t.parts_.push_back({std::string(rest.substr(0, open)), ""});
    std::size_t close = rest.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Err("unclosed \"{{{{\" at position {}", text.size() - rest.size() + open + 1);
    }
    std::string_view name = Trim(rest.substr(open + 2, close - open - 2));
    if (std::find(std::begin(kVariables), std::end(kVariables), name) == std::end(kVariables)) {
      return Err(
          "unknown variable {{{{{}}}}}; expected one of {{{{alertname}}}}, {{{{check}}}}, "
          "{{{{instance}}}}, {{{{severity}}}}, {{{{recommended_action}}}}",
          name);
    }
    t.parts_.push_back({"", std::string(name)});
    rest.remove_prefix(close + 2);
  }
  return t;
}

std::string RunbookTemplate::Render(const Labels& values) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.variable.empty()) {
      out += p.literal;
    } else if (auto it = values.find(p.variable); it != values.end()) {
      out += PercentEncode(it->second);
    }
  }
  return out;
}

AlertingConfig ReadAlertingConfig(const ConfigNode& node) {
  AlertingConfig config;
  if (!node.IsMap()) node.Fail("expected a mapping");
  config.enabled = true;
  // Alertmanagers, webhook receivers, or both; a URL once.
  std::set<std::string> urls;
  for (auto [key, format] : {std::pair{"alertmanagers", AlertFormat::kAlertmanager},
                             std::pair{"webhooks", AlertFormat::kWebhook}}) {
    auto list = node.Find(key);
    if (!list) continue;
    std::vector<ConfigNode> items = list->Items();
    if (items.empty()) list->Fail("expected at least one, or leave the key out");
    for (const ConfigNode& item : items) {
      if (!item.IsMap()) item.Fail("expected a mapping with at least url");
      AlertmanagerConfig target = ReadTarget(item, format);
      if (!urls.insert(target.url).second) {
        item.Child("url").Fail(fmt::format("duplicate URL {:?}", target.url));
      }
      config.alertmanagers.push_back(std::move(target));
    }
  }
  if (config.alertmanagers.empty()) {
    node.Fail("expected alertmanagers, webhooks or both: where to send alerts");
  }
  if (auto n = node.Find("resend_interval")) {
    config.resend_interval = n->AsDuration();
    if (config.resend_interval < std::chrono::seconds(1)) {
      n->Fail("expected at least 1s: every firing alert is sent once per resend_interval");
    }
  }
  config.queue_capacity =
      static_cast<std::size_t>(node.GetInt("queue_capacity", 10'000, 1, 1'000'000));
  if (auto n = node.Find("external_labels")) config.external_labels = ReadExternalLabels(*n);
  if (auto n = node.Find("instance")) {
    config.instance = n->AsString();
    if (config.instance.empty() ||
        std::any_of(config.instance.begin(), config.instance.end(), IsControl)) {
      n->Fail("expected a non-empty instance name without control characters");
    }
  }
  if (auto n = node.Find("external_url")) {
    // Alerts and the Prometheus rules' links share one setting, a flag as in Prometheus.
    n->Fail("moved to the --web.external-url flag");
  }
  if (auto n = node.Find("runbook_url")) {
    Result<RunbookTemplate> t = RunbookTemplate::Parse(n->AsString());
    if (!t.ok()) n->Fail(t.error().message);
    config.runbook_url = std::move(*t);
  }
  return config;
}

}  // namespace drift::alerts
