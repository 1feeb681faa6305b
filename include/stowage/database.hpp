// database.hpp — one data directory (or other storage root) with its
// write-ahead log, transactions across every collection opened through it,
// snapshot reads and crash recovery.
//
//   database<file_storage> db(file_storage("data"));
//   db_store<session, file_storage> sessions(db.storage(), "sessions");
//   db_store<note, file_storage> notes(db.storage(), "notes");
//   auto tx = db.transaction();
//   tx.put(sessions, s);
//   tx.erase(notes, "n1");
//   tx.commit();                       // both or neither, durable at return
//   db.update(sessions, "42", [](session& s) { s.state = status::done; });
//
// How it works. Participants (stores now; the CAS map and indexes later)
// turn operations into staged writes (staged_write.hpp): key, new value or
// erase, and an in-memory follow-up. A commit
//   1. checks the transaction's read set (optimistic concurrency: an entity
//      read by the transaction that changed since is errc::conflict, and
//      nothing is applied),
//   2. appends the writes and a commit record to the WAL, stamping each
//      record envelope with its LSN,
//   3. puts the new versions in the in-memory overlay, where every reader
//      sees them at once, and runs the participants' follow-ups (listing
//      updates) in commit order,
//   4. waits for durability (group commit; see wal.hpp) — commit() with
//      durability::full returns only once the WAL bytes are synced.
// A background applier writes committed versions to their keys in batches
// (many files, one filesystem sync), checkpoints the WAL and drops the
// applied versions from the overlay. Reopening loads committed, unapplied
// transactions into the overlay in log order (the applier then writes them
// like any commit: re-applying is idempotent, and a record file torn by the
// crash is overwritten) and ignores uncommitted ones.
//
// Visibility: a transaction is visible to readers from the moment it is
// ordered in the log (step 3), before its commit() returns. A crash can
// only lose transactions whose commit() had not returned (full), or that
// returned within the batch window (batched), or since the last flush
// (none); a reader may have seen such a transaction before the crash.
//
// Snapshots: db.snapshot() pins the current LSN; reads through it see
// exactly the transactions committed up to it while writers continue (the
// applier does not write versions newer than the oldest pinned snapshot to
// storage, and keeps them in the overlay).
//
// Thread safety: everything may be used from any number of threads.
// Transactions are single-threaded objects. Commits are serialized only for
// the short ordering step; the durability wait is shared (group commit).
// Lifetime: views, transactions and snapshots share the database's state;
// the last one to go applies everything, checkpoints and closes the log.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "commit_hooks.hpp"
#include "concepts.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "staged_write.hpp"
#include "store.hpp"
#include "wal.hpp"

namespace stowage {

struct database_options {
    wal_options wal;
    // The longest a committed version waits in the overlay before the
    // applier writes it to its key. The applier also runs as soon as commits
    // pause for a tenth of this, and at once when the overlay holds
    // apply_threshold versions or apply_threshold_bytes of values.
    //
    // Why not apply continuously: each application writes record files (in
    // place where the storage can, see overwrites_in_place; else a new
    // inode and a rename each) and syncs the filesystem, and every WAL
    // fdatasync that lands in that churn waits for it (measured: a 200 ms
    // cadence halved durable commits/s at 16 writers and cut one writer's
    // rate 10x). Applying after pauses and in large batches keeps the commit
    // path's syncs cheap and writes each key once per batch however often it
    // changed (the thresholds, like RocksDB's 64 MB write buffer, were
    // raised from 8192 / 16 MiB for that: +24% durable commits/s at 16
    // writers x 10 puts). Readers see the overlay meanwhile, and recovery
    // after a crash only re-reads the log (it does not rewrite). Memory: the
    // overlay holds up to these thresholds of values, four times that when
    // commits outrun the applier (then they stall and help, see write_stalls).
    std::chrono::milliseconds apply_interval{2000};
    std::size_t apply_threshold = 65536;
    std::size_t apply_threshold_bytes = 64u << 20;
};

// The version a transaction saw of a key: absent, or present at an LSN.
struct key_version {
    bool exists = false;
    std::uint64_t lsn = 0;
    friend bool operator==(const key_version&, const key_version&) = default;
};

namespace detail {

template <storage Storage>
class db_state {
public:
    struct version {
        std::uint64_t lsn = 0;
        std::optional<bytes> value;
    };

    db_state(Storage s, database_options o) : storage(std::move(s)), log(storage, "wal", o.wal), options(o) {
        auto txs = log.recover(recovery);
        // Committed, unapplied transactions go to the overlay, where readers
        // see them at once; the applier writes the newest version of each key
        // in the background (read-only: never). Opening costs one pass over
        // the log, not a file write per record, and a record file torn by
        // the crash is simply rewritten, whatever its header says.
        for (auto& tx : txs) {
            for (auto& op : tx.ops) {
                if (op.type == wal_record_type::put) overlay_bytes += op.value.size();
                overlay[op.key].push_back(
                    {op.lsn, op.type == wal_record_type::put ? std::optional<bytes>(std::move(op.value)) : std::nullopt});
                ++overlay_versions;
            }
            recovery.transactions_replayed++;
        }
        draining_recovery = overlay_versions > 0;
        last_committed = log.recovered_lsn();  // before the applier reads it (a race TSan found)
        load_attachments();
        if (!storage.read_only()) applier = std::thread([this] { applier_loop(); });
    }

    ~db_state() {
        {
            std::lock_guard lock(apply_mutex);
            stopping = true;
        }
        apply_cv.notify_all();
        if (applier.joinable()) applier.join();
        if (storage.read_only()) return;
        try {
            log.flush();
            apply_now();
        } catch (...) {
            // Whatever was not applied is in the WAL and is replayed on open.
        }
    }

    // --- reads -------------------------------------------------------------------

