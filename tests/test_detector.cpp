#include <sincehash/detector.hpp>
#include <sincehash/input.hpp>
#include <sincehash/store/memory.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace sincehash;

namespace {

resource_settings contacts(std::vector<std::string> watched = {"email", "name"}) {
  resource_settings s;
  s.name = "contacts";
  s.url = "/contacts?since=${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}";
  s.id_field = field_path::parse("id").value();
  s.updated =
      date_field{field_path::parse("updated").value(), date_format::compile("", time_zone::utc()).value()};
  s.watched = std::move(watched);
  return s;
}

std::string rec(const std::string& id, const std::string& email, const std::string& updated,
                const std::string& other = "x", const std::string& name = "N") {
  return R"({"id":")" + id + R"(","email":")" + email + R"(","name":")" + name + R"(","other":")" + other +
         R"(","updated":")" + updated + R"("})";
}

instant at(const char* iso) { return parse_iso8601(iso).value(); }

// Records with their positions, kept alive by the batch object.
struct batch {
  std::vector<std::string> texts;
  std::vector<input_record> records() const {
    std::vector<input_record> out;
    for (std::size_t i = 0; i < texts.size(); ++i) out.push_back({texts[i], i + 1});
    return out;
  }
};

template <class D>
batch_result run(D& d, const batch& b, bool commit = true) {
  auto records = b.records();
  batch_result r = d.process(records);
  if (commit) d.commit(r.pending);
  return r;
}

std::vector<std::string> ids_of(const batch_result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.events) out.push_back(e.id);
  return out;
}

using detector = change_detector<memory_store, field_hasher<>, pinnable_clock>;

}  // namespace

TEST_CASE("first sighting is dispatched, an unchanged record is not, a watched change is") {
  memory_store store;
  detector d(store, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  auto r1 = run(d, {{rec("1", "a@x", "2024-03-01T10:00:00Z"), rec("2", "b@x", "2024-03-01T10:00:00Z")}});
  CHECK(ids_of(r1) == std::vector<std::string>{"1", "2"});
  CHECK(r1.events[0].type == event_type::created);
  CHECK(r1.stats.created == 2);

  auto r2 = run(d, {{rec("1", "a@x", "2024-03-02T10:00:00Z", "other field changed"),
                     rec("2", "b2@x", "2024-03-02T10:00:00Z")}});
  CHECK(ids_of(r2) == std::vector<std::string>{"2"});
  CHECK(r2.events[0].type == event_type::updated);
  CHECK(r2.stats.unchanged == 1);
  CHECK(r2.stats.updated == 1);

  // The exact same poll again writes nothing at all.
  auto r3 = run(d,
                {{rec("1", "a@x", "2024-03-02T10:00:00Z", "other field changed"),
                  rec("2", "b2@x", "2024-03-02T10:00:00Z")}},
                false);
  CHECK(r3.events.empty());
  CHECK(r3.pending.empty());
}

TEST_CASE("process writes nothing: a crash before commit re-dispatches the same events") {
  memory_store store;
  detector d(store, "i/contacts", contacts());
  batch b{{rec("1", "a@x", "2024-03-01T10:00:00Z")}};
  auto first = run(d, b, false);  // dispatched, then the process dies before commit
  CHECK(store.count("i/contacts") == 0);
  CHECK_FALSE(d.offset().has_value());
  auto again = run(d, b);
  REQUIRE(again.events.size() == 1);
  CHECK(again.events[0].event_id == first.events[0].event_id);  // a downstream can drop the re-delivery
  CHECK(d.offset().value().text == "2024-03-01T10:00:00Z");
  CHECK(run(d, b).events.empty());
}

TEST_CASE("an older copy is stale and leaves the state untouched; an unchanged newer date is still stored") {
  memory_store store;
  detector d(store, "p", contacts());
  run(d, {{rec("1", "a@x", "2024-03-02T00:00:00Z")}});
  auto stale = run(d, {{rec("1", "OLD@x", "2024-03-01T00:00:00Z")}});
  CHECK(stale.events.empty());
  CHECK(stale.stats.stale == 1);
  CHECK(stale.pending.batch.upserts.empty());
  // unchanged but newer: not dispatched, date stored, so a copy between the two dates is now stale
  auto newer = run(d, {{rec("1", "a@x", "2024-03-04T00:00:00Z")}});
  CHECK(newer.events.empty());
  CHECK(newer.pending.batch.upserts.size() == 1);
  auto between = run(d, {{rec("1", "z@x", "2024-03-03T00:00:00Z")}});
  CHECK(between.events.empty());
  CHECK(between.stats.stale == 1);
}

TEST_CASE("created vs updated from the created-date field") {
  memory_store store;
  auto s = contacts();
  s.created =
      date_field{field_path::parse("created").value(), date_format::compile("", time_zone::utc()).value()};
  detector d(store, "p", s);
  auto with_created = [](const std::string& id, const std::string& email, const std::string& updated,
                         const std::string& created) {
    return R"({"id":")" + id + R"(","email":")" + email + R"(","updated":")" + updated + R"(","created":")" +
           created + R"("})";
  };
  // no stored offset: created == updated → created; otherwise updated
  auto r = run(d, {{with_created("1", "a", "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"),
                    with_created("2", "b", "2024-03-01T00:00:00Z", "2023-01-01T00:00:00Z")}});
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0].type == event_type::created);
  CHECK(r.events[1].type == event_type::updated);
  // stored offset 2024-03-01: created at or after it → created (even when updated later)
  r = run(d, {{with_created("3", "c", "2024-03-02T00:00:00Z", "2024-03-01T00:00:00Z"),
               with_created("4", "d", "2024-03-02T00:00:00Z", "2024-02-28T00:00:00Z")}});
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0].type == event_type::created);
  CHECK(r.events[1].type == event_type::updated);
}

