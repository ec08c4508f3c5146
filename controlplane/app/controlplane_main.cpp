// lb-controlplane: reads the config, health-checks backends, publishes tables, serves
// lbctl and metrics. One thread runs everything in an epoll loop (signals, the lbctl
// socket, health checks, the publisher's results, a 200 ms tick); the Publisher builds and
// writes tables on its own thread, and the metrics endpoint answers on its own.
//
// It may be killed at any moment: the data plane keeps forwarding with the last tables,
// and a restarted control plane re-reads the same config and operator state, reuses the
// ids of the published generation and republishes the same tables.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>

#include "config/loader/parse_file.h"
#include "controlplane/api/api_server.h"
#include "controlplane/metrics/metrics.h"
#include "controlplane/service/log.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {
namespace {

constexpr uint64_t kMetricsRetryMs = 5000;

// One control plane per state directory: two would fight over the operator state.
int lock_state_dir(const std::string& dir) {
  if (std::string err = make_directories(dir); !err.empty()) {
    log("error", "state directory: %s", err.c_str());
    return -1;
  }
  std::string path = dir + "/lb-controlplane.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    log("error", "cannot create the lock file %s: %s (controlplane.state_dir must be a writable directory)", path.c_str(),
        std::strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) log("error", "another lb-controlplane holds %s; stop it first", path.c_str());
    else log("error", "cannot lock %s: %s", path.c_str(), std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

// One writer per tables region: TablesWriter assumes it is the only one. Two control planes
// with different state directories and sockets but the same shm_tables would otherwise
// publish into one region in turn. The lock is a shared-memory object named after the
// region ("/fulcrum-tables.lock"), so it follows the region's name whatever the state_dir.
int lock_tables(const std::string& shm_tables) {
  std::string name = shm_tables + ".lock";
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    log("error", "cannot create the lock /dev/shm%s: %s", name.c_str(), std::strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      log("error", "another lb-controlplane publishes into the tables region %s (it holds /dev/shm%s); stop it first, "
                   "or give this one another dataplane.shm_tables", shm_tables.c_str(), name.c_str());
    } else {
      log("error", "cannot lock /dev/shm%s: %s", name.c_str(), std::strerror(errno));
    }
    close(fd);
    return -1;
  }
  return fd;
}

int run(config::LbConfig cfg, toml::table raw) {
  int lock = lock_state_dir(cfg.controlplane.state_dir);
  if (lock < 0) return 1;
  int tables_lock = lock_tables(cfg.dataplane.shm_tables);
  if (tables_lock < 0) return 1;
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
  ApiServer& server = *api.value();
  // Metrics are for monitoring: a port conflict there must not keep the balancer's control
  // plane down. Logged, and retried every few seconds.
  std::unique_ptr<MetricsEndpoint> metrics;
  uint64_t metrics_retry_ms = 0;
  auto try_metrics = [&] {
    if (metrics_address.empty() || metrics || monotonic_ms() < metrics_retry_ms) return;
    Expected<std::unique_ptr<MetricsEndpoint>> m = MetricsEndpoint::start(metrics_address, service);
    if (m) {
      metrics = std::move(m.value());
    } else {
      if (metrics_retry_ms == 0) log("error", "%s; running without metrics, retrying every %llu s", m.error().message.c_str(),
                                     static_cast<unsigned long long>(kMetricsRetryMs / 1000));
      metrics_retry_ms = monotonic_ms() + kMetricsRetryMs;
    }
  };
  try_metrics();

  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  itimerspec every{{0, 200'000'000}, {0, 200'000'000}};
  timerfd_settime(tfd, 0, &every, nullptr);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {sfd, tfd, server.fd(), service.health_fd(), service.publisher_fd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  log("info", "running (config %s)", service.config().path.c_str());
  uint64_t publish_due = 0;
  for (;;) {
    uint64_t now = monotonic_ms(), due = std::min(service.health_deadline_ms(), publish_due);
    int wait = due <= now ? 0 : static_cast<int>(std::min<uint64_t>(due - now, 200));
    if (service.polling()) wait = std::min(wait, 2);  // an answer from the data plane: no fd to wake us
    epoll_event events[8];
    int n = epoll_wait(ep, events, 8, wait);
    // Nothing a request, a check or a publish does may end the process: an exception is
    // logged and the loop goes on.
    try {
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == sfd) {
          signalfd_siginfo si{};
          if (read(sfd, &si, sizeof si) != sizeof si) continue;
          if (si.ssi_signo == SIGHUP) {
            log("info", "SIGHUP: reloading");
            Reply r = service.reload(false);
            if (auto* d = std::get_if<Deferred>(&r)) service.forget(d->id);  // the outcome is logged
            else if (auto* e = std::get_if<Expected<Json>>(&r); e != nullptr && !*e) log("error", "SIGHUP: %s", e->error().message.c_str());
          } else {
            log("info", "%s: exiting; the data plane keeps forwarding with the last tables", strsignal(static_cast<int>(si.ssi_signo)));
            service.shutdown();  // issue 12: withdraws the VIPs (withdraw_on_exit)
            return 0;
          }
        } else if (fd == tfd) {
          uint64_t expirations;
          (void)!read(tfd, &expirations, sizeof expirations);
          service.tick();
          server.sweep();
          try_metrics();
        } else if (fd == server.fd()) {
          server.run();
        } else if (fd == service.publisher_fd()) {
          service.on_publisher_event();
        }
      }
      service.run_health();
      publish_due = service.pump();
      server.deliver();
    } catch (const std::exception& e) {
      log("error", "internal error in the event loop (the control plane goes on): %s", e.what());
    }
  }
}

}  // namespace
}  // namespace fulcrum::cp

int main(int argc, char** argv) {
  CLI::App app{"Fulcrum control plane: health checks, tables, lbctl socket, metrics"};
  std::string path, level = "info", format = "auto";
  bool check_only = false;
  app.add_option("-c,--config", path, "configuration file")->required();
  app.add_flag("--check", check_only, "validate the whole file and exit (0 valid, 2 invalid)");
  app.add_option("--log-level", level, "debug, info, warning or error (default info)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.add_option("--log-format", format,
                 "text, journal (\"<N>\" syslog priorities for systemd-journald), json (one object a line), or auto "
                 "(journal when stderr is the journal, else text)")
      ->check(CLI::IsMember({"auto", "text", "journal", "json"}));
  app.set_version_flag("--version", std::string("lb-controlplane (Fulcrum) ") + FULCRUM_VERSION);
  CLI11_PARSE(app, argc, argv);
  using fulcrum::cp::LogFormat;
  fulcrum::cp::set_log_options(*fulcrum::cp::parse_log_level(level),
                               format == "text" ? LogFormat::Text : format == "journal" ? LogFormat::Journal
                               : format == "json" ? LogFormat::Json : LogFormat::Auto);
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
  // Log the config path as an absolute one: a relative path says nothing in the journal.
  if (char* real = realpath(path.c_str(), nullptr)) {
    cfg->path = real;
    free(real);
  }
  return fulcrum::cp::run(std::move(*cfg), std::move(*raw));
}
