#ifndef SINCEHASH_TIME_PATTERN_HPP
#define SINCEHASH_TIME_PATTERN_HPP

// Time zones, compiled date patterns (Java and strftime style) and URL templates.
//
// Parsing rules shared by both pattern styles (decisions callers rely on):
// - An offset field in the pattern (Java `Z`, `ZZZZZ`, `X`, `XX`, `XXX`, `x`, `xx`, `xxx`;
//   strftime `%z`, `%:z`) accepts, on parse, any of `Z`, `z`, `+HH`, `+HHMM`, `+HH:MM` (and `-`).
//   In particular Java's `Z`, which in SimpleDateFormat rejects a literal "Z", here accepts it:
//   `yyyy-MM-dd'T'HH:mm:ss.SSSZ` reads both Salesforce's "...00.000+0000" and "...00.000Z".
//   When formatting, `Z` and `%z` write `+0000`-style, `X`/`XX`/`XXX` write `Z` for UTC and
//   `+01`/`+0100`/`+01:00` otherwise, `x`/`xx`/`xxx` the same without `Z`.
// - The offset in the data wins; without an offset field the pattern's zone applies (a local
//   time in a DST gap uses the offset before the gap, one in an overlap the earlier instant).
// - A fraction field (`S`..`SSSSSSSSS`, `%f`) is read as a decimal fraction of a second, never as
//   a count of milliseconds: `.1234` under `SSS` is 123.4 ms. When the fraction follows a `.` or
//   `,` in the pattern, the data may carry 1-9 digits, or omit the point and the fraction
//   altogether (zero). Without a point the fraction has exactly the pattern's width. Formatting
//   writes exactly the pattern's width (`%f`: 6), truncated, never rounded up.
// - Numeric fields with a doubled letter (`MM`, `dd`, `HH`, `mm`, `ss`, `yyyy`) need exactly that
//   many digits; single letters (`M`, `d`, `H`, `h`, `m`, `s`) accept 1 or 2. `yy` is 2000-2099.
// - A field of variable width (`M`, `d`, `D`, `H`, `h`, `m`, `s`, `%e`, a fraction after a point,
//   an epoch, the offset `X`/`x` that drops whole-hour minutes) directly followed by digits (a
//   numeric field or a literal digit) cannot be read back: `yyms` writes 2037 at 00:00:51 as
//   "37051", which reads as 00:05:01. Such a pattern formats but refuses to parse (see
//   `parse_check`). Fixed widths: `y`/`yyy`/`yyyy`/`%Y` (4 digits), `yy`, `MM`, `dd`, `DDD`,
//   `HH`, `hh`, `mm`, `ss`, a fraction without a point, and `Z`, `XX`, `XXX`, `%z`, `%:z`.
// - Literal letters match either case ('T' matches "t"). Month and weekday names are English,
//   any case; a weekday that contradicts the date is `errc::invalid_date`.
// - A pattern that writes a literal 'Z' (`'Z'`, `%SZ`) claims UTC: compiling it with a zone other
//   than UTC is an error, since it would label local time as UTC.
// - Patterns cannot parse leap seconds or 24:00; use `parse_iso8601` for those.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/detail/time_civil.hpp"
#include "sincehash/detail/tzif.hpp"
#include "sincehash/error.hpp"
#include "sincehash/time.hpp"

namespace sincehash {

namespace detail {

struct tz_data {
  std::string name;
  tz_table table;
};

inline const std::shared_ptr<const tz_data>& utc_tz_data() {
  static const std::shared_ptr<const tz_data> data = std::make_shared<const tz_data>(tz_data{"UTC", {}});
  return data;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
  }
  return true;
}

inline std::string offset_name(std::int32_t offset) {
  char buf[16];
  char* p = buf;
  const std::int32_t magnitude = offset < 0 ? -offset : offset;
  *p++ = offset < 0 ? '-' : '+';
  p = write_2digits(p, static_cast<unsigned>(magnitude / 3600));
  *p++ = ':';
  p = write_2digits(p, static_cast<unsigned>(magnitude / 60 % 60));
  if (magnitude % 60 != 0) {
    *p++ = ':';
    p = write_2digits(p, static_cast<unsigned>(magnitude % 60));
  }
  return std::string(buf, p);
}

/// "+01:00", "-0530", "+01", "+1" (after an optional UTC/GMT prefix); false when not that form.
inline bool parse_fixed_zone(std::string_view s, std::int32_t& offset) noexcept {
  if (s.empty() || (s[0] != '+' && s[0] != '-')) return false;
  const bool negative = s[0] == '-';
  std::size_t i = 1;
  unsigned hh = 0;
  unsigned mm = 0;
  std::size_t start = i;
  while (i < s.size() && is_digit(s[i]) && i - start < 2) hh = hh * 10 + digit_value(s[i++]);
  if (i == start) return false;
  if (i < s.size() && s[i] == ':') ++i;
  if (i < s.size()) {
    start = i;
    while (i < s.size() && is_digit(s[i]) && i - start < 2) mm = mm * 10 + digit_value(s[i++]);
    if (i - start != 2 || i != s.size()) return false;
  }
  if (hh > 23 || mm > 59) return false;
  const auto magnitude = static_cast<std::int32_t>(hh * 3600 + mm * 60);
  offset = negative ? -magnitude : magnitude;
  return true;
}

}  // namespace detail

/// A time zone: UTC, a fixed offset, or a rule set read from the system tz database. Immutable;
/// copies share their data (cheap to copy); safe for concurrent use of const members.
class time_zone {
 public:
  /// UTC.
  time_zone() : data_(detail::utc_tz_data()) {}

  /// UTC (named "UTC").
  [[nodiscard]] static time_zone utc() { return time_zone(); }

  /// A zone always `offset` east of UTC; |offset| <= 23:59, else `errc::out_of_range`.
  /// Named "+HH:MM" ("UTC" for a zero offset).
  [[nodiscard]] static result<time_zone> fixed(std::chrono::seconds offset) {
    if (offset.count() > 86340 || offset.count() < -86340) {
      return fail(errc::out_of_range, "fixed UTC offset beyond +-23:59");
    }
    const auto off = static_cast<std::int32_t>(offset.count());
    if (off == 0) return utc();
    return time_zone(std::make_shared<const detail::tz_data>(detail::tz_data{detail::offset_name(off), {}}),
                     true, off);
  }

  /// Finds a zone by name: "UTC", "GMT", "Z", "Etc/UTC" and their aliases (any case); fixed
  /// offsets "+01:00", "-0530", "+01", optionally prefixed "UTC" or "GMT" ("GMT+2" is +02:00, as
  /// in Java; note that the database name "Etc/GMT+2" is -02:00 by POSIX convention); otherwise
  /// an IANA name such as "Europe/Oslo", read from the tz database ($TZDIR, /usr/share/zoneinfo,
  /// /usr/lib/zoneinfo, /usr/share/lib/zoneinfo) on every call: keep the zone rather than
  /// locating it per record. Errors: `errc::config_error` naming the zone when it is unknown or
  /// the name is malformed, `errc::unsupported` when the system has no tz database,
  /// `errc::parse_error` when its file is malformed.
  [[nodiscard]] static result<time_zone> locate(std::string_view name) {
    static constexpr std::string_view utc_names[] = {
        "UTC",     "GMT",     "Z",       "UT",       "UCT",           "Zulu",     "Universal", "GMT0",
        "Etc/UTC", "Etc/GMT", "Etc/UCT", "Etc/Zulu", "Etc/Universal", "Etc/GMT0", "GMT+0",     "GMT-0"};
    if (name.empty()) return fail(errc::config_error, "empty time zone name");
    for (std::string_view u : utc_names) {
      if (detail::iequals(name, u)) return utc();
    }
    std::string_view rest = name;
    if (rest.size() > 3 &&
        (detail::iequals(rest.substr(0, 3), "UTC") || detail::iequals(rest.substr(0, 3), "GMT"))) {
      rest.remove_prefix(3);
    }
    std::int32_t offset = 0;
    if (rest.size() != name.size() || name[0] == '+' || name[0] == '-') {
      if (!detail::parse_fixed_zone(rest, offset)) {
        return fail(errc::config_error, "malformed fixed-offset time zone '" + std::string(name) +
                                            "' (expected e.g. +01:00, -0530, GMT+2)");
      }
      if (offset == 0) return utc();
      return time_zone(std::make_shared<const detail::tz_data>(detail::tz_data{std::string(name), {}}), true,
                       offset);
    }
    return locate_in_database(name);
  }

