// describe.hpp: field lists, names, order, const-ness, enums, limits.
#define BOOST_TEST_MODULE describe
#include <stowage/describe.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace app {

enum class status { draft, recording, done };
STOWAGE_DESCRIBE_ENUM(status, draft, recording, done)

enum plain_color : unsigned char { red = 1, green = 2, blue = 4 };  // unscoped, sparse values
STOWAGE_DESCRIBE_ENUM(plain_color, red, green, blue)

enum class not_described { a, b };

struct session {
    std::string id;
    std::string name;
    status state = status::draft;
    std::int64_t start_time = 0;
    std::vector<std::string> tags;
};
STOWAGE_DESCRIBE(session, id, name, state, start_time, tags)

struct base_part {
    int base_value = 7;
};
struct derived_part : base_part {
    std::string own;
};
STOWAGE_DESCRIBE(derived_part, base_value, own)  // a base's member is described like any other

class with_private {
public:
    with_private() = default;
    with_private(int a, std::string b) : a_(a), b_(std::move(b)) {}
    int a() const { return a_; }

private:
    int a_ = 0;
    std::string b_;
    STOWAGE_DESCRIBE_MEMBERS(with_private, a_, b_)
};

struct not_described_struct {
    int x;
};

}  // namespace app

struct global_ns_type {  // the global namespace works as well
    double x = 1.5;
};
STOWAGE_DESCRIBE(global_ns_type, x)

struct wide64 {
    int f0 = 0, f1 = 1, f2 = 2, f3 = 3, f4 = 4, f5 = 5, f6 = 6, f7 = 7;
    int f8 = 8, f9 = 9, f10 = 10, f11 = 11, f12 = 12, f13 = 13, f14 = 14, f15 = 15;
    int f16 = 16, f17 = 17, f18 = 18, f19 = 19, f20 = 20, f21 = 21, f22 = 22, f23 = 23;
    int f24 = 24, f25 = 25, f26 = 26, f27 = 27, f28 = 28, f29 = 29, f30 = 30, f31 = 31;
    int f32 = 32, f33 = 33, f34 = 34, f35 = 35, f36 = 36, f37 = 37, f38 = 38, f39 = 39;
    int f40 = 40, f41 = 41, f42 = 42, f43 = 43, f44 = 44, f45 = 45, f46 = 46, f47 = 47;
    int f48 = 48, f49 = 49, f50 = 50, f51 = 51, f52 = 52, f53 = 53, f54 = 54, f55 = 55;
    int f56 = 56, f57 = 57, f58 = 58, f59 = 59, f60 = 60, f61 = 61, f62 = 62, f63 = 63;
};
STOWAGE_DESCRIBE(wide64, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16,
                 f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31, f32,
                 f33, f34, f35, f36, f37, f38, f39, f40, f41, f42, f43, f44, f45, f46, f47, f48,
                 f49, f50, f51, f52, f53, f54, f55, f56, f57, f58, f59, f60, f61, f62, f63)

struct wide100 {
    int f0 = 0, f1 = 1, f2 = 2, f3 = 3, f4 = 4, f5 = 5, f6 = 6, f7 = 7;
    int f8 = 8, f9 = 9, f10 = 10, f11 = 11, f12 = 12, f13 = 13, f14 = 14, f15 = 15;
    int f16 = 16, f17 = 17, f18 = 18, f19 = 19, f20 = 20, f21 = 21, f22 = 22, f23 = 23;
    int f24 = 24, f25 = 25, f26 = 26, f27 = 27, f28 = 28, f29 = 29, f30 = 30, f31 = 31;
    int f32 = 32, f33 = 33, f34 = 34, f35 = 35, f36 = 36, f37 = 37, f38 = 38, f39 = 39;
    int f40 = 40, f41 = 41, f42 = 42, f43 = 43, f44 = 44, f45 = 45, f46 = 46, f47 = 47;
    int f48 = 48, f49 = 49, f50 = 50, f51 = 51, f52 = 52, f53 = 53, f54 = 54, f55 = 55;
    int f56 = 56, f57 = 57, f58 = 58, f59 = 59, f60 = 60, f61 = 61, f62 = 62, f63 = 63;
    int f64 = 64, f65 = 65, f66 = 66, f67 = 67, f68 = 68, f69 = 69, f70 = 70, f71 = 71;
    int f72 = 72, f73 = 73, f74 = 74, f75 = 75, f76 = 76, f77 = 77, f78 = 78, f79 = 79;
    int f80 = 80, f81 = 81, f82 = 82, f83 = 83, f84 = 84, f85 = 85, f86 = 86, f87 = 87;
    int f88 = 88, f89 = 89, f90 = 90, f91 = 91, f92 = 92, f93 = 93, f94 = 94, f95 = 95;
    int f96 = 96, f97 = 97, f98 = 98, f99 = 99;
};
STOWAGE_DESCRIBE(wide100, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16,
                 f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31, f32,
                 f33, f34, f35, f36, f37, f38, f39, f40, f41, f42, f43, f44, f45, f46, f47, f48,
                 f49, f50, f51, f52, f53, f54, f55, f56, f57, f58, f59, f60, f61, f62, f63, f64,
                 f65, f66, f67, f68, f69, f70, f71, f72, f73, f74, f75, f76, f77, f78, f79, f80,
                 f81, f82, f83, f84, f85, f86, f87, f88, f89, f90, f91, f92, f93, f94, f95, f96,
                 f97, f98, f99)

using namespace stowage;

