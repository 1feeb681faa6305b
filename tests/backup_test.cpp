// Tests for backup.hpp: create/list/verify/restore round trips (documents
// and CAS chunks, which a backup never shares with the data directory: a
// byte flipped in a live chunk stays out of it), a backup taken while a
// writer commits restores exactly the transactions up to its LSN, damage
// found by verify, restore from a backup with damaged files (the rest
// restored, each damaged file resolved and reported), the pre-restore
// backup of a damaged directory, manifests that check themselves (and
// format-1 ones without a checksum), restic-style rotation with a fake
// clock, processes killed with SIGKILL during create and during restore.
#define BOOST_TEST_MODULE backup
#include "test_support.hpp"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

#include "stowage/backup.hpp"
#include "stowage/cas_map.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/codec/json_document.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

using docs_t = db_store<json_document, file_storage, gzip<json_codec>>;

static json_document doc(const std::string& id, std::int64_t n, const std::string& text = "x") {
    json_document d;
    d.set("id", id);
    d.set("n", n);
    d.set("text", text);
    return d;
}

// Every document of collection "docs" (id -> JSON), read through a fresh
// read-only open.
static std::map<std::string, std::string> state_of(const fs::path& dir) {
    std::map<std::string, std::string> out;
    database<file_storage> db{file_storage(dir, open_mode::read_only)};
    docs_t docs(db.storage(), "docs");
    for (const auto& l : docs.list()) out[l.id] = docs.get(l.id)->dump();
    return out;
}

static void fill(database<file_storage>& db, int from, int to, const std::string& text = "x") {
    docs_t docs(db.storage(), "docs");
    auto tx = db.transaction();
    for (int i = from; i < to; ++i) tx.put(docs, doc("d" + std::to_string(i), i, text));
    tx.commit();
}

// Every file under dir except the write-ahead log: path -> content.
static std::map<std::string, std::string> files_of(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        auto rel = e.path().lexically_relative(dir).generic_string();
        if (rel.starts_with("wal/") || rel.starts_with(".")) continue;
        std::ifstream in(e.path(), std::ios::binary);
        out[rel] = std::string(std::istreambuf_iterator<char>(in), {});
    }
    return out;
}

static void flip_byte(const fs::path& file, std::streamoff at_from_start) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at_from_start);
    char c = 0;
    f.get(c);
    f.seekp(at_from_start);
    f.put(static_cast<char>(c ^ 0x5a));
}

static fs::path record_file(const fs::path& dir, const std::string& id) {
    return dir / record_key("docs", id);
}

// The documents' JSON by id; a record that fails verification reads as "!damaged".
static std::map<std::string, std::string> docs_or_damage(const fs::path& dir, const std::vector<std::string>& ids) {
    std::map<std::string, std::string> out;
    database<file_storage> db{file_storage(dir, open_mode::read_only)};
    docs_t docs(db.storage(), "docs");
    for (const auto& id : ids) {
        try {
            auto d = docs.get(id);
            out[id] = d ? d->dump() : "!absent";
        } catch (const error&) {
            out[id] = "!damaged";
        }
    }
    return out;
}

BOOST_AUTO_TEST_CASE(create_list_verify_restore_round_trip) {
    scratch_dir dir("backup-rt");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    BOOST_TEST(bk.root() == dir.path() / "data.backups");
    std::string id;
    std::string blob_hex;
    std::map<std::string, std::string> at_backup;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 50);
        cas_map<file_storage> blobs(db);
        std::string content(100000, 'q');
        blob_hex = to_hex(blobs.put(as_bytes(content)));
        std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
        auto info = bk.create(db, [&](std::uint64_t d, std::uint64_t t) { calls.emplace_back(d, t); });
        id = info.id;
        BOOST_TEST(info.verified);
        BOOST_TEST(info.lsn == db.last_committed());
        BOOST_TEST((info.linked_bytes == 0u || info.linked_bytes >= 100000u));  // reflinked where the filesystem can
        BOOST_TEST(!calls.empty());
        BOOST_TEST(calls.back().first == calls.back().second);
        // The chunk is not a hard link: the backup has a file of its own.
        auto chunk = db.raw_storage().path_of("cas/sha256/" + blob_hex.substr(0, 2) + "/" + blob_hex);
        struct stat st {};
        BOOST_TEST_REQUIRE(::stat(chunk.c_str(), &st) == 0);
        BOOST_TEST(st.st_nlink == 1u);
        // Later writes do not touch the backup.
        fill(db, 0, 10, "changed");
        fill(db, 50, 60);
    }
    BOOST_TEST(id.find('-') == 16u);  // YYYYMMDDTHHMMSSZ-<lsn>
    auto listed = bk.list();
    BOOST_TEST_REQUIRE(listed.size() == 1u);
    BOOST_TEST(listed[0].id == id);
    BOOST_TEST(listed[0].verified);
    BOOST_TEST(bk.verify(id).ok());

    // The backup directory is itself a data directory at the backup's state.
    auto expected = state_of(bk.path_of(id));
    BOOST_TEST(expected.size() == 50u);
    BOOST_TEST(expected["d3"].find("\"text\":\"x\"") != std::string::npos);
    BOOST_TEST(state_of(data).size() == 60u);

    auto report = bk.restore(data, id);
    BOOST_TEST_REQUIRE(report.previous.has_value());
    BOOST_TEST(state_of(data) == expected);
    BOOST_TEST(!fs::exists(dir.path() / "data.restoring"));
    // The state it replaced was backed up first and can be restored back.
    BOOST_TEST(bk.list().size() == 2u);
    auto before = state_of(bk.path_of(report.previous->id));
    BOOST_TEST(before.size() == 60u);
    {
        // A database opened on the restored directory continues its LSNs
        // and reads its chunks.
        database<file_storage> db{file_storage(data)};
        BOOST_TEST(db.last_committed() == listed[0].lsn);
        cas_map<file_storage> blobs(db);
        BOOST_TEST(blobs.get(digest_from_hex<sha256>(blob_hex)).has_value());
        fill(db, 100, 101);
        BOOST_TEST(db.last_committed() > listed[0].lsn);
    }
    bk.restore(data, report.previous->id);
    BOOST_TEST(state_of(data) == before);
}

