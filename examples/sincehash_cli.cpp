// sincehash — the command-line tool: continuation and event hash verification for any connector.
//
//   sincehash process --config FILE --state URI --resource NAME [--instance NAME] [--now ISO8601]
//                     [--dry-run] [--rejects FILE]         < records  > events
//   sincehash rescan  (same options)                       < complete listing > events incl. deleted
//   sincehash since   --config FILE --state URI --resource NAME [--instance NAME] [--url]
//   sincehash reset   --config FILE --state URI --resource NAME [--instance NAME] [--forget-records]
//   sincehash purge   --state URI [--now ISO8601]
//   sincehash demo
//
// Exit codes: 0 success (invalid records do not fail a run); 1 an input, output or store
// failure, with nothing of the failing batch committed; 2 a usage or configuration error.

#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/input.hpp>
#include <sincehash/store/sqlite.hpp>
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#endif

#include <sys/uio.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace sincehash;

#ifdef SINCEHASH_HAS_SIMDJSON
using cli_access = simdjson_access;
#else
using cli_access = nlohmann_access;
#endif
// A run's detector: over `Store`, hashing with `Algorithm` (XXH3, or keyed BLAKE2b when the
// state is encrypted).
template <class Store, class Algorithm>
using cli_detector = change_detector<Store, field_hasher<Algorithm, cli_access>, fixed_clock>;

// ---- errors with an exit code ------------------------------------------------------------------

struct exit_error {
  int code;
  std::string message;
};

[[noreturn]] void usage_error(const std::string& message) { throw exit_error{2, message}; }
[[noreturn]] void run_error(const std::string& message) { throw exit_error{1, message}; }

// Called in a catch handler: writes what the exception in flight says to `err` and returns its
// exit code (2 for a usage or configuration error, else 1 unless it carries its own).
int report_failure(std::FILE* err) {
  try {
    throw;
  } catch (const exit_error& e) {
    std::fprintf(err, "sincehash: %s\n", e.message.c_str());
    return e.code;
  } catch (const config_error& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return 2;
  } catch (const error& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return e.code() == errc::config_error ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return 1;
  }
}

// ---- JSON output helpers -----------------------------------------------------------------------

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 with `bad` set
// to the length of its maximal ill-formed prefix (at least 1).
std::size_t utf8_sequence(std::string_view s, std::size_t& bad) noexcept {
  const auto at = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) low = 0xA0;   // no overlong forms
    if (c == 0xED) high = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  std::size_t i = 1;
  for (; i < n && i < s.size(); ++i) {
    const unsigned char b = at(i);
    if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
  }
  if (i == n) return n;
  bad = i;
  return 0;
}

// Appends `s` as a JSON string. Bytes that are not well-formed UTF-8 are written as U+FFFD (one
// for each maximal ill-formed sequence), so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs that need no escape are copied whole.
  std::size_t plain = 0;
  while (plain < s.size()) {
    const auto c = static_cast<unsigned char>(s[plain]);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
    ++plain;
  }
  out.append(s.data(), plain);
  for (std::size_t i = plain; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t bad = 0;
      const std::size_t n = utf8_sequence(s.substr(i), bad);
      if (n > 0) {
        out.append(s.data() + i, n);
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        i += bad;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, std::string_view text, value_kind kind) {
  if (kind == value_kind::number || kind == value_kind::boolean) {
    out.append(text.data(), text.size());
  } else if (kind == value_kind::missing || kind == value_kind::null) {
    out += "null";
  } else {
    append_json_string(out, text);
  }
}

// An event's text up to its record: `{"type":...,"record":` (`"record":null` for a deletion).
void append_event_head(std::string& out, const event& e) {
  out += "{\"type\":\"";
  out += to_string(e.type);
  out += "\",\"id\":";
  append_value(out, e.id, e.id_kind);
  out += ",\"updated\":";
  append_value(out, e.updated, e.updated_kind);
  out += ",\"event_id\":\"";
  out += e.event_id;
  out += "\",\"record\":";
  if (e.type == event_type::deleted) out += "null";
}

// The record bytes an event carries (none for a deletion); after them comes "}\n".
std::string_view event_record(const event& e) {
  return e.type == event_type::deleted ? std::string_view() : e.record;
}

// True when `json` holds a line break: it must then be written compacted to stay on one line.
bool spans_lines(std::string_view json) noexcept {
  return !json.empty() && (std::memchr(json.data(), '\n', json.size()) != nullptr ||
                           std::memchr(json.data(), '\r', json.size()) != nullptr);
}

// Appends the JSON text `json` without its insignificant white space (string contents are
// copied untouched). A valid JSON text comes out on one line.
void append_compact(std::string& out, std::string_view json) {
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out.push_back(c);
      in_string = c == '"';
    }
  }
}

