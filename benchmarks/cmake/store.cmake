# Entity store (issue 3) and commit/recovery (issue 4) benchmarks, with their
# peers: SQLite, LevelDB, RocksDB, LMDB. Each peer is compiled in only when
# its library is found (STOWAGE_BENCH_HAVE_<PEER>); a missing one is named
# here and its benchmarks are simply absent from the run.
#
# Debian 12: apt-get install libsqlite3-dev libleveldb-dev librocksdb-dev liblmdb-dev

set(_stowage_store_peers)

find_path(STOWAGE_SQLITE3_INCLUDE sqlite3.h)
find_library(STOWAGE_SQLITE3_LIB sqlite3)
if(STOWAGE_SQLITE3_INCLUDE AND STOWAGE_SQLITE3_LIB)
  list(APPEND _stowage_store_peers SQLITE ${STOWAGE_SQLITE3_LIB})
else()
  message(STATUS "stowage benchmarks: SQLite not found (libsqlite3-dev): its store/commit benchmarks are skipped")
endif()

find_path(STOWAGE_LEVELDB_INCLUDE leveldb/db.h)
find_library(STOWAGE_LEVELDB_LIB leveldb)
if(STOWAGE_LEVELDB_INCLUDE AND STOWAGE_LEVELDB_LIB)
  list(APPEND _stowage_store_peers LEVELDB ${STOWAGE_LEVELDB_LIB})
else()
  message(STATUS "stowage benchmarks: LevelDB not found (libleveldb-dev): its store/commit benchmarks are skipped")
endif()

find_path(STOWAGE_ROCKSDB_INCLUDE rocksdb/db.h)
find_library(STOWAGE_ROCKSDB_LIB rocksdb)
if(STOWAGE_ROCKSDB_INCLUDE AND STOWAGE_ROCKSDB_LIB)
  list(APPEND _stowage_store_peers ROCKSDB ${STOWAGE_ROCKSDB_LIB})
else()
  message(STATUS "stowage benchmarks: RocksDB not found (librocksdb-dev): its commit benchmarks are skipped")
endif()

find_path(STOWAGE_LMDB_INCLUDE lmdb.h)
find_library(STOWAGE_LMDB_LIB lmdb)
if(STOWAGE_LMDB_INCLUDE AND STOWAGE_LMDB_LIB)
  list(APPEND _stowage_store_peers LMDB ${STOWAGE_LMDB_LIB})
else()
  message(STATUS "stowage benchmarks: LMDB not found (liblmdb-dev): its commit benchmarks are skipped")
endif()

# stowage_store_benchmark(NAME SOURCE PEER...) — a suite linked with the
# peers it names that were found.
function(stowage_store_benchmark name source)
  set(libs)
  set(defs)
  set(peers ${_stowage_store_peers})
  while(peers)
    list(POP_FRONT peers peer lib)
    if(peer IN_LIST ARGN)
      list(APPEND libs ${lib})
      list(APPEND defs STOWAGE_BENCH_HAVE_${peer}=1)
    endif()
  endwhile()
  stowage_benchmark(${name} ${source} ${libs})
  target_include_directories(${name} PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/support ${PROJECT_SOURCE_DIR}/tests/support)
  target_compile_definitions(${name} PRIVATE ${defs})
endfunction()

# put/get/list of 10,000 sessions: store vs a naive whole-file JSON, SQLite, LevelDB.
stowage_store_benchmark(store_bench store_bench.cpp SQLITE LEVELDB)
# Commits/s at 1/4/16 writers, full and batched durability, vs LevelDB,
# RocksDB, SQLite, LMDB; fdatasync cost; WAL recovery time.
stowage_store_benchmark(commit_bench commit_bench.cpp SQLITE LEVELDB ROCKSDB LMDB)
