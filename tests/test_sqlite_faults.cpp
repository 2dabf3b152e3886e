// Fault injection below SQLite: a VFS shim over the default one fails the k-th write or sync of
// a commit (k = 1 ... K, where K covers every write and sync the commit does), once or from then
// on. For every k: the commit returns or throws `sincehash::error` (no crash); after reopening,
// the file passes `PRAGMA integrity_check` and holds either the state before the commit or the
// whole state after it (so the offset never advances without its record states, and a commit
// that returned normally always landed); a retry of the same commit then succeeds.
#include <sincehash/store/sqlite.hpp>
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/store/encrypted.hpp>
#endif

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sincehash;

namespace {

// ---- the VFS shim ----------------------------------------------------------------------------

enum class fault_kind { none, write, sync };

struct fault_plan {
  fault_kind kind = fault_kind::none;
  int fail_at = 0;       // 1-based index of the first failing operation of `kind`
  bool forever = false;  // fail every later one too
  std::atomic<int> writes{0};
  std::atomic<int> syncs{0};
  std::atomic<int> injected{0};

  void arm(fault_kind k, int at, bool always) {
    writes = 0;
    syncs = 0;
    injected = 0;
    fail_at = at;
    forever = always;
    kind = k;
  }
  void disarm() { kind = fault_kind::none; }
  void count_only() {
    writes = 0;
    syncs = 0;
    kind = fault_kind::none;
  }
  bool fails(fault_kind k) {
    const int n = (k == fault_kind::write ? ++writes : ++syncs);
    if (kind != k) return false;
    if (n == fail_at || (forever && n > fail_at)) {
      ++injected;
      return true;
    }
    return false;
  }
};

fault_plan plan;

struct shim_file {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_vfs* real_vfs() { return static_cast<sqlite3_vfs*>(sqlite3_vfs_find("sincehash_faulty")->pAppData); }
sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->real; }

int shim_close(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  int rc = r->pMethods != nullptr ? r->pMethods->xClose(r) : SQLITE_OK;
  return rc;
}
int shim_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int shim_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (plan.fails(fault_kind::write)) return SQLITE_IOERR_WRITE;
  return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int shim_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int shim_sync(sqlite3_file* f, int flags) {
  if (plan.fails(fault_kind::sync)) return SQLITE_IOERR_FSYNC;
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int shim_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int shim_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int shim_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int shim_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int shim_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int shim_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int shim_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int shim_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int shim_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int shim_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods shim_methods = {3,
                                         shim_close,
                                         shim_read,
                                         shim_write,
                                         shim_truncate,
                                         shim_sync,
                                         shim_file_size,
                                         shim_lock,
                                         shim_unlock,
                                         shim_check_reserved,
                                         shim_file_control,
                                         shim_sector_size,
                                         shim_device,
                                         shim_shm_map,
                                         shim_shm_lock,
                                         shim_shm_barrier,
                                         shim_shm_unmap,
                                         shim_fetch,
                                         shim_unfetch};

int shim_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* real = static_cast<sqlite3_vfs*>(vfs->pAppData);
  auto* f = reinterpret_cast<shim_file*>(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(shim_file));
  int rc = real->xOpen(real, name, f->real, flags, out_flags);
  if (f->real->pMethods != nullptr) {
    if (f->real->pMethods->iVersion < 3) {
      f->real->pMethods->xClose(f->real);
      return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &shim_methods;
  }
  return rc;
}
int shim_delete(sqlite3_vfs* v, const char* name, int sync) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xDelete(r, name, sync);
}
int shim_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xAccess(r, name, flags, out);
}
int shim_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xFullPathname(r, name, n, out);
}
int shim_randomness(sqlite3_vfs* v, int n, char* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xRandomness(r, n, out);
}
int shim_sleep(sqlite3_vfs* v, int us) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xSleep(r, us);
}
int shim_current_time(sqlite3_vfs* v, double* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xCurrentTime(r, out);
}
int shim_last_error(sqlite3_vfs* v, int n, char* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xGetLastError(r, n, out);
}
int shim_current_time64(sqlite3_vfs* v, sqlite3_int64* out) {
  auto* r = static_cast<sqlite3_vfs*>(v->pAppData);
  return r->xCurrentTimeInt64(r, out);
}

