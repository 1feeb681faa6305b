// Commits per second (issue 4): small transactions of 1 and 10 puts of a
// ~1 KB session-like entity (app::make_session(n, 1000), JSON) from 1, 4 and
// 16 concurrent writer threads, in one run with the peers:
//
//   stowage  database<file_storage> + db_store, one db.transaction() per
//            commit. durable: durability::full (returns once the WAL is
//            fdatasynced; concurrent commits share syncs: group commit).
//            batched: durability::batched (WAL synced within 20 ms).
//   leveldb  one WriteBatch per commit; durable: WriteOptions::sync = true;
//            batched: sync = false. LevelDB groups concurrent writers.
//   rocksdb  the same with RocksDB (default options).
//   sqlite   one connection (WAL mode) shared by the writers under a mutex,
//            BEGIN ... COMMIT per transaction; durable: synchronous=FULL
//            (WAL fsynced at each commit); batched: synchronous=NORMAL
//            (WAL synced only at checkpoints).
//   lmdb     one write transaction per commit (LMDB serializes writers);
//            durable: default (data and meta page synced at commit);
//            batched: MDB_NOSYNC (the OS writes back when it likes).
//
// Every system encodes the entity with the same json_codec. Each writer
// thread updates its own 256 entities ("w<thread>-<n>"), so the data set
// stays bounded while the run goes on. items_per_second is commits per
// second over all threads (wall clock); puts_per_second counts entities.
//
// Also here:
//   sync/*      the raw cost of making 1 KiB durable on this filesystem
//               (append + fdatasync, overwrite + fdatasync, directory
//               fsync, syncfs), the physical limit of one serial writer.
//   commit/*/stowage_full_indexed, _cached, _coherent
//               the durable rows again with an attached inverted_index (each
//               commit journals its ids), a cached_store (a commit listener
//               drops the ids), or both (issue 21); catch_up_us_per_commit:
//               the index applying the run's journal afterwards, per commit
//   recovery/*  reopening a database whose WAL holds 100,000 put records
//               that were never applied (written with the applier held
//               off, then the writer _exit()ed without closing): the WAL
//               scan alone, a read-only open, and the read-write open that
//               replays everything (+ opening the store over it); and
//               the scan of a reused WAL segment's old records.
//
//   build-bench/benchmarks/commit_bench --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
//
// COMMIT_MIN_TIME=<seconds> lengthens each commit row's run (default 0.3),
// for profiling one row in its steady state.
#include <benchmark/benchmark.h>

#include <stowage/cached_store.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/database.hpp>
#include <stowage/inverted_index.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/file.hpp>
#include <stowage/storage/memory.hpp>
#include <stowage/store.hpp>
#include <stowage/wal.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "bench_support.hpp"
#include "peers.hpp"
#include "session_model.hpp"

