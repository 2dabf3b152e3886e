#ifndef SINCEHASH_STORE_POSTGRES_HPP
#define SINCEHASH_STORE_POSTGRES_HPP

// A state store in PostgreSQL, shared by many workers (link sincehash::postgres).

#include <sincehash/detail/store_batch.hpp>
#include <sincehash/detail/store_errors.hpp>
#include <sincehash/detail/store_fences.hpp>
#include <sincehash/detail/store_postgres.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sincehash {

/// Settings of a `postgres_store`.
struct postgres_options {
  /// A libpq connection string: a URI `postgresql://user@host:port/database` or `key=value` pairs.
  std::string conninfo = "postgresql://127.0.0.1/postgres";
  /// The schema holding the store's tables (created when missing); lower-case letters, digits
  /// and `_`. Several stores can share one database under different schemas.
  std::string schema = "sincehash";
  fault_hook fault_injector;  ///< test only: see `fault_hook`
};

/// A state store in PostgreSQL (libpq): many processes and hosts may share one database.
/// Implements the whole contract documented in store.hpp, plus:
///   - A commit never replaces a stored state by one whose `updated` is older (both dated), unless
///     the stored state had expired when the new one was seen (`INSERT … ON CONFLICT … DO UPDATE
///     … WHERE`): concurrent workers leave every record at its newest copy.
///   - Per-partition leases with fencing tokens (lease.hpp): `acquire_lease`, `renew_lease`,
///     `release_lease`; commits of a fenced partition check the token in their own transaction.
///
/// The schema is versioned (table `schema_version`, `schema_version` below); an older schema is
/// migrated on open under an advisory lock (several workers may open at once), a newer one is
/// refused with `errc::store_error` naming both versions. Every statement is prepared once per
/// connection; ids, digests and offsets travel as bytes (binary format), dates as bigint
/// nanoseconds (UTC). `get_many` is one statement (`id = ANY($2)`) and `snapshot` one statement
/// reading the partition's row and the states in one snapshot of the database: exactly one
/// round trip each (`round_trips` counts them). A commit is one transaction sent as one
/// pipeline (one round trip, also when it fails; the first write to a partition by an object
/// first looks up or registers its id): `commit_check`, which locks the partition's row, checks
/// the fence, the offset kind, the rescan and the conditions (`commit_batch::expect`, skipped
/// when `read_sequence` is still the partition's sequence) and bumps the sequence, then the
/// upserts in id order, the erasures, the rescan marks, the offset (only forwards) and the
/// completion. `reset_offset`, `begin_rescan` and `abandon_rescan` run the same check (and bump)
/// before their statement, in one pipeline; a purge is one function call that locks each
/// partition's row before it erases from it, and bumps the sequence when it removed something.
///
/// Versions (schema 4): `partitions.sequence` is the write sequence; `records.version` keeps
/// the sequence of the commit that wrote the row. Rows from before schema 4 have version 1 and
/// their partitions start at sequence 1, so later writes get larger versions. The migration makes
/// the commit check of older releases refuse, so a process of an older sincehash still connected
/// fails its commits instead of writing rows without versions.
///
/// Per-field digests (schema 5): `records.fields` holds a state's `fields` ('' when none); rows
/// from before schema 5 get '' by a constant default, without a table rewrite.
///
/// Row layout (schema 6): the fixed-width columns first and `fingerprint` an integer, so a row
/// carries no alignment padding between its columns. Opening a store of schema 5 rewrites its
/// `records` table once, holding an exclusive lock on it for as long as the copy takes.
///
/// Connection: one per object. When it fails the call throws `errc::store_error` naming what was
/// running, and the next call reconnects; a commit whose connection broke after it was sent is
/// reported as possibly applied (whole: it is one transaction). Thread safety: every member
/// function may be called concurrently; one object runs one call at a time. `for_each`'s
/// callback runs under that lock and must not call the same object.
class postgres_store : public detail::store_fences {
 public:
  /// The schema version this library writes and understands.
  static constexpr int schema_version = detail::pg_schema_version;

  /// Connects, creates or migrates the schema (throws `errc::store_error` when it cannot).
  explicit postgres_store(postgres_options options) : options_(std::move(options)) {
    for (char ch : options_.schema) {
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
        throw error(errc::invalid_argument, "postgres_store: the schema name '" + options_.schema +
                                                "' may hold only lower-case letters, digits and '_'");
    }
    if (options_.schema.empty() || (options_.schema[0] >= '0' && options_.schema[0] <= '9'))
      throw error(errc::invalid_argument, "postgres_store: the schema name '" + options_.schema +
                                              "' must start with a letter or '_'");
    std::lock_guard<std::mutex> lock(mutex_);
    connect();
  }
  /// Connects to `conninfo` (a URI or key=value pairs) with the default schema.
  explicit postgres_store(std::string conninfo) : postgres_store(make_options(std::move(conninfo))) {}
  postgres_store(const postgres_store&) = delete;
  postgres_store& operator=(const postgres_store&) = delete;
  ~postgres_store() { disconnect(); }