// Registers the shim as the default VFS once per process.
void install_shim() {
  static sqlite3_vfs shim;
  static bool done = false;
  if (done) return;
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  REQUIRE(real != nullptr);
  REQUIRE(real->iVersion >= 2);
  shim = sqlite3_vfs{};
  shim.iVersion = 2;
  shim.szOsFile = static_cast<int>(sizeof(shim_file)) + real->szOsFile;
  shim.mxPathname = real->mxPathname;
  shim.zName = "sincehash_faulty";
  shim.pAppData = real;
  shim.xOpen = shim_open;
  shim.xDelete = shim_delete;
  shim.xAccess = shim_access;
  shim.xFullPathname = shim_full_pathname;
  shim.xRandomness = shim_randomness;
  shim.xSleep = shim_sleep;
  shim.xCurrentTime = shim_current_time;
  shim.xGetLastError = shim_last_error;
  shim.xCurrentTimeInt64 = shim_current_time64;
  REQUIRE(sqlite3_vfs_register(&shim, 1) == SQLITE_OK);
  REQUIRE(real_vfs() == real);
  done = true;
}

// ---- the scenario ----------------------------------------------------------------------------

std::filesystem::path fresh_path(const std::string& tag) {
  static int counter = 0;
  auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
  std::filesystem::create_directories(dir);
  auto p =
      dir / ("faults-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  return p;
}

void remove_db(const std::filesystem::path& p) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
}

instant at(std::int64_t ns) { return instant(std::chrono::nanoseconds(ns)); }

record_state state(std::uint64_t h, std::int64_t updated) {
  record_state s;
  s.hash = digest{h, h * 3, 128};
  s.fingerprint = 1;
  s.updated = at(updated);
  s.last_seen = at(updated + 1);
  return s;
}

std::string id_of(int i) { return "record-" + std::to_string(100000 + i * 7919 % 100000); }

