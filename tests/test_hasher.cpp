#include <sincehash/hasher.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

using sincehash::digest;
using sincehash::errc;
using sincehash::field_hasher;
using sincehash::field_path;
using sincehash::hasher_settings;
using sincehash::normalizer;
using sincehash::value_kind;
using sincehash::value_view;

// The default policies: XXH3-64 over nlohmann::json, no template argument written.
static_assert(std::is_same<field_hasher<>::algorithm_type, sincehash::xxh3_64>::value, "default algorithm");
static_assert(std::is_same<field_hasher<>::access_type, sincehash::nlohmann_access>::value, "default access");
static_assert(field_hasher<>::encoding_version == 1, "golden digests below are for encoding version 1");

namespace {

hasher_settings watch(std::vector<std::string> paths) {
  hasher_settings s;
  s.watched = std::move(paths);
  return s;
}

digest hash_of(field_hasher<>& h, const std::string& json) {
  auto r = h.hash(json);
  REQUIRE_MESSAGE(r.has_value(), (json + " -> " + (r ? std::string() : r.error().describe())));
  return *r;
}

// Canonical message pieces, written from the documented encoding (detail/hash_sink.hpp).
std::string u32(std::size_t n) {
  return std::string{static_cast<char>(n & 0xFF), static_cast<char>((n >> 8) & 0xFF),
                     static_cast<char>((n >> 16) & 0xFF), static_cast<char>((n >> 24) & 0xFF)};
}
std::string str(const std::string& s) { return std::string(1, '\x05') + u32(s.size()) + s; }
std::string num(const std::string& canonical) {
  return std::string(1, '\x04') + u32(canonical.size()) + canonical;
}
std::string key(const std::string& k) { return std::string(1, '\x0B') + u32(k.size()) + k; }
const std::string missing(1, '\x00');
const std::string null_v(1, '\x01');
const std::string false_v(1, '\x02');
const std::string true_v(1, '\x03');
const std::string arr_b(1, '\x06');
const std::string arr_e(1, '\x07');
const std::string obj_b(1, '\x08');
const std::string obj_e(1, '\x09');

std::string canon(std::string_view literal) {
  std::string out;
  auto st = sincehash::detail::append_canonical_number(literal, out);
  return st == sincehash::detail::number_status::ok ? out : "<" + std::to_string(static_cast<int>(st)) + ">";
}

}  // namespace

TEST_CASE("digest: hexadecimal text of every byte value, 64 and 128 bits") {
  std::uint64_t v = 0x0123456789abcdefULL;
  for (int i = 0; i < 300; ++i) {
    // Every byte value shows up in some position over the runs.
    v = v * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::uint64_t w = v ^ (v >> 29);
    char want[40];
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    CHECK(sincehash::digest{v, 0, 64}.to_hex() == want);
    char want128[40];
    std::snprintf(want128, sizeof want128, "%016llx%016llx", static_cast<unsigned long long>(w),
                  static_cast<unsigned long long>(v));
    CHECK(sincehash::digest{v, w, 128}.to_hex() == want128);
  }
  CHECK(sincehash::digest{}.to_hex().empty());
  CHECK(sincehash::digest{0xff, 0, 64}.to_hex() == "00000000000000ff");
}

