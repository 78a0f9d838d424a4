#pragma once

// Helpers for tests of strict configuration reading.

#include <functional>
#include <string>

#include "common/config_node.h"

namespace drift::testing {

// The message of the ConfigError that `f` throws, or "no error" when it throws none, so that a
// test compares the whole "file:line:col: key: what" message with one EXPECT_EQ.
inline std::string ConfigErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace drift::testing
