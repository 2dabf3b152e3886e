#ifndef SINCEHASH_PARTITION_LEASE_HPP
#define SINCEHASH_PARTITION_LEASE_HPP

// Holding a partition's lease for the length of a run: acquired at start (waiting up to a
// bound), renewed in the background, released at the end. A lease names its holder — host,
// process id and the process's start time — so that a lease left by a process that died on this
// host (a crash, SIGKILL) is taken over at once instead of being waited out.

#include <sincehash/detail/fork_guard.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store/lease.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <sys/types.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>

namespace sincehash {

/// Who holds a lease: host name, process id and the process's start time (clock ticks after
/// boot, as /proc shows it; 0 where unknown), written as `host=H pid=P started=S`.
struct lease_holder {
  std::string host;
  long pid = 0;
  unsigned long long started = 0;

  /// This process.
  [[nodiscard]] static lease_holder self() {
    lease_holder h;
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0) h.host = name;
    if (h.host.empty()) h.host = "localhost";
    h.pid = static_cast<long>(::getpid());
    h.started = start_time(h.pid).value_or(0);
    return h;
  }

  /// `host=H pid=P started=S`.
  [[nodiscard]] std::string text() const {
    return "host=" + host + " pid=" + std::to_string(pid) + " started=" + std::to_string(started);
  }

  /// Reads `text()`'s form back; nullopt for an owner written otherwise.
  [[nodiscard]] static std::optional<lease_holder> parse(std::string_view owner) {
    lease_holder h;
    std::istringstream in{std::string(owner)};
    std::string host, pid, started;
    if (!(in >> host >> pid >> started)) return std::nullopt;
    if (host.rfind("host=", 0) != 0 || pid.rfind("pid=", 0) != 0 || started.rfind("started=", 0) != 0)
      return std::nullopt;
    h.host = host.substr(5);
    try {
      h.pid = std::stol(pid.substr(4));
      h.started = std::stoull(started.substr(8));
    } catch (...) {
      return std::nullopt;
    }
    return h;
  }

  /// True when this holder is a process of this host that no longer runs (its pid is gone, or
  /// now belongs to a process started at another time). False when unsure.
  [[nodiscard]] bool dead_on_this_host() const {
    if (host != self().host || pid <= 0) return false;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
    const std::optional<unsigned long long> now_started = start_time(pid);
    return started != 0 && now_started && *now_started != started;
  }

 private:
  static std::optional<unsigned long long> start_time(long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    const std::size_t close = line.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22; ++i) {  // fields 3.. after "pid (comm)"; 22 is starttime
      if (!(rest >> field)) return std::nullopt;
    }
    try {
      return std::stoull(field);
    } catch (...) {
      return std::nullopt;
    }
  }
};

/// Thrown when a partition's lease is held by another run past the wait allowed.
class partition_busy : public error {
 public:
  partition_busy(std::string partition, std::string holder, std::chrono::milliseconds remaining)
      : error(errc::busy, "partition busy: '" + partition + "' is held by " + holder + " (for " +
                              std::to_string(remaining.count()) + " ms more unless renewed)"),
        holder_(std::move(holder)) {}
  /// The holder's owner text.
  [[nodiscard]] const std::string& holder() const noexcept { return holder_; }

 private:
  std::string holder_;
};

