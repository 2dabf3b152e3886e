// A small program consuming sincehash as an installed or vendored package.
#include <sincehash/sincehash.hpp>

#include <cstdio>

int main() {
  sincehash::result<int> r = sincehash::fail(sincehash::errc::parse_error, "bad", 4);
  if (r || r.error().position != 4) return 1;
  std::printf("consumer ok %s\n", sincehash::version_string);
  return 0;
}
