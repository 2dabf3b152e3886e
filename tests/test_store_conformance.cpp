// One conformance suite for every state store back end. A back end joins by adding a fixture
// type (see memory_fixture / sqlite_fixture) to `SINCEHASH_STORE_FIXTURES`, and once it offers
// snapshots, conditional commits and leases, to `SINCEHASH_VERSIONED_FIXTURES` too (its fixture
// then also has `another()`: a second store object on the same data, as another worker opens).
// Every back end is judged both plain and under the encrypting decorator.
#include <sincehash/detector.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sincehash/store/sqlite.hpp>
#endif
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/store/encrypted.hpp>
#endif
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif
#if defined(SINCEHASH_HAS_REDIS) || defined(SINCEHASH_HAS_POSTGRES)
#include "support/servers.hpp"
#endif

#include <doctest/doctest.h>

#include "support/shared_store_checks.hpp"  // after doctest

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;
using sincehash::commit_batch;
using sincehash::digest;
using sincehash::errc;
using sincehash::instant;
using sincehash::offset_kind;
using sincehash::offset_value;
using sincehash::record_state;

static_assert(sincehash::is_state_store_v<sincehash::memory_store>, "memory_store implements the contract");
static_assert(!sincehash::is_state_store_v<int>, "an int is not a store");
static_assert(!sincehash::is_state_store_v<std::map<std::string, record_state>>, "a map is not a store");

