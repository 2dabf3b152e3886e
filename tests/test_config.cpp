#include <sincehash/config.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>

using namespace sincehash;
using namespace std::chrono_literals;

namespace {

// The second example payload of Cloud Elements' polled event hash verification, as written there.
const char* seed_payload = R"({
  "configuration": {
    "event.helper.key": "sfdcPolling",
    "event.poller.refresh_interval": "1",
    "event.notification.callback.url": "http://localhost:2222/events",
    "event.vendor.type": "polling",
    "event.notification.enabled": true,
    "event.poller.configuration": "{\"contacts\":{\"url\":\"/hubs/crm/contacts?where=LastModifiedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}'\",\"idField\":\"Id\",\"datesConfiguration\":{\"updatedDateField\":\"LastModifiedDate\",\"updatedDateFormat\":\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\",\"updatedDateTimezone\":\"GMT\",\"createdDateField\":\"CreatedDate\",\"createdDateFormat\":\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\",\"createdDateTimezone\":\"GMT\"},\"validationData\":{\"fields\":[\"FirstName\", \"LastName\",\"Email\"]}}}"
  }
})";

std::string problems_of(const std::string& text) {
  try {
    (void)read_config_text(text);
  } catch (const invalid_config& e) {
    std::string out;
    for (const auto& p : e.problems()) out += p.describe() + "\n";
    return out;
  }
  return "no problem";
}

}  // namespace

TEST_CASE("the seed's instance payload loads exactly as written") {
  const poller_config cfg = read_config_text(seed_payload);
  CHECK(cfg.poll_interval == std::chrono::seconds(60));
  REQUIRE(cfg.resources.size() == 1);
  const resource_settings& c = cfg.resource("contacts");
  CHECK(c.name == "contacts");
  CHECK(c.poll_interval == std::chrono::seconds(60));
  CHECK(c.url == "/hubs/crm/contacts?where=LastModifiedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}'");
  CHECK(c.id_field.text() == "Id");
  REQUIRE(c.updated.has_value());
  REQUIRE(c.created.has_value());
  CHECK(c.updated->path.text() == "LastModifiedDate");
  CHECK(c.created->path.text() == "CreatedDate");
  CHECK(c.watched == std::vector<std::string>{"FirstName", "LastName", "Email"});
  // Salesforce writes +0000; others write Z: both are read by the configured Java pattern.
  const instant expected = parse_iso8601("2024-03-01T10:00:00.123Z").value();
  CHECK(c.updated->format.parse("2024-03-01T10:00:00.123+0000", false).value() == expected);
  CHECK(c.updated->format.parse("2024-03-01T10:00:00.123Z", false).value() == expected);
  CHECK(c.updated->format.format(expected) == "2024-03-01T10:00:00.123+0000");
  CHECK(expand_url_template(c.url, expected).value() ==
        "/hubs/crm/contacts?where=LastModifiedDate>'2024-03-01T10:00:00.123Z'");
  // Defaults of sincehash's own settings.
  CHECK_FALSE(c.ttl.has_value());
  CHECK(c.detect_deletes);
  CHECK_FALSE(c.strict);
  CHECK_FALSE(c.chronological);
}

TEST_CASE("the configuration object alone, the poller object alone, and the poller as an object") {
  const std::string poller = R"({"contacts": {"idField": "id"}, "deals": {"idField": "/dealId"}})";
  for (const std::string& text :
       {poller, R"({"event.poller.configuration": )" + poller + "}",
        R"({"name": "my instance", "configuration": {"event.poller.configuration": )" + poller + "}}"}) {
    CAPTURE(text);
    const poller_config cfg = read_config_text(text);
    CHECK(cfg.resources.size() == 2);
    CHECK(cfg.resource("deals").id_field.canonical() == "/dealId");
    CHECK_FALSE(cfg.resource("contacts").updated.has_value());
  }
  try {
    (void)read_config_text(poller).resource("tickets");
    FAIL("no error");
  } catch (const invalid_config& e) {
    CHECK(std::string(e.what()).find("configured: contacts, deals") != std::string::npos);
  }
}

