#ifndef SINCEHASH_TIME_HPP
#define SINCEHASH_TIME_HPP

// Instants, RFC 3339 / ISO 8601 text, epoch numbers and ISO 8601 durations.
//
// Decisions that callers rely on:
// - An ISO 8601 date-time WITHOUT an offset ("2024-01-01T10:00:00") names no instant and is
//   rejected by `parse_iso8601(text)`; use the overload taking a default offset, or the one taking
//   a `time_zone` (time_pattern.hpp), to say which local time it is. A date alone
//   ("2024-01-01") is midnight UTC.
// - Leap second: "23:59:60" is accepted only where a leap second can be, i.e. when it falls at
//   23:59:60 UTC on the last day of a month; it is read as 23:59:59.999999999 UTC (the last
//   nanosecond before the next day), so it sorts after every earlier time and before midnight.
//   Any other ":60" is `errc::invalid_date`.
// - "24:00:00" (with any all-zero fraction) is the end of that day, i.e. 00:00:00 of the next
//   day; "24:00:01" and "24:01" are `errc::invalid_date`.
// - No invalid date is ever normalized: Feb 30, month 13, hour 25 are errors, not March 2 etc.
// - Formatting truncates the fraction to the requested digits; it never rounds up.

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "sincehash/detail/time_civil.hpp"
#include "sincehash/error.hpp"

