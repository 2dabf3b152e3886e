#ifndef SINCEHASH_SCHEDULE_HPP
#define SINCEHASH_SCHEDULE_HPP

// When a full rescan is due: cron expressions and plain intervals. Deterministic: nothing here
// reads a clock; the caller passes "now" and the time of the last rescan.
//
// Cron dialects, told apart by the number of fields:
//   - 5 fields, Unix crontab(5): minute hour day-of-month month day-of-week. Day of week 0-7,
//     where 0 and 7 are Sunday. When both day fields are restricted (neither starts with `*` or
//     `?`) a day matches if EITHER matches (`30 4 1,15 * 5`: the 1st, the 15th and every Friday);
//     otherwise both must match (`0 0 */2 * 1`: odd days that are Mondays). `?` is accepted as
//     "any" in either day field, so Sesam's `0 0 ? * *` is daily at midnight. Seconds are 0.
//   - 6 or 7 fields, Quartz: second minute hour day-of-month month day-of-week [year 1970-2262].
//     Day of week 1-7, where 1 is Sunday. Restricting both day fields is an error (put `?` in
//     one of them); a day matches when both match.
// Both accept: `*`, `?` (day fields), values, ranges `a-b`, steps `*/s`, `a/s` (from a to the
// top), `a-b/s`, lists, names JAN-DEC and SUN-SAT; in the day-of-month field `L` (last day),
// `L-n` (n days before the last), `nW` (the weekday nearest day n within its month: a Saturday
// moves to the Friday before, a Sunday to the Monday after, never across the month's edge) and
// `LW` (last weekday); in the day-of-week field `L` (Saturday), `nL` (last day-of-week n of the
// month) and `n#k` (k-th day-of-week n of the month). Names, `L` and `W` in any case. Macros:
// `@yearly`, `@annually` (Jan 1 00:00), `@monthly`, `@weekly` (Sunday 00:00), `@daily`,
// `@midnight`, `@hourly`.
//
// Time zones: an expression is matched against the wall clock of the zone passed to `next_after`
// (UTC by default), and fires at most once per matching wall-clock time:
//   - a wall-clock time skipped by a forward jump (a daylight-saving gap, 02:30 when 02:00 jumps
//     to 03:00) fires at the first instant after the jump (03:00 new time), once however many
//     skipped times match;
//   - a wall-clock time that occurs twice (a fall-back overlap, 02:30 when 03:00 falls back to
//     02:00) fires once, at its first occurrence; during the repeated stretch nothing fires, so a
//     job running every minute pauses for the length of the overlap.
// Firing times are therefore non-decreasing in wall-clock order and never repeat.

#include <bitset>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sincehash/detail/time_civil.hpp"
#include "sincehash/error.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

