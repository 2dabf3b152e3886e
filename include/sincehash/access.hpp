#ifndef SINCEHASH_ACCESS_HPP
#define SINCEHASH_ACCESS_HPP

// Document-access policies: how a field hasher reads a record.
//
// The Access interface. A type `A` is a document-access policy when it is movable and provides
//
//   result<void> A::read(std::string_view json, record_sink& sink);
//
// which parses the bytes of ONE JSON text and reports its root object to `sink` following the
// protocol documented on `record_sink` (detail/hash_sink.hpp): `sink.begin_record()`, then the
// root object's events. It returns
//   - `errc::parse_error`, with the byte position where known, when the bytes are not JSON;
//   - `errc::invalid_record` when they are JSON but the root is not an object;
//   - the sink's error (`sink.error()`) when the sink failed;
//   - success otherwise.
// It may add `result<void> read(const Document&, record_sink&)` overloads for documents it can
// read without parsing (nlohmann_access takes a `nlohmann::json`). An access object may keep
// reusable state (parser, buffers); it is used by one thread at a time; copies are independent.
//
// Two policies ship: `nlohmann_access` (here, the default) and `simdjson_access`
// (access_simdjson.hpp, the fast path for raw bytes). For the same JSON text both report the same
// events, so a hasher gives the same digest and the same extracted values with either.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sincehash/detail/hash_sink.hpp"
#include "sincehash/detail/hash_types.hpp"
#include "sincehash/error.hpp"

namespace sincehash {

/// The event interface a document-access policy drives (see detail/hash_sink.hpp for the protocol).
using record_sink = detail::record_sink;

namespace detail {

inline const char* json_kind_name(value_kind k) noexcept {
  switch (k) {
    case value_kind::null:
      return "null";
    case value_kind::boolean:
      return "a boolean";
    case value_kind::number:
      return "a number";
    case value_kind::string:
      return "a string";
    case value_kind::array:
      return "an array";
    case value_kind::object:
      return "an object";
    case value_kind::missing:
      break;
  }
  return "nothing";
}

inline error_info not_an_object(value_kind k) {
  return fail(errc::invalid_record,
              std::string("the record is not a JSON object (it is ") + json_kind_name(k) + ")", 0);
}

// nlohmann SAX events → record_sink events, skipping what the sink does not want.
class nlohmann_sax_adapter {
 public:
  using json = nlohmann::json;

  nlohmann_sax_adapter(record_sink& sink, std::string& stack) : sink_(sink), stack_(stack) { stack_.clear(); }

  bool null() { return deliver_scalar(value_kind::null) ? (sink_.null_value(), ok()) : ok(); }
  bool boolean(bool v) { return deliver_scalar(value_kind::boolean) ? (sink_.bool_value(v), ok()) : ok(); }
  bool number_integer(json::number_integer_t v) { return integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return integer(v); }
  bool number_float(json::number_float_t, const json::string_t& literal) {
    if (deliver_scalar(value_kind::number)) sink_.number_value(literal);
    return ok();
  }
  bool string(json::string_t& s) {
    if (deliver_scalar(value_kind::string)) sink_.string_value(s);
    return ok();
  }
  bool binary(json::binary_t&) {
    sink_.set_error(fail(errc::invalid_record, "binary values are not JSON"));
    return false;
  }
  bool start_object(std::size_t) {
    if (!deliver_container(value_kind::object)) return ok();
    stack_.push_back('o');
    sink_.begin_object();
    return ok();
  }
  bool key(json::string_t& k) {
    if (skip_ > 0) return true;
    skip_next_ = !sink_.key(k);
    return ok();
  }
  bool end_object() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    stack_.pop_back();
    sink_.end_object();
    return ok();
  }
  bool start_array(std::size_t) {
    if (!deliver_container(value_kind::array)) return ok();
    stack_.push_back('a');
    sink_.begin_array();
    return ok();
  }
  bool end_array() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    stack_.pop_back();
    sink_.end_array();
    return ok();
  }
  bool parse_error(std::size_t position, const std::string&, const json::exception& e) {
    parse_failed_ = true;
    position_ = position > 0 ? position - 1 : 0;
    message_ = e.what();
    return false;
  }

  [[nodiscard]] bool parse_failed() const noexcept { return parse_failed_; }
  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] value_kind root_kind() const noexcept { return root_kind_; }

 private:
  bool ok() const noexcept { return !sink_.failed(); }

  template <class Int>
  bool integer(Int v) {
    if (!deliver_scalar(value_kind::number)) return ok();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    sink_.number_value(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    return ok();
  }

  // Whether a value's events go to the sink; decides the root's fate on the first value.
  bool wanted(value_kind k) {
    if (root_kind_ == value_kind::missing) {
      root_kind_ = k;
      return k == value_kind::object;
    }
    if (root_kind_ != value_kind::object) return false;
    if (stack_.back() == 'a') return sink_.element();
    bool w = !skip_next_;
    skip_next_ = false;
    return w;
  }
  bool deliver_scalar(value_kind k) {
    if (skip_ > 0) return false;
    return wanted(k);
  }
  bool deliver_container(value_kind k) {
    if (skip_ > 0 || !wanted(k)) {
      ++skip_;
      return false;
    }
    return true;
  }

  record_sink& sink_;
  std::string& stack_;
  std::size_t skip_ = 0;
  bool skip_next_ = false;
  value_kind root_kind_ = value_kind::missing;
  bool parse_failed_ = false;
  std::size_t position_ = 0;
  std::string message_;
};

}  // namespace detail

