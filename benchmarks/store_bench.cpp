// The entity store (issue 3) next to what it replaces and two embedded
// databases, on the same 10,000 session-like entities (~2 KB of JSON each,
// app::make_session) in one run:
//
//   stowage  store<session, file_storage, json_codec, sha256, session_summary>,
//            durability full: each put writes a temp file, fdatasyncs it,
//            renames it over the record and fsyncs the directory.
//   naive    the seed app: the whole collection as one JSON array in one
//            file, rewritten on every save (encode all, write a temp file,
//            fdatasync, rename, fsync the directory).
//   sqlite   one table (id TEXT PRIMARY KEY, body TEXT holding the JSON),
//            journal_mode=WAL, synchronous=FULL: each autocommit put appends
//            to the WAL and fsyncs it.
//   leveldb  key = id, value = JSON, WriteOptions::sync = true: each put
//            appends to the log and fdatasyncs it.
//
// Every system encodes and decodes with the same json_codec, so the work
// that differs is the storage. Every put is durable when it returns.
//
//   put        update one of the 10,000 entities
//   put_many   update 100 entities at once (store.put_many, one SQLite
//              transaction, one LevelDB WriteBatch; naive: one save)
//   get        one entity by id, decoded (stowage also verifies its SHA-256)
//   list       every entity's summary (id, name, state, start_time)
//   open_list  open the collection from disk and list it (app start-up)
//   memory     peak RSS of a fresh process that opens the collection and
//              lists it (re-executes this binary; see bench_support.hpp)
//
// Data lives under $STOWAGE_BENCH_DIR (default /tmp); the page cache is warm
// (each data set was just written), so reads measure CPU and syscalls, and
// writes measure the syncs.
//
//   build-bench/benchmarks/store_bench --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <stowage/codec/json.hpp>
#include <stowage/database.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/file.hpp>
#include <stowage/store.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
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

constexpr std::size_t entity_count = 10000;
constexpr std::size_t entity_bytes = 2000;
constexpr std::size_t batch_size = 100;

using session_store = stowage::store<app::session, stowage::file_storage, stowage::json_codec, stowage::sha256,
                                     app::session_summary>;
// The same store opened through a database: writes go to the WAL (one
// fdatasync per commit) and a background applier writes the record files.
using session_db = stowage::database<stowage::file_storage>;
using session_db_store = stowage::db_store<app::session, stowage::file_storage, stowage::json_codec, stowage::sha256,
                                           app::session_summary>;
// What the peers' listings produce (the store's is store::listed).
using summaries = std::vector<std::pair<std::string, app::session_summary>>;

const std::vector<app::session>& sessions() {
    static const std::vector<app::session> all = [] {
        std::vector<app::session> v;
        v.reserve(entity_count);
        for (std::size_t i = 0; i < entity_count; ++i) v.push_back(app::make_session(i, entity_bytes));
        return v;
    }();
    return all;
}

// Entity i with a changed field, so every put writes new content.
app::session updated(std::size_t i, std::uint64_t version) {
    app::session s = sessions()[i % entity_count];
    s.duration_s = 1000.0 + static_cast<double>(version);
    return s;
}

bytes encode(const app::session& s) {
    bytes out;
    stowage::json_codec{}.encode(s, out);
    return out;
}

template <class T>
T decode(bytes_view data) {
    T v{};
    stowage::json_codec{}.decode(data, v);
    return v;
}
template <class T>
T decode(std::string_view text) {
    return decode<T>(stowage::as_bytes(text));
}

// A fixed sequence of entity indexes for reads.
const std::vector<std::size_t>& random_indexes() {
    static const std::vector<std::size_t> v = [] {
        std::mt19937_64 rng(42);
        std::vector<std::size_t> out(65536);
        for (auto& i : out) i = rng() % entity_count;
        return out;
    }();
    return v;
}

[[noreturn]] void sys_fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// --- naive: the whole collection in one JSON file --------------------------------

