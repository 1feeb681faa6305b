// binary_codec: the documented wire format byte for byte, schema evolution
// (unknown fields skipped, absent optionals empty), every field type
// round-trips (random values, also through gzip), and corrupt or truncated
// records are errc::corrupt — fuzzed with byte flips and truncations (run
// under ASan by the sanitizer build).
#define BOOST_TEST_MODULE codec_binary
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"

// The same value generator as codec_json_test.cpp (one test file per header:
// the two codecs are tested on the same kinds of values).
namespace t {

enum class color { red, green, blue };
STOWAGE_DESCRIBE_ENUM(color, red, green, blue)

struct point {
    std::int32_t x = 0;
    std::int32_t y = 0;
    std::optional<std::string> label;
    bool operator==(const point&) const = default;
};
STOWAGE_DESCRIBE(point, x, y, label)

// Every supported field type, with nesting. `typed` leaves out the untyped
// JSON members (whose number text Python would rewrite).
struct typed {
    bool b = false;
    std::int8_t i8 = 0;
    std::int16_t i16 = 0;
    std::int32_t i32 = 0;
    std::int64_t i64 = 0;
    std::uint8_t u8 = 0;
    std::uint16_t u16 = 0;
    std::uint32_t u32 = 0;
    std::uint64_t u64 = 0;
    float f = 0;
    double d = 0;
    std::string s;
    color c = color::red;
    std::optional<std::int64_t> oi;
    std::optional<std::string> os;
    std::optional<point> op;
    std::optional<std::vector<int>> ov;
    std::vector<bool> vb;
    std::vector<std::int64_t> vi;
    std::vector<double> vd;
    std::vector<std::string> vs;
    std::vector<point> vp;
    std::vector<std::vector<std::uint16_t>> vvu;
    std::vector<std::optional<std::string>> vos;
    std::vector<color> vc;
    std::map<std::string, int> mi;
    std::map<std::string, point> mp;
    std::map<std::string, std::vector<std::string>> mvs;
    point nested;
    bool operator==(const typed&) const = default;
};
STOWAGE_DESCRIBE(typed, b, i8, i16, i32, i64, u8, u16, u32, u64, f, d, s, c, oi, os, op, ov, vb, vi, vd, vs, vp,
                 vvu, vos, vc, mi, mp, mvs, nested)

struct everything {
    typed all;
    stowage::json_value any;
    stowage::json_document doc;
    std::vector<stowage::json_value> values;
    bool operator==(const everything&) const = default;
};
STOWAGE_DESCRIBE(everything, all, any, doc, values)

// ---------------------------------------------------------------------------
// Random values of any supported type.
// ---------------------------------------------------------------------------
struct random_values {
    std::mt19937_64 rng;
    bool raw_strings = false;  // std::string members get arbitrary bytes (binary carries them)
    explicit random_values(std::uint64_t seed) : rng(seed) {}

    std::string raw_bytes() {
        std::string s(below(12), '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        return s;
    }

    std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); }
    bool coin() { return below(2) == 1; }

