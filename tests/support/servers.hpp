#ifndef SINCEHASH_TESTS_SUPPORT_SERVERS_HPP
#define SINCEHASH_TESTS_SUPPORT_SERVERS_HPP

// Test support: real Redis and PostgreSQL servers started from the Debian packages' binaries,
// bound to 127.0.0.1 on a free port, with their data in a temporary directory, stopped (and the
// directory removed) when the object is destroyed. A server that dies with the test process is
// stopped too (parent-death signal). A missing binary throws std::runtime_error naming the
// package to install: a test that needs a server fails, it never passes silently.
//
// As root, PostgreSQL (which refuses to run as root) runs as the `postgres` user (or `nobody`)
// and owns its directory.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sincehash_test {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed with everything in it.
class temp_dir {
 public:
  explicit temp_dir(const std::string& tag) {
    std::string pattern = (fs::temp_directory_path() / ("sincehash-" + tag + "-XXXXXX")).string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw std::runtime_error("cannot create a temporary directory: " + std::string(std::strerror(errno)));
    path_ = buf.data();
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// A TCP port on 127.0.0.1 that nobody listened on a moment ago.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t n = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// The full path of program `name`: from PATH, or the newest /usr/lib/postgresql/*/bin for the
// PostgreSQL server programs. Throws naming the Debian package that provides it.
inline std::string find_program(const std::string& name, const std::string& package) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  std::vector<fs::path> versions;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    versions.push_back(e.path() / "bin");
  std::sort(versions.begin(), versions.end(), [](const fs::path& a, const fs::path& b) {
    return std::atoi(a.parent_path().filename().c_str()) > std::atoi(b.parent_path().filename().c_str());
  });
  dirs.insert(dirs.end(), versions.begin(), versions.end());
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.emplace_back(d);
  }
  for (const fs::path& d : dirs) {
    fs::path p = d / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  throw std::runtime_error("the test needs the program '" + name + "' (Debian package " + package +
                           "), which is not installed: run scripts/deps.sh test");
}

// The user an unprivileged server runs as when the tests run as root: postgres, else nobody.
struct run_as {
  uid_t uid = 0;
  gid_t gid = 0;
  bool active = false;
};

inline run_as unprivileged() {
  run_as r;
  if (::geteuid() != 0) return r;
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name)) {
      r.uid = pw->pw_uid;
      r.gid = pw->pw_gid;
      r.active = true;
      return r;
    }
  }
  throw std::runtime_error(
      "running as root, but neither the user 'postgres' nor 'nobody' exists to run "
      "PostgreSQL as");
}

// A child process running `argv`, its output appended to `log`; killed with `stop_signal` (then
// SIGKILL after 10 s) when destroyed, and by the kernel when this process dies.
class child_process {
 public:
  child_process() = default;
  child_process(const std::vector<std::string>& argv, const fs::path& log, run_as user, int stop_signal)
      : stop_signal_(stop_signal) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      int null_in = ::open("/dev/null", O_RDONLY);
      if (null_in >= 0) ::dup2(null_in, 0);
      if (user.active) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) ::_exit(126);
      }
      ::prctl(PR_SET_PDEATHSIG, stop_signal);
      if (::getppid() != parent) ::_exit(125);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  child_process(child_process&& o) noexcept : pid_(o.pid_), stop_signal_(o.stop_signal_) { o.pid_ = -1; }
  child_process& operator=(child_process&& o) noexcept {
    if (this != &o) {
      stop();
      pid_ = o.pid_;
      stop_signal_ = o.stop_signal_;
      o.pid_ = -1;
    }
    return *this;
  }
  ~child_process() { stop(); }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // True while the child has not exited.
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  // Waits for the child to exit; its wait status.
  int wait() {
    if (pid_ <= 0) return exit_status_;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    exit_status_ = status;
    return status;
  }

  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, stop_signal_);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int stop_signal_ = SIGTERM;
  int exit_status_ = 0;
};

inline std::string tail_of_all(const fs::path& log) {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string tail_of(const fs::path& log) {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

// Runs a program to completion; throws with its output when it fails.
inline void run_program(const std::vector<std::string>& argv, const fs::path& log, run_as user) {
  child_process p(argv, log, user, SIGTERM);
  int status = p.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " failed (wait status " + std::to_string(status) + "):\n" +
                             tail_of(log));
  }
}

