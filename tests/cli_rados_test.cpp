// Black-box tests of the `stowage` command over a Ceph pool: the location
// rados:POOL:CONF wherever a command takes DIR. put/get/ls/rm/verify give
// exactly the output they give over a directory; verify finds a record
// damaged inside the cluster; a missing pool is one clear error line.
// Runs on the CTest fixture cluster (tests/cmake/rados.cmake); skipped
// (exit 77) where no cluster was started.
#define BOOST_TEST_MODULE cli_rados
#include "test_support.hpp"

#include <rados/librados.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

using stowage::test::run;
using stowage::test::scratch_dir;

namespace {

const std::string cli = STOWAGE_CLI;

std::string q(const std::string& s) { return "'" + s + "'"; }

const std::string& conf() {
    static const std::string c = [] {
        const char* e = std::getenv("STOWAGE_RADOS_CONF");
        std::string path = e ? e : "";
        if (path.empty() || !std::filesystem::exists(path)) {
            std::cout << "skipped: no test cluster (STOWAGE_RADOS_CONF=" << path << ")" << std::endl;
            std::_Exit(77);
        }
        return path;
    }();
    return c;
}

std::string pool() {
    const char* e = std::getenv("STOWAGE_RADOS_POOL");
    return e && *e ? e : "stowage";
}

std::pair<int, std::string> put(const std::string& where, const std::string& coll, const std::string& json) {
    return run("printf '%s' " + q(json) + " | " + cli + " put " + where + " " + coll + " 2>&1");
}

// The same commands against `where`; returns what they printed, in order.
std::vector<std::pair<int, std::string>> session(const std::string& where, const std::string& coll) {
    std::vector<std::pair<int, std::string>> out;
    out.push_back(put(where, coll, R"({"id":"s1","name":"Standup ✓","status":"done","start":1700000000000,"tags":["a"]})"));
    out.push_back(put(where, coll, R"({"id":"s2","name":"Retro"})"));
    out.push_back(put(where, coll, R"({"id":"s2","name":"Retro v2"})"));
    out.push_back(run(cli + " get " + where + " " + coll + " s1"));
    out.push_back(run(cli + " get " + where + " " + coll + " s2"));
    out.push_back(run(cli + " ls " + where + " " + coll));
    out.push_back(run(cli + " rm " + where + " " + coll + " s1"));
    out.push_back(run(cli + " get " + where + " " + coll + " s1 2>&1"));
    out.push_back(run(cli + " ls " + where + " " + coll));
    return out;
}

// Flips a byte in the middle of the pool's record object <coll>/<fan-out>/<id>
// (default namespace), behind stowage's back; returns the object's name.
std::string damage_record(const std::string& coll, const std::string& id) {
    rados_t c;
    BOOST_TEST_REQUIRE(rados_create(&c, "admin") == 0);
    BOOST_TEST_REQUIRE(rados_conf_read_file(c, conf().c_str()) == 0);
    BOOST_TEST_REQUIRE(rados_connect(c) == 0);
    rados_ioctx_t io;
    BOOST_TEST_REQUIRE(rados_ioctx_create(c, pool().c_str(), &io) == 0);
    rados_list_ctx_t ls;
    BOOST_TEST_REQUIRE(rados_nobjects_list_open(io, &ls) == 0);
    std::string object;
    const char* entry = nullptr;
    while (rados_nobjects_list_next(ls, &entry, nullptr, nullptr) == 0) {
        std::string name = entry;
        if (name.starts_with(coll + "/") && name.ends_with("/" + id)) object = name;
    }
    rados_nobjects_list_close(ls);
    BOOST_TEST_REQUIRE(!object.empty());
    std::uint64_t size = 0;
    BOOST_TEST_REQUIRE(rados_stat(io, object.c_str(), &size, nullptr) == 0);
    char byte = 0;
    BOOST_TEST_REQUIRE(rados_read(io, object.c_str(), &byte, 1, size / 2) == 1);
    byte = static_cast<char>(byte ^ 0xff);
    BOOST_TEST_REQUIRE(rados_write(io, object.c_str(), &byte, 1, size / 2) == 0);
    rados_ioctx_destroy(io);
    rados_shutdown(c);
    return object;
}

}  // namespace

BOOST_AUTO_TEST_CASE(put_get_ls_rm_verify_as_over_a_directory) {
    std::string coll = "docs" + std::to_string(::getpid());
    std::string where = "rados:" + pool() + ":" + conf();
    scratch_dir dir("cli-rados");
    auto on_rados = session(where, coll);
    auto on_dir = session(dir.str() + "/data", coll);
    BOOST_TEST_REQUIRE(on_rados.size() == on_dir.size());
    for (std::size_t i = 0; i < on_dir.size(); ++i) {
        BOOST_TEST_CONTEXT("command " << i) {
            BOOST_TEST(on_rados[i].first == on_dir[i].first);
            BOOST_TEST(on_rados[i].second == on_dir[i].second);
        }
    }
    BOOST_TEST(on_rados[4].second == "{\"id\":\"s2\",\"name\":\"Retro v2\"}\n");
    BOOST_TEST(on_rados[7].first == 3);  // s1 was removed
    auto v = run(cli + " verify " + where);
    BOOST_TEST(v.first == 0, v.second);
    BOOST_TEST(v.second.starts_with("ok: "));
}

