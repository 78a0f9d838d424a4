#include "exporter/heal_cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "alerts/config.h"
#include "alerts/http_poster.h"
#include "common/regular_file.h"
#include "common/secret_file.h"
#include "common/strings.h"
#include "exporter/cli.h"

namespace drift::exporter {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxAnswer = 16 << 20;
// A client certificate with its chain; larger is not a PEM certificate file.
constexpr std::size_t kMaxCertificateBytes = 1 << 20;

// An id or a check name goes into the URL path: only what the exporter itself makes of them.
bool IsPathSegment(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// The exporter's JSON error, else the raw answer's first line.
std::string Reason(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    return doc["error"].get<std::string>();
  }
  return OneLine(body, 300);
}

}  // namespace

HealCommands::HealCommands(CLI::App& cli) {
  heal_ = cli.add_subcommand("heal",
                             "Healing actions of a running exporter: list, approve, reject, reset");
  heal_->require_subcommand(1);
  auto common = [this](CLI::App* app) {
    app->add_option("--url", url_, "The exporter's URL")->capture_default_str();
    app->add_option("--user", user_, "Basic-auth user (the web config's basic_auth_users)");
    app->add_option("--password-file", password_file_, "File holding that user's password");
    app->add_option("--ca-file", ca_file_, "CA of the exporter's certificate (https)");
    app->add_option("--cert-file", cert_file_,
                    "Client certificate (PEM) to present over https: the web config's "
                    "client_ca_file signs it, and its first SAN is the identity");
    app->add_option("--key-file", key_file_, "The client certificate's private key (PEM)");
    app->add_option("--timeout", timeout_seconds_, "Seconds to wait for the exporter")
        ->check(CLI::Range(1, 600))
        ->capture_default_str();
  };
  list_ = heal_->add_subcommand("list", "List the actions, newest first");
  common(list_);
  list_->add_option("--format", format_, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  approve_ = heal_->add_subcommand("approve", "Approve an action that awaits approval");
  common(approve_);
  approve_->add_option("id", id_, "The action's id (heal list)")->required();
  reject_ = heal_->add_subcommand("reject", "Reject an action that awaits approval");
  common(reject_);
  reject_->add_option("id", id_, "The action's id (heal list)")->required();
  reject_->add_option("--reason", reason_, "Why, for the record");
  reset_ = heal_->add_subcommand("reset",
                                 "Resume healing of a check suspended after a reconciliation loop");
  common(reset_);
  reset_->add_option("check", check_, "The check's name")->required();
}

bool HealCommands::parsed() const { return heal_->parsed(); }

int HealCommands::Run() {
  if (list_->parsed()) return List();
  if (approve_->parsed() || reject_->parsed()) {
    if (!IsPathSegment(id_)) {
      std::cerr << fmt::format("{:?} is not an action id (see `drift_exporter heal list`)\n", id_);
      return kExitUsage;
    }
    const bool approve = approve_->parsed();
    return Post(fmt::format("/api/v1/heal/actions/{}/{}", id_, approve ? "approve" : "reject"),
                approve ? "" : reason_, approve ? "approved" : "rejected");
  }
  if (!IsPathSegment(check_)) {
    std::cerr << fmt::format("{:?} is not a check name\n", check_);
    return kExitUsage;
  }
  return Post(fmt::format("/api/v1/heal/checks/{}/reset", check_), "", "reset");
}

// The target for RequestOnce: the URL and the credentials, the password read from its file now.
Result<alerts::AlertmanagerConfig> HealCommands::Target(const std::string& path) const {
  Result<std::string> base = alerts::CheckHttpUrl(url_, "--url");
  if (!base.ok()) return base.error();
  alerts::AlertmanagerConfig t;
  t.url = *base;
  t.endpoint = *base + path;
  t.timeout = std::chrono::seconds(timeout_seconds_);
  t.ca_file = ca_file_;
  if (user_.empty() != password_file_.empty()) {
    return Err("--user and --password-file go together");
  }
  if (cert_file_.empty() != key_file_.empty()) {
    return Err("--cert-file and --key-file go together");
  }
  if (!cert_file_.empty()) {
    if (!t.url.starts_with("https://")) return Err("--cert-file needs an https:// --url");
    // curl reads them; read here first, so that a missing file, or a key others may read, is
    // named with its flag rather than reported as a TLS failure.
    Result<std::string> pem = ReadRegularFile(cert_file_, kMaxCertificateBytes);
    if (!pem.ok()) return Err("--cert-file: cannot read {}: {}", cert_file_, pem.error().message);
    Result<std::string> key = ReadSecretFile(key_file_, {});
    if (!key.ok()) return Err("--key-file: {}", key.error().message);
    WipeSecret(*key);
    t.cert_file = cert_file_;
    t.key_file = key_file_;
  }
  if (!user_.empty()) {
    Result<std::string> secret = ReadSecretFile(password_file_, {});
    if (!secret.ok()) return Err("--password-file: {}", secret.error().message);
    t.basic_auth_username = user_;
    t.basic_auth_password = std::string(Trim(*secret));
    WipeSecret(*secret);
  }
  return t;
}

int HealCommands::Call(const std::string& path, std::optional<std::string> body,
                       std::string& answer) {
  Result<alerts::AlertmanagerConfig> target = Target(path);
  if (!target.ok()) {
    std::cerr << target.error().message << "\n";
    return kExitUsage;
  }
  Result<alerts::HttpReply> reply = alerts::RequestOnce(*target, body, target->timeout, kMaxAnswer);
  if (!reply.ok()) {
    std::cerr << reply.error().message << "\n";
    return kExitDrift;
  }
  if (reply->status != 200) {
    std::cerr << fmt::format("{}: HTTP {}: {}\n", target->endpoint, reply->status,
                             Reason(reply->body));
    return kExitDrift;
  }
  answer = std::move(reply->body);
  return kExitOk;
}

int HealCommands::List() {
  std::string answer;
  if (int code = Call("/api/v1/heal/actions", std::nullopt, answer); code != kExitOk) return code;
  json doc = json::parse(answer, nullptr, false);
  if (!doc.is_object() || !doc.contains("actions") || !doc["actions"].is_array()) {
    std::cerr << fmt::format("{}: not the healing API's answer\n", url_);
    return kExitDrift;
  }
  if (format_ == "json") {
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<18} {:<18} {:<14} {:<30} {:<24} {}\n", "ID", "STATUS", "CHECK",
                           "RUNBOOK", "UPDATED", "REASON");
  for (const json& a : doc["actions"]) {
    std::cout << fmt::format("{:<18} {:<18} {:<14} {:<30} {:<24} {}\n", a.value("id", ""),
                             a.value("status", ""), a.value("check", ""), a.value("runbook", ""),
                             a.value("updated_at", ""), OneLine(a.value("reason", ""), 200));
  }
  return kExitOk;
}

int HealCommands::Post(const std::string& path, const std::string& body, const std::string& done) {
  std::string answer;
  if (int code = Call(path, body, answer); code != kExitOk) return code;
  json doc = json::parse(answer, nullptr, false);
  if (doc.is_object() && doc.contains("status") && doc.contains("reason")) {
    std::cout << fmt::format("{} {}: {} ({})\n", done, doc.value("id", check_),
                             doc.value("status", ""), doc.value("reason", ""));
  } else {
    std::cout << done << "\n";
  }
  return kExitOk;
}

}  // namespace drift::exporter
