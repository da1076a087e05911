// The one error type of kvplan: thrown anywhere, caught once in main, printed as
// `kvplan: error: <file>:<line>:<col>: <message>` and mapped to an exit status.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace kvplan {

// Where in an input file an error was found; line and col are 1-based, 0 = unknown.
struct SourcePos {
  std::string file;
  int line = 0;
  int col = 0;
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, SourcePos pos = {}, int exit_status = 2)
      : std::runtime_error(message), pos_(std::move(pos)), exit_status_(exit_status) {}

  const SourcePos& pos() const { return pos_; }
  int exit_status() const { return exit_status_; }
  // "file:line:col: message", dropping the parts that are unknown.
  std::string located() const;

 private:
  SourcePos pos_;
  int exit_status_;
};

// The byte offset, from `from` on, of the first byte that does not belong to valid UTF-8
// (std::string::npos when the rest is UTF-8 throughout).
size_t invalid_utf8_at(const std::string& text, size_t from = 0);
// Every format kvplan reads is UTF-8 text without NUL bytes: throws Error at the line and column
// of the first byte that is not (the file reader and every text parser check it).
void require_text(const std::string& text, const std::string& source);
// The text on one line: control bytes (newlines included) and bytes that are not UTF-8 written
// as \xNN, so that no input can split or garble an error line.
std::string printable(const std::string& text);

// The candidate closest to an unknown name, or "" if none is close.
std::string closest(const std::string& name, const std::vector<std::string>& candidates);
// "did you mean 'x'?" suffix for an unknown name among candidates ("" if nothing is close).
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace kvplan
