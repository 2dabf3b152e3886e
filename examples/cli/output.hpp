#ifndef SINCEHASH_CLI_OUTPUT_HPP
#define SINCEHASH_CLI_OUTPUT_HPP

// The command-line tool's output: events, rejects and the summary as JSON lines, one each, and
// a sink whose write failures end the run (exit 1) instead of passing unnoticed.

#include <sincehash/detector.hpp>

#include <sys/uio.h>

#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"

namespace sincehash_cli {

/// What a run did: counts of the batches it classified, and how many input records (invalid ones
/// included) belong to the batches it committed.
struct run_progress {
  sincehash::run_stats stats;
  std::size_t committed = 0;
};

/// The run's summary line (without its newline).
std::string summary_json(const run_progress& p, const std::optional<sincehash::offset_value>& before,
                         const std::optional<sincehash::offset_value>& after);

/// Called in a catch handler: writes what the exception in flight says to `err` and returns its
/// exit code (2 for a usage or configuration error, else 1 unless it carries its own).
int report_failure(std::FILE* err);

/// Everything written to `f` has reached the operating system; else an output failure (exit 1).
void finish_output(std::FILE* f, const std::string& what);

/// Writes the `count` pieces `iov` to `fd` in order, with as many `writev` calls as it takes (a
/// pipe may take part of one); false with `errno` set when a write fails. Changes `iov`.
bool write_gathered(int fd, iovec* iov, std::size_t count);

/// Output that fails loudly: a failed write is a run error naming the output.
class sink {
 public:
  sink(std::FILE* f, std::string name) : f_(f), name_(std::move(name)) {}

  /// Writes `data` to the stream.
  void write(const std::string& data);

  /// Writes one line per event. Where the stream has a descriptor the records' bytes are written
  /// from where they lie in the input (gathered writes), not copied into the output first. A
  /// record that spans lines is written compacted; `one_line` says none does (the reader knows).
  void write_events(const std::vector<sincehash::event>& events, std::string& scratch, bool one_line = false);

  /// Everything written so far has reached the operating system.
  void flush();

 private:
  [[noreturn]] void fail();
  void write_all(int fd, iovec* iov, std::size_t count);

  std::FILE* f_;
  std::string name_;
  std::string flat_;  // compacted records of the events being written
};

}  // namespace sincehash_cli

#endif  // SINCEHASH_CLI_OUTPUT_HPP
