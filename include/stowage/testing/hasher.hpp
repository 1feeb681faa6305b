// testing/hasher.hpp — the Hasher contract (concepts.hpp) as a conformance
// kit a client runs on its own hasher policy.
//
//   struct fnv1a64 { ... };                       // satisfies stowage::hasher
//   auto r = stowage::testing::check_hasher<fnv1a64>();
//   r.require();   // or BOOST_TEST(r.ok(), r.summary()), EXPECT_TRUE(...)...
//
// Properties ("hasher.<name>"):
//   name                 H::name is 1-64 characters of [A-Za-z0-9_.-], not
//                        "tmp", not starting with '.' (it is stored in every
//                        envelope and names the CAS's chunk directory)
//   digest_size          the digest has 1-255 bytes (an envelope stores its
//                        length in one byte)
//   determinism          the same input (at another address) gives the
//                        same digest
//   pieces_equal_whole   updating in pieces (any split, empty pieces too)
//                        gives the digest of the whole
//   reset_after_finish   after finish() the hasher starts over: the next
//                        digest is that of what was updated since
//   different_inputs     a sample of different inputs (lengths 0-4096,
//                        one-bit changes, runs of zeros) all have different
//                        digests
//   known_answers        optional: digests the caller gives (e.g. a
//                        published test vector) come out
//
// Thread safety: a kit uses its hashers from the calling thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "conformance.hpp"

namespace stowage::testing {

// A known answer: the digest of `input`, as lower-case hex.
struct hasher_vector {
    std::string input;
    std::string hex_digest;
};

namespace hasher_kit {

template <class Digest>
std::string hex(const Digest& d) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::byte b : d) {
        out += digits[std::to_integer<unsigned>(b) >> 4];
        out += digits[std::to_integer<unsigned>(b) & 15];
    }
    return out;
}

template <hasher H>
typename H::digest digest_of(bytes_view data) {
    H h;
    h.update(data);
    return h.finish();
}

// The sample inputs: lengths around block sizes, bit flips, zero runs.
inline std::vector<bytes> sample_inputs(std::uint64_t seed) {
    detail::kit_random rng(seed);
    std::vector<bytes> out;
    out.push_back({});
    for (std::size_t n : {1, 2, 3, 7, 8, 15, 16, 31, 32, 55, 56, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 4096}) {
        bytes b(n);
        for (auto& x : b) x = std::byte(rng.below(256));
        out.push_back(b);
    }
    for (std::size_t n : {1, 2, 8, 64, 65, 1024}) out.push_back(bytes(n, std::byte{0}));
    bytes base(100);
    for (auto& x : base) x = std::byte(rng.below(256));
    for (std::size_t bit : {0, 1, 7, 8, 400, 799}) {
        bytes b = base;
        b[bit / 8] ^= std::byte(1u << (bit % 8));
        out.push_back(b);
    }
    out.push_back(base);
    out.push_back(to_bytes("a"));
    out.push_back(to_bytes("b"));
    out.push_back(to_bytes("ab"));
    out.push_back(to_bytes("ba"));
    return out;
}

template <hasher H>
void name(conformance_report& r) {
    constexpr std::string_view p = "hasher.name";
    std::string_view n = H::name;
    bool ok = !n.empty() && n.size() <= 64 && n != "tmp" && n.front() != '.';
    for (char c : n)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                    c == '.');
    r.expect(ok, p, "name \"" + std::string(n.substr(0, 80)) +
                        "\" is not 1-64 characters of [A-Za-z0-9_.-] (not \"tmp\", not starting with '.')");
}

template <hasher H>
void digest_size(conformance_report& r) {
    constexpr std::size_t n = std::tuple_size_v<typename H::digest>;
    r.expect(n >= 1 && n <= 255, "hasher.digest_size", "digest of " + std::to_string(n) + " bytes (1-255 expected)");
}

template <hasher H>
void determinism(conformance_report& r, const std::vector<bytes>& inputs) {
    constexpr std::string_view p = "hasher.determinism";
    for (const auto& in : inputs) {
        auto a = digest_of<H>(in);
        bytes copy(in.begin(), in.end());  // the same bytes at another address
        auto b = digest_of<H>(copy);
        r.expect(a == b, p, "two digests of the same " + std::to_string(in.size()) + " bytes differ");
    }
}

