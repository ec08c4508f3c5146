// A client of BIRD's control socket (the protocol birdc speaks), enough for `configure` and
// `show ...`.
//
// The protocol (BIRD's doc/reply_codes): on connect BIRD sends "0001 BIRD 2.0.12 ready.";
// each command is one line; each answer is lines "NNNN-text" (more follow), " text" (a
// continuation of the previous code) and ends with a line "NNNN text". Codes 0xxx are
// success, 1xxx table rows, 2xxx table headings, 8xxx run-time and 9xxx parse errors;
// lines starting with '+' are spontaneous output and are skipped.
//
// Every call is bounded by the timeout given to connect(): a BIRD that is stuck, or a
// socket that is not BIRD's, makes a call fail, never hang.
#pragma once

#include <string>
#include <vector>

namespace fulcrum::cp {

struct BirdLine {
  int code = 0;        // the line's code; a continuation line carries its predecessor's
  std::string text;
};

struct BirdReply {
  std::vector<BirdLine> lines;  // all of them, the final one last
  int code() const { return lines.empty() ? 0 : lines.back().code; }
  // 0000 ends a table ("OK"); 8xxx/9xxx are errors.
  bool ok() const { return !lines.empty() && code() < 8000; }
  // The final line's text, or the first error line's (what a person should read).
  std::string message() const;
};

// Parses one raw line into *line given the previous line's code (for continuations).
// Returns false for a line that is not part of an answer ('+' spontaneous output).
// *final is set when the line ends the answer.
bool parse_bird_line(const std::string& raw, int previous_code, BirdLine* line, bool* final);

class BirdClient {
 public:
  BirdClient() = default;
  ~BirdClient();
  BirdClient(const BirdClient&) = delete;
  BirdClient& operator=(const BirdClient&) = delete;

  // Connects and reads the greeting. "" or why not.
  std::string connect(const std::string& socket_path, int timeout_ms);
  const std::string& greeting() const { return greeting_; }  // "BIRD 2.0.12 ready."
  // Sends `command` and reads its whole answer into *reply. "" or why the exchange failed
  // (an error answer from BIRD is not a failure here: look at reply->ok()).
  std::string command(const std::string& command, BirdReply* reply);

 private:
  std::string read_line(std::string* line);

  int fd_ = -1;
  int timeout_ms_ = 2000;
  std::string buffer_, greeting_;
};

}  // namespace fulcrum::cp
