#ifndef SINCEHASH_STORE_ENCRYPTED_HPP
#define SINCEHASH_STORE_ENCRYPTED_HPP

// The encrypting decorator: a state store over any other store (link sincehash::sodium).
//
// What the inner store keeps, per record state:
//   - the record id in clear (the only searchable thing), or with `blind_index` a keyed BLAKE2b
//     of it (32 hex digits) for partitions whose ids are themselves personal data;
//   - `last_seen` and `expires` in clear: they are the caller's write times, not the record's,
//     and `purge_expired` must run inside the inner store (SQL `DELETE ... WHERE expires <= ?`)
//     without keys; both are bound into the associated data, so altering them fails the open;
//   - `hash` empty, `fingerprint` 0 and `updated` none: the digest, the fingerprint id and the
//     record's updated date exist only inside `sealed`.
// `record_state::sealed` (format 1) is
//     0x01 | key id (4 bytes LE) | nonce (24 random bytes) | XChaCha20-Poly1305 ciphertext + tag
// of the plaintext
//     flags (1: bit 0 updated present, bits 1-2 digest size 0/64/128 as 0/1/2, bit 3 sealed
//     bytes follow) | digest low (8) | digest high (8) | updated ns (8, signed) | fingerprint (4)
//     | [length (4) | the caller's own `sealed` bytes] | [id length (4) | id]
// (all integers little-endian; the caller's `sealed` only when not empty, so decorators nest;
// the id only with `blind_index`), under associated data
//     "sincehash/state" | 0x01 | key id (4) | len(partition) (4) | partition | len(id) (4) | id
//     | last_seen ns (8) | expires flag (1) | expires ns (8)
// where id is the id as the inner store keeps it (the blind index, when one is used; the clear id
// inside the plaintext must then have that blind index). A sealed value copied to another row,
// partition or key id fails to open.
//
// The offset: the inner store holds an integer offset whose number is a generation counter
// (one more on every commit that moves the offset) and whose text is the hex of
//     0x01 | key id (4) | nonce (24) | ciphertext + tag of: kind (1) | number (8) | text
// under associated data "sincehash/offset" | 0x01 | key id (4) | len(partition) (4) | partition
// | generation (8). The decorator compares the new offset with the opened stored one while it
// holds the partition's commit lock, and writes generation + 1 only when the new offset is
// after the stored one, so the watermark never moves backwards; the inner store's own check
// (a generation must exceed the stored one) turns a concurrent writer in another process into
// an offset that is not moved, never one that moves back.
//
// Keys: new values are sealed with `keys.current()`; every key of the ring opens what it
// sealed (rotation). The blind index uses the ring's oldest key and cannot be rotated in place.
// Any value that does not open — altered, moved, sealed under a key the ring lacks, or written
// without encryption — throws `sincehash::error` with `errc::crypto_error` naming the
// partition and id. Nothing unauthenticated is ever returned.

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/detail/state_codec.hpp"
#include "sincehash/detail/store_batch.hpp"
#include "sincehash/detail/store_errors.hpp"
#include "sincehash/detail/store_forwarding.hpp"
#include "sincehash/error.hpp"
#include "sincehash/sodium.hpp"
#include "sincehash/store.hpp"
#include "sincehash/time.hpp"