namespace {

// Each fixture owns one fresh, empty store per test case. `fault` is consulted before every row
// write of a commit. `reopen()` (durable back ends only) drops the object and opens the same data.
struct memory_fixture {
  static constexpr bool durable = false;
  static constexpr bool newest_wins = false;  // a commit writes an older dated state too
  sincehash::fault_hook fault;
  std::unique_ptr<sincehash::memory_store> store;
  memory_fixture() {
    sincehash::memory_store_options o;
    o.fault_injector = [this](std::size_t i) {
      if (fault) fault(i);
    };
    store = std::make_unique<sincehash::memory_store>(std::move(o));
  }
  sincehash::memory_store& operator*() { return *store; }
  std::unique_ptr<sincehash::memory_store> another() {
    return std::make_unique<sincehash::memory_store>(*store, sincehash::memory_store_shared);
  }
};

#ifdef SINCEHASH_HAS_SQLITE
std::filesystem::path fresh_path(const char* tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
  std::filesystem::create_directories(dir);
  auto p =
      dir / (std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  return p;
}

struct sqlite_fixture {
  static constexpr bool durable = true;
  static constexpr bool newest_wins = false;
  sincehash::fault_hook fault;
  std::filesystem::path path = fresh_path("conformance");
  std::unique_ptr<sincehash::sqlite_store> store;
  sqlite_fixture() { reopen(); }
  ~sqlite_fixture() {
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  }
  void reopen() {
    store.reset();
    sincehash::sqlite_options o;
    o.synchronous = sincehash::sqlite_sync::normal;
    o.fault_injector = [this](std::size_t i) {
      if (fault) fault(i);
    };
    store = std::make_unique<sincehash::sqlite_store>(path.string(), std::move(o));
  }
  sincehash::sqlite_store& operator*() { return *store; }
  std::unique_ptr<sincehash::sqlite_store> another() {
    sincehash::sqlite_options o;
    o.synchronous = sincehash::sqlite_sync::normal;
    return std::make_unique<sincehash::sqlite_store>(path.string(), std::move(o));
  }
};
#define SINCEHASH_STORE_FIXTURES_SQLITE , sqlite_fixture
#else
#define SINCEHASH_STORE_FIXTURES_SQLITE
#endif

#ifdef SINCEHASH_HAS_REDIS
// One server for the whole run; each fixture uses its own key prefix, so it starts empty.
sincehash_test::redis_server& shared_redis() {
  static sincehash_test::redis_server server;
  return server;
}

struct redis_fixture {
  static constexpr bool durable = true;
  static constexpr bool newest_wins = true;  // an older dated state is kept out
  sincehash::fault_hook fault;
  std::string prefix;
  std::unique_ptr<sincehash::redis_store> store;
  redis_fixture() {
    static std::atomic<int> counter{0};
    prefix = "conformance-" + std::to_string(counter++);
    reopen();
  }
  void reopen() {
    store.reset();
    sincehash::redis_options o = sincehash::redis_options::from_uri(shared_redis().uri()).value();
    o.key_prefix = prefix;
    o.fault_injector = [this](std::size_t i) {
      if (fault) fault(i);
    };
    store = std::make_unique<sincehash::redis_store>(std::move(o));
  }
  sincehash::redis_store& operator*() { return *store; }
  std::unique_ptr<sincehash::redis_store> another() {
    sincehash::redis_options o = store->options();  // the same server and key prefix
    o.fault_injector = nullptr;
    return std::make_unique<sincehash::redis_store>(std::move(o));
  }
};
#define SINCEHASH_STORE_FIXTURES_REDIS , redis_fixture
#else
#define SINCEHASH_STORE_FIXTURES_REDIS
#endif

#ifdef SINCEHASH_HAS_POSTGRES
sincehash_test::postgres_server& shared_postgres() {
  static sincehash_test::postgres_server server;
  return server;
}

// Each fixture gets its own schema, so it starts empty (and runs the migrations).
struct postgres_fixture {
  static constexpr bool durable = true;
  static constexpr bool newest_wins = true;
  sincehash::fault_hook fault;
  std::string schema;
  std::unique_ptr<sincehash::postgres_store> store;
  postgres_fixture() {
    static std::atomic<int> counter{0};
    schema = "conformance_" + std::to_string(counter++);
    reopen();
  }
  void reopen() {
    store.reset();
    sincehash::postgres_options o;
    o.conninfo = shared_postgres().uri();
    o.schema = schema;
    o.fault_injector = [this](std::size_t i) {
      if (fault) fault(i);
    };
    store = std::make_unique<sincehash::postgres_store>(std::move(o));
  }
  sincehash::postgres_store& operator*() { return *store; }
  std::unique_ptr<sincehash::postgres_store> another() {
    sincehash::postgres_options o;
    o.conninfo = shared_postgres().uri();
    o.schema = schema;
    return std::make_unique<sincehash::postgres_store>(std::move(o));
  }
};
#define SINCEHASH_STORE_FIXTURES_POSTGRES , postgres_fixture
#else
#define SINCEHASH_STORE_FIXTURES_POSTGRES
#endif

#ifdef SINCEHASH_HAS_SODIUM
// The encrypting decorator over another fixture's store, with a ring of two keys (the newer
// one writes).
template <class InnerFixture>
struct encrypted_fixture {
  static constexpr bool durable = InnerFixture::durable;
  static constexpr bool newest_wins = false;  // the inner store never sees the sealed dates
  using inner_type = std::remove_reference_t<decltype(*std::declval<InnerFixture&>())>;
  using store_type = sincehash::encrypted_store<inner_type>;
  // An encrypting store over an inner store object of its own (what `another()` opens).
  struct owning_store : private std::unique_ptr<inner_type>, public store_type {
    explicit owning_store(std::unique_ptr<inner_type> inner)
        : std::unique_ptr<inner_type>(std::move(inner)), store_type(**this, keys()) {}
  };
  sincehash::fault_hook fault;
  InnerFixture inner;
  std::unique_ptr<store_type> store;
  static sincehash::key_ring keys() {
    return sincehash::key_ring({sincehash::secret_key(1, std::string(32, '\x11')),
                                sincehash::secret_key(7, std::string(32, '\x77'))});
  }
  encrypted_fixture() {
    inner.fault = [this](std::size_t i) {
      if (fault) fault(i);
    };
    store = std::make_unique<store_type>(*inner, keys());
  }
  void reopen() {
    store.reset();
    inner.reopen();
    store = std::make_unique<store_type>(*inner, keys());
  }
  store_type& operator*() { return *store; }
  template <class I = InnerFixture>
  auto another() -> decltype(std::declval<I&>().another(), std::unique_ptr<owning_store>()) {
    return std::make_unique<owning_store>(inner.another());
  }
};
using encrypted_memory_fixture = encrypted_fixture<memory_fixture>;
#define SINCEHASH_ENCRYPTED_MEMORY_FIXTURE , encrypted_memory_fixture
#ifdef SINCEHASH_HAS_SQLITE
using encrypted_sqlite_fixture = encrypted_fixture<sqlite_fixture>;
#define SINCEHASH_ENCRYPTED_SQLITE_FIXTURE , encrypted_sqlite_fixture
#endif
#ifdef SINCEHASH_HAS_REDIS
using encrypted_redis_fixture = encrypted_fixture<redis_fixture>;
#define SINCEHASH_ENCRYPTED_REDIS_FIXTURE , encrypted_redis_fixture
#endif
#ifdef SINCEHASH_HAS_POSTGRES
using encrypted_postgres_fixture = encrypted_fixture<postgres_fixture>;
#define SINCEHASH_ENCRYPTED_POSTGRES_FIXTURE , encrypted_postgres_fixture
#endif
#endif
#ifndef SINCEHASH_ENCRYPTED_MEMORY_FIXTURE
#define SINCEHASH_ENCRYPTED_MEMORY_FIXTURE
#endif
#ifndef SINCEHASH_ENCRYPTED_SQLITE_FIXTURE
#define SINCEHASH_ENCRYPTED_SQLITE_FIXTURE
#endif
#ifndef SINCEHASH_ENCRYPTED_REDIS_FIXTURE
#define SINCEHASH_ENCRYPTED_REDIS_FIXTURE
#endif
#ifndef SINCEHASH_ENCRYPTED_POSTGRES_FIXTURE
#define SINCEHASH_ENCRYPTED_POSTGRES_FIXTURE
#endif

#define SINCEHASH_STORE_FIXTURES                                                \
  memory_fixture SINCEHASH_STORE_FIXTURES_SQLITE SINCEHASH_STORE_FIXTURES_REDIS \
      SINCEHASH_STORE_FIXTURES_POSTGRES SINCEHASH_ENCRYPTED_MEMORY_FIXTURE      \
          SINCEHASH_ENCRYPTED_SQLITE_FIXTURE SINCEHASH_ENCRYPTED_REDIS_FIXTURE  \
              SINCEHASH_ENCRYPTED_POSTGRES_FIXTURE

// The back ends offering snapshots with versions, conditional commits and leases (store.hpp).
#define SINCEHASH_VERSIONED_FIXTURES SINCEHASH_STORE_FIXTURES

instant at(std::int64_t ns) { return instant(std::chrono::nanoseconds(ns)); }

record_state state(std::uint64_t h, std::int64_t seen, std::optional<std::int64_t> updated = std::nullopt,
                   std::optional<std::int64_t> expires = std::nullopt, std::uint32_t fp = 1) {
  record_state s;
  s.hash = digest{h, 0, 64};
  s.fingerprint = fp;
  s.last_seen = at(seen);
  if (updated) s.updated = at(*updated);
  if (expires) s.expires = at(*expires);
  return s;
}

template <class S>
std::map<std::string, record_state> dump(S& s, std::string_view partition) {
  std::map<std::string, record_state> out;
  s.for_each(partition, [&](std::string_view id, const record_state& st) {
    bool inserted = out.emplace(std::string(id), st).second;
    CHECK(inserted);
  });
  return out;
}

template <class S>
std::optional<record_state> get_one(S& s, std::string_view partition, std::string_view id) {
  return s.get_many(partition, std::vector<std::string_view>{id}).at(0);
}

// `n` opaque bytes starting with NUL and 0xFF, then running through every byte value.
std::string sealed_bytes(std::size_t n, unsigned seed) {
  std::string out("\0\xff", 2);
  for (std::size_t i = 0; out.size() < n; ++i) out.push_back(static_cast<char>((seed + i * 37) & 0xFF));
  out.resize(n);
  return out;
}

record_state with_sealed(record_state s, std::string sealed) {
  s.sealed = std::move(sealed);
  return s;
}

// Commits `batch` to partition "p" of the fixture's store and runs `check` on the store, then
// again after reopening it (a durable back end).
template <class F, class Check>
void commit_and_check(F& f, const commit_batch& batch, Check&& check) {
  (*f).commit("p", batch);
  check(*f);
  if constexpr (F::durable) f.reopen();
  check(*f);
}

commit_batch upserting(std::vector<std::pair<std::string, record_state>> rows) {
  commit_batch b;
  b.upserts = std::move(rows);
  return b;
}

// Everything a reader can observe about a partition.
struct observation {
  std::map<std::string, record_state> records;
  std::optional<offset_value> offset;
  bool rescan = false;
  std::vector<std::string> unseen;
  std::size_t count = 0;
  bool operator==(const observation& o) const {
    return records == o.records && offset == o.offset && rescan == o.rescan && unseen == o.unseen &&
           count == o.count;
  }
};

template <class S>
observation observe(S& s, std::string_view p) {
  return {dump(s, p), s.offset(p), s.rescan_active(p), s.rescan_unseen(p), s.count(p)};
}

}  // namespace

TEST_CASE_TEMPLATE("store: get_many answers position by position, duplicates and unknown ids included", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  std::vector<std::string_view> none{"a", "b"};
  auto empty = s.get_many("p", none);
  REQUIRE(empty.size() == 2);
  CHECK_FALSE(empty[0]);
  CHECK_FALSE(empty[1]);
  CHECK(s.get_many("p", {}).empty());

  s.commit("p",
           upserting({{"a", state(1, 10, 5)}, {"b", state(2, 20)}, {"c", state(3, 30, std::nullopt, 99)}}));
  std::vector<std::string_view> ids{"c", "a", "zz", "a", "c", "b", "a"};
  auto got = s.get_many("p", ids);
  REQUIRE(got.size() == ids.size());
  CHECK(got[0] == state(3, 30, std::nullopt, 99));
  CHECK(got[1] == state(1, 10, 5));
  CHECK_FALSE(got[2]);
  CHECK(got[3] == state(1, 10, 5));
  CHECK(got[4] == got[0]);
  CHECK(got[5] == state(2, 20));
  CHECK(got[6] == got[1]);

  // More ids than one internal chunk, every other one absent.
  commit_batch many;
  std::vector<std::string> names;
  for (int i = 0; i < 500; ++i) names.push_back("id-" + std::to_string(i));
  for (int i = 0; i < 500; i += 2)
    many.upserts.emplace_back(names[i], state(static_cast<std::uint64_t>(i) + 1, i));
  s.commit("q", many);
  std::vector<std::string_view> views(names.rbegin(), names.rend());
  auto res = s.get_many("q", views);
  for (std::size_t k = 0; k < views.size(); ++k) {
    int i = 499 - static_cast<int>(k);
    if (i % 2 == 0) {
      REQUIRE(res[k]);
      CHECK(res[k]->hash.low == static_cast<std::uint64_t>(i) + 1);
    } else {
      CHECK_FALSE(res[k]);
    }
  }
}

TEST_CASE_TEMPLATE("store: states keep every field exactly, ids are arbitrary bytes", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  record_state wide;
  wide.hash = digest{0x0123456789abcdefULL, 0xfedcba9876543210ULL, 128};
  wide.fingerprint = 7;
  wide.updated = at(-1'000'000'000'123);
  wide.last_seen = at(std::numeric_limits<std::int64_t>::max());
  wide.expires = at(std::numeric_limits<std::int64_t>::min());
  wide.sealed = sealed_bytes(300, 11);
  record_state bare;  // empty digest, no dates, no sealed bytes
  const std::string odd("a\0b\xff", 4);
  const std::string big(70'000, 'x');  // longer than one id chunk of the memory store
  s.commit("p", upserting({{odd, wide}, {"", bare}, {big, state(9, 9)}, {"\x80", state(8, 8)}}));
  CHECK(get_one(s, "p", odd) == wide);
  CHECK(get_one(s, "p", "") == bare);
  CHECK(get_one(s, "p", big) == state(9, 9));
  CHECK(get_one(s, "p", std::string("a\0b", 3)) == std::nullopt);
  auto all = dump(s, "p");
  CHECK(all.size() == 4);
  CHECK(all.count(odd) == 1);
  CHECK(all.count(big) == 1);
}

TEST_CASE_TEMPLATE("store: sealed bytes are kept byte for byte, then replaced or cleared by later upserts", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  const std::string long_one = sealed_bytes(400, 3);
  const std::string nuls(40, '\0');
  const std::string ffs(33, '\xff');
  std::map<std::string, record_state> expect = {
      {"long", with_sealed(state(1, 10, 5, 500), long_one)},
      {"nuls", with_sealed(state(2, 20), nuls)},
      {"ffs", with_sealed(state(3, 30, std::nullopt, 700), ffs)},
      {"one", with_sealed(state(4, 40), std::string(1, '\0'))},
      {"plain", state(5, 50)},
  };
  auto check_all = [&](auto& s) {
    CHECK(dump(s, "p") == expect);
    std::vector<std::string_view> ids;
    for (const auto& kv : expect) ids.push_back(kv.first);
    auto got = s.get_many("p", ids);
    REQUIRE(got.size() == ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      CAPTURE(ids[i]);
      REQUIRE(got[i]);
      const std::string& want = expect.at(std::string(ids[i])).sealed;
      CHECK(got[i]->sealed.size() == want.size());
      CHECK(got[i]->sealed == want);
      CHECK(*got[i] == expect.at(std::string(ids[i])));
    }
  };
  commit_batch first;
  first.upserts.assign(expect.begin(), expect.end());
  commit_and_check(f, first, check_all);

  // Later upserts replace the bytes (longer, shorter), clear them, or give a plain state some.
  commit_batch second = upserting({{"long", with_sealed(state(11, 110, 6, 600), nuls)},
                                   {"nuls", with_sealed(state(12, 120), long_one + long_one)},
                                   {"ffs", state(13, 130)},
                                   {"plain", with_sealed(state(15, 150), ffs)}});
  for (const auto& u : second.upserts) expect[u.first] = u.second;
  commit_and_check(f, second, check_all);
  CHECK(expect.at("ffs").sealed.empty());
  CHECK(expect.at("one").sealed == std::string(1, '\0'));  // untouched by the second commit
}

TEST_CASE_TEMPLATE(
    "store: per-field digests are kept byte for byte, beside sealed bytes, then replaced or cleared", F,
    SINCEHASH_STORE_FIXTURES) {
  F f;
  const auto with_fields = [](record_state s, std::string fields) {
    s.fields = std::move(fields);
    return s;
  };
  std::map<std::string, record_state> expect = {
      {"three",
       with_fields(state(1, 10, 5, 500), std::string("\x01\x02\x03\x04\0\0\0\0\xff\xfe\xfd\xfc", 12))},
      {"both", with_fields(with_sealed(state(2, 20), sealed_bytes(50, 5)), std::string(4, '\0'))},
      {"wide", with_fields(state(3, 30), sealed_bytes(256, 9))},
      {"plain", state(4, 40)},
  };
  auto check_all = [&](auto& s) {
    CHECK(dump(s, "p") == expect);
    std::vector<std::string_view> ids;
    for (const auto& kv : expect) ids.push_back(kv.first);
    const sincehash::store_snapshot snap = s.snapshot("p", ids);
    REQUIRE(snap.states.size() == ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      CAPTURE(ids[i]);
      REQUIRE(snap.states[i]);
      CHECK(snap.states[i]->fields == expect.at(std::string(ids[i])).fields);
      CHECK(*snap.states[i] == expect.at(std::string(ids[i])));
    }
  };
  commit_batch first;
  first.upserts.assign(expect.begin(), expect.end());
  commit_and_check(f, first, check_all);
  commit_batch second = upserting({{"three", with_fields(state(11, 110, 6), std::string(8, '\x7f'))},
                                   {"both", with_sealed(state(12, 120), sealed_bytes(20, 1))},
                                   {"plain", with_fields(state(14, 140), std::string("abcd"))}});
  for (const auto& u : second.upserts) expect[u.first] = u.second;
  commit_and_check(f, second, check_all);
  CHECK(expect.at("both").fields.empty());
  CHECK(expect.at("wide").fields.size() == 256);  // untouched by the second commit
}

TEST_CASE_TEMPLATE("store: a malformed batch is refused whole", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  s.commit("p", upserting({{"a", state(1, 1)}}));
  auto before = observe(s, "p");

  commit_batch both = upserting({{"b", state(2, 2)}, {"x", state(3, 3)}});
  both.erasures = {"x"};
  both.offset = offset_value::from_integer(5);
  CHECK_THROWS_WITH_AS(s.commit("p", both), doctest::Contains("both upserted and erased"), sincehash::error);

  commit_batch bad_digest = upserting({{"b", record_state{}}});
  bad_digest.upserts[0].second.hash = digest{1, 2, 64};
  CHECK_THROWS_AS(s.commit("p", bad_digest), sincehash::error);
  CHECK(observe(s, "p") == before);

  // Repeated upserts of one id: the last one wins.
  s.commit("p", upserting({{"d", state(1, 1)}, {"e", state(5, 5)}, {"d", state(2, 2)}}));
  CHECK(get_one(s, "p", "d") == state(2, 2));
}

TEST_CASE_TEMPLATE("store: a failure injected before any row write of a commit leaves nothing visible", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  commit_batch base =
      upserting({{"a", state(1, 1)}, {"b", state(2, 2)}, {"c", state(3, 3)}, {"d", state(4, 4)}});
  base.offset = offset_value::from_integer(5);
  s.commit("p", base);
  s.commit("other", upserting({{"a", state(100, 100)}}));
  s.begin_rescan("p");
  commit_batch marks;
  marks.rescan_seen = {"a"};
  s.commit("p", marks);
  const observation before = observe(s, "p");
  REQUIRE(before.unseen == std::vector<std::string>{"b", "c", "d"});

  commit_batch next = upserting({{"e", state(50, 50)}, {"b", state(20, 20)}, {"z", state(60, 60)}});
  next.erasures = {"c", "absent"};
  next.rescan_seen = {"d"};
  next.offset = offset_value::from_integer(9);

  std::size_t k = 0;
  for (;; ++k) {
    REQUIRE(k < 100);
    bool fired = false;
    f.fault = [&](std::size_t i) {
      if (i == k) {
        fired = true;
        throw sincehash::error(errc::store_error, "injected");
      }
    };
    try {
      s.commit("p", next);
    } catch (const sincehash::error& e) {
      CAPTURE(k);
      REQUIRE(fired);
      CHECK(e.message() == "injected");
      CHECK(observe(s, "p") == before);
      continue;
    }
    CHECK_FALSE(fired);
    break;
  }
  CHECK(k >= 4);  // at least the four distinct ids of `next` were written one by one
  f.fault = nullptr;
  const observation after = observe(s, "p");
  CHECK(after.offset == offset_value::from_integer(9));
  CHECK(after.records.size() == 5);
  CHECK(after.records.at("b") == state(20, 20));
  CHECK(after.records.count("c") == 0);
  CHECK(after.unseen.empty());  // a was marked, b/e/z upserted during the rescan, d marked
  CHECK(dump(s, "other").at("a") == state(100, 100));
}

TEST_CASE_TEMPLATE("store: partitions never see each other's data", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  commit_batch one = upserting({{"x", state(1, 1)}});
  one.offset = offset_value::from_integer(1);
  commit_batch two = upserting({{"x", state(2, 2)}, {"y", state(3, 3)}});
  two.offset = offset_value::from_string("cursor");
  s.commit("tenant-1/contacts", one);
  s.commit("tenant-1/deals", two);
  CHECK(get_one(s, "tenant-1/contacts", "x") == state(1, 1));
  CHECK(get_one(s, "tenant-1/deals", "x") == state(2, 2));
  CHECK_FALSE(get_one(s, "tenant-1/contacts", "y"));
  CHECK(s.count("tenant-1/contacts") == 1);
  CHECK(s.count("tenant-1/deals") == 2);
  CHECK(s.count("tenant-1") == 0);
  CHECK(s.offset("tenant-1/contacts") == offset_value::from_integer(1));
  CHECK(s.offset("tenant-1/deals") == offset_value::from_string("cursor"));
  CHECK(s.partitions() == std::vector<std::string>{"tenant-1/contacts", "tenant-1/deals"});

  s.begin_rescan("tenant-1/deals");
  CHECK_FALSE(s.rescan_active("tenant-1/contacts"));
  CHECK(s.rescan_unseen("tenant-1/contacts").empty());
  CHECK(s.rescan_unseen("tenant-1/deals") == std::vector<std::string>{"x", "y"});

  s.reset_offset("tenant-1/contacts", true);
  CHECK(s.count("tenant-1/contacts") == 0);
  CHECK(s.count("tenant-1/deals") == 2);
  CHECK(s.offset("tenant-1/deals") == offset_value::from_string("cursor"));
  CHECK(s.rescan_active("tenant-1/deals"));
}

TEST_CASE_TEMPLATE("store: purge_expired erases states whose expiry is not after now", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  s.commit("p", upserting({{"soon", state(1, 0, std::nullopt, 100)},
                           {"later", state(2, 0, std::nullopt, 200)},
                           {"never", state(3, 0)}}));
  s.commit("q", upserting({{"soon", state(4, 0, std::nullopt, 100)}}));
  CHECK(sincehash::expired(*get_one(s, "p", "soon"), at(100)));
  CHECK_FALSE(sincehash::expired(*get_one(s, "p", "soon"), at(99)));
  CHECK_FALSE(sincehash::expired(*get_one(s, "p", "never"), at(std::numeric_limits<std::int64_t>::max())));

  CHECK(s.purge_expired(at(99)) == 0);
  CHECK(s.purge_expired("p", at(100)) == 1);
  CHECK_FALSE(get_one(s, "p", "soon"));
  CHECK(get_one(s, "q", "soon"));  // the other partition was not purged
  CHECK(s.purge_expired(at(1000)) == 2);
  CHECK(dump(s, "p").size() == 1);
  CHECK(get_one(s, "p", "never"));
  CHECK(s.count("q") == 0);
}

TEST_CASE("refresh_due: at most one TTL refresh per quarter of the TTL") {
  const auto ttl = std::chrono::nanoseconds(100s);
  const instant now = at(1'000'000'000'000);
  record_state s;
  CHECK(sincehash::refresh_due(s, now, ttl));  // no expiry yet
  s.expires = now + ttl;                       // just written
  CHECK_FALSE(sincehash::refresh_due(s, now, ttl));
  s.expires = now + 76s;  // 24 s since the write
  CHECK_FALSE(sincehash::refresh_due(s, now, ttl));
  s.expires = now + 75s;  // a quarter passed
  CHECK(sincehash::refresh_due(s, now, ttl));
  s.expires = now - 1s;  // already expired
  CHECK(sincehash::refresh_due(s, now, ttl));
  CHECK(sincehash::refresh_due(s, now, std::chrono::nanoseconds::zero()));  // TTL removed: clear the expiry
  s.expires.reset();
  CHECK_FALSE(sincehash::refresh_due(s, now, std::chrono::nanoseconds::zero()));
}

TEST_CASE_TEMPLATE("store: the offset never moves backwards, for every kind", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  auto commit_offset = [&](const char* p, offset_value v, const char* id) {
    commit_batch b = upserting({{id, state(1, 1)}});
    b.offset = std::move(v);
    s.commit(p, b);
  };
  CHECK_FALSE(s.offset("i"));

  SUBCASE("instant: by nanoseconds, not by text") {
    commit_offset("i", offset_value::from_instant(at(2000), "1970-01-01T00:00:00.000002Z"), "a");
    commit_offset("i", offset_value::from_instant(at(1000), "9999 (text sorts later)"), "b");
    CHECK(s.offset("i")->number == 2000);
    CHECK(get_one(s, "i", "b"));  // the rest of the batch was still applied
    commit_offset("i", offset_value::from_instant(at(2000), "same instant, other text"), "c");
    CHECK(s.offset("i")->text == "1970-01-01T00:00:00.000002Z");
    commit_offset("i", offset_value::from_instant(at(-5), "before 1970"), "d");
    CHECK(s.offset("i")->number == 2000);
    commit_offset("i", offset_value::from_instant(at(3000), "later"), "e");
    CHECK(s.offset("i") == offset_value::from_instant(at(3000), "later"));
  }
  SUBCASE("integer: numerically") {
    commit_offset("i", offset_value::from_integer(9), "a");
    commit_offset("i", offset_value::from_integer(10), "b");  // "10" < "9" as text
    CHECK(s.offset("i") == offset_value::from_integer(10));
    commit_offset("i", offset_value::from_integer(-11), "c");
    CHECK(s.offset("i") == offset_value::from_integer(10));
  }
  SUBCASE("string: byte-wise, bytes unsigned") {
    commit_offset("i", offset_value::from_string("b"), "a");
    commit_offset("i", offset_value::from_string("a"), "b");
    CHECK(s.offset("i")->text == "b");
    commit_offset("i", offset_value::from_string("ba"), "c");
    CHECK(s.offset("i")->text == "ba");
    commit_offset("i", offset_value::from_string("\xc3\xa9"), "d");  // 0xC3 > 'b'
    CHECK(s.offset("i")->text == "\xc3\xa9");
    commit_offset("i", offset_value::from_string("z"), "e");
    CHECK(s.offset("i")->text == "\xc3\xa9");
  }
  SUBCASE("another kind is refused and nothing of the batch applied") {
    commit_offset("i", offset_value::from_integer(5), "a");
    commit_batch b = upserting({{"x", state(1, 1)}});
    b.offset = offset_value::from_string("6");
    CHECK_THROWS_WITH_AS(s.commit("i", b), doctest::Contains("kind"), sincehash::error);
    CHECK_FALSE(get_one(s, "i", "x"));
    s.reset_offset("i", false);
    s.commit("i", b);  // after a reset any kind starts afresh
    CHECK(s.offset("i") == offset_value::from_string("6"));
  }
}

TEST_CASE_TEMPLATE("store: 8 threads committing concurrently lose no update", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  constexpr int threads = 8;
  constexpr int batches = 25;
  constexpr int per_batch = 20;
  std::atomic<std::int64_t> ticket{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int b = 0; b < batches; ++b) {
          commit_batch shared;
          commit_batch own;
          for (int i = 0; i < per_batch; ++i) {
            std::string id = std::to_string(t) + "/" + std::to_string(b) + "/" + std::to_string(i);
            shared.upserts.emplace_back(id, state(static_cast<std::uint64_t>(t + 1), b));
            own.upserts.emplace_back(id, state(static_cast<std::uint64_t>(i + 1), b));
          }
          shared.offset = offset_value::from_integer(++ticket);
          own.offset = offset_value::from_integer(b);
          // Also update one hot id everybody writes: the last commit wins, whole.
          shared.upserts.emplace_back("hot", state(static_cast<std::uint64_t>(t + 1), b));
          s.commit("shared", shared);
          s.commit("own-" + std::to_string(t), own);
          auto back = s.get_many("shared", {shared.upserts.front().first});
          if (!back[0] || back[0]->hash.low != static_cast<std::uint64_t>(t + 1)) ++failures;
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures == 0);
  CHECK(s.count("shared") == threads * batches * per_batch + 1);
  CHECK(s.offset("shared") == offset_value::from_integer(threads * batches));
  for (int t = 0; t < threads; ++t) {
    std::string p = "own-" + std::to_string(t);
    CHECK(s.count(p) == batches * per_batch);
    CHECK(s.offset(p) == offset_value::from_integer(batches - 1));
  }
  auto all = dump(s, "shared");
  for (const auto& kv : all) {
    if (kv.first == "hot") continue;
    CHECK(kv.second.hash.low ==
          static_cast<std::uint64_t>(std::stoi(kv.first.substr(0, kv.first.find('/'))) + 1));
  }
}

TEST_CASE_TEMPLATE("store: for_each visits exactly the committed states", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  std::map<std::string, record_state> expect;
  for (int round = 0; round < 4; ++round) {
    commit_batch b;
    for (int i = 0; i < 300; ++i) {
      if ((i + round) % 3 == 0) {
        std::string id = "r" + std::to_string(i);
        auto st = state(static_cast<std::uint64_t>(round * 1000 + i), round, i);
        b.upserts.emplace_back(id, st);
        expect[id] = st;
      } else if ((i + round) % 7 == 0) {
        b.erasures.push_back("r" + std::to_string(i));
        expect.erase("r" + std::to_string(i));
      }
    }
    s.commit("p", b);
    CHECK(dump(s, "p") == expect);
    CHECK(s.count("p") == expect.size());
  }
  CHECK(dump(s, "nothing-here").empty());
}

TEST_CASE_TEMPLATE("store: fingerprints intern to small stable ids per partition", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  std::uint32_t a = s.intern_fingerprint("p", "v1|xxh3-64|/name,/email");
  std::uint32_t b = s.intern_fingerprint("p", "v1|xxh3-64|/name");
  CHECK(a >= 1);
  CHECK(b >= 1);
  CHECK(a != b);
  CHECK(s.intern_fingerprint("p", "v1|xxh3-64|/name,/email") == a);
  CHECK(s.fingerprint_text("p", a) == std::string("v1|xxh3-64|/name,/email"));
  CHECK(s.fingerprint_text("p", b) == std::string("v1|xxh3-64|/name"));
  CHECK_FALSE(s.fingerprint_text("p", 0));
  CHECK_FALSE(s.fingerprint_text("p", 1000));
  CHECK_FALSE(s.fingerprint_text("q", a));
  std::uint32_t c = s.intern_fingerprint("q", "v1|xxh3-64|/name");
  CHECK(s.fingerprint_text("q", c) == std::string("v1|xxh3-64|/name"));
  CHECK(s.intern_fingerprint("p", "v1|xxh3-64|/name") == b);  // q's table did not disturb p's
  auto names = s.partitions();
  CHECK(std::find(names.begin(), names.end(), "q") != names.end());
  if constexpr (F::durable) {
    f.reopen();
    CHECK(f.store->intern_fingerprint("p", "v1|xxh3-64|/name") == b);
    CHECK(f.store->fingerprint_text("p", a) == std::string("v1|xxh3-64|/name,/email"));
  }
}

TEST_CASE_TEMPLATE("store: a completed rescan reports exactly the unseen ids", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  s.commit("p", upserting({{"a", state(1, 1)},
                           {"b", state(2, 2)},
                           {"c", state(3, 3)},
                           {"d", state(4, 4)},
                           {"e", state(5, 5)}}));
  CHECK_FALSE(s.rescan_active("p"));
  CHECK(s.rescan_unseen("p").empty());  // no rescan: nothing to delete
  CHECK_FALSE(s.last_rescan("p"));

  s.begin_rescan("p");
  CHECK(s.rescan_active("p"));
  commit_batch page1;
  page1.rescan_seen = {"a", "b", "new-unmarked"};
  page1.upserts = {{"c", state(30, 30)}, {"f", state(6, 6)}};  // changed and new records count as seen
  s.commit("p", page1);
  commit_batch page2;
  page2.rescan_seen = {"d", "a"};
  s.commit("p", page2);
  auto unseen = s.rescan_unseen("p");
  CHECK(unseen == std::vector<std::string>{"e"});

  commit_batch done;
  done.erasures = {unseen.begin(), unseen.end()};
  done.complete_rescan = true;
  done.rescan_completed_at = at(777);
  s.commit("p", done);
  CHECK_FALSE(s.rescan_active("p"));
  CHECK(s.last_rescan("p") == at(777));
  CHECK(s.count("p") == 5);
  CHECK_FALSE(get_one(s, "p", "e"));
  CHECK(s.rescan_unseen("p").empty());

  // Completing again without a running rescan is a conflict and applies nothing.
  commit_batch again = upserting({{"g", state(7, 7)}});
  again.complete_rescan = true;
  again.rescan_completed_at = at(999);
  CHECK_THROWS_WITH_AS(s.commit("p", again), doctest::Contains("rescan"), sincehash::error);
  CHECK_FALSE(get_one(s, "p", "g"));
  CHECK(s.last_rescan("p") == at(777));

  // A second full rescan starts from nothing: the first one's marks do not carry over.
  s.begin_rescan("p");
  CHECK(s.rescan_unseen("p") == std::vector<std::string>{"a", "b", "c", "d", "f"});
}

TEST_CASE_TEMPLATE("store: an interrupted rescan leaves nothing that causes a false delete", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  s.commit("p", upserting({{"a", state(1, 1)}, {"b", state(2, 2)}, {"c", state(3, 3)}}));

  // Marks committed while no rescan runs mean nothing.
  commit_batch early;
  early.rescan_seen = {"a", "b", "c"};
  s.commit("p", early);
  s.begin_rescan("p");
  CHECK(s.rescan_unseen("p") == std::vector<std::string>{"a", "b", "c"});

  commit_batch part;
  part.rescan_seen = {"a"};
  s.commit("p", part);
  CHECK(s.rescan_unseen("p") == std::vector<std::string>{"b", "c"});

  // Interrupted, then restarted: the restart forgets the old marks (the listing starts over).
  if constexpr (F::durable) {
    f.reopen();
    CHECK(f.store->rescan_active("p"));
  }
  auto& t = *f;
  t.begin_rescan("p");
  CHECK(t.rescan_unseen("p") == std::vector<std::string>{"a", "b", "c"});
  commit_batch whole;
  whole.rescan_seen = {"a", "b", "c"};
  t.commit("p", whole);
  CHECK(t.rescan_unseen("p").empty());

  // Abandoned: no rescan, nothing reported, and a later rescan starts clean.
  t.abandon_rescan("p");
  CHECK_FALSE(t.rescan_active("p"));
  CHECK(t.rescan_unseen("p").empty());
  CHECK_FALSE(t.last_rescan("p"));
  t.begin_rescan("p");
  commit_batch finish;
  finish.rescan_seen = {"a", "b", "c"};
  t.commit("p", finish);
  commit_batch close;
  close.complete_rescan = true;
  close.rescan_completed_at = at(5);
  t.commit("p", close);
  CHECK(t.count("p") == 3);
  CHECK(t.last_rescan("p") == at(5));
}

TEST_CASE_TEMPLATE("store: reset forgets the offset, and the records only when asked", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  std::uint32_t fp = s.intern_fingerprint("p", "settings");
  commit_batch b = upserting({{"a", state(1, 1, std::nullopt, std::nullopt, fp)}, {"b", state(2, 2)}});
  b.offset = offset_value::from_instant(at(50), "t50");
  s.commit("p", b);
  s.begin_rescan("p");

  s.reset_offset("p", false);
  CHECK_FALSE(s.offset("p"));
  CHECK(s.count("p") == 2);
  CHECK(s.rescan_active("p"));

  commit_batch lower;
  lower.offset = offset_value::from_instant(at(10), "t10");  // after a reset a lower offset is taken
  s.commit("p", lower);
  CHECK(s.offset("p") == offset_value::from_instant(at(10), "t10"));

  s.reset_offset("p", true);
  CHECK_FALSE(s.offset("p"));
  CHECK(s.count("p") == 0);
  CHECK(dump(s, "p").empty());
  CHECK_FALSE(s.rescan_active("p"));
  CHECK(s.intern_fingerprint("p", "settings") == fp);
  s.commit("p", upserting({{"a", state(3, 3)}}));
  CHECK(get_one(s, "p", "a") == state(3, 3));
}

TEST_CASE_TEMPLATE("store: erasing and re-adding many ids keeps every other state intact", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  std::map<std::string, record_state> expect;
  std::uint64_t x = 12345;
  for (int round = 0; round < 30; ++round) {
    commit_batch b;
    std::map<std::string, bool> touched;
    for (int i = 0; i < 200; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      std::string id = "k" + std::to_string((x >> 33) % 1500);
      if (touched.count(id)) continue;
      touched[id] = true;
      if ((x >> 20) % 3 == 0) {
        b.erasures.push_back(id);
        expect.erase(id);
      } else {
        auto st = state(x, round);
        // Per-field digests of every length class: none, short, at and past the longest kept
        // without a length of their own.
        static const std::size_t widths[] = {0, 4, 12, 30, 31, 40};
        st.fields = sealed_bytes(widths[(x >> 40) % 6], static_cast<int>(x >> 50));
        b.upserts.emplace_back(id, st);
        expect[id] = st;
      }
    }
    s.commit("p", b);
  }
  CHECK(dump(s, "p") == expect);
  std::vector<std::string> names;
  for (int i = 0; i < 1500; ++i) names.push_back("k" + std::to_string(i));
  std::vector<std::string_view> ids(names.begin(), names.end());
  auto got = s.get_many("p", ids);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto it = expect.find(names[i]);
    CHECK(got[i] == (it == expect.end() ? std::nullopt : std::optional<record_state>(it->second)));
  }
}

TEST_CASE_TEMPLATE("store: a large commit failing late is rolled back whole", F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& s = *f;
  const auto with_fields = [](record_state st, std::size_t n, int seed) {
    st.fields = sealed_bytes(n, seed);
    return st;
  };
  commit_batch base;
  for (int i = 0; i < 3000; i += 2)
    base.upserts.emplace_back("id" + std::to_string(i), with_fields(state(1, i), i % 3 * 12, i));
  s.commit("p", base);
  const observation before = observe(s, "p");
  const auto before_states = dump(s, "p");

  commit_batch big;  // changes the even ids, adds the odd ones, erases every tenth
  for (int i = 0; i < 3000; ++i) {
    if (i % 10 == 0) {
      big.erasures.push_back("id" + std::to_string(i));
    } else {
      big.upserts.emplace_back("id" + std::to_string(i), with_fields(state(2, i), i % 4 * 12, i + 1));
    }
  }
  f.fault = [](std::size_t i) {
    if (i == 2900) throw sincehash::error(errc::store_error, "late failure");
  };
  CHECK_THROWS_WITH_AS(s.commit("p", big), doctest::Contains("late failure"), sincehash::error);
  CHECK(observe(s, "p") == before);
  CHECK(dump(s, "p") == before_states);
  f.fault = nullptr;
  s.commit("p", big);
  CHECK(s.count("p") == 2700);
  auto after = dump(s, "p");
  for (const auto& kv : after) CHECK(kv.second.hash.low == 2);
}

TEST_CASE_TEMPLATE("store: batch reads dense, sparse and spanning the whole partition agree with the states",
                   F, SINCEHASH_STORE_FIXTURES) {
  // A back end may read a batch that covers most of its id range differently from a sparse one:
  // every shape must give the same answers.
  F fx;
  auto& s = *fx;
  commit_batch b;
  auto name = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%05d", i);
    return std::string(buf);
  };
  for (int i = 0; i < 3000; i += 2)
    b.upserts.emplace_back(name(i), state(static_cast<std::uint64_t>(i) + 1, i));
  s.commit("p", b);
  auto check = [&](const std::vector<std::string>& wanted) {
    std::vector<std::string_view> ids(wanted.begin(), wanted.end());
    const auto got = s.get_many("p", ids);
    REQUIRE(got.size() == wanted.size());
    for (std::size_t k = 0; k < wanted.size(); ++k) {
      const std::string& id = wanted[k];
      const bool stored = id.size() == 6 && id[0] == 'k' && (std::stoi(id.substr(1)) % 2) == 0 &&
                          std::stoi(id.substr(1)) < 3000;
      REQUIRE_MESSAGE(got[k].has_value() == stored, id);
      if (stored) CHECK(got[k]->hash.low == static_cast<std::uint64_t>(std::stoi(id.substr(1))) + 1);
    }
  };
  std::vector<std::string> dense, sparse, ends, reversed;
  for (int i = 500; i < 2500; ++i) dense.push_back(name(i));  // half of them stored
  for (int i = 0; i < 3000; i += 97) sparse.push_back(name(i));
  for (int i = 0; i < 10; ++i) ends.push_back(name(i));
  for (int i = 2990; i < 3010; ++i) ends.push_back(name(i));
  ends.push_back("a");
  ends.push_back("z");
  for (int i = 2999; i >= 0; i -= 3) reversed.push_back(name(i));
  reversed.push_back(name(10));  // a duplicate
  check(dense);
  check(sparse);
  check(ends);
  check(reversed);
}