namespace sincehash {

/// A point in time: UTC, nanosecond precision, on the system clock's epoch (1970-01-01T00:00Z).
/// Its range is that of a signed 64-bit count of nanoseconds: about 1677-09-21 to 2262-04-11.
using instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

/// The unit of a number counted from the Unix epoch (1970-01-01T00:00:00Z).
enum class epoch_unit { seconds, milliseconds, microseconds, nanoseconds };

namespace detail {

constexpr std::int64_t epoch_unit_nanos(epoch_unit u) noexcept {
  switch (u) {
    case epoch_unit::seconds:
      return 1000000000;
    case epoch_unit::milliseconds:
      return 1000000;
    case epoch_unit::microseconds:
      return 1000;
    case epoch_unit::nanoseconds:
      return 1;
  }
  return 1;
}

constexpr int epoch_unit_digits(epoch_unit u) noexcept {
  switch (u) {
    case epoch_unit::seconds:
      return 9;
    case epoch_unit::milliseconds:
      return 6;
    case epoch_unit::microseconds:
      return 3;
    case epoch_unit::nanoseconds:
      return 0;
  }
  return 0;
}

/// A failure without allocation: the hot path builds `error_info` only when it fails.
struct time_failure {
  errc code = errc::ok;
  const char* message = "";
  std::size_t position = 0;
};

/// The fields of an ISO 8601 date-time as written, before its offset is applied.
struct iso_fields {
  std::int64_t local_seconds = 0;  ///< wall clock, counted as if it were UTC
  std::uint32_t nanos = 0;
  std::int32_t offset = 0;  ///< seconds east of UTC, when has_offset
  bool has_offset = false;
  bool leap_second = false;  ///< ":60" was written; local_seconds holds ":59"
};

inline bool iso_fail(time_failure& f, errc code, const char* message, std::size_t pos) noexcept {
  f.code = code;
  f.message = message;
  f.position = pos;
  return false;
}

/// Reads `n` digits at `i`; reports the first non-digit.
inline bool iso_digits(std::string_view s, std::size_t i, int n, unsigned& v, time_failure& f,
                       const char* message) noexcept {
  unsigned r = 0;
  for (int k = 0; k < n; ++k) {
    const std::size_t at = i + static_cast<std::size_t>(k);
    if (at >= s.size()) return iso_fail(f, errc::parse_error, message, at);
    const unsigned d = digit_value(s[at]);
    if (d > 9) return iso_fail(f, errc::parse_error, message, at);
    r = r * 10 + d;
  }
  v = r;
  return true;
}

/// Parses "±HH", "±HHMM" or "±HH:MM" (and "Z"/"z") at `i`; advances `i`.
inline bool parse_offset_field(std::string_view s, std::size_t& i, std::int32_t& offset,
                               time_failure& f) noexcept {
  if (i >= s.size()) return iso_fail(f, errc::parse_error, "expected a UTC offset ('Z', '+' or '-')", i);
  const char c = s[i];
  if (c == 'Z' || c == 'z') {
    offset = 0;
    ++i;
    return true;
  }
  if (c != '+' && c != '-')
    return iso_fail(f, errc::parse_error, "expected a UTC offset ('Z', '+' or '-')", i);
  const std::size_t sign_at = i;
  unsigned hh = 0;
  unsigned mm = 0;
  if (!iso_digits(s, i + 1, 2, hh, f, "expected 2-digit offset hours")) return false;
  i += 3;
  if (i < s.size() && s[i] == ':') {
    if (!iso_digits(s, i + 1, 2, mm, f, "expected 2-digit offset minutes after ':'")) return false;
    i += 3;
  } else if (i + 1 < s.size() && is_digit(s[i]) && is_digit(s[i + 1])) {
    mm = digit_value(s[i]) * 10 + digit_value(s[i + 1]);
    i += 2;
  }
  if (hh > 23 || mm > 59) return iso_fail(f, errc::out_of_range, "UTC offset beyond +-23:59", sign_at);
  const auto magnitude = static_cast<std::int32_t>(hh * 3600 + mm * 60);
  offset = c == '-' ? -magnitude : magnitude;
  return true;
}

inline std::uint64_t load_u64_le(const char* p) noexcept {
  std::uint64_t w = 0;
  std::memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

/// Eight bytes where `digit_mask` marks digits: true when those bytes are '0'..'9' and the
/// others equal `punct` under `punct_mask`; `values` receives the digit values (other bytes 0).
inline bool swar_digits(std::uint64_t w, std::uint64_t digit_mask, std::uint64_t punct_mask,
                        std::uint64_t punct, std::uint64_t& values) noexcept {
  const std::uint64_t zeros = 0x3030303030303030ULL & digit_mask;
  const std::uint64_t high = 0xF0F0F0F0F0F0F0F0ULL & digit_mask;
  const std::uint64_t d = w & digit_mask;
  const bool ok = ((d & high) == zeros) & (((d + (0x0606060606060606ULL & digit_mask)) & high) == zeros) &
                  ((w & punct_mask) == punct);
  values = d - zeros;
  return ok;
}

/// The common shape "YYYY-MM-DDTHH:MM:SS" with every field in its ordinary range, read eight
/// bytes at a time; false sends the text to the careful path, which names the error.
inline bool iso_fast_head(const char* p, unsigned& year, unsigned& month, unsigned& day, unsigned& hour,
                          unsigned& minute, unsigned& second) noexcept {
  std::uint64_t a = 0;  // "YYYY-MM-"
  std::uint64_t b = 0;  // "DDTHH:MM" (only DD used)
  std::uint64_t c = 0;  // "HH:MM:SS"
  const bool ok_a =
      swar_digits(load_u64_le(p), 0x00FFFF00FFFFFFFFULL, 0xFF0000FF00000000ULL, 0x2D00002D00000000ULL, a);
  const bool ok_b = swar_digits(load_u64_le(p + 8), 0x000000000000FFFFULL, 0, 0, b);
  const bool ok_c = swar_digits(load_u64_le(p + 11), 0xFFFF00FFFF00FFFFULL, 0x0000FF0000FF0000ULL,
                                0x00003A00003A0000ULL, c);
  const char sep = p[10];
  if (!(ok_a & ok_b & ok_c & ((sep == 'T') | (sep == 't') | (sep == ' ')))) return false;
  // Byte k of v * 10 + (v >> 8) is digit_k * 10 + digit_k+1.
  const std::uint64_t pa = a * 10 + (a >> 8);
  const std::uint64_t pb = b * 10 + (b >> 8);
  const std::uint64_t pc = c * 10 + (c >> 8);
  year = static_cast<unsigned>(pa & 0xFF) * 100 + static_cast<unsigned>((pa >> 16) & 0xFF);
  month = static_cast<unsigned>((pa >> 40) & 0xFF);
  day = static_cast<unsigned>(pb & 0xFF);
  hour = static_cast<unsigned>(pc & 0xFF);
  minute = static_cast<unsigned>((pc >> 24) & 0xFF);
  second = static_cast<unsigned>((pc >> 48) & 0xFF);
  return !(month - 1 >= 12 || day - 1 >= days_in_month(year, month) || hour >= 24 || minute >= 60 ||
           second >= 60);
}

inline bool parse_iso_fields(std::string_view s, iso_fields& out, time_failure& f) noexcept {
  std::int64_t days = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  std::size_t i = 19;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  if (s.size() >= 19 && iso_fast_head(s.data(), year, month, day, hour, minute, second)) {
    days = days_from_civil_0_9999(year, month, day);
  } else {
    if (!iso_digits(s, 0, 4, year, f, "expected a 4-digit year")) return false;
    if (s.size() <= 4 || s[4] != '-') return iso_fail(f, errc::parse_error, "expected '-' after the year", 4);
    if (!iso_digits(s, 5, 2, month, f, "expected a 2-digit month")) return false;
    if (month < 1 || month > 12) return iso_fail(f, errc::invalid_date, "month out of range 01-12", 5);
    if (s.size() <= 7 || s[7] != '-')
      return iso_fail(f, errc::parse_error, "expected '-' after the month", 7);
    if (!iso_digits(s, 8, 2, day, f, "expected a 2-digit day")) return false;
    if (day < 1 || day > days_in_month(year, month)) {
      return iso_fail(
          f, errc::invalid_date,
          (month == 2 && day == 29) ? "February 29 in a non-leap year" : "day out of range for the month", 8);
    }
    days = days_from_civil(year, month, day);
    if (s.size() == 10) {
      out.local_seconds = days * 86400;
      out.nanos = 0;
      out.offset = 0;
      out.has_offset = true;
      out.leap_second = false;
      return true;
    }
    const char sep = s[10];
    if (sep != 'T' && sep != 't' && sep != ' ') {
      return iso_fail(f, errc::parse_error, "expected 'T' or ' ' between date and time", 10);
    }
    if (!iso_digits(s, 11, 2, hour, f, "expected 2-digit hours")) return false;
    if (hour > 24) return iso_fail(f, errc::invalid_date, "hour out of range 00-23", 11);
    if (s.size() <= 13 || s[13] != ':') {
      return iso_fail(f, errc::parse_error, "expected ':' after the hours", 13);
    }
    if (!iso_digits(s, 14, 2, minute, f, "expected 2-digit minutes")) return false;
    if (minute > 59) return iso_fail(f, errc::invalid_date, "minute out of range 00-59", 14);
    i = 16;
    if (i < s.size() && s[i] == ':') {
      if (!iso_digits(s, 17, 2, second, f, "expected 2-digit seconds")) return false;
      if (second > 60) return iso_fail(f, errc::invalid_date, "second out of range 00-59", 17);
      i = 19;
    }
  }
  std::uint32_t nanos = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    if (i == 16) return iso_fail(f, errc::parse_error, "a fraction needs seconds (HH:MM:SS.f)", i);
    ++i;
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) {
      if (i - start == 9) return iso_fail(f, errc::parse_error, "more than 9 fraction digits", i);
      nanos = nanos * 10 + digit_value(s[i]);
      ++i;
    }
    if (i == start)
      return iso_fail(f, errc::parse_error, "empty fraction: expected a digit after the point", i);
    nanos *= pow10_u32[9 - (i - start)];
  }
  if (hour == 24 && (minute != 0 || second != 0 || nanos != 0)) {
    return iso_fail(f, errc::invalid_date, "hour 24 is only valid as 24:00:00 (end of day)", 11);
  }
  const bool leap = second == 60;
  if (leap) second = 59;
  out.local_seconds = days * 86400 + static_cast<std::int64_t>(hour * 3600 + minute * 60 + second);
  out.nanos = nanos;
  out.leap_second = leap;
  if (i == s.size()) {
    out.has_offset = false;
    out.offset = 0;
    return true;
  }
  if (!parse_offset_field(s, i, out.offset, f)) return false;
  out.has_offset = true;
  if (i != s.size()) return iso_fail(f, errc::parse_error, "unexpected characters after the date-time", i);
  return true;
}

/// Turns parsed fields and the resolved UTC seconds into an instant (leap second rule, range).
inline bool iso_finish(const iso_fields& fields, std::int64_t utc_seconds, std::int64_t& ns,
                       time_failure& f) noexcept {
  std::uint32_t nanos = fields.nanos;
  if (fields.leap_second) {
    const std::int64_t next = utc_seconds + 1;
    const std::int64_t day = floor_div(next, 86400);
    if (next - day * 86400 != 0 || civil_from_days(day).day != 1) {
      return iso_fail(f, errc::invalid_date,
                      "second 60 is only valid as a leap second at 23:59:60 UTC on the last day of a month",
                      17);
    }
    nanos = 999999999;
  }
  if (!seconds_to_nanos(utc_seconds, nanos, ns)) {
    return iso_fail(f, errc::out_of_range, "date-time outside the instant range (1677-09-21 to 2262-04-11)",
                    0);
  }
  return true;
}

inline error_info to_error(const time_failure& f) { return error_info{f.code, f.message, f.position}; }

inline result<instant> parse_iso8601_impl(std::string_view text, bool have_default,
                                          std::int32_t default_offset) noexcept {
  iso_fields fields;
  time_failure f;
  if (!parse_iso_fields(text, fields, f)) return to_error(f);
  if (!fields.has_offset) {
    if (!have_default) {
      return fail(errc::parse_error,
                  "missing UTC offset ('Z' or +-HH:MM): a local date-time without an offset names no instant",
                  text.size());
    }
    fields.offset = default_offset;
  }
  std::int64_t ns = 0;
  if (!iso_finish(fields, fields.local_seconds - fields.offset, ns, f)) return to_error(f);
  return instant{std::chrono::nanoseconds{ns}};
}

}  // namespace detail

