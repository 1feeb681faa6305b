// Black-box tests of issue 19 ("Never silently wrong, never locked out")
// through the `stowage` command, each on a fresh data directory: import
// into a collection held in another codec (re-encoded, or refused naming
// both codecs — never records that cannot be read); export beside a
// full-text index (left out, named on stderr) and beside a process holding
// the writer lock (export opens read-only); bounded memory (an import line
// over 16 MiB and stress beyond its limits refused with exit 2, naming the
// limit); messages and exit codes (an empty import file, a repeated key in
// `put`, missing input files as "No such file or directory", exit 3).
// `stowage index build`'s own limits and messages are in index_cli_test.
#define BOOST_TEST_MODULE cli_limits
#include "test_support.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/file.hpp>

using stowage::test::run;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

static const std::string cli = STOWAGE_CLI;

using stowage::test::slurp;
// Every file of a directory with its content.
static std::map<std::string, std::string> fingerprint(const fs::path& dir) { return stowage::test::directory_contents(dir); }

static std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

static bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

static std::pair<int, std::string> put(const std::string& dir, const std::string& coll, const std::string& json) {
    return run("printf '%s' '" + json + "' | " + cli + " put " + dir + " " + coll + " 2>&1");
}

// An unsigned export file with one collection in `codec`.
static void write_export(const std::string& file, const std::string& coll, const std::string& codec,
                         const std::vector<std::string>& docs) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << R"({"format":"stowage-export","version":1,"collections":[{"name":")" << coll << R"(","codec":")" << codec
        << "\"}]}\n";
    for (const auto& d : docs) out << R"({"collection":")" << coll << R"(","document":)" << d << "}\n";
}

// Finding 1: an export whose header says "json" imported into a gzip+json
// collection wrote json records that every read refused, and verify said ok.
BOOST_AUTO_TEST_CASE(import_writes_records_the_way_the_collection_is_encoded) {
    scratch_dir dir("cli-codec");
    std::string d = dir.str() + "/data", file = dir.str() + "/plain.jsonl";
    BOOST_TEST_REQUIRE(put(d, "c", R"({"id":"a","x":1})").first == 0);
    write_export(file, "c", "json", {R"({"id":"b","y":2})", R"({"id":"a","x":3})"});
    auto imp = run(cli + " import " + d + " " + file + " --allow-unsigned 2>&1");
    BOOST_TEST_REQUIRE(imp.first == 0, imp.second);
    auto b = run(cli + " get " + d + " c b 2>&1");
    BOOST_TEST(b.first == 0, b.second);
    BOOST_TEST(b.second == "{\"id\":\"b\",\"y\":2}\n");
    BOOST_TEST(run(cli + " get " + d + " c a").second == "{\"id\":\"a\",\"x\":3}\n");
    BOOST_TEST(lines_of(run(cli + " ls " + d + " c").second).size() == 2u);
    auto v = run(cli + " verify " + d + " 2>&1");
    BOOST_TEST(v.first == 0, v.second);
    // The export names one codec for the collection, the one it holds.
    auto ex = run(cli + " export " + d + " 2>/dev/null");
    BOOST_TEST(has(ex.second, R"({"name":"c","codec":"gzip+json","documents":2})"), ex.second);

    // A difference that cannot be re-encoded: the index's binary records
    // (collection "index") and a file whose "index" is JSON. Refused before
    // anything is written, naming the collection and both codecs.
    std::ofstream(dir.str() + "/t.tsv") << "1\thello\n";
    BOOST_TEST_REQUIRE(run(cli + " index build " + d + " --tsv " + dir.str() + "/t.tsv").first == 0);
    write_export(file, "index", "json", {R"({"id":"head","x":1})"});
    auto before = fingerprint(d);
    auto backups_before = run(cli + " backup list " + d).second;
    auto bad = run(cli + " import " + d + " " + file + " --allow-unsigned 2>&1");
    BOOST_TEST(bad.first == 2, bad.second);
    BOOST_TEST(has(bad.second, "collection index"), bad.second);
    BOOST_TEST(has(bad.second, "\"binary\""), bad.second);
    BOOST_TEST(has(bad.second, "\"json\""), bad.second);
    BOOST_TEST(has(bad.second, "nothing was imported"), bad.second);
    BOOST_TEST((fingerprint(d) == before));
    BOOST_TEST(run(cli + " backup list " + d).second == backups_before);
    BOOST_TEST(lines_of(run(cli + " index search " + d + " hello").second) == std::vector<std::string>{"1"});
}

