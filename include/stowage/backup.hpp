// backup.hpp — verified, rotated backups of a database, and restore.
//
//   stowage::backups bk(stowage::backups::default_root("data"));   // "data.backups"
//   auto info = bk.create(db);                // consistent while writers run
//   for (auto& b : bk.list()) ...            // oldest first
//   bk.rotate({.last = 7, .daily = 7, .weekly = 4});
//   bk.restore("data", info.id);              // no writer may hold "data"
//   bk.repair("data", info.id);               // damaged records from the backup
//   stowage::auto_backup ab(db, bk, {.on_open = true, .every = 30min});
//
//   database<rados_storage> pool{rados_storage(o)};   // any Storage policy:
//   stowage::backups pb("/var/backups/notes");        // a root must be named
//   pb.create(pool);  pb.restore(pool, id);  pb.repair(pool, id);
//
// The database may be on any Storage policy; the backup itself is always a
// local directory tree under the root, made and verified the same way.
// What a backup is. create() pins a database snapshot (database.hpp) and
// writes every key visible at that LSN, except the write-ahead log, into
// "<root>/<id>.partial/" — a plain data directory whose files are the
// snapshot fully applied — plus "wal/checkpoint" at the snapshot's LSN, so a
// database opened on it continues the LSN and transaction-id sequences.
// Content-addressed chunks ("cas/<hasher>/..", immutable, named by their
// digest) are hard-linked instead of copied when the database is a
// file_storage on the root's filesystem (from any other storage they are
// copied out, block by block); every other file is a copy, so later writes
// to the database never change a backup. The id is "<UTC YYYYMMDDTHHMMSSZ>-<lsn>" (with
// ".N" appended when taken twice within a second at one LSN).
//
// Guarantees.
//   - Consistency: a backup holds exactly the transactions committed up to
//     its LSN and nothing after it, whatever writers do meanwhile (the
//     snapshot keeps newer versions out of the files it reads).
//   - Verified or an error: the manifest (".stowage-backup.json": id, time,
//     LSN, every file's size and SHA-256) is written, everything is synced
//     (syncfs, or fsync per file and directory), the page cache is dropped
//     for each file and every file is read back and checked against the
//     manifest, every record's envelope digest and every chunk's name; only
//     then is a ".stowage-verified" marker written and "<id>.partial" renamed
//     to "<id>" (the directory synced). A crash leaves either no backup (a
//     ".partial" that the next create/rotate/restore removes) or a complete,
//     verified one. A backup that fails verification is removed and create()
//     throws; it never reports success.
//   - Restore: restore(dir, id) copies the backup into "<dir>.restoring",
//     checking every digest on the way (a damaged backup is refused before
//     dir is touched), syncs it, takes dir's writer lock (errc::locked while
//     any writer has it open), makes a backup of the current state, then
//     swaps the copy with dir in one renameat2(RENAME_EXCHANGE)
//     and syncs the parent; the old state is then removed. A crash leaves dir
//     holding either the old state or the restored one, never a mix; the
//     leftover "<dir>.restoring" is removed by the next restore.
//   - Restore into a database (restore(db, id), any Storage policy; how a
//     RADOS pool is restored, as a pool cannot be swapped): every file of
//     the backup is read and checked against the manifest, the record
//     envelopes and the chunk names first (a damaged backup is refused,
//     checksum_mismatch, before the database changes); a backup of the
//     current state is taken; CAS chunks missing or differing are written
//     outside the log (immutable, named by their digest, as cas_map writes
//     them); then ONE transaction puts every other key of the backup and
//     erases every key the backup lacks (the WAL's own keys excepted), and
//     is applied before restore() returns. The WAL makes it atomic: a crash
//     leaves the old state (plus unreferenced chunks, which GC removes) or,
//     once committed, the restored one. Restored records carry the commit's
//     LSN (the database's log continues; it never goes back). Limits: the
//     transaction — every non-chunk value of the backup — is held in memory
//     until applied, and a storage that caps one write (rados_storage:
//     osd_max_write_size, 90 MB by default; the WAL appends a transaction in
//     one write) refuses a larger restore up front with errc::unsupported,
//     nothing changed: it is never split into pieces a crash could leave
//     half applied. No other writer, and no store, may use the database
//     meanwhile (a store's in-memory listing would miss the change).
//   - Repair: repair(dir, id) (or repair(db, id) on any Storage policy)
//     checks every record and CAS chunk and replaces those that fail
//     verification with their copies from a verified backup (each copy
//     checked again), in one transaction; what cannot be repaired is
//     reported, nothing else changes.
//   - Rotation keeps backups as restic's `forget` does (UTC days and ISO
//     weeks): the `last` newest, the newest of each of the `daily` most
//     recent days that have backups, the newest of each of the `weekly` most
//     recent weeks; a backup kept by any rule, or pinned (pin(id): a
//     migration's rollback point while it runs), stays. A removed backup is
//     first renamed away (atomically), so a crash never leaves a half-deleted
//     backup under its id.
//
// Limits: Linux (renameat2, syncfs); a database on another storage has no
// default root (name one); chunk files are shared by hard links,
// so damage to a chunk file's blocks shows in every backup linking it
// (verify() finds it); a CAS chunk freed by garbage collection while a
// backup runs makes create() fail with errc::conflict (try again).
//
// Thread safety: operations on one root are serialized by an exclusive
// flock(2) on "<root>/.lock" (across threads and processes); list() reads
// only finished backups and takes no lock. create() may run beside any
// number of writers of the database.
// Durability: full — every returned create/rotate/restore is on stable
// storage.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <cstdio>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.hpp"
#include "codec/json_document.hpp"
#include "database.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "hash/blake2b.hpp"
#include "hash/crc32c.hpp"
#include "hash/hex.hpp"
#include "hash/sha256.hpp"
#include "storage/file.hpp"
#include "storage/platform.hpp"
#include "store.hpp"

