#ifndef SINCEHASH_DETECTOR_HPP
#define SINCEHASH_DETECTOR_HPP

// The assembled pipeline: classify a polled batch into events, then — only after the caller
// delivered them — commit the new record states and offset in one atomic store operation.
//
//   change_detector<memory_store> d(store, "instance-42/contacts", settings);
//   auto url = d.since_url();                 // ask the source for what changed
//   auto out = d.process(records);            // classify; writes nothing
//   deliver(out.events);                      // the caller's dispatch
//   d.commit(out.pending);                    // only now: states + offset, atomically
//
// Classification of one record, in this order: invalid (not JSON, not an object, no id, no or
// an unparseable updated date where one is configured) → first sighting (never seen, or its
// state expired) dispatched → older updated date than stored: stale → same watched-field hash:
// unchanged → otherwise updated, dispatched. Copies of one id in one batch are classified in
// input order, each against the one before. A record hashed under other settings (its
// fingerprint differs) is dispatched only when its updated date is newer; otherwise it is
// re-hashed silently, so changing the watched fields causes no storm of events.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sincehash/detail/xxhash.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/hasher.hpp"
#include "sincehash/offset.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/store.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

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

/// One input record: its bytes and its 1-based position (what `record_reader` produces).
struct input_record {
  std::string_view bytes;
  std::size_t position = 0;
  /// How many readable bytes follow `bytes` in memory (their contents do not matter): with
  /// enough of them a fast access policy reads the record in place instead of copying it.
  std::size_t padding = 0;
};

namespace detail {

template <class R, class = void>
struct record_padding {
  static std::size_t of(const R&) noexcept { return 0; }
};
template <class R>
struct record_padding<R, std::void_t<decltype(std::declval<const R&>().padding)>> {
  static std::size_t of(const R& r) noexcept { return static_cast<std::size_t>(r.padding); }
};

}  // namespace detail

/// The default clock: the system's UTC clock.
struct system_clock_source {
  /// Now, UTC.
  [[nodiscard]] instant now() const noexcept {
    return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  }
};

/// A clock fixed at one instant (tests, `--now`), or following the system clock when unset.
struct fixed_clock {
  std::optional<instant> at;
  [[nodiscard]] instant now() const noexcept { return at ? *at : system_clock_source{}.now(); }
};

/// The event id of (partition, record id, type, updated value, watched hash): 32 hex digits of
/// XXH3-128 over a length-prefixed encoding of the five, so a re-delivery of the same event has
/// the same id while a change A→B→A yields three distinct ones.
[[nodiscard]] inline std::string make_event_id(std::string_view partition, std::string_view id,
                                               event_type type, std::string_view updated,
                                               const digest& hash) {
  const std::string hex = hash.to_hex();
  const std::string_view label("sincehash-event-1");
  const std::string_view type_name(to_string(type));
  const std::string_view parts[] = {label, partition, id, type_name, updated, hex};
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
  return digest{h.low64, h.high64, 128}.to_hex();
}

namespace detail {

// A record after extraction, before classification. Its id and updated text live in the
// detector's per-batch arena: first as offsets (the arena grows while records are read), then,
// once every record was read, as views.
struct extracted_record {
  std::size_t index = 0;  // in the batch
  std::size_t id_at = 0, id_size = 0;
  std::size_t updated_at = 0, updated_size = 0;
  std::string_view id;
  value_kind id_kind = value_kind::string;
  std::string_view updated_text;
  value_kind updated_kind = value_kind::missing;
  std::optional<instant> updated;
  std::optional<instant> created;
  digest hash;
};

// Which earlier record of a batch had the same id: an open-addressing table of record indices,
// sized once per batch (no allocation per record).
class batch_id_index {
 public:
  explicit batch_id_index(std::size_t count) {
    std::size_t size = 16;
    while (size < 2 * count) size *= 2;
    slots_.assign(size, -1);
    mask_ = size - 1;
  }

  // Makes `k` the latest record with `id` (`ids[k] == id`); returns the one before, or -1.
  template <class Ids>
  std::ptrdiff_t exchange(std::string_view id, std::ptrdiff_t k, const Ids& ids) {
    for (std::size_t at = XXH3_64bits(id.data(), id.size()) & mask_;; at = (at + 1) & mask_) {
      std::ptrdiff_t& slot = slots_[at];
      if (slot < 0) {
        slot = k;
        return -1;
      }
      if (ids(slot) == id) {
        const std::ptrdiff_t before = slot;
        slot = k;
        return before;
      }
    }
  }

