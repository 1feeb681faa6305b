// codec/json.hpp — json_codec: described types to RFC 8259 JSON and back.
//
//     bytes out;
//     stowage::json_codec{}.encode(s, out);        // appends {"id":"s1",...}
//     stowage::json_codec{}.decode(out, s2);       // replaces s2
//     std::string text = stowage::to_json(s);
//     auto s3 = stowage::from_json<session>(text);
//
// Writing: a small hand-written writer. Structs become objects with their
// fields in declaration order (an empty std::optional field is left out);
// enums are written by name; integers and doubles with std::to_chars, so a
// double reads back bit for bit. Strings are written as UTF-8 with only
// '"', '\' and control characters escaped. A value that could not be read
// back — NaN or infinity, a string that is not valid UTF-8, an enum value
// that was not described — is errc::bad_input naming the field, and nothing
// is appended.
//
// Reading: simdjson On-Demand, visiting every value, so the whole document is
// validated (unknown fields too) and nothing may follow it. Unknown fields are
// ignored; an absent or null optional field is empty; a missing required
// field, a field or map key given twice, a value of the wrong kind or an
// integer out of the member's range is
// errc::bad_input naming the path ("session.tags[3]: expected string, found
// number (at byte 57)"). Decoding builds a new value and moves it into the
// target only when the whole document has been read, so an error never
// leaves a partly filled value.
//
// Types: see detail/codec_traits.hpp (bool, integers to 64 bits, float,
// double, std::string, described enums, std::optional, std::vector,
// std::map<std::string, T>, json_value, json_document, described structs).
//
// Thread safety: json_codec is stateless; encode/decode may run concurrently
// on any threads (each thread parses with its own simdjson parser).
// Durability: not applicable.
#pragma once

#include <array>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "../bytes.hpp"
#include "../describe.hpp"
#include "../error.hpp"
#include "detail/codec_traits.hpp"
#include "detail/json_text.hpp"
#include "json_document.hpp"

