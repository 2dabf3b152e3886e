// The encrypting decorator's cost on SQLite: commits of 1,000 records (half new ids, half
// changed ones) and batch reads of 1,000 ids, into stores preloaded with 100,000 records, for the
// plain sqlite_store (the baseline) and encrypted_store over it, measured alternately in the same
// run and printed as rates and as the ratio encrypted / plain. Both durability settings.
//   bench_encrypted [ROUNDS]     (default 20 rounds of each)
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#include <sincehash/store/sqlite.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace sincehash;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t preload = 100'000;
constexpr std::size_t batch_size = 1'000;

std::string id_of(std::uint64_t v) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "rec-";
  for (int i = 0; i < 16; ++i) id.push_back(hex[(v >> (4 * i)) & 0xF]);
  return id;
}

record_state make_state(std::uint64_t v) {
  record_state s;
  s.hash = digest{v * 0x9E3779B97F4A7C15ULL, 0, 64};
  s.fingerprint = 1;
  s.updated = instant(std::chrono::nanoseconds(static_cast<std::int64_t>(v)));
  s.last_seen = instant(std::chrono::nanoseconds(static_cast<std::int64_t>(v) + 1));
  s.expires = s.last_seen + std::chrono::hours(24 * 30);
  return s;
}

struct subject {
  std::filesystem::path path;
  std::unique_ptr<sqlite_store> plain;
  std::unique_ptr<encrypted_store<sqlite_store>> sealed;
  std::vector<std::uint64_t> ids;
  std::mt19937_64 rng{7};
  std::int64_t next_offset = 1;

  subject(const std::string& tag, bool encrypted, sqlite_sync sync) {
    path = std::filesystem::temp_directory_path() /
           ("sincehash-bench-" + tag + "-" + std::to_string(::getpid()) + ".db");
    cleanup();
    sqlite_options o;
    o.synchronous = sync;
    plain = std::make_unique<sqlite_store>(path.string(), o);
    if (encrypted) {
      sealed = std::make_unique<encrypted_store<sqlite_store>>(
          *plain, key_ring(secret_key(1, std::string(32, '\x5a'))));
    }
    for (std::size_t done = 0; done < preload; done += 10'000) {
      commit_batch b;
      for (std::size_t i = 0; i < 10'000; ++i) {
        ids.push_back(rng());
        b.upserts.emplace_back(id_of(ids.back()), make_state(ids.back()));
      }
      commit(b);
    }
  }
  ~subject() {
    sealed.reset();
    plain.reset();
    cleanup();
  }
  void cleanup() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  }
  void commit(const commit_batch& b) {
    if (sealed) {
      sealed->commit("p", b);
    } else {
      plain->commit("p", b);
    }
  }
  commit_batch next_batch() {
    commit_batch b;
    for (std::size_t i = 0; i < batch_size / 2; ++i) {
      ids.push_back(rng());
      b.upserts.emplace_back(id_of(ids.back()), make_state(ids.back()));
      const std::uint64_t old = ids[rng() % ids.size()];
      b.upserts.emplace_back(id_of(old), make_state(old + 1));
    }
    b.offset = offset_value::from_integer(next_offset++);
    return b;
  }
  std::size_t read_batch() {
    std::vector<std::string> keep;
    for (std::size_t i = 0; i < batch_size; ++i) keep.push_back(id_of(ids[rng() % ids.size()]));
    std::vector<std::string_view> views(keep.begin(), keep.end());
    auto states = sealed ? sealed->get_many("p", views) : plain->get_many("p", views);
    return static_cast<std::size_t>(
        std::count_if(states.begin(), states.end(), [](const auto& s) { return s.has_value(); }));
  }
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void compare(const char* label, sqlite_sync sync, int rounds) {
  subject plain("plain", false, sync);
  subject sealed("sealed", true, sync);
  double t_plain = 0, t_sealed = 0, r_plain = 0, r_sealed = 0;
  std::size_t found = 0;
  for (int round = 0; round < rounds; ++round) {
    // Alternate which goes first so that neither always gets the warmer cache.
    for (int turn = 0; turn < 2; ++turn) {
      subject& s = (round + turn) % 2 == 0 ? plain : sealed;
      double& t = &s == &plain ? t_plain : t_sealed;
      double& r = &s == &plain ? r_plain : r_sealed;
      commit_batch b = s.next_batch();
      auto start = clock_type::now();
      s.commit(b);
      t += seconds_since(start);
      start = clock_type::now();
      found += s.read_batch();
      r += seconds_since(start);
    }
  }
  const double records = static_cast<double>(rounds) * batch_size;
  std::printf("%-28s plain %9.0f records/s  encrypted %9.0f records/s  ratio %.2f\n",
              (std::string(label) + " commit").c_str(), records / t_plain, records / t_sealed,
              t_plain / t_sealed);
  std::printf("%-28s plain %9.0f records/s  encrypted %9.0f records/s  ratio %.2f\n",
              (std::string(label) + " get_many").c_str(), records / r_plain, records / r_sealed,
              r_plain / r_sealed);
  if (found != static_cast<std::size_t>(2 * rounds) * batch_size)
    std::printf("  (unexpected: %zu found)\n", found);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  std::printf(
      "encrypted_store over sqlite_store vs sqlite_store: %zu-record batches, %zu preloaded, %d rounds\n",
      batch_size, preload, rounds);
  compare("synchronous=full", sqlite_sync::full, rounds);
  compare("synchronous=normal", sqlite_sync::normal, rounds);
  return 0;
}
