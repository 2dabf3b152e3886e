// reportChanges: per-field digests in the hasher and the record state, and the watched paths an
// `updated` event names as changed.

#include <sincehash/detector.hpp>
#include <sincehash/input.hpp>
#include <sincehash/store/memory.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using namespace sincehash;

namespace {

resource_settings people(std::vector<std::string> watched = {"properties.phone", "Email", "/Name"},
                         bool report = true) {
  resource_settings s;
  s.name = "people";
  s.id_field = field_path::parse("id").value();
  s.updated =
      date_field{field_path::parse("updated").value(), date_format::compile("", time_zone::utc()).value()};
  s.watched = std::move(watched);
  s.report_changes = report;
  return s;
}

instant at(const char* iso) { return parse_iso8601(iso).value(); }

struct records {
  std::vector<std::string> texts;
  std::vector<input_record> list() const {
    std::vector<input_record> out;
    for (std::size_t i = 0; i < texts.size(); ++i) out.push_back({texts[i], i + 1});
    return out;
  }
};

template <class D>
batch_result run(D& d, std::vector<std::string> texts) {
  records r{std::move(texts)};
  auto list = r.list();
  batch_result out = d.process(list);
  d.commit(out.pending);
  return out;
}

// What an event names as changed: nullopt for `null`.
std::optional<std::vector<std::string>> changed(const event& e) {
  REQUIRE(e.changed.reported());
  if (!e.changed.known()) return std::nullopt;
  return e.changed.paths();
}

using paths = std::vector<std::string>;

const char* base =
    R"({"id":"1","Email":"a@x","Name":"Ann","properties":{"phone":"1"},"other":1,"updated":"2024-01-01T00:00:00Z"})";

}  // namespace

