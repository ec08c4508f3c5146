// Comparing packets by their decoded fields (packet.h: diff, SamePacket): a fixture failure
// names the field that differs ("ipv4.dst: expected ..., got ..."), and falls back to byte
// offsets only when every decoded field agrees.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>

#include "tests/rig/packet.h"

namespace fulcrum::test {
namespace {

using View = std::span<const uint8_t>;

std::string num(uint64_t v) { return std::to_string(v); }

__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...) {
  char text[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return text;
}

// Names made unique by occurrence ("vlan.vid", "vlan.vid #2"), in decode order.
std::vector<std::pair<std::string, const Field*>> keyed(const std::vector<Field>& fields) {
  std::map<std::string, int> seen;
  std::vector<std::pair<std::string, const Field*>> out;
  for (const Field& f : fields) {
    int n = ++seen[f.name];
    out.emplace_back(n == 1 ? f.name : f.name + " #" + num(n), &f);
  }
  return out;
}

std::string byte_offsets_text(View expected, View actual) {
  constexpr size_t kShown = 16;
  std::string shown;
  size_t count = 0;
  for (size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
    if (i < expected.size() && i < actual.size() && expected[i] == actual[i]) continue;
    if (count++ < kShown) shown += fmt(" 0x%04zx", i);
  }
  return fmt("bytes differ at offsets%s%s (%zu in all)\n", shown.c_str(),
             count > kShown ? " ..." : "", count);
}

}  // namespace

std::string diff(std::span<const uint8_t> expected, std::span<const uint8_t> actual) {
  if (std::equal(expected.begin(), expected.end(), actual.begin(), actual.end())) return "";
  std::vector<Field> want_fields = decode(expected), got_fields = decode(actual);
  auto want = keyed(want_fields), got = keyed(got_fields);
  std::map<std::string, const Field*> got_by_key(got.begin(), got.end());
  std::map<std::string, const Field*> want_by_key(want.begin(), want.end());
  std::string text;
  for (const auto& [key, f] : want) {
    auto it = got_by_key.find(key);
    if (it == got_by_key.end())
      text += key + ": only in expected (" + f->value + ")\n";
    else if (it->second->value != f->value)
      text += key + ": expected " + f->value + ", got " + it->second->value + "\n";
  }
  for (const auto& [key, f] : got)
    if (!want_by_key.contains(key)) text += key + ": only in actual (" + f->value + ")\n";
  return text.empty() ? byte_offsets_text(expected, actual) : text;
}

::testing::AssertionResult SamePacket(std::span<const uint8_t> expected,
                                      std::span<const uint8_t> actual) {
  std::string d = diff(expected, actual);
  if (d.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "packets differ:\n"
                                       << d << "--- expected\n"
                                       << describe(expected) << "--- actual\n"
                                       << describe(actual);
}

}  // namespace fulcrum::test
