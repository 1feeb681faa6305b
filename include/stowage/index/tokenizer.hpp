// index/tokenizer.hpp — the Tokenizer policy of the inverted index, and the
// configurable stop-word list the provided tokenizers share.
//
// A tokenizer turns text into the tokens the index stores and queries look
// up. The same tokenizer must be used to build and to search an index, so
// every tokenizer names its exact behaviour in signature() (name, options,
// stop words); persisted indexes record it and refuse to open under a
// different one. The contract:
//
//   T::name                          "ascii", "unicode", ...
//   t.signature()                    std::string naming name + options
//   t.tokenize(text, emit)           emit(std::string_view token) for every
//                                    token of text, in order, after case
//                                    folding, minimum length and stop words
//   t.tokenize(text, emit, false)    the same without the minimum length and
//                                    stop words (used for prefix queries:
//                                    "th*" must still find "thread")
//
// A token handed to emit is valid only during that call.
// Provided: ascii_tokenizer (index/ascii_tokenizer.hpp; the byte-exact
// tokenizer of the shared corpus) and unicode_tokenizer
// (index/unicode_tokenizer.hpp).
//
// Thread safety: tokenizers are immutable after construction; tokenize may
// run on any number of threads at once.
#pragma once

#include <algorithm>
#include <concepts>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace stowage {

namespace detail {
struct token_sink {
    void operator()(std::string_view) const {}
};
}  // namespace detail

template <class T>
concept tokenizer = std::copy_constructible<T> &&
    requires(const T& t, std::string_view text, detail::token_sink emit) {
        { T::name } -> std::convertible_to<std::string_view>;
        { t.signature() } -> std::convertible_to<std::string>;
        t.tokenize(text, emit);
        t.tokenize(text, emit, false);
    };

// A set of stop words: exact tokens (after the tokenizer's folding) that are
// never indexed and are dropped from queries. Small by nature, so a sorted
// vector with a length check first: most tokens are longer than every stop
// word and cost one comparison.
class stop_words {
public:
    stop_words() = default;
    stop_words(std::initializer_list<std::string_view> words) : stop_words(std::vector<std::string>(words.begin(), words.end())) {}
    explicit stop_words(std::vector<std::string> words) : words_(std::move(words)) {
        for (const auto& w : words_)
            if (w.empty()) throw error(errc::bad_input, "stop words: empty word");
        std::sort(words_.begin(), words_.end());
        words_.erase(std::unique(words_.begin(), words_.end()), words_.end());
        for (const auto& w : words_) longest_ = std::max(longest_, w.size());
    }

    // The 11 words of the shared corpus specification (../shared/data/text):
    // "the a an and or but in on at to for" — and only these ("of", "is",
    // "with" are searchable).
    static stop_words english_minimal() { return {"the", "a", "an", "and", "or", "but", "in", "on", "at", "to", "for"}; }
    static stop_words none() { return {}; }

    bool contains(std::string_view token) const noexcept {
        if (token.size() > longest_) return false;
        return std::binary_search(words_.begin(), words_.end(), token, std::less<>{});
    }
    const std::vector<std::string>& words() const noexcept { return words_; }
    bool empty() const noexcept { return words_.empty(); }

    // "a,an,and,..." — part of a tokenizer's signature.
    std::string joined() const {
        std::string out;
        for (const auto& w : words_) {
            if (!out.empty()) out += ',';
            out += w;
        }
        return out;
    }

private:
    std::vector<std::string> words_;
    std::size_t longest_ = 0;
};

}  // namespace stowage
