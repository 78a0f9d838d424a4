#include "common/webhook_message.h"

#include <fmt/format.h>

namespace drift {

std::string_view AlertStatusName(AlertStatus status) {
  return status == AlertStatus::kFiring ? "firing" : "resolved";
}

std::string AlertmanagerFingerprint(const Labels& labels) {
  constexpr std::uint64_t kOffset = 14695981039346656037ULL;
  constexpr std::uint64_t kPrime = 1099511628211ULL;
  std::uint64_t hash = kOffset;
  auto add = [&hash](std::string_view bytes) {
    for (char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kPrime;
    }
    hash ^= 0xffU;
    hash *= kPrime;
  };
  for (const auto& [name, value] : labels) {  // std::map: sorted by name
    add(name);
    add(value);
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace drift
