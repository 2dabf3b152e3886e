#ifndef SINCEHASH_ANY_STORE_HPP
#define SINCEHASH_ANY_STORE_HPP

// A state store chosen at run time: any back end behind one type, so that a program builds one
// detector whatever `--state` names (see open_store.hpp). Calls are per batch, so the virtual
// call per operation costs nothing measurable.

#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/store/lease.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sincehash {

/// Any state store, owned or borrowed, behind one type that itself satisfies the store contract
/// (store.hpp) with the back end's thread safety. Move-only.
class any_store {
 public:
  /// The callback type of `for_each`.
  using visit_fn = std::function<void(std::string_view, const record_state&)>;

  /// Takes ownership of `store`. `Store` must satisfy the store contract.
  template <class Store>
  explicit any_store(std::unique_ptr<Store> store) : self_(std::make_unique<model<Store>>(std::move(store))) {
    static_assert(is_state_store_v<Store>, "sincehash::any_store requires a store satisfying store.hpp");
  }

  /// Uses `store` without owning it; it must outlive this object.
  template <class Store>
  [[nodiscard]] static any_store borrow(Store& store) {
    static_assert(is_state_store_v<Store>, "sincehash::any_store requires a store satisfying store.hpp");
    return any_store(std::make_unique<model<Store>>(&store));
  }

  any_store(any_store&&) noexcept = default;
  any_store& operator=(any_store&&) noexcept = default;

  /// A short name of the back end ("memory", "sqlite", "redis", "postgresql", "encrypted ...").
  [[nodiscard]] const std::string& kind() const noexcept { return kind_; }
  /// Sets the name `kind` reports (open_store does).
  void set_kind(std::string kind) { kind_ = std::move(kind); }

