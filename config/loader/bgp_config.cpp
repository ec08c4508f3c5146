#include "config/loader/bgp_config.h"

#include <sys/un.h>

#include "config/loader/net_parse.h"
#include "config/loader/section.h"

namespace fulcrum::config {
namespace {

// What BIRD accepts as a symbol (a protocol's name): a letter or '_', then letters, digits, '_'.
bool is_bird_symbol(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

// An absolute path that BIRD can take inside a quoted string: no quote, backslash or newline.
bool path_value(Section& s, const char* key, size_t max, std::string* out) {
  auto v = s.string(key);
  if (!v) return false;
  if (v->empty() || (*v)[0] != '/') {
    s.error(key, "\"" + *v + "\" must be an absolute path (starting with '/')");
  } else if (v->back() == '/') {
    s.error(key, "\"" + *v + "\" names a directory; give a file name");
  } else if (v->find_first_of("\"\\\n") != std::string::npos) {
    s.error(key, "must not contain '\"', '\\' or a newline (it is written into BIRD's configuration)");
  } else if (v->size() > max) {
    s.error(key, "is " + std::to_string(v->size()) + " characters; at most " + std::to_string(max));
  } else {
    *out = *v;
    return true;
  }
  return false;
}

}  // namespace

BgpConfig parse_bgp(Section& s) {
  BgpConfig cfg;
  if (auto daemon = s.string("daemon"); daemon && *daemon != "bird") {
    s.error("daemon", "\"" + *daemon + "\" is not supported: only \"bird\" (BIRD 2)");
  }
  constexpr size_t kSocketMax = sizeof(sockaddr_un{}.sun_path) - 1;
  path_value(s, "socket", kSocketMax, &cfg.socket);
  path_value(s, "include_file", 4096, &cfg.include_file);
  if (cfg.include_file == cfg.socket) {
    s.error("include_file", "is the same path as socket; it is the file BIRD's configuration includes");
  }
  if (auto p = s.string("protocol")) {
    if (is_bird_symbol(*p)) {
      cfg.protocol = *p;
    } else {
      s.error("protocol", "\"" + *p + "\" is not a BIRD protocol name (a letter or '_', then letters, digits or '_'; "
                          "at most 64 characters)");
    }
  }
  if (auto iface = s.string("link_interface")) {
    if (is_valid_ifname(*iface)) {
      cfg.link_interface = *iface;
    } else {
      s.error("link_interface", "\"" + *iface + "\" is not an interface name (" + kIfnameRule + ")");
    }
  }
  if (auto m = s.integer("min_healthy_backends", 1, kMaxMinHealthy)) cfg.min_healthy_backends = static_cast<uint32_t>(*m);
  if (auto w = s.boolean("withdraw_on_exit")) cfg.withdraw_on_exit = *w;
  s.finish();
  return cfg;
}

void bgp_restart_keys(const std::optional<BgpConfig>& a, const std::optional<BgpConfig>& b, std::vector<std::string>* keys) {
  if (a.has_value() != b.has_value()) {
    keys->push_back("controlplane.bgp");
    return;
  }
  if (!a) return;
  if (a->daemon != b->daemon) keys->push_back("controlplane.bgp.daemon");
  if (a->socket != b->socket) keys->push_back("controlplane.bgp.socket");
  if (a->include_file != b->include_file) keys->push_back("controlplane.bgp.include_file");
  if (a->protocol != b->protocol) keys->push_back("controlplane.bgp.protocol");
  if (a->link_interface != b->link_interface) keys->push_back("controlplane.bgp.link_interface");
}

}  // namespace fulcrum::config
