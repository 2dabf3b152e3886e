#ifndef SINCEHASH_CLI_COMMANDS_HPP
#define SINCEHASH_CLI_COMMANDS_HPP

// The command-line tool's commands. Each returns the exit code or throws `exit_error` (or a
// sincehash error) for `report_failure`.

#include <cstdio>

#include "options.hpp"

namespace sincehash_cli {

/// Where a run reads and writes.
struct run_io {
  std::FILE* in = stdin;
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  std::FILE* rejects = nullptr;  // nullptr → stderr
  bool progress = false;         // stderr is a terminal
};

/// process (or, with `rescan`, rescan): classifies the input into events, committing batch by
/// batch; ends with the summary line on `io.err`, also after a failure.
int cmd_process(const options& o, run_io io, bool rescan);

/// since: prints the since value (or with --url the URL) to `out`.
int cmd_since(const options& o, std::FILE* out);

/// reset: forgets the offset (with --forget-records every record's state too).
int cmd_reset(const options& o);

/// purge: removes expired states of every partition, prints {"purged":N} to `out`.
int cmd_purge(const options& o, std::FILE* out);

/// status: one JSON line per partition (or the configured resource's): offset, since value,
/// unexpired records and the rescan schedule. Only reads.
int cmd_status(const options& o, std::FILE* out);

/// demo: a guided scenario on a temporary SQLite file, written to stdout.
int cmd_demo();

}  // namespace sincehash_cli

#endif  // SINCEHASH_CLI_COMMANDS_HPP
