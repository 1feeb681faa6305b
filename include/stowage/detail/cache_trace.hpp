// detail/cache_trace.hpp — reading cache traces and replaying them through a
// cache, for the trace tests, the benchmarks and `stowage cache-sim`.
//
// Formats (gzip'd or plain; zlib reads both):
//   arc   the ARC paper's .lis files: "start_block num_blocks ignore request_id"
//         per line, standing for num_blocks requests of consecutive 512-byte
//         blocks (the paper counts each block; Megiddo & Modha, FAST 2003)
//   lirs  one block number per line; lines holding "*" (checkpoints) and blank
//         lines are skipped (the LIRS authors' traces)
//   keys  one key per line, any text; blank lines skipped
// A replay starts cold (empty cache) and counts every request, compulsory
// misses included, as the ARC paper does.
//
// Thread safety: plain functions over caller-owned values.
#pragma once

#include "../cache.hpp"
#include "../error.hpp"

#include <zlib.h>

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stowage::detail {

enum class trace_format { arc, lirs, keys };

inline std::optional<trace_format> parse_trace_format(std::string_view s) noexcept {
    if (s == "arc") return trace_format::arc;
    if (s == "lirs") return trace_format::lirs;
    if (s == "keys") return trace_format::keys;
    return std::nullopt;
}

// arc for *.lis[.gz], lirs for *.trace[.gz], keys otherwise.
inline trace_format guess_trace_format(std::string_view path) noexcept {
    if (path.ends_with(".gz")) path.remove_suffix(3);
    if (path.ends_with(".lis")) return trace_format::arc;
    if (path.ends_with(".trace")) return trace_format::lirs;
    return trace_format::keys;
}

// A run of `count` consecutive keys starting at `first` (count is 1 except in
// arc traces). Kept compressed: P12 expands to 13 million requests.
struct trace_run {
    std::uint64_t first;
    std::uint64_t count;
};

struct trace {
    std::vector<trace_run> runs;
    std::uint64_t requests = 0;
};

namespace trace_detail {

inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

inline bool next_number(std::string_view& s, std::uint64_t& out) noexcept {
    s = trim(s);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || (p != s.data() + s.size() && *p != ' ' && *p != '\t')) return false;
    s.remove_prefix(static_cast<std::size_t>(p - s.data()));
    return true;
}

[[noreturn]] inline void bad_line(const std::string& path, std::uint64_t line, std::string_view why) {
    throw error(errc::bad_input, path + ":" + std::to_string(line) + ": " + std::string(why));
}

// Calls f(line) for each line of a gzip'd or plain file.
template <class F>
void for_each_line(const std::string& path, F&& f) {
    gzFile file = gzopen(path.c_str(), "rb");
    if (!file) throw error(errc::io, path + ": cannot open trace");
    std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
    gzbuffer(file, 1 << 17);
    std::string pending;
    std::vector<char> buf(1 << 17);
    for (;;) {
        const int n = gzread(file, buf.data(), static_cast<unsigned>(buf.size()));
        // zlib reports a truncated stream as a short read plus an error state.
        int code = Z_OK;
        const char* msg = gzerror(file, &code);
        if (n < 0 || (code != Z_OK && code != Z_STREAM_END))
            throw error(code == Z_ERRNO ? errc::io : errc::corrupt, path + ": " + (msg ? msg : "read failed"));
        if (n == 0) break;
        std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;) {
            if (pending.empty()) {
                f(chunk.substr(0, nl));
            } else {
                pending.append(chunk.substr(0, nl));
                f(std::string_view(pending));
                pending.clear();
            }
            chunk.remove_prefix(nl + 1);
        }
        pending.append(chunk);
    }
    if (!pending.empty()) f(std::string_view(pending));
}

}  // namespace trace_detail

inline trace read_trace(const std::string& path, trace_format format) {
    using namespace trace_detail;
    trace t;
    std::uint64_t line_no = 0;
    std::unordered_map<std::string, std::uint64_t> ids;  // keys format: text -> dense id
    for_each_line(path, [&](std::string_view raw) {
        ++line_no;
        std::string_view line = trim(raw);
        if (line.empty()) return;
        std::uint64_t first = 0, count = 1, ignore = 0;
        switch (format) {
            case trace_format::arc:
                if (!next_number(line, first) || !next_number(line, count) || !next_number(line, ignore) ||
                    !next_number(line, ignore) || !trim(line).empty())
                    bad_line(path, line_no, "expected 'start_block num_blocks ignore request_id'");
                if (count == 0) return;
                break;
            case trace_format::lirs:
                if (line == "*") return;
                if (!next_number(line, first) || !trim(line).empty())
                    bad_line(path, line_no, "expected one block number (or '*')");
                break;
            case trace_format::keys:
                first = ids.try_emplace(std::string(line), ids.size()).first->second;
                break;
        }
        // Consecutive singletons merge into one run (sequential scans stay small).
        if (!t.runs.empty() && t.runs.back().first + t.runs.back().count == first && format != trace_format::keys)
            t.runs.back().count += count;
        else
            t.runs.push_back({first, count});
        t.requests += count;
    });
    return t;
}

struct replay_result {
    std::uint64_t requests = 0;
    std::uint64_t hits = 0;
    double hit_ratio_percent() const noexcept {
        return requests ? 100.0 * static_cast<double>(hits) / static_cast<double>(requests) : 0.0;
    }
};

// Replays t through a cold cache of `capacity` unit-weight entries: each
// request is a get, and a miss puts the key.
template <eviction_policy Policy>
replay_result replay(const trace& t, std::uint64_t capacity, Policy policy = Policy{}) {
    struct nothing {};
    cache<std::uint64_t, nothing, Policy> c({.capacity = capacity}, std::move(policy));
    replay_result r;
    for (const trace_run& run : t.runs) {
        for (std::uint64_t k = run.first, end = run.first + run.count; k != end; ++k) {
            if (c.get(k)) {
                ++r.hits;
            } else {
                c.put(k, nothing{});
            }
        }
    }
    r.requests = t.requests;
    return r;
}

}  // namespace stowage::detail
