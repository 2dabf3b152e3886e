#include <sincehash/access_simdjson.hpp>
#include <sincehash/hasher.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

using sincehash::errc;
using sincehash::field_hasher;
using sincehash::field_path;
using sincehash::hasher_settings;
using sincehash::normalizer;
using sincehash::simdjson_access;
using sincehash::xxh3_64;

namespace {

// Random JSON text written directly, so that escapes, number spellings, white space and
// duplicate keys vary the way real payloads do.
class record_generator {
 public:
  explicit record_generator(std::uint32_t seed) : rng_(seed) {}

  // `dom_safe`: numbers have at most 15 significant digits, so an already-parsed
  // nlohmann::json (doubles) hashes them as their literal.
  std::string record(bool dom_safe) {
    dom_safe_ = dom_safe;
    std::string out;
    object(out, 0);
    return out;
  }

  std::uint32_t pick(std::uint32_t n) { return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_); }

 private:
  void ws(std::string& out) {
    static const char* spaces[] = {"", "", "", " ", "\n  ", "\t", " \r\n"};
    out += spaces[pick(7)];
  }

  void key(std::string& out) {
    static const char* spelled[] = {"\"id\"",
                                    "\"name\"",
                                    "\"email\"",
                                    "\"props\"",
                                    "\"tags\"",
                                    "\"a.b\"",
                                    "\"a\\/b\"",
                                    "\"\\u00e9t\\u00e9\"",
                                    "\"\xc3\xa9t\xc3\xa9\"",
                                    "\"updated\"",
                                    "\"0\"",
                                    "\"x\\\"y\"",
                                    "\"amount\"",
                                    "\"\"",
                                    "\"nested\"",
                                    "\"list\""};
    out += spelled[pick(16)];
  }

  void object(std::string& out, int depth) {
    out += '{';
    ws(out);
    std::uint32_t n = pick(depth == 0 ? 12 : 5);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i) {
        out += ',';
        ws(out);
      }
      key(out);
      ws(out);
      out += ':';
      ws(out);
      value(out, depth + 1);
      ws(out);
    }
    out += '}';
  }

  void array(std::string& out, int depth) {
    out += '[';
    std::uint32_t n = pick(5);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i) out += ',';
      ws(out);
      value(out, depth + 1);
      ws(out);
    }
    out += ']';
  }

  void number(std::string& out) {
    static const char* fixed[] = {"0",    "-0",  "1",   "1.0",           "10e-1", "12.50",  "12.5",  "-3e-7",
                                  "1E+2", "100", "0.1", "1700000000000", "-42",   "2.5e10", "0.000", "9.99"};
    static const char* big[] = {"123456789012345678901234567890", "18446744073709551616",
                                "-9223372036854775809",           "0.10000000000000000001",
                                "1.00000000000000000000000001e5", "9007199254740993"};
    std::uint32_t k = pick(10);
    if (!dom_safe_ && k == 0) {
      out += big[pick(6)];
    } else if (k < 5) {
      out += fixed[pick(16)];
    } else {
      std::uint64_t v = std::uniform_int_distribution<std::uint64_t>(0, 999999999999ULL)(rng_);
      if (pick(2)) out += '-';
      std::string digits = std::to_string(v);
      if (pick(3) == 0 && digits.size() > 1)
        digits.insert(digits.size() - 1 - pick(static_cast<std::uint32_t>(digits.size() - 1)), ".");
      out += digits;
      if (pick(4) == 0) out += "e" + std::to_string(static_cast<int>(pick(20)) - 10);
    }
  }

  void string(std::string& out) {
    static const char* pieces[] = {"a",
                                   "B",
                                   " ",
                                   "|",
                                   ",",
                                   "\\n",
                                   "\\\"",
                                   "\\\\",
                                   "\\/",
                                   "\\u00e9",
                                   "\xc3\xa9",
                                   "\\ud83d\\ude00",
                                   "\xf0\x9f\x98\x80",
                                   "2022-01-01T00:00:00Z",
                                   "\\t",
                                   "x.y"};
    out += '"';
    std::uint32_t n = pick(5);
    for (std::uint32_t i = 0; i < n; ++i) out += pieces[pick(16)];
    out += '"';
  }

  void value(std::string& out, int depth) {
    std::uint32_t k = pick(depth >= 4 ? 6 : 9);
    switch (k) {
      case 0:
        out += "null";
        break;
      case 1:
        out += pick(2) ? "true" : "false";
        break;
      case 2:
      case 3:
        number(out);
        break;
      case 4:
      case 5:
        string(out);
        break;
      case 6:
      case 7:
        object(out, depth);
        break;
      default:
        array(out, depth);
        break;
    }
  }

  std::mt19937 rng_;
  bool dom_safe_ = false;
};

