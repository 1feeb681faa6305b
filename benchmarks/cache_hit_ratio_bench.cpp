// cache_hit_ratio_bench — hit ratios of every eviction policy on every trace
// in ../shared/data/traces, next to the ARC paper's published LRU and ARC.
//
//   cache_hit_ratio_bench [--quick] [TRACES_DIR]
//
// Prints Markdown tables (benchmarks/RESULTS.md, "Caches"). Every replay
// starts cold and counts every request (the paper's method); capacities are
// in entries (512-byte pages for the ARC traces). --quick replays only OLTP
// and the LIRS traces. w_tinylfu runs with a fixed seed so that the table
// repeats. "sharded" replays the same trace through an 8-shard
// concurrent_cache, to show what sharding costs in hit ratio.
#include <stowage/concurrent_cache.hpp>
#include <stowage/detail/cache_trace.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace st = stowage;
namespace fs = std::filesystem;

namespace {

using paper_key = std::tuple<std::string, std::uint64_t, std::string>;  // trace, pages, policy

std::map<paper_key, double> read_paper(const fs::path& csv) {
    std::map<paper_key, double> out;
    std::ifstream in(csv);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line.starts_with("trace,")) continue;
        std::stringstream ss(line);
        std::string trace, pages, policy, published;
        std::getline(ss, trace, ',');
        std::getline(ss, pages, ',');
        std::getline(ss, policy, ',');
        std::getline(ss, published, ',');
        out[{trace, std::stoull(pages), policy}] = std::stod(published);
    }
    return out;
}

st::w_tinylfu tinylfu(double window = 0.01) { return st::w_tinylfu(st::w_tinylfu::options{.window = window, .seed = 1}); }

// The same replay through a sharded cache.
template <class P>
double sharded(const st::detail::trace& t, std::uint64_t capacity) {
    struct nothing {};
    st::concurrent_cache<std::uint64_t, nothing, P> c({.capacity = capacity, .shards = 8}, [] {
        if constexpr (std::is_same_v<P, st::w_tinylfu>) return tinylfu();
        else return P{};
    });
    std::uint64_t hits = 0;
    for (const auto& run : t.runs)
        for (std::uint64_t k = run.first; k != run.first + run.count; ++k) {
            if (c.get(k)) ++hits;
            else c.put(k, nothing{});
        }
    return 100.0 * static_cast<double>(hits) / static_cast<double>(t.requests);
}

struct row_result {
    std::vector<double> pct;
};

const char* columns = "| lru | arc | s3fifo | sieve | w_tinylfu | w_tinylfu 20% window | sharded s3fifo (8) |";

std::vector<double> all_policies(const st::detail::trace& t, std::uint64_t c) {
    return {
        st::detail::replay<st::lru>(t, c).hit_ratio_percent(),
        st::detail::replay<st::arc>(t, c).hit_ratio_percent(),
        st::detail::replay<st::s3fifo>(t, c).hit_ratio_percent(),
        st::detail::replay<st::sieve>(t, c).hit_ratio_percent(),
        st::detail::replay<st::w_tinylfu>(t, c, tinylfu()).hit_ratio_percent(),
        st::detail::replay<st::w_tinylfu>(t, c, tinylfu(0.20)).hit_ratio_percent(),
        sharded<st::s3fifo>(t, c),
    };
}

// Bold for the best of the single-cache policies.
void print_cells(const std::vector<double>& pct) {
    double best = 0;
    for (std::size_t i = 0; i + 1 < pct.size(); ++i) best = std::max(best, pct[i]);
    for (std::size_t i = 0; i < pct.size(); ++i) {
        const bool bold = i + 1 < pct.size() && pct[i] == best;
        std::printf(bold ? " **%.2f** |" : " %.2f |", pct[i]);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    fs::path dir = fs::path(STOWAGE_SOURCE_DIR) / ".." / "shared" / "data" / "traces";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else dir = a;
    }
    if (!fs::exists(dir / "published_hit_ratios.csv")) {
        std::fprintf(stderr, "no traces at %s\n", dir.c_str());
        return 1;
    }
    const auto paper = read_paper(dir / "published_hit_ratios.csv");
    const auto started = std::chrono::steady_clock::now();

    std::printf("### ARC paper traces (hit ratio %%, cold start, c in 512-byte pages)\n\n");
    std::printf("| trace | c | paper LRU | paper ARC %s\n", columns);
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const std::vector<std::pair<std::string, std::vector<std::uint64_t>>> arc_traces = {
        {"OLTP", {1000, 2000, 5000, 10000, 15000}},
        {"P2", {8192, 32768, 131072}},
        {"P3", {8192, 32768, 131072}},
        {"P6", {8192, 32768, 131072}},
        {"P12", {4096, 32768, 131072, 524288}},
    };
    for (const auto& [name, sizes] : arc_traces) {
        if (quick && name != "OLTP") continue;
        const auto t = st::detail::read_trace((dir / "arc" / (name + ".lis.gz")).string(), st::detail::trace_format::arc);
        for (std::uint64_t c : sizes) {
            auto cell = [&](const char* policy) {
                auto it = paper.find({name, c, policy});
                if (it == paper.end()) return std::string("—");
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.2f", it->second);
                return std::string(buf);
            };
            std::printf("| %s | %llu | %s | %s |", name.c_str(), static_cast<unsigned long long>(c), cell("LRU").c_str(),
                        cell("ARC").c_str());
            print_cells(all_policies(t, c));
            std::fflush(stdout);
        }
    }

    std::printf("\n### LIRS traces (hit ratio %%)\n\n");
    std::printf("| trace | c %s\n", columns);
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const std::vector<std::pair<std::string, std::vector<std::uint64_t>>> lirs_traces = {
        {"loop", {512, 768}},  {"gli", {500, 1000}},  {"2_pools", {128, 512}}, {"sprite", {128, 512}},
        {"multi1", {512}},     {"multi2", {512}},     {"multi3", {512}},       {"cpp", {512}},
        {"cs", {512}},         {"ps", {512}},
    };
    for (const auto& [name, sizes] : lirs_traces) {
        const auto t =
            st::detail::read_trace((dir / "lirs" / (name + ".trace.gz")).string(), st::detail::trace_format::lirs);
        for (std::uint64_t c : sizes) {
            std::printf("| %s | %llu |", name.c_str(), static_cast<unsigned long long>(c));
            print_cells(all_policies(t, c));
        }
    }
    std::printf("\n(%.0f s)\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}
