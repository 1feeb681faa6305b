// cache.hpp — an in-memory cache under a weight budget, with a pluggable
// eviction policy, expiry, single-flight loading, pinning and statistics.
//
//   stowage::cache<std::string, stowage::bytes, stowage::w_tinylfu, stowage::size_weigher>
//       hot({.capacity = 64 << 20, .ttl = {.after_access = 10min}});
//   auto meta = hot.get_or_load(id, [&](const std::string& k) { return load(k); });
//
// Capacity is in the Weigher's units: 1 per entry with `unit_weigher`, or e.g.
// bytes with `size_weigher`. An entry heavier than the budget left over by
// pinned entries is not cached (put returns false). The EvictionPolicy
// (concepts.hpp, evict/) picks victims; each entry is one allocation that
// carries the index hook, the policy's hook and the expiry hook.
//
// Expiry: time-to-live after write and/or after access, per cache (options::ttl)
// or per entry (put's last argument), measured by the Clock policy
// (std::chrono::steady_clock, or manual_clock in tests). An expired entry is
// never returned; it is removed when a lookup meets it, before any eviction,
// every 64 reads, and by cleanup(). With no operations at all nothing runs:
// there is no background thread.
//
// Removal listener: options::on_removal(key, value, reason) is called once per
// value that leaves (evicted, expired, erased, replaced), after the cache's
// lock is released, on the thread whose call removed it. It must not throw
// (it runs from a destructor); it may call back into the cache. A value that
// was never cached (too heavy, or refused by the policy) is not reported.
//
// get_or_load(key, loader): concurrent callers for the same missing key run
// the loader once; all receive its value or its exception. A failed load is
// not cached. A write to the key (put, erase, invalidation) while its load
// runs detaches the load: its callers still get the loaded value, but it is
// not cached and later callers load again — so no read after a write returns
// a value from before it.
//
// Thread safety: every member function is safe to call from many threads and
// takes effect atomically. Changes (put, erase, invalidation, a get that must
// remove an expired entry or extend an access TTL, ...) run one at a time
// under an exclusive lock. A get that finds a live entry, or nothing, runs
// beside other such gets and writes no shared cache line: the access is
// recorded in the calling thread's stripe and replayed into the policy at
// the next exclusive section (detail/cache_read_stripes.hpp). With one
// thread the policy sees every access in order; with several, accesses that
// find a stripe's ring full while another thread holds the lock are dropped
// (recency is then approximate, as in Caffeine; contents and statistics stay
// exact). concurrent_cache.hpp shards for write throughput. Loaders and
// listeners run outside the lock. `policy()` is for single-threaded
// inspection. Values are returned by copy: store std::shared_ptr<const T> for
// large values.
// Durability: none — a cache holds nothing that is not elsewhere.
#pragma once

#include "concepts.hpp"
#include "detail/cache_index.hpp"
#include "error.hpp"
#include "detail/cache_read_stripes.hpp"
#include "evict/lru.hpp"

#include <boost/intrusive/set.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stowage {

// --- Weighers: an entry's weight in the capacity's units --------------------

template <class W, class Key, class Value>
concept weigher = requires(const W& w, const Key& k, const Value& v) {
    { w(k, v) } -> std::convertible_to<std::uint64_t>;
};

// Every entry weighs 1: capacity is a number of entries.
struct unit_weigher {
    template <class Key, class Value>
    constexpr std::uint64_t operator()(const Key&, const Value&) const noexcept { return 1; }
};

// An entry weighs its value's size(): bytes for std::string and stowage::bytes.
struct size_weigher {
    template <class Key, class Value>
        requires requires(const Value& v) { std::size(v); }
    constexpr std::uint64_t operator()(const Key&, const Value& v) const noexcept { return std::size(v); }
};

// --- Clocks -----------------------------------------------------------------

template <class C>
concept cache_clock = std::copy_constructible<C> && requires(const C& c) {
    typename C::time_point;
    typename C::duration;
    { c.now() } -> std::same_as<typename C::time_point>;
};

// A clock that moves only when told to; copies share one time, so a test keeps
// a copy and advances the cache's clock.
class manual_clock {
public:
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<manual_clock, duration>;
    static constexpr bool is_steady = true;

