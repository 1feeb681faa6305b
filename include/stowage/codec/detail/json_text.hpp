// codec/detail/json_text.hpp — the JSON text layer shared by json_codec and
// json_document: the writer's escaping and number checks, and a parse session
// over simdjson's On-Demand parser that reports errors with a byte position
// and a field path.
//
// Why On-Demand rather than DOM: the DOM parser converts numbers on the way in
// and refuses those a double cannot hold (1e400), but json_document must keep
// every number's text exactly. The readers built on this session visit every
// value of the document (unknown fields included), so the whole text is
// validated, not only the parts a type reads.
//
// Thread safety: each thread parses with its own parser (thread_local);
// re-entrant use on one thread falls back to a fresh parser.
// Durability: not applicable.
#pragma once

#include <simdjson.h>

#include <array>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "../../bytes.hpp"
#include "../../error.hpp"
#include "failure.hpp"

namespace stowage::detail {

// Nesting deeper than this is refused (bad_input), so hostile input cannot
// exhaust the stack of the recursive readers. It is counted per document
// across all readers (typed values, skipped fields, json_value), and kept
// below simdjson's own limit (DEFAULT_MAX_DEPTH), which its debug checks
// assert on.
inline constexpr unsigned json_max_depth = 1000;
static_assert(json_max_depth + 8 < simdjson::DEFAULT_MAX_DEPTH);

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

// Appends text to a byte buffer or a std::string. insert, not resize: a
// resize zero-fills the new bytes before they are copied over.
template <class Out>
inline void json_append_text(Out& out, std::string_view s) {
    const auto* p = reinterpret_cast<const typename Out::value_type*>(s.data());
    out.insert(out.end(), p, p + s.size());
}

template <class Out>
inline void json_append_char(Out& out, char c) {
    out.push_back(static_cast<typename Out::value_type>(c));
}

inline bool is_valid_utf8(std::string_view s) noexcept {
    return simdjson::validate_utf8(s.data(), s.size());
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and
// code points above U+10FFFF included), or s.size() when s is valid.
inline std::size_t first_invalid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c == 0xED) len = 3, hi = 0x9F;  // no UTF-16 surrogates
        else if (c >= 0xE1 && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing above U+10FFFF
        else return i;
        if (i + len > n) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (std::size_t k = 2; k < len; ++k)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
        i += len;
    }
    return n;
}

// Offset of the first byte at or after `from` that a JSON string cannot hold
// as it is (a control character, '"' or '\\'), or that is not ASCII when
// `stop_at_non_ascii`; s.size() when there is none. Eight bytes at a time:
// most strings have nothing to escape, and scanning them byte by byte was
// most of the cost of encoding an entity.
inline std::size_t json_find_special(std::string_view s, std::size_t from, bool stop_at_non_ascii) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = from;
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101ull;
        constexpr std::uint64_t highs = 0x8080808080808080ull;
        const std::uint64_t high_mask = stop_at_non_ascii ? highs : 0;
        for (; i + 8 <= n; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            // The classic "has a byte less than k / equal to k" tests: each
            // flags the lowest matching byte exactly (a borrow only runs
            // upwards), so the lowest flag of their union is the first
            // special byte. A non-ASCII byte raises none of the three
            // (its own high bit is clear in ~w); high_mask catches it.
            const std::uint64_t quote = w ^ (ones * '"');
            const std::uint64_t backslash = w ^ (ones * '\\');
            std::uint64_t m = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
            m = (m & highs) | (w & high_mask);
            if (m) return i + static_cast<std::size_t>(std::countr_zero(m)) / 8;
        }
    }
    for (; i < n; ++i) {
        const unsigned c = p[i];
        if (c < 0x20 || c == '"' || c == '\\' || (c >= 0x80 && stop_at_non_ascii)) return i;
    }
    return n;
}

