// index/segment.hpp — an immutable piece of an inverted index: some
// documents, their posting lists and dictionary, and the keys they delete.
//
// An index is an ordered list of segments (index/text_index.hpp). A segment
// is written once — by one batch of additions and removals, or by merging
// neighbouring segments — and never changed; deletions of its documents by
// later segments are kept beside it in memory. Within a segment, documents
// are numbered 0..n-1 in ascending key order, so a query's matches in one
// segment come out already sorted by key.
//
// Serialized form (all integers little-endian; varints LEB128):
//
//   "STIX"  u32 format version (1)
//   varint+bytes  schema signature (field names and kinds, tokenizer)
//   varint  n, the number of documents
//   keys    ascending; strings front-coded (varint shared prefix, varint
//           suffix length, suffix), integers as varint gaps
//   per text field:  n varints, each document's token count in that field
//   per time field:  a presence bitmap (ceil(n/8) bytes), then a zigzag
//                    varint per present value
//   varint  t, then t tombstone keys (keys this segment deletes from older
//           segments), encoded as the document keys
//   varint  m, the number of terms; per term, ascending by its key bytes:
//           front-coded term key, varint document count, varint list size
//   posting lists, concatenated in term order (index/postings.hpp), then
//           8 zero bytes of read padding
//   u32     CRC-32C of every byte before it
//
// A term key is one tag byte and the term: tag 0 for tokens of text fields
// (one list per token across all text fields; the payload says which fields
// and how often), tag 1+k for exact values of keyword field k. Every read
// checks the CRC first, then bounds while parsing: damage is errc::corrupt
// or errc::checksum_mismatch, never a wrong answer.
//
// Thread safety: a built segment is immutable and may be searched from any
// number of threads; builders are single-threaded.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <queue>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../bytes.hpp"
#include "../error.hpp"
#include "../hash/crc32c.hpp"
#include "postings.hpp"

namespace stowage {

// What an index can use as a document key: a string (entity ids) or an
// unsigned integer (the `stowage index` command's numeric ids).
template <class K>
concept index_key = std::same_as<K, std::string> || std::same_as<K, std::uint64_t>;

// Absent time values are stored as this (a real time of INT64_MIN is refused).
inline constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

namespace fts {

inline constexpr std::uint32_t segment_format_version = 1;
inline constexpr std::uint8_t text_tag = 0;

// A document as the segment builder takes it: already tokenized.
struct analyzed_document {
    struct term {
        std::string token;
        std::uint16_t field = 0;  // text field index
        std::uint32_t count = 0;
    };
    std::vector<term> terms;                 // sorted by (token, field), unique
    std::vector<std::uint32_t> lengths;      // per text field: number of tokens
    std::vector<std::string> keywords;       // term keys (tag 1+k, value), sorted, unique
    std::vector<std::int64_t> times;         // per time field; no_time when absent
};

// The shape every segment of one index shares.
struct segment_shape {
    std::string signature;  // compared byte for byte on load
    unsigned text_fields = 0;
    unsigned keyword_fields = 0;
    unsigned time_fields = 0;
};

inline std::string keyword_term(unsigned keyword_field, std::string_view value) {
    std::string key(1, static_cast<char>(1 + keyword_field));
    key += value;
    return key;
}
inline std::string text_term(std::string_view token) {
    std::string key(1, static_cast<char>(text_tag));
    key += token;
    return key;
}

// --- keys ------------------------------------------------------------------------

inline void put_bytes(bytes& out, std::string_view s) {
    put_varint(out, s.size());
    append(out, as_bytes(s));
}

inline std::size_t shared_prefix(std::string_view a, std::string_view b) noexcept {
    std::size_t n = std::min(a.size(), b.size()), i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

template <index_key Key>
void put_keys(bytes& out, const std::vector<Key>& keys) {
    if constexpr (std::same_as<Key, std::string>) {
        std::string_view prev;
        for (const auto& k : keys) {
            std::size_t shared = shared_prefix(prev, k);
            put_varint(out, shared);
            put_bytes(out, std::string_view(k).substr(shared));
            prev = k;
        }
    } else {
        std::uint64_t prev = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            put_varint(out, i ? keys[i] - prev - 1 : keys[i]);
            prev = keys[i];
        }
    }
}

template <index_key Key>
std::vector<Key> read_keys(byte_reader& r, std::uint64_t n) {
    std::vector<Key> keys;
    keys.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, r.remaining())));
    if constexpr (std::same_as<Key, std::string>) {
        std::string prev;
        for (std::uint64_t i = 0; i < n; ++i) {
            auto shared = r.varint();
            if (shared > prev.size()) r.fail("key prefix longer than the previous key");
            std::string k = prev.substr(0, static_cast<std::size_t>(shared));
            k += r.chars(static_cast<std::size_t>(r.varint()));
            if (i && k <= prev) r.fail("keys out of order");
            prev = k;
            keys.push_back(std::move(k));
        }
    } else {
        std::uint64_t prev = 0;
        for (std::uint64_t i = 0; i < n; ++i) {
            auto gap = r.varint();
            std::uint64_t k = i ? prev + gap + 1 : gap;
            if (i && (k <= prev || gap == std::numeric_limits<std::uint64_t>::max())) r.fail("keys out of order");
            keys.push_back(k);
            prev = k;
        }
    }
    return keys;
}