/// Parses RFC 3339 and the ISO 8601 extended forms APIs send: `YYYY-MM-DD`, then `T`, `t` or
/// a space, `HH:MM[:SS[.f]]` with 1-9 fraction digits (`.` or `,`), then `Z`, `z`, `+-HH:MM`,
/// `+-HHMM` or `+-HH`. A date alone is midnight UTC. A date-time without an offset is rejected
/// (`errc::parse_error` at the end of the text). Errors: `parse_error` (grammar, with the byte
/// position), `invalid_date` (month 00/13, day 00/32, Feb 29 of a non-leap year, hour, minute,
/// second out of range), `out_of_range` (offset beyond +-23:59, outside the instant range).
/// Leap seconds and 24:00 are handled as described at the top of this header.
[[nodiscard]] inline result<instant> parse_iso8601(std::string_view text) noexcept {
  return detail::parse_iso8601_impl(text, false, 0);
}

/// As `parse_iso8601(text)`, but a date-time written without an offset is read as local time at
/// `default_offset` east of UTC (|offset| <= 23:59, else `errc::invalid_argument`).
[[nodiscard]] inline result<instant> parse_iso8601(std::string_view text,
                                                   std::chrono::seconds default_offset) noexcept {
  if (default_offset.count() > 86340 || default_offset.count() < -86340) {
    return fail(errc::invalid_argument, "default UTC offset beyond +-23:59");
  }
  return detail::parse_iso8601_impl(text, true, static_cast<std::int32_t>(default_offset.count()));
}

