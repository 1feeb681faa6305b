// `stowage cache-sim`, black box: the exact output format, each trace format
// gzip'd and plain, several traces, errors as one stderr line with exit 2 or
// 3, and the ARC paper's numbers on the real OLTP trace.
#define BOOST_TEST_MODULE cache_sim
#include "test_support.hpp"

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace st = stowage;

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

result sim(const fs::path& dir, const std::string& args) {
    const auto out = dir / ".stdout", err = dir / ".stderr";
    auto [code, ignored] = st::test::run(std::string("'") + STOWAGE_CLI + "' cache-sim " + args + " >'" +
                                         out.string() + "' 2>'" + err.string() + "'");
    return {code, slurp(out), slurp(err)};
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

BOOST_AUTO_TEST_CASE(prints_requests_hits_and_ratio_with_four_decimals) {
    st::test::scratch_dir dir("sim");
    // 1 2 3 then 1 2 3 again: at capacity 3 the second pass hits, at 2 LRU never does.
    write(dir.path() / "t.lis", "1 3 0 1\n1 3 0 2\n");
    auto r = sim(dir.path(), "--policy lru --capacity 3 " + (dir.path() / "t.lis").string());
    BOOST_TEST(r.code == 0);
    BOOST_TEST(r.out == "requests: 6\nhits: 3\nhit_ratio: 50.0000%\n");
    BOOST_TEST(r.err == "");
    r = sim(dir.path(), "--policy lru --capacity 2 " + (dir.path() / "t.lis").string());
    BOOST_TEST(r.out == "requests: 6\nhits: 0\nhit_ratio: 0.0000%\n");
    // Thirds print rounded: 1 of 3.
    write(dir.path() / "k.txt", "a\nb\na\n");
    r = sim(dir.path(), "--policy sieve --capacity 5 " + (dir.path() / "k.txt").string());
    BOOST_TEST(r.out == "requests: 3\nhits: 1\nhit_ratio: 33.3333%\n");
}

BOOST_AUTO_TEST_CASE(gzip_and_plain_agree_and_format_can_be_forced) {
    st::test::scratch_dir dir("sim");
    std::string text;
    for (int i = 0; i < 3000; ++i) text += std::to_string(i * 37 % 500) + "\n*\n";
    write(dir.path() / "x.trace", text);
    BOOST_TEST_REQUIRE(st::test::run("gzip -k " + (dir.path() / "x.trace").string()).first == 0);
    for (const char* policy : {"lru", "arc", "s3fifo", "sieve", "w_tinylfu"}) {
        const std::string opts = std::string("--policy ") + policy + " --capacity 100 ";
        auto plain = sim(dir.path(), opts + (dir.path() / "x.trace").string());
        auto gz = sim(dir.path(), opts + (dir.path() / "x.trace.gz").string());
        BOOST_TEST(plain.code == 0);
        BOOST_TEST(plain.out == gz.out);
        BOOST_TEST(plain.out.starts_with("requests: 3000\n"));
    }
    // Read as keys, the '*' lines are keys too.
    auto keys = sim(dir.path(), "--policy lru --capacity 100 --format keys " + (dir.path() / "x.trace").string());
    BOOST_TEST(keys.out.starts_with("requests: 6000\n"));
}

BOOST_AUTO_TEST_CASE(several_traces_are_replayed_cold_one_by_one) {
    st::test::scratch_dir dir("sim");
    write(dir.path() / "a.trace", "1\n2\n1\n");
    const std::string a = (dir.path() / "a.trace").string();
    auto r = sim(dir.path(), "--policy arc --capacity 10 " + a + " " + a);
    BOOST_TEST(r.code == 0);
    const std::string block = "requests: 3\nhits: 1\nhit_ratio: 33.3333%\n";
    BOOST_TEST(r.out == "trace: " + a + "\n" + block + "\ntrace: " + a + "\n" + block);
}

BOOST_AUTO_TEST_CASE(errors_are_one_line_with_the_right_exit_code) {
    st::test::scratch_dir dir("sim");
    write(dir.path() / "bad.lis", "1 1 0 1\n2 two 0 2\n");
    const std::string bad = (dir.path() / "bad.lis").string();
    auto expect = [&](const std::string& args, int code, const std::string& needle) {
        auto r = sim(dir.path(), args);
        BOOST_TEST(r.code == code, args);
        BOOST_TEST(r.out == "");
        BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
        BOOST_TEST(r.err.starts_with("stowage: "), r.err);
        BOOST_TEST(r.err.find(needle) != std::string::npos, r.err);
    };
    expect("--policy lru --capacity 10 " + bad, 2, "bad.lis:2");
    expect("--policy mru --capacity 10 " + bad, 2, "unknown policy 'mru'");
    expect("--capacity 10 " + bad, 2, "--policy is required");
    expect("--policy lru " + bad, 2, "--capacity is required");
    expect("--policy lru --capacity ten " + bad, 2, "positive integer");
    expect("--policy lru --capacity 10 --format csv " + bad, 2, "unknown format 'csv'");
    expect("--policy lru --capacity 10", 2, "expected at least 1 argument");
    expect("--policy lru --capacity 10 " + (dir.path() / "absent.lis").string(), 3, "absent.lis");
}

BOOST_AUTO_TEST_CASE(reproduces_the_arc_paper_on_oltp, * boost::unit_test::label("shared_data")) {
    const fs::path oltp = st::test::shared_data("traces/arc/OLTP.lis.gz");
    st::test::scratch_dir dir("sim");
    auto lru = sim(dir.path(), "--policy lru --capacity 1000 " + oltp.string());
    BOOST_TEST(lru.out == "requests: 914145\nhits: 300122\nhit_ratio: 32.8309%\n");
    auto arc = sim(dir.path(), "--policy arc --capacity 1000 " + oltp.string());
    BOOST_TEST(arc.out.ends_with("hit_ratio: 38.9451%\n"));  // paper: 38.93
}
