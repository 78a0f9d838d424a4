#pragma once

#include "checks/check.h"

// File integrity: a file's content (SHA-256), mode and owner against the baseline, e.g.
// /etc/ssh/sshd_config or /etc/sudoers.
namespace drift::checks::file {

extern const CheckType kType;

}  // namespace drift::checks::file
