// Black-box tests of `stowage index attach|search --collection|detach`
// (issue 21): an index attached to a collection of JSON documents indexes
// the documents already there and follows every later write — put, rm,
// import, a program writing through the library (also while it holds the
// writer lock: search then opens read-only and catches up in memory) —
// with no manual step; ids in ascending byte order, --top's format, --mode
// or; attaching again (same definition: nothing changes; other fields: a
// rebuild); detach (the attachment, its journal and the index's data go,
// later writes are not journaled); errors and exit codes.
#define BOOST_TEST_MODULE cli_attached_index
#include "test_support.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>
#include <stowage/database.hpp>
#include <stowage/storage/file.hpp>
#include <stowage/store.hpp>

using stowage::test::run;
using stowage::test::scratch_dir;

static const std::string cli = STOWAGE_CLI;

static std::string q(const std::string& s) { return "'" + s + "'"; }

static std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

static std::pair<int, std::string> put(const std::string& dir, const std::string& coll, const std::string& json) {
    return run("printf '%s' " + q(json) + " | " + cli + " put " + dir + " " + coll + " 2>&1");
}

// `index search DIR --collection C ARGS`: its stdout lines (stderr dropped).
static std::vector<std::string> search(const std::string& dir, const std::string& coll, const std::string& args) {
    auto [rc, out] = run(cli + " index search " + dir + " --collection " + coll + " " + args + " 2>/dev/null");
    BOOST_TEST(rc == 0, "search " << args << " exited " << rc);
    return lines(out);
}

// The files under dir/prefix (relative to dir), for "which keys exist".
static std::set<std::string> files_under(const std::string& dir, const std::string& prefix) {
    std::set<std::string> out;
    std::filesystem::path root = std::filesystem::path(dir) / prefix;
    std::error_code ec;
    if (!std::filesystem::exists(root, ec)) return out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root))
        if (e.is_regular_file()) out.insert(e.path().lexically_relative(dir).string());
    return out;
}

using documents = stowage::db_store<stowage::json_document, stowage::file_storage, stowage::gzip<stowage::json_codec>>;
using v = std::vector<std::string>;

BOOST_AUTO_TEST_CASE(attach_indexes_what_is_there_and_follows_put_rm_import) {
    scratch_dir dir("cli-attach");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"a","title":"Weekly sync","body":"notes about rust","n":7})").first == 0);
    BOOST_TEST(put(d, "docs", R"({"id":"B","title":"Rust meetup","body":"tokio talk"})").first == 0);
    BOOST_TEST(put(d, "docs", R"({"id":"é","title":"Café crème","body":["rust","naïve"]})").first == 0);
    BOOST_TEST(put(d, "docs", R"({"id":"tab\tid","title":"other","body":"nothing"})").first == 0);
    auto [rc, out] = run(cli + " index attach " + d + " docs --field title --field body 2>&1");
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out == "attached idx-docs to docs: 2 fields (title, body), unicode tokenizer, 4 documents indexed\n");
    // Indexed durably before it returned: the attachment and the index are there, nothing is pending.
    BOOST_TEST(files_under(d, "attached/idx-docs/pending").empty());

    // Ascending byte order: "B" (0x42) < "a" (0x61) < "é" (0xc3 0xa9).
    BOOST_TEST(search(d, "docs", "rust") == (v{"B", "a", "é"}));
    BOOST_TEST(search(d, "docs", "RUST notes") == (v{"a"}));
    BOOST_TEST(search(d, "docs", "naive") == (v{"é"}));  // folded
    BOOST_TEST(search(d, "docs", "rust tokio") == (v{"B"}));
    BOOST_TEST(search(d, "docs", "--mode or tokio notes") == (v{"B", "a"}));
    BOOST_TEST(search(d, "docs", "--mode and tokio notes").empty());
    BOOST_TEST(search(d, "docs", "other") == (v{"tab\\tid"}));  // escaped as ls escapes it
    BOOST_TEST(search(d, "docs", "7").empty());                 // a number is no text
    BOOST_TEST(search(d, "docs", "the").empty());               // only stop words: nothing

    // --top K: "id<TAB>score" (%.6f), best first, at most K lines.
    auto top = search(d, "docs", "--top 2 --mode or rust tokio");
    BOOST_TEST_REQUIRE(top.size() == 2u);
    std::regex line(R"(([^\t]+)\t([0-9]+\.[0-9]{6}))");
    double previous = 1e300;
    for (const auto& l : top) {
        std::smatch m;
        BOOST_TEST_REQUIRE(std::regex_match(l, m, line), l);
        double score = std::stod(m[2]);
        BOOST_TEST(score <= previous);
        previous = score;
    }
    BOOST_TEST(top[0].starts_with("B\t"));  // both words
    BOOST_TEST(search(d, "docs", "--top 10 rust").size() == 3u);

    // Every later write is seen without any manual step.
    BOOST_TEST(put(d, "docs", R"({"id":"c","title":"Rust again"})").first == 0);
    BOOST_TEST(search(d, "docs", "rust") == (v{"B", "a", "c", "é"}));
    BOOST_TEST(run(cli + " rm " + d + " docs B").first == 0);
    BOOST_TEST(search(d, "docs", "rust") == (v{"a", "c", "é"}));
    BOOST_TEST(search(d, "docs", "tokio").empty());
    // A replaced document is found by its new words, not its old ones.
    BOOST_TEST(put(d, "docs", R"({"id":"a","title":"Retro","body":"golang"})").first == 0);
    BOOST_TEST(search(d, "docs", "rust") == (v{"c", "é"}));
    BOOST_TEST(search(d, "docs", "golang retro") == (v{"a"}));
    BOOST_TEST(search(d, "docs", "weekly").empty());
    // import (a legacy file: a JSON array into the collection).
    std::string file = dir.str() + "/legacy.json";
    std::ofstream(file) << R"([{"id":"imp1","title":"imported rust"},{"id":"imp2","body":"imported zig"}])";
    auto imp = run(cli + " import " + d + " --legacy docs " + file + " 2>&1");
    BOOST_TEST(imp.first == 0, imp.second);
    BOOST_TEST(search(d, "docs", "imported") == (v{"imp1", "imp2"}));
    BOOST_TEST(search(d, "docs", "rust") == (v{"c", "imp1", "é"}));
    // Each search consumed the journal (it opened DIR read-write).
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d, stowage::open_mode::read_only)};
        BOOST_TEST(db.pending_entries("idx-docs").empty());
    }
    auto verify = run(cli + " verify " + d);
    BOOST_TEST(verify.first == 0, verify.second);
}

