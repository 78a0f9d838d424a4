// Must not compile: alerts/ and evidence/ know nothing of each other.
#include "alerts/alert.h"

// The forbidden include:
#include "evidence/record.h"
