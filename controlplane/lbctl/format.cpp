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

const Json& field(const Json& obj, const char* key) {
  static const Json null;
  return obj.is_object() && obj.contains(key) ? obj[key] : null;
}

std::string ago_text(const Json& obj, const char* key) {
  const Json& v = field(obj, key);
  return v.is_number() ? human_duration(v.get<uint64_t>()) + " ago" : "-";
}

}  // namespace

std::string text(const Json& obj, const char* key) { return str(field(obj, key)); }

double number(const Json& obj, const char* key) {
  const Json& v = field(obj, key);
  return v.is_number() ? v.get<double>() : 0.0;
}

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

std::string human_number(double v) {
  char buf[32];
  if (v < 1000) std::snprintf(buf, sizeof buf, v == double(uint64_t(v)) ? "%.0f" : "%.1f", v);
  else if (v < 1e6) std::snprintf(buf, sizeof buf, "%.1f k", v / 1e3);
  else if (v < 1e9) std::snprintf(buf, sizeof buf, "%.1f M", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1f G", v / 1e9);
  return buf;
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
      if (c + 1 < cells.size() && c < width.size()) s += std::string(width[c] - std::min(width[c], cells[c].size()) + 2, ' ');
    }
    out << s << "\n";
  };
  line(headers);
  for (const auto& r : rows) line(r);
}

void print_node(std::ostream& out, const Json& n) {
  if (!n.is_object()) return;
  out << "node         " << (field(n, "drained") == true ? "DRAINED (lbctl node undrain)" : "in service") << ", "
      << text(n, "active_connections") << " active connections\n";
  const Json& b = field(n, "bgp");
  if (!b.is_object()) {
    out << "bgp          none ([controlplane.bgp] not configured)\n";
    return;
  }
  std::string announced;
  for (const Json& a : field(b, "announced")) announced += (announced.empty() ? "" : ", ") + str(a);
  out << "bgp          " << text(b, "daemon") << " announces " << (announced.empty() ? "nothing" : announced)
      << (field(b, "in_sync") == true ? "" : " (changes waiting)") << "\n";
  if (field(b, "error").is_string()) out << "             error: " << text(b, "error") << "\n";
  if (field(b, "daemon_error").is_string()) out << "             " << text(b, "daemon_error") << "\n";
  std::string sessions;
  for (const Json& x : field(b, "sessions")) {
    sessions += (sessions.empty() ? "" : ", ") + text(x, "name") + " (" + text(x, "protocol") + ") " + text(x, "state") +
                (text(x, "info") == "-" || text(x, "info").empty() ? "" : " " + text(x, "info"));
  }
  if (!sessions.empty()) out << "sessions     " << sessions << "\n";
}

