#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "alerts/config.h"
#include "common/result.h"

namespace drift::exporter {

// `drift_exporter heal list|approve|reject|reset`: the healing API (docs/healing.md) of a running
// exporter, for approvers at a terminal. Credentials as Alertmanager and Prometheus take them:
// a user and a password file for basic auth; over https, a CA file and a client certificate with
// its key (the web config's client_ca_file signs it; its first SAN names the caller). The identity
// the exporter authenticates is the one its evidence records as approver. Exit codes: 0 done, 1 the
// exporter refused (the message says why: 403, 404, 409...) or could not be reached, 2 bad input.
class HealCommands {
 public:
  explicit HealCommands(CLI::App& cli);
  bool parsed() const;
  int Run();

 private:
  int List();
  // The exporter's `path` with the flags' credentials; an error names the flag at fault.
  Result<alerts::AlertmanagerConfig> Target(const std::string& path) const;
  // Sends GET (no body) or POST to the exporter's `path`; kExitOk with the answer's body, else
  // prints why (unreachable, refused with its reason) and gives the exit code.
  int Call(const std::string& path, std::optional<std::string> body, std::string& answer);
  // POST `path` (an action's approve or reject, a check's reset) and print the answer.
  int Post(const std::string& path, const std::string& body, const std::string& done);

  CLI::App* heal_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* approve_ = nullptr;
  CLI::App* reject_ = nullptr;
  CLI::App* reset_ = nullptr;

  std::string url_ = "http://127.0.0.1:9968";
  std::string user_;
  std::string password_file_;
  std::string ca_file_;
  std::string cert_file_;
  std::string key_file_;
  std::string format_ = "table";
  std::string id_;
  std::string check_;
  std::string reason_;
  int timeout_seconds_ = 10;
};

}  // namespace drift::exporter
