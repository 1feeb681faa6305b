// cli/store_commands.hpp — documents in a data directory:
//
//   stowage put DIR COLLECTION < doc.json    store a JSON object with a string "id"
//   stowage get DIR COLLECTION ID            print it as JSON
//   stowage ls DIR COLLECTION                "<id>\t<metadata JSON>" per document
//   stowage rm DIR COLLECTION ID             remove it
//   stowage verify DIR                       check every record's digest
//
// DIR may also be rados:POOL:CONF (a Ceph pool) when built with librados
// (location.hpp); put/get/ls/rm/verify then run against the cluster.
//
// Documents are json_document entities in a store<json_document, ...,
// gzip<json_codec>> per collection, opened through the directory's
// database (database.hpp): put and rm are transactions in the write-ahead
// log, durable when the command returns; get, ls and verify open the
// directory read-only (committed but not yet applied writes are read from
// the log), so they run beside a writing process. The metadata `ls` prints
// is the store's projection (the document's top-level scalars).
// Thread safety: single-threaded (one command per process).
#pragma once

#include <algorithm>
#include <chrono>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <stowage/cas_map.hpp>
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>
#include <stowage/database.hpp>
#include <stowage/storage/file.hpp>
#include <stowage/store.hpp>

#include "common.hpp"
#include "location.hpp"

