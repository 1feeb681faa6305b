// Tests for migration.hpp: a collection of v1 (and some v2) notes migrated
// to v3 through typed steps — dry run changing nothing, run in batches with
// progress and verification, a failing step rolled back automatically,
// pause/resume/cancel (cancel rolls back), lazy migrate-on-read with and
// without write-back, unknown versions refused, and processes killed with
// SIGKILL during a migration and during its rollback: after recover() the
// collection is entirely old or entirely new, never a mix, and verifies.
#define BOOST_TEST_MODULE migration
#include "test_support.hpp"

#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>

#include "stowage/codec/json.hpp"
#include "stowage/describe.hpp"
#include "stowage/migration.hpp"

using namespace stowage;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

namespace app {
struct note_v1 {
    std::string id, title, body;
};
STOWAGE_DESCRIBE(note_v1, id, title, body)

struct note_v2 {
    std::string id, title, body;
    std::int64_t words = 0;
};
STOWAGE_DESCRIBE(note_v2, id, title, body, words)

struct note_v3 {
    std::string id, heading, body;
    std::int64_t words = 0;
    std::vector<std::string> tags;
};
STOWAGE_DESCRIBE(note_v3, id, heading, body, words, tags)
}  // namespace app
using app::note_v1, app::note_v2, app::note_v3;

static std::int64_t words_in(const std::string& s) {
    std::int64_t n = s.empty() ? 0 : 1;
    for (char c : s) n += c == ' ';
    return n;
}
static note_v2 to_v2(const note_v1& o) { return {o.id, o.title, o.body, words_in(o.body)}; }
static note_v3 to_v3(const note_v2& o) { return {o.id, o.title, o.body, o.words, {"migrated"}}; }

// The schema: v1 -> v2 -> v3. A note whose id is `poison` makes the first
// step throw; `sleep_us` slows every first step (for the kill tests).
static collection_schema<> schema_of(std::string poison = "", unsigned sleep_us = 0) {
    return collection_schema<>("notes")
        .step<note_v1, note_v2>([=](note_v1 o) {
            if (o.id == poison) throw std::runtime_error("poisoned note " + o.id);
            if (sleep_us) ::usleep(sleep_us);
            return to_v2(o);
        })
        .step<note_v2, note_v3>([](note_v2 o) { return to_v3(o); });
}

static note_v1 note(int i) { return {"n" + std::to_string(i), "title " + std::to_string(i), std::string(i % 7 + 1, 'w') + " a b"}; }
static note_v2 note2(int i) { return {"m" + std::to_string(i), "second " + std::to_string(i), "x y", 2}; }

// n v1 notes, then k notes written at schema version 2.
static void seed(const fs::path& dir, int n, int k = 5) {
    database<file_storage> db{file_storage(dir)};
    {
        db_store<note_v1, file_storage> notes(db.storage(), "notes");
        std::vector<note_v1> all;
        for (int i = 0; i < n; ++i) all.push_back(note(i));
        notes.put_many(all);
    }
    {
        db_store<note_v2, file_storage> notes(db.storage(), "notes", {.schema_version = 2});
        for (int i = 0; i < k; ++i) notes.put(note2(i));
    }
    {
        db_store<note_v1, file_storage> other(db.storage(), "other");
        other.put(note(1000));
    }
}

// Every record of a collection: id -> "v<schema version> <entity JSON>".
static std::map<std::string, std::string> state_of(const fs::path& dir, const std::string& collection = "notes") {
    std::map<std::string, std::string> out;
    database<file_storage> db{file_storage(dir, open_mode::read_only)};
    auto snap = db.snapshot();
    json_codec codec;
    for (const auto& key : snap.list(collection + "/")) {
        if (!is_record_key(collection, key)) continue;
        auto r = *snap.read(key);
        auto h = verify_record(r, key);
        auto payload = bytes_view(r).subspan(h.payload_offset);
        std::string json;
        if (h.schema_version == 1) {
            note_v1 e;
            codec.decode(payload, e);
            json = to_json(e);
        } else if (h.schema_version == 2) {
            note_v2 e;
            codec.decode(payload, e);
            json = to_json(e);
        } else {
            note_v3 e;
            codec.decode(payload, e);
            json = to_json(e);
        }
        out[h.id] = "v" + std::to_string(h.schema_version) + " " + json;
    }
    return out;
}

