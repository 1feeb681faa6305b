// Black-box tests of `stowage backup|export|import`: the list format (one
// line per backup, oldest first, id first), verify finding damage (exit 1),
// restore and rotate; damage in one file (a live chunk, a backup's record,
// the live directory, a manifest) never costs the rest nor passes for good
// data; `backup create` on a read-only mount; export -> python3 json.tool
// -> import round trip;
// bad files (JSONTestSuite, truncated exports) rejected with one stderr line
// and the directory byte-for-byte unchanged; quiet stderr when not a
// terminal; `backup restore` killed with SIGKILL at random moments leaves
// the old or the restored state and `stowage verify` passes.
#define BOOST_TEST_MODULE cli_backup
#include "test_support.hpp"

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <sys/wait.h>

#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>

using stowage::test::run;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

static const std::string cli = STOWAGE_CLI;

static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

static std::map<std::string, std::string> fingerprint(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file())
            out[e.path().lexically_relative(dir).string()] =
                stowage::to_hex(stowage::hash_of<stowage::sha256>(stowage::as_bytes(slurp(e.path()))));
    return out;
}

static void put_many(const std::string& d, const std::string& coll, int from, int to, const std::string& tag) {
    // One `put` per document is slow; write them through import instead.
    std::string file = d + ".seed.jsonl";
    {
        std::ofstream out(file);
        out << R"({"format":"stowage-export","version":1,"collections":[{"name":")" << coll
            << R"(","codec":"gzip+json"}]})" << "\n";
        for (int i = from; i < to; ++i)
            out << R"({"collection":")" << coll << R"(","document":{"id":"d)" << i << R"(","tag":")" << tag
                << R"(","pad":")" << std::string(300, 'p') << "\"}}\n";
    }
    auto r = run(cli + " import " + d + " " + file + " --allow-unsigned 2>&1");
    BOOST_TEST_REQUIRE(r.first == 0, r.second);
    fs::remove(file);
}

static std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

BOOST_AUTO_TEST_CASE(create_list_verify_restore_rotate) {
    scratch_dir dir("cli-backup");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 5, "first");
    auto c1 = run(cli + " backup create " + d + " 2>" + dir.str() + "/err");
    BOOST_TEST_REQUIRE(c1.first == 0, c1.second);
    BOOST_TEST(slurp(dir.path() / "err").empty());  // no progress bar when stderr is not a terminal
    std::string id1 = c1.second.substr(0, c1.second.find('\t'));
    put_many(d, "docs", 5, 8, "second");
    auto c2 = run(cli + " backup create " + d);
    BOOST_TEST_REQUIRE(c2.first == 0);
    std::string id2 = c2.second.substr(0, c2.second.find('\t'));

    auto list = lines_of(run(cli + " backup list " + d).second);
    // The imports made backups of their own before applying (3 so far).
    BOOST_TEST_REQUIRE(list.size() >= 2u);
    std::vector<std::string> ids;
    for (auto& l : list) {
        ids.push_back(l.substr(0, l.find('\t')));
        BOOST_TEST(l.ends_with("\tverified"), l);
        BOOST_TEST(std::count(l.begin(), l.end(), '\t') == 5);
    }
    BOOST_TEST((std::find(ids.begin(), ids.end(), id1) < std::find(ids.begin(), ids.end(), id2)));  // oldest first
    BOOST_TEST(ids.back() == id2);

    auto v = run(cli + " backup verify " + d + " " + id1);
    BOOST_TEST(v.first == 0, v.second);
    BOOST_TEST(v.second.starts_with("ok: backup " + id1));

    // Restore the first: documents 5..7 disappear.
    auto r = run(cli + " backup restore " + d + " " + id1 + " 2>&1");
    BOOST_TEST(r.first == 0, r.second);
    auto ls = run(cli + " ls " + d + " docs").second;
    BOOST_TEST(lines_of(ls).size() == 5u);
    BOOST_TEST(ls.find("first") != std::string::npos);
    BOOST_TEST(run(cli + " verify " + d).first == 0);

    // Damage inside a backup: verify exits 1 and names the file.
    fs::path victim;
    for (auto& e : fs::recursive_directory_iterator(dir.path() / "data.backups" / id2 / "docs"))
        if (e.is_regular_file() && e.path().filename() != "listing") victim = e.path();
    {
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-1, std::ios::end);
        f.put('#');
    }
    auto bad = run(cli + " backup verify " + d + " " + id2 + " 2>&1");
    BOOST_TEST(bad.first == 1, bad.second);
    BOOST_TEST(bad.second.find("docs/") != std::string::npos);
    // Restore from it goes on: the damaged record is named (exit 1), the
    // rest is restored.
    auto damaged_restore = run(cli + " backup restore " + d + " " + id2 + " 2>/dev/null");
    BOOST_TEST(damaged_restore.first == 1);
    std::string victim_key = victim.lexically_relative(dir.path() / "data.backups" / id2).generic_string();
    BOOST_TEST(damaged_restore.second.find("damaged\t" + victim_key + "\t") != std::string::npos, damaged_restore.second);
    BOOST_TEST(damaged_restore.second.find("restored " + id2 + " into ") != std::string::npos, damaged_restore.second);
    BOOST_TEST(lines_of(run(cli + " ls " + d + " docs").second).size() == 8u);
    BOOST_TEST(run(cli + " backup list " + d).second.find(id2 + "\t") != std::string::npos);
    BOOST_TEST(run(cli + " backup list " + d).second.find("\tunverified") != std::string::npos);

    // Rotation.
    BOOST_TEST(run(cli + " backup rotate " + d + " 2>/dev/null").first == 2);
    auto rot = run(cli + " backup rotate " + d + " --keep-last 2");
    BOOST_TEST(rot.first == 0, rot.second);
    BOOST_TEST(lines_of(run(cli + " backup list " + d).second).size() == 2u);
    BOOST_TEST(rot.second.find("kept\t") != std::string::npos);
    BOOST_TEST(rot.second.find("removed\t" + id1) != std::string::npos);
    BOOST_TEST(run(cli + " backup restore " + d + " no-such-id 2>/dev/null").first == 3);
    BOOST_TEST(run(cli + " backup frobnicate " + d + " 2>/dev/null").first == 2);
}

