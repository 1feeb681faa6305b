// index/unicode_tokenizer.hpp — a tokenizer for text in any script.
//
// Tokens are maximal runs of letters, digits and spacing marks (Unicode
// categories L*, N*, Mc; index/unicode_tables.hpp), decoded from UTF-8:
//
//   - Latin script is case-folded and stripped of diacritics: "Naïve",
//     "NAIVE" and "naïve" (precomposed or with a combining diaeresis) all
//     give "naive"; ß gives "ss", æ "ae", fullwidth "ＰＤＦ" gives "pdf".
//   - Other scripts keep their letters (lower-cased where the script has
//     case): "日本語" is one token, "Ελλάδα" gives "ελλάδα". Combining marks
//     after a non-Latin letter are kept (they are part of the word in
//     Devanagari, Thai, ...), after a Latin letter they are dropped.
//   - Format characters (soft hyphen, zero-width joiner) are ignored, so they
//     never split a word. Invalid UTF-8 bytes separate, like punctuation.
//   - A token that is a single ASCII character is dropped (min_length, in
//     characters, applies to all-ASCII tokens: one CJK ideograph is a word);
//     stop words (configurable; by default the corpus's 11 English words)
//     are dropped after folding.
//
// Thread safety: immutable; tokenize() may run concurrently.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer.hpp"
#include "unicode_tables.hpp"

namespace stowage {

class unicode_tokenizer {
public:
    static constexpr std::string_view name = "unicode";

    unicode_tokenizer() : unicode_tokenizer(stop_words::english_minimal()) {}
    explicit unicode_tokenizer(stop_words words, std::size_t min_length = 2) : stop_(std::move(words)), min_length_(min_length) {
        if (min_length_ == 0) throw error(errc::bad_input, "unicode_tokenizer: min_length must be at least 1");
    }

    std::string signature() const {
        return std::string(name) + ";ucd=14;min=" + std::to_string(min_length_) + ";stop=" + stop_.joined();
    }
    const stop_words& stop() const noexcept { return stop_; }

    template <class Emit>
    void tokenize(std::string_view text, Emit&& emit, bool filter = true) const {
        std::string token;
        bool ascii_only = true;   // every character of the token is ASCII
        bool after_latin = false; // the last character folded to ASCII
        auto flush = [&] {
            if (token.empty()) return;
            bool keep = !filter || ((!ascii_only || token.size() >= min_length_) && !stop_.contains(token));
            if (keep) emit(std::string_view(token));
            token.clear();
            ascii_only = true;
        };
        const auto* p = reinterpret_cast<const unsigned char*>(text.data());
        const std::size_t n = text.size();
        std::size_t i = 0;
        while (i < n) {
            unsigned char c = p[i];
            if (c < 0x80) {
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                    token += static_cast<char>(c);
                } else if (c >= 'A' && c <= 'Z') {
                    token += static_cast<char>(c - 'A' + 'a');
                } else {
                    flush();
                }
                after_latin = true;
                ++i;
                continue;
            }
            char32_t cp;
            std::size_t len = decode(p + i, n - i, cp);
            if (len == 0) {  // invalid UTF-8: this byte separates
                flush();
                ++i;
                continue;
            }
            switch (kind_of(cp)) {
                case 1:
                    if (auto f = fold_of(cp); !f.empty()) {
                        token += f;
                        after_latin = static_cast<unsigned char>(f[0]) < 0x80;
                        ascii_only = ascii_only && after_latin;
                    } else {
                        token.append(text.substr(i, len));
                        after_latin = false;
                        ascii_only = false;
                    }
                    break;
                case 2:  // combining mark: a diacritic of a Latin letter, or part of a word elsewhere
                    if (!token.empty() && !after_latin) {
                        token.append(text.substr(i, len));
                        ascii_only = false;
                    }
                    break;
                case 3:  // format character: invisible, never splits
                    break;
                default: flush(); break;
            }
            i += len;
        }
        flush();
    }

private:
    // Decodes one UTF-8 sequence; 0 when it is invalid (overlong, surrogate,
    // beyond U+10FFFF, truncated, a stray continuation byte).
    static std::size_t decode(const unsigned char* p, std::size_t avail, char32_t& cp) noexcept {
        unsigned char c = p[0];
        std::size_t len;
        char32_t min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (avail < len) return 0;
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        return len;
    }

    static int kind_of(char32_t cp) noexcept {
        using detail::unicode::token_ranges;
        auto it = std::upper_bound(std::begin(token_ranges), std::end(token_ranges), cp,
                                   [](char32_t v, const auto& r) { return v < r.first; });
        if (it == std::begin(token_ranges)) return 0;
        --it;
        return cp <= it->last ? it->kind : 0;
    }

    static std::string_view fold_of(char32_t cp) noexcept {
        using detail::unicode::fold_entries;
        auto it = std::lower_bound(std::begin(fold_entries), std::end(fold_entries), cp,
                                   [](const auto& e, char32_t v) { return e.from < v; });
        if (it == std::end(fold_entries) || it->from != cp) return {};
        return detail::unicode::fold_pool.substr(it->offset, it->length);
    }

    stop_words stop_;
    std::size_t min_length_;
};

static_assert(tokenizer<unicode_tokenizer>);

}  // namespace stowage