namespace stowage {

// Called with (items done, items total) as a long operation proceeds.
using backup_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct backup_options {
    // The time a backup is stamped with (tests pass a fake clock).
    std::function<std::chrono::system_clock::time_point()> clock;
    // Hard-link immutable chunk files instead of copying them.
    bool link_immutable = true;
};

struct backup_info {
    std::string id;
    std::chrono::system_clock::time_point time;
    std::uint64_t lsn = 0;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;         // sum of file sizes
    std::uint64_t linked_bytes = 0;  // of which shared by hard link
    bool verified = false;           // passed its last verification
};

struct backup_problem {
    std::string file;  // path inside the backup
    std::string what;
};

struct backup_verify_report {
    std::string id;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::vector<backup_problem> problems;
    bool ok() const { return problems.empty(); }
};

// How many backups rotate() keeps (restic's --keep-last/-daily/-weekly).
struct backup_keep {
    std::size_t last = 0;
    std::size_t daily = 0;
    std::size_t weekly = 0;
};

struct backup_rotate_report {
    std::vector<std::string> kept;     // oldest first
    std::vector<std::string> removed;  // oldest first
};

struct backup_restore_report {
    std::optional<backup_info> previous;  // the backup of the state that was replaced
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t lsn = 0;  // restore into a database: the commit LSN of its transaction
};

// One damaged record or chunk that repair() found.
struct repair_item {
    std::string key;      // storage key in the data directory
    std::string problem;  // what verification found
    std::string outcome;  // repaired: where the copy came from; else why it could not be
};

struct repair_options {
    bool dry_run = false;  // find and check everything, change nothing
    backup_progress progress;
};

struct repair_report {
    std::string backup_id;
    std::uint64_t records = 0;  // records checked
    std::uint64_t chunks = 0;   // CAS chunks checked
    std::vector<repair_item> repaired;     // (with dry_run: would be repaired)
    std::vector<repair_item> unrepairable;
    bool dry_run = false;
    bool ok() const { return unrepairable.empty(); }
};

namespace detail {

namespace fs = std::filesystem;

inline constexpr std::string_view backup_manifest_name = ".stowage-backup.json";
inline constexpr std::string_view backup_marker_name = ".stowage-verified";
inline constexpr std::string_view backup_format = "stowage-backup";
inline constexpr std::uint64_t backup_format_version = 1;

struct backup_file {
    std::string path;  // storage key, relative to the backup directory
    std::uint64_t size = 0;
    std::string sha256;  // hex
    bool linked = false;
};

struct backup_manifest {
    std::string id;
    std::int64_t time_ms = 0;
    std::uint64_t lsn = 0;
    std::string reason;
    std::vector<backup_file> files;
};

inline std::tm backup_utc(std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    return tm;
}

inline std::string backup_strftime(std::chrono::system_clock::time_point t, const char* format) {
    std::tm tm = backup_utc(t);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
    return std::string(buf, n);
}

inline std::int64_t backup_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Whether key is a content-addressed chunk: "cas/<hasher>/<2 hex>/<hex>".
inline bool backup_is_chunk_key(std::string_view key) {
    if (!key.starts_with("cas/") || key.starts_with("cas/tmp/")) return false;
    auto a = key.find('/', 4);
    if (a == std::string_view::npos) return false;
    auto b = key.find('/', a + 1);
    return b == a + 3 && key.find('/', b + 1) == std::string_view::npos && b + 1 < key.size();
}

// Whether key is a store record ("<collection>/<2 hex>/<escaped id>").
inline bool backup_is_record_key(std::string_view key) {
    auto slash = key.find('/');
    return slash != std::string_view::npos && is_record_key(key.substr(0, slash), key);
}

// An exclusive flock(2) held for the object's life (waits for it).
class backup_flock {
public:
    explicit backup_flock(const fs::path& file) {
        fd_ = open_fd(file.string(), O_RDWR | O_CREAT);
        if (!fd_) throw_errno(errno, "open lock file " + file.string());
        int r;
        do { r = ::flock(fd_.get(), LOCK_EX); } while (r != 0 && errno == EINTR);
        if (r != 0) throw_errno(errno, "lock " + file.string());
    }

private:
    unique_fd fd_;
};

inline void backup_sync_dir(const fs::path& dir) {
    if (int e = platform::sync_directory(dir.string())) throw_errno(e, "sync directory " + dir.string());
}

inline fs::path backup_parent_of(const fs::path& p) {
    fs::path abs = fs::absolute(p).lexically_normal();
    if (!abs.has_filename()) abs = abs.parent_path();
    return abs.parent_path();
}

// Everything under dir on stable storage: one syncfs(2), or (where there is
// none) fsync of every file and directory.
inline void backup_sync_tree(const fs::path& dir) {
    int e = platform::sync_filesystem(dir.string());
    if (e == 0) return;
    if (e != ENOTSUP) throw_errno(e, "sync file system of " + dir.string());
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
        if (it->is_directory()) {
            backup_sync_dir(it->path());
        } else if (it->is_regular_file()) {
            auto fd = open_fd(it->path().string(), O_RDONLY);
            if (!fd) throw_errno(errno, "open " + it->path().string());
            if (int e2 = platform::sync_data(fd.get())) throw_errno(e2, "sync " + it->path().string());
        }
    }
    backup_sync_dir(dir);
}

inline void backup_rename(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) throw_errno(errno, "rename " + from.string() + " to " + to.string());
}

inline void backup_remove_all(const fs::path& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec) throw_errno(ec.value(), "remove " + p.string());
}

inline void backup_make_parents(const fs::path& file) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) throw_errno(ec.value(), "create directory " + file.parent_path().string());
}