/// The default document-access policy, built on nlohmann::json. Reads raw JSON text in one
/// streaming (SAX) pass without building a document, keeping number literals exact; also reads an
/// already-parsed `nlohmann::json`, in which case a floating-point number is taken as the
/// shortest decimal that reads back as its double (equal to the literal whenever the literal has
/// at most 15 significant digits), and integers exactly. Not thread-safe; copies are independent.
/// nlohmann rejects numbers outside the double range (1e400) as not JSON.
class nlohmann_access {
 public:
  /// Reads the JSON text `json` (UTF-8) into `sink`. See the Access interface above.
  result<void> read(std::string_view json, record_sink& sink) {
    sink.begin_record();
    detail::nlohmann_sax_adapter adapter(sink, stack_);
    try {
      nlohmann::json::sax_parse(json.data(), json.data() + json.size(), &adapter);
    } catch (const std::exception& e) {
      return fail(errc::parse_error, e.what());
    }
    if (adapter.parse_failed()) return fail(errc::parse_error, adapter.message(), adapter.position());
    if (sink.failed()) return sink.error();
    if (adapter.root_kind() != value_kind::object) return detail::not_an_object(adapter.root_kind());
    return {};
  }

  /// Reads an already-parsed document into `sink`.
  result<void> read(const nlohmann::json& doc, record_sink& sink) {
    if (!doc.is_object()) return detail::not_an_object(kind_of(doc));
    sink.begin_record();
    walk(doc, sink);
    if (sink.failed()) return sink.error();
    return {};
  }

 private:
  static value_kind kind_of(const nlohmann::json& v) noexcept {
    switch (v.type()) {
      case nlohmann::json::value_t::null:
        return value_kind::null;
      case nlohmann::json::value_t::boolean:
        return value_kind::boolean;
      case nlohmann::json::value_t::number_integer:
      case nlohmann::json::value_t::number_unsigned:
      case nlohmann::json::value_t::number_float:
        return value_kind::number;
      case nlohmann::json::value_t::string:
        return value_kind::string;
      case nlohmann::json::value_t::array:
        return value_kind::array;
      case nlohmann::json::value_t::object:
        return value_kind::object;
      default:
        return value_kind::missing;
    }
  }

  static void walk(const nlohmann::json& v, record_sink& sink) {
    char buf[32];
    switch (v.type()) {
      case nlohmann::json::value_t::object:
        if (!sink.begin_object()) return;
        if (sink.capturing()) {
          for (auto it = v.begin(); it != v.end(); ++it) {
            if (sink.key(it.key())) walk(it.value(), sink);
            if (sink.failed()) return;
          }
        } else {
          for (const auto* e = sink.child_keys_begin(); e != sink.child_keys_end(); ++e) {
            auto it = v.find(e->key);
            if (it == v.end()) continue;
            if (sink.key(e->key)) walk(*it, sink);
            if (sink.failed()) return;
          }
        }
        sink.end_object();
        return;
      case nlohmann::json::value_t::array:
        if (!sink.begin_array()) return;
        for (const auto& e : v) {
          if (sink.element()) walk(e, sink);
          if (sink.failed()) return;
        }
        sink.end_array();
        return;
      case nlohmann::json::value_t::string:
        sink.string_value(v.get_ref<const std::string&>());
        return;
      case nlohmann::json::value_t::boolean:
        sink.bool_value(v.get<bool>());
        return;
      case nlohmann::json::value_t::null:
        sink.null_value();
        return;
      case nlohmann::json::value_t::number_integer: {
        auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
        sink.number_value(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
        return;
      }
      case nlohmann::json::value_t::number_unsigned: {
        auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>());
        sink.number_value(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
        return;
      }
      case nlohmann::json::value_t::number_float: {
        std::size_t n = detail::shortest_double_text(v.get<double>(), buf);
        if (n == 0) {
          sink.set_error(fail(errc::invalid_record, "a non-finite number (NaN or infinity)"));
          return;
        }
        sink.number_value(std::string_view(buf, n));
        return;
      }
      default:
        sink.set_error(fail(errc::invalid_record, "a binary or discarded value is not JSON"));
        return;
    }
  }

  std::string stack_;
};

}  // namespace sincehash

#endif  // SINCEHASH_ACCESS_HPP
