#ifndef SINCEHASH_DETAIL_STORE_FENCES_HPP
#define SINCEHASH_DETAIL_STORE_FENCES_HPP

// The fencing tokens a shared store object stamps its writes with, per partition (see
// store/lease.hpp). Not synchronised: the owning store guards it with its own mutex.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sincehash::detail {

class fence_table {
 public:
  // Writes to `partition` are fenced with `token` from now on.
  void set(std::string_view partition, std::uint64_t token) { tokens_[std::string(partition)] = token; }

  // Writes to `partition` are no longer fenced.
  void clear(std::string_view partition) {
    auto it = tokens_.find(partition);
    if (it != tokens_.end()) tokens_.erase(it);
  }

  // As `clear`, only while the partition is fenced with `token` (a released lease).
  void clear_if(std::string_view partition, std::uint64_t token) {
    auto it = tokens_.find(partition);
    if (it != tokens_.end() && it->second == token) tokens_.erase(it);
  }

  // The token writes to `partition` carry; nullopt when they are not fenced.
  [[nodiscard]] std::optional<std::uint64_t> find(std::string_view partition) const {
    auto it = tokens_.find(partition);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::uint64_t, std::less<>> tokens_;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_FENCES_HPP
