// bench_support.hpp — what the store and commit benchmarks share: scratch
// directories on a real filesystem, peak-memory measurement in a fresh child
// process, and a few small helpers.
//
// Scratch space: one directory per benchmark process, under
// $STOWAGE_BENCH_DIR (default /tmp), removed when the process that created
// it exits. Durability costs depend on the filesystem, so benchmarks record
// which one it was (bench::describe_filesystem) in the run's context.
//
// Peak memory: a forked copy of a benchmark process shares all of its
// parent's pages (the 10,000 pre-built entities among them), so its VmHWM
// says nothing about the work it then does. bench::run_self re-executes the
// benchmark binary (/proc/self/exe) with arguments naming the work; that
// fresh process reads VmRSS before and VmHWM after the work and prints them.
//
// Thread safety: scratch() is safe to call from any thread; the rest are
// plain functions.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

namespace fs = std::filesystem;

// --- scratch space -------------------------------------------------------------

namespace detail {
struct scratch_root {
    fs::path path;
    pid_t owner = 0;
    ~scratch_root() {
        // Only the creating process removes it: re-executed children and
        // forked writers must leave the parent's data alone.
        if (owner == ::getpid() && !path.empty() && !std::getenv("STOWAGE_BENCH_KEEP")) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};
inline scratch_root& root_holder() {
    static scratch_root r;
    return r;
}
inline std::mutex& scratch_mutex() {
    static std::mutex m;
    return m;
}
}  // namespace detail

// The process's scratch root (created on first use).
inline fs::path scratch_root() {
    std::lock_guard lock(detail::scratch_mutex());
    auto& r = detail::root_holder();
    if (r.path.empty()) {
        const char* base = std::getenv("STOWAGE_BENCH_DIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/stowage-bench-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
        r.path = buf.data();
        r.owner = ::getpid();
    }
    return r.path;
}

// A new, empty directory under the scratch root (removed first if present).
inline fs::path fresh_dir(const std::string& name) {
    fs::path p = scratch_root() / name;
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// "ext4 on /dev/vda" for the directory's filesystem, from /proc/mounts
// (the longest mount point that is a prefix of the path).
inline std::string describe_filesystem(const fs::path& dir) {
    std::string best_mnt, best_line;
    std::ifstream in("/proc/mounts");
    std::string dev, mnt, type, opts;
    std::string path = fs::weakly_canonical(dir).string();
    while (in >> dev >> mnt >> type >> opts) {
        std::string rest;
        std::getline(in, rest);
        bool prefix = path.starts_with(mnt) && (mnt == "/" || path.size() == mnt.size() || path[mnt.size()] == '/');
        if (prefix && mnt.size() >= best_mnt.size()) {
            best_mnt = mnt;
            best_line = type + " on " + dev + " (" + mnt + ", " + opts + ")";
        }
    }
    return best_line.empty() ? "unknown" : best_line;
}

// --- memory --------------------------------------------------------------------

// A "VmXXX:" field of /proc/self/status in KiB (0 if absent).
inline long proc_status_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    std::string want = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.starts_with(want)) return std::strtol(line.c_str() + want.size(), nullptr, 10);
    return 0;
}

// --- child processes -------------------------------------------------------------

// Runs this benchmark binary again with `args` and returns its standard
// output; throws if it cannot start or exits non-zero.
inline std::string run_self(const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::close(out[0]);
        ::close(out[1]);
        std::vector<char*> argv;
        std::string self = "/proc/self/exe";
        argv.push_back(self.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("child " + (args.empty() ? std::string() : args[0]) + " failed (status " +
                                 std::to_string(status) + "): " + text);
    return text;
}

// "key=value" pairs from a child's output line, e.g. "rss_before_kib=1234".
inline double field_of(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string tok;
    while (in >> tok)
        if (tok.starts_with(key + "=")) return std::strtod(tok.c_str() + key.size() + 1, nullptr);
    throw std::runtime_error("child output lacks " + key + ": " + text);
}

// Total bytes of the regular files under a directory.
inline std::uint64_t directory_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    return total;
}

}  // namespace bench
