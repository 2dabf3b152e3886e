#ifndef SINCEHASH_DETAIL_BATCH_READER_HPP
#define SINCEHASH_DETAIL_BATCH_READER_HPP

// The reading half of the detector: every record of a batch parsed and hashed, its id and dates
// read, on one thread or several. Classification is the detector's.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sincehash/access.hpp"
#include "sincehash/cursor.hpp"
#include "sincehash/detail/fork_guard.hpp"
#include "sincehash/detail/hash_types.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/record.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/time.hpp"

namespace sincehash::detail {

// A record after extraction, before classification. Its id and updated text live in the
// batch's arena: first as offsets (the arena grows while records are read), then, once every
// record was read, as views (set by the detector).
struct extracted_record {
  std::size_t index = 0;  // in the batch
  std::size_t id_at = 0, id_size = 0;
  std::size_t updated_at = 0, updated_size = 0;
  std::string_view id;
  value_kind id_kind = value_kind::string;
  std::string_view updated_text;
  value_kind updated_kind = value_kind::missing;
  std::optional<instant> updated;
  std::optional<instant> created;
  digest hash;
  std::string fields;  // per-field digests, when kept (reportChanges)
};

// One record's reading: the record extracted, or why it is invalid.
struct read_slot {
  extracted_record item;
  std::string reason;
  bool ok = false;
  bool is_json = false;  // false when the bytes are not JSON at all
};

// Reads batches of records with up to `threads()` threads. One thread: the calling one, with the
// hasher it is given. More: that many reading threads, started when first needed and kept for the
// batches after, the calling thread waiting for them. Each makes its own copy of the hasher and
// keeps its own arena, allocated on that thread: what a reading thread writes record after record
// then shares no cache line with what another thread writes meanwhile (the one that classifies
// the batch before, or another reader), which would otherwise bounce between the cores' caches
// and cost about a third of the speed of two threads. Not thread-safe: one batch at a time.
template <class Hasher>
class batch_reader {
 public:
  batch_reader() = default;
  // A copy reads with the same number of threads, with threads of its own.
  batch_reader(const batch_reader& other) : threads_(other.threads_) {}
  batch_reader& operator=(const batch_reader& other) {
    if (this != &other) {
      threads_ = other.threads_;
      drop_inherited_pool();
      pool_.reset();
    }
    return *this;
  }
  batch_reader(batch_reader&&) noexcept = default;
  batch_reader& operator=(batch_reader&& other) noexcept {
    if (this != &other) {
      drop_inherited_pool();
      threads_ = other.threads_;
      pool_ = std::move(other.pool_);
    }
    return *this;
  }
  ~batch_reader() { drop_inherited_pool(); }

  // 0 and 1: the calling thread alone; more than 64 count as 64.
  void set_threads(unsigned n) noexcept { threads_ = n == 0 ? 1 : (n > 64 ? 64 : n); }
  [[nodiscard]] unsigned threads() const noexcept { return threads_; }

  // Reads every input into `slots` (one per input, in input order) with `primary` or copies of
  // it, as `settings` say, the ids and updated texts going to `arena`: afterwards every arena
  // offset in `slots` refers to `arena`. Batches under 512 records are read by the calling thread
  // alone, larger ones by at most one thread per 256 records, taking chunks of 64 in turn. What a
  // reading thread throws is rethrown here once all have stopped.
  void read(Hasher& primary, const resource_settings& settings, const std::vector<input_record>& inputs,
            std::vector<read_slot>& slots, std::string& arena) {
    const std::size_t n = inputs.size();
    slots.resize(n);
    std::size_t threads = threads_;
    if (n < 512) threads = 1;
    if (threads > n / 256) threads = std::max<std::size_t>(1, n / 256);
    if (threads <= 1) {
      read_range(primary, settings, arena, inputs, slots, 0, n);
      return;
    }
    drop_inherited_pool();
    if (!pool_) pool_ = std::make_unique<reader_pool>();
    pool_->grow(threads, primary);
    // Threads take chunks of records in turn, so that one slowed down (by another process, or
    // a classification running beside) does not hold the others up.
    constexpr std::size_t chunk = 64;
    const std::size_t chunks = (n + chunk - 1) / chunk;
    std::vector<std::uint8_t> owner(chunks);
    std::atomic<std::size_t> next_chunk{0};
    std::atomic<bool> failed{false};
    pool_->run(threads, [&](std::size_t t, Hasher& hasher, std::string& into) {
      for (;;) {
        const std::size_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
        if (c >= chunks || failed.load(std::memory_order_relaxed)) return;
        owner[c] = static_cast<std::uint8_t>(t);
        try {
          read_range(hasher, settings, into, inputs, slots, c * chunk, std::min(n, (c + 1) * chunk));
        } catch (...) {
          failed = true;
          throw;
        }
      }
    });
    std::vector<std::size_t> base(threads, 0);
    for (std::size_t t = 0; t < threads; ++t) {
      base[t] = arena.size();
      arena += pool_->arena(t);
    }
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t b = base[owner[c]];
      if (b == 0) continue;
      for (std::size_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
        slots[i].item.id_at += b;
        slots[i].item.updated_at += b;
      }
    }
  }

