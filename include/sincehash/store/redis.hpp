#ifndef SINCEHASH_STORE_REDIS_HPP
#define SINCEHASH_STORE_REDIS_HPP

// A state store in Redis, shared by many workers (link sincehash::redis).

#include <sincehash/detail/store_batch.hpp>
#include <sincehash/detail/store_errors.hpp>
#include <sincehash/detail/store_fences.hpp>
#include <sincehash/detail/store_redis.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sincehash {

/// Settings of a `redis_store`.
struct redis_options {
  std::string host = "127.0.0.1";  ///< server host name or address
  int port = 6379;                 ///< server TCP port
  int database = 0;                ///< the logical database (SELECT)
  std::string user;                ///< ACL user name; empty = the default user
  std::string password;            ///< AUTH password; empty = no AUTH
  /// The first part of every key. Keys of partition P are `PREFIX:{P}:…`, all hash-tagged alike,
  /// so a partition lives in one Redis Cluster slot; the partition list is `PREFIX:partitions`.
  std::string key_prefix = "sincehash";
  std::chrono::milliseconds connect_timeout{5'000};   ///< for (re)connecting
  std::chrono::milliseconds command_timeout{30'000};  ///< for one round trip
  fault_hook fault_injector;                          ///< test only: see `fault_hook`

  /// Settings from a URI `redis://[[user]:password@]host[:port][/database]`; on a bad one an
  /// `errc::invalid_argument` naming the part that is wrong.
  [[nodiscard]] static result<redis_options> from_uri(std::string_view uri) {
    redis_options o;
    auto bad = [&](const std::string& why) {
      return fail(errc::invalid_argument, "redis URI '" + std::string(uri) + "': " + why);
    };
    constexpr std::string_view scheme = "redis://";
    if (uri.substr(0, scheme.size()) != scheme) return bad("must start with redis://");
    std::string_view rest = uri.substr(scheme.size());
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view cred = authority.substr(0, at);
      std::size_t colon = cred.find(':');
      if (colon == std::string_view::npos) {
        o.password = std::string(cred);
      } else {
        o.user = std::string(cred.substr(0, colon));
        o.password = std::string(cred.substr(colon + 1));
      }
      authority = authority.substr(at + 1);
    }
    std::string_view host = authority;
    std::size_t colon = authority.rfind(':');
    if (!authority.empty() && authority.front() == '[') {
      std::size_t close = authority.find(']');
      if (close == std::string_view::npos) return bad("an IPv6 address without its closing ']'");
      host = authority.substr(1, close - 1);
      colon =
          close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1 : std::string_view::npos;
    } else if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
    }
    if (colon != std::string_view::npos) {
      auto port = parse_int(authority.substr(colon + 1), 1, 65535, "port");
      if (!port) return bad(port.error().message);
      o.port = *port;
    }
    authority = host;
    if (authority.empty()) return bad("no host");
    o.host = std::string(authority);
    if (slash != std::string_view::npos && slash + 1 < rest.size()) {
      auto database = parse_int(rest.substr(slash + 1), 0, 1 << 20, "database number");
      if (!database) return bad(database.error().message);
      o.database = *database;
    }
    return o;
  }

 private:
  static result<int> parse_int(std::string_view text, int low, int high, const char* what) {
    int v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < low || v > high)
      return fail(errc::invalid_argument, std::string("the ") + what + " '" + std::string(text) +
                                              "' is not a number from " + std::to_string(low) + " to " +
                                              std::to_string(high));
    return v;
  }
};

