#pragma once

#include <cstdio>
#include <cstdlib>

namespace drift::fuzz {

// A property every input must keep. Aborts (a finding for libFuzzer, a failed replay) with
// `what` when it does not hold.
inline void Expect(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

}  // namespace drift::fuzz
