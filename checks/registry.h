#pragma once

#include <span>
#include <string_view>

#include "checks/check.h"

namespace drift::checks {

// Every check type, in an explicit table (checks/registry.cc): adding a type is one file in
// checks/types/ and one line there.
std::span<const CheckType* const> AllCheckTypes();
// nullptr when there is no such type.
const CheckType* FindCheckType(std::string_view name);

}  // namespace drift::checks