TEST_CASE("canonical numbers: equal decimal values, equal text") {
  CHECK(canon("0") == "0");
  CHECK(canon("-0") == "0");
  CHECK(canon("0.000e5") == "0");
  CHECK(canon("1") == "1");
  CHECK(canon("1.0") == "1");
  CHECK(canon("10e-1") == "1");
  CHECK(canon("0.1e1") == "1");
  CHECK(canon("1E+0") == "1");
  CHECK(canon("12.50") == "125e-1");
  CHECK(canon("12.5") == "125e-1");
  CHECK(canon("-12.5") == "-125e-1");
  CHECK(canon("1700000000000") == "17e11");
  CHECK(canon("0.001") == "1e-3");
  CHECK(canon("100") == "1e2");
  CHECK(canon("123456789012345678901234567890") == "12345678901234567890123456789e1");
  CHECK(canon("123456789012345678901234567891") == "123456789012345678901234567891");
  CHECK(canon("9007199254740993") == "9007199254740993");  // not representable as a double
  // Not JSON numbers.
  for (const char* bad :
       {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1 ", "NaN", "Infinity", "--1"}) {
    CAPTURE(bad);
    CHECK(canon(bad) == "<1>");
  }
  CHECK(canon("1e9999999999999999") == "<2>");
}

TEST_CASE("delimiters inside values never collide") {
  field_hasher<> h(watch({"a", "b"}));
  CHECK(hash_of(h, R"({"a":"a|","b":"b"})") != hash_of(h, R"({"a":"a","b":"|b"})"));
  CHECK(hash_of(h, R"({"a":"x,y","b":""})") != hash_of(h, R"({"a":"x","b":"y"})"));

  field_hasher<> whole(hasher_settings{});
  CHECK(hash_of(whole, R"({"v":["a|","b"]})") != hash_of(whole, R"({"v":["a","|b"]})"));
  CHECK(hash_of(whole, R"({"v":["ab"]})") != hash_of(whole, R"({"v":["a","b"]})"));
  CHECK(hash_of(whole, R"({"ab":"c"})") != hash_of(whole, R"({"a":"bc"})"));
  CHECK(hash_of(whole, R"({"v":[[1],2]})") != hash_of(whole, R"({"v":[[1,2]]})"));
  CHECK(hash_of(whole, R"({"v":{"a":{}},"w":1})") != hash_of(whole, R"({"v":{"a":{"w":1}}})"));
}

TEST_CASE("missing, null, empty string, 0, false, [] and {} are all different") {
  field_hasher<> h(watch({"x"}));
  std::set<std::string> seen;
  for (const char* rec :
       {R"({})", R"({"x":null})", R"({"x":""})", R"({"x":0})", R"({"x":false})", R"({"x":[]})", R"({"x":{}})",
        R"({"x":"0"})", R"({"x":"null"})", R"({"x":"false"})", R"({"x":[null]})", R"({"y":null})"}) {
    seen.insert(hash_of(h, rec).to_hex());
  }
  // `{}` and `{"y":null}` both leave x missing: 11 distinct digests for 12 records.
  CHECK(seen.size() == 11);
  CHECK(hash_of(h, R"({})") == hash_of(h, R"({"y":null})"));
}

TEST_CASE("numbers are compared by value; a string never equals a number") {
  field_hasher<> h(watch({"n"}));
  CHECK(hash_of(h, R"({"n":1})") == hash_of(h, R"({"n":1.0})"));
  CHECK(hash_of(h, R"({"n":1})") == hash_of(h, R"({"n":10e-1})"));
  CHECK(hash_of(h, R"({"n":12.50})") == hash_of(h, R"({"n":12.5})"));
  CHECK(hash_of(h, R"({"n":0})") == hash_of(h, R"({"n":-0.0})"));
  CHECK(hash_of(h, R"({"n":1})") != hash_of(h, R"({"n":"1"})"));
  CHECK(hash_of(h, R"({"n":9007199254740993})") != hash_of(h, R"({"n":9007199254740992})"));
  CHECK(hash_of(h, R"({"n":123456789012345678901234567890})") !=
        hash_of(h, R"({"n":123456789012345678901234567891})"));
  CHECK(hash_of(h, R"({"n":0.1})") != hash_of(h, R"({"n":0.10000000000000001})"));
}

TEST_CASE("strings hash their unescaped bytes") {
  field_hasher<> h(watch({"s"}));
  CHECK(hash_of(h, R"({"s":"caf\u00e9"})") == hash_of(h, "{\"s\":\"caf\xc3\xa9\"}"));
  CHECK(hash_of(h, R"({"s":"a\/b"})") == hash_of(h, R"({"s":"a/b"})"));
  CHECK(hash_of(h, R"({"s":"\ud83d\ude00"})") == hash_of(h, "{\"s\":\"\xf0\x9f\x98\x80\"}"));
  CHECK(hash_of(h, R"({"s":"A"})") != hash_of(h, R"({"s":"a"})"));
  CHECK(hash_of(h, R"({"s":"a "})") != hash_of(h, R"({"s":"a"})"));
  // Keys too: an escaped key names the same member.
  field_hasher<> k(watch({"é"}));
  CHECK(hash_of(k, R"({"\u00e9":1})") == hash_of(k, "{\"\xc3\xa9\":1}"));
  CHECK(hash_of(k, R"({"\u00e9":1})") != hash_of(k, R"({"e":1})"));
}

TEST_CASE("object member order never matters, array order does") {
  field_hasher<> h(watch({"a"}));
  CHECK(hash_of(h, R"({"a":{"x":1,"y":{"p":true,"q":null}}})") ==
        hash_of(h, R"({"a":{"y":{"q":null,"p":true},"x":1}})"));
  CHECK(hash_of(h, R"({"a":[1,2]})") != hash_of(h, R"({"a":[2,1]})"));
  field_hasher<> whole(hasher_settings{});
  CHECK(hash_of(whole, R"({"b":2,"a":1,"c":[{"z":1,"y":2}]})") ==
        hash_of(whole, R"({"c":[{"y":2,"z":1}],"a":1,"b":2})"));
}

TEST_CASE("the order of watched paths in the configuration never matters") {
  field_hasher<> ab(watch({"a", "b.c", "d"}));
  field_hasher<> ba(watch({"d", "b.c", "a"}));
  const std::string rec = R"({"a":1,"b":{"c":"x"},"d":[true]})";
  CHECK(hash_of(ab, rec) == hash_of(ba, rec));
  CHECK(ab.fingerprint() == ba.fingerprint());
  CHECK(ab.watched().front().canonical() == "/a");
  // But the paths' values are not interchangeable.
  CHECK(hash_of(ab, R"({"a":1,"d":2})") != hash_of(ab, R"({"a":2,"d":1})"));
}

TEST_CASE("a duplicated key keeps its last value, as nlohmann does") {
  field_hasher<> h(watch({"a"}));
  CHECK(hash_of(h, R"({"a":1,"a":2})") == hash_of(h, R"({"a":2})"));
  field_hasher<> nested(watch({"a.b"}));
  CHECK(hash_of(nested, R"({"a":{"b":1},"a":{"c":2}})") == hash_of(nested, R"({"a":{"c":2}})"));
  field_hasher<> whole(hasher_settings{});
  CHECK(hash_of(whole, R"({"x":{"k":1,"k":2},"x":{"k":3}})") == hash_of(whole, R"({"x":{"k":3}})"));
}

TEST_CASE("golden messages and digests of encoding version 1") {
  // Each message is written byte by byte from the documented encoding; each digest is XXH3 of that
  // message, recorded once. A change to any of these requires bumping
  // field_hasher::encoding_version (stored digests would otherwise silently stop matching).
  field_hasher<> h(watch({"name", "amount", "tags", "owner", "gone"}));
  auto r = h.read(R"({"owner":{"id":7,"active":true},"name":"Ann","amount":12.50,"tags":["a",null,false]})");
  REQUIRE(r.has_value());
  // Sorted paths: /amount /gone /name /owner /tags.
  const std::string expected = num("125e-1") + missing + str("Ann") + obj_b + key("active") + true_v +
                               key("id") + num("7") + obj_e + arr_b + str("a") + null_v + false_v + arr_e;
  CHECK(std::string(h.last_message()) == expected);
  CHECK(r->hash == digest{XXH3_64bits(expected.data(), expected.size()), 0, 64});
  CHECK(r->hash.to_hex() == "c80c9d7544c7efee");

  field_hasher<> whole(hasher_settings{});
  auto w = whole.read(R"({"b":[],"a":"x"})");
  REQUIRE(w.has_value());
  const std::string expected_whole = obj_b + key("a") + str("x") + key("b") + arr_b + arr_e + obj_e;
  CHECK(std::string(whole.last_message()) == expected_whole);
  CHECK(w->hash.to_hex() == "e7e8e8ef2ddd73a3");

  field_hasher<sincehash::xxh3_128> wide(watch({"x"}));
  auto x = wide.read(R"({"x":""})");
  REQUIRE(x.has_value());
  const std::string expected_x = str("");
  XXH128_hash_t ref = XXH3_128bits(expected_x.data(), expected_x.size());
  CHECK(x->hash == digest{ref.low64, ref.high64, 128});
  CHECK(x->hash.to_hex() == "01350000664fe200b1495c6a04b4e88d");
}

TEST_CASE("normalizers are off by default and apply only where configured") {
  field_hasher<> plain(watch({"email"}));
  CHECK(hash_of(plain, R"({"email":" A@B.io "})") != hash_of(plain, R"({"email":"a@b.io"})"));

  hasher_settings s = watch({"email", "name", "when"});
  s.normalize["email"] = {normalizer::lower, normalizer::trim};
  s.normalize["when"] = {normalizer::instant};
  field_hasher<> h(s);
  CHECK(hash_of(h, R"({"email":" A@B.io\n","name":"X"})") == hash_of(h, R"({"email":"a@b.io","name":"X"})"));
  CHECK(hash_of(h, R"({"email":"a@b.io","name":" X"})") != hash_of(h, R"({"email":"a@b.io","name":"X"})"));
  CHECK(hash_of(h, R"({"email":"ÀÉÎ ΣΩ ДЯЁ"})") == hash_of(h, R"({"email":"àéî σω дяё"})"));
  CHECK(hash_of(h, R"({"email":"×"})") != hash_of(h, R"({"email":"÷"})"));
  CHECK(hash_of(h, R"({"when":"2022-01-01T00:00:00Z"})") ==
        hash_of(h, R"({"when":"2022-01-01T01:00:00+01:00"})"));
  CHECK(hash_of(h, R"({"when":"2022-01-01T00:00:00Z"})") != hash_of(h, R"({"when":"2022-01-01T00:00:01Z"})"));
  // An invalid date is never normalized: it stays a string.
  CHECK(hash_of(h, R"({"when":"2022-02-30T00:00:00Z"})") != hash_of(h, R"({"when":"2022-03-02T00:00:00Z"})"));
  CHECK(hash_of(h, R"({"when":"soon"})") != hash_of(h, R"({"when":"Soon"})"));
  // Numbers are left alone.
  CHECK(hash_of(h, R"({"email":1})") != hash_of(h, R"({"email":"1"})"));
  CHECK(plain.fingerprint() != h.fingerprint());
}

TEST_CASE("normalizers reach every string below their path") {
  hasher_settings s;  // whole record
  s.normalize["props"] = {normalizer::lower};
  field_hasher<> h(s);
  CHECK(hash_of(h, R"({"props":{"a":"X","b":["Y"]}})") == hash_of(h, R"({"props":{"a":"x","b":["y"]}})"));
  CHECK(hash_of(h, R"({"props":{"A":"x"}})") != hash_of(h, R"({"props":{"a":"x"}})"));  // keys unchanged
  CHECK(hash_of(h, R"({"other":"X"})") != hash_of(h, R"({"other":"x"})"));
}

TEST_CASE("whole-record mode hashes everything but the ignored paths") {
  hasher_settings s;
  s.ignored = {"updatedAt", "meta.etag", "items[1]"};
  field_hasher<> h(s);
  CHECK(h.whole_record());
  const std::string base = R"({"id":1,"name":"a","updatedAt":"x","meta":{"etag":"1","v":2},"items":[1,2,3]})";
  CHECK(hash_of(h, base) ==
        hash_of(h, R"({"id":1,"name":"a","updatedAt":"y","meta":{"etag":"2","v":2},"items":[1,9,3]})"));
  CHECK(hash_of(h, base) == hash_of(h, R"({"id":1,"name":"a","meta":{"v":2},"items":[1,2,3]})"));
  CHECK(hash_of(h, base) !=
        hash_of(h, R"({"id":1,"name":"b","updatedAt":"x","meta":{"etag":"1","v":2},"items":[1,2,3]})"));
  CHECK(hash_of(h, base) !=
        hash_of(h, R"({"id":1,"name":"a","updatedAt":"x","meta":{"etag":"1","v":3},"items":[1,2,3]})"));
  // An ignored element keeps its place: dropping it is not the same as ignoring it.
  CHECK(hash_of(h, base) !=
        hash_of(h, R"({"id":1,"name":"a","updatedAt":"x","meta":{"etag":"1","v":2},"items":[1,3]})"));
  // A new field is a change in whole-record mode...
  CHECK(hash_of(h, base) !=
        hash_of(h, R"({"id":1,"name":"a","updatedAt":"x","meta":{"etag":"1","v":2},"items":[1,2,3],"n":0})"));
  // ...but not in watched mode.
  field_hasher<> w(watch({"name"}));
  CHECK(hash_of(w, base) == hash_of(w, R"({"name":"a","n":0})"));
}

TEST_CASE("ignored paths also apply inside a watched object") {
  hasher_settings s = watch({"properties"});
  s.ignored = {"properties.lastmodifieddate"};
  field_hasher<> h(s);
  CHECK(hash_of(h, R"({"properties":{"email":"a","lastmodifieddate":"1"}})") ==
        hash_of(h, R"({"properties":{"email":"a","lastmodifieddate":"2"}})"));
  CHECK(hash_of(h, R"({"properties":{"email":"a"}})") != hash_of(h, R"({"properties":{"email":"b"}})"));
}

TEST_CASE("extras report scalar views in configuration order without changing the digest") {
  hasher_settings s = watch({"name"});
  s.extract = {*field_path::parse("id"),   *field_path::parse("dates.updated"), *field_path::parse("/price"),
               *field_path::parse("nope"), *field_path::parse("dates"),         *field_path::parse("flag"),
               *field_path::parse("nil"),  *field_path::parse("name"),          *field_path::parse("list[1]"),
               *field_path::parse("id")};
  field_hasher<> h(s);
  auto r = h.read(
      R"({"id":"r\u00e9c-1","name":"N","price":12.50,"flag":false,"nil":null,"list":[0,1700000000000],)"
      R"("dates":{"updated":"2024-01-01T00:00:00Z"}})");
  REQUIRE(r.has_value());
  REQUIRE(r->extra_count == 10);
  CHECK(r->extra(0).kind == value_kind::string);
  CHECK(r->extra(0).text ==
        "r\xc3\xa9"
        "c-1");
  CHECK(r->extra(1).text == "2024-01-01T00:00:00Z");
  CHECK(r->extra(2).kind == value_kind::number);
  CHECK(r->extra(2).text == "12.50");
  CHECK_FALSE(r->extra(3).present());
  CHECK(r->extra(4).kind == value_kind::object);
  CHECK(r->extra(5).kind == value_kind::boolean);
  CHECK(r->extra(5).text == "false");
  CHECK(r->extra(6).kind == value_kind::null);
  CHECK(r->extra(7).text == "N");
  CHECK(r->extra(8).text == "1700000000000");
  CHECK(r->extra(9).text == r->extra(0).text);

  field_hasher<> no_extras(watch({"name"}));
  CHECK(r->hash == hash_of(no_extras, R"({"name":"N"})"));

  // The next record replaces the previous one's extras.
  auto next = h.read(R"({"name":"M"})");
  REQUIRE(next.has_value());
  CHECK_FALSE(next->extra(0).present());
}

TEST_CASE("not JSON, not an object, too deep: errors as values") {
  field_hasher<> h(watch({"a"}));
  auto not_json = h.read(R"({"a":1,)");
  REQUIRE_FALSE(not_json.has_value());
  CHECK(not_json.code() == errc::parse_error);
  CHECK(not_json.error().position != sincehash::no_position);

  for (const char* text : {"[1,2]", "\"x\"", "12", "null", "true"}) {
    CAPTURE(text);
    auto r = h.read(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.code() == errc::invalid_record);
  }
  for (const char* text : {"", "   ", "{", "[1,", "{\"a\":tru}", "{} {}", "{\"a\":01}", "\xff"}) {
    CAPTURE(text);
    CHECK(h.read(text).code() == errc::parse_error);
  }
  std::string deep = "{\"a\":" + std::string(600, '[') + std::string(600, ']') + "}";
  CHECK(h.read(deep).code() == errc::invalid_record);
  // Deep nesting where nobody looks is fine.
  std::string deep_elsewhere = "{\"b\":" + std::string(600, '[') + std::string(600, ']') + ",\"a\":1}";
  CHECK(h.read(deep_elsewhere).has_value());
  // The hasher is usable after an error.
  CHECK(h.read(R"({"a":1})").has_value());
}

TEST_CASE("an already-parsed nlohmann::json gives the same digest as its text") {
  hasher_settings s = watch({"a", "b.c", "d"});
  s.extract = {*field_path::parse("id")};
  field_hasher<> h(s);
  const std::string text = R"({"id":17,"a":[1,2.5,"x",{"q":null}],"b":{"c":{"z":1,"y":[true]}},"d":-3e-7})";
  auto from_text = h.read(text);
  REQUIRE(from_text.has_value());
  const digest d = from_text->hash;
  auto from_doc = h.read(nlohmann::json::parse(text));
  REQUIRE(from_doc.has_value());
  CHECK(from_doc->hash == d);
  CHECK(from_doc->extra(0).text == "17");

  CHECK(h.read(nlohmann::json::array()).code() == errc::invalid_record);
  field_hasher<> whole(hasher_settings{});
  CHECK(whole.hash(nlohmann::json::parse(text)).value() == whole.hash(text).value());
  nlohmann::json nan_doc = {{"a", std::nan("")}};
  CHECK(h.read(nan_doc).code() == errc::invalid_record);
}

TEST_CASE("hash_values hashes already-located values like a record holding them") {
  hasher_settings s = watch({"b", "a", "c", "d"});
  s.normalize["a"] = {normalizer::trim};
  field_hasher<> h(s);
  // watched() order: a b c d.
  auto located =
      h.hash_values({value_view{value_kind::string, " x "}, value_view{value_kind::number, "12.50"},
                     value_view{}, value_view{value_kind::boolean, "true"}});
  REQUIRE(located.has_value());
  CHECK(*located == hash_of(h, R"({"a":"x","b":12.5,"d":true})"));
  CHECK(h.hash_values({value_view{}}).code() == errc::invalid_argument);

  // Without normalizers (the copy-only path) too, and the message is the one a record gives.
  field_hasher<> plain(watch({"s", "n", "b", "m"}));  // order: b m n s
  auto direct =
      plain.hash_values({value_view{value_kind::boolean, "false"}, value_view{},
                         value_view{value_kind::null, "null"}, value_view{value_kind::string, "v"}});
  REQUIRE(direct.has_value());
  const std::string located_message(plain.last_message());
  CHECK(located_message == false_v + missing + null_v + str("v"));
  CHECK(*direct == hash_of(plain, R"({"s":"v","n":null,"b":false})"));
  CHECK(std::string(plain.last_message()) == located_message);
  CHECK(
      h.hash_values({value_view{value_kind::object, ""}, value_view{}, value_view{}, value_view{}}).code() ==
      errc::invalid_argument);
}

TEST_CASE("algorithms: 128 bits, seeds and keys change digests and fingerprints") {
  const std::string rec = R"({"a":"v"})";
  field_hasher<> plain(watch({"a"}));
  field_hasher<sincehash::xxh3_128> wide(watch({"a"}));
  field_hasher<sincehash::xxh3_64_seeded> seeded(watch({"a"}), sincehash::xxh3_64_seeded(42, "seed-2024"));
  field_hasher<sincehash::xxh3_64_seeded> seeded2(watch({"a"}), sincehash::xxh3_64_seeded(43, "seed-2025"));
  field_hasher<sincehash::xxh3_64_keyed> keyed(watch({"a"}), sincehash::xxh3_64_keyed("k1", "key-1"));
  field_hasher<sincehash::xxh3_128_keyed> keyed128(watch({"a"}), sincehash::xxh3_128_keyed("k1", "key-1"));

  const digest p = plain.hash(rec).value();
  CHECK(p.bits == 64);
  CHECK(wide.hash(rec).value().bits == 128);
  CHECK(seeded.hash(rec).value() != p);
  CHECK(seeded.hash(rec).value() != seeded2.hash(rec).value());
  CHECK(keyed.hash(rec).value() != p);
  CHECK(keyed128.hash(rec).value().bits == 128);

  std::set<std::string> fingerprints{plain.fingerprint(),   wide.fingerprint(),  seeded.fingerprint(),
                                     seeded2.fingerprint(), keyed.fingerprint(), keyed128.fingerprint()};
  CHECK(fingerprints.size() == 6);
  CHECK(keyed.fingerprint().find("k1") == std::string::npos);  // the key never appears
  CHECK(keyed.fingerprint().find("key-1") != std::string::npos);

  CHECK_THROWS_AS(sincehash::xxh3_64_seeded(1, ""), sincehash::error);
  CHECK_THROWS_AS(sincehash::xxh3_64_keyed("", "id"), sincehash::error);
}

TEST_CASE("the fingerprint names version, algorithm, key id, paths, normalizers and ignored fields") {
  hasher_settings s = watch({"b", "a"});
  s.ignored = {"a.z"};
  s.normalize["/a"] = {normalizer::lower, normalizer::trim};
  field_hasher<> h(s);
  CHECK(h.fingerprint() == R"({"algorithm":"xxh3-64","encoding":1,"ignored":["/a/z"],"key_id":"",)"
                           R"("normalize":[["/a",["trim","lower"]]],"watched":["/a","/b"]})");
  hasher_settings t = s;
  t.ignored.clear();
  CHECK(field_hasher<>(t).fingerprint() != h.fingerprint());
  hasher_settings u = s;
  u.normalize["/a"] = {normalizer::trim};
  CHECK(field_hasher<>(u).fingerprint() != h.fingerprint());
  hasher_settings v = s;
  v.extract = {*field_path::parse("id")};
  CHECK(field_hasher<>(v).fingerprint() == h.fingerprint());  // extras do not change digests
}

TEST_CASE("configuration errors name the offending path") {
  auto refused = [](const hasher_settings& s, const std::string& where, const std::string& needle) {
    try {
      field_hasher<> h(s);
      FAIL("no error for " << needle);
    } catch (const sincehash::invalid_config& e) {
      CHECK(e.code() == errc::config_error);
      REQUIRE(e.problems().size() == 1);
      CHECK(e.problems()[0].where == where);
      CHECK_MESSAGE(e.problems()[0].reason.find(needle) != std::string::npos, e.problems()[0].reason);
    }
    CHECK(sincehash::hasher_settings_problems(s).size() == 1);
  };
  refused(watch({"a", "b..c"}), "/watched", "b..c");
  refused(watch({"a.b", "/a/b"}), "/watched", "/a/b");
  refused(watch({"a", "a.b"}), "/watched", "a.b");
  hasher_settings ig = watch({"a.b"});
  ig.ignored = {"a"};
  refused(ig, "/ignored", "'a'");
  hasher_settings norm;
  norm.normalize["x["] = {normalizer::trim};
  refused(norm, "/normalize/x[", "x[");
  hasher_settings twice;
  twice.normalize["a.b"] = {normalizer::trim};
  twice.normalize["/a/b"] = {normalizer::lower};
  refused(twice, "/normalize/a.b", "duplicates '/a/b'");
  hasher_settings too_many;
  too_many.extract.assign(65, *field_path::parse("id"));
  refused(too_many, "/extract", "64");
  hasher_settings empty_extra;
  empty_extra.extract = {field_path()};
  refused(empty_extra, "/extract/0", "empty");
  CHECK(sincehash::hasher_settings_problems(watch({"a", "b"})).empty());
}

TEST_CASE("copies are independent and agree") {
  hasher_settings s = watch({"a"});
  s.extract = {*field_path::parse("id")};
  field_hasher<> h(s);
  field_hasher<> copy = h;
  auto r1 = h.read(R"({"id":"one","a":1})");
  auto r2 = copy.read(R"({"id":"two","a":1})");
  REQUIRE(r1.has_value());
  REQUIRE(r2.has_value());
  CHECK(r1->hash == r2->hash);
  CHECK(r1->extra(0).text == "one");
  CHECK(r2->extra(0).text == "two");
}
