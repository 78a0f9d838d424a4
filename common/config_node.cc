#include "common/config_node.h"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <iterator>
#include <optional>
#include <sstream>

#include "common/duration.h"
#include "common/regular_file.h"
#include "common/strings.h"

namespace drift {
namespace {

constexpr std::size_t kMaxConfigBytes = 16 << 20;

std::string Format(const std::string& file, int line, int column, const std::string& key,
                   const std::string& what) {
  if (key.empty()) return fmt::format("{}:{}:{}: {}", file, line, column, what);
  return fmt::format("{}:{}:{}: {}: {}", file, line, column, key, what);
}

// Returns the 1-based line and column of byte `pos` in `text`, columns counted in characters.
std::pair<int, int> Position(std::string_view text, std::size_t pos) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if (!IsUtf8Continuation(text[i])) {
      ++column;
    }
  }
  return {line, column};
}

// YAML forbids tabs in indentation; yaml-cpp reports them confusingly, so say it plainly.
std::size_t FirstIndentTab(std::string_view s) {
  bool at_indent = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n') {
      at_indent = true;
    } else if (at_indent && c == '\t') {
      return i;
    } else if (c != ' ' && c != '-') {
      // "- " sequence markers are part of indentation in block sequences.
      at_indent = false;
    }
  }
  return std::string_view::npos;
}

// YAML streams hold printable characters only (YAML 1.2, 5.1): of the C0 controls, tab, line
// feed and carriage return. (DEL is not printable either, but yaml-cpp's emitter writes it raw
// and reads it back faithfully, so baselines may hold it.) yaml-cpp reads the others as it likes (a
// NUL byte and an "N" after it decoded as the escape "\N"; found by tests/fuzz/config_fuzz).
std::size_t FirstControlCharacter(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
  }
  return std::string_view::npos;
}

// What a scalar holds once its escapes are decoded must still be text: "\0" is a NUL, and
// yaml-cpp 0.7 decodes "\N" (U+0085) to the lone byte 0x85. The values reach file names, JSON
// (fingerprints, evidence, alerts) and log lines.
std::string_view ScalarProblem(const std::string& value) {
  if (value.find('\0') != std::string::npos) return "a NUL character";
  if (!IsValidUtf8(value)) return "invalid UTF-8 (from an escape)";
  return {};
}

int LineOf(const YAML::Mark& m) { return m.is_null() ? 1 : m.line + 1; }
int ColumnOf(const YAML::Mark& m) { return m.is_null() ? 1 : m.column + 1; }

// Where the root node of each document of a stream starts, and the first alias, from the
// parser's events.
class DocumentRoots final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> roots;
  std::optional<YAML::Mark> first_alias;

  void OnDocumentStart(const YAML::Mark&) override { pending_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override {
    if (!first_alias) first_alias = m;
    Node(m);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(m);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& m) {
    if (pending_) roots.push_back(m);
    pending_ = false;
  }
  bool pending_ = false;
};

}  // namespace

ConfigError::ConfigError(const std::string& file, int line, int column, const std::string& key,
                         const std::string& what)
    : std::runtime_error(Format(file, line, column, key, what)) {}

ConfigError::ConfigError(const std::string& file, const std::string& what)
    : std::runtime_error(fmt::format("{}: {}", file, what)) {}

struct ConfigNode::Document {
  std::string file;
  std::filesystem::path dir;
  YAML::Node root;
  Sha256Digest sha256{};  // of the text as read
  // Keys read per map node handed out, by the map's byte offset (unique per node in a document).
  std::map<int, std::set<std::string>> known;
};

ConfigNode::ConfigNode(std::shared_ptr<Document> doc, YAML::Node node, std::string path, int line,
                       int column)
    : doc_(std::move(doc)),
      node_(std::move(node)),
      path_(std::move(path)),
      line_(line),
      column_(column) {
  if (node_.IsMap()) doc_->known.try_emplace(node_.Mark().pos);
}

const std::string& ConfigNode::file() const { return doc_->file; }

const Sha256Digest& ConfigNode::source_sha256() const { return doc_->sha256; }

