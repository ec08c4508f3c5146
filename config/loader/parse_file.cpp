#include "config/loader/parse_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fulcrum::config {

std::string read_config_file(const std::string& path, std::string* text) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked on the fd
  // (no race between a stat and the open).
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::string("cannot read the file: ") + std::strerror(errno);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    std::string why = std::string("cannot read the file: ") + std::strerror(errno);
    close(fd);
    return why;
  }
  std::string kind = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device"
                   : S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket" : "";
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return "is " + (kind.empty() ? std::string("not a regular file") : kind) + ", not a configuration file";
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) {
    close(fd);
    return "is " + std::to_string(st.st_size) + " bytes; a configuration file has at most " +
           std::to_string(kMaxConfigBytes) + " (is this the right file?)";
  }
  text->clear();
  text->reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = std::string("cannot read the file: ") + std::strerror(errno);
      close(fd);
      return why;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
    if (text->size() > kMaxConfigBytes) {  // it grew while we read it
      close(fd);
      return "grew beyond " + std::to_string(kMaxConfigBytes) + " bytes while being read";
    }
  }
  close(fd);
  return "";
}

std::optional<toml::table> parse_file(const std::string& path, Errors& errors) {
  std::string text;
  if (std::string why = read_config_file(path, &text); !why.empty()) {
    errors.add_file(why);
    return std::nullopt;
  }
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    errors.add(e.source(), "", "TOML syntax error: " + std::string(e.description()));
    return std::nullopt;
  }
}

}  // namespace fulcrum::config
