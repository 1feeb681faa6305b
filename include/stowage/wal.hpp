// wal.hpp — the write-ahead log: framed, checksummed records in bounded
// segment files, group commit, recovery modes and checkpoints.
//
// Layout. Segments are logs named "<prefix>/<first LSN, 20 digits>.log"
// (so listing order is log order), or ".recycled.log" for one written over
// a reused file (below); "<prefix>/checkpoint" records how far the log has
// been applied; "<prefix>/reserve" is a small file kept so that a full disk
// can still take erases and checkpoints (see below); "<prefix>/*.free" are
// applied segments kept for reuse.
//
// Framing (as LevelDB's log, with our own fields). A segment is a sequence
// of 32 KiB blocks; a fragment never crosses a block boundary, and a block
// tail too short for a header is zero padding. Where the storage writes logs
// at a position (writes_logs_at), a segment is filled with zeros ahead of
// its records (wal_options::preallocate) so that syncs do not change its
// size; a reader ends the segment's records at an all-zero header followed
// only by zeros (LevelDB's readers skip zero records for the same reason:
// its mmap writer preallocated too). Each fragment is
//
//   checksum   Hasher digest (4 bytes for crc32c) over every byte after it
//   type       u8: record type << 3 | fragment kind (1 full, 2 first,
//              3 middle, 4 last)
//   length     u16 payload bytes in this fragment
//   lsn        u64 the record's log sequence number
//   txid       u64 the transaction it belongs to
//   payload
//
// Reused segments (wal_options::recycle_segments; docs/format.md). A
// checkpoint renames applied segments to .free instead of deleting them,
// and the next segment takes one over as "<first LSN>.recycled.log": its
// records go over the old ones, whose blocks the file already has, so the
// log writes no zeros ahead and the filesystem allocates and frees nothing
// (measured at 16 writers: +19% durable commits/s; RESULTS.md). Old
// records carry LSNs below the segment's first, which ends the segment's
// records for a reader; each write of frames is followed by a zero header,
// so that a write torn over the old bytes is still told from a clean end.
//
// A logical record larger than a block is split into first/middle.../last
// fragments within one segment; every fragment repeats the LSN and txid, so
// a reader never splices fragments of two records: a middle or last
// fragment must carry the LSN of the first it follows. A damaged block is
// skipped whole (resynchronising at the next block) and reported.
//
// Transactions. A transaction is its put/erase records followed by a commit
// record carrying the number of records; all are appended in one call, so
// they are contiguous. Recovery returns a transaction only if its commit
// record and all its records are intact.
//
// Recovery modes (RocksDB's WALRecoveryMode):
//   tolerate_tail    damage after the last intact record that looks like an
//                    interrupted append — a fragment cut short by the end of
//                    the file (a damaged length pointing past the end looks
//                    the same), a last fragment failing its checksum, or a
//                    fragment whose rest is zeros — is a torn write: cut it
//                    off. (Zeros from a fragment boundary to the end are not
//                    damage in any mode: unused space, see Framing.) Any other
//                    damage is errc::corrupt (default).
//   absolute         any damage, torn tail included, is errc::corrupt.
//   point_in_time    stop at the first damage anywhere: everything after it is
//                    discarded (and removed from the log), the stop point
//                    reported.
//   salvage          skip damage, keep every intact transaction, drop every
//                    transaction that lost a record, report each.
//
// Durability of append + wait_durable(lsn, d):
//   full     returns once the bytes are synced. Concurrent committers are
//            batched: one of the waiters syncs everything written so far,
//            the others wait for it (group commit). Before it syncs, that
//            leader waits briefly for the other committers it has seen
//            recently (the writers the previous sync released are busy
//            preparing their next commit) — for half of them, so the
//            other half prepares while this group syncs: at most
//            group_commit_wait and never longer than the previous sync
//            took, not at all when
//            only one thread commits, and only while some commit is still
//            being prepared (begin_commit() .. end_commit(), which the
//            database brackets each transaction with): when none is, nobody
//            more is coming and waiting would only add latency. This is
//            PostgreSQL's commit_delay / commit_siblings idea with the
//            sibling count measured instead of configured; without it a
//            leader syncs the moment the last sync ends and covers only
//            the writers that happened to append during it. Followers
//            wait on an atomic generation the leader bumps, not on the
//            log's mutex, which the next group's appends need: first
//            yielding the CPU in a loop (wal_options::follower_spin, as
//            RocksDB's followers do), then asleep.
//   batched  returns once its frames are written to the OS (a pwrite, no
//            sync): a process crash loses none of them; a background thread
//            syncs within batch_window, so a power failure loses at most
//            the commits of that window plus the sync's own duration.
//   none     returns at once; nothing syncs until flush() or a checkpoint.
// Where the storage writes logs at a position (zeros ahead, see Framing),
// append() only queues its frames in memory after making sure the zeros
// reach past them (so a full disk refuses the append itself); the sync
// leader writes the whole group's frames in one call, then syncs. Queued
// frames are written by the next sync, the batched syncer, flush(), a
// segment roll, or once 1 MiB is queued; a process that dies first loses
// them, which only durability::none/batched commits may (above). A failed
// write of queued frames fails the log, as a failed sync does.
//
// Failures. A failed sync is never retried as if it could succeed (the
// kernel may have dropped the dirty pages): the log enters a failed state,
// every later operation throws errc::failed_state, and only reopening
// (which recovers from what is on disk) clears it. A failed append is cut
// back off the segment; if that fails too, the log is failed. On ENOSPC the
// reserve file is released so erase-only transactions and checkpoints can
// still proceed; transactions with puts get errc::no_space until a
// checkpoint frees space and the reserve is restored.
//
// Thread safety: append, wait_durable, flush and checkpoint may be called
// from any number of threads; recover() must run alone, before any append.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bytes.hpp"
#include "concepts.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "hash/crc32c.hpp"

