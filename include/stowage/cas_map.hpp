// cas_map.hpp — content-addressable blobs with deduplication, references
// and garbage collection, as a database participant.
//
//   cas_map<file_storage, sha256, fastcdc> blobs(db, fastcdc(16 << 10, 64 << 10, 256 << 10));
//   auto d = blobs.put_file("video.mp4");          // the same hex sha256sum prints
//   auto tx = db.transaction();
//   tx.put(sessions, s);                          // the caller's own write...
//   blobs.add_ref(tx, d, "session-42", "video");  // ...and the reference: one commit
//   tx.commit();
//
// A blob's id is the digest of its whole content, whatever the chunking.
// Content is stored as chunks (a blob is one chunk with `whole`), each at
// "cas/<hasher>/<first two hex>/<chunk digest hex>" (e.g. cas/sha256/ab/ab12…)
// — sharded as git does —
// written straight to the storage (outside the log: a chunk is immutable and
// verified by its name) and synced before anything refers to it. What
// refers to chunks goes through the database, so it is atomic with the
// caller's transactions and recovered by the WAL:
//   collection "cas_blobs": per blob a manifest (size, number of puts, the
//       chunk digests and sizes), listed with size and puts as projection;
//   collection "cas_refs": per referenced blob its set of (owner, name).
// A reference count is the size of that set, so after a crash it is never
// lower (nor higher) than the references that exist.
//
// Garbage collection frees blobs nothing refers to (including blobs put but
// never referenced, once `grace` has passed since their last put), then
// every chunk no remaining manifest uses. Races are closed on two levels:
// puts and the sweep exclude each other (a put that deduplicates against a
// chunk cannot interleave with freeing it), and freeing a blob is a
// transaction that re-reads its references and manifest, so a concurrent
// add_ref either commits first (the blob stays) or finds it gone (not_found).
//
// A collection can be stopped (a stop predicate or a std::stop_token,
// asked between blobs and between chunks): blobs it freed stay freed
// (each was its own transaction) and the chunks they leave unused are
// swept by the next collection, so stopping never loses anything.
//
// Streaming: put(istream) and put_file hold at most one maximal chunk plus
// one read block in memory; with `whole` the content is streamed to a
// temporary key, synced and renamed into place (storages with renames_keys;
// others hold the blob in memory). get(digest, ostream) streams chunk by
// chunk, each verified before it is written out; the whole-blob digest is
// checked at the end (a mismatch then throws after output was written, so a
// caller must treat the exception as "discard the output").
//
// Thread safety: puts, gets, reference changes and stats from any number of
// threads; collect_garbage excludes puts while it sweeps.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <limits>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "bytes.hpp"
#include "chunk/whole.hpp"
#include "codec/binary.hpp"
#include "concepts.hpp"
#include "database.hpp"
#include "describe.hpp"
#include "error.hpp"
#include "hash/hex.hpp"
#include "hash/sha256.hpp"

namespace stowage {

namespace detail {

// The whole-content digest of a multi-chunk stream, computed on a second
// thread while the caller cuts and hashes chunks: the two hashing passes
// over the same bytes then run on two cores. The first `inline_bytes` are
// hashed on the caller's thread (a small stream is not worth a thread);
// after that, blocks are copied to a queue at most `depth` deep, so memory
// stays bounded and a slow hasher slows the reader instead of growing it.
template <class Hasher>
class background_hasher {
public:
    using digest = typename Hasher::digest;
    static constexpr std::size_t depth = 4;
    static constexpr std::size_t inline_bytes = 1u << 20;

    background_hasher() = default;
    background_hasher(const background_hasher&) = delete;
    background_hasher& operator=(const background_hasher&) = delete;
    ~background_hasher() { stop(); }

    void update(bytes_view block) {
        if (!thread_.joinable()) {
            if (hashed_inline_ + block.size() <= inline_bytes) {
                hasher_.update(block);
                hashed_inline_ += block.size();
                return;
            }
            thread_ = std::thread([this] { run(); });  // takes over hasher_ from here on
        }
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return queue_.size() < depth; });
        // Buffers are recycled: at most depth + 1 exist, and no allocation
        // churn per block.
        bytes buffer;
        if (!spare_.empty()) {
            buffer = std::move(spare_.back());
            spare_.pop_back();
        }
        buffer.assign(block.begin(), block.end());
        queue_.push_back(std::move(buffer));
        ready_.notify_one();
    }

