#ifndef SINCEHASH_EVENTS_HPP
#define SINCEHASH_EVENTS_HPP

// What the detector hands back: events to dispatch, rejected records, notices, counts, and the
// pending commit that records a batch's classification until it is committed.

#include <sincehash/digest.hpp>
#include <sincehash/record.hpp>
#include <sincehash/store.hpp>

#include "sincehash/detail/hash_types.hpp"
#include "sincehash/detail/xxhash.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sincehash {

namespace detail {
struct batch_memo;
}  // namespace detail

/// What a dispatched event says happened to a record.
enum class event_type : std::uint8_t { created, updated, deleted };

/// "created", "updated" or "deleted".
[[nodiscard]] constexpr const char* to_string(event_type t) noexcept {
  switch (t) {
    case event_type::created:
      return "created";
    case event_type::updated:
      return "updated";
    case event_type::deleted:
      return "deleted";
  }
  return "unknown";
}

/// The watched paths an event names as changed (`reportChanges`): a bitset over the watched
/// paths, in the hasher's canonical path order, plus their names as configured. Three states:
/// not reported (the setting is off, or a `deleted` event), unknown (`null`: a `created` event, a
/// record re-baselined under other settings, or a state without per-field digests yet), or a set.
class changed_fields {
 public:
  changed_fields() = default;
  /// Reported but unknown (`null`), naming paths from `names` (configured spellings, canonical order).
  explicit changed_fields(std::shared_ptr<const std::vector<std::string>> names) : names_(std::move(names)) {}
  /// Reported: the paths whose bit is set in `bits` (one per name).
  changed_fields(std::shared_ptr<const std::vector<std::string>> names, std::vector<bool> bits)
      : names_(std::move(names)), bits_(std::move(bits)), known_(true) {}

  /// True when the event reports what changed (the setting is on).
  [[nodiscard]] bool reported() const noexcept { return names_ != nullptr; }
  /// True when the set is known; false for `null`.
  [[nodiscard]] bool known() const noexcept { return known_; }
  /// One bit per watched path, in canonical path order; empty unless `known()`.
  [[nodiscard]] const std::vector<bool>& bits() const noexcept { return bits_; }
  /// Every watched path as configured, in canonical path order (bit `i` names `names()[i]`).
  [[nodiscard]] const std::vector<std::string>& names() const noexcept {
    static const std::vector<std::string> none;
    return names_ ? *names_ : none;
  }
  /// The changed paths as configured, sorted byte-wise; empty unless `known()`.
  [[nodiscard]] std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < bits_.size(); ++i) {
      if (bits_[i]) out.push_back((*names_)[i]);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<bool> bits_;
  bool known_ = false;
};

/// One event to dispatch. `record` points into the caller's input (the record's original
/// bytes, never re-serialised): valid as long as that input is; empty for `deleted`.
struct event {
  event_type type = event_type::created;
  std::string id;                                 ///< the id's text (string contents, or a number's literal)
  value_kind id_kind = value_kind::string;        ///< how the id was written: string or number
  std::string updated;                            ///< the updated value as the source wrote it
  value_kind updated_kind = value_kind::missing;  ///< string, number, or missing (none / deleted)
  std::string event_id;                           ///< 32 hex digits, deterministic (see `make_event_id`)
  std::string_view record;                        ///< the record's original bytes
  std::size_t position = 0;                       ///< the caller's 1-based position; 0 for deleted
  /// With `reportChanges`: which watched paths an `updated` event's record changed (see
  /// `changed_fields`); not reported otherwise.
  changed_fields changed;
};

/// A record that could not be classified: where it was, its id when readable, why.
struct rejected_record {
  std::size_t position = 0;
  std::optional<std::string> id;            ///< the id's text (string contents, or a number's literal)
  value_kind id_kind = value_kind::string;  ///< how the id was written: string or number
  std::string reason;
  std::string_view record;
  bool record_is_json = false;  ///< false when the bytes are not JSON at all
};

/// Something worth telling that is not an error (an out-of-order record in a source declared
/// chronological, a date too far in the future to advance the offset).
struct notice {
  std::size_t position = 0;
  std::string message;
};

/// Counts of one run or batch; the fields of the command-line summary.
struct run_stats {
  std::size_t processed = 0;  ///< every input record, invalid ones included
  std::size_t created = 0;
  std::size_t updated = 0;
  std::size_t deleted = 0;
  std::size_t unchanged = 0;  ///< includes silently re-baselined records
  std::size_t stale = 0;
  std::size_t invalid = 0;

  run_stats& operator+=(const run_stats& o) noexcept {
    processed += o.processed;
    created += o.created;
    updated += o.updated;
    deleted += o.deleted;
    unchanged += o.unchanged;
    stale += o.stale;
    invalid += o.invalid;
    return *this;
  }
};

/// What `commit` writes: produced by `process` / `complete_rescan`, applied only by `commit`.
struct pending_commit {
  commit_batch batch;                        ///< states, erasures, offset and rescan marks
  std::optional<offset_value> offset_after;  ///< the offset after commit (the stored one if unchanged)
  /// What the detector needs to re-classify the batch's records after a conflict; shared, so
  /// copying a pending commit is cheap. Not for callers.
  std::shared_ptr<detail::batch_memo> memo;

  /// True when committing would write nothing.
  [[nodiscard]] bool empty() const noexcept {
    return batch.upserts.empty() && batch.erasures.empty() && !batch.offset && batch.rescan_seen.empty() &&
           !batch.complete_rescan;
  }
};

/// The classification of one batch.
struct batch_result {
  std::vector<event> events;              ///< to dispatch, in input order
  std::vector<rejected_record> rejected;  ///< invalid records, in input order
  std::vector<notice> notices;
  run_stats stats;
  pending_commit pending;  ///< hand to `commit` after the events were delivered
};

/// The digest behind the event id of (partition, record id, type, updated value, watched hash): 32 hex digits
/// of XXH3-128 over a length-prefixed encoding of the five, so a re-delivery of the same event has the same
/// id while a change A→B→A yields three distinct ones.
[[nodiscard]] inline digest make_event_digest(std::string_view partition, std::string_view id,
                                              event_type type, std::string_view updated, const digest& hash) {
  char hex[32];
  const std::string_view label("sincehash-event-1");
  const std::string_view type_name(to_string(type));
  const std::string_view parts[] = {label,     partition, id,
                                    type_name, updated,   std::string_view(hex, hash.write_hex(hex))};
  std::size_t total = 0;
  for (const auto& part : parts) total += 8 + part.size();
  char small[512];
  std::string large;
  char* buf = small;
  if (total > sizeof small) {
    large.resize(total);
    buf = &large[0];
  }
  char* at = buf;
  for (const auto& part : parts) {  // each part: its length (8 bytes, little-endian), its bytes
    const auto n = static_cast<std::uint64_t>(part.size());
    for (int i = 0; i < 8; ++i) *at++ = static_cast<char>((n >> (8 * i)) & 0xFF);
    if (!part.empty()) std::memcpy(at, part.data(), part.size());
    at += part.size();
  }
  const XXH128_hash_t h = XXH3_128bits(buf, total);
  return digest{h.low64, h.high64, 128};
}

/// `make_event_digest` as 32 hex digits: the `event_id` of events.
[[nodiscard]] inline std::string make_event_id(std::string_view partition, std::string_view id,
                                               event_type type, std::string_view updated,
                                               const digest& hash) {
  return make_event_digest(partition, id, type, updated, hash).to_hex();
}

}  // namespace sincehash

#endif  // SINCEHASH_EVENTS_HPP
