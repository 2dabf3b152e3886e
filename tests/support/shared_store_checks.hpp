#ifndef SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP
#define SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP

// Checks shared by the tests of the stores that many workers share (redis_store,
// postgres_store): leases and fencing, several processes committing at once, a holder paused
// past its lease; and the checks of snapshots with versions and conditional commits that the
// conformance suite runs on every back end. Each takes a function opening a new store object on
// one fresh namespace. Include after doctest.

#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include "worker_process.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace sincehash_test {

inline sincehash::instant at_ns(std::int64_t ns) { return sincehash::instant(std::chrono::nanoseconds(ns)); }

inline sincehash::record_state dated(std::uint64_t hash, std::int64_t updated, std::int64_t seen = 1) {
  sincehash::record_state s;
  s.hash = sincehash::digest{hash, 0, 64};
  s.fingerprint = 1;
  s.updated = at_ns(updated);
  s.last_seen = at_ns(seen);
  return s;
}

inline sincehash::commit_batch one_upsert(const std::string& id, const sincehash::record_state& s) {
  sincehash::commit_batch b;
  b.upserts.emplace_back(id, s);
  return b;
}

// A worker committing through a shared store: read the state, dispatch (a pause in which other
// workers run), commit — what a detector does — on partition "race".
template <class Store>
struct store_worker {
  Store s;
  template <class Options>
  explicit store_worker(Options o) : s(std::move(o)) {}
  void write(int id, std::int64_t date) {
    (void)s.get_many("race", {std::to_string(id)});
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    s.commit("race", one_upsert(std::to_string(id), dated(1, date)));
  }
  std::int64_t read(int id) {
    auto st = s.get_many("race", {std::to_string(id)})[0];
    return st && st->updated ? static_cast<std::int64_t>(st->updated->time_since_epoch().count()) : 0;
  }
};

template <class Store>
void commit_batch_marks_x(Store& s, const std::string& p) {
  sincehash::commit_batch b;
  b.rescan_seen = {"x"};
  s.commit(p, b);
}

// Leases: one holder at a time, tokens grow with every grant, renew and release only by the
// holder under its token, an expired lease can be taken over, and a fenced commit under a stale
// token is refused whole.
template <class Open>
void check_leases(Open open) {
  using namespace std::chrono_literals;
  auto a = open();
  auto b = open();
  const std::string p = "tenant/leased";

  sincehash::lease_result first = a->acquire_lease(p, "worker-a", 10s);
  REQUIRE(first.granted);
  CHECK(first.lease.token >= 1);
  CHECK(first.lease.owner == "worker-a");
  CHECK(a->fence(p) == first.lease.token);

  sincehash::lease_result refused = b->acquire_lease(p, "worker-b", 10s);
  CHECK_FALSE(refused.granted);
  CHECK(refused.lease.owner == "worker-a");
  CHECK(refused.lease.token == first.lease.token);
  CHECK(refused.remaining > 5s);
  CHECK(refused.remaining <= 10s);
  CHECK_FALSE(b->fence(p));

  CHECK(a->renew_lease(first.lease, 10s));
  sincehash::store_lease forged = first.lease;
  forged.token += 1;
  CHECK_FALSE(b->renew_lease(forged, 10s));
  forged = first.lease;
  forged.owner = "worker-b";
  CHECK_FALSE(b->renew_lease(forged, 10s));
  CHECK_FALSE(b->release_lease(forged));

  // The holder commits under its token; an unfenced object may still commit (no lease asked).
  a->commit(p, one_upsert("x", dated(1, 100)));
  CHECK(a->release_lease(first.lease));
  CHECK_FALSE(a->fence(p));
  CHECK_FALSE(a->release_lease(first.lease));  // no longer held

  sincehash::lease_result second = b->acquire_lease(p, "worker-b", 1500ms);
  REQUIRE(second.granted);
  CHECK(second.lease.token > first.lease.token);

  // `a` fences with the old token explicitly: its commit is refused, nothing applied.
  a->set_fence(p, first.lease.token);
  sincehash::commit_batch stale = one_upsert("x", dated(2, 500));
  stale.upserts.emplace_back("y", dated(3, 500));
  stale.offset = sincehash::offset_value::from_integer(9);
  CHECK_THROWS_WITH_AS(a->commit(p, stale), doctest::Contains("token"), sincehash::error);
  try {
    a->commit(p, stale);
  } catch (const sincehash::error& e) {
    CHECK(e.code() == sincehash::errc::conflict);
  }
  CHECK(a->get_many(p, {"x"})[0] == dated(1, 100));
  CHECK_FALSE(a->get_many(p, {"y"})[0]);
  CHECK_FALSE(a->offset(p));
  // Nor may it reset the partition or start or stop a rescan (whose marks another worker owns).
  b->begin_rescan(p);
  commit_batch_marks_x(*b, p);
  CHECK_THROWS_WITH_AS(a->reset_offset(p, true), doctest::Contains("token"), sincehash::error);
  CHECK_THROWS_WITH_AS(a->begin_rescan(p), doctest::Contains("token"), sincehash::error);
  CHECK_THROWS_WITH_AS(a->abandon_rescan(p), doctest::Contains("token"), sincehash::error);
  CHECK(a->count(p) == 1);
  CHECK(a->rescan_active(p));
  CHECK(a->rescan_unseen(p).empty());  // b's mark of x survived
  b->abandon_rescan(p);
  CHECK_FALSE(a->rescan_active(p));

  b->commit(p, one_upsert("y", dated(4, 600)));  // the holder's commit goes through

  // Once the lease expired, even its holder's commit is refused, and another owner takes over.
  std::this_thread::sleep_for(2000ms);  // past the 1.5 s lease
  CHECK_THROWS_AS(b->commit(p, one_upsert("z", dated(5, 700))), sincehash::error);
  CHECK_FALSE(b->get_many(p, {"z"})[0]);
  CHECK_FALSE(b->renew_lease(second.lease, 10s));
  sincehash::lease_result third = a->acquire_lease(p, "worker-a", 10s);
  REQUIRE(third.granted);
  CHECK(third.lease.token > second.lease.token);
  a->commit(p, stale);  // acquiring replaced the explicit fence with the new token
  CHECK(a->get_many(p, {"y"})[0] == dated(4, 600));  // the older copy did not win
  CHECK(a->get_many(p, {"x"})[0] == dated(2, 500));
  CHECK(a->offset(p) == sincehash::offset_value::from_integer(9));

  // Re-acquiring while holding is a new grant with a larger token.
  sincehash::lease_result again = a->acquire_lease(p, "worker-a", 10s);
  REQUIRE(again.granted);
  CHECK(again.lease.token > third.lease.token);
  CHECK_THROWS_AS((void)a->acquire_lease(p, "worker-a", std::chrono::milliseconds(0)), sincehash::error);

  // Leases of different partitions are independent.
  sincehash::lease_result other = b->acquire_lease("tenant/other", "worker-b", 10s);
  CHECK(other.granted);
}

