// testing/eviction.hpp — the EvictionPolicy contract (concepts.hpp) as a
// conformance kit a client runs on its own policy.
//
//   auto r = stowage::testing::check_eviction_policy<my_fifo>();
//   auto r2 = stowage::testing::check_eviction_policy<my_policy>([] { return my_policy(0.1); });
//   r.require();   // or BOOST_TEST(r.ok(), r.summary()), EXPECT_TRUE(...)...
//
// The kit drives the policy the way cache.hpp does — admit before the
// evictions that make room, on_insert, on_access on hits, on_update, on_remove
// for erased and pinned entries (and on_insert when they are unpinned),
// set_capacity when the budget or the pinned weight changes, evict() until a
// newcomer fits — over skewed workloads with unit and with varied weights,
// and checks after every step. Properties ("eviction.<name>"):
//   name                     P::name is not empty
//   evict_when_empty         a fresh or drained policy's evict() is nullptr
//                            and its weight() 0
//   weight_sums              weight() is the sum of its entries' weights
//                            (those inserted and not yet evicted or removed)
//   evicts_own_entries       evict() returns an entry the policy holds —
//                            never one removed (on_remove forgets it), never
//                            one twice — and weight() drops by its weight
//   capacity_respected       evict() yields an entry while it holds any, so
//                            the cache gets back within its capacity
//   drain                    at the end, evict() returns each held entry
//                            once, then nullptr
//
// Thread safety: a kit drives its policy from the calling thread only.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "conformance.hpp"

namespace stowage::testing {

// A workload the kit replays.
struct eviction_workload {
    std::uint64_t capacity = 64;
    std::uint64_t max_weight = 1;  // weights 1..max_weight
    std::size_t steps = 6000;
    std::size_t hot_keys = 40;     // 80% of requests go to these
    std::size_t cold_keys = 2000;  // the rest to these
};

namespace eviction_kit {

inline std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// A minimal cache: the calls cache.hpp makes, with the bookkeeping to
// check the policy after each of them.
template <eviction_policy P>
class harness {
public:
    using hook = typename P::hook;
    struct entry : hook {
        std::uint64_t key = 0, hash = 0, weight = 0;
        bool in_policy = false, pinned = false;
    };

    harness(conformance_report& r, P policy, std::uint64_t capacity)
        : r_(r), policy_(std::move(policy)), capacity_(capacity) {
        policy_.set_capacity(capacity_);
    }
    harness(const harness&) = delete;
    harness& operator=(const harness&) = delete;

    P& policy() { return policy_; }

    // A request: a hit is an access; a miss inserts the key.
    void request(std::uint64_t key, std::uint64_t weight) {
        if (auto it = cached_.find(key); it != cached_.end()) {
            if (it->second->in_policy) policy_.on_access(*it->second);
            return;
        }
        if (weight > budget()) return;
        const std::uint64_t h = mix(key);
        if (!policy_.admit(h, weight)) return;
        evict_until_fits(weight);
        entry& e = fresh(key, h, weight);
        cached_[key] = &e;
        weight_ += weight;
        enter(e);
    }

    // The value changed and now weighs `weight` (cache.hpp's replace).
    void update(std::uint64_t key, std::uint64_t weight) {
        auto it = cached_.find(key);
        if (it == cached_.end() || it->second->pinned) return;
        entry& e = *it->second;
        if (weight > budget()) {
            leave(e);
            drop(e);
            return;
        }
        if (weight_ - e.weight + weight > capacity_) {
            leave(e);
            weight_ -= e.weight;
            evict_until_fits(weight);
            e.weight = weight;
            weight_ += weight;
            enter(e);
            policy_.on_access(e);
        } else {
            weight_ = weight_ - e.weight + weight;
            held_weight_ = held_weight_ - e.weight + weight;
            e.weight = weight;
            policy_.on_update(e, weight);
        }
    }