namespace {

namespace fs = std::filesystem;
using stowage::bytes;
using stowage::bytes_view;
using stowage::durability;

constexpr std::size_t entity_bytes = 1000;
constexpr std::size_t keys_per_writer = 256;

using file_db = stowage::database<stowage::file_storage>;
using session_db_store = stowage::db_store<app::session, stowage::file_storage, stowage::json_codec, stowage::sha256,
                                           app::session_summary>;

// ~1 KB sessions to copy from.
const std::vector<app::session>& pool() {
    static const std::vector<app::session> v = [] {
        std::vector<app::session> out;
        for (std::size_t i = 0; i < keys_per_writer; ++i) out.push_back(app::make_session(i, entity_bytes));
        return out;
    }();
    return v;
}

bytes encode(const app::session& s) {
    bytes out;
    stowage::json_codec{}.encode(s, out);
    return out;
}

// --- the systems under test ----------------------------------------------------------

// One database instance in one durability mode, shared by every writer thread.
class system_under_test {
public:
    virtual ~system_under_test() = default;
    // Commits the entities as one transaction (from any thread).
    virtual void commit(std::span<const app::session> tx) = 0;
    // Extra numbers worth reporting after a run.
    virtual std::map<std::string, double> counters() { return {}; }
    // Brings what was just written to the system's resting state before a
    // timed run (stowage: applied to the record files and checkpointed).
    virtual void settle() {}
};

// What is kept coherent with the sessions while they are committed
// (issue 21): an attached inverted_index (each commit journals its ids in
// its transaction), a cached_store (a commit listener drops the written
// ids), or both. The rows stowage_full_indexed / _cached / _coherent pair
// with stowage_full in the same run.
enum class coherence { none, index, cache, both };

class stowage_system final : public system_under_test {
public:
    // group_wait = false turns the group-commit leader's wait off (the
    // stowage_*_nowait rows: the same code without it, for a paired ratio).
    // apply = false holds the applier off for the whole run (the
    // stowage_*_noapply rows: what the commit path costs by itself).
    stowage_system(const fs::path& dir, durability d, bool group_wait = true, bool apply = true,
                   coherence kept = coherence::none)
        : sync_ns_(std::make_shared<std::atomic<std::int64_t>>(0)),
          db_(stowage::file_storage(dir), options(group_wait, apply, sync_ns_)),
          store_(db_.storage(), "sessions"),
          durability_(d),
          apply_(apply) {
        if (kept == coherence::index || kept == coherence::both) {
            stowage::index_schema schema;
            schema.text("name").keyword("tags");
            index_.emplace(db_, store_, "sessions_index", schema);
        }
        if (kept == coherence::cache || kept == coherence::both) {
            cache_.emplace(4096);
            view_.emplace(store_, *cache_);
        }
    }
    ~stowage_system() override { view_.reset(); }  // before the store and cache it refers to
    static stowage::database_options options(bool group_wait, bool apply,
                                             std::shared_ptr<std::atomic<std::int64_t>> sync_ns) {
        stowage::database_options o;
        if (!group_wait) o.wal.group_commit_wait = std::chrono::microseconds(0);
        // The time the group-commit leaders spend writing and syncing
        // (reported as sync_us per fsync).
        o.wal.observer = [sync_ns](const stowage::wal_event& e) {
            if (e.what == stowage::wal_event::kind::sync) sync_ns->fetch_add(e.duration.count(), std::memory_order_relaxed);
        };
        if (!apply) {
            o.apply_interval = std::chrono::hours(24);
            o.apply_threshold = std::numeric_limits<std::size_t>::max();
            o.apply_threshold_bytes = std::numeric_limits<std::size_t>::max();
        }
        return o;
    }
    void commit(std::span<const app::session> tx) override {
        auto t = db_.transaction(durability_);
        for (const auto& e : tx) t.put(store_, e);
        t.commit();
    }
    void settle() override {
        if (index_) index_->catch_up();
        if (apply_) db_.checkpoint();
    }
    std::map<std::string, double> counters() override {
        auto st = db_.stats();
        return {{"wal_fsyncs", static_cast<double>(st.fsyncs)},
                {"wal_commits", static_cast<double>(st.commits)},
                {"unapplied_versions", static_cast<double>(db_.unapplied_versions())},
                {"apply_runs", static_cast<double>(db_.apply_runs())},
                {"apply_seconds", std::chrono::duration<double>(db_.apply_time()).count()},
                {"write_stalls", static_cast<double>(db_.write_stalls())},
                {"sync_ns", static_cast<double>(sync_ns_->load())},
                {"group_waits", static_cast<double>(st.group_waits)},
                {"segments_recycled", static_cast<double>(st.segments_recycled)},
                {"segments_deleted", static_cast<double>(st.segments_deleted)},
                {"catch_up_us_per_commit", catch_up_per_commit()}};
    }

