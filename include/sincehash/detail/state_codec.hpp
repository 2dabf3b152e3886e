#ifndef SINCEHASH_DETAIL_STATE_CODEC_HPP
#define SINCEHASH_DETAIL_STATE_CODEC_HPP

// The byte encoding of record states shared by the store back ends: fixed-width integers in
// either byte order, dates as nanoseconds, and the digest. Every back end that keeps a state (or
// a part of one) as bytes builds those bytes from these pieces, so one digest has one byte form
// everywhere:
//   - a digest is 0, 8 or 16 bytes (its `bits` / 8): the low 64 bits, then the high 64 bits,
//     each little-endian (SQLite and PostgreSQL columns, Redis values);
//   - a digest is well formed when `bits` is 0 with both halves zero, 64 with `high` zero, or
//     128; a commit refuses any other (store_batch.hpp).
// The layouts built from these pieces are documented where they are stored: detail/store_redis.hpp
// (a Redis value) and store/encrypted.hpp (a sealed state's plaintext).

#include <sincehash/digest.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sincehash::detail {

// `v`'s low `bytes` bytes, least significant first.
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

// `v`'s low `bytes` bytes, most significant first.
inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int k = bytes - 1; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

// The `bytes`-byte little-endian number at `p`.
[[nodiscard]] inline std::uint64_t get_le(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(p[k]);
  return v;
}

// The `bytes`-byte big-endian number at `p`.
[[nodiscard]] inline std::uint64_t get_be(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v = (v << 8) | static_cast<unsigned char>(p[k]);
  return v;
}

// 8 bytes whose byte-wise order is the numeric order of `v`: big-endian with the sign bit flipped.
inline void put_ordered(std::string& out, std::int64_t v) {
  put_be(out, static_cast<std::uint64_t>(v) ^ (std::uint64_t{1} << 63), 8);
}

// The number `put_ordered` wrote at `p`.
[[nodiscard]] inline std::int64_t get_ordered(const char* p) noexcept {
  return static_cast<std::int64_t>(get_be(p, 8) ^ (std::uint64_t{1} << 63));
}

// A date as stored: signed nanoseconds since 1970-01-01T00:00Z.
[[nodiscard]] inline std::int64_t ns_of(instant t) noexcept {
  return static_cast<std::int64_t>(t.time_since_epoch().count());
}

[[nodiscard]] inline std::optional<std::int64_t> ns_of(const std::optional<instant>& t) noexcept {
  if (!t) return std::nullopt;
  return ns_of(*t);
}

// The date stored as `ns`.
[[nodiscard]] inline instant instant_of(std::int64_t ns) noexcept {
  return instant(std::chrono::nanoseconds(ns));
}

// True for a digest a store keeps: `bits` 0 with both halves zero, 64 with `high` zero, or 128.
[[nodiscard]] inline bool digest_well_formed(const digest& d) noexcept {
  return (d.bits == 0 && d.low == 0 && d.high == 0) || (d.bits == 64 && d.high == 0) || d.bits == 128;
}

// True for a stored digest's size in bytes: 0, 8 or 16.
[[nodiscard]] inline bool digest_size_valid(std::size_t bytes) noexcept {
  return bytes == 0 || bytes == 8 || bytes == 16;
}

// The digest's bytes, written to `out` (room for 16): the low half, then the high half, each
// little-endian; returns how many of them are the digest (16 for 128 bits, 8 for 64, else 0).
inline std::size_t write_digest(const digest& d, unsigned char* out) noexcept {
  for (int k = 0; k < 8; ++k) out[k] = static_cast<unsigned char>(d.low >> (8 * k));
  for (int k = 0; k < 8; ++k) out[8 + k] = static_cast<unsigned char>(d.high >> (8 * k));
  return d.bits == 128 ? 16 : (d.bits >= 64 ? 8 : 0);
}

// Appends the digest's bytes (see `write_digest`).
inline void put_digest(std::string& out, const digest& d) {
  unsigned char bytes[16];
  const std::size_t n = write_digest(d, bytes);
  out.append(reinterpret_cast<const char*>(bytes), n);
}

[[nodiscard]] inline std::string digest_bytes(const digest& d) {
  std::string out;
  put_digest(out, d);
  return out;
}

// The digest `put_digest` wrote: 64 bits from 8 bytes, 128 from 16, none from fewer than 8.
[[nodiscard]] inline digest read_digest(std::string_view b) noexcept {
  digest d;
  if (b.size() >= 8) {
    d.low = get_le(b.data(), 8);
    d.bits = 64;
  }
  if (b.size() >= 16) {
    d.high = get_le(b.data() + 8, 8);
    d.bits = 128;
  }
  return d;
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STATE_CODEC_HPP
