// detail/cache_index.hpp — intrusive building blocks shared by the cache and
// its eviction policies: the hooks' link mode, key-hash mixing, and a hash
// index over intrusive nodes that grows its own bucket array.
//
// Boost.Intrusive containers never allocate; an unordered_set needs the user
// to own its buckets and to rehash it. `hash_index` does exactly that and no
// more, so that a cache entry is one allocation holding its key, value, index
// hook and policy hook.
//
// Thread safety: none; the owner serializes access.
#pragma once

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/unordered_set.hpp>

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace stowage::detail {

namespace bi = boost::intrusive;

// Debug builds check hooks (a node destroyed while still linked asserts);
// release builds skip the bookkeeping that costs on every unlink.
#ifdef NDEBUG
inline constexpr bi::link_mode_type cache_link_mode = bi::normal_link;
#else
inline constexpr bi::link_mode_type cache_link_mode = bi::safe_link;
#endif

// The hook every policy queue uses (one list membership per entry).
using cache_list_hook = bi::list_base_hook<bi::link_mode<cache_link_mode>>;

template <class Hook>
using cache_list = bi::list<Hook, bi::base_hook<cache_list_hook>, bi::constant_time_size<false>>;

// A bijective 64-bit finalizer: spreads every input bit over every output bit,
// so policies may slice the hash (sketch rows, buckets) without bias even when
// std::hash is the identity, as it is for integers in libstdc++.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

struct index_tag;
using cache_index_hook =
    bi::unordered_set_base_hook<bi::tag<index_tag>, bi::store_hash<true>, bi::link_mode<cache_link_mode>>;

// A hash index of nodes deriving from cache_index_hook. HashOf(node) returns
// the node's stored 64-bit hash; Equal(node, node) compares keys. Lookups take
// a probe (anything Equal accepts against a node) and its precomputed hash.
template <class Node, class HashOf, class Equal>
class hash_index {
    struct node_hash {
        std::size_t operator()(const Node& n) const noexcept { return static_cast<std::size_t>(HashOf{}(n)); }
    };
    using set_type = bi::unordered_multiset<Node, bi::base_hook<cache_index_hook>, bi::hash<node_hash>,
                                            bi::equal<Equal>, bi::power_2_buckets<true>, bi::compare_hash<true>,
                                            bi::constant_time_size<true>, bi::size_type<std::size_t>>;
    using bucket_type = typename set_type::bucket_type;
    using bucket_traits = typename set_type::bucket_traits;

    static constexpr std::size_t initial_buckets = 16;

public:
    hash_index() : buckets_(initial_buckets), set_(bucket_traits(buckets_.data(), buckets_.size())) {}
    hash_index(const hash_index&) = delete;
    hash_index& operator=(const hash_index&) = delete;
    ~hash_index() { set_.clear(); }

    std::size_t size() const noexcept { return set_.size(); }
    bool empty() const noexcept { return set_.empty(); }

    // The node matching `probe` (whose hash is `hash`), or nullptr.
    template <class Probe, class ProbeEqual>
    Node* find(const Probe& probe, std::uint64_t hash, ProbeEqual eq) noexcept {
        auto it = set_.find(probe, [hash](const Probe&) { return static_cast<std::size_t>(hash); }, eq);
        return it == set_.end() ? nullptr : &*it;
    }

    // Links a node whose key is not present yet (the caller checked).
    void insert(Node& n) {
        if (set_.size() >= buckets_.size()) grow();
        set_.insert(n);
    }

    // The same, but out of memory for a bigger bucket array it links nothing
    // and returns false.
    bool try_insert(Node& n) noexcept {
        if (set_.size() >= buckets_.size()) {
            try {
                grow();
            } catch (const std::bad_alloc&) {
                return false;
            }
        }
        set_.insert(n);
        return true;
    }

    void erase(Node& n) noexcept { set_.erase(set_.iterator_to(n)); }

    // Unlinks every node; the caller owns and frees them.
    void clear() noexcept { set_.clear(); }

    template <class F>
    void for_each(F&& f) {
        for (auto it = set_.begin(); it != set_.end();) {
            Node& n = *it++;  // f may unlink n
            f(n);
        }
    }

private:
    // Load factor 1: doubling keeps chains short; stored hashes make the
    // rehash a pointer walk without calling the user's hash again.
    void grow() {
        std::vector<bucket_type> bigger(buckets_.size() * 2);
        set_.rehash(bucket_traits(bigger.data(), bigger.size()));
        buckets_.swap(bigger);
    }

    std::vector<bucket_type> buckets_;
    set_type set_;
};

}  // namespace stowage::detail
