#include "controlplane/announce/node_state.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "controlplane/announce/bird_announcer.h"

namespace fulcrum::cp {
namespace {

std::string file_of(const std::string& dir) { return dir + "/node-state.json"; }

}  // namespace

std::string NodeState::load(const std::string& dir) {
  *this = NodeState{};
  std::ifstream in(file_of(dir));
  if (!in) return errno == ENOENT ? "" : "cannot read " + file_of(dir) + ": " + std::strerror(errno);
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    if (j.at("version").get<int>() != 1) return file_of(dir) + ": unknown version " + j["version"].dump();
    drained = j.at("drained").get<bool>();
    since_unix_ms = j.value("since_unix_ms", uint64_t{0});
  } catch (const std::exception& e) {
    return file_of(dir) + " is not a node state file (" + e.what() + "); remove it or fix it";
  }
  return "";
}

std::string NodeState::save(const std::string& dir) const {
  nlohmann::json j{{"version", 1}, {"drained", drained}, {"since_unix_ms", since_unix_ms}};
  return write_file_atomically(file_of(dir), j.dump(2) + "\n");
}

}  // namespace fulcrum::cp
