// Eviction policies (evict/*.hpp): each policy's bookkeeping against a model
// when driven directly, every policy's invariants inside a cache under random
// operation sequences (capacity, exact weight accounting, pins, TTL, listener),
// and each policy's characteristic behaviour from its paper.
#define BOOST_TEST_MODULE evict_policies
#include <stowage/cache.hpp>
#include <stowage/detail/cache_ghost.hpp>
#include <stowage/detail/cache_sketch.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>

#include "test_support.hpp"

#include <boost/mpl/list.hpp>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

using namespace std::chrono_literals;
namespace st = stowage;

namespace {

using all_policies = boost::mpl::list<st::lru, st::arc, st::s3fifo, st::sieve, st::w_tinylfu>;

template <class P>
P make_policy() {
    if constexpr (std::is_same_v<P, st::w_tinylfu>)
        return P(typename P::options{.seed = 7});  // deterministic tie-breaks
    else
        return P{};
}

// A bare entry for driving a policy without a cache.
template <class P>
struct node : P::hook {
    std::uint64_t key = 0;
    std::uint64_t weight = 0;
    bool linked = false;
};

std::uint64_t h(std::uint64_t key) { return st::detail::mix64(key); }

// --- policies driven directly ------------------------------------------------

// Random inserts, hits, updates, removals and evictions against a model of
// which nodes the policy holds: weight() is always the exact sum, evict()
// only ever returns a node it holds, and returns nullptr only when empty.
BOOST_AUTO_TEST_CASE_TEMPLATE(policy_bookkeeping_matches_model, P, all_policies) {
    std::mt19937_64 rng(st::test::test_seed());
    P p = make_policy<P>();
    const std::uint64_t capacity = 200;
    p.set_capacity(capacity);
    std::vector<std::unique_ptr<node<P>>> nodes;
    for (std::uint64_t k = 0; k < 400; ++k) {
        nodes.push_back(std::make_unique<node<P>>());
        nodes.back()->key = k;
    }
    std::uint64_t model_weight = 0;
    std::size_t held = 0;
    auto evict_one = [&] {
        auto* v = p.evict();
        if (held == 0) {
            BOOST_TEST_REQUIRE(v == nullptr);
            return;
        }
        BOOST_TEST_REQUIRE(v != nullptr);
        auto& n = static_cast<node<P>&>(*v);
        BOOST_TEST_REQUIRE(n.linked);
        n.linked = false;
        model_weight -= n.weight;
        --held;
    };
    for (int step = 0; step < 60000; ++step) {
        auto& n = *nodes[rng() % nodes.size()];
        switch (rng() % 8) {
            case 0: case 1: case 2:  // insert (or hit if already held)
                if (n.linked) {
                    p.on_access(n);
                } else {
                    const std::uint64_t w = 1 + rng() % 5;
                    if (!p.admit(h(n.key), w)) break;
                    while (model_weight + w > capacity) evict_one();
                    p.on_insert(n, h(n.key), w);
                    n.linked = true;
                    n.weight = w;
                    model_weight += w;
                    ++held;
                }
                break;
            case 3: case 4:
                if (n.linked) p.on_access(n);
                break;
            case 5:
                if (n.linked) {
                    const std::uint64_t w = 1 + rng() % 5;
                    p.on_update(n, w);
                    model_weight = model_weight - n.weight + w;
                    n.weight = w;
                    while (model_weight > capacity) evict_one();
                }
                break;
            case 6:
                if (n.linked) {
                    p.on_remove(n);
                    n.linked = false;
                    model_weight -= n.weight;
                    --held;
                }
                break;
            case 7:
                if (rng() % 50 == 0) {  // occasionally change the budget
                    p.set_capacity(rng() % 2 ? capacity : capacity / 2);
                } else if (rng() % 4 == 0) {
                    evict_one();
                }
                break;
        }
        BOOST_TEST_REQUIRE(p.weight() == model_weight);
        BOOST_TEST_REQUIRE(model_weight <= capacity);
    }
    while (held) evict_one();
    BOOST_TEST(p.weight() == 0u);
    BOOST_TEST(p.evict() == nullptr);
}

// --- every policy inside a cache, against a model ------------------------------

struct item {
    int id = 0;
    std::uint64_t weight = 1;
    bool operator==(const item&) const = default;
    friend std::ostream& operator<<(std::ostream& o, const item& v) { return o << v.id << "/" << v.weight; }
};
struct item_weigher {
    std::uint64_t operator()(int, const item& v) const noexcept { return v.weight; }
};

struct model_entry {
    item value;
    st::manual_clock::time_point write_deadline = st::manual_clock::time_point::max();
    std::chrono::nanoseconds access_ttl{0};
    st::manual_clock::time_point deadline = st::manual_clock::time_point::max();
    unsigned pins = 0;
};

// Random puts (some with their own TTL), gets, peeks, erasures, invalidation,
// pins, clock steps, resizes and cleanups. The model learns removals only from
// the listener, so after every step it must agree with the cache exactly:
// same values, same size, same total weight; weight within the budget unless
// pins alone exceed it; pinned keys never evicted; expired values never seen.
BOOST_AUTO_TEST_CASE_TEMPLATE(cache_invariants_under_random_operations, P, all_policies) {
    std::mt19937_64 rng(st::test::test_seed() + 1);
    st::manual_clock clock;
    std::map<int, model_entry> model;  // what the cache holds, expired or not
    std::uint64_t capacity = 60;
    std::uint64_t model_hits = 0, model_misses = 0;
    std::string listener_error;  // the first thing the listener found wrong
    std::optional<int> last_replaced;
    std::optional<std::pair<int, item>> putting;  // the put in progress

    using cache_t = st::cache<int, item, P, item_weigher, st::manual_clock>;
    typename cache_t::options opts;
    opts.capacity = capacity;
    opts.ttl = {.after_write = 0ns, .after_access = 0ns};
    opts.on_removal = [&](int k, const item& v, st::removal_reason why) {
        auto fail = [&](const char* what) {
            if (listener_error.empty())
                listener_error = std::string(what) + " key " + std::to_string(k) + " " + std::string(st::to_string(why));
        };
        auto it = model.find(k);
        if (it == model.end()) return fail("unknown");
        if (!(it->second.value == v)) fail("wrong value");
        if (putting && putting->first == k && putting->second == v) fail("the value being put was reported");
        if (why == st::removal_reason::replaced) {
            last_replaced = k;
            return;  // the put decides what stays
        }
        if (why == st::removal_reason::evicted && it->second.pins) fail("pinned evicted");
        if (why == st::removal_reason::expired && it->second.deadline > clock.now()) fail("early expiry");
        model.erase(it);
    };
    cache_t c(std::move(opts), make_policy<P>(), item_weigher{}, clock);

    auto live = [&](int k) {
        auto it = model.find(k);
        return it != model.end() && it->second.deadline > clock.now();
    };
    int next_id = 1;
    for (int step = 0; step < 20000; ++step) {
        const int k = static_cast<int>(rng() % 48);
        const auto now = clock.now();
        switch (rng() % 16) {
            case 0: case 1: case 2: case 3: {  // put, sometimes with its own TTL
                item v{next_id++, 1 + rng() % 6};
                std::optional<st::expiry> ttl;
                if (rng() % 4 == 0)
                    ttl = st::expiry{.after_write = std::chrono::seconds(1 + rng() % 20),
                                     .after_access = rng() % 2 ? std::chrono::seconds(1 + rng() % 5) : 0s};
                const unsigned pins_before = live(k) ? model[k].pins : 0;
                last_replaced.reset();
                putting = {k, v};
                const bool cached = c.put(k, v, ttl);
                putting.reset();
                if (cached) {
                    model_entry& m = model[k];
                    m.value = v;
                    m.pins = pins_before;
                    m.access_ttl = ttl ? ttl->after_access : 0ns;
                    m.write_deadline = ttl ? now + ttl->after_write : st::manual_clock::time_point::max();
                    m.deadline = m.access_ttl.count() ? std::min(m.write_deadline, now + m.access_ttl) : m.write_deadline;
                } else if (model.contains(k)) {  // not cached: the older value went, reported
                    BOOST_TEST_REQUIRE((last_replaced == std::optional<int>(k)));
                    BOOST_TEST_REQUIRE(!c.contains(k));
                    model.erase(k);
                }
                break;
            }
            case 4: case 5: case 6: {
                const bool expect = live(k);
                auto got = c.get(k);
                BOOST_TEST_REQUIRE(got.has_value() == expect);
                if (got) {
                    ++model_hits;
                    model_entry& m = model[k];
                    BOOST_TEST_REQUIRE(*got == m.value);
                    if (m.access_ttl.count()) m.deadline = std::min(m.write_deadline, now + m.access_ttl);
                } else {
                    ++model_misses;
                }
                break;
            }
            case 7: {
                auto got = c.peek(k);
                BOOST_TEST_REQUIRE(got.has_value() == live(k));
                if (got) BOOST_TEST_REQUIRE(*got == model[k].value);
                break;
            }
            case 8: {
                const bool expect = live(k);
                BOOST_TEST_REQUIRE(c.erase(k) == expect);
                break;
            }
            case 9: {
                const bool expect = live(k);
                BOOST_TEST_REQUIRE(c.pin(k) == expect);
                if (expect) ++model[k].pins;
                break;
            }
            case 10: {  // the model unpins first: the last unpin may evict at once
                const bool expect = live(k) && model[k].pins > 0;
                if (expect) --model[k].pins;
                BOOST_TEST_REQUIRE(c.unpin(k) == expect);
                break;
            }
            case 11:
                clock.advance(std::chrono::milliseconds(rng() % 1500));
                break;
            case 12:
                if (rng() % 8 == 0) {
                    capacity = 20 + rng() % 80;
                    c.resize(capacity);
                }
                break;
            case 13:
                if (rng() % 16 == 0) {
                    const int parity = static_cast<int>(rng() % 2);
                    std::size_t expect = 0;
                    for (auto& [mk, m] : model) expect += (m.value.id % 2 == parity) && m.deadline > now;
                    BOOST_TEST_REQUIRE(c.erase_if([&](int, const item& v) { return v.id % 2 == parity; }) == expect);
                }
                break;
            case 14:
                c.cleanup();
                for (auto& [mk, m] : model) BOOST_TEST_REQUIRE((m.deadline > now));
                break;
            case 15:
                BOOST_TEST_REQUIRE(c.contains(k) == live(k));
                break;
        }
        BOOST_TEST_REQUIRE(listener_error == "");
        std::uint64_t weight = 0, pinned = 0;
        for (auto& [mk, m] : model) {
            weight += m.value.weight;
            if (m.pins) pinned += m.value.weight;
        }
        BOOST_TEST_REQUIRE(c.size() == model.size());
        BOOST_TEST_REQUIRE(c.weight() == weight);
        BOOST_TEST_REQUIRE(weight <= std::max(capacity, pinned));
    }
    const auto s = c.stats();
    BOOST_TEST(s.hits == model_hits);
    BOOST_TEST(s.misses == model_misses);
    BOOST_TEST(s.hits > 0u);
    BOOST_TEST(s.evictions > 0u);
    BOOST_TEST(s.expirations > 0u);
}

// The hot set of a workload survives a one-time scan larger than the cache,
// which LRU cannot do; every scan-resistant policy must.
template <class P>
std::size_t hot_keys_left_after_scan() {
    st::cache<int, int, P> c({.capacity = 100}, make_policy<P>());
    for (int round = 0; round < 8; ++round)
        for (int k = 0; k < 50; ++k)
            if (!c.get(k)) c.put(k, k);
    for (int k = 1000; k < 1400; ++k)
        if (!c.get(k)) c.put(k, k);
    std::size_t left = 0;
    for (int k = 0; k < 50; ++k) left += c.contains(k);
    return left;
}

BOOST_AUTO_TEST_CASE(hot_set_survives_a_scan_except_with_lru) {
    BOOST_TEST(hot_keys_left_after_scan<st::lru>() == 0u);
    BOOST_TEST(hot_keys_left_after_scan<st::arc>() == 50u);
    BOOST_TEST(hot_keys_left_after_scan<st::s3fifo>() == 50u);
    BOOST_TEST(hot_keys_left_after_scan<st::sieve>() == 50u);
    BOOST_TEST(hot_keys_left_after_scan<st::w_tinylfu>() == 50u);
}

// --- each policy's own rules ------------------------------------------------------

template <class P>
struct bench {
    P p;
    std::vector<std::unique_ptr<node<P>>> nodes;
    explicit bench(std::uint64_t capacity, P policy = make_policy<P>()) : p(std::move(policy)) {
        p.set_capacity(capacity);
        for (std::uint64_t k = 0; k < 64; ++k) {
            nodes.push_back(std::make_unique<node<P>>());
            nodes.back()->key = k;
        }
    }
    ~bench() {  // unlink every node before the nodes go (debug hooks check)
        while (p.evict()) {
        }
    }
    bench(const bench&) = delete;
    bench& operator=(const bench&) = delete;
    void insert(std::uint64_t k, std::uint64_t w = 1) {
        BOOST_TEST_REQUIRE(p.admit(h(k), w));
        p.on_insert(*nodes[k], h(k), w);
    }
    void hit(std::uint64_t k) { p.on_access(*nodes[k]); }
    std::uint64_t evict() {
        auto* v = p.evict();
        BOOST_TEST_REQUIRE(v != nullptr);
        return static_cast<node<P>&>(*v).key;
    }
};

BOOST_AUTO_TEST_CASE(lru_evicts_least_recently_used) {
    bench<st::lru> b(10);
    for (std::uint64_t k : {1, 2, 3, 4}) b.insert(k);
    b.hit(1);
    b.hit(3);
    BOOST_TEST(b.evict() == 2u);
    BOOST_TEST(b.evict() == 4u);
    BOOST_TEST(b.evict() == 1u);
    BOOST_TEST(b.evict() == 3u);
    BOOST_TEST(b.p.evict() == nullptr);
}

// The SIEVE paper's walk-through: the hand clears visited bits on its way
// from the oldest entry and stays where it evicted.
BOOST_AUTO_TEST_CASE(sieve_hand_skips_visited_and_stays) {
    bench<st::sieve> b(10);
    for (std::uint64_t k : {1, 2, 3, 4, 5}) b.insert(k);  // 1 oldest
    b.hit(1);
    b.hit(3);
    BOOST_TEST(b.evict() == 2u);  // 1 visited: spared, bit cleared
    BOOST_TEST(b.evict() == 4u);  // hand was at 3: visited, spared
    b.insert(6);
    b.hit(5);
    BOOST_TEST(b.evict() == 6u);  // 5 spared; hand reaches the newest
    BOOST_TEST(b.evict() == 1u);  // wraps to the oldest; its bit was cleared
    BOOST_TEST(b.evict() == 3u);
    BOOST_TEST(b.evict() == 5u);
}

BOOST_AUTO_TEST_CASE(sieve_hand_moves_off_an_erased_entry) {
    bench<st::sieve> b(10);
    for (std::uint64_t k : {1, 2, 3}) b.insert(k);
    b.hit(1);
    BOOST_TEST(b.evict() == 2u);  // hand now at 3
    b.p.on_remove(*b.nodes[3]);   // the hand's entry is erased
    BOOST_TEST(b.evict() == 1u);  // wraps safely
}

BOOST_AUTO_TEST_CASE(arc_adapts_target_on_ghost_hits) {
    bench<st::arc> b(4);
    for (std::uint64_t k : {1, 2, 3, 4}) b.insert(k);  // T1 = 1 2 3 4
    BOOST_TEST(b.p.target_t1() == 0.0);
    b.hit(3);
    b.hit(4);  // T1 = 1 2, T2 = 3 4
    // Miss on 5: T1 (2) > p (0), so REPLACE takes T1's LRU into B1.
    BOOST_TEST(b.p.admit(h(5), 1));
    BOOST_TEST(b.evict() == 1u);
    b.p.on_insert(*b.nodes[5], h(5), 1);
    BOOST_TEST(b.p.ghost_weight() == 1u);
    // 1 returns: a B1 hit says T1 was too small; p grows and 1 enters T2.
    BOOST_TEST(b.p.admit(h(1), 1));
    BOOST_TEST(b.p.target_t1() == 1.0);
    BOOST_TEST(b.evict() == 2u);  // |T1| = 2 > p = 1: T1's LRU
    b.p.on_insert(*b.nodes[1], h(1), 1);
    // 3 is T2's LRU now; evicting from T2 feeds B2, and a B2 hit shrinks p.
    b.p.on_remove(*b.nodes[5]);  // T1 empty: the next victim comes from T2
    BOOST_TEST(b.p.admit(h(6), 1));
    BOOST_TEST(b.evict() == 3u);
    b.p.on_insert(*b.nodes[6], h(6), 1);
    BOOST_TEST(b.p.admit(h(3), 1));
    BOOST_TEST(b.p.target_t1() == 0.0);
}

BOOST_AUTO_TEST_CASE(arc_ghost_directory_stays_within_2c) {
    st::cache<int, int, st::arc> c(50);
    std::mt19937 rng(3);
    for (int i = 0; i < 20000; ++i) {
        const int k = static_cast<int>(rng() % 400);
        if (!c.get(k)) c.put(k, k);
        BOOST_TEST_REQUIRE(c.policy().ghost_weight() + c.weight() <= 100u);
        BOOST_TEST_REQUIRE(c.policy().target_t1() <= 50.0);
    }
}

BOOST_AUTO_TEST_CASE(s3fifo_one_hit_wonders_leave_from_small_queue) {
    bench<st::s3fifo> b(10);  // S = 1, M = 9
    for (std::uint64_t k = 1; k <= 10; ++k) b.insert(k);  // all in S (nothing evicted yet)
    b.hit(2), b.hit(2);  // two hits earn M (promote_after = 2, the paper's freq > 1)
    b.hit(3), b.hit(3);
    b.hit(4);            // one is not enough
    // S is over its share: 1 was never hit and leaves; 2 and 3 will move to M.
    BOOST_TEST(b.p.admit(h(11), 1));
    BOOST_TEST(b.evict() == 1u);
    b.p.on_insert(*b.nodes[11], h(11), 1);
    BOOST_TEST(b.p.admit(h(12), 1));
    BOOST_TEST(b.evict() == 4u);  // 2 and 3 were promoted on the way
    b.p.on_insert(*b.nodes[12], h(12), 1);
    BOOST_TEST(b.p.ghost_weight() == 2u);  // 1 and 4 remembered
    // 1 returns: its ghost sends it straight to M; S does not grow.
    const std::uint64_t small_before = b.p.small_weight();
    BOOST_TEST(b.p.admit(h(1), 1));
    BOOST_TEST(b.evict() == 5u);
    b.p.on_insert(*b.nodes[1], h(1), 1);
    BOOST_TEST(b.p.small_weight() == small_before - 1);
    BOOST_TEST(b.p.ghost_weight() == 2u);  // 1 forgotten as a ghost, 5 added
}

BOOST_AUTO_TEST_CASE(s3fifo_main_queue_gives_hit_entries_another_round) {
    bench<st::s3fifo> b(3, st::s3fifo(0.0));  // no share for S: newcomers leave from it first
    for (std::uint64_t k : {1, 2, 3}) b.insert(k);
    for (std::uint64_t k : {1, 2, 3}) BOOST_TEST(b.evict() == k);  // one-hit wonders -> ghosts
    for (std::uint64_t k : {1, 2, 3}) b.insert(k);  // ghosts return straight to M
    BOOST_TEST(b.p.small_weight() == 0u);
    b.hit(1);
    BOOST_TEST(b.evict() == 2u);  // 1 used its hit to go round again
    BOOST_TEST(b.evict() == 3u);
    BOOST_TEST(b.evict() == 1u);
}

BOOST_AUTO_TEST_CASE(w_tinylfu_keeps_frequent_keys_against_a_stream_of_new_ones) {
    // Each round uses 90 hot keys and 20 keys never seen again: 110 distinct
    // keys for 100 places. LRU cycles and loses hot keys every round;
    // W-TinyLFU keeps the hot set because newcomers lose the frequency duel.
    auto hot_hit_rate = [](auto&& c) {
        int next = 1000, hits = 0, gets = 0;
        for (int round = 0; round < 100; ++round) {
            for (int k = 0; k < 90; ++k) {
                const bool hit = c.get(k).has_value();
                if (!hit) c.put(k, k);
                if (round >= 50) hits += hit, ++gets;
            }
            for (int j = 0; j < 20; ++j, ++next)
                if (!c.get(next)) c.put(next, next);
        }
        return static_cast<double>(hits) / gets;
    };
    BOOST_TEST(hot_hit_rate(st::cache<int, int, st::w_tinylfu>({.capacity = 100}, make_policy<st::w_tinylfu>())) >= 0.99);
    BOOST_TEST(hot_hit_rate(st::cache<int, int, st::lru>(100)) < 0.5);
}

// Hash flooding: an attacker who keeps main's keys hotter than any newcomer
// (by flooding the sketch) would freeze the cache. A warm candidate (estimate
// >= 6) that loses on counts is still admitted 1 time in 128; a cold one never.
BOOST_AUTO_TEST_CASE(w_tinylfu_admits_warm_losers_rarely_and_cold_losers_never) {
    st::w_tinylfu p(st::w_tinylfu::options{.seed = 11});
    p.set_capacity(1000);
    const std::uint64_t victim = h(1), warm = h(2), cold = h(3);
    for (int i = 0; i < 20; ++i) p.admit(victim, 1);
    for (int i = 0; i < 8; ++i) p.admit(warm, 1);
    for (int i = 0; i < 2; ++i) p.admit(cold, 1);
    BOOST_TEST(p.frequency(victim) == 15u);  // saturated
    BOOST_TEST(p.frequency(warm) == 8u);
    BOOST_TEST(p.admits(victim, warm));  // more frequent always wins
    int warm_wins = 0, cold_wins = 0;
    for (int i = 0; i < 128 * 100; ++i) {
        warm_wins += p.admits(warm, victim);
        cold_wins += p.admits(cold, victim);
    }
    BOOST_TEST(warm_wins >= 60);  // about 100 expected
    BOOST_TEST(warm_wins <= 150);
    BOOST_TEST(cold_wins == 0);
}

// --- building blocks -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(sketch_counts_saturates_and_ages) {
    st::detail::frequency_sketch s(42, /*doorkeeper=*/false);
    s.ensure_capacity(1024);
    BOOST_TEST(s.frequency(h(1)) == 0u);
    for (int i = 0; i < 5; ++i) s.increment(h(1));
    BOOST_TEST(s.frequency(h(1)) == 5u);  // count-min never under-counts
    for (int i = 0; i < 30; ++i) s.increment(h(1));
    BOOST_TEST(s.frequency(h(1)) == 15u);  // 4-bit counters saturate
    s.age();
    BOOST_TEST(s.frequency(h(1)) == 7u);
    // Aging also happens by itself after 10 × width additions.
    for (std::uint64_t k = 100; k < 100 + 10 * s.keys(); ++k) s.increment(h(k));
    BOOST_TEST(s.frequency(h(1)) <= 3u);
}

