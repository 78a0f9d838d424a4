#include "healing/window.h"

#include <date/tz.h>
#include <fmt/format.h>

#include <array>
#include <exception>

namespace drift::healing {
namespace {

constexpr std::array<std::string_view, 7> kWeekdays = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

}  // namespace

std::optional<unsigned> ParseWeekday(std::string_view name) {
  for (std::size_t i = 0; i < kWeekdays.size(); ++i) {
    if (kWeekdays[i] == name) return 1U << i;
  }
  return std::nullopt;
}

Result<MaintenanceWindow> MaintenanceWindow::Make(std::string name, unsigned days,
                                                  std::chrono::minutes start,
                                                  std::chrono::minutes duration,
                                                  std::string_view time_zone) {
  using std::chrono::hours;
  if (days == 0 || days >= (1U << 7)) return Err("expected at least one day, mon to sun");
  if (start < std::chrono::minutes(0) || start >= hours(24)) {
    return Err("the start must be a time of day, 00:00 to 23:59");
  }
  if (duration <= std::chrono::minutes(0) || duration > hours(24 * 7)) {
    return Err("the duration must be more than 0 and at most a week (168h)");
  }
  MaintenanceWindow w;
  try {
    w.zone_ = date::locate_zone(time_zone);
  } catch (const std::exception& e) {
    return Err(
        "unknown time zone {:?} (expected an IANA name such as \"Europe/Berlin\" or "
        "\"UTC\", from the system's time zone database)",
        time_zone);
  }
  w.name_ = std::move(name);
  w.days_ = days;
  w.start_ = start;
  w.duration_ = duration;
  return w;
}

std::optional<std::pair<WallTime, WallTime>> MaintenanceWindow::OccurrenceOn(
    std::chrono::sys_days local_day) const {
  const date::local_days day{local_day.time_since_epoch()};
  const unsigned weekday = date::weekday(day).iso_encoding();  // Monday = 1
  if ((days_ & (1U << (weekday - 1))) == 0) return std::nullopt;
  // Skipped local times start at the change; repeated ones the first time.
  const auto start = zone_->to_sys(day + start_, date::choose::earliest);
  const WallTime begin = std::chrono::time_point_cast<WallTime::duration>(start);
  return std::pair{begin, begin + duration_};
}

bool MaintenanceWindow::Contains(WallTime t) const {
  const auto local = zone_->to_local(std::chrono::time_point_cast<std::chrono::seconds>(t));
  const auto today = std::chrono::floor<date::days>(local);
  // An occurrence lasts at most a week, so one holding `t` started within the last seven days.
  for (int back = 0; back <= 7; ++back) {
    const std::chrono::sys_days day{(today - date::days(back)).time_since_epoch()};
    if (auto occurrence = OccurrenceOn(day)) {
      if (occurrence->first <= t && t < occurrence->second) return true;
    }
  }
  return false;
}

WallTime MaintenanceWindow::NextStart(WallTime t) const {
  const auto local = zone_->to_local(std::chrono::time_point_cast<std::chrono::seconds>(t));
  const auto today = std::chrono::floor<date::days>(local);
  for (int ahead = 0; ahead <= 8; ++ahead) {
    const std::chrono::sys_days day{(today + date::days(ahead)).time_since_epoch()};
    if (auto occurrence = OccurrenceOn(day); occurrence && occurrence->first > t) {
      return occurrence->first;
    }
  }
  return t;  // unreachable: some day of every week is in days_
}

std::string MaintenanceWindow::Describe() const {
  std::string days;
  for (std::size_t i = 0; i < kWeekdays.size(); ++i) {
    if ((days_ & (1U << i)) == 0) continue;
    if (!days.empty()) days += ',';
    days += kWeekdays[i];
  }
  const auto h = std::chrono::duration_cast<std::chrono::hours>(start_);
  const auto d = std::chrono::duration_cast<std::chrono::hours>(duration_);
  std::string length = fmt::format("{}h", d.count());
  if (duration_ != d) length = fmt::format("{}m", duration_.count());
  return fmt::format("{} {:02}:{:02}+{} {}", days, h.count(), (start_ - h).count(), length,
                     zone_->name());
}

bool MaintenanceWindow::operator==(const MaintenanceWindow& o) const {
  return name_ == o.name_ && days_ == o.days_ && start_ == o.start_ && duration_ == o.duration_ &&
         zone_ == o.zone_;
}

}  // namespace drift::healing