template <hasher H>
void pieces_equal_whole(conformance_report& r, const std::vector<bytes>& inputs, std::uint64_t seed) {
    constexpr std::string_view p = "hasher.pieces_equal_whole";
    detail::kit_random rng(seed);
    for (const auto& in : inputs) {
        const auto whole = digest_of<H>(in);
        bytes_view v(in);
        // Byte by byte, at every single split point (small inputs), and at random splits.
        if (v.size() <= 300) {
            H h;
            for (std::size_t i = 0; i < v.size(); ++i) h.update(v.subspan(i, 1));
            r.expect(h.finish() == whole, p, "byte-by-byte updates of " + std::to_string(v.size()) + " bytes differ");
            for (std::size_t cut = 0; cut <= v.size(); ++cut) {
                H s;
                s.update(v.first(cut));
                s.update(v.subspan(cut));
                if (s.finish() != whole)
                    r.fail(p, "split at " + std::to_string(cut) + " of " + std::to_string(v.size()) + " bytes differs");
            }
        }
        for (int round = 0; round < 8; ++round) {
            H h;
            std::size_t at = 0;
            while (at < v.size()) {
                std::size_t n = std::min<std::size_t>(v.size() - at, rng.below(200));
                h.update(v.subspan(at, n));  // n may be 0: an empty update changes nothing
                at += n;
            }
            h.update(bytes_view{});
            r.expect(h.finish() == whole, p, "random pieces of " + std::to_string(v.size()) + " bytes differ");
        }
    }
}

template <hasher H>
void reset_after_finish(conformance_report& r, const std::vector<bytes>& inputs) {
    constexpr std::string_view p = "hasher.reset_after_finish";
    const auto empty = digest_of<H>({});
    H h;
    r.expect(h.finish() == empty, p, "finish() of a fresh hasher is not the digest of nothing");
    for (const auto& in : inputs) {
        h.update(in);
        r.expect(h.finish() == digest_of<H>(in), p,
                 "after a finish(), the digest of " + std::to_string(in.size()) + " bytes is not a fresh hasher's");
        r.expect(h.finish() == empty, p, "finish() right after finish() is not the digest of nothing");
    }
}

template <hasher H>
void different_inputs(conformance_report& r, const std::vector<bytes>& inputs) {
    constexpr std::string_view p = "hasher.different_inputs";
    std::map<typename H::digest, std::size_t> seen;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto d = digest_of<H>(inputs[i]);
        auto [it, fresh] = seen.emplace(d, i);
        if (!fresh && inputs[it->second] != inputs[i])
            r.fail(p, "inputs of " + std::to_string(inputs[it->second].size()) + " and " +
                          std::to_string(inputs[i].size()) + " bytes have the same digest " + hex(d));
        else
            r.expect(true, p);
    }
}

template <hasher H>
void known_answers(conformance_report& r, const std::vector<hasher_vector>& vectors) {
    for (const auto& v : vectors) {
        auto got = hex(digest_of<H>(as_bytes(v.input)));
        r.expect(got == v.hex_digest, "hasher.known_answers",
                 "digest of \"" + v.input.substr(0, 40) + "\" is " + got + ", expected " + v.hex_digest);
    }
}

}  // namespace hasher_kit

// Every property of H (and the known answers given, if any).
template <hasher H>
conformance_report check_hasher(const std::vector<hasher_vector>& vectors = {}, std::uint64_t seed = 20) {
    conformance_report r("hasher " + std::string(std::string_view(H::name)));
    const auto inputs = hasher_kit::sample_inputs(seed);
    r.property("hasher.name", [&] { hasher_kit::name<H>(r); });
    r.property("hasher.digest_size", [&] { hasher_kit::digest_size<H>(r); });
    r.property("hasher.determinism", [&] { hasher_kit::determinism<H>(r, inputs); });
    r.property("hasher.pieces_equal_whole", [&] { hasher_kit::pieces_equal_whole<H>(r, inputs, seed); });
    r.property("hasher.reset_after_finish", [&] { hasher_kit::reset_after_finish<H>(r, inputs); });
    r.property("hasher.different_inputs", [&] { hasher_kit::different_inputs<H>(r, inputs); });
    if (!vectors.empty()) r.property("hasher.known_answers", [&] { hasher_kit::known_answers<H>(r, vectors); });
    return r;
}

}  // namespace stowage::testing
