# Content-addressed blobs (issue 5): chunking alone, the SHA-256 limit,
# cas_map ingest (and a pipelined prototype) for whole/fixed/fastcdc, and
# dedup on a real versioned corpus (benchmarks/corpus/fetch-linux-headers.sh;
# restic on the same corpus: benchmarks/restic/run.sh). OpenSSL's libcrypto
# (Debian: libssl-dev), when found, adds an EVP SHA-256 hasher next to
# Crypto++'s.
stowage_benchmark(cas_bench cas_bench.cpp)
find_package(OpenSSL COMPONENTS Crypto)
if(OpenSSL_FOUND)
  target_link_libraries(cas_bench PRIVATE OpenSSL::Crypto)
  target_compile_definitions(cas_bench PRIVATE STOWAGE_BENCH_HAVE_OPENSSL=1)
else()
  message(STATUS "stowage benchmarks: OpenSSL not found (libssl-dev): cas_bench runs without its SHA-256")
endif()
