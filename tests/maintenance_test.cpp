// Tests for maintenance.hpp: each built-in job's effect, its progress, pause /
// resume / cancel through a persistence_queue, and power loss in the middle
// of a job (memory_storage's crash model): the reopened state is consistent
// and a job created again continues where the last committed step left off.
#define BOOST_TEST_MODULE maintenance
#include "test_support.hpp"

#include <atomic>
#include <random>
#include <thread>

#include "stowage/cas_map.hpp"
#include "stowage/codec/gzip.hpp"
#include "stowage/codec/json.hpp"
#include "stowage/inverted_index.hpp"
#include "stowage/maintenance.hpp"
#include "stowage/persistence_queue.hpp"
#include "stowage/storage/faulty.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using namespace std::chrono_literals;

struct session {
    std::string id;
    std::string name;
    std::string transcript;
    std::int64_t start_time = 0;  // ms since the epoch
    std::vector<std::string> attachments;  // blob digests, hex
    bool operator==(const session&) const = default;
};
STOWAGE_DESCRIBE(session, id, name, transcript, start_time, attachments)

template <class S>
using sessions_t = db_store<session, S, gzip<json_codec>>;
using mem_sessions = sessions_t<memory_storage>;
using mem_cas = cas_map<memory_storage>;

namespace {

// What a process sees after its storage vanished in a simulated crash: the
// I/O error itself, or the WAL refusing work after a failed append.
inline bool died_with_storage(const stowage::error& e) {
    return e.kind() == errc::io || e.kind() == errc::failed_state;
}

std::int64_t days_ago(int d) {
    auto t = std::chrono::system_clock::now() - std::chrono::days(d);
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// A transcript that deflates noticeably better at level 9 than at level 1.
std::string transcript(std::mt19937_64& rng) {
    static const char* words[] = {"the", "meeting", "notes", "quarterly", "review", "action", "item", "owner",
                                  "deadline", "budget", "design", "storage", "index", "query", "session", "cache"};
    std::string s;
    for (int i = 0; i < 700; ++i) {
        s += words[rng() % 16];
        s += (rng() % 9 == 0) ? ". " : " ";
    }
    return s;
}

// Sessions i = 0..n-1; even ones are 100 days old, odd ones 1 day.
std::vector<session> make_sessions(int n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<session> out;
    for (int i = 0; i < n; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "s%03d", i);
        out.push_back({id, "session " + std::to_string(i), transcript(rng), days_ago(i % 2 == 0 ? 100 : 1), {}});
    }
    return out;
}

template <class Store>
void put_all(Store& store, const std::vector<session>& ss) {
    for (const auto& s : ss) store.put(s);
}

template <class S>
bytes raw_record(database<S>& db, const sessions_t<S>& store, const std::string& id) {
    return *db.storage().read(store.key_of(id));
}

template <class S>
bool at_level_9(database<S>& db, const sessions_t<S>& store, const std::string& id) {
    bytes r = raw_record(db, store, id);
    auto h = parse_envelope_header(r, id);
    return bytes_view(r)[h.payload_offset + 8] == std::byte{2};  // gzip XFL
}

recompress_options recompress_opts(std::size_t batch) {
    recompress_options o;
    o.older_than = std::chrono::days(30);
    o.batch = batch;
    return o;
}

template <class Job>
int run_to_end(Job& job, int limit = 10000) {
    int steps = 1;
    while (!job.step()) {
        if (++steps > limit) BOOST_FAIL("job never finished");
    }
    return steps;
}

template <class Pred>
bool wait_for(Pred p, std::chrono::milliseconds limit = 10s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!p()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------
// recompression

BOOST_AUTO_TEST_CASE(recompress_rewrites_old_records_only_smaller_and_equal) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    auto ss = make_sessions(40, 7);
    put_all(store, ss);
    std::map<std::string, bytes> before;
    for (const auto& s : ss) before[s.id] = raw_record(db, store, s.id);

    recompress_job job(db, store, time_field("start_time"), recompress_opts(6));
    std::vector<std::uint64_t> seen;
    int steps = 0;
    for (bool done = false; !done; ++steps) {
        done = job.step();
        seen.push_back(job.progress().first);
        if (!done) BOOST_TEST(job.progress().second == 40u);
    }
    BOOST_TEST(steps == 7);  // ceil(40 / 6)
    BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
    BOOST_TEST(seen.front() == 6u);
    auto r = job.report();
    BOOST_TEST(r.rewritten == 20u);  // the even, old ones
    BOOST_TEST(r.passes == 1u);
    BOOST_TEST(r.examined == 40u);
    BOOST_TEST(r.bytes_after < r.bytes_before);
    BOOST_TEST_MESSAGE("old records, level 1 -> 9: " << r.bytes_before << " -> " << r.bytes_after << " bytes");
    BOOST_TEST(r.skipped_damaged.empty());
    std::uint64_t old_total = 0;
    for (int i = 0; i < 40; i += 2) old_total += before[ss[static_cast<std::size_t>(i)].id].size();
    BOOST_TEST(r.bytes_before == old_total);

    for (std::size_t i = 0; i < ss.size(); ++i) {
        BOOST_TEST((store.get(ss[i].id) == ss[i]));  // same entity, whatever the level
        if (i % 2 == 0) {
            BOOST_TEST(at_level_9(db, store, ss[i].id));
            BOOST_TEST(raw_record(db, store, ss[i].id).size() < before[ss[i].id].size());
        } else {
            BOOST_TEST(!at_level_9(db, store, ss[i].id));
            bytes now = raw_record(db, store, ss[i].id);
            // Untouched: the same record apart from nothing at all.
            BOOST_TEST((now == before[ss[i].id]));
        }
    }
    BOOST_TEST(store.verify().ok());
    BOOST_TEST(store.list().size() == 40u);
    // The finished pass removed its cursor; a second pass rewrites nothing.
    BOOST_TEST(!detail::read_cursor(db, "recompress").has_value());
    std::map<std::string, bytes> after;
    for (const auto& s : ss) after[s.id] = raw_record(db, store, s.id);
    recompress_job again(db, store, time_field("start_time"), recompress_opts(100));
    BOOST_TEST(again.step());
    BOOST_TEST(again.report().rewritten == 0u);
    for (const auto& s : ss) BOOST_TEST((raw_record(db, store, s.id) == after[s.id]));
}

BOOST_AUTO_TEST_CASE(recompress_at_a_lower_target_level_only_writes_what_shrinks) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(9));
    auto ss = make_sessions(6, 8);
    put_all(store, ss);
    auto o = recompress_opts(10);
    o.level = 1;  // weaker than what is stored: never smaller, never written
    recompress_job job(db, store, time_field("start_time"), o);
    BOOST_TEST(job.step());
    BOOST_TEST(job.report().rewritten == 0u);
    BOOST_CHECK_THROW(recompress_job(db, store, time_field("start_time"), [] {
                          auto x = recompress_opts(1);
                          x.level = 10;
                          return x;
                      }()),
                      stowage::error);
    BOOST_CHECK_THROW(recompress_job(db, store, time_field("start_time"), [] {
                          auto x = recompress_opts(1);
                          x.name = "bad/name";
                          return x;
                      }()),
                      stowage::error);
}

