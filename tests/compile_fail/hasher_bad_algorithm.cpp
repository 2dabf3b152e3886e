// sincehash::field_hasher requires Algorithm to provide hash(), name() and key_id(): a type that
// only hashes (no name, no key id, wrong result type) must not compile.
#include <sincehash/hasher.hpp>

#include <cstddef>
#include <cstdint>

struct checksum_only {
  std::uint32_t hash(const unsigned char*, std::size_t) const noexcept { return 0; }
};

int main() {
  sincehash::hasher_settings settings;
  settings.watched = {"a"};
#ifndef SINCEHASH_COMPILE_FAIL_CONTROL
  sincehash::field_hasher<checksum_only> hasher(settings);
#else
  sincehash::field_hasher<sincehash::xxh3_64> hasher(settings);
#endif
  return hasher.hash(R"({"a":1})").has_value() ? 0 : 1;
}
