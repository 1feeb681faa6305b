// envelope.hpp — the self-describing record every store writes (format
// version 1; docs/format.md is the normative description).
//
//   offset  size  field
//   0       4     magic "STWR"
//   4       2     format version (1), little-endian
//   6       4     header length H: bytes from offset 10 up to and including
//                 the header CRC
//   10      4     schema version of the entity type
//   14      8     log sequence number (0 = written outside the WAL)
//   22      1+n   codec name   (u8 length, bytes)
//           1+n   hasher name  (u8 length, bytes)
//           2+n   entity id    (u16 length, bytes)
//           4+n   projection   (u32 length, JSON text)
//           8     payload length
//           1+n   payload digest (u8 length, bytes)
//   10+H-4  4     CRC-32C of every byte before it (offsets 0 .. 10+H-4)
//   10+H    ...   payload (the codec's bytes), exactly `payload length`
//
// Checks, in order, on every read: magic and length bounds (corrupt), the
// header CRC (checksum_mismatch), format version (unsupported), field bounds
// (corrupt), then the payload's length (corrupt) and digest
// (checksum_mismatch). Every field is covered by the header CRC or the
// payload digest, so a flipped byte anywhere is caught before decoding.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "bytes.hpp"
#include "error.hpp"
#include "hash/crc32c.hpp"
#include "hash/hex.hpp"