ConfigNode ConfigNode::Parse(std::string_view text, const std::string& file) {
  const Sha256Digest sha256 = Sha256Of(text);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (std::size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    auto [line, column] = Position(text, bad);
    throw ConfigError(file, line, column, "",
                      fmt::format("invalid UTF-8 (byte 0x{:02x}); the configuration must be UTF-8",
                                  static_cast<unsigned char>(text[bad])));
  }
  if (std::size_t c = FirstControlCharacter(text); c != std::string_view::npos) {
    auto [line, column] = Position(text, c);
    throw ConfigError(file, line, column, "",
                      fmt::format("control character 0x{:02x}; YAML allows only printable "
                                  "characters (write it as an escape in a double-quoted string)",
                                  static_cast<unsigned char>(text[c])));
  }
  if (std::size_t tab = FirstIndentTab(text); tab != std::string_view::npos) {
    auto [line, column] = Position(text, tab);
    throw ConfigError(file, line, column, "", "tab in indentation; YAML indents with spaces");
  }
  YAML::Node root;
  try {
    // Not YAML::LoadAll: in yaml-cpp 0.7 it never returns on some invalid input such as ",",
    // allocating an empty document per turn, as its parser reports one without consuming
    // anything (yaml-cpp issue #1040; found by tests/fuzz/config_fuzz). The documents are
    // counted first, two at most, and only the first one is built.
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentRoots docs;
    for (int n = 0; n < 2 && parser.HandleNextDocument(docs); ++n) {
    }
    if (docs.roots.size() > 1) {
      const YAML::Mark m = docs.roots[1];
      if (m.pos == docs.roots[0].pos && static_cast<std::size_t>(m.pos) < text.size()) {
        throw ConfigError(file, LineOf(m), ColumnOf(m), "",
                          fmt::format("invalid YAML: unexpected {:?}", text.substr(m.pos, 1)));
      }
      throw ConfigError(file, LineOf(m), ColumnOf(m), "",
                        "more than one YAML document; expected exactly one");
    }
    // An alias repeats a node wherever it stands, so a few lines of aliases of aliases make a
    // tree of millions of nodes (found by tests/fuzz/config_fuzz: 2 GiB for 100 bytes). A
    // configuration writes its values out.
    if (docs.first_alias) {
      const YAML::Mark m = *docs.first_alias;
      throw ConfigError(file, LineOf(m), ColumnOf(m), "",
                        "YAML aliases (*name) are not allowed in the configuration; write the "
                        "value out");
    }
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(file, LineOf(e.mark), ColumnOf(e.mark), "",
                      "nesting too deep; a configuration is a few levels deep");
  } catch (const YAML::Exception& e) {
    throw ConfigError(file, LineOf(e.mark), ColumnOf(e.mark), "",
                      fmt::format("invalid YAML: {}", e.msg));
  }
  if (!root || root.IsNull()) {
    throw ConfigError(file, 1, 1, "", "empty configuration; expected a mapping");
  }
  auto doc = std::make_shared<Document>();
  doc->file = file;
  doc->dir = std::filesystem::absolute(file).parent_path();
  doc->root = root;
  doc->sha256 = sha256;

  // Duplicate keys: YAML says a mapping's keys are unique, yaml-cpp keeps both silently.
  std::vector<std::pair<YAML::Node, std::string>> stack{{doc->root, ""}};
  while (!stack.empty()) {
    auto [n, path] = stack.back();
    stack.pop_back();
    if (n.IsMap()) {
      std::map<std::string, YAML::Mark> seen;
      for (auto it = n.begin(); it != n.end(); ++it) {
        const YAML::Mark m = it->first.Mark();
        if (!it->first.IsScalar()) {
          throw ConfigError(file, LineOf(m), ColumnOf(m), path,
                            "mapping keys must be plain strings");
        }
        std::string key = it->first.Scalar();
        if (std::string_view problem = ScalarProblem(key); !problem.empty()) {
          throw ConfigError(file, LineOf(m), ColumnOf(m), path,
                            fmt::format("a key holds {}; keys are plain text", problem));
        }
        std::string child_path = path.empty() ? key : path + "." + key;
        auto [prev, inserted] = seen.emplace(key, m);
        if (!inserted) {
          throw ConfigError(
              file, LineOf(m), ColumnOf(m), child_path,
              fmt::format("duplicate key; first defined at line {}", LineOf(prev->second)));
        }
        stack.emplace_back(it->second, child_path);
      }
    } else if (n.IsSequence()) {
      for (std::size_t i = 0; i < n.size(); ++i) {
        stack.emplace_back(n[i], fmt::format("{}[{}]", path, i));
      }
    } else if (n.IsScalar()) {
      if (std::string_view problem = ScalarProblem(n.Scalar()); !problem.empty()) {
        const YAML::Mark m = n.Mark();
        throw ConfigError(file, LineOf(m), ColumnOf(m), path,
                          fmt::format("the value holds {}; expected text", problem));
      }
    }
  }
  if (!doc->root.IsMap()) {
    const YAML::Mark m = doc->root.Mark();
    throw ConfigError(file, LineOf(m), ColumnOf(m), "", "expected a mapping at the top level");
  }
  return ConfigNode(doc, doc->root, "", 1, 1);
}