TEST_CASE("copies of one id in one batch are classified in order; A→B→A yields distinct event ids") {
  memory_store store;
  detector d(store, "p", contacts());
  auto r = run(d, {{rec("1", "A", "2024-03-01T00:00:01Z"), rec("1", "B", "2024-03-01T00:00:02Z"),
                    rec("1", "B", "2024-03-01T00:00:03Z"), rec("1", "A", "2024-03-01T00:00:04Z"),
                    rec("1", "Z", "2024-03-01T00:00:00Z")}});
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[0].type == event_type::created);
  CHECK(r.events[1].type == event_type::updated);
  CHECK(r.events[2].type == event_type::updated);
  CHECK(r.stats.unchanged == 1);
  CHECK(r.stats.stale == 1);
  std::set<std::string> ids{r.events[0].event_id, r.events[1].event_id, r.events[2].event_id};
  CHECK(ids.size() == 3);
  CHECK(r.pending.batch.upserts.size() == 1);  // one row per id
  CHECK(r.pending.batch.upserts[0].second.updated == at("2024-03-01T00:00:04Z"));
}

namespace {

// A source of records sorted by updated date, answering `updated >= since` (inclusive) or
// `updated > since` (exclusive, the common bug) one page at a time.
struct paged_source {
  std::vector<std::pair<instant, std::string>> rows;  // sorted by date
  std::size_t page_size;
  bool inclusive;
  std::vector<std::string> page(const std::optional<instant>& since) const {
    std::vector<std::string> out;
    for (const auto& [t, text] : rows) {
      if (since && (inclusive ? t < *since : t <= *since)) continue;
      out.push_back(text);
      if (out.size() == page_size) break;
    }
    return out;
  }
};

std::map<std::string, int> sync_all(paged_source src) {
  memory_store store;
  detector d(store, "p", contacts());
  std::map<std::string, int> dispatched;
  for (int poll = 0; poll < 1000; ++poll) {
    std::optional<instant> since;
    if (auto off = d.offset()) since = instant(std::chrono::nanoseconds(off->number));
    batch b{src.page(since)};
    auto r = run(d, b);
    for (const auto& e : r.events) ++dispatched[e.id];
    if (r.events.empty() &&
        (!d.offset() || (since && d.offset()->number == since->time_since_epoch().count())))
      break;
  }
  return dispatched;
}

}  // namespace

TEST_CASE("ties across page boundaries: inclusive continuation loses none and dispatches none twice") {
  std::mt19937 rng(7);
  paged_source src;
  src.page_size = 25;
  const instant base = at("2024-03-01T00:00:00Z");
  for (int i = 0; i < 400; ++i) {
    // 400 records over 40 distinct milliseconds: about ten share each timestamp.
    const instant t = base + std::chrono::milliseconds(rng() % 40);
    src.rows.emplace_back(t, rec("r" + std::to_string(i), "e" + std::to_string(i), format_rfc3339(t, 3)));
  }
  std::stable_sort(src.rows.begin(), src.rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  src.inclusive = true;
  auto got = sync_all(src);
  CHECK(got.size() == 400);
  CHECK(std::all_of(got.begin(), got.end(), [](const auto& kv) { return kv.second == 1; }));

  // The same data with a plain `>`: records sharing a page's last timestamp are lost. This is
  // what the test above would catch if the detector did not filter the re-sent records.
  src.inclusive = false;
  auto naive = sync_all(src);
  CHECK(naive.size() < 400);
}

TEST_CASE("changing the watched fields re-baselines silently: no storm, newer changes still dispatched") {
  memory_store store;
  batch b;
  for (int i = 0; i < 100; ++i) b.texts.push_back(rec(std::to_string(i), "e", "2024-03-01T00:00:00Z"));
  {
    detector d(store, "p", contacts({"email"}));
    CHECK(run(d, b).events.size() == 100);
  }
  detector d2(store, "p", contacts({"email", "name", "other"}));
  // The records come back over several polls; none is fired as changed.
  batch first_half{std::vector<std::string>(b.texts.begin(), b.texts.begin() + 50)};
  batch second_half{std::vector<std::string>(b.texts.begin() + 50, b.texts.end())};
  CHECK(run(d2, first_half).events.empty());
  second_half.texts[0] = rec("50", "e", "2024-03-02T00:00:00Z", "really changed");
  auto r = run(d2, second_half);
  CHECK(ids_of(r) == std::vector<std::string>{"50"});
  CHECK(run(d2, b).events.empty());  // everything now hashed under the new settings
  batch changed{{rec("7", "e", "2024-03-01T00:00:00Z", "other now watched")}};
  CHECK(ids_of(run(d2, changed)) == std::vector<std::string>{"7"});
}

TEST_CASE("partitions never see each other's state") {
  memory_store store;
  detector a(store, "instance-1/contacts", contacts());
  detector b(store, "instance-2/contacts", contacts());
  batch x{{rec("1", "a@x", "2024-03-01T00:00:00Z")}};
  CHECK(run(a, x).events.size() == 1);
  CHECK(run(b, x).events.size() == 1);
  CHECK(run(a, x).events.empty());
  a.reset(true);
  CHECK(run(a, x).events.size() == 1);
  CHECK(run(b, x).events.empty());
  CHECK(b.offset().has_value());
}

TEST_CASE("deletes are reported only by a completed rescan") {
  memory_store store;
  detector d(store, "p", contacts());
  batch all{{rec("1", "a", "2024-03-01T00:00:00Z"), rec("2", "b", "2024-03-01T00:00:00Z"),
             rec("3", "c", "2024-03-01T00:00:00Z")}};
  run(d, all);
  // An interrupted rescan: it saw only id 1 and never completed.
  d.begin_rescan();
  run(d, {{rec("1", "a", "2024-03-01T00:00:00Z")}});
  // Restarted: the complete listing lacks id 2, in two pages. Unchanged records are marked as
  // seen without rewriting their rows.
  d.begin_rescan();
  auto page1 = run(d, {{rec("1", "a", "2024-03-01T00:00:00Z")}});
  CHECK(page1.pending.batch.upserts.empty());
  CHECK(page1.pending.batch.rescan_seen == std::vector<std::string>{"1"});
  run(d, {{rec("3", "c", "2024-03-01T00:00:00Z")}});
  auto done = d.complete_rescan();
  REQUIRE(done.events.size() == 1);
  CHECK(done.events[0].type == event_type::deleted);
  CHECK(done.events[0].id == "2");
  CHECK(done.events[0].record.empty());
  CHECK(store.count("p") == 3);  // nothing removed before commit
  d.commit(done.pending);
  CHECK(store.count("p") == 2);
  CHECK_FALSE(d.rescan_active());
  CHECK_THROWS_AS((void)d.complete_rescan(), sincehash::error);
  // With deletions off, a rescan reports nothing.
  auto s = contacts();
  s.detect_deletes = false;
  detector quiet(store, "p", s);
  quiet.begin_rescan();
  auto none = quiet.complete_rescan();
  CHECK(none.events.empty());
}

TEST_CASE("offsets written with different UTC offsets are compared as instants") {
  memory_store store;
  detector d(store, "p", contacts());
  // 11:00+01:00 is 10:00Z, earlier than 10:30Z though its text sorts later.
  run(d, {{rec("1", "a", "2024-03-01T11:00:00+01:00"), rec("2", "b", "2024-03-01T10:30:00Z")}});
  CHECK(d.since().value() == "2024-03-01T10:30:00Z");
  run(d, {{rec("3", "c", "2024-03-01T11:15:00+01:00")}});  // 10:15Z: does not move the offset back
  CHECK(d.since().value() == "2024-03-01T10:30:00Z");
  run(d, {{rec("4", "d", "2024-03-01T06:00:00-05:00")}});  // 11:00Z
  CHECK(d.since().value() == "2024-03-01T06:00:00-05:00");
  CHECK(d.since_url().value() == "/contacts?since=2024-03-01T11:00:00.000Z");
}

TEST_CASE("a date too far in the future is dispatched but does not advance the offset") {
  memory_store store;
  auto s = contacts();
  s.max_future_skew = std::chrono::minutes(5);
  detector d(store, "p", s, pinnable_clock{at("2024-03-01T12:00:00Z")});
  auto r = run(d, {{rec("1", "a", "2024-03-01T11:00:00Z"), rec("2", "b", "2024-03-01T13:00:00Z")}});
  CHECK(r.events.size() == 2);
  REQUIRE(r.notices.size() == 1);
  CHECK(r.notices[0].position == 2);
  CHECK(d.since().value() == "2024-03-01T11:00:00Z");
}

TEST_CASE("a TTL refresh of an unchanged record is written at most once per quarter of the TTL") {
  memory_store store;
  auto s = contacts();
  s.ttl = std::chrono::hours(24);
  batch b{{rec("1", "a", "2024-03-01T00:00:00Z")}};
  auto at_time = [&](const char* now) {
    detector d(store, "p", s, pinnable_clock{at(now)});
    return run(d, b);
  };
  CHECK(at_time("2024-03-01T00:00:00Z").pending.batch.upserts.size() == 1);  // first sighting
  CHECK(at_time("2024-03-01T05:59:00Z").pending.batch.upserts.empty());      // under a quarter
  CHECK(at_time("2024-03-01T06:00:00Z").pending.batch.upserts.size() == 1);  // a quarter: refreshed
  CHECK(at_time("2024-03-01T07:00:00Z").pending.batch.upserts.empty());
  CHECK(at_time("2024-03-01T07:00:00Z").events.empty());
}

TEST_CASE("an expired state counts as never seen") {
  memory_store store;
  auto s = contacts();
  s.ttl = std::chrono::hours(24);
  pinnable_clock clock{at("2024-03-01T00:00:00Z")};
  batch b{{rec("1", "a", "2024-03-01T00:00:00Z")}};
  {
    detector d(store, "p", s, clock);
    CHECK(run(d, b).events.size() == 1);
  }
  {
    detector d(store, "p", s, pinnable_clock{at("2024-03-01T12:00:00Z")});
    CHECK(run(d, b).events.empty());
  }
  detector later(store, "p", s, pinnable_clock{at("2024-03-03T00:00:00Z")});
  auto r = run(later, b);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].type == event_type::created);
}

