// Config files written for one test suite into a directory of its own, removed afterwards.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fulcrum::test {

class TempConfigFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/fulcrum-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `text` to DIR/name.toml and returns the path.
  static std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name + ".toml";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  static inline std::string dir_;
};

}  // namespace fulcrum::test