// Writes data to a new file (not synced: the caller syncs the tree).
inline void backup_write_file(const fs::path& path, bytes_view data) {
    backup_make_parents(path);
    auto fd = open_fd(path.string(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd) throw_errno(errno, "create " + path.string());
    if (int e = write_all(fd.get(), data)) throw_errno(e, "write " + path.string());
}

// Reads a file block by block, handing each block to fn. With drop_cache
// the file's cached pages are dropped first (it must be synced), so the
// bytes come from the device, not from memory.
template <class Fn>
void backup_read_blocks(const fs::path& path, bool drop_cache, Fn fn) {
    auto fd = open_fd(path.string(), O_RDONLY);
    if (!fd) throw_errno(errno, "open " + path.string());
    if (drop_cache) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    bytes block(1 << 20);
    std::uint64_t offset = 0;
    for (;;) {
        std::size_t got = 0;
        if (int e = pread_all(fd.get(), block.data(), block.size(), offset, got)) throw_errno(e, "read " + path.string());
        if (got == 0) break;
        fn(bytes_view(block).first(got));
        offset += got;
        if (got < block.size()) break;
    }
}

// Copies src to dst block by block (dst created, not synced); returns the
// SHA-256 (hex) of what was copied and its size.
inline std::string backup_copy_file(const fs::path& src, const fs::path& dst, std::uint64_t& size) {
    backup_make_parents(dst);
    auto out = open_fd(dst.string(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!out) throw_errno(errno, "create " + dst.string());
    sha256 h;
    size = 0;
    backup_read_blocks(src, false, [&](bytes_view b) {
        h.update(b);
        size += b.size();
        if (int e = write_all(out.get(), b)) throw_errno(e, "write " + dst.string());
    });
    return to_hex(h.finish());
}

inline std::string backup_hash_file(const fs::path& path, bool drop_cache, std::uint64_t& size) {
    sha256 h;
    size = 0;
    backup_read_blocks(path, drop_cache, [&](bytes_view b) {
        h.update(b);
        size += b.size();
    });
    return to_hex(h.finish());
}

// The 28-byte WAL checkpoint file (wal.hpp's format): a database opened on
// the backup starts its log after `lsn`, with transaction ids from `txid`.
inline bytes backup_wal_checkpoint(std::uint64_t lsn, std::uint64_t next_txid) {
    bytes out;
    append(out, as_bytes("STWC"));
    put_le(out, 1, 4);
    put_le(out, lsn, 8);
    put_le(out, next_txid, 8);
    put_le(out, crc32c::of(out), 4);
    return out;
}

inline std::string backup_manifest_json(const backup_manifest& m) {
    json_value::array files;
    files.reserve(m.files.size());
    for (const auto& f : m.files) {
        json_value::object o;
        o.emplace_back("path", f.path);
        o.emplace_back("size", f.size);
        o.emplace_back("sha256", f.sha256);
        o.emplace_back("linked", f.linked);
        files.emplace_back(std::move(o));
    }
    json_document doc;
    doc.set("format", backup_format);
    doc.set("version", backup_format_version);
    doc.set("id", m.id);
    doc.set("time", backup_strftime(std::chrono::system_clock::time_point(std::chrono::milliseconds(m.time_ms)),
                                    "%Y-%m-%dT%H:%M:%SZ"));
    doc.set("time_ms", m.time_ms);
    doc.set("lsn", m.lsn);
    doc.set("reason", m.reason);
    doc.set("files", std::move(files));
    return doc.dump() + "\n";
}

inline backup_manifest backup_parse_manifest(std::string_view text, const std::string& where) {
    auto fail = [&](const std::string& why) -> error {
        return error(errc::corrupt, "backup manifest " + where + ": " + why);
    };
    json_document doc;
    try {
        doc = json_document::parse(text);
    } catch (const error& e) {
        throw fail(e.what());
    }
    auto str = [&](const json_value* v, const char* name) -> std::string {
        if (!v || !v->is_string()) throw fail(std::string("missing string \"") + name + "\"");
        return v->as_string();
    };
    auto num = [&](const json_value* v, const char* name) -> std::uint64_t {
        std::optional<std::uint64_t> n;
        if (v && v->is_number()) n = v->as_integer<std::uint64_t>();
        if (!n) throw fail(std::string("missing unsigned integer \"") + name + "\"");
        return *n;
    };
    if (str(doc.find("format"), "format") != backup_format) throw fail("not a stowage backup manifest");
    if (auto v = num(doc.find("version"), "version"); v != backup_format_version)
        throw error(errc::unsupported, "backup manifest " + where + ": version " + std::to_string(v) +
                                           " (this build reads version 1)");
    backup_manifest m;
    m.id = str(doc.find("id"), "id");
    m.time_ms = static_cast<std::int64_t>(num(doc.find("time_ms"), "time_ms"));
    m.lsn = num(doc.find("lsn"), "lsn");
    if (auto* r = doc.find("reason"); r && r->is_string()) m.reason = r->as_string();
    const json_value* files = doc.find("files");
    if (!files || !files->is_array()) throw fail("missing array \"files\"");
    for (const auto& f : files->as_array()) {
        if (!f.is_object()) throw fail("file entry is not an object");
        backup_file bf;
        bf.path = str(f.find("path"), "path");
        bf.size = num(f.find("size"), "size");
        bf.sha256 = str(f.find("sha256"), "sha256");
        const json_value* linked = f.find("linked");
        bf.linked = linked && linked->is_bool() && linked->as_bool();
        if (!valid_key(bf.path)) throw fail("file path \"" + bf.path.substr(0, 80) + "\" is not a storage key");
        m.files.push_back(std::move(bf));
    }
    return m;
}

inline std::string backup_read_text(const fs::path& path) {
    std::string out;
    backup_read_blocks(path, false, [&](bytes_view b) { out.append(as_chars(b)); });
    return out;
}

// The digest a chunk's name claims, computed over its content.
inline std::optional<std::string> backup_chunk_digest(std::string_view hasher_name, const fs::path& path) {
    auto run = [&](auto h) {
        backup_read_blocks(path, false, [&](bytes_view b) { h.update(b); });
        auto d = h.finish();
        return to_hex(bytes_view(reinterpret_cast<const std::byte*>(d.data()), d.size()));
    };
    if (hasher_name == sha256::name) return run(sha256{});
    if (hasher_name == blake2b::name) return run(blake2b{});
    return std::nullopt;
}

// Reads every file of a backup directory back and checks it against the
// manifest (size, SHA-256), records against their envelope digests and
// chunks against their names; files the manifest does not list are
// problems too.
inline void backup_check_dir(const fs::path& dir, const backup_manifest& m, bool drop_cache,
                             backup_verify_report& report, const backup_progress& progress) {
    report.id = m.id;
    std::set<std::string> listed;
    std::uint64_t done = 0;
    for (const auto& f : m.files) {
        listed.insert(f.path);
        fs::path p = dir / f.path;
        try {
            std::uint64_t size = 0;
            std::string digest;
            if (backup_is_record_key(f.path)) {
                bytes content;
                backup_read_blocks(p, drop_cache, [&](bytes_view b) { append(content, b); });
                size = content.size();
                digest = to_hex(hash_of<sha256>(content));
                if (digest == f.sha256) verify_record(content, f.path);
            } else {
                digest = backup_hash_file(p, drop_cache, size);
            }
            report.files++;
            report.bytes += size;
            if (size != f.size)
                report.problems.push_back({f.path, "size " + std::to_string(size) + ", manifest says " + std::to_string(f.size)});
            else if (digest != f.sha256)
                report.problems.push_back({f.path, "SHA-256 does not match the manifest"});
            else if (backup_is_chunk_key(f.path)) {
                auto a = f.path.find('/', 4);
                std::string_view hasher_name = std::string_view(f.path).substr(4, a - 4);
                auto name_digest = hasher_name == sha256::name ? std::optional<std::string>(digest)
                                                               : backup_chunk_digest(hasher_name, p);
                if (name_digest && *name_digest != f.path.substr(f.path.rfind('/') + 1))
                    report.problems.push_back({f.path, "chunk content does not match its name"});
            }
        } catch (const error& e) {
            report.problems.push_back({f.path, e.what()});
        }
        if (progress) progress(++done, m.files.size());
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = it->path().lexically_relative(dir).generic_string();
        if (rel == backup_manifest_name || rel == backup_marker_name) continue;
        if (!listed.count(rel)) report.problems.push_back({rel, "file not listed in the manifest"});
    }
    if (ec) report.problems.push_back({dir.string(), "cannot list: " + ec.message()});
}

// A storage whose keys are files (file_storage): chunks can be hard-linked.
template <class S>
concept backup_has_files = requires(const S& s, std::string_view key) {
    { s.path_of(key) } -> std::convertible_to<fs::path>;
};

// Copies a CAS chunk out of a storage into a new file (not synced), block by
// block; returns its SHA-256 (hex) and size, or nullopt when the chunk is
// gone (garbage collection removed it meanwhile).
template <class Storage>
std::optional<std::string> backup_copy_chunk(const Storage& raw, const std::string& key, const fs::path& dst,
                                             std::uint64_t& size) {
    auto total = raw.size(key);
    if (!total) return std::nullopt;
    backup_make_parents(dst);
    auto out = open_fd(dst.string(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!out) throw_errno(errno, "create " + dst.string());
    sha256 h;
    size = 0;
    constexpr std::uint64_t block = 1 << 20;
    try {
        for (;;) {
            bytes part = raw.read_range(key, size, block);
            if (part.empty()) break;
            h.update(part);
            size += part.size();
            if (int e = write_all(out.get(), part)) throw_errno(e, "write " + dst.string());
            if (part.size() < block) break;
        }
    } catch (const error& e) {
        if (e.kind() == errc::not_found) return std::nullopt;
        throw;
    }
    return to_hex(h.finish());
}

// The bytes a transaction of these writes takes in the WAL (wal.hpp's
// framing), generously rounded up: every fragment header taken as 64 bytes,
// a fragment per 32 KiB block.
inline std::uint64_t backup_wal_bytes(std::uint64_t payload_bytes, std::uint64_t ops) {
    return payload_bytes + (payload_bytes / 32000 + 2 * ops + 2) * 64;
}

// What is wrong with a store record read from `key`, or nullopt when it is
// intact: the envelope (header CRC, payload length and digest) and the id
// it holds must be the one its key was derived from.
inline std::optional<std::string> backup_record_problem(bytes_view record, std::string_view key) {
    try {
        envelope_header h = verify_record(record, key);
        auto collection = key.substr(0, key.find('/'));
        if (record_key(collection, h.id) != key) return "record holds id \"" + h.id + "\" which belongs elsewhere";
    } catch (const error& e) {
        return std::string(e.what());
    }
    return std::nullopt;
}

// What is wrong with a CAS chunk's content, or nullopt when it matches its
// name (chunks of a hasher this build does not know are taken as they are).
inline std::optional<std::string> backup_chunk_problem(bytes_view content, std::string_view key) {
    auto a = key.find('/', 4);
    auto hasher_name = key.substr(4, a - 4);
    auto digest = digest_by_name(hasher_name, content);
    if (!digest) return std::nullopt;
    if (to_hex(*digest) != key.substr(key.rfind('/') + 1)) return "chunk content does not match its name";
    return std::nullopt;
}

}  // namespace detail

// The backups of one data directory, kept under one root directory.
class backups {
public:
    explicit backups(std::filesystem::path root, backup_options options = {})
        : root_(std::move(root)), options_(std::move(options)) {}

    // "<dir>.backups", beside the data directory.
    static std::filesystem::path default_root(const std::filesystem::path& data_dir) {
        auto abs = std::filesystem::absolute(data_dir).lexically_normal();
        if (!abs.has_filename()) abs = abs.parent_path();
        return abs.parent_path() / (abs.filename().string() + ".backups");
    }

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path path_of(std::string_view id) const { return root_ / std::string(id); }

    // A verified backup of everything committed up to now (see the header),
    // of a database on any Storage policy. `reason` is recorded in the
    // manifest ("manual" by default).
    template <storage Storage>
    backup_info create(database<Storage>& db, backup_progress progress = {}, std::string reason = "manual") {
        auto lock = lock_root();
        cleanup_leftovers();
        return create_locked(db, progress, std::move(reason));
    }

    // A pinned backup is never removed by rotate() (a migration pins its
    // rollback point while it runs). Pins are files "<root>/.pin-<id>";
    // unpin of an unpinned backup does nothing.
    void pin(std::string_view id) {
        auto lock = lock_root();
        load_manifest(std::string(id));
        auto path = root_ / (".pin-" + std::string(id));
        auto fd = detail::open_fd(path.string(), O_WRONLY | O_CREAT | O_TRUNC);
        if (!fd) throw_errno(errno, "create " + path.string());
        if (int e = platform::sync_data(fd.get())) throw_errno(e, "sync " + path.string());
        detail::backup_sync_dir(root_);
    }
    void unpin(std::string_view id) {
        auto lock = lock_root();
        std::error_code ec;
        if (std::filesystem::remove(root_ / (".pin-" + std::string(id)), ec)) detail::backup_sync_dir(root_);
    }
    bool pinned(std::string_view id) const {
        std::error_code ec;
        return !id.empty() && std::filesystem::exists(root_ / (".pin-" + std::string(id)), ec);
    }

    // Finished backups, oldest first.
    std::vector<backup_info> list() const {
        std::vector<backup_info> out;
        std::error_code ec;
        if (!std::filesystem::is_directory(root_, ec)) return out;
        for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
            std::string name = entry.path().filename().string();
            if (name.starts_with(".") || name.ends_with(".partial") || !entry.is_directory(ec)) continue;
            if (!std::filesystem::exists(entry.path() / detail::backup_manifest_name)) continue;
            out.push_back(info_of(load_manifest(name)));
        }
        std::sort(out.begin(), out.end(), [](const backup_info& a, const backup_info& b) {
            return a.time != b.time ? a.time < b.time : a.id < b.id;
        });
        return out;
    }

    std::optional<backup_info> find(std::string_view id) const {
        if (!exists(id)) return std::nullopt;
        return info_of(load_manifest(std::string(id)));
    }

    // Reads the whole backup back and checks every digest. Marks it verified
    // (or, on any problem, unverified) and returns what was found.
    backup_verify_report verify(std::string_view id, backup_progress progress = {}) {
        auto lock = lock_root();
        auto m = load_manifest(std::string(id));
        backup_verify_report report;
        detail::backup_check_dir(path_of(id), m, true, report, progress);
        auto marker = path_of(id) / detail::backup_marker_name;
        if (report.ok()) {
            write_marker(path_of(id));
        } else {
            std::error_code ec;
            std::filesystem::remove(marker, ec);
            detail::backup_sync_dir(path_of(id));
        }
        return report;
    }

    // Removes the backups none of the rules keeps (see the header) and that
    // are not pinned (pinned ones are reported as kept). Refuses
    // (bad_input) when every count is 0: that would remove everything.
    backup_rotate_report rotate(backup_keep keep) {
        if (keep.last == 0 && keep.daily == 0 && keep.weekly == 0)
            throw error(errc::bad_input, "rotate: every keep count is 0, which would remove every backup");
        auto lock = lock_root();
        cleanup_leftovers();
        auto all = list();  // oldest first
        std::set<std::string> kept;
        auto keep_by = [&](std::size_t n, auto bucket_of) {
            std::string last_bucket;
            bool any = false;
            for (auto it = all.rbegin(); it != all.rend() && n > 0; ++it) {
                std::string bucket = bucket_of(it->time);
                if (any && bucket == last_bucket) continue;
                kept.insert(it->id);
                last_bucket = bucket;
                any = true;
                --n;
            }
        };
        keep_by(keep.last, [n = 0](auto) mutable { return std::to_string(n++); });
        keep_by(keep.daily, [](auto t) { return detail::backup_strftime(t, "%Y-%m-%d"); });
        keep_by(keep.weekly, [](auto t) { return detail::backup_strftime(t, "%G-W%V"); });
        backup_rotate_report report;
        for (const auto& b : all) {
            if (kept.count(b.id) || pinned(b.id)) {
                report.kept.push_back(b.id);
                continue;
            }
            remove_backup(b.id);
            report.removed.push_back(b.id);
        }
        return report;
    }

    // Replaces the data directory's contents with backup `id` (see the
    // header). errc::locked when a writer has data_dir open; not_found for
    // an unknown id; checksum_mismatch (nothing changed) when the backup is
    // damaged.
    backup_restore_report restore(const std::filesystem::path& data_dir, std::string_view id,
                                  backup_progress progress = {}) {
        namespace fs = std::filesystem;
        auto lock = lock_root();
        cleanup_leftovers();
        auto m = load_manifest(std::string(id));
        fs::path dir = fs::absolute(data_dir).lexically_normal();
        if (!dir.has_filename()) dir = dir.parent_path();
        fs::path restoring = dir.parent_path() / (dir.filename().string() + ".restoring");
        fs::path parent = dir.parent_path();
        backup_restore_report report;

        std::error_code ec;
        bool existed = fs::is_directory(dir, ec);
        // A crashed earlier restore may have left this (the old or the
        // half-copied state); dir itself is complete either way.
        detail::backup_remove_all(restoring);
        try {
            fs::create_directories(restoring, ec);
            if (ec) throw_errno(ec.value(), "create " + restoring.string());
            fs::path src = path_of(id);
            std::uint64_t done = 0;
            for (const auto& f : m.files) {
                fs::path from = src / f.path, to = restoring / f.path;
                std::uint64_t size = 0;
                std::string digest;
                if (f.linked && options_.link_immutable && try_link(from, to)) {
                    digest = detail::backup_hash_file(to, false, size);
                } else {
                    digest = detail::backup_copy_file(from, to, size);
                }
                if (size != f.size || digest != f.sha256)
                    throw error(errc::checksum_mismatch, "backup " + std::string(id) + ": " + f.path +
                                                             " does not match the manifest; nothing was restored");
                report.files++;
                report.bytes += size;
                if (progress) progress(++done, m.files.size());
            }
            detail::backup_sync_tree(restoring);
            detail::backup_sync_dir(parent);
        } catch (...) {
            fs::remove_all(restoring, ec);
            throw;
        }
        std::optional<file_storage> holder;  // dir's writer lock, held to the end
        if (existed) {
            try {
                holder.emplace(dir, open_mode::read_write);
                database<file_storage> current(file_storage(dir, open_mode::read_only));
                report.previous = create_locked(current, {}, "pre-restore of " + std::string(id));
            } catch (...) {
                holder.reset();
                fs::remove_all(restoring, ec);
                throw;
            }
        }
        // The one step that changes what dir holds.
        int r = existed ? ::renameat2(AT_FDCWD, restoring.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE)
                        : ::renameat2(AT_FDCWD, restoring.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE);
        if (r != 0) {
            int e = errno;
            fs::remove_all(restoring, ec);
            throw_errno(e, "swap " + restoring.string() + " into " + dir.string());
        }
        detail::backup_sync_dir(parent);
        holder.reset();
        // The old state (now at `restoring`) is in report.previous.
        fs::remove_all(restoring, ec);
        (void)platform::sync_directory(parent.string());
        return report;
    }

    // Replaces everything a database on any Storage policy holds with backup
    // `id`, as ONE transaction (see the header): the backup is checked whole
    // first (checksum_mismatch, nothing changed, when it is damaged), then a
    // backup of the current state is taken (report.previous), missing or
    // differing CAS chunks are written outside the log (immutable, named by
    // their digest), and one transaction puts every other key of the backup
    // and erases every key the backup does not have (the WAL's own keys
    // excepted). errc::unsupported, before anything changes, when that
    // transaction is larger than the storage takes in one write. No other
    // writer, and no store, may use the database meanwhile (a store's
    // in-memory listing would not see the change: reopen stores after).
    template <storage Storage>
    backup_restore_report restore(database<Storage>& db, std::string_view id, backup_progress progress = {}) {
        auto lock = lock_root();
        cleanup_leftovers();
        auto m = load_manifest(std::string(id));
        std::string name(id);
        const std::uint64_t steps = 2 * m.files.size();
        backup_restore_report report;

        // 1. Every file of the backup read and checked before the target changes.
        {
            backup_verify_report check;
            detail::backup_check_dir(path_of(id), m, false, check, [&](std::uint64_t done, std::uint64_t) {
                if (progress) progress(done, steps);
            });
            if (!check.ok())
                throw error(errc::checksum_mismatch, "backup " + name + ": " + check.problems.front().file + ": " +
                                                         check.problems.front().what + "; nothing was restored");
        }

        // 2. The transaction: its size is known before anything is written.
        std::set<std::string, std::less<>> in_backup;
        std::uint64_t payload = 0, ops = 0;
        for (const auto& f : m.files) {
            if (f.path.starts_with("wal/")) continue;  // the target keeps its own log
            in_backup.insert(f.path);
            if (detail::backup_is_chunk_key(f.path)) continue;
            payload += f.size + f.path.size() + 2;
            ops++;
        }
        std::vector<std::string> doomed;
        bool holds_anything = false;
        for (auto& key : db.snapshot().list("")) {
            if (key.starts_with("wal/")) continue;
            holds_anything = true;
            if (!in_backup.count(key)) doomed.push_back(std::move(key));
        }
        for (const auto& key : doomed) payload += key.size() + 2;
        ops += doomed.size();
        Storage raw = db.raw_storage();
        if constexpr (requires { { raw.max_write_size() } -> std::convertible_to<std::uint64_t>; }) {
            std::uint64_t need = detail::backup_wal_bytes(payload, ops), limit = raw.max_write_size();
            if (need > limit)
                throw error(errc::unsupported,
                            "restoring backup " + name + " into " + std::string(Storage::name) + " needs one transaction of about " +
                                std::to_string(need) + " bytes, and the storage takes at most " + std::to_string(limit) +
                                " bytes in one write (its WAL appends a transaction in one write); nothing was restored "
                                "(restore into a data directory and copy, or raise osd_max_write_size)");
        }

        // 3. The current state, kept as a backup first.
        if (holds_anything) report.previous = create_locked(db, {}, "pre-restore of " + name);

        // 4. Chunks, outside the log, each checked again as it is read.
        std::uint64_t done = m.files.size();
        auto copy_of = [&](const detail::backup_file& f) {
            bytes content;
            detail::backup_read_blocks(path_of(id) / f.path, false, [&](bytes_view b) { append(content, b); });
            if (content.size() != f.size || to_hex(hash_of<sha256>(content)) != f.sha256)
                throw error(errc::checksum_mismatch, "backup " + name + ": " + f.path +
                                                         " changed since it was checked; the target's records were not "
                                                         "changed (chunks written so far are unreferenced extras)");
            report.files++;
            report.bytes += content.size();
            if (progress) progress(++done, steps);
            return content;
        };
        for (const auto& f : m.files) {
            if (!detail::backup_is_chunk_key(f.path)) continue;
            bytes content = copy_of(f);
            auto current = raw.size(f.path) == f.size ? raw.read(f.path) : std::nullopt;
            if (!current || to_hex(hash_of<sha256>(*current)) != f.sha256) raw.replace(f.path, content, durability::full);
        }

        // 5. The one step that changes what the database holds.
        auto tx = db.transaction(durability::full);
        for (const auto& f : m.files) {
            if (f.path.starts_with("wal/")) {
                if (progress) progress(++done, steps);
                continue;
            }
            if (detail::backup_is_chunk_key(f.path)) continue;
            tx.stage({f.path, copy_of(f), {}});
        }
        for (auto& key : doomed) tx.stage({std::move(key), std::nullopt, {}});
        report.lsn = tx.commit();
        db.checkpoint();
        if (progress) progress(steps, steps);
        return report;
    }

    // Replaces the records and CAS chunks of data_dir that fail verification
    // with their copies from backup `id`, and reports the ones it cannot
    // replace (not in the backup, or damaged there too). Like restore(), it
    // needs data_dir's writer lock (errc::locked while a writer has it
    // open); the backup must be verified (errc::failed_state otherwise) and
    // every copy taken from it is checked again against the manifest and its
    // own digest before it is used. All replaced records are written in ONE
    // transaction, together with the removal of the listing snapshots of
    // the collections they belong to (their projections may differ): a
    // crash leaves all of them repaired or none. Chunks are replaced one by
    // one (each atomically); a chunk is immutable, so either copy is right.
    // Nothing else in data_dir changes. A repaired record holds the version
    // the backup has, which may be older than the damaged one.
    repair_report repair(const std::filesystem::path& data_dir, std::string_view id, repair_options options = {}) {
        auto lock = lock_root();
        auto m = load_verified_manifest(id);
        std::error_code ec;
        if (!std::filesystem::is_directory(data_dir, ec))
            throw error(errc::not_found, "repair: no data directory " + data_dir.string());
        database<file_storage> db{file_storage(data_dir)};
        return repair_locked(db, m, options);
    }

    // The same for a database on any Storage policy (the caller holds its
    // writer lock by having it open; no other writer or store may use it
    // meanwhile).
    template <storage Storage>
    repair_report repair(database<Storage>& db, std::string_view id, repair_options options = {}) {
        auto lock = lock_root();
        auto m = load_verified_manifest(id);
        return repair_locked(db, m, options);
    }

private:
    detail::backup_manifest load_verified_manifest(std::string_view id) const {
        auto m = load_manifest(std::string(id));
        if (!std::filesystem::exists(path_of(id) / detail::backup_marker_name))
            throw error(errc::failed_state, "backup " + std::string(id) +
                                                " is not verified (its last verification failed); repair from another one");
        return m;
    }

    template <storage Storage>
    repair_report repair_locked(database<Storage>& db, const detail::backup_manifest& m, const repair_options& options) {
        std::map<std::string, const detail::backup_file*, std::less<>> in_backup;
        for (const auto& f : m.files) in_backup.emplace(f.path, &f);

        repair_report report;
        report.backup_id = m.id;
        report.dry_run = options.dry_run;
        Storage raw = db.raw_storage();
        std::vector<std::pair<std::string, bytes>> records, chunks;  // what to write
        {
            auto snap = db.snapshot();
            auto keys = snap.list("");
            std::uint64_t done = 0;
            for (const auto& key : keys) {
                if (options.progress) options.progress(done++, keys.size());
                bool record = detail::backup_is_record_key(key), chunk = detail::backup_is_chunk_key(key);
                if (!record && !chunk) continue;
                std::optional<bytes> value = record ? snap.read(key) : raw.read(key);
                if (!value) continue;
                (record ? report.records : report.chunks)++;
                auto problem = record ? detail::backup_record_problem(*value, key) : detail::backup_chunk_problem(*value, key);
                if (!problem) continue;
                repair_item item{key, *problem, {}};
                auto copy = good_copy(m, in_backup, key, record, item.outcome);
                if (!copy) {
                    report.unrepairable.push_back(std::move(item));
                    continue;
                }
                (record ? records : chunks).emplace_back(key, std::move(*copy));
                report.repaired.push_back(std::move(item));
            }
            if (options.progress) options.progress(keys.size(), keys.size());
        }
        if (options.dry_run) return report;
        for (auto& [key, content] : chunks) raw.replace(key, content, durability::full);
        if (!records.empty()) {
            auto tx = db.transaction(durability::full);
            std::set<std::string> collections;
            for (auto& [key, content] : records) {
                collections.insert(key.substr(0, key.find('/')));
                tx.stage({key, std::move(content), {}});
            }
            for (const auto& c : collections)
                if (tx.read(c + "/listing")) tx.stage({c + "/listing", std::nullopt, {}});
            tx.commit();
        }
        db.checkpoint();
        return report;
    }

    // The backup's copy of key when it is intact (size and SHA-256 as the
    // manifest says, and a sound record or chunk); else nullopt with `why`.
    std::optional<bytes> good_copy(const detail::backup_manifest& m,
                                   const std::map<std::string, const detail::backup_file*, std::less<>>& in_backup,
                                   const std::string& key, bool record, std::string& why) const {
        auto it = in_backup.find(key);
        if (it == in_backup.end()) {
            why = "not in backup " + m.id;
            return std::nullopt;
        }
        bytes content;
        try {
            detail::backup_read_blocks(path_of(m.id) / key, false, [&](bytes_view b) { append(content, b); });
        } catch (const error& e) {
            why = "the copy in backup " + m.id + " cannot be read: " + e.what();
            return std::nullopt;
        }
        if (content.size() != it->second->size || to_hex(hash_of<sha256>(content)) != it->second->sha256) {
            why = "the copy in backup " + m.id + " does not match its manifest";
            return std::nullopt;
        }
        auto problem = record ? detail::backup_record_problem(content, key) : detail::backup_chunk_problem(content, key);
        if (problem) {
            why = "the copy in backup " + m.id + " is damaged too: " + *problem;
            return std::nullopt;
        }
        why = "replaced by the copy in backup " + m.id;
        if (record) why += " (LSN " + std::to_string(envelope_lsn(content)) + ")";
        return content;
    }

    detail::backup_flock lock_root() {
        std::error_code ec;
        if (!std::filesystem::is_directory(root_, ec)) {
            std::filesystem::create_directories(root_, ec);
            if (ec) throw_errno(ec.value(), "create backup root " + root_.string());
            detail::backup_sync_dir(detail::backup_parent_of(root_));
        }
        return detail::backup_flock(root_ / ".lock");
    }

    bool exists(std::string_view id) const {
        if (id.empty() || id.find('/') != std::string_view::npos || id.starts_with(".")) return false;
        std::error_code ec;
        return std::filesystem::is_regular_file(path_of(id) / detail::backup_manifest_name, ec);
    }

    detail::backup_manifest load_manifest(const std::string& id) const {
        if (!exists(id)) throw error(errc::not_found, "no backup \"" + id + "\" in " + root_.string());
        auto path = path_of(id) / detail::backup_manifest_name;
        auto m = detail::backup_parse_manifest(detail::backup_read_text(path), path.string());
        if (m.id != id) throw error(errc::corrupt, "backup manifest " + path.string() + " names backup \"" + m.id + "\"");
        return m;
    }

    backup_info info_of(const detail::backup_manifest& m) const {
        backup_info info;
        info.id = m.id;
        info.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(m.time_ms));
        info.lsn = m.lsn;
        info.files = m.files.size();
        for (const auto& f : m.files) {
            info.bytes += f.size;
            if (f.linked) info.linked_bytes += f.size;
        }
        std::error_code ec;
        info.verified = std::filesystem::exists(path_of(m.id) / detail::backup_marker_name, ec);
        return info;
    }

    std::chrono::system_clock::time_point now() const {
        return options_.clock ? options_.clock() : std::chrono::system_clock::now();
    }

    static bool try_link(const std::filesystem::path& from, const std::filesystem::path& to) {
        detail::backup_make_parents(to);
        std::error_code ec;
        std::filesystem::create_hard_link(from, to, ec);
        return !ec;  // other filesystem, no link support: copy instead
    }

    void write_marker(const std::filesystem::path& dir) {
        auto path = dir / detail::backup_marker_name;
        std::string text = "verified " + detail::backup_strftime(now(), "%Y-%m-%dT%H:%M:%SZ") + "\n";
        auto fd = detail::open_fd(path.string(), O_WRONLY | O_CREAT | O_TRUNC);
        if (!fd) throw_errno(errno, "create " + path.string());
        if (int e = detail::write_all(fd.get(), as_bytes(text))) throw_errno(e, "write " + path.string());
        if (int e = platform::sync_data(fd.get())) throw_errno(e, "sync " + path.string());
        detail::backup_sync_dir(dir);
    }

    // Unfinished creates and removals left by a crash.
    void cleanup_leftovers() {
        std::error_code ec;
        bool removed = false;
        for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
            std::string name = entry.path().filename().string();
            if (name.ends_with(".partial") || name.starts_with(".deleting-")) {
                std::filesystem::remove_all(entry.path(), ec);
                removed = true;
            }
        }
        if (removed) detail::backup_sync_dir(root_);
    }

    void remove_backup(const std::string& id) {
        auto doomed = root_ / (".deleting-" + id);
        detail::backup_rename(path_of(id), doomed);
        detail::backup_sync_dir(root_);
        detail::backup_remove_all(doomed);
        detail::backup_sync_dir(root_);
    }

    std::string unique_id(std::chrono::system_clock::time_point t, std::uint64_t lsn) const {
        std::string base = detail::backup_strftime(t, "%Y%m%dT%H%M%SZ") + "-" + std::to_string(lsn);
        std::string id = base;
        std::error_code ec;
        for (int n = 1; std::filesystem::exists(path_of(id), ec) ||
                        std::filesystem::exists(root_ / (id + ".partial"), ec);
             ++n)
            id = base + "." + std::to_string(n);
        return id;
    }

    template <storage Storage>
    backup_info create_locked(database<Storage>& db, const backup_progress& progress, std::string reason) {
        namespace fs = std::filesystem;
        auto snap = db.snapshot();
        // Transaction ids continue past every one used so far (taking one
        // costs nothing: an unused id is simply skipped).
        std::uint64_t next_txid = db.transaction().id() + 1;
        Storage raw = db.raw_storage();
        auto t = now();
        detail::backup_manifest m;
        m.lsn = snap.lsn();
        m.time_ms = detail::backup_ms(t);
        m.id = unique_id(t, m.lsn);
        m.reason = std::move(reason);
        fs::path partial = root_ / (m.id + ".partial");
        detail::backup_remove_all(partial);
        {
            std::error_code ec;
            fs::create_directories(partial, ec);
            if (ec) throw_errno(ec.value(), "create " + partial.string());
        }
        try {
            auto keys = snap.list("");
            std::uint64_t done = 0;
            for (const auto& key : keys) {
                if (progress) progress(done++, keys.size());
                if (key.starts_with("wal/") || key.starts_with("cas/tmp/")) continue;
                detail::backup_file f;
                f.path = key;
                fs::path to = partial / key;
                if (detail::backup_is_chunk_key(key)) {
                    auto gone = [&] {
                        return error(errc::conflict, "CAS chunk " + key +
                                                         " was removed while the backup ran (garbage collection); try again");
                    };
                    if constexpr (detail::backup_has_files<Storage>) {
                        fs::path from = raw.path_of(key);
                        if (!fs::exists(from)) throw gone();
                        f.linked = options_.link_immutable && try_link(from, to);
                        f.sha256 = f.linked ? detail::backup_hash_file(to, false, f.size)
                                            : detail::backup_copy_file(from, to, f.size);
                    } else {
                        // Not files: a copy, block by block.
                        auto digest = detail::backup_copy_chunk(raw, key, to, f.size);
                        if (!digest) throw gone();
                        f.sha256 = std::move(*digest);
                    }
                } else {
                    auto value = snap.read(key);
                    if (!value) continue;
                    detail::backup_write_file(to, *value);
                    f.size = value->size();
                    f.sha256 = to_hex(hash_of<sha256>(*value));
                }
                m.files.push_back(std::move(f));
            }
            if (progress) progress(keys.size(), keys.size());
            bytes checkpoint = detail::backup_wal_checkpoint(m.lsn, next_txid);
            detail::backup_write_file(partial / "wal/checkpoint", checkpoint);
            m.files.push_back({"wal/checkpoint", checkpoint.size(), to_hex(hash_of<sha256>(checkpoint)), false});
            detail::backup_write_file(partial / detail::backup_manifest_name, as_bytes(detail::backup_manifest_json(m)));
            detail::backup_sync_tree(partial);

            // Read everything back from the device before calling it a backup.
            backup_verify_report report;
            detail::backup_check_dir(partial, m, true, report, {});
            if (!report.ok())
                throw error(errc::checksum_mismatch, "backup " + m.id + " failed verification: " +
                                                         report.problems.front().file + ": " + report.problems.front().what +
                                                         " (" + std::to_string(report.problems.size()) + " problems)");
            write_marker(partial);
            detail::backup_rename(partial, path_of(m.id));
            detail::backup_sync_dir(root_);
        } catch (...) {
            std::error_code ec;
            fs::remove_all(partial, ec);
            throw;
        }
        return info_of(m);
    }

    std::filesystem::path root_;
    backup_options options_;
};

