// storage/memory.hpp — keyed blobs and append-only logs in memory, with a
// power-loss simulator for crash tests.
//
// The crash model follows what real filesystems do (Pillai et al., "All File
// Systems Are Not Created Equal", OSDI'14): at a crash everything not yet
// synced may be lost, and an unsynced *name* change (create, rename, unlink)
// and unsynced file *contents* survive or vanish independently. So a
// replace() with durability::none can come back as the old value, the new
// value, or an empty file under the new name; an unsynced append can come
// back whole, missing, or (with `torn_writes`) cut at any byte; an unsynced
// overwrite_batch as the old bytes, the new, or (torn) a prefix of the new
// over the old.
//
// The model is deliberately no kinder than the Storage contract: a sync
// makes exactly the synced key durable, not its neighbours (a real directory
// fsync would persist them too, and code must not count on that).
//
// Handles: copies share one storage. crash() invalidates every other handle
// (the process that held them is "dead": their operations throw errc::io);
// the handle crash() was called on stays usable, so a test crashes and then
// reopens components over it. Every crash draws from the seeded generator,
// so a failing sequence replays exactly.
//
// Thread safety: every operation is serialized by one mutex; any number of
// threads may share handles.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "key.hpp"

namespace stowage {

class memory_storage {
public:
    static constexpr std::string_view name = "memory";

    struct options {
        std::uint64_t seed = 1;    // crash outcomes are drawn from this seed
        bool torn_writes = true;   // an unsynced append may survive cut short
    };

    memory_storage() : memory_storage(options{}) {}
    explicit memory_storage(options o) : state_(std::make_shared<state>(o)) {}

    // Another handle on the same storage that refuses writes.
    memory_storage read_only_handle() const {
        memory_storage h = *this;
        h.read_only_ = true;
        return h;
    }

    // --- Storage concept ---------------------------------------------------