// Finding 2: export failed once a full-text index existed.
BOOST_AUTO_TEST_CASE(export_leaves_a_full_text_index_out_and_says_so) {
    scratch_dir dir("cli-export-index");
    std::string d = dir.str() + "/data", dst = dir.str() + "/dst", file = dir.str() + "/dump.jsonl";
    BOOST_TEST_REQUIRE(put(d, "notes", R"({"id":"n1","text":"hello"})").first == 0);
    std::ofstream(dir.str() + "/t.tsv") << "1\thello world\n2\tsecond line\n";
    BOOST_TEST_REQUIRE(run(cli + " index build " + d + " --tsv " + dir.str() + "/t.tsv").first == 0);
    auto ex = run(cli + " export " + d + " 2>" + dir.str() + "/err >" + file);
    std::string err = slurp(dir.path() / "err");
    BOOST_TEST(ex.first == 0, err);
    BOOST_TEST(std::count(err.begin(), err.end(), '\n') == 1, err);  // one summary line
    BOOST_TEST(has(err, "export: 1 documents from 1 collections"), err);
    BOOST_TEST(has(err, "full-text index \"index\""), err);
    BOOST_TEST(has(err, "stowage index build"), err);
    std::string dump = slurp(file);
    BOOST_TEST(!has(dump, "\"name\":\"index\""), dump);
    BOOST_TEST(has(dump, "\"documents\":1,\"attachments\":0"), dump);
    auto imp = run(cli + " import " + dst + " " + file + " 2>&1");
    BOOST_TEST(imp.first == 0, imp.second);
    BOOST_TEST(run(cli + " get " + dst + " notes n1").second == "{\"id\":\"n1\",\"text\":\"hello\"}\n");
}

// Finding 3: export needed the writer lock (a read-write open), so it failed
// on a read-only mount and beside any writer. Here another holder of the
// lock is this process: a read-write file_storage on the directory.
BOOST_AUTO_TEST_CASE(export_works_while_another_process_holds_the_writer_lock) {
    scratch_dir dir("cli-export-locked");
    std::string d = dir.str() + "/data";
    BOOST_TEST_REQUIRE(put(d, "c", R"({"id":"a","x":1})").first == 0);
    BOOST_TEST_REQUIRE(put(d, "c", R"({"id":"b","x":2})").first == 0);
    stowage::file_storage writer(d);  // holds .lock until the end of the test
    BOOST_TEST(put(d, "c", R"({"id":"z"})").first == 3);  // a writer is refused: the lock is held
    auto ex = run(cli + " export " + d + " 2>&1");
    BOOST_TEST(ex.first == 0, ex.second);
    BOOST_TEST(has(ex.second, R"({"collection":"c","document":{"id":"a","x":1}})"), ex.second);
    BOOST_TEST(has(ex.second, R"({"collection":"c","document":{"id":"b","x":2}})"), ex.second);
    BOOST_TEST(has(ex.second, R"("trailer":{"documents":2,)"), ex.second);
    // A directory that does not exist is not created (and not exported as empty).
    auto none = run(cli + " export " + dir.str() + "/absent 2>&1");
    BOOST_TEST(none.first == 3, none.second);
    BOOST_TEST(!fs::exists(dir.path() / "absent"));
}

