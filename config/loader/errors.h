// Configuration errors: each names the file, line and column, the key, and what to do.
// Validation collects every error it can find rather than stopping at the first, so an
// operator fixes a broken file in one pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace toml {
inline namespace v3 {
class node;
struct source_region;
}  // namespace v3
}  // namespace toml

namespace fulcrum::config {

// Where something was written in the file (0: unknown).
struct Location {
  uint32_t line = 0;
  uint32_t column = 0;
};

struct ConfigError {
  std::string file;
  uint32_t line = 0;    // 0: the error concerns the whole file
  uint32_t column = 0;
  std::string key;      // dotted path, e.g. "dataplane.ports[0].address"; may be empty
  std::string message;

  // "file:line:column: key: message"
  std::string str() const;
};

class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void add(const toml::source_region& where, std::string key, std::string message);
  void add(const toml::node* where, std::string key, std::string message);
  void add_file(std::string message) { errors_.push_back({file_, 0, 0, "", std::move(message)}); }

  bool empty() const { return errors_.empty(); }
  const std::vector<ConfigError>& list() const { return errors_; }
  const std::string& file() const { return file_; }
  // Every error, one per line.
  std::string str() const;

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace fulcrum::config