BOOST_AUTO_TEST_CASE(restore_needs_the_writer_lock_and_a_known_id) {
    scratch_dir dir("backup-lock");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    database<file_storage> db{file_storage(data)};
    fill(db, 0, 5);
    auto info = bk.create(db);
    try {
        bk.restore(data, info.id);
        BOOST_FAIL("restore beside a writer succeeded");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::locked));
    }
    try {
        bk.restore(data, "19700101T000000Z-0");
        BOOST_FAIL("restore of an unknown id succeeded");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::not_found));
    }
    BOOST_TEST(bk.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(backup_beside_a_writer_holds_exactly_its_lsn) {
    scratch_dir dir("backup-live");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::map<int, std::uint64_t> commit_lsn;  // transaction i -> LSN
    std::vector<backup_info> taken;
    {
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        std::atomic<bool> stop{false};
        std::mutex m;
        std::thread writer([&] {
            for (int i = 0; !stop && i < 20000; ++i) {
                auto tx = db.transaction(durability::none);
                tx.put(docs, doc("t" + std::to_string(i % 50), i));
                tx.put(docs, doc("counter", i));
                if (i % 3 == 0) tx.erase(docs, "t" + std::to_string((i + 7) % 50));
                auto lsn = tx.commit();
                {
                    std::lock_guard l(m);
                    commit_lsn[i] = lsn;
                }
                if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
        });
        for (int b = 0; b < 3; ++b) {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            taken.push_back(bk.create(db));
        }
        stop = true;
        writer.join();
    }
    BOOST_TEST_REQUIRE(taken.size() == 3u);
    // The writer really ran across the backups.
    BOOST_TEST(taken[0].lsn > 0u);
    BOOST_TEST(commit_lsn.rbegin()->second > taken[2].lsn);
    BOOST_TEST(taken[0].lsn < taken[2].lsn);
    for (const auto& info : taken) {
        auto got = state_of(bk.path_of(info.id));
        std::map<std::string, std::string> want;  // commit order is LSN order (one writer)
        for (auto [i, lsn] : commit_lsn) {
            if (lsn > info.lsn) break;
            want["t" + std::to_string(i % 50)] = doc("t" + std::to_string(i % 50), i).dump();
            want["counter"] = doc("counter", i).dump();
            if (i % 3 == 0) want.erase("t" + std::to_string((i + 7) % 50));
        }
        BOOST_TEST(got.size() == want.size(), info.id);
        BOOST_TEST((got == want), "backup " << info.id << " at lsn " << info.lsn << " differs from the model");
    }
    // And restoring the middle one gives the same state.
    bk.restore(data, taken[1].id);
    BOOST_TEST((state_of(data) == state_of(bk.path_of(taken[1].id))));
}

BOOST_AUTO_TEST_CASE(verify_finds_damage_and_restore_restores_the_rest) {
    scratch_dir dir("backup-damage");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 20);
        id = bk.create(db).id;
        fill(db, 0, 20, "newer");
    }
    auto before = state_of(data);
    // Flip one byte of one record inside the backup.
    fs::path victim;
    for (auto& e : fs::recursive_directory_iterator(bk.path_of(id) / "docs"))
        if (e.is_regular_file() && detail::backup_is_record_key(e.path().lexically_relative(bk.path_of(id)).generic_string()))
            victim = e.path();
    BOOST_TEST_REQUIRE(!victim.empty());
    {
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(-3, std::ios::end);
        char c = 0;
        f.get(c);
        f.seekp(-3, std::ios::end);
        f.put(static_cast<char>(c ^ 0x10));
    }
    auto report = bk.verify(id);
    BOOST_TEST(!report.ok());
    BOOST_TEST_REQUIRE(report.problems.size() == 1u);
    BOOST_TEST(report.problems[0].file.starts_with("docs/"));
    BOOST_TEST(!bk.list()[0].verified);
    BOOST_TEST((bk.list()[0].state == backup_state::unverified));
    // A file added to a backup is damage too.
    { std::ofstream(bk.path_of(id) / "stray") << "x"; }
    auto again = bk.verify(id);
    BOOST_TEST(again.problems.size() == 2u);

    // Restore goes on: every other document comes back; the damaged record
    // (changed in data since, so data has no copy as the backup held it) is
    // restored as it is — it fails every read, never passes for good data —
    // and reported.
    std::string victim_key = victim.lexically_relative(bk.path_of(id)).generic_string();
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.push_back("d" + std::to_string(i));
    auto restored = bk.restore(data, id);
    BOOST_TEST(!restored.ok());
    BOOST_TEST_REQUIRE(restored.damaged.size() == 1u);
    BOOST_TEST(restored.damaged[0].key == victim_key);
    BOOST_TEST(restored.damaged[0].outcome.find("restored as it is") != std::string::npos, restored.damaged[0].outcome);
    BOOST_TEST(restored.unresolved == 1u);
    auto now = docs_or_damage(data, ids);
    int damaged = 0;
    for (const auto& i : ids) {
        if (record_key("docs", i) == victim_key) {
            BOOST_TEST(now[i] == "!damaged");
            ++damaged;
        } else {
            BOOST_TEST(now[i].find("\"text\":\"x\"") != std::string::npos, i << ": " << now[i]);
        }
    }
    BOOST_TEST(damaged == 1);
    BOOST_TEST(!fs::exists(dir.path() / "data.restoring"));
    // The state it replaced is a backup; it holds the damaged record's newer
    // version, which repair takes back.
    BOOST_TEST_REQUIRE(restored.previous.has_value());
    BOOST_TEST((state_of(bk.path_of(restored.previous->id)) == before));
    auto r = bk.repair(data, restored.previous->id);
    BOOST_TEST(r.ok());
    BOOST_TEST(r.repaired.size() == 1u);
}

// The chunk files of a data directory whose names are chunk keys.
static std::vector<std::string> chunk_keys(const fs::path& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir / "cas"))
        if (e.is_regular_file()) {
            auto rel = e.path().lexically_relative(dir).generic_string();
            if (detail::backup_is_chunk_key(rel)) out.push_back(rel);
        }
    std::sort(out.begin(), out.end());
    return out;
}

static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

static void spit(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

static bool chunk_intact(const fs::path& dir, const std::string& key) {
    return to_hex(hash_of<sha256>(as_bytes(slurp(dir / key)))) == key.substr(key.rfind('/') + 1);
}

// Issue 19: backups hard-linked chunk files, so a byte flipped in a live
// chunk was flipped in the backup too. A backup (and a restore from it)
// has files of its own: reflinks (copy-on-write) or copies.
BOOST_AUTO_TEST_CASE(a_backup_shares_no_bytes_with_the_data_directory) {
    scratch_dir dir("backup-no-share");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id, chunk;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 5);
        cas_map<file_storage> blobs(db);
        blobs.put(as_bytes(std::string(50000, 'c')));
        id = bk.create(db).id;
    }
    auto chunks = chunk_keys(data);
    BOOST_TEST_REQUIRE(chunks.size() == 1u);
    chunk = chunks[0];
    auto ino = [](const fs::path& p) {
        struct stat st {};
        BOOST_TEST_REQUIRE(::stat(p.c_str(), &st) == 0);
        return std::pair<ino_t, nlink_t>(st.st_ino, st.st_nlink);
    };
    BOOST_TEST(ino(data / chunk).first != ino(bk.path_of(id) / chunk).first);
    BOOST_TEST(ino(data / chunk).second == 1u);
    BOOST_TEST(ino(bk.path_of(id) / chunk).second == 1u);
    // One byte flipped in place in the live chunk stays out of the backup.
    flip_byte(data / chunk, 100);
    BOOST_TEST(!chunk_intact(data, chunk));
    BOOST_TEST(bk.verify(id).ok());
    BOOST_TEST(chunk_intact(bk.path_of(id), chunk));
    // A restore has its own files too: damage after it stays out of the backup.
    auto report = bk.restore(data, id);
    BOOST_TEST(report.ok());
    BOOST_TEST(chunk_intact(data, chunk));
    BOOST_TEST(ino(data / chunk).first != ino(bk.path_of(id) / chunk).first);
    BOOST_TEST(ino(data / chunk).second == 1u);
    flip_byte(data / chunk, 200);
    BOOST_TEST(bk.verify(id).ok());
    // The state it replaced had the damaged chunk: a backup of it was still
    // taken, listed as damaged.
    BOOST_TEST_REQUIRE(report.previous.has_value());
    BOOST_TEST((report.previous->state == backup_state::damaged));
    BOOST_TEST(report.previous->problem.find(chunk) != std::string::npos, report.previous->problem);
}

