#pragma once

#include <string>

namespace drift {

// This machine's name as gethostname() gives it (often the short name), "localhost" when it
// gives none. Thread-safe.
std::string HostName();

}  // namespace drift
