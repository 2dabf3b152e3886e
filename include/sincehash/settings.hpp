#ifndef SINCEHASH_SETTINGS_HPP
#define SINCEHASH_SETTINGS_HPP

// The settings of one polled resource, compiled and validated: what the detector runs on.
// Build them in code, or read them from a Cloud Elements poller configuration (config.hpp).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sincehash/cursor.hpp"
#include "sincehash/error.hpp"
#include "sincehash/field_path.hpp"
#include "sincehash/hasher.hpp"
#include "sincehash/schedule.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

/// How a date field's value is written by the source. Compiled once; parsing is thread-safe.
///  - `iso8601`: RFC 3339 / ISO 8601 text with an offset (the default when no format is given);
///  - `pattern`: a Java (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`) or strftime (`%Y-%m-%dT%H:%M:%S%z`) pattern
///    read in the configured time zone;
///  - `epoch`: a count since 1970-01-01T00:00Z in seconds, milliseconds, microseconds or
///    nanoseconds, written as a JSON number or a decimal string.
class date_format {
 public:
  enum class kind : std::uint8_t { iso8601, pattern, epoch };

  /// ISO 8601 text with an offset.
  date_format() = default;

  /// Compiles a format as configurations write it: "" or "iso8601" → ISO 8601; "epoch",
  /// "epoch:ms", "milliseconds" → epoch milliseconds; "epoch:s", "seconds" → epoch seconds;
  /// "epoch:us"/"microseconds", "epoch:ns"/"nanoseconds"; text containing '%' → a strftime
  /// pattern; anything else → a Java pattern. Pattern errors name their position. A pattern
  /// must read back what it writes (`time_pattern::parse_check`) and name an instant
  /// (`time_pattern::instant_check`: `HH:mm` or `yyyy-MM` are refused).
  [[nodiscard]] static result<date_format> compile(std::string_view format, const time_zone& zone) {
    date_format f;
    f.text_ = std::string(format);
    f.zone_ = zone;
    if (format.empty() || format == "iso8601" || format == "ISO8601" || format == "iso") return f;
    struct unit_name {
      std::string_view name;
      epoch_unit unit;
    };
    static constexpr unit_name units[] = {
        {"epoch", epoch_unit::milliseconds},        {"epoch:ms", epoch_unit::milliseconds},
        {"milliseconds", epoch_unit::milliseconds}, {"epoch:s", epoch_unit::seconds},
        {"seconds", epoch_unit::seconds},           {"epoch:us", epoch_unit::microseconds},
        {"microseconds", epoch_unit::microseconds}, {"epoch:ns", epoch_unit::nanoseconds},
        {"nanoseconds", epoch_unit::nanoseconds},
    };
    for (const auto& u : units) {
      if (format == u.name) {
        f.kind_ = kind::epoch;
        f.unit_ = u.unit;
        return f;
      }
    }
    auto compiled = format.find('%') != std::string_view::npos ? time_pattern::strftime(format, zone)
                                                               : time_pattern::java(format, zone);
    if (!compiled) return compiled.error();
    if (auto readable = compiled->parse_check(); !readable)
      return std::move(readable).error();  // dates are read with it
    if (auto identifies = compiled->instant_check(); !identifies)
      return std::move(identifies).error();  // each date read must name one instant
    f.kind_ = kind::pattern;
    f.pattern_.emplace(std::move(*compiled));
    return f;
  }

  /// Reads a date from a string value (`is_number` false) or a JSON number's literal text.
  /// A JSON number is accepted only by an epoch format; a string holding digits is accepted by
  /// an epoch format too (sources that quote their epochs).
  [[nodiscard]] result<instant> parse(std::string_view text, bool is_number) const noexcept {
    switch (kind_) {
      case kind::epoch:
        return parse_epoch(text, unit_);
      case kind::iso8601:
        if (is_number) return fail(errc::parse_error, "a number where an ISO 8601 date was expected");
        return parse_iso8601(text);
      case kind::pattern:
        if (is_number) return fail(errc::parse_error, "a number where a date pattern was expected");
        return pattern_->parse(text);
    }
    return fail(errc::invalid_argument, "unknown date format");
  }

