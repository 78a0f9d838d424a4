#include "exporter/evidence_cli.h"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/config_node.h"
#include "common/duration.h"
#include "common/rfc3339.h"
#include "evidence/catalog.h"
#include "evidence/keys.h"
#include "evidence/store_fs.h"
#include "evidence/verify.h"
#include "exporter/cli.h"
#include "exporter/config.h"

namespace drift::exporter {
namespace {

constexpr int kExitVerifyFailed = 1;
constexpr std::size_t kFindingsShown = 20;

int Usage(const std::string& message) {
  std::cerr << message << "\n";
  return kExitUsage;
}

// RFC 3339, or a duration meaning "that long ago".
Result<std::optional<WallTime>> ParseWhen(const std::string& flag, const std::string& text) {
  if (text.empty()) return std::optional<WallTime>();
  if (Result<WallTime> t = ParseRfc3339(text); t.ok()) return std::optional<WallTime>(*t);
  if (Result<std::chrono::milliseconds> d = ParseDuration(text); d.ok()) {
    return std::optional<WallTime>(std::chrono::system_clock::now() - *d);
  }
  return Err(
      "{}: expected an RFC 3339 time (2024-08-01T12:00:00Z) or a duration ago (24h), "
      "got {:?}",
      flag, text);
}

Result<std::vector<evidence::PublicKey>> LoadKeys(const std::vector<std::string>& paths) {
  std::vector<evidence::PublicKey> keys;
  for (const std::string& p : paths) {
    Result<evidence::PublicKey> key = evidence::LoadPublicKeyFile(p);
    if (!key.ok()) return key.error();
    keys.push_back(*key);
  }
  return keys;
}

std::string CheckText(const evidence::ParsedRecord& r) {
  return r.record.check ? *r.record.check : "-";
}

}  // namespace

EvidenceCommands::EvidenceCommands(CLI::App& cli, const std::string& config_file)
    : config_file_(config_file) {
  evidence_ = cli.add_subcommand(
      "evidence", "Signed, hash-chained evidence: keys, verification, listing, export");
  evidence_->require_subcommand(1);
  auto add_dir = [&](CLI::App* app) {
    app->add_option("--dir", dir_, "Evidence store (default: evidence.directory of --config.file)");
  };

  keygen_ = evidence_->add_subcommand(
      "keygen",
      "Create a signing key (drift-evidence.key, mode 0400) and its minisign public key "
      "(drift-evidence.pub) in a folder");
  keygen_->add_option("--out-dir", out_dir_, "Folder for the key pair (created, mode 0700)")
      ->required();

  verify_ = evidence_->add_subcommand(
      "verify",
      "Check every signature, the sequence and the hash chain of a store or export bundle; exit "
      "0 when it verifies, 1 naming the first problem, 2 on bad input");
  add_dir(verify_);
  verify_
      ->add_option("--public-key", public_keys_,
                   "Trusted public key (minisign format); repeat for several")
      ->required();
  verify_->add_flag("--thorough", thorough_,
                    "Also check each record's file signature as `minisign -V` does (about half "
                    "the speed)");
  verify_->add_option("--threads", threads_, "Verification threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  verify_->add_option("--format", format_, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  list_ = evidence_->add_subcommand("list", "List records (signatures are not checked here)");
  add_dir(list_);
  list_->add_option("--check", check_, "Only records about this check");
  list_->add_option("--control", control_,
                    "Only records tagged with this control: hipaa:164.312(b), 164.312(b) or "
                    "hipaa");
  list_->add_option("--kind", kind_, "Only records of this kind (transition, attestation, ...)");
  list_->add_option("--since", since_, "From this time (RFC 3339) or this long ago (24h)");
  list_->add_option("--until", until_, "Up to this time (RFC 3339) or this long ago");
  list_->add_option("--format", format_, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  show_ = evidence_->add_subcommand("show", "Print one record and its signature");
  add_dir(show_);
  show_->add_option("record", record_id_, "Seq (42), id (00000000000000000042-transition) or path")
      ->required();
  show_->add_option("--public-key", public_keys_, "Check the record's signature with this key");
  show_->add_flag("--raw", raw_, "Print the record file's exact bytes");

  export_ = evidence_->add_subcommand(
      "export",
      "Copy the records of a time range with their signatures, public keys and a README for "
      "auditors into a new folder");
  add_dir(export_);
  export_->add_option("--since", since_, "From this time (RFC 3339) or this long ago (24h)");
  export_->add_option("--until", until_, "Up to this time (RFC 3339) or this long ago");
  export_->add_option("--out", out_dir_, "Folder to create")->required();
}

bool EvidenceCommands::parsed() const { return evidence_->parsed(); }

int EvidenceCommands::Run() {
  if (keygen_->parsed()) return Keygen();
  if (verify_->parsed()) return Verify();
  if (list_->parsed()) return List();
  if (show_->parsed()) return Show();
  if (export_->parsed()) return Export();
  return Usage("evidence: expected keygen, verify, list, show or export");
}

std::string EvidenceCommands::Dir() {
  if (!dir_.empty()) return dir_;
  // Throws ConfigError when the configuration is unusable; the caller's handler prints it.
  Config config = LoadConfig(config_file_);
  if (!config.evidence.enabled) {
    throw ConfigError(config_file_, "no evidence section; give --dir");
  }
  return config.evidence.directory;
}

int EvidenceCommands::Keygen() {
  evidence::SecretKey key = evidence::SecretKey::Generate();
  Result<evidence::KeyPairPaths> paths = evidence::WriteKeyPair(out_dir_, key);
  if (!paths.ok()) return Usage("evidence keygen: " + paths.error().message);
  std::cout << fmt::format(
      "secret key: {} (mode 0400; keep it secret, readable only by the exporter's user)\n"
      "public key: {} (minisign format; give it to auditors)\n"
      "key id:     {}\n",
      paths->secret_key, paths->public_key, evidence::FormatKeyId(key.id()));
  return kExitOk;
}

int EvidenceCommands::Verify() {
  Result<std::vector<evidence::PublicKey>> keys = LoadKeys(public_keys_);
  if (!keys.ok()) return Usage("evidence verify: " + keys.error().message);
  evidence::VerifyOptions options;
  options.trusted_keys = std::move(*keys);
  options.threads = threads_;
  options.thorough = thorough_;
  const std::string dir = Dir();
  auto started = std::chrono::steady_clock::now();
  Result<evidence::VerifyReport> report = evidence::VerifyStore(dir, options);
  if (!report.ok()) return Usage("evidence verify: " + report.error().message);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (format_ == "json") {
    nlohmann::json findings = nlohmann::json::array();
    for (const evidence::Finding& f : report->findings) {
      findings.push_back({{"problem", evidence::ProblemName(f.problem)},
                          {"seq", f.seq},
                          {"path", f.path},
                          {"message", f.message}});
    }
    nlohmann::json out = {{"ok", report->ok()},
                          {"summary", evidence::SummaryLine(*report)},
                          {"records", report->records},
                          {"first_seq", report->first_seq},
                          {"last_seq", report->last_seq},
                          {"key_ids", report->key_ids},
                          {"interrupted", report->interrupted},
                          {"findings", findings}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << evidence::SummaryLine(*report) << "\n";
    for (std::size_t i = 0; i < report->findings.size() && i < kFindingsShown; ++i) {
      const evidence::Finding& f = report->findings[i];
      std::cout << fmt::format("  {}: seq {}: {}\n", evidence::ProblemName(f.problem), f.seq,
                               f.message);
    }
    if (report->findings.size() > kFindingsShown) {
      std::cout << fmt::format("  ... {} more\n", report->findings.size() - kFindingsShown);
    }
    std::cerr << fmt::format("verified {} records in {:.2f}s ({:.0f} records/s)\n", report->records,
                             seconds,
                             seconds > 0 ? static_cast<double>(report->records) / seconds : 0.0);
  }
  return report->ok() ? kExitOk : kExitVerifyFailed;
}

int EvidenceCommands::List() {
  evidence::ListFilter filter;
  if (!check_.empty()) filter.check = check_;
  if (!control_.empty()) filter.control = control_;
  if (!kind_.empty()) filter.kind = kind_;
  Result<std::optional<WallTime>> since = ParseWhen("--since", since_);
  Result<std::optional<WallTime>> until = ParseWhen("--until", until_);
  if (!since.ok()) return Usage("evidence list: " + since.error().message);
  if (!until.ok()) return Usage("evidence list: " + until.error().message);
  filter.since = *since;
  filter.until = *until;
  Result<std::vector<evidence::StoredRecord>> records = evidence::ListRecords(Dir(), filter);
  if (!records.ok()) return Usage("evidence list: " + records.error().message);
  if (format_ == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const evidence::StoredRecord& r : *records) {
      nlohmann::json doc = nlohmann::json::parse(r.bytes);
      out.push_back({{"id", r.id}, {"path", r.path}, {"record", std::move(doc)}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<8} {:<24} {:<13} {:<16} {:<9} {}\n", "SEQ", "TIME", "KIND", "CHECK",
                           "SEVERITY", "SUMMARY");
  for (const evidence::StoredRecord& r : *records) {
    const evidence::ParsedRecord& p = r.parsed;
    std::cout << fmt::format("{:<8} {:<24} {:<13} {:<16} {:<9} {}\n", p.header.seq,
                             evidence::FormatRecordTime(p.header.time), p.record.kind, CheckText(p),
                             p.record.severity, evidence::Summarize(p));
  }
  return kExitOk;
}

int EvidenceCommands::Show() {
  const std::string dir = Dir();
  Result<evidence::StoredRecord> r = evidence::FindRecord(dir, record_id_);
  if (!r.ok()) return Usage("evidence show: " + r.error().message);
  if (raw_) {
    std::cout << r->bytes;
    return kExitOk;
  }
  Result<std::string> sig_text = evidence::ReadSmallFile(dir + "/" + r->path + ".minisig", 16384);
  Result<evidence::Signature> sig = sig_text.ok() ? evidence::ParseSignatureFile(*sig_text)
                                                  : Result<evidence::Signature>(sig_text.error());
  std::cout << fmt::format("record:          {}\n", r->path);
  std::cout << fmt::format("id:              {}\n", r->id);
  if (!sig.ok()) {
    std::cout << fmt::format("signature:       unreadable: {}\n", sig.error().message);
  } else {
    std::cout << fmt::format("key id:          {}\n", evidence::FormatKeyId(sig->key_id));
    std::cout << fmt::format("trusted comment: {}\n", sig->trusted_comment);
  }
  int exit_code = kExitOk;
  if (!public_keys_.empty()) {
    Result<std::vector<evidence::PublicKey>> keys = LoadKeys(public_keys_);
    if (!keys.ok()) return Usage("evidence show: " + keys.error().message);
    std::string verdict = "no given key signed it";
    exit_code = kExitVerifyFailed;
    if (sig.ok()) {
      for (const evidence::PublicKey& k : *keys) {
        if (k.id != sig->key_id) continue;
        Status s = evidence::VerifySignature(k, r->bytes, *sig);
        verdict = s.ok() ? "verified" : "FAILED: " + s.error().message;
        if (s.ok()) exit_code = kExitOk;
      }
    }
    std::cout << fmt::format(
        "signature:       {} (this record only; `evidence verify` checks "
        "the chain)\n",
        verdict);
  }
  std::cout << nlohmann::json::parse(r->bytes).dump(2) << "\n";
  return exit_code;
}

int EvidenceCommands::Export() {
  Result<std::optional<WallTime>> since = ParseWhen("--since", since_);
  Result<std::optional<WallTime>> until = ParseWhen("--until", until_);
  if (!since.ok()) return Usage("evidence export: " + since.error().message);
  if (!until.ok()) return Usage("evidence export: " + until.error().message);
  Result<evidence::ExportReport> report =
      evidence::ExportRecords(Dir(), *since, *until, out_dir_, std::chrono::system_clock::now());
  if (!report.ok()) return Usage("evidence export: " + report.error().message);
  std::string keys;
  for (const std::string& k : report->key_ids) keys += (keys.empty() ? "" : ", ") + k;
  std::cout << fmt::format(
      "exported {} records (seq {}..{}) signed by key(s) {} to {}\n"
      "an auditor verifies them with: drift_exporter evidence verify --dir={} "
      "--public-key={}/keys/{}.pub\n(or with minisign alone: see {}/README.md)\n",
      report->records, report->first_seq, report->last_seq, keys, out_dir_, out_dir_, out_dir_,
      report->key_ids.empty() ? "<ID>" : report->key_ids.front(), out_dir_);
  return kExitOk;
}

}  // namespace drift::exporter
