// codec/binary.hpp — binary_codec: a compact, versioned, self-delimiting
// encoding of described types (protobuf-like: tagged fields, varints).
//
// Compact: integers are varints (signed ones zigzag-encoded), field names are
// not stored (a field is identified by its number), strings are length-
// prefixed. Versioned: every record starts with a format-version byte, and
// each struct field carries its number and wire type, so a reader skips the
// fields it does not know (written by a newer version of the struct), and a
// field a record lacks keeps the value the type's default constructor gives
// it (unless STOWAGE_FIELD_RULES marks it required).
//
// Wire format, version 2 (all multi-byte fixed values little-endian):
//
//   record       := 0x02 top
//   top          := fields 0x00 (the end: nothing may follow)  for a described struct
//                 | value(T) (nothing may follow)             for any other T
//                   Version 1 (still read) had no 0x00: its fields ran to
//                   the end of the record. The terminator is what makes a
//                   record cut at a field boundary detectable now that
//                   fields may be missing.
//   varint       := LEB128: 7 bits per byte, low group first, high bit set on
//                   all but the last byte; at most 10 bytes; minimal (no
//                   trailing zero groups)
//   value(T):
//     bool                 varint 0 or 1
//     unsigned integer     varint
//     signed integer       varint of zigzag(v) = (v << 1) ^ (v >> 63)
//     float / double       4 / 8 bytes IEEE 754
//     std::string          varint byte length, bytes
//     byte string          varint byte length, bytes (std::vector<std::byte>;
//                          std::array<std::byte, N>: the length must be N)
//     described enum       the enumerator's name, as a string (renumbering
//                          or reordering an enum keeps old records readable)
//     std::optional<T>     0x00 (empty) | 0x01 value(T)
//     std::vector<T>, std::array<T, N>, std::set<T>
//                          varint count, count x value(T) (an array's count
//                          must be N; a set's elements are written in order,
//                          read in any order, a repeat adding nothing)
//     map<K, T>            varint count, count x (value(K), value(T)); a
//                          std::map's keys strictly ascending in its order,
//                          an unordered_map's written ascending, read once each
//     std::pair, std::tuple
//                          each element's value, in order
//     std::variant         the alternative's tag as a string (its type name:
//                          "int64", "string", a described type's name, a
//                          codec_adapter's tag; "none" for std::monostate),
//                          then value(alternative) (nothing for monostate)
//     time point, duration zigzag varint seconds (rounded down), varint
//                          nanoseconds 0..999999999 (codec/detail/chrono_form.hpp)
//     codec_adapter<T>     value(representation)
//     json_value           kind byte, then: 0 null, 1 false, 2 true,
//                          3 number (its text, as a string), 4 string,
//                          5 array (varint count, values),
//                          6 object (varint count, count x (key, value))
//     json_document        varint count, count x (string key, json_value)
//     described struct     varint byte length, fields
//   fields       := field*
//   field        := varint key = number << 3 | wire type, payload
//     number     := the field's 1-based position in STOWAGE_DESCRIBE: append
//                   new fields at the end, never reorder or remove (keep an
//                   unused member instead; a rename changes nothing here)
//     wire type 0  varint    payload is value(T): bool, integers
//               1  fixed64   payload is value(double)
//               5  fixed32   payload is value(float)
//               2  length-delimited: varint byte length, then that many bytes.
//                  For a string, a byte string, an enum and a struct that is
//                  exactly value(T); everything else is wrapped: varint
//                  length of value(T), value(T).
//               7  empty: no payload. An optional field holding nothing
//                  whose type's default constructor engages it (so absent
//                  would read as that default).
//   An optional field that is empty is not written (or written with wire
//   type 7, above); a present one is written as its inner T (so an
//   optional<optional<T>> field holds value(optional<T>), wrapped). Fields are written in increasing number; a reader accepts
//   any order, skips unknown numbers by their wire type, and refuses a
//   repeated number, a known number with the wrong wire type and a missing
//   required field.
//
// Errors: malformed input (truncated, bad varint, lengths past the end, a
// string that is not valid UTF-8 where JSON text is expected, an unknown enum
// name, an integer out of the member's range, trailing bytes) is
// errc::corrupt naming the field path and byte offset; a record of a newer
// format version is errc::unsupported. Hostile lengths never allocate more
// than the input could hold, and nesting deeper than 1000 levels (possible
// with recursive types and json_value) is corrupt. Decoding builds a new
// value and moves it into the target only on success.
//
// Thread safety: binary_codec is stateless; use from any threads.
// Durability: not applicable.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "../bytes.hpp"
#include "../describe.hpp"
#include "../error.hpp"
#include "detail/chrono_form.hpp"
#include "detail/codec_traits.hpp"
#include "detail/failure.hpp"
#include "detail/json_text.hpp"
#include "json_document.hpp"

