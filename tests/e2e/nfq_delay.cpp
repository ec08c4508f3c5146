// nfq_delay QUEUE DELAY_MS: holds every packet of netfilter queue QUEUE for DELAY_MS, then
// lets it go. The scheduling suite runs it in a backend's namespace, behind an iptables
// NFQUEUE rule on the backend's outgoing TCP, to make that backend answer 20 ms late where
// the kernel has no tc netem (it is the same effect: a constant delay on egress).
//
// libnetfilter_queue (Debian's); packets are not copied to user space (metadata only), and
// the queue fails open: when it is full the kernel lets packets through undelayed.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>

namespace {

using Clock = std::chrono::steady_clock;
struct Held {
  uint32_t id;
  Clock::time_point due;
};
std::deque<Held> held;
std::chrono::milliseconds delay;
volatile sig_atomic_t stop = 0;

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void*) {
  const nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph != nullptr) held.push_back({ntohl(ph->packet_id), Clock::now() + delay});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: nfq_delay QUEUE DELAY_MS\n");
    return 2;
  }
  const auto queue = static_cast<uint16_t>(std::atoi(argv[1]));
  delay = std::chrono::milliseconds(std::atoi(argv[2]));
  signal(SIGTERM, [](int) { stop = 1; });
  signal(SIGINT, [](int) { stop = 1; });
  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::perror("nfq_open");
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(h, queue, on_packet, nullptr);
  if (qh == nullptr || nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    std::perror("nfq_create_queue");
    return 1;
  }
  nfq_set_queue_maxlen(qh, 65536);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  const int fd = nfq_fd(h);
  std::printf("nfq_delay: queue %u, %lld ms\n", queue, static_cast<long long>(delay.count()));
  std::fflush(stdout);
  char buf[65536];
  while (!stop) {
    int wait = 100;
    if (!held.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(held.front().due - Clock::now()).count();
      wait = left < 0 ? 0 : static_cast<int>(left) + 1;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, wait) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) nfq_handle_packet(h, buf, static_cast<int>(n));
    }
    const auto now = Clock::now();
    while (!held.empty() && held.front().due <= now) {
      nfq_set_verdict(qh, held.front().id, NF_ACCEPT, 0, nullptr);
      held.pop_front();
    }
  }
  for (const Held& p : held) nfq_set_verdict(qh, p.id, NF_ACCEPT, 0, nullptr);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