static std::map<std::string, std::string> expected_new(int n, int k = 5) {
    std::map<std::string, std::string> out;
    for (int i = 0; i < n; ++i) out["n" + std::to_string(i)] = "v3 " + to_json(to_v3(to_v2(note(i))));
    for (int i = 0; i < k; ++i) out["m" + std::to_string(i)] = "v3 " + to_json(to_v3(note2(i)));
    return out;
}

static bool verifies(const fs::path& dir) {
    database<file_storage> db{file_storage(dir, open_mode::read_only)};
    db_store<note_v3, file_storage> notes(db.storage(), "notes");
    return notes.verify().ok();
}

BOOST_AUTO_TEST_CASE(schema_declares_versions_and_refuses_misuse) {
    auto s = schema_of();
    BOOST_TEST(s.first() == 1u);
    BOOST_TEST(s.latest() == 3u);
    BOOST_TEST(s.is_latest<note_v3>());
    BOOST_TEST(!s.is_latest<note_v1>());
    BOOST_TEST(s.knows(2));
    BOOST_TEST(!s.knows(4));
    BOOST_CHECK_THROW((collection_schema<>("notes").step<note_v1, note_v2>(to_v2).step<note_v1, note_v2>(to_v2)), error);
    BOOST_CHECK_THROW(collection_schema<>("bad/name"), error);
    auto only = collection_schema<>("notes", 4).initial<note_v3>();
    BOOST_TEST(only.latest() == 4u);
}

BOOST_AUTO_TEST_CASE(dry_run_reports_what_would_change_and_changes_nothing) {
    scratch_dir dir("mig-dry");
    auto data = dir.path() / "data";
    seed(data, 30);
    auto before = state_of(data);
    database<file_storage> db{file_storage(data)};
    migration m(db, backups(backups::default_root(data)), schema_of("n7"));
    auto plan = m.dry_run();
    BOOST_TEST(plan.collection == "notes");
    BOOST_TEST(plan.target == 3u);
    BOOST_TEST(plan.records == 35u);
    BOOST_TEST(plan.by_version[1] == 30u);
    BOOST_TEST(plan.by_version[2] == 5u);
    BOOST_TEST(plan.changes.size() == 34u);  // n7 fails
    BOOST_TEST_REQUIRE(plan.failures.size() == 1u);
    BOOST_TEST(plan.failures[0].key == record_key("notes", "n7"));
    BOOST_TEST(plan.failures[0].what.find("poisoned note n7") != std::string::npos);
    BOOST_TEST(plan.failures[0].what.find("step 1 -> 2") != std::string::npos);
    for (auto& c : plan.changes) {
        BOOST_TEST(c.to == 3u);
        BOOST_TEST(c.from == (c.id.starts_with("m") ? 2u : 1u));
    }
    db.checkpoint();
    BOOST_TEST((state_of(data) == before));
    BOOST_TEST(!m.interrupted());
    BOOST_TEST(backups(backups::default_root(data)).list().empty());
}