// ---- snapshots, versions, conditional commits and leases -------------------------------------

namespace {

template <class S>
std::uint64_t version_of(S& s, std::string_view partition, std::string_view id) {
  return s.snapshot(partition, std::vector<std::string_view>{id}).versions.at(0);
}

template <class S>
std::uint64_t sequence_of(S& s, std::string_view partition) {
  return s.snapshot(partition, {}).sequence;
}

// `b` with the conditions a worker that read `snap` (of `ids`) states: every id of `ids` at the
// version it read, and the sequence it read at unless `with_sequence` is false.
commit_batch conditioned(commit_batch b, const sincehash::store_snapshot& snap,
                         const std::vector<std::string_view>& ids, bool with_sequence = true) {
  for (std::size_t i = 0; i < ids.size(); ++i)
    b.expect.emplace_back(std::string(ids[i]), snap.versions.at(i));
  if (with_sequence) b.read_sequence = snap.sequence;
  return b;
}

// Everything a reader can observe about a partition, versions and the sequence included.
struct versioned_observation {
  observation plain;
  std::map<std::string, std::uint64_t> versions;
  std::uint64_t sequence = 0;
  bool operator==(const versioned_observation& o) const {
    return plain == o.plain && versions == o.versions && sequence == o.sequence;
  }
};

template <class S>
versioned_observation observe_versions(S& s, std::string_view p) {
  versioned_observation o;
  o.plain = observe(s, p);
  std::vector<std::string> names;
  for (const auto& kv : o.plain.records) names.push_back(kv.first);
  std::vector<std::string_view> ids(names.begin(), names.end());
  const sincehash::store_snapshot snap = s.snapshot(p, ids);
  for (std::size_t i = 0; i < names.size(); ++i) o.versions[names[i]] = snap.versions.at(i);
  o.sequence = snap.sequence;
  return o;
}

// The ids of the `commit_conflict` `f` throws; fails the test when it throws none.
template <class F>
std::vector<std::string> conflict_ids(F&& f) {
  try {
    f();
  } catch (const sincehash::commit_conflict& e) {
    CHECK(e.code() == errc::conflict);
    CHECK(e.message().find("nothing was committed") != std::string::npos);
    return e.ids();
  }
  FAIL("the commit applied although a condition no longer held");
  return {};
}

// The message of the `sincehash::error` `f` throws (which must not be a `commit_conflict`).
template <class F>
std::string refusal(F&& f, errc code = errc::conflict) {
  try {
    f();
  } catch (const sincehash::commit_conflict& e) {
    FAIL("a fence refusal was reported as a commit_conflict: " << e.message());
  } catch (const sincehash::error& e) {
    CHECK(e.code() == code);
    return e.message();
  }
  FAIL("the call was not refused");
  return {};
}

using svs = std::vector<std::string>;

}  // namespace

