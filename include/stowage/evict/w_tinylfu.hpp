// evict/w_tinylfu.hpp — Window TinyLFU: a small LRU window in front of a
// segmented LRU whose door is guarded by a frequency sketch.
//
// Source: G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient
// Cache Admission Policy", ACM Transactions on Storage 13(4), 2017 (W-TinyLFU
// is its Section 5; it is the policy of the Caffeine library). Newcomers enter
// the window (1% of the budget), which absorbs bursts. An entry pushed out of
// the window becomes a candidate for the main space (probation + protected
// SLRU, protected 80%): it enters only if the sketch says it is used more
// often than main's victim, the LRU entry of probation; otherwise the
// candidate itself leaves. A probation hit promotes to protected; protected's
// overflow is demoted back to probation.
//
// The sketch (detail/cache_sketch.hpp) is a count-min of 4-bit counters with
// periodic halving; every admission and every hit counts. The paper's
// doorkeeper (a Bloom filter that absorbs first sightings) is an option, off
// by default: it saves memory in the paper's design, but here it lowered the
// hit ratio on 5 of the 6 traces tried (OLTP c=1000 35.38% with, 35.85%
// without; P12 c=32768 17.28% / 17.72%; only P6 gained, 28.27% / 27.84%).
//
// The window starts at 1% (the paper's choice) and, with options::adaptive
// (the default), is resized by hill climbing, as Caffeine does: the hit
// ratio of each sample period (ten times the entries cached) is compared
// with the previous one; a gain keeps the direction of the last resize, a
// loss reverses it; steps start at 6.25% of the budget, shrink by 10% per
// period and restart when the hit ratio jumps by 5 points (the workload
// changed). A fixed 1% window suits frequency-skewed traces but not
// recency-skewed ones (OLTP: a 20% window gains 3 to 5 points), which is
// what the climber finds by itself. benchmarks/RESULTS.md has the table;
// options::window sets the starting share, adaptive = false pins it.
// Hash flooding: the sketch is seeded at random, and a warm candidate
// (estimate >= 6) that loses is still admitted with probability 1/128, so an
// attacker who inflates a victim's count cannot lock newcomers out.
//
// Weights: every share is a share of the weight budget and the comparison is
// one candidate against one victim per eviction step, repeated until the
// newcomer fits. The sketch grows with the number of entries (it counts keys,
// not weight); growing restarts its counts.
//
// Thread safety: none; the cache serializes every call.
#pragma once

#include "../concepts.hpp"
#include "../detail/cache_index.hpp"
#include "../detail/cache_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>

namespace stowage {

class w_tinylfu {
public:
    static constexpr std::string_view name = "w_tinylfu";

    class hook : public detail::cache_list_hook {
        friend class w_tinylfu;
        std::uint64_t weight_ = 0;
        std::uint64_t hash_ = 0;
        std::uint8_t queue_ = 0;  // window, probation, protected
    };

    struct options {
        double window = 0.01;            // share of the budget for the window
        double protected_share = 0.80;   // share of the main space that is protected
        bool doorkeeper = false;         // Bloom filter in front of the sketch
        bool adaptive = true;            // hill-climb the window share (see above)
        std::uint64_t seed = 0;          // sketch and tie-break seed; 0 = random
    };

    w_tinylfu() : w_tinylfu(options{}) {}
    explicit w_tinylfu(options o)
        : window_share_(std::clamp(o.window, 0.0, 1.0)),
          protected_share_(std::clamp(o.protected_share, 0.0, 1.0)),
          adaptive_(o.adaptive),
          rng_(o.seed ? o.seed : std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32)),
          sketch_(rng_, o.doorkeeper) {}

    void set_capacity(std::uint64_t capacity) noexcept {
        capacity_ = capacity;
        set_window(static_cast<double>(capacity) * window_share_);
        step_ = step_share * static_cast<double>(capacity);
        sketch_.ensure_capacity(std::min<std::uint64_t>(capacity, initial_sketch_keys));
    }

    bool admit(std::uint64_t key_hash, std::uint64_t weight) noexcept {
        record(false);
        sketch_.increment(key_hash);
        pending_weight_ = weight;
        return true;
    }

    void on_insert(hook& h, std::uint64_t key_hash, std::uint64_t weight) noexcept {
        h.weight_ = weight;
        h.hash_ = key_hash;
        h.queue_ = window;
        push(h);
        pending_weight_ = 0;
        if (++count_ > sketch_.keys()) sketch_.ensure_capacity(count_);
        // Before the cache is full nobody competes: the window's overflow
        // simply moves to probation.
        while (queue_w_[window] > window_max_ && queues_[window].size_hint() > 1) {
            hook& oldest = queues_[window].list.front();
            unlink(oldest);
            oldest.queue_ = probation;
            push(oldest);
        }
    }

    void on_access(hook& h) noexcept {
        record(true);
        touch(h);
    }

    void on_update(hook& h, std::uint64_t weight) noexcept {
        queue_w_[h.queue_] += weight - h.weight_;  // unsigned wrap cancels out
        h.weight_ = weight;
        touch(h);
    }

    void touch(hook& h) noexcept {
        sketch_.increment(h.hash_);
        if (h.queue_ == probation) {
            unlink(h);
            h.queue_ = protected_;
            push(h);
            demote_protected_overflow();
        } else {
            auto& l = queues_[h.queue_].list;
            l.splice(l.end(), l, l.iterator_to(h));
        }
    }

    void on_remove(hook& h) noexcept {
        unlink(h);
        --count_;
    }