BOOST_AUTO_TEST_CASE(run_migrates_in_batches_verifies_and_keeps_a_rollback_point) {
    scratch_dir dir("mig-run");
    auto data = dir.path() / "data";
    seed(data, 100);
    auto other_before = state_of(data, "other");
    backups bk(backups::default_root(data));
    std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
    migration_report report;
    {
        database<file_storage> db{file_storage(data)};
        migration m(db, bk, schema_of(), {.batch_size = 16, .progress = [&](std::uint64_t d, std::uint64_t t) {
                                              progress.emplace_back(d, t);
                                              // The rollback point is pinned while the migration runs.
                                              BOOST_TEST(bk.pinned(bk.list().back().id));
                                          }});
        report = m.run();
        BOOST_TEST((report.outcome == migration_outcome::completed));
        BOOST_TEST(report.records == 105u);
        BOOST_TEST(report.migrated == 105u);
        BOOST_TEST(report.batches == 7u);  // ceil(105 / 16)
        BOOST_TEST(!m.interrupted());
        BOOST_TEST(!db.snapshot().read(m.journal_key()));
        // Again: nothing to do, and no new backup.
        auto again = m.run();
        BOOST_TEST((again.outcome == migration_outcome::nothing_to_do));
        BOOST_TEST(again.rollback_point.empty());
    }
    BOOST_TEST_REQUIRE(progress.size() == 7u);
    BOOST_TEST(progress.front().first == 16u);
    BOOST_TEST((progress.back() == std::pair<std::uint64_t, std::uint64_t>{105, 105}));
    BOOST_TEST((state_of(data) == expected_new(100)));
    BOOST_TEST((state_of(data, "other") == other_before));  // other collections untouched
    BOOST_TEST(verifies(data));
    // The rollback point holds the old state, verified, and is no longer pinned.
    auto listed = bk.list();
    BOOST_TEST_REQUIRE(listed.size() == 1u);
    BOOST_TEST(listed[0].id == report.rollback_point);
    BOOST_TEST(!bk.pinned(report.rollback_point));
    BOOST_TEST(bk.verify(report.rollback_point).ok());
    BOOST_TEST(state_of(bk.path_of(report.rollback_point)).at("n3").starts_with("v1 "));
    // A store of the new type lists the new projections (the stale listing
    // snapshot was dropped) and reads every record.
    database<file_storage> db{file_storage(data)};
    db_store<note_v3, file_storage> notes(db.storage(), "notes", {.schema_version = 3});
    BOOST_TEST(notes.size() == 105u);
    auto p = notes.projection("n5");
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->find("heading") != nullptr);
    BOOST_TEST(p->find("title") == nullptr);
    BOOST_TEST(notes.get("m2")->tags.front() == "migrated");
}

BOOST_AUTO_TEST_CASE(a_failing_step_rolls_back_automatically) {
    scratch_dir dir("mig-fail");
    auto data = dir.path() / "data";
    seed(data, 80);
    auto before = state_of(data);
    backups bk(backups::default_root(data));
    {
        database<file_storage> db{file_storage(data)};
        migration m(db, bk, schema_of("n70"), {.batch_size = 8});
        try {
            m.run();
            BOOST_FAIL("a migration with a failing step succeeded");
        } catch (const error& e) {
            std::string what = e.what();
            BOOST_TEST(what.find("poisoned note n70") != std::string::npos, what);
            BOOST_TEST(what.find("rolled back to backup") != std::string::npos, what);
            BOOST_TEST((e.kind() == errc::bad_input));
        }
        BOOST_TEST(!m.interrupted());
    }
    BOOST_TEST((state_of(data) == before));
    BOOST_TEST(verifies(data));
    BOOST_TEST_REQUIRE(bk.list().size() == 1u);
    BOOST_TEST(!bk.pinned(bk.list()[0].id));
}

