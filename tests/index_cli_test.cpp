// Black-box tests of `stowage index`: build from TSV (plain, gzip'd,
// standard input), search in and/or mode, --top with BM25 scores, empty
// queries, stats, rebuilding with another tokenizer, usage errors; and the
// shared corpus's exact answers through the command (shared_data).
#define BOOST_TEST_MODULE index_cli
#include "test_support.hpp"

#include <fstream>
#include <sstream>

using stowage::test::run;
using stowage::test::scratch_dir;

static const std::string cli = STOWAGE_CLI;

static std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

BOOST_AUTO_TEST_CASE(build_search_stats) {
    scratch_dir dir("cli-index");
    std::string d = dir.str() + "/data", tsv = dir.str() + "/docs.tsv";
    std::ofstream(tsv) << "10\tPDF Parser\tparse PDF files\n"
                          "2\tjson-schema\tJSON Schema validation for the web\n"
                          "7\tnaïve bayes\tclassifier\n"
                          "\n"
                          "100\tweb tools\tpdf and web utilities\textra third field\n";
    auto b = run(cli + " index build " + d + " --tsv " + tsv);
    BOOST_TEST(b.first == 0);
    BOOST_TEST(b.second.find("indexed 4 documents, 3 fields") != std::string::npos, b.second);
    using v = std::vector<std::string>;
    BOOST_TEST(lines(run(cli + " index search " + d + " pdf").second) == (v{"10", "100"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " PDF Parser").second) == (v{"10"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " --mode or json web").second) == (v{"2", "100"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " json-schema").second) == (v{"2"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " third").second) == (v{"100"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " --mode or 'naïve'").second) == (v{"7"}));  // "na", "ve": ascii
    auto empty = run(cli + " index search " + d + " 'and or but'");
    BOOST_TEST(empty.first == 0);
    BOOST_TEST(empty.second.empty());
    BOOST_TEST(run(cli + " index search " + d + " 'c++'").second.empty());
    BOOST_TEST(run(cli + " index search " + d).second.empty());  // no query at all
    auto top = lines(run(cli + " index search " + d + " --mode or --top 2 pdf web").second);
    BOOST_REQUIRE(top.size() == 2u);
    BOOST_TEST(top[0].starts_with("100\t"));  // both words, "web" twice
    BOOST_TEST(top[1].starts_with("10\t"));
    BOOST_TEST(std::stod(top[0].substr(top[0].find('\t') + 1)) > std::stod(top[1].substr(top[1].find('\t') + 1)));
    auto stats = run(cli + " index stats " + d);
    BOOST_TEST(stats.second.find("documents: 4\n") != std::string::npos, stats.second);
    BOOST_TEST(stats.second.find("segments: 1\n") != std::string::npos);
    // Rebuilt from gzip'd standard input with the unicode tokenizer: naïve is a word now.
    BOOST_TEST(run("gzip -c " + tsv + " | " + cli + " index build " + d + " --tsv - --tokenizer unicode").first == 0);
    BOOST_TEST(lines(run(cli + " index search " + d + " naive").second) == (v{"7"}));
    BOOST_TEST(lines(run(cli + " index search " + d + " pdf").second) == (v{"10", "100"}));
    // Usage errors and failures: exit codes 2 and 3.
    BOOST_TEST(run(cli + " index build " + d + " 2>/dev/null").first == 2);                       // no --tsv
    BOOST_TEST(run(cli + " index build " + d + " --tsv " + tsv + " --tokenizer nope 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " index search " + d + " --mode xor a 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " index search " + d + " --top x a 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " index frob " + d + " 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " index search " + dir.str() + "/nothing-here a 2>/dev/null").first == 3);
    std::ofstream(dir.str() + "/bad.tsv") << "1\tok\n-4\tnegative id\n";
    auto bad = run(cli + " index build " + d + " --tsv " + dir.str() + "/bad.tsv 2>&1");
    BOOST_TEST(bad.first == 2);
    BOOST_TEST(bad.second.find("bad.tsv:2") != std::string::npos, bad.second);
    std::ofstream(dir.str() + "/dup.tsv") << "1\ta\n1\tb\n";
    BOOST_TEST(run(cli + " index build " + d + " --tsv " + dir.str() + "/dup.tsv 2>/dev/null").first == 2);
    // A failed build left the previous index alone.
    BOOST_TEST(lines(run(cli + " index search " + d + " naive").second) == (v{"7"}));
}

// The shared corpus through the command: every query's AND and OR sets.
BOOST_AUTO_TEST_CASE(corpus_through_the_command, *boost::unit_test::label("shared_data")) {
    auto data = stowage::test::shared_data("text");
    scratch_dir dir("cli-index-corpus");
    std::string d = dir.str() + "/data";
    auto b = run(cli + " index build " + d + " --tsv " + (data / "pypi_docs.tsv.gz").string());
    BOOST_TEST_REQUIRE(b.first == 0);
    BOOST_TEST(b.second.find("indexed 200000 documents") != std::string::npos, b.second);
    std::map<std::string, std::string> queries;
    {
        std::ifstream in(data / "queries.tsv");
        std::string l;
        std::getline(in, l);
        while (std::getline(in, l)) {
            auto a = l.find('\t'), c = l.find('\t', a + 1);
            queries[l.substr(0, a)] = l.substr(a + 1, c - a - 1);
        }
    }
    auto expected = lines(run("gzip -dc " + (data / "expected.tsv.gz").string()).second);
    BOOST_REQUIRE(expected.size() == 121u);
    int step = stowage::test::stress_enabled() ? 1 : 6, checked = 0;
    for (std::size_t i = 1; i < expected.size(); i += static_cast<std::size_t>(step)) {
        std::istringstream row(expected[i]);
        std::string qid, mode, count, ids;
        std::getline(row, qid, '\t');
        std::getline(row, mode, '\t');
        std::getline(row, count, '\t');
        std::getline(row, ids);
        std::string q = queries.at(qid), quoted;
        for (char c : q) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        auto got = lines(run(cli + " index search " + d + " --mode " + (mode == "AND" ? "and" : "or") + " -- '" + quoted + "'").second);
        std::string joined;
        for (auto& g : got) joined += (joined.empty() ? "" : " ") + g;
        BOOST_TEST(joined == ids, qid << " " << mode << " " << q);
        ++checked;
    }
    BOOST_TEST(checked >= 20);
}
