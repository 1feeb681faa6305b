# Infrastructure: hashers, the single header, installation, the `stowage` command.

stowage_test(hash_test hash_test.cpp GROUP core DATA LABELS hash)

if(STOWAGE_TEST_PACKAGING)
# --- the single header ---------------------------------------------------------
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# Fails when single_include/ is not what tools/amalgamate.py would write now
# (prints the diff; the fix is to rerun the script).
add_test(NAME amalgamate_fresh
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/amalgamate.py --check)
set_tests_properties(amalgamate_fresh PROPERTIES LABELS "amalgamate" TIMEOUT 60)

# A program that sees ONLY single_include/: it links the system libraries the
# library needs, but not the stowage target (whose include path is include/).
add_library(stowage_single_header_deps INTERFACE)
stowage_link_dependencies(stowage_single_header_deps)
add_executable(single_header_test single_header_test.cpp)
target_include_directories(single_header_test PRIVATE ${PROJECT_SOURCE_DIR}/single_include)
target_compile_features(single_header_test PRIVATE cxx_std_20)
target_compile_definitions(single_header_test PRIVATE BOOST_TEST_DYN_LINK)
target_link_libraries(single_header_test PRIVATE stowage_single_header_deps Boost::unit_test_framework)
add_test(NAME single_header_test COMMAND single_header_test)
set_tests_properties(single_header_test PROPERTIES LABELS "amalgamate" TIMEOUT 60)

# --- installation: an outside project uses stowage via find_package and via
# add_subdirectory (tests/install/run.sh drives both) -------------------------
add_test(NAME install_test
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/run.sh
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/install-test ${CMAKE_CXX_COMPILER})
set_tests_properties(install_test PROPERTIES LABELS "install" TIMEOUT 600)
endif()

# --- the `stowage` command -------------------------------------------------------
if(STOWAGE_BUILD_TOOLS)
  # The command-line tests run the `stowage` binary: one group, told where it is.
  stowage_test_group_settings(cli COMPILE_DEFINITIONS STOWAGE_CLI="$<TARGET_FILE:stowage_cli>")
  stowage_test(cli_hash_test cli_hash_test.cpp GROUP cli LABELS cli DEPENDS stowage_cli)
endif()