// Issue 19: one damaged file of a backup made restore refuse everything.
// Each damaged file is resolved (header: taken from the data directory
// when that holds it intact, a listing left out, the checkpoint rebuilt, a
// record or chunk restored as it is — it fails every read) and reported;
// the rest is restored. Only a damaged file nothing would check on read,
// with no intact copy in the data directory, refuses (nothing changed).
BOOST_AUTO_TEST_CASE(restore_resolves_each_damaged_file_of_the_backup) {
    scratch_dir dir("backup-restore-damage");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id;
    std::vector<std::string> ids;
    for (int i = 0; i < 25; ++i) ids.push_back("d" + std::to_string(i));
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 20);
        cas_map<file_storage> blobs(db);
        for (std::uint64_t seed : {1u, 2u}) {
            std::mt19937_64 rng(seed);
            std::string content;
            for (int i = 0; i < 3000; ++i) content += static_cast<char>('a' + rng() % 26);
            blobs.put(as_bytes(content));
        }
        auto tx = db.transaction();
        auto v = as_bytes(std::string_view("plain text, no envelope"));
        tx.stage({"notes/plain", bytes(v.begin(), v.end()), {}});
        tx.commit();
        { docs_t docs(db.storage(), "docs"); }  // its clean close writes docs/listing
        id = bk.create(db).id;
        fill(db, 0, 5, "newer");  // d0..d4 change after the backup
        fill(db, 20, 25);         // d20..d24 are not in it
    }
    const fs::path b = bk.path_of(id);
    auto chunks = chunk_keys(data);
    BOOST_TEST_REQUIRE(chunks.size() == 2u);
    const std::string a = chunks[0], c = chunks[1];
    BOOST_TEST_REQUIRE(fs::exists(b / "docs/listing"));
    auto at_backup = docs_or_damage(b, ids);
    auto lsn = bk.find(id)->lsn;

    auto flip_tail = [](const fs::path& p) { flip_byte(p, static_cast<std::streamoff>(fs::file_size(p)) - 3); };
    flip_tail(record_file(b, "d2"));   // changed in data since: restored as it is
    flip_tail(record_file(b, "d10"));  // unchanged in data: taken from there
    fs::remove(record_file(b, "d15"));  // missing, unchanged in data: taken from there
    flip_byte(b / a, 7);               // intact in data: taken from there
    flip_byte(b / c, 7);               // damaged in data too: restored as it is
    flip_byte(data / c, 9);
    flip_byte(b / "docs/listing", 10);     // derived: left out
    flip_byte(b / "wal/checkpoint", 12);   // rebuilt from the manifest
    flip_byte(b / "notes/plain", 2);       // nothing checks it on read

    // notes/plain differs in data too: nothing could restore it for sure.
    std::string plain = slurp(data / "notes/plain");
    spit(data / "notes/plain", "changed since");
    auto before = files_of(data);
    try {
        bk.restore(data, id);
        BOOST_ERROR("a damaged file nothing checks was restored");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::checksum_mismatch));
        BOOST_TEST(std::string(e.what()).find("notes/plain") != std::string::npos, e.what());
        BOOST_TEST(std::string(e.what()).find("nothing was restored") != std::string::npos, e.what());
    }
    BOOST_TEST((files_of(data) == before));
    BOOST_TEST(!fs::exists(dir.path() / "data.restoring"));

    // With the exact bytes in data, it is taken from there; the rest goes on.
    spit(data / "notes/plain", plain);
    auto report = bk.restore(data, id);
    BOOST_TEST(!report.ok());
    std::map<std::string, std::string> outcome;
    for (const auto& d : report.damaged) {
        outcome[d.key] = d.outcome;
        BOOST_TEST(!d.problem.empty());
    }
    std::map<std::string, std::string> want = {
        {record_key("docs", "d2"), "restored as it is"},
        {record_key("docs", "d10"), "taken from the data directory"},
        {record_key("docs", "d15"), "taken from the data directory"},
        {a, "taken from the data directory"},
        {c, "restored as it is"},
        {"docs/listing", "left out"},
        {"wal/checkpoint", "rebuilt from the manifest"},
        {"notes/plain", "taken from the data directory"},
    };
    BOOST_TEST(outcome.size() == want.size());
    BOOST_TEST(report.unresolved == 2u);  // d2 and chunk c; the rest came back intact
    for (const auto& [key, what] : want)
        BOOST_TEST((outcome.count(key) && outcome[key].find(what) != std::string::npos), key << ": " << outcome[key]);

    auto now = docs_or_damage(data, ids);
    for (const auto& i : ids) {
        if (i == "d2") BOOST_TEST(now[i] == "!damaged");
        else BOOST_TEST(now[i] == at_backup[i], i);
    }
    BOOST_TEST(at_backup["d24"] == "!absent");
    BOOST_TEST(chunk_intact(data, a));
    BOOST_TEST(!chunk_intact(data, c));
    BOOST_TEST(!fs::exists(data / "docs/listing"));
    BOOST_TEST(slurp(data / "notes/plain") == plain);
    {
        database<file_storage> db{file_storage(data)};
        BOOST_TEST(db.last_committed() == lsn);  // the rebuilt checkpoint continues the LSNs
        docs_t docs(db.storage(), "docs");
        auto v = docs.verify();
        std::set<std::string> damaged;
        for (auto& [k, what] : v.damaged) damaged.insert(k);
        BOOST_TEST((damaged == std::set<std::string>{record_key("docs", "d2")}));
    }
    // The state it replaced (chunk c damaged there) is a backup, listed as damaged.
    BOOST_TEST_REQUIRE(report.previous.has_value());
    BOOST_TEST((report.previous->state == backup_state::damaged));
    BOOST_TEST(report.previous->problem.find(c) != std::string::npos, report.previous->problem);
}

