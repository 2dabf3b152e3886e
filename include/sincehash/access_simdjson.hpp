#ifndef SINCEHASH_ACCESS_SIMDJSON_HPP
#define SINCEHASH_ACCESS_SIMDJSON_HPP

// The simdjson on-demand document-access policy: the fast path for raw JSON bytes. Needs the
// `sincehash::simdjson` CMake target (which links simdjson).
//
// One forward pass over the record: each member key is matched against the compiled paths; values
// nobody asked for are skipped without being decoded. Consequence: simdjson validates what it
// reads (structure, UTF-8, the values it decodes) but not the inside of values it skips, so a
// record malformed only inside an unwatched field may be accepted; nlohmann_access would reject
// it as not JSON. On every input that both accept they report the same digest and extras.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sincehash/access.hpp"
#include "sincehash/detail/canonical_number.hpp"
#include "sincehash/detail/hash_sink.hpp"
#include "sincehash/error.hpp"

namespace sincehash {

/// Document access through simdjson's on-demand API. `read(std::string_view)` copies the record
/// into an internal padded buffer (grown as needed, then reused: no allocation per record once
/// warm); `read(simdjson::padded_string_view)` / `read(const simdjson::padded_string&)` use the
/// caller's padding (at least `SIMDJSON_PADDING` readable bytes after the text) without copying.
/// Holds a parser: one thread at a time; a copy gets its own fresh parser and buffer.
class simdjson_access {
 public:
  simdjson_access() = default;
  simdjson_access(const simdjson_access&) : simdjson_access() {}
  simdjson_access& operator=(const simdjson_access&) noexcept { return *this; }
  simdjson_access(simdjson_access&&) noexcept = default;
  simdjson_access& operator=(simdjson_access&&) noexcept = default;
  ~simdjson_access() = default;

  /// Reads the JSON text `json` (UTF-8) into `sink`; see the Access interface in access.hpp.
  result<void> read(std::string_view json, record_sink& sink) {
    if (buffer_.size() < json.size() + simdjson::SIMDJSON_PADDING)
      buffer_.resize(json.size() + simdjson::SIMDJSON_PADDING);
    if (!json.empty()) std::memcpy(buffer_.data(), json.data(), json.size());
    std::memset(buffer_.data() + json.size(), ' ', simdjson::SIMDJSON_PADDING);
    return read(simdjson::padded_string_view(buffer_.data(), json.size(), buffer_.size()), sink);
  }

  /// Reads `json` followed in memory by `padding` readable bytes (their contents do not matter):
  /// with at least `SIMDJSON_PADDING` of them the text is read in place, otherwise it is copied.
  result<void> read_padded(std::string_view json, std::size_t padding, record_sink& sink) {
    if (padding < simdjson::SIMDJSON_PADDING) return read(json, sink);
    return read(simdjson::padded_string_view(json.data(), json.size(), json.size() + padding), sink);
  }

  /// Reads caller-padded JSON text without copying it.
  result<void> read(const simdjson::padded_string& json, record_sink& sink) {
    return read(simdjson::padded_string_view(json), sink);
  }

  /// Reads caller-padded JSON text without copying it.
  result<void> read(simdjson::padded_string_view json, record_sink& sink) {
    namespace od = simdjson::ondemand;
    base_ = json.data();
    end_ = json.data() + json.length();
    auto doc_result = parser_.iterate(json);
    if (doc_result.error()) return parse_failure(doc_result.error(), 0);
    od::document& doc = doc_result.value_unsafe();
    od::json_type type{};
    if (auto e = doc.type().get(type)) return parse_failure(e, position(doc));
    if (type != od::json_type::object) {
      auto e = validate_root(doc, type, json.data() + json.length());
      if (e) return parse_failure(e, position(doc));
      if (type == od::json_type::array && !trailing_ok(doc)) return trailing_failure(doc);
      return detail::not_an_object(kind_of(type));
    }
    od::object root;
    if (auto e = doc.get_object().get(root)) return parse_failure(e, position(doc));
    // Strings are unescaped into the parser's buffer and numbers are read from the text, both
    // left alone until the next document.
    sink.set_stable_text(true);
    sink.begin_record();
    sink.begin_object();
    if (auto e = walk_members(root, sink)) return parse_failure(e, position(doc));
    if (sink.failed()) return sink.error();
    sink.end_object();
    if (!trailing_ok(doc)) return trailing_failure(doc);
    return {};
  }

