// concurrent_cache.hpp — a cache for many threads: N independent shards.
//
//   stowage::concurrent_cache<std::string, meta, stowage::s3fifo> metas({.capacity = 100'000});
//
// Each key belongs to one shard (by its hash); each shard is a stowage::cache
// with its own lock, policy and 1/N of the budget, so threads working on
// different shards never wait for each other.
// Within a shard, gets that find a live entry (or nothing) already run side
// by side without writing shared memory (cache.hpp, "Thread safety"); the
// shards spread the writes, which each take their shard's exclusive lock.
//
// Guarantees:
//   - Every single-key operation (get, put, erase, pin, get_or_load, ...) is
//     linearizable: it takes effect atomically at one instant between its
//     call and its return, exactly as on a cache. In particular a get that
//     starts after a put returned never sees the value that put replaced.
//   - get_or_load runs one loader per missing key across all threads.
//   - Multi-key operations (get_many, put_many, erase_many, erase_if,
//     erase_prefix, clear, resize, cleanup) visit the shards one after
//     another: each key is handled atomically, the batch as a whole is not.
//   - size(), weight() and stats() add up per-shard snapshots taken one after
//     another: exact when the cache is quiet, approximate while it changes.
//   - Eviction is per shard: each shard's policy ranks only its own entries
//     within capacity/N (the remainder spread over the first shards). An entry
//     heavier than its shard's budget is not cached. With many entries per
//     shard the hit ratio is that of the policy; the trace benchmarks show it.
//   - The removal listener may run on several threads at once.
// Thread safety: every member function may be called from any thread.
// Durability: none.
#pragma once

#include "cache.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace stowage {

template <class Key, class Value, eviction_policy Eviction = lru, class Weigher = unit_weigher,
          cache_clock Clock = std::chrono::steady_clock, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
    requires weigher<Weigher, Key, Value> && std::copy_constructible<Value>
class concurrent_cache {
public:
    using shard_type = cache<Key, Value, Eviction, Weigher, Clock, Hash, KeyEqual>;
    using key_type = Key;
    using mapped_type = Value;
    using listener = typename shard_type::listener;

    struct options {
        std::uint64_t capacity = 0;  // in Weigher units, for all shards together
        expiry ttl{};
        listener on_removal{};
        std::size_t shards = 0;      // rounded up to a power of two; 0: 4 per hardware thread
    };

    explicit concurrent_cache(std::uint64_t capacity) : concurrent_cache(options{.capacity = capacity}) {}

