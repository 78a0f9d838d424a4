#pragma once

namespace drift::exporter {

// The project's version (CMake's project(VERSION)), the source revision it was built from (found
// at build time: exporter/revision.cmake) and the compiler; version.cc.
extern const char* const kVersion;
extern const char* const kRevision;
extern const char* const kCompiler;

}  // namespace drift::exporter