BOOST_AUTO_TEST_CASE(recompress_resumes_from_its_cursor_unless_told_to_restart) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    put_all(store, make_sessions(12, 10));
    {
        recompress_job first(db, store, time_field("start_time"), recompress_opts(2));
        BOOST_TEST(!first.step());
        BOOST_TEST(!first.step());
    }  // dropped part way, as by a restart
    recompress_job resumed(db, store, time_field("start_time"), recompress_opts(2));
    BOOST_TEST(!resumed.step());
    BOOST_TEST(resumed.progress().first == 6u);
    BOOST_TEST(resumed.report().rewritten == 3u);  // 2 before, 1 now
    auto o = recompress_opts(2);
    o.restart = true;
    recompress_job fresh(db, store, time_field("start_time"), o);
    BOOST_TEST(!fresh.step());
    BOOST_TEST(fresh.progress().first == 2u);
    BOOST_TEST(fresh.report().rewritten == 0u);  // s000 was already done
    run_to_end(fresh);
    BOOST_TEST(fresh.report().rewritten == 3u);  // s006, s008, s010
    BOOST_TEST(fresh.progress().first == 12u);
    BOOST_TEST(fresh.progress().second == 12u);
}

BOOST_AUTO_TEST_CASE(recompress_skips_damaged_records_and_reports_them) {
    memory_storage mem;
    auto ss = make_sessions(4, 9);
    std::string damaged_key;
    {
        database<memory_storage> db(mem);
        mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
        put_all(store, ss);
        db.checkpoint();
        damaged_key = store.key_of(ss[0].id);
    }
    // Flip a payload byte of s000 behind the database's back.
    bytes r = *mem.read(damaged_key);
    r[r.size() - 20] ^= std::byte{0x40};
    mem.replace(damaged_key, r, durability::full);
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    recompress_job job(db, store, time_field("start_time"), recompress_opts(10));
    BOOST_TEST(job.step());
    auto rep = job.report();
    BOOST_TEST_REQUIRE(rep.skipped_damaged.size() == 1u);
    BOOST_TEST(rep.skipped_damaged[0].first == damaged_key);
    BOOST_TEST(rep.rewritten == 1u);  // s002; s000 damaged; s001, s003 young
    BOOST_TEST((*mem.read(damaged_key) == r));  // left exactly as found
}

// Power loss at many points inside and between steps: every entity reads
// back unchanged, and a job created again finishes the pass with exactly
// the old records rewritten (committed steps are not redone, lost ones are).
BOOST_AUTO_TEST_CASE(recompress_survives_power_loss_and_resumes) {
    auto seed = stowage::test::test_seed();
    auto ss = make_sessions(24, 11);
    int resumed_mid_pass = 0, crashed_in_step = 0;
    for (int crash_at = 1; crash_at <= 24; crash_at += 3) {
        memory_storage mem(memory_storage::options{seed + static_cast<std::uint64_t>(crash_at), true});
        std::uint64_t committed_steps = 0;
        {
            database<memory_storage> db(mem);
            mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
            put_all(store, ss);
            int calls = 0;
            recompress_job job(
                db, store,
                [&](const mem_sessions::listed& l) {
                    if (++calls == crash_at) mem.crash();
                    return time_field("start_time")(l);
                },
                recompress_opts(4));
            try {
                while (!job.step()) ++committed_steps;
                ++committed_steps;
            } catch (const stowage::error& e) {
                BOOST_TEST(died_with_storage(e), e.what());
                ++crashed_in_step;
            }
            if (mem.crashes() == 0) mem.crash();
        }
        database<memory_storage> db(mem);
        mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
        BOOST_TEST(store.verify().ok());
        for (const auto& s : ss) BOOST_TEST((store.get(s.id) == s));
        auto cursor = detail::read_cursor(db, "recompress");
        if (committed_steps > 0 && committed_steps < 6) {
            BOOST_TEST_REQUIRE(cursor.has_value());
            BOOST_TEST(cursor->done == committed_steps * 4);
            ++resumed_mid_pass;
        }
        recompress_job again(db, store, time_field("start_time"), recompress_opts(4));
        int steps = run_to_end(again);
        if (cursor) BOOST_TEST(steps == static_cast<int>(6 - cursor->done / 4));
        BOOST_TEST(again.report().rewritten == 12u);  // carried over + this run
        for (std::size_t i = 0; i < ss.size(); ++i) {
            BOOST_TEST((store.get(ss[i].id) == ss[i]));
            BOOST_TEST(at_level_9(db, store, ss[i].id) == (i % 2 == 0));
        }
    }
    BOOST_TEST(crashed_in_step >= 6);   // the crash points really fell inside steps...
    BOOST_TEST(resumed_mid_pass >= 4);  // ...after some had committed
}

