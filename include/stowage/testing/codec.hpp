// testing/codec.hpp — the Codec contract (concepts.hpp) as a conformance
// kit a client runs on its own codec, with sample values of its own types.
//
//   std::vector<session> samples = {session{...}, session{...}};
//   auto r = stowage::testing::check_codec(my_codec{}, samples);
//   r.require();   // or BOOST_TEST(r.ok(), r.summary()), EXPECT_TRUE(...)...
//
// Values are compared with `==` when T has it; otherwise pass an equality
// (check_codec(c, samples, [](const T& a, const T& b) { ... })). Give at
// least two different samples: the kit decodes bad input into a value that
// holds another sample, to see that value kept.
//
// Properties ("codec.<name>"):
//   name              Codec::name is not empty (it is stored in envelopes)
//   round_trip        decode(encode(v)) == v for every sample
//   encode_appends    encode appends to what the buffer holds, leaving
//                     those bytes as they are; the appended bytes decode to v
//   truncated_input   every proper prefix of an encoding is refused with
//                     stowage::error, and the target keeps its old value.
//                     Formats whose records are a sequence of fields, any
//                     of which may be missing, with no end marker
//                     (protobuf), read a prefix that ends between two
//                     fields as a record without the rest: pass
//                     {.prefixes_may_decode = true};
//                     the prefixes they refuse must still keep the target
//   garbage_input     random bytes and encodings with flipped bits either
//                     decode to a value or are refused with stowage::error
//                     leaving the target as it was — never another
//                     exception, never a partly filled value
//
// A codec whose encodings have valid prefixes (a JSON number: "12" is a
// prefix of "123") fails truncated_input for such samples: use samples of
// the record types the codec will store (objects, structs).
//
// Thread safety: a kit uses its codec from the calling thread only.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "conformance.hpp"

namespace stowage::testing {

// What a codec's format allows (see truncated_input above), and the seed of
// the random input.
struct codec_kit_options {
    bool prefixes_may_decode = false;
    std::uint64_t seed = 20;
};

namespace codec_kit {

// == where T has it.
struct equal_values {
    template <std::equality_comparable T>
    bool operator()(const T& a, const T& b) const {
        return a == b;
    }
};

// The proper prefix lengths to try: all of them for short encodings, a
// spread (the first and last 64, and 128 between) for long ones.
inline std::vector<std::size_t> prefix_lengths(std::size_t n) {
    std::vector<std::size_t> out;
    if (n <= 320) {
        for (std::size_t i = 0; i < n; ++i) out.push_back(i);
        return out;
    }
    for (std::size_t i = 0; i < 64; ++i) out.push_back(i);
    for (std::size_t k = 1; k <= 128; ++k) out.push_back(64 + (n - 128) * k / 129);
    for (std::size_t i = n - 64; i < n; ++i) out.push_back(i);
    return out;
}

template <class Codec, class T>
bytes encoded(const Codec& c, const T& v) {
    bytes out;
    c.encode(v, out);
    return out;
}

template <class Codec>
void name(conformance_report& r) {
    r.expect(!std::string_view(Codec::name).empty(), "codec.name", "Codec::name is empty");
}

template <class Codec, class T, class Eq>
void round_trip(conformance_report& r, const Codec& c, const std::vector<T>& samples, Eq eq) {
    constexpr std::string_view p = "codec.round_trip";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        bytes e = encoded(c, samples[i]);
        T back = samples[(i + 1) % samples.size()];
        c.decode(e, back);
        r.expect(eq(back, samples[i]), p, "sample " + std::to_string(i) + " decodes to a different value");
    }
}

template <class Codec, class T, class Eq>
void encode_appends(conformance_report& r, const Codec& c, const std::vector<T>& samples, Eq eq) {
    constexpr std::string_view p = "codec.encode_appends";
    const bytes before = to_bytes("bytes already in the buffer\n");
    for (std::size_t i = 0; i < samples.size(); ++i) {
        bytes buf = before;
        c.encode(samples[i], buf);
        if (!r.expect(buf.size() >= before.size() && std::equal(before.begin(), before.end(), buf.begin()), p,
                      "encode of sample " + std::to_string(i) + " changed the bytes already in the buffer"))
            continue;
        T back = samples[(i + 1) % samples.size()];
        c.decode(bytes_view(buf).subspan(before.size()), back);
        r.expect(eq(back, samples[i]), p,
                 "the bytes encode appended for sample " + std::to_string(i) + " decode to a different value");
    }
}

// Decodes `in` into a value holding `old`: refused with stowage::error and
// `old` kept (true: refused), or a value (false). Anything else fails p.
template <class Codec, class T, class Eq>
bool decode_refused(conformance_report& r, std::string_view p, const Codec& c, bytes_view in, const T& old, Eq eq,
                    const std::string& what) {
    T target = old;
    try {
        c.decode(in, target);
    } catch (const error&) {
        r.expect(eq(target, old), p, what + ": refused, but the target no longer holds its old value");
        return true;
    } catch (const std::exception& e) {
        r.fail(p, what + ": threw " + std::string(e.what()) + ", not a stowage::error");
        return true;
    } catch (...) {
        r.fail(p, what + ": threw an exception of an unknown type, not a stowage::error");
        return true;
    }
    return false;
}

template <class Codec, class T, class Eq>
void truncated_input(conformance_report& r, const Codec& c, const std::vector<T>& samples, Eq eq,
                     const codec_kit_options& o) {
    constexpr std::string_view p = "codec.truncated_input";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const bytes e = encoded(c, samples[i]);
        const T& old = samples[(i + 1) % samples.size()];
        for (std::size_t n : prefix_lengths(e.size())) {
            const std::string what = "the first " + std::to_string(n) + " of the " + std::to_string(e.size()) +
                                     " bytes of sample " + std::to_string(i);
            bool refused = decode_refused(r, p, c, bytes_view(e).first(n), old, eq, what);
            r.expect(refused || o.prefixes_may_decode, p, what + " decoded without an error");
        }
    }
}

