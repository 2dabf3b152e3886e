#ifndef SINCEHASH_STORE_MEMORY_HPP
#define SINCEHASH_STORE_MEMORY_HPP

#include <sincehash/detail/store_batch.hpp>
#include <sincehash/detail/store_errors.hpp>
#include <sincehash/detail/store_fences.hpp>
#include <sincehash/detail/store_local_lease.hpp>
#include <sincehash/detail/store_memory_table.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sincehash {

/// Settings of a `memory_store`.
struct memory_store_options {
  /// Test only: called inside `commit` before each row write (see `fault_hook`).
  fault_hook fault_injector;
};

/// Selects the `memory_store` constructor that opens another object on an existing store's data.
struct memory_store_shared_t {
  explicit memory_store_shared_t() = default;
};
/// See `memory_store_shared_t`.
inline constexpr memory_store_shared_t memory_store_shared{};

/// A state store held in this process's memory: for tests and short-lived connectors; nothing
/// survives the last object on its data. Implements the whole contract documented in store.hpp,
/// versions, conditional commits and leases included.
///
/// Compact: about 56 bytes per record for its state (48 for the state, 8 for its version), plus
/// its share of the index (4 bytes per slot, at most 70% full) and one length byte before the
/// id's own bytes (ids under 128 bytes). Per-field digests follow the id in place (4 bytes per
/// watched path; one more byte past 30 bytes); `sealed` bytes, when any, sit in a side map.
/// `allocated_bytes` reports the total. Per-partition limits: 2^26 - 2 records, 4 GiB of ids, 65,535
/// fingerprints (a larger fingerprint id in a state is refused with `errc::invalid_argument`).
///
/// Leases (lease.hpp) are kept with the data and expire by this process's steady clock. Fences
/// belong to the object: workers of one process that should fence each other each use their own
/// object on the same data (`memory_store(other, memory_store_shared)`); workers sharing one
/// object share its fences.
///
/// Thread safety: every member function may be called concurrently, also on different objects
/// sharing data. Each partition has its own reader/writer lock: reads of a partition (snapshots
/// included) run in parallel, a commit holds its partition's lock exclusively while it checks its
/// conditions and fence and applies its rows, and calls on different partitions do not wait for
/// each other. `for_each`'s callback runs under the partition's read lock and must not call the
/// store.
class memory_store : public detail::store_fences {
 public:
  /// An empty store.
  explicit memory_store(memory_store_options options = {})
      : options_(std::move(options)), data_(std::make_shared<shared_data>()) {}
  /// Another object on the data of `other` (states, offsets, rescans, fingerprints, leases), with
  /// `other`'s options and fences of its own (none at first). The data lives as long as any
  /// object on it.
  memory_store(const memory_store& other, memory_store_shared_t)
      : options_(other.options_), data_(other.data_) {}
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  /// See store.hpp. One read lock on the partition for the whole batch.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(
      std::string_view partition, const std::vector<std::string_view>& ids) const {
    std::vector<std::optional<record_state>> out(ids.size());
    const part* p = find(partition);
    if (p == nullptr) return out;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    read_states(*p, ids, out, nullptr);
    return out;
  }

  /// See store.hpp. Everything under one read lock on the partition: costs what `get_many` does.
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) const {
    store_snapshot out = detail::store_empty_snapshot(ids.size());
    const part* p = find(partition);
    if (p == nullptr) return out;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    out.offset = p->offset;
    out.rescan_active = p->rescan_active;
    out.sequence = p->sequence;
    read_states(*p, ids, out.states, &out.versions);
    return out;
  }

  /// See store.hpp. The fence, the conditions (`expect`, skipped when `read_sequence` is the
  /// partition's sequence), the offset kind and the rescan are checked under the partition's
  /// write lock before the first write. Throws `commit_conflict` when a condition failed, and
  /// `errc::conflict` when this object fences the partition (see `acquire_lease`) and that
  /// lease expired or was granted again since.
  void commit(std::string_view partition, const commit_batch& batch) {
    detail::store_plan plan = detail::plan_commit(batch);
    for (const auto& u : batch.upserts) {
      if (!detail::memory_fits(u.second)) {
        throw error(errc::invalid_argument, "memory_store: fingerprint id " +
                                                std::to_string(u.second.fingerprint) + " exceeds 65535");
      }
    }
    std::vector<std::uint64_t> hashes(plan.ops.size());
    for (std::size_t i = 0; i < plan.ops.size(); ++i)
      hashes[i] = detail::memory_hash(detail::store_op_id(batch, plan.ops[i]));
    std::vector<std::uint64_t> mark_hashes(plan.marks.size());
    for (std::size_t i = 0; i < plan.marks.size(); ++i)
      mark_hashes[i] = detail::memory_hash(batch.rescan_seen[plan.marks[i]]);
    const std::optional<std::uint64_t> fence = fence_of(partition);

    part& p = obtain(partition);
    std::unique_lock<std::shared_mutex> lock(p.mutex);
    if (fence) detail::local_lease_check_fence(p.lease, *fence, lease_now(), store_name, partition, "commit");
    std::optional<offset_value> next_offset;
    bool move_offset = batch.offset && detail::store_offset_advances(p.offset, *batch.offset);
    if (move_offset) next_offset = *batch.offset;
    if (batch.complete_rescan && !p.rescan_active)
      throw detail::store_no_active_rescan(store_name, partition);
    if (!batch.expect.empty() && !(batch.read_sequence && *batch.read_sequence == p.sequence)) {
      check_expected(p, partition, batch.expect);
    }
    const bool writes =
        !plan.ops.empty() || (p.rescan_active && !plan.marks.empty()) || move_offset || batch.complete_rescan;
    const std::uint64_t version = p.sequence + 1;
    p.table.reserve(plan.upsert_count);
    std::vector<undo_step> undo;
    undo.reserve(plan.ops.size() + plan.marks.size());
    std::vector<std::pair<std::string, std::optional<std::string>>> side_undo;
    std::vector<std::string> fields_before;  // digests written over in place, for undo_step::before
    const std::uint8_t seen = p.rescan_active ? detail::memory_seen : 0;
    detail::store_write_steps before_write(options_.fault_injector);
    try {
      for (std::size_t i = 0; i < plan.ops.size(); ++i) {
        const detail::store_op& op = plan.ops[i];
        std::string_view id = detail::store_op_id(batch, op);
        std::uint32_t idx = p.table.find(id, hashes[i]);
        before_write();
        std::optional<std::string> new_side;
        if (op.kind == detail::store_op_kind::upsert) new_side = batch.upserts[op.index].second.sealed;
        if ((new_side && !new_side->empty()) || !p.side.empty()) {
          auto it = p.side.find(id);
          std::optional<std::string> old;
          if (it != p.side.end()) old = it->second;
          side_undo.emplace_back(std::string(id), std::move(old));
          if (new_side && !new_side->empty()) {
            if (it != p.side.end()) {
              it->second = std::move(*new_side);
            } else {
              p.side.emplace(std::string(id), std::move(*new_side));
            }
          } else if (it != p.side.end()) {
            p.side.erase(it);
          }
        }
        if (op.kind == detail::store_op_kind::upsert) {
          const record_state& state = batch.upserts[op.index].second;
          detail::memory_entry e = detail::memory_encode(state, 0, version);
          e.flags |= seen;
          if (idx != detail::memory_none) {
            undo.push_back({undo_kind::overwrite, idx, hashes[i], p.table.entry(idx)});
            std::string before;
            if (p.table.place_record(idx, e, state.fields, &before)) {
              undo.back().before = static_cast<std::uint32_t>(fields_before.size());
              fields_before.push_back(std::move(before));
            }
            p.table.entry(idx) = e;
          } else {
            idx = p.table.insert_new(id, hashes[i], e, state.fields);
            undo.push_back({undo_kind::inserted, idx, hashes[i], {}});
          }
        } else if (idx != detail::memory_none) {
          p.table.unlink(idx, hashes[i]);
          undo.push_back({undo_kind::erased, idx, hashes[i], {}});
        }
      }
      if (seen != 0) {
        for (std::size_t i = 0; i < plan.marks.size(); ++i) {
          std::uint32_t idx = p.table.find(batch.rescan_seen[plan.marks[i]], mark_hashes[i]);
          if (idx == detail::memory_none) continue;
          before_write();
          undo.push_back({undo_kind::overwrite, idx, mark_hashes[i], p.table.entry(idx)});
          p.table.entry(idx).flags |= detail::memory_seen;
        }
      }
    } catch (...) {
      for (auto it = side_undo.rbegin(); it != side_undo.rend(); ++it) {
        if (it->second) {
          p.side[it->first] = std::move(*it->second);
        } else {
          p.side.erase(it->first);
        }
      }
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        switch (it->kind) {
          case undo_kind::overwrite:
            if (it->before != detail::memory_none) {
              p.table.restore_fields(it->idx, fields_before[it->before]);
            } else if (p.table.entry(it->idx).id_ref != it->old.id_ref) {
              p.table.release_record(p.table.entry(it->idx));
            }
            p.table.entry(it->idx) = it->old;
            break;
          case undo_kind::inserted:
            p.table.unlink(it->idx, it->hash);
            p.table.free_entry(it->idx);
            break;
          case undo_kind::erased:
            p.table.relink(it->idx, it->hash);
            break;
        }
      }
      throw;
    }
    for (const undo_step& u : undo) {
      if (u.kind == undo_kind::erased) {
        p.table.free_entry(u.idx);
      } else if (u.kind == undo_kind::overwrite && p.table.entry(u.idx).id_ref != u.old.id_ref) {
        p.table.release_record(u.old);
      }
    }
    if (move_offset) p.offset.swap(next_offset);
    if (batch.complete_rescan) {
      p.rescan_active = false;
      p.last_rescan = batch.rescan_completed_at;
    }
    if (writes) p.sequence = version;
    p.table.maybe_compact();
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) const {
    const part* p = find(partition);
    if (p == nullptr) return std::nullopt;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    return p->offset;
  }

  /// See store.hpp. Fenced like `commit`.
  void reset_offset(std::string_view partition, bool forget_records) {
    const std::optional<std::uint64_t> fence = fence_of(partition);
    part& p = obtain(partition);
    std::unique_lock<std::shared_mutex> lock(p.mutex);
    if (fence) detail::local_lease_check_fence(p.lease, *fence, lease_now(), store_name, partition, "reset");
    p.offset.reset();
    if (forget_records) {
      p.table.clear();
      p.side.clear();
      p.rescan_active = false;
    }
    ++p.sequence;
  }

  /// See store.hpp. Throws `errc::store_error` beyond 65,535 fingerprints in one partition.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view partition, std::string_view text) {
    part& p = obtain(partition);
    std::lock_guard<std::mutex> lock(p.fingerprint_mutex);
    auto it = p.fingerprint_ids.find(std::string(text));
    if (it != p.fingerprint_ids.end()) return it->second;
    if (p.fingerprints.size() >= 0xFFFF) {
      throw error(errc::store_error,
                  "memory_store: more than 65535 fingerprints in partition '" + std::string(partition) + "'");
    }
    p.fingerprints.emplace_back(text);
    auto id = static_cast<std::uint32_t>(p.fingerprints.size());
    p.fingerprint_ids.emplace(std::string(text), id);
    return id;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view partition,
                                                            std::uint32_t id) const {
    const part* p = find(partition);
    if (p == nullptr) return std::nullopt;
    std::lock_guard<std::mutex> lock(p->fingerprint_mutex);
    if (id == 0 || id > p->fingerprints.size()) return std::nullopt;
    return p->fingerprints[id - 1];
  }

  /// See store.hpp. Runs under the partition's read lock.
  template <class F>
  void for_each(std::string_view partition, F&& f) const {
    const part* p = find(partition);
    if (p == nullptr) return;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    p->table.each([&](std::uint32_t idx) {
      record_state state = detail::memory_decode(p->table.entry(idx));
      state.fields = p->table.fields_of(idx);
      if (!p->side.empty()) {
        auto it = p->side.find(p->table.id_of(idx));
        if (it != p->side.end()) state.sealed = it->second;
      }
      f(p->table.id_of(idx), static_cast<const record_state&>(state));
    });
  }

  /// See store.hpp.
  std::size_t purge_expired(instant now) {
    std::size_t n = 0;
    for (part* p : all()) n += purge(*p, now);
    return n;
  }

  /// See store.hpp.
  std::size_t purge_expired(std::string_view partition, instant now) {
    part* p = find(partition);
    return p == nullptr ? 0 : purge(*p, now);
  }

  /// See store.hpp.
  [[nodiscard]] std::size_t count(std::string_view partition) const {
    const part* p = find(partition);
    if (p == nullptr) return 0;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    return p->table.size();
  }

  /// See store.hpp. A partition that only ever had a lease is not listed.
  [[nodiscard]] std::vector<std::string> partitions() const {
    std::shared_lock<std::shared_mutex> lock(data_->directory_mutex);
    std::vector<std::string> out;
    for (const auto& kv : data_->parts) {
      const part& p = *kv.second;
      std::shared_lock<std::shared_mutex> part_lock(p.mutex);
      std::lock_guard<std::mutex> fingerprint_lock(p.fingerprint_mutex);
      if (p.table.size() != 0 || p.offset || p.rescan_active || p.last_rescan || !p.fingerprints.empty()) {
        out.push_back(kv.first);
      }
    }
    return out;
  }

  /// See store.hpp. Costs one pass over the partition's records in memory. Fenced like `commit`.
  void begin_rescan(std::string_view partition) {
    const std::optional<std::uint64_t> fence = fence_of(partition);
    part& p = obtain(partition);
    std::unique_lock<std::shared_mutex> lock(p.mutex);
    if (fence) {
      detail::local_lease_check_fence(p.lease, *fence, lease_now(), store_name, partition,
                                      "beginning a rescan");
    }
    clear_marks(p);
    p.rescan_active = true;
    ++p.sequence;
  }

  /// See store.hpp. Fenced like `commit`.
  void abandon_rescan(std::string_view partition) {
    const std::optional<std::uint64_t> fence = fence_of(partition);
    part* p = fence ? &obtain(partition) : find(partition);
    if (p == nullptr) return;
    std::unique_lock<std::shared_mutex> lock(p->mutex);
    if (fence) {
      detail::local_lease_check_fence(p->lease, *fence, lease_now(), store_name, partition,
                                      "abandoning a rescan");
    }
    clear_marks(*p);
    p->rescan_active = false;
    ++p->sequence;
  }

  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view partition) const {
    const part* p = find(partition);
    if (p == nullptr) return false;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    return p->rescan_active;
  }

  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) const {
    std::vector<std::string> out;
    const part* p = find(partition);
    if (p == nullptr) return out;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    if (!p->rescan_active) return out;
    p->table.each([&](std::uint32_t idx) {
      if (!(p->table.entry(idx).flags & detail::memory_seen)) out.emplace_back(p->table.id_of(idx));
    });
    std::sort(out.begin(), out.end());
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view partition) const {
    const part* p = find(partition);
    if (p == nullptr) return std::nullopt;
    std::shared_lock<std::shared_mutex> lock(p->mutex);
    return p->last_rescan;
  }

  /// Grants `owner` the lease of `partition` for `ttl` (this process's steady clock) unless
  /// another owner holds it. A grant (also a repeated one to the same owner) carries a new fencing
  /// token, larger than every earlier one of the partition, and from then on this object fences
  /// its commits, resets and rescan starts and stops on `partition` with it (see `set_fence`).
  /// When refused, `lease` names the holder (owner, token) and `remaining` its time left.
  /// `ttl` must be at least 1 ms (else `errc::invalid_argument`).
  [[nodiscard]] lease_result acquire_lease(std::string_view partition, std::string_view owner,
                                           std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    part& p = obtain(partition);
    lease_result out;
    {
      std::unique_lock<std::shared_mutex> lock(p.mutex);
      out = detail::local_lease_acquire(p.lease, partition, owner, lease_now(), ttl);
    }
    fence_granted(partition, out.granted, out.lease.token);
    return out;
  }

  /// Extends a held lease to `ttl` from now. False (and nothing changed) when the lease expired or
  /// was granted to another owner or under another token meanwhile.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    part* p = find(lease.partition);
    if (p == nullptr) return false;
    std::unique_lock<std::shared_mutex> lock(p->mutex);
    return detail::local_lease_renew(p->lease, lease, lease_now(), ttl);
  }

  /// Gives a lease up, so another owner may acquire it at once, and stops fencing this object's
  /// commits on its partition with its token. `lease` may also be another holder's, as a refused
  /// `acquire_lease` names it (to take over from a holder known to be gone). False when it was no
  /// longer held under `lease.token` by `lease.owner` (expired, released or granted again).
  bool release_lease(const store_lease& lease) {
    bool held = false;
    if (part* p = find(lease.partition)) {
      std::unique_lock<std::shared_mutex> lock(p->mutex);
      held = detail::local_lease_release(p->lease, lease, lease_now());
    }
    clear_fence_if(lease.partition, lease.token);
    return held;
  }

  /// Bytes this store's data holds for record states (index, state blocks, id chunks with the
  /// per-field digests, and the side map of sealed bytes), all partitions.
  [[nodiscard]] std::size_t allocated_bytes() const {
    std::size_t n = 0;
    for (const part* p : all()) {
      std::shared_lock<std::shared_mutex> lock(p->mutex);
      n += p->table.allocated_bytes();
      for (const auto& kv : p->side) n += side_entry_bytes + heap_bytes(kv.first) + heap_bytes(kv.second);
    }
    return n;
  }

 private:
  static constexpr const char* store_name = "memory_store";

  enum class undo_kind : std::uint8_t { overwrite, inserted, erased };
  struct undo_step {
    undo_kind kind;
    std::uint32_t idx;
    std::uint64_t hash;
    detail::memory_entry old;
    std::uint32_t before = detail::memory_none;  // index of the digests written over in place
  };

  // What one side map entry takes besides its strings' heap bytes: the tree node (three links
  // and a colour word) and the key and value.
  static constexpr std::size_t side_entry_bytes =
      4 * sizeof(void*) + sizeof(std::pair<const std::string, std::string>);
  // The heap bytes a string holds beyond its own object (none while it fits in it).
  static std::size_t heap_bytes(const std::string& s) noexcept {
    return s.capacity() > std::string().capacity() ? s.capacity() + 1 : 0;
  }

  struct part {
    mutable std::shared_mutex mutex;
    detail::memory_table table;
    std::optional<offset_value> offset;
    bool rescan_active = false;
    std::optional<instant> last_rescan;
    std::uint64_t sequence = 0;  // the write sequence (see store.hpp); the version of the next write - 1
    detail::local_lease lease;
    mutable std::mutex fingerprint_mutex;
    std::vector<std::string> fingerprints;
    std::unordered_map<std::string, std::uint32_t> fingerprint_ids;
    std::map<std::string, std::string, std::less<>> side;  // id -> its `sealed` bytes, when not empty
  };

  // Everything objects opened on one store's data share.
  struct shared_data {
    mutable std::shared_mutex directory_mutex;
    std::map<std::string, std::unique_ptr<part>, std::less<>> parts;
  };

  static std::int64_t lease_now() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // The states (and versions, when asked) of `ids`, under a lock on `p`.
  static void read_states(const part& p, const std::vector<std::string_view>& ids,
                          std::vector<std::optional<record_state>>& states,
                          std::vector<std::uint64_t>* versions) {
    p.table.find_many(ids, [&](std::size_t i, std::uint32_t idx) {
      if (idx == detail::memory_none) return;
      const detail::memory_entry& e = p.table.entry(idx);
      states[i] = detail::memory_decode(e);
      if (detail::memory_fields_code(e) != 0) states[i]->fields = p.table.fields_of(idx);
      if (versions != nullptr) (*versions)[i] = e.version;
    });
    if (!p.side.empty()) {
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!states[i]) continue;
        auto it = p.side.find(ids[i]);
        if (it != p.side.end()) states[i]->sealed = it->second;
      }
    }
  }

  // Throws `commit_conflict` naming the ids of `expect` whose version in `p` is another one.
  static void check_expected(const part& p, std::string_view partition,
                             const std::vector<std::pair<std::string, std::uint64_t>>& expect) {
    std::vector<std::string_view> ids;
    ids.reserve(expect.size());
    for (const auto& e : expect) ids.push_back(e.first);
    std::vector<std::string> changed;
    p.table.find_many(ids, [&](std::size_t i, std::uint32_t idx) {
      const std::uint64_t now = idx == detail::memory_none ? 0 : p.table.entry(idx).version;
      if (now != expect[i].second) changed.push_back(expect[i].first);
    });
    if (changed.empty()) return;
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    throw detail::store_conflict(store_name, partition, std::move(changed));
  }

  static void clear_marks(part& p) noexcept {
    p.table.each([&](std::uint32_t idx) {
      p.table.entry(idx).flags &= static_cast<std::uint8_t>(~detail::memory_seen);
    });
  }

  static std::size_t purge(part& p, instant now) {
    std::unique_lock<std::shared_mutex> lock(p.mutex);
    const std::int64_t limit = detail::ns_of(now);
    std::vector<std::uint32_t> doomed;
    p.table.each([&](std::uint32_t idx) {
      const detail::memory_entry& e = p.table.entry(idx);
      if ((e.flags & detail::memory_has_expires) && e.expires <= limit) doomed.push_back(idx);
    });
    for (std::uint32_t idx : doomed) {
      if (!p.side.empty()) {
        auto it = p.side.find(p.table.id_of(idx));
        if (it != p.side.end()) p.side.erase(it);
      }
      p.table.unlink(idx, detail::memory_hash(p.table.id_of(idx)));
      p.table.free_entry(idx);
    }
    if (!doomed.empty()) ++p.sequence;
    p.table.maybe_compact();
    return doomed.size();
  }

  part* find(std::string_view name) const {
    std::shared_lock<std::shared_mutex> lock(data_->directory_mutex);
    auto it = data_->parts.find(name);
    return it == data_->parts.end() ? nullptr : it->second.get();
  }

  part& obtain(std::string_view name) {
    if (part* p = find(name)) return *p;
    std::unique_lock<std::shared_mutex> lock(data_->directory_mutex);
    auto it = data_->parts.find(name);
    if (it == data_->parts.end())
      it = data_->parts.emplace(std::string(name), std::make_unique<part>()).first;
    return *it->second;
  }

  std::vector<part*> all() const {
    std::shared_lock<std::shared_mutex> lock(data_->directory_mutex);
    std::vector<part*> out;
    out.reserve(data_->parts.size());
    for (const auto& kv : data_->parts) out.push_back(kv.second.get());
    return out;
  }

  memory_store_options options_;
  std::shared_ptr<shared_data> data_;
};

static_assert(is_state_store_v<memory_store>, "sincehash::memory_store must implement the store contract");

}  // namespace sincehash

#endif  // SINCEHASH_STORE_MEMORY_HPP