TEST_CASE("invalid records are reported with position and reason and do not stop the batch") {
  memory_store store;
  detector d(store, "p", contacts());
  batch b{{"not json", "[1,2]", R"({"email":"no id"})", R"({"id":"4","email":"x"})",
           R"({"id":"5","updated":"2024-02-30T00:00:00Z"})",
           R"({"id":{"a":1},"updated":"2024-03-01T00:00:00Z"})", rec("7", "ok", "2024-03-01T00:00:00Z")}};
  auto r = run(d, b);
  CHECK(ids_of(r) == std::vector<std::string>{"7"});
  CHECK(r.stats.invalid == 6);
  CHECK(r.stats.processed == 7);
  REQUIRE(r.rejected.size() == 6);
  CHECK(r.rejected[0].position == 1);
  CHECK_FALSE(r.rejected[0].record_is_json);
  CHECK(r.rejected[1].record_is_json);
  CHECK(r.rejected[2].reason.find("id") != std::string::npos);
  CHECK(r.rejected[3].id.value() == "4");
  CHECK(r.rejected[3].reason.find("updated") != std::string::npos);
  CHECK(r.rejected[4].reason.find("2024-02-30") != std::string::npos);
  CHECK(r.rejected[5].position == 6);

  auto strict = contacts();
  strict.strict = true;
  detector s(store, "q", strict);
  auto records = b.records();
  CHECK_THROWS_AS((void)s.process(records), sincehash::error);
}

TEST_CASE("a commit never moves the offset backwards") {
  memory_store store;
  detector d(store, "p", contacts());
  auto later = d.process(batch{{rec("1", "a", "2024-03-02T00:00:00Z")}}.records());
  auto earlier = d.process(batch{{rec("2", "b", "2024-03-01T00:00:00Z")}}.records());
  d.commit(later.pending);
  d.commit(earlier.pending);
  CHECK(d.since().value() == "2024-03-02T00:00:00Z");
}

TEST_CASE(
    "since: nothing on a full sync, the offset, or the offset minus the lookback in the source's format") {
  memory_store store;
  auto s = contacts();
  s.updated->format = date_format::compile("yyyy-MM-dd'T'HH:mm:ss.SSSZ", time_zone::utc()).value();
  s.lookback = std::chrono::minutes(10);
  s.initial_since = "2000-01-01T00:00:00Z";
  detector d(store, "p", s);
  CHECK_FALSE(d.since().has_value());
  CHECK(d.since_url().value() == "/contacts?since=2000-01-01T00:00:00.000Z");
  run(d, {{rec("1", "a", "2024-03-01T10:00:00.000+0000")}});
  CHECK(d.since().value() == "2024-03-01T09:50:00.000+0000");
  CHECK(d.since_url().value() == "/contacts?since=2024-03-01T09:50:00.000Z");
  d.reset();
  CHECK_FALSE(d.since().has_value());
}

