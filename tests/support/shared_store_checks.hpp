#ifndef SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP
#define SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP

// Checks shared by the tests of the stores that many workers share (redis_store,
// postgres_store): leases and fencing, several processes committing at once, a holder paused
// past its lease. Each takes a function opening a new store object on one fresh namespace.
// Include after doctest.

#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include <algorithm>
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

// Runs `body` in a child process; returns what it wrote to its pipe (its report) after it
// exited. The child leaves with _exit, so it never runs this process's static destructors.
class worker {
 public:
  explicit worker(std::function<std::string()> body) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(fds[0]);
      std::string report;
      int code = 0;
      try {
        report = body();
      } catch (const std::exception& e) {
        report = std::string("error: ") + e.what();
        code = 3;
      }
      std::size_t off = 0;
      while (off < report.size()) {
        ssize_t n = ::write(fds[1], report.data() + off, report.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(fds[1]);
      ::_exit(code);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // Reads one line the child wrote (blocking); the child keeps running.
  std::string read_line() {
    std::string line;
    char c = 0;
    while (::read(fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  // Waits for the child; everything it wrote after what was read, and its exit code in `code`.
  std::string finish(int& code) {
    std::string out;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return out;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
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
    pool.push_back(std::make_unique<worker>([&, w] {
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

// A holder paused (SIGSTOP) past its lease, while another worker takes the partition over,
// is refused when it resumes and commits: the newer state stays.
template <class Open>
void check_paused_holder(Open open) {
  using namespace std::chrono_literals;
  const std::string p = "tenant/paused";
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    int code = 4;
    try {
      auto s = open();
      sincehash::lease_result l = s->acquire_lease(p, "holder", 300ms);
      if (l.granted) {
        (void)!::write(fds[1], "r", 1);
        // The work of one poll: the parent pauses this process during it.
        std::this_thread::sleep_for(1500ms);
        try {
          s->commit(p, one_upsert("rec", dated(1, 100)));
          code = 1;  // the stale holder's commit went through: fencing failed
        } catch (const sincehash::error& e) {
          code = e.code() == sincehash::errc::conflict ? 0 : 2;
        }
      }
    } catch (...) {
      code = 5;
    }
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  char c = 0;
  REQUIRE(::read(fds[0], &c, 1) == 1);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, WUNTRACED) == pid);
  REQUIRE(WIFSTOPPED(status));
  std::this_thread::sleep_for(500ms);  // past the holder's 300 ms lease

  auto taker = open();
  sincehash::lease_result l = taker->acquire_lease(p, "taker", 10s);
  REQUIRE(l.granted);
  taker->commit(p, one_upsert("rec", dated(2, 50)));  // an older date: only fencing protects it

  REQUIRE(::kill(pid, SIGCONT) == 0);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ::close(fds[0]);
  REQUIRE(WIFEXITED(status));
  CHECK_MESSAGE(WEXITSTATUS(status) == 0,
                "holder exit code " << WEXITSTATUS(status) << " (1: its stale commit was applied)");
  CHECK(taker->get_many(p, {"rec"})[0] == dated(2, 50));
}

}  // namespace sincehash_test

#endif  // SINCEHASH_TESTS_SUPPORT_SHARED_STORE_CHECKS_HPP