    // The value of key as of `at` (a committed LSN), from the overlay or storage.
    std::optional<bytes> read(std::string_view key, std::uint64_t at) const {
        return read_through([&]() -> std::optional<std::optional<bytes>> {
            if (auto v = find_version(key, at)) return v->value;
            return std::nullopt;
        }, [&] { return storage.read(key); });
    }

    // Bytes [offset, offset + n) of key's value as of `at`: from the overlay,
    // or only that range from storage. errc::not_found when absent.
    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n, std::uint64_t at) const {
        return read_through([&]() -> std::optional<bytes> {
            auto v = find_version(key, at);
            if (!v) return std::nullopt;
            if (!v->value) throw error(errc::not_found, std::string(key));
            const bytes& b = *v->value;
            if (offset >= b.size()) return bytes{};
            auto end = offset + std::min<std::uint64_t>(n, b.size() - offset);
            return bytes(b.begin() + static_cast<std::ptrdiff_t>(offset), b.begin() + static_cast<std::ptrdiff_t>(end));
        }, [&] { return storage.read_range(key, offset, n); });
    }

    std::optional<std::uint64_t> size(std::string_view key, std::uint64_t at) const {
        return read_through([&]() -> std::optional<std::optional<std::uint64_t>> {
            auto v = find_version(key, at);
            if (!v) return std::nullopt;
            return v->value ? std::optional<std::uint64_t>(v->value->size()) : std::nullopt;
        }, [&] { return storage.size(key); });
    }

    key_version version_of(std::string_view key) const {
        return read_through([&]() -> std::optional<key_version> {
            auto it = overlay.find(key);
            if (it == overlay.end() || it->second.empty()) return std::nullopt;
            const auto& v = it->second.back();
            return v.value ? key_version{true, v.lsn} : key_version{};
        }, [&]() -> key_version {
            if (!storage.contains(key)) return {};
            bytes head = storage.read_range(key, 0, 22);
            return {true, envelope_lsn(head)};
        });
    }

    std::optional<bytes> read_versioned(std::string_view key, key_version& seen) const {
        return read_through([&]() -> std::optional<std::optional<bytes>> {
            auto it = overlay.find(key);
            if (it == overlay.end() || it->second.empty()) return std::nullopt;
            const auto& v = it->second.back();
            seen = v.value ? key_version{true, v.lsn} : key_version{};
            return v.value;
        }, [&] {
            auto value = storage.read(key);
            seen = value ? key_version{true, envelope_lsn(*value)} : key_version{};
            return value;
        });
    }

    // A read of key: from_overlay() under the overlay lock (nullopt: the
    // overlay has no version for it), else from_storage(). The applier may
    // write keys in place (overwrites_in_place): it only writes keys that
    // are in the overlay while it writes them, and it bumps apply_epoch
    // before it writes and after it has dropped them from the overlay. So a
    // key found absent from the overlay, with the epoch unchanged across the
    // storage read, was not being written during that read; otherwise the
    // read is repeated (it then finds the overlay's version or the applied
    // file).
    template <class FromOverlay, class FromStorage>
    auto read_through(FromOverlay&& from_overlay, FromStorage&& from_storage) const {
        for (;;) {
            const std::uint64_t epoch = apply_epoch.load(std::memory_order_seq_cst);
            {
                std::shared_lock lock(overlay_mutex);
                if (auto r = from_overlay()) return std::move(*r);
            }
            auto value = from_storage();
            if (apply_epoch.load(std::memory_order_seq_cst) == epoch) return value;
        }
    }

    std::vector<std::string> list(std::string_view prefix, std::uint64_t at) const {
        // The overlay first, storage second. The applier writes a batch to
        // storage before it drops those versions from the overlay, so
        // whatever it applies in between is already in the storage listing
        // read afterwards, and agrees with the overlay's verdicts. (The other
        // order could list storage before an apply and the overlay after it:
        // an erased key still listed, a new one missing.)
        std::vector<std::pair<std::string, bool>> verdicts;  // key, present
        {
            std::shared_lock lock(overlay_mutex);
            for (auto it = overlay.lower_bound(prefix); it != overlay.end() && it->first.starts_with(prefix); ++it)
                if (auto v = find_version(it->first, at)) verdicts.emplace_back(it->first, v->value.has_value());
        }
        auto base = storage.list(prefix);
        std::set<std::string, std::less<>> keys(base.begin(), base.end());
        for (auto& [key, present] : verdicts) {
            if (present) keys.insert(std::move(key));
            else keys.erase(key);
        }
        return {keys.begin(), keys.end()};
    }

    std::uint64_t latest() const {
        std::lock_guard lock(commit_mutex);
        return last_committed;
    }

    // --- commits -------------------------------------------------------------------