inline std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// --- the segment -------------------------------------------------------------------

template <index_key Key>
class segment {
public:
    struct term_entry {
        std::uint32_t key_offset, key_size;  // in term_pool_
        std::uint32_t docs;                  // documents holding the term
        std::uint64_t offset, size;          // its posting list in data_
    };

    // Parses and checks serialized bytes (CRC first). `name` is for errors.
    static std::shared_ptr<const segment> parse(bytes data, const segment_shape& shape, std::string_view name) {
        auto s = std::shared_ptr<segment>(new segment());
        s->data_ = std::move(data);
        s->parse_all(shape, std::string(name));
        return s;
    }

    std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(keys_.size()); }
    const Key& key(doc_id d) const { return keys_[d]; }
    const std::vector<Key>& keys() const noexcept { return keys_; }
    const std::vector<Key>& tombstones() const noexcept { return tombstones_; }
    std::uint32_t length(unsigned field, doc_id d) const { return lengths_[field][d]; }
    const std::vector<std::uint32_t>& lengths(unsigned field) const { return lengths_[field]; }
    std::int64_t time(unsigned field, doc_id d) const { return times_[field][d]; }
    const std::vector<std::int64_t>& times(unsigned field) const { return times_[field]; }
    // (time, document) of every present value, ascending.
    const std::vector<std::pair<std::int64_t, doc_id>>& time_order(unsigned field) const { return time_order_[field]; }
    std::size_t bytes_size() const noexcept { return data_.size(); }
    const bytes& data() const noexcept { return data_; }
    std::size_t term_count() const noexcept { return terms_.size(); }
    std::uint64_t posting_count() const noexcept { return postings_; }
    unsigned text_fields() const noexcept { return text_fields_; }

    std::string_view term_key(std::size_t t) const {
        return std::string_view(term_pool_).substr(terms_[t].key_offset, terms_[t].key_size);
    }
    const term_entry& term(std::size_t t) const { return terms_[t]; }

    // The term's index, or npos.
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    std::size_t find(std::string_view term_key) const {
        auto it = lower(term_key);
        return it != terms_.size() && this->term_key(it) == term_key ? it : npos;
    }
    // First term whose key is >= k.
    std::size_t lower(std::string_view k) const {
        std::size_t lo = 0, hi = terms_.size();
        while (lo < hi) {
            std::size_t mid = lo + (hi - lo) / 2;
            if (term_key(mid) < k) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    postings_cursor cursor(std::size_t t) const {
        const auto& e = terms_[t];
        bool payloads = !term_pool_.empty() && term_pool_[e.key_offset] == static_cast<char>(text_tag);
        return postings_cursor(bytes_view(data_).subspan(static_cast<std::size_t>(e.offset), static_cast<std::size_t>(e.size)),
                               payloads, text_fields_, size());
    }
    bool has_payloads(std::size_t t) const { return term_pool_[terms_[t].key_offset] == static_cast<char>(text_tag); }

private:
    segment() = default;

    void parse_all(const segment_shape& shape, const std::string& name) {
        if (data_.size() < 12 + read_padding)
            throw error(errc::corrupt, "index segment " + name + ": " + std::to_string(data_.size()) + " bytes is too short");
        std::uint32_t stored = load_u32(data_.data() + data_.size() - 4);
        if (crc32c::of(bytes_view(data_).first(data_.size() - 4)) != stored)
            throw error(errc::checksum_mismatch, "index segment " + name);
        std::string what = "index segment " + name;
        byte_reader r(bytes_view(data_).first(data_.size() - 4 - read_padding), what.c_str());
        if (r.chars(4) != "STIX") r.fail("not an index segment");
        if (auto v = r.u32(); v != segment_format_version)
            throw error(errc::unsupported, what + ": format version " + std::to_string(v));
        auto sig = r.chars(static_cast<std::size_t>(r.varint()));
        if (sig != shape.signature)
            throw error(errc::bad_input, what + " was written for a different schema or tokenizer (\"" + std::string(sig) +
                                             "\", this index is \"" + shape.signature + "\")");
        text_fields_ = shape.text_fields;
        auto n = r.varint();
        if (n >= no_doc) r.fail("too many documents");
        keys_ = read_keys<Key>(r, n);
        lengths_.resize(shape.text_fields);
        for (auto& l : lengths_) {
            l.resize(static_cast<std::size_t>(n));
            for (auto& x : l) x = r.varint32();
        }
        times_.resize(shape.time_fields);
        time_order_.resize(shape.time_fields);
        for (unsigned f = 0; f < shape.time_fields; ++f) {
            auto bitmap = r.take(static_cast<std::size_t>((n + 7) / 8));
            auto& t = times_[f];
            t.assign(static_cast<std::size_t>(n), no_time);
            for (std::size_t d = 0; d < n; ++d) {
                if (!(std::to_integer<unsigned>(bitmap[d / 8]) & (1u << (d % 8)))) continue;
                t[d] = unzigzag(r.varint());
                if (t[d] == no_time) r.fail("time value out of range");
                time_order_[f].emplace_back(t[d], static_cast<doc_id>(d));
            }
            std::sort(time_order_[f].begin(), time_order_[f].end());
        }
        tombstones_ = read_keys<Key>(r, r.varint());
        auto m = r.varint();
        if (m > r.remaining()) r.fail("term count larger than the segment");
        terms_.reserve(static_cast<std::size_t>(m));
        std::string prev;
        std::uint64_t offset = 0;
        for (std::uint64_t i = 0; i < m; ++i) {
            auto shared = r.varint();
            if (shared > prev.size()) r.fail("term prefix longer than the previous term");
            prev.resize(static_cast<std::size_t>(shared));
            prev += r.chars(static_cast<std::size_t>(r.varint()));
            if (prev.empty()) r.fail("empty term");
            if (i && std::string_view(prev) <= term_key(terms_.size() - 1)) r.fail("terms out of order");
            auto tag = static_cast<unsigned char>(prev[0]);
            if (tag > shape.keyword_fields) r.fail("term of an unknown field");
            term_entry e;
            e.key_offset = static_cast<std::uint32_t>(term_pool_.size());
            e.key_size = static_cast<std::uint32_t>(prev.size());
            e.docs = r.varint32();
            if (e.docs == 0 || e.docs > n) r.fail("term document count out of range");
            e.size = r.varint();
            e.offset = offset;
            offset += e.size;
            postings_ += e.docs;
            term_pool_ += prev;
            terms_.push_back(e);
        }
        if (offset != r.remaining()) r.fail("posting lists do not fill the segment");
        const std::uint64_t base = r.pos();
        for (auto& e : terms_) e.offset += base;
        for (std::size_t i = data_.size() - 4 - read_padding; i < data_.size() - 4; ++i)
            if (data_[i] != std::byte{0}) r.fail("read padding is not zero");
    }

    bytes data_;
    std::vector<Key> keys_;
    std::vector<Key> tombstones_;
    std::vector<std::vector<std::uint32_t>> lengths_;
    std::vector<std::vector<std::int64_t>> times_;
    std::vector<std::vector<std::pair<std::int64_t, doc_id>>> time_order_;
    std::string term_pool_;
    std::vector<term_entry> terms_;
    std::uint64_t postings_ = 0;
    unsigned text_fields_ = 0;
};

// --- building ----------------------------------------------------------------------

namespace detail {

// One term of a segment being written: its key, how many documents hold
// it, and the size of its list in the postings area.
struct term_out {
    std::string key;
    std::uint32_t docs = 0;
    std::uint64_t size = 0;
};

// Serializes the parts; shared by the builder and the merger. `postings`
// holds the terms' lists, concatenated in term order.
template <index_key Key>
class segment_writer {
public:
    explicit segment_writer(const segment_shape& shape) : shape_(shape) {}

    bytes write(const std::vector<Key>& keys, const std::vector<std::vector<std::uint32_t>>& lengths,
                const std::vector<std::vector<std::int64_t>>& times, const std::vector<Key>& tombstones,
                const std::vector<term_out>& terms, bytes_view postings) const {
        bytes out;
        std::size_t total = 64 + postings.size() + keys.size() * 4 + tombstones.size() * 4;
        for (const auto& t : terms) total += t.key.size() / 2 + 6;
        out.reserve(total);
        append(out, as_bytes("STIX"));
        put_u32(out, segment_format_version);
        put_bytes(out, shape_.signature);
        put_varint(out, keys.size());
        put_keys(out, keys);
        for (const auto& l : lengths)
            for (auto x : l) put_varint(out, x);
        for (const auto& t : times) {
            std::size_t at = out.size();
            out.resize(out.size() + (keys.size() + 7) / 8);
            for (std::size_t d = 0; d < t.size(); ++d) {
                if (t[d] == no_time) continue;
                out[at + d / 8] |= static_cast<std::byte>(1u << (d % 8));
                put_varint(out, zigzag(t[d]));
            }
        }
        put_varint(out, tombstones.size());
        put_keys(out, tombstones);
        put_varint(out, terms.size());
        std::string_view prev;
        for (const auto& t : terms) {
            std::size_t shared = shared_prefix(prev, t.key);
            put_varint(out, shared);
            put_bytes(out, std::string_view(t.key).substr(shared));
            put_varint(out, t.docs);
            put_varint(out, t.size);
            prev = t.key;
        }
        append(out, postings);
        out.resize(out.size() + read_padding);
        put_u32(out, crc32c::of(out));
        return out;
    }

private:
    segment_shape shape_;
};

}  // namespace detail

namespace detail {

// Interns strings: each distinct string gets a dense number. Open
// addressing over one byte arena: a bulk build looks up every token
// occurrence here, so no allocation per lookup and no node per string.
class string_interner {
public:
    std::uint32_t intern(std::string_view s) {
        if ((count_ + 1) * 2 > slots_.size()) grow();
        std::uint64_t h = hash(s);
        std::size_t mask = slots_.size() - 1, i = static_cast<std::size_t>(h) & mask;
        while (std::uint32_t slot = slots_[i]) {
            std::uint32_t id = slot - 1;
            if (hashes_[id] == h && view(id) == s) return id;
            i = (i + 1) & mask;
        }
        std::uint32_t id = static_cast<std::uint32_t>(offsets_.size());
        offsets_.push_back(arena_.size());
        sizes_.push_back(static_cast<std::uint32_t>(s.size()));
        hashes_.push_back(h);
        arena_.append(s);
        slots_[i] = id + 1;
        ++count_;
        return id;
    }
    std::string_view view(std::uint32_t id) const { return std::string_view(arena_).substr(offsets_[id], sizes_[id]); }
    std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(offsets_.size()); }

private:
    static std::uint64_t hash(std::string_view s) noexcept {
        std::uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
        std::size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        }
        std::uint64_t tail = 0;
        std::memcpy(&tail, s.data() + i, s.size() - i);
        h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
        return h ^ (h >> 29);
    }
    void grow() {
        std::vector<std::uint32_t> slots(std::max<std::size_t>(1024, slots_.size() * 2), 0);
        std::size_t mask = slots.size() - 1;
        for (std::uint32_t id = 0; id < offsets_.size(); ++id) {
            std::size_t i = static_cast<std::size_t>(hashes_[id]) & mask;
            while (slots[i]) i = (i + 1) & mask;
            slots[i] = id + 1;
        }
        slots_ = std::move(slots);
    }

    std::string arena_;
    std::vector<std::size_t> offsets_;
    std::vector<std::uint32_t> sizes_;
    std::vector<std::uint64_t> hashes_;
    std::vector<std::uint32_t> slots_;
    std::size_t count_ = 0;
};

}  // namespace detail

