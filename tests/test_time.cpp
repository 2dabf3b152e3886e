#include <sincehash/time.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <type_traits>

using sincehash::epoch_unit;
using sincehash::errc;
using sincehash::instant;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// The instant is a plain nanosecond time point: a naive integer does not convert to it.
static_assert(!std::is_convertible<std::int64_t, instant>::value, "an integer is not an instant");

namespace {

constexpr std::int64_t kSecond = 1000000000;

instant at_ns(std::int64_t ns) { return instant{nanoseconds{ns}}; }
instant at_s(std::int64_t s, std::int64_t ns = 0) { return instant{nanoseconds{s * kSecond + ns}}; }

// 2024-01-01T00:00:00Z: 54 years after 1970 with 13 leap days in between.
constexpr std::int64_t k2024 = (54 * 365 + 13) * 86400LL;
// 2000-01-01T00:00:00Z: 30 years with 7 leap days.
constexpr std::int64_t k2000 = (30 * 365 + 7) * 86400LL;

struct accept_case {
  const char* text;
  instant expected;
};

struct reject_case {
  const char* text;
  errc code;
  std::size_t position;
};

}  // namespace

TEST_CASE("parse_iso8601 accepts RFC 3339 and the ISO 8601 forms APIs send") {
  const accept_case cases[] = {
      {"1970-01-01T00:00:00Z", at_s(0)},
      {"2024-01-01T00:00:00Z", at_s(k2024)},
      {"2024-01-01T10:00:00.123Z", at_s(k2024 + 36000, 123000000)},
      {"2024-01-01t10:00:00.123z", at_s(k2024 + 36000, 123000000)},
      {"2024-01-01 10:00:00Z", at_s(k2024 + 36000)},
      {"2024-01-01T10:00:00,5Z", at_s(k2024 + 36000, 500000000)},
      {"2024-01-01T10:00:00.1Z", at_s(k2024 + 36000, 100000000)},
      {"2024-01-01T10:00:00.123456789Z", at_s(k2024 + 36000, 123456789)},
      {"2024-01-01T10:00:00.000001Z", at_s(k2024 + 36000, 1000)},
      {"2024-01-01T10:00:00+02:00", at_s(k2024 + 8 * 3600)},
      {"2024-01-01T10:00:00-0530", at_s(k2024 + 15 * 3600 + 1800)},
      {"2024-01-01T10:00:00+05", at_s(k2024 + 5 * 3600)},
      {"2024-01-01T10:00:00-00:00", at_s(k2024 + 36000)},
      {"2024-01-01T00:30:00+23:59", at_s(k2024 + 1800 - (23 * 3600 + 59 * 60))},
      {"2024-01-01T10:00Z", at_s(k2024 + 36000)},
      {"2024-01-01", at_s(k2024)},
      {"2000-02-29T12:00:00Z", at_s(k2000 + 59 * 86400 + 12 * 3600)},
      {"1969-12-31T23:59:59.5Z", at_ns(-500000000)},
      {"2262-04-11T23:47:16.854775807Z", at_ns(std::numeric_limits<std::int64_t>::max())},
      {"1677-09-21T00:12:43.145224192Z", at_ns(std::numeric_limits<std::int64_t>::min())},
      // 24:00:00 is the end of the day, i.e. the next day's midnight.
      {"2024-01-01T24:00:00Z", at_s(k2024 + 86400)},
      {"2023-12-31T24:00:00.000Z", at_s(k2024)},
      // A leap second is the last nanosecond before the next day.
      {"2016-12-31T23:59:60Z", at_s((47 * 365 + 12) * 86400LL, -1)},
      {"2016-12-31T18:59:60-05:00", at_s((47 * 365 + 12) * 86400LL, -1)},
      {"2015-06-30T23:59:60.5Z", at_s((45 * 365 + 11 + 181) * 86400LL, -1)},
  };
  for (const accept_case& c : cases) {
    INFO(c.text);
    const auto r = sincehash::parse_iso8601(c.text);
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(r->time_since_epoch().count() == c.expected.time_since_epoch().count());
  }
}