namespace stowage::cli {

using document_db = database<file_storage>;
using document_store = db_store<json_document, file_storage, gzip<json_codec>>;

// How a command opens a database. Readers change nothing, so they salvage:
// every intact transaction is read past damage in the log, and a warning
// says that answers may lack what the damage held. Writers keep the
// default: damage that may hold acknowledged records stops them, and the
// message names `stowage repair DIR --log` (damage only to records already
// applied stops nobody; wal.hpp).
inline database_options options_for(open_mode mode) {
    database_options o;
    if (mode == open_mode::read_only) o.wal.recovery = wal_recovery::salvage;
    return o;
}

// One stderr line when recovery went past damage that may have held
// acknowledged records (not a torn tail, not already applied).
inline void warn_about_log_damage(const wal_recovery_report& r, const std::string& location) {
    std::size_t n = 0;
    for (const auto& d : r.damage) n += !d.torn_tail && !d.applied;
    if (n > 0)
        print_error("warning: the write-ahead log of " + location + " is damaged in " + std::to_string(n) +
                    " place" + (n == 1 ? "" : "s") + "; answers may lack transactions recorded there (see 'stowage verify " +
                    location + "' and 'stowage repair " + location + " --log salvage --dry-run')");
}

// f(store) with the collection's document store in the database at
// `location` (DIR, or rados:POOL:CONF; see location.hpp).
// The command's own search index lives in collection "index", and the index
// attached to collection C (`stowage index attach`) in collection "idx-C"
// (cli/index_commands.hpp): documents may not go there.
inline void validate_document_collection(const std::string& collection) {
    validate_client_collection(collection);
    if (collection == "index")
        throw error(errc::bad_input, "collection name \"index\" is reserved: it holds the stowage command's search "
                                     "index; choose another name");
    if (collection.starts_with("idx-"))
        throw error(errc::bad_input, "collection name \"" + collection + "\" is reserved: names starting with "
                                     "\"idx-\" hold the indexes 'stowage index attach' makes; choose another name");
}

template <class F>
int with_documents(const std::string& location, const std::string& collection, open_mode mode, F&& f) {
    validate_document_collection(collection);
    return with_storage(location, mode, [&](auto storage) {
        using S = decltype(storage);
        database<S> db(std::move(storage), options_for(mode));
        warn_about_log_damage(db.recovery(), location);
        db_store<json_document, S, gzip<json_codec>> st(db.storage(), collection);
        return f(st);
    });
}

// An id as one field of a tab-separated line: tab, newline, carriage return
// and backslash escaped as \t \n \r \\ (other bytes as they are).
inline void append_escaped_id(std::string& out, std::string_view id) {
    for (char c : id) {
        switch (c) {
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\\': out += "\\\\"; break;
            default: out += c;
        }
    }
}

namespace store_detail {

inline std::string read_stdin() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw error(errc::io, "cannot read standard input");
    return text;
}

inline int put(arguments& args) {
    auto pos = args.positionals(2, 2);
    std::string text = read_stdin();
    json_document doc = json_document::parse(text);  // bad_input names the position
    if (!doc.id()) throw error(errc::bad_input, "document on standard input has no string \"id\" field");
    return with_documents(pos[0], pos[1], open_mode::read_write, [&](auto& st) {
        st.put(doc);
        return exit_ok;
    });
}

// What verify prints (after "<key>\t") for a record or chunk whose hasher
// this build does not know: neither damage nor verified.
inline std::string unverifiable_note(std::string_view hasher_name) {
    return "unverifiable: written with hasher \"" + std::string(hasher_name.substr(0, 80)) +
           "\", which this build does not know (not checked; the program that wrote it can verify it)";
}

// A record the command cannot verify because its hasher is unknown (a
// client's own, registered only in the program that wrote it): says so,
// distinctly from damage (exit 3, not 1). Returns when that is not why.
template <class S>
void throw_if_unverifiable(const S& storage, const std::string& key) {
    std::optional<envelope_header> h;
    try {
        h = read_record_header(storage, key);
    } catch (const error&) {
        return;
    }
    if (!hasher_known(h->hasher)) throw error(errc::unsupported, key + ": " + unverifiable_note(h->hasher));
}

inline int get(arguments& args) {
    auto pos = args.positionals(3, 3);
    return with_documents(pos[0], pos[1], open_mode::read_only, [&](auto& st) {
        std::optional<json_document> doc;
        try {
            doc = st.get(pos[2]);
        } catch (const error& e) {
            if (e.kind() == errc::unsupported) throw_if_unverifiable(st.storage(), st.key_of(pos[2]));
            throw;
        }
        if (!doc) throw error(errc::not_found, "no document \"" + pos[2] + "\" in collection " + pos[1]);
        std::cout << doc->dump() << '\n';
        return exit_ok;
    });
}

inline int ls(arguments& args) {
    auto pos = args.positionals(2, 2);
    return with_documents(pos[0], pos[1], open_mode::read_only, [&](auto& st) {
    std::string out;
    for (const auto& entry : st.list()) {
        append_escaped_id(out, entry.id);
        out += '\t';
        entry.projection.write(out);
        out += '\n';
        if (out.size() > (1 << 16)) {
            std::cout << out;
            out.clear();
        }
    }
    std::cout << out;
    // Records whose header could not be read are not listed: say so, as
    // damage. (A stale listing snapshot was rebuilt: the lines are right.)
    auto problems = st.open_problems();
    std::erase_if(problems, [](const auto& p) { return p.first.ends_with("/listing"); });
    for (const auto& [key, what] : problems) print_error(key + ": " + what);
    if (!problems.empty())
        throw damage_found(std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                           " in collection " + pos[1] + " (see 'stowage verify " + pos[0] + "')");
    return exit_ok;
    });
}

inline int rm(arguments& args) {
    auto pos = args.positionals(3, 3);
    return with_documents(pos[0], pos[1], open_mode::read_write, [&](auto& st) {
        if (!st.erase(pos[2])) throw error(errc::not_found, "no document \"" + pos[2] + "\" in collection " + pos[1]);
        return exit_ok;
    });
}

inline bool verify_record_ok(bytes_view record, std::string_view key) {
    try {
        (void)check_record(record, key);
        return true;
    } catch (const error&) {
        return false;
    }
}

// Whether a top-level name holds files that are not collections of
// records (the log, the CAS's chunks): verify checks those on their own.
inline bool is_internal_top(std::string_view top) { return top == "wal" || top == "cas"; }

inline int verify(arguments& args) {
    auto pos = args.positionals(1, 1);
    return with_storage(pos[0], open_mode::read_only, [&](auto fs) {
    using S = decltype(fs);
    std::size_t records = 0, damaged = 0, wal_records = 0, unverifiable = 0;
    std::uint64_t bytes_read = 0;
    std::set<std::string> collections;
    auto report_damage = [&](const std::string& where, const std::string& what) {
        ++damaged;
        std::cout << where << '\t' << what << '\n';
    };
    // A record or chunk whose hasher this build does not know: printed, but
    // not damage (the exit code stays 0 when nothing else is found).
    auto report_unverifiable = [&](const std::string& where, std::string_view hasher_name) {
        ++unverifiable;
        std::cout << where << '\t' << unverifiable_note(hasher_name) << '\n';
    };
    // Keys with a committed version in the log that is not yet applied: a
    // writer's applier may be rewriting their files in place right now, and
    // after a crash such a file may be torn; either way the log holds the
    // version that the next open writes, so a damaged file there is not damage.
    std::set<std::string, std::less<>> pending;
    // The write-ahead log: every record's checksum, the checkpoint, files
    // that do not belong there, records missing below what the checkpoint
    // saw durable. A torn tail is what an interrupted (or still running)
    // append leaves, not damage.
    {
        wal_options o;
        o.recovery = wal_recovery::salvage;
        wal<S> log(fs, "wal", o);
        wal_recovery_report report;
        for (const auto& tx : log.recover(report))
            for (const auto& op : tx.ops) pending.insert(op.key);
        wal_records = report.records_read;
        for (const auto& d : report.damage) {
            if (d.torn_tail) continue;
            if (d.segment == "wal/checkpoint") {
                report_damage(d.segment, d.reason);
            } else if (d.reason.starts_with("unexpected file")) {
                report_damage(d.segment, d.reason + " ('stowage repair " + pos[0] + " --log drop-applied' moves it aside)");
            } else if (d.applied) {
                report_damage(d.segment + '@' + std::to_string(d.offset),
                              d.reason + " (already applied: nothing acknowledged is lost; the next write retires it, "
                                         "or 'stowage repair " + pos[0] + " --log drop-applied')");
            } else {
                report_damage(d.segment + (d.segment.ends_with(".log") ? "@" + std::to_string(d.offset) : ""),
                              d.reason + " (acknowledged records may be lost: 'stowage repair " + pos[0] +
                                  " --log salvage --dry-run' shows what recovery keeps)");
            }
        }
    }
    // Every record file: intact and bound to its key.
    std::map<std::string, std::set<std::string>> files_of;  // collection -> record keys
    std::set<std::string> listings;
    std::set<std::string, std::less<>> chunk_names;  // hex digests of the chunks there are
    std::vector<std::pair<std::string, bytes>> manifests;  // intact cas_blobs records: key, record
    // A whole file checked by `problem` (nullopt when it is sound): counted,
    // and reported when damaged or not a regular file. An I/O error (a
    // permission, a device) is not damage: it propagates (exit 3).
    auto check_file = [&](const std::string& key, auto problem) {
        ++records;
        try {
            auto data = fs.read(key);
            if (!data) {  // removed by a writer since the listing
                --records;
                return;
            }
            bytes_read += data->size();
            if (std::optional<std::string> what = problem(bytes_view(*data))) report_damage(key, *what);
        } catch (const error& e) {
            if (e.kind() != errc::corrupt) throw;
            report_damage(key, e.what());
        }
    };
    for (const auto& key : fs.list("")) {
        // Content-addressed chunks: the name is the digest of the content.
        if (key.starts_with("cas/") && key.rfind('/') > 4) {
            std::string_view hasher_name = std::string_view(key).substr(4, key.find('/', 4) - 4);
            if (hasher_name == "tmp") continue;
            chunk_names.insert(key.substr(key.rfind('/') + 1));
            if (!hasher_known(hasher_name)) {
                ++records;
                report_unverifiable(key, hasher_name);
                continue;
            }
            check_file(key, [&](bytes_view data) -> std::optional<std::string> {
                auto digest = digest_by_name(hasher_name, data);
                if (digest && to_hex(*digest) == key.substr(key.rfind('/') + 1)) return std::nullopt;
                return key + ": chunk content does not match its digest";
            });
            continue;
        }
        auto slash = key.find('/');
        if (slash == std::string::npos) continue;
        std::string top = key.substr(0, slash);
        if (is_internal_top(top)) continue;
        if (key == top + "/listing") {
            listings.insert(top);
            collections.insert(top);
            continue;
        }
        // A search index's segments (derived data, CRC-checked as a whole).
        if (key.starts_with(top + "/segments/")) {
            check_file(key, [](bytes_view v) -> std::optional<std::string> {
                if (v.size() >= 12 && as_chars(v.first(4)) == "STIX" &&
                    crc32c::of(v.first(v.size() - 4)) == detail::get_le(v.data() + v.size() - 4, 4))
                    return std::nullopt;
                return "index segment is damaged (derived data: rebuild the index from its documents)";
            });
            continue;
        }
        if (!is_record_key(top, key)) continue;
        collections.insert(top);
        files_of[top].insert(key);
        check_file(key, [&](bytes_view record) -> std::optional<std::string> {
            try {
                if (record_check r = check_record(record, key); !r.digest_checked) {
                    report_unverifiable(key, r.header.hasher);
                    return std::nullopt;
                }
                if (top == "cas_blobs") manifests.emplace_back(key, bytes(record.begin(), record.end()));
                return std::nullopt;
            } catch (const error& e) {
                if (pending.contains(key)) return std::nullopt;
                // A writer that started after the log was read may be
                // rewriting it (in place): read once more before calling it damage.
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                auto again = fs.read(key);
                const bool rewritten = again && !std::equal(again->begin(), again->end(), record.begin(), record.end());
                if (!again || (rewritten && verify_record_ok(*again, key))) return std::nullopt;
                return std::string(e.what());
            }
        });
    }
    // Every chunk a blob's manifest names exists (its content was checked
    // above). Manifests still only in the log are checked once applied.
    for (const auto& [key, record] : manifests) {
        try {
            envelope_header h = parse_envelope_header(record, key);
            cas_manifest m;
            binary_codec{}.decode(bytes_view(record).subspan(h.payload_offset), m);
            for (const auto& c : m.chunks)
                if (!chunk_names.contains(c.digest))
                    report_damage(key, "blob " + m.id + ": its chunk " + c.digest +
                                           " is missing (No such file; a backup may hold it: 'stowage repair " + pos[0] +
                                           " --from-backup ID')");
        } catch (const error& e) {
            report_damage(key, e.what());
        }
    }
    // The listing snapshots, which a writer's clean close leaves: intact,
    // and naming exactly the records there are. A record it lists that has
    // no file is a lost record (deleted, or replaced by something that is
    // not a regular file); a file it does not list, or a damaged snapshot,
    // is a stale derived file that the next writer rebuilds.
    for (const auto& c : listings) {
        const std::string listing_key = c + "/listing";
        std::optional<bytes> data;
        try {
            data = fs.read(listing_key);
        } catch (const error& e) {
            if (e.kind() != errc::corrupt) throw;
            report_damage(listing_key, std::string(e.what()) + " (derived: 'stowage repair " + pos[0] +
                                           " --rebuild-listings' rebuilds it)");
            continue;
        }
        if (!data) continue;
        auto entries = parse_listing_snapshot(*data);
        if (!entries) {
            report_damage(listing_key, "listing snapshot is damaged (derived: 'stowage repair " + pos[0] +
                                           " --rebuild-listings' rebuilds it)");
            continue;
        }
        const auto& files = files_of[c];
        std::set<std::string> listed;
        for (const auto& [id, json] : *entries) {
            std::string key = record_key(c, id);
            listed.insert(key);
            if (files.contains(key) || pending.contains(key)) continue;
            std::string what = "listed in " + listing_key + " but its record is missing";
            try {
                (void)fs.read(key);
                what += " (No such file)";
            } catch (const error& e) {
                if (e.kind() != errc::corrupt) throw;
                what = e.what();
            }
            report_damage(key, what + " (id \"" + id + "\"; a backup may hold it: 'stowage repair " + pos[0] +
                                   " --from-backup ID')");
        }
        for (const auto& key : files)
            if (!listed.contains(key) && !pending.contains(key))
                report_damage(key, "not in " + listing_key + " (stale derived file: 'stowage repair " + pos[0] +
                                       " --rebuild-listings' rebuilds it)");
    }
    const std::string unverified =
        unverifiable ? "; " + std::to_string(unverifiable) + " unverifiable (a hasher this build does not know)" : "";
    if (damaged)
        throw damage_found(std::to_string(damaged) + " damaged in " + pos[0] + " (" + std::to_string(records) +
                           " records, " + std::to_string(wal_records) + " log records checked)" + unverified);
    std::cout << "ok: " << records << " records in " << collections.size() << " collection"
              << (collections.size() == 1 ? "" : "s") << " and " << wal_records << " log records verified ("
              << bytes_read << " bytes of records)" << unverified << "\n";
    return exit_ok;
    });
}

}  // namespace store_detail

