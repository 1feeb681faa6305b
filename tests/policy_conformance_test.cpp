// The conformance kits (include/stowage/testing/) run against every
// built-in policy — a kit too strict for our own policies fails here — and
// against deliberately broken policies, each of which must fail the
// property it breaks (a kit that checks nothing fails here too). The
// storage kit runs in the storage_*_test files (STOWAGE_STORAGE_CONFORMANCE).
#define BOOST_TEST_MODULE policy_conformance
#include <stowage/chunk/fastcdc.hpp>
#include <stowage/chunk/fixed_count.hpp>
#include <stowage/chunk/fixed_size.hpp>
#include <stowage/chunk/whole.hpp>
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/describe.hpp>
#include <stowage/evict/arc.hpp>
#include <stowage/evict/lru.hpp>
#include <stowage/evict/s3fifo.hpp>
#include <stowage/evict/sieve.hpp>
#include <stowage/evict/w_tinylfu.hpp>
#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/memory.hpp>
#include <stowage/testing/chunk.hpp>
#include <stowage/testing/codec.hpp>
#include <stowage/testing/eviction.hpp>
#include <stowage/testing/hasher.hpp>
#include <stowage/testing/storage.hpp>

#include <list>
#include <map>

#include "test_support.hpp"

namespace policy_conformance {

namespace kit = stowage::testing;

struct note {
    std::string id;
    std::string title;
    std::int64_t created = 0;
    std::vector<std::string> tags;
    std::optional<double> score;
    bool operator==(const note&) const = default;
};
STOWAGE_DESCRIBE(note, id, title, created, tags, score)

inline std::vector<note> notes() {
    return {
        {"n1", "first", 1700000000, {"a", "b"}, 0.5},
        {"n2", "", -1, {}, std::nullopt},
        {"n3", std::string(300, 'x') + "\xc3\xa9", 42, {"long", std::string(100, 't')}, 1e300},
    };
}

// --- deliberately broken policies -------------------------------------------

struct sticky_hasher {  // finish() does not reset
    using digest = std::array<std::byte, 8>;
    static constexpr std::string_view name = "sticky";
    std::uint64_t acc = 1469598103934665603ull;
    void update(stowage::bytes_view data) {
        for (auto b : data) acc = (acc ^ std::to_integer<std::uint64_t>(b)) * 1099511628211ull;
    }
    digest finish() {
        digest d;
        for (int i = 0; i < 8; ++i) d[i] = std::byte((acc >> (8 * i)) & 0xff);
        return d;
    }
};

struct first_byte_hasher {  // collides on everything that starts alike
    using digest = std::array<std::byte, 1>;
    static constexpr std::string_view name = "first/byte";  // and a name that cannot be a key component
    std::optional<std::byte> first;
    void update(stowage::bytes_view data) {
        if (!first && !data.empty()) first = data[0];
    }
    digest finish() { return {std::exchange(first, std::nullopt).value_or(std::byte{0})}; }
};

struct partial_codec {  // fills the target field by field and keeps what it got
    static constexpr std::string_view name = "partial";
    void encode(const note& n, stowage::bytes& out) const {
        stowage::append(out, stowage::as_bytes(n.id + "\n" + n.title + "\n"));
    }
    void decode(stowage::bytes_view in, note& n) const {
        std::string s(stowage::as_chars(in));
        auto a = s.find('\n');
        n.id = s.substr(0, a);  // written before the input is known to be whole
        if (a == std::string::npos) throw stowage::error(stowage::errc::corrupt, "partial: truncated");
        auto b = s.find('\n', a + 1);
        if (b == std::string::npos) throw stowage::error(stowage::errc::corrupt, "partial: truncated");
        n.title = s.substr(a + 1, b - a - 1);
    }
};

class miscounting_fifo {  // forgets to subtract weights on removal
public:
    static constexpr std::string_view name = "miscounting_fifo";
    class hook : public stowage::detail::cache_list_hook {
        friend class miscounting_fifo;
        std::uint64_t weight_ = 0;
    };
    void set_capacity(std::uint64_t) noexcept {}
    bool admit(std::uint64_t, std::uint64_t) noexcept { return true; }
    void on_insert(hook& h, std::uint64_t, std::uint64_t w) noexcept {
        h.weight_ = w;
        weight_ += w;
        order_.push_back(h);
    }
    void on_access(hook&) noexcept {}
    void on_update(hook& h, std::uint64_t w) noexcept { h.weight_ = w; }
    void on_remove(hook& h) noexcept { order_.erase(order_.iterator_to(h)); }
    hook* evict() noexcept {
        if (order_.empty()) return nullptr;
        hook& h = order_.front();
        order_.pop_front();
        weight_ -= h.weight_;
        return &h;
    }
    std::uint64_t weight() const noexcept { return weight_; }

private:
    stowage::detail::cache_list<hook> order_;
    std::uint64_t weight_ = 0;
};
static_assert(stowage::eviction_policy<miscounting_fifo>);

struct greedy_chunker {  // cuts past max_size, and depends on bytes past it
    std::size_t max_size() const { return 100; }
    std::size_t cut(stowage::bytes_view data) const { return data.size() > 100 ? 101 : data.size(); }
};

struct fickle_items {  // full at 10 items, but not at 11
    bool full(std::size_t items, std::size_t) const { return items == 10; }
};

}  // namespace policy_conformance

