#include <sincehash/settings.hpp>
#include <sincehash/time_pattern.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

using sincehash::errc;
using sincehash::instant;
using sincehash::time_pattern;
using sincehash::time_zone;
using std::chrono::nanoseconds;
using std::chrono::seconds;

namespace {

constexpr std::int64_t kSecond = 1000000000;
// 2024-01-01T00:00:00Z: 54 years after 1970 with 13 leap days in between.
constexpr std::int64_t k2024 = (54 * 365 + 13) * 86400LL;

instant at_s(std::int64_t s, std::int64_t ns = 0) { return instant{nanoseconds{s * kSecond + ns}}; }

instant iso(const char* text) {
  const auto r = sincehash::parse_iso8601(text);
  REQUIRE_MESSAGE(r.has_value(), text);
  return *r;
}

time_zone zone(const char* name) {
  const auto z = time_zone::locate(name);
  REQUIRE_MESSAGE(z.has_value(), z.error().describe());
  return *z;
}

time_pattern java(const char* pattern, const time_zone& z = time_zone::utc()) {
  const auto p = time_pattern::java(pattern, z);
  REQUIRE_MESSAGE(p.has_value(), p.error().describe());
  return *p;
}

time_pattern strf(const char* pattern, const time_zone& z = time_zone::utc()) {
  const auto p = time_pattern::strftime(pattern, z);
  REQUIRE_MESSAGE(p.has_value(), p.error().describe());
  return *p;
}

bool have_tzdb() { return std::filesystem::exists("/usr/share/zoneinfo/Europe/Oslo"); }

void put_u32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}
void put_i64(std::string& s, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  put_u32(s, static_cast<std::uint32_t>(u >> 32));
  put_u32(s, static_cast<std::uint32_t>(u));
}
void put_header(std::string& s, char version, std::uint32_t timecnt, std::uint32_t typecnt,
                std::uint32_t charcnt, std::uint32_t leapcnt = 0) {
  s += "TZif";
  s += version;
  s.append(15, '\0');
  put_u32(s, 0);  // isutcnt
  put_u32(s, 0);  // isstdcnt
  put_u32(s, leapcnt);
  put_u32(s, timecnt);
  put_u32(s, typecnt);
  put_u32(s, charcnt);
}

// One transition at 1'000'000'000 s from +01:00 ("AAA") to +02:00 ("BBB").
std::string tzif_v1() {
  std::string s;
  put_header(s, '\0', 1, 2, 8);
  put_u32(s, 1000000000);
  s += '\1';
  put_u32(s, 3600);
  s += '\0';
  s += '\0';
  put_u32(s, 7200);
  s += '\1';
  s += '\4';
  s.append("AAA\0BBB\0", 8);
  return s;
}

// Version 2: a dummy v1 block, then 64-bit data with one transition in 1900 and a footer rule.
std::string tzif_v2(const std::string& footer) {
  std::string s;
  put_header(s, '2', 0, 1, 1);
  put_u32(s, 0);
  s += '\0';
  s += '\0';
  s += '\0';
  put_header(s, '2', 1, 2, 8);
  put_i64(s, -2208988800);  // 1900-01-01T00:00:00Z
  s += '\1';
  put_u32(s, 1800);
  s += '\0';
  s += '\0';
  put_u32(s, 3600);
  s += '\0';
  s += '\4';
  s.append("LMT\0CET\0", 8);
  s += '\n';
  s += footer;
  s += '\n';
  return s;
}

}  // namespace

TEST_CASE("time_zone: UTC and fixed offsets") {
  const time_zone utc = time_zone::utc();
  CHECK(utc.name() == "UTC");
  CHECK(utc.is_utc());
  CHECK(utc.offset_at(iso("2024-07-01T00:00:00Z")) == seconds{0});
  CHECK(utc.local_to_utc(k2024) == at_s(k2024));

  const auto plus1 = time_zone::fixed(seconds{3600});
  REQUIRE(plus1.has_value());
  CHECK(plus1->name() == "+01:00");
  CHECK(plus1->offset_at(at_s(0)) == seconds{3600});
  CHECK(plus1->local_to_utc(k2024) == at_s(k2024 - 3600));
  CHECK(time_zone::fixed(seconds{-(5 * 3600 + 1800)})->name() == "-05:30");
  CHECK(time_zone::fixed(seconds{0})->is_utc());
  CHECK(time_zone::fixed(seconds{86340}).has_value());
  CHECK(time_zone::fixed(seconds{86400}).code() == errc::out_of_range);
  CHECK(time_zone::fixed(seconds{-86341}).code() == errc::out_of_range);

  for (const char* name : {"UTC", "utc", "GMT", "Z", "z", "Etc/UTC", "Etc/GMT", "Zulu", "+00:00", "GMT+0"}) {
    INFO(name);
    CHECK(zone(name).is_utc());
  }
  const struct {
    const char* name;
    std::int32_t offset;
  } fixed[] = {{"+01:00", 3600},    {"-0530", -19800},  {"+05", 18000},
               {"-3", -10800},      {"GMT+2", 7200},    {"UTC-05:30", -19800},
               {"utc+01:00", 3600}, {"GMT-10", -36000}, {"+23:59", 86340}};
  for (const auto& c : fixed) {
    INFO(c.name);
    const time_zone z = zone(c.name);
    CHECK(z.is_fixed());
    CHECK(z.name() == c.name);
    CHECK(z.offset_at_seconds(k2024) == c.offset);
  }
  for (const char* bad : {"+24:00", "GMT+", "+1:5", "+01:0", "UTC+01:00x", "-", ""}) {
    INFO(bad);
    CHECK(time_zone::locate(bad).code() == errc::config_error);
  }
  // Copies share the same immutable data.
  const time_zone copy = *plus1;
  CHECK(&copy.name() == &plus1->name());
}