  // The latest record with `id`, or -1.
  template <class Ids>
  [[nodiscard]] std::ptrdiff_t find(std::string_view id, const Ids& ids) const {
    for (std::size_t at = XXH3_64bits(id.data(), id.size()) & mask_;; at = (at + 1) & mask_) {
      const std::ptrdiff_t slot = slots_[at];
      if (slot < 0) return -1;
      if (ids(slot) == id) return slot;
    }
  }

 private:
  std::vector<std::ptrdiff_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace detail

/// Classifies polled records and commits their state. `Store` is any state store (store.hpp),
/// `Hasher` a `field_hasher` (its access policy reads the records), `Clock` anything with
/// `instant now() const`. Not thread-safe: one detector per partition and thread (except that
/// `read` and `classify` may overlap, see `read`); several detectors (in several processes, with a
/// shared store) may work on different partitions.
template <class Store, class Hasher = field_hasher<>, class Clock = system_clock_source>
class change_detector {
  static_assert(is_state_store<Store>::value,
                "sincehash::change_detector requires Store to satisfy the state store contract (store.hpp)");

 public:
  /// Works on `partition` of `store` (not owned; must outlive the detector) with `settings`.
  /// Throws `sincehash::error` (config_error) when the settings cannot be compiled.
  change_detector(Store& store, std::string partition, resource_settings settings, Clock clock = Clock{})
      : store_(&store),
        partition_(std::move(partition)),
        settings_(std::move(settings)),
        clock_(std::move(clock)),
        hasher_(make_hasher(settings_)) {
    fingerprint_ = store_->intern_fingerprint(partition_, hasher_.fingerprint());
  }

  /// As above, hashing with `algorithm`: for an algorithm that needs run-time state, such as a
  /// keyed hash whose key is derived for this partition. `Hasher` is built from the settings and
  /// `algorithm` (a `field_hasher<Algorithm, Access>` is).
  template <class Algorithm>
  change_detector(Store& store, std::string partition, resource_settings settings, Clock clock,
                  Algorithm algorithm)
      : store_(&store),
        partition_(std::move(partition)),
        settings_(std::move(settings)),
        clock_(std::move(clock)),
        hasher_(make_hasher(settings_, std::move(algorithm))) {
    fingerprint_ = store_->intern_fingerprint(partition_, hasher_.fingerprint());
  }

  /// The partition this detector works on.
  [[nodiscard]] const std::string& partition() const noexcept { return partition_; }
  /// The settings it runs on.
  [[nodiscard]] const resource_settings& settings() const noexcept { return settings_; }

  /// The committed offset; nullopt means the next poll is a full sync.
  [[nodiscard]] std::optional<offset_value> offset() const { return store_->offset(partition_); }

  /// The since value to send next: nullopt for a full sync; else the stored offset as the source
  /// wrote it, or, with a lookback, the offset minus the lookback written in the updated-date
  /// format. The source is to be asked with `>=` (inclusive): records at the offset come back
  /// and are filtered as unchanged, so nothing sharing the offset's timestamp is lost.
  [[nodiscard]] std::optional<std::string> since() const {
    auto off = offset();
    if (!off) return std::nullopt;
    if (settings_.lookback && off->kind == offset_kind::instant && settings_.updated) {
      return settings_.updated->format.format(offset_instant(*off) - *settings_.lookback);
    }
    return off->text;
  }

  /// The instant to expand the URL template with: the offset (minus the lookback), or for a full
  /// sync `initialSince` (default 1970-01-01T00:00:00Z), which asks the source for everything.
  [[nodiscard]] instant since_instant() const {
    auto off = offset();
    if (off && off->kind == offset_kind::instant) {
      instant at = offset_instant(*off);
      if (settings_.lookback) at -= *settings_.lookback;
      return at;
    }
    if (settings_.initial_since) {
      auto t = parse_iso8601(*settings_.initial_since);
      if (t) return *t;
    }
    return instant{};
  }

