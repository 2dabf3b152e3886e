// A local stand-in for HubSpot's CRM contacts API (v3), for trying the connector examples
// without an account. Contacts live in memory; every date is checked with sincehash's parser.
//
//   GET  /crm/v3/objects/contacts?limit=N&after=CURSOR          every contact, by id, paged
//   POST /crm/v3/objects/contacts/search                        HubSpot's search body:
//        {"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"<epoch
//        ms>"}]}],
//         "sorts":[{"propertyName":"lastmodifieddate","direction":"ASCENDING"}],"limit":N,"after":"CURSOR"}
//   GET  /crm/v3/objects/contacts/search?since=<epoch ms>&limit=N&after=CURSOR
//                                                               lastmodifieddate >= since, oldest first
// Pages answer {"results":[...],"paging":{"next":{"after":"CURSOR"}}}, without "paging" on the last.
// Test controls (not HubSpot):
//   PUT    /_mock/contacts/{id}                 upsert {"properties":{...}}; a missing
//                                               lastmodifieddate is set to now
//   DELETE /_mock/contacts/{id}
//   POST   /_mock/seed?count=N&tie=K            replace everything by N contacts, K per modified instant
//   POST   /_mock/fail?status=S&count=C&skip=K  after K more API calls, the next C answer status S
//
// usage: mock_crm [--seed-file CONTACTS.json]
// Prints `listening 127.0.0.1:PORT` when ready; stops on SIGINT or SIGTERM.

#include "http_support.hpp"

#include <sincehash/time.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;
using sincehash::epoch_unit;
using sincehash::instant;

constexpr int max_page = 100;  // HubSpot's largest page
constexpr int default_page = 10;

/// A short run of decimal digits (fits an int).
bool all_digits(std::string_view text) {
  return !text.empty() && text.size() <= 9 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Reads an epoch-milliseconds number or an ISO 8601 date, as HubSpot accepts in filters.
std::optional<std::int64_t> read_millis(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    auto t = sincehash::parse_epoch(text, epoch_unit::milliseconds);
    if (t) return sincehash::to_epoch(*t, epoch_unit::milliseconds);
    return std::nullopt;
  }
  auto t = sincehash::parse_iso8601(text);
  if (!t) return std::nullopt;
  return sincehash::to_epoch(*t, epoch_unit::milliseconds);
}

/// HubSpot writes its dates with milliseconds, but a whole second sometimes without them.
std::string hubspot_date(std::int64_t millis) {
  const instant t = sincehash::from_epoch(millis, epoch_unit::milliseconds).value();
  return sincehash::format_rfc3339(t, millis % 1000 == 0 ? 0 : 3);
}

/// As HubSpot writes createdAt and updatedAt: always with milliseconds.
std::string iso_millis(std::int64_t millis) {
  return sincehash::format_rfc3339(sincehash::from_epoch(millis, epoch_unit::milliseconds).value(), 3);
}

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct contact {
  json body;  // as served
  std::int64_t modified = 0;
  std::int64_t created = 0;
};

/// Orders ids by length, then byte-wise: numeric ids come in numeric order ("2" before "10").
struct id_order {
  bool operator()(const std::string& a, const std::string& b) const {
    if (a.size() != b.size()) return a.size() < b.size();
    return a < b;
  }
};

/// One search filter on a date property.
struct date_filter {
  std::string property;  // lastmodifieddate or createdate
  std::string op;        // EQ NEQ LT LTE GT GTE
  std::int64_t millis = 0;

  [[nodiscard]] bool matches(const contact& c) const {
    const std::int64_t v = property == "createdate" ? c.created : c.modified;
    if (op == "EQ") return v == millis;
    if (op == "NEQ") return v != millis;
    if (op == "LT") return v < millis;
    if (op == "LTE") return v <= millis;
    if (op == "GT") return v > millis;
    return v >= millis;  // GTE
  }
};

/// A parsed search: OR of groups, AND within a group; an empty list matches everything.
struct search_query {
  std::vector<std::vector<date_filter>> groups;
  std::string sort_property;  // empty: by id
  bool descending = false;
  int limit = default_page;
  std::size_t after = 0;

