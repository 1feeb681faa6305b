// Tests for persistence_queue.hpp: the seed app's lost-update bug (a
// background job and an editor updating one session), version-checked
// whole-entity writes, read-your-writes, per-producer order under injected
// storage failures, crashes while the queue works, bounded memory, and
// maintenance jobs.
#define BOOST_TEST_MODULE persistence_queue
#include "test_support.hpp"

#include <thread>

#include "stowage/codec/json.hpp"
#include "stowage/persistence_queue.hpp"
#include "stowage/storage/faulty.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;

struct doc {
    std::string id;
    std::string title;
    std::string summary;  // written by the background job
    std::int64_t counter = 0;
    std::vector<std::int64_t> log;
    bool operator==(const doc&) const = default;
};
STOWAGE_DESCRIBE(doc, id, title, summary, counter, log)

template <class S>
using docs_t = db_store<doc, S>;

BOOST_AUTO_TEST_CASE(the_seed_bug_loses_nothing) {
    // An editor renames the session while a background job writes its
    // summary and bumps a counter: both through the queue, concurrently.
    memory_storage mem;
    database<memory_storage> db(mem);
    docs_t<memory_storage> docs(db.storage(), "sessions");
    docs.put({"session-1", "draft", "", 0, {}});
    persistence_queue<memory_storage> q(db);
    std::thread editor([&] {
        for (int i = 0; i < 200; ++i)
            q.enqueue_update(docs, "session-1", [i](std::optional<doc>& d) { d->title = "title " + std::to_string(i); },
                             i % 10 == 0 ? priority::critical : priority::normal);
    });
    std::thread job([&] {
        for (int i = 0; i < 200; ++i)
            q.enqueue_update(docs, "session-1", [](std::optional<doc>& d) {
                d->counter++;
                d->summary = "summary after " + std::to_string(d->counter);
            }, priority::low);
    });
    editor.join();
    job.join();
    q.flush();
    auto d = docs.get("session-1");
    BOOST_TEST(d->title == "title 199");
    BOOST_TEST(d->counter == 200);
    BOOST_TEST(d->summary == "summary after 200");
    BOOST_TEST(q.stats().failed == 0u);
    BOOST_TEST(q.stats().batches < 400u);  // batched, not one transaction per write
}

BOOST_AUTO_TEST_CASE(stale_whole_entity_write_conflicts_instead_of_overwriting) {
    memory_storage mem;
    database<memory_storage> db(mem);
    docs_t<memory_storage> docs(db.storage(), "sessions");
    docs.put({"s", "v1", "", 0, {}});
    auto v1 = docs.lsn_of("s");
    docs.put({"s", "v2 from elsewhere", "", 0, {}});  // a newer write the producer never saw
    persistence_queue<memory_storage> q(db);
    auto stale = q.enqueue_put(docs, {"s", "stale save", "", 0, {}}, v1);
    auto fresh = q.enqueue_put(docs, {"new", "created", "", 0, {}}, std::nullopt);
    auto dup = q.enqueue_put(docs, {"new", "created twice", "", 0, {}}, std::nullopt);
    q.flush();
    try {
        stale.get();
        BOOST_ERROR("stale write applied");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::conflict));
    }
    BOOST_CHECK_NO_THROW(fresh.get());
    BOOST_CHECK_THROW(dup.get(), stowage::error);
    BOOST_TEST(docs.get("s")->title == "v2 from elsewhere");
    BOOST_TEST(docs.get("new")->title == "created");
    // Based on the right version, it goes through.
    auto ok = q.enqueue_put(docs, {"s", "informed save", "", 0, {}}, docs.lsn_of("s"));
    q.flush();
    BOOST_CHECK_NO_THROW(ok.get());
    BOOST_TEST(docs.get("s")->title == "informed save");
}

BOOST_AUTO_TEST_CASE(reads_see_pending_writes) {
    memory_storage mem;
    database<memory_storage> db(mem);
    docs_t<memory_storage> docs(db.storage(), "sessions");
    queue_options o;
    o.batch_window = std::chrono::seconds(30);  // nothing applies until flush
    persistence_queue<memory_storage> q(db, o);
    q.enqueue_update(docs, "a", [](std::optional<doc>& d) { d = doc{"a", "created", "", 1, {}}; });
    q.enqueue_update(docs, "a", [](std::optional<doc>& d) { d->counter += 10; });
    BOOST_TEST(!docs.get("a").has_value());  // not applied yet
    auto seen = q.get(docs, "a");
    BOOST_TEST_REQUIRE(seen.has_value());
    BOOST_TEST(seen->counter == 11);
    q.enqueue_erase(docs, "a");
    BOOST_TEST(!q.get(docs, "a").has_value());
    q.flush();
    BOOST_TEST(!docs.get("a").has_value());
}