    hook* evict() noexcept {
        hook* v = nullptr;
        if (!queues_[window].list.empty() && queue_w_[window] + pending_weight_ > window_max_) {
            // The window must shed its oldest: the candidate duels main's victim.
            hook& candidate = queues_[window].list.front();
            unlink(candidate);
            hook* rival = main_victim();
            if (rival && admits(candidate.hash_, rival->hash_)) {
                unlink(*rival);
                candidate.queue_ = probation;
                push(candidate);
                v = rival;
            } else {
                v = &candidate;
            }
        } else {
            v = main_victim();
            if (!v && !queues_[window].list.empty()) v = &queues_[window].list.front();
            if (v) unlink(*v);
        }
        if (v) --count_;
        return v;
    }

    std::uint64_t weight() const noexcept { return queue_w_[0] + queue_w_[1] + queue_w_[2]; }

    // The duel: whether a candidate leaving the window displaces main's victim.
    // More frequent wins; a warm loser still wins 1 time in 128.
    bool admits(std::uint64_t candidate_hash, std::uint64_t victim_hash) noexcept {
        const unsigned c = sketch_.frequency(candidate_hash);
        const unsigned v = sketch_.frequency(victim_hash);
        if (c > v) return true;
        if (c < warm_candidate) return false;
        rng_ = detail::mix64(rng_ + 0x9e3779b97f4a7c15ULL);
        return (rng_ & 127) == 0;
    }

    // Introspection for tests.
    unsigned frequency(std::uint64_t key_hash) const noexcept { return sketch_.frequency(key_hash); }
    std::uint64_t window_weight() const noexcept { return queue_w_[window]; }
    std::uint64_t window_limit() const noexcept { return window_max_; }
    std::uint64_t protected_weight() const noexcept { return queue_w_[protected_]; }

private:
    enum : std::uint8_t { window = 0, probation = 1, protected_ = 2 };
    static constexpr unsigned warm_candidate = 6;
    static constexpr std::uint64_t initial_sketch_keys = 1 << 16;

    struct queue {
        detail::cache_list<hook> list;  // LRU first
        std::size_t size_hint() const noexcept {  // 0, 1 or "more": cheap without a size
            if (list.empty()) return 0;
            return std::next(list.begin()) == list.end() ? 1 : 2;
        }
    };

    // Resizing the window moves budget between it and the main space; the
    // queues catch up lazily (evict() sheds an oversized window through the
    // usual duel, protected overflow is demoted on the next promotion).
    void set_window(double target) noexcept {
        double cap = static_cast<double>(capacity_);
        target = std::clamp(target, 1.0, std::max(1.0, cap * max_window_share));
        window_max_ = capacity_ == 0 ? 0 : static_cast<std::uint64_t>(target);
        protected_max_ = static_cast<std::uint64_t>(static_cast<double>(capacity_ - std::min(capacity_, window_max_)) *
                                                    protected_share_);
    }

    void record(bool hit) noexcept {
        if (!adaptive_ || capacity_ == 0) return;
        ++requests_;
        hits_ += hit ? 1 : 0;
        if (requests_ < sample_) return;
        double rate = static_cast<double>(hits_) / static_cast<double>(requests_);
        if (previous_rate_ >= 0) {  // the first period only sets the baseline
            double change = rate - previous_rate_;
            if (change < 0 && moved_) step_ = -step_;  // the last move hurt: go back
            double before = static_cast<double>(window_max_);
            set_window(before + step_);
            moved_ = static_cast<double>(window_max_) != before;
            if (!moved_) step_ = -step_;  // at a bound: the only way is back
            double step = std::abs(change) >= restart_threshold ? step_share * static_cast<double>(capacity_)
                                                                : std::abs(step_) * step_decay;
            step_ = step_ < 0 ? -step : step;
        }
        previous_rate_ = rate;
        hits_ = requests_ = 0;
        sample_ = 10 * std::max<std::uint64_t>(count_, min_sample_entries);
    }

    hook* main_victim() noexcept {
        if (!queues_[probation].list.empty()) return &queues_[probation].list.front();
        if (!queues_[protected_].list.empty()) return &queues_[protected_].list.front();
        return nullptr;
    }

    void demote_protected_overflow() noexcept {
        while (queue_w_[protected_] > protected_max_ && queues_[protected_].size_hint() > 1) {
            hook& oldest = queues_[protected_].list.front();
            unlink(oldest);
            oldest.queue_ = probation;
            push(oldest);
        }
    }

    void push(hook& h) noexcept {
        queue_w_[h.queue_] += h.weight_;
        queues_[h.queue_].list.push_back(h);
    }
    void unlink(hook& h) noexcept {
        queue_w_[h.queue_] -= h.weight_;
        auto& l = queues_[h.queue_].list;
        l.erase(l.iterator_to(h));
    }

    static constexpr double step_share = 0.0625;        // first and restarted step, of the budget
    static constexpr double step_decay = 0.90;
    static constexpr double restart_threshold = 0.05;  // hit-ratio jump that restarts the steps
    static constexpr double max_window_share = 0.80;
    static constexpr std::uint64_t min_sample_entries = 64;

    double window_share_;
    double protected_share_;
    bool adaptive_;
    std::uint64_t capacity_ = 0;
    double step_ = 0;             // signed: the direction of the last resize
    double previous_rate_ = -1;   // hit ratio of the previous sample period
    bool moved_ = false;          // whether the last period's resize changed the window
    std::uint64_t hits_ = 0, requests_ = 0;
    std::uint64_t sample_ = 10 * min_sample_entries;
    std::uint64_t rng_;
    detail::frequency_sketch sketch_;
    queue queues_[3];
    std::uint64_t queue_w_[3] = {0, 0, 0};
    std::uint64_t window_max_ = 0, protected_max_ = 0;
    std::uint64_t pending_weight_ = 0;
    std::uint64_t count_ = 0;
};

static_assert(eviction_policy<w_tinylfu>);

}  // namespace stowage
