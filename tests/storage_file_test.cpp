// Tests for storage/file.hpp: the conformance suite, keys that try to escape
// the directory, the writer lock across processes, and atomic replace under
// a killed writer process.
#define BOOST_TEST_MODULE storage_file
#include "storage_conformance.hpp"

#include <csignal>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>

#include "stowage/storage/file.hpp"

using namespace stowage;
using stowage::test::expect_value;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

struct file_factory {
    scratch_dir dir{"file"};
    file_storage make() { return file_storage(dir.path() / "data"); }
};
STOWAGE_STORAGE_CONFORMANCE(file_conformance, file_factory)

static std::vector<std::string> tree(const fs::path& root) {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(root)) out.push_back(e.path().lexically_relative(root).string());
    std::sort(out.begin(), out.end());
    return out;
}

BOOST_AUTO_TEST_CASE(no_key_escapes_the_directory) {
    scratch_dir dir("escape");
    fs::create_directories(dir.path() / "data");
    {
        file_storage s(dir.path() / "data");
        stowage::test::conformance_key_validation(s);
        for (const auto& k : stowage::test::escaping_keys()) {
            try {
                s.append(k, as_bytes("x"));
                s.sync(k);
                s.truncate(k, 0);
            } catch (const stowage::error&) {
            }
            BOOST_TEST(s.list(k).empty());
        }
    }
    // Nothing but the lock file was created, inside or outside.
    BOOST_TEST((tree(dir.path()) == std::vector<std::string>{"data", "data/.lock"}));
}

