// testing/chunk.hpp — the ChunkPolicy contract (concepts.hpp) as a
// conformance kit a client runs on its own chunker.
//
//   auto r = stowage::testing::check_chunk_policy(my_chunker(4096, 16384, 65536));
//   r.require();   // or BOOST_TEST(r.ok(), r.summary()), EXPECT_TRUE(...)...
//
// Byte chunkers ("chunk.<name>"), over random and repetitive streams of
// sizes around max_size() (up to 4 MiB), cut the way cas_map cuts them:
//   max_size             max_size() is at least 1
//   cut_in_range         cut(data) is in 1..data.size() and at most max_size()
//   deterministic        the same bytes (at another address, asked again)
//                        cut the same way
//   reads_max_size       with at least max_size() bytes given, bytes past
//                        max_size() do not change the cut (cas_map gives a
//                        window of max_size() bytes)
//   reassembles          the chunks, in order, are the stream
// Item chunkers:
//   monotone             full(items, bytes) stays true with more items or
//                        more bytes
//
// Thread safety: a kit uses its chunker from the calling thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "conformance.hpp"

namespace stowage::testing {

namespace chunk_kit {

inline constexpr std::size_t max_sample = std::size_t(4) << 20;

// Streams to cut: random bytes of sizes around max_size, and runs of one byte.
template <byte_chunker C>
std::vector<bytes> sample_streams(const C& c, std::uint64_t seed) {
    detail::kit_random rng(seed);
    const std::size_t m = c.max_size();
    std::vector<std::size_t> sizes = {0, 1, 2, 100, 4096};
    if (m < max_sample / 3)
        for (std::size_t s : {m - 1, m, m + 1, 3 * m + 17}) sizes.push_back(s);
    else
        sizes.push_back(std::size_t(1) << 20);
    std::vector<bytes> out;
    for (std::size_t s : sizes) {
        bytes b(std::min(s, max_sample));
        for (auto& x : b) x = std::byte(rng.below(256));
        out.push_back(std::move(b));
    }
    out.push_back(bytes(std::min(2 * m + 5, max_sample), std::byte{0}));
    return out;
}

template <byte_chunker C>
void cut_stream(conformance_report& r, const C& c, const bytes& stream) {
    const std::size_t m = c.max_size();
    bytes_view rest(stream);
    bytes joined;
    std::size_t chunks = 0;
    const std::string of = " (stream of " + std::to_string(stream.size()) + " bytes, chunk " ;
    while (!rest.empty()) {
        bytes_view window = rest.first(std::min(rest.size(), m));
        const std::size_t n = c.cut(window);
        const std::string at = of + std::to_string(chunks) + ")";
        if (!r.expect(n >= 1 && n <= window.size(), "chunk.cut_in_range",
                      "cut() of " + std::to_string(window.size()) + " bytes is " + std::to_string(n) + at))
            return;
        r.expect(n <= m, "chunk.cut_in_range", "cut() is " + std::to_string(n) + ", past max_size() " + std::to_string(m) + at);
        bytes copy(window.begin(), window.end());
        r.expect(c.cut(copy) == n && c.cut(window) == n, "chunk.deterministic",
                 "the same " + std::to_string(window.size()) + " bytes cut differently" + at);
        if (window.size() == m && rest.size() > m) {
            const std::size_t wider = c.cut(rest.first(std::min(rest.size(), m + m / 2 + 1)));
            r.expect(wider <= m, "chunk.cut_in_range",
                     "cut() of more than max_size() bytes is " + std::to_string(wider) + ", past max_size()" + at);
            r.expect(wider == n, "chunk.reads_max_size", "bytes past max_size() changed the cut" + at);
        }
        joined.insert(joined.end(), window.begin(), window.begin() + static_cast<std::ptrdiff_t>(n));
        rest = rest.subspan(n);
        ++chunks;
    }
    r.expect(joined == stream, "chunk.reassembles",
             "the chunks of a stream of " + std::to_string(stream.size()) + " bytes are not the stream");
}

template <byte_chunker C>
void check_bytes(conformance_report& r, const C& c, std::uint64_t seed) {
    if (!r.expect(c.max_size() >= 1, "chunk.max_size", "max_size() is 0")) return;
    for (const auto& s : sample_streams(c, seed))
        r.property("chunk.cut_in_range", [&] { cut_stream(r, c, s); });
}

template <item_chunker C>
void check_items(conformance_report& r, const C& c) {
    constexpr std::string_view p = "chunk.monotone";
    const std::vector<std::size_t> items = {0, 1, 2, 3, 5, 8, 10, 16, 32, 100, 1000, 100000};
    const std::vector<std::size_t> sizes = {0, 1, 100, 4096, 65536, std::size_t(1) << 20, std::size_t(1) << 30};
    for (std::size_t i = 0; i < items.size(); ++i)
        for (std::size_t j = 0; j < sizes.size(); ++j) {
            if (!c.full(items[i], sizes[j])) continue;
            const std::string at = "full(" + std::to_string(items[i]) + ", " + std::to_string(sizes[j]) + ")";
            if (i + 1 < items.size())
                r.expect(c.full(items[i + 1], sizes[j]), p, at + " but not with " + std::to_string(items[i + 1]) + " items");
            if (j + 1 < sizes.size())
                r.expect(c.full(items[i], sizes[j + 1]), p, at + " but not with " + std::to_string(sizes[j + 1]) + " bytes");
        }
    r.expect(true, p);
}

}  // namespace chunk_kit

// Every property of a chunk policy: a byte chunker's, an item chunker's, or
// both for a class that is both.
template <chunk_policy C>
conformance_report check_chunk_policy(const C& c, std::uint64_t seed = 20) {
    std::string name = "chunk policy";
    if constexpr (requires { C::name; }) name += " " + std::string(std::string_view(C::name));
    conformance_report r(name);
    if constexpr (byte_chunker<C>) r.property("chunk.max_size", [&] { chunk_kit::check_bytes(r, c, seed); });
    if constexpr (item_chunker<C>) r.property("chunk.monotone", [&] { chunk_kit::check_items(r, c); });
    return r;
}

}  // namespace stowage::testing
