#ifndef SINCEHASH_DETAIL_STORE_MEMORY_TABLE_HPP
#define SINCEHASH_DETAIL_STORE_MEMORY_TABLE_HPP

// The compact hash table behind memory_store: 56-byte entries in fixed blocks, ids packed into
// 64 KiB chunks (length-prefixed, each followed by its state's per-field digests), and an open-addressing
// index of 32-bit slots (entry number + 1 in the low 26 bits, 6 bits of the id's hash above them so most
// mismatches cost no entry read) with linear probing and backward-shift deletion (no tombstones).

#include <sincehash/detail/state_codec.hpp>
#include <sincehash/detail/xxhash.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace sincehash::detail {

struct memory_entry {
  std::uint64_t low;
  std::uint64_t high;
  std::int64_t updated;
  std::int64_t last_seen;
  std::int64_t expires;
  std::uint64_t version;  // the partition's write sequence when this state was written (>= 1)
  std::uint32_t id_ref;   // chunk << 16 | position; reused as the free-list link when free
  std::uint16_t fingerprint;
  std::uint8_t flags;
  std::uint8_t bits;
};
static_assert(sizeof(memory_entry) == 56, "sincehash::detail::memory_entry must stay 56 bytes");

inline constexpr std::uint8_t memory_has_updated = 1;
inline constexpr std::uint8_t memory_has_expires = 2;
inline constexpr std::uint8_t memory_seen = 4;
// The upper five bits of the flags hold the length of the per-field digests kept after the id
// (0 to 30 bytes); 31 says a LEB128 length comes first.
inline constexpr unsigned memory_fields_shift = 3;
inline constexpr std::uint8_t memory_fields_long = 31;
inline constexpr std::uint32_t memory_none = 0xFFFFFFFFu;
inline constexpr std::uint32_t memory_slot_bits = 26;
inline constexpr std::uint32_t memory_slot_mask = (1u << memory_slot_bits) - 1;
inline constexpr std::size_t memory_max_entries = memory_slot_mask - 1;

[[nodiscard]] inline std::uint64_t memory_hash(std::string_view id) noexcept {
  return XXH3_64bits(id.data(), id.size());
}

[[nodiscard]] inline bool memory_fits(const record_state& s) noexcept { return s.fingerprint <= 0xFFFFu; }

[[nodiscard]] inline memory_entry memory_encode(const record_state& s, std::uint32_t id_ref,
                                                std::uint64_t version) noexcept {
  memory_entry e{};
  e.version = version;
  e.low = s.hash.low;
  e.high = s.hash.high;
  e.bits = s.hash.bits;
  e.fingerprint = static_cast<std::uint16_t>(s.fingerprint);
  e.last_seen = ns_of(s.last_seen);
  if (s.updated) {
    e.flags |= memory_has_updated;
    e.updated = ns_of(*s.updated);
  }
  if (s.expires) {
    e.flags |= memory_has_expires;
    e.expires = ns_of(*s.expires);
  }
  e.flags |= static_cast<std::uint8_t>(std::min<std::size_t>(s.fields.size(), memory_fields_long)
                                       << memory_fields_shift);
  e.id_ref = id_ref;
  return e;
}

[[nodiscard]] constexpr std::uint8_t memory_fields_code(const memory_entry& e) noexcept {
  return static_cast<std::uint8_t>(e.flags >> memory_fields_shift);
}

[[nodiscard]] inline record_state memory_decode(const memory_entry& e) noexcept {
  record_state s;
  s.hash.low = e.low;
  s.hash.high = e.high;
  s.hash.bits = e.bits;
  s.fingerprint = e.fingerprint;
  s.last_seen = instant_of(e.last_seen);
  if (e.flags & memory_has_updated) s.updated = instant_of(e.updated);
  if (e.flags & memory_has_expires) s.expires = instant_of(e.expires);
  return s;
}

// Ids packed into 64 KiB chunks, each prefixed by its length (LEB128) and followed by the extra
// bytes of its state (the per-field digests), whose length the entry's flags give: up to 30
// bytes directly, more with a LEB128 length before them. An id longer than a chunk gets a chunk
// of its own. A reference is chunk << 16 | position.
class memory_id_arena {
 public:
  static constexpr std::uint32_t chunk_size = 1u << 16;

