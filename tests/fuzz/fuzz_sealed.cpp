// libFuzzer target for opening sealed values and reading key files: arbitrary bytes stored as a
// sealed state or offset never open (a crypto_error naming the partition), since forging an
// XChaCha20-Poly1305 tag is infeasible; a key file either parses or is refused with a
// config_error; nothing crashes.
// Run: ./fuzz_sealed -max_total_time=60 ../../tests/fuzz/corpus/sealed
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#include <sincehash/store/memory.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace sincehash;
  if (data[0] % 3 == 0) {
    const result<key_ring> ring = key_ring::parse(bytes, "fuzz");
    if (ring) {
      require(!ring->keys().empty());
    } else {
      require(ring.error().code == errc::config_error && !ring.error().message.empty());
    }
    return 0;
  }
  static const key_ring keys(secret_key(1, std::string(32, '\x42')));
  memory_store inner;
  encrypted_store_options o;
  o.blind_index = (data[0] & 4) != 0;
  encrypted_store<memory_store> store(inner, keys, o);
  commit_batch b;
  if (data[0] % 3 == 1) {
    record_state s;
    s.sealed = std::string(bytes);
    b.upserts.emplace_back(store.stored_id("p", "id"), s);
    inner.commit("p", b);
    try {
      (void)store.get_many("p", {"id"});
      require(false);
    } catch (const error& e) {
      require(e.code() == errc::crypto_error);
      require(std::string(e.what()).find("partition 'p'") != std::string::npos);
    }
  } else {
    b.offset = offset_value::from_integer(1, std::string(bytes));
    inner.commit("p", b);
    try {
      (void)store.offset("p");
      require(false);
    } catch (const error& e) {
      require(e.code() == errc::crypto_error);
    }
  }
  return 0;
}
