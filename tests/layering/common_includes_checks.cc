// Must not compile: common/ is below every other library.
#include "common/result.h"

// The forbidden include:
#include "checks/check.h"
