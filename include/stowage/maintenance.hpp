// maintenance.hpp — ready-made maintenance jobs for persistence_queue::add_job:
//
//   cas_gc_job              garbage collection of a cas_map
//   index_optimize_job      merges an index's segments into one
//   recompress_job          re-encodes gzip records older than N days at a
//                           stronger level (e.g. 6 -> 9)
//   cas_rewrite_job         converts blobs of one kind into another and moves
//                           every reference to the converted blob in one
//                           transaction (image/webp.hpp makes it PNG -> WebP)
//
//   persistence_queue<file_storage> q(db);
//   auto gc = q.add_job("cas gc", cas_gc_job(blobs));
//   auto rc = q.add_job("recompress", recompress_job(db, sessions, time_field("start_time"),
//                                                     {.older_than = std::chrono::days(30)}));
//   rc->progress();  rc->pause();  rc->resume();  rc->cancel();
//
// Each job is a small handle (copies share one state) with step(): a bounded
// piece of work that returns true when the job is finished, and
// operator()(queue_job&), which runs a step and reports progress to the
// queue. A test or a command-line tool may call step() directly.
//
// Crashes: every step is one transaction (or, for garbage collection,
// cas_map::collect_garbage's own transactions), so a crash leaves either
// the state before a step or after it. recompress_job and cas_rewrite_job
// keep their cursor in the database ("maintenance_jobs/<name>", an envelope
// record written in the same transaction as the step's changes): a job
// created again after a crash, a cancel or a restart with the same name
// continues after the last committed step; a finished pass removes its
// cursor, so the next pass starts from the beginning. Rewrites never change
// what a record or a blob decodes to, and a crash between storing a
// converted blob and moving its references leaves an unreferenced blob that
// garbage collection frees.
//
// Versions: a rewritten record gets a new LSN, like any write. A queued
// whole-entity write based on the older LSN then fails with errc::conflict
// (the safe answer: its producer re-reads); the jobs run only while the
// queue is idle, which keeps this rare.
//
// Control: the queue pauses, resumes and cancels between steps. Steps are
// small (a batch of records, one blob, one index merge), except garbage
// collection, which is one cas_map::collect_garbage call: it stops between
// blobs (and between chunks) when the job is paused or cancelled or its
// yield_when says so.
//
// Lifetime: a job refers to the database, store, cas_map or index it works
// on; they must outlive the job and the queue that holds it.
//
// Thread safety: a job's state is locked, so its handle may be inspected
// from any thread while the queue's worker runs it; run one job object on
// one thread at a time (persistence_queue does).
// Durability: each step commits with the job's `durability` (full by default).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "cas_map.hpp"
#include "codec/binary.hpp"
#include "codec/gzip.hpp"
#include "database.hpp"
#include "describe.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "hash/crc32c.hpp"
#include "persistence_queue.hpp"
#include "store.hpp"