    digest finish() {
        stop();
        return hasher_.finish();
    }

private:
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        ready_.notify_one();
        thread_.join();
    }

    void run() {
        for (;;) {
            bytes block;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return closed_ || !queue_.empty(); });
                if (queue_.empty()) return;  // closed and drained
                block = std::move(queue_.front());
                queue_.pop_front();
            }
            hasher_.update(block);
            {
                std::lock_guard lock(mutex_);
                spare_.push_back(std::move(block));
            }
            space_.notify_one();
        }
    }

    Hasher hasher_;
    std::size_t hashed_inline_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable ready_, space_;
    std::deque<bytes> queue_;
    std::vector<bytes> spare_;  // hashed buffers, reused by update()
    bool closed_ = false;
};

}  // namespace detail

struct cas_chunk {
    std::string digest;  // hex
    std::uint64_t size = 0;
    bool operator==(const cas_chunk&) const = default;
};
STOWAGE_DESCRIBE(cas_chunk, digest, size)

struct cas_manifest {
    std::string id;  // the blob digest, hex
    std::uint64_t size = 0;
    std::uint64_t puts = 0;  // how many times this content was put
    std::vector<cas_chunk> chunks;
};
STOWAGE_DESCRIBE(cas_manifest, id, size, puts, chunks)

struct cas_ref {
    std::string owner;
    std::string name;
    bool operator==(const cas_ref&) const = default;
};
STOWAGE_DESCRIBE(cas_ref, owner, name)

struct cas_refs {
    std::string id;  // the blob digest, hex
    std::vector<cas_ref> refs;
};
STOWAGE_DESCRIBE(cas_refs, id, refs)

struct cas_options {
    // An unreferenced blob survives garbage collection this long after its
    // last put, so a caller can put and then reference it.
    std::chrono::seconds grace{3600};
    // Bytes read from a stream at a time.
    std::size_t read_block = 1 << 20;
};

struct cas_stats {
    std::uint64_t logical_bytes = 0;   // every put counted (a blob put twice counts twice)
    std::uint64_t physical_bytes = 0;  // distinct chunk content stored
    std::uint64_t blobs = 0;
    std::uint64_t chunks = 0;
    double dedup_ratio() const { return physical_bytes ? double(logical_bytes) / double(physical_bytes) : 1.0; }
};

struct cas_gc_report {
    std::uint64_t blobs_freed = 0;
    std::uint64_t chunks_freed = 0;
    std::uint64_t bytes_freed = 0;
    // The stop predicate ended the collection early: the blobs counted above
    // are freed for good, chunks they leave unused wait for the next run.
    bool stopped = false;
};

// One blob of a listing (cas_map::blobs).
struct cas_blob_info {
    std::string id;          // the blob digest, hex
    std::uint64_t size = 0;  // its content's size in bytes
    std::uint64_t puts = 0;  // how many times this content was put
    bool operator==(const cas_blob_info&) const = default;
};

using cas_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;
// Asked between units of work; true stops the work there.
using cas_stop = std::function<bool()>;

template <storage Storage, hasher Hasher = sha256, class Chunking = whole>
    requires byte_chunker<Chunking>
class cas_map {
public:
    using digest = typename Hasher::digest;
    using hasher_type = Hasher;
    using manifests_store = db_store<cas_manifest, Storage, binary_codec, crc32c>;
    using refs_store = db_store<cas_refs, Storage, binary_codec, crc32c>;

    explicit cas_map(database<Storage>& db, Chunking chunking = Chunking(), cas_options options = {})
        : db_(db),
          raw_(db.raw_storage()),
          chunking_(std::move(chunking)),
          options_(options),
          manifests_(db.storage(), detail::internal_collection{"cas_blobs"}),
          refs_(db.storage(), detail::internal_collection{"cas_refs"}) {}

    const Chunking& chunking() const { return chunking_; }

    // --- put -------------------------------------------------------------------

