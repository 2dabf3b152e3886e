// The command-line tool's options and help, read with CLI11.

#include "options.hpp"

#include <sincehash/partition_lease.hpp>
#include <sincehash/version.hpp>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

namespace sincehash_cli {

namespace {

struct command_help {
  const char* name;
  const char* summary;  // one line, in the list of commands
  const char* usage;    // the usage lines
  const char* details;  // what it does, after the options
};

const command_help commands[] = {
    {"process", "classify polled records into events, commit after delivery",
     "usage: sincehash process --config FILE --state URI --resource NAME [--instance NAME]\n"
     "                         [--now ISO8601] [--dry-run] [--rejects FILE] [--threads N]\n"
     "                         [--wait DURATION] < records > events\n",
     "Classifies polled records (NDJSON, a JSON array, or a page with \"results\"/\"records\")\n"
     "and writes one event per dispatched record, one line each (a record spanning lines is\n"
     "written without its insignificant white space). A byte order mark at the start is\n"
     "skipped; an array or page cut off or followed by more data is an input error (exit 1).\n"
     "State is committed per batch, only after the batch's events were written and flushed;\n"
     "--dry-run commits nothing. --threads N reads records with N threads, and above 1 reads\n"
     "the next batch while the current one is classified (default: the cores, at most 4; the\n"
     "results are the same).\n"
     "Invalid records go to --rejects FILE (default: stderr), one JSON object each:\n"
     "{\"line\",\"id\",\"reason\",\"record\"}, a record that is not valid JSON as a string.\n"
     "The last line on stderr is a JSON summary of the run, also after a failure: processed,\n"
     "committed (the input records of the batches committed: all on success, none on a dry\n"
     "run), created, updated, deleted, unchanged, stale, invalid, since_before, since_after.\n"
     "A run holds the partition's lease (a --dry-run too): another run on the same partition\n"
     "exits 75 (\"partition busy\", nothing read or committed) unless --wait DURATION (\"30s\",\n"
     "\"PT2M\", seconds) lets it wait. A lease left by a run that died on this host is taken\n"
     "over at once. Should records change under a commit all the same (another writer without\n"
     "the lease), they are classified again and what is now a change is written before the\n"
     "commit is retried.\n"
     "Exit 0 on success; 1 on an input, output or store failure (the failing batch is not\n"
     "committed; the batches before it were, and their events are the first lines written);\n"
     "2 on a usage or configuration error; 75 when another run holds the partition.\n"
     "Consumers: deliver every complete event line, also after a failure; what was not\n"
     "committed comes back on the next run.\n"},
    {"rescan", "process a complete listing and report deletions",
     "usage: sincehash rescan --config FILE --state URI --resource NAME [--instance NAME]\n"
     "                        [--now ISO8601] [--dry-run] [--rejects FILE] [--threads N]\n"
     "                        [--wait DURATION] < listing > events\n",
     "Like process, for a complete listing of the source: at the end, ids not seen are\n"
     "reported as deleted events and their state is removed. An interrupted rescan\n"
     "reports nothing and is simply run again. Output, summary, exit codes and the consumer\n"
     "rule are those of process (see sincehash process --help).\n"},
    {"since", "print the since value (or URL) for the next poll",
     "usage: sincehash since --config FILE --state URI --resource NAME [--instance NAME] [--url]\n",
     "Prints the since value to send next (nothing for a full sync); --url prints the resource's\n"
     "URL template expanded with it. Exit 1 when the output cannot be written.\n"},
    {"reset", "forget the offset (and optionally every record's hash)",
     "usage: sincehash reset --config FILE --state URI --resource NAME [--instance NAME] "
     "[--forget-records]\n",
     "Forgets the offset so the next poll is a full sync; --forget-records also forgets every\n"
     "record's hash, so every record is dispatched again.\n"},
    {"purge", "remove expired record states", "usage: sincehash purge --state URI [--now ISO8601]\n",
     "Removes expired record states of every partition and prints {\"purged\":N}. Exit 1 when\n"
     "the output cannot be written.\n"},
    {"status", "show each partition's offset, since value, records and rescan schedule",
     "usage: sincehash status --state URI [--config FILE --resource NAME [--instance NAME]]\n"
     "                        [--now ISO8601]\n",
     "Prints one JSON line per partition of the state (with --config and --resource, just\n"
     "that resource's partition): {\"partition\",\"instance\",\"resource\",\"offset\",\"since\",\n"
     "\"records\",\"rescan\":{\"active\",\"last\",\"next_due\",\"due\"}}. offset: as stored (null\n"
     "when none); since: what `sincehash since` prints (null for a full sync; without --config\n"
     "the offset, no lookback known); records: the states not expired at --now; rescan.last: the\n"
     "last completed rescan (RFC 3339, or null); next_due and due: from the resource's \"rescan\"\n"
     "schedule (null without --config or without a schedule; never rescanned: next_due null and\n"
     "due true). It only reads: nothing is created, locked or written. A cron job can run\n"
     "`rescan` when it says \"due\":true and `process` otherwise. Exit 1 when the output cannot\n"
     "be written.\n"},
    {"demo", "a guided scenario on a temporary SQLite file", "usage: sincehash demo\n",
     "Runs a self-contained scenario on a temporary SQLite file: full sync, incremental poll,\n"
     "a tie at a page boundary, a stale copy, a reset and a rescan that detects a deletion.\n"},
};

// What the top-level help says after the list of commands: how to go on, and what this build
// supports.
std::string general_help() {
  std::string text =
      "Run `sincehash <command> --help` for a command's options; `sincehash --version` prints the\n"
      "version.\n"
      "State URIs this build supports:\n"
      "  PATH, sqlite:PATH                 embedded SQLite (the default)\n";
#ifdef SINCEHASH_HAS_REDIS
  text += "  redis://HOST:PORT[/DB]            Redis, shared by many workers\n";
#endif
#ifdef SINCEHASH_HAS_POSTGRES
  text += "  postgresql://... (postgres://)    PostgreSQL, shared by many workers\n";
#endif
  text +=
      "State lives in the partition INSTANCE/RESOURCE (--instance defaults to \"default\"), with\n"
      "'/' and '%' in the names written as %2F and %25: distinct pairs never share one.\n";
#ifdef SINCEHASH_HAS_SODIUM
  text +=
      "--key-file PATH (every command but demo): the state is encrypted (XChaCha20-Poly1305) and\n"
      "watched fields are hashed with keyed BLAKE2b; the file holds lines `ID HEX` (64 hex\n"
      "digits each); the highest id writes, every listed key reads.\n";
#else
  text += "This build has no libsodium: no --key-file (encrypted state).\n";
#endif
  return text;
}

// Help as sincehash writes it: its usage lines first, then the options CLI11 lists, then what
// the command does.
class help_formatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    std::ostringstream out;
    out << make_usage(app, name) << make_description(app) << make_groups(app, mode)
        << make_subcommands(app, mode);
    const std::string footer = make_footer(app);
    if (!footer.empty()) out << '\n' << footer;
    return out.str();
  }
  std::string make_usage(const CLI::App* app, std::string) const override {
    for (const auto& c : commands)
      if (app->get_name() == c.name) return c.usage;
    return "usage: sincehash <command> [options]\n";
  }
};

}  // namespace