    // make_policy builds each shard's policy (a policy configured at run time,
    // e.g. w_tinylfu's options, is built once per shard).
    explicit concurrent_cache(options o, std::function<Eviction()> make_policy = {}, Weigher w = Weigher{},
                              Clock clock = Clock{}, Hash hash = Hash{}, KeyEqual eq = KeyEqual{})
        : hash_(hash) {
        std::size_t n = o.shards ? o.shards : 4 * std::max(1u, std::thread::hardware_concurrency());
        n = std::bit_ceil(std::clamp<std::size_t>(n, 1, max_shards));
        shift_ = 64 - std::countr_zero(n);
        shards_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            typename shard_type::options so{.capacity = share(o.capacity, n, i), .ttl = o.ttl, .on_removal = o.on_removal};
            shards_.push_back(std::make_unique<shard_type>(std::move(so), make_policy ? make_policy() : Eviction{}, w,
                                                           clock, hash, eq));
        }
    }

    concurrent_cache(const concurrent_cache&) = delete;
    concurrent_cache& operator=(const concurrent_cache&) = delete;

    std::size_t shard_count() const noexcept { return shards_.size(); }

    // --- single key: each is atomic ------------------------------------------

    std::optional<Value> get(const Key& key) { return shard(key).get(key); }
    std::optional<Value> peek(const Key& key) const { return shard(key).peek(key); }
    bool contains(const Key& key) const { return shard(key).contains(key); }
    bool put(Key key, Value value, std::optional<expiry> ttl = std::nullopt) {
        auto& s = shard(key);
        return s.put(std::move(key), std::move(value), ttl);
    }
    bool erase(const Key& key) { return shard(key).erase(key); }
    bool pin(const Key& key) { return shard(key).pin(key); }
    bool unpin(const Key& key) { return shard(key).unpin(key); }

    template <class Loader>
        requires std::convertible_to<std::invoke_result_t<Loader&, const Key&>, Value>
    Value get_or_load(const Key& key, Loader&& loader) {
        return shard(key).get_or_load(key, std::forward<Loader>(loader));
    }

    // --- many keys: each key atomic, the batch not ---------------------------

    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, const Key&>
    std::vector<std::optional<Value>> get_many(const R& keys) {
        std::vector<std::optional<Value>> out;
        for (const Key& k : keys) out.push_back(get(k));
        return out;
    }

    template <std::ranges::input_range R>
    std::size_t put_many(R&& pairs) {
        constexpr bool take = !std::is_lvalue_reference_v<R> ||
                              !std::is_lvalue_reference_v<std::ranges::range_reference_t<R>>;
        std::size_t cached = 0;
        for (auto&& p : pairs) {
            auto&& [k, v] = p;
            cached += take ? put(Key(std::move(k)), Value(std::move(v))) : put(Key(k), Value(v));
        }
        return cached;
    }

    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, const Key&>
    std::size_t erase_many(const R& keys) {
        std::size_t n = 0;
        for (const Key& k : keys) n += erase(k);
        return n;
    }

    template <class Pred>
        requires std::predicate<Pred&, const Key&, const Value&>
    std::size_t erase_if(Pred pred) {
        std::size_t n = 0;
        for (auto& s : shards_) n += s->erase_if(std::ref(pred));
        return n;
    }

    std::size_t erase_prefix(std::string_view prefix)
        requires std::convertible_to<const Key&, std::string_view>
    {
        std::size_t n = 0;
        for (auto& s : shards_) n += s->erase_prefix(prefix);
        return n;
    }

    void clear() {
        for (auto& s : shards_) s->clear();
    }

    // Splits the new budget over the shards as the constructor did.
    void resize(std::uint64_t capacity) {
        for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i]->resize(share(capacity, shards_.size(), i));
    }

    std::size_t cleanup() {
        std::size_t n = 0;
        for (auto& s : shards_) n += s->cleanup();
        return n;
    }

    // --- totals (per-shard snapshots added up) ----------------------------------

    std::size_t size() const {
        std::size_t n = 0;
        for (auto& s : shards_) n += s->size();
        return n;
    }
    std::uint64_t weight() const {
        std::uint64_t w = 0;
        for (auto& s : shards_) w += s->weight();
        return w;
    }
    std::uint64_t capacity() const {
        std::uint64_t c = 0;
        for (auto& s : shards_) c += s->capacity();
        return c;
    }
    cache_stats stats() const {
        cache_stats total;
        for (auto& s : shards_) total += s->stats();
        return total;
    }
    void reset_stats() {
        for (auto& s : shards_) s->reset_stats();
    }

private:
    static constexpr std::size_t max_shards = 1024;

    static std::uint64_t share(std::uint64_t capacity, std::size_t n, std::size_t i) noexcept {
        return capacity / n + (i < capacity % n ? 1 : 0);
    }

    // The top bits of the mixed hash pick the shard; a shard's own index uses
    // the low bits, so the two choices stay independent.
    shard_type& shard(const Key& key) const {
        const std::uint64_t h = detail::mix64(static_cast<std::uint64_t>(hash_(key)));
        return *shards_[shift_ == 64 ? 0 : static_cast<std::size_t>(h >> shift_)];
    }

    [[no_unique_address]] Hash hash_;
    unsigned shift_ = 64;
    std::vector<std::unique_ptr<shard_type>> shards_;
};

}  // namespace stowage
