// reportChanges on against off, measured in the same run: a first sync (every record new) and a
// repeat sync (every record back, 1 in 50 with a watched field changed) of CRM-like records with
// three watched fields, on the memory store and on SQLite, and the bytes each state takes.
// Each phase runs `rounds` times, on and off interleaved; the fastest round of each is kept.
// Prints records/s, the on/off ratios and the bytes per record.
//
//   ./bench_changes [records] [rounds]      (defaults: 20000 records, 5 rounds)
#include <benchmark/benchmark.h>

#include <sincehash/detector.hpp>
#include <sincehash/store/memory.hpp>
#include <sincehash/store/sqlite.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crm_records.hpp"

namespace {

using namespace sincehash;
#ifdef SINCEHASH_HAS_SIMDJSON
using hasher = field_hasher<xxh3_64, simdjson_access>;
#else
using hasher = field_hasher<>;
#endif

constexpr std::size_t batch_size = 1000;

struct page {
  std::vector<std::string> texts;
  std::vector<input_record> records;
  explicit page(std::vector<std::string> t) : texts(std::move(t)) {
    for (std::size_t i = 0; i < texts.size(); ++i) records.push_back({texts[i], i + 1});
  }
};

resource_settings settings(bool report) {
  resource_settings s = sincehash_bench::crm_settings();
  s.name = "contacts";
  s.report_changes = report;
  return s;
}

// Processes and commits `pg` in batches; returns the seconds it took.
template <class Store>
double sync(Store& store, bool report, const page& pg) {
  change_detector<Store, hasher> d(store, "bench/contacts", settings(report));
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t at = 0; at < pg.records.size(); at += batch_size) {
    std::vector<input_record> batch(
        pg.records.begin() + static_cast<std::ptrdiff_t>(at),
        pg.records.begin() + static_cast<std::ptrdiff_t>(std::min(at + batch_size, pg.records.size())));
    batch_result r = d.process(batch);
    benchmark::DoNotOptimize(r.events.data());
    d.commit(r.pending);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The size of an SQLite file after VACUUM: what its states take on disk.
double sqlite_bytes(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  double bytes = 0;
  sqlite3_prepare_v2(db, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", -1,
                     &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) bytes = static_cast<double>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return bytes;
}

struct timing {
  double first = 1e300, repeat = 1e300, bytes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  const page first(sincehash_bench::crm_records(n, 600, 0, 50));
  const page repeat(sincehash_bench::crm_records(n, 600, 1, 50));
  const char* names[] = {"memory", "sqlite"};
  timing results[2][2];  // [store][report]
  for (int round = 0; round < rounds; ++round) {
    for (int report = 0; report < 2; ++report) {
      timing& m = results[0][report];
      memory_store mem;
      m.first = std::min(m.first, sync(mem, report != 0, first));
      m.repeat = std::min(m.repeat, sync(mem, report != 0, repeat));
      m.bytes = static_cast<double>(mem.allocated_bytes());

      timing& q = results[1][report];
      const std::string path = "/tmp/sincehash-bench-changes-" + std::to_string(::getpid()) + ".db";
      {
        sqlite_store lite(path);
        q.first = std::min(q.first, sync(lite, report != 0, first));
        q.repeat = std::min(q.repeat, sync(lite, report != 0, repeat));
      }
      q.bytes = sqlite_bytes(path);
      for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
  }
  std::printf("%zu records of ~600 bytes, 3 watched fields, best of %d rounds\n", n, rounds);
  for (int s = 0; s < 2; ++s) {
    const timing& off = results[s][0];
    const timing& on = results[s][1];
    const double per_record = (on.bytes - off.bytes) / static_cast<double>(n);
    std::printf(
        "%-6s first sync: off %8.0f rec/s, on %8.0f rec/s, on/off time %.3f | repeat sync: off %8.0f rec/s, "
        "on %8.0f rec/s, on/off time %.3f | state: off %.1f B/record, on %.1f B/record, +%.1f B/record "
        "(+%.2f per watched field)\n",
        names[s], n / off.first, n / on.first, on.first / off.first, n / off.repeat, n / on.repeat,
        on.repeat / off.repeat, off.bytes / n, on.bytes / n, per_record, per_record / 3);
  }
  return 0;
}
