// A Cloud Elements-style event poller built on sincehash: on an interval, asks the source for the
// records changed since the last committed offset, keeps only those whose watched fields changed
// (Cloud Elements' "event hash verification"), POSTs them to a callback URL, and commits the new
// state only after the callback answered 2xx — a failing callback means the same events, with the
// same event ids, are dispatched again on the next poll.
//
// The configuration is a Cloud Elements instance body, e.g. for HubSpot's contacts:
//   {"configuration": {
//     "event.poller.refresh_interval": "15",
//     "event.poller.configuration": "{\"contacts\": {
//        \"url\": \"/crm/v3/objects/contacts/search?since=${epoch:ms}&limit=100\",
//        \"idField\": \"id\",
//        \"datesConfiguration\": {\"updatedDateField\": \"properties.lastmodifieddate\",
//                                 \"createdDateField\": \"properties.createdate\"},
//        \"validationData\": {\"fields\": [\"properties.email\", \"properties.firstname\",
//                                          \"properties.lastname\"]}}}"}}
// No date format is configured: ISO 8601 is the default and reads HubSpot's dates both with
// and without milliseconds.
//
// Each poll prints one JSON line to stdout:
//   {"poll":1,"since":null,"fetched":6,"dispatched":6,"rejected":0,"committed":true,"offset":"..."}
// `since` is the offset the poll asked from (null: a full sync), `offset` the committed one after it.
//
// usage: ce_poller --config FILE --crm http://HOST:PORT --callback http://HOST:PORT/PATH
//                  --state FILE.sqlite [--resource contacts] [--interval-ms N] [--polls N]

#include "http_support.hpp"

#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/event_json.hpp>
#include <sincehash/input.hpp>
#include <sincehash/store/sqlite.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;
using line_json = nlohmann::ordered_json;  // keeps the poll line's keys in the documented order
using detector = sincehash::change_detector<sincehash::sqlite_store>;

struct options {
  std::string config;
  std::string resource = "contacts";
  example::http_url crm;
  example::http_url callback;
  std::string state;
  std::optional<std::chrono::milliseconds> interval;
  long polls = 0;  // 0: until SIGINT/SIGTERM
};

/// Why a poll could not read the source; the poll commits nothing and the next one retries.
struct fetch_failure {
  std::string message;
};

/// Appends the exact bytes of each element of a page's "results" array to `out`, so an event
/// carries the record as the source wrote it.
void append_results(const std::string& page, std::vector<std::string>& out) {
  // Opened for reading only, so the buffer is never written through the cast.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(
      fmemopen(const_cast<char*>(page.data()), page.size(), "r"), &std::fclose);
  if (!in) throw fetch_failure{"cannot read the page from memory"};
  sincehash::record_reader reader(in.get());
  std::vector<sincehash::input_record> batch;
  try {
    while (reader.next_batch(batch)) {
      for (const auto& record : batch) out.emplace_back(record.bytes);
    }
  } catch (const sincehash::error& e) {
    throw fetch_failure{std::string("the page's results cannot be framed: ") + e.what()};
  }
}

/// Every record the source lists at `url`, following HubSpot's `paging.next.after` cursors.
std::vector<std::string> fetch_changes(httplib::Client& crm, const std::string& url) {
  std::vector<std::string> records;
  std::string after;
  for (;;) {
    const std::string path = after.empty() ? url : httplib::append_query_params(url, {{"after", after}});
    const httplib::Result res = crm.Get(path);
    if (!res) throw fetch_failure{"GET " + path + ": " + httplib::to_string(res.error())};
    if (res->status != 200) throw fetch_failure{"GET " + path + ": status " + std::to_string(res->status)};
    const json page = json::parse(res->body, nullptr, false);
    if (!page.is_object() || !page.contains("results") || !page["results"].is_array())
      throw fetch_failure{"GET " + path + ": the answer has no \"results\" array"};
    append_results(res->body, records);
    const json next = page.value("paging", json::object()).value("next", json::object());
    if (!next.contains("after")) return records;
    if (!next["after"].is_string())
      throw fetch_failure{"GET " + path + ": paging.next.after is not a string"};
    after = next["after"].get<std::string>();
  }
}

/// The callback body: {"events":[{"type","id","updated","event_id","record"}, ...]}: each event
/// as the command-line tool writes it, with its record's original bytes and the id and date
/// written as the source wrote them.
std::string events_body(const std::vector<sincehash::event>& events) {
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out += ',';
    sincehash::append_event_json(out, events[i]);
    out.pop_back();  // the line's newline
  }
  out += "]}";
  return out;
}

/// POSTs `body` to the callback; nullopt when it answered 2xx, else why not.
std::optional<std::string> deliver(httplib::Client& callback, const std::string& path,
                                   const std::string& body) {
  const httplib::Result res = callback.Post(path, body, "application/json");
  if (!res) return "POST " + path + ": " + httplib::to_string(res.error());
  if (res->status < 200 || res->status > 299)
    return "POST " + path + ": status " + std::to_string(res->status);
  return std::nullopt;
}

line_json text_or_null(const std::optional<std::string>& text) {
  return text ? line_json(*text) : line_json();
}

