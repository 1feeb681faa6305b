// concurrent_cache.hpp: sharding, budgets, and the stated guarantees under
// many threads — no stale or foreign value is ever read, every value that
// entered is still there or was reported to the listener exactly once, one
// loader per key, and the budget holds once the threads are done.
#define BOOST_TEST_MODULE cache_concurrent
#include <stowage/concurrent_cache.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>

#include "test_support.hpp"

#include <boost/mpl/list.hpp>

#include <atomic>
#include <barrier>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace st = stowage;

namespace {

using all_policies = boost::mpl::list<st::lru, st::arc, st::s3fifo, st::sieve, st::w_tinylfu>;

constexpr int threads = 8;

// A value names its key and a version, so a foreign or older value shows.
struct versioned {
    int key = 0;
    std::uint64_t version = 0;
    std::uint64_t weight = 1;
};
struct versioned_weigher {
    std::uint64_t operator()(int, const versioned& v) const noexcept { return v.weight; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(shards_split_the_budget) {
    st::concurrent_cache<int, int> c({.capacity = 1003, .shards = 6});
    BOOST_TEST(c.shard_count() == 8u);  // rounded up to a power of two
    BOOST_TEST(c.capacity() == 1003u);  // the remainder is spread, not lost
    for (int k = 0; k < 5000; ++k) c.put(k, k);
    BOOST_TEST(c.size() <= 1003u);
    BOOST_TEST(c.size() >= 900u);  // keys spread evenly enough that shards fill
    c.resize(100);
    BOOST_TEST(c.capacity() == 100u);
    BOOST_TEST(c.size() <= 100u);
    st::concurrent_cache<int, int> one({.capacity = 10, .shards = 1});
    BOOST_TEST(one.shard_count() == 1u);
    for (int k = 0; k < 10; ++k) one.put(k, k);
    BOOST_TEST(one.size() == 10u);  // a single shard is exactly a cache
}

BOOST_AUTO_TEST_CASE(single_threaded_api_matches_cache) {
    st::concurrent_cache<std::string, std::string> c({.capacity = 100, .shards = 4});
    c.put_many(std::vector<std::pair<std::string, std::string>>{{"a/1", "x"}, {"a/2", "y"}, {"b/1", "z"}});
    BOOST_TEST(*c.get("a/1") == "x");
    BOOST_TEST(*c.peek("b/1") == "z");
    BOOST_TEST(c.erase_prefix("a/") == 2u);
    BOOST_TEST(c.size() == 1u);
    BOOST_TEST(c.get_many(std::vector<std::string>{"a/1", "b/1"})[1].value() == "z");
    BOOST_TEST(c.pin("b/1"));
    BOOST_TEST(c.unpin("b/1"));
    BOOST_TEST(c.erase_if([](const std::string&, const std::string& v) { return v == "z"; }) == 1u);
    BOOST_TEST(c.get_or_load("q", [](const std::string& k) { return k + k; }) == "qq");
    BOOST_TEST(c.erase_many(std::vector<std::string>{"q"}) == 1u);
    const auto s = c.stats();
    BOOST_TEST(s.hits == 2u);    // a/1, then get_many's b/1
    BOOST_TEST(s.misses == 2u);  // get_many's a/1 and get_or_load's q
    BOOST_TEST(s.loads == 1u);
    c.clear();
    BOOST_TEST(c.size() == 0u);
}

// Eight threads hammer overlapping keys with puts, gets, erases and pins.
// Each thread also owns a private key range and remembers the last version
// it wrote there: a get of an owned key returns that version or nothing.
BOOST_AUTO_TEST_CASE_TEMPLATE(many_threads_never_read_stale_or_foreign_values, P, all_policies) {
    std::atomic<std::uint64_t> entered{0}, left{0};
    std::atomic<bool> bad_listener{false};
    using cache_t = st::concurrent_cache<int, versioned, P, versioned_weigher>;
    typename cache_t::options o;
    o.capacity = 400;
    o.shards = 8;
    o.on_removal = [&](int k, const versioned& v, st::removal_reason) {
        if (v.key != k) bad_listener = true;
        ++left;
    };
    cache_t c(std::move(o));
    std::atomic<std::uint64_t> global_version{1};
    std::atomic<int> errors{0};
    std::barrier start(threads);
    const std::uint64_t seed = st::test::test_seed();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::mt19937_64 rng(seed + t);
            std::vector<std::uint64_t> mine(64, 0);  // owned keys: 10000*t + i
            start.arrive_and_wait();
            for (int step = 0; step < 20000; ++step) {
                const bool own = rng() % 2;
                const int i = static_cast<int>(rng() % 64);
                const int k = own ? 10000 * (t + 1) + i : static_cast<int>(rng() % 256);
                switch (rng() % 6) {
                    case 0: case 1: {
                        const std::uint64_t v = global_version++;
                        if (c.put(k, versioned{k, v, 1 + rng() % 4})) ++entered;
                        if (own) mine[i] = v;
                        break;
                    }
                    case 2: case 3: {
                        auto got = c.get(k);
                        if (got && got->key != k) ++errors;
                        if (own && got && got->version != mine[i]) ++errors;
                        break;
                    }
                    case 4:
                        c.erase(k);
                        break;
                    case 5:
                        if (c.pin(k)) {
                            auto got = c.peek(k);
                            if (got && got->key != k) ++errors;
                            // Only this thread touches an owned key, and a pinned
                            // entry is never evicted: it must be there, unchanged.
                            if (own && (!got || got->version != mine[i])) ++errors;
                            c.unpin(k);
                        }
                        break;
                }
            }
        });
    }
    for (auto& th : pool) th.join();
    BOOST_TEST(errors.load() == 0);
    BOOST_TEST(!bad_listener.load());
    BOOST_TEST(c.weight() <= 400u);
    // Every value that entered is still held or was reported exactly once.
    BOOST_TEST(entered.load() == left.load() + c.size());
    const auto s = c.stats();
    BOOST_TEST(s.hits + s.misses > 0u);
}

