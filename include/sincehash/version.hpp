#ifndef SINCEHASH_VERSION_HPP
#define SINCEHASH_VERSION_HPP

// The version is written here only, in the three numbers below: CMake reads them for the project
// version (cmake/sincehashVersion.cmake), and a test checks the vcpkg port against them.

/// Library version, major part.
#define SINCEHASH_VERSION_MAJOR 0
/// Library version, minor part.
#define SINCEHASH_VERSION_MINOR 1
/// Library version, patch part.
#define SINCEHASH_VERSION_PATCH 0
/// Library version as one integer: major * 10000 + minor * 100 + patch.
#define SINCEHASH_VERSION \
  (SINCEHASH_VERSION_MAJOR * 10000 + SINCEHASH_VERSION_MINOR * 100 + SINCEHASH_VERSION_PATCH)

#define SINCEHASH_DETAIL_STR_(x) #x
#define SINCEHASH_DETAIL_STR(x) SINCEHASH_DETAIL_STR_(x)

namespace sincehash {

/// The library version as "MAJOR.MINOR.PATCH".
inline constexpr const char* version_string =
    SINCEHASH_DETAIL_STR(SINCEHASH_VERSION_MAJOR) "." SINCEHASH_DETAIL_STR(
        SINCEHASH_VERSION_MINOR) "." SINCEHASH_DETAIL_STR(SINCEHASH_VERSION_PATCH);

}  // namespace sincehash

#endif  // SINCEHASH_VERSION_HPP
