#include <sincehash/field_path.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using sincehash::compile_paths;
using sincehash::errc;
using sincehash::field_path;

namespace {

std::vector<std::string> keys(const field_path& p) {
  std::vector<std::string> out;
  for (const auto& s : p.segments()) out.push_back(s.key);
  return out;
}

field_path must(std::string_view text) {
  auto p = field_path::parse(text);
  REQUIRE_MESSAGE(p.has_value(), std::string(text));
  return *p;
}

}  // namespace

TEST_CASE("dot paths split on unescaped dots") {
  CHECK(keys(must("properties.email")) == std::vector<std::string>{"properties", "email"});
  CHECK(keys(must("Email")) == std::vector<std::string>{"Email"});
  CHECK(keys(must("a\\.b")) == std::vector<std::string>{"a.b"});
  CHECK(keys(must("a\\\\.b")) == std::vector<std::string>{"a\\", "b"});
  CHECK(keys(must("\\/x.y")) == std::vector<std::string>{"/x", "y"});
  CHECK(keys(must("a\\[0\\]")) == std::vector<std::string>{"a[0]"});
  CHECK(keys(must("with space.ünï")) == std::vector<std::string>{"with space", "ünï"});
  CHECK(must("properties.email").text() == "properties.email");
}

TEST_CASE("array indices: bracket and dotted digits are the same segment") {
  CHECK(keys(must("items[0].sku")) == std::vector<std::string>{"items", "0", "sku"});
  CHECK(keys(must("items.0.sku")) == std::vector<std::string>{"items", "0", "sku"});
  CHECK(keys(must("m[1][2]")) == std::vector<std::string>{"m", "1", "2"});
  CHECK(must("items[0].sku") == must("items.0.sku"));
  CHECK(must("items[0].sku") == must("/items/0/sku"));
  auto p = must("items[12]");
  CHECK(p.segments()[1].is_index());
  CHECK(p.segments()[1].index() == 12);
  CHECK_FALSE(p.segments()[0].is_index());
  CHECK_FALSE(must("a.01").segments()[1].is_index());  // a key, not an index
  CHECK(must("a.01").segments()[1].index() == field_path::npos);
}

TEST_CASE("JSON Pointer paths follow RFC 6901") {
  CHECK(keys(must("/properties/email")) == std::vector<std::string>{"properties", "email"});
  CHECK(keys(must("/a~1b/m~0n")) == std::vector<std::string>{"a/b", "m~n"});
  CHECK(keys(must("/a~01")) == std::vector<std::string>{"a~1"});  // ~0 first, not ~1
  CHECK(keys(must("/")) == std::vector<std::string>{""});
  CHECK(keys(must("/a//b")) == std::vector<std::string>{"a", "", "b"});
  CHECK(keys(must("/a.b")) == std::vector<std::string>{"a.b"});
}

TEST_CASE("the canonical form is JSON Pointer text, equal for equal paths") {
  CHECK(must("properties.email").canonical() == "/properties/email");
  CHECK(must("a\\.b").canonical() == "/a.b");
  CHECK(must("a/b.c~d").canonical() == "/a~1b/c~0d");
  CHECK(must("/a~1b/c~0d") == must("a/b.c~d"));
  CHECK(must("a.b") != must("a\\.b"));
  // A canonical form parses back to the same path.
  for (const char* t : {"a.b", "x[3].y", "a\\.b.c", "/m~0n/~1", "p.q\\\\"}) {
    auto p = must(t);
    CHECK(must(p.canonical()) == p);
  }
}

TEST_CASE("bad paths are parse errors with the byte position") {
  struct bad_case {
    const char* text;
    std::size_t position;
  };
  const bad_case cases[] = {
      {"", 0},      {"a..b", 2}, {".a", 0},  {"a.", 2},   {"a[", 1},   {"a[]", 2}, {"a[01]", 2}, {"a[x]", 2},
      {"a[0]b", 4}, {"a]", 1},   {"a\\", 1}, {"a\\q", 1}, {"/a~2", 2}, {"/a~", 2}, {"a[-1]", 2}, {"a[0]]", 4},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto p = field_path::parse(c.text);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.code() == errc::parse_error);
    CHECK(p.error().position == c.position);
    CHECK(p.error().message.find(std::string("'") + c.text + "'") != std::string::npos);
  }
}

TEST_CASE("contains and ordering") {
  CHECK(must("a").contains(must("a.b")));
  CHECK(must("a").contains(must("a")));
  CHECK_FALSE(must("a.b").contains(must("a")));
  CHECK_FALSE(must("a").contains(must("ab")));
  CHECK(field_path().contains(must("x")));

  std::vector<field_path> v{must("b"), must("a.z"), must("a"), must("ab"), must("a.b")};
  std::sort(v.begin(), v.end());
  std::vector<std::string> order;
  for (const auto& p : v) order.push_back(p.canonical());
  // Paths inside `a` directly follow `a`, before `ab`.
  CHECK(order == std::vector<std::string>{"/a", "/a/b", "/a/z", "/ab", "/b"});
  // Bytes compare unsigned: a non-ASCII key sorts after ASCII ones.
  CHECK(must("z") < must("\xc3\xa9"));
}

TEST_CASE("compile_paths rejects bad and duplicated entries, naming them") {
  auto ok = compile_paths({"a", "b.c", "/d"});
  REQUIRE(ok.has_value());
  CHECK(ok->size() == 3);

  auto bad = compile_paths({"a", "b..c"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.code() == errc::config_error);
  CHECK(bad.error().message.find("#1") != std::string::npos);
  CHECK(bad.error().message.find("b..c") != std::string::npos);
  CHECK(bad.error().position == 2);

  auto dup = compile_paths({"properties.email", "x", "/properties/email"});
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.code() == errc::config_error);
  CHECK(dup.error().message.find("#2") != std::string::npos);
  CHECK(dup.error().message.find("#0") != std::string::npos);
  CHECK(dup.error().message.find("/properties/email") != std::string::npos);

  CHECK_FALSE(compile_paths({"items[0]", "items.0"}).has_value());
  CHECK(compile_paths({}).has_value());
}

TEST_CASE("from_segments builds the same path as parsing") {
  auto p = field_path::from_segments({{"a.b"}, {"c"}});
  CHECK(p == must("a\\.b.c"));
  CHECK(p.text() == "/a.b/c");
  CHECK(field_path().empty());
  CHECK(field_path().canonical().empty());
}