// Appends a record's JSON text: its bytes as they are, or compacted when it spans lines.
void append_record(std::string& out, std::string_view json) {
  if (spans_lines(json)) {
    append_compact(out, json);
  } else {
    out.append(json.data(), json.size());
  }
}

void append_reject(std::string& out, const rejected_record& r) {
  out += "{\"line\":";
  out += std::to_string(r.position);
  out += ",\"id\":";
  if (r.id) {
    append_value(out, *r.id, r.id_kind);
  } else {
    out += "null";
  }
  out += ",\"reason\":";
  append_json_string(out, r.reason);
  out += ",\"record\":";
  // The record as JSON only when it is valid JSON (a fast reader may have stopped before the part
  // that is not): else as a string, so that every rejects line is valid JSON.
  if (r.record_is_json && nlohmann::json::accept(r.record.begin(), r.record.end())) {
    append_record(out, r.record);
  } else {
    append_json_string(out, r.record);
  }
  out += "}\n";
}

// What a run did: counts of the batches it classified, and how many input records (invalid ones
// included) belong to the batches it committed.
struct run_progress {
  run_stats stats;
  std::size_t committed = 0;
};

std::string summary_json(const run_progress& p, const std::optional<offset_value>& before,
                         const std::optional<offset_value>& after) {
  const run_stats& s = p.stats;
  std::string out =
      "{\"processed\":" + std::to_string(s.processed) + ",\"committed\":" + std::to_string(p.committed) +
      ",\"created\":" + std::to_string(s.created) + ",\"updated\":" + std::to_string(s.updated) +
      ",\"deleted\":" + std::to_string(s.deleted) + ",\"unchanged\":" + std::to_string(s.unchanged) +
      ",\"stale\":" + std::to_string(s.stale) + ",\"invalid\":" + std::to_string(s.invalid) +
      ",\"since_before\":";
  auto put = [&out](const std::optional<offset_value>& v) {
    if (!v) {
      out += "null";
    } else if (v->kind == offset_kind::integer) {
      out += v->text;
    } else {
      append_json_string(out, v->text);
    }
  };
  put(before);
  out += ",\"since_after\":";
  put(after);
  out += "}";
  return out;
}

// ---- output that fails loudly --------------------------------------------------------------------

class sink {
 public:
  sink(std::FILE* f, std::string name) : f_(f), name_(std::move(name)) {}
  void write(const std::string& data) {
    if (data.empty()) return;
    if (std::fwrite(data.data(), 1, data.size(), f_) != data.size()) fail();
  }

  // Writes one line per event. Where the stream has a descriptor the records' bytes are written
  // from where they lie in the input (gathered writes), not copied into the output first.
  void write_events(const std::vector<event>& events, std::string& scratch) {
    scratch.clear();
    if (events.empty()) return;
    const int fd = fileno(f_);
    if (fd < 0) {
      for (const auto& e : events) {
        append_event_head(scratch, e);
        append_record(scratch, event_record(e));
        scratch += "}\n";
      }
      write(scratch);
      return;
    }
    if (std::fflush(f_) != 0) fail();  // what the stream holds goes first
    // A record that spans lines is written compacted, from `flat_`; any other from the input.
    flat_.clear();
    std::vector<std::size_t> head_end;
    std::vector<std::pair<std::size_t, std::size_t>> flat_at;  // event index → its compacted bytes
    head_end.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      append_event_head(scratch, events[i]);
      head_end.push_back(scratch.size());
      const std::string_view record = event_record(events[i]);
      if (spans_lines(record)) {
        const std::size_t begin = flat_.size();
        append_compact(flat_, record);
        flat_at.emplace_back(i, begin);
      }
    }
    std::size_t next_flat = 0;
    static const char tail[] = "}\n";
    std::vector<iovec> iov;
    iov.reserve(3 * events.size());
    std::size_t head_begin = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      iov.push_back({&scratch[head_begin], head_end[i] - head_begin});
      std::string_view record = event_record(events[i]);
      if (next_flat < flat_at.size() && flat_at[next_flat].first == i) {
        const std::size_t begin = flat_at[next_flat].second;
        const std::size_t end = ++next_flat < flat_at.size() ? flat_at[next_flat].second : flat_.size();
        record = std::string_view(flat_.data() + begin, end - begin);
      }
      if (!record.empty()) iov.push_back({const_cast<char*>(record.data()), record.size()});
      iov.push_back({const_cast<char*>(tail), 2});
      head_begin = head_end[i];
    }
    write_all(fd, iov.data(), iov.size());
  }
  // Everything written so far has reached the operating system.
  void flush() {
    if (std::fflush(f_) != 0 || std::ferror(f_)) fail();
  }

 private:
  [[noreturn]] void fail() {
    run_error("writing " + name_ + " failed (" + std::strerror(errno) +
              "); nothing of this batch was committed");
  }

  // writev until every byte is written (a pipe may take part of a call).
  void write_all(int fd, iovec* iov, std::size_t count) {
    constexpr std::size_t most = 1024;  // IOV_MAX on Linux
    while (count > 0) {
      const ssize_t n = ::writev(fd, iov, static_cast<int>(count < most ? count : most));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail();
      }
      auto left = static_cast<std::size_t>(n);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
  }
  std::FILE* f_;
  std::string name_;
  std::string flat_;  // compacted records of the events being written
};