// A commit never replaces a dated state by an older one, unless the stored one had expired.
template <class Open>
void check_newest_wins(Open open) {
  auto s = open();
  const std::string p = "tenant/newest";
  s->commit(p, one_upsert("a", dated(1, 200)));
  s->commit(p, one_upsert("a", dated(2, 100)));
  CHECK(s->get_many(p, {"a"})[0] == dated(1, 200));
  s->commit(p, one_upsert("a", dated(3, 200, 5)));  // the same date replaces (a refresh)
  CHECK(s->get_many(p, {"a"})[0] == dated(3, 200, 5));
  sincehash::record_state undated = dated(4, 0);
  undated.updated.reset();
  s->commit(p, one_upsert("a", undated));  // no date to compare: replaces
  CHECK(s->get_many(p, {"a"})[0] == undated);

  sincehash::record_state expiring = dated(5, 900, 10);
  expiring.expires = at_ns(50);
  s->commit(p, one_upsert("b", expiring));
  s->commit(p, one_upsert("b", dated(6, 100, 40)));  // seen before the expiry: older, kept out
  CHECK(s->get_many(p, {"b"})[0] == expiring);
  s->commit(p, one_upsert("b", dated(7, 100, 50)));  // seen at the expiry: the old state no longer counts
  CHECK(s->get_many(p, {"b"})[0] == dated(7, 100, 50));

  // Large dates that differ by a nanosecond (doubles cannot tell them apart) compare exactly.
  const std::int64_t big = 1'700'000'000'123'456'789;
  s->commit(p, one_upsert("c", dated(8, big + 1)));
  s->commit(p, one_upsert("c", dated(9, big)));
  CHECK(s->get_many(p, {"c"})[0] == dated(8, big + 1));
  sincehash::record_state exp = dated(10, big);
  exp.expires = at_ns(big);
  s->commit(p, one_upsert("d", exp));
  CHECK(s->purge_expired(p, at_ns(big - 1)) == 0);
  CHECK(s->purge_expired(at_ns(big - 1)) == 0);
  CHECK(s->get_many(p, {"d"})[0]);
  CHECK(s->purge_expired(p, at_ns(big)) == 1);
}

struct race_result {
  long regressions = 0;   // reads, right after a worker's own write, of a date older than it wrote
  long wrong_finals = 0;  // ids not ending at the newest date any worker wrote
  std::vector<std::string> errors;
};

