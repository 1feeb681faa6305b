// hash_test.cpp — the hashers (sha256, blake2b, crc32c) and hex.hpp.
//
// SHA-256 against NIST CAVP vectors from the shared data (short, long, Monte
// Carlo; labelled shared_data so they are skipped, not passed, without it);
// BLAKE2b-256 and CRC-32C against published known answers; incremental
// updates at every split point equal one-shot hashing; hex round trips and
// rejects everything that is not exactly a digest.
#define BOOST_TEST_MODULE hash
#include "test_support.hpp"

#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace bt = boost::unit_test;
using namespace stowage;

namespace {

bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bytes out(n);
    for (auto& b : out) b = std::byte(rng() & 0xff);
    return out;
}

bytes unhex(std::string_view hex) {
    BOOST_REQUIRE_MESSAGE(hex.size() % 2 == 0, "odd hex length in test vector");
    bytes out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = detail::hex_value(hex[2 * i]), lo = detail::hex_value(hex[2 * i + 1]);
        BOOST_REQUIRE_MESSAGE(hi >= 0 && lo >= 0, "bad hex in test vector");
        out[i] = std::byte(hi << 4 | lo);
    }
    return out;
}

// One record of a CAVP .rsp file: "Key = value" lines up to a blank line.
using record = std::map<std::string, std::string>;

std::vector<record> read_rsp(const std::filesystem::path& file) {
    std::ifstream in(file);
    BOOST_REQUIRE_MESSAGE(in, "cannot open " << file);
    std::vector<record> records;
    record current;
    std::string line;
    auto flush = [&] {
        if (!current.empty()) records.push_back(std::move(current));
        current.clear();
    };
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // NIST ships CRLF
        if (line.empty()) {
            flush();
            continue;
        }
        if (line[0] == '#' || line[0] == '[') continue;
        auto eq = line.find(" = ");
        BOOST_REQUIRE_MESSAGE(eq != std::string::npos, "unexpected line in " << file << ": " << line);
        current[line.substr(0, eq)] = line.substr(eq + 3);
    }
    flush();
    return records;
}

// Runs every Len/Msg/MD record of a Short or Long file; returns how many.
std::size_t check_message_vectors(const std::string& file_name) {
    auto records = read_rsp(test::shared_data("sha256") / file_name);
    std::size_t checked = 0;
    for (const auto& r : records) {
        if (!r.count("Len")) continue;
        auto bits = std::stoull(r.at("Len"));
        BOOST_REQUIRE_EQUAL(bits % 8, 0u);
        bytes msg = unhex(r.at("Msg"));
        msg.resize(bits / 8);  // Len = 0 comes with Msg = 00: the message is empty
        BOOST_TEST_CONTEXT(file_name << " Len=" << bits) {
            BOOST_TEST(to_hex(hash_of<sha256>(msg)) == r.at("MD"));
            // Also fed in two uneven pieces, through one reused object.
            sha256 h;
            h.update(bytes_view(msg).first(msg.size() / 3));
            h.update(bytes_view(msg).subspan(msg.size() / 3));
            BOOST_TEST(to_hex(h.finish()) == r.at("MD"));
        }
        ++checked;
    }
    return checked;
}

// Every split of `data` into two updates, and a walk in random-sized pieces,
// must give the one-shot digest; a finished hasher must start over clean.
template <class H>
void check_incremental(const bytes& data, std::uint64_t seed) {
    const auto expected = hash_of<H>(data);
    H h;
    for (std::size_t split = 0; split <= data.size(); ++split) {
        h.update(bytes_view(data).first(split));
        h.update(bytes_view(data).subspan(split));
        auto got = h.finish();  // resets h for the next split
        if (got != expected) {
            BOOST_ERROR(H::name << ": split at " << split << " of " << data.size()
                                << " gives " << to_hex(got) << ", one-shot " << to_hex(expected));
            return;
        }
    }
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 20; ++round) {
        std::size_t pos = 0;
        while (pos < data.size()) {
            std::size_t n = std::min<std::size_t>(rng() % 200, data.size() - pos);
            h.update(bytes_view(data).subspan(pos, n));  // n = 0 is a legal update too
            pos += n;
        }
        BOOST_TEST(to_hex(h.finish()) == to_hex(expected), H::name << " random pieces, round " << round);
    }
}

}  // namespace

