// libFuzzer target for the whole pipeline: bytes framed as NDJSON (or an array, or a result page)
// by record_reader, classified by a change_detector over a memory store — through the
// encrypting decorator and keyed BLAKE2b when libsodium is available and the first byte says so —
// committed, and processed again. Invariants: nothing crashes or hangs; every record is counted
// exactly once; a second pass over what was just committed dispatches no record as created;
// the committed offset never moves backwards.
// Run: ./fuzz_detector -max_total_time=60 ../../tests/fuzz/corpus/detector
#include <sincehash/detector.hpp>
#include <sincehash/input.hpp>
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

sincehash::resource_settings settings(std::uint8_t selector) {
  using namespace sincehash;
  resource_settings s;
  s.name = "r";
  s.id_field = field_path::parse(selector & 1 ? "id" : "/meta/id").value();
  if (selector & 2) {
    s.updated =
        date_field{field_path::parse("updated").value(), date_format::compile("", time_zone::utc()).value()};
  }
  if (selector & 4) {
    s.created =
        date_field{field_path::parse("created").value(), date_format::compile("", time_zone::utc()).value()};
  }
  if (selector & 8) s.watched = {"a", "b.c"};
  if (selector & 16) s.ttl = std::chrono::hours(1);
  s.chronological = (selector & 32) != 0;
  return s;
}

#ifdef SINCEHASH_HAS_SODIUM
const sincehash::key_ring& keys() {
  static const sincehash::key_ring ring(sincehash::secret_key(1, std::string(32, '\x42')));
  return ring;
}
#endif

template <class Store, class Algorithm>
void run(Store& store, Algorithm algorithm, const std::vector<sincehash::input_record>& records,
         std::uint8_t selector) {
  using namespace sincehash;
  change_detector<Store, field_hasher<Algorithm>, fixed_clock> d(
      store, "fuzz/r", settings(selector), fixed_clock{parse_iso8601("2024-06-01T00:00:00Z").value()},
      std::move(algorithm));
  batch_result first = d.process(records);
  const run_stats& s = first.stats;
  require(s.processed == records.size());
  require(s.created + s.updated + s.unchanged + s.stale + s.invalid == s.processed);
  require(first.events.size() == s.created + s.updated);
  d.commit(first.pending);
  const auto offset_after_first = d.offset();
  batch_result second = d.process(records);
  require(second.stats.processed == records.size());
  require(second.stats.created == 0 || (selector & 4) != 0);
  d.commit(second.pending);
  const auto offset_after_second = d.offset();
  if (offset_after_first) {
    require(offset_after_second.has_value());
    require(compare_offsets(*offset_after_second, *offset_after_first) >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 65536) return 0;
  const std::uint8_t selector = data[0];
  std::FILE* in = fmemopen(const_cast<std::uint8_t*>(data + 1), size - 1 == 0 ? 1 : size - 1, "rb");
  if (size == 1) {
    if (in != nullptr) std::fclose(in);
    return 0;
  }
  if (in == nullptr) return 0;
  sincehash::record_reader reader(in, 64, 1 << 16);
  std::vector<sincehash::input_record> batch;
  std::vector<std::string> owned;
  try {
    while (reader.next_batch(batch)) {
      for (const auto& f : batch) owned.emplace_back(f.bytes);
      if (owned.size() > 256) break;
    }
  } catch (const sincehash::error&) {
    // A cut-off array or an oversized record: reported as an error with a position.
  }
  std::fclose(in);
  std::vector<sincehash::input_record> records;
  for (std::size_t i = 0; i < owned.size(); ++i) records.push_back({owned[i], i + 1});
  sincehash::memory_store store;
#ifdef SINCEHASH_HAS_SODIUM
  if (selector & 64) {
    sincehash::encrypted_store_options o;
    o.blind_index = (selector & 128) != 0;
    sincehash::encrypted_store<sincehash::memory_store> sealed(store, keys(), o);
    run(sealed, sincehash::blake2b_keyed(keys(), "fuzz/r"), records, selector);
    return 0;
  }
#endif
  run(store, sincehash::xxh3_64{}, records, selector);
  return 0;
}
