// Time parsing and formatting beside the usual alternatives, on the same 10,000 varied
// timestamps. Every number is printed again at the end as a ratio to our own ISO parse.
#include <sincehash/time.hpp>
#include <sincehash/time_pattern.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <locale>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifdef SINCEHASH_BENCH_HAVE_DATE
#include <date/date.h>
#endif

namespace {

constexpr std::size_t kCount = 10000;

struct data_set {
  std::vector<std::string> plain;     // YYYY-MM-DDTHH:MM:SS+HH:MM, every parser reads these
  std::vector<std::int64_t> plain_s;  // the expected epoch seconds
  std::vector<std::string> mixed;     // RFC 3339 with 0/3/6/9 fraction digits, Z or offsets
  std::vector<std::string> java;      // yyyy-MM-dd'T'HH:mm:ss.SSSZ: +0000-style or Z
  std::vector<sincehash::instant> instants;
};

const data_set& data() {
  static const data_set d = [] {
    data_set s;
    std::mt19937_64 rng(1234);
    const auto java_pattern = sincehash::time_pattern::java("yyyy-MM-dd'T'HH:mm:ss.SSSZ").value();
    char buf[64];
    for (std::size_t i = 0; i < kCount; ++i) {
      // 1970 .. 2100, offsets of whole quarter hours within +-14:00.
      const auto secs = static_cast<std::int64_t>(rng() % 4102444800ULL);
      const auto nanos = static_cast<std::int64_t>(rng() % 1000000000ULL);
      const std::int64_t offset = (static_cast<std::int64_t>(rng() % 113) - 56) * 900;
      const sincehash::instant t{std::chrono::nanoseconds{secs * 1000000000 + nanos}};
      s.instants.push_back(t);
      // Always a numeric offset (+00:01 stands in for zero): every baseline reads those.
      s.plain.push_back(sincehash::format_rfc3339(t, 0, std::chrono::seconds{offset == 0 ? 60 : offset}));
      s.plain_s.push_back(secs);
      const int digits = static_cast<int>(i % 4) * 3;
      const std::size_t n =
          sincehash::format_rfc3339_to(buf, t, digits, std::chrono::seconds{i % 2 ? 0 : offset});
      s.mixed.emplace_back(buf, n);
      std::string j = java_pattern.format(t);
      if (i % 2 == 0 && j.compare(j.size() - 5, 5, "+0000") == 0) j.replace(j.size() - 5, 5, "Z");
      s.java.push_back(j);
    }
    return s;
  }();
  return d;
}

// The offset at the end of a plain row ("+HH:MM"), as a baseline without %z must read it.
long trailing_offset(const std::string& s) {
  const char* p = s.c_str() + s.size() - 6;
  const long v = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
  return p[0] == '-' ? -v : v;
}

std::int64_t via_strptime(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S%z", &tm) == nullptr) return -1;
  return static_cast<std::int64_t>(timegm(&tm)) - tm.tm_gmtoff;
}

std::int64_t via_get_time(const std::string& s) {
  std::tm tm{};
  std::istringstream in(s);
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return -1;
  return static_cast<std::int64_t>(timegm(&tm)) - trailing_offset(s);
}

#ifdef SINCEHASH_BENCH_HAVE_DATE
std::int64_t via_date(const std::string& s) {
  std::istringstream in(s);
  date::sys_seconds tp;
  in >> date::parse("%FT%T%Ez", tp);
  if (in.fail()) return -1;
  return tp.time_since_epoch().count();
}
#endif

void BM_iso_parse_sincehash(benchmark::State& state) {
  const auto& d = data().plain;
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = sincehash::parse_iso8601(d[i]);
    benchmark::DoNotOptimize(r);
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_iso_parse_mixed_sincehash(benchmark::State& state) {
  const auto& d = data().mixed;
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = sincehash::parse_iso8601(d[i]);
    benchmark::DoNotOptimize(r);
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_iso_parse_strptime_timegm(benchmark::State& state) {
  const auto& d = data().plain;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(via_strptime(d[i]));
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_iso_parse_std_get_time(benchmark::State& state) {
  const auto& d = data().plain;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(via_get_time(d[i]));
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

#ifdef SINCEHASH_BENCH_HAVE_DATE
void BM_iso_parse_date_parse(benchmark::State& state) {
  const auto& d = data().plain;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(via_date(d[i]));
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
#endif

void BM_java_pattern_parse(benchmark::State& state) {
  const auto p = sincehash::time_pattern::java("yyyy-MM-dd'T'HH:mm:ss.SSSZ").value();
  const auto& d = data().java;
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = p.parse(d[i]);
    benchmark::DoNotOptimize(r);
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_format_rfc3339_to(benchmark::State& state) {
  const auto& d = data().instants;
  char buf[48];
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sincehash::format_rfc3339_to(buf, d[i], 3, std::chrono::seconds{0}));
    benchmark::DoNotOptimize(buf);
    benchmark::ClobberMemory();
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_java_pattern_format_to(benchmark::State& state) {
  const auto p = sincehash::time_pattern::java("yyyy-MM-dd'T'HH:mm:ss.SSSZ").value();
  const auto& d = data().instants;
  char buf[64];
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.format_to(buf, sizeof buf, d[i]));
    benchmark::DoNotOptimize(buf);
    benchmark::ClobberMemory();
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_strftime_format_strftime_libc(benchmark::State& state) {
  const auto& d = data().instants;
  char buf[64];
  std::size_t i = 0;
  for (auto _ : state) {
    const std::time_t tt =
        static_cast<std::time_t>(sincehash::to_epoch(d[i], sincehash::epoch_unit::seconds));
    std::tm tm{};
    gmtime_r(&tt, &tm);
    benchmark::DoNotOptimize(std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm));
    benchmark::DoNotOptimize(buf);
    benchmark::ClobberMemory();
    if (++i == kCount) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_iso_parse_sincehash);
BENCHMARK(BM_iso_parse_mixed_sincehash);
BENCHMARK(BM_iso_parse_strptime_timegm);
BENCHMARK(BM_iso_parse_std_get_time);
#ifdef SINCEHASH_BENCH_HAVE_DATE
BENCHMARK(BM_iso_parse_date_parse);
#endif
BENCHMARK(BM_java_pattern_parse);
BENCHMARK(BM_format_rfc3339_to);
BENCHMARK(BM_java_pattern_format_to);
BENCHMARK(BM_strftime_format_strftime_libc);

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    // With --benchmark_repetitions the median is kept, otherwise the single run.
    for (const Run& r : runs) {
      const std::string& name = r.run_name.function_name;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        times_[name] = r.GetAdjustedCPUTime();
        medians_[name] = true;
      } else if (r.run_type == Run::RT_Iteration && r.iterations > 0 && !medians_[name]) {
        times_[name] = r.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& times() const { return times_; }

 private:
  std::map<std::string, double> times_;
  std::map<std::string, bool> medians_;
};

// Every baseline must read the same instants we do, or the comparison means nothing.
bool check_agreement() {
  const data_set& d = data();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    const std::int64_t expected = d.plain_s[i];
    if (via_strptime(d.plain[i]) != expected) ++bad;
    if (via_get_time(d.plain[i]) != expected) ++bad;
#ifdef SINCEHASH_BENCH_HAVE_DATE
    if (via_date(d.plain[i]) != expected) ++bad;
#endif
  }
  if (bad != 0) std::printf("WARNING: %zu baseline results disagree with ours\n", bad);
  return bad == 0;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const bool agree = check_agreement();
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const auto& t = reporter.times();
  const auto ours = t.find("BM_iso_parse_sincehash");
  if (ours == t.end()) return agree ? 0 : 1;
  std::printf("\n%-36s %10s %12s\n", "benchmark (CPU time)", "ns/op", "x ours (ISO)");
  for (const auto& [name, ns] : t) std::printf("%-36s %10.2f %12.2f\n", name.c_str(), ns, ns / ours->second);
  return agree ? 0 : 1;
}