/// Poll `n`: fetch, classify, deliver, and commit only when delivered. Returns the poll's line.
line_json poll_once(long n, detector& d, httplib::Client& crm, httplib::Client& callback, const options& o) {
  line_json line = {{"poll", n}, {"since", text_or_null(d.since())}};
  const sincehash::result<std::string> url = d.since_url();
  if (!url) throw sincehash::error(url.error().code, "the URL template: " + url.error().describe());

  std::vector<std::string> records;
  try {
    records = fetch_changes(crm, *url);
  } catch (const fetch_failure& e) {
    std::fprintf(stderr, "poll %ld: %s; nothing committed\n", n, e.message.c_str());
    line.update({{"fetched", 0}, {"dispatched", 0}, {"committed", false}, {"error", e.message}});
    return line;
  }

  // One batch for the whole poll: a record listed on two pages (it changed while we paged) is
  // classified once against the other, and the poll commits in one atomic step.
  std::vector<sincehash::input_record> batch;
  batch.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) batch.push_back({records[i], i + 1});
  const sincehash::batch_result result = d.process(batch);
  for (const auto& r : result.rejected)
    std::fprintf(stderr, "poll %ld: record %zu rejected: %s\n", n, r.position, r.reason.c_str());

  std::optional<std::string> failure;
  if (!result.events.empty()) failure = deliver(callback, o.callback.path, events_body(result.events));
  if (failure) {
    std::fprintf(stderr, "poll %ld: %s; nothing committed, the events are sent again next poll\n", n,
                 failure->c_str());
  } else {
    d.commit(result.pending);
  }
  const std::optional<sincehash::offset_value> offset = d.offset();
  line.update({{"fetched", records.size()},
               {"dispatched", result.events.size()},
               {"rejected", result.rejected.size()},
               {"committed", !failure},
               {"offset", offset ? line_json(offset->text) : line_json()}});
  if (failure) line["error"] = *failure;
  return line;
}

[[noreturn]] void usage(std::FILE* out, int status) {
  std::fputs(
      "usage: ce_poller --config FILE --crm http://HOST:PORT --callback http://HOST:PORT/PATH\n"
      "                 --state FILE.sqlite [--resource contacts] [--interval-ms N] [--polls N]\n"
      "Polls the --crm API with the resource's URL template from the Cloud Elements instance body\n"
      "in --config, POSTs the changed records' events to --callback and commits the state in\n"
      "--state only after the callback answered 2xx. --interval-ms defaults to the configuration's\n"
      "event.poller.refresh_interval (minutes); --polls 0 (the default) polls until SIGINT/SIGTERM.\n",
      out);
  std::exit(status);
}

long read_count(const char* flag, const char* text) {
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || n < 0) {
    std::fprintf(stderr, "%s %s: expected a whole number >= 0\n", flag, text);
    std::exit(2);
  }
  return n;
}

example::http_url read_url(const char* flag, const char* text) {
  auto url = example::parse_http_url(text);
  if (!url) {
    std::fprintf(stderr, "%s %s: expected http://HOST:PORT[/PATH]\n", flag, text);
    std::exit(2);
  }
  return *url;
}

options read_options(int argc, char** argv) {
  options o;
  bool have_crm = false;
  bool have_callback = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(stdout, 0);
    if (i + 1 >= argc) usage(stderr, 2);
    const char* value = argv[++i];
    if (arg == "--config") {
      o.config = value;
    } else if (arg == "--resource") {
      o.resource = value;
    } else if (arg == "--crm") {
      o.crm = read_url("--crm", value);
      have_crm = true;
    } else if (arg == "--callback") {
      o.callback = read_url("--callback", value);
      have_callback = true;
    } else if (arg == "--state") {
      o.state = value;
    } else if (arg == "--interval-ms") {
      o.interval = std::chrono::milliseconds(read_count("--interval-ms", value));
    } else if (arg == "--polls") {
      o.polls = read_count("--polls", value);
    } else {
      usage(stderr, 2);
    }
  }
  if (o.config.empty() || o.state.empty() || !have_crm || !have_callback) usage(stderr, 2);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = read_options(argc, argv);
  example::shutdown_signal shutdown;
  try {
    std::ifstream in(o.config);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) throw sincehash::error(sincehash::errc::io_error, "--config " + o.config + ": cannot be read");
    const sincehash::poller_config config = sincehash::read_config_text(text.str());
    const sincehash::resource_settings& settings = config.resource(o.resource);
    const std::chrono::milliseconds interval =
        o.interval.value_or(config.poll_interval.value_or(std::chrono::minutes(15)));

    // Cloud Elements keeps the hashes per element instance; here one state file is one instance
    // and the resource name is the partition inside it.
    sincehash::sqlite_store store(o.state);
    detector d(store, settings.name, settings);

    httplib::Client crm(o.crm.host, o.crm.port);
    crm.set_connection_timeout(5);
    crm.set_read_timeout(30);
    httplib::Client callback(o.callback.host, o.callback.port);
    callback.set_connection_timeout(5);
    callback.set_read_timeout(10);

    for (long n = 1; !shutdown.requested(); ++n) {
      std::printf("%s\n", poll_once(n, d, crm, callback, o).dump().c_str());
      std::fflush(stdout);
      if (o.polls > 0 && n >= o.polls) break;
      if (shutdown.wait_for(interval)) break;
    }
    return 0;
  } catch (const sincehash::invalid_config& e) {
    std::fprintf(stderr, "--config %s: %s\n", o.config.c_str(), e.what());
    return 2;
  } catch (const sincehash::error& e) {
    std::fprintf(stderr, "ce_poller: %s\n", e.what());
    return 1;
  }
}
