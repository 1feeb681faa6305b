// bytes.hpp — the byte vocabulary every component speaks.
//
// `bytes` owns, `bytes_view` borrows. Helpers convert to and from strings
// without copying where the standard allows it.
// Thread safety: plain values; no shared state.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stowage {

using bytes = std::vector<std::byte>;
using bytes_view = std::span<const std::byte>;

inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline std::string_view as_chars(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline bytes to_bytes(std::string_view s) {
    auto v = as_bytes(s);
    return bytes(v.begin(), v.end());
}

inline std::string to_string(bytes_view b) { return std::string(as_chars(b)); }

inline void append(bytes& out, bytes_view data) { out.insert(out.end(), data.begin(), data.end()); }

// What a returned write call guarantees (design.md, "Contracts").
enum class durability {
    none,     // nothing: the write may vanish at a crash (tests, caches)
    batched,  // on stable storage within a bounded window after return
    full,     // on stable storage before the call returns (default)
};

// How a component or storage is opened. Many readers may open a data
// directory alongside its one writer.
enum class open_mode {
    read_write,
    read_only,
};

}  // namespace stowage
