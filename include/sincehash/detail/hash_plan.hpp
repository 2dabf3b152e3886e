#ifndef SINCEHASH_DETAIL_HASH_PLAN_HPP
#define SINCEHASH_DETAIL_HASH_PLAN_HPP

// The compiled form of a hasher's paths: a trie over path segments in which every node says
// whether its value is a watched slot, ignored, normalized, or an extracted extra value.
// Built once, read-only afterwards (safe to share between threads).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sincehash/error.hpp"
#include "sincehash/field_path.hpp"

namespace sincehash::detail {

enum : std::uint8_t { norm_trim = 1, norm_lower = 2, norm_instant = 4 };

/// Most extra values a hasher can extract per record.
inline constexpr std::size_t max_extras = 64;

struct plan_node {
  std::uint32_t first_edge = 0;
  std::uint32_t edge_count = 0;
  std::int32_t slot = -1;     // watched slot captured at this node, or -1
  std::uint32_t slot_lo = 0;  // slots inside this subtree: [slot_lo, slot_hi)
  std::uint32_t slot_hi = 0;
  std::uint64_t extras = 0;          // extras read at this node (bit i = extra i)
  std::uint64_t subtree_extras = 0;  // extras at this node or below
  std::uint8_t norm = 0;             // normalizers configured at this node
  bool ignored = false;              // left out of any encoding it lies in
  bool index_children = false;       // some child key is an array index
  std::uint64_t child_lengths = 0;   // bit n: a child key of n bytes (bit 63: 63 bytes or more)
};

// The bit of `child_lengths` that a key of `size` bytes falls under.
inline std::uint64_t length_bit(std::size_t size) noexcept {
  return std::uint64_t{1} << (size < 63 ? size : 63);
}

// The first (up to) 8 bytes of a key, packed: compared before the bytes themselves.
inline std::uint64_t key_head(std::string_view key) noexcept {
  std::uint64_t h = 0;
  if (key.size() >= 8) {
    std::memcpy(&h, key.data(), 8);
    return h;
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    h |= std::uint64_t{static_cast<unsigned char>(key[i])} << (8 * i);
  }
  return h;
}

// The last 8 bytes of a key longer than 8 bytes (else 0): with the head, all of a key of up to 16.
inline std::uint64_t key_tail(std::string_view key) noexcept {
  std::uint64_t t = 0;
  if (key.size() > 8) std::memcpy(&t, key.data() + key.size() - 8, 8);
  return t;
}

struct plan_edge {
  std::string key;
  std::uint32_t child = 0;
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
};

class hash_plan {
 public:
  struct normalized_path {
    field_path path;
    std::uint8_t bits = 0;
  };

