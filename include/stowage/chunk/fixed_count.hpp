// chunk/fixed_count.hpp — groups a sequence of items (screenshots, audio
// segments) into chunks of N items, optionally closing a chunk early once it
// holds `byte_budget` encoded bytes.
// Thread safety: immutable after construction.
#pragma once

#include <cstddef>

#include "../concepts.hpp"
#include "../error.hpp"

namespace stowage {

class fixed_count {
public:
    static constexpr std::string_view name = "fixed_count";
    explicit fixed_count(std::size_t items = 10, std::size_t byte_budget = 0) : items_(items), budget_(byte_budget) {
        if (items == 0) throw error(errc::bad_input, "fixed_count chunking needs at least 1 item per chunk");
    }
    bool full(std::size_t items, std::size_t bytes) const {
        return items >= items_ || (budget_ > 0 && bytes >= budget_);
    }
    std::size_t items() const { return items_; }

private:
    std::size_t items_;
    std::size_t budget_;
};
static_assert(item_chunker<fixed_count>);

}  // namespace stowage
