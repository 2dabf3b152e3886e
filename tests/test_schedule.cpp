#include <sincehash/schedule.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace sincehash;

namespace {

instant at(const char* iso) { return parse_iso8601(iso).value(); }

std::string next(const char* expr, const char* after, const time_zone& zone = time_zone::utc()) {
  auto c = cron_schedule::parse(expr);
  if (!c) return "parse error: " + c.error().describe();
  auto n = c->next_after(at(after), zone);
  return n ? format_rfc3339(*n, 0) : std::string("never");
}

}  // namespace

TEST_CASE("published examples: crontab(5), Quartz CronTrigger, Sesam") {
  struct vector {
    const char* expr;
    const char* after;
    const char* expected;
  };
  // Expected values worked out on a calendar: 2024-03-01 is a Friday, 2024 is a leap year.
  const vector vectors[] = {
      {"0 0 ? * *", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},  // Sesam: daily at midnight
      {"*/15 * * * *", "2024-03-01T10:07:00Z", "2024-03-01T10:15:00Z"},
      {"5/15 * * * *", "2024-03-01T10:36:00Z", "2024-03-01T10:50:00Z"},
      {"0 15 10 L * ?", "2024-02-10T00:00:00Z", "2024-02-29T10:15:00Z"},  // last day of month
      {"0 15 10 L-2 * ?", "2024-02-10T00:00:00Z", "2024-02-27T10:15:00Z"},
      {"0 15 10 ? * 6L", "2024-03-01T11:00:00Z", "2024-03-29T10:15:00Z"},   // last Friday
      {"0 15 10 ? * 6#3", "2024-03-01T00:00:00Z", "2024-03-15T10:15:00Z"},  // third Friday
      {"0 0 12 1/5 * ?", "2024-03-02T00:00:00Z", "2024-03-06T12:00:00Z"},   // every 5 days from the 1st
      {"0 11 11 11 11 ?", "2024-03-01T00:00:00Z", "2024-11-11T11:11:00Z"},
      {"0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},     // leap day
      {"0 0 0 1W * ?", "2024-05-15T00:00:00Z", "2024-06-03T00:00:00Z"},   // June 1 is a Saturday
      {"0 0 0 15W * ?", "2024-06-02T00:00:00Z", "2024-06-14T00:00:00Z"},  // June 15 is a Saturday
      {"0 0 0 LW * ?", "2024-03-01T00:00:00Z", "2024-03-29T00:00:00Z"},   // March 31 is a Sunday
      {"0 0 13 * 5", "2024-03-02T00:00:00Z", "2024-03-08T00:00:00Z"},     // the 13th OR a Friday
      {"0 0 13 * 5", "2024-03-09T00:00:00Z", "2024-03-13T00:00:00Z"},
      {"0 9 * JAN-MAR mon-FRI", "2024-03-29T09:00:00Z", "2025-01-01T09:00:00Z"},
      {"0 0 * * 7", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},    // 7 is Sunday too
      {"0 0 0 ? * 1", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},  // Quartz: 1 is Sunday
      {"0 0 0 ? * SUN", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"@hourly", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z"},
      {"@weekly", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"@monthly", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"},
      {"@yearly", "2024-03-01T00:00:00Z", "2025-01-01T00:00:00Z"},
      {"30 * * * * ?", "2024-03-01T10:00:30Z", "2024-03-01T10:01:30Z"},  // seconds field, strictly after
      {"0 0 0 1 1 ? 2030", "2024-03-01T00:00:00Z", "2030-01-01T00:00:00Z"},
      {"0 0 0 1 1 ? 2020", "2024-03-01T00:00:00Z", "never"},  // a year in the past
      {"0 0 30 2 *", "2024-03-01T00:00:00Z", "never"},        // February 30
      {"0 0 31 4,6,9,11 *", "2024-03-01T00:00:00Z", "never"},
      {"59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z"},
  };
  for (const auto& v : vectors) {
    const std::string what = std::string(v.expr) + " after " + v.after;
    INFO(what);
    CHECK(next(v.expr, v.after) == std::string(v.expected));
  }
}

TEST_CASE("bad expressions name the field and the position") {
  struct bad_vector {
    const char* expr;
    const char* field;
    std::size_t position;
  };
  const bad_vector vectors[] = {
      {"61 * * * *", "minute", 0},   {"* 24 * * *", "hour", 2},          {"* * 0 * *", "day-of-month", 4},
      {"* * * 13 *", "month", 6},    {"* * * * 8", "day-of-week", 8},    {"* * * FOO *", "month", 6},
      {"5-1 * * * *", "minute", 0},  {"* * * * * * * *", "", 0},         {"0 0 0 1 * 2", "day-of-week", 10},
      {"? * * * *", "minute", 0},    {"*/0 * * * *", "minute", 2},       {"@sometimes", "", 0},
      {"1,,2 * * * *", "minute", 2}, {"0 0 0 ? * 8", "day-of-week", 10}, {"* * * * *,", "day-of-week", 10},
  };
  for (const auto& v : vectors) {
    const std::string what = v.expr;
    INFO(what);
    auto c = cron_schedule::parse(v.expr);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code == errc::parse_error);
    CHECK(c.error().message.find(v.field) != std::string::npos);
    CHECK(c.error().position == v.position);
  }
}

TEST_CASE("in a zone: daylight-saving gaps shift forward, overlaps fire once") {
  auto oslo = time_zone::locate("Europe/Oslo");
  if (!oslo) {
    MESSAGE("no tz database: zone cases skipped");
    return;
  }
  // 2024-03-31 02:00 CET jumps to 03:00 CEST: 02:30 does not exist and fires at 03:30 CEST.
  CHECK(next("30 2 * * *", "2024-03-30T12:00:00Z", *oslo) == "2024-03-31T01:30:00Z");
  CHECK(next("30 2 * * *", "2024-03-31T01:30:00Z", *oslo) == "2024-04-01T00:30:00Z");  // 02:30 CEST
  // 2024-10-27 03:00 CEST falls back to 02:00 CET: 02:30 happens twice and fires once.
  CHECK(next("30 2 * * *", "2024-10-26T12:00:00Z", *oslo) == "2024-10-27T00:30:00Z");
  CHECK(next("30 2 * * *", "2024-10-27T00:30:00Z", *oslo) == "2024-10-28T01:30:00Z");
  // Midnight in Oslo is 23:00Z the day before in winter.
  CHECK(next("0 0 ? * *", "2024-01-10T12:00:00Z", *oslo) == "2024-01-10T23:00:00Z");
}

TEST_CASE("rescan schedules: cron or interval, and when one is due") {
  auto daily = rescan_schedule::parse("0 0 ? * *");
  REQUIRE(daily);
  CHECK(daily->is_cron());
  CHECK(daily->due(std::nullopt, at("2024-03-01T10:00:00Z")));  // never rescanned
  CHECK_FALSE(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-01T23:59:59Z")));
  CHECK(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-02T00:00:00Z")));

  for (const char* text : {"PT6H", "21600"}) {
    auto every6h = rescan_schedule::parse(text);
    REQUIRE(every6h);
    CHECK_FALSE(every6h->is_cron());
    CHECK_FALSE(every6h->due(at("2024-03-01T00:00:00Z"), at("2024-03-01T05:59:59Z")));
    CHECK(every6h->due(at("2024-03-01T00:00:00Z"), at("2024-03-01T06:00:00Z")));
    CHECK(format_rfc3339(*every6h->next_after(at("2024-03-01T00:00:00Z")), 0) == "2024-03-01T06:00:00Z");
  }
  CHECK_FALSE(rescan_schedule::parse("P1M").has_value());  // months have no fixed length
  CHECK_FALSE(rescan_schedule::parse("0").has_value());    // no zero period
  CHECK_FALSE(rescan_schedule::parse("every day").has_value());
}
