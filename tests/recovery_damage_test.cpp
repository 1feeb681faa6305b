// Tests for issue 19's library findings: damage that must not lock anyone
// out of intact data (a flipped byte in already-applied log records, a
// damaged checkpoint, stray files in the log directory), damage that must
// not pass as fine (log records missing below what a checkpoint saw
// durable, a record swapped for another id's, a stale listing snapshot),
// reserved collection names, and files that are not regular files where a
// record should be.
#define BOOST_TEST_MODULE recovery_damage
#include "test_support.hpp"

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include "stowage/codec/json.hpp"
#include "stowage/database.hpp"
#include "stowage/storage/file.hpp"

using namespace stowage;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

namespace {

struct note {
    std::string id;
    std::string text;
};
STOWAGE_DESCRIBE(note, id, text)

using notes_t = db_store<note, file_storage>;

void write_file(const fs::path& p, const std::string& c) { std::ofstream(p, std::ios::binary | std::ios::trunc) << c; }

void flip(const fs::path& p, std::size_t at) { stowage::test::flip_byte_at(p, at); }

std::vector<fs::path> segments(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir / "wal"))
        if (e.path().extension() == ".log") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// n notes, each its own transaction, then a clean close (applied and
// checkpointed: the checkpoint knows where the log ended).
void write_notes(const fs::path& dir, int from, int to) {
    database<file_storage> db{file_storage(dir)};
    notes_t notes(db.storage(), "notes");
    for (int i = from; i < to; ++i) notes.put({"n" + std::to_string(i), "text " + std::to_string(i)});
}

