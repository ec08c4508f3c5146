// Control-plane log lines on stderr, one per event.
//
// Three forms: plain text with a UTC timestamp (the default, for a terminal or a log file);
// under systemd (stderr connected to the journal, detected through $JOURNAL_STREAM) each
// line starts with its syslog priority ("<3>" error, "<4>" warning, "<6>" info, "<7>"
// debug) so that `journalctl -p err` finds errors; and JSON lines ({"ts", "level", "msg"})
// for log shippers. Lines below the chosen level are not written.
#pragma once

#include <optional>
#include <string>

namespace fulcrum::cp {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };
enum class LogFormat { Auto, Text, Journal, Json };   // Auto: Journal under systemd, else Text

// "debug", "info", "warning", "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(const std::string& s);
void set_log_options(LogLevel min, LogFormat format);

// `level` is "debug", "info", "warning" or "error".
[[gnu::format(printf, 2, 3)]] void log(const char* level, const char* fmt, ...);

}  // namespace fulcrum::cp