namespace stowage {

enum class wal_recovery { tolerate_tail, absolute, point_in_time, salvage };

enum class wal_record_type : std::uint8_t { put = 1, erase = 2, commit = 3 };

inline std::string_view to_string(wal_record_type t) {
    switch (t) {
        case wal_record_type::put: return "put";
        case wal_record_type::erase: return "erase";
        case wal_record_type::commit: return "commit";
    }
    return "unknown";
}

// What the observer hook hears about (wal_options::observer).
struct wal_event {
    enum class kind { commit, sync, checkpoint, failure } what;
    std::uint64_t lsn = 0;                   // commit LSN, synced-through LSN, checkpoint LSN
    std::chrono::nanoseconds duration{0};    // commit latency, or how long the sync took
    std::string message;                     // failure
};

struct wal_options {
    std::uint64_t segment_size = 64ull << 20;           // roll to a new segment beyond this
    wal_recovery recovery = wal_recovery::tolerate_tail;
    std::chrono::milliseconds batch_window{20};         // durability::batched
    std::uint64_t reserve_bytes = 1ull << 20;           // kept for a full disk
    // Longest time a group-commit leader waits for the other recent
    // committers before syncing (see the header comment); zero turns the
    // wait off.
    std::chrono::microseconds group_commit_wait{500};
    // Longest time a committer waiting for another's sync yields the CPU in
    // a loop before it sleeps (it stops sooner when other threads need the
    // CPU; see the header comment). Zero: sleep at once. Paired runs: +15%
    // durable commits/s at 4 writers (10 puts), +22% at 16 writers (1 put),
    // none lost elsewhere (benchmarks/RESULTS.md).
    std::chrono::microseconds follower_spin{100};
    // Zeros written ahead into the current segment, this many bytes at a
    // time (on storages that write logs at a position; 0: plain appends).
    // Records are then written over zeros already on disk, so a sync does
    // not change the file's size and skips the metadata write: measured
    // here, fdatasync of a 16 KiB write 149 -> 88 µs (RocksDB recycles log
    // files for the same reason).
    std::uint64_t preallocate = 1ull << 20;
    // Applied segments kept for reuse instead of deleted, at most this many
    // (on storages that write logs at a position and rename keys, with
    // preallocate on). A reused segment's file is already allocated and
    // written, so records go over old bytes: no zeros written ahead, no
    // file created or freed (PostgreSQL renames old WAL segments the same
    // way; RocksDB's recycle_log_file_num). Costs up to this many segments
    // of disk (segment_size each) once the log has grown that far.
    std::size_t recycle_segments = 2;
    // Called (without any log lock held) for every commit, sync, checkpoint
    // and failure: for metrics and alerts. Must be cheap and must not call
    // back into the log.
    std::function<void(const wal_event&)> observer;
};

// One logical record as read back.
struct wal_record {
    std::uint64_t lsn = 0;
    std::uint64_t txid = 0;
    wal_record_type type{};
    bytes payload;
    std::string segment;
    std::uint64_t offset = 0;  // of its first fragment
};

// A put or erase inside a transaction.
struct wal_op {
    wal_record_type type{};  // put or erase
    std::string key;
    bytes value;             // put only
    std::uint64_t lsn = 0;
};

// An op to append without copying its key and value (they must stay alive
// for the call).
struct wal_op_ref {
    wal_record_type type{};
    std::string_view key;
    bytes_view value;  // put only
};

struct wal_transaction {
    std::uint64_t txid = 0;
    std::uint64_t commit_lsn = 0;
    std::vector<wal_op> ops;
};

struct wal_damage {
    std::string segment;
    std::uint64_t offset = 0;
    std::string reason;
    // What an interrupted append leaves: a cut-short fragment, or a last
    // fragment (or zero-filled rest) that runs to the end of the file.
    bool tail_like = false;
    // Set by recovery: tail-like with no intact record after it (a torn
    // write, not damage to acknowledged data).
    bool torn_tail = false;
    // Set by recovery: every record the damage could have held was already
    // applied to the record files (it lies before the checkpoint's position,
    // or the next intact record is at or below the checkpoint), or it is a
    // damaged checkpoint file, which the log replaces. Nothing acknowledged
    // is lost; recovery in every mode but absolute goes on past it, and the
    // next checkpoint retires the segment.
    bool applied = false;
    // Where reading resumed after the damage (the next block, or the
    // checkpoint's position inside the damaged block).
    std::uint64_t end = 0;
};

struct wal_recovery_report {
    std::size_t segments = 0;
    std::size_t records_read = 0;
    std::size_t transactions = 0;          // intact, committed, after the checkpoint
    std::size_t transactions_replayed = 0; // filled in by the database
    std::size_t transactions_dropped = 0;  // lost a record, or never committed
    std::vector<std::pair<std::uint64_t, std::string>> dropped;  // txid, why
    std::uint64_t bytes_truncated = 0;
    std::vector<wal_damage> damage;
    std::optional<wal_damage> stopped_at;  // point_in_time
    std::uint64_t checkpoint_lsn = 0;
    std::uint64_t last_lsn = 0;
    // The highest LSN the last checkpoint saw durable (0: not recorded, a
    // checkpoint of format 1). A log that ends below it lost records.
    std::uint64_t durable_at_checkpoint = 0;
    bool checkpoint_damaged = false;  // the checkpoint file failed its checks (the whole log was replayed)
};

struct wal_stats {
    std::uint64_t commits = 0;
    std::uint64_t records = 0;
    std::uint64_t fsyncs = 0;
    std::uint64_t bytes = 0;
    std::uint64_t checkpoints = 0;
    std::uint64_t segments_deleted = 0;
    std::uint64_t segments_recycled = 0;  // applied segments kept for reuse (wal_options::recycle_segments)
    std::uint64_t group_waits = 0;  // group-commit leaders that waited for other committers
    // Commit latency (append to acknowledgement), bucket i counts latencies
    // in [2^i, 2^(i+1)) microseconds.
    std::array<std::uint64_t, 32> latency_us_log2{};
};

namespace detail {

inline void put_u64(bytes& out, std::uint64_t v) { put_le(out, v, 8); }

// Payload of a put: u16 key length, key, value. Erase: the same without the
// value. Commit: u32 number of records in the transaction. The fixed-size
// fields on their own, for framing a payload where its parts lie:
inline std::array<std::byte, 2> key_length_field(std::string_view key) {
    return {std::byte(key.size() & 0xff), std::byte((key.size() >> 8) & 0xff)};
}
inline std::array<std::byte, 4> record_count_field(std::size_t n) {
    return {std::byte(n & 0xff), std::byte((n >> 8) & 0xff), std::byte((n >> 16) & 0xff), std::byte((n >> 24) & 0xff)};
}
inline void append_op_payload(bytes& p, wal_record_type type, std::string_view key, bytes_view value) {
    append(p, bytes_view(key_length_field(key)));
    append(p, as_bytes(key));
    if (type == wal_record_type::put) append(p, value);
}
inline bytes encode_op_payload(wal_record_type type, std::string_view key, bytes_view value) {
    bytes p;
    p.reserve(2 + key.size() + value.size());
    append_op_payload(p, type, key, value);
    return p;
}

inline wal_op decode_op_payload(const wal_record& r) {
    if (r.payload.size() < 2) throw error(errc::corrupt, "wal record payload too short");
    std::size_t n = static_cast<std::size_t>(get_le(r.payload.data(), 2));
    if (r.payload.size() < 2 + n) throw error(errc::corrupt, "wal record key out of bounds");
    wal_op op;
    op.type = r.type;
    op.lsn = r.lsn;
    op.key = std::string(as_chars(bytes_view(r.payload).subspan(2, n)));
    if (r.type == wal_record_type::put) op.value.assign(r.payload.begin() + 2 + static_cast<std::ptrdiff_t>(n), r.payload.end());
    else if (r.payload.size() != 2 + n) throw error(errc::corrupt, "wal erase record has trailing bytes");
    return op;
}

}  // namespace detail

template <storage Storage, hasher Hasher = crc32c>
class wal {
public:
    static constexpr std::size_t block_size = 32768;
    static constexpr std::size_t checksum_size = std::tuple_size_v<typename Hasher::digest>;
    static constexpr std::size_t header_size = checksum_size + 1 + 2 + 8 + 8;
    enum fragment : std::uint8_t { full = 1, first = 2, middle = 3, last = 4 };

    wal(Storage storage, std::string prefix = "wal", wal_options options = {})
        : storage_(std::move(storage)), prefix_(std::move(prefix)), options_(options) {}

    wal(const wal&) = delete;
    wal& operator=(const wal&) = delete;

    ~wal() {
        stop_syncer();
        if (storage_.read_only() || !recovered_) return;
        try {
            flush();
        } catch (...) {
            // Reported to callers already (failed state); recovery on reopen.
        }
    }

    const std::string& prefix() const { return prefix_; }
    const wal_options& options() const { return options_; }

    // --- recovery ------------------------------------------------------------

    // Reads the checkpoint and every segment; returns the intact committed
    // transactions after the checkpoint, in log order. Read-write logs then
    // start a new segment for appends. Throws errc::corrupt when the mode
    // does not accept the damage found.
    std::vector<wal_transaction> recover(wal_recovery_report& report) {
        std::lock_guard lock(mutex_);
        report = {};
        if (!read_checkpoint()) {
            report.checkpoint_damaged = true;
            wal_damage d{prefix_ + "/checkpoint", 0,
                         "checkpoint file is damaged: the whole log is replayed and the checkpoint rewritten"};
            d.applied = true;
            report.damage.push_back(d);
            if (options_.recovery == wal_recovery::absolute)
                throw error(errc::corrupt, "wal: checkpoint file " + prefix_ + "/checkpoint is damaged");
        }
        report.checkpoint_lsn = checkpoint_lsn_;
        report.durable_at_checkpoint = checkpoint_durable_;
        std::uint64_t max_lsn = checkpoint_lsn_;
        std::uint64_t max_txid = next_txid_.load() > 0 ? next_txid_.load() - 1 : 0;

        // Files in the log's directory that are not the log's own: reported
        // (verify lists them), never read as records and never fatal.
        for (const auto& key : storage_.list(prefix_ + "/"))
            if (!is_log_file(key)) {
                wal_damage d{key, 0, "unexpected file in the log directory (not written by stowage)"};
                d.applied = true;
                report.damage.push_back(d);
            }

        auto names = segment_names();
        report.segments = names.size();
        struct parsed {
            std::string name;
            std::vector<wal_record> records;
            std::vector<wal_damage> damage;
            std::uint64_t good_end = 0;  // end of the last good fragment
            std::uint64_t size = 0;
            std::uint64_t max_lsn = 0;   // of its intact records
        };
        std::vector<parsed> segs;
        for (const auto& name : names) {
            parsed p;
            p.name = name;
            bytes data;
            try {
                data = storage_.read(name).value_or(bytes{});
            } catch (const error& e) {
                if (e.kind() != errc::corrupt) throw;
                p.damage.push_back({name, 0, e.what()});  // not a regular file: no records
            }
            p.size = data.size();
            const std::uint64_t resume_at = first_lsn_of(name) == applied_through_.first ? applied_through_.second : 0;
            parse_segment(name, data, p.records, p.damage, p.good_end, 0, resume_at);
            for (const auto& r : p.records) p.max_lsn = std::max(p.max_lsn, r.lsn);
            segs.push_back(std::move(p));
        }

        // Damage whose records were all applied before the last checkpoint
        // blocks nothing (wal_damage::applied): it lies in a segment before
        // the one the checkpoint ended in, or before the checkpoint's
        // position in that one, or the next intact record after it is at or
        // below the checkpoint (LSNs increase by one per record).
        auto first_lsn_after = [&](std::size_t seg, std::uint64_t offset) -> std::uint64_t {
            for (const auto& r : segs[seg].records)
                if (r.offset >= offset) return r.lsn;
            for (std::size_t j = seg + 1; j < segs.size(); ++j)
                if (!segs[j].records.empty()) return segs[j].records.front().lsn;
            return std::numeric_limits<std::uint64_t>::max();
        };
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::uint64_t first = first_lsn_of(segs[i].name);
            for (auto& d : segs[i].damage) {
                const std::uint64_t end = std::max(d.end, d.offset + 1);
                d.applied = (applied_through_.first != 0 &&
                             (first < applied_through_.first ||
                              (first == applied_through_.first && end <= applied_through_.second))) ||
                            (checkpoint_lsn_ > 0 && first_lsn_after(i, end) <= checkpoint_lsn_ + 1);
            }
        }