/// A state store in Redis (hiredis): many processes and hosts may share one server.
/// Implements the whole contract documented in store.hpp, plus:
///   - A commit never replaces a stored state by one whose `updated` is older (both dated), unless
///     the stored state had expired when the new one was seen: concurrent workers committing
///     copies of one record in any order leave its newest one. The rest of the batch still applies.
///   - Per-partition leases with fencing tokens (lease.hpp): `acquire_lease`, `renew_lease`,
///     `release_lease`; commits of a fenced partition check the token in the same script.
///
/// Layout: per partition a hash of states (one field per id), a sorted set of expiries (for
/// `purge_expired`), a set of rescan marks, a meta hash (offset, rescan, write sequence,
/// fingerprint counter, fencing counter), two fingerprint hashes and the lease key; see
/// `redis_options::key_prefix`. Every write is one Lua script, atomic on the server and validated
/// before its first write; each script touches the keys of one partition only, so on Redis
/// Cluster a partition lives in one slot (this client talks to one server and does not follow
/// Cluster redirections; the partition list, written beside each write, is the one key outside
/// any partition). `get_many` is one HMGET and `snapshot` a MULTI/EXEC of two HMGETs sent
/// together: exactly one round trip each (`round_trips` counts them), as is a commit. Record expiry is kept
/// in the state and compared on the caller's clock, as the contract requires; a Redis TTL (server clock) is
/// used where that is exact: for the lease.
///
/// Versions: the write sequence is the meta hash's field `sq`, bumped once by every script that
/// changes the partition (a commit that writes anything, a reset or a rescan start or stop that
/// changed something, a purge that removed a state); each state written keeps the bumped value
/// inside its packed value (format in detail/store_redis.hpp), so a snapshot reads states and
/// versions with one HMGET. Values stored before versions were kept read as version 1, which the
/// sequence skips, so they need no migration. A process of an older sincehash writing beside
/// this one neither checks conditions nor bumps the sequence (and refuses to read the new values
/// as malformed): upgrade every process of a deployment together.
///
/// Connection: one connection per object, opened on construction. When it fails the call
/// throws `errc::store_error` naming the server and what was running, and the next call
/// reconnects. A commit is one script, so it is applied whole or not at all; when the connection
/// breaks while a commit is in flight the error says it may have been applied (whole).
/// Thread safety: every member function may be called concurrently; one object runs one call at
/// a time (open one object per thread for parallel calls). `for_each`'s callback runs under that
/// lock and must not call the same object.
class redis_store : public detail::store_fences {
 public:
  /// Connects to the server (throws `errc::store_error` when it cannot).
  explicit redis_store(redis_options options) : options_(std::move(options)) {
    std::lock_guard<std::mutex> lock(mutex_);
    connect();
  }
  /// Connects to the server named by `uri` (see `redis_options::from_uri`); throws its error.
  explicit redis_store(std::string_view uri) : redis_store(redis_options::from_uri(uri).value()) {}
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;
  ~redis_store() { disconnect(); }