  [[nodiscard]] bool matches(const contact& c) const {
    if (groups.empty()) return true;
    return std::any_of(groups.begin(), groups.end(), [&](const std::vector<date_filter>& group) {
      return std::all_of(group.begin(), group.end(), [&](const date_filter& f) { return f.matches(c); });
    });
  }
};

/// A request that HubSpot would refuse: answered 400 with its message.
struct bad_request {
  std::string message;
};

int read_limit(const json& v) {
  if (v.is_null()) return default_page;
  long long n = 0;
  if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_string() && all_digits(v.get_ref<const std::string&>())) {
    n = std::stoll(v.get<std::string>());
  } else {
    throw bad_request{"limit must be a whole number"};
  }
  if (n < 1) throw bad_request{"limit must be at least 1"};
  return static_cast<int>(std::min<long long>(n, max_page));
}

std::size_t read_cursor(const json& v) {
  if (v.is_null()) return 0;
  const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  if (!all_digits(text))
    throw bad_request{"after must be a cursor from paging.next.after, not \"" + text + "\""};
  return static_cast<std::size_t>(std::stoul(text));
}

std::string date_property(const json& name) {
  const std::string p = name.is_string() ? name.get<std::string>() : std::string();
  if (p == "lastmodifieddate" || p == "hs_lastmodifieddate") return "lastmodifieddate";
  if (p == "createdate") return "createdate";
  throw bad_request{"this mock filters and sorts only on lastmodifieddate and createdate, not \"" + p + "\""};
}

search_query read_search_body(const json& body) {
  if (!body.is_object()) throw bad_request{"the search body must be a JSON object"};
  search_query q;
  for (const auto& group : body.value("filterGroups", json::array())) {
    std::vector<date_filter> filters;
    for (const auto& f : group.value("filters", json::array())) {
      date_filter d;
      d.property = date_property(f.value("propertyName", json()));
      d.op = f.value("operator", "");
      static const char* const known[] = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE"};
      if (std::find(std::begin(known), std::end(known), d.op) == std::end(known))
        throw bad_request{"unsupported operator \"" + d.op + "\""};
      const auto millis = read_millis(f.value("value", json()));
      if (!millis) throw bad_request{"filter value must be epoch milliseconds or an ISO 8601 date"};
      d.millis = *millis;
      filters.push_back(std::move(d));
    }
    q.groups.push_back(std::move(filters));
  }
  const json sorts = body.value("sorts", json::array());
  if (!sorts.empty()) {
    const json& first = sorts.front();
    q.sort_property = date_property(first.is_string() ? first : first.value("propertyName", json()));
    q.descending = first.is_object() && first.value("direction", "ASCENDING") == "DESCENDING";
  }
  q.limit = read_limit(body.value("limit", json()));
  q.after = read_cursor(body.value("after", json()));
  return q;
}

/// Completes `body` ({"properties": {...}}) the way HubSpot serves contact `id`: a missing
/// lastmodifieddate is now, a missing createdate is the lastmodifieddate. Returns why it cannot.
std::optional<std::string> make_contact(const std::string& id, json body, contact& out) {
  if (id.empty()) return "a contact needs an id";
  if (!body.is_object()) return "a contact must be a JSON object";
  json& props = body["properties"];
  if (props.is_null()) props = json::object();
  if (!props.is_object()) return "\"properties\" must be an object";
  if (!props.contains("lastmodifieddate")) props["lastmodifieddate"] = hubspot_date(now_millis());
  const auto modified = read_millis(props["lastmodifieddate"]);
  if (!modified) return "properties.lastmodifieddate is not an ISO 8601 date";
  if (!props.contains("createdate")) props["createdate"] = props["lastmodifieddate"];
  const auto created = read_millis(props["createdate"]);
  if (!created) return "properties.createdate is not an ISO 8601 date";
  props["hs_object_id"] = id;
  body["id"] = id;
  body["createdAt"] = iso_millis(*created);
  body["updatedAt"] = iso_millis(*modified);
  if (!body.contains("archived")) body["archived"] = false;
  out = contact{std::move(body), *modified, *created};
  return std::nullopt;
}