namespace stowage {

// A resumable job's position, stored at record_key("maintenance_jobs", name).
struct maintenance_cursor {
    std::string id;     // the job's name
    std::string after;  // the last item a committed step finished ("" = none)
    std::uint64_t done = 0;
    std::uint64_t rewritten = 0;     // items this pass rewrote so far
    std::uint64_t bytes_before = 0;  // their size before...
    std::uint64_t bytes_after = 0;   // ...and after
};
STOWAGE_DESCRIBE(maintenance_cursor, id, after, done, rewritten, bytes_before, bytes_after)

// What a rewriting job has done in its current pass (including steps
// committed before a crash or restart) and what it left alone.
struct rewrite_report {
    std::uint64_t examined = 0;      // items this job object looked at
    std::uint64_t rewritten = 0;     // items rewritten this pass
    std::uint64_t bytes_before = 0;  // their stored size before...
    std::uint64_t bytes_after = 0;   // ...and after
    std::uint64_t passes = 0;        // passes finished by this job object
    std::vector<std::pair<std::string, std::string>> skipped_damaged;  // key, what is wrong
};

namespace detail {

inline constexpr std::string_view maintenance_collection = "maintenance_jobs";

inline std::string cursor_key(const std::string& name) { return record_key(maintenance_collection, name); }

inline void validate_job_name(const std::string& name) {
    try {
        validate_collection(name);
    } catch (const error&) {
        throw error(errc::bad_input, "maintenance job name \"" + name.substr(0, 80) +
                                         "\" (1-64 characters of A-Z a-z 0-9 _ -)");
    }
}

inline bytes encode_cursor(const maintenance_cursor& c) {
    bytes payload;
    binary_codec{}.encode(c, payload);
    envelope_header h;
    h.codec = std::string(binary_codec::name);
    h.hasher = std::string(crc32c::name);
    h.id = c.id;
    h.projection = "{}";
    h.payload_size = payload.size();
    auto d = hash_of<crc32c>(payload);
    h.payload_digest.assign(d.begin(), d.end());
    bytes record;
    write_envelope_header(h, record);
    append(record, payload);
    return record;
}

inline maintenance_cursor decode_cursor(bytes_view record, const std::string& key) {
    auto h = verify_record(record, key);
    if (h.codec != binary_codec::name) throw error(errc::corrupt, key + ": not a maintenance cursor");
    maintenance_cursor c;
    binary_codec{}.decode(record.subspan(h.payload_offset), c);
    return c;
}

template <storage Storage>
std::optional<maintenance_cursor> read_cursor(db_transaction<Storage>& tx, const std::string& name) {
    std::string key = cursor_key(name);
    auto record = tx.read(key);
    if (!record) return std::nullopt;
    return decode_cursor(*record, key);
}

template <storage Storage>
std::optional<maintenance_cursor> read_cursor(const database<Storage>& db, const std::string& name) {
    std::string key = cursor_key(name);
    auto record = db.storage().read(key);
    if (!record) return std::nullopt;
    return decode_cursor(*record, key);
}

template <storage Storage>
void stage_cursor(db_transaction<Storage>& tx, const maintenance_cursor& c) {
    tx.stage({cursor_key(c.id), encode_cursor(c), {}});
}

template <storage Storage>
void stage_cursor_erase(db_transaction<Storage>& tx, const std::string& name) {
    tx.stage({cursor_key(name), std::nullopt, {}});
}

template <class S>
struct store_db_storage;
template <storage S>
struct store_db_storage<db_view<S>> {
    using type = S;
};

// The gzip header's XFL byte is 2 when the stream was deflated at level 9.
inline bool gzip_says_level_9(bytes_view gz) noexcept {
    return gz.size() > 9 && gz[0] == std::byte{0x1f} && gz[1] == std::byte{0x8b} && gz[8] == std::byte{2};
}

}  // namespace detail

// --- garbage collection ------------------------------------------------------------

struct cas_gc_job_options {
    // Asked between blobs: true stops the collection (the next step starts
    // it again; blobs already freed stay freed). E.g. [&q] { return q.pending() > 0; }
    // so a collection never holds up writes that arrive while it runs.
    std::function<bool()> yield_when;
};

// One step runs cas_map::collect_garbage (each blob freed in a transaction
// of its own, chunks swept after), reporting its progress. A paused or
// cancelled job, or one whose yield_when says so, stops between blobs:
// step() then returns false (a cancelled job: true, it is over); the next
// step starts a new collection, which also sweeps the chunks the stopped
// one left.
template <class Cas>
class cas_gc_job {
public:
    explicit cas_gc_job(Cas& cas, cas_gc_job_options options = {}) : state_(std::make_shared<state>(cas, std::move(options))) {}

    bool step() { return run(nullptr); }
    bool operator()(queue_job& job) { return run(&job); }

    // Summed over every collection of this job, stopped ones included.
    cas_gc_report report() const {
        std::lock_guard lock(state_->mutex);
        return state_->total;
    }
    std::pair<std::uint64_t, std::uint64_t> progress() const {
        std::lock_guard lock(state_->mutex);
        return state_->progress;
    }
    std::uint64_t interruptions() const {
        std::lock_guard lock(state_->mutex);
        return state_->interruptions;
    }

private:
    struct state {
        state(Cas& c, cas_gc_job_options o) : cas(c), options(std::move(o)) {}
        Cas& cas;
        cas_gc_job_options options;
        mutable std::mutex mutex;
        cas_gc_report total;
        std::pair<std::uint64_t, std::uint64_t> progress{0, 0};
        std::uint64_t interruptions = 0;
    };

