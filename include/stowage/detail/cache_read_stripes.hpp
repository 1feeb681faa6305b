// detail/cache_read_stripes.hpp — the lock of a cache whose hits write no
// cache line that another core reads.
//
// A cache hit used to take the cache's mutex, move the entry in its policy and
// count a hit: three writes to lines every thread shares, so two threads
// reading the same hot keys spent their time passing those lines between
// cores (benchmarks/RESULTS.md, "Caches / Throughput"). `read_stripes` is
// Caffeine's answer (read buffers) on a striped reader-writer lock, the
// Linux kernel's old "big reader lock":
//
//   - The lock is N small spinlocks, the stripes, one cache line each. A
//     reader takes only the stripe of its thread (threads are numbered in
//     order of first use, so the first N threads never share one); a writer
//     takes every stripe, after a mutex among writers. While there is no
//     writer, a reader writes only its own stripe's line: one atomic
//     exchange to enter, a plain store to leave.
//   - What a read means to the eviction policy (an access) is appended to
//     the stripe's small ring, not applied. The ring is replayed into the
//     policy by the next exclusive section, which starts by draining every
//     ring (see `exclusive` in cache.hpp); a reader whose ring is full tries
//     to become that exclusive section itself. If it cannot (another thread
//     holds the lock) its records are dropped until the ring is drained: the
//     policy's view of recency is then approximate, never its contents. One
//     thread alone never drops anything, so a single-threaded replay sees
//     exactly the sequence of policy calls it would see without the rings.
//   - Hit and miss counters live in the stripes, written by the stripe's
//     holder only, so they are exact.
//   - Readers that see a writer waiting (a flag beside the stripe pointer)
//     hold back, so a stream of reads cannot starve a writer.
//
// Why records in a ring can be dereferenced later: a record is only written
// by a reader holding its stripe (so no writer is in), about an entry it
// found in the index; an entry leaves the index only in an exclusive
// section, and every exclusive section drains the rings before it changes
// anything. So when a ring is drained, every entry it names is still there.
//
// Thread safety: as described; the rings and counters are only meaningful
// through the owning cache. Durability: none.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace stowage::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spins briefly, then yields: the other side holds a stripe or the lock for
// a lookup, a policy update or a drain — microseconds.
inline void backoff(unsigned& round) noexcept {
    if (++round < 64) {
        spin_pause();
    } else {
        std::this_thread::yield();
    }
}

