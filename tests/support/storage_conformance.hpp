// storage_conformance.hpp — the Storage contract as tests, written once and
// instantiated by every storage policy's test file:
//
//   STOWAGE_STORAGE_CONFORMANCE(suite_name, factory)
//
// where `factory` is a default-constructible type whose `make()` returns a
// fresh, empty storage (and keeps whatever it needs alive, e.g. a scratch
// directory). Crash cases run only where the policy simulates crashes.
#pragma once

#include <map>
#include <random>

#include "stowage/concepts.hpp"
#include "stowage/error.hpp"
#include "stowage/storage/key.hpp"
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

template <class S>
void conformance_replace_read_remove(S s) {
    BOOST_TEST(!s.read("a").has_value());
    BOOST_TEST(!s.contains("a"));
    BOOST_TEST(!s.size("a").has_value());
    for (auto d : {durability::full, durability::batched, durability::none}) {
        s.replace("a", as_bytes("one"), d);
        expect_value(s, "a", "one");
        s.replace("a", as_bytes("second value"), d);
        expect_value(s, "a", "second value");
        BOOST_TEST(*s.size("a") == 12u);
        BOOST_TEST(s.contains("a"));
        BOOST_TEST(to_string(s.read_range("a", 7, 100)) == "value");
        BOOST_TEST(to_string(s.read_range("a", 0, 6)) == "second");
        BOOST_TEST(s.read_range("a", 12, 5).empty());
        BOOST_TEST(s.read_range("a", 99, 5).empty());
        BOOST_TEST(s.remove("a", d));
        BOOST_TEST(!s.remove("a", d));
        expect_value(s, "a", std::nullopt);
    }
    // Empty and binary values, deep keys.
    bytes binary(70000);
    for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = std::byte(i * 131 % 256);
    s.replace("deep/er/key/x", binary, durability::full);
    BOOST_TEST((*s.read("deep/er/key/x") == binary));
    s.replace("empty", {}, durability::full);
    BOOST_TEST(s.read("empty").has_value());
    BOOST_TEST(s.read("empty")->empty());
    BOOST_CHECK_THROW(s.read_range("missing", 0, 1), stowage::error);
    s.flush();
}