  /// A zone from the bytes of a TZif file (RFC 8536, versions 1-4), named `name`.
  /// `errc::parse_error` naming the zone when the data is malformed.
  [[nodiscard]] static result<time_zone> from_tzif(std::string_view name, std::string_view bytes) {
    detail::tz_table table;
    if (const char* why = detail::parse_tzif(bytes, table)) {
      return fail(errc::parse_error, "time zone '" + std::string(name) + "': " + why);
    }
    return from_table(std::string(name), std::move(table));
  }

  /// A zone from a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" (offsets west-positive,
  /// as POSIX writes them). `errc::parse_error` when malformed.
  [[nodiscard]] static result<time_zone> from_posix_rule(std::string_view rule) {
    detail::tz_table table;
    if (!detail::parse_posix_tz(rule, table.rule)) {
      return fail(errc::parse_error, "malformed POSIX TZ rule '" + std::string(rule) + "'");
    }
    table.has_rule = true;
    table.initial_offset = table.rule.std_offset;
    return from_table(std::string(rule), std::move(table));
  }

  /// Seconds east of UTC in effect at `utc`.
  [[nodiscard]] std::chrono::seconds offset_at(instant utc) const noexcept {
    return std::chrono::seconds{
        offset_at_seconds(detail::floor_div(utc.time_since_epoch().count(), 1000000000))};
  }

  /// Seconds east of UTC in effect at `utc_seconds` after the epoch.
  [[nodiscard]] std::int32_t offset_at_seconds(std::int64_t utc_seconds) const noexcept {
    return fixed_ ? fixed_offset_ : detail::tz_offset_at(data_->table, utc_seconds);
  }

  /// The UTC seconds of a local wall-clock time given as seconds since 1970-01-01T00:00 counted
  /// as if it were UTC. In a DST gap the offset in effect before the gap is used (02:30 in a
  /// 02:00->03:00 gap is 03:30 after it); in an overlap the earlier instant is chosen.
  [[nodiscard]] std::int64_t local_to_utc_seconds(std::int64_t local) const noexcept {
    if (fixed_) return local - fixed_offset_;
    constexpr std::int64_t bound = std::int64_t{1} << 60;
    if (local > bound) local = bound;
    if (local < -bound) local = -bound;
    const std::int32_t before = offset_at_seconds(local - 172800);
    const std::int32_t after = offset_at_seconds(local + 172800);
    const bool before_ok = offset_at_seconds(local - before) == before;
    const bool after_ok = offset_at_seconds(local - after) == after;
    if (before_ok && after_ok) return local - std::max(before, after);
    if (after_ok) return local - after;
    if (before_ok) return local - before;
    const std::int32_t here = offset_at_seconds(local - before);
    if (offset_at_seconds(local - here) == here) return local - here;
    return local - before;
  }

  /// As `local_to_utc_seconds`, as an instant; saturates at the limits of the instant range.
  [[nodiscard]] instant local_to_utc(std::int64_t local_seconds) const noexcept {
    const std::int64_t s = local_to_utc_seconds(local_seconds);
    if (s > detail::instant_max_seconds) return instant::max();
    if (s < detail::instant_min_seconds + 1) return instant::min();
    return instant{std::chrono::seconds{s}};
  }

  /// The zone's name as located ("UTC", "+01:00", "Europe/Oslo").
  [[nodiscard]] const std::string& name() const noexcept { return data_->name; }

  /// True for UTC and fixed offsets.
  [[nodiscard]] bool is_fixed() const noexcept { return fixed_; }

  /// True for UTC (also a fixed offset of zero).
  [[nodiscard]] bool is_utc() const noexcept { return fixed_ && fixed_offset_ == 0; }

 private:
  time_zone(std::shared_ptr<const detail::tz_data> data, bool fixed, std::int32_t offset)
      : data_(std::move(data)), fixed_offset_(offset), fixed_(fixed) {}

  static time_zone from_table(std::string name, detail::tz_table table) {
    bool constant = !table.has_rule || !table.rule.has_dst;
    const std::int32_t final_offset = table.has_rule ? table.rule.std_offset : table.initial_offset;
    if (constant && table.initial_offset != final_offset) constant = false;
    for (std::int32_t o : table.offsets) {
      if (o != final_offset) constant = false;
    }
    auto data = std::make_shared<const detail::tz_data>(detail::tz_data{std::move(name), std::move(table)});
    return time_zone(std::move(data), constant, constant ? final_offset : 0);
  }

  static result<time_zone> locate_in_database(std::string_view name) {
    const auto bad_name = [&] {
      return fail(errc::config_error, "malformed time zone name '" + std::string(name) + "'");
    };
    if (name.size() > 255 || name.front() == '/' || name.back() == '/') return bad_name();
    std::size_t component = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
      if (i == name.size() || name[i] == '/') {
        const std::string_view part = name.substr(component, i - component);
        if (part.empty() || part == "." || part == "..") return bad_name();
        component = i + 1;
        continue;
      }
      const char c = name[i];
      const bool ok = detail::is_digit(c) ||
                      (detail::ascii_upper(c) >= 'A' && detail::ascii_upper(c) <= 'Z') || c == '_' ||
                      c == '-' || c == '+' || c == '.';
      if (!ok) return bad_name();
    }
    std::vector<std::string> roots;
    if (const char* env = std::getenv("TZDIR")) {
      if (*env != '\0') roots.emplace_back(env);
    }
    for (const char* r : {"/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"})
      roots.emplace_back(r);
    bool any_root = false;
    std::error_code ec;
    for (const std::string& root : roots) {
      if (!std::filesystem::is_directory(root, ec)) continue;
      any_root = true;
      const std::filesystem::path path = std::filesystem::path(root) / std::string(name);
      if (!std::filesystem::is_regular_file(path, ec)) continue;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec || size > (std::uintmax_t{1} << 20)) continue;
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in && !in.eof()) continue;
      return from_tzif(name, bytes);
    }
    if (!any_root) {
      return fail(errc::unsupported,
                  "time zone '" + std::string(name) +
                      "' needs the tz database, which this system lacks; only UTC and fixed "
                      "offsets (+01:00) are available");
    }
    return fail(errc::config_error, "unknown time zone '" + std::string(name) + "' (not in the tz database)");
  }

  std::shared_ptr<const detail::tz_data> data_;
  std::int32_t fixed_offset_ = 0;
  bool fixed_ = true;
};

/// As `parse_iso8601(text)`, but a date-time written without an offset is local time in `zone`
/// (see `time_zone::local_to_utc_seconds` for gaps and overlaps).
[[nodiscard]] inline result<instant> parse_iso8601(std::string_view text, const time_zone& zone) noexcept {
  detail::iso_fields fields;
  detail::time_failure f;
  if (!detail::parse_iso_fields(text, fields, f)) return detail::to_error(f);
  const std::int64_t utc = fields.has_offset ? fields.local_seconds - fields.offset
                                             : zone.local_to_utc_seconds(fields.local_seconds);
  std::int64_t ns = 0;
  if (!detail::iso_finish(fields, utc, ns, f)) return detail::to_error(f);
  return instant{std::chrono::nanoseconds{ns}};
}