    digest put(bytes_view data) {
        std::shared_lock gc(gc_mutex_);
        std::size_t first = data.empty() ? 0 : chunking_.cut(data.first(std::min(data.size(), chunking_.max_size())));
        if (first == data.size()) {
            // One chunk (or none): its digest is the blob's id; hash once.
            if constexpr (renames_keys<Storage>)
                if (data.size() >= (1u << 20)) return put_one_chunk_overlapped(data);
            digest d = hash_of<Hasher>(data);
            std::vector<cas_chunk> chunks;
            if (!data.empty()) chunks.push_back(store_chunk(data, to_hex(d)));
            return finish_put(d, std::move(chunks));
        }
        // Several chunks: the whole-content digest is a second pass over the
        // same bytes; large blobs share the work with another core.
        if (data.size() >= (1u << 20)) return put_chunks_on_two_cores(data);
        digest d = hash_of<Hasher>(data);
        std::vector<cas_chunk> chunks;
        while (!data.empty()) {
            std::size_t n = chunking_.cut(data.first(std::min(data.size(), chunking_.max_size())));
            chunks.push_back(store_chunk(data.first(n)));
            data = data.subspan(n);
        }
        return finish_put(d, std::move(chunks));
    }

    digest put(std::istream& in) {
        std::shared_lock gc(gc_mutex_);
        if constexpr (std::is_same_v<Chunking, whole> && renames_keys<Storage>) {
            return put_whole_stream(in);
        } else {
            detail::background_hasher<Hasher> whole_hash;
            std::vector<cas_chunk> chunks;
            bytes buffer;
            std::size_t start = 0;
            const std::size_t want = chunking_.max_size() == std::numeric_limits<std::size_t>::max()
                                         ? std::numeric_limits<std::size_t>::max()
                                         : chunking_.max_size();
            bool eof = false;
            while (true) {
                // Fill until a maximal chunk is buffered or the stream ends.
                while (!eof && buffer.size() - start < want) {
                    std::size_t old = buffer.size();
                    std::size_t block = options_.read_block;
                    buffer.resize(old + block);
                    in.read(reinterpret_cast<char*>(buffer.data() + old), static_cast<std::streamsize>(block));
                    auto got = static_cast<std::size_t>(in.gcount());
                    buffer.resize(old + got);
                    whole_hash.update(bytes_view(buffer).subspan(old, got));
                    if (got < block) {
                        if (in.bad()) throw error(errc::io, "cas put: reading the input stream failed");
                        eof = true;
                    }
                }
                bytes_view pending = bytes_view(buffer).subspan(start);
                if (pending.empty()) break;
                std::size_t n = chunking_.cut(pending.first(std::min(pending.size(), want)));
                chunks.push_back(store_chunk(pending.first(n)));
                start += n;
                if (start > buffer.size() / 2) {  // keep the buffer bounded
                    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(start));
                    start = 0;
                }
            }
            return finish_put(whole_hash.finish(), std::move(chunks));
        }
    }

    digest put_file(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw error(errc::io, "cas put: cannot open " + path.string());
        return put(in);
    }

    // --- get -------------------------------------------------------------------

    bool contains(const digest& d) const { return manifests_.get(to_hex(d)).has_value(); }

    std::optional<std::uint64_t> size(const digest& d) const {
        auto m = manifests_.get(to_hex(d));
        if (!m) return std::nullopt;
        return m->size;
    }

    // The blob, verified; nullopt when absent; checksum_mismatch on damage.
    std::optional<bytes> get(const digest& d) const {
        bytes out;
        struct appender {
            bytes& out;
            void operator()(bytes_view b) const { append(out, b); }
        };
        if (!read_blob(d, appender{out})) return std::nullopt;
        return out;
    }

    // Streams the blob to `out`; false when absent.
    bool get(const digest& d, std::ostream& out) const {
        return read_blob(d, [&](bytes_view b) {
            out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
            if (!out) throw error(errc::io, "cas get: writing the output failed");
        });
    }

    // Every blob in digest (hex) order, with its size and put count, from
    // the manifests' listing (no record is read).
    std::vector<cas_blob_info> blobs() const {
        std::vector<cas_blob_info> out;
        auto listing = manifests_.list();
        out.reserve(listing.size());
        for (const auto& m : listing) out.push_back({m.id, listed_number(m, "size"), listed_number(m, "puts")});
        return out;
    }

    // The first n bytes of the blob (all of it when it is shorter); nullopt
    // when absent. Reads only the chunks that hold those bytes and verifies
    // each of them whole: a chunk that ends within n bytes always, the chunk
    // that holds byte n too when it is at most one read block (options'
    // read_block) or n reaches into its last block — a prefix of a larger
    // chunk cannot be checked without reading all of it, and is returned as
    // stored. When n covers the blob, the blob's digest is checked as well.
    // checksum_mismatch / corrupt on damage found.
    std::optional<bytes> head(const digest& d, std::size_t n) const {
        std::string id = to_hex(d);
        auto m = manifests_.get(id);
        if (!m) return std::nullopt;
        bytes out;
        std::uint64_t want = std::min<std::uint64_t>(n, m->size);
        out.reserve(static_cast<std::size_t>(want));
        Hasher whole_hash;
        bool whole_checked = want == m->size;
        for (const auto& c : m->chunks) {
            if (out.size() >= want) break;
            std::string key = chunk_key(c.digest);
            if (!raw_.contains(key)) throw error(errc::corrupt, "cas blob " + id + ": chunk " + c.digest + " is missing");
            std::uint64_t need = want - out.size();
            bool whole_chunk = need >= c.size || c.size <= options_.read_block ||
                               c.size - need < options_.read_block;
            if (whole_chunk) {
                read_chunk(id, key, c, [&](bytes_view piece) {
                    if (whole_checked) whole_hash.update(piece);
                    std::uint64_t take = std::min<std::uint64_t>(piece.size(), want - out.size());
                    append(out, piece.first(static_cast<std::size_t>(take)));
                });
            } else {
                bytes piece = raw_.read_range(key, 0, static_cast<std::size_t>(need));
                if (piece.size() != need)
                    throw error(errc::corrupt, "cas blob " + id + ": chunk " + c.digest + " is shorter than its manifest says");
                append(out, piece);
            }
        }
        if (out.size() != want) throw error(errc::corrupt, "cas blob " + id + ": chunks are shorter than its manifest says");
        if (whole_checked && whole_hash.finish() != d)
            throw error(errc::checksum_mismatch, "cas blob " + id + ": content does not match its digest");
        return out;
    }

    // --- references ------------------------------------------------------------

    // Within the caller's transaction. not_found when the blob does not exist.
    void add_ref(db_transaction<Storage>& tx, const digest& d, std::string owner, std::string name) {
        std::string id = to_hex(d);
        if (!tx.get(manifests_, id)) throw error(errc::not_found, "cas add_ref: no blob " + id);
        auto r = tx.get(refs_, id).value_or(cas_refs{id, {}});
        cas_ref ref{std::move(owner), std::move(name)};
        if (std::find(r.refs.begin(), r.refs.end(), ref) == r.refs.end()) r.refs.push_back(std::move(ref));
        tx.put(refs_, r);
    }

    // Removes every reference `owner` holds on the blob; returns how many.
    std::size_t remove_ref(db_transaction<Storage>& tx, const digest& d, std::string_view owner) {
        std::string id = to_hex(d);
        auto r = tx.get(refs_, id);
        if (!r) return 0;
        auto before = r->refs.size();
        std::erase_if(r->refs, [&](const cas_ref& x) { return x.owner == owner; });
        std::size_t removed = before - r->refs.size();
        if (r->refs.empty()) tx.erase(refs_, id);
        else if (removed) tx.put(refs_, *r);
        return removed;
    }

    // The same, each in a transaction of its own (retried on conflict).
    void add_ref(const digest& d, std::string owner, std::string name) {
        retry([&](auto& tx) { add_ref(tx, d, owner, name); });
    }
    std::size_t remove_ref(const digest& d, std::string_view owner) {
        std::size_t n = 0;
        retry([&](auto& tx) { n = remove_ref(tx, d, owner); });
        return n;
    }

    std::vector<cas_ref> refs(const digest& d) const {
        auto r = refs_.get(to_hex(d));
        return r ? r->refs : std::vector<cas_ref>{};
    }
    // The references as the caller's transaction sees them (its own staged
    // changes included); reading them makes the transaction conflict with
    // any concurrent change to them.
    std::vector<cas_ref> refs(db_transaction<Storage>& tx, const digest& d) const {
        auto r = tx.get(refs_, to_hex(d));
        return r ? std::move(r->refs) : std::vector<cas_ref>{};
    }
    std::size_t ref_count(const digest& d) const { return refs(d).size(); }

    // --- maintenance -----------------------------------------------------------

    // Frees unreferenced blobs (each in a transaction of its own), then
    // the chunks no remaining blob uses. progress(done, total) counts blobs
    // examined and then blobs whose chunks were collected. should_stop is
    // asked after each of those units and between chunk removals; true ends
    // the collection there, with report.stopped set (see the header comment).
    cas_gc_report collect_garbage(const cas_progress& progress = {}, const cas_stop& should_stop = {}) {
        std::unique_lock gc(gc_mutex_);  // no put interleaves with the sweep
        cas_gc_report report;
        auto stop_here = [&] {
            if (should_stop && should_stop()) report.stopped = true;
            return report.stopped;
        };
        auto listing = manifests_.list();
        std::uint64_t done = 0, total = listing.size() * 2;
        auto now = std::chrono::steady_clock::now();
        for (const auto& m : listing) {
            if (progress) progress(++done, total);
            if (stop_here()) return report;
            if (refs_.contains(m.id)) continue;
            {
                std::lock_guard lock(recent_mutex_);
                auto it = recent_.find(m.id);
                if (it != recent_.end() && now - it->second < options_.grace) continue;
            }
            // Free the blob in a transaction that re-reads what it depends
            // on: a concurrent add_ref makes one of the two fail.
            try {
                auto tx = db_.transaction();
                auto r = tx.get(refs_, m.id);
                if (r && !r->refs.empty()) continue;
                if (!tx.get(manifests_, m.id)) continue;
                tx.erase(manifests_, m.id);
                if (r) tx.erase(refs_, m.id);
                tx.commit();
                report.blobs_freed++;
                std::lock_guard lock(recent_mutex_);
                recent_.erase(m.id);
            } catch (const error& e) {
                if (e.kind() != errc::conflict) throw;
            }
        }
        // Every chunk a remaining manifest uses is live.
        std::set<std::string, std::less<>> live;
        for (const auto& m : manifests_.list()) {
            if (progress) progress(++done, total);
            if (stop_here()) return report;
            if (auto man = manifests_.get(m.id))
                for (auto& c : man->chunks) live.insert(c.digest);
        }
        for (const auto& key : raw_.list("cas/")) {
            if (key.starts_with("cas/tmp/")) {  // a streamed put that never finished
                raw_.remove(key, durability::none);
                continue;
            }
            if (!key.starts_with(chunk_prefix())) continue;
            std::string_view hex = std::string_view(key).substr(key.rfind('/') + 1);
            if (live.count(hex)) continue;
            if (stop_here()) break;
            report.bytes_freed += raw_.size(key).value_or(0);
            raw_.remove(key, durability::none);
            report.chunks_freed++;
        }
        raw_.flush();
        return report;
    }
    // The same, stopped by a std::stop_token (e.g. a std::jthread's).
    cas_gc_report collect_garbage(std::stop_token stop, const cas_progress& progress = {}) {
        return collect_garbage(progress, [&stop] { return stop.stop_requested(); });
    }

    // Re-hashes every chunk and every blob; returns what is damaged.
    verify_report verify(const cas_progress& progress = {}) const {
        verify_report report;
        auto chunk_keys = raw_.list(chunk_prefix());
        auto listing = manifests_.list();
        std::uint64_t done = 0, total = chunk_keys.size() + listing.size();
        for (const auto& key : chunk_keys) {
            if (progress) progress(++done, total);
            ++report.records;
            auto data = raw_.read(key);
            if (!data) continue;
            report.bytes += data->size();
            if (to_hex(hash_of<Hasher>(*data)) != key.substr(key.rfind('/') + 1))
                report.damaged.emplace_back(key, key + ": chunk content does not match its digest");
        }
        for (const auto& m : listing) {
            if (progress) progress(++done, total);
            ++report.records;
            try {
                digest d = digest_from_hex<Hasher>(m.id);
                read_blob(d, [](bytes_view) {});
            } catch (const error& e) {
                report.damaged.emplace_back("cas_blobs/" + m.id, e.what());
            }
        }
        return report;
    }

    cas_stats stats() const {
        cas_stats s;
        for (const auto& m : manifests_.list()) {
            ++s.blobs;
            s.logical_bytes += listed_number(m, "size") * std::max<std::uint64_t>(1, listed_number(m, "puts"));
        }
        for (const auto& key : raw_.list(chunk_prefix())) {
            ++s.chunks;
            s.physical_bytes += raw_.size(key).value_or(0);
        }
        return s;
    }

    // "cas/<hasher>/<first two hex>/<hex>"
    static std::string chunk_prefix() { return "cas/" + std::string(Hasher::name) + "/"; }
    static std::string chunk_key(std::string_view hex) {
        return chunk_prefix() + std::string(hex.substr(0, 2)) + "/" + std::string(hex);
    }