void print_status(std::ostream& out, const Json& s) {
  const Json& dp = field(s, "dataplane");
  if (field(dp, "alive") == true) {
    out << "data plane   running, pid " << text(dp, "pid") << " (start #" << text(dp, "start_count") << "), heartbeat "
        << human_duration(uint64_t(number(dp, "heartbeat_age_ms"))) << " ago, " << text(dp, "lcores") << " lcores, generation "
        << text(dp, "generation_in_use") << " in use\n";
  } else if (field(dp, "heartbeat_age_ms").is_number()) {
    out << "data plane   NOT RUNNING, last heartbeat " << human_duration(uint64_t(number(dp, "heartbeat_age_ms")))
        << " ago (no packets are forwarded until it is back)\n";
  } else {
    out << "data plane   NOT RUNNING (never seen on this host since its status region was created)\n";
  }
  if (field(dp, "lcore_generations").is_array() && field(dp, "alive") == true) {
    std::string lc;
    for (const Json& l : dp["lcore_generations"]) {
      lc += (lc.empty() ? "" : ", ") + std::string("lcore ") + text(l, "lcore") + " (" + text(l, "role") +
            (field(l, "online") == true ? "" : ", idle") + ") gen " + text(l, "generation");
    }
    out << "lcores       " << lc << "\n";
  }
  const Json& t = field(s, "tables");
  out << "tables       generation " << text(t, "generation") << ", published " << human_duration(uint64_t(number(t, "age_ms")))
      << " ago\n";
  const Json& p = field(s, "publishing");
  const Json& last = field(p, "last");
  out << "publishing   " << text(p, "publishes") << " publishes, " << text(p, "failures") << " failed; last took "
      << text(last, "took_ms") << " ms (" << text(last, "tables_rebuilt") << " Maglev tables rebuilt, " << text(last, "tables_reused")
      << " reused): " << text(last, "why") << (field(p, "changes_waiting") == true ? "; changes waiting" : "") << "\n";
  if (field(last, "error").is_string()) out << "             last error: " << text(last, "error") << "\n";
  const Json& r = field(s, "last_reload");
  if (field(r, "at").is_string()) {
    out << "last reload  " << text(r, "at") << ", " << (field(r, "ok") == true ? "applied: " : "REFUSED: ") << text(r, "result") << "\n";
  } else {
    out << "last reload  none since start\n";
  }
  const Json& f = field(s, "config_file");
  out << "config file  " << text(f, "path") << ": " << text(f, "state") << "\n";
  print_node(out, field(s, "node"));  // issue 12
  const Json& c = field(s, "controlplane");
  out << "control      pid " << text(c, "pid") << ", up " << human_duration(uint64_t(number(c, "uptime_s")) * 1000) << ", version "
      << text(c, "version") << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : field(s, "vips")) {
    rows.push_back({text(v, "name"), text(v, "vip"), text(v, "mode"), text(v, "backends"), text(v, "backends_up"),
                    text(v, "backends_taking_new"), text(v, "active_connections")});
  }
  print_table(out, {"VIP", "ADDRESS", "MODE", "BACKENDS", "UP", "TAKING NEW", "ACTIVE"}, rows);
}

void print_vips(std::ostream& out, const Json& vips) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : vips) {
    std::string snat;
    for (const Json& a : field(v, "snat")) snat += (snat.empty() ? "" : ",") + str(a);
    // issue 12: usable/needed backends, whether the node announces it (and why not), and the
    // fingerprint of its Maglev table (equal on two nodes: they send its flows alike).
    rows.push_back({text(v, "name"), text(v, "vip"), text(v, "mode"), snat.empty() ? "-" : snat, text(v, "maglev_size"),
                    text(v, "on_backend_down"), text(v, "backends"), text(v, "usable_backends") + "/" + text(v, "min_healthy_backends"),
                    text(v, "new_connections"), text(v, "scheduler"), text(v, "announced"), text(v, "fingerprint"),
                    text(v, "announce_reason")});
  }
  print_table(out, {"NAME", "VIP", "MODE", "SNAT", "MAGLEV", "ON DOWN", "BACKENDS", "USABLE/MIN", "NEW CONNS", "SCHEDULER",
                    "ANNOUNCED", "FINGERPRINT", "WHY NOT"}, rows);
}

void print_backends(std::ostream& out, const Json& backends, const Json& rates) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& b : backends) {
    std::string weight = text(b, "weight");
    if (field(b, "weight") != field(b, "configured_weight")) weight += " (config " + text(b, "configured_weight") + ")";
    std::string health = text(b, "health");
    if (field(b, "health_forced").is_string()) health += " (forced)";
    std::string name = text(b, "name");
    std::vector<std::string> row{text(b, "vip"), text(b, "backend"), name.empty() ? "-" : name, text(b, "state"), health, weight,
                                 text(b, "active_connections"), text(b, "new_connections_per_s")};
    if (rates.is_object()) {
      const Json& r = field(rates, (text(b, "vip") + "|" + text(b, "backend")).c_str());
      row.push_back(r.is_object() ? human_number(number(r, "packets_per_s")) : "-");
      row.push_back(r.is_object() ? human_number(number(r, "bytes_per_s")) : "-");
    }
    row.push_back(text(b, "health_check") + " " + human_duration(uint64_t(number(b, "detection_ms"))));
    row.push_back(text(b, "health_reason"));
    for (std::string& cell : scheduling_cells(b)) row.push_back(std::move(cell));
    rows.push_back(row);
  }
  // DETECTS: the check type and the longest a failure can go unnoticed (interval x fall + timeout).
  std::vector<std::string> headers{"VIP", "BACKEND", "NAME", "STATE", "HEALTH", "WEIGHT", "ACTIVE", "NEW/S"};
  if (rates.is_object()) headers.insert(headers.end(), {"PKT/S", "BYTES/S"});
  headers.insert(headers.end(), {"DETECTS", "LAST CHECK"});
  for (std::string& h : scheduling_headers()) headers.push_back(std::move(h));
  print_table(out, headers, rows);
}

