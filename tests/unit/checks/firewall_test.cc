#include "checks/types/firewall.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::firewall {
namespace {

using testing::Later;
using testing::MakeCheck;
using testing::Str;

constexpr std::string_view kNft = "nft -s list ruleset";

// What `nft -s list ruleset` prints for a small host firewall (nft 1.0: tab indentation, a blank
// line between a table's objects, wrapped set elements, no counters because of -s).
constexpr std::string_view kRuleset =
    "table inet filter {\n"
    "\tset admin_hosts {\n"
    "\t\ttype ipv4_addr\n"
    "\t\telements = { 10.0.0.10, 10.0.0.11,\n"
    "\t\t\t     10.0.0.12 }\n"
    "\t}\n"
    "\n"
    "\tchain input {\n"
    "\t\ttype filter hook input priority filter; policy drop;\n"
    "\t\tct state established,related accept\n"
    "\t\tct state invalid drop\n"
    "\t\tiif \"lo\" accept\n"
    "\t\tip saddr @admin_hosts tcp dport 22 accept\n"
    "\t\ttcp dport { 80, 443 } accept comment \"web {public}\"\n"
    "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n"
    "\t}\n"
    "\n"
    "\tchain forward {\n"
    "\t\ttype filter hook forward priority filter; policy drop;\n"
    "\t}\n"
    "\n"
    "\tchain output {\n"
    "\t\ttype filter hook output priority filter; policy accept;\n"
    "\t}\n"
    "}\n"
    "table ip nat {\n"
    "\tchain postrouting {\n"
    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
    "\t\toifname \"eth0\" masquerade\n"
    "\t}\n"
    "}\n";
// sha256sum of kRuleset.
constexpr std::string_view kRulesetSha =
    "bebb4e8ed3f95f042bfe188ba9b0d342e6fb70be02d165b0a5a31df954b47bf8";
// The same ruleset with the SSH rule opened to everyone.
constexpr std::string_view kChangedSha =
    "1dcb2c11ded233b8827c522416c006c492e4e99d3359d8194193a96dc6370253";
constexpr std::string_view kEmptySha =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string ChangedRuleset() {
  std::string s(kRuleset);
  std::string from = "\t\tip saddr @admin_hosts tcp dport 22 accept\n";
  s.replace(s.find(from), from.size(), "\t\ttcp dport 22 accept\n");
  return s;
}

std::string Str(const Result<NftRulesetSummary>& r) {
  if (!r.ok()) return "error: " + r.error().message;
  return fmt::format("{}/{}/{}", r->tables, r->chains, r->rules);
}

CheckPtr MakeWithBaseline(std::string_view sha = kRulesetSha) {
  return MakeCheck(kType, fmt::format("    ruleset_sha256: {}\n", sha));
}

class FirewallTest : public ::testing::Test {
 protected:
  FirewallTest() {
    t_.services.Set("nftables.service", "active");
    t_.commands.Script(std::string(kNft), 0, std::string(kRuleset));
  }

