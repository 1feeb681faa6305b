// cache.hpp: lookups, weights, expiry, single-flight loading, invalidation,
// batches, the removal listener, pinning and statistics.
#define BOOST_TEST_MODULE cache_core
#include <stowage/cache.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>

#include "test_support.hpp"

#include <atomic>
#include <barrier>
#include <latch>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using std::chrono::milliseconds;
namespace st = stowage;

namespace {

using text_cache = st::cache<std::string, std::string, st::lru, st::size_weigher, st::manual_clock>;

struct recorded {
    std::string key, value;
    st::removal_reason why;
    bool operator==(const recorded&) const = default;
    friend std::ostream& operator<<(std::ostream& o, const recorded& r) {
        return o << r.key << "=" << r.value << " " << st::to_string(r.why);
    }
};

// A text cache whose removals are recorded (the listener runs on the caller's thread).
struct fixture {
    st::manual_clock clock;
    std::vector<recorded> removed;
    text_cache c;
    explicit fixture(std::uint64_t capacity, st::expiry ttl = {})
        : c(text_cache::options{.capacity = capacity,
                                .ttl = ttl,
                                .on_removal = [this](const std::string& k, const std::string& v,
                                                     st::removal_reason why) { removed.push_back({k, v, why}); }},
            st::lru{}, st::size_weigher{}, clock) {}
};

}  // namespace

BOOST_AUTO_TEST_CASE(get_put_erase_contains_clear) {
    st::cache<int, std::string> c(3);
    BOOST_TEST(!c.get(1));
    BOOST_TEST(c.put(1, "one"));
    BOOST_TEST(c.put(2, "two"));
    BOOST_TEST(*c.get(1) == "one");
    BOOST_TEST(c.contains(2));
    BOOST_TEST(c.size() == 2u);
    BOOST_TEST(c.weight() == 2u);
    BOOST_TEST(c.put(1, "uno"));  // replace keeps one entry
    BOOST_TEST(*c.peek(1) == "uno");
    BOOST_TEST(c.size() == 2u);
    BOOST_TEST(c.erase(1));
    BOOST_TEST(!c.erase(1));
    BOOST_TEST(!c.contains(1));
    c.clear();
    BOOST_TEST(c.size() == 0u);
    BOOST_TEST(c.weight() == 0u);
}

BOOST_AUTO_TEST_CASE(peek_does_not_touch_recency_get_does) {
    st::cache<int, int> c(2);
    c.put(1, 1);
    c.put(2, 2);
    c.peek(1);     // 1 stays least recent
    c.put(3, 3);   // evicts 1
    BOOST_TEST(!c.contains(1));
    c.get(2);      // 2 becomes most recent
    c.put(4, 4);   // evicts 3
    BOOST_TEST(c.contains(2));
    BOOST_TEST(!c.contains(3));
    const auto s = c.stats();
    BOOST_TEST(s.hits == 1u);  // peek and contains count nothing
    BOOST_TEST(s.misses == 0u);
    BOOST_TEST(s.evictions == 2u);
}

// A hit is recorded in the reading thread's ring and replayed into the
// policy later (detail/cache_read_stripes.hpp). One thread must still see
// exact LRU: reads in a different order from the puts, more of them than a
// ring holds, and an eviction right after decides by every one of them.
BOOST_AUTO_TEST_CASE(recorded_reads_reach_the_policy_in_order) {
    constexpr int n = 400;  // reads: several rings' worth (a ring holds 128)
    st::cache<int, int> c(n);
    for (int k = 0; k < n; ++k) c.put(k, k);
    // Read the odd keys downwards, then the even ones upwards: the least
    // recent are now the odd keys, largest first.
    for (int k = n - 1; k >= 1; k -= 2) BOOST_TEST_REQUIRE(c.get(k).value() == k);
    for (int k = 0; k <= n - 2; k += 2) BOOST_TEST_REQUIRE(c.get(k).value() == k);
    for (int k = n; k < n + n / 2; ++k) c.put(k, k);  // evicts n/2
    for (int k = n - 1; k >= 1; k -= 2) BOOST_TEST_REQUIRE(!c.contains(k));
    for (int k = 0; k <= n - 2; k += 2) BOOST_TEST_REQUIRE(c.contains(k));
    // A read just before an eviction counts, however few reads came before.
    c.get(0);
    c.put(n + n / 2, 0);  // 2 is now the least recent, not 0
    BOOST_TEST(c.contains(0));
    BOOST_TEST(!c.contains(2));
    const auto s = c.stats();
    BOOST_TEST(s.hits == static_cast<std::uint64_t>(n + 1));
    BOOST_TEST(s.evictions == static_cast<std::uint64_t>(n / 2 + 1));
}

