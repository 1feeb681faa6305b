// Tests for storage/rados.hpp on a real Ceph cluster (tools/ceph/start.sh,
// started and stopped by CTest as the fixture `rados_cluster`): the storage
// conformance suite, long keys, the write-size limit, listing past stale
// index entries, the WAL, database transactions and cas_map over RADOS, and
// failures: one OSD SIGKILLed during writes loses nothing acknowledged; with
// two down, operations fail with a timeout error (no hang) and succeed again
// once the OSDs are back. Each test storage lives in its own RADOS namespace.
//
// Environment (set by tests/cmake/rados.cmake): STOWAGE_RADOS_CONF (the
// cluster's ceph.conf; the whole test is skipped, exit 77, when it is
// absent), STOWAGE_RADOS_POOL, STOWAGE_CEPH_TOOLS, STOWAGE_RADOS_WORKDIR.
#define BOOST_TEST_MODULE storage_rados
#include "storage_conformance.hpp"

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "session_model.hpp"
#include "stowage/backup.hpp"
#include "stowage/cas_map.hpp"
#include "stowage/chunk/fastcdc.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/codec/json_document.hpp"
#include "stowage/database.hpp"
#include "stowage/storage/rados.hpp"
#include "stowage/wal.hpp"

using namespace stowage;
using stowage::test::expect_value;