// Issue 19: restoring over a directory with a damaged record failed while
// taking the backup of the current state, naming an id list() did not
// show. That backup is taken of the files as they are, listed as damaged,
// and restore goes on; restoring it brings back exactly that state.
BOOST_AUTO_TEST_CASE(restore_over_a_damaged_directory_keeps_a_listed_copy_of_it) {
    scratch_dir dir("backup-restore-over-damage");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id;
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) ids.push_back("d" + std::to_string(i));
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 10);
        id = bk.create(db).id;
        fill(db, 0, 10, "newer");
    }
    auto at_backup = state_of(bk.path_of(id));
    flip_byte(record_file(data, "d1"), 24);  // a header
    auto damaged_state = docs_or_damage(data, ids);
    BOOST_TEST(damaged_state["d1"] == "!damaged");
    auto before = files_of(data);

    auto report = bk.restore(data, id);
    BOOST_TEST(report.ok());
    BOOST_TEST((state_of(data) == at_backup));
    BOOST_TEST_REQUIRE(report.previous.has_value());
    const std::string prev = report.previous->id;
    BOOST_TEST((report.previous->state == backup_state::damaged));
    BOOST_TEST(report.previous->problem.find(record_key("docs", "d1")) != std::string::npos, report.previous->problem);
    // list() shows it, with its state.
    bool listed = false;
    for (const auto& b : bk.list())
        if (b.id == prev) {
            listed = true;
            BOOST_TEST((b.state == backup_state::damaged));
            BOOST_TEST(!b.verified);
        }
    BOOST_TEST(listed);
    // Its files are the directory's as they were, the damaged one included.
    auto copy = files_of(bk.path_of(prev));
    for (const auto& [path, content] : before)
        if (path.starts_with("docs/") && path != "docs/listing") BOOST_TEST((copy.count(path) && copy[path] == content), path);
    // verify names the damage as recorded when it was taken.
    auto v = bk.verify(prev);
    BOOST_TEST(!v.ok());
    BOOST_TEST_REQUIRE(v.problems.size() == 1u);
    BOOST_TEST(v.problems[0].file == record_key("docs", "d1"));
    BOOST_TEST(v.problems[0].recorded);
    BOOST_TEST(v.problems[0].what.find("when the backup was taken") != std::string::npos, v.problems[0].what);
    // Restoring it brings the damaged state back, the damaged record as it was.
    auto back = bk.restore(data, prev);
    BOOST_TEST_REQUIRE(back.damaged.size() == 1u);
    BOOST_TEST(back.damaged[0].key == record_key("docs", "d1"));
    BOOST_TEST(back.unresolved == 1u);
    BOOST_TEST((docs_or_damage(data, ids) == damaged_state));
    BOOST_TEST(slurp(record_file(data, "d1")) == before[record_key("docs", "d1")]);
}

// Issue 19: a backup manifest carries its own checksum. A damaged manifest
// is listed as damaged (time and LSN from the id), is a problem for
// verify(), and restore and repair refuse it; a format-1 manifest (no
// checksum) is read as before, marked unchecked.
BOOST_AUTO_TEST_CASE(a_manifest_checks_itself_and_older_ones_are_read) {
    scratch_dir dir("backup-manifest");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 5);
        id = bk.create(db).id;
        fill(db, 0, 5, "newer");
    }
    const fs::path manifest = bk.path_of(id) / ".stowage-backup.json";
    const std::string text = slurp(manifest);
    BOOST_TEST(text.find("\"manifest_sha256\":\"") != std::string::npos);
    auto info = *bk.find(id);
    BOOST_TEST(info.manifest_checked);
    BOOST_TEST((info.state == backup_state::verified));

    // One digit of one file's size changed: still JSON, no longer its own.
    std::string bad = text;
    auto at = bad.find("\"size\":") + 7;
    bad[at] = bad[at] == '1' ? '2' : '1';
    spit(manifest, bad);
    auto listed = bk.list();
    BOOST_TEST_REQUIRE(listed.size() == 1u);
    BOOST_TEST(listed[0].id == id);
    BOOST_TEST((listed[0].state == backup_state::damaged));
    BOOST_TEST(!listed[0].verified);
    BOOST_TEST(listed[0].lsn == info.lsn);
    BOOST_TEST(listed[0].problem.find("SHA-256") != std::string::npos, listed[0].problem);
    auto v = bk.verify(id);
    BOOST_TEST(!v.ok());
    BOOST_TEST_REQUIRE(v.problems.size() == 1u);
    BOOST_TEST(v.problems[0].file == ".stowage-backup.json");
    auto before = files_of(data);
    for (int which = 0; which < 2; ++which) {
        try {
            if (which == 0) bk.restore(data, id);
            else bk.repair(data, id);
            BOOST_ERROR("a damaged manifest was trusted (" << which << ")");
        } catch (const error& e) {
            BOOST_TEST((e.kind() == errc::corrupt));
            BOOST_TEST(std::string(e.what()).find(".stowage-backup.json") != std::string::npos, e.what());
        }
    }
    BOOST_TEST((files_of(data) == before));
    // A missing manifest is damage too.
    fs::remove(manifest);
    BOOST_TEST_REQUIRE(bk.list().size() == 1u);
    BOOST_TEST((bk.list()[0].state == backup_state::damaged));
    BOOST_TEST(bk.list()[0].problem.find("missing") != std::string::npos);

    // Put back, it is verified again.
    spit(manifest, text);
    BOOST_TEST(bk.verify(id).ok());
    BOOST_TEST(bk.verify(id).manifest_checked);

    // A format-1 manifest: no checksum, read as before, marked unchecked.
    std::string v1 = text.substr(0, text.rfind(",\"manifest_sha256\"")) + "}\n";
    auto ver = v1.find("\"version\":2");
    BOOST_TEST_REQUIRE(ver != std::string::npos);
    v1.replace(ver, 11, "\"version\":1");
    spit(manifest, v1);
    auto old = *bk.find(id);
    BOOST_TEST(!old.manifest_checked);
    BOOST_TEST((old.state == backup_state::verified));
    auto ov = bk.verify(id);
    BOOST_TEST(ov.ok());
    BOOST_TEST(!ov.manifest_checked);
    auto r = bk.restore(data, id);
    BOOST_TEST(r.ok());
    BOOST_TEST(state_of(data).at("d1").find("\"text\":\"x\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rotate_keeps_like_restic_forget) {
    scratch_dir dir("backup-rotate");
    auto data = dir.path() / "data";
    using namespace std::chrono;
    sys_days day0 = year(2024) / January / 1;  // a Monday
    system_clock::time_point fake = day0;
    backups bk(backups::default_root(data), backup_options{[&] { return fake; }, true});
    database<file_storage> db{file_storage(data)};
    fill(db, 0, 3);
    // Two backups a day, at 06:00 and 18:00, for 21 days.
    std::map<std::string, std::string> id_of;  // "day/hour" -> id
    for (int d = 0; d < 21; ++d)
        for (int h : {6, 18}) {
            fake = day0 + days(d) + hours(h);
            id_of[std::to_string(d) + "/" + std::to_string(h)] = bk.create(db).id;
        }
    BOOST_TEST(bk.list().size() == 42u);
    try {
        bk.rotate({});
        BOOST_FAIL("rotate with nothing to keep succeeded");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    auto report = bk.rotate({.last = 3, .daily = 4, .weekly = 3});
    // last 3: day 20 18h, day 20 6h, day 19 18h; daily 4: newest of days
    // 20, 19, 18, 17; weekly 3 (ISO weeks start Monday; days 0-6, 7-13,
    // 14-20): newest of weeks 3, 2, 1 -> day 20 18h, day 13 18h, day 6 18h.
    std::set<std::string> want = {id_of["20/18"], id_of["20/6"], id_of["19/18"], id_of["18/18"],
                                  id_of["17/18"], id_of["13/18"], id_of["6/18"]};
    std::set<std::string> kept(report.kept.begin(), report.kept.end());
    BOOST_TEST((kept == want));
    BOOST_TEST(report.removed.size() == 42u - want.size());
    std::set<std::string> listed;
    for (auto& b : bk.list()) listed.insert(b.id);
    BOOST_TEST((listed == want));
    // Oldest first.
    auto l = bk.list();
    BOOST_TEST(l.front().id == id_of["6/18"]);
    BOOST_TEST(l.back().id == id_of["20/18"]);
}

// Runs fn in a child process, SIGKILLs it after `delay_us`; true when the
// kill landed before the child finished.
template <class Fn>
static bool kill_during(Fn fn, unsigned delay_us) {
    pid_t pid = ::fork();
    if (pid == 0) {
        try {
            fn();
        } catch (...) {
            std::_Exit(2);
        }
        std::_Exit(0);
    }
    ::usleep(delay_us);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) BOOST_TEST(WEXITSTATUS(status) == 0);
    return WIFSIGNALED(status);
}

BOOST_AUTO_TEST_CASE(killed_create_leaves_only_complete_backups) {
    scratch_dir dir("backup-kill-create");
    auto data = dir.path() / "data";
    auto root = backups::default_root(data);
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 400, std::string(500, 'k'));
    }
    std::mt19937_64 rng(stowage::test::test_seed());
    int killed = 0;
    for (int round = 0; round < 12; ++round) {
        killed += kill_during(
            [&] {
                database<file_storage> db{file_storage(data)};
                backups(root).create(db);
            },
            static_cast<unsigned>(rng() % 150000));
        backups bk(root);
        for (const auto& b : bk.list()) {
            BOOST_TEST(b.verified);
            BOOST_TEST(bk.verify(b.id).ok(), b.id);
            BOOST_TEST(state_of(bk.path_of(b.id)).size() == 400u);
        }
    }
    BOOST_TEST(killed > 0);
    // The next create clears what the killed ones left.
    database<file_storage> db{file_storage(data)};
    backups(root).create(db);
    for (auto& e : fs::directory_iterator(root)) BOOST_TEST(!e.path().string().ends_with(".partial"));
}

