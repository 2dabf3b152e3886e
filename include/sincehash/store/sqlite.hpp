#ifndef SINCEHASH_STORE_SQLITE_HPP
#define SINCEHASH_STORE_SQLITE_HPP

// The embedded default back end: one SQLite file (link sincehash::sqlite).

#include <sincehash/detail/store_batch.hpp>
#include <sincehash/detail/store_errors.hpp>
#include <sincehash/detail/store_fences.hpp>
#include <sincehash/detail/store_local_lease.hpp>
#include <sincehash/detail/store_sqlite.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sincehash {

/// How durable a commit is once `commit` returns (PRAGMA synchronous in WAL mode).
enum class sqlite_sync : std::uint8_t {
  /// The default: the WAL is synced on every commit; a committed batch survives a power loss.
  full,
  /// The WAL is synced only at checkpoints: faster; a crash of the process loses nothing, but a
  /// power loss or OS crash may roll back the last commits (the file stays consistent). Since
  /// the offset rolls back with the states, this costs redelivery (at-least-once), never a loss.
  normal,
};

/// Settings of a `sqlite_store`.
struct sqlite_options {
  sqlite_sync synchronous = sqlite_sync::full;     ///< see `sqlite_sync`
  std::chrono::milliseconds busy_timeout{10'000};  ///< how long to wait for another writer's lock
  std::int64_t cache_kib = 64 * 1024;              ///< page cache of this connection, KiB
  /// Bytes of the file read through a memory map (PRAGMA mmap_size); 0 reads with pread only.
  /// SQLite lowers it to its own limit (0x7fff0000 bytes in common builds). A large state read
  /// at random (a repeat sync over millions of ids) runs faster mapped: no system call and no
  /// copy per page. The mapped pages are the kernel's cached pages of the file, which it would
  /// hold anyway; they count in the process's resident memory once touched.
  std::int64_t mmap_bytes = 2048ll * 1024 * 1024;
  /// WAL pages written before an automatic checkpoint (PRAGMA wal_autocheckpoint). Larger
  /// values write each changed page to the main file less often (random ids touch many pages);
  /// the WAL grows up to about this many 4 KiB pages and is truncated back after a checkpoint.
  std::int64_t wal_checkpoint_pages = 16384;
  /// Opens the file for reading only: nothing is created, migrated or written (a write throws
  /// `errc::store_error`); a missing or empty file reads as a state with nothing in it. For
  /// programs that only look (`sincehash since`, `sincehash status`).
  bool read_only = false;
  /// Connections that read a batch's states together (1: this one alone, the default). With 2 or
  /// more, the ids of a batch that one ordered scan does not read (ids spread thinly over a large
  /// state: a repeat sync over millions of stored records) are looked up in equal parts by this
  /// connection and up to `read_connections - 1` more, each on a thread of the store's own,
  /// opened read-only on the same file at the first such batch (none for a database in memory).
  /// Every part comes from one state: a connection whose snapshot differs from the batch's (a
  /// commit to the partition in between) leaves its part to the first connection.
  unsigned read_connections = 1;
  fault_hook fault_injector;  ///< test only: see `fault_hook`
  /// Test only: called when `snapshot` shares its lookups with reading connections: with part
  /// 0 on the calling thread, after its own read transaction began and before theirs begin; then
  /// with part p on the thread of reading connection p, in its read transaction, before it reads
  /// (at the same time as the others: the hook must be safe to call so). An exception thrown in
  /// part p is that connection failing.
  std::function<void(std::size_t part)> shared_read_hook;
};

/// A state store in one SQLite file (created when missing): WAL journal, one `BEGIN IMMEDIATE`
/// transaction per commit with rows written in id order, prepared statements reused, ids stored
/// byte-exact as BLOBs, digests as 0/8/16-byte BLOBs, instants as INTEGER nanoseconds (UTC).
/// Implements the whole contract documented in store.hpp, versions, conditional commits and
/// leases included.
///
/// The schema is versioned (PRAGMA user_version, `schema_version`); an older file is migrated on
/// open, a newer one is refused with `errc::store_error` naming both versions, a file of another
/// application (PRAGMA application_id) is refused too, and so is a non-empty database that is
/// not a sincehash state file (tables but no sincehash application id) or a file that is not an
/// SQLite database: both with `errc::invalid_argument` naming the file, before anything is
/// written to it. A new path or an empty file becomes a state file. Schema 3: each record row holds its
/// version, each partition row its write sequence and its lease (owner, last token, expiry in
/// wall-clock milliseconds). A file of schema 1 or 2 is migrated in place without rewriting its
/// rows: they take version 1 and their partitions sequence 1, so later writes are numbered above.
/// Schema 4: each record row may hold its per-field digests (`fields`, NULL when none); a file of
/// an earlier schema gains the column, NULL in every row, without a rewrite.
///
/// Conditional commits: the conditions are checked in the commit's own write transaction, so no
/// other object or process can write between the check and the commit's rows. When
/// `read_sequence` is still the partition's sequence (nothing was written since the snapshot),
/// the check costs nothing more than the one partition row every commit reads.
///
/// Several processes (and several `sqlite_store` objects) may use one file at once: SQLite's
/// locks serialise the commits, and each waits up to `busy_timeout` before failing with
/// `errc::conflict` (nothing committed). Leases live in the file, so they exclude each other
/// across processes; fences belong to the object. Thread safety: every member function may be
/// called concurrently; one object runs one call at a time (open one object per thread for
/// parallel reads; `sqlite_options::read_connections` shares one snapshot's lookups out). `for_each`'s
/// callback runs under that lock and must not call the same object. Errors from SQLite throw
/// `sincehash::error` with `errc::store_error` (or `errc::conflict`).
class sqlite_store : public detail::store_fences {
 public:
  /// The schema version this library writes and understands.
  static constexpr int schema_version = detail::sqlite_schema_version;

