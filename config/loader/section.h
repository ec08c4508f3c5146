// A checked view of one TOML table. Every getter reports a wrong type or an out-of-range
// value at the value's position and returns nothing; finish() reports the keys nobody
// asked for as unknown (a misspelt key must not be silently ignored).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader/errors.h"
#include "config/loader/ip_addr.h"
#include "config/loader/net_parse.h"

namespace fulcrum::config {

class Section {
 public:
  Section(const toml::table& table, std::string path, Errors& errors)
      : table_(&table), path_(std::move(path)), errors_(&errors) {}

  // Dotted path of a key of this table, for messages: "dataplane.ports[1].device".
  std::string path_of(std::string_view key) const;
  const std::string& path() const { return path_; }
  bool has(std::string_view key) const { return table_->contains(key); }
  const toml::node* node(std::string_view key) const { return table_->get(key); }
  Errors& errors() const { return *errors_; }

  std::optional<std::string> string(std::string_view key);
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::vector<std::string>> strings(std::string_view key);
  std::optional<std::vector<int64_t>> integers(std::string_view key, int64_t min, int64_t max);
  std::optional<Section> table(std::string_view key);
  // [[key]]: each element must be a table.
  std::vector<Section> tables(std::string_view key);

  // Errors at the key's value (or at this table, if the key is absent).
  void error(std::string_view key, std::string message);
  void missing(std::string_view key, std::string_view example);
  // Reports keys present but never read; `known` lists the valid ones for the message.
  void finish();

 private:
  const toml::node* take(std::string_view key);  // marks the key as read
  void wrong_type(std::string_view key, const toml::node& n, std::string_view want);

  const toml::table* table_;
  std::string path_;
  Errors* errors_;
  std::set<std::string, std::less<>> read_;
};

// Typed network values of a section; a malformed one is reported, with an example.
std::optional<uint32_t> ipv4_value(Section& s, std::string_view key, std::string_view example = "192.0.2.1");
std::optional<Prefix> prefix_value(Section& s, std::string_view key, std::string_view example);
// issue 15: either family, as the text says: with a ':' it must be IPv6, else IPv4 (so an
// IPv4 typo gets the IPv4 message it always got).
std::optional<IpAddr> ip_value(Section& s, std::string_view key, std::string_view example = "192.0.2.1",
                               std::string_view example6 = "2001:db8::1");
std::optional<abi::Ip6> ipv6_value(Section& s, std::string_view key, std::string_view example);
std::optional<Prefix6> prefix6_value(Section& s, std::string_view key, std::string_view example);

// "integer", "string", "table", ... for messages.
std::string_view type_name(const toml::node& n);

}  // namespace fulcrum::config
