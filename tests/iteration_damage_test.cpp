// Issue 20, point 6: iteration goes on past a damaged record and reports it.
//   - a store of 205 entities with one damaged record (json and binary
//     codecs): entities(on_damage) reads the other 204 and reports the one;
//     plain iteration reads the other 204, then throws naming it; a damaged
//     record is never returned as data;
//   - a record whose header is damaged, so that a rebuilt listing leaves it
//     out, is reported too (its id unknown, its key named);
//   - inverted_index::rebuild indexes the other 204 and reports the one;
//     verify() reports it as unreadable, not as a stale index entry.
#define BOOST_TEST_MODULE iteration_damage
#include "test_support.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <boost/mpl/list.hpp>

#include "stowage/codec/binary.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/database.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"
#include "stowage/store.hpp"

namespace iteration_damage {

using namespace stowage;
namespace fs = std::filesystem;

struct entry {
    std::string id;
    std::string title;
    std::int64_t n = 0;
};
STOWAGE_DESCRIBE(entry, id, title, n)

using codecs = boost::mpl::list<json_codec, binary_codec>;

constexpr int count = 205;

std::string id_of(int i) {
    std::string s = std::to_string(i);
    return "e" + std::string(3 - s.size(), '0') + s;
}

entry make(int i) { return {id_of(i), "common title " + std::to_string(i), i}; }

// Damage inside the payload (the last bytes): the digest no longer matches.
void damage_payload(const fs::path& file) { stowage::test::flip_byte_at(file, fs::file_size(file) - 3); }

// Damage inside the envelope header (its CRC no longer matches).
void damage_header(const fs::path& file) { stowage::test::flip_byte_at(file, 6); }

struct seen {
    std::vector<std::string> read;
    std::vector<std::pair<std::string, std::string>> damaged;  // id, what
    std::vector<errc> kinds;
};

template <class Store>
seen iterate_with_handler(const Store& s) {
    seen out;
    for (const auto& e : s.entities([&](std::string_view id, const error& err) {
             out.damaged.emplace_back(std::string(id), err.what());
             out.kinds.push_back(err.kind());
         }))
        out.read.push_back(e.id);
    return out;
}

}  // namespace iteration_damage

using namespace iteration_damage;

BOOST_AUTO_TEST_CASE_TEMPLATE(iteration_reads_past_a_damaged_record_and_reports_it, Codec, codecs) {
    stowage::test::scratch_dir dir("iter-damage");
    using store_t = store<entry, file_storage, Codec>;
    {
        store_t s(file_storage(dir.path()), "entries");
        for (int i = 0; i < count; ++i) s.put(make(i));
    }
    const std::string victim = id_of(10);
    damage_payload(dir.path() / record_key("entries", victim));

    store_t s(file_storage(dir.path()), "entries");
    BOOST_TEST(s.size() == static_cast<std::size_t>(count));

    // With a handler: the other 204, and the one reported with its id.
    auto got = iterate_with_handler(s);
    BOOST_TEST(got.read.size() == static_cast<std::size_t>(count - 1));
    BOOST_TEST((std::find(got.read.begin(), got.read.end(), victim) == got.read.end()));
    BOOST_TEST(std::set<std::string>(got.read.begin(), got.read.end()).size() == got.read.size());
    BOOST_REQUIRE(got.damaged.size() == 1u);
    BOOST_TEST(got.damaged[0].first == victim);
    BOOST_TEST(got.damaged[0].second.find(victim) != std::string::npos, got.damaged[0].second);
    BOOST_TEST((got.kinds[0] == errc::checksum_mismatch));

    // Plain iteration: every other entity reaches the loop body, then the
    // end throws, naming the damage.
    std::vector<std::string> read;
    try {
        for (const entry& e : s) read.push_back(e.id);
        BOOST_ERROR("plain iteration over a damaged record ended without reporting it");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::checksum_mismatch));
        std::string what = e.what();
        BOOST_TEST(what.find("skipped 1 damaged record") != std::string::npos, what);
        BOOST_TEST(what.find(victim) != std::string::npos, what);
        BOOST_TEST(what.find("entities(on_damage)") != std::string::npos, what);
    }
    BOOST_TEST(read.size() == static_cast<std::size_t>(count - 1));
    BOOST_TEST((std::find(read.begin(), read.end(), victim) == read.end()));

    // verify() agrees.
    auto v = s.verify();
    BOOST_TEST(v.records == static_cast<std::size_t>(count));
    BOOST_TEST(v.damaged.size() == 1u);

    // Without damage, plain iteration ends normally, and entities() may be
    // iterated again (a new pass each time).
    s.erase(victim);
    std::size_t n = 0;
    for (const entry& e : s) n += e.id.empty() ? 0 : 1;
    BOOST_TEST(n == static_cast<std::size_t>(count - 1));
    auto range = s.entities([](std::string_view, const error&) { BOOST_ERROR("no damage expected"); });
    BOOST_TEST(std::distance(range.begin(), range.end()) == count - 1);
    BOOST_TEST(std::distance(range.begin(), range.end()) == count - 1);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_damaged_header_is_reported_whether_listed_or_not, Codec, codecs) {
    using store_t = store<entry, file_storage, Codec>;
    for (bool with_snapshot : {true, false}) {
        BOOST_TEST_CONTEXT("listing snapshot kept: " << with_snapshot) {
            stowage::test::scratch_dir dir("iter-header");
            {
                store_t s(file_storage(dir.path()), "entries");
                for (int i = 0; i < count; ++i) s.put(make(i));
            }  // clean close: the listing snapshot is written
            const std::string victim = id_of(200);
            damage_header(dir.path() / record_key("entries", victim));
            // Without the snapshot the listing is rebuilt from the headers,
            // and the damaged one is left out of it (open_problems).
            if (!with_snapshot) fs::remove(dir.path() / "entries" / "listing");

            store_t s(file_storage(dir.path()), "entries");
            auto got = iterate_with_handler(s);
            BOOST_TEST(got.read.size() == static_cast<std::size_t>(count - 1));
            BOOST_TEST((std::find(got.read.begin(), got.read.end(), victim) == got.read.end()));
            BOOST_REQUIRE(got.damaged.size() == 1u);
            // Listed: reported by id. Not listed: the id is unknown, the
            // message names the record's key.
            BOOST_TEST(got.damaged[0].first == (with_snapshot ? victim : std::string()));
            BOOST_TEST(got.damaged[0].second.find(record_key("entries", victim)) != std::string::npos,
                       got.damaged[0].second);
            std::size_t n = 0;
            BOOST_CHECK_THROW(
                for (const entry& e : s) n += e.id.empty() ? 0 : 1, stowage::error);
            BOOST_TEST(n == static_cast<std::size_t>(count - 1));
        }
    }
}

