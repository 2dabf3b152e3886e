# sincehashOptionalDeps.cmake — finds the optional dependencies of sincehash's back-end targets.
# Used by the project itself and by the installed package configuration, so a consumer finds
# exactly what the build found. Each function sets SINCEHASH_HAVE_<DEP> in the caller's scope
# and leaves behind the imported target named in the comment.

# SQLite3 -> SQLite::SQLite3
function(sincehash_find_sqlite)
  find_package(SQLite3 QUIET)
  set(SINCEHASH_HAVE_SQLITE ${SQLite3_FOUND} PARENT_SCOPE)
endfunction()

# hiredis -> sincehash_dep::hiredis (pkg-config; Debian's config file defines no target)
function(sincehash_find_redis)
  if(NOT TARGET sincehash_dep::hiredis)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(SINCEHASH_HIREDIS QUIET IMPORTED_TARGET GLOBAL hiredis)
      if(TARGET PkgConfig::SINCEHASH_HIREDIS)
        add_library(sincehash_dep::hiredis ALIAS PkgConfig::SINCEHASH_HIREDIS)
      endif()
    endif()
  endif()
  if(TARGET sincehash_dep::hiredis)
    set(SINCEHASH_HAVE_REDIS TRUE PARENT_SCOPE)
  else()
    set(SINCEHASH_HAVE_REDIS FALSE PARENT_SCOPE)
  endif()
endfunction()

# libpq -> PostgreSQL::PostgreSQL
function(sincehash_find_postgres)
  find_package(PostgreSQL QUIET)
  set(SINCEHASH_HAVE_POSTGRES ${PostgreSQL_FOUND} PARENT_SCOPE)
endfunction()

# libsodium -> sincehash_dep::sodium (pkg-config)
function(sincehash_find_sodium)
  if(NOT TARGET sincehash_dep::sodium)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(SINCEHASH_SODIUM QUIET IMPORTED_TARGET GLOBAL libsodium)
      if(TARGET PkgConfig::SINCEHASH_SODIUM)
        add_library(sincehash_dep::sodium ALIAS PkgConfig::SINCEHASH_SODIUM)
      endif()
    endif()
  endif()
  if(TARGET sincehash_dep::sodium)
    set(SINCEHASH_HAVE_SODIUM TRUE PARENT_SCOPE)
  else()
    set(SINCEHASH_HAVE_SODIUM FALSE PARENT_SCOPE)
  endif()
endfunction()

# simdjson -> simdjson::simdjson
function(sincehash_find_simdjson)
  find_package(simdjson CONFIG QUIET)
  if(TARGET simdjson::simdjson)
    set(SINCEHASH_HAVE_SIMDJSON TRUE PARENT_SCOPE)
  else()
    set(SINCEHASH_HAVE_SIMDJSON FALSE PARENT_SCOPE)
  endif()
endfunction()