TEST_CASE("time_zone: IANA names from the tz database") {
  if (!have_tzdb()) {
    MESSAGE("no tz database on this system: IANA zone tests skipped");
    CHECK(time_zone::locate("Europe/Oslo").code() == errc::unsupported);
    return;
  }
  const time_zone oslo = zone("Europe/Oslo");
  CHECK(oslo.name() == "Europe/Oslo");
  CHECK_FALSE(oslo.is_fixed());
  // EU rules: CEST from the last Sunday of March to the last Sunday of October, 01:00 UTC.
  const instant spring = iso("2024-03-31T01:00:00Z");
  const instant autumn = iso("2024-10-27T01:00:00Z");
  CHECK(oslo.offset_at(spring - nanoseconds{1}) == seconds{3600});
  CHECK(oslo.offset_at(spring) == seconds{7200});
  CHECK(oslo.offset_at(autumn - nanoseconds{1}) == seconds{7200});
  CHECK(oslo.offset_at(autumn) == seconds{3600});
  CHECK(oslo.offset_at(iso("1900-06-01T00:00:00Z")) == seconds{3600});
  // Far beyond the listed transitions the footer rule applies.
  CHECK(oslo.offset_at(iso("2200-07-01T00:00:00Z")) == seconds{7200});
  CHECK(oslo.offset_at(iso("2200-01-01T00:00:00Z")) == seconds{3600});

  // Gap: 02:30 does not exist on 2024-03-31; the offset before the gap (+01:00) is used.
  CHECK(oslo.local_to_utc(k2024 + (90 * 86400) + 2 * 3600 + 1800) == iso("2024-03-31T01:30:00Z"));
  // Overlap: 02:30 happens twice on 2024-10-27; the earlier (CEST, +02:00) is chosen.
  CHECK(oslo.local_to_utc(k2024 + (300 * 86400) + 2 * 3600 + 1800) == iso("2024-10-27T00:30:00Z"));
  CHECK(oslo.local_to_utc(k2024 + 12 * 3600) == iso("2024-01-01T11:00:00Z"));

  const time_zone st_johns = zone("America/St_Johns");
  CHECK(st_johns.offset_at(iso("2024-01-15T12:00:00Z")) == seconds{-(3 * 3600 + 1800)});
  CHECK(st_johns.offset_at(iso("2024-07-15T12:00:00Z")) == seconds{-(2 * 3600 + 1800)});
  CHECK(st_johns.offset_at(iso("2024-03-10T05:29:59Z")) == seconds{-(3 * 3600 + 1800)});
  CHECK(st_johns.offset_at(iso("2024-03-10T05:30:00Z")) == seconds{-(2 * 3600 + 1800)});
  CHECK(st_johns.offset_at(iso("2024-11-03T04:29:59Z")) == seconds{-(2 * 3600 + 1800)});
  CHECK(st_johns.offset_at(iso("2024-11-03T04:30:00Z")) == seconds{-(3 * 3600 + 1800)});

  const time_zone sydney = zone("Australia/Sydney");
  CHECK(sydney.offset_at(iso("2024-01-15T00:00:00Z")) == seconds{11 * 3600});
  CHECK(sydney.offset_at(iso("2024-07-15T00:00:00Z")) == seconds{10 * 3600});
  CHECK(sydney.offset_at(iso("2230-01-15T00:00:00Z")) == seconds{11 * 3600});

  // POSIX-style names invert the sign: Etc/GMT+2 is two hours WEST of Greenwich.
  const time_zone etc = zone("Etc/GMT+2");
  CHECK(etc.is_fixed());
  CHECK(etc.offset_at(at_s(k2024)) == seconds{-7200});

  const auto unknown = time_zone::locate("Nowhere/Atlantis");
  CHECK(unknown.code() == errc::config_error);
  CHECK(unknown.error().message.find("Nowhere/Atlantis") != std::string::npos);
  for (const char* bad : {"../../etc/passwd", "/etc/passwd", "Europe/../Europe/Oslo", "Europe/", "Europe",
                          "Europe//Oslo", "Europe/Oslo\n", "Europe/Os lo"}) {
    INFO(bad);
    CHECK(time_zone::locate(bad).code() == errc::config_error);
  }
}

