// Issue 20, points 2 and 3, in both codecs: the field types people use
// (chrono, fixed arrays, byte strings, sets, maps with integer and enum keys,
// pairs, tuples, variants, nested optionals, paths, a client's own type
// through codec_adapter) round-trip exactly and have the JSON forms
// docs/entities.md states; and schema evolution: a missing field takes its
// default, an unknown one is ignored, `required` and `renamed` rules, and the
// golden v1 directory read by an evolved type.
#define BOOST_TEST_MODULE codec_types
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/database.hpp>
#include <stowage/storage/file.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "session_model.hpp"
#include "test_support.hpp"

namespace types_test {

using namespace std::chrono;
using namespace std::chrono_literals;

enum class level { low, high };
STOWAGE_DESCRIBE_ENUM(level, low, high)

struct note {
    std::string text;
    int weight = 1;
    bool operator==(const note&) const = default;
};
STOWAGE_DESCRIBE(note, text, weight)

struct marker {
    std::int64_t at_ms = 0;
    bool operator==(const marker&) const = default;
};
STOWAGE_DESCRIBE(marker, at_ms)

// A client type the library knows nothing about, taught through the adapter.
struct rgb {
    std::uint8_t r = 0, g = 0, b = 0;
    bool operator==(const rgb&) const = default;
};

}  // namespace types_test

template <>
struct stowage::codec_adapter<types_test::rgb> {
    using representation = std::string;
    static std::string to(const types_test::rgb& c) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string s = "#";
        for (std::uint8_t v : {c.r, c.g, c.b}) s += hex[v >> 4], s += hex[v & 15];
        return s;
    }
    static types_test::rgb from(std::string&& s) {
        auto nibble = [&](char ch) -> int {
            if (ch >= '0' && ch <= '9') return ch - '0';
            if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
            throw stowage::error(stowage::errc::bad_input, "not an #rrggbb colour: \"" + s + "\"");
        };
        if (s.size() != 7 || s[0] != '#') throw stowage::error(stowage::errc::bad_input, "not an #rrggbb colour: \"" + s + "\"");
        auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(nibble(s[i]) * 16 + nibble(s[i + 1])); };
        return {byte(1), byte(3), byte(5)};
    }
    static constexpr std::string_view tag = "rgb";
};

