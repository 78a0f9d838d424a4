#pragma once

#include "checks/check.h"

// av_edr: the antivirus/EDR agent's service is active and its binary is the one the baseline
// pins (SHA-256). A hash mismatch is critical and never auto-healed: a swapped agent binary is a
// security incident, not a restart.
namespace drift::checks::av_edr {

extern const CheckType kType;

}  // namespace drift::checks::av_edr
