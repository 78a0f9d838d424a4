#include "checks/types/firewall.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checks/rooted_fs.h"
#include "tests/support/fakes.h"

namespace drift::checks::firewall {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

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

std::string Str(const Finding& f) {
  return fmt::format("{} | {} | {} | {}", f.cause, f.observed, f.expected,
                     SeverityName(f.severity));
}

std::string Str(const std::vector<Observation>& obs) {
  std::string out;
  for (const Observation& o : obs) out += fmt::format("{}={};", o.key, o.value);
  return out;
}

std::string Str(const Result<NftRulesetSummary>& r) {
  if (!r.ok()) return "error: " + r.error().message;
  return fmt::format("{}/{}/{}", r->tables, r->chains, r->rules);
}

CheckPtr Make(std::string_view params) {
  ConfigNode root = ConfigNode::Parse(
      fmt::format("checks:\n- name: fw\n  type: firewall\n  params:\n{}", params), "drift.yml");
  ConfigNode check = root.Child("checks").Items()[0];
  return kType.create(Params(check, check.Find("params"), std::nullopt));
}

std::string FactoryError(std::string_view params) {
  try {
    Make(params);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

CheckPtr MakeWithBaseline(std::string_view sha = kRulesetSha) {
  return Make(fmt::format("    ruleset_sha256: {}\n", sha));
}

class FirewallTest : public ::testing::Test {
 protected:
  FirewallTest() {
    services_.Set("nftables.service", "active");
    commands_.Script(std::string(kNft), 0, std::string(kRuleset));
  }
  Host host() const { return Host{fs_, commands_, services_, journal_, clock_}; }
  static Deadline Later() { return steady_clock::now() + seconds(10); }

  testing::FakeClock clock_;
  RootedFileSystem fs_{std::string(DRIFT_FIXTURES_DIR) + "/hosts"};
  testing::FakeCommandRunner commands_;
  testing::FakeServiceManager services_;
  testing::FakeJournal journal_{clock_};
};

TEST(FirewallType, Metadata) {
  EXPECT_EQ(kType.name, "firewall");
  EXPECT_EQ(kType.default_severity, Severity::kCritical);
  ASSERT_EQ(kType.default_controls.size(), 2u);
  EXPECT_EQ(kType.default_controls[0].framework, "hipaa");
  EXPECT_EQ(kType.default_controls[0].id, "164.312(a)(1)");
  EXPECT_EQ(kType.default_controls[1].framework, "hipaa");
  EXPECT_EQ(kType.default_controls[1].id, "164.312(e)(1)");
  EXPECT_EQ(kType.default_action, "restore_firewall_baseline");
  ASSERT_EQ(kType.measures.size(), 1u);
  EXPECT_EQ(kType.measures[0].name, "drift_firewall_rules");
  EXPECT_FALSE(kType.measures[0].help.empty());
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
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason, "nftables.service is active and the ruleset matches its baseline SHA-256");
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;tables=2;chains=4;rules=7;ruleset_sha256={};",
                        kRulesetSha));
  ASSERT_EQ(r.measures.size(), 1u);
  EXPECT_EQ(r.measures[0].name, "drift_firewall_rules");
  EXPECT_EQ(r.measures[0].value, 7.0);
  EXPECT_EQ(commands_.commands_ran(),
            (std::vector<std::vector<std::string>>{{"nft", "-s", "list", "ruleset"}}));
}

TEST_F(FirewallTest, ChangedRulesetIsDrift) {
  commands_.Script(std::string(kNft), 0, ChangedRuleset());
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
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
  commands_.Script(std::string(kNft), 0, "");
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            fmt::format("ruleset_hash_mismatch | {} | {} | none", kEmptySha, kRulesetSha));
  EXPECT_EQ(
      Str(r.observations),
      fmt::format("service_state=active;tables=0;chains=0;rules=0;ruleset_sha256={};", kEmptySha));
}

TEST_F(FirewallTest, InactiveServiceIsDrift) {
  services_.Set("nftables.service", "inactive");
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "service_inactive: observed inactive, expected active");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | inactive | active | none");
}

TEST_F(FirewallTest, ConfiguredServiceIsQueried) {
  services_.Set("firewalld.service", "failed");
  CheckResult r =
      Make(fmt::format("    service: firewalld.service\n    ruleset_sha256: {}\n", kRulesetSha))
          ->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | none");
}

TEST_F(FirewallTest, ParseFailureIsNotedButTheHashDecides) {
  commands_.Script(std::string(kNft), 0, "table inet filter {\n");
  CheckResult r = MakeWithBaseline(ToHex(Sha256Of("table inet filter {\n")))->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_TRUE(r.measures.empty());
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;ruleset_summary=unknown: unbalanced braces: 1 "
                        "block(s) still open at the end of the listing;ruleset_sha256={};",
                        ToHex(Sha256Of("table inet filter {\n"))));
}

