#ifndef SINCEHASH_SCHEDULE_HPP
#define SINCEHASH_SCHEDULE_HPP

// When a full rescan is due: cron expressions and plain intervals. Deterministic: nothing here
// reads a clock; the caller passes "now" and the time of the last rescan.
//
// Cron dialects, told apart by the number of fields:
//   - 5 fields, Unix crontab: minute hour day-of-month month day-of-week. Day of week 0–7, where
//     0 and 7 are Sunday. When both day fields are restricted a day matches if EITHER matches
//     (crontab(5)); `?` is accepted as "any" in either day field, so Sesam's `0 0 ? * *` is daily
//     at midnight.
//   - 6 or 7 fields, Quartz: second minute hour day-of-month month day-of-week [year]. Day of
//     week 1–7, where 1 is Sunday. Restricting both day fields is an error (one must be `?`).
// Both accept: `*`, `?` (day fields), values, ranges `a-b`, steps `*/s`, `a/s`, `a-b/s`, lists,
// names JAN–DEC and SUN–SAT (any case), and in the day fields `L` (last day of month), `L-n`
// (n days before the last), `nW` (weekday nearest day n, within the month), `LW` (last weekday),
// `nL` (last day-of-week n of the month), `n#k` (k-th day-of-week n). Macros: `@yearly`,
// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//
// Time zones: an expression is matched against the wall clock of the zone passed to `next_after`
// (UTC by default). A wall-clock time that does not exist (inside a daylight-saving gap) fires
// at the instant the zone maps it to with the offset in force before the gap, i.e. shifted
// forward by the gap's length (02:30 in a one-hour spring-forward gap fires at 03:30). A
// wall-clock time that occurs twice (a fall-back overlap) fires once, at its first occurrence.

#include <array>
#include <bitset>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

