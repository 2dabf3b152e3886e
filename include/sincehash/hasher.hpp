#ifndef SINCEHASH_HASHER_HPP
#define SINCEHASH_HASHER_HPP

// field_hasher: a canonical, type-tagged, length-prefixed digest over the watched fields of a JSON
// record (or over the whole record minus ignored fields), plus the scalar values of a few extra
// paths, all read in one pass over the record's bytes.
//
// What the encoding guarantees (version 1, spelled out in detail/hash_sink.hpp):
//  - missing, null, "", 0, false, [] and {} all differ; "1" (a string) never equals 1 (a number);
//  - numbers are compared by decimal value, computed from their literal text: 1, 1.0 and 10e-1
//    are equal, 12.50 equals 12.5, integers of any size are exact, nothing goes through a double;
//  - strings are length-prefixed UTF-8 bytes after JSON unescaping ("\u00e9" equals "é"), so no
//    delimiter inside a value can make two different records collide;
//  - object member order never matters; array order does;
//  - the order of watched paths in the configuration never matters (they are sorted by path).
// The encoding is versioned (`encoding_version`); any change to it bumps the version, and the
// fingerprint — which includes it — then tells stored digests apart from new ones.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sincehash/access.hpp"
#include "sincehash/detail/hash_plan.hpp"
#include "sincehash/detail/hash_sink.hpp"
#include "sincehash/detail/hash_types.hpp"
#include "sincehash/detail/xxhash.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/field_path.hpp"

namespace sincehash {

// ---- hash algorithms --------------------------------------------------------------------------
//
// The Algorithm interface. A copyable type `A` is a hash algorithm for field_hasher when it has
//   digest      A::hash(const unsigned char* data, std::size_t size) const noexcept;
//               one-shot digest of a whole canonical message; deterministic across processes,
//               platforms and versions of the program; thread-safe (const);
//   std::string A::name() const;    stable identifier of the function and of every parameter
//                                   that changes digests except the key, e.g. "xxh3-64";
//   std::string A::key_id() const;  identifies the key, seed or secret in use ("" when unkeyed);
//                                   it is written into fingerprints, so it must never be the key.
// A keyed BLAKE2b, for instance, implements exactly these three members.

/// XXH3, 64 bits, unkeyed: the default. Fast, not cryptographic.
struct xxh3_64 {
  [[nodiscard]] digest hash(const unsigned char* data, std::size_t size) const noexcept {
    return digest{XXH3_64bits(data, size), 0, 64};
  }
  [[nodiscard]] std::string name() const { return "xxh3-64"; }
  [[nodiscard]] std::string key_id() const { return {}; }
};

/// XXH3, 128 bits, unkeyed.
struct xxh3_128 {
  [[nodiscard]] digest hash(const unsigned char* data, std::size_t size) const noexcept {
    XXH128_hash_t h = XXH3_128bits(data, size);
    return digest{h.low64, h.high64, 128};
  }
  [[nodiscard]] std::string name() const { return "xxh3-128"; }
  [[nodiscard]] std::string key_id() const { return {}; }
};

namespace detail {
inline std::string require_key_id(std::string key_id) {
  if (key_id.empty()) {
    throw sincehash::error(errc::invalid_argument,
                           "a seeded or keyed hash algorithm needs a non-empty key id");
  }
  return key_id;
}
}  // namespace detail

/// XXH3 with a 64-bit seed, 64 or 128 bits (`Bits`). The key id names the seed in fingerprints;
/// it must not be empty (throws `sincehash::error` with `invalid_argument`). A seed separates
/// domains; it is not a secret key.
template <int Bits>
class xxh3_seeded {
  static_assert(Bits == 64 || Bits == 128, "sincehash::xxh3_seeded requires Bits to be 64 or 128");

 public:
  xxh3_seeded(std::uint64_t seed, std::string key_id)
      : seed_(seed), key_id_(detail::require_key_id(std::move(key_id))) {}
  [[nodiscard]] digest hash(const unsigned char* data, std::size_t size) const noexcept {
    if constexpr (Bits == 64) {
      return digest{XXH3_64bits_withSeed(data, size, seed_), 0, 64};
    } else {
      XXH128_hash_t h = XXH3_128bits_withSeed(data, size, seed_);
      return digest{h.low64, h.high64, 128};
    }
  }
  [[nodiscard]] std::string name() const { return Bits == 64 ? "xxh3-64-seeded" : "xxh3-128-seeded"; }
  [[nodiscard]] std::string key_id() const { return key_id_; }