BOOST_AUTO_TEST_CASE(get_or_load_runs_one_loader_per_key_across_threads) {
    st::concurrent_cache<int, int> c({.capacity = 100000, .shards = 16});
    constexpr int keys = 200;
    std::vector<std::atomic<int>> calls(keys);
    std::atomic<int> wrong{0};
    std::barrier start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int round = 0; round < 3; ++round)
                for (int j = 0; j < keys; ++j) {
                    const int k = (j * 7 + t * 13) % keys;  // threads collide on keys in different orders
                    const int v = c.get_or_load(k, [&](int key) {
                        ++calls[key];
                        std::this_thread::sleep_for(50us);
                        return key * 3;
                    });
                    if (v != k * 3) ++wrong;
                }
        });
    for (auto& th : pool) th.join();
    BOOST_TEST(wrong.load() == 0);
    for (int k = 0; k < keys; ++k) BOOST_TEST_REQUIRE(calls[k].load() == 1);
    BOOST_TEST(c.stats().loads == static_cast<std::uint64_t>(keys));
}

BOOST_AUTO_TEST_CASE(readers_see_writes_that_returned) {
    // A writer bumps a counter key and publishes the version it wrote; readers
    // that read the published version first must then see at least it.
    st::concurrent_cache<int, std::uint64_t> c({.capacity = 1000, .shards = 8});
    std::atomic<std::uint64_t> published{0};
    std::atomic<bool> done{false};
    std::atomic<int> stale{0};
    c.put(1, 0);
    std::thread writer([&] {
        for (std::uint64_t v = 1; v <= 20000; ++v) {
            c.put(1, v);
            published.store(v, std::memory_order_release);
        }
        done = true;
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
        readers.emplace_back([&] {
            while (!done) {
                const std::uint64_t floor = published.load(std::memory_order_acquire);
                auto got = c.get(1);
                if (!got || *got < floor) ++stale;
            }
        });
    writer.join();
    for (auto& th : readers) th.join();
    BOOST_TEST(stale.load() == 0);
}

// Gets of present keys run beside each other without the exclusive lock and
// record their accesses for the policy; writers evict at the same time. A
// recorded access must never outlive its entry (ASan/TSan runs watch this),
// reads are monotonic per key, and the statistics stay exact.
BOOST_AUTO_TEST_CASE_TEMPLATE(shared_reads_beside_evicting_writers, P, all_policies) {
    using cache_t = st::cache<int, versioned, P, versioned_weigher>;
    cache_t c({.capacity = 200});
    constexpr int keys = 400, writers = 2, readers = threads - writers;
    std::atomic<int> errors{0};
    std::atomic<std::uint64_t> hits{0}, misses{0};
    std::atomic<int> writers_left{writers};
    std::barrier start(threads);
    const std::uint64_t seed = st::test::test_seed();
    std::vector<std::thread> pool;
    for (int w = 0; w < writers; ++w)
        pool.emplace_back([&, w] {
            // Writer w owns the keys k % writers == w, so each key's versions rise.
            std::mt19937_64 rng(seed + 100 + w);
            start.arrive_and_wait();
            for (std::uint64_t v = 1; v <= 20000; ++v) {
                const int k = static_cast<int>(rng() % (keys / writers)) * writers + w;
                if (rng() % 8 == 0) {
                    c.erase(k);
                } else {
                    c.put(k, versioned{k, v, 1 + rng() % 4});
                }
            }
            --writers_left;
        });
    for (int r = 0; r < readers; ++r)
        pool.emplace_back([&, r] {
            std::mt19937_64 rng(seed + r);
            std::vector<std::uint64_t> seen(keys, 0);
            std::uint64_t h = 0, m = 0;
            start.arrive_and_wait();
            for (int step = 0; writers_left.load() > 0 || step < 20000; ++step) {
                // Skewed towards low keys, so that readers share hot entries.
                const int k = static_cast<int>((rng() % keys) * (rng() % keys) / keys);
                auto got = c.get(k);
                if (!got) {
                    ++m;
                    continue;
                }
                ++h;
                if (got->key != k || got->version < seen[k]) ++errors;
                seen[k] = got->version;
            }
            hits += h;
            misses += m;
        });
    for (auto& th : pool) th.join();
    BOOST_TEST(errors.load() == 0);
    const auto s = c.stats();
    BOOST_TEST(s.hits == hits.load());
    BOOST_TEST(s.misses == misses.load());
    BOOST_TEST(s.hits > 0u);
    BOOST_TEST(c.weight() <= 200u);
    // The policy is still consistent: it evicts down to any new budget and
    // accounts every entry's weight.
    c.resize(50);
    BOOST_TEST(c.weight() <= 50u);
    std::uint64_t w = 0;
    for (int k = 0; k < keys; ++k)
        if (auto v = c.peek(k)) w += v->weight;
    BOOST_TEST(w == c.weight());
    for (int k = 0; k < keys; ++k) c.put(k, versioned{k, 1, 1});
    BOOST_TEST(c.weight() <= 50u);
}
