// codec/gzip.hpp — gzip<C>: compresses any codec's output with zlib, in the
// gzip format (RFC 1952) that the system `gzip -d` reads.
//
//     stowage::gzip<> z;                               // gzip over json_codec, level 6
//     stowage::gzip<stowage::binary_codec> zb(9);      // name "gzip+binary"
//     z.encode(session, out);  z.decode(out, session);
//
// The name stored in record envelopes is "gzip+" followed by the inner
// codec's name, joined at compile time. Levels are 0 (store) to 9 (smallest);
// anything else is errc::bad_input.
//
// gzip_compress / gzip_decompress are also usable alone. Decompression reads
// every member of a multi-member stream (as `cat a.gz b.gz` makes), checks
// each member's CRC-32 and length, works in bounded output chunks, and
// refuses truncated, corrupt or trailing non-gzip bytes with errc::corrupt.
// An optional output limit turns a decompression bomb into errc::bad_input.
//
// Thread safety: gzip<C> holds only its level and inner codec; encode/decode
// are const and safe to call concurrently if the inner codec's are. Each
// thread keeps its own zlib streams (reset between calls), never shared.
// Durability: not applicable.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "json.hpp"

namespace stowage {
namespace detail {

// zlib counts in uInt; larger buffers are fed in pieces of this size.
inline constexpr std::size_t zlib_chunk = std::size_t{1} << 30;

inline void check_gzip_level(int level) {
    if (level < 0 || level > 9)
        throw error(errc::bad_input, "gzip: compression level " + std::to_string(level) + " is not in 0..9");
}

struct deflate_stream {
    z_stream zs{};
    explicit deflate_stream(int level) {
        // windowBits 15 + 16: a 32 KiB window, with the gzip header and trailer.
        const int rc = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw error(errc::bad_input, "gzip: cannot start deflate (zlib error " + std::to_string(rc) + ")");
    }
    ~deflate_stream() { deflateEnd(&zs); }
    deflate_stream(const deflate_stream&) = delete;
    deflate_stream& operator=(const deflate_stream&) = delete;
};

struct inflate_stream {
    z_stream zs{};
    inflate_stream() {
        const int rc = inflateInit2(&zs, 15 + 16);  // gzip only: a zlib or raw stream is refused
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw error(errc::corrupt, "gzip: cannot start inflate (zlib error " + std::to_string(rc) + ")");
    }
    ~inflate_stream() { inflateEnd(&zs); }
    inflate_stream(const inflate_stream&) = delete;
    inflate_stream& operator=(const inflate_stream&) = delete;
};

// Setting up a zlib stream allocates and clears a few hundred KiB, which
// costs more than compressing a 2 KB record; each thread keeps one stream
// per level (and one inflater) and resets it for the next call. A stream is
// taken out of the cache while in use, so a nested call simply makes its own.
template <class Stream>
class stream_lease {
public:
    template <class... Args>
    stream_lease(std::unique_ptr<Stream>& slot, Args... args) : slot_(slot) {
        if (slot_) {
            stream_ = std::move(slot_);
        } else {
            stream_ = std::make_unique<Stream>(args...);
        }
    }
    ~stream_lease() {
        // Returned only if it can be reset to a clean state.
        if constexpr (std::is_same_v<Stream, deflate_stream>) {
            if (deflateReset(&stream_->zs) == Z_OK && !slot_) slot_ = std::move(stream_);
        } else {
            if (inflateReset(&stream_->zs) == Z_OK && !slot_) slot_ = std::move(stream_);
        }
    }
    stream_lease(const stream_lease&) = delete;
    stream_lease& operator=(const stream_lease&) = delete;
    // The stream, reset, with no input or output left over from earlier use.
    z_stream& zs() noexcept {
        stream_->zs.next_in = nullptr;
        stream_->zs.avail_in = 0;
        stream_->zs.next_out = nullptr;
        stream_->zs.avail_out = 0;
        return stream_->zs;
    }

private:
    std::unique_ptr<Stream>& slot_;
    std::unique_ptr<Stream> stream_;
};

inline std::unique_ptr<deflate_stream>& cached_deflater(int level) {
    thread_local std::array<std::unique_ptr<deflate_stream>, 10> cache;
    return cache[static_cast<std::size_t>(level)];
}

inline std::unique_ptr<inflate_stream>& cached_inflater() {
    thread_local std::unique_ptr<inflate_stream> cache;
    return cache;
}

template <std::size_t N>
struct gzip_name_chars {
    std::array<char, N> chars{};
    constexpr std::string_view view() const noexcept { return {chars.data(), N}; }
};

template <class Inner>
struct gzip_name {
    static constexpr std::string_view prefix = "gzip+";
    static constexpr std::string_view inner = Inner::name;
    static constexpr auto storage = [] {
        gzip_name_chars<prefix.size() + inner.size()> s;
        std::size_t i = 0;
        for (char c : prefix) s.chars[i++] = c;
        for (char c : inner) s.chars[i++] = c;
        return s;
    }();
    static constexpr std::string_view value = storage.view();
};

}  // namespace detail

// Appends the gzip stream of `in` to out.
inline void gzip_compress(bytes_view in, bytes& out, int level = 6) {
    detail::check_gzip_level(level);
    detail::stream_lease<detail::deflate_stream> lease(detail::cached_deflater(level), level);
    z_stream& zs = lease.zs();
    const std::size_t old = out.size();
    std::size_t pos = old;
    try {
        out.resize(pos + deflateBound(&zs, static_cast<uLong>(in.size())));
        const std::byte* next = in.data();
        std::size_t left = in.size();
        int rc = Z_OK;
        do {
            const std::size_t take = std::min(left, detail::zlib_chunk);
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(next));
            zs.avail_in = static_cast<uInt>(take);
            next += take;
            left -= take;
            const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
            do {  // until deflate leaves output room unused: it has taken all input
                if (out.size() - pos < 64) out.resize(out.size() + std::max<std::size_t>(out.size() / 2, 65536));
                const std::size_t room = std::min(out.size() - pos, detail::zlib_chunk);
                zs.next_out = reinterpret_cast<Bytef*>(out.data() + pos);
                zs.avail_out = static_cast<uInt>(room);
                rc = deflate(&zs, flush);
                if (rc == Z_STREAM_ERROR) throw error(errc::bad_input, "gzip: deflate failed");
                pos += room - zs.avail_out;
            } while (zs.avail_out == 0);
        } while (left > 0);
        if (rc != Z_STREAM_END) throw error(errc::bad_input, "gzip: deflate did not finish the stream");
        out.resize(pos);
    } catch (...) {
        out.resize(old);
        throw;
    }
}

