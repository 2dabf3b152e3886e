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
//
// Cursors (`resource_settings::cursor`): the updated field holds a date (instant, the default),
// a sequence number (integer: a JSON integer or a string of decimal digits, signed 64-bit) or an
// opaque string (a JSON string's text or a number's literal, ordered byte-wise). The offset is
// the batch's typed maximum, stored with its kind and the text the source wrote. An integer is
// kept in the record state's `updated` as that many nanoseconds since the epoch, so an older
// copy is stale exactly as with dates. A string cursor has no stale detection: the state keeps
// no string, so a copy with a lower cursor whose watched fields differ is dispatched as updated.
// After the cursor kind changed, the stored offset is refused (reset it); states written under
// the old kind are compared by hash only, never found stale by a value of the other kind.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sincehash/classify.hpp"
#include "sincehash/cursor.hpp"
#include "sincehash/detail/batch_id_index.hpp"
#include "sincehash/detail/batch_reader.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/events.hpp"
#include "sincehash/hasher.hpp"
#include "sincehash/offset.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/since.hpp"
#include "sincehash/store.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

/// The default clock: the system's UTC clock.
struct system_clock_source {
  /// Now, UTC.
  [[nodiscard]] instant now() const noexcept {
    return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  }
};

/// A clock stopped at one instant (tests, replays); it has no default, so it is never stopped at
/// the epoch by accident.
struct fixed_clock {
  explicit constexpr fixed_clock(instant t) noexcept : at(t) {}
  instant at;  ///< what `now()` always returns
  [[nodiscard]] instant now() const noexcept { return at; }
};

/// The system's UTC clock unless an instant is pinned (a tool's `--now`): one type for both, so
/// a program chooses at run time.
struct pinnable_clock {
  std::optional<instant> pinned;  ///< when set, what `now()` returns
  [[nodiscard]] instant now() const noexcept { return pinned ? *pinned : system_clock_source{}.now(); }
};

namespace detail {

// Makes room in `v`, when it is full, for `rest` more elements at once: the first event or write
// of a batch makes room for the rest of it (a first sync dispatches and writes them all) instead
// of growing by doubling.
template <class Vector>
void room_for_rest(Vector& v, std::size_t rest) {
  if (v.size() == v.capacity()) v.reserve(v.size() + rest);
}

// Everything needed to classify a batch's records again after a conflict: the records, their
// extracted facts and how each was classified. Owned by the batch's pending commit.
struct batch_memo {
  std::vector<input_record> inputs;
  std::string arena;                     // ids and updated texts; `items` view into it
  std::vector<extracted_record> items;   // the valid records, in input order
  std::vector<record_outcome> outcomes;  // per item
  std::vector<digest> event_digests;     // per item: its event's id, empty when not dispatched
  std::optional<offset_value> stored_offset;
  std::optional<instant> stored_at;  // the stored offset as an instant, for the created rule
  run_stats stats;                   // the batch's counts as classified now
  bool rescan_completion = false;    // made by `complete_rescan`
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
    init();
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
    init();
  }

  /// The partition this detector works on.
  [[nodiscard]] const std::string& partition() const noexcept { return partition_; }
  /// The settings it runs on.
  [[nodiscard]] const resource_settings& settings() const noexcept { return settings_; }

  /// The watched paths as configured, in the hasher's canonical path order: bit `i` of an
  /// event's `changed` names entry `i`. Empty unless `reportChanges` is on.
  [[nodiscard]] const std::vector<std::string>& watched_names() const noexcept {
    static const std::vector<std::string> none;
    return watched_names_ ? *watched_names_ : none;
  }

  /// The committed offset; nullopt means the next poll is a full sync.
  [[nodiscard]] std::optional<offset_value> offset() const { return store_->offset(partition_); }

  /// The since value to send next: nullopt for a full sync; else the stored offset as the source
  /// wrote it, or with a lookback: for an instant cursor the offset minus the lookback written in
  /// the updated-date format, for an integer cursor the offset minus the lookback in decimal
  /// (saturating at the lowest 64-bit value, as an instant saturates). A string cursor takes no
  /// lookback. The source is to be asked with `>=` (inclusive): records at the offset come back
  /// and are filtered as unchanged, so nothing sharing the offset's value is lost. Throws
  /// `sincehash::error` (config_error) when the stored offset is of another kind than the
  /// cursor (the cursor was changed without resetting the offset).
  [[nodiscard]] std::optional<std::string> since() const {
    return since_value(settings_, offset(), partition_);
  }