// I/O errors and a full disk injected at random storage operations: a
// failing step changes nothing, the process "restarts" (cleanly or by power
// loss), and a job created again finishes the pass with every old record
// rewritten exactly once and every entity unchanged.
BOOST_AUTO_TEST_CASE(recompress_under_injected_storage_faults) {
    using F = faulty_storage<memory_storage>;
    auto seed = stowage::test::test_seed();
    F fs(memory_storage(memory_storage::options{seed, true}));
    auto ss = make_sessions(24, 15);
    {
        database<F> db(fs);
        sessions_t<F> store(db.storage(), "sessions", {}, gzip<json_codec>(1));
        put_all(store, ss);
    }
    std::mt19937_64 rng(seed);
    int failures = 0, restarts = 0;
    bool finished = false;
    while (!finished && restarts < 200) {
        try {
            database<F> db(fs);
            sessions_t<F> store(db.storage(), "sessions", {}, gzip<json_codec>(1));
            recompress_job job(db, store, time_field("start_time"), recompress_opts(2));
            fs.fail_at(1 + rng() % 25, rng() % 2 ? fault::io : fault::no_space);
            while (!job.step()) {
            }
            finished = true;
            BOOST_TEST(job.report().rewritten == 12u);
            fs.heal();
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::io || e.kind() == errc::no_space || e.kind() == errc::failed_state), e.what());
            ++failures;
            fs.heal();
        }
        if (++restarts % 2 == 0) fs.crash();
    }
    BOOST_TEST(finished);
    BOOST_TEST(failures >= 3);
    BOOST_TEST_MESSAGE(failures << " injected failures over " << restarts << " runs");
    fs.heal();
    database<F> db(fs);
    sessions_t<F> store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    BOOST_TEST(store.verify().ok());
    for (std::size_t i = 0; i < ss.size(); ++i) {
        BOOST_TEST((store.get(ss[i].id) == ss[i]));
        BOOST_TEST(at_level_9(db, store, ss[i].id) == (i % 2 == 0));
    }
}

// A step that fails ends the job with its error reported to the queue
// (here the disk fills up, and the WAL asks to be reopened); a job added
// again after reopening continues from the last committed step.
BOOST_AUTO_TEST_CASE(failing_job_is_reported_and_a_new_one_resumes) {
    using F = faulty_storage<memory_storage>;
    F fs;
    auto ss = make_sessions(20, 16);
    queue_options qo;
    qo.idle_delay = 2ms;
    {
        database<F> db(fs);
        sessions_t<F> store(db.storage(), "sessions", {}, gzip<json_codec>(1));
        put_all(store, ss);
        persistence_queue<F> q(db, qo);
        std::atomic<int> steps{0};
        auto rc = recompress_job(db, store, time_field("start_time"), recompress_opts(2));
        auto job = q.add_job("recompress", [&, rc](queue_job& j) mutable {
            if (++steps == 4) fs.fail_at(1, fault::no_space, true);  // the disk fills up
            return rc(j);
        });
        BOOST_TEST_REQUIRE(wait_for([&] { return job->done(); }));
        BOOST_TEST_REQUIRE(job->failure().has_value());
        BOOST_TEST(job->failure()->find("no space") != std::string::npos, *job->failure());
        BOOST_TEST(job->progress().first == 6u);  // three steps committed
        q.shutdown();
        fs.heal();  // space freed; the process closes and reopens
    }
    database<F> db(fs);
    sessions_t<F> store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    persistence_queue<F> q(db, qo);
    auto again = recompress_job(db, store, time_field("start_time"), recompress_opts(2));
    auto second = q.add_job("recompress", again);
    BOOST_TEST_REQUIRE(wait_for([&] { return second->done(); }));
    BOOST_TEST(!second->failure().has_value(), second->failure().value_or(""));
    BOOST_TEST(again.report().examined == 14u);  // only what the first left
    BOOST_TEST(again.report().rewritten == 10u);
    for (std::size_t i = 0; i < ss.size(); ++i) {
        BOOST_TEST((store.get(ss[i].id) == ss[i]));
        BOOST_TEST(at_level_9(db, store, ss[i].id) == (i % 2 == 0));
    }
}

