# Caches: hit ratios of every policy on the shared traces (a table printer,
# not a timing benchmark) and throughput of cache / concurrent_cache / a plain
# list+unordered_map LRU at 1, 2 and 4 threads.
stowage_benchmark(cache_hit_ratio_bench cache_hit_ratio_bench.cpp)
target_compile_definitions(cache_hit_ratio_bench PRIVATE STOWAGE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
stowage_benchmark(cache_throughput_bench cache_throughput_bench.cpp)