BOOST_AUTO_TEST_CASE(byte_budget_with_size_weigher) {
    fixture f(10);
    BOOST_TEST(f.c.put("a", "12345"));
    BOOST_TEST(f.c.put("b", "1234"));
    BOOST_TEST(f.c.weight() == 9u);
    BOOST_TEST(f.c.put("c", "123"));  // 12 > 10: "a" (least recent) goes
    BOOST_TEST(f.c.weight() == 7u);
    BOOST_TEST(!f.c.contains("a"));
    BOOST_TEST(f.removed == (std::vector<recorded>{{"a", "12345", st::removal_reason::evicted}}));
    // Heavier than the whole budget: not cached, and nothing evicted for it.
    BOOST_TEST(!f.c.put("huge", std::string(11, 'x')));
    BOOST_TEST(!f.c.contains("huge"));
    BOOST_TEST(f.c.weight() == 7u);
    // Replacing with a too-heavy value removes the old one: no stale read.
    BOOST_TEST(!f.c.put("b", std::string(11, 'x')));
    BOOST_TEST(!f.c.contains("b"));
    BOOST_TEST(f.removed.back() == (recorded{"b", "1234", st::removal_reason::replaced}));
    BOOST_TEST(f.c.weight() == 3u);
    // A value that grows evicts others to fit.
    BOOST_TEST(f.c.put("d", "1234567"));
    BOOST_TEST(f.c.put("c", "12345"));
    BOOST_TEST(f.c.weight() == 5u);
    BOOST_TEST(!f.c.contains("d"));
}

BOOST_AUTO_TEST_CASE(resize_evicts_down_to_the_new_budget) {
    st::cache<int, int> c(10);
    for (int k = 0; k < 10; ++k) c.put(k, k);
    c.resize(4);
    BOOST_TEST(c.size() == 4u);
    for (int k = 6; k < 10; ++k) BOOST_TEST(c.contains(k));  // the most recent stay
    c.resize(0);
    BOOST_TEST(c.size() == 0u);
    BOOST_TEST(!c.put(1, 1));  // a zero budget caches nothing
    c.resize(2);
    BOOST_TEST(c.put(1, 1));
    BOOST_TEST(c.capacity() == 2u);
}

BOOST_AUTO_TEST_CASE(expire_after_write) {
    fixture f(100, {.after_write = 10s});
    f.c.put("k", "v");
    f.clock.advance(9s);
    BOOST_TEST(*f.c.get("k") == "v");  // reads do not extend a write TTL
    f.clock.advance(1s);
    BOOST_TEST(!f.c.get("k"));
    BOOST_TEST(!f.c.peek("k"));
    BOOST_TEST(f.removed == (std::vector<recorded>{{"k", "v", st::removal_reason::expired}}));
    BOOST_TEST(f.c.stats().expirations == 1u);
    // A put restarts the clock.
    f.c.put("k", "v2");
    f.clock.advance(5s);
    f.c.put("k", "v3");
    f.clock.advance(6s);
    BOOST_TEST(*f.c.get("k") == "v3");
}

