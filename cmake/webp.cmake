# stowage::webp — the optional PNG -> WebP conversion (include/stowage/image/webp.hpp).
# Defined only where libwebp and libpng are installed (Debian: libwebp-dev,
# libpng-dev); everything else in stowage builds and works without them.
# Not exported by the install rules: an installed stowage does not require
# libwebp, so a client that wants the conversion links libwebp and libpng itself.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(STOWAGE_WEBP QUIET IMPORTED_TARGET libwebp)
  pkg_check_modules(STOWAGE_PNG QUIET IMPORTED_TARGET libpng)
endif()
if(STOWAGE_WEBP_FOUND AND STOWAGE_PNG_FOUND)
  add_library(stowage_webp INTERFACE)
  add_library(stowage::webp ALIAS stowage_webp)
  target_link_libraries(stowage_webp INTERFACE stowage::stowage PkgConfig::STOWAGE_WEBP PkgConfig::STOWAGE_PNG)
else()
  message(STATUS "stowage: libwebp or libpng not found; stowage::webp (PNG -> WebP conversion) is not available")
endif()