    bool run(queue_job* job) {
        auto& st = *state_;
        auto r = st.cas.collect_garbage(
            [&](std::uint64_t done, std::uint64_t total) {
                {
                    std::lock_guard lock(st.mutex);
                    st.progress = {done, total};
                }
                if (job) job->report(done, total);
            },
            [&] {
                return (job && (job->cancelled() || job->paused())) || (st.options.yield_when && st.options.yield_when());
            });
        std::lock_guard lock(st.mutex);
        st.total.blobs_freed += r.blobs_freed;
        st.total.chunks_freed += r.chunks_freed;
        st.total.bytes_freed += r.bytes_freed;
        if (r.stopped) {
            ++st.interruptions;
            return job && job->cancelled();
        }
        st.progress.first = st.progress.second;
        if (job) job->report(st.progress.first, st.progress.second);
        return true;
    }

    std::shared_ptr<state> state_;
};

// --- index optimisation --------------------------------------------------------------

struct index_optimize_options {
    // Merge when the index has at least this many segments...
    std::uint64_t min_segments = 2;
    // ...or when at least this fraction of the documents its segments hold
    // are deleted (0: any deleted document).
    double min_deleted_fraction = 0.0;
    durability commit_durability = durability::full;
};

// Merges an index's segments into one, one merge per step: a pass starts
// when the index needs it (needed()) and then each step is one
// merge_once() transaction (document_index::merge_once: at most
// merge_factor segments, or the merge policy's run), until one clean
// segment is left — the state optimize() gives in a single transaction.
// Between steps the queue may pause or cancel the job, or run writes; a
// crash loses at most the merge in flight. Index: document_index or
// inverted_index.
template <class Index>
class index_optimize_job {
public:
    explicit index_optimize_job(Index& index, index_optimize_options options = {})
        : state_(std::make_shared<state>(index, options)) {
        if (!(options.min_deleted_fraction >= 0.0 && options.min_deleted_fraction <= 1.0))
            throw error(errc::bad_input, "index_optimize_job: min_deleted_fraction must be within 0..1");
    }

    // Whether the index has something to merge now (by the thresholds).
    bool needed() const {
        auto s = state_->index.core().stats();
        if (s.segments == 0) return false;
        if (s.segments >= std::max<std::uint64_t>(2, state_->options.min_segments)) return true;
        if (s.deleted == 0) return false;
        return double(s.deleted) >= state_->options.min_deleted_fraction * double(s.documents + s.deleted);
    }

    // One merge (or, when no pass runs and none is needed, nothing); true
    // when the pass is over.
    bool step() {
        auto& st = *state_;
        if (!st.running) {
            auto segments = st.index.core().stats().segments;
            std::lock_guard lock(st.mutex);
            st.segments_before = st.segments_after = segments;
            st.merges = 0;
            st.finished = false;
        }
        if (!st.running && !needed()) return finish(st);
        st.running = true;
        bool merged = st.index.merge_once(st.options.commit_durability);
        auto s = st.index.core().stats();
        {
            std::lock_guard lock(st.mutex);
            st.segments_after = s.segments;
            if (merged) ++st.merges;
        }
        if (!merged || (s.segments <= 1 && s.deleted == 0)) return finish(st);
        return false;
    }
    bool operator()(queue_job& job) {
        bool done = step();
        auto p = progress();
        job.report(p.first, p.second);
        return done;
    }

    // Segments when the current (or last) pass began, and now.
    std::pair<std::uint64_t, std::uint64_t> segments() const {
        std::lock_guard lock(state_->mutex);
        return {state_->segments_before, state_->segments_after};
    }
    // Merges done in the current (or last) pass, and that plus an estimate
    // of the merges left (equal once the pass is over).
    std::pair<std::uint64_t, std::uint64_t> progress() const {
        std::lock_guard lock(state_->mutex);
        const auto& st = *state_;
        if (st.finished || !st.running) return {st.merges, st.merges};
        std::uint64_t left = 1;
        if (st.segments_after > 1) {
            std::uint64_t width = std::max<std::uint64_t>(2, st.index.core().options().merge_factor);
            left = (st.segments_after - 1 + width - 2) / (width - 1);
        }
        return {st.merges, st.merges + left};
    }
    // Whether a pass ran to its end (reset when a new pass begins).
    bool finished() const {
        std::lock_guard lock(state_->mutex);
        return state_->finished;
    }

private:
    struct state {
        state(Index& i, index_optimize_options o) : index(i), options(o) {}
        Index& index;
        index_optimize_options options;
        mutable std::mutex mutex;
        std::uint64_t segments_before = 0, segments_after = 0, merges = 0;
        std::atomic<bool> running{false};  // a pass is under way
        bool finished = false;
    };