// Everything written to `f` has reached the operating system; else an output failure (exit 1).
void finish_output(std::FILE* f, const std::string& what) {
  errno = 0;
  if (std::fflush(f) != 0 || std::ferror(f) != 0)
    run_error("writing " + what + " failed (" + std::strerror(errno != 0 ? errno : EIO) + ")");
}

// ---- options -------------------------------------------------------------------------------------

struct options {
  std::string command;
  std::optional<std::string> config, state, resource, rejects, now, key_file;
  std::string instance = "default";
  bool dry_run = false, url = false, forget_records = false, help = false;
  unsigned threads = default_threads();

  // Records are read (parsed, hashed) by this many threads, the cores, at most 4; with more
  // than one, the next batch is read while the current one is classified.
  static unsigned default_threads() {
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : (cores > 4 ? 4 : cores);
  }
};

const char* help_text(const std::string& command) {
  if (command == "process" || command == "rescan") {
    return command == "process"
               ? "usage: sincehash process --config FILE --state URI --resource NAME [--instance NAME]\n"
                 "                         [--now ISO8601] [--dry-run] [--rejects FILE] [--threads N]\n"
                 "                         < records > events\n"
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
                 "Exit 0 on success; 1 on an input, output or store failure (the failing batch is not\n"
                 "committed; the batches before it were, and their events are the first lines written);\n"
                 "2 on a usage or configuration error.\n"
                 "Consumers: deliver every complete event line, also after a failure; what was not\n"
                 "committed comes back on the next run.\n"
               : "usage: sincehash rescan --config FILE --state URI --resource NAME [--instance NAME]\n"
                 "                        [--now ISO8601] [--dry-run] [--rejects FILE] [--threads N]\n"
                 "                        < listing > events\n"
                 "Like process, for a complete listing of the source: at the end, ids not seen are\n"
                 "reported as deleted events and their state is removed. An interrupted rescan\n"
                 "reports nothing and is simply run again. Output, summary, exit codes and the consumer\n"
                 "rule are those of process (see sincehash process --help).\n";
  }
  if (command == "since") {
    return "usage: sincehash since --config FILE --state URI --resource NAME [--instance NAME] [--url]\n"
           "Prints the since value to send next (nothing for a full sync); --url prints the resource's\n"
           "URL template expanded with it.\n";
  }
  if (command == "reset") {
    return "usage: sincehash reset --config FILE --state URI --resource NAME [--instance NAME] "
           "[--forget-records]\n"
           "Forgets the offset so the next poll is a full sync; --forget-records also forgets every\n"
           "record's hash, so every record is dispatched again.\n";
  }
  if (command == "purge") {
    return "usage: sincehash purge --state URI [--now ISO8601]\n"
           "Removes expired record states of every partition and prints {\"purged\":N}.\n";
  }
  if (command == "demo") {
    return "usage: sincehash demo\n"
           "Runs a self-contained scenario on a temporary SQLite file: full sync, incremental poll,\n"
           "a tie at a page boundary, a stale copy, a reset and a rescan that detects a deletion.\n";
  }
  return "usage: sincehash <command> [options]\n"
         "commands:\n"
         "  process   classify polled records into events, commit after delivery\n"
         "  rescan    process a complete listing and report deletions\n"
         "  since     print the since value (or URL) for the next poll\n"
         "  reset     forget the offset (and optionally every record's hash)\n"
         "  purge     remove expired record states\n"
         "  demo      a guided scenario on a temporary SQLite file\n"
         "Run `sincehash <command> --help` for a command's options.\n"
         "State URIs: PATH or sqlite:PATH (embedded SQLite).\n"
         "State lives in the partition INSTANCE/RESOURCE (--instance defaults to \"default\"), with\n"
         "'/' and '%' in the names written as %2F and %25: distinct pairs never share one.\n"
         "--key-file PATH (every command but demo): the state is encrypted (XChaCha20-Poly1305) and\n"
         "watched fields are hashed with keyed BLAKE2b; the file holds lines `ID HEX` (64 hex\n"
         "digits each); the highest id writes, every listed key reads.\n";
}