TEST_F(FirewallTest, ServiceQueryFailureIsAnError) {
  testing::FakeServiceManager none;
  CheckResult r = MakeWithBaseline()->Run(Host{fs_, commands_, none, journal_, clock_}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of nftables.service: systemctl: cannot query nftables.service");
}

TEST_F(FirewallTest, MissingNftIsAnError) {
  testing::FakeCommandRunner no_nft;
  CheckResult r = MakeWithBaseline()->Run(Host{fs_, no_nft, services_, journal_, clock_}, Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot run nft: nft -s list ruleset: command not found (unscripted)");
}

TEST_F(FirewallTest, NonZeroExitIsAnErrorWithStderr) {
  commands_.Script(std::string(kNft), 1, "",
                   "Error: syntax error, unexpected junk\nlist ruleset\n^^^^^\n");
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset exited with status 1: Error: syntax error, unexpected junk; list "
            "ruleset; ^^^^^");
}

TEST_F(FirewallTest, PermissionDeniedNamesTheCapability) {
  commands_.Script(std::string(kNft), 1, "",
                   "netlink: Error: cache initialization failed: Operation not permitted\n");
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset exited with status 1: netlink: Error: cache initialization "
            "failed: Operation not permitted (reading the ruleset needs CAP_NET_ADMIN; grant it "
            "to the exporter's unit)");
}

TEST_F(FirewallTest, KilledBySignalIsAnError) {
  CommandOutput killed;
  killed.exit_code = -1;
  killed.signal = 9;
  commands_.Script(std::string(kNft), killed);
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft -s list ruleset was killed by signal 9");
}

TEST_F(FirewallTest, TimeoutIsAnError) {
  CommandOutput slow;
  slow.exit_code = -1;
  slow.signal = 9;
  slow.timed_out = true;
  commands_.Script(std::string(kNft), slow);
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "nft -s list ruleset did not finish in time and was killed");
}

TEST_F(FirewallTest, TruncatedOutputIsAnError) {
  CommandOutput big;
  big.exit_code = 0;
  big.out = std::string(kRuleset);
  big.truncated = true;
  commands_.Script(std::string(kNft), big);
  CheckResult r = MakeWithBaseline()->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "nft -s list ruleset printed more than 1048576 bytes; the ruleset was not hashed");
}

TEST_F(FirewallTest, KnownDriftStandsWhenNftFails) {
  services_.Set("nftables.service", "failed");
  testing::FakeCommandRunner no_nft;
  CheckResult r = MakeWithBaseline()->Run(Host{fs_, no_nft, services_, journal_, clock_}, Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | none");
  EXPECT_EQ(Str(r.observations),
            "service_state=failed;ruleset_sha256=unknown: cannot run nft: nft -s list ruleset: "
            "command not found (unscripted);");
}

TEST_F(FirewallTest, CaptureReturnsTheCurrentHash) {
  commands_.Script(std::string(kNft), 0, ChangedRuleset());
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("ruleset_sha256={};", kChangedSha));
}

TEST_F(FirewallTest, CaptureFailsWhenNftFails) {
  commands_.Script(std::string(kNft), 1, "", "Error: Operation not permitted\n");
  Result<std::vector<Observation>> captured = MakeWithBaseline()->Capture(host(), Later());
  ASSERT_FALSE(captured.ok());
  EXPECT_EQ(captured.error().message,
            "nft -s list ruleset exited with status 1: Error: Operation not permitted (reading "
            "the ruleset needs CAP_NET_ADMIN; grant it to the exporter's unit)");
}

// The loader requires pinned keys; the factory leaves them optional for `baseline capture`.
TEST_F(FirewallTest, UnpinnedCheckCapturesButDoesNotRun) {
  EXPECT_EQ(kType.pinned_keys.size(), 1u);
  EXPECT_EQ(kType.pinned_keys[0], "ruleset_sha256");
  CheckPtr check = Make("    service: nftables.service\n");
  Result<std::vector<Observation>> captured = check->Capture(host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("ruleset_sha256={};", kRulesetSha));
  CheckResult r = check->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "ruleset_sha256 is not pinned; pin it with `drift_exporter baseline capture`");
}

TEST(FirewallFactory, RejectsBadParams) {
  struct Case {
    std::string params;
    std::string error;
  };
  const std::vector<Case> cases = {
      {fmt::format("    service: .nftables\n    ruleset_sha256: {}\n", kRulesetSha),
       "drift.yml:5:14: checks[0].params.service: expected a systemd unit name like "
       "nftables.service"},
      {fmt::format("    service: [nftables.service]\n    ruleset_sha256: {}\n", kRulesetSha),
       "drift.yml:5:14: checks[0].params.service: expected a string, got a list"},
      {"    ruleset_sha256: " + std::string(kRulesetSha.substr(1)) + "g\n",
       "drift.yml:5:21: checks[0].params.ruleset_sha256: expected a SHA-256 as 64 hex digits, "
       "found 'g' at position 64"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FactoryError(c.params), c.error) << c.params;
  }
}

}  // namespace
}  // namespace drift::checks::firewall
