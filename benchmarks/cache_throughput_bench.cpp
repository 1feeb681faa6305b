// cache_throughput_bench — operations per second of cache, concurrent_cache
// and a plain std::list + std::unordered_map LRU under one std::mutex, at 1,
// 2 and 4 threads, on two workloads over uint64 keys and values:
//   get    90,000 entries in room for 100,000 (so that every shard of a
//          concurrent_cache holds its share too), every get a hit (Zipf 0.99)
//   mixed  90% get, 10% put, Zipf 0.99 over 1,000,000 keys with room for
//          100,000 (misses, evictions and replacements happen)
//   get_uniform  as get, but keys drawn uniformly: no hot entries, so what
//          limits threads is the locking scheme, not one cache line that
//          every thread writes (Zipf's head)
// Each thread replays its own precomputed key sequence, so the measurement is
// the cache, not the random number generator. items_per_second is the total
// over all threads (real time).
#include <stowage/cache.hpp>
#include <stowage/concurrent_cache.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

namespace st = stowage;

namespace {

constexpr std::uint64_t capacity = 100'000;
constexpr std::uint64_t key_space = 1'000'000;
constexpr std::uint64_t hot_keys = capacity / 10 * 9;
constexpr std::size_t keys_per_thread = 1 << 20;

// The baseline every C++ programmer writes first.
class plain_lru {
public:
    explicit plain_lru(std::size_t cap) : cap_(cap) {}
    std::optional<std::uint64_t> get(std::uint64_t k) {
        std::lock_guard lock(m_);
        auto it = map_.find(k);
        if (it == map_.end()) return std::nullopt;
        order_.splice(order_.end(), order_, it->second);
        return it->second->second;
    }
    bool put(std::uint64_t k, std::uint64_t v) {
        std::lock_guard lock(m_);
        auto it = map_.find(k);
        if (it != map_.end()) {
            it->second->second = v;
            order_.splice(order_.end(), order_, it->second);
            return true;
        }
        if (map_.size() >= cap_) {
            map_.erase(order_.front().first);
            order_.pop_front();
        }
        order_.emplace_back(k, v);
        map_.emplace(k, std::prev(order_.end()));
        return true;
    }

private:
    std::mutex m_;
    std::size_t cap_;
    std::list<std::pair<std::uint64_t, std::uint64_t>> order_;
    std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, std::uint64_t>>::iterator> map_;
};

template <class P>
using single = st::cache<std::uint64_t, std::uint64_t, P>;
template <class P>
using sharded = st::concurrent_cache<std::uint64_t, std::uint64_t, P>;

// Zipf(0.99) ranks over n keys, scattered so that hot keys are not neighbours.
std::vector<std::uint64_t> zipf_keys(std::uint64_t n, std::size_t count, std::uint64_t seed) {
    std::vector<double> cdf(n);
    double sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) cdf[i] = sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
    std::vector<std::uint64_t> scatter(n);  // the same permutation for every thread
    for (std::uint64_t i = 0; i < n; ++i) scatter[i] = i;
    std::shuffle(scatter.begin(), scatter.end(), std::mt19937_64(n));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, sum);
    std::vector<std::uint64_t> out(count);
    for (auto& k : out) {
        const auto rank = static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
        k = scatter[std::min<std::size_t>(rank, n - 1)];
    }
    return out;
}

enum workload { get_only, mixed, get_uniform };

std::vector<std::uint64_t> uniform_keys(std::uint64_t n, std::size_t count, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::uint64_t> u(0, n - 1);
    std::vector<std::uint64_t> out(count);
    for (auto& k : out) k = u(rng);
    return out;
}

const std::vector<std::uint64_t>& keys(workload w, int thread) {
    static std::vector<std::uint64_t> sets[3][8];
    static std::once_flag once[3][8];
    std::call_once(once[w][thread], [&] {
        const std::uint64_t seed = 1000 * (w + 1) + static_cast<std::uint64_t>(thread);
        sets[w][thread] = w == get_uniform ? uniform_keys(hot_keys, keys_per_thread, seed)
                                           : zipf_keys(w == get_only ? hot_keys : key_space, keys_per_thread, seed);
    });
    return sets[w][thread];
}

template <class Subject>
Subject& subject(workload w) {
    static Subject* instances[3] = {};
    static std::once_flag once[3];
    std::call_once(once[w], [&] {
        instances[w] = new Subject(capacity);
        if (w != mixed)
            for (std::uint64_t k = 0; k < hot_keys; ++k) instances[w]->put(k, k);
        else
            for (std::uint64_t k : keys(mixed, 7)) instances[w]->put(k, k);  // warm
    });
    return *instances[w];
}

template <class Subject, workload W>
void bm(benchmark::State& state) {
    Subject& c = subject<Subject>(W);
    const auto& ks = keys(W, state.thread_index());
    std::size_t i = 0;
    std::uint64_t found = 0;
    for (auto _ : state) {
        const std::uint64_t k = ks[i++ & (keys_per_thread - 1)];
        if (W == mixed && (i % 10) == 0) {
            c.put(k, k);
        } else {
            auto v = c.get(k);
            found += v.has_value();
        }
    }
    benchmark::DoNotOptimize(found);
    state.SetItemsProcessed(state.iterations());
    if (W != mixed && found != state.iterations()) state.SkipWithError("a get missed");
}

#define STOWAGE_CACHE_BENCH(subject, name)                                                           \
    BENCHMARK(bm<subject, get_only>)->Name("get/" name)->Threads(1)->Threads(2)->Threads(4)->UseRealTime(); \
    BENCHMARK(bm<subject, mixed>)->Name("mixed/" name)->Threads(1)->Threads(2)->Threads(4)->UseRealTime(); \
    BENCHMARK(bm<subject, get_uniform>)->Name("get_uniform/" name)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

STOWAGE_CACHE_BENCH(plain_lru, "plain_lru")
STOWAGE_CACHE_BENCH(single<st::lru>, "cache<lru>")
STOWAGE_CACHE_BENCH(single<st::s3fifo>, "cache<s3fifo>")
STOWAGE_CACHE_BENCH(sharded<st::lru>, "concurrent_cache<lru>")
STOWAGE_CACHE_BENCH(sharded<st::s3fifo>, "concurrent_cache<s3fifo>")

}  // namespace

BENCHMARK_MAIN();
