// sincehash::since_tracker requires Compare to order two Offsets: a date offset ordered as text
// (the comparison that loses records across UTC offsets) must not compile.
#include <sincehash/offset.hpp>

#include <functional>
#include <string>

int main() {
#ifndef SINCEHASH_COMPILE_FAIL_CONTROL
  sincehash::since_tracker<sincehash::instant, std::less<std::string>> tracker;
#else
  sincehash::since_tracker<sincehash::instant, std::less<sincehash::instant>> tracker;
#endif
  tracker.observe(sincehash::instant{});
  tracker.finish();
  return tracker.pending().has_value() ? 0 : 1;
}