  /// See store.hpp. One prepared statement: one round trip whatever the number of ids.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view partition,
                                                                  const std::vector<std::string_view>& ids) {
    std::vector<std::optional<record_state>> out(ids.size());
    if (ids.empty()) return out;
    detail::pg_array arr(detail::pg_oid_bytea);
    for (std::string_view id : ids) arr.add(id);
    params p;
    p.bytes(partition);
    p.own(arr.finish());
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::get_many, p, "reading states of '" + std::string(partition) + "'");
    const int n = PQntuples(r.get());
    std::unordered_map<std::string_view, std::size_t> row_of;
    row_of.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) row_of.emplace(bytes_at(r, i, 0), static_cast<std::size_t>(i));
    std::vector<std::optional<record_state>> decoded(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = row_of.find(ids[i]);
      if (it == row_of.end()) continue;
      auto& d = decoded[it->second];
      if (!d) d = state_at(r, static_cast<int>(it->second), 1);
      out[i] = d;
    }
    return out;
  }

  /// See store.hpp. One prepared statement (one round trip, one snapshot of the database): the
  /// partition's row (offset, rescan flag, sequence) and the ids' rows with their versions.
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) {
    store_snapshot out = detail::store_empty_snapshot(ids.size());
    detail::pg_array arr(detail::pg_oid_bytea);
    for (std::string_view id : ids) arr.add(id);
    params p;
    p.bytes(partition);
    p.own(arr.finish());
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::snapshot, p, "reading a snapshot of '" + std::string(partition) + "'");
    const int n = PQntuples(r.get());
    std::unordered_map<std::string_view, int> row_of;
    row_of.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      if (PQgetisnull(r.get(), i, 0)) {
        if (!PQgetisnull(r.get(), i, 4)) {
          out.offset =
              detail::store_offset("postgres_store (schema " + options_.schema + ")", int8_at(r, i, 4),
                                   std::string(bytes_at(r, i, 2)), int8_at(r, i, 3));
        }
        out.rescan_active = int8_at(r, i, 5) != 0;
        out.sequence = static_cast<std::uint64_t>(int8_at(r, i, 1));
      } else {
        row_of.emplace(bytes_at(r, i, 0), i);
      }
    }
    // Each row is decoded once; an id that appears again in `ids` gets a copy of the first.
    std::vector<std::size_t> first_at(static_cast<std::size_t>(n), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = row_of.find(ids[i]);
      if (it == row_of.end()) continue;
      std::size_t& first = first_at[static_cast<std::size_t>(it->second)];
      if (first == ids.size()) {
        first = i;
        out.states[i] = state_at(r, it->second, 2);
      } else {
        out.states[i] = out.states[first];
      }
      out.versions[i] = static_cast<std::uint64_t>(int8_at(r, it->second, 1));
    }
    return out;
  }

  /// See store.hpp. One transaction in one pipeline; see the class comment. Throws
  /// `commit_conflict` when a condition failed, `errc::conflict` when the partition is fenced
  /// (see `acquire_lease`) and its lease expired or was granted again since.
  void commit(std::string_view partition, const commit_batch& batch) {
    detail::store_plan plan = detail::plan_commit(batch);
    detail::store_write_steps before_write(options_.fault_injector);
    detail::pg_array ids(detail::pg_oid_bytea), hashes(detail::pg_oid_bytea), fps(detail::pg_oid_int8),
        updated(detail::pg_oid_int8), seen(detail::pg_oid_int8), expires(detail::pg_oid_int8),
        erased(detail::pg_oid_bytea), marks(detail::pg_oid_bytea), sealed(detail::pg_oid_bytea),
        fields(detail::pg_oid_bytea);
    std::vector<std::string_view> mark_ids;
    mark_ids.reserve(plan.upsert_count + plan.marks.size());
    std::size_t erasures = 0;
    const bool plain = std::all_of(batch.upserts.begin(), batch.upserts.end(), [](const auto& u) {
      return u.second.sealed.empty() && u.second.fields.empty();
    });
    for (const detail::store_op& op : plan.ops) {
      before_write();
      if (op.kind == detail::store_op_kind::upsert) {
        const auto& u = batch.upserts[op.index];
        ids.add(u.first);
        hashes.add(detail::digest_bytes(u.second.hash));
        fps.add_int8(detail::pg_fingerprint(u.second.fingerprint));
        updated.add_int8(detail::ns_of(u.second.updated));
        seen.add_int8(detail::ns_of(u.second.last_seen));
        expires.add_int8(detail::ns_of(u.second.expires));
        if (!plain) {
          sealed.add(u.second.sealed);
          fields.add(u.second.fields);
        }
        mark_ids.push_back(u.first);
      } else {
        erased.add(batch.erasures[op.index]);
        ++erasures;
      }
    }
    std::size_t middle = mark_ids.size();
    for (std::uint32_t m : plan.marks) {
      before_write();
      mark_ids.push_back(batch.rescan_seen[m]);
    }
    std::inplace_merge(mark_ids.begin(), mark_ids.begin() + static_cast<std::ptrdiff_t>(middle),
                       mark_ids.end());
    for (std::string_view id : mark_ids) marks.add(id);
    if (batch.offset) before_write();
    if (batch.complete_rescan) before_write();

    std::lock_guard<std::mutex> lock(mutex_);
    const std::string what = "committing to '" + std::string(partition) + "'";
    const std::int64_t pid = obtain_partition(partition);
    std::vector<std::pair<stmt, params>> calls;
    const bool writes =
        !plan.ops.empty() || !mark_ids.empty() || batch.offset.has_value() || batch.complete_rescan;
    calls.emplace_back(stmt::guard,
                       guard_params(pid, partition, batch.offset, batch.complete_rescan, writes, &batch));
    if (plan.upsert_count > 0) {
      params u;
      u.int8(pid);
      u.own(ids.finish());
      u.own(hashes.finish());
      u.own(fps.finish());
      u.own(updated.finish());
      u.own(seen.finish());
      u.own(expires.finish());
      if (!plain) {
        u.own(sealed.finish());
        u.own(fields.finish());
      }
      calls.emplace_back(plain ? stmt::upsert_plain : stmt::upsert, std::move(u));
    }
    if (erasures > 0) {
      params e;
      e.int8(pid);
      e.own(erased.finish());
      calls.emplace_back(stmt::erase, std::move(e));
    }
    if (!mark_ids.empty() && !batch.complete_rescan) {
      params m;
      m.int8(pid);
      m.own(marks.finish());
      calls.emplace_back(stmt::mark, std::move(m));
    }
    if (batch.offset) {
      params o;
      o.int8(pid);
      o.own(detail::pg_int2(static_cast<std::int16_t>(batch.offset->kind)));
      o.bytes(batch.offset->text);
      o.int8(batch.offset->number);
      calls.emplace_back(stmt::set_offset, std::move(o));
    }
    if (batch.complete_rescan) {
      params c;
      c.int8(pid);
      c.int8(detail::ns_of(batch.rescan_completed_at));
      calls.emplace_back(stmt::complete_rescan, std::move(c));
    }
    pipeline_error failure = transaction(calls, what);
    if (failure.sqlstate.empty()) return;
    check_fenced(failure, partition, "commit");
    if (failure.sqlstate == "SH004") {
      throw detail::store_conflict(store_name, partition, conflict_ids(failure.detail));
    }
    if (failure.sqlstate == "SH002") {
      offset_value stored;
      stored.kind = static_cast<offset_kind>(failure.message.empty() ? 0 : failure.message[0] - '0');
      (void)compare_offsets(*batch.offset, stored);  // throws, naming both kinds
    }
    if (failure.sqlstate == "SH003") throw detail::store_no_active_rescan(store_name, partition);
    if (failure.sqlstate == "40001" || failure.sqlstate == "40P01" || failure.sqlstate == "55P03") {
      throw error(errc::conflict, "postgres_store: " + what + ": " + failure.message + " (SQLSTATE " +
                                      failure.sqlstate + "); nothing was written");
    }
    throw error(errc::store_error, "postgres_store: " + what + ": " + failure.message + " (SQLSTATE " +
                                       failure.sqlstate + "); nothing was written");
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::get_offset, p, "reading the offset of '" + std::string(partition) + "'");
    if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return std::nullopt;
    return offset_at(r, 0, 0);
  }

  /// See store.hpp. One transaction in one pipeline (the commit check, then the reset).
  void reset_offset(std::string_view partition, bool forget_records) {
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(partition));
    p.boolean(forget_records);
    fenced(stmt::reset, std::move(p), partition, "reset");
  }

  /// See store.hpp. One statement, written immediately; ids are cached per object.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view partition, std::string_view text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string cache_key =
        std::to_string(partition.size()) + ":" + std::string(partition) + std::string(text);
    auto cached = fingerprint_cache_.find(cache_key);
    if (cached != fingerprint_cache_.end()) return cached->second;
    params p;
    p.int8(obtain_partition(partition));
    p.bytes(text);
    result r = exec(stmt::intern, p, "interning a fingerprint of '" + std::string(partition) + "'");
    if (PQntuples(r.get()) != 1 || PQgetisnull(r.get(), 0, 0))
      fail("interning a fingerprint: no id returned");
    const std::int64_t id = int4_at(r, 0, 0);
    if (id <= 0) fail("interning a fingerprint: id out of range");
    auto out = static_cast<std::uint32_t>(id);
    fingerprint_cache_.emplace(std::move(cache_key), out);
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view partition, std::uint32_t id) {
    if (id > 0x7FFFFFFFu) return std::nullopt;
    params p;
    p.bytes(partition);
    p.int8(static_cast<std::int64_t>(id));
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::fingerprint_text, p, "reading a fingerprint of '" + std::string(partition) + "'");
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return std::string(bytes_at(r, 0, 0));
  }

  /// See store.hpp. One statement (the whole partition in one result); in id order.
  template <class F>
  void for_each(std::string_view partition, F&& f) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::all_records, p, "listing the states of '" + std::string(partition) + "'");
    const int n = PQntuples(r.get());
    for (int i = 0; i < n; ++i) {
      const record_state s = state_at(r, i, 1);
      f(bytes_at(r, i, 0), s);
    }
  }

  /// See store.hpp. One function call: each partition with expired states in turn, its row locked.
  std::size_t purge_expired(instant now) {
    params p;
    p.int8(detail::ns_of(now));
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::purge_all, p, "purging expired states");
    return static_cast<std::size_t>(int8_at(r, 0, 0));
  }

  /// See store.hpp. One function call, the partition's row locked.
  std::size_t purge_expired(std::string_view partition, instant now) {
    params p;
    p.bytes(partition);
    p.int8(detail::ns_of(now));
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::purge_one, p, "purging expired states of '" + std::string(partition) + "'");
    return static_cast<std::size_t>(int8_at(r, 0, 0));
  }

  /// See store.hpp.
  [[nodiscard]] std::size_t count(std::string_view partition) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::count, p, "counting the states of '" + std::string(partition) + "'");
    return static_cast<std::size_t>(int8_at(r, 0, 0));
  }

  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> partitions() {
    params p;
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::partitions, p, "listing the partitions");
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(bytes_at(r, i, 0));
    return out;
  }

  /// See store.hpp. One transaction in one pipeline (the commit check, then the change).
  void begin_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(partition));
    p.boolean(true);
    fenced(stmt::set_rescan, std::move(p), partition, "beginning a rescan");
  }

  /// See store.hpp. One transaction in one pipeline (the commit check, then the change).
  void abandon_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(partition));
    p.boolean(false);
    fenced(stmt::set_rescan, std::move(p), partition, "abandoning a rescan");
  }

  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view partition) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::get_rescan, p, "reading the rescan of '" + std::string(partition) + "'");
    return PQntuples(r.get()) == 1 && PQgetvalue(r.get(), 0, 0)[0] != 0;
  }

  /// See store.hpp. One statement; sorted by the server (bytea order is byte-wise).
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r =
        exec(stmt::unseen, p, "listing the ids a rescan of '" + std::string(partition) + "' did not see");
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(bytes_at(r, i, 0));
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view partition) {
    params p;
    p.bytes(partition);
    std::lock_guard<std::mutex> lock(mutex_);
    result r = exec(stmt::get_last_rescan, p, "reading the last rescan of '" + std::string(partition) + "'");
    if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return std::nullopt;
    return detail::instant_of(int8_at(r, 0, 0));
  }

  /// Grants `owner` the lease of `partition` for `ttl` (server clock) unless another owner holds
  /// it. A grant (also a repeated one to the same owner) carries a new, larger fencing token, and
  /// from then on this object fences its commits, resets and rescan starts and stops on
  /// `partition` with it (see `set_fence`).
  /// `ttl` must be at least 1 ms.
  [[nodiscard]] lease_result acquire_lease(std::string_view partition, std::string_view owner,
                                           std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(partition));
    p.text(owner);
    p.int8(static_cast<std::int64_t>(ttl.count()));
    result r = exec(stmt::acquire, p, "acquiring the lease of '" + std::string(partition) + "'");
    if (PQntuples(r.get()) != 1) fail("acquiring the lease of '" + std::string(partition) + "': no answer");
    lease_result out;
    out.granted = PQgetvalue(r.get(), 0, 0)[0] != 0;
    out.lease.partition = std::string(partition);
    out.lease.token = static_cast<std::uint64_t>(int8_at(r, 0, 1));
    out.lease.owner = PQgetisnull(r.get(), 0, 2) ? std::string() : std::string(bytes_at(r, 0, 2));
    out.remaining = std::chrono::milliseconds(PQgetisnull(r.get(), 0, 3) ? 0 : int8_at(r, 0, 3));
    fence_granted(partition, out.granted, out.lease.token);
    return out;
  }

  /// Extends a held lease to `ttl` from now (server clock). False (and nothing changed) when the
  /// lease expired or was granted to another owner or under another token meanwhile.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(lease.partition));
    p.text(lease.owner);
    p.int8(static_cast<std::int64_t>(lease.token));
    p.int8(static_cast<std::int64_t>(ttl.count()));
    result r = exec(stmt::renew, p, "renewing the lease of '" + lease.partition + "'");
    return affected(r) == 1;
  }

  /// Gives a held lease up, so another owner may acquire it at once, and stops fencing this
  /// object's commits on its partition. False when it was no longer held under `lease.token`.
  bool release_lease(const store_lease& lease) {
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    p.int8(obtain_partition(lease.partition));
    p.text(lease.owner);
    p.int8(static_cast<std::int64_t>(lease.token));
    result r = exec(stmt::release, p, "releasing the lease of '" + lease.partition + "'");
    clear_fence_if(lease.partition, lease.token);
    return PQntuples(r.get()) == 1 && PQgetvalue(r.get(), 0, 0)[0] != 0;
  }

  /// How many round trips to the server this object made (a pipeline counts once).
  [[nodiscard]] std::uint64_t round_trips() const noexcept { return round_trips_.load(); }

  /// The schema version stored in the database (after the migrations run on open).
  [[nodiscard]] int stored_schema_version() {
    std::lock_guard<std::mutex> lock(mutex_);
    params p;
    result r = exec(stmt::get_version, p, "reading the schema version");
    return PQntuples(r.get()) == 0 ? 0 : static_cast<int>(int4_at(r, 0, 0));
  }

 private:
  static constexpr const char* store_name = "postgres_store";

  enum class stmt : std::size_t {
    find_partition,
    insert_partition,
    get_many,
    guard,
    upsert,
    upsert_plain,
    erase,
    mark,
    set_offset,
    complete_rescan,
    get_offset,
    reset,
    intern,
    fingerprint_text,
    all_records,
    purge_all,
    purge_one,
    count,
    partitions,
    set_rescan,
    get_rescan,
    unseen,
    get_last_rescan,
    acquire,
    renew,
    release,
    get_version,
    snapshot,
    size_
  };

  static std::string sql_of(stmt s) {
    switch (s) {
      case stmt::find_partition:
        return "SELECT id FROM partitions WHERE name = $1::bytea";
      case stmt::insert_partition:
        return "INSERT INTO partitions(name) VALUES($1::bytea) ON CONFLICT (name) DO NOTHING";
      case stmt::get_many:
        return "SELECT r.id, r.hash, r.fingerprint::bigint, r.updated, r.last_seen, r.expires, r.sealed,"
               " r.fields"
               " FROM records r JOIN partitions p ON p.id = r.partition WHERE p.name = $1::bytea"
               " AND r.id = ANY($2::bytea[])";
      case stmt::guard:
        return "SELECT commit_check($1::bigint, $2::bigint, $3::smallint, $4::boolean, $5::boolean,"
               " $6::bytea[], $7::bigint[], $8::bigint)";
      case stmt::upsert:
      case stmt::upsert_plain: {
        // upsert_plain is for a batch whose states carry no sealed bytes and no per-field digests
        // (the usual case): two arrays of empty values fewer to send and to unnest.
        const bool plain = s == stmt::upsert_plain;
        return std::string(
                   "INSERT INTO records AS r(partition, id, hash, fingerprint, updated, last_seen, expires,"
                   " sealed, fields, version) SELECT $1::bigint, u.*, ") +
               (plain ? "''::bytea, ''::bytea, " : "") +
               "s.sequence FROM unnest($2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[],"
               " $7::bigint[]" +
               (plain ? "" : ", $8::bytea[], $9::bytea[]") +
               ") AS u, (SELECT sequence FROM partitions WHERE id = $1::bigint) AS s"
               " ON CONFLICT (partition, id) DO UPDATE SET hash = EXCLUDED.hash,"
               " fingerprint = EXCLUDED.fingerprint, updated = EXCLUDED.updated,"
               " last_seen = EXCLUDED.last_seen, expires = EXCLUDED.expires, sealed = EXCLUDED.sealed,"
               " fields = EXCLUDED.fields, version = EXCLUDED.version"
               " WHERE r.updated IS NULL OR EXCLUDED.updated IS NULL OR EXCLUDED.updated >= r.updated"
               " OR r.expires <= EXCLUDED.last_seen";
      }
      case stmt::erase:
        return "DELETE FROM records WHERE partition = $1::bigint AND id = ANY($2::bytea[])";
      case stmt::mark:
        return "INSERT INTO rescan_seen(partition, id) SELECT $1::bigint, unnest($2::bytea[])"
               " FROM partitions WHERE id = $1::bigint AND rescan_active ON CONFLICT DO NOTHING";
      case stmt::set_offset:
        return "UPDATE partitions SET offset_kind = $2::smallint, offset_text = $3::bytea,"
               " offset_number = $4::bigint WHERE id = $1::bigint AND (offset_kind IS NULL OR"
               " CASE WHEN $2::smallint = 2 THEN offset_text < $3::bytea ELSE offset_number < $4::bigint "
               "END)";
      case stmt::complete_rescan:
        return "WITH d AS (DELETE FROM rescan_seen WHERE partition = $1::bigint)"
               " UPDATE partitions SET rescan_active = false, last_rescan = $2::bigint WHERE id = $1::bigint";
      case stmt::get_offset:
        return "SELECT offset_kind, offset_text, offset_number FROM partitions WHERE name = $1::bytea";
      case stmt::reset:
        return "WITH r AS (DELETE FROM records WHERE $2::boolean AND partition = $1::bigint),"
               " s AS (DELETE FROM rescan_seen WHERE $2::boolean AND partition = $1::bigint)"
               " UPDATE partitions SET offset_kind = NULL, offset_text = NULL, offset_number = NULL,"
               " rescan_active = rescan_active AND NOT $2::boolean WHERE id = $1::bigint";
      case stmt::intern:
        return "SELECT intern_fingerprint($1::bigint, $2::bytea)";
      case stmt::fingerprint_text:
        return "SELECT f.text FROM fingerprints f JOIN partitions p ON p.id = f.partition"
               " WHERE p.name = $1::bytea AND f.id = $2::bigint";
      case stmt::all_records:
        return "SELECT r.id, r.hash, r.fingerprint::bigint, r.updated, r.last_seen, r.expires, r.sealed,"
               " r.fields"
               " FROM records r JOIN partitions p ON p.id = r.partition WHERE p.name = $1::bytea"
               " ORDER BY r.id";
      case stmt::purge_all:
        return "SELECT purge_all($1::bigint)";
      case stmt::purge_one:
        return "SELECT purge_partition($1::bytea, $2::bigint)";
      case stmt::count:
        return "SELECT count(*) FROM records r JOIN partitions p ON p.id = r.partition WHERE p.name = "
               "$1::bytea";
      case stmt::partitions:
        return "SELECT name FROM partitions p WHERE offset_kind IS NOT NULL OR rescan_active"
               " OR last_rescan IS NOT NULL OR EXISTS(SELECT 1 FROM records r WHERE r.partition = p.id)"
               " OR EXISTS(SELECT 1 FROM fingerprints f WHERE f.partition = p.id)"
               " OR EXISTS(SELECT 1 FROM rescan_seen s WHERE s.partition = p.id) ORDER BY name";
      case stmt::set_rescan:
        return "WITH d AS (DELETE FROM rescan_seen WHERE partition = $1::bigint)"
               " UPDATE partitions SET rescan_active = $2::boolean WHERE id = $1::bigint";
      case stmt::get_rescan:
        return "SELECT rescan_active FROM partitions WHERE name = $1::bytea";
      case stmt::unseen:
        return "SELECT r.id FROM records r JOIN partitions p ON p.id = r.partition"
               " WHERE p.name = $1::bytea AND p.rescan_active AND NOT EXISTS("
               "SELECT 1 FROM rescan_seen s WHERE s.partition = r.partition AND s.id = r.id) ORDER BY r.id";
      case stmt::get_last_rescan:
        return "SELECT last_rescan FROM partitions WHERE name = $1::bytea";
      case stmt::acquire:
        return "WITH g AS (UPDATE partitions SET lease_owner = $2::text, lease_token = lease_token + 1,"
               " lease_expires = clock_timestamp() + $3::bigint * interval '1 millisecond'"
               " WHERE id = $1::bigint AND (lease_owner IS NULL OR lease_owner = $2::text"
               " OR lease_expires <= clock_timestamp()) RETURNING lease_token)"
               " SELECT true, (SELECT lease_token FROM g), $2::text, $3::bigint WHERE EXISTS(SELECT 1 FROM g)"
               " UNION ALL SELECT false, lease_token, lease_owner, greatest(0, (extract(epoch FROM"
               " lease_expires - clock_timestamp()) * 1000)::bigint)"
               " FROM partitions WHERE id = $1::bigint AND NOT EXISTS(SELECT 1 FROM g)";
      case stmt::renew:
        return "UPDATE partitions SET lease_expires = clock_timestamp() + $4::bigint * interval '1 "
               "millisecond'"
               " WHERE id = $1::bigint AND lease_owner = $2::text AND lease_token = $3::bigint"
               " AND lease_expires > clock_timestamp()";
      case stmt::release:
        return "WITH old AS (SELECT lease_expires > clock_timestamp() AS held FROM partitions"
               " WHERE id = $1::bigint AND lease_owner = $2::text AND lease_token = $3::bigint FOR UPDATE)"
               " UPDATE partitions SET lease_owner = NULL, lease_expires = NULL FROM old"
               " WHERE id = $1::bigint RETURNING old.held";
      case stmt::get_version:
        return "SELECT version FROM schema_version";
      case stmt::snapshot:
        // One statement, so one snapshot of the database, of nine columns: one row per stored
        // state among the ids (id, version, then the state as `state_at` reads it) and the
        // partition's row, whose id is NULL and whose other columns carry, in this order, its
        // sequence, offset_text, offset_number, offset_kind and rescan_active (0 or 1). Record
        // rows carry no empty partition columns: fewer fields to send and to decode per state.
        return "WITH p AS (SELECT id, offset_kind, offset_text, offset_number, rescan_active, sequence"
               " FROM partitions WHERE name = $1::bytea)"
               " SELECT NULL::bytea, p.sequence, p.offset_text, p.offset_number, p.offset_kind::bigint,"
               " p.rescan_active::integer::bigint, NULL::bigint, NULL::bytea, NULL::bytea FROM p UNION ALL"
               " SELECT r.id, r.version, r.hash, r.fingerprint::bigint, r.updated, r.last_seen, r.expires,"
               " r.sealed, r.fields FROM records r JOIN p ON r.partition = p.id WHERE r.id = "
               "ANY($2::bytea[])";
      case stmt::size_:
        break;
    }
    return "";
  }

  struct result_free {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  using result = std::unique_ptr<PGresult, result_free>;

  // The parameters of one statement, all in binary format.
  class params {
   public:
    params() = default;
    params(const params&) = delete;
    params& operator=(const params&) = delete;
    params(params&&) noexcept = default;
    params& operator=(params&&) noexcept = default;
    void bytes(std::string_view v) {
      values_.push_back(v.data() != nullptr ? v.data() : "");
      lengths_.push_back(static_cast<int>(v.size()));
    }
    void own(std::string s) {
      owned_->push_back(std::move(s));
      bytes(owned_->back());
    }
    void int8(std::int64_t v) { own(detail::pg_int8(v)); }
    void boolean(bool v) { own(std::string(1, v ? '\1' : '\0')); }
    void text(std::string_view v) { bytes(v); }
    void null() {
      values_.push_back(nullptr);
      lengths_.push_back(0);
    }
    [[nodiscard]] int size() const noexcept { return static_cast<int>(values_.size()); }
    [[nodiscard]] const char* const* values() const noexcept { return values_.data(); }
    [[nodiscard]] const int* lengths() const noexcept { return lengths_.data(); }
    [[nodiscard]] const int* formats() {
      formats_.assign(values_.size(), 1);
      return formats_.data();
    }

   private:
    std::vector<const char*> values_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    std::unique_ptr<std::deque<std::string>> owned_ = std::make_unique<std::deque<std::string>>();
  };

  struct pipeline_error {
    std::string sqlstate;  // empty: no error
    std::string message;
    std::string detail;
  };

  static postgres_options make_options(std::string conninfo) {
    postgres_options o;
    o.conninfo = std::move(conninfo);
    return o;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw error(errc::store_error, "postgres_store (schema " + options_.schema + "): " + what);
  }

  static std::string_view bytes_at(const result& r, int row, int col) {
    return std::string_view(PQgetvalue(r.get(), row, col),
                            static_cast<std::size_t>(PQgetlength(r.get(), row, col)));
  }
  static std::int64_t int8_at(const result& r, int row, int col) {
    return PQgetlength(r.get(), row, col) == 8 ? detail::pg_get64(PQgetvalue(r.get(), row, col)) : 0;
  }
  static std::int64_t int4_at(const result& r, int row, int col) {
    if (PQgetlength(r.get(), row, col) != 4) return 0;
    const char* p = PQgetvalue(r.get(), row, col);
    std::uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u = (u << 8) | static_cast<unsigned char>(p[k]);
    return static_cast<std::int32_t>(u);
  }
  static int int2_at(const result& r, int row, int col) {
    if (PQgetlength(r.get(), row, col) != 2) return -1;
    const char* p = PQgetvalue(r.get(), row, col);
    return static_cast<std::int16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                     static_cast<unsigned char>(p[1]));
  }
  static std::optional<instant> opt_instant_at(const result& r, int row, int col) {
    if (PQgetisnull(r.get(), row, col)) return std::nullopt;
    return detail::instant_of(int8_at(r, row, col));
  }
  // The offset in columns first (kind), first + 1 (text) and first + 2 (number).
  offset_value offset_at(const result& r, int row, int first) const {
    return detail::store_offset("postgres_store (schema " + options_.schema + ")", int2_at(r, row, first),
                                std::string(bytes_at(r, row, first + 1)), int8_at(r, row, first + 2));
  }
  static record_state state_at(const result& r, int row, int first) {
    record_state s;
    s.hash = detail::read_digest(bytes_at(r, row, first));
    s.fingerprint = static_cast<std::uint32_t>(int8_at(r, row, first + 1));
    s.updated = opt_instant_at(r, row, first + 2);
    s.last_seen = detail::instant_of(int8_at(r, row, first + 3));
    s.expires = opt_instant_at(r, row, first + 4);
    const std::string_view sealed = bytes_at(r, row, first + 5), fields = bytes_at(r, row, first + 6);
    if (!sealed.empty()) s.sealed.assign(sealed.data(), sealed.size());
    if (!fields.empty()) s.fields.assign(fields.data(), fields.size());
    return s;
  }
  static std::size_t affected(const result& r) {
    const char* n = PQcmdTuples(r.get());
    return n == nullptr || *n == '\0' ? 0 : static_cast<std::size_t>(std::strtoull(n, nullptr, 10));
  }

  static std::string error_text(const PGresult* r, PGconn* conn) {
    const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string s = primary != nullptr ? primary : (conn != nullptr ? PQerrorMessage(conn) : "unknown error");
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  [[noreturn]] void lost(const std::string& what, bool in_doubt) {
    std::string reason = conn_ != nullptr ? PQerrorMessage(conn_) : "no connection";
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    disconnect();
    throw detail::store_connection_lost(store_name, what, reason, in_doubt);
  }

  // Runs one prepared statement (connecting first when needed): one round trip.
  result exec(stmt s, params& p, const std::string& what) {
    ensure();
    ++round_trips_;
    result r(PQexecPrepared(conn_, name_of(s).c_str(), p.size(), p.values(), p.lengths(), p.formats(), 1));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    if (PQstatus(conn_) == CONNECTION_BAD) lost(what, false);
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string code = state != nullptr ? state : "";
    errc e = (code == "40001" || code == "40P01" || code == "55P03") ? errc::conflict : errc::store_error;
    throw error(e, "postgres_store: " + what + ": " + error_text(r.get(), conn_) +
                       (code.empty() ? std::string() : " (SQLSTATE " + code + ")"));
  }

  // The calls as one pipeline ending in one sync: one round trip, one transaction (the implicit
  // transaction of a pipeline, committed at the sync; a failing statement rolls it back and the
  // server skips the rest, so a failure costs no further round trip either). The first failing
  // statement's SQLSTATE, message and detail; empty when all succeeded.
  pipeline_error transaction(std::vector<std::pair<stmt, params>>& calls, const std::string& what) {
    ensure();
    if (PQenterPipelineMode(conn_) != 1) fail(what + ": cannot enter pipeline mode");
    bool sent = true;
    for (auto& c : calls) {
      if (!sent) break;
      sent = PQsendQueryPrepared(conn_, name_of(c.first).c_str(), c.second.size(), c.second.values(),
                                 c.second.lengths(), c.second.formats(), 1) == 1;
    }
    sent = sent && PQpipelineSync(conn_) == 1;
    if (!sent) lost(what, false);
    ++round_trips_;
    pipeline_error failure;
    const std::size_t queries = calls.size();
    for (std::size_t q = 0; q < queries; ++q) {
      bool any = false;
      while (PGresult* raw = PQgetResult(conn_)) {
        any = true;
        result r(raw);
        const ExecStatusType st = PQresultStatus(raw);
        if (st == PGRES_FATAL_ERROR && failure.sqlstate.empty()) {
          const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
          failure.sqlstate = state != nullptr ? state : "XX000";
          failure.message = error_text(raw, conn_);
          const char* detail = PQresultErrorField(raw, PG_DIAG_MESSAGE_DETAIL);
          if (detail != nullptr) failure.detail = detail;
        }
      }
      if (!any || PQstatus(conn_) == CONNECTION_BAD) lost(what, q + 1 == queries);
    }
    result sync(PQgetResult(conn_));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) lost(what, true);
    if (PQexitPipelineMode(conn_) != 1) lost(what, true);
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      result rb(PQexec(conn_, "ROLLBACK"));
      if (PQstatus(conn_) == CONNECTION_BAD) lost(what, false);
    }
    if (failure.sqlstate.empty() && PQstatus(conn_) == CONNECTION_BAD) lost(what, true);
    return failure;
  }

  // The parameters of `commit_check`: the partition's row is locked, the fence, the offset
  // kind, the rescan and the conditions checked, and the sequence bumped when `writes`.
  params guard_params(std::int64_t pid, std::string_view partition, const std::optional<offset_value>& offset,
                      bool complete, bool writes, const commit_batch* conditions = nullptr) {
    params g;
    g.int8(pid);
    if (const std::optional<std::uint64_t> fence = fence_of(partition)) {
      g.int8(static_cast<std::int64_t>(*fence));
    } else {
      g.null();
    }
    if (offset) {
      g.own(detail::pg_int2(static_cast<std::int16_t>(offset->kind)));
    } else {
      g.null();
    }
    g.boolean(complete);
    g.boolean(writes);
    detail::pg_array ids(detail::pg_oid_bytea), versions(detail::pg_oid_int8);
    if (conditions != nullptr) {
      for (const auto& x : conditions->expect) {
        ids.add(x.first);
        versions.add_int8(static_cast<std::int64_t>(x.second));
      }
    }
    g.own(ids.finish());
    g.own(versions.finish());
    if (conditions != nullptr && conditions->read_sequence) {
      g.int8(static_cast<std::int64_t>(*conditions->read_sequence));
    } else {
      g.null();
    }
    return g;
  }

  // The ids named by a failed condition check (hexadecimal, comma-separated): sorted, distinct.
  static std::vector<std::string> conflict_ids(std::string_view detail) {
    std::vector<std::string> out;
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    std::size_t at = 0;
    while (at <= detail.size()) {
      std::size_t end = detail.find(',', at);
      if (end == std::string_view::npos) end = detail.size();
      std::string_view hex = detail.substr(at, end - at);
      std::string id;
      id.reserve(hex.size() / 2);
      for (std::size_t k = 0; k + 1 < hex.size(); k += 2) {
        const int hi = nibble(hex[k]);
        const int lo = nibble(hex[k + 1]);
        if (hi < 0 || lo < 0) break;
        id.push_back(static_cast<char>(hi * 16 + lo));
      }
      out.push_back(std::move(id));
      at = end + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  static void check_fenced(const pipeline_error& failure, std::string_view partition, const char* what) {
    if (failure.sqlstate != "SH001") return;
    throw detail::store_fence_refused(store_name, what, partition, failure.message);
  }

  // Runs a write of `partition` (its id is the first parameter) in one transaction, sent as one
  // pipeline: `commit_check` first (the partition's row locked, the fence checked, the sequence
  // bumped), then the statement.
  void fenced(stmt s, params p, std::string_view partition, const char* verb) {
    const std::string what = std::string(verb) + " of '" + std::string(partition) + "'";
    std::vector<std::pair<stmt, params>> calls;
    calls.emplace_back(stmt::guard,
                       guard_params(obtain_partition(partition), partition, std::nullopt, false, true));
    calls.emplace_back(s, std::move(p));
    pipeline_error failure = transaction(calls, what);
    if (failure.sqlstate.empty()) return;
    check_fenced(failure, partition, verb);
    throw error(errc::store_error, "postgres_store: " + what + ": " + failure.message + " (SQLSTATE " +
                                       failure.sqlstate + "); nothing was written");
  }

  std::string name_of(stmt s) const { return "sincehash_" + std::to_string(static_cast<std::size_t>(s)); }

  std::int64_t obtain_partition(std::string_view name) {
    auto it = partition_cache_.find(name);
    if (it != partition_cache_.end()) return it->second;
    for (int attempt = 0; attempt < 2; ++attempt) {
      params p;
      p.bytes(name);
      result r = exec(attempt == 0 ? stmt::find_partition : stmt::insert_partition, p,
                      "registering the partition '" + std::string(name) + "'");
      if (attempt == 0 && PQntuples(r.get()) == 1) {
        std::int64_t id = int8_at(r, 0, 0);
        partition_cache_.emplace(std::string(name), id);
        return id;
      }
    }
    params p;
    p.bytes(name);
    result r = exec(stmt::find_partition, p, "registering the partition '" + std::string(name) + "'");
    if (PQntuples(r.get()) != 1) fail("cannot register the partition '" + std::string(name) + "'");
    std::int64_t id = int8_at(r, 0, 0);
    partition_cache_.emplace(std::string(name), id);
    return id;
  }

  void ensure() {
    if (conn_ == nullptr) connect();
  }

  void simple(const std::string& sql, const std::string& what) {
    result r(PQexec(conn_, sql.c_str()));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    if (PQstatus(conn_) == CONNECTION_BAD) lost(what, false);
    std::string text = error_text(r.get(), conn_);
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) result rb(PQexec(conn_, "ROLLBACK"));
    fail(what + ": " + text);
  }

  void connect() {
    PGconn* c = PQconnectdb(options_.conninfo.c_str());
    if (c == nullptr) throw error(errc::store_error, "postgres_store: cannot allocate a connection");
    if (PQstatus(c) != CONNECTION_OK) {
      std::string reason = PQerrorMessage(c);
      while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
      PQfinish(c);
      throw error(errc::store_error, "postgres_store: cannot connect: " + reason);
    }
    conn_ = c;
    try {
      migrate();
      simple("SET search_path TO \"" + options_.schema + "\"", "setting the search path");
      // Every statement has an index path (by partition and id, or the expiry index). One plan
      // per connection, made to use it: a plan cached while the tables were small would keep
      // scanning them whole once they have grown, and planning each execution anew costs more
      // than the read (the planner weighs every element of an `= ANY` array).
      simple("SET plan_cache_mode TO force_generic_plan", "setting the plan cache mode");
      simple("SET enable_seqscan TO off", "setting the planner's options");
      for (std::size_t i = 0; i < static_cast<std::size_t>(stmt::size_); ++i) {
        result r(PQprepare(conn_, name_of(static_cast<stmt>(i)).c_str(), sql_of(static_cast<stmt>(i)).c_str(),
                           0, nullptr));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
          if (PQstatus(conn_) == CONNECTION_BAD) lost("preparing the statements", false);
          fail("preparing " + sql_of(static_cast<stmt>(i)).substr(0, 60) + ": " + error_text(r.get(), conn_));
        }
      }
    } catch (...) {
      disconnect();
      throw;
    }
  }

  void migrate() {
    const std::string q = "\"" + options_.schema + "\"";
    simple("SET client_min_messages TO warning", "opening the store");
    simple("BEGIN", "migrating the schema");
    simple("SELECT pg_advisory_xact_lock(hashtext('sincehash:' || '" + options_.schema + "'))",
           "locking the schema");
    simple("CREATE SCHEMA IF NOT EXISTS " + q, "creating the schema " + options_.schema);
    simple("SET LOCAL search_path TO " + q, "migrating the schema");
    simple("CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL)", "migrating the schema");
    result r(PQexec(conn_, "SELECT version FROM schema_version"));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      fail("reading the schema version: " + error_text(r.get(), conn_));
    int version = 0;
    const bool has_row = PQntuples(r.get()) > 0;
    if (has_row) version = std::atoi(PQgetvalue(r.get(), 0, 0));
    if (version > schema_version) {
      simple("ROLLBACK", "migrating the schema");
      fail("the schema has version " + std::to_string(version) + ", newer than version " +
           std::to_string(schema_version) + " understood by this sincehash; upgrade sincehash to open it");
    }
    for (int v = version; v < schema_version; ++v) {
      simple(detail::pg_migrations[v],
             "migrating the schema from version " + std::to_string(v) + " to " + std::to_string(v + 1));
    }
    if (!has_row) {
      simple("INSERT INTO schema_version VALUES(" + std::to_string(schema_version) + ")",
             "migrating the schema");
    } else if (version != schema_version) {
      simple("UPDATE schema_version SET version = " + std::to_string(schema_version), "migrating the schema");
    }
    simple("COMMIT", "migrating the schema");
  }

  void disconnect() noexcept {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  postgres_options options_;
  std::mutex mutex_;
  PGconn* conn_ = nullptr;
  std::atomic<std::uint64_t> round_trips_{0};
  std::map<std::string, std::int64_t, std::less<>> partition_cache_;
  std::map<std::string, std::uint32_t, std::less<>> fingerprint_cache_;
};

static_assert(is_state_store_v<postgres_store>,
              "sincehash::postgres_store must implement the store contract");

}  // namespace sincehash

#endif  // SINCEHASH_STORE_POSTGRES_HPP
