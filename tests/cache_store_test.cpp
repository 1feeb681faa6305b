// cached_store.hpp: lazy loading through the cache, negative caching,
// coherence of writes and erases (also under concurrent writers and readers),
// background prefetch, damage and write failures.
#define BOOST_TEST_MODULE cache_store
#include <stowage/cached_store.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/w_tinylfu.hpp>
#include <stowage/storage/faulty.hpp>
#include <stowage/storage/memory.hpp>
#include <stowage/store.hpp>

#include "session_model.hpp"
#include "test_support.hpp"

#include <atomic>
#include <thread>

namespace st = stowage;
using app::make_session;
using app::session;
using app::session_summary;

namespace {

template <class S>
using session_store = st::store<session, S, st::json_codec, st::sha256, session_summary>;
using mem_store = session_store<st::memory_storage>;

// Memory storage whose reads take a while, so that loads overlap writes.
struct slow_storage {
    static constexpr std::string_view name = "slow";
    st::memory_storage inner;
    std::optional<st::bytes> read(std::string_view k) const {
        auto value = inner.read(k);  // read, then dawdle: the value may be old by return
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        return value;
    }
    st::bytes read_range(std::string_view k, std::uint64_t o, std::uint64_t n) const { return inner.read_range(k, o, n); }
    std::optional<std::uint64_t> size(std::string_view k) const { return inner.size(k); }
    bool contains(std::string_view k) const { return inner.contains(k); }
    std::vector<std::string> list(std::string_view p) const { return inner.list(p); }
    void replace(std::string_view k, st::bytes_view d, st::durability x) { inner.replace(k, d, x); }
    void replace_batch(std::span<const st::blob_write> b, st::durability x) { inner.replace_batch(b, x); }
    bool remove(std::string_view k, st::durability x) { return inner.remove(k, x); }
    std::uint64_t append(std::string_view k, st::bytes_view d) { return inner.append(k, d); }
    void sync(std::string_view k) { inner.sync(k); }
    void truncate(std::string_view k, std::uint64_t n) { inner.truncate(k, n); }
    void flush() { inner.flush(); }
    bool read_only() const { return inner.read_only(); }
};
static_assert(st::storage<slow_storage>);

// A small session with a version we can check.
session versioned(int id, int version) {
    session s = make_session(static_cast<std::uint64_t>(id), 300);
    s.duration_s = version;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(entities_load_once_then_come_from_the_cache) {
    st::memory_storage mem;
    mem_store disk(mem, "sessions");
    for (int i = 0; i < 10; ++i) disk.put(make_session(static_cast<std::uint64_t>(i), 500));
    st::entity_cache<mem_store, st::s3fifo> hot(100);
    st::cached_store view(disk, hot);

    BOOST_TEST(view.size() == 10u);                  // metadata: the listing
    BOOST_TEST(view.list().size() == 10u);
    BOOST_TEST(view.projection("session-3")->name == make_session(3, 500).name);
    BOOST_TEST(hot.size() == 0u);                    // nothing loaded for that

    auto a = view.get("session-3");
    BOOST_TEST_REQUIRE(a != nullptr);
    BOOST_TEST((*a == make_session(3, 500)));
    auto b = view.get("session-3");
    BOOST_TEST(a.get() == b.get());                  // shared, not copied
    const auto s = view.stats();
    BOOST_TEST(s.loads == 1u);
    BOOST_TEST(s.hits == 1u);
}

BOOST_AUTO_TEST_CASE(absence_is_cached_and_writes_replace_it) {
    st::memory_storage mem;
    mem_store disk(mem, "sessions");
    st::entity_cache<mem_store> hot(100);
    st::cached_store view(disk, hot);
    BOOST_TEST(view.get("session-1") == nullptr);
    BOOST_TEST(view.get("session-1") == nullptr);
    BOOST_TEST(view.stats().loads == 1u);            // the second miss cost no read
    view.put(versioned(1, 7));
    BOOST_TEST_REQUIRE(view.get("session-1") != nullptr);
    BOOST_TEST(view.get("session-1")->duration_s == 7.0);
    BOOST_TEST(disk.get("session-1")->duration_s == 7.0);  // written through
    BOOST_TEST(view.erase("session-1"));
    BOOST_TEST(view.get("session-1") == nullptr);
    BOOST_TEST(!disk.contains("session-1"));
    BOOST_TEST(!view.erase("session-1"));
}

BOOST_AUTO_TEST_CASE(put_many_writes_through) {
    st::memory_storage mem;
    mem_store disk(mem, "sessions");
    st::entity_cache<mem_store> hot(100);
    st::cached_store view(disk, hot);
    view.get("session-2");  // absent, remembered
    std::vector<session> batch{versioned(1, 1), versioned(2, 2), versioned(3, 3)};
    view.put_many(batch);
    for (int i = 1; i <= 3; ++i) {
        auto e = view.get("session-" + std::to_string(i));
        BOOST_TEST_REQUIRE(e != nullptr);
        BOOST_TEST(e->duration_s == static_cast<double>(i));
    }
    BOOST_TEST(view.stats().loads == 1u);  // the batch filled the cache
}

// Writers publish the version they wrote after put returns; a reader that saw
// a published version must never then read an older one (nor nothing, for ids
// that are never erased). At the end the cache and the store agree.
BOOST_AUTO_TEST_CASE(no_stale_read_after_a_write_returns) {
    using slow_store = session_store<slow_storage>;
    slow_store disk(slow_storage{}, "sessions", {.durability = st::durability::none});
    st::entity_cache<slow_store, st::w_tinylfu> hot({.capacity = 6, .shards = 2});  // small: evictions too
    st::cached_store view(disk, hot);
    constexpr int ids = 8, writers = 2, readers = 3, versions = 100;
    std::vector<std::atomic<int>> published(ids);
    std::atomic<int> stale{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> pool;
    for (int w = 0; w < writers; ++w)
        pool.emplace_back([&, w] {
            for (int v = 1; v <= versions; ++v)
                for (int id = w; id < ids; id += writers) {  // each id has one writer
                    if (v % 37 == 0 && id % 4 == 0) {  // some ids are erased now and then
                        view.erase("session-" + std::to_string(id));
                        view.put(versioned(id, v));
                    } else {
                        view.put(versioned(id, v));
                    }
                    published[id].store(v, std::memory_order_release);
                }
        });
    for (int r = 0; r < readers; ++r)
        pool.emplace_back([&, r] {
            std::mt19937 rng(r);
            while (!done.load()) {
                const int id = static_cast<int>(rng() % ids);
                const int floor = published[id].load(std::memory_order_acquire);
                auto e = view.get("session-" + std::to_string(id));
                if (e && e->duration_s < floor) ++stale;             // an older version
                if (!e && floor > 0 && id % 4 != 0) ++stale;         // lost, never erased
            }
        });
    for (int w = 0; w < writers; ++w) pool[w].join();
    done = true;
    for (std::size_t i = writers; i < pool.size(); ++i) pool[i].join();
    BOOST_TEST(stale.load() == 0);
    for (int id = 0; id < ids; ++id) {
        const std::string key = "session-" + std::to_string(id);
        auto cached = hot.peek(key);
        if (cached && *cached) BOOST_TEST((**cached == *disk.get(key)));
        BOOST_TEST(view.get(key)->duration_s == static_cast<double>(versions));
    }
}

BOOST_AUTO_TEST_CASE(prefetch_warms_in_the_background) {
    st::memory_storage mem;
    mem_store disk(mem, "sessions");
    for (int i = 0; i < 50; ++i) disk.put(make_session(static_cast<std::uint64_t>(i), 400));
    st::entity_cache<mem_store> hot(1000);
    st::cached_store view(disk, hot);
    view.get("session-0");
    std::vector<std::string> want;
    for (int i = 0; i < 50; ++i) want.push_back("session-" + std::to_string(i));
    want.push_back("missing");
    auto report = view.prefetch(want).get();
    BOOST_TEST(report.loaded == 49u);
    BOOST_TEST(report.cached == 1u);
    BOOST_TEST(report.absent == 1u);
    BOOST_TEST(report.failed.empty());
    BOOST_TEST(!report.cancelled);
    const auto before = view.stats().loads;
    for (int i = 0; i < 50; ++i) view.get("session-" + std::to_string(i));
    BOOST_TEST(view.stats().loads == before);  // all hits now
    // Dropped futures and a close while prefetching are fine.
    for (int i = 0; i < 5; ++i) view.prefetch(want);
}

BOOST_AUTO_TEST_CASE(damage_is_reported_not_cached) {
    st::memory_storage mem;
    mem_store disk(mem, "sessions");
    disk.put(make_session(1, 400));
    const std::string key = disk.key_of("session-1");
    st::bytes record = *mem.read(key);
    record.back() ^= std::byte{1};  // flip a payload bit
    mem.replace(key, record, st::durability::full);
    st::entity_cache<mem_store> hot(10);
    st::cached_store view(disk, hot);
    BOOST_CHECK_THROW(view.get("session-1"), st::error);
    BOOST_TEST(!hot.contains("session-1"));
    auto report = view.prefetch({"session-1"}).get();
    BOOST_TEST(report.failed.size() == 1u);
    view.put(make_session(1, 400));  // a rewrite heals it
    BOOST_TEST(view.get("session-1") != nullptr);
}

BOOST_AUTO_TEST_CASE(a_failed_store_write_invalidates_the_id) {
    st::faulty_storage<st::memory_storage> faulty;
    session_store<st::faulty_storage<st::memory_storage>> disk(faulty, "sessions");
    st::entity_cache<session_store<st::faulty_storage<st::memory_storage>>> hot(10);
    st::cached_store view(disk, hot);
    view.put(versioned(1, 1));
    BOOST_TEST(hot.contains("session-1"));
    // Fail the rename: the store keeps the old record and throws.
    faulty.fail_at(3, st::fault::io);
    BOOST_CHECK_THROW(view.put(versioned(1, 2)), st::error);
    BOOST_TEST(!hot.contains("session-1"));  // the cache no longer answers for it
    auto e = view.get("session-1");          // the store does
    BOOST_TEST_REQUIRE(e != nullptr);
    BOOST_TEST(e->duration_s == disk.get("session-1")->duration_s);
}
