// `sincehash demo`: a guided scenario on a temporary SQLite file.

#include <sincehash/detector.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "commands.hpp"

namespace sincehash_cli {

namespace {

std::string contact(int id, const std::string& email, const std::string& phone, const std::string& updated,
                    const std::string& created) {
  return "{\"id\":\"" + std::to_string(id) + "\",\"properties\":{\"email\":\"" + email + "\",\"phone\":\"" +
         phone + "\",\"createdate\":\"" + created + "\",\"lastmodifieddate\":\"" + updated + "\"}}";
}

}  // namespace

int cmd_demo() {
  namespace fs = std::filesystem;
  char dir_template[] = "/tmp/sincehash-demo-XXXXXX";
  if (mkdtemp(dir_template) == nullptr)
    run_error(std::string("cannot create a temporary directory: ") + std::strerror(errno));
  const fs::path dir(dir_template);
  const fs::path config = dir / "config.json";
  const std::string state = "sqlite:" + (dir / "state.db").string();
  {
    std::ofstream c(config);
    c << R"({"configuration": {
  "event.poller.refresh_interval": "15",
  "event.poller.configuration": {"contacts": {
    "url": "/crm/v3/objects/contacts/search?since=${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}",
    "idField": "id",
    "datesConfiguration": {"updatedDateField": "properties.lastmodifieddate",
                           "createdDateField": "properties.createdate"},
    "validationData": {"fields": ["properties.email"]},
    "sincehash": {"rescan": "0 0 ? * *", "reportChanges": true}}}}})";
  }
  options base;
  base.config = config.string();
  base.state = state;
  base.resource = "contacts";

  auto step = [&](const std::string& title, const std::string& explain,
                  const std::vector<std::string>& records, bool rescan, const std::string& now) {
    std::printf("\n== %s\n   %s\n", title.c_str(), explain.c_str());
    options o = base;
    o.now = now;
    std::string input;
    for (const auto& r : records) input += r + "\n";
    std::FILE* in = fmemopen(const_cast<char*>(input.data()), input.size(), "r");
    if (in == nullptr) run_error("fmemopen failed");
    std::FILE* summary = std::tmpfile();
    run_io io;
    io.in = in;
    io.err = summary;
    const int rc = cmd_process(o, io, rescan);
    std::fclose(in);
    if (rc != 0) run_error("the demo's run failed");
    std::rewind(summary);
    char line[4096] = {0};
    std::string last;
    while (std::fgets(line, sizeof line, summary) != nullptr) last = line;
    std::fclose(summary);
    auto s = nlohmann::json::parse(last);
    std::printf("   pipe_offset=%s processed_last_run=%d  summary: %s", s["since_after"].dump().c_str(),
                static_cast<int>(s["created"].get<int>() + s["updated"].get<int>() + s["deleted"].get<int>()),
                last.c_str());
    return rc;
  };

  std::printf("sincehash demo — state in %s\n", state.c_str());
  std::printf(
      "config: contacts polled by properties.lastmodifieddate; only properties.email is watched, and "
      "updated events name the watched fields that changed (\"reportChanges\")\n");
  std::fflush(stdout);
  const std::string t1 = "2024-03-01T10:00:00.000Z", t2 = "2024-03-01T11:00:00.000Z",
                    t3 = "2024-03-01T12:00:00.000Z", c0 = "2024-01-01T00:00:00.000Z";
  step("1. full sync (no since value: the source is asked for everything)",
       "all 3 are dispatched: created when the created date equals the updated date, else updated",
       {contact(1, "ada@example.com", "111", t1, t1), contact(2, "bob@example.com", "222", t1, c0),
        contact(3, "cy@example.com", "333", t2, c0)},
       false, "2024-03-01T12:30:00Z");
  step("2. incremental poll (since = offset, inclusive: the record at the offset comes back)",
       "3 comes back unchanged; 2 changed only its phone (not watched): not dispatched; 1 changed email: "
       "dispatched with \"changed\":[\"properties.email\"]",
       {contact(3, "cy@example.com", "333", t2, c0), contact(2, "bob@example.com", "999", t3, c0),
        contact(1, "ada@lovelace.org", "111", t3, t1)},
       false, "2024-03-01T12:30:00Z");
  step("3. a tie at a page boundary: page 1 ends at 12:00 with record 4",
       "record 4 is new and dispatched; the offset stays at 12:00",
       {contact(4, "dee@example.com", "444", t3, t3)}, false, "2024-03-01T12:31:00Z");
  step("   page 2 asks since 12:00 inclusive: 4 again (filtered) and 5, which shares the timestamp",
       "with a plain '>' 5 would be lost; here 4 is unchanged and 5 is created: 0 lost, 0 duplicated",
       {contact(4, "dee@example.com", "444", t3, t3), contact(5, "eve@example.com", "555", t3, t3)}, false,
       "2024-03-01T12:32:00Z");
  step("4. a stale copy: an older version of record 1 arrives late",
       "its updated date is older than the stored one: stale, not dispatched, state untouched",
       {contact(1, "ada@example.com", "111", t1, t1)}, false, "2024-03-01T12:33:00Z");
  {
    std::printf("\n== 5. reset: the offset is forgotten, so the next poll is a full sync\n");
    options o = base;
    cmd_reset(o);
    std::printf("   since value after reset: ");
    o.url = false;
    std::fflush(stdout);
    std::FILE* since_out = std::tmpfile();
    cmd_since(o, since_out);
    std::rewind(since_out);
    char line[256] = {0};
    std::printf("%s\n", std::fgets(line, sizeof line, since_out) == nullptr ? "(none: full sync)" : line);
    std::fclose(since_out);
  }
  step("   the full sync after the reset", "record hashes were kept: nothing is dispatched again",
       {contact(1, "ada@lovelace.org", "111", t3, t1), contact(2, "bob@example.com", "999", t3, c0),
        contact(3, "cy@example.com", "333", t2, c0), contact(4, "dee@example.com", "444", t3, t3),
        contact(5, "eve@example.com", "555", t3, t3)},
       false, "2024-03-02T00:00:00Z");
  step("6. the nightly rescan (\"0 0 ? * *\"): a complete listing in which record 2 is missing",
       "ids not seen in a completed rescan are reported as deleted and forgotten",
       {contact(1, "ada@lovelace.org", "111", t3, t1), contact(3, "cy@example.com", "333", t2, c0),
        contact(4, "dee@example.com", "444", t3, t3), contact(5, "eve@example.com", "555", t3, t3)},
       true, "2024-03-02T00:00:05Z");
  std::printf(
      "\nEvents are written one per line as JSON; the summary above is what `sincehash process` prints\n"
      "as its last line on stderr. Try: sincehash process --help\n");
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace sincehash_cli
