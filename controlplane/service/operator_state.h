// What operators changed at run time (drains, weights, maintenance, forced health),
// persisted so that a restarted control plane does not silently undo an operator's action.
//
// Stored as JSON in <state_dir>/operator-state.json, replaced atomically (write a temporary
// file, fsync, rename, fsync the directory), so a crash leaves the old or the new state,
// never a torn one. Keys are (VIP name, backend "address:port"): what an operator named.
// Only differences from the config are kept: an undrain of a backend the file says is
// active removes its entry instead of recording "active".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fulcrum::cp {

// mkdir -p with `mode` for the directories it creates. "" or the reason.
std::string make_directories(const std::string& dir, unsigned mode = 0750);

struct BackendKey {
  std::string vip;        // VIP name
  std::string endpoint;   // "198.18.2.11:80"
  auto operator<=>(const BackendKey&) const = default;
};

// One backend's overrides; an empty one is not stored.
struct Overrides {
  std::optional<bool> drained;        // true: drained; false: undrained over state = "draining"
  std::optional<uint16_t> weight;     // 0 .. 1000
  bool maintenance = false;
  std::optional<bool> forced_up;      // forced health: true up, false down
  bool empty() const { return !drained && !weight && !maintenance && !forced_up; }
  bool operator==(const Overrides&) const = default;
};

class OperatorState {
 public:
  explicit OperatorState(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed and reads the file if present (versions 1 and 2).
  // "" or the reason.
  std::string load();
  // Writes the whole state. "" or the reason (the in-memory state is kept either way).
  std::string save() const;

  Overrides get(const BackendKey& k) const;
  void set(const BackendKey& k, const Overrides& o);   // an empty `o` removes the entry
  const std::map<BackendKey, Overrides>& entries() const { return entries_; }
  const std::string& path() const;

 private:
  std::string dir_;
  mutable std::string path_;
  std::map<BackendKey, Overrides> entries_;
};

}  // namespace fulcrum::cp