BOOST_AUTO_TEST_CASE(pause_resume_and_cancel_which_rolls_back) {
    scratch_dir dir("mig-pause");
    auto data = dir.path() / "data";
    seed(data, 100, 0);
    auto before = state_of(data);
    database<file_storage> db{file_storage(data)};
    migration<collection_schema<>>* mp = nullptr;
    std::atomic<std::uint64_t> batches{0};
    migration m(db, backups(backups::default_root(data)), schema_of(),
                {.batch_size = 10, .progress = [&](std::uint64_t, std::uint64_t) {
                     auto b = ++batches;
                     if (b == 2 || b == 5) mp->pause();  // pause after the 2nd and the 5th batch
                 }});
    mp = &m;
    migration_report report;
    std::thread runner([&] { report = m.run(); });
    auto wait_paused = [&] {
        for (int i = 0; i < 20000 && !m.waiting(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return m.waiting();
    };
    BOOST_TEST_REQUIRE(wait_paused());
    BOOST_TEST(batches == 2u);
    // Paused halfway: some records new, the rest old, the journal present.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    BOOST_TEST(batches == 2u);  // really paused
    BOOST_TEST(m.interrupted().has_value());
    {
        auto snap = db.snapshot();
        int v3 = 0;
        for (auto& key : snap.list("notes/"))
            if (is_record_key("notes", key)) v3 += verify_record(*snap.read(key), key).schema_version == 3;
        BOOST_TEST(v3 == 20);
    }
    m.resume();
    BOOST_TEST_REQUIRE(wait_paused());
    BOOST_TEST(batches == 5u);
    m.cancel();
    runner.join();
    BOOST_TEST((report.outcome == migration_outcome::cancelled));
    BOOST_TEST(report.migrated == 0u);
    BOOST_TEST(!m.interrupted());
    db.checkpoint();
    BOOST_TEST((state_of(data) == before));
}

BOOST_AUTO_TEST_CASE(lazy_migrate_on_read) {
    scratch_dir dir("mig-lazy");
    auto data = dir.path() / "data";
    seed(data, 10);
    auto before = state_of(data);
    database<file_storage> db{file_storage(data)};
    {
        migration m(db, backups(backups::default_root(data)), schema_of());
        auto n3 = m.get<note_v3>("n3");
        BOOST_TEST_REQUIRE(n3.has_value());
        BOOST_TEST(to_json(*n3) == to_json(to_v3(to_v2(note(3)))));
        BOOST_TEST(to_json(*m.get<note_v3>("m1")) == to_json(to_v3(note2(1))));
        BOOST_TEST(!m.get<note_v3>("nobody"));
        BOOST_CHECK_THROW(m.get<note_v1>("n3"), error);
        BOOST_TEST(m.migrated_on_read() == 0u);
        db.checkpoint();
        BOOST_TEST((state_of(data) == before));  // read only
    }
    migration m(db, backups(backups::default_root(data)), schema_of(), {.write_back_on_read = true});
    BOOST_TEST(m.get<note_v3>("n3").has_value());
    BOOST_TEST(m.get<note_v3>("n3").has_value());  // already new: not written again
    BOOST_TEST(m.migrated_on_read() == 1u);
    db.checkpoint();
    auto now = state_of(data);
    BOOST_TEST(now["n3"] == expected_new(10)["n3"]);
    BOOST_TEST(now["n4"] == before["n4"]);
    // A later eager run finishes the rest.
    BOOST_TEST(m.run().migrated == 14u);
    db.checkpoint();
    BOOST_TEST((state_of(data) == expected_new(10)));
}

BOOST_AUTO_TEST_CASE(unknown_versions_and_damage_stop_it_before_anything_changes) {
    scratch_dir dir("mig-unknown");
    auto data = dir.path() / "data";
    seed(data, 10);
    {
        database<file_storage> db{file_storage(data)};
        db_store<note_v3, file_storage> notes(db.storage(), "notes", {.schema_version = 7});
        notes.put(to_v3(to_v2(note(99))));
    }
    auto before = state_of(data);
    backups bk(backups::default_root(data));
    {
        database<file_storage> db{file_storage(data)};
        migration m(db, bk, schema_of());
        try {
            m.run();
            BOOST_FAIL("a record of an unknown version was migrated");
        } catch (const error& e) {
            BOOST_TEST((e.kind() == errc::unsupported));
            BOOST_TEST(std::string(e.what()).find("schema version 7") != std::string::npos);
        }
        BOOST_TEST(m.dry_run().failures.size() == 1u);
    }
    BOOST_TEST((state_of(data) == before));
    BOOST_TEST(bk.list().empty());
    // A damaged record: refused before the rollback point is even taken.
    {
        database<file_storage> db{file_storage(data)};
        db_store<note_v1, file_storage> notes(db.storage(), "notes");
        notes.erase("n99");
    }
    auto victim = data / record_key("notes", "n2");
    {
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-2, std::ios::end);
        f.put('#');
    }
    database<file_storage> db{file_storage(data)};
    migration m(db, bk, schema_of());
    try {
        m.run();
        BOOST_FAIL("a collection with a damaged record was migrated");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::checksum_mismatch));
        BOOST_TEST(std::string(e.what()).find("nothing changed") != std::string::npos);
    }
    BOOST_TEST(bk.list().empty());
}

// Runs fn(ready_fd) in a child process and SIGKILLs it: after delay_us
// from the fork, or — with after_ready — delay_us after the child writes a
// byte to ready_fd. True when the kill landed before the child finished.
template <class Fn>
static bool kill_during(Fn fn, unsigned delay_us, bool after_ready = false) {
    int fds[2];
    BOOST_TEST_REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        try {
            fn(fds[1]);
        } catch (...) {
            std::_Exit(2);
        }
        std::_Exit(0);
    }
    ::close(fds[1]);
    if (after_ready) {
        char c;
        (void)::read(fds[0], &c, 1);  // a byte, or end of file when the child is done
    }
    ::close(fds[0]);
    ::usleep(delay_us);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status);
}

