// single_header_test.cpp — a program whose include path is ONLY
// single_include/: the amalgamated header must stand alone and behave like
// the multi-header library (checked here through the hashers and errors).
#define BOOST_TEST_MODULE single_header
#include <boost/test/unit_test.hpp>

#include <stowage/stowage.hpp>

// Proof that include/ is not on the path: the per-component headers must be
// out of reach, or this test would not be testing the single header.
#if __has_include(<stowage/hash/sha256.hpp>) || __has_include(<stowage/concepts.hpp>)
#error "include/ is on the include path of single_header_test"
#endif

using namespace stowage;

BOOST_AUTO_TEST_CASE(hashers_from_the_single_header) {
    static_assert(hasher<sha256> && hasher<blake2b> && hasher<crc32c>);
    BOOST_TEST(to_hex(hash_of<sha256>("abc")) ==
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(to_hex(hash_of<blake2b>("abc")) ==
               "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    BOOST_TEST(to_hex(hash_of<crc32c>("123456789")) == "e3069283");

    sha256 h;
    h.update(as_bytes("a"));
    h.update(as_bytes("bc"));
    BOOST_TEST((h.finish() == digest_from_hex<sha256>(
                                  "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")));
}

BOOST_AUTO_TEST_CASE(errors_from_the_single_header) {
    try {
        (void)digest_from_hex<sha256>("not hex");
        BOOST_ERROR("bad hex accepted");
    } catch (const error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST((e.code() == errc::bad_input));
    }
}
