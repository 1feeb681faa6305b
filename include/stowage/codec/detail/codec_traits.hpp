// codec/detail/codec_traits.hpp — which C++ types the provided codecs store,
// sorted into the kinds both json_codec and binary_codec switch on, and the
// compile-time check that names an unsupported type and the field that
// holds it.
//
// Supported (docs/entities.md lists them with their JSON and binary forms):
//   bool; integers up to 64 bits (not the character types); float, double;
//   std::string; byte strings (std::vector<std::byte> = stowage::bytes,
//   std::array<std::byte, N>); described enums (by name);
//   std::optional<T> (nested too); std::vector<T>, std::array<T, N>,
//   std::set<T>; std::map<K, T> and std::unordered_map<K, T> with K a
//   std::string, an integer or a described enum; std::pair, std::tuple;
//   std::variant (each alternative tagged by name; std::monostate allowed);
//   std::chrono::sys_time<D> (system_clock::time_point) and
//   std::chrono::duration with an integral count of whole nanoseconds or
//   coarser; json_value, json_document; described structs, nested to any
//   depth (recursive ones too); any type with a codec_adapter (adapter.hpp,
//   which also adapts std::filesystem::path).
//
// codable<T> checks the whole type, every field at every depth.
// check_codable<T>() does the same and, for a type that fails, makes the
// compiler's first error name it: "stowage_type_is_not_described<Type,
// Entity, &Entity::field, &Inner::field...>", the member pointers being the
// path from the entity to the offending type, followed by the fix.
//
// Thread safety: compile-time only.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <ratio>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "../../describe.hpp"
#include "../../error.hpp"
#include "../adapter.hpp"
#include "failure.hpp"
#include "../json_document.hpp"

namespace stowage::detail {

template <class T>
struct is_std_optional : std::false_type {};
template <class T>
struct is_std_optional<std::optional<T>> : std::true_type {};

// Byte strings: stored as bytes (base64 in JSON), not as arrays of numbers.
template <class T>
struct is_byte_string : std::false_type {};
template <class A>
struct is_byte_string<std::vector<std::byte, A>> : std::true_type {};
template <std::size_t N>
struct is_byte_string<std::array<std::byte, N>> : std::true_type {};

template <class T>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::bool_constant<!std::is_same_v<T, std::byte>> {};

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::bool_constant<!std::is_same_v<T, std::byte>> {};

template <class T>
struct is_std_set : std::false_type {};
template <class T, class C, class A>
struct is_std_set<std::set<T, C, A>> : std::true_type {};

// Arrays in both codecs: a count, then the elements.
template <class T>
concept codec_sequence = is_std_vector<T>::value || is_std_array<T>::value || is_std_set<T>::value;

template <class T>
struct is_std_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_std_map<std::map<K, V, C, A>> : std::true_type {};

template <class T>
struct is_std_unordered_map : std::false_type {};
template <class K, class V, class H, class E, class A>
struct is_std_unordered_map<std::unordered_map<K, V, H, E, A>> : std::true_type {};

template <class T>
concept codec_map = is_std_map<T>::value || is_std_unordered_map<T>::value;

// Kept for existing callers: a map keyed by std::string.
template <class T>
struct is_std_string_map : std::false_type {};
template <class V, class C, class A>
struct is_std_string_map<std::map<std::string, V, C, A>> : std::true_type {};

template <class T>
struct is_tuple_like : std::false_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};
template <class... Ts>
struct is_tuple_like<std::tuple<Ts...>> : std::true_type {};

template <class T>
struct is_std_variant : std::false_type {};
template <class... Ts>
struct is_std_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
concept codec_char_type = std::same_as<T, char> || std::same_as<T, wchar_t> || std::same_as<T, char8_t> ||
                    std::same_as<T, char16_t> || std::same_as<T, char32_t>;

template <class T>
concept codec_integer = std::integral<T> && !std::same_as<T, bool> && !codec_char_type<T> && sizeof(T) <= 8;

template <class T>
concept codec_floating = std::same_as<T, float> || std::same_as<T, double>;

template <class T>
concept codec_map_key = std::same_as<T, std::string> || codec_integer<T> || described_enum<T>;

// std::chrono: a whole number of nanoseconds or of a coarser unit, so both
// codecs store it exactly as (seconds, nanoseconds) whatever the unit.
template <class T>
struct is_chrono_duration : std::false_type {};
template <class R, class P>
struct is_chrono_duration<std::chrono::duration<R, P>> : std::true_type {};

