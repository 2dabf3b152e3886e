#ifndef SINCEHASH_DETAIL_STORE_REDIS_HPP
#define SINCEHASH_DETAIL_STORE_REDIS_HPP

// Internals of redis_store: the byte layout of a stored state and the Lua scripts that run every
// write atomically on the server.
//
// A state is one hash field. Its value starts with fixed-width fields so that the scripts can
// compare dates without arithmetic (Lua numbers are doubles): each date is 8 bytes, big-endian,
// with the sign bit flipped, so byte-wise order is numeric order.
//   [0]      flags: 1 = has updated, 2 = has expires, 4 = has sealed bytes, 8 = has a version,
//            16 = has per-field digests
//   [1]      digest bytes (0, 8 or 16)
//   [2, 10)  updated    [10, 18) last seen    [18, 26) expires    [26, 30) fingerprint (BE)
//   [30, 30 + digest bytes)  digest: low 64 bits, then high 64 bits, little-endian
//   then, with flag 16, `record_state::fields`: its length (4 bytes, little-endian, not 0), then
//   its bytes
//   then `record_state::sealed`, byte for byte (only with flag 4; then at least one byte)
//   then, with flag 8, the last 8 bytes: the state's version, unsigned big-endian (see below)
// A value without flag 4 has no sealed bytes: that is also every value written before sealed
// bytes were kept, which therefore reads as a state with none; likewise a value without flag 16
// (every value written before per-field digests were kept) has none. The scripts read only flag bits
// 1, 2 and 8, the dates at fixed offsets below 26 and the last 8 bytes, so the bytes between
// never move what they compare.
//
// Versions. The meta hash of a partition keeps its write sequence in field `sq` (absent: 0, never
// written); every script that changes the partition bumps it once, and the commit script appends
// the bumped value to every state it writes (the client sends the value with flag 8 but without
// those 8 bytes: appending is the cheapest string operation in Lua). The sequence skips 1:
// version 1 is the version of a value written before versions were kept (no flag 8), so such a
// value keeps a stable version that no later write can have. Older releases refuse values with
// flag 8 as malformed rather than misread them.

#include <sincehash/detail/state_codec.hpp>
#include <sincehash/digest.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store.hpp>
#include <sincehash/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace sincehash::detail {

inline constexpr std::size_t redis_state_head = 30;
inline constexpr std::size_t redis_version_bytes_size = 8;  // at the end, with flag 8
/// The version of a state stored before versions were kept.
inline constexpr std::uint64_t redis_legacy_version = 1;

[[nodiscard]] inline std::string redis_ordered(std::int64_t v) {
  std::string s;
  put_ordered(s, v);
  return s;
}

// 8 bytes, unsigned big-endian: a version as the commit script compares it.
[[nodiscard]] inline std::string redis_version_bytes(std::uint64_t v) {
  std::string out;
  put_be(out, v, 8);
  return out;
}

// A state's value as the client sends it: flag 8, ending in `version` (8 bytes, see
// `redis_version_bytes`), which the commit script keeps or replaces by the sequence it bumps to.
[[nodiscard]] inline std::string redis_pack(const record_state& s, std::string_view version) {
  std::string out;
  out.reserve(redis_state_head + 20 + s.fields.size() + s.sealed.size() + redis_version_bytes_size);
  out.push_back(static_cast<char>((s.updated ? 1 : 0) | (s.expires ? 2 : 0) | (s.sealed.empty() ? 0 : 4) | 8 |
                                  (s.fields.empty() ? 0 : 16)));
  out.push_back(static_cast<char>(s.hash.bits / 8));
  put_ordered(out, s.updated ? ns_of(*s.updated) : 0);
  put_ordered(out, ns_of(s.last_seen));
  put_ordered(out, s.expires ? ns_of(*s.expires) : 0);
  put_be(out, s.fingerprint, 4);
  put_digest(out, s.hash);
  if (!s.fields.empty()) put_sized(out, s.fields);
  out += s.sealed;
  out += version;
  return out;
}