TEST_CASE("time_zone offsets agree with the C library over random instants") {
  if (!have_tzdb()) return;
  const char* names[] = {"Europe/Oslo",  "America/St_Johns", "Australia/Sydney",  "America/New_York",
                         "Asia/Kolkata", "Pacific/Chatham",  "America/Sao_Paulo", "Africa/Casablanca"};
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  std::mt19937_64 rng(99);
  for (const char* name : names) {
    const time_zone z = zone(name);
    setenv("TZ", (std::string(":") + name).c_str(), 1);
    tzset();
    for (int k = 0; k < 3000; ++k) {
      // 1970 .. 2200
      const auto t = static_cast<std::int64_t>(rng() % 7258118400ULL);
      const auto tt = static_cast<std::time_t>(t);
      std::tm tm{};
      REQUIRE(localtime_r(&tt, &tm) != nullptr);
      INFO(name << " at " << t);
      CHECK(z.offset_at_seconds(t) == tm.tm_gmtoff);
      // local -> UTC lands on an instant showing that local time, never later than t.
      const std::int64_t local = t + z.offset_at_seconds(t);
      const std::int64_t back = z.local_to_utc_seconds(local);
      CHECK(back + z.offset_at_seconds(back) == local);
      CHECK(back <= t);
    }
  }
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST_CASE("time_zone from TZif bytes: version 1, version 2 with footer, malformed files") {
  const auto v1 = time_zone::from_tzif("Test/V1", tzif_v1());
  REQUIRE_MESSAGE(v1.has_value(), v1.error().describe());
  CHECK(v1->name() == "Test/V1");
  CHECK(v1->offset_at_seconds(0) == 3600);
  CHECK(v1->offset_at_seconds(999999999) == 3600);
  CHECK(v1->offset_at_seconds(1000000000) == 7200);
  CHECK(v1->offset_at_seconds(4000000000) == 7200);

  const auto v2 = time_zone::from_tzif("Test/V2", tzif_v2("CET-1CEST,M3.5.0,M10.5.0/3"));
  REQUIRE_MESSAGE(v2.has_value(), v2.error().describe());
  CHECK(v2->offset_at_seconds(-2208988801) == 1800);
  CHECK(v2->offset_at(iso("2024-03-31T00:59:59Z")) == seconds{3600});
  CHECK(v2->offset_at(iso("2024-03-31T01:00:00Z")) == seconds{7200});
  CHECK(v2->offset_at(iso("2024-10-27T00:59:59Z")) == seconds{7200});
  CHECK(v2->offset_at(iso("2024-10-27T01:00:00Z")) == seconds{3600});
  const auto v2_fixed = time_zone::from_tzif("Test/V2", tzif_v2(""));
  REQUIRE(v2_fixed.has_value());
  CHECK(v2_fixed->offset_at(iso("2024-07-01T00:00:00Z")) == seconds{3600});

  std::string leap;
  put_header(leap, '\0', 0, 1, 1, 1);
  put_u32(leap, 0);
  leap += '\0';
  leap += '\0';
  leap += '\0';
  put_u32(leap, 78796800);
  put_u32(leap, 1);
  std::string bad_index = tzif_v1();
  bad_index[44 + 4] = '\5';
  std::string decreasing;
  put_header(decreasing, '\0', 2, 1, 1);
  put_u32(decreasing, 20);
  put_u32(decreasing, 10);
  decreasing += '\0';
  decreasing += '\0';
  put_u32(decreasing, 0);
  decreasing += '\0';
  decreasing += '\0';
  decreasing += '\0';
  const std::string malformed[] = {
      "",
      "TZif",
      "NotA TZif file at all, not at all, not at all, not at all",
      tzif_v1().substr(0, 50),
      tzif_v2("CET-1CEST,M3.5.0,M10.5.0/3").substr(0, 80),
      tzif_v2("CET"),
      tzif_v2("CET-1CEST,M13.5.0,M10.5.0/3"),
      tzif_v2("CET-1CEST,M3.5.0"),
      tzif_v2("CET-1").substr(0, tzif_v2("CET-1").size() - 1),
      leap,
      bad_index,
      decreasing,
  };
  for (const std::string& bytes : malformed) {
    INFO(bytes.size());
    const auto z = time_zone::from_tzif("Test/Bad", bytes);
    CHECK(z.code() == errc::parse_error);
    if (!z.has_value()) CHECK(z.error().message.find("Test/Bad") != std::string::npos);
  }
}

TEST_CASE("time_zone from POSIX TZ rules") {
  const auto cet = time_zone::from_posix_rule("CET-1CEST,M3.5.0,M10.5.0/3");
  REQUIRE(cet.has_value());
  CHECK(cet->offset_at(iso("2025-03-30T00:59:59Z")) == seconds{3600});
  CHECK(cet->offset_at(iso("2025-03-30T01:00:00Z")) == seconds{7200});
  const auto aus = time_zone::from_posix_rule("AEST-10AEDT,M10.1.0,M4.1.0/3");
  REQUIRE(aus.has_value());
  CHECK(aus->offset_at(iso("2024-01-15T00:00:00Z")) == seconds{11 * 3600});
  CHECK(aus->offset_at(iso("2024-07-15T00:00:00Z")) == seconds{10 * 3600});
  // First Sunday of April 2024 is April 7: 03:00 AEDT = 2024-04-06T16:00Z.
  CHECK(aus->offset_at(iso("2024-04-06T15:59:59Z")) == seconds{11 * 3600});
  CHECK(aus->offset_at(iso("2024-04-06T16:00:00Z")) == seconds{10 * 3600});
  const auto bracket = time_zone::from_posix_rule("<-03>3");
  REQUIRE(bracket.has_value());
  CHECK(bracket->is_fixed());
  CHECK(bracket->offset_at(at_s(k2024)) == seconds{-3 * 3600});
  // No dates: the US rules (second Sunday of March to first Sunday of November).
  const auto us = time_zone::from_posix_rule("EST5EDT");
  REQUIRE(us.has_value());
  CHECK(us->offset_at(iso("2024-07-01T00:00:00Z")) == seconds{-4 * 3600});
  CHECK(us->offset_at(iso("2024-12-01T00:00:00Z")) == seconds{-5 * 3600});
  // Julian days: J60 is March 1 in every year; 59 (zero-based) is Feb 29 in a leap year.
  const auto julian = time_zone::from_posix_rule("AAA0BBB,J60/0,J300/0");
  REQUIRE(julian.has_value());
  CHECK(julian->offset_at(iso("2024-02-29T23:59:59Z")) == seconds{0});
  CHECK(julian->offset_at(iso("2024-03-01T00:00:00Z")) == seconds{3600});
  const auto zero_based = time_zone::from_posix_rule("AAA0BBB,59/0,300/0");
  REQUIRE(zero_based.has_value());
  CHECK(zero_based->offset_at(iso("2024-02-28T23:59:59Z")) == seconds{0});
  CHECK(zero_based->offset_at(iso("2024-02-29T00:00:00Z")) == seconds{3600});
  // Permanent DST expressed the version-3 way.
  const auto permanent = time_zone::from_posix_rule("EST5EDT,0/0,J365/25");
  REQUIRE(permanent.has_value());
  CHECK(permanent->offset_at(iso("2024-01-01T12:00:00Z")) == seconds{-4 * 3600});
  CHECK(permanent->offset_at(iso("2024-07-01T12:00:00Z")) == seconds{-4 * 3600});
  for (const char* bad :
       {"", "CET", "C-1", "CET-1CEST,M3.5.0", "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
        "CET-25", "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,J0,J100", "<CET-1"}) {
    INFO(bad);
    CHECK(time_zone::from_posix_rule(bad).code() == errc::parse_error);
  }
}

TEST_CASE("Java patterns: parse") {
  const time_pattern salesforce = java("yyyy-MM-dd'T'HH:mm:ss.SSSZ");
  const instant ten = at_s(k2024 + 36000);
  const struct {
    const char* text;
    instant expected;
  } ok[] = {
      {"2024-01-01T10:00:00.000+0000", ten},
      {"2024-01-01T10:00:00.000Z", ten},  // a literal Z is accepted by Z
      {"2024-01-01T10:00:00.000z", ten},
      {"2024-01-01T12:00:00.000+02:00", ten},
      {"2024-01-01T05:00:00.000-05", ten},
      {"2024-01-01T10:00:00.123+0000", at_s(k2024 + 36000, 123000000)},
      {"2024-01-01T10:00:00.1+0000", at_s(k2024 + 36000, 100000000)},
      {"2024-01-01T10:00:00.1234+0000", at_s(k2024 + 36000, 123400000)},  // a fraction, not 1234 ms
      {"2024-01-01T10:00:00.123456789+0000", at_s(k2024 + 36000, 123456789)},
      {"2024-01-01T10:00:00Z", ten},  // fraction omitted
      {"2024-01-01t10:00:00.000Z", ten},
  };
  for (const auto& c : ok) {
    INFO(c.text);
    const auto r = salesforce.parse(c.text);
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(*r == c.expected);
  }
  const struct {
    const char* text;
    errc code;
    std::size_t position;
  } bad[] = {
      {"", errc::parse_error, 0},
      {"24-01-01T10:00:00.000Z", errc::parse_error, 2},
      {"2024-13-01T10:00:00.000Z", errc::invalid_date, 5},
      {"2024-00-01T10:00:00.000Z", errc::invalid_date, 5},
      {"2024-02-30T10:00:00.000Z", errc::invalid_date, 8},
      {"2023-02-29T10:00:00.000Z", errc::invalid_date, 8},
      {"2024-01-32T10:00:00.000Z", errc::invalid_date, 8},
      {"2024-01-01 10:00:00.000Z", errc::parse_error, 10},
      {"2024-01-01T24:00:00.000Z", errc::invalid_date, 11},
      {"2024-01-01T10:60:00.000Z", errc::invalid_date, 14},
      {"2024-01-01T10:00:60.000Z", errc::invalid_date, 17},
      {"2024-01-01T10:00:00.000", errc::parse_error, 23},
      {"2024-01-01T10:00:00.000+2400", errc::out_of_range, 23},
      {"2024-01-01T10:00:00.Z", errc::parse_error, 20},
      {"2024-01-01T10:00:00.1234567891Z", errc::parse_error, 29},
      {"2024-01-01T10:00:00.000Zjunk", errc::parse_error, 24},
      {"2024-01-01T10:00:00.000 +0000", errc::parse_error, 23},
  };
  for (const auto& c : bad) {
    INFO(c.text);
    const auto r = salesforce.parse(c.text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == c.code);
    CHECK(r.error().position == c.position);
  }

  // Without an offset field the pattern's zone applies; with one, the data's offset wins.
  const time_pattern plain = java("yyyy-MM-dd HH:mm:ss");
  CHECK(*plain.parse("2024-01-01 10:00:00") == ten);
  const time_pattern plus2 = java("yyyy-MM-dd HH:mm:ss", *time_zone::fixed(seconds{7200}));
  CHECK(*plus2.parse("2024-01-01 12:00:00") == ten);
  const time_pattern plus2_with_offset = java("yyyy-MM-dd HH:mm:ssXXX", *time_zone::fixed(seconds{7200}));
  CHECK(*plus2_with_offset.parse("2024-01-01 10:00:00Z") == ten);

  const time_pattern rfc1123 = java("EEE, dd MMM yyyy HH:mm:ss Z");
  CHECK(*rfc1123.parse("Mon, 01 Jan 2024 10:00:00 +0000") == ten);
  CHECK(*rfc1123.parse("MON, 01 JAN 2024 10:00:00 +0000") == ten);
  const auto wrong_day = rfc1123.parse("Tue, 01 Jan 2024 10:00:00 +0000");
  CHECK(wrong_day.code() == errc::invalid_date);
  CHECK(wrong_day.error().position == 0);
  CHECK(rfc1123.parse("Xyz, 01 Jan 2024 10:00:00 +0000").code() == errc::parse_error);
  CHECK(rfc1123.parse("Mon, 01 Jab 2024 10:00:00 +0000").error().position == 8);

  const time_pattern twelve = java("yyyy-MM-dd hh:mm a");
  CHECK(*twelve.parse("2024-01-01 12:00 AM") == at_s(k2024));
  CHECK(*twelve.parse("2024-01-01 12:30 PM") == at_s(k2024 + 12 * 3600 + 1800));
  CHECK(*twelve.parse("2024-01-01 01:00 pm") == at_s(k2024 + 13 * 3600));
  CHECK(twelve.parse("2024-01-01 13:00 PM").code() == errc::invalid_date);
  CHECK(twelve.parse("2024-01-01 00:00 AM").code() == errc::invalid_date);
  CHECK(twelve.parse("2024-01-01 01:00 XM").error().position == 17);

  const time_pattern compact = java("yyMMddHHmmssSSS");
  CHECK(*compact.parse("240101100000123") == at_s(k2024 + 36000, 123000000));
  CHECK(compact.parse("24010110000012").code() == errc::parse_error);

  const time_pattern loose = java("d/M/yyyy H:m:s");
  CHECK(*loose.parse("1/1/2024 10:0:0") == ten);
  CHECK(*loose.parse("01/01/2024 10:00:00") == ten);

  const time_pattern ordinal = java("yyyy-DDD");
  CHECK(*ordinal.parse("2024-060") == iso("2024-02-29T00:00:00Z"));
  CHECK(*ordinal.parse("2023-365") == iso("2023-12-31T00:00:00Z"));
  CHECK(ordinal.parse("2023-366").code() == errc::invalid_date);
  CHECK(ordinal.parse("2023-000").code() == errc::invalid_date);
  const time_pattern both = java("yyyy-MM-dd DDD");
  CHECK(both.parse("2024-01-01 001").has_value());
  CHECK(both.parse("2024-01-01 002").error().position == 11);

  const time_pattern quoted = java("hh 'o''clock' a, yyyy-MM-dd");
  CHECK(*quoted.parse("10 o'clock AM, 2024-01-01") == ten);
  const time_pattern names = java("EEEE d MMMM yyyy");
  CHECK(*names.parse("Monday 1 January 2024") == at_s(k2024));
  CHECK(*names.parse("thursday 29 february 2024") == iso("2024-02-29T00:00:00Z"));

  CHECK(java("HH:mm").parse("10:00").code() == errc::invalid_argument);
}

TEST_CASE("Java patterns: format") {
  const instant t = at_s(k2024 + 36000, 123456789);
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSSZ").format(t) == "2024-01-01T10:00:00.123+0000");
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").format(t) == "2024-01-01T10:00:00.123Z");
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX").format(t) == "2024-01-01T10:00:00.123456789Z");
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SXXX").format(t) == "2024-01-01T10:00:00.1Z");
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSSSSS").format(at_s(k2024, -1)) == "2023-12-31T23:59:59.999999");
  CHECK(java("EEE, dd MMM yyyy HH:mm:ss Z").format(t) == "Mon, 01 Jan 2024 10:00:00 +0000");
  CHECK(java("EEEE d MMMM yy h:mm a").format(t) == "Monday 1 January 24 10:00 AM");
  CHECK(java("h a").format(at_s(k2024)) == "12 AM");
  CHECK(java("hh a").format(at_s(k2024 + 13 * 3600)) == "01 PM");
  CHECK(java("D DDD").format(iso("2024-02-29T00:00:00Z")) == "60 060");
  CHECK(java("M/d/y H:m:s").format(iso("2024-02-09T08:07:06Z")) == "2/9/2024 8:7:6");
  CHECK(java("hh 'o''clock' a").format(t) == "10 o'clock AM");
  CHECK(java("''yyyy''").format(t) == "'2024'");
  CHECK(java("X|XX|XXX|x|xx|xxx|Z|ZZZZZ").format(t) == "Z|Z|Z|+00|+0000|+00:00|+0000|Z");
  const time_zone minus330 = *time_zone::fixed(seconds{-(3 * 3600 + 1800)});
  CHECK(java("X|XX|XXX|x|xx|xxx|Z|ZZZZZ", minus330).format(t) ==
        "-0330|-0330|-03:30|-0330|-0330|-03:30|-0330|-03:30");
  const time_zone plus1 = *time_zone::fixed(seconds{3600});
  CHECK(java("HH:mm X|XX|XXX", plus1).format(t) == "11:00 +01|+0100|+01:00");

  const time_pattern p = java("yyyy-MM-dd'T'HH:mm:ss.SSSZ");
  char buf[64];
  CHECK(p.max_formatted_size() <= sizeof buf);
  const std::size_t n = p.format_to(buf, sizeof buf, t);
  CHECK(std::string(buf, n) == "2024-01-01T10:00:00.123+0000");
  CHECK(p.format_to(buf, p.max_formatted_size() - 1, t) == 0);
}

TEST_CASE("Java patterns in IANA zones: DST transitions and half-hour offsets") {
  if (!have_tzdb()) return;
  const time_zone oslo = zone("Europe/Oslo");
  const time_pattern local = java("dd-MM-yyyy HH:mm", oslo);
  CHECK(*local.parse("01-01-2024 12:00") == iso("2024-01-01T11:00:00Z"));
  CHECK(*local.parse("01-07-2024 12:00") == iso("2024-07-01T10:00:00Z"));
  CHECK(*local.parse("31-03-2024 02:30") == iso("2024-03-31T01:30:00Z"));  // gap
  CHECK(*local.parse("27-10-2024 02:30") == iso("2024-10-27T00:30:00Z"));  // overlap: earlier
  CHECK(local.format(iso("2024-10-27T00:30:00Z")) == "27-10-2024 02:30");
  CHECK(local.format(iso("2024-10-27T01:30:00Z")) == "27-10-2024 02:30");
  CHECK(local.format(iso("2024-03-31T01:00:00Z")) == "31-03-2024 03:00");
  const time_pattern with_offset = java("yyyy-MM-dd'T'HH:mm:ssXXX", oslo);
  CHECK(with_offset.format(iso("2024-10-27T00:30:00Z")) == "2024-10-27T02:30:00+02:00");
  CHECK(with_offset.format(iso("2024-10-27T01:30:00Z")) == "2024-10-27T02:30:00+01:00");
  CHECK(*with_offset.parse("2024-10-27T02:30:00+01:00") == iso("2024-10-27T01:30:00Z"));

  const time_zone st_johns = zone("America/St_Johns");
  const time_pattern nf = java("yyyy-MM-dd HH:mm xxx", st_johns);
  CHECK(nf.format(iso("2024-01-15T15:30:00Z")) == "2024-01-15 12:00 -03:30");
  CHECK(nf.format(iso("2024-07-15T14:30:00Z")) == "2024-07-15 12:00 -02:30");
  const time_pattern nf_local = java("yyyy-MM-dd HH:mm", st_johns);
  CHECK(*nf_local.parse("2024-01-15 12:00") == iso("2024-01-15T15:30:00Z"));
  CHECK(*nf_local.parse("2024-07-15 12:00") == iso("2024-07-15T14:30:00Z"));

  CHECK(sincehash::parse_iso8601("2024-03-31T02:30:00", oslo).value() == iso("2024-03-31T01:30:00Z"));
  CHECK(sincehash::parse_iso8601("2024-10-27T02:30:00", oslo).value() == iso("2024-10-27T00:30:00Z"));
  CHECK(sincehash::parse_iso8601("2024-10-27T02:30:00Z", oslo).value() == iso("2024-10-27T02:30:00Z"));
  CHECK(sincehash::parse_iso8601("2024-10-27", oslo).value() == iso("2024-10-27T00:00:00Z"));
  CHECK(sincehash::parse_iso8601("2024-02-30T02:30:00", oslo).code() == errc::invalid_date);
}

TEST_CASE("Java pattern errors name the position in the pattern") {
  const struct {
    const char* pattern;
    errc code;
    std::size_t position;
  } bad[] = {
      {"yyyy-MM-dd'T", errc::parse_error, 10},   {"yyyy-qq", errc::invalid_argument, 5},
      {"hh:mm", errc::invalid_argument, 0},      {"yyyyy", errc::invalid_argument, 0},
      {"yyyy-MMMMM", errc::invalid_argument, 5}, {"SSSSSSSSSS", errc::invalid_argument, 0},
      {"yyyy ZZZZ", errc::invalid_argument, 5},  {"yyyy XXXX", errc::invalid_argument, 5},
      {"yyyy aa", errc::invalid_argument, 5},    {"yyyy-MM-dd zzz", errc::invalid_argument, 11},
      {"yyyy-MM-dd'T'HH:mm:ss", errc::ok, 0},
  };
  for (const auto& c : bad) {
    INFO(c.pattern);
    const auto p = time_pattern::java(c.pattern);
    CHECK(p.code() == c.code);
    if (!p.has_value()) CHECK(p.error().position == c.position);
  }
  // A literal 'Z' claims UTC; with another zone it would mislabel local time.
  const auto mislabel = time_pattern::java("yyyy-MM-dd'T'HH:mm:ss'Z'", *time_zone::fixed(seconds{3600}));
  CHECK(mislabel.code() == errc::invalid_argument);
  CHECK(mislabel.error().position == 21);
  CHECK(time_pattern::java("yyyy-MM-dd'T'HH:mm:ss'Z'", *time_zone::fixed(seconds{0})).has_value());
  CHECK(time_pattern::java("yyyy 'Zulu'", *time_zone::fixed(seconds{3600})).has_value());
}

TEST_CASE("strftime patterns") {
  const instant t = at_s(k2024 + 36000, 123456789);
  const time_pattern iso_f = strf("%Y-%m-%dT%H:%M:%S.%fZ");
  CHECK(iso_f.format(t) == "2024-01-01T10:00:00.123456Z");
  CHECK(*iso_f.parse("2024-01-01T10:00:00.123456Z") == at_s(k2024 + 36000, 123456000));
  CHECK(*iso_f.parse("2024-01-01T10:00:00.123456789Z") == t);
  CHECK(*iso_f.parse("2024-01-01T10:00:00Z") == at_s(k2024 + 36000));
  CHECK(strf("%F %T%z").format(t) == "2024-01-01 10:00:00+0000");
  CHECK(*strf("%F %T%z").parse("2024-01-01 12:00:00+02:00") == at_s(k2024 + 36000));
  CHECK(strf("%F %T%:z", *time_zone::fixed(seconds{-19800})).format(t) == "2024-01-01 04:30:00-05:30");
  CHECK(strf("%d/%m/%y %I:%M %p").format(t) == "01/01/24 10:00 AM");
  CHECK(*strf("%d/%m/%y %I:%M %p").parse("01/01/24 10:00 PM") == at_s(k2024 + 22 * 3600));
  CHECK(strf("%a %b %e %Y").format(iso("2024-02-09T00:00:00Z")) == "Fri Feb 9 2024");
  CHECK(strf("%A %B").format(t) == "Monday January");
  CHECK(strf("%Y-%j").format(iso("2024-12-31T00:00:00Z")) == "2024-366");
  CHECK(*strf("%Y-%j").parse("2024-060") == iso("2024-02-29T00:00:00Z"));
  CHECK(strf("%Y-%j").parse("2023-366").error().position == 5);
  CHECK(strf("100%% %Y").format(t) == "100% 2024");

  // Epoch fields: %s seconds, %ms milliseconds (as Airbyte uses it).
  const time_pattern secs = strf("%s");
  CHECK(secs.format(t) == "1704103200");
  CHECK(*secs.parse("1704103200") == at_s(k2024 + 36000));
  CHECK(*secs.parse("-1") == at_s(-1));
  CHECK(secs.format(at_s(0, -1)) == "-1");
  CHECK(secs.parse("").code() == errc::parse_error);
  CHECK(secs.parse("99999999999999999999").code() == errc::out_of_range);
  CHECK(secs.parse("9223372037").code() == errc::out_of_range);
  const time_pattern millis = strf("%ms");
  CHECK(millis.format(t) == "1704103200123");
  CHECK(*millis.parse("1704103200123") == at_s(k2024 + 36000, 123000000));
  CHECK(*strf("%s.%f").parse("1704103200.5") == at_s(k2024 + 36000, 500000000));

  const struct {
    const char* pattern;
    errc code;
    std::size_t position;
  } bad[] = {
      {"%Y-%Q", errc::invalid_argument, 3},
      {"%Y%", errc::parse_error, 2},
      {"%:x", errc::invalid_argument, 0},
      {"%I:%M", errc::invalid_argument, 0},
  };
  for (const auto& c : bad) {
    INFO(c.pattern);
    const auto p = time_pattern::strftime(c.pattern);
    CHECK(p.code() == c.code);
    if (!p.has_value()) CHECK(p.error().position == c.position);
  }
  const auto mislabel = time_pattern::strftime("%Y-%m-%dT%H:%M:%SZ", *time_zone::fixed(seconds{3600}));
  CHECK(mislabel.code() == errc::invalid_argument);
  CHECK(mislabel.error().position == 17);
}

TEST_CASE("pattern round trips: parse(format(t)) over the whole range in fixed and IANA zones") {
  std::vector<time_zone> zones = {time_zone::utc(), *time_zone::fixed(seconds{5 * 3600 + 1800}),
                                  *time_zone::fixed(seconds{-(23 * 3600 + 59 * 60)})};
  if (have_tzdb()) {
    for (const char* name : {"Europe/Oslo", "America/St_Johns", "Australia/Sydney", "Europe/Amsterdam"}) {
      zones.push_back(zone(name));
    }
  }
  const struct {
    const char* pattern;
    bool java_style;
    std::int64_t precision;  // nanoseconds kept
  } aware[] = {
      {"yyyy-MM-dd'T'HH:mm:ss.SSSZ", true, 1000000},
      {"yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX", true, 1},
      {"yyyyMMddHHmmssSSSSSSxx", true, 1000},
      {"EEE, dd MMM yyyy HH:mm:ss X", true, kSecond},
      {"D yyyy HH:mm:ss.S ZZZZZ", true, 100000000},
      {"MMMM d yyyy h:mm:ss a xxx", true, kSecond},
      {"%Y-%m-%dT%H:%M:%S.%f%z", false, 1000},
      {"%s", false, kSecond},
      {"%ms", false, 1000000},
  };
  std::mt19937_64 rng(2262);
  for (const time_zone& z : zones) {
    for (const auto& c : aware) {
      const auto p = c.java_style ? time_pattern::java(c.pattern, z) : time_pattern::strftime(c.pattern, z);
      REQUIRE(p.has_value());
      for (int k = 0; k < 1500; ++k) {
        std::int64_t ns = static_cast<std::int64_t>(rng());
        // Keep the truncated instant representable.
        if (ns < std::numeric_limits<std::int64_t>::min() + kSecond) ns += kSecond;
        const instant t{nanoseconds{ns}};
        const std::string text = p->format(t);
        INFO(z.name() << " " << c.pattern << " " << text);
        const auto r = p->parse(text);
        REQUIRE_MESSAGE(r.has_value(), r.error().describe());
        const std::int64_t rem = ((ns % c.precision) + c.precision) % c.precision;
        CHECK(r->time_since_epoch().count() == ns - rem);
      }
    }
    // Without an offset field the local text round-trips (an overlap's two instants share one text).
    const time_pattern local = java("yyyy-MM-dd HH:mm:ss.SSS", z);
    for (int k = 0; k < 1500; ++k) {
      const auto s = static_cast<std::int64_t>(rng() % 18000000000ULL) - 9000000000LL;
      const instant t{seconds{s}};
      const std::string text = local.format(t);
      INFO(z.name() << " " << text);
      const auto r = local.parse(text);
      REQUIRE_MESSAGE(r.has_value(), r.error().describe());
      CHECK(local.format(*r) == text);
    }
  }
}

TEST_CASE("expand_url_template") {
  const instant t = at_s(k2024 + 36000, 123456789);
  const struct {
    const char* tmpl;
    const char* expected;
  } ok[] = {
      {"https://api/x?since=${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}",
       "https://api/x?since=2024-01-01T10:00:00.123Z"},
      {"/v1?ts=${epoch:s}&ms=${epoch:ms}", "/v1?ts=1704103200&ms=1704103200123"},
      {"${epoch:us}/${epoch:ns}", "1704103200123456/1704103200123456789"},
      {"${date:yyyy-MM-dd}", "2024-01-01"},
      {"where LastModifiedDate >= ${gmtDate:yyyy-MM-dd'T'HH:mm:ssXXX}",
       "where LastModifiedDate >= 2024-01-01T10:00:00Z"},
      {"${gmtDate:HH'}'mm}", "10}00"},
      {"no placeholders $ { } $x {y}", "no placeholders $ { } $x {y}"},
      {"cost $5", "cost $5"},
      {"$", "$"},
      {"", ""},
  };
  for (const auto& c : ok) {
    INFO(c.tmpl);
    const auto r = sincehash::expand_url_template(c.tmpl, t);
    REQUIRE_MESSAGE(r.has_value(), r.error().describe());
    CHECK(*r == c.expected);
  }
  const struct {
    const char* tmpl;
    errc code;
    std::size_t position;
    const char* named;
  } bad[] = {
      {"/x?since=${epoch}", errc::config_error, 9, "${epoch}"},
      {"/x?since=${epoch:minutes}", errc::config_error, 9, "${epoch:minutes}"},
      {"/x?${since}", errc::config_error, 3, "${since}"},
      {"/x?${gmtDate}", errc::config_error, 3, "${gmtDate}"},
      {"/x?${gmtDate:}", errc::config_error, 3, "${gmtDate:}"},
      {"/x?${gmtDate:yyyy-qq}", errc::invalid_argument, 18, "${gmtDate:yyyy-qq}"},
      {"/x?${gmtDate:yyyy-MM", errc::parse_error, 3, "'${'"},
      {"/x?${gmtDate:yyyy-MM-dd'}", errc::parse_error, 3, "'${'"},
  };
  for (const auto& c : bad) {
    INFO(c.tmpl);
    const auto r = sincehash::expand_url_template(c.tmpl, t);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == c.code);
    CHECK(r.error().position == c.position);
    CHECK(r.error().message.find(c.named) != std::string::npos);
  }
  const time_zone plus1 = *time_zone::fixed(seconds{3600});
  CHECK(*sincehash::expand_url_template("${date:HH:mm}|${gmtDate:HH:mm}", t, plus1) == "11:00|10:00");
  const auto mislabel = sincehash::expand_url_template("${date:HH:mm'Z'}", t, plus1);
  CHECK(mislabel.code() == errc::invalid_argument);
  CHECK(mislabel.error().position == 12);
}

