// State store benchmarks: 1,000-record commits (new, changed, unchanged ids) into stores holding
// 1,000,000 records, batch-read latency, and memory per record. Baselines measured in the same
// run: std::unordered_map lookups for the memory store; one-statement-per-record SQL for SQLite.
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sqlite3.h>
#include <sincehash/store/sqlite.hpp>
#endif

#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

constexpr std::size_t preload = 1'000'000;
constexpr std::size_t batch_size = 1'000;

std::string random_id(std::mt19937_64& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "rec-";
  std::uint64_t v = rng();
  for (int i = 0; i < 16; ++i) id.push_back(hex[(v >> (4 * i)) & 0xF]);
  return id;
}

sincehash::record_state make_state(std::uint64_t v) {
  sincehash::record_state s;
  s.hash = sincehash::digest{v * 0x9E3779B97F4A7C15ULL, 0, 64};
  s.fingerprint = 1;
  s.updated = sincehash::instant(std::chrono::nanoseconds(static_cast<std::int64_t>(v)));
  s.last_seen = sincehash::instant(std::chrono::nanoseconds(static_cast<std::int64_t>(v) + 1));
  return s;
}

// The ids already in every preloaded store, in random order.
const std::vector<std::string>& existing_ids() {
  static const std::vector<std::string> ids = [] {
    std::mt19937_64 rng(1);
    std::vector<std::string> v;
    v.reserve(preload);
    for (std::size_t i = 0; i < preload; ++i) v.push_back(random_id(rng));
    return v;
  }();
  return ids;
}

std::size_t allocated_now() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#else
  return 0;
#endif
}

struct memory_fixture {
  sincehash::memory_store store;
  std::size_t malloc_bytes = 0;
  std::size_t accounted_bytes = 0;
  std::size_t id_bytes = 0;
  memory_fixture() {
    const auto& ids = existing_ids();
    for (const auto& id : ids) id_bytes += id.size();
    std::size_t before = allocated_now();
    for (std::size_t base = 0; base < ids.size(); base += 10'000) {
      sincehash::commit_batch b;
      for (std::size_t i = base; i < base + 10'000 && i < ids.size(); ++i)
        b.upserts.emplace_back(ids[i], make_state(i));
      store.commit("bench", b);
    }
    malloc_bytes = allocated_now() - before;
    accounted_bytes = store.allocated_bytes();
  }
};

memory_fixture& memory() {
  static memory_fixture f;
  return f;
}

std::vector<std::string_view> sample_one(std::mt19937_64& rng) {
  const auto& ids = existing_ids();
  std::vector<std::string_view> out;
  out.reserve(batch_size);
  for (std::size_t i = 0; i < batch_size; ++i) out.push_back(ids[rng() % ids.size()]);
  return out;
}

// 64 batches of 1,000 random preloaded ids, drawn before timing starts.
struct samples {
  std::vector<std::vector<std::string_view>> batches;
  std::size_t next = 0;
  explicit samples(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 64; ++i) batches.push_back(sample_one(rng));
  }
  const std::vector<std::string_view>& operator()() { return batches[next++ % batches.size()]; }
};