  /// `watched` must be sorted and free of duplicates; an empty `watched` makes the root slot 0
  /// (whole-record mode).
  static hash_plan build(const std::vector<field_path>& watched, const std::vector<field_path>& ignored,
                         const std::vector<normalized_path>& normalized,
                         const std::vector<field_path>& extras) {
    struct tmp_node {
      std::map<std::string, std::uint32_t> children;
      plan_node info;
    };
    std::vector<tmp_node> tmp(1);
    auto insert = [&](const field_path& p) {
      std::uint32_t at = 0;
      for (const auto& seg : p.segments()) {
        auto it = tmp[at].children.find(seg.key);
        if (it == tmp[at].children.end()) {
          auto next = static_cast<std::uint32_t>(tmp.size());
          tmp[at].children.emplace(seg.key, next);
          tmp.emplace_back();
          at = next;
        } else {
          at = it->second;
        }
      }
      return at;
    };
    hash_plan plan;
    plan.whole_record_ = watched.empty();
    plan.slot_count_ = watched.empty() ? 1 : watched.size();
    plan.extra_count_ = extras.size();
    if (watched.empty()) {
      tmp[0].info.slot = 0;
    } else {
      for (std::size_t i = 0; i < watched.size(); ++i)
        tmp[insert(watched[i])].info.slot = static_cast<std::int32_t>(i);
    }
    for (const auto& p : ignored) tmp[insert(p)].info.ignored = true;
    for (const auto& n : normalized) tmp[insert(n.path)].info.norm |= n.bits;
    for (std::size_t i = 0; i < extras.size(); ++i)
      tmp[insert(extras[i])].info.extras |= std::uint64_t{1} << i;

    // Flatten breadth-first so that every node's edges are contiguous.
    std::vector<std::uint32_t> order{0};
    std::vector<std::uint32_t> new_index(tmp.size(), 0);
    for (std::size_t k = 0; k < order.size(); ++k) {
      for (const auto& c : tmp[order[k]].children) {
        new_index[c.second] = static_cast<std::uint32_t>(order.size());
        order.push_back(c.second);
      }
    }
    plan.nodes_.resize(tmp.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
      tmp_node& t = tmp[order[k]];
      plan_node& n = plan.nodes_[k];
      n = t.info;
      n.first_edge = static_cast<std::uint32_t>(plan.edges_.size());
      n.edge_count = static_cast<std::uint32_t>(t.children.size());
      for (const auto& c : t.children) {
        plan.edges_.push_back(plan_edge{c.first, new_index[c.second], key_head(c.first), key_tail(c.first)});
        n.child_lengths |= length_bit(c.first.size());
        if (field_path::index_value(c.first) != field_path::npos) n.index_children = true;
      }
      std::sort(plan.edges_.begin() + n.first_edge, plan.edges_.end(),
                [](const plan_edge& a, const plan_edge& b) {
                  return a.key.size() != b.key.size() ? a.key.size() < b.key.size() : a.key < b.key;
                });
    }
    // Subtree summaries, children before parents (reverse breadth-first order).
    for (std::size_t k = plan.nodes_.size(); k-- > 0;) {
      plan_node& n = plan.nodes_[k];
      std::uint32_t lo = n.slot >= 0 ? static_cast<std::uint32_t>(n.slot) : UINT32_MAX;
      std::uint32_t hi = n.slot >= 0 ? static_cast<std::uint32_t>(n.slot) + 1 : 0;
      n.subtree_extras = n.extras;
      for (std::uint32_t e = n.first_edge; e < n.first_edge + n.edge_count; ++e) {
        const plan_node& c = plan.nodes_[plan.edges_[e].child];
        n.subtree_extras |= c.subtree_extras;
        if (c.slot_lo < c.slot_hi) {
          lo = std::min(lo, c.slot_lo);
          hi = std::max(hi, c.slot_hi);
        }
      }
      n.slot_lo = lo == UINT32_MAX ? 0 : lo;
      n.slot_hi = lo == UINT32_MAX ? 0 : hi;
    }
    // Normalizers in effect for each slot: those configured on the slot's path or above it.
    plan.slot_norm_.assign(plan.slot_count_, 0);
    if (!watched.empty()) {
      for (std::size_t i = 0; i < watched.size(); ++i) {
        const plan_node* at = plan.root();
        std::uint8_t bits = at->norm;
        for (const auto& seg : watched[i].segments()) {
          at = plan.child(at, seg.key);
          bits |= at->norm;
        }
        plan.slot_norm_[i] = bits;
      }
    } else {
      plan.slot_norm_[0] = plan.root()->norm;
    }
    return plan;
  }

  [[nodiscard]] const plan_node* root() const noexcept { return nodes_.data(); }

  /// The child of `node` reached by `key`, or nullptr.
  [[nodiscard]] const plan_node* child(const plan_node* node, std::string_view key) const noexcept {
    // Most keys of a record lead nowhere, most of them told by their length alone: that test
    // stays small enough to be inlined into the walk wherever the compiler puts the rest.
    if ((node->child_lengths & length_bit(key.size())) == 0) return nullptr;
    return child_by_key(node, key);
  }

  /// The edges leaving `node`.
  [[nodiscard]] const plan_edge* edges_begin(const plan_node* node) const noexcept {
    return edges_.data() + node->first_edge;
  }
  [[nodiscard]] const plan_edge* edges_end(const plan_node* node) const noexcept {
    return edges_.data() + node->first_edge + node->edge_count;
  }
  [[nodiscard]] const plan_node* node(std::uint32_t index) const noexcept { return nodes_.data() + index; }

  [[nodiscard]] bool whole_record() const noexcept { return whole_record_; }
  [[nodiscard]] std::size_t slot_count() const noexcept { return slot_count_; }
  [[nodiscard]] std::size_t extra_count() const noexcept { return extra_count_; }
  [[nodiscard]] std::uint8_t slot_norm(std::size_t slot) const noexcept { return slot_norm_[slot]; }

 private:
  // `child` past the length test.
  [[nodiscard]] const plan_node* child_by_key(const plan_node* node, std::string_view key) const noexcept {
    const plan_edge* e = edges_.data() + node->first_edge;
    const plan_edge* end = e + node->edge_count;
    while (e != end && e->key.size() < key.size()) ++e;
    if (e == end || e->key.size() != key.size()) return nullptr;
    const std::uint64_t head = key_head(key);
    const std::uint64_t tail = key_tail(key);
    for (; e != end && e->key.size() == key.size(); ++e) {
      if (e->head != head || e->tail != tail) continue;
      if (key.size() <= 16 || std::memcmp(e->key.data() + 8, key.data() + 8, key.size() - 16) == 0) {
        return nodes_.data() + e->child;
      }
    }
    return nullptr;
  }

  std::vector<plan_node> nodes_;
  std::vector<plan_edge> edges_;
  std::vector<std::uint8_t> slot_norm_;
  std::size_t slot_count_ = 0;
  std::size_t extra_count_ = 0;
  bool whole_record_ = true;
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_HASH_PLAN_HPP
