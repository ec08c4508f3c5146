// TOML the config unit tests share: the smallest valid head (two ports and the cluster's
// hash seed) that a test appends its [[vip]] tables to, so each test file shows only the
// keys it is about.
#pragma once

#include <string>

namespace fulcrum::config::snippets {

inline const std::string kTwoPortsHead = R"([dataplane]
[[dataplane.ports]]
name = "client"
device = "net_tap0"
address = "198.18.1.1/24"
[[dataplane.ports]]
name = "backend"
device = "net_tap1"
address = "198.18.2.1/24"
[controlplane]
hash_seed = "0123456789abcdef"
)";

}  // namespace fulcrum::config::snippets
