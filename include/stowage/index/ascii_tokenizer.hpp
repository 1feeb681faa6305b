// index/ascii_tokenizer.hpp — the byte-level tokenizer of the shared search
// corpus (../shared/data/text/README.md), exactly:
//
//   1. work on the UTF-8 bytes; lowercase A-Z, change no other byte;
//   2. a token is a maximal run of bytes in [a-z0-9]; every other byte
//      (punctuation, whitespace, each byte >= 0x80) separates;
//   3. drop tokens shorter than 2 bytes (configurable) and stop words
//      (configurable; by default the corpus's 11 words).
//
// So "naïve" gives "na" and "ve", "日本語" gives nothing, "json-schema" gives
// "json" and "schema". Fast path: a run without capitals is emitted as a
// view into the input, without copying.
//
// Thread safety: immutable; tokenize() may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer.hpp"

namespace stowage {

class ascii_tokenizer {
public:
    static constexpr std::string_view name = "ascii";

    ascii_tokenizer() : ascii_tokenizer(stop_words::english_minimal()) {}
    explicit ascii_tokenizer(stop_words words, std::size_t min_length = 2)
        : stop_(std::move(words)), min_length_(min_length) {
        if (min_length_ == 0) throw error(errc::bad_input, "ascii_tokenizer: min_length must be at least 1");
    }

    std::string signature() const {
        return std::string(name) + ";min=" + std::to_string(min_length_) + ";stop=" + stop_.joined();
    }
    const stop_words& stop() const noexcept { return stop_; }

    template <class Emit>
    void tokenize(std::string_view text, Emit&& emit, bool filter = true) const {
        std::string lowered;
        const std::size_t n = text.size();
        std::size_t i = 0;
        while (i < n) {
            while (i < n && byte_class(text[i]) == separator) ++i;
            if (i == n) break;
            std::size_t start = i;
            bool upper = false;
            for (unsigned char c; i < n && (c = byte_class(text[i])) != separator; ++i) upper |= c == capital;
            std::string_view token = text.substr(start, i - start);
            if (upper) {
                lowered.assign(token);
                for (char& ch : lowered)
                    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
                token = lowered;
            }
            if (filter && (token.size() < min_length_ || stop_.contains(token))) continue;
            emit(token);
        }
    }

private:
    enum : unsigned char { separator = 0, plain = 1, capital = 2 };
    static constexpr std::array<unsigned char, 256> classes = [] {
        std::array<unsigned char, 256> t{};
        for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = plain;
        for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = plain;
        for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = capital;
        return t;
    }();
    static unsigned char byte_class(char c) noexcept { return classes[static_cast<unsigned char>(c)]; }

    stop_words stop_;
    std::size_t min_length_;
};

static_assert(tokenizer<ascii_tokenizer>);

}  // namespace stowage