std::size_t count_notes(const fs::path& dir, wal_recovery mode = wal_recovery::tolerate_tail) {
    database_options o;
    o.wal.recovery = mode;
    database<file_storage> db{file_storage(dir, open_mode::read_only), o};
    notes_t notes(db.storage(), "notes");
    std::size_t n = 0;
    for (const auto& id : notes.ids()) n += notes.get(id).has_value();
    return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(damage_to_applied_log_records_locks_nobody_out) {
    scratch_dir dir("applied-damage");
    auto data = dir.path() / "data";
    write_notes(data, 0, 10);
    auto segs = segments(data);
    BOOST_REQUIRE(!segs.empty());
    flip(segs.back(), 40);  // inside the first record: applied at the close
    {
        // Read-only, default mode: the damage is reported as applied, not thrown.
        database<file_storage> db{file_storage(data, open_mode::read_only)};
        bool applied = false;
        for (const auto& d : db.recovery().damage) applied = applied || d.applied;
        BOOST_TEST(applied);
        notes_t notes(db.storage(), "notes");
        BOOST_TEST(notes.size() == 10u);
        BOOST_TEST(notes.get("n3")->text == "text 3");
    }
    // A writer opens, writes, and the damaged segment leaves the log.
    write_notes(data, 10, 12);
    BOOST_TEST(count_notes(data, wal_recovery::absolute) == 12u);
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    BOOST_TEST(db.recovery().damage.empty());
}

BOOST_AUTO_TEST_CASE(absolute_recovery_still_refuses_applied_damage) {
    scratch_dir dir("applied-absolute");
    auto data = dir.path() / "data";
    write_notes(data, 0, 5);
    flip(segments(data).back(), 40);
    database_options o;
    o.wal.recovery = wal_recovery::absolute;
    BOOST_CHECK_THROW((database<file_storage>{file_storage(data, open_mode::read_only), o}), error);
}

BOOST_AUTO_TEST_CASE(a_damaged_or_truncated_checkpoint_replays_the_log) {
    for (int variant = 0; variant < 3; ++variant) {
        BOOST_TEST_CONTEXT("variant " << variant) {
            scratch_dir dir("checkpoint-damage");
            auto data = dir.path() / "data";
            write_notes(data, 0, 8);
            auto cp = data / "wal" / "checkpoint";
            if (variant == 0) flip(cp, 10);
            if (variant == 1) fs::resize_file(cp, 5);
            if (variant == 2) {
                fs::remove(cp);
                BOOST_REQUIRE(::mkfifo(cp.c_str(), 0644) == 0);  // never blocks a reader
            }
            {
                database<file_storage> db{file_storage(data, open_mode::read_only)};
                BOOST_TEST(db.recovery().checkpoint_damaged);
                notes_t notes(db.storage(), "notes");
                BOOST_TEST(notes.size() == 8u);
            }
            if (variant == 2) fs::remove(cp);  // a writer replaces a regular file, not a FIFO by name
            write_notes(data, 8, 9);  // a writer rewrites the checkpoint
            database<file_storage> db{file_storage(data, open_mode::read_only)};
            BOOST_TEST(!db.recovery().checkpoint_damaged);
            BOOST_TEST(db.recovery().damage.empty());
            BOOST_TEST(count_notes(data) == 9u);
        }
    }
}

BOOST_AUTO_TEST_CASE(stray_files_in_the_log_directory_are_reported_not_fatal) {
    scratch_dir dir("stray");
    auto data = dir.path() / "data";
    write_notes(data, 0, 4);
    write_file(data / "wal" / "junk.log", "not a segment");
    write_file(data / "wal" / "00000000000000000001.log", std::string(200, 'x'));  // junk named like an old segment
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    std::size_t unexpected = 0, applied_junk = 0;
    for (const auto& d : db.recovery().damage) {
        unexpected += d.segment.ends_with("junk.log") && d.reason.find("unexpected file") != std::string::npos;
        applied_junk += d.segment.ends_with("00000000000000000001.log") && d.applied;
    }
    BOOST_TEST(unexpected == 1u);
    BOOST_TEST(applied_junk >= 1u);
    notes_t notes(db.storage(), "notes");
    BOOST_TEST(notes.size() == 4u);
}

BOOST_AUTO_TEST_CASE(damage_to_unapplied_records_stops_writers_and_salvage_keeps_the_rest) {
    scratch_dir dir("unapplied");
    auto data = dir.path() / "data";
    fs::path seg;
    {
        database_options o;
        o.apply_interval = std::chrono::hours(1);
        o.wal.preallocate = 0;
        database<file_storage> db{file_storage(data), o};
        notes_t notes(db.storage(), "notes");
        for (int i = 0; i < 6; ++i) notes.put({"n" + std::to_string(i), std::string(20000, char('a' + i))});
        db.flush();
        // A crash before the applier ran: the records are only in the log.
        seg = segments(data).back();
        fs::copy_file(seg, dir.path() / "seg.copy");
        if (fs::exists(data / "wal" / "checkpoint")) fs::copy_file(data / "wal" / "checkpoint", dir.path() / "cp.copy");
    }
    // Put back the log as the crash left it (the close applied everything).
    for (const auto& e : fs::directory_iterator(data / "notes")) fs::remove_all(e.path());
    fs::remove(data / "wal" / "checkpoint");
    for (const auto& s : segments(data)) fs::remove(s);
    fs::copy_file(dir.path() / "seg.copy", seg);
    if (fs::exists(dir.path() / "cp.copy")) fs::copy_file(dir.path() / "cp.copy", data / "wal" / "checkpoint");
    BOOST_TEST(count_notes(data) == 6u);
    flip(seg, 5000);  // inside the second note's records, before the others
    try {
        database<file_storage> db{file_storage(data)};
        BOOST_FAIL("a writer opened past damage to unapplied records");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::corrupt));
        BOOST_TEST(std::string(e.what()).find("repair") != std::string::npos, e.what());
    }
    std::size_t salvaged = count_notes(data, wal_recovery::salvage);
    BOOST_TEST(salvaged >= 4u);
    BOOST_TEST(salvaged < 6u);
}

BOOST_AUTO_TEST_CASE(a_log_cut_below_the_checkpoints_durable_mark_is_detected) {
    scratch_dir dir("cut-log");
    auto data = dir.path() / "data";
    {
        database_options o;
        o.apply_interval = std::chrono::hours(1);
        database<file_storage> db{file_storage(data), o};
        notes_t notes(db.storage(), "notes");
        notes.put({"a", "applied"});
        auto pin = db.snapshot();  // the applier stops here
        notes.put({"b", "durable, not applied"});
        notes.put({"c", "durable, not applied"});
        db.checkpoint();  // checkpoint at "a", with "c" durable
        BOOST_TEST(db.log().checkpoint_lsn() < db.log().durable_lsn());
        // Keep the log as it is now; the close would apply everything.
        fs::create_directories(dir.path() / "keep");
        for (const auto& e : fs::directory_iterator(data / "wal"))
            fs::copy_file(e.path(), dir.path() / "keep" / e.path().filename());
    }
    fs::remove_all(data / "wal");
    fs::create_directories(data / "wal");
    fs::copy_file(dir.path() / "keep" / "checkpoint", data / "wal" / "checkpoint");  // every segment deleted
    try {
        database<file_storage> db{file_storage(data, open_mode::read_only)};
        BOOST_FAIL("a log missing acknowledged records opened");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("missing") != std::string::npos, e.what());
    }
    database_options o;
    o.wal.recovery = wal_recovery::salvage;
    database<file_storage> db{file_storage(data, open_mode::read_only), o};
    bool reported = false;
    for (const auto& d : db.recovery().damage) reported = reported || d.reason.find("missing") != std::string::npos;
    BOOST_TEST(reported);
}