TEST_CASE_TEMPLATE("versioned store: a snapshot agrees with get_many, offset and rescan_active", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto& s = *f;
  const sincehash::store_snapshot none = s.snapshot("p", {"a", "b"});
  CHECK(none.sequence == 0);
  CHECK_FALSE(none.offset);
  CHECK_FALSE(none.rescan_active);
  REQUIRE(none.states.size() == 2);
  REQUIRE(none.versions.size() == 2);
  CHECK_FALSE(none.states[0]);
  CHECK(none.versions == std::vector<std::uint64_t>{0, 0});

  auto name = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%05d", i);
    return std::string(buf);
  };
  // Two commits: the even ids below 1500, then the even ids from 1500 on (with an offset).
  commit_batch first;
  commit_batch second;
  for (int i = 0; i < 3000; i += 2) {
    (i < 1500 ? first : second).upserts.emplace_back(name(i), state(static_cast<std::uint64_t>(i) + 1, i, i));
  }
  second.offset = offset_value::from_integer(77);
  s.commit("p", first);
  s.commit("p", second);
  s.begin_rescan("p");
  s.commit("other", upserting({{name(0), state(999, 9)}}));

  std::vector<std::string> dense, sparse, reversed;
  for (int i = 500; i < 2500; ++i) dense.push_back(name(i));
  for (int i = 0; i < 3000; i += 97) sparse.push_back(name(i));
  for (int i = 2999; i >= 0; i -= 3) reversed.push_back(name(i));
  reversed.push_back(name(10));  // a duplicate
  reversed.push_back("z-unknown");
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  for (const auto* shape : {&dense, &sparse, &reversed}) {
    std::vector<std::string_view> ids(shape->begin(), shape->end());
    const sincehash::store_snapshot snap = s.snapshot("p", ids);
    const auto plain = s.get_many("p", ids);
    REQUIRE(snap.states.size() == ids.size());
    REQUIRE(snap.versions.size() == ids.size());
    CHECK(snap.states == plain);
    CHECK(snap.offset == s.offset("p"));
    CHECK(snap.offset == offset_value::from_integer(77));
    CHECK(snap.rescan_active);
    CHECK(snap.rescan_active == s.rescan_active("p"));
    std::map<std::string_view, std::uint64_t> seen;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      CAPTURE(ids[k]);
      CHECK((snap.versions[k] != 0) == snap.states[k].has_value());
      if (!snap.states[k]) continue;
      CHECK(snap.versions[k] <= snap.sequence);
      const int i = std::stoi(std::string(ids[k].substr(1)));
      std::uint64_t& expected = i < 1500 ? low : high;
      if (expected == 0) expected = snap.versions[k];
      CHECK(snap.versions[k] == expected);  // one commit, one version
      auto it = seen.emplace(ids[k], snap.versions[k]).first;
      CHECK(it->second == snap.versions[k]);  // a duplicate reads the same version
    }
  }
  CHECK(low != 0);
  CHECK(high > low);
  // A single-id read (another read path on some back ends) gives the same versions.
  CHECK(version_of(s, "p", name(2)) == low);
  CHECK(version_of(s, "p", name(2998)) == high);
  CHECK(version_of(s, "p", name(3)) == 0);

  // An empty list still reads the partition.
  const sincehash::store_snapshot bare = s.snapshot("p", {});
  CHECK(bare.states.empty());
  CHECK(bare.versions.empty());
  CHECK(bare.offset == offset_value::from_integer(77));
  CHECK(bare.rescan_active);
  CHECK(bare.sequence >= high);
  // Reading moves nothing.
  CHECK(sequence_of(s, "p") == bare.sequence);

  s.reset_offset("p", false);
  s.abandon_rescan("p");
  const sincehash::store_snapshot after = s.snapshot("p", {name(0)});
  CHECK_FALSE(after.offset);
  CHECK_FALSE(after.rescan_active);
  CHECK(after.states[0] == state(1, 0, 0));
  CHECK(after.versions[0] == low);
}

