#ifndef SINCEHASH_DIGEST_HPP
#define SINCEHASH_DIGEST_HPP

#include <cstddef>
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

  /// Writes `to_hex()` to `out`, which has room for 32 characters; returns how many it wrote.
  std::size_t write_hex(char* out) const noexcept {
    static constexpr char digits[] = "0123456789abcdef";
    char* at = out;
    auto put = [&at](std::uint64_t v) {
      for (int shift = 60; shift >= 0; shift -= 4) *at++ = digits[(v >> shift) & 0xF];
    };
    if (bits == 128) put(high);
    if (bits != 0) put(low);
    return static_cast<std::size_t>(at - out);
  }

  /// Lower-case hexadecimal, high part first for 128 bits: 16 or 32 characters ("" when empty).
  [[nodiscard]] std::string to_hex() const {
    char text[32];
    return std::string(text, write_hex(text));
  }

  friend constexpr bool operator==(const digest& a, const digest& b) noexcept {
    return a.low == b.low && a.high == b.high && a.bits == b.bits;
  }
  friend constexpr bool operator!=(const digest& a, const digest& b) noexcept { return !(a == b); }
};

}  // namespace sincehash

#endif  // SINCEHASH_DIGEST_HPP