TEST_CASE("a pattern holding a field twice formats, but refuses to parse: it could read a date two ways") {
  // `ss.SS,S` writes the fraction at two precisions: 10:00:00.020 as "00.02,0", read back as
  // .02 or as .0 depending on which copy wins.
  const time_pattern fraction = java("yyyy-MM-dd'T'HH:mm:ss.SS,SZ");
  CHECK(fraction.format(iso("2024-01-01T10:00:00.020Z")) == "2024-01-01T10:00:00.02,0+0000");
  const auto read = fraction.parse("2024-01-01T10:00:00.02,0+0000");
  REQUIRE_FALSE(read.has_value());
  CHECK(read.error().code == errc::invalid_argument);
  CHECK(read.error().message.find("fraction of a second twice") != std::string::npos);
  CHECK_FALSE(fraction.parse_check().has_value());
  // `yyyy yy` writes 1999 as "1999 99", and 99 alone means 2099.
  const time_pattern years = java("yyyy yy MM dd");
  CHECK(years.format(iso("1999-05-01T00:00:00Z")) == "1999 99 05 01");
  CHECK(years.parse("1999 99 05 01").error().message.find("year twice") != std::string::npos);
  // Offsets in two styles: `X` drops the minutes that `XXX` writes.
  CHECK(java("yyyy-MM-dd X XXX").parse("2024-01-01 +05 +05:30").error().message.find("offset twice") !=
        std::string::npos);
  CHECK(time_pattern::strftime("%Y-%m-%d %Y", time_zone::utc())->parse("2024-01-01 2024").has_value() ==
        false);
  // Epoch milliseconds hold the milliseconds a fraction holds too: "0.12" at epoch 120 ms would
  // read back as 240 ms.
  const time_pattern both = time_pattern::strftime("%Y-%m-%dT%H:%M:%ms.%f%z", time_zone::utc()).value();
  CHECK(both.format(iso("1970-01-01T00:00:00.120Z")) == "1970-01-01T00:00:120.120000+0000");
  const auto twice = both.parse("1970-01-01T00:00:120.120000+0000");
  REQUIRE_FALSE(twice.has_value());
  CHECK(
      twice.error().message.find("milliseconds twice: in the epoch milliseconds (at 15) and in the fraction "
                                 "of a second (at 19)") != std::string::npos);
  // Epoch seconds and a fraction split the instant between them, and read back.
  const time_pattern split = time_pattern::strftime("%s.%f", time_zone::utc()).value();
  CHECK(split.parse_check().has_value());
  CHECK(split.parse("1704103200.125").value() == iso("2024-01-01T10:00:00.125Z"));
  // One of each parses as before.
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSZ").parse_check().has_value());
  CHECK(java("yyyy-MM-dd'T'HH:mm:ss.SSZ").parse("2024-01-01T10:00:00.02+0000").value() ==
        iso("2024-01-01T10:00:00.020Z"));
  // A date format, which is there to read dates, refuses such a pattern when compiled.
  const auto format = sincehash::date_format::compile("yyyy-MM-dd'T'HH:mm:ss.SS,SZ", time_zone::utc());
  REQUIRE_FALSE(format.has_value());
  CHECK(format.error().message.find("twice") != std::string::npos);
}

