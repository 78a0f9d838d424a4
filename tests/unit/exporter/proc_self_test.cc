#include "exporter/proc_self.h"

#include <gtest/gtest.h>

namespace drift::exporter {
namespace {

// A real line of /proc/<pid>/stat (Linux 6.1), with a command name that holds a space and a ')'.
constexpr std::string_view kStat =
    "4242 (drift exp)orter) S 1 4242 4242 0 -1 4194560 12345 0 7 0 1234 567 0 0 30 10 9 0 "
    "98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ParseProcStat, ReadsTheFieldsAfterTheLastParenthesis) {
  Result<ProcStat> s = ParseProcStat(kStat);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->utime_ticks, 1234u);
  EXPECT_EQ(s->stime_ticks, 567u);
  EXPECT_EQ(s->start_time_ticks, 98765u);
  EXPECT_EQ(s->vsize_bytes, 123456789u);
  EXPECT_EQ(s->rss_pages, 2048);
}

TEST(ParseProcStat, RejectsWhatIsNotAStatLine) {
  EXPECT_EQ(ParseProcStat("").error().message, "no ')' after the command name");
  EXPECT_EQ(ParseProcStat("1 (x) S 1 2 3").error().message, "field 7 missing");
  EXPECT_EQ(ParseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 2 0 0 20 0 1 0 5 6 7").error().message,
            "field 14: not a number: \"ten\"");
}

TEST(ParseBootTime, FindsTheBtimeLine) {
  constexpr std::string_view kProcStat =
      "cpu  10 0 20 300 0 0 0 0 0 0\n"
      "cpu0 10 0 20 300 0 0 0 0 0 0\n"
      "intr 12345 0 0 0\n"
      "ctxt 999\n"
      "btime 1700000000\n"
      "processes 4242\n";
  Result<std::int64_t> btime = ParseBootTime(kProcStat);
  ASSERT_TRUE(btime.ok()) << btime.error().message;
  EXPECT_EQ(*btime, 1'700'000'000);
}

TEST(ParseBootTime, SaysWhatIsMissing) {
  EXPECT_EQ(ParseBootTime("cpu 1 2 3\nctxt 9\n").error().message, "no btime line");
  EXPECT_EQ(ParseBootTime("btime soon\n").error().message, "btime: not a number: \"soon\"");
}

// The I/O half on this very process: sane values, not exact ones.
TEST(ReadProcSelf, ReadsThisProcess) {
  Result<ProcSelf> self = ReadProcSelf();
  ASSERT_TRUE(self.ok()) << self.error().message;
  EXPECT_GT(self->virtual_memory_bytes, 0);
  EXPECT_GT(self->resident_memory_bytes, 0);
  EXPECT_GE(self->open_fds, 3);
  EXPECT_GE(self->max_fds, self->open_fds);
  EXPECT_GT(ReadProcessStartTime(), 1'500'000'000);
}

}  // namespace
}  // namespace drift::exporter
