#ifndef SINCEHASH_DETAIL_HASH_SINK_HPP
#define SINCEHASH_DETAIL_HASH_SINK_HPP

// The canonical encoder, driven by a document-access policy through a stream of events.
//
// Canonical encoding, version 1 (a change to anything below requires a new encoding version):
//   value   := 0x01                                  null
//            | 0x02 | 0x03                           false | true
//            | 0x04 len text                         number: canonical decimal text
//                                                    (detail/canonical_number.hpp)
//            | 0x05 len bytes                        string: UTF-8 bytes, JSON escapes resolved
//            | 0x0A i64                              instant (normalizer): ns since the Unix epoch
//            | 0x06 element* 0x07                    array, in order; an ignored element is 0x00
//            | 0x08 (0x0B len key value)* 0x09       object, members sorted by key bytes (unsigned),
//                                                    ignored members left out; a duplicated key
//                                                    keeps its last value
//   len     := 4-byte little-endian unsigned byte count; i64 := 8-byte little-endian two's complement
//   message := slot*            watched mode: one per watched path in canonical path order, each a
//                               value or 0x00 when the path leads nowhere
//            | value            whole-record mode: the record object minus ignored fields
// Every value is self-delimiting and no value starts with 0x00, 0x07, 0x09 or 0x0B, so distinct
// inputs never produce the same message.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sincehash/detail/canonical_number.hpp"
#include "sincehash/detail/hash_plan.hpp"
#include "sincehash/detail/hash_types.hpp"
#include "sincehash/error.hpp"
#include "sincehash/time.hpp"

namespace sincehash::detail {

namespace tag {
inline constexpr char missing = 0x00;
inline constexpr char null = 0x01;
inline constexpr char false_value = 0x02;
inline constexpr char true_value = 0x03;
inline constexpr char number = 0x04;
inline constexpr char string = 0x05;
inline constexpr char array_begin = 0x06;
inline constexpr char array_end = 0x07;
inline constexpr char object_begin = 0x08;
inline constexpr char object_end = 0x09;
inline constexpr char instant = 0x0A;
inline constexpr char key = 0x0B;
}  // namespace tag

inline bool is_ascii_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

inline std::string_view trim_ascii(std::string_view s) noexcept {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

/// Appends `s` with capital letters mapped to small ones: ASCII, Latin-1 (U+00C0-U+00DE but
/// U+00D7), Greek (U+0391-U+03A9) and Cyrillic (U+0400-U+042F). Other bytes are copied.
inline void append_lower(std::string_view s, std::string& out) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c + 32));
      continue;
    }
    if (i + 1 < s.size() && (c == 0xC3 || c == 0xCE || c == 0xD0)) {
      auto d = static_cast<unsigned char>(s[i + 1]);
      unsigned char a = c;
      unsigned char b = d;
      if (c == 0xC3 && d >= 0x80 && d <= 0x9E && d != 0x97) {
        b = static_cast<unsigned char>(d + 0x20);
      } else if (c == 0xCE && d >= 0x91 && d <= 0x9F) {
        b = static_cast<unsigned char>(d + 0x20);
      } else if (c == 0xCE && d >= 0xA0 && d <= 0xA9 && d != 0xA2) {
        a = 0xCF;
        b = static_cast<unsigned char>(d - 0x20);
      } else if (c == 0xD0 && d >= 0x90 && d <= 0x9F) {
        b = static_cast<unsigned char>(d + 0x20);
      } else if (c == 0xD0 && d >= 0xA0 && d <= 0xAF) {
        a = 0xD1;
        b = static_cast<unsigned char>(d - 0x20);
      } else if (c == 0xD0 && d >= 0x80 && d <= 0x8F) {
        a = 0xD1;
        b = static_cast<unsigned char>(d + 0x10);
      }
      out.push_back(static_cast<char>(a));
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
}

/// Receives a record as events and produces its canonical message and extracted values.
/// The protocol an access policy follows (see access.hpp):
///   begin_record(); then the root object: begin_object(), for each member key(k) and, when it
///   returns true, that member's value; end_object(). A value is one scalar call or a nested
///   begin_object()/begin_array() ... end_*(); inside an array, element() precedes each element
///   and says whether it is wanted. A member or element that is not wanted may be skipped (its
///   events must then not be sent). Members may come in any order.
/// Any call may fail (nesting too deep, a bad number literal, a string over 4 GiB); `failed()`
/// then stays true, later calls are ignored, and the access policy should stop early.
/// Not thread-safe; reused across records without allocating once warm.
class record_sink {
 public:
  /// Deepest nesting of objects and arrays accepted inside wanted values.
  static constexpr std::size_t max_depth = 512;

