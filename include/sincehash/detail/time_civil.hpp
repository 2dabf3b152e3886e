#ifndef SINCEHASH_DETAIL_TIME_CIVIL_HPP
#define SINCEHASH_DETAIL_TIME_CIVIL_HPP

// Proleptic Gregorian calendar arithmetic and the digit helpers shared by the time parsers and
// formatters. Days are counted from 1970-01-01 (day 0); weekdays run 0 = Sunday .. 6 = Saturday.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace sincehash::detail {

constexpr bool is_leap_year(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr unsigned char lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && is_leap_year(y)) ? 29u : lengths[(m - 1) % 12];
}

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// days_from_civil for years 0..9999 in 32-bit unsigned arithmetic (the parsers' hot path).
constexpr std::int64_t days_from_civil_0_9999(unsigned y, unsigned m, unsigned d) noexcept {
  // Shift by one 400-year era so that January and February of year 0 stay non-negative.
  const unsigned yy = y + 400 - (m <= 2 ? 1 : 0);
  const unsigned era = yy / 400;
  const unsigned yoe = yy - era * 400;
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468 - 146097;
}

struct civil_date {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

constexpr civil_date civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

/// civil_from_days for day counts within +-2'000'000 (years about -3500..7400), in 32-bit
/// unsigned arithmetic: every instant's day lies far inside.
constexpr civil_date civil_from_days_near(std::int64_t z) noexcept {
  // Shift by 25 eras (10'000 years) so that everything stays positive.
  const auto zz = static_cast<std::uint32_t>(z + 719468 + 25 * 146097);
  const std::uint32_t era = zz / 146097;
  const std::uint32_t doe = zz - era * 146097;
  const std::uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::uint32_t mp = (5 * doy + 2) / 153;
  const std::uint32_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::uint32_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + static_cast<std::int64_t>(era) * 400 - 10000;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

constexpr unsigned weekday_from_days(std::int64_t z) noexcept {
  return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

/// 1-based day of the year of a valid date.
constexpr unsigned day_of_year(std::int64_t y, unsigned m, unsigned d) noexcept {
  return static_cast<unsigned>(days_from_civil(y, m, d) - days_from_civil(y, 1, 1)) + 1;
}

// The range of `instant` (signed 64-bit nanoseconds) split into seconds and nanoseconds.
inline constexpr std::int64_t instant_min_seconds = -9223372037;
inline constexpr std::uint32_t instant_min_nanos = 145224192;
inline constexpr std::int64_t instant_max_seconds = 9223372036;
inline constexpr std::uint32_t instant_max_nanos = 854775807;

/// seconds + nanos (0..999'999'999) as a count of nanoseconds; false when outside the range.
constexpr bool seconds_to_nanos(std::int64_t s, std::uint32_t ns, std::int64_t& out) noexcept {
  if (s > instant_max_seconds || (s == instant_max_seconds && ns > instant_max_nanos)) return false;
  if (s < instant_min_seconds || (s == instant_min_seconds && ns < instant_min_nanos)) return false;
  // For s < 0, s * 10^9 alone may overflow although the sum fits.
  out = s < 0 ? (s + 1) * 1000000000 + (static_cast<std::int64_t>(ns) - 1000000000)
              : s * 1000000000 + static_cast<std::int64_t>(ns);
  return true;
}

constexpr bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
  if (a == 0 || b == 0) {
    out = 0;
    return true;
  }
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  if (a > 0) {
    if (b > 0 ? a > max / b : b < min / a) return false;
  } else {
    if (b > 0 ? a < min / b : (a != 0 && b < max / a)) return false;
  }
  out = a * b;
  return true;
}

constexpr bool checked_add(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  if ((b > 0 && a > max - b) || (b < 0 && a < min - b)) return false;
  out = a + b;
  return true;
}

inline constexpr std::uint32_t pow10_u32[10] = {1,      10,      100,      1000,      10000,
                                                100000, 1000000, 10000000, 100000000, 1000000000};

/// The value of a decimal digit, or a number > 9 for any other byte.
constexpr unsigned digit_value(char c) noexcept {
  return static_cast<unsigned>(static_cast<unsigned char>(c)) - static_cast<unsigned>('0');
}
constexpr bool is_digit(char c) noexcept { return digit_value(c) <= 9; }
constexpr char ascii_upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

/// The nanoseconds within the second of a count of nanoseconds (0..999'999'999).
constexpr std::uint32_t nanos_of_second(std::int64_t ns) noexcept {
  return static_cast<std::uint32_t>(((ns % 1000000000) + 1000000000) % 1000000000);
}

inline constexpr char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/// Two decimal digits of v (0..99).
inline char* write_2digits(char* p, unsigned v) noexcept {
  std::memcpy(p, digit_pairs + 2 * (v % 100), 2);
  return p + 2;
}

inline char* write_4digits(char* p, unsigned v) noexcept {
  p = write_2digits(p, v / 100 % 100);
  return write_2digits(p, v % 100);
}

/// The first `digits` (0..9) digits of a nanosecond fraction, truncated (never rounded up).
/// Writes all nine digits: `p` must have room for nine bytes whatever `digits` is.
inline char* write_fraction_digits(char* p, std::uint32_t nanos, int digits) noexcept {
  const std::uint32_t a = nanos / 10000000;  // constant divisors only: no hardware division
  const std::uint32_t r1 = nanos % 10000000;
  const std::uint32_t b = r1 / 100000;
  const std::uint32_t r2 = r1 % 100000;
  const std::uint32_t c = r2 / 1000;
  const std::uint32_t r3 = r2 % 1000;
  write_2digits(p, a);
  write_2digits(p + 2, b);
  write_2digits(p + 4, c);
  write_2digits(p + 6, r3 / 10);
  p[8] = static_cast<char>('0' + r3 % 10);
  return p + digits;
}

/// A signed decimal integer; returns the end.
inline char* write_int64(char* p, std::int64_t v) noexcept {
  char tmp[20];
  int n = 0;
  std::uint64_t u = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) *p++ = '-';
  while (n > 0) *p++ = tmp[--n];
  return p;
}

/// "+HH:MM", "+HHMM" or "+HH" for an offset in whole minutes (sign always written).
inline char* write_offset(char* p, std::int32_t offset_seconds, bool colon, bool minutes) noexcept {
  std::int32_t m = offset_seconds / 60;
  *p++ = m < 0 ? '-' : '+';
  if (m < 0) m = -m;
  p = write_2digits(p, static_cast<unsigned>(m / 60));
  if (minutes) {
    if (colon) *p++ = ':';
    p = write_2digits(p, static_cast<unsigned>(m % 60));
  }
  return p;
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_TIME_CIVIL_HPP