namespace {

std::string env(const char* name, const char* fallback = "") {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

// The cluster's ceph.conf; exits 77 (skipped) when no cluster was started.
const std::string& cluster_conf() {
    static const std::string conf = [] {
        std::string c = env("STOWAGE_RADOS_CONF");
        if (c.empty() || !std::filesystem::exists(c)) {
            std::cout << "skipped: no test cluster (STOWAGE_RADOS_CONF=" << c
                      << "; tools/ceph/start.sh needs the Ceph packages and root)" << std::endl;
            std::_Exit(77);
        }
        return c;
    }();
    return conf;
}

rados_options options_for(const std::string& nspace, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    rados_options o;
    o.conf = cluster_conf();
    o.pool = env("STOWAGE_RADOS_POOL", "stowage");
    static std::atomic<int> counter{0};
    o.nspace = nspace + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    o.op_timeout = timeout;
    return o;
}

// A plain librados connection to `o`'s pool and namespace, to act behind
// the storage's back (as another client or a failing cluster would).
class admin_connection {
public:
    explicit admin_connection(const rados_options& o) {
        BOOST_TEST_REQUIRE(rados_create(&cluster_, "admin") == 0);
        BOOST_TEST_REQUIRE(rados_conf_read_file(cluster_, o.conf.c_str()) == 0);
        BOOST_TEST_REQUIRE(rados_connect(cluster_) == 0);
        BOOST_TEST_REQUIRE(rados_ioctx_create(cluster_, o.pool.c_str(), &io_) == 0);
        rados_ioctx_set_namespace(io_, o.nspace.c_str());
    }
    ~admin_connection() {
        if (io_) rados_ioctx_destroy(io_);
        rados_shutdown(cluster_);
    }
    admin_connection(const admin_connection&) = delete;
    admin_connection& operator=(const admin_connection&) = delete;
    rados_ioctx_t io() const { return io_; }

private:
    rados_t cluster_ = nullptr;
    rados_ioctx_t io_ = nullptr;
};

struct rados_factory {
    rados_storage make() { return rados_storage(options_for("conformance")); }
};

bytes pattern(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bytes b(n);
    for (auto& x : b) x = std::byte(rng() & 0xff);
    return b;
}

int osd_tool(const std::string& args) {
    std::string cmd = env("STOWAGE_CEPH_TOOLS") + "/osd.sh " + env("STOWAGE_RADOS_WORKDIR") + " " + args + " 2>&1";
    auto [status, out] = stowage::test::run(cmd);
    if (status != 0) BOOST_TEST_MESSAGE("osd.sh " << args << ": " << out);
    return status;
}

}  // namespace

STOWAGE_STORAGE_CONFORMANCE(rados_conformance, rados_factory)

BOOST_AUTO_TEST_CASE(long_keys_map_to_digest_names) {
    rados_storage s(options_for("long"));
    std::string key = "deep/" + std::string(190, 'a') + "/" + std::string(190, 'b') + "/" + std::string(190, 'c');
    BOOST_TEST(s.object_name(key).starts_with(".h/"));
    BOOST_TEST(s.object_name(key) == rados_storage(s).object_name(key));  // deterministic
    BOOST_TEST(s.object_name("short/key") == "short/key");
    s.replace(key, as_bytes("long"), durability::full);
    s.append(key + "x", as_bytes("log"));
    expect_value(s, key, "long");
    BOOST_TEST((s.list("deep/") == std::vector<std::string>{key, key + "x"}));
    BOOST_TEST(s.remove(key, durability::full));
    BOOST_TEST((s.list("deep/") == std::vector<std::string>{key + "x"}));
}

BOOST_AUTO_TEST_CASE(write_size_limit_is_a_clear_error) {
    rados_storage s(options_for("limit"));
    BOOST_TEST(s.max_write_size() == 90u << 20);  // the cluster's default
    bytes big(s.max_write_size() + 1);
    try {
        s.replace("big", big, durability::full);
        BOOST_ERROR("accepted a value above osd_max_write_size");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(std::string(e.what()).find("osd_max_write_size") != std::string::npos);
    }
    BOOST_TEST(!s.contains("big"));
    // An append (one WAL transaction) above the limit too.
    try {
        s.append("biglog", big);
        BOOST_ERROR("appended more than osd_max_write_size at once");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(std::string(e.what()).find("osd_max_write_size") != std::string::npos);
    }
    BOOST_TEST(!s.contains("biglog"));
    BOOST_TEST(s.list("").empty());
    // Large but allowed values round-trip (read() grows its buffer).
    auto value = pattern(3 << 20, 7);
    s.replace("three-mib", value, durability::full);
    BOOST_TEST((*s.read("three-mib") == value));
    BOOST_TEST((s.read_range("three-mib", 1 << 20, 10) == bytes(value.begin() + (1 << 20), value.begin() + (1 << 20) + 10)));
}

BOOST_AUTO_TEST_CASE(listing_skips_index_entries_without_objects) {
    auto o = options_for("stale");
    rados_storage s(o);
    s.replace("a/1", as_bytes("x"), durability::full);
    s.replace("a/2", as_bytes("y"), durability::full);
    // A writer that died between indexing and writing leaves an entry
    // without an object: remove the object behind the storage's back.
    BOOST_TEST(rados_remove(admin_connection(o).io(), "a/2") == 0);
    BOOST_TEST((s.list("a/") == std::vector<std::string>{"a/1"}));
    BOOST_TEST(!s.contains("a/2"));
}

BOOST_AUTO_TEST_CASE(async_writes_are_bounded_and_flushed) {
    auto o = options_for("async");
    o.max_in_flight = 4;
    rados_storage s(o);
    std::vector<bytes> values;
    for (int i = 0; i < 40; ++i) {
        values.push_back(pattern(1000 + i, i));
        s.replace("k/" + std::to_string(i), values.back(), durability::none);
        BOOST_TEST(s.in_flight() <= 4u);
    }
    // Visible to this handle at once, durable after flush.
    BOOST_TEST((*s.read("k/39") == values[39]));
    s.flush();
    BOOST_TEST(s.in_flight() == 0u);
    rados_options again = o;
    again.mode = open_mode::read_only;  // (a second writer would be refused)
    rados_storage other(again);         // a second connection sees them all
    BOOST_TEST(other.list("k/").size() == 40u);
    for (int i = 0; i < 40; ++i) BOOST_TEST((*other.read("k/" + std::to_string(i)) == values[i]));
}

BOOST_AUTO_TEST_CASE(read_only_open_refuses_writes) {
    auto o = options_for("ro");
    rados_storage w(o);
    w.replace("x", as_bytes("1"), durability::full);
    o.mode = open_mode::read_only;
    rados_storage r(o);
    expect_value(r, "x", "1");
    BOOST_TEST(r.read_only());
    try {
        r.replace("x", as_bytes("2"), durability::full);
        BOOST_ERROR("wrote through a read-only open");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::read_only));
    }
}

