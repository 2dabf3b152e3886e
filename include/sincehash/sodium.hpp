#ifndef SINCEHASH_SODIUM_HPP
#define SINCEHASH_SODIUM_HPP

// Keys and keyed hashing on libsodium (link sincehash::sodium).
//
// A `key_ring` holds the caller's 32-byte master keys, each with a numeric id. Every secret the
// library uses is derived from a master key with crypto_kdf (BLAKE2b), one subkey per purpose,
// so no two purposes ever share key material:
//   subkey 1, context "shseal01": sealing record states and offsets (store/encrypted.hpp);
//   subkey 2, context "shhash01": the root of the per-partition hashing keys (`blake2b_keyed`);
//   subkey 3, context "shblnd01": the blind index of record ids (store/encrypted.hpp).
// A per-partition hashing key is the 32-byte BLAKE2b of the partition name keyed with the
// hashing root: the same record in two partitions hashes differently, and a dictionary built for
// one partition is useless for another.
//
// Key file format (`key_ring::parse`, `key_ring::load`): text, one key per line, written as
// `ID HEX` — a decimal id from 1 to 4294967295, white space, and 64 hexadecimal digits (the 32
// key bytes). Blank lines and lines starting with `#` are ignored. A file holding one line of
// only 64 hex digits is key id 1; a file of exactly 32 bytes that is not such text is a raw key
// with id 1. New values are written with the key of the highest id; every listed key still
// opens what it wrote, so rotation is: add a line with a higher id, and remove the old line only
// once nothing sealed under it remains.

#include <sodium.h>
#if !defined(_WIN32)
#include <sys/stat.h>
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/hasher.hpp"

namespace sincehash {

namespace detail {

/// Initialises libsodium once per process (thread-safe); throws `errc::crypto_error` when it
/// cannot be initialised.
inline void sodium_ready() {
  static const int rc = sodium_init();
  if (rc < 0) throw error(errc::crypto_error, "libsodium cannot be initialised");
}

inline constexpr std::uint64_t kdf_seal = 1;
inline constexpr std::uint64_t kdf_hash = 2;
inline constexpr std::uint64_t kdf_blind = 3;
inline constexpr const char kdf_seal_context[] = "shseal01";
inline constexpr const char kdf_hash_context[] = "shhash01";
inline constexpr const char kdf_blind_context[] = "shblnd01";

inline int sodium_hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline std::string sodium_to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0xF]);
  }
  return out;
}

}  // namespace detail

/// A 32-byte secret key and its id. The bytes are wiped when the object is destroyed.
class secret_key {
 public:
  /// The number of key bytes.
  static constexpr std::size_t size = 32;

  /// Takes `bytes` (exactly 32) under `id` (>= 1); throws `errc::invalid_argument` otherwise.
  secret_key(std::uint32_t id, std::string_view bytes) : id_(id) {
    if (id == 0) throw error(errc::invalid_argument, "a key id must be at least 1");
    if (bytes.size() != size) {
      throw error(errc::invalid_argument,
                  "a key must be exactly 32 bytes, not " + std::to_string(bytes.size()));
    }
    std::memcpy(bytes_.data(), bytes.data(), size);
  }
  secret_key(const secret_key&) = default;
  secret_key& operator=(const secret_key&) = default;
  ~secret_key() { sodium_memzero(bytes_.data(), bytes_.size()); }

  /// The key's id, as written in sealed values and fingerprints (never the key itself).
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  /// The 32 key bytes.
  [[nodiscard]] const unsigned char* data() const noexcept { return bytes_.data(); }

  /// The 32-byte subkey for `purpose` under `context` (8 characters), by crypto_kdf.
  [[nodiscard]] std::array<unsigned char, 32> derive(std::uint64_t purpose, const char* context) const {
    detail::sodium_ready();
    std::array<unsigned char, 32> out{};
    if (crypto_kdf_derive_from_key(out.data(), out.size(), purpose, context, bytes_.data()) != 0) {
      throw error(errc::crypto_error, "crypto_kdf_derive_from_key failed");
    }
    return out;
  }

 private:
  std::uint32_t id_;
  std::array<unsigned char, size> bytes_{};
};

/// The caller's master keys: one writes, all open. Plain value type; copies share nothing.
class key_ring {
 public:
  /// A ring holding `keys` (at least one, ids distinct); throws `errc::invalid_argument` otherwise.
  explicit key_ring(std::vector<secret_key> keys) : keys_(std::move(keys)) {
    if (keys_.empty()) throw error(errc::invalid_argument, "a key ring needs at least one key");
    std::sort(keys_.begin(), keys_.end(),
              [](const secret_key& a, const secret_key& b) { return a.id() < b.id(); });
    for (std::size_t i = 1; i < keys_.size(); ++i) {
      if (keys_[i].id() == keys_[i - 1].id()) {
        throw error(errc::invalid_argument, "key id " + std::to_string(keys_[i].id()) + " is listed twice");
      }
    }
  }
  /// A ring of one key.
  explicit key_ring(secret_key key) : key_ring(std::vector<secret_key>{std::move(key)}) {}

