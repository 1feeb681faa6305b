// codec/json_document.hpp — an untyped JSON object, kept exactly.
//
// json_document is what the `stowage` command stores: any JSON object, with
// every member (any nesting) in its original order, and
// every number kept as its original text, so 1e400 and
// 123456789012345678901234567890 survive a round trip that a double or an
// int64 would not. Strings are kept unescaped (as UTF-8) and re-escaped by
// dump(), so only insignificant whitespace and the choice of escapes change.
//
//     auto doc = stowage::json_document::parse(R"({"id":"s1","n":1e400})");
//     doc.id();                       // "s1"
//     doc.find("n")->number_text();   // "1e400"
//     doc.set("name", "Weekly sync");
//     doc.dump();                     // {"id":"s1","n":1e400,"name":"Weekly sync"}
//
// json_value is one JSON value: null, boolean, number (text), string, array
// or object (a vector of members). Accessors of the wrong kind throw
// errc::bad_input. Both json_codec and binary_codec encode json_document and
// json_value (as a whole record or as a field of a described struct).
//
// Parsing uses simdjson On-Demand and visits every value, so the whole text is
// validated (RFC 8259: no trailing commas, comments, NaN, leading zeros, raw
// control characters, invalid UTF-8, or content after the value); errors are
// errc::bad_input naming the byte offset and the path ("tags[3]").
// Nesting is limited to 1000 levels. parse() refuses an object that holds
// a key twice (readers disagree on which one counts); json_codec reads a
// stored json_document as it was written, repeated keys included, so
// records written before that rule stay readable (find() then sees the last).
//
// Thread safety: a value type; const member functions may be called
// concurrently, mutation needs exclusive access.
// Durability: not applicable.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../bytes.hpp"
#include "../error.hpp"
#include "detail/json_text.hpp"

namespace stowage {

class json_value {
public:
    enum class kind : unsigned char { null, boolean, number, string, array, object };
    using array = std::vector<json_value>;
    using member = std::pair<std::string, json_value>;
    using object = std::vector<member>;

    json_value() noexcept = default;
    json_value(std::nullptr_t) noexcept {}
    json_value(bool b) noexcept : v_(b) {}
    template <std::integral I>
        requires(!std::same_as<I, bool> && !std::same_as<I, char>)
    json_value(I i) : v_(number_t{}) {
        detail::append_integer(std::get<number_t>(v_).text, i);
    }
    // The shortest text that reads back as exactly d; NaN/Inf are bad_input.
    json_value(double d) : v_(number_t{}) {
        if (!(d == d) || d - d != 0) throw error(errc::bad_input, "json_value: NaN or infinity is not a JSON number");
        detail::append_floating(std::get<number_t>(v_).text, d);
    }
    json_value(std::string s) noexcept : v_(std::move(s)) {}
    json_value(std::string_view s) : v_(std::string(s)) {}
    json_value(const char* s) : v_(std::string(s)) {}
    json_value(array a) noexcept : v_(std::move(a)) {}
    json_value(object o) noexcept : v_(std::move(o)) {}

    // A number given as JSON text, kept verbatim ("1e400", "0.10").
    static json_value number(std::string_view text) {
        if (!detail::is_json_number(text))
            throw error(errc::bad_input, "json_value: not a JSON number: \"" + std::string(text.substr(0, 64)) + "\"");
        json_value v;
        v.v_ = number_t{std::string(text)};
        return v;
    }

    kind type() const noexcept { return static_cast<kind>(v_.index()); }
    bool is_null() const noexcept { return type() == kind::null; }
    bool is_bool() const noexcept { return type() == kind::boolean; }
    bool is_number() const noexcept { return type() == kind::number; }
    bool is_string() const noexcept { return type() == kind::string; }
    bool is_array() const noexcept { return type() == kind::array; }
    bool is_object() const noexcept { return type() == kind::object; }

    bool as_bool() const { return expect<bool>(kind::boolean); }
    std::string_view number_text() const { return expect<number_t>(kind::number).text; }
    const std::string& as_string() const { return expect<std::string>(kind::string); }
    std::string& as_string() { return expect<std::string>(kind::string); }
    const array& as_array() const { return expect<array>(kind::array); }
    array& as_array() { return expect<array>(kind::array); }
    const object& as_object() const { return expect<object>(kind::object); }
    object& as_object() { return expect<object>(kind::object); }

    // The nearest double; a number beyond double's range is bad_input.
    double as_double() const {
        auto t = number_text();
        double d = 0;
        auto r = std::from_chars(t.data(), t.data() + t.size(), d);
        if (r.ec != std::errc{} || r.ptr != t.data() + t.size())
            throw error(errc::bad_input, "json_value: number " + std::string(t.substr(0, 64)) + " does not fit a double");
        return d;
    }

    // The number as I when it is an integer written without fraction or
    // exponent and fits I; nullopt otherwise.
    template <std::integral I>
    std::optional<I> as_integer() const {
        auto t = number_text();
        I i{};
        auto r = std::from_chars(t.data(), t.data() + t.size(), i);
        if (r.ec != std::errc{} || r.ptr != t.data() + t.size()) return std::nullopt;
        return i;
    }

