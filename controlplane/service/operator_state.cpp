#include "controlplane/service/operator_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fulcrum::cp {

// Every prefix of `dir` ending before a '/', then `dir` itself.
std::string make_directories(const std::string& dir, unsigned mode) {
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    std::string prefix = dir.substr(0, pos);
    if (!prefix.empty() && mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return "cannot create " + prefix + ": " + std::strerror(errno);
    }
    if (pos == std::string::npos) {
      struct stat st {};
      if (stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return dir + " exists and is not a directory";
      return "";
    }
  }
}

const std::string& OperatorState::path() const {
  if (path_.empty()) path_ = dir_ + "/operator-state.json";
  return path_;
}

Overrides OperatorState::get(const BackendKey& k) const {
  auto it = entries_.find(k);
  return it == entries_.end() ? Overrides{} : it->second;
}

void OperatorState::set(const BackendKey& k, const Overrides& o) {
  if (o.empty()) entries_.erase(k);
  else entries_[k] = o;
}

namespace {

uint16_t checked_weight(const nlohmann::json& w) {
  int64_t v = w.get<int64_t>();
  if (v < 0 || v > 1000) throw std::out_of_range("weight " + std::to_string(v) + " out of range (0 .. 1000)");
  return static_cast<uint16_t>(v);
}

}  // namespace

std::string OperatorState::load() {
  if (std::string err = make_directories(dir_); !err.empty()) return "state directory: " + err;
  std::ifstream in(path());
  if (!in) return errno == ENOENT ? "" : "cannot read " + path() + ": " + std::strerror(errno);
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    int version = j.at("version").get<int>();
    if (version == 1) {
      for (const auto& d : j.value("drains", nlohmann::json::array())) {
        entries_[{d.at("vip").get<std::string>(), d.at("backend").get<std::string>()}].drained = true;
      }
      for (const auto& w : j.value("weights", nlohmann::json::array())) {
        entries_[{w.at("vip").get<std::string>(), w.at("backend").get<std::string>()}].weight = checked_weight(w.at("weight"));
      }
    } else if (version == 2) {
      for (const auto& b : j.at("backends")) {
        Overrides o;
        if (b.contains("drained")) o.drained = b["drained"].get<bool>();
        if (b.contains("weight")) o.weight = checked_weight(b["weight"]);
        o.maintenance = b.value("maintenance", false);
        if (b.contains("health")) {
          std::string h = b["health"].get<std::string>();
          if (h != "up" && h != "down") throw std::invalid_argument("health \"" + h + "\" is not \"up\" or \"down\"");
          o.forced_up = h == "up";
        }
        set({b.at("vip").get<std::string>(), b.at("backend").get<std::string>()}, o);
      }
    } else {
      throw std::invalid_argument("unknown version " + std::to_string(version) + " (this control plane reads 1 and 2)");
    }
  } catch (const std::exception& e) {
    entries_.clear();
    return path() + " is not valid operator state (" + e.what() + "); fix or remove it";
  }
  return "";
}

std::string OperatorState::save() const {
  nlohmann::json j;
  j["version"] = 2;
  j["backends"] = nlohmann::json::array();
  for (const auto& [k, o] : entries_) {
    nlohmann::json b{{"vip", k.vip}, {"backend", k.endpoint}};
    if (o.drained) b["drained"] = *o.drained;
    if (o.weight) b["weight"] = *o.weight;
    if (o.maintenance) b["maintenance"] = true;
    if (o.forced_up) b["health"] = *o.forced_up ? "up" : "down";
    j["backends"].push_back(b);
  }
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::string tmp = path() + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      std::string why = n < 0 ? std::strerror(errno) : "short write";
      close(fd);
      return "cannot write " + tmp + ": " + why;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return "cannot write " + tmp + ": " + why;
  }
  close(fd);
  if (rename(tmp.c_str(), path().c_str()) != 0) return "cannot replace " + path() + ": " + std::strerror(errno);
  int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return "";
}

}  // namespace fulcrum::cp