// --- SHA-256: NIST CAVP ------------------------------------------------------

BOOST_AUTO_TEST_CASE(sha256_nist_short_messages, *bt::label("shared_data")) {
    BOOST_TEST(check_message_vectors("SHA256ShortMsg.rsp") == 65u);
}

BOOST_AUTO_TEST_CASE(sha256_nist_long_messages, *bt::label("shared_data")) {
    BOOST_TEST(check_message_vectors("SHA256LongMsg.rsp") == 64u);
}

// MD_i = SHA256(MD_{i-3} || MD_{i-2} || MD_{i-1}), 1000 steps per checkpoint,
// fed as three 32-byte updates: crosses the 64-byte block boundary mid-update.
BOOST_AUTO_TEST_CASE(sha256_nist_monte_carlo, *bt::label("shared_data")) {
    auto records = read_rsp(test::shared_data("sha256") / "SHA256Monte.rsp");
    BOOST_REQUIRE(!records.empty());
    BOOST_REQUIRE(records.front().count("Seed"));
    auto seed = digest_from_hex<sha256>(records.front().at("Seed"));
    sha256 h;
    std::size_t checkpoints = 0;
    for (std::size_t j = 1; j < records.size(); ++j) {
        const auto& r = records[j];
        BOOST_REQUIRE(r.count("COUNT") && r.count("MD"));
        BOOST_REQUIRE_EQUAL(std::stoul(r.at("COUNT")), checkpoints);
        std::array<sha256::digest, 3> md{seed, seed, seed};
        for (int i = 3; i < 1003; ++i) {
            for (const auto& m : md) h.update(m);
            auto next = h.finish();
            md = {md[1], md[2], next};
        }
        seed = md[2];
        BOOST_TEST(to_hex(seed) == r.at("MD"), "Monte Carlo COUNT = " << checkpoints);
        ++checkpoints;
    }
    BOOST_TEST(checkpoints == 100u);
}

// --- known answers without the shared data ------------------------------------

