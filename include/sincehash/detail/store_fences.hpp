#ifndef SINCEHASH_DETAIL_STORE_FENCES_HPP
#define SINCEHASH_DETAIL_STORE_FENCES_HPP

// The fencing tokens a store object stamps its writes with, per partition (see
// store/lease.hpp), and the members every back end offers on them. A back end derives from
// `store_fences`, sets a fence when `acquire_lease` grants a lease, drops it in `release_lease`,
// and checks `fence_of(partition)` inside each fenced write. Synchronised on its own: a back end
// may read it while it holds its own locks (this lock is taken last and held briefly).

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace sincehash::detail {

class store_fences {
 public:
  /// Fences this object's later commits, `reset_offset`, `begin_rescan` and `abandon_rescan` on
  /// `partition` with `token`: each is refused (whole, `errc::conflict`) unless the lease of
  /// `partition` is held under `token` when it runs. Use it to write from another object or
  /// process than the one that acquired the lease.
  void set_fence(std::string_view partition, std::uint64_t token) {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens_[std::string(partition)] = token;
  }

  /// Commits on `partition` are no longer fenced by this object.
  void clear_fence(std::string_view partition) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tokens_.find(partition);
    if (it != tokens_.end()) tokens_.erase(it);
  }

  /// The token this object fences commits on `partition` with; nullopt when unfenced.
  [[nodiscard]] std::optional<std::uint64_t> fence(std::string_view partition) const {
    return fence_of(partition);
  }

 protected:
  store_fences() = default;
  store_fences(const store_fences&) = delete;
  store_fences& operator=(const store_fences&) = delete;
  ~store_fences() = default;

  // The token writes to `partition` carry; nullopt when they are not fenced.
  [[nodiscard]] std::optional<std::uint64_t> fence_of(std::string_view partition) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tokens_.find(partition);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }

  // As `clear_fence`, only while the partition is fenced with `token` (a released lease).
  void clear_fence_if(std::string_view partition, std::uint64_t token) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tokens_.find(partition);
    if (it != tokens_.end() && it->second == token) tokens_.erase(it);
  }

  // After `acquire_lease` answered `granted` for `partition` under `token`.
  void fence_granted(std::string_view partition, bool granted, std::uint64_t token) {
    if (granted) set_fence(partition, token);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> tokens_;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_FENCES_HPP
