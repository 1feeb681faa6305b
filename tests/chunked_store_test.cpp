// Tests for chunked_store.hpp: appends write only the last chunk, chunks
// follow the item chunking, load_metadata/load_chunk/load_full, concurrent
// appends lose nothing, erase releases attachment references atomically,
// and everything survives a crash.
#define BOOST_TEST_MODULE chunked_store
#include "test_support.hpp"

#include <thread>

#include "stowage/cas_map.hpp"
#include "stowage/chunked_store.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;

struct session_meta {
    std::string id;
    std::string title;
};
STOWAGE_DESCRIBE(session_meta, id, title)

struct screenshot {
    std::int64_t at_ms = 0;
    std::string digest;
    bool operator==(const screenshot&) const = default;
};
STOWAGE_DESCRIBE(screenshot, at_ms, digest)

struct audio_segment {
    std::int64_t start_ms = 0;
    std::string text;
    bool operator==(const audio_segment&) const = default;
};
STOWAGE_DESCRIBE(audio_segment, start_ms, text)

BOOST_AUTO_TEST_CASE(append_load_and_chunk_layout) {
    memory_storage mem;
    database<memory_storage> db(mem);
    chunked_store<session_meta, memory_storage> sessions(db, "sessions");
    auto shots = sessions.list<screenshot>("screenshots", fixed_count(10));
    auto audio = sessions.list<audio_segment>("audio", fixed_count(50, 2000));
    sessions.put_metadata({"s1", "Standup"});
    for (int i = 0; i < 25; ++i) shots->append("s1", {i * 1000, "shot" + std::to_string(i)});
    for (int i = 0; i < 30; ++i) audio->append("s1", {i * 500, std::string(100, 'a')});
    BOOST_TEST(shots->size("s1") == 25u);
    BOOST_TEST(shots->chunk_count("s1") == 3u);  // 10 + 10 + 5
    BOOST_TEST(shots->load_chunk("s1", 1).size() == 10u);
    BOOST_TEST(shots->load_chunk("s1", 2).size() == 5u);
    BOOST_TEST(shots->load_chunk("s1", 2).front().digest == "shot20");
    // The byte budget closes audio chunks before 50 items.
    BOOST_TEST(audio->chunk_count("s1") > 1u);
    BOOST_TEST(audio->size("s1") == 30u);
    BOOST_TEST(sessions.load_metadata("s1")->title == "Standup");
    auto full = sessions.load_full("s1", shots, audio);
    BOOST_TEST_REQUIRE(full.has_value());
    auto& [meta, all_shots, all_audio] = *full;
    BOOST_TEST(meta.title == "Standup");
    BOOST_TEST_REQUIRE(all_shots.size() == 25u);
    for (int i = 0; i < 25; ++i) BOOST_TEST((all_shots[static_cast<std::size_t>(i)] == screenshot{i * 1000, "shot" + std::to_string(i)}));
    BOOST_TEST(all_audio.size() == 30u);
    BOOST_TEST(!sessions.load_full("nope", shots).has_value());
}

BOOST_AUTO_TEST_CASE(an_append_writes_only_the_last_chunk) {
    memory_storage mem;
    database<memory_storage> db(mem);
    chunked_store<session_meta, memory_storage> sessions(db, "sessions");
    auto shots = sessions.list<screenshot>("screenshots", fixed_count(10));
    for (int i = 0; i < 95; ++i) shots->append("s1", {i, std::string(1000, 'x')});
    auto before = db.stats().bytes;
    shots->append("s1", {95, std::string(1000, 'x')});
    auto written = db.stats().bytes - before;
    // One chunk of at most 10 items (~10 KB) and the head, not 96 KB.
    BOOST_TEST(written < 15000u, written);
}

BOOST_AUTO_TEST_CASE(concurrent_appends_lose_nothing) {
    memory_storage mem;
    database<memory_storage> db(mem);
    chunked_store<session_meta, memory_storage> sessions(db, "sessions");
    auto shots = sessions.list<screenshot>("screenshots", fixed_count(7));
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) shots->append("s1", {t * 1000 + i, ""});
        });
    for (auto& t : threads) t.join();
    auto all = shots->load_all("s1");
    BOOST_TEST(all.size() == 120u);
    std::set<std::int64_t> seen;
    for (auto& s : all) seen.insert(s.at_ms);
    BOOST_TEST(seen.size() == 120u);
}

BOOST_AUTO_TEST_CASE(erase_releases_attachments_in_the_same_transaction) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_options o;
    o.grace = std::chrono::seconds(0);
    cas_map<memory_storage> blobs(db, whole{}, o);
    chunked_store<session_meta, memory_storage> sessions(db, "sessions");
    auto shots = sessions.list<screenshot>("screenshots", fixed_count(10));
    auto png = blobs.put(as_bytes("png bytes"));
    {
        auto tx = db.transaction();
        sessions.put_metadata(tx, {"s1", "with attachment"});
        sessions.attach(tx, "s1", blobs, png, "shot-1.png");
        shots->append(tx, "s1", {1, to_hex(png)});
        tx.commit();
    }
    BOOST_TEST(blobs.ref_count(png) == 1u);
    BOOST_TEST(sessions.attachments("s1").size() == 1u);
    blobs.collect_garbage();
    BOOST_TEST(blobs.get(png).has_value());
    {
        auto tx = db.transaction();
        sessions.erase(tx, "s1", &blobs, *shots);
        BOOST_TEST(blobs.ref_count(png) == 1u);  // nothing before commit
        tx.commit();
    }
    BOOST_TEST(blobs.ref_count(png) == 0u);
    BOOST_TEST(!sessions.load_metadata("s1").has_value());
    BOOST_TEST(shots->size("s1") == 0u);
    BOOST_TEST(shots->load_chunk("s1", 0).empty());
    blobs.collect_garbage();
    BOOST_TEST(!blobs.get(png).has_value());
}

BOOST_AUTO_TEST_CASE(survives_a_crash) {
    memory_storage mem(memory_storage::options{11, true});
    {
        database_options o;
        o.apply_interval = std::chrono::hours(1);
        database<memory_storage> db(mem, o);
        chunked_store<session_meta, memory_storage> sessions(db, "sessions");
        auto shots = sessions.list<screenshot>("screenshots", fixed_count(4));
        for (int i = 0; i < 18; ++i) shots->append("s1", {i, ""});
        mem.crash();
    }
    database<memory_storage> db(mem);
    chunked_store<session_meta, memory_storage> sessions(db, "sessions");
    auto shots = sessions.list<screenshot>("screenshots", fixed_count(4));
    auto all = shots->load_all("s1");
    BOOST_TEST_REQUIRE(all.size() == 18u);
    for (int i = 0; i < 18; ++i) BOOST_TEST(all[static_cast<std::size_t>(i)].at_ms == i);
}
