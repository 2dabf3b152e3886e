#include <sincehash/error.hpp>
#include <sincehash/version.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

using sincehash::errc;
using sincehash::result;

// A result is not silently convertible from its error code alone: errors carry a message.
static_assert(!std::is_convertible<errc, result<int>>::value, "an errc alone must not make a result");

TEST_CASE("result holds a value or an error, never both") {
  result<std::string> ok = std::string("abc");
  REQUIRE(ok.has_value());
  CHECK(*ok == "abc");
  CHECK(ok.code() == errc::ok);
  CHECK(ok->size() == 3);

  result<std::string> bad = sincehash::fail(errc::parse_error, "expected ':'", 7);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.code() == errc::parse_error);
  CHECK(bad.error().position == 7);
  CHECK(bad.error().describe() == "parse_error at byte 7: expected ':'");
  CHECK(bad.value_or("fallback") == "fallback");
}

TEST_CASE("value() on an error throws sincehash::error carrying code, message and position") {
  result<int> bad = sincehash::fail(errc::invalid_date, "February 30 does not exist", 8);
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == errc::invalid_date);
    CHECK(e.position() == 8);
    CHECK(e.message() == "February 30 does not exist");
    CHECK(std::string(e.what()) == "invalid_date at byte 8: February 30 does not exist");
  }
  result<void> v;
  CHECK_NOTHROW(v.value());
  result<void> vbad = sincehash::fail(errc::io_error, "disk full");
  CHECK_THROWS_AS(vbad.value(), sincehash::error);
  CHECK(vbad.error().describe() == "io_error: disk full");
}

TEST_CASE("result copies and moves keep the alternative and release what they own") {
  auto shared = std::make_shared<int>(5);
  {
    result<std::shared_ptr<int>> a = shared;
    result<std::shared_ptr<int>> b = a;
    CHECK(shared.use_count() == 3);
    result<std::shared_ptr<int>> c = sincehash::fail(errc::conflict, "stale token");
    c = b;  // error -> value
    CHECK(shared.use_count() == 4);
    b = sincehash::fail(errc::conflict, "again");  // value -> error
    CHECK(shared.use_count() == 3);
    CHECK(b.code() == errc::conflict);
    result<std::shared_ptr<int>> d = std::move(a);
    CHECK(d.has_value());
    CHECK(**d == 5);
  }
  CHECK(shared.use_count() == 1);
}

namespace {

// A value whose copies and moves throw when told to; `live` counts the constructed instances, so
// that a value destroyed twice or never shows.
struct fragile {
  static inline int live = 0;
  static inline bool copy_throws = false;
  static inline bool move_throws = false;
  int v = 0;
  explicit fragile(int x) : v(x) { ++live; }
  fragile(const fragile& o) : v(o.v) {
    if (copy_throws) throw std::runtime_error("copy");
    ++live;
  }
  fragile(fragile&& o) noexcept(false) : v(o.v) {
    if (move_throws) throw std::runtime_error("move");
    ++live;
  }
  fragile& operator=(const fragile& o) {
    if (copy_throws) throw std::runtime_error("copy");
    v = o.v;
    return *this;
  }
  fragile& operator=(fragile&& o) noexcept(false) {
    if (move_throws) throw std::runtime_error("move");
    v = o.v;
    return *this;
  }
  ~fragile() { --live; }
};

// The same without assignment: a result can only rebuild it.
struct fragile_fixed {
  fragile inner;
  explicit fragile_fixed(int x) : inner(x) {}
  fragile_fixed(const fragile_fixed&) = default;
  fragile_fixed(fragile_fixed&&) = default;
  fragile_fixed& operator=(const fragile_fixed&) = delete;
  fragile_fixed& operator=(fragile_fixed&&) = delete;
};

struct throw_switch {
  bool& flag;
  explicit throw_switch(bool& f) : flag(f) { flag = true; }
  ~throw_switch() { flag = false; }
};

}  // namespace

static_assert(!std::is_nothrow_move_assignable<result<fragile>>::value,
              "a result of a type whose move throws must not promise a nothrow move");
static_assert(std::is_nothrow_move_assignable<result<std::string>>::value,
              "a result of a type whose move does not throw moves without throwing");

TEST_CASE("result assignment leaves a valid result when a copy or a move of the value throws") {
  {
    result<fragile> source = fragile(1);
    result<fragile> target = sincehash::fail(errc::conflict, "before");
    {
      // Error -> value by copy: built in place from a copy; no move is needed.
      throw_switch moves(fragile::move_throws);
      target = source;
    }
    REQUIRE(target.has_value());
    CHECK(target->v == 1);
    CHECK(fragile::live == 2);

    // Error -> value by move, the move throws: the error is still there.
    target = sincehash::fail(errc::conflict, "kept");
    CHECK(fragile::live == 1);
    {
      throw_switch moves(fragile::move_throws);
      CHECK_THROWS_AS(target = std::move(source), std::runtime_error);
    }
    REQUIRE_FALSE(target.has_value());
    CHECK(target.error().message == "kept");
    CHECK(fragile::live == 1);

    // Error -> value by copy, the copy throws: the error is still there.
    {
      throw_switch copies(fragile::copy_throws);
      CHECK_THROWS_AS(target = source, std::runtime_error);
    }
    REQUIRE_FALSE(target.has_value());
    CHECK(target.error().message == "kept");

    // Value -> value: assigned in place; a throwing assignment leaves the old value.
    target = fragile(7);
    CHECK(fragile::live == 2);
    {
      throw_switch copies(fragile::copy_throws);
      CHECK_THROWS_AS(target = source, std::runtime_error);
    }
    REQUIRE(target.has_value());
    CHECK(target->v == 7);
    target = source;
    CHECK(target->v == 1);

    // Value -> error releases the value; self-assignment changes nothing.
    target = sincehash::fail(errc::io_error, "gone");
    CHECK(fragile::live == 1);
    const result<fragile>& same = target;
    target = same;
    CHECK(target.error().message == "gone");
    result<fragile>* self = &source;
    source = std::move(*self);
    CHECK(source->v == 1);
  }
  CHECK(fragile::live == 0);

  {
    // Without assignment the value is rebuilt; when that throws, the result holds an error
    // (never a destroyed value).
    result<fragile_fixed> source = fragile_fixed(3);
    result<fragile_fixed> target = fragile_fixed(4);
    target = source;
    CHECK(target->inner.v == 3);
    {
      throw_switch moves(fragile::move_throws);
      CHECK_THROWS_AS(target = source, std::runtime_error);
    }
    REQUIRE_FALSE(target.has_value());
    CHECK(target.code() == errc::invalid_argument);
    CHECK(fragile::live == 1);
    target = source;
    CHECK(target->inner.v == 3);
  }
  CHECK(fragile::live == 0);
}

TEST_CASE("error codes have stable names") {
  CHECK(std::string(sincehash::to_string(errc::config_error)) == "config_error");
  CHECK(std::string(sincehash::to_string(errc::store_error)) == "store_error");
  CHECK(std::string(sincehash::to_string(static_cast<errc>(999))) == "unknown");
  CHECK(std::string(sincehash::version_string) == std::to_string(SINCEHASH_VERSION_MAJOR) + "." +
                                                      std::to_string(SINCEHASH_VERSION_MINOR) + "." +
                                                      std::to_string(SINCEHASH_VERSION_PATCH));
  // CMake's project version is read from version.hpp.
  CHECK(std::string(sincehash::version_string) == SINCEHASH_TEST_PROJECT_VERSION);
}
