// hash_bench.cpp — throughput of the provided hashers (one-shot, hot cache)
// at record-sized (64 B), page-sized (4 KiB) and blob-sized (1 MiB) inputs.
// Compare with `openssl speed -evp sha256` (benchmarks/RESULTS.md, "Hashing"),
// and crc32c with Crypto++'s CRC32C alone (crc32c_cryptopp).
#include <benchmark/benchmark.h>

#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>

#include <random>

#include <cryptopp/blake2.h>
#include <cryptopp/crc.h>
#include <cryptopp/sha.h>

namespace {

stowage::bytes random_bytes(std::size_t n) {
    std::mt19937_64 rng(42);
    stowage::bytes out(n);
    for (auto& b : out) b = std::byte(rng() & 0xff);
    return out;
}

template <stowage::hasher H>
void bm_hash(benchmark::State& state) {
    const auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
    H h;  // reused, as a component reuses its hasher: finish() resets it
    for (auto _ : state) {
        h.update(data);
        auto digest = h.finish();
        benchmark::DoNotOptimize(digest);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Arg(64)->Arg(4 << 10)->Arg(1 << 20);
}

// Crypto++'s CRC32C by itself: what stowage::crc32c computes with where the
// CPU lacks SSE4.2, and the peer of its three-stream path elsewhere. With
// the size of a WAL put record (~1.4 KB) too.
void bm_cryptopp_crc32c(benchmark::State& state) {
    const auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
    CryptoPP::CRC32C c;
    CryptoPP::byte digest[4];
    for (auto _ : state) {
        c.Update(reinterpret_cast<const CryptoPP::byte*>(data.data()), data.size());
        c.Final(digest);
        benchmark::DoNotOptimize(digest);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

}  // namespace

BENCHMARK(bm_hash<stowage::sha256>)->Name("sha256")->Apply(sizes);
BENCHMARK(bm_hash<stowage::blake2b>)->Name("blake2b")->Apply(sizes);
BENCHMARK(bm_hash<stowage::crc32c>)->Name("crc32c")->Apply(sizes)->Arg(1400);
BENCHMARK(bm_cryptopp_crc32c)->Name("crc32c_cryptopp")->Apply(sizes)->Arg(1400);

// Records which kernel Crypto++ chose at run time on this CPU ("SHANI" for
// SHA-256 only where the CPU has SHA extensions), so a result says why.
int main(int argc, char** argv) {
    benchmark::AddCustomContext("cryptopp_sha256", CryptoPP::SHA256().AlgorithmProvider());
    benchmark::AddCustomContext("cryptopp_blake2b", CryptoPP::BLAKE2b().AlgorithmProvider());
    benchmark::AddCustomContext("cryptopp_crc32c", CryptoPP::CRC32C().AlgorithmProvider());
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
