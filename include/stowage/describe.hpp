// describe.hpp — STOWAGE_DESCRIBE: field reflection for client types.
//
// A client describes a struct once, next to its definition (at namespace
// scope, in the struct's own namespace), and every codec, projection and index
// reads that description:
//
//     namespace app {
//     enum class status { draft, recording, done };
//     STOWAGE_DESCRIBE_ENUM(status, draft, recording, done)
//
//     struct session { std::string id; status state{}; std::int64_t start = 0; };
//     STOWAGE_DESCRIBE(session, id, state, start)
//     }
//
// The macros define a constexpr function found by argument-dependent lookup
// (`stowage_describe` / `stowage_describe_enum`, taking a tag of the type), so
// no registration and no static initialisation happen. The preprocessor
// walk takes up to ~340 names; tests cover 64 and 100 fields (GCC and clang
// also compile 200, in ~9 s: std::tuple's cost grows with the field count).
// STOWAGE_DESCRIBE_MEMBERS(type, fields...) is the same description placed
// inside the class body (as a hidden friend), for private members.
//
// What a description gives (namespace stowage):
//   described<T>, described_enum<E>      concepts
//   fields<T>()                          constexpr tuple of field<C, M>{name, pointer, index}
//   field_count_v<T>, field_names_v<T>   count and std::array of names
//   type_name_v<T>                       the name written in the macro
//   for_each_field(obj, f)               f(std::string_view name, member&), in order
//   for_each_field_descriptor<T>(f)      f(const field<C, M>&), in order (no object)
//   enum_name(e), enum_from_name<E>(s)   enumerator <-> name; enum_values_v<E>
//   field_required<T>(i), field_old_name<T>(i, name)   STOWAGE_FIELD_RULES
//
// Thread safety: everything is constexpr data; safe from any thread.
// Durability: not applicable.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "error.hpp"

// ---------------------------------------------------------------------------
// Preprocessor machinery: apply a macro to every argument of a variadic list.
//
// STOWAGE_PP_FOR_EACH(m, d, a, b, c) expands to  m(d, a), m(d, b), m(d, c).
// The list is walked by a macro that re-emits itself "deferred" (its name and
// its parentheses are separated, so the preprocessor does not see a recursive
// call and stop); every rescan forced by STOWAGE_PP_EXPAND peels one element.
// EXPAND nests 4^5 scans (the rest of the list is rescanned ~340 times),
// which bounds the list length; C++20's __VA_OPT__ ends the walk when the
// list is empty.
// ---------------------------------------------------------------------------
#define STOWAGE_PP_EXPAND(...) STOWAGE_PP_EXPAND_4(STOWAGE_PP_EXPAND_4(STOWAGE_PP_EXPAND_4(STOWAGE_PP_EXPAND_4(__VA_ARGS__))))
#define STOWAGE_PP_EXPAND_4(...) STOWAGE_PP_EXPAND_3(STOWAGE_PP_EXPAND_3(STOWAGE_PP_EXPAND_3(STOWAGE_PP_EXPAND_3(__VA_ARGS__))))
#define STOWAGE_PP_EXPAND_3(...) STOWAGE_PP_EXPAND_2(STOWAGE_PP_EXPAND_2(STOWAGE_PP_EXPAND_2(STOWAGE_PP_EXPAND_2(__VA_ARGS__))))
#define STOWAGE_PP_EXPAND_2(...) STOWAGE_PP_EXPAND_1(STOWAGE_PP_EXPAND_1(STOWAGE_PP_EXPAND_1(STOWAGE_PP_EXPAND_1(__VA_ARGS__))))
#define STOWAGE_PP_EXPAND_1(...) __VA_ARGS__
#define STOWAGE_PP_EMPTY_PARENS ()

#define STOWAGE_PP_FOR_EACH(macro, data, ...) \
    __VA_OPT__(STOWAGE_PP_EXPAND(STOWAGE_PP_FOR_EACH_STEP(macro, data, __VA_ARGS__)))
#define STOWAGE_PP_FOR_EACH_STEP(macro, data, first, ...) \
    macro(data, first) __VA_OPT__(, STOWAGE_PP_FOR_EACH_AGAIN STOWAGE_PP_EMPTY_PARENS(macro, data, __VA_ARGS__))
