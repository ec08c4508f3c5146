#include "tests/bench/maglev_bench.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "controlplane/maglev/maglev.h"

namespace fulcrum::bench {
namespace {

struct Case {
  uint32_t table_size;
  uint32_t backends;
  double paper_ms;  // the NSDI 2016 paper's build time for this M, 0 if it gives none
};

struct Result {
  Case c;
  double build_ms;
  uint32_t max_slots, min_slots;
  double remove1, add1;
};

std::vector<cp::MaglevBackend> make_backends(uint32_t n, uint32_t first) {
  std::vector<cp::MaglevBackend> out;
  for (uint32_t i = first; i < first + n; ++i) {
    out.push_back({htonl(0x0A000000u + i), htons(static_cast<uint16_t>(80 + i % 3)), 1});
  }
  return out;
}

double changed_fraction(const std::vector<uint16_t>& a, const std::vector<cp::MaglevBackend>& ab,
                        const std::vector<uint16_t>& b, const std::vector<cp::MaglevBackend>& bb) {
  size_t changed = 0;
  for (size_t s = 0; s < a.size(); ++s) {
    const auto& x = ab[a[s]];
    const auto& y = bb[b[s]];
    changed += x.addr_be != y.addr_be || x.port_be != y.port_be;
  }
  return double(changed) / double(a.size());
}

Result run_case(const Case& c) {
  const abi::HashKey key{0x9E3779B97F4A7C15ull, 0xD1B54A32D192ED03ull};
  auto backends = make_backends(c.backends, 1);
  std::vector<uint16_t> table(c.table_size);
  std::vector<double> times;
  for (int i = 0; i < 9; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    cp::build_maglev(backends, key, table);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());

  std::vector<uint32_t> counts(c.backends, 0);
  for (uint16_t e : table) ++counts[e];
  auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());

  auto fewer = backends;
  fewer.erase(fewer.begin() + c.backends / 2);
  std::vector<uint16_t> t_fewer(c.table_size);
  cp::build_maglev(fewer, key, t_fewer);
  auto more = backends;
  more.push_back(make_backends(1, c.backends + 1000)[0]);
  std::vector<uint16_t> t_more(c.table_size);
  cp::build_maglev(more, key, t_more);

  return {c, times[times.size() / 2], *hi, *lo, changed_fraction(table, backends, t_fewer, fewer),
          changed_fraction(table, backends, t_more, more)};
}

}  // namespace

int run_maglev(bool json, std::ostream& out) {
  const Case cases[] = {{65537, 10, 1.8}, {65537, 100, 1.8}, {65537, 1000, 1.8}, {655373, 1000, 22.9}};
  std::vector<Result> results;
  for (const Case& c : cases) results.push_back(run_case(c));
  char line[512];
  if (json) {
    out << "[\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::snprintf(line, sizeof line,
                    "  {\"table_size\": %u, \"backends\": %u, \"build_ms\": %.3f, \"max_slots\": %u, "
                    "\"min_slots\": %u, \"remove1_changed_fraction\": %.6f, \"add1_changed_fraction\": %.6f}%s\n",
                    r.c.table_size, r.c.backends, r.build_ms, r.max_slots, r.min_slots, r.remove1, r.add1,
                    i + 1 < results.size() ? "," : "");
      out << line;
    }
    out << "]\n";
    return 0;
  }
  out << "Maglev table build (median of 9), balance, and slots moved when one backend is removed/added\n";
  std::snprintf(line, sizeof line, "%8s %6s %10s %12s %10s %10s %14s %14s\n", "M", "N", "build_ms",
                "paper_ratio", "max_slots", "min_slots", "remove1 (xN)", "add1 (xN)");
  out << line;
  for (const Result& r : results) {
    std::snprintf(line, sizeof line, "%8u %6u %10.3f %12.2f %10u %10u %14.3f %14.3f\n", r.c.table_size,
                  r.c.backends, r.build_ms, r.build_ms / r.c.paper_ms, r.max_slots, r.min_slots,
                  r.remove1 * r.c.backends, r.add1 * (r.c.backends + 1));
    out << line;
  }
  out << "paper_ratio = build_ms / the Maglev paper's figure (1.8 ms for M=65537, 22.9 ms for M=655373); <= 1 meets the goal\n";
  return 0;
}

}  // namespace fulcrum::bench
