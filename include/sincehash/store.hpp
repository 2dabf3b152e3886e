#ifndef SINCEHASH_STORE_HPP
#define SINCEHASH_STORE_HPP

// The state store contract. A store keeps, per partition (e.g. "instance-42/contacts"):
//   - record states: id -> (digest, fingerprint id, updated, last seen, expiry, sealed bytes,
//     per-field digests);
//   - the committed offset, with its type;
//   - a table of fingerprints (hashing settings) interned to small ids;
//   - the state of a running full rescan (the ids seen so far) and the time the last one completed.
//
// A back end is any class offering the member functions listed below (static polymorphism; the
// `is_state_store` trait checks them). Every back end promises:
//   - Partitions are independent: no call on one partition reads or changes another's data.
//   - `commit` is one atomic operation: after it returns every upsert, erasure, the offset and
//     the rescan marks are visible together; when it throws, none of them is (also when the
//     failure happens between two row writes, which `fault_hook` lets tests provoke).
//   - The offset never moves backwards: a commit whose offset compares lower than (or equal to)
//     the stored one leaves the stored one as it is and still applies the rest of the batch.
//   - Thread safety: every member function may be called from several threads at once; commits
//     on one partition are serialised, commits on different partitions may run concurrently
//     (back ends document how much they actually run in parallel).
//   - Each call is one round trip to the back end for a whole batch (remote back ends), and
//     writes rows in key order (byte-wise order of the ids).
//
// Member functions of a store `S` (`p` is the partition key; ids are arbitrary bytes):
//   std::vector<std::optional<record_state>> get_many(std::string_view p,
//                                                     const std::vector<std::string_view>& ids);
//       The states of `ids`, position by position (duplicates allowed; nullopt = no state).
//       Expired states are returned as stored: test them with `expired(state, now)`.
//   void commit(std::string_view p, const commit_batch& batch);
//       Applies the batch atomically (see `commit_batch`). Throws `sincehash::error`:
//       `errc::invalid_argument` for a malformed batch (an id both upserted and erased, an
//       offset of another kind than the stored one), `errc::conflict` when `complete_rescan` is
//       set but no rescan is active or another writer holds the lock past the timeout,
//       `errc::store_error` when the back end fails. An exception thrown by a `fault_hook`
//       propagates unchanged. In every case nothing of the batch is visible.
//   store_snapshot snapshot(std::string_view p, const std::vector<std::string_view>& ids);
//       What a batch is classified against, read at one point in time (one round trip on a
//       remote back end): the offset, whether a rescan is active, the partition's write
//       sequence, and the states of `ids` with their versions (see `store_snapshot`).
//   std::optional<offset_value> offset(std::string_view p);
//       The committed offset; nullopt when none was committed or it was reset (a full sync).
//   void reset_offset(std::string_view p, bool forget_records);
//       Forgets the offset. With `forget_records`, also erases every record state of `p` and
//       abandons a running rescan. Fingerprint ids and the last rescan time are kept.
//   std::uint32_t intern_fingerprint(std::string_view p, std::string_view text);
//       A small id (>= 1) for `text`, the same for the same text on the same partition for the
//       life of the store; written immediately (it is not state whose loss loses a change).
//   std::optional<std::string> fingerprint_text(std::string_view p, std::uint32_t id);
//       The text interned under `id`, nullopt when unknown.
//   template <class F> void for_each(std::string_view p, F&& f);
//       Calls `f(std::string_view id, const record_state&)` for every state of `p` (order
//       unspecified). `f` must not call the same store; the views live only during the call.
//   std::size_t purge_expired(instant now);
//   std::size_t purge_expired(std::string_view p, instant now);
//       Erase every state with `expires <= now` (of all partitions / of `p`); return how many.
//   std::size_t count(std::string_view p);
//       The number of record states of `p` (expired ones included until purged).
//   std::vector<std::string> partitions();
//       Every partition holding a state, an offset, a fingerprint or rescan data; sorted.
//   void begin_rescan(std::string_view p);
//       Starts a rescan of `p`, forgetting the marks of a running one (so an interrupted rescan
//       can be restarted without its marks ever causing a false delete).
//   void abandon_rescan(std::string_view p);
//       Stops a running rescan and forgets its marks; the last rescan time is not changed.
//   bool rescan_active(std::string_view p);
//       True from `begin_rescan` until a commit completes it, it is abandoned or the records
//       are forgotten. It survives a restart of the process (durable back ends).
//   std::vector<std::string> rescan_unseen(std::string_view p);
//       The ids of `p` with a state that no committed batch of the running rescan marked or
//       upserted; sorted; empty when no rescan is active.
//   std::optional<instant> last_rescan(std::string_view p);
//       The `rescan_completed_at` of the last commit that completed a rescan of `p`.
//   lease_result acquire_lease(std::string_view p, std::string_view owner,
//                              std::chrono::milliseconds ttl);
//   bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl);
//   bool release_lease(const store_lease& lease);
//       The partition's lease with a fencing token (store/lease.hpp): one holder at a time; a
//       grant fences this store object's later commits on `p` with its token.
//
// Versions and conditional commits. Every partition has a write sequence, a number that grows
// with every change to the partition's record states, offset or rescan state (a commit that
// writes anything, a reset, a rescan begun or abandoned, a purge that removed something). A
// record state's version is the sequence of the change that last wrote it: never 0, and never
// the same for two different writes of one id while the partition exists (an id erased and
// written again gets a new, larger version). A commit with `expect` applies only when, for
// every (id, version) there, the id's state still has that version (0: the id still has no
// state); otherwise it throws `commit_conflict` naming the ids and applies nothing. When
// `read_sequence` is set and the partition's sequence is still that value, no write happened
// since the snapshot and a back end may skip the per-id checks.