static void flip(const fs::path& file, std::streamoff at) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x5a));
}

// The record file of document `id` of collection docs under a data directory.
static fs::path record_of(const fs::path& dir, const std::string& id) {
    for (auto& e : fs::recursive_directory_iterator(dir / "docs"))
        if (e.is_regular_file() && e.path().filename() == id) return e.path();
    BOOST_FAIL("no record " << id << " under " << dir);
    return {};
}

static std::string id_of(const std::string& list_line) { return list_line.substr(0, list_line.find('\t')); }

// Issue 19: backups hard-linked CAS chunks, so a byte flipped in a live
// chunk damaged the backup too, after which repair and restore refused the
// whole backup. The backup keeps its own bytes; one damaged file in it
// costs that file only.
BOOST_AUTO_TEST_CASE(damage_in_one_file_never_costs_the_rest) {
    scratch_dir dir("cli-backup-one-file");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 5, "first");
    std::string blob = dir.str() + "/blob";
    {
        std::ofstream out(blob, std::ios::binary);
        std::mt19937_64 rng(5);
        for (int i = 0; i < 100000; ++i) out.put(static_cast<char>('a' + rng() % 26));
    }
    auto put = run(cli + " cas put " + d + " " + blob);
    BOOST_TEST_REQUIRE(put.first == 0, put.second);
    std::string digest = put.second.substr(0, 64);
    auto c = run(cli + " backup create " + d);
    BOOST_TEST_REQUIRE(c.first == 0, c.second);
    std::string id = id_of(c.second);
    put_many(d, "docs", 2, 5, "second");  // d2..d4 change after the backup
    fs::path backup = dir.path() / "data.backups" / id;
    fs::path chunk;
    for (auto& e : fs::recursive_directory_iterator(dir.path() / "data" / "cas" / "sha256"))
        if (e.is_regular_file()) chunk = e.path();
    BOOST_TEST_REQUIRE(!chunk.empty());
    std::string chunk_key = chunk.lexically_relative(dir.path() / "data").generic_string();

    // A byte flipped in the live chunk stays out of the backup.
    flip(chunk, 10);
    BOOST_TEST(run(cli + " cas get " + d + " " + digest + " >/dev/null 2>&1").first == 1);
    auto v = run(cli + " backup verify " + d + " " + id + " 2>&1");
    BOOST_TEST(v.first == 0, v.second);

    // The backup's copy of d1 damaged (d1 damaged live too), and d2 damaged live.
    flip(record_of(backup, "d1"), 40);
    flip(record_of(d, "d1"), 40);
    flip(record_of(d, "d2"), 40);
    std::string d1_key = record_of(d, "d1").lexically_relative(d).generic_string();
    std::string d2_key = record_of(d, "d2").lexically_relative(d).generic_string();
    BOOST_TEST(run(cli + " backup verify " + d + " " + id + " >/dev/null 2>&1").first == 1);

    // repair takes everything else from it; d1 alone is unrepairable.
    auto r = run(cli + " repair " + d + " --from-backup " + id + " 2>&1");
    BOOST_TEST(r.first == 1, r.second);
    BOOST_TEST(r.second.find("repaired\t" + chunk_key + "\t") != std::string::npos, r.second);
    BOOST_TEST(r.second.find("repaired\t" + d2_key + "\t") != std::string::npos, r.second);
    BOOST_TEST(r.second.find("unrepairable\t" + d1_key + "\t") != std::string::npos, r.second);
    BOOST_TEST(run(cli + " cas get " + d + " " + digest + " > " + dir.str() + "/out").first == 0);
    BOOST_TEST(slurp(dir.path() / "out") == slurp(blob));
    BOOST_TEST(run(cli + " get " + d + " docs d2").first == 0);

    // restore from it restores everything else; d1, damaged in the backup
    // and in data, is restored as it is (it fails every read) and named
    // (exit 1).
    auto rs = run(cli + " backup restore " + d + " " + id + " 2>&1");
    BOOST_TEST(rs.first == 1, rs.second);
    BOOST_TEST(rs.second.find("damaged\t" + d1_key + "\t") != std::string::npos, rs.second);
    BOOST_TEST(rs.second.find("restored as it is") != std::string::npos, rs.second);
    BOOST_TEST(rs.second.find("restored " + id + " into ") != std::string::npos, rs.second);
    BOOST_TEST(run(cli + " get " + d + " docs d1 >/dev/null 2>&1").first == 1);  // never passes for good data
    for (const char* i : {"d0", "d2", "d3", "d4"}) {
        auto g = run(cli + " get " + d + " docs " + i);
        BOOST_TEST(g.first == 0, i);
        BOOST_TEST(g.second.find("first") != std::string::npos, i << ": " << g.second);
    }
    BOOST_TEST(run(cli + " cas get " + d + " " + digest + " > " + dir.str() + "/out").first == 0);
    BOOST_TEST(slurp(dir.path() / "out") == slurp(blob));
}