// One writer per pool + namespace, as file_storage's directory lock: a
// second writer is refused naming the holder, readers are not, and the lock
// is free again once the writer closes.
BOOST_AUTO_TEST_CASE(second_writer_is_refused_and_readers_are_not) {
    auto o = options_for("lease");
    {
        rados_storage w(o);
        w.replace("k", as_bytes("v"), durability::full);
        try {
            rados_storage second(o);
            BOOST_ERROR("a second writer opened the same pool and namespace");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::locked), e.what());
            BOOST_TEST(std::string(e.what()).find("has a writer already") != std::string::npos, e.what());
            BOOST_TEST(std::string(e.what()).find("pid " + std::to_string(::getpid())) != std::string::npos, e.what());
        }
        auto ro = o;
        ro.mode = open_mode::read_only;
        rados_storage reader(ro);
        expect_value(reader, "k", "v");
        w.replace("k", as_bytes("w"), durability::full);  // the first writer still writes
    }
    rados_storage next(o);  // closed: the lock was released, not left to lapse
    next.replace("k", as_bytes("x"), durability::full);
    expect_value(next, "k", "x");
}

// A writer whose lease lapsed while another writer took the lock over
// refuses to write (its cached state may be stale); it never writes beside
// the new holder.
BOOST_AUTO_TEST_CASE(writer_that_lost_its_lease_refuses_writes) {
    auto o = options_for("lapse");
    o.writer_lease = std::chrono::seconds(3);
    rados_storage first(o);
    first.replace("k", as_bytes("1"), durability::full);
    // Break first's lock behind its back (as if it had stalled past its
    // lease) and let a second writer take it.
    {
        admin_connection admin(o);
        int exclusive = 0;
        char tag[256], clients[1024], cookies[1024], addrs[1024];
        std::size_t tl = sizeof tag, cl = sizeof clients, kl = sizeof cookies, al = sizeof addrs;
        BOOST_TEST_REQUIRE(rados_list_lockers(admin.io(), ".stowage.writer", "stowage-writer", &exclusive, tag, &tl,
                                              clients, &cl, cookies, &kl, addrs, &al) == 1);
        BOOST_TEST_REQUIRE(rados_break_lock(admin.io(), ".stowage.writer", "stowage-writer", clients, cookies) == 0);
    }
    rados_storage second(o);
    second.replace("k", as_bytes("2"), durability::full);
    std::this_thread::sleep_for(std::chrono::seconds(3));  // first's lease is no longer fresh
    try {
        first.replace("k", as_bytes("stale writer"), durability::full);
        BOOST_ERROR("a writer that lost its lock wrote");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::locked), e.what());
    }
    expect_value(second, "k", "2");
}

BOOST_AUTO_TEST_CASE(missing_pool_and_bad_location_are_clear_errors) {
    auto o = options_for("nopool");
    o.pool = "no-such-pool";
    try {
        rados_storage s(o);
        BOOST_ERROR("opened a missing pool");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::not_found));
        BOOST_TEST(std::string(e.what()).find("no-such-pool") != std::string::npos);
    }
    BOOST_TEST(!rados_storage::parse_location("/some/dir").has_value());
    auto loc = rados_storage::parse_location("rados:pool1:/etc/ceph/ceph.conf");
    BOOST_TEST_REQUIRE(loc.has_value());
    BOOST_TEST(loc->pool == "pool1");
    BOOST_TEST(loc->conf == "/etc/ceph/ceph.conf");
    BOOST_CHECK_THROW(rados_storage::parse_location("rados:pool-only"), stowage::error);
}

// --- components over RADOS ---------------------------------------------------

BOOST_AUTO_TEST_CASE(wal_round_trip) {
    auto o = options_for("wal");
    std::vector<std::string> values;
    {
        rados_storage s(o);
        wal<rados_storage> log(s, "wal");
        wal_recovery_report r;
        BOOST_TEST(log.recover(r).empty());
        for (int i = 0; i < 50; ++i) {
            values.push_back("value " + std::to_string(i) + std::string(i * 7, 'v'));
            std::vector<wal_op> ops(1);
            ops[0].type = wal_record_type::put;
            ops[0].key = "c/" + std::to_string(i);
            ops[0].value = to_bytes(values.back());
            auto lsn = log.append(log.next_txid(), ops);
            log.wait_durable(lsn, durability::full);
        }
    }
    // Another process (a fresh connection) recovers every transaction.
    rados_storage s(o);
    wal<rados_storage> log(s, "wal");
    wal_recovery_report r;
    auto txs = log.recover(r);
    BOOST_TEST_REQUIRE(txs.size() == values.size());
    for (std::size_t i = 0; i < txs.size(); ++i) {
        BOOST_TEST_REQUIRE(txs[i].ops.size() == 1u);
        BOOST_TEST(to_string(txs[i].ops[0].value) == values[i]);
    }
}

