// Field hasher benchmarks: parse + locate + hash CRM-like records (~1.2 KB and ~4 KB) with 3 and
// 10 watched fields, through each access policy, beside a naive baseline measured in the same run
// (nlohmann parse, dump the watched subset, XXH3). Ratios against the baseline are printed last.
#include <sincehash/hasher.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

// A Salesforce/HubSpot-style contact: flat fields, an attributes object, a nested address, an
// array of tags, dates, numbers and a few escaped strings. `extra_fields` pads the record.
std::string make_record(std::mt19937& rng, int extra_fields) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  static const char* first[] = {"Ann", "Bob",   "Chlo\\u00e9", "Dmitri",
                                "Eve", "Farid", "Grace",       "H\\u00e9l\\u00e8ne"};
  static const char* last[] = {"Smith",  "O'Neil",   "M\\u00fcller", "Nguyen",
                               "Garcia", "Kowalski", "Ito",          "Dubois"};
  std::string r;
  r.reserve(4600);
  int id = pick(100000000);
  r += R"({"attributes":{"type":"Contact","url":"/services/data/v58.0/sobjects/Contact/003)" +
       std::to_string(id) + R"("},"Id":"003)" + std::to_string(id) +
       R"(AAB","IsDeleted":false,"MasterRecordId":null,)";
  r += R"("AccountId":"001)" + std::to_string(pick(1000000)) + R"(AAA","LastName":")" + last[pick(8)] +
       R"(","FirstName":")" + first[pick(8)] + R"(","Salutation":"Ms.","Name":"Contact )" +
       std::to_string(id) + "\",";
  r +=
      R"("MailingAddress":{"street":"12 Rue de la Paix\nApt 3","city":"Paris","state":null,"postalCode":"75002",)"
      R"("country":"France","latitude":48.8686,"longitude":2.3314},)";
  r += R"("Phone":"+33 1 23 45 )" + std::to_string(10 + pick(89)) +
       R"(","Fax":null,"MobilePhone":"+33 6 12 34 56 78",)";
  r += R"("Email":"user)" + std::to_string(pick(100000)) + R"(@example.com","Title":"Head of Procurement",)";
  r +=
      R"("Department":"Purchasing","LeadSource":"Web","Birthdate":"1985-04-12","Description":"Met at the \"Expo\" 2023; )"
      R"(prefers email.","OwnerId":"005)" +
      std::to_string(pick(1000)) + R"(AAA","HasOptedOutOfEmail":false,)";
  r +=
      R"("CreatedDate":"2023-01-15T09:30:00.000+0000","LastModifiedDate":"2024-05-)" +
      std::to_string(10 + pick(18)) +
      R"(T12:00:00.000+0000","SystemModstamp":"2024-05-20T12:00:00.000+0000","LastActivityDate":"2024-04-30",)";
  r += R"("EmailBouncedReason":null,"Score__c":)" + std::to_string(pick(1000)) + "." +
       std::to_string(pick(100)) +
       R"(,"Revenue__c":1250000.50,"Tags__c":["vip","emea","q2"],"Jigsaw":null,"CleanStatus":"Pending")";
  for (int i = 0; i < extra_fields; ++i) {
    r += ",\"Custom_Field_" + std::to_string(i) + "__c\":";
    switch (i % 4) {
      case 0:
        r += "\"value " + std::to_string(pick(100000)) + "\"";
        break;
      case 1:
        r += std::to_string(pick(1000000));
        break;
      case 2:
        r += pick(2) ? "true" : "null";
        break;
      default:
        r += "\"2024-01-" + std::to_string(10 + pick(18)) + "T00:00:00Z\"";
        break;
    }
  }
  r += "}";
  return r;
}

struct corpus {
  std::vector<std::string> records;
  double average_size = 0;
};

const corpus& records_of(int size_kb) {
  static std::map<int, corpus> cache;
  auto it = cache.find(size_kb);
  if (it != cache.end()) return it->second;
  std::mt19937 rng(static_cast<unsigned>(size_kb));
  corpus c;
  const int extra = size_kb == 1 ? 4 : 95;  // ~1.2 KB and ~4 KB
  std::size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    c.records.push_back(make_record(rng, extra));
    total += c.records.back().size();
  }
  c.average_size = static_cast<double>(total) / 1000.0;
  return cache.emplace(size_kb, std::move(c)).first->second;
}

