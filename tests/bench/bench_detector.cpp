// process + commit of CRM-like records with the memory store: first sync (every record new) and
// repeat sync (every record back, a bulk update that touched 1 in 50 watched fields), beside a
// baseline connector measured in the same run (nlohmann parse, dump of the watched subset,
// XXH3, an unordered_map of id → hash). Prints records/s and the ratio to the baseline; for
// reading alone with several threads, the ratio to one thread.
#include <benchmark/benchmark.h>

#include <sincehash/detector.hpp>
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif

#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "crm_records.hpp"

namespace {

using namespace sincehash;

constexpr std::size_t record_count = 20000;
constexpr std::size_t batch_size = 1000;

const std::vector<std::string>& records(std::size_t bytes, int version) {
  static std::map<std::pair<std::size_t, int>, std::vector<std::string>> cache;
  auto& v = cache[{bytes, version}];
  if (v.empty()) v = sincehash_bench::crm_records(record_count, bytes, version, 50);
  return v;
}

// The same records as one page of NDJSON, the way a connector holds a response body: each
// record a view into it, followed by the rest of the page (and 64 bytes of padding at its end).
struct page {
  std::string text;
  std::vector<input_record> records;
};

const page& page_of(std::size_t bytes, int version) {
  static std::map<std::pair<std::size_t, int>, page> cache;
  page& p = cache[{bytes, version}];
  if (!p.records.empty()) return p;
  std::vector<std::size_t> starts;
  for (const auto& r : records(bytes, version)) {
    starts.push_back(p.text.size());
    p.text += r;
    p.text += '\n';
  }
  p.text.append(64, ' ');
  const auto& recs = records(bytes, version);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const std::size_t end = starts[i] + recs[i].size();
    p.records.push_back(
        {std::string_view(p.text).substr(starts[i], recs[i].size()), i + 1, p.text.size() - end});
  }
  return p;
}

resource_settings settings() { return sincehash_bench::crm_settings(); }

template <class Hasher>
void sync(change_detector<memory_store, Hasher>& d, const page& pg) {
  const auto& recs = pg.records;
  std::vector<input_record> batch;
  for (std::size_t i = 0; i < recs.size(); i += batch_size) {
    batch.assign(recs.begin() + static_cast<std::ptrdiff_t>(i),
                 recs.begin() + static_cast<std::ptrdiff_t>(std::min(recs.size(), i + batch_size)));
    batch_result r = d.process(batch);
    benchmark::DoNotOptimize(r.events.data());
    d.commit(r.pending);
  }
}