    // Valid UTF-8 mixing ASCII, JSON's special characters, control
    // characters including NUL, and 2-, 3- and 4-byte sequences.
    std::string text() {
        static const char* const pieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\r", "\b", "\f",
                                             "" /* NUL, below */, "\x01", "\x1f", "\x7f",
                                             "\xc3\xa9", "\xce\xa9", "\xe2\x82\xac", "\xe6\x97\xa5", "\xef\xbf\xbf",
                                             "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xe2\x80\xa8", "{", "]", ","};
        std::string s;
        const auto n = below(12);
        for (std::uint64_t i = 0; i < n; ++i) {
            const auto k = below(std::size(pieces));
            if (k == 11) s.push_back('\0');
            else s += pieces[k];
        }
        return s;
    }

    template <class F>
    F floating() {
        using U = std::conditional_t<sizeof(F) == 8, std::uint64_t, std::uint32_t>;
        switch (below(8)) {
            case 0: return F(0) * -1;  // -0
            case 1: return std::numeric_limits<F>::denorm_min();
            case 2: return std::numeric_limits<F>::max();
            case 3: return static_cast<F>(below(1000)) / 10;
            default:
                for (;;) {  // any finite bit pattern
                    const F v = std::bit_cast<F>(static_cast<U>(rng()));
                    if (std::isfinite(v)) return v;
                }
        }
    }

    template <class I>
    I integer() {
        using lim = std::numeric_limits<I>;
        switch (below(5)) {
            case 0: return lim::min();
            case 1: return lim::max();
            case 2: return static_cast<I>(below(10));
            default: return static_cast<I>(rng());
        }
    }

    stowage::json_value json(int depth) {
        using stowage::json_value;
        switch (below(depth > 2 ? 6 : 8)) {
            case 0: return json_value{};
            case 1: return json_value(coin());
            case 2: {
                static const char* const exotic[] = {"1e400", "-0", "123456789012345678901234567890", "0.10",
                                                     "1E+2", "-1.5e-7", "0", "-9223372036854775809"};
                return coin() ? json_value::number(exotic[below(std::size(exotic))])
                              : json_value(integer<std::int64_t>());
            }
            case 3: return json_value(floating<double>());
            case 4:
            case 5: return json_value(text());
            case 6: {
                json_value::array a;
                for (auto n = below(4); n > 0; --n) a.push_back(json(depth + 1));
                return json_value(std::move(a));
            }
            default: {
                json_value::object o;
                for (auto n = below(4); n > 0; --n) o.emplace_back(text(), json(depth + 1));
                return json_value(std::move(o));
            }
        }
    }

    template <class T>
    T make(int depth = 0) {
        T v{};
        fill(v, depth);
        return v;
    }

    template <class T>
    void fill(T& v, int depth) {
        namespace d = stowage::detail;
        if constexpr (std::is_same_v<T, bool>) v = coin();
        else if constexpr (d::codec_integer<T>) v = integer<T>();
        else if constexpr (d::codec_floating<T>) v = floating<T>();
        else if constexpr (std::is_same_v<T, std::string>) v = raw_strings && coin() ? raw_bytes() : text();
        else if constexpr (stowage::described_enum<T>) v = stowage::enum_values_v<T>[below(stowage::enum_values_v<T>.size())].value;
        else if constexpr (d::is_std_optional<T>::value) {
            if (coin()) v = make<typename T::value_type>(depth + 1);
            else v.reset();
        } else if constexpr (d::is_std_vector<T>::value) {
            v.clear();
            for (auto n = below(depth > 2 ? 2 : 5); n > 0; --n) v.push_back(make<typename T::value_type>(depth + 1));
        } else if constexpr (d::is_std_string_map<T>::value) {
            v.clear();
            for (auto n = below(4); n > 0; --n) v[text()] = make<typename T::mapped_type>(depth + 1);
        } else if constexpr (std::is_same_v<T, stowage::json_value>) {
            v = json(depth);
        } else if constexpr (std::is_same_v<T, stowage::json_document>) {
            v = stowage::json_document{};
            for (auto n = below(5); n > 0; --n) v.members().emplace_back(text(), json(depth + 1));
        } else if constexpr (stowage::described<T>) {
            stowage::for_each_field(v, [&](std::string_view, auto& m) { fill(m, depth + 1); });
        } else {
            static_assert(d::codec_dependent_false<T>);
        }
    }
};

}  // namespace t

namespace v1 {
struct inner {
    std::int32_t n = 0;
    bool operator==(const inner&) const = default;
};
STOWAGE_DESCRIBE(inner, n)

struct small {
    std::uint32_t a = 0;
    std::int32_t b = 0;
    std::string s;
    std::optional<int> o;
    bool t = false;
    bool operator==(const small&) const = default;
};
STOWAGE_DESCRIBE(small, a, b, s, o, t)

struct record {
    std::string id;
    std::int64_t n = 0;
    bool operator==(const record&) const = default;
};
STOWAGE_DESCRIBE(record, id, n)
}  // namespace v1