namespace types_test {

struct everything {
    std::string id;
    system_clock::time_point at;
    sys_time<milliseconds> at_ms;
    sys_seconds at_s;
    nanoseconds ns{0};
    milliseconds ms{0};
    seconds s{0};
    hours h{0};
    std::array<int, 3> arr{};
    std::array<std::byte, 32> digest{};
    std::vector<std::byte> blob;
    std::set<std::string> tags;
    std::set<std::int64_t> numbers;
    std::unordered_map<std::string, int> counts;
    std::map<std::int32_t, std::string> by_int;
    std::map<std::uint64_t, double> by_u64;
    std::map<level, int> by_level;
    std::pair<int, std::string> pair;
    std::tuple<bool, double, note> tuple;
    std::variant<std::monostate, std::int64_t, std::string, note, rgb> var;
    std::optional<std::optional<int>> oo;
    std::optional<std::optional<std::optional<std::string>>> ooo;
    std::filesystem::path path;
    rgb color;
    std::vector<rgb> palette;
    std::optional<rgb> maybe_color;
    std::map<std::string, std::vector<std::optional<note>>> nested;
    bool operator==(const everything&) const = default;
};
STOWAGE_DESCRIBE(everything, id, at, at_ms, at_s, ns, ms, s, h, arr, digest, blob, tags, numbers, counts, by_int, by_u64,
                 by_level, pair, tuple, var, oo, ooo, path, color, palette, maybe_color, nested)

static_assert(stowage::codec_for<stowage::json_codec, everything>);
static_assert(stowage::codec_for<stowage::binary_codec, everything>);
static_assert(stowage::codec_for<stowage::gzip<stowage::binary_codec>, everything>);
// Not storable: no exact (seconds, nanoseconds) form, or no tag to tell
// alternatives apart, or a key type JSON cannot name.
static_assert(!stowage::codec_for<stowage::json_codec, duration<double>>);
static_assert(!stowage::codec_for<stowage::json_codec, duration<std::int64_t, std::pico>>);
static_assert(!stowage::codec_for<stowage::json_codec, std::variant<std::vector<int>, std::string>>);
static_assert(!stowage::codec_for<stowage::json_codec, std::variant<long, long long>>);
static_assert(!stowage::codec_for<stowage::binary_codec, std::map<double, int>>);
static_assert(!stowage::codec_for<stowage::json_codec, std::map<note, int>>);

std::byte b(int v) { return static_cast<std::byte>(v); }

everything sample() {
    everything e;
    e.id = "e-1";
    e.at = system_clock::time_point(nanoseconds(1765146028123456789LL));
    e.at_ms = sys_time<milliseconds>(milliseconds(-1500));  // before 1970
    e.at_s = sys_seconds(seconds(253402300799LL));         // 9999-12-31T23:59:59Z
    e.ns = -1ns;
    e.ms = 90500ms;
    e.s = -3s;
    e.h = 48h;
    e.arr = {1, -2, 3};
    for (int i = 0; i < 32; ++i) e.digest[static_cast<std::size_t>(i)] = b(i * 8);
    e.blob = {b('h'), b('i'), b(0), b(0xff)};
    e.tags = {"b", "a", "ünï"};
    e.numbers = {5, -7, 1LL << 62};
    e.counts = {{"z", 1}, {"a", 2}, {"m", 3}};
    e.by_int = {{-5, "m"}, {10, "t"}, {0, "z"}};
    e.by_u64 = {{UINT64_MAX, 0.5}};
    e.by_level = {{level::high, 1}, {level::low, 2}};
    e.pair = {1, "one"};
    e.tuple = {true, 2.5, {"in", 3}};
    e.var = note{"v", 9};
    e.oo = std::optional<int>{};
    e.ooo = std::optional<std::optional<std::string>>{std::optional<std::string>{"deep"}};
    e.path = "dir/sub/file name.txt";
    e.color = {0x12, 0xab, 0xff};
    e.palette = {{1, 2, 3}, {255, 255, 255}};
    e.maybe_color = rgb{0, 0, 0};
    e.nested = {{"k", {note{"x", 2}, std::nullopt}}};
    return e;
}

template <class Codec, class T>
T round_trip(const T& v, Codec c = Codec()) {
    stowage::bytes out;
    c.encode(v, out);
    T back{};
    c.decode(out, back);
    return back;
}

template <class T>
stowage::errc decode_error(std::string_view json, std::string* what = nullptr) {
    try {
        (void)stowage::from_json<T>(json);
    } catch (const stowage::error& e) {
        if (what) *what = e.what();
        return e.kind();
    }
    BOOST_FAIL("decoded without error: " << json);
    return stowage::errc::io;
}

template <class T>
stowage::errc binary_decode_error(const stowage::bytes& in, std::string* what = nullptr) {
    try {
        T v{};
        stowage::binary_codec{}.decode(in, v);
    } catch (const stowage::error& e) {
        if (what) *what = e.what();
        return e.kind();
    }
    BOOST_FAIL("decoded without error");
    return stowage::errc::io;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace types_test

using namespace types_test;

BOOST_AUTO_TEST_CASE(every_type_round_trips_in_both_codecs) {
    const everything e = sample();
    BOOST_TEST((round_trip<stowage::json_codec>(e) == e));
    BOOST_TEST((round_trip<stowage::binary_codec>(e) == e));
    BOOST_TEST((round_trip<stowage::gzip<stowage::binary_codec>>(e) == e));
    // Every variant alternative, each optional level.
    everything v = e;
    for (int i = 0; i < 5; ++i) {
        switch (i) {
            case 0: v.var = std::monostate{}; v.oo.reset(); v.ooo.reset(); break;
            case 1: v.var = std::int64_t{-42}; v.oo = std::optional<int>{7}; v.ooo = std::optional<std::optional<std::string>>{}; break;
            case 2: v.var = std::string("s"); v.ooo = std::optional<std::optional<std::string>>{std::optional<std::string>{}}; break;
            case 3: v.var = note{"n", -1}; break;
            case 4: v.var = rgb{1, 2, 3}; v.maybe_color.reset(); break;
        }
        BOOST_TEST((round_trip<stowage::json_codec>(v) == v), "alternative " << i);
        BOOST_TEST((round_trip<stowage::binary_codec>(v) == v), "alternative " << i);
    }
}

BOOST_AUTO_TEST_CASE(random_times_and_durations_round_trip_exactly) {
    std::mt19937_64 rng(stowage::test::test_seed());
    struct times {
        system_clock::time_point t;
        nanoseconds d{0};
        microseconds us{0};
    };
    for (int i = 0; i < 2000; ++i) {
        // Any 64-bit count of nanoseconds: years 1677 to 2262.
        const auto t = system_clock::time_point(nanoseconds(static_cast<std::int64_t>(rng())));
        const auto d = nanoseconds(static_cast<std::int64_t>(rng()));
        const auto us = microseconds(static_cast<std::int64_t>(rng()) >> 1);
        BOOST_TEST((stowage::from_json<system_clock::time_point>(stowage::to_json(t)) == t), stowage::to_json(t));
        BOOST_TEST((stowage::from_json<nanoseconds>(stowage::to_json(d)) == d), stowage::to_json(d));
        BOOST_TEST((stowage::from_json<microseconds>(stowage::to_json(us)) == us), stowage::to_json(us));
        BOOST_TEST((round_trip<stowage::binary_codec>(t) == t));
        BOOST_TEST((round_trip<stowage::binary_codec>(d) == d));
        BOOST_TEST((round_trip<stowage::binary_codec>(us) == us));
    }
    // Extremes of the 64-bit counts.
    for (auto d : {nanoseconds::min(), nanoseconds::max(), nanoseconds(0)}) {
        BOOST_TEST((stowage::from_json<nanoseconds>(stowage::to_json(d)) == d), stowage::to_json(d));
        BOOST_TEST((round_trip<stowage::binary_codec>(d) == d));
    }
    for (auto d : {hours(INT64_MIN / 3600), hours(INT64_MAX / 3600)}) BOOST_TEST((round_trip<stowage::binary_codec>(d) == d));
    // Past what 64-bit seconds hold: refused, not wrapped.
    stowage::bytes out;
    BOOST_CHECK_THROW(stowage::binary_codec{}.encode(hours::max(), out), stowage::error);
}

BOOST_AUTO_TEST_CASE(json_forms_are_the_documented_ones) {
    using stowage::to_json;
    BOOST_TEST(to_json(system_clock::time_point(nanoseconds(1765146028123456789LL))) == "\"2025-12-07T22:20:28.123456789Z\"");
    BOOST_TEST(to_json(sys_time<milliseconds>(milliseconds(1765146028250))) == "\"2025-12-07T22:20:28.25Z\"");
    BOOST_TEST(to_json(sys_seconds(seconds(0))) == "\"1970-01-01T00:00:00Z\"");
    BOOST_TEST(to_json(sys_time<milliseconds>(milliseconds(-1500))) == "\"1969-12-31T23:59:58.5Z\"");
    BOOST_TEST(to_json(90500ms) == "90.5");
    BOOST_TEST(to_json(-1ns) == "-0.000000001");
    BOOST_TEST(to_json(48h) == "172800");
    BOOST_TEST(to_json(std::array<int, 2>{4, 5}) == "[4,5]");
    BOOST_TEST(to_json(std::vector<std::byte>{b('h'), b('i')}) == "\"aGk=\"");
    BOOST_TEST(to_json(std::vector<std::byte>{}) == "\"\"");
    BOOST_TEST(to_json(std::array<std::byte, 4>{b(1), b(2), b(0xff), b(0)}) == "\"AQL/AA==\"");
    BOOST_TEST(to_json(std::set<int>{3, 1, 2}) == "[1,2,3]");
    BOOST_TEST(to_json(std::unordered_map<std::string, int>{{"z", 1}, {"a", 2}}) == "{\"a\":2,\"z\":1}");
    BOOST_TEST(to_json(std::map<int, bool>{{-1, true}, {20, false}}) == "{\"-1\":true,\"20\":false}");
    BOOST_TEST(to_json(std::map<level, int>{{level::high, 1}}) == "{\"high\":1}");
    BOOST_TEST(to_json(std::pair<int, std::string>{1, "a"}) == "[1,\"a\"]");
    BOOST_TEST(to_json(std::tuple<>{}) == "[]");
    using var = std::variant<std::monostate, std::int32_t, std::string, note, rgb>;
    BOOST_TEST(to_json(var{}) == "{\"none\":null}");
    BOOST_TEST(to_json(var{std::int32_t{5}}) == "{\"int32\":5}");
    BOOST_TEST(to_json(var{std::string("x")}) == "{\"string\":\"x\"}");
    BOOST_TEST(to_json(var{note{"t", 2}}) == "{\"note\":{\"text\":\"t\",\"weight\":2}}");
    BOOST_TEST(to_json(var{rgb{255, 0, 16}}) == "{\"rgb\":\"#ff0010\"}");
    using oo = std::optional<std::optional<int>>;
    BOOST_TEST(to_json(oo{}) == "null");
    BOOST_TEST(to_json(oo{std::optional<int>{}}) == "[null]");
    BOOST_TEST(to_json(oo{std::optional<int>{5}}) == "[5]");
    BOOST_TEST(to_json(std::filesystem::path("a/b.txt")) == "\"a/b.txt\"");
    // Readers take offsets and lower case, and any fraction within the unit.
    BOOST_TEST((stowage::from_json<sys_seconds>("\"2025-12-07T23:20:28+01:00\"") == sys_seconds(seconds(1765146028))));
    BOOST_TEST((stowage::from_json<sys_seconds>("\"2025-12-07t22:20:28.000z\"") == sys_seconds(seconds(1765146028))));
    BOOST_TEST((stowage::from_json<milliseconds>("1.5000000") == 1500ms));
    BOOST_TEST((stowage::from_json<oo>("[null]") == oo{std::optional<int>{}}));
}

BOOST_AUTO_TEST_CASE(bad_values_are_refused_naming_the_field) {
    std::string what;
    const std::string base = R"({"id":"x",)";
    auto check = [&](std::string_view field, std::string_view json_value, std::string_view message) {
        const std::string doc = "{\"" + std::string(field) + "\":" + std::string(json_value) + "}";
        BOOST_TEST((decode_error<everything>(doc, &what) == stowage::errc::bad_input), doc);
        BOOST_TEST(contains(what, "everything." + std::string(field)), what);
        BOOST_TEST(contains(what, message), what);
    };
    check("at", "\"2026-13-01T00:00:00Z\"", "not a valid date and time");
    check("at", "\"2026-12-01T00:00:60Z\"", "leap second");
    check("at", "\"2026-12-01 00:00:00Z\"", "RFC 3339");
    check("at", "\"2026-12-01T00:00:00\"", "expected Z or an offset");
    check("at", "\"2026-12-01T00:00:00.0000000001Z\"", "more precise than nanoseconds");
    check("at_ms", "\"2026-12-01T00:00:00.0001Z\"", "more precise than the field's unit");
    check("at", "1700000000", "expected RFC 3339 time");
    check("ms", "0.0001", "more precise than the field's unit");
    check("ms", "1e3", "no exponent");
    check("ms", "\"1s\"", "expected seconds");
    check("ms", "9223372036854775808", "out of the field's range");
    check("arr", "[1,2]", "expected 3 elements, found 2");
    check("arr", "[1,2,3,4]", "more than the 3 elements");
    check("digest", "\"AAAA\"", "expected 32 bytes, found 3");
    check("blob", "\"aGk\"", "not canonical base64");
    check("blob", "\"aGl=\"", "not canonical base64");  // non-zero unused bits
    check("blob", "\"aG k=\"", "not canonical base64");
    check("by_int", "{\"+5\":\"x\"}", "is not an integer");
    check("by_int", "{\"05\":\"x\"}", "is not an integer");
    check("by_int", "{\"3000000000\":\"x\"}", "is not an integer");
    check("by_level", "{\"medium\":1}", "is not a value of enum level");
    check("pair", "[1]", "expected 2 elements, found 1");
    check("var", "{\"float\":1}", "is not an alternative of this variant (none, int64, string, note, rgb)");
    check("var", "{\"int64\":1,\"string\":\"a\"}", "holds one member");
    check("var", "{}", "holds one member");
    check("oo", "[1,2]", "holds one value");
    check("oo", "5", "nested optional");
    check("color", "\"#12345\"", "not an #rrggbb colour");
    check("palette", "[\"#000000\",\"red\"]", "not an #rrggbb colour");
    BOOST_TEST(contains(what, "everything.palette[1]"), what);

    // Binary: the same checks on the wire.
    stowage::bytes wire;
    stowage::binary_codec{}.encode(std::array<std::byte, 2>{b(1), b(2)}, wire);
    BOOST_TEST((binary_decode_error<std::array<std::byte, 3>>(wire, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "expected 3 bytes, found 2"), what);
    // A set reads a vector's record: any order, a repeat adding nothing.
    wire.clear();
    stowage::binary_codec{}.encode(std::vector<int>{3, 1, 3}, wire);
    std::set<int> set;
    stowage::binary_codec{}.decode(wire, set);
    BOOST_TEST((set == std::set<int>{1, 3}));
    BOOST_TEST((stowage::from_json<std::set<int>>("[3,1,3]") == std::set<int>{1, 3}));
    wire.clear();
    stowage::binary_codec{}.encode(std::variant<std::int64_t, std::string>{std::string("x")}, wire);
    BOOST_TEST((binary_decode_error<std::variant<std::int64_t, note>>(wire, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "\"string\" is not an alternative"), what);
    wire.clear();
    stowage::binary_codec{}.encode(500ns, wire);
    BOOST_TEST((binary_decode_error<microseconds>(wire, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "more precise than the field's unit"), what);
    wire.clear();
    stowage::binary_codec{}.encode(std::string("#zzzzzz"), wire);
    BOOST_TEST((binary_decode_error<rgb>(wire, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "not an #rrggbb colour"), what);

    // Writing what cannot be read back is refused too, and appends nothing.
    stowage::bytes out = {b(7)};
    BOOST_CHECK_THROW(stowage::json_codec{}.encode(sys_time<hours>(hours(24LL * 366 * 10000)), out), stowage::error);
    BOOST_TEST(out.size() == 1u);
}

// --- schema evolution -----------------------------------------------------------------

namespace types_test::v1 {
struct task {
    std::string id;
    std::string title;
    std::int64_t due = 0;
    std::string obsolete;
};
STOWAGE_DESCRIBE(task, id, title, due, obsolete)

struct id_only {
    std::string id;
};
STOWAGE_DESCRIBE(id_only, id)
}  // namespace types_test::v1

namespace types_test::v2 {
// title renamed to name (JSON reads the old name); obsolete's member kept
// unused so binary numbering holds; fields appended with defaults.
struct task {
    std::string id;
    std::string name;
    std::int64_t due = 0;
    std::string obsolete_unused;
    std::int32_t priority = 3;
    std::vector<std::string> labels{"inbox"};
    milliseconds estimate{15 * 60 * 1000};
    std::optional<level> lvl = level::low;
};
STOWAGE_DESCRIBE(task, id, name, due, obsolete_unused, priority, labels, estimate, lvl)
STOWAGE_FIELD_RULES(task, stowage::required("id"), stowage::renamed("name", "title"),
                    stowage::renamed("obsolete_unused", "obsolete"))

// The old type, reading what the new one writes.
struct strict {
    std::string id;
    std::int32_t priority = 0;
};
STOWAGE_DESCRIBE(strict, id, priority)
STOWAGE_FIELD_RULES(strict, stowage::required("priority"))
}  // namespace types_test::v2

BOOST_AUTO_TEST_CASE(evolution_old_records_read_with_defaults_in_both_codecs) {
    const v1::task old{"t-1", "Write the guide", 1700000000, "x"};
    auto check = [&](const v2::task& t) {
        BOOST_TEST(t.id == "t-1");
        BOOST_TEST(t.name == "Write the guide");
        BOOST_TEST(t.due == 1700000000);
        BOOST_TEST(t.priority == 3);                                    // its default member initializer
        BOOST_TEST((t.labels == std::vector<std::string>{"inbox"}));    // not emptied
        BOOST_TEST((t.estimate == 15min));
        BOOST_TEST((t.lvl == level::low));  // an optional's default too
    };
    stowage::bytes j, bin;
    stowage::json_codec{}.encode(old, j);
    stowage::binary_codec{}.encode(old, bin);
    v2::task a, c;
    stowage::json_codec{}.decode(j, a);
    stowage::binary_codec{}.decode(bin, c);
    check(a);
    check(c);
    BOOST_TEST(a.obsolete_unused == "x");

    // An older app reads a newer record: the fields it does not know are ignored.
    v2::task now = a;
    now.priority = 9;
    now.labels = {"a", "b"};
    for (auto codec_bytes : {stowage::to_json(now), std::string()}) {
        v1::task back;
        if (!codec_bytes.empty()) {
            back = stowage::from_json<v1::task>(codec_bytes);
        } else {
            stowage::bytes w;
            stowage::binary_codec{}.encode(now, w);
            stowage::binary_codec{}.decode(w, back);
        }
        BOOST_TEST(back.id == "t-1");
        BOOST_TEST(back.due == 1700000000);
        if (codec_bytes.empty()) BOOST_TEST(back.title == "Write the guide");  // binary numbers fields
    }
}

namespace types_test {
struct engaged_defaults {
    std::string id;
    std::optional<int> n = 5;
    std::optional<std::string> s = "x";
    std::optional<std::optional<int>> oo = std::optional<int>{1};
    std::optional<int> plain;
    bool operator==(const engaged_defaults&) const = default;
};
STOWAGE_DESCRIBE(engaged_defaults, id, n, s, oo, plain)
}  // namespace types_test

BOOST_AUTO_TEST_CASE(an_empty_optional_round_trips_even_when_its_default_is_not) {
    // Absent reads as the default (5), so an empty one must be written as
    // empty: null in JSON, wire type 7 in binary.
    const engaged_defaults empty{"e", std::nullopt, std::nullopt, std::nullopt, std::nullopt};
    BOOST_TEST(stowage::to_json(empty) == R"({"id":"e","n":null,"s":null,"oo":null})");
    BOOST_TEST((round_trip<stowage::json_codec>(empty) == empty));
    BOOST_TEST((round_trip<stowage::binary_codec>(empty) == empty));
    const engaged_defaults inner_empty{"e", 5, "x", std::optional<int>{}, 2};
    BOOST_TEST((round_trip<stowage::json_codec>(inner_empty) == inner_empty));
    BOOST_TEST((round_trip<stowage::binary_codec>(inner_empty) == inner_empty));
    // A record without them reads the defaults.
    const auto d = stowage::from_json<engaged_defaults>(R"({"id":"e"})");
    BOOST_TEST((d == engaged_defaults{"e", 5, "x", std::optional<int>{1}, std::nullopt}));
    stowage::bytes w;
    stowage::binary_codec{}.encode(v1::id_only{"e"}, w);
    engaged_defaults from_binary;
    stowage::binary_codec{}.decode(w, from_binary);
    BOOST_TEST((from_binary == d));
    // Wire type 7 on a field that is not optional is refused.
    std::string what;
    BOOST_TEST((binary_decode_error<v1::id_only>(stowage::bytes{b(2), b(0x0f), b(0)}, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "id_only.id: binary_wire type 7, expected 2"), what);
}

BOOST_AUTO_TEST_CASE(evolution_rules_required_and_renamed) {
    std::string what;
    BOOST_TEST((decode_error<v2::task>(R"({"name":"n"})", &what) == stowage::errc::bad_input));
    BOOST_TEST(contains(what, "task.id: missing required field"), what);
    BOOST_TEST((decode_error<v2::strict>(R"({"id":"a"})", &what) == stowage::errc::bad_input));
    BOOST_TEST(contains(what, "strict.priority: missing required field"), what);
    stowage::bytes w;
    stowage::binary_codec{}.encode(v1::id_only{"a"}, w);
    BOOST_TEST((binary_decode_error<v2::strict>(w, &what) == stowage::errc::corrupt));
    BOOST_TEST(contains(what, "strict.priority: missing required field"), what);
    // The old and the new name together: which one counts is a guess.
    BOOST_TEST((decode_error<v2::task>(R"({"id":"a","title":"x","name":"y"})", &what) == stowage::errc::bad_input));
    BOOST_TEST(contains(what, "task.name: repeated field"), what);
    // The new name is written; the old one is read.
    const auto t = stowage::from_json<v2::task>(R"({"id":"a","title":"x"})");
    BOOST_TEST(t.name == "x");
    BOOST_TEST(contains(stowage::to_json(t), "\"name\":\"x\""));
    BOOST_TEST(!contains(stowage::to_json(t), "title"));
    BOOST_TEST((stowage::field_required<v2::task>(0) && !stowage::field_required<v2::task>(1)));
    BOOST_TEST(stowage::field_old_name<v2::task>(1, "title"));
}

// The golden v1 directory, written before any of this existed, read by an
// evolved session type: new fields with defaults, a renamed one, new kinds.
namespace types_test::evolved {
struct session {
    std::string id;
    std::string title;  // was `name`
    app::status state = app::status::draft;
    std::int64_t start_time = 0;
    std::optional<std::int64_t> end_time;
    double duration_s = 0;
    std::set<std::string> tags;  // was a vector: the same JSON and binary form
    std::vector<std::uint32_t> topic_ids;
    std::map<std::string, std::string> metadata;
    std::vector<app::segment> transcript;
    std::optional<std::string> notes;
    std::int32_t priority = 2;
    std::vector<std::byte> thumbnail;
    std::optional<system_clock::time_point> archived_at;
};
STOWAGE_DESCRIBE(session, id, title, state, start_time, end_time, duration_s, tags, topic_ids, metadata, transcript,
                 notes, priority, thumbnail, archived_at)
STOWAGE_FIELD_RULES(session, stowage::renamed("title", "name"))
}  // namespace types_test::evolved

BOOST_AUTO_TEST_CASE(golden_v1_read_by_an_evolved_type_in_both_codecs) {
    namespace fs = std::filesystem;
    const fs::path golden = fs::path(STOWAGE_SOURCE_DIR) / "tests" / "golden" / "v1";
    stowage::database<stowage::file_storage> db{stowage::file_storage(golden, stowage::open_mode::read_only)};
    stowage::db_store<evolved::session, stowage::file_storage, stowage::json_codec, stowage::sha256> json_sessions(
        db.storage(), "sessions");
    stowage::db_store<evolved::session, stowage::file_storage, stowage::binary_codec, stowage::blake2b> binary_sessions(
        db.storage(), "binary");
    auto same = [](const evolved::session& e, const app::session& s) {
        BOOST_TEST(e.id == s.id);
        BOOST_TEST(e.title == s.name);
        BOOST_TEST((e.state == s.state));
        BOOST_TEST(e.start_time == s.start_time);
        BOOST_TEST((e.tags == std::set<std::string>(s.tags.begin(), s.tags.end())));
        BOOST_TEST(e.transcript.size() == s.transcript.size());
        BOOST_TEST(e.priority == 2);
        BOOST_TEST(e.thumbnail.empty());
        BOOST_TEST(!e.archived_at.has_value());
    };
    for (int i = 0; i < 4; ++i) {
        auto e = json_sessions.get("session-" + std::to_string(i));
        BOOST_TEST_REQUIRE(e.has_value());
        same(*e, app::make_session(static_cast<std::uint64_t>(i)));
    }
    for (int i = 100; i < 102; ++i) {
        auto e = binary_sessions.get("session-" + std::to_string(i));
        BOOST_TEST_REQUIRE(e.has_value());
        same(*e, app::make_session(static_cast<std::uint64_t>(i)));
    }
}