        // Classify damage and decide, per mode, which records survive.
        // Damage is a torn tail when no intact record follows it anywhere.
        std::vector<bool> records_after(segs.size() + 1, false);
        for (std::size_t i = segs.size(); i-- > 0;)
            records_after[i] = records_after[i + 1] || !segs[i].records.empty();
        for (auto& s : segs)
            for (auto& r : s.records) {
                max_lsn = std::max(max_lsn, r.lsn);
                max_txid = std::max(max_txid, r.txid);
            }
        std::vector<wal_record> kept;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            auto& s = segs[i];
            bool later = records_after[i + 1];
            std::optional<std::uint64_t> tail_at;
            const wal_damage* first_damage = nullptr;
            for (auto& d : s.damage) {
                if (d.applied && options_.recovery != wal_recovery::absolute) {
                    report.damage.push_back(d);
                    continue;
                }
                bool tail = d.tail_like && !later && d.offset >= s.good_end;
                d.torn_tail = tail;
                report.damage.push_back(d);
                if (!first_damage) first_damage = &d;
                if (tail && !tail_at) tail_at = d.offset;
                if (options_.recovery == wal_recovery::absolute ||
                    (options_.recovery == wal_recovery::tolerate_tail && !tail))
                    throw error(errc::corrupt, "wal " + d.segment + " at offset " + std::to_string(d.offset) + ": " +
                                                   d.reason +
                                                   (tail ? "" : " (acknowledged records may be in the damaged part: "
                                                                "'stowage repair DIR --log salvage --dry-run' shows "
                                                                "what recovery would keep)"));
            }
            if (options_.recovery == wal_recovery::point_in_time && first_damage) {
                report.stopped_at = *first_damage;
                for (auto& r : s.records)
                    if (r.offset < first_damage->offset) kept.push_back(std::move(r));
                cut(s.name, first_damage->offset, s.size, report);
                for (std::size_t j = i + 1; j < segs.size(); ++j) cut(segs[j].name, 0, segs[j].size, report);
                break;
            }
            // A torn tail is cut off, so it can never be mistaken for damage
            // in the middle once later segments exist.
            if (tail_at) {
                cut(s.name, std::min(*tail_at, s.good_end), s.size, report);
                for (std::size_t j = i + 1; j < segs.size(); ++j) cut(segs[j].name, 0, segs[j].size, report);
            }
            for (auto& r : s.records) kept.push_back(std::move(r));
            if (tail_at) break;
        }

        // A log that ends below what the last checkpoint saw durable lost
        // records (a segment truncated or deleted): the same as damage to
        // unapplied records. (Records after the last checkpoint have no such
        // witness: a log cut there is found only when a later segment
        // remains, by the gap below.)
        if (checkpoint_durable_ > max_lsn && checkpoint_durable_ > checkpoint_lsn_) {
            wal_damage d{prefix_, 0,
                         "the log ends at LSN " + std::to_string(max_lsn) + " but the last checkpoint saw LSN " +
                             std::to_string(checkpoint_durable_) + " durable: " +
                             std::to_string(checkpoint_durable_ - max_lsn) +
                             " acknowledged records are missing (a segment was truncated or deleted)"};
            report.damage.push_back(d);
            if (options_.recovery == wal_recovery::absolute || options_.recovery == wal_recovery::tolerate_tail)
                throw error(errc::corrupt, "wal: " + d.reason);
        }
        max_lsn = std::max(max_lsn, checkpoint_durable_);  // LSNs never go back below one ever made durable

        // LSNs strictly increase; anything else is damage (a stale copy).
        std::vector<wal_record> ordered;
        std::uint64_t prev = 0;
        for (auto& r : kept) {
            // A segment's first LSN is its name; a gap between two segments
            // that no reported damage explains is a segment deleted or cut.
            if (prev != 0 && r.lsn > prev + 1 && r.segment != ordered.back().segment &&
                r.lsn > checkpoint_lsn_ + 1 && !damage_between(report.damage, ordered.back(), r)) {
                wal_damage d{r.segment, 0,
                             "log records " + std::to_string(prev + 1) + " to " + std::to_string(r.lsn - 1) +
                                 " are missing before this segment (a segment was truncated or deleted)"};
                // Reported, not fatal: a point-in-time or salvage recovery
                // leaves the same gap on purpose until its checkpoint.
                report.damage.push_back(d);
            }
            if (r.lsn <= prev) {
                wal_damage d{r.segment, r.offset, "log sequence number goes backwards"};
                report.damage.push_back(d);
                if (options_.recovery == wal_recovery::point_in_time) {
                    // Stop here, as at any damage: the rest of the log is cut
                    // off (else records appended after this point would be
                    // behind it at the next recovery).
                    if (!report.stopped_at) report.stopped_at = d;
                    bool after = false;
                    for (const auto& seg : segs) {
                        if (seg.name == r.segment) {
                            cut(seg.name, r.offset, seg.size, report);
                            after = true;
                        } else if (after) {
                            cut(seg.name, 0, seg.size, report);
                        }
                    }
                    break;
                }
                if (options_.recovery != wal_recovery::salvage)
                    throw error(errc::corrupt, "wal " + r.segment + " at offset " + std::to_string(r.offset) +
                                                   ": log sequence number goes backwards");
                continue;
            }
            prev = r.lsn;
            ordered.push_back(std::move(r));
        }
        report.records_read = ordered.size();

        // Group into transactions.
        std::map<std::uint64_t, wal_transaction> open;
        std::vector<wal_transaction> out;
        for (auto& r : ordered) {
            if (r.type == wal_record_type::commit) {
                auto it = open.find(r.txid);
                std::size_t have = it == open.end() ? 0 : it->second.ops.size();
                std::uint64_t want = r.payload.size() == 4 ? detail::get_le(r.payload.data(), 4) : ~0ull;
                if (have != want) {
                    report.dropped.emplace_back(r.txid, "lost " + std::to_string(want - have) + " of its records");
                } else if (r.lsn > checkpoint_lsn_) {
                    wal_transaction tx = it == open.end() ? wal_transaction{} : std::move(it->second);
                    tx.txid = r.txid;
                    tx.commit_lsn = r.lsn;
                    out.push_back(std::move(tx));
                }
                if (it != open.end()) open.erase(it);
                continue;
            }
            try {
                auto op = detail::decode_op_payload(r);  // first: a damaged op opens no transaction
                open[r.txid].ops.push_back(std::move(op));
            } catch (const error& e) {
                report.damage.push_back({r.segment, r.offset, e.what()});
            }
        }
        for (auto& [txid, tx] : open)
            if (!tx.ops.empty() && tx.ops.front().lsn > checkpoint_lsn_) report.dropped.emplace_back(txid, "never committed");
        report.transactions_dropped = report.dropped.size();
        report.transactions = out.size();
        report.last_lsn = max_lsn;

        next_lsn_ = max_lsn + 1;
        recovered_lsn_ = max_lsn;
        next_txid_ = max_txid + 1;
        written_lsn_ = max_lsn;
        set_durable(max_lsn);
        recovered_ = true;
        if (!storage_.read_only()) {
            // Recovered records count as durable from here on, but after a
            // process crash (no power loss) they may still sit only in the
            // page cache: sync them before anything is applied from them, or
            // a later power loss could leave a transaction half applied with
            // its log records gone.
            for (const auto& seg : segs)
                if (seg.size > 0 && storage_.contains(seg.name)) storage_.sync(seg.name);
            // A damaged segment whose damage was all applied and whose intact
            // records are all at or below the checkpoint holds nothing
            // recovery needs (appends go to a new segment): remove it now,
            // as the next checkpoint would, so it is reported once.
            // Under salvage, a damaged segment with no intact record at all
            // (a junk or wiped file) gave everything it could: it goes too.
            for (const auto& seg : segs) {
                if (seg.damage.empty() || !storage_.contains(seg.name)) continue;
                bool all_applied = checkpoint_lsn_ > 0 && seg.max_lsn <= checkpoint_lsn_ &&
                                   std::all_of(seg.damage.begin(), seg.damage.end(),
                                               [](const wal_damage& d) { return d.applied; });
                bool nothing_left = options_.recovery == wal_recovery::salvage && seg.max_lsn == 0;
                if (all_applied || nothing_left) storage_.remove(seg.name, durability::full);
            }
            // Segments kept for reuse by an earlier open (beyond the number
            // now asked for: deleted).
            free_segments_.clear();
            for (auto& key : storage_.list(prefix_ + "/")) {
                if (!key.ends_with(".free")) continue;
                if (recycling() && free_segments_.size() < options_.recycle_segments)
                    free_segments_.push_back(std::move(key));
                else
                    storage_.remove(key, durability::full);
            }
            restore_reserve();
            if (options_.batch_window.count() > 0) syncer_ = std::thread([this] { syncer_loop(); });
        }
        return out;
    }

    // Everything before this LSN is resolved by recovery (replayed, dropped
    // or uncommitted): the database checkpoints here once it has applied the
    // recovered transactions.
    std::uint64_t recovered_lsn() const {
        std::lock_guard lock(mutex_);
        return recovered_lsn_;
    }

    // --- writing -------------------------------------------------------------

    // Without the log's mutex, which appends and the sync leader hold:
    // every transaction takes an id as it opens.
    std::uint64_t next_txid() { return next_txid_.fetch_add(1, std::memory_order_relaxed); }

    // Appends a transaction's records and its commit record (not synced).
    // Returns the commit LSN; op_lsns (if given) receives each op's LSN.
    std::uint64_t append(std::uint64_t txid, std::span<const wal_op> ops, std::vector<std::uint64_t>* op_lsns = nullptr) {
        std::vector<wal_op_ref> refs;
        refs.reserve(ops.size());
        for (const auto& op : ops) refs.push_back({op.type, op.key, op.value});
        return append(txid, std::span<const wal_op_ref>(refs), op_lsns);
    }
    // The same without copies: what the database's commits use (the frames
    // are built in buffers the log keeps, so a commit allocates nothing
    // here once they have grown).
    std::uint64_t append(std::uint64_t txid, std::span<const wal_op_ref> ops,
                         std::vector<std::uint64_t>* op_lsns = nullptr) {
        std::unique_lock lock(mutex_);
        try {
            return append_locked(lock, txid, ops, op_lsns);
        } catch (const error& e) {
            // A full disk: the log goes on in the reserve (space it already
            // holds), where erases still fit; puts are refused from now on.
            if (e.kind() != errc::no_space || !take_reserve_as_segment(lock)) throw;
            return append_locked(lock, txid, ops, op_lsns);
        }
    }