// `workers` processes each commit `commits` random dates over `ids` ids through `write(id,
// date)` (in the child, after `open_child()`), reading the id back through `read(id)` after
// each write. The dates of worker w come from a generator seeded with w, so the newest date of
// every id is known here; `read_final(id)` reads the outcome.
template <class Child, class ReadFinal>
race_result race(int workers, int commits, int ids, std::function<std::unique_ptr<Child>()> open_child,
                 ReadFinal read_final) {
  auto dates_of = [&](int w, const std::function<void(int, std::int64_t)>& each) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(w) * 7919 + 17);
    for (int i = 0; i < commits; ++i) {
      int id = static_cast<int>(rng() % static_cast<std::uint64_t>(ids));
      // Dates rise slowly with jitter, so the workers' writes to one id keep overtaking each other.
      std::int64_t date = 1'000'000'000'000'000'000 + static_cast<std::int64_t>(i) * 1000 +
                          static_cast<std::int64_t>(rng() % 200'000);
      each(id, date);
    }
  };
  std::vector<std::unique_ptr<worker>> pool;
  for (int w = 0; w < workers; ++w) {
    pool.push_back(std::make_unique<worker>([&, w](channel&) {
      std::unique_ptr<Child> c = open_child();
      long regressions = 0;
      dates_of(w, [&](int id, std::int64_t date) {
        c->write(id, date);
        if (c->read(id) < date) ++regressions;
      });
      return std::to_string(regressions);
    }));
  }
  race_result out;
  for (auto& w : pool) {
    int code = 0;
    std::string report = w->finish(code);
    if (code != 0) {
      out.errors.push_back(report.empty() ? "worker exited with code " + std::to_string(code) : report);
    } else {
      out.regressions += std::stol(report);
    }
  }
  std::map<int, std::int64_t> newest;
  for (int w = 0; w < workers; ++w) {
    dates_of(w, [&](int id, std::int64_t date) {
      auto& n = newest[id];
      n = std::max(n, date);
    });
  }
  for (const auto& kv : newest) {
    if (read_final(kv.first) != kv.second) ++out.wrong_finals;
  }
  return out;
}

// `race` for a control that is meant to lose updates (a naive read-then-write), run again, up
// to `attempts` times in all, until it does: whether one run loses any depends on how the
// workers happen to interleave, which a busy machine changes. `clear()` empties what the
// control wrote before each new attempt.
template <class Child, class ReadFinal>
race_result race_until_lost(int attempts, const std::function<void()>& clear, int workers, int commits,
                            int ids, std::function<std::unique_ptr<Child>()> open_child,
                            ReadFinal read_final) {
  race_result r;
  for (int a = 0; a < attempts; ++a) {
    if (a > 0) clear();
    r = race<Child>(workers, commits, ids, open_child, read_final);
    if (!r.errors.empty() || r.regressions + r.wrong_finals > 0) break;
  }
  return r;
}

// A holder paused (SIGSTOP) past its lease, while another worker takes the partition over,
// is refused when it resumes and commits: the newer state stays.
template <class Open>
void check_paused_holder(Open open) {
  using namespace std::chrono_literals;
  const std::string p = "tenant/paused";
  worker holder([&](channel& parent) -> std::string {
    auto s = open();
    sincehash::lease_result l = s->acquire_lease(p, "holder", 300ms);
    if (!l.granted) return "the holder was refused its lease";
    parent.send('r');
    // The work of one poll: the parent pauses this process during it.
    std::this_thread::sleep_for(1500ms);
    try {
      s->commit(p, one_upsert("rec", dated(1, 100)));
      return "the stale holder's commit was applied: fencing failed";
    } catch (const sincehash::error& e) {
      if (e.code() != sincehash::errc::conflict)
        return std::string("refused, not as a conflict: ") + e.what();
    }
    return "refused";
  });
  if (holder.talk().receive() != 'r') {
    int code = 0;
    FAIL("the holder did not get as far as its lease: " << holder.finish(code));
  }
  REQUIRE(::kill(holder.pid(), SIGSTOP) == 0);
  int status = 0;
  REQUIRE(::waitpid(holder.pid(), &status, WUNTRACED) == holder.pid());
  REQUIRE(WIFSTOPPED(status));
  std::this_thread::sleep_for(500ms);  // past the holder's 300 ms lease

  auto taker = open();
  sincehash::lease_result l = taker->acquire_lease(p, "taker", 10s);
  REQUIRE(l.granted);
  taker->commit(p, one_upsert("rec", dated(2, 50)));  // an older date: only fencing protects it

  REQUIRE(::kill(holder.pid(), SIGCONT) == 0);
  int code = 0;
  CHECK(holder.finish(code) == "refused");
  CHECK(code == 0);
  CHECK(taker->get_many(p, {"rec"})[0] == dated(2, 50));
}

// --- snapshots, versions and conditional commits ------------------------------------------

// The version `s` holds for `id` in `p` (0: no state).
template <class Store>
std::uint64_t version_of(Store& s, const std::string& p, const std::string& id) {
  return s.snapshot(p, {id}).versions.at(0);
}

// The partition's write sequence.
template <class Store>
std::uint64_t sequence_of(Store& s, const std::string& p) {
  return s.snapshot(p, {}).sequence;
}