    static bool finish(state& st) {
        st.running = false;
        std::lock_guard lock(st.mutex);
        st.finished = true;
        return true;
    }

    std::shared_ptr<state> state_;
};

// --- recompression ---------------------------------------------------------------------

// When a record was written, from its listing entry (id and projection);
// nullopt when unknown (the record is left alone). Records carry no write
// time of their own (the envelope has an LSN, not a clock), so the age comes
// from the entity: see time_field.
template <class Store>
using record_time = std::function<std::optional<std::chrono::system_clock::time_point>(const typename Store::listed&)>;

// A record_time reading an integer projection field counted in Duration
// since the Unix epoch (milliseconds by default), e.g. time_field("start_time").
template <class Duration = std::chrono::milliseconds>
auto time_field(std::string field) {
    return [field = std::move(field)](const auto& listed) -> std::optional<std::chrono::system_clock::time_point> {
        const auto* v = listed.projection.find(field);
        if (!v || !v->is_number()) return std::nullopt;
        auto n = v->template as_integer<std::int64_t>();
        if (!n) return std::nullopt;
        return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(Duration(*n)));
    };
}

struct recompress_options {
    std::string name = "recompress";  // the cursor's name: one per collection and job
    std::chrono::hours older_than = std::chrono::days(30);
    int level = 9;            // the gzip level to re-encode at
    std::size_t batch = 64;   // records per step (one transaction)
    durability commit_durability = durability::full;
    bool restart = false;     // ignore a stored cursor and start a new pass
    std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// Re-encodes the gzip payload of every record of `records` written before
// now - older_than at `level`, keeping everything else of the record
// (entity, projection, schema version, hasher); a record is rewritten only
// when that makes it smaller, so a second pass rewrites nothing. Works on
// the stored bytes: the entity is never decoded, the record's inner codec
// does not matter, and the store's listing stays valid (the projection is
// unchanged). Records that fail their checks are skipped and reported.
template <class Store>
class recompress_job {
public:
    using storage_type = typename detail::store_db_storage<typename Store::storage_type>::type;

    recompress_job(database<storage_type>& db, Store& records, record_time<Store> written_at, recompress_options options = {})
        : state_(std::make_shared<state>(db, records, std::move(written_at), std::move(options))) {
        detail::validate_job_name(state_->options.name);
        detail::check_gzip_level(state_->options.level);
        if (!state_->written_at) throw error(errc::bad_input, "recompress_job: no record time function");
        if (state_->options.batch == 0) throw error(errc::bad_input, "recompress_job: batch must be at least 1");
    }

    bool step() { return run(nullptr); }
    bool operator()(queue_job& job) { return run(&job); }

    rewrite_report report() const {
        std::lock_guard lock(state_->mutex);
        return state_->report;
    }
    std::pair<std::uint64_t, std::uint64_t> progress() const {
        std::lock_guard lock(state_->mutex);
        return {state_->position, state_->total};
    }

private:
    struct state {
        state(database<storage_type>& d, Store& r, record_time<Store> w, recompress_options o)
            : db(d), records(r), written_at(std::move(w)), options(std::move(o)) {}
        database<storage_type>& db;
        Store& records;
        record_time<Store> written_at;
        recompress_options options;
        mutable std::mutex mutex;
        std::optional<std::vector<std::string>> ids;  // this pass's snapshot of the ids
        std::size_t position = 0;                    // next index into ids
        std::size_t total = 0;                       // ids in the pass
        maintenance_cursor cursor;
        rewrite_report report;
        bool first_pass_begun = false;  // `restart` applies to the first pass only
    };