// --- compile-time facts ----------------------------------------------------
static_assert(described<app::session>);
static_assert(described<const app::session>);
static_assert(described<global_ns_type>);
static_assert(described<app::with_private>);
static_assert(!described<app::not_described_struct>);
static_assert(!described<int>);
static_assert(!described<std::string>);
static_assert(described_enum<app::status>);
static_assert(described_enum<app::plain_color>);
static_assert(!described_enum<app::not_described>);
static_assert(!described_enum<app::session>);

static_assert(field_count_v<app::session> == 5);
static_assert(field_names_v<app::session>[0] == "id");
static_assert(field_names_v<app::session>[4] == "tags");
static_assert(type_name_v<app::session> == "session");
static_assert(std::get<3>(fields<app::session>()).name == "start_time");
static_assert(std::get<3>(fields<app::session>()).index == 3);
static_assert(std::get<3>(fields<app::session>()).pointer == &app::session::start_time);
static_assert(std::is_same_v<std::remove_cvref_t<decltype(std::get<2>(fields<app::session>()))>::member_type,
                             app::status>);
static_assert(field_index<app::session>("state") == 2);
static_assert(!field_index<app::session>("nope").has_value());

static_assert(field_count_v<wide64> == 64);
static_assert(field_names_v<wide64>[63] == "f63");
static_assert(std::get<63>(fields<wide64>()).index == 63);
static_assert(field_count_v<wide100> == 100);
static_assert(field_names_v<wide100>[99] == "f99");

static_assert(enum_values_v<app::status>.size() == 3);
static_assert(enum_from_name<app::status>("done") == app::status::done);
static_assert(!enum_from_name<app::status>("Done").has_value());
static_assert(enum_type_name_v<app::plain_color> == "plain_color");

// A field list usable at compile time, e.g. to build an index over one member.
constexpr std::size_t count_string_fields() {
    std::size_t n = 0;
    for_each_field_descriptor<app::session>([&](const auto& f) {
        if constexpr (std::is_same_v<typename std::remove_cvref_t<decltype(f)>::member_type, std::string>) ++n;
    });
    return n;
}
static_assert(count_string_fields() == 2);

// --- run-time behaviour ------------------------------------------------------
BOOST_AUTO_TEST_CASE(for_each_field_visits_in_declaration_order_and_writes_members) {
    app::session s;
    std::vector<std::string> seen;
    for_each_field(s, [&](std::string_view name, auto& member) {
        seen.emplace_back(name);
        using M = std::remove_cvref_t<decltype(member)>;
        if constexpr (std::is_same_v<M, std::string>) member = "x" + std::string(name);
        if constexpr (std::is_same_v<M, std::int64_t>) member = 42;
        if constexpr (std::is_same_v<M, app::status>) member = app::status::done;
    });
    BOOST_TEST(seen == (std::vector<std::string>{"id", "name", "state", "start_time", "tags"}),
               boost::test_tools::per_element());
    BOOST_TEST(s.id == "xid");
    BOOST_TEST(s.name == "xname");
    BOOST_TEST(s.start_time == 42);
    BOOST_TEST((s.state == app::status::done));
}

BOOST_AUTO_TEST_CASE(for_each_field_on_const_object_gives_const_members) {
    const app::session s{"a", "b", app::status::recording, 5, {"t"}};
    int visited = 0;
    for_each_field(s, [&](std::string_view, auto& member) {
        static_assert(std::is_const_v<std::remove_reference_t<decltype(member)>>);
        ++visited;
    });
    BOOST_TEST(visited == 5);
}

BOOST_AUTO_TEST_CASE(wide_struct_sees_every_field_with_its_value) {
    wide64 w;
    int i = 0;
    bool in_order = true;
    for_each_field(w, [&](std::string_view name, int& v) {
        in_order = in_order && name == "f" + std::to_string(i) && v == i;
        v = -v;
        ++i;
    });
    BOOST_TEST(i == 64);
    BOOST_TEST(in_order);
    BOOST_TEST(w.f63 == -63);
    wide100 w100;
    long sum = 0;
    for_each_field(w100, [&](std::string_view, int v) { sum += v; });
    BOOST_TEST(sum == 99 * 100 / 2);
}

BOOST_AUTO_TEST_CASE(base_members_and_private_members) {
    app::derived_part d;
    d.own = "o";
    std::vector<std::string> names;
    for_each_field(d, [&](std::string_view n, auto&) { names.emplace_back(n); });
    BOOST_TEST(names.size() == 2u);
    BOOST_TEST(names[0] == "base_value");
    BOOST_TEST(std::get<0>(fields<app::derived_part>()).of(d) == 7);

    app::with_private p(3, "three");
    int a = 0;
    std::string b;
    for_each_field(p, [&](std::string_view, const auto& m) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(m)>, int>) a = m;
        else b = m;
    });
    BOOST_TEST(a == 3);
    BOOST_TEST(b == "three");
}

BOOST_AUTO_TEST_CASE(enum_names_both_ways) {
    BOOST_TEST(enum_name(app::status::draft) == "draft");
    BOOST_TEST(enum_name(app::status::recording) == "recording");
    BOOST_TEST(enum_name(app::blue) == "blue");
    BOOST_TEST((enum_from_name<app::plain_color>("green") == app::green));
    BOOST_TEST(!enum_from_name<app::plain_color>("").has_value());
    BOOST_TEST(!enum_from_name<app::plain_color>("greenish").has_value());
}

BOOST_AUTO_TEST_CASE(enum_name_of_undeclared_value_is_bad_input) {
    try {
        (void)enum_name(static_cast<app::status>(9));
        BOOST_FAIL("expected an error");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(std::string(e.what()).find("status") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find('9') != std::string::npos);
    }
    BOOST_CHECK_THROW((void)enum_name(static_cast<app::plain_color>(3)), stowage::error);
}