BOOST_AUTO_TEST_CASE(recompress_in_the_queue_pauses_resumes_and_cancels) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions", {}, gzip<json_codec>(1));
    auto ss = make_sessions(60, 12);
    put_all(store, ss);
    queue_options qo;
    qo.idle_delay = 2ms;
    persistence_queue<memory_storage> q(db, qo);

    // Cancel part way: the cursor stays, and a new job with the same name
    // continues from it.
    std::atomic<int> steps{0};
    auto rc = recompress_job(db, store, time_field("start_time"), recompress_opts(2));
    auto job = q.add_job("recompress", [&, rc](queue_job& j) mutable {
        bool done = rc(j);
        ++steps;
        if (steps == 5) j.pause();
        if (steps == 8) j.cancel();
        return done;
    });
    BOOST_TEST_REQUIRE(wait_for([&] { return steps >= 5; }));
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(steps == 5);  // paused
    BOOST_TEST(job->progress().first == 10u);
    BOOST_TEST(job->progress().second == 60u);
    BOOST_TEST(!job->done());
    job->resume();
    BOOST_TEST_REQUIRE(wait_for([&] { return steps >= 8; }));
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(steps == 8);  // cancelled
    BOOST_TEST(!job->done());
    BOOST_TEST(job->cancelled());
    auto cursor = detail::read_cursor(db, "recompress");
    BOOST_TEST_REQUIRE(cursor.has_value());
    BOOST_TEST(cursor->done == 16u);

    auto second = q.add_job("recompress again", recompress_job(db, store, time_field("start_time"), recompress_opts(2)));
    BOOST_TEST_REQUIRE(wait_for([&] { return second->done(); }));
    BOOST_TEST(!second->failure().has_value());
    BOOST_TEST(second->progress().first == 60u);
    for (std::size_t i = 0; i < ss.size(); ++i) {
        BOOST_TEST((store.get(ss[i].id) == ss[i]));
        BOOST_TEST(at_level_9(db, store, ss[i].id) == (i % 2 == 0));
    }
}

// ---------------------------------------------------------------------------------
// garbage collection

namespace {

bytes blob(int i, std::size_t n = 3000) {
    bytes b(n);
    std::mt19937_64 rng(static_cast<std::uint64_t>(i) * 7919);
    for (auto& x : b) x = std::byte(rng() & 0xff);
    return b;
}

cas_options no_grace() {
    cas_options o;
    o.grace = 0s;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(gc_job_frees_unreferenced_blobs_with_progress) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_cas blobs(db, whole(), no_grace());
    std::vector<mem_cas::digest> ds;
    for (int i = 0; i < 12; ++i) ds.push_back(blobs.put(blob(i)));
    for (int i = 0; i < 12; i += 3) blobs.add_ref(ds[static_cast<std::size_t>(i)], "owner" + std::to_string(i), "file");
    cas_gc_job gc(blobs);
    BOOST_TEST(gc.step());
    BOOST_TEST(gc.report().blobs_freed == 8u);
    BOOST_TEST(gc.report().chunks_freed == 8u);
    BOOST_TEST(gc.report().bytes_freed == 8u * 3000u);
    BOOST_TEST(gc.progress().first == gc.progress().second);
    BOOST_TEST(gc.progress().second > 0u);
    for (int i = 0; i < 12; ++i) BOOST_TEST(blobs.contains(ds[static_cast<std::size_t>(i)]) == (i % 3 == 0));
    BOOST_TEST(blobs.verify().ok());
}

BOOST_AUTO_TEST_CASE(gc_job_yields_between_blobs_and_finishes_later) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_cas blobs(db, whole(), no_grace());
    std::vector<mem_cas::digest> ds;
    for (int i = 0; i < 10; ++i) ds.push_back(blobs.put(blob(i)));
    blobs.add_ref(ds[0], "o", "f");
    int asked = 0;
    cas_gc_job_options o;
    o.yield_when = [&] { return ++asked == 4; };  // "work arrived" once
    cas_gc_job gc(blobs, o);
    BOOST_TEST(!gc.step());
    BOOST_TEST(gc.interruptions() == 1u);
    std::size_t left = 0;
    for (auto& d : ds) left += blobs.contains(d);
    BOOST_TEST(left > 1u);   // stopped early...
    BOOST_TEST(left < 10u);  // ...after freeing some, for good
    BOOST_TEST(gc.step());
    for (std::size_t i = 0; i < ds.size(); ++i) BOOST_TEST(blobs.contains(ds[i]) == (i == 0));
    BOOST_TEST(blobs.stats().chunks == 1u);
}

BOOST_AUTO_TEST_CASE(gc_job_stops_when_paused_in_the_queue_and_finishes_after_resume) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_cas blobs(db, whole(), no_grace());
    std::vector<mem_cas::digest> ds;
    for (int i = 0; i < 10; ++i) ds.push_back(blobs.put(blob(i)));
    blobs.add_ref(ds[0], "o", "f");
    queue_options qo;
    qo.idle_delay = 1ms;
    persistence_queue<memory_storage> q(db, qo);
    std::atomic<int> asked{0};
    std::shared_ptr<queue_job> handle;
    std::mutex handle_mutex;
    cas_gc_job_options o;
    // Pauses the job from within its collection, as a user would from
    // another thread: the collection must stop at the next blob.
    o.yield_when = [&] {
        if (++asked == 4) {
            std::lock_guard lock(handle_mutex);
            handle->pause();
        }
        return false;
    };
    cas_gc_job gc(blobs, o);
    {
        std::lock_guard lock(handle_mutex);
        handle = q.add_job("gc", gc);
    }
    BOOST_TEST_REQUIRE(wait_for([&] { return gc.interruptions() == 1u; }));
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(!handle->done());
    BOOST_TEST(asked.load() == 4);  // the queue starts no step while paused
    std::size_t left = 0;
    for (auto& d : ds) left += blobs.contains(d);
    BOOST_TEST(left > 1u);
    BOOST_TEST(left < 10u);
    BOOST_TEST(blobs.stats().chunks == 10u);  // the sweep never ran: chunks wait for the next run
    handle->resume();
    BOOST_TEST_REQUIRE(wait_for([&] { return handle->done(); }));
    BOOST_TEST(!handle->failure().has_value());
    for (std::size_t i = 0; i < ds.size(); ++i) BOOST_TEST(blobs.contains(ds[i]) == (i == 0));
    BOOST_TEST(blobs.stats().chunks == 1u);
    BOOST_TEST(gc.report().blobs_freed == 9u);  // both runs, the stopped one included
    BOOST_TEST(blobs.verify().ok());
}