/// Writes `t` as RFC 3339 into `out` (at least 40 bytes, which it may use as scratch; no
/// terminating NUL) and returns the length of the text. `fraction_digits` (clamped to 0..9) digits are
/// written, truncated, never rounded. The wall clock is shown at `utc_offset` east of UTC, truncated toward
/// zero to whole minutes and clamped to +-23:59; offset 0 writes `Z`, any other `+HH:MM`/`-HH:MM`.
inline std::size_t format_rfc3339_to(char* out, instant t, int fraction_digits = 3,
                                     std::chrono::seconds utc_offset = std::chrono::seconds{0}) noexcept {
  if (fraction_digits < 0) fraction_digits = 0;
  if (fraction_digits > 9) fraction_digits = 9;
  std::int64_t off = utc_offset.count() / 60 * 60;
  if (off > 86340) off = 86340;
  if (off < -86340) off = -86340;
  const std::int64_t ns = t.time_since_epoch().count();
  const std::int64_t secs = detail::floor_div(ns, 1000000000);
  const std::uint32_t nanos = detail::nanos_of_second(ns);
  const std::int64_t local = secs + off;
  const std::int64_t days = detail::floor_div(local, 86400);
  const auto sod = static_cast<unsigned>(local - days * 86400);
  const detail::civil_date d = detail::civil_from_days_near(days);
  char* p = out;
  p = detail::write_4digits(p, static_cast<unsigned>(d.year));
  *p++ = '-';
  p = detail::write_2digits(p, d.month);
  *p++ = '-';
  p = detail::write_2digits(p, d.day);
  *p++ = 'T';
  p = detail::write_2digits(p, sod / 3600);
  *p++ = ':';
  p = detail::write_2digits(p, sod / 60 % 60);
  *p++ = ':';
  p = detail::write_2digits(p, sod % 60);
  if (fraction_digits > 0) {
    *p++ = '.';
    p = detail::write_fraction_digits(p, nanos, fraction_digits);
  }
  if (off == 0) {
    *p++ = 'Z';
  } else {
    p = detail::write_offset(p, static_cast<std::int32_t>(off), true, true);
  }
  return static_cast<std::size_t>(p - out);
}

