# Caches and eviction policies (issue 7).
stowage_test(evict_policies_test evict_policies_test.cpp GROUP cache TIMEOUT 120 LABELS cache)
stowage_test(cache_core_test cache_core_test.cpp GROUP cache TIMEOUT 120 LABELS cache)
# Trace replays against the ARC paper's published hit ratios; the long ones
# (P2, P6, P12 and the whole P12 table) run with STOWAGE_STRESS=1.
stowage_test(cache_trace_test cache_trace_test.cpp COST 33 DATA TIMEOUT 900 LABELS cache)
target_compile_options(cache_trace_test PRIVATE -Wall -Wextra)
if(STOWAGE_SANITIZE)
  # Millions of replayed requests: unoptimized ASan takes minutes, -O1 seconds.
  target_compile_options(cache_trace_test PRIVATE -O1)
endif()
stowage_test(cache_concurrent_test cache_concurrent_test.cpp GROUP cache TIMEOUT 120 LABELS cache)
# `stowage cache-sim`, black box.
if(STOWAGE_BUILD_TOOLS)
  stowage_test(cache_sim_test cache_sim_test.cpp COST 18 GROUP cli DATA LABELS cache cli DEPENDS stowage_cli)
endif()
stowage_test(cache_store_test cache_store_test.cpp GROUP cache TIMEOUT 120 LABELS cache)
stowage_test_group_settings(cache COMPILE_OPTIONS -Wall -Wextra)