TEST_CASE("sincehash's own keys") {
  const poller_config cfg = read_config_text(R"({"contacts": {
    "idField": "id",
    "datesConfiguration": {"updatedDateField": "properties.hs_lastmodifieddate", "updatedDateFormat": "epoch:ms"},
    "sincehash": {"ttl": "P30D", "lookback": 300, "maxFutureSkew": "PT5M", "chronological": true,
                  "detectDeletes": false, "strict": true, "rescan": "0 0 ? * *",
                  "initialSince": "2020-01-01T00:00:00Z", "ignoreFields": ["properties.hs_lastmodifieddate"],
                  "normalize": {"properties.email": ["trim", "lower"]}}}})");
  const resource_settings& c = cfg.resource("contacts");
  CHECK(c.ttl == std::chrono::nanoseconds(24h * 30));
  CHECK(c.lookback == std::chrono::nanoseconds(300s));
  CHECK(c.max_future_skew == std::chrono::nanoseconds(5min));
  CHECK(c.chronological);
  CHECK_FALSE(c.detect_deletes);
  CHECK(c.strict);
  REQUIRE(c.rescan.has_value());
  CHECK(c.rescan->is_cron());
  CHECK(c.rescan_text == "0 0 ? * *");
  CHECK(c.initial_since == std::string("2020-01-01T00:00:00Z"));
  CHECK(c.ignored == std::vector<std::string>{"properties.hs_lastmodifieddate"});
  CHECK(c.normalize.at("properties.email") == std::vector<normalizer>{normalizer::trim, normalizer::lower});
  CHECK(c.updated->format.parse("1709287200000", true).value() ==
        parse_iso8601("2024-03-01T10:00:00Z").value());
}

TEST_CASE("partition keys: plain names keep their key, distinct pairs never share one") {
  CHECK(partition_key("default", "contacts") == "default/contacts");
  CHECK(partition_key("instance-42", "crm.contacts v2") == "instance-42/crm.contacts v2");
  CHECK(partition_key("a/b", "c") == "a%2Fb/c");
  CHECK(partition_key("a", "b/c") == "a/b%2Fc");
  CHECK(partition_key("a%2Fb", "c") == "a%252Fb/c");
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"a/b", "c"},  {"a", "b/c"}, {"a%2Fb", "c"}, {"a", "b%2Fc"}, {"a%", "2Fb/c"}, {"", "a/b/c"},
      {"a/b/c", ""}, {"", ""},     {"%", "%"},     {"%25", ""},    {"a", "b"}};
  std::set<std::string> keys;
  for (const auto& [instance, resource] : pairs) {
    const std::string key = partition_key(instance, resource);
    CHECK(keys.insert(key).second);
    const auto back = split_partition_key(key);
    REQUIRE(back.has_value());
    CHECK(back->first == instance);
    CHECK(back->second == resource);
  }
  CHECK_FALSE(split_partition_key("no-slash").has_value());
  CHECK_FALSE(split_partition_key("a/b/c").has_value());
  CHECK_FALSE(split_partition_key("a%2/b").has_value());
  CHECK_FALSE(split_partition_key("a%2f/b").has_value());
}

