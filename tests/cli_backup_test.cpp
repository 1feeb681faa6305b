// Black-box tests of `stowage backup|export|import`: the list format (one
// line per backup, oldest first, id first), verify finding damage (exit 1),
// restore and rotate; export -> python3 json.tool -> import round trip;
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
        if (e.is_regular_file()) victim = e.path();
    {
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-1, std::ios::end);
        f.put('#');
    }
    auto bad = run(cli + " backup verify " + d + " " + id2 + " 2>&1");
    BOOST_TEST(bad.first == 1, bad.second);
    BOOST_TEST(bad.second.find("docs/") != std::string::npos);
    auto before = fingerprint(d);
    BOOST_TEST(run(cli + " backup restore " + d + " " + id2 + " 2>/dev/null").first == 1);
    BOOST_TEST((fingerprint(d) == before));
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
    int files = 0;
    for (auto& e : fs::directory_iterator(suite)) {
        std::string name = e.path().filename().string();
        auto r = run("timeout 20 " + cli + " import " + d + " '" + e.path().string() + "' 2>&1");
        ++files;
        BOOST_TEST((r.first == 2 || r.first == 3), name << " -> " << r.first << ": " << r.second);  // 124: hung
        BOOST_TEST(r.second.starts_with("stowage: "), name << ": " << r.second);
        BOOST_TEST(std::count(r.second.begin(), r.second.end(), '\n') == 1, name << ": " << r.second);
    }
    BOOST_TEST(files > 300);
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
