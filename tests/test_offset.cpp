#include <sincehash/offset.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace sincehash;
using namespace std::chrono_literals;

// A date offset is an instant; the text the source wrote does not stand in for it.
static_assert(std::is_same<instant_since_tracker::offset_type, instant>::value, "dates are instants");
static_assert(!std::is_convertible<std::string, instant>::value, "text does not convert to an instant");

namespace {

instant t(std::int64_t seconds) { return instant(std::chrono::seconds(seconds)); }

// A record of a simulated source: its updated value (seconds) and its id.
struct row {
  std::int64_t at;
  int id;
};

// The source: rows with `at >= since` (inclusive), in the stored order, at most `page` of them.
std::vector<row> fetch(const std::vector<row>& rows, const std::optional<instant>& since, std::size_t page) {
  std::vector<row> out;
  for (const auto& r : rows) {
    if (since && t(r.at) < *since) continue;
    if (out.size() == page) break;
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST_CASE("an unsorted source advances to the maximum at the end of the batch") {
  instant_since_tracker s;
  CHECK_FALSE(s.since().has_value());  // full sync
  for (auto v : {t(50), t(90), t(70)}) CHECK(s.observe(v) == observe_result::accepted);
  CHECK_FALSE(s.pending().has_value());  // not before the batch is complete
  s.finish();
  CHECK(s.pending() == t(90));
  CHECK_FALSE(s.since().has_value());  // nothing committed yet
  s.commit();
  CHECK(s.committed() == t(90));
  CHECK(s.since() == t(90));  // inclusive: the offset itself
  CHECK(s.report().observed == 3);
}

TEST_CASE("a chronological source advances per record, so a run can resume mid-way") {
  since_options o;
  o.chronological = true;
  instant_since_tracker s(std::nullopt, o);
  s.observe(t(10));
  CHECK(s.pending() == t(10));
  s.observe(t(20));
  CHECK(s.pending() == t(20));
  CHECK(s.advancing_per_record());
  s.commit();  // delivered up to here, mid-batch
  CHECK(s.committed() == t(20));
  s.observe(t(30));
  CHECK(s.pending() == t(30));
  CHECK(s.committed() == t(20));
  // The process dies before delivering 30: a new tracker from the stored offset asks again from 20.
  instant_since_tracker resumed(s.committed(), o);
  CHECK(resumed.since() == t(20));
}

TEST_CASE("ties across page boundaries: inclusive since loses nothing, the hash store drops repeats") {
  // Sorted by time, with ties at 3 (three records) and 5 (two); the page size (4) is larger than
  // the largest tie group, which inclusive continuation needs to make progress.
  const std::vector<row> rows = {{1, 1}, {2, 2}, {3, 3}, {3, 4}, {3, 5}, {4, 6}, {5, 7}, {5, 8}, {6, 9}};
  for (bool chronological : {false, true}) {
    INFO("chronological: " << chronological);
    since_options o;
    o.chronological = chronological;
    instant_since_tracker s(std::nullopt, o);
    std::set<int> delivered;  // stands in for the hash store: a re-sent record is `unchanged`
    std::vector<int> dispatched;
    for (int poll = 0; poll < 20; ++poll) {
      for (const auto& r : fetch(rows, s.since(), 4)) {
        s.observe(t(r.at));
        if (delivered.insert(r.id).second) dispatched.push_back(r.id);
      }
      s.finish();
      s.commit();
    }
    CHECK(dispatched == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});  // none lost, none twice
    CHECK(s.committed() == t(6));
  }
  // The same with an exclusive `>`: the first page ends inside the tie at 3; id 5 is lost.
  instant_since_tracker x;
  std::vector<int> naive;
  for (int poll = 0; poll < 20; ++poll) {
    std::size_t n = 0;
    for (const auto& r : rows) {
      if (x.since() && t(r.at) <= *x.since()) continue;
      if (n++ == 4) break;
      x.observe(t(r.at));
      naive.push_back(r.id);
    }
    x.finish();
    x.commit();
  }
  CHECK(naive == std::vector<int>{1, 2, 3, 4, 6, 7, 8, 9});
}

TEST_CASE("a crash after a mid-batch commit redelivers from the last committed record, losing nothing") {
  const std::vector<row> rows = {{1, 1}, {2, 2}, {2, 3}, {3, 4}, {4, 5}, {4, 6}, {5, 7}};
  since_options o;
  o.chronological = true;
  std::optional<instant> stored;  // what survives the crash
  std::set<int> delivered;
  std::vector<int> dispatched;
  // First run: each record is delivered and committed, but the run dies after observing id 5
  // and before delivering it.
  {
    instant_since_tracker s(stored, o);
    for (const auto& r : fetch(rows, s.since(), 100)) {
      s.observe(t(r.at));
      if (r.id == 5) break;  // crash: observed, not delivered, not committed
      if (delivered.insert(r.id).second) dispatched.push_back(r.id);
      s.commit();
      stored = s.committed();
    }
  }
  CHECK(stored == t(3));
  // Second run resumes from the stored offset: ids 4..7 come back, 4 is recognised as delivered.
  {
    instant_since_tracker s(stored, o);
    CHECK(s.since() == t(3));
    for (const auto& r : fetch(rows, s.since(), 100)) {
      s.observe(t(r.at));
      if (delivered.insert(r.id).second) dispatched.push_back(r.id);
      s.commit();
    }
    s.finish();
    s.commit();
    stored = s.committed();
  }
  CHECK(dispatched == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
  CHECK(stored == t(5));
}

TEST_CASE("a crash before commit leaves the old offset: the batch is fetched and dispatched again") {
  instant_since_tracker before(t(100));
  before.observe(t(150));
  before.observe(t(200));
  before.finish();
  CHECK(before.pending() == t(200));
  // The process dies here: the stored offset is still the one it started from.
  instant_since_tracker after(before.committed());
  CHECK(after.since() == t(100));
  // Rolling back in-process has the same effect.
  before.rollback();
  CHECK(before.pending() == t(100));
  CHECK(before.since() == t(100));
  before.commit();
  CHECK(before.committed() == t(100));
}

TEST_CASE("the offset never moves backwards on commit") {
  SUBCASE("unsorted") {
    instant_since_tracker s(t(100));
    s.observe(t(40));
    s.observe(t(60));
    s.finish();
    CHECK(s.pending() == t(100));
    s.commit();
    CHECK(s.committed() == t(100));
  }
  SUBCASE("chronological") {
    since_options o;
    o.chronological = true;
    instant_since_tracker s(t(100), o);
    s.observe(t(40));  // a lookback re-reads older records
    CHECK(s.pending() == t(100));
    s.commit();
    CHECK(s.committed() == t(100));
    s.observe(t(120));
    s.finish();
    s.commit();
    CHECK(s.committed() == t(120));
  }
  SUBCASE("random batches") {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> value(0, 1000);
    integer_since_tracker s;
    std::optional<std::int64_t> high;
    for (int batch = 0; batch < 200; ++batch) {
      std::int64_t batch_max = -1;
      for (int i = 0; i < 5; ++i) {
        const std::int64_t v = value(rng);
        batch_max = std::max(batch_max, v);
        s.observe(v);
      }
      s.finish();
      const std::int64_t expected = high ? std::max(*high, batch_max) : batch_max;
      CHECK(s.pending() == expected);
      if (batch % 3 == 2) {
        s.rollback();  // a failed delivery commits nothing
        CHECK(s.pending() == high);
        continue;
      }
      s.commit();
      CHECK(s.committed() == expected);
      high = expected;
    }
  }
}

TEST_CASE("reset forgets the offset: a full sync, after which any value may be committed") {
  instant_since_tracker s(t(500));
  s.observe(t(600));
  s.reset();
  CHECK_FALSE(s.since().has_value());
  CHECK_FALSE(s.pending().has_value());
  CHECK_FALSE(s.committed().has_value());
  s.observe(t(300));
  s.finish();
  s.commit();
  CHECK(s.committed() == t(300));
}

TEST_CASE("an out-of-order record in a chronological source switches the batch to max-at-end") {
  since_options o;
  o.chronological = true;
  instant_since_tracker s(std::nullopt, o);
  CHECK(s.observe(t(10)) == observe_result::accepted);
  CHECK(s.observe(t(30)) == observe_result::accepted);
  CHECK(s.observe(t(30)) == observe_result::accepted);  // a tie is in order
  CHECK(s.observe(t(20)) == observe_result::out_of_order);
  CHECK_FALSE(s.advancing_per_record());
  CHECK(s.observe(t(40)) == observe_result::accepted);
  CHECK(s.observe(t(35)) == observe_result::out_of_order);
  CHECK(s.pending() == t(30));  // frozen at the last value before the disorder
  s.finish();
  CHECK(s.pending() == t(40));
  CHECK(s.report().observed == 6);
  CHECK(s.report().out_of_order == 2);
  CHECK(s.report().first_out_of_order == std::size_t{3});
  s.commit();
  // The next batch starts in order again, with a fresh report.
  CHECK(s.observe(t(40)) == observe_result::accepted);
  CHECK(s.advancing_per_record());
  CHECK(s.report().observed == 1);
  CHECK(s.report().out_of_order == 0);
  CHECK_FALSE(s.report().first_out_of_order.has_value());
  // An unsorted source reports nothing for the same sequence.
  instant_since_tracker u;
  for (auto v : {t(10), t(30), t(20)}) CHECK(u.observe(v) == observe_result::accepted);
  CHECK(u.report().out_of_order == 0);
}

TEST_CASE("disorder right after a mid-batch commit is still detected") {
  since_options o;
  o.chronological = true;
  instant_since_tracker s(std::nullopt, o);
  s.observe(t(10));
  s.observe(t(30));
  s.commit();
  CHECK(s.observe(t(20)) == observe_result::out_of_order);
  s.observe(t(50));
  CHECK(s.pending() == t(30));
  s.commit();
  CHECK(s.committed() == t(30));  // 50 is not committed before the batch ends
  s.finish();
  s.commit();
  CHECK(s.committed() == t(50));
}

TEST_CASE("a value too far in the future does not advance the offset and is reported") {
  since_options o;
  o.max_future_skew = 5min;
  const instant now = t(100000);
  SUBCASE("unsorted") {
    instant_since_tracker s(std::nullopt, o);
    CHECK(s.observe(now - 1h, now) == observe_result::accepted);
    CHECK(s.observe(now + 5min, now) == observe_result::accepted);  // at the limit: not further
    CHECK(s.observe(now + 5min + 1ns, now) == observe_result::future_skewed);
    CHECK(s.observe(now + 24h, now) == observe_result::future_skewed);
    s.finish();
    CHECK(s.pending() == now + 5min);
    CHECK(s.report().observed == 4);
    CHECK(s.report().future_skewed == 2);
    CHECK(s.report().first_future_skewed == std::size_t{2});
  }
  SUBCASE("chronological: a skewed value neither advances nor breaks the order") {
    o.chronological = true;
    instant_since_tracker s(std::nullopt, o);
    s.observe(now - 2h, now);
    CHECK(s.observe(now + 1h, now) == observe_result::future_skewed);
    CHECK(s.observe(now - 1h, now) == observe_result::accepted);
    CHECK(s.advancing_per_record());
    CHECK(s.pending() == now - 1h);
    s.finish();
    CHECK(s.pending() == now - 1h);
  }
  SUBCASE("without a clock, or at the end of time, nothing is skewed") {
    instant_since_tracker s(std::nullopt, o);
    CHECK(s.observe(now + 24h) == observe_result::accepted);
    CHECK(s.observe(instant::max(), instant::max() - 1ns) == observe_result::accepted);
    CHECK(s.report().future_skewed == 0);
  }
}

TEST_CASE("a lookback is subtracted from the since value, not from the committed offset") {
  since_options o;
  o.lookback = 10min;
  instant_since_tracker s(t(3600), o);
  CHECK(s.since() == t(3000));
  CHECK(s.committed() == t(3600));
  s.observe(t(3500));  // inside the lookback window: does not move the offset back
  s.finish();
  s.commit();
  CHECK(s.committed() == t(3600));
  CHECK(s.since() == t(3000));

  instant_since_tracker early(instant::min() + 1min, o);
  CHECK(early.since() == instant::min());  // saturates
  o.lookback = -10min;
  instant_since_tracker negative(t(3600), o);
  CHECK(negative.since() == t(3600));  // never ahead of the offset
  o.lookback = 10min;
  since_tracker<std::int64_t> sequence(std::int64_t{42}, o);
  CHECK(sequence.since() == std::int64_t{42});  // instants only
}

TEST_CASE("instants written with different UTC offsets are compared as instants") {
  // 2024-03-01T12:00:00+02:00 is 10:00Z; 2024-03-01T10:30:00Z is later, though it sorts first
  // as text.
  const std::int64_t midnight = 1709251200;  // 2024-03-01T00:00:00Z
  const instant noon_plus_two = t(midnight + 12 * 3600 - 2 * 3600);
  const instant half_past_ten_z = t(midnight + 10 * 3600 + 30 * 60);
  const instant nine_minus_five = t(midnight + 9 * 3600 + 5 * 3600);  // 09:00-05:00 = 14:00Z
  CHECK(std::string("2024-03-01T12:00:00+02:00") > std::string("2024-03-01T10:30:00Z"));
  instant_since_tracker s;
  s.observe(half_past_ten_z);
  s.observe(noon_plus_two);
  s.finish();
  CHECK(s.pending() == half_past_ten_z);
  s.observe(nine_minus_five);
  s.finish();
  CHECK(s.pending() == nine_minus_five);
}

TEST_CASE("integers are compared as integers, cursors byte-wise, with any Compare") {
  integer_since_tracker n;
  n.observe(9);
  n.observe(10);
  n.observe(-3);
  n.finish();
  CHECK(n.pending() == std::int64_t{10});
  cursor_since_tracker c;  // the reason dates and counters are not kept as text
  c.observe("9");
  c.observe("10");
  c.finish();
  CHECK(c.pending() == std::string("9"));
  // A source whose sequence counts down.
  since_tracker<std::int64_t, std::greater<std::int64_t>> down(std::int64_t{100});
  down.observe(90);
  down.observe(95);
  down.finish();
  CHECK(down.pending() == std::int64_t{90});
  down.commit();
  down.observe(120);
  down.finish();
  down.commit();
  CHECK(down.committed() == std::int64_t{90});  // never backwards in its own order
}