template <class Hasher>
void first_sync(benchmark::State& state) {
  const auto& recs = records(static_cast<std::size_t>(state.range(0)), 0);
  std::size_t bytes = 0;
  for (const auto& r : recs) bytes += r.size();
  for (auto _ : state) {
    memory_store store;
    change_detector<memory_store, Hasher> d(store, "bench/contacts", settings());
    sync(d, page_of(static_cast<std::size_t>(state.range(0)), 0));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * recs.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

template <class Hasher>
void repeat_sync(benchmark::State& state) {
  const auto& v0 = records(static_cast<std::size_t>(state.range(0)), 0);
  memory_store store;
  change_detector<memory_store, Hasher> d(store, "bench/contacts", settings());
  sync(d, page_of(static_cast<std::size_t>(state.range(0)), 0));
  int version = 1;
  for (auto _ : state) {
    state.PauseTiming();
    const page& pg = page_of(static_cast<std::size_t>(state.range(0)), version);
    version = version == 1 ? 2 : 1;
    state.ResumeTiming();
    sync(d, pg);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * v0.size()));
}

// Reading alone (parse, hash, dates; no store) in batches of 5,000 with 1, 2... reader threads:
// how reading scales with threads. Wall time; the ratio is to one thread.
template <class Hasher>
void read_threads(benchmark::State& state) {
  const page& pg = page_of(static_cast<std::size_t>(state.range(0)), 0);
  memory_store store;
  change_detector<memory_store, Hasher> d(store, "bench/contacts", settings());
  d.set_reader_threads(static_cast<unsigned>(state.range(1)));
  constexpr std::size_t batch = 5000;
  std::vector<input_record> in;
  for (auto _ : state) {
    for (std::size_t i = 0; i < pg.records.size(); i += batch) {
      in.assign(pg.records.begin() + static_cast<std::ptrdiff_t>(i),
                pg.records.begin() + static_cast<std::ptrdiff_t>(std::min(pg.records.size(), i + batch)));
      auto read = d.read(in);
      benchmark::DoNotOptimize(read.size());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pg.records.size()));
}

// The baseline: what a hand-written connector typically does per record.
struct naive_connector {
  std::unordered_map<std::string, std::uint64_t> hashes;
  std::size_t dispatched = 0;
  void run(const std::vector<std::string>& recs) {
    for (const auto& text : recs) {
      nlohmann::json doc = nlohmann::json::parse(text);
      nlohmann::json subset;
      const auto& p = doc["properties"];
      for (const char* k : {"email", "firstname", "lastname"}) subset[k] = p[k];
      const std::string dumped = subset.dump();
      const std::uint64_t h = XXH3_64bits(dumped.data(), dumped.size());
      auto [it, inserted] = hashes.emplace(doc["id"].get<std::string>(), h);
      if (inserted || it->second != h) {
        it->second = h;
        ++dispatched;
      }
    }
  }
};

void baseline_first_sync(benchmark::State& state) {
  const auto& recs = records(static_cast<std::size_t>(state.range(0)), 0);
  for (auto _ : state) {
    naive_connector c;
    c.run(recs);
    benchmark::DoNotOptimize(c.dispatched);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * recs.size()));
}

void baseline_repeat_sync(benchmark::State& state) {
  naive_connector c;
  c.run(records(static_cast<std::size_t>(state.range(0)), 0));
  int version = 1;
  for (auto _ : state) {
    state.PauseTiming();
    const auto& recs = records(static_cast<std::size_t>(state.range(0)), version);
    version = version == 1 ? 2 : 1;
    state.ResumeTiming();
    c.run(recs);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * record_count));
}

using nlohmann_hasher = field_hasher<xxh3_64, nlohmann_access>;
BENCHMARK(baseline_first_sync)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
BENCHMARK(baseline_repeat_sync)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(first_sync, nlohmann_hasher)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(repeat_sync, nlohmann_hasher)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
#ifdef SINCEHASH_HAS_SIMDJSON
using simdjson_hasher = field_hasher<xxh3_64, simdjson_access>;
BENCHMARK_TEMPLATE(first_sync, simdjson_hasher)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(repeat_sync, simdjson_hasher)->Arg(1200)->Arg(4000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(read_threads, simdjson_hasher)
    ->ArgsProduct({{1200}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#endif

// Collects records/s per benchmark and prints each against its baseline at the end.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates_[r.benchmark_name()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-46s %14s %10s\n", "benchmark", "records/s", "x baseline");
    for (const auto& [name, rate] : rates_) {
      const bool first = name.find("first_sync") != std::string::npos;
      std::string size = name.substr(name.rfind('/'));
      std::string base_name = std::string(first ? "baseline_first_sync" : "baseline_repeat_sync") + size;
      if (name.find("read_threads") != std::string::npos) {
        // Against one thread: the name with its thread count (after the size) set to 1.
        const std::size_t threads_at = name.find('/', name.find('/') + 1);
        const std::size_t threads_end = name.find('/', threads_at + 1);
        base_name = name.substr(0, threads_at) + "/1" +
                    (threads_end == std::string::npos ? std::string() : name.substr(threads_end));
      }
      auto base = rates_.find(base_name);
      const double ratio = base != rates_.end() && base->second > 0 ? rate / base->second : 0;
      std::printf("%-46s %14.0f %10.2f\n", name.c_str(), rate, ratio);
    }
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
}