namespace v2 {  // record, grown by one field of every wire type
struct nested {
    std::string x;
};
STOWAGE_DESCRIBE(nested, x)

struct record {
    std::string id;
    std::int64_t n = 0;
    std::optional<std::vector<std::string>> tags;
    std::optional<double> score;
    std::optional<float> ratio;
    std::optional<nested> more;
    std::optional<std::uint64_t> count;
    std::optional<std::map<std::string, int>> meta;
};
STOWAGE_DESCRIBE(record, id, n, tags, score, ratio, more, count, meta)

struct record_required {  // a new field that is required
    std::string id;
    std::int64_t n = 0;
    std::string owner;
};
STOWAGE_DESCRIBE(record_required, id, n, owner)
STOWAGE_FIELD_RULES(record_required, stowage::required("owner"))

struct record_retyped {  // field 2 changed from integer to string
    std::string id;
    std::string n;
};
STOWAGE_DESCRIBE(record_retyped, id, n)
}  // namespace v2

namespace t {
struct holder {
    std::int32_t before = 0;
    point p;
    std::string big;
    std::int32_t after = 0;
    bool operator==(const holder&) const = default;
};
STOWAGE_DESCRIBE(holder, before, p, big, after)

struct node {  // a recursive type: input decides the depth
    int v = 0;
    std::vector<node> kids;
    bool operator==(const node&) const = default;
};
STOWAGE_DESCRIBE(node, v, kids)

struct wrapper {
    holder h;
    std::vector<holder> hs;
    bool operator==(const wrapper&) const = default;
};
STOWAGE_DESCRIBE(wrapper, h, hs)
}  // namespace t

using namespace stowage;
namespace st = stowage::test;

static_assert(codec_for<binary_codec, t::everything>);
static_assert(codec_for<binary_codec, json_document>);
static_assert(codec_for<gzip<binary_codec>, t::everything>);
static_assert(!codec_for<binary_codec, long double>);
static_assert(binary_codec::name == "binary");
static_assert(gzip<binary_codec>::name == "gzip+binary");

