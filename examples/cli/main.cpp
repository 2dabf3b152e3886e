// sincehash — the command-line tool: continuation and event hash verification for any connector.
//
//   sincehash process --config FILE --state URI --resource NAME [--instance NAME] [--now ISO8601]
//                     [--dry-run] [--rejects FILE]         < records  > events
//   sincehash rescan  (same options)                       < complete listing > events incl. deleted
//   sincehash since   --config FILE --state URI --resource NAME [--instance NAME] [--url]
//   sincehash reset   --config FILE --state URI --resource NAME [--instance NAME] [--forget-records]
//   sincehash purge   --state URI [--now ISO8601]
//   sincehash status  --state URI [--config FILE --resource NAME [--instance NAME]] [--now ISO8601]
//   sincehash demo
//   sincehash --version
//
// Exit codes: 0 success (invalid records do not fail a run); 1 an input, output or store
// failure, with nothing of the failing batch committed; 2 a usage or configuration error.
//
// The parts: options (the command line, on CLI11), output (events, rejects, summary, the
// writing sink), commands (process, rescan, since, reset, purge, status), demo.

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <csignal>
#include <cstdio>

#include "commands.hpp"
#include "options.hpp"
#include "output.hpp"

using namespace sincehash_cli;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error we report, not a silent death
#ifdef M_MMAP_THRESHOLD
  // Batches allocate the same large buffers again and again: keep them in the heap instead of
  // mapping and unmapping (and page-faulting) them for every batch. Memory stays bounded by the
  // batch limits.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
  try {
    const std::optional<options> parsed = parse_options(argc, argv);
    if (!parsed) {  // help or version, written
      finish_output(stdout, "the help");
      return 0;
    }
    const options& o = *parsed;
    run_io io;
    io.progress = isatty(STDERR_FILENO) != 0;
    if (o.command == "process") return cmd_process(o, io, false);
    if (o.command == "rescan") return cmd_process(o, io, true);
    if (o.command == "since") return cmd_since(o, stdout);
    if (o.command == "reset") return cmd_reset(o);
    if (o.command == "purge") return cmd_purge(o, stdout);
    if (o.command == "status") return cmd_status(o, stdout);
    if (o.command == "demo") {
      cmd_demo();
      finish_output(stdout, "the demo");
      return 0;
    }
  } catch (...) {
    return report_failure(stderr);
  }
  return 0;
}