  testing::MemoryFileSystem files_;  // empty: the check reads no files
  testing::TestHost t_{files_};
};

TEST(FirewallType, Metadata) {
  testing::ExpectTypeDefaults(kType, {"firewall",
                                      Severity::kCritical,
                                      {{"hipaa", "164.312(a)(1)"}, {"hipaa", "164.312(e)(1)"}},
                                      "restore_firewall_baseline",
                                      {"drift_firewall_rules"}});
}

TEST(ParseNftRuleset, CountsTablesChainsAndRules) {
  EXPECT_EQ(Str(ParseNftRuleset(kRuleset)), "2/4/7");
}

TEST(ParseNftRuleset, EmptyRulesetIsZeros) {
  EXPECT_EQ(Str(ParseNftRuleset("")), "0/0/0");
  EXPECT_EQ(Str(ParseNftRuleset("\n\n")), "0/0/0");
}

TEST(ParseNftRuleset, TablesAndChainsWithoutRules) {
  EXPECT_EQ(Str(ParseNftRuleset("table ip6 empty {\n}\n"
                                "table netdev ingress {\n"
                                "\tchain eth0_in {\n"
                                "\t\ttype filter hook ingress device \"eth0\" priority -500; "
                                "policy accept;\n"
                                "\t\tcomment \"drop early\"\n"
                                "\t}\n"
                                "\tchain helper {\n"
                                "\t}\n"
                                "}\n")),
            "2/2/0");
}

TEST(ParseNftRuleset, SkipsCommentsAndOldStylePolicyLines) {
  EXPECT_EQ(Str(ParseNftRuleset("# Warning: table ip filter is managed by iptables-nft, do not "
                                "touch!\n"
                                "table ip filter {\n"
                                "\tchain INPUT {\n"
                                "\t\ttype filter hook input priority 0\n"
                                "\t\tpolicy drop;\n"
                                "\t\t# a comment line\n"
                                "\t\tcounter packets 0 bytes 0 jump f2b-sshd\n"
                                "\t}\n"
                                "\tchain f2b-sshd {\n"
                                "\t\treturn\n"
                                "\t}\n"
                                "}\n")),
            "1/2/2");
}

TEST(ParseNftRuleset, NamedObjectsAreNotRules) {
  EXPECT_EQ(Str(ParseNftRuleset("table inet t {\n"
                                "\tmap ports {\n"
                                "\t\ttype inet_service : verdict\n"
                                "\t\telements = { 22 : accept, 80 : drop }\n"
                                "\t}\n"
                                "\tflowtable ft {\n"
                                "\t\thook ingress priority filter\n"
                                "\t\tdevices = { eth0, eth1 }\n"
                                "\t}\n"
                                "\tchain c {\n"
                                "\t\ttcp dport vmap @ports\n"
                                "\t\tip saddr { 10.0.0.1,\n"
                                "\t\t\t10.0.0.2 } drop\n"
                                "\t}\n"
                                "}\n")),
            "1/1/2");
}

TEST(ParseNftRuleset, BracesInStringsDoNotCount) {
  EXPECT_EQ(Str(ParseNftRuleset("table inet t {\n"
                                "\tchain c {\n"
                                "\t\tlog prefix \"}} dropped {\" drop\n"
                                "\t}\n"
                                "}\n")),
            "1/1/1");
}

TEST(ParseNftRuleset, RejectsMalformedListings) {
  EXPECT_EQ(Str(ParseNftRuleset("table inet filter {\n\tchain input {\n\t}\n")),
            "error: unbalanced braces: 1 block(s) still open at the end of the listing");
  EXPECT_EQ(Str(ParseNftRuleset("table inet filter {\n}\n}\n")),
            "error: line 3: '}' closes nothing (unbalanced braces)");
  EXPECT_EQ(Str(ParseNftRuleset("table inet t {\n\tchain c {\n\t\tlog prefix \"x\n\t}\n}\n")),
            "error: line 3: unterminated string");
  EXPECT_EQ(Str(ParseNftRuleset("Error: syntax error\n")),
            "error: line 1: expected \"table <family> <name> {\" at the top level, got \"Error: "
            "syntax error\"");
  EXPECT_EQ(Str(ParseNftRuleset("table foo bar {\n}\n")),
            "error: line 1: expected \"table <family> <name> {\" at the top level, got \"table "
            "foo bar {\"");
}

TEST_F(FirewallTest, CompliantWhenActiveAndHashMatches) {
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason, "nftables.service is active and the ruleset matches its baseline SHA-256");
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;tables=2;chains=4;rules=7;ruleset_sha256={};",
                        kRulesetSha));
  ASSERT_EQ(r.measures.size(), 1u);
  EXPECT_EQ(r.measures[0].name, "drift_firewall_rules");
  EXPECT_EQ(r.measures[0].value, 7.0);
  EXPECT_EQ(t_.commands.commands_ran(),
            (std::vector<std::vector<std::string>>{{"nft", "-s", "list", "ruleset"}}));
}

