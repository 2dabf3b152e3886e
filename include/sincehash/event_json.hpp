#ifndef SINCEHASH_EVENT_JSON_HPP
#define SINCEHASH_EVENT_JSON_HPP

// Events and rejected records as JSON, one line each: the format of the command-line tool's
// output, for any program that hands events on as JSON (a webhook body, a queue message).
//
//   {"type":"updated","id":"42","updated":"2024-03-01T10:00:00Z","event_id":"…","record":{…}}
//   {"type":"updated",…,"event_id":"…","changed":["Email","properties.phone"],"record":{…}}
//   {"line":7,"id":null,"reason":"…","record":"…"}
//
// An id or date is written as the source wrote it (a number stays a number). A record is written
// as its original bytes, compacted only when it spans lines. Every string is valid UTF-8 JSON:
// bytes that are not well-formed UTF-8 become U+FFFD, so a line is valid JSON whatever the input.

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sincehash/events.hpp"
#include "sincehash/store.hpp"

namespace sincehash {

namespace detail {

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 with `bad` set
// to the length of its maximal ill-formed prefix (at least 1).
inline std::size_t utf8_sequence(std::string_view s, std::size_t& bad) noexcept {
  const auto at = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) low = 0xA0;   // no overlong forms
    if (c == 0xED) high = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  std::size_t i = 1;
  for (; i < n && i < s.size(); ++i) {
    const unsigned char b = at(i);
    if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
  }
  if (i == n) return n;
  bad = i;
  return 0;
}

}  // namespace detail

/// Appends `s` as a JSON string. Bytes that are not well-formed UTF-8 are written as U+FFFD (one
/// for each maximal ill-formed sequence), so the output is always valid JSON.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs that need no escape are copied whole.
  std::size_t plain = 0;
  while (plain < s.size()) {
    const auto c = static_cast<unsigned char>(s[plain]);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
    ++plain;
  }
  out.append(s.data(), plain);
  for (std::size_t i = plain; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t bad = 0;
      const std::size_t n = detail::utf8_sequence(s.substr(i), bad);
      if (n > 0) {
        out.append(s.data() + i, n);
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        i += bad;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

/// Appends a value as the source wrote it: a number or boolean as is, a string quoted, else null.
inline void append_json_value(std::string& out, std::string_view text, value_kind kind) {
  if (kind == value_kind::number || kind == value_kind::boolean) {
    out.append(text.data(), text.size());
  } else if (kind == value_kind::missing || kind == value_kind::null) {
    out += "null";
  } else {
    append_json_string(out, text);
  }
}

/// Appends what an event names as changed: the sorted list of watched paths as configured, or
/// null when unknown.
inline void append_changed_json(std::string& out, const changed_fields& c) {
  if (!c.known()) {
    out += "null";
    return;
  }
  out.push_back('[');
  bool first = true;
  for (const std::string& path : c.paths()) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, path);
  }
  out.push_back(']');
}

/// An event's text up to its record: `{"type":...,"record":` (`"record":null` for a deletion),
/// with `"changed"` before the record when the event reports it (reportChanges).
inline void append_event_head(std::string& out, const event& e) {
  out += "{\"type\":\"";
  out += to_string(e.type);
  out += "\",\"id\":";
  append_json_value(out, e.id, e.id_kind);
  out += ",\"updated\":";
  append_json_value(out, e.updated, e.updated_kind);
  out += ",\"event_id\":\"";
  out += e.event_id;
  out += '"';
  if (e.changed.reported()) {
    out += ",\"changed\":";
    append_changed_json(out, e.changed);
  }
  out += ",\"record\":";
  if (e.type == event_type::deleted) out += "null";
}

/// The record bytes an event carries (none for a deletion); after them comes "}\n".
inline std::string_view event_record(const event& e) {
  return e.type == event_type::deleted ? std::string_view() : e.record;
}

/// True when `json` holds a line break: it must then be written compacted to stay on one line.
inline bool spans_lines(std::string_view json) noexcept {
  return !json.empty() && (std::memchr(json.data(), '\n', json.size()) != nullptr ||
                           std::memchr(json.data(), '\r', json.size()) != nullptr);
}

/// Appends the JSON text `json` without its insignificant white space (string contents are
/// copied untouched). A valid JSON text comes out on one line.
inline void append_compact_json(std::string& out, std::string_view json) {
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out.push_back(c);
      in_string = c == '"';
    }
  }
}

/// Appends a record's JSON text: its bytes as they are, or compacted when it spans lines.
inline void append_record_json(std::string& out, std::string_view json) {
  if (spans_lines(json)) {
    append_compact_json(out, json);
  } else {
    out.append(json.data(), json.size());
  }
}

/// Appends one rejects line (valid JSON whatever the record's bytes), with its newline.
inline void append_reject_json(std::string& out, const rejected_record& r) {
  out += "{\"line\":";
  out += std::to_string(r.position);
  out += ",\"id\":";
  if (r.id) {
    append_json_value(out, *r.id, r.id_kind);
  } else {
    out += "null";
  }
  out += ",\"reason\":";
  append_json_string(out, r.reason);
  out += ",\"record\":";
  // The record as JSON only when it is valid JSON (a fast reader may have stopped before the part
  // that is not): else as a string, so that every rejects line is valid JSON.
  if (r.record_is_json && nlohmann::json::accept(r.record.begin(), r.record.end())) {
    append_record_json(out, r.record);
  } else {
    append_json_string(out, r.record);
  }
  out += "}\n";
}

/// Appends one event line, with its newline.
inline void append_event_json(std::string& out, const event& e) {
  append_event_head(out, e);
  append_record_json(out, event_record(e));
  out += "}\n";
}

/// Appends a stored offset as JSON: null when there is none, a number when it is an integer
/// written plainly, else its text as a string ("011" and "+5" stay strings).
inline void append_offset_json(std::string& out, const std::optional<offset_value>& v) {
  if (!v) {
    out += "null";
  } else if (v->kind == offset_kind::integer && v->text == std::to_string(v->number)) {
    out += v->text;
  } else {
    append_json_string(out, v->text);
  }
}

}  // namespace sincehash

#endif  // SINCEHASH_EVENT_JSON_HPP