// Writes data to `file` the way a careful app replaces a file: temp file,
// fdatasync, rename, fsync of the directory.
void replace_file_durably(const fs::path& file, bytes_view data) {
    std::string temp = file.string() + ".tmp";
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) sys_fail("open " + temp);
    if (int e = stowage::detail::write_all(fd, data)) {
        errno = e;
        sys_fail("write " + temp);
    }
    if (::fdatasync(fd) != 0) sys_fail("fdatasync " + temp);
    ::close(fd);
    if (::rename(temp.c_str(), file.c_str()) != 0) sys_fail("rename " + temp);
    int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) sys_fail("fsync " + file.parent_path().string());
    ::close(dfd);
}

bytes read_file(const fs::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) sys_fail("open " + file.string());
    bytes out(fs::file_size(file));
    std::size_t got = 0;
    if (int e = stowage::detail::pread_all(fd, out.data(), out.size(), 0, got)) {
        errno = e;
        sys_fail("read " + file.string());
    }
    ::close(fd);
    out.resize(got);
    return out;
}

// The seed app's persistence: every session in memory, the whole array
// re-encoded and rewritten on each save; every query parses the file.
class naive_collection {
public:
    explicit naive_collection(fs::path file) : file_(std::move(file)) {}

    void load() {
        all_ = read_all(file_);
        index_.clear();
        for (std::size_t i = 0; i < all_.size(); ++i) index_[all_[i].id] = i;
    }
    void assign(std::vector<app::session> all) {
        all_ = std::move(all);
        index_.clear();
        for (std::size_t i = 0; i < all_.size(); ++i) index_[all_[i].id] = i;
        save();
    }
    void put(const app::session& s) {
        upsert(s);
        save();
    }
    void put_many(std::span<const app::session> many) {
        for (const auto& s : many) upsert(s);
        save();
    }

    static std::vector<app::session> read_all(const fs::path& file) {
        return decode<std::vector<app::session>>(bytes_view(read_file(file)));
    }
    static std::optional<app::session> get(const fs::path& file, std::string_view id) {
        for (auto& s : read_all(file))
            if (s.id == id) return std::move(s);
        return std::nullopt;
    }
    static summaries list(const fs::path& file) {
        summaries out;
        for (auto& s : read_all(file)) out.emplace_back(s.id, stowage::project<app::session_summary>(s));
        return out;
    }

private:
    void upsert(const app::session& s) {
        auto [it, fresh] = index_.try_emplace(s.id, all_.size());
        if (fresh) all_.push_back(s);
        else all_[it->second] = s;
    }
    void save() {
        bytes out;
        stowage::json_codec{}.encode(all_, out);
        replace_file_durably(file_, out);
    }

    fs::path file_;
    std::vector<app::session> all_;
    std::unordered_map<std::string, std::size_t> index_;
};

// --- SQLite ---------------------------------------------------------------------

#if STOWAGE_BENCH_HAVE_SQLITE
class sqlite_sessions {
public:
    explicit sqlite_sessions(const fs::path& file) : db_(file.string()) {
        db_.exec("PRAGMA journal_mode=WAL");
        db_.exec("PRAGMA synchronous=FULL");
        db_.exec("CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, body TEXT NOT NULL)");
        upsert_.emplace(db_, "INSERT OR REPLACE INTO sessions(id, body) VALUES(?1, ?2)");
        select_.emplace(db_, "SELECT body FROM sessions WHERE id = ?1");
        list_.emplace(db_, "SELECT id, body FROM sessions ORDER BY id");
        list_extract_.emplace(db_,
                              "SELECT id, json_extract(body, '$.name'), json_extract(body, '$.state'), "
                              "json_extract(body, '$.start_time') FROM sessions ORDER BY id");
    }
    ~sqlite_sessions() {
        upsert_.reset();
        select_.reset();
        list_.reset();
        list_extract_.reset();
    }