// Decodes a stored value; `version` (when given) receives its version (`redis_legacy_version`
// for a value without one). Throws `errc::store_error` for a malformed value.
[[nodiscard]] inline record_state redis_unpack(std::string_view stored, std::string_view where,
                                               std::uint64_t* version = nullptr) {
  const unsigned flags = stored.empty() ? 0u : static_cast<unsigned char>(stored[0]);
  const bool versioned = (flags & 8u) != 0;
  std::uint64_t stored_version = redis_legacy_version;
  std::string_view v = stored;
  if (versioned) {
    stored_version = 0;
    if (stored.size() >= redis_state_head + redis_version_bytes_size) {
      v = stored.substr(0, stored.size() - redis_version_bytes_size);
      stored_version = get_be(stored.data() + v.size(), 8);
    }
  }
  const std::size_t digest_bytes = v.size() > 1 ? static_cast<unsigned char>(v[1]) : 0;
  const bool has_sealed = (flags & 4u) != 0;
  // What follows the digest: the per-field digests (flag 16), then the sealed bytes (flag 4).
  std::string_view rest;
  std::string_view fields;
  bool tail_ok = v.size() >= redis_state_head + digest_bytes;
  if (tail_ok) {
    rest = v.substr(redis_state_head + digest_bytes);
    if (flags & 16u) tail_ok = take_sized(rest, fields) && !fields.empty();
    tail_ok = tail_ok && (has_sealed ? !rest.empty() : rest.empty());
  }
  // An absent date is written as the ordered form of 0; a versioned value never has version 1.
  static constexpr char ordered_zero[8] = {'\x80', 0, 0, 0, 0, 0, 0, 0};
  const auto absent_ok = [&v](unsigned flag_set, std::size_t at) {
    return flag_set != 0 || v.substr(at, 8) == std::string_view(ordered_zero, 8);
  };
  if (v.size() < redis_state_head || !digest_size_valid(digest_bytes) || (flags & ~31u) != 0 ||
      stored_version == 0 || (versioned && stored_version == redis_legacy_version) ||
      !absent_ok(flags & 1u, 2) || !absent_ok(flags & 2u, 18) || !tail_ok) {
    throw error(errc::store_error, "redis_store: a malformed state (" + std::to_string(stored.size()) +
                                       " bytes, flags " + std::to_string(flags) + ") is stored in " +
                                       std::string(where));
  }
  record_state s;
  if (flags & 1) s.updated = instant_of(get_ordered(v.data() + 2));
  s.last_seen = instant_of(get_ordered(v.data() + 10));
  if (flags & 2) s.expires = instant_of(get_ordered(v.data() + 18));
  s.fingerprint = static_cast<std::uint32_t>(get_be(v.data() + 26, 4));
  s.hash = read_digest(v.substr(redis_state_head, digest_bytes));
  s.fields = std::string(fields);
  if (has_sealed) s.sealed = std::string(rest);
  if (version != nullptr) *version = stored_version;
  return s;
}

// A sorted-set score for an expiry: rounding to the nearest double is monotonic, so every state
// with `expires <= now` has a score <= the score of `now`; the scripts then compare exactly.
[[nodiscard]] inline std::string redis_score(std::int64_t ns) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(ns));
  return buf;
}

// Byte-wise comparison in Lua (Lua's own `<` on strings follows the server's locale).
#define SINCEHASH_REDIS_LUA_CMP                                        \
  "local function cmp(a, b)\n"                                         \
  "  if a == b then return 0 end\n"                                    \
  "  local n = math.min(#a, #b)\n"                                     \
  "  for i = 1, n do\n"                                                \
  "    local x, y = string.byte(a, i), string.byte(b, i)\n"            \
  "    if x ~= y then if x < y then return -1 else return 1 end end\n" \
  "  end\n"                                                            \
  "  if #a < #b then return -1 else return 1 end\n"                    \
  "end\n"                                                              \
  "local function has_exp(v) return math.floor(string.byte(v, 1) / 2) % 2 == 1 end\n"

