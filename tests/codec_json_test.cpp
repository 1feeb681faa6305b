// json_codec: exact output, every field type round-trips (random values),
// errors name the field, the whole document is validated, and what we write
// is read by Python's json module to the same values.
#define BOOST_TEST_MODULE codec_json
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"

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

enum class status { draft, recording, done };
STOWAGE_DESCRIBE_ENUM(status, draft, recording, done)

struct session {
    std::string id;
    std::string name;
    status state = status::draft;
    std::int64_t start_time = 0;
    std::optional<std::int64_t> end_time;
    std::vector<std::string> tags;
    bool operator==(const session&) const = default;
};
STOWAGE_DESCRIBE(session, id, name, state, start_time, end_time, tags)
STOWAGE_FIELD_RULES(session, stowage::required("id"), stowage::required("start_time"))

struct node {  // a recursive type: input decides the depth
    int v = 0;
    std::vector<node> kids;
    bool operator==(const node&) const = default;
};
STOWAGE_DESCRIBE(node, v, kids)

struct with_defaults {  // an absent field takes its default, even an optional; null empties it
    std::string id;
    std::optional<int> n = 5;
};
STOWAGE_DESCRIBE(with_defaults, id, n)
STOWAGE_FIELD_RULES(with_defaults, stowage::required("id"))

struct narrow {
    std::int8_t i8 = 0;
    std::uint8_t u8 = 0;
    std::int16_t i16 = 0;
    std::uint16_t u16 = 0;
    std::int32_t i32 = 0;
    std::uint32_t u32 = 0;
    std::int64_t i64 = 0;
    std::uint64_t u64 = 0;
};
STOWAGE_DESCRIBE(narrow, i8, u8, i16, u16, i32, u32, i64, u64)