    // Orders, logs and publishes the writes; waits as `d` asks. Returns the
    // commit LSN.
    // appended() runs once the writes are in the log, inside the ordering
    // section (a transaction then stops counting as being prepared).
    template <class Appended = void (*)()>
    std::uint64_t commit(std::uint64_t txid, std::vector<staged_write>& writes,
                         const std::map<std::string, key_version, std::less<>>& read_set, durability d,
                         Appended appended = [] {}) {
        if (storage.read_only()) throw error(errc::read_only, "database opened read-only");
        auto started = std::chrono::steady_clock::now();
        if (overloaded()) stall();
        // Envelopes are checked here, outside the ordering section, which
        // then only stamps their LSNs (0: not an envelope, or an erase).
        thread_local std::vector<std::size_t> header_sizes;
        header_sizes.assign(writes.size(), 0);
        for (std::size_t i = 0; i < writes.size(); ++i)
            if (writes[i].value && looks_like_envelope(*writes[i].value))
                header_sizes[i] = intact_envelope_header_size(*writes[i].value);
        std::uint64_t commit_lsn;
        {
            std::lock_guard lock(commit_mutex);
            for (const auto& [key, seen] : read_set)
                if (version_of(key) != seen)
                    throw error(errc::conflict, key + " changed since this transaction read it");
            // The log reads keys and values where they are (no copies
            // inside the ordering section, which every committer waits for).
            // Attached collections: the journal entries of this commit, in
            // it (so in the same WAL transaction), named by its first LSN.
            // Inside the ordering section, so that attaching and detaching
            // (whose definitions' follow-ups change the registry, also in
            // this section) split commits cleanly into journaled or not.
            touched_attachments.clear();
            if (has_attachments.load(std::memory_order_acquire)) journal(writes, log.last_lsn() + 1);
            thread_local std::vector<wal_op_ref> ops;
            ops.clear();
            std::uint64_t lsn = log.last_lsn() + 1;
            for (std::size_t i = 0; i < writes.size(); ++i) {
                auto& w = writes[i];
                const std::uint64_t op_lsn = lsn++;
                if (w.value) {
                    if (i < header_sizes.size() && header_sizes[i]) stamp_envelope_lsn_at(*w.value, header_sizes[i], op_lsn);
                    ops.push_back({wal_record_type::put, w.key, *w.value});
                } else {
                    ops.push_back({wal_record_type::erase, w.key, {}});
                }
            }
            thread_local std::vector<std::uint64_t> lsns;
            commit_lsn = log.append(txid, std::span<const wal_op_ref>(ops), &lsns);
            appended();
            // Whether each write erased, before the values move to the overlay.
            const bool listening = has_listeners.load(std::memory_order_acquire);
            thread_local std::vector<committed_write> committed;
            committed.clear();
            if (listening)
                for (std::size_t i = 0; i < writes.size(); ++i)
                    committed.push_back({writes[i].key, writes[i].id, !writes[i].value.has_value(), lsns[i]});
            {
                std::unique_lock lock2(overlay_mutex);
                for (std::size_t i = 0; i < writes.size(); ++i) {
                    overlay_bytes += writes[i].value ? writes[i].value->size() : 0;
                    overlay[writes[i].key].push_back({lsns[i], std::move(writes[i].value)});
                    ++overlay_versions;
                }
            }
            last_committed = commit_lsn;
            for (auto& w : writes)
                if (w.on_commit) w.on_commit();
            for (const auto& a : touched_attachments) a->generation.fetch_add(1, std::memory_order_release);
            if (listening) notify(commit_lsn, committed);
        }
        last_commit_at.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
        if (overlay_versions >= options.apply_threshold || overlay_bytes >= options.apply_threshold_bytes)
            apply_cv.notify_all();
        log.wait_durable(commit_lsn, d);
        log.record_latency(std::chrono::steady_clock::now() - started, commit_lsn);
        return commit_lsn;
    }

    // --- snapshots -------------------------------------------------------------------

    std::uint64_t pin() {
        std::lock_guard lock(commit_mutex);
        std::lock_guard lock2(apply_mutex);
        pins.insert(last_committed);
        return last_committed;
    }
    void unpin(std::uint64_t lsn) {
        std::lock_guard lock(apply_mutex);
        pins.erase(pins.find(lsn));
    }

    // --- applying --------------------------------------------------------------------

    // Writes every committed version up to the oldest pin to storage, syncs,
    // checkpoints the WAL and drops the applied versions from the overlay.
    void apply_now() {
        std::lock_guard apply_lock(apply_run_mutex);
        const auto started = std::chrono::steady_clock::now();
        // Only what is both durable and already in the overlay: a commit
        // appends to the log before it publishes to the overlay, and a sync
        // in between must not let a checkpoint pass records not yet applied.
        std::uint64_t target;
        {
            std::lock_guard lock(commit_mutex);
            target = std::min(log.durable_lsn(), last_committed);
        }
        {
            std::lock_guard lock(apply_mutex);
            if (!pins.empty()) target = std::min(target, *pins.begin());
        }
        if (target <= log.checkpoint_lsn()) return;
        // Views, not copies, taken under the shared lock (which committers
        // publishing new versions wait for): only this function, under
        // apply_run_mutex, removes versions or keys from the overlay, and a
        // version's bytes stay where they are when its vector grows (they
        // move with the vector's elements, their buffer does not).
        struct newest_version {
            std::string_view key;
            bool present;
            bytes_view value;
        };
        std::vector<newest_version> todo;
        {
            std::shared_lock lock(overlay_mutex);
            for (const auto& [key, versions] : overlay) {
                const version* newest = nullptr;
                for (const auto& v : versions)
                    if (v.lsn <= target) newest = &v;
                if (newest)
                    todo.push_back({key, newest->value.has_value(), newest->value ? bytes_view(*newest->value) : bytes_view{}});
            }
        }
        std::vector<blob_write> puts;
        for (const auto& t : todo)
            if (t.present) puts.push_back({t.key, t.value});
        apply_epoch.fetch_add(1, std::memory_order_seq_cst);  // before any write: see read_through
        struct epoch_end {  // after the overlay drop below, or on an exception
            std::atomic<std::uint64_t>& e;
            ~epoch_end() { e.fetch_add(1, std::memory_order_seq_cst); }
        } end_of_apply{apply_epoch};
        for (std::size_t i = 0; i < puts.size(); i += 1024) {
            auto part = std::span<const blob_write>(puts).subspan(i, std::min<std::size_t>(1024, puts.size() - i));
            // In place where the storage can (no new inode and rename per
            // record): the overlay serves these keys until the drop below,
            // the log holds them until the checkpoint after the flush, and
            // a record torn by a crash is rewritten on reopening.
            if constexpr (overwrites_in_place<Storage>) storage.overwrite_batch(part);
            else storage.replace_batch(part, durability::none);
        }
        for (const auto& t : todo)
            if (!t.present) storage.remove(t.key, durability::none);
        storage.flush();
        log.checkpoint(target);
        // A key whose versions all went keeps its (empty) entry until the
        // next apply, and loses it then unless it was written again: a key
        // written over and over then costs its next commit no allocation
        // (map node, key, version vector) inside the ordering section.
        std::unique_lock lock(overlay_mutex);
        for (auto it = overlay.begin(); it != overlay.end();) {
            auto& versions = it->second;
            if (versions.empty()) {  // not written since the last apply
                it = overlay.erase(it);
                continue;
            }
            auto keep = std::find_if(versions.begin(), versions.end(), [&](const version& v) { return v.lsn > target; });
            overlay_versions -= static_cast<std::size_t>(keep - versions.begin());
            for (auto v = versions.begin(); v != keep; ++v) overlay_bytes -= v->value ? v->value->size() : 0;
            versions.erase(versions.begin(), keep);
            ++it;
        }
        applied_runs++;
        apply_nanoseconds += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
        draining_recovery = false;
    }