private:
    // A number of a manifest's listing projection (0 when absent).
    static std::uint64_t listed_number(const typename manifests_store::listed& m, std::string_view field) {
        auto* v = m.projection.find(field);
        if (!v || !v->is_number()) return 0;
        return v->template as_integer<std::uint64_t>().value_or(0);
    }

    // Writes a chunk unless it is already stored (that is the dedup).
    cas_chunk store_chunk(bytes_view data, std::string hex = {}) {
        if (hex.empty()) hex = to_hex(hash_of<Hasher>(data));
        std::string key = chunk_key(hex);
        if (!raw_.contains(key)) {
            raw_.replace(key, data, durability::batched);
            dirty_ = true;
        }
        return {hex, data.size()};
    }

    // Chunks durable first, then the manifest (a transaction).
    digest finish_put(const digest& d, std::vector<cas_chunk> chunks) {
        if (dirty_.exchange(false)) raw_.flush();
        std::string id = to_hex(d);
        std::uint64_t size = 0;
        for (auto& c : chunks) size += c.size;
        retry([&](auto& tx) {
            auto m = tx.get(manifests_, id);
            if (m) {
                m->puts++;
                tx.put(manifests_, *m);
            } else {
                tx.put(manifests_, cas_manifest{id, size, 1, chunks});
            }
        });
        std::lock_guard lock(recent_mutex_);
        recent_[id] = std::chrono::steady_clock::now();
        return d;
    }

    // A large blob of several chunks costs three passes over its bytes:
    // finding the cut points, the whole-content digest and the chunk
    // digests (each chunk then stored). The calling thread cuts while a
    // helper takes the whole-content digest; then both hash and store
    // chunks, claimed one at a time from a shared counter, so the two
    // cores finish together whatever the hasher's and the chunker's speeds
    // (with SHA-NI a FastCDC cut search costs about as much as hashing).
    digest put_chunks_on_two_cores(bytes_view data) {
        std::vector<bytes_view> pieces;
        std::vector<cas_chunk> chunks;
        std::atomic<std::size_t> next{0};
        std::atomic<bool> cut_done{false};
        std::exception_ptr helper_failed;
        auto hash_and_store = [&] {
            for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < pieces.size();)
                chunks[i] = store_chunk(pieces[i]);
        };
        // Stops the other thread's claims after a failure (or before any
        // chunk was cut): its loop then finds nothing left.
        auto abandon = [&] {
            next.store(std::numeric_limits<std::size_t>::max() / 2, std::memory_order_relaxed);
            cut_done.store(true, std::memory_order_release);
            cut_done.notify_one();
        };
        digest d{};
        {
            std::jthread helper([&] {
                try {
                    d = hash_of<Hasher>(data);
                    cut_done.wait(false, std::memory_order_acquire);
                    hash_and_store();
                } catch (...) {
                    helper_failed = std::current_exception();
                    next.store(std::numeric_limits<std::size_t>::max() / 2, std::memory_order_relaxed);
                }
            });
            try {
                for (bytes_view rest = data; !rest.empty();) {
                    std::size_t n = chunking_.cut(rest.first(std::min(rest.size(), chunking_.max_size())));
                    pieces.push_back(rest.first(n));
                    rest = rest.subspan(n);
                }
                chunks.resize(pieces.size());
                cut_done.store(true, std::memory_order_release);
                cut_done.notify_one();
                hash_and_store();
            } catch (...) {
                abandon();
                throw;  // the helper is joined on the way out
            }
        }
        if (helper_failed) std::rethrow_exception(helper_failed);
        return finish_put(d, std::move(chunks));
    }

    // A large one-chunk blob over a storage that renames: it is written under
    // a temporary key while another core hashes it, then renamed to its
    // digest's key — or dropped when that chunk is already stored (the
    // dedup). Storing no longer waits for the hash (with SHA-NI, hashing and
    // copying cost about the same). A crash leaves at most the temporary,
    // which collect_garbage removes.
    digest put_one_chunk_overlapped(bytes_view data) {
        std::string temp = temp_key();
        digest d{};
        try {
            std::jthread hashing([&d, data] { d = hash_of<Hasher>(data); });
            raw_.replace(temp, data, durability::batched);
        } catch (...) {
            try {
                raw_.remove(temp, durability::none);
            } catch (...) {
            }
            throw;
        }
        std::string hex = to_hex(d);
        std::string key = chunk_key(hex);
        if (raw_.contains(key)) {
            raw_.remove(temp, durability::none);
        } else {
            raw_.rename(temp, key, durability::batched);
            dirty_ = true;  // finish_put's flush makes the chunk durable before the manifest
        }
        return finish_put(d, {cas_chunk{hex, data.size()}});
    }

    std::string temp_key() {
        return "cas/tmp/" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "-" +
               std::to_string(++temp_counter_);
    }

    // `whole` over a storage that renames: stream to a temporary log,
    // hashing as it goes, then sync and rename it into place.
    digest put_whole_stream(std::istream& in) {
        std::string temp = temp_key();
        Hasher h;
        bytes block(options_.read_block);
        std::uint64_t size = 0;
        raw_.replace(temp, {}, durability::none);
        try {
            while (true) {
                in.read(reinterpret_cast<char*>(block.data()), static_cast<std::streamsize>(block.size()));
                auto got = static_cast<std::size_t>(in.gcount());
                if (got > 0) {
                    bytes_view b = bytes_view(block).first(got);
                    h.update(b);
                    raw_.append(temp, b);
                    size += got;
                }
                if (got < block.size()) {
                    if (in.bad()) throw error(errc::io, "cas put: reading the input stream failed");
                    break;
                }
            }
            digest d = h.finish();
            std::string hex = to_hex(d);
            std::string key = chunk_key(hex);
            if (raw_.contains(key)) {
                raw_.remove(temp, durability::none);
            } else {
                raw_.sync(temp);
                raw_.rename(temp, key, durability::full);
            }
            return finish_put(d, {cas_chunk{hex, size}});
        } catch (...) {
            try {
                raw_.remove(temp, durability::none);
            } catch (...) {
            }
            throw;
        }
    }

    // Reads one chunk in blocks of read_block (large chunks, e.g. whole
    // blobs, never sit in memory at once), feeding each non-empty piece to
    // `piece`, and checks its length and digest at the end
    // (checksum_mismatch). Returns its length.
    template <class Piece>
    std::uint64_t read_chunk(const std::string& blob_id, const std::string& key, const cas_chunk& c, Piece&& piece) const {
        Hasher chunk_hash;
        std::uint64_t offset = 0;
        bytes block;
        do {
            block = raw_.read_range(key, offset, options_.read_block);
            chunk_hash.update(block);
            if (!block.empty()) piece(bytes_view(block));
            offset += block.size();
        } while (block.size() == options_.read_block);
        if (offset != c.size || to_hex(chunk_hash.finish()) != c.digest)
            throw error(errc::checksum_mismatch, "cas blob " + blob_id + ": chunk " + c.digest + " does not match its digest");
        return offset;
    }

    // Feeds the blob's verified content to `sink` in pieces.
    template <class Sink>
    bool read_blob(const digest& d, Sink&& sink) const {
        std::string id = to_hex(d);
        auto m = manifests_.get(id);
        if (!m) return false;
        Hasher whole_hash;
        std::uint64_t total = 0;
        for (const auto& c : m->chunks) {
            std::string key = chunk_key(c.digest);
            if (!raw_.contains(key)) throw error(errc::corrupt, "cas blob " + id + ": chunk " + c.digest + " is missing");
            // A chunk's digest can only be checked at its end, so the pieces
            // of a damaged chunk may already have reached the sink.
            total += read_chunk(id, key, c, [&](bytes_view piece) {
                whole_hash.update(piece);
                sink(piece);
            });
        }
        if (total != m->size || whole_hash.finish() != d)
            throw error(errc::checksum_mismatch, "cas blob " + id + ": content does not match its digest");
        return true;
    }

    template <class F>
    void retry(F&& f) {
        db_.run_transaction(std::forward<F>(f));
    }

    database<Storage>& db_;
    mutable Storage raw_;
    Chunking chunking_;
    cas_options options_;
    manifests_store manifests_;
    refs_store refs_;
    std::shared_mutex gc_mutex_;
    std::atomic<bool> dirty_{false};
    std::atomic<std::uint64_t> temp_counter_{0};
    std::mutex recent_mutex_;
    std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> recent_;
};

}  // namespace stowage
