// Must compile: the exporter sees every library (the control for the tests that must not).
#include "alerts/alert.h"
#include "checks/check.h"
#include "common/result.h"
#include "evidence/record.h"
#include "exporter/app.h"
#include "healing/healer.h"
