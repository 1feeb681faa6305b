// backup.hpp — verified, rotated backups of a database, and restore.
//
//   stowage::backups bk(stowage::backups::default_root("data"));   // "data.backups"
//   auto info = bk.create(db);                // consistent while writers run
//   bk.create("data");                        // opens it itself (read-only if it must)
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
// A backup never shares mutable bytes with the database: content-addressed
// chunks ("cas/<hasher>/..", immutable, named by their digest) of a
// file_storage are reflinked (ioctl FICLONE: the filesystem shares the
// blocks copy-on-write, so a later write to either file never reaches the
// other) where the filesystem offers it, else copied in the kernel
// (copy_file_range), else read and written; never hard-linked — with a hard
// link one flipped byte in a live chunk would be in the backup too. From
// any other storage chunks are copied out block by block; every other file
// is a copy. The id is "<UTC YYYYMMDDTHHMMSSZ>-<lsn>" (with ".N" appended
// when taken twice within a second at one LSN).
//
// Guarantees.
//   - Consistency: a backup holds exactly the transactions committed up to
//     its LSN and nothing after it, whatever writers do meanwhile (the
//     snapshot keeps newer versions out of the files it reads).
//   - Verified or an error: the manifest (".stowage-backup.json": id, time,
//     LSN, next transaction id, every file's size and SHA-256, and the
//     SHA-256 of the manifest itself) is written, everything is synced
//     (syncfs, or fsync per file and directory), the page cache is dropped
//     for each file and every file is read back and checked against the
//     manifest, every record's envelope digest and every chunk's name; only
//     then is a ".stowage-verified" marker written and "<id>.partial" renamed
//     to "<id>" (the directory synced). A crash leaves either no backup (a
//     ".partial" that the next create/rotate/restore removes) or a complete,
//     verified one. A backup that fails verification is removed and create()
//     throws; it never reports success (nor names an id that list() lacks).
//   - The manifest checks itself: its last member, "manifest_sha256", is the
//     SHA-256 of its text without that member (format 2). A manifest that
//     fails that check, cannot be parsed or is missing makes its backup
//     "damaged" in list() (listed, never trusted), a problem in verify(),
//     and restore and repair refuse it. Format-1 manifests (older builds)
//     have no checksum: they are read as before, their files still checked
//     against them, and list()/verify() say the manifest is unchecked.
//   - States (list(), find()): "verified" (its last verification found every
//     file as the manifest says and sound), "unverified" (not verified, or
//     the last verification found damage), "damaged" (the manifest is
//     damaged, or the backup is a safety copy of a data directory that was
//     damaged when it was taken; the manifest names the damaged files).
//   - create(dir) opens a data directory itself: read-write (its writer lock
//     keeps writers out) when it can, else — a read-only mount, no write
//     permission — read-only, with the writer lock taken through a
//     read-only descriptor (flock(2) needs no write access), so no writer
//     starts while the snapshot is read (errc::locked if one runs); the
//     read-only open reads the log as it is, so the backup is consistent.
//   - Restore: restore(dir, id) copies the backup into "<dir>.restoring",
//     checking every file on the way, syncs it, takes dir's writer lock
//     (errc::locked while any writer has it open), makes a backup of the
//     current state, then swaps the copy with dir in one
//     renameat2(RENAME_EXCHANGE) and syncs the parent; the old state is then
//     removed. A crash leaves dir holding either the old state or the
//     restored one, never a mix; the leftover "<dir>.restoring" is removed by
//     the next restore.
//   - Restore from a backup with damage (one damaged file must not cost the
//     rest; a damaged file must never pass for good data). Every file of the
//     backup that fails its check (size and SHA-256 against the manifest, a
//     record's envelope and key, a chunk's name) is resolved, and listed in
//     report.damaged with what was done:
//       * the data directory's own copy is used when it is exactly what the
//         backup held (a record with the manifest's SHA-256, sound; a chunk
//         sound by its name — a chunk's content is fixed by its name);
//       * a damaged listing snapshot ("<c>/listing") is left out: it is
//         derived, rebuilt from the records on the next open;
//       * a damaged "wal/checkpoint" is rebuilt from the manifest's LSN and
//         next transaction id (format 2);
//       * any other damaged record or chunk is restored as it is: both check
//         themselves on every read (reading it fails with
//         checksum_mismatch, `stowage verify` names it), and it stays where
//         `repair --from-backup` of another backup — or of the pre-restore
//         backup, which holds the version it replaced — finds and replaces
//         it (a record left out would be lost without a trace);
//       * a damaged file of any other kind (nothing checks its content when
//         it is read) makes restore refuse, naming it, nothing changed.
//     The restore then proceeds; report.ok() is false (the CLI exits 1).
//   - The pre-restore backup of the current state is always taken, also
//     when the data directory is damaged (that is when people restore): its
//     files are copied as they are, the damaged records and chunks are named
//     in its manifest, and it is listed with the state "damaged" (a copy
//     matching its manifest, of a state that was damaged).
//   - Restore into a database (restore(db, id), any Storage policy; how a
//     RADOS pool is restored, as a pool cannot be swapped): every file of
//     the backup is read and checked against the manifest, the record
//     envelopes and the chunk names first; a backup of the current state is
//     taken; CAS chunks missing or differing are written outside the log
//     (immutable, named by their digest, as cas_map writes them); then ONE
//     transaction puts every other key of the backup and erases every key
//     the backup lacks (the WAL's own keys excepted), and is applied before
//     restore() returns. Damage is resolved as above, except that a damaged
//     record or chunk is not written (a transaction only takes intact
//     envelopes): the database keeps its own version of that key, reported
//     in report.damaged. The WAL makes it atomic: a crash leaves the old
//     state (plus unreferenced chunks, which GC removes) or, once
//     committed, the restored one. Restored records carry the commit's LSN
//     (the database's log continues; it never goes back). Limits: the
//     transaction — every non-chunk value of the backup — is held in memory
//     until applied, and a storage that caps one write (rados_storage:
//     osd_max_write_size, 90 MB by default; the WAL appends a transaction in
//     one write) refuses a larger restore up front with errc::unsupported,
//     nothing changed: it is never split into pieces a crash could leave
//     half applied. No other writer, and no store, may use the database
//     meanwhile (a store's in-memory listing would miss the change).
//   - Repair: repair(dir, id) (or repair(db, id) on any Storage policy)
//     checks every record and CAS chunk and replaces those that fail
//     verification with their copies from a backup, in one transaction; each
//     copy is checked on its own (size and SHA-256 against the manifest,
//     envelope or name), so a backup with a damaged file — verified or not —
//     still repairs every other key: a damaged copy makes only its key
//     unrepairable. What cannot be repaired is reported, nothing else
//     changes. A backup whose manifest is damaged is refused.
//   - Rotation keeps backups as restic's `forget` does (UTC days and ISO
//     weeks): the `last` newest, the newest of each of the `daily` most
//     recent days that have backups, the newest of each of the `weekly` most
//     recent weeks; a backup kept by any rule, or pinned (pin(id): a
//     migration's rollback point while it runs), stays. A removed backup is
//     first renamed away (atomically), so a crash never leaves a half-deleted
//     backup under its id.
//
// Limits: Linux (renameat2, syncfs); a database on another storage has no
// default root (name one); a reflinked chunk shares its blocks on the
// device with the live one until either is written (a media error in a
// shared block shows in both; verify() finds it); backups taken by builds
// before format 2 may share chunk files with the data directory by hard
// link; a CAS chunk freed by garbage collection while a backup runs makes
// create() fail with errc::conflict (try again); a read-only create(dir)
// cannot keep out a writer that starts in a directory that never had one
// (no ".lock" to take: a read-only mount has none).
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
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
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
#ifdef __linux__
#include <linux/fs.h>  // FICLONE
#include <sys/ioctl.h>
#endif