BOOST_AUTO_TEST_CASE(gc_job_survives_power_loss_and_completes_after_reopen) {
    auto seed = stowage::test::test_seed();
    int crashed_in_collection = 0;
    for (int crash_at = 1; crash_at <= 30; crash_at += 4) {
        memory_storage mem(memory_storage::options{seed + static_cast<std::uint64_t>(crash_at), true});
        std::vector<mem_cas::digest> ds;
        {
            database<memory_storage> db(mem);
            mem_cas blobs(db, whole(), no_grace());
            for (int i = 0; i < 14; ++i) ds.push_back(blobs.put(blob(i)));
            for (int i = 0; i < 14; i += 2) blobs.add_ref(ds[static_cast<std::size_t>(i)], "o" + std::to_string(i), "f");
            int asked = 0;
            cas_gc_job_options o;
            o.yield_when = [&] {
                if (++asked == crash_at) mem.crash();
                return false;
            };
            cas_gc_job gc(blobs, o);
            try {
                gc.step();
            } catch (const stowage::error& e) {
                BOOST_TEST(died_with_storage(e), e.what());
                ++crashed_in_collection;
            }
            if (mem.crashes() == 0) mem.crash();
        }
        database<memory_storage> db(mem);
        mem_cas blobs(db, whole(), no_grace());
        for (int i = 0; i < 14; i += 2) {
            auto got = blobs.get(ds[static_cast<std::size_t>(i)]);  // referenced: intact
            BOOST_TEST_REQUIRE(got.has_value());
            BOOST_TEST((*got == blob(i)));
            BOOST_TEST(blobs.ref_count(ds[static_cast<std::size_t>(i)]) == 1u);
        }
        cas_gc_job gc(blobs);
        BOOST_TEST(gc.step());
        for (std::size_t i = 0; i < ds.size(); ++i) BOOST_TEST(blobs.contains(ds[i]) == (i % 2 == 0));
        BOOST_TEST(blobs.stats().chunks == 7u);
        BOOST_TEST(blobs.verify().ok());
    }
    BOOST_TEST(crashed_in_collection >= 6);
}

// ---------------------------------------------------------------------------------
// index optimisation