  /// Opens (or creates) the state file at `path` and migrates its schema; with
  /// `sqlite_options::read_only`, opens it for reading only.
  explicit sqlite_store(const std::string& path, sqlite_options options = {}) : options_(std::move(options)) {
    std::error_code ec;
    // Read only, a missing file is an empty state: read from an empty database in memory.
    const bool in_memory = options_.read_only && !std::filesystem::exists(path, ec);
    open(in_memory ? std::string(":memory:") : path, options_.read_only && !in_memory);
    try {
      if (!options_.read_only || in_memory) {
        migrate(path);
      } else if (const std::int64_t version = inspect(path); version == 0) {
        close();  // an empty file: nothing stored yet
        open(":memory:", false);
        migrate(path);
      } else if (version != schema_version) {
        throw error(errc::store_error, "sqlite: '" + path + "' has schema version " +
                                           std::to_string(version) + ", older than version " +
                                           std::to_string(schema_version) +
                                           ": a run that writes to it migrates it first");
      }
      std::string pragmas = "PRAGMA synchronous=";
      pragmas += options_.synchronous == sqlite_sync::full ? "FULL" : "NORMAL";
      pragmas += ";PRAGMA cache_size=-" + std::to_string(options_.cache_kib);
      pragmas += ";PRAGMA mmap_size=" + std::to_string(options_.mmap_bytes);
      pragmas += ";PRAGMA wal_autocheckpoint=" + std::to_string(options_.wal_checkpoint_pages);
      pragmas += ";PRAGMA journal_size_limit=" + std::to_string(options_.wal_checkpoint_pages * 4096) + ";";
      detail::sqlite_exec(db_, pragmas.c_str());
    } catch (...) {
      close();
      throw;
    }
  }
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;
  ~sqlite_store() {
    readers_.clear();  // first: the last connection to close writes the log back and removes it
    close();
  }

  /// See store.hpp. One read transaction; ids looked up `IN (...)` in chunks of one statement.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view partition,
                                                                  const std::vector<std::string_view>& ids) {
    std::vector<std::optional<record_state>> out(ids.size());
    if (ids.empty()) return out;
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return out;
    read_states(*pid, ids, out, nullptr);
    tx.done();
    return out;
  }