TEST_CASE_TEMPLATE(
    "versioned store: every write gives a new, larger version; the sequence moves with every change", F,
    SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto& s = *f;
  const std::string p = "p";
  CHECK(sequence_of(s, p) == 0);
  s.commit(p, upserting({{"a", state(1, 1)}, {"b", state(2, 2)}}));
  const std::uint64_t a1 = version_of(s, p, "a");
  const std::uint64_t b1 = version_of(s, p, "b");
  CHECK(a1 != 0);
  CHECK(a1 == b1);
  std::uint64_t seq = sequence_of(s, p);
  CHECK(seq >= a1);

  // Each step must move the sequence forward.
  auto moved = [&](const char* what) {
    const std::uint64_t now = sequence_of(s, p);
    CHECK_MESSAGE(now > seq, what);
    seq = now;
  };

  s.commit(p, upserting({{"a", state(1, 1)}}));  // the same state written again is still a write
  const std::uint64_t a2 = version_of(s, p, "a");
  CHECK(a2 > a1);
  CHECK(version_of(s, p, "b") == b1);  // untouched
  moved("an upsert");

  commit_batch erase;
  erase.erasures = {"b"};
  s.commit(p, erase);
  CHECK(version_of(s, p, "b") == 0);
  moved("an erasure");
  s.commit(p, upserting({{"b", state(2, 2)}}));  // erased and written again: never an old version
  const std::uint64_t b2 = version_of(s, p, "b");
  CHECK(b2 > a2);
  CHECK(b2 > b1);
  moved("a rewrite");

  commit_batch only_offset;
  only_offset.offset = offset_value::from_integer(5);
  s.commit(p, only_offset);
  moved("an offset");
  CHECK(version_of(s, p, "a") == a2);

  s.reset_offset(p, false);
  moved("a reset keeping the records");
  CHECK(version_of(s, p, "a") == a2);

  s.begin_rescan(p);
  moved("a rescan begun");
  commit_batch marks;
  marks.rescan_seen = {"a"};
  s.commit(p, marks);
  moved("rescan marks");
  CHECK(version_of(s, p, "a") == a2);
  s.abandon_rescan(p);
  moved("a rescan abandoned");
  s.begin_rescan(p);
  moved("a rescan begun again");
  commit_batch complete;
  complete.rescan_seen = {"a"};
  complete.complete_rescan = true;
  complete.rescan_completed_at = at(50);
  s.commit(p, complete);
  moved("a rescan completed");
  CHECK_FALSE(s.rescan_active(p));
  CHECK(s.last_rescan(p) == at(50));
  CHECK(version_of(s, p, "a") == a2);  // seen, not written
  CHECK(version_of(s, p, "b") == b2);

  s.commit(p, upserting({{"gone", state(3, 3, std::nullopt, 100)}}));
  moved("a state with an expiry");
  const std::uint64_t gone = version_of(s, p, "gone");
  CHECK(s.purge_expired(p, at(100)) == 1);
  moved("a purge of the partition");
  s.commit(p, upserting({{"gone", state(3, 3, std::nullopt, 200)}}));
  CHECK(version_of(s, p, "gone") > gone);
  moved("a rewrite after the purge");
  CHECK(s.purge_expired(at(200)) == 1);
  moved("a purge of every partition");

  // Other partitions' changes are their own.
  s.commit("q", upserting({{"a", state(9, 9)}}));
  s.reset_offset("q", true);
  s.begin_rescan("q");
  CHECK(sequence_of(s, p) == seq);

  const std::uint64_t before_forget = version_of(s, p, "b");
  s.reset_offset(p, true);
  moved("a reset forgetting the records");
  CHECK(version_of(s, p, "a") == 0);
  CHECK(version_of(s, p, "b") == 0);
  s.commit(p, upserting({{"b", state(4, 4)}}));
  CHECK(version_of(s, p, "b") > before_forget);
  moved("a write after forgetting");

  if constexpr (F::durable) {
    const std::uint64_t b3 = version_of(s, p, "b");
    f.reopen();
    auto& t = *f;
    CHECK(sequence_of(t, p) == seq);
    CHECK(version_of(t, p, "b") == b3);
    t.commit(p, upserting({{"b", state(5, 5)}}));
    CHECK(version_of(t, p, "b") > b3);
  }
}

