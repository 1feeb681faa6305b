// evict/lru.hpp — least recently used: the entry untouched for longest leaves.
//
// The classic policy, and the baseline every other one is measured against
// (the ARC paper's tables list it first). One intrusive list in recency order:
// a hit moves the entry to the back, eviction takes the front. Weighted
// entries need nothing special: eviction repeats until the newcomer fits.
// Its weakness is scans: a run of one-time keys flushes everything.
//
// Thread safety: none; the cache serializes every call.
#pragma once

#include "../concepts.hpp"
#include "../detail/cache_index.hpp"

#include <cstdint>
#include <string_view>

namespace stowage {

class lru {
public:
    static constexpr std::string_view name = "lru";

    class hook : public detail::cache_list_hook {
        friend class lru;
        std::uint64_t weight_ = 0;
    };

    void set_capacity(std::uint64_t) noexcept {}
    bool admit(std::uint64_t, std::uint64_t) noexcept { return true; }

    void on_insert(hook& h, std::uint64_t, std::uint64_t weight) noexcept {
        h.weight_ = weight;
        weight_ += weight;
        order_.push_back(h);
    }
    // Already the most recent: nothing to move (and no shared line to write
    // when hot entries are read by several threads).
    void on_access(hook& h) noexcept {
        if (&order_.back() != &h) order_.splice(order_.end(), order_, order_.iterator_to(h));
    }
    void on_update(hook& h, std::uint64_t weight) noexcept {
        weight_ = weight_ - h.weight_ + weight;
        h.weight_ = weight;
        on_access(h);
    }
    void on_remove(hook& h) noexcept {
        weight_ -= h.weight_;
        order_.erase(order_.iterator_to(h));
    }
    hook* evict() noexcept {
        if (order_.empty()) return nullptr;
        hook& h = order_.front();
        on_remove(h);
        return &h;
    }
    std::uint64_t weight() const noexcept { return weight_; }

private:
    detail::cache_list<hook> order_;  // least recent first
    std::uint64_t weight_ = 0;
};

static_assert(eviction_policy<lru>);

}  // namespace stowage
