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
// The layouts built from them: a Redis value (detail/store_redis.hpp) and, below, the plaintext of
// a sealed state (store/encrypted.hpp).

#include <sincehash/digest.hpp>
#include <sincehash/store.hpp>
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

// A byte string as its length (4 bytes, little-endian), then its bytes.
inline void put_sized(std::string& out, std::string_view s) {
  put_le(out, s.size(), 4);
  out.append(s.data(), s.size());
}

// Takes a byte string `put_sized` wrote off the front of `rest`; false when it does not fit.
[[nodiscard]] inline bool take_sized(std::string_view& rest, std::string_view& field) noexcept {
  if (rest.size() < 4) return false;
  const std::uint64_t n = get_le(rest.data(), 4);
  if (rest.size() - 4 < n) return false;
  field = rest.substr(4, static_cast<std::size_t>(n));
  rest.remove_prefix(4 + static_cast<std::size_t>(n));
  return true;
}

// The plaintext of a sealed state: the fields the encrypting store hides, little-endian,
//   flags (bit 0: updated present; bits 1-2: digest size 0/64/128 bits as 0/1/2; bit 3: the
//   state's own sealed bytes follow; bit 4: per-field digests follow) | digest low (8) | digest
//   high (8) | updated ns (8, signed) | fingerprint (4) | [the state's sealed bytes, sized] |
//   [the per-field digests, sized] | [`*id`, sized, when `id` is given].
// `s.hash` is well formed.
[[nodiscard]] inline std::string sealed_plaintext(const record_state& s, const std::string_view* id) {
  const unsigned bits_code = s.hash.bits == 128 ? 2u : (s.hash.bits == 64 ? 1u : 0u);
  std::string out;
  out.reserve(41 + s.sealed.size() + s.fields.size() + (id != nullptr ? id->size() : 0));
  out.push_back(static_cast<char>((s.updated ? 1u : 0u) | (bits_code << 1) | (s.sealed.empty() ? 0u : 8u) |
                                  (s.fields.empty() ? 0u : 16u)));
  put_le(out, s.hash.low, 8);
  put_le(out, s.hash.high, 8);
  put_le(out, s.updated ? static_cast<std::uint64_t>(ns_of(*s.updated)) : 0, 8);
  put_le(out, s.fingerprint, 4);
  if (!s.sealed.empty()) put_sized(out, s.sealed);
  if (!s.fields.empty()) put_sized(out, s.fields);
  if (id != nullptr) put_sized(out, *id);
  return out;
}

// Reads what `sealed_plaintext` wrote into `out`'s digest, updated date, fingerprint, sealed
// bytes and per-field digests, and the id into `id` when `with_id` (a view into `plain`). False, with `out`
// unchanged, when it is not what `sealed_plaintext` writes: too short, a length that does not fit exactly, an
// unknown flag, a malformed digest, a date's bytes set while the date is absent.
[[nodiscard]] inline bool read_sealed_plaintext(std::string_view plain, bool with_id, record_state& out,
                                                std::string_view& id) {
  constexpr std::size_t fixed = 29;
  if (plain.size() < fixed) return false;
  const auto flags = static_cast<unsigned char>(plain[0]);
  std::string_view rest = plain.substr(fixed);
  std::string_view nested;
  std::string_view fields;
  if ((flags & 8u) && !take_sized(rest, nested)) return false;
  if ((flags & 16u) && !take_sized(rest, fields)) return false;
  if (with_id && !take_sized(rest, id)) return false;
  if (!rest.empty()) return false;
  // Only what the encoder writes: known flags, a well-formed digest, zeros for an absent date,
  // sealed bytes only when there are some.
  const unsigned bits_code = (flags >> 1) & 3u;
  digest hash;
  hash.low = get_le(plain.data() + 1, 8);
  hash.high = get_le(plain.data() + 9, 8);
  hash.bits = static_cast<std::uint8_t>(bits_code == 2 ? 128 : (bits_code == 1 ? 64 : 0));
  const std::uint64_t updated = get_le(plain.data() + 17, 8);
  if ((flags & ~31u) != 0 || bits_code == 3 || !digest_well_formed(hash) || (!(flags & 1u) && updated != 0) ||
      ((flags & 8u) && nested.empty()) || ((flags & 16u) && fields.empty()))
    return false;
  out.hash = hash;
  out.updated.reset();
  if (flags & 1u) out.updated = instant_of(static_cast<std::int64_t>(updated));
  out.fingerprint = static_cast<std::uint32_t>(get_le(plain.data() + 25, 4));
  out.sealed = std::string(nested);
  out.fields = std::string(fields);
  return true;
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STATE_CODEC_HPP
