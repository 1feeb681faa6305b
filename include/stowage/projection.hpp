// projection.hpp — the small summary of an entity a store keeps in every
// record's envelope and in its in-memory listing, so `list()` never reads or
// decodes entities (the "index → metadata → full entity" tiers of design.md).
//
// A projection is either
//   - json_document (the default): the entity's top-level scalar fields —
//     strings up to 256 bytes, numbers, booleans, null, enums by name —
//     which is what `stowage ls` prints; or
//   - a described struct of the client's choosing (e.g. id, name, status,
//     start time): its fields are copied by name from a described entity.
//     Every field of the projection must have a source: a field of the
//     same name in the entity whose type copies without loss —
//       * the same type;
//       * arithmetic to arithmetic where brace-initialization does not
//         narrow (int32 -> int64, float -> double, char -> int; not
//         int64 -> int32, int64 -> double, signed -> unsigned); bool only
//         from bool;
//       * std::optional<T> from U or from std::optional<U> when U copies to T
//         (never an optional into a plain field: its empty case has no value);
//       * other types (not arithmetic, not enums) when the entity's type is
//         implicitly convertible to the projection's (const char* ->
//         std::string; std::chrono durations and time points convert
//         implicitly only where no precision is lost).
//     Enumerations copy only into the same enumeration. A projection field
//     with no source field of its name, or whose source's type does not
//     copy by these rules, is a compile error (static_assert) whose first
//     lines name the projection field — it used to stay empty, or be
//     assigned a char from an integer ("*" from 42).
// A client can take over entirely by declaring, next to its entity,
//     void stowage_project(const Entity&, Projection&);
// which is found by argument-dependent lookup (then no field is checked).
//
// Entities have a string id: a json_document's top-level "id", or a
// described entity's field named `id`.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "codec/json.hpp"
#include "codec/json_document.hpp"
#include "describe.hpp"
#include "error.hpp"

