# Compile-fail checks: code that must NOT compile, and whose diagnostic must
# say why. Each is one tiny file compiled with -fsyntax-only by the test
# compiler (a fraction of a second); the CTest entry passes when the
# compiler's output matches REGEX — a file that compiles prints nothing and
# fails. A regex names what the message must show in ONE line (the field,
# the type), so an unrelated error in the file does not pass.
#
# stowage_compile_fail_test(NAME SOURCE REGEX regex... [DEFINITIONS d...])
# (several regexes: any one passes — GCC and clang print differently.)
function(stowage_compile_fail_test name source)
  cmake_parse_arguments(T "" "" "REGEX;DEFINITIONS" ${ARGN})
  set(defs "")
  foreach(d IN LISTS T_DEFINITIONS)
    list(APPEND defs -D${d})
  endforeach()
  # The library's own headers; its dependencies' (simdjson, ...) from their
  # imported targets, for installs outside the default search path — but
  # never the compiler's own directories (-I/usr/include breaks libstdc++'s
  # #include_next).
  set(incs -I${PROJECT_SOURCE_DIR}/include)
  foreach(dep simdjson::simdjson Boost::headers ZLIB::ZLIB)
    if(TARGET ${dep})
      get_target_property(dirs ${dep} INTERFACE_INCLUDE_DIRECTORIES)
      foreach(dir IN LISTS dirs)
        if(dir AND NOT dir MATCHES "\\$<" AND NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
          list(APPEND incs -isystem ${dir})
        endif()
      endforeach()
    endif()
  endforeach()
  add_test(NAME ${name}
    COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only ${incs} ${defs} ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set_tests_properties(${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_REGEX}" TIMEOUT 120 LABELS compile_fail)
endfunction()

# Issue 20, point 5: a struct projection field with no source field of its
# name, or one whose source's type does not copy without narrowing, is a
# compile error naming the field by its member pointer (both compilers print
# &app::summary::nmae).
stowage_compile_fail_test(projection_field_without_source_fails compile_fail/projection_fields.cpp
  DEFINITIONS STOWAGE_CASE=1
  REGEX "projection_field_has_no_source_field<app::summary, app::session, &app::summary::nmae>")
stowage_compile_fail_test(projection_field_narrowing_fails compile_fail/projection_fields.cpp
  DEFINITIONS STOWAGE_CASE=2
  REGEX "projection_field_cannot_copy_from_its_source<app::summary, app::session, &app::summary::started_at, long")
stowage_compile_fail_test(projection_field_narrowing_number_fails compile_fail/projection_fields.cpp
  DEFINITIONS STOWAGE_CASE=3
  REGEX "projection_field_cannot_copy_from_its_source<app::summary, app::session, &app::summary::count, long( int)?, int>")
