// A client in the client namespace, for the acceptance tests: real TCP connections through
// the VIP, counted by which backend answered (the rig's nginx answers with its name).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/rig/topology.h"

namespace fulcrum::test {

// One GET / on a new connection. The body ("b2\n") or "" on failure (*error says why).
// Must run on a thread inside the client namespace.
std::string http_once(const std::string& ip, uint16_t port, int timeout_ms, std::string* error = nullptr);

// One connection kept open across requests (HTTP keep-alive).
class KeepAlive {
 public:
  KeepAlive(const Topology& topo, const std::string& ip, uint16_t port);  // connects from the client namespace
  ~KeepAlive();
  bool connected() const { return fd_ >= 0; }
  uint16_t local_port() const;  // the client's source port (host order), 0 if not connected
  // GET / on this connection: the body, or "" if the connection failed.
  std::string get(int timeout_ms = 3000);

 private:
  int fd_ = -1;
};

struct SpreadResult {
  std::map<std::string, int> by_backend;   // "b1" -> connections
  int failed = 0;
  std::string first_error;
};
// `connections` new connections, `parallel` at a time.
SpreadResult spread(const Topology& topo, const std::string& ip, uint16_t port, int connections, int parallel = 8);

// New connections one after another on `threads` threads until stop(); each outcome is
// recorded with its time. With `per_second` > 0 the load is open-loop: connections start
// at that rate in all (each thread keeps its own schedule), however long some take.
class Load {
 public:
  Load(const Topology& topo, const std::string& ip, uint16_t port, int threads = 2, int timeout_ms = 2000,
       double per_second = 0);
  ~Load();
  void stop();
  int total() const { return total_.load(); }
  int failed() const { return failed_.load(); }
  // Failures that started at or after `t` (steady clock).
  int failed_since(std::chrono::steady_clock::time_point t) const;
  // Time of the last failure (epoch of steady_clock if none).
  std::chrono::steady_clock::time_point last_failure() const;
  std::map<std::string, int> by_backend() const;
  // Of the connections that started in [from, to): the successful ones by backend, and how
  // long each took (connect, request, response), in ms.
  std::map<std::string, int> by_backend(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) const;
  std::vector<double> durations_ms(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) const;
  std::string first_error() const {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  struct Outcome {
    std::chrono::steady_clock::time_point at;
    bool ok;
    std::string backend;
    double ms = 0;
  };
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> total_{0}, failed_{0};
  mutable std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::string first_error_;
};

}  // namespace fulcrum::test