options parse_options(int argc, char** argv) {
  options o;
  if (argc < 2) usage_error(std::string("no command given\n") + help_text(""));
  o.command = argv[1];
  if (o.command == "--help" || o.command == "-h" || o.command == "help") {
    o.help = true;
    o.command.clear();
    return o;
  }
  static const std::map<std::string, std::vector<std::string>> allowed = {
      {"process",
       {"config", "state", "resource", "instance", "now", "dry-run", "rejects", "key-file", "threads"}},
      {"rescan",
       {"config", "state", "resource", "instance", "now", "dry-run", "rejects", "key-file", "threads"}},
      {"since", {"config", "state", "resource", "instance", "url", "now", "key-file"}},
      {"reset", {"config", "state", "resource", "instance", "forget-records", "key-file"}},
      {"purge", {"state", "now", "key-file"}},
      {"demo", {}},
  };
  auto cmd = allowed.find(o.command);
  if (cmd == allowed.end()) usage_error("unknown command \"" + o.command + "\"\n" + help_text(""));
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) usage_error("unexpected argument \"" + arg + "\"\n" + help_text(o.command));
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const auto& names = cmd->second;
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      usage_error("unknown option --" + name + " for " + o.command + "\n" + help_text(o.command));
    }
    if (name == "dry-run" || name == "url" || name == "forget-records") {
      if (inline_value) usage_error("--" + name + " takes no value");
      (name == "dry-run" ? o.dry_run : name == "url" ? o.url : o.forget_records) = true;
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 >= argc) usage_error("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "config") o.config = value;
    if (name == "state") o.state = value;
    if (name == "resource") o.resource = value;
    if (name == "instance") o.instance = value;
    if (name == "now") o.now = value;
    if (name == "rejects") o.rejects = value;
    if (name == "key-file") o.key_file = value;
    if (name == "threads") {
      char* end = nullptr;
      errno = 0;
      const unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0 || n < 1 || n > 64 || value[0] == '-')
        usage_error("--threads " + value + ": expected a whole number from 1 to 64");
      o.threads = static_cast<unsigned>(n);
    }
  }
  if (o.help) return o;
  auto need = [&](const std::optional<std::string>& v, const char* name) {
    if (!v || v->empty()) usage_error(std::string("--") + name + " is required\n" + help_text(o.command));
  };
  if (o.command != "demo") need(o.state, "state");
  if (o.command != "demo" && o.command != "purge") {
    need(o.config, "config");
    need(o.resource, "resource");
  }
  return o;
}

// ---- the pieces a command needs ------------------------------------------------------------------

fixed_clock make_clock(const options& o) {
  fixed_clock c;
  if (o.now) {
    auto t = parse_iso8601(*o.now);
    if (!t) usage_error("--now: " + t.error().describe());
    c.at = *t;
  }
  return c;
}

// The file of a SQLite state URI (PATH or sqlite:PATH); a usage error when there is none.
std::string sqlite_path(const std::string& uri) {
  const std::string path = std::string_view(uri).rfind("sqlite:", 0) == 0 ? uri.substr(7) : uri;
  if (path.empty())
    usage_error("--state " + uri + ": no path after \"sqlite:\" (sqlite:PATH names the state file)");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    usage_error("--state " + uri + ": is a directory; name a state file (it is created if missing)");
  return path;
}

#ifdef SINCEHASH_HAS_SODIUM
key_ring load_key_file(const std::string& path) {
  try {
    return key_ring::load(path);
  } catch (const error& e) {
    std::string m = e.what();
    usage_error(m.rfind("key file ", 0) == 0 ? "--key-file " + m.substr(9) : "--key-file " + path + ": " + m);
  }
}
#endif

