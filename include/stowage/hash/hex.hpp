// hash/hex.hpp — digests as lower-case hex (the form sha256sum prints) and
// back, plus one-shot hashing over any Hasher.
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"

namespace stowage {

inline std::string to_hex(bytes_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(data.size() * 2, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        auto b = std::to_integer<unsigned>(data[i]);
        out[2 * i] = digits[b >> 4];
        out[2 * i + 1] = digits[b & 15];
    }
    return out;
}

template <std::size_t N>
std::string to_hex(const std::array<std::byte, N>& digest) {
    return to_hex(bytes_view(digest));
}

namespace detail {
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace detail

// Parses exactly N bytes of hex (either case); nullopt on any other input.
template <std::size_t N>
std::optional<std::array<std::byte, N>> try_from_hex(std::string_view hex) noexcept {
    if (hex.size() != 2 * N) return std::nullopt;
    std::array<std::byte, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        int hi = detail::hex_value(hex[2 * i]), lo = detail::hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = std::byte(static_cast<unsigned char>(hi << 4 | lo));
    }
    return out;
}

// The digest of H spelled in hex; errc::bad_input naming the text otherwise.
template <hasher H>
typename H::digest digest_from_hex(std::string_view hex) {
    constexpr auto n = std::tuple_size_v<typename H::digest>;
    if (auto d = try_from_hex<n>(hex)) return *d;
    throw error(errc::bad_input, "not a " + std::string(H::name) + " digest (" +
                                     std::to_string(2 * n) + " hex digits): '" +
                                     std::string(hex.substr(0, 80)) + "'");
}

// One-shot hashing.
template <hasher H>
typename H::digest hash_of(bytes_view data) {
    H h;
    h.update(data);
    return h.finish();
}

template <hasher H>
typename H::digest hash_of(std::string_view text) {
    return hash_of<H>(as_bytes(text));
}

}  // namespace stowage
