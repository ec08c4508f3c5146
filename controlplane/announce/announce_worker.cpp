#include "controlplane/announce/announce_worker.h"

#include "config/loader/net_parse.h"
#include "controlplane/service/log.h"

namespace fulcrum::cp {
namespace {

uint64_t now_unix_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string addresses(const std::vector<AnnouncedRoute>& routes) {
  if (routes.empty()) return "none";
  std::string out;
  for (const AnnouncedRoute& r : routes) out += (out.empty() ? "" : ", ") + r.addr.str();
  return out;
}

}  // namespace

AnnounceWorker::AnnounceWorker(std::unique_ptr<RouteAnnouncer> announcer, std::chrono::milliseconds retry,
                               std::chrono::milliseconds query)
    : announcer_(std::move(announcer)), describe_(announcer_->describe()), retry_(retry), query_(query) {
  thread_ = std::thread([this] { thread_main(); });
}

AnnounceWorker::~AnnounceWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t AnnounceWorker::submit(std::vector<AnnouncedRoute> routes) {
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(routes);
    seq = ++snap_.submitted;
    retry_at_ = {};  // a new plan goes out now, whatever the previous one's retry schedule
  }
  cv_.notify_all();
  return seq;
}

AnnounceWorker::Snapshot AnnounceWorker::snapshot() const {
  std::lock_guard lock(mu_);
  return snap_;
}

std::string AnnounceWorker::submit_and_wait(std::vector<AnnouncedRoute> routes, std::chrono::milliseconds timeout) {
  uint64_t seq = submit(std::move(routes));
  std::unique_lock lock(mu_);
  bool done = cv_.wait_for(lock, timeout, [&] { return snap_.applied >= seq || snap_.failed >= seq; });
  if (!done) return "no answer from " + describe_ + " within " + std::to_string(timeout.count()) + " ms";
  return snap_.applied >= seq ? "" : snap_.error;
}

void AnnounceWorker::thread_main() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    // A plan not tried yet, or the latest one failed and its retry is due.
    const bool retrying = snap_.failed == snap_.submitted && snap_.applied < snap_.failed;
    if ((snap_.submitted > attempted_ || retrying) && now >= retry_at_) {
      uint64_t seq = snap_.submitted;
      std::vector<AnnouncedRoute> routes = pending_;
      attempted_ = seq;
      ++snap_.attempts;
      lock.unlock();
      std::string err = announcer_->announce(routes);
      lock.lock();
      if (err.empty()) {
        bool changed = !(snap_.routes == routes) || !snap_.error.empty() || snap_.applied == 0;
        snap_.applied = seq;
        snap_.routes = std::move(routes);
        snap_.applied_unix_ms = now_unix_ms();
        if (changed) log("info", "%s announces: %s", describe_.c_str(), addresses(snap_.routes).c_str());
        snap_.error.clear();
        last_logged_.clear();
      } else {
        snap_.failed = seq;
        snap_.error = err;
        snap_.error_unix_ms = now_unix_ms();
        retry_at_ = std::chrono::steady_clock::now() + retry_;
        if (err != last_logged_) {
          log("error", "%s: %s (wanted: %s; retrying every %lld ms)", describe_.c_str(), err.c_str(),
              addresses(routes).c_str(), static_cast<long long>(retry_.count()));
          last_logged_ = err;
        }
      }
      query_at_ = {};  // show the new state in lbctl status soon
      cv_.notify_all();
      continue;
    }
    if (now >= query_at_) {
      lock.unlock();
      DaemonStatus st = announcer_->query();
      lock.lock();
      snap_.daemon = std::move(st);
      snap_.daemon_unix_ms = now_unix_ms();
      query_at_ = std::chrono::steady_clock::now() + query_;
      continue;
    }
    auto wake = query_at_;
    if (retrying && retry_at_ < wake) wake = retry_at_;
    cv_.wait_until(lock, wake, [&] { return stop_ || snap_.submitted > attempted_; });
  }
}

}  // namespace fulcrum::cp