    void erase(std::uint64_t key) {
        auto it = cached_.find(key);
        if (it == cached_.end()) return;
        entry& e = *it->second;
        if (e.pinned) {
            e.pinned = false;
            pinned_ -= e.weight;
            policy_.set_capacity(budget());
        } else {
            leave(e);
        }
        drop(e);
    }

    void pin(std::uint64_t key) {
        auto it = cached_.find(key);
        if (it == cached_.end() || it->second->pinned) return;
        entry& e = *it->second;
        leave(e);
        e.pinned = true;
        pinned_ += e.weight;
        policy_.set_capacity(budget());
    }

    void unpin(std::uint64_t key) {
        auto it = cached_.find(key);
        if (it == cached_.end() || !it->second->pinned) return;
        entry& e = *it->second;
        e.pinned = false;
        pinned_ -= e.weight;
        policy_.set_capacity(budget());
        enter(e);
        evict_until_fits(0);
    }

    void resize(std::uint64_t capacity) {
        capacity_ = capacity;
        policy_.set_capacity(budget());
        evict_until_fits(0);
    }

    // The invariants that hold between calls.
    void check(std::size_t step) {
        const std::uint64_t w = policy_.weight();
        if (w != held_weight_)
            r_.fail("eviction.weight_sums", "weight() is " + std::to_string(w) + ", its entries weigh " +
                                                std::to_string(held_weight_) + " (step " + std::to_string(step) + ")");
        else
            r_.expect(true, "eviction.weight_sums");
        if (weight_ > capacity_ && held_.size() > 0)
            r_.fail("eviction.capacity_respected", "the cache holds " + std::to_string(weight_) + " of " +
                                                       std::to_string(capacity_) + " (step " + std::to_string(step) + ")");
        else
            r_.expect(true, "eviction.capacity_respected");
    }

    // Evicts everything: each held entry once, then nullptr.
    void drain() {
        const std::size_t held = held_.size();
        std::size_t n = 0;
        while (hook* h = policy_.evict()) {
            if (!take(h, "eviction.drain")) return;
            if (++n > held) break;
        }
        r_.expect(n == held && held_.empty(), "eviction.drain",
                  "evict() returned " + std::to_string(n) + " entries, the policy held " + std::to_string(held));
        r_.expect(policy_.evict() == nullptr, "eviction.evict_when_empty", "evict() of a drained policy is not nullptr");
        r_.expect(policy_.weight() == 0, "eviction.evict_when_empty", "weight() of a drained policy is not 0");
    }

private:
    std::uint64_t budget() const { return capacity_ > pinned_ ? capacity_ - pinned_ : 0; }

    entry& fresh(std::uint64_t key, std::uint64_t h, std::uint64_t weight) {
        all_.push_back(std::make_unique<entry>());
        entry& e = *all_.back();
        e.key = key;
        e.hash = h;
        e.weight = weight;
        return e;
    }

    void enter(entry& e) {
        policy_.on_insert(e, e.hash, e.weight);
        e.in_policy = true;
        held_.insert(static_cast<hook*>(&e));
        held_weight_ += e.weight;
    }
    void leave(entry& e) {
        policy_.on_remove(e);
        e.in_policy = false;
        held_.erase(static_cast<hook*>(&e));
        held_weight_ -= e.weight;
    }
    // Out of the cache (the entry object stays allocated, so that a policy
    // that still points at it is caught, not undefined behaviour).
    void drop(entry& e) {
        weight_ -= e.weight;
        cached_.erase(e.key);
    }

    // Bookkeeping for an evicted hook; false when it was not the policy's.
    bool take(hook* h, std::string_view property) {
        if (!held_.contains(h)) {
            r_.fail(property, "evict() returned an entry the policy does not hold (removed, evicted before, or never inserted)");
            return false;
        }
        r_.expect(true, property);
        entry& e = static_cast<entry&>(*h);
        const std::uint64_t before = policy_.weight();
        held_.erase(h);
        held_weight_ -= e.weight;
        e.in_policy = false;
        r_.expect(before == held_weight_, "eviction.weight_sums",
                  "weight() after evicting an entry of weight " + std::to_string(e.weight) + " is " +
                      std::to_string(before) + ", expected " + std::to_string(held_weight_));
        drop(e);
        return true;
    }

