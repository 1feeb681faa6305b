// cli/db_commands.hpp — the write-ahead log and transactions from the shell:
//
//   stowage stress DIR --writers W --transactions N --ops K [--durability full|batched]
//       W threads commit N transactions each; every transaction puts K
//       documents with ids "<txid>.<j>" (j = 0 .. K-1) into collection
//       "stress". After each commit returns, "committed <txid>" is printed on
//       its own line and stdout is flushed — so a process that SIGKILLs this
//       one knows exactly which transactions were acknowledged.
//   stowage wal dump DIR
//       one line per log record: "<lsn>\t<type>\t<size>\t<txid>\t<key>"
//       (size = payload bytes; key empty for commit records), damage to
//       stderr.
//
// Transaction ids come from the log and never repeat on the same directory.
// Thread safety: stress runs its writers concurrently through one database
// (that is the point: group commit); output lines are written whole.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>
#include <stowage/database.hpp>
#include <stowage/persistence_queue.hpp>
#include <stowage/storage/file.hpp>

#include "common.hpp"
#include "store_commands.hpp"

namespace stowage::cli {

namespace db_detail {

inline std::uint64_t positive(arguments& args, std::string_view name) {
    auto v = args.option(name);
    if (!v) throw usage_error(std::string(args.command()) + ": " + std::string(name) + " is required");
    try {
        if (v->empty() || v->front() < '0' || v->front() > '9') throw std::invalid_argument("");
        std::size_t used = 0;
        auto n = std::stoull(*v, &used);
        if (used != v->size() || n == 0) throw std::invalid_argument("");
        return n;
    } catch (const std::logic_error&) {
        throw usage_error(std::string(args.command()) + ": " + std::string(name) + " needs a positive integer, got '" +
                          *v + "'");
    }
}

inline int stress(arguments& args) {
    auto writers = positive(args, "--writers");
    auto transactions = positive(args, "--transactions");
    auto ops = positive(args, "--ops");
    // Each writer holds its open transaction's K documents in memory (about
    // 3 KB each) until it commits, and is a thread: bounded, or memory grew
    // without limit (--ops 18446744073709551615). Far above any useful run.
    constexpr std::uint64_t max_writers = 256, max_in_flight = 1000000;
    if (writers > max_writers)
        throw usage_error("stress: --writers " + std::to_string(writers) + " is above the limit of " +
                          std::to_string(max_writers) + " threads");
    if (ops > max_in_flight / writers)
        throw usage_error("stress: --writers x --ops (" + std::to_string(writers) + " x " + std::to_string(ops) +
                          ") is above the limit of " + std::to_string(max_in_flight) +
                          " documents held in memory at once (each writer's transaction holds its K documents "
                          "until it commits)");
    durability d = durability::full;
    if (auto mode = args.option("--durability")) {
        if (*mode == "batched") d = durability::batched;
        else if (*mode != "full") throw usage_error("stress: --durability must be full or batched, got '" + *mode + "'");
    }
    auto pos = args.positionals(1, 1);
    // DIR or rados:POOL:CONF (cli/location.hpp).
    return with_storage(pos[0], open_mode::read_write, [&](auto storage) {
        using S = decltype(storage);
        database<S> db(std::move(storage));
        db_store<json_document, S, gzip<json_codec>> docs(db.storage(), "stress");
        std::mutex out_mutex;
        std::vector<std::thread> threads;
        std::exception_ptr failure;
        std::mutex failure_mutex;
        for (std::uint64_t w = 0; w < writers; ++w) {
            threads.emplace_back([&, w] {
                try {
                    for (std::uint64_t t = 0; t < transactions; ++t) {
                        auto tx = db.transaction(d);
                        std::string txid = std::to_string(tx.id());
                        for (std::uint64_t j = 0; j < ops; ++j) {
                            json_document doc;
                            doc.set("id", txid + "." + std::to_string(j));
                            doc.set("writer", static_cast<std::int64_t>(w));
                            doc.set("j", static_cast<std::int64_t>(j));
                            doc.set("payload", std::string(200, static_cast<char>('a' + (j % 26))));
                            tx.put(docs, doc);
                        }
                        tx.commit();
                        std::string line = "committed " + txid + "\n";
                        std::lock_guard lock(out_mutex);
                        std::fwrite(line.data(), 1, line.size(), stdout);
                        std::fflush(stdout);
                    }
                } catch (...) {
                    std::lock_guard lock(failure_mutex);
                    if (!failure) failure = std::current_exception();
                }
            });
        }
        for (auto& t : threads) t.join();
        if (failure) std::rethrow_exception(failure);
        return exit_ok;
    });
}

// The seed app's bug as a runnable check: W writers read-modify-write one
// document through the persistence queue, each its own field.
template <class Storage>
int run_race(Storage& storage, std::uint64_t writers, std::uint64_t updates);

inline int race(arguments& args) {
    auto writers = positive(args, "--writers");
    auto updates = positive(args, "--updates");
    auto pos = args.positionals(1, 1);
    return with_storage(pos[0], open_mode::read_write, [&](auto storage) { return run_race(storage, writers, updates); });
}

template <class Storage>
int run_race(Storage& storage, std::uint64_t writers, std::uint64_t updates) {
    database<Storage> db(std::move(storage));
    db_store<json_document, Storage, gzip<json_codec>> docs(db.storage(), "race");
    persistence_queue<Storage> queue(db);
    std::vector<std::thread> threads;
    std::vector<std::vector<std::shared_future<void>>> results(writers);
    for (std::uint64_t w = 0; w < writers; ++w)
        threads.emplace_back([&, w] {
            std::string field = "w" + std::to_string(w);
            for (std::uint64_t i = 0; i < updates; ++i)
                results[w].push_back(queue.enqueue_update(docs, "session-1", [field](std::optional<json_document>& d) {
                    if (!d) {
                        d = json_document();
                        d->set("id", "session-1");
                    }
                    std::int64_t n = 0;
                    if (auto* v = d->find(field); v && v->is_number()) n = v->as_integer<std::int64_t>().value_or(0);
                    d->set(field, n + 1);
                }));
        });
    for (auto& t : threads) t.join();
    queue.flush();
    for (auto& r : results)
        for (auto& f : r) f.get();  // a failed update is an error, not a silent loss
    std::cout << "done" << std::endl;
    return exit_ok;
}

template <class Storage>
int dump_wal(Storage& storage);

inline int wal_command(arguments& args) {
    auto pos = args.positionals(2, 2);
    if (pos[0] != "dump") throw usage_error("wal: unknown subcommand '" + pos[0] + "' (expected dump)");
    return with_storage(pos[1], open_mode::read_only, [&](auto storage) { return dump_wal(storage); });
}

template <class Storage>
int dump_wal(Storage& storage) {
    wal<Storage> log(storage, "wal");
    std::vector<wal_damage> damage;
    std::string out;
    for (const auto& r : log.dump(&damage)) {
        std::string key;
        if (r.type != wal_record_type::commit && r.payload.size() >= 2) {
            auto n = static_cast<std::size_t>(detail::get_le(r.payload.data(), 2));
            if (r.payload.size() >= 2 + n) key = std::string(as_chars(bytes_view(r.payload).subspan(2, n)));
        }
        out += std::to_string(r.lsn) + '\t' + std::string(to_string(r.type)) + '\t' + std::to_string(r.payload.size()) +
               '\t' + std::to_string(r.txid) + '\t' + key + '\n';
        if (out.size() > (1 << 16)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    // What an interrupted append leaves at the end of the last segment is a
    // torn tail, not damage (recovery cuts it off).
    auto names = log.segment_names();
    std::size_t damaged = 0;
    for (const auto& d : damage) {
        bool torn = d.tail_like && !names.empty() && d.segment == names.back();
        print_error("wal " + d.segment + " at offset " + std::to_string(d.offset) + ": " + d.reason +
                    (torn ? " (a torn tail: an interrupted append, not damage)" : ""));
        damaged += !torn;
    }
    if (damaged)
        throw damage_found(std::to_string(damaged) + " damaged place" + (damaged == 1 ? "" : "s") +
                           " in the log (records there are not listed)");
    return exit_ok;
}

}  // namespace db_detail

inline constexpr command stress_command{
    "stress", "DIR --writers W --transactions N --ops K [--durability full|batched]",
    "commit transactions from many threads, printing each acknowledged one",
    "W threads commit N transactions each; each puts K documents \"<txid>.<j>\" into collection\n"
    "\"stress\". After each commit returns, \"committed <txid>\" is printed and flushed. Kill it at\n"
    "any moment: afterwards every printed transaction is complete and no other is partial.\n"
    "Limits (memory stays bounded: each open transaction holds its K documents, ~3 KB each):\n"
    "W at most 256, W x K at most 1000000; beyond them it exits 2 and writes nothing.",
    db_detail::stress};

inline constexpr command race_command{
    "race", "DIR --writers W --updates N", "the seed app's lost-update race, through the persistence queue",
    "W threads each enqueue N read-modify-write updates to document session-1 in collection\n"
    "\"race\", writer i incrementing its own field w<i>; then flush and print \"done\".\n"
    "Afterwards `stowage get DIR race session-1` shows w<i> = N for every i: no update lost.",
    db_detail::race};

inline constexpr command wal_dump_command{
    "wal", "dump DIR", "list the write-ahead log's records",
    "One line per record: <lsn>\\t<type>\\t<payload bytes>\\t<transaction>\\t<key>. Damage is\n"
    "reported on stderr, one line per damaged place, and exits 1.", db_detail::wal_command};

}  // namespace stowage::cli
