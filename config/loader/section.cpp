#include "config/loader/section.h"

namespace fulcrum::config {

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string Section::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const toml::node* Section::take(std::string_view key) {
  read_.emplace(key);
  return table_->get(key);
}

void Section::wrong_type(std::string_view key, const toml::node& n, std::string_view want) {
  errors_->add(&n, path_of(key), "must be " + std::string(want) + ", not " + std::string(type_name(n)));
}

void Section::error(std::string_view key, std::string message) {
  const toml::node* at = table_->get(key);
  errors_->add(at != nullptr ? at : static_cast<const toml::node*>(table_), path_of(key), std::move(message));
}

void Section::missing(std::string_view key, std::string_view example) {
  errors_->add(table_, path_of(key),
               "required key missing (for example: " + std::string(key) + " = " + std::string(example) + ")");
}

std::optional<std::string> Section::string(std::string_view key) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
  wrong_type(key, *n, "a string");
  return std::nullopt;
}

std::optional<int64_t> Section::integer(std::string_view key, int64_t min, int64_t max) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_integer()) {
    wrong_type(key, *n, "an integer");
    return std::nullopt;
  }
  int64_t v = n->as_integer()->get();
  if (v < min || v > max) {
    errors_->add(n, path_of(key), std::to_string(v) + " is out of range (" + std::to_string(min) + " .. " +
                                      std::to_string(max) + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Section::boolean(std::string_view key) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_boolean()) {
    wrong_type(key, *n, "true or false");
    return std::nullopt;
  }
  return n->as_boolean()->get();
}

std::optional<std::vector<std::string>> Section::strings(std::string_view key) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    wrong_type(key, *n, "an array of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (!e.is_string()) {
      errors_->add(&e, path_of(key) + "[" + std::to_string(i) + "]",
                   "must be a string, not " + std::string(type_name(e)));
      ok = false;
      continue;
    }
    out.push_back(e.as_string()->get());
  }
  return ok ? std::optional(out) : std::nullopt;
}

std::optional<std::vector<int64_t>> Section::integers(std::string_view key, int64_t min, int64_t max) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    wrong_type(key, *n, "an array of integers");
    return std::nullopt;
  }
  std::vector<int64_t> out;
  bool ok = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string where = path_of(key) + "[" + std::to_string(i) + "]";
    if (!e.is_integer()) {
      errors_->add(&e, where, "must be an integer, not " + std::string(type_name(e)));
      ok = false;
    } else if (int64_t v = e.as_integer()->get(); v < min || v > max) {
      errors_->add(&e, where, std::to_string(v) + " is out of range (" + std::to_string(min) + " .. " +
                                  std::to_string(max) + ")");
      ok = false;
    } else {
      out.push_back(v);
    }
  }
  return ok ? std::optional(out) : std::nullopt;
}

std::optional<Section> Section::table(std::string_view key) {
  const toml::node* n = take(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_table()) {
    wrong_type(key, *n, "a table");
    return std::nullopt;
  }
  return Section(*n->as_table(), path_of(key), *errors_);
}

std::vector<Section> Section::tables(std::string_view key) {
  std::vector<Section> out;
  const toml::node* n = take(key);
  if (n == nullptr) return out;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) {
    wrong_type(key, *n, "an array of tables ([[" + path_of(key) + "]])");
    return out;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string where = path_of(key) + "[" + std::to_string(i) + "]";
    if (!e.is_table()) {
      errors_->add(&e, where, "must be a table, not " + std::string(type_name(e)));
      continue;
    }
    out.emplace_back(*e.as_table(), where, *errors_);
  }
  return out;
}

void Section::finish() {
  std::string known;
  for (const auto& k : read_) known += (known.empty() ? "" : ", ") + k;
  for (const auto& [key, value] : *table_) {
    if (read_.count(key.str()) != 0) continue;
    errors_->add(key.source(), path_of(key.str()),
                 "unknown key" + (known.empty() ? std::string() : " (known keys here: " + known + ")"));
  }
}

std::optional<uint32_t> ipv4_value(Section& s, std::string_view key, std::string_view example) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  auto a = parse_ipv4(*text);
  if (!a) s.error(key, "\"" + *text + "\" is not an IPv4 address (e.g. \"" + std::string(example) + "\")");
  return a;
}

std::optional<Prefix> prefix_value(Section& s, std::string_view key, std::string_view example) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  auto p = parse_prefix(*text);
  if (!p) s.error(key, "\"" + *text + "\" is not an IPv4 address with a prefix length (e.g. \"" + std::string(example) + "\")");
  return p;
}

std::optional<IpAddr> ip_value(Section& s, std::string_view key, std::string_view example, std::string_view example6) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  auto a = parse_ip(*text);
  if (!a && text->find(':') != std::string::npos) {
    s.error(key, "\"" + *text + "\" is not an IPv6 address (e.g. \"" + std::string(example6) + "\")");
  } else if (!a) {
    s.error(key, "\"" + *text + "\" is not an IPv4 address (e.g. \"" + std::string(example) + "\")");
  }
  return a;
}

std::optional<abi::Ip6> ipv6_value(Section& s, std::string_view key, std::string_view example) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  auto a = parse_ipv6(*text);
  if (!a) s.error(key, "\"" + *text + "\" is not an IPv6 address (e.g. \"" + std::string(example) + "\")");
  return a;
}

std::optional<Prefix6> prefix6_value(Section& s, std::string_view key, std::string_view example) {
  auto text = s.string(key);
  if (!text) return std::nullopt;
  auto p = parse_prefix6(*text);
  if (!p) s.error(key, "\"" + *text + "\" is not an IPv6 address with a prefix length (e.g. \"" + std::string(example) + "\")");
  return p;
}

}  // namespace fulcrum::config
