// index/text_index.hpp — the in-memory inverted index: documents with text,
// keyword and time fields, searched with AND / OR / NOT, prefixes, field
// filters, time ranges and BM25 top-k.
//
//   index_schema schema;
//   schema.text("name", 2.0).text("summary").keyword("status").time("start");
//   text_index<std::string, unicode_tokenizer> idx(schema);
//   idx.add("42", text_document().text("name", "Weekly sync").keyword("status", "done").time("start", t));
//   idx.search(text_query::words("sync") && text_query::keyword("status", "done"));  // ["42"]
//   idx.top(text_query::any_words("weekly sync"), 10);                              // [{"42", 1.3}]
//
// Structure: segments plus merges, as Lucene and Tantivy do. Each batch of
// changes becomes one immutable segment (index/segment.hpp) appended to an
// ordered list; a key added again supersedes its copy in older segments,
// and a removal is a tombstone, so a change never rewrites what is already
// compressed. Deletions of a segment's documents are a bitmap beside it.
// A tiered policy merges runs of neighbouring segments of similar size
// (log-structured: each document is rewritten O(log n) times), dropping
// deleted documents. Why not a mutable tail over one compressed base: a
// transaction's changes must be persisted as a small delta (the segment is
// that delta, written as is), and readers need a consistent state while a
// writer works (immutable segments make that a pointer swap).
//
// Results: unranked searches return keys in ascending order (documents are
// numbered in key order inside a segment, so each segment's matches are
// sorted and segments are merged); top() returns the best k by BM25
// (index/bm25.hpp), ties broken by ascending key.
//
// Thread safety: searches (search, count, top, contains, stats) run on any
// number of threads, concurrently with one writer; each works on the
// snapshot it started with. Writers (apply, add, remove, publish, optimize)
// are serialized by the index. Durability: none — this is memory; the
// persistent index (inverted_index.hpp) saves segments through a database.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "bm25.hpp"
#include "postings.hpp"
#include "segment.hpp"
#include "text_query.hpp"
#include "tokenizer.hpp"

namespace stowage {

enum class field_kind : std::uint8_t { text, keyword, time };

// The fields of an index: text (tokenized, ranked, with a BM25F weight),
// keyword (exact values, multi-valued) and time (one int64 per document,
// for ranges). Names are unique; each kind numbers its fields in order.
class index_schema {
public:
    struct field {
        std::string name;
        field_kind kind;
        unsigned slot;   // position among the fields of its kind
        double weight;   // text fields
    };

    index_schema& text(std::string name, double weight = 1.0) {
        if (!(weight > 0) || !std::isfinite(weight))
            throw error(errc::bad_input, "index schema: weight of text field " + name + " must be finite and > 0");
        return add(std::move(name), field_kind::text, weight);
    }
    index_schema& keyword(std::string name) { return add(std::move(name), field_kind::keyword, 1.0); }
    index_schema& time(std::string name) { return add(std::move(name), field_kind::time, 1.0); }

    const std::vector<field>& fields() const noexcept { return fields_; }
    const field* find(std::string_view name) const noexcept {
        for (const auto& f : fields_)
            if (f.name == name) return &f;
        return nullptr;
    }
    // The field named `name`, which must be of kind k (bad_input otherwise).
    const field& require(std::string_view name, field_kind k) const {
        const field* f = find(name);
        if (!f) throw error(errc::bad_input, "index has no field \"" + std::string(name) + "\"");
        if (f->kind != k)
            throw error(errc::bad_input, "field \"" + std::string(name) + "\" is a " + kind_name(f->kind) +
                                             " field, not a " + kind_name(k) + " field");
        return *f;
    }
    unsigned count(field_kind k) const noexcept { return counts_[static_cast<int>(k)]; }
    double weight(unsigned text_slot) const noexcept { return weights_[text_slot]; }

    // Names and kinds (not weights: they only affect ranking, and may change
    // without rebuilding).
    std::string signature() const {
        std::string s;
        for (const auto& f : fields_) s += std::string(kind_name(f.kind)) + ":" + f.name + ";";
        return s;
    }

    static const char* kind_name(field_kind k) noexcept {
        switch (k) {
            case field_kind::text: return "text";
            case field_kind::keyword: return "keyword";
            case field_kind::time: return "time";
        }
        return "?";
    }

private:
    index_schema& add(std::string name, field_kind k, double weight) {
        if (name.empty() || name.size() > 128) throw error(errc::bad_input, "index schema: field names are 1-128 bytes");
        for (char c : name)
            if (c == ';' || c == ':' || static_cast<unsigned char>(c) < 0x20)
                throw error(errc::bad_input, "index schema: field name \"" + name + "\" contains ';', ':' or a control byte");
        if (find(name)) throw error(errc::bad_input, "index schema: field \"" + name + "\" declared twice");
        unsigned& n = counts_[static_cast<int>(k)];
        if (k == field_kind::keyword && n >= 254) throw error(errc::bad_input, "index schema: more than 254 keyword fields");
        if (k == field_kind::text && n >= 1024) throw error(errc::bad_input, "index schema: more than 1024 text fields");
        fields_.push_back({std::move(name), k, n++, weight});
        if (k == field_kind::text) weights_.push_back(weight);
        return *this;
    }

    std::vector<field> fields_;
    unsigned counts_[3] = {0, 0, 0};
    std::vector<double> weights_;
};

// A document as the index takes it: values by field name. Text fields may
// be given several times (the values are tokenized separately; tokens
// never join across values), keyword fields hold any number of values,
// a time field at most one.
class text_document {
public:
    struct entry {
        field_kind kind;
        std::string field;
        std::string value;
        std::int64_t time = 0;
    };