    // Starts a pass: the ids now in the store, after the stored cursor.
    void begin_pass(state& st) {
        auto ids = st.records.ids();  // sorted
        maintenance_cursor c{st.options.name, "", 0, 0, 0, 0};
        if (!st.options.restart || st.first_pass_begun) {
            if (auto stored = detail::read_cursor(st.db, st.options.name)) c = *stored;
        }
        st.first_pass_begun = true;
        auto from = c.after.empty() ? ids.begin() : std::upper_bound(ids.begin(), ids.end(), c.after);
        std::lock_guard lock(st.mutex);
        st.position = static_cast<std::size_t>(from - ids.begin());
        st.total = ids.size();
        st.ids = std::move(ids);
        st.cursor = c;
        st.report.rewritten = c.rewritten;
        st.report.bytes_before = c.bytes_before;
        st.report.bytes_after = c.bytes_after;
    }

    bool run(queue_job* job) {
        auto& st = *state_;
        if (!st.ids) begin_pass(st);
        const auto& ids = *st.ids;
        std::size_t end = std::min(ids.size(), st.position + st.options.batch);
        bool last = end == ids.size();
        auto cutoff = st.options.now() - st.options.older_than;
        maintenance_cursor next;
        std::vector<std::pair<std::string, std::string>> damaged;
        std::uint64_t examined = 0;
        st.db.run_transaction(
            [&](db_transaction<storage_type>& tx) {
                // Re-run from scratch on a conflict: nothing outside tx changes.
                next = st.cursor;
                damaged.clear();
                examined = 0;
                for (std::size_t i = st.position; i < end; ++i) {
                    ++examined;
                    recompress_one(st, tx, ids[i], cutoff, next, damaged);
                }
                next.after = end > st.position ? ids[end - 1] : next.after;
                next.done += end - st.position;
                if (last) detail::stage_cursor_erase(tx, st.options.name);
                else detail::stage_cursor(tx, next);
            },
            st.options.commit_durability);
        std::lock_guard lock(st.mutex);
        st.report.examined += examined;
        st.report.rewritten = next.rewritten;
        st.report.bytes_before = next.bytes_before;
        st.report.bytes_after = next.bytes_after;
        for (auto& d : damaged) st.report.skipped_damaged.push_back(std::move(d));
        st.position = end;
        st.cursor = next;
        if (job) job->report(st.position, ids.size());
        if (last) {
            ++st.report.passes;
            st.ids.reset();  // a later step starts a new pass
        }
        return last;
    }

    static void recompress_one(state& st, db_transaction<storage_type>& tx, const std::string& id,
                               std::chrono::system_clock::time_point cutoff, maintenance_cursor& c,
                               std::vector<std::pair<std::string, std::string>>& damaged) {
        auto projection = st.records.projection(id);
        if (!projection) return;  // erased since the pass began
        auto when = st.written_at(typename Store::listed{id, std::move(*projection)});
        if (!when || *when > cutoff) return;
        std::string key = st.records.key_of(id);
        auto record = tx.read(key);
        if (!record) return;
        envelope_header h;
        bytes packed;
        try {
            h = verify_record<typename Store::hasher_type>(*record, key);
            if (!h.codec.starts_with("gzip+")) return;
            bytes_view payload = bytes_view(*record).subspan(h.payload_offset);
            if (st.options.level == 9 && detail::gzip_says_level_9(payload)) return;
            gzip_compress(gzip_decompress(payload), packed, st.options.level);
            if (packed.size() >= payload.size()) return;
        } catch (const error& e) {
            damaged.emplace_back(key, e.what());
            return;
        }
        std::uint64_t before = record->size();
        h.lsn = 0;  // stamped at commit
        h.payload_size = packed.size();
        h.payload_digest = *digest_by_name<typename Store::hasher_type>(h.hasher, packed);  // verify_record knew it
        bytes rewritten;
        write_envelope_header(h, rewritten);
        append(rewritten, packed);
        c.rewritten++;
        c.bytes_before += before;
        c.bytes_after += rewritten.size();
        tx.stage({std::move(key), std::move(rewritten), {}, h.id});
    }

