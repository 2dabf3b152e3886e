#ifndef SINCEHASH_DETAIL_TZIF_HPP
#define SINCEHASH_DETAIL_TZIF_HPP

// Time zone tables: a reader for TZif files (RFC 8536, versions 1 to 4) and for the POSIX TZ
// rule in their footer, which gives the offset after the last listed transition.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/detail/time_civil.hpp"

namespace sincehash::detail {

/// One POSIX TZ rule date: `Jn` (1..365, Feb 29 never counted), `n` (0..365), or `Mm.w.d`.
struct posix_date_rule {
  enum class kind : std::uint8_t { julian1, julian0, month_week_day };
  kind k = kind::month_week_day;
  int day = 0;  // Jn / n
  int month = 1;
  int week = 1;
  int wday = 0;
  std::int32_t time = 7200;  // seconds after local midnight, may be negative or > 24 h
};

struct posix_tz_rule {
  std::int32_t std_offset = 0;  // seconds east of UTC
  std::int32_t dst_offset = 0;
  bool has_dst = false;
  posix_date_rule start;
  posix_date_rule end;
};

struct tz_table {
  std::vector<std::int64_t> transitions;  // UTC seconds, strictly increasing
  std::vector<std::int32_t> offsets;      // offset in effect from transitions[i]
  std::int32_t initial_offset = 0;        // before the first transition
  bool has_rule = false;
  posix_tz_rule rule;
};

class posix_reader {
 public:
  explicit posix_reader(std::string_view s) noexcept : s_(s) {}

  bool name() noexcept {
    if (i_ < s_.size() && s_[i_] == '<') {
      const std::size_t start = ++i_;
      while (i_ < s_.size() && s_[i_] != '>') {
        const char c = s_[i_];
        if (!(is_digit(c) || c == '+' || c == '-' || (ascii_upper(c) >= 'A' && ascii_upper(c) <= 'Z')))
          return false;
        ++i_;
      }
      if (i_ >= s_.size() || i_ == start) return false;
      ++i_;
      return true;
    }
    const std::size_t start = i_;
    while (i_ < s_.size() && ascii_upper(s_[i_]) >= 'A' && ascii_upper(s_[i_]) <= 'Z') ++i_;
    return i_ - start >= 3;
  }