// Several producers, each appending its sequence numbers to its own
// document, while the storage fails now and then. Afterwards: every
// operation reported applied is there, in its producer's order, and
// durable across a crash.
BOOST_AUTO_TEST_CASE(producers_with_injected_failures_keep_order_and_durability) {
    auto seed = stowage::test::test_seed();
    faulty_storage<memory_storage> fs(memory_storage(memory_storage::options{seed, true}));
    std::map<std::string, std::vector<std::int64_t>> applied;
    std::mutex applied_mutex;
    {
        database<faulty_storage<memory_storage>> db(fs);
        docs_t<faulty_storage<memory_storage>> docs(db.storage(), "p");
        queue_options o;
        o.max_attempts = 3;
        o.backoff = std::chrono::milliseconds(1);
        persistence_queue<faulty_storage<memory_storage>> q(db, o);
        std::atomic<bool> stop{false};
        std::thread chaos([&] {
            std::mt19937_64 rng(seed);
            // Re-arm only once the previous fault has fired, so faults keep
            // hitting however slowly (e.g. under ASan) the worker runs.
            fs.fail_at(1 + rng() % 40, fault::io);
            while (!stop) {
                if (fs.fired()) fs.fail_at(1 + rng() % 40, rng() % 2 ? fault::io : fault::no_space);
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            fs.heal();
        });
        std::vector<std::thread> producers;
        std::vector<std::vector<std::shared_future<void>>> futures(3);
        for (int p = 0; p < 3; ++p)
            producers.emplace_back([&, p] {
                std::string id = "producer-" + std::to_string(p);
                for (std::int64_t i = 0; i < 60; ++i) {
                    futures[p].push_back(q.enqueue_update(docs, id, [id, i](std::optional<doc>& d) {
                        if (!d) d = doc{id, "", "", 0, {}};
                        d->log.push_back(i);
                    }, i % 7 == 0 ? priority::critical : priority::normal));
                    std::this_thread::sleep_for(std::chrono::microseconds(500));
                }
            });
        for (auto& t : producers) t.join();
        try {
            q.flush();
        } catch (...) {
        }
        stop = true;
        chaos.join();
        auto st = q.stats();
        BOOST_TEST(st.retries + st.failed > 0u);  // the faults really hit
        for (int p = 0; p < 3; ++p)
            for (std::int64_t i = 0; i < 60; ++i) {
                try {
                    futures[p][static_cast<std::size_t>(i)].get();
                    applied["producer-" + std::to_string(p)].push_back(i);
                } catch (const stowage::error& e) {
                    BOOST_TEST((e.kind() == errc::io || e.kind() == errc::no_space || e.kind() == errc::failed_state ||
                                e.kind() == errc::conflict));
                }
            }
        fs.crash();
    }
    fs.heal();
    database<faulty_storage<memory_storage>> db(fs);
    docs_t<faulty_storage<memory_storage>> docs(db.storage(), "p");
    std::size_t total = 0;
    for (auto& [id, seq] : applied) {
        auto d = docs.get(id);
        total += seq.size();
        if (seq.empty()) continue;
        BOOST_TEST_REQUIRE(d.has_value(), id);
        // Exactly the applied operations, in producer order.
        BOOST_TEST(d->log == seq, id);
    }
    BOOST_TEST_MESSAGE(total << " of 180 operations applied under injected failures");
}

BOOST_AUTO_TEST_CASE(crash_while_working_loses_nothing_flushed) {
    auto seed = stowage::test::test_seed();
    for (int round = 0; round < 10; ++round) {
        memory_storage mem(memory_storage::options{seed + static_cast<std::uint64_t>(round), true});
        std::int64_t flushed = 0;
        {
            database<memory_storage> db(mem);
            docs_t<memory_storage> docs(db.storage(), "c");
            persistence_queue<memory_storage> q(db);
            for (std::int64_t i = 1; i <= 100; ++i) {
                q.enqueue_update(docs, "d", [i](std::optional<doc>& d) {
                    if (!d) d = doc{"d", "", "", 0, {}};
                    d->counter = i;
                });
                if (i % 17 == 0) {
                    q.flush();
                    flushed = i;
                }
            }
            mem.crash();  // while the rest may still be applying
        }
        database<memory_storage> db(mem);
        docs_t<memory_storage> docs(db.storage(), "c");
        auto d = docs.get("d");
        BOOST_TEST_REQUIRE(d.has_value());
        BOOST_TEST(d->counter >= flushed);
    }
}

BOOST_AUTO_TEST_CASE(bounded_memory) {
    memory_storage mem;
    database<memory_storage> db(mem);
    docs_t<memory_storage> docs(db.storage(), "b");
    queue_options o;
    o.max_pending = 5;
    o.when_full = queue_options::on_full::reject;
    o.batch_window = std::chrono::seconds(30);
    persistence_queue<memory_storage> q(db, o);
    for (int i = 0; i < 5; ++i) q.enqueue_overwrite(docs, {"d" + std::to_string(i), "", "", 0, {}});
    try {
        q.enqueue_overwrite(docs, {"x", "", "", 0, {}});
        BOOST_ERROR("accepted beyond max_pending");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::no_space));
        BOOST_TEST(std::string(e.what()).find("queue full") != std::string::npos);
    }
    q.flush();
    BOOST_CHECK_NO_THROW(q.enqueue_overwrite(docs, {"x", "", "", 0, {}}));
    // Blocking mode: a producer waits for room instead of failing.
    queue_options b;
    b.max_pending = 2;
    b.batch_window = std::chrono::milliseconds(1);
    persistence_queue<memory_storage> blocking(db, b);
    for (int i = 0; i < 50; ++i) blocking.enqueue_overwrite(docs, {"y" + std::to_string(i), "", "", 0, {}});
    blocking.flush();
    BOOST_TEST(docs.get("y49").has_value());
    blocking.shutdown();
    BOOST_CHECK_THROW(blocking.enqueue_overwrite(docs, {"z", "", "", 0, {}}), stowage::error);
}