// Conditions for `ids` as `snap` read them (`snap` was taken for exactly `ids`).
inline std::vector<std::pair<std::string, std::uint64_t>> conditions(const sincehash::store_snapshot& snap,
                                                                     const std::vector<std::string>& ids) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (std::size_t i = 0; i < ids.size(); ++i) out.emplace_back(ids[i], snap.versions.at(i));
  return out;
}

inline std::vector<std::string_view> views(const std::vector<std::string>& ids) {
  return std::vector<std::string_view>(ids.begin(), ids.end());
}

// The ids a commit refused with `commit_conflict`; fails the test when it applied or threw
// anything else.
template <class Store>
std::vector<std::string> conflict_of(Store& s, const std::string& p, const sincehash::commit_batch& b) {
  try {
    s.commit(p, b);
  } catch (const sincehash::commit_conflict& e) {
    CHECK(e.code() == sincehash::errc::conflict);
    CHECK(std::string(e.what()).find("nothing was committed") != std::string::npos);
    return e.ids();
  }
  FAIL("the commit applied; a commit_conflict was expected");
  return {};
}

// A snapshot reads what get_many, offset and rescan_active read, with a version per state.
template <class Open>
void check_snapshot_agrees(Open open) {
  auto s = open();
  const std::string p = "tenant/snapshot";

  sincehash::store_snapshot fresh = s->snapshot(p, {"a", "b"});
  CHECK(fresh.sequence == 0);
  CHECK_FALSE(fresh.offset);
  CHECK_FALSE(fresh.rescan_active);
  REQUIRE(fresh.states.size() == 2);
  REQUIRE(fresh.versions.size() == 2);
  CHECK_FALSE(fresh.states[0]);
  CHECK_FALSE(fresh.states[1]);
  CHECK(fresh.versions == std::vector<std::uint64_t>{0, 0});
  sincehash::store_snapshot none = s->snapshot(p, {});
  CHECK(none.states.empty());
  CHECK(none.versions.empty());

  sincehash::record_state expiring = dated(2, 20, 3);
  expiring.expires = at_ns(5);  // expired states are returned as stored
  sincehash::record_state sealed = dated(3, 30);
  sealed.sealed = std::string("\0sealed\xff", 8);
  sincehash::commit_batch b = one_upsert("a", dated(1, 10));
  b.upserts.emplace_back("b", expiring);
  b.upserts.emplace_back(std::string("\0\xff", 2), sealed);
  b.offset = sincehash::offset_value::from_string("cursor-1");
  s->commit(p, b);
  s->commit(p, one_upsert("c", dated(4, 40)));

  const std::vector<std::string> ids = {"b", "zz", "a", "a", std::string("\0\xff", 2), "c", "b"};
  sincehash::store_snapshot snap = s->snapshot(p, views(ids));
  CHECK(snap.states == s->get_many(p, views(ids)));
  CHECK(snap.offset == s->offset(p));
  CHECK(snap.offset == sincehash::offset_value::from_string("cursor-1"));
  CHECK(snap.rescan_active == s->rescan_active(p));
  CHECK_FALSE(snap.rescan_active);
  REQUIRE(snap.versions.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK((snap.versions[i] != 0) == snap.states[i].has_value());
    CHECK(snap.versions[i] <= snap.sequence);
  }
  CHECK(snap.versions[1] == 0);
  CHECK(snap.versions[2] == snap.versions[3]);  // the same id twice
  CHECK(snap.versions[0] == snap.versions[6]);
  CHECK(snap.versions[0] == snap.versions[2]);  // written by one commit
  CHECK(snap.versions[5] > snap.versions[0]);   // written by a later one
  CHECK(snap.sequence >= snap.versions[5]);

  s->begin_rescan(p);
  sincehash::store_snapshot during = s->snapshot(p, views(ids));
  CHECK(during.rescan_active);
  CHECK(during.rescan_active == s->rescan_active(p));
  CHECK(during.states == snap.states);
  CHECK(during.versions == snap.versions);

  // Another partition's snapshot sees none of it.
  sincehash::store_snapshot other = s->snapshot("tenant/other", views(ids));
  CHECK(other.sequence == 0);
  CHECK_FALSE(other.offset);
  CHECK_FALSE(other.rescan_active);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK_FALSE(other.states[i]);
    CHECK(other.versions[i] == 0);
  }

  // A large batch answers position by position.
  sincehash::commit_batch many;
  std::vector<std::string> big;
  for (int i = 0; i < 2500; ++i) {
    big.push_back("m" + std::to_string(i));
    if (i % 2 == 0) many.upserts.emplace_back(big.back(), dated(static_cast<std::uint64_t>(i), i));
  }
  s->commit(p, many);
  big.push_back("m0");
  sincehash::store_snapshot large = s->snapshot(p, views(big));
  CHECK(large.states == s->get_many(p, views(big)));
  const std::uint64_t v = large.versions[0];
  CHECK(v != 0);
  for (std::size_t i = 0; i < big.size(); ++i) {
    if (large.versions[i] != (large.states[i] ? v : 0)) {
      FAIL_CHECK("a wrong version at position " << i);
      break;
    }
  }
}

