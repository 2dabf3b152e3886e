#ifndef SINCEHASH_TESTS_SUPPORT_WORKER_PROCESS_HPP
#define SINCEHASH_TESTS_SUPPORT_WORKER_PROCESS_HPP

// Test support: a worker process, forked, with a pipe each way, for the tests that step several
// processes through a store. However the test leaves the worker's scope (a failed REQUIRE
// throws), the worker is resumed if stopped, killed and reaped, and the pipes are closed: no
// stopped or orphaned process outlives a failed test, and no descriptor leaks into the next.

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sincehash_test {

// One side's ends of the two pipes: single bytes each way.
class channel {
 public:
  channel() = default;
  channel(int in, int out) : in_(in), out_(out) {}

  // Sends one byte; false when the other side is gone.
  bool send(char c) const { return out_ >= 0 && ::write(out_, &c, 1) == 1; }

  // The next byte, or '\0' when the other side closed its end (or exited).
  char receive() const {
    char c = 0;
    return in_ >= 0 && ::read(in_, &c, 1) == 1 ? c : '\0';
  }

  [[nodiscard]] int in() const noexcept { return in_; }
  [[nodiscard]] int out() const noexcept { return out_; }

  // Closes this side's sending end: the other side's `receive` then returns '\0'.
  void close_out() {
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }
  void close() {
    close_out();
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

 private:
  int in_ = -1;
  int out_ = -1;
};

// The parent's ends of the pipes of this process's live workers. A new worker's child closes
// them first: a worker keeps no other worker's pipe open, so each one's `receive` returns '\0'
// as soon as the test closes its own end. Workers are started from one thread.
inline std::vector<int>& parent_ends() {
  static std::vector<int> ends;
  return ends;
}

// Runs `body` in a child process, which may talk to this one through its channel; what `body`
// returns is the child's report, sent after everything else it sent. The child leaves with
// _exit (code 0, or 3 when `body` threw; its report then names the exception), so it never runs
// this process's static destructors. The first worker makes this process ignore SIGPIPE: a
// byte sent to a worker that already exited makes `send` return false instead of ending the test.
class worker {
 public:
  explicit worker(const std::function<std::string(channel&)>& body) {
    static const bool pipe_signal_ignored = (std::signal(SIGPIPE, SIG_IGN), true);
    (void)pipe_signal_ignored;
    int to_child[2];
    int to_parent[2];
    if (::pipe(to_child) != 0) throw std::runtime_error("pipe failed");
    if (::pipe(to_parent) != 0) {
      ::close(to_child[0]);
      ::close(to_child[1]);
      throw std::runtime_error("pipe failed");
    }
    pid_ = ::fork();
    if (pid_ < 0) {
      for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) ::close(fd);
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      for (int fd : parent_ends()) ::close(fd);
      parent_ends().clear();
      ::close(to_child[1]);
      ::close(to_parent[0]);
      channel mine(to_child[0], to_parent[1]);
      std::string report;
      int code = 0;
      try {
        report = body(mine);
      } catch (const std::exception& e) {
        report = std::string("error: ") + e.what();
        code = 3;
      } catch (...) {
        report = "error: an exception that is not a std::exception";
        code = 3;
      }
      std::size_t off = 0;
      while (off < report.size()) {
        ssize_t n = ::write(mine.out(), report.data() + off, report.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      mine.close();
      ::_exit(code);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    parent_ = channel(to_parent[0], to_child[1]);
    parent_ends().push_back(to_parent[0]);
    parent_ends().push_back(to_child[1]);
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    forget(parent_.in());
    forget(parent_.out());
    parent_.close();
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // This side of the pipes: what `send` writes, the child's `receive` reads, and back.
  [[nodiscard]] const channel& talk() const noexcept { return parent_; }

  // Waits for the child (its `receive` returns '\0' from now on); everything it wrote after what
  // was read, and its exit code in `code` (128 + the signal when a signal ended it).
  std::string finish(int& code) {
    forget(parent_.out());
    parent_.close_out();
    std::string out;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(parent_.in(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    int status = 0;
    pid_t reaped = -1;
    while ((reaped = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (reaped < 0) {
      code = -1;
    } else {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return out;
  }

 private:
  static void forget(int fd) {
    std::vector<int>& ends = parent_ends();
    ends.erase(std::remove(ends.begin(), ends.end(), fd), ends.end());
  }

  pid_t pid_ = -1;
  channel parent_;
};

}  // namespace sincehash_test

#endif  // SINCEHASH_TESTS_SUPPORT_WORKER_PROCESS_HPP