    // Back-pressure: the overlay has grown to four times the applier's
    // thresholds (a burst faster than the disk, or snapshots holding
    // versions back), so its memory would keep growing. The committer helps
    // apply before adding more (RocksDB calls this a write stall).
    bool overloaded() const {
        // A backlog loaded by recovery is bounded by the log; the applier
        // drains it in the background, and commits meanwhile do not pay
        // for all of it (only what they add beyond it).
        if (draining_recovery) return false;
        auto over = [](std::size_t have, std::size_t threshold) {
            return threshold <= std::numeric_limits<std::size_t>::max() / 4 && have >= 4 * threshold;
        };
        return over(overlay_versions, options.apply_threshold) || over(overlay_bytes, options.apply_threshold_bytes);
    }
    void stall() {
        try {
            log.flush();
            apply_now();
        } catch (const error&) {
            // The applier reports it (last_apply_error); the commit goes on,
            // and the WAL refuses puts itself when the disk is full.
        }
        stalls++;
    }

    // Whether the applier should run now (see database_options).
    bool apply_due(std::chrono::steady_clock::time_point last_apply) const {
        if (overlay_versions == 0) return false;
        if (overlay_versions >= options.apply_threshold || overlay_bytes >= options.apply_threshold_bytes) return true;
        auto now = std::chrono::steady_clock::now();
        if (now - last_apply >= options.apply_interval) return true;
        auto last_commit = std::chrono::steady_clock::time_point(
            std::chrono::steady_clock::duration(last_commit_at.load(std::memory_order_relaxed)));
        return now - last_commit >= options.apply_interval / 10;
    }

    void applier_loop() {
        std::unique_lock lock(apply_mutex);
        auto last_apply = std::chrono::steady_clock::now();
        auto tick = std::max<std::chrono::milliseconds>(options.apply_interval / 10, std::chrono::milliseconds(1));
        while (!stopping) {
            apply_cv.wait_for(lock, tick);
            if (stopping) break;
            if (!apply_due(last_apply)) continue;
            last_apply = std::chrono::steady_clock::now();
            lock.unlock();
            try {
                // Batched/none commits may not be durable yet: the applier
                // must never write a version whose log record could vanish.
                log.flush();
                apply_now();
                last_apply_error.reset();
            } catch (const error& e) {
                // The overlay keeps everything; reads stay correct and the
                // next run retries (a full disk may clear up).
                std::lock_guard l(error_mutex);
                last_apply_error = e.what();
            }
            lock.lock();
        }
    }

    // --- commit hooks (commit_hooks.hpp) ---------------------------------------------

    struct attachment_state {
        attachment_info info;
        std::atomic<std::uint64_t> generation{0};  // bumped by every commit that journals to it
    };
    struct listener_state {
        std::uint64_t handle = 0;
        std::string prefix;
        commit_listener fn;
    };

    // The attachments recorded in the database (read once, at open; then
    // kept by attach/detach's follow-ups).
    void load_attachments() {
        std::vector<std::shared_ptr<attachment_state>> found;
        for (const auto& key : list(attachments_root, ~std::uint64_t{0})) {
            if (!key.ends_with("/definition")) continue;
            const auto name = std::string_view(key).substr(attachments_root.size(),
                                                           key.size() - attachments_root.size() - 11);
            if (name.find('/') != std::string_view::npos) continue;
            auto value = read(key, ~std::uint64_t{0});
            if (!value) continue;
            auto info = decode_attachment_definition(name, *value);
            // A damaged definition still names its collection's journal
            // badly: verify reports it; nothing is journaled for it.
            if (!info) continue;
            auto a = std::make_shared<attachment_state>();
            a->info = std::move(*info);
            found.push_back(std::move(a));
        }
        std::unique_lock lock(hooks_mutex);
        attachments = std::move(found);
        has_attachments = !attachments.empty();
    }

    void register_attachment(attachment_info info) {
        std::unique_lock lock(hooks_mutex);
        for (auto& a : attachments)
            if (a->info.name == info.name) {
                a->info = std::move(info);
                return;
            }
        auto a = std::make_shared<attachment_state>();
        a->info = std::move(info);
        attachments.push_back(std::move(a));
        has_attachments = true;
    }
    void unregister_attachment(std::string_view name) {
        std::unique_lock lock(hooks_mutex);
        std::erase_if(attachments, [&](const auto& a) { return a->info.name == name; });
        has_attachments = !attachments.empty();
    }
    std::shared_ptr<attachment_state> find_attachment(std::string_view name) const {
        std::shared_lock lock(hooks_mutex);
        for (const auto& a : attachments)
            if (a->info.name == name) return a;
        return nullptr;
    }