    time_point now() const noexcept { return time_point(duration(now_->load(std::memory_order_acquire))); }
    void advance(duration d) noexcept { now_->fetch_add(d.count(), std::memory_order_acq_rel); }

private:
    std::shared_ptr<std::atomic<rep>> now_ = std::make_shared<std::atomic<rep>>(0);
};

// --- Vocabulary -------------------------------------------------------------

// Time-to-live; zero means "never".
struct expiry {
    std::chrono::nanoseconds after_write{0};   // since the value was put
    std::chrono::nanoseconds after_access{0};  // since the last get or put
};

enum class removal_reason : std::uint8_t {
    evicted,   // the policy chose it to make room
    expired,   // its time-to-live passed
    erased,    // erase, invalidation, clear
    replaced,  // a put stored a new value for its key
};

constexpr std::string_view to_string(removal_reason r) noexcept {
    switch (r) {
        case removal_reason::evicted: return "evicted";
        case removal_reason::expired: return "expired";
        case removal_reason::erased: return "erased";
        case removal_reason::replaced: return "replaced";
    }
    return "unknown";
}

struct cache_stats {
    std::uint64_t hits = 0;           // get / get_many / get_or_load found it
    std::uint64_t misses = 0;         // ... did not
    std::uint64_t evictions = 0;
    std::uint64_t expirations = 0;
    std::uint64_t loads = 0;          // loader calls that returned a value
    std::uint64_t load_failures = 0;  // loader calls that threw
    std::uint64_t size = 0;           // entries now
    std::uint64_t weight = 0;         // weight now

    double hit_rate() const noexcept {
        const std::uint64_t n = hits + misses;
        return n ? static_cast<double>(hits) / static_cast<double>(n) : 0.0;
    }
    cache_stats& operator+=(const cache_stats& o) noexcept {
        hits += o.hits, misses += o.misses, evictions += o.evictions, expirations += o.expirations;
        loads += o.loads, load_failures += o.load_failures, size += o.size, weight += o.weight;
        return *this;
    }
};

// --- The cache --------------------------------------------------------------

template <class Key, class Value, eviction_policy Eviction = lru, class Weigher = unit_weigher,
          cache_clock Clock = std::chrono::steady_clock, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
    requires weigher<Weigher, Key, Value> && std::copy_constructible<Value>
class cache {
public:
    using key_type = Key;
    using mapped_type = Value;
    using policy_type = Eviction;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using listener = std::function<void(const Key&, const Value&, removal_reason)>;

    struct options {
        std::uint64_t capacity = 0;  // in Weigher units
        expiry ttl{};                // default for every entry
        listener on_removal{};
    };

    explicit cache(std::uint64_t capacity) : cache(options{.capacity = capacity}) {}

    explicit cache(options o, Eviction policy = Eviction{}, Weigher w = Weigher{}, Clock clock = Clock{},
                   Hash hash = Hash{}, KeyEqual eq = KeyEqual{})
        : policy_(std::move(policy)),
          weigher_(std::move(w)),
          clock_(std::move(clock)),
          hash_(std::move(hash)),
          eq_(std::move(eq)),
          capacity_(o.capacity),
          ttl_(o.ttl),
          on_removal_(std::move(o.on_removal)) {
        policy_.set_capacity(capacity_);
    }

    cache(const cache&) = delete;
    cache& operator=(const cache&) = delete;

    // Frees every entry without calling the listener.
    ~cache() {
        index_.for_each([this](entry& e) { destroy_quietly(e); });
    }

    // --- lookups ----------------------------------------------------------

    // The value, counting a hit (and refreshing recency and access TTL) or a miss.
    std::optional<Value> get(const Key& key) {
        const std::uint64_t h = hash_of(key);
        if (auto answer = read_shared(key, h, true)) return std::move(*answer);
        removal_batch dead(*this);
        exclusive lock(*this);
        return lookup(key, h, dead);
    }

    // The value if present and live; no statistics, no recency, no TTL refresh.
    std::optional<Value> peek(const Key& key) const {
        const std::uint64_t h = hash_of(key);
        shared_guard lock(stripes_);
        const entry* e = find(key, h);
        if (!e || expired(*e)) return std::nullopt;
        return e->value;
    }

