#ifndef SINCEHASH_FIELD_PATH_HPP
#define SINCEHASH_FIELD_PATH_HPP

// Field paths: where a value sits inside a JSON record, compiled once from configuration text.
//
// Two spellings are accepted.
//  - JSON Pointer (RFC 6901), recognised by a leading '/': `/properties/email`, `/a~1b` (key "a/b"),
//    `/m~0n` (key "m~n"), `/items/0/sku`. An empty token (`/a//b`) names the empty key.
//  - Dot paths, anything else: `properties.email`, `items.0.sku`, `items[0].sku`. A backslash
//    escapes the next character when it is one of `\ . [ ] /` (`a\.b` is the single key "a.b",
//    `\/x` is the key "/x"); any other escape, an empty segment (`a..b`, `.a`, `a.`), an
//    unbalanced bracket or a non-canonical index (`[01]`, `[]`, `[x]`) is an error.
//
// Array indices follow JSON Pointer: a segment made of decimal digits without a leading zero
// ("0", "17") matches the element at that index when the value is an array, and the member of
// that name when it is an object. `items[0]`, `items.0` and `/items/0` are the same path.
//
// The canonical form of a path is its JSON Pointer text; two paths are equal when their segments
// are equal, whatever spelling was used.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/error.hpp"

namespace sincehash {

/// A compiled path into a JSON record: a sequence of segments (object keys, or array indices
/// written as decimal digits). Immutable value type; copies are independent; thread-safe to read.
/// A default-constructed path is empty and names the record itself.
class field_path {
 public:
  /// One step of a path: an object key, which doubles as an array index when it is a canonical
  /// decimal number (no sign, no leading zero, at most 18 digits).
  struct segment {
    std::string key;  ///< the key, unescaped (raw UTF-8 bytes)

    /// True when the key is a canonical decimal number, i.e. it also selects an array element.
    [[nodiscard]] bool is_index() const noexcept { return index_value(key) != npos; }
    /// The array index the key names, or `npos` when it names none.
    [[nodiscard]] std::size_t index() const noexcept { return index_value(key); }

    friend bool operator==(const segment& a, const segment& b) noexcept { return a.key == b.key; }
    friend bool operator!=(const segment& a, const segment& b) noexcept { return a.key != b.key; }
  };

  /// No array index.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// The empty path (the record itself).
  field_path() = default;

  /// Compiles `text` (dot path or JSON Pointer, see the file comment). An error is a
  /// `parse_error` whose position is the byte offset in `text` and whose message names the path.
  [[nodiscard]] static result<field_path> parse(std::string_view text) noexcept {
    try {
      field_path out;
      out.text_ = std::string(text);
      auto bad = [&](std::string reason, std::size_t pos) -> result<field_path> {
        return fail(errc::parse_error, "field path '" + std::string(text) + "': " + reason, pos);
      };
      if (text.empty()) return bad("empty path", 0);
      if (text.front() == '/') {
        std::size_t i = 1;
        std::string key;
        for (;;) {
          if (i == text.size() || text[i] == '/') {
            out.segments_.push_back(segment{key});
            key.clear();
            if (i == text.size()) break;
            ++i;
            continue;
          }
          char c = text[i];
          if (c == '~') {
            if (i + 1 < text.size() && text[i + 1] == '0') {
              key.push_back('~');
            } else if (i + 1 < text.size() && text[i + 1] == '1') {
              key.push_back('/');
            } else {
              return bad("'~' must be followed by '0' or '1' in a JSON Pointer", i);
            }
            i += 2;
            continue;
          }
          key.push_back(c);
          ++i;
        }
      } else {
        std::size_t i = 0;
        std::string key;
        bool has_name = false;     // the current segment has a (possibly escaped) name
        bool after_index = false;  // the last thing read was `[N]`
        std::size_t segment_start = 0;
        while (i <= text.size()) {
          if (i == text.size() || text[i] == '.') {
            if (!has_name && !after_index) return bad("empty segment", segment_start);
            if (has_name) out.segments_.push_back(segment{key});
            key.clear();
            has_name = false;
            after_index = false;
            if (i == text.size()) break;
            ++i;
            segment_start = i;
            if (i == text.size()) return bad("empty segment", i);
            continue;
          }
          char c = text[i];
          if (c == '[') {
            if (has_name) {
              out.segments_.push_back(segment{key});
              key.clear();
              has_name = false;
            }
            std::size_t close = text.find(']', i + 1);
            if (close == std::string_view::npos) return bad("'[' without ']'", i);
            std::string digits(text.substr(i + 1, close - i - 1));
            if (index_value(digits) == npos) {
              return bad("an index in brackets must be a decimal number without leading zeros", i + 1);
            }
            out.segments_.push_back(segment{digits});
            after_index = true;
            i = close + 1;
            if (i < text.size() && text[i] != '.' && text[i] != '[') {
              return bad("expected '.', '[' or the end after ']'", i);
            }
            continue;
          }
          if (after_index) return bad("expected '.', '[' or the end after ']'", i);
          if (c == ']') return bad("']' without '['", i);
          if (c == '\\') {
            if (i + 1 == text.size()) return bad("a backslash at the end escapes nothing", i);
            char e = text[i + 1];
            if (e != '\\' && e != '.' && e != '[' && e != ']' && e != '/') {
              return bad("only \\\\ \\. \\[ \\] \\/ are escapes", i);
            }
            key.push_back(e);
            has_name = true;
            i += 2;
            continue;
          }
          key.push_back(c);
          has_name = true;
          ++i;
        }
      }
      out.canonical_ = pointer_text(out.segments_);
      return out;
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_range, "field path: out of memory");
    }
  }