  /// The key new values are written with: the one with the highest id.
  [[nodiscard]] const secret_key& current() const noexcept { return keys_.back(); }
  /// The key with the lowest id (the blind index key: see store/encrypted.hpp).
  [[nodiscard]] const secret_key& oldest() const noexcept { return keys_.front(); }
  /// The key with `id`, or nullptr when the ring has none.
  [[nodiscard]] const secret_key* find(std::uint32_t id) const noexcept {
    auto it = std::lower_bound(keys_.begin(), keys_.end(), id,
                               [](const secret_key& k, std::uint32_t v) { return k.id() < v; });
    return it != keys_.end() && it->id() == id ? &*it : nullptr;
  }
  /// Every key, by increasing id.
  [[nodiscard]] const std::vector<secret_key>& keys() const noexcept { return keys_; }

  /// Reads a key file's content (format in the comment at the top of sodium.hpp). On a bad one,
  /// an `errc::config_error` naming `source` and the 1-based line of the first problem; the
  /// message never contains key material.
  [[nodiscard]] static result<key_ring> parse(std::string_view text, const std::string& source = "key file") {
    auto fail_at = [&](std::size_t line, const std::string& what) {
      return fail(errc::config_error, source + ":" + std::to_string(line) + ": " + what);
    };
    auto is_hex_text = [](std::string_view s) {
      return s.size() == 64 &&
             std::all_of(s.begin(), s.end(), [](char c) { return detail::sodium_hex_value(c) >= 0; });
    };
    auto decode = [](std::string_view hex) {
      std::string bytes(32, '\0');
      for (std::size_t i = 0; i < 32; ++i) {
        bytes[i] = static_cast<char>(detail::sodium_hex_value(hex[2 * i]) * 16 +
                                     detail::sodium_hex_value(hex[2 * i + 1]));
      }
      return bytes;
    };
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
      return s;
    };
    // Names the first character of `hex` that is not a hexadecimal digit by its column (1-based,
    // in bytes) in the line as written: one character of a mistyped key, never the key.
    auto non_hex = [&](std::size_t line_number, std::string_view hex) -> std::optional<error_info> {
      const auto bad =
          std::find_if(hex.begin(), hex.end(), [](char c) { return detail::sodium_hex_value(c) < 0; });
      if (bad == hex.end()) return std::nullopt;
      const auto at = static_cast<std::size_t>(&*bad - text.data());
      const std::size_t newline = at == 0 ? std::string_view::npos : text.rfind('\n', at - 1);
      const std::size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      const auto c = static_cast<unsigned char>(*bad);
      std::string shown;
      if (c >= 0x21 && c < 0x7F) {
        shown = std::string("'") + *bad + "'";
      } else {
        static constexpr char digits[] = "0123456789ABCDEF";
        shown = std::string("byte 0x") + digits[c >> 4] + digits[c & 0xF];
      }
      return fail_at(line_number, "the key must be 64 hexadecimal digits (32 bytes): " + shown +
                                      " at column " + std::to_string(at - line_start + 1) +
                                      " is not a hexadecimal digit");
    };
    std::vector<std::pair<std::size_t, std::string_view>> lines;  // (1-based line, content)
    std::size_t number = 0;
    for (std::size_t start = 0; start <= text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++number;
      std::string_view line = trim(text.substr(start, end - start));
      if (!line.empty() && line.front() != '#') lines.emplace_back(number, line);
      start = end + 1;
    }
    // A text key line needs at least 64 characters, so a 32-byte file can only be a raw key.
    if (text.size() == secret_key::size) return key_ring(secret_key(1, text));
    if (lines.empty()) return fail_at(number, "no key found (expected lines of `ID HEX`, 64 hex digits)");
    std::vector<secret_key> keys;
    for (const auto& l : lines) {
      std::string_view line = l.second;
      if (lines.size() == 1 && is_hex_text(line)) {
        keys.emplace_back(1, decode(line));
        break;
      }
      std::size_t gap = line.find_first_of(" \t");
      if (gap == std::string_view::npos && lines.size() == 1 && line.size() == 64) {
        if (auto e = non_hex(l.first, line)) return std::move(*e);
      }
      if (gap == std::string_view::npos)
        return fail_at(l.first, "expected `ID HEX` (a key id, white space, 64 hex digits)");
      std::string_view id_text = line.substr(0, gap);
      std::string_view hex = trim(line.substr(gap));
      std::uint64_t id = 0;
      if (id_text.empty() || id_text.size() > 10)
        return fail_at(l.first, "the key id must be a number from 1 to 4294967295");
      for (char c : id_text) {
        if (c < '0' || c > '9') return fail_at(l.first, "the key id must be a number from 1 to 4294967295");
        id = id * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (id == 0 || id > 0xFFFFFFFFull)
        return fail_at(l.first, "the key id must be a number from 1 to 4294967295");
      if (auto e = non_hex(l.first, hex)) return std::move(*e);
      if (!is_hex_text(hex)) {
        return fail_at(l.first, "the key must be 64 hexadecimal digits (32 bytes), found " +
                                    std::to_string(hex.size()) + " characters");
      }
      for (const auto& k : keys) {
        if (k.id() == id) return fail_at(l.first, "key id " + std::to_string(id) + " is listed twice");
      }
      keys.emplace_back(static_cast<std::uint32_t>(id), decode(hex));
    }
    return key_ring(std::move(keys));
  }