namespace detail {

enum class pattern_kind : std::uint8_t {
  literal,
  year4,
  year2,
  month2,
  month1,
  month_short,
  month_full,
  day2,
  day1,
  doy3,
  doy1,
  hour2,
  hour1,
  hour12_2,
  hour12_1,
  ampm,
  minute2,
  minute1,
  second2,
  second1,
  fraction,
  weekday_short,
  weekday_full,
  offset,
  epoch_s,
  epoch_ms,
};

struct pattern_token {
  pattern_kind kind = pattern_kind::literal;
  std::uint8_t width = 0;      // fraction digits; offset style: 0 = +HH[MM], 1 = +HHMM, 2 = +HH:MM
  char dot = 0;                // fraction: the optional point before it
  bool z_for_zero = false;     // offset: write "Z" for UTC
  std::uint32_t position = 0;  // in the pattern
  std::uint32_t lit_off = 0;
  std::uint32_t lit_len = 0;
};

inline constexpr std::string_view month_names[12] = {"January",   "February", "March",    "April",
                                                     "May",       "June",     "July",     "August",
                                                     "September", "October",  "November", "December"};
inline constexpr std::string_view weekday_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                      "Thursday", "Friday", "Saturday"};

/// Matches one of `names` (full, or its first 3 letters when `short_form`) at `s[i]`, any case.
inline int match_name(std::string_view s, std::size_t& i, const std::string_view* names, int count,
                      bool short_form) noexcept {
  for (int k = 0; k < count; ++k) {
    const std::string_view name = short_form ? names[k].substr(0, 3) : names[k];
    if (s.size() - i >= name.size() && iequals(s.substr(i, name.size()), name)) {
      i += name.size();
      return k;
    }
  }
  return -1;
}

}  // namespace detail