// Calls `f(store, algorithm)` with the opened state and the hash algorithm its detector uses:
// with --key-file the store wrapped in an encrypted_store and keyed BLAKE2b derived for
// `partition`; without, the store itself and XXH3 (refusing a partition that is encrypted).
template <class Store, class F>
decltype(auto) with_keys(Store& store, const options& o, const std::string& partition, F&& f) {
#ifdef SINCEHASH_HAS_SODIUM
  if (o.key_file) {
    const key_ring keys = load_key_file(*o.key_file);
    encrypted_store<Store> sealed(store, keys);
    return f(sealed, blake2b_keyed(keys, partition));
  }
  if (!partition.empty() && holds_sealed_state(store, partition)) {
    usage_error("--state " + *o.state + ": partition '" + partition + "' is encrypted; pass its --key-file");
  }
#else
  if (o.key_file)
    usage_error("--key-file " + *o.key_file + ": this build of sincehash has no libsodium (encrypted state)");
#endif
  return f(store, xxh3_64{});
}

// Opens the state named by --state and calls `f(store, algorithm)` (see with_keys); returns
// what `f` returns. Each kind of back end is its own store type, so `f` is instantiated once per
// kind (and per encryption) this build supports. `partition` is empty for commands that work
// on every partition.
template <class F>
decltype(auto) with_store(const options& o, const std::string& partition, F&& f) {
  const std::string& uri = *o.state;
  const std::string_view u(uri);
  if (u.rfind("rediss://", 0) == 0)
    usage_error("--state " + uri + ": TLS to Redis (rediss://) is not supported");
  if (u.rfind("redis://", 0) == 0) {
#ifdef SINCEHASH_HAS_REDIS
    redis_options options;
    try {
      options = redis_options::from_uri(u);
    } catch (const error& e) {
      usage_error("--state: " + e.message());
    }
    redis_store store(std::move(options));
    return with_keys(store, o, partition, f);
#else
    usage_error("--state " + uri + ": this build of sincehash has no Redis back end");
#endif
  }
  if (u.rfind("postgresql://", 0) == 0 || u.rfind("postgres://", 0) == 0) {
#ifdef SINCEHASH_HAS_POSTGRES
    postgres_options options;
    options.conninfo = uri;
    postgres_store store(std::move(options));
    return with_keys(store, o, partition, f);
#else
    usage_error("--state " + uri + ": this build of sincehash has no PostgreSQL back end");
#endif
  }
  if (u.find("://") != std::string_view::npos) usage_error("--state " + uri + ": unknown kind of state URI");
  sqlite_store store(sqlite_path(uri));
  return with_keys(store, o, partition, f);
}