// The concatenated output of every member of the gzip stream `in`.
// Truncated or corrupt input is errc::corrupt; output beyond max_output bytes
// is errc::bad_input.
inline bytes gzip_decompress(bytes_view in, std::size_t max_output = std::numeric_limits<std::size_t>::max()) {
    if (in.empty()) throw error(errc::corrupt, "gzip: empty input is not a gzip stream");
    detail::stream_lease<detail::inflate_stream> lease(detail::cached_inflater());
    z_stream& zs = lease.zs();
    // The last member's trailer holds its length (mod 2^32): a good first
    // guess for the output size, trusted no further than deflate's best ratio.
    std::size_t guess = 0;
    if (in.size() >= 18)
        for (std::size_t i = 0; i < 4; ++i) guess |= std::size_t{std::to_integer<unsigned char>(in[in.size() - 4 + i])} << (8 * i);
    constexpr std::size_t step = 64 * 1024;  // output then grows in bounded chunks
    bytes out(std::clamp<std::size_t>(guess + 1, 64, std::min<std::size_t>(in.size() * 1032 + 64, step * 16)));
    std::size_t pos = 0;
    const std::byte* next = in.data();
    std::size_t left = in.size();
    auto consumed = [&] { return in.size() - left - zs.avail_in; };
    for (;;) {
        if (zs.avail_in == 0 && left > 0) {
            const std::size_t take = std::min(left, detail::zlib_chunk);
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(next));
            zs.avail_in = static_cast<uInt>(take);
            next += take;
            left -= take;
        }
        if (pos == out.size()) out.resize(out.size() + std::max(out.size(), step));
        const std::size_t room = std::min(out.size() - pos, detail::zlib_chunk);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + pos);
        zs.avail_out = static_cast<uInt>(room);
        const int rc = inflate(&zs, Z_NO_FLUSH);
        pos += room - zs.avail_out;
        if (pos > max_output)
            throw error(errc::bad_input, "gzip: output exceeds the limit of " + std::to_string(max_output) + " bytes");
        switch (rc) {
            case Z_OK: break;
            case Z_STREAM_END:  // one member done (its CRC-32 and length checked)
                if (zs.avail_in == 0 && left == 0) {
                    out.resize(pos);
                    return out;
                }
                if (inflateReset(&zs) != Z_OK) throw error(errc::corrupt, "gzip: cannot restart inflate");
                break;
            case Z_BUF_ERROR:  // no progress: with output room left, the input ran out
                if (zs.avail_out > 0 && zs.avail_in == 0 && left == 0)
                    throw error(errc::corrupt, "gzip: truncated stream (ends at byte " + std::to_string(in.size()) + ")");
                break;
            case Z_MEM_ERROR: throw std::bad_alloc();
            default:
                throw error(errc::corrupt, std::string("gzip: corrupt stream near byte ") + std::to_string(consumed()) +
                                               " (" + (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)) + ")");
        }
    }
}

// A codec that gzips what Inner encodes.
template <class Inner = json_codec>
class gzip {
public:
    static constexpr std::string_view name = detail::gzip_name<Inner>::value;

    explicit gzip(int level = 6, Inner inner = {}) : level_(level), inner_(std::move(inner)) {
        detail::check_gzip_level(level);
    }

    int level() const noexcept { return level_; }
    const Inner& inner() const noexcept { return inner_; }

    // The inner codec's compile-time diagnosis of T, when it has one.
    template <class T>
    static constexpr bool diagnose() {
        if constexpr (requires { Inner::template diagnose<T>(); }) return Inner::template diagnose<T>();
        else return codec_for<Inner, T>;
    }

    template <class T>
        requires codec_for<Inner, T>
    void encode(const T& v, bytes& out) const {
        bytes raw;
        inner_.encode(v, raw);
        gzip_compress(raw, out, level_);
    }

    // At most max_decoded_bytes of decompressed output per value (1 GiB):
    // a record whose digest holds can still be a decompression bomb made by
    // whoever could write the file; it is errc::bad_input, not 1 GiB times
    // the ratio of memory.
    static constexpr std::size_t max_decoded_bytes = std::size_t(1) << 30;

    template <class T>
        requires codec_for<Inner, T>
    void decode(bytes_view in, T& out) const {
        const bytes raw = gzip_decompress(in, max_decoded_bytes);
        inner_.decode(raw, out);
    }

private:
    int level_;
    [[no_unique_address]] Inner inner_;
};

}  // namespace stowage
