# Search (issue 6): stowage's inverted index over the shared corpus next to
# SQLite FTS5 (custom ascii tokenizer and unicode61) and Xapian, plus a
# linear scan; the metadata query engine vs a full scan. A peer whose
# library is missing is left out of the run (named here at configure time).
#
# Debian 12: apt-get install libsqlite3-dev libxapian-dev
set(_stowage_index_libs)
set(_stowage_index_defs)
find_path(STOWAGE_INDEX_SQLITE3_INCLUDE sqlite3.h)
find_library(STOWAGE_INDEX_SQLITE3_LIB sqlite3)
if(STOWAGE_INDEX_SQLITE3_INCLUDE AND STOWAGE_INDEX_SQLITE3_LIB)
  list(APPEND _stowage_index_libs ${STOWAGE_INDEX_SQLITE3_LIB})
  list(APPEND _stowage_index_defs STOWAGE_BENCH_HAVE_SQLITE=1)
else()
  message(STATUS "stowage benchmarks: SQLite not found (libsqlite3-dev): index_bench runs without FTS5")
endif()
find_path(STOWAGE_XAPIAN_INCLUDE xapian.h)
find_library(STOWAGE_XAPIAN_LIB xapian)
if(STOWAGE_XAPIAN_INCLUDE AND STOWAGE_XAPIAN_LIB)
  list(APPEND _stowage_index_libs ${STOWAGE_XAPIAN_LIB})
  list(APPEND _stowage_index_defs STOWAGE_BENCH_HAVE_XAPIAN=1)
else()
  message(STATUS "stowage benchmarks: Xapian not found (libxapian-dev): index_bench runs without it")
endif()
stowage_benchmark(index_bench index_bench.cpp ${_stowage_index_libs})
target_include_directories(index_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support ${PROJECT_SOURCE_DIR}/tests/support)
target_compile_definitions(index_bench PRIVATE STOWAGE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ${_stowage_index_defs})