namespace stowage {
namespace detail {

inline constexpr std::uint8_t binary_format_version = 2;
inline constexpr std::uint8_t binary_oldest_version = 1;

// `empty` (no payload): an optional field written empty because the type's
// default constructor engages it (absent would read as that default).
enum class binary_wire : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5, empty = 7 };

template <class T>
constexpr binary_wire wire_type_of() {
    if constexpr (adapted<T>) return wire_type_of<adapter_representation_t<T>>();
    else if constexpr (std::same_as<T, bool> || codec_integer<T>) return binary_wire::varint;
    else if constexpr (std::same_as<T, double>) return binary_wire::fixed64;
    else if constexpr (std::same_as<T, float>) return binary_wire::fixed32;
    else return binary_wire::length_delimited;
}

// value(T) is already "length, bytes" for these, so a field needs no wrapper.
template <class T>
constexpr bool self_delimited() {
    if constexpr (adapted<T>) return self_delimited<adapter_representation_t<T>>();
    else return std::same_as<T, std::string> || is_byte_string<T>::value || described_enum<T> || described<T>;
}

// What a struct field's payload holds: an optional field is written only
// when engaged, as its value.
template <class M>
struct field_payload {
    using type = M;
};
template <class T>
    requires(!adapted<std::optional<T>>)
struct field_payload<std::optional<T>> {
    using type = T;
};
template <class M>
using field_payload_t = typename field_payload<M>::type;

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------
inline void binary_put_byte(bytes& out, std::uint8_t b) { out.push_back(static_cast<std::byte>(b)); }

inline void binary_put_varint(bytes& out, std::uint64_t v) {
    std::byte buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = static_cast<std::byte>((v & 0x7F) | 0x80);
        v >>= 7;
    }
    buf[n++] = static_cast<std::byte>(v);
    out.insert(out.end(), buf, buf + n);
}

template <class U>
inline void binary_put_fixed(bytes& out, U v) {
    std::byte buf[sizeof(U)];
    for (std::size_t i = 0; i < sizeof(U); ++i) buf[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
    out.insert(out.end(), buf, buf + sizeof(U));
}

inline void binary_put_string(bytes& out, std::string_view s) {
    binary_put_varint(out, s.size());
    append(out, as_bytes(s));
}

// Writes body() behind a varint holding its length. The length is not known
// up front: one byte is reserved (enough below 128 bytes) and the body is
// shifted in the rare case the length needs more.
template <class Body>
void binary_put_length_delimited(bytes& out, Body&& body) {
    const std::size_t mark = out.size();
    out.push_back(std::byte{0});
    body();
    const std::size_t len = out.size() - mark - 1;
    if (len < 0x80) {
        out[mark] = static_cast<std::byte>(len);
        return;
    }
    bytes prefix;
    binary_put_varint(prefix, len);
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(mark) + 1, prefix.size() - 1, std::byte{0});
    std::memcpy(out.data() + mark, prefix.data(), prefix.size());
}

template <class T>
void write_binary(bytes& out, const T& v);