// Writes s as a JSON string literal: quotes, backslash and control characters
// escaped, everything else (all of non-ASCII) written as UTF-8. Invalid UTF-8
// is refused: a record holding it could not be read back. The UTF-8 check
// runs only once a non-ASCII byte turns up (ASCII is always valid), from
// that byte on.
template <class Out>
inline void append_json_string(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    json_append_char(out, '"');
    bool checked_utf8 = false;
    std::size_t run = 0;  // start of the pending run of bytes that need no escape
    for (std::size_t i = json_find_special(s, 0, true); i < s.size(); i = json_find_special(s, i, !checked_utf8)) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            if (!is_valid_utf8(s.substr(i)))
                throw codec_failure{"string is not valid UTF-8 (byte " + std::to_string(first_invalid_utf8(s)) + ")"};
            checked_utf8 = true;
            continue;  // now scanned past: non-ASCII bytes need no escape
        }
        json_append_text(out, s.substr(run, i - run));
        run = ++i;
        switch (c) {
            case '"': json_append_text(out, "\\\""); break;
            case '\\': json_append_text(out, "\\\\"); break;
            case '\n': json_append_text(out, "\\n"); break;
            case '\r': json_append_text(out, "\\r"); break;
            case '\t': json_append_text(out, "\\t"); break;
            case '\b': json_append_text(out, "\\b"); break;
            case '\f': json_append_text(out, "\\f"); break;
            default: {
                const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                json_append_text(out, std::string_view(esc, 6));
            }
        }
    }
    json_append_text(out, s.substr(run));
    json_append_char(out, '"');
}

