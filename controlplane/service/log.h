// Control-plane log lines on stderr (journald or the demo's log file keep them).
#pragma once

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace fulcrum::cp {

[[gnu::format(printf, 2, 3)]] inline void log(const char* level, const char* fmt, ...) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  std::fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ lb-controlplane %s: ", t.tm_year + 1900, t.tm_mon + 1,
               t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000, level);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace fulcrum::cp