    // Applies the index's journal (what the run's commits left) and returns
    // its wall time per commit, in microseconds; 0 without an index.
    // (Per commit since the last call.)
    double catch_up_per_commit() {
        if (!index_) return 0;
        const auto total = db_.stats().commits;
        const double commits = static_cast<double>(total - commits_at_catch_up_);
        auto t = std::chrono::steady_clock::now();
        index_->catch_up();
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
        commits_at_catch_up_ = db_.stats().commits;  // the catch-up's own commit not counted next time
        return commits > 0 ? us / commits : 0;
    }

private:
    using session_index = stowage::inverted_index<session_db_store, stowage::unicode_tokenizer>;
    using session_cache = stowage::entity_cache<session_db_store>;
    std::shared_ptr<std::atomic<std::int64_t>> sync_ns_;
    file_db db_;
    session_db_store store_;
    durability durability_;
    bool apply_;
    std::optional<session_index> index_;
    std::optional<session_cache> cache_;
    std::optional<stowage::cached_store<session_db_store, session_cache>> view_;
    std::uint64_t commits_at_catch_up_ = 0;
};

#if STOWAGE_BENCH_HAVE_LEVELDB
class leveldb_system final : public system_under_test {
public:
    leveldb_system(const fs::path& dir, bool sync) {
        leveldb::Options o;
        o.create_if_missing = true;
        leveldb::DB* db = nullptr;
        bench::check(leveldb::DB::Open(o, dir.string(), &db), "open");
        db_.reset(db);
        write_.sync = sync;
    }
    void commit(std::span<const app::session> tx) override {
        leveldb::WriteBatch batch;
        for (const auto& e : tx) {
            bytes v = encode(e);
            batch.Put(e.id, leveldb::Slice(reinterpret_cast<const char*>(v.data()), v.size()));
        }
        bench::check(db_->Write(write_, &batch), "write");
    }

private:
    std::unique_ptr<leveldb::DB> db_;
    leveldb::WriteOptions write_;
};
#endif

#if STOWAGE_BENCH_HAVE_ROCKSDB
class rocksdb_system final : public system_under_test {
public:
    rocksdb_system(const fs::path& dir, bool sync) {
        rocksdb::Options o;
        o.create_if_missing = true;
        rocksdb::DB* db = nullptr;
        bench::check(rocksdb::DB::Open(o, dir.string(), &db), "open");
        db_.reset(db);
        write_.sync = sync;
    }
    ~rocksdb_system() override {
        if (db_) db_->Close();
    }
    void commit(std::span<const app::session> tx) override {
        rocksdb::WriteBatch batch;
        for (const auto& e : tx) {
            bytes v = encode(e);
            bench::check(batch.Put(e.id, rocksdb::Slice(reinterpret_cast<const char*>(v.data()), v.size())), "batch");
        }
        bench::check(db_->Write(write_, &batch), "write");
    }

private:
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::WriteOptions write_;
};
#endif

#if STOWAGE_BENCH_HAVE_SQLITE
class sqlite_system final : public system_under_test {
public:
    sqlite_system(const fs::path& dir, bool full) : db_((dir / "kv.db").string()) {
        db_.exec("PRAGMA journal_mode=WAL");
        db_.exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        db_.exec("CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, body TEXT NOT NULL)");
        upsert_.emplace(db_, "INSERT OR REPLACE INTO sessions(id, body) VALUES(?1, ?2)");
    }
    ~sqlite_system() override { upsert_.reset(); }
    void commit(std::span<const app::session> tx) override {
        std::vector<bytes> bodies;
        for (const auto& e : tx) bodies.push_back(encode(e));
        std::lock_guard lock(mutex_);  // one connection: transactions must not interleave
        db_.exec("BEGIN");
        for (std::size_t i = 0; i < tx.size(); ++i) {
            upsert_->bind(1, tx[i].id);
            upsert_->bind(2, stowage::as_chars(bytes_view(bodies[i])));
            upsert_->run();
        }
        db_.exec("COMMIT");
    }

private:
    std::mutex mutex_;
    bench::sqlite_db db_;
    std::optional<bench::sqlite_db::statement> upsert_;
};
#endif

#if STOWAGE_BENCH_HAVE_LMDB
class lmdb_system final : public system_under_test {
public:
    lmdb_system(const fs::path& dir, bool sync) {
        bench::lmdb_check(mdb_env_create(&env_), "env create");
        bench::lmdb_check(mdb_env_set_mapsize(env_, std::size_t{4} << 30), "set mapsize");
        bench::lmdb_check(mdb_env_open(env_, dir.c_str(), sync ? 0 : MDB_NOSYNC, 0644), "env open");
        MDB_txn* txn = nullptr;
        bench::lmdb_check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn begin");
        bench::lmdb_check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi open");
        bench::lmdb_check(mdb_txn_commit(txn), "txn commit");
    }
    ~lmdb_system() override {
        mdb_env_sync(env_, 1);
        mdb_env_close(env_);
    }
    void commit(std::span<const app::session> tx) override {
        std::vector<bytes> bodies;
        for (const auto& e : tx) bodies.push_back(encode(e));
        MDB_txn* txn = nullptr;
        bench::lmdb_check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn begin");  // waits for the writer lock
        for (std::size_t i = 0; i < tx.size(); ++i) {
            MDB_val k{tx[i].id.size(), const_cast<char*>(tx[i].id.data())};
            MDB_val v{bodies[i].size(), bodies[i].data()};
            int rc = mdb_put(txn, dbi_, &k, &v, 0);
            if (rc != MDB_SUCCESS) {
                mdb_txn_abort(txn);
                bench::lmdb_check(rc, "put");
            }
        }
        bench::lmdb_check(mdb_txn_commit(txn), "txn commit");
    }

private:
    MDB_env* env_ = nullptr;
    MDB_dbi dbi_ = 0;
};
#endif

// Instances by name, created by the first writer thread that asks, kept for
// the whole run (all thread counts and transaction sizes share them).
using factory = std::function<std::unique_ptr<system_under_test>(const fs::path&)>;

std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
}
std::map<std::string, std::unique_ptr<system_under_test>>& registry() {
    static std::map<std::string, std::unique_ptr<system_under_test>> r;
    return r;
}
system_under_test& instance(const std::string& name, const factory& make) {
    std::lock_guard lock(registry_mutex());
    auto& slot = registry()[name];
    if (!slot) slot = make(bench::fresh_dir("commit-" + name));
    return *slot;
}