/// `t` as RFC 3339, e.g. "2024-01-01T10:00:00.000Z"; see `format_rfc3339_to`.
[[nodiscard]] inline std::string format_rfc3339(instant t, int fraction_digits = 3,
                                                std::chrono::seconds utc_offset = std::chrono::seconds{0}) {
  char buf[48];
  return std::string(buf, format_rfc3339_to(buf, t, fraction_digits, utc_offset));
}

/// The instant `value` units after 1970-01-01T00:00:00Z; `errc::out_of_range` when it lies
/// outside the instant range (never wraps).
[[nodiscard]] inline result<instant> from_epoch(std::int64_t value, epoch_unit unit) noexcept {
  std::int64_t ns = 0;
  if (!detail::checked_mul(value, detail::epoch_unit_nanos(unit), ns)) {
    return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
  }
  return instant{std::chrono::nanoseconds{ns}};
}

/// The instant `value` units after the epoch, from the exact binary value of the double rounded
/// to the nearest nanosecond (a double holds ~16 significant digits: epoch seconds keep about
/// microseconds). NaN and infinities: `errc::invalid_argument`; out of range: `errc::out_of_range`.
[[nodiscard]] inline result<instant> from_epoch(double value, epoch_unit unit) noexcept {
  if (!std::isfinite(value)) return fail(errc::invalid_argument, "epoch value is NaN or infinite");
  const std::int64_t factor = detail::epoch_unit_nanos(unit);
  const double whole = std::floor(value);
  if (whole >= 9223372036854775808.0 || whole < -9223372036854775808.0) {
    return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
  }
  const auto ip = static_cast<std::int64_t>(whole);
  const auto frac_ns = static_cast<std::int64_t>(std::llround((value - whole) * static_cast<double>(factor)));
  std::int64_t ns = 0;
  if (!detail::checked_mul(ip, factor, ns) || !detail::checked_add(ns, frac_ns, ns)) {
    return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
  }
  return instant{std::chrono::nanoseconds{ns}};
}