  /// The resource's URL template expanded with `since_instant()`.
  [[nodiscard]] result<std::string> since_url() const {
    return expand_url_template(settings_.url, since_instant());
  }

 private:
  // One record's reading: the record extracted, or why it is invalid.
  struct read_slot {
    detail::extracted_record item;
    std::string reason;
    bool ok = false;
    bool is_json = false;
  };

 public:
  /// A batch read (parsed, hashed, its dates parsed) and not yet classified: made by `read`,
  /// used up by `classify`. It refers to the records' bytes, which must stay valid until the
  /// events of `classify` were delivered.
  class read_batch {
   public:
    read_batch() = default;
    /// How many records it holds.
    [[nodiscard]] std::size_t size() const noexcept { return inputs_.size(); }

   private:
    friend class change_detector;
    std::vector<input_record> inputs_;
    std::vector<read_slot> slots_;
    std::string arena_;  // ids and updated texts of the batch
  };

  /// Classifies `records` (each with its bytes and position): `classify(read(records))`. Reads
  /// the store (one batch read), writes nothing. In strict mode an invalid record throws
  /// `sincehash::error` (invalid_record).
  template <class Records>
  [[nodiscard]] batch_result process(const Records& records) {
    return classify(read(records));
  }

  /// The first half of `process`: reads `records` (parses and hashes them, parses their dates)
  /// without touching the store, with the reader threads (`set_reader_threads`). `read` may run
  /// on one thread while `classify` runs on another (the next batch read while the one before is
  /// classified); two `read`s, or two `classify`s, may not run at once.
  template <class Records>
  [[nodiscard]] read_batch read(const Records& records) {
    read_batch b;
    b.inputs_.reserve(records.size());
    for (const auto& r : records) {
      using record_type = std::decay_t<decltype(r)>;
      b.inputs_.push_back(input_record{r.bytes, r.position, detail::record_padding<record_type>::of(r)});
    }
    b.slots_.resize(b.inputs_.size());
    read_all(b.inputs_, b.slots_, b.arena_);
    return b;
  }

  /// The second half of `process`: classifies a batch read by `read` against the store, in
  /// input order. Read batches are classified in the order they were read.
  [[nodiscard]] batch_result classify(read_batch batch) {
    batch_result out;
    const instant now = clock_.now();
    const std::optional<offset_value> stored_offset = store_->offset(partition_);
    const bool rescanning = store_->rescan_active(partition_);
    const std::vector<input_record>& inputs = batch.inputs_;

    std::vector<detail::extracted_record> items;
    items.reserve(inputs.size());
    out.stats.processed = inputs.size();
    std::vector<std::pair<std::size_t, std::size_t>> invalid_ids;  // arena spans, for rescan marks

    const std::string_view arena(batch.arena_);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      read_slot& slot = batch.slots_[i];
      if (!slot.ok) {
        reject(out, inputs[i], arena, slot.item, std::move(slot.reason), slot.is_json);
        if (rescanning && slot.item.id_size != 0)
          invalid_ids.emplace_back(slot.item.id_at, slot.item.id_size);
        continue;
      }
      items.push_back(slot.item);
    }
    for (auto& item : items) {
      item.id = arena.substr(item.id_at, item.id_size);
      item.updated_text = arena.substr(item.updated_at, item.updated_size);
    }

    // One round trip for the batch.
    std::vector<std::string_view> ids;
    ids.reserve(items.size());
    for (const auto& it : items) ids.push_back(it.id);
    const std::vector<std::optional<record_state>> stored = store_->get_many(partition_, ids);

    // Copies of one id in one batch: each is classified against the state the one before left.
    const auto id_of = [&items](std::ptrdiff_t k) { return items[static_cast<std::size_t>(k)].id; };
    detail::batch_id_index by_id(items.size());
    // Where the state each record left lives: nowhere (-1), stored[j] (j), or the upsert u
    // (-2 - u). Copies of an id refer to the same upsert, so nothing is copied per record.
    std::vector<std::ptrdiff_t> left(items.size(), -1);
    auto& upserts = out.pending.batch.upserts;
    const auto state_at = [&](std::ptrdiff_t ref) -> const record_state* {
      if (ref >= 0) return &*stored[static_cast<std::size_t>(ref)];
      if (ref == -1) return nullptr;
      return &upserts[static_cast<std::size_t>(-2 - ref)].second;
    };
    std::vector<std::size_t> unwritten;  // records not written, for rescan marks
    since_tracker<instant> tracker = make_tracker(stored_offset);
    std::optional<instant> stored_at;
    if (stored_offset && stored_offset->kind == offset_kind::instant)
      stored_at = offset_instant(*stored_offset);
    std::optional<instant> max_at;
    std::string_view max_text;