    void put(const app::session& s) { write(s); }
    void put_many(std::span<const app::session> many) {
        db_.exec("BEGIN");
        for (const auto& s : many) write(s);
        db_.exec("COMMIT");
    }
    std::optional<app::session> get(std::string_view id) {
        select_->bind(1, id);
        std::optional<app::session> out;
        if (select_->step()) out = decode<app::session>(select_->text(0));
        select_->reset();
        return out;
    }
    // Each body decoded into the summary by the same json_codec as the others.
    summaries list() {
        summaries out;
        out.reserve(entity_count);
        while (list_->step()) out.emplace_back(std::string(list_->text(0)), decode<app::session_summary>(list_->text(1)));
        list_->reset();
        return out;
    }
    // The summary fields pulled out by SQL (json_extract).
    summaries list_json_extract() {
        summaries out;
        out.reserve(entity_count);
        while (list_extract_->step()) {
            app::session_summary p;
            p.id = std::string(list_extract_->text(0));
            p.name = std::string(list_extract_->text(1));
            p.state = status_named(list_extract_->text(2));
            p.start_time = list_extract_->integer(3);
            out.emplace_back(p.id, std::move(p));
        }
        list_extract_->reset();
        return out;
    }
    void checkpoint() { db_.exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

private:
    static app::status status_named(std::string_view name) {
        static constexpr std::string_view names[] = {"draft", "recording", "processing", "done", "failed"};
        for (std::size_t i = 0; i < std::size(names); ++i)
            if (names[i] == name) return static_cast<app::status>(i);
        throw std::runtime_error("unknown status " + std::string(name));
    }
    void write(const app::session& s) {
        bytes body = encode(s);
        upsert_->bind(1, s.id);
        upsert_->bind(2, stowage::as_chars(bytes_view(body)));
        upsert_->run();
    }

    bench::sqlite_db db_;
    std::optional<bench::sqlite_db::statement> upsert_, select_, list_, list_extract_;
};
#endif

// --- LevelDB ---------------------------------------------------------------------

#if STOWAGE_BENCH_HAVE_LEVELDB
class leveldb_sessions {
public:
    explicit leveldb_sessions(const fs::path& dir) {
        leveldb::Options o;
        o.create_if_missing = true;
        leveldb::DB* db = nullptr;
        bench::check(leveldb::DB::Open(o, dir.string(), &db), "open");
        db_.reset(db);
        sync_.sync = true;
    }
    void put(const app::session& s) {
        bytes body = encode(s);
        bench::check(db_->Put(sync_, s.id, slice(body)), "put");
    }
    void put_many(std::span<const app::session> many) {
        leveldb::WriteBatch batch;
        for (const auto& s : many) {
            bytes body = encode(s);
            batch.Put(s.id, slice(body));
        }
        bench::check(db_->Write(sync_, &batch), "write batch");
    }
    std::optional<app::session> get(std::string_view id) {
        std::string value;
        auto st = db_->Get(leveldb::ReadOptions(), leveldb::Slice(id.data(), id.size()), &value);
        if (st.IsNotFound()) return std::nullopt;
        bench::check(st, "get");
        return decode<app::session>(std::string_view(value));
    }
    summaries list() {
        summaries out;
        out.reserve(entity_count);
        std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
        for (it->SeekToFirst(); it->Valid(); it->Next())
            out.emplace_back(it->key().ToString(),
                             decode<app::session_summary>(std::string_view(it->value().data(), it->value().size())));
        bench::check(it->status(), "iterate");
        return out;
    }

private:
    static leveldb::Slice slice(const bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
    std::unique_ptr<leveldb::DB> db_;
    leveldb::WriteOptions sync_;
};
#endif

// --- the data sets ------------------------------------------------------------------

// Each system's 10,000-entity data set, written once. The `_rss` copies are
// for the child processes (which open them afresh) and open_list, so the
// handles the parent keeps open never collide with them.
struct world {
    fs::path root;
    fs::path store_dir, store_rss_dir;
    fs::path naive_file, naive_rss_file;
    fs::path sqlite_file, sqlite_rss_file;
    fs::path leveldb_dir, leveldb_rss_dir;

    std::unique_ptr<session_store> store;
    fs::path db_dir;
    std::unique_ptr<session_db> db;
    std::unique_ptr<session_db_store> db_store;
    std::unique_ptr<naive_collection> naive;
#if STOWAGE_BENCH_HAVE_SQLITE
    std::unique_ptr<sqlite_sessions> sqlite;
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    std::unique_ptr<leveldb_sessions> leveldb;
#endif
    std::uint64_t version = 0;  // makes every put's content new