BOOST_AUTO_TEST_CASE(killed_restore_leaves_old_or_restored_state) {
    scratch_dir dir("backup-kill-restore");
    auto data = dir.path() / "data";
    auto root = backups::default_root(data);
    std::string old_id, new_id;
    std::map<std::string, std::string> old_state, new_state;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 300, std::string(400, 'o'));
        old_id = backups(root).create(db).id;
        fill(db, 0, 300, std::string(400, 'n'));
        fill(db, 300, 350);
    }
    new_state = state_of(data);
    old_state = state_of(backups(root).path_of(old_id));
    BOOST_TEST_REQUIRE((old_state != new_state));
    std::mt19937_64 rng(stowage::test::test_seed() + 1);
    int killed = 0, landed_old = 0, landed_new = 0;
    for (int round = 0; round < 12; ++round) {
        // Alternate the target so each round can change the state.
        bool want_old = state_of(data) == new_state;
        std::string target = want_old ? old_id : "";
        if (!want_old) {
            // Restore the newest backup holding the new state.
            for (auto& b : backups(root).list())
                if (state_of(backups(root).path_of(b.id)) == new_state) target = b.id;
        }
        BOOST_TEST_REQUIRE(!target.empty());
        killed += kill_during([&] { backups(root).restore(data, target); }, static_cast<unsigned>(rng() % 120000));
        auto now = state_of(data);
        bool is_old = now == old_state, is_new = now == new_state;
        BOOST_TEST((is_old || is_new), "round " << round << ": a mixed state");
        landed_old += is_old;
        landed_new += is_new;
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        BOOST_TEST(docs.verify().ok());
    }
    BOOST_TEST(killed > 0);
    // Leftovers are cleared by the next restore.
    backups(root).restore(data, old_id);
    BOOST_TEST((state_of(data) == old_state));
    BOOST_TEST(!fs::exists(dir.path() / "data.restoring"));
}

