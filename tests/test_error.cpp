#include <sincehash/error.hpp>
#include <sincehash/version.hpp>

#include <doctest/doctest.h>

#include <memory>
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

TEST_CASE("error codes have stable names") {
  CHECK(std::string(sincehash::to_string(errc::config_error)) == "config_error");
  CHECK(std::string(sincehash::to_string(errc::store_error)) == "store_error");
  CHECK(std::string(sincehash::to_string(static_cast<errc>(999))) == "unknown");
  CHECK(std::string(sincehash::version_string) == std::to_string(SINCEHASH_VERSION_MAJOR) + "." +
                                                      std::to_string(SINCEHASH_VERSION_MINOR) + "." +
                                                      std::to_string(SINCEHASH_VERSION_PATCH));
}