namespace {

bytes hex(std::string_view h) {
    bytes b;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
        while (h[i] == ' ') ++i;
        b.push_back(static_cast<std::byte>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    }
    return b;
}

template <class T>
bytes encode(const T& v) {
    bytes b;
    binary_codec{}.encode(v, b);
    return b;
}

template <class T>
T decode(bytes_view b) {
    T v{};
    binary_codec{}.decode(b, v);
    return v;
}

template <class T>
errc decode_error(bytes_view b, std::string* what = nullptr) {
    try {
        (void)decode<T>(b);
    } catch (const stowage::error& e) {
        if (what) *what = e.what();
        return e.kind();
    }
    return errc{};
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(wire_format_is_as_documented) {
    // version 2 | field 1 varint 150 | field 2 zigzag(-2)=3 | field 3 "hi" | (4 absent) | field 5 true | end 00
    BOOST_TEST((encode(v1::small{150, -2, "hi", std::nullopt, true}) == hex("02 08 9601 10 03 1a 02 6869 28 01 00")));
    BOOST_TEST((encode(v1::small{0, 0, "", 7, false}) == hex("02 08 00 10 00 1a 00 20 0e 28 00 00")));
    // double is wire type 1 (8 bytes LE), float wire type 5 (4 bytes LE); nested struct: length, fields
    v2::record r{"i", 1, std::vector<std::string>{"a"}, 1.0, 1.0f, v2::nested{"x"}, 300, std::nullopt};
    BOOST_TEST((encode(r) == hex("02 0a 01 69 10 02 1a 03 01 01 61 21 000000000000f03f 2d 0000803f"
                                 " 32 03 0a 01 78 38 ac02 00")));
    // non-struct values: version, then the value (self-delimiting: no end marker)
    BOOST_TEST((encode(std::int64_t{-1}) == hex("02 01")));
    BOOST_TEST((encode(std::numeric_limits<std::uint64_t>::max()) == hex("02 ffffffffffffffffff01")));
    BOOST_TEST((encode(std::vector<std::optional<bool>>{true, std::nullopt}) == hex("02 02 01 01 00")));
    BOOST_TEST((encode(std::map<std::string, int>{{"b", 1}, {"a", -1}}) == hex("02 02 01 61 01 01 62 02")));
    BOOST_TEST((encode(t::color::blue) == hex("02 04 626c7565")));  // enums by name
    BOOST_TEST((encode(json_value(json_value::array{nullptr, false, true, json_value::number("1e400"), "s",
                                                    json_value::object{{"k", json_value::array{}}}})) ==
                hex("02 05 06 00 01 02 03 05 3165343030 04 01 73 06 01 01 6b 05 00")));
}

BOOST_AUTO_TEST_CASE(version_1_records_still_read) {
    // Written before the end-of-record marker: fields to the end.
    BOOST_TEST((decode<v1::small>(hex("01 08 9601 10 03 1a 02 6869 28 01")) == v1::small{150, -2, "hi", std::nullopt, true}));
    BOOST_TEST((decode<std::int64_t>(hex("01 01")) == -1));
}

BOOST_AUTO_TEST_CASE(long_nested_values_get_multi_byte_lengths) {
    t::wrapper w;
    w.h = t::holder{-1, t::point{1, 2, "label"}, std::string(300, 'x'), 7};
    for (int i = 0; i < 50; ++i) w.hs.push_back(t::holder{i, t::point{i, -i, std::nullopt}, std::string(i * 7, 'y'), i});
    const bytes b = encode(w);
    BOOST_TEST((decode<t::wrapper>(b) == w));
    // field 1 (holder h): key 0x0a, then a 2-byte length (> 127)
    BOOST_TEST(std::to_integer<int>(b[1]) == 0x0a);
    BOOST_TEST((std::to_integer<int>(b[2]) & 0x80) != 0);
}

BOOST_AUTO_TEST_CASE(a_newer_writer_older_reader_skips_unknown_fields) {
    v2::record r{"id-1", 42, std::vector<std::string>{"a", "b"}, 2.5, 0.5f, v2::nested{"deep"}, 1u << 20,
                 std::map<std::string, int>{{"k", 1}}};
    const auto old = decode<v1::record>(encode(r));
    BOOST_TEST(old.id == "id-1");
    BOOST_TEST(old.n == 42);
}

BOOST_AUTO_TEST_CASE(an_older_writer_newer_reader_gets_empty_optionals) {
    const auto r = decode<v2::record>(encode(v1::record{"id-2", -3}));
    BOOST_TEST(r.id == "id-2");
    BOOST_TEST(r.n == -3);
    BOOST_TEST(!r.tags.has_value());
    BOOST_TEST(!r.score.has_value());
    BOOST_TEST(!r.more.has_value());
    BOOST_TEST(!r.meta.has_value());
    std::string what;
    BOOST_TEST((decode_error<v2::record_required>(encode(v1::record{"x", 1}), &what) == errc::corrupt));
    BOOST_TEST(contains(what, "record_required.owner: missing required field"), what);
    BOOST_TEST((decode_error<v2::record_retyped>(encode(v1::record{"x", 1}), &what) == errc::corrupt));
    BOOST_TEST(contains(what, "record_retyped.n: binary_wire type 0, expected 2"), what);
}

BOOST_AUTO_TEST_CASE(is_more_compact_than_json) {
    t::random_values gen(st::test_seed());
    std::size_t json_bytes = 0, binary_bytes = 0;
    for (int i = 0; i < 200; ++i) {
        const auto v = gen.make<t::typed>();
        json_bytes += to_json(v).size();
        binary_bytes += encode(v).size();
    }
    BOOST_TEST_MESSAGE("binary/json size: " << double(binary_bytes) / double(json_bytes));
    BOOST_TEST(binary_bytes * 10 < json_bytes * 8);
}

BOOST_AUTO_TEST_CASE(version_byte_is_checked) {
    bytes b = encode(v1::record{"x", 1});
    b[0] = std::byte{3};
    std::string what;
    BOOST_TEST((decode_error<v1::record>(b, &what) == errc::unsupported));
    BOOST_TEST(contains(what, "format version 3 (this build reads versions 1 to 2)"), what);
    b[0] = std::byte{0};
    BOOST_TEST((decode_error<v1::record>(b) == errc::corrupt));
    BOOST_TEST((decode_error<v1::record>(bytes{}) == errc::corrupt));
}

BOOST_AUTO_TEST_CASE(malformed_records_are_corrupt) {
    std::string what;
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"01 0a 05 6869", "truncated string (length past the end)"},
        {"01 0a 02 6869 10 8080808080808080808001", "varint longer than 10 bytes"},
        {"01 0a 02 6869 10 ffffffffffffffffff02", "varint overflowing 64 bits"},
        {"01 0a 02 6869 10 8000", "non-minimal varint"},
        {"01 0a 02 6869 10 02 10 04", "field repeated"},
        {"01 0a 02 6869 10 02 00 00", "field number 0"},
        {"01 0a 02 6869 10 02 0b", "unknown binary_wire type 3"},
        {"01 0a 02 6869 10 02 50 ff", "unknown field truncated"},
        {"02 0a 02 6869", "version 2 without its end-of-record marker"},
        {"02 0a 02 6869 10 02 00 00", "bytes after the end-of-record marker"},
        {"02 0a 02 6869 10 02 00 10 04", "a field after the end-of-record marker"},
        {"01 0a 02 6869 10", "truncated varint"},
    };
    for (const auto& [h, why] : cases)
        BOOST_TEST((decode_error<v1::record>(hex(h), &what) == errc::corrupt), why << ": " << what);