/// A date pattern compiled once and used to parse and format many times, in a time zone.
/// Immutable after construction; safe for concurrent use of const members. See the top of this
/// header for the parsing and formatting rules.
class time_pattern {
 public:
  /// Compiles a Java (DateTimeFormatter / SimpleDateFormat) pattern: `yyyy` `yy` `y` `uuuu`,
  /// `MM` `M` `MMM` `MMMM`, `dd` `d`, `D` `DDD` (day of year), `HH` `H`, `hh` `h` with `a`,
  /// `mm` `m`, `ss` `s`, `S`..`SSSSSSSSS`, `EEE` `EEEE`, `Z` `ZZ` `ZZZ` `ZZZZZ`, `X` `XX` `XXX`,
  /// `x` `xx` `xxx`, 'quoted literals', `''`. Other letters are errors. Errors name the byte
  /// position in the pattern: `errc::parse_error` for bad syntax, `errc::invalid_argument` for an
  /// unsupported letter or an inconsistent pattern.
  [[nodiscard]] static result<time_pattern> java(std::string_view pattern,
                                                 time_zone zone = time_zone::utc()) {
    time_pattern p(pattern, std::move(zone));
    std::size_t i = 0;
    const std::size_t n = pattern.size();
    while (i < n) {
      const char c = pattern[i];
      if (c == '\'') {
        if (i + 1 < n && pattern[i + 1] == '\'') {
          p.add_literal(std::string_view("'"), i);
          i += 2;
          continue;
        }
        const std::size_t open = i++;
        std::string text;
        while (true) {
          if (i >= n) return fail(errc::parse_error, "unterminated quoted literal in date pattern", open);
          if (pattern[i] == '\'') {
            if (i + 1 < n && pattern[i + 1] == '\'') {
              text += '\'';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          text += pattern[i++];
        }
        p.add_literal(text, open);
        continue;
      }
      const char upper = detail::ascii_upper(c);
      if (upper < 'A' || upper > 'Z') {
        p.add_literal(std::string_view(&pattern[i], 1), i);
        ++i;
        continue;
      }
      const std::size_t start = i;
      while (i < n && pattern[i] == c) ++i;
      const std::size_t count = i - start;
      using k = detail::pattern_kind;
      const auto bad_count = [&] {
        return fail(
            errc::invalid_argument,
            "unsupported count of pattern letter '" + std::string(1, c) + "' (" + std::to_string(count) + ")",
            start);
      };
      switch (c) {
        case 'y':
        case 'u':
          if (count == 2) {
            p.add(k::year2, start);
          } else if (count <= 4) {
            p.add(k::year4, start);
          } else {
            return bad_count();
          }
          break;
        case 'M':
        case 'L':
          if (count > 4) return bad_count();
          p.add(count == 1   ? k::month1
                : count == 2 ? k::month2
                : count == 3 ? k::month_short
                             : k::month_full,
                start);
          break;
        case 'd':
          if (count > 2) return bad_count();
          p.add(count == 1 ? k::day1 : k::day2, start);
          break;
        case 'D':
          if (count > 3) return bad_count();
          p.add(count == 3 ? k::doy3 : k::doy1, start);
          break;
        case 'H':
          if (count > 2) return bad_count();
          p.add(count == 1 ? k::hour1 : k::hour2, start);
          break;
        case 'h':
          if (count > 2) return bad_count();
          p.add(count == 1 ? k::hour12_1 : k::hour12_2, start);
          break;
        case 'a':
          if (count > 1) return bad_count();
          p.add(k::ampm, start);
          break;
        case 'm':
          if (count > 2) return bad_count();
          p.add(count == 1 ? k::minute1 : k::minute2, start);
          break;
        case 's':
          if (count > 2) return bad_count();
          p.add(count == 1 ? k::second1 : k::second2, start);
          break;
        case 'S':
          if (count > 9) return bad_count();
          p.add(k::fraction, start).width = static_cast<std::uint8_t>(count);
          break;
        case 'E':
          if (count > 4) return bad_count();
          p.add(count == 4 ? k::weekday_full : k::weekday_short, start);
          break;
        case 'Z':
          if (count == 4 || count > 5) return bad_count();
          p.add_offset(count == 5 ? 2 : 1, count == 5, start);
          break;
        case 'X':
        case 'x':
          if (count > 3) return bad_count();
          p.add_offset(static_cast<int>(count) - 1, c == 'X', start);
          break;
        default:
          return fail(errc::invalid_argument,
                      "unsupported pattern letter '" + std::string(1, c) + "' (quote literal text: 'T')",
                      start);
      }
    }
    if (auto done = p.finish(); !done) return std::move(done).error();
    return p;
  }

  /// Compiles a strftime pattern: `%Y` `%y` `%m` `%d` `%e` `%j` `%H` `%I` `%p` `%M` `%S` `%f`
  /// (fraction: 6 digits on format), `%z` `%:z`, `%b` `%h` `%B` `%a` `%A`, `%F` `%T`, `%s`
  /// (epoch seconds), `%ms` (epoch milliseconds, as Airbyte uses it: `%m` followed by `s` is always
  /// that), `%%`. Errors name the byte position of the offending `%`.
  [[nodiscard]] static result<time_pattern> strftime(std::string_view pattern,
                                                     time_zone zone = time_zone::utc()) {
    time_pattern p(pattern, std::move(zone));
    const std::size_t n = pattern.size();
    using k = detail::pattern_kind;
    for (std::size_t i = 0; i < n;) {
      if (pattern[i] != '%') {
        p.add_literal(std::string_view(&pattern[i], 1), i);
        ++i;
        continue;
      }
      const std::size_t at = i;
      if (i + 1 >= n) return fail(errc::parse_error, "'%' at the end of the date pattern", at);
      const char c = pattern[i + 1];
      i += 2;
      switch (c) {
        case 'Y':
          p.add(k::year4, at);
          break;
        case 'y':
          p.add(k::year2, at);
          break;
        case 'm':
          if (i < n && pattern[i] == 's') {
            p.add(k::epoch_ms, at);
            ++i;
          } else {
            p.add(k::month2, at);
          }
          break;
        case 'd':
          p.add(k::day2, at);
          break;
        case 'e':
          p.add(k::day1, at);
          break;
        case 'j':
          p.add(k::doy3, at);
          break;
        case 'H':
          p.add(k::hour2, at);
          break;
        case 'I':
          p.add(k::hour12_2, at);
          break;
        case 'p':
          p.add(k::ampm, at);
          break;
        case 'M':
          p.add(k::minute2, at);
          break;
        case 'S':
          p.add(k::second2, at);
          break;
        case 'f':
          p.add(k::fraction, at).width = 6;
          break;
        case 'z':
          p.add_offset(1, false, at);
          break;
        case ':':
          if (i >= n || pattern[i] != 'z')
            return fail(errc::invalid_argument, "unsupported conversion '%:'", at);
          ++i;
          p.add_offset(2, false, at);
          break;
        case 'b':
        case 'h':
          p.add(k::month_short, at);
          break;
        case 'B':
          p.add(k::month_full, at);
          break;
        case 'a':
          p.add(k::weekday_short, at);
          break;
        case 'A':
          p.add(k::weekday_full, at);
          break;
        case 'F':
          p.add(k::year4, at);
          p.add_literal("-", at);
          p.add(k::month2, at);
          p.add_literal("-", at);
          p.add(k::day2, at);
          break;
        case 'T':
          p.add(k::hour2, at);
          p.add_literal(":", at);
          p.add(k::minute2, at);
          p.add_literal(":", at);
          p.add(k::second2, at);
          break;
        case 's':
          p.add(k::epoch_s, at);
          break;
        case '%':
          p.add_literal("%", at);
          break;
        default:
          return fail(errc::invalid_argument,
                      "unsupported conversion '%" + std::string(1, c) + "' in date pattern", at);
      }
    }
    if (auto done = p.finish(); !done) return std::move(done).error();
    return p;
  }

  /// Whether `parse` can be used: not for a pattern that holds a field twice (`ss.SS,S`,
  /// `yyyy yy`, `X XXX`), nor for one where a field of variable width is directly followed by
  /// digits (`yyms`, `Hmm`, `%s%f`): either formats, but could read a date back two ways. The
  /// error (`errc::invalid_argument`) names the fields and their positions in the pattern.
  [[nodiscard]] result<void> parse_check() const {
    if (!cannot_parse_.empty()) return error_info{errc::invalid_argument, cannot_parse_, no_position};
    return {};
  }

  /// Whether a date read with the pattern names one instant: it has an epoch field (`%s`,
  /// `%ms`), or a year and a month and day (or a day of the year), and no time field without the
  /// larger ones (`mm:ss` has no hour, `HH:ss` no minute). Otherwise `errc::invalid_argument`
  /// saying what is missing, at the position of the field that lacks it (or `no_position`). A
  /// pattern that fails this still formats (`HH:mm` for a clock, `yyyy-MM` for a month); the
  /// fields it lacks would be read as their smallest value.
  [[nodiscard]] result<void> instant_check() const {
    using k = detail::pattern_kind;
    if (has_epoch_) return {};
    bool year = false;
    bool month = false;
    bool day = false;
    bool doy = false;
    bool time[4] = {false, false, false, false};  // hour, minute, second, fraction
    std::size_t time_at[4] = {0, 0, 0, 0};
    const auto time_field = [&](int unit, std::size_t at) {
      if (!time[unit]) time_at[unit] = at;
      time[unit] = true;
    };
    for (const detail::pattern_token& t : tokens_) {
      switch (t.kind) {
        case k::year4:
        case k::year2:
          year = true;
          break;
        case k::month2:
        case k::month1:
        case k::month_short:
        case k::month_full:
          month = true;
          break;
        case k::day2:
        case k::day1:
          day = true;
          break;
        case k::doy3:
        case k::doy1:
          doy = true;
          break;
        case k::hour2:
        case k::hour1:
        case k::hour12_2:
        case k::hour12_1:
          time_field(0, t.position);
          break;
        case k::minute2:
        case k::minute1:
          time_field(1, t.position);
          break;
        case k::second2:
        case k::second1:
          time_field(2, t.position);
          break;
        case k::fraction:
          time_field(3, t.position);
          break;
        default:
          break;
      }
    }
    const auto cannot = [](std::string what, std::size_t at) -> result<void> {
      return error_info{errc::invalid_argument,
                        "the date pattern has " + std::move(what) + ", so it cannot identify an instant", at};
    };
    if (!year) return cannot("no year", no_position);
    if (doy && (month != day))
      return cannot("a day of the year and only one of a month and a day", no_position);
    if (!doy && !month) return cannot("no month (nor a day of the year)", no_position);
    if (!doy && !day) return cannot("no day of the month (nor a day of the year)", no_position);
    static constexpr const char* present[] = {"", "a minute", "a second", "a fraction of a second"};
    static constexpr const char* absent[] = {"hour", "minute", "second", ""};
    for (int unit = 1; unit < 4; ++unit) {
      if (time[unit] && !time[unit - 1])
        return cannot(std::string(present[unit]) + " but no " + absent[unit - 1], time_at[unit]);
    }
    return {};
  }

  /// Parses `text` to an instant. Errors carry the byte position in `text`: `errc::parse_error`
  /// (text does not follow the pattern), `errc::invalid_date` (a field out of range, Feb 30, a
  /// contradicting weekday), `errc::out_of_range` (offset beyond +-23:59, outside the instant
  /// range), `errc::invalid_argument` (the pattern has neither a year nor an epoch field, or
  /// cannot be read back: see `parse_check`).
  [[nodiscard]] result<instant> parse(std::string_view text) const noexcept {
    using k = detail::pattern_kind;
    if (!cannot_parse_.empty()) return error_info{errc::invalid_argument, cannot_parse_, no_position};
    std::size_t i = 0;
    const std::size_t n = text.size();
    std::int64_t year = 1970;
    unsigned month = 1;
    unsigned day = 1;
    unsigned doy = 0;
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    std::uint32_t nanos = 0;
    std::int32_t offset = 0;
    int ampm = -1;
    int wday = -1;
    std::int64_t epoch_ns = 0;
    std::size_t day_pos = 0;
    std::size_t doy_pos = 0;
    std::size_t wday_pos = 0;
    detail::time_failure f;

    const auto read = [&](unsigned min_digits, unsigned max_digits, unsigned& v, const char* what) noexcept {
      unsigned r = 0;
      const std::size_t start = i;
      while (i < n && i - start < max_digits && detail::is_digit(text[i]))
        r = r * 10 + detail::digit_value(text[i++]);
      if (i - start < min_digits) return detail::iso_fail(f, errc::parse_error, what, i);
      v = r;
      return true;
    };
    const auto read_fixed = [&](unsigned width, unsigned& v, const char* what) noexcept {
      if (n - i >= width) {
        unsigned r = 0;
        bool digits = true;
        for (unsigned q = 0; q < width; ++q) {
          const unsigned d = detail::digit_value(text[i + q]);
          digits &= d <= 9;
          r = r * 10 + d;
        }
        if (digits) {
          v = r;
          i += width;
          return true;
        }
      }
      return read(width, width, v, what);
    };
    const auto range = [&](unsigned v, unsigned lo, unsigned hi, std::size_t at, const char* what) noexcept {
      if (v < lo || v > hi) return detail::iso_fail(f, errc::invalid_date, what, at);
      return true;
    };

    std::size_t first_token = 0;
    if (iso_head_ && n >= 19 && detail::ascii_upper(text[10]) == iso_separator_) {
      unsigned y = 0;
      if (detail::iso_fast_head(text.data(), y, month, day, hour, minute, second)) {
        year = y;
        day_pos = 8;
        i = 19;
        first_token = 11;
      }
    }
    for (std::size_t ti = first_token; ti < tokens_.size(); ++ti) {
      const detail::pattern_token& t = tokens_[ti];
      const std::size_t at = i;
      bool ok = true;
      switch (t.kind) {
        case k::literal: {
          const char* lit = literals_.data() + t.lit_off;
          if (t.lit_len == 1 && i < n && text[i] == lit[0]) {
            ++i;
            break;
          }
          if (n - i < t.lit_len) {
            ok = literal_mismatch(f, i);
            break;
          }
          for (std::uint32_t q = 0; q < t.lit_len; ++q) {
            if (text[i + q] != lit[q] && detail::ascii_upper(text[i + q]) != detail::ascii_upper(lit[q])) {
              ok = literal_mismatch(f, i + q);
              break;
            }
          }
          i += t.lit_len;
          break;
        }
        case k::year4: {
          unsigned y = 0;
          ok = read_fixed(4, y, "expected a 4-digit year");
          year = y;
          break;
        }
        case k::year2: {
          unsigned y = 0;
          ok = read(2, 2, y, "expected a 2-digit year");
          year = 2000 + y;
          break;
        }
        case k::month2:
        case k::month1:
          ok = (t.kind == k::month2 ? read_fixed(2, month, "expected a month number")
                                    : read(1, 2, month, "expected a month number")) &&
               range(month, 1, 12, at, "month out of range 01-12");
          break;
        case k::month_short:
        case k::month_full: {
          const int m = detail::match_name(text, i, detail::month_names, 12, t.kind == k::month_short);
          if (m < 0) ok = detail::iso_fail(f, errc::parse_error, "expected an English month name", at);
          month = static_cast<unsigned>(m + 1);
          break;
        }
        case k::day2:
        case k::day1:
          day_pos = at;
          ok = (t.kind == k::day2 ? read_fixed(2, day, "expected a day of the month")
                                  : read(1, 2, day, "expected a day of the month")) &&
               range(day, 1, 31, at, "day out of range 01-31");
          break;
        case k::doy3:
        case k::doy1:
          doy_pos = at;
          ok = read(t.kind == k::doy3 ? 3 : 1, 3, doy, "expected a day of the year") &&
               range(doy, 1, 366, at, "day of the year out of range 001-366");
          break;
        case k::hour2:
        case k::hour1:
          ok = (t.kind == k::hour2 ? read_fixed(2, hour, "expected hours")
                                   : read(1, 2, hour, "expected hours")) &&
               range(hour, 0, 23, at, "hour out of range 00-23");
          break;
        case k::hour12_2:
        case k::hour12_1:
          ok = read(t.kind == k::hour12_2 ? 2 : 1, 2, hour, "expected hours (1-12)") &&
               range(hour, 1, 12, at, "hour out of range 01-12");
          break;
        case k::ampm:
          if (n - i >= 2 && (detail::ascii_upper(text[i + 1]) == 'M') &&
              (detail::ascii_upper(text[i]) == 'A' || detail::ascii_upper(text[i]) == 'P')) {
            ampm = detail::ascii_upper(text[i]) == 'P' ? 1 : 0;
            i += 2;
          } else {
            ok = detail::iso_fail(f, errc::parse_error, "expected AM or PM", at);
          }
          break;
        case k::minute2:
        case k::minute1:
          ok = (t.kind == k::minute2 ? read_fixed(2, minute, "expected minutes")
                                     : read(1, 2, minute, "expected minutes")) &&
               range(minute, 0, 59, at, "minute out of range 00-59");
          break;
        case k::second2:
        case k::second1:
          ok = (t.kind == k::second2 ? read_fixed(2, second, "expected seconds")
                                     : read(1, 2, second, "expected seconds")) &&
               range(second, 0, 59, at, "second out of range 00-59");
          break;
        case k::fraction: {
          std::size_t digits_from = i;
          unsigned max_digits = t.width;
          unsigned min_digits = t.width;
          if (t.dot != 0) {
            if (i >= n || (text[i] != '.' && text[i] != ',')) break;
            digits_from = ++i;
            min_digits = 1;
            max_digits = 9;
          }
          std::uint32_t v = 0;
          while (i < n && i - digits_from < max_digits && detail::is_digit(text[i])) {
            v = v * 10 + detail::digit_value(text[i++]);
          }
          const std::size_t got = i - digits_from;
          if (got < min_digits) {
            ok = detail::iso_fail(f, errc::parse_error,
                                  got == 0 ? "empty fraction: expected a digit" : "too few fraction digits",
                                  i);
            break;
          }
          if (t.dot != 0 && i < n && detail::is_digit(text[i])) {
            ok = detail::iso_fail(f, errc::parse_error, "more than 9 fraction digits", i);
            break;
          }
          nanos = v * detail::pow10_u32[9 - got];
          break;
        }
        case k::weekday_short:
        case k::weekday_full:
          wday_pos = at;
          wday = detail::match_name(text, i, detail::weekday_names, 7, t.kind == k::weekday_short);
          if (wday < 0) ok = detail::iso_fail(f, errc::parse_error, "expected an English weekday name", at);
          break;
        case k::offset:
          ok = detail::parse_offset_field(text, i, offset, f);
          break;
        case k::epoch_s:
        case k::epoch_ms: {
          const bool negative = i < n && text[i] == '-';
          if (negative) ++i;
          const std::size_t start = i;
          std::int64_t v = 0;
          while (i < n && detail::is_digit(text[i])) {
            if (!detail::checked_mul(v, 10, v) || !detail::checked_add(v, detail::digit_value(text[i]), v)) {
              ok = detail::iso_fail(f, errc::out_of_range, "epoch value outside the instant range", at);
              break;
            }
            ++i;
          }
          if (!ok) break;
          if (i == start) {
            ok = detail::iso_fail(f, errc::parse_error, "expected epoch digits", i);
            break;
          }
          if (negative) v = -v;
          if (!detail::checked_mul(v, t.kind == k::epoch_s ? 1000000000 : 1000000, epoch_ns)) {
            ok = detail::iso_fail(f, errc::out_of_range, "epoch value outside the instant range", at);
          }
          break;
        }
      }
      if (!ok) return detail::to_error(f);
    }
    if (i != n) return fail(errc::parse_error, "unexpected characters after the date", i);

    std::int64_t ns = 0;
    if (has_epoch_) {
      if (!detail::checked_add(epoch_ns, static_cast<std::int64_t>(nanos), ns)) {
        return fail(errc::out_of_range, "epoch value outside the instant range", 0);
      }
      return instant{std::chrono::nanoseconds{ns}};
    }
    if (!has_year_) {
      return fail(errc::invalid_argument, "the date pattern has no year field, so it cannot name an instant",
                  0);
    }
    if (ampm >= 0 && has_hour12_) hour = hour % 12 + (ampm == 1 ? 12u : 0u);
    std::int64_t days = 0;
    if (has_doy_ && !has_month_day_) {
      if (doy > (detail::is_leap_year(year) ? 366u : 365u)) {
        return fail(errc::invalid_date, "day 366 in a non-leap year", doy_pos);
      }
      days = detail::days_from_civil(year, 1, 1) + doy - 1;
    } else {
      if (day > detail::days_in_month(year, month)) {
        return fail(
            errc::invalid_date,
            (month == 2 && day == 29) ? "February 29 in a non-leap year" : "day out of range for the month",
            day_pos);
      }
      days = detail::days_from_civil_0_9999(static_cast<unsigned>(year), month, day);
      if (has_doy_ && detail::day_of_year(year, month, day) != doy) {
        return fail(errc::invalid_date, "day of the year contradicts the date", doy_pos);
      }
    }
    if (wday >= 0 && static_cast<unsigned>(wday) != detail::weekday_from_days(days)) {
      return fail(errc::invalid_date, "weekday contradicts the date", wday_pos);
    }
    const std::int64_t local = days * 86400 + static_cast<std::int64_t>(hour * 3600 + minute * 60 + second);
    const std::int64_t utc = has_offset_ ? local - offset : zone_.local_to_utc_seconds(local);
    if (!detail::seconds_to_nanos(utc, nanos, ns)) {
      return fail(errc::out_of_range, "date outside the instant range (1677-09-21 to 2262-04-11)", 0);
    }
    return instant{std::chrono::nanoseconds{ns}};
  }

  /// The most bytes `format_to` writes.
  [[nodiscard]] std::size_t max_formatted_size() const noexcept { return max_size_; }

  /// Writes `t` (in the pattern's zone) into `out` without a terminating NUL and returns the
  /// length of the text, or 0 (writing nothing) when `capacity < max_formatted_size()`. The
  /// first `max_formatted_size()` bytes of `out` may be used as scratch.
  std::size_t format_to(char* out, std::size_t capacity, instant t) const noexcept {
    if (capacity < max_size_) return 0;
    using k = detail::pattern_kind;
    const std::int64_t ns = t.time_since_epoch().count();
    const std::int64_t secs = detail::floor_div(ns, 1000000000);
    const std::uint32_t nanos = detail::nanos_of_second(ns);
    std::int32_t off = zone_.offset_at_seconds(secs);
    if (has_offset_) off = off / 60 * 60;
    const std::int64_t local = secs + off;
    const std::int64_t days = detail::floor_div(local, 86400);
    const auto sod = static_cast<unsigned>(local - days * 86400);
    const detail::civil_date d = detail::civil_from_days_near(days);
    const unsigned hour = sod / 3600;
    char* p = out;
    std::size_t first_token = 0;
    if (iso_head_) {
      p = detail::write_4digits(p, static_cast<unsigned>(d.year));
      *p++ = '-';
      p = detail::write_2digits(p, d.month);
      *p++ = '-';
      p = detail::write_2digits(p, d.day);
      *p++ = literals_[tokens_[5].lit_off];
      p = detail::write_2digits(p, hour);
      *p++ = ':';
      p = detail::write_2digits(p, sod / 60 % 60);
      *p++ = ':';
      p = detail::write_2digits(p, sod % 60);
      first_token = 11;
    }
    const auto write_var = [&](unsigned v) noexcept {
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10);
      *p++ = static_cast<char>('0' + v % 10);
    };
    for (std::size_t ti = first_token; ti < tokens_.size(); ++ti) {
      const detail::pattern_token& tok = tokens_[ti];
      switch (tok.kind) {
        case k::literal:
          for (std::uint32_t q = 0; q < tok.lit_len; ++q) *p++ = literals_[tok.lit_off + q];
          break;
        case k::year4:
          p = detail::write_4digits(p, static_cast<unsigned>(d.year));
          break;
        case k::year2:
          p = detail::write_2digits(p, static_cast<unsigned>(d.year % 100));
          break;
        case k::month2:
          p = detail::write_2digits(p, d.month);
          break;
        case k::month1:
          write_var(d.month);
          break;
        case k::month_short:
        case k::month_full: {
          const std::string_view name = detail::month_names[d.month - 1];
          const std::size_t len = tok.kind == k::month_short ? 3 : name.size();
          for (std::size_t q = 0; q < len; ++q) *p++ = name[q];
          break;
        }
        case k::day2:
          p = detail::write_2digits(p, d.day);
          break;
        case k::day1:
          write_var(d.day);
          break;
        case k::doy3:
        case k::doy1: {
          const unsigned v = detail::day_of_year(d.year, d.month, d.day);
          if (tok.kind == k::doy3 || v >= 100) *p++ = static_cast<char>('0' + v / 100);
          if (tok.kind == k::doy3 || v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
          *p++ = static_cast<char>('0' + v % 10);
          break;
        }
        case k::hour2:
          p = detail::write_2digits(p, hour);
          break;
        case k::hour1:
          write_var(hour);
          break;
        case k::hour12_2:
        case k::hour12_1: {
          const unsigned h = hour % 12 == 0 ? 12 : hour % 12;
          if (tok.kind == k::hour12_2) {
            p = detail::write_2digits(p, h);
          } else {
            write_var(h);
          }
          break;
        }
        case k::ampm:
          *p++ = hour < 12 ? 'A' : 'P';
          *p++ = 'M';
          break;
        case k::minute2:
          p = detail::write_2digits(p, sod / 60 % 60);
          break;
        case k::minute1:
          write_var(sod / 60 % 60);
          break;
        case k::second2:
          p = detail::write_2digits(p, sod % 60);
          break;
        case k::second1:
          write_var(sod % 60);
          break;
        case k::fraction:
          if (tok.dot != 0) *p++ = tok.dot;
          p = detail::write_fraction_digits(p, nanos, tok.width);
          break;
        case k::weekday_short:
        case k::weekday_full: {
          const std::string_view name = detail::weekday_names[detail::weekday_from_days(days)];
          const std::size_t len = tok.kind == k::weekday_short ? 3 : name.size();
          for (std::size_t q = 0; q < len; ++q) *p++ = name[q];
          break;
        }
        case k::offset:
          if (off == 0 && tok.z_for_zero) {
            *p++ = 'Z';
          } else {
            p = detail::write_offset(p, off, tok.width == 2, tok.width != 0 || off % 3600 != 0);
          }
          break;
        case k::epoch_s:
          p = detail::write_int64(p, secs);
          break;
        case k::epoch_ms:
          p = detail::write_int64(p, detail::floor_div(ns, 1000000));
          break;
      }
    }
    return static_cast<std::size_t>(p - out);
  }

  /// `t` formatted in the pattern's zone.
  [[nodiscard]] std::string format(instant t) const {
    std::string out(max_size_, '\0');
    out.resize(format_to(out.data(), out.size(), t));
    return out;
  }

  /// The pattern text as compiled.
  [[nodiscard]] const std::string& pattern() const noexcept { return source_; }
  /// The zone applied when the data carries no offset, and used for formatting.
  [[nodiscard]] const time_zone& zone() const noexcept { return zone_; }
  /// True when the pattern has an offset field (its data carries its own offset).
  [[nodiscard]] bool has_offset_field() const noexcept { return has_offset_; }

 private:
  time_pattern(std::string_view source, time_zone zone) : source_(source), zone_(std::move(zone)) {}

  static bool literal_mismatch(detail::time_failure& f, std::size_t at) noexcept {
    return detail::iso_fail(f, errc::parse_error, "text does not match the date pattern's literal", at);
  }

  detail::pattern_token& add(detail::pattern_kind kind, std::size_t position) {
    detail::pattern_token t;
    t.kind = kind;
    t.position = static_cast<std::uint32_t>(position);
    tokens_.push_back(t);
    return tokens_.back();
  }

  void add_offset(int style, bool z_for_zero, std::size_t position) {
    detail::pattern_token& t = add(detail::pattern_kind::offset, position);
    t.width = static_cast<std::uint8_t>(style);
    t.z_for_zero = z_for_zero;
  }

  void add_literal(std::string_view text, std::size_t position) {
    if (text.empty()) return;
    if (!tokens_.empty() && tokens_.back().kind == detail::pattern_kind::literal &&
        tokens_.back().lit_off + tokens_.back().lit_len == literals_.size()) {
      tokens_.back().lit_len += static_cast<std::uint32_t>(text.size());
    } else {
      detail::pattern_token& t = add(detail::pattern_kind::literal, position);
      t.lit_off = static_cast<std::uint32_t>(literals_.size());
      t.lit_len = static_cast<std::uint32_t>(text.size());
    }
    literals_.append(text.data(), text.size());
  }

  result<void> finish() {
    using k = detail::pattern_kind;
    bool has_ampm = false;
    bool has_hour = false;
    std::size_t hour12_pos = 0;
    std::size_t ampm_pos = 0;
    for (std::size_t q = 0; q < tokens_.size(); ++q) {
      detail::pattern_token& t = tokens_[q];
      switch (t.kind) {
        case k::year4:
        case k::year2:
          has_year_ = true;
          break;
        case k::month2:
        case k::month1:
        case k::month_short:
        case k::month_full:
        case k::day2:
        case k::day1:
          has_month_day_ = true;
          break;
        case k::doy3:
        case k::doy1:
          has_doy_ = true;
          break;
        case k::hour2:
        case k::hour1:
          has_hour = true;
          break;
        case k::hour12_2:
        case k::hour12_1:
          if (!has_hour12_) hour12_pos = t.position;
          has_hour12_ = true;
          has_hour = true;
          break;
        case k::ampm:
          if (!has_ampm) ampm_pos = t.position;
          has_ampm = true;
          break;
        case k::offset:
          has_offset_ = true;
          break;
        case k::epoch_s:
        case k::epoch_ms:
          has_epoch_ = true;
          break;
        case k::fraction:
          if (q > 0 && tokens_[q - 1].kind == k::literal) {
            detail::pattern_token& lit = tokens_[q - 1];
            const char last = literals_[lit.lit_off + lit.lit_len - 1];
            if (last == '.' || last == ',') {
              t.dot = last;
              --lit.lit_len;
            }
          }
          break;
        default:
          break;
      }
    }
    if (has_hour12_ && !has_ampm) {
      return fail(errc::invalid_argument, "12-hour field ('h', '%I') without an AM/PM field ('a', '%p')",
                  hour12_pos);
    }
    // A field written twice could be read back two ways (`ss.SS,S` writes a fraction at two
    // precisions, `yyyy yy` the year 1999 as 1999 and 99), and so could a field of variable width
    // followed directly by digits: such a pattern formats, but does not parse.
    {
      static constexpr const char* field_names[] = {
          "year",   "month",  "day of the month",     "day of the year", "hour",   "AM/PM",
          "minute", "second", "fraction of a second", "weekday",         "offset", "epoch"};
      const auto field_of = [](k kind) -> int {
        switch (kind) {
          case k::year4:
          case k::year2:
            return 0;
          case k::month2:
          case k::month1:
          case k::month_short:
          case k::month_full:
            return 1;
          case k::day2:
          case k::day1:
            return 2;
          case k::doy3:
          case k::doy1:
            return 3;
          case k::hour2:
          case k::hour1:
          case k::hour12_2:
          case k::hour12_1:
            return 4;
          case k::ampm:
            return 5;
          case k::minute2:
          case k::minute1:
            return 6;
          case k::second2:
          case k::second1:
            return 7;
          case k::fraction:
            return 8;
          case k::weekday_short:
          case k::weekday_full:
            return 9;
          case k::offset:
            return 10;
          case k::epoch_s:
          case k::epoch_ms:
            return 11;
          default:
            return -1;
        }
      };
      std::int64_t first_at[12];
      std::fill(std::begin(first_at), std::end(first_at), -1);
      for (const detail::pattern_token& t : tokens_) {
        const int field = field_of(t.kind);
        if (field < 0) continue;
        if (first_at[field] >= 0) {
          cannot_parse_ = std::string("the pattern holds the ") + field_names[field] + " twice (at " +
                          std::to_string(first_at[field]) + " and " + std::to_string(t.position) +
                          "): it formats, but cannot parse, since a date could be read from it two ways";
          break;
        }
        first_at[field] = t.position;
      }
      // Epoch milliseconds carry the milliseconds a fraction of a second carries too: the two
      // would add up when read back.
      if (cannot_parse_.empty() && first_at[8] >= 0) {
        for (const detail::pattern_token& t : tokens_) {
          if (t.kind != k::epoch_ms) continue;
          cannot_parse_ = "the pattern holds the milliseconds twice: in the epoch milliseconds (at " +
                          std::to_string(t.position) + ") and in the fraction of a second (at " +
                          std::to_string(first_at[8]) +
                          "): it formats, but cannot parse, since a date could be read from it two ways";
          break;
        }
      }
      // Parsing reads a variable-width field greedily, up to its widest: the digits of the next
      // field would be taken for its own. Fixed widths (`MM`, `yyyy`, a fraction without a point,
      // an offset that always writes its minutes) stop where they should.
      const auto variable_width = [](const detail::pattern_token& t) {
        switch (t.kind) {
          case k::month1:
          case k::day1:
          case k::doy1:
          case k::hour1:
          case k::hour12_1:
          case k::minute1:
          case k::second1:
          case k::epoch_s:
          case k::epoch_ms:
            return true;
          case k::fraction:
            return t.dot != 0;  // after a point: 1 to 9 digits
          case k::offset:
            return t.width == 0;  // `X`, `x`: "+01" or "+0130"
          default:
            return false;
        }
      };
      const auto starts_with_digit = [&](const detail::pattern_token& t) {
        switch (t.kind) {
          case k::literal:
            return detail::is_digit(literals_[t.lit_off]);
          case k::fraction:
            return t.dot == 0;
          case k::month_short:
          case k::month_full:
          case k::ampm:
          case k::weekday_short:
          case k::weekday_full:
          case k::offset:
            return false;
          default:
            return true;
        }
      };
      const auto describe = [&](const detail::pattern_token& t) {
        if (t.kind == k::literal) {
          return "the literal '" + literals_.substr(t.lit_off, t.lit_len) + "' (at " +
                 std::to_string(t.position) + ")";
        }
        const std::size_t at = t.position;
        std::size_t end = at + 1;
        if (source_[at] == '%') {
          end = std::min(source_.size(), at + 2);
          if (end < source_.size() &&
              (source_[at + 1] == ':' || (source_[at + 1] == 'm' && source_[end] == 's')))
            ++end;
        } else {
          while (end < source_.size() && source_[end] == source_[at]) ++end;
        }
        return std::string("the ") + field_names[field_of(t.kind)] + " '" + source_.substr(at, end - at) +
               "' (at " + std::to_string(at) + ")";
      };
      for (std::size_t q = 0; q < tokens_.size() && cannot_parse_.empty(); ++q) {
        if (!variable_width(tokens_[q])) continue;
        std::size_t r = q + 1;
        while (r < tokens_.size() && tokens_[r].kind == k::literal && tokens_[r].lit_len == 0) ++r;
        if (r == tokens_.size() || !starts_with_digit(tokens_[r])) continue;
        cannot_parse_ = describe(tokens_[q]) + " has a variable width and is followed directly by " +
                        describe(tokens_[r]) +
                        ": it formats, but cannot parse, since the digits of one run into the other; put a "
                        "separator between them or use a fixed width (e.g. 'mm' for 'm')";
      }
    }
    // Without an hour, an AM/PM field read back would be dropped: noon and midnight would read
    // the same, and a date formatted in the afternoon would not read back as itself.
    if (cannot_parse_.empty() && has_ampm && !has_hour) {
      cannot_parse_ = "the AM/PM field (at " + std::to_string(ampm_pos) +
                      ") has no hour field ('h', 'H', '%I', '%H', ...) to apply to: it formats, but "
                      "cannot parse, since the AM/PM it reads would be dropped";
    }
    if (!zone_.is_utc()) {
      for (const detail::pattern_token& t : tokens_) {
        if (t.kind != k::literal || t.lit_len == 0) continue;
        const std::string_view lit(literals_.data() + t.lit_off, t.lit_len);
        const bool ends_z =
            lit.back() == 'Z' && (lit.size() == 1 || detail::ascii_upper(lit[lit.size() - 2]) < 'A' ||
                                  detail::ascii_upper(lit[lit.size() - 2]) > 'Z');
        if (ends_z) {
          return fail(errc::invalid_argument,
                      "the date pattern writes a literal 'Z' (UTC) but its zone is " + zone_.name() +
                          ": use an offset field (XXX, %z) or the UTC zone",
                      t.position);
        }
      }
    }
    tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(),
                                 [](const detail::pattern_token& t) {
                                   return t.kind == detail::pattern_kind::literal && t.lit_len == 0;
                                 }),
                  tokens_.end());
    std::size_t size = 0;
    for (const detail::pattern_token& t : tokens_) {
      switch (t.kind) {
        case k::literal:
          size += t.lit_len;
          break;
        case k::year4:
          size += 4;
          break;
        case k::month_full:
        case k::weekday_full:
          size += 9;
          break;
        case k::doy3:
        case k::doy1:
          size += 3;
          break;
        case k::fraction:
          size += 1u + 9u;  // all nine digits are written, then the unwanted ones overwritten
          break;
        case k::offset:
          size += 6;
          break;
        case k::epoch_s:
        case k::epoch_ms:
          size += 20;
          break;
        case k::month_short:
        case k::weekday_short:
          size += 3;
          break;
        default:
          size += 2;
          break;
      }
    }
    max_size_ = size;
    detect_iso_head();
    return {};
  }

