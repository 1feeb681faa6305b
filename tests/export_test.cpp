// Tests for export.hpp: export -> import round trips (JSON documents, a
// typed binary collection through the registry, CAS blobs with their
// attachments), `python3 -m json.tool --json-lines` on the output, a binary
// collection without a registered type refused before any output, every
// kind of bad input (truncation at every line and at random bytes, bit
// flips, duplicates, versions, missing ids/trailer, unresolved references)
// rejected with the directory byte-for-byte unchanged, legacy JSON array
// files, a process killed during import, and JSONTestSuite files.
#define BOOST_TEST_MODULE export_import
#include "test_support.hpp"

#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <sys/wait.h>

#include "stowage/cas_map.hpp"
#include "stowage/codec/binary.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/export.hpp"

using namespace stowage;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

struct note {
    std::string id;
    std::string text;
    std::int64_t counter = 0;
    std::vector<std::string> tags;
    bool operator==(const note&) const = default;
};
STOWAGE_DESCRIBE(note, id, text, counter, tags)

using docs_t = db_store<json_document, file_storage, gzip<json_codec>>;
using plain_t = db_store<json_document, file_storage, json_codec>;
using notes_t = db_store<note, file_storage, binary_codec>;

static json_document doc(const std::string& id, std::int64_t n) {
    auto d = json_document::parse(R"({"id":"","n":0,"big":123456789012345678901234567890,"huge":1e400,"s":"é\n\"q\"","a":[1,{"b":null}]})");
    d.set("id", id);
    d.set("n", n);
    return d;
}

static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
static void spit(const fs::path& p, std::string_view s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

// Every file of a directory and its content's digest.
static std::map<std::string, std::string> fingerprint(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file())
            out[e.path().lexically_relative(dir).string()] = to_hex(hash_of<sha256>(as_bytes(slurp(e.path()))));
    return out;
}

static export_registry with_notes() {
    export_registry r;
    r.add<note, binary_codec>("notes");
    return r;
}