namespace iteration_damage {

template <class Codec>
using db_entries = db_store<entry, memory_storage, Codec>;
template <class Codec>
using index_of = inverted_index<db_entries<Codec>>;

index_schema entry_schema() {
    index_schema s;
    s.text("title");
    return s;
}

}  // namespace iteration_damage

BOOST_AUTO_TEST_CASE_TEMPLATE(index_rebuild_indexes_the_rest_and_reports_damage, Codec, codecs) {
    memory_storage mem;
    const std::string victim = id_of(42);
    {
        database<memory_storage> db(mem);
        db_entries<Codec> entries(db.storage(), "entries");
        index_of<Codec> idx(db, entries, "entries_index", entry_schema());
        std::vector<entry> all;
        for (int i = 0; i < count; ++i) all.push_back(make(i));
        idx.put_many(all);
        BOOST_TEST(idx.size() == static_cast<std::size_t>(count));
        db.checkpoint();
    }
    // Damage the victim's record where the database keeps it.
    const std::string key = record_key("entries", victim);
    auto data = *mem.read(key);
    data[data.size() - 3] ^= std::byte{0x5a};
    mem.replace(key, data, durability::full);

    database<memory_storage> db(mem);
    db_entries<Codec> entries(db.storage(), "entries");
    index_of<Codec> idx(db, entries, "entries_index", entry_schema());

    // verify: the damaged record is unreadable, not a stale index entry.
    auto v = idx.verify();
    BOOST_TEST(v.documents == static_cast<std::uint64_t>(count - 1));
    BOOST_REQUIRE(v.unreadable.size() == 1u);
    BOOST_TEST(v.unreadable[0].first == victim);
    BOOST_TEST(v.stale.empty());
    BOOST_TEST(v.missing.empty());
    BOOST_TEST(!v.ok());

    std::uint64_t last_done = 0, last_total = 0;
    auto r = idx.rebuild([&](std::uint64_t done, std::uint64_t total) {
        last_done = done;
        last_total = total;
    });
    BOOST_TEST(r.documents == static_cast<std::uint64_t>(count - 1));
    BOOST_REQUIRE(r.damaged.size() == 1u);
    BOOST_TEST(r.damaged[0].first == victim);
    BOOST_TEST(r.damaged[0].second.find(victim) != std::string::npos, r.damaged[0].second);
    BOOST_TEST(!r.ok());
    BOOST_TEST(last_done == last_total);
    BOOST_TEST(idx.size() == static_cast<std::size_t>(count - 1));
    BOOST_TEST(!idx.contains(victim));
    auto hits = idx.search(text_query::words("common title"));
    BOOST_TEST(hits.size() == static_cast<std::size_t>(count - 1));
    BOOST_TEST((std::find(hits.begin(), hits.end(), victim) == hits.end()));
}
