// cli/cas_commands.hpp — the content-addressable blob store from the shell:
//
//   stowage cas put DIR [--chunking whole|fixed:N|fastcdc:MIN:AVG:MAX] FILE...
//       "<digest>  <FILE>" per file, identical to sha256sum's output
//   stowage cas get DIR DIGEST > out        the blob, verified (exit 1 on damage)
//   stowage cas stats DIR                   "name: value" lines
//   stowage cas gc DIR                      free what nothing references
//   stowage cas ref DIR DIGEST OWNER NAME   add a reference
//   stowage cas unref DIR DIGEST OWNER      remove OWNER's references
//
// DIR may also be rados:POOL:CONF (cli/location.hpp) when built with librados.
//
// Chunking only matters when content goes in; every other command reads
// manifests, whatever chunking wrote them. A blob put and never referenced
// is freed by the next `cas gc` (the grace period of cas_map applies within
// one process; the data directory's lock keeps other writers out).
// Thread safety: single-threaded (one command per process).
#pragma once

#include <iostream>
#include <string>

#include <stowage/cas_map.hpp>
#include <stowage/chunk/fastcdc.hpp>
#include <stowage/chunk/fixed_size.hpp>
#include <stowage/chunk/whole.hpp>
#include <stowage/database.hpp>
#include <stowage/storage/file.hpp>

#include "common.hpp"
#include "hash_command.hpp"
#include "location.hpp"

namespace stowage::cli {

namespace cas_detail {

inline std::size_t parse_size(const std::string& s, const std::string& what) {
    try {
        std::size_t used = 0;
        if (s.empty() || s[0] < '0' || s[0] > '9') throw std::invalid_argument("");
        auto v = std::stoull(s, &used);
        if (used != s.size()) throw std::invalid_argument("");
        return static_cast<std::size_t>(v);
    } catch (const std::logic_error&) {
        throw usage_error("cas put: bad " + what + " '" + s + "' in --chunking");
    }
}

// Runs f(cas_map over the location's database) with the given chunking.
template <class Chunking = whole, class F>
int with_cas(const std::string& location, open_mode mode, F&& f, Chunking chunking = {}, cas_options o = {}) {
    return with_storage(location, mode, [&](auto storage) {
        using S = decltype(storage);
        database<S> db{std::move(storage)};
        cas_map<S, sha256, Chunking> cas(db, std::move(chunking), o);
        return f(cas);
    });
}

inline cas_options no_grace() {
    cas_options o;
    o.grace = std::chrono::seconds(0);
    return o;
}

template <class Chunking>
int put_with(const std::string& dir, const std::vector<std::string>& files, Chunking chunking) {
    return with_cas(
        dir, open_mode::read_write,
        [&](auto& cas) {
            for (const auto& f : files) {
                sha256::digest d = f == "-" ? cas.put(std::cin) : cas.put_file(f);
                std::cout << hash_detail::checksum_line(to_hex(d), f);
            }
            return exit_ok;
        },
        std::move(chunking), no_grace());
}

inline int put(arguments& args) {
    std::string chunking = args.option("--chunking").value_or("whole");
    auto pos = args.positionals(2);
    std::vector<std::string> files(pos.begin() + 1, pos.end());
    if (chunking == "whole") return put_with(pos[0], files, whole{});
    if (chunking.starts_with("fixed:")) return put_with(pos[0], files, fixed_size(parse_size(chunking.substr(6), "size")));
    if (chunking.starts_with("fastcdc:")) {
        auto rest = chunking.substr(8);
        auto a = rest.find(':');
        auto b = a == std::string::npos ? a : rest.find(':', a + 1);
        if (b == std::string::npos) throw usage_error("cas put: --chunking fastcdc needs MIN:AVG:MAX");
        return put_with(pos[0], files,
                        fastcdc(parse_size(rest.substr(0, a), "MIN"), parse_size(rest.substr(a + 1, b - a - 1), "AVG"),
                                parse_size(rest.substr(b + 1), "MAX")));
    }
    throw usage_error("cas put: --chunking must be whole, fixed:N or fastcdc:MIN:AVG:MAX, got '" + chunking + "'");
}

inline sha256::digest digest_arg(const std::string& hex) { return digest_from_hex<sha256>(hex); }

inline int get(arguments& args) {
    auto pos = args.positionals(2, 2);
    auto d = digest_arg(pos[1]);
    return with_cas(pos[0], open_mode::read_only, [&](auto& cas) {
        if (!cas.get(d, std::cout)) throw error(errc::not_found, "no blob " + pos[1]);
        return exit_ok;
    });
}

inline int stats(arguments& args) {
    auto pos = args.positionals(1, 1);
    return with_cas(pos[0], open_mode::read_only, [&](auto& cas) {
        auto s = cas.stats();
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.2f", s.dedup_ratio());
        std::cout << "logical_bytes: " << s.logical_bytes << "\nphysical_bytes: " << s.physical_bytes
                  << "\nblobs: " << s.blobs << "\nchunks: " << s.chunks << "\ndedup_ratio: " << ratio << "\n";
        return exit_ok;
    });
}

inline int gc(arguments& args) {
    auto pos = args.positionals(1, 1);
    return with_cas(
        pos[0], open_mode::read_write,
        [&](auto& cas) {
            auto r = cas.collect_garbage();
            std::cout << "blobs_freed: " << r.blobs_freed << "\nchunks_freed: " << r.chunks_freed
                      << "\nbytes_freed: " << r.bytes_freed << "\n";
            return exit_ok;
        },
        whole{}, no_grace());
}

inline int ref(arguments& args) {
    auto pos = args.positionals(4, 4);
    return with_cas(pos[0], open_mode::read_write, [&](auto& cas) {
        cas.add_ref(digest_arg(pos[1]), pos[2], pos[3]);
        return exit_ok;
    });
}

inline int unref(arguments& args) {
    auto pos = args.positionals(3, 3);
    return with_cas(pos[0], open_mode::read_write, [&](auto& cas) {
        if (cas.remove_ref(digest_arg(pos[1]), pos[2]) == 0)
            throw error(errc::not_found, pos[2] + " holds no reference to " + pos[1]);
        return exit_ok;
    });
}

inline int dispatch(arguments& args) {
    auto sub = args.subcommand();
    if (!sub) throw usage_error("cas: expected a subcommand (put, get, stats, gc, ref, unref)");
    if (*sub == "put") return put(args);
    if (*sub == "get") return get(args);
    if (*sub == "stats") return stats(args);
    if (*sub == "gc") return gc(args);
    if (*sub == "ref") return ref(args);
    if (*sub == "unref") return unref(args);
    throw usage_error("cas: unknown subcommand '" + *sub + "' (put, get, stats, gc, ref, unref)");
}

}  // namespace cas_detail

inline constexpr command cas_command{
    "cas", "put|get|stats|gc|ref|unref DIR ...", "content-addressed blobs: put, get, stats, gc, references",
    "  cas put DIR [--chunking whole|fixed:N|fastcdc:MIN:AVG:MAX] FILE...\n"
    "      store files (\"-\" = standard input); prints \"<sha256>  <FILE>\" as sha256sum does\n"
    "  cas get DIR DIGEST            write the blob, verified, to standard output\n"
    "  cas stats DIR                 logical_bytes, physical_bytes, blobs, chunks, dedup_ratio\n"
    "  cas gc DIR                    free blobs and chunks nothing references\n"
    "  cas ref DIR DIGEST OWNER NAME add a reference\n"
    "  cas unref DIR DIGEST OWNER    remove OWNER's references",
    cas_detail::dispatch};

}  // namespace stowage::cli
