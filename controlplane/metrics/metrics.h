// Prometheus text exposition over HTTP, on the configured address (loopback by default).
// Values are read from the service at scrape time: the data plane's counters live in shared
// memory already, so nothing is double-counted here. Every family is listed in
// docs/operations.md (a test checks it).
#pragma once

#include <memory>
#include <string>

#include "controlplane/metrics/http_server.h"
#include "controlplane/service/service.h"

namespace fulcrum::cp {

class MetricsEndpoint {
 public:
  // Listens on "address:port". Fails if the address is taken.
  static Expected<std::unique_ptr<MetricsEndpoint>> start(const std::string& address, Service& service);
  int port() const { return server_->port(); }  // the port really bound (tests use ":0")

  // The exposition text (what GET /metrics returns).
  static std::string render(Service& service);

 private:
  MetricsEndpoint() = default;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace fulcrum::cp
