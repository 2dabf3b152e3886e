#ifndef SINCEHASH_DETAIL_STORE_SQLITE_HPP
#define SINCEHASH_DETAIL_STORE_SQLITE_HPP

// Thin helpers over the sqlite3 C API for sqlite_store: error mapping, a statement cursor that
// always resets, and the schema with its migrations.

#include <sincehash/detail/fork_guard.hpp>
#include <sincehash/detail/state_codec.hpp>
#include <sincehash/digest.hpp>
#include <sincehash/error.hpp>
#include <sincehash/time.hpp>

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace sincehash::detail {

[[noreturn]] inline void sqlite_fail(sqlite3* db, int rc, const std::string& what) {
  int primary = rc & 0xFF;
  errc code = (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? errc::conflict : errc::store_error;
  std::string msg = "sqlite: " + what + ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg += " (code " + std::to_string(rc) + ")";
  throw error(code, msg);
}

// One use of a prepared statement: binds, steps, and resets it when destroyed.
class sqlite_cursor {
 public:
  sqlite_cursor(sqlite3* db, sqlite3_stmt* stmt) noexcept : db_(db), stmt_(stmt) {}
  sqlite_cursor(const sqlite_cursor&) = delete;
  sqlite_cursor& operator=(const sqlite_cursor&) = delete;
  ~sqlite_cursor() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  void bind(int i, std::int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind(int i, std::optional<instant> v) {
    if (v) {
      bind(i, ns_of(*v));
    } else {
      check(sqlite3_bind_null(stmt_, i));
    }
  }
  void bind_null(int i) { check(sqlite3_bind_null(stmt_, i)); }
  // Record ids and fingerprints are stored as BLOBs: byte-exact, ordered by memcmp.
  void bind_blob(int i, std::string_view v) {
    check(sqlite3_bind_blob64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC));
  }
  void bind_text(int i, std::string_view v) {
    check(sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  // Binds `d`'s bytes (state_codec.hpp) written to `buf` (16 bytes), which must stay valid until
  // the statement ran: SQLite reads it without a copy.
  void bind_digest(int i, const digest& d, unsigned char* buf) {
    check(sqlite3_bind_blob(stmt_, i, buf, static_cast<int>(write_digest(d, buf)), SQLITE_STATIC));
  }

  // True while a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite_fail(db_, rc, "executing " + std::string(sqlite3_sql(stmt_)).substr(0, 60));
  }
  void run() {
    while (step()) {
    }
  }

  [[nodiscard]] bool is_null(int col) const noexcept {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  [[nodiscard]] std::int64_t integer(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] std::optional<instant> opt_instant(int col) const noexcept {
    if (is_null(col)) return std::nullopt;
    return instant_of(integer(col));
  }
  [[nodiscard]] std::string_view blob(int col) const noexcept {
    const void* p = sqlite3_column_blob(stmt_, col);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
    return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
  }
  [[nodiscard]] std::string_view text(int col) const noexcept {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
    return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), n);
  }
  [[nodiscard]] digest digest_at(int col) const noexcept { return read_digest(blob(col)); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) sqlite_fail(db_, rc, "binding a parameter");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

inline void sqlite_exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    int primary = rc & 0xFF;
    throw error(
        (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? errc::conflict : errc::store_error,
        "sqlite: " + std::string(sql).substr(0, 60) + ": " + text + " (code " + std::to_string(rc) + ")");
  }
}

// A thread that runs one job at a time for the thread that owns it: `start` hands a job over,
// `wait` returns when it ran (rethrowing what it threw). Stopped and joined when destroyed.
class sqlite_side_thread {
 public:
  sqlite_side_thread() : thread_([this] { serve(); }) {}
  sqlite_side_thread(const sqlite_side_thread&) = delete;
  sqlite_side_thread& operator=(const sqlite_side_thread&) = delete;
  ~sqlite_side_thread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void start(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = std::move(job);
    failure_ = nullptr;
    pending_ = true;
    wake_.notify_one();
  }

  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return !pending_; });
    if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
  }

  // True in a child process forked after the thread started: it did not survive the fork.
  [[nodiscard]] bool inherited() const noexcept { return fork_.inherited(); }

 private:
  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || (pending_ && job_); });
      if (stopping_) return;
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      std::exception_ptr failure;
      try {
        job();
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      failure_ = failure;
      pending_ = false;
      done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;  // a job, or stopping
  std::condition_variable done_;  // the job ran
  std::function<void()> job_;
  std::exception_ptr failure_;
  bool pending_ = false;
  bool stopping_ = false;
  fork_guard fork_;
  std::thread thread_;  // last: starts once the members above exist
};

// "SHst" — marks a file as a sincehash state store (PRAGMA application_id).
inline constexpr std::int32_t sqlite_application_id = 0x53487374;

// sqlite_migrations[v] brings a database from schema version v to v + 1.
inline constexpr const char* sqlite_migrations[] = {
    // 0 -> 1
    "CREATE TABLE partitions("
    " id INTEGER PRIMARY KEY,"
    " name BLOB NOT NULL UNIQUE,"
    " offset_kind INTEGER, offset_text TEXT, offset_number INTEGER,"
    " rescan_active INTEGER NOT NULL DEFAULT 0,"
    " last_rescan INTEGER);"
    "CREATE TABLE records("
    " partition INTEGER NOT NULL,"
    " id BLOB NOT NULL,"
    " hash BLOB NOT NULL,"
    " fingerprint INTEGER NOT NULL,"
    " updated INTEGER,"
    " last_seen INTEGER NOT NULL,"
    " expires INTEGER,"
    " PRIMARY KEY(partition, id)) WITHOUT ROWID;"
    "CREATE INDEX records_expiry ON records(expires) WHERE expires IS NOT NULL;"
    "CREATE TABLE fingerprints("
    " partition INTEGER NOT NULL,"
    " id INTEGER NOT NULL,"
    " text BLOB NOT NULL,"
    " PRIMARY KEY(partition, id),"
    " UNIQUE(partition, text)) WITHOUT ROWID;"
    "CREATE TABLE rescan_seen("
    " partition INTEGER NOT NULL,"
    " id BLOB NOT NULL,"
    " PRIMARY KEY(partition, id)) WITHOUT ROWID;",
    // 1 -> 2: opaque bytes of a decorating store (NULL for a plain state)
    "ALTER TABLE records ADD COLUMN sealed BLOB;",
    // 2 -> 3: versions and the partition's write sequence; the partition's lease. Rows written
    // before get version 1 and their partition sequence 1, so every later write is numbered
    // above them (a partition created later starts at 0: sqlite_store inserts it so).
    "ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE partitions ADD COLUMN sequence INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE partitions ADD COLUMN lease_owner BLOB;"
    "ALTER TABLE partitions ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE partitions ADD COLUMN lease_expires INTEGER;",
    // 3 -> 4: the per-field digests of reportChanges (NULL when none are kept)
    "ALTER TABLE records ADD COLUMN fields BLOB;",
};

inline constexpr int sqlite_schema_version =
    static_cast<int>(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0]));

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_SQLITE_HPP