    text_document& text(std::string field, std::string value) {
        entries_.push_back({field_kind::text, std::move(field), std::move(value), 0});
        return *this;
    }
    text_document& keyword(std::string field, std::string value) {
        entries_.push_back({field_kind::keyword, std::move(field), std::move(value), 0});
        return *this;
    }
    text_document& time(std::string field, std::int64_t value) {
        entries_.push_back({field_kind::time, std::move(field), {}, value});
        return *this;
    }
    const std::vector<entry>& entries() const noexcept { return entries_; }

private:
    std::vector<entry> entries_;
};

// Changes that become one segment: additions (which replace a document of
// the same key) and removals. A later change to a key in the same batch
// replaces an earlier one.
template <index_key Key>
class index_batch {
public:
    void add(Key key, text_document doc) { ops_.push_back({std::move(key), std::move(doc)}); }
    void remove(Key key) { ops_.push_back({std::move(key), std::nullopt}); }
    std::size_t size() const noexcept { return ops_.size(); }
    bool empty() const noexcept { return ops_.empty(); }
    std::vector<std::pair<Key, std::optional<text_document>>>& ops() noexcept { return ops_; }

private:
    std::vector<std::pair<Key, std::optional<text_document>>> ops_;
};

struct index_stats {
    std::uint64_t documents = 0;  // live
    std::uint64_t deleted = 0;    // still in segments, not yet merged away
    std::uint64_t segments = 0;
    std::uint64_t terms = 0;      // distinct terms (text tokens and keyword values) over all segments
    std::uint64_t postings = 0;   // entries of every posting list, deleted documents included
    std::uint64_t bytes = 0;      // serialized size of every segment
};

struct text_index_options {
    // F: merge a run of neighbouring segments once F of them share a size
    // tier (tier = floor(log_F(documents))). Higher: cheaper writes, more
    // segments per search.
    unsigned merge_factor = 8;
    // Merge automatically after each change (in-memory apply, and inside the
    // writing transaction for the persistent index).
    bool auto_merge = true;
};

template <index_key Key>
struct search_hit {
    Key key;
    double score = 0;
    bool operator==(const search_hit&) const = default;
};

namespace fts {

// Order-independent digest of one document's indexed content, computed
// equally from an analyzed document and from the posting lists (verify()).
inline std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
inline std::uint64_t hash_bytes(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}
inline std::uint64_t text_posting_digest(std::uint64_t term_hash, unsigned field, std::uint32_t count) noexcept {
    return mix64(term_hash ^ (std::uint64_t(field) << 40) ^ (std::uint64_t(count) * 0x2545f4914f6cdd1dull));
}
inline std::uint64_t keyword_posting_digest(std::uint64_t term_hash) noexcept { return mix64(term_hash + 0x51); }
inline std::uint64_t column_digest(std::uint64_t value, unsigned field, unsigned kind) noexcept {
    return mix64(value * 0x9e3779b97f4a7c15ull + (std::uint64_t(field) << 8) + kind);
}

inline std::uint64_t fingerprint(const analyzed_document& d) {
    std::uint64_t fp = 0;
    std::string key;
    for (const auto& t : d.terms) {
        key.assign(1, static_cast<char>(text_tag));
        key += t.token;
        fp += text_posting_digest(hash_bytes(key), t.field, t.count);
    }
    for (const auto& k : d.keywords) fp += keyword_posting_digest(hash_bytes(k));
    for (unsigned f = 0; f < d.lengths.size(); ++f) fp += column_digest(d.lengths[f], f, 1);
    for (unsigned f = 0; f < d.times.size(); ++f)
        if (d.times[f] != no_time) fp += column_digest(static_cast<std::uint64_t>(d.times[f]), f, 2);
    return fp;
}

}  // namespace fts

template <index_key Key, tokenizer Tokenizer>
class text_index {
public:
    using key_type = Key;
    using tokenizer_type = Tokenizer;
    using batch = index_batch<Key>;
    using hit = search_hit<Key>;
    using segment_type = fts::segment<Key>;

    // One segment of the current state and which of its documents are deleted.
    struct live_segment {
        std::uint64_t first = 0, last = 0;  // the range of batch numbers it holds
        std::shared_ptr<const segment_type> seg;
        std::shared_ptr<const std::vector<bool>> deleted;  // null: none
        std::uint32_t deleted_count = 0;
        bool is_deleted(fts::doc_id d) const { return deleted && (*deleted)[d]; }
        std::uint32_t live() const { return seg->size() - deleted_count; }
    };
    // An immutable state; searches run on one.
    struct view {
        std::vector<live_segment> segments;  // ascending by first
        std::uint64_t documents = 0;
        std::vector<std::uint64_t> total_lengths;  // per text field, over live documents
    };

    // A built segment not yet part of the index (the persistent index stages
    // its bytes in a transaction and publishes it when that commits).
    struct prepared_segment {
        std::uint64_t first = 0, last = 0;
        std::shared_ptr<const segment_type> seg;
        std::string name() const { return segment_name(first, last); }
    };
    struct prepared_merge {
        std::vector<std::uint64_t> replaced;  // first numbers of the merged segments
        std::vector<std::string> replaced_names;
        prepared_segment merged;
    };

    explicit text_index(index_schema schema, Tokenizer tok = {}, text_index_options options = {})
        : schema_(std::move(schema)), tokenizer_(std::move(tok)), options_(options) {
        if (options_.merge_factor < 2) throw error(errc::bad_input, "text_index: merge_factor must be at least 2");
        shape_.signature = schema_.signature() + "tokenizer=" + tokenizer_.signature();
        shape_.text_fields = schema_.count(field_kind::text);
        shape_.keyword_fields = schema_.count(field_kind::keyword);
        shape_.time_fields = schema_.count(field_kind::time);
        auto v = std::make_shared<view>();
        v->total_lengths.assign(shape_.text_fields, 0);
        current_ = std::move(v);
    }

    text_index(const text_index&) = delete;
    text_index& operator=(const text_index&) = delete;

    const index_schema& schema() const noexcept { return schema_; }
    const Tokenizer& tokenizer() const noexcept { return tokenizer_; }
    const text_index_options& options() const noexcept { return options_; }
    const fts::segment_shape& shape() const noexcept { return shape_; }
    const std::string& signature() const noexcept { return shape_.signature; }