// Builds one segment from documents given in strictly ascending key order,
// token by token (no per-document token lists), and tombstones:
//
//   builder.begin(key); builder.token("word", field)...; builder.keyword(term_key)...;
//   builder.time(field, t); builder.end();
//
// Occurrences go to one flat array; finish() groups it by term with a
// counting sort (stable, so each term's documents stay in order).
template <index_key Key>
class segment_builder {
public:
    explicit segment_builder(segment_shape shape) : shape_(std::move(shape)) {
        lengths_.resize(shape_.text_fields);
        times_.resize(shape_.time_fields);
    }

    void begin(Key key) {
        if (open_) throw error(errc::bad_input, "segment: begin() without end()");
        if (!keys_.empty() && !(keys_.back() < key)) throw error(errc::bad_input, "segment: keys must ascend, without repeats");
        keys_.push_back(std::move(key));
        for (auto& l : lengths_) l.push_back(0);
        for (auto& t : times_) t.push_back(no_time);
        open_ = true;
    }
    void token(std::string_view t, unsigned field) {
        doc_terms_.push_back({tokens_.intern(t), static_cast<std::uint16_t>(field)});
        ++lengths_[field].back();
    }
    void keyword(std::string_view term_key) { keyword_entries_.push_back({keywords_.intern(term_key), doc()}); }
    void time(unsigned field, std::int64_t t) { times_[field].back() = t; }
    void end() {
        // This document's (term, field) pairs, sorted, become counted occurrences.
        std::sort(doc_terms_.begin(), doc_terms_.end());
        for (std::size_t i = 0; i < doc_terms_.size();) {
            std::size_t j = i;
            while (j < doc_terms_.size() && doc_terms_[j] == doc_terms_[i]) ++j;
            text_entries_.push_back({doc_terms_[i].first, doc(), doc_terms_[i].second, static_cast<std::uint32_t>(j - i)});
            i = j;
        }
        doc_terms_.clear();
        // A keyword given twice counts once.
        auto first = keyword_entries_.begin() + static_cast<std::ptrdiff_t>(doc_keywords_begin_);
        std::sort(first, keyword_entries_.end());
        keyword_entries_.erase(std::unique(first, keyword_entries_.end()), keyword_entries_.end());
        doc_keywords_begin_ = keyword_entries_.size();
        open_ = false;
    }
    // Drops the document begun last (its analysis failed).
    void abandon() {
        if (!open_) return;
        keys_.pop_back();
        for (auto& l : lengths_) l.pop_back();
        for (auto& t : times_) t.pop_back();
        doc_terms_.clear();
        keyword_entries_.resize(doc_keywords_begin_);
        open_ = false;
    }
    void tombstone(Key key) { tombstones_.push_back(std::move(key)); }