// Versions are never 0, change with every write of an id and grow after an erasure; the
// sequence grows with every change of the partition. `newest_wins`: the store keeps a dated state
// out when an older one is committed over it (redis_store, postgres_store).
template <class Open>
void check_versions(Open open, bool newest_wins) {
  auto s = open();
  const std::string p = "tenant/versions";
  s->commit(p, one_upsert("x", dated(1, 100)));
  const std::uint64_t v1 = version_of(*s, p, "x");
  CHECK(v1 > 0);
  CHECK(sequence_of(*s, p) >= v1);

  s->commit(p, one_upsert("y", dated(2, 100)));
  CHECK(version_of(*s, p, "x") == v1);  // another id's write leaves it
  const std::uint64_t vy = version_of(*s, p, "y");
  CHECK(vy > v1);

  s->commit(p, one_upsert("x", dated(3, 200)));
  const std::uint64_t v2 = version_of(*s, p, "x");
  CHECK(v2 > vy);
  s->commit(p, one_upsert("x", dated(3, 200, 7)));  // the same date again (a refresh) is a write
  const std::uint64_t v3 = version_of(*s, p, "x");
  CHECK(v3 > v2);
  s->commit(p, one_upsert("x", dated(4, 150)));  // older
  if (newest_wins) {
    CHECK(s->get_many(p, {"x"})[0] == dated(3, 200, 7));  // kept out, nothing written
    CHECK(version_of(*s, p, "x") == v3);
  } else {
    CHECK(s->get_many(p, {"x"})[0] == dated(4, 150));
    CHECK(version_of(*s, p, "x") > v3);
  }

  sincehash::commit_batch erase;
  erase.erasures = {"x"};
  s->commit(p, erase);
  CHECK(version_of(*s, p, "x") == 0);
  s->commit(p, one_upsert("x", dated(1, 100)));  // the very state of v1 again: a new version
  const std::uint64_t v4 = version_of(*s, p, "x");
  CHECK(v4 > v3);

  auto grows = [&](const char* what, auto&& change) {
    const std::uint64_t before = sequence_of(*s, p);
    change();
    INFO(what);
    CHECK(sequence_of(*s, p) > before);
  };
  grows("a commit of an offset alone", [&] {
    sincehash::commit_batch b;
    b.offset = sincehash::offset_value::from_integer(5);
    s->commit(p, b);
  });
  grows("reset_offset", [&] { s->reset_offset(p, false); });
  grows("begin_rescan", [&] { s->begin_rescan(p); });
  grows("a commit of rescan marks", [&] { commit_batch_marks_x(*s, p); });
  grows("abandon_rescan", [&] { s->abandon_rescan(p); });
  sincehash::record_state expiring = dated(5, 300);
  expiring.expires = at_ns(1000);
  s->commit(p, one_upsert("e", expiring));
  grows("purge_expired(p, now) removing a state", [&] { CHECK(s->purge_expired(p, at_ns(1000)) == 1); });
  s->commit(p, one_upsert("e", expiring));
  grows("purge_expired(now) removing a state", [&] { CHECK(s->purge_expired(at_ns(1000)) >= 1); });
  CHECK(version_of(*s, p, "y") == vy);  // none of these rewrote a state
  CHECK(version_of(*s, p, "x") == v4);
  grows("reset_offset forgetting the records", [&] { s->reset_offset(p, true); });
  CHECK(version_of(*s, p, "x") == 0);
  CHECK(version_of(*s, p, "y") == 0);
  s->commit(p, one_upsert("y", dated(2, 100)));
  CHECK(version_of(*s, p, "y") > v4);

  // A batch's ids all get the version of its one change, the partition's new sequence.
  sincehash::commit_batch two = one_upsert("p", dated(1, 1));
  two.upserts.emplace_back("q", dated(2, 2));
  s->commit(p, two);
  sincehash::store_snapshot both = s->snapshot(p, {"p", "q"});
  CHECK(both.versions[0] == both.versions[1]);
  CHECK(both.versions[0] == both.sequence);
}