// A small number per thread, handed out in order of first use, so that the
// first N threads of a process land on N different stripes.
inline unsigned thread_stripe_seed() noexcept {
    static std::atomic<unsigned> next{0};
    thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

template <class Record, std::size_t RingSize = 128>
class read_stripes {
    static_assert(std::has_single_bit(RingSize));

    // The counters are atomics only so that stats() may read them from
    // another stripe; their one writer is the stripe's holder (plain adds).
    struct alignas(64) stripe {
        std::atomic<bool> held{false};
        std::atomic<std::uint64_t> tail{0};  // records stored; the ring holds [head, tail)
        std::uint64_t head = 0;              // records drained; changed only by the exclusive holder
        std::atomic<std::uint64_t> hits{0};
        std::atomic<std::uint64_t> misses{0};
        std::array<Record, RingSize> ring{};
    };

    static void bump(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

public:
    // `stripes` is rounded up to a power of two; 0 means two per hardware thread.
    explicit read_stripes(std::size_t stripes = 0) {
        std::size_t n = stripes ? stripes : 2 * std::max(1u, std::thread::hardware_concurrency());
        n = std::bit_ceil(std::min<std::size_t>(n, 64));
        stripes_ = std::make_unique<stripe[]>(n);
        mask_ = n - 1;
    }

    read_stripes(const read_stripes&) = delete;
    read_stripes& operator=(const read_stripes&) = delete;

    // --- readers ---

    // Takes the calling thread's stripe; returns it.
    std::size_t lock_shared() const noexcept {
        if (writer_waiting_.load(std::memory_order_relaxed)) {
            unsigned round = 0;
            while (writer_waiting_.load(std::memory_order_relaxed)) backoff(round);
        }
        const std::size_t s = thread_stripe_seed() & mask_;
        acquire(stripes_[s]);
        return s;
    }

    void unlock_shared(std::size_t s) const noexcept { stripes_[s].held.store(false, std::memory_order_release); }

    static constexpr std::size_t ring_size = RingSize;

    // Appends r to stripe s's ring (the caller holds s) and returns how many
    // records the ring now holds; at ring_size it is full, and the caller
    // should drain it (try_lock) once it has left its stripe. A record that
    // finds the ring full is dropped.
    std::size_t record(std::size_t s, const Record& r) const noexcept {
        stripe& st = stripes_[s];
        const std::uint64_t tail = st.tail.load(std::memory_order_relaxed);
        if (tail - st.head >= RingSize) return RingSize;
        st.ring[tail & (RingSize - 1)] = r;
        st.tail.store(tail + 1, std::memory_order_relaxed);
        return static_cast<std::size_t>(tail + 1 - st.head);
    }

    void count_hit(std::size_t s) const noexcept { bump(stripes_[s].hits); }
    void count_miss(std::size_t s) const noexcept { bump(stripes_[s].misses); }

    // --- writers ---

    void lock() {
        writers_.lock();
        enter_exclusive();
    }

    bool try_lock() {
        if (!writers_.try_lock()) return false;
        enter_exclusive();
        return true;
    }

    void unlock() noexcept {
        for (std::size_t i = 0; i <= mask_; ++i) stripes_[i].held.store(false, std::memory_order_release);
        writer_waiting_.store(false, std::memory_order_relaxed);
        writers_.unlock();
    }

    // Calls f(record) for every record in every ring, oldest first per ring,
    // and empties the rings. Only while holding the lock exclusively.
    template <class F>
    void drain(F&& f) {
        for (std::size_t i = 0; i <= mask_; ++i) {
            stripe& st = stripes_[i];
            const std::uint64_t tail = st.tail.load(std::memory_order_relaxed);
            for (std::uint64_t k = st.head; k != tail; ++k) f(st.ring[k & (RingSize - 1)]);
            st.head = tail;
        }
    }

    // Sums of the stripes' counters: exact under the exclusive lock, a
    // moment's snapshot otherwise.
    std::uint64_t hits() const noexcept { return sum(&stripe::hits); }
    std::uint64_t misses() const noexcept { return sum(&stripe::misses); }

    // Only while holding the lock exclusively.
    void reset_counts() noexcept {
        for (std::size_t i = 0; i <= mask_; ++i) {
            stripes_[i].hits.store(0, std::memory_order_relaxed);
            stripes_[i].misses.store(0, std::memory_order_relaxed);
        }
    }

private:
    static void acquire(stripe& st) noexcept {
        unsigned round = 0;
        while (st.held.exchange(true, std::memory_order_acquire))
            while (st.held.load(std::memory_order_relaxed)) backoff(round);
    }

    void enter_exclusive() noexcept {
        writer_waiting_.store(true, std::memory_order_relaxed);
        for (std::size_t i = 0; i <= mask_; ++i) acquire(stripes_[i]);
    }

    std::uint64_t sum(std::atomic<std::uint64_t> stripe::*counter) const noexcept {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i <= mask_; ++i) n += (stripes_[i].*counter).load(std::memory_order_relaxed);
        return n;
    }

    // Read by every reader, written by writers: its own line, with the
    // read-only stripe pointer beside it.
    alignas(64) std::atomic<bool> writer_waiting_{false};
    std::unique_ptr<stripe[]> stripes_;
    std::size_t mask_ = 0;
    alignas(64) std::mutex writers_;
};

// RAII holder of one stripe.
template <class Stripes>
class shared_stripe_guard {
public:
    explicit shared_stripe_guard(const Stripes& s) noexcept : s_(s), stripe_(s.lock_shared()) {}
    ~shared_stripe_guard() { s_.unlock_shared(stripe_); }
    shared_stripe_guard(const shared_stripe_guard&) = delete;
    shared_stripe_guard& operator=(const shared_stripe_guard&) = delete;
    std::size_t stripe() const noexcept { return stripe_; }

private:
    const Stripes& s_;
    std::size_t stripe_;
};

}  // namespace stowage::detail