inline void write_binary_json(bytes& out, const json_value& v) {
    switch (v.type()) {
        case json_value::kind::null: binary_put_byte(out, 0); return;
        case json_value::kind::boolean: binary_put_byte(out, v.as_bool() ? 2 : 1); return;
        case json_value::kind::number:
            binary_put_byte(out, 3);
            binary_put_string(out, v.number_text());
            return;
        case json_value::kind::string:
            binary_put_byte(out, 4);
            binary_put_string(out, v.as_string());
            return;
        case json_value::kind::array:
            binary_put_byte(out, 5);
            binary_put_varint(out, v.as_array().size());
            for (const auto& e : v.as_array()) write_binary_json(out, e);
            return;
        case json_value::kind::object:
            binary_put_byte(out, 6);
            binary_put_varint(out, v.as_object().size());
            for (const auto& [k, e] : v.as_object()) {
                binary_put_string(out, k);
                write_binary_json(out, e);
            }
            return;
    }
}

template <class T>
void write_binary_fields(bytes& out, const T& v) {
    std::apply(
        [&](const auto&... fd) {
            auto one = [&](const auto& f) {
                const auto& m = v.*(f.pointer);
                using M = std::remove_cvref_t<decltype(m)>;
                using Inner = field_payload_t<M>;
                const Inner* inner;
                if constexpr (!std::is_same_v<Inner, M>) {
                    if (!m) {
                        if (default_engaged<T>(f))
                            binary_put_varint(out, (std::uint64_t{f.index} + 1) << 3 | static_cast<std::uint8_t>(binary_wire::empty));
                        return;
                    }
                    inner = &*m;
                } else {
                    inner = &m;
                }
                binary_put_varint(out, (std::uint64_t{f.index} + 1) << 3 | static_cast<std::uint8_t>(wire_type_of<Inner>()));
                try {
                    if constexpr (wire_type_of<Inner>() == binary_wire::length_delimited && !self_delimited<Inner>())
                        binary_put_length_delimited(out, [&] { write_binary(out, *inner); });
                    else
                        write_binary(out, *inner);
                } catch (codec_failure& fail) {
                    prepend_field(fail, f.name);
                    throw;
                }
            };
            (one(fd), ...);
        },
        fields<T>());
}

inline void binary_put_zigzag(bytes& out, std::int64_t x) {
    binary_put_varint(out, (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63));
}