TEST_F(FirewallTest, ChangedRulesetIsDrift) {
  t_.commands.Script(std::string(kNft), 0, ChangedRuleset());
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, fmt::format("ruleset_hash_mismatch: observed {}, expected {}", kChangedSha,
                                  kRulesetSha));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            fmt::format("ruleset_hash_mismatch | {} | {} | none", kChangedSha, kRulesetSha));
  ASSERT_EQ(r.measures.size(), 1u);
  EXPECT_EQ(r.measures[0].value, 7.0);
}

TEST_F(FirewallTest, FlushedRulesetIsDriftNotAnError) {
  t_.commands.Script(std::string(kNft), 0, "");
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            fmt::format("ruleset_hash_mismatch | {} | {} | none", kEmptySha, kRulesetSha));
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;tables=0;chains=0;rules=0;ruleset_sha256={};"
                        "ruleset_diff=unavailable: no listing was kept with the pin; capture "
                        "again with `drift_exporter baseline capture` to keep one;",
                        kEmptySha));
}

TEST_F(FirewallTest, InactiveServiceIsDrift) {
  t_.services.Set("nftables.service", "inactive");
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "service_inactive: observed inactive, expected active");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | inactive | active | none");
}

TEST_F(FirewallTest, ConfiguredServiceIsQueried) {
  t_.services.Set("firewalld.service", "failed");
  CheckResult r =
      MakeCheck(kType, fmt::format("    service: firewalld.service\n    ruleset_sha256: {}\n",
                                   kRulesetSha))
          ->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | none");
}

TEST_F(FirewallTest, ParseFailureIsNotedButTheHashDecides) {
  t_.commands.Script(std::string(kNft), 0, "table inet filter {\n");
  CheckResult r =
      MakeWithBaseline(ToHex(Sha256Of("table inet filter {\n")))->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_TRUE(r.measures.empty());
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;ruleset_summary=unknown: unbalanced braces: 1 "
                        "block(s) still open at the end of the listing;ruleset_sha256={};",
                        ToHex(Sha256Of("table inet filter {\n"))));
}

TEST_F(FirewallTest, ServiceQueryFailureIsAnError) {
  testing::FakeServiceManager none;
  CheckResult r = MakeWithBaseline()->Run(
      Host{t_.fs, t_.commands, none, t_.journal, t_.clock, t_.monotonic}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of nftables.service: systemctl: cannot query nftables.service");
}

TEST_F(FirewallTest, MissingNftIsAnError) {
  testing::FakeCommandRunner no_nft;
  CheckResult r = MakeWithBaseline()->Run(
      Host{t_.fs, no_nft, t_.services, t_.journal, t_.clock, t_.monotonic}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft is not installed (unscripted: nft -s list ruleset)");
}

TEST_F(FirewallTest, NonZeroExitIsAnErrorWithStderr) {
  t_.commands.Script(std::string(kNft), 1, "",
                     "Error: syntax error, unexpected junk\nlist ruleset\n^^^^^\n");
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset exited with status 1: Error: syntax error, unexpected junk; list "
            "ruleset; ^^^^^");
}

TEST_F(FirewallTest, PermissionDeniedNamesTheCapability) {
  t_.commands.Script(std::string(kNft), 1, "",
                     "netlink: Error: cache initialization failed: Operation not permitted\n");
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset exited with status 1: netlink: Error: cache initialization "
            "failed: Operation not permitted (reading the ruleset needs CAP_NET_ADMIN; grant it "
            "to the exporter's unit)");
}

TEST_F(FirewallTest, KilledBySignalIsAnError) {
  t_.commands.Script(std::string(kNft), testing::KilledBy(9));
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft -s list ruleset was killed by signal 9");
}

TEST_F(FirewallTest, TimeoutIsAnError) {
  t_.commands.Script(std::string(kNft), testing::TimedOut());
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft -s list ruleset timed out after 10s");
}