    bool contains(const Key& key) const {
        const std::uint64_t h = hash_of(key);
        shared_guard lock(stripes_);
        const entry* e = find(key, h);
        return e && !expired(*e);
    }

    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, const Key&>
    std::vector<std::optional<Value>> get_many(const R& keys) {
        std::vector<std::optional<Value>> out;
        if constexpr (std::ranges::sized_range<R>) out.reserve(std::ranges::size(keys));
        removal_batch dead(*this);
        exclusive lock(*this);
        for (const Key& k : keys) out.push_back(lookup(k, hash_of(k), dead));
        return out;
    }

    // --- writes -----------------------------------------------------------

    // Stores value under key (replacing any value) with the cache's TTL or
    // `ttl`. Returns false when it is not cached: heavier than the budget
    // pinned entries leave, or refused by the policy. Either way no older
    // value for key remains.
    bool put(Key key, Value value, std::optional<expiry> ttl = std::nullopt) {
        const std::uint64_t h = hash_of(key);
        const std::uint64_t w = weigher_(key, value);
        removal_batch dead(*this);
        exclusive lock(*this);
        return store(std::move(key), std::move(value), h, w, ttl ? *ttl : ttl_, dead);
    }

    // Stores each (key, value) pair; returns how many were cached.
    template <std::ranges::input_range R>
    std::size_t put_many(R&& pairs) {
        std::size_t cached = 0;
        removal_batch dead(*this);
        exclusive lock(*this);
        // Elements of a container passed as an rvalue are moved from; others copied.
        constexpr bool take = !std::is_lvalue_reference_v<R> ||
                              !std::is_lvalue_reference_v<std::ranges::range_reference_t<R>>;
        for (auto&& p : pairs) {
            auto&& [k, v] = p;
            Key key(take ? Key(std::move(k)) : Key(k));
            Value value(take ? Value(std::move(v)) : Value(v));
            const std::uint64_t h = hash_of(key);
            const std::uint64_t w = weigher_(key, value);
            cached += store(std::move(key), std::move(value), h, w, ttl_, dead);
        }
        return cached;
    }

    // Removes key; true if a live value was there.
    bool erase(const Key& key) {
        const std::uint64_t h = hash_of(key);
        removal_batch dead(*this);
        exclusive lock(*this);
        return erase_locked(key, h, dead);
    }

    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, const Key&>
    std::size_t erase_many(const R& keys) {
        std::size_t n = 0;
        removal_batch dead(*this);
        exclusive lock(*this);
        for (const Key& k : keys) n += erase_locked(k, hash_of(k), dead);
        return n;
    }

    // Removes every entry for which pred(key, value) is true; O(size). Loads
    // in flight are detached (their keys have no value to test yet).
    template <class Pred>
        requires std::predicate<Pred&, const Key&, const Value&>
    std::size_t erase_if(Pred pred) {
        std::size_t n = 0;
        removal_batch dead(*this);
        exclusive lock(*this);
        const time_point now = clock_.now();
        index_.for_each([&](entry& e) {
            if (!pred(std::as_const(e.key), std::as_const(e.value))) return;
            const bool gone = is_expired(e, now);
            n += !gone;
            remove(e, gone ? removal_reason::expired : removal_reason::erased, dead);
        });
        detach_all_flights();
        return n;
    }

    // Removes every key that starts with prefix; O(size).
    std::size_t erase_prefix(std::string_view prefix)
        requires std::convertible_to<const Key&, std::string_view>
    {
        auto starts = [prefix](const Key& k) { return std::string_view(k).starts_with(prefix); };
        std::size_t n = 0;
        removal_batch dead(*this);
        exclusive lock(*this);
        const time_point now = clock_.now();
        index_.for_each([&](entry& e) {
            if (!starts(e.key)) return;
            const bool gone = is_expired(e, now);
            n += !gone;
            remove(e, gone ? removal_reason::expired : removal_reason::erased, dead);
        });
        for (auto it = flights_.begin(); it != flights_.end();) {
            if (starts(it->first)) {
                it->second->detached = true;
                it = flights_.erase(it);
            } else {
                ++it;
            }
        }
        return n;
    }