template <class Out, class I>
inline void append_integer(Out& out, I v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    json_append_text(out, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

// Shortest text that reads back as exactly v (std::to_chars' guarantee).
// NaN and infinities have no JSON form: bad_input.
template <class Out, class F>
inline void append_floating(Out& out, F v) {
    if (!(v == v) || v - v != 0) throw codec_failure{"NaN or infinity cannot be written as JSON"};
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    json_append_text(out, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool is_json_number(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    auto digit = [&](std::size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
    if (i < n && s[i] == '-') ++i;
    if (!digit(i)) return false;
    if (s[i] == '0') ++i;
    else
        while (digit(i)) ++i;
    if (i < n && s[i] == '.') {
        ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
    }
    return i == n;
}

inline constexpr bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

inline std::string_view trim_json_space(std::string_view s) noexcept {
    while (!s.empty() && is_json_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_json_space(s.back())) s.remove_suffix(1);
    return s;
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

// Where simdjson's first pass (which reports no position) found its error:
// the first invalid UTF-8 byte, the first raw control character inside a
// string, or the start of an unterminated string.
inline std::size_t locate_stage1_error(std::string_view s) noexcept {
    if (std::size_t bad = first_invalid_utf8(s); bad != s.size()) return bad;
    bool in_string = false;
    std::size_t string_start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (!in_string) {
            if (c == '"') in_string = true, string_start = i;
        } else if (c == '\\') {
            ++i;
        } else if (c == '"') {
            in_string = false;
        } else if (c < 0x20) {
            return i;
        }
    }
    return in_string ? string_start : std::string::npos;
}

// One parse: the input copied into a padded buffer (simdjson reads a little
// past the end), the document, and helpers that report failures.
class json_session {
public:
    using document = simdjson::ondemand::document;
    using value = simdjson::ondemand::value;

    explicit json_session(std::string_view json) : text_(json) {
        auto& st = state();
        if (st.busy) {  // re-entered on this thread: use a private parser
            own_ = std::make_unique<parser_state>();
            st_ = own_.get();
        } else {
            st_ = &st;
        }
        st_->busy = true;
        const std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
        if (st_->capacity < need) {
            st_->buffer.reset(new char[need]);
            st_->capacity = need;
        }
        if (!json.empty()) std::memcpy(st_->buffer.get(), json.data(), json.size());
        std::memset(st_->buffer.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
        auto err = st_->parser.iterate(st_->buffer.get(), json.size(), st_->capacity).get(doc_);
        if (err) {
            codec_failure f{stage1_message(err), {}, locate_stage1_error(json)};
            release();
            throw f;
        }
    }
    ~json_session() { release(); }
    json_session(const json_session&) = delete;
    json_session& operator=(const json_session&) = delete;

    document& doc() noexcept { return doc_; }
    std::string_view text() const noexcept { return text_; }

    // Byte offset of the parser's current position (npos when unknown).
    std::size_t offset() noexcept {
        const char* loc = nullptr;
        if (doc_.current_location().get(loc) != simdjson::SUCCESS || !loc) return text_.size();
        const char* base = st_->buffer.get();
        if (loc < base || loc > base + text_.size()) return std::string::npos;
        return static_cast<std::size_t>(loc - base);
    }

    [[noreturn]] void fail(std::string message) { throw codec_failure{std::move(message), {}, offset()}; }

    // Held while reading an array or object: refuses nesting beyond
    // json_max_depth.
    class nesting {
    public:
        explicit nesting(json_session& s) : s_(s) {
            if (++s_.depth_ > json_max_depth) {
                --s_.depth_;
                s_.fail("nesting deeper than " + std::to_string(json_max_depth) + " levels");
            }
        }
        ~nesting() { --s_.depth_; }
        nesting(const nesting&) = delete;
        nesting& operator=(const nesting&) = delete;

    private:
        json_session& s_;
    };
    [[noreturn]] void fail(simdjson::error_code e) { fail(describe(e)); }

    // Whether objects read as untyped values (json_value, json_document)
    // refuse a key they already hold. Set for input (json_document::parse);
    // records already stored are read as they were written, so data kept by
    // an older version stays readable.
    bool unique_keys = false;
    void check(simdjson::error_code e) {
        if (e != simdjson::SUCCESS) fail(e);
    }

    // After an array or object root has been read to its end: nothing but
    // whitespace may follow.
    void expect_end_after_container() {
        const char* loc = nullptr;
        auto e = doc_.current_location().get(loc);
        if (e == simdjson::OUT_OF_BOUNDS) return;
        throw codec_failure{"unexpected content after the JSON value", {}, offset()};
    }

    // A scalar root is a single token: the whole text, less whitespace, must
    // be that token.
    void expect_single_token(std::string_view token) {
        if (trim_json_space(text_) != trim_json_space(token))
            throw codec_failure{"unexpected content after the JSON value", {},
                               static_cast<std::size_t>(token.data() - st_->buffer.get()) + trim_json_space(token).size()};
    }

    static std::string describe(simdjson::error_code e) {
        switch (e) {
            case simdjson::TAPE_ERROR:
            case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "malformed JSON structure";
            case simdjson::STRING_ERROR: return "invalid string (bad escape or surrogate)";
            case simdjson::T_ATOM_ERROR:
            case simdjson::F_ATOM_ERROR:
            case simdjson::N_ATOM_ERROR: return "invalid literal";
            case simdjson::NUMBER_ERROR: return "invalid number";
            case simdjson::NUMBER_OUT_OF_RANGE: return "number out of range";
            case simdjson::DEPTH_ERROR: return "nesting too deep";
            case simdjson::INCORRECT_TYPE: return "malformed value";
            default: return simdjson::error_message(e);
        }
    }

private:
    struct parser_state {
        simdjson::ondemand::parser parser;
        std::unique_ptr<char[]> buffer;
        std::size_t capacity = 0;
        bool busy = false;
    };
    static parser_state& state() {
        thread_local parser_state st;
        return st;
    }
    static std::string stage1_message(simdjson::error_code e) {
        switch (e) {
            case simdjson::EMPTY: return "empty input (no JSON value)";
            case simdjson::UTF8_ERROR: return "invalid UTF-8";
            case simdjson::UNESCAPED_CHARS: return "unescaped control character in a string";
            case simdjson::UNCLOSED_STRING: return "unterminated string";
            case simdjson::CAPACITY: return "document too large";
            default: return describe(e);
        }
    }
    void release() noexcept {
        if (!st_) return;
        st_->busy = false;
        // Do not keep a huge document's buffers alive on the thread forever.
        if (st_->capacity > (std::size_t{16} << 20)) {
            st_->buffer.reset();
            st_->capacity = 0;
            st_->parser = simdjson::ondemand::parser{};
        }
        st_ = nullptr;
    }

    std::string_view text_;
    parser_state* st_ = nullptr;
    std::unique_ptr<parser_state> own_;
    document doc_;
    unsigned depth_ = 0;
};

// The keys of one object being read, to refuse a repeated one: RFC 8259
// leaves its meaning to the reader (JavaScript keeps the last, others the
// first), so a document holding one means different things to different
// programs. The views stay valid for the whole parse: simdjson unescapes
// keys into a buffer the parser keeps until the next document. A linear scan
// for small objects, a hash set past 16 keys (a hostile object with a
// million keys stays O(n)).
class json_key_set {
public:
    void add(std::string_view key, json_session& s) {
        bool repeated = false;
        if (n_ < small_.size()) {
            for (std::size_t i = 0; i < n_ && !repeated; ++i) repeated = small_[i] == key;
            small_[n_++] = key;
        } else {
            if (hashed_.empty()) hashed_.insert(small_.begin(), small_.end());
            repeated = !hashed_.insert(key).second;
        }
        if (repeated)
            s.fail("repeated key \"" + std::string(key.substr(0, 64)) + "\" (an object may hold each key once)");
    }

private:
    std::array<std::string_view, 16> small_{};
    std::size_t n_ = 0;
    std::unordered_set<std::string_view> hashed_;
};

}  // namespace stowage::detail