// --- automatic backups -----------------------------------------------------------
//
// An opt-in schedule for one database: a backup when the schedule starts
// (on open), every `every` while it runs, and one at a clean close — each
// created (so verified) and then rotated by `keep`. Backups run on the
// schedule's own thread; a backup never blocks writers (create() reads a
// snapshot) and never writes to the data directory, so a failing backup
// target (a full or unwritable disk, a damaged backup) cannot disturb or
// corrupt writes. Every outcome is reported to the listener; without a
// listener, failures are printed to stderr — a failed backup is never
// silent.
//
//   database<file_storage> db{file_storage("data")};
//   auto_backup ab(db, backups(backups::default_root("data")),
//                  {.on_open = true, .on_close = true, .every = std::chrono::minutes(30),
//                   .keep = {.last = 10, .daily = 7, .weekly = 4},
//                   .listener = [](const auto_backup_event& e) { if (!e.ok) alert(e.error); }});
//   ...                                   // ab must go before db (declare it after)
//
// Thread safety: backup_now/wait_idle/counters from any thread; close() and
// the destructor from one. The listener runs on the schedule's thread (and
// on the closing thread for the close backup); an exception it throws is
// printed to stderr and otherwise ignored.

enum class auto_backup_trigger { open, interval, close, manual };

inline std::string_view trigger_name(auto_backup_trigger t) {
    switch (t) {
        case auto_backup_trigger::open: return "open";
        case auto_backup_trigger::interval: return "interval";
        case auto_backup_trigger::close: return "close";
        case auto_backup_trigger::manual: return "manual";
    }
    return "?";
}