    // Appends this commit's journal entries to writes (under commit_mutex).
    void journal(std::vector<staged_write>& writes, std::uint64_t first_lsn) {
        std::shared_lock lock(hooks_mutex);
        const std::size_t original = writes.size();
        for (const auto& a : attachments) {
            const std::string& c = a->info.collection;
            std::vector<journal_change> changes;
            bool rebuild = false;
            for (std::size_t i = 0; i < original; ++i) {
                const auto& w = writes[i];
                if (!is_record_key(c, w.key)) continue;
                // A record written without its id (not through a store):
                // nothing says which entity changed, so ask for a rebuild.
                if (w.id.empty()) rebuild = true;
                else changes.push_back({w.id, !w.value.has_value()});
            }
            if (changes.empty() && !rebuild) continue;
            if (rebuild) writes.push_back({attachment_rebuild_key(a->info.name), to_bytes("rebuild"), {}});
            else writes.push_back({attachment_entry_key(a->info.name, first_lsn), encode_journal(changes), {}});
            touched_attachments.push_back(a);
        }
    }

    void notify(std::uint64_t commit_lsn, const std::vector<committed_write>& committed) {
        std::shared_lock lock(hooks_mutex);
        thread_local std::vector<committed_write> mine;
        for (const auto& l : listeners) {
            mine.clear();
            for (const auto& w : committed)
                if (w.key.starts_with(l.prefix)) mine.push_back(w);
            if (mine.empty()) continue;
            try {
                l.fn(commit_lsn, mine);
            } catch (...) {
                // The commit has happened; a listener cannot undo it.
            }
        }
    }

    std::uint64_t subscribe(std::string prefix, commit_listener fn) {
        std::unique_lock lock(hooks_mutex);
        const std::uint64_t handle = ++next_listener;
        listeners.push_back({handle, std::move(prefix), std::move(fn)});
        has_listeners = true;
        return handle;
    }
    void unsubscribe(std::uint64_t handle) {
        std::unique_lock lock(hooks_mutex);
        std::erase_if(listeners, [&](const auto& l) { return l.handle == handle; });
        has_listeners = !listeners.empty();
    }

    mutable std::shared_mutex hooks_mutex;  // attachments, listeners
    std::vector<std::shared_ptr<attachment_state>> attachments;
    std::vector<listener_state> listeners;
    std::uint64_t next_listener = 0;
    std::atomic<bool> has_attachments{false};
    std::atomic<bool> has_listeners{false};
    // By the commit being ordered (commit_mutex); owned, since a follow-up of
    // the same commit may detach one.
    std::vector<std::shared_ptr<attachment_state>> touched_attachments;

    Storage storage;
    wal<Storage> log;
    database_options options;
    wal_recovery_report recovery;

    mutable std::mutex commit_mutex;
    mutable std::shared_mutex overlay_mutex;
    std::map<std::string, std::vector<version>, std::less<>> overlay;
    std::atomic<std::size_t> overlay_versions{0};
    std::atomic<std::uint64_t> apply_epoch{0};  // bumped before and after each apply's writes (read_through)
    std::atomic<std::size_t> overlay_bytes{0};  // of the values in the overlay
    std::atomic<std::chrono::steady_clock::rep> last_commit_at{0};
    std::uint64_t last_committed = 0;

    std::mutex apply_mutex;  // pins, stopping
    std::mutex apply_run_mutex;
    std::condition_variable apply_cv;
    std::multiset<std::uint64_t> pins;
    bool stopping = false;
    std::thread applier;
    std::atomic<std::uint64_t> applied_runs{0};
    std::atomic<std::uint64_t> apply_nanoseconds{0};  // wall time of those runs
    std::atomic<std::uint64_t> stalls{0};  // commits that had to help apply first
    std::atomic<bool> draining_recovery{false};  // until the first apply after recovery
    std::mutex error_mutex;
    std::optional<std::string> last_apply_error;

private:
    const version* find_version(std::string_view key, std::uint64_t at) const {
        auto it = overlay.find(key);
        if (it == overlay.end()) return nullptr;
        const version* found = nullptr;
        for (const auto& v : it->second)
            if (v.lsn <= at) found = &v;
        return found;
    }
};

}  // namespace detail

template <storage Storage>
class database;

// A Storage-concept handle on a database: stores opened over it read
// through the overlay and write through transactions (each replace or
// remove is a one-write transaction; replace_batch is one transaction).
// Logs (append/sync/truncate) pass straight to the underlying storage and
// are not transactional.
template <storage Storage>
class db_view {
public:
    static constexpr std::string_view name = "database";

