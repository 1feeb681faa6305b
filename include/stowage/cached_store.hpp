// cached_store.hpp — a store read through a cache: the seed app's three-tier
// loading (index -> metadata -> full entity on view).
//
//   using sessions = store<session, file_storage, gzip<json_codec>, sha256, session_summary>;
//   sessions disk(file_storage("data"), "sessions");
//   entity_cache<sessions, w_tinylfu> hot(1000);
//   cached_store view(disk, hot);
//   for (auto& [id, summary] : view.list()) ...     // metadata: no I/O
//   std::shared_ptr<const session> s = view.get(id); // entity: cache, else one read
//   view.prefetch(next_ids);                         // warm in the background
//
// Tiers: ids and metadata come from the store's in-memory listing (list(),
// projection(), contains(): never a record read, nothing to cache); full
// entities load lazily through the cache with get_or_load, so concurrent
// readers of a missing entity read its record once. Absence is cached too
// (a null pointer), so repeated lookups of a missing id cost no I/O.
//
// Coherence over a database (a db_store): the cached_store subscribes to the
// database's commits of its collection (database::on_commit), and every
// commit that writes an entity — whichever API wrote it: this cached_store,
// the store, a transaction, db.update, the persistence queue, an import or
// migration — drops that id from the cache inside the commit's ordering
// step, before commit() returns. A load that raced the commit is detached by
// the cache and never cached. So a read through the cache after a commit
// returned gets the committed value. Writes through the cached_store just
// write the store (the next get reads the new record once). Other
// processes: a database has one writing process (file_storage's lock); a
// cached_store in a process that opened the directory read-only reads, like
// that database, the state as of its opening.
//
// Over a plain store (no database): put, put_many and erase write the store
// first, then update the cache, holding a lock striped by id so two writers
// of one id cannot apply their cache updates out of order; a load that
// raced a write is detached. If a store write throws, the id is invalidated
// and the error propagates. There all writes must go through the
// cached_store: a write made to the store directly is not seen until the id
// leaves the cache.
//
// Cache: any cache or concurrent_cache keyed by std::string whose values are
// std::shared_ptr<const Entity> (entity_cache below); entities are shared,
// never copied, on a hit. A custom Weigher must accept a null pointer (a
// remembered absence).
//
// Thread safety: every member function may be called from any thread (the
// store and both cache types are thread-safe). Prefetches run on their own
// threads; the destructor stops them (remaining ids are skipped) and waits.
// Durability: the store's (cached_store adds none and loses none).
#pragma once

#include "cache.hpp"
#include "commit_hooks.hpp"
#include "concurrent_cache.hpp"
#include "error.hpp"
#include "projection.hpp"
#include "store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stowage {

// The cache a cached_store needs: ids to shared, immutable entities.
template <class Store, eviction_policy Policy = lru, class Weigher = unit_weigher>
using entity_cache = concurrent_cache<std::string, std::shared_ptr<const typename Store::entity_type>, Policy, Weigher>;

struct prefetch_report {
    std::size_t loaded = 0;   // records read into the cache
    std::size_t cached = 0;   // already cached: nothing to do
    std::size_t absent = 0;   // no such id (remembered as absent)
    std::vector<std::pair<std::string, std::string>> failed;  // id, error message
    bool cancelled = false;   // the cached_store closed before the end
};

template <class Store, class Cache>
class cached_store {
public:
    using entity_type = typename Store::entity_type;
    using entity_ptr = std::shared_ptr<const entity_type>;
    static_assert(std::same_as<typename Cache::key_type, std::string>, "the cache is keyed by entity id");
    static_assert(std::same_as<typename Cache::mapped_type, entity_ptr>,
                  "the cache holds std::shared_ptr<const Entity> (see entity_cache)");

    cached_store(Store& store, Cache& cache) : store_(store), cache_(cache) {
        if constexpr (requires { store.storage().on_commit(std::string(), commit_listener()); }) {
            const std::string collection = store.collection();
            subscription_ = store.storage().on_commit(
                collection + "/", [this, collection](std::uint64_t, std::span<const committed_write> writes) {
                    for (const auto& w : writes) {
                        if (!w.id.empty()) cache_.erase(std::string(w.id));
                        else if (is_record_key(collection, w.key)) cache_.clear();  // a record written without its id
                    }
                });
        }
    }
    cached_store(const cached_store&) = delete;
    cached_store& operator=(const cached_store&) = delete;

    ~cached_store() {
        subscription_.reset();
        stopping_ = true;
        std::lock_guard lock(prefetch_mutex_);
        for (auto& p : prefetchers_) p.thread.join();
    }

    Store& store() noexcept { return store_; }
    Cache& cache() noexcept { return cache_; }

    // --- metadata: the store's listing, no I/O --------------------------------

    bool contains(std::string_view id) const { return store_.contains(id); }
    std::size_t size() const { return store_.size(); }
    auto list() const { return store_.list(); }
    auto projection(std::string_view id) const { return store_.projection(id); }

