#ifndef SINCEHASH_DETAIL_STORE_FORWARDING_HPP
#define SINCEHASH_DETAIL_STORE_FORWARDING_HPP

// The base of a decorating store: every member function of the store contract (store.hpp), and
// the fences of store/lease.hpp when the inner store has them, passed to an inner store unchanged.
// A decorator derives from `forwarding_store<Inner>` and declares only the members it changes
// (a member it declares hides the forwarding one of the same name).

#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sincehash::detail {

template <class Inner>
class forwarding_store {
  static_assert(is_state_store_v<Inner>,
                "sincehash: a decorated store must satisfy the store contract (store.hpp)");

 public:
  /// The inner store (not owned: it must outlive this object).
  [[nodiscard]] Inner& inner() noexcept { return *inner_; }

  /// See store.hpp.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view partition,
                                                                  const std::vector<std::string_view>& ids) {
    return inner_->get_many(partition, ids);
  }
  /// See store.hpp.
  [[nodiscard]] store_snapshot snapshot(std::string_view partition,
                                        const std::vector<std::string_view>& ids) {
    return inner_->snapshot(partition, ids);
  }
  /// See store.hpp.
  void commit(std::string_view partition, const commit_batch& batch) { inner_->commit(partition, batch); }
  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view partition) {
    return inner_->offset(partition);
  }
  /// See store.hpp.
  void reset_offset(std::string_view partition, bool forget_records) {
    inner_->reset_offset(partition, forget_records);
  }
  /// See store.hpp.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view partition, std::string_view text) {
    return inner_->intern_fingerprint(partition, text);
  }
  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view partition, std::uint32_t id) {
    return inner_->fingerprint_text(partition, id);
  }
  /// See store.hpp.
  template <class F>
  void for_each(std::string_view partition, F&& f) {
    inner_->for_each(partition, std::forward<F>(f));
  }
  /// See store.hpp.
  std::size_t purge_expired(instant now) { return inner_->purge_expired(now); }
  /// See store.hpp.
  std::size_t purge_expired(std::string_view partition, instant now) {
    return inner_->purge_expired(partition, now);
  }
  /// See store.hpp.
  [[nodiscard]] std::size_t count(std::string_view partition) { return inner_->count(partition); }
  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> partitions() { return inner_->partitions(); }
  /// See store.hpp.
  void begin_rescan(std::string_view partition) { inner_->begin_rescan(partition); }
  /// See store.hpp.
  void abandon_rescan(std::string_view partition) { inner_->abandon_rescan(partition); }
  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view partition) { return inner_->rescan_active(partition); }
  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view partition) {
    return inner_->rescan_unseen(partition);
  }
  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view partition) {
    return inner_->last_rescan(partition);
  }

  /// See store.hpp and store/lease.hpp: the inner store's lease.
  [[nodiscard]] lease_result acquire_lease(std::string_view partition, std::string_view owner,
                                           std::chrono::milliseconds ttl) {
    return inner_->acquire_lease(partition, owner, ttl);
  }
  /// See store.hpp: the inner store's lease.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    return inner_->renew_lease(lease, ttl);
  }
  /// See store.hpp: the inner store's lease.
  bool release_lease(const store_lease& lease) { return inner_->release_lease(lease); }

  /// The inner store's fences (its writes are the ones fenced), when it offers them.
  template <class I = Inner>
  auto set_fence(std::string_view partition, std::uint64_t token)
      -> decltype(std::declval<I&>().set_fence(partition, token)) {
    return inner_->set_fence(partition, token);
  }
  /// See `set_fence`.
  template <class I = Inner>
  auto clear_fence(std::string_view partition) -> decltype(std::declval<I&>().clear_fence(partition)) {
    return inner_->clear_fence(partition);
  }
  /// See `set_fence`.
  template <class I = Inner>
  [[nodiscard]] auto fence(std::string_view partition) -> decltype(std::declval<I&>().fence(partition)) {
    return inner_->fence(partition);
  }

 protected:
  explicit forwarding_store(Inner& inner) noexcept : inner_(&inner) {}
  forwarding_store(const forwarding_store&) = delete;
  forwarding_store& operator=(const forwarding_store&) = delete;
  ~forwarding_store() = default;

  Inner* inner_;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_FORWARDING_HPP
