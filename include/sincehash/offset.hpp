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
  out_of_order,   ///< earlier than the value before it in a source declared chronological: the run
                  ///< switched to advancing to the maximum at the end (the value still counts)
  future_skewed,  ///< further ahead of the clock than the allowed skew: does not advance the offset
};

/// Counts of one run of a tracker (since the last commit, rollback or reset).
struct since_report {
  std::size_t observed = 0;                       ///< values observed
  std::size_t out_of_order = 0;                   ///< values earlier than their predecessor (chronological)
  std::size_t future_skewed = 0;                  ///< values ignored for being too far ahead
  std::optional<std::size_t> first_out_of_order;  ///< 0-based observation index of the first one
  std::optional<std::size_t> first_future_skewed;
};

/// Settings of a tracker.
struct since_options {
  /// The source returns records oldest first: the offset advances per record, so a run can
  /// resume mid-way. An out-of-order value switches the run to maximum-at-the-end.
  bool chronological = false;
  /// Instants only: a value more than this ahead of the clock does not advance the offset.
  std::optional<std::chrono::nanoseconds> max_future_skew;
  /// Instants only: `since()` is the committed offset minus this.
  std::optional<std::chrono::nanoseconds> lookback;
};

/// Tracks the since offset of one stream. `Offset` is the typed value: `instant` for dates (never
/// compare timestamps as text), `std::int64_t` for sequence numbers, `std::string` for opaque
/// cursors; `Compare` orders them. Not thread-safe: one tracker per stream.
template <class Offset, class Compare = std::less<Offset>>
class since_tracker {
  static_assert(std::is_copy_constructible<Offset>::value && std::is_default_constructible<Offset>::value,
                "sincehash::since_tracker requires Offset to be default and copy constructible");
  static_assert(std::is_invocable_r<bool, const Compare&, const Offset&, const Offset&>::value,
                "sincehash::since_tracker requires Compare to order two Offsets (a strict weak ordering)");

 public:
  /// A tracker resuming from `committed` (nullopt: the next poll is a full sync).
  explicit since_tracker(std::optional<Offset> committed = std::nullopt, since_options options = {},
                         Compare compare = Compare{})
      : committed_(std::move(committed)), options_(options), less_(std::move(compare)) {
    pending_ = committed_;
  }

  /// Observes the next record's value, in input order. `now` is the clock, for the future-skew
  /// check (instants only).
  observe_result observe(const Offset& value, instant now = instant::max()) {
    const std::size_t index = report_.observed++;
    if constexpr (std::is_same<Offset, instant>::value) {
      if (options_.max_future_skew && now != instant::max() && value > now + *options_.max_future_skew) {
        if (!report_.first_future_skewed) report_.first_future_skewed = index;
        ++report_.future_skewed;
        return observe_result::future_skewed;
      }
    }
    observe_result r = observe_result::accepted;
    if (has_previous_ && less_(value, previous_) && options_.chronological) {
      if (!report_.first_out_of_order) report_.first_out_of_order = index;
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

  /// Ends the batch: the pending offset becomes the maximum observed (never below the committed).
  void finish() {
    if (has_max_) advance(max_);
  }

  /// The offset `commit` would store: with a chronological source in order, the last value
  /// observed; otherwise the committed one until `finish`.
  [[nodiscard]] const std::optional<Offset>& pending() const noexcept { return pending_; }

  /// The committed offset.
  [[nodiscard]] const std::optional<Offset>& committed() const noexcept { return committed_; }

  /// Makes the pending offset the committed one (call after the batch was delivered) and starts
  /// a new run. Never moves the offset backwards.
  void commit() {
    if (pending_ && (!committed_ || less_(*committed_, *pending_))) committed_ = pending_;
    start_run();
  }

  /// Discards everything observed since the last commit (a failed delivery).
  void rollback() { start_run(); }

  /// Forgets the committed offset: the next poll is a full sync.
  void reset() {
    committed_.reset();
    start_run();
  }

  /// The value to send to the source (to be asked with `>=`): nullopt for a full sync; the
  /// committed offset, minus the lookback for instants.
  [[nodiscard]] std::optional<Offset> since() const {
    if (!committed_) return std::nullopt;
    if constexpr (std::is_same<Offset, instant>::value) {
      if (options_.lookback) return *committed_ - *options_.lookback;
    }
    return committed_;
  }

  /// True while a chronological source has been in order in this run.
  [[nodiscard]] bool advancing_per_record() const noexcept { return options_.chronological && in_order_; }

  /// What happened in this run.
  [[nodiscard]] const since_report& report() const noexcept { return report_; }

 private:
  void advance(const Offset& v) {
    if (!pending_ || less_(*pending_, v)) pending_ = v;
  }
  void start_run() {
    pending_ = committed_;
    has_previous_ = false;
    has_max_ = false;
    in_order_ = true;
    report_ = since_report{};
  }

  std::optional<Offset> committed_;
  std::optional<Offset> pending_;
  // Plain members with flags rather than optionals: GCC's -O3 flow analysis reports a disengaged
  // optional as "maybe uninitialized" here.
  Offset previous_{};
  Offset max_{};
  bool has_previous_ = false;
  bool has_max_ = false;
  since_options options_;
  Compare less_;
  bool in_order_ = true;
  since_report report_;
};

}  // namespace sincehash

#endif  // SINCEHASH_OFFSET_HPP
