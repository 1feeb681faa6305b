// chunk/whole.hpp — no chunking: a blob is one chunk.
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <limits>
#include <string_view>

#include "../bytes.hpp"
#include "../concepts.hpp"

namespace stowage {

struct whole {
    static constexpr std::string_view name = "whole";
    std::size_t max_size() const { return std::numeric_limits<std::size_t>::max(); }
    std::size_t cut(bytes_view data) const { return data.size(); }
};
static_assert(byte_chunker<whole>);

}  // namespace stowage