// --- repair -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(repair_replaces_damaged_records_from_a_verified_backup) {
    scratch_dir dir("backup-repair");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id, chunk_key;
    std::vector<std::string> ids;
    for (int i = 0; i < 35; ++i) ids.push_back("d" + std::to_string(i));
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 30);
        cas_map<file_storage> blobs(db);
        std::string content;
        std::mt19937_64 rng(7);
        for (int i = 0; i < 200000; ++i) content += static_cast<char>('a' + rng() % 26);
        blobs.put(as_bytes(content));
        blobs.put(as_bytes(content.substr(0, 5000)));
        id = bk.create(db).id;
        fill(db, 0, 2, "newer");  // d0, d1 change after the backup
        fill(db, 30, 35);         // d30..d34 are not in it
        docs_t docs(db.storage(), "docs");  // its clean close writes docs/listing
        for (auto& k : db.raw_storage().list("cas/"))
            if (detail::backup_is_chunk_key(k)) chunk_key = k;
    }
    BOOST_TEST_REQUIRE(!chunk_key.empty());
    auto at_backup = docs_or_damage(bk.path_of(id), ids);
    auto intact = docs_or_damage(data, ids);
    BOOST_TEST(intact["d0"].find("newer") != std::string::npos);

    // Damage: payloads (d10, d0 newer than the backup, d31 not in the
    // backup), a header (d11), a truncation (d12), d13 here and in the
    // backup, and two chunks: one rewritten (a new file) and one damaged in
    // place (the backup has its own copy, never a hard link: it stays good).
    auto flip_tail = [](const fs::path& p) { flip_byte(p, static_cast<std::streamoff>(fs::file_size(p)) - 3); };
    flip_tail(record_file(data, "d10"));
    flip_tail(record_file(data, "d0"));
    flip_tail(record_file(data, "d31"));
    flip_byte(record_file(data, "d11"), 24);
    fs::resize_file(record_file(data, "d12"), fs::file_size(record_file(data, "d12")) / 2);
    flip_tail(record_file(data, "d13"));
    flip_tail(record_file(bk.path_of(id), "d13"));
    auto chunk_path = data / chunk_key;
    std::string other_chunk;
    for (auto& e : fs::recursive_directory_iterator(data / "cas"))
        if (e.is_regular_file() && e.path() != chunk_path && detail::backup_is_chunk_key(e.path().lexically_relative(data).generic_string()))
            other_chunk = e.path().lexically_relative(data).generic_string();
    BOOST_TEST_REQUIRE(!other_chunk.empty());
    {
        std::ifstream in(chunk_path, std::ios::binary);
        std::string c(std::istreambuf_iterator<char>(in), {});
        c[c.size() / 2] ^= 1;
        fs::remove(chunk_path);
        std::ofstream(chunk_path, std::ios::binary) << c;
    }
    flip_byte(data / other_chunk, 5);
    auto damaged_files = files_of(data);

    std::set<std::string> want_repaired = {record_key("docs", "d0"),  record_key("docs", "d10"), record_key("docs", "d11"),
                                           record_key("docs", "d12"), chunk_key,                  other_chunk};
    std::set<std::string> want_unrepairable = {record_key("docs", "d13"), record_key("docs", "d31")};
    auto keys_of = [](const std::vector<repair_item>& items) {
        std::set<std::string> out;
        for (auto& i : items) out.insert(i.key);
        return out;
    };

    // A dry run finds the same and changes nothing.
    auto dry = bk.repair(data, id, {.dry_run = true});
    BOOST_TEST(dry.dry_run);
    BOOST_TEST((keys_of(dry.repaired) == want_repaired));
    BOOST_TEST((keys_of(dry.unrepairable) == want_unrepairable));
    BOOST_TEST((files_of(data) == damaged_files));

    std::uint64_t last_done = 0, last_total = 0;
    auto report = bk.repair(data, id, {.progress = [&](std::uint64_t d, std::uint64_t t) { last_done = d, last_total = t; }});
    BOOST_TEST(last_done == last_total);
    BOOST_TEST(report.backup_id == id);
    BOOST_TEST(report.records >= 35u);  // and the CAS map's own records
    BOOST_TEST(report.chunks >= 2u);
    BOOST_TEST((keys_of(report.repaired) == want_repaired));
    BOOST_TEST((keys_of(report.unrepairable) == want_unrepairable));
    BOOST_TEST(!report.ok());
    for (auto& u : report.unrepairable) {
        if (u.key == record_key("docs", "d31")) BOOST_TEST(u.outcome.find("not in backup") != std::string::npos);
        if (u.key == record_key("docs", "d13")) BOOST_TEST(u.outcome.find("does not match its manifest") != std::string::npos);
        BOOST_TEST(!u.problem.empty());
    }

    // Repaired records read back as the backup holds them; the rest as before.
    auto after = docs_or_damage(data, ids);
    for (const auto& i : ids) {
        if (i == "d0" || i == "d10" || i == "d11" || i == "d12") BOOST_TEST(after[i] == at_backup[i], i);
        else if (i == "d13" || i == "d31") BOOST_TEST(after[i] == "!damaged", i);
        else BOOST_TEST(after[i] == intact[i], i);
    }
    BOOST_TEST(after["d10"] == intact["d10"]);  // unchanged since the backup: fully recovered
    // Nothing else changed: every other file is byte-for-byte the same.
    auto now = files_of(data);
    for (auto& [path, content] : damaged_files) {
        if (want_repaired.count(path) || path == "docs/listing") continue;
        BOOST_TEST((now.count(path) && now[path] == content), path);
    }
    BOOST_TEST(!now.count("docs/listing"));  // its projections were stale: rebuilt on the next open
    {
        std::ifstream in(chunk_path, std::ios::binary);
        std::string c(std::istreambuf_iterator<char>(in), {});
        BOOST_TEST(to_hex(hash_of<sha256>(as_bytes(c))) == chunk_key.substr(chunk_key.rfind('/') + 1));
    }
    {
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        BOOST_TEST(docs.size() == 35u);  // d11's header is readable again
        auto v = docs.verify();
        std::set<std::string> damaged;
        for (auto& [k, what] : v.damaged) damaged.insert(k);
        BOOST_TEST((damaged == std::set<std::string>{record_key("docs", "d13"), record_key("docs", "d31")}));
    }
    // A second repair finds only what is left.
    auto again = bk.repair(data, id);
    BOOST_TEST(again.repaired.empty());
    BOOST_TEST(again.unrepairable.size() == 2u);
}

BOOST_AUTO_TEST_CASE(repair_from_a_backup_with_a_damaged_copy_repairs_every_other_key) {
    scratch_dir dir("backup-repair-refuse");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::string id;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 5);
        id = bk.create(db).id;
        try {
            bk.repair(data, id);
            BOOST_FAIL("repair beside a writer succeeded");
        } catch (const error& e) {
            BOOST_TEST((e.kind() == errc::locked));
        }
    }
    BOOST_TEST(bk.repair(data, id).ok());  // nothing damaged: nothing to do
    // The backup's copy of d1 is damaged (its verification fails): repair
    // still takes d2 and d3 from it, and reports d1 alone as unrepairable.
    flip_byte(record_file(bk.path_of(id), "d1"), 30);
    BOOST_TEST(!bk.verify(id).ok());
    BOOST_TEST(!bk.find(id)->verified);
    auto good = docs_or_damage(bk.path_of(id), {"d0", "d2", "d3"});
    for (const char* i : {"d1", "d2", "d3"}) flip_byte(record_file(data, i), 30);
    auto report = bk.repair(data, id);
    BOOST_TEST(!report.ok());
    std::set<std::string> repaired;
    for (auto& r : report.repaired) repaired.insert(r.key);
    BOOST_TEST((repaired == std::set<std::string>{record_key("docs", "d2"), record_key("docs", "d3")}));
    BOOST_TEST_REQUIRE(report.unrepairable.size() == 1u);
    BOOST_TEST(report.unrepairable[0].key == record_key("docs", "d1"));
    BOOST_TEST(report.unrepairable[0].outcome.find("does not match its manifest") != std::string::npos);
    auto after = docs_or_damage(data, {"d0", "d1", "d2", "d3"});
    BOOST_TEST(after["d1"] == "!damaged");
    for (const char* i : {"d0", "d2", "d3"}) BOOST_TEST(after[i] == good[i], i);
    try {
        bk.repair(dir.path() / "nowhere", id);
        BOOST_FAIL("repair of a missing directory succeeded");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::failed_state || e.kind() == errc::not_found));
    }
    BOOST_TEST(!fs::exists(dir.path() / "nowhere"));
}