// A database with gzip+json docs, plain json docs, binary notes and a CAS blob.
static std::string populate(const fs::path& data) {
    database<file_storage> db{file_storage(data)};
    docs_t docs(db.storage(), "docs");
    plain_t plain(db.storage(), "plain");
    notes_t notes(db.storage(), "notes");
    cas_map<file_storage> blobs(db);
    auto tx = db.transaction();
    for (int i = 0; i < 30; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
    tx.put(docs, doc("odd/id ✓", 99));
    tx.put(plain, doc("p1", 1));
    tx.put(notes, {"n1", "hello", 3, {"a", "b"}});
    auto d = blobs.put(as_bytes(std::string(70000, 'z') + "tail"));
    blobs.add_ref(tx, d, "d1", "video");
    tx.commit();
    return to_hex(d);
}

static std::string export_to_string(const fs::path& data, export_options o = {}) {
    database<file_storage> db{file_storage(data)};
    std::ostringstream out;
    export_database(db, out, o);
    return out.str();
}

static std::map<std::string, std::string> docs_state(const fs::path& data) {
    std::map<std::string, std::string> out;
    database<file_storage> db{file_storage(data, open_mode::read_only)};
    docs_t docs(db.storage(), "docs");
    for (auto& l : docs.list()) out["docs/" + l.id] = docs.get(l.id)->dump();
    plain_t plain(db.storage(), "plain");
    for (auto& l : plain.list()) out["plain/" + l.id] = plain.get(l.id)->dump();
    return out;
}

BOOST_AUTO_TEST_CASE(round_trip_with_attachments_and_a_registered_type) {
    scratch_dir dir("export-rt");
    auto src = dir.path() / "src", dst = dir.path() / "dst";
    std::string blob = populate(src);
    auto reg = with_notes();
    export_options o;
    o.attachments = true;
    o.registry = &reg;
    std::string text = export_to_string(src, o);
    auto file = dir.path() / "dump.jsonl";
    spit(file, text);

    // Shape: header first, trailer last, one object per line.
    BOOST_TEST(text.starts_with("{\"format\":\"stowage-export\",\"version\":1,"));
    BOOST_TEST(text.find("{\"name\":\"notes\",\"codec\":\"binary\",\"documents\":1}") != std::string::npos);
    BOOST_TEST(text.find("{\"collection\":\"notes\",\"document\":{\"id\":\"n1\",\"text\":\"hello\",\"counter\":3,"
                         "\"tags\":[\"a\",\"b\"]}}") != std::string::npos);
    BOOST_TEST(text.find("123456789012345678901234567890") != std::string::npos);
    BOOST_TEST(text.find("1e400") != std::string::npos);
    auto last = text.rfind('\n', text.size() - 2);
    std::string trailer = text.substr(last + 1);
    BOOST_TEST(trailer.starts_with("{\"trailer\":{\"documents\":35,\"attachments\":1,\"sha256\":\""));
    BOOST_TEST(trailer.find(to_hex(hash_of<sha256>(as_bytes(std::string_view(text).substr(0, last + 1))))) !=
               std::string::npos);
    // Python's JSON Lines reader accepts it.
    auto py = stowage::test::run("python3 -m json.tool --json-lines " + file.string() + " > /dev/null 2>&1; echo $?");
    BOOST_TEST(py.second == "0\n");

    import_options io;
    io.registry = &reg;
    auto report = import_file(dst, file, io);
    BOOST_TEST(report.documents == 35u);
    BOOST_TEST(report.attachments_written == 1u);
    BOOST_TEST(!report.backup_id.empty());
    BOOST_TEST((docs_state(dst) == docs_state(src)));
    database<file_storage> db{file_storage(dst)};
    notes_t notes(db.storage(), "notes");
    BOOST_TEST((*notes.get("n1") == note{"n1", "hello", 3, {"a", "b"}}));
    cas_map<file_storage> blobs(db);
    auto got = blobs.get(digest_from_hex<sha256>(blob));
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(to_string(*got) == std::string(70000, 'z') + "tail");
    BOOST_TEST(blobs.ref_count(digest_from_hex<sha256>(blob)) == 1u);
}

BOOST_AUTO_TEST_CASE(unregistered_binary_collection_is_refused_before_any_output) {
    scratch_dir dir("export-refuse");
    populate(dir.path() / "data");
    database<file_storage> db{file_storage(dir.path() / "data")};
    std::ostringstream out;
    try {
        export_database(db, out);  // "notes" is binary and not registered
        BOOST_FAIL("export of an unregistered binary collection succeeded");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::unsupported));
        BOOST_TEST(std::string(e.what()).find("collection notes") != std::string::npos, e.what());
    }
    BOOST_TEST(out.str().empty());
}

BOOST_AUTO_TEST_CASE(without_attachments_manifests_must_resolve_in_the_target) {
    scratch_dir dir("export-refs");
    auto src = dir.path() / "src";
    populate(src);
    auto reg = with_notes();
    export_options o;
    o.registry = &reg;
    auto file = dir.path() / "dump.jsonl";
    spit(file, export_to_string(src, o));
    import_options io;
    io.registry = &reg;
    // A fresh directory lacks the chunk the manifest names...
    auto fresh = dir.path() / "fresh";
    fs::create_directories(fresh);
    try {
        import_file(fresh, file, io);
        BOOST_FAIL("import with an unresolved chunk succeeded");
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("refers to chunk") != std::string::npos, e.what());
    }
    BOOST_TEST(fingerprint(fresh).empty());
    // ...the source directory has it (import into itself merges).
    BOOST_TEST(import_file(src, file, io).documents == 35u);
}