  [[nodiscard]] std::uint32_t append(std::string_view id, std::string_view extra = {}) {
    unsigned char prefix[10];
    std::size_t plen = leb(id.size(), prefix);
    unsigned char extra_prefix[10];
    std::size_t elen = extra.size() >= memory_fields_long ? leb(extra.size(), extra_prefix) : 0;
    std::size_t need = plen + id.size() + elen + extra.size();
    std::uint32_t chunk;
    std::uint32_t pos;
    if (need > chunk_size) {
      chunk = new_chunk(need);
      pos = 0;
    } else {
      if (current_ == memory_none || fill_ + need > chunk_size) {
        current_ = new_chunk(chunk_size);
        fill_ = 0;
      }
      chunk = current_;
      pos = fill_;
      fill_ += static_cast<std::uint32_t>(need);
    }
    char* at = chunks_[chunk].get() + pos;
    std::memcpy(at, prefix, plen);
    if (!id.empty()) std::memcpy(at + plen, id.data(), id.size());
    at += plen + id.size();
    std::memcpy(at, extra_prefix, elen);
    if (!extra.empty()) std::memcpy(at + elen, extra.data(), extra.size());
    live_ += need;
    return chunk << 16 | pos;
  }

  [[nodiscard]] const char* locate(std::uint32_t ref) const noexcept {
    return chunks_[ref >> 16].get() + (ref & 0xFFFF);
  }

  [[nodiscard]] std::string_view get(std::uint32_t ref) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(locate(ref));
    std::size_t n = read_leb(p);
    return {reinterpret_cast<const char*>(p), n};
  }

  // The extra bytes after the id at `ref`, whose length code (see memory_fields_code) is `code`.
  [[nodiscard]] std::string_view extra(std::uint32_t ref, std::uint8_t code) const noexcept {
    std::string_view id = get(ref);
    const auto* p = reinterpret_cast<const unsigned char*>(id.data() + id.size());
    std::size_t n = code;
    if (code == memory_fields_long) n = read_leb(p);
    return {reinterpret_cast<const char*>(p), n};
  }

  void release(std::uint32_t ref, std::uint8_t code) noexcept {
    std::string_view rest = extra(ref, code);
    std::size_t used = static_cast<std::size_t>(rest.data() + rest.size() - locate(ref));
    live_ -= used;
    garbage_ += used;
  }

  [[nodiscard]] std::size_t live_bytes() const noexcept { return live_; }
  [[nodiscard]] std::size_t garbage_bytes() const noexcept { return garbage_; }
  [[nodiscard]] std::size_t allocated_bytes() const noexcept {
    return allocated_ + chunks_.capacity() * sizeof(std::unique_ptr<char[]>);
  }

 private:
  std::uint32_t new_chunk(std::size_t size) {
    if (chunks_.size() >= 0x10000) {
      throw error(errc::store_error, "memory_store: the ids of one partition exceed 4 GiB");
    }
    chunks_.reserve(chunks_.size() + 1);
    chunks_.emplace_back(new char[size]);
    allocated_ += size;
    return static_cast<std::uint32_t>(chunks_.size() - 1);
  }

  static std::size_t leb(std::size_t n, unsigned char* out) noexcept {
    std::size_t len = 0;
    for (;; n >>= 7) {
      out[len++] = static_cast<unsigned char>((n & 0x7F) | (n >= 0x80 ? 0x80 : 0));
      if (n < 0x80) return len;
    }
  }
  static std::size_t read_leb(const unsigned char*& p) noexcept {
    std::size_t n = 0;
    int shift = 0;
    while (*p & 0x80) {
      n |= static_cast<std::size_t>(*p++ & 0x7F) << shift;
      shift += 7;
    }
    n |= static_cast<std::size_t>(*p++) << shift;
    return n;
  }

  std::vector<std::unique_ptr<char[]>> chunks_;
  std::uint32_t current_ = memory_none;
  std::uint32_t fill_ = 0;
  std::size_t live_ = 0;
  std::size_t garbage_ = 0;
  std::size_t allocated_ = 0;
};

class memory_table {
 public:
  static constexpr std::uint32_t block_size = 1024;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  [[nodiscard]] memory_entry& entry(std::uint32_t idx) noexcept {
    return blocks_[idx / block_size][idx % block_size];
  }
  [[nodiscard]] const memory_entry& entry(std::uint32_t idx) const noexcept {
    return blocks_[idx / block_size][idx % block_size];
  }
  [[nodiscard]] std::string_view id_of(std::uint32_t idx) const noexcept {
    return ids_.get(entry(idx).id_ref);
  }
  // The per-field digests of the state at `idx`.
  [[nodiscard]] std::string_view fields_of(std::uint32_t idx) const noexcept {
    const memory_entry& e = entry(idx);
    const std::uint8_t code = memory_fields_code(e);
    return code == 0 ? std::string_view() : ids_.extra(e.id_ref, code);
  }