#define STOWAGE_PP_FOR_EACH_AGAIN() STOWAGE_PP_FOR_EACH_STEP

#define STOWAGE_DETAIL_DESCRIBE_FIELD(Type, member) ::stowage::detail::make_field(#member, &Type::member)
#define STOWAGE_DETAIL_DESCRIBE_ENUMERATOR(Enum, value) ::stowage::enum_entry<Enum>{Enum::value, #value}

// Describes the non-static data members of a struct, in the order given (the
// order JSON writes them and binary numbers them: append new fields at the
// end). Place it at namespace scope, in the struct's namespace.
#define STOWAGE_DESCRIBE(Type, ...)                                                                 \
    [[maybe_unused]] constexpr auto stowage_describe(::stowage::detail::describe_tag<Type>) noexcept { \
        return ::stowage::detail::make_description<Type>(                                           \
            #Type, STOWAGE_PP_FOR_EACH(STOWAGE_DETAIL_DESCRIBE_FIELD, Type, __VA_ARGS__));          \
    }

// The same, inside the class body (reaches private members).
#define STOWAGE_DESCRIBE_MEMBERS(Type, ...)                                                         \
    friend constexpr auto stowage_describe(::stowage::detail::describe_tag<Type>) noexcept {        \
        return ::stowage::detail::make_description<Type>(                                           \
            #Type, STOWAGE_PP_FOR_EACH(STOWAGE_DETAIL_DESCRIBE_FIELD, Type, __VA_ARGS__));          \
    }

// Field rules for schema evolution, next to the description (at namespace
// scope, in the type's namespace; members may be private):
//
//     STOWAGE_FIELD_RULES(session, stowage::required("id"),
//                         stowage::renamed("title", "name"))   // read "name" as title
//
// By default a field missing from a stored record keeps the value the type's
// default constructor gives it; `required` makes its absence an error.
// `renamed(field, old_name)` lets JSON readers take the member under its old
// name too (the binary codec numbers fields, so a rename needs nothing there);
// list a rule per old name. Checked at compile time: every field named must be
// described, an old name must not be another field's current name, and a
// rule may not be given twice.
#define STOWAGE_FIELD_RULES(Type, ...)                                                               \
    [[maybe_unused]] constexpr auto stowage_field_rules(::stowage::detail::describe_tag<Type>) noexcept { \
        return ::stowage::detail::make_field_rules<Type>(__VA_ARGS__);                               \
    }

// Describes an enumeration's values; codecs store them by name.
#define STOWAGE_DESCRIBE_ENUM(Enum, ...)                                                            \
    [[maybe_unused]] constexpr auto stowage_describe_enum(::stowage::detail::describe_tag<Enum>) noexcept { \
        return ::stowage::detail::make_enum_description<Enum>(                                      \
            #Enum, STOWAGE_PP_FOR_EACH(STOWAGE_DETAIL_DESCRIBE_ENUMERATOR, Enum, __VA_ARGS__));     \
    }

namespace stowage {

// One described data member: its name, its member pointer, its position.
template <class C, class M>
struct field {
    using class_type = C;
    using member_type = M;
    std::string_view name;
    M C::*pointer;
    std::size_t index = 0;

    constexpr M& of(C& obj) const noexcept { return obj.*pointer; }
    constexpr const M& of(const C& obj) const noexcept { return obj.*pointer; }
};

template <class E>
struct enum_entry {
    E value;
    std::string_view name;
};

// One schema-evolution rule (see STOWAGE_FIELD_RULES).
struct field_rule {
    enum class kind { required, renamed };
    kind what;
    std::string_view field;
    std::string_view old_name;  // for renamed
};

// The field must be present in every record read (absent is an error).
constexpr field_rule required(std::string_view field) noexcept { return {field_rule::kind::required, field, {}}; }

// Readers also accept the field under old_name (JSON; binary numbers fields).
constexpr field_rule renamed(std::string_view field, std::string_view old_name) noexcept {
    return {field_rule::kind::renamed, field, old_name};
}

namespace detail {

template <class T>
struct describe_tag {
    using type = T;
};

template <class T, class Fields>
struct type_description {
    std::string_view name;
    Fields fields;
};

template <class E, std::size_t N>
struct enum_description {
    std::string_view name;
    std::array<enum_entry<E>, N> entries;
};

template <class C, class M>
    requires(!std::is_function_v<M>)
constexpr field<C, M> make_field(std::string_view name, M C::*pointer) noexcept {
    return {name, pointer, 0};
}

template <class F>
constexpr F describe_with_index(F f, std::size_t i) noexcept {
    f.index = i;
    return f;
}

// Pack expansions rather than fold expressions: compilers cap fold nesting
// (clang at 256), which would cap the number of fields.
template <class T, class... Fs, std::size_t... Is>
constexpr auto make_description_indexed(std::string_view type_name, std::index_sequence<Is...>, Fs... fs) {
    static_assert(std::conjunction_v<std::is_base_of<typename Fs::class_type, T>...>,
                  "STOWAGE_DESCRIBE: every field must be a member of the type");
    const std::array<std::string_view, sizeof...(Fs)> names{fs.name...};
    for (std::size_t a = 0; a < names.size(); ++a)
        for (std::size_t b = a + 1; b < names.size(); ++b)
            if (names[a] == names[b]) throw "STOWAGE_DESCRIBE: a field is listed twice";
    return type_description<T, std::tuple<Fs...>>{type_name, std::tuple<Fs...>{describe_with_index(fs, Is)...}};
}

template <class T, class... Fs>
constexpr auto make_description(std::string_view type_name, Fs... fs) {
    static_assert(sizeof...(Fs) > 0, "STOWAGE_DESCRIBE needs at least one field");
    return make_description_indexed<T>(type_name, std::index_sequence_for<Fs...>{}, fs...);
}

template <class E, class... Es>
constexpr auto make_enum_description(std::string_view type_name, Es... es) {
    static_assert(std::is_enum_v<E>, "STOWAGE_DESCRIBE_ENUM needs an enumeration");
    static_assert(sizeof...(Es) > 0, "STOWAGE_DESCRIBE_ENUM needs at least one value");
    return enum_description<E, sizeof...(Es)>{type_name, {es...}};
}

// Poison pills: unqualified calls below see these plus whatever argument-
// dependent lookup finds next to the client's type.
void stowage_describe() = delete;
void stowage_describe_enum() = delete;
void stowage_field_rules() = delete;

template <class T>
concept has_description = requires { stowage_describe(describe_tag<T>{}); };
template <class E>
concept has_enum_description = std::is_enum_v<E> && requires { stowage_describe_enum(describe_tag<E>{}); };

template <class T>
inline constexpr auto type_description_v = stowage_describe(describe_tag<T>{});
template <class E>
inline constexpr auto enum_description_v = stowage_describe_enum(describe_tag<E>{});

template <class T>
concept has_field_rules = requires { stowage_field_rules(describe_tag<T>{}); };

// Checked at compile time, when a codec first meets the type (a constant
// expression: a bad rule stops compilation with the message below).
template <class T, class... Rs>
constexpr std::array<field_rule, sizeof...(Rs)> make_field_rules(Rs... rules) {
    static_assert((std::is_same_v<Rs, field_rule> && ...),
                  "STOWAGE_FIELD_RULES takes stowage::required(\"field\") and stowage::renamed(\"field\", \"old\")");
    std::array<field_rule, sizeof...(Rs)> out{rules...};
    const auto& names = stowage_describe(describe_tag<T>{}).fields;
    auto is_field = [&](std::string_view n) {
        return std::apply([&](const auto&... f) { return ((f.name == n) || ...); }, names);
    };
    for (std::size_t a = 0; a < out.size(); ++a) {
        if (!is_field(out[a].field)) throw "STOWAGE_FIELD_RULES: a rule names a field the description does not list";
        if (out[a].what == field_rule::kind::renamed && (out[a].old_name.empty() || is_field(out[a].old_name)))
            throw "STOWAGE_FIELD_RULES: an old name is empty or is the current name of a field";
        for (std::size_t b = 0; b < a; ++b) {
            if (out[a].what == out[b].what && out[a].field == out[b].field && out[a].old_name == out[b].old_name)
                throw "STOWAGE_FIELD_RULES: a rule is given twice";
            if (out[a].what == field_rule::kind::renamed && out[b].what == field_rule::kind::renamed &&
                out[a].old_name == out[b].old_name)
                throw "STOWAGE_FIELD_RULES: two fields claim the same old name";
        }
    }
    return out;
}

template <class T>
constexpr auto field_rules_of() {
    if constexpr (has_field_rules<T>) return stowage_field_rules(describe_tag<T>{});
    else return std::array<field_rule, 0>{};
}

template <class T>
inline constexpr auto field_rules_v = field_rules_of<T>();

}  // namespace detail

template <class T>
concept described = std::is_class_v<std::remove_cv_t<T>> && detail::has_description<std::remove_cv_t<T>>;

template <class E>
concept described_enum = detail::has_enum_description<std::remove_cv_t<E>>;

// The field list at compile time: a std::tuple of field<C, M>.
template <described T>
constexpr const auto& fields() noexcept {
    return detail::type_description_v<std::remove_cv_t<T>>.fields;
}

template <described T>
inline constexpr std::size_t field_count_v =
    std::tuple_size_v<std::remove_cvref_t<decltype(detail::type_description_v<std::remove_cv_t<T>>.fields)>>;

template <described T>
inline constexpr std::string_view type_name_v = detail::type_description_v<std::remove_cv_t<T>>.name;

template <described T>
inline constexpr auto field_names_v = std::apply(
    [](const auto&... f) { return std::array<std::string_view, sizeof...(f)>{f.name...}; },
    detail::type_description_v<std::remove_cv_t<T>>.fields);

// Calls f(name, member) for every described member of obj, in declaration
// order; members are const when obj is.
template <class T, class F>
    requires described<std::remove_reference_t<T>>
constexpr void for_each_field(T&& obj, F&& f) {
    std::apply([&](const auto&... fd) { (f(fd.name, obj.*(fd.pointer)), ...); },
               fields<std::remove_cvref_t<T>>());
}

// Calls f(field) for every field descriptor of T, in declaration order.
template <described T, class F>
constexpr void for_each_field_descriptor(F&& f) {
    std::apply([&](const auto&... fd) { (f(fd), ...); }, fields<T>());
}

// Index of the field named `name`, or nullopt.
template <described T>
constexpr std::optional<std::size_t> field_index(std::string_view name) noexcept {
    for (std::size_t i = 0; i < field_names_v<T>.size(); ++i)
        if (field_names_v<T>[i] == name) return i;
    return std::nullopt;
}

// Whether the field at `index` is marked stowage::required.
template <described T>
constexpr bool field_required(std::size_t index) noexcept {
    for (const auto& r : detail::field_rules_v<std::remove_cv_t<T>>)
        if (r.what == field_rule::kind::required && r.field == field_names_v<T>[index]) return true;
    return false;
}

// Whether `name` is an old name of the field at `index` (stowage::renamed).
template <described T>
constexpr bool field_old_name(std::size_t index, std::string_view name) noexcept {
    for (const auto& r : detail::field_rules_v<std::remove_cv_t<T>>)
        if (r.what == field_rule::kind::renamed && r.old_name == name && r.field == field_names_v<T>[index]) return true;
    return false;
}

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------
template <described_enum E>
inline constexpr const auto& enum_values_v = detail::enum_description_v<std::remove_cv_t<E>>.entries;

template <described_enum E>
inline constexpr std::string_view enum_type_name_v = detail::enum_description_v<std::remove_cv_t<E>>.name;

// The name of a declared value (the first, if two names share a value).
// An undeclared value (a cast integer) is errc::bad_input.
template <described_enum E>
std::string_view enum_name(E value) {
    for (const auto& e : enum_values_v<E>)
        if (e.value == value) return e.name;
    throw error(errc::bad_input,
                std::string("enum ") + std::string(enum_type_name_v<E>) + ": undeclared value " +
                    std::to_string(static_cast<long long>(static_cast<std::underlying_type_t<E>>(value))));
}

template <described_enum E>
constexpr std::optional<E> enum_from_name(std::string_view name) noexcept {
    for (const auto& e : enum_values_v<E>)
        if (e.name == name) return e.value;
    return std::nullopt;
}

}  // namespace stowage