TEST_CASE("a number too large for a double names where it is") {
  const auto problem = [](const std::string& text) {
    try {
      (void)read_config_text(text);
    } catch (const invalid_config& e) {
      REQUIRE(e.problems().size() == 1);
      return e.problems()[0];
    }
    FAIL("no error");
    return config_problem{};
  };
  auto p = problem(R"({"contacts": {"idField": "id", "sincehash": {"lookback": 5, "ttl": 1e400}}})");
  CHECK(p.where == "/contacts/sincehash/ttl");
  CHECK(p.reason.find("1e400") != std::string::npos);
  CHECK(p.reason.find("too large") != std::string::npos);
  p = problem(R"({"c": {"a/b": [0, [1, 2], {"x": -1E999}]}})");
  CHECK(p.where == "/c/a~1b/2/x");
  p = problem(R"({"c": [1, 2, 3e999]})");
  CHECK(p.where == "/c/2");
  p = problem(R"({"configuration": {"event.poller.configuration": "{\"c\": {\"idField\": [1e999]}}"}})");
  CHECK(p.where == "/configuration/event.poller.configuration/c/idField/0");
  p = problem(R"({"c": {"idField": "id",}})");  // a syntax error still names its byte
  CHECK(p.where.empty());
  CHECK(p.reason.find("not valid JSON at byte") != std::string::npos);
}

TEST_CASE("maxFutureSkew: 15 minutes by default, \"none\" turns the guard off") {
  const auto skew = [](const char* own) {
    return read_config_text(std::string(R"({"c": {"idField": "id", "sincehash": )") + own + "}}")
        .resource("c")
        .max_future_skew;
  };
  CHECK(skew("{}") == std::chrono::nanoseconds(15min));
  CHECK(resource_settings{}.max_future_skew == std::chrono::nanoseconds(15min));
  CHECK_FALSE(skew(R"({"maxFutureSkew": "none"})").has_value());
  CHECK(skew(R"({"maxFutureSkew": 60})") == std::chrono::nanoseconds(1min));
  try {
    (void)skew(R"({"maxFutureSkew": "never"})");
    FAIL("no error");
  } catch (const invalid_config& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].where == "/c/sincehash/maxFutureSkew");
    CHECK(e.problems()[0].reason.find("\"none\"") != std::string::npos);
  }
}

TEST_CASE(
    "an unknown key is an error naming it and where it stands; every problem is reported, unknown keys "
    "first") {
  const std::string p = problems_of(R"({"configuration": {"event.poller.configuration": {"contacts": {
      "idFeild": "Id",
      "datesConfiguration": {"updatedDateField": "LastModifiedDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSQ"},
      "sincehash": {"lookback": "soon", "tll": "P1D"}}}}})");
  INFO(p);
  CHECK(p.find("/configuration/event.poller.configuration/contacts/idFeild: unknown key \"idFeild\"") !=
        std::string::npos);
  CHECK(p.find("/configuration/event.poller.configuration/contacts/sincehash/tll: unknown key \"tll\"") !=
        std::string::npos);
  CHECK(p.find("/configuration/event.poller.configuration/contacts/idField: missing") != std::string::npos);
  CHECK(p.find("datesConfiguration/updatedDateFormat: bad date format") != std::string::npos);
  CHECK(p.find("sincehash/lookback: bad duration \"soon\"") != std::string::npos);
  CHECK(p.find("tll") < p.find("idField: missing"));
  CHECK(p.find("idFeild") < p.find("lookback"));
}

TEST_CASE("date patterns that name an instant are accepted: a date, a date and time, an epoch") {
  for (const char* format :
       {"yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm", "yyyy-DDD", "%s", "%ms", "%Y%m%d%H%M%S", "epoch:s"}) {
    INFO(std::string(format));
    const std::string p = problems_of(
        std::string(R"({"contacts": {"idField": "id", "datesConfiguration": {"updatedDateField": "d",)") +
        R"("updatedDateFormat": ")" + format + R"("}}})");
    CHECK(p == "no problem");
  }
}