// Before: 300 records and offset 100. The commit under test rewrites 150 of them, erases 50,
// adds 300 and moves the offset to 200.
commit_batch baseline() {
  commit_batch b;
  for (int i = 0; i < 300; ++i)
    b.upserts.emplace_back(id_of(i), state(static_cast<std::uint64_t>(i) + 1, 1000 + i));
  b.offset = offset_value::from_integer(100);
  return b;
}
commit_batch under_test() {
  commit_batch b;
  for (int i = 0; i < 150; ++i)
    b.upserts.emplace_back(id_of(i), state(static_cast<std::uint64_t>(i) + 50'000, 5000 + i));
  for (int i = 150; i < 200; ++i) b.erasures.push_back(id_of(i));
  for (int i = 300; i < 600; ++i)
    b.upserts.emplace_back(id_of(i), state(static_cast<std::uint64_t>(i) + 1, 5000 + i));
  b.offset = offset_value::from_integer(200);
  return b;
}

struct snapshot {
  std::map<std::string, record_state> records;
  std::optional<offset_value> offset;
  bool operator==(const snapshot& o) const { return records == o.records && offset == o.offset; }
};

snapshot apply(snapshot s, const commit_batch& b) {
  for (const auto& u : b.upserts) s.records[u.first] = u.second;
  for (const auto& e : b.erasures) s.records.erase(e);
  if (b.offset) s.offset = b.offset;
  return s;
}

template <class Store>
snapshot observe(Store& store) {
  snapshot s;
  store.for_each(
      "p", [&](std::string_view id, const record_state& st) { s.records.emplace(std::string(id), st); });
  s.offset = store.offset("p");
  return s;
}

std::string integrity(const std::filesystem::path& p) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(p.string().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    out = "cannot open";
  } else {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    } else {
      out = sqlite3_errmsg(db);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
  return out;
}

struct outcome_counts {
  int k_tried = 0;
  int injected = 0;
  int returned = 0;         // commit returned normally (it must then have landed)
  int threw_old_state = 0;  // threw; the file holds the state before
  int threw_new_state = 0;  // threw; the file holds the whole new state (sync failed late)
};

// A plain SQLite store, or the encrypting decorator over one.
struct plain_maker {
  static constexpr const char* name = "plain";
  std::unique_ptr<sqlite_store> inner;
  sqlite_store& open(const std::filesystem::path& p) {
    inner.reset();
    sqlite_options o;
    o.busy_timeout = std::chrono::milliseconds(0);
    inner = std::make_unique<sqlite_store>(p.string(), o);
    return *inner;
  }
  void close() { inner.reset(); }
};

#ifdef SINCEHASH_HAS_SODIUM
struct encrypted_maker {
  static constexpr const char* name = "encrypted";
  std::unique_ptr<sqlite_store> inner;
  std::unique_ptr<encrypted_store<sqlite_store>> outer;
  encrypted_store<sqlite_store>& open(const std::filesystem::path& p) {
    outer.reset();
    inner.reset();
    sqlite_options o;
    o.busy_timeout = std::chrono::milliseconds(0);
    inner = std::make_unique<sqlite_store>(p.string(), o);
    outer = std::make_unique<encrypted_store<sqlite_store>>(*inner,
                                                            key_ring(secret_key(1, std::string(32, 'k'))));
    return *outer;
  }
  void close() {
    outer.reset();
    inner.reset();
  }
};
#endif

template <class Maker>
outcome_counts run_faults(fault_kind kind, bool forever) {
  install_shim();
  const commit_batch before_batch = baseline();
  const commit_batch batch = under_test();
  const snapshot before = apply({}, before_batch);
  const snapshot after = apply(before, batch);

  // How many writes and syncs the commit does when nothing fails.
  int total = 0;
  {
    Maker m;
    auto path = fresh_path(Maker::name);
    m.open(path).commit("p", before_batch);
    auto& store = m.open(path);
    plan.count_only();
    store.commit("p", batch);
    total = kind == fault_kind::write ? plan.writes.load() : plan.syncs.load();
    m.close();
    remove_db(path);
  }
  REQUIRE(total > 0);
  outcome_counts c;
  for (int k = 1; k <= total + 1; ++k) {
    CAPTURE(k);
    ++c.k_tried;
    Maker m;
    auto path = fresh_path(Maker::name);
    m.open(path).commit("p", before_batch);
    auto& store = m.open(path);
    plan.arm(kind, k, forever);
    bool returned = false;
    try {
      store.commit("p", batch);
      returned = true;
    } catch (const error& e) {
      CHECK_MESSAGE((e.code() == errc::store_error || e.code() == errc::conflict), e.what());
    }
    c.injected += plan.injected > 0 ? 1 : 0;
    plan.disarm();
    // A retry on the same object succeeds and leaves the whole new state.
    bool retried = false;
    try {
      store.commit("p", batch);
      retried = true;
    } catch (const error& e) {
      FAIL_CHECK("retry on the same store failed: " << e.what());
    }
    if (retried) CHECK(observe(store) == after);
    m.close();
    // What the file holds after the failed attempt alone: reopen a second copy taken before
    // the retry is not possible in place, so the attempt is replayed on a fresh file below.
    remove_db(path);

    auto path2 = fresh_path(Maker::name);
    m.open(path2).commit("p", before_batch);
    auto& store2 = m.open(path2);
    plan.arm(kind, k, forever);
    returned = false;
    try {
      store2.commit("p", batch);
      returned = true;
    } catch (const error&) {
    }
    plan.disarm();
    m.close();
    CHECK(integrity(path2) == "ok");
    snapshot seen = observe(m.open(path2));
    const bool old_state = seen == before;
    const bool new_state = seen == after;
    CHECK_MESSAGE((old_state || new_state), "a partial commit is visible after the fault");
    if (returned) {
      CHECK(new_state);
      ++c.returned;
    } else if (old_state) {
      ++c.threw_old_state;
    } else if (new_state) {
      ++c.threw_new_state;
    }
    // And a retry after reopening succeeds.
    m.open(path2).commit("p", batch);
    CHECK(observe(m.open(path2)) == after);
    CHECK(integrity(path2) == "ok");
    m.close();
    remove_db(path2);
  }
  const std::string what = std::string(Maker::name) + (kind == fault_kind::write ? " write" : " sync") +
                           (forever ? " forever" : " once");
  MESSAGE(what << ": k = 1.." << c.k_tried << ", faults injected " << c.injected << ", returned "
               << c.returned << ", error with old state " << c.threw_old_state << ", error with new state "
               << c.threw_new_state);
  CHECK(c.injected == c.k_tried - 1);  // the last k lies past the commit's last operation
  return c;
}

}  // namespace

TEST_CASE("SQLite: the k-th write of a commit fails once") {
  run_faults<plain_maker>(fault_kind::write, false);
}
TEST_CASE("SQLite: every write from the k-th on fails") { run_faults<plain_maker>(fault_kind::write, true); }
TEST_CASE("SQLite: the k-th sync of a commit fails once") {
  run_faults<plain_maker>(fault_kind::sync, false);
}
TEST_CASE("SQLite: every sync from the k-th on fails") { run_faults<plain_maker>(fault_kind::sync, true); }
#ifdef SINCEHASH_HAS_SODIUM
TEST_CASE("encrypted SQLite: the k-th write of a commit fails once") {
  run_faults<encrypted_maker>(fault_kind::write, false);
}
TEST_CASE("encrypted SQLite: every sync from the k-th on fails") {
  run_faults<encrypted_maker>(fault_kind::sync, true);
}
#endif