BOOST_AUTO_TEST_CASE(expire_after_access_and_both) {
    fixture f(100, {.after_write = 30s, .after_access = 5s});
    f.c.put("k", "v");
    for (int i = 0; i < 5; ++i) {
        f.clock.advance(4s);
        BOOST_TEST(f.c.get("k").has_value());  // each read gives 5 more seconds
    }
    f.clock.advance(4s);
    BOOST_TEST(f.c.contains("k"));
    BOOST_TEST(f.c.peek("k").has_value());  // peek does not refresh...
    f.clock.advance(2s);
    BOOST_TEST(!f.c.get("k"));  // ...so 6 s after the last get it is gone
    // The write TTL caps access refreshes.
    f.c.put("w", "v");
    for (int i = 0; i < 7; ++i) {
        f.clock.advance(4s);
        BOOST_TEST(f.c.get("w").has_value());  // 28 s after the write, read 4 s ago
    }
    f.clock.advance(3s);
    BOOST_TEST(!f.c.get("w"));  // 31 s after the write, though read 3 s ago
    BOOST_TEST(f.c.stats().expirations == 2u);
}

BOOST_AUTO_TEST_CASE(per_entry_ttl_overrides_the_cache_default) {
    fixture f(100, {.after_write = 100s});
    f.c.put("short", "v", st::expiry{.after_write = 1s});
    f.c.put("forever", "v", st::expiry{});
    f.c.put("default", "v");
    f.clock.advance(2s);
    BOOST_TEST(!f.c.contains("short"));
    f.clock.advance(200s);
    BOOST_TEST(f.c.contains("forever"));
    BOOST_TEST(!f.c.contains("default"));
}

BOOST_AUTO_TEST_CASE(expired_entries_do_not_linger) {
    fixture f(1000, {.after_write = 1s});
    for (int i = 0; i < 100; ++i) f.c.put("k" + std::to_string(i), "v");
    f.clock.advance(2s);
    BOOST_TEST(f.c.size() == 100u);  // nothing ran yet
    f.c.put("fresh", "v");           // any write purges what expired
    BOOST_TEST(f.c.size() == 1u);
    BOOST_TEST(f.removed.size() == 100u);
    // Reads alone purge too (every 64 reads), and cleanup() on demand.
    for (int i = 0; i < 50; ++i) f.c.put("r" + std::to_string(i), "v", st::expiry{.after_write = 1s});
    f.clock.advance(2s);
    for (int i = 0; i < 64; ++i) f.c.get("fresh-missing");
    BOOST_TEST(f.c.size() == 0u);  // "fresh" (1 s TTL too) and the r's
    f.c.put("x", "v");
    f.clock.advance(2s);
    BOOST_TEST(f.c.cleanup() == 1u);
    BOOST_TEST(f.c.size() == 0u);
}

BOOST_AUTO_TEST_CASE(listener_reports_every_reason_and_may_call_back) {
    st::cache<int, int>* self = nullptr;
    std::vector<std::pair<int, st::removal_reason>> seen;
    std::vector<std::size_t> sizes_seen;
    st::cache<int, int> c({.capacity = 2, .on_removal = [&](int k, int, st::removal_reason r) {
                               seen.emplace_back(k, r);
                               sizes_seen.push_back(self->size());  // would deadlock under the lock
                           }});
    self = &c;
    c.put(1, 1);
    c.put(1, 11);  // replaced
    c.put(2, 2);
    c.put(3, 3);   // evicts 1
    c.erase(2);    // erased
    c.clear();     // erased
    using r = st::removal_reason;
    BOOST_TEST((seen == std::vector<std::pair<int, r>>{{1, r::replaced}, {1, r::evicted}, {2, r::erased}, {3, r::erased}}));
    BOOST_TEST(sizes_seen.size() == 4u);
}

BOOST_AUTO_TEST_CASE(invalidate_by_key_predicate_prefix_and_batches) {
    fixture f(1000);
    f.c.put_many(std::vector<std::pair<std::string, std::string>>{
        {"sessions/1", "a"}, {"sessions/2", "bb"}, {"topics/1", "c"}, {"topics/2", "dddd"}, {"tags/x", "e"}});
    BOOST_TEST(f.c.size() == 5u);
    auto got = f.c.get_many(std::vector<std::string>{"sessions/1", "nope", "tags/x"});
    BOOST_TEST(got.size() == 3u);
    BOOST_TEST(*got[0] == "a");
    BOOST_TEST(!got[1]);
    BOOST_TEST(*got[2] == "e");
    BOOST_TEST(f.c.erase_prefix("sessions/") == 2u);
    BOOST_TEST(!f.c.contains("sessions/2"));
    BOOST_TEST(f.c.contains("topics/1"));
    BOOST_TEST(f.c.erase_if([](const std::string&, const std::string& v) { return v.size() > 2; }) == 1u);
    BOOST_TEST(!f.c.contains("topics/2"));
    BOOST_TEST(f.c.erase_many(std::vector<std::string>{"topics/1", "tags/x", "absent"}) == 2u);
    BOOST_TEST(f.c.size() == 0u);
    BOOST_TEST(f.removed.size() == 5u);
    for (auto& r : f.removed) BOOST_TEST((r.why == st::removal_reason::erased));
}

