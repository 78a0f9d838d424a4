#include "common/rfc3339.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>

namespace drift {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted in 400-year eras of
// 146097 days, starting each year in March so that the leap day falls at the end of a year; this
// avoids timegm(), which depends on the process's locale and time zone state.
std::int64_t DaysFromCivil(std::int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;                            // [0, 399]
  const std::int64_t month_from_march = month > 2 ? month - 3 : month + 9;      // [0, 11]
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;  // [0, 365]
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // [0, 146096]
  return era * 146'097 + day_of_era - 719'468;  // 719468 = days from 0000-03-01 to 1970-01-01
}

struct CivilDate {
  std::int64_t year;
  int month;
  int day;
};

// The inverse of DaysFromCivil.
CivilDate CivilFromDays(std::int64_t days) {
  days += 719'468;
  const std::int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const std::int64_t day_of_era = days - era * 146'097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t month_from_march = (5 * day_of_year + 2) / 153;
  const auto day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const auto month =
      static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

bool IsLeapYear(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Reads exactly `width` decimal digits at `pos`, or returns -1.
int Digits(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos + width > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// The input quoted for messages; timestamps come from files other programs write, so a long or
// hostile value is cut short.
std::string Quote(std::string_view text) {
  if (text.size() > 64) return fmt::format("{:?}...", text.substr(0, 64));
  return fmt::format("{:?}", text);
}

}  // namespace

Result<WallTime> ParseRfc3339(std::string_view text) {
  auto fail = [&](std::string_view why) -> Error {
    return Err("invalid RFC 3339 timestamp {}: {}", Quote(text), why);
  };
  static constexpr std::string_view kShape =
      "expected YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or an offset like +02:00";
  // "YYYY-MM-DDTHH:MM:SS" is 19 characters at fixed positions.
  const int year = Digits(text, 0, 4);
  const int month = Digits(text, 5, 2);
  const int day = Digits(text, 8, 2);
  const int hour = Digits(text, 11, 2);
  const int minute = Digits(text, 14, 2);
  const int second = Digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || text[4] != '-' ||
      text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return fail(kShape);
  }
  if (month < 1 || month > 12) return fail(fmt::format("month {} out of range", month));
  if (day < 1 || day > DaysInMonth(year, month)) {
    return fail(fmt::format("day {} out of range for {:04}-{:02}", day, year, month));
  }
  if (hour > 23) return fail(fmt::format("hour {} out of range", hour));
  if (minute > 59) return fail(fmt::format("minute {} out of range", minute));
  if (second > 59) return fail(fmt::format("second {} out of range", second));

  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) nanos = nanos * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return fail("expected digits after the decimal point");
    for (std::size_t i = digits; i < 9; ++i) nanos *= 10;
  }

  if (pos >= text.size()) return fail("missing time zone; expected Z or an offset like +02:00");
  std::int64_t offset_seconds = 0;
  const char zone = text[pos];
  if (zone == 'Z' || zone == 'z') {
    ++pos;
  } else if (zone == '+' || zone == '-') {
    const int offset_hour = Digits(text, pos + 1, 2);
    const int offset_minute = Digits(text, pos + 4, 2);
    if (offset_hour < 0 || offset_minute < 0 || text[pos + 3] != ':') {
      return fail("expected a time zone offset like +02:00");
    }
    if (offset_hour > 23 || offset_minute > 59) return fail("time zone offset out of range");
    offset_seconds = (offset_hour * 3600 + offset_minute * 60) * (zone == '-' ? -1 : 1);
    pos += 6;
  } else {
    return fail("missing time zone; expected Z or an offset like +02:00");
  }
  if (pos != text.size()) {
    return fail(fmt::format("unexpected {} after the time zone", Quote(text.substr(pos))));
  }

  // Local time minus its offset is UTC.
  const std::int64_t epoch_seconds = DaysFromCivil(year, month, day) * kSecondsPerDay +
                                     hour * 3600 + minute * 60 + second - offset_seconds;
  using std::chrono::duration_cast;
  // WallTime may count nanoseconds in 64 bits (years 1678 to 2261); stay a second inside.
  const std::int64_t max_seconds =
      duration_cast<std::chrono::seconds>(WallTime::max().time_since_epoch()).count() - 1;
  const std::int64_t min_seconds =
      duration_cast<std::chrono::seconds>(WallTime::min().time_since_epoch()).count() + 1;
  if (epoch_seconds > max_seconds || epoch_seconds < min_seconds) {
    return fail("outside the range of times this system can represent");
  }
  return WallTime(duration_cast<WallTime::duration>(std::chrono::seconds(epoch_seconds)) +
                  duration_cast<WallTime::duration>(std::chrono::nanoseconds(nanos)));
}

std::string FormatRfc3339(WallTime t) {
  const std::int64_t ms =
      std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  constexpr std::int64_t kMsPerDay = kSecondsPerDay * 1000;
  std::int64_t days = ms / kMsPerDay;
  std::int64_t ms_of_day = ms % kMsPerDay;
  if (ms_of_day < 0) {  // before 1970: round the day down, keep the time of day positive
    ms_of_day += kMsPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  const std::int64_t second_of_day = ms_of_day / 1000;
  const std::int64_t millis = ms_of_day % 1000;
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", date.year, date.month, date.day,
                  second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
  if (millis != 0) out += fmt::format(".{:03}", millis);
  out += 'Z';
  return out;
}

}  // namespace drift
