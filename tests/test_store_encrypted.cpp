// The encrypting decorator and keyed BLAKE2b: known-answer checks against libsodium's own
// primitives and Python's hashlib (run at test time), tampering, row swaps, key rotation, the
// blind index, what an SQLite file reveals, and a dictionary attack on digests.
#include <sincehash/detector.hpp>
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#include <sincehash/store/memory.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sqlite3.h>
#include <sincehash/store/sqlite.hpp>
#endif

#include <doctest/doctest.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sincehash;

namespace {

instant at(std::int64_t ns) { return instant(std::chrono::nanoseconds(ns)); }

std::string bytes_of(unsigned char fill) { return std::string(32, static_cast<char>(fill)); }

key_ring ring(std::initializer_list<std::pair<std::uint32_t, unsigned char>> keys) {
  std::vector<secret_key> v;
  for (const auto& k : keys) v.emplace_back(k.first, bytes_of(k.second));
  return key_ring(std::move(v));
}

record_state sample_state() {
  record_state s;
  s.hash = digest{0x0123456789abcdefULL, 0xfedcba9876543210ULL, 128};
  s.fingerprint = 3;
  s.updated = at(1'700'000'000'123'000'000);
  s.last_seen = at(1'700'000'100'000'000'000);
  s.expires = at(1'700'086'500'000'000'000);
  return s;
}

void commit_one(encrypted_store<memory_store>& store, const std::string& p, const std::string& id,
                const record_state& s) {
  commit_batch b;
  b.upserts.emplace_back(id, s);
  store.commit(p, b);
}

std::optional<record_state> inner_state(memory_store& inner, std::string_view p, std::string_view id) {
  return inner.get_many(p, std::vector<std::string_view>{id}).at(0);
}

void put_inner(memory_store& inner, std::string_view p, const std::string& id, const record_state& s) {
  commit_batch b;
  b.upserts.emplace_back(id, s);
  inner.commit(p, b);
}

void le(std::string& out, std::uint64_t v, int n) {
  for (int k = 0; k < n; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

std::string hex(std::string_view s) {
  static constexpr char d[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(d[static_cast<unsigned char>(c) >> 4]);
    out.push_back(d[static_cast<unsigned char>(c) & 0xF]);
  }
  return out;
}

std::string unhex(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  return out;
}

// BLAKE2b computed by Python's hashlib (an implementation independent of libsodium), or nullopt
// when no Python 3 is installed.
std::optional<std::string> python_blake2b(std::size_t size, std::string_view key, std::string_view salt,
                                          std::string_view person, std::string_view data) {
  std::string cmd = "python3 -c \"import hashlib,sys; print(hashlib.blake2b(bytes.fromhex('" + hex(data) +
                    "'), digest_size=" + std::to_string(size) + ", key=bytes.fromhex('" + hex(key) +
                    "'), salt=bytes.fromhex('" + hex(salt) + "'), person=bytes.fromhex('" + hex(person) +
                    "')).hexdigest())\" 2>/dev/null";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  char buf[256] = {};
  std::string out;
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (::pclose(p) != 0 || out.empty()) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return unhex(out);
}

// crypto_kdf_derive_from_key written out as the BLAKE2b call it is specified as: key = master,
// salt = subkey id (8 bytes LE), personalisation = context, empty message.
std::optional<std::string> python_kdf(std::string_view master, std::uint64_t id, std::string_view context) {
  std::string salt;
  le(salt, id, 8);
  return python_blake2b(32, master, salt, context, "");
}

}  // namespace

TEST_CASE("keyed BLAKE2b: digests equal hashlib's BLAKE2b over the documented key derivation") {
  const std::string master = bytes_of(0x42);
  key_ring keys(secret_key(5, master));
  const std::string partition = "instance-1/contacts";
  blake2b_keyed algo(keys, partition);
  auto root = python_kdf(master, 2, "shhash01");
  if (!root) {
    MESSAGE("python3 not available: the hashlib cross-check is skipped");
    return;
  }
  auto pkey = python_blake2b(32, *root, "", "", partition);
  REQUIRE(pkey);
  for (std::string msg :
       {std::string(), std::string("a"), std::string("alice@example.com"), std::string(300, 'z')}) {
    auto expected = python_blake2b(16, *pkey, "", "", msg);
    REQUIRE(expected);
    digest d = algo.hash(reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    std::string got;
    le(got, d.low, 8);
    le(got, d.high, 8);
    CHECK(d.bits == 128);
    CHECK(hex(got) == hex(*expected));
  }
  // The key id names the key without being it: id and a check value, which hashlib confirms.
  auto check = python_blake2b(8, *pkey, "", "", "sincehash key check");
  REQUIRE(check);
  CHECK(algo.key_id() == "5:" + hex(*check));
  CHECK(algo.name() == "blake2b-128-keyed");
}

TEST_CASE("keyed BLAKE2b: partitions and keys give different digests; the key id follows the key") {
  key_ring a = ring({{1, 0x01}});
  key_ring b = ring({{1, 0x01}, {2, 0x02}});
  const unsigned char msg[] = "bob@example.com";
  digest d1 = blake2b_keyed(a, "i/contacts").hash(msg, sizeof msg - 1);
  digest d2 = blake2b_keyed(a, "j/contacts").hash(msg, sizeof msg - 1);
  digest d3 = blake2b_keyed(b, "i/contacts").hash(msg, sizeof msg - 1);
  CHECK(d1 != d2);
  CHECK(d1 != d3);
  CHECK(blake2b_keyed(a, "i/contacts").key_id().rfind("1:", 0) == 0);
  CHECK(blake2b_keyed(b, "i/contacts").key_id().rfind("2:", 0) == 0);
  CHECK(blake2b_keyed(a, "i/contacts").key_id() != blake2b_keyed(a, "j/contacts").key_id());
  // Through field_hasher the fingerprint carries the key id, never the key bytes.
  hasher_settings hs;
  hs.watched = {"email"};
  field_hasher<blake2b_keyed> h(hs, blake2b_keyed(a, "i/contacts"));
  CHECK(h.fingerprint().find(blake2b_keyed(a, "i/contacts").key_id()) != std::string::npos);
  CHECK(h.fingerprint().find(hex(bytes_of(0x01))) == std::string::npos);
}

TEST_CASE("key files: ID HEX lines, a bare hex line, raw bytes; errors name the line") {
  const std::string k1(64, 'a');
  const std::string k2 = std::string(62, '0') + "ff";
  key_ring r = key_ring::parse("# keys\n\n1 " + k1 + "\n  9\t" + k2 + "  \r\n").value();
  REQUIRE(r.keys().size() == 2);
  CHECK(r.current().id() == 9);
  CHECK(r.oldest().id() == 1);
  CHECK(static_cast<int>(r.current().data()[31]) == 0xff);
  CHECK(static_cast<int>(r.oldest().data()[0]) == 0xaa);
  CHECK(key_ring::parse(k1 + "\n").value().current().id() == 1);
  CHECK(key_ring::parse(std::string(32, '\x05')).value().current().data()[7] == 5);
  auto fails = [](const std::string& text, const std::string& part) {
    const result<key_ring> r = key_ring::parse(text, "keys.txt");
    REQUIRE_MESSAGE(!r.has_value(), "accepted: " << text);
    CHECK(r.error().code == errc::config_error);
    CHECK_MESSAGE(r.error().message.find(part) != std::string::npos, r.error().message);
    CHECK(r.error().message.find(std::string(20, 'a')) == std::string::npos);
  };
  fails("", "no key found");
  fails("1 " + k1 + "\n2 abc\n", "keys.txt:2: the key must be 64 hexadecimal digits");
  fails("0 " + k1 + "\n", "keys.txt:1: the key id must be");
  fails("x1 " + k1 + "\n", "keys.txt:1: the key id must be");
  fails("1 " + k1 + "\n1 " + k2 + "\n", "keys.txt:2: key id 1 is listed twice");
  fails("1 " + k1 + "\n" + k2 + "\n", "keys.txt:2: expected `ID HEX`");
  fails("99999999999 " + k1 + "\n", "keys.txt:1: the key id must be");
  // A character that is not a hex digit is named with its column in the line as written.
  const std::string typo = std::string(20, 'a') + "g" + std::string(43, 'a');
  fails("# keys\n  1 " + typo + "\n",
        "keys.txt:2: the key must be 64 hexadecimal digits (32 bytes): 'g' at column 25");
  fails(typo + "\n", "keys.txt:1: the key must be 64 hexadecimal digits (32 bytes): 'g' at column 21");
  fails("1 " + std::string(30, 'a') + "\x01" + std::string(33, 'a') + "\n", "byte 0x01 at column 33");
}

TEST_CASE("key files: refused when group or others can access them, or when they are a directory") {
  const auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / ("keys-" + std::to_string(::getpid()) + ".txt")).string();
  {
    std::ofstream out(path);
    out << "1 " << std::string(64, 'a') << "\n";
  }
  using std::filesystem::perms;
  const auto load_fails = [&](const std::string& part) {
    try {
      (void)key_ring::load(path);
      FAIL("accepted " << path);
    } catch (const error& e) {
      CHECK(e.code() == errc::config_error);
      CHECK_MESSAGE(e.message().find(part) != std::string::npos, e.message());
      CHECK(e.message().find(path) != std::string::npos);
    }
  };
  for (const perms p : {perms::owner_read | perms::owner_write | perms::group_read,
                        perms::owner_read | perms::others_read, perms::owner_read | perms::group_write}) {
    std::filesystem::permissions(path, p);
    load_fails("are too open");
    load_fails("chmod 600 " + path);
  }
  std::filesystem::permissions(path, perms::owner_read | perms::owner_write | perms::group_read);
  load_fails("permissions 0640");
  std::filesystem::permissions(path, perms::owner_read | perms::owner_write);
  CHECK(key_ring::load(path).current().id() == 1);
  std::filesystem::permissions(path, perms::owner_read);
  CHECK(key_ring::load(path).current().id() == 1);
  std::filesystem::remove(path);
  try {
    (void)key_ring::load(dir.string());
    FAIL("a directory was accepted");
  } catch (const error& e) {
    CHECK(e.code() == errc::config_error);
    CHECK(e.message().find("is a directory") != std::string::npos);
  }
}

TEST_CASE("sealed states open with libsodium directly, following the documented layout") {
  memory_store inner;
  encrypted_store<memory_store> store(inner, ring({{1, 0x11}, {7, 0x77}}));
  const record_state s = sample_state();
  commit_one(store, "i/c", "rec-1", s);

  std::optional<record_state> kept = inner_state(inner, "i/c", "rec-1");
  REQUIRE(kept);
  CHECK(kept->hash.empty());
  CHECK(kept->fingerprint == 0);
  CHECK(!kept->updated);
  CHECK(kept->last_seen == s.last_seen);
  CHECK(kept->expires == s.expires);
  const std::string& sealed = kept->sealed;
  REQUIRE(sealed.size() == 1 + 4 + 24 + 29 + 16);
  CHECK(sealed[0] == '\x01');
  CHECK(sealed.substr(1, 4) == std::string("\x07\x00\x00\x00", 4));  // the newest key writes

  unsigned char key[32];
  REQUIRE(crypto_kdf_derive_from_key(key, sizeof key, 1, "shseal01",
                                     reinterpret_cast<const unsigned char*>(bytes_of(0x77).data())) == 0);
  if (auto py = python_kdf(bytes_of(0x77), 1, "shseal01"))
    CHECK(hex(*py) == hex(std::string(reinterpret_cast<char*>(key), 32)));
  std::string ad = "sincehash/state" + sealed.substr(0, 5);
  le(ad, 3, 4);
  ad += "i/c";
  le(ad, 5, 4);
  ad += "rec-1";
  le(ad, static_cast<std::uint64_t>(s.last_seen.time_since_epoch().count()), 8);
  ad.push_back('\x01');
  le(ad, static_cast<std::uint64_t>(s.expires->time_since_epoch().count()), 8);
  std::string plain(29, '\0');
  unsigned long long n = 0;
  REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(
              reinterpret_cast<unsigned char*>(&plain[0]), &n, nullptr,
              reinterpret_cast<const unsigned char*>(sealed.data() + 29), sealed.size() - 29,
              reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
              reinterpret_cast<const unsigned char*>(sealed.data() + 5), key) == 0);
  REQUIRE(n == 29);
  std::string expected;
  expected.push_back('\x05');  // updated present, 128-bit digest
  le(expected, s.hash.low, 8);
  le(expected, s.hash.high, 8);
  le(expected, static_cast<std::uint64_t>(s.updated->time_since_epoch().count()), 8);
  le(expected, s.fingerprint, 4);
  CHECK(hex(plain) == hex(expected));

  // And the decorator itself gives the state back.
  auto back = store.get_many("i/c", {"rec-1", "rec-2"});
  REQUIRE(back[0]);
  CHECK(*back[0] == s);
  CHECK(!back[1]);
  // The partition is marked as sealed for readers without keys; other partitions are not.
  CHECK(holds_sealed_state(inner, "i/c"));
  CHECK(!holds_sealed_state(inner, "j/c"));
  memory_store unsealed;
  put_inner(unsealed, "i/c", "x", s);
  (void)unsealed.intern_fingerprint("i/c", "some settings");
  CHECK(!holds_sealed_state(unsealed, "i/c"));
  // Two seals of the same state differ (random nonce).
  commit_one(store, "i/c", "rec-1", s);
  CHECK(inner_state(inner, "i/c", "rec-1")->sealed != sealed);
}

TEST_CASE("the sealed offset opens with libsodium directly, and never moves backwards") {
  memory_store inner;
  encrypted_store<memory_store> store(inner, ring({{2, 0x22}}));
  commit_batch b;
  b.offset = offset_value::from_instant(at(5'000), "1970-01-01T00:00:00.000005Z");
  store.commit("p", b);
  auto kept = inner.offset("p");
  REQUIRE(kept);
  CHECK(kept->kind == offset_kind::integer);
  CHECK(kept->number == 1);
  // Stored as hex of a sealed box: no clear text in it (a short digit run such as "1970" can occur
  // in random hex, so the check is on the whole text and on the decoded bytes).
  CHECK(kept->text.find_first_not_of("0123456789abcdef") == std::string::npos);
  const std::string sealed = unhex(kept->text);
  CHECK(sealed.find("1970-01-01T") == std::string::npos);
  unsigned char key[32];
  REQUIRE(crypto_kdf_derive_from_key(key, sizeof key, 1, "shseal01",
                                     reinterpret_cast<const unsigned char*>(bytes_of(0x22).data())) == 0);
  std::string ad = "sincehash/offset" + sealed.substr(0, 5);
  le(ad, 1, 4);
  ad += "p";
  le(ad, 1, 8);
  std::string plain(sealed.size(), '\0');
  unsigned long long n = 0;
  REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(
              reinterpret_cast<unsigned char*>(&plain[0]), &n, nullptr,
              reinterpret_cast<const unsigned char*>(sealed.data() + 29), sealed.size() - 29,
              reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
              reinterpret_cast<const unsigned char*>(sealed.data() + 5), key) == 0);
  plain.resize(static_cast<std::size_t>(n));
  std::string expected(1, '\x00');
  le(expected, 5'000, 8);
  expected += "1970-01-01T00:00:00.000005Z";
  CHECK(hex(plain) == hex(expected));

  commit_batch older;
  older.offset = offset_value::from_instant(at(4'000), "older");
  store.commit("p", older);
  CHECK(store.offset("p")->text == "1970-01-01T00:00:00.000005Z");
  CHECK(inner.offset("p")->number == 1);
  commit_batch newer;
  newer.offset = offset_value::from_instant(at(6'000), "newer");
  store.commit("p", newer);
  CHECK(store.offset("p")->text == "newer");
  CHECK(inner.offset("p")->number == 2);
  commit_batch other_kind;
  other_kind.offset = offset_value::from_integer(9);
  CHECK_THROWS_AS(store.commit("p", other_kind), error);
}

TEST_CASE("flipping any bit of a sealed state, or of the clear times bound to it, fails to open") {
  memory_store inner;
  encrypted_store<memory_store> store(inner, ring({{1, 0x11}}));
  const record_state s = sample_state();
  commit_one(store, "i/c", "rec-1", s);
  const record_state original = *inner_state(inner, "i/c", "rec-1");
  std::size_t refused = 0;
  for (std::size_t bit = 0; bit < original.sealed.size() * 8; ++bit) {
    record_state t = original;
    t.sealed[bit / 8] = static_cast<char>(t.sealed[bit / 8] ^ (1 << (bit % 8)));
    put_inner(inner, "i/c", "rec-1", t);
    try {
      (void)store.get_many("i/c", {"rec-1"});
    } catch (const error& e) {
      CHECK(e.code() == errc::crypto_error);
      std::string m = e.what();
      CHECK(m.find("'rec-1'") != std::string::npos);
      CHECK(m.find("'i/c'") != std::string::npos);
      ++refused;
    }
  }
  CHECK(refused == original.sealed.size() * 8);
  for (int field = 0; field < 3; ++field) {
    record_state t = original;
    if (field == 0) t.last_seen += std::chrono::nanoseconds(1);
    if (field == 1) t.expires = *t.expires + std::chrono::hours(24 * 365);
    if (field == 2) t.expires.reset();
    put_inner(inner, "i/c", "rec-1", t);
    CHECK_THROWS_AS((void)store.get_many("i/c", {"rec-1"}), error);
  }
  // Truncated, empty (written in clear) and unknown-format values are refused the same way.
  for (std::string bad : {original.sealed.substr(0, 20), std::string(), "\x02" + original.sealed.substr(1)}) {
    record_state t = original;
    t.sealed = bad;
    if (bad.empty()) t.hash = digest{1, 0, 64};
    put_inner(inner, "i/c", "rec-1", t);
    CHECK_THROWS_WITH_AS((void)store.get_many("i/c", {"rec-1"}), doctest::Contains("cannot be opened"),
                         error);
  }
  put_inner(inner, "i/c", "rec-1", original);
  CHECK(*store.get_many("i/c", {"rec-1"})[0] == s);
}

TEST_CASE("swapping two rows' sealed values, or moving one to another partition, fails to open") {
  memory_store inner;
  encrypted_store<memory_store> store(inner, ring({{1, 0x11}}));
  record_state a = sample_state();
  record_state b = sample_state();
  b.hash.low ^= 1;
  commit_one(store, "i/c", "A", a);
  commit_one(store, "i/c", "B", b);
  record_state ka = *inner_state(inner, "i/c", "A");
  record_state kb = *inner_state(inner, "i/c", "B");
  put_inner(inner, "i/c", "A", kb);
  put_inner(inner, "i/c", "B", ka);
  CHECK_THROWS_WITH_AS((void)store.get_many("i/c", {"A"}), doctest::Contains("'A'"), error);
  CHECK_THROWS_WITH_AS((void)store.get_many("i/c", {"B"}), doctest::Contains("'B'"), error);
  put_inner(inner, "j/c", "A", ka);
  CHECK_THROWS_WITH_AS((void)store.get_many("j/c", {"A"}), doctest::Contains("'j/c'"), error);
  // An offset moved between partitions does not open either.
  commit_batch o;
  o.offset = offset_value::from_integer(10);
  store.commit("i/c", o);
  commit_batch copy;
  copy.offset = inner.offset("i/c");
  inner.commit("j/c", copy);
  CHECK_THROWS_WITH_AS((void)store.offset("j/c"), doctest::Contains("offset of partition 'j/c'"), error);
  // for_each stops at the first state that does not open instead of handing out garbage.
  CHECK_THROWS_AS(store.for_each("i/c", [](std::string_view, const record_state&) {}), error);
}

TEST_CASE("a state's own sealed bytes are kept too, so decorators nest") {
  memory_store base;
  encrypted_store<memory_store> middle(base, ring({{1, 0x11}}));
  encrypted_store_options o;
  o.blind_index = true;
  encrypted_store<encrypted_store<memory_store>> outer(middle, ring({{2, 0x22}}), o);
  record_state s = sample_state();
  s.sealed = std::string("\x00opaque\xff", 8);
  commit_batch b;
  b.upserts.emplace_back("id-1", s);
  outer.commit("p", b);
  CHECK(*outer.get_many("p", {"id-1"})[0] == s);
  commit_batch direct;
  direct.upserts.emplace_back("id-2", s);
  middle.commit("p", direct);
  CHECK(*middle.get_many("p", {"id-2"})[0] == s);
  CHECK(middle.get_many("p", {outer.stored_id("p", "id-1")})[0]->sealed.size() > s.sealed.size());
}

TEST_CASE("key rotation: old keys still open, new writes use the new key, a missing key is named") {
  memory_store inner;
  const record_state s = sample_state();
  {
    encrypted_store<memory_store> old_ring(inner, ring({{1, 0x11}}));
    commit_one(old_ring, "p", "old", s);
  }
  encrypted_store<memory_store> rotated(inner, ring({{1, 0x11}, {2, 0x22}}));
  CHECK(*rotated.get_many("p", {"old"})[0] == s);
  commit_one(rotated, "p", "new", s);
  CHECK(inner_state(inner, "p", "new")->sealed.substr(1, 4) == std::string("\x02\x00\x00\x00", 4));
  CHECK(inner_state(inner, "p", "old")->sealed.substr(1, 4) == std::string("\x01\x00\x00\x00", 4));
  encrypted_store<memory_store> only_new(inner, ring({{2, 0x22}}));
  CHECK(*only_new.get_many("p", {"new"})[0] == s);
  CHECK_THROWS_WITH_AS((void)only_new.get_many("p", {"old"}), doctest::Contains("key id 1"), error);
  // The same id under another key's bytes fails authentication.
  encrypted_store<memory_store> wrong(inner, ring({{2, 0x23}}));
  CHECK_THROWS_WITH_AS((void)wrong.get_many("p", {"new"}), doctest::Contains("fails authentication"), error);
}

TEST_CASE("blind index: ids are kept as keyed hashes, clear ids come back from the sealed states") {
  memory_store inner;
  encrypted_store_options o;
  o.blind_index = true;
  encrypted_store<memory_store> store(inner, ring({{1, 0x11}}), o);
  const record_state s = sample_state();
  commit_batch b;
  for (std::string id : {"ann@example.com", "bob@example.com", "cy@example.com"})
    b.upserts.emplace_back(id, s);
  store.commit("p", b);
  std::set<std::string> inner_ids;
  inner.for_each("p", [&](std::string_view id, const record_state&) { inner_ids.emplace(id); });
  REQUIRE(inner_ids.size() == 3);
  for (const auto& id : inner_ids) {
    CHECK(id.size() == 32);
    CHECK(id.find('@') == std::string::npos);
  }
  CHECK(inner_ids.count(store.stored_id("p", "bob@example.com")) == 1);
  std::set<std::string> clear;
  store.for_each("p", [&](std::string_view id, const record_state& st) {
    clear.emplace(id);
    CHECK(st == s);
  });
  CHECK(clear == std::set<std::string>{"ann@example.com", "bob@example.com", "cy@example.com"});
  CHECK(*store.get_many("p", {"cy@example.com"})[0] == s);
  store.begin_rescan("p");
  commit_batch seen;
  seen.rescan_seen = {"bob@example.com"};
  store.commit("p", seen);
  CHECK(store.rescan_unseen("p") == std::vector<std::string>{"ann@example.com", "cy@example.com"});
  commit_batch erase;
  erase.erasures = {"ann@example.com"};
  store.commit("p", erase);
  CHECK(store.count("p") == 2);
  // A state moved to another id's blind slot names another id and is refused.
  put_inner(inner, "p", store.stored_id("p", "bob@example.com"),
            *inner_state(inner, "p", store.stored_id("p", "cy@example.com")));
  CHECK_THROWS_AS((void)store.get_many("p", {"bob@example.com"}), error);
}

#ifdef SINCEHASH_HAS_SQLITE
namespace {

std::filesystem::path fresh_db(const char* tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::path(SINCEHASH_TEST_BINARY_DIR) / "store_tmp";
  std::filesystem::create_directories(dir);
  auto p =
      dir / (std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  return p;
}

std::string file_bytes(const std::filesystem::path& base) {
  std::string all;
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(base.string() + suffix, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

// Every encoding of a text or an instant we look for in a file.
std::vector<std::string> encodings_of_text(const std::string& s) {
  std::vector<std::string> out{s};
  std::string upper = s;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  out.push_back(upper);
  out.push_back(hex(s));
  std::string b64(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(&b64[0], b64.size(), reinterpret_cast<const unsigned char*>(s.data()), s.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.resize(b64.size() - 1);
  out.push_back(b64.substr(0, b64.size() - 4));  // the part independent of padding
  std::string utf16;
  for (char c : s) {
    utf16.push_back(c);
    utf16.push_back('\0');
  }
  out.push_back(utf16);
  return out;
}

std::vector<std::string> encodings_of_instant(instant t, const std::string& iso) {
  std::vector<std::string> out{iso, iso.substr(0, 19)};
  const std::int64_t ns = t.time_since_epoch().count();
  for (std::int64_t v : {ns, ns / 1'000, ns / 1'000'000, ns / 1'000'000'000}) {
    out.push_back(std::to_string(v));
    std::string be, little;
    for (int k = 7; k >= 0; --k)
      be.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * k)) & 0xFF));
    for (int k = 0; k < 8; ++k)
      little.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * k)) & 0xFF));
    out.push_back(be);
    out.push_back(little);
    if (static_cast<std::uint64_t>(v) < (1ULL << 47)) out.push_back(be.substr(2));  // SQLite's 6-byte integer
    if (static_cast<std::uint64_t>(v) < (1ULL << 31)) out.push_back(be.substr(4));  // and 4-byte one
  }
  return out;
}

struct seeded {
  std::vector<std::string> emails;
  std::vector<std::pair<std::string, instant>> dates;
  std::vector<std::string> records;
};

seeded seed_records() {
  seeded s;
  for (int i = 0; i < 40; ++i) {
    std::string email = "person" + std::to_string(1000 + i) + "@example.org";
    std::string date = "2024-03-" + std::string(i % 28 < 9 ? "0" : "") + std::to_string(i % 28 + 1) + "T1" +
                       std::to_string(i % 10) + ":3" + std::to_string(i % 6) + ":0" + std::to_string(i % 10) +
                       ".123Z";
    s.emails.push_back(email);
    s.dates.emplace_back(date, parse_iso8601(date).value());
    s.records.push_back(R"({"id":")" + std::to_string(i) + R"(","email":")" + email + R"(","updated":")" +
                        date + "\"}");
  }
  return s;
}

resource_settings contact_settings() {
  resource_settings s;
  s.name = "contacts";
  s.id_field = field_path::parse("id").value();
  s.updated =
      date_field{field_path::parse("updated").value(), date_format::compile("", time_zone::utc()).value()};
  s.watched = {"email"};
  s.ttl = std::chrono::hours(24 * 30);
  return s;
}

const key_ring& test_keys() {
  static const key_ring keys = ring({{3, 0x33}});
  return keys;
}

template <class Detector>
void process_all(Detector& d, const seeded& s) {
  std::vector<input_record> in;
  for (std::size_t i = 0; i < s.records.size(); ++i) in.push_back({s.records[i], i + 1});
  batch_result r = d.process(in);
  CHECK(r.stats.created == s.records.size());
  d.commit(r.pending);
}

std::size_t hits(const std::string& file, const std::vector<std::string>& needles) {
  std::size_t n = 0;
  for (const auto& needle : needles) n += file.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("an SQLite state file of schema 1 is migrated and then keeps sealed states") {
  const auto path = fresh_db("schema1");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.string().c_str(), &db) == SQLITE_OK);
    std::string setup = "PRAGMA journal_mode=WAL;BEGIN;";
    setup += detail::sqlite_migrations[0];
    setup +=
        "PRAGMA application_id=" + std::to_string(detail::sqlite_application_id) + ";PRAGMA user_version=1;";
    setup += "INSERT INTO partitions(id, name) VALUES(1, X'70');";
    setup += "INSERT INTO records VALUES(1, X'6f6c64', X'0100000000000000', 1, NULL, 5, NULL);COMMIT;";
    REQUIRE(sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  {
    sqlite_store inner(path.string());
    auto old = inner.get_many("p", {"old"})[0];
    REQUIRE(old);
    CHECK(old->hash == digest{1, 0, 64});
    CHECK(old->sealed.empty());
    encrypted_store<sqlite_store> store(inner, test_keys());
    CHECK_THROWS_WITH_AS((void)store.get_many("p", {"old"}), doctest::Contains("written without encryption"),
                         error);
    commit_batch b;
    b.upserts.emplace_back("new", sample_state());
    store.commit("p", b);
  }
  sqlite_store reopened(path.string());
  encrypted_store<sqlite_store> store(reopened, test_keys());
  CHECK(*store.get_many("p", {"new"})[0] == sample_state());
  CHECK(sqlite_store::schema_version >= 2);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_CASE("after processing records the SQLite file holds none of their e-mails or dates, in any encoding") {
  const seeded s = seed_records();
  const fixed_clock clock{parse_iso8601("2024-04-01T00:00:00Z").value()};
  const auto plain_path = fresh_db("plain");
  const auto sealed_path = fresh_db("sealed");
  {
    sqlite_store plain(plain_path.string());
    change_detector<sqlite_store, field_hasher<>, fixed_clock> d(plain, "i/contacts", contact_settings(),
                                                                 clock);
    process_all(d, s);
  }
  {
    sqlite_store inner(sealed_path.string());
    encrypted_store<sqlite_store> store(inner, test_keys());
    change_detector<encrypted_store<sqlite_store>, field_hasher<blake2b_keyed>, fixed_clock> d(
        store, "i/contacts", contact_settings(), clock, blake2b_keyed(test_keys(), "i/contacts"));
    process_all(d, s);
    // Everything is still there for the key holder.
    auto again = d.process(std::vector<input_record>{{s.records[3], 1}});
    CHECK(again.stats.unchanged == 1);
  }
  const std::string plain_file = file_bytes(plain_path);
  const std::string sealed_file = file_bytes(sealed_path);
  std::size_t plain_date_hits = 0;
  std::size_t needles = 0;
  for (const auto& d : s.dates) {
    auto enc = encodings_of_instant(d.second, d.first);
    needles += enc.size();
    plain_date_hits += hits(plain_file, enc);
    CHECK_MESSAGE(hits(sealed_file, enc) == 0, "date " << d.first << " found in the encrypted store's file");
  }
  for (const auto& e : s.emails) {
    auto enc = encodings_of_text(e);
    needles += enc.size();
    CHECK_MESSAGE(hits(sealed_file, enc) == 0, "e-mail " << e << " found in the encrypted store's file");
  }
  // The search does find what a plain store keeps: every updated date (as nanoseconds) and the
  // offset's text.
  CHECK(plain_date_hits >= s.dates.size());
  const auto newest = std::max_element(s.dates.begin(), s.dates.end(),
                                       [](const auto& x, const auto& y) { return x.second < y.second; });
  CHECK(plain_file.find(newest->first) != std::string::npos);
  MESSAGE(needles << " encodings searched; " << plain_date_hits << " found in the plain file");
  for (const auto& p : {plain_path, sealed_path})
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
}
#endif

TEST_CASE("a dictionary attack recovers e-mails from unkeyed XXH3 digests and none from keyed BLAKE2b ones") {
  // The attacker's dictionary: 2,000 plausible addresses; 50 of them are real records.
  std::vector<std::string> dictionary;
  for (int i = 0; i < 2000; ++i) dictionary.push_back("user" + std::to_string(i) + "@example.net");
  std::vector<std::string> victims;
  for (int i = 0; i < 2000; i += 40) victims.push_back(dictionary[static_cast<std::size_t>(i)]);
  hasher_settings hs;
  hs.watched = {"email"};
  auto record = [](const std::string& e) { return R"({"email":")" + e + "\"}"; };

  field_hasher<xxh3_64> unkeyed(hs);
  field_hasher<blake2b_keyed> keyed(hs, blake2b_keyed(ring({{1, 0x5a}}), "i/contacts"));
  std::vector<digest> leaked_unkeyed;
  std::vector<digest> leaked_keyed;
  for (const auto& v : victims) {
    leaked_unkeyed.push_back(unkeyed.hash(record(v)).value());
    leaked_keyed.push_back(keyed.hash(record(v)).value());
  }
  // The attack: hash every candidate with every algorithm the attacker can compute (the
  // unkeyed ones, and BLAKE2b under guessed keys) and look the leaked digests up.
  auto attack = [&](const std::vector<digest>& leaked) {
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> table;
    field_hasher<xxh3_64> a(hs);
    field_hasher<xxh3_128> b(hs);
    field_hasher<blake2b_keyed> guessed_zero(hs, blake2b_keyed(ring({{1, 0x00}}), "i/contacts"));
    field_hasher<blake2b_keyed> guessed_other(hs, blake2b_keyed(ring({{1, 0x5b}}), "i/contacts"));
    for (const auto& c : dictionary) {
      for (digest d : {a.hash(record(c)).value(), b.hash(record(c)).value(),
                       guessed_zero.hash(record(c)).value(), guessed_other.hash(record(c)).value()}) {
        table[{d.low, d.high}] = c;
      }
    }
    std::set<std::string> recovered;
    for (const digest& d : leaked) {
      auto it = table.find({d.low, d.high});
      if (it != table.end()) recovered.insert(it->second);
    }
    return recovered;
  };
  std::set<std::string> from_unkeyed = attack(leaked_unkeyed);
  std::set<std::string> from_keyed = attack(leaked_keyed);
  CHECK(from_unkeyed == std::set<std::string>(victims.begin(), victims.end()));
  CHECK(from_keyed.empty());
}

TEST_CASE("per-field digests are sealed with the hash: the inner store never sees them") {
  memory_store inner;
  encrypted_store<memory_store> store(inner, ring({{1, 0x11}}));
  record_state s = sample_state();
  s.fields = std::string("\x01\x02\x03\x04\xaa\xbb\xcc\xdd\x00\x00\x00\x00", 12);
  commit_one(store, "i/c", "rec-1", s);
  std::optional<record_state> kept = inner_state(inner, "i/c", "rec-1");
  REQUIRE(kept);
  CHECK(kept->fields.empty());
  // Header (1 + 4), nonce (24), the plaintext (29 fixed, 4 + 12 for the digests), the tag (16).
  CHECK(kept->sealed.size() == 1 + 4 + 24 + 29 + 4 + 12 + 16);
  CHECK(kept->sealed.find(s.fields) == std::string::npos);
  auto back = store.get_many("i/c", {"rec-1"});
  REQUIRE(back[0]);
  CHECK(back[0]->fields == s.fields);
  CHECK(*back[0] == s);

  // The plaintext: flag 16, the digests sized after the fixed part; an empty list is refused.
  std::string plain = sincehash::detail::sealed_plaintext(s, nullptr);
  CHECK(plain[0] == '\x15');  // updated present, 128-bit digest, per-field digests
  CHECK(plain.substr(29) == std::string("\x0c\x00\x00\x00", 4) + s.fields);
  record_state read;
  std::string_view id;
  REQUIRE(sincehash::detail::read_sealed_plaintext(plain, false, read, id));
  CHECK(read.fields == s.fields);
  std::string empty_list = plain.substr(0, 29) + std::string(4, '\0');
  CHECK_FALSE(sincehash::detail::read_sealed_plaintext(empty_list, false, read, id));
  std::string unknown_flag = plain;
  unknown_flag[0] = static_cast<char>(unknown_flag[0] | 0x20);
  CHECK_FALSE(sincehash::detail::read_sealed_plaintext(unknown_flag, false, read, id));
}