    // Removes everything, pinned entries included (reason: erased).
    void clear() {
        removal_batch dead(*this);
        exclusive lock(*this);
        index_.for_each([&](entry& e) { remove(e, removal_reason::erased, dead); });
        detach_all_flights();
    }

    // --- loading ----------------------------------------------------------

    // The cached value, or loader(key)'s, which is then cached. One loader
    // runs per missing key however many threads ask; they all get its result
    // or its exception. A loader that asks this cache for its own key would
    // wait for itself: that throws errc::conflict instead.
    template <class Loader>
        requires std::convertible_to<std::invoke_result_t<Loader&, const Key&>, Value>
    Value get_or_load(const Key& key, Loader&& loader) {
        const std::uint64_t h = hash_of(key);
        if (auto answer = read_shared(key, h, false); answer && *answer) return std::move(**answer);
        std::shared_ptr<flight> f;
        {
            removal_batch dead(*this);
            exclusive lock(*this);
            if (auto v = lookup(key, h, dead)) return std::move(*v);
            if (auto it = flights_.find(key); it != flights_.end()) {
                f = it->second;
                if (f->owner == std::this_thread::get_id())
                    throw error(errc::conflict, "cache: recursive get_or_load of a key whose loader is running");
                lock.unlock();
                return f->result.get();  // the loader's value, or its exception rethrown
            }
            f = std::make_shared<flight>();
            flights_.emplace(key, f);
        }
        std::optional<Value> loaded;
        try {
            loaded.emplace(std::invoke(loader, key));
        } catch (...) {
            {
                exclusive lock(*this);
                ++stats_.load_failures;
                finish_flight(key, *f);
            }
            f->promise.set_exception(std::current_exception());
            throw;
        }
        try {
            removal_batch dead(*this);
            exclusive lock(*this);
            ++stats_.loads;
            if (!f->detached) {
                finish_flight(key, *f);
                const std::uint64_t w = weigher_(key, *loaded);
                store(Key(key), Value(*loaded), h, w, ttl_, dead);
            }
        } catch (...) {  // caching it failed (the weigher threw, no memory): everyone hears
            {
                exclusive lock(*this);
                finish_flight(key, *f);
            }
            f->promise.set_exception(std::current_exception());
            throw;
        }
        try {
            f->promise.set_value(*loaded);
        } catch (...) {  // copying the value failed: the waiters must not hang
            f->promise.set_exception(std::current_exception());
        }
        return std::move(*loaded);
    }

    // --- pinning ----------------------------------------------------------

    // A pinned entry is never evicted (it still expires and can be erased).
    // Pins nest: each pin needs an unpin. False if key is not cached.
    bool pin(const Key& key) {
        const std::uint64_t h = hash_of(key);
        removal_batch dead(*this);
        exclusive lock(*this);
        entry* e = find_live(key, h, dead);
        if (!e) return false;
        if (e->pins++ == 0) {
            policy_.on_remove(*e);
            pinned_weight_ += e->weight;
            policy_.set_capacity(policy_capacity());
        }
        return true;
    }

    // Releases one pin; the entry becomes evictable again at the last one
    // (and is evicted at once if the cache is over budget). False if key is
    // not cached or not pinned.
    bool unpin(const Key& key) {
        const std::uint64_t h = hash_of(key);
        removal_batch dead(*this);
        exclusive lock(*this);
        entry* e = find_live(key, h, dead);
        if (!e || e->pins == 0) return false;
        if (--e->pins == 0) {
            pinned_weight_ -= e->weight;
            policy_.set_capacity(policy_capacity());
            policy_.on_insert(*e, e->hash, e->weight);
            evict_until_fits(0, dead);
        }
        return true;
    }

    // --- budget and housekeeping -----------------------------------------

    // Changes the budget; evicts at once down to it (pinned entries stay,
    // even if they alone exceed it).
    void resize(std::uint64_t capacity) {
        removal_batch dead(*this);
        exclusive lock(*this);
        capacity_ = capacity;
        policy_.set_capacity(policy_capacity());
        evict_until_fits(0, dead);
    }

