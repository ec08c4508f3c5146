#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>

#include "config/loader/errors.h"

namespace fulcrum::config {

// Reads and parses a TOML file. A missing file or a syntax error becomes one error with
// the position toml++ reports.
std::optional<toml::table> parse_file(const std::string& path, Errors& errors);

}  // namespace fulcrum::config
