// Tests for projection.hpp (issue 20, point 5): a struct projection copies
// each field from the entity's field of the same name only where the types
// are the same or convert without narrowing; the rules as a concept, the
// copies they allow, and the stowage_project override. What must NOT
// compile (a field with no source, a narrowing or nonsensical conversion)
// is checked by the compile-fail tests (tests/cmake/compile_fail.cmake,
// tests/compile_fail/projection_fields.cpp), which also check that the
// compiler's message names the field.
#define BOOST_TEST_MODULE projection
#include "test_support.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stowage/projection.hpp"

namespace projection_rules {

enum class state { draft, done };
STOWAGE_DESCRIBE_ENUM(state, draft, done)

struct session {
    std::string id;
    std::string name;
    std::int32_t priority = 0;
    std::int64_t started_at = 0;
    float score = 0;
    char grade = 'a';
    state status = state::draft;
    std::optional<std::string> note;
    std::optional<std::int32_t> rating;
    std::vector<std::string> tags;
};
STOWAGE_DESCRIBE(session, id, name, priority, started_at, score, grade, status, note, rating, tags)

// Every field converts: same types, widening numbers, into optionals,
// implicit conversions that lose nothing.
struct summary {
    std::string id;
    std::optional<std::string> name;      // T -> optional<T>
    std::int64_t priority = 0;            // int32 -> int64
    std::int64_t started_at = 0;          // same
    double score = 0;                     // float -> double
    int grade = 0;                        // char -> int
    state status = state::done;           // same enum
    std::optional<std::string> note;      // optional -> optional
    std::optional<std::int64_t> rating;   // optional<int32> -> optional<int64>
    std::vector<std::string> tags;        // same
};
STOWAGE_DESCRIBE(summary, id, name, priority, started_at, score, grade, status, note, rating, tags)

// Class types that convert implicitly (std::chrono: only without loss).
struct timing {
    std::string id;
    std::chrono::milliseconds length{0};
    const char* label = "label";
};
STOWAGE_DESCRIBE(timing, id, length, label)
struct timing_summary {
    std::string id;
    std::chrono::microseconds length{0};  // ms -> us: no precision lost
    std::string label;                    // const char* -> std::string
};
STOWAGE_DESCRIBE(timing_summary, id, length, label)

// A projection the client fills itself: it may take any shape.
struct card {
    std::string id;
    std::string started_at;  // text from a number: only by hand
    std::string headline;    // no such entity field
};
STOWAGE_DESCRIBE(card, id, started_at, headline)

inline void stowage_project(const session& s, card& c) {
    c.id = s.id;
    c.started_at = std::to_string(s.started_at);
    c.headline = s.name + " (" + std::to_string(s.priority) + ")";
}

using stowage::detail::projection_copyable;

// Same type, and numbers that widen.
static_assert(projection_copyable<std::string, std::string>);
static_assert(projection_copyable<std::int32_t, std::int64_t>);
static_assert(projection_copyable<std::uint32_t, std::int64_t>);
static_assert(projection_copyable<float, double>);
static_assert(projection_copyable<char, int>);
// Narrowing, or a change of meaning.
static_assert(!projection_copyable<std::int64_t, std::int32_t>);
static_assert(!projection_copyable<std::int64_t, double>);
static_assert(!projection_copyable<std::int32_t, std::uint32_t>);
static_assert(!projection_copyable<double, float>);
static_assert(!projection_copyable<int, bool>);
static_assert(!projection_copyable<bool, int>);
// The "*" bug: a number is never a string (std::string = 42 compiles).
static_assert(!projection_copyable<std::int64_t, std::string>);
static_assert(!projection_copyable<char, std::string>);
static_assert(!projection_copyable<std::string, std::int64_t>);
// Enumerations: only the same one.
static_assert(projection_copyable<state, state>);
static_assert(!projection_copyable<state, int>);
static_assert(!projection_copyable<int, state>);
// Optionals: into one from a value or an optional; never out of one.
static_assert(projection_copyable<int, std::optional<long>>);
static_assert(projection_copyable<std::optional<int>, std::optional<long>>);
static_assert(!projection_copyable<std::optional<long>, std::optional<int>>);
static_assert(!projection_copyable<std::optional<int>, int>);
// Class types: implicit conversions (which std::chrono keeps lossless).
static_assert(projection_copyable<const char*, std::string>);
static_assert(!projection_copyable<std::string_view, std::string>);  // explicit
static_assert(projection_copyable<std::chrono::seconds, std::chrono::milliseconds>);
static_assert(!projection_copyable<std::chrono::milliseconds, std::chrono::seconds>);
static_assert(!projection_copyable<std::vector<int>, std::vector<long>>);

session sample() {
    session s;
    s.id = "s1";
    s.name = "weekly sync";
    s.priority = 3;
    s.started_at = 42;
    s.score = 1.5f;
    s.grade = 'b';
    s.status = state::done;
    s.rating = 4;
    s.tags = {"a", "b"};
    return s;
}

}  // namespace projection_rules

using namespace projection_rules;

BOOST_AUTO_TEST_CASE(fields_copy_by_name_where_the_types_allow) {
    auto p = stowage::project<summary>(sample());
    BOOST_TEST(p.id == "s1");
    BOOST_TEST((p.name == std::optional<std::string>("weekly sync")));
    BOOST_TEST(p.priority == 3);
    BOOST_TEST(p.started_at == 42);
    BOOST_TEST(p.score == 1.5);
    BOOST_TEST(p.grade == 'b');
    BOOST_TEST((p.status == state::done));
    BOOST_TEST(!p.note.has_value());
    BOOST_TEST((p.rating == std::optional<std::int64_t>(4)));
    BOOST_TEST((p.tags == std::vector<std::string>{"a", "b"}));
    auto t = stowage::project<timing_summary>(timing{"t1", std::chrono::milliseconds(1500), "label"});
    BOOST_TEST(t.length.count() == 1500000);
    BOOST_TEST(t.label == "label");
}

BOOST_AUTO_TEST_CASE(stowage_project_takes_over) {
    auto c = stowage::project<card>(sample());
    BOOST_TEST(c.id == "s1");
    BOOST_TEST(c.started_at == "42");
    BOOST_TEST(c.headline == "weekly sync (3)");
}

BOOST_AUTO_TEST_CASE(json_document_projection_is_unchanged) {
    auto d = stowage::project<stowage::json_document>(timing_summary{"t1", std::chrono::microseconds(5), "x"});
    BOOST_TEST((d.id() == std::optional<std::string>("t1")));
    BOOST_TEST(d.find("label") != nullptr);
}