BOOST_AUTO_TEST_CASE(attach_to_an_empty_collection_then_put) {
    scratch_dir dir("cli-attach-empty");
    std::string d = dir.str() + "/data";
    auto [rc, out] = run(cli + " index attach " + d + " notes --field text --tokenizer ascii 2>&1");
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out == "attached idx-notes to notes: 1 field (text), ascii tokenizer, 0 documents indexed\n");
    BOOST_TEST(search(d, "notes", "hello").empty());
    BOOST_TEST(put(d, "notes", R"({"id":"n1","text":"hello world"})").first == 0);
    BOOST_TEST(put(d, "notes", R"({"id":"n2","text":"hello there","other":"world"})").first == 0);
    BOOST_TEST(search(d, "notes", "hello") == (v{"n1", "n2"}));
    BOOST_TEST(search(d, "notes", "world") == (v{"n1"}));  // "other" is not indexed
}

BOOST_AUTO_TEST_CASE(attach_again_same_changes_nothing_other_fields_rebuild) {
    scratch_dir dir("cli-reattach");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"1","title":"alpha","body":"beta"})").first == 0);
    BOOST_TEST(put(d, "docs", R"({"id":"2","title":"gamma","body":"alpha"})").first == 0);
    BOOST_TEST(run(cli + " index attach " + d + " docs --field title --field body").first == 0);
    BOOST_TEST(search(d, "docs", "alpha") == (v{"1", "2"}));
    auto definition = stowage::test::slurp(d + "/attached/idx-docs/definition");
    auto segments = files_under(d, "idx-docs/segments");
    BOOST_TEST(!definition.empty());
    BOOST_TEST(!segments.empty());

    auto [rc, out] = run(cli + " index attach " + d + " docs --field title --field body 2>&1");
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out == "unchanged: idx-docs already attached to docs: 2 fields (title, body), unicode tokenizer, "
                      "2 documents indexed\n");
    BOOST_TEST(stowage::test::slurp(d + "/attached/idx-docs/definition") == definition);
    BOOST_TEST(files_under(d, "idx-docs/segments") == segments);  // not rebuilt
    BOOST_TEST(files_under(d, "attached/idx-docs/pending").empty());

    // Another field list: the index is rebuilt from the documents.
    auto re = run(cli + " index attach " + d + " docs --field body 2>&1");
    BOOST_TEST(re.first == 0, re.second);
    BOOST_TEST(re.second == "reattached idx-docs to docs (index rebuilt): 1 field (body), unicode tokenizer, "
                            "2 documents indexed\n");
    BOOST_TEST(stowage::test::slurp(d + "/attached/idx-docs/definition") != definition);
    BOOST_TEST(search(d, "docs", "alpha") == (v{"2"}));
    BOOST_TEST(search(d, "docs", "gamma").empty());
    BOOST_TEST(search(d, "docs", "beta") == (v{"1"}));
    // Another tokenizer: rebuilt too, and later writes follow.
    auto tok = run(cli + " index attach " + d + " docs --field body --tokenizer ascii 2>&1");
    BOOST_TEST(tok.first == 0, tok.second);
    BOOST_TEST(tok.second.starts_with("reattached idx-docs to docs (index rebuilt): 1 field (body), ascii tokenizer"));
    BOOST_TEST(put(d, "docs", R"({"id":"3","title":"x","body":"beta delta"})").first == 0);
    BOOST_TEST(search(d, "docs", "beta") == (v{"1", "3"}));
    auto verify = run(cli + " verify " + d);
    BOOST_TEST(verify.first == 0, verify.second);
}

