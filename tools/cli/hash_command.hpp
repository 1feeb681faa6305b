// cli/hash_command.hpp — `stowage hash [--algo sha256|blake2b|crc32c] [FILE...]`
//
// Prints "<hex>  <FILE>" per file, byte for byte what sha256sum (and
// `b2sum -l 256`) print, so the two can be diffed: a name holding '\\', '\n'
// or '\r' is escaped and its line starts with '\\', as GNU coreutils 9 does.
// No FILE, or "-", reads standard input. Files are streamed through a fixed
// buffer, never loaded whole. An unreadable file is reported on its own
// stderr line and the others are still hashed; the exit code is then 3.
// Thread safety: single-threaded (one command per process).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/crc32c.hpp>
#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>

#include "common.hpp"

namespace stowage::cli {

namespace hash_detail {

// 64 KiB: large enough that syscalls cost little next to hashing, small
// enough to stay in L2 while the hasher reads it.
inline constexpr std::size_t read_block = 64 * 1024;

// Closes the descriptor it owns (never standard input).
class input_file {
public:
    explicit input_file(const std::string& path) : path_(path) {
        if (path == "-") {
            fd_ = STDIN_FILENO;
            return;
        }
        do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        while (fd_ < 0 && errno == EINTR);
        if (fd_ < 0) throw_errno(errno, "cannot open " + path);
    }
    ~input_file() {
        if (fd_ > STDIN_FILENO) ::close(fd_);
    }
    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;

    // Up to buf.size() bytes; 0 at the end.
    std::size_t read(std::span<std::byte> buf) {
        for (;;) {
            ssize_t n = ::read(fd_, buf.data(), buf.size());
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) throw_errno(errno, "cannot read " + path_);  // EISDIR for a directory
        }
    }

private:
    std::string path_;
    int fd_ = -1;
};

template <hasher H>
std::string hex_digest_of(input_file& in, std::span<std::byte> buf) {
    H h;
    while (std::size_t n = in.read(buf)) h.update(buf.first(n));
    return to_hex(h.finish());
}

struct algorithm {
    std::string_view name;
    std::string (*hex_digest_of)(input_file&, std::span<std::byte>);
};
inline constexpr algorithm algorithms[] = {
    {sha256::name, &hex_digest_of<sha256>},
    {blake2b::name, &hex_digest_of<blake2b>},
    {crc32c::name, &hex_digest_of<crc32c>},
};

inline const algorithm& find_algorithm(std::string_view name) {
    std::string known;
    for (const auto& a : algorithms) {
        if (a.name == name) return a;
        known += (known.empty() ? "" : ", ") + std::string(a.name);
    }
    throw usage_error("hash: unknown algorithm '" + std::string(name) + "' (known: " + known + ")");
}

// The line sha256sum prints for `name`, including its escaping.
inline std::string checksum_line(std::string_view hex, std::string_view name) {
    std::string escaped;
    bool needs_escape = false;
    for (char c : name) {
        switch (c) {
            case '\\': escaped += "\\\\"; needs_escape = true; break;
            case '\n': escaped += "\\n"; needs_escape = true; break;
            case '\r': escaped += "\\r"; needs_escape = true; break;
            default: escaped += c;
        }
    }
    return (needs_escape ? "\\" : "") + std::string(hex) + "  " + escaped + "\n";
}

}  // namespace hash_detail

inline int hash_main(arguments& args) {
    using namespace hash_detail;
    const algorithm& algo = find_algorithm(args.option("--algo").value_or("sha256"));
    std::vector<std::string> files = args.positionals();
    if (files.empty()) files.push_back("-");

    std::vector<std::byte> buf(read_block);
    int code = exit_ok;
    for (const std::string& file : files) {
        try {
            input_file in(file);
            std::cout << checksum_line(algo.hex_digest_of(in, buf), file);
        } catch (const error& e) {  // this file only: report it, hash the rest
            print_error(e.what());
            code = exit_failure;
        }
    }
    return code;
}

inline constexpr command hash_command{
    "hash",
    "[--algo sha256|blake2b|crc32c] [FILE...]",
    "print each FILE's digest as sha256sum does",
    "Prints '<hex>  <FILE>' per FILE in the format of sha256sum, so the output\n"
    "can be compared with sha256sum, `b2sum -l 256` or `sha256sum -c`.\n"
    "With no FILE, or when FILE is -, reads standard input.\n"
    "  --algo ALGO   sha256 (default), blake2b (BLAKE2b-256) or crc32c\n"
    "An unreadable FILE is reported on stderr, the rest are hashed, exit 3.",
    &hash_main,
};

}  // namespace stowage::cli
