#ifndef SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP
#define SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP

#include "sincehash/detail/xxhash.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace sincehash::detail {

// Which earlier record of a batch had the same id: an open-addressing table of record indices,
// sized once per batch (no allocation per record).
class batch_id_index {
 public:
  explicit batch_id_index(std::size_t count) {
    std::size_t size = 16;
    while (size < 2 * count) size *= 2;
    slots_.assign(size, -1);
    mask_ = size - 1;
  }

  // Makes `k` the latest record with `id` (`ids[k] == id`); returns the one before, or -1.
  template <class Ids>
  std::ptrdiff_t exchange(std::string_view id, std::ptrdiff_t k, const Ids& ids) {
    for (std::size_t at = XXH3_64bits(id.data(), id.size()) & mask_;; at = (at + 1) & mask_) {
      std::ptrdiff_t& slot = slots_[at];
      if (slot < 0) {
        slot = k;
        return -1;
      }
      if (ids(slot) == id) {
        const std::ptrdiff_t before = slot;
        slot = k;
        return before;
      }
    }
  }

  // The latest record with `id`, or -1.
  template <class Ids>
  [[nodiscard]] std::ptrdiff_t find(std::string_view id, const Ids& ids) const {
    for (std::size_t at = XXH3_64bits(id.data(), id.size()) & mask_;; at = (at + 1) & mask_) {
      const std::ptrdiff_t slot = slots_[at];
      if (slot < 0) return -1;
      if (ids(slot) == id) return slot;
    }
  }

 private:
  std::vector<std::ptrdiff_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_BATCH_ID_INDEX_HPP