TEST_CASE("parse_iso8601 rejects with a reason and the byte position") {
  const reject_case cases[] = {
      {"", errc::parse_error, 0},
      {"24-01-01", errc::parse_error, 2},
      {"2024/01/01", errc::parse_error, 4},
      {"2024-1-01", errc::parse_error, 6},
      {"2024-00-10T00:00:00Z", errc::invalid_date, 5},
      {"2024-13-10T00:00:00Z", errc::invalid_date, 5},
      {"2024-01-00T00:00:00Z", errc::invalid_date, 8},
      {"2024-01-32T00:00:00Z", errc::invalid_date, 8},
      {"2024-04-31", errc::invalid_date, 8},
      {"2023-02-29T00:00:00Z", errc::invalid_date, 8},
      {"1900-02-29T00:00:00Z", errc::invalid_date, 8},
      {"2024-01-01X10:00:00Z", errc::parse_error, 10},
      {"2024-01-01T", errc::parse_error, 11},
      {"2024-01-01T1:00:00Z", errc::parse_error, 12},
      {"2024-01-01T10-00-00Z", errc::parse_error, 13},
      {"2024-01-01T25:00:00Z", errc::invalid_date, 11},
      {"2024-01-01T24:00:01Z", errc::invalid_date, 11},
      {"2024-01-01T24:00:00.1Z", errc::invalid_date, 11},
      {"2024-01-01T10:60:00Z", errc::invalid_date, 14},
      {"2024-01-01T10:00:61Z", errc::invalid_date, 17},
      {"2024-01-01T10:00:60Z", errc::invalid_date, 17},
      {"2016-12-30T23:59:60Z", errc::invalid_date, 17},
      {"2016-12-31T23:59:60+01:00", errc::invalid_date, 17},
      {"2024-01-01T10:00:07.Z", errc::parse_error, 20},
      {"2024-01-01T10:00:07.", errc::parse_error, 20},
      {"2024-01-01T10:00:00.1234567890Z", errc::parse_error, 29},
      {"2024-01-01T10:00.5Z", errc::parse_error, 16},
      {"2024-01-01T10:00:00+24:00", errc::out_of_range, 19},
      {"2024-01-01T10:00:00+23:60", errc::out_of_range, 19},
      {"2024-01-01T10:00:00+1", errc::parse_error, 21},
      {"2024-01-01T10:00:00+01:", errc::parse_error, 23},
      {"2024-01-01T10:00:00 UTC", errc::parse_error, 19},
      {"2024-01-01T10:00:00Zx", errc::parse_error, 20},
      {"2024-01-01T10:00:00+01:00 ", errc::parse_error, 25},
      {"2024-01-01T10:00:00", errc::parse_error, 19},  // naive local time names no instant
      {"2262-04-11T23:47:16.854775808Z", errc::out_of_range, 0},
      {"1677-09-21T00:12:43.145224191Z", errc::out_of_range, 0},
      {"9999-12-31T23:59:59Z", errc::out_of_range, 0},
  };
  for (const reject_case& c : cases) {
    INFO(c.text);
    const auto r = sincehash::parse_iso8601(c.text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == c.code);
    CHECK(r.error().position == c.position);
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("parse_iso8601 with a default offset reads naive local time, an explicit offset wins") {
  const auto naive = sincehash::parse_iso8601("2024-01-01T10:00:00", seconds{3600});
  REQUIRE(naive.has_value());
  CHECK(*naive == at_s(k2024 + 9 * 3600));
  const auto aware = sincehash::parse_iso8601("2024-01-01T10:00:00Z", seconds{3600});
  REQUIRE(aware.has_value());
  CHECK(*aware == at_s(k2024 + 10 * 3600));
  CHECK(sincehash::parse_iso8601("2024-01-01T10:00:00", seconds{86400}).code() == errc::invalid_argument);
}

TEST_CASE("parse_iso8601 agrees with timegm on random valid dates") {
  std::mt19937_64 rng(20240101);
  for (int k = 0; k < 20000; ++k) {
    const int year = 1678 + static_cast<int>(rng() % (2261 - 1678 + 1));
    const int month = 1 + static_cast<int>(rng() % 12);
    const int day = 1 + static_cast<int>(rng() % 28);
    const int hour = static_cast<int>(rng() % 24);
    const int minute = static_cast<int>(rng() % 60);
    const int second = static_cast<int>(rng() % 60);
    char text[96];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute,
                  second);
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const auto expected = static_cast<std::int64_t>(timegm(&tm));
    const auto r = sincehash::parse_iso8601(text);
    INFO(text);
    REQUIRE(r.has_value());
    CHECK(r->time_since_epoch().count() == expected * kSecond);
  }
}

TEST_CASE("parse_iso8601 never normalizes: every invalid day of every month is rejected") {
  for (int year : {1900, 1999, 2000, 2023, 2024, 2100}) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int lengths[12] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int month = 1; month <= 12; ++month) {
      for (int day = 1; day <= 31; ++day) {
        char text[64];
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT00:00:00Z", year, month, day);
        INFO(text);
        const auto r = sincehash::parse_iso8601(text);
        if (day <= lengths[month - 1]) {
          CHECK(r.has_value());
        } else {
          CHECK(r.code() == errc::invalid_date);
          CHECK(r.error().position == 8);
        }
      }
    }
  }
}

