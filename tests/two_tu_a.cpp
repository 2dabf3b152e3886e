// Two translation units include every header; a non-inline definition in a header fails to link.
#include "all_headers.hpp"

#include <cstdio>

int two_tu_b_answer();

int main() {
  sincehash::result<int> a = 20;
  if (!a || two_tu_b_answer() != 22) {
    std::puts("two translation units disagree");
    return 1;
  }
  return 0;
}