namespace sincehash {

/// Settings of an `encrypted_store`.
struct encrypted_store_options {
  /// Store each id as a keyed BLAKE2b of (partition, id) instead of in clear: for ids that are
  /// personal data (e-mail addresses). `for_each` and `rescan_unseen` still return clear ids
  /// (they are sealed with the state).
  bool blind_index = false;
};

/// The fingerprint text an encrypted_store interns in every partition it writes, so that code
/// reading the inner store directly can tell (with `holds_sealed_state`) that the partition is
/// sealed instead of mistaking sealed values for plain ones.
inline constexpr std::string_view sealed_partition_marker = "sincehash/sealed-state 1";

/// True when `partition` of `store` (any store, read without keys) was written by an
/// encrypted_store: its fingerprint table holds `sealed_partition_marker`. Reads only.
template <class Store>
[[nodiscard]] bool holds_sealed_state(Store& store, std::string_view partition) {
  for (std::uint32_t id = 1;; ++id) {
    std::optional<std::string> text = store.fingerprint_text(partition, id);
    if (!text) return false;
    if (*text == sealed_partition_marker) return true;
  }
}

namespace detail {

inline constexpr std::uint8_t sealed_format = 1;
inline constexpr std::size_t sealed_header = 1 + 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;

inline std::string sealed_printable_id(std::string_view id) {
  std::string out = "'";
  for (char ch : id) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || c == '\\') {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
    if (out.size() > 200) {
      out += "...";
      break;
    }
  }
  return out + "'";
}

// The sealing keys of a ring, derived once.
class seal_keys {
 public:
  explicit seal_keys(const key_ring& ring) {
    for (const secret_key& k : ring.keys()) keys_.emplace_back(k.id(), k.derive(kdf_seal, kdf_seal_context));
    blind_ = ring.oldest().derive(kdf_blind, kdf_blind_context);
  }
  seal_keys(const seal_keys&) = delete;
  seal_keys& operator=(const seal_keys&) = delete;
  ~seal_keys() {
    for (auto& k : keys_) sodium_memzero(k.second.data(), k.second.size());
    sodium_memzero(blind_.data(), blind_.size());
  }

  [[nodiscard]] std::uint32_t current_id() const noexcept { return keys_.back().first; }
  [[nodiscard]] const unsigned char* find(std::uint32_t id) const noexcept {
    for (const auto& k : keys_) {
      if (k.first == id) return k.second.data();
    }
    return nullptr;
  }

  // 0x01 | key id | nonce | ciphertext+tag; `ad_tail` follows the header bytes in the AD.
  [[nodiscard]] std::string seal(std::string_view label, std::string_view plaintext,
                                 std::string_view ad_tail) const {
    const std::uint32_t id = current_id();
    std::string out;
    out.reserve(sealed_header + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    out.push_back(static_cast<char>(sealed_format));
    put_le(out, id, 4);
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    randombytes_buf(nonce, sizeof nonce);
    out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
    std::string ad = associated(label, std::string_view(out).substr(0, 5), ad_tail);
    const std::size_t at = out.size();
    out.resize(at + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(&out[at]), &written,
                                               reinterpret_cast<const unsigned char*>(plaintext.data()),
                                               plaintext.size(),
                                               reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                               nullptr, nonce, keys_.back().second.data());
    out.resize(at + static_cast<std::size_t>(written));
    return out;
  }

  // The plaintext, or nullopt when `sealed` does not open (the reason in `why`).
  [[nodiscard]] std::optional<std::string> open(std::string_view label, std::string_view sealed,
                                                std::string_view ad_tail, std::string& why) const {
    if (sealed.empty()) {
      why = "it holds no sealed value (written without encryption?)";
      return std::nullopt;
    }
    if (sealed.size() < sealed_header + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
      why = "its sealed value is truncated (" + std::to_string(sealed.size()) + " bytes)";
      return std::nullopt;
    }
    if (static_cast<unsigned char>(sealed[0]) != sealed_format) {
      why = "its sealed value has unknown format " + std::to_string(static_cast<unsigned char>(sealed[0]));
      return std::nullopt;
    }
    const auto id = static_cast<std::uint32_t>(get_le(sealed.data() + 1, 4));
    const unsigned char* key = find(id);
    if (key == nullptr) {
      why = "it is sealed under key id " + std::to_string(id) + ", which the key ring does not hold";
      return std::nullopt;
    }
    std::string ad = associated(label, sealed.substr(0, 5), ad_tail);
    const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + 5);
    std::string_view body = sealed.substr(sealed_header);
    std::string plain(body.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    unsigned long long n = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(plain.data()), &n, nullptr,
            reinterpret_cast<const unsigned char*>(body.data()), body.size(),
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce, key) != 0) {
      why = "its sealed value fails authentication (altered, moved from another row, or another key)";
      return std::nullopt;
    }
    plain.resize(static_cast<std::size_t>(n));
    return plain;
  }

