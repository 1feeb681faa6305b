# Caches and eviction policies (issue 7).
stowage_test(evict_policies_test evict_policies_test.cpp TIMEOUT 120 LABELS cache)
target_compile_options(evict_policies_test PRIVATE -Wall -Wextra)
stowage_test(cache_core_test cache_core_test.cpp TIMEOUT 120 LABELS cache)
target_compile_options(cache_core_test PRIVATE -Wall -Wextra)