 private:
  // The reading threads: each waits for a batch, reads chunks of it with its own hasher into its
  // own arena, and reports back; stopped and joined when the reader goes.
  class reader_pool {
   public:
    using job_type = std::function<void(std::size_t, Hasher&, std::string&)>;

    reader_pool() = default;
    reader_pool(const reader_pool&) = delete;
    reader_pool& operator=(const reader_pool&) = delete;
    ~reader_pool() {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      wake_.notify_all();
      for (auto& w : workers_) w->thread.join();
    }

    // Starts threads until there are `count`; each copies `primary` on its own thread, and this
    // returns once they all did (`primary` is not read afterwards).
    void grow(std::size_t count, const Hasher& primary) {
      if (workers_.size() >= count) return;
      std::unique_lock<std::mutex> lock(mutex_);
      const std::size_t first = workers_.size();
      for (std::size_t t = first; t < count; ++t) {
        workers_.push_back(std::make_unique<worker>());
        worker& w = *workers_.back();
        try {
          w.thread = std::thread([this, &w, &primary, t] { serve(w, primary, t); });
        } catch (...) {
          workers_.pop_back();
          done_.wait(lock, [&] { return ready_ == workers_.size(); });
          throw;
        }
      }
      done_.wait(lock, [&] { return ready_ == workers_.size(); });
      for (std::size_t t = first; t < count; ++t) {
        if (workers_[t]->failure) std::rethrow_exception(workers_[t]->failure);
      }
    }

    // Runs `job` on the first `count` threads and waits for all of them; rethrows the first
    // exception one of them threw.
    void run(std::size_t count, const job_type& job) {
      std::unique_lock<std::mutex> lock(mutex_);
      job_ = &job;
      active_ = count;
      busy_ = count;
      for (std::size_t t = 0; t < count; ++t) {
        workers_[t]->arena.clear();
        workers_[t]->failure = nullptr;
      }
      ++generation_;
      wake_.notify_all();
      done_.wait(lock, [&] { return busy_ == 0; });
      job_ = nullptr;
      for (std::size_t t = 0; t < count; ++t) {
        if (workers_[t]->failure) std::rethrow_exception(workers_[t]->failure);
      }
    }

    [[nodiscard]] const std::string& arena(std::size_t t) const { return workers_[t]->arena; }

    // True in a child process forked after the threads started: they did not survive the fork.
    [[nodiscard]] bool inherited() const noexcept { return fork_.inherited(); }

   private:
    struct worker {
      std::thread thread;
      std::optional<Hasher> hasher;
      std::string arena;
      std::exception_ptr failure;
    };

    void serve(worker& w, const Hasher& primary, std::size_t t) {
      std::unique_lock<std::mutex> lock(mutex_);
      try {
        w.hasher.emplace(primary);
      } catch (...) {
        w.failure = std::current_exception();
      }
      ++ready_;
      done_.notify_all();
      std::uint64_t seen = generation_;
      for (;;) {
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        if (t >= active_) continue;
        const job_type* job = job_;
        lock.unlock();
        try {
          if (!w.hasher) throw std::runtime_error("a reading thread could not copy the hasher");
          (*job)(t, *w.hasher, w.arena);
        } catch (...) {
          w.failure = std::current_exception();
        }
        lock.lock();
        if (--busy_ == 0) done_.notify_all();
      }
    }

    std::mutex mutex_;
    std::condition_variable wake_;  // a job, or stopping
    std::condition_variable done_;  // a thread ready, or every active thread done
    std::vector<std::unique_ptr<worker>> workers_;
    const job_type* job_ = nullptr;
    std::uint64_t generation_ = 0;
    std::size_t active_ = 0;  // the threads that take part in the current job
    std::size_t busy_ = 0;    // of them, those not done yet
    std::size_t ready_ = 0;   // threads started that copied the hasher
    bool stopping_ = false;
    fork_guard fork_;
  };