/// A parsed cron expression (see the top of this header for the dialects and for daylight-saving
/// behaviour). Immutable after parsing; copies are independent; safe for concurrent `next_after`.
class cron_schedule {
 public:
  /// Parses `expr`. Errors are `errc::parse_error` with a message naming the field
  /// ("cron day-of-week field: ...") and the byte position in `expr` of the offending text.
  [[nodiscard]] static result<cron_schedule> parse(std::string_view expr) noexcept {
    try {
      return parse_impl(expr);
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_range, "cron expression: out of memory");
    }
  }

  /// The first firing strictly after `t`, matched on the wall clock of `zone` and returned as a
  /// UTC instant with whole seconds; nullopt when the expression never fires again (a year list
  /// in the past, February 30, ...). Searches no further than the end of the range of `instant`
  /// (2262-04-11), so an impossible expression returns quickly. Reads no clock.
  [[nodiscard]] std::optional<instant> next_after(instant t, const time_zone& zone = time_zone::utc()) const {
    const std::int64_t t_sec = detail::floor_div(t.time_since_epoch().count(), 1000000000);
    if (t_sec >= max_seconds) return std::nullopt;
    // The first wall-clock second whose firing would fall after t. Normally the second after t's
    // own wall-clock time; when t lies in the second pass of a repeated stretch, the end of it.
    std::int64_t from = t_sec + offset_at(zone, t_sec) + 1;
    if (to_utc(from, zone) <= t_sec) {
      std::int64_t lo = from;
      std::int64_t hi = from + overlap_search_span;
      if (to_utc(hi, zone) > t_sec) {
        while (hi - lo > 1) {
          const std::int64_t mid = lo + (hi - lo) / 2;
          (to_utc(mid, zone) > t_sec ? hi : lo) = mid;
        }
      }
      from = hi;
    }
    // The mapping is non-decreasing, so the first local match is the first firing; the loop only
    // guards against a zone whose offsets break that.
    for (int guard = 0; guard < 4; ++guard) {
      const auto local = next_local(from);
      if (!local) return std::nullopt;
      const std::int64_t utc = to_utc(*local, zone);
      if (utc > max_seconds) return std::nullopt;
      if (utc > t_sec) return instant(std::chrono::seconds(utc));
      from = *local + 1;
    }
    return std::nullopt;
  }

  /// The expression as written.
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

  /// True for the Quartz dialect (6 or 7 fields), false for Unix crontab (5 fields or a macro).
  [[nodiscard]] bool is_quartz() const noexcept { return quartz_; }

 private:
  static constexpr std::int64_t max_seconds = 9223372036LL;  // instant's range, in seconds
  static constexpr std::int64_t overlap_search_span = 2 * 86400;
  static constexpr int min_year = 1970;
  static constexpr int max_year = 2262;
  static constexpr std::size_t year_count = static_cast<std::size_t>(max_year - min_year + 1);

  cron_schedule() = default;

  std::string text_;
  bool quartz_ = false;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> dom_;     // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> dow_;      // 0 = Sunday
  std::bitset<year_count> years_;
  bool any_year_ = true;
  bool dom_any_ = true, dow_any_ = true;      // the field is `*` or `?`
  bool either_day_ = false;                   // Unix, both day fields restricted: OR
  bool dom_last_ = false;                     // L
  std::vector<int> dom_last_offsets_;         // L-n
  std::vector<int> dom_nearest_weekday_;      // nW
  bool dom_last_weekday_ = false;             // LW
  std::vector<int> dow_last_;                 // nL (0 = Sunday)
  std::vector<std::pair<int, int>> dow_nth_;  // n#k (0 = Sunday, k)

  static std::int64_t offset_at(const time_zone& zone, std::int64_t utc_seconds) {
    if (utc_seconds > max_seconds) utc_seconds = max_seconds;
    if (utc_seconds < -max_seconds) utc_seconds = -max_seconds;
    return zone.offset_at(instant(std::chrono::seconds(utc_seconds))).count();
  }

  // UTC seconds of the wall-clock second `local` (seconds since 1970 as if UTC): a time that
  // occurs twice maps to its first occurrence, a skipped time to the first instant after the
  // jump. Non-decreasing in `local` for zones whose transitions are more than a day apart.
  static std::int64_t to_utc(std::int64_t local, const time_zone& zone) {
    const instant mapped = zone.local_to_utc(local);
    if (mapped == instant::max()) return max_seconds + 1;  // saturated: beyond the range
    if (mapped == instant::min()) return -max_seconds - 1;
    const std::int64_t u = detail::floor_div(mapped.time_since_epoch().count(), 1000000000);
    const std::int64_t after = offset_at(zone, u);
    if (u + after == local) return u;
    // Skipped: `u` used the offset before the jump. The jump happened in (local - after, u].
    const std::int64_t before = local - u;
    if (after <= before) return u;
    std::int64_t lo = local - after;
    std::int64_t hi = u;
    while (hi - lo > 1) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      (mid + offset_at(zone, mid) >= local ? hi : lo) = mid;
    }
    return hi;
  }

  [[noreturn]] static void bad(const char* field, const std::string& why, std::size_t pos) {
    throw error(errc::parse_error, std::string("cron ") + field + " field: " + why, pos);
  }

  static bool starts_any(std::string_view field) {
    return !field.empty() && (field[0] == '*' || field[0] == '?');
  }

  static result<cron_schedule> parse_impl(std::string_view expr) {
    std::size_t first = 0;
    while (first < expr.size() && std::isspace(static_cast<unsigned char>(expr[first]))) ++first;
    std::size_t last = expr.size();
    while (last > first && std::isspace(static_cast<unsigned char>(expr[last - 1]))) --last;
    const std::string_view trimmed = expr.substr(first, last - first);
    // Case-folded copy: byte positions stay those of `expr`.
    std::string upper(expr);
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!trimmed.empty() && trimmed.front() == '@') {
      struct macro {
        std::string_view name, value;
      };
      static constexpr macro macros[] = {{"@YEARLY", "0 0 1 1 *"},  {"@ANNUALLY", "0 0 1 1 *"},
                                         {"@MONTHLY", "0 0 1 * *"}, {"@WEEKLY", "0 0 * * 0"},
                                         {"@DAILY", "0 0 * * *"},   {"@MIDNIGHT", "0 0 * * *"},
                                         {"@HOURLY", "0 * * * *"}};
      const std::string_view name = std::string_view(upper).substr(first, last - first);
      for (const auto& m : macros) {
        if (m.name == name) {
          auto r = parse_impl(m.value);
          if (r) r->text_ = std::string(expr);
          return r;
        }
      }
      return fail(errc::parse_error,
                  "unknown cron macro \"" + std::string(trimmed) +
                      "\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)",
                  first);
    }
    std::vector<std::pair<std::string_view, std::size_t>> fields;
    const std::string_view text(upper);
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      const std::size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i > start) fields.emplace_back(text.substr(start, i - start), start);
    }
    if (fields.size() != 5 && fields.size() != 6 && fields.size() != 7) {
      return fail(errc::parse_error,
                  "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6-7 "
                  "(Quartz: second first, optional year last); this one has " +
                      std::to_string(fields.size()),
                  fields.size() > 7 ? fields[7].second : first);
    }
    cron_schedule c;
    c.text_ = std::string(expr);
    c.quartz_ = fields.size() != 5;
    try {
      std::size_t k = 0;
      if (c.quartz_) {
        c.parse_plain(fields[k].first, fields[k].second, "second", 0, 59, c.seconds_);
        ++k;
      } else {
        c.seconds_.set(0);
      }
      c.parse_plain(fields[k].first, fields[k].second, "minute", 0, 59, c.minutes_);
      ++k;
      c.parse_plain(fields[k].first, fields[k].second, "hour", 0, 23, c.hours_);
      ++k;
      const std::size_t dom_field = k;
      c.parse_dom(fields[k].first, fields[k].second);
      ++k;
      c.parse_plain(fields[k].first, fields[k].second, "month", 1, 12, c.months_, 0, 1);
      ++k;
      const std::size_t dow_field = k;
      c.parse_dow(fields[k].first, fields[k].second);
      ++k;
      if (k < fields.size() && fields[k].first != "*" && fields[k].first != "?") {
        c.parse_plain(fields[k].first, fields[k].second, "year", min_year, max_year, c.years_, min_year);
        c.any_year_ = false;
      }
      if (c.quartz_ && !c.dom_any_ && !c.dow_any_) {
        bad("day-of-week",
            "Quartz expressions restrict only one of day-of-month and day-of-week: put '?' in the other",
            fields[dow_field].second);
      }
      c.either_day_ =
          !c.quartz_ && !starts_any(fields[dom_field].first) && !starts_any(fields[dow_field].first);
    } catch (const error& e) {
      return e.info();
    }
    return c;
  }

  // Names are upper case here (the expression is case-folded). Days count 0 = Sunday.
  static int name_value(std::string_view s, bool month) {
    static constexpr std::string_view months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    static constexpr std::string_view days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    if (month) {
      for (int i = 0; i < 12; ++i)
        if (months[i] == s) return i + 1;
    } else {
      for (int i = 0; i < 7; ++i)
        if (days[i] == s) return i;
    }
    return -1;
  }

  // Calls f(item, byte position of item) for each element of a comma list.
  template <class F>
  static void for_each_item(std::string_view text, std::size_t pos, const char* field, F&& f) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t comma = text.find(',', start);
      if (comma == std::string_view::npos) comma = text.size();
      const std::string_view item = text.substr(start, comma - start);
      if (item.empty()) bad(field, "an empty list element", pos + start);
      f(item, pos + start);
      start = comma + 1;
    }
  }

  // One value: digits or (month, day-of-week) a name. `name_kind`: 0 none, 1 month, 2 day of
  // week (plus `dow_shift`, which maps Sunday = 0 to the dialect's numbering).
  static int value(std::string_view s, std::size_t pos, const char* field, int lo, int hi, int name_kind = 0,
                   int dow_shift = 0) {
    if (s.empty()) bad(field, "a value is missing", pos);
    int v = 0;
    if (std::isdigit(static_cast<unsigned char>(s[0]))) {
      if (s.size() > 4) bad(field, "value \"" + std::string(s) + "\" is out of range", pos);
      for (char ch : s) {
        if (!std::isdigit(static_cast<unsigned char>(ch)))
          bad(field, "\"" + std::string(s) + "\" is not a number", pos);
        v = v * 10 + (ch - '0');
      }
    } else if (name_kind != 0) {
      v = name_value(s, name_kind == 1);
      if (v < 0) bad(field, "unknown name \"" + std::string(s) + "\"", pos);
      if (name_kind == 2) v += dow_shift;
    } else {
      bad(field, "\"" + std::string(s) + "\" is not a number", pos);
    }
    if (v < lo || v > hi) {
      bad(field,
          "value " + std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi),
          pos);
    }
    return v;
  }

  // A comma list of `*`, `a`, `a-b`, each with an optional `/step`, into `bits` (bit v - base).
  template <std::size_t N>
  static void parse_plain(std::string_view text, std::size_t pos, const char* field, int lo, int hi,
                          std::bitset<N>& bits, int base = 0, int name_kind = 0, int dow_shift = 0) {
    for_each_item(text, pos, field, [&](std::string_view item, std::size_t ipos) {
      std::string_view range = item;
      int step = 1;
      const std::size_t slash = item.find('/');
      if (slash != std::string_view::npos) {
        range = item.substr(0, slash);
        step = value(item.substr(slash + 1), ipos + slash + 1, field, 1, hi - lo + 1);
      }
      int a = lo, b = hi;
      if (range == "*" || range == "?") {
        if (range == "?" && std::string_view(field) != "day-of-month" &&
            std::string_view(field) != "day-of-week") {
          bad(field, "'?' is allowed only in the day-of-month and day-of-week fields", ipos);
        }
      } else if (const std::size_t dash = range.find('-'); dash != std::string_view::npos) {
        a = value(range.substr(0, dash), ipos, field, lo, hi, name_kind, dow_shift);
        b = value(range.substr(dash + 1), ipos + dash + 1, field, lo, hi, name_kind, dow_shift);
        if (b < a) bad(field, "range " + std::string(range) + " runs backwards", ipos);
      } else {
        a = value(range, ipos, field, lo, hi, name_kind, dow_shift);
        b = slash != std::string_view::npos ? hi : a;  // `5/15`: from 5 every 15
      }
      for (int v = a; v <= b; v += step) bits.set(static_cast<std::size_t>(v - base));
    });
  }

  void parse_dom(std::string_view text, std::size_t pos) {
    const char* field = "day-of-month";
    if (text == "*" || text == "?") return;
    dom_any_ = false;
    for_each_item(text, pos, field, [&](std::string_view item, std::size_t ipos) {
      if (item == "L") {
        dom_last_ = true;
      } else if (item == "LW") {
        dom_last_weekday_ = true;
      } else if (item.size() > 2 && item[0] == 'L' && item[1] == '-') {
        dom_last_offsets_.push_back(value(item.substr(2), ipos + 2, field, 1, 30));
      } else if (item.size() > 1 && item.back() == 'W') {
        dom_nearest_weekday_.push_back(value(item.substr(0, item.size() - 1), ipos, field, 1, 31));
      } else {
        parse_plain(item, ipos, field, 1, 31, dom_);
      }
    });
  }

  void parse_dow(std::string_view text, std::size_t pos) {
    const char* field = "day-of-week";
    if (text == "*" || text == "?") return;
    dow_any_ = false;
    const int lo = quartz_ ? 1 : 0;
    const int hi = 7;
    const int shift = quartz_ ? 1 : 0;  // names count Sunday = 0; Quartz numbers Sunday = 1
    const bool quartz = quartz_;
    auto to_sunday0 = [quartz](int v) { return quartz ? v - 1 : v % 7; };
    for_each_item(text, pos, field, [&](std::string_view item, std::size_t ipos) {
      if (item == "L") {
        dow_.set(6);  // `L` alone is the last day of the week, Saturday
      } else if (item.size() > 1 && item.back() == 'L') {
        dow_last_.push_back(
            to_sunday0(value(item.substr(0, item.size() - 1), ipos, field, lo, hi, 2, shift)));
      } else if (const std::size_t hash = item.find('#'); hash != std::string_view::npos) {
        const int d = to_sunday0(value(item.substr(0, hash), ipos, field, lo, hi, 2, shift));
        const int k = value(item.substr(hash + 1), ipos + hash + 1, field, 1, 5);
        dow_nth_.emplace_back(d, k);
      } else {
        std::bitset<8> raw;
        parse_plain(item, ipos, field, lo, hi, raw, 0, 2, shift);
        for (int v = lo; v <= hi; ++v)
          if (raw[static_cast<std::size_t>(v)]) dow_.set(static_cast<std::size_t>(to_sunday0(v)));
      }
    });
  }

  // `days` is the day number of y-m-d (0 = 1970-01-01).
  bool day_matches(std::int64_t y, unsigned m, unsigned d, std::int64_t days) const noexcept {
    const int last = static_cast<int>(detail::days_in_month(y, m));
    const int day = static_cast<int>(d);
    const std::int64_t first_of_month = days - day + 1;
    auto weekday_of = [&](int n) {
      return static_cast<int>(detail::weekday_from_days(first_of_month + n - 1));
    };

    bool dom = dom_any_ || dom_[d] || (dom_last_ && day == last);
    for (int off : dom_last_offsets_) dom = dom || last - off == day;
    for (int n : dom_nearest_weekday_) {
      if (dom || n > last) continue;
      const int wd = weekday_of(n);
      int target = n;
      if (wd == 6) target = n == 1 ? n + 2 : n - 1;     // Saturday
      if (wd == 0) target = n == last ? n - 2 : n + 1;  // Sunday
      dom = target == day;
    }
    if (dom_last_weekday_ && !dom) {
      const int wd = weekday_of(last);
      dom = day == (wd == 6 ? last - 1 : wd == 0 ? last - 2 : last);
    }

    const int w = static_cast<int>(detail::weekday_from_days(days));
    bool dow = dow_any_ || dow_[static_cast<std::size_t>(w)];
    for (int n : dow_last_) dow = dow || (w == n && day + 7 > last);
    for (const auto& [n, k] : dow_nth_) dow = dow || (w == n && (day - 1) / 7 + 1 == k);

    return either_day_ ? (dom || dow) : (dom && dow);
  }

  // The first matching wall-clock second at or after `from` (seconds since 1970 as if UTC).
  std::optional<std::int64_t> next_local(std::int64_t from) const {
    std::int64_t day = detail::floor_div(from, 86400);
    std::int64_t sod = from - day * 86400;
    const detail::civil_date start = detail::civil_from_days(day);
    std::int64_t y = start.year;
    unsigned m = start.month, d = start.day;
    auto next_month = [&] {
      sod = 0;
      d = 1;
      if (++m > 12) {
        m = 1;
        ++y;
      }
      day = detail::days_from_civil(y, m, 1);
    };
    while (y <= max_year) {
      const bool year_ok = any_year_ || (y >= min_year && years_[static_cast<std::size_t>(y - min_year)]);
      if (!year_ok) {
        m = 12;
        next_month();
        continue;
      }
      if (!months_[m]) {
        next_month();
        continue;
      }
      if (day_matches(y, m, d, day)) {
        const int h0 = static_cast<int>(sod / 3600);
        const int m0 = static_cast<int>(sod / 60 % 60);
        const int s0 = static_cast<int>(sod % 60);
        for (int h = h0; h < 24; ++h) {
          if (!hours_[static_cast<std::size_t>(h)]) continue;
          for (int mi = h == h0 ? m0 : 0; mi < 60; ++mi) {
            if (!minutes_[static_cast<std::size_t>(mi)]) continue;
            for (int s = (h == h0 && mi == m0) ? s0 : 0; s < 60; ++s) {
              if (seconds_[static_cast<std::size_t>(s)]) return day * 86400 + h * 3600 + mi * 60 + s;
            }
          }
        }
      }
      sod = 0;
      ++day;
      if (++d > detail::days_in_month(y, m)) next_month();
    }
    return std::nullopt;
  }
};