    // --- entities: through the cache -----------------------------------------------

    // The entity, or nullptr when absent. Damage (checksum_mismatch, corrupt)
    // throws and is not cached: the next get reads the record again.
    entity_ptr get(std::string_view id) {
        return cache_.get_or_load(std::string(id), [this](const std::string& key) { return load(key); });
    }

    // Stores e (store first, then cache); durable as the store's options say.
    void put(const entity_type& e) { put_shared(std::make_shared<const entity_type>(e)); }
    void put(entity_type&& e) { put_shared(std::make_shared<const entity_type>(std::move(e))); }

    void put_many(std::span<const entity_type> entities) {
        if (subscription_) {  // the commit drops the ids
            store_.put_many(entities);
            return;
        }
        std::vector<std::string> ids;
        ids.reserve(entities.size());
        for (const auto& e : entities) ids.push_back(entity_id(e));
        auto locks = lock_stripes(ids);
        try {
            store_.put_many(entities);
        } catch (...) {
            cache_.erase_many(ids);
            throw;
        }
        for (std::size_t i = 0; i < entities.size(); ++i)
            cache_.put(ids[i], std::make_shared<const entity_type>(entities[i]));
    }

    // Removes the entity; true if it existed.
    bool erase(std::string_view id) {
        if (subscription_) return store_.erase(id);  // the commit drops the id
        std::string key(id);
        std::lock_guard lock(stripe(key));
        bool existed = false;
        try {
            existed = store_.erase(key);
        } catch (...) {
            cache_.erase(key);
            throw;
        }
        cache_.put(key, nullptr);  // known absent
        return existed;
    }

    // Loads the ids that are not cached, in the background, in order. The
    // future reports what happened; dropping it is fine.
    std::future<prefetch_report> prefetch(std::vector<std::string> ids) {
        auto done = std::make_shared<std::promise<prefetch_report>>();
        auto result = done->get_future();
        std::lock_guard lock(prefetch_mutex_);
        std::erase_if(prefetchers_, [](prefetcher& p) {  // reap the finished ones
            if (!p.finished->load()) return false;
            p.thread.join();
            return true;
        });
        auto finished = std::make_shared<std::atomic<bool>>(false);
        prefetchers_.push_back({std::thread([this, ids = std::move(ids), done, finished] {
                                    done->set_value(warm(ids));
                                    *finished = true;
                                }),
                                finished});
        return result;
    }

    cache_stats stats() const { return cache_.stats(); }

private:
    static constexpr std::size_t stripes = 64;

    entity_ptr load(const std::string& id) {
        auto e = store_.get(id);
        return e ? std::make_shared<const entity_type>(std::move(*e)) : nullptr;
    }

    void put_shared(entity_ptr e) {
        if (subscription_) {  // the commit drops the id
            store_.put(*e);
            return;
        }
        std::string id = entity_id(*e);
        std::lock_guard lock(stripe(id));
        try {
            store_.put(*e);
        } catch (...) {
            cache_.erase(id);
            throw;
        }
        cache_.put(std::move(id), std::move(e));
    }

    prefetch_report warm(const std::vector<std::string>& ids) {
        prefetch_report r;
        for (const auto& id : ids) {
            if (stopping_) {
                r.cancelled = true;
                break;
            }
            if (cache_.contains(id)) {
                ++r.cached;
                continue;
            }
            bool ran = false;
            try {
                auto e = cache_.get_or_load(id, [&](const std::string& key) {
                    ran = true;
                    return load(key);
                });
                if (!e) ++r.absent;
                else if (ran) ++r.loaded;
                else ++r.cached;  // another thread loaded it meanwhile
            } catch (const std::exception& ex) {
                r.failed.emplace_back(id, ex.what());
            }
        }
        return r;
    }

    std::size_t stripe_of(std::string_view id) const noexcept {
        return static_cast<std::size_t>(detail::mix64(std::hash<std::string_view>{}(id)) % stripes);
    }
    std::mutex& stripe(std::string_view id) noexcept { return stripe_locks_[stripe_of(id)]; }

    // Locks every stripe the ids fall in, in index order (no deadlock).
    std::vector<std::unique_lock<std::mutex>> lock_stripes(const std::vector<std::string>& ids) {
        std::vector<std::size_t> which;
        for (const auto& id : ids) which.push_back(stripe_of(id));
        std::sort(which.begin(), which.end());
        which.erase(std::unique(which.begin(), which.end()), which.end());
        std::vector<std::unique_lock<std::mutex>> locks;
        for (std::size_t s : which) locks.emplace_back(stripe_locks_[s]);
        return locks;
    }

    Store& store_;
    Cache& cache_;
    std::array<std::mutex, stripes> stripe_locks_;
    std::atomic<bool> stopping_{false};
    struct prefetcher {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> finished;
    };
    std::mutex prefetch_mutex_;
    std::list<prefetcher> prefetchers_;
    commit_subscription subscription_;  // over a database: invalidation on commit
};

}  // namespace stowage
