// Whether an operator drained this node (lbctl node drain), persisted in
// <state_dir>/node-state.json so that a control plane restarted in the middle of a drain
// (an upgrade rolled through the site) keeps the node's routes withdrawn until
// `lbctl node undrain`.
#pragma once

#include <cstdint>
#include <string>

namespace fulcrum::cp {

struct NodeState {
  bool drained = false;
  uint64_t since_unix_ms = 0;   // when it was drained

  // Reads <dir>/node-state.json; a missing file is an undrained node. "" or why not.
  std::string load(const std::string& dir);
  // Replaces it atomically. "" or why not.
  std::string save(const std::string& dir) const;
};

}  // namespace fulcrum::cp
