// Generates CRM-like contact records (HubSpot-style: an id and a "properties" object) of a
// target size, for the benchmarks. Deterministic for a given seed.
#ifndef SINCEHASH_BENCH_CRM_RECORDS_HPP
#define SINCEHASH_BENCH_CRM_RECORDS_HPP

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <sincehash/settings.hpp>
#include <sincehash/time.hpp>

namespace sincehash_bench {

inline std::string iso_ms(std::int64_t ms) {
  return sincehash::format_rfc3339(sincehash::instant(std::chrono::milliseconds(ms)), 3);
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

/// The settings the benchmarks classify these records with: the id, the two dates, three watched
/// fields.
inline sincehash::resource_settings crm_settings() {
  using sincehash::field_path;
  sincehash::resource_settings s;
  s.id_field = field_path::parse("id").value();
  s.updated = sincehash::date_field{field_path::parse("properties.lastmodifieddate").value(),
                                    sincehash::date_format{}};
  s.created =
      sincehash::date_field{field_path::parse("properties.createdate").value(), sincehash::date_format{}};
  s.watched = {"properties.email", "properties.firstname", "properties.lastname"};
  return s;
}

}  // namespace sincehash_bench

#endif  // SINCEHASH_BENCH_CRM_RECORDS_HPP
