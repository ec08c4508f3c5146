// What operators changed at run time (drains, weight overrides), persisted so that a
// restarted control plane does not silently undrain a backend.
//
// Stored as JSON in <state_dir>/operator-state.json, replaced atomically (write a temporary
// file, fsync, rename, fsync the directory), so a crash leaves the old or the new state,
// never a torn one. Keys are (VIP name, backend "address:port"): what an operator named.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace fulcrum::cp {

// mkdir -p with `mode` for the directories it creates. "" or the reason.
std::string make_directories(const std::string& dir, unsigned mode = 0750);

struct BackendKey {
  std::string vip;        // VIP name
  std::string endpoint;   // "198.18.2.11:80"
  auto operator<=>(const BackendKey&) const = default;
};

class OperatorState {
 public:
  explicit OperatorState(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed and reads the file if present. "" or the reason.
  std::string load();
  // Writes the whole state. "" or the reason (the in-memory state is kept either way).
  std::string save() const;

  bool drained(const BackendKey& k) const { return drains_.count(k) != 0; }
  std::optional<uint16_t> weight(const BackendKey& k) const;
  void set_drained(const BackendKey& k, bool drained);
  void set_weight(const BackendKey& k, std::optional<uint16_t> weight);
  const std::string& path() const;

 private:
  std::string dir_;
  mutable std::string path_;
  std::set<BackendKey> drains_;
  std::map<BackendKey, uint16_t> weights_;
};

}  // namespace fulcrum::cp
