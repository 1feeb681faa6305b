// Tests for index/postings.hpp: round trips of random lists (empty, one
// block, block boundaries, dense runs, 31-bit gaps) with and without
// payloads, advance() against lower_bound from every kind of position, and
// damaged lists (truncated, flipped bytes) failing cleanly.
#define BOOST_TEST_MODULE index_postings
#include "test_support.hpp"

#include <random>

#include "stowage/index/postings.hpp"

using namespace stowage;
using namespace stowage::fts;

namespace {

struct list {
    std::vector<doc_id> docs;
    std::vector<std::vector<field_count>> occ;
};

list random_list(std::mt19937_64& rng, std::size_t n, unsigned fields) {
    list l;
    std::uint64_t d = rng() % 5;
    for (std::size_t i = 0; i < n && d < no_doc - 1; ++i) {
        l.docs.push_back(static_cast<doc_id>(d));
        std::vector<field_count> o;
        for (unsigned f = 0; f < fields; ++f)
            if (rng() % 2 || (f + 1 == fields && o.empty())) o.push_back({static_cast<std::uint16_t>(f), 1 + static_cast<std::uint32_t>(rng() % 3 ? 0 : rng() % 1000)});
        l.occ.push_back(o);
        switch (rng() % 4) {
            case 0: d += 1; break;                          // dense run
            case 1: d += 1 + rng() % 10; break;
            case 2: d += 1 + rng() % 100000; break;
            default: d += 1 + (rng() % 16 == 0 ? rng() % (1u << 31) : rng() % 1000); break;
        }
    }
    return l;
}

bytes encode(const list& l, bool payloads, unsigned fields) {
    postings_encoder enc(payloads, fields);
    for (std::size_t i = 0; i < l.docs.size(); ++i) enc.add(l.docs[i], payloads ? std::span<const field_count>(l.occ[i]) : std::span<const field_count>{});
    return enc.encode_padded();
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_and_advance) {
    std::mt19937_64 rng(stowage::test::test_seed());
    for (std::size_t n : {0, 1, 2, 127, 128, 129, 255, 256, 257, 1000, 5000, 70000}) {
        for (bool payloads : {false, true}) {
            unsigned fields = 1 + static_cast<unsigned>(rng() % 4);
            auto l = random_list(rng, n, fields);
            auto data = encode(l, payloads, fields);
            bytes_view exact = bytes_view(data).first(data.size() - read_padding);
            BOOST_TEST(decode_all(exact, payloads, fields) == l.docs);
            postings_cursor c(exact, payloads, fields);
            BOOST_TEST(c.size() == l.docs.size());
            if (payloads) {
                for (std::size_t i = 0; i < l.docs.size(); ++i, c.next()) {
                    std::vector<field_count> got;
                    c.for_each_field([&](unsigned f, std::uint32_t k) { got.push_back({static_cast<std::uint16_t>(f), k}); });
                    BOOST_TEST_REQUIRE((got == l.occ[i]), "n=" << n << " i=" << i);
                }
                BOOST_TEST(c.doc() == no_doc);
            }
            // advance() from random positions to random targets = lower_bound.
            for (int round = 0; round < 20; ++round) {
                postings_cursor a(exact, payloads, fields);
                doc_id t = 0;
                std::size_t at = 0;  // where the cursor must be: it never moves back
                while (true) {
                    std::uint64_t step = rng() % 3 == 0 ? rng() % 1000000 : rng() % 300;
                    t = static_cast<doc_id>(std::min<std::uint64_t>(std::uint64_t(t) + step, no_doc - 1));
                    a.advance(t);
                    at = std::max(at, static_cast<std::size_t>(std::lower_bound(l.docs.begin(), l.docs.end(), t) - l.docs.begin()));
                    doc_id want = at == l.docs.size() ? no_doc : l.docs[at];
                    BOOST_TEST_REQUIRE(a.doc() == want, "n=" << n << " target " << t);
                    if (want == no_doc) break;
                    if (payloads) {
                        std::vector<field_count> got;
                        a.for_each_field([&](unsigned f, std::uint32_t k) { got.push_back({static_cast<std::uint16_t>(f), k}); });
                        BOOST_TEST_REQUIRE((got == l.occ[at]));
                    }
                    if (rng() % 3 == 0) {
                        a.next();
                        ++at;
                        BOOST_TEST_REQUIRE(a.doc() == (at == l.docs.size() ? no_doc : l.docs[at]));
                    }
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(compression) {
    // A dense list (every document) costs 0 bits per gap; a sparse one a few
    // bits, far less than 4 bytes per document.
    postings_encoder dense;
    for (doc_id d = 0; d < 100000; ++d) dense.add(d);
    BOOST_TEST(dense.encode_padded().size() < 100000 / 128 * 10 + 64);
    postings_encoder sparse;
    for (doc_id d = 0; d < 100000; ++d) sparse.add(d * 7);
    BOOST_TEST(sparse.encode_padded().size() < 100000 * 3 / 8 + 100000 / 128 * 10 + 64);
}

BOOST_AUTO_TEST_CASE(bad_input_to_the_encoder) {
    postings_encoder enc;
    enc.add(5);
    BOOST_CHECK_THROW(enc.add(5), stowage::error);
    BOOST_CHECK_THROW(enc.add(4), stowage::error);
    BOOST_CHECK_THROW(enc.add(no_doc), stowage::error);
    postings_encoder with(true, 2);
    BOOST_CHECK_THROW(with.add(1), stowage::error);  // no occurrences
    field_count bad{2, 1};
    BOOST_CHECK_THROW(with.add(1, std::span<const field_count>(&bad, 1)), stowage::error);
}

// Damaged bytes: every truncation and many byte flips either decode to
// something or throw errc::corrupt — never crash or read out of bounds
// (ASan run).
BOOST_AUTO_TEST_CASE(damaged_lists_fail_cleanly) {
    std::mt19937_64 rng(stowage::test::test_seed() + 1);
    auto l = random_list(rng, 700, 2);
    auto data = encode(l, true, 2);
    std::size_t exact = data.size() - read_padding;
    auto walk = [&](const bytes& buf, std::size_t n) {
        bytes padded(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        padded.resize(n + read_padding);
        try {
            postings_cursor c(bytes_view(padded).first(n), true, 2);
            for (int i = 0; c.doc() != no_doc && i < 2000; ++i) {
                c.for_each_field([](unsigned, std::uint32_t) {});
                c.next();
            }
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::corrupt));
        }
    };
    for (std::size_t n = 0; n < exact; ++n) walk(data, n);
    for (int i = 0; i < 3000; ++i) {
        bytes copy = data;
        copy[rng() % exact] ^= static_cast<std::byte>(1 + rng() % 255);
        walk(copy, exact);
    }
}