template <class S>
using sessions_t = db_store<app::session, S, json_codec, sha256, app::session_summary>;

BOOST_AUTO_TEST_CASE(database_transactions_round_trip) {
    auto o = options_for("db");
    {
        database<rados_storage> db{rados_storage(o)};
        sessions_t<rados_storage> sessions(db.storage(), "sessions");
        for (int i = 0; i < 20; ++i) {
            auto tx = db.transaction();
            tx.put(sessions, app::make_session(i));
            tx.commit();
        }
        auto tx = db.transaction();
        tx.erase(sessions, app::make_session(3).id);
        tx.put(sessions, app::make_session(100));
        tx.commit();
    }
    database<rados_storage> db{rados_storage(o)};
    sessions_t<rados_storage> sessions(db.storage(), "sessions");
    BOOST_TEST(sessions.size() == 20u);
    BOOST_TEST(!sessions.get(app::make_session(3).id).has_value());
    BOOST_TEST((*sessions.get(app::make_session(100).id) == app::make_session(100)));
    BOOST_TEST((*sessions.get(app::make_session(7).id) == app::make_session(7)));
    BOOST_TEST(sessions.list().size() == 20u);
}

BOOST_AUTO_TEST_CASE(cas_map_round_trip_and_dedup) {
    auto o = options_for("cas");
    cas_options co;
    co.grace = std::chrono::seconds(0);
    auto blob = pattern(3 << 20, 11);
    sha256::digest id;
    {
        database<rados_storage> db{rados_storage(o)};
        cas_map<rados_storage, sha256, fastcdc> cas(db, fastcdc{}, co);
        id = cas.put(blob);
        BOOST_TEST(to_hex(id) == to_hex(hash_of<sha256>(blob)));
        auto chunks = db.storage().list("cas/");
        BOOST_TEST(!chunks.empty());
        // The same bytes again add no chunk.
        BOOST_TEST(to_hex(cas.put(blob)) == to_hex(id));
        BOOST_TEST(db.storage().list("cas/").size() == chunks.size());
    }
    database<rados_storage> db{rados_storage(o)};
    cas_map<rados_storage, sha256, fastcdc> cas(db, fastcdc{}, co);
    BOOST_TEST((*cas.get(id) == blob));
    BOOST_TEST(*cas.size(id) == blob.size());
}

// --- backups of a database on RADOS --------------------------------------------------
// The backup is a local directory; restore into the pool is one transaction.

