#include "exporter/version.h"

#include "exporter_revision.h"

namespace drift::exporter {

const char* const kVersion = DRIFT_VERSION;
const char* const kRevision = DRIFT_REVISION;
const char* const kCompiler = DRIFT_COMPILER;

}  // namespace drift::exporter
