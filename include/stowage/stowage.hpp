// stowage.hpp — the umbrella header: every component and provided policy.
// tools/amalgamate.py turns this file into single_include/stowage/stowage.hpp.
#pragma once

#include "bytes.hpp"
#include "concepts.hpp"
#include "error.hpp"

#include "hash/blake2b.hpp"
#include "hash/crc32c.hpp"
#include "hash/hex.hpp"
#include "hash/sha256.hpp"

#include "storage/faulty.hpp"
#include "storage/file.hpp"
#include "storage/key.hpp"
#include "storage/memory.hpp"
#include "storage/platform.hpp"

#include "describe.hpp"

#include "codec/binary.hpp"
#include "codec/gzip.hpp"
#include "codec/json.hpp"
#include "codec/json_document.hpp"

#include "envelope.hpp"
#include "projection.hpp"
#include "staged_write.hpp"
#include "store.hpp"

#include "database.hpp"
#include "wal.hpp"

#include "chunk/fastcdc.hpp"
#include "chunk/fixed_count.hpp"
#include "chunk/fixed_size.hpp"
#include "chunk/whole.hpp"
#include "cas_map.hpp"
#include "chunked_store.hpp"
#include "maintenance.hpp"
#include "persistence_queue.hpp"

#include "evict/arc.hpp"
#include "evict/lru.hpp"
#include "evict/s3fifo.hpp"
#include "evict/sieve.hpp"
#include "evict/w_tinylfu.hpp"
#include "cache.hpp"
#include "cached_store.hpp"
#include "concurrent_cache.hpp"

#include "index/ascii_tokenizer.hpp"
#include "index/bm25.hpp"
#include "index/postings.hpp"
#include "index/segment.hpp"
#include "index/text_index.hpp"
#include "index/text_query.hpp"
#include "index/tokenizer.hpp"
#include "index/unicode_tokenizer.hpp"
#include "inverted_index.hpp"
#include "query.hpp"

#include "backup.hpp"
#include "export.hpp"
#include "migration.hpp"