TEST_CASE("an AM/PM field without an hour formats, but refuses to parse") {
  // Read back, the marker would be dropped: "1:00:00 PM" formatted at 18:00 would read as 00:00.
  const time_zone minus1 = time_zone::fixed(seconds{-3600}).value();
  const time_pattern p = java("EE, dd MMM y 1:mm:ss a X", minus1);
  CHECK(p.format(iso("2023-12-31T19:00:00Z")) == "Sun, 31 Dec 2023 1:00:00 PM -01");
  for (const char* pattern : {"EE, dd MMM y 1:mm:ss a X", "yyyy-MM-dd a"}) {
    INFO(std::string(pattern));
    const auto why = java(pattern).parse_check();
    REQUIRE_FALSE(why.has_value());
    CHECK(why.error().code == errc::invalid_argument);
    CHECK(why.error().message.find("the AM/PM field (at ") == 0);
    const auto read = java(pattern).parse(java(pattern).format(iso("2024-11-22T15:11:12Z")));
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error().message == why.error().message);
  }
  const auto strf = time_pattern::strftime("%Y-%m-%d %p");
  REQUIRE(strf.has_value());
  CHECK_FALSE(strf->parse_check().has_value());
  // With an hour, 12- or 24-hour, the marker reads back.
  for (const char* pattern : {"yyyy-MM-dd hh:mm a", "yyyy-MM-dd HH:mm a"}) {
    INFO(std::string(pattern));
    const time_pattern q = java(pattern);
    CHECK(q.parse_check().has_value());
    const auto read = q.parse(q.format(iso("2024-11-22T15:11:00Z")));
    REQUIRE(read.has_value());
    CHECK(*read == iso("2024-11-22T15:11:00Z"));
  }
}