  /// The instant to expand the URL template with (instant cursor): the offset (minus the lookback),
  /// or for a full sync `initialSince` (default 1970-01-01T00:00:00Z), which asks the source for
  /// everything. Throws `sincehash::error` (invalid_argument) for a cursor that is not a date, and
  /// as `since()` for an offset of another kind.
  [[nodiscard]] instant since_instant() const {
    return sincehash::since_instant(settings_, offset(), partition_);
  }

  /// The resource's URL template expanded for the next poll. Every `${since}` becomes the since
  /// text, URL-encoded: `since()`, or on a full sync `initialSince` (instant cursor: the full
  /// sync's instant in the updated-date format; other cursors: `initialSince` as configured, else
  /// empty). With an instant cursor the date placeholders (`${gmtDate:…}`, `${epoch:ms}`) are
  /// expanded with `since_instant()`; with another cursor they are an error (config_error).
  /// Throws as `since()` for an offset of another kind.
  [[nodiscard]] result<std::string> since_url() const {
    return sincehash::since_url(settings_, offset(), partition_);
  }

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
    std::vector<detail::read_slot> slots_;
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
    reader_.read(hasher_, settings_, b.inputs_, b.slots_, b.arena_);
    return b;
  }

  /// The second half of `process`: classifies a batch read by `read` against the store, in
  /// input order, from one snapshot of the store (one round trip). Read batches are classified
  /// in the order they were read.
  [[nodiscard]] batch_result classify(read_batch batch) {
    batch_result out;
    const instant now = clock_.now();
    auto memo = std::make_shared<detail::batch_memo>();
    detail::batch_memo& m = *memo;
    m.inputs = std::move(batch.inputs_);
    m.arena = std::move(batch.arena_);
    const std::string_view arena(m.arena);
    out.stats.processed = m.inputs.size();

    std::vector<std::pair<std::size_t, std::size_t>> invalid_ids;  // arena spans, for rescan marks
    m.items.reserve(m.inputs.size());
    for (std::size_t i = 0; i < m.inputs.size(); ++i) {
      detail::read_slot& slot = batch.slots_[i];
      if (!slot.ok) {
        reject(out, m.inputs[i], arena, slot.item, std::move(slot.reason), slot.is_json);
        if (slot.item.id_size != 0) invalid_ids.emplace_back(slot.item.id_at, slot.item.id_size);
        continue;
      }
      m.items.push_back(slot.item);
    }
    for (auto& item : m.items) {
      item.id = arena.substr(item.id_at, item.id_size);
      item.updated_text = arena.substr(item.updated_at, item.updated_size);
    }
    m.outcomes.assign(m.items.size(), record_outcome::unchanged);
    m.event_digests.assign(m.items.size(), digest{});

    std::vector<std::string_view> ids;
    ids.reserve(m.items.size());
    for (const auto& it : m.items) ids.push_back(it.id);
    const store_snapshot snap = store_->snapshot(partition_, ids);
    if (snap.offset) check_offset_kind(*snap.offset);
    m.stored_offset = snap.offset;
    if (snap.offset && snap.offset->kind == offset_kind::instant) m.stored_at = offset_instant(*snap.offset);

    std::vector<std::size_t> all(m.items.size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    out.pending.memo = memo;
    run_items(out, m, all, snap, now, false);

    const bool rescanning = snap.rescan_active;
    if (dry_rescan_) {
      for (const auto& it : m.items) dry_rescan_->emplace(it.id);
      for (const auto& span : invalid_ids) dry_rescan_->emplace(arena.substr(span.first, span.second));
    }
    if (rescanning) {
      // Ids seen but not upserted are marked (the store drops the marks of upserted ids).
      auto& marks = out.pending.batch.rescan_seen;
      for (const auto& span : invalid_ids) marks.emplace_back(arena.substr(span.first, span.second));
    }

    switch (settings_.cursor) {
      case cursor_kind::instant:
        advance_instant(out, m, snap, now);
        break;
      case cursor_kind::integer: {
        std::optional<std::int64_t> committed;
        if (snap.offset) committed = snap.offset->number;
        advance_offset(
            out, m, snap, committed,
            [](const detail::extracted_record& item) { return item.updated->time_since_epoch().count(); },
            [](std::int64_t v, std::string_view text) {
              return offset_value::from_integer(v, std::string(text));
            });
        break;
      }
      case cursor_kind::string: {
        std::optional<std::string_view> committed;
        if (snap.offset) committed = std::string_view(snap.offset->text);
        advance_offset(
            out, m, snap, committed, [](const detail::extracted_record& item) { return item.updated_text; },
            [](std::string_view v, std::string_view) { return offset_value::from_string(std::string(v)); });
        break;
      }
    }
    m.stats = out.stats;
    return out;
  }

  /// Reads the records of each batch with up to `n` threads (0 and 1: the calling thread alone,
  /// the default). More than one: reading threads of the detector's own, started when a batch
  /// first needs them and kept until it goes, each with its own copy of the hasher; the calling
  /// thread waits for them. Only reading is shared out — parsing, hashing, parsing dates;
  /// classification stays on the calling thread, in input order, so every `n` gives the same
  /// results. Batches under 512 records are read by the calling thread alone; more than 64
  /// threads count as 64. A copy of the detector starts threads of its own.
  void set_reader_threads(unsigned n) { reader_.set_threads(n); }
  /// See `set_reader_threads`.
  [[nodiscard]] unsigned reader_threads() const noexcept { return reader_.threads(); }

  /// Applies `pending` in one atomic store operation, on condition that the state of every record
  /// it writes is still the one it was classified against. Call it only after the events of the
  /// same `process` call were delivered; a crash before it leaves the old state, so the next poll
  /// re-fetches and re-dispatches (at least once). Throws `commit_conflict` when another writer
  /// changed one of those records meanwhile (nothing applied: call `reclassify`), and otherwise
  /// what the store throws.
  void commit(const pending_commit& pending) {
    if (pending.empty()) return;
    store_->commit(partition_, pending.batch);
  }

  /// After `commit(result.pending)` threw `conflict`: re-reads the state of the records it names
  /// and classifies them again — every copy of each in the batch, in input order — against it.
  /// Afterwards `result.events` holds the events this dispatched that were not dispatched before
  /// (deliver them, then commit `result.pending` again), `result.stats` counts the whole batch as
  /// now classified, and `result.rejected` and `result.notices` are empty. A record that is now
  /// a change is dispatched; one that another writer already committed is not dispatched twice.
  void reclassify(batch_result& result, const commit_conflict& conflict) {
    if (!result.pending.memo) {
      throw error(errc::invalid_argument, "reclassify needs a batch_result made by this detector");
    }
    detail::batch_memo& m = *result.pending.memo;
    result.events.clear();
    result.rejected.clear();
    result.notices.clear();
    std::vector<std::string> changed = conflict.ids();
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    const auto is_changed = [&](std::string_view id) {
      return std::binary_search(changed.begin(), changed.end(), id,
                                [](std::string_view a, std::string_view b) { return a < b; });
    };
    commit_batch& b = result.pending.batch;
    const auto drop = [&](auto& v, auto id_of) {
      v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& x) { return is_changed(id_of(x)); }),
              v.end());
    };
    drop(b.upserts, [](const auto& u) -> std::string_view { return u.first; });
    drop(b.expect, [](const auto& e) -> std::string_view { return e.first; });
    b.read_sequence.reset();  // the rows not re-read were read at the earlier sequence

    if (m.rescan_completion) {
      // A record written since the rescan listed it as unseen was seen after all (or is gone):
      // it is no longer deleted. Its `deleted` event was delivered already (at least once).
      const std::size_t before = b.erasures.size();
      drop(b.erasures, [](const std::string& id) -> std::string_view { return id; });
      m.stats.deleted -= before - b.erasures.size();
      result.stats = m.stats;
      return;
    }

    const instant now = clock_.now();
    std::vector<std::size_t> subset;
    std::vector<std::string_view> ids;
    for (std::size_t k = 0; k < m.items.size(); ++k) {
      if (!is_changed(m.items[k].id)) continue;
      subset.push_back(k);
      ids.push_back(m.items[k].id);
    }
    const store_snapshot snap = store_->snapshot(partition_, ids);
    run_items(result, m, subset, snap, now, true);
    if (snap.offset &&
        (!result.pending.offset_after || compare_offsets(*snap.offset, *result.pending.offset_after) > 0)) {
      result.pending.offset_after = snap.offset;
    }
    result.stats = m.stats;
  }

  /// The whole commit protocol: `commit(result.pending)`; on a conflict, `reclassify`, then
  /// `deliver(result.events)` (it must return only once they were delivered) and commit again —
  /// at most `attempts` commits in all, then throws `sincehash::error` (conflict) naming the
  /// records still changing. `result.stats` ends as the batch's final counts.
  template <class Deliver>
  void commit(batch_result& result, Deliver&& deliver, unsigned attempts = 8) {
    for (unsigned attempt = 1;; ++attempt) {
      try {
        commit(result.pending);
        return;
      } catch (const commit_conflict& c) {
        if (attempt >= attempts) {
          throw error(errc::conflict,
                      "partition " + partition_ + ": gave up after " + std::to_string(attempts) +
                          " commits, records are still being changed by another writer: " + c.message());
        }
        reclassify(result, c);
        deliver(static_cast<const std::vector<event>&>(result.events));
      }
    }
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

  /// How a rescan runs.
  enum class rescan_mode : std::uint8_t {
    commit,   ///< the store remembers what it saw; `complete_rescan`'s commit erases the unseen
    dry_run,  ///< nothing is written: the ids seen are kept in memory (for a preview)
  };

  /// Starts a full rescan: the records processed until `complete_rescan` are the complete
  /// listing of the source. Restarting forgets an interrupted rescan's marks. A dry run writes
  /// nothing: it remembers the ids seen by this detector's `classify` calls in memory, and its
  /// batches' pending commits are not to be committed.
  void begin_rescan(rescan_mode mode = rescan_mode::commit) {
    if (mode == rescan_mode::dry_run) {
      dry_rescan_.emplace();
      return;
    }
    dry_rescan_.reset();
    store_->begin_rescan(partition_);
  }

  /// True while a rescan runs (it survives restarts with a durable store).
  [[nodiscard]] bool rescan_active() const { return store_->rescan_active(partition_); }

  /// Ends a rescan whose every batch was processed and committed: the ids of the partition not
  /// seen in it become `deleted` events (unless deletions are not detected), and the pending
  /// commit erases their state and completes the rescan. A state that expired was never seen: it
  /// is erased without an event. After a dry-run rescan, the events are those a real one would
  /// dispatch, and the pending commit is empty. Throws `sincehash::error` (conflict) when no
  /// rescan is active.
  [[nodiscard]] batch_result complete_rescan() {
    batch_result out;
    const instant now = clock_.now();
    auto memo = std::make_shared<detail::batch_memo>();
    memo->rescan_completion = true;
    std::vector<std::string> unseen;
    if (dry_rescan_) {
      store_->for_each(partition_, [&](std::string_view id, const record_state&) {
        if (dry_rescan_->find(id) == dry_rescan_->end()) unseen.emplace_back(id);
      });
      std::sort(unseen.begin(), unseen.end());
    } else {
      if (!store_->rescan_active(partition_)) {
        throw error(errc::conflict, "no rescan is active on partition " + partition_);
      }
      unseen = store_->rescan_unseen(partition_);
    }
    std::vector<std::string_view> ids(unseen.begin(), unseen.end());
    const store_snapshot snap = store_->snapshot(partition_, ids);
    for (std::size_t i = 0; i < unseen.size(); ++i) {
      const std::optional<record_state>& state = snap.states[i];
      if (!state) continue;  // erased meanwhile
      const bool gone = expired(*state, now);
      if (!gone && !settings_.detect_deletes) continue;
      if (!gone) {
        event e;
        e.type = event_type::deleted;
        e.id = unseen[i];
        e.id_kind = value_kind::string;
        e.updated_kind = value_kind::missing;
        e.event_id = make_event_id(partition_, unseen[i], event_type::deleted, {}, state->hash);
        out.events.push_back(std::move(e));
        ++out.stats.deleted;
      }
      if (!snap.versions.empty()) out.pending.batch.expect.emplace_back(unseen[i], snap.versions[i]);
      out.pending.batch.erasures.push_back(std::move(unseen[i]));
    }
    out.pending.offset_after = snap.offset;
    if (dry_rescan_) {
      dry_rescan_.reset();
      out.pending.batch = commit_batch{};
      return out;
    }
    if (!snap.versions.empty()) out.pending.batch.read_sequence = snap.sequence;
    out.pending.batch.complete_rescan = true;
    out.pending.batch.rescan_completed_at = now;
    memo->stats = out.stats;
    out.pending.memo = std::move(memo);
    return out;
  }

  /// Abandons a running rescan without reporting deletions.
  void abandon_rescan() {
    if (dry_rescan_) {
      dry_rescan_.reset();
      return;
    }
    store_->abandon_rescan(partition_);
  }

  /// The hasher the detector uses (its fingerprint identifies the watched settings).
  [[nodiscard]] const Hasher& hasher() const noexcept { return hasher_; }

 private:
  // What a stored fingerprint says about the states hashed under it (see `foreign_cursor`).
  struct fingerprint_info {
    bool other_cursor = false;  // written under another cursor kind: its `updated` compares with nothing
    bool same_hashing = false;  // hashed under the same hashing settings: its hash compares
  };

  Store* store_;
  std::string partition_;
  resource_settings settings_;
  Clock clock_;
  Hasher hasher_;
  std::uint32_t fingerprint_ = 0;
  std::shared_ptr<const std::vector<std::string>> watched_names_;  // set with reportChanges
  detail::batch_reader<Hasher> reader_;                            // reads batches, with the reader threads
  std::optional<std::set<std::string, std::less<>>> dry_rescan_;   // ids seen by a dry-run rescan
  std::map<std::uint32_t, fingerprint_info> fingerprints_;         // other fingerprints met, by id

  static instant offset_instant(const offset_value& off) {
    return instant(std::chrono::nanoseconds(off.number));
  }

  // The text appended to the hasher's fingerprint for a cursor that is not a date (an instant
  // cursor appends nothing, so states written before cursors had kinds keep their fingerprint).
  static constexpr std::string_view cursor_mark = "\ncursor:";

  // Checks the cursor settings and interns the fingerprint: the hashing settings plus the cursor
  // kind, so that a state written under another cursor kind is recognised.
  void init() {
    const cursor_kind c = settings_.cursor;
    const auto refuse = [&](const std::string& what) {
      throw invalid_config("", "resource " + settings_.name + ": " + what +
                                   " needs an instant cursor (the cursor is " + to_string(c) + ")");
    };
    if (c != cursor_kind::instant && settings_.created) refuse("a created-date field");
    if (c != cursor_kind::instant && settings_.lookback) refuse("a lookback duration");
    if (settings_.integer_lookback && c != cursor_kind::integer)
      throw invalid_config("", "resource " + settings_.name +
                                   ": an integer lookback needs an integer cursor (the cursor is " +
                                   to_string(c) + ")");
    if (settings_.integer_lookback && *settings_.integer_lookback < 0)
      throw invalid_config("", "resource " + settings_.name + ": the lookback must not be negative");
    std::string text = hasher_.fingerprint();
    if (c != cursor_kind::instant) {
      text += cursor_mark;
      text += to_string(c);
    }
    fingerprint_ = store_->intern_fingerprint(partition_, text);
    if (settings_.report_changes) {
      if (hasher_.whole_record())
        throw invalid_config("", "resource " + settings_.name +
                                     ": reportChanges needs watched fields (the whole-record hash has no "
                                     "fields to name)");
      std::vector<std::string> names;
      for (const field_path& w : hasher_.watched()) {
        for (const std::string& text : settings_.watched) {
          auto p = field_path::parse(text);
          if (p && *p == w) {
            names.push_back(text);
            break;
          }
        }
      }
      watched_names_ = std::make_shared<const std::vector<std::string>>(std::move(names));
    }
  }

  // What an event of the decision `d` on `item` names as changed: nothing when the setting is
  // off; the paths whose per-field digests differ from `prior`'s (all of them when none does: a
  // collision of the short digests) for an update of a state with digests made under our
  // settings; else unknown.
  changed_fields changes_of(const decision& d, const record_state* prior,
                            const detail::extracted_record& item, instant now) const {
    if (!watched_names_) return {};
    if (d.outcome != record_outcome::updated || prior == nullptr || expired(*prior, now) ||
        prior->fingerprint != fingerprint_ || item.fields.empty() ||
        prior->fields.size() != item.fields.size())
      return changed_fields(watched_names_);
    const std::size_t n = item.fields.size() / 4;
    std::vector<bool> bits(n, false);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::memcmp(prior->fields.data() + 4 * i, item.fields.data() + 4 * i, 4) != 0) {
        bits[i] = true;
        any = true;
      }
    }
    if (!any) bits.assign(n, true);
    return changed_fields(watched_names_, std::move(bits));
  }

  // How a state hashed under the fingerprint `id` (not ours) relates to this detector's settings;
  // looked up once per id (fingerprint ids are stable for the life of the store).
  fingerprint_info foreign_cursor(std::uint32_t id) {
    auto it = fingerprints_.find(id);
    if (it != fingerprints_.end()) return it->second;
    fingerprint_info info;
    if (const std::optional<std::string> text = store_->fingerprint_text(partition_, id)) {
      std::string_view base(*text);
      cursor_kind kind = cursor_kind::instant;
      if (const std::size_t mark = base.rfind(cursor_mark); mark != std::string_view::npos) {
        kind = cursor_kind_from(base.substr(mark + cursor_mark.size())).value_or(cursor_kind::instant);
        base = base.substr(0, mark);
      }
      info.other_cursor = kind != settings_.cursor;
      info.same_hashing = base == hasher_.fingerprint();
    }
    fingerprints_.emplace(id, info);
    return info;
  }

  // Throws when the stored offset is of another kind than the cursor (since.hpp).
  void check_offset_kind(const offset_value& off) const {
    sincehash::check_offset_kind(settings_, off, partition_);
  }

  // The offset of an instant cursor: the newest updated date of the batch, unless too far in
  // the future.
  void advance_instant(batch_result& out, const detail::batch_memo& m, const store_snapshot& snap,
                       instant now) {
    since_tracker<instant> tracker = make_tracker(snap.offset);
    std::optional<instant> max_at;
    std::string_view max_text;
    for (const auto& item : m.items) {
      if (!item.updated) continue;
      const auto obs = tracker.observe(*item.updated, now);
      if (obs != observe_result::accepted)
        out.notices.push_back({m.inputs[item.index].position, observe_message(obs, item)});
      if (obs != observe_result::future_skewed && (!max_at || *item.updated > *max_at)) {
        max_at = item.updated;
        max_text = item.updated_text;  // the offset is kept as the source wrote it
      }
    }
    tracker.finish();
    if (tracker.pending() && (!m.stored_at || *tracker.pending() > *m.stored_at)) {
      std::string text = max_at && max_at == tracker.pending() ? std::string(max_text)
                                                               : format_rfc3339(*tracker.pending(), 9);
      out.pending.batch.offset = offset_value::from_instant(*tracker.pending(), std::move(text));
      out.pending.offset_after = out.pending.batch.offset;
    } else {
      out.pending.offset_after = snap.offset;
    }
  }

  // The offset of an integer or string cursor: the batch's maximum by `value_of(item)` (typed:
  // integers as integers, strings byte-wise), kept as the source wrote its first copy; never
  // below `committed`. No future-skew guard: the values are not dates.
  template <class T, class ValueOf, class MakeOffset>
  void advance_offset(batch_result& out, const detail::batch_memo& m, const store_snapshot& snap,
                      std::optional<T> committed, ValueOf value_of, MakeOffset make_offset) const {
    since_options o;
    o.chronological = settings_.chronological;
    since_tracker<T> tracker(committed, o);
    std::optional<T> max;
    std::string_view max_text;
    for (const auto& item : m.items) {
      if (item.updated_kind == value_kind::missing) continue;
      const T value = value_of(item);
      const auto obs = tracker.observe(value);
      if (obs != observe_result::accepted)
        out.notices.push_back({m.inputs[item.index].position, observe_message(obs, item)});
      if (!max || *max < value) {
        max = value;
        max_text = item.updated_text;
      }
    }
    tracker.finish();
    if (max && tracker.pending() && *tracker.pending() == *max && (!committed || *committed < *max)) {
      out.pending.batch.offset = make_offset(*max, max_text);
      out.pending.offset_after = out.pending.batch.offset;
    } else {
      out.pending.offset_after = snap.offset;
    }
  }

  template <class... Algorithm>
  static Hasher make_hasher(const resource_settings& s, Algorithm&&... algorithm) {
    hasher_settings h;
    h.watched = s.watched;
    h.ignored = s.ignored;
    h.normalize = s.normalize;
    h.extract.push_back(s.id_field);
    h.field_digests = s.report_changes;
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

  std::string observe_message(observe_result r, const detail::extracted_record& item) const {
    if (r == observe_result::future_skewed) {
      return "updated date " + std::string(item.updated_text) +
             " lies too far in the future: the offset does not advance";
    }
    return (settings_.cursor == cursor_kind::instant ? "updated date " : "updated value ") +
           std::string(item.updated_text) +
           " is earlier than the record before it in a source declared "
           "chronological: the offset advances to the batch's maximum";
  }

  // Classifies the items `subset` (indices into `m.items`, ascending) against `snap`, whose
  // states are position by position with `subset`. Copies of one id are classified in input
  // order, each against the state the one before left. Appends the dispatched events to
  // `out.events` (on a `retry`, only those not dispatched before), the writes to
  // `out.pending.batch` (upserts with their conditions, rescan marks), and keeps each item's
  // outcome and the counts in `m`.
  void run_items(batch_result& out, detail::batch_memo& m, const std::vector<std::size_t>& subset,
                 const store_snapshot& snap, instant now, bool retry) {
    decide_settings ds;
    ds.fingerprint = fingerprint_;
    ds.ttl = settings_.ttl;
    ds.created_field = settings_.created.has_value();
    ds.stored_offset = m.stored_at;
    const bool versioned = snap.versions.size() == subset.size();

    const auto id_of = [&](std::ptrdiff_t j) { return m.items[subset[static_cast<std::size_t>(j)]].id; };
    detail::batch_id_index by_id(subset.size());
    // Where the state each record left lives: nowhere (-1), snap.states[j] (j), or the upsert u
    // (-2 - u). Copies of an id refer to the same upsert, so nothing is copied per record.
    std::vector<std::ptrdiff_t> left(subset.size(), -1);
    commit_batch& batch = out.pending.batch;
    const std::size_t first_upsert = batch.upserts.size();
    const auto state_at = [&](std::ptrdiff_t ref) -> const record_state* {
      if (ref >= 0) return &*snap.states[static_cast<std::size_t>(ref)];
      if (ref == -1) return nullptr;
      return &batch.upserts[first_upsert + static_cast<std::size_t>(-2 - ref)].second;
    };
    std::vector<std::size_t> unwritten;  // positions in `subset` of records not written

    for (std::size_t j = 0; j < subset.size(); ++j) {
      const std::size_t k = subset[j];
      const detail::extracted_record& item = m.items[k];
      const std::ptrdiff_t before = by_id.exchange(item.id, static_cast<std::ptrdiff_t>(j), id_of);
      const std::ptrdiff_t prior_ref = before >= 0      ? left[static_cast<std::size_t>(before)]
                                       : snap.states[j] ? static_cast<std::ptrdiff_t>(j)
                                                        : -1;
      const record_state* prior = state_at(prior_ref);
      record_state adjusted;
      if (prior != nullptr && prior->fingerprint != fingerprint_) {
        // A state written under another cursor kind: its updated value does not compare with
        // ours (neither newer nor older); its hash still does when the hashing settings match.
        const fingerprint_info f = foreign_cursor(prior->fingerprint);
        if (f.other_cursor) {
          adjusted = *prior;
          adjusted.updated.reset();
          if (f.same_hashing) adjusted.fingerprint = fingerprint_;
          prior = &adjusted;
        }
      }
      decision d = decide(prior, record_facts{item.hash, item.updated, item.created, item.fields}, ds, now);

      if (retry) count(m.stats, m.outcomes[k], false);
      count(out.stats, d.outcome, true);
      if (retry) count(m.stats, d.outcome, true);
      const digest previous = m.event_digests[k];
      m.outcomes[k] = d.outcome;
      m.event_digests[k] = digest{};
      if (retry && !(previous == digest{}) && !d.dispatch() && prior != nullptr &&
          !(prior->hash == item.hash)) {
        // This record's event went out before the conflict, but another writer has since stored
        // a newer state, which now makes it stale or unchanged. Whether the downstream holds what
        // this run delivered or what that writer did depends on the order they arrived in: store
        // an empty hash (equal to none) with the newer date, so that the next sighting of the
        // record is dispatched whatever its value. A duplicate at worst; never a lost change.
        m.event_digests[k] = previous;
        const instant newest = item.updated && prior->updated ? std::max(*item.updated, *prior->updated)
                               : prior->updated               ? *prior->updated
                                                              : item.updated.value_or(instant{});
        d.write = true;
        d.next.hash = digest{};
        d.next.fields.clear();
        d.next.fingerprint = fingerprint_;
        if (item.updated || prior->updated) d.next.updated = newest;
      }
      if (d.dispatch()) {
        const event_type type =
            d.outcome == record_outcome::created ? event_type::created : event_type::updated;
        const digest eid = make_event_digest(partition_, item.id, type, item.updated_text, item.hash);
        m.event_digests[k] = eid;
        if (!retry || !(eid == previous)) {
          const input_record& in = m.inputs[item.index];
          event e;
          e.type = type;
          e.id.assign(item.id.data(), item.id.size());
          e.id_kind = item.id_kind;
          e.updated.assign(item.updated_text.data(), item.updated_text.size());
          e.updated_kind = item.updated_kind;
          e.event_id = eid.to_hex();
          e.record = in.bytes;
          e.position = in.position;
          e.changed = changes_of(d, prior, item, now);
          detail::room_for_rest(out.events, subset.size() - j);
          out.events.push_back(std::move(e));
        }
      }
      if (d.write) {
        if (prior_ref <= -2) {
          batch.upserts[first_upsert + static_cast<std::size_t>(-2 - prior_ref)].second = std::move(d.next);
          left[j] = prior_ref;
        } else {
          left[j] = -2 - static_cast<std::ptrdiff_t>(batch.upserts.size() - first_upsert);
          detail::room_for_rest(batch.upserts, subset.size() - j);
          batch.upserts.emplace_back(std::string(item.id), std::move(d.next));
          if (versioned) batch.expect.emplace_back(std::string(item.id), snap.versions[j]);
        }
      } else {
        left[j] = prior_ref;
        unwritten.push_back(j);
      }
    }
    if (versioned && !retry) batch.read_sequence = snap.sequence;

    if (snap.rescan_active) {
      // Ids seen but not upserted are marked; an id upserted anywhere in the batch needs no mark.
      for (std::size_t j : unwritten) {
        const std::ptrdiff_t last = by_id.find(id_of(static_cast<std::ptrdiff_t>(j)), id_of);
        if (last >= 0 && left[static_cast<std::size_t>(last)] <= -2) continue;
        batch.rescan_seen.emplace_back(id_of(static_cast<std::ptrdiff_t>(j)));
      }
    }
  }

  // Adds one record of `outcome` to `stats`, or takes it away.
  static void count(run_stats& stats, record_outcome outcome, bool add) {
    std::size_t* field = nullptr;
    switch (outcome) {
      case record_outcome::created:
        field = &stats.created;
        break;
      case record_outcome::updated:
        field = &stats.updated;
        break;
      case record_outcome::unchanged:
      case record_outcome::rebaselined:
        field = &stats.unchanged;
        break;
      case record_outcome::stale:
        field = &stats.stale;
        break;
    }
    if (add) {
      ++*field;
    } else {
      --*field;
    }
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
};

}  // namespace sincehash

#endif  // SINCEHASH_DETECTOR_HPP
