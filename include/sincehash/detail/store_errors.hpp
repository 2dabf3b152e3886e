#ifndef SINCEHASH_DETAIL_STORE_ERRORS_HPP
#define SINCEHASH_DETAIL_STORE_ERRORS_HPP

// The errors the store back ends report alike, each worded once. `store_name` starts every
// message ("memory_store", "redis_store", ...), followed by what went wrong and, for a write,
// whether anything was written.

#include <sincehash/error.hpp>
#include <sincehash/store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sincehash::detail {

/// The message and exception for conditions of a commit that no longer hold; `ids` sorted.
[[nodiscard]] inline commit_conflict store_conflict(std::string_view store_name, std::string_view partition,
                                                    std::vector<std::string> ids) {
  std::string msg = std::string(store_name) + ": " + std::to_string(ids.size()) + " record" +
                    (ids.size() == 1 ? "" : "s") + " of '" + std::string(partition) +
                    "' changed since they were read (";
  const std::size_t shown = ids.size() < 5 ? ids.size() : 5;
  for (std::size_t i = 0; i < shown; ++i) {
    if (i != 0) msg += ", ";
    msg += "'" + ids[i] + "'";
  }
  if (shown < ids.size()) msg += ", ...";
  msg += "); nothing was committed";
  return commit_conflict(std::move(msg), std::move(ids));
}

/// A fenced write (`what`: "commit", "reset", "beginning a rescan", ...) refused because the
/// lease it is fenced with no longer holds; `why` says how (expired, taken over).
[[nodiscard]] inline error store_fence_refused(std::string_view store_name, std::string_view what,
                                               std::string_view partition, std::string_view why) {
  return error(errc::conflict, std::string(store_name) + ": " + std::string(what) + " of '" +
                                   std::string(partition) + "' refused: " + std::string(why) +
                                   "; nothing was written");
}

/// A commit completing a rescan that is not running.
[[nodiscard]] inline error store_no_active_rescan(std::string_view store_name, std::string_view partition) {
  return error(errc::conflict, std::string(store_name) + ": commit completes a rescan of '" +
                                   std::string(partition) +
                                   "' but none is active (completed or abandoned meanwhile)");
}

/// The offset stored as (`kind`, `text`, `number`); throws `errc::store_error` for a kind this
/// library does not know (`where`: the store's name and what it reads from).
[[nodiscard]] inline offset_value store_offset(std::string_view where, std::int64_t kind, std::string text,
                                               std::int64_t number) {
  if (kind < 0 || kind > 2) {
    throw error(errc::store_error,
                std::string(where) + ": an unknown offset kind " + std::to_string(kind) + " is stored");
  }
  return offset_value{static_cast<offset_kind>(kind), std::move(text), number};
}

/// Throws `errc::invalid_argument` for a lease's time to live under 1 ms.
inline void store_check_lease_ttl(std::string_view store_name, std::chrono::milliseconds ttl) {
  if (ttl.count() < 1) {
    throw error(errc::invalid_argument, std::string(store_name) +
                                            ": a lease's ttl must be at least 1 ms, not " +
                                            std::to_string(ttl.count()) + " ms");
  }
}

/// A remote back end's connection broke while `what` ran (`where`: the store's name and server);
/// `in_doubt` when a commit had been sent and may have been applied.
[[nodiscard]] inline error store_connection_lost(std::string_view where, std::string_view what,
                                                 std::string_view reason, bool in_doubt) {
  return error(errc::store_error,
               std::string(where) + ": connection lost while " + std::string(what) + ": " +
                   std::string(reason) +
                   (in_doubt ? "; the commit may or may not have been applied (whole, never in part)" : "") +
                   "; the next call reconnects");
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_ERRORS_HPP