    void evict_until_fits(std::uint64_t incoming) {
        while (weight_ + incoming > capacity_) {
            hook* h = policy_.evict();
            if (!h) {
                r_.expect(held_.empty(), "eviction.capacity_respected",
                          "evict() returned nullptr while the policy held " + std::to_string(held_.size()) + " entries");
                return;
            }
            if (!take(h, "eviction.evicts_own_entries")) return;
        }
    }

    conformance_report& r_;
    std::vector<std::unique_ptr<entry>> all_;  // outlives the policy (declared first)
    P policy_;
    std::uint64_t capacity_;
    std::uint64_t weight_ = 0;       // every cached entry, pinned too
    std::uint64_t pinned_ = 0;
    std::uint64_t held_weight_ = 0;  // the policy's entries
    std::unordered_set<hook*> held_;
    std::unordered_map<std::uint64_t, entry*> cached_;
};

template <eviction_policy P, class Make>
void replay(conformance_report& r, Make& make, const eviction_workload& w, std::uint64_t seed) {
    harness<P> h(r, make(), w.capacity);
    detail::kit_random rng(seed);
    auto key = [&] {
        return rng.below(10) < 8 ? rng.below(w.hot_keys) : w.hot_keys + rng.below(w.cold_keys);
    };
    auto weight = [&] { return 1 + rng.below(w.max_weight); };
    for (std::size_t step = 0; step < w.steps; ++step) {
        const std::uint64_t k = key();
        switch (rng.below(100)) {
            case 0: case 1: case 2: h.update(k, weight()); break;
            case 3: case 4: h.erase(k); break;
            case 5: h.pin(k); break;
            case 6: case 7: h.unpin(k); break;
            default: h.request(k, weight());
        }
        if (step % 1000 == 999) h.resize(w.capacity / 2 + rng.below(w.capacity));
        h.check(step);
    }
    for (std::uint64_t k = 0; k < w.hot_keys + w.cold_keys; ++k) h.unpin(k);
    h.check(w.steps);
    h.drain();
}

}  // namespace eviction_kit

// Every property of P, over `workloads` (by default one with unit weights
// and one with weights 1-8), each on a fresh policy from make().
template <eviction_policy P, class Make>
conformance_report check_eviction_policy(Make make, std::vector<eviction_workload> workloads = {},
                                         std::uint64_t seed = 20) {
    conformance_report r("eviction policy " + std::string(std::string_view(P::name)));
    if (workloads.empty()) workloads = {eviction_workload{}, eviction_workload{.capacity = 200, .max_weight = 8}};
    r.expect(!std::string_view(P::name).empty(), "eviction.name", "P::name is empty");
    r.property("eviction.evict_when_empty", [&] {
        P p = make();
        p.set_capacity(10);
        r.expect(p.evict() == nullptr, "eviction.evict_when_empty", "evict() of a fresh policy is not nullptr");
        r.expect(p.weight() == 0, "eviction.evict_when_empty", "weight() of a fresh policy is not 0");
    });
    for (std::size_t i = 0; i < workloads.size(); ++i)
        r.property("eviction.workload", [&] { eviction_kit::replay<P>(r, make, workloads[i], seed + i); });
    return r;
}

template <eviction_policy P>
    requires std::default_initializable<P>
conformance_report check_eviction_policy(std::vector<eviction_workload> workloads = {}, std::uint64_t seed = 20) {
    return check_eviction_policy<P>([] { return P{}; }, std::move(workloads), seed);
}

}  // namespace stowage::testing
