// redis_store beyond the conformance suite: one round trip per batch read, snapshot and commit,
// the value layout, versions and conditional commits, key layout, leases and fencing, several
// processes at once, lost connections. Against a real redis-server.
#include <sincehash/store/redis.hpp>

#include <doctest/doctest.h>

#include "support/servers.hpp"
#include "support/shared_store_checks.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using sincehash::commit_batch;
using sincehash::redis_options;
using sincehash::redis_store;
using sincehash_test::dated;
using sincehash_test::one_upsert;

namespace {

sincehash_test::redis_server& server() {
  static sincehash_test::redis_server s;
  return s;
}

std::string fresh_prefix() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

redis_options options_for(const std::string& prefix) {
  redis_options o = redis_options::from_uri(server().uri()).value();
  o.key_prefix = prefix;
  return o;
}

// A plain hiredis connection for looking at the server from outside the store.
struct raw_redis {
  redisContext* c = nullptr;
  raw_redis() {
    c = redisConnect("127.0.0.1", server().port());
    REQUIRE(c != nullptr);
    REQUIRE(c->err == 0);
  }
  ~raw_redis() { redisFree(c); }
  redisReply* cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  }
  std::string text(const std::vector<std::string>& args) {
    redisReply* r = cmd(args);
    REQUIRE(r != nullptr);
    std::string s = r->str != nullptr ? std::string(r->str, r->len) : std::string();
    freeReplyObject(r);
    return s;
  }
  long long integer(const std::vector<std::string>& args) {
    redisReply* r = cmd(args);
    REQUIRE(r != nullptr);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
  }
  std::vector<std::string> list(const std::vector<std::string>& args) {
    redisReply* r = cmd(args);
    REQUIRE(r != nullptr);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r->elements; ++i) out.emplace_back(r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return out;
  }
  // How many times the server ran `command` (INFO commandstats).
  long long calls_of(const std::string& command) {
    std::string info = text({"INFO", "commandstats"});
    std::string tag = "cmdstat_" + command + ":calls=";
    auto at = info.find(tag);
    if (at == std::string::npos) return 0;
    return std::stoll(info.substr(at + tag.size()));
  }
};

}  // namespace

TEST_CASE("redis_store: a batch read of 1,000 ids is exactly one round trip and one command") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
  commit_batch b;
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("id-" + std::to_string(i));
  for (int i = 0; i < 1000; i += 3)
    b.upserts.emplace_back(names[i], dated(static_cast<std::uint64_t>(i) + 1, i));
  s.commit("p", b);
  std::vector<std::string_view> ids(names.begin(), names.end());

  raw_redis raw;
  const long long hmget_before = raw.calls_of("hmget");
  const long long evalsha_before = raw.calls_of("evalsha");
  const std::uint64_t before = s.round_trips();
  auto got = s.get_many("p", ids);
  CHECK(s.round_trips() - before == 1);
  CHECK(raw.calls_of("hmget") - hmget_before == 1);
  CHECK(raw.calls_of("evalsha") == evalsha_before);
  for (int i = 0; i < 1000; ++i) CHECK(got[static_cast<std::size_t>(i)].has_value() == (i % 3 == 0));

  // The same, counted on the wire by a relay between the store and the server.
  sincehash_test::tcp_relay relay(server().port());
  redis_options through = options_for(prefix);
  through.port = relay.port();
  redis_store relayed(through);
  const std::uint64_t wire_before = relay.round_trips();
  auto again = relayed.get_many("p", ids);
  CHECK(relay.round_trips() - wire_before == 1);
  CHECK(again == got);

  // And a commit of 1,000 states is one round trip too (after the partition was registered).
  commit_batch next;
  for (int i = 0; i < 1000; ++i) next.upserts.emplace_back(names[i], dated(7, 5000 + i));
  next.offset = sincehash::offset_value::from_integer(3);
  const std::uint64_t before_commit = s.round_trips();
  const std::uint64_t wire_before_commit = relay.round_trips();
  relayed.commit("p", next);
  s.commit("p", next);
  CHECK(s.round_trips() - before_commit == 1);
  CHECK(relay.round_trips() - wire_before_commit == 1);
}

