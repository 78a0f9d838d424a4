#pragma once

namespace drift::exporter {

// Set by CMake at configure time (exporter/CMakeLists.txt).
inline constexpr const char* kVersion = DRIFT_VERSION;
inline constexpr const char* kRevision = DRIFT_REVISION;
inline constexpr const char* kCompiler = DRIFT_COMPILER;

}  // namespace drift::exporter
