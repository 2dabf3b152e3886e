#ifndef SINCEHASH_OPEN_STORE_HPP
#define SINCEHASH_OPEN_STORE_HPP

// Opening a state store from a URI, as the command-line tool's `--state` names it:
//   PATH or sqlite:PATH                 an SQLite file (the embedded default)
//   redis://[user:password@]host:port[/db]
//   postgresql://… or postgres://…      a libpq connection URI
//   memory:                             a store held in this process (tests, demos)
// A back end whose client library this build lacks is refused with `errc::unsupported` naming
// the CMake target that brings it. With a key ring (libsodium), the store is sealed by an
// `encrypted_store`. Opened with `open_mode::read_only`, an SQLite file is only read (nothing
// created, migrated or written; a missing file reads as an empty state).

#include <sincehash/any_store.hpp>
#include <sincehash/error.hpp>
#include <sincehash/store/memory.hpp>

#ifdef SINCEHASH_HAS_SQLITE
#include <sincehash/store/sqlite.hpp>
#endif
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/store/encrypted.hpp>
#endif

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sincehash {

/// The URI forms `open_store` accepts in this build, one per line of text each (for help texts).
[[nodiscard]] inline std::vector<std::string> supported_state_uris() {
  std::vector<std::string> out;
#ifdef SINCEHASH_HAS_SQLITE
  out.emplace_back("PATH or sqlite:PATH (an SQLite file, created when missing)");
#endif
#ifdef SINCEHASH_HAS_REDIS
  out.emplace_back("redis://[user:password@]host:port[/db]");
#endif
#ifdef SINCEHASH_HAS_POSTGRES
  out.emplace_back("postgresql://user@host:port/database (or postgres://...)");
#endif
  out.emplace_back("memory: (held in this process only)");
  return out;
}

/// How `open_store` opens a store.
enum class open_mode : std::uint8_t {
  read_write,  ///< the default: created (SQLite) or migrated as needed
  /// For programs that only look: an SQLite file is opened read-only, never created or migrated
  /// (a missing or empty file reads as a state holding nothing); a write throws. The other back
  /// ends are opened as usual: the calls made decide what is written.
  read_only,
};

/// How `open_store` opens a store, beyond its URI.
struct open_options {
  open_mode mode = open_mode::read_write;  ///< see `open_mode`
  /// SQLite: connections that read a batch's states together (`sqlite_options::read_connections`;
  /// 1, the default: one). The other back ends ignore it.
  unsigned read_connections = 1;
};

namespace detail {

[[nodiscard]] inline bool uri_starts(std::string_view uri, std::string_view prefix) noexcept {
  return uri.substr(0, prefix.size()) == prefix;
}

// Calls `f(std::unique_ptr<Store>)` with the store `uri` names.
template <class F>
decltype(auto) with_opened_store(std::string_view uri, const open_options& options, F&& f) {
  if (uri == "memory:") return f(std::make_unique<memory_store>(), "memory");
  if (uri_starts(uri, "rediss://")) {
    throw error(errc::unsupported,
                "state URI '" + std::string(uri) + "': TLS to Redis (rediss://) is not supported");
  }
  if (uri_starts(uri, "redis://")) {
#ifdef SINCEHASH_HAS_REDIS
    return f(std::make_unique<redis_store>(redis_options::from_uri(uri).value()), "redis");
#else
    throw error(errc::unsupported, "state URI '" + std::string(uri) +
                                       "': this build has no Redis back end (sincehash::redis, hiredis)");
#endif
  }
  if (uri_starts(uri, "postgresql://") || uri_starts(uri, "postgres://")) {
#ifdef SINCEHASH_HAS_POSTGRES
    postgres_options o;
    o.conninfo = std::string(uri);
    return f(std::make_unique<postgres_store>(std::move(o)), "postgresql");
#else
    throw error(errc::unsupported,
                "state URI '" + std::string(uri) +
                    "': this build has no PostgreSQL back end (sincehash::postgres, libpq)");
#endif
  }
  if (uri.find("://") != std::string_view::npos) {
    throw error(errc::invalid_argument, "state URI '" + std::string(uri) +
                                            "': unknown kind (expected a path, sqlite:PATH, redis://, "
                                            "postgresql:// or memory:)");
  }
  std::string_view path = uri_starts(uri, "sqlite:") ? uri.substr(7) : uri;
  if (path.empty()) {
    throw error(errc::invalid_argument, "state URI '" + std::string(uri) + "': no file path given");
  }
#ifdef SINCEHASH_HAS_SQLITE
  sqlite_options o;
  o.read_only = options.mode == open_mode::read_only;
  o.read_connections = options.read_connections;
  return f(std::make_unique<sqlite_store>(std::string(path), std::move(o)), "sqlite");
#else
  (void)options;
  throw error(errc::unsupported, "state URI '" + std::string(uri) +
                                     "': this build has no SQLite back end (sincehash::sqlite, SQLite3)");
#endif
}

#ifdef SINCEHASH_HAS_SODIUM
template <class Inner>
struct inner_owner {
  std::unique_ptr<Inner> inner;
};

// An encrypted_store that owns the store it seals.
template <class Inner>
class owning_encrypted_store : private inner_owner<Inner>, public encrypted_store<Inner> {
 public:
  owning_encrypted_store(std::unique_ptr<Inner> inner, const key_ring& keys)
      : inner_owner<Inner>{std::move(inner)},
        encrypted_store<Inner>(*this->inner_owner<Inner>::inner, keys) {}
};
#endif

}  // namespace detail

/// Opens the state store `uri` names (see the top of this file). Throws `sincehash::error`:
/// `errc::invalid_argument` for a malformed URI, `errc::unsupported` for a back end this build
/// lacks, and what the back end throws when it cannot open (`errc::store_error`, or
/// `errc::invalid_argument` for a file that is not a sincehash state file).
[[nodiscard]] inline any_store open_store(std::string_view uri, const open_options& options) {
  return detail::with_opened_store(uri, options, [](auto store, const char* kind) {
    any_store out(std::move(store));
    out.set_kind(kind);
    return out;
  });
}

/// As above, with the default options but `mode`.
[[nodiscard]] inline any_store open_store(std::string_view uri, open_mode mode = open_mode::read_write) {
  return open_store(uri, open_options{mode});
}

#ifdef SINCEHASH_HAS_SODIUM
/// As above, every state sealed with `keys` (an `encrypted_store` over the opened one).
[[nodiscard]] inline any_store open_store(std::string_view uri, const key_ring& keys,
                                          const open_options& options) {
  return detail::with_opened_store(uri, options, [&](auto store, const char* kind) {
    using inner_type = typename decltype(store)::element_type;
    any_store out(std::make_unique<detail::owning_encrypted_store<inner_type>>(std::move(store), keys));
    out.set_kind(std::string("encrypted ") + kind);
    return out;
  });
}

/// As above, with the default options but `mode`.
[[nodiscard]] inline any_store open_store(std::string_view uri, const key_ring& keys,
                                          open_mode mode = open_mode::read_write) {
  return open_store(uri, keys, open_options{mode});
}
#endif

}  // namespace sincehash

#endif  // SINCEHASH_OPEN_STORE_HPP