    // Removes every expired entry now; returns how many.
    std::size_t cleanup() {
        removal_batch dead(*this);
        exclusive lock(*this);
        const std::uint64_t before = stats_.expirations;
        purge_expired(clock_.now(), dead);
        return static_cast<std::size_t>(stats_.expirations - before);
    }

    // Entries held, expired ones not yet removed included.
    std::size_t size() const {
        shared_guard lock(stripes_);
        return index_.size();
    }
    std::uint64_t weight() const {
        shared_guard lock(stripes_);
        return weight_;
    }
    std::uint64_t capacity() const {
        shared_guard lock(stripes_);
        return capacity_;
    }
    cache_stats stats() const {
        shared_guard lock(stripes_);
        cache_stats s = stats_;
        s.hits += stripes_.hits();
        s.misses += stripes_.misses();
        s.size = index_.size();
        s.weight = weight_;
        return s;
    }
    void reset_stats() {
        exclusive lock(*this);
        stats_ = cache_stats{};
        stripes_.reset_counts();
    }

    // For single-threaded inspection: first replays the reads recorded so far.
    const Eviction& policy() const {
        exclusive lock(*this);
        return policy_;
    }

private:
    static constexpr time_point never = time_point::max();

    using expiry_hook = boost::intrusive::set_member_hook<boost::intrusive::optimize_size<true>,
                                                          boost::intrusive::link_mode<detail::cache_link_mode>>;

    // Hot fields first (what a hit reads: the hooks, pins, deadline, key,
    // value), expiry bookkeeping last, so a hit touches as few cache lines
    // as the key and value allow.
    struct entry : Eviction::hook, detail::cache_index_hook {
        entry(Key&& k, Value&& v, std::uint64_t h, std::uint64_t w)
            : key(std::move(k)), value(std::move(v)), hash(h), weight(w) {}
        std::uint32_t pins = 0;
        bool in_expiry_queue = false;
        removal_reason reason = removal_reason::erased;
        time_point deadline = never;        // expires at (write TTL and access TTL combined)
        Key key;
        Value value;
        std::uint64_t hash;
        std::uint64_t weight;
        time_point write_deadline = never;
        time_point queued = never;          // position in the expiry queue; <= deadline
        std::chrono::nanoseconds access_ttl{0};
        expiry_hook in_expiry;
        entry* next_dead = nullptr;
    };

    struct hash_of_entry {
        std::uint64_t operator()(const entry& e) const noexcept { return e.hash; }
    };
    struct entry_equal {  // only for the container's own bookkeeping
        bool operator()(const entry& a, const entry& b) const noexcept { return &a == &b; }
    };
    struct by_queued {
        bool operator()(const entry& a, const entry& b) const noexcept { return a.queued < b.queued; }
    };
    using expiry_queue = boost::intrusive::multiset<entry,
                                                    boost::intrusive::member_hook<entry, expiry_hook, &entry::in_expiry>,
                                                    boost::intrusive::compare<by_queued>,
                                                    boost::intrusive::constant_time_size<false>>;

    // A load in progress: its result is shared with every caller that waits.
    struct flight {
        std::promise<Value> promise;
        std::shared_future<Value> result = promise.get_future().share();
        std::thread::id owner = std::this_thread::get_id();
        bool detached = false;  // a write raced it: do not cache the result
    };

    // Values removed under the lock, reported and freed after it is released
    // (declare it before the lock guard). Listener exceptions terminate.
    class removal_batch {
    public:
        explicit removal_batch(cache& c) noexcept : c_(c) {}
        removal_batch(const removal_batch&) = delete;
        removal_batch& operator=(const removal_batch&) = delete;
        ~removal_batch() {
            for (auto& [k, v] : replaced_) c_.on_removal_(k, v, removal_reason::replaced);
            while (head_) {
                entry* e = std::exchange(head_, head_->next_dead);
                if (c_.on_removal_) c_.on_removal_(e->key, e->value, e->reason);
                delete e;
            }
        }
        void add(entry& e) noexcept {
            e.next_dead = head_;
            head_ = &e;
        }
        void add_replaced(const Key& k, Value&& old) {
            if (c_.on_removal_) replaced_.emplace_back(k, std::move(old));
        }

