#ifndef SINCEHASH_EXAMPLES_HTTP_SUPPORT_HPP
#define SINCEHASH_EXAMPLES_HTTP_SUPPORT_HPP

// What the HTTP examples share: reading `http://host:port/path` arguments, a clean shutdown on
// SIGINT/SIGTERM, and serving on a port the operating system picks.

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace example {

/// The parts of a plain `http://host:port[/path]` URL.
struct http_url {
  std::string host;
  int port = 80;
  std::string path;  ///< "/" when the URL has none
};

/// Splits `http://host[:port][/path]`; nullopt for anything else (https is not spoken here).
inline std::optional<http_url> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
  url.remove_prefix(scheme.size());
  const std::size_t slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  http_url out;
  out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const std::size_t colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    const std::string_view digits = authority.substr(colon + 1);
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    out.port = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      out.port = out.port * 10 + (c - '0');
    }
    if (out.port == 0 || out.port > 65535) return std::nullopt;
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

/// Turns SIGINT and SIGTERM into a shutdown request. Construct it first in `main`, before any
/// thread starts: it blocks both signals in the calling thread, every thread started later
/// inherits that, and a watcher thread takes them with `sigtimedwait` — so no code runs in a
/// signal handler. Member functions are thread-safe.
class shutdown_signal {
 public:
  shutdown_signal() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    watcher_ = std::thread([this] { watch(); });
  }
  shutdown_signal(const shutdown_signal&) = delete;
  shutdown_signal& operator=(const shutdown_signal&) = delete;
  ~shutdown_signal() {
    finished_ = true;
    watcher_.join();
  }

  /// True once a signal arrived or `request` was called.
  [[nodiscard]] bool requested() const noexcept { return requested_; }

  /// Requests the shutdown as a signal would.
  void request() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requested_ = true;
    }
    wake_.notify_all();
  }

  /// Sleeps up to `duration`; returns early, with true, when the shutdown is requested.
  bool wait_for(std::chrono::milliseconds duration) {
    std::unique_lock<std::mutex> lock(mutex_);
    return wake_.wait_for(lock, duration, [this] { return requested_.load(); });
  }

 private:
  sigset_t signals_{};
  std::atomic<bool> requested_{false};
  std::atomic<bool> finished_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread watcher_;

  void watch() {
    const timespec tick{0, 100 * 1000 * 1000};  // how often `finished_` is looked at
    while (!finished_) {
      if (sigtimedwait(&signals_, nullptr, &tick) > 0) request();
    }
  }
};

/// Binds `server` to 127.0.0.1 on a port the system picks, prints `listening 127.0.0.1:PORT`
/// (one flushed line on stdout, what scripts wait for) and serves until `shutdown` is requested.
/// Returns the process exit status.
inline int serve_on_loopback(httplib::Server& server, shutdown_signal& shutdown) {
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port < 0) {
    std::fprintf(stderr, "cannot bind a port on 127.0.0.1\n");
    return 1;
  }
  std::printf("listening 127.0.0.1:%d\n", port);
  std::fflush(stdout);

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    while (!shutdown.wait_for(std::chrono::milliseconds(100))) {
      if (stopped) return;
    }
    // `stop` does nothing until `listen_after_bind` runs, so repeat it until the server returns.
    while (!stopped) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const bool served = server.listen_after_bind();
  stopped = true;
  stopper.join();
  return (served || shutdown.requested()) ? 0 : 1;
}

/// Answers `status` with `body` as JSON.
inline void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

/// Answers `status` with `{"error": message}`.
inline void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply_json(res, status, nlohmann::json{{"error", message}});
}

}  // namespace example

#endif  // SINCEHASH_EXAMPLES_HTTP_SUPPORT_HPP