void commit_benchmark(benchmark::State& state, const std::string& name, const factory& make, std::size_t ops) {
    system_under_test& sys = instance(name, make);
    const std::string prefix = "w" + std::to_string(state.thread_index()) + "-";
    std::vector<app::session> tx(ops);
    std::uint64_t n = static_cast<std::uint64_t>(state.thread_index()) * 7;
    // Writers start and stop together (Google Benchmark's barriers), so
    // thread 0's readings bracket everyone's commits.
    std::map<std::string, double> before;
    if (state.thread_index() == 0) {
        // The timed loop updates entities that already exist, for every
        // system: the first run of each writer count would otherwise also
        // time creating them (for stowage 256 new files per writer, which
        // on this machine's journal-less ext4 cost far more than the
        // updates; see RESULTS.md). The other writers wait at the loop's
        // start barrier meanwhile.
        std::vector<app::session> batch;
        for (int t = 0; t < state.threads(); ++t)
            for (std::size_t k = 0; k < keys_per_writer; ++k) {
                batch.push_back(pool()[k]);
                batch.back().id = "w" + std::to_string(t) + "-" + std::to_string(k);
                if (batch.size() == ops || k + 1 == keys_per_writer) {
                    sys.commit(batch);
                    batch.clear();
                }
            }
        sys.settle();
        before = sys.counters();
    }
    for (auto _ : state) {
        for (auto& e : tx) {
            std::size_t k = n++ % keys_per_writer;
            e = pool()[k];
            e.id = prefix + std::to_string(k);
        }
        sys.commit(tx);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["puts_per_second"] =
        benchmark::Counter(static_cast<double>(state.iterations() * ops), benchmark::Counter::kIsRate);
    if (state.thread_index() == 0) {
        auto after = sys.counters();
        if (after.count("wal_fsyncs")) {
            double fsyncs = after["wal_fsyncs"] - before["wal_fsyncs"];
            double commits = after["wal_commits"] - before["wal_commits"];
            state.counters["commits_per_fsync"] = fsyncs > 0 ? commits / fsyncs : 0;
            state.counters["unapplied_versions"] = after["unapplied_versions"];
            state.counters["apply_runs"] = after["apply_runs"] - before["apply_runs"];
            state.counters["apply_seconds"] = after["apply_seconds"] - before["apply_seconds"];
            state.counters["write_stalls"] = after["write_stalls"] - before["write_stalls"];
            state.counters["sync_us"] = fsyncs > 0 ? (after["sync_ns"] - before["sync_ns"]) / 1e3 / fsyncs : 0;
            state.counters["leader_waits_per_fsync"] = fsyncs > 0 ? (after["group_waits"] - before["group_waits"]) / fsyncs : 0;
            state.counters["segments_reused"] = after["segments_recycled"] - before["segments_recycled"];
            state.counters["segments_deleted"] = after["segments_deleted"] - before["segments_deleted"];
            if (after["catch_up_us_per_commit"] > 0) state.counters["catch_up_us_per_commit"] = after["catch_up_us_per_commit"];
        }
    }
}

// --- raw sync costs ---------------------------------------------------------------

[[noreturn]] void sys_fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void sync_benchmark(benchmark::State& state, const std::string& kind) {
    fs::path dir = bench::fresh_dir("sync-" + kind);
    std::string file = (dir / "data").string();
    std::vector<char> kib(1024, 'x');
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | (kind == "append" ? O_APPEND : 0) | O_CLOEXEC, 0644);
    if (fd < 0) sys_fail("open " + file);
    const off_t area = 64 << 20;
    if (kind == "overwrite") {  // preallocated and synced: overwrites change no metadata
        std::vector<char> mib(1 << 20, 'p');
        for (off_t o = 0; o < area; o += static_cast<off_t>(mib.size()))
            if (::pwrite(fd, mib.data(), mib.size(), o) != static_cast<ssize_t>(mib.size())) sys_fail("pwrite");
        if (::fsync(fd) != 0) sys_fail("fsync");
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) sys_fail("open " + dir.string());
    off_t at = 0;
    for (auto _ : state) {
        if (kind == "append") {
            if (::write(fd, kib.data(), kib.size()) != 1024) sys_fail("write");
            if (::fdatasync(fd) != 0) sys_fail("fdatasync");
        } else if (kind == "overwrite") {
            if (::pwrite(fd, kib.data(), kib.size(), at) != 1024) sys_fail("pwrite");
            at = (at + 4096) % area;
            if (::fdatasync(fd) != 0) sys_fail("fdatasync");
        } else if (kind == "dir_fsync") {
            if (::fsync(dfd) != 0) sys_fail("fsync dir");
        } else if (kind == "syncfs") {
            if (::syncfs(dfd) != 0) sys_fail("syncfs");
        } else if (kind == "replace_file") {  // what file_storage::replace does for one small record
            std::string temp = (dir / ".tmp").string();
            int t = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (t < 0 || ::write(t, kib.data(), kib.size()) != 1024 || ::fdatasync(t) != 0) sys_fail("temp");
            ::close(t);
            if (::rename(temp.c_str(), file.c_str()) != 0) sys_fail("rename");
            if (::fsync(dfd) != 0) sys_fail("fsync dir");
        }
    }
    ::close(dfd);
    ::close(fd);
    state.SetItemsProcessed(state.iterations());
}