  // 32 hex digits of keyed BLAKE2b over (partition, id).
  [[nodiscard]] std::string blind(std::string_view partition, std::string_view id) const {
    std::string msg;
    put_sized(msg, partition);
    put_sized(msg, id);
    unsigned char out[16];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                       blind_.data(), blind_.size());
    return sodium_to_hex(out, sizeof out);
  }

 private:
  static std::string associated(std::string_view label, std::string_view header, std::string_view tail) {
    std::string ad;
    ad.reserve(label.size() + header.size() + tail.size());
    ad.append(label.data(), label.size());
    ad.append(header.data(), header.size());
    ad.append(tail.data(), tail.size());
    return ad;
  }

  std::vector<std::pair<std::uint32_t, std::array<unsigned char, 32>>> keys_;
  std::array<unsigned char, 32> blind_{};
};

}  // namespace detail

/// A state store that keeps `Inner`'s data sealed (see the top of this header for exactly what
/// stays in clear and why). `Inner` is any store (store.hpp) that persists
/// `record_state::sealed`; it is not owned and must outlive this object. Implements the whole
/// contract of store.hpp with the inner store's thread safety; commits on one partition are
/// additionally serialised by this object. Errors of the inner store propagate unchanged. What it
/// does not change (fingerprint texts, which are hashing settings and never record data; counts;
/// purges, on the expiry times kept in clear; rescan starts and stops; the inner store's lease
/// and fences) it passes to the inner store as it is (detail/store_forwarding.hpp).
template <class Inner>
class encrypted_store : public detail::forwarding_store<Inner> {
  using detail::forwarding_store<Inner>::inner_;

 public:
  /// Seals into `inner` with `keys` (copied; derived subkeys are kept, wiped on destruction).
  encrypted_store(Inner& inner, const key_ring& keys, encrypted_store_options options = {})
      : detail::forwarding_store<Inner>(inner), keys_(keys), options_(options) {}

  /// The id under which `id` of `partition` is kept in the inner store (itself, or its blind index).
  [[nodiscard]] std::string stored_id(std::string_view partition, std::string_view id) const {
    return options_.blind_index ? keys_.blind(partition, id) : std::string(id);
  }