    // The member named key of an object (the last one if the key repeats, as
    // JavaScript and Python read it); nullptr if absent or not an object.
    const json_value* find(std::string_view key) const noexcept {
        if (!is_object()) return nullptr;
        const auto& o = std::get<object>(v_);
        for (auto it = o.rbegin(); it != o.rend(); ++it)
            if (it->first == key) return &it->second;
        return nullptr;
    }
    json_value* find(std::string_view key) noexcept {
        return const_cast<json_value*>(std::as_const(*this).find(key));
    }

    // Compact JSON text. Strings must be valid UTF-8 (bad_input otherwise,
    // naming the path of the string).
    std::string dump() const {
        std::string out;
        try {
            write(out);
        } catch (const detail::codec_failure& f) {
            detail::throw_codec_failure(f, "json_value", errc::bad_input);
        }
        return out;
    }
    // Appends the text to out (std::string or bytes); throws
    // detail::codec_failure, which the entry points turn into errors.
    template <class Out>
    void write(Out& out) const;

    // Exact equality: numbers compare by their text ("1.0" != "1"), objects
    // member by member in order.
    friend bool operator==(const json_value& a, const json_value& b) noexcept { return a.v_ == b.v_; }

    static constexpr std::string_view kind_name(kind k) noexcept {
        constexpr std::string_view names[] = {"null", "boolean", "number", "string", "array", "object"};
        return names[static_cast<int>(k)];
    }

private:
    struct number_t {
        std::string text;
        friend bool operator==(const number_t&, const number_t&) = default;
    };

    template <class T>
    const T& expect(kind k) const {
        if (type() != k)
            throw error(errc::bad_input, std::string("json_value: expected ") + std::string(kind_name(k)) +
                                             ", is " + std::string(kind_name(type())));
        return std::get<T>(v_);
    }
    template <class T>
    T& expect(kind k) {
        return const_cast<T&>(std::as_const(*this).template expect<T>(k));
    }

    friend struct detail_json_value_access;
    friend class json_document;

    template <class Out>
    static void write_members(Out& out, const object& members) {
        detail::json_append_char(out, '{');
        bool first = true;
        for (const auto& [k, e] : members) {
            if (!first) detail::json_append_char(out, ',');
            first = false;
            try {
                detail::append_json_string(out, k);
                detail::json_append_char(out, ':');
                e.write(out);
            } catch (detail::codec_failure& f) {
                detail::prepend_key(f, k);
                throw;
            }
        }
        detail::json_append_char(out, '}');
    }

