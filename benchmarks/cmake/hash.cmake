# Hashing throughput: sha256, blake2b, crc32c at 64 B / 4 KiB / 1 MiB.
stowage_benchmark(hash_bench hash_bench.cpp)
