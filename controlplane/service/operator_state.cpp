#include "controlplane/service/operator_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fulcrum::cp {

// Every prefix of `dir` ending before a '/', then `dir` itself.
std::string make_directories(const std::string& dir, unsigned mode) {
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    std::string prefix = dir.substr(0, pos);
    if (!prefix.empty() && mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return "cannot create " + prefix + ": " + std::strerror(errno);
    }
    if (pos == std::string::npos) return "";
  }
}

const std::string& OperatorState::path() const {
  if (path_.empty()) path_ = dir_ + "/operator-state.json";
  return path_;
}

std::optional<uint16_t> OperatorState::weight(const BackendKey& k) const {
  auto it = weights_.find(k);
  if (it == weights_.end()) return std::nullopt;
  return it->second;
}

void OperatorState::set_drained(const BackendKey& k, bool drained) {
  if (drained) drains_.insert(k);
  else drains_.erase(k);
}

void OperatorState::set_weight(const BackendKey& k, std::optional<uint16_t> weight) {
  if (weight) weights_[k] = *weight;
  else weights_.erase(k);
}

std::string OperatorState::load() {
  if (std::string err = make_directories(dir_); !err.empty()) return "state directory: " + err;
  std::ifstream in(path());
  if (!in) return errno == ENOENT ? "" : "cannot read " + path() + ": " + std::strerror(errno);
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& d : j.value("drains", nlohmann::json::array())) {
      drains_.insert({d.at("vip").get<std::string>(), d.at("backend").get<std::string>()});
    }
    for (const auto& w : j.value("weights", nlohmann::json::array())) {
      weights_[{w.at("vip").get<std::string>(), w.at("backend").get<std::string>()}] = w.at("weight").get<uint16_t>();
    }
  } catch (const std::exception& e) {
    return path() + " is not valid operator state (" + e.what() + "); fix or remove it";
  }
  return "";
}

std::string OperatorState::save() const {
  nlohmann::json j;
  j["version"] = 1;
  j["drains"] = nlohmann::json::array();
  j["weights"] = nlohmann::json::array();
  for (const BackendKey& k : drains_) j["drains"].push_back({{"vip", k.vip}, {"backend", k.endpoint}});
  for (const auto& [k, w] : weights_) j["weights"].push_back({{"vip", k.vip}, {"backend", k.endpoint}, {"weight", w}});
  std::string text = j.dump(2) + "\n";
  std::string tmp = path() + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path().c_str()) != 0) return "cannot replace " + path() + ": " + std::strerror(errno);
  int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return "";
}

}  // namespace fulcrum::cp
