// storage/platform.hpp — the one place that knows how to make bytes durable
// on each platform.
//
// On Linux fdatasync(2) flushes a file's data and the metadata needed to read
// it back, and fsync(2) on a directory makes its entries (creates, renames,
// unlinks) durable. On macOS fsync only reaches the drive's cache, so a
// durable sync is fcntl(F_FULLFSYNC) (what SQLite's `fullfsync` does).
//
// A failed sync is never retried as if it could succeed: after EIO the
// kernel may already have dropped the dirty pages (the "fsyncgate" lesson),
// so callers report the failure and the caller's component decides what
// state it is in.
#pragma once

#include <cerrno>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "../error.hpp"

namespace stowage::platform {

// Data (and the size needed to read it) on stable storage. Returns errno or 0.
inline int sync_data(int fd) noexcept {
#if defined(__APPLE__)
    if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
    return ::fsync(fd) == 0 ? 0 : errno;
#elif defined(__linux__)
    int r;
    do { r = ::fdatasync(fd); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
#else
    int r;
    do { r = ::fsync(fd); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
#endif
}

// A directory's entries on stable storage. Returns errno or 0.
inline int sync_directory(const std::string& path) noexcept {
    int fd;
    do { fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
#if defined(__APPLE__)
    int r = sync_data(fd);
#else
    // fsync, not fdatasync: some filesystems only honour fsync on directories.
    int r;
    do { r = ::fsync(fd); } while (r != 0 && errno == EINTR);
    r = r == 0 ? 0 : errno;
#endif
    ::close(fd);
    return r;
}

// Everything written to the filesystem holding `path` on stable storage: one
// syncfs(2) instead of one fsync per file, for batches of many files (Linux
// reports writeback errors through syncfs since 5.8). Returns errno, 0, or
// ENOTSUP where the platform has no such call (callers then sync each file).
inline int sync_filesystem(const std::string& path) noexcept {
#if defined(__linux__)
    int fd;
    do { fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    int r = ::syncfs(fd) == 0 ? 0 : errno;
    ::close(fd);
    return r;
#else
    (void)path;
    return ENOTSUP;
#endif
}

}  // namespace stowage::platform