// True when the file at `log` holds `text`.
inline bool log_says(const fs::path& log, const std::string& text) {
  return tail_of_all(log).find(text) != std::string::npos;
}

template <class Ready>
void wait_until_ready(child_process& p, const std::string& name, const fs::path& log, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready()) {
    if (!p.running()) throw std::runtime_error(name + " exited while starting:\n" + tail_of(log));
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(name + " did not become ready within 60 s:\n" + tail_of(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Starts a server on a free port, up to 5 times: another process may take the port between
// `free_port` and the server's bind. `start(port, log)` returns the running child; the server is
// ready once its log says `ready_text`.
template <class Start>
child_process start_on_free_port(const std::string& name, const fs::path& dir, const std::string& ready_text,
                                 int& port, Start start) {
  std::string failures;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port = free_port();
    const fs::path log = dir / (name + "-" + std::to_string(attempt) + ".log");
    child_process p = start(port, log);
    try {
      wait_until_ready(p, name, log, [&] { return log_says(log, ready_text); });
      return p;
    } catch (const std::exception& e) {
      failures += std::string("\n") + e.what();
    }
  }
  throw std::runtime_error(name + " could not be started on 127.0.0.1:" + failures);
}

// A TCP relay on 127.0.0.1 in front of a server, counting round trips from the wire. By default
// each time a client sends after the server last answered it (or for the first time) starts a new
// round trip, so a client that writes several commands and then reads all their answers makes
// one. That reading miscounts when the server answers the start of a long pipeline (an early
// error) while the client is still writing its end; with `wire::postgres` the relay reads the
// client's protocol messages instead and counts what makes a PostgreSQL client wait: each Sync and
// each simple Query.
class tcp_relay {
 public:
  enum class wire { any, postgres };
  explicit tcp_relay(int target_port, wire w = wire::any) : target_(target_port), wire_(w) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &n) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1: " + std::string(std::strerror(errno)));
    port_ = ntohs(a.sin_port);
    if (::pipe(wake_) != 0) throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    thread_ = std::thread([this] { run(); });
  }
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;
  ~tcp_relay() {
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
    for (auto& c : conns_) {
      ::close(c.client);
      ::close(c.server);
    }
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  // Round trips started so far, over every connection.
  [[nodiscard]] std::uint64_t round_trips() const noexcept { return round_trips_.load(); }

 private:
  struct conn {
    int client = -1;
    int server = -1;
    bool answered = true;  // the server spoke since the client last did
    bool started = false;  // postgres: the untyped startup message has been sent
    std::string pending;   // postgres: the client's bytes not yet read as whole messages
  };

  // Reads the client's PostgreSQL messages from `c.pending` and counts its Syncs and Queries.
  void count_postgres(conn& c) {
    std::size_t at = 0;
    for (;;) {
      const std::size_t head = c.started ? 5 : 4;
      if (c.pending.size() - at < head) break;
      const auto* b = reinterpret_cast<const unsigned char*>(c.pending.data() + at + (c.started ? 1 : 0));
      const std::size_t len =
          (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
      const std::size_t whole = len + (c.started ? 1 : 0);
      if (len < 4 || c.pending.size() - at < whole) break;
      if (!c.started) {
        // SSL and GSS encryption requests come before the startup message, which ends the phase.
        const std::uint32_t code =
            (std::uint32_t{b[4]} << 24) | (std::uint32_t{b[5]} << 16) | (std::uint32_t{b[6]} << 8) | b[7];
        if (len != 8 || (code != 80877103u && code != 80877104u)) c.started = true;
      } else if (c.pending[at] == 'S' || c.pending[at] == 'Q') {
        ++round_trips_;
      }
      at += whole;
    }
    c.pending.erase(0, at);
  }

  void run() {
    char buf[65536];
    for (;;) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const conn& c : conns_) {
        fds.push_back({c.client, POLLIN, 0});
        fds.push_back({c.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) accept_one();
      std::vector<std::size_t> closed;
      for (std::size_t i = 0; i < conns_.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
        conn& c = conns_[i];
        for (int side = 0; side < 2; ++side) {
          if (fds[2 + 2 * i + static_cast<std::size_t>(side)].revents == 0) continue;
          const int from = side == 0 ? c.client : c.server;
          const int to = side == 0 ? c.server : c.client;
          ssize_t n = ::read(from, buf, sizeof buf);
          if (n <= 0) {
            closed.push_back(i);
            break;
          }
          if (side == 0 && wire_ == wire::postgres) {
            c.pending.append(buf, static_cast<std::size_t>(n));
            count_postgres(c);
          } else if (side == 0 && c.answered) {
            ++round_trips_;
            c.answered = false;
          }
          if (side == 1) c.answered = true;
          for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
            if (w <= 0) break;
            off += w;
          }
        }
      }
      for (auto it = closed.rbegin(); it != closed.rend(); ++it) {
        ::close(conns_[*it].client);
        ::close(conns_[*it].server);
        conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
    }
  }

  void accept_one() {
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(target_));
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    conns_.push_back({client, server, true, false, {}});
  }

  int target_;
  wire wire_;
  int port_ = 0;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::vector<conn> conns_;
  std::atomic<std::uint64_t> round_trips_{0};
  std::thread thread_;
};

// A redis-server on 127.0.0.1, no persistence, its directory temporary.
class redis_server {
 public:
  redis_server() : dir_("redis") {
    const std::string bin = find_program("redis-server", "redis-server");
    proc_ = start_on_free_port(
        "redis-server", dir_.path(), "Ready to accept connections", port_,
        [&](int port, const fs::path& log) {
          return child_process(
              {bin, "--bind", "127.0.0.1", "--port", std::to_string(port), "--dir", dir_.path().string(),
               "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"},
              log, run_as{}, SIGTERM);
        });
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string uri(int db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  [[nodiscard]] pid_t pid() const noexcept { return proc_.pid(); }
  [[nodiscard]] const fs::path& dir() const noexcept { return dir_.path(); }
  void stop() { proc_.stop(); }

 private:
  temp_dir dir_;
  int port_ = 0;
  child_process proc_;
};

// A PostgreSQL cluster made by initdb in a temporary directory, served by `postgres` on
// 127.0.0.1 (and a Unix socket in the same directory), user `sincehash`, trust authentication.
class postgres_server {
 public:
  /// `durable`: keep fsync on (benchmarks); tests turn it off.
  explicit postgres_server(bool durable = false) : dir_("postgres") {
    const std::string initdb = find_program("initdb", "postgresql");
    const std::string postgres = find_program("postgres", "postgresql");
    const run_as user = unprivileged();
    if (user.active) {
      if (::chown(dir_.path().c_str(), user.uid, user.gid) != 0)
        throw std::runtime_error("cannot hand " + dir_.path().string() +
                                 " to the PostgreSQL user: " + std::strerror(errno));
    }
    const fs::path data = dir_.path() / "data";
    run_program({initdb, "-D", data.string(), "-U", "sincehash", "-A", "trust", "-E", "UTF8", "--locale=C",
                 "--no-sync", "--no-instructions"},
                dir_.path() / "initdb.log", user);
    proc_ = start_on_free_port(
        "postgres", dir_.path(), "database system is ready to accept connections", port_,
        [&](int port, const fs::path& log) {
          std::vector<std::string> args{postgres,
                                        "-D",
                                        data.string(),
                                        "-p",
                                        std::to_string(port),
                                        "-c",
                                        "listen_addresses=127.0.0.1",
                                        "-c",
                                        "unix_socket_directories=" + dir_.path().string(),
                                        "-c",
                                        "max_connections=60",
                                        "-c",
                                        "shared_buffers=64MB"};
          if (!durable) {
            for (const char* o : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
              args.emplace_back("-c");
              args.emplace_back(o);
            }
          }
          return child_process(args, log, user, SIGINT);
        });
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string uri(const std::string& database = "postgres") const {
    return "postgresql://sincehash@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }
  [[nodiscard]] pid_t pid() const noexcept { return proc_.pid(); }
  void stop() { proc_.stop(); }

 private:
  temp_dir dir_;
  int port_ = 0;
  child_process proc_;
};

}  // namespace sincehash_test

#endif  // SINCEHASH_TESTS_SUPPORT_SERVERS_HPP