    std::optional<bytes> read(std::string_view key) const {
        validate_key(key);
        auto lock = live();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) return std::nullopt;
        return *it->second->data;
    }

    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        validate_key(key);
        auto lock = live();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) throw error(errc::not_found, std::string(key));
        const bytes& d = *it->second->data;
        if (offset >= d.size()) return {};
        auto end = offset + std::min<std::uint64_t>(n, d.size() - offset);
        return bytes(d.begin() + static_cast<std::ptrdiff_t>(offset), d.begin() + static_cast<std::ptrdiff_t>(end));
    }

    std::optional<std::uint64_t> size(std::string_view key) const {
        validate_key(key);
        auto lock = live();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) return std::nullopt;
        return it->second->data->size();
    }

    bool contains(std::string_view key) const { return size(key).has_value(); }

    std::vector<std::string> list(std::string_view prefix) const {
        auto lock = live();
        std::vector<std::string> out;
        for (auto it = state_->current.lower_bound(prefix);
             it != state_->current.end() && it->first.starts_with(prefix); ++it)
            out.push_back(it->first);
        return out;
    }

    void replace(std::string_view key, bytes_view data, durability d) {
        blob_write w{key, data};
        replace_batch(std::span<const blob_write>(&w, 1), d);
    }

    void replace_batch(std::span<const blob_write> writes, durability d) {
        for (const auto& w : writes) validate_key(w.key);
        // A replace writes a new file and renames it over the old one: a
        // fresh inode whose contents are synced unless durability::none.
        // Copied before the lock is taken, so writers of large blobs on
        // several threads copy at the same time.
        std::vector<std::shared_ptr<inode>> nodes;
        nodes.reserve(writes.size());
        for (const auto& w : writes) {
            nodes.push_back(std::make_shared<inode>(w.data));
            if (d != durability::none) nodes.back()->synced = nodes.back()->data;  // one buffer, shared
        }
        auto lock = live_writable();
        for (std::size_t i = 0; i < writes.size(); ++i) {
            const auto& w = writes[i];
            auto& node = nodes[i];
            if (d == durability::none) state_->unsynced.insert(node);
            state_->current[std::string(w.key)] = node;
            if (d == durability::full) state_->durable[std::string(w.key)] = node;
            else state_->renamed.emplace(w.key);
        }
    }

    // In place (concepts.hpp, overwrites_in_place): an existing key keeps its
    // inode, whose new contents are unsynced until flush(); a crash before
    // it may leave the old bytes, the new, or a prefix of the new over the
    // old. A missing key is created as replace(.., none) would.
    void overwrite_batch(std::span<const blob_write> writes) {
        for (const auto& w : writes) validate_key(w.key);
        auto lock = live_writable();
        for (const auto& w : writes) {
            auto it = state_->current.find(w.key);
            if (it == state_->current.end()) {
                auto node = std::make_shared<inode>(w.data);
                state_->unsynced.insert(node);
                state_->current[std::string(w.key)] = node;
                state_->renamed.emplace(w.key);
                continue;
            }
            inode& node = *it->second;
            node.data = std::make_shared<bytes>(w.data.begin(), w.data.end());
            node.overwritten = true;
            state_->unsynced.insert(it->second);
        }
    }

    bool remove(std::string_view key, durability d) {
        validate_key(key);
        auto lock = live_writable();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) return false;
        state_->current.erase(it);
        if (d == durability::full) {
            if (auto dit = state_->durable.find(key); dit != state_->durable.end()) state_->durable.erase(dit);
        } else {
            state_->renamed.emplace(key);
        }
        return true;
    }

    std::uint64_t append(std::string_view key, bytes_view data) {
        validate_key(key);
        auto lock = live_writable();
        auto& slot = log_node(key);
        bytes& contents = slot->writable();
        std::uint64_t offset = contents.size();
        contents.insert(contents.end(), data.begin(), data.end());
        state_->unsynced.insert(slot);
        return offset;
    }

    // writes_logs_at: bytes over whatever was there (zero-filled up to
    // offset if the log is shorter). Over synced bytes it is an overwrite:
    // a crash before sync may tear it (surviving_contents).
    void write_at(std::string_view key, std::uint64_t offset, bytes_view data) {
        validate_key(key);
        auto lock = live_writable();
        auto& slot = log_node(key);
        const std::size_t at = static_cast<std::size_t>(offset);
        bytes& contents = slot->writable();
        if (at + data.size() > contents.size()) contents.resize(at + data.size());
        std::copy(data.begin(), data.end(), contents.begin() + static_cast<std::ptrdiff_t>(at));
        if (at < slot->synced->size()) slot->overwritten = true;
        state_->unsynced.insert(slot);
    }

    void sync(std::string_view key) {
        validate_key(key);
        auto lock = live_writable();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) throw error(errc::not_found, "sync of absent key " + std::string(key));
        it->second->mark_synced();
        state_->unsynced.erase(it->second);
        state_->durable[std::string(key)] = it->second;
    }

    void rename(std::string_view from, std::string_view to, durability d) {
        validate_key(from);
        validate_key(to);
        auto lock = live_writable();
        auto it = state_->current.find(from);
        if (it == state_->current.end()) throw error(errc::not_found, "rename of absent key " + std::string(from));
        auto node = it->second;
        state_->current.erase(it);
        state_->current[std::string(to)] = node;
        state_->renamed.emplace(from);
        state_->renamed.emplace(to);
        if (d == durability::full) {
            // A durable rename syncs the directories of both names, and with
            // them every earlier name change there (an earlier unsynced
            // rename of the same file included: the file is then under `to`
            // only, never also under an older name).
            settle_names_in(parent_of(from));
            settle_names_in(parent_of(to));
        }
    }

    void truncate(std::string_view key, std::uint64_t n) {
        validate_key(key);
        auto lock = live_writable();
        auto it = state_->current.find(key);
        if (it == state_->current.end()) throw error(errc::not_found, "truncate of absent key " + std::string(key));
        it->second->writable().resize(n);
        state_->unsynced.insert(it->second);
    }

    // Syncs what changed since the last flush only (unsynced contents and
    // names), so many small writes with a flush each stay O(changes).
    void flush() {
        auto lock = live_writable();
        auto& st = *state_;
        for (const auto& node : st.unsynced) node->mark_synced();
        st.unsynced.clear();
        for (const auto& k : st.renamed) settle_name(k);
        st.renamed.clear();
    }

    bool read_only() const { return read_only_; }

    // --- crash simulation ----------------------------------------------------

    // Power loss: every unsynced name change and every unsynced content
    // change independently survives or is lost; unsynced appends may be torn.
    // Other handles die; this one stays usable.
    void crash() {
        std::lock_guard lock(state_->mutex);
        auto& st = *state_;
        std::map<std::string, std::shared_ptr<inode>, std::less<>> survivors;
        std::set<std::string, std::less<>> keys;
        for (auto& [k, n] : st.current) keys.insert(k);
        for (auto& [k, n] : st.durable) keys.insert(k);
        for (const auto& k : keys) {
            auto cur = st.current.find(k);
            auto dur = st.durable.find(k);
            std::shared_ptr<inode> c = cur == st.current.end() ? nullptr : cur->second;
            std::shared_ptr<inode> d = dur == st.durable.end() ? nullptr : dur->second;
            std::shared_ptr<inode> chosen = (c == d || coin(st)) ? c : d;
            if (chosen) survivors[k] = chosen;
        }
        // Contents: decide once per inode (an inode can sit under one name only).
        for (auto& [k, node] : survivors) {
            auto fresh = std::make_shared<inode>();
            fresh->data = surviving_contents(st, *node);
            fresh->synced = fresh->data;
            node = fresh;
        }
        st.current = survivors;
        st.durable = survivors;
        st.unsynced.clear();
        st.renamed.clear();
        ++st.generation;
        ++st.crashes;
        generation_ = st.generation;
    }

    std::uint64_t crashes() const {
        std::lock_guard lock(state_->mutex);
        return state_->crashes;
    }