// The partition's write sequence (field `sq` of the meta hash META_KEY) and state versions.
// `bump()` raises the sequence once per script run, on its first call, and returns it; `vbytes()`
// gives it as the 8 bytes stored in a state. `version_of(v)` is the version of a stored value as
// those 8 bytes (8 zero bytes: no state; 1 for a value written before versions were kept).
#define SINCEHASH_REDIS_LUA_SEQ(META_KEY)                                               \
  "local function be8(n)\n"                                                             \
  "  local b = {}\n"                                                                    \
  "  for k = 8, 1, -1 do b[k] = n % 256; n = math.floor(n / 256) end\n"                 \
  "  return string.char(b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8])\n"              \
  "end\n"                                                                               \
  "local seq = nil\n"                                                                   \
  "local seq_bytes = nil\n"                                                             \
  "local function bump()\n"                                                             \
  "  if not seq then\n"                                                                 \
  "    seq = redis.call('HINCRBY', " META_KEY                                           \
  ", 'sq', 1)\n"                                                                        \
  "    if seq < 2 then seq = redis.call('HINCRBY', " META_KEY                           \
  ", 'sq', 1) end\n"                                                                    \
  "    seq_bytes = be8(seq)\n"                                                          \
  "  end\n"                                                                             \
  "  return seq\n"                                                                      \
  "end\n"                                                                               \
  "local function vbytes() bump(); return seq_bytes end\n"                              \
  "local function version_of(v)\n"                                                      \
  "  if not v then return string.rep(string.char(0), 8) end\n"                          \
  "  if math.floor(string.byte(v, 1) / 8) % 2 == 1 then return string.sub(v, -8) end\n" \
  "  return be8(1)\n"                                                                   \
  "end\n"

// The fence check that starts every fenced script: `fence` ('' = unfenced) must be the token
// the lease key holds; otherwise the script returns an error before its first write.
#define SINCEHASH_REDIS_LUA_FENCE(LEASE_KEY, FENCE_ARG)                                                     \
  "local fence = " FENCE_ARG                                                                                \
  "\n"                                                                                                      \
  "if fence ~= '' then\n"                                                                                   \
  "  local cur = redis.call('GET', " LEASE_KEY                                                              \
  ")\n"                                                                                                     \
  "  if not cur then\n"                                                                                     \
  "    return redis.error_reply('SINCEHASH_FENCE the lease under fencing token ' .. fence .. ' expired')\n" \
  "  end\n"                                                                                                 \
  "  local sep = string.find(cur, ':', 1, true)\n"                                                          \
  "  local tok = string.sub(cur, 1, sep - 1)\n"                                                             \
  "  if tok ~= fence then\n"                                                                                \
  "    return redis.error_reply('SINCEHASH_FENCE the lease is now held under fencing token ' .. tok ..\n"   \
  "      ' by \"' .. string.sub(cur, sep + 1) .. '\", not under token ' .. fence)\n"                        \
  "  end\n"                                                                                                 \
  "end\n"

