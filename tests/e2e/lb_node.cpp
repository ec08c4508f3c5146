#include "tests/e2e/lb_node.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace fulcrum::test {

using namespace std::chrono_literals;

std::unique_ptr<LbNode> LbNode::start(const Options& o, std::string* skip) {
  if (std::string why = netns_unavailable_reason(); !why.empty()) {
    *skip = why;
    return nullptr;
  }
  std::unique_ptr<LbNode> node(new LbNode());
  std::string why;
  node->topo_ = Topology::create({o.backends, TopologyOptions::Mode::Dpdk, 1}, &why);
  if (!node->topo_) {
    ADD_FAILURE() << why;
    return nullptr;
  }
  node->shm_ = std::make_unique<ShmNames>(*node->topo_);
  node->config_path_ = node->topo_->value("RUN_DIR") + "/lb.toml";
  std::string config = full_toml(*node->topo_, *node->shm_, o.dp, o.cp);
  for (int b = o.unconfigured_from; b > 0 && b <= o.backends; ++b) {
    std::regex entry("\\[\\[vip\\.backends\\]\\]\\nname = \"b" + std::to_string(b) + "\"\\n[^\\[]*");
    config = std::regex_replace(config, entry, "");
  }
  node->write_config(config);
  node->dp_ = start_dataplane(*node->topo_, config, "dp");
  if (!wait_dataplane_ready(node->shm_->status, 0, 20s)) {
    ADD_FAILURE() << "the data plane did not start:\n" << node->dp_->log();
    return nullptr;
  }
  node->cp_ = start_controlplane(*node->topo_, node->config_path_);
  if (!node->cp_->running()) {
    ADD_FAILURE() << "the control plane did not start:\n" << node->cp_->log();
    return nullptr;
  }
  bool ready = wait_until([&] {
    LbctlResult r = lbctl(*node->topo_, "backend list");
    if (r.exit != 0) return false;
    for (const auto& b : r.json) {
      if (b["health_reason"] != (o.cp.health == "http" ? "HTTP 200" : "connected")) return false;
    }
    return true;
  }, 10s);
  ready = ready && wait_until([&] { return !http_get(*node->topo_, "http://198.18.0.10/", 1).empty(); }, 10s);
  if (!ready) {
    node->dump();
    ADD_FAILURE() << "the node did not become ready";
    return nullptr;
  }
  return node;
}

LbNode::~LbNode() {
  if (cp_) cp_->stop();
  if (dp_) {
    EXPECT_EQ(dp_->stop(), 0) << "lb-dataplane did not exit cleanly";
  }
}

std::string LbNode::read_config() const {
  std::ifstream in(config_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void LbNode::write_config(const std::string& text) const { std::ofstream(config_path_) << text; }

void LbNode::restart_controlplane(const std::string& name) {
  if (cp_) cp_->kill9();
  cp_ = start_controlplane(*topo_, config_path_, name);
}

void LbNode::dump() {
  if (cp_) std::printf("--- lb-controlplane log:\n%s\n", cp_->log().c_str());
  if (dp_) std::printf("--- lb-dataplane log:\n%s\n", dp_->log().c_str());
  if (topo_) std::printf("--- lbctl stats:\n%s\n", lbctl(*topo_, "stats", true).out.c_str());
}

}  // namespace fulcrum::test