resource_settings load_resource(const options& o) {
  std::error_code ec;
  if (std::filesystem::is_directory(*o.config, ec))
    usage_error("--config " + *o.config + ": is a directory, not a configuration file");
  std::ifstream in(*o.config, std::ios::binary);
  if (!in) usage_error("--config " + *o.config + ": cannot be read (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) usage_error("--config " + *o.config + ": cannot be read (" + std::strerror(errno) + ")");
  try {
    return read_config_text(text.str()).resource(*o.resource);
  } catch (const config_error& e) {
    std::string message = "configuration " + *o.config + " has " + std::to_string(e.problems().size()) +
                          (e.problems().size() == 1 ? " problem:" : " problems:");
    for (const auto& p : e.problems()) message += "\n  " + p.describe();
    usage_error(message);
  }
}

// The partition of the run: distinct (instance, resource) pairs never share one.
std::string partition_of(const options& o) { return partition_key(o.instance, *o.resource); }

// ---- process / rescan -----------------------------------------------------------------------------

struct run_io {
  std::FILE* in = stdin;
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  std::FILE* rejects = nullptr;  // nullptr → stderr
  bool progress = false;         // stderr is a terminal
};

// Reads, classifies, delivers and commits the input batch by batch, keeping `progress` and
// `after` (the offset after the last batch) up to date, so that they hold what was done when it
// throws.
template <class Detector>
void run_records(Detector& d, const options& o, run_io& io, bool rescan, std::optional<offset_value>& after,
                 run_progress& progress) {
  sink out(io.out, "the events");
  sink rej(io.rejects != nullptr ? io.rejects : io.err, o.rejects ? *o.rejects : std::string("stderr"));
  run_stats& total = progress.stats;
  // Each batch is committed after its events were flushed (one durable commit per batch):
  // up to 10,000 records or 8 MiB of input, which bounds memory whatever the input's size.
  // The descriptor is read directly where there is one, so NDJSON arriving through a pipe is
  // processed (and committed) as it comes instead of waiting for a full batch.
  const int in_fd = fileno(io.in);
  record_reader reader = in_fd >= 0
                             ? record_reader(in_fd, 10000, std::size_t{64} << 20, std::size_t{8} << 20)
                             : record_reader(io.in, 10000, std::size_t{64} << 20, std::size_t{8} << 20);
  // With more than one thread, the next batch is framed and read (parsed, hashed) on another
  // thread while this one classifies, delivers and commits the current one. Batches are still
  // classified and committed one after the other, in input order.
  const bool overlapped = o.threads > 1;
  reader.keep_previous_batch(overlapped);
  // A pause is 10 ms without input: a writer streaming records in pieces fills whole batches
  // (a durable commit each), a page followed by silence is committed 10 ms after it arrived,
  // and a trickle at most every 100 ms.
  if (in_fd >= 0) reader.set_pause_wait(std::chrono::milliseconds(10));
  struct fetched {
    std::vector<framed_record> records;
    typename Detector::read_batch read;
    bool more = false;
  };
  const auto fetch = [&reader, &d](fetched& f) {
    f.more = reader.next_batch(f.records);
    if (f.more) f.read = d.read(f.records);
  };
  const auto fetch_or_fail = [](const std::function<void()>& step) {
    try {
      step();
    } catch (const error& e) {
      run_error("reading the input: " + e.info().describe() + "; state of this batch not committed");
    }
  };
  fetched current, next;
  std::string buf;
  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;

  if (rescan && !o.dry_run) d.begin_rescan();
  fetch_or_fail([&] { fetch(current); });
  while (current.more) {
    std::future<void> ahead;
    if (overlapped) ahead = std::async(std::launch::async, [&] { fetch(next); });
    batch_result r = d.classify(std::move(current.read));
    total += r.stats;
    out.write_events(r.events, buf);
    buf.clear();
    for (const auto& x : r.rejected) append_reject(buf, x);
    rej.write(buf);
    out.flush();
    rej.flush();
    if (!o.dry_run) {
      d.commit(r.pending);
      progress.committed += r.stats.processed;
    }
    after = r.pending.offset_after;
    if (overlapped)
      fetch_or_fail([&] { ahead.get(); });
    else
      fetch_or_fail([&] { fetch(next); });
    std::swap(current, next);
    if (io.progress) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        last_progress = now;
        const double secs = std::chrono::duration<double>(now - started).count();
        std::fprintf(io.err, "\r%zu records, %.0f records/s, offset %s   ", total.processed,
                     secs > 0 ? static_cast<double>(total.processed) / secs : 0.0,
                     after ? after->text.c_str() : "none");
        std::fflush(io.err);
      }
    }
  }
  if (rescan && !o.dry_run) {
    batch_result r = d.complete_rescan();
    out.write_events(r.events, buf);
    out.flush();
    d.commit(r.pending);
    total += r.stats;
  }
  if (io.progress) std::fputs("\r\x1b[K", io.err);
}

template <class Store, class Algorithm>
int process_with(Store& store, Algorithm algorithm, const options& o, run_io io, bool rescan,
                 resource_settings settings, const fixed_clock& clock) {
  cli_detector<Store, Algorithm> d(store, partition_of(o), std::move(settings), clock, std::move(algorithm));
  d.set_reader_threads(o.threads);
  std::FILE* rejects_file = nullptr;
  if (o.rejects) {
    rejects_file = std::fopen(o.rejects->c_str(), "ab");
    if (rejects_file == nullptr)
      run_error("--rejects " + *o.rejects + ": cannot be opened (" + std::strerror(errno) + ")");
    io.rejects = rejects_file;
  }
  const std::optional<offset_value> before = d.offset();
  std::optional<offset_value> after = before;
  // A failed run still ends with its summary (after the error message): `committed` tells how
  // many input records the batches it committed held, and their events were its first lines.
  run_progress progress;
  int code = 0;
  try {
    run_records(d, o, io, rescan, after, progress);
  } catch (...) {
    if (io.progress) std::fputs("\r\x1b[K", io.err);
    code = report_failure(io.err);
  }
  if (rejects_file != nullptr && std::fclose(rejects_file) != 0 && code == 0) {
    std::fprintf(io.err, "sincehash: --rejects %s: writing failed (%s)\n", o.rejects->c_str(),
                 std::strerror(errno));
    code = 1;
  }
  std::fprintf(io.err, "%s\n", summary_json(progress, before, after).c_str());
  return code;
}