  /// See store.hpp. One HMGET: one round trip whatever the number of ids.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view partition,
                                                                  const std::vector<std::string_view>& ids) {
    std::vector<std::optional<record_state>> out(ids.size());
    if (ids.empty()) return out;
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HMGET");
    c.own(key(partition, "rec"));
    for (std::string_view id : ids) c.add(id);
    reply r = run_one(c, "reading states of '" + std::string(partition) + "'");
    expect(r, REDIS_REPLY_ARRAY, "HMGET");
    if (r->elements != ids.size()) fail_reply("HMGET answered a wrong number of states");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const redisReply* e = r->element[i];
      if (e->type == REDIS_REPLY_STRING) out[i] = detail::redis_unpack(view(e), "a state");
    }
    return out;
  }

  /// See store.hpp. One Lua script: the fence, the offset kind, the rescan and the conditions
  /// (`commit_batch::expect`, skipped when `read_sequence` is still the partition's sequence) are
  /// checked before the first write; states are written in id order, each with the bumped
  /// sequence as its version; an older dated state never replaces a newer one. Throws
  /// `commit_conflict` when a condition failed, `errc::conflict` when the partition is fenced
  /// (see `acquire_lease`) and the lease expired or was granted to another owner since.
  void commit(std::string_view partition, const commit_batch& batch) {
    detail::store_plan plan = detail::plan_commit(batch);
    detail::store_write_steps before_write(options_.fault_injector);
    for (std::size_t k = 0; k < plan.ops.size() + plan.marks.size(); ++k) before_write();
    if (batch.offset) before_write();
    if (batch.complete_rescan) before_write();
    std::lock_guard<std::mutex> lock(mutex_);
    // With a read sequence the conditions are first withheld: while the sequence is unchanged
    // nothing was written since the snapshot, so none can fail, and every written state gets the
    // sequence the script will bump to, which the values already carry. Only when the sequence
    // moved does the script refuse (SINCEHASH_SEQ) and the conditions go along a second time.
    const std::uint64_t predicted =
        batch.read_sequence ? std::max<std::uint64_t>(*batch.read_sequence + 1, 2) : 0;
    const std::string version = detail::redis_version_bytes(predicted);
    // Upserted ids that held no state at the read go first: while the sequence is unchanged
    // they still hold none, and the script writes them without reading them first.
    std::vector<std::size_t> upserts;
    upserts.reserve(plan.upsert_count);
    std::size_t absent_count = 0;
    if (batch.read_sequence) {
      std::unordered_set<std::string_view> absent;
      absent.reserve(batch.expect.size());
      for (const auto& x : batch.expect)
        if (x.second == 0) absent.insert(x.first);
      std::vector<std::size_t> present;
      for (const detail::store_op& op : plan.ops) {
        if (op.kind != detail::store_op_kind::upsert) continue;
        if (absent.count(batch.upserts[op.index].first) != 0) {
          upserts.push_back(op.index);
        } else {
          present.push_back(op.index);
        }
      }
      absent_count = upserts.size();
      upserts.insert(upserts.end(), present.begin(), present.end());
    } else {
      for (const detail::store_op& op : plan.ops)
        if (op.kind == detail::store_op_kind::upsert) upserts.push_back(op.index);
    }
    const auto build = [&](bool send_conditions) {
      command c;
      c.add("EVALSHA");
      c.add(sha_[script_commit]);
      c.add("5");
      c.own(key(partition, "rec"));
      c.own(key(partition, "exp"));
      c.own(key(partition, "seen"));
      c.own(key(partition, "meta"));
      c.own(key(partition, "lease"));
      c.own(fence_arg(partition));
      if (batch.offset) {
        const offset_value& o = *batch.offset;
        c.own(std::to_string(static_cast<int>(o.kind)));
        c.add(o.text);
        c.own(std::to_string(o.number));
        c.own(o.kind == offset_kind::string ? o.text : detail::redis_ordered(o.number));
      } else {
        for (int k = 0; k < 4; ++k) c.add("");
      }
      c.add(batch.complete_rescan ? "1" : "0");
      c.own(std::to_string(detail::ns_of(batch.rescan_completed_at)));
      c.own(std::to_string(plan.upsert_count));
      c.own(std::to_string(plan.ops.size() - plan.upsert_count));
      c.own(std::to_string(plan.marks.size()));
      c.own(std::to_string(send_conditions ? batch.expect.size() : 0));
      c.own(batch.read_sequence ? std::to_string(*batch.read_sequence) : std::string());
      c.add(!send_conditions && !batch.expect.empty() ? "1" : "0");
      c.own(std::to_string(absent_count));
      if (send_conditions) {
        for (const auto& x : batch.expect) {
          c.add(x.first);
          c.own(detail::redis_version_bytes(x.second));
        }
      }
      for (std::size_t index : upserts) {
        const auto& u = batch.upserts[index];
        c.add(u.first);
        c.own(detail::redis_pack(u.second, version));
        c.own(u.second.expires ? detail::redis_score(detail::ns_of(*u.second.expires)) : std::string());
      }
      for (const detail::store_op& op : plan.ops) {
        if (op.kind == detail::store_op_kind::erase) c.add(batch.erasures[op.index]);
      }
      for (std::uint32_t m : plan.marks) c.add(batch.rescan_seen[m]);
      return c;
    };
    const std::string what = "committing to '" + std::string(partition) + "'";
    const bool withhold = batch.read_sequence.has_value() && !batch.expect.empty();
    command c = build(!withhold);
    reply r = run_script(c, script_commit, partition, what, true);
    if (withhold && r->type == REDIS_REPLY_ERROR &&
        view(r.get()).find("SINCEHASH_SEQ") != std::string_view::npos) {
      command again = build(true);
      r = run_script(again, script_commit, partition, what, true);
    }
    if (r->type == REDIS_REPLY_ARRAY) {
      std::vector<std::string> ids;
      ids.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) ids.emplace_back(view(r->element[i]));
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      throw detail::store_conflict(store_name, partition, std::move(ids));
    }
    if (r->type == REDIS_REPLY_ERROR) {
      std::string_view text = view(r.get());
      check_fenced(r, partition, "commit");
      if (text.find("SINCEHASH_KIND") != std::string_view::npos) {
        offset_value stored;
        std::string_view rest = after_tag(text);
        stored.kind = static_cast<offset_kind>(rest.empty() ? 0 : rest[0] - '0');
        (void)compare_offsets(*batch.offset, stored);  // throws, naming both kinds
      }
      if (text.find("SINCEHASH_RESCAN") != std::string_view::npos)
        throw detail::store_no_active_rescan(store_name, partition);
      fail_reply(what + ": " + std::string(text));
    }
  }

  /// See store.hpp. One round trip: MULTI, an HMGET of the meta hash (offset, rescan flag,
  /// sequence), an HMGET of the ids' states (whose versions are kept inside the values) and
  /// EXEC, sent together; the server runs the two reads as one, with nothing in between.
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) {
    store_snapshot out = detail::store_empty_snapshot(ids.size());
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<command> cs(ids.empty() ? 3 : 4);
    cs.front().add("MULTI");
    command& meta = cs[1];
    meta.add("HMGET");
    meta.own(key(partition, "meta"));
    for (const char* field : {"ok", "ot", "on", "ra", "sq"}) meta.add(field);
    if (!ids.empty()) {
      command& states = cs[2];
      states.add("HMGET");
      states.own(key(partition, "rec"));
      for (std::string_view id : ids) states.add(id);
    }
    cs.back().add("EXEC");
    const std::string what = "reading a snapshot of '" + std::string(partition) + "'";
    std::vector<reply> rs = run(cs, what);
    for (std::size_t i = 0; i + 1 < rs.size(); ++i) {
      if (rs[i]->type == REDIS_REPLY_ERROR) fail_reply(what + ": " + std::string(view(rs[i].get())));
    }
    const reply& r = rs.back();
    expect(r, REDIS_REPLY_ARRAY, "EXEC");
    if (r->elements != cs.size() - 2) fail_reply(what + ": EXEC answered a wrong number of replies");
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->type == REDIS_REPLY_ERROR) fail_reply(what + ": " + std::string(view(e)));
      if (e->type != REDIS_REPLY_ARRAY || e->elements != (i == 0 ? 5 : ids.size()))
        fail_reply(what + ": HMGET answered a wrong number of values");
    }
    redisReply* const* m = r->element[0]->element;
    out.offset = offset_of(m, partition);
    out.rescan_active = m[3]->type == REDIS_REPLY_STRING && view(m[3]) == "1";
    if (m[4]->type == REDIS_REPLY_STRING)
      out.sequence = static_cast<std::uint64_t>(to_int64(view(m[4]), "a write sequence"));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const redisReply* e = r->element[1]->element[i];
      if (e->type == REDIS_REPLY_STRING)
        out.states[i] = detail::redis_unpack(view(e), "a state", &out.versions[i]);
    }
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HMGET");
    c.own(key(partition, "meta"));
    c.add("ok");
    c.add("ot");
    c.add("on");
    reply r = run_one(c, "reading the offset of '" + std::string(partition) + "'");
    expect(r, REDIS_REPLY_ARRAY, "HMGET");
    if (r->elements != 3) fail_reply("HMGET answered a wrong number of values");
    return offset_of(r->element, partition);
  }

  /// See store.hpp. One script.
  void reset_offset(std::string_view partition, bool forget_records) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c = script_call(script_reset, partition, {"rec", "exp", "seen", "meta", "lease"});
    c.add(forget_records ? "1" : "0");
    c.own(fence_arg(partition));
    const std::string what = "resetting '" + std::string(partition) + "'";
    reply r = run_script(c, script_reset, partition, what, false);
    check_fenced(r, partition, "reset");
    check_script(r, what);
  }

  /// See store.hpp. One script, written immediately; ids are cached per object.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view partition, std::string_view text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string cache_key =
        std::to_string(partition.size()) + ":" + std::string(partition) + std::string(text);
    auto cached = fingerprint_cache_.find(cache_key);
    if (cached != fingerprint_cache_.end()) return cached->second;
    command c = script_call(script_intern, partition, {"fp", "fpid", "meta"});
    c.add(text);
    const std::string what = "interning a fingerprint of '" + std::string(partition) + "'";
    reply r = run_script(c, script_intern, partition, what, false);
    check_script(r, what);
    expect(r, REDIS_REPLY_INTEGER, "the fingerprint script");
    if (r->integer <= 0 || r->integer > 0xFFFFFFFFll) fail_reply(what + ": id out of range");
    auto id = static_cast<std::uint32_t>(r->integer);
    fingerprint_cache_.emplace(std::move(cache_key), id);
    return id;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view partition, std::uint32_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HGET");
    c.own(key(partition, "fpid"));
    c.own(std::to_string(id));
    reply r = run_one(c, "reading a fingerprint of '" + std::string(partition) + "'");
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    return std::string(view(r.get()));
  }

  /// See store.hpp. One HGETALL (the whole partition in one reply); order unspecified.
  template <class F>
  void for_each(std::string_view partition, F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HGETALL");
    c.own(key(partition, "rec"));
    reply r = run_one(c, "listing the states of '" + std::string(partition) + "'");
    expect(r, REDIS_REPLY_ARRAY, "HGETALL");
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const record_state s = detail::redis_unpack(view(r->element[i + 1]), "a state");
      f(view(r->element[i]), s);
    }
  }

  /// See store.hpp. One script per partition, all sent in one round trip.
  std::size_t purge_expired(instant now) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> names = registered_partitions();
    std::vector<command> cs;
    cs.reserve(names.size());
    for (const std::string& p : names) cs.push_back(purge_call(p, now));
    std::vector<reply> rs = run(cs, "purging expired states");
    std::size_t n = 0;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (is_noscript(rs[i])) {
        command again = eval_fallback(cs[i], script_purge);
        rs[i] = run_one(again, "purging expired states");
      }
      check_script(rs[i], "purging expired states of '" + names[i] + "'");
      n += static_cast<std::size_t>(rs[i]->integer);
    }
    return n;
  }

  /// See store.hpp. One script.
  std::size_t purge_expired(std::string_view partition, instant now) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c = purge_call(partition, now);
    const std::string what = "purging expired states of '" + std::string(partition) + "'";
    reply r = run_script(c, script_purge, partition, what, false, false);
    check_script(r, what);
    return static_cast<std::size_t>(r->integer);
  }

  /// See store.hpp. One HLEN.
  [[nodiscard]] std::size_t count(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HLEN");
    c.own(key(partition, "rec"));
    reply r = run_one(c, "counting the states of '" + std::string(partition) + "'");
    expect(r, REDIS_REPLY_INTEGER, "HLEN");
    return static_cast<std::size_t>(r->integer);
  }

  /// See store.hpp. The partitions ever written under this key prefix that still hold a key
  /// (a partition that only ever had a lease is not listed).
  [[nodiscard]] std::vector<std::string> partitions() {
    std::lock_guard<std::mutex> lock(mutex_);
    return registered_partitions();
  }

  /// See store.hpp. One script.
  void begin_rescan(std::string_view partition) { rescan_script(partition, true); }

  /// See store.hpp. One script.
  void abandon_rescan(std::string_view partition) { rescan_script(partition, false); }

  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HGET");
    c.own(key(partition, "meta"));
    c.add("ra");
    reply r = run_one(c, "reading the rescan of '" + std::string(partition) + "'");
    return r->type == REDIS_REPLY_STRING && view(r.get()) == "1";
  }

  /// See store.hpp. One script; sorted here.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c = script_call(script_unseen, partition, {"rec", "seen", "meta"});
    const std::string what = "listing the ids a rescan of '" + std::string(partition) + "' did not see";
    reply r = run_script(c, script_unseen, partition, what, false, false);
    check_script(r, what);
    std::vector<std::string> out;
    out.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i) out.emplace_back(view(r->element[i]));
    std::sort(out.begin(), out.end());
    return out;
  }

  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c;
    c.add("HGET");
    c.own(key(partition, "meta"));
    c.add("lr");
    reply r = run_one(c, "reading the last rescan of '" + std::string(partition) + "'");
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    return detail::instant_of(to_int64(view(r.get()), "a rescan time"));
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
    command c = script_call(script_acquire, partition, {"lease", "meta"});
    c.add(owner);
    c.own(std::to_string(ttl.count()));
    const std::string what = "acquiring the lease of '" + std::string(partition) + "'";
    reply r = run_script(c, script_acquire, partition, what, false);
    check_script(r, what);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) fail_reply(what + ": unexpected reply");
    lease_result out;
    out.granted = r->element[0]->integer == 1;
    out.lease.partition = std::string(partition);
    out.lease.token = static_cast<std::uint64_t>(to_int64(view(r->element[1]), "a fencing token"));
    out.remaining = std::chrono::milliseconds(std::max<long long>(0, r->element[2]->integer));
    out.lease.owner = std::string(view(r->element[3]));
    fence_granted(partition, out.granted, out.lease.token);
    return out;
  }

  /// Extends a held lease to `ttl` from now (server clock). False (and nothing changed) when the
  /// lease expired or was granted to another owner or under another token meanwhile.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    detail::store_check_lease_ttl(store_name, ttl);
    return lease_call(lease, std::to_string(ttl.count()), "renewing");
  }

  /// Gives a held lease up, so another owner may acquire it at once, and stops fencing this
  /// object's commits on its partition. False when it was no longer held under `lease.token`.
  bool release_lease(const store_lease& lease) {
    bool held = lease_call(lease, std::string(), "releasing");
    clear_fence_if(lease.partition, lease.token);
    return held;
  }

  /// How many round trips to the server this object made (each may carry several commands).
  [[nodiscard]] std::uint64_t round_trips() const noexcept { return round_trips_.load(); }

  /// The settings this store was opened with.
  [[nodiscard]] const redis_options& options() const noexcept { return options_; }

 private:
  static constexpr const char* store_name = "redis_store";

  enum script_id : std::size_t {
    script_commit,
    script_purge,
    script_reset,
    script_rescan,
    script_unseen,
    script_intern,
    script_acquire,
    script_lease,
    script_count_
  };

  static const char* script_text(std::size_t id) {
    static const char* const texts[script_count_] = {detail::redis_commit_lua,  detail::redis_purge_lua,
                                                     detail::redis_reset_lua,   detail::redis_rescan_lua,
                                                     detail::redis_unseen_lua,  detail::redis_intern_lua,
                                                     detail::redis_acquire_lua, detail::redis_lease_lua};
    return texts[id];
  }

  struct reply_free {
    void operator()(redisReply* r) const noexcept {
      if (r != nullptr) freeReplyObject(r);
    }
  };
  using reply = std::unique_ptr<redisReply, reply_free>;

  // One command's arguments: views of the caller's bytes plus strings it owns. Move only.
  class command {
   public:
    command() = default;
    command(const command&) = delete;
    command& operator=(const command&) = delete;
    command(command&&) noexcept = default;
    command& operator=(command&&) noexcept = default;
    void add(std::string_view v) {
      argv_.push_back(v.data() != nullptr ? v.data() : "");
      lens_.push_back(v.size());
    }
    void own(std::string s) {
      owned_->push_back(std::move(s));
      add(owned_->back());
    }
    [[nodiscard]] int argc() const noexcept { return static_cast<int>(argv_.size()); }
    [[nodiscard]] const char** argv() noexcept { return argv_.data(); }
    [[nodiscard]] const std::size_t* lens() const noexcept { return lens_.data(); }
    std::vector<const char*> argv_;
    std::vector<std::size_t> lens_;
    // Behind a pointer: moving a command (also inside a vector) keeps the views valid.
    std::unique_ptr<std::deque<std::string>> owned_ = std::make_unique<std::deque<std::string>>();
  };

  static std::string_view view(const redisReply* r) noexcept {
    return r->str == nullptr ? std::string_view() : std::string_view(r->str, r->len);
  }

  static std::string_view after_tag(std::string_view text) {
    std::size_t space = text.find(' ', text.find("SINCEHASH_"));
    return space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }

  std::string fence_arg(std::string_view partition) const {
    const std::optional<std::uint64_t> token = fence_of(partition);
    return token ? std::to_string(*token) : std::string();
  }

  // Throws `errc::conflict` when a fenced script refused to run.
  static void check_fenced(const reply& r, std::string_view partition, const char* what) {
    if (r->type != REDIS_REPLY_ERROR) return;
    std::string_view text = view(r.get());
    if (text.find("SINCEHASH_FENCE") == std::string_view::npos) return;
    throw detail::store_fence_refused(store_name, what, partition, after_tag(text));
  }

  std::string where() const { return "redis " + options_.host + ":" + std::to_string(options_.port); }

  [[noreturn]] void fail_reply(const std::string& what) const {
    throw error(errc::store_error, "redis_store (" + where() + "): " + what);
  }

  void expect(const reply& r, int type, const char* what) const {
    if (r->type == REDIS_REPLY_ERROR) fail_reply(std::string(what) + ": " + std::string(view(r.get())));
    if (r->type != type) fail_reply(std::string(what) + ": unexpected reply type " + std::to_string(r->type));
  }

  void check_script(const reply& r, const std::string& what) const {
    if (r->type == REDIS_REPLY_ERROR) fail_reply(what + ": " + std::string(view(r.get())));
  }

  // The offset from the meta fields kind, text and number (the first three of `e`).
  std::optional<offset_value> offset_of(redisReply* const* e, std::string_view partition) const {
    if (e[0]->type != REDIS_REPLY_STRING) return std::nullopt;
    const std::string_view kind = view(e[0]);
    const std::int64_t code = kind.size() == 1 && kind[0] >= '0' && kind[0] <= '9' ? kind[0] - '0' : -1;
    std::string text = e[1]->type == REDIS_REPLY_STRING ? std::string(view(e[1])) : std::string();
    const std::int64_t number = e[2]->type == REDIS_REPLY_STRING ? to_int64(view(e[2]), "an offset") : 0;
    return detail::store_offset("redis_store (" + where() + ") for '" + std::string(partition) + "'", code,
                                std::move(text), number);
  }

  std::int64_t to_int64(std::string_view text, const char* what) const {
    std::int64_t v = 0;
    auto res = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || res.ec != std::errc() || res.ptr != text.data() + text.size())
      fail_reply(std::string("a malformed number is stored as ") + what + ": '" + std::string(text) + "'");
    return v;
  }

  std::string key(std::string_view partition, std::string_view part) const {
    std::string k;
    k.reserve(options_.key_prefix.size() + partition.size() + part.size() + 4);
    k += options_.key_prefix;
    k += ":{";
    k.append(partition);
    k += "}:";
    k.append(part);
    return k;
  }

  command script_call(std::size_t id, std::string_view partition, std::initializer_list<const char*> parts) {
    command c;
    c.add("EVALSHA");
    c.add(sha_[id]);
    c.own(std::to_string(parts.size()));
    for (const char* p : parts) c.own(key(partition, p));
    return c;
  }

  command purge_call(std::string_view partition, instant now) {
    command c = script_call(script_purge, partition, {"rec", "exp", "meta"});
    c.own(detail::redis_score(detail::ns_of(now)));
    c.own(detail::redis_ordered(detail::ns_of(now)));
    return c;
  }

  void rescan_script(std::string_view partition, bool begin) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c = script_call(script_rescan, partition, {"seen", "meta", "lease"});
    c.add(begin ? "1" : "0");
    c.own(fence_arg(partition));
    const std::string what =
        std::string(begin ? "beginning" : "abandoning") + " a rescan of '" + std::string(partition) + "'";
    reply r = run_script(c, script_rescan, partition, what, false, begin);
    check_fenced(r, partition, begin ? "beginning a rescan" : "abandoning a rescan");
    check_script(r, what);
  }

  bool lease_call(const store_lease& lease, std::string ttl, const char* verb) {
    std::lock_guard<std::mutex> lock(mutex_);
    command c = script_call(script_lease, lease.partition, {"lease"});
    c.own(std::to_string(lease.token));
    c.add(lease.owner);
    c.own(std::move(ttl));
    const std::string what = std::string(verb) + " the lease of '" + lease.partition + "'";
    reply r = run_script(c, script_lease, lease.partition, what, false, false);
    check_script(r, what);
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }

  static bool is_noscript(const reply& r) {
    return r->type == REDIS_REPLY_ERROR && view(r.get()).substr(0, 8) == "NOSCRIPT";
  }

  // The same call as EVAL with the script's text (after the server forgot the script).
  static command eval_fallback(const command& c, std::size_t id) {
    command e;
    e.add("EVAL");
    e.add(script_text(id));
    for (std::size_t i = 2; i < c.argv_.size(); ++i) e.add(std::string_view(c.argv_[i], c.lens_[i]));
    return e;
  }

  // Runs a script call (EVALSHA), registering `partition` first when `registers`; retries once
  // as EVAL when the server does not know the script.
  reply run_script(command& c, std::size_t id, std::string_view partition, const std::string& what,
                   bool in_doubt, bool registers = true) {
    std::vector<command> cs;
    const bool reg = registers;  // on every write: the list then survives a FLUSHALL or a new server
    if (reg) {
      command add;
      add.add("SADD");
      add.own(options_.key_prefix + ":partitions");
      add.add(partition);
      cs.push_back(std::move(add));
    }
    cs.push_back(std::move(c));
    std::vector<reply> rs = run(cs, what, in_doubt);
    reply r = std::move(rs.back());
    if (is_noscript(r)) {
      std::vector<command> again;
      again.push_back(eval_fallback(cs.back(), id));
      r = std::move(run(again, what, in_doubt).back());
      load_scripts();
    }
    return r;
  }

  reply run_one(command& c, const std::string& what) {
    std::vector<command> cs;
    cs.push_back(std::move(c));
    return std::move(run(cs, what).front());
  }

  // Sends every command, then reads every reply: one round trip.
  std::vector<reply> run(std::vector<command>& cs, const std::string& what, bool in_doubt = false) {
    if (ctx_ == nullptr) connect();
    for (command& c : cs) {
      if (redisAppendCommandArgv(ctx_, c.argc(), c.argv(), c.lens()) != REDIS_OK) lost(what, false);
    }
    ++round_trips_;
    std::vector<reply> out;
    out.reserve(cs.size());
    for (std::size_t i = 0; i < cs.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) lost(what, in_doubt);
      out.emplace_back(static_cast<redisReply*>(raw));
    }
    return out;
  }

  [[noreturn]] void lost(const std::string& what, bool in_doubt) {
    std::string reason = ctx_ != nullptr && ctx_->errstr[0] != '\0' ? ctx_->errstr : "no reply";
    disconnect();
    throw detail::store_connection_lost("redis_store (" + where() + ")", what, reason, in_doubt);
  }

  void connect() {
    timeval tv = to_timeval(options_.connect_timeout);
    redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
    if (c == nullptr)
      throw error(errc::store_error, "redis_store (" + where() + "): cannot allocate a connection");
    if (c->err != 0) {
      std::string reason = c->errstr;
      redisFree(c);
      throw error(errc::store_error, "redis_store (" + where() + "): cannot connect: " + reason);
    }
    ctx_ = c;
    timeval ct = to_timeval(options_.command_timeout);
    redisSetTimeout(ctx_, ct);
    std::vector<command> cs;
    if (!options_.password.empty()) {
      command a;
      a.add("AUTH");
      if (!options_.user.empty()) a.add(options_.user);
      a.add(options_.password);
      cs.push_back(std::move(a));
    }
    if (options_.database != 0) {
      command s;
      s.add("SELECT");
      s.own(std::to_string(options_.database));
      cs.push_back(std::move(s));
    }
    if (!cs.empty()) {
      for (reply& r : run(cs, "opening the connection")) {
        if (r->type == REDIS_REPLY_ERROR) {
          std::string text(view(r.get()));
          disconnect();
          throw error(errc::store_error, "redis_store (" + where() + "): opening the connection: " + text);
        }
      }
    }
    load_scripts();
  }

  void load_scripts() {
    std::vector<command> cs(script_count_);
    for (std::size_t i = 0; i < script_count_; ++i) {
      cs[i].add("SCRIPT");
      cs[i].add("LOAD");
      cs[i].add(script_text(i));
    }
    std::vector<reply> rs = run(cs, "loading the scripts");
    for (std::size_t i = 0; i < script_count_; ++i) {
      if (rs[i]->type != REDIS_REPLY_STRING)
        fail_reply("loading the scripts: " + std::string(view(rs[i].get())));
      sha_[i] = std::string(view(rs[i].get()));
    }
  }

  std::vector<std::string> registered_partitions() {
    command m;
    m.add("SMEMBERS");
    m.own(options_.key_prefix + ":partitions");
    reply r = run_one(m, "listing the partitions");
    expect(r, REDIS_REPLY_ARRAY, "SMEMBERS");
    std::vector<std::string> names;
    for (std::size_t i = 0; i < r->elements; ++i) names.emplace_back(view(r->element[i]));
    std::sort(names.begin(), names.end());
    // Per partition: its keys of data, the fields of its meta hash, and whether one of them is
    // the lease's token counter (a meta hash holding nothing else is a lease only).
    std::vector<command> cs;
    for (const std::string& p : names) {
      command e;
      e.add("EXISTS");
      for (const char* part : {"rec", "fpid", "seen"}) e.own(key(p, part));
      cs.push_back(std::move(e));
      command fields;
      fields.add("HLEN");
      fields.own(key(p, "meta"));
      cs.push_back(std::move(fields));
      command token;
      token.add("HEXISTS");
      token.own(key(p, "meta"));
      token.add("tok");
      cs.push_back(std::move(token));
    }
    std::vector<std::string> out;
    if (cs.empty()) return out;
    std::vector<reply> rs = run(cs, "listing the partitions");
    auto number = [&](std::size_t i) { return rs[i]->type == REDIS_REPLY_INTEGER ? rs[i]->integer : 0; };
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (number(3 * i) > 0 || number(3 * i + 1) > number(3 * i + 2)) out.push_back(std::move(names[i]));
    }
    return out;
  }

  static timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
  }

  void disconnect() noexcept {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  redis_options options_;
  std::mutex mutex_;
  redisContext* ctx_ = nullptr;
  std::string sha_[script_count_];
  std::atomic<std::uint64_t> round_trips_{0};
  std::map<std::string, std::uint32_t, std::less<>> fingerprint_cache_;
};

static_assert(is_state_store_v<redis_store>, "sincehash::redis_store must implement the store contract");

}  // namespace sincehash

#endif  // SINCEHASH_STORE_REDIS_HPP