TEST_CASE_TEMPLATE(
    "versioned store: a commit whose conditions no longer hold throws commit_conflict and applies nothing", F,
    SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto& s = *f;
  auto other = f.another();  // a second worker
  const std::string p = "p";
  commit_batch base =
      upserting({{"a", state(1, 1)}, {"b", state(2, 2)}, {"c", state(3, 3)}, {"d", state(4, 4)}});
  base.offset = offset_value::from_integer(5);
  s.commit(p, base);
  s.begin_rescan(p);
  commit_batch mark_a;
  mark_a.rescan_seen = {"a"};
  s.commit(p, mark_a);

  const std::vector<std::string_view> ids{"a", "b", "c", "d", "new1", "new2"};
  const sincehash::store_snapshot snap = s.snapshot(p, ids);
  // What this worker commits after classifying against `snap`.
  commit_batch mine = upserting({{"a", state(10, 10)},
                                 {"b", state(20, 20)},
                                 {"c", state(30, 30)},
                                 {"new1", state(40, 40)},
                                 {"new2", state(50, 50)}});
  mine.erasures = {"d"};
  mine.rescan_seen = {"x"};
  mine.offset = offset_value::from_integer(9);

  SUBCASE("every kind of change at once, with and without the read sequence") {
    // Meanwhile the other worker updates b, creates new1 and erases c.
    commit_batch theirs = upserting({{"b", state(200, 200)}, {"new1", state(400, 400)}});
    theirs.erasures = {"c"};
    other->commit(p, theirs);
    const versioned_observation before = observe_versions(s, p);
    for (bool with_sequence : {true, false}) {
      CAPTURE(with_sequence);
      commit_batch b = conditioned(mine, snap, ids, with_sequence);
      b.expect.emplace_back("b", snap.versions[1]);  // a duplicate condition
      CHECK(conflict_ids([&] { s.commit(p, b); }) == svs{"b", "c", "new1"});
      CHECK(observe_versions(s, p) == before);
    }
    CHECK(s.offset(p) == offset_value::from_integer(5));
    CHECK(s.rescan_unseen(p) == svs{"d"});  // b and new1 count as seen: upserted during the rescan
  }
  SUBCASE("expected absent, now present") {
    other->commit(p, upserting({{"new2", state(500, 500)}}));
    const versioned_observation before = observe_versions(s, p);
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"new2"});
    CHECK(observe_versions(s, p) == before);
    CHECK(get_one(s, p, "new2") == state(500, 500));
  }
  SUBCASE("expected version stale") {
    other->commit(p, upserting({{"a", state(1, 1)}}));  // the same state, written again: a new version
    const versioned_observation before = observe_versions(s, p);
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"a"});
    CHECK(observe_versions(s, p) == before);
  }
  SUBCASE("erased meanwhile") {
    commit_batch gone;
    gone.erasures = {"d"};  // the very erasure this worker commits too
    other->commit(p, gone);
    const versioned_observation before = observe_versions(s, p);
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"d"});
    CHECK(observe_versions(s, p) == before);
  }
  SUBCASE("forgotten by a reset, purged") {
    other->reset_offset(p, true);
    other->commit(p, upserting({{"b", state(2, 2)}}));  // b comes back with the very same state
    const versioned_observation before = observe_versions(s, p);
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"a", "b", "c", "d"});
    CHECK(observe_versions(s, p) == before);
  }
  SUBCASE("the conditions still hold: the commit applies, whatever else changed") {
    other->commit(p, upserting({{"elsewhere", state(7, 7)}}));
    other->commit("q", upserting({{"a", state(7, 7)}}));
    s.commit(p, conditioned(mine, snap, ids));
    CHECK(get_one(s, p, "a") == state(10, 10));
    CHECK(get_one(s, p, "new2") == state(50, 50));
    CHECK_FALSE(get_one(s, p, "d"));
    CHECK(s.offset(p) == offset_value::from_integer(9));
    CHECK(get_one(s, p, "elsewhere") == state(7, 7));
    // Those conditions no longer hold now: the same batch again is refused.
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) ==
          svs{"a", "b", "c", "d", "new1", "new2"});
  }
  SUBCASE("after a refusal, reading again and committing succeeds") {
    other->commit(p, upserting({{"b", state(200, 200)}}));
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"b"});
    const sincehash::store_snapshot fresh = s.snapshot(p, ids);
    CHECK(fresh.states[1] == state(200, 200));
    CHECK(fresh.sequence > snap.sequence);
    s.commit(p, conditioned(mine, fresh, ids));
    CHECK(get_one(s, p, "b") == state(20, 20));
    CHECK(version_of(s, p, "b") > fresh.versions[1]);
  }
}

TEST_CASE_TEMPLATE("versioned store: the read-sequence fast path still sees a write made after the snapshot",
                   F, SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto& s = *f;
  auto other = f.another();
  const std::string p = "p";
  s.commit(p, upserting({{"x", state(1, 1)}, {"y", state(2, 2)}}));
  const std::vector<std::string_view> ids{"x", "y"};
  commit_batch mine = upserting({{"x", state(10, 10)}, {"y", state(20, 20)}});

  SUBCASE("a write to a read id") {
    const sincehash::store_snapshot snap = s.snapshot(p, ids);
    other->commit(p, upserting({{"x", state(100, 100)}}));
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"x"});
    CHECK(get_one(s, p, "x") == state(100, 100));
    CHECK(get_one(s, p, "y") == state(2, 2));
  }
  SUBCASE("a purge") {
    s.commit(p, upserting({{"x", state(1, 1, std::nullopt, 50)}}));
    const sincehash::store_snapshot snap = s.snapshot(p, ids);
    CHECK(other->purge_expired(at(60)) == 1);
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"x"});
    CHECK_FALSE(get_one(s, p, "x"));
  }
  SUBCASE("a write through the same object") {
    const sincehash::store_snapshot snap = s.snapshot(p, ids);
    s.commit(p, upserting({{"y", state(200, 200)}}));
    CHECK(conflict_ids([&] { s.commit(p, conditioned(mine, snap, ids)); }) == svs{"y"});
  }
  SUBCASE("writes to other ids: the sequence moved but the conditions hold") {
    const sincehash::store_snapshot snap = s.snapshot(p, ids);
    other->commit(p, upserting({{"z", state(3, 3)}}));
    other->reset_offset(p, false);
    s.commit(p, conditioned(mine, snap, ids));
    CHECK(get_one(s, p, "x") == state(10, 10));
  }
  SUBCASE("nothing written since the snapshot") {
    const sincehash::store_snapshot snap = s.snapshot(p, ids);
    (void)other->snapshot(p, ids);
    other->commit("q", upserting({{"x", state(5, 5)}}));
    s.commit(p, conditioned(mine, snap, ids));
    CHECK(get_one(s, p, "y") == state(20, 20));
  }
}

TEST_CASE_TEMPLATE(
    "versioned store: two workers interleaved (read A, read B, commit B, commit A) lose no change", F,
    SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto a = f.another();
  auto b = f.another();
  const std::string p = "p";
  (*f).commit(p, upserting({{"r1", state(1, 1)}, {"r2", state(2, 2)}, {"r3", state(3, 3)}}));
  const std::vector<std::string_view> ids{"r1", "r2", "r3"};
  const sincehash::store_snapshot read_a = a->snapshot(p, ids);
  const sincehash::store_snapshot read_b = b->snapshot(p, ids);
  CHECK(read_a.versions == read_b.versions);
  CHECK(read_a.sequence == read_b.sequence);

  // B writes r1 and r2, A writes r2 and r3; each states only what it writes.
  const std::vector<std::string_view> b_ids{"r1", "r2"};
  const std::vector<std::string_view> a_ids{"r2", "r3"};
  auto sub = [](const sincehash::store_snapshot& snap, std::initializer_list<std::size_t> at) {
    sincehash::store_snapshot out = snap;
    out.versions.clear();
    for (std::size_t i : at) out.versions.push_back(snap.versions[i]);
    return out;
  };
  commit_batch b_batch = upserting({{"r1", state(11, 11)}, {"r2", state(12, 12)}});
  b_batch.offset = offset_value::from_integer(2);
  commit_batch a_batch = upserting({{"r2", state(22, 22)}, {"r3", state(23, 23)}});
  a_batch.offset = offset_value::from_integer(1);
  b->commit(p, conditioned(b_batch, sub(read_b, {0, 1}), b_ids));
  CHECK(conflict_ids([&] { a->commit(p, conditioned(a_batch, sub(read_a, {1, 2}), a_ids)); }) == svs{"r2"});
  CHECK(get_one(*a, p, "r2") == state(12, 12));
  CHECK(get_one(*a, p, "r3") == state(3, 3));  // nothing of A's batch was applied

  // A re-reads, sees B's change (and would re-classify r2 against it), and commits.
  const sincehash::store_snapshot again = a->snapshot(p, ids);
  CHECK(again.states[1] == state(12, 12));
  a->commit(p, conditioned(a_batch, sub(again, {1, 2}), a_ids));
  CHECK(get_one(*a, p, "r1") == state(11, 11));
  CHECK(get_one(*a, p, "r2") == state(22, 22));
  CHECK(get_one(*a, p, "r3") == state(23, 23));
  CHECK(a->offset(p) == offset_value::from_integer(2));
}