int cmd_process(const options& o, run_io io, bool rescan) {
  resource_settings settings = load_resource(o);
  const fixed_clock clock = make_clock(o);
  return with_store(o, partition_of(o), [&](auto& store, auto algorithm) {
    return process_with(store, std::move(algorithm), o, io, rescan, std::move(settings), clock);
  });
}

int cmd_since(const options& o, std::FILE* out) {
  resource_settings settings = load_resource(o);
  return with_store(o, partition_of(o), [&](auto& store, auto algorithm) {
    cli_detector<std::decay_t<decltype(store)>, decltype(algorithm)> d(
        store, partition_of(o), std::move(settings), make_clock(o), std::move(algorithm));
    if (o.url) {
      auto url = d.since_url();
      if (!url) usage_error("the resource's url template: " + url.error().describe());
      std::fprintf(out, "%s\n", url->c_str());
    } else if (auto since = d.since()) {
      std::fprintf(out, "%s\n", since->c_str());
    }
    finish_output(out, "the since value");
    return 0;
  });
}

int cmd_reset(const options& o) {
  resource_settings settings = load_resource(o);
  return with_store(o, partition_of(o), [&](auto& store, auto algorithm) {
    cli_detector<std::decay_t<decltype(store)>, decltype(algorithm)> d(
        store, partition_of(o), std::move(settings), make_clock(o), std::move(algorithm));
    d.reset(o.forget_records);
    return 0;
  });
}

int cmd_purge(const options& o, std::FILE* out) {
  const std::size_t purged = with_store(
      o, std::string(), [&](auto& store, auto) { return store.purge_expired(make_clock(o).now()); });
  std::fprintf(out, "{\"purged\":%zu}\n", purged);
  finish_output(out, "the purge count (the states were purged)");
  return 0;
}

// ---- demo ---------------------------------------------------------------------------------------

std::string contact(int id, const std::string& email, const std::string& phone, const std::string& updated,
                    const std::string& created) {
  return "{\"id\":\"" + std::to_string(id) + "\",\"properties\":{\"email\":\"" + email + "\",\"phone\":\"" +
         phone + "\",\"createdate\":\"" + created + "\",\"lastmodifieddate\":\"" + updated + "\"}}";
}

