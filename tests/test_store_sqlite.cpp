// SQLite-specific promises of sqlite_store: schema versions and their migration, foreign files,
// lock conflicts, several processes on one file (commits, conditional commits, leases), and
// survival of SIGKILL at any moment.
#include <sincehash/store/sqlite.hpp>

#include <doctest/doctest.h>

#include "support/shared_store_checks.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

using namespace std::chrono_literals;
using sincehash::commit_batch;
using sincehash::digest;
using sincehash::errc;
using sincehash::instant;
using sincehash::offset_value;
using sincehash::record_state;
using sincehash::sqlite_store;

namespace {

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const char* tag) {
    static int counter = 0;
    auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
    std::filesystem::create_directories(dir);
    path =
        dir / (std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
    remove();
  }
  ~temp_file() { remove(); }
  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  }
  [[nodiscard]] std::string str() const { return path.string(); }
};

// Runs `sql` on the file through a raw connection of its own.
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  std::string text = msg != nullptr ? msg : "";
  sqlite3_free(msg);
  sqlite3_close(db);
  INFO(text);
  REQUIRE(rc == SQLITE_OK);
}

std::int64_t raw_pragma(const std::string& path, const char* name) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, (std::string("PRAGMA ") + name).c_str(), -1, &st, nullptr) == SQLITE_OK);
  std::int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

instant at(std::int64_t ns) { return instant(std::chrono::nanoseconds(ns)); }

record_state state(std::uint64_t low, std::uint64_t high, std::int64_t seen) {
  record_state s;
  s.hash = digest{low, high, 128};
  s.last_seen = at(seen);
  return s;
}

std::map<std::string, record_state> dump(sqlite_store& s, std::string_view p) {
  std::map<std::string, record_state> out;
  s.for_each(p, [&](std::string_view id, const record_state& st) { out.emplace(std::string(id), st); });
  return out;
}

// Waits for a child and returns its exit status (or 128 + signal).
int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

}  // namespace

TEST_CASE("sqlite_store: a new file gets the current schema version and the sincehash application id") {
  temp_file f("schema");
  { sqlite_store s(f.str()); }
  CHECK(raw_pragma(f.str(), "user_version") == sqlite_store::schema_version);
  CHECK(raw_pragma(f.str(), "application_id") != 0);
  CHECK(sqlite_store::schema_version >= 1);
  // Opening it again is not a migration: the data stays.
  {
    sqlite_store s(f.str());
    commit_batch b;
    b.upserts.emplace_back("a", state(1, 2, 3));
    s.commit("p", b);
  }
  sqlite_store again(f.str());
  CHECK(again.count("p") == 1);
  CHECK(again.integrity_check() == "ok");
}

TEST_CASE("sqlite_store: read only, nothing is created or written") {
  sincehash::sqlite_options ro;
  ro.read_only = true;
  temp_file f("read-only");
  {
    sqlite_store s(f.str(), ro);  // a missing file: an empty state, and no file made
    CHECK(s.partitions().empty());
    CHECK(!s.offset("p"));
    CHECK(s.count("p") == 0);
  }
  CHECK(!std::filesystem::exists(f.path));
  { std::ofstream touch(f.str()); }
  {
    sqlite_store s(f.str(), ro);  // an empty file: the same, and it stays empty
    CHECK(s.partitions().empty());
  }
  CHECK(std::filesystem::file_size(f.path) == 0);
  {
    sqlite_store s(f.str());
    commit_batch b;
    b.upserts.emplace_back("a", state(1, 2, 3));
    b.offset = offset_value::from_instant(instant(std::chrono::seconds(5)), "5");
    s.commit("p", b);
    (void)s.intern_fingerprint("p", "settings");
  }
  const auto stamp = std::filesystem::last_write_time(f.path);
  const auto size = std::filesystem::file_size(f.path);
  {
    sqlite_store s(f.str(), ro);
    CHECK(s.partitions() == std::vector<std::string>{"p"});
    CHECK(s.offset("p")->text == "5");
    CHECK(s.count("p") == 1);
    CHECK(s.fingerprint_text("p", 1) == std::optional<std::string>("settings"));
    CHECK_THROWS_AS((void)s.intern_fingerprint("p", "other"), sincehash::error);
    commit_batch b;
    b.upserts.emplace_back("b", state(1, 2, 3));
    CHECK_THROWS_AS(s.commit("p", b), sincehash::error);
  }
  CHECK(std::filesystem::last_write_time(f.path) == stamp);
  CHECK(std::filesystem::file_size(f.path) == size);
  CHECK(sqlite_store(f.str()).count("p") == 1);
}

TEST_CASE("sqlite_store: a newer schema is refused with both versions named") {
  temp_file f("newer");
  { sqlite_store s(f.str()); }
  const int newer = sqlite_store::schema_version + 6;
  raw_exec(f.str(), "PRAGMA user_version=" + std::to_string(newer));
  try {
    sqlite_store s(f.str());
    FAIL("a newer schema was opened");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == errc::store_error);
    CHECK(e.message().find("schema version " + std::to_string(newer)) != std::string::npos);
    CHECK(e.message().find("version " + std::to_string(sqlite_store::schema_version) + " understood") !=
          std::string::npos);
  }
  CHECK(raw_pragma(f.str(), "user_version") == newer);  // the file was not touched
}

TEST_CASE("sqlite_store: files that are not sincehash state stores are refused") {
  SUBCASE("another application's database") {
    temp_file f("foreign");
    raw_exec(f.str(), "PRAGMA application_id=1234; CREATE TABLE t(x);");
    CHECK_THROWS_WITH_AS(sqlite_store(f.str()), doctest::Contains("another application"), sincehash::error);
  }
  SUBCASE("another program's database: no application id, tables of its own") {
    temp_file f("other-program");
    raw_exec(f.str(),
             "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) "
             "VALUES('Ada');");
    const auto bytes = [&] {
      std::ifstream in(f.str(), std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string before = bytes();
    for (const bool read_only : {false, true}) {
      sincehash::sqlite_options o;
      o.read_only = read_only;
      try {
        sqlite_store s(f.str(), o);
        FAIL("another program's database was opened");
      } catch (const sincehash::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(e.message().find(f.str()) != std::string::npos);
        CHECK(e.message().find("not a sincehash state file") != std::string::npos);
        CHECK(e.message().find("\"customers\"") != std::string::npos);
      }
    }
    CHECK(bytes() == before);  // not a table added, not even the journal mode changed
    CHECK(raw_pragma(f.str(), "user_version") == 0);
  }
  SUBCASE("a file that is not a database, refused as not a state file") {
    temp_file f("text");
    {
      std::ofstream out(f.str(), std::ios::binary);
      for (int i = 0; i < 200; ++i) out << "this is not an SQLite file, just text\n";
    }
    CHECK_THROWS_WITH_AS(sqlite_store(f.str()), doctest::Contains("not an SQLite database"),
                         sincehash::error);
  }
  SUBCASE("not a database at all") {
    temp_file f("garbage");
    {
      std::ofstream out(f.str(), std::ios::binary);
      for (int i = 0; i < 200; ++i) out << "this is not an SQLite file, just text\n";
    }
    CHECK_THROWS_AS(sqlite_store(f.str()), sincehash::error);
  }
  SUBCASE("a path that cannot be created") {
    CHECK_THROWS_AS(sqlite_store("/nonexistent-directory/x/state.db"), sincehash::error);
  }
}

TEST_CASE("sqlite_store: everything committed survives closing and reopening") {
  temp_file f("reopen");
  std::uint32_t fp = 0;
  {
    sqlite_store s(f.str());
    fp = s.intern_fingerprint("p", "fp-text");
    commit_batch b;
    b.upserts.emplace_back("a", state(1, 2, 3));
    b.offset = offset_value::from_instant(at(1'700'000'000'000'000'000), "2023-11-14T22:13:20Z");
    s.commit("p", b);
    s.begin_rescan("p");
    commit_batch done;
    done.complete_rescan = true;
    done.rescan_completed_at = at(42);
    s.commit("p", done);
    s.begin_rescan("p");
  }
  sqlite_store s(f.str());
  CHECK(s.offset("p") == offset_value::from_instant(at(1'700'000'000'000'000'000), "2023-11-14T22:13:20Z"));
  CHECK(dump(s, "p") == std::map<std::string, record_state>{{"a", state(1, 2, 3)}});
  CHECK(s.rescan_active("p"));
  CHECK(s.last_rescan("p") == at(42));
  CHECK(s.intern_fingerprint("p", "fp-text") == fp);
}

TEST_CASE("sqlite_store: synchronous=NORMAL is accepted and commits the same way") {
  temp_file f("normal");
  sincehash::sqlite_options o;
  o.synchronous = sincehash::sqlite_sync::normal;
  sqlite_store s(f.str(), o);
  commit_batch b;
  b.upserts.emplace_back("a", state(1, 2, 3));
  s.commit("p", b);
  sqlite_store other(f.str());
  CHECK(other.count("p") == 1);
}

TEST_CASE("sqlite_store: a writer holding the lock past the busy timeout is a conflict, nothing committed") {
  temp_file f("busy");
  { sqlite_store init(f.str()); }
  sincehash::sqlite_options o;
  o.busy_timeout = std::chrono::milliseconds(50);
  sqlite_store s(f.str(), o);
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(f.str().c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  commit_batch b;
  b.upserts.emplace_back("a", state(1, 2, 3));
  b.offset = offset_value::from_integer(1);
  try {
    s.commit("p", b);
    FAIL("commit went through a held lock");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == errc::conflict);
  }
  REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  CHECK(s.count("p") == 0);
  CHECK_FALSE(s.offset("p"));
  s.commit("p", b);
  CHECK(s.count("p") == 1);
}

TEST_CASE("sqlite_store: two processes committing to one file lose nothing") {
  temp_file f("twoproc");
  { sqlite_store init(f.str()); }
  constexpr int batches = 60;
  constexpr int per_batch = 10;
  std::vector<std::unique_ptr<sincehash_test::worker>> children;
  for (int who = 0; who < 2; ++who) {
    children.push_back(std::make_unique<sincehash_test::worker>([&, who](sincehash_test::channel&) {
      sqlite_store s(f.str());
      std::uint32_t fp = s.intern_fingerprint("shared", "the same settings");
      for (int b = 0; b < batches; ++b) {
        commit_batch batch;
        for (int i = 0; i < per_batch; ++i) {
          record_state st = state(static_cast<std::uint64_t>(who), static_cast<std::uint64_t>(b), i);
          st.fingerprint = fp;
          batch.upserts.emplace_back(std::to_string(who) + "-" + std::to_string(b) + "-" + std::to_string(i),
                                     st);
        }
        batch.offset = offset_value::from_integer(2 * b + who);
        s.commit("shared", batch);
        commit_batch own = batch;
        own.offset = offset_value::from_integer(b);
        s.commit("own-" + std::to_string(who), own);
      }
      return std::string("done");
    }));
  }
  for (auto& child : children) {
    int code = 0;
    CHECK(child->finish(code) == "done");
    CHECK(code == 0);
  }
  sqlite_store s(f.str());
  auto all = dump(s, "shared");
  CHECK(all.size() == 2 * batches * per_batch);
  std::set<std::uint32_t> fps;
  for (const auto& kv : all) fps.insert(kv.second.fingerprint);
  CHECK(fps.size() == 1);  // both processes interned the text to the same id
  CHECK(s.fingerprint_text("shared", *fps.begin()) == std::string("the same settings"));
  CHECK(s.offset("shared") == offset_value::from_integer(2 * (batches - 1) + 1));
  for (int who = 0; who < 2; ++who) {
    CHECK(s.count("own-" + std::to_string(who)) == batches * per_batch);
    CHECK(s.offset("own-" + std::to_string(who)) == offset_value::from_integer(batches - 1));
  }
  CHECK(s.integrity_check() == "ok");
}

namespace {

// Batch k (k >= 1) of the crash test: offset k, 50 upserts whose state encodes (k, slot), and an
// erasure, over a pool of 400 ids. Replaying batches 1..k gives the only acceptable store at k.
commit_batch crash_batch(std::int64_t k) {
  commit_batch b;
  std::set<std::string> up;
  for (int j = 0; j < 50; ++j) {
    std::string id = "r" + std::to_string((k * 7 + j * 13) % 400);
    up.insert(id);
    b.upserts.emplace_back(id, state(static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(j), k));
  }
  std::string gone = "r" + std::to_string((k * 11 + 3) % 400);
  if (up.count(gone) == 0) b.erasures.push_back(gone);
  b.offset = offset_value::from_integer(k);
  return b;
}

void replay(std::map<std::string, record_state>& model, const commit_batch& b) {
  for (const auto& u : b.upserts) model[u.first] = u.second;
  for (const auto& e : b.erasures) model.erase(e);
}

[[noreturn]] void crash_child(const std::string& path) {
#ifdef __linux__
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
  try {
    sqlite_store s(path);  // synchronous=FULL, the default
    auto off = s.offset("crash");
    std::int64_t k = off ? off->number : 0;
    for (std::int64_t stop = k + 100000; k < stop;) s.commit("crash", crash_batch(++k));
  } catch (...) {
    ::_exit(3);
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("sqlite_store: SIGKILL at random moments leaves an intact file at a committed batch boundary") {
  int kills = 200;
  if (const char* env = std::getenv("SINCEHASH_CRASH_KILLS")) kills = std::max(1, std::atoi(env));
  temp_file f("crash");
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> pause_us(0, 12000);
  std::map<std::string, record_state> model;
  std::int64_t model_k = 0;
  int advanced = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < kills; ++round) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) crash_child(f.str());
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    ::kill(pid, SIGKILL);
    int status = reap(pid);
    REQUIRE(status == 128 + SIGKILL);

    sqlite_store s(f.str());
    REQUIRE(s.integrity_check() == "ok");
    auto off = s.offset("crash");
    std::int64_t k = off ? off->number : 0;
    CAPTURE(round);
    CAPTURE(k);
    REQUIRE(k >= model_k);  // a committed batch is never lost
    if (k > model_k) ++advanced;
    while (model_k < k) replay(model, crash_batch(++model_k));
    REQUIRE(dump(s, "crash") == model);
    REQUIRE(s.count("crash") == model.size());
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count() /
      1e3;
  MESSAGE(kills << " kills in " << seconds << " s; the store advanced after " << advanced
                << " of them, to batch " << model_k);
  CHECK(model_k > 0);
  CHECK(advanced > 0);
}

TEST_CASE(
    "sqlite_store: a file of schema 1 or 2 is migrated; its rows get a version below every later write") {
  for (int from : {1, 2}) {
    CAPTURE(from);
    temp_file f("oldschema");
    std::string setup = "PRAGMA journal_mode=WAL;BEGIN;";
    for (int v = 0; v < from; ++v) setup += sincehash::detail::sqlite_migrations[v];
    setup += "PRAGMA application_id=" + std::to_string(sincehash::detail::sqlite_application_id) +
             ";PRAGMA user_version=" + std::to_string(from) + ";";
    // Partition 'p' with an offset and two states; partition 'q' with only a fingerprint.
    setup +=
        "INSERT INTO partitions(id, name, offset_kind, offset_text, offset_number) VALUES(1, X'70', 1, '7', "
        "7);";
    setup += "INSERT INTO partitions(id, name) VALUES(2, X'71');";
    setup += "INSERT INTO fingerprints VALUES(2, 1, X'6670');";
    setup +=
        "INSERT INTO records(partition, id, hash, fingerprint, updated, last_seen, expires) VALUES"
        "(1, X'61', X'0100000000000000', 0, NULL, 5, NULL), (1, X'62', X'0200000000000000', 0, NULL, 6, "
        "NULL);";
    setup += "COMMIT;";
    raw_exec(f.str(), setup);

    sqlite_store s(f.str());
    CHECK(raw_pragma(f.str(), "user_version") == sqlite_store::schema_version);
    const std::vector<std::string_view> ids{"a", "b", "c"};
    const sincehash::store_snapshot old = s.snapshot("p", ids);
    CHECK(old.offset == offset_value::from_integer(7));
    REQUIRE(old.states[0]);
    CHECK(old.states[0]->hash == digest{1, 0, 64});
    CHECK(old.states[1]->last_seen == at(6));
    CHECK_FALSE(old.states[2]);
    CHECK(old.versions == std::vector<std::uint64_t>{1, 1, 0});
    CHECK(old.sequence == 1);
    CHECK(s.snapshot("q", {}).sequence == 1);

    commit_batch rewrite;
    rewrite.upserts.emplace_back("a", state(10, 0, 10));
    s.commit("p", rewrite);
    const std::uint64_t a2 = s.snapshot("p", {"a"}).versions[0];
    CHECK(a2 > 1);
    // Conditions read before the migration's first write: b and c still hold, a does not.
    commit_batch stale;
    stale.upserts.emplace_back("a", state(11, 0, 11));
    stale.expect = {{"a", 1}, {"b", 1}};
    stale.read_sequence = old.sequence;
    try {
      s.commit("p", stale);
      FAIL("a stale condition was accepted");
    } catch (const sincehash::commit_conflict& e) {
      CHECK(e.ids() == std::vector<std::string>{"a"});
    }
    commit_batch holds;
    holds.upserts.emplace_back("b", state(20, 0, 20));
    holds.upserts.emplace_back("c", state(30, 0, 30));
    holds.expect = {{"b", 1}, {"c", 0}};
    holds.read_sequence = old.sequence;
    s.commit("p", holds);
    const sincehash::store_snapshot now = s.snapshot("p", ids);
    CHECK(now.versions[1] > a2);
    CHECK(now.versions[2] == now.versions[1]);

    // A partition created after the migration starts from 0; leases work on the migrated file.
    CHECK(s.snapshot("r", {}).sequence == 0);
    sincehash::lease_result lease = s.acquire_lease("p", "me", 10s);
    CHECK(lease.granted);
    CHECK(lease.lease.token == 1);
    CHECK(s.partitions() == std::vector<std::string>{"p", "q"});
    CHECK(s.integrity_check() == "ok");
  }
}

TEST_CASE("sqlite_store: a file of schema 3 gains the per-field digests column; its rows have none") {
  temp_file f("schema3");
  std::string setup = "PRAGMA journal_mode=WAL;BEGIN;";
  for (int v = 0; v < 3; ++v) setup += sincehash::detail::sqlite_migrations[v];
  setup += "PRAGMA application_id=" + std::to_string(sincehash::detail::sqlite_application_id) +
           ";PRAGMA user_version=3;";
  setup += "INSERT INTO partitions(id, name, sequence) VALUES(1, X'70', 4);";
  setup +=
      "INSERT INTO records(partition, id, hash, fingerprint, updated, last_seen, expires, sealed, version) "
      "VALUES(1, X'61', X'0100000000000000', 1, NULL, 5, NULL, NULL, 4);";
  setup += "COMMIT;";
  raw_exec(f.str(), setup);
  {
    sqlite_store s(f.str());
    CHECK(raw_pragma(f.str(), "user_version") == 4);
    const sincehash::store_snapshot old = s.snapshot("p", {"a"});
    REQUIRE(old.states[0]);
    CHECK(old.states[0]->hash == digest{1, 0, 64});
    CHECK(old.states[0]->fields.empty());
    CHECK(old.versions[0] == 4);
    record_state with = state(2, 0, 2);
    with.fields = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    commit_batch b;
    b.upserts.emplace_back("a", with);
    b.upserts.emplace_back("b", state(3, 0, 3));
    s.commit("p", b);
  }
  sqlite_store s(f.str());
  const auto got = s.get_many("p", {"a", "b"});
  REQUIRE(got[0]);
  CHECK(got[0]->fields == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  REQUIRE(got[1]);
  CHECK(got[1]->fields.empty());
  CHECK(s.integrity_check() == "ok");
}

TEST_CASE("test workers: each sees the end of its input when the test closes it, while a later one runs") {
  // The processes of the tests below talk through these; a worker that kept another's pipe open
  // would wait for it for ever.
  sincehash_test::worker first([](sincehash_test::channel& parent) {
    ::alarm(30);  // waiting for ever: killed, and the check below fails
    std::string got;
    for (char c = parent.receive(); c != '\0'; c = parent.receive()) got.push_back(c);
    return "read " + got;
  });
  REQUIRE(first.talk().send('a'));
  sincehash_test::worker second([](sincehash_test::channel& parent) {
    ::alarm(60);  // still there when the first is killed
    return std::string("read ") + parent.receive();
  });
  int code = 0;
  CHECK(first.finish(code) == "read a");
  CHECK(code == 0);
  REQUIRE(second.talk().send('b'));
  CHECK(second.finish(code) == "read b");
  CHECK(code == 0);
}

TEST_CASE("sqlite_store: leases live in the file: other processes see them, and take over a dead holder's") {
  temp_file f("leases");
  { sqlite_store init(f.str()); }
  sincehash_test::worker child([&](sincehash_test::channel& parent) -> std::string {
    sqlite_store s(f.str());
    sincehash::lease_result l = s.acquire_lease("p", "child", 60s);
    if (!l.granted) return "the child was refused the first lease";
    parent.send('h');
    if (parent.receive() != 'g') return "no word to release";
    if (!s.release_lease(l.lease)) return "the child could not release its lease";
    parent.send('r');
    // Then takes the lease again and dies holding it: no release, the lease stays in the file.
    if (parent.receive() != 'g') return "no word to take the lease again";
    if (!s.acquire_lease("p", "child-" + std::to_string(::getpid()), 60s).granted) {
      return "the child was refused the second lease";
    }
    commit_batch b;
    b.upserts.emplace_back("from-child", state(1, 0, 1));
    s.commit("p", b);
    return "held";
  });
  sqlite_store s(f.str());
  REQUIRE(child.talk().receive() == 'h');
  sincehash::lease_result busy = s.acquire_lease("p", "parent", 60s);
  CHECK_FALSE(busy.granted);
  CHECK(busy.lease.owner == "child");
  CHECK(busy.remaining > 50s);
  child.talk().send('g');
  REQUIRE(child.talk().receive() == 'r');
  sincehash::lease_result mine = s.acquire_lease("p", "parent", 60s);
  REQUIRE(mine.granted);
  CHECK(mine.lease.token > busy.lease.token);
  CHECK(s.release_lease(mine.lease));
  child.talk().send('g');
  const pid_t pid = child.pid();
  int code = 0;
  CHECK(child.finish(code) == "held");
  CHECK(code == 0);

  // The child died holding its lease: the refusal names it, and releasing that takes it over.
  sincehash::lease_result dead = s.acquire_lease("p", "parent", 60s);
  REQUIRE_FALSE(dead.granted);
  CHECK(dead.lease.owner == "child-" + std::to_string(pid));
  CHECK(dead.lease.token > mine.lease.token);
  CHECK(s.release_lease(dead.lease));
  sincehash::lease_result taken = s.acquire_lease("p", "parent", 60s);
  REQUIRE(taken.granted);
  CHECK(taken.lease.token > dead.lease.token);
  commit_batch b;
  b.upserts.emplace_back("from-parent", state(2, 0, 2));
  s.commit("p", b);
  CHECK(s.count("p") == 2);
}

TEST_CASE(
    "sqlite_store: a holder paused past its lease is refused when it resumes (another process took over)") {
  temp_file f("paused");
  { sqlite_store init(f.str()); }
  sincehash_test::check_paused_holder([&] { return std::make_unique<sqlite_store>(f.str()); });
}

TEST_CASE(
    "sqlite_store: a conditional commit in one process sees another process's write since its snapshot") {
  temp_file f("conditions");
  {
    sqlite_store init(f.str());
    commit_batch b;
    b.upserts.emplace_back("x", state(1, 0, 1));
    init.commit("p", b);
  }
  sincehash_test::worker child([&](sincehash_test::channel& parent) -> std::string {
    sqlite_store s(f.str());
    const std::vector<std::string_view> ids{"x", "y"};
    const sincehash::store_snapshot snap = s.snapshot("p", ids);
    parent.send('r');
    if (parent.receive() != 'w') return "no word to commit";
    commit_batch b;
    b.upserts.emplace_back("x", state(10, 0, 10));
    b.upserts.emplace_back("y", state(20, 0, 20));
    b.expect = {{"x", snap.versions[0]}, {"y", snap.versions[1]}};
    b.read_sequence = snap.sequence;
    try {
      s.commit("p", b);
    } catch (const sincehash::commit_conflict& e) {
      std::string named;
      for (const std::string& id : e.ids()) named += id + ";";
      return "refused: " + named;
    }
    return "committed";
  });
  REQUIRE(child.talk().receive() == 'r');
  sqlite_store s(f.str());
  commit_batch theirs;
  theirs.upserts.emplace_back("y", state(2, 0, 2));  // y appears after the child read it as absent
  s.commit("p", theirs);
  child.talk().send('w');
  int code = 0;
  CHECK(child.finish(code) == "refused: y;");  // refused, naming exactly y
  CHECK(code == 0);
  CHECK(dump(s, "p") == std::map<std::string, record_state>{{"x", state(1, 0, 1)}, {"y", state(2, 0, 2)}});
}

namespace {

// `n` records of partition "p" (and the same ids in "q", other states), committed in several
// batches so that their versions differ.
void fill_spread(const std::string& path, int n) {
  sqlite_store s(path);
  for (int base = 0; base < n; base += 2500) {
    commit_batch b, other;
    for (int i = base; i < std::min(n, base + 2500); ++i) {
      const std::string id = "r" + std::to_string(100000 + i);
      b.upserts.emplace_back(id, state(static_cast<std::uint64_t>(i) + 1, 7, i));
      other.upserts.emplace_back(id, state(static_cast<std::uint64_t>(i) + 5, 9, i));
    }
    s.commit("p", b);
    s.commit("q", other);
  }
}

// Every 7th stored id (too thin for one ordered scan), ids never stored, and repeats, shuffled.
std::vector<std::string> spread_ids(int n) {
  std::vector<std::string> ids;
  for (int i = 3; i < n; i += 7) ids.push_back("r" + std::to_string(100000 + i));
  for (int i = 0; i < 40; ++i) ids.push_back("r" + std::to_string(100000 + i * 131) + "x");
  ids.emplace_back("");
  ids.emplace_back("zz");
  for (int i = 0; i < 30; ++i) ids.push_back(ids[static_cast<std::size_t>(i) * 17]);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(42));
  return ids;
}

// A file of 20,000 spread states (see `fill_spread`) and a thin batch of its ids (`spread_ids`),
// with the snapshot one connection takes of them.
struct thin_batch {
  temp_file f;
  std::vector<std::string> owned;
  std::vector<std::string_view> ids;
  sincehash::store_snapshot one;

  explicit thin_batch(const char* tag) : f(tag) {
    fill_spread(f.str(), 20'000);
    owned = spread_ids(20'000);
    ids.assign(owned.begin(), owned.end());
    sqlite_store s(f.str());
    one = s.snapshot("p", ids);
  }
};

// `got` holds exactly what `want` holds, id by id.
void check_same_snapshot(const sincehash::store_snapshot& got, const sincehash::store_snapshot& want,
                         const std::vector<std::string_view>& ids) {
  CHECK(got.sequence == want.sequence);
  CHECK(got.versions == want.versions);
  REQUIRE(got.states.size() == want.states.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CAPTURE(ids[i]);
    CHECK(got.states[i] == want.states[i]);
  }
}

}  // namespace

TEST_CASE("sqlite_store: reading connections answer a thin batch exactly as one connection does") {
  const thin_batch t("readers");
  std::size_t stored = 0;
  for (const auto& st : t.one.states) stored += st.has_value() ? 1 : 0;
  REQUIRE(stored > 2800);  // the stored ids among them, repeats included
  REQUIRE(stored < t.ids.size());

  for (unsigned connections : {2U, 3U, 8U}) {
    CAPTURE(connections);
    sincehash::sqlite_options o;
    o.read_connections = connections;
    int shared = 0;
    o.shared_read_hook = [&](std::size_t part) { shared += part == 0 ? 1 : 0; };
    sqlite_store s(t.f.str(), o);
    for (int round = 0; round < 2; ++round) {  // the second round reuses the connections
      check_same_snapshot(s.snapshot("p", t.ids), t.one, t.ids);
    }
    CHECK(shared == 2);
  }
}

TEST_CASE("sqlite_store: a commit between a snapshot's start and its reading connections stays out of it") {
  const thin_batch t("readers-race");
  const std::vector<std::string_view>& ids = t.ids;
  const sincehash::store_snapshot& before = t.one;

  sincehash::sqlite_options o;
  o.read_connections = 2;
  bool wrote = false;
  o.shared_read_hook = [&](std::size_t part) {
    if (part != 0 || wrote) return;
    wrote = true;
    commit_batch b;  // every stored id of the batch changes, in the lower and the upper part
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (before.states[i]) b.upserts.emplace_back(std::string(ids[i]), state(99, 99, 99));
    sqlite_store writer(t.f.str());
    writer.commit("p", b);
  };
  sqlite_store s(t.f.str(), o);
  const sincehash::store_snapshot got = s.snapshot("p", ids);
  REQUIRE(wrote);
  check_same_snapshot(got, before, ids);
  // The next snapshot sees the commit, through the reading connection as well.
  const sincehash::store_snapshot after = s.snapshot("p", ids);
  CHECK(after.sequence == before.sequence + 1);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CAPTURE(ids[i]);
    CHECK(after.states[i] ==
          (before.states[i] ? std::optional<record_state>(state(99, 99, 99)) : std::nullopt));
  }
}

TEST_CASE("sqlite_store: a reading connection that fails leaves its part to the first connection") {
  const thin_batch t("readers-fail");

  for (std::size_t failing : {std::size_t{1}, std::size_t{2}, std::size_t{0}}) {  // 0: every one
    CAPTURE(failing);
    sincehash::sqlite_options o;
    o.read_connections = 3;
    std::atomic<int> failed{0};
    std::atomic<int> read{0};
    o.shared_read_hook = [&](std::size_t part) {
      if (part == 0) return;
      if (failing == 0 || part == failing) {
        ++failed;
        throw std::runtime_error("reading connection lost");
      }
      ++read;
    };
    sqlite_store s(t.f.str(), o);
    for (int round = 0; round < 2; ++round) {  // the connections that failed are used again
      check_same_snapshot(s.snapshot("p", t.ids), t.one, t.ids);
    }
    CHECK(failed.load() == (failing == 0 ? 4 : 2));
    CHECK(read.load() == (failing == 0 ? 0 : 2));
  }
}

TEST_CASE("sqlite_store: reading connections are not opened for a database in memory") {
  sincehash::sqlite_options o;
  o.read_connections = 4;
  int shared = 0;
  o.shared_read_hook = [&](std::size_t part) { shared += part == 0 ? 1 : 0; };
  sqlite_store s(":memory:", o);
  commit_batch b;
  for (int i = 0; i < 5000; ++i) b.upserts.emplace_back("r" + std::to_string(100000 + i), state(1, 2, 3));
  s.commit("p", b);
  std::vector<std::string> owned;
  for (int i = 0; i < 5000; i += 9) owned.push_back("r" + std::to_string(100000 + i));
  const std::vector<std::string_view> ids(owned.begin(), owned.end());
  const sincehash::store_snapshot got = s.snapshot("p", ids);
  for (const auto& st : got.states) CHECK(st == std::optional<record_state>(state(1, 2, 3)));
  CHECK(shared == 0);
}

TEST_CASE("sqlite_store: a store whose reading connections read leaves no log behind when closed") {
  const thin_batch t("readers-close");
  const std::string file = t.f.str();
  {
    sincehash::sqlite_options o;
    o.read_connections = 2;
    int shared = 0;
    o.shared_read_hook = [&](std::size_t part) { shared += part == 0 ? 1 : 0; };
    sqlite_store s(file, o);
    (void)s.snapshot("p", t.ids);
    REQUIRE(shared == 1);
    commit_batch b;
    b.upserts.emplace_back("r100003", state(5, 5, 5));
    s.commit("p", b);
    CHECK(std::filesystem::exists(file + "-wal"));
  }
  // The last connection to close wrote the log back into the file and removed it.
  CHECK_FALSE(std::filesystem::exists(file + "-wal"));
  sqlite_store again(file);
  CHECK(dump(again, "p").at("r100003") == state(5, 5, 5));
}