ConfigNode ConfigNode::Load(const std::string& file) {
  // Never blocks on a FIFO or device named as the configuration (common/regular_file.h); the
  // daemon reloads on a thread of its own for what no flag prevents (a hung mount).
  Result<std::string> text = ReadRegularFile(file, kMaxConfigBytes);
  if (!text.ok()) {
    const Error& e = text.error();
    if (e.sys_errno == EFBIG) throw ConfigError(file, e.message + "; not a configuration file");
    if (e.sys_errno != 0) throw ConfigError(file, "cannot read: " + e.message);
    throw ConfigError(
        file, e.message + "; name the file itself, not a pipe, device, socket or directory");
  }
  return Parse(*text, file);
}

std::set<std::string>& ConfigNode::Known() const { return doc_->known[node_.Mark().pos]; }

ConfigNode ConfigNode::ChildAt(const YAML::Node& key, const YAML::Node& value,
                               std::string path) const {
  // A null value (`key:`) has no position of its own; point at the key instead.
  YAML::Mark m = value.Mark().is_null() || value.IsNull() ? key.Mark() : value.Mark();
  return ConfigNode(doc_, value, std::move(path), LineOf(m), ColumnOf(m));
}

std::optional<ConfigNode> ConfigNode::Find(std::string_view key) const {
  if (!node_.IsMap()) Fail(fmt::format("expected a mapping, got {}", Describe()));
  Known().emplace(key);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.Scalar() == key) {
      if (it->second.IsNull()) return std::nullopt;
      return ChildAt(it->first, it->second,
                     path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key));
    }
  }
  return std::nullopt;
}

ConfigNode ConfigNode::Child(std::string_view key) const {
  std::optional<ConfigNode> c = Find(key);
  if (!c) {
    throw ConfigError(doc_->file, line_, column_,
                      path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key),
                      "required key missing");
  }
  return *c;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::Entries() const {
  if (!node_.IsMap()) Fail(fmt::format("expected a mapping, got {}", Describe()));
  std::vector<std::pair<std::string, ConfigNode>> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.Scalar();
    Known().insert(key);
    out.emplace_back(key, ChildAt(it->first, it->second,
                                  path_.empty() ? key : fmt::format("{}.{}", path_, key)));
  }
  return out;
}

std::vector<ConfigNode> ConfigNode::Items() const {
  if (!node_.IsSequence()) Fail(fmt::format("expected a list, got {}", Describe()));
  std::vector<ConfigNode> out;
  out.reserve(node_.size());
  for (std::size_t i = 0; i < node_.size(); ++i) {
    YAML::Node item = node_[i];
    YAML::Mark m = item.Mark().is_null() ? YAML::Mark() : item.Mark();
    int line = m.is_null() ? line_ : LineOf(m);
    int column = m.is_null() ? column_ : ColumnOf(m);
    out.push_back(ConfigNode(doc_, item, fmt::format("{}[{}]", path_, i), line, column));
  }
  return out;
}

std::string ConfigNode::Describe() const {
  if (node_.IsMap()) return "a mapping";
  if (node_.IsSequence()) return "a list";
  if (node_.IsNull()) return "nothing";
  std::string s = node_.Scalar();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return fmt::format("{:?}", s);
}

std::string ConfigNode::AsString() const {
  if (!node_.IsScalar()) Fail(fmt::format("expected a string, got {}", Describe()));
  return node_.Scalar();
}