template <class T>
void write_binary(bytes& out, const T& v) {
    static_assert(codable<T>, "binary_codec: this type cannot be encoded (see codec/detail/codec_traits.hpp)");
    if constexpr (adapted<T>) {
        write_binary(out, static_cast<const adapter_representation_t<T>&>(adapter_to(v)));
    } else if constexpr (std::same_as<T, bool>) {
        binary_put_byte(out, v ? 1 : 0);
    } else if constexpr (codec_integer<T>) {
        if constexpr (std::is_signed_v<T>) binary_put_zigzag(out, static_cast<std::int64_t>(v));
        else binary_put_varint(out, v);
    } else if constexpr (std::same_as<T, double>) {
        binary_put_fixed(out, std::bit_cast<std::uint64_t>(v));
    } else if constexpr (std::same_as<T, float>) {
        binary_put_fixed(out, std::bit_cast<std::uint32_t>(v));
    } else if constexpr (std::same_as<T, std::string>) {
        binary_put_string(out, v);
    } else if constexpr (is_byte_string<T>::value) {
        binary_put_varint(out, v.size());
        append(out, bytes_view(v.data(), v.size()));
    } else if constexpr (codec_time<T> || codec_duration<T>) {
        std::optional<seconds_nanos> sn;
        if constexpr (codec_time<T>) sn = split_nanos(chrono_total_nanos(v.time_since_epoch()));
        else sn = split_nanos(chrono_total_nanos(v));
        if (!sn) throw codec_failure{"out of range"};
        binary_put_zigzag(out, sn->seconds);
        binary_put_varint(out, sn->nanos);
    } else if constexpr (described_enum<T>) {
        binary_put_string(out, enum_name_or_fail(v));
    } else if constexpr (is_std_optional<T>::value) {
        binary_put_byte(out, v ? 1 : 0);
        if (v) write_binary(out, *v);
    } else if constexpr (codec_sequence<T>) {
        binary_put_varint(out, v.size());
        std::size_t i = 0;
        for (const auto& e : v) {
            try {
                write_binary(out, static_cast<const typename T::value_type&>(e));
            } catch (codec_failure& f) {
                prepend_index(f, i);
                throw;
            }
            ++i;
        }
    } else if constexpr (codec_map<T>) {
        binary_put_varint(out, v.size());
        auto one = [&](const auto& k, const auto& e) {
            try {
                write_binary(out, k);
                write_binary(out, e);
            } catch (codec_failure& f) {
                prepend_key(f, map_key_text(k));
                throw;
            }
        };
        if constexpr (is_std_unordered_map<T>::value) {
            for (const auto* p : sorted_entries(v)) one(p->first, p->second);
        } else {
            for (const auto& [k, e] : v) one(k, e);
        }
    } else if constexpr (is_tuple_like<T>::value) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            [[maybe_unused]] auto one = [&](const auto& e, std::size_t i) {
                try {
                    write_binary(out, e);
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
            };
            (one(std::get<I>(v), I), ...);
        }(std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (is_std_variant<T>::value) {
        if (v.valueless_by_exception()) throw codec_failure{"variant is valueless (an exception interrupted its assignment)"};
        std::visit(
            [&](const auto& alt) {
                using A = std::remove_cvref_t<decltype(alt)>;
                binary_put_string(out, variant_tag<A>());
                try {
                    if constexpr (!std::same_as<A, std::monostate>) write_binary(out, alt);
                } catch (codec_failure& f) {
                    prepend_key(f, variant_tag<A>());
                    throw;
                }
            },
            v);
    } else if constexpr (std::same_as<T, json_value>) {
        write_binary_json(out, v);
    } else if constexpr (std::same_as<T, json_document>) {
        binary_put_varint(out, v.size());
        for (const auto& [k, e] : v) {
            binary_put_string(out, k);
            write_binary_json(out, e);
        }
    } else if constexpr (described<T>) {
        binary_put_length_delimited(out, [&] { write_binary_fields(out, v); });
    }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------
class binary_reader {
public:
    binary_reader(const std::byte* begin, const std::byte* p, const std::byte* end, unsigned* depth) noexcept
        : begin_(begin), p_(p), end_(end), depth_(depth) {}

    // Held while reading a container: a recursive type (a struct holding a
    // vector of itself) cannot make hostile input exhaust the stack.
    class nesting {
    public:
        explicit nesting(binary_reader& r) : r_(r) {
            if (++*r_.depth_ > json_max_depth) {
                --*r_.depth_;
                r_.fail("nesting deeper than " + std::to_string(json_max_depth) + " levels");
            }
        }
        ~nesting() { --*r_.depth_; }
        nesting(const nesting&) = delete;
        nesting& operator=(const nesting&) = delete;

    private:
        binary_reader& r_;
    };

    bool at_end() const noexcept { return p_ == end_; }
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }

    [[noreturn]] void fail(std::string message) const { throw codec_failure{std::move(message), {}, offset()}; }

    std::uint8_t byte() {
        if (p_ == end_) fail("truncated");
        return static_cast<std::uint8_t>(*p_++);
    }

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0;; shift += 7) {
            if (p_ == end_) fail("truncated varint");
            const auto b = static_cast<std::uint8_t>(*p_++);
            if (shift == 63 && b > 1) fail("varint overflows 64 bits");
            v |= std::uint64_t{b & 0x7Fu} << shift;
            if (!(b & 0x80)) {
                if (b == 0 && shift != 0) fail("non-minimal varint");
                return v;
            }
            if (shift == 63) fail("varint longer than 10 bytes");
        }
    }

    template <class U>
    U fixed() {
        if (remaining() < sizeof(U)) fail("truncated");
        U v = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<std::uint8_t>(p_[i])) << (8 * i);
        p_ += sizeof(U);
        return v;
    }

    // A length or count that must fit in what is left (every element takes
    // at least one byte), so a hostile count cannot make us allocate.
    std::size_t count() {
        const std::uint64_t n = varint();
        if (n > remaining()) fail("length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) + " bytes left");
        return static_cast<std::size_t>(n);
    }

    std::string_view string() {
        const std::size_t n = count();
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

    // A reader over the next n bytes; this one moves past them.
    binary_reader sub(std::size_t n) {
        if (n > remaining()) fail("truncated");
        binary_reader r(begin_, p_, p_ + n, depth_);
        p_ += n;
        return r;
    }

    void skip(binary_wire w) {
        switch (w) {
            case binary_wire::varint: (void)varint(); return;
            case binary_wire::fixed64: (void)fixed<std::uint64_t>(); return;
            case binary_wire::fixed32: (void)fixed<std::uint32_t>(); return;
            case binary_wire::length_delimited: (void)sub(count()); return;
            case binary_wire::empty: return;
        }
        fail("unknown binary_wire type");
    }

private:
    const std::byte* begin_;
    const std::byte* p_;
    const std::byte* end_;
    unsigned* depth_;
};

template <class T>
void read_binary(binary_reader& r, T& out);

inline json_value read_binary_json(binary_reader& r) {
    binary_reader::nesting guard(r);
    const std::uint8_t k = r.byte();
    switch (k) {
        case 0: return json_value{};
        case 1: return json_value(false);
        case 2: return json_value(true);
        case 3: {
            auto t = r.string();
            if (!is_json_number(t)) r.fail("invalid JSON number text");
            return json_value::number(t);
        }
        case 4: {
            auto s = r.string();
            if (!is_valid_utf8(s)) r.fail("string is not valid UTF-8");
            return json_value(s);
        }
        case 5: {
            const std::size_t n = r.count();
            json_value::array a;
            a.reserve(std::min<std::size_t>(n, 1024));
            for (std::size_t i = 0; i < n; ++i) {
                try {
                    a.push_back(read_binary_json(r));
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
            }
            return json_value(std::move(a));
        }
        case 6: {
            const std::size_t n = r.count();
            json_value::object o;
            o.reserve(std::min<std::size_t>(n, 1024));
            for (std::size_t i = 0; i < n; ++i) {
                auto key = r.string();
                if (!is_valid_utf8(key)) r.fail("object key is not valid UTF-8");
                try {
                    o.emplace_back(std::string(key), read_binary_json(r));
                } catch (codec_failure& f) {
                    prepend_key(f, key);
                    throw;
                }
            }
            return json_value(std::move(o));
        }
        default: r.fail("unknown JSON value kind " + std::to_string(k));
    }
}

// Reads fields to the end of r, or, when `terminated` (a version-2 record's
// top level), to the 0x00 that must be its last byte.
template <class T>
void read_binary_fields(binary_reader& r, T& out, bool terminated = false) {
    constexpr std::size_t n = field_count_v<T>;
    std::array<bool, n> seen{};
    const auto& fs = fields<T>();
    for (;;) {
        if (r.at_end()) {
            if (terminated) r.fail("truncated (no end-of-record marker)");
            break;
        }
        const std::uint64_t key = r.varint();
        if (key == 0 && terminated) {
            if (!r.at_end()) r.fail("unexpected bytes after the end-of-record marker");
            break;
        }
        const auto w = static_cast<binary_wire>(key & 7);
        if (w != binary_wire::varint && w != binary_wire::fixed64 && w != binary_wire::fixed32 &&
            w != binary_wire::length_delimited && w != binary_wire::empty)
            r.fail("unknown binary_wire type " + std::to_string(key & 7));
        const std::uint64_t number = key >> 3;
        if (number == 0) r.fail("field number 0");
        if (number > n) {  // a field from a newer version of the struct
            r.skip(w);
            continue;
        }
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            auto one = [&](const auto& fd, std::size_t i) {
                if (number != i + 1) return false;
                auto& m = out.*(fd.pointer);
                using M = std::remove_cvref_t<decltype(m)>;
                constexpr binary_wire expected = wire_type_of<field_payload_t<M>>();
                try {
                    if (seen[i]) r.fail("field repeated");
                    if constexpr (!std::is_same_v<field_payload_t<M>, M>) {
                        if (w == binary_wire::empty) {
                            m.reset();
                            seen[i] = true;
                            return true;
                        }
                    }
                    if (w != expected)
                        r.fail("binary_wire type " + std::to_string(static_cast<int>(w)) + ", expected " +
                               std::to_string(static_cast<int>(expected)));
                    auto read_inner = [&](auto& target) {
                        using Inner = std::remove_cvref_t<decltype(target)>;
                        if constexpr (wire_type_of<Inner>() == binary_wire::length_delimited && !self_delimited<Inner>()) {
                            binary_reader body = r.sub(r.count());
                            read_binary(body, target);
                            if (!body.at_end()) body.fail("unexpected bytes after the value");
                        } else {
                            read_binary(r, target);
                        }
                    };
                    if constexpr (!std::is_same_v<field_payload_t<M>, M>) read_inner(m.emplace());
                    else read_inner(m);
                } catch (codec_failure& fail) {
                    prepend_field(fail, fd.name);
                    throw;
                }
                seen[i] = true;
                return true;
            };
            (one(std::get<I>(fs), I) || ...);
        }(std::make_index_sequence<n>{});
    }
    // A missing field keeps the value the type's default constructor gave
    // it, unless STOWAGE_FIELD_RULES marks it required.
    for (std::size_t i = 0; i < n; ++i)
        if (!seen[i] && field_required<T>(i))
            throw codec_failure{"missing required field", "." + std::string(field_names_v<T>[i]), r.offset()};
}

inline std::int64_t binary_get_zigzag(binary_reader& r) {
    const std::uint64_t raw = r.varint();
    return static_cast<std::int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
}

template <class T>
void read_binary(binary_reader& r, T& out) {
    static_assert(codable<T>, "binary_codec: this type cannot be decoded (see codec/detail/codec_traits.hpp)");
    if constexpr (adapted<T>) {
        adapter_representation_t<T> rep{};
        read_binary(r, rep);
        out = adapter_from<T>(std::move(rep));
    } else if constexpr (std::same_as<T, bool>) {
        const std::uint64_t b = r.varint();
        if (b > 1) r.fail("boolean is " + std::to_string(b));
        out = b == 1;
    } else if constexpr (codec_integer<T>) {
        using lim = std::numeric_limits<T>;
        if constexpr (std::is_signed_v<T>) {
            const std::int64_t x = binary_get_zigzag(r);
            if (x < lim::min() || x > lim::max()) r.fail("integer " + std::to_string(x) + " out of range");
            out = static_cast<T>(x);
        } else {
            const std::uint64_t raw = r.varint();
            if (raw > lim::max()) r.fail("integer " + std::to_string(raw) + " out of range");
            out = static_cast<T>(raw);
        }
    } else if constexpr (std::same_as<T, double>) {
        out = std::bit_cast<double>(r.fixed<std::uint64_t>());
    } else if constexpr (std::same_as<T, float>) {
        out = std::bit_cast<float>(r.fixed<std::uint32_t>());
    } else if constexpr (std::same_as<T, std::string>) {
        out.assign(r.string());
    } else if constexpr (is_byte_string<T>::value) {
        const auto b = as_bytes(r.string());
        if constexpr (requires { out.assign(b.begin(), b.end()); }) {
            out.assign(b.begin(), b.end());
        } else {
            if (b.size() != out.size()) r.fail("expected " + std::to_string(out.size()) + " bytes, found " + std::to_string(b.size()));
            std::copy(b.begin(), b.end(), out.begin());
        }
    } else if constexpr (codec_time<T> || codec_duration<T>) {
        seconds_nanos sn;
        sn.seconds = binary_get_zigzag(r);
        const std::uint64_t nanos = r.varint();
        if (nanos >= static_cast<std::uint64_t>(nanos_per_second)) r.fail("nanoseconds " + std::to_string(nanos) + " out of range");
        sn.nanos = static_cast<std::uint32_t>(nanos);
        if constexpr (codec_time<T>) {
            typename T::duration d{};
            if (const char* why = chrono_from_nanos(join_nanos(sn), d)) r.fail(std::string("time ") + why);
            out = T(d);
        } else {
            if (const char* why = chrono_from_nanos(join_nanos(sn), out)) r.fail(std::string("duration ") + why);
        }
    } else if constexpr (described_enum<T>) {
        auto name = r.string();
        auto e = enum_from_name<T>(name);
        if (!e) r.fail("\"" + std::string(name.substr(0, 64)) + "\" is not a value of enum " + std::string(enum_type_name_v<T>));
        out = *e;
    } else if constexpr (is_std_optional<T>::value) {
        const std::uint8_t present = r.byte();
        if (present > 1) r.fail("optional marker is " + std::to_string(present));
        if (present) read_binary(r, out.emplace());
        else out.reset();
    } else if constexpr (codec_sequence<T>) {
        binary_reader::nesting guard(r);
        const std::size_t n = r.count();
        if constexpr (is_std_array<T>::value) {
            if (n != out.size()) r.fail("expected " + std::to_string(out.size()) + " elements, found " + std::to_string(n));
        } else {
            out.clear();
            if constexpr (is_std_vector<T>::value) out.reserve(std::min<std::size_t>(n, 1024));
        }
        for (std::size_t i = 0; i < n; ++i) {
            try {
                if constexpr (is_std_array<T>::value) {
                    read_binary(r, out[i]);
                } else if constexpr (is_std_set<T>::value) {
                    // Any order, repeats adding nothing: a vector's record
                    // reads as a set.
                    typename T::value_type e{};
                    read_binary(r, e);
                    out.insert(std::move(e));
                } else if constexpr (std::same_as<typename T::value_type, bool>) {
                    bool b = false;
                    read_binary(r, b);
                    out.push_back(b);
                } else {
                    read_binary(r, out.emplace_back());
                }
            } catch (codec_failure& f) {
                prepend_index(f, i);
                throw;
            }
        }
    } else if constexpr (codec_map<T>) {
        binary_reader::nesting guard(r);
        const std::size_t n = r.count();
        out.clear();
        for (std::size_t i = 0; i < n; ++i) {
            typename T::key_type key{};
            read_binary(r, key);
            if constexpr (is_std_map<T>::value) {
                if (!out.empty() && !out.key_comp()(out.rbegin()->first, key)) r.fail("map keys out of order or repeated");
            } else {
                if (out.count(key)) r.fail("map key repeated");
            }
            typename T::mapped_type m{};
            try {
                read_binary(r, m);
            } catch (codec_failure& f) {
                prepend_key(f, map_key_text(key));
                throw;
            }
            if constexpr (is_std_map<T>::value) out.emplace_hint(out.end(), std::move(key), std::move(m));
            else out.emplace(std::move(key), std::move(m));
        }
    } else if constexpr (is_tuple_like<T>::value) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            [[maybe_unused]] auto one = [&](auto& e, std::size_t i) {
                try {
                    read_binary(r, e);
                } catch (codec_failure& f) {
                    prepend_index(f, i);
                    throw;
                }
            };
            (one(std::get<I>(out), I), ...);
        }(std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (is_std_variant<T>::value) {
        binary_reader::nesting guard(r);
        const std::string_view tag = r.string();
        const bool found = [&]<std::size_t... I>(std::index_sequence<I...>) {
            auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
                using A = std::variant_alternative_t<J, T>;
                if (tag != variant_tag<A>()) return false;
                try {
                    if constexpr (std::same_as<A, std::monostate>) {
                        out.template emplace<J>();
                    } else {
                        A alt{};
                        read_binary(r, alt);
                        out.template emplace<J>(std::move(alt));
                    }
                } catch (codec_failure& f) {
                    prepend_key(f, tag);
                    throw;
                }
                return true;
            };
            return (one(std::integral_constant<std::size_t, I>{}) || ...);
        }(std::make_index_sequence<std::variant_size_v<T>>{});
        if (!found) r.fail("\"" + std::string(tag.substr(0, 64)) + "\" is not an alternative of this variant");
    } else if constexpr (std::same_as<T, json_value>) {
        out = read_binary_json(r);
    } else if constexpr (std::same_as<T, json_document>) {
        const std::size_t n = r.count();
        json_value::object o;
        o.reserve(std::min<std::size_t>(n, 1024));
        for (std::size_t i = 0; i < n; ++i) {
            auto key = r.string();
            if (!is_valid_utf8(key)) r.fail("object key is not valid UTF-8");
            try {
                o.emplace_back(std::string(key), read_binary_json(r));
            } catch (codec_failure& f) {
                prepend_key(f, key);
                throw;
            }
        }
        out = json_document(std::move(o));
    } else if constexpr (described<T>) {
        binary_reader::nesting guard(r);
        binary_reader body = r.sub(r.count());
        read_binary_fields(body, out);
    }
}

