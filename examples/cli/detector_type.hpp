#ifndef SINCEHASH_CLI_DETECTOR_TYPE_HPP
#define SINCEHASH_CLI_DETECTOR_TYPE_HPP

// The detector the command-line tool runs.

#include <sincehash/detector.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif

namespace sincehash_cli {

#ifdef SINCEHASH_HAS_SIMDJSON
using cli_access = sincehash::simdjson_access;
#else
using cli_access = sincehash::nlohmann_access;
#endif
/// A run's detector: over `Store`, hashing with `Algorithm` (XXH3, or keyed BLAKE2b when the
/// state is encrypted).
template <class Store, class Algorithm>
using cli_detector = sincehash::change_detector<Store, sincehash::field_hasher<Algorithm, cli_access>,
                                                sincehash::pinnable_clock>;

}  // namespace sincehash_cli

#endif  // SINCEHASH_CLI_DETECTOR_TYPE_HPP