TEST_CASE("a field of variable width followed directly by digits formats, but refuses to parse") {
  // `yyms` at UTC-02:00: "370051" would read as 2037-01-01T02:00:51Z, which formats as "37051",
  // which would read back as 02:05:01.
  const time_zone minus2 = time_zone::fixed(seconds{-7200}).value();
  const time_pattern yyms = java("yyms", minus2);
  CHECK(yyms.format(iso("2037-01-01T02:00:51Z")) == "37051");
  for (const char* text : {"370051", "37051"}) {
    const auto read = yyms.parse(text);
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error().code == errc::invalid_argument);
  }
  const auto check = java("yyyy-MM-dd HH:ms").parse_check();
  REQUIRE_FALSE(check.has_value());
  CHECK(check.error().code == errc::invalid_argument);
  CHECK(check.error().message.find("the minute 'm' (at 14)") != std::string::npos);
  CHECK(check.error().message.find("the second 's' (at 15)") != std::string::npos);

  struct refused {
    const char* pattern;
    bool strftime;
    const char* first;
    const char* second;
  };
  const refused cases[] = {
      {"yyyy-M-dHH", false, "day of the month 'd' (at 7)", "hour 'HH' (at 8)"},
      {"yyyyMMdd'T'Hmm", false, "hour 'H' (at 11)", "minute 'mm' (at 12)"},
      {"yyyy-MM-dd hmm a", false, "hour 'h' (at 11)", "minute 'mm' (at 12)"},
      {"yyyy-Mdd", false, "month 'M' (at 5)", "day of the month 'dd' (at 6)"},
      {"yyyyDHH", false, "day of the year 'D' (at 4)", "hour 'HH' (at 5)"},
      {"yyyy-MM-dd HH:mm:sSSS", false, "second 's' (at 17)", "fraction of a second 'SSS' (at 18)"},
      {"yyyy-MM-dd mm.SSSss", false, "fraction of a second 'SSS' (at 14)", "second 'ss' (at 17)"},
      {"yyyy-MM-dd mm:ss XHH", false, "offset 'X' (at 17)", "hour 'HH' (at 18)"},
      {"yyyy-MM-d0", false, "day of the month 'd' (at 8)", "literal '0' (at 9)"},
      {"%s%f", true, "epoch '%s' (at 0)", "fraction of a second '%f' (at 2)"},
      {"%ms%H", true, "epoch '%ms' (at 0)", "hour '%H' (at 3)"},
      {"%Y-%m-%e%H", true, "day of the month '%e' (at 6)", "hour '%H' (at 8)"},
      {"%Y%m%e%T", true, "day of the month '%e' (at 4)", "hour '%T' (at 6)"},
  };
  for (const refused& c : cases) {
    INFO(std::string(c.pattern));
    const auto p = c.strftime ? time_pattern::strftime(c.pattern) : time_pattern::java(c.pattern);
    REQUIRE(p.has_value());  // it formats
    const auto why = p->parse_check();
    REQUIRE_FALSE(why.has_value());
    INFO(why.error().message);
    CHECK(why.error().message.find(std::string(c.first) +
                                   " has a variable width and is followed directly by the " + c.second) !=
          std::string::npos);
    const auto read = p->parse(p->format(iso("2024-11-22T10:11:12.5Z")));
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error().message == why.error().message);
  }

  // Fixed widths followed by numbers, and variable widths followed by a separator, a name or an
  // offset, read back what they wrote.
  const char* java_ok[] = {"yyyyMMddHHmmssSSS",   "yyMMddHHmmssSSS",    "yyyyDDDHHmmss",
                           "hhmma yyyyMMdd",      "yyyyMMddHHmmssZ",    "yyyyMMddHHmmxxss",
                           "yyyyMMddHHmmZZZZZss", "M/d/yyyy H:m:s.SSS", "yyyy-M-d'T'H:m:s.SXXX",
                           "d MMMM yyyy h:mma",   "yyyyMMdd HHmmX",     "yyyy-MM-dd HH:mm:s.S"};
  const char* strftime_ok[] = {"%Y%m%d%H%M%S", "%Y%j%H%M%S%z", "%Y-%m-%e %T", "%s.%f", "%ms"};
  const instant moments[] = {iso("2024-02-09T08:07:06.5Z"), iso("2037-01-01T02:00:51Z"),
                             iso("1999-12-31T23:59:59.999Z"), iso("2024-11-22T10:11:12Z")};
  for (const char* text : java_ok) {
    INFO(std::string(text));
    const time_pattern p = java(text);
    CHECK(p.parse_check().has_value());
    for (const instant t : moments) {
      const std::string once = p.format(t);
      INFO(once);
      const auto back = p.parse(once);
      REQUIRE(back.has_value());
      CHECK(p.format(*back) == once);
    }
  }
  for (const char* text : strftime_ok) {
    INFO(std::string(text));
    const time_pattern p = strf(text);
    CHECK(p.parse_check().has_value());
    for (const instant t : moments) {
      const auto back = p.parse(p.format(t));
      REQUIRE(back.has_value());
      CHECK(p.format(*back) == p.format(t));
    }
  }

  // A date format, which is there to read dates, refuses such a pattern when compiled.
  const auto format = sincehash::date_format::compile("yyyy-MM-dd HH:ms", time_zone::utc());
  REQUIRE_FALSE(format.has_value());
  CHECK(format.error().message.find("the minute 'm' (at 14) has a variable width") != std::string::npos);
}

