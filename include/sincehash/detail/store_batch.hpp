#ifndef SINCEHASH_DETAIL_STORE_BATCH_HPP
#define SINCEHASH_DETAIL_STORE_BATCH_HPP

// Shared by the store back ends: a commit batch turned into key-ordered row operations.

#include <sincehash/detail/state_codec.hpp>
#include <sincehash/detail/store_errors.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sincehash::detail {

enum class store_op_kind : std::uint8_t { upsert, erase };

struct store_op {
  store_op_kind kind;
  std::uint32_t index;  // into commit_batch::upserts or ::erasures
};

struct store_plan {
  std::vector<store_op> ops;         // byte-wise id order, one per distinct id
  std::vector<std::uint32_t> marks;  // into rescan_seen: sorted, distinct, none upserted or erased
  std::size_t upsert_count = 0;      // distinct upserted ids
};

[[nodiscard]] inline std::string_view store_op_id(const commit_batch& batch, const store_op& op) noexcept {
  return op.kind == store_op_kind::upsert ? std::string_view(batch.upserts[op.index].first)
                                          : std::string_view(batch.erasures[op.index]);
}

// Indices of `n` ids sorted by id, keeping for each distinct id only the last index.
template <class IdOf>
[[nodiscard]] std::vector<std::uint32_t> store_sorted_last(std::size_t n, IdOf id_of) {
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return id_of(a) < id_of(b); });
  std::vector<std::uint32_t> out;
  out.reserve(n);
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i + 1 < order.size() && id_of(order[i]) == id_of(order[i + 1])) continue;
    out.push_back(order[i]);
  }
  return out;
}

// Validates `batch` and orders its writes. Throws `errc::invalid_argument` for an id both
// upserted and erased, a malformed digest, or a batch too large to index with 32 bits.
[[nodiscard]] inline store_plan plan_commit(const commit_batch& batch) {
  constexpr std::size_t limit = 0xFFFFFFFFu;
  if (batch.upserts.size() > limit || batch.erasures.size() > limit || batch.rescan_seen.size() > limit) {
    throw error(errc::invalid_argument, "a commit batch holds more than 2^32-1 entries in one list");
  }
  for (const auto& u : batch.upserts) {
    if (!digest_well_formed(u.second.hash)) {
      throw error(errc::invalid_argument,
                  "the digest of record id '" + u.first +
                      "' is malformed: bits must be 0 (all zero), 64 (high zero) or 128");
    }
  }
  auto ups = store_sorted_last(batch.upserts.size(),
                               [&](std::uint32_t i) { return std::string_view(batch.upserts[i].first); });
  auto ers = store_sorted_last(batch.erasures.size(),
                               [&](std::uint32_t i) { return std::string_view(batch.erasures[i]); });
  store_plan plan;
  plan.upsert_count = ups.size();
  plan.ops.reserve(ups.size() + ers.size());
  std::size_t u = 0;
  std::size_t e = 0;
  while (u < ups.size() || e < ers.size()) {
    if (e == ers.size() || (u < ups.size() && std::string_view(batch.upserts[ups[u]].first) <
                                                  std::string_view(batch.erasures[ers[e]]))) {
      plan.ops.push_back({store_op_kind::upsert, ups[u++]});
    } else if (u == ups.size() ||
               std::string_view(batch.erasures[ers[e]]) < std::string_view(batch.upserts[ups[u]].first)) {
      plan.ops.push_back({store_op_kind::erase, ers[e++]});
    } else {
      throw error(errc::invalid_argument,
                  "record id '" + batch.erasures[ers[e]] + "' is both upserted and erased in one commit");
    }
  }
  auto marks = store_sorted_last(batch.rescan_seen.size(),
                                 [&](std::uint32_t i) { return std::string_view(batch.rescan_seen[i]); });
  plan.marks.reserve(marks.size());
  std::size_t k = 0;
  for (std::uint32_t m : marks) {
    std::string_view id = batch.rescan_seen[m];
    while (k < plan.ops.size() && store_op_id(batch, plan.ops[k]) < id) ++k;
    if (k < plan.ops.size() && store_op_id(batch, plan.ops[k]) == id) continue;
    plan.marks.push_back(m);
  }
  return plan;
}

// Calls a commit's `fault_hook` (when set) before each row write, with the write's 0-based index.
class store_write_steps {
 public:
  explicit store_write_steps(const fault_hook& hook) noexcept : hook_(hook) {}
  void operator()() {
    if (hook_) hook_(step_);
    ++step_;
  }

 private:
  const fault_hook& hook_;
  std::size_t step_ = 0;
};

// A snapshot of `n` ids before anything is read: no offset, no rescan, sequence 0, no states.
[[nodiscard]] inline store_snapshot store_empty_snapshot(std::size_t n) {
  store_snapshot out;
  out.states.resize(n);
  out.versions.assign(n, 0);
  return out;
}

// True when committing `proposed` over `stored` moves the offset forward (throws
// `errc::invalid_argument` when their kinds differ).
[[nodiscard]] inline bool store_offset_advances(const std::optional<offset_value>& stored,
                                                const offset_value& proposed) {
  return !stored || compare_offsets(proposed, *stored) > 0;
}

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_BATCH_HPP
