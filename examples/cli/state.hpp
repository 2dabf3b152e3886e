#ifndef SINCEHASH_CLI_STATE_HPP
#define SINCEHASH_CLI_STATE_HPP

// Opening the state a command names (its URI, with or without keys), the clock of --now, and a
// partition's status line: shared by the command-line tool and the Python module.

#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/event_json.hpp>
#include <sincehash/open_store.hpp>
#include <sincehash/since.hpp>
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#endif

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "options.hpp"
#include "output.hpp"

namespace sincehash_cli {

using namespace sincehash;

/// The clock of --now (the system clock without it); a usage error for a bad date.
inline pinnable_clock make_clock(const options& o) {
  pinnable_clock c;
  if (o.now) {
    auto t = parse_iso8601(*o.now);
    if (!t) usage_error("--now: " + t.error().describe());
    c.pinned = *t;
  }
  return c;
}

// The file of a SQLite state URI (PATH or sqlite:PATH); a usage error when there is none.
inline std::string sqlite_path(const std::string& uri) {
  const std::string path = std::string_view(uri).rfind("sqlite:", 0) == 0 ? uri.substr(7) : uri;
  if (path.empty())
    usage_error("--state " + uri + ": no path after \"sqlite:\" (sqlite:PATH names the state file)");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    usage_error("--state " + uri + ": is a directory; name a state file (it is created if missing)");
  return path;
}

#ifdef SINCEHASH_HAS_SODIUM
inline key_ring load_key_file(const std::string& path) {
  try {
    return key_ring::load(path);
  } catch (const error& e) {
    const std::string m = e.message();
    usage_error(m.rfind("key file ", 0) == 0 ? "--key-file " + m.substr(9) : "--key-file " + path + ": " + m);
  }
}
#endif

// Opens the state named by --state (sealed with --key-file's keys when given) and calls
// `f(store, algorithm)` with it and the hash algorithm its detector uses: keyed BLAKE2b derived
// for `partition` with keys, XXH3 without (refusing a partition that is encrypted). Returns what
// `f` returns. Every back end is one store type, so `f` is instantiated once per algorithm.
// `partition` is empty for commands that work on every partition.
// With `open_mode::read_only` nothing is created or written (since, status). An SQLite state
// reads a batch's states with as many connections as --threads.
template <class F>
decltype(auto) with_store(const options& o, const std::string& partition, F&& f,
                          open_mode mode = open_mode::read_write) {
  const std::string& uri = *o.state;
  if (uri.find("://") == std::string::npos && uri != "memory:") (void)sqlite_path(uri);
  const auto open = [&](auto&&... keys) {
    try {
      return open_store(uri, keys..., open_options{mode, o.threads});
    } catch (const error& e) {
      if (e.code() == errc::invalid_argument || e.code() == errc::unsupported)
        usage_error("--state: " + e.message());
      throw;
    }
  };
#ifdef SINCEHASH_HAS_SODIUM
  if (o.key_file) {
    const key_ring keys = load_key_file(*o.key_file);
    any_store store = open(keys);
    return f(store, blake2b_keyed(keys, partition));
  }
  any_store store = open();
  if (!partition.empty() && holds_sealed_state(store, partition)) {
    usage_error("--state " + *o.state + ": partition '" + partition + "' is encrypted; pass its --key-file");
  }
#else
  if (o.key_file)
    usage_error("--key-file " + *o.key_file + ": this build of sincehash has no libsodium (encrypted state)");
  any_store store = open();
#endif
  return f(store, xxh3_64{});
}

/// The partition of the run: distinct (instance, resource) pairs never share one.
inline std::string partition_of(const options& o) { return partition_key(o.instance, *o.resource); }

// `t` as RFC 3339 in UTC (a JSON string), or null.
inline void append_instant(std::string& out, const std::optional<instant>& t) {
  if (t)
    append_json_string(out, format_rfc3339(*t, 3));
  else
    out += "null";
}

// One partition's status line. A `sealed` partition (read without its key file) shows what is
// kept in clear — its records' expiry and its rescans — with `"sealed":true`, its offset unknown.
template <class Store>
std::string status_line(Store& store, const std::string& partition, const resource_settings* settings,
                        instant now, bool sealed = false) {
  const std::optional<offset_value> off = sealed ? std::nullopt : store.offset(partition);
  std::optional<std::string> since;
  if (settings != nullptr)
    since = since_value(*settings, off, partition);
  else if (off)
    since = off->text;  // no configuration: no lookback to apply
  std::size_t records = 0;
  store.for_each(partition, [&](std::string_view, const record_state& s) {
    if (!expired(s, now)) ++records;
  });
  const std::optional<instant> last = store.last_rescan(partition);
  const auto names = split_partition_key(partition);
  std::string line = "{\"partition\":";
  append_json_string(line, partition);
  line += ",\"instance\":";
  if (names)
    append_json_string(line, names->first);
  else
    line += "null";
  line += ",\"resource\":";
  if (names)
    append_json_string(line, names->second);
  else
    line += "null";
  line += ",\"offset\":";
  if (off)
    append_json_string(line, off->text);
  else
    line += "null";
  line += ",\"since\":";
  if (since)
    append_json_string(line, *since);
  else
    line += "null";
  line += ",\"records\":" + std::to_string(records);
  if (sealed) line += ",\"sealed\":true";
  line += ",\"rescan\":{\"active\":";
  line += store.rescan_active(partition) ? "true" : "false";
  line += ",\"last\":";
  append_instant(line, last);
  line += ",\"next_due\":";
  if (settings != nullptr && settings->rescan) {
    append_instant(line, last ? settings->rescan->next_after(*last) : std::nullopt);
    line += ",\"due\":";
    line += settings->rescan->due(last, now) ? "true" : "false";
  } else {
    line += "null,\"due\":null";
  }
  line += "}}\n";
  return line;
}

}  // namespace sincehash_cli

#endif  // SINCEHASH_CLI_STATE_HPP
