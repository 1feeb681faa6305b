// error.hpp — stowage's error codes and the one exception type it throws.
//
// Every failure a caller must handle is a `stowage::error`: a
// std::system_error in stowage's own category, whose message names the key or
// file involved. Absence is not an error (lookups return std::optional).
// Thread safety: everything here is immutable or per-object; safe to share.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

namespace stowage {

enum class errc {
    io = 1,             // the operating system or device failed an operation
    corrupt,            // bytes on storage are not a well-formed record
    checksum_mismatch,  // a record's content does not match its digest
    no_space,           // the device is full (ENOSPC, EDQUOT)
    conflict,           // a concurrent change won; nothing was applied
    bad_input,          // the caller's input is malformed or out of range
    locked,             // another writer holds the data directory
    read_only,          // a write was attempted through a read-only open
    failed_state,       // an earlier unrecoverable failure poisoned this object
    unsupported,        // a format version or feature this build does not know
    not_found,          // an operation needs something that must exist
    timeout,            // an operation did not complete within its time bound
    permission_denied,  // the operating system or a server refused access
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "stowage"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::io: return "I/O error";
            case errc::corrupt: return "corrupt data";
            case errc::checksum_mismatch: return "checksum mismatch";
            case errc::no_space: return "no space left on device";
            case errc::conflict: return "conflict";
            case errc::bad_input: return "bad input";
            case errc::locked: return "locked by another writer";
            case errc::read_only: return "opened read-only";
            case errc::failed_state: return "failed state";
            case errc::unsupported: return "unsupported";
            case errc::not_found: return "not found";
            case errc::timeout: return "timed out";
            case errc::permission_denied: return "permission denied";
        }
        return "unknown stowage error";
    }
};
}  // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

// The exception every stowage component throws. `what()` reads
// "<context>: <category message>", e.g. "sessions/ab/42: checksum mismatch".
class error : public std::system_error {
public:
    error(errc code, const std::string& context)
        : std::system_error(make_error_code(code), context) {}
    errc kind() const noexcept { return static_cast<errc>(code().value()); }
};

// Maps an errno value from a failed system call (or a remote store's negated
// one) to stowage's codes: a full device is `no_space`, a refused access
// `permission_denied`, a time bound `timeout` (callers react to each
// differently); everything else `io`.
inline errc errc_from_errno(int e) noexcept {
    switch (e) {
        case ENOSPC:
        case EDQUOT: return errc::no_space;
        case EACCES:
        case EPERM: return errc::permission_denied;
        case ETIMEDOUT: return errc::timeout;
        default: return errc::io;
    }
}

[[noreturn]] inline void throw_errno(int e, std::string_view what) {
    throw error(errc_from_errno(e),
                std::string(what) + " (" + std::generic_category().message(e) + ")");
}

}  // namespace stowage

template <>
struct std::is_error_code_enum<stowage::errc> : std::true_type {};
