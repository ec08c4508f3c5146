// Logging for lb-dataplane's main lcore (start-up, attach/detach, breaker, shutdown). Never
// used on a worker's packet path.
//
// Plain text with a UTC timestamp on stderr; under systemd (stderr connected to the journal,
// $JOURNAL_STREAM set) each line starts with its syslog priority instead ("<3>" error, "<4>"
// warning, "<6>" info), so that `journalctl -p err` finds the data plane's errors too, as it
// does the control plane's.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace fulcrum::dp {

[[gnu::format(printf, 2, 3)]] inline void log(const char* level, const char* fmt, ...) {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  if (journal) {
    int priority = std::strcmp(level, "error") == 0 ? 3 : std::strcmp(level, "warning") == 0 ? 4 : 6;
    std::fprintf(stderr, "<%d>lb-dataplane %s: ", priority, level);
  } else {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    std::fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ lb-dataplane %s: ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                 t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000, level);
  }
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

}  // namespace fulcrum::dp
