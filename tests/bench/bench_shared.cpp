// The shared state stores over loopback: a batch read of 1,000 records, and a batch read plus a
// commit of 1,000 changed records, into stores holding 100,000 records, in records/s; SQLite
// (a local file, synchronous=FULL) measured in the same run is the baseline, and the last lines
// print each store's rate as a ratio of SQLite's. Redis and PostgreSQL run as real servers
// started here on 127.0.0.1 (PostgreSQL with fsync on, like SQLite's FULL).
// For them also what a batch is classified against read two ways, three calls (offset,
// rescan_active, get_many) or one snapshot, and a poll as snapshot plus a commit conditional
// on every state read.
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sincehash/store/sqlite.hpp>
#endif
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif

#include <benchmark/benchmark.h>

#include "../support/servers.hpp"

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t preload = 100'000;
constexpr std::size_t batch_size = 1'000;

const std::vector<std::string>& existing_ids() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> v;
    v.reserve(preload);
    std::mt19937_64 rng(1);
    for (std::size_t i = 0; i < preload; ++i) v.push_back("rec-" + std::to_string(rng()));
    return v;
  }();
  return ids;
}

sincehash::record_state make_state(std::uint64_t v, std::int64_t date) {
  sincehash::record_state s;
  s.hash = sincehash::digest{v * 0x9E3779B97F4A7C15ULL, 0, 64};
  s.fingerprint = 1;
  s.updated = sincehash::instant(std::chrono::nanoseconds(date));
  s.last_seen = sincehash::instant(std::chrono::nanoseconds(date + 1));
  return s;
}