 private:
  using value = simdjson::ondemand::value;

  static value_kind kind_of(simdjson::ondemand::json_type t) noexcept {
    switch (t) {
      case simdjson::ondemand::json_type::array:
        return value_kind::array;
      case simdjson::ondemand::json_type::object:
        return value_kind::object;
      case simdjson::ondemand::json_type::number:
        return value_kind::number;
      case simdjson::ondemand::json_type::string:
        return value_kind::string;
      case simdjson::ondemand::json_type::boolean:
        return value_kind::boolean;
      case simdjson::ondemand::json_type::null:
        return value_kind::null;
    }
    return value_kind::missing;
  }

  std::size_t position(simdjson::ondemand::document& doc) noexcept {
    const char* at = nullptr;
    if (doc.current_location().get(at)) return no_position;
    return static_cast<std::size_t>(at - base_);
  }

  static error_info parse_failure(simdjson::error_code e, std::size_t pos) {
    return fail(errc::parse_error, std::string("not JSON: ") + simdjson::error_message(e), pos);
  }

  // After the root value only white space may follow (the padding is white space too).
  static bool trailing_ok(simdjson::ondemand::document& doc) noexcept {
    const char* at = nullptr;
    return doc.current_location().get(at) != simdjson::SUCCESS;
  }
  error_info trailing_failure(simdjson::ondemand::document& doc) {
    return fail(errc::parse_error, "not JSON: content after the record", position(doc));
  }

  static simdjson::error_code number_token(std::string_view token, std::string& scratch) {
    while (!token.empty() && detail::is_ascii_space(token.back())) token.remove_suffix(1);
    scratch.clear();
    return detail::append_canonical_number(token, scratch) == detail::number_status::ok
               ? simdjson::SUCCESS
               : simdjson::NUMBER_ERROR;
  }

  simdjson::error_code walk_members(simdjson::ondemand::object& object, record_sink& sink) {
    // Most members of a record are not wanted, most of them told by their key's length alone.
    const std::uint64_t wanted = sink.wanted_key_lengths();
    for (auto field : object) {
      if (field.error()) return field.error();
      // The member in place: copying its value out (as `get` does) costs more than reading it.
      simdjson::ondemand::field& member = field.value_unsafe();
      // Most keys hold no escape: read them in place; unescape only when a backslash shows up.
      const char* raw = member.key().raw();
      bool escaped = false;
      const char* at = key_end(raw, escaped);
      std::string_view key;
      if (!escaped && at < end_) {
        key = std::string_view(raw, static_cast<std::size_t>(at - raw));
      } else if (auto e = member.unescaped_key().get(key)) {
        return e;
      }
      if ((wanted & detail::length_bit(key.size())) == 0 || !sink.key(key)) continue;
      if (auto e = walk_value(member.value(), sink)) return e;
      if (sink.failed()) return simdjson::SUCCESS;
    }
    return simdjson::SUCCESS;
  }

  // The first '"' or '\\' at or after `p`, sixteen bytes at a time (eight without SSE2);
  // `backslash` tells which of the two it is (the escape path), without reading it again.
  // Reading past the end of the text is safe: at least SIMDJSON_PADDING readable bytes follow
  // it, and a key always ends before the text does (the structural index found its closing quote).
  static const char* key_end(const char* p, bool& backslash) noexcept {
#if defined(__SSE2__)
    const __m128i quote_bytes = _mm_set1_epi8('"');
    const __m128i backslash_bytes = _mm_set1_epi8('\\');
    for (;;) {
      const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const unsigned quotes = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(w, quote_bytes)));
      const unsigned escapes = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(w, backslash_bytes)));
      if ((quotes | escapes) != 0) {
        const unsigned at = static_cast<unsigned>(__builtin_ctz(quotes | escapes));
        backslash = ((escapes >> at) & 1U) != 0;
        return p + at;
      }
      p += 16;
    }
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    for (;;) {
      std::uint64_t w;
      std::memcpy(&w, p, sizeof w);
      const std::uint64_t q = w ^ (ones * '"');
      const std::uint64_t b = w ^ (ones * '\\');
      // A byte of q or b is zero exactly where w holds a quote or a backslash.
      const std::uint64_t escapes = ((b - ones) & ~b) & highs;
      const std::uint64_t hit = (((q - ones) & ~q) & highs) | escapes;
      if (hit != 0) {
        // The lowest flagged byte is a real match (borrows only run towards higher bytes), and
        // so is the flag of `escapes` there (no false flag lies below a real one).
        const unsigned at = static_cast<unsigned>(__builtin_ctzll(hit));
        backslash = ((escapes >> at) & 1U) != 0;
        return p + (at >> 3);
      }
      p += sizeof w;
    }