    std::size_t documents() const noexcept { return keys_.size(); }

    bytes finish() {
        if (open_) throw error(errc::bad_input, "segment: finish() inside a document");
        std::sort(tombstones_.begin(), tombstones_.end());
        tombstones_.erase(std::unique(tombstones_.begin(), tombstones_.end()), tombstones_.end());
        std::vector<detail::term_out> terms;
        terms.reserve(tokens_.size() + keywords_.size());
        bytes postings;
        encode_text(terms, postings);
        encode_keywords(terms, postings);
        return detail::segment_writer<Key>(shape_).write(keys_, lengths_, times_, tombstones_, terms, postings);
    }

private:
    struct text_entry {
        std::uint32_t term, doc;
        std::uint16_t field;
        std::uint32_t count;
    };
    std::uint32_t doc() const { return static_cast<std::uint32_t>(keys_.size() - 1); }

    // Entries grouped by term (counting sort), each group in document order.
    template <class E, class TermOf>
    static std::vector<E> group(const std::vector<E>& entries, std::uint32_t terms, TermOf term_of, std::vector<std::size_t>& start) {
        start.assign(std::size_t(terms) + 1, 0);
        for (const auto& e : entries) ++start[term_of(e) + 1];
        for (std::size_t t = 0; t < terms; ++t) start[t + 1] += start[t];
        std::vector<std::size_t> at(start.begin(), start.end() - 1);
        std::vector<E> out(entries.size());
        for (const auto& e : entries) out[at[term_of(e)]++] = e;
        return out;
    }

