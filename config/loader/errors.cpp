#include "config/loader/errors.h"

#include <toml++/toml.h>

namespace fulcrum::config {

std::string ConfigError::str() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

void Errors::add(const toml::source_region& where, std::string key, std::string message) {
  errors_.push_back({file_, where.begin.line, where.begin.column, std::move(key), std::move(message)});
}

void Errors::add(const toml::node* where, std::string key, std::string message) {
  if (where == nullptr) {
    errors_.push_back({file_, 0, 0, std::move(key), std::move(message)});
    return;
  }
  add(where->source(), std::move(key), std::move(message));
}

std::string Errors::str() const {
  std::string out;
  for (const ConfigError& e : errors_) out += e.str() + "\n";
  return out;
}

}  // namespace fulcrum::config