BOOST_AUTO_TEST_CASE(verify_finds_a_record_damaged_in_the_cluster) {
    std::string coll = "damaged" + std::to_string(::getpid());
    std::string where = "rados:" + pool() + ":" + conf();
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"d1","text":"some text to damage"})").first == 0);
    // The database applies the commit to the record's key when the command
    // exits; damage that record behind stowage's back.
    std::string object = damage_record(coll, "d1");

    auto v = run(cli + " verify " + where);
    BOOST_TEST(v.first == 1, v.second);
    BOOST_TEST(v.second.find(object) != std::string::npos, v.second);
    BOOST_TEST(run(cli + " get " + where + " " + coll + " d1 2>/dev/null").first == 1);
    // Removing the damaged document clears it (and leaves the shared pool
    // clean for the tests after this one).
    auto rm = run(cli + " rm " + where + " " + coll + " d1 2>&1");
    BOOST_TEST(rm.first == 0, rm.second);
    auto again = run(cli + " verify " + where);
    BOOST_TEST(again.first == 0, again.second);
}

BOOST_AUTO_TEST_CASE(missing_pool_is_one_clear_line) {
    auto r = run(cli + " ls rados:no-such-pool:" + conf() + " c 2>&1");
    BOOST_TEST(r.first == 3);
    BOOST_TEST(r.second.find("pool no-such-pool does not exist") != std::string::npos, r.second);
    BOOST_TEST(std::count(r.second.begin(), r.second.end(), '\n') == 1);
    auto bad = run(cli + " ls rados:only-a-pool c 2>&1");
    BOOST_TEST(bad.first == 2, bad.second);  // bad_input: not rados:POOL:CONF
}

BOOST_AUTO_TEST_CASE(cas_and_stress_run_against_the_cluster) {
    std::string where = "rados:" + pool() + ":" + conf();
    scratch_dir dir("cli-rados-cas");
    // Content unique to this run, so the shared pool's other blobs don't matter.
    std::string file = dir.str() + "/blob.bin";
    {
        std::ofstream out(file, std::ios::binary);
        for (int i = 0; i < 200000; ++i) out << (i * 7919 + ::getpid()) << ',';
    }
    auto sum = run("sha256sum " + q(file));
    auto put = run(cli + " cas put " + where + " --chunking fastcdc:4096:16384:65536 " + q(file));
    BOOST_TEST_REQUIRE(put.first == 0, put.second);
    BOOST_TEST(put.second == sum.second);  // same line as sha256sum
    std::string digest = put.second.substr(0, 64);
    auto got = run(cli + " cas get " + where + " " + digest + " > " + q(dir.str() + "/back.bin") + " && cmp " +
                   q(file) + " " + q(dir.str() + "/back.bin"));
    BOOST_TEST(got.first == 0, got.second);
    BOOST_TEST(run(cli + " cas ref " + where + " " + digest + " owner-" + std::to_string(::getpid()) + " f").first == 0);
    auto stats = run(cli + " cas stats " + where);
    BOOST_TEST(stats.first == 0);
    BOOST_TEST(stats.second.find("blobs: ") != std::string::npos, stats.second);
    // Referenced: gc keeps it.
    BOOST_TEST(run(cli + " cas gc " + where).first == 0);
    BOOST_TEST(run(cli + " cas get " + where + " " + digest + " > /dev/null").first == 0);
    BOOST_TEST(run(cli + " cas unref " + where + " " + digest + " owner-" + std::to_string(::getpid())).first == 0);
    BOOST_TEST(run(cli + " cas gc " + where).first == 0);
    BOOST_TEST(run(cli + " cas get " + where + " " + digest + " > /dev/null 2>&1").first != 0);

    // stress: every acknowledged transaction has all its documents.
    auto st = run(cli + " stress " + where + " --writers 2 --transactions 5 --ops 3");
    BOOST_TEST_REQUIRE(st.first == 0, st.second);
    std::istringstream lines(st.second);
    std::string word, txid;
    std::vector<std::string> acknowledged;
    while (lines >> word >> txid) acknowledged.push_back(txid);
    BOOST_TEST(acknowledged.size() == 10u);
    auto ls = run(cli + " ls " + where + " stress");
    BOOST_TEST_REQUIRE(ls.first == 0);
    for (const auto& t : acknowledged)
        for (int j = 0; j < 3; ++j)
            BOOST_TEST(ls.second.find(t + "." + std::to_string(j) + "\t") != std::string::npos, "missing " << t << "." << j);
}

