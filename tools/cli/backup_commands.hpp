// cli/backup_commands.hpp — backups, export and import from the shell:
//
//   stowage backup create DIR [--root R]          a verified backup; prints its list line
//   stowage backup list DIR [--root R]            "<id>\t<time>\t<lsn>\t<files>\t<bytes>\t<verified|unverified|damaged>",
//                                                 oldest first
//   stowage backup verify DIR ID [--root R]       reads it all back; damage exits 1
//   stowage backup restore DIR ID [--root R]      backs up the current state, then swaps atomically
//   stowage backup rotate DIR [--keep-last N] [--keep-daily N] [--keep-weekly N] [--root R]
//   stowage export DIR [--attachments] > dump.jsonl
//   stowage import DIR FILE [--allow-unsigned] [--max-line BYTES] [--root R]
//   stowage import DIR --legacy COLLECTION FILE [--root R]
//   stowage repair DIR --log salvage|point-in-time|drop-applied [--dry-run] [--root R]
//                                                 recovers a damaged write-ahead log (docs/damage.md)
//   stowage repair DIR --rebuild-listings         rewrites every listing snapshot from the records
//   stowage repair DIR --from-backup ID [--root R] [--dry-run]
//                                                 "repaired\t<key>\t<problem>" per record or chunk replaced,
//                                                 "unrepairable\t<key>\t<problem>\t<why>" per one left;
//                                                 any unrepairable exits 1
//
// DIR may also be a Ceph pool, rados:POOL:CONF (location.hpp): backups of it
// are local directories like any other, but a pool has no directory beside
// it, so --root R is required there (a usage error without it); restore
// into a pool is one database transaction instead of a directory swap
// (backup.hpp says what each guarantees).
// The backup root defaults to "<DIR>.backups" (backup.hpp). create and
// import open DIR for writing, so they take its writer lock (a running
// writer makes them fail with "locked"; a backup of a live database is taken
// in-process through stowage::backups); export only reads, and opens DIR
// read-only. import checks the whole file before
// it opens DIR: a rejected file leaves DIR byte-for-byte unchanged.
// Long operations draw a progress bar (percentage and rate) on stderr when
// stderr is a terminal, and print nothing there otherwise.
// Thread safety: single-threaded (one command per process).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <unistd.h>

#include <stowage/backup.hpp>
#include <stowage/export.hpp>

#include "common.hpp"
#include "location.hpp"
#include "store_commands.hpp"

