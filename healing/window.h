#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace drift::healing {

// A weekly maintenance window: on each of `days`, from `start` (local time in `time_zone`) for
// `duration`. A window may run past midnight (Saturday 22:00 for 6h ends Sunday 04:00). Local
// times that a daylight-saving change skips start at the change; ones it repeats start the
// first time. Immutable; thread-safe.
class MaintenanceWindow {
 public:
  // `days`: bit 0 = Monday ... bit 6 = Sunday. `start`: time of day, under 24h. `duration`:
  // more than zero, at most a week. `time_zone`: an IANA name ("Europe/Berlin", "UTC") looked up
  // in the system's time zone database. Error: an unknown time zone, or values out of range.
  static Result<MaintenanceWindow> Make(std::string name, unsigned days, std::chrono::minutes start,
                                        std::chrono::minutes duration, std::string_view time_zone);

  const std::string& name() const { return name_; }
  // Whether `t` falls inside an occurrence of the window.
  bool Contains(WallTime t) const;
  // The start of the first occurrence that begins after `t` (for "deferred until").
  WallTime NextStart(WallTime t) const;
  // "sat,sun 02:00+4h Europe/Berlin", for logs and evidence.
  std::string Describe() const;

  bool operator==(const MaintenanceWindow& o) const;

 private:
  MaintenanceWindow() = default;
  // The occurrence (start, end) that starts on the local day of `local_day` if that weekday is
  // one of days_, in UTC.
  std::optional<std::pair<WallTime, WallTime>> OccurrenceOn(std::chrono::sys_days local_day) const;

  std::string name_;
  unsigned days_ = 0;
  std::chrono::minutes start_{0};
  std::chrono::minutes duration_{0};
  const date::time_zone* zone_ = nullptr;  // owned by the time zone database, lives for ever
};

// "mon".."sun" to a bit of MaintenanceWindow's days (bit 0 = Monday), or nullopt. Pure.
std::optional<unsigned> ParseWeekday(std::string_view name);

}  // namespace drift::healing