inline constexpr command put_command{
    "put", "DIR COLLECTION < doc.json", "store the JSON object on standard input (it needs a string \"id\")",
    "The document is kept exactly (every field, any nesting), gzip-compressed, and is on\n"
    "stable storage when the command returns. An existing document with that id is replaced.",
    store_detail::put};
inline constexpr command get_command{"get", "DIR COLLECTION ID", "print a document as JSON",
                                     "The record's digest is verified first; damage exits 1.", store_detail::get};
inline constexpr command ls_command{
    "ls", "DIR COLLECTION", "list documents: id, a tab, then the metadata as JSON",
    "The metadata is the document's top-level scalar fields (strings up to 256 bytes),\n"
    "kept in each record's header, so listing reads no documents.",
    store_detail::ls};
inline constexpr command rm_command{"rm", "DIR COLLECTION ID", "remove a document", "", store_detail::rm};
inline constexpr command verify_command{
    "verify", "DIR", "check every record's digest",
    "Checks every record's digest, every CAS chunk's content and every write-ahead-log\n"
    "record's checksum. Prints each\n"
    "damaged record as \"<key>\\t<problem>\" (log damage as \"<segment>@<offset>\\t<problem>\")\n"
    "and exits 1 if any; otherwise prints a summary and exits 0. A record written with a\n"
    "hasher this build does not know (a program's own) is printed as\n"
    "\"<key>\\tunverifiable: ...\": not damage, so alone it exits 0. Opens DIR read-only, so it\n"
    "can run while another process writes.",
    store_detail::verify};

}  // namespace stowage::cli