// --- automatic backups ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(auto_backup_on_open_interval_and_close_verified_and_rotated) {
    scratch_dir dir("backup-auto");
    auto data = dir.path() / "data";
    backups bk(backups::default_root(data));
    std::mutex m;
    std::vector<auto_backup_event> events;
    std::map<std::string, std::string> final_state;
    int commits = 0;
    {
        database<file_storage> db{file_storage(data)};
        fill(db, 0, 20);
        auto_backup ab(db, bk,
                       {.on_open = true, .on_close = true, .every = std::chrono::milliseconds(40),
                        .keep = {.last = 3}, .listener = [&](const auto_backup_event& e) {
                            std::lock_guard l(m);
                            events.push_back(e);
                        }});
        // Writes go on while backups run, and never wait for them.
        docs_t docs(db.storage(), "docs");
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
        while (std::chrono::steady_clock::now() < until || ab.succeeded() < 3) {
            docs.put(doc("w" + std::to_string(commits % 40), commits));
            ++commits;
        }
        ab.close();  // the close backup sees every write above
        BOOST_TEST(ab.failed() == 0u);
        final_state.clear();
        for (const auto& l : docs.list()) final_state[l.id] = docs.get(l.id)->dump();
    }
    BOOST_TEST(commits > 0);
    BOOST_TEST_REQUIRE(events.size() >= 4u);
    BOOST_TEST((events.front().trigger == auto_backup_trigger::open));
    BOOST_TEST((events.back().trigger == auto_backup_trigger::close));
    int interval = 0;
    for (const auto& e : events) {
        BOOST_TEST(e.ok, e.error);
        BOOST_TEST_REQUIRE(e.backup.has_value());
        BOOST_TEST(e.backup->verified);
        interval += e.trigger == auto_backup_trigger::interval;
        BOOST_TEST(e.rotated.kept.size() <= 3u);
    }
    BOOST_TEST(interval >= 2);
    // Rotation kept the newest three, all verified; the last is the close backup.
    auto listed = bk.list();
    BOOST_TEST_REQUIRE(listed.size() == 3u);
    BOOST_TEST(listed.back().id == events.back().backup->id);
    for (const auto& b : listed) BOOST_TEST(bk.verify(b.id).ok(), b.id);
    auto at_close = state_of(bk.path_of(listed.back().id));
    std::map<std::string, std::string> want(final_state.begin(), final_state.end());
    BOOST_TEST((at_close == want));
}

BOOST_AUTO_TEST_CASE(failing_auto_backups_are_reported_and_never_disturb_writes) {
    scratch_dir dir("backup-auto-fail");
    auto data = dir.path() / "data";
    // The backup root lies under a regular file: every create fails (as an
    // unwritable or vanished backup disk would), whoever runs the test.
    auto blocker = dir.path() / "blocker";
    { std::ofstream(blocker) << "not a directory"; }
    backups bk(blocker / "root");
    std::mutex m;
    std::vector<auto_backup_event> events;
    std::map<std::string, std::int64_t> model;
    {
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        auto_backup ab(db, bk,
                       {.on_open = true, .every = std::chrono::milliseconds(10), .keep = {.last = 2},
                        .listener = [&](const auto_backup_event& e) {
                            std::lock_guard l(m);
                            events.push_back(e);
                        }});
        std::mt19937_64 rng(stowage::test::test_seed());
        for (int i = 0; i < 300 || ab.failed() < 3; ++i) {
            std::string id = "f" + std::to_string(rng() % 60);
            if (rng() % 5 == 0) {
                docs.erase(id);
                model.erase(id);
            } else {
                docs.put(doc(id, i));
                model[id] = i;
            }
        }
        BOOST_TEST(ab.failed() >= 3u);
        BOOST_TEST(ab.succeeded() == 0u);
        BOOST_TEST_REQUIRE(ab.last_error().has_value());
        BOOST_TEST(ab.last_error()->find("blocker") != std::string::npos, *ab.last_error());

        // The target heals: backups succeed again, without a restart.
        fs::remove(blocker);
        fs::create_directories(blocker);
        ab.backup_now();
        for (int spin = 0; spin < 2000 && ab.succeeded() == 0; ++spin)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        BOOST_TEST(ab.succeeded() >= 1u);
    }
    {
        std::lock_guard l(m);
        BOOST_TEST_REQUIRE(events.size() >= 4u);
        BOOST_TEST((events.front().trigger == auto_backup_trigger::open));
        BOOST_TEST(!events.front().ok);
        BOOST_TEST(events.front().consecutive_failures == 1u);
        BOOST_TEST(!events.front().error.empty());
        BOOST_TEST(!events[2].ok);
        BOOST_TEST(events[2].consecutive_failures == 3u);
        BOOST_TEST(events.back().ok);
    }
    // Every write is there, exactly as the model says.
    std::map<std::string, std::string> want;
    for (auto& [id, n] : model) want[id] = doc(id, n).dump();
    BOOST_TEST((state_of(data) == want));
    database<file_storage> db{file_storage(data)};
    docs_t docs(db.storage(), "docs");
    BOOST_TEST(docs.verify().ok());
    for (const auto& b : bk.list()) BOOST_TEST(bk.verify(b.id).ok());
}

BOOST_AUTO_TEST_CASE(failed_auto_backup_without_a_listener_is_printed) {
    scratch_dir dir("backup-auto-loud");
    auto data = dir.path() / "data";
    auto blocker = dir.path() / "blocker";
    { std::ofstream(blocker) << "x"; }
    database<file_storage> db{file_storage(data)};
    fill(db, 0, 3);
    // stderr goes to a file for the close backup (taken on this thread).
    auto log = dir.path() / "stderr.txt";
    std::fflush(stderr);
    int saved = ::dup(2);
    {
        auto fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 2);
        ::close(fd);
    }
    {
        auto_backup ab(db, backups(blocker / "root"), {.on_close = true});
    }
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::ifstream in(log);
    std::string text(std::istreambuf_iterator<char>(in), {});
    BOOST_TEST(text.find("AUTOMATIC BACKUP FAILED (close") != std::string::npos, text);
    BOOST_TEST(text.find("blocker") != std::string::npos);
    BOOST_TEST(state_of(data).size() == 3u);
}

BOOST_AUTO_TEST_CASE(rotate_keeps_pinned_backups) {
    scratch_dir dir("backup-pin");
    auto data = dir.path() / "data";
    using namespace std::chrono;
    system_clock::time_point fake = sys_days(year(2024) / March / 4);
    backups bk(backups::default_root(data), backup_options{[&] { return fake; }, true});
    database<file_storage> db{file_storage(data)};
    fill(db, 0, 3);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        fake += hours(1);
        ids.push_back(bk.create(db, {}, "test " + std::to_string(i)).id);
    }
    BOOST_CHECK_THROW(bk.pin("19700101T000000Z-0"), error);
    bk.pin(ids[1]);
    BOOST_TEST(bk.pinned(ids[1]));
    auto report = bk.rotate({.last = 2});
    BOOST_TEST((report.kept == std::vector<std::string>{ids[1], ids[3], ids[4]}));
    BOOST_TEST((report.removed == std::vector<std::string>{ids[0], ids[2]}));
    bk.unpin(ids[1]);
    bk.unpin(ids[1]);  // twice: nothing to do
    BOOST_TEST(!bk.pinned(ids[1]));
    BOOST_TEST((bk.rotate({.last = 2}).removed == std::vector<std::string>{ids[1]}));
    for (auto& b : bk.list()) BOOST_TEST(bk.verify(b.id).ok());
}

