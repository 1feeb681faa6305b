// index/postings.hpp — compressed, sorted posting lists with skip tables.
//
// A posting list is the ascending list of documents (segment-local numbers)
// holding a term, optionally with a payload per document: in which text
// fields the term occurs and how often (for BM25). Encoding, in blocks of
// 128 documents:
//
//   varint  count
//   if count > 128, a skip table: per block  u32 last document,
//                                            u32 end offset of its data
//   per block:
//     u8      bits b (0..32)
//     packed  the block's gaps, b bits each, LSB first: a gap is
//             doc - base, base = previous document + 1 (0 at the start), so
//             runs of consecutive documents cost 0 bits
//     if payloads:  varint length, then per document its (field, count)
//                   pairs, each a varint ((count-1)*F + field)*2 + more
//                   (F = the segment's text field count; a document with the
//                   term once, in one field, costs one byte)
//
// Why blocks + bit packing: decoding 128 gaps of equal width is a tight
// loop with no branches per value, and the skip table (8 bytes per 128
// documents) lets an intersection jump over whole blocks without decoding
// them — galloping over the table, then a search inside one decoded block.
// Payloads sit after each block's gaps, so boolean queries never decode them.
//
// Readers may read up to 8 bytes past the end of a list (unaligned 64-bit
// loads): whoever stores lists keeps 8 bytes of padding after the last one
// (segments do; encode_padded() does for standalone use).
//
// Thread safety: encoders and cursors are single-threaded objects; any
// number of cursors may read the same bytes concurrently.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../bytes.hpp"
#include "../error.hpp"

namespace stowage::fts {

using doc_id = std::uint32_t;
inline constexpr doc_id no_doc = std::numeric_limits<doc_id>::max();
inline constexpr std::size_t block_size = 128;
inline constexpr std::size_t read_padding = 8;

// --- varints and fixed-width integers -------------------------------------------

inline void put_varint(bytes& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<std::byte>(v));
}

inline void put_u32(bytes& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

inline std::uint32_t load_u32(const std::byte* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    return v;
}

inline std::uint64_t load_u64(const std::byte* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

// A bounds-checked reader over one buffer: every read that would pass the
// end is errc::corrupt naming `what`.
class byte_reader {
public:
    byte_reader(bytes_view data, const char* what) : data_(data), what_(what) {}

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= data_.size()) fail("truncated varint");
            auto b = std::to_integer<std::uint8_t>(data_[pos_++]);
            v |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        fail("varint longer than 10 bytes");
    }
    std::uint32_t varint32() {
        auto v = varint();
        if (v > std::numeric_limits<std::uint32_t>::max()) fail("value out of range");
        return static_cast<std::uint32_t>(v);
    }
    std::uint32_t u32() {
        need(4);
        auto v = load_u32(data_.data() + pos_);
        pos_ += 4;
        return v;
    }
    std::uint8_t u8() {
        need(1);
        return std::to_integer<std::uint8_t>(data_[pos_++]);
    }
    bytes_view take(std::size_t n) {
        need(n);
        auto v = data_.subspan(pos_, n);
        pos_ += n;
        return v;
    }
    std::string_view chars(std::size_t n) { return as_chars(take(n)); }
    std::size_t pos() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return data_.size() - pos_; }
    bool done() const noexcept { return pos_ == data_.size(); }
    [[noreturn]] void fail(const std::string& why) const {
        throw error(errc::corrupt, std::string(what_) + ": " + why + " at byte " + std::to_string(pos_));
    }

private:
    void need(std::size_t n) const {
        if (data_.size() - pos_ < n) fail("truncated (need " + std::to_string(n) + " bytes)");
    }
    bytes_view data_;
    const char* what_;
    std::size_t pos_ = 0;
};

// --- encoding ----------------------------------------------------------------------

// One document's occurrences of a term: (text field, count) pairs.
struct field_count {
    std::uint16_t field = 0;
    std::uint32_t count = 0;
    bool operator==(const field_count&) const = default;
};

