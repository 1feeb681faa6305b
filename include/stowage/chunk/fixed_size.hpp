// chunk/fixed_size.hpp — chunks of exactly N bytes (the last one shorter).
// Cheap, but an insertion shifts every later boundary, so nothing after it
// deduplicates; fastcdc.hpp does not have that problem.
// Thread safety: immutable after construction.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"

namespace stowage {

class fixed_size {
public:
    static constexpr std::string_view name = "fixed";
    explicit fixed_size(std::size_t n = 1 << 20) : n_(n) {
        if (n == 0) throw error(errc::bad_input, "fixed_size chunking needs a size above 0");
    }
    std::size_t max_size() const { return n_; }
    std::size_t cut(bytes_view data) const { return std::min(n_, data.size()); }
    std::size_t size() const { return n_; }

private:
    std::size_t n_;
};
static_assert(byte_chunker<fixed_size>);

}  // namespace stowage
