// The file-format promise: tests/golden/v1 is a data directory written by
// format version 1 (records in json, binary and gzip+json with sha256 and
// blake2b, listing snapshots, a write-ahead log holding committed but not
// yet applied transactions). Every later version must open and read it
// exactly. It is opened read-only and never modified.
//
// To (re)create it — only when introducing a new format version, as a new
// directory — run: STOWAGE_WRITE_GOLDEN=1 golden_test
#define BOOST_TEST_MODULE golden
#include "test_support.hpp"

#include <sys/wait.h>

#include "session_model.hpp"
#include "stowage/codec/binary.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/database.hpp"
#include "stowage/storage/file.hpp"

using namespace stowage;
using app::make_session;
using app::session;
namespace fs = std::filesystem;

using sessions_t = db_store<session, file_storage, json_codec, sha256, app::session_summary>;
using docs_t = db_store<json_document, file_storage, gzip<json_codec>>;
using binary_t = db_store<session, file_storage, binary_codec, blake2b>;

static const fs::path golden = fs::path(STOWAGE_SOURCE_DIR) / "tests" / "golden" / "v1";

static const std::vector<std::string> documents = {
    R"({"id":"doc-1","name":"Standup","tags":["a","b"],"n":1})",
    R"({"id":"doc-2","name":"Zürich «Retro» ✓","big":123456789012345678901234567890,"f":1.5e-300,"nested":{"x":[1,{"y":null}],"s":"\u0000\n"}})",
    R"({"id":"doc/3 with spaces","empty":{},"list":[]})",
};

static void write_golden() {
    fs::remove_all(golden);
    {
        database<file_storage> db{file_storage(golden)};
        sessions_t sessions(db.storage(), "sessions");
        docs_t docs(db.storage(), "docs");
        binary_t bin(db.storage(), "binary");
        for (int i = 0; i < 5; ++i) sessions.put(make_session(static_cast<std::uint64_t>(i)));
        for (auto& d : documents) docs.put(json_document::parse(d));
        bin.put(make_session(100));
        bin.put(make_session(101));
    }  // clean close: applied, checkpointed, listing snapshots written
    // Then transactions left in the log only: a process that commits and
    // dies before the applier runs.
    pid_t pid = ::fork();
    if (pid == 0) {
        database_options o;
        o.apply_interval = std::chrono::hours(24);
        auto* db = new database<file_storage>(file_storage(golden), o);
        auto* sessions = new sessions_t(db->storage(), "sessions");
        auto tx = db->transaction();
        tx.put(*sessions, make_session(5));
        tx.erase(*sessions, "session-4");
        tx.commit();
        std::_Exit(0);  // no clean close: nothing applied
    }
    int status;
    ::waitpid(pid, &status, 0);
}

BOOST_AUTO_TEST_CASE(golden_v1_reads_exactly) {
    if (const char* w = std::getenv("STOWAGE_WRITE_GOLDEN"); w && std::string(w) == "1") {
        write_golden();
        BOOST_TEST_MESSAGE("wrote " << golden);
    }
    BOOST_TEST_REQUIRE(fs::is_directory(golden));
    database<file_storage> db{file_storage(golden, open_mode::read_only)};
    // Served from the log: the writer's retiring of the listing snapshot and
    // the transaction itself.
    BOOST_TEST(db.recovery().transactions == 2u);

    sessions_t sessions(db.storage(), "sessions");
    for (int i = 0; i < 4; ++i) BOOST_TEST((*sessions.get("session-" + std::to_string(i)) == make_session(static_cast<std::uint64_t>(i))));
    BOOST_TEST(!sessions.get("session-4").has_value());
    BOOST_TEST((*sessions.get("session-5") == make_session(5)));
    auto listing = sessions.list();
    BOOST_TEST_REQUIRE(listing.size() == 5u);
    auto s2 = make_session(2);
    BOOST_TEST((listing[2].projection == app::session_summary{s2.id, s2.name, s2.state, s2.start_time}));

    docs_t docs(db.storage(), "docs");
    for (auto& d : documents) {
        auto doc = json_document::parse(d);
        auto got = docs.get(*doc.id());
        BOOST_TEST_REQUIRE(got.has_value());
        BOOST_TEST(got->dump() == doc.dump());
    }
    binary_t bin(db.storage(), "binary");
    BOOST_TEST((*bin.get("session-100") == make_session(100)));
    BOOST_TEST((*bin.get("session-101") == make_session(101)));

    // The envelope fields as docs/format.md specifies them.
    file_storage raw(golden, open_mode::read_only);
    auto key = record_key("sessions", "session-1");
    auto record = raw.read(key);
    BOOST_TEST_REQUIRE(record.has_value());
    auto h = verify_record(*record, key);
    BOOST_TEST(h.format_version == 1u);
    BOOST_TEST(h.codec == "json");
    BOOST_TEST(h.hasher == "sha256");
    BOOST_TEST(h.id == "session-1");
    BOOST_TEST(h.lsn > 0u);
    auto bh = verify_record(*raw.read(record_key("binary", "session-100")), "binary");
    BOOST_TEST(bh.codec == "binary");
    BOOST_TEST(bh.hasher == "blake2b");
    auto dh = verify_record(*raw.read(record_key("docs", "doc-1")), "docs");
    BOOST_TEST(dh.codec == "gzip+json");
    BOOST_TEST(raw.contains("sessions/listing"));
}