const char* const path_pool[] = {
    "id",     "name",          "email",   "props", "props.email",       "props.name",       "tags", "tags[0]",
    "tags.1", "a\\.b",         "a/b",     "/a~1b", "\xc3\xa9t\xc3\xa9", "updated",          "0",    "x\"y",
    "amount", "nested.nested", "list[2]", "/",     "nested.list[0].id", "nested.props.tags"};
constexpr std::uint32_t path_pool_size = sizeof(path_pool) / sizeof(path_pool[0]);

hasher_settings random_settings(record_generator& g, bool whole) {
  hasher_settings s;
  std::vector<std::string> chosen;
  auto take = [&](std::vector<std::string>& into, std::uint32_t n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string p = path_pool[g.pick(path_pool_size)];
      auto parsed = field_path::parse(p);
      bool clash = false;
      for (const auto& c : chosen) {
        auto q = field_path::parse(c);
        if (q->contains(*parsed) || parsed->contains(*q)) clash = true;
      }
      if (!clash) {
        chosen.push_back(p);
        into.push_back(p);
      }
    }
  };
  if (!whole) take(s.watched, 1 + g.pick(6));
  take(s.ignored, g.pick(3));
  for (std::uint32_t i = 0, n = g.pick(3); i < n; ++i) {
    static const normalizer all[] = {normalizer::trim, normalizer::lower, normalizer::instant};
    const char* p = path_pool[g.pick(path_pool_size)];
    bool duplicate = false;
    for (const auto& entry : s.normalize)
      duplicate |= *field_path::parse(entry.first) == *field_path::parse(p);
    if (!duplicate) s.normalize[p] = {all[g.pick(3)], all[g.pick(3)]};
  }
  for (std::uint32_t i = 0, n = g.pick(5); i < n; ++i)
    s.extract.push_back(*field_path::parse(path_pool[g.pick(path_pool_size)]));
  return s;
}

}  // namespace

TEST_CASE("property: nlohmann and simdjson give the same digests and extras on random records") {
  record_generator g(20240601);
  int compared = 0;
  int dom_compared = 0;
  for (int config = 0; config < 120; ++config) {
    hasher_settings s = random_settings(g, config % 4 == 0);
    field_hasher<xxh3_64> nl(s);
    field_hasher<xxh3_64, simdjson_access> sj(s);
    for (int i = 0; i < 40; ++i) {
      const bool dom_safe = (i % 2) == 0;
      const std::string rec = g.record(dom_safe);
      CAPTURE(rec);
      CAPTURE(nl.fingerprint());
      auto a = nl.read(rec);
      REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().describe()));
      const sincehash::digest da = a->hash;
      std::vector<std::pair<sincehash::value_kind, std::string>> ea;
      for (std::size_t k = 0; k < a->extra_count; ++k)
        ea.emplace_back(a->extra(k).kind, std::string(a->extra(k).text));
      const std::string message(nl.last_message());

      auto b = sj.read(rec);
      REQUIRE_MESSAGE(b.has_value(), (b ? std::string() : b.error().describe()));
      CHECK(b->hash == da);
      CHECK(std::string(sj.last_message()) == message);
      REQUIRE(b->extra_count == ea.size());
      for (std::size_t k = 0; k < ea.size(); ++k) {
        CHECK(b->extra(k).kind == ea[k].first);
        CHECK(b->extra(k).text == ea[k].second);
      }
      ++compared;
      if (dom_safe) {
        auto c = nl.read(nlohmann::json::parse(rec));
        REQUIRE(c.has_value());
        CHECK(c->hash == da);
        ++dom_compared;
      }
    }
  }
  CHECK(compared == 4800);
  CHECK(dom_compared == 2400);
}

TEST_CASE("simdjson: caller-padded input, buffer reuse and shrinking records") {
  hasher_settings s;
  s.watched = {"a"};
  s.extract = {*field_path::parse("id")};
  field_hasher<xxh3_64, simdjson_access> sj(s);
  field_hasher<> nl(s);
  const std::string long_rec =
      R"({"id":"long-record-id","a":[1,2,3,4,5,6,7,8,9],"pad":")" + std::string(300, 'x') + "\"}";
  const std::string short_rec = R"({"a":1,"id":7})";
  CHECK(sj.hash(long_rec).value() == nl.hash(long_rec).value());
  auto r = sj.read(short_rec);
  REQUIRE(r.has_value());
  CHECK(r->hash == nl.hash(short_rec).value());
  CHECK(r->extra(0).text == "7");
  simdjson::padded_string padded(short_rec);
  CHECK(sj.hash(padded).value() == nl.hash(short_rec).value());
  CHECK(sj.hash(simdjson::padded_string_view(padded)).value() == nl.hash(short_rec).value());
}