    std::optional<bytes> read(std::string_view key) const { return state_->read(key, latest()); }
    // Reads only the range asked for (the envelope header, a chunk of a
    // large blob) when the version is on storage.
    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        return state_->read_range(key, offset, n, latest());
    }
    std::optional<std::uint64_t> size(std::string_view key) const { return state_->size(key, latest()); }
    bool contains(std::string_view key) const { return size(key).has_value(); }
    std::vector<std::string> list(std::string_view prefix) const { return state_->list(prefix, latest()); }

    void replace(std::string_view key, bytes_view data, durability d) {
        std::vector<staged_write> w;
        w.push_back({std::string(key), bytes(data.begin(), data.end()), {}});
        commit(w, d);
    }
    void replace_batch(std::span<const blob_write> writes, durability d) {
        std::vector<staged_write> w;
        for (const auto& b : writes) w.push_back({std::string(b.key), bytes(b.data.begin(), b.data.end()), {}});
        commit(w, d);
    }
    bool remove(std::string_view key, durability d) {
        bool existed = contains(key);
        std::vector<staged_write> w;
        w.push_back({std::string(key), std::nullopt, {}});
        commit(w, d);
        return existed;
    }
    std::uint64_t append(std::string_view key, bytes_view data) { return state_->storage.append(key, data); }
    void sync(std::string_view key) { state_->storage.sync(key); }
    void truncate(std::string_view key, std::uint64_t n) { state_->storage.truncate(key, n); }
    void flush() { state_->log.flush(); }
    bool read_only() const { return state_->storage.read_only(); }

    // Commit listeners (commit_hooks.hpp), for components that only hold a
    // store (cached_store subscribes to its store's collection this way).
    commit_subscription on_commit(std::string prefix, commit_listener fn) const {
        auto state = state_;
        const std::uint64_t handle = state->subscribe(std::move(prefix), std::move(fn));
        return commit_subscription([state = std::weak_ptr(state), handle] {
            if (auto s = state.lock()) s->unsubscribe(handle);
        });
    }

    // Transactional storage: a store commits its staged writes through here
    // (so its listing follow-ups run in commit order).
    void commit(std::vector<staged_write>& writes, durability d) {
        for (auto& w : writes) validate_key(w.key);
        state_->commit(state_->log.next_txid(), writes, {}, d);
    }

private:
    friend class database<Storage>;
    explicit db_view(std::shared_ptr<detail::db_state<Storage>> s) : state_(std::move(s)) {}
    std::uint64_t latest() const { return ~std::uint64_t{0}; }
    std::shared_ptr<detail::db_state<Storage>> state_;
};

// A store whose writes go through a database's WAL.
template <class Entity, storage Storage, class Codec = json_codec, hasher Hasher = sha256,
          class Projection = json_document>
using db_store = store<Entity, db_view<Storage>, Codec, Hasher, Projection>;

// A transaction: reads see the transaction's own writes first; commit()
// applies everything or nothing; destruction without commit rolls back.
template <storage Storage>
class db_transaction {
public:
    db_transaction(db_transaction&&) noexcept = default;
    db_transaction& operator=(db_transaction&&) noexcept = default;
    ~db_transaction() = default;  // uncommitted writes are simply dropped

    std::uint64_t id() const { return txid_; }

    template <class Store>
    void put(Store& s, const typename Store::entity_type& e) {
        stage(s.stage_put(e));
    }
    template <class Store>
    void erase(Store& s, std::string_view id) {
        stage(s.stage_erase(id));
    }
    // The entity as this transaction sees it; remembered for conflict
    // detection at commit.
    template <class Store>
    std::optional<typename Store::entity_type> get(Store& s, std::string_view id) {
        std::string key = s.key_of(id);
        auto value = read(key);
        if (!value) return std::nullopt;
        return s.decode_record(*value, key, id);
    }

    // Raw access for participants.
    void stage(staged_write w) {
        check_open();
        validate_key(w.key);
        if (auto i = find_write(w.key); i != npos) {
            writes_[i] = std::move(w);  // a later write to a key replaces the earlier
            return;
        }
        writes_.push_back(std::move(w));
        if (writes_.size() > small_transaction) {
            if (index_.empty())
                for (std::size_t i = 0; i + 1 < writes_.size(); ++i) index_.emplace(writes_[i].key, i);
            index_.emplace(writes_.back().key, writes_.size() - 1);
        }
    }
    std::optional<bytes> read(std::string_view key) {
        check_open();
        if (auto i = find_write(key); i != npos) return writes_[i].value;
        key_version seen;
        auto value = state_->read_versioned(key, seen);
        read_set_.try_emplace(std::string(key), seen);
        return value;
    }

    // The committed version of key as this transaction read it (remembered
    // for conflict detection), or nullopt when this transaction has written
    // the key itself. A store record's version is the LSN it committed at,
    // the same number store::lsn_of reports.
    std::optional<key_version> version(std::string_view key) {
        check_open();
        if (find_write(key) != npos) return std::nullopt;
        if (auto it = read_set_.find(key); it != read_set_.end()) return it->second;
        key_version seen;
        (void)state_->read_versioned(key, seen);
        read_set_.try_emplace(std::string(key), seen);
        return seen;
    }

    // All or nothing. errc::conflict when something this transaction read
    // changed since; the transaction is then finished and changed nothing.
    std::uint64_t commit() {
        check_open();
        done_ = true;
        if (writes_.empty()) {
            preparing_.done();
            return 0;
        }
        return state_->commit(txid_, writes_, read_set_, durability_, [this] { preparing_.done(); });
    }

    void rollback() {
        done_ = true;
        writes_.clear();
        index_.clear();
        preparing_.done();
    }

private:
    friend class database<Storage>;
    db_transaction(std::shared_ptr<detail::db_state<Storage>> s, durability d)
        : state_(std::move(s)), durability_(d), txid_(state_->log.next_txid()) {}
    void check_open() const {
        if (done_) throw error(errc::bad_input, "transaction already committed or rolled back");
    }

    // Tells the log a commit is being prepared for as long as this
    // transaction is open (wal::begin_commit: a group-commit leader waits
    // for it only while it may still come).
    class preparing {
    public:
        explicit preparing(wal<Storage>* log) : log_(log) { log_->begin_commit(); }
        preparing(preparing&& o) noexcept : log_(std::exchange(o.log_, nullptr)) {}
        preparing& operator=(preparing&& o) noexcept {
            if (this != &o) {
                done();
                log_ = std::exchange(o.log_, nullptr);
            }
            return *this;
        }
        ~preparing() { done(); }
        void done() {
            if (log_) std::exchange(log_, nullptr)->end_commit();
        }

    private:
        wal<Storage>* log_;
    };

