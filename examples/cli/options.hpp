#ifndef SINCEHASH_CLI_OPTIONS_HPP
#define SINCEHASH_CLI_OPTIONS_HPP

// The command-line tool's options, read with CLI11, and the errors that carry an exit code.

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace sincehash_cli {

/// An error that ends the tool with `code` (1: input, output or store; 2: usage or configuration;
/// 75: the partition is held by another run).
struct exit_error {
  int code;
  std::string message;
};

/// Throws a usage or configuration error (exit 2).
[[noreturn]] inline void usage_error(const std::string& message) { throw exit_error{2, message}; }
/// Throws an input, output or store error (exit 1).
[[noreturn]] inline void run_error(const std::string& message) { throw exit_error{1, message}; }

/// What the command line asks for.
struct options {
  std::string command;  ///< process, rescan, since, reset, purge, status or demo
  std::optional<std::string> config, state, resource, rejects, now, key_file;
  /// How long to wait for a partition another run holds (0: exit 75 at once).
  std::chrono::milliseconds wait{0};
  std::string instance = "default";
  bool dry_run = false, url = false, forget_records = false;
  unsigned threads = default_threads();

  /// Records are read (parsed, hashed) by this many threads, the cores, at most 4; with more
  /// than one, the next batch is read while the current one is classified.
  static unsigned default_threads() {
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : (cores > 4 ? 4 : cores);
  }
};

/// Reads the command line. Returns nullopt when it asked for help or the version, which was
/// then written to stdout; throws `exit_error` (exit 2) on a usage error, with the help to use.
std::optional<options> parse_options(int argc, char** argv);

}  // namespace sincehash_cli

#endif  // SINCEHASH_CLI_OPTIONS_HPP