  /// See store.hpp. One read transaction: the partition's row, then the states as `get_many`
  /// reads them (with their versions).
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) {
    store_snapshot out = detail::store_empty_snapshot(ids.size());
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return out;
    partition_row row = read_partition(*pid);
    out.offset = std::move(row.offset);
    out.rescan_active = row.rescan_active;
    out.sequence = row.sequence;
    if (!ids.empty()) read_states(*pid, ids, out.states, &out.versions, &row.sequence);
    tx.done();
    return out;
  }

  /// See store.hpp. One `BEGIN IMMEDIATE` transaction; rolled back on any failure. The fence,
  /// the conditions (`expect`, read like `get_many` reads, and skipped when `read_sequence` is the
  /// partition's sequence), the offset kind and the rescan are checked in it before the first
  /// write. Throws `commit_conflict` when a condition failed, and `errc::conflict` when this object
  /// fences the partition (see `acquire_lease`) and that lease expired or was granted again since.
  void commit(std::string_view partition, const commit_batch& batch) {
    detail::store_plan plan = detail::plan_commit(batch);
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::int64_t pid = obtain_partition(partition, tx);
    partition_row row = read_partition(pid);
    check_fence(row, partition, "commit");
    bool move_offset = batch.offset && detail::store_offset_advances(row.offset, *batch.offset);
    if (batch.complete_rescan && !row.rescan_active)
      throw detail::store_no_active_rescan(store_name, partition);
    if (!batch.expect.empty() && !(batch.read_sequence && *batch.read_sequence == row.sequence)) {
      check_expected(pid, partition, batch.expect);
    }
    const bool writes = !plan.ops.empty() || (row.rescan_active && !plan.marks.empty()) || move_offset ||
                        batch.complete_rescan;
    const auto version = static_cast<std::int64_t>(row.sequence + 1);
    detail::store_write_steps before_write(options_.fault_injector);
    const auto& ops = plan.ops;
    unsigned char digest_bytes[write_chunk][16];  // bound without a copy: they outlive each statement
    for (std::size_t k = 0; k < ops.size();) {
      // Runs of upserts go `write_chunk` rows to a statement: far less work per row than one
      // statement each. The rest, and erasures, one at a time.
      std::size_t run = 0;
      while (run < write_chunk && k + run < ops.size() && ops[k + run].kind == detail::store_op_kind::upsert)
        ++run;
      if (run == write_chunk) {
        detail::sqlite_cursor c(db_, statement(stmt::upsert_chunk));
        c.bind(1, pid);
        c.bind(2, version);
        for (std::size_t j = 0; j < write_chunk; ++j) {
          before_write();
          bind_upsert(c, static_cast<int>(3 + upsert_row_parameters * j), digest_bytes[j],
                      batch.upserts[ops[k + j].index]);
        }
        c.run();
        k += write_chunk;
        continue;
      }
      const detail::store_op& op = ops[k++];
      before_write();
      if (op.kind == detail::store_op_kind::upsert) {
        detail::sqlite_cursor c(db_, statement(stmt::upsert));
        c.bind(1, pid);
        c.bind(2, version);
        bind_upsert(c, 3, digest_bytes[0], batch.upserts[op.index]);
        c.run();
      } else {
        detail::sqlite_cursor c(db_, statement(stmt::erase));
        c.bind(1, pid);
        c.bind_blob(2, batch.erasures[op.index]);
        c.run();
      }
    }
    if (row.rescan_active && !batch.complete_rescan) {
      std::vector<std::string_view> marks;
      marks.reserve(plan.upsert_count + plan.marks.size());
      for (const detail::store_op& op : plan.ops) {
        if (op.kind == detail::store_op_kind::upsert) marks.push_back(batch.upserts[op.index].first);
      }
      std::size_t middle = marks.size();
      for (std::uint32_t m : plan.marks) marks.push_back(batch.rescan_seen[m]);
      std::inplace_merge(marks.begin(), marks.begin() + static_cast<std::ptrdiff_t>(middle), marks.end());
      for (std::string_view id : marks) {
        before_write();
        detail::sqlite_cursor c(db_, statement(stmt::mark));
        c.bind(1, pid);
        c.bind_blob(2, id);
        c.run();
      }
    }
    if (move_offset) {
      before_write();
      detail::sqlite_cursor c(db_, statement(stmt::set_offset));
      c.bind(1, pid);
      c.bind(2, static_cast<std::int64_t>(batch.offset->kind));
      c.bind_text(3, batch.offset->text);
      c.bind(4, batch.offset->number);
      c.run();
    }
    if (batch.complete_rescan) {
      before_write();
      clear_marks(pid);
      set_rescan(pid, false, batch.rescan_completed_at);
    }
    if (writes) set_sequence(pid, version);
    tx.commit();
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return std::nullopt;
    auto row = read_partition(*pid);
    tx.done();
    return row.offset;
  }

  /// See store.hpp. Fenced like `commit`.
  void reset_offset(std::string_view partition, bool forget_records) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::int64_t pid = obtain_partition(partition, tx);
    const partition_row row = read_partition(pid);
    check_fence(row, partition, "reset");
    {
      detail::sqlite_cursor c(db_, statement(stmt::clear_offset));
      c.bind(1, pid);
      c.run();
    }
    if (forget_records) {
      detail::sqlite_cursor c(db_, statement(stmt::forget_records));
      c.bind(1, pid);
      c.run();
      clear_marks(pid);
      set_rescan(pid, false, std::nullopt);
    }
    set_sequence(pid, static_cast<std::int64_t>(row.sequence + 1));
    tx.commit();
  }

  /// See store.hpp. Written immediately in its own transaction; ids are cached per object.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view partition, std::string_view text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string key = std::to_string(partition.size());
    key.push_back(':');
    key.append(partition);
    key.append(text);
    auto cached = fingerprint_cache_.find(key);
    if (cached != fingerprint_cache_.end()) return cached->second;
    write_transaction tx(*this);
    std::int64_t pid = obtain_partition(partition, tx);
    std::optional<std::int64_t> id;
    for (int attempt = 0; attempt < 2 && !id; ++attempt) {
      if (attempt == 1) {
        detail::sqlite_cursor c(db_, statement(stmt::fingerprint_insert));
        c.bind(1, pid);
        c.bind_blob(2, text);
        c.run();
      }
      detail::sqlite_cursor c(db_, statement(stmt::fingerprint_find));
      c.bind(1, pid);
      c.bind_blob(2, text);
      if (c.step()) id = c.integer(0);
    }
    if (!id || *id <= 0 || *id > 0xFFFFFFFF)
      throw error(errc::store_error, "sqlite_store: cannot intern a fingerprint");
    tx.commit();
    auto result = static_cast<std::uint32_t>(*id);
    fingerprint_cache_.emplace(std::move(key), result);
    return result;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view partition, std::uint32_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return std::nullopt;
    detail::sqlite_cursor c(db_, statement(stmt::fingerprint_text));
    c.bind(1, *pid);
    c.bind(2, static_cast<std::int64_t>(id));
    if (!c.step()) return std::nullopt;
    return std::string(c.blob(0));
  }

  /// See store.hpp. In id order, inside one read transaction.
  template <class F>
  void for_each(std::string_view partition, F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return;
    detail::sqlite_cursor c(db_, statement(stmt::all_records));
    c.bind(1, *pid);
    while (c.step()) {
      const record_state state = state_of(c, 1);
      f(c.blob(0), state);
    }
    tx.done();
  }

  /// See store.hpp.
  std::size_t purge_expired(instant now) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    const std::int64_t limit = detail::ns_of(now);
    {
      detail::sqlite_cursor c(db_, statement(stmt::bump_expiring));
      c.bind(1, limit);
      c.run();
    }
    detail::sqlite_cursor c(db_, statement(stmt::purge_all));
    c.bind(1, limit);
    c.run();
    auto n = static_cast<std::size_t>(sqlite3_changes64(db_));
    tx.commit();
    return n;
  }

  /// See store.hpp.
  std::size_t purge_expired(std::string_view partition, instant now) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return 0;
    std::size_t n = 0;
    {
      detail::sqlite_cursor c(db_, statement(stmt::purge_one));
      c.bind(1, *pid);
      c.bind(2, detail::ns_of(now));
      c.run();
      n = static_cast<std::size_t>(sqlite3_changes64(db_));
    }
    if (n != 0) {
      detail::sqlite_cursor c(db_, statement(stmt::bump_sequence));
      c.bind(1, *pid);
      c.run();
    }
    tx.commit();
    return n;
  }

  /// See store.hpp.
  [[nodiscard]] std::size_t count(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return 0;
    detail::sqlite_cursor c(db_, statement(stmt::count));
    c.bind(1, *pid);
    return c.step() ? static_cast<std::size_t>(c.integer(0)) : 0;
  }

  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> partitions() {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::vector<std::string> out;
    detail::sqlite_cursor c(db_, statement(stmt::partitions));
    while (c.step()) out.emplace_back(c.blob(0));
    return out;
  }

  /// See store.hpp. Deletes the marks of a running rescan (proportional to their number).
  /// Fenced like `commit`.
  void begin_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::int64_t pid = obtain_partition(partition, tx);
    const partition_row row = read_partition(pid);
    check_fence(row, partition, "beginning a rescan");
    clear_marks(pid);
    set_rescan(pid, true, std::nullopt);
    set_sequence(pid, static_cast<std::int64_t>(row.sequence + 1));
    tx.commit();
  }

  /// See store.hpp. Fenced like `commit`.
  void abandon_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) {
      check_fence(partition_row{}, partition, "abandoning a rescan");
      return;
    }
    const partition_row row = read_partition(*pid);
    check_fence(row, partition, "abandoning a rescan");
    clear_marks(*pid);
    set_rescan(*pid, false, std::nullopt);
    set_sequence(*pid, static_cast<std::int64_t>(row.sequence + 1));
    tx.commit();
  }

  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    return pid && read_partition(*pid).rescan_active;
  }

  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::vector<std::string> out;
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid || !read_partition(*pid).rescan_active) return out;
    detail::sqlite_cursor c(db_, statement(stmt::unseen));
    c.bind(1, *pid);
    while (c.step()) out.emplace_back(c.blob(0));
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    read_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(partition);
    if (!pid) return std::nullopt;
    return read_partition(*pid).last_rescan;
  }

  /// Grants `owner` the lease of `partition` for `ttl` unless another owner holds it. The lease is
  /// kept in the file, so every object and process on the file sees it; it expires by the wall
  /// clock (the processes sharing a file share a host, and with it a clock). A grant (also a
  /// repeated one to the same owner) carries a new fencing token, larger than every earlier one
  /// of the partition, and from then on this object fences its commits, resets and rescan starts
  /// and stops on `partition` with it (see `set_fence`). When refused, `lease` names the holder
  /// (owner, token) and `remaining` its time left. `ttl` must be at least 1 ms (else
  /// `errc::invalid_argument`). One write transaction.
  [[nodiscard]] lease_result acquire_lease(std::string_view partition, std::string_view owner,
                                           std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::int64_t pid = obtain_partition(partition, tx);
    partition_row row = read_partition(pid);
    lease_result out = detail::local_lease_acquire(row.lease, partition, owner, lease_now(), ttl);
    if (out.granted) write_lease(pid, row.lease);
    tx.commit();
    fence_granted(partition, out.granted, out.lease.token);
    return out;
  }

  /// Extends a held lease to `ttl` from now. False (and nothing changed) when the lease expired or
  /// was granted to another owner or under another token meanwhile.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    std::lock_guard<std::mutex> lock(mutex_);
    write_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(lease.partition);
    if (!pid) return false;
    partition_row row = read_partition(*pid);
    if (!detail::local_lease_renew(row.lease, lease, lease_now(), ttl)) return false;
    write_lease(*pid, row.lease);
    tx.commit();
    return true;
  }

  /// Gives a lease up, so another owner may acquire it at once, and stops fencing this object's
  /// commits on its partition with its token. `lease` may also be another holder's, as a refused
  /// `acquire_lease` names it: so a caller that knows the holder is gone (a process that died)
  /// takes over by releasing it, then acquiring. False when it was no longer held under
  /// `lease.token` by `lease.owner` (expired, released or granted again).
  bool release_lease(const store_lease& lease) {
    std::lock_guard<std::mutex> lock(mutex_);
    clear_fence_if(lease.partition, lease.token);
    write_transaction tx(*this);
    std::optional<std::int64_t> pid = partition_id(lease.partition);
    if (!pid) return false;
    partition_row row = read_partition(*pid);
    const bool granted = row.lease.held;
    const bool held = detail::local_lease_release(row.lease, lease, lease_now());
    if (row.lease.held != granted) {
      write_lease(*pid, row.lease);
      tx.commit();
    }
    return held;
  }

  /// Runs `PRAGMA integrity_check`: "ok", or SQLite's description of the damage.
  [[nodiscard]] std::string integrity_check() {
    std::lock_guard<std::mutex> lock(mutex_);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA integrity_check", -1, &raw, nullptr);
    if (rc != SQLITE_OK) detail::sqlite_fail(db_, rc, "preparing integrity_check");
    std::string out;
    {
      detail::sqlite_cursor c(db_, raw);
      while (c.step()) {
        if (!out.empty()) out += '\n';
        out += c.text(0);
      }
    }
    sqlite3_finalize(raw);
    return out;
  }

 private:
  static constexpr const char* store_name = "sqlite_store";
  static constexpr std::size_t read_chunk = 64;
  static constexpr std::size_t write_chunk = 32;
  static constexpr int upsert_row_parameters = 8;  // per row; the partition and version are shared
  static constexpr int version_column = 8;         // in the rows `scan_ids` reads

  enum class stmt : std::size_t {
    find_partition,
    insert_partition,
    read_partition,
    get_chunk,
    get_range,
    upsert,
    upsert_chunk,
    erase,
    mark,
    clear_marks,
    set_offset,
    clear_offset,
    set_rescan,
    set_sequence,
    bump_sequence,
    bump_expiring,
    set_lease,
    forget_records,
    fingerprint_find,
    fingerprint_insert,
    fingerprint_text,
    all_records,
    purge_all,
    purge_one,
    count,
    partitions,
    unseen,
    size_
  };

  struct partition_row {
    std::optional<offset_value> offset;
    bool rescan_active = false;
    std::optional<instant> last_rescan;
    std::uint64_t sequence = 0;
    detail::local_lease lease;
  };

  // A deferred read transaction: one snapshot for the whole call.
  class read_transaction {
   public:
    explicit read_transaction(sqlite_store& s) : s_(s) { detail::sqlite_exec(s_.db_, "BEGIN"); }
    read_transaction(const read_transaction&) = delete;
    read_transaction& operator=(const read_transaction&) = delete;
    ~read_transaction() {
      if (open_) sqlite3_exec(s_.db_, "COMMIT", nullptr, nullptr, nullptr);
    }
    void done() {
      open_ = false;
      detail::sqlite_exec(s_.db_, "COMMIT");
    }

   private:
    sqlite_store& s_;
    bool open_ = true;
  };

  // A write transaction: rolled back unless `commit` succeeds.
  class write_transaction {
   public:
    explicit write_transaction(sqlite_store& s) : s_(s) { detail::sqlite_exec(s_.db_, "BEGIN IMMEDIATE"); }
    write_transaction(const write_transaction&) = delete;
    write_transaction& operator=(const write_transaction&) = delete;
    ~write_transaction() {
      if (open_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      detail::sqlite_exec(s_.db_, "COMMIT");
      open_ = false;
      for (auto& kv : new_partitions) s_.partition_cache_.insert(std::move(kv));
    }
    std::vector<std::pair<std::string, std::int64_t>> new_partitions;

   private:
    sqlite_store& s_;
    bool open_ = true;
  };

  static const char* sql_of(stmt s) {
    switch (s) {
      case stmt::find_partition:
        return "SELECT id FROM partitions WHERE name=?1";
      case stmt::insert_partition:
        return "INSERT INTO partitions(name, sequence) VALUES(?1, 0)";
      case stmt::read_partition:
        return "SELECT offset_kind, offset_text, offset_number, rescan_active, last_rescan, sequence, "
               "lease_owner, lease_token, lease_expires FROM partitions WHERE id=?1";
      case stmt::get_chunk:
      case stmt::upsert_chunk:
        return nullptr;
      case stmt::get_range:
        return "SELECT id, hash, fingerprint, updated, last_seen, expires, sealed, fields, version FROM "
               "records "
               "WHERE partition=?1 AND id>=?2 AND id<=?3 ORDER BY id";
      case stmt::upsert:
        return "INSERT OR REPLACE INTO records(partition, id, hash, fingerprint, updated, last_seen, "
               "expires, sealed, fields, version) "
               "VALUES(?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?2)";
      case stmt::erase:
        return "DELETE FROM records WHERE partition=?1 AND id=?2";
      case stmt::mark:
        return "INSERT OR IGNORE INTO rescan_seen(partition, id) VALUES(?1, ?2)";
      case stmt::clear_marks:
        return "DELETE FROM rescan_seen WHERE partition=?1";
      case stmt::set_offset:
        return "UPDATE partitions SET offset_kind=?2, offset_text=?3, offset_number=?4 WHERE id=?1";
      case stmt::clear_offset:
        return "UPDATE partitions SET offset_kind=NULL, offset_text=NULL, offset_number=NULL WHERE id=?1";
      case stmt::set_rescan:
        return "UPDATE partitions SET rescan_active=?2, last_rescan=coalesce(?3, last_rescan) WHERE id=?1";
      case stmt::set_sequence:
        return "UPDATE partitions SET sequence=?2 WHERE id=?1";
      case stmt::bump_sequence:
        return "UPDATE partitions SET sequence=sequence+1 WHERE id=?1";
      case stmt::bump_expiring:
        return "UPDATE partitions SET sequence=sequence+1 WHERE id IN "
               "(SELECT partition FROM records WHERE expires<=?1)";
      case stmt::set_lease:
        return "UPDATE partitions SET lease_owner=?2, lease_token=?3, lease_expires=?4 WHERE id=?1";
      case stmt::forget_records:
        return "DELETE FROM records WHERE partition=?1";
      case stmt::fingerprint_find:
        return "SELECT id FROM fingerprints WHERE partition=?1 AND text=?2";
      case stmt::fingerprint_insert:
        return "INSERT INTO fingerprints(partition, id, text) "
               "VALUES(?1, (SELECT coalesce(max(id), 0) + 1 FROM fingerprints WHERE partition=?1), ?2)";
      case stmt::fingerprint_text:
        return "SELECT text FROM fingerprints WHERE partition=?1 AND id=?2";
      case stmt::all_records:
        return "SELECT id, hash, fingerprint, updated, last_seen, expires, sealed, fields FROM records WHERE "
               "partition=?1 "
               "ORDER BY id";
      case stmt::purge_all:
        return "DELETE FROM records WHERE expires<=?1";
      case stmt::purge_one:
        return "DELETE FROM records WHERE partition=?1 AND expires<=?2";
      case stmt::count:
        return "SELECT count(*) FROM records WHERE partition=?1";
      case stmt::partitions:
        return "SELECT name FROM partitions p WHERE offset_kind IS NOT NULL OR rescan_active "
               "OR last_rescan IS NOT NULL OR EXISTS(SELECT 1 FROM records r WHERE r.partition=p.id) "
               "OR EXISTS(SELECT 1 FROM fingerprints f WHERE f.partition=p.id) ORDER BY name";
      case stmt::unseen:
        return "SELECT r.id FROM records r WHERE r.partition=?1 AND NOT EXISTS("
               "SELECT 1 FROM rescan_seen s WHERE s.partition=?1 AND s.id=r.id) ORDER BY r.id";
      case stmt::size_:
        break;
    }
    return nullptr;
  }

  sqlite3_stmt* statement(stmt which) {
    auto i = static_cast<std::size_t>(which);
    if (statements_[i] == nullptr) {
      std::string sql;
      if (which == stmt::upsert_chunk) {
        sql =
            "INSERT OR REPLACE INTO records(partition, id, hash, fingerprint, updated, last_seen, expires, "
            "sealed, fields, version) VALUES";
        for (std::size_t k = 0; k < write_chunk; ++k) {
          sql += k == 0 ? "(?1" : ",(?1";
          for (int c = 0; c < upsert_row_parameters; ++c) {
            sql += ",?" + std::to_string(3 + static_cast<int>(k) * upsert_row_parameters + c);
          }
          sql += ",?2)";
        }
      } else if (which == stmt::get_chunk) {
        sql =
            "SELECT id, hash, fingerprint, updated, last_seen, expires, sealed, fields, version FROM records "
            "WHERE "
            "partition=?1 AND "
            "id IN (";
        for (std::size_t k = 0; k < read_chunk; ++k) sql += k == 0 ? "?" : ",?";
        sql += ")";
      } else {
        sql = sql_of(which);
      }
      int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                  &statements_[i], nullptr);
      if (rc != SQLITE_OK) detail::sqlite_fail(db_, rc, "preparing " + sql.substr(0, 60));
    }
    return statements_[i];
  }

  // Binds one row of an upsert: parameters first .. first + upsert_row_parameters - 1 (id, hash,
  // fingerprint, updated, last seen, expiry, sealed bytes, per-field digests); the digest's bytes go to
  // `digest_buffer`, which must outlive the statement's run.
  static void bind_upsert(detail::sqlite_cursor& c, int first, unsigned char* digest_buffer,
                          const std::pair<std::string, record_state>& u) {
    c.bind_blob(first, u.first);
    c.bind_digest(first + 1, u.second.hash, digest_buffer);
    c.bind(first + 2, static_cast<std::int64_t>(u.second.fingerprint));
    c.bind(first + 3, u.second.updated);
    c.bind(first + 4, detail::ns_of(u.second.last_seen));
    c.bind(first + 5, u.second.expires);
    if (u.second.sealed.empty()) {
      c.bind_null(first + 6);
    } else {
      c.bind_blob(first + 6, u.second.sealed);
    }
    if (u.second.fields.empty()) {
      c.bind_null(first + 7);
    } else {
      c.bind_blob(first + 7, u.second.fields);
    }
  }

  static record_state state_of(const detail::sqlite_cursor& c, int first) {
    record_state s;
    s.hash = c.digest_at(first);
    s.fingerprint = static_cast<std::uint32_t>(c.integer(first + 1));
    // Most states are dated: read the number first, ask for NULL only when it reads as 0.
    const std::int64_t updated = c.integer(first + 2);
    if (updated != 0 || !c.is_null(first + 2)) s.updated = detail::instant_of(updated);
    s.last_seen = detail::instant_of(c.integer(first + 3));
    s.expires = c.opt_instant(first + 4);
    if (!c.is_null(first + 5)) s.sealed = std::string(c.blob(first + 5));
    if (!c.is_null(first + 6)) s.fields = std::string(c.blob(first + 6));
    return s;
  }

  std::optional<std::int64_t> partition_id(std::string_view name) {
    auto it = partition_cache_.find(std::string(name));
    if (it != partition_cache_.end()) return it->second;
    detail::sqlite_cursor c(db_, statement(stmt::find_partition));
    c.bind_blob(1, name);
    if (!c.step()) return std::nullopt;
    std::int64_t id = c.integer(0);
    partition_cache_.emplace(std::string(name), id);
    return id;
  }

  std::int64_t obtain_partition(std::string_view name, write_transaction& tx) {
    if (auto id = partition_id(name)) return *id;
    {
      detail::sqlite_cursor c(db_, statement(stmt::insert_partition));
      c.bind_blob(1, name);
      c.run();
    }
    std::int64_t id = sqlite3_last_insert_rowid(db_);
    tx.new_partitions.emplace_back(std::string(name), id);
    return id;
  }

  partition_row read_partition(std::int64_t pid) {
    partition_row row;
    detail::sqlite_cursor c(db_, statement(stmt::read_partition));
    c.bind(1, pid);
    if (!c.step()) return row;
    if (!c.is_null(0)) {
      row.offset = detail::store_offset(store_name, c.integer(0), std::string(c.text(1)), c.integer(2));
    }
    row.rescan_active = c.integer(3) != 0;
    row.last_rescan = c.opt_instant(4);
    row.sequence = static_cast<std::uint64_t>(c.integer(5));
    row.lease.held = !c.is_null(6);
    if (row.lease.held) row.lease.owner = std::string(c.blob(6));
    row.lease.last_token = static_cast<std::uint64_t>(c.integer(7));
    row.lease.expires_ms = c.integer(8);
    return row;
  }

  void set_sequence(std::int64_t pid, std::int64_t sequence) {
    detail::sqlite_cursor c(db_, statement(stmt::set_sequence));
    c.bind(1, pid);
    c.bind(2, sequence);
    c.run();
  }

  void write_lease(std::int64_t pid, const detail::local_lease& l) {
    detail::sqlite_cursor c(db_, statement(stmt::set_lease));
    c.bind(1, pid);
    if (l.held) {
      c.bind_blob(2, l.owner);
      c.bind(4, l.expires_ms);
    } else {
      c.bind_null(2);
      c.bind_null(4);
    }
    c.bind(3, static_cast<std::int64_t>(l.last_token));
    c.run();
  }

  // Wall-clock milliseconds: lease times shared by every process on the file.
  static std::int64_t lease_now() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Throws `errc::conflict` when this object fences `partition` and its lease (in `row`) is not
  // live under that token.
  void check_fence(const partition_row& row, std::string_view partition, const char* what) const {
    if (const std::optional<std::uint64_t> token = fence_of(partition)) {
      detail::local_lease_check_fence(row.lease, *token, lease_now(), store_name, partition, what);
    }
  }

  // Calls `found(k, cursor)` for every stored row among `distinct` (sorted, distinct ids of
  // partition `pid`); the cursor's columns are id, hash, fingerprint, updated, last_seen, expires,
  // sealed, fields, version. A batch that covers much of its id range (a repeat sync, a rescan) is
  // read by one ordered scan of that range, merged with the sorted ids. The scan gives up as soon
  // as fewer than one row in four it passes belongs to the batch (a sparse batch); the ids it has
  // not reached are then looked up by chunks (`look_up`). With `sequence` (the partition's
  // sequence, read in this transaction), those lookups may be shared with the reading
  // connections: `found` then runs on several threads at once, for distinct `k`.
  template <class Found>
  void scan_ids(std::int64_t pid, const std::vector<std::string_view>& distinct, Found&& found,
                const std::uint64_t* sequence = nullptr) {
    if (distinct.empty()) return;
    std::size_t resolved = 0;  // distinct[0, resolved) are answered
    {
      detail::sqlite_cursor c(db_, statement(stmt::get_range));
      c.bind(1, pid);
      c.bind_blob(2, distinct.front());
      c.bind_blob(3, distinct.back());
      std::size_t scanned = 0, matched = 0;
      bool complete = true;
      while (resolved < distinct.size()) {
        if (scanned > 4 * matched + 32) {
          complete = false;
          break;
        }
        if (!c.step()) break;
        ++scanned;
        const std::string_view id = c.blob(0);
        while (resolved < distinct.size() && distinct[resolved] < id) ++resolved;  // not stored
        if (resolved < distinct.size() && distinct[resolved] == id) {
          found(resolved++, static_cast<const detail::sqlite_cursor&>(c));
          ++matched;
        }
      }
      if (complete) resolved = distinct.size();  // the range holds no further id of the batch
    }
    if (sequence != nullptr) {
      look_up_shared(pid, *sequence, distinct, resolved, found);
    } else {
      look_up(pid, distinct, resolved, distinct.size(), found);
    }
  }

  // Looks up distinct[from, to) by chunks of `read_chunk` ids, one statement each.
  template <class Found>
  void look_up(std::int64_t pid, const std::vector<std::string_view>& distinct, std::size_t from,
               std::size_t to, Found& found) {
    const auto first = distinct.begin() + static_cast<std::ptrdiff_t>(from);
    const auto last = distinct.begin() + static_cast<std::ptrdiff_t>(to);
    for (std::size_t base = from; base < to; base += read_chunk) {
      detail::sqlite_cursor c(db_, statement(stmt::get_chunk));
      c.bind(1, pid);
      for (std::size_t k = 0; k < read_chunk; ++k) {
        c.bind_blob(static_cast<int>(k + 2), distinct[std::min(base + k, to - 1)]);
      }
      while (c.step()) {
        std::string_view id = c.blob(0);
        auto at = std::lower_bound(first, last, id);
        if (at != last && *at == id) {
          found(static_cast<std::size_t>(at - distinct.begin()),
                static_cast<const detail::sqlite_cursor&>(c));
        }
      }
    }
  }

  // Fewest lookups a reading connection takes on: below, handing them over costs more than it saves.
  static constexpr std::size_t shared_lookups_min = 128;

  // `look_up` of distinct[from, end), shared out in equal parts between this connection and up to
  // `read_connections - 1` reading connections, each on its own thread. A reading connection
  // begins its own read transaction, after this one's: it answers only when the partition's
  // sequence there is still `sequence`, that is when nothing was written to the partition since
  // this transaction's snapshot, so every answer comes from the same state. Otherwise, or when
  // it fails, this connection looks its part up itself.
  template <class Found>
  void look_up_shared(std::int64_t pid, std::uint64_t sequence, const std::vector<std::string_view>& distinct,
                      std::size_t from, Found& found) {
    const std::size_t n = distinct.size() - from;
    std::size_t parts = std::min<std::size_t>(options_.read_connections, n / shared_lookups_min);
    if (parts > 1) parts = 1 + reading_connections(parts - 1);
    if (parts <= 1) {
      look_up(pid, distinct, from, distinct.size(), found);
      return;
    }
    std::vector<std::size_t> bound(parts + 1);
    for (std::size_t p = 0; p <= parts; ++p) bound[p] = from + n * p / parts;
    std::vector<unsigned char> answered(parts, 0);
    std::size_t started = 1;
    std::exception_ptr failure;
    const std::function<void(std::size_t)>& hook = options_.shared_read_hook;
    if (hook) hook(0);
    try {
      for (; started < parts; ++started) {
        const std::size_t p = started;
        sqlite_store& reader = *readers_[p - 1]->store;
        readers_[p - 1]->thread.start(
            [&reader, &distinct, &bound, &answered, &found, &hook, pid, sequence, p] {
              std::lock_guard<std::mutex> lock(reader.mutex_);
              read_transaction tx(reader);
              if (hook) hook(p);
              if (reader.read_partition(pid).sequence == sequence) {
                reader.look_up(pid, distinct, bound[p], bound[p + 1], found);
                answered[p] = 1;
              }
              tx.done();
            });
      }
      look_up(pid, distinct, bound[0], bound[1], found);
    } catch (...) {
      failure = std::current_exception();
    }
    for (std::size_t p = 1; p < started; ++p) {
      try {
        readers_[p - 1]->thread.wait();
      } catch (...) {
        answered[p] = 0;  // this connection reads that part below: an error there is the one to report
      }
    }
    if (failure) std::rethrow_exception(failure);
    for (std::size_t p = 1; p < parts; ++p) {
      if (!answered[p]) look_up(pid, distinct, bound[p], bound[p + 1], found);
    }
  }

  // Opens reading connections (with their threads) until there are `wanted`, and returns how
  // many there are: none for a database that is not a file of its own (in memory, temporary),
  // and fewer when one cannot be opened (reading goes on with those there are).
  std::size_t reading_connections(std::size_t wanted) {
    if (!readers_.empty() && readers_.front()->thread.inherited()) {
      // A forked child: the threads did not survive the fork; leave them be, unjoined.
      for (auto& r : readers_) (void)r.release();
      readers_.clear();
    }
    const char* file = sqlite3_db_filename(db_, "main");
    if (file == nullptr || *file == 0) return 0;
    while (readers_.size() < wanted) {
      sqlite_options o;
      o.synchronous = options_.synchronous;
      o.cache_kib = options_.cache_kib;
      o.mmap_bytes = options_.mmap_bytes;
      o.read_only = true;
      try {
        auto r = std::make_unique<reading_connection>();
        r->store = std::make_unique<sqlite_store>(std::string(file), std::move(o));
        readers_.push_back(std::move(r));
      } catch (const std::exception&) {
        break;
      }
    }
    return readers_.size();
  }

  // The states of `ids` of partition `pid` (and their versions, when asked), position by
  // position, inside the caller's transaction; `sequence` as for `scan_ids`.
  void read_states(std::int64_t pid, const std::vector<std::string_view>& ids,
                   std::vector<std::optional<record_state>>& out, std::vector<std::uint64_t>* versions,
                   const std::uint64_t* sequence = nullptr) {
    // Sources often list records by id already: sort only when they are not, and answer in place
    // when the ids are sorted and distinct.
    const bool sorted = std::is_sorted(ids.begin(), ids.end());
    if (sorted && std::adjacent_find(ids.begin(), ids.end()) == ids.end()) {
      scan_ids(
          pid, ids,
          [&](std::size_t k, const detail::sqlite_cursor& c) {
            out[k] = state_of(c, 1);
            if (versions != nullptr) (*versions)[k] = static_cast<std::uint64_t>(c.integer(version_column));
          },
          sequence);
      return;
    }
    std::vector<std::uint32_t> order(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    if (!sorted) {
      std::sort(order.begin(), order.end(),
                [&](std::uint32_t a, std::uint32_t b) { return ids[a] < ids[b]; });
    }
    std::vector<std::string_view> distinct;
    distinct.reserve(ids.size());
    for (std::uint32_t i : order) {
      if (distinct.empty() || distinct.back() != ids[i]) distinct.push_back(ids[i]);
    }
    std::vector<std::optional<record_state>> found(distinct.size());
    std::vector<std::uint64_t> found_versions(versions != nullptr ? distinct.size() : 0, 0);
    scan_ids(
        pid, distinct,
        [&](std::size_t k, const detail::sqlite_cursor& c) {
          found[k] = state_of(c, 1);
          if (versions != nullptr) found_versions[k] = static_cast<std::uint64_t>(c.integer(version_column));
        },
        sequence);
    std::size_t d = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (i > 0 && ids[order[i]] != ids[order[i - 1]]) ++d;
      out[order[i]] = found[d];
      if (versions != nullptr) (*versions)[order[i]] = found_versions[d];
    }
  }

  // Throws `commit_conflict` naming the ids of `expect` whose stored version (0: no state) is
  // another one, inside the caller's write transaction.
  void check_expected(std::int64_t pid, std::string_view partition,
                      const std::vector<std::pair<std::string, std::uint64_t>>& expect) {
    auto id_of = [&](std::uint32_t i) { return std::string_view(expect[i].first); };
    std::vector<std::uint32_t> order(expect.size());
    for (std::size_t i = 0; i < expect.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return id_of(a) < id_of(b); });
    std::vector<std::string_view> distinct;
    distinct.reserve(order.size());
    for (std::uint32_t i : order) {
      if (distinct.empty() || distinct.back() != id_of(i)) distinct.push_back(id_of(i));
    }
    std::vector<std::uint64_t> stored(distinct.size(), 0);
    scan_ids(pid, distinct, [&](std::size_t k, const detail::sqlite_cursor& c) {
      stored[k] = static_cast<std::uint64_t>(c.integer(version_column));
    });
    std::vector<std::string> changed;
    std::size_t d = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (i > 0 && id_of(order[i]) != id_of(order[i - 1])) ++d;
      if (expect[order[i]].second != stored[d] && (changed.empty() || changed.back() != distinct[d])) {
        changed.emplace_back(distinct[d]);
      }
    }
    if (!changed.empty()) throw detail::store_conflict(store_name, partition, std::move(changed));
  }

  void clear_marks(std::int64_t pid) {
    detail::sqlite_cursor c(db_, statement(stmt::clear_marks));
    c.bind(1, pid);
    c.run();
  }

  void set_rescan(std::int64_t pid, bool active, std::optional<instant> completed) {
    detail::sqlite_cursor c(db_, statement(stmt::set_rescan));
    c.bind(1, pid);
    c.bind(2, static_cast<std::int64_t>(active ? 1 : 0));
    c.bind(3, completed);
    c.run();
  }

  void open(const std::string& path, bool read_only) {
    const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      close();
      throw error(errc::store_error, "sqlite: cannot open '" + path + "': " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
  }

  // The schema version of the open file (0: empty, no schema yet), having refused a file that is
  // not a sincehash state file: another application's, another program's database (tables but
  // not our application id) or no SQLite database at all. Reads only.
  std::int64_t inspect(const std::string& path) {
    const auto foreign = [&](const std::string& why) {
      throw error(errc::invalid_argument, "sqlite: '" + path + "' is not a sincehash state file (" + why +
                                              "); name a new file or an existing sincehash state");
    };
    std::int64_t app = 0, version = 0, objects = 0;
    try {
      app = pragma_integer("application_id");
      version = pragma_integer("user_version");
      objects = query_integer("SELECT count(*) FROM sqlite_master");
    } catch (const error&) {
      if ((sqlite3_extended_errcode(db_) & 0xFF) == SQLITE_NOTADB) foreign("not an SQLite database");
      throw;
    }
    if (app != 0 && app != detail::sqlite_application_id) {
      foreign("it belongs to another application, application_id " + std::to_string(app));
    }
    if (app == 0 && (objects != 0 || version != 0)) {
      std::string names;
      {
        sqlite3_stmt* raw = nullptr;
        int rc = sqlite3_prepare_v2(db_, "SELECT name FROM sqlite_master ORDER BY name LIMIT 4", -1, &raw,
                                    nullptr);
        if (rc != SQLITE_OK) detail::sqlite_fail(db_, rc, "reading the schema of '" + path + "'");
        {
          detail::sqlite_cursor c(db_, raw);
          for (int k = 0; c.step(); ++k)
            names += k == 3 ? ", ..." : (k == 0 ? "\"" : ", \"") + std::string(c.text(0)) + "\"";
        }
        sqlite3_finalize(raw);
      }
      foreign("another program's SQLite database" + (names.empty() ? std::string() : ": it holds " + names));
    }
    if (version > schema_version) {
      throw error(errc::store_error, "sqlite: '" + path + "' has schema version " + std::to_string(version) +
                                         ", newer than version " + std::to_string(schema_version) +
                                         " understood by this sincehash; upgrade sincehash to open it");
    }
    if (version < 0) throw error(errc::store_error, "sqlite: '" + path + "' has a negative schema version");
    return version;
  }

  void migrate(const std::string& path) {
    (void)inspect(path);  // refused before anything is written to it
    std::string mode;
    {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
      if (rc != SQLITE_OK) detail::sqlite_fail(db_, rc, "opening '" + path + "'");
      {
        detail::sqlite_cursor c(db_, raw);
        if (c.step()) mode = std::string(c.text(0));
      }
      sqlite3_finalize(raw);
    }
    if (mode != "wal" && mode != "memory") {
      throw error(errc::store_error,
                  "sqlite: '" + path + "' cannot use the WAL journal (mode is '" + mode + "')");
    }
    write_transaction tx(*this);
    const std::int64_t version = inspect(path);  // again under the lock: another process may have migrated it
    if (version == schema_version) return;
    for (auto v = static_cast<std::size_t>(version); v < static_cast<std::size_t>(schema_version); ++v) {
      detail::sqlite_exec(db_, detail::sqlite_migrations[v]);
    }
    std::string set = "PRAGMA application_id=" + std::to_string(detail::sqlite_application_id) +
                      ";PRAGMA user_version=" + std::to_string(schema_version) + ";";
    detail::sqlite_exec(db_, set.c_str());
    tx.commit();
  }

  std::int64_t pragma_integer(const char* name) { return query_integer(std::string("PRAGMA ") + name); }

  std::int64_t query_integer(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
    if (rc != SQLITE_OK) detail::sqlite_fail(db_, rc, "reading " + sql);
    // Finalized also when a step throws (a file that is not a database fails at the first step):
    // an unfinalized statement would keep the connection alive after close.
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(raw, sqlite3_finalize);
    std::int64_t v = 0;
    detail::sqlite_cursor c(db_, raw);
    if (c.step()) v = c.integer(0);
    return v;
  }

  void close() noexcept {
    for (auto& s : statements_) {
      sqlite3_finalize(s);
      s = nullptr;
    }
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  sqlite_options options_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  sqlite3_stmt* statements_[static_cast<std::size_t>(stmt::size_)] = {};
  std::unordered_map<std::string, std::int64_t> partition_cache_;
  std::unordered_map<std::string, std::uint32_t> fingerprint_cache_;
  // A connection of its own that reads part of a batch's states, on a thread of its own.
  struct reading_connection {
    std::unique_ptr<sqlite_store> store;
    detail::sqlite_side_thread thread;
  };
  std::vector<std::unique_ptr<reading_connection>> readers_;  // see `look_up_shared`
};

static_assert(is_state_store_v<sqlite_store>, "sincehash::sqlite_store must implement the store contract");

}  // namespace sincehash

#endif  // SINCEHASH_STORE_SQLITE_HPP
