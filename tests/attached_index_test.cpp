// Issue 21: indexes and caches kept coherent by the database, whichever
// path wrote (commit_hooks.hpp, database.hpp, inverted_index.hpp,
// cached_store.hpp).
//   - an attached index finds every write of every path with no manual
//     step: store put/put_many/erase, a transaction, db.update, the
//     persistence queue, import, a migration, a raw record write, a restore
//     of a damaged backup; and the documents already there when attached;
//   - a process that writes without the index object (the index lives only
//     in another program) leaves it behind, and it catches up before it
//     answers; over a read-only database it catches up in memory;
//   - a different schema under an attached name is refused; detaching
//     stops the journal;
//   - cached reads equal storage reads after commits through every API;
//   - commit listeners: prefix, ids, erasures, LSNs, commit order, the end
//     of a subscription, a listener that throws.
#define BOOST_TEST_MODULE attached_index
#include "test_support.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stowage/backup.hpp"
#include "stowage/cached_store.hpp"
#include "stowage/database.hpp"
#include "stowage/export.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/persistence_queue.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
namespace st = stowage::test;

namespace attached_test {

struct memo {
    std::string id;
    std::string title;
    std::string body;
    bool operator==(const memo&) const = default;
};
STOWAGE_DESCRIBE(memo, id, title, body)

template <class S>
using memos_t = db_store<memo, S>;
template <class S>
using search_t = inverted_index<memos_t<S>, unicode_tokenizer>;

index_schema memo_schema() {
    index_schema s;
    s.text("title", 2.0).text("body");
    return s;
}

// The ids a brute-force scan of the store says hold `word` (after the
// tokenizer: lower case, whole words).
template <class Store>
std::vector<std::string> scan(const Store& store, const std::string& word) {
    std::vector<std::string> ids;
    auto holds = [&](const std::string& text) {
        std::string lower;
        for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::istringstream in(lower);
        std::string w;
        while (in >> w)
            if (w == word) return true;
        return false;
    };
    for (const auto& e : store)
        if (holds(e.title) || holds(e.body)) ids.push_back(e.id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

const std::vector<std::string> vocabulary = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};

template <class Search, class Store>
void expect_coherent(const Search& search, const Store& store, const std::string& when) {
    for (const auto& w : vocabulary) {
        auto found = search.search(text_query::words(w));
        std::sort(found.begin(), found.end());
        BOOST_TEST(found == scan(store, w), when << ": search for \"" << w << "\"");
    }
    BOOST_TEST(search.behind() == 0u, when);
}

}  // namespace attached_test

using namespace attached_test;

BOOST_AUTO_TEST_CASE(every_write_path_is_indexed_without_glue) {
    st::scratch_dir dir("attached-paths");
    database<file_storage> db{file_storage(dir.path())};
    memos_t<file_storage> memos(db.storage(), "memos");
    memos.put({"m0", "Before attach", "alpha was here first"});
    search_t<file_storage> search(db, memos, "memos_index", memo_schema());
    expect_coherent(search, memos, "documents already there when attached");

    memos.put({"m1", "Weekly", "beta gamma"});
    expect_coherent(search, memos, "store.put");
    std::vector<memo> many{{"m2", "Retro", "gamma delta"}, {"m3", "Plan", "epsilon"}};
    memos.put_many(many);
    expect_coherent(search, memos, "store.put_many");
    memos.erase("m2");
    expect_coherent(search, memos, "store.erase");
    {
        auto tx = db.transaction();
        tx.put(memos, memo{"m4", "Tx", "zeta alpha"});
        tx.erase(memos, "m3");
        tx.commit();
    }
    expect_coherent(search, memos, "transaction");
    {
        auto tx = db.transaction();
        tx.put(memos, memo{"m5", "Rolled back", "delta"});
        tx.rollback();
    }
    expect_coherent(search, memos, "rollback");
    db.update(memos, "m1", [](memo& m) { m.body = "delta only"; });
    expect_coherent(search, memos, "db.update (old words gone, new found)");
    BOOST_TEST(search.search(text_query::words("beta")).empty());
    {
        persistence_queue<file_storage> queue(db);
        queue.enqueue_put(memos, memo{"m6", "Queued", "beta"}, std::nullopt);
        queue.enqueue_update(memos, "m4", [](std::optional<memo>& m) { m->title = "Queued update epsilon"; });
        queue.enqueue_erase(memos, "m0");
        queue.flush();
    }
    expect_coherent(search, memos, "persistence queue");
    // A record written without a store (no id travels with it): the journal
    // asks for a rebuild, and the index rebuilds from the records.
    const memo raw{"m7", "Raw", "gamma raw"};
    db.storage().replace(memos.key_of("m7"), memos.make_record("m7", raw, project<json_document>(raw), 0), durability::full);
    BOOST_TEST(search.behind() == 1u);
    memos_t<file_storage> reopened(db.storage(), "memos");  // a listing that has seen the raw write
    expect_coherent(search, reopened, "a raw record write (rebuild)");
    BOOST_TEST(search.search(text_query::words("raw")).size() == 1u);
}

BOOST_AUTO_TEST_CASE(import_migration_and_reopen_are_journaled) {
    st::scratch_dir dir("attached-import");
    st::scratch_dir other("attached-import-src");
    export_registry reg;
    reg.add<memo, json_codec>("memos");
    std::string exported = (other.path() / "memos.jsonl").string();
    {
        database<file_storage> src{file_storage(other.path() / "db")};
        memos_t<file_storage> m(src.storage(), "memos");
        m.put({"i1", "Imported", "alpha zeta"});
        m.put({"i2", "Imported too", "beta"});
        std::ofstream out(exported);
        export_options o;
        o.registry = &reg;
        export_database(src, out, o);
    }
    {
        database<file_storage> db{file_storage(dir.path())};
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        memos.put({"m1", "Local", "gamma"});
        BOOST_TEST(search.search(text_query::words("gamma")).size() == 1u);
    }
    // Imported by another "program" that knows nothing of the index.
    import_options io;
    io.registry = &reg;
    import_file(dir.path(), exported, io);
    {
        database<file_storage> db{file_storage(dir.path())};
        BOOST_TEST(db.pending_entries("memos_index").size() == 1u);  // the import's transaction
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        BOOST_TEST(search.behind() == 1u);
        expect_coherent(search, memos, "import by a process without the index");
        BOOST_TEST(db.pending_entries("memos_index").empty());
    }
}

BOOST_AUTO_TEST_CASE(a_process_without_the_index_leaves_it_behind_and_it_catches_up) {
    st::scratch_dir dir("attached-behind");
    {
        database<file_storage> db{file_storage(dir.path())};
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        memos.put({"a", "First", "alpha"});
        BOOST_TEST(search.search(text_query::words("alpha")).size() == 1u);
    }
    {
        // Another program: the same collection, no index object. Its writes
        // are journaled because the database knows the attachment.
        database<file_storage> db{file_storage(dir.path())};
        BOOST_TEST(db.attachments().size() == 1u);
        memos_t<file_storage> memos(db.storage(), "memos");
        memos.put({"b", "Second", "beta"});
        memos.erase("a");
        db.update(memos, "b", [](memo& m) { m.body += " gamma"; });
        BOOST_TEST(db.pending_entries("memos_index").size() == 3u);
    }
    {
        // A reader beside nobody, read-only: catches up in memory, answers
        // currently, leaves the journal as it is.
        database<file_storage> db{file_storage(dir.path(), open_mode::read_only)};
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        BOOST_TEST(search.behind() == 3u);
        expect_coherent(search, memos, "read-only catch-up");
        BOOST_TEST(db.pending_entries("memos_index").size() == 3u);
    }
    {
        database<file_storage> db{file_storage(dir.path())};
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        BOOST_TEST(search.behind() == 3u);
        expect_coherent(search, memos, "catch-up on reopening");
        BOOST_TEST(db.pending_entries("memos_index").empty());
        BOOST_TEST(search.verify().ok());
    }
}

BOOST_AUTO_TEST_CASE(redefinition_is_refused_and_detach_stops_the_journal) {
    memory_storage mem;
    database<memory_storage> db(mem);
    memos_t<memory_storage> memos(db.storage(), "memos");
    {
        search_t<memory_storage> search(db, memos, "memos_index", memo_schema());
        memos.put({"a", "x", "alpha"});
        BOOST_TEST(search.search(text_query::words("alpha")).size() == 1u);
    }
    index_schema other;
    other.text("title");
    try {
        search_t<memory_storage> wrong(db, memos, "memos_index", other);
        BOOST_ERROR("another schema under an attached name was accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(std::string(e.what()).find("drop_index") != std::string::npos, e.what());
    }
    BOOST_TEST(drop_index(db, "memos_index"));
    BOOST_TEST(!drop_index(db, "memos_index"));
    BOOST_TEST(!db.detach("memos_index"));
    memos.put({"b", "y", "beta"});
    BOOST_TEST(db.pending_entries("memos_index").empty());
    BOOST_TEST(db.attachments().empty());
    BOOST_TEST(db.storage().list("memos_index/").empty());
    {
        // Dropped, it can be defined anew: the existing memos are indexed.
        search_t<memory_storage> redefined(db, memos, "memos_index", other);
        BOOST_TEST(redefined.search(text_query::words("beta")).empty());  // body is not indexed now
        BOOST_TEST(redefined.search(text_query::words("y")).size() == 0u);  // "y" is shorter than min=2
        BOOST_TEST(redefined.size() == 2u);
    }
    BOOST_TEST(drop_index(db, "memos_index"));
    // A name attached to one collection cannot be attached to another.
    db.attach("x_index", "memos", "d");
    BOOST_CHECK_THROW(db.attach("x_index", "notes", "d"), stowage::error);
    BOOST_TEST(!db.attach("x_index", "memos", "d"));  // the same again: nothing changes
}

BOOST_AUTO_TEST_CASE(restoring_a_damaged_backup_asks_indexes_to_rebuild) {
    st::scratch_dir dir("attached-restore");
    st::scratch_dir root("attached-restore-backups");
    backups bk(root.path());
    std::string id;
    {
        database<file_storage> db{file_storage(dir.path())};
        memos_t<file_storage> memos(db.storage(), "memos");
        search_t<file_storage> search(db, memos, "memos_index", memo_schema());
        memos.put({"a", "x", "alpha"});
        memos.put({"b", "y", "beta"});
        BOOST_TEST(search.search(text_query::words("alpha")).size() == 1u);
        id = bk.create(db).id;
    }
    // Damage one index segment in the backup: restore puts something else
    // in its place, and the index must not trust it.
    std::string damaged;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root.path()))
        if (e.is_regular_file() && e.path().string().find("memos_index/segments") != std::string::npos)
            damaged = e.path().string();
    BOOST_TEST_REQUIRE(!damaged.empty());
    st::flip_byte_at(damaged, 20);
    auto report = bk.restore(dir.path(), id);
    BOOST_TEST(!report.damaged.empty());
    database<file_storage> db{file_storage(dir.path())};
    BOOST_TEST(db.pending_entries("memos_index").size() == 1u);  // the rebuild request
    memos_t<file_storage> memos(db.storage(), "memos");
    search_t<file_storage> search(db, memos, "memos_index", memo_schema());
    expect_coherent(search, memos, "after restoring a damaged backup");
}