void print_backend_detail(std::ostream& out, const Json& b) {
  auto line = [&](const char* label, const std::string& value) { out << label << std::string(22 - std::string(label).size(), ' ') << value << "\n"; };
  line("vip", text(b, "vip") + " (" + text(b, "vip_address") + ")");
  line("backend", text(b, "backend") + (text(b, "name").empty() ? "" : " (" + text(b, "name") + ")") + ", id " + text(b, "id"));
  line("state", text(b, "state") + (field(b, "maintenance") == true ? "" : ", configured " + text(b, "configured_state")));
  line("health", text(b, "health") + (field(b, "health_forced").is_string() ? " (forced by an operator; checks say " + text(b, "health_checked") + ")" : ""));
  line("down since", text(b, "down_since"));
  line("last change", ago_text(b, "last_change_ago_ms") + ", " + text(b, "health_transitions") + " transitions");
  line("last check", ago_text(b, "last_check_ago_ms") + ": " + text(b, "health_reason"));
  line("consecutive", text(b, "consecutive_failures") + " failures, " + text(b, "consecutive_successes") + " successes");
  line("last error", text(b, "last_error") + (field(b, "last_error_ago_ms").is_number() ? " (" + ago_text(b, "last_error_ago_ms") + ")" : ""));
  line("check", text(b, "health_check") + ", detects within " + human_duration(uint64_t(number(b, "detection_ms"))) +
                    (number(b, "shared_check") > 1 ? ", shared by " + text(b, "shared_check") + " VIPs" : ""));
  line("weight", text(b, "weight") + " (configured " + text(b, "configured_weight") + ")");
  line("connections", text(b, "active_connections") + " active, " + text(b, "new_connections_per_s") + " new/s");
  line("traffic", human_number(number(b, "packets")) + " packets, " + human_number(number(b, "bytes")) + " bytes");
  print_scheduling_detail(out, b);
}

void print_stats(std::ostream& out, const Json& s, const Json& rates) {
  if (field(s, "dataplane_alive") != true) out << "(the data plane is not running: counters are from its last run)\n";
  out << "conntrack entries " << text(s, "conntrack_entries") << " of " << text(s, "conntrack_capacity") << "\n\n";
  const Json& cr = field(rates, "counters");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, value] : field(s, "counters").items()) {
    std::vector<std::string> row{name, str(value)};
    if (rates.is_object()) row.push_back(human_number(number(cr, name.c_str())));
    rows.push_back(row);
  }
  if (rates.is_object()) print_table(out, {"COUNTER", "VALUE", "PER SECOND"}, rows);
  else print_table(out, {"COUNTER", "VALUE"}, rows);
  rows.clear();
  const Json& dr = field(rates, "drops");
  for (const auto& [name, value] : field(s, "drops").items()) {
    if (!value.is_number() || value.get<uint64_t>() == 0) continue;
    std::vector<std::string> row{name, str(value)};
    if (rates.is_object()) row.push_back(human_number(number(dr, name.c_str())));
    rows.push_back(row);
  }
  out << "\n";
  if (rows.empty()) out << "no drops\n";
  else if (rates.is_object()) print_table(out, {"DROP REASON", "PACKETS", "PER SECOND"}, rows);
  else print_table(out, {"DROP REASON", "PACKETS"}, rows);
  rows.clear();
  const Json& vr = field(rates, "vips");
  for (const Json& v : field(s, "vips")) {
    std::vector<std::string> row{text(v, "name"), human_number(number(v, "packets")), human_number(number(v, "bytes")),
                                 text(v, "drops"), text(v, "active_connections"), text(v, "new_connections")};
    if (rates.is_object()) {
      const Json& r = field(vr, text(v, "name").c_str());
      for (const char* k : {"packets", "bytes", "new_connections", "drops"}) row.push_back(human_number(number(r, k)));
    }
    rows.push_back(row);
  }
  out << "\n";
  std::vector<std::string> headers{"VIP", "PACKETS", "BYTES", "DROPS", "ACTIVE", "NEW CONNS"};
  if (rates.is_object()) headers.insert(headers.end(), {"PKT/S", "BYTES/S", "NEW/S", "DROPS/S"});
  print_table(out, headers, rows);
}