    // Closes every handle (before static destruction, which would run after
    // the libraries' own statics are gone).
    void close() {
        store.reset();
        db_store.reset();
        db.reset();
        naive.reset();
#if STOWAGE_BENCH_HAVE_SQLITE
        sqlite.reset();
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
        leveldb.reset();
#endif
    }

    void build() {
        root = bench::scratch_root();
        const auto& all = sessions();
        auto copy_tree = [](const fs::path& from, const fs::path& to) {
            fs::remove_all(to);
            fs::copy(from, to, fs::copy_options::recursive);
        };

        store_dir = root / "stowage";
        store_rss_dir = root / "stowage-rss";
        {
            session_store s(stowage::file_storage(store_dir), "sessions");
            for (std::size_t i = 0; i < all.size(); i += 500)
                s.put_many(std::span<const app::session>(all).subspan(i, std::min<std::size_t>(500, all.size() - i)));
        }  // clean close: the listing snapshot is written
        copy_tree(store_dir, store_rss_dir);
        store = std::make_unique<session_store>(stowage::file_storage(store_dir), "sessions");

        db_dir = root / "stowage-db";
        db = std::make_unique<session_db>(stowage::file_storage(db_dir));
        db_store = std::make_unique<session_db_store>(db->storage(), "sessions");
        for (std::size_t i = 0; i < all.size(); i += 500)
            db_store->put_many(std::span<const app::session>(all).subspan(i, std::min<std::size_t>(500, all.size() - i)));
        db->checkpoint();  // start with everything applied, like the plain store

        fs::create_directories(root / "naive");
        naive_file = root / "naive" / "sessions.json";
        naive_rss_file = root / "naive" / "sessions-rss.json";
        naive = std::make_unique<naive_collection>(naive_file);
        naive->assign(all);
        fs::copy_file(naive_file, naive_rss_file, fs::copy_options::overwrite_existing);

#if STOWAGE_BENCH_HAVE_SQLITE
        fs::create_directories(root / "sqlite");
        sqlite_file = root / "sqlite" / "sessions.db";
        sqlite_rss_file = root / "sqlite" / "sessions-rss.db";
        {
            sqlite_sessions db(sqlite_file);
            db.put_many(all);
            db.checkpoint();
        }
        fs::copy_file(sqlite_file, sqlite_rss_file, fs::copy_options::overwrite_existing);
        sqlite = std::make_unique<sqlite_sessions>(sqlite_file);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
        leveldb_dir = root / "leveldb";
        leveldb_rss_dir = root / "leveldb-rss";
        {
            leveldb_sessions db(leveldb_dir);
            for (std::size_t i = 0; i < all.size(); i += 500)
                db.put_many(std::span<const app::session>(all).subspan(i, std::min<std::size_t>(500, all.size() - i)));
        }
        copy_tree(leveldb_dir, leveldb_rss_dir);
        leveldb = std::make_unique<leveldb_sessions>(leveldb_dir);
#endif
    }
};

world& the_world() {
    bench::scratch_root();  // created first, so removed after the world closes its handles
    static world w;
    return w;
}

// --- benchmarks -------------------------------------------------------------------------

template <class Put>
void run_puts(benchmark::State& state, Put put) {
    auto& w = the_world();
    std::size_t i = 0;
    for (auto _ : state) {
        state.PauseTiming();
        app::session s = updated(i++ * 7919, ++w.version);  // spread over the collection
        state.ResumeTiming();
        put(s);
    }
    state.SetItemsProcessed(state.iterations());
}

template <class PutMany>
void run_put_many(benchmark::State& state, PutMany put_many) {
    auto& w = the_world();
    std::size_t start = 0;
    std::vector<app::session> batch;
    for (auto _ : state) {
        state.PauseTiming();
        batch.clear();
        for (std::size_t j = 0; j < batch_size; ++j) batch.push_back(updated(start + j, ++w.version));
        start = (start + batch_size) % entity_count;
        state.ResumeTiming();
        put_many(std::span<const app::session>(batch));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

template <class Get>
void run_gets(benchmark::State& state, Get get) {
    const auto& idx = random_indexes();
    std::size_t k = 0;
    for (auto _ : state) {
        const auto& id = sessions()[idx[k++ % idx.size()]].id;
        auto s = get(id);
        if (!s || s->id != id) {
            state.SkipWithError("get returned the wrong entity");
            break;
        }
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations());
}

template <class List>
void run_lists(benchmark::State& state, List list) {
    for (auto _ : state) {
        auto l = list();
        if (l.size() != entity_count) {
            state.SkipWithError("listing has the wrong size");
            break;
        }
        benchmark::DoNotOptimize(l);
    }
    state.counters["entities"] = static_cast<double>(entity_count);
}

// Runs a fresh process that opens `system`'s data set and lists it.
void run_memory(benchmark::State& state, const std::string& system, const fs::path& path) {
    double hwm = 0, before = 0, ms = 0;
    for (auto _ : state) {
        auto out = bench::run_self({"--child-list", system, path.string()});
        hwm = bench::field_of(out, "hwm_kib");
        before = bench::field_of(out, "rss_before_kib");
        ms = bench::field_of(out, "open_list_ms");
        if (bench::field_of(out, "count") != static_cast<double>(entity_count)) {
            state.SkipWithError("child listed the wrong number of entities");
            break;
        }
    }
    state.counters["peak_rss_MiB"] = hwm / 1024;
    state.counters["rss_growth_MiB"] = (hwm - before) / 1024;
    state.counters["child_open_list_ms"] = ms;
}

void register_benchmarks() {
    auto& w = the_world();
    using benchmark::RegisterBenchmark;
    constexpr auto ms = benchmark::kMillisecond;
    constexpr auto us = benchmark::kMicrosecond;

    // put: one durable update in a 10,000-entity collection.
    RegisterBenchmark("put/stowage", [&](benchmark::State& s) { run_puts(s, [&](auto& e) { w.store->put(e); }); })
        ->Iterations(300)->UseRealTime()->Unit(us);
    RegisterBenchmark("put/stowage_db", [&](benchmark::State& s) { run_puts(s, [&](auto& e) { w.db_store->put(e); }); })
        ->Iterations(300)->UseRealTime()->Unit(us);
    RegisterBenchmark("put/naive", [&](benchmark::State& s) { run_puts(s, [&](auto& e) { w.naive->put(e); }); })
        ->Iterations(5)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("put/sqlite", [&](benchmark::State& s) { run_puts(s, [&](auto& e) { w.sqlite->put(e); }); })
        ->Iterations(300)->UseRealTime()->Unit(us);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("put/leveldb", [&](benchmark::State& s) { run_puts(s, [&](auto& e) { w.leveldb->put(e); }); })
        ->Iterations(300)->UseRealTime()->Unit(us);
#endif

    // put_many: 100 durable updates at once (time per batch; items = entities).
    RegisterBenchmark("put_many/stowage",
                      [&](benchmark::State& s) { run_put_many(s, [&](auto b) { w.store->put_many(b); }); })
        ->Iterations(20)->UseRealTime()->Unit(ms);
    RegisterBenchmark("put_many/stowage_db",
                      [&](benchmark::State& s) { run_put_many(s, [&](auto b) { w.db_store->put_many(b); }); })
        ->Iterations(20)->UseRealTime()->Unit(ms);
    RegisterBenchmark("put_many/naive",
                      [&](benchmark::State& s) { run_put_many(s, [&](auto b) { w.naive->put_many(b); }); })
        ->Iterations(5)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("put_many/sqlite",
                      [&](benchmark::State& s) { run_put_many(s, [&](auto b) { w.sqlite->put_many(b); }); })
        ->Iterations(20)->UseRealTime()->Unit(ms);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("put_many/leveldb",
                      [&](benchmark::State& s) { run_put_many(s, [&](auto b) { w.leveldb->put_many(b); }); })
        ->Iterations(20)->UseRealTime()->Unit(ms);
#endif

    // get: one entity by id.
    RegisterBenchmark("get/stowage", [&](benchmark::State& s) { run_gets(s, [&](auto& id) { return w.store->get(id); }); })
        ->Iterations(10000)->UseRealTime()->Unit(us);
    RegisterBenchmark("get/stowage_db",
                      [&](benchmark::State& s) { run_gets(s, [&](auto& id) { return w.db_store->get(id); }); })
        ->Iterations(10000)->UseRealTime()->Unit(us);
    RegisterBenchmark("get/naive",
                      [&](benchmark::State& s) { run_gets(s, [&](auto& id) { return naive_collection::get(w.naive_file, id); }); })
        ->Iterations(5)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("get/sqlite", [&](benchmark::State& s) { run_gets(s, [&](auto& id) { return w.sqlite->get(id); }); })
        ->Iterations(10000)->UseRealTime()->Unit(us);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("get/leveldb", [&](benchmark::State& s) { run_gets(s, [&](auto& id) { return w.leveldb->get(id); }); })
        ->Iterations(10000)->UseRealTime()->Unit(us);
#endif

    // list: every summary, the collection already open.
    RegisterBenchmark("list/stowage", [&](benchmark::State& s) { run_lists(s, [&] { return w.store->list(); }); })
        ->Iterations(200)->UseRealTime()->Unit(ms);
    RegisterBenchmark("list/stowage_db", [&](benchmark::State& s) { run_lists(s, [&] { return w.db_store->list(); }); })
        ->Iterations(200)->UseRealTime()->Unit(ms);
    RegisterBenchmark("list/naive", [&](benchmark::State& s) { run_lists(s, [&] { return naive_collection::list(w.naive_file); }); })
        ->Iterations(5)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("list/sqlite", [&](benchmark::State& s) { run_lists(s, [&] { return w.sqlite->list(); }); })
        ->Iterations(10)->UseRealTime()->Unit(ms);
    RegisterBenchmark("list/sqlite_json_extract",
                      [&](benchmark::State& s) { run_lists(s, [&] { return w.sqlite->list_json_extract(); }); })
        ->Iterations(10)->UseRealTime()->Unit(ms);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("list/leveldb", [&](benchmark::State& s) { run_lists(s, [&] { return w.leveldb->list(); }); })
        ->Iterations(10)->UseRealTime()->Unit(ms);
#endif

    // open_list: open the data set (the *_rss copies, closed cleanly) and list it.
    RegisterBenchmark("open_list/stowage", [&](benchmark::State& s) {
        for (auto _ : s) {
            auto st = std::make_unique<session_store>(stowage::file_storage(w.store_rss_dir), "sessions");
            auto l = st->list();
            benchmark::DoNotOptimize(l);
            s.PauseTiming();  // the clean close (sync + listing snapshot) is not part of opening
            st.reset();
            s.ResumeTiming();
        }
    })->Iterations(20)->UseRealTime()->Unit(ms);
    // A read-only open beside the live writer: no snapshot, so the listing is
    // rebuilt from the 10,000 record headers (what happens after a crash).
    RegisterBenchmark("open_list/stowage_rebuild", [&](benchmark::State& s) {
        for (auto _ : s) {
            session_store st(stowage::file_storage(w.store_dir, stowage::open_mode::read_only), "sessions");
            auto l = st.list();
            if (l.size() != entity_count) s.SkipWithError("rebuilt listing has the wrong size");
            benchmark::DoNotOptimize(l);
        }
    })->Iterations(5)->UseRealTime()->Unit(ms);
    RegisterBenchmark("open_list/naive", [&](benchmark::State& s) {
        run_lists(s, [&] { return naive_collection::list(w.naive_rss_file); });
    })->Iterations(5)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("open_list/sqlite", [&](benchmark::State& s) {
        run_lists(s, [&] {
            sqlite_sessions db(w.sqlite_rss_file);
            return db.list();
        });
    })->Iterations(10)->UseRealTime()->Unit(ms);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("open_list/leveldb", [&](benchmark::State& s) {
        run_lists(s, [&] {
            leveldb_sessions db(w.leveldb_rss_dir);
            return db.list();
        });
    })->Iterations(10)->UseRealTime()->Unit(ms);
#endif

    // memory: a fresh process opens and lists (peak RSS as counters).
    RegisterBenchmark("memory/stowage", [&](benchmark::State& s) { run_memory(s, "stowage", w.store_rss_dir); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
    RegisterBenchmark("memory/stowage_rebuild", [&](benchmark::State& s) { run_memory(s, "stowage-rebuild", w.store_dir); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
    RegisterBenchmark("memory/naive", [&](benchmark::State& s) { run_memory(s, "naive", w.naive_rss_file); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
#if STOWAGE_BENCH_HAVE_SQLITE
    RegisterBenchmark("memory/sqlite", [&](benchmark::State& s) { run_memory(s, "sqlite", w.sqlite_rss_file); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    RegisterBenchmark("memory/leveldb", [&](benchmark::State& s) { run_memory(s, "leveldb", w.leveldb_rss_dir); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
#endif
    // A process that only starts: what every child pays before opening anything.
    RegisterBenchmark("memory/empty_process", [&](benchmark::State& s) { run_memory(s, "none", w.root); })
        ->Iterations(1)->UseRealTime()->Unit(ms);
}

// --- child: open + list in a fresh process -------------------------------------------

int child_list(const std::string& system, const std::string& path) {
    long before = bench::proc_status_kib("VmRSS");
    auto t0 = std::chrono::steady_clock::now();
    std::size_t count = entity_count;
    double open_list_ms = 0;
    auto stop = [&] {
        open_list_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    if (system == "stowage") {
        session_store s(stowage::file_storage(path), "sessions");
        count = s.list().size();
        stop();
    } else if (system == "stowage-rebuild") {
        session_store s(stowage::file_storage(path, stowage::open_mode::read_only), "sessions");
        count = s.list().size();
        stop();
    } else if (system == "naive") {
        count = naive_collection::list(path).size();
        stop();
#if STOWAGE_BENCH_HAVE_SQLITE
    } else if (system == "sqlite") {
        sqlite_sessions db(path);
        count = db.list().size();
        stop();
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
    } else if (system == "leveldb") {
        leveldb_sessions db(path);
        count = db.list().size();
        stop();
#endif
    } else if (system != "none") {
        std::fprintf(stderr, "unknown system %s\n", system.c_str());
        return 2;
    }
    long hwm = bench::proc_status_kib("VmHWM");  // after the close, so closing counts too
    std::printf("rss_before_kib=%ld hwm_kib=%ld count=%zu open_list_ms=%.3f\n", before, hwm, count, open_list_ms);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--child-list") {
        try {
            return child_list(argv[2], argv[3]);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
            return 1;
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    try {
        auto t0 = std::chrono::steady_clock::now();
        the_world().build();
        auto& w = the_world();
        double json = 0;
        for (std::size_t i = 0; i < entity_count; i += 100) json += static_cast<double>(encode(sessions()[i]).size());
        json /= static_cast<double>(entity_count / 100);
        auto mb = [](std::uint64_t b) { return std::to_string(b / 1000 / 1000) + " MB"; };
        benchmark::AddCustomContext("entities", std::to_string(entity_count));
        benchmark::AddCustomContext("entity_json_bytes_avg", std::to_string(static_cast<int>(json)));
        benchmark::AddCustomContext("scratch", w.root.string() + ": " + bench::describe_filesystem(w.root));
        benchmark::AddCustomContext("disk_stowage", mb(bench::directory_bytes(w.store_rss_dir)));
        benchmark::AddCustomContext("disk_naive", mb(fs::file_size(w.naive_file)));
#if STOWAGE_BENCH_HAVE_SQLITE
        benchmark::AddCustomContext("disk_sqlite", mb(fs::file_size(w.sqlite_rss_file)));
        benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
        benchmark::AddCustomContext("disk_leveldb", mb(bench::directory_bytes(w.leveldb_rss_dir)));
        benchmark::AddCustomContext("leveldb_version",
                                    std::to_string(leveldb::kMajorVersion) + "." + std::to_string(leveldb::kMinorVersion));
#endif
        benchmark::AddCustomContext(
            "setup_seconds",
            std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
        register_benchmarks();
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        w.close();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "store_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