namespace detail {

inline unsigned bit_width32(std::uint32_t v) noexcept { return v ? 32u - static_cast<unsigned>(__builtin_clz(v)) : 0u; }

inline void pack_bits(bytes& out, const std::uint32_t* values, std::size_t n, unsigned bits) {
    if (bits == 0) return;
    std::uint64_t acc = 0;
    unsigned have = 0;
    for (std::size_t i = 0; i < n; ++i) {
        acc |= std::uint64_t(values[i]) << have;
        have += bits;
        while (have >= 8) {
            out.push_back(static_cast<std::byte>(acc & 0xff));
            acc >>= 8;
            have -= 8;
        }
    }
    if (have) out.push_back(static_cast<std::byte>(acc & 0xff));
}

inline std::size_t packed_size(std::size_t n, unsigned bits) noexcept { return (n * bits + 7) / 8; }

}  // namespace detail

// Builds one posting list. Documents must be added in strictly ascending
// order; with payloads, every add() carries the document's field counts.
class postings_encoder {
public:
    explicit postings_encoder(bool payloads = false, unsigned text_fields = 1)
        : payloads_(payloads), fields_(std::max(1u, text_fields)) {}

    void add(doc_id d, std::span<const field_count> occurrences = {}) {
        if (count_ && d <= last_) throw error(errc::bad_input, "postings: documents must ascend");
        if (d == no_doc) throw error(errc::bad_input, "postings: document number out of range");
        docs_.push_back(d);
        if (payloads_) {
            if (occurrences.empty()) throw error(errc::bad_input, "postings: a payload needs at least one field");
            for (std::size_t i = 0; i < occurrences.size(); ++i) {
                const auto& o = occurrences[i];
                if (o.count == 0 || o.field >= fields_) throw error(errc::bad_input, "postings: bad field count");
                std::uint64_t v = (std::uint64_t(o.count - 1) * fields_ + o.field) * 2 + (i + 1 < occurrences.size());
                put_varint(payload_, v);
            }
            payload_ends_.push_back(payload_.size());
        }
        last_ = d;
        ++count_;
    }

    std::uint32_t size() const noexcept { return count_; }

    // Appends the encoded list to out.
    void finish(bytes& out) const {
        put_varint(out, count_);
        const std::size_t blocks = (docs_.size() + block_size - 1) / block_size;
        std::size_t table = out.size();
        if (blocks > 1) out.resize(out.size() + blocks * 8);
        const std::size_t data_start = out.size();
        std::array<std::uint32_t, block_size> gaps;
        doc_id base = 0;
        for (std::size_t b = 0; b < blocks; ++b) {
            std::size_t first = b * block_size, n = std::min(block_size, docs_.size() - first);
            std::uint32_t all = 0;
            for (std::size_t i = 0; i < n; ++i) {
                gaps[i] = docs_[first + i] - base;
                base = docs_[first + i] + 1;
                all |= gaps[i];
            }
            unsigned bits = detail::bit_width32(all);
            out.push_back(static_cast<std::byte>(bits));
            detail::pack_bits(out, gaps.data(), n, bits);
            if (payloads_) {
                std::size_t from = first ? payload_ends_[first - 1] : 0, to = payload_ends_[first + n - 1];
                put_varint(out, to - from);
                out.insert(out.end(), payload_.begin() + static_cast<std::ptrdiff_t>(from),
                           payload_.begin() + static_cast<std::ptrdiff_t>(to));
            }
            if (blocks > 1) {
                std::byte* slot = out.data() + table + b * 8;
                std::uint32_t last = docs_[first + n - 1], end = static_cast<std::uint32_t>(out.size() - data_start);
                for (int i = 0; i < 4; ++i) slot[i] = static_cast<std::byte>((last >> (8 * i)) & 0xff);
                for (int i = 0; i < 4; ++i) slot[4 + i] = static_cast<std::byte>((end >> (8 * i)) & 0xff);
            }
        }
    }

    // The encoded list followed by read_padding zero bytes.
    bytes encode_padded() const {
        bytes out;
        finish(out);
        out.resize(out.size() + read_padding);
        return out;
    }