// ---------------------------------------------------------------------------
// Random values of any supported type.
// ---------------------------------------------------------------------------
struct random_values {
    std::mt19937_64 rng;
    explicit random_values(std::uint64_t seed) : rng(seed) {}

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
        else if constexpr (std::is_same_v<T, std::string>) v = text();
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

using namespace stowage;
namespace st = stowage::test;

static_assert(codec_for<json_codec, t::everything>);
static_assert(codec_for<json_codec, json_document>);
static_assert(codec_for<json_codec, json_value>);
static_assert(codec_for<json_codec, std::vector<std::map<std::string, int>>>);
static_assert(!codec_for<json_codec, int*>);
static_assert(codec_for<json_codec, std::optional<std::optional<int>>>);  // [null] and [5] (codec_types_test)
static_assert(!codec_for<json_codec, char>);
static_assert(json_codec::name == "json");

namespace {

template <class T>
errc decode_error(std::string_view json, std::string* what = nullptr) {
    try {
        (void)from_json<T>(json);
    } catch (const stowage::error& e) {
        if (what) *what = e.what();
        return e.kind();
    }
    return errc{};
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(writes_compact_json_in_declaration_order) {
    t::session s{"s1", "Weekly \"sync\"", t::status::recording, 1700000000123, std::nullopt, {"a", "b"}};
    BOOST_TEST(to_json(s) ==
               R"({"id":"s1","name":"Weekly \"sync\"","state":"recording","start_time":1700000000123,"tags":["a","b"]})");
    s.end_time = -1;
    BOOST_TEST(contains(to_json(s), R"("end_time":-1,)"));

    bytes out = to_bytes("prefix");
    json_codec{}.encode(s, out);  // appends
    BOOST_TEST(to_string(out).substr(0, 7) == "prefix{");
    t::session back;
    json_codec{}.decode(bytes_view(out).subspan(6), back);
    BOOST_TEST((back == s));
}

BOOST_AUTO_TEST_CASE(strings_escape_only_what_json_requires) {
    const std::string s = std::string("q\"b\\s/\n\r\t\b\f") + '\0' + "\x01\x1f\x7f" + "é€😀";
    BOOST_TEST(to_json(s) == "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f\x7f" "é€😀\"");
    BOOST_TEST(from_json<std::string>(to_json(s)) == s);
    BOOST_TEST(from_json<std::string>(R"("\u0041\u00e9\u20ac\ud83d\ude00\/")") == "Aé€😀/");
    BOOST_TEST(from_json<std::string>("\"a\\u0000b\"").size() == 3u);
}

// The writer scans strings eight bytes at a time: every byte that needs an
// escape, every non-ASCII sequence and every invalid one, at every position
// of strings longer than a word, against a byte-by-byte reference.
BOOST_AUTO_TEST_CASE(escapes_and_utf8_checks_hold_at_every_position) {
    auto reference = [](const std::string& s) {
        std::string out = "\"";
        for (unsigned char c : s) {
            static constexpr char hex[] = "0123456789abcdef";
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20) out += std::string("\\u00") + hex[c >> 4] + hex[c & 15];
                    else out += static_cast<char>(c);
            }
        }
        return out + "\"";
    };
    const std::vector<std::string> specials{"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", " ", "é", "€", "😀"};
    const std::vector<std::string> invalid{"\xff", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82", "\x80", "\xf4\x90\x80\x80"};
    for (std::size_t len = 0; len <= 20; ++len)
        for (std::size_t at = 0; at <= len; ++at) {
            for (const auto& sp : specials)
                for (const auto& second : {std::string(), std::string("\""), std::string("é")}) {
                    std::string s = std::string(at, 'a') + sp + std::string(len - at, 'b') + second;
                    BOOST_TEST(to_json(s) == reference(s), "special at " << at << " of " << s.size());
                    BOOST_TEST(from_json<std::string>(to_json(s)) == s);
                }
            for (const auto& bad : invalid)
                for (const auto& before : {std::string(), std::string("é"), std::string("\"")}) {
                    std::string s = before + std::string(at, 'a') + bad + std::string(len - at, 'b');
                    BOOST_CHECK_THROW(to_json(s), stowage::error);
                }
        }
}

BOOST_AUTO_TEST_CASE(doubles_and_floats_round_trip_bit_for_bit) {
    t::random_values gen(st::test_seed());
    std::vector<double> ds{0.0, -0.0, 0.1, 1e300, -1e-300, 5e-324, std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::min(), 9007199254740993.0};
    std::vector<float> fs{0.0f, -0.0f, 0.1f, 3.4028235e38f, 1.4e-45f, 1.17549435e-38f, 16777217.0f};
    for (int i = 0; i < 2000; ++i) ds.push_back(gen.floating<double>()), fs.push_back(gen.floating<float>());
    const auto ds2 = from_json<std::vector<double>>(to_json(ds));
    const auto fs2 = from_json<std::vector<float>>(to_json(fs));
    BOOST_REQUIRE(ds2.size() == ds.size());
    BOOST_REQUIRE(fs2.size() == fs.size());
    for (std::size_t i = 0; i < ds.size(); ++i)
        BOOST_TEST(std::bit_cast<std::uint64_t>(ds2[i]) == std::bit_cast<std::uint64_t>(ds[i]), "double #" << i);
    for (std::size_t i = 0; i < fs.size(); ++i)
        BOOST_TEST(std::bit_cast<std::uint32_t>(fs2[i]) == std::bit_cast<std::uint32_t>(fs[i]), "float #" << i);
    BOOST_TEST(to_json(-0.0) == "-0");
    BOOST_TEST(to_json(0.1) == "0.1");
    BOOST_TEST(from_json<double>("7") == 7.0);  // integers read as doubles
}

BOOST_AUTO_TEST_CASE(nan_infinity_and_invalid_utf8_are_refused_and_nothing_is_written) {
    t::typed v;
    v.vd = {1.0, std::numeric_limits<double>::quiet_NaN()};
    bytes out = to_bytes("keep");
    try {
        json_codec{}.encode(v, out);
        BOOST_FAIL("NaN was written");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(contains(e.what(), "typed.vd[1]"), e.what());
    }
    BOOST_TEST(to_string(out) == "keep");

    v.vd.clear();
    v.f = std::numeric_limits<float>::infinity();
    BOOST_CHECK_THROW(to_json(v), stowage::error);
    v.f = 0;

    v.mp["k"].label = std::string("ok\xff");
    std::string what;
    try {
        to_json(v);
    } catch (const stowage::error& e) {
        what = e.what();
        BOOST_TEST((e.kind() == errc::bad_input));
    }
    BOOST_TEST(contains(what, "typed.mp[\"k\"].label"), what);
    BOOST_TEST(contains(what, "UTF-8"), what);

    for (const char* bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80"}) {
        BOOST_CHECK_THROW(to_json(std::string(bad)), stowage::error);
    }
    BOOST_CHECK_THROW(to_json(static_cast<t::status>(7)), stowage::error);
}

BOOST_AUTO_TEST_CASE(integers_of_every_width_are_range_checked) {
    auto n = from_json<t::narrow>(
        R"({"i8":-128,"u8":255,"i16":-32768,"u16":65535,"i32":-2147483648,"u32":4294967295,)"
        R"("i64":-9223372036854775808,"u64":18446744073709551615})");
    BOOST_TEST(n.i8 == -128);
    BOOST_TEST(n.u8 == 255);
    BOOST_TEST(n.i64 == std::numeric_limits<std::int64_t>::min());
    BOOST_TEST(n.u64 == std::numeric_limits<std::uint64_t>::max());

    const std::string base = R"({"i8":0,"u8":0,"i16":0,"u16":0,"i32":0,"u32":0,"i64":0,"u64":0})";
    auto with = [&](const std::string& field, const std::string& value) {
        std::string j = base;
        const auto at = j.find("\"" + field + "\":0") + field.size() + 3;
        return j.replace(at, 1, value);
    };
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"i8", "128"},   {"i8", "-129"},        {"u8", "256"},   {"u8", "-1"},
        {"i16", "32768"}, {"u16", "65536"},      {"i32", "2147483648"},
        {"u32", "4294967296"}, {"i64", "9223372036854775808"}, {"u64", "18446744073709551616"},
        {"u64", "-1"},   {"i32", "1.0"},         {"i32", "1e2"},  {"i32", "\"1\""}, {"i32", "true"}};
    for (const auto& [field, value] : bad) {
        std::string what;
        BOOST_TEST((decode_error<t::narrow>(with(field, value), &what) == errc::bad_input), field << "=" << value);
        BOOST_TEST(contains(what, "narrow." + field), what);
    }
    BOOST_TEST(from_json<t::narrow>(with("u32", "4294967295")).u32 == 4294967295u);
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored_but_still_validated) {
    auto s = from_json<t::session>(
        R"({"future":{"deep":[1,{"x":null}],"n":1e400},"id":"s","name":"n","state":"done",)"
        R"("extra":"\u00e9","start_time":5,"tags":[]})");
    BOOST_TEST(s.id == "s");
    BOOST_TEST((s.state == t::status::done));
    std::string what;
    BOOST_TEST((decode_error<t::session>(
                    R"({"future":[1,2,tru],"id":"s","name":"n","state":"done","start_time":5,"tags":[]})", &what) ==
                errc::bad_input));
    BOOST_TEST(contains(what, "session.future[2]"), what);
    BOOST_TEST((decode_error<t::session>(
                    R"({"future":[01],"id":"s","name":"n","state":"done","start_time":5,"tags":[]})") == errc::bad_input));
    BOOST_TEST((decode_error<t::session>(
                    R"({"future":"\x","id":"s","name":"n","state":"done","start_time":5,"tags":[]})") == errc::bad_input));
}