// KEYS: records, expiries, rescan marks, meta, lease.
// ARGV: fence token ('' = none), offset kind ('' = none), offset text, offset number, offset
// order key, complete ('1'), completed at, #upserts, #erasures, #marks, #conditions, the read
// sequence ('' = none), withheld ('1': the client holds conditions it did not send), the number
// of leading upserts whose ids held no state at the read, then (id, version as 8 bytes) per
// condition, (id, state, score) per upsert, the erased ids, the marked ids. Every check runs
// before the first write.
// While the read sequence is still the partition's, nothing was written since the read: the
// conditions cannot fail and are skipped, each state is written as sent (its last 8 bytes are
// the sequence the script bumps to), and the leading upserts are written without reading their
// ids (they still hold no state). Otherwise withheld conditions make the script refuse with
// SINCEHASH_SEQ before any write, and each state's last 8 bytes are replaced by the sequence
// bumped to. Returns the number of upserts kept out (an older state), or an array of the ids
// whose condition failed (then nothing was written). The sequence is bumped once when anything
// is written. Values read by the checks are reused by the upserts (each id is upserted once;
// nothing runs in between).
inline constexpr const char* redis_commit_lua = SINCEHASH_REDIS_LUA_CMP SINCEHASH_REDIS_LUA_SEQ("KEYS[4]")
    SINCEHASH_REDIS_LUA_FENCE("KEYS[5]", "ARGV[1]")
    "local meta = redis.call('HMGET', KEYS[4], 'ok', 'oc', 'ra', 'sq')\n"
    "local kind = ARGV[2]\n"
    "local move = false\n"
    "if kind ~= '' then\n"
    "  if meta[1] and meta[1] ~= kind then\n"
    "    return redis.error_reply('SINCEHASH_KIND ' .. meta[1] .. ' ' .. kind)\n"
    "  end\n"
    "  move = (not meta[1]) or cmp(ARGV[5], meta[2]) > 0\n"
    "end\n"
    "local active = meta[3] == '1'\n"
    "local complete = ARGV[6] == '1'\n"
    "if complete and not active then return redis.error_reply('SINCEHASH_RESCAN') end\n"
    "local mark = active and not complete\n"
    "local nu, ne, nm = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])\n"
    "local nx = tonumber(ARGV[11])\n"
    "local na = tonumber(ARGV[14])\n"
    "local i = 15\n"
    "local read = {}\n"
    "local current = ARGV[12] ~= '' and ARGV[12] == (meta[4] or '0')\n"
    "if ARGV[13] == '1' and not current then return redis.error_reply('SINCEHASH_SEQ') end\n"
    "if nx > 0 and not current then\n"
    "  local bad = {}\n"
    "  for k = 1, nx do\n"
    "    local cur = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "    read[ARGV[i]] = cur\n"
    "    if version_of(cur) ~= ARGV[i + 1] then bad[#bad + 1] = ARGV[i] end\n"
    "    i = i + 2\n"
    "  end\n"
    "  if #bad > 0 then return bad end\n"
    "else\n"
    "  i = i + 2 * nx\n"
    "end\n"
    "local kept = 0\n"
    "for k = 1, nu do\n"
    "  local id, v, score = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  i = i + 3\n"
    "  local old = read[id]\n"
    "  if old == nil and not (current and k <= na) then old = redis.call('HGET', KEYS[1], id) end\n"
    "  local keep = false\n"
    "  if old and string.byte(old, 1) % 2 == 1 and string.byte(v, 1) % 2 == 1 and\n"
    "     cmp(string.sub(v, 3, 10), string.sub(old, 3, 10)) < 0 then\n"
    "    keep = (not has_exp(old)) or cmp(string.sub(old, 19, 26), string.sub(v, 11, 18)) > 0\n"
    "  end\n"
    "  if keep then\n"
    "    kept = kept + 1\n"
    "  else\n"
    "    if current then\n"
    "      bump()\n"
    "      redis.call('HSET', KEYS[1], id, v)\n"
    "    else\n"
    "      redis.call('HSET', KEYS[1], id, string.sub(v, 1, -9) .. vbytes())\n"
    "    end\n"
    "    if score ~= '' then\n"
    "      redis.call('ZADD', KEYS[2], score, id)\n"
    "    elseif old and has_exp(old) then\n"
    "      redis.call('ZREM', KEYS[2], id)\n"
    "    end\n"
    "  end\n"
    "  if mark and redis.call('SADD', KEYS[3], id) == 1 then bump() end\n"
    "end\n"
    "for k = 1, ne do\n"
    "  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then\n"
    "    redis.call('ZREM', KEYS[2], ARGV[i])\n"
    "    bump()\n"
    "  end\n"
    "  i = i + 1\n"
    "end\n"
    "if mark then\n"
    "  for k = 1, nm do\n"
    "    if redis.call('SADD', KEYS[3], ARGV[i + k - 1]) == 1 then bump() end\n"
    "  end\n"
    "end\n"
    "if move then\n"
    "  bump()\n"
    "  redis.call('HSET', KEYS[4], 'ok', kind, 'ot', ARGV[3], 'on', ARGV[4], 'oc', ARGV[5])\n"
    "end\n"
    "if complete then\n"
    "  bump()\n"
    "  redis.call('DEL', KEYS[3])\n"
    "  redis.call('HSET', KEYS[4], 'ra', '0', 'lr', ARGV[7])\n"
    "end\n"
    "return kept\n";