    void clear() {
        docs_.clear();
        payload_.clear();
        payload_ends_.clear();
        count_ = 0;
        last_ = 0;
    }

private:
    bool payloads_;
    unsigned fields_;
    std::vector<doc_id> docs_;
    bytes payload_;
    std::vector<std::size_t> payload_ends_;
    std::uint32_t count_ = 0;
    doc_id last_ = 0;
};

// --- reading -------------------------------------------------------------------------

// Walks one encoded list. doc() is the current document, no_doc past the
// end. next() steps; advance(t) moves to the first document >= t (never
// backwards), skipping whole blocks through the skip table.
class postings_cursor {
public:
    postings_cursor() = default;

    // `list` is one encoded list (its exact bytes); read_padding readable
    // bytes must follow it in memory. Document numbers at or above
    // `doc_limit` (the segment's document count) are damage: callers index
    // per-document arrays with them.
    postings_cursor(bytes_view list, bool payloads, unsigned text_fields, doc_id doc_limit = no_doc)
        : payloads_(payloads), fields_(std::max(1u, text_fields)), doc_limit_(doc_limit) {
        byte_reader r(list, "posting list");
        count_ = r.varint32();
        blocks_ = static_cast<std::uint32_t>((std::uint64_t(count_) + block_size - 1) / block_size);
        if (blocks_ > 1) {
            table_ = r.take(std::size_t(blocks_) * 8).data();
        }
        data_ = list.subspan(r.pos());
        if (count_ == 0) {
            doc_ = no_doc;
            return;
        }
        load_block(0);
    }

    doc_id doc() const noexcept { return doc_; }
    std::uint32_t size() const noexcept { return count_; }

    void next() {
        if (doc_ == no_doc) return;
        if (++pos_ < n_) {
            doc_ = docs_[pos_];
        } else if (block_ + 1 < blocks_) {
            load_block(block_ + 1);
        } else {
            doc_ = no_doc;
        }
    }

    void advance(doc_id target) {
        if (target <= doc_ || doc_ == no_doc) return;
        if (target > docs_[n_ - 1]) {
            if (block_ + 1 >= blocks_) {
                doc_ = no_doc;
                return;
            }
            // Gallop over the skip table from the next block, then bisect.
            std::uint32_t lo = block_ + 1, step = 1, hi = lo;
            while (hi < blocks_ && last_of(hi) < target) {
                lo = hi + 1;
                hi += step;
                step *= 2;
            }
            if (lo >= blocks_) {
                doc_ = no_doc;
                return;
            }
            hi = std::min(hi, blocks_ - 1);
            while (lo < hi) {
                std::uint32_t mid = lo + (hi - lo) / 2;
                if (last_of(mid) < target) lo = mid + 1;
                else hi = mid;
            }
            load_block(lo);
            if (doc_ >= target) return;
        }
        // Inside the decoded block: the first document >= target.
        pos_ = static_cast<std::uint32_t>(std::lower_bound(docs_.begin() + pos_, docs_.begin() + n_, target) - docs_.begin());
        doc_ = docs_[pos_];
    }

    // Appends every document from the current one to the end, block by
    // block, leaving the cursor at the end.
    void drain(std::vector<doc_id>& out) {
        if (doc_ == no_doc) return;
        out.reserve(out.size() + (count_ - std::size_t(block_) * block_size - pos_));
        while (true) {
            out.insert(out.end(), docs_.begin() + pos_, docs_.begin() + n_);
            if (block_ + 1 >= blocks_) break;
            load_block(block_ + 1);
        }
        doc_ = no_doc;
    }

    // Calls f(field, count) for the current document's occurrences.
    template <class F>
    void for_each_field(F&& f) {
        if (!payloads_ || doc_ == no_doc) return;
        if (!payload_decoded_) decode_payload();
        for (std::uint32_t i = payload_start_[pos_]; i < payload_start_[pos_ + 1]; ++i) f(fields_of_[i].field, fields_of_[i].count);
    }

