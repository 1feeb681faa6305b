// Trace replays (detail/cache_trace.hpp through cache.hpp) against published
// numbers: LRU and ARC must reproduce the hit ratios of the ARC paper
// (Megiddo & Modha, FAST 2003, Tables IV, V and VIII) from
// ../shared/data/traces/published_hit_ratios.csv.
//
// Tolerances, in percentage points:
//   LRU vs paper   0.01  The paper prints two decimals; a correct LRU rounds
//                        to them except P12 at 1024 and 2048 (4.0848 vs 4.09,
//                        4.8312 vs 4.84), which the data's README reports too.
//   ARC vs paper   0.02  The paper's own rounding plus P12 at 16384 (10.1067
//                        vs 10.12), as in the README's re-simulation.
//   vs the CSV's re-simulation  0.00005 (equal to 4 decimals): LRU has one
//                        correct answer, and our ARC follows Fig. 4 with a
//                        real-valued p as that re-simulation did.
// By default OLTP (all sizes) and P3 at 32768 run (a few seconds; OLTP only
// under AddressSanitizer); with STOWAGE_STRESS=1 also P2, P6, P12 at 32768
// and the whole P12 table (about 3 minutes).
//
// The reader itself is tested on small files: gzip'd by the system gzip and
// plain, every format, malformed lines.
#define BOOST_TEST_MODULE cache_trace
#include <stowage/detail/cache_trace.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>

#include "test_support.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace st = stowage;
namespace fs = std::filesystem;
using st::detail::trace_format;

namespace {

struct published_row {
    std::string trace;
    std::uint64_t pages;
    std::string policy;
    double published, resimulated;
    std::string table;
};

std::vector<published_row> read_published(const fs::path& csv) {
    std::ifstream in(csv);
    BOOST_TEST_REQUIRE(in.good());
    std::vector<published_row> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line.starts_with("trace,")) continue;
        std::stringstream ss(line);
        published_row r;
        std::string pages, published, ours;
        std::getline(ss, r.trace, ',');
        std::getline(ss, pages, ',');
        std::getline(ss, r.policy, ',');
        std::getline(ss, published, ',');
        std::getline(ss, ours, ',');
        std::getline(ss, r.table, ',');
        r.pages = std::stoull(pages);
        r.published = std::stod(published);
        r.resimulated = std::stod(ours);
        rows.push_back(r);
    }
    return rows;
}

// Under AddressSanitizer replays are ~30 times slower: P3 waits for the
// normal build (or STOWAGE_STRESS=1).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

bool runs_by_default(const published_row& r) {
    return r.trace == "OLTP" || (!sanitized && r.trace == "P3" && r.pages == 32768);
}

double replay(const st::detail::trace& t, const std::string& policy, std::uint64_t pages) {
    if (policy == "LRU") return st::detail::replay<st::lru>(t, pages).hit_ratio_percent();
    if (policy == "ARC") return st::detail::replay<st::arc>(t, pages).hit_ratio_percent();
    BOOST_FAIL("unknown policy in the CSV: " << policy);
    return 0;
}