// Every way of breaking a good export, each rejected with the target unchanged.
BOOST_AUTO_TEST_CASE(damaged_exports_are_rejected_and_change_nothing) {
    scratch_dir dir("export-bad");
    auto src = dir.path() / "src", dst = dir.path() / "dst";
    {
        database<file_storage> db{file_storage(src)};
        docs_t docs(db.storage(), "docs");
        for (int i = 0; i < 8; ++i) docs.put(doc("d" + std::to_string(i), i));
    }
    std::string good = export_to_string(src);
    {
        database<file_storage> db{file_storage(dst)};
        docs_t docs(db.storage(), "docs");
        docs.put(doc("keep", 1));
    }
    auto before = fingerprint(dst);
    auto file = dir.path() / "bad.jsonl";
    int rejected = 0;
    auto expect_rejected = [&](const std::string& text, const std::string& what, const std::string& needle = "") {
        spit(file, text);
        try {
            import_file(dst, file);
            BOOST_ERROR("accepted: " << what);
        } catch (const error& e) {
            ++rejected;
            if (!needle.empty()) BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, what << ": " << e.what());
        }
    };
    // Truncated at every line boundary and at random bytes.
    for (std::size_t at = good.find('\n'); at != std::string::npos && at + 1 < good.size(); at = good.find('\n', at + 1))
        expect_rejected(good.substr(0, at + 1), "truncated after a line", "no trailer");
    std::mt19937_64 rng(stowage::test::test_seed());
    for (int i = 0; i < 40; ++i) expect_rejected(good.substr(0, rng() % good.size()), "truncated");
    // One flipped bit anywhere.
    for (int i = 0; i < 60; ++i) {
        std::string bad = good;
        auto pos = rng() % bad.size();
        bad[pos] = static_cast<char>(bad[pos] ^ (1 << (rng() % 8)));
        expect_rejected(bad, "bit flip at " + std::to_string(pos));
    }
    auto lines = [&] {
        std::vector<std::string> out;
        std::istringstream in(good);
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }();
    auto join = [](const std::vector<std::string>& ls) {
        std::string s;
        for (auto& l : ls) s += l + "\n";
        return s;
    };
    // A document dropped: unsigned (trailer removed) still fails on the header's count.
    {
        auto ls = lines;
        ls.erase(ls.begin() + 2);
        ls.pop_back();
        import_options o;
        o.allow_unsigned = true;
        spit(file, join(ls));
        BOOST_CHECK_THROW(import_file(dst, file, o), error);
    }
    std::string header = lines.front();
    auto hand = [&](std::vector<std::string> body) {
        body.insert(body.begin(), R"({"format":"stowage-export","version":1,"collections":[{"name":"docs","codec":"gzip+json"}]})");
        return join(body);
    };
    expect_rejected(hand({R"({"collection":"docs","document":{"id":"a"}})"}), "unsigned by default", "no trailer");
    expect_rejected(std::regex_replace(good, std::regex("\"version\":1"), "\"version\":2"), "version 2", "version 2");
    expect_rejected("", "empty file", "no header");
    expect_rejected("[]\n", "array header", "not a JSON object");
    expect_rejected(R"({"id":"x"})" "\n", "a document, no header", "not a stowage export");
    import_options unsigned_ok;
    unsigned_ok.allow_unsigned = true;
    auto expect_unsigned_rejected = [&](std::vector<std::string> body, const std::string& needle) {
        spit(file, hand(std::move(body)));
        try {
            import_file(dst, file, unsigned_ok);
            BOOST_ERROR("accepted: " << needle);
        } catch (const error& e) {
            ++rejected;
            BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
            BOOST_TEST(std::string(e.what()).find("line ") != std::string::npos, e.what());
        }
    };
    expect_unsigned_rejected({R"({"collection":"docs","document":{"id":"a"}})", R"({"collection":"docs","document":{"id":"a"}})"},
                             "appears twice");
    expect_unsigned_rejected({R"({"collection":"docs","document":{"name":"no id"}})"}, "no non-empty string \"id\"");
    expect_unsigned_rejected({R"({"collection":"docs","document":{"id":7}})"}, "no non-empty string \"id\"");
    expect_unsigned_rejected({R"({"collection":"docs","document":[1]})"}, "not a JSON object");
    expect_unsigned_rejected({R"({"collection":"other","document":{"id":"a"}})"}, "not in the header");
    expect_unsigned_rejected({R"({"collection":"docs","document":{"id":"a"},"x":1})"}, "a document line is");
    expect_unsigned_rejected({R"({"collection":"docs","document":{"id":"a",}})"}, "not a JSON object");
    expect_unsigned_rejected({""}, "empty line");
    expect_unsigned_rejected({R"({"attachment":"cas/sha256/aa/aa","size":1,"base64":"eA=="})"}, "does not match its name");
    expect_unsigned_rejected({R"({"attachment":"cas/sha256/2d/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881","size":1,"base64":"eA="})"},
                             "malformed base64");
    BOOST_TEST((fingerprint(dst) == before), "a rejected import changed the directory");
    BOOST_TEST(!fs::exists(backups::default_root(dst)));  // not even a backup was made
    BOOST_TEST(rejected > 100);
    // And a hand-written file is accepted with allow_unsigned.
    spit(file, hand({R"({"collection":"docs","document":{"id":"hand","v":[1,2]}})"}));
    BOOST_TEST(import_file(dst, file, unsigned_ok).documents == 1u);
    BOOST_TEST(docs_state(dst).at("docs/hand") == R"({"id":"hand","v":[1,2]})");
    BOOST_TEST(docs_state(dst).count("docs/keep") == 1u);  // an import merges
}