    static std::vector<std::uint32_t> by_key(const detail::string_interner& in) {
        std::vector<std::uint32_t> order(in.size());
        std::iota(order.begin(), order.end(), 0u);
        std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return in.view(a) < in.view(b); });
        return order;
    }

    void encode_text(std::vector<detail::term_out>& terms, bytes& postings) {
        std::vector<std::size_t> start;
        auto grouped = group(text_entries_, tokens_.size(), [](const text_entry& e) { return e.term; }, start);
        text_entries_ = {};
        std::vector<field_count> occ;
        postings_encoder enc(true, shape_.text_fields);
        for (std::uint32_t t : by_key(tokens_)) {
            if (start[t] == start[t + 1]) continue;  // only in an abandoned document
            enc.clear();
            for (std::size_t i = start[t]; i < start[t + 1];) {
                std::uint32_t d = grouped[i].doc;
                occ.clear();
                for (; i < start[t + 1] && grouped[i].doc == d; ++i) occ.push_back({grouped[i].field, grouped[i].count});
                enc.add(d, occ);
            }
            std::size_t before = postings.size();
            enc.finish(postings);
            std::string key(1, static_cast<char>(text_tag));
            key += tokens_.view(t);
            terms.push_back({std::move(key), enc.size(), postings.size() - before});
        }
    }

    void encode_keywords(std::vector<detail::term_out>& terms, bytes& postings) {
        std::vector<std::size_t> start;
        auto grouped = group(keyword_entries_, keywords_.size(), [](const auto& e) { return e.first; }, start);
        postings_encoder enc;
        for (std::uint32_t t : by_key(keywords_)) {
            if (start[t] == start[t + 1]) continue;
            enc.clear();
            for (std::size_t i = start[t]; i < start[t + 1]; ++i) enc.add(grouped[i].second);
            std::size_t before = postings.size();
            enc.finish(postings);
            terms.push_back({std::string(keywords_.view(t)), enc.size(), postings.size() - before});
        }
    }

    segment_shape shape_;
    std::vector<Key> keys_;
    std::vector<std::vector<std::uint32_t>> lengths_;
    std::vector<std::vector<std::int64_t>> times_;
    std::vector<Key> tombstones_;
    detail::string_interner tokens_, keywords_;
    std::vector<std::pair<std::uint32_t, std::uint16_t>> doc_terms_;
    std::vector<text_entry> text_entries_;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> keyword_entries_;  // (keyword term, doc)
    std::size_t doc_keywords_begin_ = 0;
    bool open_ = false;
};

