# Codecs: described types, JSON, binary, gzip, json_document.
stowage_test(describe_test describe_test.cpp)
target_compile_options(describe_test PRIVATE -Wall -Wextra)
stowage_test(codec_json_test codec_json_test.cpp)
target_compile_options(codec_json_test PRIVATE -Wall -Wextra)
stowage_test(json_document_test json_document_test.cpp DATA)
target_compile_options(json_document_test PRIVATE -Wall -Wextra)
stowage_test(codec_binary_test codec_binary_test.cpp)
target_compile_options(codec_binary_test PRIVATE -Wall -Wextra)