    for (std::size_t k = 0; k < items.size(); ++k) {
      auto& item = items[k];
      const input_record& in = inputs[item.index];
      const std::ptrdiff_t before = by_id.exchange(item.id, static_cast<std::ptrdiff_t>(k), id_of);
      const std::ptrdiff_t prior_ref = before >= 0 ? left[static_cast<std::size_t>(before)]
                                       : stored[k] ? static_cast<std::ptrdiff_t>(k)
                                                   : -1;
      const record_state* prior = state_at(prior_ref);
      const bool seen = prior != nullptr && !expired(*prior, now);

      if (item.updated) {
        const auto obs = tracker.observe(*item.updated, now);
        if (obs != observe_result::accepted) out.notices.push_back({in.position, observe_message(obs, item)});
        if (obs != observe_result::future_skewed && (!max_at || *item.updated > *max_at)) {
          max_at = item.updated;
          max_text = item.updated_text;  // the offset is kept as the source wrote it
        }
      }

      record_state next;
      next.hash = item.hash;
      next.fingerprint = fingerprint_;
      next.updated = item.updated;
      next.last_seen = now;
      if (settings_.ttl) next.expires = now + *settings_.ttl;

      bool dispatch = false;
      bool write = false;
      if (!seen) {
        dispatch = true;
        write = true;
      } else if (item.updated && prior->updated && *item.updated < *prior->updated) {
        ++out.stats.stale;
      } else if (prior->fingerprint != fingerprint_) {
        const bool newer = item.updated && (!prior->updated || *item.updated > *prior->updated);
        if (newer) {
          dispatch = true;
        } else {
          ++out.stats.unchanged;  // re-baselined under the new settings, silently
        }
        write = true;
      } else if (prior->hash == item.hash) {
        ++out.stats.unchanged;
        const bool newer = item.updated && (!prior->updated || *item.updated > *prior->updated);
        if (newer) {
          write = true;  // keep the newer date, so an older copy arriving later is stale
        } else if (refresh_due(*prior, now, settings_.ttl.value_or(std::chrono::nanoseconds::zero()))) {
          write = true;
        }
        if (!newer && prior->updated && !item.updated) next.updated = prior->updated;
      } else {
        dispatch = true;
        write = true;
      }

      if (dispatch) {
        const event_type type = classify_type(item, seen, stored_at);
        ++(type == event_type::created ? out.stats.created : out.stats.updated);
        event e;
        e.type = type;
        e.id.assign(item.id.data(), item.id.size());
        e.id_kind = item.id_kind;
        e.updated.assign(item.updated_text.data(), item.updated_text.size());
        e.updated_kind = item.updated_kind;
        e.event_id = make_event_id(partition_, item.id, type, item.updated_text, item.hash);
        e.record = in.bytes;
        e.position = in.position;
        out.events.push_back(std::move(e));
      }
      if (write) {
        if (prior_ref <= -2) {
          upserts[static_cast<std::size_t>(-2 - prior_ref)].second = std::move(next);
          left[k] = prior_ref;
        } else {
          left[k] = -2 - static_cast<std::ptrdiff_t>(upserts.size());
          upserts.emplace_back(std::string(item.id), std::move(next));
        }
      } else {
        left[k] = prior_ref;
        if (rescanning) unwritten.push_back(k);
      }
    }

    if (rescanning) {
      // Ids seen but not upserted are marked; an id upserted anywhere in the batch needs no mark.
      auto& marks = out.pending.batch.rescan_seen;
      const auto upserted = [&](std::string_view id) {
        const std::ptrdiff_t last = by_id.find(id, id_of);
        return last >= 0 && left[static_cast<std::size_t>(last)] <= -2;
      };
      for (const auto& span : invalid_ids) {
        const std::string_view id = arena.substr(span.first, span.second);
        if (!upserted(id)) marks.emplace_back(id);
      }
      for (std::size_t k : unwritten) {
        if (!upserted(items[k].id)) marks.emplace_back(items[k].id);
      }
    }

