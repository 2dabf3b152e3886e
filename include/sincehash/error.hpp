#ifndef SINCEHASH_ERROR_HPP
#define SINCEHASH_ERROR_HPP

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sincehash {

/// Error codes shared by every component. The numeric values are stable: they may be stored
/// or compared across versions.
enum class errc : int {
  ok = 0,            ///< no error
  invalid_argument,  ///< a caller passed a value outside the documented domain
  parse_error,       ///< input text does not follow the expected grammar
  out_of_range,      ///< a value parsed but lies outside the representable range
  invalid_date,      ///< a date is well-formed text but names no real instant (Feb 30, 25:00)
  config_error,      ///< a configuration key is unknown, missing or has a bad value
  invalid_record,    ///< a polled record cannot be classified (not an object, no id, ...)
  store_error,       ///< a state store failed; nothing was committed
  conflict,          ///< a concurrent writer or a stale lease token was detected
  io_error,          ///< reading or writing a file or stream failed
  unsupported,       ///< the operation needs a facility this build or system lacks
  crypto_error,      ///< a sealed value failed to open or a key is wrong
  busy,              ///< another run holds the partition's lease
};

/// A short stable name for an error code, e.g. "parse_error". Never null.
[[nodiscard]] constexpr const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::parse_error:
      return "parse_error";
    case errc::out_of_range:
      return "out_of_range";
    case errc::invalid_date:
      return "invalid_date";
    case errc::config_error:
      return "config_error";
    case errc::invalid_record:
      return "invalid_record";
    case errc::store_error:
      return "store_error";
    case errc::conflict:
      return "conflict";
    case errc::io_error:
      return "io_error";
    case errc::unsupported:
      return "unsupported";
    case errc::crypto_error:
      return "crypto_error";
    case errc::busy:
      return "busy";
  }
  return "unknown";
}

/// Marks an error that has no meaningful byte position.
inline constexpr std::size_t no_position = static_cast<std::size_t>(-1);

/// What went wrong: a code, a human-readable message naming what is wrong and where, and the
/// byte position in the input (or `no_position`).
struct error_info {
  errc code = errc::ok;
  std::string message;
  std::size_t position = no_position;

  /// "parse_error at byte 7: expected ':'" — the message prefixed with code and position.
  [[nodiscard]] std::string describe() const {
    std::string out = to_string(code);
    if (position != no_position) {
      out += " at byte ";
      out += std::to_string(position);
    }
    out += ": ";
    out += message;
    return out;
  }
};

/// The exception thrown at configuration and I/O boundaries. Carries the same code, message and
/// position as an `error_info`; `what()` is `error_info::describe()`.
class error : public std::runtime_error {
 public:
  explicit error(error_info info) : std::runtime_error(info.describe()), info_(std::move(info)) {}
  error(errc code, std::string message, std::size_t position = no_position)
      : error(error_info{code, std::move(message), position}) {}

  /// The error code.
  [[nodiscard]] errc code() const noexcept { return info_.code; }
  /// The message without code or position.
  [[nodiscard]] const std::string& message() const noexcept { return info_.message; }
  /// The byte position in the input, or `no_position`.
  [[nodiscard]] std::size_t position() const noexcept { return info_.position; }
  /// Everything at once.
  [[nodiscard]] const error_info& info() const noexcept { return info_; }

 private:
  error_info info_;
};

/// Thrown by a store's `commit` when a condition of the batch (`commit_batch::expect`) no longer
/// holds: another writer changed one of the records since they were read. Nothing of the batch
/// was applied. `ids()` names the records whose state changed (sorted, distinct); the detector
/// re-reads and re-classifies exactly those (see `change_detector::commit`).
class commit_conflict : public error {
 public:
  commit_conflict(std::string message, std::vector<std::string> ids)
      : error(errc::conflict, std::move(message)), ids_(std::move(ids)) {}
  /// The ids whose state is no longer the one the batch was classified against.
  [[nodiscard]] const std::vector<std::string>& ids() const noexcept { return ids_; }

