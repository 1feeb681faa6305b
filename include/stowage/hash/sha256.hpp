// hash/sha256.hpp — SHA-256 through Crypto++, which picks its fastest kernel
// at run time (SHA-NI where the CPU has it, SSE/AVX assembly otherwise).
// The content address of cas_map and the default digest of record envelopes.
// Thread safety: one object per thread; distinct objects are independent.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include <cryptopp/sha.h>

#include "../bytes.hpp"
#include "../concepts.hpp"

namespace stowage {

class sha256 {
public:
    using digest = std::array<std::byte, 32>;
    static constexpr std::string_view name = "sha256";

    void update(bytes_view data) {
        state_.Update(reinterpret_cast<const CryptoPP::byte*>(data.data()), data.size());
    }
    digest finish() {
        digest d;
        state_.Final(reinterpret_cast<CryptoPP::byte*>(d.data()));  // also resets
        return d;
    }

private:
    CryptoPP::SHA256 state_;
};

static_assert(hasher<sha256>);

}  // namespace stowage