BOOST_AUTO_TEST_CASE(detach_removes_the_attachment_and_the_index) {
    scratch_dir dir("cli-detach");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"1","title":"alpha"})").first == 0);
    BOOST_TEST(run(cli + " index attach " + d + " docs --field title").first == 0);
    BOOST_TEST(search(d, "docs", "alpha") == (v{"1"}));
    BOOST_TEST(!files_under(d, "idx-docs").empty());

    auto [rc, out] = run(cli + " index detach " + d + " docs 2>&1");
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out.starts_with("detached idx-docs from docs: index data removed ("), out);
    BOOST_TEST(std::count(out.begin(), out.end(), '\n') == 1);
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d, stowage::open_mode::read_only)};
        BOOST_TEST(db.attachments().empty());
        BOOST_TEST(db.storage().list("attached/").empty());
        BOOST_TEST(db.storage().list("idx-docs/").empty());
    }
    // Search now says there is no index, naming the command that makes one.
    auto s = run(cli + " index search " + d + " --collection docs alpha 2>&1");
    BOOST_TEST(s.first == 3);
    BOOST_TEST(s.second.find("no index attached to collection docs") != std::string::npos, s.second);
    BOOST_TEST(s.second.find("stowage index attach") != std::string::npos, s.second);
    // Later writes are not journaled.
    BOOST_TEST(put(d, "docs", R"({"id":"2","title":"alpha"})").first == 0);
    BOOST_TEST(run(cli + " rm " + d + " docs 1").first == 0);
    BOOST_TEST(files_under(d, "attached").empty());
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d, stowage::open_mode::read_only)};
        BOOST_TEST(db.storage().list("attached/").empty());
    }
    // Detaching again: nothing to detach.
    auto again = run(cli + " index detach " + d + " docs 2>&1");
    BOOST_TEST(again.first == 3);
    BOOST_TEST(again.second.find("no index attached to collection docs") != std::string::npos, again.second);
    // Attaching again indexes what is there now.
    auto re = run(cli + " index attach " + d + " docs --field title 2>&1");
    BOOST_TEST(re.first == 0, re.second);
    BOOST_TEST(re.second.starts_with("attached idx-docs to docs:"), re.second);
    BOOST_TEST(search(d, "docs", "alpha") == (v{"2"}));
    auto verify = run(cli + " verify " + d);
    BOOST_TEST(verify.first == 0, verify.second);
}

