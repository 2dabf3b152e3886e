// The command-line tool's commands: opening the state, loading the configuration, and the
// process / rescan loop that delivers each batch before committing it.

#include "commands.hpp"

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

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detector_type.hpp"
#include "output.hpp"

namespace sincehash_cli {

using namespace sincehash;

namespace {

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

}  // namespace

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

}  // namespace sincehash_cli