    private:
        cache& c_;
        entry* head_ = nullptr;
        std::vector<std::pair<Key, Value>> replaced_;
    };

    using stripes_type = detail::read_stripes<entry*>;
    using shared_guard = detail::shared_stripe_guard<stripes_type>;

    // An exclusive section: every change to the cache runs in one. It starts
    // by replaying into the policy the accesses that reads recorded since the
    // last one, so the policy never acts on a stale order and never sees an
    // entry that is gone (entries leave only in exclusive sections).
    class exclusive {
    public:
        explicit exclusive(const cache& c) : c_(const_cast<cache&>(c)) {
            c_.stripes_.lock();
            c_.replay_reads();
        }
        exclusive(const cache& c, std::try_to_lock_t) : c_(const_cast<cache&>(c)), held_(c_.stripes_.try_lock()) {
            if (held_) c_.replay_reads();
        }
        ~exclusive() {
            if (held_) c_.stripes_.unlock();
        }
        exclusive(const exclusive&) = delete;
        exclusive& operator=(const exclusive&) = delete;
        bool held() const noexcept { return held_; }
        void unlock() noexcept {
            c_.stripes_.unlock();
            held_ = false;
        }

    private:
        cache& c_;
        bool held_ = true;
    };

    void replay_reads() noexcept {
        stripes_.drain([this](entry* e) {
            if (e && e->pins == 0) policy_.on_access(*e);
        });
    }

    // Answers a get without the exclusive lock when it can: a key that is
    // not there, or a live entry whose deadline a read does not move. The
    // access is recorded for the policy (detail/cache_read_stripes.hpp), and
    // so is a miss while entries wait to expire: the drain that follows a
    // full ring removes them, as the exclusive path does every 64 reads.
    // nullopt: take the exclusive path (an expired entry to remove, an access
    // TTL to extend). count_misses=false leaves a miss uncounted for a caller
    // that counts it on its own exclusive path (get_or_load).
    std::optional<std::optional<Value>> read_shared(const Key& key, std::uint64_t h, bool count_misses) {
        std::optional<std::optional<Value>> answer;
        bool drain = false;
        {
            shared_guard g(stripes_);
            entry* e = find(key, h);
            // A full ring is drained; so is a ring of 64 while entries wait
            // to expire (the exclusive path's purge cadence).
            const bool expiring = !expiry_queue_.empty();
            auto note = [&](entry* r) {
                const std::size_t held = stripes_.record(g.stripe(), r);
                drain = held >= stripes_type::ring_size || (expiring && held >= 64);
            };
            if (!e) {
                if (!count_misses) return std::nullopt;
                stripes_.count_miss(g.stripe());
                if (expiring) note(nullptr);
                answer.emplace();
            } else if (e->deadline == never || (e->access_ttl.count() == 0 && e->deadline > clock_.now())) {
                answer.emplace(e->value);
                stripes_.count_hit(g.stripe());
                note(e);
            }
        }
        if (drain) drain_reads();
        return answer;
    }

    // A reader's ring is full: replay every ring now unless another thread
    // holds the lock (its records are then dropped until the next drain).
    void drain_reads() {
        removal_batch dead(*this);
        exclusive lock(*this, std::try_to_lock);
        if (lock.held() && !expiry_queue_.empty()) purge_expired(clock_.now(), dead);
    }

    std::uint64_t hash_of(const Key& key) const noexcept(noexcept(hash_(key))) {
        return detail::mix64(static_cast<std::uint64_t>(hash_(key)));
    }

    entry* find(const Key& key, std::uint64_t h) const {
        auto eq = [this](const Key& k, const entry& e) { return eq_(k, e.key); };
        return const_cast<index_type&>(index_).find(key, h, eq);
    }

    bool is_expired(const entry& e, time_point now) const noexcept { return e.deadline <= now; }
    bool expired(const entry& e) const { return e.deadline != never && e.deadline <= clock_.now(); }

    // The live entry for key, removing it if it has expired.
    entry* find_live(const Key& key, std::uint64_t h, removal_batch& dead) {
        entry* e = find(key, h);
        if (e && e->deadline != never && e->deadline <= clock_.now()) {
            remove(*e, removal_reason::expired, dead);
            return nullptr;
        }
        return e;
    }