template <class Codec, class T, class Eq>
void garbage_input(conformance_report& r, const Codec& c, const std::vector<T>& samples, Eq eq, std::uint64_t seed) {
    constexpr std::string_view p = "codec.garbage_input";
    detail::kit_random rng(seed);
    for (int round = 0; round < 200; ++round) {
        bytes junk(rng.below(round < 100 ? 16 : 400));
        for (auto& b : junk) b = std::byte(rng.below(256));
        const T& old = samples[rng.below(samples.size())];
        (void)decode_refused(r, p, c, junk, old, eq, std::to_string(junk.size()) + " random bytes");
        r.expect(true, p);
    }
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const bytes e = encoded(c, samples[i]);
        if (e.empty()) continue;
        const T& old = samples[(i + 1) % samples.size()];
        for (int flip = 0; flip < 64; ++flip) {
            bytes bad = e;
            std::size_t at = rng.below(bad.size());
            bad[at] ^= std::byte(1u << rng.below(8));
            (void)decode_refused(r, p, c, bad, old, eq,
                                 "sample " + std::to_string(i) + " with a bit flipped at byte " + std::to_string(at));
            r.expect(true, p);
        }
    }
}

}  // namespace codec_kit

// Every property of Codec over the samples, compared with eq.
template <class Codec, class T, class Eq>
    requires codec_for<Codec, T> && std::copy_constructible<T> && std::predicate<Eq&, const T&, const T&>
conformance_report check_codec(const Codec& c, const std::vector<T>& samples, Eq eq, codec_kit_options o = {}) {
    conformance_report r("codec " + std::string(std::string_view(Codec::name)));
    if (!r.expect(!samples.empty(), "codec.samples", "no sample values given")) return r;
    r.property("codec.name", [&] { codec_kit::name<Codec>(r); });
    r.property("codec.round_trip", [&] { codec_kit::round_trip(r, c, samples, eq); });
    r.property("codec.encode_appends", [&] { codec_kit::encode_appends(r, c, samples, eq); });
    r.property("codec.truncated_input", [&] { codec_kit::truncated_input(r, c, samples, eq, o); });
    r.property("codec.garbage_input", [&] { codec_kit::garbage_input(r, c, samples, eq, o.seed); });
    return r;
}

// The same, comparing values with ==.
template <class Codec, std::equality_comparable T>
    requires codec_for<Codec, T> && std::copy_constructible<T>
conformance_report check_codec(const Codec& c, const std::vector<T>& samples, codec_kit_options o = {}) {
    return check_codec(c, samples, codec_kit::equal_values{}, o);
}

}  // namespace stowage::testing