BOOST_AUTO_TEST_CASE(cached_reads_equal_storage_reads_after_every_api) {
    memory_storage mem;
    database<memory_storage> db(mem);
    memos_t<memory_storage> memos(db.storage(), "memos");
    entity_cache<memos_t<memory_storage>> hot(100);
    cached_store view(memos, hot);
    auto same = [&](const std::string& id, const std::string& when) {
        auto cached = view.get(id);
        auto stored = memos.get(id);
        BOOST_TEST(static_cast<bool>(cached) == stored.has_value(), when << " " << id);
        if (cached && stored) BOOST_TEST((*cached == *stored), when << " " << id);
    };
    memos.put({"a", "t", "one"});
    same("a", "store.put");
    same("z", "absent");
    memos.put({"z", "now", "present"});
    same("z", "absence cached, then put");
    view.put(memo{"a", "t", "two"});
    same("a", "cached_store.put");
    {
        auto tx = db.transaction();
        tx.put(memos, memo{"a", "t", "three"});
        tx.erase(memos, "z");
        tx.commit();
    }
    same("a", "transaction");
    same("z", "transaction erase");
    db.update(memos, "a", [](memo& m) { m.body = "four"; });
    same("a", "db.update");
    {
        persistence_queue<memory_storage> queue(db);
        queue.enqueue_update(memos, "a", [](std::optional<memo>& m) { m->body = "five"; });
        queue.flush();
    }
    same("a", "persistence queue");
    // Concurrent readers and writers: after each write returns, a read
    // through the cache sees it.
    std::atomic<bool> stop{false};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&] {
            while (!stop) (void)view.get("a");
        });
    for (int i = 0; i < 300; ++i) {
        db.update(memos, "a", [&](memo& m) { m.body = std::to_string(i); });
        auto c = view.get("a");
        BOOST_TEST_REQUIRE(c);
        BOOST_TEST_REQUIRE(c->body == std::to_string(i));
    }
    stop = true;
    for (auto& r : readers) r.join();
}

