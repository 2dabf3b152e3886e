// Framing NDJSON into batches: a regular file read from its descriptor (mapped, records handed
// out in place) against the same file read through a C stream (copied into the reader's buffer),
// the baseline. 50,000 records of about 1.2 KB, batches of 10,000 records or 8 MiB, as the tool
// frames them. Each record is touched (its first and last byte), as a reader of it would.
#include <sincehash/input.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "crm_records.hpp"

namespace {

const std::string& input_file() {
  static const std::string path = [] {
    std::string name = "/tmp/sincehash-bench-input-XXXXXX";
    const int fd = ::mkstemp(&name[0]);
    if (fd < 0) std::abort();
    std::string text;
    for (const auto& r : sincehash_bench::crm_records(50000, 1200)) text += r + "\n";
    for (std::size_t at = 0; at < text.size();) {
      const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
      if (n <= 0) std::abort();
      at += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return name;
  }();
  return path;
}

template <class Reader>
std::size_t frame_all(Reader& reader, bool keep) {
  reader.keep_previous_batch(keep);
  std::vector<sincehash::input_record> batch;
  std::size_t sum = 0;
  while (reader.next_batch(batch))
    for (const auto& r : batch) sum += static_cast<unsigned char>(r.bytes.front()) + r.bytes.back();
  return sum;
}

void stream_baseline(benchmark::State& state) {
  for (auto _ : state) {
    std::FILE* f = std::fopen(input_file().c_str(), "rb");
    sincehash::record_reader reader(f, 10000, std::size_t{64} << 20, std::size_t{8} << 20);
    benchmark::DoNotOptimize(frame_all(reader, state.range(0) != 0));
    std::fclose(f);
  }
  state.SetItemsProcessed(state.iterations() * 50000);
}

void mapped_file(benchmark::State& state) {
  for (auto _ : state) {
    const int fd = ::open(input_file().c_str(), O_RDONLY);
    sincehash::record_reader reader(fd, 10000, std::size_t{64} << 20, std::size_t{8} << 20);
    benchmark::DoNotOptimize(frame_all(reader, state.range(0) != 0));
    ::close(fd);
  }
  state.SetItemsProcessed(state.iterations() * 50000);
}

// Prints, after the usual table, each rate against the stream's with the same argument.
class against_stream : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const auto rate = r.counters.find("items_per_second");
      if (rate != r.counters.end()) rates_.emplace_back(r.benchmark_name(), rate->second.value);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-24s %14s %10s\n", "framing", "records/s", "x stream");
    for (const auto& [name, rate] : rates_) {
      double base = 0;
      const std::string arg = name.substr(name.find('/'));
      for (const auto& [other, other_rate] : rates_)
        if (other == "stream_baseline" + arg) base = other_rate;
      std::printf("%-24s %14.0f %10.2f\n", name.c_str(), rate, base > 0 ? rate / base : 0.0);
    }
  }

 private:
  std::vector<std::pair<std::string, double>> rates_;
};

}  // namespace

// Argument: 1 keeps the previous batch valid (the tool with more than one thread), 0 does not.
BENCHMARK(stream_baseline)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(mapped_file)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  (void)input_file();  // written before anything is timed
  against_stream reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::remove(input_file().c_str());
}