BOOST_AUTO_TEST_CASE(sha256_known_answers) {
    BOOST_TEST(to_hex(hash_of<sha256>("")) ==
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    BOOST_TEST(to_hex(hash_of<sha256>("abc")) ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(to_hex(hash_of<sha256>("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // One million 'a' (FIPS 180-2 appendix B.3), in 1000 updates.
    sha256 h;
    std::string thousand(1000, 'a');
    for (int i = 0; i < 1000; ++i) h.update(as_bytes(thousand));
    BOOST_TEST(to_hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// BLAKE2b with a 32-byte digest (RFC 7693 parameter block, digest length 32):
// what `b2sum -l 256` prints.
BOOST_AUTO_TEST_CASE(blake2b_256_known_answers) {
    BOOST_TEST(to_hex(hash_of<blake2b>("")) ==
               "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    BOOST_TEST(to_hex(hash_of<blake2b>("abc")) ==
               "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    BOOST_TEST(to_hex(hash_of<blake2b>("The quick brown fox jumps over the lazy dog")) ==
               "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9");
    static_assert(std::tuple_size_v<blake2b::digest> == 32);
}

BOOST_AUTO_TEST_CASE(crc32c_known_answers) {
    BOOST_TEST(to_hex(hash_of<crc32c>("123456789")) == "e3069283");
    BOOST_TEST(crc32c::of(as_bytes("123456789")) == 0xe3069283u);
    BOOST_TEST(crc32c::of(as_bytes("")) == 0u);
    // RFC 3720 (iSCSI) appendix B.4: 32 bytes of zeros, of 0xff, ascending.
    bytes zeros(32, std::byte{0}), ones(32, std::byte{0xff}), ascending(32);
    for (int i = 0; i < 32; ++i) ascending[i] = std::byte(i);
    BOOST_TEST(crc32c::of(zeros) == 0x8a9136aau);
    BOOST_TEST(crc32c::of(ones) == 0x62a8ab43u);
    BOOST_TEST(crc32c::of(ascending) == 0x46dd794eu);
    // value_and_reset() and finish() agree and both start over.
    crc32c c;
    c.update(as_bytes("1234"));
    c.update(as_bytes("56789"));
    BOOST_TEST(c.value_and_reset() == 0xe3069283u);
    c.update(as_bytes("123456789"));
    BOOST_TEST(to_hex(c.finish()) == "e3069283");
}

// The three-stream SSE4.2 path against Crypto++'s CRC32C, at every length
// around its round sizes (3 x 128 and 3 x 2048 bytes), at odd alignments,
// and fed in pieces that cut rounds apart.
BOOST_AUTO_TEST_CASE(crc32c_three_streams_agree_with_crypto_pp) {
    if (!stowage::detail::crc32c_sse42_available()) {
        BOOST_TEST_MESSAGE("no SSE4.2 here: crc32c is Crypto++'s, nothing to compare");
        return;
    }
    auto seed = test::test_seed();
    const bytes data = random_bytes(20000, seed);
    auto reference = [](bytes_view d) {
        CryptoPP::CRC32C c;
        c.Update(reinterpret_cast<const CryptoPP::byte*>(d.data()), d.size());
        CryptoPP::byte le[4];
        c.Final(le);
        return std::uint32_t(le[0]) | std::uint32_t(le[1]) << 8 | std::uint32_t(le[2]) << 16 | std::uint32_t(le[3]) << 24;
    };
    std::vector<std::size_t> lengths;
    for (std::size_t n = 0; n <= 800; ++n) lengths.push_back(n);
    for (std::size_t round : {384u, 6144u})
        for (std::size_t k : {1u, 2u, 3u})
            for (std::size_t d = 0; d < 20; ++d) lengths.push_back(k * round + d), lengths.push_back(k * round - d - 1);
    lengths.push_back(19990);
    for (std::size_t n : lengths)
        for (std::size_t offset : {0u, 1u, 3u, 7u}) {
            bytes_view piece = bytes_view(data).subspan(offset, n);
            BOOST_TEST(crc32c::of(piece) == reference(piece), "length " << n << " at offset " << offset);
        }
    std::mt19937_64 rng(seed);
    for (int trial = 0; trial < 200; ++trial) {
        bytes_view all = bytes_view(data).first(rng() % data.size());
        crc32c c;
        for (std::size_t at = 0; at < all.size();) {
            std::size_t take = std::min<std::size_t>(all.size() - at, rng() % 7000);
            c.update(all.subspan(at, take));
            at += take;
        }
        BOOST_TEST(c.value_and_reset() == reference(all), "trial " << trial);
    }
}

// --- incremental == one-shot ---------------------------------------------------

// Sizes around the 64-byte (SHA-256) and 128-byte (BLAKE2b) blocks, and a few
// kilobytes so that the SIMD bulk paths run too.
BOOST_AUTO_TEST_CASE(incremental_equals_one_shot_at_every_split) {
    auto seed = test::test_seed();
    for (std::size_t n : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4099}) {
        bytes data = random_bytes(n, seed + n);
        BOOST_TEST_CONTEXT("size " << n) {
            check_incremental<sha256>(data, seed);
            check_incremental<blake2b>(data, seed);
            check_incremental<crc32c>(data, seed);
        }
    }
}

BOOST_AUTO_TEST_CASE(finish_resets_the_hasher) {
    for (int i = 0; i < 3; ++i) {
        sha256 s;
        blake2b b;
        s.update(as_bytes("garbage"));
        b.update(as_bytes("garbage"));
        (void)s.finish();
        (void)b.finish();
        s.update(as_bytes("abc"));
        b.update(as_bytes("abc"));
        BOOST_TEST(s.finish() == hash_of<sha256>("abc"));
        BOOST_TEST(b.finish() == hash_of<blake2b>("abc"));
    }
}

BOOST_AUTO_TEST_CASE(different_inputs_give_different_digests) {
    // A cheap guard against a hasher that ignores part of its input.
    auto base = random_bytes(300, 7);
    for (std::size_t pos : {0u, 63u, 64u, 127u, 128u, 299u}) {
        auto changed = base;
        changed[pos] ^= std::byte{1};
        BOOST_TEST(hash_of<sha256>(changed) != hash_of<sha256>(base), "byte " << pos);
        BOOST_TEST(hash_of<blake2b>(changed) != hash_of<blake2b>(base), "byte " << pos);
        BOOST_TEST(hash_of<crc32c>(changed) != hash_of<crc32c>(base), "byte " << pos);
    }
}

// --- hex ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hex_round_trip) {
    auto d = hash_of<sha256>("round trip");
    auto hex = to_hex(d);
    BOOST_TEST(hex.size() == 64u);
    BOOST_TEST(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    BOOST_TEST(digest_from_hex<sha256>(hex) == d);

    std::string upper = hex;
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    BOOST_TEST(digest_from_hex<sha256>(upper) == d);  // either case parses

    // Every byte value survives.
    std::array<std::byte, 256> all{};
    for (int i = 0; i < 256; ++i) all[i] = std::byte(i);
    auto all_hex = to_hex(all);
    BOOST_TEST(all_hex.substr(0, 8) == "00010203");
    BOOST_TEST(all_hex.substr(all_hex.size() - 4) == "feff");
    auto back = try_from_hex<256>(all_hex);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((*back == all));

    BOOST_TEST(to_hex(bytes_view{}) == "");
    BOOST_TEST(try_from_hex<0>("").has_value());
}

BOOST_AUTO_TEST_CASE(hex_rejects_malformed_text) {
    const std::string good = to_hex(hash_of<crc32c>("x"));  // 8 digits
    BOOST_TEST(try_from_hex<4>(good).has_value());
    for (std::string bad : {std::string(""), good.substr(0, 7), good + "0", good + "00",
                            std::string("0000000g"), std::string("0x000000"), std::string(" 0000000"),
                            std::string("0000000 "), std::string("0000\0" "000", 8),
                            std::string("\xff\xff\xff\xff\xff\xff\xff\xff"), std::string("+1234567"),
                            std::string("ZZZZZZZZ")}) {
        BOOST_TEST(!try_from_hex<4>(bad).has_value(), "accepted '" << bad << "'");
        try {
            (void)digest_from_hex<crc32c>(bad);
            BOOST_ERROR("digest_from_hex accepted '" << bad << "'");
        } catch (const error& e) {
            BOOST_TEST((e.kind() == errc::bad_input));
            BOOST_TEST(std::string(e.what()).find("crc32c") != std::string::npos, e.what());
        }
    }
    // The message names the hasher and the expected length.
    try {
        (void)digest_from_hex<sha256>("abc");
        BOOST_ERROR("accepted a short sha256 digest");
    } catch (const error& e) {
        std::string what = e.what();
        BOOST_TEST(what.find("sha256") != std::string::npos, what);
        BOOST_TEST(what.find("64 hex digits") != std::string::npos, what);
        BOOST_TEST(what.find("'abc'") != std::string::npos, what);
    }
}

BOOST_AUTO_TEST_CASE(hashers_satisfy_the_concept) {
    static_assert(hasher<sha256> && hasher<blake2b> && hasher<crc32c>);
    BOOST_TEST(sha256::name == "sha256");
    BOOST_TEST(blake2b::name == "blake2b");
    BOOST_TEST(crc32c::name == "crc32c");
}