    std::shared_ptr<detail::db_state<Storage>> state_;
    preparing preparing_{&state_->log};
    durability durability_;
    std::uint64_t txid_;
    // The position of key's write in writes_, or npos. A small transaction
    // (the common one) is searched in place; past small_transaction writes
    // an index is kept. (A map of a few keys cost more than the search:
    // its node allocations and the key compares of its inserts.)
    static constexpr std::size_t npos = std::size_t(-1);
    static constexpr std::size_t small_transaction = 16;
    std::size_t find_write(std::string_view key) const {
        if (writes_.size() > small_transaction) {
            auto it = index_.find(key);
            return it == index_.end() ? npos : it->second;
        }
        for (std::size_t i = 0; i < writes_.size(); ++i)
            if (writes_[i].key == key) return i;
        return npos;
    }

    std::vector<staged_write> writes_;
    std::map<std::string, std::size_t, std::less<>> index_;  // key -> position, past small_transaction writes
    std::map<std::string, key_version, std::less<>> read_set_;
    bool done_ = false;
};

// A consistent read-only view at one committed LSN.
template <storage Storage>
class db_snapshot {
public:
    db_snapshot(const db_snapshot&) = delete;
    db_snapshot& operator=(const db_snapshot&) = delete;
    db_snapshot(db_snapshot&& o) noexcept : state_(std::move(o.state_)), lsn_(o.lsn_) {}
    ~db_snapshot() {
        if (state_) state_->unpin(lsn_);
    }

    std::uint64_t lsn() const { return lsn_; }
    std::optional<bytes> read(std::string_view key) const { return state_->read(key, lsn_); }
    std::vector<std::string> list(std::string_view prefix) const { return state_->list(prefix, lsn_); }

    template <class Store>
    std::optional<typename Store::entity_type> get(const Store& s, std::string_view id) const {
        std::string key = s.key_of(id);
        auto value = read(key);
        if (!value) return std::nullopt;
        return s.decode_record(*value, key, id);
    }

    // Every entity's id and projection as of the snapshot (reads headers).
    template <class Store>
    std::vector<typename Store::listed> list(const Store& s) const {
        std::vector<typename Store::listed> out;
        for (const auto& key : list(s.collection() + "/")) {
            if (!is_record_key(s.collection(), key)) continue;
            auto value = read(key);
            if (!value) continue;
            auto h = parse_envelope_header(*value, key);
            out.push_back({h.id, from_json<typename Store::projection_type>(h.projection)});
        }
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
        return out;
    }

private:
    friend class database<Storage>;
    explicit db_snapshot(std::shared_ptr<detail::db_state<Storage>> s) : state_(std::move(s)), lsn_(state_->pin()) {}
    std::shared_ptr<detail::db_state<Storage>> state_;
    std::uint64_t lsn_;
};

template <storage Storage>
class database {
public:
    using view_type = db_view<Storage>;
    using transaction_type = db_transaction<Storage>;
    using snapshot_type = db_snapshot<Storage>;

    // Opens (recovering from the WAL) the database on `storage`.
    explicit database(Storage storage, database_options options = {})
        : state_(std::make_shared<detail::db_state<Storage>>(std::move(storage), options)) {}

    // The handle stores are opened over.
    view_type storage() const { return view_type(state_); }

    // The underlying storage, outside the log: for immutable,
    // content-addressed objects (CAS chunks) that are written once, verified
    // by their name, and need no transaction.
    Storage raw_storage() const { return state_->storage; }

    transaction_type transaction(durability d = durability::full) { return transaction_type(state_, d); }
    snapshot_type snapshot() const { return snapshot_type(state_); }

    // Atomic read-modify-write of one entity: fn(entity&) runs on the latest
    // version; a concurrent change makes the commit conflict and the whole
    // step is retried (so no update is ever lost). errc::not_found when the
    // entity does not exist.
    template <class Store, class Fn>
    void update(Store& s, std::string_view id, Fn fn, durability d = durability::full, int max_attempts = 1000) {
        run_transaction(
            [&](transaction_type& tx) {
                auto e = tx.get(s, id);
                if (!e) throw error(errc::not_found, "update of missing entity " + std::string(id));
                fn(*e);
                tx.put(s, *e);
            },
            d, max_attempts);
    }

    // Runs body(tx) in a fresh transaction and commits it; when the commit
    // conflicts with a concurrent change, runs it again on the new state (so
    // body must only read through tx and have no other side effects).
    template <class Body>
    void run_transaction(Body&& body, durability d = durability::full, int max_attempts = 1000) {
        for (int attempt = 1;; ++attempt) {
            auto tx = transaction(d);
            body(tx);
            try {
                tx.commit();
                return;
            } catch (const error& err) {
                if (err.kind() != errc::conflict || attempt >= max_attempts) throw;
            }
        }
    }

    // Everything committed so far is durable.
    void flush() { state_->log.flush(); }

    // --- commit hooks (commit_hooks.hpp) --------------------------------------------

    // Calls fn(commit_lsn, writes) after every commit that wrote keys
    // starting with prefix (a collection's: "sessions/"; empty: every key),
    // with those writes, in commit order, once they are visible and before
    // commit() returns. fn must be quick and must not write to this
    // database. The subscription lasts as long as the returned handle.
    commit_subscription on_commit(std::string prefix, commit_listener fn) const {
        return storage().on_commit(std::move(prefix), std::move(fn));
    }