    tracker.finish();
    if (tracker.pending() && (!stored_at || *tracker.pending() > *stored_at)) {
      std::string text = max_at && max_at == tracker.pending() ? std::string(max_text)
                                                               : format_rfc3339(*tracker.pending(), 9);
      out.pending.batch.offset = offset_value::from_instant(*tracker.pending(), std::move(text));
      out.pending.offset_after = out.pending.batch.offset;
    } else {
      out.pending.offset_after = stored_offset;
    }
    return out;
  }

  /// Reads the records of each batch with up to `n` threads, the calling one included (0 and 1:
  /// the calling thread alone, the default). Only reading is shared out — parsing, hashing,
  /// parsing dates; classification stays on the calling thread, in input order, so every `n`
  /// gives the same results. Batches under 512 records are read by the calling thread alone;
  /// more than 64 threads count as 64.
  void set_reader_threads(unsigned n) { reader_threads_ = n == 0 ? 1 : (n > 64 ? 64 : n); }
  /// See `set_reader_threads`.
  [[nodiscard]] unsigned reader_threads() const noexcept { return reader_threads_; }

  /// Applies `pending` in one atomic store operation. Call it only after the events of the same
  /// `process` call were delivered; a crash before it leaves the old state, so the next poll
  /// re-fetches and re-dispatches (at least once). Throws what the store throws.
  void commit(const pending_commit& pending) {
    if (pending.empty()) return;
    store_->commit(partition_, pending.batch);
  }

  /// Forgets the offset (the next poll is a full sync). With `forget_records`, also every
  /// record state, so every record is dispatched again.
  void reset(bool forget_records = false) { store_->reset_offset(partition_, forget_records); }

  /// True when a full rescan is due by the configured schedule (never rescanned → due); false
  /// when no schedule is configured.
  [[nodiscard]] bool rescan_due() const {
    if (!settings_.rescan) return false;
    return settings_.rescan->due(store_->last_rescan(partition_), clock_.now());
  }

  /// Starts a full rescan: the records processed until `complete_rescan` are the complete
  /// listing of the source. Restarting forgets an interrupted rescan's marks.
  void begin_rescan() { store_->begin_rescan(partition_); }

  /// True while a rescan runs (it survives restarts with a durable store).
  [[nodiscard]] bool rescan_active() const { return store_->rescan_active(partition_); }

  /// Ends a rescan whose every batch was processed and committed: the ids of the partition not
  /// seen in it become `deleted` events (unless deletions are not detected), and the pending
  /// commit erases their state and completes the rescan. Throws `sincehash::error` (conflict)
  /// when no rescan is active.
  [[nodiscard]] batch_result complete_rescan() {
    batch_result out;
    if (!store_->rescan_active(partition_)) {
      throw error(errc::conflict, "no rescan is active on partition " + partition_);
    }
    const instant now = clock_.now();
    std::vector<std::string> unseen = store_->rescan_unseen(partition_);
    if (settings_.detect_deletes && !unseen.empty()) {
      std::vector<std::string_view> ids(unseen.begin(), unseen.end());
      auto states = store_->get_many(partition_, ids);
      for (std::size_t i = 0; i < unseen.size(); ++i) {
        event e;
        e.type = event_type::deleted;
        e.id = unseen[i];
        e.id_kind = value_kind::string;
        e.updated_kind = value_kind::missing;
        const digest last = states[i] ? states[i]->hash : digest{};
        e.event_id = make_event_id(partition_, unseen[i], event_type::deleted, {}, last);
        out.events.push_back(std::move(e));
      }
      out.stats.deleted = unseen.size();
      out.pending.batch.erasures = std::move(unseen);
    }
    out.pending.batch.complete_rescan = true;
    out.pending.batch.rescan_completed_at = now;
    out.pending.offset_after = store_->offset(partition_);
    return out;
  }

  /// Abandons a running rescan without reporting deletions.
  void abandon_rescan() { store_->abandon_rescan(partition_); }

  /// The hasher the detector uses (its fingerprint identifies the watched settings).
  [[nodiscard]] const Hasher& hasher() const noexcept { return hasher_; }

