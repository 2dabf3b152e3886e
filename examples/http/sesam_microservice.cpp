// A Sesam microservice with continuation support in front of HubSpot's contacts API: the C++
// form of the Python service in Sesam's "Microservices - Continuation support" tutorial.
//
//   GET /get_contacts               every contact (a full sync), every page of the list endpoint
//   GET /get_contacts?since=VALUE   the contacts modified at or after VALUE, every page of the
//                                   search endpoint
// Answers a JSON array of HubSpot contacts, each with "_id" (its id) and "_updated" (its
// properties.lastmodifieddate); Sesam keeps the largest "_updated" as the pipe's offset and sends
// it back as `since` on the next run.
//
// Where this differs from the tutorial's Python, and why:
//   - `since` is read as any ISO 8601 date: with or without a fraction of a second, with any
//     offset. HubSpot writes a whole second without the fraction, which made the Python's
//     strptime("%Y-%m-%dT%H:%M:%S.%fZ") fail.
//   - The search uses GTE, not GT: contacts that share the offset's millisecond but arrived after
//     the previous run would otherwise be lost. The ones Sesam already has come back again and
//     Sesam drops them, unchanged, by its own hash.
//   - Every page is fetched (the Python read only the first), and an upstream failure answers 502
//     naming the upstream status: never a partial list that Sesam would take as complete.
//   - A `since` that is not a date answers 400 naming it.
//
// usage: sesam_microservice --crm http://127.0.0.1:PORT
// Prints `listening 127.0.0.1:PORT` when ready; stops on SIGINT or SIGTERM.

#include "http_support.hpp"

#include <sincehash/time.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace {

using nlohmann::json;

constexpr const char* since_field = "lastmodifieddate";
constexpr int page_size = 100;

/// Why the contacts could not be read from HubSpot: answered 502.
struct upstream_failure {
  std::string message;
  std::optional<int> status;  // HubSpot's status when it answered at all
  std::string body;
};

/// Parses `since` as ISO 8601. A query string decodes '+' to a space, so an offset such as
/// "+01:00" sent without percent-encoding arrives as " 01:00"; that form is read as the offset.
sincehash::result<sincehash::instant> parse_since(std::string since) {
  auto at = sincehash::parse_iso8601(since);
  if (at) return at;
  const std::size_t space = since.find(' ', 11);  // after the date, where the time can start
  if (space != std::string::npos && since.find(':', space) != std::string::npos) {
    since[space] = '+';
    if (auto retry = sincehash::parse_iso8601(since)) return retry;
  }
  return at;
}

/// The results of every page, fetching each with `fetch(after)` (`after` is empty for the first
/// page, then the cursor the previous page named). Throws `upstream_failure`.
template <class Fetch>
json read_all_pages(Fetch fetch) {
  json contacts = json::array();
  std::string after;
  for (;;) {
    const httplib::Result res = fetch(after);
    if (!res)
      throw upstream_failure{"HubSpot could not be reached: " + httplib::to_string(res.error()), {}, {}};
    if (res->status != 200) throw upstream_failure{"HubSpot answered an error", res->status, res->body};
    json page = json::parse(res->body, nullptr, false);
    if (!page.is_object() || !page.contains("results") || !page["results"].is_array())
      throw upstream_failure{"HubSpot answered a page without a \"results\" array", res->status, {}};
    for (auto& contact : page["results"]) contacts.push_back(std::move(contact));
    const json* next = nullptr;
    if (auto p = page.find("paging"); p != page.end() && p->contains("next")) next = &(*p)["next"];
    if (next == nullptr) return contacts;
    const json cursor = next->value("after", json());
    if (!cursor.is_string() || cursor.get<std::string>().empty())
      throw upstream_failure{"HubSpot answered a next page without an \"after\" cursor", res->status, {}};
    after = cursor.get<std::string>();
  }
}

/// Every contact, from the list endpoint.
json all_contacts(httplib::Client& crm) {
  return read_all_pages([&](const std::string& after) {
    httplib::Params query{{"limit", std::to_string(page_size)}};
    if (!after.empty()) query.emplace("after", after);
    return crm.Get(httplib::append_query_params("/crm/v3/objects/contacts", query));
  });
}

/// The contacts modified at or after `since_ms` (epoch milliseconds), from the search endpoint.
json contacts_since(httplib::Client& crm, std::int64_t since_ms) {
  return read_all_pages([&](const std::string& after) {
    json body = {
        {"filterGroups",
         {{{"filters",
            {{{"propertyName", since_field}, {"operator", "GTE"}, {"value", std::to_string(since_ms)}}}}}}},
        {"sorts", {{{"propertyName", since_field}, {"direction", "ASCENDING"}}}},
        {"limit", page_size}};
    if (!after.empty()) body["after"] = after;
    return crm.Post("/crm/v3/objects/contacts/search", body.dump(), "application/json");
  });
}

void usage(std::FILE* out) {
  std::fputs(
      "usage: sesam_microservice --crm http://HOST:PORT\n"
      "A Sesam microservice with continuation support, in front of HubSpot's contacts API at --crm.\n"
      "Listens on 127.0.0.1 on a port the system picks and prints `listening 127.0.0.1:PORT`.\n"
      "  GET /get_contacts              every contact\n"
      "  GET /get_contacts?since=DATE   the contacts modified at or after DATE (ISO 8601)\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<example::http_url> crm_url;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--crm" && i + 1 < argc) {
      crm_url = example::parse_http_url(argv[++i]);
      if (!crm_url) {
        std::fprintf(stderr, "--crm %s: expected http://HOST:PORT\n", argv[i]);
        return 2;
      }
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!crm_url) {
    usage(stderr);
    return 2;
  }

  example::shutdown_signal shutdown;
  httplib::Server server;
  server.Get("/get_contacts", [&](const httplib::Request& req, httplib::Response& res) {
    // One client per request: httplib's client is not meant to be shared between threads.
    httplib::Client crm(crm_url->host, crm_url->port);
    crm.set_connection_timeout(5);
    crm.set_read_timeout(30);
    std::optional<std::int64_t> since_ms;
    if (req.has_param("since")) {
      const std::string since = req.get_param_value("since");
      auto at = parse_since(since);
      if (!at) {
        example::reply_error(res, 400,
                             "since \"" + since + "\" is not an ISO 8601 date: " + at.error().describe());
        return;
      }
      // HubSpot compares whole milliseconds; rounding down keeps the comparison inclusive.
      since_ms = sincehash::to_epoch(*at, sincehash::epoch_unit::milliseconds);
    }
    try {
      json contacts = since_ms ? contacts_since(crm, *since_ms) : all_contacts(crm);
      for (auto& c : contacts) {
        c["_id"] = c.value("id", json());
        // A contact without the date is passed on without "_updated": it does not move the offset.
        const auto props = c.find("properties");
        if (props != c.end() && props->is_object() && props->contains(since_field))
          c["_updated"] = (*props)[since_field];
      }
      example::reply_json(res, 200, contacts);
    } catch (const upstream_failure& e) {
      std::fprintf(stderr, "get_contacts: %s (status %s)\n", e.message.c_str(),
                   e.status ? std::to_string(*e.status).c_str() : "none");
      json error = {{"error", e.message}, {"upstream_status", e.status ? json(*e.status) : json()}};
      if (!e.body.empty()) error["upstream_body"] = e.body;
      example::reply_json(res, 502, error);
    }
  });
  return example::serve_on_loopback(server, shutdown);
}
