// gzip: files made by the system gzip decode to their originals, our output
// decodes with `gzip -d`, multi-member streams, truncation at every byte and
// corruption are refused, levels are checked, and gzip<C> composes codecs.
#define BOOST_TEST_MODULE codec_gzip
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace stowage;
namespace st = stowage::test;
namespace fs = std::filesystem;

namespace app {
enum class status { draft, recording, done };
STOWAGE_DESCRIBE_ENUM(status, draft, recording, done)

struct session {
    std::string id;
    std::string name;
    status state = status::draft;
    std::vector<std::string> tags;
    bool operator==(const session&) const = default;
};
STOWAGE_DESCRIBE(session, id, name, state, tags)
}  // namespace app

static_assert(gzip<>::name == "gzip+json");
static_assert(gzip<binary_codec>::name == "gzip+binary");
static_assert(gzip<gzip<binary_codec>>::name == "gzip+gzip+binary");
static_assert(codec_for<gzip<>, app::session>);
static_assert(!codec_for<gzip<>, int*>);

namespace {

bytes read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::string s(std::istreambuf_iterator<char>(f), {});
    return to_bytes(s);
}

void write_file(const fs::path& p, bytes_view b) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bytes compress(bytes_view in, int level = 6) {
    bytes out;
    gzip_compress(in, out, level);
    return out;
}

errc decompress_error(bytes_view in, std::string* what = nullptr) {
    try {
        (void)gzip_decompress(in);
    } catch (const stowage::error& e) {
        if (what) *what = e.what();
        return e.kind();
    }
    return errc{};
}

// Text with some repetition, like real records, plus random bytes.
bytes sample(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::string words[] = {"session", "topic", "meeting ", "notes", "\"id\":", "2024-01-01", "\n", "é€"};
    std::string s;
    while (s.size() < n) {
        if (rng() % 8 == 0) s.push_back(static_cast<char>(rng()));
        else s += words[rng() % std::size(words)];
    }
    s.resize(n);
    return to_bytes(s);
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(round_trips_at_every_level_and_size) {
    for (std::size_t n : {0, 1, 100, 65535, 65536, 65537, 1 << 20}) {
        const bytes in = sample(n, n);
        for (int level = 0; level <= 9; ++level) {
            const bytes z = compress(in, level);
            BOOST_TEST((z.size() >= 18u && z[0] == std::byte{0x1f} && z[1] == std::byte{0x8b} && z[2] == std::byte{8}));
            BOOST_TEST((gzip_decompress(z) == in), "size " << n << " level " << level);
        }
    }
}

BOOST_AUTO_TEST_CASE(compress_appends_and_levels_matter) {
    bytes out = to_bytes("head");
    const bytes in = sample(200000, 7);
    gzip_compress(in, out, 9);
    BOOST_TEST(to_string(bytes_view(out).first(4)) == "head");
    BOOST_TEST((gzip_decompress(bytes_view(out).subspan(4)) == in));
    BOOST_TEST(compress(in, 9).size() < compress(in, 1).size());
    BOOST_TEST(compress(in, 1).size() < compress(in, 0).size());
    BOOST_TEST(compress(in, 0).size() > in.size());  // level 0 stores
}

BOOST_AUTO_TEST_CASE(levels_outside_0_to_9_are_bad_input) {
    bytes out;
    for (int level : {-2, -1, 10, 100}) {
        try {
            gzip_compress(as_bytes("x"), out, level);
            BOOST_FAIL("level " << level << " accepted");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::bad_input));
            BOOST_TEST(contains(e.what(), std::to_string(level)), e.what());
        }
        BOOST_CHECK_THROW(gzip<>{level}, stowage::error);
    }
    BOOST_TEST(out.empty());
    BOOST_TEST(gzip<>(0).level() == 0);
    BOOST_TEST(gzip<binary_codec>(9).level() == 9);
}

BOOST_AUTO_TEST_CASE(multi_member_streams_decode_every_member) {
    const bytes a = sample(5000, 1), b = sample(70000, 2);
    bytes z = compress(a, 1);
    const bytes zb = compress(b, 9);
    const bytes ze = compress({}, 6);
    z.insert(z.end(), ze.begin(), ze.end());  // an empty member in the middle
    z.insert(z.end(), zb.begin(), zb.end());
    bytes expect = a;
    expect.insert(expect.end(), b.begin(), b.end());
    BOOST_TEST((gzip_decompress(z) == expect));
}