/// A fixed period between rescans.
class interval_schedule {
 public:
  /// A period; it must be positive (`errc::invalid_argument` otherwise).
  [[nodiscard]] static result<interval_schedule> every(std::chrono::nanoseconds period) noexcept {
    if (period <= std::chrono::nanoseconds::zero()) {
      return fail(errc::invalid_argument, "an interval schedule needs a positive period");
    }
    return interval_schedule(period);
  }

  /// A period written as `parse_duration` reads it: ISO 8601 ("PT6H", "P1D") or whole seconds
  /// ("86400"). Errors carry `parse_duration`'s code and position; a zero period is
  /// `errc::invalid_argument`.
  [[nodiscard]] static result<interval_schedule> parse(std::string_view text) noexcept {
    auto d = parse_duration(text);
    if (!d) return d.error();
    return every(*d);
  }

  /// `t` plus the period; nullopt when that lies beyond the range of `instant`.
  [[nodiscard]] std::optional<instant> next_after(instant t) const noexcept {
    if (t > instant::max() - period_) return std::nullopt;
    return t + period_;
  }

  /// The period (positive).
  [[nodiscard]] std::chrono::nanoseconds period() const noexcept { return period_; }

 private:
  explicit interval_schedule(std::chrono::nanoseconds period) noexcept : period_(period) {}