  /// See store.hpp.
  [[nodiscard]] store_snapshot snapshot(std::string_view p, const std::vector<std::string_view>& ids) {
    return self_->snapshot(p, ids);
  }
  /// See store.hpp.
  [[nodiscard]] std::vector<std::optional<record_state>> get_many(std::string_view p,
                                                                  const std::vector<std::string_view>& ids) {
    return self_->get_many(p, ids);
  }
  /// See store.hpp.
  void commit(std::string_view p, const commit_batch& batch) { self_->commit(p, batch); }
  /// See store.hpp.
  [[nodiscard]] std::optional<offset_value> offset(std::string_view p) { return self_->offset(p); }
  /// See store.hpp.
  void reset_offset(std::string_view p, bool forget_records) { self_->reset_offset(p, forget_records); }
  /// See store.hpp.
  [[nodiscard]] std::uint32_t intern_fingerprint(std::string_view p, std::string_view text) {
    return self_->intern_fingerprint(p, text);
  }
  /// See store.hpp.
  [[nodiscard]] std::optional<std::string> fingerprint_text(std::string_view p, std::uint32_t id) {
    return self_->fingerprint_text(p, id);
  }
  /// See store.hpp.
  template <class F>
  void for_each(std::string_view p, F&& f) {
    self_->for_each(p, visit_fn(std::ref(f)));
  }
  /// See store.hpp.
  std::size_t purge_expired(instant now) { return self_->purge_all(now); }
  /// See store.hpp.
  std::size_t purge_expired(std::string_view p, instant now) { return self_->purge(p, now); }
  /// See store.hpp.
  [[nodiscard]] std::size_t count(std::string_view p) { return self_->count(p); }
  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> partitions() { return self_->partitions(); }
  /// See store.hpp.
  void begin_rescan(std::string_view p) { self_->begin_rescan(p); }
  /// See store.hpp.
  void abandon_rescan(std::string_view p) { self_->abandon_rescan(p); }
  /// See store.hpp.
  [[nodiscard]] bool rescan_active(std::string_view p) { return self_->rescan_active(p); }
  /// See store.hpp.
  [[nodiscard]] std::vector<std::string> rescan_unseen(std::string_view p) { return self_->rescan_unseen(p); }
  /// See store.hpp.
  [[nodiscard]] std::optional<instant> last_rescan(std::string_view p) { return self_->last_rescan(p); }
  /// See store.hpp and store/lease.hpp.
  [[nodiscard]] lease_result acquire_lease(std::string_view p, std::string_view owner,
                                           std::chrono::milliseconds ttl) {
    return self_->acquire_lease(p, owner, ttl);
  }
  /// See store.hpp and store/lease.hpp.
  [[nodiscard]] bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) {
    return self_->renew_lease(lease, ttl);
  }
  /// See store.hpp and store/lease.hpp.
  bool release_lease(const store_lease& lease) { return self_->release_lease(lease); }

 private:
  struct base {
    virtual ~base() = default;
    virtual store_snapshot snapshot(std::string_view, const std::vector<std::string_view>&) = 0;
    virtual std::vector<std::optional<record_state>> get_many(std::string_view,
                                                              const std::vector<std::string_view>&) = 0;
    virtual void commit(std::string_view, const commit_batch&) = 0;
    virtual std::optional<offset_value> offset(std::string_view) = 0;
    virtual void reset_offset(std::string_view, bool) = 0;
    virtual std::uint32_t intern_fingerprint(std::string_view, std::string_view) = 0;
    virtual std::optional<std::string> fingerprint_text(std::string_view, std::uint32_t) = 0;
    virtual void for_each(std::string_view, const visit_fn&) = 0;
    virtual std::size_t purge_all(instant) = 0;
    virtual std::size_t purge(std::string_view, instant) = 0;
    virtual std::size_t count(std::string_view) = 0;
    virtual std::vector<std::string> partitions() = 0;
    virtual void begin_rescan(std::string_view) = 0;
    virtual void abandon_rescan(std::string_view) = 0;
    virtual bool rescan_active(std::string_view) = 0;
    virtual std::vector<std::string> rescan_unseen(std::string_view) = 0;
    virtual std::optional<instant> last_rescan(std::string_view) = 0;
    virtual lease_result acquire_lease(std::string_view, std::string_view, std::chrono::milliseconds) = 0;
    virtual bool renew_lease(const store_lease&, std::chrono::milliseconds) = 0;
    virtual bool release_lease(const store_lease&) = 0;
  };

  template <class Store>
  struct model final : base {
    std::unique_ptr<Store> owned;
    Store* s;
    explicit model(std::unique_ptr<Store> o) : owned(std::move(o)), s(owned.get()) {}
    explicit model(Store* borrowed) : s(borrowed) {}

    store_snapshot snapshot(std::string_view p, const std::vector<std::string_view>& ids) override {
      return s->snapshot(p, ids);
    }
    std::vector<std::optional<record_state>> get_many(std::string_view p,
                                                      const std::vector<std::string_view>& ids) override {
      return s->get_many(p, ids);
    }
    void commit(std::string_view p, const commit_batch& b) override { s->commit(p, b); }
    std::optional<offset_value> offset(std::string_view p) override { return s->offset(p); }
    void reset_offset(std::string_view p, bool forget) override { s->reset_offset(p, forget); }
    std::uint32_t intern_fingerprint(std::string_view p, std::string_view text) override {
      return s->intern_fingerprint(p, text);
    }
    std::optional<std::string> fingerprint_text(std::string_view p, std::uint32_t id) override {
      return s->fingerprint_text(p, id);
    }
    void for_each(std::string_view p, const visit_fn& f) override { s->for_each(p, f); }
    std::size_t purge_all(instant now) override { return s->purge_expired(now); }
    std::size_t purge(std::string_view p, instant now) override { return s->purge_expired(p, now); }
    std::size_t count(std::string_view p) override { return s->count(p); }
    std::vector<std::string> partitions() override { return s->partitions(); }
    void begin_rescan(std::string_view p) override { s->begin_rescan(p); }
    void abandon_rescan(std::string_view p) override { s->abandon_rescan(p); }
    bool rescan_active(std::string_view p) override { return s->rescan_active(p); }
    std::vector<std::string> rescan_unseen(std::string_view p) override { return s->rescan_unseen(p); }
    std::optional<instant> last_rescan(std::string_view p) override { return s->last_rescan(p); }
    lease_result acquire_lease(std::string_view p, std::string_view owner,
                               std::chrono::milliseconds ttl) override {
      return s->acquire_lease(p, owner, ttl);
    }
    bool renew_lease(const store_lease& lease, std::chrono::milliseconds ttl) override {
      return s->renew_lease(lease, ttl);
    }
    bool release_lease(const store_lease& lease) override { return s->release_lease(lease); }
  };

  explicit any_store(std::unique_ptr<base> self) : self_(std::move(self)) {}

  std::unique_ptr<base> self_;
  std::string kind_;
};

}  // namespace sincehash

#endif  // SINCEHASH_ANY_STORE_HPP