/// Parses a decimal epoch number exactly: optional sign, digits, optional `.` fraction, optional
/// exponent (`1.7041032e9`). Digits finer than a nanosecond that are not zero are
/// `errc::out_of_range` (never silently dropped); outside the instant range: `errc::out_of_range`;
/// anything else malformed: `errc::parse_error` with the byte position.
[[nodiscard]] inline result<instant> parse_epoch(std::string_view text, epoch_unit unit) noexcept {
  std::size_t i = 0;
  const std::size_t n = text.size();
  bool negative = false;
  if (i < n && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  const std::size_t int_begin = i;
  while (i < n && detail::is_digit(text[i])) ++i;
  const std::size_t int_end = i;
  std::size_t frac_begin = i;
  std::size_t frac_end = i;
  if (i < n && text[i] == '.') {
    ++i;
    frac_begin = i;
    while (i < n && detail::is_digit(text[i])) ++i;
    frac_end = i;
  }
  if (int_end == int_begin && frac_end == frac_begin) {
    return fail(errc::parse_error, "expected a decimal number", int_begin < n ? int_begin : n);
  }
  std::int64_t exponent = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) {
      exp_negative = text[i] == '-';
      ++i;
    }
    const std::size_t exp_begin = i;
    while (i < n && detail::is_digit(text[i])) {
      if (exponent < 100000) exponent = exponent * 10 + detail::digit_value(text[i]);
      ++i;
    }
    if (i == exp_begin) return fail(errc::parse_error, "expected exponent digits", i);
    if (exp_negative) exponent = -exponent;
  }
  if (i != n) return fail(errc::parse_error, "unexpected character in epoch number", i);

  // The digits int||frac form an integer D; the value in nanoseconds is D * 10^shift.
  const auto digit_at = [&](std::size_t k) noexcept -> char {
    const std::size_t int_len = int_end - int_begin;
    return k < int_len ? text[int_begin + k] : text[frac_begin + (k - int_len)];
  };
  const std::size_t total = (int_end - int_begin) + (frac_end - frac_begin);
  std::size_t first = 0;
  while (first < total && digit_at(first) == '0') ++first;
  std::size_t last = total;
  while (last > first && digit_at(last - 1) == '0') --last;
  if (first == last) return instant{std::chrono::nanoseconds{0}};
  std::int64_t shift = static_cast<std::int64_t>(detail::epoch_unit_digits(unit)) + exponent -
                       static_cast<std::int64_t>(frac_end - frac_begin) +
                       static_cast<std::int64_t>(total - last);
  if (shift < 0) return fail(errc::out_of_range, "epoch value has digits finer than a nanosecond");
  const auto significant = static_cast<std::int64_t>(last - first);
  if (significant + shift > 19) {
    return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
  }
  std::uint64_t v = 0;
  for (std::size_t k = first; k < last; ++k) v = v * 10 + detail::digit_value(digit_at(k));
  for (std::int64_t k = 0; k < shift; ++k) {
    if (v > 1000000000000000000ULL) {
      return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
    }
    v *= 10;
  }
  constexpr std::uint64_t limit = 9223372036854775807ULL;
  if (v > limit + (negative ? 1 : 0)) {
    return fail(errc::out_of_range, "epoch value outside the instant range (1677-09-21 to 2262-04-11)");
  }
  const std::int64_t ns =
      negative ? (v == limit + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(v))
               : static_cast<std::int64_t>(v);
  return instant{std::chrono::nanoseconds{ns}};
}

/// The number of whole `unit`s from the epoch to `t`, rounded toward negative infinity (so
/// 1969-12-31T23:59:59.5Z is -1 second, never 0).
[[nodiscard]] inline std::int64_t to_epoch(instant t, epoch_unit unit) noexcept {
  return detail::floor_div(t.time_since_epoch().count(), detail::epoch_unit_nanos(unit));
}