template <class D>
concept codec_duration = is_chrono_duration<D>::value && codec_integer<typename D::rep> &&
                         (std::ratio_divide<typename D::period, std::nano>::den == 1);

template <class T>
struct is_sys_time : std::false_type {};
template <class D>
struct is_sys_time<std::chrono::time_point<std::chrono::system_clock, D>> : std::bool_constant<codec_duration<D>> {};

template <class T>
concept codec_time = is_sys_time<T>::value;

template <class T>
concept codec_leaf = std::same_as<T, bool> || codec_integer<T> || codec_floating<T> || std::same_as<T, std::string> ||
                     is_byte_string<T>::value || described_enum<T> || codec_duration<T> || codec_time<T> ||
                     std::same_as<T, json_value> || std::same_as<T, json_document> || std::same_as<T, std::monostate>;

// A variant alternative's tag: the name it is stored under.
template <class T>
constexpr std::string_view variant_tag() {
    if constexpr (adapted<T>) {
        if constexpr (requires { std::string_view(codec_adapter<T>::tag); }) return codec_adapter<T>::tag;
        else return {};
    } else if constexpr (std::same_as<T, std::monostate>) return "none";
    else if constexpr (std::same_as<T, bool>) return "bool";
    else if constexpr (codec_integer<T>) {
        constexpr std::array<std::string_view, 4> s{"int8", "int16", "int32", "int64"};
        constexpr std::array<std::string_view, 4> u{"uint8", "uint16", "uint32", "uint64"};
        constexpr std::size_t i = sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3;
        return std::is_signed_v<T> ? s[i] : u[i];
    } else if constexpr (std::same_as<T, float>) return "float";
    else if constexpr (std::same_as<T, double>) return "double";
    else if constexpr (std::same_as<T, std::string>) return "string";
    else if constexpr (is_byte_string<T>::value) return "bytes";
    else if constexpr (codec_time<T>) return "time";
    else if constexpr (codec_duration<T>) return "duration";
    else if constexpr (described_enum<T>) return enum_type_name_v<T>;
    else if constexpr (described<T>) return type_name_v<T>;
    else return {};
}

// Every alternative has a tag, and no two share one.
template <class V>
constexpr bool variant_tags_distinct() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        constexpr std::array<std::string_view, sizeof...(I)> tags{variant_tag<std::variant_alternative_t<I, V>>()...};
        for (std::size_t a = 0; a < tags.size(); ++a) {
            if (tags[a].empty()) return false;
            for (std::size_t b = 0; b < a; ++b)
                if (tags[a] == tags[b]) return false;
        }
        return true;
    }(std::make_index_sequence<std::variant_size_v<V>>{});
}

template <class T>
using field_tuple_t = std::remove_cvref_t<decltype(fields<T>())>;

template <class T, std::size_t I>
using field_member_t = typename std::tuple_element_t<I, field_tuple_t<T>>::member_type;

// Whether T, and everything it holds at any depth, can be stored. Seen are
// the described structs on the way down: meeting one again is a recursive
// type (a struct holding a vector of itself), fine if the rest is.
template <class T, class... Seen>
consteval bool codable_deep() {
    if constexpr (adapted<T>) {
        return codable_deep<adapter_representation_t<T>, Seen...>();
    } else if constexpr (codec_leaf<T>) {
        return true;
    } else if constexpr (is_std_optional<T>::value || codec_sequence<T>) {
        return codable_deep<typename T::value_type, Seen...>();
    } else if constexpr (codec_map<T>) {
        return codec_map_key<typename T::key_type> && codable_deep<typename T::mapped_type, Seen...>();
    } else if constexpr (is_tuple_like<T>::value) {
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (codable_deep<std::tuple_element_t<I, T>, Seen...>() && ...);
        }(std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (is_std_variant<T>::value) {
        return variant_tags_distinct<T>() && []<std::size_t... I>(std::index_sequence<I...>) {
            return (codable_deep<std::variant_alternative_t<I, T>, Seen...>() && ...);
        }(std::make_index_sequence<std::variant_size_v<T>>{});
    } else if constexpr (described<T>) {
        if constexpr ((std::is_same_v<T, Seen> || ...)) {
            return true;
        } else {
            return []<std::size_t... I>(std::index_sequence<I...>) {
                return (codable_deep<field_member_t<T, I>, T, Seen...>() && ...);
            }(std::make_index_sequence<field_count_v<T>>{});
        }
    } else {
        return false;
    }
}

template <class T>
concept codable = codable_deep<T>();

}  // namespace stowage::detail

