// codec/detail/codec_traits.hpp — which C++ types the provided codecs encode,
// sorted into the kinds both json_codec and binary_codec switch on.
//
// Supported: bool; integers of every width up to 64 bits (not the character
// types); float and double; std::string; described enums (by name);
// std::optional<T>; std::vector<T>; std::map<std::string, T>; json_value;
// json_document; described structs, nested to any depth.
//
// Thread safety: compile-time only.
#pragma once

#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "../../describe.hpp"
#include "../json_document.hpp"

namespace stowage::detail {

template <class T>
struct is_std_optional : std::false_type {};
template <class T>
struct is_std_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_std_string_map : std::false_type {};
template <class V, class C, class A>
struct is_std_string_map<std::map<std::string, V, C, A>> : std::true_type {};

template <class T>
concept codec_char_type = std::same_as<T, char> || std::same_as<T, wchar_t> || std::same_as<T, char8_t> ||
                    std::same_as<T, char16_t> || std::same_as<T, char32_t>;

template <class T>
concept codec_integer = std::integral<T> && !std::same_as<T, bool> && !codec_char_type<T> && sizeof(T) <= 8;

template <class T>
concept codec_floating = std::same_as<T, float> || std::same_as<T, double>;

// The kinds of value a codec knows. Described structs are checked one level
// deep (their members are checked when they are encoded), so a struct may
// hold a vector of itself.
template <class T>
consteval bool is_codable() {
    if constexpr (std::same_as<T, bool> || codec_integer<T> || codec_floating<T> || std::same_as<T, std::string> ||
                  described_enum<T> || std::same_as<T, json_value> || std::same_as<T, json_document> ||
                  described<T>)
        return true;
    else if constexpr (is_std_optional<T>::value)  // optional<optional<T>> has no JSON form (null is ambiguous)
        return !is_std_optional<typename T::value_type>::value && is_codable<typename T::value_type>();
    else if constexpr (is_std_vector<T>::value)
        return is_codable<typename T::value_type>();
    else if constexpr (is_std_string_map<T>::value)
        return is_codable<typename T::mapped_type>();
    else
        return false;
}

template <class T>
concept codable = is_codable<T>();

template <class T>
inline constexpr bool codec_dependent_false = false;

// The name of a type as error messages print it.
template <class T>
std::string_view codec_type_name() {
    if constexpr (std::same_as<T, bool>) return "boolean";
    else if constexpr (codec_integer<T>) return std::is_signed_v<T> ? "signed integer" : "unsigned integer";
    else if constexpr (codec_floating<T>) return "number";
    else if constexpr (std::same_as<T, std::string>) return "string";
    else if constexpr (described_enum<T>) return "enum name (string)";
    else if constexpr (is_std_vector<T>::value) return "array";
    else if constexpr (is_std_string_map<T>::value || described<T> || std::same_as<T, json_document>) return "object";
    else return "value";
}

}  // namespace stowage::detail
