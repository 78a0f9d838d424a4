#include "checks/registry.h"

#include <array>

namespace drift::checks {
namespace {

// One line per check type.
constexpr std::array<const CheckType*, 0> kTypes{};

}  // namespace

std::span<const CheckType* const> AllCheckTypes() { return kTypes; }

const CheckType* FindCheckType(std::string_view name) {
  for (const CheckType* t : kTypes) {
    if (t->name == name) return t;
  }
  return nullptr;
}

}  // namespace drift::checks