void check_against_paper(bool stress) {
    const fs::path dir = st::test::shared_data("traces");
    const auto rows = read_published(dir / "published_hit_ratios.csv");
    BOOST_TEST_REQUIRE(rows.size() == 38u);
    std::map<std::string, std::vector<published_row>> by_trace;
    for (const auto& r : rows)
        if (stress ? !runs_by_default(r) : runs_by_default(r)) by_trace[r.trace].push_back(r);
    BOOST_TEST_REQUIRE(!by_trace.empty());
    std::map<std::pair<std::string, std::uint64_t>, double> done;  // Table VIII repeats P12 at 32768
    for (const auto& [name, wanted] : by_trace) {
        const auto t = st::detail::read_trace((dir / "arc" / (name + ".lis.gz")).string(), trace_format::arc);
        for (const auto& r : wanted) {
            const auto key = std::make_pair(r.policy + name, r.pages);
            if (!done.contains(key)) done[key] = replay(t, r.policy, r.pages);
            const double ours = done[key];
            const double tolerance = r.policy == "LRU" ? 0.01 : 0.02;
            BOOST_TEST_MESSAGE(name << " c=" << r.pages << " " << r.policy << ": " << ours << "% (paper "
                                    << r.published << ", table " << r.table << ")");
            BOOST_TEST(std::abs(ours - r.published) <= tolerance,
                       name << " c=" << r.pages << " " << r.policy << ": " << ours << " vs published "
                            << r.published);
            BOOST_TEST(std::abs(ours - r.resimulated) <= 0.00005,
                       name << " c=" << r.pages << " " << r.policy << ": " << ours << " vs re-simulation "
                            << r.resimulated);
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(lru_and_arc_reproduce_the_arc_paper, * boost::unit_test::label("shared_data")) {
    check_against_paper(false);
}

BOOST_AUTO_TEST_CASE(lru_and_arc_reproduce_the_arc_paper_long_traces, * boost::unit_test::label("shared_data")) {
    if (!st::test::stress_enabled()) {
        BOOST_TEST_MESSAGE("P2, P6, P12 need STOWAGE_STRESS=1");
        return;
    }
    check_against_paper(true);
}

// The README's LRU numbers for the LIRS traces (two decimals) check the
// lirs-format reader; the loop trace shows what LRU cannot do.
BOOST_AUTO_TEST_CASE(lirs_traces, * boost::unit_test::label("shared_data")) {
    const fs::path dir = st::test::shared_data("traces/lirs");
    auto lru_pct = [&](const std::string& name, std::uint64_t c) {
        const auto t = st::detail::read_trace((dir / (name + ".trace.gz")).string(), trace_format::lirs);
        return std::round(st::detail::replay<st::lru>(t, c).hit_ratio_percent() * 100) / 100;
    };
    BOOST_TEST(lru_pct("loop", 512) == 0.00);
    BOOST_TEST(lru_pct("loop", 1024) == 99.80);
    BOOST_TEST(lru_pct("gli", 1000) == 11.21);
    BOOST_TEST(lru_pct("2_pools", 128) == 26.86);
    BOOST_TEST(lru_pct("sprite", 512) == 78.94);
    BOOST_TEST(lru_pct("multi1", 512) == 46.66);
    BOOST_TEST(lru_pct("cs", 512) == 1.83);
    BOOST_TEST(lru_pct("ps", 512) == 48.55);

    const auto loop = st::detail::read_trace((dir / "loop.trace.gz").string(), trace_format::lirs);
    BOOST_TEST(loop.requests == 505500u);
    // A loop of 1,011 blocks in 512 places: recency-based policies never hit;
    // W-TinyLFU keeps half the loop because a newcomer rarely beats a key that
    // has already come round once more.
    BOOST_TEST(st::detail::replay<st::arc>(loop, 512).hits == 0u);
    BOOST_TEST(st::detail::replay<st::w_tinylfu>(loop, 512, st::w_tinylfu(st::w_tinylfu::options{.seed = 1}))
                   .hit_ratio_percent() > 40.0);
}

// Every policy on OLTP, with the paper's LRU and ARC at c = 1000 as the
// yardstick: the scan-resistant ones must beat LRU.
BOOST_AUTO_TEST_CASE(every_policy_on_oltp, * boost::unit_test::label("shared_data")) {
    const fs::path dir = st::test::shared_data("traces/arc");
    const auto t = st::detail::read_trace((dir / "OLTP.lis.gz").string(), trace_format::arc);
    BOOST_TEST(t.requests == 914145u);  // Table III
    const double lru = st::detail::replay<st::lru>(t, 1000).hit_ratio_percent();
    const double arc = st::detail::replay<st::arc>(t, 1000).hit_ratio_percent();
    const double s3 = st::detail::replay<st::s3fifo>(t, 1000).hit_ratio_percent();
    BOOST_TEST_MESSAGE("OLTP c=1000: lru " << lru << " arc " << arc << " s3fifo " << s3);
    BOOST_TEST(arc > lru + 5);
    BOOST_TEST(s3 >= arc);
}

// --- the reader ------------------------------------------------------------------

namespace {
fs::path write_file(const fs::path& dir, const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return dir / name;
}
}  // namespace

BOOST_AUTO_TEST_CASE(reads_arc_format_plain_and_gzipped) {
    st::test::scratch_dir dir("trace");
    const std::string text = "100 3 0 1\n103 1 0 2\n7 2 0 3\n\n5 0 0 4\n";
    write_file(dir.path(), "t.lis", text);
    const auto plain = st::detail::read_trace((dir.path() / "t.lis").string(), trace_format::arc);
    BOOST_TEST(plain.requests == 6u);
    BOOST_TEST_REQUIRE(plain.runs.size() == 2u);  // 100..103 merge
    BOOST_TEST(plain.runs[0].first == 100u);
    BOOST_TEST(plain.runs[0].count == 4u);
    BOOST_TEST(plain.runs[1].first == 7u);
    auto [rc, out] = st::test::run("gzip -9 -k " + (dir.path() / "t.lis").string());
    BOOST_TEST_REQUIRE(rc == 0);
    const auto gz = st::detail::read_trace((dir.path() / "t.lis.gz").string(), trace_format::arc);
    BOOST_TEST(gz.requests == 6u);
    BOOST_TEST(gz.runs.size() == 2u);
    // Cold start: 100 101 102 103 7 8 all miss; a second pass at c=6 all hit.
    st::detail::trace twice = plain;
    twice.runs.insert(twice.runs.end(), plain.runs.begin(), plain.runs.end());
    twice.requests *= 2;
    const auto r = st::detail::replay<st::lru>(twice, 6);
    BOOST_TEST(r.requests == 12u);
    BOOST_TEST(r.hits == 6u);
    BOOST_TEST(r.hit_ratio_percent() == 50.0);
}

BOOST_AUTO_TEST_CASE(reads_lirs_and_keys_formats) {
    st::test::scratch_dir dir("trace");
    auto lirs = st::detail::read_trace(write_file(dir.path(), "a.trace", "5\n*\n6\n\n 9 \r\n5\n").string(),
                                       trace_format::lirs);
    BOOST_TEST(lirs.requests == 4u);
    BOOST_TEST(st::detail::replay<st::lru>(lirs, 10).hits == 1u);
    auto keys = st::detail::read_trace(write_file(dir.path(), "k.txt", "alpha\nbeta\nalpha\n\ngamma beta\nbeta").string(),
                                       trace_format::keys);
    BOOST_TEST(keys.requests == 5u);
    BOOST_TEST(st::detail::replay<st::lru>(keys, 10).hits == 2u);  // alpha, beta again
}

BOOST_AUTO_TEST_CASE(malformed_traces_name_file_and_line) {
    st::test::scratch_dir dir("trace");
    auto expect_bad = [](const fs::path& p, trace_format f, const std::string& where) {
        try {
            st::detail::read_trace(p.string(), f);
            BOOST_ERROR("accepted " << p);
        } catch (const st::error& e) {
            BOOST_TEST((e.kind() == st::errc::bad_input));
            BOOST_TEST(std::string(e.what()).find(where) != std::string::npos, e.what());
        }
    };
    expect_bad(write_file(dir.path(), "a.lis", "1 1 0 1\n1 x 0 2\n"), trace_format::arc, "a.lis:2");
    expect_bad(write_file(dir.path(), "b.lis", "1 1 0\n"), trace_format::arc, "b.lis:1");
    expect_bad(write_file(dir.path(), "c.lis", "1 1 0 1 extra\n"), trace_format::arc, "c.lis:1");
    expect_bad(write_file(dir.path(), "d.trace", "1\n2\n-3\n"), trace_format::lirs, "d.trace:3");
    expect_bad(write_file(dir.path(), "e.trace", "12abc\n"), trace_format::lirs, "e.trace:1");
    BOOST_CHECK_THROW(st::detail::read_trace((dir.path() / "missing").string(), trace_format::keys), st::error);
    // A truncated gzip member is corrupt, not silently short.
    std::string lines;
    for (int i = 0; i < 20000; ++i) lines += std::to_string(i * 7919 % 100003) + " 1 0 " + std::to_string(i) + "\n";
    write_file(dir.path(), "f.lis", lines);
    BOOST_TEST_REQUIRE(st::test::run("gzip -9 " + (dir.path() / "f.lis").string()).first == 0);
    fs::resize_file(dir.path() / "f.lis.gz", fs::file_size(dir.path() / "f.lis.gz") / 2);
    BOOST_CHECK_EXCEPTION(st::detail::read_trace((dir.path() / "f.lis.gz").string(), trace_format::arc), st::error,
                          [](const st::error& e) { return e.kind() == st::errc::corrupt; });
}

BOOST_AUTO_TEST_CASE(format_names_and_guesses) {
    BOOST_TEST((st::detail::guess_trace_format("x/OLTP.lis.gz") == trace_format::arc));
    BOOST_TEST((st::detail::guess_trace_format("loop.trace") == trace_format::lirs));
    BOOST_TEST((st::detail::guess_trace_format("keys.txt.gz") == trace_format::keys));
    BOOST_TEST((st::detail::parse_trace_format("lirs") == trace_format::lirs));
    BOOST_TEST(!st::detail::parse_trace_format("LRU").has_value());
}