BOOST_AUTO_TEST_CASE(put_many_copies_lvalues_and_moves_rvalues) {
    st::cache<std::string, std::string> c(10);
    std::vector<std::pair<std::string, std::string>> items{{"k", std::string(100, 'v')}};
    BOOST_TEST(c.put_many(items) == 1u);
    BOOST_TEST(items[0].second.size() == 100u);  // left alone
    BOOST_TEST(c.put_many(std::move(items)) == 1u);
    BOOST_TEST(c.get("k")->size() == 100u);
}

BOOST_AUTO_TEST_CASE(pinned_entries_are_never_evicted) {
    st::cache<int, int> c(3);
    c.put(1, 1);
    BOOST_TEST(c.pin(1));
    BOOST_TEST(c.pin(1));  // pins nest
    BOOST_TEST(!c.pin(99));
    for (int k = 2; k < 50; ++k) c.put(k, k);
    BOOST_TEST(c.contains(1));
    BOOST_TEST(c.size() == 3u);
    BOOST_TEST(c.unpin(1));
    for (int k = 50; k < 60; ++k) c.put(k, k);
    BOOST_TEST(c.contains(1));  // still pinned once
    BOOST_TEST(c.unpin(1));
    BOOST_TEST(!c.unpin(1));
    for (int k = 60; k < 70; ++k) c.put(k, k);
    BOOST_TEST(!c.contains(1));
}

BOOST_AUTO_TEST_CASE(pins_take_budget_and_a_full_pin_set_refuses_newcomers) {
    st::cache<int, int> c(2);
    c.put(1, 1);
    c.put(2, 2);
    c.pin(1);
    c.pin(2);
    BOOST_TEST(!c.put(3, 3));  // nothing may be evicted for it
    BOOST_TEST(c.contains(1));
    BOOST_TEST(c.contains(2));
    BOOST_TEST(c.put(1, 10));  // a pinned entry can still be replaced
    BOOST_TEST(*c.get(1) == 10);
    BOOST_TEST(c.erase(2));    // and erased
    BOOST_TEST(c.put(3, 3));
    c.resize(1);               // pins may exceed a smaller budget
    BOOST_TEST(c.contains(1));
    BOOST_TEST(!c.contains(3));
    BOOST_TEST(c.weight() == 1u);
}

BOOST_AUTO_TEST_CASE(pinned_entries_still_expire) {
    fixture f(100, {.after_write = 1s});
    f.c.put("k", "v");
    BOOST_TEST(f.c.pin("k"));
    f.clock.advance(2s);
    BOOST_TEST(!f.c.get("k"));
    BOOST_TEST(!f.c.unpin("k"));
}

BOOST_AUTO_TEST_CASE(get_or_load_caches_success_not_failure) {
    st::cache<std::string, int> c(10);
    int calls = 0;
    auto loader = [&](const std::string& k) {
        ++calls;
        if (k == "bad") throw std::runtime_error("backend down");
        return static_cast<int>(k.size());
    };
    BOOST_TEST(c.get_or_load("abc", loader) == 3);
    BOOST_TEST(c.get_or_load("abc", loader) == 3);
    BOOST_TEST(calls == 1);
    BOOST_CHECK_THROW(c.get_or_load("bad", loader), std::runtime_error);
    BOOST_CHECK_THROW(c.get_or_load("bad", loader), std::runtime_error);
    BOOST_TEST(calls == 3);  // a failure is not cached
    BOOST_TEST(!c.contains("bad"));
    const auto s = c.stats();
    BOOST_TEST(s.loads == 1u);
    BOOST_TEST(s.load_failures == 2u);
    BOOST_TEST(s.hits == 1u);
    BOOST_TEST(s.misses == 3u);
    BOOST_TEST(s.hit_rate() == 0.25);
}

