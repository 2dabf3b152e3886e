#ifndef SINCEHASH_DETAIL_FORK_GUARD_HPP
#define SINCEHASH_DETAIL_FORK_GUARD_HPP

// Tells the process that made an object from a child forked since: the threads the object
// started are not in the child, so it must neither signal nor join them there.

#if defined(__unix__) || defined(__APPLE__)
#include <sys/types.h>
#include <unistd.h>
#endif

namespace sincehash::detail {

class fork_guard {
 public:
  // True in a child process forked after this object was made.
  [[nodiscard]] bool inherited() const noexcept {
#if defined(__unix__) || defined(__APPLE__)
    return ::getpid() != owner_;
#else
    return false;
#endif
  }

 private:
#if defined(__unix__) || defined(__APPLE__)
  pid_t owner_ = ::getpid();
#endif
};

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_FORK_GUARD_HPP