// Issue 19: `backup restore` over a directory with a damaged record failed
// while backing up the current state, naming a backup id that `backup list`
// did not show. That copy is taken as the files are, listed as damaged.
BOOST_AUTO_TEST_CASE(restore_over_a_damaged_directory) {
    scratch_dir dir("cli-backup-over-damage");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 5, "first");
    auto c = run(cli + " backup create " + d);
    BOOST_TEST_REQUIRE(c.first == 0, c.second);
    std::string id = id_of(c.second);
    put_many(d, "docs", 0, 5, "second");
    flip(record_of(d, "d1"), 24);  // a header
    BOOST_TEST(run(cli + " get " + d + " docs d1 >/dev/null 2>&1").first == 1);

    auto r = run(cli + " backup restore " + d + " " + id + " 2>&1");
    BOOST_TEST(r.first == 0, r.second);
    const std::string marker = "(the previous state is backup ";
    auto at = r.second.find(marker);
    BOOST_TEST_REQUIRE(at != std::string::npos, r.second);
    std::string prev = r.second.substr(at + marker.size());
    prev = prev.substr(0, prev.find_first_of(",)"));
    BOOST_TEST(r.second.find("damaged") != std::string::npos, r.second);
    // Every id printed is one `backup list` shows, with its state.
    auto list = lines_of(run(cli + " backup list " + d + " 2>/dev/null").second);
    bool shown = false;
    for (auto& l : list)
        if (id_of(l) == prev) {
            shown = true;
            BOOST_TEST(l.ends_with("\tdamaged"), l);
        }
    BOOST_TEST(shown, prev << " not in the list");
    auto ls = run(cli + " ls " + d + " docs").second;
    BOOST_TEST(lines_of(ls).size() == 5u);
    BOOST_TEST(ls.find("second") == std::string::npos);
    BOOST_TEST(run(cli + " verify " + d).first == 0);
    // verify of the copy names the damage it was taken with.
    auto v = run(cli + " backup verify " + d + " " + prev + " 2>&1");
    BOOST_TEST(v.first == 1, v.second);
    BOOST_TEST(v.second.find("when the backup was taken") != std::string::npos, v.second);
}