using namespace policy_conformance;

// --- hashers -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(builtin_hashers_conform) {
    auto sha = kit::check_hasher<stowage::sha256>(
        {{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}});
    BOOST_TEST(sha.ok(), sha.summary());
    BOOST_TEST(sha.checks() > 100u);
    auto b2 = kit::check_hasher<stowage::blake2b>();
    BOOST_TEST(b2.ok(), b2.summary());
    auto crc = kit::check_hasher<stowage::crc32c>();
    BOOST_TEST(crc.ok(), crc.summary());
}

BOOST_AUTO_TEST_CASE(hasher_kit_names_what_is_broken) {
    auto sticky = kit::check_hasher<sticky_hasher>();
    BOOST_TEST(!sticky.ok());
    BOOST_TEST(sticky.failed("hasher.reset_after_finish"), sticky.summary());
    BOOST_TEST(!sticky.failed("hasher.pieces_equal_whole"), sticky.summary());
    auto first = kit::check_hasher<first_byte_hasher>();
    BOOST_TEST(first.failed("hasher.different_inputs"), first.summary());
    BOOST_TEST(first.failed("hasher.name"), first.summary());
    BOOST_CHECK_THROW(first.require(), kit::conformance_error);
    try {
        first.require();
    } catch (const kit::conformance_error& e) {
        BOOST_TEST(std::string(e.what()).find("hasher.different_inputs") != std::string::npos, e.what());
    }
}

// --- codecs --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(builtin_codecs_conform) {
    auto samples = notes();
    auto json = kit::check_codec(stowage::json_codec{}, samples);
    BOOST_TEST(json.ok(), json.summary());
    // binary_codec's fields may be absent (schema evolution), but a record
    // ends with a marker (format 2), so no proper prefix is a record.
    auto binary = kit::check_codec(stowage::binary_codec{}, samples);
    BOOST_TEST(binary.ok(), binary.summary());
    auto gz_json = kit::check_codec(stowage::gzip<stowage::json_codec>{}, samples);
    BOOST_TEST(gz_json.ok(), gz_json.summary());
    auto gz_binary = kit::check_codec(stowage::gzip<stowage::binary_codec>{}, samples);
    BOOST_TEST(gz_binary.ok(), gz_binary.summary());
    // A caller's own equality (here: ids only) works for types without ==.
    auto by_id = kit::check_codec(stowage::json_codec{}, samples, [](const note& a, const note& b) { return a.id == b.id; });
    BOOST_TEST(by_id.ok(), by_id.summary());
}