  /// Reads the key file at `path`; throws `errc::io_error` when it cannot be read, and
  /// `errc::config_error` when it is a directory, when group or others have any access to it
  /// (POSIX; as ssh refuses such a private key: `chmod 600` it) or it is larger than 1 MiB, else
  /// as `parse`. The messages name the file (and its mode), never key material.
  [[nodiscard]] static key_ring load(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      throw error(errc::io_error, "key file " + path + ": cannot be read (" + std::strerror(errno) + ")");
    }
    struct closer {
      std::FILE* f;
      ~closer() { std::fclose(f); }
    } close_f{f};
#if !defined(_WIN32)
    struct stat st {};
    if (::fstat(fileno(f), &st) == 0) {  // of the file opened, not of whatever the path names later
      if (S_ISDIR(st.st_mode)) throw invalid_config("", "key file " + path + ": is a directory");
      if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw invalid_config("", "key file " + path + ": permissions " + mode +
                                     " are too open: group or others can access it; keys must be "
                                     "readable by their owner only (chmod 600 " +
                                     path + ")");
      }
    }
#endif
    std::string text;
    char buf[4096];
    for (;;) {
      const std::size_t n = std::fread(buf, 1, sizeof buf, f);
      text.append(buf, n);
      if (text.size() > (1u << 20)) {
        sodium_memzero(&text[0], text.size());
        throw invalid_config("", "key file " + path + ": larger than 1 MiB");
      }
      if (n < sizeof buf) break;
    }
    const bool failed = std::ferror(f) != 0;
    sodium_memzero(buf, sizeof buf);
    if (failed) {
      const int e = errno;
      if (!text.empty()) sodium_memzero(&text[0], text.size());
      if (e == EISDIR) throw invalid_config("", "key file " + path + ": is a directory");
      throw error(errc::io_error, "key file " + path + ": cannot be read (" + std::strerror(e) + ")");
    }
    result<key_ring> ring = parse(text, "key file " + path);
    if (!text.empty()) sodium_memzero(&text[0], text.size());
    if (!ring) throw invalid_config("", ring.error().message);
    return std::move(*ring);
  }

 private:
  std::vector<secret_key> keys_;
};

/// Keyed BLAKE2b with a 128-bit output (crypto_generichash), keyed per partition: the hash
/// algorithm for field_hasher (hasher.hpp) where watched fields are personal data, since an
/// unkeyed fast hash of an e-mail address is reversed by hashing a dictionary of addresses.
/// The key is derived from the ring's current key and the partition name (see the top of this
/// header). `key_id()` is "ID:CHECK": the master key's id and 16 hex digits of a keyed check
/// value, so a new key changes fingerprints (records are re-baselined, not fired) without the
/// key ever being written. Copyable; `hash` is thread-safe.
class blake2b_keyed {
 public:
  /// The digest size in bytes.
  static constexpr std::size_t digest_bytes = 16;

  /// Derives the key for `partition` from `keys.current()`.
  blake2b_keyed(const key_ring& keys, std::string_view partition)
      : blake2b_keyed(keys.current(), partition) {}
  /// Derives the key for `partition` from `key`.
  blake2b_keyed(const secret_key& key, std::string_view partition) {
    detail::sodium_ready();
    std::array<unsigned char, 32> root = key.derive(detail::kdf_hash, detail::kdf_hash_context);
    crypto_generichash(key_.data(), key_.size(), reinterpret_cast<const unsigned char*>(partition.data()),
                       partition.size(), root.data(), root.size());
    sodium_memzero(root.data(), root.size());
    static constexpr char check_message[] = "sincehash key check";
    unsigned char check[8];
    crypto_generichash(check, sizeof check, reinterpret_cast<const unsigned char*>(check_message),
                       sizeof check_message - 1, key_.data(), key_.size());
    key_id_ = std::to_string(key.id()) + ":" + detail::sodium_to_hex(check, sizeof check);
  }

  /// The 128-bit keyed BLAKE2b of `data`: `low` holds bytes 0-7 of the output, `high` bytes
  /// 8-15, each read little-endian.
  [[nodiscard]] digest hash(const unsigned char* data, std::size_t size) const noexcept {
    unsigned char out[digest_bytes];
    crypto_generichash(out, sizeof out, data, size, key_.data(), key_.size());
    digest d;
    for (int k = 7; k >= 0; --k) d.low = (d.low << 8) | out[k];
    for (int k = 15; k >= 8; --k) d.high = (d.high << 8) | out[k];
    d.bits = 128;
    return d;
  }
  /// "blake2b-128-keyed".
  [[nodiscard]] std::string name() const { return "blake2b-128-keyed"; }
  /// See the class comment.
  [[nodiscard]] std::string key_id() const { return key_id_; }

 private:
  std::array<unsigned char, 32> key_{};
  std::string key_id_;
};

}  // namespace sincehash

#endif  // SINCEHASH_SODIUM_HPP