// --- recovery --------------------------------------------------------------------------

constexpr std::size_t recovery_puts = 100000;
constexpr std::size_t recovery_tx_ops = 10;

// Fills `dir` with a database whose WAL holds `recovery_puts` put records
// (in transactions of 10) that were never applied: the applier is held off
// (an interval of a day, no size trigger), the log is flushed, and the
// process then _exit()s, so no destructor applies or closes anything.
// Ids cycle through `distinct_ids` entities. Runs in a fresh process
// (commit_bench --build-unapplied-wal DIR N, started by run_self).
[[noreturn]] void build_unapplied_wal_here(const fs::path& dir, std::size_t distinct_ids) {
    try {
        stowage::database_options o;
        o.apply_interval = std::chrono::hours(24);
        o.apply_threshold = std::numeric_limits<std::size_t>::max();
        o.apply_threshold_bytes = std::numeric_limits<std::size_t>::max();
        file_db db(stowage::file_storage(dir), o);
        session_db_store store(db.storage(), "sessions");
        std::size_t n = 0;
        for (std::size_t t = 0; t < recovery_puts / recovery_tx_ops; ++t) {
            auto tx = db.transaction(durability::none);
            for (std::size_t j = 0; j < recovery_tx_ops; ++j, ++n) {
                app::session e = pool()[n % pool().size()];
                e.id = "s" + std::to_string(n % distinct_ids);
                tx.put(store, e);
            }
            tx.commit();
        }
        db.flush();
        if (db.unapplied_versions() != recovery_puts) {
            std::fprintf(stderr, "recovery setup: the applier ran (%zu unapplied)\n", db.unapplied_versions());
            ::_exit(3);
        }
        std::fflush(stdout);
        ::_exit(0);  // abandon: no clean close
    } catch (const std::exception& e) {
        std::fprintf(stderr, "recovery setup: %s\n", e.what());
        ::_exit(1);
    }
}

