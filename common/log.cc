#include "common/log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>

namespace drift::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kLogfmt};
std::mutex g_sink_mu;
std::function<void(std::string_view)> g_sink;  // guarded by g_sink_mu

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f) {
      return true;
    }
  }
  return false;
}

// Escapes for both logfmt's quoted values and JSON strings: the two agree on \" \\ \n \t \uXXXX.
void AppendEscaped(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
}

void AppendLogfmt(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  if (NeedsQuotes(value)) {
    out += '"';
    AppendEscaped(out, value);
    out += '"';
  } else {
    out += value;
  }
}

void AppendJson(std::string& out, std::string_view key, std::string_view value, bool quoted) {
  out += out.size() > 1 ? ",\"" : "\"";
  AppendEscaped(out, key);
  out += "\":";
  if (quoted) {
    out += '"';
    AppendEscaped(out, value);
    out += '"';
  } else {
    out += value;
  }
}

}  // namespace

void Configure(Level level, Format format) {
  g_level.store(level);
  g_format.store(format);
}

Level ParseLevelOr(std::string_view name, Level fallback) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (LevelName(l) == name) return l;
  }
  return fallback;
}

void SetSinkForTesting(std::function<void(std::string_view)> sink) {
  std::lock_guard lock(g_sink_mu);
  g_sink = std::move(sink);
}

bool Enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void Log(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string ts = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
  std::string line;
  line.reserve(128);
  if (g_format.load() == Format::kJson) {
    line += '{';
    AppendJson(line, "ts", ts, true);
    AppendJson(line, "level", LevelName(level), true);
    AppendJson(line, "msg", msg, true);
    for (const Field& f : fields) AppendJson(line, f.key, f.value, f.quoted_in_json);
    line += '}';
  } else {
    AppendLogfmt(line, "ts", ts);
    AppendLogfmt(line, "level", LevelName(level));
    AppendLogfmt(line, "msg", msg);
    for (const Field& f : fields) AppendLogfmt(line, f.key, f.value);
  }
  {
    std::lock_guard lock(g_sink_mu);
    if (g_sink) {
      g_sink(line);
      return;
    }
  }
  line += '\n';
  // One write per line; a short write to stderr is not worth retrying in a logger.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace drift::log
