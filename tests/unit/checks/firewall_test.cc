#include "checks/types/firewall.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/support/check_testing.h"

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

  testing::TestHost t_{testing::FixtureHost("")};  // the check reads no files
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
  EXPECT_EQ(
      Str(r.observations),
      fmt::format("service_state=active;tables=0;chains=0;rules=0;ruleset_sha256={};", kEmptySha));
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
  CheckResult r =
      MakeWithBaseline()->Run(Host{t_.fs, t_.commands, none, t_.journal, t_.clock}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of nftables.service: systemctl: cannot query nftables.service");
}

TEST_F(FirewallTest, MissingNftIsAnError) {
  testing::FakeCommandRunner no_nft;
  CheckResult r =
      MakeWithBaseline()->Run(Host{t_.fs, no_nft, t_.services, t_.journal, t_.clock}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot run nft: nft -s list ruleset: command not found (unscripted)");
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
  EXPECT_EQ(r.reason, "nft -s list ruleset did not finish in time and was killed");
}

TEST_F(FirewallTest, TruncatedOutputIsAnError) {
  CommandOutput big = testing::Exited(0, std::string(kRuleset));
  big.truncated = true;
  t_.commands.Script(std::string(kNft), big);
  CheckResult r = MakeWithBaseline()->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset printed more than 1048576 bytes; the ruleset was not hashed");
}

TEST_F(FirewallTest, KnownDriftStandsWhenNftFails) {
  t_.services.Set("nftables.service", "failed");
  testing::FakeCommandRunner no_nft;
  CheckResult r =
      MakeWithBaseline()->Run(Host{t_.fs, no_nft, t_.services, t_.journal, t_.clock}, Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | none");
  EXPECT_EQ(Str(r.observations),
            "service_state=failed;ruleset_sha256=unknown: cannot run nft: nft -s list ruleset: "
            "command not found (unscripted);");
}

TEST_F(FirewallTest, CaptureReturnsTheCurrentHash) {
  t_.commands.Script(std::string(kNft), 0, ChangedRuleset());
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("ruleset_sha256={};", kChangedSha));
}

TEST_F(FirewallTest, CaptureFailsWhenNftFails) {
  t_.commands.Script(std::string(kNft), 1, "", "Error: Operation not permitted\n");
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(t_.host(), Later());
  ASSERT_FALSE(captured.ok());
  EXPECT_EQ(captured.error().message,
            "nft -s list ruleset exited with status 1: Error: Operation not permitted (reading "
            "the ruleset needs CAP_NET_ADMIN; grant it to the exporter's unit)");
}

// The loader requires pinned keys; the factory leaves them optional for `baseline capture`.
TEST_F(FirewallTest, UnpinnedCheckCapturesButDoesNotRun) {
  EXPECT_EQ(kType.pinned_keys.size(), 1u);
  EXPECT_EQ(kType.pinned_keys[0], "ruleset_sha256");
  CheckPtr check = MakeCheck(kType, "    service: nftables.service\n");
  Result<std::vector<Observation>> captured = check->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("ruleset_sha256={};", kRulesetSha));
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "ruleset_sha256 is not pinned; pin it with `drift_exporter baseline capture`");
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

}  // namespace
}  // namespace drift::checks::firewall