    static std::string segment_name(std::uint64_t first, std::uint64_t last) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string s(33, '-');
        for (int i = 0; i < 16; ++i) {
            s[static_cast<std::size_t>(15 - i)] = hex[(first >> (4 * i)) & 15];
            s[static_cast<std::size_t>(32 - i)] = hex[(last >> (4 * i)) & 15];
        }
        return s;
    }
    // Inverse of segment_name; nullopt for anything else.
    static std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_segment_name(std::string_view s) {
        if (s.size() != 33 || s[16] != '-') return std::nullopt;
        auto num = [](std::string_view h) -> std::optional<std::uint64_t> {
            std::uint64_t v = 0;
            for (char c : h) {
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0) return std::nullopt;
                v = v * 16 + static_cast<std::uint64_t>(d);
            }
            return v;
        };
        auto a = num(s.substr(0, 16)), b = num(s.substr(17));
        if (!a || !b || *a > *b) return std::nullopt;
        return std::pair{*a, *b};
    }

    // --- searching ---------------------------------------------------------------

    std::shared_ptr<const view> snapshot() const {
        std::lock_guard lock(view_mutex_);
        return current_;
    }

    // Matching keys, ascending.
    std::vector<Key> search(const text_query& q) const {
        auto v = snapshot();
        auto c = compile(q);
        std::vector<Key> out;
        std::vector<std::size_t> bounds;
        for (const auto& s : v->segments) {
            auto docs = evaluate(c, s);
            if (docs.empty()) continue;
            bounds.push_back(out.size());
            for (auto d : docs) out.push_back(s.seg->key(d));
        }
        // Each segment's part is sorted; merge the parts unless they
        // already follow each other (the usual case after a bulk load).
        for (std::size_t i = 1; i < bounds.size(); ++i) {
            auto mid = out.begin() + static_cast<std::ptrdiff_t>(bounds[i]);
            if (!(*mid < *(mid - 1))) continue;
            auto end = i + 1 < bounds.size() ? out.begin() + static_cast<std::ptrdiff_t>(bounds[i + 1]) : out.end();
            std::inplace_merge(out.begin(), mid, end);
        }
        return out;
    }

    std::size_t count(const text_query& q) const {
        auto v = snapshot();
        auto c = compile(q);
        std::size_t n = 0;
        for (const auto& s : v->segments) n += evaluate(c, s).size();
        return n;
    }

    // How many matches of q fall in each calendar month (UTC) of time field
    // `field`, whose values count Duration units since the Unix epoch:
    // {"2024-03": 12, ...}. Documents without a value are not counted;
    // values outside the years 1-9999 count under "out of range".
    template <class Duration = std::chrono::milliseconds>
    std::map<std::string, std::size_t> count_by_month(std::string_view field, const text_query& q = text_query::everything()) const {
        auto v = snapshot();
        auto c = compile(q);
        unsigned slot = schema_.require(field, field_kind::time).slot;
        using namespace std::chrono;
        const auto lo = duration_cast<Duration>(sys_days(year{1} / January / 1).time_since_epoch()).count();
        const auto hi = duration_cast<Duration>(sys_days(year{10000} / January / 1).time_since_epoch()).count();
        std::map<std::int64_t, std::size_t> months;  // months since year 0
        std::size_t outside = 0;
        for (const auto& s : v->segments)
            for (auto d : evaluate(c, s)) {
                std::int64_t t = s.seg->time(slot, d);
                if (t == no_time) continue;
                if (t < lo || t >= hi) {
                    ++outside;
                    continue;
                }
                year_month_day ymd(floor<days>(sys_time<Duration>(Duration(t))));
                ++months[std::int64_t(int(ymd.year())) * 12 + unsigned(ymd.month()) - 1];
            }
        std::map<std::string, std::size_t> out;
        for (auto [m, n] : months) {
            char name[16];
            std::snprintf(name, sizeof name, "%04d-%02d", static_cast<int>(m / 12), static_cast<int>(m % 12 + 1));
            out.emplace(name, n);
        }
        if (outside) out.emplace("out of range", outside);
        return out;
    }

    // A cheap upper bound of count(q), from dictionary counts and time
    // column positions, without evaluating the query (query planners).
    std::size_t estimate(const text_query& q) const {
        auto v = snapshot();
        auto c = compile(q);
        std::size_t n = 0;
        for (const auto& s : v->segments) n += std::min<std::size_t>(estimate(c, *s.seg), s.live());
        return n;
    }

    // The k best matches by BM25, best first (ties: ascending key).
    std::vector<hit> top(const text_query& q, std::size_t k, const bm25_params& params = {}) const {
        params.validate();
        auto v = snapshot();
        auto c = compile(q);
        std::vector<hit> heap;  // min-heap on (score, then larger key = worse)
        if (k == 0) return heap;
        // Heap order "better than": the front is the worst hit kept.
        auto better = [](const hit& a, const hit& b) { return a.score > b.score || (a.score == b.score && a.key < b.key); };
        std::vector<scoring_term> terms;
        collect_scoring_terms(c, false, terms);
        std::vector<double> idf(terms.size());
        for (std::size_t t = 0; t < terms.size(); ++t) idf[t] = fts::bm25_idf(v->documents, document_frequency(*v, terms[t]));
        std::vector<double> average(shape_.text_fields, 0.0);
        for (unsigned f = 0; f < shape_.text_fields; ++f)
            average[f] = v->documents ? static_cast<double>(v->total_lengths[f]) / static_cast<double>(v->documents) : 0.0;
        for (const auto& s : v->segments) {
            auto docs = evaluate(c, s);
            if (docs.empty()) continue;
            std::vector<std::optional<fts::postings_cursor>> cursors(terms.size());
            for (std::size_t t = 0; t < terms.size(); ++t)
                if (auto i = s.seg->find(terms[t].key); i != segment_type::npos) cursors[t] = s.seg->cursor(i);
            for (auto d : docs) {
                double score = 0;
                for (std::size_t t = 0; t < terms.size(); ++t) {
                    if (!cursors[t]) continue;
                    auto& cur = *cursors[t];
                    cur.advance(d);
                    if (cur.doc() != d) continue;
                    double pseudo = 0;
                    cur.for_each_field([&](unsigned f, std::uint32_t tf) {
                        if (terms[t].field >= 0 && static_cast<unsigned>(terms[t].field) != f) return;
                        pseudo += fts::bm25_field_tf(schema_.weight(f), tf, s.seg->length(f, d), average[f], params.b);
                    });
                    score += fts::bm25_saturate(idf[t], pseudo, params.k1);
                }
                if (heap.size() < k) {
                    heap.push_back({s.seg->key(d), score});
                    std::push_heap(heap.begin(), heap.end(), better);
                } else if (score > heap.front().score || (score == heap.front().score && s.seg->key(d) < heap.front().key)) {
                    std::pop_heap(heap.begin(), heap.end(), better);
                    heap.back() = {s.seg->key(d), score};
                    std::push_heap(heap.begin(), heap.end(), better);
                }
            }
        }
        std::sort_heap(heap.begin(), heap.end(), better);
        return heap;
    }

    // Whether key is indexed (the newest copy of a key decides: older copies
    // are always deleted when a newer one exists).
    bool contains(const Key& key) const {
        auto v = snapshot();
        for (auto it = v->segments.rbegin(); it != v->segments.rend(); ++it) {
            const auto& keys = it->seg->keys();
            auto k = std::lower_bound(keys.begin(), keys.end(), key);
            if (k != keys.end() && *k == key) return !it->is_deleted(static_cast<fts::doc_id>(k - keys.begin()));
        }
        return false;
    }

    std::size_t size() const { return static_cast<std::size_t>(snapshot()->documents); }

    index_stats stats() const {
        auto v = snapshot();
        index_stats st;
        st.documents = v->documents;
        st.segments = v->segments.size();
        using at = std::pair<std::string_view, std::size_t>;
        std::priority_queue<at, std::vector<at>, std::greater<>> heap;
        std::vector<std::size_t> next(v->segments.size(), 0);
        for (std::size_t i = 0; i < v->segments.size(); ++i) {
            const auto& s = *v->segments[i].seg;
            st.deleted += v->segments[i].deleted_count;
            st.postings += s.posting_count();
            st.bytes += s.bytes_size();
            if (s.term_count()) heap.push({s.term_key(0), i});
        }
        std::string_view last;
        bool any = false;
        while (!heap.empty()) {
            auto [term, i] = heap.top();
            heap.pop();
            if (!any || term != last) ++st.terms;
            last = term;
            any = true;
            const auto& s = *v->segments[i].seg;
            if (++next[i] < s.term_count()) heap.push({s.term_key(next[i]), i});
        }
        return st;
    }

    // --- writing (in memory) -----------------------------------------------------

    // Applies a batch as one segment, then merges as the policy asks.
    void apply(batch b) {
        if (b.empty()) return;
        std::lock_guard lock(writer_mutex_);
        change_list c;
        c.add(std::make_shared<const prepared_segment>(prepare(std::move(b), next_number_)));
        publish_locked(c);
        if (options_.auto_merge)
            while (auto m = plan_merge(false)) {
                change_list cm;
                cm.add(std::make_shared<const prepared_merge>(std::move(*m)));
                publish_locked(cm);
            }
    }
    void add(Key key, text_document doc) {
        batch b;
        b.add(std::move(key), std::move(doc));
        apply(std::move(b));
    }
    void update(Key key, text_document doc) { add(std::move(key), std::move(doc)); }
    bool remove(const Key& key) {
        bool existed = contains(key);
        batch b;
        b.remove(key);
        apply(std::move(b));
        return existed;
    }
    // Merges every segment into one (deleted documents and tombstones dropped).
    void optimize() {
        std::lock_guard lock(writer_mutex_);
        if (auto m = plan_merge(true)) {
            change_list c;
            c.add(std::make_shared<const prepared_merge>(std::move(*m)));
            publish_locked(c);
        }
    }

    // --- the persistent index's hooks ------------------------------------------------

    // Tokenizes doc into the builder's current document.
    void feed(const text_document& doc, fts::segment_builder<Key>& builder) const {
        std::string key;
        std::vector<bool> timed(shape_.time_fields, false);
        for (const auto& e : doc.entries()) {
            const auto& f = schema_.require(e.field, e.kind);
            switch (e.kind) {
                case field_kind::text:
                    tokenizer_.tokenize(e.value, [&](std::string_view t) { builder.token(t, f.slot); });
                    break;
                case field_kind::keyword:
                    if (e.value.size() > 4096)
                        throw error(errc::bad_input, "keyword field " + f.name + ": a value is longer than 4096 bytes");
                    key.assign(1, static_cast<char>(1 + f.slot));
                    key += e.value;
                    builder.keyword(key);
                    break;
                case field_kind::time:
                    if (e.time == no_time) throw error(errc::bad_input, "time field " + f.name + ": INT64_MIN is not a time");
                    if (timed[f.slot]) throw error(errc::bad_input, "time field " + f.name + " given twice");
                    timed[f.slot] = true;
                    builder.time(f.slot, e.time);
                    break;
            }
        }
    }

    // What indexing doc stores, as a value (verify() digests it).
    fts::analyzed_document analyze(const text_document& doc) const {
        fts::analyzed_document a;
        a.lengths.assign(shape_.text_fields, 0);
        a.times.assign(shape_.time_fields, no_time);
        std::vector<std::pair<std::string, std::uint16_t>> tokens;
        for (const auto& e : doc.entries()) {
            const auto& f = schema_.require(e.field, e.kind);
            switch (e.kind) {
                case field_kind::text:
                    tokenizer_.tokenize(e.value, [&](std::string_view t) {
                        tokens.emplace_back(std::string(t), static_cast<std::uint16_t>(f.slot));
                        ++a.lengths[f.slot];
                    });
                    break;
                case field_kind::keyword:
                    if (e.value.size() > 4096)
                        throw error(errc::bad_input, "keyword field " + f.name + ": a value is longer than 4096 bytes");
                    a.keywords.push_back(fts::keyword_term(f.slot, e.value));
                    break;
                case field_kind::time:
                    if (e.time == no_time) throw error(errc::bad_input, "time field " + f.name + ": INT64_MIN is not a time");
                    if (a.times[f.slot] != no_time) throw error(errc::bad_input, "time field " + f.name + " given twice");
                    a.times[f.slot] = e.time;
                    break;
            }
        }
        std::sort(tokens.begin(), tokens.end());
        for (std::size_t i = 0; i < tokens.size();) {
            std::size_t j = i;
            while (j < tokens.size() && tokens[j] == tokens[i]) ++j;
            a.terms.push_back({std::move(tokens[i].first), tokens[i].second, static_cast<std::uint32_t>(j - i)});
            i = j;
        }
        std::sort(a.keywords.begin(), a.keywords.end());
        a.keywords.erase(std::unique(a.keywords.begin(), a.keywords.end()), a.keywords.end());
        return a;
    }

    // Builds the segment of a batch, numbered `number` (no state changes).
    prepared_segment prepare(batch b, std::uint64_t number) const {
        auto& ops = b.ops();
        std::stable_sort(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
        fts::segment_builder<Key> builder(shape_);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            if (i + 1 < ops.size() && ops[i + 1].first == ops[i].first) continue;  // a later change wins
            if constexpr (std::same_as<Key, std::string>) {
                if (ops[i].first.empty()) throw error(errc::bad_input, "index: empty document key");
            }
            if (!ops[i].second) {
                builder.tombstone(ops[i].first);
                continue;
            }
            builder.begin(ops[i].first);
            feed(*ops[i].second, builder);
            builder.end();
        }
        prepared_segment p;
        p.first = p.last = number;
        p.seg = segment_type::parse(builder.finish(), shape_, segment_name(number, number));
        return p;
    }

    // Changes that become visible together: one transaction's segments,
    // merges, or a reset (the whole index replaced by one segment).
    class change_list {
    public:
        void add(std::shared_ptr<const prepared_segment> s) { items_.push_back({item::segment, std::move(s), nullptr}); }
        void add(std::shared_ptr<const prepared_merge> m) { items_.push_back({item::merge, nullptr, std::move(m)}); }
        void reset(std::shared_ptr<const prepared_segment> s) { items_.push_back({item::reset, std::move(s), nullptr}); }
        bool empty() const noexcept { return items_.empty(); }

    private:
        friend class text_index;
        struct item {
            enum kind_t { segment, merge, reset } kind;
            std::shared_ptr<const prepared_segment> seg;
            std::shared_ptr<const prepared_merge> merge_;
        };
        std::vector<item> items_;
    };

    // Applies the changes in order and makes them visible at once. A
    // segment must be newer than every segment already in the index; a
    // merge's segments must still be there (errc::conflict otherwise, and
    // nothing changes).
    void publish(const change_list& changes) {
        std::lock_guard lock(writer_mutex_);
        publish_locked(changes);
    }
    void publish(const prepared_segment& p) {
        change_list c;
        c.add(std::make_shared<const prepared_segment>(p));
        publish(c);
    }
    void publish(const prepared_merge& m) {
        change_list c;
        c.add(std::make_shared<const prepared_merge>(m));
        publish(c);
    }
    void reset(const prepared_segment& p) {
        change_list c;
        c.reset(std::make_shared<const prepared_segment>(p));
        publish(c);
    }

    // The next merge the policy asks for on the current state (or, with
    // everything, one merge of all segments), built but not published.
    std::optional<prepared_merge> plan_merge(bool everything) const {
        auto v = snapshot();
        const auto& segs = v->segments;
        std::size_t from = 0, to = 0;  // the run [from, to)
        if (everything) {
            if (segs.empty()) return std::nullopt;
            bool clean = segs.size() == 1 && segs[0].deleted_count == 0 && segs[0].seg->tombstones().empty();
            if (clean) return std::nullopt;
            to = segs.size();
        } else {
            auto tier = [&](const live_segment& s) {
                std::uint64_t n = std::max<std::uint64_t>(1, s.live() + s.seg->tombstones().size());
                unsigned t = 0;
                while (n >= options_.merge_factor) {
                    n /= options_.merge_factor;
                    ++t;
                }
                return t;
            };
            // Tiered: the smallest tier t with a run of neighbours of tier
            // <= t holding merge_factor segments of tier t merges that run.
            // Each rewrite lifts a document at least one tier, so it is
            // rewritten O(log n) times; runs may carry smaller segments along.
            std::vector<unsigned> tiers;
            unsigned top = 0;
            for (const auto& s : segs) top = std::max(top, tiers.emplace_back(tier(s)));
            bool found = false;
            for (unsigned t = 0; t <= top && !found; ++t) {
                for (std::size_t i = 0; i < segs.size() && !found;) {
                    if (tiers[i] > t) {
                        ++i;
                        continue;
                    }
                    std::size_t j = i, at_t = 0;
                    for (; j < segs.size() && tiers[j] <= t; ++j) at_t += tiers[j] == t;
                    if (at_t >= options_.merge_factor) {
                        from = i;
                        to = j;
                        found = true;
                    }
                    i = j;
                }
            }
            // A cap for unlucky size patterns: the cheapest window of
            // merge_factor neighbours once there are many segments.
            if (!found && segs.size() > 6 * std::size_t(options_.merge_factor)) {
                std::uint64_t best = ~std::uint64_t{0};
                for (std::size_t i = 0; i + options_.merge_factor <= segs.size(); ++i) {
                    std::uint64_t sum = 0;
                    for (std::size_t k = i; k < i + options_.merge_factor; ++k) sum += segs[k].seg->size() + segs[k].seg->tombstones().size();
                    if (sum < best) {
                        best = sum;
                        from = i;
                        to = i + options_.merge_factor;
                    }
                }
                found = true;
            }
            // A segment mostly deleted is rewritten on its own.
            for (std::size_t i = 0; i < segs.size() && !found; ++i) {
                if (segs[i].seg->size() >= options_.merge_factor && segs[i].deleted_count * 2 > segs[i].seg->size()) {
                    from = i;
                    to = i + 1;
                    found = true;
                }
            }
            if (!found) return std::nullopt;
        }
        std::vector<fts::merge_input<Key>> inputs;
        prepared_merge m;
        for (std::size_t i = from; i < to; ++i) {
            inputs.push_back({segs[i].seg.get(), segs[i].deleted.get()});
            m.replaced.push_back(segs[i].first);
            m.replaced_names.push_back(segment_name(segs[i].first, segs[i].last));
        }
        // Tombstones matter only while an older segment may hold their keys.
        bool keep_tombstones = from > 0;
        m.merged.first = segs[from].first;
        m.merged.last = segs[to - 1].last;
        m.merged.seg = segment_type::parse(fts::merge_segments<Key>(inputs, shape_, keep_tombstones), shape_,
                                           segment_name(m.merged.first, m.merged.last));
        return m;
    }

    // The number the next in-memory batch gets (one past every segment's).
    std::uint64_t next_number() const {
        std::lock_guard lock(writer_mutex_);
        return next_number_;
    }

    // --- checking -------------------------------------------------------------------

    // Every live document's key and fingerprint (fts::fingerprint of what was
    // indexed), recomputed from the posting lists and columns, in key order.
    // Also checks each posting list's structure (order, bounds, counts).
    std::vector<std::pair<Key, std::uint64_t>> fingerprints(std::vector<std::string>* problems = nullptr) const {
        auto v = snapshot();
        std::vector<std::pair<Key, std::uint64_t>> out;
        for (const auto& s : v->segments) {
            const auto& seg = *s.seg;
            std::vector<std::uint64_t> fp(seg.size(), 0);
            for (unsigned f = 0; f < shape_.text_fields; ++f)
                for (fts::doc_id d = 0; d < seg.size(); ++d) fp[d] += fts::column_digest(seg.length(f, d), f, 1);
            for (unsigned f = 0; f < shape_.time_fields; ++f)
                for (fts::doc_id d = 0; d < seg.size(); ++d)
                    if (seg.time(f, d) != no_time) fp[d] += fts::column_digest(static_cast<std::uint64_t>(seg.time(f, d)), f, 2);
            for (std::size_t t = 0; t < seg.term_count(); ++t) {
                auto h = fts::hash_bytes(seg.term_key(t));
                bool text = seg.has_payloads(t);
                std::uint32_t n = 0;
                try {
                    auto c = seg.cursor(t);
                    fts::doc_id prev = 0;
                    for (; c.doc() != fts::no_doc; c.next(), ++n) {
                        fts::doc_id d = c.doc();
                        if (d >= seg.size() || (n && d <= prev)) throw error(errc::corrupt, "documents out of order or range");
                        prev = d;
                        if (text) c.for_each_field([&](unsigned f, std::uint32_t tf) { fp[d] += fts::text_posting_digest(h, f, tf); });
                        else fp[d] += fts::keyword_posting_digest(h);
                    }
                    if (n != seg.term(t).docs) throw error(errc::corrupt, "document count disagrees with the dictionary");
                } catch (const error& e) {
                    if (!problems) throw;
                    problems->push_back("segment " + segment_name(s.first, s.last) + ", term #" + std::to_string(t) + ": " + e.what());
                }
            }
            for (fts::doc_id d = 0; d < seg.size(); ++d)
                if (!s.is_deleted(d)) out.emplace_back(seg.key(d), fp[d]);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    // --- compiled queries ---------------------------------------------------------------

    struct node {
        text_query::kind k;
        text_query::mode m = text_query::mode::all;
        std::vector<std::string> terms;  // term keys (words, keyword) or prefix keys
        int text_field = -1;             // words / prefix restricted to one text field
        unsigned time_field = 0;
        std::int64_t from = 0, to = 0;
        std::vector<node> kids;
    };
    struct scoring_term {
        std::string key;
        int field;
        bool operator==(const scoring_term&) const = default;
    };

    node compile(const text_query& q) const {
        using kind = text_query::kind;
        node n{q.type()};
        auto restrict_to = [&](const std::string& field) {
            if (!field.empty()) n.text_field = static_cast<int>(schema_.require(field, field_kind::text).slot);
        };
        switch (q.type()) {
            case kind::everything:
            case kind::nothing: break;
            case kind::words: {
                restrict_to(q.field());
                n.m = q.match();
                tokenizer_.tokenize(q.text(), [&](std::string_view t) {
                    auto key = fts::text_term(t);
                    if (std::find(n.terms.begin(), n.terms.end(), key) == n.terms.end()) n.terms.push_back(std::move(key));
                });
                if (n.terms.empty()) n.k = kind::nothing;
                break;
            }
            case kind::prefix:
                restrict_to(q.field());
                tokenizer_.tokenize(q.text(), [&](std::string_view t) { n.terms.push_back(fts::text_term(t)); }, false);
                if (n.terms.empty()) n.k = kind::nothing;
                break;
            case kind::keyword:
                n.terms.push_back(fts::keyword_term(schema_.require(q.field(), field_kind::keyword).slot, q.text()));
                break;
            case kind::range:
                n.time_field = schema_.require(q.field(), field_kind::time).slot;
                n.from = q.from();
                n.to = q.to();
                if (n.from > n.to) n.k = kind::nothing;
                break;
            case kind::all_of:
            case kind::any_of:
            case kind::negation:
                for (const auto& c : q.children()) n.kids.push_back(compile(c));
                if (q.type() == kind::all_of && n.kids.empty()) n.k = kind::everything;
                if (q.type() == kind::any_of && n.kids.empty()) n.k = kind::nothing;
                break;
        }
        return n;
    }

    void collect_scoring_terms(const node& n, bool negated, std::vector<scoring_term>& out) const {
        using kind = text_query::kind;
        if (n.k == kind::negation) negated = !negated;
        if (n.k == kind::words && !negated)
            for (const auto& t : n.terms) {
                scoring_term s{t, n.text_field};
                if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
            }
        for (const auto& k : n.kids) collect_scoring_terms(k, negated, out);
    }

    std::uint64_t document_frequency(const view& v, const scoring_term& t) const {
        std::uint64_t df = 0;
        for (const auto& s : v.segments) {
            auto i = s.seg->find(t.key);
            if (i == segment_type::npos) continue;
            if (s.deleted_count == 0 && (t.field) < 0) {
                df += s.seg->term(i).docs;
                continue;
            }
            for (auto c = s.seg->cursor(i); c.doc() != fts::no_doc; c.next())
                if (!s.is_deleted(c.doc()) && ((t.field) < 0 || c.in_field(static_cast<unsigned>(t.field)))) ++df;
        }
        return df;
    }

    std::size_t estimate(const node& n, const segment_type& seg) const {
        using kind = text_query::kind;
        auto docs = [&](const std::string& key) -> std::size_t {
            auto i = seg.find(key);
            return i == segment_type::npos ? 0 : seg.term(i).docs;
        };
        std::size_t all = seg.size();
        switch (n.k) {
            case kind::everything: return all;
            case kind::nothing: return 0;
            case kind::keyword: return docs(n.terms[0]);
            case kind::words: {
                std::size_t e = n.m == text_query::mode::all ? all : 0;
                for (const auto& t : n.terms) e = n.m == text_query::mode::all ? std::min(e, docs(t)) : e + docs(t);
                return std::min(e, all);
            }
            case kind::prefix: {
                std::size_t e = all;
                for (const auto& key : n.terms) {
                    std::size_t sum = 0, seen = 0;
                    for (std::size_t i = seg.lower(key); i < seg.term_count() && seg.term_key(i).starts_with(key) && sum < all; ++i, ++seen)
                        sum += seg.term(i).docs;
                    e = std::min(e, sum);
                }
                return e;
            }
            case kind::range: {
                const auto& order = seg.time_order(n.time_field);
                auto lo = std::lower_bound(order.begin(), order.end(), std::pair{n.from, fts::doc_id{0}});
                auto hi = std::upper_bound(order.begin(), order.end(), std::pair{n.to, fts::no_doc});
                return hi > lo ? static_cast<std::size_t>(hi - lo) : 0;
            }
            case kind::all_of: {
                std::size_t e = all;
                for (const auto& k : n.kids)
                    if (k.k != kind::negation) e = std::min(e, estimate(k, seg));
                return e;
            }
            case kind::any_of: {
                std::size_t e = 0;
                for (const auto& k : n.kids) e += estimate(k, seg);
                return std::min(e, all);
            }
            case kind::negation: return all;
        }
        return all;
    }

    // --- evaluation over one segment -------------------------------------------------------

    using doc_list = std::vector<fts::doc_id>;

    class doc_iterator {
    public:
        virtual ~doc_iterator() = default;
        virtual fts::doc_id doc() const = 0;
        virtual void next() = 0;
        virtual void advance(fts::doc_id target) = 0;
        virtual std::uint64_t cost() const = 0;
    };

    class posting_iterator final : public doc_iterator {
    public:
        posting_iterator(fts::postings_cursor c, int field) : c_(std::move(c)), field_(field) { settle(); }
        fts::doc_id doc() const override { return c_.doc(); }
        void next() override {
            c_.next();
            settle();
        }
        void advance(fts::doc_id t) override {
            c_.advance(t);
            settle();
        }
        std::uint64_t cost() const override { return c_.size(); }

    private:
        void settle() {
            if (field_ < 0) return;
            while (c_.doc() != fts::no_doc && !c_.in_field(static_cast<unsigned>(field_))) c_.next();
        }
        fts::postings_cursor c_;
        int field_;
    };

    class list_iterator final : public doc_iterator {
    public:
        explicit list_iterator(doc_list docs) : docs_(std::move(docs)) {}
        fts::doc_id doc() const override { return pos_ < docs_.size() ? docs_[pos_] : fts::no_doc; }
        void next() override { ++pos_; }
        void advance(fts::doc_id t) override {
            if (pos_ >= docs_.size() || docs_[pos_] >= t) return;
            std::size_t step = 1, lo = pos_, hi = pos_ + 1;  // gallop, then bisect
            while (hi < docs_.size() && docs_[hi] < t) {
                lo = hi;
                hi += step;
                step *= 2;
            }
            hi = std::min(hi, docs_.size());
            pos_ = static_cast<std::size_t>(std::lower_bound(docs_.begin() + static_cast<std::ptrdiff_t>(lo),
                                                             docs_.begin() + static_cast<std::ptrdiff_t>(hi), t) -
                                            docs_.begin());
        }
        std::uint64_t cost() const override { return docs_.size() - std::min(pos_, docs_.size()); }

    private:
        doc_list docs_;
        std::size_t pos_ = 0;
    };

    class all_iterator final : public doc_iterator {
    public:
        explicit all_iterator(fts::doc_id n) : n_(n) {}
        fts::doc_id doc() const override { return d_ < n_ ? d_ : fts::no_doc; }
        void next() override { ++d_; }
        void advance(fts::doc_id t) override { d_ = std::max(d_, t); }
        std::uint64_t cost() const override { return n_; }

    private:
        fts::doc_id n_, d_ = 0;
    };

    // The live documents of s matching n, ascending.
    doc_list evaluate(const node& n, const live_segment& s) const {
        doc_list docs = eval(n, s);
        if (s.deleted_count) std::erase_if(docs, [&](fts::doc_id d) { return (*s.deleted)[d]; });
        return docs;
    }

    doc_list eval(const node& n, const live_segment& s) const {
        using kind = text_query::kind;
        const auto& seg = *s.seg;
        switch (n.k) {
            case kind::everything: {
                doc_list all(seg.size());
                std::iota(all.begin(), all.end(), fts::doc_id{0});
                return all;
            }
            case kind::nothing: return {};
            case kind::words:
                if (n.m == text_query::mode::all) return intersect(std::span<const node>(&n, 1), s);
                return unite_terms(n.terms, n.text_field, s, false);
            case kind::keyword: return drain(term_iterator(n.terms[0], -1, s).get());
            case kind::prefix: return intersect(std::span<const node>(&n, 1), s);
            case kind::range: return time_range(n, seg);
            case kind::all_of: return intersect(n.kids, s);
            case kind::any_of: {
                std::vector<doc_list> parts;
                for (const auto& k : n.kids) parts.push_back(eval(k, s));
                return unite(parts, seg.size());
            }
            case kind::negation: {
                node all{kind::all_of};
                all.kids.push_back(n);
                return intersect(all.kids, s);
            }
        }
        return {};
    }

    std::unique_ptr<doc_iterator> term_iterator(const std::string& key, int field, const live_segment& s) const {
        auto i = s.seg->find(key);
        if (i == segment_type::npos) return nullptr;
        return std::make_unique<posting_iterator>(s.seg->cursor(i), field);
    }

    static doc_list drain(doc_iterator* it) {
        doc_list out;
        if (!it) return out;
        out.reserve(static_cast<std::size_t>(it->cost()));
        for (; it->doc() != fts::no_doc; it->next()) out.push_back(it->doc());
        return out;
    }

    // Documents holding any term (prefix: any term starting with one of them).
    doc_list unite_terms(const std::vector<std::string>& keys, int field, const live_segment& s, bool prefix) const {
        std::vector<doc_list> parts;
        auto add = [&](std::size_t term) {
            if (field < 0) {  // whole blocks at a time
                auto c = s.seg->cursor(term);
                parts.emplace_back();
                c.drain(parts.back());
            } else {
                posting_iterator it(s.seg->cursor(term), field);
                parts.push_back(drain(&it));
            }
        };
        for (const auto& key : keys) {
            if (!prefix) {
                if (auto i = s.seg->find(key); i != segment_type::npos) add(i);
                continue;
            }
            for (std::size_t i = s.seg->lower(key); i < s.seg->term_count() && s.seg->term_key(i).starts_with(key); ++i) add(i);
        }
        return unite(parts, s.seg->size());
    }

    // The union of sorted lists: merged when they are few, a bitmap when
    // they cover much of the segment, a sort otherwise.
    static doc_list unite(std::vector<doc_list>& parts, fts::doc_id n) {
        std::erase_if(parts, [](const doc_list& p) { return p.empty(); });
        if (parts.empty()) return {};
        if (parts.size() == 1) return std::move(parts[0]);
        std::size_t total = 0;
        for (const auto& p : parts) total += p.size();
        doc_list out;
        if (parts.size() <= 4 && total * 16 < n * std::size_t(parts.size())) {  // a few lists: merge them
            out = std::move(parts[0]);
            doc_list merged;
            for (std::size_t i = 1; i < parts.size(); ++i) {
                merged.clear();
                merged.reserve(out.size() + parts[i].size());
                std::set_union(out.begin(), out.end(), parts[i].begin(), parts[i].end(), std::back_inserter(merged));
                out.swap(merged);
            }
        } else if (total * 16 >= n) {
            std::vector<bool> bits(n);
            for (const auto& p : parts)
                for (auto d : p) bits[d] = true;
            out.reserve(total);
            for (fts::doc_id d = 0; d < n; ++d)
                if (bits[d]) out.push_back(d);
        } else {
            out.reserve(total);
            for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
            std::sort(out.begin(), out.end());
            out.erase(std::unique(out.begin(), out.end()), out.end());
        }
        return out;
    }

    doc_list time_range(const node& n, const segment_type& seg) const {
        const auto& order = seg.time_order(n.time_field);
        auto lo = std::lower_bound(order.begin(), order.end(), std::pair{n.from, fts::doc_id{0}});
        auto hi = std::upper_bound(order.begin(), order.end(), std::pair{n.to, fts::no_doc});
        doc_list out;
        if (hi <= lo) return out;
        auto matched = static_cast<std::size_t>(hi - lo);
        if (matched * 8 >= seg.size()) {  // most of the segment: scan the column in document order
            const auto& times = seg.times(n.time_field);
            out.reserve(matched);
            for (fts::doc_id d = 0; d < seg.size(); ++d)
                if (times[d] != no_time && times[d] >= n.from && times[d] <= n.to) out.push_back(d);
        } else {
            for (auto it = lo; it != hi; ++it) out.push_back(it->second);
            std::sort(out.begin(), out.end());
        }
        return out;
    }

    // The conjunction of nodes: the cheapest iterator leads, the others
    // advance to its candidates (skipping blocks), negated nodes exclude.
    doc_list intersect(std::span<const node> nodes, const live_segment& s) const {
        using kind = text_query::kind;
        std::vector<std::unique_ptr<doc_iterator>> positive, negative;
        auto add_list = [&](doc_list l) {
            if (l.empty()) return false;
            positive.push_back(std::make_unique<list_iterator>(std::move(l)));
            return true;
        };
        for (const auto& n : nodes) {
            if (n.k == kind::everything) continue;
            if (n.k == kind::nothing) return {};
            if (n.k == kind::keyword || (n.k == kind::words && n.m == text_query::mode::all)) {
                for (const auto& key : n.terms) {  // every term must be there: join its postings directly
                    auto it = term_iterator(key, n.text_field, s);
                    if (!it) return {};
                    positive.push_back(std::move(it));
                }
            } else if (n.k == kind::prefix) {
                for (const auto& key : n.terms)
                    if (!add_list(unite_terms({key}, n.text_field, s, true))) return {};
            } else if (n.k == kind::negation) {
                const node& inner = n.kids.front();
                bool single = inner.k == kind::keyword || (inner.k == kind::words && inner.terms.size() == 1);
                if (single) {
                    if (auto it = term_iterator(inner.terms[0], inner.text_field, s)) negative.push_back(std::move(it));
                } else if (auto l = eval(inner, s); !l.empty()) {
                    negative.push_back(std::make_unique<list_iterator>(std::move(l)));
                }
            } else if (!add_list(eval(n, s))) {
                return {};
            }
        }
        if (positive.empty()) positive.push_back(std::make_unique<all_iterator>(s.seg->size()));
        std::sort(positive.begin(), positive.end(), [](const auto& a, const auto& b) { return a->cost() < b->cost(); });
        doc_list out;
        auto& lead = *positive[0];
        fts::doc_id d = lead.doc();
        while (d != fts::no_doc) {
            bool all = true;
            for (std::size_t i = 1; i < positive.size(); ++i) {
                positive[i]->advance(d);
                fts::doc_id e = positive[i]->doc();
                if (e != d) {
                    d = e;
                    all = false;
                    break;
                }
            }
            if (!all) {
                if (d == fts::no_doc) break;
                lead.advance(d);
                d = lead.doc();
                continue;
            }
            bool excluded = false;
            for (auto& neg : negative) {
                neg->advance(d);
                if (neg->doc() == d) {
                    excluded = true;
                    break;
                }
            }
            if (!excluded) out.push_back(d);
            lead.next();
            d = lead.doc();
        }
        return out;
    }

    // --- publishing ---------------------------------------------------------------------------

    struct location {
        std::uint64_t first;  // the segment (by its first number)
        fts::doc_id doc;
    };

    // One publication: a private copy of the view, changed in place. A
    // segment's deletion bitmap is copied the first time this publication
    // changes it (readers keep the old one).
    struct edit {
        view& v;
        std::vector<const std::vector<bool>*> owned;
        explicit edit(view& v_) : v(v_) {}
        std::size_t index_of(std::uint64_t first) const {
            auto it = std::lower_bound(v.segments.begin(), v.segments.end(), first,
                                       [](const live_segment& s, std::uint64_t f) { return s.first < f; });
            if (it == v.segments.end() || it->first != first) throw error(errc::corrupt, "text_index: segment vanished");
            return static_cast<std::size_t>(it - v.segments.begin());
        }
        // Marks a document deleted; with `counted`, it was live until now.
        void erase(std::uint64_t first, fts::doc_id d, bool counted, unsigned text_fields) {
            auto& s = v.segments[index_of(first)];
            if (!s.deleted || std::find(owned.begin(), owned.end(), s.deleted.get()) == owned.end()) {
                s.deleted = s.deleted ? std::make_shared<std::vector<bool>>(*s.deleted)
                                      : std::make_shared<std::vector<bool>>(s.seg->size(), false);
                owned.push_back(s.deleted.get());
            }
            auto& bits = const_cast<std::vector<bool>&>(*s.deleted);  // created just above, by this edit
            if (bits[d]) return;
            bits[d] = true;
            ++s.deleted_count;
            if (counted) {
                --v.documents;
                for (unsigned f = 0; f < text_fields; ++f) v.total_lengths[f] -= s.seg->length(f, d);
            }
        }
    };

    void publish_locked(const change_list& changes) {
        auto v = std::make_shared<view>(*snapshot());
        // Check everything first (on the segment list alone): a failed
        // publication changes nothing.
        {
            std::vector<std::uint64_t> firsts;
            std::uint64_t last = v->segments.empty() ? 0 : v->segments.back().last;
            for (const auto& s : v->segments) firsts.push_back(s.first);
            for (const auto& it : changes.items_) {
                if (it.kind == change_list::item::merge) {
                    const auto& r = it.merge_->replaced;
                    auto at = r.empty() ? firsts.end() : std::find(firsts.begin(), firsts.end(), r.front());
                    if (r.empty() || firsts.end() - at < static_cast<std::ptrdiff_t>(r.size()) || !std::equal(r.begin(), r.end(), at))
                        throw error(errc::conflict, "text_index: merge of segments that changed meanwhile");
                    *at = it.merge_->merged.first;
                    firsts.erase(at + 1, at + static_cast<std::ptrdiff_t>(r.size()));
                    continue;
                }
                if (it.kind == change_list::item::segment && it.seg->first <= last)
                    throw error(errc::bad_input, "text_index: segment " + it.seg->name() + " is not newer than the index");
                if (it.kind == change_list::item::reset) firsts.clear();
                firsts.push_back(it.seg->first);
                last = it.seg->last;
            }
        }
        edit e(*v);
        for (const auto& it : changes.items_) {
            if (it.kind == change_list::item::segment) add_segment(e, *it.seg);
            else if (it.kind == change_list::item::merge) add_merge(e, *it.merge_);
            else add_reset(*v, *it.seg);
        }
        install(std::move(v));
    }

    void add_segment(edit& e, const prepared_segment& p) {
        view& v = e.v;
        const auto& seg = *p.seg;
        for (const auto& key : seg.tombstones()) {
            auto it = ids_.find(key);
            if (it == ids_.end()) continue;
            e.erase(it->second.first, it->second.doc, true, shape_.text_fields);
            ids_.erase(it);
        }
        v.segments.push_back({p.first, p.last, p.seg, nullptr, 0});
        for (fts::doc_id d = 0; d < seg.size(); ++d) {
            auto [it, inserted] = ids_.try_emplace(seg.key(d), location{p.first, d});
            if (!inserted) {
                e.erase(it->second.first, it->second.doc, true, shape_.text_fields);
                it->second = {p.first, d};
            }
            ++v.documents;
            for (unsigned f = 0; f < shape_.text_fields; ++f) v.total_lengths[f] += seg.length(f, d);
        }
        next_number_ = std::max(next_number_, p.last + 1);
    }

    void add_merge(edit& e, const prepared_merge& m) {
        view& v = e.v;
        // The merged segments must all still be there, side by side.
        std::size_t at = e.index_of(m.replaced.front());
        for (std::size_t i = 0; i < m.replaced.size(); ++i)
            if (at + i >= v.segments.size() || v.segments[at + i].first != m.replaced[i])
                throw error(errc::conflict, "text_index: merge of segments that changed meanwhile");
        v.segments.erase(v.segments.begin() + static_cast<std::ptrdiff_t>(at),
                         v.segments.begin() + static_cast<std::ptrdiff_t>(at + m.replaced.size()));
        v.segments.insert(v.segments.begin() + static_cast<std::ptrdiff_t>(at),
                          live_segment{m.merged.first, m.merged.last, m.merged.seg, nullptr, 0});
        const auto& seg = *m.merged.seg;
        for (fts::doc_id d = 0; d < seg.size(); ++d) {
            auto it = ids_.find(seg.key(d));
            // Live in a merged segment: it moves. Otherwise it was replaced
            // or removed after the merge was planned: already not counted.
            bool moved = it != ids_.end() && std::binary_search(m.replaced.begin(), m.replaced.end(), it->second.first);
            if (moved) it->second = {m.merged.first, d};
            else e.erase(m.merged.first, d, false, shape_.text_fields);
        }
    }

    void add_reset(view& v, const prepared_segment& p) {
        v.segments.clear();
        v.documents = 0;
        v.total_lengths.assign(shape_.text_fields, 0);
        ids_.clear();
        v.segments.push_back({p.first, p.last, p.seg, nullptr, 0});
        for (fts::doc_id d = 0; d < p.seg->size(); ++d) {
            ids_.emplace(p.seg->key(d), location{p.first, d});
            ++v.documents;
            for (unsigned f = 0; f < shape_.text_fields; ++f) v.total_lengths[f] += p.seg->length(f, d);
        }
        next_number_ = std::max(next_number_, p.last + 1);
    }

    void install(std::shared_ptr<view> v) {
        std::lock_guard lock(view_mutex_);
        current_ = std::move(v);
    }

    index_schema schema_;
    Tokenizer tokenizer_;
    text_index_options options_;
    fts::segment_shape shape_;

    mutable std::mutex view_mutex_;
    std::shared_ptr<const view> current_;

    mutable std::mutex writer_mutex_;
    std::unordered_map<Key, location> ids_;  // live keys (writer side)
    std::uint64_t next_number_ = 1;
};

}  // namespace stowage
