#include "checks/registry.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace drift::checks {
namespace {

namespace fs = std::filesystem;

// The tree this binary was built from; DRIFT_SOURCE_DIR comes from tests/CMakeLists.txt.
fs::path Source(std::string_view relative) { return fs::path(DRIFT_SOURCE_DIR) / relative; }

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Registry, FindsEveryTypeByItsName) {
  std::set<std::string_view> names;
  for (const CheckType* type : AllCheckTypes()) {
    EXPECT_EQ(FindCheckType(type->name), type);
    EXPECT_TRUE(names.insert(type->name).second) << "registered twice: " << type->name;
  }
  EXPECT_EQ(FindCheckType("no_such_type"), nullptr);
}

// Adding a check type is the short list of edits in README.md ("Adding a check type"); this
// fails for each one that was forgotten, naming the type and the file.
TEST(Registry, EveryTypeIsDocumentedListedInAllTypesAndTested) {
  const std::vector<std::string> docs = Lines(ReadText(Source("docs/configuration.md")));
  // The `type` row of the checks table: "| `type` | string | required | `patching`, ... |".
  std::string type_row;
  for (const std::string& line : docs) {
    if (line.starts_with("| `type` |")) type_row = line;
  }
  ASSERT_FALSE(type_row.empty()) << "docs/configuration.md has no `type` row in its checks table";

  std::set<std::string> in_all_types;
  const fs::path all_types = Source("tests/fixtures/configs/good/all_types.yml");
  for (const YAML::Node& check : YAML::LoadFile(all_types.string())["checks"]) {
    in_all_types.insert(check["type"].as<std::string>());
  }
  const std::string test_list = ReadText(Source("tests/CMakeLists.txt"));

  ASSERT_FALSE(AllCheckTypes().empty());
  for (const CheckType* type : AllCheckTypes()) {
    const std::string name(type->name);
    const std::string quoted = fmt::format("`{}`", name);
    EXPECT_NE(type_row.find(quoted), std::string::npos)
        << "docs/configuration.md: the checks table's `type` row does not list " << quoted;
    auto has_line = [&](const std::string& wanted) {
      for (const std::string& line : docs) {
        if (line == wanted) return true;
      }
      return false;
    };
    EXPECT_TRUE(has_line("### " + name))
        << "docs/configuration.md: no \"### " << name << "\" section with its params";
    bool default_row = false;
    for (const std::string& line : docs) {
      default_row = default_row || line.starts_with(fmt::format("| {} | ", quoted));
    }
    EXPECT_TRUE(default_row) << "docs/configuration.md: no row for " << quoted
                             << " in the table of every type's defaults";
    EXPECT_TRUE(in_all_types.contains(name)) << all_types.string() << ": no check of type " << name;
    const std::string test_file = fmt::format("unit/checks/{}_test.cc", name);
    EXPECT_TRUE(fs::is_regular_file(Source("tests") / test_file))
        << "no unit test file tests/" << test_file;
    EXPECT_NE(test_list.find(test_file), std::string::npos)
        << "tests/CMakeLists.txt does not build tests/" << test_file;
  }
}

}  // namespace
}  // namespace drift::checks
