// libFuzzer target for the stored forms of a record state (detail/state_codec.hpp and the Redis
// value of detail/store_redis.hpp): any bytes either decode or are refused — a Redis value with a
// store_error naming where it is stored, a sealed state's plaintext with `false` — and bytes that
// decode are exactly what the encoder writes for what they decode to (so nothing the encoder did
// not write is read as a state). The other way, any state encodes and decodes to itself.
// The first byte chooses the check.
// Run: ./fuzz_state -max_total_time=60 ../../tests/fuzz/corpus/state
#include <sincehash/detail/state_codec.hpp>
#include <sincehash/detail/store_redis.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace sincehash;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// The Redis value the store holds for `s` at `version` (legacy: without one).
std::string redis_stored(const record_state& s, std::uint64_t version) {
  if (version != detail::redis_legacy_version)
    return detail::redis_pack(s, detail::redis_version_bytes(version));
  std::string out = detail::redis_pack(s, {});
  out[0] = static_cast<char>(out[0] & ~8);
  return out;
}

// A well-formed state read from `b` (consumed from the front; zeros when it runs out).
record_state state_from(std::string_view& b) {
  auto take = [&b](int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v = (v << 8) | (b.empty() ? 0u : static_cast<unsigned char>(b.front()));
      if (!b.empty()) b.remove_prefix(1);
    }
    return v;
  };
  record_state s;
  const auto flags = static_cast<unsigned>(take(1));
  const unsigned bits = flags % 3;
  s.hash.bits = static_cast<std::uint8_t>(bits == 0 ? 0 : (bits == 1 ? 64 : 128));
  if (bits != 0) s.hash.low = take(8);
  if (bits == 2) s.hash.high = take(8);
  if (flags & 4) s.updated = detail::instant_of(static_cast<std::int64_t>(take(8)));
  s.last_seen = detail::instant_of(static_cast<std::int64_t>(take(8)));
  if (flags & 8) s.expires = detail::instant_of(static_cast<std::int64_t>(take(8)));
  s.fingerprint = static_cast<std::uint32_t>(take(4));
  if (flags & 16) s.sealed = std::string(b.substr(0, 1 + take(1) % 40));
  if (flags & 32) s.fields = std::string(b.substr(0, 4 * (1 + take(1) % 8)));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {  // a Redis value
      std::uint64_t version = 0;
      record_state s;
      try {
        s = detail::redis_unpack(bytes, "fuzz:{p}:states");
      } catch (const error& e) {
        require(e.code() == errc::store_error);
        require(e.message().find("fuzz:{p}:states") != std::string::npos);
        return 0;
      }
      (void)detail::redis_unpack(bytes, "fuzz", &version);
      require(version != 0);
      require(detail::digest_well_formed(s.hash));
      require(redis_stored(s, version) == bytes);
      return 0;
    }
    case 1:
    case 2: {  // a sealed state's plaintext, with or without the id
      const bool with_id = data[0] % 4 == 2;
      record_state s;
      s.fingerprint = 7;
      const record_state before = s;
      std::string_view id;
      if (!detail::read_sealed_plaintext(bytes, with_id, s, id)) {
        require(s == before);
        return 0;
      }
      require(detail::digest_well_formed(s.hash));
      require(detail::sealed_plaintext(s, with_id ? &id : nullptr) == bytes);
      return 0;
    }
    default: {  // any state, both ways
      const record_state s = state_from(bytes);
      const std::uint64_t version = 1 + (bytes.empty() ? 0 : static_cast<unsigned char>(bytes.back()));
      std::uint64_t got_version = 0;
      const std::string stored = redis_stored(s, version);
      record_state back = detail::redis_unpack(stored, "fuzz", &got_version);
      require(got_version == version);
      require(back == s);
      const std::string_view id = bytes.substr(0, bytes.size() / 2);
      record_state opened;
      std::string_view got_id;
      // The sealed plaintext keeps what the encrypting store hides; the rest is kept beside it.
      const std::string plain = detail::sealed_plaintext(s, &id);
      require(detail::read_sealed_plaintext(plain, true, opened, got_id));
      require(got_id == id && opened.hash == s.hash && opened.updated == s.updated &&
              opened.fingerprint == s.fingerprint && opened.sealed == s.sealed && opened.fields == s.fields);
      return 0;
    }
  }
}