  std::chrono::nanoseconds period_;
};

/// When a full rescan is due: a cron expression or an interval, read from a configuration string
/// ("0 0 ? * *", "@daily", "0 0 3 ? * SUN", "PT6H", "P1D", "86400"). Immutable; safe for
/// concurrent use.
class rescan_schedule {
 public:
  /// A duration when `text` (blanks around it ignored) is all digits or one word starting with
  /// 'P' (any case); otherwise a cron expression. Errors name what is wrong and where.
  [[nodiscard]] static result<rescan_schedule> parse(std::string_view text) noexcept {
    std::size_t first = 0;
    while (first < text.size() && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
    std::size_t last = text.size();
    while (last > first && std::isspace(static_cast<unsigned char>(text[last - 1]))) --last;
    const std::string_view t = text.substr(first, last - first);
    const bool digits = !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
    const bool iso = !t.empty() && (t.front() == 'P' || t.front() == 'p') &&
                     t.find_first_of(" \t\r\n") == std::string_view::npos;
    if (digits || iso) {
      auto i = interval_schedule::parse(t);
      if (!i) {
        error_info e = i.error();
        if (e.position != no_position) e.position += first;
        return e;
      }
      return rescan_schedule(*i);
    }
    auto c = cron_schedule::parse(text);
    if (!c) return c.error();
    return rescan_schedule(std::move(*c));
  }

  /// The first rescan time strictly after `t`: a cron schedule matched on the wall clock of
  /// `zone`, an interval `t` plus its period (`zone` unused). nullopt: never again.
  [[nodiscard]] std::optional<instant> next_after(instant t, const time_zone& zone = time_zone::utc()) const {
    if (const auto* c = std::get_if<cron_schedule>(&schedule_)) return c->next_after(t, zone);
    return std::get<interval_schedule>(schedule_).next_after(t);
  }

  /// True when a rescan is due at `now`: never rescanned (`last_rescan` empty), or the first
  /// scheduled time after the last rescan is at or before `now`. A rescan that was missed several
  /// times is due once, not once per missed time.
  [[nodiscard]] bool due(std::optional<instant> last_rescan, instant now,
                         const time_zone& zone = time_zone::utc()) const {
    if (!last_rescan) return true;
    const auto next = next_after(*last_rescan, zone);
    return next && *next <= now;
  }

  /// True for a cron schedule, false for an interval.
  [[nodiscard]] bool is_cron() const noexcept { return std::holds_alternative<cron_schedule>(schedule_); }

  /// The cron schedule, or null for an interval.
  [[nodiscard]] const cron_schedule* cron() const noexcept { return std::get_if<cron_schedule>(&schedule_); }

  /// The interval schedule, or null for a cron expression.
  [[nodiscard]] const interval_schedule* interval() const noexcept {
    return std::get_if<interval_schedule>(&schedule_);
  }

 private:
  explicit rescan_schedule(interval_schedule s) : schedule_(s) {}
  explicit rescan_schedule(cron_schedule s) : schedule_(std::move(s)) {}

  std::variant<interval_schedule, cron_schedule> schedule_;
};

}  // namespace sincehash

#endif  // SINCEHASH_SCHEDULE_HPP
