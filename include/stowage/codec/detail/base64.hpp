// codec/detail/base64.hpp — RFC 4648 base64 (standard alphabet, padded),
// the JSON form of byte strings.
//
// Decoding is strict, so every byte string has exactly one text: padding
// required, no whitespace, and the unused low bits of the last character
// zero. Anything else is refused (nullopt).
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stowage::detail {

inline constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

template <class Out>
void append_base64(Out& out, std::span<const std::byte> data) {
    auto put = [&](std::uint32_t sextet) { out.push_back(static_cast<typename Out::value_type>(base64_alphabet[sextet & 63])); };
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = std::to_integer<std::uint32_t>(data[i]) << 16 |
                                std::to_integer<std::uint32_t>(data[i + 1]) << 8 | std::to_integer<std::uint32_t>(data[i + 2]);
        put(v >> 18), put(v >> 12), put(v >> 6), put(v);
    }
    const std::size_t rest = data.size() - i;
    if (rest == 0) return;
    std::uint32_t v = std::to_integer<std::uint32_t>(data[i]) << 16;
    if (rest == 2) v |= std::to_integer<std::uint32_t>(data[i + 1]) << 8;
    put(v >> 18), put(v >> 12);
    if (rest == 2) put(v >> 6);
    else out.push_back(static_cast<typename Out::value_type>('='));
    out.push_back(static_cast<typename Out::value_type>('='));
}

// Decodes into `out` (appending); false when the text is not canonical base64.
template <class Out>
bool decode_base64(std::string_view text, Out& out) {
    static constexpr auto table = [] {
        std::array<std::int8_t, 256> t{};
        t.fill(-1);
        for (std::size_t i = 0; i < base64_alphabet.size(); ++i) t[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::int8_t>(i);
        return t;
    }();
    if (text.size() % 4 != 0) return false;
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
        if (pad == 1 && text[i + 2] == '=') return false;  // "x=" then a character
        std::uint32_t v = 0;
        for (int k = 0; k < 4 - pad; ++k) {
            const std::int8_t s = table[static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)])];
            if (s < 0) return false;
            v |= static_cast<std::uint32_t>(s) << (18 - 6 * k);
        }
        out.push_back(static_cast<typename Out::value_type>(v >> 16 & 0xFF));
        if (pad < 2) out.push_back(static_cast<typename Out::value_type>(v >> 8 & 0xFF));
        if (pad < 1) out.push_back(static_cast<typename Out::value_type>(v & 0xFF));
        if ((pad == 1 && (v & 0xFF)) || (pad == 2 && (v & 0xFFFF))) return false;  // non-zero unused bits
    }
    return true;
}

}  // namespace stowage::detail