private:
    std::uint64_t append_locked(std::unique_lock<std::mutex>& lock, std::uint64_t txid, std::span<const wal_op_ref> ops,
                                std::vector<std::uint64_t>* op_lsns) {
        check_writable();
        bool has_put = std::any_of(ops.begin(), ops.end(), [](auto& o) { return o.type == wal_record_type::put; });
        if (low_space_ && has_put)
            throw error(errc::no_space, "wal: the disk is full; only erases are accepted until a checkpoint frees space");
        bytes& frames = frames_;
        frames.clear();
        std::uint64_t estimate = 64;
        for (auto& op : ops) estimate += header_size + 2 + op.key.size() + op.value.size();
        auto segment_full = [&] { return segment_offset_ > 0 && segment_offset_ + estimate > options_.segment_size; };
        if (segment_full()) {
            // A sync leader may be writing this segment's frames outside the
            // lock (deferred writes): the roll's sync must come after it.
            while (syncing_ && deferring()) {
                durable_cv_.wait(lock);
                check_writable();
            }
            if (segment_full()) roll_segment();
        }
        std::uint64_t lsn = next_lsn_;
        if (segment_.empty()) open_segment(lsn);
        std::uint64_t offset = segment_offset_;
        // Where the frames are built: straight into the queue the sync
        // leader writes (deferred writes), else in frames_ to append now.
        const bool queue = deferring();
        if (queue) write_queue_if_large();
        bytes& out = queue ? pending_ : frames;
        if (queue && pending_.empty()) pending_at_ = segment_offset_;
        const std::size_t start = out.size();
        if (op_lsns) op_lsns->clear();
        for (auto& op : ops) {
            if (op_lsns) op_lsns->push_back(lsn);
            const auto key_length = detail::key_length_field(op.key);
            const std::array<bytes_view, 3> payload{bytes_view(key_length), as_bytes(op.key),
                                                    op.type == wal_record_type::put ? op.value : bytes_view{}};
            encode(op.type, lsn++, txid, payload, out, offset);
        }
        const auto count = detail::record_count_field(ops.size());
        std::uint64_t commit_lsn = lsn++;
        const std::array<bytes_view, 1> commit_payload{bytes_view(count)};
        encode(wal_record_type::commit, commit_lsn, txid, commit_payload, out, offset);
        const std::size_t framed = out.size() - start;
        if (queue) {
            if constexpr (writes_logs_at<Storage>) zeros_past_queued(start);
        } else {
            write_frames(frames);
        }
        if (frames_.capacity() > max_kept_buffer) bytes().swap(frames_);  // a rare huge transaction: do not keep its buffer
        next_lsn_ = lsn;
        written_lsn_ = commit_lsn;
        stats_.commits++;
        stats_.records += ops.size() + 1;
        stats_.bytes += framed;
        // Wake a waiting leader only once its group is complete (not at
        // every append: that would be a context switch per commit).
        if (leader_waiting_ && stats_.commits - commits_synced_ >= leader_expected_) arrival_cv_.notify_one();
        return commit_lsn;
    }

public:

    // A commit is being prepared (its transaction is open) / is appended
    // or abandoned. Only the group-commit leader's wait reads this: while
    // none is in preparation it syncs at once.
    void begin_commit() { preparing_.fetch_add(1, std::memory_order_relaxed); }
    void end_commit() {
        if (preparing_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard lock(mutex_);
            if (leader_waiting_) arrival_cv_.notify_one();
        }
    }

    // Waits as the durability asks (see the header comment).
    void wait_durable(std::uint64_t lsn, durability d) {
        if (d != durability::full) {
            std::unique_lock lock(mutex_);
            check_failed();
            // A batched commit's frames reach the OS before it returns, so
            // a process crash (SIGKILL) loses none of them: only a power
            // failure can, and only what the last batch_window (plus the
            // sync's own time) held. (none: queued frames are written by
            // the next sync, flush or 1 MiB of queue.)
            if (d == durability::batched) write_queued_for(lock, lsn);
            // Only batched commits need the background syncer (full ones
            // are synced by their committers, none ones by nobody): waking
            // it for every append cost a context switch per commit.
            if (d == durability::batched && batched_since_ == std::chrono::steady_clock::time_point{} &&
                durable_lsn_ < lsn) {
                batched_since_ = std::chrono::steady_clock::now();
                syncer_cv_.notify_one();
            }
            return;
        }
        sync_through(lsn, true);
    }

    // Everything appended so far is on stable storage.
    void flush() {
        std::uint64_t target;
        {
            std::lock_guard lock(mutex_);
            check_failed();
            target = written_lsn_;
        }
        sync_through(target);
    }

    std::uint64_t durable_lsn() const {
        std::lock_guard lock(mutex_);
        return durable_lsn_;
    }
    std::uint64_t last_lsn() const {
        std::lock_guard lock(mutex_);
        return written_lsn_;
    }
    bool failed() const {
        std::lock_guard lock(mutex_);
        return failed_.has_value();
    }

    void record_latency(std::chrono::nanoseconds ns, std::uint64_t lsn = 0) {
        if (options_.observer) options_.observer({wal_event::kind::commit, lsn, ns, {}});
        auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(1, ns.count() / 1000));
        std::size_t bucket = 0;
        while (us > 1 && bucket < 31) {
            us >>= 1;
            ++bucket;
        }
        latency_us_log2_[bucket].fetch_add(1, std::memory_order_relaxed);
    }

    wal_stats stats() const {
        std::lock_guard lock(mutex_);
        wal_stats out = stats_;
        for (std::size_t i = 0; i < out.latency_us_log2.size(); ++i)
            out.latency_us_log2[i] = latency_us_log2_[i].load(std::memory_order_relaxed);
        return out;
    }

    // --- checkpoints ---------------------------------------------------------

    // Everything up to `applied_lsn` is applied to storage and synced: record
    // that durably, then retire the segments wholly at or before it (kept
    // for reuse, up to recycle_segments of them, or deleted). A crash
    // anywhere in between leaves the old checkpoint or the new one, and
    // replaying already-applied records is harmless.
    void checkpoint(std::uint64_t applied_lsn) {
        std::vector<std::string> names;
        std::string current;  // the segment being written when the checkpoint was taken
        bool last_applied = false;
        {
            std::lock_guard lock(mutex_);
            check_writable();
            if (applied_lsn > durable_lsn_) throw error(errc::bad_input, "wal: checkpoint beyond the durable log");
            if (applied_lsn < checkpoint_lsn_) return;
            // Format 2 (docs/format.md): also the highest durable LSN, so
            // that a log cut below it is detected, and, when everything
            // appended is applied, where the log ended, so that damage
            // before that position is known to be applied.
            const bool all_applied = applied_lsn + 1 == next_lsn_ && !segment_.empty();
            bytes out;
            stowage::append(out, as_bytes("STWC"));
            detail::put_le(out, 2, 4);
            detail::put_u64(out, applied_lsn);
            detail::put_u64(out, next_txid_.load());
            detail::put_u64(out, durable_lsn_);
            detail::put_u64(out, all_applied ? first_lsn_of(segment_) : 0);
            detail::put_u64(out, all_applied ? segment_offset_ : 0);
            detail::put_le(out, crc32c::of(out), 4);
            try {
                storage_.replace(prefix_ + "/checkpoint", out, durability::full);
            } catch (const error& e) {
                if (e.kind() != errc::no_space) fail(e.what());
                throw;
            }
            checkpoint_lsn_ = applied_lsn;
            checkpoint_durable_ = durable_lsn_;
            applied_through_ = all_applied ? std::pair(first_lsn_of(segment_), segment_offset_)
                                           : std::pair<std::uint64_t, std::uint64_t>(0, 0);
            stats_.checkpoints++;
            names = segment_names();
            current = segment_;  // read under the lock: appends roll it (a race TSan found)
            last_applied = segment_.empty() && recovered_lsn_ <= applied_lsn;
        }
        retire_segments(names, current, applied_lsn, last_applied);
        storage_.flush();
        if (options_.observer) options_.observer({wal_event::kind::checkpoint, applied_lsn, {}, {}});
        std::lock_guard lock(mutex_);
        if (low_space_) restore_reserve();
    }

    std::uint64_t checkpoint_lsn() const {
        std::lock_guard lock(mutex_);
        return checkpoint_lsn_;
    }

    // Retires every segment whose records are all at or below the
    // checkpoint now, without a new checkpoint: after a repair (salvage,
    // point-in-time) the damaged segments leave the log this way even when
    // nothing was left to apply.
    void retire_applied_segments() {
        std::vector<std::string> names;
        std::string current;
        std::uint64_t applied = 0;
        bool last_applied = false;
        {
            std::lock_guard lock(mutex_);
            check_writable();
            names = segment_names();
            current = segment_;
            applied = checkpoint_lsn_;
            last_applied = segment_.empty() && recovered_lsn_ <= checkpoint_lsn_;
        }
        retire_segments(names, current, applied, last_applied);
        storage_.flush();
    }

    // Every record of every segment (for `stowage wal dump`), damage skipped.
    std::vector<wal_record> dump(std::vector<wal_damage>* damage = nullptr) const {
        std::vector<wal_record> out;
        for (const auto& name : segment_names()) {
            auto data = storage_.read(name).value_or(bytes{});
            std::vector<wal_damage> d;
            std::uint64_t good_end = 0;
            parse_segment(name, data, out, d, good_end);
            if (damage) damage->insert(damage->end(), d.begin(), d.end());
        }
        return out;
    }

    // The segments, in log order: "<20 digits>.log" and ".recycled.log"
    // (any other file in the directory is not the log's; see is_log_file).
    std::vector<std::string> segment_names() const {
        std::vector<std::string> out;
        for (auto& k : storage_.list(prefix_ + "/"))
            if (segment_base_kind(k) == 1) out.push_back(k);
        return out;
    }

    // Whether key is one of the log's own files (segments, segments kept
    // for reuse, the checkpoint, the reserve).
    bool is_log_file(std::string_view key) const {
        if (key == prefix_ + "/checkpoint" || key == prefix_ + "/reserve") return true;
        return segment_base_kind(key) != 0;
    }