void memory_get_many(benchmark::State& st) {
  auto& f = memory();
  samples sample(2);
  std::size_t hits = 0;
  for (auto _ : st) {
    auto got = f.store.get_many("bench", sample());
    hits += got[0].has_value();
    benchmark::DoNotOptimize(got.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
  if (hits != st.iterations()) st.SkipWithError("a preloaded id was not found");
}

void baseline_unordered_map(benchmark::State& st) {
  static const auto map = [] {
    std::unordered_map<std::string, sincehash::record_state> m;
    const auto& ids = existing_ids();
    m.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) m.emplace(ids[i], make_state(i));
    return m;
  }();
  samples sample(2);
  for (auto _ : st) {
    const auto& ids = sample();
    std::vector<std::optional<sincehash::record_state>> out(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = map.find(std::string(ids[i]));
      if (it != map.end()) out[i] = it->second;
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

void memory_commit_new(benchmark::State& st) {
  auto& f = memory();
  std::mt19937_64 rng(3);
  for (auto _ : st) {
    st.PauseTiming();
    sincehash::commit_batch b;
    for (std::size_t i = 0; i < batch_size; ++i) b.upserts.emplace_back(random_id(rng), make_state(i));
    st.ResumeTiming();
    f.store.commit("bench-new", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

void memory_bytes_per_record(benchmark::State& st) {
  auto& f = memory();
  for (auto _ : st) benchmark::DoNotOptimize(f.store.allocated_bytes());
  const double n = static_cast<double>(preload);
  st.counters["accounted_B_per_record_beyond_id"] =
      (static_cast<double>(f.accounted_bytes) - static_cast<double>(f.id_bytes)) / n;
  st.counters["malloc_B_per_record_beyond_id"] =
      (static_cast<double>(f.malloc_bytes) - static_cast<double>(f.id_bytes)) / n;
  st.counters["id_B_per_record"] = static_cast<double>(f.id_bytes) / n;
}

BENCHMARK(baseline_unordered_map)->Unit(benchmark::kMicrosecond);
BENCHMARK(memory_get_many)->Unit(benchmark::kMicrosecond);
BENCHMARK(memory_commit_new)->Unit(benchmark::kMicrosecond);
BENCHMARK(memory_bytes_per_record)->Iterations(1);

#ifdef SINCEHASH_HAS_SQLITE

std::string sqlite_path() {
  static const std::string path = [] {
    auto p = std::filesystem::temp_directory_path() / "sincehash-bench-store.db";
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
    return p.string();
  }();
  return path;
}

// A file holding the preloaded records (loaded with synchronous=NORMAL, measured with FULL).
sincehash::sqlite_store& sqlite() {
  static std::unique_ptr<sincehash::sqlite_store> store = [] {
    {
      sincehash::sqlite_options o;
      o.synchronous = sincehash::sqlite_sync::normal;
      sincehash::sqlite_store load(sqlite_path(), o);
      const auto& ids = existing_ids();
      for (std::size_t base = 0; base < ids.size(); base += 20'000) {
        sincehash::commit_batch b;
        for (std::size_t i = base; i < base + 20'000 && i < ids.size(); ++i)
          b.upserts.emplace_back(ids[i], make_state(i));
        load.commit("bench", b);
      }
    }
    return std::make_unique<sincehash::sqlite_store>(sqlite_path());
  }();
  return *store;
}

void sqlite_commit_new(benchmark::State& st) {
  auto& s = sqlite();
  std::mt19937_64 rng(4);
  std::int64_t k = 0;
  for (auto _ : st) {
    st.PauseTiming();
    sincehash::commit_batch b;
    for (std::size_t i = 0; i < batch_size; ++i) b.upserts.emplace_back(random_id(rng), make_state(i));
    b.offset = sincehash::offset_value::from_integer(++k);
    st.ResumeTiming();
    s.commit("bench", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

void sqlite_commit_changed(benchmark::State& st) {
  auto& s = sqlite();
  std::mt19937_64 rng(5);
  std::uint64_t v = 7;
  for (auto _ : st) {
    st.PauseTiming();
    auto ids = sample_one(rng);
    sincehash::commit_batch b;
    for (auto id : ids) b.upserts.emplace_back(std::string(id), make_state(++v));
    st.ResumeTiming();
    auto before = s.get_many("bench", ids);
    benchmark::DoNotOptimize(before.data());
    s.commit("bench", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// Unchanged records: the batch read is all the store does (no writes at all).
void sqlite_unchanged_get_many(benchmark::State& st) {
  auto& s = sqlite();
  samples sample(6);
  std::size_t hits = 0;
  for (auto _ : st) {
    auto got = s.get_many("bench", sample());
    hits += got[0].has_value();
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
  if (hits != st.iterations()) st.SkipWithError("a preloaded id was not found");
}

// Unchanged records plus the offset-only commit that follows them (one row written).
void sqlite_unchanged_with_offset_commit(benchmark::State& st) {
  auto& s = sqlite();
  std::mt19937_64 rng(7);
  std::int64_t k = 1'000'000;
  for (auto _ : st) {
    st.PauseTiming();
    auto ids = sample_one(rng);
    sincehash::commit_batch b;
    b.offset = sincehash::offset_value::from_integer(++k);
    st.ResumeTiming();
    auto got = s.get_many("bench", ids);
    benchmark::DoNotOptimize(got.data());
    s.commit("bench", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// Baseline: what a hand-rolled connector does: one SELECT per id on the same file.
void baseline_sqlite_point_reads(benchmark::State& st) {
  sqlite();
  sqlite3* db = nullptr;
  sqlite3_open(sqlite_path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456", nullptr, nullptr, nullptr);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(
      db, "SELECT hash, fingerprint, updated, last_seen, expires FROM records WHERE partition=?1 AND id=?2",
      -1, &q, nullptr);
  sqlite3_stmt* pid = nullptr;
  sqlite3_prepare_v2(db, "SELECT id FROM partitions WHERE name=CAST('bench' AS BLOB)", -1, &pid, nullptr);
  sqlite3_step(pid);
  std::int64_t partition = sqlite3_column_int64(pid, 0);
  sqlite3_finalize(pid);
  samples sample(6);
  std::size_t hits = 0;
  for (auto _ : st) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (auto id : sample()) {
      sqlite3_bind_int64(q, 1, partition);
      sqlite3_bind_blob(q, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      hits += sqlite3_step(q) == SQLITE_ROW;
      sqlite3_reset(q);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
  if (hits != st.iterations() * batch_size) st.SkipWithError("a preloaded id was not found");
}

// Baseline: 1,000 new ids inserted in arrival (random) order, one transaction, synchronous=FULL.
void baseline_sqlite_unsorted_insert(benchmark::State& st) {
  sqlite();
  sqlite3* db = nullptr;
  sqlite3_open(sqlite_path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456", nullptr,
               nullptr, nullptr);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(
      db,
      "INSERT OR REPLACE INTO records(partition, id, hash, fingerprint, updated, last_seen, expires) "
      "VALUES((SELECT id FROM partitions WHERE name=CAST('bench' AS BLOB)), ?1, "
      "x'0102030405060708', 1, 5, 6, NULL)",
      -1, &ins, nullptr);
  std::mt19937_64 rng(8);
  for (auto _ : st) {
    st.PauseTiming();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < batch_size; ++i) ids.push_back(random_id(rng));
    st.ResumeTiming();
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (const auto& id : ids) {
      sqlite3_bind_blob(ins, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// Real time: a durable commit waits for the disk, which CPU time does not show.
BENCHMARK(baseline_sqlite_point_reads)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(sqlite_unchanged_get_many)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(sqlite_unchanged_with_offset_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(baseline_sqlite_unsorted_insert)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK(sqlite_commit_new)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK(sqlite_commit_changed)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();

#endif

}  // namespace

BENCHMARK_MAIN();
