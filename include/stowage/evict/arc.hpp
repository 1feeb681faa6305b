// evict/arc.hpp — Adaptive Replacement Cache.
//
// Source: N. Megiddo and D. S. Modha, "ARC: A Self-Tuning, Low Overhead
// Replacement Cache", USENIX FAST 2003, Fig. 4. Two LRU lists split the cache:
// T1 holds entries seen once recently, T2 entries seen at least twice. Two
// ghost lists, B1 and B2, remember the keys recently evicted from each. A miss
// that finds its key in B1 means T1 was too small, so the target size p of T1
// grows; a hit in B2 shrinks it. The lists balance recency against frequency
// by themselves, with no parameter to tune.
//
// How the paper's steps map onto the cache's calls: admit() is the start of a
// miss (cases II–IV: adapt p on a ghost hit), evict() is REPLACE, on_insert()
// puts the newcomer in T1 or T2 and trims the ghost directory
// (|T1|+|B1| <= c, |T1|+|T2|+|B1|+|B2| <= 2c). With unit weights this replays
// the paper exactly, including case IV(A)'s direct eviction from T1 (the
// victim enters B1 and is trimmed from it at once).
//
// Weights: the paper counts pages. Here every size (|T1|, |B2|, c, p) is a sum
// of weights; ghosts keep the weight their entry had; a ghost hit moves p by
// the paper's δ times that weight, so a heavy key that returns counts as the
// many pages it is. With unit weights every formula is the paper's.
//
// p is a real number, as in the paper (δ = |B2|/|B1| is not rounded): with
// integer division OLTP at c=1000 gives 39.06% instead of the published 38.93%.
//
// Thread safety: none; the cache serializes every call.
#pragma once

#include "../concepts.hpp"
#include "../detail/cache_ghost.hpp"
#include "../detail/cache_index.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>

namespace stowage {

class arc {
public:
    static constexpr std::string_view name = "arc";

    class hook : public detail::cache_list_hook {
        friend class arc;
        std::uint64_t weight_ = 0;
        std::uint64_t hash_ = 0;
        bool frequent_ = false;  // in T2
    };

    void set_capacity(std::uint64_t capacity) noexcept {
        c_ = capacity;
        p_ = std::min(p_, double(c_));
        trim_ghosts();
    }

    bool admit(std::uint64_t key_hash, std::uint64_t) noexcept {
        pending_in_b2_ = false;
        pending_frequent_ = false;
        if (auto w = ghosts_->b1.find(key_hash)) {  // case II: T1 was too small
            const std::uint64_t b1 = ghosts_->b1.weight(), b2 = ghosts_->b2.weight();
            const double delta = b1 >= b2 ? 1.0 : double(b2) / double(b1);
            p_ = std::min(p_ + delta * double(*w), double(c_));
            ghosts_->b1.erase(key_hash);
            pending_frequent_ = true;
        } else if (auto w2 = ghosts_->b2.find(key_hash)) {  // case III: T2 was too small
            const std::uint64_t b1 = ghosts_->b1.weight(), b2 = ghosts_->b2.weight();
            const double delta = (b2 >= b1 ? 1.0 : double(b1) / double(b2)) * double(*w2);
            p_ = p_ > delta ? p_ - delta : 0.0;
            ghosts_->b2.erase(key_hash);
            pending_frequent_ = true;
            pending_in_b2_ = true;
        }
        return true;
    }

    void on_insert(hook& h, std::uint64_t key_hash, std::uint64_t weight) noexcept {
        h.weight_ = weight;
        h.hash_ = key_hash;
        h.frequent_ = pending_frequent_;
        (h.frequent_ ? t2_w_ : t1_w_) += weight;
        (h.frequent_ ? t2_ : t1_).push_back(h);
        pending_in_b2_ = pending_frequent_ = false;
        trim_ghosts();
    }

    // Case I: a hit moves the entry to the MRU end of T2.
    void on_access(hook& h) noexcept {
        if (!h.frequent_) {
            t1_.erase(t1_.iterator_to(h));
            t1_w_ -= h.weight_;
            t2_w_ += h.weight_;
            h.frequent_ = true;
            t2_.push_back(h);
        } else {
            t2_.splice(t2_.end(), t2_, t2_.iterator_to(h));
        }
    }

    void on_update(hook& h, std::uint64_t weight) noexcept {
        (h.frequent_ ? t2_w_ : t1_w_) += weight - h.weight_;  // unsigned wrap cancels out
        h.weight_ = weight;
        on_access(h);
    }

    void on_remove(hook& h) noexcept { unlink(h); }

    // REPLACE: take T1's LRU when T1 exceeds its target p (or meets it while
    // the newcomer is a B2 ghost), else T2's LRU; the victim becomes a ghost.
    hook* evict() noexcept {
        if (t1_.empty() && t2_.empty()) return nullptr;
        const bool from_t1 =
            !t1_.empty() && (double(t1_w_) > p_ || (pending_in_b2_ && double(t1_w_) == p_) || t2_.empty());
        hook& v = from_t1 ? t1_.front() : t2_.front();
        unlink(v);
        (from_t1 ? ghosts_->b1 : ghosts_->b2).push(v.hash_, v.weight_);
        trim_ghosts();
        return &v;
    }

    std::uint64_t weight() const noexcept { return t1_w_ + t2_w_; }

    // Introspection for tests and the simulator.
    double target_t1() const noexcept { return p_; }
    std::uint64_t ghost_weight() const noexcept { return ghosts_->b1.weight() + ghosts_->b2.weight(); }

private:
    void unlink(hook& h) noexcept {
        if (h.frequent_) {
            t2_.erase(t2_.iterator_to(h));
            t2_w_ -= h.weight_;
        } else {
            t1_.erase(t1_.iterator_to(h));
            t1_w_ -= h.weight_;
        }
    }

    // The directory bounds of Fig. 4, case IV: L1 = T1 ∪ B1 holds at most c,
    // L1 ∪ L2 at most 2c; the oldest ghosts go first.
    void trim_ghosts() noexcept {
        auto& b1 = ghosts_->b1;
        auto& b2 = ghosts_->b2;
        while (!b1.empty() && t1_w_ + b1.weight() > c_) b1.pop_oldest();
        while (!b2.empty() && weight() + b1.weight() + b2.weight() > 2 * c_) b2.pop_oldest();
        while (!b1.empty() && weight() + b1.weight() + b2.weight() > 2 * c_) b1.pop_oldest();
    }

    struct ghosts {
        detail::ghost_queue b1, b2;
    };

    detail::cache_list<hook> t1_, t2_;  // LRU first
    std::uint64_t t1_w_ = 0, t2_w_ = 0;
    std::unique_ptr<ghosts> ghosts_ = std::make_unique<ghosts>();
    std::uint64_t c_ = 0;
    double p_ = 0;
    bool pending_in_b2_ = false;
    bool pending_frequent_ = false;
};

static_assert(eviction_policy<arc>);

}  // namespace stowage
