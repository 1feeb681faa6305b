// storage/file.hpp — a directory on a local filesystem as a Storage policy.
//
// Each key is a file at the same relative path (keys are validated, see
// key.hpp, so none can escape the directory); '/' in a key is a
// sub-directory, which is how callers spread many keys over directories.
//
// Durability (platform.hpp holds the per-platform sync calls):
//   replace   write a temp file beside the target, sync it, rename it over
//             the target, sync the directory (full). A crash leaves the old
//             file or the new one, never a mix. Newly created parent
//             directories are synced into their parents as well.
//   batch     all temp files written and synced, all renames, then one sync
//             per distinct directory. From `syncfs_batch` files or
//             directories on, one syncfs(2) of the whole filesystem replaces
//             the per-file and per-directory syncs (Linux; elsewhere the
//             per-file path is kept) — many times cheaper for bulk writes.
//   batched   file contents synced, directory syncs deferred to flush().
//   none      nothing synced until flush().
//   overwrite_batch (the database's applier): in place, not atomic, durable
//             at flush(); see its comment.
//   logs      append() writes through a cached O_APPEND descriptor; sync()
//             syncs the data and, the first time, the directory entry.
//
// Locking: a read-write open takes an exclusive flock(2) on `.lock` in the
// directory and writes its pid there; a second writer (this process or
// another) gets errc::locked naming the holder. Read-only opens take no
// lock and create nothing, so `stowage verify` can run beside a writer.
// The lock file also records whether the last writer closed cleanly; after
// an unclean close, the next writer sweeps leftover temp files.
//
// Handles: copies share one open directory (and its lock). The lock is
// released when the last handle goes away.
//
// Thread safety: reads are independent syscalls and may run concurrently
// with anything. Writes may come from several threads; the bookkeeping
// (pending syncs, cached log descriptors) is mutex-protected, and appends to
// one log are serialized. Two concurrent replaces of one key both complete;
// the later rename wins.
#pragma once

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "key.hpp"
#include "platform.hpp"

namespace stowage {

namespace detail {

// An owned file descriptor.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

inline unique_fd open_fd(const std::string& path, int flags, mode_t mode = 0644) {
    int fd;
    do { fd = ::open(path.c_str(), flags | O_CLOEXEC, mode); } while (fd < 0 && errno == EINTR);
    return unique_fd(fd);
}

// Writes all of data at the descriptor's position; returns errno or 0.
inline int write_all(int fd, bytes_view data) noexcept {
    const std::byte* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return 0;
}

// Reads up to n bytes at offset; returns errno or 0.
inline int pread_all(int fd, std::byte* out, std::size_t n, std::uint64_t offset, std::size_t& got) noexcept {
    got = 0;
    while (got < n) {
        ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return 0;
}

}  // namespace detail

class file_storage {
public:
    static constexpr std::string_view name = "file";

    // Batches of at least this many keys are synced with one syncfs(2).
    static constexpr std::size_t syncfs_batch = 16;

    // Opens (read_write: creating) the directory.
    explicit file_storage(const std::filesystem::path& dir, open_mode mode = open_mode::read_write)
        : impl_(std::make_shared<impl>(dir, mode)) {}

    const std::filesystem::path& directory() const { return impl_->root; }

    // The file a key is stored in (for tools and tests).
    std::filesystem::path path_of(std::string_view key) const {
        validate_key(key);
        return impl_->root / std::filesystem::path(std::string(key));
    }

    // True when the previous writer did not close cleanly (it crashed or was
    // killed). Components use it to decide whether to rebuild derived state.
    bool previous_close_was_unclean() const { return impl_->previous_unclean; }

    // --- Storage concept ---------------------------------------------------