    BOOST_TEST((decode_error<bool>(hex("01 02")) == errc::corrupt));
    BOOST_TEST((decode_error<std::optional<int>>(hex("01 02 00")) == errc::corrupt));
    BOOST_TEST((decode_error<std::int8_t>(hex("01 8002")) == errc::corrupt));  // 128 does not fit
    BOOST_TEST((decode_error<std::map<std::string, int>>(hex("01 02 01 62 02 01 61 02")) == errc::corrupt));
    BOOST_TEST((decode_error<std::map<std::string, int>>(hex("01 02 01 61 02 01 61 02")) == errc::corrupt));
    BOOST_TEST((decode_error<t::color>(hex("01 04 70696e6b"), &what) == errc::corrupt));  // "pink"
    BOOST_TEST(contains(what, "pink"), what);
    BOOST_TEST((decode_error<std::int64_t>(hex("01 01 00")) == errc::corrupt));  // trailing byte
    BOOST_TEST((decode_error<json_value>(hex("01 04 01 ff")) == errc::corrupt));  // JSON string, bad UTF-8
    BOOST_TEST((decode_error<json_value>(hex("01 03 02 3031")) == errc::corrupt));  // number text "01"
    BOOST_TEST((decode_error<json_value>(hex("01 07")) == errc::corrupt));          // unknown kind
}

