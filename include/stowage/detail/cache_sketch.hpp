// detail/cache_sketch.hpp — the frequency sketch behind W-TinyLFU admission.
//
// A count-min sketch (Cormode & Muthukrishnan, 2005) of 4-bit counters in four
// rows, with the two refinements of TinyLFU (Einziger, Friedman & Manes, "TinyLFU:
// A Highly Efficient Cache Admission Policy", ACM ToS 2017):
//   - aging: after 10 increments per key it is sized for, every counter is
//     halved, so the sketch estimates recent frequency and old popularity fades;
//   - a doorkeeper: a Bloom filter that absorbs each key's first occurrence,
//     so the many keys seen once never reach the counters (the estimate adds
//     one for a key the doorkeeper holds). It is cleared at each aging step.
// Increments are conservative (only the counters at the current minimum grow),
// which tightens the over-estimate at no cost.
//
// Hash flooding: an adversary who can choose keys could make many of them hit
// the same counters and so fake a high frequency for a victim key. Every
// index is derived from mix64(key_hash ^ seed) with a per-sketch random seed,
// so colliding keys cannot be computed in advance.
//
// Thread safety: none; the owning policy is serialized by its cache.
#pragma once

#include "cache_index.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <new>
#include <vector>

namespace stowage::detail {

class frequency_sketch {
public:
    static constexpr unsigned max_count = 15;
    static constexpr std::uint64_t max_keys = std::uint64_t{1} << 26;

    explicit frequency_sketch(std::uint64_t seed = 0, bool doorkeeper = true) noexcept
        : seed_(seed), use_doorkeeper_(doorkeeper) {}

    // Makes room for about `expected_keys` distinct keys. Growing forgets
    // every count (counters cannot be rehashed); it never shrinks. Out of
    // memory it keeps the old size: a small sketch is only less accurate.
    void ensure_capacity(std::uint64_t expected_keys) noexcept {
        const std::uint64_t keys = std::bit_ceil(std::clamp<std::uint64_t>(expected_keys, 16, max_keys));
        const std::uint64_t width = counters_per_key_per_row * keys;
        if (width <= width_) return;
        try {
            std::vector<std::uint64_t> counters(rows * width / counters_per_word, 0);
            std::vector<std::uint64_t> doorkeeper(use_doorkeeper_ ? keys * doorkeeper_bits_per_key / 64 : 0, 0);
            counters_.swap(counters);
            doorkeeper_.swap(doorkeeper);
        } catch (const std::bad_alloc&) {
            return;
        }
        width_ = width;
        keys_ = keys;
        additions_ = 0;
        sample_size_ = 10 * keys_;
    }

    // The number of distinct keys it is sized for (a power of two).
    std::uint64_t keys() const noexcept { return keys_; }

    // Estimated recent frequency of `key_hash` (0..16 with the doorkeeper).
    unsigned frequency(std::uint64_t key_hash) const noexcept {
        if (width_ == 0) return 0;
        const slots s = locate(key_hash);
        unsigned least = max_count;
        for (unsigned r = 0; r < rows; ++r) least = std::min(least, counter(r, s.index[r]));
        if (use_doorkeeper_ && doorkeeper_has(s)) ++least;
        return least;
    }

    // Records one occurrence of `key_hash`.
    void increment(std::uint64_t key_hash) noexcept {
        if (width_ == 0) return;
        const slots s = locate(key_hash);
        if (use_doorkeeper_ && !doorkeeper_has(s)) {
            doorkeeper_add(s);
        } else {
            unsigned value[rows];
            unsigned least = max_count;
            for (unsigned r = 0; r < rows; ++r) least = std::min(least, value[r] = counter(r, s.index[r]));
            if (least == max_count) return;  // saturated: not an addition
            for (unsigned r = 0; r < rows; ++r)
                if (value[r] == least) bump(r, s.index[r]);
        }
        if (++additions_ >= sample_size_) age();
    }

    // Halves every counter and clears the doorkeeper.
    void age() noexcept {
        for (auto& word : counters_) word = (word >> 1) & 0x7777'7777'7777'7777ULL;
        std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
        additions_ /= 2;
    }

private:
    static constexpr unsigned rows = 4;
    static constexpr unsigned counters_per_word = 16;  // 4 bits each
    static constexpr unsigned doorkeeper_bits_per_key = 8;
    // Four counters per key in each of four rows: 8 bytes per key in all, so
    // keys sharing a counter are rare enough that the minimum is accurate.
    static constexpr unsigned counters_per_key_per_row = 4;

    struct slots {
        std::uint64_t index[rows];
        std::uint64_t door[2];
    };

    // Double hashing (Kirsch & Mitzenmacher): row r uses a + r·b, which is as
    // good as independent hashes for count-min and Bloom filters.
    slots locate(std::uint64_t key_hash) const noexcept {
        const std::uint64_t h = mix64(key_hash ^ seed_);
        const std::uint64_t a = h & 0xffff'ffffULL;
        const std::uint64_t b = (h >> 32) | 1;
        slots s;
        for (unsigned r = 0; r < rows; ++r) s.index[r] = (a + r * b) & (width_ - 1);
        const std::uint64_t bits = keys_ * doorkeeper_bits_per_key;
        const std::uint64_t h2 = mix64(h);
        s.door[0] = h2 & (bits - 1);
        s.door[1] = (h2 >> 32) & (bits - 1);
        return s;
    }

    unsigned counter(unsigned row, std::uint64_t i) const noexcept {
        const std::uint64_t at = row * width_ + i;
        return static_cast<unsigned>(counters_[at / counters_per_word] >> (4 * (at % counters_per_word))) & 0xf;
    }
    void bump(unsigned row, std::uint64_t i) noexcept {
        const std::uint64_t at = row * width_ + i;
        counters_[at / counters_per_word] += std::uint64_t{1} << (4 * (at % counters_per_word));
    }

    bool doorkeeper_has(const slots& s) const noexcept {
        return ((doorkeeper_[s.door[0] / 64] >> (s.door[0] % 64)) & 1) &&
               ((doorkeeper_[s.door[1] / 64] >> (s.door[1] % 64)) & 1);
    }
    void doorkeeper_add(const slots& s) noexcept {
        doorkeeper_[s.door[0] / 64] |= std::uint64_t{1} << (s.door[0] % 64);
        doorkeeper_[s.door[1] / 64] |= std::uint64_t{1} << (s.door[1] % 64);
    }

    std::uint64_t seed_;
    bool use_doorkeeper_;
    std::uint64_t width_ = 0;  // counters per row
    std::uint64_t keys_ = 0;
    std::vector<std::uint64_t> counters_;
    std::vector<std::uint64_t> doorkeeper_;
    std::uint64_t additions_ = 0;
    std::uint64_t sample_size_ = 0;
};

}  // namespace stowage::detail
