// Issue 20, point 6, for export.hpp: a damaged record does not stop an
// export. Every record is checked before any output; damaged ones (a
// damaged header — the first record of its collection, which export reads
// to learn the codec — a damaged payload, a collection whose every record
// is damaged) are left out and named in report.damaged; the header's and
// trailer's counts are those of the documents written, so the file
// imports. Both a JSON (gzip+json) and a binary (registered) collection,
// through a read-write and a read-only open.
#define BOOST_TEST_MODULE export_damage
#include "test_support.hpp"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "stowage/codec/binary.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/export.hpp"

namespace export_damage {

using namespace stowage;
namespace fs = std::filesystem;

struct note {
    std::string id;
    std::string text;
    std::int64_t counter = 0;
};
STOWAGE_DESCRIBE(note, id, text, counter)

using docs_t = db_store<json_document, file_storage, gzip<json_codec>>;
using notes_t = db_store<note, file_storage, binary_codec>;

constexpr int count = 205;

std::string id_of(const char* prefix, int i) { return prefix + std::to_string(1000 + i); }

export_registry with_notes() {
    export_registry r;
    r.add<note, binary_codec>("notes");
    return r;
}

void populate(const fs::path& data) {
    database<file_storage> db{file_storage(data)};
    docs_t docs(db.storage(), "docs");
    notes_t notes(db.storage(), "notes");
    docs_t lost(db.storage(), "lost");
    auto tx = db.transaction();
    for (int i = 0; i < count; ++i) {
        auto d = json_document::parse(R"({"id":"","n":0})");
        d.set("id", id_of("d", i));
        d.set("n", i);
        tx.put(docs, d);
        tx.put(notes, note{id_of("n", i), "note " + std::to_string(i), i});
    }
    for (int i = 0; i < 2; ++i) {
        auto d = json_document::parse(R"({"id":""})");
        d.set("id", id_of("l", i));
        tx.put(lost, d);
    }
    tx.commit();
}  // a clean close: every record in its file

}  // namespace export_damage

using namespace export_damage;

BOOST_AUTO_TEST_CASE(export_goes_past_damaged_records_and_reports_them) {
    stowage::test::scratch_dir dir("export-damage");
    const fs::path src = dir.path() / "src";
    populate(src);

    // The docs record export reads first (to learn the collection's codec):
    // its header. A note: its payload. Every record of "lost": headers.
    std::vector<std::string> doc_keys;
    for (int i = 0; i < count; ++i) doc_keys.push_back(record_key("docs", id_of("d", i)));
    const std::string first_doc = *std::min_element(doc_keys.begin(), doc_keys.end());
    const std::string bad_note = record_key("notes", id_of("n", 42));
    stowage::test::flip_byte_at(src / first_doc, 6);
    stowage::test::flip_byte_at(src / bad_note, fs::file_size(src / bad_note) - 3);
    std::vector<std::string> lost_keys = {record_key("lost", id_of("l", 0)), record_key("lost", id_of("l", 1))};
    for (const auto& k : lost_keys) stowage::test::flip_byte_at(src / k, 6);

    auto reg = with_notes();
    for (bool read_only : {false, true}) {
        BOOST_TEST_CONTEXT("read-only open: " << read_only) {
            std::ostringstream out;
            export_report report;
            {
                database<file_storage> db{file_storage(src, read_only ? open_mode::read_only : open_mode::read_write)};
                export_options o;
                o.registry = &reg;
                report = export_database(db, out, o);
            }
            std::vector<std::string> damaged;
            for (const auto& [key, what] : report.damaged) {
                damaged.push_back(key);
                BOOST_TEST(what.find(key) != std::string::npos, what);
            }
            std::sort(damaged.begin(), damaged.end());
            std::vector<std::string> want = {first_doc, lost_keys[0], lost_keys[1], bad_note};
            std::sort(want.begin(), want.end());
            BOOST_TEST(damaged == want, boost::test_tools::per_element());
            BOOST_TEST(!report.ok());
            BOOST_TEST(report.documents == static_cast<std::uint64_t>(2 * (count - 1)));
            BOOST_TEST(report.collections["docs"] == static_cast<std::uint64_t>(count - 1));
            BOOST_TEST(report.collections["notes"] == static_cast<std::uint64_t>(count - 1));
            BOOST_TEST(report.collections.count("lost") == 0u);

            const std::string text = out.str();
            BOOST_TEST(text.find("{\"name\":\"docs\",\"codec\":\"gzip+json\",\"documents\":204}") != std::string::npos);
            BOOST_TEST(text.find("{\"name\":\"notes\",\"codec\":\"binary\",\"documents\":204}") != std::string::npos);
            BOOST_TEST(text.find("\"lost\"") == std::string::npos);
            BOOST_TEST(text.find("\"id\":\"" + id_of("n", 42) + "\"") == std::string::npos);
            BOOST_TEST(text.find("{\"trailer\":{\"documents\":408,") != std::string::npos);

            // The file is whole: it imports, with every document it holds.
            const fs::path file = dir.path() / ("dump" + std::to_string(read_only) + ".jsonl");
            std::ofstream(file, std::ios::binary) << text;
            const fs::path dst = dir.path() / ("dst" + std::to_string(read_only));
            fs::create_directories(dst);
            import_options io;
            io.registry = &reg;
            BOOST_TEST(import_file(dst, file, io).documents == static_cast<std::uint64_t>(2 * (count - 1)));
            database<file_storage> db{file_storage(dst)};
            notes_t notes(db.storage(), "notes");
            BOOST_TEST(notes.size() == static_cast<std::size_t>(count - 1));
            BOOST_TEST(!notes.contains(id_of("n", 42)));
            BOOST_TEST(notes.get(id_of("n", 7))->text == "note 7");
        }
    }
}