BOOST_AUTO_TEST_CASE(sketch_doorkeeper_absorbs_first_sighting) {
    st::detail::frequency_sketch s(42, /*doorkeeper=*/true);
    s.ensure_capacity(1024);
    s.increment(h(9));
    BOOST_TEST(s.frequency(h(9)) == 1u);  // the doorkeeper's bit alone
    s.increment(h(9));
    s.increment(h(9));
    BOOST_TEST(s.frequency(h(9)) == 3u);
    s.age();  // clears the doorkeeper, halves counters
    BOOST_TEST(s.frequency(h(9)) == 1u);
}

BOOST_AUTO_TEST_CASE(sketch_seed_changes_which_keys_collide) {
    // Keys that share all four counters under one seed almost never do under
    // another: an attacker cannot precompute collisions.
    st::detail::frequency_sketch a(1, false), b(2, false);
    a.ensure_capacity(16);
    b.ensure_capacity(16);
    for (int i = 0; i < 15; ++i) a.increment(h(0)), b.increment(h(0));
    std::size_t colliding_a = 0, colliding_b_same = 0;
    for (std::uint64_t k = 1; k < 20000; ++k) {
        if (a.frequency(h(k)) == 15) {
            ++colliding_a;
            colliding_b_same += b.frequency(h(k)) == 15;
        }
    }
    BOOST_TEST(colliding_a > 0u);
    BOOST_TEST(colliding_b_same * 4 < colliding_a);
}