BOOST_AUTO_TEST_CASE(search_beside_a_process_holding_the_writer_lock) {
    scratch_dir dir("cli-attach-locked");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"1","title":"alpha"})").first == 0);
    BOOST_TEST(run(cli + " index attach " + d + " docs --field title").first == 0);
    {
        // This process writes through the library and keeps the directory
        // open (so it holds the writer lock; its commits are in the log,
        // maybe not applied).
        stowage::database<stowage::file_storage> db{stowage::file_storage(d)};
        documents docs(db.storage(), "docs");
        docs.put(stowage::json_document::parse(R"({"id":"2","title":"alpha beta"})"));
        docs.erase("1");
        BOOST_TEST(put(d, "docs", R"({"id":"3","title":"alpha"})").first == 3);  // locked: refused
        BOOST_TEST(search(d, "docs", "alpha") == (v{"2"}));
        BOOST_TEST(search(d, "docs", "--top 5 beta").size() == 1u);
        // Read-only: caught up in memory, the journal left for a writer.
        BOOST_TEST(db.pending_entries("idx-docs").size() == 2u);
        docs.put(stowage::json_document::parse(R"({"id":"4","title":"beta"})"));
        BOOST_TEST(search(d, "docs", "beta") == (v{"2", "4"}));
    }
    // The writer gone, a search opens read-write and consumes the journal.
    BOOST_TEST(search(d, "docs", "beta") == (v{"2", "4"}));
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d, stowage::open_mode::read_only)};
        BOOST_TEST(db.pending_entries("idx-docs").empty());
    }
}

BOOST_AUTO_TEST_CASE(a_program_writing_through_the_library_is_seen_by_a_later_search) {
    scratch_dir dir("cli-attach-library");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"1","title":"alpha"})").first == 0);
    BOOST_TEST(run(cli + " index attach " + d + " docs --field title --field tags").first == 0);
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d)};
        documents docs(db.storage(), "docs");
        docs.put(stowage::json_document::parse(R"({"id":"2","title":"alpha","tags":["red","green"]})"));
        auto tx = db.transaction();
        tx.erase(docs, "1");
        tx.put(docs, stowage::json_document::parse(R"({"id":"5","tags":"green"})"));
        tx.commit();
        db.update(docs, "2", [](stowage::json_document& doc) {
            doc.set("title", stowage::json_value("omega"));
        });
    }
    BOOST_TEST(search(d, "docs", "alpha").empty());
    BOOST_TEST(search(d, "docs", "omega") == (v{"2"}));
    BOOST_TEST(search(d, "docs", "green") == (v{"2", "5"}));
    BOOST_TEST(search(d, "docs", "--mode or red omega alpha") == (v{"2"}));
}

BOOST_AUTO_TEST_CASE(errors_and_exit_codes) {
    scratch_dir dir("cli-attach-errors");
    std::string d = dir.str() + "/data";
    BOOST_TEST(put(d, "docs", R"({"id":"1","title":"alpha"})").first == 0);
    // No index attached: exit 3, naming the command that attaches one.
    auto none = run(cli + " index search " + d + " --collection docs alpha 2>&1");
    BOOST_TEST(none.first == 3);
    BOOST_TEST(none.second.find("stowage index attach") != std::string::npos, none.second);
    // A directory that does not exist is not created by a search.
    auto missing = run(cli + " index search " + dir.str() + "/nowhere --collection docs alpha 2>&1");
    BOOST_TEST(missing.first == 3, missing.second);
    BOOST_TEST(!std::filesystem::exists(dir.str() + "/nowhere"));
    // Usage errors: exit 2, one line.
    for (std::string args : {"index attach " + d + " docs", "index attach " + d + " docs --field title --tokenizer x",
                             "index attach " + d + " docs --field a --field a", "index attach " + d + " docs --field 'a;b'",
                             "index attach " + d + " idx-docs --field title", "index attach " + d + " index --field title",
                             "index search " + d + " --collection docs --mode xor alpha", "index detach " + d,
                             "index attach " + d + " " + std::string(61, 'c') + " --field title"}) {
        auto [rc, out] = run(cli + " " + args + " 2>&1");
        BOOST_TEST(rc == 2, args << " -> " << rc << ": " << out);
        BOOST_TEST(std::count(out.begin(), out.end(), '\n') == 1, out);
        BOOST_TEST(out.starts_with("stowage: "), out);
    }
    // Collections named idx-... hold indexes: put refuses them.
    auto reserved = put(d, "idx-mine", R"({"id":"1"})");
    BOOST_TEST(reserved.first == 2);
    BOOST_TEST(reserved.second.find("reserved") != std::string::npos, reserved.second);
    // Nothing of that was written.
    {
        stowage::database<stowage::file_storage> db{stowage::file_storage(d, stowage::open_mode::read_only)};
        BOOST_TEST(db.attachments().empty());
    }
    // The TSV index is untouched by all this: still "no index".
    BOOST_TEST(run(cli + " index search " + d + " alpha 2>/dev/null").first == 3);
}
