#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace drift::exporter {

// `drift_exporter evidence keygen|verify|list|show|export`. Exit codes: 0 success (verify: the
// store verifies), 1 verification failed, 2 bad input (missing folder, unreadable or malformed
// key, bad flag values).
class EvidenceCommands {
 public:
  // Adds the subcommands to `cli`. `config_file` (the --config.file flag's variable) names the
  // configuration whose evidence.directory is used when --dir is not given.
  EvidenceCommands(CLI::App& cli, const std::string& config_file);
  bool parsed() const;
  // Runs the parsed subcommand; prints results on stdout, errors on stderr.
  int Run();

 private:
  int Keygen();
  int Verify();
  int List();
  int Show();
  int Export();
  // --dir, or the configuration's evidence.directory.
  std::string Dir();

  const std::string& config_file_;
  CLI::App* evidence_ = nullptr;
  CLI::App* keygen_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* export_ = nullptr;

  std::string dir_;
  std::string out_dir_;
  std::vector<std::string> public_keys_;
  bool thorough_ = false;
  int threads_ = 2;
  std::string format_ = "text";
  std::string check_, control_, kind_, since_, until_;
  std::string record_id_;
  bool raw_ = false;
};

}  // namespace drift::exporter