TEST_CASE("simdjson: not JSON and not an object are told apart like nlohmann does") {
  hasher_settings s;
  s.watched = {"a"};
  field_hasher<xxh3_64, simdjson_access> sj(s);
  field_hasher<> nl(s);
  for (const char* text : {"[1,2]", "\"x\"", "12", "null", "true", "[]", " [{\"a\":1}] "}) {
    CAPTURE(text);
    CHECK(sj.read(text).code() == errc::invalid_record);
    CHECK(nl.read(text).code() == errc::invalid_record);
  }
  for (const char* text :
       {"", "   ", "{", "{\"a\":1,", "{\"a\":tru}", "{} {}", "{\"a\":01}", "\xff", "{\"a\":1} x", "[1,",
        "nul", "\"x\" y", "12 x", "[] 1", "{\"a\":\"\\q\"}", "{\"a\":1e}"}) {
    CAPTURE(text);
    CHECK(sj.read(text).code() == errc::parse_error);
    CHECK(nl.read(text).code() == errc::parse_error);
  }
  std::string deep = "{\"a\":" + std::string(600, '[') + std::string(600, ']') + "}";
  CHECK(sj.read(deep).code() == errc::invalid_record);
  CHECK(nl.read(deep).code() == errc::invalid_record);
  CHECK(sj.read(R"({"a":"ok"})").has_value());
}

TEST_CASE("simdjson: whole-record mode with ignored fields and normalizers agrees with nlohmann") {
  hasher_settings s;
  s.ignored = {"updatedAt", "props.hs_lastmodifieddate"};
  s.normalize["props.email"] = {normalizer::trim, normalizer::lower};
  s.normalize["createdAt"] = {normalizer::instant};
  s.extract = {*field_path::parse("id"), *field_path::parse("updatedAt")};
  field_hasher<xxh3_64, simdjson_access> sj(s);
  field_hasher<> nl(s);
  const std::string a =
      R"({"id":"1","createdAt":"2022-01-01T01:00:00+01:00","updatedAt":"2024-05-01T00:00:00Z",)"
      R"("props":{"email":" Ann@X.io ","hs_lastmodifieddate":"1","n":12.50}})";
  const std::string b =
      R"({"props":{"n":12.5,"email":"ann@x.io","hs_lastmodifieddate":"2"},"updatedAt":"2024-06-01T00:00:00Z",)"
      R"("createdAt":"2022-01-01T00:00:00Z","id":"1"})";
  auto ra = sj.read(a);
  REQUIRE(ra.has_value());
  CHECK(ra->extra(1).text == "2024-05-01T00:00:00Z");
  const auto da = ra->hash;
  CHECK(da == sj.hash(b).value());
  CHECK(da == nl.hash(a).value());
  CHECK(da == nl.hash(b).value());
}

TEST_CASE("simdjson: a record read in place agrees whatever bytes follow it") {
  // Keys of every length around the 8- and 16-byte steps of the key scan, escapes at every position,
  // and a watched key longer than 63 bytes; the record is read in place inside a larger buffer
  // whose following bytes are quotes, backslashes and braces.
  hasher_settings s;
  const std::string long_key(70, 'k');
  s.watched = {"k9", "k17", long_key};
  s.extract = {*field_path::parse("id")};
  field_hasher<xxh3_64, simdjson_access> sj(s);
  field_hasher<> nl(s);
  for (std::size_t len = 0; len <= 40; ++len) {
    for (std::size_t esc = 0; esc <= len; ++esc) {
      std::string key(len, 'k');
      if (esc < len) key.replace(esc, 1, "\\\"");
      const std::string rec = "{\"id\":\"r\",\"" + key + "\":1,\"k9\":\"" + key + "\",\"" + long_key +
                              "\":true,\"" + std::string(len, 'k') + "\":2,\"k17\":[" + std::to_string(len) +
                              "]}";
      const std::string buffer = rec + std::string(80, '"') + "\\\\{}";
      auto in_place = sj.read(std::string_view(buffer.data(), rec.size()), buffer.size() - rec.size());
      REQUIRE_MESSAGE(in_place.has_value(), rec);
      const auto expected = nl.hash(rec);
      REQUIRE(expected.has_value());
      CHECK_MESSAGE(in_place->hash == *expected, rec);
      CHECK(in_place->extra(0).text == "r");
      CHECK(sj.hash(rec).value() == *expected);  // copied, for comparison
    }
  }
  // The long watched key is found: removing it changes the digest.
  const std::string with = "{\"id\":1,\"" + long_key + "\":1}";
  const std::string other = "{\"id\":1,\"" + std::string(69, 'k') + "\":1}";
  CHECK(sj.hash(with).value() != sj.hash(other).value());
  CHECK(sj.hash(with).value() == nl.hash(with).value());
  CHECK(sj.hash(other).value() == nl.hash(other).value());
}

