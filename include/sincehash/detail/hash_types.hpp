#ifndef SINCEHASH_DETAIL_HASH_TYPES_HPP
#define SINCEHASH_DETAIL_HASH_TYPES_HPP

// Small public value types shared by the hasher (hasher.hpp) and the document-access policies
// (access.hpp, access_simdjson.hpp). Include those headers rather than this one.

#include <cstdint>
#include <string_view>

namespace sincehash {

/// A per-field normalizer applied before hashing. All are off by default: a change to a watched
/// value is never hidden unless the configuration asks for it. Applied to every string inside the
/// value at the configured path (object keys are never changed), always in the order
/// trim → instant → lower, whatever order the configuration lists them in.
enum class normalizer : std::uint8_t {
  trim,     ///< strip leading and trailing ASCII white space (space, \t, \n, \v, \f, \r)
  lower,    ///< map capital letters to small ones: ASCII, Latin-1, Greek and Cyrillic (simple mapping)
  instant,  ///< a string that parses as an ISO 8601 date is hashed as the instant it names
};

/// The stable name of a normalizer as written in configurations and fingerprints.
[[nodiscard]] constexpr const char* to_string(normalizer n) noexcept {
  switch (n) {
    case normalizer::trim:
      return "trim";
    case normalizer::lower:
      return "lower";
    case normalizer::instant:
      return "instant";
  }
  return "unknown";
}

/// What a located JSON value is.
enum class value_kind : std::uint8_t {
  missing,  ///< the path leads nowhere in this record
  null,     ///< JSON null
  boolean,  ///< true or false
  number,   ///< a JSON number
  string,   ///< a JSON string
  object,   ///< a JSON object (its content is not exposed)
  array,    ///< a JSON array (its content is not exposed)
};

/// A scalar view of one located value. `text` is: the string's contents with JSON escapes
/// resolved (raw UTF-8 bytes) for a string; the number's literal as written in the input for a
/// number read from JSON text ("1700000000000", "12.50"; "-0" reads as "0"), or its shortest round-trip
/// decimal when read from an already-parsed nlohmann::json holding a double; "true"/"false"; "null"; empty
/// for missing, object and array. The text is owned by whoever produced the view (see there).
struct value_view {
  value_kind kind = value_kind::missing;  ///< what was found
  std::string_view text;                  ///< see above

  /// True unless the path led nowhere.
  [[nodiscard]] constexpr bool present() const noexcept { return kind != value_kind::missing; }
};

}  // namespace sincehash

#endif  // SINCEHASH_DETAIL_HASH_TYPES_HPP