namespace stowage {
namespace detail {

using simdjson::ondemand::json_type;

inline std::string_view json_kind_name(json_type t) noexcept {
    switch (t) {
        case json_type::array: return "array";
        case json_type::object: return "object";
        case json_type::number: return "number";
        case json_type::string: return "string";
        case json_type::boolean: return "boolean";
        case json_type::null: return "null";
    }
    return "value";
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------
template <class Out, class T>
void write_json(Out& out, const T& v);

template <class Out, class T>
void write_json_struct(Out& out, const T& v) {
    json_append_char(out, '{');
    bool first = true;
    std::apply(
        [&](const auto&... fd) {
            auto one = [&](const auto& f) {
                const auto& m = v.*(f.pointer);
                using M = std::remove_cvref_t<decltype(m)>;
                if constexpr (is_std_optional<M>::value)
                    if (!m) return;
                if (!first) json_append_char(out, ',');
                first = false;
                json_append_char(out, '"');
                json_append_text(out, f.name);
                json_append_text(out, "\":");
                try {
                    write_json(out, m);
                } catch (codec_failure& fail) {
                    prepend_field(fail, f.name);
                    throw;
                }
            };
            (one(fd), ...);
        },
        fields<T>());
    json_append_char(out, '}');
}

template <class Out, class T>
void write_json(Out& out, const T& v) {
    static_assert(codable<T>, "json_codec: this type cannot be encoded (see codec/detail/codec_traits.hpp)");
    if constexpr (std::same_as<T, bool>) {
        json_append_text(out, v ? "true" : "false");
    } else if constexpr (codec_integer<T>) {
        append_integer(out, v);
    } else if constexpr (codec_floating<T>) {
        append_floating(out, v);
    } else if constexpr (std::same_as<T, std::string>) {
        append_json_string(out, v);
    } else if constexpr (described_enum<T>) {
        for (const auto& e : enum_values_v<T>) {
            if (e.value == v) {
                json_append_char(out, '"');
                json_append_text(out, e.name);  // an identifier: nothing to escape
                json_append_char(out, '"');
                return;
            }
        }
        throw codec_failure{"value " + std::to_string(static_cast<long long>(v)) + " is not a described value of enum " +
                           std::string(enum_type_name_v<T>)};
    } else if constexpr (is_std_optional<T>::value) {
        if (v) write_json(out, *v);
        else json_append_text(out, "null");
    } else if constexpr (is_std_vector<T>::value) {
        json_append_char(out, '[');
        std::size_t i = 0;
        for (const auto& e : v) {
            if (i) json_append_char(out, ',');
            try {
                write_json(out, static_cast<const typename T::value_type&>(e));
            } catch (codec_failure& f) {
                prepend_index(f, i);
                throw;
            }
            ++i;
        }
        json_append_char(out, ']');
    } else if constexpr (is_std_string_map<T>::value) {
        json_append_char(out, '{');
        bool first = true;
        for (const auto& [k, e] : v) {
            if (!first) json_append_char(out, ',');
            first = false;
            try {
                append_json_string(out, k);
                json_append_char(out, ':');
                write_json(out, e);
            } catch (codec_failure& f) {
                prepend_key(f, k);
                throw;
            }
        }
        json_append_char(out, '}');
    } else if constexpr (std::same_as<T, json_value> || std::same_as<T, json_document>) {
        v.write(out);
    } else if constexpr (described<T>) {
        write_json_struct(out, v);
    }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------
template <class V>
json_type json_kind(V& v, json_session& s) {
    json_type t{};
    s.check(v.type().get(t));
    return t;
}

template <class V>
void expect_json_kind(V& v, json_session& s, json_type wanted, std::string_view wanted_name) {
    const json_type t = json_kind(v, s);
    if (t != wanted) s.fail("expected " + std::string(wanted_name) + ", found " + std::string(json_kind_name(t)));
}

// Validates a value nobody reads (an unknown field) without building it.
template <class V>
void skip_json_value(V& v, json_session& s) {
    switch (json_kind(v, s)) {
        case json_type::null: {
            bool is = false;
            s.check(v.is_null().get(is));
            if (!is) s.fail("invalid literal");
            return;
        }
        case json_type::boolean: {
            bool b = false;
            s.check(v.get_bool().get(b));
            return;
        }
        case json_type::number:
            if (!is_json_number(trim_json_space(json_raw_token(v, s)))) s.fail("invalid number");
            return;
        case json_type::string: {
            std::string_view sv;
            s.check(v.get_string().get(sv));
            return;
        }
        case json_type::array: {
            json_session::nesting guard(s);
            simdjson::ondemand::array a;
            s.check(v.get_array().get(a));
            std::size_t i = 0;
            for (auto element : a) {
                simdjson::ondemand::value ev;
                s.check(std::move(element).get(ev));
                try {
                    skip_json_value(ev, s);
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
                ++i;
            }
            return;
        }
        case json_type::object: {
            json_session::nesting guard(s);
            simdjson::ondemand::object o;
            s.check(v.get_object().get(o));
            for (auto field : o) {
                simdjson::ondemand::field f;
                s.check(std::move(field).get(f));
                std::string_view key;
                s.check(f.unescaped_key().get(key));
                try {
                    skip_json_value(f.value(), s);
                } catch (codec_failure& fail) {
                    prepend_key(fail, key);
                    throw;
                }
            }
            return;
        }
    }
}

template <class V, class T>
void read_json(V& v, json_session& s, T& out);

template <class V, class I>
void read_json_integer(V& v, json_session& s, I& out) {
    expect_json_kind(v, s, json_type::number, "integer");
    const std::string_view token = trim_json_space(json_raw_token(v, s));
    using lim = std::numeric_limits<I>;
    auto out_of_range = [&] {
        s.fail("expected an integer from " + std::to_string(lim::min()) + " to " + std::to_string(lim::max()) +
               ", found " + std::string(token.substr(0, 40)));
    };
    if constexpr (std::is_signed_v<I>) {
        std::int64_t x = 0;
        if (v.get_int64().get(x) != simdjson::SUCCESS) out_of_range();
        if (x < static_cast<std::int64_t>(lim::min()) || x > static_cast<std::int64_t>(lim::max())) out_of_range();
        out = static_cast<I>(x);
    } else {
        std::uint64_t x = 0;
        if (v.get_uint64().get(x) != simdjson::SUCCESS) out_of_range();
        if (x > static_cast<std::uint64_t>(lim::max())) out_of_range();
        out = static_cast<I>(x);
    }
}

template <class V, class T>
void read_json_struct(V& v, json_session& s, T& out) {
    expect_json_kind(v, s, json_type::object, "object");
    json_session::nesting guard(s);
    simdjson::ondemand::object o;
    s.check(v.get_object().get(o));
    constexpr std::size_t n = field_count_v<T>;
    std::array<bool, n> seen{};
    const auto& fs = fields<T>();
    for (auto field : o) {
        simdjson::ondemand::field f;
        s.check(std::move(field).get(f));
        std::string_view key;
        s.check(f.unescaped_key().get(key));
        auto& fv = f.value();
        const bool known = [&]<std::size_t... I>(std::index_sequence<I...>) {
            auto one = [&](const auto& fd, std::size_t i) {
                if (key != fd.name) return false;
                try {
                    // A field given twice: which value counts is the
                    // reader's guess, so neither is taken.
                    if (seen[i]) s.fail("repeated field (an object may hold each key once)");
                    read_json(fv, s, out.*(fd.pointer));
                } catch (codec_failure& fail) {
                    prepend_field(fail, fd.name);
                    throw;
                }
                seen[i] = true;
                return true;
            };
            return (one(std::get<I>(fs), I) || ...);
        }(std::make_index_sequence<n>{});
        if (!known) {
            try {
                skip_json_value(fv, s);
            } catch (codec_failure& fail) {
                prepend_field(fail, key);
                throw;
            }
        }
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        auto one = [&](const auto& fd, std::size_t i) {
            if (seen[i]) return;
            auto& m = out.*(fd.pointer);
            if constexpr (is_std_optional<std::remove_cvref_t<decltype(m)>>::value) {
                m.reset();
            } else {
                throw codec_failure{"missing required field", "." + std::string(fd.name)};
            }
        };
        (one(std::get<I>(fs), I), ...);
    }(std::make_index_sequence<n>{});
}

template <class V, class T>
void read_json(V& v, json_session& s, T& out) {
    static_assert(codable<T>, "json_codec: this type cannot be decoded (see codec/detail/codec_traits.hpp)");
    if constexpr (std::same_as<T, bool>) {
        expect_json_kind(v, s, json_type::boolean, "boolean");
        s.check(v.get_bool().get(out));
    } else if constexpr (codec_integer<T>) {
        read_json_integer(v, s, out);
    } else if constexpr (std::same_as<T, double>) {
        expect_json_kind(v, s, json_type::number, "number");
        const std::string_view token = trim_json_space(json_raw_token(v, s));
        if (v.get_double().get(out) != simdjson::SUCCESS)
            s.fail("expected a number that fits a double, found " + std::string(token.substr(0, 40)));
    } else if constexpr (std::same_as<T, float>) {
        // Parsed from the text directly: going through double could round
        // twice and miss the float that was written.
        expect_json_kind(v, s, json_type::number, "number");
        const std::string_view token = trim_json_space(json_raw_token(v, s));
        auto r = std::from_chars(token.data(), token.data() + token.size(), out);
        if (!is_json_number(token) || r.ec != std::errc{} || r.ptr != token.data() + token.size())
            s.fail("expected a number that fits a float, found " + std::string(token.substr(0, 40)));
    } else if constexpr (std::same_as<T, std::string>) {
        expect_json_kind(v, s, json_type::string, "string");
        std::string_view sv;
        s.check(v.get_string().get(sv));
        out.assign(sv);
    } else if constexpr (described_enum<T>) {
        expect_json_kind(v, s, json_type::string, "enum name (string)");
        std::string_view sv;
        s.check(v.get_string().get(sv));
        auto e = enum_from_name<T>(sv);
        if (!e) s.fail("\"" + std::string(sv.substr(0, 64)) + "\" is not a value of enum " + std::string(enum_type_name_v<T>));
        out = *e;
    } else if constexpr (is_std_optional<T>::value) {
        if (json_kind(v, s) == json_type::null) {
            bool is = false;
            s.check(v.is_null().get(is));
            if (!is) s.fail("invalid literal");
            out.reset();
        } else {
            read_json(v, s, out.emplace());
        }
    } else if constexpr (is_std_vector<T>::value) {
        expect_json_kind(v, s, json_type::array, "array");
        json_session::nesting guard(s);
        simdjson::ondemand::array a;
        s.check(v.get_array().get(a));
        out.clear();
        std::size_t i = 0;
        for (auto element : a) {
            simdjson::ondemand::value ev;
            s.check(std::move(element).get(ev));
            try {
                if constexpr (std::same_as<typename T::value_type, bool>) {
                    bool b = false;
                    read_json(ev, s, b);
                    out.push_back(b);
                } else {
                    read_json(ev, s, out.emplace_back());
                }
            } catch (codec_failure& f) {
                prepend_index(f, i);
                throw;
            }
            ++i;
        }
    } else if constexpr (is_std_string_map<T>::value) {
        expect_json_kind(v, s, json_type::object, "object");
        json_session::nesting guard(s);
        simdjson::ondemand::object o;
        s.check(v.get_object().get(o));
        out.clear();
        for (auto field : o) {
            simdjson::ondemand::field f;
            s.check(std::move(field).get(f));
            std::string_view key;
            s.check(f.unescaped_key().get(key));
            typename T::mapped_type m{};
            std::string k(key);
            try {
                // A repeated key is refused, as in a struct: keeping either
                // value would silently drop the other.
                if (out.count(k)) s.fail("repeated key (an object may hold each key once)");
                read_json(f.value(), s, m);
            } catch (codec_failure& fail) {
                prepend_key(fail, key);
                throw;
            }
            out.emplace(std::move(k), std::move(m));
        }
    } else if constexpr (std::same_as<T, json_value>) {
        out = read_json_value(v, s);
    } else if constexpr (std::same_as<T, json_document>) {
        expect_json_kind(v, s, json_type::object, "object");
        out = json_document(std::move(read_json_value(v, s).as_object()));
    } else if constexpr (described<T>) {
        read_json_struct(v, s, out);
    }
}

template <class T>
void add_root_name(codec_failure& f) {
    if constexpr (described<T>) prepend_field(f, type_name_v<T>);
}

template <class T>
T decode_json(std::string_view text) {
    T value{};
    parse_json_text(text, "json decode", [&](auto& root, json_session& s) {
        try {
            read_json(root, s, value);
        } catch (codec_failure& f) {
            add_root_name<T>(f);
            throw;
        }
        return 0;
    });
    return value;
}

template <class Out, class T>
void encode_json(Out& out, const T& v) {
    const std::size_t old = out.size();
    try {
        write_json(out, v);
    } catch (codec_failure& f) {
        out.resize(old);
        add_root_name<T>(f);
        throw_codec_failure(f, "json encode", errc::bad_input);
    }
}

}  // namespace detail

struct json_codec {
    static constexpr std::string_view name = "json";

    // Appends v's JSON text to out.
    template <detail::codable T>
    void encode(const T& v, bytes& out) const {
        detail::encode_json(out, v);
    }

    // Replaces out with the value the JSON text in `in` holds.
    template <detail::codable T>
    void decode(bytes_view in, T& out) const {
        out = detail::decode_json<T>(as_chars(in));
    }
};

template <detail::codable T>
std::string to_json(const T& v) {
    std::string out;
    detail::encode_json(out, v);
    return out;
}

template <detail::codable T>
T from_json(std::string_view json) {
    return detail::decode_json<T>(json);
}

}  // namespace stowage