    std::variant<std::nullptr_t, bool, number_t, std::string, array, object> v_;
};

// Internal: lets the readers build a number from already validated text.
struct detail_json_value_access {
    static json_value trusted_number(std::string_view text) {
        json_value v;
        v.v_ = json_value::number_t{std::string(text)};
        return v;
    }
};

template <class Out>
void json_value::write(Out& out) const {
    switch (type()) {
        case kind::null: detail::json_append_text(out, "null"); return;
        case kind::boolean: detail::json_append_text(out, std::get<bool>(v_) ? "true" : "false"); return;
        case kind::number: detail::json_append_text(out, std::get<number_t>(v_).text); return;
        case kind::string: detail::append_json_string(out, std::get<std::string>(v_)); return;
        case kind::array: {
            detail::json_append_char(out, '[');
            std::size_t i = 0;
            for (const auto& e : std::get<array>(v_)) {
                if (i) detail::json_append_char(out, ',');
                try {
                    e.write(out);
                } catch (detail::codec_failure& f) {
                    detail::prepend_index(f, i);
                    throw;
                }
                ++i;
            }
            detail::json_append_char(out, ']');
            return;
        }
        case kind::object: write_members(out, std::get<object>(v_)); return;
    }
}

namespace detail {

inline std::string_view json_raw_token(simdjson::ondemand::value& v, json_session&) { return v.raw_json_token(); }
inline std::string_view json_raw_token(simdjson::ondemand::document& d, json_session& s) {
    std::string_view t;
    s.check(d.raw_json_token().get(t));
    return t;
}

// Reads one value of any kind (V: an On-Demand value or the document root),
// validating it completely.
template <class V>
json_value read_json_value(V& v, json_session& s) {
    simdjson::ondemand::json_type t{};
    s.check(v.type().get(t));
    switch (t) {
        case simdjson::ondemand::json_type::null: {
            bool is = false;
            s.check(v.is_null().get(is));
            if (!is) s.fail("invalid literal");
            return json_value{};
        }
        case simdjson::ondemand::json_type::boolean: {
            bool b = false;
            s.check(v.get_bool().get(b));
            return json_value(b);
        }
        case simdjson::ondemand::json_type::number: {
            auto tok = trim_json_space(json_raw_token(v, s));
            if (!is_json_number(tok)) s.fail("invalid number");
            return detail_json_value_access::trusted_number(tok);
        }
        case simdjson::ondemand::json_type::string: {
            std::string_view sv;
            s.check(v.get_string().get(sv));
            return json_value(std::string(sv));
        }
        case simdjson::ondemand::json_type::array: {
            json_session::nesting guard(s);
            simdjson::ondemand::array a;
            s.check(v.get_array().get(a));
            json_value::array out;
            std::size_t i = 0;
            for (auto element : a) {
                simdjson::ondemand::value ev;
                s.check(std::move(element).get(ev));
                try {
                    out.push_back(read_json_value(ev, s));
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
                ++i;
            }
            return json_value(std::move(out));
        }
        case simdjson::ondemand::json_type::object: {
            json_session::nesting guard(s);
            simdjson::ondemand::object o;
            s.check(v.get_object().get(o));
            json_value::object out;
            json_key_set keys;
            for (auto field : o) {
                simdjson::ondemand::field f;
                s.check(std::move(field).get(f));
                std::string_view key;
                s.check(f.unescaped_key().get(key));
                if (s.unique_keys) keys.add(key, s);
                std::string k(key);
                try {
                    out.emplace_back(std::move(k), read_json_value(f.value(), s));
                } catch (codec_failure& fail) {
                    prepend_key(fail, key);
                    throw;
                }
            }
            return json_value(std::move(out));
        }
    }
    s.fail("unknown JSON value");
}

// Parses a whole text with `read(root)`; checks that nothing follows the
// value; turns failures into bad_input errors labelled `what`.
template <class Read>
auto parse_json_text(std::string_view text, std::string_view what, Read&& read) {
    try {
        json_session s(text);
        auto& doc = s.doc();
        simdjson::ondemand::json_type t{};
        s.check(doc.type().get(t));
        if (t == simdjson::ondemand::json_type::array || t == simdjson::ondemand::json_type::object) {
            auto result = read(doc, s);
            s.expect_end_after_container();
            return result;
        }
        s.expect_single_token(json_raw_token(doc, s));
        return read(doc, s);
    } catch (const codec_failure& f) {
        throw_codec_failure(f, what, errc::bad_input);
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------
class json_document {
public:
    using member = json_value::member;
    using const_iterator = json_value::object::const_iterator;

    json_document() = default;  // {}
    explicit json_document(json_value::object members) noexcept : members_(std::move(members)) {}

    // Parses a JSON object (any members; no "id" is required here). Invalid
    // JSON, another kind of top-level value, or an object (at any depth)
    // holding a key twice is errc::bad_input: input is refused rather than
    // read one way here and another way elsewhere.
    static json_document parse(std::string_view json) {
        return detail::parse_json_text(json, "json_document", [](auto& root, detail::json_session& s) {
            s.unique_keys = true;
            simdjson::ondemand::json_type t{};
            s.check(root.type().get(t));
            if (t != simdjson::ondemand::json_type::object) s.fail("top level must be a JSON object");
            return json_document(std::move(detail::read_json_value(root, s).as_object()));
        });
    }

    // Compact JSON text; a string (or key) that is not valid UTF-8 is
    // bad_input naming its path.
    std::string dump() const {
        std::string out;
        try {
            write(out);
        } catch (const detail::codec_failure& f) {
            detail::throw_codec_failure(f, "json_document", errc::bad_input);
        }
        return out;
    }
    // Appends the text to out (std::string or bytes); throws
    // detail::codec_failure, which the entry points turn into errors.
    template <class Out>
    void write(Out& out) const {
        json_value::write_members(out, members_);
    }

    // The top-level "id" when it is a string.
    std::optional<std::string> id() const {
        const json_value* v = find("id");
        if (v && v->is_string()) return v->as_string();
        return std::nullopt;
    }

    const json_value* find(std::string_view key) const noexcept {
        for (auto it = members_.rbegin(); it != members_.rend(); ++it)
            if (it->first == key) return &it->second;
        return nullptr;
    }
    json_value* find(std::string_view key) noexcept {
        return const_cast<json_value*>(std::as_const(*this).find(key));
    }
    bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }

    // Replaces the member named key in place (keeping its position; later
    // duplicates of it are dropped), or appends it.
    void set(std::string key, json_value value) {
        auto it = members_.begin();
        while (it != members_.end() && it->first != key) ++it;
        if (it == members_.end()) {
            members_.emplace_back(std::move(key), std::move(value));
            return;
        }
        it->second = std::move(value);
        const auto keep = static_cast<std::size_t>(it - members_.begin());
        for (std::size_t i = members_.size(); i-- > keep + 1;)
            if (members_[i].first == key) members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    // Removes every member named key; true if there was one.
    bool erase(std::string_view key) {
        const auto before = members_.size();
        std::erase_if(members_, [&](const member& m) { return m.first == key; });
        return members_.size() != before;
    }

    std::size_t size() const noexcept { return members_.size(); }
    bool empty() const noexcept { return members_.empty(); }
    const_iterator begin() const noexcept { return members_.begin(); }
    const_iterator end() const noexcept { return members_.end(); }
    const json_value::object& members() const noexcept { return members_; }
    json_value::object& members() noexcept { return members_; }

    friend bool operator==(const json_document&, const json_document&) = default;

private:
    json_value::object members_;
};

}  // namespace stowage
