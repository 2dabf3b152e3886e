#include <sincehash/offset.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace sincehash;
using namespace std::chrono_literals;

namespace {
instant t(std::int64_t seconds) { return instant(std::chrono::seconds(seconds)); }
}  // namespace

TEST_CASE("an unsorted source advances to the maximum at the end of the batch") {
  since_tracker<instant> s;
  CHECK_FALSE(s.since().has_value());  // full sync
  for (auto v : {t(50), t(90), t(70)}) CHECK(s.observe(v) == observe_result::accepted);
  CHECK_FALSE(s.pending().has_value());  // not before the batch is complete
  s.finish();
  CHECK(s.pending() == t(90));
  CHECK_FALSE(s.since().has_value());  // nothing committed yet
  s.commit();
  CHECK(s.since() == t(90));
}

TEST_CASE("a chronological source advances per record, so a run can resume mid-way") {
  since_options o;
  o.chronological = true;
  since_tracker<instant> s(std::nullopt, o);
  s.observe(t(10));
  CHECK(s.pending() == t(10));
  s.observe(t(20));
  CHECK(s.pending() == t(20));
  s.commit();  // delivered up to here; then the process dies
  since_tracker<instant> resumed(s.committed(), o);
  CHECK(resumed.since() == t(20));
}

TEST_CASE("an out-of-order record in a chronological source switches to max-at-end and is reported") {
  since_options o;
  o.chronological = true;
  since_tracker<instant> s(std::nullopt, o);
  s.observe(t(10));
  s.observe(t(30));
  CHECK(s.observe(t(20)) == observe_result::out_of_order);
  CHECK_FALSE(s.advancing_per_record());
  CHECK(s.observe(t(40)) == observe_result::accepted);
  CHECK(s.pending() == t(30));  // frozen at the last in-order value until the batch ends
  s.finish();
  CHECK(s.pending() == t(40));
  CHECK(s.report().out_of_order == 1);
  CHECK(s.report().first_out_of_order == std::size_t{2});
  // An unsorted source reports nothing for the same sequence.
  since_tracker<instant> u;
  for (auto v : {t(10), t(30), t(20)}) CHECK(u.observe(v) == observe_result::accepted);
  CHECK(u.report().out_of_order == 0);
}

TEST_CASE("a value too far in the future does not advance the offset and is reported") {
  since_options o;
  o.max_future_skew = 5min;
  since_tracker<instant> s(std::nullopt, o);
  const instant now = t(1000);
  CHECK(s.observe(now + 4min, now) == observe_result::accepted);
  CHECK(s.observe(now + 6min, now) == observe_result::future_skewed);
  s.finish();
  CHECK(s.pending() == now + 4min);
  CHECK(s.report().future_skewed == 1);
  CHECK(s.report().first_future_skewed == std::size_t{1});
}

TEST_CASE("the offset never moves backwards; rollback and reset") {
  since_tracker<instant> s(t(100));
  s.observe(t(40));
  s.finish();
  CHECK(s.pending() == t(100));
  s.commit();
  CHECK(s.committed() == t(100));
  s.observe(t(200));
  s.finish();
  s.rollback();  // delivery failed: the batch is fetched again
  CHECK(s.committed() == t(100));
  CHECK(s.since() == t(100));
  s.reset();
  CHECK_FALSE(s.since().has_value());
}

TEST_CASE("ties: with an inclusive since no record sharing the offset's timestamp is lost") {
  // Records (timestamp, id) sorted by timestamp; pages of 4 (more than the largest tie group, as
  // inclusive continuation needs); the source answers `>= since`.
  std::vector<std::pair<std::int64_t, int>> rows = {{1, 1}, {2, 2}, {3, 3}, {3, 4}, {3, 5}, {4, 6}};
  since_tracker<instant> s;
  std::vector<int> seen;
  for (int poll = 0; poll < 10; ++poll) {
    auto since = s.since();
    std::vector<std::pair<std::int64_t, int>> page;
    for (const auto& r : rows) {
      if (since && t(r.first) < *since) continue;
      if (page.size() == 4) break;
      page.push_back(r);
    }
    for (const auto& r : page) {
      s.observe(t(r.first));
      bool dup = false;
      for (int id : seen) dup = dup || id == r.second;  // the hash store's job in the detector
      if (!dup) seen.push_back(r.second);
    }
    s.finish();
    s.commit();
  }
  CHECK(seen == std::vector<int>{1, 2, 3, 4, 5, 6});
  // The same with an exclusive `>`: the first page ends inside the tie at 3; ids sharing it are lost.
  since_tracker<instant> x;
  std::vector<int> naive;
  for (int poll = 0; poll < 10; ++poll) {
    auto since = x.since();
    std::size_t n = 0;
    for (const auto& r : rows) {
      if (since && t(r.first) <= *since) continue;
      if (n++ == 4) break;
      x.observe(t(r.first));
      naive.push_back(r.second);
    }
    x.finish();
    x.commit();
  }
  CHECK(naive == std::vector<int>{1, 2, 3, 4, 6});  // 5 is lost
}

TEST_CASE("instants are compared as instants, integers as integers, strings byte-wise") {
  // 11:00+01:00 and 10:30Z as instants: the second is later.
  const instant a = instant(std::chrono::hours(10));                             // 11:00+01:00 → 10:00Z
  const instant b = instant(std::chrono::hours(10) + std::chrono::minutes(30));  // 10:30Z
  since_tracker<instant> s;
  s.observe(b);
  s.observe(a);
  s.finish();
  CHECK(s.pending() == b);
  since_tracker<std::int64_t> n;
  n.observe(9);
  n.observe(10);
  n.finish();
  CHECK(n.pending() == 10);  // "9" > "10" as text; 10 > 9 as integers
  since_tracker<std::string> c;
  c.observe("cursor-a");
  c.observe("cursor-b");
  c.finish();
  CHECK(c.pending() == std::string("cursor-b"));
}

TEST_CASE("a lookback is subtracted from the since value, not from the committed offset") {
  since_options o;
  o.lookback = 10min;
  since_tracker<instant> s(t(3600), o);
  CHECK(s.since() == t(3000));
  CHECK(s.committed() == t(3600));
}
