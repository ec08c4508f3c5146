// A minimal HTTP/1.x server for GET /metrics, on a thread of its own.
//
// Why not prometheus-cpp's Exposer (civetweb): it gives each connection a worker thread
// until the request is complete, so two idle clients on its two threads blocked every
// scrape for civetweb's 30 s request timeout. Here one thread multiplexes every connection
// with epoll, a connection gets kRequestMs to send its request and take its answer, and at
// most kMaxConnections are open; when they are all taken, a new connection evicts the one
// that has waited longest without a complete request. An idle or slow client (or 1,000 of
// them) therefore cannot keep a scraper out.
// One request per connection (Connection: close), which Prometheus is fine with.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace fulcrum::cp {

class HttpServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr uint64_t kRequestMs = 5000;
  static constexpr size_t kMaxRequest = 8192;

  // Returns the body for GET /metrics (called on the server's thread).
  using Render = std::function<std::string()>;

  // Listens on "IPv4:port" (port 0: any). nullptr and *error if it cannot.
  static std::unique_ptr<HttpServer> start(const std::string& address, Render render, std::string* error);
  ~HttpServer();
  int port() const { return port_; }

 private:
  HttpServer() = default;
  void loop();

  int listen_fd_ = -1, epoll_ = -1, wake_ = -1, port_ = 0;
  Render render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace fulcrum::cp