// The pristine data set `name` (built on first use, in a fresh process).
fs::path unapplied_wal(const std::string& name) {
    static std::mutex m;
    static std::map<std::string, fs::path> built;
    std::lock_guard lock(m);
    if (auto it = built.find(name); it != built.end()) return it->second;
    fs::path dir = bench::fresh_dir("recovery-" + name);
    std::size_t distinct = name == "hot" ? 1000 : recovery_puts;
    bench::run_self({"--build-unapplied-wal", dir.string(), std::to_string(distinct)});
    return built[name] = dir;
}

void copy_tree(const fs::path& from, const fs::path& to) {
    fs::remove_all(to);
    fs::copy(from, to, fs::copy_options::recursive);
}

// The WAL alone: read and verify every segment, group into transactions.
void recovery_scan(benchmark::State& state, const std::string& set) {
    fs::path pristine = unapplied_wal(set);
    std::size_t records = 0;
    for (auto _ : state) {
        stowage::wal<stowage::file_storage> log(stowage::file_storage(pristine, stowage::open_mode::read_only));
        stowage::wal_recovery_report report;
        auto txs = log.recover(report);
        records = report.records_read;
        benchmark::DoNotOptimize(txs);
    }
    state.counters["records"] = static_cast<double>(records);
    state.counters["wal_MB"] = static_cast<double>(bench::directory_bytes(pristine / "wal")) / 1e6;
}

// A read-only open: committed, unapplied transactions are served from memory.
void recovery_read_only(benchmark::State& state, const std::string& set) {
    fs::path pristine = unapplied_wal(set);
    std::size_t replay = 0;
    for (auto _ : state) {
        file_db db(stowage::file_storage(pristine, stowage::open_mode::read_only));
        replay = db.recovery().transactions;
        benchmark::DoNotOptimize(db);
    }
    state.counters["transactions"] = static_cast<double>(replay);
}

// The read-write open: recover, replay into the record files, checkpoint;
// with_store also opens the store (its listing is rebuilt: no snapshot).
void recovery_read_write(benchmark::State& state, const std::string& set, bool with_store) {
    fs::path pristine = unapplied_wal(set);
    fs::path work = bench::scratch_root() / ("work-" + set);
    std::size_t replayed = 0, listed = 0;
    for (auto _ : state) {
        state.PauseTiming();
        copy_tree(pristine, work);
        state.ResumeTiming();
        {
            file_db db{stowage::file_storage(work)};
            replayed = db.recovery().transactions_replayed;
            if (with_store) {
                session_db_store store(db.storage(), "sessions");
                listed = store.size();
            }
            state.PauseTiming();  // closing is not part of reopening
        }
        fs::remove_all(work);
        state.ResumeTiming();
    }
    state.counters["transactions_replayed"] = static_cast<double>(replayed);
    if (with_store) state.counters["listed"] = static_cast<double>(listed);
}

