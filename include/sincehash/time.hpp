#ifndef SINCEHASH_TIME_HPP
#define SINCEHASH_TIME_HPP

#include <chrono>

namespace sincehash {

/// A point in time: UTC, nanosecond precision, on the system clock's epoch (1970-01-01T00:00Z).
/// Its range is that of a signed 64-bit count of nanoseconds: about 1677-09-21 to 2262-04-11.
using instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

}  // namespace sincehash

#endif  // SINCEHASH_TIME_HPP