/// A parsed cron expression (see the top of this header for the dialects). Immutable; cheap to
/// copy; thread-safe for concurrent use.
class cron_schedule {
 public:
  /// Parses `expr`. Errors (`errc::parse_error`) name the field and carry the byte position.
  [[nodiscard]] static result<cron_schedule> parse(std::string_view expr) noexcept {
    try {
      return parse_impl(expr);
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_range, "cron expression: out of memory");
    }
  }

  /// The first firing strictly after `t`, matched on the wall clock of `zone`; nullopt when the
  /// expression never fires again (a year list in the past, February 30, ...). Searches at most
  /// until the year 2261 (the end of `instant`'s range).
  [[nodiscard]] std::optional<instant> next_after(instant t, const time_zone& zone = time_zone::utc()) const {
    using namespace std::chrono;
    const std::int64_t t_sec = floor<seconds>(t.time_since_epoch()).count();
    std::int64_t from = zone.offset_at_seconds(t_sec) + t_sec + 1;  // local wall-clock seconds
    for (int guard = 0; guard < 8; ++guard) {
      auto local = next_local(from);
      if (!local) return std::nullopt;
      const std::int64_t utc = zone.local_to_utc_seconds(*local);
      if (utc > t_sec) {
        if (utc >= max_seconds) return std::nullopt;
        return instant(seconds(utc));
      }
      from = *local + 1;  // an overlap mapped it to or before t: look further
    }
    return std::nullopt;
  }

  /// The expression as written.
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  static constexpr std::int64_t max_seconds = 9223372036LL;  // instant's range, in seconds
  static constexpr int max_year = 2261;

  enum field_id { f_second, f_minute, f_hour, f_dom, f_month, f_dow, f_year, field_count };

  std::string text_;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> dom_;      // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> dow_;       // 0 = Sunday
  std::vector<bool> years_;  // index year - 1970, empty = any
  bool dom_any_ = true, dow_any_ = true;
  bool dom_last_ = false;                     // L
  std::vector<int> dom_last_offsets_;         // L-n
  std::vector<int> dom_nearest_weekday_;      // nW
  bool dom_last_weekday_ = false;             // LW
  std::vector<int> dow_last_;                 // nL (0 = Sunday)
  std::vector<std::pair<int, int>> dow_nth_;  // n#k

  struct parse_state {
    std::string_view expr;
    bool quartz = false;
  };

  [[noreturn]] static void bad(const char* field, const std::string& why, std::size_t pos) {
    throw error(errc::parse_error, std::string("cron ") + field + " field: " + why, pos);
  }

  static result<cron_schedule> parse_impl(std::string_view expr) {
    std::string_view trimmed = expr;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
      trimmed.remove_prefix(1);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
      trimmed.remove_suffix(1);
    struct macro {
      std::string_view name, value;
    };
    static constexpr macro macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                                       {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                                       {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                                       {"@hourly", "0 * * * *"}};
    if (!trimmed.empty() && trimmed.front() == '@') {
      for (const auto& m : macros) {
        if (m.name.size() == trimmed.size() &&
            std::equal(m.name.begin(), m.name.end(), trimmed.begin(), [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a)) ==
                     std::tolower(static_cast<unsigned char>(b));
            })) {
          auto r = parse_impl(m.value);
          if (r) r->text_ = std::string(expr);
          return r;
        }
      }
      return fail(errc::parse_error,
                  "unknown cron macro \"" + std::string(trimmed) +
                      "\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)",
                  static_cast<std::size_t>(trimmed.data() - expr.data()));
    }
    // Split into fields, remembering where each starts.
    std::vector<std::pair<std::string_view, std::size_t>> fields;
    std::size_t i = 0;
    while (i < expr.size()) {
      while (i < expr.size() && std::isspace(static_cast<unsigned char>(expr[i]))) ++i;
      const std::size_t start = i;
      while (i < expr.size() && !std::isspace(static_cast<unsigned char>(expr[i]))) ++i;
      if (i > start) fields.emplace_back(expr.substr(start, i - start), start);
    }
    if (fields.size() != 5 && fields.size() != 6 && fields.size() != 7) {
      return fail(errc::parse_error,
                  "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6–7 "
                  "(Quartz: second first, optional year last); this one has " +
                      std::to_string(fields.size()),
                  0);
    }
    cron_schedule c;
    c.text_ = std::string(expr);
    const bool quartz = fields.size() != 5;
    try {
      std::size_t k = 0;
      if (quartz) {
        c.parse_plain(fields[k].first, fields[k].second, "second", 0, 59, c.seconds_);
        ++k;
      } else {
        c.seconds_.set(0);
      }
      c.parse_plain(fields[k].first, fields[k].second, "minute", 0, 59, c.minutes_);
      ++k;
      c.parse_plain(fields[k].first, fields[k].second, "hour", 0, 23, c.hours_);
      ++k;
      c.parse_dom(fields[k].first, fields[k].second);
      ++k;
      c.parse_plain(fields[k].first, fields[k].second, "month", 1, 12, c.months_, 0, 1);
      ++k;
      c.parse_dow(fields[k].first, fields[k].second, quartz);
      ++k;
      if (k < fields.size()) {
        std::bitset<292> years;  // 1970..2261
        c.parse_plain(fields[k].first, fields[k].second, "year", 1970, 2261, years, 1970);
        if (fields[k].first != "*" && fields[k].first != "?") {
          c.years_.assign(292, false);
          for (std::size_t y = 0; y < 292; ++y) c.years_[y] = years[y];
        }
      }
      if (quartz && !c.dom_any_ && !c.dow_any_) {
        bad("day-of-week",
            "Quartz expressions restrict only one of day-of-month and day-of-week: use '?' in the other",
            fields[quartz ? 5 : 4].second);
      }
    } catch (const error& e) {
      return e.info();
    }
    return c;
  }

  static int name_value(std::string_view s, bool month) {
    static constexpr std::string_view months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    static constexpr std::string_view days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    if (s.size() != 3) return -1;
    std::string up;
    for (char ch : s) up.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
    if (month) {
      for (int i = 0; i < 12; ++i)
        if (months[i] == up) return i + 1;
    } else {
      for (int i = 0; i < 7; ++i)
        if (days[i] == up) return i;  // 0 = Sunday; callers shift for Quartz
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

  // One value: digits or (for month/dow) a name. `name_kind`: 0 none, 1 month, 2 dow.
  static int value(std::string_view s, std::size_t pos, const char* field, int lo, int hi, int name_kind,
                   int dow_shift) {
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
          "value " + std::to_string(v) + " is outside " + std::to_string(lo) + "–" + std::to_string(hi), pos);
    }
    return v;
  }

  // A comma list of *, a, a-b, with optional /step, into `bits` (bit = value - base).
  template <std::size_t N>
  void parse_plain(std::string_view text, std::size_t pos, const char* field, int lo, int hi,
                   std::bitset<N>& bits, int base = 0, int name_kind = 0, int dow_shift = 0) {
    for_each_item(text, pos, field, [&](std::string_view item, std::size_t ipos) {
      std::string_view range = item;
      int step = 1;
      if (auto slash = item.find('/'); slash != std::string_view::npos) {
        range = item.substr(0, slash);
        step = value(item.substr(slash + 1), ipos + slash + 1, field, 1, hi - lo + 1 > 0 ? hi - lo + 1 : 1, 0,
                     0);
      }
      int a = lo, b = hi;
      if (range == "*" || range == "?") {
        if (range == "?" && std::string_view(field) != "day-of-month" &&
            std::string_view(field) != "day-of-week") {
          bad(field, "'?' is allowed only in the day-of-month and day-of-week fields", ipos);
        }
      } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
        a = value(range.substr(0, dash), ipos, field, lo, hi, name_kind, dow_shift);
        b = value(range.substr(dash + 1), ipos + dash + 1, field, lo, hi, name_kind, dow_shift);
        if (b < a) bad(field, "range " + std::string(range) + " runs backwards", ipos);
      } else {
        a = value(range, ipos, field, lo, hi, name_kind, dow_shift);
        b = item.find('/') != std::string_view::npos ? hi : a;  // `5/15`: from 5 every 15
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
        dom_last_offsets_.push_back(value(item.substr(2), ipos + 2, field, 1, 30, 0, 0));
      } else if (item.size() > 1 && item.back() == 'W') {
        dom_nearest_weekday_.push_back(value(item.substr(0, item.size() - 1), ipos, field, 1, 31, 0, 0));
      } else {
        parse_plain(item, ipos, field, 1, 31, dom_);
      }
    });
  }

  void parse_dow(std::string_view text, std::size_t pos, bool quartz) {
    const char* field = "day-of-week";
    if (text == "*" || text == "?") return;
    dow_any_ = false;
    const int lo = quartz ? 1 : 0, hi = quartz ? 7 : 7;
    const int shift = quartz ? 1 : 0;  // names are 0-based Sunday; Quartz numbers 1-based
    auto to_sunday0 = [quartz](int v) { return quartz ? v - 1 : v % 7; };
    for_each_item(text, pos, field, [&](std::string_view item, std::size_t ipos) {
      if (item == "L") {
        dow_.set(6);  // Quartz: L alone is the last day of the week, Saturday
      } else if (item.size() > 1 && item.back() == 'L') {
        dow_last_.push_back(
            to_sunday0(value(item.substr(0, item.size() - 1), ipos, field, lo, hi, 2, shift)));
      } else if (auto hash = item.find('#'); hash != std::string_view::npos) {
        const int d = to_sunday0(value(item.substr(0, hash), ipos, field, lo, hi, 2, shift));
        const int k = value(item.substr(hash + 1), ipos + hash + 1, field, 1, 5, 0, 0);
        dow_nth_.emplace_back(d, k);
      } else {
        std::bitset<8> raw;
        parse_plain(item, ipos, field, lo, hi, raw, 0, 2, shift);
        for (int v = lo; v <= hi; ++v)
          if (raw[static_cast<std::size_t>(v)]) dow_.set(static_cast<std::size_t>(to_sunday0(v)));
      }
    });
  }

  bool day_matches(std::int64_t y, unsigned m, unsigned d, std::int64_t days) const noexcept {
    const unsigned last = detail::days_in_month(y, m);
    bool dom = dom_[d];
    if (dom_last_ && d == last) dom = true;
    for (int off : dom_last_offsets_)
      if (static_cast<int>(last) - off == static_cast<int>(d)) dom = true;
    const unsigned w = detail::weekday_from_days(days);
    auto nearest_weekday = [&](int n) -> int {
      if (n > static_cast<int>(last)) return -1;
      const auto wd = detail::weekday_from_days(days - static_cast<int>(d) + n);
      if (wd == 6) return n == 1 ? n + 2 : n - 1;                       // Saturday
      if (wd == 0) return n == static_cast<int>(last) ? n - 2 : n + 1;  // Sunday
      return n;
    };
    for (int n : dom_nearest_weekday_)
      if (nearest_weekday(n) == static_cast<int>(d)) dom = true;
    if (dom_last_weekday_) {
      const unsigned lw = detail::weekday_from_days(days - d + last);
      const unsigned last_weekday = lw == 6 ? last - 1 : lw == 0 ? last - 2 : last;
      if (d == last_weekday) dom = true;
    }
    bool dow = dow_[w];
    for (int n : dow_last_)
      if (static_cast<int>(w) == n && d + 7 > last) dow = true;
    for (const auto& [n, k] : dow_nth_)
      if (static_cast<int>(w) == n && static_cast<int>((d - 1) / 7 + 1) == k) dow = true;
    if (dom_any_ && dow_any_) return true;
    if (dom_any_) return dow;
    if (dow_any_) return dom;
    return dom || dow;  // Unix: either
  }

  // The first matching local wall-clock second at or after `from`.
  std::optional<std::int64_t> next_local(std::int64_t from) const {
    std::int64_t day = from >= 0 ? from / 86400 : (from - 86399) / 86400;
    std::int64_t sod = from - day * 86400;
    const detail::civil_date start = detail::civil_from_days(day);
    std::int64_t y = start.year;
    unsigned m = start.month, d = start.day;
    for (; y <= max_year;) {
      const bool year_ok = years_.empty() || (y >= 1970 && years_[static_cast<std::size_t>(y - 1970)]);
      if (!year_ok || !months_[m]) {
        // next month
        sod = 0;
        d = 1;
        if (++m > 12) {
          m = 1;
          ++y;
        }
        day = detail::days_from_civil(y, m, 1);
        continue;
      }
      if (day_matches(y, m, d, day)) {
        for (int h = static_cast<int>(sod / 3600); h < 24; ++h) {
          if (!hours_[static_cast<std::size_t>(h)]) continue;
          const int min_from = h == sod / 3600 ? static_cast<int>(sod / 60 % 60) : 0;
          for (int mi = min_from; mi < 60; ++mi) {
            if (!minutes_[static_cast<std::size_t>(mi)]) continue;
            const int s_from = (h == sod / 3600 && mi == sod / 60 % 60) ? static_cast<int>(sod % 60) : 0;
            for (int s = s_from; s < 60; ++s) {
              if (seconds_[static_cast<std::size_t>(s)]) return day * 86400 + h * 3600 + mi * 60 + s;
            }
          }
        }
      }
      sod = 0;
      ++day;
      if (++d > detail::days_in_month(y, m)) {
        d = 1;
        if (++m > 12) {
          m = 1;
          ++y;
        }
      }
    }
    return std::nullopt;
  }
};