// A reused segment's reader: after its own records come a full segment's
// old ones (64 MiB of 1 KiB records here, all with LSNs below the
// segment's), which the reader scans to be sure no record of its own
// follows them (wal.hpp, "Reused segments"). Timed: reading that segment
// as a reused one whose own records end at once, against parsing the
// same bytes as the records they are.
void recovery_reused_tail(benchmark::State& state, bool as_reused) {
    stowage::memory_storage mem;
    stowage::wal<stowage::memory_storage> log(mem, "wal");
    stowage::wal_recovery_report report;
    log.recover(report);
    std::vector<stowage::wal_op> ops(1);
    ops[0].type = stowage::wal_record_type::put;
    ops[0].key = "k";
    ops[0].value = stowage::bytes(1000, std::byte{7});
    std::uint64_t lsn = 0;
    for (int i = 0; i < 60000; ++i) lsn = log.append(log.next_txid(), ops);
    log.wait_durable(lsn, durability::full);
    const std::string name = log.segment_names().front();
    const stowage::bytes data = *mem.read(name);
    const std::string reused = "wal/" + std::string(20 - std::to_string(lsn + 1).size(), '0') +
                               std::to_string(lsn + 1) + ".recycled.log";
    std::size_t records = 0;
    for (auto _ : state) records = stowage::wal<stowage::memory_storage>::read_segment(as_reused ? reused : name, data, 0).size();
    state.counters["records"] = static_cast<double>(records);
    state.counters["segment_MB"] = static_cast<double>(data.size()) / 1e6;
}

// --- registration --------------------------------------------------------------------------