template <class Store>
void load(Store& s) {
  const auto& ids = existing_ids();
  for (std::size_t base = 0; base < ids.size(); base += 10'000) {
    sincehash::commit_batch b;
    for (std::size_t i = base; i < base + 10'000 && i < ids.size(); ++i)
      b.upserts.emplace_back(ids[i], make_state(i, 1));
    s.commit("bench", b);
  }
}

// Batches of 1,000 random preloaded ids, drawn before timing starts.
struct samples {
  std::vector<std::vector<std::string_view>> batches;
  std::size_t next = 0;
  samples() {
    std::mt19937_64 rng(2);
    const auto& ids = existing_ids();
    for (int k = 0; k < 64; ++k) {
      std::vector<std::string_view> b;
      for (std::size_t i = 0; i < batch_size; ++i) b.push_back(ids[rng() % ids.size()]);
      batches.push_back(std::move(b));
    }
  }
  const std::vector<std::string_view>& operator()() { return batches[next++ % batches.size()]; }
};

template <class Store>
void read_only(benchmark::State& st, Store& s) {
  samples sample;
  std::size_t hits = 0;
  for (auto _ : st) {
    auto got = s.get_many("bench", sample());
    hits += got[0].has_value();
    benchmark::DoNotOptimize(got.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
  if (hits != st.iterations()) st.SkipWithError("a preloaded id was not found");
}

// What one poll does: read the states of a batch, then commit the batch's changed states (newer
// dates, new digests) and the offset.
template <class Store>
void read_commit(benchmark::State& st, Store& s) {
  samples sample;
  std::int64_t date = 1'000'000;
  for (auto _ : st) {
    const auto& ids = sample();
    auto got = s.get_many("bench", ids);
    benchmark::DoNotOptimize(got.data());
    sincehash::commit_batch b;
    b.upserts.reserve(ids.size());
    ++date;
    for (std::size_t i = 0; i < ids.size(); ++i)
      b.upserts.emplace_back(std::string(ids[i]), make_state(static_cast<std::uint64_t>(date) + i, date));
    b.offset = sincehash::offset_value::from_integer(date);
    s.commit("bench", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// offset, rescan_active and get_many: what a batch was classified against before snapshots.
template <class Store>
void read_three(benchmark::State& st, Store& s) {
  samples sample;
  for (auto _ : st) {
    auto offset = s.offset("bench");
    bool rescan = s.rescan_active("bench");
    auto got = s.get_many("bench", sample());
    benchmark::DoNotOptimize(offset);
    benchmark::DoNotOptimize(rescan);
    benchmark::DoNotOptimize(got.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// The same in one call.
template <class Store>
void read_snapshot(benchmark::State& st, Store& s) {
  samples sample;
  for (auto _ : st) {
    auto snap = s.snapshot("bench", sample());
    benchmark::DoNotOptimize(snap.states.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

// A poll as the detector makes it with snapshots: one snapshot, then a commit of the batch's
// changed states and the offset, conditional on every state read (and the read sequence).
template <class Store>
void snapshot_commit(benchmark::State& st, Store& s) {
  samples sample;
  std::int64_t date = 2'000'000;
  for (auto _ : st) {
    const auto& ids = sample();
    auto snap = s.snapshot("bench", ids);
    sincehash::commit_batch b;
    b.upserts.reserve(ids.size());
    b.expect.reserve(ids.size());
    ++date;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      b.upserts.emplace_back(std::string(ids[i]), make_state(static_cast<std::uint64_t>(date) + i, date));
      b.expect.emplace_back(std::string(ids[i]), snap.versions[i]);
    }
    b.read_sequence = snap.sequence;
    b.offset = sincehash::offset_value::from_integer(date);
    s.commit("bench", b);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * batch_size));
}

#ifdef SINCEHASH_HAS_SQLITE
sincehash::sqlite_store& sqlite() {
  static sincehash_test::temp_dir dir("bench-sqlite");
  static std::unique_ptr<sincehash::sqlite_store> s = [] {
    auto p = std::make_unique<sincehash::sqlite_store>((dir.path() / "state.db").string());
    load(*p);
    return p;
  }();
  return *s;
}
void sqlite_read(benchmark::State& st) { read_only(st, sqlite()); }
void sqlite_read_commit(benchmark::State& st) { read_commit(st, sqlite()); }
BENCHMARK(sqlite_read)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(sqlite_read_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
#endif

#ifdef SINCEHASH_HAS_REDIS
sincehash::redis_store& redis() {
  static sincehash_test::redis_server server;
  static std::unique_ptr<sincehash::redis_store> s = [] {
    auto p = std::make_unique<sincehash::redis_store>(server.uri());
    load(*p);
    return p;
  }();
  return *s;
}
void redis_read(benchmark::State& st) { read_only(st, redis()); }
void redis_read_commit(benchmark::State& st) { read_commit(st, redis()); }
BENCHMARK(redis_read)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(redis_read_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
void redis_read_three(benchmark::State& st) { read_three(st, redis()); }
void redis_snapshot(benchmark::State& st) { read_snapshot(st, redis()); }
void redis_snapshot_commit(benchmark::State& st) { snapshot_commit(st, redis()); }
BENCHMARK(redis_read_three)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(redis_snapshot)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(redis_snapshot_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
#endif

#ifdef SINCEHASH_HAS_POSTGRES
sincehash::postgres_store& postgres() {
  static sincehash_test::postgres_server server(true);
  static std::unique_ptr<sincehash::postgres_store> s = [] {
    auto p = std::make_unique<sincehash::postgres_store>(server.uri());
    load(*p);
    return p;
  }();
  return *s;
}
void postgres_read(benchmark::State& st) { read_only(st, postgres()); }
void postgres_read_commit(benchmark::State& st) { read_commit(st, postgres()); }
BENCHMARK(postgres_read)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(postgres_read_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
void postgres_read_three(benchmark::State& st) { read_three(st, postgres()); }
void postgres_snapshot(benchmark::State& st) { read_snapshot(st, postgres()); }
void postgres_snapshot_commit(benchmark::State& st) { snapshot_commit(st, postgres()); }
BENCHMARK(postgres_read_three)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(postgres_snapshot)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(postgres_snapshot_commit)->Unit(benchmark::kMicrosecond)->UseRealTime();
#endif

// Prints as usual and keeps each benchmark's records/s for the ratios.
class rate_reporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> rates;
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second.value;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  rate_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nrecords/s, and the ratio to SQLite measured in this run:\n");
  for (const char* what : {"read", "read_commit"}) {
    auto base = reporter.rates.find(std::string("sqlite_") + what + "/real_time");
    for (const char* store : {"sqlite", "redis", "postgres"}) {
      auto it = reporter.rates.find(std::string(store) + "_" + what + "/real_time");
      if (it == reporter.rates.end()) continue;
      std::printf("  %-22s %12.0f records/s", (std::string(store) + "_" + what).c_str(), it->second);
      if (base != reporter.rates.end() && base->second > 0)
        std::printf("   %.2fx SQLite", it->second / base->second);
      std::printf("\n");
    }
  }
  std::printf("\nwhat a batch is classified against, and a poll, old way and with snapshots:\n");
  for (const char* store : {"redis", "postgres"}) {
    for (const auto& pair :
         {std::make_pair("read_three", "snapshot"), std::make_pair("read_commit", "snapshot_commit")}) {
      auto old_way = reporter.rates.find(std::string(store) + "_" + pair.first + "/real_time");
      auto new_way = reporter.rates.find(std::string(store) + "_" + pair.second + "/real_time");
      if (old_way == reporter.rates.end() || new_way == reporter.rates.end() || old_way->second <= 0)
        continue;
      std::printf("  %-26s %12.0f records/s   %.2fx %s\n", (std::string(store) + "_" + pair.second).c_str(),
                  new_way->second, new_way->second / old_way->second, pair.first);
    }
  }
  benchmark::Shutdown();
  return 0;
}
