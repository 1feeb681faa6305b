# Search (issue 6): tokenizers, postings, segments, the in-memory and the
# persistent inverted index, the metadata query engine, `stowage index`.
# Cases labelled shared_data read ../shared/data/text (the 200,000-document
# corpus with exact answers); the whole corpus runs with STOWAGE_STRESS=1,
# a deterministic part of it otherwise.
stowage_test(index_tokenizer_test index_tokenizer_test.cpp DATA)
stowage_test(index_postings_test index_postings_test.cpp)
stowage_test(index_text_index_test index_text_index_test.cpp DATA TIMEOUT 600)
stowage_test(index_inverted_index_test index_inverted_index_test.cpp TIMEOUT 600)
stowage_test(query_test query_test.cpp TIMEOUT 600)
if(STOWAGE_BUILD_TOOLS)
  stowage_test(index_cli_test index_cli_test.cpp DATA LABELS cli DEPENDS stowage_cli TIMEOUT 600)
  target_compile_definitions(index_cli_test PRIVATE STOWAGE_CLI="$<TARGET_FILE:stowage_cli>")
endif()
