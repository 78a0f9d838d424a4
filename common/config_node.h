#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/sha256.h"

namespace drift {

// A configuration error, formatted "file:line:col: key: what was expected" (line and column
// 1-based; key is the dotted path from the document root, e.g. "checks[2].params.max_age").
// Thrown only while loading configuration, never at run time.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& file, int line, int column, const std::string& key,
              const std::string& what);
  // For errors with no position (the file cannot be read at all): "file: what".
  ConfigError(const std::string& file, const std::string& what);
};

// A node of a strictly read YAML document. Reading a key through Find/Get/Child marks it known;
// Finish() then rejects every key of every map handed out that nobody read, so a typo is an error
// instead of a silently ignored setting. Copies share the document's bookkeeping.
// Not thread-safe: configuration is loaded on one thread.
class ConfigNode {
 public:
  // Parses `text` as read from `file` (used in messages; relative paths resolve against its
  // folder). Rejects invalid UTF-8, tabs in indentation, duplicate keys, nesting deeper than the
  // parser allows, and more than one document. Throws ConfigError.
  static ConfigNode Parse(std::string_view text, const std::string& file);
  // Reads `file` (at most 16 MiB) and parses it. Throws ConfigError, without blocking, when
  // `file` is not a regular file (a FIFO, a device node, a directory): only a regular file on a
  // hung mount can still block the caller. Thread-safe (touches no shared state).
  static ConfigNode Load(const std::string& file);

  const std::string& path() const { return path_; }
  const std::string& file() const;
  // SHA-256 of the document's text exactly as read and parsed (what a load record names).
  const Sha256Digest& source_sha256() const;
  int line() const { return line_; }
  int column() const { return column_; }

  bool IsNull() const { return node_.IsNull(); }
  bool IsMap() const { return node_.IsMap(); }
  bool IsSequence() const { return node_.IsSequence(); }
  bool IsScalar() const { return node_.IsScalar(); }

  // Map access. Find returns nullopt when the key is absent (or null: `key:` with no value means
  // "use the default"). Child throws when it is absent. Both throw if this node is not a map.
  std::optional<ConfigNode> Find(std::string_view key) const;
  ConfigNode Child(std::string_view key) const;
  // Every entry of a map, in document order; all its keys count as known.
  std::vector<std::pair<std::string, ConfigNode>> Entries() const;
  // Every element of a sequence, in order.
  std::vector<ConfigNode> Items() const;

  // Scalar conversions; each throws ConfigError naming what was expected.
  std::string AsString() const;
  bool AsBool() const;  // only true/false: YAML 1.1's yes/no/on/off are too easy to misread
  std::int64_t AsInt(std::int64_t min, std::int64_t max) const;
  std::chrono::milliseconds AsDuration() const;
  std::vector<std::string> AsStringList() const;  // a sequence of strings
  Sha256Digest AsSha256() const;
  // A path; relative ones resolve against the configuration file's folder.
  std::filesystem::path AsPath() const;

  // Optional key with a default.
  std::string GetString(std::string_view key, std::string fallback) const;
  bool GetBool(std::string_view key, bool fallback) const;
  std::int64_t GetInt(std::string_view key, std::int64_t fallback, std::int64_t min,
                      std::int64_t max) const;
  std::chrono::milliseconds GetDuration(std::string_view key,
                                        std::chrono::milliseconds fallback) const;

  // Throws a ConfigError positioned at this node.
  [[noreturn]] void Fail(std::string_view what) const;

  // Rejects the first key, in document order, that no reader asked for in any map handed out.
  // Call once after the whole document has been read.
  void Finish() const;

 private:
  struct Document;
  ConfigNode(std::shared_ptr<Document> doc, YAML::Node node, std::string path, int line,
             int column);
  ConfigNode ChildAt(const YAML::Node& key, const YAML::Node& value, std::string path) const;
  std::set<std::string>& Known() const;
  std::string Describe() const;  // "a mapping", "a sequence", "null", "the string \"x\""

  std::shared_ptr<Document> doc_;
  YAML::Node node_;
  std::string path_;
  int line_ = 1;
  int column_ = 1;
};

}  // namespace drift