template <class T>
void add_binary_root_name(codec_failure& f) {
    if constexpr (described<T>) prepend_field(f, type_name_v<T>);
}

}  // namespace detail

struct binary_codec {
    static constexpr std::string_view name = "binary";

    // For components that take a codec: true when T can be stored, else a
    // compile error naming the type, the field path and the fix.
    template <class T>
    static constexpr bool diagnose() {
        return detail::check_codable<T>();
    }

    // Appends v's record (version byte, then the value) to out.
    template <detail::codable T>
    void encode(const T& v, bytes& out) const {
        const std::size_t old = out.size();
        try {
            detail::binary_put_byte(out, detail::binary_format_version);
            if constexpr (described<T> && !detail::adapted<T>) {
                detail::write_binary_fields(out, v);
                detail::binary_put_byte(out, 0);  // end of record
            } else {
                detail::write_binary(out, v);
            }
        } catch (detail::codec_failure& f) {
            out.resize(old);
            detail::add_binary_root_name<T>(f);
            detail::throw_codec_failure(f, "binary encode", errc::bad_input);
        }
    }

    // Replaces out with the value of the record in `in`.
    template <detail::codable T>
    void decode(bytes_view in, T& out) const {
        if (in.empty()) throw error(errc::corrupt, "binary decode: empty record");
        const auto version = static_cast<std::uint8_t>(in[0]);
        if (version < detail::binary_oldest_version || version > detail::binary_format_version) {
            throw error(version > detail::binary_format_version ? errc::unsupported : errc::corrupt,
                        "binary decode: format version " + std::to_string(version) + " (this build reads versions " +
                            std::to_string(detail::binary_oldest_version) + " to " +
                            std::to_string(detail::binary_format_version) + ")");
        }
        T value{};
        try {
            unsigned depth = 0;
            detail::binary_reader r(in.data(), in.data() + 1, in.data() + in.size(), &depth);
            if constexpr (described<T> && !detail::adapted<T>) {
                detail::read_binary_fields(r, value, version >= 2);
            } else {
                detail::read_binary(r, value);
                if (!r.at_end()) r.fail("unexpected bytes after the value");
            }
        } catch (detail::codec_failure& f) {
            detail::add_binary_root_name<T>(f);
            detail::throw_codec_failure(f, "binary decode", errc::corrupt);
        }
        out = std::move(value);
    }
};

}  // namespace stowage
