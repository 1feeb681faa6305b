// detail/cache_ghost.hpp — a ghost queue: key hashes of entries a policy
// evicted, oldest first, each with the weight it had.
//
// ARC (B1, B2) and S3-FIFO (G) remember what they evicted recently so that a
// quick return counts as evidence: the value is gone, only the 64-bit key
// hash and weight remain. Everything is O(1): push, lookup, erase by hash,
// pop oldest. Nodes are pooled, so a ghost costs no allocation once the pool
// has grown to the queue's high-water mark.
//
// Thread safety: none; the owning policy is serialized by its cache.
#pragma once

#include "cache_index.hpp"

#include <cstdint>
#include <deque>
#include <new>
#include <optional>
#include <vector>

namespace stowage::detail {

class ghost_queue {
    struct node : cache_list_hook, cache_index_hook {
        std::uint64_t hash = 0;
        std::uint64_t weight = 0;
    };
    struct hash_of {
        std::uint64_t operator()(const node& n) const noexcept { return n.hash; }
    };
    struct same_hash {
        bool operator()(const node& a, const node& b) const noexcept { return a.hash == b.hash; }
        bool operator()(std::uint64_t h, const node& b) const noexcept { return h == b.hash; }
    };

public:
    ghost_queue() = default;
    ghost_queue(const ghost_queue&) = delete;  // hooks point into the pool: policies hold
    ghost_queue& operator=(const ghost_queue&) = delete;  // one by unique_ptr to stay movable
    ~ghost_queue() {
        order_.clear();
        index_.clear();
    }

    bool empty() const noexcept { return index_.empty(); }
    std::size_t size() const noexcept { return index_.size(); }
    std::uint64_t weight() const noexcept { return weight_; }

    // The remembered weight of `hash`, if it is a ghost here.
    std::optional<std::uint64_t> find(std::uint64_t hash) noexcept {
        node* n = index_.find(hash, hash, same_hash{});
        if (!n) return std::nullopt;
        return n->weight;
    }

    // Forgets `hash`; returns whether it was here.
    bool erase(std::uint64_t hash) noexcept {
        node* n = index_.find(hash, hash, same_hash{});
        if (!n) return false;
        release(*n);
        return true;
    }

    // Remembers `hash` as the newest ghost (replacing an older memory of it).
    // Out of memory, it remembers nothing: a lost ghost only costs accuracy.
    void push(std::uint64_t hash, std::uint64_t weight) noexcept {
        erase(hash);
        node* fresh = nullptr;
        try {
            fresh = &acquire();
        } catch (const std::bad_alloc&) {
            return;
        }
        node& n = *fresh;
        n.hash = hash;
        n.weight = weight;
        if (!index_.try_insert(n)) {
            free_.push_back(&n);
            return;
        }
        order_.push_back(n);
        weight_ += weight;
    }

    // Forgets the oldest ghost; the queue must not be empty.
    void pop_oldest() noexcept { release(order_.front()); }

    void clear() noexcept {
        while (!order_.empty()) release(order_.front());
    }

private:
    node& acquire() {
        if (!free_.empty()) {
            node* n = free_.back();
            free_.pop_back();
            return *n;
        }
        node& n = pool_.emplace_back();  // deque: earlier nodes never move
        free_.reserve(pool_.size());     // so release() never allocates
        return n;
    }

    void release(node& n) noexcept {
        weight_ -= n.weight;
        order_.erase(order_.iterator_to(n));
        index_.erase(n);
        free_.push_back(&n);
    }

    std::deque<node> pool_;
    std::vector<node*> free_;
    cache_list<node> order_;
    hash_index<node, hash_of, same_hash> index_;
    std::uint64_t weight_ = 0;
};

}  // namespace stowage::detail
