#ifndef SINCEHASH_CURSOR_HPP
#define SINCEHASH_CURSOR_HPP

// What a resource's updated field holds — its cursor kind — and the small pieces that depend on
// it outside the date code: reading an integer cursor, subtracting an integer lookback, and the
// `${since}` URL placeholder.
//
//   instant  a date (the default): compared as an instant, whatever format the source writes;
//   integer  a sequence number: a JSON integer or a string of decimal digits, compared as a
//            signed 64-bit integer (`9` < `10`);
//   string   an opaque cursor: a JSON string (its text) or a number's literal, compared byte-wise.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "sincehash/error.hpp"

namespace sincehash {

/// What the updated field of a resource holds, and so how its offset compares. Configured as
/// `"sincehash": {"cursor": "instant" | "integer" | "string"}`.
enum class cursor_kind : std::uint8_t {
  instant,  ///< a date (default)
  integer,  ///< a sequence number, signed 64-bit
  string,   ///< an opaque cursor compared byte-wise (unsigned bytes)
};

/// "instant", "integer" or "string".
[[nodiscard]] constexpr const char* to_string(cursor_kind k) noexcept {
  switch (k) {
    case cursor_kind::instant:
      return "instant";
    case cursor_kind::integer:
      return "integer";
    case cursor_kind::string:
      return "string";
  }
  return "unknown";
}

/// The cursor kind named `name` ("instant", "integer", "string"); nullopt for any other text.
[[nodiscard]] constexpr std::optional<cursor_kind> cursor_kind_from(std::string_view name) noexcept {
  if (name == "instant") return cursor_kind::instant;
  if (name == "integer") return cursor_kind::integer;
  if (name == "string") return cursor_kind::string;
  return std::nullopt;
}

/// Reads an integer cursor: an optional '-' and one or more decimal digits, nothing else (no
/// '+', no blanks, no fraction or exponent). A value outside the signed 64-bit range is
/// `errc::out_of_range`; any other text `errc::parse_error`. The messages quote the text.
[[nodiscard]] inline result<std::int64_t> parse_cursor_integer(std::string_view text) noexcept {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty()) return fail(errc::parse_error, "\"" + std::string(text) + "\" is not an integer");
  // Accumulated as a negative number: the negative range is one larger than the positive one.
  std::int64_t value = 0;
  constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  bool overflow = false;
  for (char c : digits) {
    if (c < '0' || c > '9') return fail(errc::parse_error, "\"" + std::string(text) + "\" is not an integer");
    const int d = c - '0';
    if (value < (lowest + d) / 10) overflow = true;  // value * 10 - d < lowest
    if (!overflow) value = value * 10 - d;
  }
  if (!overflow && !negative && value == lowest) overflow = true;
  if (overflow)
    return fail(errc::out_of_range, "\"" + std::string(text) + "\" does not fit a signed 64-bit integer");
  return negative ? value : -value;
}

/// `value - lookback` for an integer cursor, saturating at the lowest signed 64-bit value (as
/// an instant's lookback saturates at `instant::min()`); a lookback that is not positive
/// subtracts nothing.
[[nodiscard]] constexpr std::int64_t subtract_integer_lookback(std::int64_t value,
                                                               std::int64_t lookback) noexcept {
  if (lookback <= 0) return value;
  constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  if (value < lowest + lookback) return lowest;
  return value - lookback;
}

/// `text` percent-encoded for a URL query or path: every byte but the unreserved characters
/// (letters, digits, `-._~`) is written as `%XX` (so a `+` of a UTC offset stays a `+`).
[[nodiscard]] inline std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

namespace detail {

// Expands every `${since}` of `tmpl` into `since`, URL-encoded. Other placeholders are copied
// as they are (`only_since` false), or refused (`only_since` true: the cursor is not a date).
// Placeholders are delimited as `expand_url_template` delimits them (a quoted `}` does not end one).
inline result<std::string> expand_since(std::string_view tmpl, std::string_view since, bool only_since) {
  std::string out;
  out.reserve(tmpl.size() + since.size());
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
    if (body == "since") {
      out += url_encode(since);
    } else if (!only_since) {
      out.append(tmpl.data() + start, j + 1 - start);
    } else {
      const std::string_view name = body.substr(0, body.find(':'));
      const std::string shown = "${" + std::string(body) + "}";
      if (name == "gmtDate" || name == "date" || name == "epoch")
        return fail(errc::config_error, "placeholder " + shown + " needs an instant cursor (use ${since})",
                    start);
      return fail(errc::config_error, "unknown placeholder " + shown + " (known with this cursor: ${since})",
                  start);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace detail

/// A URL template for a cursor that is not a date: every `${since}` becomes `since`,
/// URL-encoded. Any other placeholder is `errc::config_error` (a date placeholder such as
/// `${gmtDate:…}` or `${epoch:ms}` needs an instant cursor), with its byte position.
[[nodiscard]] inline result<std::string> expand_cursor_url_template(std::string_view tmpl,
                                                                    std::string_view since) {
  return detail::expand_since(tmpl, since, true);
}

/// Replaces every `${since}` of `tmpl` by `since`, URL-encoded, and leaves every other placeholder
/// as it is, for `expand_url_template` to expand the date placeholders afterwards.
[[nodiscard]] inline result<std::string> expand_since_placeholder(std::string_view tmpl,
                                                                  std::string_view since) {
  return detail::expand_since(tmpl, since, false);
}

}  // namespace sincehash

#endif  // SINCEHASH_CURSOR_HPP