namespace {

using docs_t = db_store<json_document, rados_storage, gzip<json_codec>>;

json_document doc(const std::string& id, std::int64_t n) {
    json_document d;
    d.set("id", id);
    d.set("n", n);
    return d;
}

// Every key of the database but the WAL's, with its value as of now. A
// record's envelope carries the LSN it was committed at (a restore commits
// anew), so records are compared by id and payload, everything else byte
// for byte.
std::map<std::string, bytes> contents_of(database<rados_storage>& db) {
    std::map<std::string, bytes> out;
    auto snap = db.snapshot();
    for (const auto& key : snap.list("")) {
        if (key.starts_with("wal/")) continue;
        auto value = snap.read(key);
        BOOST_TEST_REQUIRE(value.has_value(), key);
        if (detail::backup_is_record_key(key)) {
            auto h = verify_record(*value, key);
            bytes normal = to_bytes(h.id);
            normal.insert(normal.end(), value->begin() + static_cast<std::ptrdiff_t>(h.payload_offset), value->end());
            value = std::move(normal);
        }
        out.emplace(key, std::move(*value));
    }
    return out;
}

std::map<std::string, std::string> docs_of(database<rados_storage>& db) {
    std::map<std::string, std::string> out;
    docs_t docs(db.storage(), "docs");
    for (const auto& l : docs.list()) out[l.id] = docs.get(l.id)->dump();
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(backup_of_a_pool_restores_exactly_into_it) {
    auto o = options_for("backup");
    stowage::test::scratch_dir dir("rados-backup");
    backups bk(dir.path() / "backups");
    cas_options co;
    co.grace = std::chrono::seconds(0);
    auto blob = pattern(1 << 20, 21), later_blob = pattern(1 << 20, 22);
    std::string id;
    std::map<std::string, bytes> at_backup;
    std::map<std::string, std::string> docs_at_backup;
    {
        database<rados_storage> db{rados_storage(o)};
        {
            docs_t docs(db.storage(), "docs");
            auto tx = db.transaction();
            for (int i = 0; i < 30; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
            tx.commit();
            cas_map<rados_storage, sha256, fastcdc> cas(db, fastcdc{}, co);
            cas.put(blob);
        }
        auto info = bk.create(db);
        id = info.id;
        BOOST_TEST(info.verified);
        BOOST_TEST(info.lsn == db.last_committed());
        BOOST_TEST(info.linked_bytes == 0u);  // chunks are copied out of the pool
        BOOST_TEST(info.bytes > (1u << 20));
        auto report = bk.verify(id);
        BOOST_TEST(report.ok());
        BOOST_TEST(report.files == info.files);
        at_backup = contents_of(db);
        docs_at_backup = docs_of(db);
        BOOST_TEST(at_backup.size() > 30u);
        BOOST_TEST(std::count_if(at_backup.begin(), at_backup.end(),
                                 [](auto& kv) { return detail::backup_is_chunk_key(kv.first); }) > 0);

        // After the backup: new documents, a changed one, an erased one, a new blob.
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 100; i < 110; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
        tx.put(docs, doc("d5", 5000));
        tx.erase(docs, "d7");
        tx.commit();
        cas_map<rados_storage, sha256, fastcdc> cas(db, fastcdc{}, co);
        cas.put(later_blob);
    }
    std::map<std::string, bytes> before_restore;
    {
        database<rados_storage> db{rados_storage(o)};
        before_restore = contents_of(db);
        BOOST_TEST_REQUIRE((before_restore != at_backup));
        auto report = bk.restore(db, id);
        BOOST_TEST_REQUIRE(report.previous.has_value());
        BOOST_TEST(report.previous->verified);
        BOOST_TEST(report.lsn > 0u);
        BOOST_TEST(report.files > 30u);
        // The exact key set and contents of the backup.
        auto now = contents_of(db);
        BOOST_TEST(now.size() == at_backup.size());
        for (const auto& [key, value] : at_backup) {
            auto it = now.find(key);
            BOOST_TEST_CONTEXT(key) {
                BOOST_TEST_REQUIRE((it != now.end()));
                BOOST_TEST((it->second == value));
            }
        }
        for (const auto& [key, value] : now) BOOST_TEST(at_backup.count(key) == 1u, "not in the backup: " << key);
    }
    // Reopened: the documents and blobs as they were at the backup.
    database<rados_storage> db{rados_storage(o)};
    BOOST_TEST((contents_of(db) == at_backup));
    auto docs = docs_of(db);
    BOOST_TEST((docs == docs_at_backup));
    BOOST_TEST(docs.count("d7") == 1u);
    BOOST_TEST(docs.count("d100") == 0u);
    BOOST_TEST(docs.at("d5") == doc("d5", 5).dump());
    cas_map<rados_storage, sha256, fastcdc> cas(db, fastcdc{}, co);
    BOOST_TEST((*cas.get(hash_of<sha256>(blob)) == blob));
    BOOST_TEST(!cas.get(hash_of<sha256>(later_blob)).has_value());
    // The state the restore replaced is a backup of its own, verified.
    auto all = bk.list();
    BOOST_TEST(all.size() == 2u);
}

// A restore into the pool from a backup with one damaged file restores
// everything else and keeps the pool's own version of that key (a
// transaction takes only intact records), reporting it (backup.hpp).
BOOST_AUTO_TEST_CASE(damaged_backup_file_keeps_the_pools_version_and_restores_the_rest) {
    auto o = options_for("backup-damaged");
    stowage::test::scratch_dir dir("rados-backup-damaged");
    backups bk(dir.path() / "backups");
    database<rados_storage> db{rados_storage(o)};
    {
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 0; i < 10; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
        tx.commit();
        cas_map<rados_storage, sha256, fastcdc> cas(db);
        cas.put(pattern(200000, 23));
    }
    auto id = bk.create(db).id;
    {
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        tx.put(docs, doc("d3", 333));
        tx.put(docs, doc("extra", 1));
        tx.commit();
    }
    db.checkpoint();
    auto before = contents_of(db);
    auto backups_before = bk.list().size();
    // A record's file and a chunk's file of the backup, each damaged in turn.
    std::vector<std::string> victims;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(bk.path_of(id))) {
        std::string rel = entry.path().lexically_relative(bk.path_of(id)).generic_string();
        if (victims.size() < 1 && detail::backup_is_record_key(rel) && rel.starts_with("docs/")) victims.push_back(rel);
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(bk.path_of(id))) {
        std::string rel = entry.path().lexically_relative(bk.path_of(id)).generic_string();
        if (victims.size() < 2 && detail::backup_is_chunk_key(rel) && entry.is_regular_file()) victims.push_back(rel);
    }
    BOOST_TEST_REQUIRE(victims.size() == 2u);
    for (const auto& victim : victims) {
        BOOST_TEST_CONTEXT(victim) {
            auto path = bk.path_of(id) / victim;
            auto flip = [&] {
                std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
                f.seekg(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
                char c = 0;
                f.get(c);
                f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
                f.put(static_cast<char>(c ^ 0x20));
            };
            flip();
            auto current = contents_of(db);
            auto report = bk.restore(db, id);
            BOOST_TEST_REQUIRE(report.damaged.size() == 1u);
            BOOST_TEST(report.damaged[0].key == victim);
            // A record: the pool's newer version stays (unresolved); a
            // chunk: the pool's intact copy of the same content serves.
            BOOST_TEST(report.unresolved == (detail::backup_is_record_key(victim) ? 1u : 0u));
            auto after = contents_of(db);
            if (current.contains(victim)) BOOST_TEST((after.at(victim) == current.at(victim)));
            BOOST_TEST(docs_of(db).count("extra") == 0u);  // the rest was restored
            flip();  // undamaged again
        }
    }
    // Undamaged, the same backup restores with nothing to report.
    BOOST_TEST(bk.restore(db, id).ok());
    BOOST_TEST((contents_of(db) != before));
    BOOST_TEST(docs_of(db).count("extra") == 0u);
}

BOOST_AUTO_TEST_CASE(repair_replaces_a_record_damaged_in_the_pool) {
    auto o = options_for("repair");
    stowage::test::scratch_dir dir("rados-repair");
    backups bk(dir.path() / "backups");
    database<rados_storage> db{rados_storage(o)};
    std::string key;
    {
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 0; i < 10; ++i) tx.put(docs, doc("d" + std::to_string(i), i));
        tx.commit();
        key = docs.key_of("d4");
    }
    db.checkpoint();
    auto id = bk.create(db).id;
    // A corrupted envelope written straight through the raw storage (as a
    // failing disk or a buggy client would leave it).
    rados_storage raw = db.raw_storage();
    auto value = *raw.read(key);
    value[value.size() - 3] ^= std::byte{0x40};
    raw.replace(key, value, durability::full);
    {
        docs_t docs(db.storage(), "docs");
        BOOST_CHECK_THROW(docs.get("d4"), stowage::error);
    }
    auto dry = bk.repair(db, id, {.dry_run = true});
    BOOST_TEST(dry.repaired.size() == 1u);
    BOOST_TEST((*raw.read(key) == value));  // a dry run changes nothing
    auto report = bk.repair(db, id);
    BOOST_TEST(report.ok());
    BOOST_TEST(report.records >= 10u);
    BOOST_TEST_REQUIRE(report.repaired.size() == 1u);
    BOOST_TEST(report.repaired[0].key == key);
    BOOST_TEST(!detail::backup_record_problem(*raw.read(key), key).has_value());
    docs_t docs(db.storage(), "docs");
    BOOST_TEST(docs.get("d4")->dump() == doc("d4", 4).dump());
    BOOST_TEST(docs.size() == 10u);
}

// --- failures ------------------------------------------------------------------
// These kill OSDs of the shared test cluster, so they run last and restore
// it (every OSD up, placement groups clean) before they end.

BOOST_AUTO_TEST_CASE(one_osd_killed_during_writes_loses_nothing_acknowledged) {
    rados_storage s(options_for("kill1"));
    std::atomic<bool> stop{false};
    std::atomic<int> acknowledged{0};
    std::atomic<int> failures{0};
    std::thread writer([&] {
        for (int i = 0; !stop; ++i) {
            try {
                s.replace("w/" + std::to_string(i), pattern(4096, i), durability::full);
                s.append("log", as_bytes("entry " + std::to_string(i) + ";"));
                s.sync("log");
                acknowledged = i + 1;
            } catch (const stowage::error& e) {
                ++failures;
                BOOST_TEST_MESSAGE("write " << i << " failed: " << e.what());
                break;
            }
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    int before = acknowledged;
    BOOST_TEST_REQUIRE(osd_tool("kill 1") == 0);
    std::this_thread::sleep_for(std::chrono::seconds(5));
    int during = acknowledged;
    stop = true;
    writer.join();
    BOOST_TEST(failures == 0);                // writes continued with two replicas
    BOOST_TEST(during > before);
    int n = acknowledged;
    // Every acknowledged write reads back from a fresh connection (a
    // reader: the writer still holds the lock).
    auto fresh_options = s.options();
    fresh_options.mode = open_mode::read_only;
    rados_storage fresh(fresh_options);
    for (int i = 0; i < n; ++i) BOOST_TEST((*fresh.read("w/" + std::to_string(i)) == pattern(4096, i)));
    auto log = to_string(*fresh.read("log"));
    for (int i = 0; i < n; ++i) BOOST_TEST(log.find("entry " + std::to_string(i) + ";") != std::string::npos);
    BOOST_TEST(osd_tool("start 1") == 0);
    BOOST_TEST(osd_tool("wait-clean") == 0);
}

BOOST_AUTO_TEST_CASE(two_osds_down_times_out_then_recovers) {
    auto o = options_for("kill2", std::chrono::seconds(4));
    rados_storage s(o);
    s.replace("before", as_bytes("ok"), durability::full);
    BOOST_TEST_REQUIRE(osd_tool("kill 1") == 0);
    BOOST_TEST_REQUIRE(osd_tool("kill 2") == 0);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto t0 = std::chrono::steady_clock::now();
    bool timed_out = false;
    // Some writes may still land before the monitor marks both down; within
    // a few attempts one must fail with the timeout error.
    for (int i = 0; i < 5 && !timed_out; ++i) {
        try {
            s.replace("during/" + std::to_string(i), as_bytes("x"), durability::full);
        } catch (const rados_error& e) {
            BOOST_TEST_MESSAGE("expected failure: " << e.what());
            BOOST_TEST((e.kind() == errc::timeout));
            BOOST_TEST(e.timed_out());
            BOOST_TEST(std::string(e.what()).find("timed out") != std::string::npos);
            timed_out = true;
        }
    }
    auto waited = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(timed_out);
    BOOST_TEST(waited < std::chrono::seconds(40));  // bounded, not a hang
    BOOST_TEST(osd_tool("start 1") == 0);
    BOOST_TEST(osd_tool("start 2") == 0);
    BOOST_TEST(osd_tool("wait-clean") == 0);
    // The same handle works again, and what was written before is there.
    // The client learns the new OSD map and the placement groups finish
    // peering a little after the manager reports them clean: retry (each
    // attempt bounded by the 4 s timeout) for up to a minute.
    auto t1 = std::chrono::steady_clock::now();
    for (int attempt = 1;; ++attempt) {
        try {
            s.replace("after", as_bytes("ok"), durability::full);
            BOOST_TEST_MESSAGE("write succeeded again after " << attempt << " attempt(s), "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - t1).count() << " ms");
            break;
        } catch (const stowage::error& e) {
            // The key-index update can time out too (reported as a plain
            // stowage::error naming the timeout): the same retry applies.
            BOOST_TEST_REQUIRE(std::string(e.what()).find("timed out") != std::string::npos, e.what());
            BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() - t1 < std::chrono::seconds(90)));
        }
    }
    expect_value(s, "before", "ok");
    expect_value(s, "after", "ok");
}