 private:
  std::uint64_t seed_;
  std::string key_id_;
};

/// XXH3-64 with a seed.
using xxh3_64_seeded = xxh3_seeded<64>;
/// XXH3-128 with a seed.
using xxh3_128_seeded = xxh3_seeded<128>;

/// XXH3 with a secret derived from a key of any length (XXH3_generateSecret), 64 or 128 bits.
/// The key id names the key in fingerprints and must not be empty; the key must not be empty
/// (both throw `sincehash::error` with `invalid_argument`). XXH3 is not a MAC: use a keyed
/// cryptographic hash where an attacker must not be able to forge equal digests.
template <int Bits>
class xxh3_keyed {
  static_assert(Bits == 64 || Bits == 128, "sincehash::xxh3_keyed requires Bits to be 64 or 128");

 public:
  static constexpr std::size_t secret_size = 192;

  xxh3_keyed(std::string_view key, std::string key_id) : key_id_(detail::require_key_id(std::move(key_id))) {
    if (key.empty()) throw sincehash::error(errc::invalid_argument, "an XXH3 key must not be empty");
    secret_.resize(secret_size);
    XXH3_generateSecret(secret_.data(), secret_.size(), key.data(), key.size());
  }
  [[nodiscard]] digest hash(const unsigned char* data, std::size_t size) const noexcept {
    if constexpr (Bits == 64) {
      return digest{XXH3_64bits_withSecret(data, size, secret_.data(), secret_.size()), 0, 64};
    } else {
      XXH128_hash_t h = XXH3_128bits_withSecret(data, size, secret_.data(), secret_.size());
      return digest{h.low64, h.high64, 128};
    }
  }
  [[nodiscard]] std::string name() const { return Bits == 64 ? "xxh3-64-secret" : "xxh3-128-secret"; }
  [[nodiscard]] std::string key_id() const { return key_id_; }

