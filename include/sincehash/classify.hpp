#ifndef SINCEHASH_CLASSIFY_HPP
#define SINCEHASH_CLASSIFY_HPP

// The classification rules for one valid polled record, as a pure function of the state stored
// for it, the record's facts, the settings and the clock: what the detector applies to every
// record of a batch, testable without a store.

#include <sincehash/digest.hpp>
#include <sincehash/store.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sincehash {

/// What a valid polled record turned out to be.
enum class record_outcome : std::uint8_t {
  created,      ///< first sighting, dispatched as `created`
  updated,      ///< first sighting dispatched as `updated`, or a watched field changed
  unchanged,    ///< the watched fields are as stored: not dispatched
  rebaselined,  ///< hashed under other settings and not newer: re-hashed silently, not dispatched
  stale,        ///< older than the stored state: not dispatched, state untouched
};

/// "created", "updated", "unchanged", "rebaselined" or "stale".
[[nodiscard]] constexpr const char* to_string(record_outcome o) noexcept {
  switch (o) {
    case record_outcome::created:
      return "created";
    case record_outcome::updated:
      return "updated";
    case record_outcome::unchanged:
      return "unchanged";
    case record_outcome::rebaselined:
      return "rebaselined";
    case record_outcome::stale:
      return "stale";
  }
  return "unknown";
}

/// The facts of one valid record that its classification depends on.
struct record_facts {
  digest hash;                     ///< the watched-field digest
  std::optional<instant> updated;  ///< its updated date (UTC), when one is configured
  std::optional<instant> created;  ///< its created date (UTC), when configured and present
  /// Its per-field digests (`record_state::fields`) when they are kept, else empty.
  std::string_view fields;
};

/// The settings the classification depends on.
struct decide_settings {
  std::uint32_t fingerprint = 0;                ///< the id of the current hashing settings
  std::optional<std::chrono::nanoseconds> ttl;  ///< state expiry after it was last seen
  bool created_field = false;                   ///< a created-date field is configured
  /// The offset stored before this poll, as an instant (not lookback-adjusted); nullopt when
  /// none was stored or the cursor is not a date.
  std::optional<instant> stored_offset;
};

/// The verdict on one record: its outcome, and the state to write when `write` is set.
struct decision {
  record_outcome outcome = record_outcome::created;
  bool write = false;  ///< `next` is to be committed
  record_state next;   ///< the record's state after this sighting (meaningful when `write`)

  /// True when the record is dispatched (created or updated).
  [[nodiscard]] bool dispatch() const noexcept {
    return outcome == record_outcome::created || outcome == record_outcome::updated;
  }
};

/// Classifies one valid record against `prior`, the state stored for its id (nullptr: none), at
/// `now` (UTC). The rules, in order:
///  - no state, or an expired one: first sighting, dispatched — `created` when a created-date
///    field is configured and the created date equals the updated date, or an offset was stored
///    before this poll and the created date is not before it; `updated` otherwise; `created`
///    when no created-date field is configured or the record lacks the date;
///  - an updated date older than the stored one: `stale`, nothing written;
///  - hashed under other settings (another fingerprint): `updated` when the updated date is
///    newer than the stored one, else `rebaselined`; the new hash is written either way;
///  - the same hash: `unchanged`; written only when the updated date got newer (so an older
///    copy arriving later is stale), the TTL is due a refresh (see `refresh_due`) or the record
///    brings per-field digests the state lacks (they are filled in silently);
///  - otherwise `updated`.
/// A record with a stored state is never `created`.
[[nodiscard]] inline decision decide(const record_state* prior, const record_facts& rec,
                                     const decide_settings& s, instant now) {
  decision d;
  d.next.hash = rec.hash;
  d.next.fields = std::string(rec.fields);
  d.next.fingerprint = s.fingerprint;
  d.next.updated = rec.updated;
  d.next.last_seen = now;
  if (s.ttl) d.next.expires = now + *s.ttl;

  if (prior == nullptr || expired(*prior, now)) {
    d.outcome = record_outcome::created;
    if (s.created_field && rec.created) {
      const bool same = rec.updated && *rec.created == *rec.updated;
      const bool since_offset = s.stored_offset && *rec.created >= *s.stored_offset;
      if (!same && !since_offset) d.outcome = record_outcome::updated;
    }
    d.write = true;
    return d;
  }
  const bool newer = rec.updated && (!prior->updated || *rec.updated > *prior->updated);
  if (rec.updated && prior->updated && *rec.updated < *prior->updated) {
    d.outcome = record_outcome::stale;
    return d;
  }
  if (prior->fingerprint != s.fingerprint) {
    d.outcome = newer ? record_outcome::updated : record_outcome::rebaselined;
    d.write = true;
    return d;
  }
  if (prior->hash == rec.hash) {
    d.outcome = record_outcome::unchanged;
    d.write = newer || refresh_due(*prior, now, s.ttl.value_or(std::chrono::nanoseconds::zero())) ||
              (!rec.fields.empty() && prior->fields != rec.fields);
    if (!newer && prior->updated && !rec.updated) d.next.updated = prior->updated;
    return d;
  }
  d.outcome = record_outcome::updated;
  d.write = true;
  return d;
}

}  // namespace sincehash

#endif  // SINCEHASH_CLASSIFY_HPP
