#include "controlplane/announce/bird_announcer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "config/loader/net_parse.h"

namespace fulcrum::cp {

std::unique_ptr<RouteAnnouncer> make_route_announcer(const config::BgpConfig& cfg) {
  return std::make_unique<BirdAnnouncer>(cfg);  // "bird" is the only daemon the config accepts
}

namespace {

// One static protocol: a BIRD 2 static protocol has one channel, so IPv4 and IPv6 routes
// go into two of them.
void render_static(std::ostringstream& t, const config::BgpConfig& cfg, const std::string& name, bool v6,
                   const std::vector<AnnouncedRoute>& routes) {
  t << "protocol static " << name << " {\n"
    << (v6 ? "  ipv6;\n" : "  ipv4;\n");
  if (!cfg.link_interface.empty()) {
    t << "  check link on;  # withdrawn by BIRD itself when " << cfg.link_interface << " loses its link\n";
  }
  for (const AnnouncedRoute& r : routes) {
    if (r.addr.is_v6() != v6) continue;
    t << "  route " << r.addr.str() << (v6 ? "/128 " : "/32 ");
    if (cfg.link_interface.empty()) t << "blackhole;";
    else t << "via \"" << cfg.link_interface << "\";";
    if (!r.comment.empty()) t << "  # " << r.comment;
    t << "\n";
  }
  t << "}\n";
}

}  // namespace

std::string bird_protocol6(const config::BgpConfig& cfg) { return cfg.protocol + "6"; }

std::string render_bird_include(const config::BgpConfig& cfg, const std::vector<AnnouncedRoute>& routes) {
  std::ostringstream t;
  t << "# Written by lb-controlplane (Fulcrum), included by BIRD's configuration: the VIPs this\n"
    << "# node announces now. Rewritten on every change; do not edit (lbctl vip list says why a\n"
    << "# VIP is missing). BGP protocols export it with: export where proto = \"" << cfg.protocol << "\";\n";
  bool any_v6 = std::any_of(routes.begin(), routes.end(), [](const AnnouncedRoute& r) { return r.addr.is_v6(); });
  if (any_v6) {
    t << "# IPv6 VIPs (/128) are in protocol " << bird_protocol6(cfg) << ": a BGP ipv6 channel exports them with:\n"
      << "# export where proto = \"" << bird_protocol6(cfg) << "\";\n";
  }
  render_static(t, cfg, cfg.protocol, false, routes);
  // issue 15: written only while some IPv6 VIP is announced, so that an IPv4-only node's
  // file (and BIRD's protocols) stay as they were.
  if (any_v6) render_static(t, cfg, bird_protocol6(cfg), true, routes);
  return t.str();
}

std::string write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  fchmod(fd, 0644);  // whatever the umask: BIRD must be able to read it
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return "cannot write " + tmp + ": " + why;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    return "cannot write " + tmp + ": " + why;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + why;
  }
  return "";
}

std::vector<DaemonProtocol> parse_bird_protocols(const BirdReply& reply) {
  std::vector<DaemonProtocol> out;
  for (const BirdLine& l : reply.lines) {
    if (l.code != 1002) continue;  // 2002 is the heading, 0000 the end
    std::istringstream in(l.text);
    DaemonProtocol p;
    std::string table, since;
    if (!(in >> p.name >> p.proto >> table >> p.state >> since)) continue;
    std::getline(in, p.info);
    size_t first = p.info.find_first_not_of(' ');
    p.info = first == std::string::npos ? "" : p.info.substr(first);
    while (!p.info.empty() && p.info.back() == ' ') p.info.pop_back();
    out.push_back(std::move(p));
  }
  return out;
}

std::string BirdAnnouncer::describe() const { return "BIRD at " + cfg_.socket; }

std::string BirdAnnouncer::announce(const std::vector<AnnouncedRoute>& routes) {
  if (std::string err = write_file_atomically(cfg_.include_file, render_bird_include(cfg_, routes)); !err.empty()) {
    return err;
  }
  BirdClient bird;
  if (std::string err = bird.connect(cfg_.socket, timeout_ms_); !err.empty()) return err;
  BirdReply reply;
  if (std::string err = bird.command("configure", &reply); !err.empty()) return "configure: " + err;
  // 0003 Reconfigured, 0004 in progress, 0005 queued behind another one: all take our file.
  if (!reply.ok()) {
    return "BIRD refused its configuration (nothing changed in what it announces): " + reply.message();
  }
  // A BIRD whose configuration does not include our file reconfigures happily and announces
  // nothing of ours: say so rather than report success.
  if (std::string err = bird.command("show protocols " + cfg_.protocol, &reply); !err.empty()) return err;
  if (!reply.ok()) {
    return "BIRD knows no protocol " + cfg_.protocol + " after reading its configuration: does it include \"" +
           cfg_.include_file + "\"? (add: include \"" + cfg_.include_file + "\";)";
  }
  return "";
}

DaemonStatus BirdAnnouncer::query() {
  DaemonStatus st;
  BirdClient bird;
  if (std::string err = bird.connect(cfg_.socket, timeout_ms_); !err.empty()) {
    st.error = err;
    return st;
  }
  st.reachable = true;
  st.version = bird.greeting();
  if (size_t at = st.version.find(" ready."); at != std::string::npos) st.version.resize(at);
  BirdReply reply;
  if (std::string err = bird.command("show protocols", &reply); !err.empty() || !reply.ok()) {
    st.error = err.empty() ? reply.message() : err;
    return st;
  }
  for (DaemonProtocol& p : parse_bird_protocols(reply)) {
    if (p.name == cfg_.protocol) {
      st.protocol_known = true;
      st.protocol_state = p.state;
    }
    if (p.proto == "BGP" || p.proto == "BFD") st.sessions.push_back(std::move(p));
  }
  if (!st.protocol_known) {
    st.error = "BIRD's configuration has no protocol " + cfg_.protocol + " (include \"" + cfg_.include_file + "\";)";
  }
  return st;
}

}  // namespace fulcrum::cp
