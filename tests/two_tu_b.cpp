#include "all_headers.hpp"

int two_tu_b_answer() {
  sincehash::result<int> b = sincehash::fail(sincehash::errc::parse_error, "x", 3);
  return b ? 0 : static_cast<int>(b.error().position) + 19;
}
