// Tests for chunk/: whole, fixed_size, fastcdc (sizes, determinism,
// boundaries stable under an insertion earlier in the stream) and
// fixed_count.
#define BOOST_TEST_MODULE chunk
#include "test_support.hpp"

#include <set>

#include "stowage/chunk/fastcdc.hpp"
#include "stowage/chunk/fixed_count.hpp"
#include "stowage/chunk/fixed_size.hpp"
#include "stowage/chunk/whole.hpp"
#include "stowage/hash/hex.hpp"
#include "stowage/hash/sha256.hpp"

using namespace stowage;

static bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bytes b(n);
    for (auto& x : b) x = std::byte(rng() & 0xff);
    return b;
}

// Cuts a whole buffer the way a streaming reader does.
template <class C>
std::vector<std::size_t> cut_all(const C& c, bytes_view data) {
    std::vector<std::size_t> sizes;
    while (!data.empty()) {
        std::size_t n = c.cut(data.first(std::min(data.size(), c.max_size())));
        BOOST_TEST_REQUIRE(n >= 1u);
        BOOST_TEST_REQUIRE(n <= data.size());
        sizes.push_back(n);
        data = data.subspan(n);
    }
    return sizes;
}

template <class C>
std::multiset<std::string> chunk_digests(const C& c, bytes_view data) {
    std::multiset<std::string> out;
    for (auto n : cut_all(c, data)) {
        out.insert(to_hex(hash_of<sha256>(data.first(n))));
        data = data.subspan(n);
    }
    return out;
}

BOOST_AUTO_TEST_CASE(whole_and_fixed) {
    auto data = random_bytes(100000, 1);
    BOOST_TEST(cut_all(whole{}, data) == std::vector<std::size_t>{100000});
    BOOST_TEST(cut_all(whole{}, bytes_view{}).empty());
    auto sizes = cut_all(fixed_size(30000), data);
    BOOST_TEST((sizes == std::vector<std::size_t>{30000, 30000, 30000, 10000}));
    BOOST_CHECK_THROW(fixed_size(0), stowage::error);
}

BOOST_AUTO_TEST_CASE(fastcdc_sizes_stay_within_bounds) {
    fastcdc c(2048, 8192, 32768);
    auto data = random_bytes(4 << 20, 2);
    auto sizes = cut_all(c, data);
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
        BOOST_TEST(sizes[i] > 2048u);
        BOOST_TEST(sizes[i] <= 32768u);
    }
    double avg = double(data.size()) / double(sizes.size());
    BOOST_TEST(avg > 4096.0);
    BOOST_TEST(avg < 16384.0);
    // Short inputs: up to min is one chunk; exactly max cuts at most at max.
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(2047), std::size_t(2048), std::size_t(2049),
                          std::size_t(32767), std::size_t(32768), std::size_t(32769)}) {
        auto s = cut_all(c, bytes_view(data).first(n));
        std::size_t total = 0;
        for (auto x : s) total += x;
        BOOST_TEST(total == n);
        if (n <= 2048) BOOST_TEST(s.size() == (n ? 1u : 0u));
    }
    BOOST_CHECK_THROW(fastcdc(100, 50, 1000), stowage::error);
    BOOST_CHECK_THROW(fastcdc(10, 50, 1000), stowage::error);
}

BOOST_AUTO_TEST_CASE(fastcdc_is_deterministic_and_content_defined) {
    fastcdc c(2048, 8192, 32768);
    auto data = random_bytes(2 << 20, 3);
    BOOST_TEST(cut_all(c, data) == cut_all(c, data));
    BOOST_TEST(cut_all(fastcdc(2048, 8192, 32768), data) == cut_all(c, data));
    // Insert 100 bytes early: with content-defined chunking nearly every
    // chunk still matches; with fixed-size chunking almost none after the
    // insertion does.
    bytes edited(data.begin(), data.begin() + 100000);
    auto extra = random_bytes(100, 4);
    edited.insert(edited.end(), extra.begin(), extra.end());
    edited.insert(edited.end(), data.begin() + 100000, data.end());
    auto shared_fraction = [&](auto chunker) {
        auto a = chunk_digests(chunker, data);
        auto b = chunk_digests(chunker, edited);
        std::size_t shared = 0;
        for (auto& d : b) shared += a.count(d) > 0;
        return double(shared) / double(b.size());
    };
    double cdc = shared_fraction(c);
    double fixed = shared_fraction(fixed_size(8192));
    BOOST_TEST_MESSAGE("shared chunks after an insertion: fastcdc " << cdc << ", fixed " << fixed);
    BOOST_TEST(cdc > 0.95);
    BOOST_TEST(fixed < 0.10);
}

BOOST_AUTO_TEST_CASE(fixed_count_groups_items) {
    fixed_count c(10);
    BOOST_TEST(!c.full(9, 1 << 30));
    BOOST_TEST(c.full(10, 0));
    fixed_count budget(50, 1000);
    BOOST_TEST(!budget.full(3, 999));
    BOOST_TEST(budget.full(3, 1000));
    BOOST_CHECK_THROW(fixed_count(0), stowage::error);
}