  // Gives the entry `e`, about to replace the one at `idx`, its id bytes. Per-field digests
  // `fields` of the current length are written over the current ones, which go to `*before`
  // first (true is returned); digests of another length get a fresh copy of the id with them
  // after it, the current bytes staying until `release_record`. Only a fresh copy may throw.
  bool place_record(std::uint32_t idx, memory_entry& e, std::string_view fields, std::string* before) {
    const memory_entry& now = entry(idx);
    if (memory_fields_code(e) != memory_fields_code(now) || fields.size() != fields_of(idx).size()) {
      e.id_ref = ids_.append(id_of(idx), fields);
      return false;
    }
    e.id_ref = now.id_ref;
    const std::string_view current = fields_of(idx);
    if (current == fields) return false;
    before->assign(current.data(), current.size());
    std::memcpy(const_cast<char*>(current.data()), fields.data(), fields.size());
    return true;
  }

  // Writes back the per-field digests `place_record` wrote over (same length).
  void restore_fields(std::uint32_t idx, std::string_view before) noexcept {
    const std::string_view current = fields_of(idx);
    std::memcpy(const_cast<char*>(current.data()), before.data(), before.size());
  }

  // Returns the id bytes an entry `e` held to the free pool (see place_record).
  void release_record(const memory_entry& e) noexcept { ids_.release(e.id_ref, memory_fields_code(e)); }

  // The entry number holding `id` (whose hash is `h`), or memory_none.
  [[nodiscard]] std::uint32_t find(std::string_view id, std::uint64_t h) const noexcept {
    if (slots_.empty()) return memory_none;
    for (std::size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      std::uint32_t s = slots_[pos];
      if (s == 0) return memory_none;
      if ((s >> memory_slot_bits) == tag(h) && id_of((s & memory_slot_mask) - 1) == id)
        return (s & memory_slot_mask) - 1;
    }
  }

  // Looks up many ids at once, prefetching each level of the structure for the whole group
  // before it is needed, so the cache misses of different ids overlap.
  template <class Out>
  void find_many(const std::vector<std::string_view>& ids, Out&& out) const {
    constexpr std::size_t group = 64;
    std::uint64_t hashes[group];
    for (std::size_t base = 0; base < ids.size(); base += group) {
      std::size_t n = std::min(group, ids.size() - base);
      for (std::size_t i = 0; i < n; ++i) {
        hashes[i] = memory_hash(ids[base + i]);
        if (!slots_.empty()) prefetch(&slots_[hashes[i] & mask_]);
      }
      if (!slots_.empty()) {
        for (std::size_t i = 0; i < n; ++i) {
          std::uint32_t s = slots_[hashes[i] & mask_];
          if (s != 0) prefetch(&entry((s & memory_slot_mask) - 1));
        }
        for (std::size_t i = 0; i < n; ++i) {
          std::uint32_t s = slots_[hashes[i] & mask_];
          if (s != 0) prefetch(ids_.locate(entry((s & memory_slot_mask) - 1).id_ref));
        }
      }
      for (std::size_t i = 0; i < n; ++i) out(base + i, find(ids[base + i], hashes[i]));
    }
  }

  // Makes room for `additional` more entries so that `insert_new` allocates nothing but id
  // bytes. May rehash; changes no content.
  void reserve(std::size_t additional) {
    std::size_t want = size_ + additional;
    if (want > memory_max_entries) {
      throw error(errc::store_error,
                  "memory_store: a partition exceeds " + std::to_string(memory_max_entries) + " records");
    }
    std::size_t spare = free_count_ + blocks_.size() * block_size - fresh_;
    if (spare < additional) {
      std::size_t more = (additional - spare + block_size - 1) / block_size;
      blocks_.reserve(blocks_.size() + more);
      for (std::size_t i = 0; i < more; ++i) blocks_.emplace_back(new memory_entry[block_size]);
    }
    if (want * 10 > slots_.size() * 7) {
      std::size_t cap = slots_.empty() ? 16 : slots_.size();
      while (want * 10 > cap * 7) cap *= 2;
      rehash(cap);
    }
  }