private:
    // Contents live in buffers that two states of an inode may share: a
    // replace() keeps one copy of the caller's bytes as both what readers
    // see and what is on "stable storage", and a crash survivor is one
    // buffer too, so storing a blob copies it once. A write that changes
    // contents in place first takes a private copy of a shared buffer
    // (writable()); a sync copies into the synced buffer when that one is
    // the inode's own (a log appended and synced over and over reuses it
    // instead of allocating each time) and shares otherwise.
    struct inode {
        inode() = default;
        explicit inode(bytes_view contents) : data(std::make_shared<bytes>(contents.begin(), contents.end())) {}

        std::shared_ptr<bytes> data = std::make_shared<bytes>();    // what a reader sees now
        std::shared_ptr<bytes> synced = std::make_shared<bytes>();  // what is on "stable storage"
        bool overwritten = false;  // written in place since the last sync

        bytes& writable() {
            if (data.use_count() > 1) data = std::make_shared<bytes>(*data);
            return *data;
        }
        void mark_synced() {
            if (synced != data) {
                if (synced.use_count() == 1) *synced = *data;
                else synced = data;
            }
            overwritten = false;
        }
    };
    struct state {
        explicit state(options o) : opts(o), rng(o.seed) {}
        options opts;
        std::mt19937_64 rng;
        mutable std::mutex mutex;
        std::map<std::string, std::shared_ptr<inode>, std::less<>> current;  // names as seen now
        std::map<std::string, std::shared_ptr<inode>, std::less<>> durable;  // names on stable storage
        // Changes since the last flush: inodes whose contents differ from
        // their synced copy, names whose durable entry may differ.
        std::set<std::shared_ptr<inode>> unsynced;
        std::set<std::string, std::less<>> renamed;
        std::uint64_t generation = 0;
        std::uint64_t crashes = 0;
    };

    static bool coin(state& st) { return (st.rng() & 1) != 0; }

    static std::shared_ptr<bytes> surviving_contents(state& st, const inode& n) {
        if (n.data == n.synced || *n.data == *n.synced) return n.data;
        const bytes& data = *n.data;
        const bytes& synced = *n.synced;
        switch (st.rng() % (st.opts.torn_writes ? 3 : 2)) {
            case 0: return n.synced;  // nothing unsynced reached the disk
            case 1: return n.data;    // all of it did
            default: {
                // Torn: the synced bytes survive, then some prefix of what
                // followed (an append cut short by the power loss).
                bool extends = data.size() > synced.size() &&
                               std::equal(synced.begin(), synced.end(), data.begin());
                if (!extends && n.overwritten) {
                    // An overwrite cut short: the new bytes up to some point
                    // at or after the first byte that changed, the old ones
                    // after it (and, if the new are shorter, maybe not).
                    const std::size_t common = static_cast<std::size_t>(
                        std::mismatch(data.begin(), data.end(), synced.begin(), synced.end()).first -
                        data.begin());
                    std::size_t keep = common + static_cast<std::size_t>(st.rng() % (data.size() - common + 1));
                    bytes mixed(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(keep));
                    if (synced.size() > keep && !(keep == data.size() && coin(st)))
                        mixed.insert(mixed.end(), synced.begin() + static_cast<std::ptrdiff_t>(keep), synced.end());
                    return std::make_shared<bytes>(std::move(mixed));
                }
                if (!extends) return n.synced;
                std::size_t extra = data.size() - synced.size();
                std::size_t keep = static_cast<std::size_t>(st.rng() % (extra + 1));
                return std::make_shared<bytes>(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(synced.size() + keep));
            }
        }
    }

    // Lock held. Key k's name change (created, renamed, removed) becomes
    // durable.
    void settle_name(std::string_view k) {
        auto& st = *state_;
        if (auto it = st.current.find(k); it != st.current.end()) st.durable[std::string(k)] = it->second;
        else if (auto dit = st.durable.find(k); dit != st.durable.end()) st.durable.erase(dit);
    }
    static std::string_view parent_of(std::string_view key) {
        auto slash = key.rfind('/');
        return slash == std::string_view::npos ? std::string_view{} : key.substr(0, slash);
    }
    // Lock held. What a directory sync does: every pending name change of
    // the keys directly in `dir` becomes durable.
    void settle_names_in(std::string_view dir) {
        auto& st = *state_;
        for (auto it = st.renamed.begin(); it != st.renamed.end();) {
            if (parent_of(*it) == dir) {
                settle_name(*it);
                it = st.renamed.erase(it);
            } else {
                ++it;
            }
        }
    }

    // Lock held. The inode of a log, created (an unsynced new name) if absent.
    std::shared_ptr<inode>& log_node(std::string_view key) {
        auto& slot = state_->current[std::string(key)];
        if (!slot) {
            slot = std::make_shared<inode>();
            state_->renamed.emplace(key);
        }
        return slot;
    }

    std::unique_lock<std::mutex> live() const {
        std::unique_lock lock(state_->mutex);
        if (generation_ != state_->generation)
            throw error(errc::io, "memory_storage: handle from before a simulated crash");
        return lock;
    }

    std::unique_lock<std::mutex> live_writable() const {
        if (read_only_) throw error(errc::read_only, "memory_storage: write through a read-only handle");
        return live();
    }

    std::shared_ptr<state> state_;
    std::uint64_t generation_ = 0;
    bool read_only_ = false;
};

static_assert(storage<memory_storage>);
static_assert(simulates_crashes<memory_storage>);
static_assert(renames_keys<memory_storage>);
static_assert(overwrites_in_place<memory_storage>);
static_assert(writes_logs_at<memory_storage>);

}  // namespace stowage
