// Must not compile: checks/ knows nothing of the exporter (tests/layering/CMakeLists.txt).
#include "checks/check.h"

// The forbidden include:
#include "exporter/app.h"
