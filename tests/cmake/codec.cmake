# Codecs: described types, JSON, binary, gzip, json_document.
stowage_test(describe_test describe_test.cpp GROUP codec)
stowage_test(codec_json_test codec_json_test.cpp GROUP codec)
stowage_test(json_document_test json_document_test.cpp GROUP codec DATA)
stowage_test(codec_binary_test codec_binary_test.cpp GROUP codec)
stowage_test(codec_gzip_test codec_gzip_test.cpp GROUP codec DATA)
stowage_test_group_settings(codec COMPILE_OPTIONS -Wall -Wextra)
# Issue 20, point 5: struct projections copy only what converts without loss
# (what must not compile: compile_fail.cmake).
stowage_test(projection_test projection_test.cpp GROUP codec)
# Its own executable: it specializes stowage::codec_adapter, which a grouped
# file (wrapped in a namespace) cannot.
stowage_test(codec_types_test codec_types_test.cpp)
target_compile_options(codec_types_test PRIVATE -Wall -Wextra)