// KEYS: records, expiries, meta. ARGV: score of now, order key of now.
inline constexpr const char* redis_purge_lua = SINCEHASH_REDIS_LUA_CMP SINCEHASH_REDIS_LUA_SEQ("KEYS[3]")
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])\n"
    "local n = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  local v = redis.call('HGET', KEYS[1], id)\n"
    "  if not v then\n"
    "    redis.call('ZREM', KEYS[2], id)\n"
    "  elseif has_exp(v) and cmp(string.sub(v, 19, 26), ARGV[2]) <= 0 then\n"
    "    redis.call('HDEL', KEYS[1], id)\n"
    "    redis.call('ZREM', KEYS[2], id)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "if n > 0 then bump() end\n"
    "return n\n";

// KEYS: records, expiries, rescan marks, meta, lease. ARGV: forget records ('1'), fence token.
inline constexpr const char* redis_reset_lua = SINCEHASH_REDIS_LUA_SEQ("KEYS[4]")
    SINCEHASH_REDIS_LUA_FENCE("KEYS[5]", "ARGV[2]")
    "local n = redis.call('HDEL', KEYS[4], 'ok', 'ot', 'on', 'oc')\n"
    "if ARGV[1] == '1' then\n"
    "  n = n + redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "  if redis.call('HGET', KEYS[4], 'ra') == '1' then n = n + 1 end\n"
    "  redis.call('HSET', KEYS[4], 'ra', '0')\n"
    "end\n"
    "if n > 0 then bump() end\n"
    "return 0\n";

// KEYS: rescan marks, meta, lease. ARGV: '1' begins, '0' abandons (only a partition that has a
// meta key), fence token.
inline constexpr const char* redis_rescan_lua = SINCEHASH_REDIS_LUA_SEQ("KEYS[2]")
    SINCEHASH_REDIS_LUA_FENCE("KEYS[3]", "ARGV[2]")
    "if ARGV[1] == '0' and redis.call('EXISTS', KEYS[2]) == 0 then return 0 end\n"
    "local was = redis.call('HGET', KEYS[2], 'ra')\n"
    "local n = redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[2], 'ra', ARGV[1])\n"
    "if ARGV[1] == '1' or was == '1' or n > 0 then bump() end\n"
    "return 0\n";

// KEYS: records, rescan marks, meta.
inline constexpr const char* redis_unseen_lua =
    "if redis.call('HGET', KEYS[3], 'ra') ~= '1' then return {} end\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if redis.call('SISMEMBER', KEYS[2], id) == 0 then out[#out + 1] = id end\n"
    "end\n"
    "return out\n";

// KEYS: text -> id, id -> text, meta. ARGV: text.
inline constexpr const char* redis_intern_lua =
    "local id = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if id then return tonumber(id) end\n"
    "local n = redis.call('HINCRBY', KEYS[3], 'fpn', 1)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], n)\n"
    "redis.call('HSET', KEYS[2], n, ARGV[1])\n"
    "return n\n";

// KEYS: lease, meta. ARGV: owner, ttl ms. Returns {1, token, ttl} or {0, holder's token, pttl, owner}.
inline constexpr const char* redis_acquire_lua =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local sep = string.find(cur, ':', 1, true)\n"
    "  local owner = string.sub(cur, sep + 1)\n"
    "  if owner ~= ARGV[1] then\n"
    "    return {0, string.sub(cur, 1, sep - 1), redis.call('PTTL', KEYS[1]), owner}\n"
    "  end\n"
    "end\n"
    "local tok = redis.call('HINCRBY', KEYS[2], 'tok', 1)\n"
    "redis.call('SET', KEYS[1], tok .. ':' .. ARGV[1], 'PX', ARGV[2])\n"
    "return {1, tostring(tok), tonumber(ARGV[2]), ARGV[1]}\n";

// KEYS: lease. ARGV: token, owner, ttl ms ('' releases). Returns 1 when the lease was held.
inline constexpr const char* redis_lease_lua =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ':' .. ARGV[2] then return 0 end\n"
    "if ARGV[3] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "return 1\n";

#undef SINCEHASH_REDIS_LUA_CMP
#undef SINCEHASH_REDIS_LUA_FENCE
#undef SINCEHASH_REDIS_LUA_SEQ

}  // namespace sincehash::detail

#endif  // SINCEHASH_DETAIL_STORE_REDIS_HPP