namespace {

using index_t = inverted_index<mem_sessions>;

index_schema session_schema() {
    index_schema s;
    s.text("name").text("transcript").time("start_time");
    return s;
}

text_index_options no_auto_merge() {
    text_index_options o;
    o.auto_merge = false;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(index_job_merges_segments_and_keeps_answers) {
    memory_storage mem;
    auto ss = make_sessions(12, 13);
    std::vector<std::string> before_meeting, before_budget;
    {
        database<memory_storage> db(mem);
        mem_sessions store(db.storage(), "sessions");
        index_t index(db, store, "sessions_index", session_schema(), {}, no_auto_merge(), {}, index_attachment::detached);
        for (const auto& s : ss) index.put(s);  // a segment each
        index.erase("s003");
        index.erase("s004");
        BOOST_TEST(index.core().stats().segments == 14u);
        BOOST_TEST(index.core().stats().deleted == 2u);
        before_meeting = index.search(text_query::words("meeting"));
        before_budget = index.search(text_query::words("budget deadline"));

        index_optimize_job job(index);
        BOOST_TEST(job.needed());
        BOOST_TEST(job.progress().first == 0u);
        BOOST_TEST(job.step());  // the merge policy takes all 14 tier-0 segments at once
        BOOST_TEST(job.finished());
        BOOST_TEST(job.progress().first == 1u);
        BOOST_TEST(job.progress().second == 1u);
        BOOST_TEST(job.segments().first == 14u);
        BOOST_TEST(job.segments().second == 1u);
        BOOST_TEST(index.core().stats().deleted == 0u);
        BOOST_TEST(!job.needed());
        BOOST_TEST((index.search(text_query::words("meeting")) == before_meeting));
        mem.crash();  // the merge committed durably before step() returned
    }
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    index_t index(db, store, "sessions_index", session_schema(), {}, no_auto_merge(), {}, index_attachment::detached);
    BOOST_TEST(index.core().stats().segments == 1u);
    BOOST_TEST((index.search(text_query::words("meeting")) == before_meeting));
    BOOST_TEST((index.search(text_query::words("budget deadline")) == before_budget));
    BOOST_TEST(index.core().size() == 10u);
    BOOST_TEST(index.verify(store).ok());

    // Thresholds: one segment with 1 of 10 documents deleted.
    index.erase("s005");
    index_optimize_options lenient;
    lenient.min_segments = 3;
    lenient.min_deleted_fraction = 0.5;
    BOOST_TEST(index.core().stats().segments == 2u);
    BOOST_TEST(!index_optimize_job(index, lenient).needed());
    BOOST_TEST(index_optimize_job(index).needed());
}

BOOST_AUTO_TEST_CASE(index_job_runs_in_the_queue) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    index_t index(db, store, "sessions_index", session_schema(), {}, no_auto_merge(), {}, index_attachment::detached);
    auto ss = make_sessions(5, 14);
    for (const auto& s : ss) index.put(s);
    queue_options qo;
    qo.idle_delay = 2ms;
    persistence_queue<memory_storage> q(db, qo);
    auto job = q.add_job("optimize", index_optimize_job(index));
    BOOST_TEST_REQUIRE(wait_for([&] { return job->done(); }));
    BOOST_TEST(!job->failure().has_value());
    BOOST_TEST(job->progress().first == 1u);
    BOOST_TEST(job->progress().second == 1u);
    BOOST_TEST(index.core().stats().segments == 1u);
}

namespace {

// Segments of 1, 4 and 16 documents, three times: with merge_factor 4 the
// merge policy finds no run to merge, so optimising takes several merges.
template <class Index>
std::vector<session> tiered_segments(Index& index) {
    auto ss = make_sessions(63, 15);
    std::size_t at = 0;
    for (int round = 0; round < 3; ++round)
        for (std::size_t n : {1u, 4u, 16u}) {
            index.put_many(std::span<const session>(ss.data() + at, n));
            at += n;
        }
    return ss;
}

text_index_options factor_4() {
    text_index_options o;
    o.auto_merge = false;
    o.merge_factor = 4;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(index_job_merges_one_step_at_a_time) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    index_t index(db, store, "sessions_index", session_schema(), {}, factor_4(), {}, index_attachment::detached);
    tiered_segments(index);
    index.erase("s010");
    BOOST_TEST(index.core().stats().segments == 10u);  // 9 + the erasure's tombstone
    auto meeting = index.search(text_query::words("meeting"));
    auto budget = index.search(text_query::words("budget deadline"));
    index_optimize_job job(index);
    std::vector<std::uint64_t> segments{10};
    int steps = 0;
    while (true) {
        bool done = job.step();
        ++steps;
        BOOST_TEST(job.progress().first == static_cast<std::uint64_t>(steps));
        BOOST_TEST(job.progress().second >= job.progress().first);
        segments.push_back(index.core().stats().segments);
        BOOST_TEST(segments.back() < segments[segments.size() - 2]);  // every step merged
        // Between merges the index answers as before, from disk too.
        BOOST_TEST((index.search(text_query::words("meeting")) == meeting));
        if (done) break;
        BOOST_TEST(!job.finished());
        BOOST_TEST_REQUIRE(steps < 20);
    }
    BOOST_TEST(steps >= 3);  // at most merge_factor segments per merge: 10 -> 7 -> 4 -> 1
    BOOST_TEST(job.finished());
    BOOST_TEST(job.segments().first == 10u);
    BOOST_TEST(job.segments().second == 1u);
    BOOST_TEST(index.core().stats().deleted == 0u);
    BOOST_TEST(job.progress().first == job.progress().second);
    BOOST_TEST((index.search(text_query::words("budget deadline")) == budget));
    BOOST_TEST(index.verify(store).ok());
    // Nothing needed: a step finishes at once without a merge.
    index_optimize_job again(index);
    BOOST_TEST(again.step());
    BOOST_TEST(again.progress().first == 0u);
}

BOOST_AUTO_TEST_CASE(index_job_pauses_and_cancels_between_merges_in_the_queue) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    index_t index(db, store, "sessions_index", session_schema(), {}, factor_4(), {}, index_attachment::detached);
    tiered_segments(index);
    queue_options qo;
    qo.idle_delay = 1ms;
    persistence_queue<memory_storage> q(db, qo);
    std::atomic<int> merges{0};
    index_optimize_job job(index);
    // Pause the job from inside after its first merge: the queue must not
    // start another step until resume().
    auto wrapped = [&, job](queue_job& j) mutable {
        bool done = job(j);
        if (++merges == 1) j.pause();
        return done;
    };
    auto handle = q.add_job("optimize", wrapped);
    BOOST_TEST_REQUIRE(wait_for([&] { return merges.load() == 1; }));
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(merges.load() == 1);
    BOOST_TEST(index.core().stats().segments == 6u);  // one merge of four: 9 -> 6
    BOOST_TEST(handle->progress().first == 1u);
    handle->resume();
    BOOST_TEST_REQUIRE(wait_for([&] { return handle->done(); }));
    BOOST_TEST(index.core().stats().segments == 1u);
    BOOST_TEST(handle->progress().first == handle->progress().second);

    // A cancelled pass leaves a consistent, partly merged index behind.
    tiered_segments(index);  // puts again (same ids): nine more segments
    BOOST_TEST(index.core().stats().segments == 10u);
    index_optimize_job second(index);
    std::atomic<int> steps{0};
    auto cancelling = [&, second](queue_job& j) mutable {
        bool done = second(j);
        if (++steps == 1) j.cancel();
        return done;
    };
    auto h2 = q.add_job("optimize again", cancelling);
    BOOST_TEST_REQUIRE(wait_for([&] { return steps.load() >= 1; }));
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(steps.load() == 1);  // cancelled after its first merge
    BOOST_TEST(index.core().stats().segments > 1u);
    BOOST_TEST(second.progress().first == 1u);
    q.shutdown();
    BOOST_TEST(index.verify(store).ok());
    BOOST_TEST(!second.finished());
}

// ---------------------------------------------------------------------------------
// blob conversion (the machinery under PNG -> WebP, with a text codec here)

namespace {

// "TEXT" blobs become gzip ("GZ" + gzip stream): much smaller.
bytes text_blob(int i) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(i));
    std::string s = "TEXT" + transcript(rng);
    return to_bytes(s);
}