BOOST_AUTO_TEST_CASE(killed_repair_repairs_all_or_nothing) {
    scratch_dir dir("backup-kill-repair");
    auto tmpl = dir.path() / "template";
    auto root = dir.path() / "backups";
    std::string id;
    std::vector<std::string> ids;
    {
        database<file_storage> db{file_storage(tmpl)};
        fill(db, 0, 300, std::string(300, 'r'));
        backups bk(root);
        id = bk.create(db).id;
    }
    for (int i = 0; i < 300; ++i) ids.push_back("d" + std::to_string(i));
    auto good = docs_or_damage(tmpl, ids);
    // Every 10th record damaged.
    for (int i = 0; i < 300; i += 10) {
        auto p = record_file(tmpl, "d" + std::to_string(i));
        flip_byte(p, static_cast<std::streamoff>(fs::file_size(p)) - 3);
    }
    auto damaged = docs_or_damage(tmpl, ids);
    // How long a whole repair takes here, so kills land all through it.
    std::chrono::microseconds full{};
    {
        auto data = dir.path() / "timing";
        fs::copy(tmpl, data, fs::copy_options::recursive);
        auto started = std::chrono::steady_clock::now();
        BOOST_TEST(backups(root).repair(data, id).repaired.size() == 30u);
        full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    }
    std::mt19937_64 rng(stowage::test::test_seed() + 3);
    int killed = 0, none = 0, all = 0;
    for (int round = 0; round < 12; ++round) {
        auto data = dir.path() / ("data" + std::to_string(round));
        fs::copy(tmpl, data, fs::copy_options::recursive);
        killed += kill_during([&] { backups(root).repair(data, id); }, static_cast<unsigned>(rng() % (full.count() + 1)));
        auto now = docs_or_damage(data, ids);
        BOOST_TEST((now == good || now == damaged), "round " << round << ": some repaired, some not");
        all += now == good;
        none += now == damaged;
        // Repair again: everything comes back.
        auto r = backups(root).repair(data, id);
        BOOST_TEST(r.ok());
        BOOST_TEST((docs_or_damage(data, ids) == good));
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        BOOST_TEST(docs.verify().ok());
        fs::remove_all(data);
    }
    BOOST_TEST_MESSAGE("a whole repair: " << full.count() << " us; killed " << killed << ", none repaired " << none << ", all repaired " << all);
    BOOST_TEST(killed > 0);
}

// Restore into a database on a storage that takes at most so many bytes in
// one write (as RADOS takes osd_max_write_size): the whole restore is one
// transaction, which the WAL appends in one write, so a backup needing a
// larger one is refused up front — not split into pieces that a crash
// could leave half applied — and the database is left as it was.
struct small_write_storage : memory_storage {
    std::uint64_t max_write_size() const { return 64u << 10; }
};

BOOST_AUTO_TEST_CASE(restore_into_a_storage_refuses_a_transaction_over_its_write_limit) {
    using small_docs = db_store<json_document, small_write_storage, gzip<json_codec>>;
    scratch_dir dir("backup-limit");
    backups bk(dir.path() / "backups");
    database<small_write_storage> db{small_write_storage{}};
    auto fill_small = [&](int from, int to, std::size_t text) {
        small_docs docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = from; i < to; ++i) {
            // Incompressible text, so the records are as large as it.
            std::string t;
            std::mt19937_64 rng(static_cast<std::uint64_t>(i));
            for (std::size_t k = 0; k < text; ++k) t += static_cast<char>('a' + rng() % 26);
            tx.put(docs, doc("d" + std::to_string(i), i, t));
        }
        tx.commit();
    };
    fill_small(0, 5, 10);
    auto small_id = bk.create(db).id;
    fill_small(5, 200, 1000);  // ~200 KB of records
    auto big_id = bk.create(db).id;
    {
        small_docs docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 0; i < 150; ++i) tx.erase(docs, "d" + std::to_string(i));
        tx.commit();
    }
    auto before = db.snapshot().list("");
    try {
        bk.restore(db, big_id);
        BOOST_ERROR("a restore larger than one write was accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::unsupported));
        BOOST_TEST(std::string(e.what()).find("nothing was restored") != std::string::npos, e.what());
        BOOST_TEST(std::string(e.what()).find("65536") != std::string::npos, e.what());
    }
    BOOST_TEST((db.snapshot().list("") == before));
    BOOST_TEST(bk.list().size() == 2u);  // not even a pre-restore backup
    // One that fits is restored, as one transaction.
    auto report = bk.restore(db, small_id);
    BOOST_TEST(report.previous.has_value());
    small_docs docs(db.storage(), "docs");
    BOOST_TEST(docs.size() == 5u);
    BOOST_TEST(docs.get("d3")->dump() == doc("d3", 3, docs.get("d3")->find("text")->as_string()).dump());
    BOOST_TEST(!docs.get("d170").has_value());
}

// Restore into a database (how a pool is restored) from a backup with a
// damaged record: one transaction takes only intact records, so the
// database keeps its own version of that key (reported); every other key
// is restored. A damaged file nothing checks on read refuses, nothing
// changed.
BOOST_AUTO_TEST_CASE(restore_into_a_database_keeps_its_own_version_of_a_damaged_record) {
    using mem_docs = db_store<json_document, memory_storage, gzip<json_codec>>;
    scratch_dir dir("backup-db-damage");
    backups bk(dir.path() / "backups");
    database<memory_storage> db{memory_storage{}};
    auto put = [&](int from, int to, const std::string& text) {
        mem_docs docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = from; i < to; ++i) tx.put(docs, doc("d" + std::to_string(i), i, text));
        tx.commit();
    };
    put(0, 10, "old");
    {
        auto tx = db.transaction();
        auto v = as_bytes(std::string_view("raw value"));
        tx.stage({"notes/plain", bytes(v.begin(), v.end()), {}});
        tx.commit();
    }
    auto id = bk.create(db).id;
    put(0, 10, "new");
    flip_byte(record_file(bk.path_of(id), "d3"), static_cast<std::streamoff>(fs::file_size(record_file(bk.path_of(id), "d3"))) - 3);
    std::string plain = slurp(bk.path_of(id) / "notes/plain");
    spit(bk.path_of(id) / "notes/plain", "Raw value");
    auto keys_before = db.snapshot().list("");
    try {
        bk.restore(db, id);
        BOOST_ERROR("a damaged raw value was restored");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::checksum_mismatch));
        BOOST_TEST(std::string(e.what()).find("notes/plain") != std::string::npos, e.what());
    }
    BOOST_TEST((db.snapshot().list("") == keys_before));
    BOOST_TEST(bk.list().size() == 1u);  // not even a pre-restore backup

    spit(bk.path_of(id) / "notes/plain", plain);
    auto report = bk.restore(db, id);
    BOOST_TEST_REQUIRE(report.damaged.size() == 1u);
    BOOST_TEST(report.damaged[0].key == record_key("docs", "d3"));
    BOOST_TEST(report.damaged[0].outcome.find("keeps its own version") != std::string::npos, report.damaged[0].outcome);
    BOOST_TEST(report.unresolved == 1u);
    mem_docs docs(db.storage(), "docs");
    for (int i = 0; i < 10; ++i) {
        auto d = docs.get("d" + std::to_string(i));
        BOOST_TEST_REQUIRE(d.has_value());
        BOOST_TEST(d->find("text")->as_string() == (i == 3 ? "new" : "old"), i);
    }
}
