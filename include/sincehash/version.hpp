#ifndef SINCEHASH_VERSION_HPP
#define SINCEHASH_VERSION_HPP

/// Library version, major part.
#define SINCEHASH_VERSION_MAJOR 0
/// Library version, minor part.
#define SINCEHASH_VERSION_MINOR 1
/// Library version, patch part.
#define SINCEHASH_VERSION_PATCH 0
/// Library version as one integer: major * 10000 + minor * 100 + patch.
#define SINCEHASH_VERSION \
  (SINCEHASH_VERSION_MAJOR * 10000 + SINCEHASH_VERSION_MINOR * 100 + SINCEHASH_VERSION_PATCH)

namespace sincehash {

/// The library version as "MAJOR.MINOR.PATCH".
inline constexpr const char* version_string = "0.1.0";

}  // namespace sincehash

#endif  // SINCEHASH_VERSION_HPP