namespace {

// Everything two detectors report and commit for one batch must agree.
void check_same(const batch_result& a, const batch_result& b) {
  REQUIRE(a.events.size() == b.events.size());
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    CHECK(a.events[i].event_id == b.events[i].event_id);
    CHECK(a.events[i].type == b.events[i].type);
    CHECK(a.events[i].id == b.events[i].id);
    CHECK(a.events[i].updated == b.events[i].updated);
    CHECK(a.events[i].position == b.events[i].position);
    CHECK(a.events[i].record == b.events[i].record);
  }
  REQUIRE(a.rejected.size() == b.rejected.size());
  for (std::size_t i = 0; i < a.rejected.size(); ++i) {
    CHECK(a.rejected[i].position == b.rejected[i].position);
    CHECK(a.rejected[i].id == b.rejected[i].id);
    CHECK(a.rejected[i].reason == b.rejected[i].reason);
  }
  CHECK(a.stats.unchanged == b.stats.unchanged);
  CHECK(a.stats.stale == b.stats.stale);
  CHECK(a.pending.batch.upserts == b.pending.batch.upserts);
  CHECK(a.pending.batch.rescan_seen == b.pending.batch.rescan_seen);
  CHECK(a.pending.offset_after == b.pending.offset_after);
}

// Random batches with repeated ids, stale copies, watched and unwatched changes and invalid
// records.
std::vector<batch> random_batches(unsigned seed, int count) {
  std::mt19937 rng(seed);
  auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  std::vector<batch> out(static_cast<std::size_t>(count));
  for (auto& b : out) {
    const unsigned size = 600 + pick(1500);
    for (unsigned i = 0; i < size; ++i) {
      const std::string id = std::to_string(pick(900));
      const unsigned kind = pick(40);
      if (kind == 0) {
        b.texts.push_back("{\"id\":\"" + id + "\",\"email\":");  // not JSON
      } else if (kind == 1) {
        b.texts.push_back("{\"id\":\"" + id + "\",\"updated\":\"yesterday\"}");  // bad date
      } else {
        char updated[32];
        std::snprintf(updated, sizeof updated, "2024-03-0%uT10:%02u:00Z", 1 + pick(4), pick(60));
        b.texts.push_back(rec(id, "e" + std::to_string(pick(3)) + "@x", updated, std::to_string(pick(5))));
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("reading a batch with several threads gives exactly the results of one thread") {
  // Through two detectors on two stores, one reading alone, one with 3 threads, and a rescan
  // from the fifth batch on: everything they report and commit must agree, batch after batch.
  memory_store store1, store3;
  detector one(store1, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  detector three(store3, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  three.set_reader_threads(3);
  CHECK(three.reader_threads() == 3);
  std::size_t events = 0, invalid = 0;
  const std::vector<batch> batches = random_batches(7, 6);
  for (std::size_t round = 0; round < batches.size(); ++round) {
    if (round == 4) {
      one.begin_rescan();
      three.begin_rescan();
    }
    const auto r1 = run(one, batches[round], false);
    const auto r3 = run(three, batches[round], false);
    check_same(r1, r3);
    events += r1.events.size();
    invalid += r1.rejected.size();
    one.commit(r1.pending);
    three.commit(r3.pending);
  }
  const auto d1 = one.complete_rescan();
  const auto d3 = three.complete_rescan();
  CHECK(d1.pending.batch.erasures == d3.pending.batch.erasures);
  // The batches did exercise dispatches and rejects.
  CHECK(events > 500);
  CHECK(invalid > 50);
}

TEST_CASE("read and classify overlapped: each batch read while the one before is classified") {
  // One detector processes the batches one after the other; another reads batch k+1 on a second
  // thread (with 2 reader threads) while it classifies and commits batch k. Same results.
  const std::vector<batch> batches = random_batches(11, 7);
  std::vector<std::vector<input_record>> records;
  for (const auto& b : batches) records.push_back(b.records());
  memory_store plain_store, overlapped_store;
  detector plain(plain_store, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  detector overlapped(overlapped_store, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  overlapped.set_reader_threads(2);
  std::vector<batch_result> expected;
  for (std::size_t k = 0; k < records.size(); ++k) {
    if (k == 5) plain.begin_rescan();
    expected.push_back(plain.process(records[k]));
    plain.commit(expected.back().pending);
  }
  detector::read_batch current = overlapped.read(records[0]);
  CHECK(current.size() == records[0].size());
  for (std::size_t k = 0; k < records.size(); ++k) {
    std::future<detector::read_batch> ahead;
    if (k + 1 < records.size())
      ahead = std::async(std::launch::async, [&, k] { return overlapped.read(records[k + 1]); });
    if (k == 5) overlapped.begin_rescan();
    const batch_result r = overlapped.classify(std::move(current));
    check_same(expected[k], r);
    overlapped.commit(r.pending);
    if (ahead.valid()) current = ahead.get();
  }
  CHECK(plain.complete_rescan().pending.batch.erasures ==
        overlapped.complete_rescan().pending.batch.erasures);
  CHECK(plain_store.offset("i/contacts") == overlapped_store.offset("i/contacts"));
}

namespace {

// Reads as nlohmann_access does, but throws on a record holding "explode" and counts the copies
// made of it (each reading thread makes its own).
struct exploding_access {
  static inline std::atomic<int> copies{0};
  exploding_access() = default;
  exploding_access(const exploding_access&) { ++copies; }
  exploding_access& operator=(const exploding_access&) = default;
  result<void> read(std::string_view json, record_sink& sink) {
    if (json.find("explode") != std::string_view::npos) throw std::runtime_error("exploded while reading");
    return inner.read(json, sink);
  }
  nlohmann_access inner;
};

}  // namespace

TEST_CASE("reading threads: kept from batch to batch, rethrow what they throw, copied and moved") {
  using exploding_detector =
      change_detector<memory_store, field_hasher<xxh3_64, exploding_access>, pinnable_clock>;
  const std::vector<batch> batches = random_batches(21, 4);
  std::vector<std::vector<input_record>> records;
  for (const auto& b : batches) records.push_back(b.records());
  REQUIRE(records[0].size() >= 1024);  // enough for 4 threads

  memory_store expected_store, store;
  detector plain(expected_store, "p", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  exploding_detector d(store, "p", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  d.set_reader_threads(4);
  const int copies_before = exploding_access::copies.load();
  const auto step = [&](exploding_detector& x, std::size_t k) {
    const batch_result e = plain.process(records[k]);
    plain.commit(e.pending);
    const batch_result r = x.process(records[k]);
    check_same(e, r);
    x.commit(r.pending);
  };
  step(d, 0);
  step(d, 1);
  // Four threads started once, each with its own copy of the hasher, kept for the second batch.
  CHECK(exploding_access::copies.load() - copies_before == 4);

  // A record that makes a reading thread throw: the exception comes out of `process`, nothing is
  // committed, and the threads read the next batch.
  std::vector<input_record> bad = records[2];
  const std::string exploding = R"({"id":"x","updated":"2024-03-01T00:00:00Z","email":"explode"})";
  bad[bad.size() / 2].bytes = exploding;
  bad[bad.size() / 2].padding = 0;
  CHECK_THROWS_WITH_AS(d.process(bad), "exploded while reading", std::runtime_error);
  step(d, 2);

  // A copy reads with as many threads of its own; the original reads on. A moved-to detector
  // keeps the threads.
  exploding_detector copy = d;
  CHECK(copy.reader_threads() == 4);
  step(d, 3);
  exploding_detector moved = std::move(d);
  CHECK(moved.reader_threads() == 4);
  const batch_result again = moved.process(records[3]);
  CHECK(again.events.empty());  // batch 3 was committed through `d`
  const batch_result from_copy = copy.process(records[3]);
  CHECK(from_copy.events.empty());  // the copy works on the same store
  CHECK(exploding_access::copies.load() - copies_before >= 8);
}

#if defined(__unix__) || defined(__APPLE__)
TEST_CASE("reading threads: a forked child reads with threads of its own") {
  // The child inherits a detector whose reading threads did not survive the fork: it reads the
  // next batches with new ones, with the results of the parent, and is destroyed without hanging.
  const std::vector<batch> batches = random_batches(31, 3);
  std::vector<std::vector<input_record>> records;
  for (const auto& b : batches) records.push_back(b.records());
  memory_store store;
  detector d(store, "p", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  d.set_reader_threads(2);
  d.commit(d.process(records[0]).pending);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::alarm(60);  // a child that hangs is killed, and fails the test
    int code = 0;
    {
      memory_store child_store;
      detector fresh(child_store, "p", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
      fresh.commit(fresh.process(records[0]).pending);
      detector inherited = d;  // copied, and the original used too: both read with 2 threads
      for (std::size_t k = 1; k < records.size(); ++k) {
        const batch_result a = fresh.process(records[k]);
        const batch_result b = d.process(records[k]);
        if (a.events.size() != b.events.size() || a.stats.updated != b.stats.updated) code = 1;
        fresh.commit(a.pending);
        d.commit(b.pending);
      }
      if (inherited.process(records[2]).events.size() != 0) code = 2;  // batch 2 committed above
    }
    std::_Exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The parent's threads are unaffected.
  const batch_result r = d.process(records[1]);
  CHECK(r.stats.processed == records[1].size());
}
#endif

TEST_CASE("a known record is updated, never created again, whatever its created date") {
  memory_store store;
  auto s = contacts();
  s.created =
      date_field{field_path::parse("created").value(), date_format::compile("", time_zone::utc()).value()};
  detector d(store, "p", s);
  const auto with_created = [](const std::string& email, const std::string& updated) {
    return R"({"id":"1","email":")" + email + R"(","updated":")" + updated +
           R"(","created":"2024-03-01T00:00:00Z"})";
  };
  auto first = run(d, {{with_created("a", "2024-03-01T00:00:00Z")}});
  REQUIRE(first.events.size() == 1);
  CHECK(first.events[0].type == event_type::created);
  // The created date is now at the stored offset, which would make a first sighting `created`.
  auto second = run(d, {{with_created("b", "2024-03-02T00:00:00Z")}});
  REQUIRE(second.events.size() == 1);
  CHECK(second.events[0].type == event_type::updated);
  CHECK(second.stats.created == 0);
  CHECK(second.stats.updated == 1);
}

TEST_CASE("a created date of the wrong JSON type makes the record invalid; null or missing do not") {
  memory_store store;
  auto s = contacts();
  s.created =
      date_field{field_path::parse("created").value(), date_format::compile("", time_zone::utc()).value()};
  detector d(store, "p", s);
  const std::string base = R"({"email":"a","updated":"2024-03-01T00:00:00Z","id":")";
  auto r = run(d, {{base + R"(1","created":true})", base + R"(2","created":{"at":1}})",
                    base + R"(3","created":null})", base + R"(4"})"}});
  REQUIRE(r.rejected.size() == 2);
  CHECK(r.rejected[0].id.value() == "1");
  CHECK(r.rejected[0].reason.find("created") != std::string::npos);
  CHECK(r.rejected[0].reason.find("boolean") != std::string::npos);
  CHECK(r.rejected[1].id.value() == "2");
  CHECK(r.rejected[1].reason.find("object") != std::string::npos);
  CHECK(ids_of(r) == std::vector<std::string>{"3", "4"});
  CHECK(r.stats.invalid == 2);
}

TEST_CASE("a rescan does not report expired states as deleted, and erases them") {
  memory_store store;
  auto s = contacts();
  s.ttl = std::chrono::hours(24);
  pinnable_clock clock{at("2024-03-01T00:00:00Z")};
  {
    detector d(store, "p", s, clock);
    run(d, {{rec("1", "a", "2024-02-28T00:00:00Z"), rec("2", "b", "2024-02-28T00:00:00Z")}});
  }
  detector d(store, "p", s, pinnable_clock{at("2024-03-01T12:00:00Z")});
  run(d, {{rec("3", "c", "2024-03-01T00:00:00Z")}});  // 1 and 2 expire at 03-02T00:00
  detector later(store, "p", s, pinnable_clock{at("2024-03-02T06:00:00Z")});
  later.begin_rescan();
  run(later, {{rec("4", "d", "2024-03-01T00:00:00Z")}});
  auto done = later.complete_rescan();
  // 1 and 2 expired, 3 is alive and unseen: only 3 is deleted
  REQUIRE(done.events.size() == 1);
  CHECK(done.events[0].id == "3");
  CHECK(done.stats.deleted == 1);
  later.commit(done.pending);
  CHECK(store.count("p") == 1);  // only 4 is left
}

TEST_CASE("a dry-run rescan shows the deletions a real one would make, and commits nothing") {
  memory_store store;
  detector d(store, "p", contacts());
  run(d, {{rec("1", "a", "2024-03-01T00:00:00Z"), rec("2", "b", "2024-03-01T00:00:00Z"),
           rec("3", "c", "2024-03-01T00:00:00Z")}});
  const std::size_t before = store.count("p");
  d.begin_rescan(detector::rescan_mode::dry_run);
  CHECK_FALSE(store.rescan_active("p"));
  run(d, {{rec("1", "a", "2024-03-01T00:00:00Z")}}, false);
  run(d, {{R"({"id":"3","email":"c"})"}}, false);  // invalid (no date) but its id was seen
  auto preview = d.complete_rescan();
  REQUIRE(preview.events.size() == 1);
  CHECK(preview.events[0].id == "2");
  CHECK(preview.events[0].type == event_type::deleted);
  CHECK(preview.pending.empty());
  CHECK(store.count("p") == before);
  // the real rescan reports the same
  d.begin_rescan();
  run(d, {{rec("1", "a", "2024-03-01T00:00:00Z")}});
  run(d, {{R"({"id":"3","email":"c"})"}});
  auto real = d.complete_rescan();
  REQUIRE(real.events.size() == 1);
  CHECK(real.events[0].event_id == preview.events[0].event_id);
}

namespace {

// A resource whose updated field `seq` holds a cursor of `kind`.
resource_settings sequences(cursor_kind kind) {
  resource_settings s;
  s.name = "events";
  s.url = "/events?after=${since}";
  s.id_field = field_path::parse("id").value();
  s.updated = date_field{field_path::parse("seq").value(), date_format{}};
  s.cursor = kind;
  s.watched = {"email"};
  return s;
}

// A record whose `seq` is the JSON text `seq` (a number, or a quoted string).
std::string seq_rec(const std::string& id, const std::string& email, const std::string& seq) {
  return R"({"id":")" + id + R"(","email":")" + email + R"(","seq":)" + seq + "}";
}

}  // namespace

TEST_CASE("an integer cursor: numbers and digit strings, compared as integers, the batch's maximum") {
  memory_store store;
  detector d(store, "p", sequences(cursor_kind::integer));
  CHECK_FALSE(d.since().has_value());
  CHECK(d.since_url().value() == "/events?after=");  // a full sync: no initialSince, empty
  batch b{{seq_rec("1", "a", "9"), seq_rec("2", "b", R"("10")"), seq_rec("3", "c", "7")}};
  auto first = run(d, b);
  CHECK(ids_of(first) == std::vector<std::string>{"1", "2", "3"});
  CHECK(first.stats.created == 3);
  REQUIRE(first.events.size() == 3);
  CHECK(first.events[0].updated == "9");
  CHECK(first.events[0].updated_kind == value_kind::number);
  CHECK(first.events[1].updated == "10");
  CHECK(first.events[1].updated_kind == value_kind::string);
  // 10 > 9 as integers (as text "9" > "10"); the maximum, not the last value.
  const offset_value off = d.offset().value();
  CHECK(off.kind == offset_kind::integer);
  CHECK(off.number == 10);
  CHECK(off.text == "10");
  CHECK(d.since().value() == "10");
  CHECK(d.since_url().value() == "/events?after=10");
  CHECK_THROWS_AS((void)d.since_instant(), sincehash::error);

  // The same poll again: nothing dispatched, nothing written.
  auto again = run(d, b, false);
  CHECK(again.events.empty());
  CHECK(again.stats.unchanged == 3);
  CHECK(again.pending.empty());

  // A lower batch maximum never moves the offset back; a higher one does.
  run(d, {{seq_rec("4", "d", "8")}});
  CHECK(d.since().value() == "10");
  run(d, {{seq_rec("5", "e", "-3"), seq_rec("6", "f", R"("011")")}});
  CHECK(d.offset().value().number == 11);
  CHECK(d.since().value() == "011");  // as the source wrote it
}

TEST_CASE("an integer cursor: an older copy is stale, a newer change is dispatched") {
  memory_store store;
  detector d(store, "p", sequences(cursor_kind::integer));
  run(d, {{seq_rec("1", "a", "20")}});
  auto stale = run(d, {{seq_rec("1", "OLD", "15")}});
  CHECK(stale.events.empty());
  CHECK(stale.stats.stale == 1);
  CHECK(stale.pending.batch.upserts.empty());
  // unchanged but newer: stored, so a copy between the two is stale
  auto newer = run(d, {{seq_rec("1", "a", "30")}});
  CHECK(newer.events.empty());
  CHECK(newer.pending.batch.upserts.size() == 1);
  CHECK(run(d, {{seq_rec("1", "z", "25")}}).stats.stale == 1);
  auto changed = run(d, {{seq_rec("1", "z", "31")}});
  REQUIRE(changed.events.size() == 1);
  CHECK(changed.events[0].type == event_type::updated);
  // Negative values keep their order too.
  run(d, {{seq_rec("2", "a", "-5")}});
  CHECK(run(d, {{seq_rec("2", "b", "-6")}}).stats.stale == 1);
}

TEST_CASE("an integer cursor: a value that is not a 64-bit integer makes the record invalid") {
  memory_store store;
  detector d(store, "p", sequences(cursor_kind::integer));
  batch b{{seq_rec("1", "a", "9223372036854775808"), seq_rec("2", "a", R"("-9223372036854775809")"),
           seq_rec("3", "a", "1.5"), seq_rec("4", "a", R"("+5")"), seq_rec("5", "a", R"(" 5")"),
           seq_rec("6", "a", R"("")"), seq_rec("7", "a", "true"), seq_rec("8", "a", "1e3"),
           seq_rec("9", "a", "9223372036854775807"), seq_rec("10", "a", R"("-9223372036854775808")")}};
  auto r = run(d, b);
  CHECK(ids_of(r) == std::vector<std::string>{"9", "10"});
  REQUIRE(r.rejected.size() == 8);
  CHECK(r.rejected[0].reason.find("9223372036854775808") != std::string::npos);
  CHECK(r.rejected[0].reason.find("64-bit") != std::string::npos);
  CHECK(r.rejected[1].reason.find("-9223372036854775809") != std::string::npos);
  CHECK(r.rejected[2].reason.find("\"1.5\" is not an integer") != std::string::npos);
  CHECK(r.rejected[3].reason.find("\"+5\"") != std::string::npos);
  CHECK(r.rejected[6].reason.find("not a string or a number") != std::string::npos);
  CHECK(d.offset().value().number == INT64_MAX);
  CHECK(d.since().value() == "9223372036854775807");
}

TEST_CASE("an integer cursor's lookback is subtracted from it, saturating at the lowest 64-bit value") {
  memory_store store;
  auto s = sequences(cursor_kind::integer);
  s.integer_lookback = 5;
  detector d(store, "p", s);
  CHECK_FALSE(d.since().has_value());
  run(d, {{seq_rec("1", "a", "100")}});
  CHECK(d.since().value() == "95");
  CHECK(d.since_url().value() == "/events?after=95");
  CHECK(d.offset().value().number == 100);  // the offset itself is not moved back

  detector low(store, "q", s);
  run(low, {{seq_rec("1", "a", "-9223372036854775805")}});
  CHECK(low.since().value() == "-9223372036854775808");
  CHECK(subtract_integer_lookback(INT64_MIN, INT64_MAX) == INT64_MIN);
  CHECK(subtract_integer_lookback(INT64_MAX, INT64_MAX) == 0);
  CHECK(subtract_integer_lookback(7, 0) == 7);

  s.integer_lookback = 0;
  detector none(store, "q", s);
  CHECK(none.since().value() == "-9223372036854775805");
}

TEST_CASE("a string cursor: byte order, no lookback, no stale detection") {
  memory_store store;
  auto s = sequences(cursor_kind::string);
  detector d(store, "p", s);
  run(d, {{seq_rec("1", "a", R"("b")"), seq_rec("2", "b", R"("ab")"), seq_rec("3", "c", "100")}});
  CHECK(d.offset().value().kind == offset_kind::string);
  CHECK(d.since().value() == "b");      // byte-wise: "b" > "ab" > "100"
  run(d, {{seq_rec("4", "d", "99")}});  // a number's literal, compared as text: "99" < "b"
  CHECK(d.since().value() == "b");
  run(d, {{seq_rec("5", "e", R"("\u00e9")"), seq_rec("6", "f", R"("z")")}});
  CHECK(d.since().value() == "\xC3\xA9");  // é (0xC3 0xA9) sorts after "z" (unsigned bytes)
  run(d, {{seq_rec("7", "g", R"("a b/c+d")")}});
  CHECK(d.since().value() == "\xC3\xA9");
  // No stale detection: a change under a lower cursor value is dispatched.
  auto r = run(d, {{seq_rec("1", "changed", R"("a")")}});
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].type == event_type::updated);
  CHECK(run(d, {{seq_rec("1", "changed", R"("a")")}}).stats.unchanged == 1);
  CHECK(d.since_url().value() == "/events?after=%C3%A9");

  memory_store other;
  detector spaced(other, "p", s);
  run(spaced, {{seq_rec("1", "a", R"("a b/c+d")")}});
  CHECK(spaced.since_url().value() == "/events?after=a%20b%2Fc%2Bd");

  auto with_lookback = s;
  with_lookback.lookback = std::chrono::minutes(1);
  CHECK_THROWS_AS(detector(store, "p", with_lookback), sincehash::error);
  auto with_integer_lookback = s;
  with_integer_lookback.integer_lookback = 1;
  CHECK_THROWS_AS(detector(store, "p", with_integer_lookback), sincehash::error);
}

TEST_CASE("date-only settings and URL placeholders with a non-instant cursor") {
  memory_store store;
  auto s = sequences(cursor_kind::integer);
  s.created = date_field{field_path::parse("created").value(), date_format{}};
  try {
    detector d(store, "p", s);
    FAIL("no error");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == errc::config_error);
    CHECK(std::string(e.what()).find("created-date field needs an instant cursor") != std::string::npos);
  }
  s = sequences(cursor_kind::integer);
  s.url = "/events?after=${epoch:ms}";
  detector d(store, "p", s);
  CHECK_FALSE(d.since_url());
  CHECK(d.since_url().error().message.find("needs an instant cursor") != std::string::npos);
  // A maxFutureSkew does not apply to a non-instant cursor: it is ignored.
  s = sequences(cursor_kind::integer);
  s.max_future_skew = std::chrono::minutes(15);
  detector skewed(store, "q", s, pinnable_clock{at("2024-03-01T00:00:00Z")});
  run(skewed, {{seq_rec("1", "a", "9223372036854775807")}});
  CHECK(skewed.since().value() == "9223372036854775807");
}

TEST_CASE("an instant cursor's URL template may use ${since}, URL-encoded") {
  memory_store store;
  auto s = contacts();
  s.url = "/contacts?since=${since}&t=${epoch:s}";
  detector d(store, "p", s);
  CHECK(d.since_url().value() == "/contacts?since=1970-01-01T00%3A00%3A00.000Z&t=0");
  run(d, {{rec("1", "a", "2024-03-01T11:00:00+01:00")}});
  CHECK(d.since_url().value() == "/contacts?since=2024-03-01T11%3A00%3A00%2B01%3A00&t=1709287200");
}

TEST_CASE("changing the cursor: an offset of the old kind is refused until reset; states stay usable") {
  memory_store store;
  detector before(store, "p", contacts({"email"}));
  auto with_date = [](const std::string& id, const std::string& email, const std::string& updated) {
    return R"({"id":")" + id + R"(","email":")" + email + R"(","updated":")" + updated + R"("})";
  };
  run(before, {{with_date("1", "a", "2024-03-01T00:00:00Z"), with_date("2", "b", "2024-03-01T00:00:00Z")}});

  detector after(store, "p", sequences(cursor_kind::integer));
  const std::string b1 = R"({"id":"1","email":"a","seq":1})";
  const std::string b2 = R"({"id":"2","email":"changed","seq":1})";
  const batch texts{{b1, b2}};
  const auto records = texts.records();
  try {
    (void)after.process(records);
    FAIL("no error");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == errc::config_error);
    const std::string what = e.what();
    CHECK(what.find("the stored offset \"2024-03-01T00:00:00Z\" is an instant but the cursor is integer") !=
          std::string::npos);
    CHECK(what.find("reset the offset after changing \"cursor\"") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS((void)after.since(), doctest::Contains("reset the offset"), sincehash::error);
  CHECK_THROWS_WITH_AS((void)after.since_url(), doctest::Contains("reset the offset"), sincehash::error);
  // The store's own refusal says the same, should a batch of the other kind reach it.
  commit_batch mixed;
  mixed.offset = offset_value::from_integer(5);
  CHECK_THROWS_WITH_AS(store.commit("p", mixed), doctest::Contains("reset the offset"), sincehash::error);

  after.reset();
  // The states written under the date cursor are compared by hash, not by their dates (which a
  // sequence number cannot be ordered against): nothing is stale, only the real change fires.
  auto r = run(after, batch{{b1, b2}});
  CHECK(ids_of(r) == std::vector<std::string>{"2"});
  CHECK(r.stats.unchanged == 1);
  CHECK(r.stats.stale == 0);
  CHECK(after.since().value() == "1");
  // From then on the integers are stored: an older copy is stale.
  CHECK(run(after, {{R"({"id":"2","email":"older","seq":0})"}}).stats.stale == 1);
}

TEST_CASE("cursor helpers: integers, ${since} expansion, URL encoding") {
  CHECK(parse_cursor_integer("0").value() == 0);
  CHECK(parse_cursor_integer("-0").value() == 0);
  CHECK(parse_cursor_integer("007").value() == 7);
  CHECK(parse_cursor_integer("9223372036854775807").value() == INT64_MAX);
  CHECK(parse_cursor_integer("-9223372036854775808").value() == INT64_MIN);
  CHECK(parse_cursor_integer("9223372036854775808").error().code == errc::out_of_range);
  CHECK(parse_cursor_integer("-9223372036854775809").error().code == errc::out_of_range);
  CHECK(parse_cursor_integer("99999999999999999999999x").error().code == errc::parse_error);
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "1.0", "1e2", "0x10"}) {
    CAPTURE(bad);
    CHECK(parse_cursor_integer(bad).error().code == errc::parse_error);
  }
  CHECK(url_encode("aZ09-._~ /+:%\xC3\xA9") == "aZ09-._~%20%2F%2B%3A%25%C3%A9");
  // Other placeholders are left for the date expansion, delimited as it delimits them.
  CHECK(expand_since_placeholder("/x?a=${gmtDate:yyyy'}'}&b=${since}", "1 2").value() ==
        "/x?a=${gmtDate:yyyy'}'}&b=1%202");
  CHECK(expand_cursor_url_template("/x/${since}/${since}", "a").value() == "/x/a/a");
  CHECK(expand_cursor_url_template("/x", "a").value() == "/x");
  CHECK(expand_cursor_url_template("/x/${since", "a").error().code == errc::parse_error);
  CHECK(expand_cursor_url_template("/x/${date:yyyy}", "a").error().position == 3);
  CHECK(to_string(cursor_kind::integer) == std::string("integer"));
  CHECK(cursor_kind_from("string") == cursor_kind::string);
  CHECK_FALSE(cursor_kind_from("Integer").has_value());
}

TEST_CASE("an integer cursor from a chronological source: an out-of-order value is a notice") {
  memory_store store;
  auto s = sequences(cursor_kind::integer);
  s.chronological = true;
  detector d(store, "p", s);
  auto r = run(d, {{seq_rec("1", "a", "5"), seq_rec("2", "b", "3"), seq_rec("3", "c", "4")}});
  CHECK(r.events.size() == 3);
  REQUIRE(r.notices.size() == 1);  // 4 follows 3 in order
  CHECK(r.notices[0].position == 2);
  CHECK(r.notices[0].message.find("updated value 3 is earlier") != std::string::npos);
  CHECK(d.since().value() == "5");
}

// The reader's records are the detector's input, under both names.
static_assert(std::is_same_v<framed_record, input_record>);

TEST_CASE(
    "the reader's records go to the detector as they are, and so does any type with bytes and position") {
  const std::string text = rec("1", "a@x", "2024-03-01T10:00:00Z") + "\n\n" +
                           rec("2", "b@x", "2024-03-01T11:00:00Z") + "\n{not json\n";
  std::FILE* in = std::tmpfile();
  REQUIRE(in != nullptr);
  std::fwrite(text.data(), 1, text.size(), in);
  std::rewind(in);
  record_reader reader(in);
  std::vector<input_record> framed;
  const bool read = reader.next_batch(framed);
  std::fclose(in);  // the batch stays in the reader's buffer
  REQUIRE(read);
  REQUIRE(framed.size() == 3);
  CHECK(framed[1].position == 3);
  CHECK(framed[0].padding >= 64);

  // Without a `padding` member: read as if no byte followed the record.
  struct plain_record {
    std::string_view bytes;
    std::size_t position;
  };
  std::vector<plain_record> plain;
  for (const auto& r : framed) plain.push_back({r.bytes, r.position});

  memory_store s1, s2;
  detector d1(s1, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  detector d2(s2, "i/contacts", contacts(), pinnable_clock{at("2024-03-05T00:00:00Z")});
  const batch_result a = d1.process(framed);
  const batch_result b = d2.process(plain);
  REQUIRE(ids_of(a) == std::vector<std::string>{"1", "2"});
  CHECK(ids_of(b) == ids_of(a));
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    CHECK(b.events[i].event_id == a.events[i].event_id);
    CHECK(b.events[i].position == a.events[i].position);
    CHECK(b.events[i].record == a.events[i].record);
  }
  REQUIRE(a.rejected.size() == 1);
  REQUIRE(b.rejected.size() == 1);
  CHECK(a.rejected[0].position == 4);
  CHECK(b.rejected[0].position == 4);
}

TEST_CASE("clocks: a fixed clock needs its instant; a pinnable one follows the system clock until pinned") {
  static_assert(!std::is_default_constructible<fixed_clock>::value, "a fixed clock has no default instant");
  const instant t = at("2024-03-01T00:00:00Z");
  CHECK(fixed_clock(t).now() == t);
  pinnable_clock c;
  const instant before = system_clock_source{}.now();
  const instant seen = c.now();
  CHECK(seen >= before);
  CHECK(seen <= system_clock_source{}.now());
  c.pinned = t;
  CHECK(c.now() == t);
}
