#include <sincehash/schedule.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <optional>
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

struct vector {
  const char* expr;
  const char* after;
  const char* expected;
};

void check_all(const vector* begin, const vector* end, const time_zone& zone = time_zone::utc()) {
  for (const vector* v = begin; v != end; ++v) {
    const std::string what = std::string(v->expr) + " after " + v->after;
    INFO(what);
    CHECK(next(v->expr, v->after, zone) == std::string(v->expected));
  }
}

}  // namespace

// Expected values below were worked out on a calendar, not by running the code: 2024 is a leap
// year; 2024-03-01 is a Friday, 2024-04-01 a Monday, 2024-06-01 a Saturday, 2024-09-01 a Sunday,
// 2025-02-01 and 2025-03-01 Saturdays, 2025-11-01 a Saturday, 2026-02-01 a Sunday.

TEST_CASE("crontab(5) examples and the Unix dialect") {
  const vector vectors[] = {
      // "run five minutes after midnight, every day"
      {"5 0 * * *", "2024-03-01T00:05:00Z", "2024-03-02T00:05:00Z"},
      {"5 0 * * *", "2024-03-01T00:04:59Z", "2024-03-01T00:05:00Z"},
      // "run at 2:15pm on the first of every month"
      {"15 14 1 * *", "2024-03-01T14:15:00Z", "2024-04-01T14:15:00Z"},
      // "run at 10 pm on weekdays": Friday the 1st, then Monday the 4th
      {"0 22 * * 1-5", "2024-03-01T22:00:00Z", "2024-03-04T22:00:00Z"},
      // "run 23 minutes after midn, 2am, 4am ..., everyday"
      {"23 0-23/2 * * *", "2024-03-01T22:23:00Z", "2024-03-02T00:23:00Z"},
      {"23 0-23/2 * * *", "2024-03-01T00:24:00Z", "2024-03-01T02:23:00Z"},
      // "run at 5 after 4 every sunday"
      {"5 4 * * sun", "2024-03-01T00:00:00Z", "2024-03-03T04:05:00Z"},
      // "30 4 1,15 * 5": 4:30 on the 1st and 15th of each month, plus every Friday
      {"30 4 1,15 * 5", "2024-03-01T04:30:00Z", "2024-03-08T04:30:00Z"},
      {"30 4 1,15 * 5", "2024-03-09T00:00:00Z", "2024-03-15T04:30:00Z"},
      {"30 4 1,15 * 5", "2024-03-15T04:30:00Z", "2024-03-22T04:30:00Z"},
      {"30 4 1,15 * 5", "2024-03-29T04:30:00Z", "2024-04-01T04:30:00Z"},
      // A day field starting with '*' is unrestricted: both must match (odd days that are Mondays:
      // March 2024's Mondays are 4, 11, 18, 25).
      {"0 0 */2 * 1", "2024-03-01T00:00:00Z", "2024-03-11T00:00:00Z"},
      {"0 0 13 * 5", "2024-03-02T00:00:00Z", "2024-03-08T00:00:00Z"},  // the 13th OR a Friday
      {"0 0 13 * 5", "2024-03-09T00:00:00Z", "2024-03-13T00:00:00Z"},
      // Sesam's daily rescan: `?` as "any" in a 5-field expression
      {"0 0 ? * *", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},
      {"0 0 ? * *", "2024-02-28T23:59:59Z", "2024-02-29T00:00:00Z"},
      {"0 0 * * ?", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},
      // steps
      {"*/15 * * * *", "2024-03-01T10:07:00Z", "2024-03-01T10:15:00Z"},
      {"*/15 * * * *", "2024-03-01T10:45:00Z", "2024-03-01T11:00:00Z"},
      {"5/15 * * * *", "2024-03-01T10:36:00Z", "2024-03-01T10:50:00Z"},
      {"10-50/20 * * * *", "2024-03-01T10:31:00Z", "2024-03-01T10:50:00Z"},
      {"10-50/20 * * * *", "2024-03-01T10:50:00Z", "2024-03-01T11:10:00Z"},
      // 0 and 7 are both Sunday; names in any case
      {"0 0 * * 7", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"0 0 * * 0", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"0 0 * * 6-7", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"},
      {"0 9 * jan-Mar Mon-fri", "2024-03-29T09:00:00Z", "2025-01-01T09:00:00Z"},
      {"0 0 1 feb,JUN *", "2024-03-01T00:00:00Z", "2024-06-01T00:00:00Z"},
      // leap days: 2100 is not a leap year
      {"0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
      {"0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
      // year and month ends
      {"59 23 31 12 *", "2024-12-31T23:59:00Z", "2025-12-31T23:59:00Z"},
      {"0 0 1 1 *", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"},
      {"0 0 31 * *", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z"},
      // before 1970
      {"* * * * *", "1969-12-31T23:59:30Z", "1970-01-01T00:00:00Z"},
      // never
      {"0 0 30 2 *", "2024-03-01T00:00:00Z", "never"},
      {"0 0 31 4,6,9,11 *", "2024-03-01T00:00:00Z", "never"},
  };
  check_all(std::begin(vectors), std::end(vectors));
}

TEST_CASE("Quartz CronTrigger tutorial examples") {
  const vector vectors[] = {
      {"0 0 12 * * ?", "2024-03-01T12:00:00Z", "2024-03-02T12:00:00Z"},
      {"0 15 10 ? * *", "2024-03-01T10:00:00Z", "2024-03-01T10:15:00Z"},
      {"0 15 10 * * ? 2005", "2024-03-01T00:00:00Z", "never"},  // a year in the past
      {"0 * 14 * * ?", "2024-03-01T14:59:00Z", "2024-03-02T14:00:00Z"},
      {"0 0/5 14 * * ?", "2024-03-01T14:55:00Z", "2024-03-02T14:00:00Z"},
      {"0 0/5 14,18 * * ?", "2024-03-01T14:55:00Z", "2024-03-01T18:00:00Z"},
      {"0 0-5 14 * * ?", "2024-03-01T14:04:30Z", "2024-03-01T14:05:00Z"},
      // March Wednesdays: 2024-03-06; the next year's first is 2025-03-05
      {"0 10,44 14 ? 3 WED", "2024-03-01T00:00:00Z", "2024-03-06T14:10:00Z"},
      {"0 10,44 14 ? 3 WED", "2024-03-27T14:44:00Z", "2025-03-05T14:10:00Z"},
      {"0 15 10 ? * MON-FRI", "2024-03-01T10:15:00Z", "2024-03-04T10:15:00Z"},
      {"0 15 10 15 * ?", "2024-03-15T10:15:00Z", "2024-04-15T10:15:00Z"},
      // L: the last day of the month
      {"0 15 10 L * ?", "2024-02-10T00:00:00Z", "2024-02-29T10:15:00Z"},
      {"0 15 10 L * ?", "2025-02-10T00:00:00Z", "2025-02-28T10:15:00Z"},
      {"0 15 10 L * ?", "2024-04-30T10:15:00Z", "2024-05-31T10:15:00Z"},
      // L-n: n days before the last
      {"0 15 10 L-2 * ?", "2024-02-10T00:00:00Z", "2024-02-27T10:15:00Z"},
      {"0 15 10 L-2 * ?", "2024-03-01T00:00:00Z", "2024-03-29T10:15:00Z"},
      // 6L: the last Friday (March 2024: the 29th; April 2024: the 26th)
      {"0 15 10 ? * 6L", "2024-03-01T11:00:00Z", "2024-03-29T10:15:00Z"},
      {"0 15 10 ? * 6L", "2024-03-29T10:15:00Z", "2024-04-26T10:15:00Z"},
      {"0 15 10 ? * FRIL", "2024-03-01T11:00:00Z", "2024-03-29T10:15:00Z"},
      {"0 15 10 ? * 6L 2002-2005", "2024-03-01T00:00:00Z", "never"},
      // 6#3: the third Friday (March 2024: the 15th; April 2024: the 19th)
      {"0 15 10 ? * 6#3", "2024-03-01T00:00:00Z", "2024-03-15T10:15:00Z"},
      {"0 15 10 ? * 6#3", "2024-03-15T10:15:00Z", "2024-04-19T10:15:00Z"},
      // 5#1 and 5#3: the first and third Thursdays of March 2024 are the 7th and the 21st
      {"0 0 0 ? * 5#1", "2024-03-01T00:00:00Z", "2024-03-07T00:00:00Z"},
      {"0 0 0 ? * THU#3", "2024-03-08T00:00:00Z", "2024-03-21T00:00:00Z"},
      // 2#5: a fifth Monday (January 2024 has one, on the 29th; then April 29th)
      {"0 0 12 ? * 2#5", "2024-01-01T00:00:00Z", "2024-01-29T12:00:00Z"},
      {"0 0 12 ? * MON#5", "2024-02-01T00:00:00Z", "2024-04-29T12:00:00Z"},
      // every 5 days from the 1st: 1, 6, ..., 26, 31
      {"0 0 12 1/5 * ?", "2024-03-02T00:00:00Z", "2024-03-06T12:00:00Z"},
      {"0 0 12 1/5 * ?", "2024-03-26T12:00:00Z", "2024-03-31T12:00:00Z"},
      {"0 0 12 1/5 * ?", "2024-04-26T12:00:00Z", "2024-05-01T12:00:00Z"},
      {"0 11 11 11 11 ?", "2024-03-01T00:00:00Z", "2024-11-11T11:11:00Z"},
      {"0 11 11 11 11 ?", "2024-11-11T11:11:00Z", "2025-11-11T11:11:00Z"},
      // Quartz counts Sunday as 1 and Saturday as 7; `L` alone is Saturday
      {"0 0 0 ? * 1", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"0 0 0 ? * 7", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"},
      {"0 0 0 ? * SUN", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"0 0 0 ? * L", "2024-03-03T00:00:00Z", "2024-03-09T00:00:00Z"},
      // seconds
      {"30 * * * * ?", "2024-03-01T10:00:30Z", "2024-03-01T10:01:30Z"},
      {"*/20 * * * * ?", "2024-03-01T10:00:41Z", "2024-03-01T10:01:00Z"},
      {"* * * * * ?", "2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z"},
      // years
      {"0 0 0 1 1 ? 2030", "2024-03-01T00:00:00Z", "2030-01-01T00:00:00Z"},
      {"0 0 0 1 1 ? 2024-2026/2", "2024-03-01T00:00:00Z", "2026-01-01T00:00:00Z"},
      {"0 0 0 29 2 ? 2025-2027", "2024-03-01T00:00:00Z", "never"},
      {"0 0 0 1 1 ? *", "2024-03-01T00:00:00Z", "2025-01-01T00:00:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors));
}

TEST_CASE("W: the nearest weekday, never across the month's edge") {
  const vector vectors[] = {
      // 2024-06-01 is a Saturday: 1W is Monday the 3rd, not Friday May 31st
      {"0 0 0 1W * ?", "2024-05-15T00:00:00Z", "2024-06-03T00:00:00Z"},
      // 2024-09-01 is a Sunday: Monday the 2nd
      {"0 0 0 1W * ?", "2024-08-15T00:00:00Z", "2024-09-02T00:00:00Z"},
      // 2025-02-01 is a Saturday: Monday the 3rd
      {"0 0 0 1W * ?", "2025-01-15T00:00:00Z", "2025-02-03T00:00:00Z"},
      // a weekday is itself: 2024-03-01 is a Friday
      {"0 0 0 1W * ?", "2024-02-15T00:00:00Z", "2024-03-01T00:00:00Z"},
      // 2024-06-15 is a Saturday: Friday the 14th; 2024-09-15 a Sunday: Monday the 16th
      {"0 0 0 15W * ?", "2024-06-02T00:00:00Z", "2024-06-14T00:00:00Z"},
      {"0 0 0 15W * ?", "2024-09-02T00:00:00Z", "2024-09-16T00:00:00Z"},
      // 2025-11-30 is a Sunday and the month's last day: Friday the 28th
      {"0 0 0 30W * ?", "2025-11-01T00:00:00Z", "2025-11-28T00:00:00Z"},
      // 31W fires only in months with a 31st: none in April, May 31st 2024 is a Friday
      {"0 0 0 31W * ?", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z"},
      {"0 0 0 30W 2 ?", "2024-01-01T00:00:00Z", "never"},
      // LW: the last weekday. 2024-03-31 is a Sunday: Friday the 29th; 2024-06-30 a Sunday:
      // Friday the 28th; 2026-02-28 a Saturday: Friday the 27th; 2025-03-31 a Monday: itself
      {"0 0 0 LW * ?", "2024-03-01T00:00:00Z", "2024-03-29T00:00:00Z"},
      {"0 0 0 LW * ?", "2024-06-01T00:00:00Z", "2024-06-28T00:00:00Z"},
      {"0 0 0 LW * ?", "2026-02-01T00:00:00Z", "2026-02-27T00:00:00Z"},
      {"0 0 0 LW * ?", "2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z"},
      {"0 0 0 lw * ?", "2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors));
}

TEST_CASE("macros") {
  const vector vectors[] = {
      {"@hourly", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z"},
      {"@daily", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},
      {"@midnight", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},
      {" @DAILY ", "2024-03-01T10:00:00Z", "2024-03-02T00:00:00Z"},
      {"@weekly", "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
      {"@monthly", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"},
      {"@yearly", "2024-03-01T00:00:00Z", "2025-01-01T00:00:00Z"},
      {"@annually", "2024-03-01T00:00:00Z", "2025-01-01T00:00:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors));
  auto c = cron_schedule::parse("@Daily");
  REQUIRE(c);
  CHECK(c->text() == "@Daily");
  CHECK_FALSE(c->is_quartz());
}

TEST_CASE("next_after is strictly after t, at whole seconds, and stops at the end of the instant range") {
  auto c = cron_schedule::parse("0 10 * * *");
  REQUIRE(c);
  const instant ten = at("2024-03-01T10:00:00Z");
  CHECK(c->next_after(ten - std::chrono::milliseconds(500)) == ten);
  CHECK(c->next_after(ten) == at("2024-03-02T10:00:00Z"));
  CHECK(c->next_after(ten + std::chrono::nanoseconds(1)) == at("2024-03-02T10:00:00Z"));
  CHECK(c->next_after(instant::max()) == std::nullopt);
  CHECK(c->next_after(at("2262-04-10T00:00:00Z")) == at("2262-04-10T10:00:00Z"));
  CHECK(c->next_after(at("2262-04-11T10:00:00Z")) == std::nullopt);  // 2262-04-12 is beyond instant
  auto yearly = cron_schedule::parse("@yearly");
  REQUIRE(yearly);
  CHECK(yearly->next_after(at("2261-06-01T00:00:00Z")) == at("2262-01-01T00:00:00Z"));
  CHECK(yearly->next_after(at("2262-01-01T00:00:00Z")) == std::nullopt);  // 2263 is beyond instant
  // Impossible expressions give up without scanning forever.
  for (const char* never : {"0 0 30 2 *", "0 0 0 30W 2 ?", "0 0 0 29 2 ? 2100", "0 0 0 L-30 2 ?"}) {
    INFO(never);
    auto n = cron_schedule::parse(never);
    REQUIRE(n);
    CHECK(n->next_after(instant::min()) == std::nullopt);
  }
}

TEST_CASE("bad expressions name the field and the byte position") {
  struct bad_vector {
    const char* expr;
    const char* field;
    std::size_t position;
  };
  const bad_vector vectors[] = {
      {"61 * * * *", "minute", 0},
      {"* 24 * * *", "hour", 2},
      {"* * 0 * *", "day-of-month", 4},
      {"* * 32 * *", "day-of-month", 4},
      {"* * * 13 *", "month", 6},
      {"* * * FOO *", "month", 6},
      {"* * * * 8", "day-of-week", 8},
      {"* * * * MOX", "day-of-week", 8},
      {"5-1 * * * *", "minute", 0},
      {"1-70 * * * *", "minute", 2},
      {"? * * * *", "minute", 0},
      {"*/0 * * * *", "minute", 2},
      {"1,,2 * * * *", "minute", 2},
      {"* * * * *,", "day-of-week", 10},
      {"a * * * *", "minute", 0},
      {"  61 * * * *", "minute", 2},
      {"* * * * * * * *", "fields", 14},
      {"* * * *", "fields", 0},
      {"", "fields", 0},
      {"@sometimes", "macro", 0},
      {"0 0 0 1 * 2", "day-of-week", 10},  // Quartz: both day fields restricted
      {"0 0 0 ? * 8", "day-of-week", 10},
      {"0 0 0 ? * 0", "day-of-week", 10},  // Quartz counts 1-7
      {"0 0 0 ? * 6#6", "day-of-week", 12},
      {"0 0 0 ? * 6#", "day-of-week", 12},
      {"0 0 0 L-31 * ?", "day-of-month", 8},
      {"0 0 0 32W * ?", "day-of-month", 6},
      {"0 0 0 1 * ? 1969", "year", 12},
      {"0 0 0 1 * ? 2300", "year", 12},
      {"60 0 0 1 * ?", "second", 0},
      {"0 0 0 1 ? ?", "month", 8},
  };
  for (const auto& v : vectors) {
    const std::string what = v.expr;
    INFO(what);
    auto c = cron_schedule::parse(v.expr);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code == errc::parse_error);
    INFO(c.error().message);
    CHECK(c.error().message.find(v.field) != std::string::npos);
    CHECK(c.error().position == v.position);
  }
}

TEST_CASE("in a zone: a skipped time fires at the end of the gap, a repeated one fires once") {
  auto oslo = time_zone::locate("Europe/Oslo");
  if (!oslo) {
    MESSAGE("no tz database: zone cases skipped");
    return;
  }
  // Europe/Oslo 2024: 2024-03-31 02:00 CET (01:00Z) jumps to 03:00 CEST; 2024-10-27 03:00 CEST
  // (01:00Z) falls back to 02:00 CET.
  const vector vectors[] = {
      // 02:30 does not exist on March 31st: it fires at the first instant after the gap, 03:00
      // CEST; the next day at 02:30 CEST.
      {"30 2 * * *", "2024-03-30T12:00:00Z", "2024-03-31T01:00:00Z"},
      {"30 2 * * *", "2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"},
      // 02:30 and 03:30: the first at the gap's end, the second on time
      {"30 2,3 * * *", "2024-03-30T12:00:00Z", "2024-03-31T01:00:00Z"},
      {"30 2,3 * * *", "2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z"},
      // every quarter hour: 01:45 CET, then the four skipped times fire once at 03:00 CEST
      {"*/15 * * * *", "2024-03-31T00:40:00Z", "2024-03-31T00:45:00Z"},
      {"*/15 * * * *", "2024-03-31T00:45:00Z", "2024-03-31T01:00:00Z"},
      {"*/15 * * * *", "2024-03-31T01:00:00Z", "2024-03-31T01:15:00Z"},
      // 02:30 happens twice on October 27th: it fires at the first, 02:30 CEST
      {"30 2 * * *", "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z"},
      {"30 2 * * *", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"},
      // every minute / hour: the repeated stretch (02:00-02:59 CET) does not fire again
      {"* * * * *", "2024-10-27T00:58:00Z", "2024-10-27T00:59:00Z"},
      {"* * * * *", "2024-10-27T00:59:00Z", "2024-10-27T02:00:00Z"},
      {"* * * * *", "2024-10-27T01:10:00Z", "2024-10-27T02:00:00Z"},  // from inside the repeat
      {"0 * * * *", "2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z"},
      {"0 3 * * *", "2024-10-27T00:30:00Z", "2024-10-27T02:00:00Z"},
      // midnight in Oslo is 23:00Z the day before in winter, 22:00Z in summer
      {"0 0 ? * *", "2024-01-10T12:00:00Z", "2024-01-10T23:00:00Z"},
      {"0 0 ? * *", "2024-07-10T12:00:00Z", "2024-07-10T22:00:00Z"},
      // day of week and month are those of the local date: Monday 2024-03-04 00:00 CET
      {"0 0 * * MON", "2024-03-01T00:00:00Z", "2024-03-03T23:00:00Z"},
      {"@monthly", "2024-03-01T00:00:00Z", "2024-03-31T22:00:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors), *oslo);
}

TEST_CASE("in a zone: transitions at midnight move the day's start") {
  auto sao_paulo = time_zone::locate("America/Sao_Paulo");
  if (!sao_paulo) {
    MESSAGE("no tz database: zone cases skipped");
    return;
  }
  // America/Sao_Paulo 2018: 2018-11-04 00:00 -03 (03:00Z) jumps to 01:00 -02, so that day has no
  // midnight; 2018-02-18 00:00 -02 (02:00Z) falls back to 2018-02-17 23:00 -03.
  const vector vectors[] = {
      {"0 0 * * *", "2018-11-03T12:00:00Z", "2018-11-04T03:00:00Z"},
      {"0 0 * * *", "2018-11-04T03:00:00Z", "2018-11-05T02:00:00Z"},
      {"0 0 4 11 *", "2018-01-01T00:00:00Z", "2018-11-04T03:00:00Z"},
      {"30 23 * * *", "2018-02-17T12:00:00Z", "2018-02-18T01:30:00Z"},  // 23:30 -02, the first
      {"30 23 * * *", "2018-02-18T01:30:00Z", "2018-02-19T02:30:00Z"},  // the next day, -03
      {"0 0 * * *", "2018-02-17T12:00:00Z", "2018-02-18T03:00:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors), *sao_paulo);
}

TEST_CASE("in a zone: a year of quarter hours fires once per wall-clock time, in order") {
  auto oslo = time_zone::locate("Europe/Oslo");
  if (!oslo) {
    MESSAGE("no tz database: zone cases skipped");
    return;
  }
  auto c = cron_schedule::parse("*/15 * * * *");
  REQUIRE(c);
  // Local 2024-01-01 00:00 to 2024-12-31 23:45 Oslo time: 366 days of 96 wall-clock times, less
  // the four skipped on March 31st that fire once together at 03:00 CEST.
  const instant start = at("2023-12-31T22:59:59Z");
  const instant end = at("2024-12-31T22:59:59Z");
  std::size_t count = 0;
  instant previous = start;
  for (auto n = c->next_after(start, *oslo); n && *n <= end; n = c->next_after(*n, *oslo)) {
    REQUIRE(*n > previous);
    previous = *n;
    ++count;
  }
  CHECK(count == 366 * 96 - 4);
}

TEST_CASE("fixed-offset zones") {
  auto india = time_zone::locate("+05:30");
  REQUIRE(india);
  const vector vectors[] = {
      {"0 9 * * *", "2024-03-01T00:00:00Z", "2024-03-01T03:30:00Z"},
      {"0 0 1 * *", "2024-03-01T00:00:00Z", "2024-03-31T18:30:00Z"},
  };
  check_all(std::begin(vectors), std::end(vectors), *india);
}

TEST_CASE("interval schedules") {
  auto every = interval_schedule::parse("PT6H");
  REQUIRE(every);
  CHECK(every->period() == std::chrono::hours(6));
  CHECK(every->next_after(at("2024-03-01T01:02:03Z")) == at("2024-03-01T07:02:03Z"));
  CHECK(every->next_after(instant::max()) == std::nullopt);
  CHECK(interval_schedule::parse("P1D")->period() == std::chrono::hours(24));
  CHECK(interval_schedule::parse("86400")->period() == std::chrono::hours(24));
  CHECK(interval_schedule::every(std::chrono::nanoseconds(0)).error().code == errc::invalid_argument);
  CHECK(interval_schedule::every(std::chrono::seconds(-1)).error().code == errc::invalid_argument);
  CHECK(interval_schedule::parse("0").error().code == errc::invalid_argument);
  CHECK(interval_schedule::parse("P1M").error().code == errc::unsupported);  // months vary
}

TEST_CASE("rescan schedules: cron or interval, and when one is due") {
  auto daily = rescan_schedule::parse("0 0 ? * *");
  REQUIRE(daily);
  CHECK(daily->is_cron());
  REQUIRE(daily->cron() != nullptr);
  CHECK(daily->interval() == nullptr);
  CHECK(daily->due(std::nullopt, at("2024-03-01T10:00:00Z")));  // never rescanned
  CHECK_FALSE(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-01T23:59:59Z")));
  CHECK(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-02T00:00:00Z")));
  CHECK(daily->due(at("2024-02-20T00:00:05Z"), at("2024-03-02T00:00:00Z")));  // missed: due once
  CHECK(format_rfc3339(*daily->next_after(at("2024-03-01T00:00:05Z")), 0) == "2024-03-02T00:00:00Z");

  auto oslo = time_zone::locate("Europe/Oslo");
  if (oslo) {
    CHECK_FALSE(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-01T22:59:59Z"), *oslo));
    CHECK(daily->due(at("2024-03-01T00:00:05Z"), at("2024-03-01T23:00:00Z"), *oslo));
  }

  for (const char* text : {"PT6H", "21600", " pt6h ", "PT360M"}) {
    INFO(text);
    auto every6h = rescan_schedule::parse(text);
    REQUIRE(every6h);
    CHECK_FALSE(every6h->is_cron());
    REQUIRE(every6h->interval() != nullptr);
    CHECK(every6h->interval()->period() == std::chrono::hours(6));
    CHECK_FALSE(every6h->due(at("2024-03-01T00:00:00Z"), at("2024-03-01T05:59:59Z")));
    CHECK(every6h->due(at("2024-03-01T00:00:00Z"), at("2024-03-01T06:00:00Z")));
    CHECK(format_rfc3339(*every6h->next_after(at("2024-03-01T00:00:00Z")), 0) == "2024-03-01T06:00:00Z");
  }
  CHECK(rescan_schedule::parse("@weekly")->is_cron());
  CHECK(rescan_schedule::parse("0 0 3 ? * SUN")->is_cron());

  auto months = rescan_schedule::parse("P1M");
  REQUIRE_FALSE(months);
  CHECK(months.error().code == errc::unsupported);
  auto zero = rescan_schedule::parse("0");
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == errc::invalid_argument);
  auto bad_duration = rescan_schedule::parse("  PT6X");
  REQUIRE_FALSE(bad_duration);
  CHECK(bad_duration.error().position != no_position);
  CHECK(bad_duration.error().position >= 2);  // positions count from the text as given
  auto words = rescan_schedule::parse("every day");
  REQUIRE_FALSE(words);
  CHECK(words.error().code == errc::parse_error);
  CHECK_FALSE(rescan_schedule::parse("").has_value());
}
