// lbctl node drain / undrain (issue 12): take this node out of the site's routing, or put
// it back. The control plane answers once the routing daemon took the change; --wait then
// follows the node's active connections (summed over the data plane's workers) down to 0.
#include <chrono>
#include <iostream>
#include <thread>

#include "controlplane/api/protocol.h"
#include "controlplane/lbctl/client.h"
#include "controlplane/lbctl/format.h"
#include "controlplane/lbctl/verbs.h"

namespace fulcrum::lbctl {
namespace {

namespace api = cp::api;

void print_error(const Options& o, const std::string& code, const std::string& message) {
  std::cerr << "lbctl: " << message << "\n";
  if (o.json) std::cout << Json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}.dump(2) << "\n";
}

std::string list_text(const Json& a) {
  std::string out;
  if (a.is_array()) {
    for (const Json& x : a) out += (out.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
  }
  return out.empty() ? "nothing" : out;
}

}  // namespace

int node_drain(const Options& o, bool drain, bool wait, double timeout_s) {
  std::optional<std::string> sock = socket_path(o);
  if (!sock) return api::kExitFailed;
  CallResult r = call(*sock, {{"cmd", drain ? api::kNodeDrain : api::kNodeUndrain}}, o.answer_ms());
  if (r.exit != api::kExitOk) {
    print_error(o, r.code, r.message);
    return r.exit;
  }
  if (!o.json) {
    std::string what = drain ? "drained" : "undrained";
    std::cout << "node " << (r.result.value("changed", false) ? what : "already " + what);
    if (r.result.value("bgp", false)) std::cout << "; the routing daemon announces: " << list_text(r.result["announced"]) << "\n";
    else std::cout << "\n" << r.result.value("message", "") << "\n";
  }
  if (!wait) {
    if (o.json) std::cout << r.result.dump(2) << "\n";
    return api::kExitOk;
  }
  // --wait: until the node's connections are gone. With ECMP, the routers send the packets
  // of existing connections to other nodes as soon as the routes are withdrawn (nat ones go
  // on there); the entries left here expire by their timeouts.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(timeout_s);
  uint64_t active = 0, last = ~0ull, packets_before = 0;
  auto sampled = start;
  auto last_print = start;
  int rc = api::kExitOk;
  for (bool first = true;; first = false) {
    CallResult s = call(*sock, {{"cmd", api::kStatus}}, o.answer_ms());
    if (s.exit != api::kExitOk) {
      print_error(o, s.code, s.message);
      return s.exit;
    }
    const Json& node = s.result.value("node", Json::object());
    active = node.value("active_connections", uint64_t{0});
    uint64_t packets = node.value("vip_packets", uint64_t{0});
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - sampled).count();
    double rate = !first && dt > 0 && packets >= packets_before ? double(packets - packets_before) / dt : 0;
    packets_before = packets;
    sampled = now;
    if (active == 0) {
      if (!o.json) {
        std::cout << "no active connections left (after " << std::chrono::duration<double>(now - start).count() << " s)\n";
      }
      break;
    }
    if (!o.json && (active != last || now - last_print > std::chrono::seconds(5))) {
      std::cout << "waiting: " << active << " active connection(s) on this node"
                << (first ? "" : ", " + human_number(rate) + " VIP packets/s") << "\n" << std::flush;
      last = active;
      last_print = now;
    }
    if (now >= deadline) {
      std::cerr << "lbctl: still " << active << " active connection(s) after " << timeout_s
                << " s; the node stays " << (drain ? "drained" : "undrained") << "\n";
      rc = api::kExitTimeout;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (o.json) {
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << Json{{"node", r.result}, {"wait", {{"drained", active == 0}, {"active_connections", active}, {"waited_s", waited}}}}
                     .dump(2)
              << "\n";
  }
  return rc;
}

}  // namespace fulcrum::lbctl