  record_sink() = default;
  explicit record_sink(const hash_plan* plan) : plan_(plan) {
    slots_.resize(plan->slot_count());
    present_.resize(plan->slot_count(), 0);
    extras_.resize(plan->extra_count());
    extra_text_.resize(plan->extra_count());
  }

  /// Says whether the texts handed to the value calls of the records to come stay valid (and
  /// unchanged) until the next record starts, as an access policy that reads them out of the
  /// record or out of a parser's buffer can promise: extracted values are then kept as views
  /// instead of copies. False (copies) until an access policy says otherwise.
  void set_stable_text(bool stable) noexcept { stable_text_ = stable; }

  /// Starts a new record; forgets everything about the previous one.
  void begin_record() noexcept {
    located_ = false;
    std::fill(present_.begin(), present_.end(), std::uint8_t{0});
    for (auto& e : extras_) e = value_view{};
    frames_.clear();
    members_.clear();
    out_ = nullptr;
    failed_ = false;
    pending_ = context{plan_->root(), false, plan_->root()->norm};
  }

  /// An object starts (the record itself first). False once the sink has failed.
  bool begin_object() {
    if (!enter()) return false;
    if (!begin_value(value_kind::object, {})) return false;
    push_frame(true);
    if (frames_.back().ctx.capture) out_->push_back(tag::object_begin);
    return true;
  }

  /// Which member keys of the object being read can be wanted, by length: a key of n bytes with
  /// `length_bit(n)` clear here is not (`key` would return false), so a walk may skip it without
  /// calling `key`. Fixed while the object's members are read; 0 once the sink has failed.
  [[nodiscard]] std::uint64_t wanted_key_lengths() const noexcept {
    if (failed_) return 0;
    const context& c = frames_.back().ctx;
    if (c.capture) return ~std::uint64_t{0};
    return c.node ? c.node->child_lengths : 0;
  }

  /// A member key (unescaped bytes); true when its value is wanted.
  bool key(std::string_view k) {
    if (failed_) return false;
    frame& f = frames_.back();
    const plan_node* child = f.ctx.node ? plan_->child(f.ctx.node, k) : nullptr;
    bool capture = f.ctx.capture && !(child && child->ignored);
    if (capture) {
      if (k.size() > UINT32_MAX) return fail_with(errc::out_of_range, "a key longer than 4 GiB");
      members_.push_back(out_->size());
      out_->push_back(tag::key);
      put_u32(k.size());
      out_->append(k.data(), k.size());
    }
    if (child) forget(child);
    pending_ = context{child, capture, static_cast<std::uint8_t>(f.ctx.norm | (child ? child->norm : 0))};
    return capture || child != nullptr;
  }

  void end_object() {
    if (failed_) return;
    frame f = frames_.back();
    frames_.pop_back();
    if (f.ctx.capture) {
      sort_members(f.member_base);
      out_->push_back(tag::object_end);
      members_.resize(f.member_base);
    }
    if (f.starts_capture) out_ = nullptr;
  }

  bool begin_array() {
    if (!enter()) return false;
    if (!begin_value(value_kind::array, {})) return false;
    push_frame(false);
    if (frames_.back().ctx.capture) out_->push_back(tag::array_begin);
    return true;
  }