// A conditional commit applies only when every condition still holds; otherwise it throws
// commit_conflict naming exactly the ids whose state changed, sorted and distinct, and applies
// nothing.
template <class Open>
void check_conflicts(Open open) {
  auto a = open();
  auto b = open();
  const std::string p = "tenant/conflicts";
  sincehash::commit_batch base = one_upsert("kept", dated(1, 100));
  base.upserts.emplace_back("stale", dated(2, 100));
  base.upserts.emplace_back("gone", dated(3, 100));
  base.offset = sincehash::offset_value::from_integer(1);
  a->commit(p, base);
  a->begin_rescan(p);

  const std::vector<std::string> ids = {"kept", "stale", "gone", "new", "fresh"};
  const sincehash::store_snapshot snap = a->snapshot(p, views(ids));
  // Meanwhile another worker rewrites one, erases one and creates one.
  sincehash::commit_batch theirs = one_upsert("stale", dated(5, 200));
  theirs.upserts.emplace_back("new", dated(6, 200));
  theirs.erasures = {"gone"};
  b->commit(p, theirs);
  const std::uint64_t sequence = sequence_of(*b, p);
  const auto before = b->get_many(p, views(ids));

  sincehash::commit_batch mine;
  mine.upserts = {
      {"kept", dated(7, 300)}, {"stale", dated(8, 300)}, {"new", dated(9, 300)}, {"fresh", dated(10, 300)}};
  mine.erasures = {"other"};
  mine.rescan_seen = {"kept"};
  mine.offset = sincehash::offset_value::from_integer(9);
  mine.expect = conditions(snap, ids);
  std::reverse(mine.expect.begin(), mine.expect.end());
  mine.expect.push_back(mine.expect.front());  // an id twice
  mine.expect.push_back(mine.expect[1]);
  for (bool fast : {false, true}) {
    INFO("read_sequence given: " << fast);
    if (fast) mine.read_sequence = snap.sequence;
    CHECK(conflict_of(*a, p, mine) == std::vector<std::string>{"gone", "new", "stale"});
    CHECK(a->get_many(p, views(ids)) == before);  // nothing applied
    CHECK(a->offset(p) == sincehash::offset_value::from_integer(1));
    CHECK(a->rescan_unseen(p) == std::vector<std::string>{"kept"});  // b upserted the others
    CHECK(sequence_of(*a, p) == sequence);
  }

  // Each kind of change alone names exactly its id.
  struct single {
    const char* what;
    std::string id;
    std::function<void()> change;
  };
  const std::vector<single> singles = {
      {"expected absent, now present", "s1", [&] { b->commit(p, one_upsert("s1", dated(1, 1))); }},
      {"a stale version", "kept", [&] { b->commit(p, one_upsert("kept", dated(11, 400))); }},
      {"erased meanwhile", "stale",
       [&] {
         sincehash::commit_batch e;
         e.erasures = {"stale"};
         b->commit(p, e);
       }},
      {"rewritten with the very same state", "new", [&] { b->commit(p, one_upsert("new", dated(6, 200))); }},
  };
  for (const single& c : singles) {
    INFO(c.what);
    const std::vector<std::string> probe = {c.id, "untouched"};
    const sincehash::store_snapshot read = a->snapshot(p, views(probe));
    c.change();
    const auto now = a->get_many(p, views(probe));
    sincehash::commit_batch w = one_upsert(c.id, dated(50, 900));
    w.upserts.emplace_back("untouched", dated(51, 900));
    w.expect = conditions(read, probe);
    CHECK(conflict_of(*a, p, w) == std::vector<std::string>{c.id});
    CHECK(a->get_many(p, views(probe)) == now);
    w.read_sequence = read.sequence;
    CHECK(conflict_of(*a, p, w) == std::vector<std::string>{c.id});
  }

  // Re-read, the same batch applies; a condition on an id the batch does not write counts too.
  const sincehash::store_snapshot again = a->snapshot(p, views(ids));
  mine.expect = conditions(again, ids);
  mine.read_sequence = again.sequence;
  a->commit(p, mine);
  CHECK(a->get_many(p, {"fresh"})[0] == dated(10, 300));
  CHECK(a->offset(p) == sincehash::offset_value::from_integer(9));
  const sincehash::store_snapshot watch = a->snapshot(p, {"kept"});
  b->commit(p, one_upsert("kept", dated(12, 1000)));
  sincehash::commit_batch other = one_upsert("elsewhere", dated(1, 1));
  other.expect = conditions(watch, {"kept"});
  CHECK(conflict_of(*a, p, other) == std::vector<std::string>{"kept"});
  CHECK_FALSE(a->get_many(p, {"elsewhere"})[0]);
  // Without conditions a commit applies whatever changed.
  other.expect.clear();
  a->commit(p, other);
  CHECK(a->get_many(p, {"elsewhere"})[0] == dated(1, 1));
  // A conflict is also reported for a batch that writes nothing but has conditions.
  sincehash::commit_batch empty;
  empty.expect = {{"elsewhere", 0}};
  CHECK(conflict_of(*a, p, empty) == std::vector<std::string>{"elsewhere"});

  // A fenced-out writer is refused by its fence (errc::conflict), not a record conflict.
  sincehash::lease_result held = b->acquire_lease(p, "b", std::chrono::seconds(10));
  REQUIRE(held.granted);
  a->set_fence(p, held.lease.token + 100);
  sincehash::commit_batch fenced = one_upsert("kept", dated(1, 1));
  fenced.expect = {{"kept", 12345}};
  try {
    a->commit(p, fenced);
    FAIL("a fenced-out commit applied");
  } catch (const sincehash::commit_conflict&) {
    FAIL("the fence is checked first");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == sincehash::errc::conflict);
    CHECK(std::string(e.what()).find("token") != std::string::npos);
  }
  a->clear_fence(p);
  CHECK(b->release_lease(held.lease));
}