  // Adds a new entry for `id` (absent, hash `h`) after `reserve`. Only the id bytes may throw,
  // and then nothing was linked.
  std::uint32_t insert_new(std::string_view id, std::uint64_t h, memory_entry e,
                           std::string_view fields = {}) {
    e.id_ref = ids_.append(id, fields);
    std::uint32_t idx;
    if (free_head_ != memory_none) {
      idx = free_head_;
      free_head_ = entry(idx).id_ref;
      --free_count_;
    } else {
      idx = fresh_++;
    }
    entry(idx) = e;
    link(idx, h);
    ++size_;
    return idx;
  }

  // Removes `idx` (hash `h`) from the index; its entry and id stay until `free_entry`.
  void unlink(std::uint32_t idx, std::uint64_t h) noexcept {
    std::size_t pos = h & mask_;
    while ((slots_[pos] & memory_slot_mask) != idx + 1) pos = (pos + 1) & mask_;
    std::size_t hole = pos;
    for (std::size_t j = (hole + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
      std::size_t home = memory_hash(id_of((slots_[j] & memory_slot_mask) - 1)) & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = 0;
    --size_;
  }

  // Puts an unlinked entry back into the index (room is guaranteed: it was there before).
  void relink(std::uint32_t idx, std::uint64_t h) noexcept {
    link(idx, h);
    ++size_;
  }

  // Returns an unlinked entry and its id bytes to the free pools.
  void free_entry(std::uint32_t idx) noexcept {
    ids_.release(entry(idx).id_ref, memory_fields_code(entry(idx)));
    entry(idx).id_ref = free_head_;
    free_head_ = idx;
    ++free_count_;
  }

  // Calls f(entry number) for every linked entry.
  template <class F>
  void each(F&& f) const {
    for (std::uint32_t s : slots_) {
      if (s != 0) f((s & memory_slot_mask) - 1);
    }
  }

  void clear() noexcept {
    std::vector<std::unique_ptr<memory_entry[]>>().swap(blocks_);
    std::vector<std::uint32_t>().swap(slots_);
    ids_ = memory_id_arena();
    mask_ = 0;
    size_ = 0;
    fresh_ = 0;
    free_head_ = memory_none;
    free_count_ = 0;
  }

  // Repacks the ids when more than half the id bytes are garbage. Never fails: when memory for
  // the new chunks cannot be had, the table stays as it is.
  void maybe_compact() noexcept {
    if (ids_.garbage_bytes() < (1u << 20) || ids_.garbage_bytes() < ids_.live_bytes()) return;
    try {
      memory_id_arena fresh;
      std::vector<std::uint32_t> refs(fresh_, 0);
      each([&](std::uint32_t idx) { refs[idx] = fresh.append(id_of(idx), fields_of(idx)); });
      each([&](std::uint32_t idx) { entry(idx).id_ref = refs[idx]; });
      ids_ = std::move(fresh);
    } catch (...) {
    }
  }

  // Bytes held by this table: index, entry blocks and id chunks.
  [[nodiscard]] std::size_t allocated_bytes() const noexcept {
    return slots_.capacity() * sizeof(std::uint32_t) + blocks_.size() * block_size * sizeof(memory_entry) +
           blocks_.capacity() * sizeof(void*) + ids_.allocated_bytes();
  }
  [[nodiscard]] std::size_t id_bytes() const noexcept { return ids_.live_bytes(); }

 private:
  static void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
  }

  void link(std::uint32_t idx, std::uint64_t h) noexcept {
    std::size_t pos = h & mask_;
    while (slots_[pos] != 0) pos = (pos + 1) & mask_;
    slots_[pos] = (idx + 1) | tag(h) << memory_slot_bits;
  }

  static std::uint32_t tag(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 58); }

  void rehash(std::size_t cap) {
    std::vector<std::uint32_t> fresh(cap, 0);
    std::size_t mask = cap - 1;
    for (std::uint32_t s : slots_) {
      if (s == 0) continue;
      std::size_t pos = memory_hash(id_of((s & memory_slot_mask) - 1)) & mask;
      while (fresh[pos] != 0) pos = (pos + 1) & mask;
      fresh[pos] = s;
    }
    slots_.swap(fresh);
    mask_ = mask;
  }

  std::vector<std::unique_ptr<memory_entry[]>> blocks_;
  std::vector<std::uint32_t> slots_;
  memory_id_arena ids_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::uint32_t fresh_ = 0;
  std::uint32_t free_head_ = memory_none;
  std::size_t free_count_ = 0;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_MEMORY_TABLE_HPP