TEST_F(FirewallTest, TruncatedOutputIsAnError) {
  CommandOutput big = testing::Exited(0, std::string(kRuleset));
  big.truncated = true;
  t_.commands.Script(std::string(kNft), big);
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft -s list ruleset printed more than 1048576 bytes (output truncated)");
}

TEST_F(FirewallTest, KnownDriftStandsWhenNftFails) {
  t_.services.Set("nftables.service", "failed");
  testing::FakeCommandRunner no_nft;
  CheckResult r = MakeWithBaseline()->Run(
      Host{t_.fs, no_nft, t_.services, t_.journal, t_.clock, t_.monotonic}, Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | none");
  EXPECT_EQ(Str(r.observations),
            "service_state=failed;ruleset_sha256=unknown: nft is not installed (unscripted: nft "
            "-s list ruleset);");
}

TEST_F(FirewallTest, CaptureReturnsTheCurrentHash) {
  t_.commands.Script(std::string(kNft), 0, ChangedRuleset());
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  // The listing itself too: capture keeps it beside the baseline to explain a later mismatch.
  EXPECT_EQ(Str(*captured),
            fmt::format("ruleset_sha256={};ruleset_listing={};", kChangedSha, ChangedRuleset()));
  ASSERT_EQ(kType.listing_keys.size(), 1u);
  EXPECT_EQ(kType.listing_keys[0].key, "ruleset_listing");
  EXPECT_EQ(kType.listing_keys[0].suffix, ".nft");
}

TEST_F(FirewallTest, CaptureFailsWhenNftFails) {
  t_.commands.Script(std::string(kNft), 1, "", "Error: Operation not permitted\n");
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(t_.host(), Later());
  ASSERT_FALSE(captured.ok());
  EXPECT_EQ(captured.error().message,
            "nft -s list ruleset exited with status 1: Error: Operation not permitted (reading "
            "the ruleset needs CAP_NET_ADMIN; grant it to the exporter's unit); run the capture "
            "as root or as a user with CAP_NET_ADMIN");
}

// What to do depends on why: nft missing, or nft failing some other way.
TEST_F(FirewallTest, CaptureSaysWhatToDo) {
  testing::FakeCommandRunner no_nft;
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(
      Host{t_.fs, no_nft, t_.services, t_.journal, t_.clock, t_.monotonic}, Later());
  ASSERT_FALSE(captured.ok());
  EXPECT_EQ(captured.error().message,
            "nft is not installed (unscripted: nft -s list ruleset); install nftables (the nft "
            "program) where host.command_path finds it");
  t_.commands.Script(std::string(kNft), 1, "", "Error: syntax error\n");
  captured = MakeWithBaseline()->Capture(t_.host(), Later());
  ASSERT_FALSE(captured.ok());
  EXPECT_EQ(captured.error().message,
            "nft -s list ruleset exited with status 1: Error: syntax error; make `nft -s list "
            "ruleset` work for this user, then capture again");
}

// An unpinned check loads (onboarding a host) and captures, but every run is an error.
TEST_F(FirewallTest, UnpinnedCheckCapturesButDoesNotRun) {
  EXPECT_EQ(kType.pinned_keys.size(), 1u);
  EXPECT_EQ(kType.pinned_keys[0], "ruleset_sha256");
  CheckPtr check = MakeCheck(kType, "    service: nftables.service\n");
  Result<std::vector<Observation>> captured = check->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured),
            fmt::format("ruleset_sha256={};ruleset_listing={};", kRulesetSha, kRuleset));
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "ruleset_sha256 not pinned: run `drift_exporter baseline capture`");
}

