// storage/key.hpp — validation of storage keys, shared by every Storage policy.
//
// A key is a relative, '/'-separated path: non-empty components, none of
// which starts with '.' (that excludes "." and "..", and reserves dot-names
// for a storage's own files: temp files, the lock file), no NUL or other
// control bytes, no backslash, no leading or trailing '/'. With those rules
// no key can name anything outside a file_storage's directory, and a key maps
// to the same path on every platform.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "../error.hpp"

namespace stowage {

// Longest key accepted, and longest component (NAME_MAX on Linux is 255
// bytes; temp-file names add a suffix, so components stay well below it).
inline constexpr std::size_t max_key_size = 1024;
inline constexpr std::size_t max_key_component_size = 200;

// Why `key` is not a valid storage key, or an empty view when it is.
inline std::string_view key_problem(std::string_view key) noexcept {
    if (key.empty()) return "empty key";
    if (key.size() > max_key_size) return "key longer than 1024 bytes";
    if (key.front() == '/') return "absolute key (leading '/')";
    if (key.back() == '/') return "key ends with '/'";
    std::size_t start = 0;
    while (start <= key.size()) {
        std::size_t end = key.find('/', start);
        if (end == std::string_view::npos) end = key.size();
        std::string_view part = key.substr(start, end - start);
        if (part.empty()) return "empty path component ('//')";
        if (part == "." || part == "..") return "'.' or '..' path component";
        if (part.front() == '.') return "component starting with '.' (reserved)";
        if (part.size() > max_key_component_size) return "path component longer than 200 bytes";
        for (unsigned char c : part) {
            if (c < 0x20 || c == 0x7f) return "NUL or control byte";
            if (c == '\\') return "backslash";
        }
        start = end + 1;
    }
    return {};
}

inline bool valid_key(std::string_view key) noexcept { return key_problem(key).empty(); }

// Throws errc::bad_input naming the key and the rule it breaks.
inline void validate_key(std::string_view key) {
    if (auto problem = key_problem(key); !problem.empty()) {
        std::string shown;
        for (unsigned char c : key.substr(0, 80)) {
            if (c < 0x20 || c == 0x7f) {
                static constexpr char hex[] = "0123456789abcdef";
                shown += "\\x";
                shown += hex[c >> 4];
                shown += hex[c & 15];
            } else {
                shown += static_cast<char>(c);
            }
        }
        throw error(errc::bad_input, "invalid storage key \"" + shown + "\": " + std::string(problem));
    }
}

// The directory part of a key ("a/b/c" -> "a/b", "c" -> "").
inline std::string_view key_parent(std::string_view key) noexcept {
    auto slash = key.rfind('/');
    return slash == std::string_view::npos ? std::string_view{} : key.substr(0, slash);
}

}  // namespace stowage