BOOST_AUTO_TEST_CASE(key_under_a_blob_is_bad_input) {
    scratch_dir dir("under");
    file_storage s(dir.path() / "data");
    s.replace("a", as_bytes("blob"), durability::full);
    try {
        s.replace("a/b", as_bytes("x"), durability::full);
        BOOST_ERROR("accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    s.replace("d/e", as_bytes("x"), durability::full);
    try {
        s.replace("d", as_bytes("x"), durability::full);
        BOOST_ERROR("accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    expect_value(s, "a", "blob");
    expect_value(s, "d/e", "x");
}

// Runs f in a child process; returns its exit status.
template <class F>
int in_child(F f) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int code = 99;
        try {
            code = f();
        } catch (...) {
            code = 98;
        }
        std::_Exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

BOOST_AUTO_TEST_CASE(second_writer_gets_locked_error_naming_holder) {
    scratch_dir dir("lock");
    auto path = dir.path() / "data";
    file_storage writer(path);
    writer.replace("a", as_bytes("1"), durability::full);
    // Another process: a writer is refused with `locked` and the holder's
    // pid in the message; a reader is allowed and sees the data.
    std::string pid = std::to_string(::getpid());
    int w = in_child([&] {
        try {
            file_storage second(path);
            return 1;
        } catch (const stowage::error& e) {
            bool names_holder = std::string(e.what()).find("pid " + pid) != std::string::npos;
            return e.kind() == errc::locked && names_holder ? 0 : 2;
        }
    });
    BOOST_TEST(w == 0);
    int r = in_child([&] {
        file_storage reader(path, open_mode::read_only);
        auto v = reader.read("a");
        return v && to_string(*v) == "1" ? 0 : 3;
    });
    BOOST_TEST(r == 0);
    // In this process too.
    BOOST_CHECK_THROW(file_storage{path}, stowage::error);
}

BOOST_AUTO_TEST_CASE(lock_is_released_when_the_last_handle_goes) {
    scratch_dir dir("release");
    auto path = dir.path() / "data";
    {
        file_storage a(path);
        file_storage copy = a;
    }
    file_storage again(path);
    BOOST_TEST(!again.previous_close_was_unclean());
}

BOOST_AUTO_TEST_CASE(read_only_open) {
    scratch_dir dir("ro");
    try {
        file_storage missing(dir.path() / "nope", open_mode::read_only);
        BOOST_ERROR("opened a missing directory");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::not_found));
    }
    BOOST_TEST(!fs::exists(dir.path() / "nope"));
    { file_storage w(dir.path() / "d"); w.replace("k", as_bytes("v"), durability::full); }
    file_storage ro(dir.path() / "d", open_mode::read_only);
    BOOST_TEST(ro.read_only());
    expect_value(ro, "k", "v");
    try {
        ro.replace("k", as_bytes("w"), durability::full);
        BOOST_ERROR("write accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::read_only));
    }
    BOOST_CHECK_THROW(ro.append("log", as_bytes("x")), stowage::error);
    expect_value(ro, "k", "v");
}

// overwrite_batch (the database applier's write): in place, so an existing
// key keeps its inode; new keys are created; a file with another link (a
// CAS chunk hard-linked into a backup) is replaced instead, leaving the
// other name's bytes alone; keys are validated and read-only opens refuse.
BOOST_AUTO_TEST_CASE(overwrite_in_place_keeps_the_inode) {
    scratch_dir dir("overwrite");
    const fs::path root = dir.path() / "d";
    file_storage s(root);
    s.replace("a/k", as_bytes("a longer old value"), durability::full);
    s.replace("a/linked", as_bytes("shared"), durability::full);
    fs::create_hard_link(root / "a/linked", dir.path() / "backup-copy");
    struct stat before {};
    BOOST_TEST_REQUIRE(::stat((root / "a/k").c_str(), &before) == 0);
    std::vector<blob_write> writes{{"a/k", as_bytes("short")}, {"b/new", as_bytes("fresh")},
                                   {"a/linked", as_bytes("changed")}};
    s.overwrite_batch(writes);
    expect_value(s, "a/k", "short");  // the old tail is cut
    expect_value(s, "b/new", "fresh");
    expect_value(s, "a/linked", "changed");
    struct stat after {};
    BOOST_TEST_REQUIRE(::stat((root / "a/k").c_str(), &after) == 0);
    BOOST_TEST(after.st_ino == before.st_ino);
    std::ifstream other(dir.path() / "backup-copy");
    std::string kept((std::istreambuf_iterator<char>(other)), std::istreambuf_iterator<char>());
    BOOST_TEST(kept == "shared");
    std::vector<blob_write> longer{{"a/k", as_bytes("longer than it was before")}};
    s.overwrite_batch(longer);
    expect_value(s, "a/k", "longer than it was before");
    s.flush();
    std::vector<blob_write> bad{{"../escape", as_bytes("x")}};
    BOOST_CHECK_THROW(s.overwrite_batch(bad), stowage::error);
    BOOST_TEST(!fs::exists(dir.path() / "escape"));
    std::vector<blob_write> under{{"a/k/child", as_bytes("x")}};
    try {
        s.overwrite_batch(under);
        BOOST_ERROR("a key under another key's blob was written");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    file_storage ro(root, open_mode::read_only);
    try {
        ro.overwrite_batch(writes);
        BOOST_ERROR("read-only storage wrote");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::read_only));
    }
}

// A value that checks itself: "<len>:<payload>" where payload repeats the
// generation number.
static std::string self_checking(std::uint64_t gen, std::size_t len) {
    std::string body;
    std::string g = std::to_string(gen) + ",";
    while (body.size() < len) body += g;
    body.resize(len);
    return std::to_string(gen) + ":" + std::to_string(len) + ":" + body;
}
static bool is_whole(const std::string& v) {
    auto a = v.find(':');
    auto b = v.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) return false;
    std::uint64_t gen = std::stoull(v.substr(0, a));
    std::size_t len = std::stoull(v.substr(a + 1, b - a - 1));
    return v == self_checking(gen, len);
}

BOOST_AUTO_TEST_CASE(killed_writer_leaves_whole_values) {
    scratch_dir dir("kill");
    auto path = dir.path() / "data";
    { file_storage init(path); init.replace("v", as_bytes(self_checking(0, 10)), durability::full); }
    for (int round = 0; round < 5; ++round) {
        pid_t pid = ::fork();
        if (pid == 0) {
            file_storage s(path);
            for (std::uint64_t gen = 1;; ++gen) {
                s.replace("v", as_bytes(self_checking(gen, 1000 + gen * 7919 % 300000)), durability::none);
                s.replace("dir/w" + std::to_string(gen % 3), as_bytes(self_checking(gen, gen % 5000)), durability::batched);
            }
        }
        ::usleep(30000 + round * 20000);
        ::kill(pid, SIGKILL);
        int status;
        ::waitpid(pid, &status, 0);
        file_storage s(path);
        BOOST_TEST(s.previous_close_was_unclean());
        for (auto& k : s.list("")) {
            auto v = s.read(k);
            BOOST_TEST_REQUIRE(v.has_value());
            BOOST_TEST(is_whole(to_string(*v)), k);
        }
        // Leftover temp files from the killed writer were swept on open.
        for (auto& e : fs::recursive_directory_iterator(path))
            BOOST_TEST(!e.path().filename().string().starts_with(".tmp."), e.path());
    }
}