void register_benchmarks() {
    const char* min_time = std::getenv("COMMIT_MIN_TIME");
    const double commit_min_time = min_time ? std::atof(min_time) : 0.3;
    using benchmark::RegisterBenchmark;

    for (std::string kind : {"append", "overwrite", "dir_fsync", "syncfs", "replace_file"})
        RegisterBenchmark(("raw_sync/" + kind + (kind == "append" || kind == "overwrite" ? "_1KiB" : "")).c_str(),
                          [kind](benchmark::State& s) { sync_benchmark(s, kind); })
            ->MinTime(0.5)->UseRealTime()->Unit(benchmark::kMicrosecond);

    struct peer {
        std::string name;
        factory make;
    };
    std::vector<peer> peers;
    peers.push_back({"stowage_full", [](auto& d) { return std::make_unique<stowage_system>(d, durability::full); }});
    peers.push_back({"stowage_batched", [](auto& d) { return std::make_unique<stowage_system>(d, durability::batched); }});
    peers.push_back({"stowage_full_nowait",
                     [](auto& d) { return std::make_unique<stowage_system>(d, durability::full, false); }});
    peers.push_back({"stowage_full_noapply",
                     [](auto& d) { return std::make_unique<stowage_system>(d, durability::full, true, false); }});
    peers.push_back({"stowage_batched_nowait",
                     [](auto& d) { return std::make_unique<stowage_system>(d, durability::batched, false); }});
#if STOWAGE_BENCH_HAVE_LEVELDB
    peers.push_back({"leveldb_sync", [](auto& d) { return std::make_unique<leveldb_system>(d, true); }});
    peers.push_back({"leveldb_nosync", [](auto& d) { return std::make_unique<leveldb_system>(d, false); }});
#endif
#if STOWAGE_BENCH_HAVE_ROCKSDB
    peers.push_back({"rocksdb_sync", [](auto& d) { return std::make_unique<rocksdb_system>(d, true); }});
    peers.push_back({"rocksdb_nosync", [](auto& d) { return std::make_unique<rocksdb_system>(d, false); }});
#endif
#if STOWAGE_BENCH_HAVE_SQLITE
    peers.push_back({"sqlite_full", [](auto& d) { return std::make_unique<sqlite_system>(d, true); }});
    peers.push_back({"sqlite_normal", [](auto& d) { return std::make_unique<sqlite_system>(d, false); }});
#endif
#if STOWAGE_BENCH_HAVE_LMDB
    peers.push_back({"lmdb_sync", [](auto& d) { return std::make_unique<lmdb_system>(d, true); }});
    peers.push_back({"lmdb_nosync", [](auto& d) { return std::make_unique<lmdb_system>(d, false); }});
#endif
    // Coherence (issue 21): the same durable commits with an attached index,
    // a cache kept by commit listeners, or both; paired with stowage_full.
    for (std::size_t ops : {1, 10})
        for (auto [name, kept] : {std::pair{"stowage_full_indexed", coherence::index},
                                  std::pair{"stowage_full_cached", coherence::cache},
                                  std::pair{"stowage_full_coherent", coherence::both}}) {
            factory make = [kept](auto& d) { return std::make_unique<stowage_system>(d, durability::full, true, true, kept); };
            std::string row = "commit/" + std::to_string(ops) + "put/" + name;
            RegisterBenchmark(row.c_str(), [name = std::string(name), make, ops](benchmark::State& s) {
                commit_benchmark(s, name, make, ops);
            })->Threads(1)->Threads(16)->MinTime(commit_min_time)->UseRealTime()->Unit(benchmark::kMicrosecond);
        }

    // Durable systems first, then the relaxed ones, each at 1/4/16 writers.
    for (bool durable : {true, false})
        for (std::size_t ops : {1, 10})
            for (std::size_t i = durable ? 0 : 1; i < peers.size(); i += 2) {
                const auto& p = peers[i];
                std::string name = "commit/" + std::to_string(ops) + "put/" + p.name;
                RegisterBenchmark(name.c_str(),
                                  [p, ops](benchmark::State& s) { commit_benchmark(s, p.name, p.make, ops); })
                    ->Threads(1)->Threads(4)->Threads(16)->MinTime(commit_min_time)->UseRealTime()->Unit(benchmark::kMicrosecond);
            }

    RegisterBenchmark("recovery/segment_parse", [](benchmark::State& s) { recovery_reused_tail(s, false); })
        ->Unit(benchmark::kMillisecond);
    RegisterBenchmark("recovery/reused_segment_old_tail", [](benchmark::State& s) { recovery_reused_tail(s, true); })
        ->Unit(benchmark::kMillisecond);
    for (std::string set : {"distinct", "hot"}) {
        RegisterBenchmark(("recovery/wal_scan/" + set).c_str(), [set](benchmark::State& s) { recovery_scan(s, set); })
            ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
        RegisterBenchmark(("recovery/open_read_only/" + set).c_str(),
                          [set](benchmark::State& s) { recovery_read_only(s, set); })
            ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
        // Each takes from seconds to minutes on this machine: one repetition.
        RegisterBenchmark(("recovery/open_read_write/" + set).c_str(),
                          [set](benchmark::State& s) { recovery_read_write(s, set, false); })
            ->Iterations(1)->Repetitions(1)->UseRealTime()->Unit(benchmark::kMillisecond);
        if (set == "distinct")
            RegisterBenchmark(("recovery/open_read_write+store/" + set).c_str(),
                              [set](benchmark::State& s) { recovery_read_write(s, set, true); })
                ->Iterations(1)->Repetitions(1)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--build-unapplied-wal")
        build_unapplied_wal_here(argv[2], std::stoul(argv[3]));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    try {
        fs::path root = bench::scratch_root();
        benchmark::AddCustomContext("scratch", root.string() + ": " + bench::describe_filesystem(root));
        benchmark::AddCustomContext("entity_json_bytes", std::to_string(encode(pool()[0]).size()));
#if STOWAGE_BENCH_HAVE_SQLITE
        benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
        benchmark::AddCustomContext("leveldb_version",
                                    std::to_string(leveldb::kMajorVersion) + "." + std::to_string(leveldb::kMinorVersion));
#endif
#if STOWAGE_BENCH_HAVE_ROCKSDB
        benchmark::AddCustomContext("rocksdb_version", std::to_string(ROCKSDB_MAJOR) + "." +
                                                           std::to_string(ROCKSDB_MINOR) + "." +
                                                           std::to_string(ROCKSDB_PATCH));
#endif
#if STOWAGE_BENCH_HAVE_LMDB
        benchmark::AddCustomContext("lmdb_version", MDB_VERSION_STRING);
#endif
        register_benchmarks();
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        registry().clear();  // close every database before static destruction
    } catch (const std::exception& e) {
        std::fprintf(stderr, "commit_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