BOOST_AUTO_TEST_CASE(get_or_load_stampede_runs_the_loader_once) {
    st::cache<int, std::string> c(100);
    constexpr int threads = 16;
    for (int round = 0; round < 20; ++round) {
        std::atomic<int> calls{0};
        std::barrier start(threads);
        std::vector<std::string> results(threads);
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                start.arrive_and_wait();
                results[t] = c.get_or_load(round, [&](int k) {
                    ++calls;
                    std::this_thread::sleep_for(20ms);  // long enough for everyone to pile up
                    return "value " + std::to_string(k);
                });
            });
        for (auto& th : pool) th.join();
        BOOST_TEST_REQUIRE(calls.load() == 1);
        for (auto& r : results) BOOST_TEST_REQUIRE(r == "value " + std::to_string(round));
    }
    BOOST_TEST(c.stats().loads == 20u);
}

BOOST_AUTO_TEST_CASE(get_or_load_stampede_shares_the_exception) {
    st::cache<int, int> c(100);
    constexpr int threads = 12;
    std::atomic<int> calls{0}, failures{0};
    std::barrier start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            start.arrive_and_wait();
            try {
                c.get_or_load(7, [&](int) -> int {
                    ++calls;
                    std::this_thread::sleep_for(20ms);
                    throw std::runtime_error("no");
                });
            } catch (const std::runtime_error&) {
                ++failures;
            }
        });
    for (auto& th : pool) th.join();
    BOOST_TEST(calls.load() == 1);
    BOOST_TEST(failures.load() == threads);
    BOOST_TEST(!c.contains(7));
    BOOST_TEST(c.get_or_load(7, [](int) { return 70; }) == 70);  // the next caller loads afresh
}

BOOST_AUTO_TEST_CASE(a_write_during_a_load_wins) {
    st::cache<int, std::string> c(100);
    std::latch loading(1), release(1);
    std::string loaded;
    std::thread t([&] {
        loaded = c.get_or_load(1, [&](int) {
            loading.count_down();
            release.wait();
            return std::string("old");  // read before the write below
        });
    });
    loading.wait();
    c.put(1, "new");  // returns before the load finishes
    release.count_down();
    t.join();
    BOOST_TEST(loaded == "old");       // that caller asked before the write
    BOOST_TEST(*c.get(1) == "new");    // but the cache keeps the write

    // An erase detaches the load too: later callers load again.
    std::latch loading2(1), release2(1);
    std::thread t2([&] {
        c.get_or_load(2, [&](int) {
            loading2.count_down();
            release2.wait();
            return std::string("stale");
        });
    });
    loading2.wait();
    c.erase(2);
    int second_calls = 0;
    std::thread t3([&] {
        BOOST_TEST(c.get_or_load(2, [&](int) { ++second_calls; return std::string("fresh"); }) == "fresh");
    });
    t3.join();  // did not wait for the detached load
    release2.count_down();
    t2.join();
    BOOST_TEST(second_calls == 1);
    BOOST_TEST(*c.get(2) == "fresh");
}

BOOST_AUTO_TEST_CASE(recursive_load_of_the_same_key_is_an_error) {
    st::cache<int, int> c(10);
    BOOST_CHECK_EXCEPTION(c.get_or_load(1, [&](int k) { return c.get_or_load(k, [](int) { return 1; }); }),
                          st::error, [](const st::error& e) { return e.kind() == st::errc::conflict; });
    BOOST_TEST(c.get_or_load(1, [](int) { return 5; }) == 5);  // nothing left behind
}