#else
    while (*p != '"' && *p != '\\') ++p;
    backslash = *p == '\\';
    return p;
#endif
  }

  simdjson::error_code walk_value(value& v, record_sink& sink) {
    namespace od = simdjson::ondemand;
    od::json_type type{};
    if (auto e = v.type().get(type)) return e;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = v.get_object().get(object)) return e;
        if (!sink.begin_object()) return simdjson::SUCCESS;
        if (auto e = walk_members(object, sink)) return e;
        sink.end_object();
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = v.get_array().get(array)) return e;
        if (!sink.begin_array()) return simdjson::SUCCESS;
        for (auto element : array) {
          value ev;
          if (auto e = element.get(ev)) return e;
          if (!sink.element()) continue;
          if (auto e = walk_value(ev, sink)) return e;
          if (sink.failed()) return simdjson::SUCCESS;
        }
        sink.end_array();
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        sink.string_value(s);
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        std::string_view token = v.raw_json_token();
        while (!token.empty() && detail::is_ascii_space(token.back())) token.remove_suffix(1);
        sink.number_value(token);
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto e = v.get_bool().get(b)) return e;
        sink.bool_value(b);
        return simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return e;
        if (!is_null) return simdjson::N_ATOM_ERROR;
        sink.null_value();
        return simdjson::SUCCESS;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  // Decodes a whole value only to tell "not JSON" from "JSON but not an object".
  simdjson::error_code validate(value& v, std::size_t depth) {
    namespace od = simdjson::ondemand;
    if (depth > record_sink::max_depth) return simdjson::DEPTH_ERROR;
    od::json_type type{};
    if (auto e = v.type().get(type)) return e;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = v.get_object().get(object)) return e;
        for (auto field : object) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return e;
          value fv;
          if (auto e = field.value().get(fv)) return e;
          if (auto e = validate(fv, depth + 1)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = v.get_array().get(array)) return e;
        for (auto element : array) {
          value ev;
          if (auto e = element.get(ev)) return e;
          if (auto e = validate(ev, depth + 1)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        return v.get_string().get(s);
      }
      case od::json_type::number:
        return number_token(v.raw_json_token(), scratch_);
      case od::json_type::boolean: {
        bool b = false;
        return v.get_bool().get(b);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return e;
        return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  simdjson::error_code validate_root(simdjson::ondemand::document& doc, simdjson::ondemand::json_type type,
                                     const char* end) {
    namespace od = simdjson::ondemand;
    if (type != od::json_type::array) {
      // A scalar's token runs up to the next token or the end: anything left is trailing content.
      std::string_view token;
      if (auto e = doc.raw_json_token().get(token)) return e;
      if (token.data() + token.size() != end) return simdjson::TRAILING_CONTENT;
    }
    switch (type) {
      case od::json_type::array: {
        od::array array;
        if (auto e = doc.get_array().get(array)) return e;
        for (auto element : array) {
          value ev;
          if (auto e = element.get(ev)) return e;
          if (auto e = validate(ev, 1)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        return doc.get_string().get(s);
      }
      case od::json_type::number: {
        std::string_view token;
        if (auto e = doc.raw_json_token().get(token)) return e;
        return number_token(token, scratch_);
      }
      case od::json_type::boolean: {
        bool b = false;
        return doc.get_bool().get(b);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = doc.is_null().get(is_null)) return e;
        return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
      }
      case od::json_type::object:
        break;
    }
    return simdjson::SUCCESS;
  }

  simdjson::ondemand::parser parser_;
  std::vector<char> buffer_;
  std::string scratch_;
  const char* base_ = nullptr;
  const char* end_ = nullptr;
};

}  // namespace sincehash

#endif  // SINCEHASH_ACCESS_SIMDJSON_HPP
