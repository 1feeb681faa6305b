// hash/blake2b.hpp — BLAKE2b-256 through Crypto++: a 32-byte digest that
// is faster than SHA-256 on CPUs without SHA extensions.
// Thread safety: one object per thread; distinct objects are independent.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include <cryptopp/blake2.h>

#include "../bytes.hpp"
#include "../concepts.hpp"

namespace stowage {

class blake2b {
public:
    using digest = std::array<std::byte, 32>;
    static constexpr std::string_view name = "blake2b";

    blake2b() : state_(false, static_cast<unsigned int>(std::tuple_size_v<digest>)) {}

    void update(bytes_view data) {
        state_.Update(reinterpret_cast<const CryptoPP::byte*>(data.data()), data.size());
    }
    digest finish() {
        digest d;
        state_.Final(reinterpret_cast<CryptoPP::byte*>(d.data()));
        return d;
    }

private:
    CryptoPP::BLAKE2b state_;
};

static_assert(hasher<blake2b>);

}  // namespace stowage