namespace stowage {

// Whether the provided codecs can store T, checking every field at any depth.
template <class T>
concept storable = detail::codable<T>;

}  // namespace stowage

namespace stowage::detail {

template <class T>
inline constexpr bool codec_dependent_false = false;

}  // namespace stowage::detail

namespace stowage {

// ---------------------------------------------------------------------------
// Diagnostics. When a type cannot be stored, check_codable instantiates one
// of these; the compiler's error starts with its name and arguments: the
// type, the entity it was met in, and the path of members from the entity
// to it. Their names are the message, so they live in namespace stowage.
// ---------------------------------------------------------------------------
template <class Type, class Entity, auto... FieldPath>
struct stowage_type_is_not_described {
    static_assert(detail::codec_dependent_false<Type>,
                  "stowage cannot store this class (the first template argument above; met in the entity "
                  "named second, through the members listed after it). Fix: add STOWAGE_DESCRIBE(Type, "
                  "field, ...) at namespace scope in the type's own namespace, or, for a type you do not own, "
                  "specialize stowage::codec_adapter<Type> (stowage/codec/adapter.hpp). docs/entities.md lists "
                  "the supported types.");
};

template <class Type, class Entity, auto... FieldPath>
struct stowage_type_cannot_be_stored {
    static_assert(detail::codec_dependent_false<Type>,
                  "stowage cannot store this type (the first template argument above; met in the entity named "
                  "second, through the members listed after it): not a supported type (docs/entities.md). An enum "
                  "needs STOWAGE_DESCRIBE_ENUM in its namespace; a chrono duration needs an integral count of "
                  "nanoseconds or a coarser unit; a map key must be a string, an integer or a described enum; "
                  "any other type needs a specialization of stowage::codec_adapter<Type>.");
};

template <class Variant, class Entity, auto... FieldPath>
struct stowage_variant_needs_distinct_tags {
    static_assert(detail::codec_dependent_false<Variant>,
                  "stowage stores a std::variant by the name of its alternative, and this variant's alternatives "
                  "do not all have distinct names (scalars are named by type: \"int64\", \"string\"...; described "
                  "types by their STOWAGE_DESCRIBE name). Fix: wrap an alternative in a described struct, or give "
                  "its stowage::codec_adapter a `static constexpr std::string_view tag`.");
};

namespace detail {

// Instantiates a reporter (its static_assert is the error) and says false.
// sizeof, not a member: clang would add an error for every use of a member
// of the failed class.
template <class Reporter>
constexpr bool report_failure() {
    [[maybe_unused]] constexpr auto size = sizeof(Reporter);
    return false;
}

template <class Entity, auto... Path>
struct uncodable_finder {
    template <class T, class... Seen>
    static constexpr bool find() {
        if constexpr (codable_deep<T, Seen...>()) {
            return true;
        } else if constexpr (adapted<T>) {
            return find<adapter_representation_t<T>, Seen...>();
        } else if constexpr (is_std_optional<T>::value || codec_sequence<T>) {
            return find<typename T::value_type, Seen...>();
        } else if constexpr (codec_map<T>) {
            if constexpr (!codec_map_key<typename T::key_type>)
                return report_failure<stowage_type_cannot_be_stored<typename T::key_type, Entity, Path...>>();
            else
                return find<typename T::mapped_type, Seen...>();
        } else if constexpr (is_tuple_like<T>::value) {
            return []<std::size_t... I>(std::index_sequence<I...>) {
                return (find<std::tuple_element_t<I, T>, Seen...>() && ...);
            }(std::make_index_sequence<std::tuple_size_v<T>>{});
        } else if constexpr (is_std_variant<T>::value) {
            constexpr bool alternatives = []<std::size_t... I>(std::index_sequence<I...>) {
                return (codable_deep<std::variant_alternative_t<I, T>, Seen...>() && ...);
            }(std::make_index_sequence<std::variant_size_v<T>>{});
            if constexpr (alternatives)
                return report_failure<stowage_variant_needs_distinct_tags<T, Entity, Path...>>();
            else
                return []<std::size_t... I>(std::index_sequence<I...>) {
                    return (find<std::variant_alternative_t<I, T>, Seen...>() && ...);
                }(std::make_index_sequence<std::variant_size_v<T>>{});
        } else if constexpr (described<T>) {
            return []<std::size_t... I>(std::index_sequence<I...>) {
                return (field_step<T, I, Seen...>() && ...);
            }(std::make_index_sequence<field_count_v<T>>{});
        } else if constexpr (std::is_class_v<T> || std::is_union_v<T>) {
            return report_failure<stowage_type_is_not_described<T, Entity, Path...>>();
        } else {
            return report_failure<stowage_type_cannot_be_stored<T, Entity, Path...>>();
        }
    }

