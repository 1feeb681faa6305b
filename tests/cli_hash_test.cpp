// cli_hash_test.cpp — `stowage hash` and the command's conventions, black box.
//
// The output must be byte-identical to the system sha256sum (and to
// `b2sum -l 256` for blake2b) on files of every size around the hash block
// boundaries and the tool's 64 KiB read buffer; failures must be one stderr
// line "stowage: ..." with exit 2 (usage) or 3 (I/O).
#define BOOST_TEST_MODULE cli_hash
#include "test_support.hpp"

#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/hex.hpp>

#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace stowage;

namespace {

struct result {
    int code;
    std::string out, err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs `cmd` with the shell in `dir`, capturing stdout and stderr apart.
result run_in(const fs::path& dir, const std::string& cmd) {
    auto out = dir / ".stdout", err = dir / ".stderr";
    auto [code, ignored] = test::run("cd '" + dir.string() + "' && " + cmd + " >'" + out.string() +
                                     "' 2>'" + err.string() + "'");
    result r{code, slurp(out), slurp(err)};
    fs::remove(out);
    fs::remove(err);
    return r;
}

std::string cli() { return std::string("'") + STOWAGE_CLI + "'"; }

std::size_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// Random content of each size, named by size: "f000000065".
std::vector<std::string> make_files(const fs::path& dir, const std::set<std::size_t>& sizes) {
    std::mt19937_64 rng(test::test_seed());
    std::vector<std::string> names;
    for (std::size_t n : sizes) {
        std::string content(n, '\0');
        for (auto& c : content) c = static_cast<char>(rng());
        char name[32];
        std::snprintf(name, sizeof name, "f%010zu", n);
        std::ofstream(dir / name, std::ios::binary) << content;
        names.push_back(name);
    }
    return names;
}

std::set<std::size_t> boundary_sizes() {
    std::set<std::size_t> sizes{0, 1, 2, 55, 56, 57, 111, 112, 119, 120, 121};
    for (std::size_t b = 64; b <= 1024; b += 64)  // SHA-256 blocks are 64 B, BLAKE2b 128 B
        for (std::size_t n : {b - 1, b, b + 1}) sizes.insert(n);
    for (std::size_t b : {4096u, 65536u, 131072u, 196608u})  // page, the read buffer and its multiples
        for (std::size_t n : {b - 65, b - 64, b - 1, b, b + 1, b + 64}) sizes.insert(n);
    sizes.insert(3 * 1024 * 1024 + 17);  // a few MB: many buffer refills
    sizes.insert(5 * 1024 * 1024);
    return sizes;
}

std::string join(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += " '" + n + "'";
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sha256_matches_sha256sum_around_every_boundary) {
    test::scratch_dir dir("cli-hash");
    auto files = make_files(dir.path(), boundary_sizes());
    auto ours = run_in(dir.path(), cli() + " hash" + join(files));
    auto theirs = run_in(dir.path(), "sha256sum" + join(files));
    BOOST_REQUIRE_EQUAL(theirs.code, 0);
    BOOST_TEST(ours.code == 0);
    BOOST_TEST(ours.err == "");
    BOOST_TEST(count_lines(ours.out) == files.size());
    BOOST_TEST(ours.out == theirs.out);
    // --algo sha256 is the default spelled out.
    BOOST_TEST(run_in(dir.path(), cli() + " hash --algo sha256" + join(files)).out == theirs.out);
}

BOOST_AUTO_TEST_CASE(blake2b_matches_b2sum_256) {
    test::scratch_dir dir("cli-b2");
    if (run_in(dir.path(), "command -v b2sum").code != 0) {
        BOOST_TEST_MESSAGE("b2sum not installed: blake2b comparison not run");
        return;
    }
    auto files = make_files(dir.path(), boundary_sizes());
    auto ours = run_in(dir.path(), cli() + " hash --algo blake2b" + join(files));
    auto theirs = run_in(dir.path(), "b2sum -l 256" + join(files));
    BOOST_REQUIRE_EQUAL(theirs.code, 0);
    BOOST_TEST(ours.code == 0);
    BOOST_TEST(count_lines(ours.out) == files.size());
    BOOST_TEST(ours.out == theirs.out);
}

// No system tool prints CRC-32C: compare with the library's one-shot value,
// which hash_test checks against published vectors.
BOOST_AUTO_TEST_CASE(crc32c_streams_like_one_shot) {
    test::scratch_dir dir("cli-crc");
    auto files = make_files(dir.path(), {0, 9, 65535, 65536, 65537, 200000});
    auto ours = run_in(dir.path(), cli() + " hash --algo=crc32c" + join(files));
    BOOST_TEST(ours.code == 0);
    std::string expected;
    for (const auto& f : files)
        expected += to_hex(hash_of<crc32c>(as_bytes(slurp(dir.path() / f)))) + "  " + f + "\n";
    BOOST_TEST(ours.out == expected);
}

BOOST_AUTO_TEST_CASE(standard_input) {
    test::scratch_dir dir("cli-stdin");
    auto files = make_files(dir.path(), {100000});
    auto theirs = run_in(dir.path(), "sha256sum < " + files[0]);
    BOOST_REQUIRE_EQUAL(theirs.code, 0);
    BOOST_TEST(theirs.out.ends_with("  -\n"));
    BOOST_TEST(run_in(dir.path(), cli() + " hash < " + files[0]).out == theirs.out);
    BOOST_TEST(run_in(dir.path(), cli() + " hash - < " + files[0]).out == theirs.out);
    // "-" among files, and "--" ending the options so "-x" is a file name.
    std::ofstream(dir.path() / "-x") << "dash";
    auto mixed = run_in(dir.path(), cli() + " hash -- " + files[0] + " - -x < " + files[0]);
    auto mixed_theirs = run_in(dir.path(), "sha256sum -- " + files[0] + " - -x < " + files[0]);
    BOOST_TEST(mixed.code == 0);
    BOOST_TEST(mixed.out == mixed_theirs.out);
}

BOOST_AUTO_TEST_CASE(names_are_escaped_like_sha256sum) {
    test::scratch_dir dir("cli-names");
    for (std::string name : {"back\\slash", "new\nline", "carriage\rreturn", "sp ace", "plain"})
        std::ofstream(dir.path() / name) << name;
    auto ours = run_in(dir.path(), cli() + " hash *");
    auto theirs = run_in(dir.path(), "sha256sum *");
    BOOST_TEST(ours.code == 0);
    BOOST_TEST(ours.out == theirs.out);
    BOOST_TEST(count_lines(ours.out) == 5u);
    // The escaped lines check with sha256sum -c, so the format really is theirs.
    std::ofstream(dir.path() / "sums") << ours.out;
    BOOST_TEST(run_in(dir.path(), "sha256sum --quiet -c sums").code == 0);
}

// --- errors: one line "stowage: ...", exit 2 for usage, 3 for I/O --------------

BOOST_AUTO_TEST_CASE(unknown_algorithm_is_a_usage_error) {
    test::scratch_dir dir("cli-err");
    std::ofstream(dir.path() / "a") << "a";
    auto r = run_in(dir.path(), cli() + " hash --algo md5 a");
    BOOST_TEST(r.code == 2);
    BOOST_TEST(r.out == "");
    BOOST_TEST(count_lines(r.err) == 1u);
    BOOST_TEST(r.err.starts_with("stowage: "), r.err);
    BOOST_TEST(r.err.find("md5") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(usage_errors) {
    test::scratch_dir dir("cli-usage");
    for (std::string args : {"hash --algo", "hash --frobnicate", "hash --algo sha256 --algo blake2b",
                             "no-such-command", ""}) {
        auto r = run_in(dir.path(), cli() + " " + args);
        BOOST_TEST_CONTEXT("stowage " << args) {
            BOOST_TEST(r.code == 2);
            BOOST_TEST(r.out == "");
            BOOST_TEST(count_lines(r.err) == 1u, r.err);
            if (!args.empty()) {
                BOOST_TEST(r.err.starts_with("stowage: "), r.err);
            } else {  // bare `stowage`: a short usage line pointing at --help
                BOOST_TEST(r.err.starts_with("usage: stowage"), r.err);
                BOOST_TEST(r.err.find("--help") != std::string::npos, r.err);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_io_error_and_the_rest_are_hashed) {
    test::scratch_dir dir("cli-missing");
    std::ofstream(dir.path() / "present") << "here";
    auto r = run_in(dir.path(), cli() + " hash absent present");
    BOOST_TEST(r.code == 3);
    BOOST_TEST(count_lines(r.err) == 1u, r.err);
    BOOST_TEST(r.err.starts_with("stowage: "), r.err);
    BOOST_TEST(r.err.find("absent") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("No such file") != std::string::npos, r.err);
    BOOST_TEST(r.out == run_in(dir.path(), "sha256sum present").out);

    fs::create_directory(dir.path() / "sub");
    auto d = run_in(dir.path(), cli() + " hash sub");
    BOOST_TEST(d.code == 3);
    BOOST_TEST(count_lines(d.err) == 1u, d.err);
    BOOST_TEST(d.err.find("sub") != std::string::npos, d.err);
    BOOST_TEST(d.out == "");
}

BOOST_AUTO_TEST_CASE(write_failure_is_reported) {
    if (!fs::exists("/dev/full")) return;
    test::scratch_dir dir("cli-full");
    auto [code, out] = test::run(cli() + " hash /dev/null 2>'" + dir.str() + "/err' >/dev/full");
    BOOST_TEST(code == 3);
    auto err = slurp(dir.path() / "err");
    BOOST_TEST(err == "stowage: error writing to standard output\n");
}

BOOST_AUTO_TEST_CASE(help_lists_commands_and_exit_codes) {
    test::scratch_dir dir("cli-help");
    auto r = run_in(dir.path(), cli() + " --help");
    BOOST_TEST(r.code == 0);
    BOOST_TEST(r.err == "");
    BOOST_TEST(r.out.find("hash [--algo sha256|blake2b|crc32c]") != std::string::npos, r.out);
    for (std::string code : {"0  success", "1  damage", "2  usage", "3  I/O"})
        BOOST_TEST(r.out.find(code) != std::string::npos, "missing exit code line: " << code);

    auto h = run_in(dir.path(), cli() + " hash --help");
    BOOST_TEST(h.code == 0);
    BOOST_TEST(h.out.starts_with("usage: stowage hash"), h.out);
    BOOST_TEST(run_in(dir.path(), cli() + " help hash").out == h.out);
}