int cmd_demo() {
  namespace fs = std::filesystem;
  char dir_template[] = "/tmp/sincehash-demo-XXXXXX";
  if (mkdtemp(dir_template) == nullptr)
    run_error(std::string("cannot create a temporary directory: ") + std::strerror(errno));
  const fs::path dir(dir_template);
  const fs::path config = dir / "config.json";
  const std::string state = "sqlite:" + (dir / "state.db").string();
  {
    std::ofstream c(config);
    c << R"({"configuration": {
  "event.poller.refresh_interval": "15",
  "event.poller.configuration": {"contacts": {
    "url": "/crm/v3/objects/contacts/search?since=${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}",
    "idField": "id",
    "datesConfiguration": {"updatedDateField": "properties.lastmodifieddate",
                           "createdDateField": "properties.createdate"},
    "validationData": {"fields": ["properties.email"]},
    "sincehash": {"rescan": "0 0 ? * *"}}}}})";
  }
  options base;
  base.config = config.string();
  base.state = state;
  base.resource = "contacts";

  auto step = [&](const std::string& title, const std::string& explain,
                  const std::vector<std::string>& records, bool rescan, const std::string& now) {
    std::printf("\n== %s\n   %s\n", title.c_str(), explain.c_str());
    options o = base;
    o.now = now;
    std::string input;
    for (const auto& r : records) input += r + "\n";
    std::FILE* in = fmemopen(const_cast<char*>(input.data()), input.size(), "r");
    if (in == nullptr) run_error("fmemopen failed");
    std::FILE* summary = std::tmpfile();
    run_io io;
    io.in = in;
    io.err = summary;
    const int rc = cmd_process(o, io, rescan);
    std::fclose(in);
    if (rc != 0) run_error("the demo's run failed");
    std::rewind(summary);
    char line[4096] = {0};
    std::string last;
    while (std::fgets(line, sizeof line, summary) != nullptr) last = line;
    std::fclose(summary);
    auto s = nlohmann::json::parse(last);
    std::printf("   pipe_offset=%s processed_last_run=%d  summary: %s", s["since_after"].dump().c_str(),
                static_cast<int>(s["created"].get<int>() + s["updated"].get<int>() + s["deleted"].get<int>()),
                last.c_str());
    return rc;
  };

  std::printf("sincehash demo — state in %s\n", state.c_str());
  std::printf("config: contacts polled by properties.lastmodifieddate; only properties.email is watched\n");
  std::fflush(stdout);
  const std::string t1 = "2024-03-01T10:00:00.000Z", t2 = "2024-03-01T11:00:00.000Z",
                    t3 = "2024-03-01T12:00:00.000Z", c0 = "2024-01-01T00:00:00.000Z";
  step("1. full sync (no since value: the source is asked for everything)",
       "all 3 are dispatched: created when the created date equals the updated date, else updated",
       {contact(1, "ada@example.com", "111", t1, t1), contact(2, "bob@example.com", "222", t1, c0),
        contact(3, "cy@example.com", "333", t2, c0)},
       false, "2024-03-01T12:30:00Z");
  step("2. incremental poll (since = offset, inclusive: the record at the offset comes back)",
       "3 comes back unchanged; 2 changed only its phone (not watched): not dispatched; 1 changed email: "
       "dispatched",
       {contact(3, "cy@example.com", "333", t2, c0), contact(2, "bob@example.com", "999", t3, c0),
        contact(1, "ada@lovelace.org", "111", t3, t1)},
       false, "2024-03-01T12:30:00Z");
  step("3. a tie at a page boundary: page 1 ends at 12:00 with record 4",
       "record 4 is new and dispatched; the offset stays at 12:00",
       {contact(4, "dee@example.com", "444", t3, t3)}, false, "2024-03-01T12:31:00Z");
  step("   page 2 asks since 12:00 inclusive: 4 again (filtered) and 5, which shares the timestamp",
       "with a plain '>' 5 would be lost; here 4 is unchanged and 5 is created: 0 lost, 0 duplicated",
       {contact(4, "dee@example.com", "444", t3, t3), contact(5, "eve@example.com", "555", t3, t3)}, false,
       "2024-03-01T12:32:00Z");
  step("4. a stale copy: an older version of record 1 arrives late",
       "its updated date is older than the stored one: stale, not dispatched, state untouched",
       {contact(1, "ada@example.com", "111", t1, t1)}, false, "2024-03-01T12:33:00Z");
  {
    std::printf("\n== 5. reset: the offset is forgotten, so the next poll is a full sync\n");
    options o = base;
    cmd_reset(o);
    std::printf("   since value after reset: ");
    o.url = false;
    std::fflush(stdout);
    std::FILE* since_out = std::tmpfile();
    cmd_since(o, since_out);
    std::rewind(since_out);
    char line[256] = {0};
    std::printf("%s\n", std::fgets(line, sizeof line, since_out) == nullptr ? "(none: full sync)" : line);
    std::fclose(since_out);
  }
  step("   the full sync after the reset", "record hashes were kept: nothing is dispatched again",
       {contact(1, "ada@lovelace.org", "111", t3, t1), contact(2, "bob@example.com", "999", t3, c0),
        contact(3, "cy@example.com", "333", t2, c0), contact(4, "dee@example.com", "444", t3, t3),
        contact(5, "eve@example.com", "555", t3, t3)},
       false, "2024-03-02T00:00:00Z");
  step("6. the nightly rescan (\"0 0 ? * *\"): a complete listing in which record 2 is missing",
       "ids not seen in a completed rescan are reported as deleted and forgotten",
       {contact(1, "ada@lovelace.org", "111", t3, t1), contact(3, "cy@example.com", "333", t2, c0),
        contact(4, "dee@example.com", "444", t3, t3), contact(5, "eve@example.com", "555", t3, t3)},
       true, "2024-03-02T00:00:05Z");
  std::printf(
      "\nEvents are written one per line as JSON; the summary above is what `sincehash process` prints\n"
      "as its last line on stderr. Try: sincehash process --help\n");
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

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
    options o = parse_options(argc, argv);
    if (o.help) {
      std::fputs(help_text(o.command), stdout);
      finish_output(stdout, "the help");
      return 0;
    }
    run_io io;
    io.progress = isatty(STDERR_FILENO) != 0;
    if (o.command == "process") return cmd_process(o, io, false);
    if (o.command == "rescan") return cmd_process(o, io, true);
    if (o.command == "since") return cmd_since(o, stdout);
    if (o.command == "reset") return cmd_reset(o);
    if (o.command == "purge") return cmd_purge(o, stdout);
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