TEST_CASE("bad values name their key") {
  struct bad {
    const char* resource_body;
    const char* expected;
  };
  const bad cases[] = {
      {R"({"idField": "a..b"})", "/contacts/idField: bad field path"},
      {R"({"idField": 42})", "/contacts/idField: must be a string"},
      {R"({"idField": "id", "url": "/x?since=${gmtDate:yyyy-QQ}"})", "/contacts/url: bad URL template"},
      {R"({"idField": "id", "url": "/x?since=${wat}"})", "/contacts/url: bad URL template"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "d", "updatedDateTimezone": "Mars/Olympus"}})",
       "updatedDateTimezone: unknown time zone \"Mars/Olympus\""},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateFormat": "yyyy"}})",
       "updatedDateField: missing"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "d", "updatedDateFormat": "yyyy-MM-dd HH:ms"}})",
       "/contacts/datesConfiguration/updatedDateFormat: bad date format \"yyyy-MM-dd HH:ms\": "
       "invalid_argument: the "
       "minute 'm' (at 14) has a variable width and is followed directly by the second 's' (at 15)"},
      {R"({"idField": "id", "datesConfiguration": {"createdDateField": "c", "createdDateFormat": "%s%f"}})",
       "/contacts/datesConfiguration/createdDateFormat: bad date format \"%s%f\": invalid_argument: the "
       "epoch "
       "'%s' (at 0) has a variable width and is followed directly by the fraction of a second '%f' (at 2)"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "d", "updatedDateFormat": "HH:mm"}})",
       "/contacts/datesConfiguration/updatedDateFormat: bad date format \"HH:mm\": invalid_argument: the "
       "date "
       "pattern has no year, so it cannot identify an instant"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "d", "updatedDateFormat": "yyyy-MM"}})",
       "/contacts/datesConfiguration/updatedDateFormat: bad date format \"yyyy-MM\": invalid_argument: the "
       "date "
       "pattern has no day of the month"},
      {R"({"idField": "id", "datesConfiguration": {"createdDateField": "c", "createdDateFormat": "yyyy-MM-dd mm:ss"}})",
       "/contacts/datesConfiguration/createdDateFormat: bad date format \"yyyy-MM-dd mm:ss\": "
       "invalid_argument at "
       "byte 11: the date pattern has a minute but no hour, so it cannot identify an instant"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "d", "updatedDateFormat": "%H:%M"}})",
       "/contacts/datesConfiguration/updatedDateFormat: bad date format \"%H:%M\": invalid_argument: the "
       "date "
       "pattern has no year"},
      {R"({"idField": "id", "validationData": {"fields": ["a", "a"]}})", "/contacts/validationData/fields"},
      {R"({"idField": "id", "validationData": {"fields": "a"}})", "must be an array"},
      {R"({"idField": "id", "validationData": {}})", "validationData/fields: missing"},
      {R"({"idField": "id", "sincehash": {"rescan": "61 * * * *"}})", "sincehash/rescan: bad schedule"},
      {R"({"idField": "id", "sincehash": {"strict": "yes"}})", "sincehash/strict: must be true or false"},
      {R"({"idField": "id", "sincehash": {"ttl": "P1M"}})", "sincehash/ttl: bad duration"},
      {R"({"idField": "id", "sincehash": {"ttl": 0}})", "sincehash/ttl: must be longer than zero"},
      {R"({"idField": "id", "sincehash": {"initialSince": "yesterday"}})", "sincehash/initialSince"},
      {R"({"idField": "id", "sincehash": {"normalize": {"email": ["upper"]}}})",
       "normalize/email/0: unknown normalizer"},
      {R"({"idField": "id", "validationData": {"fields": ["a", "a.b"]}})",
       "/contacts/validationData/fields: watched path 'a.b' lies inside watched path 'a'"},
      {R"({"idField": "id", "validationData": {"fields": ["a.b"]}, "sincehash": {"ignoreFields": ["a"]}})",
       "/contacts/sincehash/ignoreFields: ignored path 'a' contains watched path 'a.b'"},
      {R"({"idField": "id", "sincehash": {"normalize": {"/a/b": ["trim"], "a.b": ["lower"]}}})",
       "/contacts/sincehash/normalize/a.b: normalize path 'a.b' duplicates '/a/b'"},
      {R"({"idField": "id", "sincehash": []})", "/contacts/sincehash: must be an object"},
      {R"("id")", "/contacts: a resource must be an object"},
  };
  for (const auto& c : cases) {
    const std::string p = problems_of(std::string(R"({"contacts": )") + c.resource_body + "}");
    INFO(c.resource_body);
    INFO(p);
    CHECK(p.find(c.expected) != std::string::npos);
  }
  CHECK(problems_of(R"({"event.poller.configuration": "{not json"})")
            .find("/event.poller.configuration: the string is not valid JSON") != std::string::npos);
  CHECK(problems_of(R"({"event.poller.configuration": {}, "event.poller.refresh_interval": "soon"})")
            .find("/event.poller.refresh_interval: must be a positive whole number of minutes") !=
        std::string::npos);
  CHECK(problems_of("[1]").find("must be a JSON object") != std::string::npos);
  CHECK(problems_of("{").find("not valid JSON at byte") != std::string::npos);
  // Instance-level keys belong to Cloud Elements: accepted whatever they are.
  CHECK(
      problems_of(
          R"({"configuration": {"oauth.api.key": "x", "event.poller.configuration": {"c": {"idField": "id"}}},
                        "element": {"key": "sfdc"}})") == "no problem");
}

