#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>

#include "config/loader/errors.h"

namespace fulcrum::config {

// Larger than any sensible config (8192 backends take well under 2 MiB); reading stops
// there, so a mistaken path (a log, a disk image) cannot exhaust memory.
inline constexpr uint64_t kMaxConfigBytes = 64ull << 20;

// Reads a configuration file: a regular file (not a directory, FIFO or device, which would
// block or never end) of at most kMaxConfigBytes. "" or why not, in words for an operator.
std::string read_config_file(const std::string& path, std::string* text);

// Reads and parses a TOML file. A file that cannot be read or a syntax error becomes one
// error with the position toml++ reports.
std::optional<toml::table> parse_file(const std::string& path, Errors& errors);

}  // namespace fulcrum::config