// With `read_sequence` a back end may skip the per-id checks when the partition did not change;
// a concurrent change of any kind still makes the checks run.
template <class Open>
void check_read_sequence(Open open) {
  auto a = open();
  auto b = open();
  const std::string p = "tenant/fast";
  a->commit(p, one_upsert("x", dated(1, 100)));
  const std::vector<std::string> ids = {"x", "y"};
  auto attempt = [&](const sincehash::store_snapshot& snap, std::uint64_t date) {
    sincehash::commit_batch w = one_upsert("x", dated(date, static_cast<std::int64_t>(date)));
    w.upserts.emplace_back("y", dated(date, static_cast<std::int64_t>(date)));
    w.expect = conditions(snap, ids);
    w.read_sequence = snap.sequence;
    return w;
  };

  // Nothing happened since: applies.
  sincehash::store_snapshot snap = a->snapshot(p, views(ids));
  a->commit(p, attempt(snap, 200));
  CHECK(a->get_many(p, {"y"})[0] == dated(200, 200));

  // A concurrent write of one of the ids: detected.
  snap = a->snapshot(p, views(ids));
  b->commit(p, one_upsert("x", dated(7, 250)));
  CHECK(conflict_of(*a, p, attempt(snap, 300)) == std::vector<std::string>{"x"});
  CHECK(a->get_many(p, {"x"})[0] == dated(7, 250));

  // A concurrent write of another id moves the sequence; the per-id checks then pass.
  snap = a->snapshot(p, views(ids));
  b->commit(p, one_upsert("z", dated(1, 1)));
  a->commit(p, attempt(snap, 400));
  CHECK(a->get_many(p, {"x"})[0] == dated(400, 400));

  // Concurrent erasures by a reset or a purge: detected.
  snap = a->snapshot(p, views(ids));
  b->reset_offset(p, true);
  CHECK(conflict_of(*a, p, attempt(snap, 500)) == std::vector<std::string>{"x", "y"});
  CHECK(a->count(p) == 0);
  sincehash::record_state expiring = dated(6, 600);
  expiring.expires = at_ns(700);
  sincehash::commit_batch e = one_upsert("x", expiring);
  e.upserts.emplace_back("y", dated(6, 600));
  b->commit(p, e);
  snap = a->snapshot(p, views(ids));
  CHECK(b->purge_expired(p, at_ns(700)) == 1);
  CHECK(conflict_of(*a, p, attempt(snap, 800)) == std::vector<std::string>{"x"});
  CHECK(a->get_many(p, {"y"})[0] == dated(6, 600));
}

// Two store objects interleaving: snapshot A, snapshot B, commit B, commit A -> A conflicts;
// A re-reads and commits on top of B's change.
template <class Open>
void check_interleaved(Open open) {
  auto a = open();
  auto b = open();
  const std::string p = "tenant/interleaved";
  a->commit(p, one_upsert("shared", dated(1, 100)));
  const std::vector<std::string> ids = {"shared", "only-a", "only-b"};
  const sincehash::store_snapshot sa = a->snapshot(p, views(ids));
  const sincehash::store_snapshot sb = b->snapshot(p, views(ids));
  CHECK(sa.versions == sb.versions);
  CHECK(sa.sequence == sb.sequence);

  sincehash::commit_batch cb = one_upsert("shared", dated(2, 200));
  cb.upserts.emplace_back("only-b", dated(3, 200));
  cb.expect = {{"shared", sb.versions[0]}, {"only-b", sb.versions[2]}};
  cb.read_sequence = sb.sequence;
  b->commit(p, cb);

  sincehash::commit_batch ca = one_upsert("shared", dated(4, 150));
  ca.upserts.emplace_back("only-a", dated(5, 150));
  ca.expect = {{"shared", sa.versions[0]}, {"only-a", sa.versions[1]}};
  ca.read_sequence = sa.sequence;
  CHECK(conflict_of(*a, p, ca) == std::vector<std::string>{"shared"});
  CHECK(a->get_many(p, views(ids)) == b->get_many(p, views(ids)));
  CHECK_FALSE(a->get_many(p, {"only-a"})[0]);

  const sincehash::store_snapshot again = a->snapshot(p, {"shared", "only-a"});
  CHECK(again.states[0] == dated(2, 200));
  ca.expect = conditions(again, {"shared", "only-a"});
  ca.read_sequence = again.sequence;
  ca.upserts[0].second = dated(4, 250);
  a->commit(p, ca);
  CHECK(b->get_many(p, views(ids)) ==
        std::vector<std::optional<sincehash::record_state>>{dated(4, 250), dated(5, 150), dated(3, 200)});
}

