#include "checks/registry.h"

#include <array>

#include "checks/types/av_edr.h"
#include "checks/types/backup.h"
#include "checks/types/encryption.h"
#include "checks/types/file.h"
#include "checks/types/firewall.h"
#include "checks/types/logging.h"
#include "checks/types/patching.h"

namespace drift::checks {
namespace {

// One line per check type.
constexpr std::array<const CheckType*, 7> kTypes{
    &patching::kType, &av_edr::kType,     &backup::kType, &logging::kType,
    &firewall::kType, &encryption::kType, &file::kType,
};

}  // namespace

std::span<const CheckType* const> AllCheckTypes() { return kTypes; }

const CheckType* FindCheckType(std::string_view name) {
  for (const CheckType* t : kTypes) {
    if (t->name == name) return t;
  }
  return nullptr;
}

}  // namespace drift::checks