struct auto_backup_event {
    auto_backup_trigger trigger = auto_backup_trigger::manual;
    bool ok = false;                    // created, verified and rotated
    std::optional<backup_info> backup;  // the backup, when it was created
    backup_rotate_report rotated;       // what rotation removed and kept
    std::string error;                  // when !ok: what failed
    std::uint64_t consecutive_failures = 0;
};

struct auto_backup_options {
    bool on_open = false;
    bool on_close = false;
    std::chrono::milliseconds every{0};  // 0: no periodic backups
    backup_keep keep{};                  // all 0: no rotation
    std::function<void(const auto_backup_event&)> listener;
};

class auto_backup {
public:
    // Any Storage policy; db must outlive the schedule.
    template <storage Storage>
    auto_backup(database<Storage>& db, backups target, auto_backup_options options = {})
        : create_([this, &db] { return target_.create(db); }), target_(std::move(target)), options_(std::move(options)) {
        if (options_.every.count() < 0) throw error(errc::bad_input, "auto_backup: negative interval");
        if (options_.on_open) pending_ = auto_backup_trigger::open;
        next_due_ = std::chrono::steady_clock::now() + options_.every;
        thread_ = std::thread([this] { loop(); });
    }

    auto_backup(const auto_backup&) = delete;
    auto_backup& operator=(const auto_backup&) = delete;