/// A fixed period between rescans.
class interval_schedule {
 public:
  /// A period; must be positive (`errc::invalid_argument` otherwise).
  [[nodiscard]] static result<interval_schedule> every(std::chrono::nanoseconds period) noexcept {
    if (period <= std::chrono::nanoseconds::zero()) {
      return fail(errc::invalid_argument, "an interval schedule needs a positive period");
    }
    interval_schedule s;
    s.period_ = period;
    return s;
  }
  /// `t` plus the period.
  [[nodiscard]] std::optional<instant> next_after(instant t) const noexcept {
    if (t > instant::max() - period_) return std::nullopt;
    return t + period_;
  }
  /// The period.
  [[nodiscard]] std::chrono::nanoseconds period() const noexcept { return period_; }

 private:
  std::chrono::nanoseconds period_{1};
};

/// When a full rescan is due: a cron expression or an interval, read from a configuration string
/// ("0 0 ? * *", "@daily", "PT6H", "P1D", "86400").
class rescan_schedule {
 public:
  /// Parses a cron expression (anything not starting with 'P' or a digit-only number) or a
  /// duration (ISO 8601 or whole seconds). Errors name what is wrong and where.
  [[nodiscard]] static result<rescan_schedule> parse(std::string_view text) noexcept {
    std::string_view t = text;
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    const bool digits = !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits ||
        (!t.empty() && (t.front() == 'P' || t.front() == 'p') && t.find(' ') == std::string_view::npos)) {
      auto d = parse_duration(t);
      if (!d) return d.error();
      auto i = interval_schedule::every(*d);
      if (!i) return i.error();
      rescan_schedule s;
      s.schedule_ = *i;
      return s;
    }
    auto c = cron_schedule::parse(text);
    if (!c) return c.error();
    rescan_schedule s;
    s.schedule_ = std::move(*c);
    return s;
  }

  /// The first rescan time strictly after `t` (cron matched in `zone`; an interval ignores it).
  [[nodiscard]] std::optional<instant> next_after(instant t, const time_zone& zone = time_zone::utc()) const {
    if (const auto* c = std::get_if<cron_schedule>(&schedule_)) return c->next_after(t, zone);
    return std::get<interval_schedule>(schedule_).next_after(t);
  }

  /// True when a rescan is due at `now`: never rescanned, or the first scheduled time after the
  /// last rescan has come.
  [[nodiscard]] bool due(std::optional<instant> last_rescan, instant now,
                         const time_zone& zone = time_zone::utc()) const {
    if (!last_rescan) return true;
    auto next = next_after(*last_rescan, zone);
    return next && *next <= now;
  }

  /// True for a cron schedule, false for an interval.
  [[nodiscard]] bool is_cron() const noexcept { return std::holds_alternative<cron_schedule>(schedule_); }

 private:
  std::variant<interval_schedule, cron_schedule> schedule_;
};

}  // namespace sincehash

#endif  // SINCEHASH_SCHEDULE_HPP