 private:
  std::vector<unsigned char> secret_;
  std::string key_id_;
};

/// XXH3-64 with a secret derived from a key.
using xxh3_64_keyed = xxh3_keyed<64>;
/// XXH3-128 with a secret derived from a key.
using xxh3_128_keyed = xxh3_keyed<128>;

namespace detail {

template <class A, class = void>
struct is_hash_algorithm : std::false_type {};
template <class A>
struct is_hash_algorithm<A, std::void_t<decltype(std::declval<const A&>().hash(
                                            std::declval<const unsigned char*>(), std::size_t{})),
                                        decltype(std::string(std::declval<const A&>().name())),
                                        decltype(std::string(std::declval<const A&>().key_id()))>>
    : std::bool_constant<std::is_same<decltype(std::declval<const A&>().hash(
                                          std::declval<const unsigned char*>(), std::size_t{})),
                                      digest>::value &&
                         std::is_copy_constructible<A>::value> {};

template <class A, class = void>
struct is_access_policy : std::false_type {};
template <class A>
struct is_access_policy<A, std::void_t<decltype(std::declval<A&>().read(std::declval<std::string_view>(),
                                                                        std::declval<record_sink&>()))>>
    : std::is_same<decltype(std::declval<A&>().read(std::declval<std::string_view>(),
                                                    std::declval<record_sink&>())),
                   result<void>> {};

template <class A, class = void>
struct has_read_padded : std::false_type {};
template <class A>
struct has_read_padded<A,
                       std::void_t<decltype(std::declval<A&>().read_padded(
                           std::declval<std::string_view>(), std::size_t{}, std::declval<record_sink&>()))>>
    : std::true_type {};

// Calls `access.read_padded` where the policy offers it, else the plain `read`.
template <class A>
result<void> read_padded(A& access, std::string_view json, std::size_t padding, record_sink& sink) {
  if constexpr (has_read_padded<A>::value) {
    return access.read_padded(json, padding, sink);
  } else {
    (void)padding;
    return access.read(json, sink);
  }
}

template <class T>
struct is_json_text : std::bool_constant<std::is_same<std::decay_t<T>, std::string>::value ||
                                         std::is_same<std::decay_t<T>, std::string_view>::value ||
                                         std::is_same<std::decay_t<T>, const char*>::value ||
                                         std::is_same<std::decay_t<T>, char*>::value> {};

}  // namespace detail

// ---- settings ------------------------------------------------------------------------------------

/// What a field hasher hashes and reads. Paths are written as field_path.hpp documents.
struct hasher_settings {
  /// Watched paths (Cloud Elements `validationData.fields`); their order does not matter. Empty:
  /// the whole record is hashed (minus `ignored`).
  std::vector<std::string> watched;
  /// Paths left out of the encoding wherever they fall inside what is hashed (the whole record, or
  /// a watched object). An ignored array element is encoded as a placeholder, so positions hold.
  std::vector<std::string> ignored;
  /// Normalizers per path; they apply to every string at or below the path.
  std::map<std::string, std::vector<normalizer>> normalize;
  /// Extra paths whose scalar values `read()` reports, in this order (id, dates, ...); at most 64;
  /// they do not change the digest and may repeat, overlap or lie anywhere.
  std::vector<field_path> extract;
  /// Also compute one 32-bit digest per watched path (`record_view::fields`), with the same
  /// algorithm (and key) as the record's digest, in the same pass. Watched mode only; does not
  /// change the digest or the fingerprint.
  bool field_digests = false;
};

namespace detail {

// A JSON Pointer token for `key` (RFC 6901: '~' as "~0", '/' as "~1").
[[nodiscard]] inline std::string pointer_token(std::string_view key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace detail

/// Every problem of `s`, each placed by a JSON Pointer into the settings as if they were an object
/// (`/watched`, `/ignored`, `/normalize/PATH`, `/extract/N`): a path that does not parse, a list
/// naming one path twice, a watched path inside another, an ignored path containing a watched
/// one, two normalize entries naming one path, an empty extract path, more than 64 extract paths.
/// Empty when a `field_hasher` accepts `s`.
[[nodiscard]] inline std::vector<config_problem> hasher_settings_problems(const hasher_settings& s) {
  std::vector<config_problem> problems;
  auto watched = compile_paths(s.watched);
  if (!watched) problems.push_back({"/watched", watched.error().message});
  auto ignored = compile_paths(s.ignored);
  if (!ignored) problems.push_back({"/ignored", ignored.error().message});
  if (watched) {
    std::vector<field_path>& w = *watched;
    std::sort(w.begin(), w.end());
    for (std::size_t i = 1; i < w.size(); ++i) {
      if (w[i - 1].contains(w[i])) {
        problems.push_back({"/watched", "watched path '" + w[i].text() + "' lies inside watched path '" +
                                            w[i - 1].text() + "', which already covers it"});
      }
    }
    if (ignored) {
      for (const auto& ig : *ignored) {
        for (const auto& wp : w) {
          if (ig.contains(wp))
            problems.push_back(
                {"/ignored", "ignored path '" + ig.text() + "' contains watched path '" + wp.text() + "'"});
        }
      }
    }
  }
  std::vector<std::pair<field_path, const std::string*>> norms;
  for (const auto& entry : s.normalize) {
    const std::string where = "/normalize/" + detail::pointer_token(entry.first);
    auto p = field_path::parse(entry.first);
    if (!p) {
      problems.push_back({where, p.error().message});
      continue;
    }
    for (const auto& earlier : norms) {
      if (earlier.first == *p) {
        problems.push_back({where, "normalize path '" + entry.first + "' duplicates '" + *earlier.second +
                                       "' (both are '" + p->canonical() + "')"});
      }
    }
    norms.emplace_back(std::move(*p), &entry.first);
  }
  if (s.extract.size() > detail::max_extras)
    problems.push_back({"/extract", "at most 64 extract paths are supported"});
  for (std::size_t i = 0; i < s.extract.size(); ++i) {
    if (s.extract[i].empty())
      problems.push_back({"/extract/" + std::to_string(i), "an extract path is empty"});
  }
  return problems;
}

/// The outcome of reading one record: its digest and its extracted values.
struct record_view {
  digest hash;                         ///< digest of the canonical message
  const value_view* extras = nullptr;  ///< one per `hasher_settings::extract` entry, same order
  std::size_t extra_count = 0;         ///< number of extras
  /// With `hasher_settings::field_digests`: one 32-bit digest per watched path, in `watched()`
  /// order, each 4 bytes little-endian (the low 32 bits of the algorithm's digest of that path's
  /// canonical value); empty otherwise. Lives in the hasher until its next read.
  std::string_view fields;

  /// The `i`-th extracted value. Its text lives in the hasher until its next read.
  [[nodiscard]] const value_view& extra(std::size_t i) const noexcept { return extras[i]; }
};

// ---- the hasher ----------------------------------------------------------------------------------

/// Hashes records under one configuration. `Algorithm` is a hash algorithm (see above), `Access`
/// a document-access policy (access.hpp). Construction validates the configuration and throws
/// `invalid_config` (naming the path) on a bad one; reading returns errors as
/// values. A hasher keeps reusable buffers: one hasher is used by one thread at a time; copies
/// are independent (they share the read-only compiled paths).
template <class Algorithm = xxh3_64, class Access = nlohmann_access>
class field_hasher {
  static_assert(detail::is_hash_algorithm<Algorithm>::value,
                "sincehash::field_hasher requires Algorithm to be copyable and to provide "
                "`digest hash(const unsigned char*, std::size_t) const noexcept`, "
                "`std::string name() const` and `std::string key_id() const`");
  static_assert(detail::is_access_policy<Access>::value,
                "sincehash::field_hasher requires Access to provide "
                "`result<void> read(std::string_view, sincehash::record_sink&)`");

 public:
  using algorithm_type = Algorithm;
  using access_type = Access;

  /// The version of the canonical encoding. Part of the fingerprint.
  static constexpr int encoding_version = 1;

  /// Compiles `settings`. Throws `invalid_config` listing every problem of
  /// `hasher_settings_problems`.
  explicit field_hasher(const hasher_settings& settings, Algorithm algorithm = Algorithm{},
                        Access access = Access{})
      : algorithm_(std::move(algorithm)), access_(std::move(access)) {
    std::vector<config_problem> problems = hasher_settings_problems(settings);
    if (!problems.empty()) throw invalid_config(std::move(problems));
    watched_ = compile_paths(settings.watched).value();
    ignored_ = compile_paths(settings.ignored).value();
    std::sort(watched_.begin(), watched_.end());
    std::sort(ignored_.begin(), ignored_.end());
    std::vector<detail::hash_plan::normalized_path> norms;
    for (const auto& entry : settings.normalize) {
      std::uint8_t bits = 0;
      for (normalizer n : entry.second) {
        bits |= n == normalizer::trim    ? detail::norm_trim
                : n == normalizer::lower ? detail::norm_lower
                                         : detail::norm_instant;
      }
      norms.push_back({field_path::parse(entry.first).value(), bits});
    }
    std::sort(norms.begin(), norms.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    field_digests_ = settings.field_digests && !watched_.empty();
    plan_ = std::make_shared<const detail::hash_plan>(
        detail::hash_plan::build(watched_, ignored_, norms, settings.extract));
    sink_ = detail::record_sink(plan_.get());
    fingerprint_ = make_fingerprint(norms);
  }

  /// The watched paths, sorted in canonical order (the order `hash_values` expects). Empty in
  /// whole-record mode.
  [[nodiscard]] const std::vector<field_path>& watched() const noexcept { return watched_; }
  /// The ignored paths, sorted.
  [[nodiscard]] const std::vector<field_path>& ignored() const noexcept { return ignored_; }
  /// True when no path is watched: the whole record (minus ignored paths) is hashed.
  [[nodiscard]] bool whole_record() const noexcept { return watched_.empty(); }
  /// The algorithm in use.
  [[nodiscard]] const Algorithm& algorithm() const noexcept { return algorithm_; }

  /// A stable text naming everything that decides digests: encoding version, algorithm, key id,
  /// sorted watched paths, normalizers and ignored paths (canonical JSON Pointer forms), as a
  /// compact JSON object with sorted keys. Equal settings give equal text, across processes.
  [[nodiscard]] const std::string& fingerprint() const noexcept { return fingerprint_; }

  /// Reads one record from its JSON text (UTF-8) in one pass: digest plus extracted values.
  /// Errors: `parse_error` (not JSON, with a byte position where known), `invalid_record` (not an
  /// object, nesting deeper than 512), `out_of_range` (a number exponent beyond 10^15).
  /// The view's extras live until the next call on this hasher.
  result<record_view> read(std::string_view json) {
    auto r = access_.read(json, sink_);
    if (!r) return r.error();
    return finish();
  }

  /// `read(json)` for text followed in memory by `padding` readable bytes whose contents do not
  /// matter (the rest of an input buffer): an access policy that can use them (simdjson_access
  /// with at least 64) reads the text in place instead of copying it, and the view's extras may
  /// then point into `json`: keep it until they are used.
  result<record_view> read(std::string_view json, std::size_t padding) {
    result<void> r = detail::read_padded(access_, json, padding, sink_);
    if (!r) return r.error();
    return finish();
  }

  /// Reads an already-parsed document the access policy accepts (nlohmann::json for
  /// nlohmann_access; simdjson::padded_string(_view) for simdjson_access).
  template <class Document, std::enable_if_t<!detail::is_json_text<Document>::value, int> = 0>
  result<record_view> read(const Document& document) {
    auto r = access_.read(document, sink_);
    if (!r) return r.error();
    return finish();
  }

  /// The digest only; see `read`.
  result<digest> hash(std::string_view json) {
    auto r = read(json);
    if (!r) return r.error();
    return r->hash;
  }
  /// The digest only, of a document the access policy accepts.
  template <class Document, std::enable_if_t<!detail::is_json_text<Document>::value, int> = 0>
  result<digest> hash(const Document& document) {
    auto r = read(document);
    if (!r) return r.error();
    return r->hash;
  }

  /// Hashes values the caller already located: one per watched path, in `watched()` order, each a
  /// scalar (missing, null, boolean "true"/"false", number literal, unescaped string). Gives the
  /// digest a record holding those values would get. Watched mode only (`invalid_argument`
  /// otherwise, or when `count` differs from `watched().size()` or a value is not a scalar).
  result<digest> hash_values(const value_view* values, std::size_t count) {
    if (whole_record() || count != watched_.size()) {
      return fail(errc::invalid_argument, "hash_values needs exactly one value per watched path");
    }
    if (!sink_.encode_located_message(values, count)) return sink_.error();
    std::string_view m = sink_.located_message();
    return algorithm_.hash(reinterpret_cast<const unsigned char*>(m.data()), m.size());
  }
  /// As above, from a list.
  result<digest> hash_values(std::initializer_list<value_view> values) {
    return hash_values(values.begin(), values.size());
  }

  /// The canonical message hashed by the last successful call (for inspection and tests). Valid
  /// until the next call.
  [[nodiscard]] std::string_view last_message() { return sink_.message(); }

 private:
  result<record_view> finish() {
    std::string_view m = sink_.message();
    const auto& extras = sink_.extras();
    record_view v{algorithm_.hash(reinterpret_cast<const unsigned char*>(m.data()), m.size()),
                  extras.data(),
                  extras.size(),
                  {}};
    if (field_digests_) {
      fields_.resize(4 * watched_.size());
      for (std::size_t i = 0; i < watched_.size(); ++i) {
        const std::string_view slot = sink_.slot_message(i);
        const std::uint64_t d =
            algorithm_.hash(reinterpret_cast<const unsigned char*>(slot.data()), slot.size()).low;
        for (int k = 0; k < 4; ++k)
          fields_[4 * i + static_cast<std::size_t>(k)] = static_cast<char>(d >> (8 * k));
      }
      v.fields = fields_;
    }
    return v;
  }

  std::string make_fingerprint(const std::vector<detail::hash_plan::normalized_path>& norms) const {
    nlohmann::json f = nlohmann::json::object();
    f["encoding"] = encoding_version;
    f["algorithm"] = std::string(algorithm_.name());
    f["key_id"] = std::string(algorithm_.key_id());
    f["watched"] = nlohmann::json::array();
    for (const auto& p : watched_) f["watched"].push_back(p.canonical());
    f["ignored"] = nlohmann::json::array();
    for (const auto& p : ignored_) f["ignored"].push_back(p.canonical());
    f["normalize"] = nlohmann::json::array();
    for (const auto& n : norms) {
      if (n.bits == 0) continue;
      nlohmann::json names = nlohmann::json::array();
      if (n.bits & detail::norm_trim) names.push_back("trim");
      if (n.bits & detail::norm_instant) names.push_back("instant");
      if (n.bits & detail::norm_lower) names.push_back("lower");
      f["normalize"].push_back(nlohmann::json::array({n.path.canonical(), names}));
    }
    return f.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  Algorithm algorithm_;
  Access access_;
  std::vector<field_path> watched_;
  std::vector<field_path> ignored_;
  std::shared_ptr<const detail::hash_plan> plan_;
  detail::record_sink sink_;
  std::string fingerprint_;
  bool field_digests_ = false;
  std::string fields_;  // the per-field digests of the last read
};

}  // namespace sincehash

#endif  // SINCEHASH_HASHER_HPP
