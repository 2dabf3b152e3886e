#ifndef SINCEHASH_DETAIL_STORE_LOCAL_LEASE_HPP
#define SINCEHASH_DETAIL_STORE_LOCAL_LEASE_HPP

// The lease rules of the back ends that keep a partition's lease themselves (memory_store in the
// process, sqlite_store in the database file), on times in milliseconds of the back end's clock.
// Not synchronised: the caller holds the partition's lock (or write transaction) around a call
// and persists the changed `local_lease`. The rules are those of store/lease.hpp.

#include <sincehash/detail/store_errors.hpp>
#include <sincehash/store/lease.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sincehash::detail {

// One partition's lease.
struct local_lease {
  std::uint64_t last_token = 0;  // the token of the latest grant (0: never granted); the holder's
  bool held = false;             // granted and not released (it may have expired meanwhile)
  std::string owner;             // the holder, while `held`
  std::int64_t expires_ms = 0;   // when the grant stops counting, while `held`

  [[nodiscard]] bool live(std::int64_t now_ms) const noexcept { return held && expires_ms > now_ms; }
};

// Grants `owner` the lease unless another owner holds a live one; a grant (also a repeated one to
// the holder) takes the next token.
[[nodiscard]] inline lease_result local_lease_acquire(local_lease& l, std::string_view partition,
                                                      std::string_view owner, std::int64_t now_ms,
                                                      std::chrono::milliseconds ttl) {
  lease_result out;
  out.lease.partition = std::string(partition);
  if (l.live(now_ms) && l.owner != owner) {
    out.lease.owner = l.owner;
    out.lease.token = l.last_token;
    out.remaining = std::chrono::milliseconds(l.expires_ms - now_ms);
    return out;
  }
  l.last_token += 1;
  l.held = true;
  l.owner = std::string(owner);
  l.expires_ms = now_ms + static_cast<std::int64_t>(ttl.count());
  out.granted = true;
  out.lease.owner = l.owner;
  out.lease.token = l.last_token;
  out.remaining = ttl;
  return out;
}

// True when `lease` is the live grant of `l`.
[[nodiscard]] inline bool local_lease_holds(const local_lease& l, const store_lease& lease,
                                            std::int64_t now_ms) noexcept {
  return l.live(now_ms) && l.last_token == lease.token && l.owner == lease.owner;
}

// Extends `lease` to `ttl` from now when it is the live grant.
[[nodiscard]] inline bool local_lease_renew(local_lease& l, const store_lease& lease, std::int64_t now_ms,
                                            std::chrono::milliseconds ttl) noexcept {
  if (!local_lease_holds(l, lease, now_ms)) return false;
  l.expires_ms = now_ms + static_cast<std::int64_t>(ttl.count());
  return true;
}

// Ends the grant `lease` names (also an expired one, so that it stops naming a holder); true when
// it was still live. The token counter stays.
inline bool local_lease_release(local_lease& l, const store_lease& lease, std::int64_t now_ms) {
  if (!l.held || l.last_token != lease.token || l.owner != lease.owner) return false;
  const bool was_live = l.live(now_ms);
  l.held = false;
  l.owner.clear();
  l.expires_ms = 0;
  return was_live;
}

// Throws `errc::conflict` (nothing is written) unless writes fenced with `token` may run now: the
// live grant carries `token`.
inline void local_lease_check_fence(const local_lease& l, std::uint64_t token, std::int64_t now_ms,
                                    std::string_view store_name, std::string_view partition,
                                    std::string_view what) {
  if (l.live(now_ms) && l.last_token == token) return;
  std::string why;
  if (l.live(now_ms)) {
    why = "the lease is now held under fencing token " + std::to_string(l.last_token) + " by \"" + l.owner +
          "\", not under token " + std::to_string(token);
  } else if (l.held && l.last_token == token) {
    why = "the lease under fencing token " + std::to_string(token) + " expired";
  } else {
    why = "the lease under fencing token " + std::to_string(token) + " is no longer held";
  }
  throw store_fence_refused(store_name, what, partition, why);
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_LOCAL_LEASE_HPP
