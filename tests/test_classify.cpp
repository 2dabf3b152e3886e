// The classification rules, as a pure function: every row of the table without a store.
#include <sincehash/classify.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <optional>

using namespace sincehash;
using namespace std::chrono_literals;

namespace {

instant at(const char* iso) { return parse_iso8601(iso).value(); }

const instant now = at("2024-06-01T12:00:00Z");

record_state stored(std::uint64_t hash, const char* updated, std::uint32_t fingerprint = 7) {
  record_state s;
  s.hash = digest{hash, 0, 64};
  s.fingerprint = fingerprint;
  s.updated = at(updated);
  s.last_seen = at("2024-05-01T00:00:00Z");
  return s;
}

record_facts facts(std::uint64_t hash, const char* updated, const char* created = nullptr) {
  record_facts f;
  f.hash = digest{hash, 0, 64};
  f.updated = at(updated);
  if (created != nullptr) f.created = at(created);
  return f;
}

decide_settings settings(bool created_field = false, std::optional<instant> offset = std::nullopt) {
  decide_settings s;
  s.fingerprint = 7;
  s.created_field = created_field;
  s.stored_offset = offset;
  return s;
}

}  // namespace

TEST_CASE("decide: a first sighting is dispatched and written") {
  const decision d = decide(nullptr, facts(1, "2024-05-02T00:00:00Z"), settings(), now);
  CHECK(d.outcome == record_outcome::created);
  CHECK(d.dispatch());
  CHECK(d.write);
  CHECK(d.next.hash == digest{1, 0, 64});
  CHECK(d.next.fingerprint == 7);
  CHECK(d.next.updated == at("2024-05-02T00:00:00Z"));
  CHECK(d.next.last_seen == now);
  CHECK_FALSE(d.next.expires.has_value());
}

TEST_CASE("decide: created vs updated at first sighting follows the created date") {
  const auto off = std::optional<instant>(at("2024-05-10T00:00:00Z"));
  // created == updated: created, with or without an offset
  CHECK(decide(nullptr, facts(1, "2024-05-02T00:00:00Z", "2024-05-02T00:00:00Z"), settings(true), now)
            .outcome == record_outcome::created);
  // created before updated, no offset stored: updated (it existed before the first poll)
  CHECK(decide(nullptr, facts(1, "2024-05-12T00:00:00Z", "2024-05-01T00:00:00Z"), settings(true), now)
            .outcome == record_outcome::updated);
  // created at or after the stored offset: created
  CHECK(decide(nullptr, facts(1, "2024-05-12T00:00:00Z", "2024-05-10T00:00:00Z"), settings(true, off), now)
            .outcome == record_outcome::created);
  // created before the stored offset: updated
  CHECK(decide(nullptr, facts(1, "2024-05-12T00:00:00Z", "2024-05-09T23:59:59Z"), settings(true, off), now)
            .outcome == record_outcome::updated);
  // a created field configured but absent in the record: created
  CHECK(decide(nullptr, facts(1, "2024-05-12T00:00:00Z"), settings(true, off), now).outcome ==
        record_outcome::created);
}

TEST_CASE("decide: a record with a stored state is never created again") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z");
  const auto off = std::optional<instant>(at("2024-05-01T00:00:00Z"));
  // created == updated and created after the offset would make a first sighting `created`
  const decision d =
      decide(&prior, facts(2, "2024-05-03T00:00:00Z", "2024-05-03T00:00:00Z"), settings(true, off), now);
  CHECK(d.outcome == record_outcome::updated);
  CHECK(d.write);
}

TEST_CASE("decide: an expired state counts as never seen") {
  record_state prior = stored(1, "2024-05-02T00:00:00Z");
  prior.expires = now;  // expiry not after now: expired
  CHECK(decide(&prior, facts(1, "2024-05-02T00:00:00Z"), settings(), now).outcome == record_outcome::created);
  prior.expires = now + 1ns;
  CHECK(decide(&prior, facts(1, "2024-05-02T00:00:00Z"), settings(), now).outcome ==
        record_outcome::unchanged);
}

TEST_CASE("decide: older than stored is stale and writes nothing, whatever the hash") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z");
  for (std::uint64_t h : {1u, 2u}) {
    const decision d = decide(&prior, facts(h, "2024-05-01T23:59:59Z"), settings(), now);
    CHECK(d.outcome == record_outcome::stale);
    CHECK_FALSE(d.write);
  }
}

TEST_CASE("decide: the same hash is unchanged; a newer date is still written") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z");
  const decision same = decide(&prior, facts(1, "2024-05-02T00:00:00Z"), settings(), now);
  CHECK(same.outcome == record_outcome::unchanged);
  CHECK_FALSE(same.write);
  const decision newer = decide(&prior, facts(1, "2024-05-03T00:00:00Z"), settings(), now);
  CHECK(newer.outcome == record_outcome::unchanged);
  CHECK(newer.write);
  CHECK(newer.next.updated == at("2024-05-03T00:00:00Z"));
}

TEST_CASE("decide: an unchanged record refreshes its TTL at most once per quarter") {
  record_state prior = stored(1, "2024-05-02T00:00:00Z");
  decide_settings s = settings();
  s.ttl = std::chrono::hours(100);
  prior.expires = now + std::chrono::hours(90);  // set 10 h ago: not due
  CHECK_FALSE(decide(&prior, facts(1, "2024-05-02T00:00:00Z"), s, now).write);
  prior.expires = now + std::chrono::hours(75);  // set 25 h ago: due
  const decision d = decide(&prior, facts(1, "2024-05-02T00:00:00Z"), s, now);
  CHECK(d.write);
  CHECK(d.next.expires == now + std::chrono::hours(100));
}

TEST_CASE("decide: a changed hash is updated") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z");
  const decision d = decide(&prior, facts(2, "2024-05-02T00:00:00Z"), settings(), now);
  CHECK(d.outcome == record_outcome::updated);
  CHECK(d.write);
}

TEST_CASE("decide: another fingerprint re-baselines silently unless the record is newer") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z", 3);
  const decision same_date = decide(&prior, facts(2, "2024-05-02T00:00:00Z"), settings(), now);
  CHECK(same_date.outcome == record_outcome::rebaselined);
  CHECK_FALSE(same_date.dispatch());
  CHECK(same_date.write);
  CHECK(same_date.next.fingerprint == 7);
  const decision newer = decide(&prior, facts(2, "2024-05-03T00:00:00Z"), settings(), now);
  CHECK(newer.outcome == record_outcome::updated);
  CHECK(newer.write);
}

TEST_CASE("decide: a record without an updated date keeps the stored one") {
  const record_state prior = stored(1, "2024-05-02T00:00:00Z");
  record_facts f;
  f.hash = digest{1, 0, 64};
  decide_settings s = settings();
  s.ttl = std::chrono::hours(1);
  const decision d = decide(&prior, f, s, now);
  CHECK(d.outcome == record_outcome::unchanged);
  CHECK(d.write);  // no expiry yet: the TTL is set
  CHECK(d.next.updated == prior.updated);
}