    std::optional<Value> lookup(const Key& key, std::uint64_t h, removal_batch& dead) {
        if (!expiry_queue_.empty() && (++reads_ & 63) == 0) purge_expired(clock_.now(), dead);
        entry* e = find(key, h);
        if (e && e->deadline != never) {
            const time_point now = clock_.now();
            if (e->deadline <= now) {
                remove(*e, removal_reason::expired, dead);
                e = nullptr;
            } else if (e->access_ttl.count() > 0) {
                e->deadline = std::min(e->write_deadline, add_saturated(now, e->access_ttl));
            }
        }
        if (!e) {
            ++stats_.misses;
            return std::nullopt;
        }
        ++stats_.hits;
        if (e->pins == 0) policy_.on_access(*e);
        return e->value;
    }

    bool store(Key&& key, Value&& value, std::uint64_t h, std::uint64_t w, const expiry& ttl,
               removal_batch& dead) {
        detach_flight(key);
        const bool timed = ttl.after_write.count() > 0 || ttl.after_access.count() > 0;
        const time_point now = timed || !expiry_queue_.empty() ? clock_.now() : time_point{};
        if (!expiry_queue_.empty()) purge_expired(now, dead);

        if (entry* e = find(key, h)) return replace(*e, std::move(value), w, ttl, now, dead);

        if (w > policy_capacity()) return false;
        auto fresh = std::make_unique<entry>(std::move(key), std::move(value), h, w);
        if (!policy_.admit(h, w)) return false;
        evict_until_fits(w, dead);
        index_.insert(*fresh);  // may grow the bucket array; nothing else can throw below
        entry& e = *fresh.release();
        weight_ += w;
        policy_.on_insert(e, h, w);
        set_expiry(e, ttl, now);
        return true;
    }

    bool replace(entry& e, Value&& value, std::uint64_t w, const expiry& ttl, time_point now,
                 removal_batch& dead) {
        const std::uint64_t budget = policy_capacity() + (e.pins ? e.weight : 0);
        if (w > budget) {  // the new value cannot be cached; the old must not stay
            remove(e, removal_reason::replaced, dead);
            return false;
        }
        Value old = std::exchange(e.value, std::move(value));
        dead.add_replaced(e.key, std::move(old));
        if (e.pins) {
            weight_ = weight_ - e.weight + w;
            pinned_weight_ = pinned_weight_ - e.weight + w;
            e.weight = w;
            policy_.set_capacity(policy_capacity());
            evict_until_fits(0, dead);
        } else if (weight_ - e.weight + w > capacity_) {
            // Growing past the budget: room is made among the others, with
            // this entry out of the policy so that it cannot be the victim of
            // its own update; it then re-enters as a fresh, used entry.
            policy_.on_remove(e);
            weight_ -= e.weight;
            evict_until_fits(w, dead);
            e.weight = w;
            weight_ += w;
            policy_.on_insert(e, e.hash, w);
            policy_.on_access(e);
        } else {
            weight_ = weight_ - e.weight + w;
            e.weight = w;
            policy_.on_update(e, w);
        }
        set_expiry(e, ttl, now);
        return true;
    }

    bool erase_locked(const Key& key, std::uint64_t h, removal_batch& dead) {
        detach_flight(key);
        entry* e = find_live(key, h, dead);
        if (!e) return false;
        remove(*e, removal_reason::erased, dead);
        return true;
    }

    // Evicts until `incoming` more weight fits (or the policy holds nothing).
    void evict_until_fits(std::uint64_t incoming, removal_batch& dead) {
        while (weight_ + incoming > capacity_) {
            auto* v = policy_.evict();
            if (!v) return;
            entry& e = static_cast<entry&>(*v);
            ++stats_.evictions;
            unlink(e, removal_reason::evicted, dead);
        }
    }

    // Takes e out of the policy (unless pinned) and everything else.
    void remove(entry& e, removal_reason why, removal_batch& dead) {
        if (e.pins) {
            pinned_weight_ -= e.weight;
            e.pins = 0;
            policy_.set_capacity(policy_capacity());
        } else {
            policy_.on_remove(e);
        }
        if (why == removal_reason::expired) ++stats_.expirations;
        unlink(e, why, dead);
    }