void print_conns(std::ostream& out, const Json& a) {
  std::vector<std::vector<std::string>> rows;
  for (const Json& c : field(a, "connections")) {
    rows.push_back({text(c, "client"), text(c, "vip"), text(c, "vip_address"), text(c, "backend"), text(c, "snat"),
                    text(c, "state"), human_duration(uint64_t(number(c, "idle_ms"))), text(c, "worker")});
  }
  print_table(out, {"CLIENT", "VIP", "VIP ADDRESS", "BACKEND", "SNAT", "STATE", "IDLE", "WORKER"}, rows);
  out << "\n" << rows.size() << " shown of " << text(a, "matched") << " matching (" << text(a, "in_use")
      << " connections in the table; sampled in " << text(a, "took_ms") << " ms)\n";
}

void print_state(std::ostream& out, const Json& entries) {
  if (!entries.is_array() || entries.empty()) {
    out << "no operator overrides: every backend is as the config file says\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const Json& e : entries) {
    std::string drained = field(e, "drained").is_boolean() ? (e["drained"] == true ? "drained" : "undrained") : "-";
    rows.push_back({text(e, "vip"), text(e, "backend"), text(e, "name").empty() ? "-" : text(e, "name"), drained, text(e, "weight"),
                    field(e, "maintenance") == true ? "yes" : "-", text(e, "health"), field(e, "applies") == true ? "yes" : "NO"});
  }
  print_table(out, {"VIP", "BACKEND", "NAME", "DRAIN", "WEIGHT", "MAINTENANCE", "HEALTH", "APPLIES"}, rows);
}

void print_plan(std::ostream& out, const Json& plan) {
  out << "dry run of " << text(plan, "file") << ": nothing was published\n";
  const Json& changes = field(plan, "changes");
  if (!changes.is_array() || changes.empty()) out << "no configuration changes\n";
  for (const Json& c : changes) out << "  " << str(c) << "\n";
  for (const Json& n : field(plan, "operator_state")) out << "  operator state: " << str(n) << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : field(plan, "vips")) {
    char moved[32] = "-";
    if (field(v, "slots_moved").is_number()) std::snprintf(moved, sizeof moved, "%.2f %%", 100.0 * number(v, "slots_moved"));
    rows.push_back({text(v, "name"), text(v, "vip"), text(v, "status"), text(v, "slots"), moved});
  }
  if (!rows.empty()) {
    out << "\n";
    print_table(out, {"VIP", "ADDRESS", "CHANGE", "MAGLEV SLOTS", "SLOTS MOVED"}, rows);
  }
}

void print_changed(std::ostream& out, const Json& r, const std::string& what) {
  if (field(r, "changed") == false) {
    out << text(r, "message") << " (generation " << text(r, "generation") << " unchanged)\n";
    return;
  }
  for (const Json& b : field(r, "backends")) {
    if (field(b, "changed") == false) continue;
    out << what << " " << text(b, "vip") << " " << text(b, "backend") << " (state " << text(b, "state") << ", health "
        << text(b, "health") << ", weight " << text(b, "weight") << ")\n";
  }
  out << "published generation " << text(r, "generation") << "\n";
}

}  // namespace fulcrum::lbctl
