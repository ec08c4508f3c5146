#include "controlplane/service/publisher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "dataplane/abi/publish.h"

namespace fulcrum::cp {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Publisher::Publisher(abi::TablesRegion& tables, std::string status_name, BeforeCommit before_commit)
    : tables_(tables), status_name_(std::move(status_name)), before_commit_(std::move(before_commit)) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::system_error(errno, std::generic_category(), "publisher: eventfd");
  thread_ = std::thread([this] { thread_main(); });
}

Publisher::~Publisher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  close(event_fd_);
}

bool Publisher::busy() const {
  std::lock_guard lock(mu_);
  return job_.has_value() || running_ || result_.has_value();
}

void Publisher::submit(Job job) {
  {
    std::lock_guard lock(mu_);
    job_ = std::move(job);
  }
  cv_.notify_all();
}

std::optional<Publisher::Result> Publisher::take() {
  uint64_t drained;
  (void)!read(event_fd_, &drained, sizeof drained);
  std::lock_guard lock(mu_);
  std::optional<Result> r = std::move(result_);
  result_.reset();
  return r;
}

Publisher::Result Publisher::run_now(Job job) {
  submit(std::move(job));
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return result_.has_value(); });
  Result r = std::move(*result_);
  result_.reset();
  lock.unlock();
  uint64_t drained;
  (void)!read(event_fd_, &drained, sizeof drained);
  return r;
}

void Publisher::thread_main() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_.has_value(); });
      if (stop_) return;
      job = std::move(*job_);
      job_.reset();
      running_ = true;
    }
    Result r;
    try {
      r = execute(job);
    } catch (const std::exception& e) {
      r.kind = job.kind;
      r.ticket = job.ticket;
      r.error = std::string("internal error while publishing: ") + e.what();
    }
    {
      std::lock_guard lock(mu_);
      result_ = std::move(r);
      running_ = false;
    }
    cv_.notify_all();
    uint64_t one = 1;
    (void)!write(event_fd_, &one, sizeof one);
  }
}

Publisher::Result Publisher::execute(Job& job) {
  Result r;
  r.kind = job.kind;
  r.ticket = job.ticket;
  auto t0 = std::chrono::steady_clock::now();
  r.tables = cache_.prepare(job.spec);
  r.build_ms = ms_since(t0);
  if (job.kind == Kind::Plan) {
    r.spec = std::move(job.spec);
    r.total_ms = ms_since(t0);
    return r;
  }
  if (!status_.valid() || !status_.still_named(status_name_)) {
    abi::Mapping m;
    std::string ignored;
    status_ = abi::open_status(status_name_, abi::Access::ReadOnly, &m, &ignored) ? std::move(m) : abi::Mapping();
  }
  abi::PublishOptions options;
  options.quiesce_timeout = job.quiesce_timeout;
  abi::TablesWriter writer(tables_, options);
  writer.set_status(status_.valid() ? &abi::status_of(status_) : nullptr);
  if (before_commit_) before_commit_(job.spec);
  PublishOutcome out = publish_tables(writer, job.spec);
  r.error = std::move(out.error);
  r.warning = std::move(out.warning);
  r.generation = out.generation;
  r.total_ms = ms_since(t0);
  return r;
}

}  // namespace fulcrum::cp
