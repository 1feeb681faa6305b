// queue_bench.cpp — the persistence queue: how long enqueue takes while the
// worker is saturated (p50/p99/max), and sustained throughput of batched
// application against one transaction per write, on file_storage with full
// durability.
//
//   build/benchmarks/queue_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>

#include "stowage/codec/json.hpp"
#include "stowage/persistence_queue.hpp"
#include "stowage/storage/file.hpp"

namespace fs = std::filesystem;
using namespace stowage;

struct item {
    std::string id;
    std::string body;
    std::int64_t n = 0;
};
STOWAGE_DESCRIBE(item, id, body, n)

static fs::path fresh_dir(const char* name) {
    const char* env = std::getenv("STOWAGE_BENCH_DIR");
    fs::path p = (env ? fs::path(env) : fs::temp_directory_path() / "stowage-queue-bench") /
                 (std::string(name) + "-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// Enqueue latency while the worker is busy applying: 20,000 updates of
// ~1 KB as fast as one producer can enqueue them.
static void BM_enqueue_latency(benchmark::State& state) {
    auto dir = fresh_dir("latency");
    std::vector<double> ns;
    for (auto _ : state) {
        state.PauseTiming();
        fs::remove_all(dir / "data");
        {
            database<file_storage> db{file_storage(dir / "data")};
            db_store<item, file_storage> items(db.storage(), "items");
            persistence_queue<file_storage> q(db);
            std::string body(1000, 'b');
            state.ResumeTiming();
            for (int i = 0; i < 20000; ++i) {
                auto t0 = std::chrono::steady_clock::now();
                q.enqueue_overwrite(items, item{"i" + std::to_string(i % 500), body, i});
                ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
            }
            q.flush();
            state.PauseTiming();
        }
        state.ResumeTiming();
    }
    std::sort(ns.begin(), ns.end());
    state.counters["p50_us"] = ns[ns.size() / 2] / 1000;
    state.counters["p99_us"] = ns[ns.size() * 99 / 100] / 1000;
    state.counters["max_us"] = ns.back() / 1000;
    state.SetItemsProcessed(state.iterations() * 20000);
    fs::remove_all(dir);
}
BENCHMARK(BM_enqueue_latency)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

// Sustained throughput: 2,000 writes through the queue (batched into
// transactions) vs the same writes as one transaction each.
static void BM_throughput(benchmark::State& state) {
    bool batched = state.range(0) == 1;
    auto dir = fresh_dir(batched ? "batched" : "single");
    for (auto _ : state) {
        state.PauseTiming();
        fs::remove_all(dir / "data");
        database<file_storage> db{file_storage(dir / "data")};
        db_store<item, file_storage> items(db.storage(), "items");
        std::string body(1000, 'b');
        state.ResumeTiming();
        if (batched) {
            persistence_queue<file_storage> q(db);
            for (int i = 0; i < 2000; ++i) q.enqueue_overwrite(items, item{"i" + std::to_string(i % 500), body, i});
            q.flush();
        } else {
            for (int i = 0; i < 2000; ++i) items.put(item{"i" + std::to_string(i % 500), body, i});
        }
    }
    state.SetItemsProcessed(state.iterations() * 2000);
    state.SetLabel(batched ? "queue (batched transactions)" : "one transaction per write");
    fs::remove_all(dir);
}
BENCHMARK(BM_throughput)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

BENCHMARK_MAIN();