BOOST_AUTO_TEST_CASE(a_record_moved_over_another_id_is_damage_not_data) {
    scratch_dir dir("swapped");
    auto data = dir.path() / "data";
    write_notes(data, 0, 3);
    fs::path victim = data / record_key("notes", "n1");
    fs::copy_file(data / record_key("notes", "n2"), victim, fs::copy_options::overwrite_existing);
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    notes_t notes(db.storage(), "notes");
    try {
        (void)notes.get("n1");
        BOOST_FAIL("n2's record was returned as n1");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::corrupt));
        BOOST_TEST(std::string(e.what()).find("belongs elsewhere") != std::string::npos, e.what());
    }
    BOOST_TEST(notes.verify().damaged.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_stale_listing_snapshot_is_rebuilt_from_the_records) {
    scratch_dir dir("stale-listing");
    auto data = dir.path() / "data";
    write_notes(data, 0, 5);
    BOOST_REQUIRE(fs::exists(data / "notes" / "listing"));
    fs::remove(data / record_key("notes", "n2"));
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    notes_t notes(db.storage(), "notes");
    auto ids = notes.ids();
    BOOST_TEST(ids.size() == 4u);
    BOOST_TEST((std::find(ids.begin(), ids.end(), "n2") == ids.end()));
    bool said = false;
    for (const auto& [key, what] : notes.open_problems()) said = said || key == "notes/listing";
    BOOST_TEST(said);
}

BOOST_AUTO_TEST_CASE(reserved_collection_names_are_refused) {
    scratch_dir dir("reserved");
    database<file_storage> db{file_storage(dir.path() / "data")};
    for (const char* name : {"wal", "cas", "cas_blobs", "cas_refs", "_migrations", "maintenance_jobs"}) {
        BOOST_TEST_CONTEXT(name) {
            try {
                notes_t notes(db.storage(), name);
                BOOST_FAIL("a client store opened a reserved collection");
            } catch (const error& e) {
                BOOST_TEST((e.kind() == errc::bad_input));
                BOOST_TEST(std::string(e.what()).find("reserved") != std::string::npos, e.what());
            }
        }
    }
    notes_t ok(db.storage(), "cas_notes");  // a name that merely starts like one is fine
    ok.put({"x", "y"});
    BOOST_TEST(ok.get("x")->text == "y");
}

BOOST_AUTO_TEST_CASE(a_fifo_or_directory_in_a_records_place_is_damage_and_never_blocks) {
    scratch_dir dir("fifo");
    auto data = dir.path() / "data";
    write_notes(data, 0, 3);
    fs::path fifo = data / record_key("notes", "n0");
    fs::path directory = data / record_key("notes", "n1");
    fs::remove(fifo);
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    fs::remove(directory);
    fs::create_directory(directory);
    file_storage fs_ro(data, open_mode::read_only);
    for (auto [key, what] : {std::pair{record_key("notes", "n0"), "FIFO"}, std::pair{record_key("notes", "n1"), "directory"}}) {
        try {
            (void)fs_ro.read(key);
            BOOST_FAIL("read a non-regular file as a record");
        } catch (const error& e) {
            BOOST_TEST((e.kind() == errc::corrupt));
            BOOST_TEST(std::string(e.what()).find(what) != std::string::npos, e.what());
        }
    }
    // A writer replaces the FIFO with the record (an in-place write would block on it).
    fs::remove_all(directory);
    {
        database<file_storage> db{file_storage(data)};
        notes_t notes(db.storage(), "notes");
        notes.put({"n0", "rewritten"});
        db.checkpoint();
    }
    BOOST_TEST(fs::is_regular_file(fifo));
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    notes_t notes(db.storage(), "notes");
    BOOST_TEST(notes.get("n0")->text == "rewritten");
}