bool ConfigNode::AsBool() const {
  if (node_.IsScalar() && node_.Tag() == "?") {
    if (node_.Scalar() == "true") return true;
    if (node_.Scalar() == "false") return false;
  }
  Fail(fmt::format("expected true or false, got {}", Describe()));
}

std::int64_t ConfigNode::AsInt(std::int64_t min, std::int64_t max) const {
  if (node_.IsScalar() && node_.Tag() == "?") {
    const std::string& s = node_.Scalar();
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) {
      if (v < min || v > max) {
        Fail(fmt::format("expected an integer from {} to {}, got {}", min, max, v));
      }
      return v;
    }
  }
  Fail(fmt::format("expected an integer from {} to {}, got {}", min, max, Describe()));
}

std::chrono::milliseconds ConfigNode::AsDuration() const {
  if (!node_.IsScalar()) {
    Fail(fmt::format("expected a duration like 30s, 5m or 1h30m, got {}", Describe()));
  }
  Result<std::chrono::milliseconds> d = ParseDuration(node_.Scalar());
  if (!d.ok()) Fail(d.error().message);
  return *d;
}

std::vector<std::string> ConfigNode::AsStringList() const {
  if (!node_.IsSequence()) Fail(fmt::format("expected a list of strings, got {}", Describe()));
  std::vector<std::string> out;
  for (const ConfigNode& item : Items()) out.push_back(item.AsString());
  return out;
}

Sha256Digest ConfigNode::AsSha256() const {
  if (!node_.IsScalar())
    Fail(fmt::format("expected a SHA-256 as 64 hex digits, got {}", Describe()));
  Result<Sha256Digest> d = ParseSha256Hex(node_.Scalar());
  if (!d.ok()) Fail(d.error().message);
  return *d;
}

std::filesystem::path ConfigNode::AsPath() const {
  std::string s = AsString();
  if (s.empty()) Fail("expected a path, got an empty string");
  std::filesystem::path p(s);
  if (p.is_relative()) p = doc_->dir / p;
  return p.lexically_normal();
}

std::string ConfigNode::GetString(std::string_view key, std::string fallback) const {
  std::optional<ConfigNode> c = Find(key);
  return c ? c->AsString() : std::move(fallback);
}

bool ConfigNode::GetBool(std::string_view key, bool fallback) const {
  std::optional<ConfigNode> c = Find(key);
  return c ? c->AsBool() : fallback;
}

std::int64_t ConfigNode::GetInt(std::string_view key, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) const {
  std::optional<ConfigNode> c = Find(key);
  return c ? c->AsInt(min, max) : fallback;
}

std::chrono::milliseconds ConfigNode::GetDuration(std::string_view key,
                                                  std::chrono::milliseconds fallback) const {
  std::optional<ConfigNode> c = Find(key);
  return c ? c->AsDuration() : fallback;
}

void ConfigNode::Fail(std::string_view what) const {
  throw ConfigError(doc_->file, line_, column_, path_, std::string(what));
}

void ConfigNode::Finish() const {
  // Walk in document order so that the first unknown key in the file is the one reported.
  struct Item {
    YAML::Node node;
    std::string path;
  };
  std::vector<Item> stack{{doc_->root, ""}};
  while (!stack.empty()) {
    Item item = stack.back();
    stack.pop_back();
    std::vector<Item> children;
    if (item.node.IsMap()) {
      auto known = doc_->known.find(item.node.Mark().pos);
      for (auto it = item.node.begin(); it != item.node.end(); ++it) {
        std::string key = it->first.Scalar();
        std::string child_path = item.path.empty() ? key : item.path + "." + key;
        if (known != doc_->known.end() && !known->second.contains(key)) {
          std::string expected;
          for (const std::string& k : known->second) {
            expected += expected.empty() ? k : ", " + k;
          }
          const YAML::Mark m = it->first.Mark();
          throw ConfigError(doc_->file, LineOf(m), ColumnOf(m), child_path,
                            expected.empty()
                                ? "unknown key; this mapping takes no keys"
                                : fmt::format("unknown key; expected one of: {}", expected));
        }
        children.push_back({it->second, child_path});
      }
    } else if (item.node.IsSequence()) {
      for (std::size_t i = 0; i < item.node.size(); ++i) {
        children.push_back({item.node[i], fmt::format("{}[{}]", item.path, i)});
      }
    }
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(*it);
  }
}

}  // namespace drift