#include <sincehash/digest.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store/lease.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sincehash {

/// What a store remembers about one record id. Plain value type.
struct record_state {
  digest hash;  ///< the watched-field digest (64 or 128 bits; empty allowed)
  std::uint32_t fingerprint =
      0;  ///< id from `intern_fingerprint` of the settings `hash` was made under; 0 = none
  std::optional<instant> updated;  ///< the record's updated date (UTC), when the source has one
  instant last_seen{};             ///< when the record was last written to the store (caller's clock, UTC)
  std::optional<instant> expires;  ///< when the state stops counting (UTC); nullopt = never
  /// Opaque bytes a decorating store (store/encrypted.hpp) keeps in place of fields it hides;
  /// every back end persists them byte-exact beside the other fields. Empty for a plain state.
  std::string sealed;
  /// The per-field digests (`reportChanges`): 4 bytes per watched path, little-endian, in the
  /// hasher's canonical path order, made under `fingerprint`; empty when none are kept. Every
  /// back end persists them byte-exact; an encrypting store seals them like `hash`.
  std::string fields;

  friend bool operator==(const record_state& a, const record_state& b) noexcept {
    return a.hash == b.hash && a.fingerprint == b.fingerprint && a.updated == b.updated &&
           a.last_seen == b.last_seen && a.expires == b.expires && a.sealed == b.sealed &&
           a.fields == b.fields;
  }
  friend bool operator!=(const record_state& a, const record_state& b) noexcept { return !(a == b); }
};

/// How an offset compares. The numeric values are stable (they are stored).
enum class offset_kind : std::uint8_t {
  instant = 0,  ///< a date: compared by `number`, nanoseconds since 1970-01-01T00:00Z
  integer = 1,  ///< a sequence number: compared by `number` as a signed 64-bit integer
  string = 2,   ///< an opaque cursor: compared byte-wise by `text` (unsigned bytes)
};

/// A committed offset: the value as the source wrote it plus a form every back end can compare
/// without parsing source-formatted text.
struct offset_value {
  offset_kind kind = offset_kind::string;  ///< how `number`/`text` compare
  std::string text;                        ///< exactly as the source wrote it (returned by `since`)
  std::int64_t number = 0;  ///< ns since the epoch (instant) or the value (integer); 0 for string

  /// An instant offset: compares by `at`, remembers `text` for display and re-sending.
  [[nodiscard]] static offset_value from_instant(instant at, std::string text) {
    return offset_value{offset_kind::instant, std::move(text), at.time_since_epoch().count()};
  }
  /// An integer offset: compares by `value`.
  [[nodiscard]] static offset_value from_integer(std::int64_t value, std::string text) {
    return offset_value{offset_kind::integer, std::move(text), value};
  }
  /// An integer offset written as its decimal digits.
  [[nodiscard]] static offset_value from_integer(std::int64_t value) {
    return from_integer(value, std::to_string(value));
  }
  /// A string offset: compares byte-wise.
  [[nodiscard]] static offset_value from_string(std::string text) {
    return offset_value{offset_kind::string, std::move(text), 0};
  }