BOOST_AUTO_TEST_CASE(ghost_queue_is_fifo_with_lookup) {
    st::detail::ghost_queue g;
    for (std::uint64_t k = 1; k <= 100; ++k) g.push(h(k), k);
    BOOST_TEST(g.size() == 100u);
    BOOST_TEST(g.weight() == 5050u);
    BOOST_TEST(*g.find(h(40)) == 40u);
    BOOST_TEST(g.erase(h(40)));
    BOOST_TEST(!g.find(h(40)));
    g.pop_oldest();
    BOOST_TEST(!g.find(h(1)));
    BOOST_TEST(g.weight() == 5050u - 40 - 1);
    g.push(h(2), 7);  // re-pushing moves it to the newest end
    g.pop_oldest();   // drops 3, not 2
    BOOST_TEST(!g.find(h(3)));
    BOOST_TEST(*g.find(h(2)) == 7u);
    g.clear();
    BOOST_TEST(g.empty());
    BOOST_TEST(g.weight() == 0u);
}

}  // namespace

// The adaptive window: on a recency-heavy stream (each key is asked for a
// few times within a short span, then never again) frequency says nothing
// and the climber must grow the window from its 1% start; pinned
// (adaptive = false) it stays where it started.
BOOST_AUTO_TEST_CASE(w_tinylfu_window_grows_on_a_recency_workload) {
    auto run = [](bool adaptive) {
        st::cache<int, int, st::w_tinylfu> c({.capacity = 1000},
                                             st::w_tinylfu(st::w_tinylfu::options{.adaptive = adaptive, .seed = 3}));
        std::mt19937_64 rng(5);
        for (int i = 0; i < 200000; ++i) {
            int key = i / 4 + static_cast<int>(rng() % 600);
            if (!c.get(key)) c.put(key, key);
        }
        return c.policy().window_limit();
    };
    BOOST_TEST(run(false) == 10u);
    BOOST_TEST(run(true) > 100u);
}