    template <class T, std::size_t I, class... Seen>
    static constexpr bool field_step() {
        using M = field_member_t<T, I>;
        if constexpr (codable_deep<M, T, Seen...>())
            return true;
        else
            return uncodable_finder<Entity, Path..., std::get<I>(fields<T>()).pointer>::template find<M, T, Seen...>();
    }
};

// True when T can be stored; otherwise false, after a compile error that
// names the offending type and where it sits.
template <class T>
constexpr bool check_codable() {
    if constexpr (codable<T>) return true;
    else return uncodable_finder<T>::template find<T>();
}

// The name of a type as error messages print it.
template <class T>
std::string_view codec_type_name() {
    if constexpr (adapted<T>) return codec_type_name<adapter_representation_t<T>>();
    else if constexpr (std::same_as<T, bool>) return "boolean";
    else if constexpr (codec_integer<T>) return std::is_signed_v<T> ? "signed integer" : "unsigned integer";
    else if constexpr (codec_floating<T>) return "number";
    else if constexpr (std::same_as<T, std::string>) return "string";
    else if constexpr (is_byte_string<T>::value) return "base64 string";
    else if constexpr (codec_time<T>) return "RFC 3339 time (string)";
    else if constexpr (codec_duration<T>) return "seconds (number)";
    else if constexpr (described_enum<T>) return "enum name (string)";
    else if constexpr (codec_sequence<T> || is_tuple_like<T>::value) return "array";
    else if constexpr (codec_map<T> || described<T> || std::same_as<T, json_document> || is_std_variant<T>::value)
        return "object";
    else return "value";
}


// --- helpers both codecs share ------------------------------------------------------

template <class T>
adapter_representation_t<T> adapter_to(const T& v) {
    return codec_adapter<T>::to(v);
}

// The adapter's from(); what it throws becomes a codec failure, so the
// message gains the field's path.
template <class T>
T adapter_from(adapter_representation_t<T>&& r) {
    try {
        return codec_adapter<T>::from(std::move(r));
    } catch (const std::exception& e) {
        throw codec_failure{e.what()};
    }
}

template <class E>
std::string_view enum_name_or_fail(E v) {
    for (const auto& e : enum_values_v<E>)
        if (e.value == v) return e.name;
    throw codec_failure{"value " + std::to_string(static_cast<long long>(v)) + " is not a described value of enum " +
                        std::string(enum_type_name_v<E>)};
}

// Whether a default-constructed T holds a value in the optional field f
// (`std::optional<int> n = 5;`): such a field, when empty, must be written
// as empty, since a missing field reads as its default.
template <class T, class F>
bool default_engaged(const F& f) {
    if constexpr (std::is_default_constructible_v<T>) {
        static const T defaults{};
        return (defaults.*(f.pointer)).has_value();
    } else {
        return false;
    }
}

// A map key as text (a JSON member name; an error path): strings as they
// are, integers in decimal, enums by name.
template <class K>
std::string map_key_text(const K& k) {
    if constexpr (std::same_as<K, std::string>) return k;
    else if constexpr (codec_integer<K>) return std::to_string(k);
    else return std::string(enum_name_or_fail(k));
}

// An unordered map's entries in key order (enums by value).
template <class M>
std::vector<const typename M::value_type*> sorted_entries(const M& m) {
    std::vector<const typename M::value_type*> out;
    out.reserve(m.size());
    for (const auto& e : m) out.push_back(&e);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->first < b->first; });
    return out;
}

}  // namespace detail
}  // namespace stowage