 private:
  Store* store_;
  std::string partition_;
  resource_settings settings_;
  Clock clock_;
  Hasher hasher_;
  std::uint32_t fingerprint_ = 0;
  unsigned reader_threads_ = 1;
  std::vector<Hasher> helper_hashers_;      // one per extra reader thread (copies of hasher_)
  std::vector<std::string> helper_arenas_;  // their arenas, appended to the batch's after reading

  // Reads inputs[lo, hi) into slots with `hasher`, ids and dates going to `arena`.
  void read_range(Hasher& hasher, std::string& arena, const std::vector<input_record>& inputs,
                  std::vector<read_slot>& slots, std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) {
      read_slot& slot = slots[i];
      slot.item.index = i;
      slot.ok = extract(hasher, arena, inputs[i], slot.item, slot.reason, slot.is_json);
    }
  }

  // Reads every input, sharing contiguous ranges out to the reader threads; afterwards every
  // arena offset in `slots` refers to `arena`.
  void read_all(const std::vector<input_record>& inputs, std::vector<read_slot>& slots, std::string& arena) {
    const std::size_t n = inputs.size();
    std::size_t threads = reader_threads_;
    if (n < 512) threads = 1;
    if (threads > n / 256) threads = std::max<std::size_t>(1, n / 256);
    if (threads <= 1) {
      read_range(hasher_, arena, inputs, slots, 0, n);
      return;
    }
    while (helper_hashers_.size() < threads - 1) helper_hashers_.push_back(hasher_);
    helper_arenas_.resize(std::max(helper_arenas_.size(), threads - 1));
    // Threads take chunks of records in turn, so that one slowed down (by another process, or
    // a classification running beside) does not hold the others up.
    constexpr std::size_t chunk = 64;
    const std::size_t chunks = (n + chunk - 1) / chunk;
    std::vector<std::uint8_t> owner(chunks);
    std::atomic<std::size_t> next_chunk{0};
    std::atomic<bool> failed{false};
    std::vector<std::exception_ptr> failures(threads);
    const auto work = [&](std::size_t t) {
      Hasher& hasher = t == 0 ? hasher_ : helper_hashers_[t - 1];
      std::string& into = t == 0 ? arena : helper_arenas_[t - 1];
      try {
        for (;;) {
          const std::size_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
          if (c >= chunks || failed.load(std::memory_order_relaxed)) return;
          owner[c] = static_cast<std::uint8_t>(t);
          read_range(hasher, into, inputs, slots, c * chunk, std::min(n, (c + 1) * chunk));
        }
      } catch (...) {
        failures[t] = std::current_exception();
        failed = true;
      }
    };
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) {
      helper_arenas_[t - 1].clear();
      workers.emplace_back(work, t);
    }
    work(0);
    for (auto& w : workers) w.join();
    for (const auto& f : failures) {
      if (f) std::rethrow_exception(f);
    }
    std::vector<std::size_t> base(threads, 0);
    for (std::size_t t = 1; t < threads; ++t) {
      base[t] = arena.size();
      arena += helper_arenas_[t - 1];
    }
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t b = base[owner[c]];
      if (b == 0) continue;
      for (std::size_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
        slots[i].item.id_at += b;
        slots[i].item.updated_at += b;
      }
    }
  }

  static instant offset_instant(const offset_value& off) {
    return instant(std::chrono::nanoseconds(off.number));
  }

  template <class... Algorithm>
  static Hasher make_hasher(const resource_settings& s, Algorithm&&... algorithm) {
    hasher_settings h;
    h.watched = s.watched;
    h.ignored = s.ignored;
    h.normalize = s.normalize;
    h.extract.push_back(s.id_field);
    if (s.updated) h.extract.push_back(s.updated->path);
    if (s.created) h.extract.push_back(s.created->path);
    return Hasher(h, std::forward<Algorithm>(algorithm)...);
  }

  since_tracker<instant> make_tracker(const std::optional<offset_value>& stored) const {
    since_options o;
    o.chronological = settings_.chronological;
    o.max_future_skew = settings_.max_future_skew;
    o.lookback = settings_.lookback;
    std::optional<instant> committed;
    if (stored && stored->kind == offset_kind::instant) committed = offset_instant(*stored);
    return since_tracker<instant>(committed, o);
  }

  static std::string observe_message(observe_result r, const detail::extracted_record& item) {
    if (r == observe_result::future_skewed) {
      return "updated date " + std::string(item.updated_text) +
             " lies too far in the future: the offset does not advance";
    }
    return "updated date " + std::string(item.updated_text) +
           " is earlier than the record before it in a source declared "
           "chronological: the offset advances to the batch's maximum";
  }

  // created vs updated for a dispatched record (see DESIGN: created-date rule).
  event_type classify_type(const detail::extracted_record& item, bool seen,
                           const std::optional<instant>& stored_at) const {
    if (settings_.created && item.created) {
      if (item.updated && *item.created == *item.updated) return event_type::created;
      if (stored_at && *item.created >= *stored_at) return event_type::created;
      return event_type::updated;
    }
    return seen ? event_type::updated : event_type::created;
  }

  void reject(batch_result& out, const input_record& in, std::string_view arena,
              const detail::extracted_record& item, std::string reason, bool is_json) {
    ++out.stats.invalid;
    const std::string id(arena.substr(item.id_at, item.id_size));
    if (settings_.strict) {
      throw error(errc::invalid_record, "record " + std::to_string(in.position) +
                                            (id.empty() ? std::string() : " (id " + id + ")") + ": " +
                                            reason);
    }
    rejected_record r;
    r.position = in.position;
    if (!id.empty()) {
      r.id = id;
      r.id_kind = item.id_kind;
    }
    r.reason = std::move(reason);
    r.record = in.bytes;
    r.record_is_json = is_json;
    out.rejected.push_back(std::move(r));
  }

  // Reads id, dates and digest in one pass. False with a reason when the record is invalid.
  bool extract(Hasher& hasher, std::string& arena, const input_record& in, detail::extracted_record& item,
               std::string& reason, bool& is_json) const {
    auto read = hasher.read(in.bytes, in.padding);
    if (!read) {
      is_json = read.error().code != errc::parse_error;
      reason = read.error().code == errc::parse_error ? "not JSON: " + read.error().describe()
                                                      : read.error().message;
      return false;
    }
    is_json = true;
    const value_view& id = read->extra(0);
    if (id.kind == value_kind::string || id.kind == value_kind::number) {
      item.id_at = arena.size();
      item.id_size = id.text.size();
      arena.append(id.text.data(), id.text.size());
      item.id_kind = id.kind;
    }
    if (id.kind == value_kind::missing) {
      reason = "no id: field \"" + settings_.id_field.text() + "\" is missing";
      return false;
    }
    if (id.kind != value_kind::string && id.kind != value_kind::number) {
      reason = "the id field \"" + settings_.id_field.text() + "\" is not a string or a number";
      return false;
    }
    if (item.id_size == 0) {
      reason = "the id field \"" + settings_.id_field.text() + "\" is empty";
      return false;
    }
    item.hash = read->hash;
    std::size_t next = 1;
    if (settings_.updated) {
      const value_view& v = read->extra(next++);
      if (v.kind != value_kind::string && v.kind != value_kind::number) {
        reason = "no updated date: field \"" + settings_.updated->path.text() + "\" is " +
                 (v.kind == value_kind::missing ? "missing" : "not a string or a number");
        return false;
      }
      auto t = settings_.updated->format.parse(v.text, v.kind == value_kind::number);
      if (!t) {
        reason = "unparseable updated date \"" + std::string(v.text) + "\": " + t.error().describe();
        return false;
      }
      item.updated = *t;
      item.updated_at = arena.size();
      item.updated_size = v.text.size();
      arena.append(v.text.data(), v.text.size());
      item.updated_kind = v.kind;
    }
    if (settings_.created) {
      const value_view& v = read->extra(next++);
      if (v.kind == value_kind::string || v.kind == value_kind::number) {
        auto t = settings_.created->format.parse(v.text, v.kind == value_kind::number);
        if (!t) {
          reason = "unparseable created date \"" + std::string(v.text) + "\": " + t.error().describe();
          return false;
        }
        item.created = *t;
      }
    }
    return true;
  }
};

}  // namespace sincehash

#endif  // SINCEHASH_DETECTOR_HPP