    ~auto_backup() { close(); }

    // Clean close: waits for a running backup, stops the schedule and, with
    // on_close, takes one last backup on this thread. Idempotent.
    void close() {
        {
            std::lock_guard lock(mutex_);
            if (closed_) return;
            closed_ = stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        if (options_.on_close) run_one(auto_backup_trigger::close);
    }

    // Asks for a backup now (returns at once; it runs on the schedule's thread).
    void backup_now() {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            if (!pending_) pending_ = auto_backup_trigger::manual;
        }
        cv_.notify_all();
    }

    // Waits until no backup is asked for or running.
    void wait_idle() {
        std::unique_lock lock(mutex_);
        idle_cv_.wait(lock, [&] { return (!pending_ && !running_) || stopping_; });
    }

    std::uint64_t succeeded() const { return succeeded_; }
    std::uint64_t failed() const { return failed_; }
    std::optional<std::string> last_error() const {
        std::lock_guard lock(mutex_);
        return last_error_;
    }
    const backups& target() const { return target_; }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            if (pending_) {
                auto t = *pending_;
                pending_.reset();
                running_ = true;
                lock.unlock();
                run_one(t);
                lock.lock();
                running_ = false;
                idle_cv_.notify_all();
                continue;
            }
            auto wake = [&] { return stopping_ || pending_.has_value(); };
            if (options_.every.count() == 0) {
                cv_.wait(lock, wake);
            } else if (!cv_.wait_until(lock, next_due_, wake)) {
                // A slow backup never queues up more: the next one is due an
                // interval after this one starts, or at once if that is past.
                auto now = std::chrono::steady_clock::now();
                next_due_ = std::max(next_due_ + options_.every, now);
                pending_ = auto_backup_trigger::interval;
            }
        }
        idle_cv_.notify_all();
    }

    void run_one(auto_backup_trigger t) noexcept {
        auto_backup_event e;
        e.trigger = t;
        try {
            e.backup = create_();
            if (options_.keep.last + options_.keep.daily + options_.keep.weekly > 0) e.rotated = target_.rotate(options_.keep);
            e.ok = true;
        } catch (const std::exception& x) {
            e.error = (e.backup ? "rotation after backup " + e.backup->id + " failed: " : "backup failed: ") +
                      std::string(x.what());
        } catch (...) {
            e.error = "backup failed: unknown exception";
        }
        {
            std::lock_guard lock(mutex_);
            if (e.ok) {
                succeeded_++;
                consecutive_ = 0;
            } else {
                failed_++;
                e.consecutive_failures = ++consecutive_;
                last_error_ = e.error;
            }
        }
        report(e);
    }

    void report(const auto_backup_event& e) noexcept {
        if (options_.listener) {
            try {
                options_.listener(e);
                return;
            } catch (const std::exception& x) {
                std::fprintf(stderr, "stowage: auto_backup listener threw: %s\n", x.what());
            } catch (...) {
                std::fprintf(stderr, "stowage: auto_backup listener threw\n");
            }
        }
        if (!e.ok) {
            std::string line = "stowage: AUTOMATIC BACKUP FAILED (" + std::string(trigger_name(e.trigger)) + ", " +
                               std::to_string(e.consecutive_failures) + " in a row) into " + target_.root().string() +
                               ": " + e.error + "\n";
            std::fputs(line.c_str(), stderr);
            std::fflush(stderr);
        }
    }

    std::function<backup_info()> create_;  // target_.create(db)
    backups target_;
    auto_backup_options options_;

    mutable std::mutex mutex_;
    std::condition_variable cv_, idle_cv_;
    std::optional<auto_backup_trigger> pending_;
    bool running_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    std::chrono::steady_clock::time_point next_due_;
    std::atomic<std::uint64_t> succeeded_{0}, failed_{0};
    std::uint64_t consecutive_ = 0;
    std::optional<std::string> last_error_;
    std::thread thread_;
};

}  // namespace stowage
