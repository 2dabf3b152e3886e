// How the cost of a sync grows with the state already stored: for each store and each number of
// stored states (100 k, 1 M, 10 M; Redis and PostgreSQL up to 1 M), a fresh process loads that
// many records through the detector, then times a repeat sync (a window of stored records seen
// again, unchanged, spread over the whole id range) and a first sync (a window of new records),
// each processed and committed in batches of 1,000 as the tool does. It prints records/s, each
// rate as a ratio of the same store's rate with the fewest states (the baseline, same run), the
// process's peak resident memory (the servers' not included) and the SQLite state's size on
// disk (its file with the write-ahead log). For SQLite, "SQLite alone" is the rate at which a
// bare connection looks up the repeat window's ids (lookups/s): what the store itself costs.
//
//   bench_scaling [--max N] [--window W] [--bytes B] [--stores memory,sqlite,redis,postgres]
//                 [--sqlite-connections 1,2]
//
// Defaults: --max 10000000 --window 100000 --bytes 1200. Redis and PostgreSQL run as servers
// started here on 127.0.0.1 (PostgreSQL with fsync on, SQLite with synchronous=FULL). SQLite runs
// once per --sqlite-connections value (sqlite_options::read_connections; rows "sqlite xN").
#include <sincehash/detector.hpp>
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif
#ifdef SINCEHASH_HAS_SQLITE
#include <sqlite3.h>
#include <sincehash/store/sqlite.hpp>
#endif
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif

#include "../support/servers.hpp"
#include "crm_records.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace sincehash;
namespace fs = std::filesystem;

#ifdef SINCEHASH_HAS_SIMDJSON
using hasher_type = field_hasher<xxh3_64, simdjson_access>;
#else
using hasher_type = field_hasher<>;
#endif

constexpr std::size_t batch_size = 1'000;