TEST_CASE("redis_store: values of the layouts without sealed bytes or versions read as states without them") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
  const std::string rec = prefix + ":{p}:rec";
  // flags 1 (updated), 8 digest bytes, updated 3, last seen 5, expires 0, fingerprint 1, digest 2:
  // dates are big-endian with the sign bit flipped, the digest little-endian.
  auto date = [](char last) { return std::string("\x80\0\0\0\0\0\0", 7) + last; };
  const std::string old = std::string("\x01\x08", 2) + date('\x03') + date('\x05') + date('\0') +
                          std::string("\0\0\0\x01", 4) + std::string("\x02\0\0\0\0\0\0\0", 8);
  REQUIRE(old.size() == 38);
  raw_redis raw;
  CHECK(raw.integer({"HSET", rec, "old", old}) == 1);
  CHECK(s.get_many("p", {"old"})[0] == dated(2, 3, 5));
  // A value without a version has version 1, which no write by this library ever gets.
  sincehash::store_snapshot snap = s.snapshot("p", {"old"});
  CHECK(snap.states[0] == dated(2, 3, 5));
  CHECK(snap.versions[0] == 1);
  CHECK(snap.sequence == 0);
  commit_batch touch = one_upsert("other", dated(9, 9));
  touch.expect = {{"old", 1}};
  touch.read_sequence = snap.sequence;
  s.commit("p", touch);  // its condition holds
  CHECK(s.snapshot("p", {"other"}).versions[0] == 2);

  // A value written now: the same layout with flag 8, the sealed bytes after the digest (flag 4),
  // then the version.
  sincehash::record_state sealed = dated(2, 3, 5);
  sealed.sealed = std::string("\0\xff\0", 3) + std::string(200, '\x07');
  s.commit("p", one_upsert("new", sealed));
  const std::uint64_t v = s.snapshot("p", {"new"}).versions[0];
  CHECK(v == 3);
  const std::string stored = raw.text({"HGET", rec, "new"});
  CHECK(stored ==
        std::string(1, '\x0d') + old.substr(1) + sealed.sealed + sincehash::detail::redis_version_bytes(v));
  CHECK(s.get_many("p", {"new"})[0] == sealed);
  // Rewriting the old value gives it a new version: a condition on version 1 now fails.
  s.commit("p", one_upsert("old", dated(2, 3, 6)));
  CHECK(s.snapshot("p", {"old"}).versions[0] == 4);
  CHECK(raw.text({"HGET", rec, "old"}).size() == 46);
  commit_batch late = one_upsert("other", dated(10, 10));
  late.expect = {{"old", 1}};
  CHECK(sincehash_test::conflict_of(s, "p", late) == std::vector<std::string>{"old"});

  // Flag 4 without any bytes after the digest, or bytes there without flag 4: malformed.
  CHECK(raw.integer({"HSET", rec, "bad", std::string(1, '\x05') + old.substr(1)}) == 1);
  CHECK_THROWS_WITH_AS((void)s.get_many("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
  CHECK(raw.integer({"HSET", rec, "bad", old + "x"}) == 0);
  CHECK_THROWS_WITH_AS((void)s.get_many("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
  // Flag 8 with a value too short for the version, or with version 0: malformed.
  CHECK(raw.integer({"HSET", rec, "bad", std::string(1, '\x09') + old.substr(1)}) == 0);
  CHECK_THROWS_WITH_AS((void)s.snapshot("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
  CHECK(raw.integer({"HSET", rec, "bad", std::string(1, '\x09') + old.substr(1) + std::string(8, '\0')}) ==
        0);
  CHECK_THROWS_WITH_AS((void)s.snapshot("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
  // Version 1 written with flag 8 (the sequence skips it), or a date's bytes set while its flag
  // says it is absent: nothing the store writes, so malformed rather than misread.
  CHECK(raw.integer({"HSET", rec, "bad",
                     std::string(1, '\x09') + old.substr(1) + sincehash::detail::redis_version_bytes(1)}) ==
        0);
  CHECK_THROWS_WITH_AS((void)s.snapshot("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
  REQUIRE((old[0] & 1) == 1);
  CHECK(raw.integer({"HSET", rec, "bad", std::string(1, static_cast<char>(old[0] & ~1)) + old.substr(1)}) ==
        0);
  CHECK_THROWS_WITH_AS((void)s.get_many("p", {"bad"}), doctest::Contains("malformed state"),
                       sincehash::error);
}

TEST_CASE("redis_store: per-field digests follow the digest behind flag 16, sized, before the sealed bytes") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
  const std::string rec = prefix + ":{p}:rec";
  raw_redis raw;
  sincehash::record_state both = dated(2, 3, 5);
  both.fields = std::string("\x01\x02\x03\x04\xff\xfe\xfd\xfc", 8);
  both.sealed = std::string("\0sealed", 7);
  s.commit("p", one_upsert("both", both));
  const std::uint64_t v = s.snapshot("p", {"both"}).versions[0];
  const std::string stored = raw.text({"HGET", rec, "both"});
  // flags 1 | 4 | 8 | 16, 8 digest bytes; the fixed part keeps its offsets.
  REQUIRE(stored.size() == 38 + 4 + 8 + 7 + 8);
  CHECK(stored[0] == '\x1d');
  CHECK(stored.substr(38, 12) == std::string("\x08\0\0\0", 4) + both.fields);
  CHECK(stored.substr(50, 7) == both.sealed);
  CHECK(stored.substr(57) == sincehash::detail::redis_version_bytes(v));
  CHECK(s.get_many("p", {"both"})[0] == both);
  // The scripts compare dates at fixed offsets: an older copy still does not replace it.
  sincehash::record_state older = dated(7, 2, 9);
  s.commit("p", one_upsert("both", older));
  CHECK(s.get_many("p", {"both"})[0] == both);

  // Flag 16 with an empty list, a length past the end, or without the flag bytes left over: malformed.
  const std::string head = stored.substr(1, 37);
  const std::string version = sincehash::detail::redis_version_bytes(v);
  for (const std::string& bad :
       {std::string(1, '\x19') + head + std::string(4, '\0') + version,
        std::string(1, '\x19') + head + std::string("\x09\0\0\0", 4) + both.fields + version,
        std::string(1, '\x09') + head + std::string("\x08\0\0\0", 4) + both.fields + version,
        std::string(1, '\x39') + head + version}) {
    raw.integer({"HSET", rec, "bad", bad});
    CHECK_THROWS_WITH_AS((void)s.get_many("p", {"bad"}), doctest::Contains("malformed state"),
                         sincehash::error);
  }
  // The same bytes with flag 16 and nothing else after the list read back.
  raw.integer({"HSET", rec, "good",
               std::string(1, '\x19') + head + std::string("\x08\0\0\0", 4) + both.fields + version});
  sincehash::record_state good = dated(2, 3, 5);
  good.fields = both.fields;
  CHECK(s.get_many("p", {"good"})[0] == good);
}

TEST_CASE("redis_store: every key of a partition carries the partition as its hash tag") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
  const std::string p = "instance-42/contacts";
  (void)s.intern_fingerprint(p, "v1");
  sincehash::record_state e = dated(1, 10);
  e.expires = sincehash_test::at_ns(99);
  commit_batch b = one_upsert("a", e);
  b.offset = sincehash::offset_value::from_integer(1);
  s.commit(p, b);
  s.begin_rescan(p);
  commit_batch m;
  m.rescan_seen = {"a"};
  s.commit(p, m);
  REQUIRE(s.acquire_lease(p, "me", std::chrono::seconds(10)).granted);
  raw_redis raw;
  auto keys = raw.list({"KEYS", prefix + ":{" + p + "}:*"});
  CHECK(keys.size() == 7);  // states, expiries, marks, meta, two fingerprint tables, lease
  auto all = raw.list({"KEYS", prefix + ":*"});
  CHECK(all.size() == keys.size() + 1);  // plus the partition list
  // Redis Cluster hashes only what is between the first '{' and the next '}'.
  for (const auto& k : keys) {
    auto open = k.find('{');
    REQUIRE(open != std::string::npos);
    auto close = k.find('}', open + 1);
    REQUIRE(close != std::string::npos);
    CHECK(k.substr(open + 1, close - open - 1) == p);
  }
}

TEST_CASE("redis_store: a snapshot and a conditional commit are one round trip each, on the wire") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
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

  sincehash_test::tcp_relay relay(server().port());
  redis_options through = options_for(prefix);
  through.port = relay.port();
  redis_store relayed(through);  // connecting loads the scripts: before anything is counted
  raw_redis raw;

  // `trips` round trips on the wire and by the store's count, each carrying one script call (a
  // commit) or one transaction (a snapshot: MULTI, two HMGETs, EXEC).
  auto counted = [&](const char* what, auto&& call, std::uint64_t trips = 1) {
    const std::uint64_t wire = relay.round_trips();
    const std::uint64_t own = relayed.round_trips();
    const long long scripts = raw.calls_of("evalsha");
    const long long transactions = raw.calls_of("exec");
    call();
    INFO(std::string(what));
    CHECK(relay.round_trips() - wire == trips);
    CHECK(relayed.round_trips() - own == trips);
    const bool snapshot = std::string(what).find("snapshot") != std::string::npos;
    CHECK(raw.calls_of("evalsha") - scripts == (snapshot ? 0 : static_cast<long long>(trips)));
    CHECK(raw.calls_of("exec") - transactions == (snapshot ? 1 : 0));
  };

  sincehash::store_snapshot snap;
  counted("snapshot", [&] { snap = relayed.snapshot("p", ids); });
  CHECK(snap.states == s.get_many("p", ids));
  CHECK(snap.offset == sincehash::offset_value::from_integer(1));
  CHECK(snap.rescan_active);
  CHECK(snap.sequence > 0);

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
  const sincehash::store_snapshot held = s.snapshot("p", ids);
  CHECK(held.sequence > next.read_sequence.value());
  for (std::size_t i = 0; i < next.upserts.size(); ++i) CHECK(held.versions[i] == held.sequence);
  reread();
  // The sequence moved since the snapshot: the conditions, withheld at first, go on a second trip.
  s.commit("p", one_upsert("id-500", dated(9, 7000)));
  counted(
      "a commit refused by a conflict",
      [&] { CHECK(sincehash_test::conflict_of(relayed, "p", next) == std::vector<std::string>{"id-500"}); },
      2);
  reread();
  s.commit("p", one_upsert("id-999-elsewhere", dated(9, 7000)));
  for (auto& u : next.upserts) u.second = dated(10, 8000);
  counted(
      "a commit whose conditions hold after the sequence moved", [&] { relayed.commit("p", next); }, 2);
  const sincehash::store_snapshot after = s.snapshot("p", ids);
  for (std::size_t i = 0; i < next.upserts.size(); ++i) {
    CHECK(after.states[i] == next.upserts[i].second);
    CHECK(after.versions[i] == after.sequence);
  }
  counted("a snapshot of no ids", [&] { snap = relayed.snapshot("p", {}); });

  // Ids that held no state at the read are written without being read while the sequence holds;
  // once another writer stored one of them, the commit is refused naming it.
  std::vector<std::string> fresh;
  for (int i = 0; i < 50; ++i) fresh.push_back("new-" + std::to_string(i));
  std::vector<std::string_view> fresh_ids(fresh.begin(), fresh.end());
  auto absent_batch = [&](std::uint64_t day) {
    const sincehash::store_snapshot at = s.snapshot("p", fresh_ids);
    commit_batch c;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      REQUIRE(at.versions[i] == 0);
      c.upserts.emplace_back(fresh[i], dated(day, static_cast<int>(i)));
      c.expect.emplace_back(fresh[i], 0);
    }
    c.upserts.back().second.expires = sincehash_test::at_ns(1'000'000'000'000'000'000);
    c.read_sequence = at.sequence;
    return c;
  };
  commit_batch first = absent_batch(11);
  s.commit("p", one_upsert("new-7", dated(11, 1)));
  counted(
      "a commit of ids stored meanwhile",
      [&] { CHECK(sincehash_test::conflict_of(relayed, "p", first) == std::vector<std::string>{"new-7"}); },
      2);
  commit_batch gone;
  gone.erasures.push_back("new-7");
  s.commit("p", gone);
  first = absent_batch(12);
  const long long reads = raw.calls_of("hget");
  counted("a commit of ids that held no state", [&] { relayed.commit("p", first); });
  CHECK(raw.calls_of("hget") - reads == 0);
  const sincehash::store_snapshot stored = s.snapshot("p", fresh_ids);
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    CHECK(stored.states[i] == first.upserts[i].second);
    CHECK(stored.versions[i] == stored.sequence);
  }

  // Three reads the old way take three round trips: the relay tells them apart.
  const std::uint64_t wire = relay.round_trips();
  (void)relayed.offset("p");
  (void)relayed.rescan_active("p");
  (void)relayed.get_many("p", ids);
  CHECK(relay.round_trips() - wire == 3);
}

TEST_CASE("redis_store: every snapshot is read at one point in time") {
  const std::string prefix = fresh_prefix();
  sincehash_test::check_snapshot_consistent(
      [&] { return std::make_unique<redis_store>(options_for(prefix)); });
}

TEST_CASE("redis_store: 4 processes incrementing through conditional commits lose no increment") {
  const std::string prefix = fresh_prefix();
  sincehash_test::check_no_lost_increment([&] { return std::make_unique<redis_store>(options_for(prefix)); });
}

TEST_CASE("redis_store: URIs") {
  auto o = redis_options::from_uri("redis://10.1.2.3:6380/4").value();
  CHECK(o.host == "10.1.2.3");
  CHECK(o.port == 6380);
  CHECK(o.database == 4);
  o = redis_options::from_uri("redis://:secret@localhost").value();
  CHECK(o.host == "localhost");
  CHECK(o.port == 6379);
  CHECK(o.password == "secret");
  CHECK(o.user.empty());
  o = redis_options::from_uri("redis://bob:pw@[::1]:7000/").value();
  CHECK(o.host == "::1");
  CHECK(o.port == 7000);
  CHECK(o.user == "bob");
  CHECK(o.database == 0);
  auto refused = [](std::string_view uri, const std::string& part) {
    const auto r = redis_options::from_uri(uri);
    REQUIRE_MESSAGE(!r.has_value(), "accepted: " << uri);
    CHECK(r.error().code == sincehash::errc::invalid_argument);
    CHECK_MESSAGE(r.error().message.find(part) != std::string::npos, r.error().message);
  };
  refused("redis://host:99999", "the port '99999' is not a number from 1 to 65535");
  refused("redis://host/x", "the database number 'x'");
  refused("http://host", "must start with redis://");
  refused("redis://", "no host");
  CHECK_THROWS_WITH_AS(sincehash::redis_store("redis://host:0"), doctest::Contains("port"), sincehash::error);

  // A database other than 0 is selected: the same keys there are separate.
  redis_store zero(server().uri(0));
  redis_store three(server().uri(3));
  const std::string p = fresh_prefix();
  zero.commit(p, one_upsert("a", dated(1, 1)));
  CHECK(zero.count(p) == 1);
  CHECK(three.count(p) == 0);
}

TEST_CASE("redis_store: nothing listens: a clear error naming the server") {
  redis_options o;
  o.port = sincehash_test::free_port();
  o.connect_timeout = std::chrono::milliseconds(500);
  CHECK_THROWS_WITH_AS(redis_store{o}, doctest::Contains(("127.0.0.1:" + std::to_string(o.port)).c_str()),
                       sincehash::error);
}

TEST_CASE("redis_store: a lost connection is an error, then the next call reconnects; never a half commit") {
  const std::string prefix = fresh_prefix();
  redis_store s(options_for(prefix));
  commit_batch base = one_upsert("a", dated(1, 1));
  base.offset = sincehash::offset_value::from_integer(1);
  s.commit("p", base);
  raw_redis raw;

  auto kill_store_connection = [&] {
    // Every client but this one: the store's connection is dropped by the server.
    const long long me = raw.integer({"CLIENT", "ID"});
    const std::string list = raw.text({"CLIENT", "LIST"});
    int killed = 0;
    for (std::size_t at = list.find("id="); at != std::string::npos; at = list.find("\nid=", at + 1)) {
      long long other = std::stoll(list.substr(list.find("id=", at) + 3));
      if (other != me)
        killed += static_cast<int>(raw.integer({"CLIENT", "KILL", "ID", std::to_string(other)}));
    }
    REQUIRE(killed >= 1);
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
  // Whole or nothing: here the server never saw the script.
  CHECK(s.count("p") == 1);
  CHECK(s.offset("p") == sincehash::offset_value::from_integer(1));
  s.commit("p", next);  // the connection is back
  CHECK(s.count("p") == 3);

  kill_store_connection();
  CHECK_THROWS_AS((void)s.get_many("p", {"a"}), sincehash::error);
  CHECK(s.get_many("p", {"a"})[0] == dated(1, 1));
}

TEST_CASE("redis_store: scripts forgotten by the server are sent again") {
  redis_store s(options_for(fresh_prefix()));
  s.commit("p", one_upsert("a", dated(1, 1)));
  raw_redis raw;
  raw.text({"SCRIPT", "FLUSH"});
  s.commit("p", one_upsert("b", dated(2, 2)));
  CHECK(s.count("p") == 2);
  raw.text({"SCRIPT", "FLUSH"});
  CHECK(s.purge_expired(sincehash_test::at_ns(5)) == 0);
  CHECK(s.rescan_unseen("p").empty());
}

TEST_CASE("redis_store: leases grant one holder at a time, with growing fencing tokens") {
  const std::string prefix = fresh_prefix();
  sincehash_test::check_leases([&] { return std::make_unique<redis_store>(options_for(prefix)); });
}

TEST_CASE("redis_store: a newer state is never replaced by an older one") {
  const std::string prefix = fresh_prefix();
  sincehash_test::check_newest_wins([&] { return std::make_unique<redis_store>(options_for(prefix)); });
}

TEST_CASE("redis_store: a holder paused past its lease cannot commit when it resumes") {
  const std::string prefix = fresh_prefix();
  sincehash_test::check_paused_holder([&] { return std::make_unique<redis_store>(options_for(prefix)); });
}

namespace {

using store_worker = sincehash_test::store_worker<redis_store>;

// The bug the store avoids: read the stored date, and SET the new one when it is newer.
struct naive_worker {
  raw_redis raw;
  std::string prefix;
  explicit naive_worker(std::string p) : prefix(std::move(p)) {}
  std::string key(int id) const { return prefix + ":naive:" + std::to_string(id); }
  void write(int id, std::int64_t date) {
    std::string old = raw.text({"GET", key(id)});
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (old.empty() || std::stoll(old) < date) raw.text({"SET", key(id), std::to_string(date)});
    // A connector does some work before it looks again: the read-back comes a little later.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  std::int64_t read(int id) {
    std::string v = raw.text({"GET", key(id)});
    return v.empty() ? 0 : std::stoll(v);
  }
};

}  // namespace

TEST_CASE("redis_store: 4 processes x 10,000 commits over 100 ids: newest dates, no regression") {
  const std::string prefix = fresh_prefix();
  auto result = sincehash_test::race<store_worker>(
      4, 10'000, 100, [&] { return std::make_unique<store_worker>(options_for(prefix)); },
      [&](int id) {
        store_worker w(options_for(prefix));
        return w.read(id);
      });
  CHECK(result.errors.empty());
  for (const auto& e : result.errors) MESSAGE(e);
  CHECK(result.regressions == 0);
  CHECK(result.wrong_finals == 0);

  // The same race through a naive GET-then-SET loses updates: the test can see the bug.
  const auto clear = [&] {
    naive_worker w(prefix);
    for (int id = 0; id < 100; ++id) w.raw.text({"DEL", w.key(id)});
  };
  auto naive = sincehash_test::race_until_lost<naive_worker>(
      3, clear, 4, 10'000, 100, [&] { return std::make_unique<naive_worker>(prefix); },
      [&](int id) { return naive_worker(prefix).read(id); });
  CHECK(naive.errors.empty());
  MESSAGE("naive GET/SET: " << naive.regressions << " regressions, " << naive.wrong_finals
                            << " ids not at their newest date");
  CHECK(naive.regressions + naive.wrong_finals > 0);
}
