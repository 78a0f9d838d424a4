#include "exporter/state_file.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "checks/registry.h"
#include "exporter/module.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::exporter {
namespace {

using checks::CheckResult;
using checks::Severity;
using checks::Verdict;
using evidence::FsOp;
using evidence::testing::FaultyFs;
using evidence::testing::ReadText;
using evidence::testing::TempDir;
using evidence::testing::WriteText;
using std::chrono::milliseconds;
using std::chrono::seconds;

const WallTime kT0 = WallTime(seconds(1'722'513'600));  // 2024-08-01T12:00:00Z

std::shared_ptr<CheckSpec> Spec(const std::string& name, int threshold = 1,
                                std::string fingerprint = "f1") {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = name;
  spec->type = checks::FindCheckType("firewall");
  spec->severity = Severity::kCritical;
  spec->drift_threshold = threshold;
  spec->fingerprint = std::move(fingerprint);
  return spec;
}

CheckResult Drifted() {
  CheckResult r;
  r.verdict = Verdict::kDrifted;
  r.reason = "ruleset_changed: observed a, expected b";
  r.findings.push_back({"ruleset_changed", "a", "b", Severity::kNone});
  return r;
}

CheckResult Compliant() {
  CheckResult r;
  r.verdict = Verdict::kCompliant;
  r.reason = "ruleset matches";
  return r;
}

// A state after the runs given, one every 10 s from kT0 (plus 250.5 ms, to see the rounding).
CheckState Ran(std::shared_ptr<const CheckSpec> spec, std::vector<CheckResult> runs) {
  CheckState s;
  s.spec = std::move(spec);
  WallTime t = kT0 + milliseconds(250) + std::chrono::microseconds(500);
  for (CheckResult& r : runs) {
    s = Advance(s, std::move(r), t, 0.125);
    t += seconds(10);
  }
  return s;
}

SavedCheck DriftedFirewall() {
  SavedCheck c;
  c.name = "fw";
  c.type = "firewall";
  c.fingerprint = "f1";
  c.verdict = Verdict::kDrifted;
  c.reason = "ruleset_changed: observed a, expected b";
  c.known = true;
  c.drifted = true;
  c.drift_streak = 2;
  c.drift_since = kT0 + milliseconds(10'250);
  c.severity = Severity::kCritical;
  c.last_run = kT0 + milliseconds(20'250);
  c.duration_seconds = 0.125;
  return c;
}

// --- pure parts ------------------------------------------------------------------------------

TEST(SaveCheck, KeepsTheVerdictAndEpisodeToTheMillisecond) {
  CheckState s = Ran(Spec("fw"), {Compliant(), Drifted(), Drifted()});
  std::optional<SavedCheck> saved = SaveCheck(s);
  ASSERT_TRUE(saved);
  EXPECT_EQ(*saved, DriftedFirewall());
}

TEST(SaveCheck, NothingForACheckThatHasNotRun) {
  CheckState s;
  s.spec = Spec("fw");
  EXPECT_FALSE(SaveCheck(s));
}

TEST(StateFileText, EncodesEveryFieldAndDecodesToTheSame) {
  SavedCheck compliant;
  compliant.name = "ok";
  compliant.type = "file";
  compliant.fingerprint = "f2";
  compliant.verdict = Verdict::kCompliant;
  compliant.known = true;
  compliant.last_run = kT0;
  std::vector<SavedCheck> checks = {DriftedFirewall(), compliant};
  std::string text = EncodeStateFile(checks, kT0 + seconds(30));
  EXPECT_EQ(text, R"({
 "checks": [
  {
   "drift_since": "2024-08-01T12:00:10.250Z",
   "drift_streak": 2,
   "drifted": true,
   "duration_seconds": 0.125,
   "fingerprint": "f1",
   "known": true,
   "last_run": "2024-08-01T12:00:20.250Z",
   "name": "fw",
   "reason": "ruleset_changed: observed a, expected b",
   "severity": "critical",
   "type": "firewall",
   "verdict": "drifted"
  },
  {
   "drift_streak": 0,
   "drifted": false,
   "duration_seconds": 0.0,
   "fingerprint": "f2",
   "known": true,
   "last_run": "2024-08-01T12:00:00Z",
   "name": "ok",
   "reason": "",
   "severity": "none",
   "type": "file",
   "verdict": "compliant"
  }
 ],
 "saved_at": "2024-08-01T12:00:30Z",
 "version": 1
}
)");
  Result<std::vector<SavedCheck>> decoded = DecodeStateFile(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, checks);
}

TEST(StateFileText, InvalidUtf8InAReasonDoesNotLoseTheFile) {
  SavedCheck c = DriftedFirewall();
  c.reason = "bad \xff byte";
  Result<std::vector<SavedCheck>> decoded = DecodeStateFile(EncodeStateFile({&c, 1}, kT0));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ((*decoded)[0].reason, "bad \xef\xbf\xbd byte");
}

struct BadFile {
  std::string name;
  std::string text;
  std::string error;
};

class DecodeBadStateFile : public ::testing::TestWithParam<BadFile> {};

// A valid entry with `field` replaced (or removed when `value` is empty).
std::string With(const std::string& field, const std::string& value) {
  nlohmann::json entry = {{"name", "fw"},
                          {"type", "firewall"},
                          {"fingerprint", "f1"},
                          {"verdict", "drifted"},
                          {"reason", "r"},
                          {"known", true},
                          {"drifted", true},
                          {"drift_streak", 1},
                          {"drift_since", "2024-08-01T12:00:00Z"},
                          {"severity", "high"},
                          {"last_run", "2024-08-01T12:00:00Z"},
                          {"duration_seconds", 0.5}};
  if (value.empty()) {
    entry.erase(field);
  } else {
    entry[field] = nlohmann::json::parse(value);
  }
  return nlohmann::json({{"version", 1}, {"checks", {entry}}}).dump();
}

TEST_P(DecodeBadStateFile, SaysWhy) {
  Result<std::vector<SavedCheck>> r = DecodeStateFile(GetParam().text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    All, DecodeBadStateFile,
    ::testing::Values(
        BadFile{"truncated", R"({"version": 1, "checks": [)", "not valid JSON"},
        BadFile{"empty", "", "not valid JSON"},
        BadFile{"array", "[]", "expected a JSON object at the top level"},
        BadFile{"no_version", R"({"checks": []})", "no version: not a drift_exporter state file"},
        BadFile{"newer", R"({"version": 2, "checks": []})",
                "version 2 is not the version this exporter reads (1); written by a newer "
                "exporter"},
        BadFile{"older", R"({"version": 0, "checks": []})",
                "version 0 is not the version this exporter reads (1)"},
        BadFile{"checks_not_a_list", R"({"version": 1, "checks": {}})", "checks: expected a list"},
        BadFile{"entry_not_an_object", R"({"version": 1, "checks": [1]})",
                "checks[0]: expected an object"},
        BadFile{"no_name", With("name", ""), "checks[0].name: expected a string"},
        BadFile{"no_fingerprint", With("fingerprint", ""),
                "checks[0].fingerprint: expected a string"},
        BadFile{"bad_verdict", With("verdict", R"("fine")"),
                "checks[0].verdict: unknown verdict \"fine\""},
        BadFile{"known_not_bool", With("known", "1"), "checks[0].known: expected true or false"},
        BadFile{"negative_streak", With("drift_streak", "-1"),
                "checks[0].drift_streak: expected an integer from 0 to 1000000000"},
        BadFile{"no_drift_since", With("drift_since", ""),
                "checks[0].drift_since: expected a string"},
        BadFile{"bad_drift_since", With("drift_since", R"("yesterday")"),
                "checks[0].drift_since: invalid RFC 3339 timestamp \"yesterday\": expected "
                "YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or an offset like +02:00"},
        BadFile{"bad_severity", With("severity", R"("urgent")"),
                "checks[0].severity: expected one of low, medium, high, critical, got \"urgent\""},
        BadFile{"negative_duration", With("duration_seconds", "-1"),
                "checks[0].duration_seconds: expected a number of at least 0"},
        BadFile{"drifted_without_streak", With("drift_streak", "0"),
                "checks[0]: drifted without a verdict or a drift streak"},
        BadFile{"verdict_not_known", With("known", "false"),
                "checks[0]: drifted without a verdict or a drift streak"},
        BadFile{"twice",
                R"({"version": 1, "checks": [)" +
                    nlohmann::json::parse(With("reason", R"("a")"))["checks"][0].dump() + "," +
                    nlohmann::json::parse(With("reason", R"("b")"))["checks"][0].dump() + "]}",
                "checks[1].name: \"fw\" is saved twice"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(PlanRestore, RestoresOnlyChecksWithTheSameNameTypeAndFingerprint) {
  auto fw = Spec("fw");
  auto other_params = Spec("params_changed", 1, "f9");
  auto other_type = Spec("type_changed");
  other_type->type = checks::FindCheckType("file");
  auto disabled = Spec("disabled");
  disabled->enabled = false;
  std::vector<SavedCheck> saved;
  for (const char* name : {"fw", "params_changed", "type_changed", "disabled", "removed"}) {
    saved.push_back(DriftedFirewall());
    saved.back().name = name;
  }
  RestorePlan plan = PlanRestore(saved, {fw, other_params, other_type, disabled});
  ASSERT_EQ(plan.states.size(), 1u);
  EXPECT_EQ(plan.changed, (std::vector<std::string>{"params_changed", "type_changed"}));

  const CheckState& s = plan.states[0];
  EXPECT_EQ(s.spec, fw);
  EXPECT_TRUE(s.ran);
  EXPECT_EQ(s.runs, 0u) << "not a run of this process: /-/ready still waits for one";
  EXPECT_TRUE(s.known && s.success && s.drifted);
  EXPECT_EQ(s.drift_streak, 2);
  EXPECT_EQ(s.drift_since, kT0 + milliseconds(10'250));
  EXPECT_EQ(s.severity, Severity::kCritical);
  EXPECT_EQ(s.last_run, kT0 + milliseconds(20'250));
  EXPECT_EQ(s.result.verdict, Verdict::kDrifted);
  EXPECT_EQ(s.result.reason, "ruleset_changed: observed a, expected b");
}

TEST(PlanRestore, AnErrorKeepsTheLastKnownVerdict) {
  SavedCheck c = DriftedFirewall();
  c.verdict = Verdict::kError;
  c.reason = "nft: timed out";
  RestorePlan plan = PlanRestore({&c, 1}, {Spec("fw")});
  ASSERT_EQ(plan.states.size(), 1u);
  EXPECT_FALSE(plan.states[0].success);
  EXPECT_TRUE(plan.states[0].drifted);
  EXPECT_EQ(plan.states[0].Status(), CheckStatus::kError);
}

// The point of it all: a restored drift continues. The first run of the new process is not a
// transition (same status), keeps the episode's start and extends the streak.
TEST(PlanRestore, TheFirstRunAfterARestartContinuesTheEpisode) {
  auto spec = Spec("fw");
  CheckState before_restart = Ran(spec, {Compliant(), Drifted(), Drifted()});
  std::optional<SavedCheck> saved = SaveCheck(before_restart);
  ASSERT_TRUE(saved);
  Result<std::vector<SavedCheck>> decoded =
      DecodeStateFile(EncodeStateFile({&*saved, 1}, kT0 + seconds(25)));
  ASSERT_TRUE(decoded.ok());
  RestorePlan plan = PlanRestore(*decoded, {spec});
  ASSERT_EQ(plan.states.size(), 1u);
  const CheckState& restored = plan.states[0];

  CheckState after = Advance(restored, Drifted(), kT0 + seconds(3600), 0.1);
  EXPECT_EQ(restored.Status(), CheckStatus::kDrifted);
  EXPECT_EQ(after.Status(), CheckStatus::kDrifted);
  EXPECT_EQ(after.drift_since, kT0 + milliseconds(10'250)) << "the episode's start, not now";
  EXPECT_EQ(after.drift_streak, 3);
  EXPECT_EQ(after.runs, 1u);
  EXPECT_FALSE(NeedsSaving(restored, after));
}

TEST(NeedsSaving, StatusSeverityDriftStartAndStreakBelowTheThreshold) {
  auto spec = Spec("fw", 3);
  CheckState pending;
  pending.spec = spec;
  CheckState one = Ran(spec, {Drifted()});
  CheckState two = Ran(spec, {Drifted(), Drifted()});
  CheckState three = Ran(spec, {Drifted(), Drifted(), Drifted()});
  CheckState four = Ran(spec, {Drifted(), Drifted(), Drifted(), Drifted()});
  EXPECT_TRUE(NeedsSaving(pending, one)) << "first run";
  EXPECT_TRUE(NeedsSaving(one, two)) << "streak below the threshold";
  EXPECT_TRUE(NeedsSaving(two, three)) << "now drifted";
  EXPECT_FALSE(NeedsSaving(three, four)) << "a streak past the threshold changes nothing";
  CheckState compliant = Advance(four, Compliant(), kT0 + seconds(100), 0.1);
  EXPECT_TRUE(NeedsSaving(four, compliant));
  CheckState again = Advance(compliant, Compliant(), kT0 + seconds(110), 0.2);
  EXPECT_FALSE(NeedsSaving(compliant, again)) << "only the run time and duration changed";
  CheckState failed = Advance(again, CheckResult::Error("boom"), kT0 + seconds(120), 0.2);
  EXPECT_TRUE(NeedsSaving(again, failed));
}

TEST(ResolveStateDir, ConfiguredThenSystemdThenNone) {
  EXPECT_EQ(ResolveStateDir("/etc/x/state", "/var/lib/drift_exporter"), "/etc/x/state");
  EXPECT_EQ(ResolveStateDir("", "/var/lib/drift_exporter"), "/var/lib/drift_exporter");
  EXPECT_EQ(ResolveStateDir("", "/var/lib/a:/var/lib/b"), "/var/lib/a");
  EXPECT_EQ(ResolveStateDir("", nullptr), "");
  EXPECT_EQ(ResolveStateDir("", ""), "");
}

// --- the file on disk ---------------------------------------------------------------------------

class StateFileTest : public ::testing::Test {
 protected:
  std::string Dir() const { return tmp_ / "state"; }
  std::string File() const { return tmp_ / "state/check_state.json"; }

  // A StateFile on a FaultyFs (kept in fs_), writing at once after a change (no delay).
  std::unique_ptr<StateFile> Open() {
    auto fs = std::make_unique<FaultyFs>();
    fs_ = fs.get();
    return std::make_unique<StateFile>(Dir(), clock_, registry_, std::move(fs), milliseconds(0));
  }

  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  // The snapshot the file is written from.
  StateFile::SnapshotSource Source(std::vector<CheckState> states) {
    auto snap = std::make_shared<Snapshot>();
    for (CheckState& s : states) snap->checks.push_back(std::make_shared<CheckState>(s));
    return [snap] { return snap; };
  }

  TempDir tmp_;
  testing::FakeClock clock_{kT0};
  prometheus::Registry registry_;
  FaultyFs* fs_ = nullptr;
};

TEST_F(StateFileTest, CreatesItsDirectoryAndStartsEmpty) {
  std::unique_ptr<StateFile> file = Open();
  EXPECT_TRUE(std::filesystem::is_directory(Dir()));
  EXPECT_EQ(std::filesystem::status(Dir()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                std::filesystem::perms::group_exec);
  EXPECT_TRUE(file->Load().empty());
  EXPECT_NE(Metrics().find("drift_exporter_state_file_errors_total{operation=\"load\"} 0"),
            std::string::npos)
      << "no file yet is the first start, not an error";
  EXPECT_TRUE(std::filesystem::is_empty(Dir())) << "the writability probe leaves nothing";
}

TEST_F(StateFileTest, WritesOnStopAndTheNextProcessLoadsIt) {
  CheckState drifted = Ran(Spec("fw"), {Compliant(), Drifted(), Drifted()});
  CheckState pending;
  pending.spec = Spec("new");
  {
    std::unique_ptr<StateFile> file = Open();
    file->SetSource(Source({drifted, pending}));
    file->Start();
    clock_.Advance(seconds(30));
    file->Stop();
    EXPECT_NE(
        Metrics().find("drift_exporter_state_file_last_write_success_timestamp_seconds 1722513630"),
        std::string::npos)
        << Metrics();
  }
  EXPECT_FALSE(std::filesystem::exists(File() + ".tmp"));
  std::vector<SavedCheck> loaded = Open()->Load();
  ASSERT_EQ(loaded.size(), 1u) << "a check that has not run has nothing to keep";
  EXPECT_EQ(loaded[0], DriftedFirewall());
}

TEST_F(StateFileTest, FlushWritesOnlyAfterAChange) {
  std::unique_ptr<StateFile> file = Open();
  file->MarkDirty();
  EXPECT_TRUE(file->Flush().ok());
  EXPECT_EQ(fs_->calls(FsOp::kRename), 0) << "no source yet: nothing to write";
  file->SetSource(Source({Ran(Spec("fw"), {Drifted()})}));
  EXPECT_TRUE(file->Flush().ok());
  EXPECT_EQ(fs_->calls(FsOp::kRename), 0) << "nothing changed since: nothing written";
  file->MarkDirty();
  file->MarkDirty();
  EXPECT_TRUE(file->Flush().ok());
  EXPECT_EQ(fs_->calls(FsOp::kRename), 1) << "two changes, one write";
  EXPECT_TRUE(file->Flush().ok());
  EXPECT_EQ(fs_->calls(FsOp::kRename), 1);
  file->Stop();
  EXPECT_EQ(fs_->calls(FsOp::kRename), 2) << "the last write at shutdown";
  file->Stop();
  EXPECT_EQ(fs_->calls(FsOp::kRename), 2) << "once";
}

TEST_F(StateFileTest, KeepsTheSnapshotItWritesFromAlive) {
  // The source hands out a snapshot nobody else holds (the scheduler's render thread may replace
  // its own at any time): the write must keep it alive while it reads it. Under AddressSanitizer
  // a dangling read fails this test.
  std::unique_ptr<StateFile> file = Open();
  CheckState drifted = Ran(Spec("fw"), {Compliant(), Drifted(), Drifted()});
  file->SetSource([drifted] {
    auto snap = std::make_shared<Snapshot>();
    snap->checks.push_back(std::make_shared<CheckState>(drifted));
    return std::shared_ptr<const Snapshot>(std::move(snap));
  });
  file->MarkDirty();
  ASSERT_TRUE(file->Flush().ok());
  std::vector<SavedCheck> loaded = Open()->Load();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0], DriftedFirewall());
}

TEST_F(StateFileTest, ACorruptFileIsKeptAsideCountedAndIgnored) {
  std::filesystem::create_directories(Dir());
  WriteText(File(), R"({"version": 1, "checks": [{"name": "fw")");
  std::unique_ptr<StateFile> file = Open();
  EXPECT_TRUE(file->Load().empty());
  EXPECT_NE(Metrics().find("drift_exporter_state_file_errors_total{operation=\"load\"} 1"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(File()));
  EXPECT_EQ(ReadText(File() + ".bad"), R"({"version": 1, "checks": [{"name": "fw")");
}

TEST_F(StateFileTest, AFileOfANewerVersionIsNotGuessedAt) {
  std::filesystem::create_directories(Dir());
  WriteText(File(), R"({"version": 2, "checks": [], "more": "things"})");
  EXPECT_TRUE(Open()->Load().empty());
  EXPECT_NE(Metrics().find("drift_exporter_state_file_errors_total{operation=\"load\"} 1"),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(File() + ".bad"));
}

TEST_F(StateFileTest, AnUnreadableFileIsCountedAndIgnored) {
  std::unique_ptr<StateFile> file = Open();
  fs_->FailNext(FsOp::kRead, EIO);
  EXPECT_TRUE(file->Load().empty());
  EXPECT_NE(Metrics().find("drift_exporter_state_file_errors_total{operation=\"load\"} 1"),
            std::string::npos);
}

TEST_F(StateFileTest, AFileThatIsADirectoryIsCountedAndIgnored) {
  std::filesystem::create_directories(File());
  EXPECT_TRUE(Open()->Load().empty());
  EXPECT_NE(Metrics().find("drift_exporter_state_file_errors_total{operation=\"load\"} 1"),
            std::string::npos);
}

// Each step of a write failing: counted, the previous file intact, no temporary file left, and
// the next change writes again.
TEST_F(StateFileTest, AFailedWriteKeepsThePreviousFileAndTheNextChangeRetries) {
  std::unique_ptr<StateFile> file = Open();
  CheckState compliant = Ran(Spec("fw"), {Compliant()});
  CheckState drifted = Ran(Spec("fw"), {Compliant(), Drifted(), Drifted()});
  auto current = std::make_shared<std::shared_ptr<Snapshot>>(std::make_shared<Snapshot>());
  (*current)->checks.push_back(std::make_shared<CheckState>(compliant));
  file->SetSource([current] { return *current; });
  file->MarkDirty();
  ASSERT_TRUE(file->Flush().ok());
  const std::string good = ReadText(File());
  ASSERT_NE(good.find("\"verdict\": \"compliant\""), std::string::npos);

  auto next = std::make_shared<Snapshot>();
  next->checks.push_back(std::make_shared<CheckState>(drifted));
  *current = next;
  int failures = 0;
  for (FsOp op :
       {FsOp::kOpen, FsOp::kWrite, FsOp::kFsync, FsOp::kClose, FsOp::kRename, FsOp::kFsyncDir}) {
    SCOPED_TRACE(std::string(evidence::FsOpName(op)));
    fs_->FailNext(op, ENOSPC);
    file->MarkDirty();
    Status s = file->Flush();
    ASSERT_FALSE(s.ok());
    ++failures;
    EXPECT_NE(Metrics().find(fmt::format(
                  "drift_exporter_state_file_errors_total{{operation=\"write\"}} {}", failures)),
              std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(File() + ".tmp"));
    if (op != FsOp::kFsyncDir) {
      EXPECT_EQ(ReadText(File()), good);
    }
  }
  file->MarkDirty();
  EXPECT_TRUE(file->Flush().ok());
  EXPECT_NE(ReadText(File()).find("\"verdict\": \"drifted\""), std::string::npos);
  file->Stop();
}

TEST_F(StateFileTest, ASymlinkToADirectoryWillDo) {
  // systemd's StateDirectory= with DynamicUser=: /var/lib/<name> -> /var/lib/private/<name>.
  std::filesystem::create_directories(tmp_ / "private/state");
  std::filesystem::create_directory_symlink(tmp_ / "private/state", Dir());
  std::unique_ptr<StateFile> file = Open();
  file->SetSource(Source({Ran(Spec("fw"), {Drifted()})}));
  file->Stop();
  EXPECT_TRUE(std::filesystem::is_regular_file(tmp_ / "private/state/check_state.json"));
}

TEST_F(StateFileTest, ADirectoryThatCannotBeCreatedIsAStartupError) {
  WriteText(tmp_ / "not-a-dir", "x");
  EXPECT_THROW(StateFile((tmp_ / "not-a-dir/state"), clock_, registry_), StartupError);
}

TEST_F(StateFileTest, ADirectoryThatCannotBeWrittenIsAStartupError) {
  auto fs = std::make_unique<FaultyFs>();
  fs->FailAlways(FsOp::kOpen, EROFS);
  try {
    StateFile file(Dir(), clock_, registry_, std::move(fs));
    FAIL() << "no StartupError";
  } catch (const StartupError& e) {
    EXPECT_EQ(std::string(e.what()),
              "state_dir: " + Dir() + " is not writable: open: Read-only file system");
  }
}

}  // namespace
}  // namespace drift::exporter