BOOST_AUTO_TEST_CASE(killed_migration_recovers_to_old_or_new_never_a_mix) {
    scratch_dir dir("mig-kill");
    auto tmpl = dir.path() / "template";
    const int n = 150;
    seed(tmpl, n);
    auto old_state = state_of(tmpl);
    auto new_state = expected_new(n);
    // How long the batches take here (most of a migration before them is
    // the rollback point, a verified backup).
    std::chrono::microseconds full{}, batches{};
    {
        auto data = dir.path() / "timing";
        fs::copy(tmpl, data, fs::copy_options::recursive);
        auto started = std::chrono::steady_clock::now();
        auto since = [&] {
            return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
        };
        std::chrono::microseconds first{};
        database<file_storage> db{file_storage(data)};
        migration m(db, backups(backups::default_root(data)), schema_of("", 400),
                    {.batch_size = 16, .progress = [&](std::uint64_t, std::uint64_t) {
                         if (first.count() == 0) first = since();
                     }});
        m.run();
        full = since();
        batches = full - first;
    }
    std::mt19937_64 rng(stowage::test::test_seed());
    int killed = 0, landed_old = 0, landed_new = 0, recovered = 0;
    for (int round = 0; round < 14; ++round) {
        auto data = dir.path() / ("data" + std::to_string(round));
        fs::copy(tmpl, data, fs::copy_options::recursive);
        auto root = backups::default_root(data);
        // Odd rounds fail at the last note, so the kill may land in the
        // rollback. Rounds 0-1 mod 4 are killed anywhere; 2-3 mod 4 once the
        // first batch is committed (the journal exists), in the batches, the
        // verification, the end or the rollback.
        std::string poison = round % 2 ? "n" + std::to_string(n - 1) : "";
        bool in_batches = round % 4 >= 2;
        unsigned delay = static_cast<unsigned>(in_batches ? rng() % (batches.count() * 3 + 1)
                                                          : rng() % (full.count() * 5 / 4 + 1));
        bool was_killed = kill_during(
            [&](int ready) {
                database<file_storage> db{file_storage(data)};
                bool told = false;
                migration m(db, backups(root), schema_of(poison, 400),
                            {.batch_size = 16, .progress = [&](std::uint64_t, std::uint64_t) {
                                 if (!told) told = ::write(ready, "r", 1) == 1;
                             }});
                m.run();
            },
            delay, in_batches);
        killed += was_killed;
        {
            database<file_storage> db{file_storage(data)};
            migration m(db, backups(root), schema_of());
            bool rolled_back = m.recover().has_value();
            recovered += rolled_back;
            BOOST_TEST_MESSAGE("round " << round << ": killed " << was_killed << " " << delay << " us after "
                                        << (in_batches ? "the first batch" : "the start") << ", "
                                        << (rolled_back ? "rolled back" : "no journal"));
            BOOST_TEST(!m.interrupted());
        }
        auto now = state_of(data);
        bool is_old = now == old_state, is_new = now == new_state;
        BOOST_TEST((is_old || is_new), "round " << round << ": a mix of old and new records");
        if (round % 2) BOOST_TEST(is_old, "round " << round << ": a failing migration completed");
        landed_old += is_old;
        landed_new += is_new;
        BOOST_TEST(verifies(data), "round " << round);
        for (const auto& b : backups(root).list()) BOOST_TEST(backups(root).verify(b.id).ok(), b.id);
        fs::remove_all(data);
        fs::remove_all(root);
    }
    BOOST_TEST_MESSAGE("a whole migration: " << full.count() << " us, its batches " << batches.count() << " us; killed "
                                              << killed << ", recovered " << recovered << ", old " << landed_old
                                              << ", new " << landed_new);
    BOOST_TEST(killed > 0);
    BOOST_TEST(recovered > 0);
}

BOOST_AUTO_TEST_CASE(no_rollback_point_no_migration) {
    scratch_dir dir("mig-noroot");
    auto data = dir.path() / "data";
    seed(data, 20);
    auto before = state_of(data);
    // The backup root lies under a regular file: the rollback point cannot be made.
    auto blocker = dir.path() / "blocker";
    { std::ofstream(blocker) << "x"; }
    {
        database<file_storage> db{file_storage(data)};
        migration m(db, backups(blocker / "root"), schema_of());
        BOOST_CHECK_THROW(m.run(), error);
        BOOST_TEST(!m.interrupted());
    }
    BOOST_TEST((state_of(data) == before));
    BOOST_TEST(verifies(data));
}
