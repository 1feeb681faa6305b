# Core: errors, concepts, storage policies.
stowage_test(error_test error_test.cpp)
stowage_test(concepts_test concepts_test.cpp)