  /// The next array element follows; true when it is wanted.
  bool element() {
    if (failed_) return false;
    frame& f = frames_.back();
    std::size_t index = f.next_index++;
    const plan_node* child = nullptr;
    if (f.ctx.node && f.ctx.node->index_children) {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, index);
      child = plan_->child(f.ctx.node, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    bool capture = f.ctx.capture && !(child && child->ignored);
    if (f.ctx.capture && !capture) out_->push_back(tag::missing);
    if (child) forget(child);
    pending_ = context{child, capture, static_cast<std::uint8_t>(f.ctx.norm | (child ? child->norm : 0))};
    return capture || child != nullptr;
  }

  void end_array() {
    if (failed_) return;
    frame f = frames_.back();
    frames_.pop_back();
    if (f.ctx.capture) out_->push_back(tag::array_end);
    if (f.starts_capture) out_ = nullptr;
  }

  void null_value() {
    if (!begin_value(value_kind::null, "null")) return;
    if (pending_.capture) out_->push_back(tag::null);
    end_scalar();
  }

  void bool_value(bool v) {
    if (!begin_value(value_kind::boolean, v ? "true" : "false")) return;
    if (pending_.capture) out_->push_back(v ? tag::true_value : tag::false_value);
    end_scalar();
  }

  /// A number, as its JSON literal (validated here).
  bool number_value(std::string_view literal) {
    if (!begin_value(value_kind::number, literal == "-0" ? std::string_view("0") : literal)) return false;
    number_status st = number_status::ok;
    if (pending_.capture) {
      std::size_t at = out_->size();
      out_->push_back(tag::number);
      out_->append(4, '\0');
      st = append_canonical_number(literal, *out_);
      if (st == number_status::ok) {
        patch_u32(at + 1, out_->size() - at - 5);
      } else {
        out_->resize(at);
      }
    } else {
      scratch_.clear();
      st = append_canonical_number(literal, scratch_);
    }
    if (st != number_status::ok) {
      return fail_with(st == number_status::bad_syntax ? errc::parse_error : errc::out_of_range,
                       "invalid number literal '" + std::string(literal.substr(0, 40)) + "'");
    }
    end_scalar();
    return true;
  }

  /// A string's contents, JSON escapes resolved.
  bool string_value(std::string_view s) {
    if (!begin_value(value_kind::string, s)) return false;
    if (pending_.capture) {
      if (!encode_string(s, pending_.norm)) return false;
    }
    end_scalar();
    return true;
  }

  /// Encodes already-located scalars, one per slot in slot order, straight into the message
  /// (watched mode). False (with `error()` set) on a non-scalar or a bad number literal.
  bool encode_located_message(const value_view* values, std::size_t count) {
    failed_ = false;
    located_ = true;
    if (located_fast_path(values, count)) return true;
    message_.clear();
    out_ = &message_;
    bool ok = true;
    for (std::size_t i = 0; i < count && ok; ++i) {
      const value_view& v = values[i];
      switch (v.kind) {
        case value_kind::missing:
          message_.push_back(tag::missing);
          break;
        case value_kind::null:
          message_.push_back(tag::null);
          break;
        case value_kind::boolean:
          message_.push_back(v.text == "true" ? tag::true_value : tag::false_value);
          break;
        case value_kind::number: {
          std::size_t at = message_.size();
          message_.push_back(tag::number);
          message_.append(4, '\0');
          if (append_canonical_number(v.text, message_) != number_status::ok) {
            ok = fail_with(errc::invalid_argument,
                           "invalid number literal '" + std::string(v.text.substr(0, 40)) + "'");
          } else {
            patch_u32(at + 1, message_.size() - at - 5);
          }
          break;
        }
        case value_kind::string:
          ok = encode_string(v.text, plan_->slot_norm(i));
          break;
        case value_kind::object:
        case value_kind::array:
          ok = fail_with(errc::invalid_argument, "an already-located value must be a scalar");
          break;
      }
    }
    out_ = nullptr;
    return ok;
  }

  // Strings, booleans, null and missing values without normalizers: one resize, plain copies.
  bool located_fast_path(const value_view* values, std::size_t count) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const value_view& v = values[i];
      if (v.kind == value_kind::string) {
        if (plan_->slot_norm(i) != 0 || v.text.size() > UINT32_MAX) return false;
        total += 5 + v.text.size();
      } else if (v.kind == value_kind::missing || v.kind == value_kind::null ||
                 v.kind == value_kind::boolean) {
        total += 1;
      } else {
        return false;
      }
    }
    message_.resize(total);
    char* p = &message_[0];
    for (std::size_t i = 0; i < count; ++i) {
      const value_view& v = values[i];
      switch (v.kind) {
        case value_kind::string: {
          const std::size_t n = v.text.size();
          p[0] = tag::string;
          p[1] = static_cast<char>(n & 0xFF);
          p[2] = static_cast<char>((n >> 8) & 0xFF);
          p[3] = static_cast<char>((n >> 16) & 0xFF);
          p[4] = static_cast<char>((n >> 24) & 0xFF);
          if (n != 0) std::memcpy(p + 5, v.text.data(), n);
          p += 5 + n;
          break;
        }
        case value_kind::null:
          *p++ = tag::null;
          break;
        case value_kind::boolean:
          *p++ = v.text == "true" ? tag::true_value : tag::false_value;
          break;
        default:
          *p++ = tag::missing;
          break;
      }
    }
    return true;
  }

  /// The message built by `encode_located_message`.
  [[nodiscard]] std::string_view located_message() const noexcept { return message_; }

  /// True when the innermost open object or array is being encoded, i.e. all its members are
  /// wanted. When false, only the keys between `child_keys_begin()` and `child_keys_end()` can be.
  [[nodiscard]] bool capturing() const noexcept { return !frames_.empty() && frames_.back().ctx.capture; }
  /// The keys the plan names below the innermost open object or array (none when it names none).
  [[nodiscard]] const plan_edge* child_keys_begin() const noexcept {
    const plan_node* n = frames_.empty() ? nullptr : frames_.back().ctx.node;
    return n ? plan_->edges_begin(n) : nullptr;
  }
  [[nodiscard]] const plan_edge* child_keys_end() const noexcept {
    const plan_node* n = frames_.empty() ? nullptr : frames_.back().ctx.node;
    return n ? plan_->edges_end(n) : nullptr;
  }

  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] const error_info& error() const noexcept { return error_; }

  /// Reports a failure found by the access policy (a parse error, a non-object root).
  void set_error(error_info e) {
    failed_ = true;
    error_ = std::move(e);
  }

  /// The canonical message of the record just read (or of the values just encoded by
  /// `encode_located_message`). Valid until the next record.
  [[nodiscard]] std::string_view message() {
    if (located_) return message_;
    if (plan_->whole_record()) return present_[0] ? std::string_view(slots_[0]) : std::string_view();
    message_.clear();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (present_[i]) {
        message_ += slots_[i];
      } else {
        message_.push_back(tag::missing);
      }
    }
    return message_;
  }

  /// The encoding of watched slot `i` of the record just read (watched mode): its value, or the
  /// missing tag when the path led nowhere. Valid until the next record.
  [[nodiscard]] std::string_view slot_message(std::size_t i) const noexcept {
    static constexpr char missing_slot[1] = {tag::missing};
    return present_[i] ? std::string_view(slots_[i]) : std::string_view(missing_slot, 1);
  }

  /// The extracted values of the record just read, in configuration order. Their text is owned by
  /// the sink and valid until the next record.
  [[nodiscard]] const std::vector<value_view>& extras() const noexcept { return extras_; }

 private:
  struct context {
    const plan_node* node = nullptr;
    bool capture = false;
    std::uint8_t norm = 0;
  };
  struct frame {
    context ctx;
    bool object = false;
    bool starts_capture = false;
    std::size_t member_base = 0;
    std::size_t next_index = 0;
  };

  bool fail_with(errc code, std::string message) {
    if (!failed_) set_error(error_info{code, std::move(message), no_position});
    return false;
  }

  bool enter() {
    if (failed_) return false;
    if (frames_.size() >= max_depth) {
      return fail_with(errc::invalid_record, "nesting deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  }

  // Records extras and starts a capture when the pending value is a watched slot.
  bool begin_value(value_kind kind, std::string_view text) {
    if (failed_) return false;
    starts_capture_ = false;
    const plan_node* n = pending_.node;
    if (n) {
      if (n->extras) {
        std::uint64_t bits = n->extras;
        while (bits) {
          unsigned i = 0;
          while (!((bits >> i) & 1U)) ++i;
          bits &= bits - 1;
          if (stable_text_) {
            extras_[i] = value_view{kind, text};
            continue;
          }
          std::string& keep = extra_text_[i];
          if (text.empty()) {
            keep.clear();
          } else {
            keep.assign(text.data(), text.size());
          }
          extras_[i] = value_view{kind, std::string_view(keep)};
        }
      }
      if (n->slot >= 0 && !pending_.capture) {
        auto s = static_cast<std::size_t>(n->slot);
        out_ = &slots_[s];
        out_->clear();
        present_[s] = 1;
        pending_.capture = true;
        starts_capture_ = true;
      }
    }
    return true;
  }

  void end_scalar() noexcept {
    if (starts_capture_) out_ = nullptr;
  }

  void push_frame(bool object) {
    frame f;
    f.ctx = pending_;
    f.object = object;
    f.starts_capture = starts_capture_;
    f.member_base = members_.size();
    frames_.push_back(f);
  }

  // A key seen again replaces what an earlier occurrence left in slots and extras below it.
  void forget(const plan_node* n) noexcept {
    for (std::uint32_t s = n->slot_lo; s < n->slot_hi; ++s) {
      if (&slots_[s] != out_) present_[s] = 0;
    }
    std::uint64_t bits = n->subtree_extras;
    while (bits) {
      unsigned i = 0;
      while (!((bits >> i) & 1U)) ++i;
      bits &= ~(std::uint64_t{1} << i);
      extras_[i] = value_view{};
    }
  }

  void put_u32(std::size_t v) {
    char b[4] = {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF),
                 static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 24) & 0xFF)};
    out_->append(b, 4);
  }
  void patch_u32(std::size_t at, std::size_t v) {
    (*out_)[at] = static_cast<char>(v & 0xFF);
    (*out_)[at + 1] = static_cast<char>((v >> 8) & 0xFF);
    (*out_)[at + 2] = static_cast<char>((v >> 16) & 0xFF);
    (*out_)[at + 3] = static_cast<char>((v >> 24) & 0xFF);
  }

  bool encode_string(std::string_view s, std::uint8_t norm) {
    if (norm & norm_trim) s = trim_ascii(s);
    if (norm & norm_instant) {
      auto t = parse_iso8601(s);
      if (t) {
        auto ns = static_cast<std::uint64_t>(t->time_since_epoch().count());
        out_->push_back(tag::instant);
        for (int i = 0; i < 8; ++i) out_->push_back(static_cast<char>((ns >> (8 * i)) & 0xFF));
        return true;
      }
    }
    if (s.size() > UINT32_MAX) return fail_with(errc::out_of_range, "a string longer than 4 GiB");
    out_->push_back(tag::string);
    if (norm & norm_lower) {
      std::size_t at = out_->size();
      out_->append(4, '\0');
      append_lower(s, *out_);
      patch_u32(at, out_->size() - at - 4);
    } else {
      put_u32(s.size());
      out_->append(s.data(), s.size());
    }
    return true;
  }

  std::string_view member_key(std::size_t at) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(out_->data() + at + 1);
    std::size_t len =
        std::size_t{p[0]} | (std::size_t{p[1]} << 8) | (std::size_t{p[2]} << 16) | (std::size_t{p[3]} << 24);
    return std::string_view(out_->data() + at + 5, len);
  }

  // Sorts the members written since `base` by key; a repeated key keeps its last member.
  void sort_members(std::size_t base) {
    const std::size_t count = members_.size() - base;
    if (count == 0) return;
    bool sorted = true;
    for (std::size_t i = base + 1; i < members_.size(); ++i) {
      if (field_path::compare_bytes(member_key(members_[i - 1]), member_key(members_[i])) >= 0) {
        sorted = false;
        break;
      }
    }
    if (sorted) return;
    order_.resize(count);
    for (std::size_t i = 0; i < count; ++i) order_[i] = i;
    std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      return field_path::compare_bytes(member_key(members_[base + a]), member_key(members_[base + b])) < 0;
    });
    const std::size_t region = members_[base];
    auto end_of = [&](std::size_t i) { return i + 1 < count ? members_[base + i + 1] : out_->size(); };
    scratch_.clear();
    for (std::size_t k = 0; k < count; ++k) {
      if (k + 1 < count &&
          member_key(members_[base + order_[k]]) == member_key(members_[base + order_[k + 1]])) {
        continue;
      }
      std::size_t i = order_[k];
      scratch_.append(out_->data() + members_[base + i], end_of(i) - members_[base + i]);
    }
    out_->resize(region);
    out_->append(scratch_);
  }

  const hash_plan* plan_ = nullptr;
  context pending_;
  bool starts_capture_ = false;
  std::vector<frame> frames_;
  std::vector<std::string> slots_;
  std::vector<std::uint8_t> present_;
  std::vector<std::size_t> members_;
  std::vector<std::size_t> order_;
  std::string* out_ = nullptr;
  std::vector<value_view> extras_;
  std::vector<std::string> extra_text_;
  std::string scratch_;
  std::string message_;
  error_info error_;
  bool failed_ = false;
  bool stable_text_ = false;  // value texts outlive the record's reading: extras are views
  bool located_ = false;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_HASH_SINK_HPP
