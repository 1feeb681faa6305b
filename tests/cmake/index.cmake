# Search (issue 6): tokenizers, postings, segments, the in-memory and the
# persistent inverted index, the metadata query engine, `stowage index`.
# Cases labelled shared_data read ../shared/data/text (the 200,000-document
# corpus with exact answers); the whole corpus runs with STOWAGE_STRESS=1,
# a deterministic part of it otherwise.
stowage_test(index_tokenizer_test index_tokenizer_test.cpp GROUP index DATA)
stowage_test(index_postings_test index_postings_test.cpp GROUP index)
stowage_test(index_text_index_test index_text_index_test.cpp COST 23 GROUP index DATA TIMEOUT 600)
stowage_test(index_inverted_index_test index_inverted_index_test.cpp GROUP index TIMEOUT 600)
stowage_test(query_test query_test.cpp COST 24 GROUP index TIMEOUT 600)
if(STOWAGE_BUILD_TOOLS)
  stowage_test(index_cli_test index_cli_test.cpp COST 35 GROUP cli DATA LABELS cli DEPENDS stowage_cli TIMEOUT 600)
  stowage_test(cli_attached_index_test cli_attached_index_test.cpp COST 10 GROUP cli LABELS cli DEPENDS stowage_cli TIMEOUT 600)
endif()
# Issue 20, point 6: store iteration and inverted_index::rebuild go on past
# a damaged record and report it (both codecs).
stowage_test(iteration_damage_test iteration_damage_test.cpp GROUP index)
stowage_test(attached_index_test attached_index_test.cpp GROUP index TIMEOUT 300)
stowage_test(coherence_model_test coherence_model_test.cpp GROUP index TIMEOUT 600)
