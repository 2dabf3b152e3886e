#ifndef SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP
#define SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP

#include "sincehash/detail/xxhash.hpp"
#include "sincehash/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sincehash::detail {

// Which earlier record of a batch had the same id: an open-addressing table of record indices,
// sized once per batch (no allocation per record). Each slot keeps 32 bits of the id's hash
// beside the index, so that a slot holding another id is passed over without reading that id.
class batch_id_index {
 public:
  explicit batch_id_index(std::size_t count) {
    if (count >= 0xFFFFFFFFu) {
      throw error(errc::invalid_argument, "a batch holds more than 2^32-2 records; split it");
    }
    std::size_t size = 16;
    while (size < 2 * count) size *= 2;
    slots_.assign(size, empty);
    mask_ = size - 1;
  }

  // Makes `k` the latest record with `id` (`ids[k] == id`); returns the one before, or -1.
  template <class Ids>
  std::ptrdiff_t exchange(std::string_view id, std::ptrdiff_t k, const Ids& ids) {
    const std::uint64_t h = XXH3_64bits(id.data(), id.size());
    const std::uint64_t tag = h >> 32;
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      std::uint64_t& slot = slots_[at];
      if (slot == empty) {
        slot = pack(tag, k);
        return -1;
      }
      if ((slot >> 32) == tag && ids(index_of(slot)) == id) {
        const std::ptrdiff_t before = index_of(slot);
        slot = pack(tag, k);
        return before;
      }
    }
  }

  // The latest record with `id`, or -1.
  template <class Ids>
  [[nodiscard]] std::ptrdiff_t find(std::string_view id, const Ids& ids) const {
    const std::uint64_t h = XXH3_64bits(id.data(), id.size());
    const std::uint64_t tag = h >> 32;
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      const std::uint64_t slot = slots_[at];
      if (slot == empty) return -1;
      if ((slot >> 32) == tag && ids(index_of(slot)) == id) return index_of(slot);
    }
  }

 private:
  // Indices below 2^32 - 1 (a batch is indexed with 32 bits); all ones marks an empty slot.
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  static std::uint64_t pack(std::uint64_t tag, std::ptrdiff_t k) noexcept {
    return (tag << 32) | static_cast<std::uint32_t>(k);
  }
  static std::ptrdiff_t index_of(std::uint64_t slot) noexcept {
    return static_cast<std::ptrdiff_t>(slot & 0xFFFFFFFFu);
  }

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP
