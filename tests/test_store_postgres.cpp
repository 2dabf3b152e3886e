// postgres_store beyond the conformance suite: schema versions and migrations, one round trip
// per batch read, snapshot and commit, versions and conditional commits, leases and fencing,
// several processes at once, lost connections. Against a real PostgreSQL server made by initdb
// in a temporary directory.
#include <sincehash/store/postgres.hpp>

#include <doctest/doctest.h>

#include "support/servers.hpp"
#include "support/shared_store_checks.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using sincehash::commit_batch;
using sincehash::postgres_options;
using sincehash::postgres_store;
using sincehash_test::dated;
using sincehash_test::one_upsert;

namespace {

sincehash_test::postgres_server& server() {
  static sincehash_test::postgres_server s;
  return s;
}

std::string fresh_schema() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

postgres_options options_for(const std::string& schema) {
  postgres_options o;
  o.conninfo = server().uri();
  o.schema = schema;
  return o;
}

// A plain libpq connection for looking at the server from outside the store.
struct raw_pg {
  PGconn* c = nullptr;
  raw_pg() {
    c = PQconnectdb(server().uri().c_str());
    REQUIRE(PQstatus(c) == CONNECTION_OK);
  }
  ~raw_pg() { PQfinish(c); }
  // Runs `sql`; the first column of the first row as text ("" when none).
  std::string value(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    INFO(sql << ": " << PQresultErrorMessage(r));
    REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
    std::string out = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return out;
  }
  // A new schema left at `version`, as the releases of that version made it, first on the search
  // path: its name.
  std::string schema_at(int version) {
    const std::string name = fresh_schema();
    value("CREATE SCHEMA " + name);
    value("SET search_path TO " + name);
    value("CREATE TABLE schema_version(version integer NOT NULL)");
    for (int v = 0; v < version; ++v) value(sincehash::detail::pg_migrations[v]);
    value("INSERT INTO schema_version VALUES(" + std::to_string(version) + ")");
    return name;
  }
};

}  // namespace

TEST_CASE("postgres_store: a new schema is made at the current version; an older one is migrated") {
  const std::string schema = fresh_schema();
  {
    postgres_store s(options_for(schema));
    CHECK(s.stored_schema_version() == postgres_store::schema_version);
    CHECK(postgres_store::schema_version >= 5);
  }
  // A schema left at version 1 (before leases): opening migrates it, keeping its data.
  raw_pg raw;
  const std::string old = raw.schema_at(1);
  raw.value("INSERT INTO partitions(name, offset_kind, offset_text, offset_number) VALUES('p', 1, '7', 7)");
  raw.value("INSERT INTO records SELECT id, 'old', '\\x0100000000000000', 1, 3, 5, NULL FROM partitions");
  {
    postgres_store s(options_for(old));
    CHECK(s.stored_schema_version() == postgres_store::schema_version);
    CHECK(s.offset("p") == sincehash::offset_value::from_integer(7));
    CHECK(s.get_many("p", {"old"})[0] == dated(1, 3, 5));  // no sealed bytes
    CHECK(s.acquire_lease("p", "me", std::chrono::seconds(5)).granted);
  }
  CHECK(raw.value("SELECT count(*) FROM " + old + ".schema_version") == "1");

  // A schema left at version 2 (before sealed bytes): its states read with none, new ones keep theirs.
  const std::string two = raw.schema_at(2);
  raw.value("INSERT INTO partitions(name) VALUES('p')");
  raw.value("INSERT INTO records SELECT id, 'old', '\\x0200000000000000', 1, 3, 5, NULL FROM partitions");
  sincehash::record_state sealed = dated(4, 6, 7);
  sealed.sealed = std::string("\0sealed\xff\0", 9) + std::string(300, '\x80');
  {
    postgres_store s(options_for(two));
    CHECK(s.stored_schema_version() == postgres_store::schema_version);
    CHECK(s.get_many("p", {"old"})[0] == dated(2, 3, 5));
    s.commit("p", one_upsert("new", sealed));
  }
  CHECK(raw.value("SELECT version FROM " + two + ".schema_version") ==
        std::to_string(postgres_store::schema_version));
  CHECK(raw.value("SELECT length(sealed) FROM " + two + ".records WHERE id = 'new'") == "309");
  CHECK(raw.value("SELECT count(*) FROM " + two + ".records WHERE sealed = ''") == "1");
  {
    postgres_store s(options_for(two));
    CHECK(s.get_many("p", {"new"})[0] == sealed);
  }

  // A schema left at version 3 (before versions): its states get version 1 and its partitions
  // sequence 1, so later writes have larger versions; a process still running the old
  // statements can no longer commit.
  const std::string three = raw.schema_at(3);
  raw.value("INSERT INTO partitions(name, offset_kind, offset_text, offset_number) VALUES('p', 1, '7', 7)");
  raw.value("INSERT INTO records SELECT id, 'old', '\\x0300000000000000', 1, 3, 5, NULL FROM partitions");
  raw.value("INSERT INTO records SELECT id, 'older', '\\x0400000000000000', 1, 3, 5, NULL FROM partitions");
  {
    postgres_store s(options_for(three));
    CHECK(s.stored_schema_version() == postgres_store::schema_version);
    sincehash::store_snapshot snap = s.snapshot("p", {"old", "older", "none"});
    CHECK(snap.states[0] == dated(3, 3, 5));
    CHECK(snap.versions == std::vector<std::uint64_t>{1, 1, 0});
    CHECK(snap.sequence == 1);
    CHECK(snap.offset == sincehash::offset_value::from_integer(7));
    commit_batch b = one_upsert("old", dated(9, 9));
    b.expect = {{"old", 1}, {"none", 0}};
    b.read_sequence = 1;
    s.commit("p", b);
    snap = s.snapshot("p", {"old", "older"});
    CHECK(snap.versions == std::vector<std::uint64_t>{2, 1});
    CHECK(snap.sequence == 2);
    commit_batch stale = one_upsert("older", dated(9, 9));
    stale.expect = {{"old", 1}};
    CHECK(sincehash_test::conflict_of(s, "p", stale) == std::vector<std::string>{"old"});
  }
  raw.value("SET search_path TO " + three);
  PGresult* refused = PQexec(raw.c, "SELECT commit_guard(1, NULL, NULL, false)");
  CHECK(PQresultStatus(refused) == PGRES_FATAL_ERROR);
  CHECK(std::string(PQresultErrorMessage(refused)).find("older sincehash") != std::string::npos);
  PQclear(refused);
  CHECK(raw.value("SELECT count(*) FROM " + three + ".records WHERE version IS NULL") == "0");
  raw.value("SET search_path TO public");

  // A schema left at version 5 (the wide row): opening rewrites the table in the narrow layout,
  // keeping every column of every row (a fingerprint above 2^31 too), the versions and the
  // partition's sequence; the key, the expiry index and the conditional commit work on the new table.
  const std::string five = raw.schema_at(5);
  raw.value("INSERT INTO partitions(name, sequence) VALUES('p', 7)");
  raw.value(
      "INSERT INTO records(partition, id, hash, fingerprint, updated, last_seen, expires, sealed, fields, "
      "version) SELECT id, 'full', '\\x0500000000000000', 4294967295, 3, 5, 90, '\\x00ff', '\\x0102', 6 "
      "FROM partitions");
  raw.value(
      "INSERT INTO records(partition, id, hash, fingerprint, updated, last_seen, expires, version) "
      "SELECT id, 'bare', '\\x06000000000000000700000000000000', 2, NULL, 8, NULL, 7 FROM partitions");
  sincehash::record_state full = dated(5, 3, 5);
  full.fingerprint = 4294967295u;
  full.expires = sincehash_test::at_ns(90);
  full.sealed = std::string("\0\xff", 2);
  full.fields = std::string("\1\2", 2);
  sincehash::record_state bare;
  bare.hash = sincehash::digest{6, 7, 128};
  bare.fingerprint = 2;
  bare.last_seen = sincehash_test::at_ns(8);
  {
    postgres_store s(options_for(five));
    CHECK(s.stored_schema_version() == postgres_store::schema_version);
    sincehash::store_snapshot snap = s.snapshot("p", {"full", "bare"});
    REQUIRE(snap.states[0].has_value());
    REQUIRE(snap.states[1].has_value());
    CHECK(*snap.states[0] == full);
    CHECK(*snap.states[1] == bare);
    CHECK(snap.versions == std::vector<std::uint64_t>{6, 7});
    CHECK(snap.sequence == 7);
    CHECK(s.get_many("p", {"full"})[0] == full);
    commit_batch b = one_upsert("bare", dated(9, 9, 9));
    b.expect = {{"bare", 7}};
    b.read_sequence = 1;
    s.commit("p", b);
    CHECK(s.snapshot("p", {"bare"}).versions == std::vector<std::uint64_t>{8});
    CHECK(s.count("p") == 2);
    CHECK(s.purge_expired("p", sincehash_test::at_ns(100)) == 1);
    CHECK(s.count("p") == 1);
  }
  CHECK(raw.value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '" + five +
                  ".records'::regclass AND attname = 'fingerprint'") == "integer");
  CHECK(raw.value("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + five +
                  "' AND indexname IN ('records_pkey', 'records_expiry')") == "2");
  CHECK(raw.value("SELECT count(*) FROM pg_tables WHERE schemaname = '" + five +
                  "' AND tablename = "
                  "'records_next'") == "0");
  raw.value("SET search_path TO public");

  // A newer schema is refused, naming both versions.
  raw.value("UPDATE " + old + ".schema_version SET version = 99");
  CHECK_THROWS_WITH_AS(postgres_store{options_for(old)}, doctest::Contains("version 99"), sincehash::error);

  // Several workers opening a fresh schema at once: one migrates, the others wait and find it done.
  const std::string racing = fresh_schema();
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    openers.emplace_back([&] {
      try {
        postgres_store s(options_for(racing));
        s.commit("p", one_upsert("a", dated(1, 1)));
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& t : openers) t.join();
  CHECK(failures == 0);
  CHECK(raw.value("SELECT version FROM " + racing + ".schema_version") ==
        std::to_string(postgres_store::schema_version));

  CHECK_THROWS_WITH_AS(postgres_store{options_for("Bad-Name")}, doctest::Contains("schema name"),
                       sincehash::error);
}

TEST_CASE("postgres_store: a batch read of 1,000 ids is exactly one round trip") {
  const std::string schema = fresh_schema();
  postgres_store s(options_for(schema));
  commit_batch b;
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("id-" + std::to_string(i));
  for (int i = 0; i < 1000; i += 3)
    b.upserts.emplace_back(names[i], dated(static_cast<std::uint64_t>(i) + 1, i));
  s.commit("p", b);
  std::vector<std::string_view> ids(names.begin(), names.end());
  const std::uint64_t before = s.round_trips();
  auto got = s.get_many("p", ids);
  CHECK(s.round_trips() - before == 1);
  for (int i = 0; i < 1000; ++i) CHECK(got[static_cast<std::size_t>(i)].has_value() == (i % 3 == 0));

  // The same, counted on the wire by a relay between the store and the server.
  sincehash_test::tcp_relay relay(server().port(), sincehash_test::tcp_relay::wire::postgres);
  postgres_options through = options_for(schema);
  through.conninfo = "postgresql://sincehash@127.0.0.1:" + std::to_string(relay.port()) + "/postgres";
  postgres_store relayed(through);
  const std::uint64_t wire_before = relay.round_trips();
  auto again = relayed.get_many("p", ids);
  CHECK(relay.round_trips() - wire_before == 1);
  CHECK(again == got);

  // A commit of 1,000 states is one round trip (one pipelined transaction) too.
  commit_batch next;
  for (int i = 0; i < 1000; ++i) next.upserts.emplace_back(names[i], dated(7, 5000 + i));
  next.offset = sincehash::offset_value::from_integer(3);
  const std::uint64_t before_commit = s.round_trips();
  (void)relayed.intern_fingerprint("p", "settings");  // the partition's id is known from here on
  const std::uint64_t wire_before_commit = relay.round_trips();
  relayed.commit("p", next);
  s.commit("p", next);
  CHECK(s.round_trips() - before_commit == 1);
  CHECK(relay.round_trips() - wire_before_commit == 1);
  CHECK(s.count("p") == 1000);
}

TEST_CASE("postgres_store: a snapshot and a conditional commit are one round trip each, on the wire") {
  const std::string schema = fresh_schema();
  postgres_store s(options_for(schema));
  std::vector<std::string> names;
  commit_batch b;
  for (int i = 0; i < 1000; ++i) names.push_back("id-" + std::to_string(i));
  for (int i = 0; i < 1000; i += 3)
    b.upserts.emplace_back(names[i], dated(static_cast<std::uint64_t>(i) + 1, i));
  b.offset = sincehash::offset_value::from_integer(1);
  s.commit("p", b);
  s.begin_rescan("p");
  std::vector<std::string_view> ids(names.begin(), names.end());
  ids.push_back(ids[0]);

  sincehash_test::tcp_relay relay(server().port(), sincehash_test::tcp_relay::wire::postgres);
  postgres_options through = options_for(schema);
  through.conninfo = "postgresql://sincehash@127.0.0.1:" + std::to_string(relay.port()) + "/postgres";
  postgres_store relayed(through);
  auto counted = [&](const char* what, auto&& call) {
    const std::uint64_t wire = relay.round_trips();
    const std::uint64_t own = relayed.round_trips();
    call();
    INFO(std::string(what));
    CHECK(relay.round_trips() - wire == 1);
    CHECK(relayed.round_trips() - own == 1);
  };

  sincehash::store_snapshot snap;
  counted("snapshot", [&] { snap = relayed.snapshot("p", ids); });
  CHECK(snap.states == s.get_many("p", ids));
  CHECK(snap.offset == sincehash::offset_value::from_integer(1));
  CHECK(snap.rescan_active);
  CHECK(snap.sequence > 0);

  (void)relayed.intern_fingerprint("p", "settings");  // the partition's id is known from here on
  commit_batch next;
  for (int i = 0; i < 1000; ++i) {
    next.upserts.emplace_back(names[i], dated(7, 5000 + i));
    next.expect.emplace_back(names[i], snap.versions[static_cast<std::size_t>(i)]);
  }
  next.offset = sincehash::offset_value::from_integer(3);
  counted("a commit checking 1,000 conditions", [&] { relayed.commit("p", next); });
  auto reread = [&] {
    const sincehash::store_snapshot now = s.snapshot("p", ids);
    for (std::size_t i = 0; i < next.expect.size(); ++i) next.expect[i].second = now.versions[i];
    next.read_sequence = now.sequence;
  };
  reread();
  for (auto& u : next.upserts) u.second = dated(8, 6000);
  counted("a commit whose read sequence still holds", [&] { relayed.commit("p", next); });
  reread();
  s.commit("p", one_upsert("id-500", dated(9, 7000)));
  counted("a commit refused by a conflict", [&] {
    CHECK(sincehash_test::conflict_of(relayed, "p", next) == std::vector<std::string>{"id-500"});
  });
  counted("a snapshot of no ids", [&] { snap = relayed.snapshot("p", {}); });
  counted("a reset", [&] { relayed.reset_offset("p", false); });
  counted("a rescan abandoned", [&] { relayed.abandon_rescan("p"); });
  counted("a purge", [&] { (void)relayed.purge_expired("p", sincehash_test::at_ns(1)); });

  // Three reads the old way take three round trips: the relay tells them apart.
  const std::uint64_t wire = relay.round_trips();
  (void)relayed.offset("p");
  (void)relayed.rescan_active("p");
  (void)relayed.get_many("p", ids);
  CHECK(relay.round_trips() - wire == 3);
}

TEST_CASE("postgres_store: every snapshot is read at one point in time") {
  const std::string schema = fresh_schema();
  sincehash_test::check_snapshot_consistent(
      [&] { return std::make_unique<postgres_store>(options_for(schema)); });
}

TEST_CASE("postgres_store: 4 processes incrementing through conditional commits lose no increment") {
  const std::string schema = fresh_schema();
  { postgres_store make(options_for(schema)); }  // migrate before the processes start
  sincehash_test::check_no_lost_increment(
      [&] { return std::make_unique<postgres_store>(options_for(schema)); });
}

TEST_CASE("postgres_store: nothing listens: a clear error") {
  postgres_options o;
  o.conninfo = "postgresql://sincehash@127.0.0.1:" + std::to_string(sincehash_test::free_port()) +
               "/postgres?connect_timeout=2";
  CHECK_THROWS_WITH_AS(postgres_store{o}, doctest::Contains("cannot connect"), sincehash::error);
}

TEST_CASE(
    "postgres_store: a lost connection is an error, then the next call reconnects; never a half commit") {
  const std::string schema = fresh_schema();
  postgres_store s(options_for(schema));
  commit_batch base = one_upsert("a", dated(1, 1));
  base.offset = sincehash::offset_value::from_integer(1);
  s.commit("p", base);
  raw_pg raw;
  auto kill_store_connection = [&] {
    std::string n = raw.value(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'");
    REQUIRE(n != "0");
  };

  kill_store_connection();
  commit_batch next = one_upsert("b", dated(2, 2));
  next.upserts.emplace_back("c", dated(3, 3));
  next.offset = sincehash::offset_value::from_integer(2);
  bool threw = false;
  try {
    s.commit("p", next);
  } catch (const sincehash::error& e) {
    threw = true;
    CHECK(e.code() == sincehash::errc::store_error);
    CHECK(std::string(e.what()).find("connection lost") != std::string::npos);
    CHECK(std::string(e.what()).find("reconnects") != std::string::npos);
  }
  CHECK(threw);
  CHECK(s.count("p") == 1);
  CHECK(s.offset("p") == sincehash::offset_value::from_integer(1));
  s.commit("p", next);
  CHECK(s.count("p") == 3);

  kill_store_connection();
  CHECK_THROWS_AS((void)s.get_many("p", {"a"}), sincehash::error);
  CHECK(s.get_many("p", {"a"})[0] == dated(1, 1));
}

TEST_CASE("postgres_store: a statement failing inside the commit rolls the whole transaction back") {
  const std::string schema = fresh_schema();
  postgres_store s(options_for(schema));
  s.commit("p", one_upsert("a", dated(1, 1)));
  raw_pg raw;
  // Erasures run after the upserts in the same transaction: make them fail on the server.
  raw.value("CREATE FUNCTION " + schema +
            ".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
            "EXCEPTION 'refused by the test'; END $$");
  raw.value("CREATE TRIGGER refuse BEFORE DELETE ON " + schema + ".records FOR EACH ROW EXECUTE FUNCTION " +
            schema + ".refuse()");
  commit_batch b = one_upsert("b", dated(2, 2));
  b.erasures = {"a"};
  b.offset = sincehash::offset_value::from_integer(5);
  CHECK_THROWS_WITH_AS(s.commit("p", b), doctest::Contains("refused by the test"), sincehash::error);
  CHECK_FALSE(s.get_many("p", {"b"})[0]);
  CHECK(s.get_many("p", {"a"})[0] == dated(1, 1));
  CHECK_FALSE(s.offset("p"));
  raw.value("DROP TRIGGER refuse ON " + schema + ".records");
  s.commit("p", b);  // the connection is usable again: no transaction left open
  CHECK(s.get_many("p", {"b"})[0] == dated(2, 2));
  CHECK(s.offset("p") == sincehash::offset_value::from_integer(5));
}

TEST_CASE("postgres_store: leases grant one holder at a time, with growing fencing tokens") {
  const std::string schema = fresh_schema();
  sincehash_test::check_leases([&] { return std::make_unique<postgres_store>(options_for(schema)); });
}

TEST_CASE("postgres_store: a newer state is never replaced by an older one") {
  const std::string schema = fresh_schema();
  sincehash_test::check_newest_wins([&] { return std::make_unique<postgres_store>(options_for(schema)); });
}

TEST_CASE("postgres_store: a holder paused past its lease cannot commit when it resumes") {
  const std::string schema = fresh_schema();
  {
    postgres_store make(options_for(schema));  // migrate before the processes start
  }
  sincehash_test::check_paused_holder([&] { return std::make_unique<postgres_store>(options_for(schema)); });
}

namespace {

using store_worker = sincehash_test::store_worker<postgres_store>;

// The bug the store avoids: read the stored date, and write the new one when it is newer.
struct naive_worker {
  raw_pg raw;
  std::string table;
  explicit naive_worker(std::string t) : table(std::move(t)) {}
  void write(int id, std::int64_t date) {
    std::string old = raw.value("SELECT updated FROM " + table + " WHERE id = " + std::to_string(id));
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (old.empty() || std::stoll(old) < date) {
      raw.value("INSERT INTO " + table + " VALUES(" + std::to_string(id) + ", " + std::to_string(date) +
                ") ON CONFLICT (id) DO UPDATE SET updated = EXCLUDED.updated");
    }
    // A connector does some work before it looks again: the read-back comes a little later.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  std::int64_t read(int id) {
    std::string v = raw.value("SELECT updated FROM " + table + " WHERE id = " + std::to_string(id));
    return v.empty() ? 0 : std::stoll(v);
  }
};

}  // namespace

TEST_CASE("postgres_store: 4 processes x 10,000 commits over 100 ids: newest dates, no regression") {
  const std::string schema = fresh_schema();
  { postgres_store make(options_for(schema)); }
  auto result = sincehash_test::race<store_worker>(
      4, 10'000, 100, [&] { return std::make_unique<store_worker>(options_for(schema)); },
      [&](int id) {
        store_worker w(options_for(schema));
        return w.read(id);
      });
  CHECK(result.errors.empty());
  for (const auto& e : result.errors) MESSAGE(e);
  CHECK(result.regressions == 0);
  CHECK(result.wrong_finals == 0);

  const std::string table = schema + "_naive";
  {
    raw_pg raw;
    raw.value("CREATE TABLE " + table + "(id integer PRIMARY KEY, updated bigint NOT NULL)");
  }
  const auto clear = [&] { naive_worker(table).raw.value("DELETE FROM " + table); };
  auto naive = sincehash_test::race_until_lost<naive_worker>(
      3, clear, 4, 10'000, 100, [&] { return std::make_unique<naive_worker>(table); },
      [&](int id) { return naive_worker(table).read(id); });
  CHECK(naive.errors.empty());
  MESSAGE("naive read-then-write: " << naive.regressions << " regressions, " << naive.wrong_finals
                                    << " ids not at their newest date");
  CHECK(naive.regressions + naive.wrong_finals > 0);
}
