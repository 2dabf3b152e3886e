#ifndef SINCEHASH_RECORD_HPP
#define SINCEHASH_RECORD_HPP

// One input record as the library passes it around: what `record_reader` frames out of a stream
// and what `change_detector` classifies.

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sincehash {

/// One input record: its bytes and its 1-based position (the input line for NDJSON, the element
/// index for an array). Owns nothing: `bytes` points into the caller's input (for a record from
/// `record_reader`, into the reader's buffer, valid until its next `next_batch`).
struct input_record {
  std::string_view bytes;
  std::size_t position = 0;
  /// How many readable bytes follow `bytes` in memory (their contents do not matter): with
  /// enough of them a fast access policy reads the record in place instead of copying it.
  /// `record_reader` leaves at least 64; 0 when unknown.
  std::size_t padding = 0;
};

/// The name `record_reader`'s records had before they were `input_record`s; kept so that code
/// written against it still compiles.
using framed_record = input_record;

namespace detail {

// The padding of any record type with `bytes` and `position`: its `padding` member if it has
// one, else 0.
template <class R, class = void>
struct record_padding {
  static std::size_t of(const R&) noexcept { return 0; }
};
template <class R>
struct record_padding<R, std::void_t<decltype(std::declval<const R&>().padding)>> {
  static std::size_t of(const R& r) noexcept { return static_cast<std::size_t>(r.padding); }
};

}  // namespace detail

}  // namespace sincehash

#endif  // SINCEHASH_RECORD_HPP