template <class S>
cas_rewrite_hooks<S> gzip_hooks(sessions_t<S>& store, std::function<void(const cas_ref&)> on_relink = {}) {
    cas_rewrite_hooks<S> h;
    h.sniff = [](bytes_view head) { return head.size() >= 4 && as_chars(head.first(4)) == "TEXT"; };
    h.convert = [](bytes_view content) -> std::optional<bytes> {
        bytes out = to_bytes(std::string("GZ"));
        gzip_compress(content, out, 9);
        return out;
    };
    h.relink = [&store, on_relink](db_transaction<S>& tx, const cas_ref& ref, const std::string& from, const std::string& to) {
        if (on_relink) on_relink(ref);
        auto s = tx.get(store, ref.owner);
        if (!s) throw error(errc::not_found, "no session " + ref.owner);
        std::replace(s->attachments.begin(), s->attachments.end(), from, to);
        tx.put(store, *s);
    };
    return h;
}

// Sessions s0..s5; s_i holds text blob i % 4 (shared by two sessions for
// i < 2) and one binary blob; binary blob 99 is unreferenced.
template <class S>
std::vector<session> attach(database<S>& db, sessions_t<S>& store, cas_map<S>& blobs) {
    std::vector<session> ss;
    for (int i = 0; i < 6; ++i) {
        session s{"s" + std::to_string(i), "n", "", 0, {}};
        auto t = blobs.put(text_blob(i % 4));
        auto b = blobs.put(blob(100 + i, 500));
        s.attachments = {to_hex(t), to_hex(b)};
        auto tx = db.transaction();
        tx.put(store, s);
        blobs.add_ref(tx, t, s.id, "transcript.txt");
        blobs.add_ref(tx, b, s.id, "data.bin");
        tx.commit();
        ss.push_back(s);
    }
    blobs.put(text_blob(99));  // unreferenced: never converted
    return ss;
}

// Every attachment of every session is a blob that exists and lists the
// session among its references, and its content is the original or its
// conversion.
template <class S>
void check_consistent(sessions_t<S>& store, cas_map<S>& blobs, std::size_t sessions) {
    for (std::size_t i = 0; i < sessions; ++i) {
        auto s = store.get("s" + std::to_string(i));
        BOOST_TEST_REQUIRE(s.has_value());
        BOOST_TEST_REQUIRE(s->attachments.size() == 2u);
        for (const auto& hex : s->attachments) {
            auto d = digest_from_hex<sha256>(hex);
            auto content = blobs.get(d);
            BOOST_TEST_REQUIRE(content.has_value());
            auto refs = blobs.refs(d);
            BOOST_TEST(std::count_if(refs.begin(), refs.end(), [&](auto& r) { return r.owner == s->id; }) == 1);
        }
        auto t = *blobs.get(digest_from_hex<sha256>(s->attachments[0]));
        if (as_chars(bytes_view(t).first(2)) == "GZ") t = gzip_decompress(bytes_view(t).subspan(2));
        BOOST_TEST((t == text_blob(static_cast<int>(i % 4))));
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(rewrite_job_converts_and_moves_references_in_one_transaction) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    mem_cas blobs(db, whole(), no_grace());
    auto ss = attach(db, store, blobs);
    auto old_text = digest_from_hex<sha256>(ss[0].attachments[0]);
    BOOST_TEST(blobs.ref_count(old_text) == 2u);  // s0 and s4
    cas_rewrite_options o;
    o.scan_batch = 3;
    cas_rewrite_job job(db, blobs, gzip_hooks(store), o);
    int steps = run_to_end(job);
    BOOST_TEST(steps >= 4);  // at most one conversion per step
    auto r = job.report();
    BOOST_TEST(r.rewritten == 4u);  // four distinct referenced text blobs
    BOOST_TEST(r.bytes_after * 2 < r.bytes_before);
    BOOST_TEST(job.progress().first == job.progress().second);
    check_consistent(store, blobs, 6);
    for (std::size_t i = 0; i < 6; ++i) {
        auto t = *blobs.get(digest_from_hex<sha256>(store.get(ss[i].id)->attachments[0]));
        BOOST_TEST(as_chars(bytes_view(t).first(2)) == "GZ");
        BOOST_TEST(store.get(ss[i].id)->attachments[1] == ss[i].attachments[1]);  // binary: untouched
    }
    BOOST_TEST(blobs.ref_count(old_text) == 0u);
    BOOST_TEST(blobs.contains(old_text));  // until the collector runs
    cas_gc_job gc(blobs);
    BOOST_TEST(gc.step());
    BOOST_TEST(gc.report().blobs_freed == 5u);  // four old texts + the unreferenced one
    BOOST_TEST(!blobs.contains(old_text));
    check_consistent(store, blobs, 6);
    // Nothing left to convert.
    cas_rewrite_job again(db, blobs, gzip_hooks(store), o);
    run_to_end(again);
    BOOST_TEST(again.report().rewritten == 0u);
}

BOOST_AUTO_TEST_CASE(rewrite_job_skips_a_damaged_blob_found_by_its_verified_head) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    mem_cas blobs(db, whole(), no_grace());
    auto ss = attach(db, store, blobs);
    // Damage text blob 1 (s1 and s5) after its first bytes: sniffing reads
    // the small chunk whole and checks it.
    std::string damaged_hex = ss[1].attachments[0];
    std::string key = mem_cas::chunk_key(damaged_hex);
    bytes chunk = *mem.read(key);
    chunk[chunk.size() - 10] ^= std::byte{1};
    mem.replace(key, chunk, durability::full);
    cas_rewrite_job job(db, blobs, gzip_hooks(store));
    run_to_end(job);
    auto r = job.report();
    BOOST_TEST(r.rewritten == 3u);
    BOOST_TEST_REQUIRE(r.skipped_damaged.size() == 1u);
    BOOST_TEST(r.skipped_damaged[0].first == "cas_blobs/" + damaged_hex);
    BOOST_TEST((store.get("s1") == ss[1]));  // left as it was
    BOOST_TEST((store.get("s5") == ss[5]));
    BOOST_TEST(blobs.ref_count(digest_from_hex<sha256>(damaged_hex)) == 2u);
    BOOST_TEST(store.get("s0")->attachments[0] != ss[0].attachments[0]);  // converted
}