BOOST_AUTO_TEST_CASE(codec_kit_names_what_is_broken) {
    auto samples = notes();
    auto r = kit::check_codec(partial_codec{}, samples);
    BOOST_TEST(r.failed("codec.truncated_input"), r.summary());
    BOOST_TEST(r.failed("codec.round_trip"), r.summary());  // tags and dates are not encoded
    auto none = kit::check_codec(stowage::json_codec{}, std::vector<note>{});
    BOOST_TEST(none.failed("codec.samples"));
}

// --- eviction policies -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(builtin_eviction_policies_conform) {
    auto lru = kit::check_eviction_policy<stowage::lru>();
    BOOST_TEST(lru.ok(), lru.summary());
    BOOST_TEST(lru.checks() > 1000u);
    auto arc = kit::check_eviction_policy<stowage::arc>();
    BOOST_TEST(arc.ok(), arc.summary());
    auto s3 = kit::check_eviction_policy<stowage::s3fifo>();
    BOOST_TEST(s3.ok(), s3.summary());
    auto sieve = kit::check_eviction_policy<stowage::sieve>();
    BOOST_TEST(sieve.ok(), sieve.summary());
    auto tiny = kit::check_eviction_policy<stowage::w_tinylfu>(
        [] { return stowage::w_tinylfu(stowage::w_tinylfu::options{.seed = 7}); });
    BOOST_TEST(tiny.ok(), tiny.summary());
    auto doorkeeper = kit::check_eviction_policy<stowage::w_tinylfu>(
        [] { return stowage::w_tinylfu(stowage::w_tinylfu::options{.doorkeeper = true, .adaptive = false, .seed = 9}); });
    BOOST_TEST(doorkeeper.ok(), doorkeeper.summary());
}

BOOST_AUTO_TEST_CASE(eviction_kit_names_what_is_broken) {
    auto r = kit::check_eviction_policy<miscounting_fifo>();
    BOOST_TEST(r.failed("eviction.weight_sums"), r.summary());
}

// --- chunk policies ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(builtin_chunk_policies_conform) {
    for (std::size_t n : {1, 7, 4096, 1 << 20}) {
        auto r = kit::check_chunk_policy(stowage::fixed_size(n));
        BOOST_TEST(r.ok(), r.summary());
    }
    auto small = kit::check_chunk_policy(stowage::fastcdc(64, 256, 1024));
    BOOST_TEST(small.ok(), small.summary());
    auto cdc = kit::check_chunk_policy(stowage::fastcdc());
    BOOST_TEST(cdc.ok(), cdc.summary());
    auto whole = kit::check_chunk_policy(stowage::whole{});
    BOOST_TEST(whole.ok(), whole.summary());
    auto items = kit::check_chunk_policy(stowage::fixed_count(10, 1 << 16));
    BOOST_TEST(items.ok(), items.summary());
    auto count_only = kit::check_chunk_policy(stowage::fixed_count(1));
    BOOST_TEST(count_only.ok(), count_only.summary());
}

BOOST_AUTO_TEST_CASE(chunk_kit_names_what_is_broken) {
    auto greedy = kit::check_chunk_policy(greedy_chunker{});
    BOOST_TEST(greedy.failed("chunk.cut_in_range"), greedy.summary());
    BOOST_TEST(greedy.failed("chunk.reads_max_size"), greedy.summary());
    auto fickle = kit::check_chunk_policy(fickle_items{});
    BOOST_TEST(fickle.failed("chunk.monotone"), fickle.summary());
}

// --- the storage kit, framework-neutral ---------------------------------------------

BOOST_AUTO_TEST_CASE(storage_kit_runs_without_a_test_framework) {
    auto r = kit::check_storage([] { return stowage::memory_storage(stowage::memory_storage::options{7, true}); });
    BOOST_TEST(r.ok(), r.summary());
    BOOST_TEST(r.checks() > 1000u);
    BOOST_TEST(r.summary().starts_with("storage memory"), r.summary());
}