// Issue 19: a manifest carries its own checksum; a damaged one is listed as
// damaged and refused, never trusted.
BOOST_AUTO_TEST_CASE(a_damaged_manifest_is_reported_not_trusted) {
    scratch_dir dir("cli-backup-manifest");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 3, "first");
    auto c = run(cli + " backup create " + d);
    BOOST_TEST_REQUIRE(c.first == 0, c.second);
    std::string id = id_of(c.second);
    fs::path manifest = dir.path() / "data.backups" / id / ".stowage-backup.json";
    std::string text = slurp(manifest);
    BOOST_TEST(text.find("\"manifest_sha256\"") != std::string::npos);
    auto at = text.find("\"size\":") + 7;
    text[at] = text[at] == '1' ? '2' : '1';
    { std::ofstream(manifest, std::ios::binary | std::ios::trunc) << text; }

    auto list = run(cli + " backup list " + d + " 2>" + dir.str() + "/err");
    BOOST_TEST(list.first == 0);
    bool shown = false;
    for (auto& l : lines_of(list.second))
        if (id_of(l) == id) {
            shown = true;
            BOOST_TEST(l.ends_with("\tdamaged"), l);
            BOOST_TEST(std::count(l.begin(), l.end(), '\t') == 5);
        }
    BOOST_TEST(shown);
    BOOST_TEST(slurp(dir.path() / "err").find("backup " + id + " is damaged") != std::string::npos, slurp(dir.path() / "err"));
    auto v = run(cli + " backup verify " + d + " " + id + " 2>&1");
    BOOST_TEST(v.first == 1, v.second);
    BOOST_TEST(v.second.starts_with(".stowage-backup.json\t"), v.second);
    auto before = fingerprint(d);
    auto r = run(cli + " backup restore " + d + " " + id + " 2>&1");
    BOOST_TEST(r.first == 1, r.second);
    BOOST_TEST(r.second.find(".stowage-backup.json") != std::string::npos, r.second);
    BOOST_TEST((fingerprint(d) == before));
}