std::vector<std::string> watched_fields(int n) {
  std::vector<std::string> all{
      "FirstName",           "LastName",   "Email",      "Phone",  "Title", "AccountId",
      "MailingAddress.city", "LeadSource", "Department", "OwnerId"};
  all.resize(static_cast<std::size_t>(n));
  return all;
}

sincehash::hasher_settings settings_for(int fields) {
  sincehash::hasher_settings s;
  s.watched = watched_fields(fields);
  s.extract = {*sincehash::field_path::parse("Id"), *sincehash::field_path::parse("LastModifiedDate"),
               *sincehash::field_path::parse("CreatedDate")};
  return s;
}

void set_counters(benchmark::State& state, const corpus& c) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(static_cast<double>(state.iterations()) * c.average_size));
  state.counters["record_bytes"] = c.average_size;
}

// Baseline: what connectors commonly do.
void naive(benchmark::State& state) {
  const corpus& c = records_of(static_cast<int>(state.range(0)));
  std::vector<nlohmann::json::json_pointer> pointers;
  for (const auto& f : watched_fields(static_cast<int>(state.range(1)))) {
    pointers.emplace_back(sincehash::field_path::parse(f).value().canonical());
  }
  std::size_t i = 0;
  for (auto _ : state) {
    nlohmann::json doc = nlohmann::json::parse(c.records[i++ % c.records.size()]);
    nlohmann::json subset = nlohmann::json::object();
    for (const auto& p : pointers) subset[p.to_string()] = doc.contains(p) ? doc[p] : nullptr;
    std::string text = subset.dump();
    benchmark::DoNotOptimize(XXH3_64bits(text.data(), text.size()));
  }
  set_counters(state, c);
}

template <class Access>
void field_hasher_read(benchmark::State& state) {
  const corpus& c = records_of(static_cast<int>(state.range(0)));
  sincehash::field_hasher<sincehash::xxh3_64, Access> h(settings_for(static_cast<int>(state.range(1))));
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = h.read(c.records[i++ % c.records.size()]);
    if (!r) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(r->hash);
  }
  set_counters(state, c);
}

// Whole-record mode: every value of the record is encoded, keys sorted.
template <class Access>
void whole_record_read(benchmark::State& state) {
  const corpus& c = records_of(static_cast<int>(state.range(0)));
  sincehash::hasher_settings s;
  s.ignored = {"SystemModstamp", "LastModifiedDate"};
  sincehash::field_hasher<sincehash::xxh3_64, Access> h(s);
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = h.read(c.records[i++ % c.records.size()]);
    if (!r) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(r->hash);
  }
  set_counters(state, c);
}

// Hashing only: three values the caller already located.
void hash_three_located(benchmark::State& state) {
  sincehash::field_hasher<> h(settings_for(3));
  const sincehash::value_view values[] = {
      {sincehash::value_kind::string, "user4711@example.com"},
      {sincehash::value_kind::string, "Chlo\xc3\xa9"},
      {sincehash::value_kind::string, "M\xc3\xbcller"},
  };
  for (auto _ : state) {
    auto d = h.hash_values(values, 3);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void args(benchmark::internal::Benchmark* b) {
  for (int kb : {1, 4}) {
    for (int fields : {3, 10}) b->Args({kb, fields});
  }
  b->ArgNames({"kb", "fields"});
}

BENCHMARK(hash_three_located);
BENCHMARK(naive)->Apply(args);
BENCHMARK_TEMPLATE(field_hasher_read, sincehash::nlohmann_access)->Apply(args);
#ifdef SINCEHASH_HAS_SIMDJSON
BENCHMARK_TEMPLATE(field_hasher_read, sincehash::simdjson_access)->Apply(args);
BENCHMARK_TEMPLATE(whole_record_read, sincehash::simdjson_access)->Arg(1)->Arg(4);
#endif
BENCHMARK_TEMPLATE(whole_record_read, sincehash::nlohmann_access)->Arg(1)->Arg(4);

// Keeps each run's time per iteration so that ratios against the baseline can be printed.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred)
        times_[r.benchmark_name()] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    std::printf("\nSpeed-up against the naive baseline (same args, same run):\n");
    for (const auto& t : times_) {
      const std::string& name = t.first;
      auto slash = name.find('/');
      if (slash == std::string::npos || name.rfind("naive", 0) == 0) continue;
      std::string args = name.substr(slash);
      auto base = times_.find("naive" + args);
      if (base == times_.end()) continue;
      std::printf("  %-70s %6.1fx  (%.0f records/s)\n", name.c_str(), base->second / t.second,
                  1e9 / t.second);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