BOOST_AUTO_TEST_CASE(truncation_at_every_byte_is_refused) {
    const bytes in = to_bytes(R"({"id":"s1","name":"a small record","tags":["a","b","a","b"]})");
    bytes z = compress(in);
    const bytes second = compress(as_bytes("second member"));
    z.insert(z.end(), second.begin(), second.end());
    const std::size_t first_end = z.size() - second.size();
    for (std::size_t n = 0; n < z.size(); ++n) {
        if (n == first_end) continue;  // exactly the first member: a complete stream
        std::string what;
        BOOST_TEST((decompress_error(bytes_view(z.data(), n), &what) == errc::corrupt), "cut at " << n);
    }
    BOOST_TEST((gzip_decompress(bytes_view(z.data(), first_end)) == in));
}

BOOST_AUTO_TEST_CASE(corrupt_bytes_and_trailing_garbage_are_refused) {
    const bytes in = sample(3000, 3);
    const bytes z = compress(in);
    // The header's MTIME, XFL and OS bytes (4..9), the FTEXT flag (a hint) and
    // the padding bits of the last deflate byte carry no check; every other
    // byte does: magic, method and flags, the deflate data, CRC-32, ISIZE.
    for (std::size_t i = 0; i < z.size(); ++i) {
        if ((i >= 4 && i <= 9) || i == z.size() - 9) continue;
        for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
            if (i == 3 && mask == 0x01) continue;
            bytes c = z;
            c[i] ^= std::byte{mask};
            errc kind = decompress_error(c);
            BOOST_TEST((kind == errc::corrupt), "byte " << i << " ^ " << int(mask));
        }
    }
    bytes trailing = z;
    trailing.push_back(std::byte{0});
    BOOST_TEST((decompress_error(trailing) == errc::corrupt));
    trailing = z;
    append(trailing, as_bytes("garbage after the stream"));
    std::string what;
    BOOST_TEST((decompress_error(trailing, &what) == errc::corrupt));
    BOOST_TEST(contains(what, "gzip"), what);
    BOOST_TEST((decompress_error(as_bytes("plain text, not gzip")) == errc::corrupt));
    BOOST_TEST((decompress_error({}) == errc::corrupt));
    // A zlib (not gzip) stream of the same data is refused too.
    bytes zl(compressBound(static_cast<uLong>(in.size())));
    uLongf zl_size = static_cast<uLongf>(zl.size());
    BOOST_REQUIRE(compress2(reinterpret_cast<Bytef*>(zl.data()), &zl_size, reinterpret_cast<const Bytef*>(in.data()),
                            static_cast<uLong>(in.size()), 6) == Z_OK);
    zl.resize(zl_size);
    BOOST_TEST((decompress_error(zl) == errc::corrupt));
}

// Each thread reuses its zlib streams: a call that failed half-way must not
// leave anything behind for the next one.
BOOST_AUTO_TEST_CASE(a_failed_call_does_not_disturb_the_next) {
    const bytes in = sample(100000, 5);
    const bytes z = compress(in, 6);
    for (int round = 0; round < 3; ++round) {
        BOOST_TEST((decompress_error(bytes_view(z.data(), z.size() / 2)) == errc::corrupt));
        BOOST_CHECK_THROW((void)gzip_decompress(z, 1000), stowage::error);
        bytes bad = z;
        bad[z.size() / 3] ^= std::byte{0x55};
        BOOST_TEST((decompress_error(bad) == errc::corrupt));
        BOOST_TEST((gzip_decompress(z) == in));
        BOOST_TEST((compress(in, 6) == z));  // same level, same bytes: the reused stream starts clean
    }
}