TEST_CASE("simdjson: a key one byte off a watched key is not taken for it") {
  // Watched keys of lengths around the 8- and 16-byte steps at which keys are compared, each
  // beside keys of its length that differ from it in one byte, at every position.
  for (std::size_t len : {1, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25, 40, 62, 63, 64, 70}) {
    std::string watched;
    for (std::size_t i = 0; i < len; ++i) watched += static_cast<char>('a' + (i * 7) % 26);
    hasher_settings s;
    s.watched = {"props." + watched};
    field_hasher<xxh3_64, simdjson_access> sj(s);
    field_hasher<> nl(s);
    std::string misses;
    for (std::size_t at = 0; at < len; ++at) {
      std::string near = watched;
      near[at] = near[at] == 'z' ? 'y' : static_cast<char>(near[at] + 1);
      misses += ",\"" + near + "\":\"" + std::to_string(at) + "\"";
    }
    const std::string plain = "{\"id\":1,\"props\":{\"" + watched + "\":\"v\"}}";
    const std::string crowded = "{\"id\":1,\"props\":{\"" + watched + "\":\"v\"" + misses + "}}";
    const std::string changed = "{\"id\":1,\"props\":{\"" + watched + "\":\"w\"" + misses + "}}";
    const std::string absent = "{\"id\":1,\"props\":{" + misses.substr(1) + "}}";
    CAPTURE(len);
    const auto base = sj.hash(plain).value();
    CHECK(base == nl.hash(plain).value());
    CHECK(sj.hash(crowded).value() == base);
    CHECK(sj.hash(changed).value() != base);
    CHECK(sj.hash(changed).value() == nl.hash(changed).value());
    CHECK(sj.hash(absent).value() != base);
    CHECK(sj.hash(absent).value() == nl.hash(absent).value());
  }
}

TEST_CASE("simdjson: extracted values are those of the record just read, escaped or not") {
  // Extracted strings are views into the parser's buffer or the text: each read gives its own
  // record's values, whether they were unescaped, read in place or copied.
  hasher_settings s;
  s.watched = {"email"};
  s.extract = {*field_path::parse("id"), *field_path::parse("updated"), *field_path::parse("n")};
  field_hasher<xxh3_64, simdjson_access> sj(s);
  field_hasher<> nl(s);
  const std::vector<std::string> records = {
      R"({"id":"a\u00e9\"b","updated":"2024-03-01T10:00:00Z","n":12.50,"email":"x"})",
      R"({"n":-0,"id":"plain","updated":"2024-03-01T10:00:0\u0031Z","email":"y"})",
      R"({"id":"\ud83d\ude00","updated":null,"n":true,"email":"z","id":"second"})",
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& rec : records) {
      const std::string buffer = rec + std::string(64, '"');
      auto got = pass == 0 ? sj.read(std::string_view(buffer.data(), rec.size()), 64) : sj.read(rec);
      REQUIRE_MESSAGE(got.has_value(), rec);
      std::vector<std::pair<sincehash::value_kind, std::string>> mine;
      for (std::size_t i = 0; i < 3; ++i)
        mine.emplace_back(got->extra(i).kind, std::string(got->extra(i).text));
      auto want = nl.read(rec);
      REQUIRE(want.has_value());
      for (std::size_t i = 0; i < 3; ++i) {
        CHECK_MESSAGE(mine[i].first == want->extra(i).kind, rec);
        CHECK_MESSAGE(mine[i].second == want->extra(i).text, rec);
      }
    }
  }
  auto last = sj.read(records[2]);
  REQUIRE(last.has_value());
  CHECK(last->extra(0).text == "second");
}
