# Overlay port for the header-only sincehash library. Use it with
#   vcpkg install sincehash[sqlite,simdjson] --overlay-ports=<sincehash>/cmake/vcpkg
# The source is the checkout this port sits in; nothing is downloaded.
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

set(require_options "")
foreach(feature sqlite redis postgres sodium simdjson)
  string(TOUPPER "${feature}" upper)
  if(feature IN_LIST FEATURES)
    list(APPEND require_options "-DSINCEHASH_REQUIRE_${upper}=ON")
  endif()
endforeach()

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DSINCEHASH_BUILD_TESTS=OFF
    -DSINCEHASH_BUILD_EXAMPLES=OFF
    -DSINCEHASH_INSTALL=ON
    ${require_options})
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME sincehash CONFIG_PATH share/cmake/sincehash)

# Header-only: no libraries, so no debug tree.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
