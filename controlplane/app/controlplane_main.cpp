// lb-controlplane: reads the config, health-checks backends, publishes tables, serves
// lbctl and metrics. One thread runs everything in an epoll loop (signals, the lbctl
// socket, health checks, a 200 ms tick); prometheus-cpp answers scrapes on its own threads.
//
// It may be killed at any moment: the data plane keeps forwarding with the last tables,
// and a restarted control plane re-reads the same config and operator state, reuses the
// ids of the published generation and republishes the same tables.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>

#include "config/loader/parse_file.h"
#include "controlplane/api/api_server.h"
#include "controlplane/metrics/metrics.h"
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {
namespace {

// One control plane per state directory: two would fight over the tables.
int lock_state_dir(const std::string& dir) {
  if (std::string err = make_directories(dir); !err.empty()) {
    log("error", "state directory: %s", err.c_str());
    return -1;
  }
  std::string path = dir + "/lb-controlplane.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    log("error", "another lb-controlplane holds %s; stop it first", path.c_str());
    return -1;
  }
  return fd;
}

int run(config::LbConfig cfg, toml::table raw) {
  int lock = lock_state_dir(cfg.controlplane.state_dir);
  if (lock < 0) return 1;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string metrics_address = cfg.controlplane.metrics;
  const config::ControlplaneConfig cp_cfg = cfg.controlplane;
  Expected<std::unique_ptr<Service>> created = Service::create(std::move(cfg), std::move(raw));
  if (!created) {
    log("error", "%s", created.error().message.c_str());
    return 1;
  }
  Service& service = *created.value();
  Expected<std::unique_ptr<ApiServer>> api = ApiServer::listen(cp_cfg, service);
  if (!api) {
    log("error", "%s", api.error().message.c_str());
    return 1;
  }
  std::unique_ptr<MetricsEndpoint> metrics;
  if (!metrics_address.empty()) {
    Expected<std::unique_ptr<MetricsEndpoint>> m = MetricsEndpoint::start(metrics_address, service);
    if (!m) {
      log("error", "%s", m.error().message.c_str());
      return 1;
    }
    metrics = std::move(m.value());
  }

  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  itimerspec every{{0, 200'000'000}, {0, 200'000'000}};
  timerfd_settime(tfd, 0, &every, nullptr);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {sfd, tfd, api.value()->fd(), service.health_fd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  log("info", "running (config %s)", service.config().path.c_str());
  for (;;) {
    uint64_t now = monotonic_ms(), due = service.health_deadline_ms();
    int wait = due <= now ? 0 : static_cast<int>(std::min<uint64_t>(due - now, 200));
    epoll_event events[8];
    int n = epoll_wait(ep, events, 8, wait);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == sfd) {
        signalfd_siginfo si{};
        if (read(sfd, &si, sizeof si) != sizeof si) continue;
        if (si.ssi_signo == SIGHUP) {
          log("info", "SIGHUP: reloading");
          Expected<Json> r = service.reload();
          if (!r) log("error", "reload refused: %s", r.error().message.c_str());
        } else {
          log("info", "%s: exiting; the data plane keeps forwarding with the last tables", strsignal(static_cast<int>(si.ssi_signo)));
          return 0;
        }
      } else if (fd == tfd) {
        uint64_t expirations;
        (void)!read(tfd, &expirations, sizeof expirations);
        service.tick();
      } else if (fd == api.value()->fd()) {
        api.value()->run();
      }
    }
    service.run_health();
  }
}

}  // namespace
}  // namespace fulcrum::cp

int main(int argc, char** argv) {
  CLI::App app{"Fulcrum control plane: health checks, tables, lbctl socket, metrics"};
  std::string path;
  bool check_only = false;
  app.add_option("-c,--config", path, "configuration file")->required();
  app.add_flag("--check", check_only, "validate the whole file and exit (0 valid, 2 invalid)");
  CLI11_PARSE(app, argc, argv);
  fulcrum::config::Errors errors(path);
  std::optional<toml::table> raw = fulcrum::config::parse_file(path, errors);
  std::optional<fulcrum::config::LbConfig> cfg = raw ? fulcrum::config::parse_config(*raw, path, errors) : std::nullopt;
  if (!cfg) {
    std::fputs(errors.str().c_str(), stderr);
    return 2;
  }
  if (check_only) {
    std::printf("%s: valid\n", path.c_str());
    return 0;
  }
  return fulcrum::cp::run(std::move(*cfg), std::move(*raw));
}
