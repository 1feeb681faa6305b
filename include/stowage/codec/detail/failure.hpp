// codec/detail/failure.hpp — how the codecs report a bad value with its path.
//
// Readers and writers throw codec_failure deep inside a value; each level it
// passes through prepends its part of the path (".name" for a struct field,
// "[3]" for an element, "[\"k\"]" for a map or object member), and the entry
// point turns it into a stowage::error:
//   "json decode: session.tags[3]: expected string, found number (at byte 57)"
// Exceptions cost nothing on the success path, so no path is built unless a
// value is actually bad.
//
// Thread safety: plain values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "../../error.hpp"

namespace stowage::detail {

struct codec_failure {
    explicit codec_failure(std::string m, std::string p = {}, std::size_t at = std::string::npos)
        : message(std::move(m)), path(std::move(p)), offset(at) {}
    std::string message;
    std::string path;
    std::size_t offset;  // byte offset in the input, npos when unknown
};

inline void prepend_field(codec_failure& f, std::string_view name) {
    std::string p;
    p.reserve(name.size() + 1 + f.path.size());
    p.push_back('.');
    p.append(name);
    p.append(f.path);
    f.path = std::move(p);
}

inline void prepend_index(codec_failure& f, std::size_t i) {
    f.path.insert(0, "[" + std::to_string(i) + "]");
}

inline void prepend_key(codec_failure& f, std::string_view key) {
    std::string p = "[\"";
    p.append(key.substr(0, 64));
    p.append("\"]");
    f.path.insert(0, p);
}

// "<what>: <path>: <message> (at byte N)"
[[noreturn]] inline void throw_codec_failure(const codec_failure& f, std::string_view what, errc code) {
    std::string ctx(what);
    if (!f.path.empty()) ctx += ": " + f.path.substr(f.path.front() == '.' ? 1 : 0);
    ctx += ": " + f.message;
    if (f.offset != std::string::npos) ctx += " (at byte " + std::to_string(f.offset) + ")";
    throw error(code, ctx);
}

}  // namespace stowage::detail