// Record `i` of about `bytes` bytes: a HubSpot-style contact whose id, e-mail and dates follow
// from `i`, so any window of the id range can be made again without keeping it.
void append_record(std::string& out, std::size_t i, std::size_t bytes) {
  static const char* words[] = {"alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
                                "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa"};
  const std::size_t start = out.size();
  const std::int64_t base_ms = 1709280000000;  // 2024-03-01T08:00:00Z
  const std::string id = std::to_string(1'000'000'000 + i);
  out += "{\"id\":\"" + id + "\",\"properties\":{\"email\":\"user" + id + "@example.com\",\"firstname\":\"";
  out += words[i % 16];
  out += "\",\"lastname\":\"";
  out += words[(i / 16) % 16];
  out += "\",\"createdate\":\"" +
         format_rfc3339(instant(std::chrono::milliseconds(base_ms - 86'400'000)), 3) +
         "\",\"lastmodifieddate\":\"" +
         format_rfc3339(
             instant(std::chrono::milliseconds(base_ms + static_cast<std::int64_t>(i % 86'400'000))), 3) +
         "\"";
  for (int k = 0; out.size() - start + 40 < bytes; ++k)
    out += ",\"custom_property_" + std::to_string(k) + "\":\"" +
           words[(i + static_cast<std::size_t>(k)) % 16] + "\"";
  out += "}}\n";
}

resource_settings settings() { return sincehash_bench::crm_settings(); }

// Processes and commits the records `first`, `first + stride`, ... (`count` of them) in batches;
// returns the seconds spent in the detector and the store (making the records is not counted) and
// checks that every record was classified as `expect_new` says.
template <class Store>
double sync(change_detector<Store, hasher_type>& d, std::size_t first, std::size_t stride, std::size_t count,
            std::size_t bytes, bool expect_new) {
  std::string text;
  std::vector<input_record> batch;
  double seconds = 0;
  for (std::size_t done = 0; done < count;) {
    const std::size_t n = std::min(batch_size, count - done);
    text.clear();
    std::vector<std::size_t> starts;
    for (std::size_t k = 0; k < n; ++k) {
      starts.push_back(text.size());
      append_record(text, first + (done + k) * stride, bytes);
    }
    starts.push_back(text.size());
    text.append(64, ' ');
    batch.clear();
    for (std::size_t k = 0; k < n; ++k)
      batch.push_back({std::string_view(text).substr(starts[k], starts[k + 1] - starts[k] - 1), done + k + 1,
                       text.size() - starts[k + 1] + 1});
    const auto t0 = std::chrono::steady_clock::now();
    batch_result r = d.process(batch);
    d.commit(r.pending);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::size_t changed = r.stats.created + r.stats.updated;
    if (r.stats.invalid != 0 || changed != (expect_new ? n : 0)) {
      std::fprintf(stderr,
                   "bench_scaling: unexpected classification: %zu created, %zu updated, %zu invalid of %zu\n",
                   r.stats.created, r.stats.updated, r.stats.invalid, n);
      std::_Exit(3);
    }
    done += n;
  }
  return seconds;
}

struct row {
  double load_rate = 0, repeat_rate = 0, first_rate = 0;
  double lookup_rate = 0;  // SQLite alone: the repeat window's ids looked up one by one (0: not run)
  long rss_kib = 0;
  std::uintmax_t disk_bytes = 0;
};

// Loads `stored` records into a fresh store from `open`, then times the two windows; `lookups`
// (when given) times looking up the repeat window's ids (stride, window), last.
template <class Store>
row measure(const std::function<std::unique_ptr<Store>()>& open, std::size_t stored, std::size_t window,
            std::size_t bytes, const std::function<double(std::size_t, std::size_t)>& lookups = {}) {
  std::unique_ptr<Store> store = open();
  change_detector<Store, hasher_type> d(*store, "scale/contacts", settings());
  row out;
  const double load = sync(d, 0, 1, stored, bytes, true);
  out.load_rate = static_cast<double>(stored) / load;
  const std::size_t stride = std::max<std::size_t>(1, stored / window);
  out.repeat_rate = static_cast<double>(window) / sync(d, 0, stride, window, bytes, false);
  out.first_rate = static_cast<double>(window) / sync(d, stored, 1, window, bytes, true);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  out.rss_kib = ru.ru_maxrss;
  if (lookups) out.lookup_rate = lookups(stride, window);  // after the peak is taken: it maps the file again
  return out;
}

#ifdef SINCEHASH_HAS_SQLITE
// What SQLite alone takes for the repeat window: a connection of its own (a memory map of its own,
// as a new process has) looks the window's ids up one by one with a prepared statement, reading
// the columns the store reads, in one read transaction per batch. Returns lookups/s.
double sqlite_lookups(const std::string& path, std::size_t stride, std::size_t window) {
  sqlite3* db = nullptr;
  const auto fail = [&](const char* what) {
    std::fprintf(stderr, "bench_scaling: sqlite %s: %s\n", what, db != nullptr ? sqlite3_errmsg(db) : "");
    std::_Exit(4);
  };
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) fail("open");
  if (sqlite3_exec(db, "PRAGMA mmap_size=2147483648; PRAGMA cache_size=-65536", nullptr, nullptr, nullptr) !=
      SQLITE_OK)
    fail("pragma");
  sqlite3_stmt* find = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, hash, fingerprint, updated, last_seen, expires, sealed, fields, version "
                         "FROM records WHERE partition=(SELECT id FROM partitions WHERE "
                         "name=CAST('scale/contacts' AS BLOB)) "
                         "AND id=?1",
                         -1, &find, nullptr) != SQLITE_OK)
    fail("prepare");
  std::size_t found = 0;
  std::vector<std::string> ids;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t done = 0; done < window; done += batch_size) {
    ids.clear();
    for (std::size_t k = 0; k < batch_size && done + k < window; ++k)
      ids.push_back(std::to_string(1'000'000'000 + (done + k) * stride));
    if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) fail("begin");
    for (const std::string& id : ids) {
      sqlite3_bind_blob(find, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      while (sqlite3_step(find) == SQLITE_ROW) {
        found += sqlite3_column_bytes(find, 1) > 0 ? 1 : 0;
        (void)sqlite3_column_int64(find, 3);
      }
      sqlite3_reset(find);
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) fail("commit");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sqlite3_finalize(find);
  sqlite3_close(db);
  if (found != window) fail("lookups: not every id of the window was found");
  return static_cast<double>(window) / seconds;
}
#endif

// Runs `job` in a child process (so peak memory is its own) and returns its row.
std::optional<row> in_child(const std::function<row()>& job) {
  int p[2];
  if (::pipe(p) != 0) return std::nullopt;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    int code = 0;
    try {
      const row r = job();
      if (::write(p[1], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) code = 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_scaling: %s\n", e.what());
      code = 1;
    }
    std::fflush(nullptr);
    std::_Exit(code);
  }
  ::close(p[1]);
  row r;
  const bool got = ::read(p[0], &r, sizeof r) == static_cast<ssize_t>(sizeof r);
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return r;
}

std::uintmax_t size_of(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t max = 10'000'000, window = 100'000, bytes = 1200;
  std::string stores = "memory,sqlite,redis,postgres";
  std::vector<unsigned> sqlite_connections{1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--max") {
      max = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--window") {
      window = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--bytes") {
      bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--stores") {
      stores = argv[i + 1];
    } else if (flag == "--sqlite-connections") {
      sqlite_connections.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) {
        const unsigned long n = std::strtoul(item.c_str(), nullptr, 10);
        if (n == 0 || n > 64) {
          std::fprintf(stderr, "bench_scaling: --sqlite-connections takes numbers from 1 to 64\n");
          return 2;
        }
        sqlite_connections.push_back(static_cast<unsigned>(n));
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_scaling [--max N] [--window W] [--bytes B] [--stores LIST] "
                   "[--sqlite-connections LIST]\n");
      return 2;
    }
  }
  if (window == 0 || bytes < 200) {
    std::fprintf(stderr, "bench_scaling: --window must be at least 1 and --bytes at least 200\n");
    return 2;
  }
  const auto wanted = [&](const std::string& name) {
    return ("," + stores + ",").find("," + name + ",") != std::string::npos;
  };
  std::printf("%-9s %12s %14s %14s %8s %14s %8s %10s %12s %14s\n", "store", "states", "load rec/s",
              "repeat rec/s", "ratio", "first rec/s", "ratio", "peak RSS", "on disk", "SQLite alone");
  // `on_disk`: the state is a file in the run's directory (else its size is not shown).
  const auto table = [&](const char* name, std::size_t limit, bool on_disk,
                         const std::function<row(std::size_t, const fs::path&)>& job) {
    std::optional<row> base;
    for (std::size_t stored : {std::size_t{100'000}, std::size_t{1'000'000}, std::size_t{10'000'000}}) {
      if (stored > max || stored > limit) break;
      sincehash_test::temp_dir dir("scaling");
      const std::optional<row> r = in_child([&] { return job(stored, dir.path()); });
      if (!r) {
        std::printf("%-9s %12zu   failed (see above)\n", name, stored);
        break;
      }
      if (!base) base = r;
      char disk[32] = "-";
      if (on_disk)
        std::snprintf(disk, sizeof disk, "%.1f MiB",
                      static_cast<double>(size_of(dir.path())) / (1024.0 * 1024.0));
      char alone[32] = "-";
      if (r->lookup_rate > 0) std::snprintf(alone, sizeof alone, "%.0f", r->lookup_rate);
      std::printf("%-9s %12zu %14.0f %14.0f %7.2fx %14.0f %7.2fx %7ld MiB %12s %14s\n", name, stored,
                  r->load_rate, r->repeat_rate, r->repeat_rate / base->repeat_rate, r->first_rate,
                  r->first_rate / base->first_rate, r->rss_kib / 1024, disk, alone);
      std::fflush(stdout);
    }
  };
  if (wanted("memory")) {
    table("memory", SIZE_MAX, false, [&](std::size_t stored, const fs::path&) {
      return measure<memory_store>([] { return std::make_unique<memory_store>(); }, stored, window, bytes);
    });
  }
#ifdef SINCEHASH_HAS_SQLITE
  if (wanted("sqlite")) {
    for (unsigned connections : sqlite_connections) {
      const std::string name = connections == 1 ? "sqlite" : "sqlite x" + std::to_string(connections);
      table(name.c_str(), SIZE_MAX, true, [&](std::size_t stored, const fs::path& dir) {
        const std::string path = (dir / "state.db").string();
        sqlite_options o;
        o.read_connections = connections;
        return measure<sqlite_store>(
            [&] { return std::make_unique<sqlite_store>(path, o); }, stored, window, bytes,
            [&](std::size_t stride, std::size_t n) { return sqlite_lookups(path, stride, n); });
      });
    }
  }
#endif
#ifdef SINCEHASH_HAS_REDIS
  if (wanted("redis")) {
    sincehash_test::redis_server server;
    table("redis", 1'000'000, false, [&](std::size_t stored, const fs::path&) {
      redis_options o = redis_options::from_uri(server.uri()).value();
      o.key_prefix = "scale" + std::to_string(stored);
      return measure<redis_store>([&] { return std::make_unique<redis_store>(o); }, stored, window, bytes);
    });
  }
#endif
#ifdef SINCEHASH_HAS_POSTGRES
  if (wanted("postgres")) {
    sincehash_test::postgres_server server(true);
    table("postgres", 1'000'000, false, [&](std::size_t stored, const fs::path&) {
      postgres_options o;
      o.conninfo = server.uri();
      o.schema = "scale" + std::to_string(stored);
      return measure<postgres_store>([&] { return std::make_unique<postgres_store>(o); }, stored, window,
                                     bytes);
    });
  }
#endif
  return 0;
}
