// chunk/fastcdc.hpp — content-defined chunking after FastCDC (Xia et al.,
// USENIX ATC'16): chunk boundaries depend on the content around them, so an
// insertion early in a stream moves only the boundaries near it and every
// later chunk still deduplicates.
//
//   - Gear rolling hash: h = (h << 1) + gear[byte], one shift and one add per
//     byte; bit k of h depends on the last k+1 bytes, so the mask tests the
//     high bits (a window of about 50 bytes).
//   - Cut-point skipping: no boundary is looked for in the first `min` bytes.
//   - Normalized chunking: before `avg` a stricter mask (log2(avg)+2 bits)
//     makes a cut unlikely, after it a looser one (log2(avg)-2 bits) makes it
//     likely, which narrows the chunk-size distribution around `avg`.
//   - Hard cut at `max`.
// Sizes are set at run time (defaults 16 KiB / 64 KiB / 256 KiB). The gear
// table is generated at compile time from a fixed seed, so the same content
// always cuts the same way on every build.
//
// Thread safety: immutable after construction.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"

namespace stowage {

namespace detail {
// splitmix64: a fixed, well-mixed sequence for the gear table.
constexpr std::array<std::uint64_t, 256> make_gear_table() {
    std::array<std::uint64_t, 256> t{};
    std::uint64_t x = 0x5715a6e5c0ffee00ull;
    for (auto& v : t) {
        x += 0x9e3779b97f4a7c15ull;
        std::uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        v = z ^ (z >> 31);
    }
    return t;
}
inline constexpr std::array<std::uint64_t, 256> gear_table = make_gear_table();

constexpr std::uint64_t high_bits_mask(unsigned bits) {
    return bits == 0 ? 0 : (~std::uint64_t{0}) << (64 - bits);
}
}  // namespace detail

class fastcdc {
public:
    static constexpr std::string_view name = "fastcdc";

    explicit fastcdc(std::size_t min = 16 * 1024, std::size_t avg = 64 * 1024, std::size_t max = 256 * 1024)
        : min_(min), avg_(avg), max_(max) {
        if (!(min >= 64 && min < avg && avg < max))
            throw error(errc::bad_input, "fastcdc needs 64 <= min < avg < max (got " + std::to_string(min) + ", " +
                                             std::to_string(avg) + ", " + std::to_string(max) + ")");
        if (max > (std::size_t{1} << 30)) throw error(errc::bad_input, "fastcdc max above 1 GiB");
        unsigned bits = static_cast<unsigned>(std::bit_width(avg) - 1);  // floor(log2(avg))
        strict_ = detail::high_bits_mask(bits + 2);
        loose_ = detail::high_bits_mask(bits > 2 ? bits - 2 : 1);
    }

    std::size_t max_size() const { return max_; }
    std::size_t min_size() const { return min_; }
    std::size_t avg_size() const { return avg_; }

    std::size_t cut(bytes_view data) const {
        std::size_t n = data.size();
        if (n <= min_) return n;
        if (n > max_) n = max_;
        const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
        std::size_t normal = avg_ < n ? avg_ : n;
        std::uint64_t h = 0;
        std::size_t i = find(p, min_, normal, strict_, h);
        if (i < normal) return i + 1;
        i = find(p, normal, n, loose_, h);
        return i < n ? i + 1 : n;
    }

private:
    // The first i in [from, to) at which the rolling hash, carried in h,
    // has no bit of `mask` set; `to` when there is none (h then holds the
    // hash at to - 1).
    //
    // Eight bytes a step, fully unrolled: the one-byte loop spends as many
    // instructions on its own bookkeeping (bound check, increment, branch)
    // as on the hash, and unrolled the scan runs ~1.5x faster with GCC 12
    // (RESULTS.md, "Chunking alone"). h is a local inside the loop: as a
    // reference it could alias the bytes (a character type), and every
    // step would store it to memory.
    static std::size_t find(const std::uint8_t* p, std::size_t from, std::size_t to, std::uint64_t mask,
                            std::uint64_t& hash) {
        const auto& gear = detail::gear_table;
        std::uint64_t h = hash;
        std::size_t i = from;
        for (; i + 8 <= to; i += 8) {
#if defined(__clang__)
#pragma clang loop unroll(full)
#else
#pragma GCC unroll 8
#endif
            for (std::size_t k = 0; k < 8; ++k) {
                h = (h << 1) + gear[p[i + k]];
                if ((h & mask) == 0) [[unlikely]] {
                    hash = h;
                    return i + k;
                }
            }
        }
        for (; i < to; ++i) {
            h = (h << 1) + gear[p[i]];
            if ((h & mask) == 0) [[unlikely]]
                break;
        }
        hash = h;
        return i;
    }

    std::size_t min_, avg_, max_;
    std::uint64_t strict_ = 0, loose_ = 0;
};
static_assert(byte_chunker<fastcdc>);

}  // namespace stowage
