// rados_bench.cpp — rados_storage on the one-host test cluster
// (tools/ceph/start.sh: three bluestore OSDs on sparse files, size 3): put
// and get of 1 KiB and 1 MiB values, synchronous (durability::full, one
// acknowledged write at a time) and asynchronous (durability::none with N
// writes in flight, flushed at the end), next to file_storage's durable
// replace of the same values on the same disk; and cas_map ingest of a
// 16 MiB blob (fastcdc) over RADOS vs over file_storage.
//
//   conf=$(tools/ceph/start.sh /tmp/stowage-ceph | tail -1)
//   STOWAGE_RADOS_CONF=$conf build/benchmarks/rados_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   tools/ceph/stop.sh /tmp/stowage-ceph
//
// Everything runs against pool $STOWAGE_RADOS_POOL (default "stowage"), each
// benchmark in a RADOS namespace of its own. Without STOWAGE_RADOS_CONF the
// RADOS benchmarks report an error and only the file_storage peers run.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "stowage/cas_map.hpp"
#include "stowage/chunk/fastcdc.hpp"
#include "stowage/database.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/rados.hpp"

namespace fs = std::filesystem;
using namespace stowage;

namespace {

std::optional<rados_options> cluster(const std::string& nspace, std::size_t in_flight = 32) {
    const char* conf = std::getenv("STOWAGE_RADOS_CONF");
    if (!conf || !*conf) return std::nullopt;
    const char* pool = std::getenv("STOWAGE_RADOS_POOL");
    rados_options o;
    o.conf = conf;
    o.pool = pool && *pool ? pool : "stowage";
    o.nspace = "bench-" + nspace + "-" + std::to_string(::getpid());
    o.max_in_flight = in_flight;
    return o;
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bytes b(n);
    for (auto& x : b) x = std::byte(rng() & 0xff);
    return b;
}

fs::path bench_dir(const std::string& name) {
    const char* env = std::getenv("STOWAGE_BENCH_DIR");
    fs::path root = env ? fs::path(env) : fs::temp_directory_path() / "stowage-rados-bench";
    fs::path p = root / (name + "-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

constexpr int key_space = 256;  // keys are reused: the index stays small

std::string key_of(std::int64_t i) { return "bench/" + std::to_string(i % key_space); }

// Writes every key once before the timing: the first write of a new key
// costs one more round trip (its index entry, see rados.hpp), which
// replace_batch pays once per batch; the loops measure steady replaces.
template <class S>
void warm(S& s, bytes_view value) {
    std::vector<std::string> keys;
    std::vector<blob_write> batch;
    for (int k = 0; k < key_space; ++k) keys.push_back(key_of(k));
    for (auto& k : keys) batch.push_back({k, value});
    s.replace_batch(batch, durability::full);
}

// Leaves the test cluster as empty as it was (its OSDs are small).
template <class S>
void clear(S& s) {
    for (const auto& k : s.list("")) s.remove(k, durability::full);
}

}  // namespace

// One durable replace at a time: the acknowledged round trip.
static void BM_rados_put_sync(benchmark::State& state) {
    auto o = cluster("put-sync-" + std::to_string(state.range(0)));
    if (!o) return state.SkipWithError("STOWAGE_RADOS_CONF not set (tools/ceph/start.sh)");
    rados_storage s(*o);
    auto value = random_bytes(static_cast<std::size_t>(state.range(0)), 1);
    warm(s, value);
    std::int64_t i = 0;
    for (auto _ : state) s.replace(key_of(i++), value, durability::full);
    clear(s);
    state.SetBytesProcessed(state.iterations() * state.range(0));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_rados_put_sync)->Arg(1024)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

// N writes in flight (durability::none): each iteration sends 64 writes and
// flushes (waits for every acknowledgement), so the timing covers them all.
static void BM_rados_put_async(benchmark::State& state) {
    auto o = cluster("put-async-" + std::to_string(state.range(0)) + "-" + std::to_string(state.range(1)),
                     static_cast<std::size_t>(state.range(1)));
    if (!o) return state.SkipWithError("STOWAGE_RADOS_CONF not set (tools/ceph/start.sh)");
    rados_storage s(*o);
    auto value = random_bytes(static_cast<std::size_t>(state.range(0)), 2);
    warm(s, value);
    constexpr int per_iteration = 64;
    std::int64_t i = 0;
    for (auto _ : state) {
        for (int k = 0; k < per_iteration; ++k) s.replace(key_of(i++), value, durability::none);
        s.flush();
    }
    clear(s);
    state.SetBytesProcessed(state.iterations() * per_iteration * state.range(0));
    state.SetItemsProcessed(state.iterations() * per_iteration);
}
BENCHMARK(BM_rados_put_async)
    ->Args({1024, 8})->Args({1024, 32})->Args({1 << 20, 8})->Args({1 << 20, 32})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);

static void BM_rados_get(benchmark::State& state) {
    auto o = cluster("get-" + std::to_string(state.range(0)));
    if (!o) return state.SkipWithError("STOWAGE_RADOS_CONF not set (tools/ceph/start.sh)");
    rados_storage s(*o);
    auto value = random_bytes(static_cast<std::size_t>(state.range(0)), 3);
    for (int k = 0; k < 16; ++k) s.replace(key_of(k), value, durability::full);
    std::int64_t i = 0;
    for (auto _ : state) {
        auto v = s.read(key_of(i++ % 16));
        if (!v || v->size() != value.size()) return state.SkipWithError("read back the wrong value");
        benchmark::DoNotOptimize(v);
    }
    clear(s);
    state.SetBytesProcessed(state.iterations() * state.range(0));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_rados_get)->Arg(1024)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Peers on the local disk: durable replace and read through file_storage.
static void BM_file_put_sync(benchmark::State& state) {
    auto dir = bench_dir("file-put");
    {
        file_storage s(dir / "data");
        auto value = random_bytes(static_cast<std::size_t>(state.range(0)), 1);
        warm(s, value);
        std::int64_t i = 0;
        for (auto _ : state) s.replace(key_of(i++), value, durability::full);
    }
    fs::remove_all(dir);
    state.SetBytesProcessed(state.iterations() * state.range(0));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_file_put_sync)->Arg(1024)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

static void BM_file_get(benchmark::State& state) {
    auto dir = bench_dir("file-get");
    {
        file_storage s(dir / "data");
        auto value = random_bytes(static_cast<std::size_t>(state.range(0)), 3);
        for (int k = 0; k < 16; ++k) s.replace(key_of(k), value, durability::full);
        std::int64_t i = 0;
        for (auto _ : state) benchmark::DoNotOptimize(s.read(key_of(i++ % 16)));
    }
    fs::remove_all(dir);
    state.SetBytesProcessed(state.iterations() * state.range(0));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_file_get)->Arg(1024)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond);

// cas_map ingest of fresh 16 MiB blobs (fastcdc chunks, one transaction
// each), over either storage.
template <class S>
void cas_ingest(benchmark::State& state, S storage) {
    database<S> db(std::move(storage));
    cas_map<S, sha256, fastcdc> cas(db);
    constexpr std::size_t n = 16 << 20;
    std::uint64_t seed = 100;
    for (auto _ : state) {
        state.PauseTiming();
        auto blob = random_bytes(n, seed++);
        state.ResumeTiming();
        benchmark::DoNotOptimize(cas.put(blob));
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

static void BM_cas_ingest_rados(benchmark::State& state) {
    auto o = cluster("cas");
    if (!o) return state.SkipWithError("STOWAGE_RADOS_CONF not set (tools/ceph/start.sh)");
    cas_ingest(state, rados_storage(*o));
}
BENCHMARK(BM_cas_ingest_rados)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

static void BM_cas_ingest_file(benchmark::State& state) {
    auto dir = bench_dir("cas");
    cas_ingest(state, file_storage(dir / "data"));
    fs::remove_all(dir);
}
BENCHMARK(BM_cas_ingest_file)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_MAIN();