TEST_CASE("the cursor: instant by default, integer with a numeric lookback, string") {
  const poller_config dflt = read_config_text(R"({"c": {"idField": "id"}})");
  CHECK(dflt.resource("c").cursor == cursor_kind::instant);
  CHECK_FALSE(dflt.resource("c").integer_lookback.has_value());

  const poller_config cfg = read_config_text(R"({
    "events": {"idField": "id", "url": "/events?after=${since}",
               "datesConfiguration": {"updatedDateField": "seq"},
               "sincehash": {"cursor": "integer", "lookback": 100, "initialSince": "-1"}},
    "changes": {"idField": "id", "url": "/changes?cursor=${since}",
                "datesConfiguration": {"updatedDateField": "cursor"},
                "sincehash": {"cursor": "string", "initialSince": "start"}},
    "dated": {"idField": "id", "url": "/d?since=${since}&ms=${epoch:ms}",
              "sincehash": {"cursor": "instant", "lookback": "PT1M", "maxFutureSkew": "PT5M"}}})");
  const resource_settings& e = cfg.resource("events");
  CHECK(e.cursor == cursor_kind::integer);
  CHECK(e.integer_lookback == std::int64_t{100});
  CHECK_FALSE(e.lookback.has_value());
  CHECK(e.initial_since == std::string("-1"));
  CHECK(e.updated->path.text() == "seq");
  const resource_settings& c = cfg.resource("changes");
  CHECK(c.cursor == cursor_kind::string);
  CHECK(c.initial_since == std::string("start"));
  const resource_settings& d = cfg.resource("dated");
  CHECK(d.cursor == cursor_kind::instant);
  CHECK(d.lookback == std::chrono::nanoseconds(1min));
  CHECK(d.max_future_skew == std::chrono::nanoseconds(5min));
  CHECK(read_config_text(R"({"c": {"idField": "id", "sincehash": {"cursor": "integer", "lookback": 0}}})")
            .resource("c")
            .integer_lookback == std::int64_t{0});
}

