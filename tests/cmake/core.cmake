# Core: errors, concepts, storage policies.
stowage_test(error_test error_test.cpp)
stowage_test(concepts_test concepts_test.cpp)
stowage_test(storage_key_test storage_key_test.cpp)
stowage_test(storage_memory_test storage_memory_test.cpp)
stowage_test(storage_file_test storage_file_test.cpp)
stowage_test(storage_faulty_test storage_faulty_test.cpp)
stowage_test(store_test store_test.cpp TIMEOUT 600)