TEST(FirewallFactory, RejectsBadParams) {
  testing::ExpectRejected(
      kType,
      {
          {fmt::format("    service: .nftables\n    ruleset_sha256: {}\n", kRulesetSha),
           "drift.yml:5:14: checks[0].params.service: expected a systemd unit name like "
           "nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got "
           "\".nftables\""},
          {fmt::format("    service: [nftables.service]\n    ruleset_sha256: {}\n", kRulesetSha),
           "drift.yml:5:14: checks[0].params.service: expected a string, got a list"},
          {"    ruleset_sha256: " + std::string(kRulesetSha.substr(1)) + "g\n",
           "drift.yml:5:21: checks[0].params.ruleset_sha256: expected a SHA-256 as 64 hex digits, "
           "found 'g' at position 64"},
      });
}

TEST(NftStatements, OneStatementPerRuleWithTheBlocksItIsIn) {
  EXPECT_EQ(NftStatements(kRuleset),
            (std::vector<std::string>{
                "table inet filter",
                "table inet filter set admin_hosts",
                "table inet filter set admin_hosts: type ipv4_addr",
                // Wrapped over two lines, joined into one.
                "table inet filter set admin_hosts: elements = { 10.0.0.10, 10.0.0.11, 10.0.0.12 }",
                "table inet filter chain input",
                "table inet filter chain input: type filter hook input priority filter; policy "
                "drop;",
                "table inet filter chain input: ct state established,related accept",
                "table inet filter chain input: ct state invalid drop",
                "table inet filter chain input: iif \"lo\" accept",
                "table inet filter chain input: ip saddr @admin_hosts tcp dport 22 accept",
                "table inet filter chain input: tcp dport { 80, 443 } accept comment \"web "
                "{public}\"",
                "table inet filter chain input: meta l4proto { icmp, ipv6-icmp } accept",
                "table inet filter chain forward",
                "table inet filter chain forward: type filter hook forward priority filter; "
                "policy drop;",
                "table inet filter chain output",
                "table inet filter chain output: type filter hook output priority filter; "
                "policy accept;",
                "table ip nat",
                "table ip nat chain postrouting",
                "table ip nat chain postrouting: type nat hook postrouting priority srcnat; "
                "policy accept;",
                "table ip nat chain postrouting: oifname \"eth0\" masquerade",
            }));
}

TEST(NftStatements, SkipsCommentsAndBlankLinesAndNeverFails) {
  EXPECT_EQ(NftStatements(""), std::vector<std::string>{});
  EXPECT_EQ(NftStatements("# Warning: table ip filter is managed by iptables-nft\n\n"
                          "table ip filter {\n\t# note\n\tchain INPUT {\n\t\tpolicy drop;\n"
                          "\t}\n}\n"),
            (std::vector<std::string>{"table ip filter", "table ip filter chain INPUT",
                                      "table ip filter chain INPUT: policy drop;"}));
  // Unbalanced input still gives every line, as best it can.
  EXPECT_EQ(NftStatements("}\nstray line\nelements = { 1,\n2"),
            (std::vector<std::string>{"stray line", "elements = { 1, 2"}));
}

// A check whose baseline kept the listing: a mismatch lists the rules removed and added.
class FirewallListingTest : public FirewallTest {
 protected:
  CheckPtr MakeWithListing(std::string_view listing, std::string_view sha = kRulesetSha) {
    dir_.Write("/baseline.d/firewall.nft", listing);
    return MakeCheck(kType, fmt::format("    ruleset_sha256: {}\n    ruleset_listing: {}\n", sha,
                                        dir_.At("/baseline.d/firewall.nft").string()));
  }

  testing::TempDir dir_;
};

