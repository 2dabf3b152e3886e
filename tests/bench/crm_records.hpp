// Generates CRM-like contact records (HubSpot-style: an id and a "properties" object) of a
// target size, for the benchmarks. Deterministic for a given seed.
#ifndef SINCEHASH_BENCH_CRM_RECORDS_HPP
#define SINCEHASH_BENCH_CRM_RECORDS_HPP

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sincehash_bench {

inline std::string iso_ms(std::int64_t ms) {
  const std::int64_t secs = ms / 1000;
  std::int64_t days = secs / 86400;
  const std::int64_t rem = secs % 86400;
  // civil from days (1970-01-01 = day 0)
  days += 719468;
  const std::int64_t era = days / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60), static_cast<long long>(ms % 1000));
  return buf;
}

/// `count` records of about `target_bytes` each. `version` changes the watched e-mail of every
/// `change_every`-th record and the modification date of all (a bulk update touching few
/// watched fields).
inline std::vector<std::string> crm_records(std::size_t count, std::size_t target_bytes, int version = 0,
                                            std::size_t change_every = 0, std::uint32_t seed = 42) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  out.reserve(count);
  static const char* words[] = {"alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
                                "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa"};
  const std::int64_t base_ms = 1709280000000;  // 2024-03-01T08:00:00Z
  for (std::size_t i = 0; i < count; ++i) {
    const bool changed = change_every != 0 && i % change_every == 0;
    std::string r = "{\"id\":\"" + std::to_string(1000000 + i) + "\",\"properties\":{";
    r += "\"email\":\"user" + std::to_string(i) +
         (changed && version > 0 ? "v" + std::to_string(version) : "") + "@example.com\",";
    r +=
        "\"firstname\":\"" + std::string(words[i % 16]) + "\",\"lastname\":\"" + words[(i / 16) % 16] + "\",";
    r += "\"createdate\":\"" + iso_ms(base_ms - 86400000LL * 30 + static_cast<std::int64_t>(i)) + "\",";
    r += "\"lastmodifieddate\":\"" +
         iso_ms(base_ms + 1000LL * version + static_cast<std::int64_t>(i % 1000)) + "\",";
    r += "\"lifecyclestage\":\"lead\",\"hs_object_id\":" + std::to_string(1000000 + i) + ",";
    int k = 0;
    while (r.size() + 40 < target_bytes) {
      r += "\"custom_property_" + std::to_string(k) + "\":";
      switch (k % 4) {
        case 0:
          r += "\"" + std::string(words[rng() % 16]) + " " + words[rng() % 16] + "\",";
          break;
        case 1:
          r += std::to_string(rng() % 100000) + ",";
          break;
        case 2:
          r += (rng() % 2 ? "true," : "null,");
          break;
        default:
          r += std::to_string(rng() % 1000) + "." + std::to_string(rng() % 100) + ",";
          break;
      }
      ++k;
    }
    r += "\"archived\":false}}";
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sincehash_bench

#endif  // SINCEHASH_BENCH_CRM_RECORDS_HPP