namespace stowage {

inline constexpr std::size_t projection_max_string = 256;

namespace detail {

template <class E, class P>
concept has_custom_projection = requires(const E& e, P& p) { stowage_project(e, p); };

template <class T>
concept has_string_id = described<T> && requires(const T& t) {
    { t.id } -> std::convertible_to<std::string_view>;
};

inline bool is_listed_scalar(const json_value& v) {
    if (v.is_string()) return v.as_string().size() <= projection_max_string;
    return v.is_number() || v.is_bool() || v.is_null();
}

// --- struct projections: which entity field feeds which projection field ---

template <class T>
inline constexpr bool projection_is_optional = false;
template <class T>
inline constexpr bool projection_is_optional<std::optional<T>> = true;

// Whether a projection field of type To may be copied from an entity field
// of type From (the rules in the header comment).
template <class From, class To>
constexpr bool projection_copies() {
    if constexpr (std::is_same_v<From, To>) {
        return true;
    } else if constexpr (projection_is_optional<To>) {
        if constexpr (projection_is_optional<From>) return projection_copies<typename From::value_type, typename To::value_type>();
        else return projection_copies<From, typename To::value_type>();
    } else if constexpr (projection_is_optional<From> || std::is_enum_v<From> || std::is_enum_v<To>) {
        return false;
    } else if constexpr (std::is_arithmetic_v<From> || std::is_arithmetic_v<To>) {
        if constexpr (!std::is_arithmetic_v<From> || !std::is_arithmetic_v<To> || std::is_same_v<From, bool> ||
                      std::is_same_v<To, bool>)
            return false;
        else
            return requires { To{std::declval<const From&>()}; };  // no narrowing
    } else {
        return std::is_convertible_v<const From&, To>;
    }
}

template <class From, class To>
concept projection_copyable = projection_copies<std::remove_cv_t<From>, std::remove_cv_t<To>>();

// A projection field is named to the compiler by its member pointer
// (&app::summary::started_at), a template argument GCC and clang both print
// as written, so the first lines of a diagnostic name it.
template <class P, std::size_t I>
inline constexpr auto projection_member_v = std::get<I>(fields<P>()).pointer;

template <class Projection, class Entity, auto Field>
inline constexpr bool entity_has_a_field_named = false;

// Instantiated only for a projection field that has no source: the
// template arguments name the projection, the entity and the field.
template <class Projection, class Entity, auto Field>
struct projection_field_has_no_source_field {
    static_assert(entity_has_a_field_named<Projection, Entity, Field>,
                  "stowage: this field of a struct projection has no field of the same name in the entity "
                  "(projection fields are copied by name): rename it, or declare "
                  "stowage_project(const Entity&, Projection&) next to the entity");
};

template <class Projection, class Entity, auto Field, class From, class To>
inline constexpr bool projection_field_copies_from = false;

// Instantiated only for a projection field whose source field's type does
// not copy into it without loss (the rules in the header comment).
template <class Projection, class Entity, auto Field, class EntityFieldType, class ProjectionFieldType>
struct projection_field_cannot_copy_from_its_source {
    static_assert(projection_field_copies_from<Projection, Entity, Field, EntityFieldType, ProjectionFieldType>,
                  "stowage: this field of a struct projection cannot be copied from the entity's field of the same "
                  "name: the types differ and do not convert without narrowing (see projection.hpp); change its "
                  "type, or declare stowage_project(const Entity&, Projection&) next to the entity");
};

// The index in the entity of projection field I's source, or nullopt.
template <class P, class E, std::size_t I>
inline constexpr std::optional<std::size_t> projection_source_v = field_index<E>(field_names_v<P>[I]);

template <class C, std::size_t I>
using described_member_t = typename std::tuple_element_t<I, std::remove_cvref_t<decltype(fields<C>())>>::member_type;

// Fails to compile, naming the field, when projection field I has no
// source or cannot be copied from it.
template <class P, class E, std::size_t I>
void check_projection_field() {
    if constexpr (!projection_source_v<P, E, I>) {
        (void)sizeof(projection_field_has_no_source_field<P, E, projection_member_v<P, I>>);
    } else {
        using from = described_member_t<E, *projection_source_v<P, E, I>>;
        using to = described_member_t<P, I>;
        if constexpr (!projection_copyable<from, to>)
            (void)sizeof(projection_field_cannot_copy_from_its_source<P, E, projection_member_v<P, I>, from, to>);
    }
}

template <class P, class E, std::size_t I>
void copy_projection_field(const E& e, P& p) {
    if constexpr (projection_source_v<P, E, I>.has_value()) {
        using from = described_member_t<E, *projection_source_v<P, E, I>>;
        using to = described_member_t<P, I>;
        if constexpr (projection_copyable<from, to>) {
            const auto& source = std::get<*projection_source_v<P, E, I>>(fields<E>()).of(e);
            auto& target = std::get<I>(fields<P>()).of(p);
            if constexpr (std::is_same_v<std::remove_cv_t<from>, to>) target = source;
            else target = to(source);
        }
    }
}

template <class P, class E, std::size_t... I>
void project_fields(const E& e, P& p, std::index_sequence<I...>) {
    (check_projection_field<P, E, I>(), ...);
    (copy_projection_field<P, E, I>(e, p), ...);
}

}  // namespace detail

// The id of an entity; bad_input when it has none.
template <class E>
std::string entity_id(const E& e) {
    if constexpr (std::is_same_v<E, json_document>) {
        auto id = e.id();
        if (!id) throw error(errc::bad_input, "document has no string \"id\" field");
        return *id;
    } else {
        static_assert(detail::has_string_id<E>, "a stored entity needs a described std::string field named `id`");
        return std::string(e.id);
    }
}

// Builds the projection P of entity e.
template <class P, class E>
P project(const E& e) {
    P p{};
    if constexpr (detail::has_custom_projection<E, P>) {
        stowage_project(e, p);
    } else if constexpr (std::is_same_v<P, json_document>) {
        json_document full;
        if constexpr (std::is_same_v<E, json_document>) full = e;
        else full = json_document::parse(to_json(e));
        for (const auto& [k, v] : full)
            if (detail::is_listed_scalar(v)) p.set(k, v);
    } else {
        static_assert(described<P> && described<E>,
                      "a struct projection copies fields by name: describe both, or declare stowage_project(e, p)");
        if constexpr (described<P> && described<E>)
            detail::project_fields(e, p, std::make_index_sequence<field_count_v<P>>{});
    }
    return p;
}

}  // namespace stowage