  /// Builds a path from segments (keys, unescaped). Never fails.
  [[nodiscard]] static field_path from_segments(std::vector<segment> segments) {
    field_path out;
    out.segments_ = std::move(segments);
    out.canonical_ = pointer_text(out.segments_);
    out.text_ = out.canonical_;
    return out;
  }

  /// The text the path was parsed from, as written.
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  /// The canonical form: the JSON Pointer text ("" for the empty path). Equal paths have equal
  /// canonical forms; used for sorting, fingerprints and messages.
  [[nodiscard]] const std::string& canonical() const noexcept { return canonical_; }
  /// The segments, outermost first.
  [[nodiscard]] const std::vector<segment>& segments() const noexcept { return segments_; }
  /// True for the empty path.
  [[nodiscard]] bool empty() const noexcept { return segments_.empty(); }
  /// True when `other` lies inside this path or equals it (`a` contains `a` and `a.b`).
  [[nodiscard]] bool contains(const field_path& other) const noexcept {
    if (other.segments_.size() < segments_.size()) return false;
    for (std::size_t i = 0; i < segments_.size(); ++i) {
      if (segments_[i].key != other.segments_[i].key) return false;
    }
    return true;
  }

  /// Equal when the segments are equal, whatever spelling was parsed.
  friend bool operator==(const field_path& a, const field_path& b) noexcept {
    return a.segments_ == b.segments_;
  }
  friend bool operator!=(const field_path& a, const field_path& b) noexcept { return !(a == b); }
  /// The canonical order: segment by segment, keys compared as unsigned bytes; a path sorts
  /// before the paths inside it. All paths inside one path are contiguous in this order.
  friend bool operator<(const field_path& a, const field_path& b) noexcept {
    std::size_t n = a.segments_.size() < b.segments_.size() ? a.segments_.size() : b.segments_.size();
    for (std::size_t i = 0; i < n; ++i) {
      int c = compare_bytes(a.segments_[i].key, b.segments_[i].key);
      if (c != 0) return c < 0;
    }
    return a.segments_.size() < b.segments_.size();
  }

  /// The array index a key names ("0", "17"), or `npos`.
  [[nodiscard]] static std::size_t index_value(std::string_view key) noexcept {
    if (key.empty() || key.size() > 18 || (key.size() > 1 && key[0] == '0')) return npos;
    std::size_t v = 0;
    for (char c : key) {
      if (c < '0' || c > '9') return npos;
      v = v * 10 + static_cast<std::size_t>(c - '0');
    }
    return v;
  }

  /// Unsigned byte-wise three-way comparison (negative, zero, positive).
  [[nodiscard]] static int compare_bytes(std::string_view a, std::string_view b) noexcept {
    std::size_t n = a.size() < b.size() ? a.size() : b.size();
    for (std::size_t i = 0; i < n; ++i) {
      auto x = static_cast<unsigned char>(a[i]);
      auto y = static_cast<unsigned char>(b[i]);
      if (x != y) return x < y ? -1 : 1;
    }
    return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
  }

 private:
  static std::string pointer_text(const std::vector<segment>& segments) {
    std::string out;
    for (const auto& s : segments) {
      out.push_back('/');
      for (char c : s.key) {
        if (c == '~') {
          out += "~0";
        } else if (c == '/') {
          out += "~1";
        } else {
          out.push_back(c);
        }
      }
    }
    return out;
  }

  std::string text_;
  std::string canonical_;
  std::vector<segment> segments_;
};

/// Compiles a configured list of paths. Fails with `config_error` on the first path that does not
/// parse or that names the same path as an earlier entry (same canonical form); the message names
/// the path and its 0-based index in `texts`, the position is the byte offset inside that path.
[[nodiscard]] inline result<std::vector<field_path>> compile_paths(const std::vector<std::string>& texts) {
  std::vector<field_path> out;
  out.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto parsed = field_path::parse(texts[i]);
    if (!parsed) {
      return fail(errc::config_error, "path #" + std::to_string(i) + ": " + parsed.error().message,
                  parsed.error().position);
    }
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (out[j] == *parsed) {
        return fail(errc::config_error, "path #" + std::to_string(i) + " '" + texts[i] +
                                            "' duplicates path #" + std::to_string(j) + " '" + texts[j] +
                                            "' (both are '" + parsed->canonical() + "')");
      }
    }
    out.push_back(std::move(*parsed));
  }
  return out;
}

}  // namespace sincehash

#endif  // SINCEHASH_FIELD_PATH_HPP