// The other commands that take DIR: export, index, wal dump and race run
// over the pool and print what they print over a directory (export before
// the index: an index's records are not documents, and export refuses a
// collection it cannot decode; so this test expects the fresh cluster the
// CTest fixture starts, not one an earlier run of it left an index in).
BOOST_AUTO_TEST_CASE(wal_index_export_race_over_the_cluster_and_clear_refusals) {
    std::string where = "rados:" + pool() + ":" + conf();
    scratch_dir dir("cli-rados-more");
    std::string tsv = dir.str() + "/docs.tsv";
    {
        std::ofstream out(tsv);
        out << "1\tthe quick brown fox\n2\tjumps over the lazy dog\n3\tquick thinking\n";
    }
    std::string coll = "exported" + std::to_string(::getpid());
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"e1","name":"to export"})").first == 0);
    auto exported = run(cli + " export " + where);
    BOOST_TEST_REQUIRE(exported.first == 0, exported.second.substr(0, 400));
    BOOST_TEST(exported.second.find("stowage-export") != std::string::npos);
    BOOST_TEST(exported.second.find("to export") != std::string::npos);

    for (const std::string& at : {where, dir.str() + "/data"}) {
        BOOST_TEST_CONTEXT(at) {
            auto built = run(cli + " index build " + at + " --tsv " + q(tsv));
            BOOST_TEST_REQUIRE(built.first == 0, built.second);
            BOOST_TEST(built.second.starts_with("indexed 3 documents, 1 fields"), built.second);
            auto found = run(cli + " index search " + at + " quick");
            BOOST_TEST(found.first == 0, found.second);
            BOOST_TEST(found.second == "1\n3\n");
            auto stats = run(cli + " index stats " + at);
            BOOST_TEST(stats.second.starts_with("documents: 3\n"), stats.second);
        }
    }
    auto dump = run(cli + " wal dump " + where);
    BOOST_TEST_REQUIRE(dump.first == 0, dump.second);
    BOOST_TEST(dump.second.find("\tcommit\t") != std::string::npos, dump.second.substr(0, 400));

    auto race = run(cli + " race " + where + " --writers 2 --updates 3");
    BOOST_TEST(race.first == 0, race.second);
    BOOST_TEST(race.second == "done\n");
}

