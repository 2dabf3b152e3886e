// sincehash::result<T> requires T not to be a reference: this must not compile.
#include <sincehash/error.hpp>

int main() {
  int x = 0;
#ifndef SINCEHASH_COMPILE_FAIL_CONTROL
  sincehash::result<int&> r = x;
#else
  sincehash::result<int> r = x;
#endif
  return r.has_value() ? 0 : 1;
}
