// storage_conformance.hpp — the Storage conformance kit
// (stowage/testing/storage.hpp) as Boost.Test cases, instantiated by every
// storage policy's test file:
//
//   STOWAGE_STORAGE_CONFORMANCE(suite_name, factory)
//
// where `factory` is a default-constructible type whose `make()` returns a
// fresh, empty storage (and keeps whatever it needs alive, e.g. a scratch
// directory). Crash cases run only where the policy simulates crashes.
#pragma once

#include <optional>
#include <string>

#include "stowage/concepts.hpp"
#include "stowage/error.hpp"
#include "stowage/storage/key.hpp"
#include "stowage/testing/storage.hpp"
#include "test_support.hpp"

namespace stowage::test {

inline bytes text(std::string_view s) { return to_bytes(s); }

template <class S>
void expect_value(const S& s, std::string_view key, std::optional<std::string> want) {
    auto got = s.read(key);
    if (!want) {
        BOOST_TEST(!got.has_value(), key << " should be absent");
    } else {
        BOOST_TEST_REQUIRE(got.has_value(), key << " should be present");
        BOOST_TEST(to_string(*got) == *want);
    }
}

using stowage::testing::storage_kit::escaping_keys;

// One property of the kit on s, as Boost.Test assertions.
template <class F>
void expect_conformance(std::string_view subject, F&& property) {
    stowage::testing::conformance_report r{std::string(subject)};
    property(r);
    BOOST_TEST(r.ok(), r.summary());
}

template <class S>
void conformance_key_validation(S s) {
    expect_conformance(S::name, [&](auto& r) { stowage::testing::storage_kit::key_validation(r, s); });
}

}  // namespace stowage::test

#define STOWAGE_STORAGE_CONFORMANCE_CASE(property, ...)                                              \
    BOOST_AUTO_TEST_CASE(property) {                                                                     \
        factory_type f;                                                                              \
        auto s = f.make();                                                                           \
        ::stowage::test::expect_conformance(decltype(s)::name, [&](auto& r) {                       \
            ::stowage::testing::storage_kit::property(r, __VA_ARGS__);                              \
        });                                                                                          \
    }

#define STOWAGE_STORAGE_CONFORMANCE(suite, factory)                                                  \
    BOOST_AUTO_TEST_SUITE(suite)                                                                     \
    using factory_type = factory;                                                                    \
    STOWAGE_STORAGE_CONFORMANCE_CASE(replace_read_remove, s)                                         \
    STOWAGE_STORAGE_CONFORMANCE_CASE(batch_and_list, s)                                              \
    STOWAGE_STORAGE_CONFORMANCE_CASE(logs, s)                                                        \
    STOWAGE_STORAGE_CONFORMANCE_CASE(key_validation, s)                                              \
    STOWAGE_STORAGE_CONFORMANCE_CASE(rename, s)                                                      \
    STOWAGE_STORAGE_CONFORMANCE_CASE(random_model, s, ::stowage::test::test_seed())                 \
    STOWAGE_STORAGE_CONFORMANCE_CASE(crash_contract, s, ::stowage::test::test_seed())               \
    BOOST_AUTO_TEST_SUITE_END()
