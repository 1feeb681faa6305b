// test_support.hpp — helpers shared by the test executables: scratch
// directories, the shared data directory, running commands.
#pragma once

#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>

namespace stowage::test {

namespace fs = std::filesystem;

// A file's whole content.
inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every regular file below dir (relative path) with its content: "nothing
// changed" is equality of two of these.
inline std::map<std::string, std::string> directory_contents(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out[e.path().lexically_relative(dir).string()] = slurp(e.path());
    return out;
}

// Flips bits of the byte at `at` (damage a test can aim).
inline void flip_byte_at(const fs::path& p, std::size_t at) {
    std::string c = slurp(p);
    BOOST_REQUIRE_MESSAGE(at < c.size(), p << " has only " << c.size() << " bytes");
    c[at] = static_cast<char>(c[at] ^ 0x5a);
    std::ofstream(p, std::ios::binary | std::ios::trunc) << c;
}

// A fresh directory under the build tree, removed when the object dies.
class scratch_dir {
public:
    explicit scratch_dir(const std::string& tag = "t") {
        static std::atomic<int> counter{0};
        path_ = fs::path(STOWAGE_BINARY_DIR) / "scratch" /
                (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    const fs::path& path() const { return path_; }
    std::string str() const { return path_.string(); }

private:
    fs::path path_;
};

// ../shared/data (or $STOWAGE_SHARED_DATA). Test cases that need it carry
// `* boost::unit_test::label("shared_data")`; when it is absent the process
// exits 77, which CTest reports as skipped — never as passed.
inline fs::path shared_data(const std::string& sub = "") {
    const char* env = std::getenv("STOWAGE_SHARED_DATA");
    fs::path root = env && *env ? fs::path(env) : fs::path(STOWAGE_SOURCE_DIR) / ".." / "shared" / "data";
    fs::path p = sub.empty() ? root : root / sub;
    if (!fs::exists(p)) {
        std::cout << "skipped: shared data not found at " << p << std::endl;
        std::_Exit(77);
    }
    return p;
}

// Runs a shell command, returns {exit status, stdout}.
inline std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return {-1, out};
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Seed for randomized tests: $STOWAGE_SEED or a fixed default, printed so a
// failure can be replayed.
inline std::uint64_t test_seed() {
    const char* env = std::getenv("STOWAGE_SEED");
    std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : 20261122;
    BOOST_TEST_MESSAGE("seed " << seed);
    return seed;
}

// Long stress runs are opt-in: STOWAGE_STRESS=1.
inline bool stress_enabled() {
    const char* env = std::getenv("STOWAGE_STRESS");
    return env && *env && std::string(env) != "0";
}

// For tests of readers running beside a writer: returns once `counter`
// (the readers' progress) differs from `from`. On a loaded machine the
// writer's loop can otherwise finish before any reader thread ran.
inline void wait_for_progress(const std::atomic<int>& counter, int from) {
    while (counter.load() == from) std::this_thread::yield();
}

}  // namespace stowage::test
