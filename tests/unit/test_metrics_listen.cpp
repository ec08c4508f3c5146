// The metrics endpoint's listener (controlplane/metrics/http_server.h) on both families
// (issue 15: "[IPv6]:port" as well as "IPv4:port"), fetched over a real socket.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "controlplane/metrics/http_server.h"

namespace fulcrum::cp {
namespace {

std::string fetch(int family, const char* addr, int port) {
  int fd = socket(family, SOCK_STREAM, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, addr, &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr, &a->sin_addr);
    len = sizeof *a;
  }
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got;
}

TEST(MetricsListen, Ipv6AndIpv4Addresses) {
  std::string error;
  auto v6 = HttpServer::start("[::1]:0", [] { return std::string("fulcrum_up 1\n"); }, &error);
  ASSERT_TRUE(v6) << error;
  EXPECT_NE(fetch(AF_INET6, "::1", v6->port()).find("fulcrum_up 1"), std::string::npos);
  auto v4 = HttpServer::start("127.0.0.1:0", [] { return std::string("fulcrum_up 1\n"); }, &error);
  ASSERT_TRUE(v4) << error;
  EXPECT_NE(fetch(AF_INET, "127.0.0.1", v4->port()).find("fulcrum_up 1"), std::string::npos);
  EXPECT_FALSE(HttpServer::start("::1:9469", [] { return std::string(); }, &error));
  EXPECT_FALSE(HttpServer::start("[::1:9469", [] { return std::string(); }, &error));
  EXPECT_FALSE(HttpServer::start("[not-an-address]:9469", [] { return std::string(); }, &error));
}

}  // namespace
}  // namespace fulcrum::cp