  // The pattern starts "yyyy-MM-ddTHH:mm:ss" (T or space): parsed and formatted in one step.
  void detect_iso_head() noexcept {
    using k = detail::pattern_kind;
    if (tokens_.size() < 11) return;
    const auto lit = [&](std::size_t q, char c) {
      return tokens_[q].kind == k::literal && tokens_[q].lit_len == 1 && literals_[tokens_[q].lit_off] == c;
    };
    const char sep =
        tokens_[5].kind == k::literal && tokens_[5].lit_len == 1 ? literals_[tokens_[5].lit_off] : '\0';
    if (tokens_[0].kind == k::year4 && lit(1, '-') && tokens_[2].kind == k::month2 && lit(3, '-') &&
        tokens_[4].kind == k::day2 && (sep == 'T' || sep == ' ') && tokens_[6].kind == k::hour2 &&
        lit(7, ':') && tokens_[8].kind == k::minute2 && lit(9, ':') && tokens_[10].kind == k::second2) {
      iso_head_ = true;
      iso_separator_ = sep;
    }
  }

  std::vector<detail::pattern_token> tokens_;
  std::string literals_;
  std::string source_;
  time_zone zone_;
  std::size_t max_size_ = 0;
  bool has_year_ = false;
  bool has_month_day_ = false;
  bool has_doy_ = false;
  bool has_hour12_ = false;
  bool has_offset_ = false;
  bool has_epoch_ = false;
  std::string cannot_parse_;  // why the pattern cannot parse (see parse_check); empty: it can
  bool iso_head_ = false;
  char iso_separator_ = 0;
};