template <class S>
void conformance_batch_and_list(S s) {
    std::vector<std::string> keys = {"s/ab/1", "s/ab/2", "s/cd/3", "t/1", "s/ab/10", "sx"};
    std::vector<std::string> values;
    std::vector<blob_write> batch;
    values.reserve(keys.size());
    for (auto& k : keys) values.push_back("value of " + k);
    for (std::size_t i = 0; i < keys.size(); ++i) batch.push_back({keys[i], as_bytes(values[i])});
    s.replace_batch(batch, durability::full);
    for (std::size_t i = 0; i < keys.size(); ++i) expect_value(s, keys[i], values[i]);

    using v = std::vector<std::string>;
    BOOST_TEST((s.list("") == v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3", "sx", "t/1"}));
    BOOST_TEST((s.list("s/") == v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3"}));
    BOOST_TEST((s.list("s") == v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3", "sx"}));
    BOOST_TEST((s.list("s/ab/1") == v{"s/ab/1", "s/ab/10"}));
    BOOST_TEST((s.list("s/a") == v{"s/ab/1", "s/ab/10", "s/ab/2"}));
    BOOST_TEST(s.list("zzz").empty());
    BOOST_TEST(s.list("s/zz/").empty());
    s.remove("s/ab/2", durability::batched);
    BOOST_TEST((s.list("s/ab/") == v{"s/ab/1", "s/ab/10"}));
    s.flush();
}

template <class S>
void conformance_logs(S s) {
    BOOST_TEST(s.append("wal/1.log", as_bytes("hello ")) == 0u);
    BOOST_TEST(s.append("wal/1.log", as_bytes("world")) == 6u);
    s.sync("wal/1.log");
    expect_value(s, "wal/1.log", "hello world");
    BOOST_TEST(to_string(s.read_range("wal/1.log", 6, 5)) == "world");
    s.truncate("wal/1.log", 5);
    expect_value(s, "wal/1.log", "hello");
    BOOST_TEST(s.append("wal/1.log", as_bytes("!")) == 5u);
    s.sync("wal/1.log");
    expect_value(s, "wal/1.log", "hello!");
    // A log can be replaced whole and appended to again.
    s.replace("wal/1.log", as_bytes("new"), durability::full);
    BOOST_TEST(s.append("wal/1.log", as_bytes("er")) == 3u);
    s.sync("wal/1.log");
    expect_value(s, "wal/1.log", "newer");
    BOOST_TEST(s.remove("wal/1.log", durability::full));
    BOOST_TEST(s.append("wal/1.log", as_bytes("x")) == 0u);
    s.flush();
    expect_value(s, "wal/1.log", "x");
    BOOST_CHECK_THROW(s.sync("wal/absent.log"), stowage::error);
    BOOST_CHECK_THROW(s.truncate("wal/absent.log", 0), stowage::error);
}

inline const std::vector<std::string>& escaping_keys() {
    static const std::vector<std::string> keys = {
        "", "/etc/passwd", "../x", "a/../../x", "..", ".", "a/./b", "a//b", "a/", "/",
        std::string("a\0b", 3), "a\nb", "a\x7f", "a\\..\\b", ".hidden", "a/.lock", std::string(1100, 'k'),
        "x/" + std::string(201, 'c'),
    };
    return keys;
}

template <class S>
void conformance_key_validation(S s) {
    for (const auto& key : escaping_keys()) {
        BOOST_TEST_CONTEXT("key " << key.size() << " bytes") {
            auto expect_bad = [&](auto&& f) {
                try {
                    f();
                    BOOST_ERROR("accepted invalid key");
                } catch (const stowage::error& e) {
                    BOOST_TEST((e.kind() == errc::bad_input));
                }
            };
            expect_bad([&] { s.replace(key, as_bytes("x"), durability::full); });
            expect_bad([&] { s.append(key, as_bytes("x")); });
            expect_bad([&] { (void)s.read(key); });
            expect_bad([&] { s.remove(key, durability::full); });
        }
    }
    BOOST_TEST(s.list("").empty());
}

// rename(), where the storage has it.
template <class S>
void conformance_rename(S s) {
    if constexpr (renames_keys<S>) {
        s.append("tmp/stream", as_bytes("streamed "));
        s.append("tmp/stream", as_bytes("content"));
        s.sync("tmp/stream");
        s.replace("final/place", as_bytes("old"), durability::full);
        s.rename("tmp/stream", "final/place", durability::full);
        expect_value(s, "final/place", "streamed content");
        expect_value(s, "tmp/stream", std::nullopt);
        s.rename("final/place", "other/deep/name", durability::batched);
        expect_value(s, "other/deep/name", "streamed content");
        BOOST_CHECK_THROW(s.rename("absent", "x", durability::full), stowage::error);
        BOOST_CHECK_THROW(s.rename("other/deep/name", "../x", durability::full), stowage::error);
        s.flush();
    } else {
        BOOST_TEST_MESSAGE("storage does not rename keys");
    }
}

// Random operations mirrored in a std::map; every read agrees.
template <class S>
void conformance_model(S s, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::map<std::string, std::string> model;
    auto key = [&] { return "k/" + std::to_string(rng() % 4) + "/" + std::to_string(rng() % 12); };
    for (int step = 0; step < 600; ++step) {
        std::string k = key();
        auto d = static_cast<durability>(rng() % 3);
        switch (rng() % 5) {
            case 0:
            case 1: {
                std::string v(rng() % 300, char('a' + rng() % 26));
                s.replace(k, as_bytes(v), d);
                model[k] = v;
                break;
            }
            case 2: BOOST_TEST(s.remove(k, d) == (model.erase(k) == 1)); break;
            case 3: {
                std::string v = std::to_string(step) + ";";
                auto off = s.append(k, as_bytes(v));
                BOOST_TEST(off == model[k].size());
                model[k] += v;
                if (rng() % 2) s.sync(k);
                break;
            }
            default: {
                auto got = s.read(k);
                auto it = model.find(k);
                BOOST_TEST(got.has_value() == (it != model.end()));
                if (got && it != model.end()) BOOST_TEST(to_string(*got) == it->second);
            }
        }
    }
    std::vector<std::string> keys;
    for (auto& [k, v] : model) keys.push_back(k);
    BOOST_TEST(s.list("") == keys);
    s.flush();
}

// Crash contract: what was made durable survives; replaced values are whole
// (old or new); appended logs keep at least their synced prefix.
template <class S>
void conformance_crash(S s, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 200; ++round) {
        std::map<std::string, std::string> durable;                   // must survive exactly
        std::map<std::string, std::vector<std::string>> possible;     // any of these
        std::map<std::string, std::string> synced_log;                // synced prefix
        s.flush();
        for (auto& k : s.list("")) s.remove(k, durability::full);
        s.replace("full", as_bytes("v0"), durability::full);
        durable["full"] = "v0";
        s.replace("maybe", as_bytes("old"), durability::full);
        auto maybe_d = static_cast<durability>(rng() % 2);
        std::string maybe_new = "new-" + std::to_string(round);
        s.replace("maybe", as_bytes(maybe_new), maybe_d);
        possible["maybe"] = {"old", maybe_new};
        // Unsynced contents (durability::none) may also come back empty or
        // cut short under the new name, as on a real filesystem.
        if (maybe_d == durability::none)
            for (std::size_t i = 0; i < maybe_new.size(); ++i) possible["maybe"].push_back(maybe_new.substr(0, i));
        s.append("log", as_bytes("synced;"));
        s.sync("log");
        s.append("log", as_bytes("unsynced tail"));
        synced_log["log"] = "synced;";
        s.crash();
        expect_value(s, "full", durable["full"]);
        auto m = s.read("maybe");
        BOOST_TEST_REQUIRE(m.has_value());
        auto& opts = possible["maybe"];
        BOOST_TEST((std::find(opts.begin(), opts.end(), to_string(*m)) != opts.end()), "maybe = " << to_string(*m));
        auto l = s.read("log");
        BOOST_TEST_REQUIRE(l.has_value());
        std::string lv = to_string(*l);
        BOOST_TEST(lv.starts_with("synced;"));
        BOOST_TEST(std::string("synced;unsynced tail").starts_with(lv));
    }
}

}  // namespace stowage::test

#define STOWAGE_STORAGE_CONFORMANCE(suite, factory)                                                  \
    BOOST_AUTO_TEST_SUITE(suite)                                                                     \
    BOOST_AUTO_TEST_CASE(replace_read_remove) {                                                      \
        factory f;                                                                                   \
        ::stowage::test::conformance_replace_read_remove(f.make());                                 \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(batch_and_list) {                                                           \
        factory f;                                                                                   \
        ::stowage::test::conformance_batch_and_list(f.make());                                      \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(logs) {                                                                     \
        factory f;                                                                                   \
        ::stowage::test::conformance_logs(f.make());                                                \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(key_validation) {                                                           \
        factory f;                                                                                   \
        ::stowage::test::conformance_key_validation(f.make());                                      \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(rename) {                                                                   \
        factory f;                                                                                   \
        ::stowage::test::conformance_rename(f.make());                                              \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(random_model) {                                                             \
        factory f;                                                                                   \
        ::stowage::test::conformance_model(f.make(), ::stowage::test::test_seed());                 \
    }                                                                                                \
    BOOST_AUTO_TEST_CASE(crash_contract) {                                                           \
        factory f;                                                                                   \
        auto s = f.make();                                                                           \
        if constexpr (::stowage::simulates_crashes<decltype(s)>)                                    \
            ::stowage::test::conformance_crash(s, ::stowage::test::test_seed());                    \
        else                                                                                         \
            BOOST_TEST_MESSAGE("no crash simulation for this storage");                             \
    }                                                                                                \
    BOOST_AUTO_TEST_SUITE_END()
