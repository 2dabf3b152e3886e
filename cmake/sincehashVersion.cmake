# The version of sincehash is written once, in include/sincehash/version.hpp; CMake's project
# version and the checks of the vcpkg port read it from there.

# Sets `out` to "MAJOR.MINOR.PATCH" as defined by SINCEHASH_VERSION_MAJOR/MINOR/PATCH in `header`.
function(sincehash_read_version header out)
  file(STRINGS "${header}" lines REGEX "^#define SINCEHASH_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+ *$")
  set(parts "")
  foreach(part MAJOR MINOR PATCH)
    if(NOT lines MATCHES "SINCEHASH_VERSION_${part} +([0-9]+)")
      message(FATAL_ERROR "sincehash: ${header} does not define SINCEHASH_VERSION_${part}")
    endif()
    list(APPEND parts ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN parts "." version)
  set(${out} "${version}" PARENT_SCOPE)
endfunction()