BOOST_AUTO_TEST_CASE(missing_required_and_wrong_kinds_name_the_field) {
    std::string what;
    BOOST_TEST((decode_error<t::session>(R"({"id":"s","name":"n","state":"done","tags":[]})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "session.start_time: missing required field"), what);

    BOOST_TEST((decode_error<t::session>(
                    R"({"id":"s","name":"n","state":"done","start_time":1,"tags":["a","b","c",4]})", &what) ==
                errc::bad_input));
    BOOST_TEST(contains(what, "session.tags[3]: expected string, found number"), what);

    BOOST_TEST((decode_error<t::session>(R"({"id":"s","name":"n","state":"paused","start_time":1,"tags":[]})",
                                         &what) == errc::bad_input));
    BOOST_TEST(contains(what, "session.state"), what);
    BOOST_TEST(contains(what, "paused"), what);

    BOOST_TEST((decode_error<t::typed>(R"({"nested":{"x":"1"}})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "typed.nested.x"), what);
    BOOST_TEST((decode_error<t::session>(R"(["id"])", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "expected object, found array"), what);
}

BOOST_AUTO_TEST_CASE(optional_fields_absent_take_their_default_and_null_is_empty) {
    auto a = from_json<t::with_defaults>(R"({"id":"x"})");
    BOOST_TEST(a.n.value() == 5);
    auto b = from_json<t::with_defaults>(R"({"id":"x","n":null})");
    BOOST_TEST(!b.n.has_value());
    auto c = from_json<t::with_defaults>(R"({"id":"x","n":3})");
    BOOST_TEST(c.n.value() == 3);
    // Empty, with a default that is not: written as null, so it reads back empty.
    BOOST_TEST(to_json(t::with_defaults{"x", std::nullopt}) == R"({"id":"x","n":null})");
    BOOST_TEST(!from_json<t::with_defaults>(to_json(t::with_defaults{"x", std::nullopt})).n.has_value());
    BOOST_TEST(to_json(std::vector<std::optional<int>>{1, std::nullopt}) == "[1,null]");
    BOOST_TEST((decode_error<t::with_defaults>(R"({"n":1})") == errc::bad_input));
}

BOOST_AUTO_TEST_CASE(the_whole_document_is_validated) {
    const std::string ok = R"({"id":"s","name":"n","state":"done","start_time":5,"tags":[]})";
    BOOST_TEST((from_json<t::session>(" \n" + ok + "\t\r\n ").id == "s"));
    for (const std::string& bad :
         {ok + "x", ok + "}", ok + ok, ok + ",", std::string(""), std::string("   "), "\xef\xbb\xbf" + ok,
          ok.substr(0, ok.size() - 1), std::string(R"({"id":"s","name":"n","state":"done","start_time":5,"tags":[],})"),
          std::string(R"({"id":"s" "name":"n"})"), std::string(R"({'id':"s"})"),
          std::string(R"({"id":"s","name":"n","state":"done","start_time":05,"tags":[]})"),
          std::string(R"({"id":"s","name":"n","state":"done","start_time":NaN,"tags":[]})"),
          std::string("{\"id\":\"a\tb\",\"name\":\"n\",\"state\":\"done\",\"start_time\":5,\"tags\":[]}"),
          std::string("{\"id\":\"\xff\",\"name\":\"n\",\"state\":\"done\",\"start_time\":5,\"tags\":[]}")}) {
        BOOST_TEST((decode_error<t::session>(bad) == errc::bad_input), bad);
    }
    BOOST_TEST((decode_error<int>("1 2") == errc::bad_input));
    BOOST_TEST((decode_error<std::string>("\"a\" x") == errc::bad_input));
    BOOST_TEST((decode_error<std::vector<int>>("[1,2]]") == errc::bad_input));
    BOOST_TEST((decode_error<std::vector<int>>("[1,2,]") == errc::bad_input));
    BOOST_TEST(from_json<std::vector<int>>(" [ 1 , 2 ] ") == (std::vector<int>{1, 2}));
}

BOOST_AUTO_TEST_CASE(nesting_is_limited_for_recursive_types_and_skipped_fields) {
    auto nested = [](int levels) {
        std::string s;
        for (int i = 0; i < levels; ++i) s += R"({"v":1,"kids":[)";
        for (int i = 0; i < levels; ++i) s += "]}";
        return s;
    };
    const auto ok = from_json<t::node>(nested(300));  // object + array per level: 600 deep
    BOOST_TEST(ok.kids.size() == 1u);
    BOOST_TEST(to_json(ok) == nested(300));
    std::string what;
    BOOST_TEST((decode_error<t::node>(nested(100000), &what) == errc::bad_input));
    BOOST_TEST(contains(what, "nesting deeper than 1000 levels"), what);
    // an unknown field's depth counts on top of the typed depth (here 1)
    const std::string deep_unknown = R"({"v":1,"kids":[],"x":)" + std::string(1000, '[') + std::string(1000, ']') + "}";
    BOOST_TEST((decode_error<t::node>(deep_unknown) == errc::bad_input));
    const std::string fine_unknown = R"({"v":1,"kids":[],"x":)" + std::string(999, '[') + std::string(999, ']') + "}";
    BOOST_TEST(from_json<t::node>(fine_unknown).v == 1);
}

BOOST_AUTO_TEST_CASE(errors_report_the_byte_offset) {
    std::string what;
    decode_error<t::session>(R"({"id":"s","name":"n","state":"done","start_time":5,"tags":[1]})", &what);
    BOOST_TEST(contains(what, "(at byte "), what);
    decode_error<t::session>("{\"id\":\"\xff\"}", &what);
    BOOST_TEST(contains(what, "invalid UTF-8 (at byte 7)"), what);
}

BOOST_AUTO_TEST_CASE(a_failed_decode_leaves_the_target_untouched) {
    t::session s{"keep", "me", t::status::done, 9, 10, {"x"}};
    const auto before = s;
    const auto text = R"({"id":"new","name":"n","state":"done","start_time":5,"tags":["a",2]})";
    BOOST_CHECK_THROW(json_codec{}.decode(as_bytes(text), s), stowage::error);
    BOOST_TEST((s == before));
}

BOOST_AUTO_TEST_CASE(maps_keep_any_key_and_refuse_a_repeated_one) {
    std::map<std::string, int> m{{"", 1}, {"a\"b", 2}, {"é", 3}, {std::string("\0x", 2), 4}};
    BOOST_TEST((from_json<std::map<std::string, int>>(to_json(m)) == m));
    // Issue 19: keeping either value would silently drop the other.
    std::string what;
    BOOST_TEST((decode_error<std::map<std::string, int>>(R"({"a":1,"b":2,"a":2})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, R"(["a"]: repeated key)"), what);
    BOOST_TEST(contains(what, "(at byte "), what);
}

// Issue 19: a described struct given a field twice is refused, naming the
// field, whichever value a reader would have kept; an unknown field given
// twice is ignored like any unknown field.
BOOST_AUTO_TEST_CASE(a_repeated_field_of_a_struct_is_refused) {
    std::string what;
    BOOST_TEST((decode_error<t::point>(R"({"x":1,"y":2,"x":3})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "point.x: repeated field"), what);
    BOOST_TEST(contains(what, "(at byte "), what);
    BOOST_TEST((decode_error<t::point>(R"({"x":1,"y":2,"label":null,"label":"a"})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "point.label: repeated field"), what);
    BOOST_TEST((decode_error<t::session>(
                    R"({"id":"s","name":"n","state":"done","start_time":5,"tags":[],"id":"t"})", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "session.id: repeated field"), what);
    // Nested: the path leads to it.
    BOOST_TEST((decode_error<std::vector<t::point>>(R"([{"x":1,"y":2},{"y":1,"x":2,"y":3}])", &what) == errc::bad_input));
    BOOST_TEST(contains(what, "[1].y: repeated field"), what);
    BOOST_TEST((from_json<t::point>(R"({"x":1,"y":2,"extra":1,"extra":2})") == t::point{1, 2, std::nullopt}));
    // The target is left untouched by the failed decode.
    t::point p{7, 8, "keep"};
    BOOST_CHECK_THROW(json_codec{}.decode(as_bytes(R"({"x":1,"y":2,"y":2})"), p), stowage::error);
    BOOST_TEST((p == t::point{7, 8, "keep"}));
}

BOOST_AUTO_TEST_CASE(untyped_members_keep_their_exact_numbers) {
    auto e = from_json<t::everything>(
        R"({"all":{"b":true,"i8":0,"i16":0,"i32":0,"i64":0,"u8":0,"u16":0,"u32":0,"u64":0,"f":0,"d":0,"s":"",)"
        R"("c":"blue","vb":[],"vi":[],"vd":[],"vs":[],"vp":[],"vvu":[],"vos":[],"vc":[],"mi":{},"mp":{},"mvs":{},)"
        R"("nested":{"x":1,"y":2}},"any":[1e400,-0,0.10],"doc":{"big":123456789012345678901234567890},"values":[]})");
    BOOST_TEST(e.any.as_array()[0].number_text() == "1e400");
    BOOST_TEST(e.doc.find("big")->number_text() == "123456789012345678901234567890");
    BOOST_TEST(contains(to_json(e), R"("any":[1e400,-0,0.10],"doc":{"big":123456789012345678901234567890})"));
    std::string what;
    BOOST_TEST((decode_error<t::everything>(R"({"doc":[1]})", &what) == errc::bad_input));
}

// --- properties over random values -----------------------------------------
template <class Codec, class T>
void round_trip_many(const Codec& codec, int count, std::uint64_t seed) {
    t::random_values gen(seed);
    for (int i = 0; i < count; ++i) {
        const T v = gen.make<T>();
        bytes a;
        codec.encode(v, a);
        T back;
        codec.decode(a, back);
        BOOST_TEST((back == v), "value #" << i << " did not round-trip");
        bytes b;
        codec.encode(back, b);
        BOOST_TEST((a == b), "value #" << i << " re-encodes differently");  // catches -0 -> 0 and the like
    }
}

BOOST_AUTO_TEST_CASE(random_values_of_every_type_round_trip) {
    const auto seed = st::test_seed();
    round_trip_many<json_codec, t::everything>(json_codec{}, 400, seed);
    round_trip_many<json_codec, t::session>(json_codec{}, 200, seed + 1);
    round_trip_many<json_codec, std::vector<std::map<std::string, std::optional<t::point>>>>(json_codec{}, 200, seed + 2);
    round_trip_many<json_codec, json_document>(json_codec{}, 200, seed + 3);
}

BOOST_AUTO_TEST_CASE(random_values_round_trip_through_gzip_json) {
    const auto seed = st::test_seed();
    round_trip_many<gzip<json_codec>, t::everything>(gzip<json_codec>(1), 100, seed);
    round_trip_many<gzip<json_codec>, t::everything>(gzip<json_codec>(9), 100, seed + 1);
    static_assert(gzip<json_codec>::name == "gzip+json");
}

// What we write, Python's json module reads (json.tool), and reads to the
// same values: Python re-writes each document with every non-ASCII character
// escaped, and we decode its text back to what we started from.
BOOST_AUTO_TEST_CASE(python_json_reads_what_we_write) {
    st::scratch_dir dir("json-python");
    t::random_values gen(st::test_seed());
    std::vector<t::typed> values;
    const auto ours = dir.path() / "ours.jsonl";
    {
        std::ofstream f(ours, std::ios::binary);
        for (int i = 0; i < 300; ++i) {
            values.push_back(gen.make<t::typed>());
            f << to_json(values.back()) << '\n';
        }
        f << to_json(gen.make<t::everything>()) << '\n';  // untyped members too (json.tool only)
    }
    auto [rc, out] = st::run("python3 -m json.tool --json-lines " + ours.string() + " > /dev/null 2>&1; echo $?");
    BOOST_TEST(rc == 0);
    BOOST_TEST(out == "0\n", "python3 -m json.tool rejected our output");

    const auto theirs = dir.path() / "theirs.jsonl";
    auto [rc2, out2] = st::run(
        "python3 -c 'import json,sys\n"
        "lines = open(sys.argv[1], encoding=\"utf-8\", newline=\"\").read().split(\"\\n\")[:-2]\n"
        "open(sys.argv[2], \"w\").write(\"\".join(json.dumps(json.loads(l), ensure_ascii=True) + \"\\n\" for l in lines))' " +
        ours.string() + " " + theirs.string() + " 2>&1");
    BOOST_TEST(rc2 == 0, out2);
    std::ifstream in(theirs, std::ios::binary);
    std::string line;
    std::size_t i = 0;
    while (std::getline(in, line)) {
        BOOST_REQUIRE(i < values.size());
        BOOST_TEST((from_json<t::typed>(line) == values[i]), "python's rewrite of value #" << i << " differs");
        ++i;
    }
    BOOST_TEST(i == values.size());
}
