#include "controlplane/service/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

namespace fulcrum::cp {
namespace {

LogLevel g_min = LogLevel::Info;
LogFormat g_format = LogFormat::Auto;

LogLevel level_of(const char* s) {
  if (std::strcmp(s, "error") == 0) return LogLevel::Error;
  if (std::strcmp(s, "warning") == 0) return LogLevel::Warning;
  if (std::strcmp(s, "debug") == 0) return LogLevel::Debug;
  return LogLevel::Info;
}

// systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected; it counts only
// if stderr is still that stream (not redirected by a wrapper).
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

std::optional<LogLevel> parse_log_level(const std::string& s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warning") return LogLevel::Warning;
  if (s == "error") return LogLevel::Error;
  return std::nullopt;
}

void set_log_options(LogLevel min, LogFormat format) {
  g_min = min;
  g_format = format == LogFormat::Auto ? (stderr_is_journal() ? LogFormat::Journal : LogFormat::Text) : format;
}

void log(const char* level, const char* fmt, ...) {
  LogLevel lv = level_of(level);
  if (lv < g_min) return;
  if (g_format == LogFormat::Auto) set_log_options(g_min, LogFormat::Auto);
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000);
  std::string line;
  switch (g_format) {
    case LogFormat::Json:
      line = nlohmann::json{{"ts", stamp}, {"level", level}, {"process", "lb-controlplane"}, {"msg", msg}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    case LogFormat::Journal: {
      static const char* kPriority[] = {"<7>", "<6>", "<4>", "<3>"};  // syslog: debug, info, warning, err
      // The journal stamps each line itself; a multi-line message gets the prefix on each.
      std::string text = msg;
      for (size_t pos = 0; pos <= text.size();) {
        size_t nl = text.find('\n', pos);
        line += std::string(kPriority[static_cast<int>(lv)]) + level + ": " + text.substr(pos, nl - pos);
        if (nl == std::string::npos) break;
        line += '\n';
        pos = nl + 1;
      }
      break;
    }
    default:
      line = std::string(stamp) + " lb-controlplane " + level + ": " + msg;
  }
  line += '\n';
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fulcrum::cp
