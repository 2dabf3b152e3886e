# FindxxHash.cmake — locates the xxHash headers for sincehash.
#
# Debian ships xxHash without a CMake package configuration, so this module tries, in order:
#   1. an xxHash CMake package configuration (xxHashConfig.cmake), if one is installed;
#   2. pkg-config (libxxhash.pc);
#   3. a plain search for xxhash.h.
# sincehash uses xxHash header-only (XXH_INLINE_ALL), so only the include directory matters.
#
# Defines xxHash_FOUND, xxHash_INCLUDE_DIR and, unless something already defined it, the
# INTERFACE target xxHash::xxhash.

if(TARGET xxHash::xxhash)
  set(xxHash_FOUND TRUE)
  return()
endif()

find_package(xxHash CONFIG QUIET)
if(TARGET xxHash::xxhash)
  set(xxHash_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_xxHash QUIET libxxhash)
endif()

find_path(xxHash_INCLUDE_DIR NAMES xxhash.h HINTS ${PC_xxHash_INCLUDE_DIRS})

if(xxHash_INCLUDE_DIR AND EXISTS "${xxHash_INCLUDE_DIR}/xxhash.h")
  file(STRINGS "${xxHash_INCLUDE_DIR}/xxhash.h" _sincehash_xxh_version
       REGEX "^#define XXH_VERSION_(MAJOR|MINOR|RELEASE) +[0-9]+")
  foreach(_part MAJOR MINOR RELEASE)
    string(REGEX REPLACE ".*XXH_VERSION_${_part} +([0-9]+).*" "\\1" _v_${_part} "${_sincehash_xxh_version}")
  endforeach()
  set(xxHash_VERSION "${_v_MAJOR}.${_v_MINOR}.${_v_RELEASE}")
  unset(_sincehash_xxh_version)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(xxHash REQUIRED_VARS xxHash_INCLUDE_DIR VERSION_VAR xxHash_VERSION)

if(xxHash_FOUND AND NOT TARGET xxHash::xxhash)
  add_library(xxHash::xxhash INTERFACE IMPORTED)
  set_target_properties(xxHash::xxhash PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${xxHash_INCLUDE_DIR}")
endif()
mark_as_advanced(xxHash_INCLUDE_DIR)
