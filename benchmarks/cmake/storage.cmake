# Atomic replace on file_storage next to the raw cost of fdatasync.
stowage_benchmark(storage_bench storage_bench.cpp)
