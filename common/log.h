#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace drift::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kLogfmt, kJson };

// One key=value pair of a structured log line.
struct Field {
  std::string_view key;
  std::string value;
  bool quoted_in_json = true;  // false for numbers and booleans

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted_in_json(false) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N v) : key(k), value(std::to_string(v)), quoted_in_json(false) {}
};

// Process-wide logging to stderr, like the Go exporters' slog default: ts, level, msg, then
// fields, one line per call, written with a single write(2) so concurrent lines never interleave.
// Configure once at start-up; Log() is thread-safe.
void Configure(Level level, Format format);
Level ParseLevelOr(std::string_view name, Level fallback);
// For tests: every line goes to `sink` instead of stderr (nullptr restores stderr).
void SetSinkForTesting(std::function<void(std::string_view line)> sink);

bool Enabled(Level level);
void Log(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Log(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) {
  Log(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  Log(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) {
  Log(Level::kError, msg, f);
}

}  // namespace drift::log
