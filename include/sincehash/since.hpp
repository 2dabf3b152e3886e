#ifndef SINCEHASH_SINCE_HPP
#define SINCEHASH_SINCE_HPP

// The since value (and URL) to send next, computed from a resource's settings and a stored
// offset alone: no detector, no store, nothing written. `change_detector::since()` and
// `since_url()` are these functions applied to the partition's committed offset; a program that
// only asks what to poll next (`sincehash since`, `sincehash status`) reads the offset with
// `store.offset(partition)` and calls them directly.
//
//   auto off = store.offset(partition);                // a read
//   auto text = sincehash::since_value(settings, off, partition);
//   auto url = sincehash::since_url(settings, off, partition);

#include <optional>
#include <string>
#include <string_view>

#include "sincehash/cursor.hpp"
#include "sincehash/error.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/store.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

/// The offset kind a cursor kind stores.
[[nodiscard]] constexpr offset_kind offset_kind_of(cursor_kind c) noexcept {
  switch (c) {
    case cursor_kind::integer:
      return offset_kind::integer;
    case cursor_kind::string:
      return offset_kind::string;
    case cursor_kind::instant:
      break;
  }
  return offset_kind::instant;
}

/// "instant", "integer" or "string".
[[nodiscard]] constexpr const char* to_string(offset_kind k) noexcept {
  switch (k) {
    case offset_kind::instant:
      return "instant";
    case offset_kind::integer:
      return "integer";
    case offset_kind::string:
      return "string";
  }
  return "unknown";
}

/// Throws `sincehash::error` (config_error) naming `partition` when `off` is of another kind than
/// the settings' cursor: the cursor was changed and the offset not reset. Nothing is to be
/// classified or sent against such an offset.
inline void check_offset_kind(const resource_settings& s, const offset_value& off,
                              std::string_view partition) {
  if (off.kind == offset_kind_of(s.cursor)) return;
  throw invalid_config("", "partition " + std::string(partition) + ": the stored offset \"" + off.text +
                               "\" is " + (off.kind == offset_kind::string ? "a " : "an ") +
                               to_string(off.kind) + " but the cursor is " + to_string(s.cursor) +
                               ": reset the offset after changing \"cursor\" (sincehash reset)");
}

/// The since value to send next for the stored offset `off`: nullopt for a full sync (no
/// offset); else the offset as the source wrote it, or with a lookback: for an instant cursor the
/// offset minus the lookback written in the updated-date format, for an integer cursor the
/// offset minus the lookback in decimal (saturating at the lowest 64-bit value). A string cursor
/// takes no lookback. The source is to be asked with `>=` (inclusive). Throws as
/// `check_offset_kind` for an offset of another kind than the cursor.
[[nodiscard]] inline std::optional<std::string> since_value(const resource_settings& s,
                                                            const std::optional<offset_value>& off,
                                                            std::string_view partition) {
  if (!off) return std::nullopt;
  check_offset_kind(s, *off, partition);
  switch (s.cursor) {
    case cursor_kind::instant:
      if (s.lookback && s.updated)
        return s.updated->format.format(instant(std::chrono::nanoseconds(off->number)) - *s.lookback);
      break;
    case cursor_kind::integer:
      if (s.integer_lookback && *s.integer_lookback > 0)
        return std::to_string(subtract_integer_lookback(off->number, *s.integer_lookback));
      break;
    case cursor_kind::string:
      break;
  }
  return off->text;
}

/// The instant to expand a URL template with (instant cursor): the offset (minus the lookback),
/// or for a full sync `initialSince` (default 1970-01-01T00:00:00Z), which asks the source for
/// everything. Throws `sincehash::error` (invalid_argument) for a cursor that is not a date, and
/// as `check_offset_kind` for an offset of another kind.
[[nodiscard]] inline instant since_instant(const resource_settings& s, const std::optional<offset_value>& off,
                                           std::string_view partition) {
  if (s.cursor != cursor_kind::instant) {
    throw error(errc::invalid_argument, "partition " + std::string(partition) + ": the cursor is " +
                                            to_string(s.cursor) + ", not a date: use since()");
  }
  if (off) {
    check_offset_kind(s, *off, partition);
    instant at(std::chrono::nanoseconds(off->number));
    if (s.lookback) at -= *s.lookback;
    return at;
  }
  if (s.initial_since) {
    auto t = parse_iso8601(*s.initial_since);
    if (t) return *t;
  }
  return instant{};
}

/// The resource's URL template expanded for the stored offset `off`. Every `${since}` becomes
/// the since text, URL-encoded: `since_value`, or on a full sync `initialSince` (instant cursor:
/// the full sync's instant in the updated-date format; other cursors: `initialSince` as
/// configured, else empty). With an instant cursor the date placeholders (`${gmtDate:…}`,
/// `${epoch:ms}`) are expanded with `since_instant`; with another cursor they are an error
/// (config_error). Throws as `check_offset_kind` for an offset of another kind.
[[nodiscard]] inline result<std::string> since_url(const resource_settings& s,
                                                   const std::optional<offset_value>& off,
                                                   std::string_view partition) {
  std::optional<std::string> text = since_value(s, off, partition);
  if (s.cursor != cursor_kind::instant)
    return expand_cursor_url_template(s.url, text ? *text : s.initial_since.value_or(""));
  const instant at = since_instant(s, off, partition);
  if (!text) text = s.updated ? s.updated->format.format(at) : format_rfc3339(at, 3);
  auto expanded = expand_since_placeholder(s.url, *text);
  if (!expanded) return expanded;
  return expand_url_template(*expanded, at);
}

}  // namespace sincehash

#endif  // SINCEHASH_SINCE_HPP