/// Parses a duration as configuration values write them: ISO 8601 `PnW`, `PnD`, `PTnH`, `PTnM`,
/// `PTnS` and combinations in that order (`P1DT12H`), designators in either case, a fraction
/// (`.` or `,`, 1-9 digits) on the last component only (`PT1.5S`, `P0.5D`); or a bare whole
/// number of seconds ("300"). Years and months have no fixed length and are rejected with
/// `errc::unsupported`; negative durations with `errc::out_of_range`; overflow of 64-bit
/// nanoseconds with `errc::out_of_range`; anything else with `errc::parse_error`. Every error
/// carries the byte position.
[[nodiscard]] inline result<std::chrono::nanoseconds> parse_duration(std::string_view text) noexcept {
  const std::size_t n = text.size();
  if (n == 0) return fail(errc::parse_error, "empty duration", 0);
  if (text[0] == '-') return fail(errc::out_of_range, "negative durations are not accepted", 0);
  const auto too_long = [](std::size_t pos) {
    return fail(errc::out_of_range, "duration longer than 64-bit nanoseconds hold (~292 years)", pos);
  };
  if (detail::is_digit(text[0])) {
    std::int64_t secs = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!detail::is_digit(text[i])) {
        return fail(errc::parse_error,
                    "a bare number is a whole number of seconds; use ISO 8601 (PT1.5S) otherwise", i);
      }
      if (!detail::checked_mul(secs, 10, secs) ||
          !detail::checked_add(secs, detail::digit_value(text[i]), secs)) {
        return too_long(0);
      }
    }
    std::int64_t ns = 0;
    if (!detail::checked_mul(secs, 1000000000, ns)) return too_long(0);
    return std::chrono::nanoseconds{ns};
  }
  if (text[0] != 'P' && text[0] != 'p') {
    return fail(errc::parse_error, "expected an ISO 8601 duration ('P...') or whole seconds", 0);
  }
  std::size_t i = 1;
  bool in_time = false;
  bool time_component = false;
  bool any = false;
  bool had_fraction = false;
  int last_rank = -1;
  std::int64_t total = 0;
  while (i < n) {
    if (text[i] == 'T' || text[i] == 't') {
      if (in_time) return fail(errc::parse_error, "second 'T' in duration", i);
      in_time = true;
      ++i;
      continue;
    }
    if (text[i] == '-') return fail(errc::out_of_range, "negative durations are not accepted", i);
    const std::size_t start = i;
    if (had_fraction)
      return fail(errc::parse_error, "only the last duration component may have a fraction", i);
    std::int64_t whole = 0;
    while (i < n && detail::is_digit(text[i])) {
      if (!detail::checked_mul(whole, 10, whole) ||
          !detail::checked_add(whole, detail::digit_value(text[i]), whole)) {
        return too_long(start);
      }
      ++i;
    }
    if (i == start) return fail(errc::parse_error, "expected a number in duration", i);
    std::uint32_t frac = 0;
    std::size_t frac_digits = 0;
    if (i < n && (text[i] == '.' || text[i] == ',')) {
      ++i;
      const std::size_t fs = i;
      while (i < n && detail::is_digit(text[i])) {
        if (i - fs == 9) return fail(errc::parse_error, "more than 9 fraction digits", i);
        frac = frac * 10 + detail::digit_value(text[i]);
        ++i;
      }
      frac_digits = i - fs;
      if (frac_digits == 0)
        return fail(errc::parse_error, "empty fraction: expected a digit after the point", i);
      had_fraction = true;
    }
    if (i >= n) return fail(errc::parse_error, "expected a designator (W, D, H, M or S) after the number", i);
    const char c = detail::ascii_upper(text[i]);
    int rank = -1;
    std::int64_t unit_seconds = 0;
    if (!in_time) {
      if (c == 'Y')
        return fail(errc::unsupported, "years have no fixed length; write the duration in days", i);
      if (c == 'M')
        return fail(errc::unsupported, "months have no fixed length; write the duration in days", i);
      if (c == 'W') rank = 0, unit_seconds = 604800;
      if (c == 'D') rank = 1, unit_seconds = 86400;
      if (rank < 0) {
        return fail(errc::parse_error,
                    (c == 'H' || c == 'S') ? "hours, minutes and seconds go after 'T' (PT5M)"
                                           : "expected a designator (W or D before 'T')",
                    i);
      }
    } else {
      if (c == 'H') rank = 2, unit_seconds = 3600;
      if (c == 'M') rank = 3, unit_seconds = 60;
      if (c == 'S') rank = 4, unit_seconds = 1;
      if (rank < 0) return fail(errc::parse_error, "expected a designator (H, M or S after 'T')", i);
    }
    if (rank <= last_rank) return fail(errc::parse_error, "duration components repeated or out of order", i);
    last_rank = rank;
    std::int64_t part = 0;
    if (!detail::checked_mul(whole, unit_seconds * 1000000000, part) ||
        !detail::checked_add(total, part, total)) {
      return too_long(start);
    }
    if (frac_digits > 0) {
      const std::int64_t frac_ns = static_cast<std::int64_t>(frac) * unit_seconds *
                                   static_cast<std::int64_t>(detail::pow10_u32[9 - frac_digits]);
      if (!detail::checked_add(total, frac_ns, total)) return too_long(start);
    }
    any = true;
    if (in_time) time_component = true;
    ++i;
  }
  if (!any) return fail(errc::parse_error, "empty duration: expected a number and a designator", n);
  if (in_time && !time_component)
    return fail(errc::parse_error, "'T' must be followed by a time component", n);
  return std::chrono::nanoseconds{total};
}

}  // namespace sincehash

#endif  // SINCEHASH_TIME_HPP
