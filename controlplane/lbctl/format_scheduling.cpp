#include "controlplane/lbctl/format_scheduling.h"

#include <cstdio>

namespace fulcrum::lbctl {

std::vector<std::string> scheduling_headers() {
  // CONNECT: SYN->SYN-ACK time (the data plane's EWMA); RETRIED: attempts moved from it to
  // another backend; OVERFLOWS: new connections it passed on at max_connections /
  // max_new_conn_rate; OUT BECAUSE: why it takes no new connections.
  return {"OPEN", "CONNECT", "RETRIED", "EJECTIONS", "OVERFLOWS", "OUT BECAUSE"};
}

std::vector<std::string> scheduling_cells(const nlohmann::json& b) {
  auto number = [&](const char* key) { return b.contains(key) ? b[key].dump() : std::string("-"); };
  std::string connect = "-";
  if (b.contains("connect_time_ms") && b["connect_time_ms"].is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f ms", b["connect_time_ms"].get<double>());
    connect = buf;
  }
  std::string overflows = "-";
  if (b.contains("overflows")) {
    overflows = b["overflows"].value("max_connections", uint64_t{0}) == 0 && b["overflows"].value("max_new_conn_rate", uint64_t{0}) == 0
                    ? "0"
                    : b["overflows"]["max_connections"].dump() + " conn, " + b["overflows"]["max_new_conn_rate"].dump() + " rate";
  }
  std::string out = b.value("out_reason", std::string());
  if (b.contains("slow_start_percent") && b["slow_start_percent"].is_number()) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "(slow start: %.0f %% of its weight)", b["slow_start_percent"].get<double>());
    out = out.empty() ? buf : out + " " + buf;
  }
  return {number("open_connections"), connect, number("retried_away"), number("ejections"), overflows, out.empty() ? "-" : out};
}

void print_scheduling_detail(std::ostream& out, const nlohmann::json& b) {
  if (!b.contains("open_connections")) return;  // a control plane without scheduling
  std::vector<std::string> cells = scheduling_cells(b);
  auto line = [&](const char* label, const std::string& value) { out << label << std::string(22 - std::string(label).size(), ' ') << value << "\n"; };
  const nlohmann::json& a = b.contains("attempts") ? b["attempts"] : nlohmann::json::object();
  line("open", cells[0] + " connections (not closed)");
  line("connect time", cells[1] + " (SYN to SYN-ACK, EWMA of " + b.value("connect_samples", nlohmann::json(0)).dump() + " samples)");
  line("attempts", a.value("answered", nlohmann::json(0)).dump() + " answered, " + a.value("refused", nlohmann::json(0)).dump() +
                       " refused, " + a.value("unanswered", nlohmann::json(0)).dump() + " unanswered; " + cells[2] +
                       " moved to another backend");
  line("limits", "max_connections " + b.value("max_connections", nlohmann::json(0)).dump() + ", max_new_conn_rate " +
                     b.value("max_new_conn_rate", nlohmann::json(0)).dump() + "; overflows " + cells[4]);
  line("ejections", cells[3]);
  line("out because", cells[5]);
}

}  // namespace fulcrum::lbctl