TEST_CASE("instant_check: a pattern names an instant with an epoch, or a full date and no gap in the time") {
  struct incomplete {
    const char* pattern;
    bool strftime;
    const char* reason;
    std::size_t position;
  };
  const incomplete cases[] = {
      {"HH:mm", false, "has no year", sincehash::no_position},
      {"%H:%M:%S", true, "has no year", sincehash::no_position},
      {"MM-dd HH:mm", false, "has no year", sincehash::no_position},
      {"yyyy-MM", false, "has no day of the month (nor a day of the year)", sincehash::no_position},
      {"yyyy-dd", false, "has no month (nor a day of the year)", sincehash::no_position},
      {"EEE yyyy HH:mm", false, "has no month (nor a day of the year)", sincehash::no_position},
      {"yyyy-MM DDD", false, "has a day of the year and only one of a month and a day",
       sincehash::no_position},
      {"yyyy-MM-dd mm:ss", false, "has a minute but no hour", 11},
      {"yyyy-MM-dd HH:ss", false, "has a second but no minute", 14},
      {"%Y-%m-%d %H:%M .%f", true, "has a fraction of a second but no second", 16},
  };
  for (const incomplete& c : cases) {
    INFO(std::string(c.pattern));
    const auto p = c.strftime ? time_pattern::strftime(c.pattern) : time_pattern::java(c.pattern);
    REQUIRE(p.has_value());  // it formats
    const auto check = p->instant_check();
    REQUIRE_FALSE(check.has_value());
    CHECK(check.error().code == errc::invalid_argument);
    CHECK(check.error().message ==
          "the date pattern " + std::string(c.reason) + ", so it cannot identify an instant");
    CHECK(check.error().position == c.position);
  }
  for (const char* text : {"yyyy-MM-dd", "yyyy-DDD", "yyyy-MM-dd'T'HH", "yyyy-MM-dd DDD HH:mm",
                           "EEE, dd MMM yyyy HH:mm:ss Z", "yyMMddhhmma", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"}) {
    INFO(std::string(text));
    CHECK(java(text).instant_check().has_value());
  }
  for (const char* text : {"%s", "%ms", "%s.%f", "%F %T", "%Y%j"}) {
    INFO(std::string(text));
    CHECK(strf(text).instant_check().has_value());
  }
  // A date format, which reads instants, refuses such a pattern when compiled.
  const auto clock = sincehash::date_format::compile("HH:mm", time_zone::utc());
  REQUIRE_FALSE(clock.has_value());
  CHECK(clock.error().message.find("no year") != std::string::npos);
  CHECK(sincehash::date_format::compile("yyyy-MM-dd", time_zone::utc()).has_value());
  CHECK(sincehash::date_format::compile("%s", time_zone::utc()).has_value());
}