#include "bytes.hpp"
#include "cas_map.hpp"
#include "codec/binary.hpp"
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
    // Reflink chunk files (FICLONE, copy-on-write) where the filesystem
    // offers it; false: always copy. Never a hard link either way.
    bool reflink = true;
};

// What list() says of a backup (see the header).
enum class backup_state { verified, unverified, damaged };

inline std::string_view state_name(backup_state s) {
    switch (s) {
        case backup_state::verified: return "verified";
        case backup_state::unverified: return "unverified";
        case backup_state::damaged: return "damaged";
    }
    return "?";
}

struct backup_info {
    std::string id;
    std::chrono::system_clock::time_point time;
    std::uint64_t lsn = 0;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;         // sum of file sizes
    std::uint64_t linked_bytes = 0;  // of which reflinked (format 1: hard-linked)
    bool verified = false;           // passed its last verification
    backup_state state = backup_state::unverified;
    bool manifest_checked = false;   // the manifest carries its own checksum (format 2) and it matched
    std::string problem;             // state damaged: what is wrong (the manifest, or the damage it records)
};

struct backup_problem {
    std::string file;  // path inside the backup
    std::string what;
    // Damage the manifest records: the data directory already had it when
    // the backup was taken (a pre-restore copy of a damaged directory).
    bool recorded = false;
};