TEST_F(FirewallListingTest, MismatchListsRulesRemovedAndAdded) {
  t_.commands.Script(std::string(kNft), 0, ChangedRuleset());
  CheckResult r = MakeWithListing(kRuleset)->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  std::vector<std::string> findings;
  for (const Finding& f : r.findings) findings.push_back(Str(f));
  EXPECT_EQ(findings,
            (std::vector<std::string>{
                fmt::format("ruleset_hash_mismatch | {} | {} | none", kChangedSha, kRulesetSha),
                "rule_removed | absent | table inet filter chain input: ip saddr @admin_hosts tcp "
                "dport 22 accept | none",
                "rule_added | table inet filter chain input: tcp dport 22 accept | absent | none",
            }));
  ASSERT_FALSE(r.observations.empty());
  EXPECT_EQ(r.observations.back().key, "ruleset_diff");
  EXPECT_EQ(r.observations.back().value, "1 rule(s) removed, 1 added since the capture");
  // Compliant runs say nothing of the listing.
  t_.commands.Script(std::string(kNft), 0, std::string(kRuleset));
  r = MakeWithListing(kRuleset)->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(Str(r.observations).find("ruleset_diff"), std::string::npos);
}

TEST_F(FirewallListingTest, ManyChangesAreCountedAndTheFirstTwentyListed) {
  std::string changed(kRuleset);
  std::string more;
  for (int port = 1000; port < 1030; ++port) more += fmt::format("\t\ttcp dport {} accept\n", port);
  changed.insert(changed.find("\t\tmeta l4proto"), more);
  t_.commands.Script(std::string(kNft), 0, changed);
  CheckResult r = MakeWithListing(kRuleset)->Run(t_.host(), Later());
  ASSERT_EQ(r.findings.size(), 21u);  // the hash mismatch and 20 rules
  EXPECT_EQ(Str(r.findings[1]),
            "rule_added | table inet filter chain input: tcp dport 1000 accept | absent | none");
  EXPECT_EQ(Str(r.findings[20]),
            "rule_added | table inet filter chain input: tcp dport 1019 accept | absent | none");
  EXPECT_EQ(r.observations.back().value,
            "0 rule(s) removed, 30 added since the capture; the first 20 are listed as findings");
}

TEST_F(FirewallListingTest, OnlyCommentsOrBlankLinesChanged) {
  t_.commands.Script(std::string(kNft), 0, std::string(kRuleset) + "\n# trailing comment\n");
  CheckResult r = MakeWithListing(kRuleset)->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.observations.back().value,
            "no rule added or removed: the listings differ in comments or blank lines only");
}

// The listing explains the pin; one that is missing or belongs to another pin explains nothing,
// and the mismatch says why there is no diff.
TEST_F(FirewallListingTest, NoUsableListingIsANote) {
  t_.commands.Script(std::string(kNft), 0, ChangedRuleset());
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.observations.back().value,
            "unavailable: no listing was kept with the pin; capture again with `drift_exporter "
            "baseline capture` to keep one");

  r = MakeWithListing(ChangedRuleset())->Run(t_.host(), Later());
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.observations.back().value,
            fmt::format("unavailable: the kept listing {} has SHA-256 {}, not the pinned one; "
                        "ignored (capture again to keep a matching one)",
                        dir_.At("/baseline.d/firewall.nft").string(), kChangedSha));

  CheckPtr check = MakeWithListing(kRuleset);
  std::filesystem::remove(dir_.At("/baseline.d/firewall.nft"));
  CheckPtr gone =
      MakeCheck(kType, fmt::format("    ruleset_sha256: {}\n    ruleset_listing: {}\n", kRulesetSha,
                                   dir_.At("/baseline.d/firewall.nft").string()));
  r = gone->Run(t_.host(), Later());
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.observations.back().value,
            fmt::format("unavailable: cannot read the kept listing {}: No such file or directory",
                        dir_.At("/baseline.d/firewall.nft").string()));
  // The listing was read at load time: removing it later changes nothing for a loaded check.
  r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.findings.size(), 3u);
}

TEST(FirewallFactory, ListingMustBeAPath) {
  EXPECT_EQ(testing::MakeCheckError(kType, fmt::format("    ruleset_sha256: {}\n    "
                                                       "ruleset_listing: [a]\n",
                                                       kRulesetSha)),
            "drift.yml:6:22: checks[0].params.ruleset_listing: expected a string, got a list");
}

}  // namespace
}  // namespace drift::checks::firewall
