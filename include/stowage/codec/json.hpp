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

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "../bytes.hpp"
#include "../describe.hpp"
#include "../error.hpp"
#include "detail/base64.hpp"
#include "detail/chrono_form.hpp"
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
                // An empty optional is left out, unless the type's default
                // engages it: then null, since absent would read as that.
                if constexpr (is_std_optional<M>::value && !adapted<M>)
                    if (!m && !default_engaged<T>(f)) return;
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

// A map key as JSON object member name: strings as they are, integers in
// decimal, enums by name.
template <class Out, class K>
void write_json_key(Out& out, const K& k) {
    if constexpr (std::same_as<K, std::string>) {
        append_json_string(out, k);
    } else if constexpr (codec_integer<K>) {
        json_append_char(out, '"');
        append_integer(out, k);
        json_append_char(out, '"');
    } else {
        json_append_char(out, '"');
        json_append_text(out, enum_name_or_fail(k));
        json_append_char(out, '"');
    }
}

template <class Out, class T>
void write_json(Out& out, const T& v) {
    static_assert(codable<T>, "json_codec: this type cannot be encoded (see codec/detail/codec_traits.hpp)");
    if constexpr (adapted<T>) {
        write_json(out, static_cast<const adapter_representation_t<T>&>(adapter_to(v)));
    } else if constexpr (std::same_as<T, bool>) {
        json_append_text(out, v ? "true" : "false");
    } else if constexpr (codec_integer<T>) {
        append_integer(out, v);
    } else if constexpr (codec_floating<T>) {
        append_floating(out, v);
    } else if constexpr (std::same_as<T, std::string>) {
        append_json_string(out, v);
    } else if constexpr (is_byte_string<T>::value) {
        json_append_char(out, '"');
        append_base64(out, std::span<const std::byte>(v.data(), v.size()));
        json_append_char(out, '"');
    } else if constexpr (codec_time<T>) {
        auto sn = split_nanos(chrono_total_nanos(v.time_since_epoch()));
        json_append_char(out, '"');
        if (const char* why = sn ? append_rfc3339(out, *sn) : "out of range") throw codec_failure{std::string("time ") + why};
        json_append_char(out, '"');
    } else if constexpr (codec_duration<T>) {
        append_decimal_seconds(out, chrono_total_nanos(v));
    } else if constexpr (described_enum<T>) {
        json_append_char(out, '"');
        json_append_text(out, enum_name_or_fail(v));  // an identifier: nothing to escape
        json_append_char(out, '"');
    } else if constexpr (is_std_optional<T>::value) {
        // An optional that may itself be empty is wrapped when engaged
        // ([null], [5]), so null keeps one meaning at every level.
        constexpr bool nested = is_std_optional<typename T::value_type>::value;
        if (!v) {
            json_append_text(out, "null");
        } else {
            if constexpr (nested) json_append_char(out, '[');
            write_json(out, *v);
            if constexpr (nested) json_append_char(out, ']');
        }
    } else if constexpr (codec_sequence<T>) {
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
    } else if constexpr (codec_map<T>) {
        json_append_char(out, '{');
        bool first = true;
        auto one = [&](const auto& k, const auto& e) {
            if (!first) json_append_char(out, ',');
            first = false;
            try {
                write_json_key(out, k);
                json_append_char(out, ':');
                write_json(out, e);
            } catch (codec_failure& f) {
                prepend_key(f, map_key_text(k));
                throw;
            }
        };
        if constexpr (is_std_unordered_map<T>::value) {
            // Written in key order, so equal maps are equal bytes (and digests).
            for (const auto* p : sorted_entries(v)) one(p->first, p->second);
        } else {
            for (const auto& [k, e] : v) one(k, e);
        }
        json_append_char(out, '}');
    } else if constexpr (is_tuple_like<T>::value) {
        json_append_char(out, '[');
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            [[maybe_unused]] auto one = [&](const auto& e, std::size_t i) {
                if (i) json_append_char(out, ',');
                try {
                    write_json(out, e);
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
            };
            (one(std::get<I>(v), I), ...);
        }(std::make_index_sequence<std::tuple_size_v<T>>{});
        json_append_char(out, ']');
    } else if constexpr (is_std_variant<T>::value) {
        // {"<alternative's tag>": value}
        if (v.valueless_by_exception()) throw codec_failure{"variant is valueless (an exception interrupted its assignment)"};
        std::visit(
            [&](const auto& alt) {
                using A = std::remove_cvref_t<decltype(alt)>;
                json_append_text(out, "{\"");
                json_append_text(out, variant_tag<A>());
                json_append_text(out, "\":");
                try {
                    if constexpr (std::same_as<A, std::monostate>) json_append_text(out, "null");
                    else write_json(out, alt);
                } catch (codec_failure& f) {
                    prepend_key(f, variant_tag<A>());
                    throw;
                }
                json_append_char(out, '}');
            },
            v);
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

// Fields may come in any order; a field the type does not have is skipped
// (a newer writer's); a missing one keeps the value the type's default
// constructor gave it, unless STOWAGE_FIELD_RULES marks it required; a
// renamed field is also taken under its old names.
template <class V, class T>
void read_json_struct(V& v, json_session& s, T& out) {
    expect_json_kind(v, s, json_type::object, "object");
    json_session::nesting guard(s);
    simdjson::ondemand::object o;
    s.check(v.get_object().get(o));
    constexpr std::size_t n = field_count_v<T>;
    constexpr bool renames = std::ranges::any_of(field_rules_v<T>, [](const field_rule& r) {
        return r.what == field_rule::kind::renamed;
    });
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
                if (key != fd.name) {
                    if constexpr (!renames) return false;
                    else if (!field_old_name<T>(i, key)) return false;
                }
                try {
                    // A field given twice (or under its old and new names):
                    // which value counts is the reader's guess, so neither
                    // is taken.
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
    for (std::size_t i = 0; i < n; ++i)
        if (!seen[i] && field_required<T>(i))
            throw codec_failure{"missing required field", "." + std::string(field_names_v<T>[i])};
}

// A JSON string's text (escapes resolved), for the kinds stored as strings.
template <class V>
std::string_view read_json_text(V& v, json_session& s, std::string_view wanted) {
    expect_json_kind(v, s, json_type::string, wanted);
    std::string_view sv;
    s.check(v.get_string().get(sv));
    return sv;
}

template <class K>
K read_json_key(std::string_view key, json_session& s) {
    if constexpr (std::same_as<K, std::string>) {
        return std::string(key);
    } else if constexpr (codec_integer<K>) {
        K k{};
        auto r = std::from_chars(key.data(), key.data() + key.size(), k);
        // The one decimal form the writer produces: no '+', no leading zeros.
        if (r.ec != std::errc{} || r.ptr != key.data() + key.size() || map_key_text(k) != key)
            s.fail("map key \"" + std::string(key.substr(0, 40)) + "\" is not an integer from " +
                   std::to_string(std::numeric_limits<K>::min()) + " to " + std::to_string(std::numeric_limits<K>::max()));
        return k;
    } else {
        auto e = enum_from_name<K>(key);
        if (!e) s.fail("map key \"" + std::string(key.substr(0, 64)) + "\" is not a value of enum " + std::string(enum_type_name_v<K>));
        return *e;
    }
}

template <class V, class T>
void read_json(V& v, json_session& s, T& out) {
    static_assert(codable<T>, "json_codec: this type cannot be decoded (see codec/detail/codec_traits.hpp)");
    if constexpr (adapted<T>) {
        adapter_representation_t<T> r{};
        read_json(v, s, r);
        out = adapter_from<T>(std::move(r));
    } else if constexpr (std::same_as<T, bool>) {
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
        out.assign(read_json_text(v, s, "string"));
    } else if constexpr (is_byte_string<T>::value) {
        const std::string_view text = read_json_text(v, s, "base64 string");
        T b{};
        if constexpr (requires { b.resize(0); }) {
            if (!decode_base64(text, b)) s.fail("not canonical base64 (RFC 4648, padded)");
        } else {
            bytes tmp;
            if (!decode_base64(text, tmp)) s.fail("not canonical base64 (RFC 4648, padded)");
            if (tmp.size() != b.size())
                s.fail("expected " + std::to_string(b.size()) + " bytes, found " + std::to_string(tmp.size()));
            std::copy(tmp.begin(), tmp.end(), b.begin());
        }
        out = std::move(b);
    } else if constexpr (codec_time<T>) {
        const std::string_view text = read_json_text(v, s, "RFC 3339 time (string)");
        seconds_nanos sn;
        typename T::duration d{};
        if (const char* why = parse_rfc3339(text, sn)) s.fail(std::string(why) + ", found \"" + std::string(text.substr(0, 40)) + "\"");
        if (const char* why = chrono_from_nanos(join_nanos(sn), d)) s.fail("time " + std::string(text.substr(0, 40)) + " is " + why);
        out = T(d);
    } else if constexpr (codec_duration<T>) {
        expect_json_kind(v, s, json_type::number, "seconds (number)");
        const std::string_view token = trim_json_space(json_raw_token(v, s));
        if (!is_json_number(token)) s.fail("invalid number");
        chrono_wide total = 0;
        if (const char* why = parse_decimal_seconds(token, total)) s.fail("duration " + std::string(token.substr(0, 40)) + ": " + why);
        if (const char* why = chrono_from_nanos(total, out)) s.fail("duration " + std::string(token.substr(0, 40)) + " is " + why);
    } else if constexpr (described_enum<T>) {
        const std::string_view sv = read_json_text(v, s, "enum name (string)");
        auto e = enum_from_name<T>(sv);
        if (!e) s.fail("\"" + std::string(sv.substr(0, 64)) + "\" is not a value of enum " + std::string(enum_type_name_v<T>));
        out = *e;
    } else if constexpr (is_std_optional<T>::value) {
        if (json_kind(v, s) == json_type::null) {
            bool is = false;
            s.check(v.is_null().get(is));
            if (!is) s.fail("invalid literal");
            out.reset();
        } else if constexpr (is_std_optional<typename T::value_type>::value) {
            // An engaged optional of an optional: [inner] (see the writer).
            expect_json_kind(v, s, json_type::array, "[value] (a nested optional)");
            json_session::nesting guard(s);
            simdjson::ondemand::array a;
            s.check(v.get_array().get(a));
            std::size_t count = 0;
            auto& inner = out.emplace();
            for (auto element : a) {
                if (count++) s.fail("a nested optional's array holds one value");
                simdjson::ondemand::value ev;
                s.check(std::move(element).get(ev));
                read_json(ev, s, inner);
            }
            if (count != 1) s.fail("a nested optional's array holds one value");
        } else {
            read_json(v, s, out.emplace());
        }
    } else if constexpr (codec_sequence<T>) {
        expect_json_kind(v, s, json_type::array, "array");
        json_session::nesting guard(s);
        simdjson::ondemand::array a;
        s.check(v.get_array().get(a));
        if constexpr (!is_std_array<T>::value) out.clear();
        std::size_t i = 0;
        for (auto element : a) {
            simdjson::ondemand::value ev;
            s.check(std::move(element).get(ev));
            try {
                if constexpr (is_std_array<T>::value) {
                    if (i >= out.size()) s.fail("more than the " + std::to_string(out.size()) + " elements of a fixed-size array");
                    read_json(ev, s, out[i]);
                } else if constexpr (is_std_set<T>::value) {
                    // A repeat adds nothing (a vector's record reads as a set).
                    typename T::value_type e{};
                    read_json(ev, s, e);
                    out.insert(std::move(e));
                } else if constexpr (std::same_as<typename T::value_type, bool>) {
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
        if constexpr (is_std_array<T>::value)
            if (i != out.size()) s.fail("expected " + std::to_string(out.size()) + " elements, found " + std::to_string(i));
    } else if constexpr (codec_map<T>) {
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
            try {
                auto k = read_json_key<typename T::key_type>(key, s);
                // A repeated key is refused, as in a struct: keeping either
                // value would silently drop the other.
                if (out.count(k)) s.fail("repeated key (an object may hold each key once)");
                read_json(f.value(), s, m);
                out.emplace(std::move(k), std::move(m));
            } catch (codec_failure& fail) {
                prepend_key(fail, key);
                throw;
            }
        }
    } else if constexpr (is_tuple_like<T>::value) {
        expect_json_kind(v, s, json_type::array, "array");
        json_session::nesting guard(s);
        simdjson::ondemand::array a;
        s.check(v.get_array().get(a));
        constexpr std::size_t n = std::tuple_size_v<T>;
        std::size_t i = 0;
        for (auto element : a) {
            if (i >= n) s.fail("more than the " + std::to_string(n) + " elements of a tuple");
            simdjson::ondemand::value ev;
            s.check(std::move(element).get(ev));
            try {
                [&]<std::size_t... I>(std::index_sequence<I...>) {
                    (void)((i == I ? (read_json(ev, s, std::get<I>(out)), true) : false) || ...);
                }(std::make_index_sequence<n>{});
            } catch (codec_failure& f) {
                prepend_index(f, i);
                throw;
            }
            ++i;
        }
        if (i != n) s.fail("expected " + std::to_string(n) + " elements, found " + std::to_string(i));
    } else if constexpr (is_std_variant<T>::value) {
        expect_json_kind(v, s, json_type::object, "object {\"alternative\": value}");
        json_session::nesting guard(s);
        simdjson::ondemand::object o;
        s.check(v.get_object().get(o));
        std::size_t count = 0;
        for (auto field : o) {
            if (count++) s.fail("a variant's object holds one member, its alternative");
            simdjson::ondemand::field f;
            s.check(std::move(field).get(f));
            std::string_view key;
            s.check(f.unescaped_key().get(key));
            auto& fv = f.value();
            const bool found = [&]<std::size_t... I>(std::index_sequence<I...>) {
                auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
                    using A = std::variant_alternative_t<J, T>;
                    if (key != variant_tag<A>()) return false;
                    try {
                        if constexpr (std::same_as<A, std::monostate>) {
                            bool is = false;
                            if (json_kind(fv, s) != json_type::null || (s.check(fv.is_null().get(is)), !is))
                                s.fail("expected null");
                            out.template emplace<J>();
                        } else {
                            A alt{};
                            read_json(fv, s, alt);
                            out.template emplace<J>(std::move(alt));
                        }
                    } catch (codec_failure& fail) {
                        prepend_key(fail, key);
                        throw;
                    }
                    return true;
                };
                return (one(std::integral_constant<std::size_t, I>{}) || ...);
            }(std::make_index_sequence<std::variant_size_v<T>>{});
            if (!found) {
                std::string known;
                [&]<std::size_t... I>(std::index_sequence<I...>) {
                    ((known += (I ? ", " : "") + std::string(variant_tag<std::variant_alternative_t<I, T>>())), ...);
                }(std::make_index_sequence<std::variant_size_v<T>>{});
                s.fail("\"" + std::string(key.substr(0, 64)) + "\" is not an alternative of this variant (" + known + ")");
            }
        }
        if (count != 1) s.fail("a variant's object holds one member, its alternative");
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

    // For components that take a codec: true when T can be stored, else a
    // compile error naming the type, the field path and the fix.
    template <class T>
    static constexpr bool diagnose() {
        return detail::check_codable<T>();
    }

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

// Unconstrained, so that a type that cannot be stored gets one error that
// names it, its field and the fix (check_codable), not a list of overloads.
template <class T>
std::string to_json(const T& v) {
    std::string out;
    if constexpr (detail::check_codable<T>()) detail::encode_json(out, v);
    return out;
}

template <class T>
T from_json(std::string_view json) {
    if constexpr (detail::check_codable<T>()) return detail::decode_json<T>(json);
    else return T{};
}

}  // namespace stowage