// Issue 19: `backup create` of a data directory on a read-only mount. The
// mount is real: a private mount namespace (unshare --mount) bind-mounts
// the directory read-only onto itself, so even root cannot write there.
BOOST_AUTO_TEST_CASE(backup_create_on_a_read_only_mount) {
    if (run("unshare --mount true 2>/dev/null").first != 0 &&
        run("unshare --user --map-root-user --mount true 2>/dev/null").first != 0) {
        BOOST_TEST_MESSAGE("skipped: no mount namespace here (unshare --mount fails)");
        return;
    }
    std::string unshare = run("unshare --mount true 2>/dev/null").first == 0 ? "unshare --mount" : "unshare --user --map-root-user --mount";
    scratch_dir dir("cli-backup-ro");
    std::string d = dir.str() + "/data", root = dir.str() + "/backups";
    put_many(d, "docs", 0, 20, "ro");
    auto read_only = [&](const std::string& cmd) {
        return run(unshare + " sh -c 'mount --bind " + d + " " + d + " && mount -o remount,bind,ro " + d + " && " + cmd +
                   "' 2>&1");
    };
    auto probe = read_only("touch " + d + "/probe");
    BOOST_TEST_REQUIRE(probe.first != 0, "the mount is not read-only: " << probe.second);
    BOOST_TEST(probe.second.find("Read-only") != std::string::npos, probe.second);
    auto before = fingerprint(d);

    auto c = read_only(cli + " backup create " + d + " --root " + root);
    BOOST_TEST_REQUIRE(c.first == 0, c.second);
    BOOST_TEST(c.second.ends_with("\tverified\n"), c.second);
    std::string id = id_of(c.second);
    BOOST_TEST((fingerprint(d) == before));
    auto v = run(cli + " backup verify " + d + " " + id + " --root " + root);
    BOOST_TEST(v.first == 0, v.second);
    BOOST_TEST(run(cli + " ls " + root + "/" + id + " docs").second == run(cli + " ls " + d + " docs").second);

    // A writer holding the directory's lock keeps the read-only create out.
    auto locked = run("flock -x " + d + "/.lock " + unshare + " sh -c 'mount --bind " + d + " " + d +
                      " && mount -o remount,bind,ro " + d + " && " + cli + " backup create " + d + " --root " + root +
                      "' 2>&1");
    BOOST_TEST(locked.first == 3, locked.second);
    BOOST_TEST(locked.second.find("locked") != std::string::npos, locked.second);
    BOOST_TEST(lines_of(run(cli + " backup list " + d + " --root " + root).second).size() == 1u);
}

BOOST_AUTO_TEST_CASE(export_python_import_round_trip) {
    scratch_dir dir("cli-export");
    std::string src = dir.str() + "/src", dst = dir.str() + "/dst", file = dir.str() + "/dump.jsonl";
    put_many(src, "docs", 0, 20, "x");
    BOOST_TEST(run("printf '%s' '{\"id\":\"n\",\"big\":123456789012345678901234567890,\"u\":\"\\u00e9✓\"}' | " + cli +
                   " put " + src + " notes")
                   .first == 0);
    BOOST_TEST(run(cli + " export " + src + " > " + file).first == 0);
    auto py = run("python3 -m json.tool --json-lines " + file + " >/dev/null 2>&1; echo $?");
    BOOST_TEST(py.second == "0\n");
    auto imp = run(cli + " import " + dst + " " + file + " 2>&1");
    BOOST_TEST(imp.first == 0, imp.second);
    BOOST_TEST(imp.second.starts_with("imported 21 documents in one transaction"));
    BOOST_TEST(run(cli + " ls " + dst + " docs").second == run(cli + " ls " + src + " docs").second);
    BOOST_TEST(run(cli + " get " + dst + " notes n").second == run(cli + " get " + src + " notes n").second);
    BOOST_TEST(run(cli + " verify " + dst).first == 0);

    // Legacy: the seed app's whole-collection array.
    std::string legacy = dir.str() + "/sessions.json";
    { std::ofstream(legacy) << R"([{"id":"s1","name":"a"},{"id":"s2","name":"b"}])"; }
    auto l = run(cli + " import " + dst + " --legacy sessions " + legacy + " 2>&1");
    BOOST_TEST(l.first == 0, l.second);
    BOOST_TEST(lines_of(run(cli + " ls " + dst + " sessions").second).size() == 2u);
    { std::ofstream(legacy) << R"([{"id":"s3"},{"name":"no id"}])"; }
    auto before = fingerprint(dst);
    auto lb = run(cli + " import " + dst + " --legacy sessions " + legacy + " 2>&1");
    BOOST_TEST(lb.first == 2, lb.second);
    BOOST_TEST(lb.second.find("element 2") != std::string::npos, lb.second);
    BOOST_TEST((fingerprint(dst) == before));

    // Truncated at every line end: rejected, one line on stderr, nothing changed.
    std::string good = slurp(file);
    for (std::size_t at = good.find('\n'); at + 1 < good.size(); at = good.find('\n', at + 1)) {
        { std::ofstream(file, std::ios::trunc) << good.substr(0, at + 1); }
        auto r = run(cli + " import " + dst + " " + file + " 2>&1");
        BOOST_TEST(r.first == 2, r.second);
        BOOST_TEST(std::count(r.second.begin(), r.second.end(), '\n') == 1, r.second);
        BOOST_TEST(r.second.find("line ") != std::string::npos, r.second);
    }
    BOOST_TEST((fingerprint(dst) == before));
}

