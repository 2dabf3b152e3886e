// The smallest useful connector loop: classify a polled page, deliver, then commit.
#include <sincehash/detector.hpp>
#include <sincehash/store/memory.hpp>

#include <cstdio>
#include <vector>

int main() {
  using namespace sincehash;
  resource_settings s;
  s.id_field = field_path::parse("id").value();
  s.updated = date_field{field_path::parse("updated").value(), date_format{}};
  s.watched = {"email"};
  memory_store store;
  change_detector<memory_store> detector(store, "demo/contacts", s);

  std::vector<input_record> page = {{R"({"id":"1","email":"a@x","updated":"2024-03-01T10:00:00Z"})", 1},
                                    {R"({"id":"2","email":"b@x","updated":"2024-03-01T11:00:00Z"})", 2}};
  for (int poll = 1; poll <= 2; ++poll) {
    batch_result result = detector.process(page);
    for (const event& e : result.events)
      std::printf("poll %d: %s %s\n", poll, to_string(e.type), e.id.c_str());
    detector.commit(result.pending);  // only after the events were delivered
  }
  std::printf("next since: %s\n", detector.since().value_or("(full sync)").c_str());
}