TEST_CASE("an updated event names the watched paths that changed, as configured and sorted") {
  memory_store store;
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people(),
                                                               fixed_clock(at("2024-06-01T00:00:00Z")));
  CHECK(d.watched_names() == paths{"Email", "/Name", "properties.phone"});

  batch_result r = run(d, {base});
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].type == event_type::created);
  CHECK(changed(r.events[0]) == std::nullopt);  // created: null

  // One field.
  r = run(
      d,
      {R"({"id":"1","Email":"b@x","Name":"Ann","properties":{"phone":"1"},"other":1,"updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].type == event_type::updated);
  CHECK(changed(r.events[0]) == paths{"Email"});
  CHECK(r.events[0].changed.bits() == std::vector<bool>{true, false, false});

  // Several fields.
  r = run(
      d,
      {R"({"id":"1","Email":"b@x","Name":"Bo","properties":{"phone":"2"},"other":1,"updated":"2024-01-03T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"/Name", "properties.phone"});

  // Only an unwatched field: no event.
  r = run(
      d,
      {R"({"id":"1","Email":"b@x","Name":"Bo","properties":{"phone":"2"},"other":2,"updated":"2024-01-04T00:00:00Z"})"});
  CHECK(r.events.empty());
  CHECK(r.stats.unchanged == 1);

  // Member order never matters, nor does it make a field "changed".
  r = run(
      d,
      {R"({"properties":{"phone":"2"},"Name":"Bo","id":"1","Email":"c@x","updated":"2024-01-05T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Email"});
}

TEST_CASE("missing, null and \"\" are three different values of a watched field") {
  memory_store store;
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email", "Name"}),
                                                               fixed_clock(at("2024-06-01T00:00:00Z")));
  run(d, {R"({"id":"1","Name":"A","updated":"2024-01-01T00:00:00Z"})"});
  batch_result r = run(d, {R"({"id":"1","Name":"A","Email":null,"updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Email"});  // missing -> null
  r = run(d, {R"({"id":"1","Name":"A","Email":"","updated":"2024-01-03T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Email"});  // null -> ""
  r = run(d, {R"({"id":"1","Name":null,"updated":"2024-01-04T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Email", "Name"});  // "" -> missing, "A" -> null
  r = run(d, {R"({"id":"1","Name":null,"updated":"2024-01-05T00:00:00Z"})"});
  CHECK(r.events.empty());
}

TEST_CASE("a watched-set change re-baselines with changed null; the state then keeps the new digests") {
  memory_store store;
  const fixed_clock clock(at("2024-06-01T00:00:00Z"));
  {
    change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email"}), clock);
    run(d, {base});
  }
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email", "Name"}), clock);
  batch_result r = run(d, {R"({"id":"1","Email":"b@x","Name":"Ann","updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].type == event_type::updated);
  CHECK(changed(r.events[0]) == std::nullopt);
  r = run(d, {R"({"id":"1","Email":"b@x","Name":"Bo","updated":"2024-01-03T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Name"});
}

TEST_CASE(
    "turned on later: digests are filled in silently on an unchanged sighting, the first change is null") {
  memory_store store;
  const fixed_clock clock(at("2024-06-01T00:00:00Z"));
  const char* second = R"({"id":"2","Email":"z@x","Name":"Zed","updated":"2024-01-01T00:00:00Z"})";
  {
    change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email", "Name"}, false),
                                                                 clock);
    batch_result r = run(d, {base, second});
    REQUIRE(r.events.size() == 2);
    CHECK_FALSE(r.events[0].changed.reported());
    CHECK(store.get_many("p", {"1"})[0]->fields.empty());  // off: nothing extra stored
  }
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email", "Name"}), clock);
  // Unchanged: no event, but the state gets its digests.
  batch_result r = run(d, {base});
  CHECK(r.events.empty());
  CHECK(r.stats.unchanged == 1);
  REQUIRE(r.pending.batch.upserts.size() == 1);
  CHECK(store.get_many("p", {"1"})[0]->fields.size() == 8);
  // Unchanged again: now nothing to write.
  r = run(d, {base});
  CHECK(r.pending.batch.upserts.empty());
  // The record never seen with the setting on: its first change is null.
  r = run(d, {R"({"id":"2","Email":"y@x","Name":"Zed","updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == std::nullopt);
  // The baselined one names its change.
  r = run(d, {R"({"id":"1","Email":"a@x","Name":"Al","updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Name"});
}

TEST_CASE("when no per-field digest differs although the hash does, every watched path is named") {
  memory_store store;
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email", "Name"}),
                                                               fixed_clock(at("2024-06-01T00:00:00Z")));
  run(d, {base});
  // A state whose record hash differs while its per-field digests are the record's: what a
  // collision of the short digests looks like.
  record_state s = *store.get_many("p", {"1"})[0];
  s.hash.low ^= 1;
  commit_batch b;
  b.upserts.emplace_back("1", s);
  store.commit("p", b);
  batch_result r = run(d, {base});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Email", "Name"});
}

TEST_CASE("per-field digests come from the hash algorithm, keyed as the record hash is") {
  hasher_settings h;
  h.watched = {"b", "a"};
  h.field_digests = true;
  const char* json = R"({"a":"x","b":null})";
  field_hasher<xxh3_64_keyed> one(h, xxh3_64_keyed("key one", "k1"));
  field_hasher<xxh3_64_keyed> two(h, xxh3_64_keyed("key two", "k2"));
  const std::string f1(one.read(json).value().fields);
  const std::string f2(two.read(json).value().fields);
  REQUIRE(f1.size() == 8);
  REQUIRE(f2.size() == 8);
  CHECK(f1.substr(0, 4) != f2.substr(0, 4));
  CHECK(f1.substr(4, 4) != f2.substr(4, 4));
  // Field "a" (first in canonical order) is the keyed digest of its canonical value: a string.
  const std::string value("\x05\x01\x00\x00\x00x", 6);
  const std::uint64_t d = xxh3_64_keyed("key one", "k1")
                              .hash(reinterpret_cast<const unsigned char*>(value.data()), value.size())
                              .low;
  CHECK(detail::get_le(f1.data(), 4) == (d & 0xFFFFFFFFu));
  // Off: none, and the record digest is the same either way.
  hasher_settings off = h;
  off.field_digests = false;
  field_hasher<xxh3_64_keyed> plain(off, xxh3_64_keyed("key one", "k1"));
  CHECK(plain.read(json).value().fields.empty());
  CHECK(plain.hash(json).value() == one.hash(json).value());
  CHECK(plain.fingerprint() == one.fingerprint());
}

TEST_CASE("a keyed detector names changes from keyed per-field digests") {
  memory_store store;
  using keyed = field_hasher<xxh3_64_keyed>;
  change_detector<memory_store, keyed, fixed_clock> d(store, "p", people({"Email", "Name"}),
                                                      fixed_clock(at("2024-06-01T00:00:00Z")),
                                                      xxh3_64_keyed("secret", "k1"));
  run(d, {base});
  const std::string stored = store.get_many("p", {"1"})[0]->fields;
  hasher_settings h;
  h.watched = {"Email", "Name"};
  h.field_digests = true;
  field_hasher<> unkeyed(h);
  CHECK(stored.size() == 8);
  CHECK(stored != std::string(unkeyed.read(base).value().fields));
  batch_result r = run(d, {R"({"id":"1","Email":"a@x","Name":"Bea","updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK(changed(r.events[0]) == paths{"Name"});
}

TEST_CASE("off: events report nothing and states keep no per-field digests") {
  memory_store store;
  change_detector<memory_store, field_hasher<>, fixed_clock> d(store, "p", people({"Email"}, false),
                                                               fixed_clock(at("2024-06-01T00:00:00Z")));
  run(d, {base});
  batch_result r = run(d, {R"({"id":"1","Email":"b@x","updated":"2024-01-02T00:00:00Z"})"});
  REQUIRE(r.events.size() == 1);
  CHECK_FALSE(r.events[0].changed.reported());
  CHECK(d.watched_names().empty());
  CHECK(store.get_many("p", {"1"})[0]->fields.empty());
}

TEST_CASE("the library refuses reportChanges without watched fields") {
  memory_store store;
  resource_settings s = people({});
  CHECK_THROWS_AS(change_detector<memory_store>(store, "p", s), invalid_config);
}