TEST_CASE("date-only settings with a non-instant cursor, and bad cursor values, name their key") {
  struct bad {
    const char* resource_body;
    const char* expected;
  };
  const bad cases[] = {
      {R"({"idField": "id", "sincehash": {"cursor": "number"}})",
       "/contacts/sincehash/cursor: must be \"instant\", \"integer\" or \"string\""},
      {R"({"idField": "id", "sincehash": {"cursor": 1}})", "/contacts/sincehash/cursor: must be"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "seq", "createdDateField": "c"},
           "sincehash": {"cursor": "integer"}})",
       "/contacts/datesConfiguration/createdDateField: a date setting needs an instant cursor (the cursor is "
       "\"integer\""},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "seq", "updatedDateFormat": "epoch:ms"},
           "sincehash": {"cursor": "string"}})",
       "/contacts/datesConfiguration/updatedDateFormat: a date setting needs an instant cursor"},
      {R"({"idField": "id", "datesConfiguration": {"updatedDateField": "seq", "updatedDateTimezone": "UTC"},
           "sincehash": {"cursor": "integer"}})",
       "/contacts/datesConfiguration/updatedDateTimezone: a date setting needs an instant cursor"},
      {R"({"idField": "id", "url": "/x?since=${gmtDate:yyyy-MM-dd}", "sincehash": {"cursor": "integer"}})",
       "/contacts/url: bad URL template: config_error at byte 9: placeholder ${gmtDate:yyyy-MM-dd} needs an "
       "instant cursor"},
      {R"({"idField": "id", "url": "/x?since=${epoch:ms}", "sincehash": {"cursor": "string"}})",
       "/contacts/url: bad URL template: config_error at byte 9: placeholder ${epoch:ms} needs an instant "
       "cursor"},
      {R"({"idField": "id", "url": "/x?since=${wat}", "sincehash": {"cursor": "string"}})",
       "/contacts/url: bad URL template: config_error at byte 9: unknown placeholder ${wat}"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "lookback": "PT5M"}})",
       "/contacts/sincehash/lookback: with an integer cursor, must be a whole non-negative number"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "lookback": -1}})",
       "/contacts/sincehash/lookback: with an integer cursor, must be a whole non-negative number"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "lookback": 1.5}})",
       "/contacts/sincehash/lookback: with an integer cursor, must be a whole non-negative number"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "lookback": 9223372036854775808}})",
       "/contacts/sincehash/lookback: with an integer cursor, must be a whole non-negative number"},
      {R"({"idField": "id", "sincehash": {"cursor": "string", "lookback": 5}})",
       "/contacts/sincehash/lookback: a string cursor takes no lookback"},
      {R"({"idField": "id", "sincehash": {"cursor": "string", "lookback": "PT5M"}})",
       "/contacts/sincehash/lookback: a string cursor takes no lookback"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "maxFutureSkew": "PT15M"}})",
       "/contacts/sincehash/maxFutureSkew: applies only to an instant cursor"},
      {R"({"idField": "id", "sincehash": {"cursor": "string", "maxFutureSkew": 60}})",
       "/contacts/sincehash/maxFutureSkew: applies only to an instant cursor"},
      {R"({"idField": "id", "sincehash": {"cursor": "integer", "initialSince": "2024-01-01T00:00:00Z"}})",
       "/contacts/sincehash/initialSince: with an integer cursor, must be a decimal integer"},
      {R"({"idField": "id", "sincehash": {"cursor": "instant", "initialSince": "42"}})",
       "/contacts/sincehash/initialSince: must be an ISO 8601 date"},
  };
  for (const auto& c : cases) {
    const std::string p = problems_of(std::string(R"({"contacts": )") + c.resource_body + "}");
    INFO(c.resource_body);
    INFO(p);
    CHECK(p.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("reportChanges in the configuration") {
  const poller_config on = read_config_text(
      R"({"people": {"idField": "id", "validationData": {"fields": ["Email"]}, "sincehash": {"reportChanges": true}}})");
  CHECK(on.resource("people").report_changes);
  const poller_config off = read_config_text(R"({"people": {"idField": "id"}})");
  CHECK_FALSE(off.resource("people").report_changes);
  CHECK(
      problems_of(
          R"({"people": {"idField": "id", "validationData": {"fields": ["Email"]}, "sincehash": {"reportChanges": "yes"}}})") ==
      "/people/sincehash/reportChanges: must be true or false\n");
  CHECK(
      problems_of(R"({"people": {"idField": "id", "sincehash": {"reportChanges": true}}})") ==
      "/people/sincehash/reportChanges: needs watched fields (\"validationData\": {\"fields\": [...]}): the "
      "whole-record hash has no fields to name\n");
}