    std::shared_ptr<state> state_;
};

// --- blob conversion ---------------------------------------------------------------------

template <storage Storage>
struct cas_rewrite_hooks {
    // Whether a blob may be of the kind to convert, from its first bytes
    // (at most sniff_bytes of them).
    std::function<bool(bytes_view head)> sniff;
    // The converted content, or nullopt to leave the blob as it is.
    std::function<std::optional<bytes>(bytes_view content)> convert;
    // Moves an owner's own reference (the digest it stores in its entity)
    // from one blob to the other, inside the transaction that moves the
    // CAS references: e.g. tx.get(sessions, ref.owner), replace from_hex by
    // to_hex, tx.put. Runs again if the transaction conflicts, so it must
    // read only through tx. Throwing leaves everything as it was.
    std::function<void(db_transaction<Storage>& tx, const cas_ref& ref, const std::string& from_hex,
                       const std::string& to_hex)>
        relink;
};

struct cas_rewrite_options {
    std::string name = "cas-rewrite";  // the cursor's name
    std::size_t sniff_bytes = 64;
    std::uint64_t max_size = 256u << 20;  // larger blobs are left alone
    // Convert only when the result saves at least this fraction of the size.
    double min_saving = 0.05;
    std::size_t scan_batch = 256;  // blobs looked at per step, at most one converted
    durability commit_durability = durability::full;
    bool restart = false;
};

// Walks every blob of a cas_map in digest order; a referenced blob that
// sniff() accepts and convert() shrinks by min_saving is stored converted,
// then ONE transaction moves every reference — the owner's own (relink) and
// the CAS reference set (add_ref on the new blob, remove_ref on the old) —
// and advances the cursor. The old blob, now unreferenced, is freed by the
// next garbage collection; unreferenced blobs are never converted.
template <class Cas, storage Storage>
class cas_rewrite_job {
public:
    using hasher_type = typename Cas::hasher_type;

    cas_rewrite_job(database<Storage>& db, Cas& cas, cas_rewrite_hooks<Storage> hooks, cas_rewrite_options options = {})
        : state_(std::make_shared<state>(db, cas, std::move(hooks), std::move(options))) {
        detail::validate_job_name(state_->options.name);
        if (!state_->hooks.sniff || !state_->hooks.convert || !state_->hooks.relink)
            throw error(errc::bad_input, "cas_rewrite_job: sniff, convert and relink are all required");
        if (!(state_->options.min_saving >= 0.0 && state_->options.min_saving < 1.0))
            throw error(errc::bad_input, "cas_rewrite_job: min_saving must be within 0..1");
        if (state_->options.scan_batch == 0) throw error(errc::bad_input, "cas_rewrite_job: scan_batch must be at least 1");
    }

    bool step() { return run(nullptr); }
    bool operator()(queue_job& job) { return run(&job); }

    rewrite_report report() const {
        std::lock_guard lock(state_->mutex);
        return state_->report;
    }
    std::pair<std::uint64_t, std::uint64_t> progress() const {
        std::lock_guard lock(state_->mutex);
        return {state_->position, state_->total};
    }

private:
    struct state {
        state(database<Storage>& d, Cas& c, cas_rewrite_hooks<Storage> h, cas_rewrite_options o)
            : db(d), cas(c), hooks(std::move(h)), options(std::move(o)) {}
        database<Storage>& db;
        Cas& cas;
        cas_rewrite_hooks<Storage> hooks;
        cas_rewrite_options options;
        mutable std::mutex mutex;
        std::optional<std::vector<std::string>> ids;  // blob digests (hex), sorted
        std::size_t position = 0;
        std::size_t total = 0;
        maintenance_cursor cursor;
        rewrite_report report;
        bool first_pass_begun = false;  // `restart` applies to the first pass only
    };

    void begin_pass(state& st) {
        std::vector<std::string> ids;
        for (auto& b : st.cas.blobs()) ids.push_back(std::move(b.id));
        std::sort(ids.begin(), ids.end());  // blobs() lists in this order already
        maintenance_cursor c{st.options.name, "", 0, 0, 0, 0};
        if (!st.options.restart || st.first_pass_begun) {
            if (auto stored = detail::read_cursor(st.db, st.options.name)) c = *stored;
        }
        st.first_pass_begun = true;
        auto from = c.after.empty() ? ids.begin() : std::upper_bound(ids.begin(), ids.end(), c.after);
        std::lock_guard lock(st.mutex);
        st.position = static_cast<std::size_t>(from - ids.begin());
        st.total = ids.size();
        st.ids = std::move(ids);
        st.cursor = c;
        st.report.rewritten = c.rewritten;
        st.report.bytes_before = c.bytes_before;
        st.report.bytes_after = c.bytes_after;
    }