TEST_CASE_TEMPLATE("versioned store: concurrent read-modify-write with conditions loses no increment", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  constexpr int threads = 4;
  constexpr int increments = 40;
  const std::vector<std::string> names{"c0", "c1", "c2"};
  const std::vector<std::string_view> ids(names.begin(), names.end());
  std::atomic<int> failures{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t, s = f.another()] {
      try {
        for (int i = 0; i < increments; ++i) {
          const std::size_t k = static_cast<std::size_t>(t + i) % names.size();
          for (;;) {
            const sincehash::store_snapshot snap = s->snapshot("p", ids);
            const std::uint64_t value = snap.states[k] ? snap.states[k]->hash.low : 0;
            std::this_thread::yield();  // let the others write in between
            commit_batch b = upserting({{names[k], state(value + 1, i)}});
            b.expect.emplace_back(names[k], snap.versions[k]);
            if (t % 2 == 0) b.read_sequence = snap.sequence;  // half of them take the fast path
            try {
              s->commit("p", b);
              break;
            } catch (const sincehash::commit_conflict& e) {
              if (e.ids() != svs{names[k]}) ++failures;
              ++conflicts;
            }
          }
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures == 0);
  std::uint64_t total = 0;
  for (const auto& st : (*f).get_many("p", ids)) {
    REQUIRE(st);
    total += st->hash.low;
  }
  CHECK(total == static_cast<std::uint64_t>(threads * increments));
  MESSAGE("conflicts retried: " << conflicts.load());
}

TEST_CASE_TEMPLATE("versioned store: leases grant one holder at a time with growing fencing tokens", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto a = f.another();
  auto b = f.another();
  const std::string p = "tenant/leased";

  sincehash::lease_result first = a->acquire_lease(p, "worker-a", 10s);
  REQUIRE(first.granted);
  CHECK(first.lease.partition == p);
  CHECK(first.lease.token >= 1);
  CHECK(first.lease.owner == "worker-a");
  CHECK(first.remaining == 10s);
  CHECK(a->fence(p) == first.lease.token);

  sincehash::lease_result refused = b->acquire_lease(p, "worker-b", 10s);
  CHECK_FALSE(refused.granted);
  CHECK(refused.lease.partition == p);
  CHECK(refused.lease.owner == "worker-a");
  CHECK(refused.lease.token == first.lease.token);
  CHECK(refused.remaining > 5s);
  CHECK(refused.remaining <= 10s);
  CHECK_FALSE(b->fence(p));

  CHECK(a->renew_lease(first.lease, 10s));
  sincehash::store_lease forged = first.lease;
  forged.token += 1;
  CHECK_FALSE(b->renew_lease(forged, 10s));
  CHECK_FALSE(b->release_lease(forged));
  forged = first.lease;
  forged.owner = "worker-b";
  CHECK_FALSE(b->renew_lease(forged, 10s));
  CHECK_FALSE(b->release_lease(forged));
  CHECK_FALSE(b->acquire_lease(p, "worker-b", 10s).granted);  // still a's

  // The holder commits under its token; an object that asked for no lease is not fenced.
  a->commit(p, upserting({{"x", state(1, 1)}}));
  b->commit(p, upserting({{"w", state(9, 9)}}));
  CHECK(a->release_lease(first.lease));
  CHECK_FALSE(a->fence(p));
  CHECK_FALSE(a->release_lease(first.lease));  // no longer held

  sincehash::lease_result second = b->acquire_lease(p, "worker-b", 10s);
  REQUIRE(second.granted);
  CHECK(second.lease.token > first.lease.token);
  CHECK(b->fence(p) == second.lease.token);

  // `a` fences with the old token explicitly: every write is refused whole.
  a->set_fence(p, first.lease.token);
  CHECK(a->fence(p) == first.lease.token);
  b->begin_rescan(p);
  commit_batch mark;
  mark.rescan_seen = {"x"};
  b->commit(p, mark);
  const versioned_observation before = observe_versions(*a, p);
  commit_batch stale = upserting({{"x", state(2, 2)}, {"y", state(3, 3)}});
  stale.offset = offset_value::from_integer(9);
  CHECK(refusal([&] { a->commit(p, stale); }).find("token") != std::string::npos);
  const sincehash::store_snapshot snap = a->snapshot(p, {"x"});
  CHECK(refusal([&] { a->commit(p, conditioned(stale, snap, {"x"})); }).find("token") != std::string::npos);
  CHECK(refusal([&] { a->reset_offset(p, true); }).find("token") != std::string::npos);
  CHECK(refusal([&] { a->begin_rescan(p); }).find("token") != std::string::npos);
  CHECK(refusal([&] { a->abandon_rescan(p); }).find("token") != std::string::npos);
  CHECK(observe_versions(*a, p) == before);
  CHECK(a->rescan_unseen(p) == svs{"w"});  // b's mark of x survived
  b->abandon_rescan(p);
  b->commit(p, upserting({{"y", state(4, 4)}}));  // the holder's writes go through

  // Fences are per object and may be cleared: `a` then writes unfenced again.
  a->clear_fence(p);
  CHECK_FALSE(a->fence(p));
  a->commit(p, upserting({{"z", state(5, 5)}}));
  CHECK(get_one(*a, p, "z") == state(5, 5));

  // Re-acquiring while holding is a new grant with a larger token; the old token stops counting.
  sincehash::lease_result again = b->acquire_lease(p, "worker-b", 10s);
  REQUIRE(again.granted);
  CHECK(again.lease.token > second.lease.token);
  CHECK_FALSE(b->renew_lease(second.lease, 10s));
  CHECK(b->renew_lease(again.lease, 10s));
  b->set_fence(p, second.lease.token);
  CHECK(refusal([&] { b->commit(p, upserting({{"v", state(6, 6)}})); }).find("token") != std::string::npos);
  b->set_fence(p, again.lease.token);
  b->commit(p, upserting({{"v", state(6, 6)}}));

  refusal([&] { (void)a->acquire_lease(p, "worker-a", 0ms); }, errc::invalid_argument);
  refusal([&] { (void)b->renew_lease(again.lease, -5ms); }, errc::invalid_argument);

  // Leases of different partitions are independent, and a lease alone makes no partition.
  sincehash::lease_result elsewhere = a->acquire_lease("tenant/only-leased", "worker-a", 10s);
  CHECK(elsewhere.granted);
  const auto names = a->partitions();
  CHECK(std::find(names.begin(), names.end(), "tenant/only-leased") == names.end());
  CHECK(std::find(names.begin(), names.end(), p) != names.end());
  CHECK(b->release_lease(again.lease));
  CHECK(a->release_lease(elsewhere.lease));
}

TEST_CASE_TEMPLATE(
    "versioned store: an expired lease fences out its holder; a lost holder's lease is taken over", F,
    SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  auto a = f.another();
  auto b = f.another();
  const std::string p = "tenant/expiring";

  SUBCASE("expiry") {
    sincehash::lease_result held = a->acquire_lease(p, "worker-a", 1500ms);
    REQUIRE(held.granted);
    a->commit(p, upserting({{"x", state(1, 1)}}));
    std::this_thread::sleep_for(2000ms);  // past the lease
    const versioned_observation before = observe_versions(*a, p);
    CHECK(refusal([&] {
            a->commit(p, upserting({{"x", state(2, 2)}}));
          }).find("expired") != std::string::npos);
    CHECK(refusal([&] { a->begin_rescan(p); }).find("token") != std::string::npos);
    CHECK(observe_versions(*a, p) == before);
    CHECK_FALSE(a->renew_lease(held.lease, 10s));
    sincehash::lease_result taken = b->acquire_lease(p, "worker-b", 10s);
    REQUIRE(taken.granted);
    CHECK(taken.lease.token > held.lease.token);
    b->commit(p, upserting({{"x", state(3, 3)}}));
    const std::string why = refusal([&] { a->commit(p, upserting({{"x", state(2, 2)}})); });
    CHECK(why.find("worker-b") != std::string::npos);
    CHECK(get_one(*a, p, "x") == state(3, 3));
    CHECK_FALSE(a->release_lease(held.lease));  // expired: nothing to give up, b keeps it
    CHECK(b->renew_lease(taken.lease, 10s));
    // The expired holder asks again: it is refused while b holds the lease.
    sincehash::lease_result back = a->acquire_lease(p, "worker-a", 10s);
    CHECK_FALSE(back.granted);
    CHECK(back.lease.owner == "worker-b");
    CHECK(back.lease.token == taken.lease.token);
  }
  SUBCASE("takeover: releasing the holder's lease as a refusal names it, then acquiring") {
    sincehash::lease_result held = a->acquire_lease(p, "host-1:pid-100", 10s);
    REQUIRE(held.granted);
    // The holder is known to be gone (a dead process): another worker takes the lease over.
    sincehash::lease_result refused = b->acquire_lease(p, "host-1:pid-200", 10s);
    REQUIRE_FALSE(refused.granted);
    CHECK(refused.lease.owner == "host-1:pid-100");
    CHECK(b->release_lease(refused.lease));
    CHECK_FALSE(b->fence(p));
    sincehash::lease_result taken = b->acquire_lease(p, "host-1:pid-200", 10s);
    REQUIRE(taken.granted);
    CHECK(taken.lease.token > held.lease.token);
    b->commit(p, upserting({{"x", state(7, 7)}}));
    // Had the holder only been slow, its writes are now refused and nothing of them applies.
    CHECK(refusal([&] {
            a->commit(p, upserting({{"x", state(1, 1)}, {"y", state(1, 1)}}));
          }).find("token") != std::string::npos);
    CHECK(get_one(*a, p, "x") == state(7, 7));
    CHECK_FALSE(get_one(*a, p, "y"));
    CHECK_FALSE(a->renew_lease(held.lease, 10s));
    // A stale refusal (its holder released since) cannot release the new holder's lease.
    CHECK_FALSE(a->release_lease(refused.lease));
    CHECK_FALSE(a->release_lease(held.lease));
    CHECK(b->renew_lease(taken.lease, 10s));
    CHECK_FALSE(a->acquire_lease(p, "host-1:pid-100", 10s).granted);
  }
}

// The checks of support/shared_store_checks.hpp, on every back end; each opens its store objects
// on the fixture's data.
TEST_CASE_TEMPLATE(
    "versioned store: a snapshot reads what get_many, offset and rescan_active read, at any size", F,
    SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  sincehash_test::check_snapshot_agrees([&] { return f.another(); });
}

TEST_CASE_TEMPLATE("versioned store: versions change with every write of an id, also after an erasure", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  sincehash_test::check_versions([&] { return f.another(); }, F::newest_wins);
}

TEST_CASE_TEMPLATE("versioned store: each kind of change names exactly its ids; a fence is checked first", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  sincehash_test::check_conflicts([&] { return f.another(); });
}

TEST_CASE_TEMPLATE("versioned store: with the read sequence, a concurrent change of any kind is detected", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  sincehash_test::check_read_sequence([&] { return f.another(); });
}

TEST_CASE_TEMPLATE("versioned store: two objects interleaving on dated states: conflict, re-read, apply", F,
                   SINCEHASH_VERSIONED_FIXTURES) {
  F f;
  sincehash_test::check_interleaved([&] { return f.another(); });
}

TEST_CASE("memory_store: per-field digests kept beside the ids survive churn, repacking and erasure") {
  sincehash::memory_store s;
  std::map<std::string, record_state> expect;
  // 20,000 states rewritten six times with digests of a changing length leave far more dead id
  // bytes than live ones: the ids are repacked along the way, digests and all.
  for (int round = 0; round < 6; ++round) {
    commit_batch b;
    for (int i = 0; i < 20000; ++i) {
      const std::string id = "record-" + std::to_string(i);
      if (round == 5 && i % 7 == 0) {
        b.erasures.push_back(id);
        expect.erase(id);
        continue;
      }
      record_state st = state(static_cast<std::uint64_t>(round * 100000 + i), round);
      st.fields = sealed_bytes(static_cast<std::size_t>((i + round) % 4 == 0 ? 0 : 12 + (i + round) % 3 * 20),
                               static_cast<unsigned>(round * 31 + i));
      b.upserts.emplace_back(id, st);
      expect[id] = st;
    }
    s.commit("p", b);
  }
  CHECK(dump(s, "p") == expect);
  // What stays allocated is bounded by the live states, not by what was ever written.
  std::size_t live = 0;
  for (const auto& kv : expect) live += 64 + kv.first.size() + kv.second.fields.size();
  CHECK(s.allocated_bytes() < 3 * live);
  CHECK(s.allocated_bytes() > live / 2);
}

TEST_CASE("memory_store: objects on one store's data share states and leases, each with fences of its own") {
  auto first = std::make_unique<sincehash::memory_store>();
  sincehash::memory_store second(*first, sincehash::memory_store_shared);
  first->commit("p", upserting({{"a", state(1, 1)}}));
  CHECK(get_one(second, "p", "a") == state(1, 1));
  sincehash::lease_result held = first->acquire_lease("p", "first", 10s);
  REQUIRE(held.granted);
  CHECK(first->fence("p") == held.lease.token);
  CHECK_FALSE(second.fence("p"));
  CHECK_FALSE(second.acquire_lease("p", "second", 10s).granted);
  // The data outlives the object that created it.
  first.reset();
  CHECK(get_one(second, "p", "a") == state(1, 1));
  CHECK(second.partitions() == std::vector<std::string>{"p"});
  sincehash::memory_store third(second, sincehash::memory_store_shared);
  third.commit("p", upserting({{"b", state(2, 2)}}));
  CHECK(second.count("p") == 2);
  CHECK(second.allocated_bytes() == third.allocated_bytes());
  CHECK(third.release_lease(held.lease));  // the holder's object is gone: take its lease over
  CHECK(third.acquire_lease("p", "third", 10s).granted);
}

#ifdef SINCEHASH_HAS_SODIUM
TEST_CASE("encrypted_store with a blind index: a conflict names the clear ids, and nothing applies") {
  sincehash::memory_store inner;
  sincehash::memory_store other_inner(inner, sincehash::memory_store_shared);
  sincehash::encrypted_store_options o;
  o.blind_index = true;
  const sincehash::key_ring keys = encrypted_memory_fixture::keys();
  sincehash::encrypted_store<sincehash::memory_store> s(inner, keys, o);
  sincehash::encrypted_store<sincehash::memory_store> other(other_inner, keys, o);
  s.commit("p", upserting({{"alice@example.com", state(1, 1)}, {"bob@example.com", state(2, 2)}}));
  const std::vector<std::string_view> ids{"alice@example.com", "bob@example.com", "carol@example.com"};
  const sincehash::store_snapshot snap = s.snapshot("p", ids);
  other.commit("p", upserting({{"bob@example.com", state(3, 3)}, {"carol@example.com", state(4, 4)}}));
  const commit_batch mine = upserting({{"alice@example.com", state(5, 5)},
                                       {"bob@example.com", state(6, 6)},
                                       {"carol@example.com", state(7, 7)}});
  CHECK(conflict_ids([&] { s.commit("p", conditioned(mine, snap, ids)); }) ==
        svs{"bob@example.com", "carol@example.com"});
  CHECK(get_one(s, "p", "alice@example.com") == state(1, 1));
  CHECK(get_one(s, "p", "bob@example.com") == state(3, 3));
  const sincehash::store_snapshot fresh = s.snapshot("p", ids);
  s.commit("p", conditioned(mine, fresh, ids));
  CHECK(get_one(other, "p", "carol@example.com") == state(7, 7));
}
#endif

// ---- detectors racing on one partition ----------------------------------------------------

namespace {

sincehash::resource_settings racing_settings() {
  sincehash::resource_settings s;
  s.name = "contacts";
  s.id_field = sincehash::field_path::parse("id").value();
  s.updated = sincehash::date_field{sincehash::field_path::parse("updated").value(),
                                    sincehash::date_format::compile("", sincehash::time_zone::utc()).value()};
  s.watched = {"email"};
  return s;
}

std::string racing_record(const std::string& id, const std::string& email, const std::string& updated) {
  return R"({"id":")" + id + R"(","email":")" + email + R"(","updated":")" + updated + R"("})";
}

}  // namespace

TEST_CASE_TEMPLATE("detector: two runs interleaving between read and commit lose no change", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& store = *f;
  using store_type = std::remove_reference_t<decltype(store)>;
  using detector = sincehash::change_detector<store_type>;
  const std::string p = "race/contacts";
  const auto one = [](const std::string& text) { return std::vector<sincehash::input_record>{{text, 1}}; };

  // Downstream: the last event delivered per id.
  std::map<std::string, std::string> delivered;
  const auto deliver = [&](const std::vector<sincehash::event>& events) {
    for (const auto& e : events) delivered[e.id] = std::string(e.record);
  };

  detector setup(store, p, racing_settings());
  const std::string a1 = racing_record("1", "A", "2024-03-01T00:00:00Z");
  auto base = setup.process(one(a1));
  deliver(base.events);
  setup.commit(base.pending);

  // Run 1 reads the state (A) and sees A again at a newer date: unchanged, nothing dispatched.
  // Run 2 reads the same state, sees B, dispatches it and commits first. Then run 1 commits.
  detector run1(store, p, racing_settings());
  detector run2(store, p, racing_settings());
  const std::string a3 = racing_record("1", "A", "2024-03-03T00:00:00Z");
  const std::string b2 = racing_record("1", "B", "2024-03-02T00:00:00Z");
  auto r1 = run1.process(one(a3));
  CHECK(r1.events.empty());
  CHECK(r1.stats.unchanged == 1);
  auto r2 = run2.process(one(b2));
  REQUIRE(r2.events.size() == 1);
  deliver(r2.events);
  run2.commit(r2.pending);

  // Run 1's commit states what it read: it no longer holds.
  CHECK_THROWS_AS(run1.commit(r1.pending), sincehash::commit_conflict);
  CHECK(delivered["1"] == b2);
  run1.commit(r1, deliver);
  // A (newer than B) is now a change against B: dispatched before the commit went through.
  CHECK(delivered["1"] == a3);
  CHECK(r1.stats.updated == 1);
  CHECK(r1.stats.unchanged == 0);

  // A clean run sees the source as the downstream holds it: nothing to dispatch, nothing lost.
  detector clean(store, p, racing_settings());
  auto last = clean.process(one(a3));
  CHECK(last.events.empty());
  CHECK(last.stats.unchanged == 1);
  CHECK(clean.since().value() == "2024-03-03T00:00:00Z");
}

TEST_CASE_TEMPLATE("detector: a retried commit dispatches a change once, not twice", F,
                   SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& store = *f;
  using store_type = std::remove_reference_t<decltype(store)>;
  using detector = sincehash::change_detector<store_type>;
  const std::string p = "race/twice";
  const auto page = [](std::vector<std::string>& texts) {
    std::vector<sincehash::input_record> out;
    for (std::size_t i = 0; i < texts.size(); ++i) out.push_back({texts[i], i + 1});
    return out;
  };
  detector d1(store, p, racing_settings());
  detector d2(store, p, racing_settings());
  // Both first-sight record 1 (created by both); d2 commits first, with record 2 as well.
  std::vector<std::string> t1{racing_record("1", "A", "2024-03-01T00:00:00Z"),
                              racing_record("3", "C", "2024-03-01T00:00:00Z")};
  std::vector<std::string> t2{racing_record("1", "A", "2024-03-01T00:00:00Z"),
                              racing_record("2", "B", "2024-03-01T00:00:00Z")};
  auto r1 = d1.process(page(t1));
  auto r2 = d2.process(page(t2));
  d2.commit(r2.pending);
  std::vector<std::string> extra;
  d1.commit(r1, [&](const std::vector<sincehash::event>& events) {
    for (const auto& e : events) extra.push_back(e.id);
  });
  // Record 1 is now unchanged against what d2 committed: no second event; record 3 untouched.
  CHECK(extra.empty());
  CHECK(r1.stats.created == 1);
  CHECK(r1.stats.unchanged == 1);
  CHECK(store.count(p) == 3);
}

TEST_CASE_TEMPLATE("detector: an event overtaken by a newer state is dispatched again at the next sighting",
                   F, SINCEHASH_STORE_FIXTURES) {
  F f;
  auto& store = *f;
  using store_type = std::remove_reference_t<decltype(store)>;
  using detector = sincehash::change_detector<store_type>;
  const std::string p = "race/overtaken";
  const auto one = [](const std::string& text) { return std::vector<sincehash::input_record>{{text, 1}}; };
  std::map<std::string, std::string> newest;  // downstream: the newest event per id, by date
  std::map<std::string, std::string> newest_date;
  const auto deliver = [&](const std::vector<sincehash::event>& events) {
    for (const auto& e : events) {
      if (newest_date[e.id] <= e.updated) {
        newest_date[e.id] = e.updated;
        newest[e.id] = std::string(e.record);
      }
    }
  };
  detector setup(store, p, racing_settings());
  const std::string a1 = racing_record("1", "A", "2024-03-01T00:00:00Z");
  auto base = setup.process(one(a1));
  deliver(base.events);
  setup.commit(base.pending);

  // The newer copy (A again) is unchanged; the older one (B) is dispatched, then overtaken.
  detector newer(store, p, racing_settings());
  detector older(store, p, racing_settings());
  const std::string a4 = racing_record("1", "A", "2024-03-04T00:00:00Z");
  const std::string b2 = racing_record("1", "B", "2024-03-02T00:00:00Z");
  auto rn = newer.process(one(a4));
  auto ro = older.process(one(b2));
  CHECK(rn.events.empty());
  REQUIRE(ro.events.size() == 1);
  deliver(ro.events);
  newer.commit(rn, deliver);
  older.commit(ro, deliver);
  CHECK(ro.stats.stale == 1);
  CHECK(newest["1"] == b2);  // what the downstream holds now

  // The next sighting of A is a change against what was delivered, not "unchanged".
  detector clean(store, p, racing_settings());
  auto again = clean.process(one(a4));
  REQUIRE(again.events.size() == 1);
  deliver(again.events);
  clean.commit(again.pending);
  CHECK(newest["1"] == a4);
}
