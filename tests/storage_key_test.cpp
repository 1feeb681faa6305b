// Tests for storage/key.hpp: which keys are valid, and the error text.
#define BOOST_TEST_MODULE storage_key
#include "storage_conformance.hpp"

using namespace stowage;

BOOST_AUTO_TEST_CASE(valid_keys) {
    for (std::string k : {"a", "a/b", "sessions/ab/42", "x.y", "a-b_c", "é/日本", "a..b", "a/b./c"})
        BOOST_TEST(valid_key(k), k);
}

BOOST_AUTO_TEST_CASE(invalid_keys_are_rejected_with_the_reason) {
    for (const auto& k : stowage::test::escaping_keys()) BOOST_TEST(!valid_key(k));
    try {
        validate_key("a/../b");
        BOOST_ERROR("accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::bad_input));
        BOOST_TEST(std::string(e.what()).find("a/../b") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("'..'") != std::string::npos);
    }
    try {
        validate_key(std::string("a\0b", 3));
        BOOST_ERROR("accepted");
    } catch (const stowage::error& e) {
        BOOST_TEST(std::string(e.what()).find("a\\x00b") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(parent) {
    BOOST_TEST(key_parent("a/b/c") == "a/b");
    BOOST_TEST(key_parent("c") == "");
}
