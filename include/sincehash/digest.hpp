#ifndef SINCEHASH_DIGEST_HPP
#define SINCEHASH_DIGEST_HPP

#include <cstdint>
#include <string>

namespace sincehash {

/// A hash value of up to 128 bits, as produced by a field hasher and kept by a state store.
/// A 64-bit algorithm leaves `high` zero and sets `bits` to 64. Plain value type; comparing two
/// digests compares all three members.
struct digest {
  std::uint64_t low = 0;   ///< the low 64 bits (the whole value for a 64-bit algorithm)
  std::uint64_t high = 0;  ///< the high 64 bits; 0 for a 64-bit algorithm
  std::uint8_t bits = 0;   ///< 64 or 128; 0 means "no digest"

  /// True when this holds a digest.
  [[nodiscard]] constexpr bool empty() const noexcept { return bits == 0; }

  /// Lower-case hexadecimal, high part first for 128 bits: 16 or 32 characters ("" when empty).
  [[nodiscard]] std::string to_hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    auto put = [&](std::uint64_t v) {
      for (int shift = 60; shift >= 0; shift -= 4) out.push_back(digits[(v >> shift) & 0xF]);
    };
    if (bits == 128) put(high);
    if (bits != 0) put(low);
    return out;
  }

  friend constexpr bool operator==(const digest& a, const digest& b) noexcept {
    return a.low == b.low && a.high == b.high && a.bits == b.bits;
  }
  friend constexpr bool operator!=(const digest& a, const digest& b) noexcept { return !(a == b); }
};

}  // namespace sincehash

#endif  // SINCEHASH_DIGEST_HPP