  /// See store.hpp. Throws `errc::crypto_error` when a stored state does not open.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view partition,
                                                                  const std::vector<std::string_view>& ids) {
    std::vector<std::string> blinded;
    const std::vector<std::string_view> inner_ids = kept_ids(partition, ids, blinded);
    std::vector<std::optional<record_state>> out = inner_->get_many(partition, inner_ids);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i]) out[i] = open_state(partition, inner_ids[i], *out[i], nullptr);
    }
    return out;
  }

  /// See store.hpp: the inner store's snapshot, every state and the offset opened. Throws
  /// `errc::crypto_error` when one does not open.
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) {
    std::vector<std::string> blinded;
    const std::vector<std::string_view> inner_ids = kept_ids(partition, ids, blinded);
    store_snapshot snap = inner_->snapshot(partition, inner_ids);
    for (std::size_t i = 0; i < snap.states.size(); ++i) {
      if (snap.states[i]) snap.states[i] = open_state(partition, inner_ids[i], *snap.states[i], nullptr);
    }
    if (snap.offset) snap.offset = open_offset(partition, *snap.offset);
    return snap;
  }

  /// See store.hpp. Seals every upsert and the offset, then commits once to the inner store. A
  /// conflict names the clear ids.
  void commit(std::string_view partition, const commit_batch& batch) {
    (void)detail::plan_commit(batch);  // refuses a malformed batch before anything is sealed
    partition_data& pd = partition_entry(partition);
    std::lock_guard<std::mutex> lock(pd.mutex);
    if (!pd.marked) {
      (void)inner_->intern_fingerprint(partition, sealed_partition_marker);
      pd.marked = true;
    }
    commit_batch sealed;
    sealed.upserts.reserve(batch.upserts.size());
    for (const auto& u : batch.upserts) {
      std::string kept = stored_id(partition, u.first);
      record_state state = seal_state(partition, kept, u.first, u.second);
      sealed.upserts.emplace_back(std::move(kept), std::move(state));
    }
    sealed.erasures.reserve(batch.erasures.size());
    for (const auto& id : batch.erasures) sealed.erasures.push_back(stored_id(partition, id));
    sealed.rescan_seen.reserve(batch.rescan_seen.size());
    for (const auto& id : batch.rescan_seen) sealed.rescan_seen.push_back(stored_id(partition, id));
    sealed.complete_rescan = batch.complete_rescan;
    sealed.rescan_completed_at = batch.rescan_completed_at;
    sealed.read_sequence = batch.read_sequence;
    sealed.expect.reserve(batch.expect.size());
    for (const auto& e : batch.expect) sealed.expect.emplace_back(stored_id(partition, e.first), e.second);
    if (batch.offset) {
      std::optional<offset_value> stored_inner = inner_->offset(partition);
      std::int64_t generation = 0;
      bool advances = true;
      if (stored_inner) {
        offset_value current = open_offset(partition, *stored_inner);
        advances = compare_offsets(*batch.offset, current) > 0;
        generation = stored_inner->number;
      }
      if (advances) sealed.offset = seal_offset(partition, *batch.offset, generation + 1);
    }
    try {
      inner_->commit(partition, sealed);
    } catch (const commit_conflict& c) {
      if (!options_.blind_index) throw;
      std::vector<std::string> clear;
      for (const auto& e : batch.expect) {
        if (std::binary_search(c.ids().begin(), c.ids().end(), sealed.expect[&e - batch.expect.data()].first))
          clear.push_back(e.first);
      }
      std::sort(clear.begin(), clear.end());
      clear.erase(std::unique(clear.begin(), clear.end()), clear.end());
      throw detail::store_conflict(store_name, partition, std::move(clear));
    }
  }

  /// See store.hpp. Throws `errc::crypto_error` when the stored offset does not open.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) {
    std::optional<offset_value> stored = inner_->offset(partition);
    if (!stored) return std::nullopt;
    return open_offset(partition, *stored);
  }

  /// See store.hpp.
  void reset_offset(std::string_view partition, bool forget_records) {
    std::lock_guard<std::mutex> lock(partition_entry(partition).mutex);
    inner_->reset_offset(partition, forget_records);
  }

  /// See store.hpp. `f` receives clear ids and opened states; throws `errc::crypto_error` at the
  /// first state that does not open.
  template <class F>
  void for_each(std::string_view partition, F&& f) {
    inner_->for_each(partition, [&](std::string_view id, const record_state& s) {
      std::string clear_id;
      record_state opened = open_state(partition, id, s, options_.blind_index ? &clear_id : nullptr);
      f(options_.blind_index ? std::string_view(clear_id) : id, static_cast<const record_state&>(opened));
    });
  }

  /// See store.hpp. With `blind_index`, the clear ids are read from the sealed states.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) {
    std::vector<std::string> ids = inner_->rescan_unseen(partition);
    if (!options_.blind_index || ids.empty()) return ids;
    std::vector<std::string_view> views(ids.begin(), ids.end());
    std::vector<std::optional<record_state>> states = inner_->get_many(partition, views);
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!states[i]) continue;
      std::string clear_id;
      (void)open_state(partition, ids[i], *states[i], &clear_id);
      out.push_back(std::move(clear_id));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static constexpr const char* store_name = "encrypted_store";
  static constexpr std::string_view state_label = "sincehash/state";
  static constexpr std::string_view offset_label = "sincehash/offset";

  struct partition_data {
    std::mutex mutex;     // serialises this object's commits on the partition
    bool marked = false;  // sealed_partition_marker interned (under `mutex`)
  };

  // `ids` as the inner store keeps them; with a blind index they point into `blinded`.
  std::vector<std::string_view> kept_ids(std::string_view partition, const std::vector<std::string_view>& ids,
                                         std::vector<std::string>& blinded) const {
    if (!options_.blind_index) return ids;
    blinded.reserve(ids.size());
    for (std::string_view id : ids) blinded.push_back(keys_.blind(partition, id));
    return std::vector<std::string_view>(blinded.begin(), blinded.end());
  }

  partition_data& partition_entry(std::string_view partition) {
    std::lock_guard<std::mutex> lock(directory_mutex_);
    auto it = partitions_.find(partition);
    if (it == partitions_.end())
      it = partitions_.emplace(std::string(partition), std::make_unique<partition_data>()).first;
    return *it->second;
  }

  static std::string state_ad(std::string_view partition, std::string_view stored, const record_state& s) {
    std::string ad;
    detail::put_sized(ad, partition);
    detail::put_sized(ad, stored);
    detail::put_le(ad, static_cast<std::uint64_t>(detail::ns_of(s.last_seen)), 8);
    ad.push_back(s.expires ? '\x01' : '\x00');
    detail::put_le(ad, s.expires ? static_cast<std::uint64_t>(detail::ns_of(*s.expires)) : 0, 8);
    return ad;
  }

  record_state seal_state(std::string_view partition, std::string_view stored, std::string_view id,
                          const record_state& s) const {
    // The digest is well formed: `commit` refused the batch otherwise (store_batch.hpp).
    std::string plain = detail::sealed_plaintext(s, options_.blind_index ? &id : nullptr);
    record_state out;
    out.last_seen = s.last_seen;
    out.expires = s.expires;
    out.sealed = keys_.seal(state_label, plain, state_ad(partition, stored, s));
    sodium_memzero(&plain[0], plain.size());
    return out;
  }

  // Opens a state kept under `stored` (the inner store's id). With a blind index the clear id
  // is read from the plaintext, checked against `stored`, and put into `clear_id`.
  record_state open_state(std::string_view partition, std::string_view stored, const record_state& s,
                          std::string* clear_id) const {
    std::string why;
    std::optional<std::string> plain = keys_.open(state_label, s.sealed, state_ad(partition, stored, s), why);
    record_state out;
    std::string_view id_inside;
    if (plain) {
      if (!detail::read_sealed_plaintext(*plain, options_.blind_index, out, id_inside)) {
        why = "its sealed value is malformed";
        plain.reset();
      } else if (options_.blind_index && keys_.blind(partition, id_inside) != stored) {
        why = "its sealed value names another id";
        plain.reset();
      }
    }
    if (!plain) {
      throw error(errc::crypto_error, "encrypted_store: the state of id " +
                                          detail::sealed_printable_id(stored) + " in partition '" +
                                          std::string(partition) + "' cannot be opened: " + why);
    }
    out.last_seen = s.last_seen;
    out.expires = s.expires;
    if (clear_id != nullptr) *clear_id = std::string(id_inside);
    return out;
  }

  offset_value seal_offset(std::string_view partition, const offset_value& o, std::int64_t generation) const {
    std::string plain;
    plain.push_back(static_cast<char>(o.kind));
    detail::put_le(plain, static_cast<std::uint64_t>(o.number), 8);
    plain.append(o.text);
    std::string ad;
    detail::put_sized(ad, partition);
    detail::put_le(ad, static_cast<std::uint64_t>(generation), 8);
    std::string sealed = keys_.seal(offset_label, plain, ad);
    return offset_value{
        offset_kind::integer,
        detail::sodium_to_hex(reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size()),
        generation};
  }

  offset_value open_offset(std::string_view partition, const offset_value& stored) const {
    std::string why;
    std::string bytes;
    if (stored.kind != offset_kind::integer || stored.text.size() % 2 != 0) {
      why = "it is not a sealed offset (written without encryption?)";
    } else {
      bytes.reserve(stored.text.size() / 2);
      for (std::size_t i = 0; i < stored.text.size(); i += 2) {
        int hi = detail::sodium_hex_value(stored.text[i]);
        int lo = detail::sodium_hex_value(stored.text[i + 1]);
        if (hi < 0 || lo < 0) {
          why = "it is not a sealed offset (written without encryption?)";
          break;
        }
        bytes.push_back(static_cast<char>(hi * 16 + lo));
      }
    }
    std::optional<std::string> plain;
    if (why.empty()) {
      std::string ad;
      detail::put_sized(ad, partition);
      detail::put_le(ad, static_cast<std::uint64_t>(stored.number), 8);
      plain = keys_.open(offset_label, bytes, ad, why);
    }
    if (plain && (plain->size() < 9 || static_cast<unsigned char>((*plain)[0]) > 2)) {
      why = "its sealed value is malformed";
    }
    if (!plain || !why.empty()) {
      throw error(errc::crypto_error, "encrypted_store: the offset of partition '" + std::string(partition) +
                                          "' cannot be opened: " + why);
    }
    offset_value out;
    out.kind = static_cast<offset_kind>((*plain)[0]);
    out.number = static_cast<std::int64_t>(detail::get_le(plain->data() + 1, 8));
    out.text = plain->substr(9);
    return out;
  }

  detail::seal_keys keys_;
  encrypted_store_options options_;
  std::mutex directory_mutex_;
  std::map<std::string, std::unique_ptr<partition_data>, std::less<>> partitions_;
};

}  // namespace sincehash

#endif  // SINCEHASH_STORE_ENCRYPTED_HPP
