#include "controlplane/lbctl/format.h"

#include "controlplane/lbctl/format_scheduling.h"

#include <algorithm>
#include <cstdio>

namespace fulcrum::lbctl {
namespace {

std::string str(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "yes" : "no";
  if (j.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", j.get<double>());
    return buf;
  }
  if (j.is_null()) return "-";
  return j.dump();
}

}  // namespace

std::string human_duration(uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms < 10'000) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f s", double(ms) / 1000.0);
    return buf;
  }
  if (ms < 120'000) return std::to_string(ms / 1000) + " s";
  if (ms < 7'200'000) return std::to_string(ms / 60'000) + " m";
  return std::to_string(ms / 3'600'000) + " h";
}

void print_table(std::ostream& out, const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) width[c] = headers[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      s += cells[c];
      if (c + 1 < cells.size()) s += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    out << s << "\n";
  };
  line(headers);
  for (const auto& r : rows) line(r);
}

void print_status(std::ostream& out, const Json& s) {
  const Json& dp = s["dataplane"];
  if (dp.value("alive", false)) {
    out << "data plane   running, pid " << str(dp["pid"]) << " (start #" << str(dp["start_count"]) << "), heartbeat "
        << human_duration(dp.value("heartbeat_age_ms", 0)) << " ago, " << str(dp["lcores"]) << " lcores, generation "
        << str(dp["generation_in_use"]) << " in use\n";
  } else {
    out << "data plane   NOT RUNNING"
        << (dp.value("heartbeat_age_ms", 0) ? ", last heartbeat " + human_duration(dp.value("heartbeat_age_ms", 0)) + " ago" : "")
        << " (it forwards with the last tables it had while it runs)\n";
  }
  out << "tables       generation " << str(s["tables"]["generation"]) << ", published "
      << human_duration(s["tables"].value("age_ms", 0)) << " ago\n";
  out << "control      pid " << str(s["controlplane"]["pid"]) << ", up "
      << human_duration(s["controlplane"].value("uptime_s", 0) * 1000) << ", config " << str(s["controlplane"]["config"]) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : s["vips"]) {
    rows.push_back({str(v["name"]), str(v["vip"]), str(v["mode"]), str(v["backends"]), str(v["backends_up"]),
                    str(v["backends_taking_new"]), str(v["active_connections"])});
  }
  print_table(out, {"VIP", "ADDRESS", "MODE", "BACKENDS", "UP", "TAKING NEW", "ACTIVE"}, rows);
}

void print_vips(std::ostream& out, const Json& vips) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : vips) {
    std::string snat;
    for (const Json& a : v["snat"]) snat += (snat.empty() ? "" : ",") + a.get<std::string>();
    rows.push_back({str(v["name"]), str(v["vip"]), str(v["mode"]), snat.empty() ? "-" : snat, str(v["maglev_size"]),
                    str(v["on_backend_down"]), str(v["backends"]), str(v["new_connections"]), str(v["scheduler"])});
  }
  print_table(out, {"NAME", "VIP", "MODE", "SNAT", "MAGLEV", "ON DOWN", "BACKENDS", "NEW CONNS", "SCHEDULER"}, rows);
}

void print_backends(std::ostream& out, const Json& backends) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& b : backends) {
    std::string weight = str(b["weight"]);
    if (b["weight"] != b["configured_weight"]) weight += " (config " + str(b["configured_weight"]) + ")";
    rows.push_back({str(b["vip"]), str(b["backend"]), b["name"].get<std::string>().empty() ? "-" : str(b["name"]),
                    str(b["state"]) + (b.value("drained", false) ? " (drained)" : ""), str(b["health"]), weight,
                    str(b["active_connections"]), str(b["new_connections_per_s"]),
                    str(b["health_check"]) + " " + human_duration(b.value("detection_ms", 0)), str(b["health_reason"])});
    for (std::string& cell : scheduling_cells(b)) rows.back().push_back(std::move(cell));
  }
  // DETECTS: the check type and the longest a failure can go unnoticed (interval x fall + timeout).
  std::vector<std::string> headers{"VIP", "BACKEND", "NAME", "STATE", "HEALTH", "WEIGHT", "ACTIVE", "NEW/S", "DETECTS", "LAST CHECK"};
  for (std::string& h : scheduling_headers()) headers.push_back(std::move(h));
  print_table(out, headers, rows);
}

void print_stats(std::ostream& out, const Json& s) {
  if (!s.value("dataplane_alive", false)) out << "(the data plane is not running: counters are from its last run)\n";
  out << "conntrack entries " << str(s["conntrack_entries"]) << " of " << str(s["conntrack_capacity"]) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, value] : s["counters"].items()) rows.push_back({name, str(value)});
  print_table(out, {"COUNTER", "VALUE"}, rows);
  rows.clear();
  for (const auto& [name, value] : s["drops"].items()) {
    if (value.get<uint64_t>() != 0) rows.push_back({name, str(value)});
  }
  out << "\n";
  if (rows.empty()) out << "no drops\n";
  else print_table(out, {"DROP REASON", "PACKETS"}, rows);
  rows.clear();
  for (const Json& v : s["vips"]) rows.push_back({str(v["name"]), str(v["new_connections"])});
  out << "\n";
  print_table(out, {"VIP", "NEW CONNECTIONS"}, rows);
}

}  // namespace fulcrum::lbctl
