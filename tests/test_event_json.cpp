// Events and rejects as JSON lines: always one line of valid JSON, values as the source wrote them.

#include <sincehash/event_json.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace sincehash;
using nlohmann::json;

namespace {

event make_event(event_type type, std::string id, value_kind id_kind, std::string_view record) {
  event e;
  e.type = type;
  e.id = std::move(id);
  e.id_kind = id_kind;
  e.updated = "2024-03-01T10:00:00Z";
  e.updated_kind = value_kind::string;
  e.event_id = "0123456789abcdef0123456789abcdef";
  e.record = record;
  return e;
}

// The one line `text` must be, parsed.
json one_line(const std::string& text) {
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  CHECK(text.find('\n') == text.size() - 1);
  CHECK(text.find('\r') == std::string::npos);
  return json::parse(text);
}

}  // namespace

TEST_CASE("an event line carries the record's bytes, and the id and date as the source wrote them") {
  const std::string record = R"({"id": 42,  "name":"Ann"})";
  std::string out;
  append_event_json(out, make_event(event_type::updated, "42", value_kind::number, record));
  CHECK(out == R"({"type":"updated","id":42,"updated":"2024-03-01T10:00:00Z",)"
               R"("event_id":"0123456789abcdef0123456789abcdef","record":{"id": 42,  "name":"Ann"}})"
               "\n");
  const json j = one_line(out);
  CHECK(j["id"].is_number_integer());
  CHECK(j["record"]["name"] == "Ann");

  out.clear();
  event e = make_event(event_type::created, "0042", value_kind::string, R"({"id":"0042"})");
  e.updated = "1709287200";
  e.updated_kind = value_kind::number;
  append_event_json(out, e);
  const json k = one_line(out);
  CHECK(k["id"] == "0042");
  CHECK(k["updated"] == 1709287200);
  CHECK(k["type"] == "created");
}

TEST_CASE("a pretty-printed record is compacted to stay on one line; its strings keep their spaces") {
  const std::string record = "{\r\n  \"id\": \"a b\",\n  \"note\": \"two  spaces\\n\",\n  \"n\": [1, 2]\n}";
  std::string out;
  append_event_json(out, make_event(event_type::created, "a b", value_kind::string, record));
  const json j = one_line(out);
  CHECK(j["record"] == json::parse(record));
  CHECK(out.find(R"("record":{"id":"a b","note":"two  spaces\n","n":[1,2]})") != std::string::npos);
}

TEST_CASE("a deletion has a null record; a missing date is null") {
  event e = make_event(event_type::deleted, "7", value_kind::string, "ignored bytes");
  e.updated.clear();
  e.updated_kind = value_kind::missing;
  std::string out;
  append_event_json(out, e);
  const json j = one_line(out);
  CHECK(j["type"] == "deleted");
  CHECK(j["record"].is_null());
  CHECK(j["updated"].is_null());
}

TEST_CASE("strings that are not UTF-8 become U+FFFD, control characters are escaped") {
  std::string out;
  const std::string in =
      "a\xC3\x28"      // a lead byte without its continuation
      "b\xED\xA0\x80"  // an encoded surrogate: one replacement per byte
      "c\x01\"\\\t\xF0\x9F\x98\x80";
  append_json_string(out, in);
  CHECK(in.size() == 16);
  const json j = json::parse(out);
  CHECK(j.get<std::string>() ==
        "a\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
        "c\x01\"\\\t\xF0\x9F\x98\x80");
  CHECK(out.find("\\u0001") != std::string::npos);
}

TEST_CASE("a rejects line holds its record as JSON only when the record is valid JSON") {
  rejected_record r;
  r.position = 3;
  r.id = "x";
  r.reason = "no updated date";
  r.record = "{\n\"id\": \"x\"\n}";
  r.record_is_json = true;
  std::string out;
  append_reject_json(out, r);
  json j = one_line(out);
  CHECK(j["line"] == 3);
  CHECK(j["record"]["id"] == "x");

  out.clear();
  r.id.reset();
  r.record = "{\"id\": \"x\", \"cut";  // a reader may have stopped before the broken part
  append_reject_json(out, r);
  j = one_line(out);
  CHECK(j["id"].is_null());
  CHECK(j["record"] == "{\"id\": \"x\", \"cut");
}

TEST_CASE("an offset is a number only when it is an integer written plainly") {
  auto text = [](const std::optional<offset_value>& v) {
    std::string out;
    append_offset_json(out, v);
    return out;
  };
  CHECK(text(std::nullopt) == "null");
  CHECK(text(offset_value::from_integer(17)) == "17");
  CHECK(text(offset_value::from_integer(11, "011")) == "\"011\"");
  CHECK(text(offset_value::from_string("abc")) == "\"abc\"");
}

TEST_CASE("with reportChanges an event names its changed paths, sorted, or null; without, no member") {
  const auto names = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"properties.phone", "Email", "/Name"});
  event e = make_event(event_type::updated, "1", value_kind::string, R"({"id":"1"})");
  e.changed = changed_fields(names, {true, true, false});
  std::string out;
  append_event_json(out, e);
  CHECK(out == R"({"type":"updated","id":"1","updated":"2024-03-01T10:00:00Z",)"
               R"("event_id":"0123456789abcdef0123456789abcdef","changed":["Email","properties.phone"],)"
               R"("record":{"id":"1"}})"
               "\n");
  out.clear();
  e.changed = changed_fields(names);
  append_event_json(out, e);
  CHECK(one_line(out)["changed"].is_null());
  CHECK(out.find(R"("changed":null,"record":)") != std::string::npos);
  out.clear();
  e.changed = changed_fields();
  append_event_json(out, e);
  CHECK(out.find("changed") == std::string::npos);
}