TEST_CASE("format_rfc3339 writes RFC 3339 with the chosen fraction and offset") {
  CHECK(sincehash::format_rfc3339(at_s(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(sincehash::format_rfc3339(at_s(k2024 + 36000, 123456789), 0) == "2024-01-01T10:00:00Z");
  CHECK(sincehash::format_rfc3339(at_s(k2024 + 36000, 123456789), 3) == "2024-01-01T10:00:00.123Z");
  CHECK(sincehash::format_rfc3339(at_s(k2024 + 36000, 123456789), 6) == "2024-01-01T10:00:00.123456Z");
  CHECK(sincehash::format_rfc3339(at_s(k2024 + 36000, 123456789), 9) == "2024-01-01T10:00:00.123456789Z");
  CHECK(sincehash::format_rfc3339(at_s(k2024 + 36000, 120000000), 1) == "2024-01-01T10:00:00.1Z");
  // Truncated, never rounded up into the next second.
  CHECK(sincehash::format_rfc3339(at_s(k2024, -1), 3) == "2023-12-31T23:59:59.999Z");
  CHECK(sincehash::format_rfc3339(at_ns(-1), 9) == "1969-12-31T23:59:59.999999999Z");
  CHECK(sincehash::format_rfc3339(at_s(0), 0, seconds{5 * 3600 + 1800}) == "1970-01-01T05:30:00+05:30");
  CHECK(sincehash::format_rfc3339(at_s(0), 0, seconds{-(3 * 3600 + 1800)}) == "1969-12-31T20:30:00-03:30");
  // Offsets are whole minutes (truncated) and at most 23:59; the text always names `t`.
  CHECK(sincehash::format_rfc3339(at_s(0), 0, seconds{3600 + 59}) == "1970-01-01T01:00:00+01:00");
  CHECK(sincehash::format_rfc3339(at_s(0), 0, seconds{100000}) == "1970-01-01T23:59:00+23:59");
  CHECK(sincehash::format_rfc3339(at_s(0), 12) == "1970-01-01T00:00:00.000000000Z");
  CHECK(sincehash::format_rfc3339(at_s(0), -4) == "1970-01-01T00:00:00Z");
  CHECK(sincehash::format_rfc3339(instant::max(), 9) == "2262-04-11T23:47:16.854775807Z");
  CHECK(sincehash::format_rfc3339(instant::min(), 9) == "1677-09-21T00:12:43.145224192Z");
  char buf[40];
  const std::size_t n = sincehash::format_rfc3339_to(buf, instant::min(), 9, seconds{-(23 * 3600 + 59 * 60)});
  CHECK(std::string(buf, n) == "1677-09-20T00:13:43.145224192-23:59");
}

TEST_CASE("parse(format(t)) == t over the whole range, every fraction width and offsets") {
  std::mt19937_64 rng(42);
  char buf[48];
  for (int k = 0; k < 30000; ++k) {
    const auto ns = static_cast<std::int64_t>(rng());
    const int digits = k % 10;
    const auto offset_minutes = static_cast<std::int64_t>(rng() % (2 * 1439 + 1)) - 1439;
    const instant t = at_ns(ns);
    const std::size_t n = sincehash::format_rfc3339_to(buf, t, digits, seconds{offset_minutes * 60});
    const std::string text(buf, n);
    INFO(text);
    const auto r = sincehash::parse_iso8601(text);
    std::int64_t unit = 1;
    for (int d = digits; d < 9; ++d) unit *= 10;
    const std::int64_t rem = ((ns % unit) + unit) % unit;
    if (ns < std::numeric_limits<std::int64_t>::min() + rem) {
      // Truncation wrote a time before the first representable instant.
      CHECK(r.code() == errc::out_of_range);
      continue;
    }
    const std::int64_t expected = ns - rem;
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(r->time_since_epoch().count() == expected);
  }
}

TEST_CASE("from_epoch from integers checks overflow instead of wrapping") {
  CHECK(*sincehash::from_epoch(std::int64_t{k2024}, epoch_unit::seconds) == at_s(k2024));
  CHECK(*sincehash::from_epoch(std::int64_t{k2024 * 1000 + 123}, epoch_unit::milliseconds) ==
        at_s(k2024, 123000000));
  CHECK(*sincehash::from_epoch(std::int64_t{-1}, epoch_unit::microseconds) == at_ns(-1000));
  CHECK(*sincehash::from_epoch(std::numeric_limits<std::int64_t>::max(), epoch_unit::nanoseconds) ==
        instant::max());
  CHECK(sincehash::from_epoch(std::int64_t{9223372036}, epoch_unit::seconds).has_value());
  CHECK(sincehash::from_epoch(std::int64_t{9223372037}, epoch_unit::seconds).code() == errc::out_of_range);
  CHECK(sincehash::from_epoch(std::int64_t{-9223372037}, epoch_unit::seconds).code() == errc::out_of_range);
  CHECK(sincehash::from_epoch(std::numeric_limits<std::int64_t>::min(), epoch_unit::milliseconds).code() ==
        errc::out_of_range);
  CHECK(sincehash::from_epoch(std::int64_t{9223372036854776}, epoch_unit::microseconds).code() ==
        errc::out_of_range);
}

TEST_CASE("from_epoch from doubles") {
  CHECK(*sincehash::from_epoch(1704067200.5, epoch_unit::seconds) == at_s(k2024, 500000000));
  CHECK(*sincehash::from_epoch(-0.5, epoch_unit::seconds) == at_ns(-500000000));
  CHECK(*sincehash::from_epoch(1704067200123.0, epoch_unit::milliseconds) == at_s(k2024, 123000000));
  CHECK(*sincehash::from_epoch(0.25, epoch_unit::milliseconds) == at_ns(250000));
  // 0.1 is not exact in binary; the result is the nearest nanosecond to the double's value.
  CHECK(*sincehash::from_epoch(0.1, epoch_unit::seconds) == at_ns(100000000));
  CHECK(sincehash::from_epoch(std::nan(""), epoch_unit::seconds).code() == errc::invalid_argument);
  CHECK(sincehash::from_epoch(INFINITY, epoch_unit::seconds).code() == errc::invalid_argument);
  CHECK(sincehash::from_epoch(1e300, epoch_unit::seconds).code() == errc::out_of_range);
  CHECK(sincehash::from_epoch(-1e11, epoch_unit::seconds).code() == errc::out_of_range);
  CHECK(sincehash::from_epoch(9.3e18, epoch_unit::nanoseconds).code() == errc::out_of_range);
  CHECK(sincehash::from_epoch(9223372036854775808.0, epoch_unit::nanoseconds).code() == errc::out_of_range);
  CHECK(*sincehash::from_epoch(-9223372036854775808.0, epoch_unit::nanoseconds) == instant::min());
  CHECK(sincehash::from_epoch(-9223372036854777856.0, epoch_unit::nanoseconds).code() == errc::out_of_range);
}

TEST_CASE("parse_epoch reads decimal text exactly") {
  const struct {
    const char* text;
    epoch_unit unit;
    std::int64_t ns;
  } ok[] = {
      {"1704067200", epoch_unit::seconds, k2024 * kSecond},
      {"+1704067200", epoch_unit::seconds, k2024 * kSecond},
      {"1704067200.123", epoch_unit::seconds, k2024 * kSecond + 123000000},
      {"1704067200.123456789", epoch_unit::seconds, k2024 * kSecond + 123456789},
      {"1704067200.1234567890000", epoch_unit::seconds, k2024 * kSecond + 123456789},
      {"-1.5", epoch_unit::seconds, -1500000000},
      {".5", epoch_unit::seconds, 500000000},
      {"5.", epoch_unit::seconds, 5 * kSecond},
      {"1.704067200E9", epoch_unit::seconds, k2024 * kSecond},
      {"1704067200123e-3", epoch_unit::seconds, k2024 * kSecond + 123000000},
      {"1704067200123", epoch_unit::milliseconds, k2024 * kSecond + 123000000},
      {"1704067200123.456", epoch_unit::milliseconds, k2024 * kSecond + 123456000},
      {"1704067200123456", epoch_unit::microseconds, k2024 * kSecond + 123456000},
      {"0", epoch_unit::nanoseconds, 0},
      {"-0", epoch_unit::seconds, 0},
      {"0e999999999999", epoch_unit::seconds, 0},
      {"000000000000000000000000001", epoch_unit::nanoseconds, 1},
      {"9223372036854775807", epoch_unit::nanoseconds, std::numeric_limits<std::int64_t>::max()},
      {"-9223372036854775808", epoch_unit::nanoseconds, std::numeric_limits<std::int64_t>::min()},
      {"9223372036.854775807", epoch_unit::seconds, std::numeric_limits<std::int64_t>::max()},
  };
  for (const auto& c : ok) {
    INFO(c.text);
    const auto r = sincehash::parse_epoch(c.text, c.unit);
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(r->time_since_epoch().count() == c.ns);
  }
  const struct {
    const char* text;
    epoch_unit unit;
    errc code;
    std::size_t position;
  } bad[] = {
      {"", epoch_unit::seconds, errc::parse_error, 0},
      {"abc", epoch_unit::seconds, errc::parse_error, 0},
      {"-", epoch_unit::seconds, errc::parse_error, 1},
      {".", epoch_unit::seconds, errc::parse_error, 0},
      {"12a", epoch_unit::seconds, errc::parse_error, 2},
      {"1.2.3", epoch_unit::seconds, errc::parse_error, 3},
      {"1e", epoch_unit::seconds, errc::parse_error, 2},
      {" 1", epoch_unit::seconds, errc::parse_error, 0},
      {"1 ", epoch_unit::seconds, errc::parse_error, 1},
      {"12.3456789012", epoch_unit::seconds, errc::out_of_range, sincehash::no_position},
      {"1.5", epoch_unit::nanoseconds, errc::out_of_range, sincehash::no_position},
      {"1e-1", epoch_unit::nanoseconds, errc::out_of_range, sincehash::no_position},
      {"9223372036854775808", epoch_unit::nanoseconds, errc::out_of_range, sincehash::no_position},
      {"-9223372036854775809", epoch_unit::nanoseconds, errc::out_of_range, sincehash::no_position},
      {"9223372037", epoch_unit::seconds, errc::out_of_range, sincehash::no_position},
      {"1e400", epoch_unit::seconds, errc::out_of_range, sincehash::no_position},
      {"99999999999999999999999999", epoch_unit::nanoseconds, errc::out_of_range, sincehash::no_position},
  };
  for (const auto& c : bad) {
    INFO(c.text);
    const auto r = sincehash::parse_epoch(c.text, c.unit);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == c.code);
    CHECK(r.error().position == c.position);
  }
}

TEST_CASE("to_epoch floors toward negative infinity and inverts from_epoch") {
  CHECK(sincehash::to_epoch(at_ns(-1), epoch_unit::seconds) == -1);
  CHECK(sincehash::to_epoch(at_ns(-1), epoch_unit::milliseconds) == -1);
  CHECK(sincehash::to_epoch(at_ns(1999999999), epoch_unit::seconds) == 1);
  CHECK(sincehash::to_epoch(at_ns(1999999999), epoch_unit::milliseconds) == 1999);
  CHECK(sincehash::to_epoch(at_ns(1999999999), epoch_unit::microseconds) == 1999999);
  CHECK(sincehash::to_epoch(at_ns(1999999999), epoch_unit::nanoseconds) == 1999999999);
  CHECK(sincehash::to_epoch(instant::min(), epoch_unit::seconds) == -9223372037);
  std::mt19937_64 rng(7);
  for (int k = 0; k < 10000; ++k) {
    const instant t = at_ns(static_cast<std::int64_t>(rng()));
    for (epoch_unit u :
         {epoch_unit::seconds, epoch_unit::milliseconds, epoch_unit::microseconds, epoch_unit::nanoseconds}) {
      const auto back = sincehash::from_epoch(sincehash::to_epoch(t, u), u);
      REQUIRE(back.has_value());
      CHECK(*back <= t);
      CHECK(t - *back < nanoseconds{sincehash::detail::epoch_unit_nanos(u)});
      const auto text = std::to_string(sincehash::to_epoch(t, u));
      const auto parsed = sincehash::parse_epoch(text, u);
      REQUIRE(parsed.has_value());
      CHECK(*parsed == *back);
    }
  }
}

TEST_CASE("parse_duration: ISO 8601 durations and whole seconds") {
  const struct {
    const char* text;
    std::int64_t ns;
  } ok[] = {
      {"P30D", 30 * 86400 * kSecond},
      {"PT5M", 300 * kSecond},
      {"PT1.5S", 1500000000},
      {"PT0,25S", 250000000},
      {"P1W", 604800 * kSecond},
      {"P1DT12H", 36 * 3600 * kSecond},
      {"PT1H30M", 5400 * kSecond},
      {"P1DT1H1M1.000000001S", (86400 + 3600 + 61) * kSecond + 1},
      {"P0.5D", 12 * 3600 * kSecond},
      {"PT0S", 0},
      {"pt5m", 300 * kSecond},
      {"300", 300 * kSecond},
      {"0", 0},
      {"P1W2D", 9 * 86400 * kSecond},
      {"PT9223372036S", 9223372036 * kSecond},
  };
  for (const auto& c : ok) {
    INFO(c.text);
    const auto r = sincehash::parse_duration(c.text);
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(r->count() == c.ns);
  }
  const reject_case bad[] = {
      {"", errc::parse_error, 0},
      {"P", errc::parse_error, 1},
      {"PT", errc::parse_error, 2},
      {"P1DT", errc::parse_error, 4},
      {"P1Y", errc::unsupported, 2},
      {"P1M", errc::unsupported, 2},
      {"P1Y2M3D", errc::unsupported, 2},
      {"-PT5M", errc::out_of_range, 0},
      {"PT-5M", errc::out_of_range, 2},
      {"-300", errc::out_of_range, 0},
      {"PT5", errc::parse_error, 3},
      {"PT1.5H30M", errc::parse_error, 6},
      {"PT5M1H", errc::parse_error, 5},
      {"PT5M5M", errc::parse_error, 5},
      {"P1H", errc::parse_error, 2},
      {"PT1D", errc::parse_error, 3},
      {"PTT1H", errc::parse_error, 2},
      {"PT1.S", errc::parse_error, 4},
      {"PTS", errc::parse_error, 2},
      {"PT1.1234567891S", errc::parse_error, 13},
      {"300s", errc::parse_error, 3},
      {"1.5", errc::parse_error, 1},
      {"5 minutes", errc::parse_error, 1},
      {"T5M", errc::parse_error, 0},
      {"P99999999999W", errc::out_of_range, 1},
      {"PT9223372037S", errc::out_of_range, 2},
      {"99999999999999999999", errc::out_of_range, 0},
  };
  for (const auto& c : bad) {
    INFO(c.text);
    const auto r = sincehash::parse_duration(c.text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == c.code);
    CHECK(r.error().position == c.position);
  }
}

TEST_CASE("the 32-bit day count agrees with the general one for years 0..9999") {
  for (unsigned y = 0; y <= 9999; ++y) {
    for (unsigned m = 1; m <= 12; ++m) {
      for (unsigned d : {1u, 15u, sincehash::detail::days_in_month(y, m)}) {
        REQUIRE(sincehash::detail::days_from_civil_0_9999(y, m, d) ==
                sincehash::detail::days_from_civil(y, m, d));
      }
    }
  }
  // 0000-03-01 is 719468 days before 1970-01-01; 0000-02-29 exists (year 0 is a leap year).
  CHECK(sincehash::detail::days_from_civil(0, 3, 1) == -719468);
  CHECK(sincehash::detail::days_from_civil_0_9999(0, 2, 29) == -719469);
}

TEST_CASE("the 32-bit civil date agrees with the general one around the instant range") {
  for (std::int64_t z = -800000; z <= 800000; z += 7) {
    const auto a = sincehash::detail::civil_from_days(z);
    const auto b = sincehash::detail::civil_from_days_near(z);
    REQUIRE(a.year == b.year);
    REQUIRE(a.month == b.month);
    REQUIRE(a.day == b.day);
  }
  const auto epoch = sincehash::detail::civil_from_days_near(0);
  CHECK(epoch.year == 1970);
  CHECK(epoch.month == 1);
  CHECK(epoch.day == 1);
}
