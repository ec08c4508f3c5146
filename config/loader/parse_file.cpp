#include "config/loader/parse_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fulcrum::config {

std::optional<toml::table> parse_file(const std::string& path, Errors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.add_file(std::string("cannot read the file: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    errors.add(e.source(), "", "TOML syntax error: " + std::string(e.description()));
    return std::nullopt;
  }
}

}  // namespace fulcrum::config