    // Whether the current document has the term in text field `field`.
    bool in_field(unsigned field) {
        bool found = false;
        for_each_field([&](unsigned f, std::uint32_t) { found = found || f == field; });
        return found;
    }

private:
    std::uint32_t last_of(std::uint32_t b) const noexcept { return load_u32(table_ + std::size_t(b) * 8); }
    std::uint32_t end_of(std::uint32_t b) const noexcept { return load_u32(table_ + std::size_t(b) * 8 + 4); }

    [[noreturn]] static void corrupt(const char* why) { throw error(errc::corrupt, std::string("posting list: ") + why); }

    void load_block(std::uint32_t b) {
        std::size_t begin = b == 0 ? 0 : end_of(b - 1);
        std::size_t end = blocks_ > 1 ? end_of(b) : data_.size();
        if (begin >= end || end > data_.size()) corrupt("block offsets out of range");
        n_ = static_cast<std::uint32_t>(std::min<std::size_t>(block_size, count_ - std::size_t(b) * block_size));
        const std::byte* p = data_.data() + begin;
        unsigned bits = std::to_integer<unsigned>(p[0]);
        if (bits > 32) corrupt("bit width above 32");
        std::size_t packed = detail::packed_size(n_, bits);
        if (1 + packed > end - begin) corrupt("block shorter than its gaps");
        doc_id base = b == 0 ? 0 : last_of(b - 1) + 1;
        const std::byte* q = p + 1;
        const std::uint64_t mask = bits == 32 ? 0xffffffffull : ((1ull << bits) - 1);
        std::uint64_t bit = 0;
        std::uint64_t prev = base;
        for (std::uint32_t i = 0; i < n_; ++i) {
            std::uint64_t gap = bits ? (load_u64(q + (bit >> 3)) >> (bit & 7)) & mask : 0;
            bit += bits;
            std::uint64_t d = prev + gap;
            if (d >= doc_limit_) corrupt("document number out of range");
            docs_[i] = static_cast<doc_id>(d);
            prev = d + 1;
        }
        if (blocks_ > 1 && docs_[n_ - 1] != last_of(b)) corrupt("skip table disagrees with its block");
        block_ = b;
        pos_ = 0;
        doc_ = docs_[0];
        block_payload_ = payloads_ ? bytes_view(q + packed, end - begin - 1 - packed) : bytes_view{};
        payload_decoded_ = false;
    }

    void decode_payload() {
        byte_reader r(block_payload_, "posting payload");
        auto len = r.varint();
        if (len != r.remaining()) r.fail("payload length disagrees with the block");
        fields_of_.clear();
        for (std::uint32_t i = 0; i < n_; ++i) {
            payload_start_[i] = static_cast<std::uint32_t>(fields_of_.size());
            for (bool more = true; more;) {
                auto v = r.varint();
                more = v & 1;
                v >>= 1;
                auto count = v / fields_ + 1;
                if (count > std::numeric_limits<std::uint32_t>::max()) r.fail("count out of range");
                fields_of_.push_back({static_cast<std::uint16_t>(v % fields_), static_cast<std::uint32_t>(count)});
            }
        }
        payload_start_[n_] = static_cast<std::uint32_t>(fields_of_.size());
        if (!r.done()) r.fail("trailing payload bytes");
        payload_decoded_ = true;
    }

    bool payloads_ = false;
    unsigned fields_ = 1;
    std::uint32_t count_ = 0, blocks_ = 0;
    const std::byte* table_ = nullptr;
    bytes_view data_;
    std::array<doc_id, block_size> docs_{};
    std::uint32_t n_ = 0, pos_ = 0, block_ = 0;
    doc_id doc_ = no_doc;
    doc_id doc_limit_ = no_doc;
    bytes_view block_payload_;
    bool payload_decoded_ = false;
    std::array<std::uint32_t, block_size + 1> payload_start_{};
    std::vector<field_count> fields_of_;
};

// Every document of an encoded list, in order (tests, merges, verify).
inline std::vector<doc_id> decode_all(bytes_view list, bool payloads, unsigned text_fields) {
    postings_cursor c(list, payloads, text_fields);
    std::vector<doc_id> out;
    out.reserve(c.size());
    for (; c.doc() != no_doc; c.next()) out.push_back(c.doc());
    return out;
}

}  // namespace stowage::fts
