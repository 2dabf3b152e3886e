// A small program consuming sincehash as an installed or vendored package: hash two records,
// keep their state in a store, and read it back.
#include <sincehash/sincehash.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sincehash/store/sqlite.hpp>
#endif

#include <cstdio>
#include <string>

template <class Store>
bool round_trip(Store& store) {
  sincehash::hasher_settings settings;
  settings.watched = {"email"};
  sincehash::field_hasher<> hasher(settings);
  auto a = hasher.hash(R"({"id":1,"email":"a@example.com","phone":"1"})");
  auto b = hasher.hash(R"({"phone":"2","email":"a@example.com","id":1})");
  if (!a || !b || *a != *b) return false;  // only the watched field counts
  sincehash::commit_batch batch;
  sincehash::record_state state;
  state.hash = *a;
  batch.upserts.emplace_back("1", state);
  store.commit("consumer/contacts", batch);
  auto got = store.get_many("consumer/contacts", {"1", "2"});
  return got.size() == 2 && got[0] && got[0]->hash == *a && !got[1];
}

int main() {
  sincehash::memory_store memory;
  if (!round_trip(memory)) return 1;
#ifdef SINCEHASH_HAS_SQLITE
  const std::string path = "consumer-state.db";
  std::remove(path.c_str());
  {
    sincehash::sqlite_store sqlite(path);
    if (!round_trip(sqlite)) return 2;
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  std::printf("consumer ok %s (memory, sqlite)\n", sincehash::version_string);
#else
  std::printf("consumer ok %s (memory)\n", sincehash::version_string);
#endif
  return 0;
}