/// The contacts, shared by the server's worker threads.
class contact_book {
 public:
  /// Inserts or replaces contact `id`; returns why not (see `make_contact`).
  std::optional<std::string> upsert(const std::string& id, json body) {
    contact c;
    if (auto why = make_contact(id, std::move(body), c)) return why;
    std::lock_guard<std::mutex> lock(mutex_);
    contacts_[id] = std::move(c);
    return std::nullopt;
  }

  bool erase(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return contacts_.erase(id) != 0;
  }

  /// Replaces every contact by `count` new ones, ids "1" to "count"; each run of `tie` ids shares
  /// one modified instant, one second after the run before; every other run's instant is a whole
  /// second, written without a fraction.
  void seed(int count, int tie) {
    const std::int64_t base = 1709287200000;  // 2024-03-01T10:00:00Z
    std::map<std::string, contact, id_order> fresh;
    for (int i = 1; i <= count; ++i) {
      const int run = (i - 1) / tie;
      const std::int64_t modified = base + run * 1000 + (run % 2 == 0 ? 0 : 500);
      const std::string id = std::to_string(i);
      json props = {{"email", "contact" + id + "@example.com"},
                    {"firstname", "First" + id},
                    {"lastname", "Last" + id},
                    {"createdate", hubspot_date(base - 86400000)},
                    {"lastmodifieddate", hubspot_date(modified)}};
      make_contact(id, json{{"properties", std::move(props)}}, fresh[id]);  // well formed: cannot fail
    }
    std::lock_guard<std::mutex> lock(mutex_);
    contacts_ = std::move(fresh);
  }

  /// One page of the contacts matching `q`, in HubSpot's page shape.
  json page(const search_query& q, bool with_total) const {
    std::vector<const contact*> hits;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : contacts_) {
      if (q.matches(entry.second)) hits.push_back(&entry.second);
    }
    if (!q.sort_property.empty()) {
      const bool by_created = q.sort_property == "createdate";
      // Stable: contacts sharing an instant stay in id order, so pages never overlap.
      std::stable_sort(hits.begin(), hits.end(), [&](const contact* a, const contact* b) {
        const std::int64_t x = by_created ? a->created : a->modified;
        const std::int64_t y = by_created ? b->created : b->modified;
        return q.descending ? x > y : x < y;
      });
    }
    json out = json::object();
    if (with_total) out["total"] = hits.size();
    json results = json::array();
    const std::size_t end = std::min(hits.size(), q.after + static_cast<std::size_t>(q.limit));
    for (std::size_t i = q.after; i < end; ++i) results.push_back(hits[i]->body);
    out["results"] = std::move(results);
    if (end < hits.size()) out["paging"] = {{"next", {{"after", std::to_string(end)}}}};
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, contact, id_order> contacts_;
};

/// Injected failures of the API endpoints (the `/_mock/fail` control).
class failure_plan {
 public:
  void set(int status, int count, int skip) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
    count_ = count;
    skip_ = skip;
  }
  /// The status to fail this API call with, if any.
  std::optional<int> next() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_ == 0) return std::nullopt;
    if (skip_ > 0) {
      --skip_;
      return std::nullopt;
    }
    --count_;
    return status_;
  }

 private:
  std::mutex mutex_;
  int status_ = 500;
  int count_ = 0;
  int skip_ = 0;
};

json query_param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? json(req.get_param_value(name)) : json();
}

int int_param(const httplib::Request& req, const char* name, int fallback, int low, int high) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  if (!all_digits(v)) throw bad_request{std::string(name) + " must be a whole number"};
  const int n = std::stoi(v);
  if (n < low || n > high)
    throw bad_request{std::string(name) + " must lie in " + std::to_string(low) + ".." +
                      std::to_string(high)};
  return n;
}

