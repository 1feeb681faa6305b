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
// A client can take over entirely by declaring, next to its entity,
//     void stowage_project(const Entity&, Projection&);
// which is found by argument-dependent lookup.
//
// Entities have a string id: a json_document's top-level "id", or a
// described entity's field named `id`.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <type_traits>

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
        for_each_field(p, [&](std::string_view pname, auto& pm) {
            for_each_field(e, [&](std::string_view ename, const auto& em) {
                if constexpr (std::is_assignable_v<decltype(pm)&, decltype(em)>) {
                    if (pname == ename) pm = em;
                }
            });
        });
    }
    return p;
}

}  // namespace stowage