  /// Writes `t` the way the source writes it (used to send a lookback-adjusted since value).
  /// ISO 8601 is written in UTC with milliseconds; epoch as a decimal integer.
  [[nodiscard]] std::string format(instant t) const {
    switch (kind_) {
      case kind::epoch:
        return std::to_string(to_epoch(t, unit_));
      case kind::pattern:
        return pattern_->format(t);
      case kind::iso8601:
        break;
    }
    return format_rfc3339(t, 3);
  }

  /// The format as it was configured ("" for the ISO 8601 default).
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  [[nodiscard]] kind format_kind() const noexcept { return kind_; }

 private:
  kind kind_ = kind::iso8601;
  epoch_unit unit_ = epoch_unit::milliseconds;
  std::optional<time_pattern> pattern_;
  time_zone zone_ = time_zone::utc();
  std::string text_;
};

/// A configured date field: where it is in the record and how it is written.
struct date_field {
  field_path path;     ///< e.g. `LastModifiedDate` or `properties.lastmodifieddate`
  date_format format;  ///< how its value is written
};

/// Everything the detector needs to know about one polled resource.
struct resource_settings {
  std::string name;                   ///< resource name, e.g. "contacts"
  std::string url;                    ///< URL template, e.g. `/contacts?since=${epoch:ms}`
  field_path id_field;                ///< the record id (Cloud Elements `idField`)
  std::optional<date_field> updated;  ///< the updated date; drives the since offset
  std::optional<date_field> created;  ///< the created date; decides created vs updated
  std::vector<std::string> watched;   ///< `validationData.fields`; empty → whole record
  std::vector<std::string> ignored;   ///< left out of a whole-record hash
  std::map<std::string, std::vector<normalizer>> normalize;  ///< path → normalizers
  std::optional<std::chrono::nanoseconds> ttl;               ///< record state expiry after last seen
  std::optional<std::chrono::nanoseconds> lookback;          ///< subtracted from the since value sent
  /// An updated date further ahead of the clock than this is dispatched but does not advance
  /// the offset (a source's clock error must not make later changes invisible); nullopt turns
  /// the guard off.
  std::optional<std::chrono::nanoseconds> max_future_skew = std::chrono::minutes(15);
  bool chronological = false;  ///< the source returns records oldest first
  bool detect_deletes = true;  ///< completed rescans report deletions
  bool strict = false;         ///< an invalid record throws
  /// Each `updated` event names the watched paths that changed (`event::changed`): every state
  /// then also keeps a 32-bit digest per watched path. Needs watched paths (`watched`).
  bool report_changes = false;
  std::optional<rescan_schedule> rescan;              ///< when a full rescan is due
  std::string rescan_text;                            ///< the schedule as configured
  std::optional<std::string> initial_since;           ///< since value of a full sync's URL
  std::optional<std::chrono::seconds> poll_interval;  ///< `event.poller.refresh_interval`
  /// What the updated field holds: a date (default), a sequence number or an opaque string.
  /// With a non-instant cursor only `updated`'s path counts, and date-only settings (`created`,
  /// `lookback`, date URL placeholders) are errors.
  cursor_kind cursor = cursor_kind::instant;
  /// Integer cursor: subtracted from the since value sent (not negative). `lookback` and
  /// `max_future_skew` are for an instant cursor; with another cursor the skew guard does not
  /// apply. `initial_since` is ISO 8601 for an instant cursor, decimal digits for an integer
  /// one, any text for a string one (unset: 1970-01-01T00:00:00Z, or empty).
  std::optional<std::int64_t> integer_lookback;
};

}  // namespace sincehash

#endif  // SINCEHASH_SETTINGS_HPP