/// Expands the placeholders of a URL (or query) template with `since`, copying all other text
/// verbatim (no percent-encoding: encode the result where the target needs it):
/// `${gmtDate:PATTERN}` (Java pattern, UTC), `${date:PATTERN}` (Java pattern, in `zone`),
/// `${epoch:s}`, `${epoch:ms}`, `${epoch:us}`, `${epoch:ns}` (integer, floored). A bare
/// `${epoch}` is rejected as ambiguous. The pattern may contain quotes and a quoted `}`:
/// `${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}`. Errors carry the byte position in `tmpl`:
/// `errc::config_error` for an unknown or malformed placeholder (named in the message),
/// `errc::parse_error` for an unterminated one, a pattern's own error for a bad pattern.
[[nodiscard]] inline result<std::string> expand_url_template(std::string_view tmpl, instant since,
                                                             const time_zone& zone) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  const std::size_t n = tmpl.size();
  std::size_t i = 0;
  while (i < n) {
    if (tmpl[i] != '$' || i + 1 >= n || tmpl[i + 1] != '{') {
      out += tmpl[i++];
      continue;
    }
    const std::size_t start = i;
    std::size_t j = i + 2;
    bool quoted = false;
    while (j < n && (quoted || tmpl[j] != '}')) {
      if (tmpl[j] == '\'') quoted = !quoted;
      ++j;
    }
    if (j >= n) return fail(errc::parse_error, "unterminated placeholder: '${' without '}'", start);
    const std::string_view body = tmpl.substr(i + 2, j - i - 2);
    const std::size_t colon = body.find(':');
    const std::string_view name = body.substr(0, colon);
    const std::string_view arg =
        colon == std::string_view::npos ? std::string_view() : body.substr(colon + 1);
    const std::string shown = "${" + std::string(body) + "}";
    if (name == "gmtDate" || name == "date") {
      if (colon == std::string_view::npos || arg.empty()) {
        return fail(errc::config_error,
                    "placeholder " + shown + " needs a date pattern, e.g. ${" + std::string(name) +
                        ":yyyy-MM-dd'T'HH:mm:ss'Z'}",
                    start);
      }
      auto pattern = time_pattern::java(arg, name == "gmtDate" ? time_zone::utc() : zone);
      if (!pattern) {
        const error_info& e = pattern.error();
        const std::size_t arg_at = start + 2 + name.size() + 1;
        return fail(e.code, "in placeholder " + shown + ": " + e.message,
                    e.position == no_position ? start : arg_at + e.position);
      }
      out += pattern->format(since);
    } else if (name == "epoch") {
      epoch_unit unit = epoch_unit::seconds;
      if (arg == "s") {
        unit = epoch_unit::seconds;
      } else if (arg == "ms") {
        unit = epoch_unit::milliseconds;
      } else if (arg == "us") {
        unit = epoch_unit::microseconds;
      } else if (arg == "ns") {
        unit = epoch_unit::nanoseconds;
      } else {
        return fail(
            errc::config_error,
            "placeholder " + shown + " needs a unit: ${epoch:s}, ${epoch:ms}, ${epoch:us} or ${epoch:ns}",
            start);
      }
      out += std::to_string(to_epoch(since, unit));
    } else {
      return fail(
          errc::config_error,
          "unknown placeholder " + shown + " (known: ${gmtDate:PATTERN}, ${date:PATTERN}, ${epoch:UNIT})",
          start);
    }
    i = j + 1;
  }
  return out;
}

/// As above with `${date:...}` in UTC.
[[nodiscard]] inline result<std::string> expand_url_template(std::string_view tmpl, instant since) {
  return expand_url_template(tmpl, since, time_zone::utc());
}

}  // namespace sincehash

#endif  // SINCEHASH_TIME_PATTERN_HPP
