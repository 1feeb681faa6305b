// hash/crc32c.hpp — CRC-32C (Castagnoli) through Crypto++, which uses the
// SSE4.2 crc32 instruction where present. For framing checksums (WAL
// records, envelope headers): it detects accidental damage, not tampering.
// The digest is the CRC's value in big-endian order, so its hex reads the
// way CRC values are conventionally written ("123456789" -> e3069283).
// Thread safety: one object per thread; distinct objects are independent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <cryptopp/crc.h>

#include "../bytes.hpp"
#include "../concepts.hpp"

namespace stowage {

class crc32c {
public:
    using digest = std::array<std::byte, 4>;
    static constexpr std::string_view name = "crc32c";

    void update(bytes_view data) {
        state_.Update(reinterpret_cast<const CryptoPP::byte*>(data.data()), data.size());
    }
    digest finish() {
        std::uint32_t v = value_and_reset();
        return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
    }
    // The CRC as a number (what framing formats store).
    std::uint32_t value_and_reset() {
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
    CryptoPP::CRC32C state_;
};

static_assert(hasher<crc32c>);

}  // namespace stowage