BOOST_AUTO_TEST_CASE(maintenance_jobs_run_when_idle_and_obey_controls) {
    memory_storage mem;
    database<memory_storage> db(mem);
    queue_options o;
    o.idle_delay = std::chrono::milliseconds(5);
    persistence_queue<memory_storage> q(db, o);
    std::atomic<int> steps{0};
    auto job = q.add_job("count to 20", [&](queue_job& j) {
        int n = ++steps;
        j.report(static_cast<std::uint64_t>(n), 20);
        return n >= 20;
    });
    auto paused = q.add_job("paused", [&](queue_job&) { return true; });
    paused->pause();
    auto cancelled = q.add_job("cancelled", [&](queue_job&) { return false; });
    cancelled->cancel();
    for (int i = 0; i < 500 && !job->done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    BOOST_TEST(job->done());
    BOOST_TEST(steps == 20);
    BOOST_TEST(job->progress().first == 20u);
    BOOST_TEST(!paused->done());
    paused->resume();
    for (int i = 0; i < 500 && !paused->done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    BOOST_TEST(paused->done());
    BOOST_TEST(!cancelled->done());
}

// A long step polls paused(): it stops early, returns "not finished", and
// the queue starts no further step until resume().
BOOST_AUTO_TEST_CASE(a_long_step_sees_pause_and_stops_early) {
    memory_storage mem;
    database<memory_storage> db(mem);
    queue_options o;
    o.idle_delay = std::chrono::milliseconds(1);
    persistence_queue<memory_storage> q(db, o);
    std::atomic<int> units{0}, steps{0};
    std::atomic<bool> saw_pause{false};
    std::atomic<bool> go{false};
    auto job = q.add_job("long", [&](queue_job& j) {
        ++steps;
        while (!go) std::this_thread::yield();  // the test has its handle
        // One step would do all 1000 units; it stops at a pause.
        while (units < 1000) {
            if (j.paused()) {
                saw_pause = true;
                return false;
            }
            if (++units == 100 && steps == 1) j.pause();  // as another thread would
        }
        return true;
    });
    BOOST_TEST(!job->paused());
    go = true;
    for (int i = 0; i < 1000 && !saw_pause; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    BOOST_TEST_REQUIRE(saw_pause.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    BOOST_TEST(job->paused());
    BOOST_TEST(units.load() == 100);
    BOOST_TEST(steps.load() == 1);
    BOOST_TEST(!job->done());
    job->resume();
    BOOST_TEST(!job->paused());
    for (int i = 0; i < 1000 && !job->done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    BOOST_TEST(job->done());
    BOOST_TEST(units.load() == 1000);
    BOOST_TEST(steps.load() == 2);
}