/// Reads how long to wait for a lease: a whole number with a unit (`500ms`, `30s`, `2m`, `1h`),
/// an ISO 8601 duration (`PT2M`) or whole seconds (`30`). Errors name what is wrong.
[[nodiscard]] inline result<std::chrono::milliseconds> parse_wait(std::string_view text) {
  struct unit {
    std::string_view suffix;
    std::int64_t ms;
  };
  static constexpr unit units[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  for (const unit& u : units) {
    if (text.size() <= u.suffix.size() || text.substr(text.size() - u.suffix.size()) != u.suffix) continue;
    const std::string_view digits = text.substr(0, text.size() - u.suffix.size());
    std::int64_t n = 0;
    bool ok = !digits.empty();
    for (char c : digits) {
      if (c < '0' || c > '9' || n > (std::int64_t{1} << 40)) {
        ok = false;
        break;
      }
      n = n * 10 + (c - '0');
    }
    if (ok) return std::chrono::milliseconds(n * u.ms);
  }
  auto d = parse_duration(text);
  if (!d) {
    return fail(
        errc::invalid_argument,
        "expected a duration such as 500ms, 30s, 2m, PT2M or whole seconds (" + d.error().message + ")");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

/// How `partition_lease` acquires and keeps a lease.
struct partition_lease_options {
  std::chrono::milliseconds ttl{30'000};  ///< the lease lapses this long after its last renewal
  std::chrono::milliseconds wait{0};      ///< how long to wait for a held lease; 0 = not at all
  std::chrono::milliseconds poll{250};    ///< how often to try again while waiting
};

/// Holds the lease of one partition of `Store` (any store with `acquire_lease`, `renew_lease` and
/// `release_lease`) from construction to destruction, renewing it every third of its ttl on a
/// background thread. The store's commits on the partition are fenced with the lease's token
/// meanwhile, so a run that lost its lease (paused past it) cannot commit. Not copyable.
template <class Store>
class partition_lease {
 public:
  /// Acquires the lease of `partition` for this process (`lease_holder::self()`). A lease whose
  /// holder is a dead process of this host is taken over at once. Throws `partition_busy` when
  /// another holder keeps it past `options.wait`, and what the store throws.
  partition_lease(Store& store, std::string partition, partition_lease_options options = {})
      : store_(&store), options_(options) {
    const std::string owner = lease_holder::self().text();
    const auto deadline = std::chrono::steady_clock::now() + options_.wait;
    for (;;) {
      lease_result r = store_->acquire_lease(partition, owner, options_.ttl);
      if (r.granted) {
        lease_ = r.lease;
        break;
      }
      const std::optional<lease_holder> holder = lease_holder::parse(r.lease.owner);
      if (holder && holder->dead_on_this_host()) {
        r.lease.partition = partition;
        (void)store_->release_lease(r.lease);  // false when it changed hands meanwhile: try again
        continue;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw partition_busy(partition, r.lease.owner, r.remaining);
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          options_.poll, deadline - std::chrono::steady_clock::now()));
    }
    renewal_ = std::make_unique<renewal>();
    renewal_->thread = std::thread([this] { renew_loop(); });
  }

  partition_lease(const partition_lease&) = delete;
  partition_lease& operator=(const partition_lease&) = delete;

  /// Stops renewing and releases the lease (errors are swallowed: the lease then lapses). In a
  /// child process forked while the lease was held, it does neither: the lease is the parent's,
  /// which goes on renewing it, and the renewing thread is not in the child (its state is left
  /// as it is, its memory not given back).
  ~partition_lease() {
    if (fork_.inherited()) {
      (void)renewal_.release();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(renewal_->mutex);
      renewal_->stop = true;
    }
    renewal_->wake.notify_all();
    if (renewal_->thread.joinable()) renewal_->thread.join();
    try {
      (void)store_->release_lease(lease_);
    } catch (...) {
    }
  }

  /// The lease held.
  [[nodiscard]] const store_lease& lease() const noexcept { return lease_; }

  /// True once a renewal found the lease gone (expired and taken by another run, or lost).
  [[nodiscard]] bool lost() const {
    std::lock_guard<std::mutex> lock(renewal_->mutex);
    return renewal_->lost;
  }

 private:
  void renew_loop() {
    renewal& r = *renewal_;
    std::unique_lock<std::mutex> lock(r.mutex);
    while (!r.stop) {
      if (r.wake.wait_for(lock, options_.ttl / 3, [&r] { return r.stop; })) return;
      lock.unlock();
      bool held = false;
      try {
        held = store_->renew_lease(lease_, options_.ttl);
      } catch (...) {
        held = true;  // a failed round trip: try again at the next tick; the lease may still run
      }
      lock.lock();
      if (!held) {
        r.lost = true;
        return;
      }
    }
  }

  // The renewing thread and what it shares with the holder; on the heap, so that a forked child
  // can leave it alone.
  struct renewal {
    std::mutex mutex;
    std::condition_variable wake;
    bool stop = false;
    bool lost = false;
    std::thread thread;
  };

  Store* store_;
  partition_lease_options options_;
  store_lease lease_;
  detail::fork_guard fork_;
  std::unique_ptr<renewal> renewal_;
};

}  // namespace sincehash

#endif  // SINCEHASH_PARTITION_LEASE_HPP