struct backup_verify_report {
    std::string id;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::vector<backup_problem> problems;
    bool manifest_checked = false;  // the manifest's own checksum matched (false: format 1, none)
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

// One damaged record or chunk that repair() found (or a damaged file of
// the backup that restore() met).
struct repair_item {
    std::string key;      // storage key in the data directory
    std::string problem;  // what verification found
    std::string outcome;  // repaired: where the copy came from; else why it could not be
};

struct backup_restore_report {
    std::optional<backup_info> previous;  // the backup of the state that was replaced
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t lsn = 0;  // restore into a database: the commit LSN of its transaction
    // Files of the backup that failed their check, and what was restored
    // instead (see the header); empty when the backup was intact.
    std::vector<repair_item> damaged;
    // Of those, how many were restored still damaged or not at all (the
    // others came back intact: taken from the data directory, rebuilt, or
    // a derived file left out).
    std::uint64_t unresolved = 0;
    bool ok() const { return damaged.empty(); }
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
inline constexpr std::uint64_t backup_format_version = 2;  // 1: no manifest checksum, still read
inline constexpr std::string_view backup_manifest_checksum_member = ",\"manifest_sha256\":\"";

struct backup_file {
    std::string path;  // storage key, relative to the backup directory
    std::uint64_t size = 0;
    std::string sha256;  // hex
    bool linked = false;  // reflinked ("cloned"); format 1: hard-linked ("linked")
};

struct backup_manifest {
    std::string id;
    std::int64_t time_ms = 0;
    std::uint64_t lsn = 0;
    std::uint64_t next_txid = 0;  // 0: unknown (format 1)
    std::string reason;
    std::vector<backup_file> files;
    // Records and chunks that were damaged in the data directory when the
    // backup was taken (a pre-restore copy of a damaged state).
    std::vector<backup_problem> damage;
    bool checksummed = false;  // format 2: its own SHA-256 matched
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

// Makes dst (new, not synced) a copy of src that shares no mutable bytes
// with it: a reflink where the filesystem offers one (ioctl FICLONE: blocks
// shared copy-on-write, so a write to either never reaches the other), else
// copy_file_range(2) (the kernel copies, or the filesystem shares extents
// copy-on-write), else read and write. Never a hard link: with one, a byte
// flipped in the live file would be flipped in the backup too. Returns
// whether it was a reflink.
inline bool backup_clone_or_copy(const fs::path& src, const fs::path& dst, bool reflink) {
    backup_make_parents(dst);
    auto in = open_fd(src.string(), O_RDONLY | O_NONBLOCK);
    if (!in) throw_errno(errno, "open " + src.string());
    struct stat st{};
    if (::fstat(in.get(), &st) != 0) throw_errno(errno, "stat " + src.string());
    if (!S_ISREG(st.st_mode)) throw error(errc::corrupt, src.string() + " is not a regular file");
    auto out = open_fd(dst.string(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!out) throw_errno(errno, "create " + dst.string());
#ifdef FICLONE
    if (reflink && ::ioctl(out.get(), FICLONE, in.get()) == 0) return true;
#else
    (void)reflink;
#endif
    loff_t off_in = 0, off_out = 0;
    for (;;) {
        ssize_t n = ::copy_file_range(in.get(), &off_in, out.get(), &off_out, std::size_t(1) << 30, 0);
        if (n > 0) continue;
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (off_in != 0 || (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP &&
                            errno != EPERM && errno != ETXTBSY))
            throw_errno(errno, "copy " + src.string() + " to " + dst.string());
        break;  // no copy_file_range between these files: read and write
    }
    bytes block(1 << 20);
    for (std::uint64_t offset = 0;;) {
        std::size_t got = 0;
        if (int e = pread_all(in.get(), block.data(), block.size(), offset, got)) throw_errno(e, "read " + src.string());
        if (got == 0) break;
        if (int e = write_all(out.get(), bytes_view(block).first(got))) throw_errno(e, "write " + dst.string());
        offset += got;
    }
    return false;
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

// The manifest's text (format 2). Its last member is its own checksum:
// "manifest_sha256" is the SHA-256 of the text without that member (the
// JSON object closed right before it), so a reader checks the exact bytes
// without re-serialising anything.
inline std::string backup_manifest_json(const backup_manifest& m) {
    json_value::array files;
    files.reserve(m.files.size());
    for (const auto& f : m.files) {
        json_value::object o;
        o.emplace_back("path", f.path);
        o.emplace_back("size", f.size);
        o.emplace_back("sha256", f.sha256);
        o.emplace_back("cloned", f.linked);
        files.emplace_back(std::move(o));
    }
    json_value::array damage;
    for (const auto& d : m.damage) {
        json_value::object o;
        o.emplace_back("path", d.file);
        o.emplace_back("problem", d.what);
        damage.emplace_back(std::move(o));
    }
    json_document doc;
    doc.set("format", backup_format);
    doc.set("version", backup_format_version);
    doc.set("id", m.id);
    doc.set("time", backup_strftime(std::chrono::system_clock::time_point(std::chrono::milliseconds(m.time_ms)),
                                    "%Y-%m-%dT%H:%M:%SZ"));
    doc.set("time_ms", m.time_ms);
    doc.set("lsn", m.lsn);
    doc.set("next_txid", m.next_txid);
    doc.set("reason", m.reason);
    doc.set("files", std::move(files));
    if (!m.damage.empty()) doc.set("damage", std::move(damage));
    std::string body = doc.dump();
    std::string sum = to_hex(hash_of<sha256>(as_bytes(body)));
    body.pop_back();  // the closing brace, put back after the checksum
    return body + std::string(backup_manifest_checksum_member) + sum + "\"}\n";
}

// Checks a format-2 manifest's own checksum (see backup_manifest_json):
// nullopt when it matches, else what is wrong.
inline std::optional<std::string> backup_manifest_checksum_problem(std::string_view text) {
    auto at = text.rfind(backup_manifest_checksum_member);
    if (at == std::string_view::npos) return "it has no \"manifest_sha256\" (its checksum)";
    std::string_view rest = text.substr(at + backup_manifest_checksum_member.size());
    if (rest.size() < 66 || rest.substr(64, 2) != "\"}" || rest.substr(66).find_first_not_of(" \t\r\n") != std::string_view::npos)
        return "its checksum is not its last member";
    std::string body(text.substr(0, at));
    body += '}';
    if (to_hex(hash_of<sha256>(as_bytes(body))) != rest.substr(0, 64))
        return "its SHA-256 does not match its \"manifest_sha256\"";
    return std::nullopt;
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
    auto version = num(doc.find("version"), "version");
    if (version != 1 && version != backup_format_version)
        throw error(errc::unsupported, "backup manifest " + where + ": version " + std::to_string(version) +
                                           " (this build reads versions 1 and 2)");
    backup_manifest m;
    // A format-1 manifest has no checksum: read as it is (its files are
    // still checked against it). A format-2 one must match its own.
    if (version >= 2) {
        if (auto problem = backup_manifest_checksum_problem(text)) throw fail(*problem);
        m.checksummed = true;
        m.next_txid = num(doc.find("next_txid"), "next_txid");
    }
    m.id = str(doc.find("id"), "id");
    // A time the clock can hold (system_clock counts nanoseconds in 64
    // bits: to the year 2262); past that it is damage, not an overflow.
    const std::uint64_t time_ms = num(doc.find("time_ms"), "time_ms");
    if (time_ms > std::uint64_t(std::numeric_limits<std::int64_t>::max() / 1'000'000))
        throw fail("\"time_ms\" out of range");
    m.time_ms = static_cast<std::int64_t>(time_ms);
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
        const json_value* linked = f.find(version >= 2 ? "cloned" : "linked");
        bf.linked = linked && linked->is_bool() && linked->as_bool();
        if (!valid_key(bf.path)) throw fail("file path \"" + bf.path.substr(0, 80) + "\" is not a storage key");
        m.files.push_back(std::move(bf));
    }
    if (const json_value* damage = doc.find("damage")) {
        if (!damage->is_array()) throw fail("\"damage\" is not an array");
        for (const auto& d : damage->as_array()) {
            if (!d.is_object()) throw fail("damage entry is not an object");
            m.damage.push_back({str(d.find("path"), "path"), str(d.find("problem"), "problem"), true});
        }
    }
    return m;
}

inline std::string backup_read_text(const fs::path& path) {
    std::string out;
    backup_read_blocks(path, false, [&](bytes_view b) { out.append(as_chars(b)); });
    return out;
}

// The digest a chunk's name claims, computed over its content (nullopt for
// a hasher neither built in nor registered: store.hpp's register_hasher).
inline std::optional<std::string> backup_chunk_digest(std::string_view hasher_name, const fs::path& path) {
    auto h = any_hasher::by_name(hasher_name);
    if (!h) return std::nullopt;
    backup_read_blocks(path, false, [&](bytes_view b) { h->update(b); });
    return to_hex(h->finish());
}

// What is wrong with a store record read from `key`, or nullopt when it is
// intact: the envelope (header CRC, payload length and digest) and the id
// it holds must be the one its key was derived from. A record whose hasher
// this program does not know (neither built in nor registered) is checked
// as far as it can be and taken as it is, as chunks are.
inline std::optional<std::string> backup_record_problem(bytes_view record, std::string_view key) {
    try {
        envelope_header h = check_record(record, key).header;
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

// One file of a backup read back and checked: its size, and what is wrong
// with it (nullopt: nothing). matches_manifest: size and SHA-256 are the
// manifest's (a problem then lies in the content itself: a record's
// envelope or key, a chunk's name). Throws when it cannot be read.
struct backup_file_check {
    std::uint64_t size = 0;
    bool matches_manifest = false;
    std::optional<std::string> problem;
};

inline backup_file_check backup_check_file(const fs::path& p, const backup_file& f, bool drop_cache) {
    backup_file_check out;
    std::string digest;
    bytes content;
    bool record = backup_is_record_key(f.path);
    if (record) {
        backup_read_blocks(p, drop_cache, [&](bytes_view b) { append(content, b); });
        out.size = content.size();
        digest = to_hex(hash_of<sha256>(content));
    } else {
        digest = backup_hash_file(p, drop_cache, out.size);
    }
    if (out.size != f.size) {
        out.problem = "size " + std::to_string(out.size) + ", manifest says " + std::to_string(f.size);
        return out;
    }
    if (digest != f.sha256) {
        out.problem = "SHA-256 does not match the manifest";
        return out;
    }
    out.matches_manifest = true;
    if (record) {
        out.problem = backup_record_problem(content, f.path);
    } else if (backup_is_chunk_key(f.path)) {
        auto a = f.path.find('/', 4);
        std::string_view hasher_name = std::string_view(f.path).substr(4, a - 4);
        auto name_digest = hasher_name == sha256::name ? std::optional<std::string>(digest) : backup_chunk_digest(hasher_name, p);
        if (name_digest && *name_digest != f.path.substr(f.path.rfind('/') + 1))
            out.problem = "chunk content does not match its name";
    }
    return out;
}

// Reads every file of a backup directory back and checks it against the
// manifest (size, SHA-256), records against their envelope digests and
// chunks against their names; files the manifest does not list are
// problems too. Damage the manifest records (the data directory had it
// when the backup was taken) is marked `recorded`.
inline void backup_check_dir(const fs::path& dir, const backup_manifest& m, bool drop_cache,
                             backup_verify_report& report, const backup_progress& progress) {
    report.id = m.id;
    report.manifest_checked = m.checksummed;
    std::set<std::string> listed, recorded;
    for (const auto& d : m.damage) recorded.insert(d.file);
    std::uint64_t done = 0;
    for (const auto& f : m.files) {
        listed.insert(f.path);
        try {
            auto check = backup_check_file(dir / f.path, f, drop_cache);
            report.files++;
            report.bytes += check.size;
            if (check.problem) {
                bool known = check.matches_manifest && recorded.count(f.path);
                report.problems.push_back(
                    {f.path, *check.problem + (known ? " (damaged in the data directory when the backup was taken)" : ""), known});
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

// A storage whose keys are files (file_storage): chunks can be reflinked.
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

// Whether key is a collection's listing snapshot ("<collection>/listing"):
// derived from the records, rebuilt when absent.
inline bool backup_is_listing_key(std::string_view key) {
    auto slash = key.find('/');
    return slash != std::string_view::npos && slash > 0 && key.substr(slash) == "/listing";
}

// What is wrong with a chunk file in dir (nullopt: its content matches its
// name, or its hasher is one this build does not know).
inline std::optional<std::string> backup_chunk_file_problem(const fs::path& path, std::string_view key) {
    auto a = key.find('/', 4);
    auto digest = backup_chunk_digest(key.substr(4, a - 4), path);
    if (digest && *digest != key.substr(key.rfind('/') + 1)) return "chunk content does not match its name";
    return std::nullopt;
}

// Whether name has the shape of a backup id ("YYYYMMDDTHHMMSSZ-<lsn>[.N]").
inline bool backup_looks_like_id(std::string_view name) {
    auto digits = [](std::string_view s) {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (name.size() < 18 || !digits(name.substr(0, 8)) || name[8] != 'T' || !digits(name.substr(9, 6)) ||
        name.substr(15, 2) != "Z-")
        return false;
    auto rest = name.substr(17);
    auto dot = rest.find('.');
    return digits(rest.substr(0, dot)) && (dot == std::string_view::npos || digits(rest.substr(dot + 1)));
}

// The time and LSN an id names (for a backup whose manifest is damaged).
inline void backup_parse_id(std::string_view id, std::chrono::system_clock::time_point& time, std::uint64_t& lsn) {
    if (!backup_looks_like_id(id)) return;
    auto n = [&](std::size_t at, std::size_t len) {
        int v = 0;
        for (char c : id.substr(at, len)) v = v * 10 + (c - '0');
        return v;
    };
    std::tm tm{};
    tm.tm_year = n(0, 4) - 1900;
    tm.tm_mon = n(4, 2) - 1;
    tm.tm_mday = n(6, 2);
    tm.tm_hour = n(9, 2);
    tm.tm_min = n(11, 2);
    tm.tm_sec = n(13, 2);
    time = std::chrono::system_clock::from_time_t(::timegm(&tm));
    auto rest = id.substr(17);
    rest = rest.substr(0, rest.find('.'));
    std::uint64_t number = 0;
    if (std::from_chars(rest.data(), rest.data() + rest.size(), number).ec == std::errc()) lsn = number;
}

// Whether dir cannot be written by this process (a read-only mount, no
// write permission).
inline bool backup_unwritable(const fs::path& dir) {
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK, AT_EACCESS) == 0) return false;
    return errno == EROFS || errno == EACCES || errno == EPERM;
}

// dir's writer lock, taken through a read-only descriptor (flock(2) needs
// no write access): no writer can open dir while it is held; errc::locked
// while one has it. No ".lock" at all (no writer ever opened dir; none can
// be created on a read-only mount): nothing to take.
inline unique_fd backup_reader_lock(const fs::path& dir) {
    std::string path = (dir / ".lock").string();
    auto fd = open_fd(path, O_RDONLY | O_NONBLOCK);
    if (!fd) {
        if (errno == ENOENT) return {};
        throw_errno(errno, "open lock file " + path);
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            throw error(errc::locked, "data directory " + dir.string() +
                                          " is locked by another writer (a writer backs up its database in-process)");
        throw_errno(errno, "lock " + path);
    }
    return fd;
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

    // The same of the data directory at data_dir, opened here: read-write
    // when it can be (the writer lock keeps writers out: errc::locked while
    // one runs), else — a read-only mount, no write permission — read-only,
    // holding the writer lock through a read-only descriptor, so the
    // snapshot it reads is consistent (see the header).
    backup_info create(const std::filesystem::path& data_dir, backup_progress progress = {}, std::string reason = "manual") {
        detail::unique_fd reader_lock;  // outlives db
        std::optional<database<file_storage>> db;
        try {
            db.emplace(file_storage(data_dir, open_mode::read_write));
        } catch (const error& e) {
            if (e.kind() == errc::locked || !detail::backup_unwritable(data_dir)) throw;
            reader_lock = detail::backup_reader_lock(data_dir);
            db.emplace(file_storage(data_dir, open_mode::read_only));
        }
        return create(*db, std::move(progress), std::move(reason));
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

    // Finished backups, oldest first. A backup whose manifest is damaged or
    // missing is listed too, with state damaged (and its time and LSN taken
    // from its id): one bad manifest neither hides it nor stops the list.
    std::vector<backup_info> list() const {
        std::vector<backup_info> out;
        std::error_code ec;
        if (!std::filesystem::is_directory(root_, ec)) return out;
        for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
            std::string name = entry.path().filename().string();
            if (name.starts_with(".") || name.ends_with(".partial") || !entry.is_directory(ec)) continue;
            if (!exists(name)) continue;
            out.push_back(info_for(name));
        }
        std::sort(out.begin(), out.end(), [](const backup_info& a, const backup_info& b) {
            return a.time != b.time ? a.time < b.time : a.id < b.id;
        });
        return out;
    }

    std::optional<backup_info> find(std::string_view id) const {
        if (!exists(id)) return std::nullopt;
        return info_for(std::string(id));
    }

    // Reads the whole backup back and checks every digest. Marks it verified
    // (or, on any problem, unverified) and returns what was found. A damaged
    // manifest is a problem of ".stowage-backup.json" (nothing else can be
    // checked against it); not_found for an unknown id.
    backup_verify_report verify(std::string_view id, backup_progress progress = {}) {
        auto lock = lock_root();
        backup_verify_report report;
        report.id = std::string(id);
        try {
            auto m = load_manifest(std::string(id));
            detail::backup_check_dir(path_of(id), m, true, report, progress);
        } catch (const error& e) {
            if (e.kind() != errc::corrupt) throw;
            report.problems.push_back({std::string(detail::backup_manifest_name), e.what()});
        }
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
    // an unknown id; corrupt when its manifest is damaged. A damaged file of
    // the backup is resolved as the header says and listed in
    // report.damaged; only a damaged file that nothing would check when it
    // is read (and that data_dir has no intact copy of) makes it refuse,
    // checksum_mismatch, nothing changed.
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
                fs::path to = restoring / f.path;
                std::optional<std::string> problem;
                try {
                    detail::backup_clone_or_copy(src / f.path, to, options_.reflink);
                    problem = detail::backup_check_file(to, f, false).problem;
                } catch (const error&) {
                    // Damage only when the backup's file is what fails (not,
                    // say, a full disk under the copy: that is thrown).
                    fs::path from = src / f.path;
                    std::uint64_t size = 0;
                    try {
                        if (fs::is_regular_file(from, ec)) (void)detail::backup_hash_file(from, false, size);
                        else problem = "missing, or not a regular file";
                    } catch (const error& read) {
                        problem = "cannot be read: " + std::string(read.what());
                    }
                    if (!problem) throw;
                    fs::remove(to, ec);  // a partial copy is not the backup's
                }
                if (problem) {
                    bool intact = false;
                    std::string outcome = restore_damaged_file(m, f, *problem, existed ? dir : fs::path(), to, intact);
                    report.damaged.push_back({f.path, *problem, std::move(outcome)});
                    report.unresolved += !intact;
                }
                std::uint64_t size = 0;
                if (fs::is_regular_file(to, ec)) {
                    size = fs::file_size(to, ec);
                    report.files++;
                    report.bytes += size;
                }
                if (progress) progress(++done, m.files.size());
            }
            // A backup is one consistent state, its indexes' journals
            // included. When files of it were damaged, what was restored in
            // their place may disagree with the indexes: they rebuild from
            // their collections before they next answer (commit_hooks.hpp).
            if (!report.damaged.empty()) {
                file_storage restored(restoring);
                (void)request_rebuild(restored);
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
                // Taken also when dir is damaged (its damage is recorded).
                database<file_storage> current(file_storage(dir, open_mode::read_only));
                report.previous = create_locked(current, {}, "pre-restore of " + std::string(id), true);
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
    // first (a damaged record or chunk is left as the database holds it and
    // reported in report.damaged; a damaged file nothing checks on read
    // refuses, checksum_mismatch, nothing changed), then a backup of the
    // current state is taken (report.previous, also of a damaged state), missing or
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

        Storage raw = db.raw_storage();

        // 1. Every file of the backup read and checked before the target
        // changes; each damaged one resolved (see the header) — a damaged
        // file nothing checks on read refuses the whole restore here.
        std::set<std::string, std::less<>> damaged;  // records and chunks the database keeps as it has them
        std::set<std::string, std::less<>> left_out;  // derived: erased, rebuilt on open
        {
            backup_verify_report check;
            detail::backup_check_dir(path_of(id), m, false, check, [&](std::uint64_t done, std::uint64_t) {
                if (progress) progress(done, steps);
            });
            std::set<std::string, std::less<>> listed;
            for (const auto& f : m.files) listed.insert(f.path);
            for (const auto& p : check.problems) {
                // Files the manifest does not list are not restored; the
                // target keeps its own log.
                if (!listed.count(p.file) || p.file.starts_with("wal/")) continue;
                bool record = detail::backup_is_record_key(p.file), chunk = detail::backup_is_chunk_key(p.file);
                std::string outcome;
                if (detail::backup_is_listing_key(p.file)) {
                    left_out.insert(p.file);
                    outcome = "left out (erased): a listing snapshot is derived, rebuilt from the records on the next open";
                } else if (chunk) {
                    auto current = raw.read(p.file);
                    damaged.insert(p.file);
                    bool intact = current && !detail::backup_chunk_problem(*current, p.file);
                    outcome = intact ? "the database's own copy is intact and kept (a chunk's content is fixed by its name)"
                                     : "not restored: the database keeps what it has at this key (none, or damaged)";
                    report.unresolved += !intact;
                } else if (record) {
                    damaged.insert(p.file);
                    outcome = "not restored: the database keeps its own version of this key (a transaction takes only "
                              "intact records)";
                    report.unresolved++;
                } else {
                    throw error(errc::checksum_mismatch, "backup " + name + ": " + p.file + ": " + p.what +
                                                             "; nothing checks this file's content when it is read, so it "
                                                             "would be restored as if good; nothing was restored");
                }
                report.damaged.push_back({p.file, p.what, std::move(outcome)});
            }
        }

        // 2. The transaction: its size is known before anything is written.
        std::set<std::string, std::less<>> in_backup;
        std::uint64_t payload = 0, ops = 0;
        for (const auto& f : m.files) {
            if (f.path.starts_with("wal/")) continue;  // the target keeps its own log
            if (left_out.count(f.path)) continue;
            in_backup.insert(f.path);
            if (detail::backup_is_chunk_key(f.path) || damaged.count(f.path)) continue;
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
        if constexpr (requires { { raw.max_write_size() } -> std::convertible_to<std::uint64_t>; }) {
            std::uint64_t need = detail::backup_wal_bytes(payload, ops), limit = raw.max_write_size();
            if (need > limit)
                throw error(errc::unsupported,
                            "restoring backup " + name + " into " + std::string(Storage::name) + " needs one transaction of about " +
                                std::to_string(need) + " bytes, and the storage takes at most " + std::to_string(limit) +
                                " bytes in one write (its WAL appends a transaction in one write); nothing was restored "
                                "(restore into a data directory and copy, or raise osd_max_write_size)");
        }

        // 3. The current state, kept as a backup first (also when it is damaged).
        if (holds_anything) report.previous = create_locked(db, {}, "pre-restore of " + name, true);

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
            if (!detail::backup_is_chunk_key(f.path) || damaged.count(f.path)) continue;
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
            if (detail::backup_is_chunk_key(f.path) || damaged.count(f.path) || left_out.count(f.path)) continue;
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
    // open). Every copy taken from the backup is checked on its own against
    // the manifest and its own digest before it is used, so the backup need
    // not be verified: a damaged copy makes only its key unrepairable (a
    // damaged manifest refuses the whole repair, errc::corrupt). All replaced records are written in ONE
    // transaction, together with the removal of the listing snapshots of
    // the collections they belong to (their projections may differ): a
    // crash leaves all of them repaired or none. Chunks are replaced one by
    // one (each atomically); a chunk is immutable, so either copy is right.
    // Nothing else in data_dir changes. A repaired record holds the version
    // the backup has, which may be older than the damaged one.
    repair_report repair(const std::filesystem::path& data_dir, std::string_view id, repair_options options = {}) {
        auto lock = lock_root();
        auto m = load_manifest(std::string(id));
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
        auto m = load_manifest(std::string(id));
        return repair_locked(db, m, options);
    }

private:
    // What restore(dir) puts at `to` when the backup's copy of f (there, if
    // it could be read) failed its check; returns the outcome for the report
    // (see the header); intact: what is at `to` now is sound. live_dir: the
    // data directory (empty: none). Throws checksum_mismatch when nothing
    // would check f's content on read and live_dir has no copy of it as the
    // backup held it.
    std::string restore_damaged_file(const detail::backup_manifest& m, const detail::backup_file& f,
                                     const std::string& problem, const std::filesystem::path& live_dir,
                                     const std::filesystem::path& to, bool& intact) {
        namespace fs = std::filesystem;
        std::error_code ec;
        intact = true;
        bool record = detail::backup_is_record_key(f.path), chunk = detail::backup_is_chunk_key(f.path);
        // The data directory's copy, when it is what the backup held (copied
        // first, then checked: a writer may replace it meanwhile).
        if (!live_dir.empty() && fs::is_regular_file(live_dir / f.path, ec)) {
            fs::path aside = to.parent_path() / (".live." + to.filename().string());  // no key starts with '.'
            try {
                detail::backup_clone_or_copy(live_dir / f.path, aside, options_.reflink);
                auto wrong = detail::backup_check_file(aside, f, false).problem;
                // A chunk's content is fixed by its name: any intact copy is the one.
                if (wrong && chunk) {
                    auto a = f.path.find('/', 4);
                    auto digest = detail::backup_chunk_digest(std::string_view(f.path).substr(4, a - 4), aside);
                    if (digest && *digest == f.path.substr(f.path.rfind('/') + 1)) wrong.reset();
                }
                if (!wrong) {
                    detail::backup_rename(aside, to);
                    return "taken from the data directory, whose copy is " +
                           std::string(chunk ? "intact (a chunk's content is fixed by its name)"
                                             : "exactly what the backup held");
                }
            } catch (const error&) {
                // Unreadable there too: resolved below.
            }
            fs::remove(aside, ec);
        }
        if (detail::backup_is_listing_key(f.path)) {
            fs::remove(to, ec);
            return "left out: a listing snapshot is derived, rebuilt from the records on the next open";
        }
        if (f.path == "wal/checkpoint" && m.next_txid != 0) {
            detail::backup_write_file(to, detail::backup_wal_checkpoint(m.lsn, m.next_txid));
            return "rebuilt from the manifest (LSN " + std::to_string(m.lsn) + ", next transaction id " +
                   std::to_string(m.next_txid) + ")";
        }
        if (record || chunk) {
            intact = false;
            if (fs::is_regular_file(to, ec))
                return "restored as it is, still damaged: every read of it fails with a checksum error and `stowage "
                       "verify` names it; repair it from another backup";
            return "not restored: the backup's copy cannot be read";
        }
        throw error(errc::checksum_mismatch, "backup " + m.id + ": " + f.path + ": " + problem +
                                                 "; nothing checks this file's content when it is read and the data "
                                                 "directory has no intact copy, so it would be restored as if good; "
                                                 "nothing was restored");
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
            // Keys the database knows of that have no file: a record its
            // collection's listing snapshot names, a chunk a blob's manifest
            // names (deleted, or not a regular file). The backup's copy
            // brings them back.
            auto restore_missing = [&](const std::string& key, bool record) {
                repair_item item{key, "missing (No such file)", {}};
                auto copy = good_copy(m, in_backup, key, record, item.outcome);
                if (!copy) {
                    report.unrepairable.push_back(std::move(item));
                    return;
                }
                (record ? report.records : report.chunks)++;
                (record ? records : chunks).emplace_back(key, std::move(*copy));
                report.repaired.push_back(std::move(item));
            };
            const std::set<std::string, std::less<>> present(keys.begin(), keys.end());
            std::map<std::string, std::string, std::less<>> backup_chunk_of;  // digest hex -> key in the backup
            for (const auto& f : m.files)
                if (detail::backup_is_chunk_key(f.path)) backup_chunk_of.emplace(f.path.substr(f.path.rfind('/') + 1), f.path);
            std::set<std::string, std::less<>> present_chunks;
            for (const auto& key : keys)
                if (detail::backup_is_chunk_key(key)) present_chunks.insert(key.substr(key.rfind('/') + 1));
            std::set<std::string, std::less<>> wanted_chunks;
            for (const auto& key : keys) {
                const auto slash = key.find('/');
                if (slash == std::string::npos) continue;
                const std::string collection = key.substr(0, slash);
                if (key == collection + "/listing") {
                    std::optional<bytes> data;
                    try {
                        data = snap.read(key);
                    } catch (const error&) {
                        continue;  // a damaged snapshot is rebuilt on open; verify reports it
                    }
                    auto entries = data ? parse_listing_snapshot(*data) : std::nullopt;
                    if (!entries) continue;
                    for (const auto& entry : *entries)
                        if (auto rk = record_key(collection, entry.first); !present.contains(rk)) restore_missing(rk, true);
                } else if (collection == "cas_blobs" && is_record_key(collection, key)) {
                    try {
                        auto record = snap.read(key);
                        if (!record) continue;
                        envelope_header h = verify_record(*record, key);
                        cas_manifest blob;
                        binary_codec{}.decode(bytes_view(*record).subspan(h.payload_offset), blob);
                        for (const auto& c : blob.chunks)
                            if (!present_chunks.contains(c.digest)) wanted_chunks.insert(c.digest);
                    } catch (const error&) {
                        continue;  // a damaged manifest was handled above, as a record
                    }
                }
            }
            for (const auto& digest : wanted_chunks) {
                if (auto it = backup_chunk_of.find(digest); it != backup_chunk_of.end()) {
                    restore_missing(it->second, false);
                } else {
                    report.unrepairable.push_back(
                        {"cas/" + digest, "missing (No such file): a blob's manifest names it", "not in backup " + m.id});
                }
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

    // A backup: a directory with a manifest, or one named like a backup id
    // (whose manifest is then missing: damaged).
    bool exists(std::string_view id) const {
        if (id.empty() || id.find('/') != std::string_view::npos || id.starts_with(".") || id.ends_with(".partial"))
            return false;
        std::error_code ec;
        if (std::filesystem::is_regular_file(path_of(id) / detail::backup_manifest_name, ec)) return true;
        return detail::backup_looks_like_id(id) && std::filesystem::is_directory(path_of(id), ec);
    }

    // not_found for an unknown id; corrupt for a missing or damaged manifest.
    detail::backup_manifest load_manifest(const std::string& id) const {
        if (!exists(id)) throw error(errc::not_found, "no backup \"" + id + "\" in " + root_.string());
        auto path = path_of(id) / detail::backup_manifest_name;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec))
            throw error(errc::corrupt, "backup manifest " + path.string() + " is missing");
        auto m = detail::backup_parse_manifest(detail::backup_read_text(path), path.string());
        if (m.id != id) throw error(errc::corrupt, "backup manifest " + path.string() + " names backup \"" + m.id + "\"");
        return m;
    }

    // What list() says of backup `id`; a manifest that cannot be trusted
    // makes it damaged, with its time and LSN from its id.
    backup_info info_for(const std::string& id) const {
        try {
            return info_of(load_manifest(id));
        } catch (const error& e) {
            if (e.kind() != errc::corrupt && e.kind() != errc::unsupported && e.kind() != errc::io) throw;
            backup_info info;
            info.id = id;
            detail::backup_parse_id(id, info.time, info.lsn);
            info.state = backup_state::damaged;
            info.problem = e.what();
            return info;
        }
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
        info.manifest_checked = m.checksummed;
        if (!m.damage.empty()) {
            info.state = backup_state::damaged;
            info.problem = std::to_string(m.damage.size()) + " records or chunks were damaged in the data directory when "
                           "it was taken (" + m.damage.front().file + ": " + m.damage.front().what + ")";
        } else {
            info.state = info.verified ? backup_state::verified : backup_state::unverified;
        }
        return info;
    }

    std::chrono::system_clock::time_point now() const {
        return options_.clock ? options_.clock() : std::chrono::system_clock::now();
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

    // as_is: a safety copy (restore's backup of the state it replaces), taken
    // also of a damaged database: records and chunks that fail their checks
    // are copied as they are and named in the manifest ("damage"), and the
    // backup is kept, unmarked (state damaged), when its files match the
    // manifest. Otherwise any damage fails the backup.
    template <storage Storage>
    backup_info create_locked(database<Storage>& db, const backup_progress& progress, std::string reason,
                              bool as_is = false) {
        namespace fs = std::filesystem;
        auto snap = db.snapshot();
        // Transaction ids continue past every one used so far (taking one
        // costs nothing: an unused id is simply skipped).
        std::uint64_t next_txid = db.transaction().id() + 1;
        Storage raw = db.raw_storage();
        auto t = now();
        detail::backup_manifest m;
        m.lsn = snap.lsn();
        m.next_txid = next_txid;
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
                        // A reflink or a copy: never shares mutable bytes.
                        fs::path from = raw.path_of(key);
                        if (!fs::exists(from)) throw gone();
                        f.linked = detail::backup_clone_or_copy(from, to, options_.reflink);
                        f.sha256 = detail::backup_hash_file(to, false, f.size);
                    } else {
                        // Not files: a copy, block by block.
                        auto digest = detail::backup_copy_chunk(raw, key, to, f.size);
                        if (!digest) throw gone();
                        f.sha256 = std::move(*digest);
                    }
                    if (as_is)
                        if (auto problem = detail::backup_chunk_file_problem(to, key)) m.damage.push_back({key, *problem, true});
                } else {
                    auto value = snap.read(key);
                    if (!value) continue;
                    detail::backup_write_file(to, *value);
                    f.size = value->size();
                    f.sha256 = to_hex(hash_of<sha256>(*value));
                    if (as_is && detail::backup_is_record_key(key))
                        if (auto problem = detail::backup_record_problem(*value, key)) m.damage.push_back({key, *problem, true});
                }
                m.files.push_back(std::move(f));
            }
            if (progress) progress(keys.size(), keys.size());
            bytes checkpoint = detail::backup_wal_checkpoint(m.lsn, next_txid);
            detail::backup_write_file(partial / "wal/checkpoint", checkpoint);
            m.files.push_back({"wal/checkpoint", checkpoint.size(), to_hex(hash_of<sha256>(checkpoint)), false});
            detail::backup_write_file(partial / detail::backup_manifest_name, as_bytes(detail::backup_manifest_json(m)));
            detail::backup_sync_tree(partial);

            // Read everything back from the device before calling it a backup
            // (no id named on failure: the partial backup is removed).
            backup_verify_report report;
            detail::backup_check_dir(partial, m, true, report, {});
            std::erase_if(report.problems, [](const backup_problem& p) { return p.recorded; });
            if (!report.ok())
                throw error(errc::checksum_mismatch, "the new backup failed verification and was removed: " +
                                                         report.problems.front().file + ": " + report.problems.front().what +
                                                         " (" + std::to_string(report.problems.size()) + " problems)");
            if (m.damage.empty()) write_marker(partial);
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
