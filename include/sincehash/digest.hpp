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

  /// The two hexadecimal digits of every byte value, "000102...feff".
  static constexpr char hex_pairs[] =
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
      "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
      "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
      "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
      "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

  /// True when this holds a digest.
  [[nodiscard]] constexpr bool empty() const noexcept { return bits == 0; }

  /// Writes `to_hex()` to `out`, which has room for 32 characters; returns how many it wrote.
  std::size_t write_hex(char* out) const noexcept {
    char* at = out;
    auto put = [&at](std::uint64_t v) {
      for (int shift = 56; shift >= 0; shift -= 8) {
        const char* pair = hex_pairs + 2 * ((v >> shift) & 0xFF);
        *at++ = pair[0];
        *at++ = pair[1];
      }
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
