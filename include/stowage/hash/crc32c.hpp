// hash/crc32c.hpp — CRC-32C (Castagnoli). For framing checksums (WAL
// records, envelope headers): it detects accidental damage, not tampering.
// The digest is the CRC's value in big-endian order, so its hex reads the
// way CRC values are conventionally written ("123456789" -> e3069283).
//
// Where the CPU has SSE4.2 (x86-64, checked at run time), the crc32
// instruction runs over three interleaved streams of each buffer and the
// three CRCs are joined (see detail::crc32c_sse42): the instruction takes
// three cycles but can start one every cycle, so one stream leaves two
// thirds of it idle. That is about 3x Crypto++'s loop, which feeds it one
// stream, and the WAL checksums every byte it logs inside the commit
// ordering section. Elsewhere Crypto++'s CRC32C computes it.
// Thread safety: one object per thread; distinct objects are independent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

#include <cryptopp/crc.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define STOWAGE_CRC32C_SSE42 1
#else
#define STOWAGE_CRC32C_SSE42 0
#endif

#include "../bytes.hpp"
#include "../concepts.hpp"

namespace stowage {

namespace detail {

#if STOWAGE_CRC32C_SSE42

// The CRC register after `n` more bytes (reflected CRC-32C, no initial or
// final inversion: the caller's), with the crc32 instruction.
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42_serial(std::uint32_t crc, const unsigned char* p,
                                                                          std::size_t n) noexcept {
    std::uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    auto c32 = static_cast<std::uint32_t>(c);
    for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}

// Advancing a register over `Length` zero bytes is linear in the register
// (x^(8 Length) mod P, bit-reflected): a 32 x 32 bit matrix, kept as four
// tables of 256 entries, one per byte of the register. Built by running
// the instruction over zeros from each of the 32 single-bit registers.
template <std::size_t Length>
struct crc32c_zeros {
    std::array<std::array<std::uint32_t, 256>, 4> table{};

    crc32c_zeros() noexcept {
        static const std::array<unsigned char, Length> zeros{};
        std::array<std::uint32_t, 32> bit{};
        for (int i = 0; i < 32; ++i) bit[i] = crc32c_sse42_serial(std::uint32_t(1) << i, zeros.data(), Length);
        for (int k = 0; k < 4; ++k)
            for (unsigned b = 0; b < 256; ++b) {
                std::uint32_t v = 0;
                for (int i = 0; i < 8; ++i)
                    if (b >> i & 1) v ^= bit[8 * k + i];
                table[k][b] = v;
            }
    }
    std::uint32_t operator()(std::uint32_t crc) const noexcept {
        return table[0][crc & 0xff] ^ table[1][crc >> 8 & 0xff] ^ table[2][crc >> 16 & 0xff] ^ table[3][crc >> 24];
    }
};

// Rounds of three streams of `Length` bytes each: A, B and C run side by
// side, B and C from a zero register; then register(A B C) =
// zeros(zeros(A) ^ B) ^ C, since running a register over bytes is its run
// over zeros plus the bytes' run from zero.
template <std::size_t Length>
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42_rounds(std::uint32_t crc, const unsigned char*& p,
                                                                          std::size_t& n) noexcept {
    static_assert(Length % 8 == 0);
    static const crc32c_zeros<Length> shift;
    while (n >= 3 * Length) {
        std::uint64_t a = crc, b = 0, c = 0;
        for (std::size_t i = 0; i < Length; i += 8) {
            std::uint64_t wa, wb, wc;
            std::memcpy(&wa, p + i, 8);
            std::memcpy(&wb, p + Length + i, 8);
            std::memcpy(&wc, p + 2 * Length + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        crc = shift(shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b)) ^ static_cast<std::uint32_t>(c);
        p += 3 * Length;
        n -= 3 * Length;
    }
    return crc;
}

__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42(std::uint32_t crc, const unsigned char* p,
                                                                   std::size_t n) noexcept {
    crc = crc32c_sse42_rounds<2048>(crc, p, n);  // long buffers: few joins
    crc = crc32c_sse42_rounds<128>(crc, p, n);   // what is left, and WAL frames of a few hundred bytes
    return crc32c_sse42_serial(crc, p, n);
}

inline bool crc32c_sse42_available() noexcept {
    static const bool yes = [] {
        __builtin_cpu_init();  // in case this runs in a static initializer, before libgcc's own
        return __builtin_cpu_supports("sse4.2") != 0;
    }();
    return yes;
}

#else

inline bool crc32c_sse42_available() noexcept { return false; }

#endif

}  // namespace detail

class crc32c {
public:
    using digest = std::array<std::byte, 4>;
    static constexpr std::string_view name = "crc32c";

    void update(bytes_view data) {
#if STOWAGE_CRC32C_SSE42
        if (detail::crc32c_sse42_available()) {
            register_ = detail::crc32c_sse42(register_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
            return;
        }
#endif
        state_.Update(reinterpret_cast<const CryptoPP::byte*>(data.data()), data.size());
    }
    digest finish() {
        std::uint32_t v = value_and_reset();
        return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
    }
    // The CRC as a number (what framing formats store).
    std::uint32_t value_and_reset() {
#if STOWAGE_CRC32C_SSE42
        if (detail::crc32c_sse42_available()) return ~std::exchange(register_, ~std::uint32_t(0));
#endif
        CryptoPP::byte le[4];
        state_.Final(le);  // Crypto++ emits the register little-endian
        return std::uint32_t(le[0]) | std::uint32_t(le[1]) << 8 | std::uint32_t(le[2]) << 16 |
               std::uint32_t(le[3]) << 24;
    }
    static std::uint32_t of(bytes_view data) {
        crc32c c;
        c.update(data);
        return c.value_and_reset();
    }

private:
    std::uint32_t register_ = ~std::uint32_t(0);  // the SSE4.2 path's running register
    CryptoPP::CRC32C state_;                      // everywhere else
};

static_assert(hasher<crc32c>);

}  // namespace stowage
