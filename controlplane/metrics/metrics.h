// Prometheus text exposition over HTTP (prometheus-cpp, from Debian), on the configured
// address, loopback by default. Values are read from the service at scrape time: the
// data plane's counters live in shared memory already, so nothing is double-counted here.
#pragma once

#include <memory>
#include <string>

#include "controlplane/service/service.h"

namespace prometheus {
class Exposer;
}

namespace fulcrum::cp {

class MetricsEndpoint {
 public:
  // Listens on "address:port". Fails if the address is taken.
  static Expected<std::unique_ptr<MetricsEndpoint>> start(const std::string& address, Service& service);
  ~MetricsEndpoint();
  int port() const;  // the port really bound (tests use ":0")

 private:
  MetricsEndpoint() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<void> collectable_;
};

}  // namespace fulcrum::cp