BOOST_AUTO_TEST_CASE(commit_listeners_see_what_committed_in_order) {
    memory_storage mem;
    database<memory_storage> db(mem);
    memos_t<memory_storage> memos(db.storage(), "memos");
    memos_t<memory_storage> others(db.storage(), "others");
    struct seen {
        std::uint64_t commit;
        std::string id;
        bool erased;
        std::uint64_t lsn;
    };
    std::vector<seen> log;
    std::mutex m;
    auto sub = db.on_commit("memos/", [&](std::uint64_t commit, std::span<const committed_write> ws) {
        std::lock_guard lock(m);
        for (const auto& w : ws) {
            BOOST_TEST(w.key.starts_with("memos/"));
            log.push_back({commit, std::string(w.id), w.erased, w.lsn});
        }
    });
    auto thrower = db.on_commit("", [](std::uint64_t, std::span<const committed_write>) { throw std::runtime_error("x"); });
    memos.put({"a", "", ""});
    others.put({"o", "", ""});  // another prefix: not reported
    {
        auto tx = db.transaction();
        tx.put(memos, memo{"b", "", ""});
        tx.erase(memos, "a");
        tx.put(others, memo{"p", "", ""});
        tx.commit();
    }
    BOOST_TEST_REQUIRE(log.size() == 3u);
    BOOST_TEST(log[0].id == "a");
    BOOST_TEST(!log[0].erased);
    BOOST_TEST(log[1].id == "b");
    BOOST_TEST(log[2].id == "a");
    BOOST_TEST(log[2].erased);
    BOOST_TEST(log[1].commit == log[2].commit);
    BOOST_TEST(log[0].commit < log[1].commit);
    BOOST_TEST(log[1].lsn < log[1].commit);
    // Many writers: commits are reported in commit order.
    log.clear();
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) memos.put({"w" + std::to_string(t) + "-" + std::to_string(i), "", ""});
        });
    for (auto& w : writers) w.join();
    BOOST_TEST(log.size() == 200u);
    BOOST_TEST(std::is_sorted(log.begin(), log.end(), [](const seen& a, const seen& b) { return a.commit < b.commit; }));
    sub.reset();
    memos.put({"after", "", ""});
    BOOST_TEST(log.size() == 200u);
}