BOOST_AUTO_TEST_CASE(hostile_lengths_do_not_allocate) {
    // A count of 2^60 elements in a 12-byte record.
    BOOST_TEST((decode_error<std::vector<std::string>>(hex("01 8080808080808080 10")) == errc::corrupt));
    BOOST_TEST((decode_error<std::string>(hex("01 ffffffffffffffff7f")) == errc::corrupt));
    BOOST_TEST((decode_error<json_value>(hex("01 05 ffffffff0f")) == errc::corrupt));
    // json_value nesting beyond the limit
    bytes deep = hex("01");
    for (int i = 0; i < 5000; ++i) deep.push_back(std::byte{5}), deep.push_back(std::byte{1});
    deep.push_back(std::byte{0});
    BOOST_TEST((decode_error<json_value>(deep) == errc::corrupt));
}

BOOST_AUTO_TEST_CASE(recursive_types_are_depth_limited) {
    t::node n{1, {}};
    for (int i = 0; i < 200; ++i) n = t::node{i, {n}};  // 400 levels (struct + vector each)
    BOOST_TEST((decode<t::node>(encode(n)) == n));
    // Hand-made hostile nesting: field 2 (kids), wrapped vector of one node, again and again.
    // Built inside out so every length is right; only the depth is hostile.
    bytes body = hex("08 00");  // fields of the innermost node: v = 0
    for (int i = 0; i < 2000; ++i) {
        bytes vec;  // value(vector<node>): count 1, value(node)
        detail::binary_put_varint(vec, 1);
        detail::binary_put_varint(vec, body.size());
        append(vec, body);
        bytes fields = hex("08 00 12");
        detail::binary_put_varint(fields, vec.size());
        append(fields, vec);
        body = std::move(fields);
    }
    bytes record = hex("01");
    append(record, body);
    std::string what;
    BOOST_TEST((decode_error<t::node>(record, &what) == errc::corrupt));
    BOOST_TEST(contains(what, "nesting deeper than 1000 levels"), what);
}

BOOST_AUTO_TEST_CASE(errors_name_the_path) {
    t::wrapper w;
    w.hs.resize(3);
    bytes b = encode(w);
    BOOST_REQUIRE(std::to_integer<int>(b[b.size() - 3]) == 0x20);  // the last holder's field 4, a varint
    b[b.size() - 3] = std::byte{0x23};                              // now of the unknown wire type 3
    std::string what;
    BOOST_TEST((decode_error<t::wrapper>(b, &what) == errc::corrupt));
    BOOST_TEST(contains(what, "wrapper.hs[2]: unknown binary_wire type 3"), what);
    BOOST_TEST(contains(what, "(at byte"), what);
}

