#include "common/duration.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

namespace drift {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};

// Longest suffix first so that "ms" is not read as "m".
constexpr std::array<Unit, 6> kUnits{{{"ms", 1},
                                      {"s", 1000},
                                      {"m", 60'000},
                                      {"h", 3'600'000},
                                      {"d", 86'400'000},
                                      {"w", 604'800'000}}};

int Rank(std::int64_t ms) {  // larger unit = higher rank, for the ordering rule
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    if (kUnits[i].ms == ms) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Err("empty duration; expected e.g. 30s, 5m, 1h30m");
  if (text.front() == '-') return Err("negative duration {:?}; expected a positive duration", text);
  std::int64_t total = 0;
  int last_rank = std::numeric_limits<int>::max();
  std::string_view rest = text;
  while (!rest.empty()) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc() || end == rest.data()) {
      return Err("invalid duration {:?}; expected e.g. 30s, 5m, 1h30m", text);
    }
    rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (rest.starts_with(u.suffix) && (u.suffix != "m" || !rest.starts_with("ms"))) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      return Err("invalid duration {:?}; units are ms, s, m, h, d, w (e.g. 30s, 1h30m)", text);
    }
    rest.remove_prefix(unit->suffix.size());
    int rank = Rank(unit->ms);
    if (rank >= last_rank) {
      return Err("invalid duration {:?}; units must go from largest to smallest", text);
    }
    last_rank = rank;
    if (n > (std::numeric_limits<std::int64_t>::max() - total) / unit->ms) {
      return Err("duration {:?} is too long", text);
    }
    total += n * unit->ms;
  }
  if (total == 0) return Err("zero duration {:?}; expected a positive duration", text);
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    // Weeks are rare in practice and read badly ("1w3d"); stop at days.
    if (it->suffix == "w") continue;
    if (ms >= it->ms) {
      out += std::to_string(ms / it->ms);
      out += it->suffix;
      ms %= it->ms;
    }
  }
  return out;
}

}  // namespace drift