BOOST_AUTO_TEST_CASE(legacy_array_files) {
    scratch_dir dir("export-legacy");
    auto data = dir.path() / "data", file = dir.path() / "sessions.json";
    spit(file, R"([{"id":"s1","name":"Standup","items":[1,2]},{"id":"s2","n":1e400}])");
    auto plan = validate_legacy("sessions", file);
    BOOST_TEST(plan.documents.size() == 2u);
    apply_import(data, plan);
    {
        database<file_storage> db{file_storage(data)};
        docs_t s(db.storage(), "sessions");
        BOOST_TEST(s.get("s2")->dump() == R"({"id":"s2","n":1e400})");
        BOOST_TEST(s.size() == 2u);
    }
    auto before = fingerprint(data);
    for (std::string bad : {R"({"id":"s1"})", R"([{"id":"s1"},{"name":"x"}])", R"([{"id":"a"},{"id":"a"}])",
                            R"([{"id":"a"},3])", R"([{"id":"a"})", "", R"([{"id":"a"}] [])"}) {
        spit(file, bad);
        BOOST_CHECK_THROW(validate_legacy("sessions", file), error);
    }
    spit(file, R"([{"id":"a"},{"name":"x"}])");
    try {
        validate_legacy("sessions", file);
    } catch (const error& e) {
        BOOST_TEST(std::string(e.what()).find("element 2") != std::string::npos, e.what());
    }
    BOOST_TEST((fingerprint(data) == before));
}

BOOST_AUTO_TEST_CASE(killed_import_applies_all_or_nothing) {
    scratch_dir dir("export-kill");
    auto src = dir.path() / "src", dst = dir.path() / "dst";
    {
        database<file_storage> db{file_storage(src)};
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 0; i < 400; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
        tx.commit();
    }
    auto file = dir.path() / "dump.jsonl";
    spit(file, export_to_string(src));
    auto full = docs_state(src);
    std::mt19937_64 rng(stowage::test::test_seed() + 2);
    int killed = 0, none = 0, all = 0;
    for (int round = 0; round < 10; ++round) {
        fs::remove_all(dst);
        fs::remove_all(backups::default_root(dst));
        {
            database<file_storage> db{file_storage(dst)};
            docs_t docs(db.storage(), "docs");
            docs.put(doc("old", 0));
        }
        pid_t pid = ::fork();
        if (pid == 0) {
            try {
                import_file(dst, file);
            } catch (...) {
                std::_Exit(2);
            }
            std::_Exit(0);
        }
        ::usleep(static_cast<useconds_t>(rng() % 400000));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        killed += WIFSIGNALED(status);
        if (!WIFSIGNALED(status)) BOOST_TEST(WEXITSTATUS(status) == 0);
        auto now = docs_state(dst);
        auto with_old = full;
        with_old["docs/old"] = doc("old", 0).dump();
        bool nothing = now.size() == 1 && now.begin()->second == with_old["docs/old"];
        bool everything = now == with_old;
        BOOST_TEST((nothing || everything), "round " << round << ": " << now.size() << " documents");
        none += nothing;
        all += everything;
        database<file_storage> db{file_storage(dst)};
        docs_t docs(db.storage(), "docs");
        BOOST_TEST(docs.verify().ok());
        // The automatic backup taken before the import is complete or absent.
        backups bk(backups::default_root(dst));
        for (const auto& b : bk.list()) BOOST_TEST(bk.verify(b.id).ok(), b.id);
    }
    BOOST_TEST(killed > 0);
    BOOST_TEST_MESSAGE("killed " << killed << ", nothing applied " << none << ", all applied " << all);
}

