// Tests for chunk/: whole, fixed_size, fastcdc (sizes, determinism,
// boundaries stable under an insertion earlier in the stream) and
// fixed_count.
#define BOOST_TEST_MODULE chunk
#include "test_support.hpp"

#include <bit>
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

// FastCDC as the paper writes it, one byte a step: the production cut()
// steps four bytes at a time and must cut at exactly the same places
// (chunks stored by one version must deduplicate against the next).
static std::size_t reference_cut(std::size_t min, std::size_t avg, std::size_t max, bytes_view data) {
    std::size_t n = data.size();
    if (n <= min) return n;
    if (n > max) n = max;
    unsigned bits = static_cast<unsigned>(std::bit_width(avg) - 1);
    const std::uint64_t strict = ~std::uint64_t{0} << (64 - (bits + 2));
    const std::uint64_t loose = ~std::uint64_t{0} << (64 - (bits > 2 ? bits - 2 : 1));
    std::uint64_t h = 0;
    std::size_t i = min;
    for (; i < std::min(avg, n); ++i) {
        h = (h << 1) + stowage::detail::gear_table[std::to_integer<std::uint8_t>(data[i])];
        if ((h & strict) == 0) return i + 1;
    }
    for (; i < n; ++i) {
        h = (h << 1) + stowage::detail::gear_table[std::to_integer<std::uint8_t>(data[i])];
        if ((h & loose) == 0) return i + 1;
    }
    return n;
}

BOOST_AUTO_TEST_CASE(fastcdc_cuts_where_the_byte_at_a_time_definition_does) {
    // Small sizes make cuts frequent, so every offset of a match within the
    // four-byte step, the tails of both loops and the hard cut are hit.
    struct sizes {
        std::size_t min, avg, max;
    };
    std::size_t cuts = 0;
    for (sizes z : {sizes{64, 128, 512}, sizes{64, 256, 259}, sizes{65, 67, 70}, sizes{100, 1000, 4001},
                    sizes{2048, 8192, 32768}, sizes{16384, 65536, 262144}}) {
        fastcdc c(z.min, z.avg, z.max);
        for (std::uint64_t seed = 10; seed < 14; ++seed) {
            auto data = random_bytes(300000 + seed, seed);
            bytes_view rest = data;
            while (!rest.empty()) {
                bytes_view window = rest.first(std::min(rest.size(), z.max));
                std::size_t want = reference_cut(z.min, z.avg, z.max, window);
                BOOST_TEST_REQUIRE(c.cut(window) == want);
                // Every shorter view too, near the ends of the loops.
                for (std::size_t shorter : {window.size() - 1, window.size() - 3, z.avg + 1, z.avg, z.min + 5})
                    if (shorter < window.size())
                        BOOST_TEST_REQUIRE(c.cut(window.first(shorter)) ==
                                           reference_cut(z.min, z.avg, z.max, window.first(shorter)));
                rest = rest.subspan(want);
                ++cuts;
            }
        }
    }
    BOOST_TEST(cuts > 1000u);
}

// The default chunker's cut points over a fixed stream, pinned: a change
// to the gear table or the hash would silently stop new puts from
// deduplicating against chunks stored before it.
BOOST_AUTO_TEST_CASE(fastcdc_default_cut_points_are_stable) {
    auto data = random_bytes(1 << 20, 42);
    auto sizes = cut_all(fastcdc(), data);
    std::vector<std::size_t> first(sizes.begin(), sizes.begin() + std::min<std::size_t>(8, sizes.size()));
    BOOST_TEST(first == (std::vector<std::size_t>{69597, 139533, 77676, 101021, 82616, 77445, 46597, 107094}), boost::test_tools::per_element());
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