    // Reads open with O_NONBLOCK and check that the key is a regular file:
    // a FIFO, device, socket or directory where a key's file should be is
    // damage (errc::corrupt naming it), never something to block on.
    std::optional<bytes> read(std::string_view key) const {
        std::string path = impl_->path(key);
        auto fd = detail::open_fd(path, O_RDONLY | O_NONBLOCK);
        if (!fd) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
            throw_errno(errno, "read " + std::string(key));
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw_errno(errno, "stat " + std::string(key));
        if (!S_ISREG(st.st_mode)) not_a_regular_file(key, st);
        bytes out(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        if (int e = detail::pread_all(fd.get(), out.data(), out.size(), 0, got)) throw_errno(e, "read " + std::string(key));
        out.resize(got);
        return out;
    }

    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        std::string path = impl_->path(key);
        auto fd = detail::open_fd(path, O_RDONLY | O_NONBLOCK);
        if (!fd) {
            if (errno == ENOENT || errno == ENOTDIR) throw error(errc::not_found, std::string(key));
            throw_errno(errno, "read " + std::string(key));
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw_errno(errno, "stat " + std::string(key));
        if (!S_ISREG(st.st_mode)) not_a_regular_file(key, st);
        auto size = static_cast<std::uint64_t>(st.st_size);
        if (offset >= size) return {};
        bytes out(static_cast<std::size_t>(std::min(n, size - offset)));
        std::size_t got = 0;
        if (int e = detail::pread_all(fd.get(), out.data(), out.size(), offset, got))
            throw_errno(e, "read " + std::string(key));
        out.resize(got);
        return out;
    }

    [[noreturn]] static void not_a_regular_file(std::string_view key, const struct stat& st) {
        const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                         : "not a regular file";
        throw error(errc::corrupt, std::string(key) + ": " + what + " where a regular file should be");
    }

    std::optional<std::uint64_t> size(std::string_view key) const {
        std::string path = impl_->path(key);
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
            throw_errno(errno, "stat " + std::string(key));
        }
        if (!S_ISREG(st.st_mode)) return std::nullopt;
        return static_cast<std::uint64_t>(st.st_size);
    }

    bool contains(std::string_view key) const { return size(key).has_value(); }