namespace stowage::cli {

namespace backup_detail {

// "\r[#####.....]  45%  1234/2740  812/s" on a terminal, at most ~10 times
// a second; nothing when stderr is not a terminal.
class progress_bar {
public:
    explicit progress_bar(std::string label) : label_(std::move(label)), on_(::isatty(2) == 1) {}
    ~progress_bar() {
        if (on_ && drawn_) std::fputs("\n", stderr);
    }
    backup_progress callback() {
        if (!on_) return {};
        return [this](std::uint64_t done, std::uint64_t total) { draw(done, total); };
    }

private:
    void draw(std::uint64_t done, std::uint64_t total) {
        auto now = std::chrono::steady_clock::now();
        if (drawn_ && done != total && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        drawn_ = true;
        double seconds = std::chrono::duration<double>(now - start_).count();
        int width = 30;
        int filled = total ? static_cast<int>(width * done / total) : width;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.append(static_cast<std::size_t>(width - filled), '.');
        unsigned percent = total ? static_cast<unsigned>(100 * done / total) : 100;
        std::fprintf(stderr, "\r%s [%s] %3u%%  %llu/%llu  %.0f/s ", label_.c_str(), bar.c_str(), percent,
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                     seconds > 0 ? done / seconds : 0.0);
        std::fflush(stderr);
    }

    std::string label_;
    bool on_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
};

inline std::size_t count(arguments& args, std::string_view name) {
    auto v = args.option(name);
    if (!v) return 0;
    try {
        if (v->empty() || v->front() < '0' || v->front() > '9') throw std::invalid_argument("");
        std::size_t used = 0;
        auto n = std::stoull(*v, &used);
        if (used != v->size()) throw std::invalid_argument("");
        return n;
    } catch (const std::logic_error&) {
        throw usage_error(std::string(args.command()) + ": " + std::string(name) + " needs a count, got '" + *v + "'");
    }
}

// A backup's list line; the last column is its state: verified, unverified
// or damaged (backup_state).
inline std::string line_of(const backup_info& b) {
    return b.id + '\t' + detail::backup_strftime(b.time, "%Y-%m-%dT%H:%M:%SZ") + '\t' + std::to_string(b.lsn) + '\t' +
           std::to_string(b.files) + '\t' + std::to_string(b.bytes) + '\t' + std::string(state_name(b.state));
}

// The backup root: --root R, else "<DIR>.backups" beside a directory; a
// pool has nothing beside it, so there --root is required.
inline std::filesystem::path root_for(const std::optional<std::string>& root, const std::string& location,
                                      const std::string& command) {
    if (root) return *root;
    if (is_pool(location))
        throw usage_error(command + ": --root DIR is required for " + location +
                          " (a pool has no directory beside it to keep backups in)");
    return backups::default_root(location);
}

inline int backup(arguments& args) {
    auto sub = args.subcommand();
    if (!sub) throw usage_error("backup: expected create, list, verify, restore or rotate");
    auto root = args.option("--root");
    auto root_of = [&](const std::string& location) { return root_for(root, location, "backup " + *sub); };
    if (*sub == "create") {
        auto pos = args.positionals(1, 1);
        backups bk(root_of(pos[0]));
        progress_bar bar("backup");
        // A directory is opened by the library: read-only when it cannot be written.
        auto info = !is_pool(pos[0]) ? bk.create(pos[0], bar.callback())
                                     : with_storage(pos[0], open_mode::read_write, [&](auto storage) {
                                           database<decltype(storage)> db(std::move(storage));
                                           return bk.create(db, bar.callback());
                                       });
        std::cout << line_of(info) << '\n';
        return exit_ok;
    }
    if (*sub == "list") {
        auto pos = args.positionals(1, 1);
        for (const auto& b : backups(root_of(pos[0])).list()) {
            std::cout << line_of(b) << '\n';
            if (b.state == backup_state::damaged) std::cerr << "stowage: backup " << b.id << " is damaged: " << b.problem << '\n';
        }
        return exit_ok;
    }
    if (*sub == "verify") {
        auto pos = args.positionals(2, 2);
        backups bk(root_of(pos[0]));
        progress_bar bar("verify");
        auto report = bk.verify(pos[1], bar.callback());
        for (const auto& p : report.problems) std::cout << p.file << '\t' << p.what << '\n';
        if (!report.ok())
            throw damage_found("backup " + pos[1] + ": " + std::to_string(report.problems.size()) + " damaged of " +
                               std::to_string(report.files) + " files");
        std::cout << "ok: backup " << pos[1] << ", " << report.files << " files, " << report.bytes << " bytes verified"
                  << (report.manifest_checked ? "" : " (its manifest has no checksum: written before format 2)") << '\n';
        return exit_ok;
    }
    if (*sub == "restore") {
        auto pos = args.positionals(2, 2);
        backups bk(root_of(pos[0]));
        progress_bar bar("restore");
        // A directory is swapped whole; a pool gets one transaction.
        auto report = !is_pool(pos[0]) ? bk.restore(pos[0], pos[1], bar.callback())
                                       : with_storage(pos[0], open_mode::read_write, [&](auto storage) {
                                             database<decltype(storage)> db(std::move(storage));
                                             return bk.restore(db, pos[1], bar.callback());
                                         });
        // Damage in the backup does not stop the restore; each damaged file
        // is named with what was restored in its place, and it exits 1.
        for (const auto& d : report.damaged) std::cout << "damaged\t" << d.key << '\t' << d.problem << '\t' << d.outcome << '\n';
        std::cout << "restored " << pos[1] << " into " << pos[0];
        if (report.previous) {
            std::cout << " (the previous state is backup " << report.previous->id;
            if (report.previous->state == backup_state::damaged) std::cout << ", " << state_name(report.previous->state) << ": " << report.previous->problem;
            std::cout << ")";
        }
        std::cout << '\n';
        if (!report.ok())
            throw damage_found("backup " + pos[1] + ": " + std::to_string(report.damaged.size()) + " damaged files (" +
                               std::to_string(report.unresolved) + " of them restored damaged or not at all, the rest " +
                               "intact); everything else was restored" +
                               (report.previous ? " (the state before is backup " + report.previous->id + ")" : ""));
        return exit_ok;
    }
    if (*sub == "rotate") {
        backup_keep keep;
        keep.last = count(args, "--keep-last");
        keep.daily = count(args, "--keep-daily");
        keep.weekly = count(args, "--keep-weekly");
        auto pos = args.positionals(1, 1);
        if (keep.last + keep.daily + keep.weekly == 0)
            throw usage_error("backup rotate: give at least one of --keep-last, --keep-daily, --keep-weekly");
        auto report = backups(root_of(pos[0])).rotate(keep);
        for (const auto& id : report.removed) std::cout << "removed\t" << id << '\n';
        for (const auto& id : report.kept) std::cout << "kept\t" << id << '\n';
        return exit_ok;
    }
    throw usage_error("backup: unknown subcommand '" + *sub + "' (expected create, list, verify, restore or rotate)");
}

inline int export_(arguments& args) {
    export_options o;
    o.attachments = args.flag("--attachments");
    auto pos = args.positionals(1, 1);
    progress_bar bar("export");
    o.progress = bar.callback();
    std::ios::sync_with_stdio(false);
    // Export only reads: opened read-only it takes no writer lock, so it
    // works on a read-only mount and beside a running writer (records
    // committed but not yet applied are read from the log all the same).
    auto report = with_storage(pos[0], open_mode::read_only, [&](auto storage) {
        database<decltype(storage)> db(std::move(storage));
        return export_database(db, std::cout, o);
    });
    // Always on stderr (stdout is the export): what was left out, and why
    // that loses nothing.
    std::map<std::string, std::size_t> index_keys;  // every key under an index's name is the index's
    std::size_t listings = 0, chunks = 0, other = 0;
    for (const auto& key : report.skipped_keys) {
        auto top = key.substr(0, key.find('/'));
        if (std::find(report.indexes.begin(), report.indexes.end(), top) != report.indexes.end()) index_keys[top]++;
        else if (key.ends_with("/listing")) listings++;
        else if (detail::backup_is_chunk_key(key)) chunks++;
        else other++;
    }
    std::string summary = "export: " + std::to_string(report.documents) + " documents from " +
                          std::to_string(report.collections.size()) + " collections, " +
                          std::to_string(report.attachments) + " attachments";
    std::string left_out;
    auto add = [&](const std::string& what) { left_out += (left_out.empty() ? "" : ", ") + what; };
    for (const auto& [name, n] : index_keys) {
        // An index the command attached (idx-<collection>) is attached again;
        // the TSV index is built again.
        std::string how = name.starts_with("idx-")
                              ? "attach it again with 'stowage index attach DIR " + name.substr(4) + " --field F...'"
                              : "rebuild it with 'stowage index build'";
        add("full-text index \"" + name + "\" (" + std::to_string(n) + " keys; " + how + ")");
    }
    if (listings) add(std::to_string(listings) + " listings (rebuilt from the documents)");
    if (chunks) add(std::to_string(chunks) + " CAS chunks (add --attachments to include them)");
    if (other) add(std::to_string(other) + " other keys that are not documents (internal data)");
    if (!left_out.empty()) summary += "; left out: " + left_out;
    std::fprintf(stderr, "%s\n", summary.c_str());
    // Damaged records do not stop the export: the file holds every other
    // document (its counts and trailer match), and the exit status says
    // what is missing.
    if (!report.damaged.empty())
        throw damage_found("export: " + std::to_string(report.damaged.size()) + " damaged record" +
                           (report.damaged.size() == 1 ? "" : "s") + " left out, every other document exported (" +
                           report.damaged.front().second + (report.damaged.size() > 1 ? "; ..." : "") +
                           "); 'stowage verify " + pos[0] + "' names them, 'stowage repair " + pos[0] +
                           " --from-backup ID' brings them back");
    return exit_ok;
}

inline int import(arguments& args) {
    import_options o;
    o.allow_unsigned = args.flag("--allow-unsigned");
    // A line longer than this is refused (bounded memory); a user with a
    // bigger document raises it rather than being locked out.
    if (auto max = args.option("--max-line")) {
        if (max->empty() || max->size() > 19 || max->find_first_not_of("0123456789") != std::string::npos ||
            std::stoull(*max) == 0)
            throw usage_error("import: --max-line needs a positive number of bytes, got '" + *max + "'");
        o.max_line = static_cast<std::size_t>(std::stoull(*max));
    }
    auto legacy = args.option("--legacy");
    auto root = args.option("--root");
    auto pos = args.positionals(2, 2);
    const std::string& dir = pos[0];
    auto backup_root = root_for(root, dir, "import");
    import_report report;
    if (!is_pool(dir)) {
        auto plan = legacy ? validate_legacy(*legacy, pos[1], o) : validate_import(pos[1], dir, o);
        report = apply_import(dir, plan, backup_root, o);
    } else {
        // The whole file is checked (the pool only read) before the pool is
        // opened for writing.
        auto plan = legacy ? validate_legacy(*legacy, pos[1], o)
                           : with_storage(dir, open_mode::read_only,
                                          [&](auto storage) { return validate_import(pos[1], storage, o); });
        report = with_storage(dir, open_mode::read_write, [&](auto storage) {
            database<decltype(storage)> db(std::move(storage));
            return apply_import(db, plan, backup_root, o);
        });
    }
    std::cout << "imported " << report.documents << " documents";
    if (report.attachments_written) std::cout << " and " << report.attachments_written << " attachments";
    std::cout << " in one transaction (backup " << report.backup_id << " holds the state before)\n";
    return exit_ok;
}

// `repair DIR --log MODE`: recovers the write-ahead log past damage that
// may hold acknowledged records, as `wal_recovery` MODE, then applies and
// checkpoints so that the damaged segments leave the log. First (even in a
// dry run) it reads the log both ways and says what the repair would lose:
// every transaction that salvage keeps and MODE does not, and every
// transaction that lost a record. The log's files are copied aside first
// (into the backup root), so nothing is lost that the repair could not
// give back.
inline int repair_log(const std::string& dir, const std::string& mode, bool dry_run, const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    if (is_pool(dir)) throw usage_error("repair --log: works on a data directory, not on " + dir);
    wal_recovery recovery;
    if (mode == "salvage") recovery = wal_recovery::salvage;
    else if (mode == "point-in-time") recovery = wal_recovery::point_in_time;
    else if (mode == "drop-applied") recovery = wal_recovery::tolerate_tail;
    else throw usage_error("repair: --log takes salvage, point-in-time or drop-applied, got '" + mode + "'");
    if (!fs::is_directory(dir)) throw error(errc::not_found, "no data directory " + dir + " (No such file or directory)");

    // What each mode keeps, read-only.
    auto read_log = [&](wal_recovery m, wal_recovery_report& report) {
        file_storage fs_ro(dir, open_mode::read_only);
        wal_options o;
        o.recovery = m;
        wal<file_storage> log(fs_ro, "wal", o);
        std::set<std::uint64_t> txids;
        for (const auto& tx : log.recover(report)) txids.insert(tx.txid);
        return txids;
    };
    wal_recovery_report salvaged, chosen;
    auto all = read_log(wal_recovery::salvage, salvaged);
    std::set<std::uint64_t> kept = all;
    if (recovery == wal_recovery::point_in_time) kept = read_log(recovery, chosen);
    std::size_t unapplied = 0;
    for (const auto& d : salvaged.damage) {
        if (d.torn_tail) continue;
        unapplied += !d.applied;
        std::cout << "damage\t" << d.segment << (d.segment.ends_with(".log") ? "@" + std::to_string(d.offset) : "")
                  << '\t' << d.reason << (d.applied ? " (already applied)" : "") << '\n';
    }
    if (recovery == wal_recovery::tolerate_tail && unapplied > 0)
        throw damage_found("repair --log drop-applied: " + std::to_string(unapplied) +
                           " damaged places may hold acknowledged records; use --log salvage or --log point-in-time "
                           "(add --dry-run to see what each would lose)");
    const char* lose = dry_run ? "would lose" : "lost";
    std::size_t lost = 0;
    for (const auto& [txid, why] : salvaged.dropped) {
        std::cout << lose << "\ttransaction " << txid << '\t' << why << '\n';
        ++lost;
    }
    for (auto txid : all)
        if (!kept.contains(txid)) {
            std::cout << lose << "\ttransaction " << txid << "\tcommitted after the first damage (point-in-time stops there)\n";
            ++lost;
        }
    std::string summary = std::to_string(kept.size()) + " unapplied transactions kept, " + std::to_string(lost) + " lost";
    if (unapplied > 0)
        summary += " (and whatever the " + std::to_string(unapplied) + " damaged place" + (unapplied == 1 ? "" : "s") +
                   " held, which cannot be read)";
    if (dry_run) {
        std::cout << "dry run: " << summary << "; nothing changed\n";
        return exit_ok;
    }

    // The log as it is, aside: every file but the reserve and reused ones.
    file_storage live(dir, open_mode::read_write);  // the writer lock, held to the end
    const fs::path wal_dir = fs::path(dir) / "wal";
    const fs::path aside = root / ("log-before-repair-" + detail::backup_strftime(std::chrono::system_clock::now(), "%Y%m%dT%H%M%SZ"));
    fs::create_directories(aside);
    std::vector<std::string> unexpected;
    if (fs::is_directory(wal_dir))
        for (const auto& entry : fs::directory_iterator(wal_dir)) {
            std::string name = entry.path().filename().string();
            if (name == "reserve" || name.ends_with(".free")) continue;
            if (entry.is_regular_file()) fs::copy_file(entry.path(), aside / name, fs::copy_options::overwrite_existing);
            bool own = name == "checkpoint" || (name.size() >= 24 && (name.ends_with(".log")));
            if (!own) unexpected.push_back(name);
        }
    for (const auto& name : unexpected) fs::remove_all(wal_dir / name);
    {
        database_options o;
        o.wal.recovery = recovery;
        database<file_storage> db(live, o);
        db.checkpoint();
    }
    // A transaction left out may be one whose journal entry an index had
    // already consumed (the index then holds what the records no longer
    // do): indexes rebuild from their collections before they next answer.
    if (lost > 0 || unapplied > 0) (void)request_rebuild(live);
    // The log must now open as any writer opens it.
    wal_recovery_report after;
    read_log(wal_recovery::tolerate_tail, after);
    std::cout << "kept\t" << aside.string() << "\t(the log before the repair)\n";
    std::cout << "ok: log recovered (" << mode << "): " << summary << '\n';
    return exit_ok;
}

// `repair DIR --rebuild-listings`: every collection's listing snapshot is
// rebuilt from the record headers (a derived file; verify names it when it
// is stale or damaged).
inline int rebuild_listings(const std::string& location) {
    return with_storage(location, open_mode::read_write, [&](auto storage) {
        using S = decltype(storage);
        std::set<std::string> collections;
        for (const auto& key : storage.list("")) {
            auto slash = key.find('/');
            if (slash == std::string::npos) continue;
            std::string top = key.substr(0, slash);
            if (store_detail::is_internal_top(top)) continue;
            if (key == top + "/listing" || is_record_key(top, key)) collections.insert(top);
        }
        database<S> db(storage);
        for (const auto& c : collections) {
            if (storage.contains(c + "/listing")) storage.remove(c + "/listing", durability::full);
            // Any collection, the library's own too: only the headers are read.
            db_store<json_document, S, gzip<json_codec>> st(db.storage(), detail::internal_collection{c});
            auto n = st.size();
            std::cout << "rebuilt\t" << c << "/listing\t" << n << " records\n";
            for (const auto& [key, what] : st.open_problems()) std::cout << "unlisted\t" << key << '\t' << what << '\n';
        }
        return exit_ok;
    });
}

inline int repair(arguments& args) {
    auto from = args.option("--from-backup");
    auto log_mode = args.option("--log");
    bool listings = args.flag("--rebuild-listings");
    auto root = args.option("--root");
    repair_options o;
    o.dry_run = args.flag("--dry-run");
    auto pos = args.positionals(1, 1);
    if (int(bool(from)) + int(bool(log_mode)) + int(listings) > 1)
        throw usage_error("repair: give one of --from-backup ID, --log MODE, --rebuild-listings");
    if (log_mode) return repair_log(pos[0], *log_mode, o.dry_run, root_for(root, pos[0], "repair"));
    if (listings) {
        if (o.dry_run) throw usage_error("repair: --rebuild-listings has no dry run (it only rewrites derived files)");
        return rebuild_listings(pos[0]);
    }
    if (!from)
        throw usage_error("repair: --from-backup ID, --log MODE or --rebuild-listings is required (see 'stowage backup list DIR')");
    backups bk(root_for(root, pos[0], "repair"));
    progress_bar bar("repair");
    o.progress = bar.callback();
    auto report = !is_pool(pos[0]) ? bk.repair(pos[0], *from, o)
                                   : with_storage(pos[0], open_mode::read_write, [&](auto storage) {
                                         database<decltype(storage)> db(std::move(storage));
                                         return bk.repair(db, *from, o);
                                     });
    const char* done = o.dry_run ? "would repair" : "repaired";
    for (const auto& r : report.repaired) std::cout << done << '\t' << r.key << '\t' << r.problem << '\n';
    for (const auto& r : report.unrepairable)
        std::cout << "unrepairable\t" << r.key << '\t' << r.problem << '\t' << r.outcome << '\n';
    std::string summary = std::to_string(report.records) + " records and " + std::to_string(report.chunks) +
                          " chunks checked, " + std::to_string(report.repaired.size()) + " " + done + " from backup " +
                          report.backup_id + ", " + std::to_string(report.unrepairable.size()) + " could not be repaired";
    if (!report.ok()) throw damage_found(summary);
    std::cout << "ok: " << summary << '\n';
    return exit_ok;
}

}  // namespace backup_detail

inline constexpr command backup_command{
    "backup", "create|list|verify|restore|rotate DIR [ID] [--root R] [--keep-last N --keep-daily N --keep-weekly N]",
    "verified backups of a data directory: create, list, verify, restore, rotate",
    "Backups live in R (default: DIR.backups beside DIR); each is a verified copy of one\n"
    "consistent state sharing no bytes with DIR (CAS chunks reflinked where the filesystem\n"
    "can, else copied), with a manifest that carries its own checksum. DIR may be\n"
    "rados:POOL:CONF, with --root R required; restore into a pool is one transaction.\n"
    "  create DIR          take a backup (takes DIR's writer lock; a DIR that cannot be\n"
    "                      written, e.g. a read-only mount, is read as it is); prints its list line\n"
    "  list DIR            one backup per line, oldest first:\n"
    "                      <id>\\t<time>\\t<lsn>\\t<files>\\t<bytes>\\t<verified|unverified|damaged>\n"
    "                      (damaged: its manifest is, or it holds a damaged state; why on stderr)\n"
    "  verify DIR ID       read every file back and check its digest; damage exits 1\n"
    "  restore DIR ID      back up the current state (also a damaged one), then replace DIR\n"
    "                      atomically; a damaged file of the backup is printed as\n"
    "                      \"damaged\\t<file>\\t<problem>\\t<what was restored instead>\", the rest\n"
    "                      is restored, and it exits 1\n"
    "  rotate DIR          keep --keep-last N, the newest of each of --keep-daily N days and\n"
    "                      --keep-weekly N ISO weeks (UTC), remove the rest",
    backup_detail::backup};

inline constexpr command export_command{
    "export", "DIR [--attachments] > dump.jsonl", "write every collection as JSON Lines (header, documents, trailer)",
    "A header line (format, version, time, collections), one {\"collection\",\"document\"}\n"
    "line per document, with --attachments one line per CAS chunk (base64), and a trailer\n"
    "with the document count and the SHA-256 of every byte before it. Collections whose\n"
    "records are neither JSON nor a known type are refused before anything is written.\n"
    "Derived data is left out, as it is rebuilt rather than restored: full-text indexes\n"
    "('stowage index build' again) and listings; a summary line on stderr names what was\n"
    "left out. DIR is opened read-only (no writer lock): export works on a read-only\n"
    "mount and beside a running writer, whose later commits it may or may not include.",
    backup_detail::export_};

inline constexpr command import_command{
    "import", "DIR FILE [--allow-unsigned] [--max-line BYTES] [--root R] | DIR --legacy COLLECTION FILE [--root R]",
    "check a whole export file, then apply it as one transaction after a backup",
    "Every line is checked before DIR is opened (header, version, trailer count and\n"
    "SHA-256, JSON syntax, ids, types, references); any problem names the line and exits\n"
    "with DIR unchanged. --allow-unsigned accepts a file without a trailer. --legacy\n"
    "imports a JSON array of documents (the seed app's file) into COLLECTION. The backup\n"
    "taken first goes to R (default: DIR.backups; required for rados:POOL:CONF).\n"
    "Documents go into a collection DIR already holds in the codec its records use\n"
    "(json and gzip+json are re-encoded); any other codec difference is refused, naming\n"
    "the collection and both codecs. A line may hold at most 16 MiB (16777216 bytes;\n"
    "--max-line raises it), so memory stays bounded; attachment lines as export writes\n"
    "them may be longer: they are decoded and written block by block.",
    backup_detail::import};

inline constexpr command repair_command{
    "repair", "DIR --from-backup ID [--root R] [--dry-run] | DIR --log salvage|point-in-time|drop-applied [--dry-run] | DIR --rebuild-listings",
    "replace damaged records and chunks from a backup; recover a damaged log; rebuild listings",
    "Checks every record and CAS chunk of DIR (needs DIR's writer lock). Each one that\n"
    "fails verification is replaced by its copy from backup ID when that copy is intact\n"
    "(all records in one transaction); the rest are listed as unrepairable and the\n"
    "command exits 1. Output: \"repaired\\t<key>\\t<problem>\" and\n"
    "\"unrepairable\\t<key>\\t<problem>\\t<why>\" lines, then a summary. --dry-run changes nothing.\n"
    "\n"
    "--log MODE recovers a damaged write-ahead log (the damage 'stowage verify' reports as\n"
    "\"acknowledged records may be lost\"): salvage keeps every intact transaction,\n"
    "point-in-time stops at the first damage, drop-applied only removes damage to records\n"
    "already applied. It prints \"damage\\t<where>\\t<problem>\" per damaged place and\n"
    "\"lost\\ttransaction <id>\\t<why>\" per transaction given up (\"would lose\" with\n"
    "--dry-run, which changes nothing), copies the log aside into R first (\"kept\\t<path>\"),\n"
    "then applies what it kept and retires the damaged segments.\n"
    "--rebuild-listings rewrites every collection's listing snapshot from its records.",
    backup_detail::repair};

}  // namespace stowage::cli