  friend bool operator==(const offset_value& a, const offset_value& b) noexcept {
    return a.kind == b.kind && a.text == b.text && a.number == b.number;
  }
  friend bool operator!=(const offset_value& a, const offset_value& b) noexcept { return !(a == b); }
};

/// Orders two offsets of the same kind: negative, zero or positive as `a` is before, level with
/// or after `b`. Offsets of different kinds are not comparable: throws `sincehash::error` with
/// `errc::invalid_argument`, naming both kinds.
[[nodiscard]] inline int compare_offsets(const offset_value& a, const offset_value& b) {
  if (a.kind != b.kind) {
    static constexpr const char* names[] = {"instant", "integer", "string"};
    auto name = [](offset_kind k) {
      auto i = static_cast<std::size_t>(k);
      return i < 3 ? names[i] : "unknown";
    };
    throw error(errc::invalid_argument, std::string("an offset of kind ") + name(a.kind) +
                                            " cannot be compared with one of kind " + name(b.kind) +
                                            "; reset the offset after changing its type");
  }
  if (a.kind == offset_kind::string) {
    int c = std::string_view(a.text).compare(b.text);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return a.number < b.number ? -1 : (a.number > b.number ? 1 : 0);
}

/// What a batch is classified against, read at one point in time by `snapshot`.
struct store_snapshot {
  std::optional<offset_value> offset;  ///< the committed offset; nullopt for a full sync
  bool rescan_active = false;          ///< true while a rescan runs
  std::uint64_t sequence = 0;          ///< the partition's write sequence (0: never written)
  /// The states of the requested ids, position by position (nullopt = no state). Expired states
  /// are returned as stored.
  std::vector<std::optional<record_state>> states;
  /// Each state's version, position by position; 0 where there is no state.
  std::vector<std::uint64_t> versions;
};

/// Everything one commit writes, applied atomically by `commit`. Rows are written in byte-wise
/// id order whatever the order here. An id may appear several times in `upserts` (the last one
/// wins) but not in both `upserts` and `erasures`. A digest must be well formed: `bits` 0 with
/// both halves zero, 64 with `high` zero, or 128.
struct commit_batch {
  /// New or changed states. Leave out records that came back unchanged: an unchanged record
  /// costs no write unless its updated date got newer or `refresh_due` says so.
  std::vector<std::pair<std::string, record_state>> upserts;
  /// Ids whose state is removed (deleted records); an absent id is not an error.
  std::vector<std::string> erasures;
  /// The new offset; ignored when it does not compare after the stored one.
  std::optional<offset_value> offset;
  /// Ids seen by the running rescan that are not in `upserts` (upserted ids count as seen
  /// while a rescan is active). Ignored when no rescan is active.
  std::vector<std::string> rescan_seen;
  /// Completes the running rescan: forgets its marks and records `rescan_completed_at`.
  /// The caller puts the ids from `rescan_unseen` into `erasures` of the same batch.
  bool complete_rescan = false;
  /// The completion time kept as `last_rescan` (caller's clock, UTC); used with `complete_rescan`.
  instant rescan_completed_at{};
  /// The conditions of the commit: (id, version) pairs as read by `snapshot`, version 0 for an
  /// id that had no state. The commit applies only if every one still holds; otherwise it
  /// throws `commit_conflict` and applies nothing. Empty: the commit is unconditional.
  std::vector<std::pair<std::string, std::uint64_t>> expect;
  /// The `store_snapshot::sequence` the conditions were read at (see the store contract above).
  std::optional<std::uint64_t> read_sequence;
};

/// A test-only hook a back end calls inside `commit` before each row write, with the 0-based
/// index of that write. Throwing from it aborts the commit, which must then leave nothing
/// visible; the exception reaches the caller of `commit` unchanged.
using fault_hook = std::function<void(std::size_t write_index)>;

/// True when `state` has expired at `now` (UTC): its expiry is set and not after `now`. An
/// expired state counts as never seen.
[[nodiscard]] inline bool expired(const record_state& state, instant now) noexcept {
  return state.expires.has_value() && *state.expires <= now;
}

/// True when an unchanged record's state should be written again to keep its expiry fresh:
/// with a positive `ttl`, when it has no expiry or at least a quarter of `ttl` passed since the
/// expiry was last set to `now + ttl` (so a TTL refresh costs at most one write per quarter
/// TTL); with no TTL (`ttl <= 0`), when the state still carries an expiry to clear.
[[nodiscard]] inline bool refresh_due(const record_state& state, instant now,
                                      std::chrono::nanoseconds ttl) noexcept {
  if (ttl <= std::chrono::nanoseconds::zero()) return state.expires.has_value();
  if (!state.expires) return true;
  return *state.expires - now <= ttl - ttl / 4;
}

namespace detail {

template <class...>
using store_void_t = void;

using store_visit_fn = void (*)(std::string_view, const record_state&);

template <class S, class = void>
struct store_has_members : std::false_type {};

template <class S>
struct store_has_members<
    S, store_void_t<
           decltype(std::declval<S&>().get_many(std::string_view{},
                                                std::declval<const std::vector<std::string_view>&>())),
           decltype(std::declval<S&>().commit(std::string_view{}, std::declval<const commit_batch&>())),
           decltype(std::declval<S&>().offset(std::string_view{})),
           decltype(std::declval<S&>().reset_offset(std::string_view{}, true)),
           decltype(std::declval<S&>().intern_fingerprint(std::string_view{}, std::string_view{})),
           decltype(std::declval<S&>().fingerprint_text(std::string_view{}, std::uint32_t{})),
           decltype(std::declval<S&>().for_each(std::string_view{}, store_visit_fn{})),
           decltype(std::declval<S&>().purge_expired(instant{})),
           decltype(std::declval<S&>().purge_expired(std::string_view{}, instant{})),
           decltype(std::declval<S&>().count(std::string_view{})), decltype(std::declval<S&>().partitions()),
           decltype(std::declval<S&>().begin_rescan(std::string_view{})),
           decltype(std::declval<S&>().abandon_rescan(std::string_view{})),
           decltype(std::declval<S&>().rescan_active(std::string_view{})),
           decltype(std::declval<S&>().rescan_unseen(std::string_view{})),
           decltype(std::declval<S&>().last_rescan(std::string_view{})),
           decltype(std::declval<S&>().snapshot(std::string_view{},
                                                std::declval<const std::vector<std::string_view>&>())),
           decltype(std::declval<S&>().acquire_lease(std::string_view{}, std::string_view{},
                                                     std::chrono::milliseconds{})),
           decltype(std::declval<S&>().renew_lease(std::declval<const store_lease&>(),
                                                   std::chrono::milliseconds{})),
           decltype(std::declval<S&>().release_lease(std::declval<const store_lease&>()))>> : std::true_type {
};

template <class S, bool = store_has_members<S>::value>
struct store_types_match : std::false_type {};

template <class S>
struct store_types_match<S, true>
    : std::integral_constant<
          bool,
          std::is_same<decltype(std::declval<S&>().get_many(
                           std::string_view{}, std::declval<const std::vector<std::string_view>&>())),
                       std::vector<std::optional<record_state>>>::value &&
              std::is_same<decltype(std::declval<S&>().offset(std::string_view{})),
                           std::optional<offset_value>>::value &&
              std::is_same<decltype(std::declval<S&>().intern_fingerprint(std::string_view{},
                                                                          std::string_view{})),
                           std::uint32_t>::value &&
              std::is_convertible<decltype(std::declval<S&>().purge_expired(instant{})),
                                  std::size_t>::value &&
              std::is_convertible<decltype(std::declval<S&>().count(std::string_view{})),
                                  std::size_t>::value &&
              std::is_convertible<decltype(std::declval<S&>().rescan_active(std::string_view{})),
                                  bool>::value &&
              std::is_same<decltype(std::declval<S&>().rescan_unseen(std::string_view{})),
                           std::vector<std::string>>::value &&
              std::is_same<decltype(std::declval<S&>().last_rescan(std::string_view{})),
                           std::optional<instant>>::value &&
              std::is_same<decltype(std::declval<S&>().snapshot(
                               std::string_view{}, std::declval<const std::vector<std::string_view>&>())),
                           store_snapshot>::value &&
              std::is_same<decltype(std::declval<S&>().acquire_lease(std::string_view{}, std::string_view{},
                                                                     std::chrono::milliseconds{})),
                           lease_result>::value> {};

}  // namespace detail

/// True when `S` offers every member function of the store contract with the documented types.
template <class S>
struct is_state_store : detail::store_types_match<S> {};

/// `is_state_store<S>::value`.
template <class S>
inline constexpr bool is_state_store_v = is_state_store<S>::value;

}  // namespace sincehash

#endif  // SINCEHASH_STORE_HPP
