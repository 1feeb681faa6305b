// evict/sieve.hpp — SIEVE: one FIFO queue and a moving hand.
//
// Source: Y. Zhang, J. Yang, Y. Yue, Y. Vigfusson, K. V. Rashmi, "SIEVE is
// Simpler than LRU: an Efficient Turn-Key Eviction Algorithm for Web Caches",
// NSDI 2024. Newcomers join the new end of a FIFO; a hit only sets a
// `visited` bit. The hand sweeps from the old end toward the new end: it
// clears visited bits as it passes and evicts the first unvisited entry,
// then stays where it stopped. Survivors keep their place (no moves on hit),
// so new entries that are never hit leave quickly while popular ones stay.
//
// Weights: the paper counts objects; weighted entries change nothing but the
// number of evictions needed for a newcomer to fit.
//
// Thread safety: none; the cache serializes every call.
#pragma once

#include "../concepts.hpp"
#include "../detail/cache_index.hpp"

#include <cstdint>
#include <string_view>

namespace stowage {

class sieve {
public:
    static constexpr std::string_view name = "sieve";

    class hook : public detail::cache_list_hook {
        friend class sieve;
        std::uint64_t weight_ = 0;
        bool visited_ = false;
    };

    void set_capacity(std::uint64_t) noexcept {}
    bool admit(std::uint64_t, std::uint64_t) noexcept { return true; }

    void on_insert(hook& h, std::uint64_t, std::uint64_t weight) noexcept {
        h.weight_ = weight;
        h.visited_ = false;
        weight_ += weight;
        queue_.push_back(h);
    }
    void on_access(hook& h) noexcept {
        if (!h.visited_) h.visited_ = true;  // no write when set: hot entries' lines stay shared
    }
    void on_update(hook& h, std::uint64_t weight) noexcept {
        weight_ = weight_ - h.weight_ + weight;
        h.weight_ = weight;
        h.visited_ = true;
    }
    void on_remove(hook& h) noexcept {
        if (hand_ == &h) hand_ = next(h);
        weight_ -= h.weight_;
        queue_.erase(queue_.iterator_to(h));
    }

    hook* evict() noexcept {
        if (queue_.empty()) return nullptr;
        hook* h = hand_ ? hand_ : &queue_.front();
        while (h->visited_) {
            h->visited_ = false;
            h = next(*h);
            if (!h) h = &queue_.front();  // wrap to the old end
        }
        hand_ = h;
        on_remove(*h);  // moves the hand past the victim
        return h;
    }

    std::uint64_t weight() const noexcept { return weight_; }

private:
    // The entry after h toward the new end, or nullptr at the new end.
    hook* next(hook& h) noexcept {
        auto it = std::next(queue_.iterator_to(h));
        return it == queue_.end() ? nullptr : &*it;
    }

    detail::cache_list<hook> queue_;  // oldest first
    hook* hand_ = nullptr;            // nullptr: start at the old end
    std::uint64_t weight_ = 0;
};

static_assert(eviction_policy<sieve>);

}  // namespace stowage