  // In a process forked from the one that started the reading threads, the pool is left as it
  // is, neither stopped nor joined (its threads are not there, its lock may be held for ever),
  // and its memory is not given back; reading starts threads anew.
  void drop_inherited_pool() noexcept {
    if (pool_ && pool_->inherited()) (void)pool_.release();
  }

  unsigned threads_ = 1;
  std::unique_ptr<reader_pool> pool_;  // the reading threads, once more than one was needed

  // Reads inputs[lo, hi) into slots with `hasher`, ids and dates going to `arena`.
  static void read_range(Hasher& hasher, const resource_settings& settings, std::string& arena,
                         const std::vector<input_record>& inputs, std::vector<read_slot>& slots,
                         std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) {
      read_slot& slot = slots[i];
      slot.item.index = i;
      slot.ok = extract(hasher, settings, arena, inputs[i], slot.item, slot.reason, slot.is_json);
    }
  }

  // Reads id, dates and digest in one pass. False with a reason when the record is invalid.
  static bool extract(Hasher& hasher, const resource_settings& settings, std::string& arena,
                      const input_record& in, extracted_record& item, std::string& reason, bool& is_json) {
    auto read = hasher.read(in.bytes, in.padding);
    if (!read) {
      is_json = read.error().code != errc::parse_error;
      reason = read.error().message;
      if (read.error().code == errc::parse_error) {
        if (reason.rfind("not JSON", 0) != 0) reason.insert(0, "not JSON: ");
        if (read.error().position != no_position)
          reason += " (at byte " + std::to_string(read.error().position) + ")";
      }
      return false;
    }
    is_json = true;
    const value_view& id = read->extra(0);
    if (id.kind == value_kind::string || id.kind == value_kind::number) {
      item.id_at = arena.size();
      item.id_size = id.text.size();
      arena.append(id.text.data(), id.text.size());
      item.id_kind = id.kind;
    }
    if (id.kind == value_kind::missing) {
      reason = "no id: field \"" + settings.id_field.text() + "\" is missing";
      return false;
    }
    if (id.kind != value_kind::string && id.kind != value_kind::number) {
      reason = "the id field \"" + settings.id_field.text() + "\" is not a string or a number";
      return false;
    }
    if (item.id_size == 0) {
      reason = "the id field \"" + settings.id_field.text() + "\" is empty";
      return false;
    }
    item.hash = read->hash;
    item.fields.assign(read->fields.data(), read->fields.size());
    std::size_t next = 1;
    if (settings.updated) {
      const value_view& v = read->extra(next++);
      if (v.kind != value_kind::string && v.kind != value_kind::number) {
        reason =
            std::string(settings.cursor == cursor_kind::instant ? "no updated date" : "no updated value") +
            ": field \"" + settings.updated->path.text() + "\" is " +
            (v.kind == value_kind::missing ? "missing" : "not a string or a number");
        return false;
      }
      switch (settings.cursor) {
        case cursor_kind::instant: {
          auto t = settings.updated->format.parse(v.text, v.kind == value_kind::number);
          if (!t) {
            reason = "unparseable updated date \"" + std::string(v.text) + "\": " + t.error().describe();
            return false;
          }
          item.updated = *t;
          break;
        }
        case cursor_kind::integer: {
          // Kept in `updated` as nanoseconds since the epoch: the order is the integers' order,
          // so an older copy is stale as with dates.
          auto n = parse_cursor_integer(v.text);
          if (!n) {
            reason = "bad updated value for an integer cursor: " + n.error().message;
            return false;
          }
          item.updated = instant(std::chrono::nanoseconds(*n));
          break;
        }
        case cursor_kind::string:
          break;  // no `updated`: string cursors have no stale detection
      }
      item.updated_at = arena.size();
      item.updated_size = v.text.size();
      arena.append(v.text.data(), v.text.size());
      item.updated_kind = v.kind;
    }
    if (settings.created) {
      const value_view& v = read->extra(next++);
      if (v.kind == value_kind::string || v.kind == value_kind::number) {
        auto t = settings.created->format.parse(v.text, v.kind == value_kind::number);
        if (!t) {
          reason = "unparseable created date \"" + std::string(v.text) + "\": " + t.error().describe();
          return false;
        }
        item.created = *t;
      } else if (v.kind != value_kind::missing && v.kind != value_kind::null) {
        reason = "the created date field \"" + settings.created->path.text() + "\" is " +
                 json_kind_name(v.kind) + ", not a string or a number";
        return false;
      }
    }
    return true;
  }
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_BATCH_READER_HPP