BOOST_AUTO_TEST_CASE(json_test_suite_files_are_rejected_and_change_nothing, *boost::unit_test::label("shared_data")) {
    auto suite = stowage::test::shared_data("json-test-suite/test_parsing");
    scratch_dir dir("export-suite");
    auto data = dir.path() / "data";
    {
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        docs.put(doc("keep", 1));
    }
    auto before = fingerprint(data);
    std::size_t n = 0, y = 0, i = 0;
    for (auto& e : fs::directory_iterator(suite)) {
        std::string name = e.path().filename().string();
        bool accepted = false;
        try {
            import_file(data, e.path());
            accepted = true;
        } catch (const error&) {
        }
        if (name.starts_with("n_")) {
            ++n;
            BOOST_TEST(!accepted, name);
        } else if (name.starts_with("y_")) {
            ++y;
            BOOST_TEST(!accepted, name);  // valid JSON, but not an export
        } else {
            ++i;  // implementation-defined: only must not crash or hang
            BOOST_TEST(!accepted, name);
        }
        // Also as unsigned hand-written files.
        import_options o;
        o.allow_unsigned = true;
        BOOST_CHECK_THROW(import_file(data, e.path(), o), error);
    }
    BOOST_TEST(n > 150u);
    BOOST_TEST(y > 90u);
    BOOST_TEST(i > 10u);
    BOOST_TEST((fingerprint(data) == before));
    BOOST_TEST(!fs::exists(backups::default_root(data)));
}

BOOST_AUTO_TEST_CASE(schema_versions_round_trip) {
    scratch_dir dir("export-schema");
    auto src = dir.path() / "src", dst = dir.path() / "dst";
    {
        database<file_storage> db{file_storage(src)};
        docs_t old_docs(db.storage(), "docs");
        old_docs.put(doc("v1", 1));
    }
    {
        database<file_storage> db{file_storage(src)};
        docs_t migrated(db.storage(), "docs", {.schema_version = 3});
        migrated.put(doc("v3", 3));
    }
    auto text = export_to_string(src);
    BOOST_TEST(text.find(R"({"collection":"docs","schema":3,"document":{"id":"v3")") != std::string::npos, text);
    BOOST_TEST(text.find(R"({"collection":"docs","document":{"id":"v1")") != std::string::npos, text);
    auto file = dir.path() / "dump.jsonl";
    spit(file, text);
    import_file(dst, file);
    BOOST_TEST((docs_state(dst) == docs_state(src)));
    database<file_storage> db{file_storage(dst, open_mode::read_only)};
    docs_t docs(db.storage(), "docs");
    BOOST_TEST(read_record_header(db.storage(), docs.key_of("v3")).schema_version == 3u);
    BOOST_TEST(read_record_header(db.storage(), docs.key_of("v1")).schema_version == 1u);
    BOOST_TEST(docs.verify().ok());

    // Bad schema fields are refused, naming the line.
    for (std::string bad : {R"("schema":0)", R"("schema":"3")", R"("schema":4294967296)", R"("schema":-1)"}) {
        std::string hand = "{\"format\":\"stowage-export\",\"version\":1,\"collections\":[{\"name\":\"docs\",\"codec\":\"gzip+json\"}]}\n"
                           "{\"collection\":\"docs\"," + bad + ",\"document\":{\"id\":\"x\"}}\n";
        spit(file, hand);
        try {
            validate_import(file, dst, {.allow_unsigned = true});
            BOOST_FAIL("schema field " << bad << " accepted");
        } catch (const error& e) {
            BOOST_TEST(std::string(e.what()).find("line 2") != std::string::npos, e.what());
        }
    }
}
