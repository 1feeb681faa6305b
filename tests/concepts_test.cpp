// A client's own policies, written as a client would, satisfy the concepts;
// things that are not policies do not.
#define BOOST_TEST_MODULE concepts
#include <stowage/concepts.hpp>

#include "test_support.hpp"

namespace {

struct xor8 {  // a toy client hasher in a few lines
    using digest = std::array<std::byte, 1>;
    static constexpr std::string_view name = "xor8";
    std::byte acc{};
    void update(stowage::bytes_view data) {
        for (auto b : data) acc ^= b;
    }
    digest finish() { return {std::exchange(acc, std::byte{})}; }
};
static_assert(stowage::hasher<xor8>);
static_assert(!stowage::hasher<int>);

struct every_4k {  // a client byte chunker
    std::size_t max_size() const { return 4096; }
    std::size_t cut(stowage::bytes_view data) const { return std::min<std::size_t>(data.size(), 4096); }
};
static_assert(stowage::byte_chunker<every_4k>);
static_assert(stowage::chunk_policy<every_4k>);

struct ten_items {
    bool full(std::size_t items, std::size_t) const { return items >= 10; }
};
static_assert(stowage::item_chunker<ten_items>);
static_assert(!stowage::byte_chunker<ten_items>);

}  // namespace

BOOST_AUTO_TEST_CASE(client_hasher_works_through_concept) {
    xor8 h;
    h.update(stowage::as_bytes("ab"));
    BOOST_TEST(std::to_integer<int>(h.finish()[0]) == ('a' ^ 'b'));
}