// One input of a merge: a segment and which of its documents are deleted.
template <index_key Key>
struct merge_input {
    const segment<Key>* seg = nullptr;
    const std::vector<bool>* deleted = nullptr;  // may be null: none
};

// Writes one segment holding every live document of `inputs` (neighbours in
// index order, oldest first) and, if keep_tombstones, their tombstones.
template <index_key Key>
bytes merge_segments(const std::vector<merge_input<Key>>& inputs, const segment_shape& shape, bool keep_tombstones) {
    // New numbering: live documents of all inputs in key order.
    struct src {
        std::uint32_t input;
        doc_id doc;
    };
    std::vector<src> order;
    for (std::uint32_t i = 0; i < inputs.size(); ++i)
        for (doc_id d = 0; d < inputs[i].seg->size(); ++d)
            if (!inputs[i].deleted || !(*inputs[i].deleted)[d]) order.push_back({i, d});
    std::stable_sort(order.begin(), order.end(), [&](const src& a, const src& b) {
        return inputs[a.input].seg->key(a.doc) < inputs[b.input].seg->key(b.doc);
    });
    std::vector<std::vector<doc_id>> remap(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) remap[i].assign(inputs[i].seg->size(), no_doc);
    std::vector<Key> keys;
    keys.reserve(order.size());
    std::vector<std::vector<std::uint32_t>> lengths(shape.text_fields);
    std::vector<std::vector<std::int64_t>> times(shape.time_fields);
    for (std::size_t n = 0; n < order.size(); ++n) {
        const auto& s = *inputs[order[n].input].seg;
        const Key& k = s.key(order[n].doc);
        if (!keys.empty() && !(keys.back() < k))
            throw error(errc::corrupt, "index merge: two live documents share a key");
        keys.push_back(k);
        remap[order[n].input][order[n].doc] = static_cast<doc_id>(n);
        for (unsigned f = 0; f < shape.text_fields; ++f) lengths[f].push_back(s.length(f, order[n].doc));
        for (unsigned f = 0; f < shape.time_fields; ++f) times[f].push_back(s.time(f, order[n].doc));
    }
    std::vector<Key> tombstones;
    if (keep_tombstones) {
        for (const auto& in : inputs) tombstones.insert(tombstones.end(), in.seg->tombstones().begin(), in.seg->tombstones().end());
        std::sort(tombstones.begin(), tombstones.end());
        tombstones.erase(std::unique(tombstones.begin(), tombstones.end()), tombstones.end());
    }
    // Terms: a k-way merge of the sorted dictionaries.
    using cursor_at = std::pair<std::string_view, std::uint32_t>;  // term key, input
    std::priority_queue<cursor_at, std::vector<cursor_at>, std::greater<>> heap;
    std::vector<std::size_t> next(inputs.size(), 0);
    for (std::uint32_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].seg->term_count()) heap.push({inputs[i].seg->term_key(0), i});
    std::vector<detail::term_out> terms;
    bytes lists;
    struct posting {
        doc_id doc;
        std::uint32_t first, count;  // slice of occ
    };
    std::vector<posting> postings;
    std::vector<field_count> occ;
    while (!heap.empty()) {
        std::string term(heap.top().first);
        postings.clear();
        occ.clear();
        bool payloads = static_cast<unsigned char>(term[0]) == text_tag;
        while (!heap.empty() && heap.top().first == term) {
            auto i = heap.top().second;
            heap.pop();
            const auto& s = *inputs[i].seg;
            auto c = s.cursor(next[i]);
            for (; c.doc() != no_doc; c.next()) {
                doc_id to = remap[i][c.doc()];
                if (to == no_doc) continue;
                auto first = static_cast<std::uint32_t>(occ.size());
                c.for_each_field([&](unsigned f, std::uint32_t n) { occ.push_back({static_cast<std::uint16_t>(f), n}); });
                postings.push_back({to, first, static_cast<std::uint32_t>(occ.size()) - first});
            }
            if (++next[i] < s.term_count()) heap.push({s.term_key(next[i]), i});
        }
        if (postings.empty()) continue;
        std::sort(postings.begin(), postings.end(), [](const posting& a, const posting& b) { return a.doc < b.doc; });
        postings_encoder enc(payloads, shape.text_fields);
        for (const auto& p : postings) enc.add(p.doc, std::span<const field_count>(occ).subspan(p.first, p.count));
        std::size_t before = lists.size();
        enc.finish(lists);
        terms.push_back({std::move(term), enc.size(), lists.size() - before});
    }
    return detail::segment_writer<Key>(shape).write(keys, lengths, times, tombstones, terms, lists);
}

}  // namespace fts
}  // namespace stowage
