// Stores chosen at run time: open_store's URIs, any_store behind a detector, and the partition
// lease held for a run.
#include <sincehash/any_store.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/open_store.hpp>
#include <sincehash/partition_lease.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace sincehash;

namespace {

resource_settings contacts() {
  resource_settings s;
  s.name = "contacts";
  s.id_field = field_path::parse("id").value();
  s.updated =
      date_field{field_path::parse("updated").value(), date_format::compile("", time_zone::utc()).value()};
  s.watched = {"email"};
  return s;
}

std::string rec(const std::string& id, const std::string& email, const std::string& updated) {
  return R"({"id":")" + id + R"(","email":")" + email + R"(","updated":")" + updated + R"("})";
}

std::filesystem::path fresh_path(const char* tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
  std::filesystem::create_directories(dir);
  auto p =
      dir / (std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  return p;
}

errc code_of(const std::string& uri) {
  try {
    (void)open_store(uri);
  } catch (const error& e) {
    return e.code();
  }
  return errc::ok;
}

std::string message_of(const std::string& uri) {
  try {
    (void)open_store(uri);
  } catch (const error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("open_store: a detector over any store chosen at run time") {
  any_store store = open_store("memory:");
  CHECK(store.kind() == "memory");
  change_detector<any_store> d(store, "i/contacts", contacts());
  std::vector<std::string> texts{rec("1", "a", "2024-03-01T00:00:00Z"),
                                 rec("2", "b", "2024-03-01T00:00:00Z")};
  std::vector<input_record> page{{texts[0], 1}, {texts[1], 2}};
  auto r = d.process(page);
  CHECK(r.events.size() == 2);
  d.commit(r.pending);
  CHECK(store.count("i/contacts") == 2);
  CHECK(d.since().value() == "2024-03-01T00:00:00Z");
  auto again = d.process(page);
  CHECK(again.events.empty());
  std::vector<std::string> ids;
  store.for_each("i/contacts", [&](std::string_view id, const record_state&) { ids.emplace_back(id); });
  CHECK(ids.size() == 2);
}

TEST_CASE("open_store: malformed and unsupported URIs are refused, naming the URI") {
  CHECK(code_of("sqlite:") == errc::invalid_argument);
  CHECK(message_of("sqlite:").find("no file path") != std::string::npos);
  CHECK(code_of("ftp://somewhere") == errc::invalid_argument);
  CHECK(message_of("ftp://somewhere").find("ftp://somewhere") != std::string::npos);
  CHECK(code_of("rediss://127.0.0.1:1") == errc::unsupported);
#ifdef SINCEHASH_HAS_REDIS
  CHECK(code_of("redis://") == errc::invalid_argument);
#endif
}

#ifdef SINCEHASH_HAS_SQLITE
TEST_CASE("open_store: a path and sqlite:PATH open the same SQLite file") {
  const auto path = fresh_path("open");
  {
    any_store a = open_store(path.string());
    CHECK(a.kind() == "sqlite");
    commit_batch b;
    b.offset = offset_value::from_integer(7);
    a.commit("p", b);
  }
  any_store b = open_store("sqlite:" + path.string());
  CHECK(b.offset("p").value().number == 7);
}

TEST_CASE("open_store: read only, the since value comes from the state and nothing is written") {
  const auto path = fresh_path("read-only");
  resource_settings settings = contacts();
  settings.url = "/c?since=${since}";
  {
    any_store missing = open_store(path.string(), open_mode::read_only);
    CHECK(missing.partitions().empty());
    CHECK(since_url(settings, missing.offset("i/contacts"), "i/contacts").value() ==
          "/c?since=1970-01-01T00%3A00%3A00.000Z");
  }
  CHECK(!std::filesystem::exists(path));
  {
    any_store store = open_store(path.string());
    change_detector<any_store> d(store, "i/contacts", contacts());
    std::vector<std::string> texts{rec("1", "a", "2024-03-01T00:00:00Z")};
    std::vector<input_record> page{{texts[0], 1}};
    auto r = d.process(page);
    d.commit(r.pending);
  }
  const auto size = std::filesystem::file_size(path);
  const auto stamp = std::filesystem::last_write_time(path);
  any_store ro = open_store("sqlite:" + path.string(), open_mode::read_only);
  const auto off = ro.offset("i/contacts");
  CHECK(since_value(settings, off, "i/contacts").value() == "2024-03-01T00:00:00Z");
  CHECK(since_url(settings, off, "i/contacts").value() == "/c?since=2024-03-01T00%3A00%3A00Z");
  CHECK(ro.partitions() == std::vector<std::string>{"i/contacts"});
  CHECK_THROWS_AS((void)ro.intern_fingerprint("j/contacts", "x"), error);  // a detector could not start
  CHECK(std::filesystem::file_size(path) == size);
  CHECK(std::filesystem::last_write_time(path) == stamp);
}
#endif

#if defined(SINCEHASH_HAS_SQLITE) && defined(SINCEHASH_HAS_SODIUM)
TEST_CASE("open_store: with keys every state is sealed; without them the partition shows as sealed") {
  const auto path = fresh_path("sealed");
  const key_ring keys = key_ring::parse("1 " + std::string(64, 'a') + "\n").value();
  {
    any_store sealed = open_store(path.string(), keys);
    CHECK(sealed.kind() == "encrypted sqlite");
    change_detector<any_store> d(sealed, "i/contacts", contacts());
    std::string text = rec("1", "secret@example.org", "2024-03-01T00:00:00Z");
    auto r = d.process(std::vector<input_record>{{text, 1}});
    d.commit(r.pending);
    CHECK(sealed.offset("i/contacts").value().text == "2024-03-01T00:00:00Z");
  }
  any_store plain = open_store(path.string());
  CHECK(holds_sealed_state(plain, "i/contacts"));
  auto state = plain.get_many("i/contacts", {"1"}).at(0);
  REQUIRE(state.has_value());
  CHECK_FALSE(state->sealed.empty());
  CHECK(state->hash.bits == 0);
}
#endif

TEST_CASE("lease_holder: written and read back; this process is alive, a reaped child is dead") {
  const lease_holder me = lease_holder::self();
  CHECK(me.pid == static_cast<long>(::getpid()));
  const auto back = lease_holder::parse(me.text());
  REQUIRE(back.has_value());
  CHECK(back->host == me.host);
  CHECK(back->pid == me.pid);
  CHECK(back->started == me.started);
  CHECK_FALSE(me.dead_on_this_host());
  CHECK_FALSE(lease_holder::parse("worker-a").has_value());

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  lease_holder gone = me;
  gone.pid = static_cast<long>(child);
  CHECK(gone.dead_on_this_host());
  lease_holder elsewhere = gone;
  elsewhere.host = me.host + ".elsewhere";
  CHECK_FALSE(elsewhere.dead_on_this_host());  // another host: unknown, so not dead
}

#ifdef SINCEHASH_HAS_SQLITE
TEST_CASE("partition_lease: a forked child leaves the parent's lease alone") {
  // A child forked while the lease is held destroys its copy: it neither waits for the renewing
  // thread (not in the child) nor releases the lease, which stays the parent's.
  const auto path = fresh_path("lease-fork");
  any_store store = open_store(path.string());
  partition_lease_options o;
  o.ttl = std::chrono::milliseconds(3000);
  auto* lease = new partition_lease<any_store>(store, "p", o);
  const std::uint64_t token = lease->lease().token;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::alarm(20);  // a child that hangs is killed, and fails the test
    delete lease;
    std::_Exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // Still held by the parent, and still renewed: another holder is refused past the first ttl.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  const lease_result other = store.acquire_lease("p", "someone-else", std::chrono::milliseconds(3000));
  CHECK_FALSE(other.granted);
  CHECK(other.lease.token == token);
  CHECK_FALSE(lease->lost());
  delete lease;
  CHECK(store.acquire_lease("p", "someone-else", std::chrono::milliseconds(3000)).granted);
}
#endif