BOOST_AUTO_TEST_CASE(json_test_suite_through_the_command, *boost::unit_test::label("shared_data")) {
    auto suite = stowage::test::shared_data("json-test-suite/test_parsing");
    scratch_dir dir("cli-suite");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 3, "keep");
    auto before = fingerprint(d);
    auto backups_before = run(cli + " backup list " + d).second;
    int files = 0, seen = 0;
    // Under the sanitizers each command costs ~0.45 s of start-up alone (a
    // 40 MB instrumented binary): there every fourth file goes through the
    // command (the parser itself meets every file in-process under the
    // sanitizers in json_document_test, and all of them here in the
    // optimized build).
#if defined(__SANITIZE_ADDRESS__)
    const int every = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    const int every = 4;
#else
    const int every = 1;
#endif
#else
    const int every = 1;
#endif
    for (auto& e : fs::directory_iterator(suite)) {
        if (seen++ % every != 0) continue;
        std::string name = e.path().filename().string();
        auto r = run("timeout 20 " + cli + " import " + d + " '" + e.path().string() + "' 2>&1");
        ++files;
        BOOST_TEST((r.first == 2 || r.first == 3), name << " -> " << r.first << ": " << r.second);  // 124: hung
        BOOST_TEST(r.second.starts_with("stowage: "), name << ": " << r.second);
        BOOST_TEST(std::count(r.second.begin(), r.second.end(), '\n') == 1, name << ": " << r.second);
    }
    BOOST_TEST(files > 300 / every);
    BOOST_TEST((fingerprint(d) == before), "an import of a rejected file changed the directory");
    BOOST_TEST(run(cli + " backup list " + d).second == backups_before);
}

BOOST_AUTO_TEST_CASE(restore_killed_at_random_moments) {
    scratch_dir dir("cli-restore-kill");
    std::string d = dir.str() + "/data";
    put_many(d, "docs", 0, 300, "old");
    auto c = run(cli + " backup create " + d);
    BOOST_TEST_REQUIRE(c.first == 0);
    std::string old_id = c.second.substr(0, c.second.find('\t'));
    put_many(d, "docs", 0, 300, "new");
    put_many(d, "docs", 300, 320, "new");
    auto c2 = run(cli + " backup create " + d);
    std::string new_id = c2.second.substr(0, c2.second.find('\t'));
    std::string old_state = run(cli + " ls " + dir.str() + "/data.backups/" + old_id + " docs").second;
    std::string new_state = run(cli + " ls " + d + " docs").second;
    BOOST_TEST_REQUIRE(old_state != new_state);
    BOOST_TEST_REQUIRE(lines_of(old_state).size() == 300u);

    std::mt19937_64 rng(stowage::test::test_seed());
    int killed = 0;
    for (int round = 0; round < 10; ++round) {
        std::string target = run(cli + " ls " + d + " docs").second == old_state ? new_id : old_id;
        pid_t pid = ::fork();
        if (pid == 0) {
            int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execl(cli.c_str(), cli.c_str(), "backup", "restore", d.c_str(), target.c_str(), static_cast<char*>(nullptr));
            std::_Exit(127);
        }
        ::usleep(static_cast<useconds_t>(rng() % 150000));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) ++killed;
        else BOOST_TEST(WEXITSTATUS(status) == 0);
        auto now = run(cli + " ls " + d + " docs").second;
        BOOST_TEST((now == old_state || now == new_state), "round " << round << ": neither state");
        auto v = run(cli + " verify " + d);
        BOOST_TEST(v.first == 0, "round " << round << ": " << v.second);
    }
    BOOST_TEST(killed > 0);
    BOOST_TEST(run(cli + " backup restore " + d + " " + old_id).first == 0);
    BOOST_TEST(run(cli + " ls " + d + " docs").second == old_state);
    BOOST_TEST(!fs::exists(dir.path() / "data.restoring"));
}
