# stowage::rados — the Ceph RADOS storage policy (include/stowage/storage/rados.hpp).
# Defined only where librados is installed (Debian: librados-dev); everything
# else in stowage builds and works without it. librados ships no pkg-config
# file on Debian, so both are tried: pkg-config first, then the header and
# library by name. Not exported by the install rules: a client that wants
# RADOS links librados itself.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(STOWAGE_RADOS QUIET IMPORTED_TARGET rados)
endif()
if(NOT STOWAGE_RADOS_FOUND)
  find_path(STOWAGE_RADOS_INCLUDE_DIR rados/librados.h)
  find_library(STOWAGE_RADOS_LIBRARY rados)
endif()
if(STOWAGE_RADOS_FOUND OR (STOWAGE_RADOS_INCLUDE_DIR AND STOWAGE_RADOS_LIBRARY))
  add_library(stowage_rados INTERFACE)
  add_library(stowage::rados ALIAS stowage_rados)
  target_compile_definitions(stowage_rados INTERFACE STOWAGE_HAVE_RADOS=1)
  if(STOWAGE_RADOS_FOUND)
    target_link_libraries(stowage_rados INTERFACE stowage::stowage PkgConfig::STOWAGE_RADOS)
  else()
    target_include_directories(stowage_rados SYSTEM INTERFACE ${STOWAGE_RADOS_INCLUDE_DIR})
    target_link_libraries(stowage_rados INTERFACE stowage::stowage ${STOWAGE_RADOS_LIBRARY})
  endif()
  # The `stowage` command takes rados:POOL:CONF where it takes DIR when built
  # with librados. tools/ is added after this file is read, so the link is
  # made once the top-level directory is complete.
  function(stowage_rados_link_cli)
    if(TARGET stowage_cli)
      target_link_libraries(stowage_cli PRIVATE stowage::rados)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL stowage_rados_link_cli)
else()
  message(STATUS "stowage: librados not found; stowage::rados (Ceph RADOS storage) is not available")
endif()