 private:
  std::vector<std::string> ids_;
};

/// One thing wrong with a configuration: where (a JSON Pointer into the document as given, with
/// a string-encoded poller configuration entered as if it were an object) and why.
struct config_problem {
  std::string where;         ///< e.g. "/configuration/event.poller.configuration/contacts/idField"
  std::string reason;        ///< e.g. "missing: the record id field is required"
  bool unknown_key = false;  ///< the problem is a key sincehash does not know

  /// "where: reason"
  [[nodiscard]] std::string describe() const { return where.empty() ? reason : where + ": " + reason; }
};

/// Thrown when a configuration has problems (code `errc::config_error`), by the configuration
/// reader and by every component that validates settings: carries every problem found, unknown
/// keys first. Functions that return a `result` report the same kind of problem as an
/// `error_info` with that code instead.
class invalid_config : public error {
 public:
  explicit invalid_config(std::vector<config_problem> problems)
      : error(errc::config_error, join(problems)), problems_(std::move(problems)) {}
  /// One problem: `where` as in `config_problem` (empty when the setting has no place in a
  /// document, e.g. a key file's content).
  invalid_config(std::string where, std::string reason)
      : invalid_config(std::vector<config_problem>{{std::move(where), std::move(reason)}}) {}

  /// Every problem found, unknown keys first, then in document order.
  [[nodiscard]] const std::vector<config_problem>& problems() const noexcept { return problems_; }

 private:
  static std::string join(const std::vector<config_problem>& problems) {
    std::string out;
    for (const auto& p : problems) {
      if (!out.empty()) out += "; ";
      out += p.describe();
    }
    return out;
  }
  std::vector<config_problem> problems_;
};

namespace detail {
struct unexpect_tag {};
}  // namespace detail

/// Build the error alternative of a `result<T>`: `return fail(errc::parse_error, "...", pos);`
[[nodiscard]] inline error_info fail(errc code, std::string message, std::size_t position = no_position) {
  return error_info{code, std::move(message), position};
}