// A snapshot is read at one point in time: while another object commits batches that write two
// ids and the offset together, every snapshot sees the three from the same batch.
template <class Open>
void check_snapshot_consistent(Open open) {
  auto writer = open();
  auto reader = open();
  const std::string p = "tenant/consistent";
  std::atomic<bool> done{false};
  std::thread t([&] {
    for (int n = 1; n <= 400; ++n) {
      sincehash::commit_batch b = one_upsert("a", dated(static_cast<std::uint64_t>(n), n));
      b.upserts.emplace_back("b", dated(static_cast<std::uint64_t>(n), n));
      b.offset = sincehash::offset_value::from_integer(n);
      writer->commit(p, b);
    }
    done = true;
  });
  long snapshots = 0;
  long torn = 0;
  while (!done) {
    const sincehash::store_snapshot s = reader->snapshot(p, {"a", "b"});
    ++snapshots;
    if (!s.offset) {
      if (s.states[0] || s.states[1]) ++torn;
      continue;
    }
    const std::uint64_t n = static_cast<std::uint64_t>(s.offset->number);
    if (!s.states[0] || !s.states[1] || s.states[0]->hash.low != n || s.states[1]->hash.low != n ||
        s.versions[0] != s.versions[1] || s.versions[0] > s.sequence)
      ++torn;
  }
  t.join();
  MESSAGE(snapshots << " snapshots during 400 commits");
  CHECK(snapshots > 10);
  CHECK(torn == 0);
}

// `workers` processes each add 1 to counters kept in the digest of `ids` ids, `rounds` times:
// read (snapshot), pause, commit the incremented value. With conditions (and a retry after a
// conflict) no increment is lost; returns the sum of the counters and the conflicts seen.
struct increment_result {
  std::uint64_t sum = 0;
  long conflicts = 0;
  std::vector<std::string> errors;
};

template <class Open>
increment_result race_increments(Open open, const std::string& p, int workers, int rounds, int ids,
                                 bool conditional) {
  std::vector<std::unique_ptr<worker>> pool;
  for (int w = 0; w < workers; ++w) {
    pool.push_back(std::make_unique<worker>([&, w](channel&) {
      auto s = open();
      long conflicts = 0;
      for (int r = 0; r < rounds; ++r) {
        const std::string id = "n" + std::to_string((r + w) % ids);
        for (;;) {
          const sincehash::store_snapshot snap = s->snapshot(p, {id});
          sincehash::record_state next = dated(snap.states[0] ? snap.states[0]->hash.low + 1 : 1, 0);
          next.updated.reset();  // no date: every write replaces
          std::this_thread::sleep_for(std::chrono::microseconds(100));
          sincehash::commit_batch b = one_upsert(id, next);
          if (conditional) {
            b.expect = {{id, snap.versions[0]}};
            b.read_sequence = snap.sequence;
          }
          try {
            s->commit(p, b);
            break;
          } catch (const sincehash::commit_conflict& e) {
            if (e.ids() != std::vector<std::string>{id}) return std::string("error: wrong ids in a conflict");
            ++conflicts;
          }
        }
      }
      return std::to_string(conflicts);
    }));
  }
  increment_result out;
  for (auto& w : pool) {
    int code = 0;
    std::string report = w->finish(code);
    if (code != 0 || report.rfind("error", 0) == 0) {
      out.errors.push_back(report.empty() ? "worker exited with code " + std::to_string(code) : report);
    } else {
      out.conflicts += std::stol(report);
    }
  }
  auto s = open();
  for (int i = 0; i < ids; ++i) {
    auto st = s->get_many(p, {"n" + std::to_string(i)})[0];
    if (st) out.sum += st->hash.low;
  }
  return out;
}

// Several processes incrementing through conditional commits lose no increment; the same
// processes without conditions do (so the check can see the bug it guards against).
template <class Open>
void check_no_lost_increment(Open open) {
  constexpr int workers = 4;
  constexpr int rounds = 300;
  increment_result safe = race_increments(open, "tenant/counters", workers, rounds, 3, true);
  for (const auto& e : safe.errors) MESSAGE(e);
  CHECK(safe.errors.empty());
  CHECK(safe.sum == static_cast<std::uint64_t>(workers * rounds));
  MESSAGE("conditional commits: " << safe.conflicts << " conflicts retried");
  CHECK(safe.conflicts > 0);

  increment_result naive = race_increments(open, "tenant/counters-naive", workers, rounds, 3, false);
  CHECK(naive.errors.empty());
  MESSAGE("unconditional commits: " << (workers * rounds - static_cast<long>(naive.sum))
                                    << " increments lost");
  CHECK(naive.sum < static_cast<std::uint64_t>(workers * rounds));
}

}  // namespace sincehash_test

#endif  // SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP
