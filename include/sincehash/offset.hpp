#ifndef SINCEHASH_OFFSET_HPP
#define SINCEHASH_OFFSET_HPP

// The since tracker: the offset (cursor) a connector sends back to its source so that only changed
// records are fetched. It advances to the newest value observed, is committed only after the
// batch was delivered, never moves backwards, can be rolled back (a crash before commit) and
// reset (a full sync).
//
// Ties: the since value is the offset itself and the source is asked with `>=` (inclusive), so
// records sharing the offset's timestamp come back and are filtered by the hash store instead of
// being lost at a page boundary.
//
// Life of a tracker: construct it from the stored offset; per poll, `observe` every record's
// value in input order, then `finish`; deliver; then `commit` (or `rollback` when delivery
// failed). A source declared chronological may also `commit` after any record, mid-batch.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "sincehash/time.hpp"

namespace sincehash {

/// What `since_tracker::observe` did with a value.
enum class observe_result : std::uint8_t {
  accepted,       ///< counted towards the offset
  out_of_order,   ///< earlier than the value before it in a source declared chronological: the
                  ///< batch switched to advancing to the maximum at its end (the value still counts)
  future_skewed,  ///< further ahead of the clock than `max_future_skew`: does not advance the offset
};

/// What happened in the current batch (or the last finished one, until the next `observe`).
/// Positions are 0-based indices of `observe` calls within the batch, i.e. input order.
struct since_report {
  std::size_t observed = 0;                        ///< values observed
  std::size_t out_of_order = 0;                    ///< values earlier than their predecessor (chronological)
  std::size_t future_skewed = 0;                   ///< values that did not advance for being too far ahead
  std::optional<std::size_t> first_out_of_order;   ///< position of the first out-of-order value
  std::optional<std::size_t> first_future_skewed;  ///< position of the first future-skewed value
};

/// Settings of a tracker.
struct since_options {
  /// The source returns records oldest first: the offset advances per record, so a run can
  /// resume mid-way. An out-of-order value switches that batch to maximum-at-the-end.
  bool chronological = false;
  /// Instants only (ignored for other offsets): a value more than this ahead of the `now` passed
  /// to `observe` does not advance the offset. Unset: no limit.
  std::optional<std::chrono::nanoseconds> max_future_skew;
  /// Instants only (ignored for other offsets): `since()` is the committed offset minus this,
  /// saturating at `instant::min()`. Unset or not positive: no lookback.
  std::optional<std::chrono::nanoseconds> lookback;
};

/// Tracks the since offset of one stream. `Offset` is the typed value: `instant` for dates (a
/// timestamp is never compared as text: parse it first, and the comparison is between instants
/// whatever UTC offsets the source wrote), `std::int64_t` for sequence numbers, `std::string` for
/// opaque cursors; `Compare` is a strict weak order on them. Not thread-safe: one tracker per
/// stream; copies are independent.
template <class Offset, class Compare = std::less<Offset>>
class since_tracker {
  static_assert(std::is_copy_constructible<Offset>::value && std::is_default_constructible<Offset>::value,
                "sincehash::since_tracker requires Offset to be default and copy constructible");
  static_assert(std::is_invocable_r<bool, const Compare&, const Offset&, const Offset&>::value,
                "sincehash::since_tracker requires Compare to order two Offsets (a strict weak ordering)");

 public:
  /// The offset type.
  using offset_type = Offset;

  /// A tracker resuming from `committed`, the offset stored by the last commit (nullopt: the next
  /// poll is a full sync).
  explicit since_tracker(std::optional<Offset> committed = std::nullopt, since_options options = {},
                         Compare compare = Compare{})
      : committed_(std::move(committed)),
        pending_(committed_),
        options_(options),
        less_(std::move(compare)) {}

  /// Observes the next record's value, in input order (the first call after `finish` starts a
  /// new batch). `now` is the clock for the `max_future_skew` check (instants only; nullopt: no
  /// check). A chronological source in order moves `pending()` to `value` at once; otherwise the
  /// value counts towards the maximum taken by `finish`.
  observe_result observe(const Offset& value, std::optional<instant> now = std::nullopt) {
    if (!batch_open_) start_batch();
    const std::size_t position = report_.observed++;
    if constexpr (std::is_same<Offset, instant>::value) {
      if (options_.max_future_skew && now && too_far_ahead(value, *now, *options_.max_future_skew)) {
        if (!report_.first_future_skewed) report_.first_future_skewed = position;
        ++report_.future_skewed;
        return observe_result::future_skewed;
      }
    }
    observe_result r = observe_result::accepted;
    if (options_.chronological && has_previous_ && less_(value, previous_)) {
      if (!report_.first_out_of_order) report_.first_out_of_order = position;
      ++report_.out_of_order;
      in_order_ = false;
      r = observe_result::out_of_order;
    }
    previous_ = value;
    has_previous_ = true;
    if (!has_max_ || less_(max_, value)) {
      max_ = value;
      has_max_ = true;
    }
    if (options_.chronological && in_order_) advance(value);
    return r;
  }

  /// Ends the batch: the pending offset becomes the maximum observed in it (never below what it
  /// was). The report stays readable until the next `observe`.
  void finish() {
    if (has_max_) advance(max_);
    batch_open_ = false;
  }

  /// The offset `commit` would store: the committed one, advanced by a chronological source in
  /// order to the last value observed, and by `finish` to the batch's maximum.
  [[nodiscard]] const std::optional<Offset>& pending() const noexcept { return pending_; }

  /// The committed offset (nullopt: none; the next poll is a full sync).
  [[nodiscard]] const std::optional<Offset>& committed() const noexcept { return committed_; }

  /// Makes the pending offset the committed one; call once the records observed so far were
  /// delivered. Never moves the offset backwards. Does not end the batch: a chronological source
  /// may commit after any record and go on.
  void commit() {
    if (pending_ && (!committed_ || less_(*committed_, *pending_))) committed_ = pending_;
    pending_ = committed_;
  }

  /// Discards what was observed since the last commit (a failed delivery, or the state after a
  /// crash) and ends the batch: the source is to be asked again from `since()`.
  void rollback() {
    pending_ = committed_;
    end_batch();
  }

  /// Forgets the committed and pending offsets: the next poll is a full sync.
  void reset() {
    committed_.reset();
    pending_.reset();
    end_batch();
  }

  /// The value to send to the source, to be asked for records `>=` it: nullopt for a full sync;
  /// otherwise the committed offset, minus the lookback for instants.
  [[nodiscard]] std::optional<Offset> since() const {
    if (!committed_) return std::nullopt;
    if constexpr (std::is_same<Offset, instant>::value) {
      if (options_.lookback && *options_.lookback > std::chrono::nanoseconds::zero()) {
        if (*committed_ < instant::min() + *options_.lookback) return instant::min();
        return *committed_ - *options_.lookback;
      }
    }
    return committed_;
  }

  /// True while a chronological source has stayed in order in the current batch.
  [[nodiscard]] bool advancing_per_record() const noexcept { return options_.chronological && in_order_; }

  /// What happened in the current batch, or in the last finished one until the next `observe`.
  [[nodiscard]] const since_report& report() const noexcept { return report_; }

  /// The settings.
  [[nodiscard]] const since_options& options() const noexcept { return options_; }

 private:
  static bool too_far_ahead(const instant& value, const instant& now, std::chrono::nanoseconds skew) {
    if (skew < std::chrono::nanoseconds::zero()) skew = std::chrono::nanoseconds::zero();
    if (now > instant::max() - skew) return false;
    return value > now + skew;
  }

  void advance(const Offset& v) {
    if (!pending_ || less_(*pending_, v)) pending_ = v;
  }

  void start_batch() {
    end_batch();
    report_ = since_report{};
    batch_open_ = true;
  }

  void end_batch() {
    has_previous_ = false;
    has_max_ = false;
    in_order_ = true;
    batch_open_ = false;
  }

  std::optional<Offset> committed_;
  std::optional<Offset> pending_;
  // Plain members with flags rather than optionals: GCC's -O3 flow analysis reports a disengaged
  // optional as "maybe uninitialized" here.
  Offset previous_{};
  Offset max_{};
  bool has_previous_ = false;
  bool has_max_ = false;
  bool in_order_ = true;
  bool batch_open_ = false;
  since_options options_;
  Compare less_;
  since_report report_;
};

/// The tracker for date offsets: instants compared as instants.
using instant_since_tracker = since_tracker<instant>;

/// The tracker for integer offsets (sequence numbers, epoch counts): compared as integers.
using integer_since_tracker = since_tracker<std::int64_t>;

/// The tracker for opaque text cursors, compared byte-wise; not for dates.
using cursor_since_tracker = since_tracker<std::string>;

}  // namespace sincehash

#endif  // SINCEHASH_OFFSET_HPP
