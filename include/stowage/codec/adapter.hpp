// codec/adapter.hpp — codec_adapter<T>: teach both codecs a type of your own
// (or one you do not own) without touching the library, as nlohmann/json's
// adl_serializer does.
//
// Specialize it in namespace stowage, next to the type:
//
//     template <>
//     struct stowage::codec_adapter<app::rgb> {
//         using representation = std::string;          // any type the codecs store
//         static std::string to(const app::rgb& c);   // encoding
//         static app::rgb from(std::string&& text);   // decoding; throw
//                                                      // stowage::error(errc::bad_input, "why")
//                                                      // for a value that is not an rgb
//         static constexpr std::string_view tag = "rgb";  // optional: its name as a
//                                                      // std::variant alternative
//     };
//
// The type is then stored exactly as its representation would be (a JSON
// string here; a length-prefixed string in binary), wherever it appears: a
// field, a vector element, an optional, a map value, a variant alternative.
// An error thrown by from() is reported with the field's path
// ("json decode: session.color: not an #rrggbb colour"); a decoded value is
// only kept when the whole record decoded. A specialization takes precedence
// over everything else, including STOWAGE_DESCRIBE.
//
// The library adapts std::filesystem::path this way (its generic string
// form, "dir/file.txt").
//
// Thread safety: to() and from() may be called from any thread at once.
#pragma once

#include <concepts>
#include <filesystem>
#include <string>
#include <utility>

namespace stowage {

// Primary template: not defined. A specialization makes T storable.
template <class T>
struct codec_adapter;

template <>
struct codec_adapter<std::filesystem::path> {
    using representation = std::string;
    static std::string to(const std::filesystem::path& p) { return p.generic_string(); }
    static std::filesystem::path from(std::string&& s) { return std::filesystem::path(std::move(s)); }
    static constexpr std::string_view tag = "path";
};

namespace detail {

template <class T>
concept has_codec_adapter = requires { typename codec_adapter<T>::representation; };

// A complete specialization: representation, to() and from().
template <class T>
concept adapted = has_codec_adapter<T> &&
    requires(const T& v, typename codec_adapter<T>::representation&& r) {
        { codec_adapter<T>::to(v) } -> std::convertible_to<typename codec_adapter<T>::representation>;
        { codec_adapter<T>::from(std::move(r)) } -> std::convertible_to<T>;
    };

template <class T>
using adapter_representation_t = typename codec_adapter<T>::representation;

}  // namespace detail
}  // namespace stowage