    std::vector<std::string> list(std::string_view prefix) const {
        namespace fs = std::filesystem;
        // Walk only the deepest directory the prefix fully names.
        std::string base(key_parent(prefix));
        if (!base.empty() && !valid_key(base)) return {};
        fs::path start = base.empty() ? impl_->root : impl_->root / base;
        std::vector<std::string> out;
        std::error_code ec;
        if (!fs::is_directory(start, ec)) return out;
        fs::recursive_directory_iterator it(start, fs::directory_options::none, ec), end;
        if (ec) throw_errno(ec.value(), "list " + start.string());
        for (; it != end; it.increment(ec)) {
            if (ec) throw_errno(ec.value(), "list " + start.string());
            const auto& entry = *it;
            std::string leaf = entry.path().filename().string();
            if (!leaf.empty() && leaf.front() == '.') {  // our own files (lock, temps)
                if (entry.is_directory(ec)) it.disable_recursion_pending();
                continue;
            }
            if (!entry.is_regular_file(ec)) continue;
            std::string key = entry.path().lexically_relative(impl_->root).generic_string();
            if (key.starts_with(prefix)) out.push_back(std::move(key));
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    void replace(std::string_view key, bytes_view data, durability d) {
        blob_write w{key, data};
        replace_batch(std::span<const blob_write>(&w, 1), d);
    }

    void replace_batch(std::span<const blob_write> writes, durability d) {
        impl_->writable();
        for (const auto& w : writes) validate_key(w.key);
        struct staged {
            std::string temp, target, dir;
        };
        std::vector<staged> done;
        std::set<std::string> dirs_to_sync;
        const bool use_syncfs = writes.size() >= syncfs_batch;
        try {
            for (const auto& w : writes) {
                std::string target = impl_->path(w.key);
                std::string dir = impl_->make_parents(w.key, dirs_to_sync);
                std::string temp = impl_->temp_name(dir, w.key);
                auto fd = detail::open_fd(temp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC);
                if (!fd) {
                    if (errno == ENOTDIR)
                        throw error(errc::bad_input, "key " + std::string(w.key) + " lies under another key's blob");
                    throw_errno(errno, "create temp file for " + std::string(w.key));
                }
                done.push_back({temp, target, dir});
                if (int e = detail::write_all(fd.get(), w.data)) throw_errno(e, "write " + std::string(w.key));
                if (d != durability::none && !use_syncfs) {
                    if (int e = platform::sync_data(fd.get())) throw_errno(e, "sync " + std::string(w.key));
                }
            }
            if (d != durability::none && use_syncfs) {
                // Many files: one filesystem-wide sync costs less than one
                // per file, and orders every temp file's contents before
                // any rename below.
                int e = platform::sync_filesystem(impl_->root_str);
                if (e == ENOTSUP) {
                    for (auto& s : done) {
                        auto fd = detail::open_fd(s.temp, O_RDONLY);
                        if (!fd) throw_errno(errno, "open " + s.temp);
                        if (int e2 = platform::sync_data(fd.get())) throw_errno(e2, "sync " + s.temp);
                    }
                } else if (e != 0) {
                    throw_errno(e, "sync file system of " + impl_->root_str);
                }
            }
            for (auto& s : done) {
                impl_->forget_log(s.target);  // a cached log descriptor would point at the old inode
                if (::rename(s.temp.c_str(), s.target.c_str()) != 0) {
                    if (errno == EISDIR)
                        throw error(errc::bad_input, "key " + s.target + " is a directory holding other keys");
                    throw_errno(errno, "rename into " + s.target);
                }
                s.temp.clear();
                dirs_to_sync.insert(s.dir);
            }
        } catch (...) {
            for (auto& s : done)
                if (!s.temp.empty()) ::unlink(s.temp.c_str());
            throw;
        }
        std::vector<std::string> files;
        if (d == durability::none)
            for (auto& s : done) files.push_back(s.target);
        impl_->settle(dirs_to_sync, files, d);
    }

    // Writes each blob over its key's file in place (creating it if absent),
    // with none of replace's atomicity: until flush() returns, a crash may
    // leave any mix of old and new bytes, and a concurrent reader may see
    // one. For callers that cover both — the database's applier, whose
    // versions stay readable from its overlay until they are written and
    // stay in its log until a checkpoint after the flush. What it saves: an
    // existing key keeps its inode, so no inode is allocated or freed (on
    // ext4 without a journal every create scans past each inode freed in
    // the last minutes: benchmarks/RESULTS.md, "Commits"). A file with more
    // than one link (a CAS chunk shared with a backup) is replaced instead,
    // so the other names never change. Durable at the next flush().
    void overwrite_batch(std::span<const blob_write> writes) {
        impl_->writable();
        for (const auto& w : writes) validate_key(w.key);
        std::set<std::string> dirs_to_sync;
        std::vector<std::string> files;
        for (const auto& w : writes) {
            std::string target = impl_->path(w.key);
            // An existing file first: its directories exist, so the
            // mkdir walk (one EEXIST per level, 2.4% of all CPU in the
            // commit benchmark's applier) is only for new keys.
            // O_NONBLOCK: a FIFO in a record's place must not hang the
            // writer (ENXIO without a reader); anything but a regular file
            // is replaced whole below.
            auto fd = detail::open_fd(target, O_WRONLY | O_NONBLOCK);
            if (fd) {
                struct stat st {};
                if (::fstat(fd.get(), &st) != 0) throw_errno(errno, "stat " + std::string(w.key));
                if (!S_ISREG(st.st_mode)) {
                    fd.reset();
                    errno = EEXIST;
                }
            } else if (errno == ENXIO) {
                errno = EEXIST;
            }
            if (!fd && errno == ENOENT) {
                std::string dir = impl_->make_parents(w.key, dirs_to_sync);
                fd = detail::open_fd(target, O_WRONLY | O_CREAT | O_EXCL);
                if (fd) dirs_to_sync.insert(dir);  // a new name in dir
            }
            if (!fd) {
                if (errno == EEXIST) {  // created meanwhile by a replace: take the safe path
                    replace(w.key, w.data, durability::none);
                    continue;
                }
                if (errno == ENOTDIR)
                    throw error(errc::bad_input, "key " + std::string(w.key) + " lies under another key's blob");
                if (errno == EISDIR)
                    throw error(errc::bad_input, "key " + std::string(w.key) + " is a directory holding other keys");
                throw_errno(errno, "open " + std::string(w.key));
            }
            struct stat st {};
            if (::fstat(fd.get(), &st) != 0) throw_errno(errno, "stat " + std::string(w.key));
            if (st.st_nlink > 1) {
                fd.reset();
                replace(w.key, w.data, durability::none);
                continue;
            }
            if (int e = detail::write_all(fd.get(), w.data)) throw_errno(e, "write " + std::string(w.key));
            if (static_cast<std::uint64_t>(st.st_size) > w.data.size() &&
                ::ftruncate(fd.get(), static_cast<off_t>(w.data.size())) != 0)
                throw_errno(errno, "truncate " + std::string(w.key));
            files.push_back(std::move(target));
        }
        impl_->settle(dirs_to_sync, files, durability::none);
    }

    bool remove(std::string_view key, durability d) {
        impl_->writable();
        std::string path = impl_->path(key);
        impl_->forget_log(path);
        if (::unlink(path.c_str()) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) return false;
            throw_errno(errno, "remove " + std::string(key));
        }
        std::set<std::string> dirs{impl_->dir_of(key)};
        impl_->settle(dirs, {}, d);
        return true;
    }

    std::uint64_t append(std::string_view key, bytes_view data) {
        impl_->writable();
        return impl_->append(key, data);
    }

    // Writes into a log at `offset` (writes_logs_at): through a second,
    // non-appending descriptor, since pwrite on an O_APPEND one appends.
    void write_at(std::string_view key, std::uint64_t offset, bytes_view data) {
        impl_->writable();
        impl_->write_at(key, offset, data);
    }

    void sync(std::string_view key) {
        impl_->writable();
        impl_->sync_log(key);
    }

    // Moves `from` over `to` (rename(2)); the caller syncs `from` first if
    // its contents must be durable.
    void rename(std::string_view from, std::string_view to, durability d) {
        impl_->writable();
        std::string source = impl_->path(from);
        std::string target = impl_->path(to);
        std::set<std::string> dirs;
        std::string dir = impl_->make_parents(to, dirs);
        impl_->forget_log(source);
        impl_->forget_log(target);
        if (::rename(source.c_str(), target.c_str()) != 0) {
            if (errno == ENOENT) throw error(errc::not_found, "rename of absent key " + std::string(from));
            throw_errno(errno, "rename " + std::string(from) + " to " + std::string(to));
        }
        dirs.insert(dir);
        dirs.insert(impl_->dir_of(from));
        impl_->settle(dirs, {}, d);
    }

    void truncate(std::string_view key, std::uint64_t n) {
        impl_->writable();
        std::string path = impl_->path(key);
        int r;
        do { r = ::truncate(path.c_str(), static_cast<off_t>(n)); } while (r != 0 && errno == EINTR);
        if (r != 0) {
            if (errno == ENOENT || errno == ENOTDIR) throw error(errc::not_found, "truncate of absent key " + std::string(key));
            throw_errno(errno, "truncate " + std::string(key));
        }
        impl_->mark_log_dirty(path);
    }

    void flush() {
        impl_->writable();
        impl_->flush();
    }

    bool read_only() const { return impl_->mode == open_mode::read_only; }

private:
    // An open log. Syncs run outside the mutex (an fdatasync takes
    // milliseconds, and appends from other writers must not wait behind it:
    // that is what lets the WAL batch them into the next group commit), so
    // the descriptor is shared with in-flight syncs and "dirty" is a pair of
    // generations: a sync covers the writes counted before it started.
    struct log_state {
        std::shared_ptr<detail::unique_fd> fd;
        std::shared_ptr<detail::unique_fd> positional;  // opened by the first write_at
        std::uint64_t written = 0;  // appends/truncates so far
        std::uint64_t synced = 0;   // `written` as of the last completed sync
        bool name_synced = true;    // false when this open created the file
        std::string dir;
        bool dirty() const { return written != synced; }
    };

    struct impl {
        std::filesystem::path root;
        std::string root_str;
        open_mode mode;
        detail::unique_fd lock_fd;
        bool previous_unclean = false;

        std::mutex flush_mutex;  // one flush() at a time (held across its syncs)
        std::mutex mutex;        // guards everything below; never held across a sync of data
        std::set<std::string> pending_dirs;
        std::set<std::string> pending_files;
        std::map<std::string, log_state, std::less<>> logs;  // by path
        std::uint64_t temp_counter = 0;

        impl(const std::filesystem::path& dir, open_mode m) : root(dir), mode(m) {
            namespace fs = std::filesystem;
            std::error_code ec;
            if (mode == open_mode::read_only) {
                if (!fs::is_directory(root, ec))
                    throw error(errc::not_found, "data directory " + root.string() + " does not exist");
                root_str = root.string();
                return;
            }
            bool existed = fs::is_directory(root, ec);
            fs::create_directories(root, ec);
            if (ec) throw_errno(ec.value(), "create data directory " + root.string());
            root_str = root.string();
            if (!existed) {
                // The new directory's own entry must reach its parent.
                auto parent = root.has_parent_path() ? fs::absolute(root).parent_path() : fs::current_path();
                if (int e = platform::sync_directory(parent.string())) throw_errno(e, "sync " + parent.string());
            }
            take_lock();
        }

        ~impl() {
            if (mode != open_mode::read_write || !lock_fd) return;
            // Clean close: everything synced, then the marker says so.
            try {
                flush();
                write_lock_state("closed");
            } catch (...) {
                // A destructor cannot report; the next open sees "open" and
                // treats the close as unclean, which is the safe reading.
            }
        }

        void take_lock() {
            std::string lock_path = root_str + "/.lock";
            lock_fd = detail::open_fd(lock_path, O_RDWR | O_CREAT);
            if (!lock_fd) throw_errno(errno, "open lock file " + lock_path);
            if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
                int e = errno;
                std::string holder = read_lock_text();
                lock_fd.reset();
                if (e == EWOULDBLOCK)
                    throw error(errc::locked, "data directory " + root_str + " is locked by another writer" +
                                                  (holder.empty() ? "" : " (" + holder + ")"));
                throw_errno(e, "lock " + lock_path);
            }
            std::string previous = read_lock_text();
            previous_unclean = previous.find("open") != std::string::npos;
            if (previous_unclean) sweep_temp_files();
            write_lock_state("open");
        }

        std::string read_lock_text() const {
            char buf[256];
            ssize_t n = ::pread(lock_fd.get(), buf, sizeof buf - 1, 0);
            if (n <= 0) return {};
            std::string s(buf, static_cast<std::size_t>(n));
            while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
            return s;
        }

        void write_lock_state(const char* what) {
            std::string text = "pid " + std::to_string(::getpid()) + " " + what + "\n";
            if (::ftruncate(lock_fd.get(), 0) != 0) throw_errno(errno, "write lock file");
            if (::pwrite(lock_fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
                throw_errno(errno, "write lock file");
            if (int e = platform::sync_data(lock_fd.get())) throw_errno(e, "sync lock file");
        }

        // Temp files left by a writer that died between write and rename.
        void sweep_temp_files() {
            namespace fs = std::filesystem;
            std::error_code ec;
            for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
                auto leaf = it->path().filename().string();
                if (leaf.starts_with(".tmp.")) fs::remove(it->path(), ec);
            }
        }

        void writable() const {
            if (mode == open_mode::read_only)
                throw error(errc::read_only, "data directory " + root_str + " was opened read-only");
        }

        std::string path(std::string_view key) const {
            validate_key(key);
            std::string p = root_str;
            p += '/';
            p += key;
            return p;
        }

        std::string dir_of(std::string_view key) const {
            auto parent = key_parent(key);
            return parent.empty() ? root_str : root_str + "/" + std::string(parent);
        }

        std::string temp_name(const std::string& dir, std::string_view key) {
            std::uint64_t n;
            {
                std::lock_guard lock(mutex);
                n = ++temp_counter;
            }
            auto slash = key.rfind('/');
            std::string_view leaf = slash == std::string_view::npos ? key : key.substr(slash + 1);
            return dir + "/.tmp." + std::string(leaf.substr(0, 64)) + "." + std::to_string(::getpid()) + "." +
                   std::to_string(n);
        }

        // Creates the key's missing parent directories. Each new directory
        // is an entry in its parent, which must be synced too: those parents
        // join `dirs`. Returns the key's own directory.
        std::string make_parents(std::string_view key, std::set<std::string>& dirs) {
            auto parent = key_parent(key);
            if (parent.empty()) return root_str;
            std::string dir = root_str;
            std::size_t start = 0;
            while (start <= parent.size()) {
                auto end = parent.find('/', start);
                if (end == std::string_view::npos) end = parent.size();
                std::string child = dir + "/" + std::string(parent.substr(start, end - start));
                if (::mkdir(child.c_str(), 0755) == 0) {
                    dirs.insert(dir);
                } else if (errno == ENOTDIR) {
                    throw error(errc::bad_input, "key " + std::string(key) + " lies under another key's blob");
                } else if (errno != EEXIST) {
                    throw_errno(errno, "create directory " + child);
                }
                dir = std::move(child);
                start = end + 1;
            }
            return dir;
        }

        // After renames/unlinks: sync the directories now (full) or remember
        // them (and unsynced files) for flush().
        void settle(const std::set<std::string>& dirs, const std::vector<std::string>& files, durability d) {
            if (d == durability::full) {
                if (dirs.size() >= syncfs_batch) {
                    int e = platform::sync_filesystem(root_str);
                    if (e == 0) return;
                    if (e != ENOTSUP) throw_errno(e, "sync file system of " + root_str);
                }
                for (const auto& dir : dirs)
                    if (int e = platform::sync_directory(dir)) throw_errno(e, "sync directory " + dir);
                return;
            }
            std::lock_guard lock(mutex);
            pending_dirs.insert(dirs.begin(), dirs.end());
            pending_files.insert(files.begin(), files.end());
        }

        log_state& open_log(std::string_view key, const std::string& p) {
            auto it = logs.find(p);
            if (it != logs.end()) return it->second;
            log_state ls;
            std::set<std::string> new_dirs;
            ls.dir = make_parents(key, new_dirs);
            bool existed = ::access(p.c_str(), F_OK) == 0;
            auto fd = detail::open_fd(p, O_WRONLY | O_APPEND | O_CREAT);
            if (!fd) throw_errno(errno, "open log " + std::string(key));
            ls.fd = std::make_shared<detail::unique_fd>(std::move(fd));
            ls.name_synced = existed && new_dirs.empty();
            pending_dirs.insert(new_dirs.begin(), new_dirs.end());
            return logs.emplace(p, std::move(ls)).first->second;
        }

        std::uint64_t append(std::string_view key, bytes_view data) {
            std::string p = path(key);
            std::lock_guard lock(mutex);
            log_state& ls = open_log(key, p);
            struct stat st {};
            if (::fstat(ls.fd->get(), &st) != 0) throw_errno(errno, "stat " + std::string(key));
            ++ls.written;
            if (int e = detail::write_all(ls.fd->get(), data)) throw_errno(e, "append to " + std::string(key));
            return static_cast<std::uint64_t>(st.st_size);
        }

        void write_at(std::string_view key, std::uint64_t offset, bytes_view data) {
            std::string p = path(key);
            std::lock_guard lock(mutex);
            log_state& ls = open_log(key, p);
            if (!ls.positional) {
                auto fd = detail::open_fd(p, O_WRONLY);
                if (!fd) throw_errno(errno, "open log " + std::string(key));
                ls.positional = std::make_shared<detail::unique_fd>(std::move(fd));
            }
            ++ls.written;
            const std::byte* at = data.data();
            std::size_t left = data.size();
            while (left > 0) {
                ssize_t n = ::pwrite(ls.positional->get(), at, left, static_cast<off_t>(offset));
                if (n < 0) {
                    if (errno == EINTR) continue;
                    throw_errno(errno, "write to " + std::string(key));
                }
                at += n;
                left -= static_cast<std::size_t>(n);
                offset += static_cast<std::uint64_t>(n);
            }
        }

        void sync_log(std::string_view key) {
            std::string p = path(key);
            std::shared_ptr<detail::unique_fd> fd;
            std::uint64_t generation = 0;
            {
                std::lock_guard lock(mutex);
                auto it = logs.find(p);
                if (it == logs.end()) {
                    if (::access(p.c_str(), F_OK) != 0)
                        throw error(errc::not_found, "sync of absent key " + std::string(key));
                    open_log(key, p);
                    it = logs.find(p);
                    ++it->second.written;  // written by an earlier open, maybe never synced
                }
                log_state& ls = it->second;
                if (ls.dirty()) {
                    fd = ls.fd;
                    generation = ls.written;
                }
                if (!ls.name_synced) {
                    // The log's own entry, then any directories created for
                    // it (rare: once per new log, so done under the lock).
                    if (int e = platform::sync_directory(ls.dir)) throw_errno(e, "sync directory " + ls.dir);
                    for (const auto& d : pending_dirs)
                        if (int e = platform::sync_directory(d)) throw_errno(e, "sync directory " + d);
                    pending_dirs.clear();
                    ls.name_synced = true;
                }
            }
            if (!fd) return;
            if (int e = platform::sync_data(fd->get())) throw_errno(e, "sync " + std::string(key));
            mark_synced(p, fd, generation);
        }

        // A sync of `fd` that started when the log had `generation` writes
        // completed (the log may have been forgotten or reopened since).
        void mark_synced(const std::string& p, const std::shared_ptr<detail::unique_fd>& fd, std::uint64_t generation) {
            std::lock_guard lock(mutex);
            auto it = logs.find(p);
            if (it != logs.end() && it->second.fd == fd) it->second.synced = std::max(it->second.synced, generation);
        }

        void mark_log_dirty(const std::string& p) {
            std::lock_guard lock(mutex);
            if (auto it = logs.find(p); it != logs.end()) ++it->second.written;
            else pending_files.insert(p);
        }

        void forget_log(const std::string& p) {
            std::lock_guard lock(mutex);
            auto it = logs.find(p);
            if (it == logs.end()) return;
            // Its unsynced bytes belong to a file that is being replaced or
            // removed; nothing to keep.
            logs.erase(it);
        }

        // Syncs every log, file and directory with unsynced changes. The
        // work list is taken under the mutex and synced outside it, so
        // appends and replaces go on meanwhile (they belong to the next
        // flush); flush_mutex keeps a second flush from returning before the
        // first one's syncs, which it did not repeat, are done.
        void flush() {
            std::lock_guard serial(flush_mutex);
            struct log_sync {
                std::string path;
                std::shared_ptr<detail::unique_fd> fd;
                std::uint64_t generation;
            };
            std::vector<log_sync> log_syncs;
            std::set<std::string> files, dirs;
            {
                std::lock_guard lock(mutex);
                for (auto& [p, ls] : logs) {
                    if (ls.dirty()) log_syncs.push_back({p, ls.fd, ls.written});
                    if (!ls.name_synced) {
                        pending_dirs.insert(ls.dir);
                        ls.name_synced = true;
                    }
                }
                files.swap(pending_files);
                dirs.swap(pending_dirs);
            }
            try {
                for (const auto& l : log_syncs)
                    if (int e = platform::sync_data(l.fd->get())) throw_errno(e, "sync " + l.path);
                bool synced_all = false;
                if (files.size() + dirs.size() >= syncfs_batch) {
                    int e = platform::sync_filesystem(root_str);
                    if (e != 0 && e != ENOTSUP) throw_errno(e, "sync file system of " + root_str);
                    synced_all = e == 0;
                }
                if (!synced_all) {
                    for (const auto& f : files) {
                        auto fd = detail::open_fd(f, O_RDONLY);
                        if (!fd) {
                            if (errno == ENOENT || errno == ENOTDIR) continue;  // replaced or removed since
                            throw_errno(errno, "open " + f);
                        }
                        if (int e = platform::sync_data(fd.get())) throw_errno(e, "sync " + f);
                    }
                    for (const auto& d : dirs) {
                        int e = platform::sync_directory(d);
                        if (e != 0 && e != ENOENT) throw_errno(e, "sync directory " + d);
                    }
                }
            } catch (...) {
                // Still unsynced: the next flush must cover them again.
                std::lock_guard lock(mutex);
                pending_files.insert(files.begin(), files.end());
                pending_dirs.insert(dirs.begin(), dirs.end());
                throw;
            }
            for (const auto& l : log_syncs) mark_synced(l.path, l.fd, l.generation);
        }
    };

    std::shared_ptr<impl> impl_;
};

static_assert(storage<file_storage>);
static_assert(renames_keys<file_storage>);
static_assert(overwrites_in_place<file_storage>);
static_assert(writes_logs_at<file_storage>);

}  // namespace stowage
