// Black-box tests of `stowage cas`: put prints exactly what sha256sum prints
// with every chunking, get returns the bytes, stats/ref/unref/gc, and
// `stowage verify` catches a damaged chunk.
#define BOOST_TEST_MODULE cli_cas
#include "test_support.hpp"

#include <fstream>

using stowage::test::run;
using stowage::test::scratch_dir;

static const std::string cli = STOWAGE_CLI;

static std::map<std::string, std::string> stats(const std::string& d) {
    std::map<std::string, std::string> out;
    std::istringstream in(run(cli + " cas stats " + d).second);
    std::string k, v;
    while (in >> k >> v) out[k.substr(0, k.size() - 1)] = v;
    return out;
}

BOOST_AUTO_TEST_CASE(put_get_stats_refs_gc) {
    scratch_dir dir("cli-cas");
    std::string d = dir.str() + "/data";
    std::string a = dir.str() + "/a.bin", b = dir.str() + "/b.bin";
    BOOST_TEST(run("head -c 1500000 /dev/urandom > " + a).first == 0);
    // b = a with a few bytes inserted near the start.
    BOOST_TEST(run("(head -c 1000 " + a + "; printf 'inserted'; tail -c +1001 " + a + ") > " + b).first == 0);
    auto expected = run("cd / && sha256sum " + a + " " + b).second;
    for (std::string chunking : {"whole", "fixed:65536", "fastcdc:4096:16384:65536"}) {
        auto out = run(cli + " cas put " + d + " --chunking " + chunking + " " + a + " " + b);
        BOOST_TEST(out.first == 0);
        BOOST_TEST(out.second == expected, chunking);
    }
    std::string da = expected.substr(0, 64);
    BOOST_TEST(run(cli + " cas get " + d + " " + da + " | cmp - " + a).first == 0);
    auto s = stats(d);
    BOOST_TEST(s["blobs"] == "2");
    BOOST_TEST(std::stoull(s["logical_bytes"]) == 6u * 1500000 + 3 * 8);
    BOOST_TEST(std::stoull(s["physical_bytes"]) < std::stoull(s["logical_bytes"]));
    BOOST_TEST(s.count("chunks") == 1u);
    BOOST_TEST(s.count("dedup_ratio") == 1u);
    BOOST_TEST(run(cli + " cas ref " + d + " " + da + " session-1 video").first == 0);
    auto gc = run(cli + " cas gc " + d);
    BOOST_TEST(gc.first == 0);
    BOOST_TEST(gc.second.find("blobs_freed: 1") != std::string::npos, gc.second);
    BOOST_TEST(stats(d)["blobs"] == "1");
    BOOST_TEST(run(cli + " cas get " + d + " " + da + " | cmp - " + a).first == 0);
    BOOST_TEST(run(cli + " cas unref " + d + " " + da + " session-1").first == 0);
    BOOST_TEST(run(cli + " cas unref " + d + " " + da + " session-1 2>/dev/null").first == 3);
    run(cli + " cas gc " + d);
    BOOST_TEST(stats(d)["blobs"] == "0");
    BOOST_TEST(stats(d)["physical_bytes"] == "0");
    BOOST_TEST(run(cli + " cas get " + d + " " + da + " 2>/dev/null").first == 3);
    BOOST_TEST(run(cli + " cas put " + d + " --chunking fastcdc:1:2 " + a + " 2>/dev/null").first == 2);
    BOOST_TEST(run(cli + " cas get " + d + " nothex 2>/dev/null").first == 2);
}

BOOST_AUTO_TEST_CASE(verify_catches_a_damaged_chunk) {
    scratch_dir dir("cli-cas-verify");
    std::string d = dir.str() + "/data";
    std::string a = dir.str() + "/a.bin";
    BOOST_TEST(run("head -c 300000 /dev/urandom > " + a).first == 0);
    BOOST_TEST(run(cli + " cas put " + d + " --chunking fixed:65536 " + a).first == 0);
    BOOST_TEST(run(cli + " verify " + d).first == 0);
    std::string chunk;
    for (auto& e : std::filesystem::recursive_directory_iterator(d + "/cas/sha256"))
        if (e.is_regular_file()) chunk = e.path().string();
    {
        std::fstream f(chunk, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(1000);
        f.put('\x5a');
    }
    auto v = run(cli + " verify " + d);
    BOOST_TEST(v.first == 1);
    BOOST_TEST(v.second.find("cas/sha256/") != std::string::npos);
    auto hex = run("sha256sum " + a).second.substr(0, 64);
    BOOST_TEST(run(cli + " cas get " + d + " " + hex + " > /dev/null 2>&1").first == 1);
}