BOOST_AUTO_TEST_CASE(rewrite_job_failure_in_relink_changes_nothing) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    mem_cas blobs(db, whole(), no_grace());
    auto ss = attach(db, store, blobs);
    bool relinked_s0 = false;
    cas_rewrite_job job(db, blobs, gzip_hooks(store, [&](const cas_ref& r) {
                            if (r.owner == "s0") relinked_s0 = true;
                            if (r.owner == "s4") throw error(errc::bad_input, "owner refuses");
                        }));
    BOOST_CHECK_THROW(run_to_end(job), stowage::error);
    // s0 and s4 share a text blob: s0's relink ran (refs are in owner
    // order), s4's threw, and the transaction moved neither.
    BOOST_TEST(relinked_s0);
    BOOST_TEST((store.get("s0") == ss[0]));
    BOOST_TEST((store.get("s4") == ss[4]));
    BOOST_TEST(blobs.ref_count(digest_from_hex<sha256>(ss[0].attachments[0])) == 2u);
    check_consistent(store, blobs, 6);
}

BOOST_AUTO_TEST_CASE(rewrite_job_survives_power_loss_and_resumes) {
    auto seed = stowage::test::test_seed();
    int crashed_in_move = 0;
    for (int crash_at = 1; crash_at <= 6; ++crash_at) {
        memory_storage mem(memory_storage::options{seed + 100 + static_cast<std::uint64_t>(crash_at), true});
        std::vector<session> ss;
        {
            database<memory_storage> db(mem);
            mem_sessions store(db.storage(), "sessions");
            mem_cas blobs(db, whole(), no_grace());
            ss = attach(db, store, blobs);
            int calls = 0;
            cas_rewrite_job job(db, blobs, gzip_hooks(store, [&](const cas_ref&) {
                                    if (++calls == crash_at) mem.crash();
                                }));
            try {
                run_to_end(job);
            } catch (const stowage::error& e) {
                BOOST_TEST(died_with_storage(e), e.what());
                ++crashed_in_move;
            }
            if (mem.crashes() == 0) mem.crash();
        }
        database<memory_storage> db(mem);
        mem_sessions store(db.storage(), "sessions");
        mem_cas blobs(db, whole(), no_grace());
        check_consistent(store, blobs, 6);
        // A collection now frees only what nothing refers to (e.g. a
        // converted blob whose move was lost), never an attachment.
        cas_gc_job(blobs).step();
        check_consistent(store, blobs, 6);
        cas_rewrite_job again(db, blobs, gzip_hooks(store));
        run_to_end(again);
        BOOST_TEST(again.report().rewritten == 4u);  // carried over + this run
        cas_gc_job(blobs).step();
        check_consistent(store, blobs, 6);
        for (const auto& s : ss) {
            auto t = *blobs.get(digest_from_hex<sha256>(store.get(s.id)->attachments[0]));
            BOOST_TEST(as_chars(bytes_view(t).first(2)) == "GZ");
        }
        BOOST_TEST(blobs.stats().blobs == 10u);  // 4 converted texts + 6 binaries
    }
    BOOST_TEST(crashed_in_move == 6);  // every relink call is a crash point
}

BOOST_AUTO_TEST_CASE(jobs_refuse_bad_configuration) {
    memory_storage mem;
    database<memory_storage> db(mem);
    mem_sessions store(db.storage(), "sessions");
    mem_cas blobs(db);
    BOOST_CHECK_THROW(cas_rewrite_job(db, blobs, cas_rewrite_hooks<memory_storage>{}), stowage::error);
    cas_rewrite_options o;
    o.min_saving = 1.5;
    BOOST_CHECK_THROW(cas_rewrite_job(db, blobs, gzip_hooks(store), o), stowage::error);
    BOOST_CHECK_THROW(recompress_job(db, store, record_time<mem_sessions>{}), stowage::error);
    index_t index(db, store, "ix", session_schema());
    index_optimize_options io;
    io.min_deleted_fraction = -1;
    BOOST_CHECK_THROW(index_optimize_job(index, io), stowage::error);
}