std::optional<options> parse_options(int argc, char** argv) {
  options o;
  CLI::App app("Continuation and event hash verification for any connector.", "sincehash");
  app.formatter(std::make_shared<help_formatter>());
  app.footer(general_help());
  app.set_version_flag("--version", std::string("sincehash ") + sincehash::version_string);
  app.require_subcommand(1);

  std::string config, state, resource, rejects, now, key_file, threads, wait;
  struct command_options {
    CLI::App* app;
    CLI::Option *config, *state, *resource, *instance, *rejects, *now, *key_file, *threads, *wait;
  };
  std::map<std::string, command_options> made;
  for (const auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    sub->footer(c.details);
    const std::string name = c.name;
    const bool records = name == "process" || name == "rescan";
    const bool resource_command = records || name == "since" || name == "reset" || name == "status";
    command_options m{sub, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    if (resource_command) {
      m.config = sub->add_option("--config", config,
                                 name == "status" ? "the poller configuration (JSON), with --resource"
                                                  : "the poller configuration (JSON); required")
                     ->type_name("FILE");
    }
    if (name != "demo") {
      m.state = sub->add_option("--state", state, "the state; required")->type_name("URI");
    }
    if (resource_command) {
      m.resource = sub->add_option("--resource", resource,
                                   name == "status" ? "the resource in the configuration, with --config"
                                                    : "the resource in the configuration; required")
                       ->type_name("NAME");
      m.instance =
          sub->add_option("--instance", o.instance, "the instance (default: default)")->type_name("NAME");
    }
    if (records || name == "since" || name == "purge" || name == "status")
      m.now = sub->add_option("--now", now, "the clock, fixed (for tests)")->type_name("ISO8601");
    if (records) {
      sub->add_flag("--dry-run", o.dry_run, "commit nothing");
      m.rejects = sub->add_option("--rejects", rejects, "append invalid records here (default: stderr)")
                      ->type_name("FILE");
      m.threads =
          sub->add_option("--threads", threads, "threads reading records (default: the cores, at most 4)")
              ->type_name("N");
      m.wait = sub->add_option("--wait", wait,
                               "wait this long for a partition another run holds (default: exit 75 at once)")
                   ->type_name("DURATION");
    }
    if (name == "since")
      sub->add_flag("--url", o.url, "print the resource's URL expanded with the since value");
    if (name == "reset")
      sub->add_flag("--forget-records", o.forget_records, "forget every record's hash too");
    if (name != "demo")
      m.key_file =
          sub->add_option("--key-file", key_file, "encrypt the state with these keys")->type_name("PATH");
    made.emplace(name, m);
  }

  if (argc >= 2 && argv[1][0] != '-' && std::string(argv[1]) != "help" && made.count(argv[1]) == 0)
    usage_error("unknown command \"" + std::string(argv[1]) + "\"\n" + app.help());
  if (argc >= 2 && std::string(argv[1]) == "help") {
    std::fputs(app.help().c_str(), stdout);
    return std::nullopt;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return std::nullopt;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return std::nullopt;
  } catch (const CLI::CallForVersion& e) {
    std::fprintf(stdout, "%s\n", e.what());
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    usage_error(std::string(e.what()) + "\n" + app.help());
  }

  const CLI::App* chosen = app.get_subcommands().at(0);
  o.command = chosen->get_name();
  command_options m = made.at(o.command);
  const auto take = [](CLI::Option* opt, const std::string& value, std::optional<std::string>& into) {
    if (opt != nullptr && opt->count() > 0) into = value;
  };
  take(m.config, config, o.config);
  take(m.state, state, o.state);
  take(m.resource, resource, o.resource);
  take(m.rejects, rejects, o.rejects);
  take(m.now, now, o.now);
  take(m.key_file, key_file, o.key_file);
  if (o.command == "status") {
    // --config and --resource name one partition together; without them, every partition.
    if (o.config.has_value() != o.resource.has_value())
      usage_error(std::string(o.config ? "--config needs --resource" : "--resource needs --config") + "\n" +
                  chosen->help("sincehash"));
    if (!o.config && m.instance->count() > 0)
      usage_error("--instance needs --config and --resource\n" + chosen->help("sincehash"));
    m.config = m.resource = nullptr;  // not required
  }
  // Required where the command has them (checked here, so that an unknown option is named first).
  for (const auto& [opt, value] : {std::make_pair(m.config, &o.config), std::make_pair(m.state, &o.state),
                                   std::make_pair(m.resource, &o.resource)}) {
    if (opt != nullptr && (!*value || (*value)->empty()))
      usage_error(opt->get_name() + " is required\n" + chosen->help("sincehash"));
  }
  if (m.threads != nullptr && m.threads->count() > 0) {
    char* end = nullptr;
    errno = 0;
    const unsigned long n = std::strtoul(threads.c_str(), &end, 10);
    if (threads.empty() || *end != '\0' || errno != 0 || n < 1 || n > 64 || threads[0] == '-')
      usage_error("--threads " + threads + ": expected a whole number from 1 to 64");
    o.threads = static_cast<unsigned>(n);
  }
  if (m.wait != nullptr && m.wait->count() > 0) {
    auto d = sincehash::parse_wait(wait);
    if (!d) usage_error("--wait " + wait + ": " + d.error().message);
    o.wait = *d;
  }
  return o;
}

}  // namespace sincehash_cli
