#ifndef SINCEHASH_DETAIL_CANONICAL_NUMBER_HPP
#define SINCEHASH_DETAIL_CANONICAL_NUMBER_HPP

// The canonical decimal form of a JSON number literal, computed from its text (never through a
// binary floating-point value), so that equal decimal values have equal forms:
//   zero (any sign, any exponent)  -> "0"
//   otherwise                      -> [-]D[eX]
// where D is the significand's digits without leading or trailing zeros and X the decimal exponent
// (no '+', no leading zeros, omitted when 0), the value being D x 10^X.
// Examples: 1, 1.0, 10e-1 -> "1"; 12.50 -> "125e-1"; 1700000000000 -> "17e11"; -0.0 -> "0".

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace sincehash::detail {

enum class number_status : std::uint8_t { ok, bad_syntax, exponent_range };

/// Validates `lit` against the JSON number grammar and appends its canonical form to `out`.
/// `out` is left unchanged on failure. Exponents beyond +-10^15 are refused (`exponent_range`).
inline number_status append_canonical_number(std::string_view lit, std::string& out) {
  std::size_t i = 0;
  const std::size_t n = lit.size();
  bool negative = false;
  if (i < n && lit[i] == '-') {
    negative = true;
    ++i;
  }
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const std::size_t int_begin = i;
  if (i == n || !is_digit(lit[i])) return number_status::bad_syntax;
  if (lit[i] == '0') {
    ++i;
  } else {
    while (i < n && is_digit(lit[i])) ++i;
  }
  const std::size_t int_end = i;
  std::size_t frac_begin = i;
  std::size_t frac_end = i;
  if (i < n && lit[i] == '.') {
    ++i;
    frac_begin = i;
    while (i < n && is_digit(lit[i])) ++i;
    frac_end = i;
    if (frac_end == frac_begin) return number_status::bad_syntax;
  }
  std::int64_t exponent = 0;
  if (i < n && (lit[i] == 'e' || lit[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (lit[i] == '+' || lit[i] == '-')) {
      exp_negative = lit[i] == '-';
      ++i;
    }
    if (i == n || !is_digit(lit[i])) return number_status::bad_syntax;
    bool too_big = false;
    while (i < n && is_digit(lit[i])) {
      if (exponent > 1000000000000000LL) {
        too_big = true;
      } else {
        exponent = exponent * 10 + (lit[i] - '0');
      }
      ++i;
    }
    if (too_big || exponent > 1000000000000000LL) return number_status::exponent_range;
    if (exp_negative) exponent = -exponent;
  }
  if (i != n) return number_status::bad_syntax;

  // The significand's digits are lit[int_begin, int_end) followed by lit[frac_begin, frac_end).
  const std::size_t int_len = int_end - int_begin;
  const std::size_t total = int_len + (frac_end - frac_begin);
  auto digit_at = [&](std::size_t k) {
    return k < int_len ? lit[int_begin + k] : lit[frac_begin + k - int_len];
  };
  std::size_t first = 0;
  while (first < total && digit_at(first) == '0') ++first;
  if (first == total) {
    out.push_back('0');
    return number_status::ok;
  }
  std::size_t last = total;  // one past the last nonzero digit
  while (digit_at(last - 1) == '0') --last;
  exponent -= static_cast<std::int64_t>(frac_end - frac_begin);
  exponent += static_cast<std::int64_t>(total - last);
  if (negative) out.push_back('-');
  for (std::size_t k = first; k < last; ++k) out.push_back(digit_at(k));
  if (exponent != 0) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, exponent);
    out.push_back('e');
    out.append(buf, r.ptr);
  }
  return number_status::ok;
}

/// The shortest decimal text that reads back as `value` (C++17 `std::to_chars`), written into
/// `buf`; returns its length, or 0 for a non-finite value.
inline std::size_t shortest_double_text(double value, char (&buf)[32]) noexcept {
  if (value != value || value - value != 0.0) return 0;
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  if (r.ec != std::errc()) return 0;
  return static_cast<std::size_t>(r.ptr - buf);
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_CANONICAL_NUMBER_HPP