// Finding 4: one 1 GB line took 5.2 GB. A line over 16 MiB is refused as
// soon as the limit is passed (the rest is never read into memory), naming
// the line and the limit; --max-line raises it.
BOOST_AUTO_TEST_CASE(an_import_line_over_the_limit_is_refused) {
    scratch_dir dir("cli-long-line");
    std::string d = dir.str() + "/data", file = dir.str() + "/long.jsonl";
    BOOST_TEST_REQUIRE(put(d, "c", R"({"id":"keep"})").first == 0);
    constexpr std::size_t limit = std::size_t{16} << 20;
    std::string pad(limit - std::string(R"({"collection":"c","document":{"id":"x","s":""}})").size() + 1, 'a');
    write_export(file, "c", "gzip+json", {R"({"id":"x","s":")" + pad + "\"}"});
    auto before = fingerprint(d);
    auto r = run(cli + " import " + d + " " + file + " --allow-unsigned 2>&1");
    BOOST_TEST(r.first == 2, r.second);
    BOOST_TEST(has(r.second, "line 2: the line is longer than the limit of 16777216 bytes"), r.second);
    BOOST_TEST((fingerprint(d) == before));
    // A raised limit takes it.
    auto raised = run(cli + " import " + d + " " + file + " --allow-unsigned --max-line 17000000 2>&1");
    BOOST_TEST(raised.first == 0, raised.second);
    BOOST_TEST(run(cli + " import " + d + " " + file + " --max-line 0 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " import " + d + " " + file + " --max-line x 2>/dev/null").first == 2);
}

// Finding 4: stress --ops 18446744073709551615 grew without limit. Beyond
// 256 writers or a million documents in flight it is a usage error, before
// anything is opened.
BOOST_AUTO_TEST_CASE(stress_beyond_its_limits_is_refused) {
    scratch_dir dir("cli-stress-limits");
    std::string d = dir.str() + "/data";
    // Under `timeout`: should the limit go, the test fails (124) instead of
    // growing without bound.
    const std::string stress = "timeout 10 " + cli + " stress " + d;
    auto huge = run(stress + " --writers 1 --transactions 1 --ops 18446744073709551615 2>&1");
    BOOST_TEST(huge.first == 2, huge.second);
    BOOST_TEST(has(huge.second, "limit of 1000000 documents"), huge.second);
    BOOST_TEST(run(stress + " --writers 2 --transactions 1 --ops 500001 2>/dev/null").first == 2);
    auto threads = run(stress + " --writers 257 --transactions 1 --ops 1 2>&1");
    BOOST_TEST(threads.first == 2, threads.second);
    BOOST_TEST(has(threads.second, "limit of 256"), threads.second);
    BOOST_TEST(!fs::exists(d));
    auto ok = run(cli + " stress " + d + " --writers 2 --transactions 2 --ops 3");
    BOOST_TEST(ok.first == 0);
    BOOST_TEST(lines_of(ok.second).size() == 4u);
}

// Finding 5: an empty file said "line 0"; a repeated key was stored.
BOOST_AUTO_TEST_CASE(messages_name_what_is_wrong) {
    scratch_dir dir("cli-messages");
    std::string d = dir.str() + "/data";
    std::ofstream(dir.str() + "/empty.jsonl").close();
    auto e = run(cli + " import " + d + " " + dir.str() + "/empty.jsonl 2>&1");
    BOOST_TEST(e.first == 2, e.second);
    BOOST_TEST(has(e.second, "empty.jsonl: the file is empty"), e.second);
    BOOST_TEST(!has(e.second, "line 0"), e.second);
    BOOST_TEST(!fs::exists(d));

    auto dup = put(d, "c", R"({"id":"a","id":"b"})");
    BOOST_TEST(dup.first == 2, dup.second);
    BOOST_TEST(has(dup.second, "repeated key \"id\""), dup.second);
    BOOST_TEST(has(dup.second, "(at byte "), dup.second);
    BOOST_TEST(run(cli + " get " + d + " c b 2>/dev/null").first != 0);
    BOOST_TEST(run(cli + " get " + d + " c a 2>/dev/null").first != 0);
    // In an export file too: the line is named.
    std::string file = dir.str() + "/dup.jsonl";
    write_export(file, "c", "gzip+json", {R"({"id":"x","n":{"k":1,"k":2}})"});
    auto imp = run(cli + " import " + d + " " + file + " --allow-unsigned 2>&1");
    BOOST_TEST(imp.first == 2, imp.second);
    BOOST_TEST(has(imp.second, "line 2"), imp.second);
    BOOST_TEST(has(imp.second, "repeated key \"k\""), imp.second);
}

// Finding 6: a missing input file was a generic "I/O error" or "not found".
BOOST_AUTO_TEST_CASE(a_missing_input_file_is_named_with_no_such_file_or_directory) {
    scratch_dir dir("cli-missing");
    std::string d = dir.str() + "/data", missing = dir.str() + "/no-such.jsonl";
    for (const std::string& cmd : {cli + " import " + d + " " + missing, cli + " import " + d + " --legacy c " + missing}) {
        auto r = run(cmd + " 2>&1");
        BOOST_TEST(r.first == 3, cmd << ": " << r.second);
        BOOST_TEST(has(r.second, missing), r.second);
        BOOST_TEST(has(r.second, "(No such file or directory)"), r.second);
    }
    BOOST_TEST(!fs::exists(d));
}