/// Runs `handler`, answering a `bad_request` the way HubSpot reports validation errors.
void guarded(httplib::Response& res, const std::function<void()>& handler) {
  try {
    handler();
  } catch (const bad_request& e) {
    example::reply_json(res, 400,
                        json{{"status", "error"}, {"category", "VALIDATION_ERROR"}, {"message", e.message}});
  } catch (const json::exception& e) {
    example::reply_json(res, 400,
                        json{{"status", "error"}, {"category", "VALIDATION_ERROR"}, {"message", e.what()}});
  }
}

void usage(std::FILE* out) {
  std::fputs(
      "usage: mock_crm [--seed-file CONTACTS.json]\n"
      "A local mock of HubSpot's CRM contacts API (v3) on 127.0.0.1, on a port the system picks.\n"
      "Prints `listening 127.0.0.1:PORT` when ready. Add contacts with --seed-file (a JSON array of\n"
      "contacts, each with an \"id\"), `POST /_mock/seed?count=N&tie=K` or `PUT /_mock/contacts/{id}`.\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> seed_file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--seed-file" && i + 1 < argc) {
      seed_file = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }

  example::shutdown_signal shutdown;
  contact_book book;
  failure_plan failures;

  if (seed_file) {
    std::ifstream in(*seed_file);
    std::stringstream text;
    text << in.rdbuf();
    const json contacts = json::parse(text.str(), nullptr, false);
    if (!in || !contacts.is_array()) {
      std::fprintf(stderr, "--seed-file %s: not a readable JSON array of contacts\n", seed_file->c_str());
      return 2;
    }
    for (const auto& c : contacts) {
      const json id = c.is_object() ? c.value("id", json()) : json();
      const std::string id_text = id.is_string() ? id.get<std::string>() : id.is_number() ? id.dump() : "";
      if (auto why = book.upsert(id_text, c)) {
        std::fprintf(stderr, "--seed-file %s: contact %s: %s\n", seed_file->c_str(), c.dump().c_str(),
                     why->c_str());
        return 2;
      }
    }
  }

  httplib::Server server;
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/crm/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const auto status = failures.next();
    if (!status) return httplib::Server::HandlerResponse::Unhandled;
    example::reply_json(res, *status, json{{"status", "error"}, {"message", "injected failure"}});
    return httplib::Server::HandlerResponse::Handled;
  });

  server.Get("/crm/v3/objects/contacts/?", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      search_query q;
      q.limit = read_limit(query_param(req, "limit"));
      q.after = read_cursor(query_param(req, "after"));
      example::reply_json(res, 200, book.page(q, false));
    });
  });
  server.Post("/crm/v3/objects/contacts/search", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res,
            [&] { example::reply_json(res, 200, book.page(read_search_body(json::parse(req.body)), true)); });
  });
  server.Get("/crm/v3/objects/contacts/search", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      search_query q;
      const auto since = read_millis(query_param(req, "since"));
      if (!since) throw bad_request{"since must be epoch milliseconds"};
      q.groups = {{date_filter{"lastmodifieddate", "GTE", *since}}};
      q.sort_property = "lastmodifieddate";
      q.limit = read_limit(query_param(req, "limit"));
      q.after = read_cursor(query_param(req, "after"));
      example::reply_json(res, 200, book.page(q, true));
    });
  });

  server.Put("/_mock/contacts/([^/]+)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      if (auto why = book.upsert(req.matches[1], json::parse(req.body))) throw bad_request{*why};
      res.status = 204;
    });
  });
  server.Delete("/_mock/contacts/([^/]+)", [&](const httplib::Request& req, httplib::Response& res) {
    res.status = book.erase(req.matches[1]) ? 204 : 404;
  });
  server.Post("/_mock/seed", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const int count = int_param(req, "count", 10, 0, 1000000);
      book.seed(count, int_param(req, "tie", 1, 1, 1000000));
      example::reply_json(res, 200, json{{"count", count}});
    });
  });
  server.Post("/_mock/fail", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      failures.set(int_param(req, "status", 500, 400, 599), int_param(req, "count", 1, 0, 1000000),
                   int_param(req, "skip", 0, 0, 1000000));
      res.status = 204;
    });
  });

  return example::serve_on_loopback(server, shutdown);
}