private:
    // --- framing ---------------------------------------------------------------

    // Appends a record's fragments to `out`. The payload is the
    // concatenation of `pieces` (a put's key length, key and value are
    // framed where they lie, without first being copied together).
    void encode(wal_record_type type, std::uint64_t lsn, std::uint64_t txid, std::span<const bytes_view> pieces,
                bytes& out, std::uint64_t& offset) const {
        std::size_t left = 0;
        for (const auto& p : pieces) left += p.size();
        std::size_t piece = 0, piece_at = 0;
        bool first_fragment = true;
        do {
            std::size_t block_left = block_size - static_cast<std::size_t>(offset % block_size);
            if (block_left < header_size) {
                out.insert(out.end(), block_left, std::byte{0});
                offset += block_left;
                continue;
            }
            std::size_t n = std::min(left, block_left - header_size);
            bool ends = n == left;
            fragment kind = first_fragment ? (ends ? full : first) : (ends ? last : middle);
            std::size_t at = out.size();
            out.resize(at + checksum_size);
            out.push_back(std::byte((static_cast<std::uint8_t>(type) << 3) | kind));
            detail::put_le(out, n, 2);
            detail::put_u64(out, lsn);
            detail::put_u64(out, txid);
            for (std::size_t need = n; need > 0;) {
                const bytes_view p = pieces[piece];
                const std::size_t take = std::min(need, p.size() - piece_at);
                stowage::append(out, p.subspan(piece_at, take));
                need -= take;
                piece_at += take;
                if (piece_at == p.size()) {
                    ++piece;
                    piece_at = 0;
                }
            }
            Hasher h;
            h.update(bytes_view(out).subspan(at + checksum_size));
            auto digest = h.finish();
            std::copy(digest.begin(), digest.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
            offset += header_size + n;
            left -= n;
            first_fragment = false;
            if (ends) break;
        } while (true);
    }

    // Parses one segment into records; damage is reported with offsets, and
    // `good_end` is the end of the last intact fragment.
public:
    // Reads the records of one segment's bytes, starting at the first record
    // that begins at or after `from` (a position inside a record is fine:
    // the reader resynchronises at the next record start, as LevelDB's
    // initial_offset does).
    static std::vector<wal_record> read_segment(const std::string& name, bytes_view data, std::uint64_t from,
                                                std::vector<wal_damage>* damage = nullptr) {
        std::vector<wal_record> records;
        std::vector<wal_damage> d;
        std::uint64_t good_end = 0;
        parse_segment(name, data, records, d, good_end, from);
        if (damage) *damage = std::move(d);
        return records;
    }

private:
    // `resume_at`: a known record boundary (the checkpoint's position);
    // damage in its block resumes there instead of at the next block, so
    // that what follows it is read and what precedes it is known applied.
    static void parse_segment(const std::string& name, bytes_view data, std::vector<wal_record>& records,
                              std::vector<wal_damage>& damage, std::uint64_t& good_end, std::uint64_t from = 0,
                              std::uint64_t resume_at = 0) {
        std::optional<wal_record> partial;
        bool resyncing = from > 0;  // skip continuation fragments of a record begun before `from`
        auto drop_partial = [&](const char* why) {
            if (partial) damage.push_back({name, partial->offset, why});
            partial.reset();
        };
        // Records of an earlier use of this file (a recycled segment) carry
        // LSNs below the segment's first: every LSN ever written before the
        // file was recycled was applied and checkpointed, and new LSNs are
        // always above the checkpoint.
        const std::uint64_t first_lsn = recycled_segment_first_lsn(name);
        // Whether nothing from `at` to the end belongs to this segment:
        // zeros, or the bytes of the file's earlier use. Every position is
        // tried as a fragment start (a torn write can leave old bytes before
        // new ones anywhere): one whose LSN could be this segment's and
        // whose checksum holds is a record of this segment. The LSN test
        // rejects almost every position before any checksum is computed.
        // Once a scan from some position found nothing, later positions are
        // answered without scanning again (damage after damage in a tail
        // would otherwise rescan it for every block).
        std::uint64_t nothing_live_after = data.size();
        auto nothing_live_from = [&](std::uint64_t at) {
            if (at >= nothing_live_after) return true;
            if (std::all_of(data.begin() + static_cast<std::ptrdiff_t>(at), data.end(),
                            [](std::byte b) { return b == std::byte{0}; })) {
                nothing_live_after = at;
                return true;
            }
            if (first_lsn == 0) return false;  // written over zeros only: nothing else may follow
            const std::byte* d = data.data();
            for (std::uint64_t p = at; p + header_size <= data.size(); ++p) {
                // (A plain load where the host is little-endian: this loop
                // runs once per byte of a reused file's old bytes.)
                std::uint64_t lsn;
                if constexpr (std::endian::native == std::endian::little)
                    std::memcpy(&lsn, d + p + checksum_size + 3, 8);
                else
                    lsn = detail::get_le(d + p + checksum_size + 3, 8);
                if (lsn - first_lsn >= data.size()) continue;  // below first_lsn wraps around
                const std::uint64_t left_in_block = block_size - p % block_size;
                const std::size_t n = static_cast<std::size_t>(detail::get_le(d + p + checksum_size + 1, 2));
                if (left_in_block < header_size || n > left_in_block - header_size || p + header_size + n > data.size())
                    continue;
                if (intact(d + p, n)) return false;
            }
            nothing_live_after = at;
            return true;
        };
        std::uint64_t pos = from - from % block_size;
        while (pos < data.size()) {
            std::uint64_t block_end = (pos / block_size + 1) * block_size;
            std::uint64_t block_left = block_end - pos;
            if (block_left < header_size) {  // padding
                pos = block_end;
                continue;
            }
            auto skip_block = [&](std::string reason, bool tail_like) {
                const std::uint64_t at = pos;
                pos = resume_at > pos && resume_at < block_end ? resume_at : block_end;
                damage.push_back({name, at, std::move(reason), tail_like});
                damage.back().end = pos;
                partial.reset();
            };
            const std::byte* h = data.data() + pos;
            // Zeros from here to the end: space written ahead and never
            // used (wal_options::preallocate), or the tail of an append the
            // power cut before any of it landed. Either way nothing was
            // acknowledged from it: the segment's records end here. (The
            // scan to the end finds nothing at most once per segment: see
            // nothing_live_from.)
            const std::size_t head = static_cast<std::size_t>(std::min<std::uint64_t>(header_size, data.size() - pos));
            if (std::all_of(h, h + head, [](std::byte b) { return b == std::byte{0}; }) && nothing_live_from(pos)) break;
            if (data.size() - pos < header_size) {
                skip_block("incomplete fragment header at the end of the segment", true);
                break;
            }
            std::uint8_t type_byte = std::to_integer<std::uint8_t>(h[checksum_size]);
            std::size_t length = static_cast<std::size_t>(detail::get_le(h + checksum_size + 1, 2));
            if (length > block_left - header_size) {
                skip_block("bad fragment length " + std::to_string(length), nothing_live_from(pos + header_size));
                continue;
            }
            if (data.size() - pos < header_size + length) {
                skip_block("fragment cut short at the end of the segment", true);
                break;
            }
            if (!intact(h, length)) {
                skip_block("checksum mismatch", nothing_live_from(pos + header_size + length));
                continue;
            }
            auto kind = static_cast<fragment>(type_byte & 7);
            auto type = static_cast<wal_record_type>(type_byte >> 3);
            std::uint64_t lsn = detail::get_le(h + checksum_size + 3, 8);
            if (lsn < first_lsn) {
                // Where this segment's records end in a recycled file (or,
                // with newer fragments after it, the hole of a torn write).
                if (nothing_live_from(pos)) break;
                skip_block("fragment of LSN " + std::to_string(lsn) + " from the file's earlier use before newer ones",
                           false);
                continue;
            }
            std::uint64_t txid = detail::get_le(h + checksum_size + 11, 8);
            if (lsn > max_sequence || txid > max_sequence) {
                // Intact by its checksum yet impossible (a log would take
                // centuries to count that far): damage, never a number the
                // log goes on from (it would wrap around).
                skip_block("log sequence number or transaction id out of range", false);
                continue;
            }
            bytes_view body(h + header_size, length);
            bool known_type = type == wal_record_type::put || type == wal_record_type::erase ||
                              type == wal_record_type::commit;
            std::uint64_t here = pos;
            pos += header_size + length;
            good_end = pos;
            if (resyncing) {
                if ((kind == full || kind == first) && here >= from) {
                    resyncing = false;
                } else {
                    continue;
                }
            }
            if (!known_type || kind < full || kind > last) {
                drop_partial("record interrupted by an unknown fragment");
                damage.push_back({name, here, "unknown record type " + std::to_string(type_byte)});
                continue;
            }
            switch (kind) {
                case full:
                    drop_partial("partial record followed by a full record");
                    records.push_back({lsn, txid, type, bytes(body.begin(), body.end()), name, here});
                    break;
                case first:
                    drop_partial("partial record followed by a new first fragment");
                    partial = wal_record{lsn, txid, type, bytes(body.begin(), body.end()), name, here};
                    break;
                case middle:
                case last:
                    if (!partial || partial->lsn != lsn || partial->txid != txid || partial->type != type) {
                        drop_partial("fragments of different records");
                        damage.push_back({name, here, kind == middle ? "unexpected middle fragment" : "unexpected last fragment"});
                        break;
                    }
                    stowage::append(partial->payload, body);
                    if (kind == last) {
                        records.push_back(std::move(*partial));
                        partial.reset();
                    }
                    break;
            }
        }
        if (partial) {
            damage.push_back({name, partial->offset, "record incomplete at the end of the segment", true});
            good_end = std::min(good_end, partial->offset);
        }
    }

    // Whether the fragment at h (payload length n, all in memory) passes
    // its checksum.
    static bool intact(const std::byte* h, std::size_t n) {
        Hasher hasher;
        hasher.update(bytes_view(h + checksum_size, header_size - checksum_size + n));
        auto digest = hasher.finish();
        return std::equal(digest.begin(), digest.end(), h);
    }

    // The first LSN a reused segment's name gives; 0 for any other name (a
    // segment written over zeros only, or arbitrary bytes: no stale
    // records then, and only zeros may follow its records).
    static std::uint64_t recycled_segment_first_lsn(const std::string& name) {
        auto slash = name.rfind('/');
        std::string_view base = std::string_view(name).substr(slash == std::string::npos ? 0 : slash + 1);
        if (base.size() != 20 + recycled_suffix.size() || !base.ends_with(recycled_suffix)) return 0;
        std::uint64_t v = 0;
        for (char c : base.substr(0, 20)) {
            if (c < '0' || c > '9') return 0;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return v;
    }

    // Removes a segment's bytes from `from` on (the whole segment when 0).
    void cut(const std::string& name, std::uint64_t from, std::uint64_t size, wal_recovery_report& report) {
        if (from >= size) return;
        report.bytes_truncated += size - from;
        if (storage_.read_only()) return;
        if (from == 0) {
            storage_.remove(name, durability::full);
        } else {
            storage_.truncate(name, from);
            storage_.sync(name);
        }
    }

    // --- segments ----------------------------------------------------------------

    // The largest LSN or transaction id a log accepts (2^62: at a million
    // records a second, 146,000 years): anything above is damage.
    static constexpr std::uint64_t max_sequence = std::uint64_t(1) << 62;

    static std::uint64_t first_lsn_of(const std::string& name) {
        auto slash = name.rfind('/');
        return std::stoull(name.substr(slash + 1, 20));
    }

    // 1: a segment name ("<20 digits>.log" or ".recycled.log"); 2: a
    // segment kept for reuse ("<20 digits>.free"); 0: anything else.
    static int segment_base_kind(std::string_view key) {
        auto slash = key.rfind('/');
        std::string_view base = key.substr(slash == std::string_view::npos ? 0 : slash + 1);
        if (base.size() < 20 || !std::all_of(base.begin(), base.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
            return 0;
        std::uint64_t first = 0;  // 20 digits may exceed 2^64: such a name is not the log's
        for (char c : base.substr(0, 20)) {
            if (first > max_sequence) return 0;
            first = first * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (first > max_sequence) return 0;
        std::string_view rest = base.substr(20);
        if (rest == ".log" || rest == recycled_suffix) return 1;
        if (rest == ".free") return 2;
        return 0;
    }

    // Whether reported damage lies between records a and b (log order).
    static bool damage_between(const std::vector<wal_damage>& damage, const wal_record& a, const wal_record& b) {
        for (const auto& d : damage) {
            if (d.segment == a.segment && d.segment == b.segment) {
                if (d.offset > a.offset && d.offset < b.offset) return true;
            } else if ((d.segment == a.segment && d.offset > a.offset) ||
                       (d.segment == b.segment && d.offset < b.offset) || (d.segment > a.segment && d.segment < b.segment)) {
                return true;
            }
        }
        return false;
    }

    // A segment written over zeros, and one written over a reused file's
    // bytes (the reader then knows that old records may follow its own).
    static constexpr std::string_view recycled_suffix = ".recycled.log";
    std::string segment_name(std::uint64_t first_lsn, bool recycled = false) const {
        std::string digits = std::to_string(first_lsn);
        return prefix_ + "/" + std::string(20 - digits.size(), '0') + digits +
               std::string(recycled ? recycled_suffix : std::string_view(".log"));
    }

    // Lock held. A segment named for the next LSN may be left over from a
    // point-in-time cut or an earlier open; it holds no intact record (else
    // the next LSN would be past it), so it is started afresh or replaced.
    void open_segment(std::uint64_t first_lsn) {
        segment_offset_ = 0;
        allocated_ = 0;
        const std::string fresh = segment_name(first_lsn);
        if constexpr (renames_keys<Storage>) {
            const std::string reused = segment_name(first_lsn, true);
            if (storage_.contains(reused)) storage_.remove(reused, durability::none);
            if (recycling() && !free_segments_.empty()) {
                if (storage_.contains(fresh)) storage_.remove(fresh, durability::none);
                // The name is durable before any record in it can be
                // acknowledged (the rename syncs the directory, the removals
                // above with it).
                storage_.rename(free_segments_.back(), reused, durability::full);
                free_segments_.pop_back();
                segment_ = reused;
                allocated_ = storage_.size(segment_).value_or(0);
                return;
            }
        }
        segment_ = fresh;
        if (storage_.contains(segment_)) storage_.replace(segment_, {}, durability::full);
    }

    bool recycling() const {
        if constexpr (writes_logs_at<Storage> && renames_keys<Storage>)
            return deferring() && options_.recycle_segments > 0;
        else
            return false;
    }

    // Segment i holds LSNs [first_i, first_{i+1}); retire it when all of
    // them are applied. The segment being written is never retired; the
    // last one only when no segment was opened since recovery and every
    // recovered LSN is applied (`last_applied`).
    void retire_segments(const std::vector<std::string>& names, const std::string& current, std::uint64_t applied,
                         bool last_applied) {
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == current) break;
            bool whole = i + 1 < names.size() ? first_lsn_of(names[i + 1]) - 1 <= applied : last_applied;
            if (!whole) break;
            retire_segment(names[i]);
        }
    }

    // A segment whose records are all applied: kept for reuse under a name
    // no reader takes for a segment (<first LSN>.free), or deleted. Durable
    // at the checkpoint's flush; a crash before it leaves the old name,
    // whose records are below the checkpoint and ignored.
    void retire_segment(const std::string& name) {
        if constexpr (renames_keys<Storage>) {
            bool keep = false;
            {
                std::lock_guard lock(mutex_);
                keep = recycling() && free_segments_.size() + retiring_ < options_.recycle_segments;
                if (keep) ++retiring_;
            }
            if (keep) {
                std::string free_name = name.substr(0, name.rfind('/') + 1 + 20) + ".free";
                try {
                    storage_.rename(name, free_name, durability::none);
                } catch (...) {
                    std::lock_guard lock(mutex_);
                    --retiring_;
                    throw;
                }
                std::lock_guard lock(mutex_);
                --retiring_;
                free_segments_.push_back(std::move(free_name));
                stats_.segments_recycled++;
                return;
            }
        }
        storage_.remove(name, durability::none);
        std::lock_guard lock(mutex_);
        stats_.segments_deleted++;
    }

    // Called with the lock held: the old segment must be durable before any
    // later sync (of the new segment) can acknowledge commits.
    void roll_segment() {
        if (!segment_.empty() && written_lsn_ > durable_lsn_) {
            try {
                write_pending();
                storage_.sync(segment_);
            } catch (const error& e) {
                fail(e.what());
                throw error(errc::failed_state, std::string("wal: sync failed: ") + e.what());
            }
            stats_.fsyncs++;
            set_durable(written_lsn_);
            commits_synced_ = stats_.commits;
            wake_waiters();
        }
        segment_.clear();
        segment_offset_ = 0;
        allocated_ = 0;
    }

    // Appends frames to the segment now (storages without deferred writes).
    void write_frames(const bytes& frames) {
        const std::uint64_t before = segment_offset_;
        try {
            storage_.append(segment_, frames);
        } catch (const error& e) {
            undo_failed_append(e, before);
            throw;
        }
        segment_offset_ += frames.size();
    }

    // Lock held. An append's write failed (not the log: errc::failed_state
    // passes through): cut off whatever part of it landed past `before`, so
    // the next append does not follow garbage, and note a full disk.
    void undo_failed_append(const error& e, std::uint64_t before) {
        if (e.kind() == errc::failed_state) return;
        allocated_ = before;  // the truncate below cuts the zeros ahead too
        try {
            storage_.truncate(segment_, before);
        } catch (const error& e2) {
            fail(std::string("append failed (") + e.what() + ") and could not be undone: " + e2.what());
            throw error(errc::failed_state, "wal: " + *failed_);
        }
        if (e.kind() == errc::no_space) release_reserve();
    }

    // Deferred writes (storages that write logs at a position, with zeros
    // ahead): append() builds its frames at the end of the queue, then makes
    // sure the zeros ahead reach past them (that write is where a full disk
    // shows: the frames are then taken off the queue and refused, as an
    // append's would be); the sync leader writes everything queued in one
    // call before it syncs, as LevelDB's leader writes its group's batch.
    // A reader stops at an all-zero fragment header followed by nothing but
    // zeros (see parse_segment): what was never written.
    bool deferring() const {
        if constexpr (writes_logs_at<Storage>) return options_.preallocate > 0;
        else return false;
    }

    // Lock held. Writes the queued frames now if they hold `lsn` (not yet
    // written by a sync leader), waiting first for a leader that is writing
    // its batch (whose end marker must not land on frames written after it).
    void write_queued_for(std::unique_lock<std::mutex>& lock, std::uint64_t lsn) {
        if (!deferring()) return;
        while (leader_writing_) {
            batch_written_cv_.wait(lock);
            check_failed();
        }
        if (pending_.empty() || durable_lsn_ >= lsn) return;
        try {
            write_pending();
        } catch (const error& e) {
            fail(std::string("write of queued frames failed: ") + e.what());
            throw error(errc::failed_state, "wal: " + *failed_);
        }
    }

    // Lock held. Commits that nobody syncs (durability none) must not pile
    // up in memory: past 1 MiB the queue is written first. Those frames
    // belong to published transactions, so a failure here fails the log.
    void write_queue_if_large() {
        if (pending_.size() < (1u << 20) || leader_writing_) return;
        try {
            write_pending();
        } catch (const error& e) {
            fail(std::string("write of queued frames failed: ") + e.what());
            throw error(errc::failed_state, "wal: " + *failed_);
        }
    }

    // Lock held. The frames queued from pending_[start] on: the zeros ahead
    // are extended past them, or they are taken off the queue again.
    void zeros_past_queued(std::size_t start)
        requires writes_logs_at<Storage>
    {
        const std::uint64_t before = segment_offset_;
        const std::uint64_t end = before + (pending_.size() - start);
        if (end > allocated_) {
            try {
                const std::uint64_t grow = std::max<std::uint64_t>(options_.preallocate, end - allocated_);
                if (zeros_.size() < grow) zeros_.assign(static_cast<std::size_t>(grow), std::byte{0});
                storage_.write_at(segment_, allocated_, bytes_view(zeros_).first(static_cast<std::size_t>(grow)));
                allocated_ += grow;
            } catch (const error& e) {
                pending_.resize(start);
                // Only the zeros past the old end are cut: the segment's
                // space up to there (a reused file's whole size) is kept.
                undo_failed_append(e, allocated_);
                throw;
            }
        }
        segment_offset_ = end;
    }

    // Writes the queued frames (lock held). A failed write is a failed log:
    // frames of commits already published were lost with it.
    void write_pending() {
        if constexpr (writes_logs_at<Storage>) {
            if (pending_.empty()) return;
            const std::size_t marker = end_marker_size(pending_at_ + pending_.size());
            pending_.resize(pending_.size() + marker);
            storage_.write_at(segment_, pending_at_, pending_);
            pending_.clear();
        }
    }

    // Lock held. In a reused segment the bytes after the records are an
    // earlier use's, so each write of queued frames carries zeros for one
    // fragment header after them (and the block tail they skip): where a
    // reader then finds that zero header the records ended cleanly; where
    // it finds neither an intact fragment nor the zeros, a write was torn.
    // Segments written over fresh zeros have them already. (The next write
    // starts over the marker.)
    std::size_t end_marker_size(std::uint64_t end) const {
        if (!segment_.ends_with(recycled_suffix) || allocated_ <= end) return 0;
        const std::uint64_t block_left = block_size - end % block_size;
        const std::uint64_t n = block_left < header_size ? block_left + header_size : header_size;
        return static_cast<std::size_t>(std::min(n, allocated_ - end));
    }

    // committer: called by a thread waiting for its own commit (it counts
    // towards the leader's expected group), not by flush or the syncer.
    void sync_through(std::uint64_t lsn, bool committer = false) {
        std::unique_lock lock(mutex_);
        if (committer) note_committer();
        while (durable_lsn_ < lsn) {
            check_failed();
            if (!syncing_) {
                syncing_ = true;
                wait_for_group(lock);
                std::uint64_t target = written_lsn_;
                std::uint64_t covered = stats_.commits;
                std::string seg = segment_;
                // The group's deferred frames, written here in one call.
                // The next group queues into the buffer of an earlier one:
                // grown from empty at every sync, it cost a reallocation
                // and copy per doubling, with fresh pages to fault in.
                bytes batch = std::move(pending_);
                pending_ = std::move(pending_spare_);
                pending_.clear();
                const std::uint64_t batch_at = pending_at_;
                const std::size_t marker = batch.empty() ? 0 : end_marker_size(batch_at + batch.size());
                const bool writes_batch = !batch.empty();
                leader_writing_ = writes_batch;
                lock.unlock();
                std::optional<std::string> failure;
                auto started = std::chrono::steady_clock::now();
                try {
                    if constexpr (writes_logs_at<Storage>) {
                        if (writes_batch) {
                            batch.resize(batch.size() + marker);
                            storage_.write_at(seg, batch_at, batch);
                        }
                    }
                } catch (const error& e) {
                    failure = e.what();
                }
                if (writes_batch) {
                    // Frames queued after this batch may be written from now
                    // on (the batch's end marker is down): batched commits
                    // waiting to hand theirs to the OS go on during the sync.
                    {
                        std::lock_guard written(mutex_);
                        leader_writing_ = false;
                    }
                    batch_written_cv_.notify_all();
                }
                try {
                    if (!failure && !seg.empty()) storage_.sync(seg);
                } catch (const error& e) {
                    failure = e.what();
                }
                if (options_.observer) {
                    if (failure) options_.observer({wal_event::kind::failure, target, {}, "sync failed: " + *failure});
                    else options_.observer({wal_event::kind::sync, target, std::chrono::steady_clock::now() - started, {}});
                }
                auto took = std::chrono::steady_clock::now() - started;
                lock.lock();
                syncing_ = false;
                if (batch.capacity() > pending_spare_.capacity() && batch.capacity() <= max_kept_buffer) {
                    batch.clear();
                    pending_spare_ = std::move(batch);
                }
                if (failure) {
                    fail("sync failed: " + *failure);
                    wake_waiters();
                    check_failed();
                }
                last_sync_time_ = std::chrono::duration_cast<std::chrono::microseconds>(took);
                commits_synced_ = std::max(commits_synced_, covered);
                // A new period of committers starts: the older one is
                // forgotten, so the expectation follows a falling writer
                // count within two syncs.
                committers_[period_ ^ 1].clear();
                period_ ^= 1;
                stats_.fsyncs++;
                set_durable(std::max(durable_lsn_, target));
                if (durable_lsn_ >= written_lsn_) batched_since_ = {};
                wake_waiters();
            } else {
                // A follower sleeps on the wake generation rather than on
                // the mutex: when a sync ends, each of the group's waiters
                // sees from the atomic that it is done and returns without
                // queueing on the mutex the next committers' appends need.
                const std::uint64_t seen = wake_generation_.load(std::memory_order_acquire);
                lock.unlock();
                yield_while_unchanged(seen);
                wake_generation_.wait(seen, std::memory_order_acquire);
                if (durable_atomic_.load(std::memory_order_acquire) >= lsn &&
                    !failed_flag_.load(std::memory_order_acquire))
                    return;
                lock.lock();
            }
        }
        check_failed();
    }

    // A follower's first phase of waiting (RocksDB's adaptive yield for
    // its write-group followers): yield the CPU in a loop while the
    // generation stays `seen`, for up to wal_options::follower_spin, and
    // stop early once three yields were slow (over 3 µs: another thread
    // had work for this CPU, which it then needs more than this wait).
    // Why: the wait is usually shorter than a sync, and a follower that
    // went to sleep runs again only after the scheduler wakes it, which on
    // a busy machine takes longer than the sync did.
    void yield_while_unchanged(std::uint64_t seen) const {
        if (options_.follower_spin.count() <= 0) return;
        constexpr auto slow_yield = std::chrono::microseconds(3);
        constexpr int slow_yields_allowed = 3;
        auto now = std::chrono::steady_clock::now();
        const auto until = now + options_.follower_spin;
        int slow = 0;
        do {
            std::this_thread::yield();
            if (wake_generation_.load(std::memory_order_acquire) != seen) return;
            const auto after = std::chrono::steady_clock::now();
            if (after - now > slow_yield && ++slow >= slow_yields_allowed) return;
            now = after;
        } while (now < until);
    }

    // Lock held. The durable LSN, mirrored for followers that read it
    // without the lock.
    void set_durable(std::uint64_t lsn) {
        durable_lsn_ = lsn;
        durable_atomic_.store(lsn, std::memory_order_release);
    }
    // Lock held. Wakes every waiter: durable_cv_'s (an append waiting to
    // roll the segment) and the followers sleeping on the generation.
    void wake_waiters() {
        durable_cv_.notify_all();
        wake_generation_.fetch_add(1, std::memory_order_acq_rel);
        wake_generation_.notify_all();
    }

    // Group-commit bookkeeping (lock held). The distinct threads that waited
    // for a commit during the current and the previous sync period are the
    // committers a leader can expect; their ids are kept in two small
    // vectors (a handful of threads in practice, capped).
    void note_committer() {
        auto id = std::this_thread::get_id();
        auto& now = committers_[period_];
        if (now.size() < 1024 && std::find(now.begin(), now.end(), id) == now.end()) now.push_back(id);
    }
    std::size_t expected_committers() const {
        const auto& a = committers_[period_];
        const auto& b = committers_[period_ ^ 1];
        std::size_t n = a.size();
        for (const auto& id : b)
            if (std::find(a.begin(), a.end(), id) == a.end()) ++n;
        return n;
    }
    // The leader's wait: until half the recent committers have a commit
    // pending, no commit is being prepared, the wait bound passes, or the
    // log fails. Half, not all: the other half prepares its next commits
    // while this group syncs, so two groups alternate and neither the disk
    // nor the CPUs sit idle (waiting for everyone left every committer
    // blocked on the sync; paired runs, 16 writers: +7% at 10 puts, +11%
    // at 1 put, 4 writers unchanged).
    void wait_for_group(std::unique_lock<std::mutex>& lock) {
        if (options_.group_commit_wait.count() <= 0) return;
        std::size_t committers = expected_committers();
        if (committers < 2) return;
        const std::size_t expected = (committers + 1) / 2;
        auto pending = [&] { return stats_.commits - commits_synced_; };
        auto none_coming = [&] { return preparing_.load(std::memory_order_acquire) == 0; };
        if (pending() >= expected || none_coming()) return;
        auto bound = std::min(options_.group_commit_wait, last_sync_time_);
        leader_waiting_ = true;
        leader_expected_ = expected;
        stats_.group_waits++;
        arrival_cv_.wait_until(lock, std::chrono::steady_clock::now() + bound,
                               [&] { return pending() >= expected || none_coming() || failed_ || stopping_; });
        leader_waiting_ = false;
    }

    void syncer_loop() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            if (batched_since_ == std::chrono::steady_clock::time_point{} || failed_) {
                syncer_cv_.wait(lock);
                continue;
            }
            auto due = batched_since_ + options_.batch_window;
            if (syncer_cv_.wait_until(lock, due, [&] { return stopping_; })) break;
            if (std::chrono::steady_clock::now() < due) continue;
            // This sync covers every batched commit appended so far; later
            // ones start a new window.
            std::uint64_t target = written_lsn_;
            batched_since_ = {};
            lock.unlock();
            try {
                sync_through(target);
            } catch (const error&) {
                // The failed state reports it to every later caller.
            }
            lock.lock();
        }
    }

    void stop_syncer() {
        if (!syncer_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        syncer_cv_.notify_all();
        syncer_.join();
    }

    // --- state -------------------------------------------------------------------

    // A damaged checkpoint (any failed check, or not a regular file) is
    // not fatal: the log is the source of truth and replaying applied
    // records is idempotent, so recovery replays every retained segment
    // (checkpoint 0) and the next checkpoint rewrites the file. What is lost
    // with it: the durable high-water mark, and the transaction-id floor
    // (ids of transactions that wrote nothing may then repeat).
    // Returns false when the file is damaged.
    bool read_checkpoint() {
        std::optional<bytes> data;
        try {
            data = storage_.read(prefix_ + "/checkpoint");
        } catch (const error& e) {
            if (e.kind() != errc::corrupt) throw;  // an I/O error is not damage: report it as it is
            return false;
        }
        if (!data) return true;
        bytes_view v(*data);
        const std::uint64_t version = v.size() >= 8 ? detail::get_le(v.data() + 4, 4) : 0;
        const std::size_t size = version == 1 ? 28 : version == 2 ? 52 : 0;
        if (size == 0 || v.size() != size || as_chars(v.first(4)) != "STWC" ||
            crc32c::of(v.first(size - 4)) != detail::get_le(v.data() + size - 4, 4))
            return false;
        const std::uint64_t lsn = detail::get_le(v.data() + 8, 8), txid = detail::get_le(v.data() + 16, 8);
        const std::uint64_t durable = version == 2 ? detail::get_le(v.data() + 24, 8) : 0;
        if (lsn > max_sequence || txid > max_sequence || durable > max_sequence) return false;
        checkpoint_lsn_ = lsn;
        next_txid_ = txid;
        if (version == 2) {
            checkpoint_durable_ = durable;
            applied_through_ = {detail::get_le(v.data() + 32, 8), detail::get_le(v.data() + 40, 8)};
        }
        return true;
    }

    // A full disk. Where the log can take files over by renaming them (and
    // writes at a position), the reserve and the segments kept for reuse
    // are kept: they are the log's own allocated space, which the next
    // segment takes over without asking the filesystem for a block
    // (take_reserve_as_segment). Deleting them is no help there: ext4 does
    // not hand freed blocks out again until its journal commits, and
    // anything else on the disk may take them first (seen: every writer,
    // rm included, failing with ENOSPC once they were gone). Elsewhere they
    // are given back to the storage.
    void release_reserve() {
        low_space_ = true;
        if (can_take_over_files()) return;
        try {
            storage_.remove(prefix_ + "/reserve", durability::full);
        } catch (const error&) {
        }
        while (!free_segments_.empty()) {
            try {
                storage_.remove(free_segments_.back(), durability::full);
            } catch (const error&) {
            }
            free_segments_.pop_back();
        }
    }

    // Whether a file of zeros (the reserve) can become a segment: the log
    // writes at positions over zeros ahead (deferring) and renames files.
    bool can_take_over_files() const {
        if constexpr (renames_keys<Storage>)
            return deferring();
        else
            return false;
    }

    // Lock held; after an append failed for space. The log continues in a
    // segment made from the reserve file (renamed: no new block), after
    // the current segment is closed (synced) or, holding nothing yet, removed.
    // False when there is no reserve to take.
    bool take_reserve_as_segment(std::unique_lock<std::mutex>& lock) {
        if constexpr (renames_keys<Storage>) {
            const std::string reserve = prefix_ + "/reserve";
            if (!can_take_over_files() || failed_ || !storage_.contains(reserve)) return false;
            // A sync leader may be writing this segment's queued frames
            // outside the lock: the roll's sync must come after it.
            while (syncing_ && deferring()) durable_cv_.wait(lock);
            if (failed_) return false;
            // A reused file with nothing of ours in it yet is space the log
            // holds already: erases go there (it is not given back).
            if (segment_offset_ == 0 && segment_.ends_with(recycled_suffix)) {
                low_space_ = true;
                return true;
            }
            if (segment_offset_ > 0) {
                roll_segment();
            } else if (!segment_.empty()) {
                storage_.remove(segment_, durability::none);
                segment_.clear();
            }
            const std::string name = segment_name(next_lsn_, true);
            if (storage_.contains(segment_name(next_lsn_))) storage_.remove(segment_name(next_lsn_), durability::none);
            // A reused file already renamed to this name by a takeover that
            // failed after its rename (its directory sync) is ours: use it.
            if (!storage_.contains(name))
                storage_.rename(reserve, name, durability::full);
            else
                storage_.flush();  // make that rename durable before records in it are acknowledged
            segment_ = name;
            segment_offset_ = 0;
            allocated_ = storage_.size(segment_).value_or(0);
            low_space_ = true;
            return true;
        } else {
            return false;
        }
    }

    void restore_reserve() {
        if (options_.reserve_bytes == 0) {
            low_space_ = false;
            return;
        }
        try {
            auto size = storage_.size(prefix_ + "/reserve");
            if (!size || *size != options_.reserve_bytes)
                storage_.replace(prefix_ + "/reserve", bytes(options_.reserve_bytes), durability::full);
            low_space_ = false;
        } catch (const error& e) {
            if (e.kind() != errc::no_space) throw;
            low_space_ = true;
        }
    }

    void fail(std::string why) {
        if (!failed_) failed_ = std::move(why);
        failed_flag_.store(true, std::memory_order_release);
    }
    void check_failed() const {
        if (failed_)
            throw error(errc::failed_state, "wal: " + *failed_ + "; reopen to recover from what is on disk");
    }
    void check_writable() const {
        if (storage_.read_only()) throw error(errc::read_only, "wal: opened read-only");
        if (!recovered_) throw error(errc::bad_input, "wal: recover() must run before writing");
        check_failed();
    }

    mutable Storage storage_;
    std::string prefix_;
    wal_options options_;

    mutable std::mutex mutex_;
    std::condition_variable durable_cv_;
    std::condition_variable syncer_cv_;
    std::condition_variable arrival_cv_;  // a waiting group-commit leader
    bool leader_waiting_ = false;
    std::uint64_t leader_expected_ = 0;  // pending commits the waiting leader wants
    std::array<std::vector<std::thread::id>, 2> committers_;
    unsigned period_ = 0;
    std::uint64_t commits_synced_ = 0;  // stats_.commits covered by the last sync
    std::chrono::microseconds last_sync_time_{0};
    bool recovered_ = false;
    bool syncing_ = false;
    bool leader_writing_ = false;  // a sync leader is writing its batch outside the lock (see write_queued_for)
    std::condition_variable batch_written_cv_;
    bool stopping_ = false;
    bool low_space_ = false;
    std::optional<std::string> failed_;
    std::string segment_;
    std::uint64_t segment_offset_ = 0;  // end of the records appended to segment_ (written or queued)
    std::uint64_t allocated_ = 0;       // end of the zeros written ahead (or a reused file's bytes) in segment_
    std::vector<std::string> free_segments_;  // retired segments kept for reuse (recycle_segments)
    std::size_t retiring_ = 0;                // retire_segment() renames in flight
    bytes pending_;                     // frames appended, not yet written (deferring())
    bytes pending_spare_;               // an earlier group's buffer, for pending_ after the next sync
    static constexpr std::size_t max_kept_buffer = 4u << 20;  // larger buffers (huge transactions) are freed
    std::uint64_t pending_at_ = 0;      // their offset in segment_
    bytes zeros_;                       // the zeros to write ahead (options_.preallocate of them)
    std::uint64_t next_lsn_ = 1;
    std::atomic<std::uint64_t> next_txid_{1};
    std::uint64_t written_lsn_ = 0;
    std::uint64_t durable_lsn_ = 0;
    std::atomic<std::uint64_t> durable_atomic_{0};    // durable_lsn_, for lock-free reads (set_durable)
    std::atomic<std::uint64_t> wake_generation_{0};   // bumped by wake_waiters()
    std::atomic<bool> failed_flag_{false};            // failed_ has a value
    std::atomic<std::size_t> preparing_{0};           // begin_commit() minus end_commit()
    std::array<std::atomic<std::uint64_t>, 32> latency_us_log2_{};  // wal_stats::latency_us_log2
    bytes frames_;                                    // append()'s frames when not deferring, reused (lock held)
    std::uint64_t checkpoint_lsn_ = 0;
    std::uint64_t checkpoint_durable_ = 0;  // durable_lsn_ when the checkpoint was taken (format 2)
    // Where the log ended when a checkpoint found everything appended applied:
    // (first LSN of that segment, offset); (0, 0) when not known.
    std::pair<std::uint64_t, std::uint64_t> applied_through_{0, 0};
    std::uint64_t recovered_lsn_ = 0;
    std::chrono::steady_clock::time_point batched_since_{};  // oldest batched commit not yet synced (syncer_loop)
    wal_stats stats_;
    std::thread syncer_;
};

}  // namespace stowage
