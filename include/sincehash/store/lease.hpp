#ifndef SINCEHASH_STORE_LEASE_HPP
#define SINCEHASH_STORE_LEASE_HPP

// Per-partition leases with fencing tokens, offered by the shared back ends (redis_store,
// postgres_store) so that only one worker polls a partition at a time.
//
// A lease is granted to an owner for a time to live measured by the server's clock. Every grant
// of a partition carries a fencing token larger than every token granted before for that
// partition. The store object that acquired a lease fences its later commits on that partition
// with the token: the commit checks, inside its own atomic operation, that the lease is still
// held under that token, and otherwise applies nothing and throws `errc::conflict`. So a worker
// paused past its lease (and overtaken by another one) cannot overwrite newer state.

#include <chrono>
#include <cstdint>
#include <string>

namespace sincehash {

/// A granted lease: what `renew_lease` and `release_lease` need. Plain value type.
struct store_lease {
  std::string partition;    ///< the partition key the lease covers
  std::string owner;        ///< who holds it (any text chosen by the caller, e.g. host:pid)
  std::uint64_t token = 0;  ///< the fencing token of this grant (>= 1, grows with every grant)
};

/// What `acquire_lease` answers: `granted` with the new lease, or the holder that keeps it.
struct lease_result {
  bool granted = false;  ///< true when `lease` is now held by the caller
  store_lease lease;     ///< the new lease when granted; otherwise the current holder's (token, owner)
  /// How long the current lease still runs (the caller's `ttl` when granted), server clock.
  std::chrono::milliseconds remaining{0};
};

}  // namespace sincehash

#endif  // SINCEHASH_STORE_LEASE_HPP