    // Whether the blob should be converted: referenced, small enough, and
    // its first bytes (cas_map::head, verified) pass sniff().
    static bool candidate(state& st, const std::string& hex) {
        auto d = digest_from_hex<hasher_type>(hex);
        if (st.cas.ref_count(d) == 0) return false;
        auto size = st.cas.size(d);
        if (!size || *size == 0 || *size > st.options.max_size) return false;
        auto head = st.cas.head(d, st.options.sniff_bytes);
        return head && st.hooks.sniff(*head);
    }

    bool run(queue_job* job) {
        auto& st = *state_;
        if (!st.ids) begin_pass(st);
        const auto& ids = *st.ids;
        std::size_t i = st.position, examined = 0;
        std::optional<std::pair<std::string, bytes>> converted;  // old hex, new content
        std::vector<std::pair<std::string, std::string>> damaged;
        for (; i < ids.size() && examined < st.options.scan_batch && !converted; ++i) {
            ++examined;
            const std::string& hex = ids[i];
            try {
                if (!candidate(st, hex)) continue;
                auto d = digest_from_hex<hasher_type>(hex);
                auto content = st.cas.get(d);
                if (!content) continue;
                auto out = st.hooks.convert(*content);
                if (!out || out->empty()) continue;
                if (double(out->size()) > double(content->size()) * (1.0 - st.options.min_saving)) continue;
                converted.emplace(hex, std::move(*out));
            } catch (const error& e) {
                // A damaged blob is not converted (verify/GC report it);
                // anything else (I/O, a full disk) stops the job.
                if (e.kind() != errc::corrupt && e.kind() != errc::checksum_mismatch) throw;
                damaged.emplace_back("cas_blobs/" + hex, e.what());
            }
        }
        bool last = i == ids.size();
        maintenance_cursor next = st.cursor;
        next.after = i > st.position ? ids[i - 1] : next.after;
        next.done += i - st.position;
        if (converted) {
            // The converted blob is durable before anything refers to it.
            auto from = digest_from_hex<hasher_type>(converted->first);
            auto to = st.cas.put(converted->second);
            std::string from_hex = converted->first, to_hex = stowage::to_hex(to);
            std::uint64_t before = st.cas.size(from).value_or(0), after = converted->second.size();
            maintenance_cursor base = next;
            st.db.run_transaction(
                [&](db_transaction<Storage>& tx) {
                    next = base;
                    auto refs = st.cas.refs(tx, from);
                    if (refs.empty() || to == from) return stage_position(tx, next, last);
                    std::vector<std::string> owners;
                    for (const auto& r : refs) {
                        st.hooks.relink(tx, r, from_hex, to_hex);
                        st.cas.add_ref(tx, to, r.owner, r.name);
                        if (std::find(owners.begin(), owners.end(), r.owner) == owners.end()) owners.push_back(r.owner);
                    }
                    for (const auto& o : owners) st.cas.remove_ref(tx, from, o);
                    next.rewritten++;
                    next.bytes_before += before;
                    next.bytes_after += after;
                    stage_position(tx, next, last);
                },
                st.options.commit_durability);
        } else {
            st.db.run_transaction([&](db_transaction<Storage>& tx) { stage_position(tx, next, last); },
                                  st.options.commit_durability);
        }
        std::lock_guard lock(st.mutex);
        st.report.examined += examined;
        st.report.rewritten = next.rewritten;
        st.report.bytes_before = next.bytes_before;
        st.report.bytes_after = next.bytes_after;
        for (auto& d : damaged) st.report.skipped_damaged.push_back(std::move(d));
        st.position = i;
        st.cursor = next;
        if (job) job->report(st.position, ids.size());
        if (last) {
            ++st.report.passes;
            st.ids.reset();
        }
        return last;
    }

    void stage_position(db_transaction<Storage>& tx, const maintenance_cursor& next, bool last) {
        if (last) detail::stage_cursor_erase(tx, state_->options.name);
        else detail::stage_cursor(tx, next);
    }

    std::shared_ptr<state> state_;
};

}  // namespace stowage