namespace stowage {

inline constexpr std::string_view envelope_magic = "STWR";
inline constexpr std::uint16_t envelope_format_version = 1;
// Bytes before the header-length-counted part.
inline constexpr std::size_t envelope_prefix_size = 10;
// Enough to hold most headers in one read (the rest is read on demand).
inline constexpr std::size_t envelope_probe_size = 4096;

struct envelope_header {
    std::uint16_t format_version = envelope_format_version;
    std::uint32_t schema_version = 1;
    std::uint64_t lsn = 0;
    std::string codec;
    std::string hasher;
    std::string id;
    std::string projection;  // JSON text
    std::uint64_t payload_size = 0;
    bytes payload_digest;
    std::size_t payload_offset = 0;  // filled by parsing: where the payload starts
};

namespace detail {

inline void put_le(bytes& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
}

inline std::uint64_t get_le(const std::byte* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
    return v;
}

class envelope_reader {
public:
    envelope_reader(bytes_view data, std::string_view key) : data_(data), key_(key) {}
    std::uint64_t num(int n) {
        need(static_cast<std::size_t>(n));
        auto v = get_le(data_.data() + pos_, n);
        pos_ += static_cast<std::size_t>(n);
        return v;
    }
    std::string str(int length_bytes) {
        auto n = static_cast<std::size_t>(num(length_bytes));
        need(n);
        std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    std::size_t pos() const { return pos_; }
    void need(std::size_t n) const {
        if (data_.size() - pos_ < n) throw error(errc::corrupt, std::string(key_) + ": envelope header field out of bounds");
    }

private:
    bytes_view data_;
    std::string_view key_;
    std::size_t pos_ = envelope_prefix_size;
};

}  // namespace detail

// Appends the envelope header for a payload to `out` (the caller appends the
// payload itself right after).
inline void write_envelope_header(const envelope_header& h, bytes& out) {
    if (h.codec.size() > 255 || h.hasher.size() > 255 || h.payload_digest.size() > 255)
        throw error(errc::bad_input, "envelope: codec, hasher or digest longer than 255 bytes");
    if (h.id.size() > 65535) throw error(errc::bad_input, "envelope: id longer than 65535 bytes");
    if (h.projection.size() > 0xffffffffu) throw error(errc::bad_input, "envelope: projection too large");
    std::size_t start = out.size();
    append(out, as_bytes(envelope_magic));
    detail::put_le(out, envelope_format_version, 2);
    std::size_t length_at = out.size();
    detail::put_le(out, 0, 4);  // header length, patched below
    detail::put_le(out, h.schema_version, 4);
    detail::put_le(out, h.lsn, 8);
    detail::put_le(out, h.codec.size(), 1);
    append(out, as_bytes(h.codec));
    detail::put_le(out, h.hasher.size(), 1);
    append(out, as_bytes(h.hasher));
    detail::put_le(out, h.id.size(), 2);
    append(out, as_bytes(h.id));
    detail::put_le(out, h.projection.size(), 4);
    append(out, as_bytes(h.projection));
    detail::put_le(out, h.payload_size, 8);
    detail::put_le(out, h.payload_digest.size(), 1);
    append(out, h.payload_digest);
    std::uint64_t header_length = out.size() + 4 - (start + envelope_prefix_size);
    for (int i = 0; i < 4; ++i) out[length_at + i] = std::byte((header_length >> (8 * i)) & 0xff);
    std::uint32_t crc = crc32c::of(bytes_view(out).subspan(start));
    detail::put_le(out, crc, 4);
}

// Total header size (prefix + counted part) of the envelope starting `data`,
// which must hold at least envelope_prefix_size bytes. Throws corrupt when
// the magic is wrong.
inline std::size_t envelope_header_size(bytes_view data, std::string_view key) {
    if (data.size() < envelope_prefix_size || as_chars(data.first(4)) != envelope_magic)
        throw error(errc::corrupt, std::string(key) + ": not a stowage record (bad magic)");
    auto length = detail::get_le(data.data() + 6, 4);
    if (length < 4 || length > (std::uint64_t(1) << 31))
        throw error(errc::corrupt, std::string(key) + ": envelope header length out of range");
    return envelope_prefix_size + static_cast<std::size_t>(length);
}

// Parses and checks the header at the start of `data` (which must hold the
// whole header; the payload may be absent when only the header is wanted).
inline envelope_header parse_envelope_header(bytes_view data, std::string_view key) {
    std::size_t total = envelope_header_size(data, key);
    if (data.size() < total) throw error(errc::corrupt, std::string(key) + ": envelope header truncated");
    std::uint32_t stored_crc = static_cast<std::uint32_t>(detail::get_le(data.data() + total - 4, 4));
    if (crc32c::of(data.first(total - 4)) != stored_crc)
        throw error(errc::checksum_mismatch, std::string(key) + ": envelope header checksum mismatch");
    envelope_header h;
    h.format_version = static_cast<std::uint16_t>(detail::get_le(data.data() + 4, 2));
    if (h.format_version != envelope_format_version)
        throw error(errc::unsupported, std::string(key) + ": record format version " + std::to_string(h.format_version) +
                                           " (this build reads version 1)");
    detail::envelope_reader r(data.first(total - 4), key);
    h.schema_version = static_cast<std::uint32_t>(r.num(4));
    h.lsn = r.num(8);
    h.codec = r.str(1);
    h.hasher = r.str(1);
    h.id = r.str(2);
    h.projection = r.str(4);
    h.payload_size = r.num(8);
    std::string digest = r.str(1);
    h.payload_digest = to_bytes(digest);
    if (r.pos() != total - 4) throw error(errc::corrupt, std::string(key) + ": envelope header has trailing bytes");
    h.payload_offset = total;
    return h;
}

// Whether data starts like an envelope (magic only; nothing verified).
inline bool looks_like_envelope(bytes_view data) noexcept {
    return data.size() >= envelope_prefix_size && as_chars(data.first(4)) == envelope_magic;
}

// The header size of an intact envelope; throws corrupt when data is not
// one. What stamp_envelope_lsn_at needs: a commit checks its records with
// this before its ordering section, and only stamps them inside it.
inline std::size_t intact_envelope_header_size(bytes_view data) {
    std::size_t total = envelope_header_size(data, "record");
    (void)parse_envelope_header(data, "record");
    return total;
}

// Rewrites the log sequence number of an envelope in place (and its header
// CRC), given its header size from intact_envelope_header_size. The WAL
// stamps each record with the LSN it commits at, which makes replay
// idempotent and gives optimistic transactions a version to compare.
inline void stamp_envelope_lsn_at(bytes& data, std::size_t header_size, std::uint64_t lsn) {
    for (int i = 0; i < 8; ++i) data[14 + i] = std::byte((lsn >> (8 * i)) & 0xff);
    std::uint32_t crc = crc32c::of(bytes_view(data).first(header_size - 4));
    for (int i = 0; i < 4; ++i) data[header_size - 4 + i] = std::byte((crc >> (8 * i)) & 0xff);
}

// Both: throws corrupt when data is not an intact envelope.
inline void stamp_envelope_lsn(bytes& data, std::uint64_t lsn) {
    stamp_envelope_lsn_at(data, intact_envelope_header_size(data), lsn);
}

// The LSN of an envelope's header (0 when data is not an envelope).
inline std::uint64_t envelope_lsn(bytes_view data) noexcept {
    if (!looks_like_envelope(data) || data.size() < 22) return 0;
    return detail::get_le(data.data() + 14, 8);
}

}  // namespace stowage