BOOST_AUTO_TEST_CASE(encode_refuses_undescribed_enum_values_and_appends_nothing) {
    std::vector<t::color> v{t::color::red, static_cast<t::color>(9)};
    bytes out = to_bytes("x");
    BOOST_CHECK_THROW(binary_codec{}.encode(v, out), stowage::error);
    BOOST_TEST(out.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_decode_leaves_the_target_untouched) {
    v1::record r{"keep", 1};
    BOOST_CHECK_THROW(binary_codec{}.decode(hex("02 0a 01 6e"), r), stowage::error);
    BOOST_TEST(r.id == "keep");
}

// --- properties over random values -----------------------------------------
template <class Codec, class T>
void round_trip_many(const Codec& codec, int count, std::uint64_t seed, bool raw_strings) {
    t::random_values gen(seed);
    gen.raw_strings = raw_strings;
    for (int i = 0; i < count; ++i) {
        const T v = gen.make<T>();
        bytes a;
        codec.encode(v, a);
        T back;
        codec.decode(a, back);
        BOOST_TEST((back == v), "value #" << i << " did not round-trip");
        bytes b;
        codec.encode(back, b);
        BOOST_TEST((a == b), "value #" << i << " re-encodes differently");
    }
}

BOOST_AUTO_TEST_CASE(random_values_of_every_type_round_trip) {
    const auto seed = st::test_seed();
    round_trip_many<binary_codec, t::everything>(binary_codec{}, 500, seed, true);
    round_trip_many<binary_codec, std::vector<std::map<std::string, std::optional<t::point>>>>(binary_codec{}, 200,
                                                                                               seed + 1, true);
    round_trip_many<binary_codec, json_document>(binary_codec{}, 200, seed + 2, false);
    round_trip_many<binary_codec, std::optional<double>>(binary_codec{}, 100, seed + 3, false);
}

BOOST_AUTO_TEST_CASE(random_values_round_trip_through_gzip_binary) {
    const auto seed = st::test_seed();
    round_trip_many<gzip<binary_codec>, t::everything>(gzip<binary_codec>(1), 100, seed, true);
    round_trip_many<gzip<binary_codec>, t::everything>(gzip<binary_codec>(6), 100, seed + 1, true);
    round_trip_many<gzip<binary_codec>, t::everything>(gzip<binary_codec>(9), 100, seed + 2, true);
}

BOOST_AUTO_TEST_CASE(doubles_keep_their_bits) {
    t::random_values gen(st::test_seed());
    std::vector<double> ds{-0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()};
    for (int i = 0; i < 500; ++i) ds.push_back(std::bit_cast<double>(gen.rng()));  // NaN payloads included
    const auto back = decode<std::vector<double>>(encode(ds));
    BOOST_REQUIRE(back.size() == ds.size());
    for (std::size_t i = 0; i < ds.size(); ++i)
        BOOST_TEST(std::bit_cast<std::uint64_t>(back[i]) == std::bit_cast<std::uint64_t>(ds[i]));
}

// --- fuzzing ----------------------------------------------------------------
// Every decode of a damaged record either throws corrupt/unsupported or
// yields some value; it never crashes or reads out of bounds (the sanitizer
// build runs this under ASan + UBSan).
template <class T>
void expect_clean_failure_or_value(bytes_view b, int& failures, int& decoded) {
    try {
        T v;
        binary_codec{}.decode(b, v);
        ++decoded;
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::corrupt || e.kind() == errc::unsupported), e.what());
        ++failures;
    }
}

BOOST_AUTO_TEST_CASE(truncation_at_every_byte_is_refused) {
    t::random_values gen(st::test_seed());
    int failures = 0, decoded = 0;
    for (int i = 0; i < 60; ++i) {
        const bytes b = encode(gen.make<t::everything>());
        // A version-2 record ends with its end-of-record marker, so no proper
        // prefix is a record (a missing field alone would not show the cut).
        for (std::size_t n = 0; n < b.size(); ++n) {
            int before = decoded;
            expect_clean_failure_or_value<t::everything>(bytes_view(b.data(), n), failures, decoded);
            BOOST_TEST(decoded == before, "a record cut to " << n << " of " << b.size() << " bytes decoded");
        }
    }
    BOOST_TEST(failures > 0);
}

BOOST_AUTO_TEST_CASE(random_byte_flips_never_crash) {
    t::random_values gen(st::test_seed());
    const int rounds = st::stress_enabled() ? 20000 : 2000;
    int failures = 0, decoded = 0;
    for (int i = 0; i < rounds; ++i) {
        bytes b = encode(gen.make<t::everything>());
        const auto flips = 1 + gen.below(4);
        for (std::uint64_t k = 0; k < flips; ++k) b[gen.below(b.size())] ^= static_cast<std::byte>(1 + gen.below(255));
        if (gen.below(4) == 0) b.resize(gen.below(b.size() + 1));
        expect_clean_failure_or_value<t::everything>(b, failures, decoded);
        std::vector<std::byte> noise(gen.below(64));
        for (auto& x : noise) x = static_cast<std::byte>(gen.rng());
        if (!noise.empty()) noise[0] = std::byte{1};
        expect_clean_failure_or_value<t::everything>(noise, failures, decoded);
        expect_clean_failure_or_value<json_document>(noise, failures, decoded);
    }
    BOOST_TEST_MESSAGE(failures << " refused, " << decoded << " decoded to some value");
    BOOST_TEST(failures > rounds);
}