BOOST_AUTO_TEST_CASE(an_output_limit_stops_decompression_bombs) {
    const bytes zeros(10 << 20, std::byte{0});
    const bytes z = compress(zeros, 9);
    BOOST_TEST(z.size() < 20000u);
    try {
        (void)gzip_decompress(z, 1 << 20);
        BOOST_FAIL("limit ignored");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    BOOST_TEST(gzip_decompress(z, 10 << 20).size() == zeros.size());
}

BOOST_AUTO_TEST_CASE(gzip_codec_composes_over_json_and_binary) {
    const app::session s{"s1", "Weekly sync", app::status::done, {"x", "y"}};
    for (int level : {1, 6, 9}) {
        bytes zj, zb;
        gzip<json_codec>(level).encode(s, zj);
        gzip<binary_codec>(level).encode(s, zb);
        BOOST_TEST(to_string(gzip_decompress(zj)) == to_json(s));
        app::session a, b;
        gzip<json_codec>(level).decode(zj, a);
        gzip<binary_codec>(level).decode(zb, b);
        BOOST_TEST((a == s));
        BOOST_TEST((b == s));
    }
    // A gzip stream whose content is not valid JSON: the inner codec's error.
    bytes bad;
    gzip_compress(as_bytes(R"({"id":1})"), bad);
    app::session out;
    try {
        gzip<json_codec>{}.decode(bad, out);
        BOOST_FAIL("accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(contains(e.what(), "session.id"), e.what());
    }
    bytes cut;
    gzip<json_codec>{}.encode(s, cut);
    cut.resize(cut.size() - 4);
    BOOST_CHECK_THROW(gzip<json_codec>{}.decode(cut, out), stowage::error);
}

BOOST_AUTO_TEST_CASE(session_like_json_compresses_well) {
    std::vector<app::session> all;
    for (int i = 0; i < 200; ++i)
        all.push_back({"session-" + std::to_string(i), "Recording " + std::to_string(i * 7), app::status::recording,
                       {"work", "meeting", "topic-" + std::to_string(i % 10)}});
    const std::string json = to_json(all);
    const bytes z = compress(as_bytes(json), 6);
    const double ratio = double(z.size()) / double(json.size());
    BOOST_TEST_MESSAGE("gzip -6 of " << json.size() << " bytes of session JSON: ratio " << ratio);
    BOOST_TEST(ratio < 0.4);
}

// --- interoperability with the system gzip ----------------------------------
BOOST_AUTO_TEST_CASE(our_output_decodes_with_system_gzip) {
    st::scratch_dir dir("gzip-out");
    int files = 0;
    for (std::size_t n : {0, 1, 4096, 300000}) {
        const bytes in = sample(n, n + 11);
        for (int level : {0, 1, 6, 9}) {
            const auto base = dir.path() / ("data-" + std::to_string(n) + "-" + std::to_string(level));
            write_file(base.string() + ".gz", compress(in, level));
            auto [rc, out] = st::run("gzip -dc " + base.string() + ".gz > " + base.string() + ".out 2>&1; echo $?");
            BOOST_TEST(rc == 0);
            BOOST_TEST(out == "0\n", "gzip -d failed on size " << n << " level " << level);
            BOOST_TEST((read_file(base.string() + ".out") == in), "gzip -d output differs");
            ++files;
        }
    }
    // Two of our members, concatenated, read by gzip as one stream.
    bytes two = compress(as_bytes("first,"));
    const bytes second = compress(as_bytes("second"));
    two.insert(two.end(), second.begin(), second.end());
    write_file(dir.path() / "two.gz", two);
    auto [rc, out] = st::run("gzip -dc " + (dir.path() / "two.gz").string());
    BOOST_TEST(rc == 0);
    BOOST_TEST(out == "first,second");
    BOOST_TEST(files == 16);
}

BOOST_AUTO_TEST_CASE(files_made_by_system_gzip_decode_to_their_originals, *boost::unit_test::label("shared_data")) {
    const auto dir = st::shared_data("gzip");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"pypi_head.tsv.gz", "orig/pypi_head.tsv"},  // FNAME header, -9
        {"json_suite_concat.bin.gz", "orig/json_suite_concat.bin"},  // binary content, -1
        {"multi_member.gz", "orig/multi_member.expected"},  // two members
        {"empty.txt.gz", "orig/empty.txt"}};
    for (const auto& [gz, orig] : cases) {
        const bytes expect = read_file(dir / orig);
        const bytes got = gzip_decompress(read_file(dir / gz));
        BOOST_TEST(got.size() == expect.size(), gz);
        BOOST_TEST((got == expect), gz << " does not decode to " << orig);
    }
    BOOST_TEST(read_file(dir / "orig/multi_member.expected").size() == 156015u);
    // Truncating a real file anywhere in its last member is refused.
    const bytes multi = read_file(dir / "multi_member.gz");
    for (std::size_t cut : {std::size_t{1}, std::size_t{10}, std::size_t{63068}, std::size_t{63070}, multi.size() - 8,
                            multi.size() - 1})
        BOOST_TEST((decompress_error(bytes_view(multi.data(), cut)) == errc::corrupt), "cut at " << cut);
}