/// An expected-like value for hot paths: either a `T` or an `error_info`. Never throws unless
/// `value()` is called on an error, which throws `sincehash::error`.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference<T>::value, "sincehash::result<T> requires T not to be a reference");
  static_assert(!std::is_same<std::decay_t<T>, error_info>::value,
                "sincehash::result<T> requires T other than error_info");

 public:
  using value_type = T;

  /// A success holding `v`.
  template <class U = T, std::enable_if_t<std::is_constructible<T, U&&>::value &&
                                              !std::is_same<std::decay_t<U>, result>::value &&
                                              !std::is_same<std::decay_t<U>, error_info>::value,
                                          int> = 0>
  result(U&& v) noexcept(std::is_nothrow_constructible<T, U&&>::value)  // NOLINT: implicit by design
      : ok_(true) {
    ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
  }
  /// A failure holding `e`.
  result(error_info e) : ok_(false) {  // NOLINT: implicit by design
    ::new (static_cast<void*>(&error_)) error_info(std::move(e));
  }
  result(const result& other) : ok_(other.ok_) {
    if (ok_) {
      ::new (static_cast<void*>(&value_)) T(other.value_);
    } else {
      ::new (static_cast<void*>(&error_)) error_info(other.error_);
    }
  }
  result(result&& other) noexcept(std::is_nothrow_move_constructible<T>::value) : ok_(other.ok_) {
    if (ok_) {
      ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
    } else {
      ::new (static_cast<void*>(&error_)) error_info(std::move(other.error_));
    }
  }
  /// Assigns in place when both hold the same alternative. Otherwise the new alternative is
  /// built first: if building (or assigning) a `T` throws, this still holds what it held (or,
  /// for a `T` without assignment, an `errc::invalid_argument` error with no message).
  result& operator=(const result& other) {
    if (this != &other) {
      if (other.ok_) {
        assign_value(other.value_);
      } else {
        assign_error(other.error_);
      }
    }
    return *this;
  }
  result& operator=(result&& other) noexcept(
      std::conjunction<std::is_nothrow_move_constructible<T>, std::is_nothrow_move_assignable<T>>::value) {
    if (this != &other) {
      if (other.ok_) {
        assign_value(std::move(other.value_));
      } else {
        assign_error(std::move(other.error_));
      }
    }
    return *this;
  }
  ~result() { destroy(); }

  /// True when a value is held.
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  [[nodiscard]] explicit operator bool() const noexcept { return ok_; }

  /// The value; throws `sincehash::error` carrying the error when there is none.
  [[nodiscard]] T& value() & {
    if (!ok_) throw sincehash::error(error_);
    return value_;
  }
  [[nodiscard]] const T& value() const& {
    if (!ok_) throw sincehash::error(error_);
    return value_;
  }
  [[nodiscard]] T&& value() && {
    if (!ok_) throw sincehash::error(error_);
    return std::move(value_);
  }
  /// The value or `fallback` when there is none.
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return ok_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }

  /// Unchecked access: the caller has tested `has_value()`.
  [[nodiscard]] T& operator*() & noexcept { return value_; }
  [[nodiscard]] const T& operator*() const& noexcept { return value_; }
  [[nodiscard]] T* operator->() noexcept { return &value_; }
  [[nodiscard]] const T* operator->() const noexcept { return &value_; }

  /// The error; only meaningful when `has_value()` is false.
  [[nodiscard]] const error_info& error() const& noexcept { return error_; }
  [[nodiscard]] error_info&& error() && noexcept { return std::move(error_); }
  /// The error code, `errc::ok` on success.
  [[nodiscard]] errc code() const noexcept { return ok_ ? errc::ok : error_.code; }

 private:
  void destroy() noexcept {
    if (ok_) {
      value_.~T();
    } else {
      error_.~error_info();
    }
  }
  // `v` is `const T&` or `T&&`.
  template <class V>
  void assign_value(V&& v) {
    if (!ok_) {
      // The error is set aside (moving an error_info does not throw) and put back when building
      // the value throws.
      error_info held(std::move(error_));
      error_.~error_info();
      try {
        ::new (static_cast<void*>(&value_)) T(std::forward<V>(v));
      } catch (...) {
        ::new (static_cast<void*>(&error_)) error_info(std::move(held));
        throw;
      }
      ok_ = true;
    } else if constexpr (std::is_assignable<T&, V&&>::value) {
      value_ = std::forward<V>(v);
    } else {
      T next(std::forward<V>(v));
      value_.~T();
      ::new (static_cast<void*>(&error_)) error_info{errc::invalid_argument, std::string(), no_position};
      ok_ = false;
      assign_value(std::move(next));  // as above: an error again if the move throws
    }
  }
  // `e` is `const error_info&` or `error_info&&`.
  template <class E>
  void assign_error(E&& e) {
    if (!ok_) {
      error_ = std::forward<E>(e);
      return;
    }
    error_info next(std::forward<E>(e));  // a copy may throw: before anything is released
    value_.~T();
    ::new (static_cast<void*>(&error_)) error_info(std::move(next));
    ok_ = false;
  }
  union {
    T value_;
    error_info error_;
  };
  bool ok_;
};

/// `result<void>`: success or an `error_info`.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() = default;
  result(error_info e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  [[nodiscard]] explicit operator bool() const noexcept { return ok_; }
  /// Throws `sincehash::error` when this holds an error.
  void value() const {
    if (!ok_) throw sincehash::error(error_);
  }
  [[nodiscard]] const error_info& error() const& noexcept { return error_; }
  [[nodiscard]] errc code() const noexcept { return ok_ ? errc::ok : error_.code; }

 private:
  error_info error_;
  bool ok_ = true;
};

}  // namespace sincehash

#endif  // SINCEHASH_ERROR_HPP