    // Takes e out of the index and the expiry queue; the policy is done with it.
    void unlink(entry& e, removal_reason why, removal_batch& dead) noexcept {
        index_.erase(e);
        if (e.in_expiry_queue) expiry_queue_.erase(expiry_queue_.iterator_to(e));
        e.in_expiry_queue = false;
        weight_ -= e.weight;
        e.reason = why;
        dead.add(e);
    }

    void destroy_quietly(entry& e) noexcept {
        if (e.pins == 0) policy_.on_remove(e);
        index_.erase(e);
        if (e.in_expiry_queue) expiry_queue_.erase(expiry_queue_.iterator_to(e));
        delete &e;
    }

    // --- expiry ---

    // t + d in the clock's own units (rounded up, so a TTL never shortens),
    // or never when that would overflow.
    static time_point add_saturated(time_point t, std::chrono::nanoseconds d) noexcept {
        const auto step = std::chrono::ceil<typename Clock::duration>(d);
        if (step >= never - t) return never;
        return t + step;
    }

    void set_expiry(entry& e, const expiry& ttl, time_point now) {
        e.write_deadline = ttl.after_write.count() > 0 ? add_saturated(now, ttl.after_write) : never;
        e.access_ttl = ttl.after_access;
        e.deadline = ttl.after_access.count() > 0 ? std::min(e.write_deadline, add_saturated(now, ttl.after_access))
                                                  : e.write_deadline;
        if (e.deadline == never) {
            if (e.in_expiry_queue) expiry_queue_.erase(expiry_queue_.iterator_to(e));
            e.in_expiry_queue = false;
        } else if (!e.in_expiry_queue || e.queued > e.deadline) {
            if (e.in_expiry_queue) expiry_queue_.erase(expiry_queue_.iterator_to(e));
            e.queued = e.deadline;
            expiry_queue_.insert(e);
            e.in_expiry_queue = true;
        }
        // else: queued earlier than the deadline; purge_expired requeues it lazily.
    }

    // Removes entries whose deadline passed. An access only moves a deadline
    // later, so the queue may hold an entry too early: it is requeued then.
    void purge_expired(time_point now, removal_batch& dead) {
        while (!expiry_queue_.empty() && expiry_queue_.begin()->queued <= now) {
            entry& e = *expiry_queue_.begin();
            if (e.deadline <= now) {
                remove(e, removal_reason::expired, dead);
            } else {
                expiry_queue_.erase(expiry_queue_.iterator_to(e));
                e.queued = e.deadline;
                expiry_queue_.insert(e);
            }
        }
    }

    // --- flights ---

    void detach_flight(const Key& key) {
        if (flights_.empty()) return;
        if (auto it = flights_.find(key); it != flights_.end()) {
            it->second->detached = true;
            flights_.erase(it);
        }
    }
    void detach_all_flights() {
        for (auto& [k, f] : flights_) f->detached = true;
        flights_.clear();
    }
    void finish_flight(const Key& key, flight& f) {
        if (f.detached) return;
        flights_.erase(key);
        f.detached = true;
    }

    std::uint64_t policy_capacity() const noexcept {
        return capacity_ > pinned_weight_ ? capacity_ - pinned_weight_ : 0;
    }

    using index_type = detail::hash_index<entry, hash_of_entry, entry_equal>;

    // The lock, the read rings and the hit/miss counters (see
    // detail/cache_read_stripes.hpp); stats_ holds the rest of the statistics.
    mutable stripes_type stripes_;
    Eviction policy_;
    [[no_unique_address]] Weigher weigher_;
    [[no_unique_address]] Clock clock_;
    [[no_unique_address]] Hash hash_;
    [[no_unique_address]] KeyEqual eq_;
    index_type index_;
    expiry_queue expiry_queue_;
    std::unordered_map<Key, std::shared_ptr<flight>, Hash, KeyEqual> flights_;
    std::uint64_t capacity_;
    std::uint64_t weight_ = 0;
    std::uint64_t pinned_weight_ = 0;
    std::uint64_t reads_ = 0;
    expiry ttl_;
    listener on_removal_;
    cache_stats stats_;
};

}  // namespace stowage
