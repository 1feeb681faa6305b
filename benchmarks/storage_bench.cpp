// storage_bench.cpp — what a durable atomic replace costs on file_storage
// (temp file + fdatasync + rename + directory fsync), next to the physical
// floor: one write + fdatasync of the same bytes to an open file. Also the
// batched variants (one syncfs for many files) and memory_storage.
//
//   build/benchmarks/storage_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Data goes to $STOWAGE_BENCH_DIR (default: a directory under /tmp, which on
// this machine is the same disk as the checkout).
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"

namespace fs = std::filesystem;
using namespace stowage;

static fs::path bench_dir(const std::string& name) {
    const char* env = std::getenv("STOWAGE_BENCH_DIR");
    fs::path root = env ? fs::path(env) : fs::temp_directory_path() / "stowage-storage-bench";
    fs::path p = root / (name + "-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// The floor: overwrite the same bytes in an open file and fdatasync.
static void BM_raw_write_fdatasync(benchmark::State& state) {
    auto dir = bench_dir("raw");
    bytes value(static_cast<std::size_t>(state.range(0)), std::byte{'x'});
    int fd = ::open((dir / "f").c_str(), O_WRONLY | O_CREAT, 0644);
    for (auto _ : state) {
        if (::pwrite(fd, value.data(), value.size(), 0) != static_cast<ssize_t>(value.size())) state.SkipWithError("write");
        if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
    }
    ::close(fd);
    fs::remove_all(dir);
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_raw_write_fdatasync)->Arg(1024)->Arg(64 * 1024)->UseRealTime();

// The floor for a log: append + fdatasync.
static void BM_raw_append_fdatasync(benchmark::State& state) {
    auto dir = bench_dir("append");
    bytes value(static_cast<std::size_t>(state.range(0)), std::byte{'x'});
    int fd = ::open((dir / "log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    for (auto _ : state) {
        if (::write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) state.SkipWithError("write");
        if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
    }
    ::close(fd);
    fs::remove_all(dir);
}
BENCHMARK(BM_raw_append_fdatasync)->Arg(1024)->UseRealTime();

static void BM_file_replace(benchmark::State& state) {
    auto dir = bench_dir("replace");
    file_storage s(dir / "data");
    bytes value(static_cast<std::size_t>(state.range(0)), std::byte{'x'});
    auto d = static_cast<durability>(state.range(1));
    std::uint64_t i = 0;
    for (auto _ : state) s.replace("k/" + std::to_string(i++ % 64), value, d);
    s.flush();
    state.SetBytesProcessed(state.iterations() * state.range(0));
    state.SetLabel(d == durability::full ? "full" : d == durability::batched ? "batched" : "none");
    fs::remove_all(dir);
}
BENCHMARK(BM_file_replace)
    ->Args({1024, static_cast<int>(durability::full)})
    ->Args({64 * 1024, static_cast<int>(durability::full)})
    ->Args({1024, static_cast<int>(durability::batched)})
    ->Args({1024, static_cast<int>(durability::none)})
    ->UseRealTime();

// 100 keys per replace_batch, full durability: one syncfs for the contents,
// one for the directories.
static void BM_file_replace_batch100(benchmark::State& state) {
    auto dir = bench_dir("batch");
    file_storage s(dir / "data");
    bytes value(static_cast<std::size_t>(state.range(0)), std::byte{'x'});
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i) keys.push_back("k/" + std::to_string(i % 16) + "/" + std::to_string(i));
    std::vector<blob_write> batch;
    for (auto& k : keys) batch.push_back({k, value});
    for (auto _ : state) s.replace_batch(batch, durability::full);
    state.SetItemsProcessed(state.iterations() * 100);
    fs::remove_all(dir);
}
BENCHMARK(BM_file_replace_batch100)->Arg(1024)->UseRealTime();

static void BM_memory_replace(benchmark::State& state) {
    memory_storage s;
    bytes value(static_cast<std::size_t>(state.range(0)), std::byte{'x'});
    std::uint64_t i = 0;
    for (auto _ : state) s.replace("k/" + std::to_string(i++ % 64), value, durability::full);
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_memory_replace)->Arg(1024)->Arg(64 * 1024);

BENCHMARK_MAIN();
