# Finds the system libraries stowage's headers use and links them to a target.
# Shared by the build tree and the installed package config, so both agree.
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS iostreams)
find_package(ZLIB REQUIRED)
find_package(simdjson REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(STOWAGE_CRYPTOPP REQUIRED IMPORTED_TARGET libcrypto++)

function(stowage_link_dependencies target)
  target_link_libraries(${target} INTERFACE
    Boost::headers Boost::iostreams ZLIB::ZLIB simdjson::simdjson
    PkgConfig::STOWAGE_CRYPTOPP Threads::Threads)
endfunction()