// backup create/list/verify/restore/rotate, import and repair over the pool
// with --root: the same output lines as over a directory; restore brings
// back exactly the backed-up documents. Without --root each of them is a
// usage error naming it (a pool has no directory beside it).
BOOST_AUTO_TEST_CASE(backup_restore_import_repair_over_the_pool_with_root) {
    std::string where = "rados:" + pool() + ":" + conf();
    scratch_dir dir("cli-rados-backup");
    std::string root = dir.str() + "/backups";
    std::string coll = "backed" + std::to_string(::getpid());

    for (const std::string& cmd : {"backup create " + where, "backup list " + where, "backup verify " + where + " x",
                                   "backup restore " + where + " x", "backup rotate " + where + " --keep-last 1",
                                   "repair " + where + " --from-backup x", "import " + where + " " + q(dir.str() + "/none")}) {
        auto r = run(cli + " " + cmd + " 2>&1");
        BOOST_TEST(r.first == 2, cmd << ": " << r.second);
        BOOST_TEST(r.second.find("--root DIR is required for " + where) != std::string::npos, cmd << ": " << r.second);
        BOOST_TEST(std::count(r.second.begin(), r.second.end(), '\n') == 1, r.second);
    }
    BOOST_TEST(!std::filesystem::exists(root));

    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r1","name":"before"})").first == 0);
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r2","name":"kept"})").first == 0);
    auto created = run(cli + " backup create " + where + " --root " + q(root));
    BOOST_TEST_REQUIRE(created.first == 0, created.second);
    std::string id = created.second.substr(0, created.second.find('\t'));
    BOOST_TEST(created.second.ends_with("\tverified\n"), created.second);
    BOOST_TEST(std::count(created.second.begin(), created.second.end(), '\t') == 5);
    auto listed = run(cli + " backup list " + where + " --root " + q(root));
    BOOST_TEST(listed.first == 0);
    BOOST_TEST(listed.second == created.second);
    auto verified = run(cli + " backup verify " + where + " " + id + " --root " + q(root));
    BOOST_TEST(verified.first == 0, verified.second);
    BOOST_TEST(verified.second.starts_with("ok: backup " + id + ", "), verified.second);

    // Changes after the backup, then restore: they are gone.
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r1","name":"after"})").first == 0);
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r3","name":"new"})").first == 0);
    BOOST_TEST_REQUIRE(run(cli + " rm " + where + " " + coll + " r2").first == 0);
    auto restored = run(cli + " backup restore " + where + " " + id + " --root " + q(root));
    BOOST_TEST_REQUIRE(restored.first == 0, restored.second);
    BOOST_TEST(restored.second.starts_with("restored " + id + " into " + where + " (the previous state is backup "),
               restored.second);
    BOOST_TEST(restored.second.ends_with(")\n"));
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r1").second == "{\"id\":\"r1\",\"name\":\"before\"}\n");
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r2").second == "{\"id\":\"r2\",\"name\":\"kept\"}\n");
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r3 2>/dev/null").first == 3);
    auto ls = run(cli + " ls " + where + " " + coll);
    BOOST_TEST(ls.second.find("r3") == std::string::npos, ls.second);
    BOOST_TEST(ls.second.find("r2") != std::string::npos, ls.second);
    // A damaged backup is refused (exit 1) and the pool keeps its state.
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r4","name":"stays"})").first == 0);
    auto all = run(cli + " backup list " + where + " --root " + q(root));
    BOOST_TEST(std::count(all.second.begin(), all.second.end(), '\n') == 2, all.second);  // + the pre-restore one
    {
        std::string victim;
        for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/" + id))
            if (e.is_regular_file() && e.path().string().find("/" + coll + "/") != std::string::npos &&
                e.path().filename() == "r1")
                victim = e.path().string();
        BOOST_TEST_REQUIRE(!victim.empty());
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(victim) / 2));
        f.put('\x7f');
    }
    // A damaged file of the backup: the rest is restored, the pool keeps
    // its own version of that key, and the damage is reported (exit 1).
    auto partial = run(cli + " backup restore " + where + " " + id + " --root " + q(root) + " 2>&1");
    BOOST_TEST(partial.first == 1, partial.second);
    BOOST_TEST(partial.second.find("damaged\t") != std::string::npos, partial.second);
    BOOST_TEST(partial.second.find("keeps its own version") != std::string::npos, partial.second);
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r1").second == "{\"id\":\"r1\",\"name\":\"before\"}\n");
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r4 2>/dev/null").first == 3);  // not in the backup
    BOOST_TEST_REQUIRE(put(where, coll, R"({"id":"r4","name":"stays"})").first == 0);

    // rotate keeps the newest.
    auto rotated = run(cli + " backup rotate " + where + " --keep-last 1 --root " + q(root));
    BOOST_TEST(rotated.first == 0, rotated.second);
    BOOST_TEST(rotated.second.starts_with("removed\t" + id + "\n"), rotated.second);  // the oldest first
    BOOST_TEST(std::count(rotated.second.begin(), rotated.second.end(), '\n') ==
                   std::count(all.second.begin(), all.second.end(), '\n') + 1,  // every backup, the partial restore's too
               rotated.second);
    BOOST_TEST(rotated.second.find("\nkept\t") != std::string::npos, rotated.second);

    // import a file exported from a directory, into the pool.
    std::string data = dir.str() + "/data";
    BOOST_TEST_REQUIRE(put(data, coll, R"({"id":"i1","name":"imported"})").first == 0);
    BOOST_TEST_REQUIRE(run(cli + " export " + data + " > " + q(dir.str() + "/dump.jsonl")).first == 0);
    auto imported = run(cli + " import " + where + " " + q(dir.str() + "/dump.jsonl") + " --root " + q(root));
    BOOST_TEST_REQUIRE(imported.first == 0, imported.second);
    BOOST_TEST(imported.second.starts_with("imported 1 documents in one transaction (backup "), imported.second);
    BOOST_TEST(run(cli + " get " + where + " " + coll + " i1").second == "{\"id\":\"i1\",\"name\":\"imported\"}\n");

    // repair: a record damaged inside the pool comes back from a backup.
    auto fresh = run(cli + " backup create " + where + " --root " + q(root));
    BOOST_TEST_REQUIRE(fresh.first == 0, fresh.second);
    std::string fresh_id = fresh.second.substr(0, fresh.second.find('\t'));
    std::string object = damage_record(coll, "r4");
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r4 2>/dev/null").first == 1);
    auto repaired = run(cli + " repair " + where + " --from-backup " + fresh_id + " --root " + q(root));
    BOOST_TEST(repaired.first == 0, repaired.second);
    BOOST_TEST(repaired.second.starts_with("repaired\t" + object + "\t"), repaired.second);
    BOOST_TEST(repaired.second.find("\nok: ") != std::string::npos, repaired.second);
    BOOST_TEST(run(cli + " get " + where + " " + coll + " r4").second == "{\"id\":\"r4\",\"name\":\"stays\"}\n");
    BOOST_TEST(run(cli + " verify " + where).first == 0);
}
