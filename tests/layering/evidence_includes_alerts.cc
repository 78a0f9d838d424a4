// Must not compile: evidence/ and alerts/ know nothing of each other.
#include "evidence/record.h"

// The forbidden include:
#include "alerts/alert.h"
