// cli/cache_commands.hpp — `stowage cache-sim`: replays cache traces through
// a stowage::cache and prints the hit ratio.
//
//   stowage cache-sim --policy arc --capacity 1000 OLTP.lis.gz
//   requests: 914145
//   hits: 356015
//   hit_ratio: 38.9451%
//
// Each TRACE is replayed on its own, starting from an empty cache, and every
// request counts (compulsory misses included), as in the ARC paper. With more
// than one TRACE each block starts with "trace: <path>" and blocks are
// separated by a blank line. Traces are read by detail/cache_trace.hpp (gzip'd
// or plain). w_tinylfu's sketch seed is fixed (--seed) so runs repeat.
// Thread safety: single-threaded (one command per process).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <stowage/detail/cache_trace.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>

#include "common.hpp"

namespace stowage::cli {

namespace cache_sim_detail {

inline std::uint64_t positive_number(std::string_view option, const std::string& text) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || p != text.data() + text.size() || n == 0)
        throw usage_error("cache-sim: " + std::string(option) + " needs a positive integer, got '" + text + "'");
    return n;
}

inline detail::replay_result replay(std::string_view policy, const detail::trace& t, std::uint64_t capacity,
                                    std::uint64_t seed) {
    if (policy == "lru") return detail::replay<lru>(t, capacity);
    if (policy == "arc") return detail::replay<arc>(t, capacity);
    if (policy == "s3fifo") return detail::replay<s3fifo>(t, capacity);
    if (policy == "sieve") return detail::replay<sieve>(t, capacity);
    return detail::replay<w_tinylfu>(t, capacity, w_tinylfu(w_tinylfu::options{.seed = seed}));
}

inline std::string percent(double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f%%", value);
    return buf;
}

inline int cache_sim(arguments& args) {
    const auto policy = args.option("--policy");
    const auto capacity_text = args.option("--capacity");
    const auto format_text = args.option("--format");
    const auto seed_text = args.option("--seed");
    const auto traces = args.positionals(1);
    if (!policy) throw usage_error("cache-sim: --policy is required (lru, arc, s3fifo, sieve or w_tinylfu)");
    if (*policy != "lru" && *policy != "arc" && *policy != "s3fifo" && *policy != "sieve" && *policy != "w_tinylfu")
        throw usage_error("cache-sim: unknown policy '" + *policy + "' (lru, arc, s3fifo, sieve or w_tinylfu)");
    if (!capacity_text) throw usage_error("cache-sim: --capacity is required (a number of entries)");
    const std::uint64_t capacity = positive_number("--capacity", *capacity_text);
    const std::uint64_t seed = seed_text ? positive_number("--seed", *seed_text) : 1;
    std::optional<detail::trace_format> format;
    if (format_text) {
        format = detail::parse_trace_format(*format_text);
        if (!format) throw usage_error("cache-sim: unknown format '" + *format_text + "' (arc, lirs or keys)");
    }
    for (std::size_t i = 0; i < traces.size(); ++i) {
        const std::string& path = traces[i];
        const auto t = detail::read_trace(path, format ? *format : detail::guess_trace_format(path));
        const auto r = replay(*policy, t, capacity, seed);
        if (traces.size() > 1) std::cout << (i ? "\n" : "") << "trace: " << path << "\n";
        std::cout << "requests: " << r.requests << "\n"
                  << "hits: " << r.hits << "\n"
                  << "hit_ratio: " << percent(r.hit_ratio_percent()) << "\n";
    }
    return exit_ok;
}

}  // namespace cache_sim_detail

inline constexpr command cache_sim_command{
    "cache-sim",
    "--policy lru|arc|s3fifo|sieve|w_tinylfu --capacity N [--format arc|lirs|keys] TRACE...",
    "replay cache traces and print the hit ratio",
    "Replays each TRACE (gzip'd or plain) through a cache of N entries that\n"
    "starts empty, and prints 'requests: R', 'hits: H' and 'hit_ratio: P%'\n"
    "(4 decimals); every request counts, compulsory misses included.\n"
    "  --policy P     lru, arc, s3fifo, sieve or w_tinylfu\n"
    "  --capacity N   cache size in entries (blocks)\n"
    "  --format F     arc:  'start_block num_blocks ignore request_id' per line,\n"
    "                       num_blocks requests of consecutive 512-byte blocks\n"
    "                 lirs: one block number per line, '*' lines skipped\n"
    "                 keys: one key per line\n"
    "                 default: arc for *.lis[.gz], lirs for *.trace[.gz], else keys\n"
    "  --seed S       w_tinylfu's sketch seed (default 1, so runs repeat)\n"
    "With several TRACEs each is replayed cold and its block starts with\n"
    "'trace: <path>'. A malformed line is reported as FILE:LINE, exit 2.",
    &cache_sim_detail::cache_sim,
};

}  // namespace stowage::cli