namespace {
// A client's own policy in a few lines: LRU that admits a key only on its
// second request (a "doorkeeper" for one-hit wonders).
struct second_hit_lru {
    static constexpr std::string_view name = "second_hit_lru";
    using hook = st::lru::hook;
    st::lru inner;
    std::vector<std::uint64_t> seen = std::vector<std::uint64_t>(64);
    void set_capacity(std::uint64_t c) noexcept { inner.set_capacity(c); }
    bool admit(std::uint64_t h, std::uint64_t) noexcept {
        auto& slot = seen[h % seen.size()];
        const bool again = slot == h;
        slot = h;
        return again;
    }
    void on_insert(hook& e, std::uint64_t h, std::uint64_t w) noexcept { inner.on_insert(e, h, w); }
    void on_access(hook& e) noexcept { inner.on_access(e); }
    void on_update(hook& e, std::uint64_t w) noexcept { inner.on_update(e, w); }
    void on_remove(hook& e) noexcept { inner.on_remove(e); }
    hook* evict() noexcept { return inner.evict(); }
    std::uint64_t weight() const noexcept { return inner.weight(); }
};
static_assert(st::eviction_policy<second_hit_lru>);
}  // namespace

BOOST_AUTO_TEST_CASE(a_policy_may_refuse_a_newcomer) {
    st::cache<int, int, second_hit_lru> c(10);
    BOOST_TEST(!c.put(1, 1));  // first sighting: refused, nothing evicted
    BOOST_TEST(!c.contains(1));
    BOOST_TEST(c.put(1, 1));
    BOOST_TEST(c.contains(1));
}

BOOST_AUTO_TEST_CASE(shared_ptr_values_are_shared_not_copied) {
    st::cache<int, std::shared_ptr<const std::string>> c(4);
    auto big = std::make_shared<const std::string>(1 << 20, 'x');
    c.put(1, big);
    BOOST_TEST(c.get(1)->get() == big.get());
}

namespace {
struct picky_weigher {  // refuses to weigh negative values
    std::uint64_t operator()(int, int v) const {
        if (v < 0) throw std::invalid_argument("negative");
        return 1;
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_load_that_cannot_be_cached_fails_for_everyone_and_poisons_nothing) {
    st::cache<int, int, st::lru, picky_weigher> c(10);
    std::latch loading(1), release(1);
    std::atomic<int> waiter_failed{0};
    std::thread first([&] {
        BOOST_CHECK_THROW(c.get_or_load(1, [&](int) {
            loading.count_down();
            release.wait();
            return -1;
        }), std::invalid_argument);
    });
    loading.wait();
    std::thread second([&] {
        try {
            c.get_or_load(1, [](int) { return 7; });  // joins the first load
        } catch (const std::invalid_argument&) {
            ++waiter_failed;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    release.count_down();
    first.join();
    second.join();
    BOOST_TEST(waiter_failed.load() <= 1);  // 1 if it joined in time, else it loaded 7 itself
    BOOST_TEST(c.get_or_load(1, [](int) { return 5; }) == (waiter_failed.load() ? 5 : 7));
}

namespace {
// A clock that ticks in whole seconds: TTLs round up, never down to zero.
struct seconds_clock {
    using rep = std::int64_t;
    using period = std::ratio<1>;
    using duration = std::chrono::seconds;
    using time_point = std::chrono::time_point<seconds_clock, duration>;
    static constexpr bool is_steady = true;
    std::shared_ptr<std::int64_t> t = std::make_shared<std::int64_t>(0);
    time_point now() const { return time_point(duration(*t)); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(ttl_in_a_coarse_clock_rounds_up_and_saturates) {
    seconds_clock clock;
    st::cache<int, int, st::lru, st::unit_weigher, seconds_clock> c({.capacity = 10}, st::lru{}, {}, clock);
    c.put(1, 1, st::expiry{.after_write = 500ms});
    BOOST_TEST(c.contains(1));
    *clock.t = 1;
    BOOST_TEST(!c.contains(1));
    // The longest TTL after an hour of uptime would overflow the time point.
    st::manual_clock ns;
    ns.advance(1h);
    st::cache<int, int, st::lru, st::unit_weigher, st::manual_clock> d({.capacity = 10}, st::lru{}, {}, ns);
    d.put(2, 2, st::expiry{.after_write = std::chrono::nanoseconds::max(), .after_access = std::chrono::nanoseconds::max()});
    ns.advance(24h * 365 * 100);
    BOOST_TEST(d.get(2).has_value());
}