    // Records (durably) that `name` is derived from `collection`: from the
    // commit on, every write to the collection's records is journaled for
    // it in its own transaction, by any process that opens the database.
    // A new attachment, or one whose definition changed, starts with a
    // request to rebuild (the records already there). True when something
    // changed; bad_input when `name` is attached to another collection.
    bool attach(const std::string& name, const std::string& collection, const std::string& definition) {
        validate_collection(name);
        validate_collection(collection);
        const std::string key = detail::attachment_definition_key(name);
        bool changed = false;
        run_transaction([&](transaction_type& tx) {
            changed = false;
            if (auto old = tx.read(key)) {
                auto info = detail::decode_attachment_definition(name, *old);
                if (info && info->collection != collection)
                    throw error(errc::bad_input, "\"" + name + "\" is attached to collection \"" + info->collection +
                                                     "\", not \"" + collection + "\" (detach it first)");
                if (info && info->definition == definition) return;
            }
            changed = true;
            staged_write def{key, detail::encode_attachment_definition(collection, definition),
                             [state = state_.get(), info = attachment_info{name, collection, definition}] {
                                 state->register_attachment(info);
                             }};
            tx.stage(std::move(def));
            tx.stage({detail::attachment_rebuild_key(name), to_bytes("rebuild"), {}});
        });
        return changed;
    }

    // Removes the attachment and its journal (not the component's own
    // data). True when it was attached.
    bool detach(const std::string& name) {
        validate_collection(name);
        const std::string key = detail::attachment_definition_key(name);
        bool existed = false;
        run_transaction([&](transaction_type& tx) {
            existed = tx.read(key).has_value();
            if (!existed) return;
            for (const auto& k : storage().list(detail::attachment_pending_prefix(name))) tx.stage({k, std::nullopt, {}});
            tx.stage({key, std::nullopt, [state = state_.get(), name] { state->unregister_attachment(name); }});
        });
        return existed;
    }

    std::vector<attachment_info> attachments() const {
        std::vector<attachment_info> out;
        std::shared_lock lock(state_->hooks_mutex);
        for (const auto& a : state_->attachments) out.push_back(a->info);
        return out;
    }
    std::optional<attachment_info> attachment(std::string_view name) const {
        if (auto a = state_->find_attachment(name)) return a->info;
        return std::nullopt;
    }

    // Changes whenever a commit of this process journals for `name` (a
    // cheap check for "anything to catch up?"; a fresh process, or another
    // process's writes, show up in pending_entries instead).
    std::uint64_t journal_generation(std::string_view name) const {
        auto a = state_->find_attachment(name);
        return a ? a->generation.load(std::memory_order_acquire) : 0;
    }

    // The journal entries waiting for `name` (their keys, in commit order).
    std::vector<std::string> pending_entries(std::string_view name) const {
        return storage().list(detail::attachment_pending_prefix(name));
    }

    // The journal of `name` as tx sees it: entries read through tx, so that
    // consuming them there (consume_journal) conflicts with another consumer.
    // `skip`: entries to leave out (a read-only reader's, already applied).
    journal_read read_journal(transaction_type& tx, std::string_view name,
                              const std::set<std::string>* skip = nullptr) const {
        journal_read r;
        const std::string rebuild = detail::attachment_rebuild_key(name);
        for (const auto& key : pending_entries(name)) {
            if (skip && skip->count(key)) continue;
            auto v = tx.read(key);
            if (!v) continue;
            r.entries.push_back(key);
            if (key == rebuild) {
                r.rebuild = true;
                continue;
            }
            auto changes = detail::decode_journal(*v);
            if (!changes) {
                r.rebuild = true;  // a damaged entry: what it held is unknown
                continue;
            }
            for (auto& c : *changes) r.changes.push_back(std::move(c));
        }
        return r;
    }
    void consume_journal(transaction_type& tx, const journal_read& r) const {
        for (const auto& k : r.entries) tx.stage({k, std::nullopt, {}});
    }

    // Applies everything committed to storage and checkpoints the WAL now,
    // retiring every segment that holds only applied records.
    void checkpoint() {
        state_->log.flush();
        state_->apply_now();
        if (!state_->storage.read_only()) state_->log.retire_applied_segments();
    }

    const wal_recovery_report& recovery() const { return state_->recovery; }
    wal_stats stats() const { return state_->log.stats(); }
    std::size_t unapplied_versions() const { return state_->overlay_versions; }
    std::size_t unapplied_bytes() const { return state_->overlay_bytes; }
    // Commits that found the overlay over four times the apply thresholds
    // and helped the applier before going on (back-pressure).
    std::uint64_t write_stalls() const { return state_->stalls; }
    // Completed runs of the applier (and of checkpoint()), and their wall time.
    std::uint64_t apply_runs() const { return state_->applied_runs; }
    std::chrono::nanoseconds apply_time() const { return std::chrono::nanoseconds(state_->apply_nanoseconds.load()); }
    std::uint64_t last_committed() const { return state_->latest(); }
    std::optional<std::string> last_apply_error() const {
        std::lock_guard lock(state_->error_mutex);
        return state_->last_apply_error;
    }
    const wal<Storage>& log() const { return state_->log; }

private:
    std::shared_ptr<detail::db_state<Storage>> state_;
};

// For writers outside the log (a repair or a restore that rewrites record
// files, with no database open): asks every attachment of `collection`
// (every attachment, when empty) to rebuild from its collection before it
// next answers. Durable at return. Returns the attachments asked.
template <storage Storage>
std::vector<std::string> request_rebuild(Storage& s, std::string_view collection = {}) {
    std::vector<std::string> asked;
    for (const auto& key : s.list(std::string(detail::attachments_root))) {
        if (!key.ends_with("/definition")) continue;
        const auto name = std::string_view(key).substr(detail::attachments_root.size(),
                                                       key.size() - detail::attachments_root.size() - 11);
        if (name.find('/') != std::string_view::npos) continue;
        auto value = s.read(key);
        auto info = value ? detail::decode_attachment_definition(name, *value) : std::nullopt;
        if (!collection.empty() && info && info->collection != collection) continue;
        s.replace(detail::attachment_rebuild_key(name), as_bytes("rebuild"), durability::full);
        asked.emplace_back(name);
    }
    return asked;
}

}  // namespace stowage