  // [+-]hh[:mm[:ss]] with hh <= max_hours.
  bool hms(std::int32_t& out, int max_hours) noexcept {
    bool negative = false;
    if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) negative = s_[i_++] == '-';
    std::int32_t parts[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      if (k > 0) {
        if (i_ >= s_.size() || s_[i_] != ':') break;
        ++i_;
      }
      const std::size_t start = i_;
      std::int32_t v = 0;
      while (i_ < s_.size() && is_digit(s_[i_]) && i_ - start < 3)
        v = v * 10 + static_cast<std::int32_t>(digit_value(s_[i_++]));
      if (i_ == start) return false;
      parts[k] = v;
    }
    if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59) return false;
    const std::int32_t v = parts[0] * 3600 + parts[1] * 60 + parts[2];
    out = negative ? -v : v;
    return true;
  }

  bool number(int& out, int lo, int hi) noexcept {
    const std::size_t start = i_;
    int v = 0;
    while (i_ < s_.size() && is_digit(s_[i_]) && i_ - start < 4)
      v = v * 10 + static_cast<int>(digit_value(s_[i_++]));
    if (i_ == start || v < lo || v > hi) return false;
    out = v;
    return true;
  }

  bool date(posix_date_rule& r) noexcept {
    if (i_ < s_.size() && s_[i_] == 'J') {
      ++i_;
      r.k = posix_date_rule::kind::julian1;
      if (!number(r.day, 1, 365)) return false;
    } else if (i_ < s_.size() && s_[i_] == 'M') {
      ++i_;
      r.k = posix_date_rule::kind::month_week_day;
      if (!number(r.month, 1, 12) || !eat('.') || !number(r.week, 1, 5) || !eat('.') ||
          !number(r.wday, 0, 6)) {
        return false;
      }
    } else {
      r.k = posix_date_rule::kind::julian0;
      if (!number(r.day, 0, 365)) return false;
    }
    r.time = 7200;
    if (i_ < s_.size() && s_[i_] == '/') {
      ++i_;
      if (!hms(r.time, 167)) return false;
    }
    return true;
  }

  bool eat(char c) noexcept {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool at_end() const noexcept { return i_ == s_.size(); }
  bool at_offset() const noexcept {
    return i_ < s_.size() && (is_digit(s_[i_]) || s_[i_] == '+' || s_[i_] == '-');
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

/// Parses a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" (offsets are west-positive in
/// the text and stored east-positive). False when malformed.
inline bool parse_posix_tz(std::string_view s, posix_tz_rule& out) noexcept {
  posix_reader r(s);
  posix_tz_rule rule;
  std::int32_t west = 0;
  if (!r.name() || !r.hms(west, 24)) return false;
  rule.std_offset = -west;
  if (r.at_end()) {
    out = rule;
    return true;
  }
  if (!r.name()) return false;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (r.at_offset()) {
    if (!r.hms(west, 24)) return false;
    rule.dst_offset = -west;
  }
  if (r.at_end()) {
    // No dates given: the customary US rules.
    rule.start.month = 3, rule.start.week = 2, rule.start.wday = 0;
    rule.end.month = 11, rule.end.week = 1, rule.end.wday = 0;
    out = rule;
    return true;
  }
  if (!r.eat(',') || !r.date(rule.start) || !r.eat(',') || !r.date(rule.end) || !r.at_end()) return false;
  out = rule;
  return true;
}

/// Local seconds (as if UTC) of the moment a rule date names in `year`.
inline std::int64_t posix_rule_local_seconds(const posix_date_rule& r, std::int64_t year) noexcept {
  std::int64_t days = 0;
  switch (r.k) {
    case posix_date_rule::kind::julian1:
      days = days_from_civil(year, 1, 1) + r.day - 1 + ((is_leap_year(year) && r.day >= 60) ? 1 : 0);
      break;
    case posix_date_rule::kind::julian0:
      days = days_from_civil(year, 1, 1) + r.day;
      break;
    case posix_date_rule::kind::month_week_day: {
      const auto m = static_cast<unsigned>(r.month);
      const std::int64_t first = days_from_civil(year, m, 1);
      const auto wd = static_cast<int>(weekday_from_days(first));
      std::int64_t d = first + (r.wday - wd + 7) % 7 + 7 * (r.week - 1);
      const std::int64_t month_end = first + days_in_month(year, m);
      while (d >= month_end) d -= 7;
      days = d;
      break;
    }
  }
  return days * 86400 + r.time;
}

inline std::int32_t posix_offset_at(const posix_tz_rule& rule, std::int64_t utc) noexcept {
  if (!rule.has_dst) return rule.std_offset;
  const std::int64_t year = civil_from_days(floor_div(utc + rule.std_offset, 86400)).year;
  const std::int64_t start = posix_rule_local_seconds(rule.start, year) - rule.std_offset;
  const std::int64_t end = posix_rule_local_seconds(rule.end, year) - rule.dst_offset;
  const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
  return dst ? rule.dst_offset : rule.std_offset;
}

inline std::int32_t tz_offset_at(const tz_table& t, std::int64_t utc) noexcept {
  if (t.transitions.empty()) return t.has_rule ? posix_offset_at(t.rule, utc) : t.initial_offset;
  if (utc < t.transitions.front()) return t.initial_offset;
  if (t.has_rule && utc >= t.transitions.back()) return posix_offset_at(t.rule, utc);
  const auto it = std::upper_bound(t.transitions.begin(), t.transitions.end(), utc);
  return t.offsets[static_cast<std::size_t>(it - t.transitions.begin()) - 1];
}

inline std::uint32_t tzif_u32(const unsigned char* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::int64_t tzif_i64(const unsigned char* p) noexcept {
  const std::uint64_t v = (std::uint64_t{tzif_u32(p)} << 32) | tzif_u32(p + 4);
  return static_cast<std::int64_t>(v);
}

/// Reads a TZif file. Returns nullptr on success, else what is wrong with it.
inline const char* parse_tzif(std::string_view bytes, tz_table& out) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  struct counts {
    std::uint64_t isut, isstd, leap, time, type, chars;
  };
  const auto read_header = [&](std::size_t at, counts& c) noexcept -> bool {
    if (n < at + 44 || b[at] != 'T' || b[at + 1] != 'Z' || b[at + 2] != 'i' || b[at + 3] != 'f') return false;
    c = counts{tzif_u32(b + at + 20), tzif_u32(b + at + 24), tzif_u32(b + at + 28),
               tzif_u32(b + at + 32), tzif_u32(b + at + 36), tzif_u32(b + at + 40)};
    return true;
  };
  counts c{};
  if (!read_header(0, c)) return "not a TZif file (bad magic or truncated header)";
  const unsigned char version = b[4];
  if (version != 0 && (version < '2' || version > '9')) return "unknown TZif version";
  std::size_t at = 44;
  int time_size = 4;
  if (version != 0) {
    const std::uint64_t v1 = c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
    if (v1 > n - at) return "TZif version 1 data block truncated";
    at += static_cast<std::size_t>(v1);
    if (!read_header(at, c)) return "TZif second header missing or truncated";
    at += 44;
    time_size = 8;
  }
  if (c.type == 0 || c.type > 256) return "TZif type count out of range";
  if ((c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type))
    return "TZif indicator counts";
  if (c.leap != 0) return "TZif data with leap seconds ('right/' zones) is not supported";
  const std::uint64_t block = c.time * static_cast<std::uint64_t>(time_size + 1) + c.type * 6 + c.chars +
                              c.leap * static_cast<std::uint64_t>(time_size + 4) + c.isstd + c.isut;
  if (block > n - at) return "TZif data block truncated";
  const unsigned char* times = b + at;
  const unsigned char* indices = times + c.time * static_cast<std::uint64_t>(time_size);
  const unsigned char* types = indices + c.time;
  std::vector<std::int32_t> type_offsets(static_cast<std::size_t>(c.type));
  for (std::size_t k = 0; k < c.type; ++k) {
    const auto off = static_cast<std::int32_t>(tzif_u32(types + 6 * k));
    if (off < -89999 || off > 93599) return "TZif offset out of range";
    if (types[6 * k + 5] >= c.chars && c.chars != 0) return "TZif designation index out of range";
    type_offsets[k] = off;
  }
  tz_table table;
  table.transitions.reserve(static_cast<std::size_t>(c.time));
  table.offsets.reserve(static_cast<std::size_t>(c.time));
  for (std::size_t k = 0; k < c.time; ++k) {
    const std::int64_t t =
        time_size == 8 ? tzif_i64(times + 8 * k)
                       : static_cast<std::int64_t>(static_cast<std::int32_t>(tzif_u32(times + 4 * k)));
    if (!table.transitions.empty() && t <= table.transitions.back()) return "TZif transitions not increasing";
    if (indices[k] >= c.type) return "TZif type index out of range";
    table.transitions.push_back(t);
    table.offsets.push_back(type_offsets[indices[k]]);
  }
  table.initial_offset = type_offsets[0];
  at += static_cast<std::size_t>(block);
  if (version != 0 && at < n) {
    if (b[at] != '\n') return "TZif footer does not start with a newline";
    const std::size_t begin = at + 1;
    std::size_t end = begin;
    while (end < n && b[end] != '\n') ++end;
    if (end >= n) return "TZif footer does not end with a newline";
    const std::string_view footer = bytes.substr(begin, end - begin);
    if (!footer.empty()) {
      if (!parse_posix_tz(footer, table.rule)) return "TZif footer holds a malformed POSIX TZ rule";
      table.has_rule = true;
    }
  }
  out = std::move(table);
  return nullptr;
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_TZIF_HPP
