// testing/storage.hpp — the Storage contract (concepts.hpp) as a
// conformance kit a client runs on its own storage policy.
//
//   auto r = stowage::testing::check_storage([] { return my_storage(...); });
//   r.require();   // or BOOST_TEST(r.ok(), r.summary()), EXPECT_TRUE(...)...
//
// `make` returns a fresh, empty storage each time it is called (one per
// property). Properties ("storage.<name>"):
//   replace_read_remove  blobs: replace in every durability, read, read_range
//                        at and past the end, size, contains, remove; empty
//                        and binary values; read_range of an absent key throws
//   batch_and_list       replace_batch; list(prefix) sorted and exact
//   logs                 append offsets, sync, truncate, replace a log whole;
//                        sync / truncate of an absent log throw
//   key_validation       keys that escape or are malformed are bad_input for
//                        replace, append, read, remove, and touch nothing
//   rename               rename() where the storage has it (renames_keys)
//   random_model         random operations mirrored in a std::map agree
//   crash_contract       where the storage simulates crashes: durable writes
//                        survive, replaced values are whole, synced log
//                        prefixes survive
// Each property can also be run on its own (storage_kit::logs(report, s)).
//
// Thread safety: a kit drives its storage from the calling thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../concepts.hpp"
#include "../error.hpp"
#include "conformance.hpp"

namespace stowage::testing {

namespace storage_kit {

// The keys every storage must refuse as bad_input.
inline const std::vector<std::string>& escaping_keys() {
    static const std::vector<std::string> keys = {
        "", "/etc/passwd", "../x", "a/../../x", "..", ".", "a/./b", "a//b", "a/", "/",
        std::string("a\0b", 3), "a\nb", "a\x7f", "a\\..\\b", ".hidden", "a/.lock", std::string(1100, 'k'),
        "x/" + std::string(201, 'c'),
    };
    return keys;
}

// Whether key reads as `want` (nullopt: absent); a failure of `property` otherwise.
template <class S>
bool expect_value(conformance_report& r, std::string_view property, const S& s, std::string_view key,
                  std::optional<std::string_view> want) {
    auto got = s.read(key);
    if (!want) return r.expect(!got.has_value(), property, std::string(key) + " should be absent");
    if (!r.expect(got.has_value(), property, std::string(key) + " should be present")) return false;
    return r.expect(to_string(*got) == *want, property,
                    std::string(key) + " reads \"" + to_string(*got).substr(0, 80) + "\", expected \"" +
                        std::string(want->substr(0, 80)) + "\"");
}

// Whether f throws stowage::error (of `kind`, when given).
template <class F>
bool throws_error(F&& f, std::optional<errc> kind = std::nullopt) {
    try {
        f();
    } catch (const error& e) {
        return !kind || e.kind() == *kind;
    } catch (...) {
        return false;
    }
    return false;
}

template <class S>
void replace_read_remove(conformance_report& r, S s) {
    constexpr std::string_view p = "storage.replace_read_remove";
    r.expect(!s.read("a").has_value(), p, "a fresh storage holds \"a\"");
    r.expect(!s.contains("a"), p, "contains() of an absent key is true");
    r.expect(!s.size("a").has_value(), p, "size() of an absent key has a value");
    for (auto d : {durability::full, durability::batched, durability::none}) {
        const std::string in = " (durability " + std::to_string(static_cast<int>(d)) + ")";
        s.replace("a", as_bytes("one"), d);
        expect_value(r, p, s, "a", "one");
        s.replace("a", as_bytes("second value"), d);
        expect_value(r, p, s, "a", "second value");
        r.expect(s.size("a") == std::optional<std::uint64_t>(12), p, "size() after replace is not 12" + in);
        r.expect(s.contains("a"), p, "contains() after replace is false" + in);
        r.expect(to_string(s.read_range("a", 7, 100)) == "value", p, "read_range(7, 100) is not the tail" + in);
        r.expect(to_string(s.read_range("a", 0, 6)) == "second", p, "read_range(0, 6) is not the head" + in);
        r.expect(s.read_range("a", 12, 5).empty(), p, "read_range at the end is not empty" + in);
        r.expect(s.read_range("a", 99, 5).empty(), p, "read_range past the end is not empty" + in);
        r.expect(s.remove("a", d), p, "remove() of a present key returned false" + in);
        r.expect(!s.remove("a", d), p, "remove() of an absent key returned true" + in);
        expect_value(r, p, s, "a", std::nullopt);
    }
    bytes binary(70000);
    for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = std::byte(i * 131 % 256);
    s.replace("deep/er/key/x", binary, durability::full);
    r.expect(s.read("deep/er/key/x") == std::optional<bytes>(binary), p, "a 70000-byte binary value reads back different");
    s.replace("empty", {}, durability::full);
    auto empty = s.read("empty");
    r.expect(empty.has_value() && empty->empty(), p, "an empty value does not read back as present and empty");
    r.expect(throws_error([&] { (void)s.read_range("missing", 0, 1); }), p,
             "read_range of an absent key does not throw stowage::error");
    s.flush();
}

template <class S>
void batch_and_list(conformance_report& r, S s) {
    constexpr std::string_view p = "storage.batch_and_list";
    std::vector<std::string> keys = {"s/ab/1", "s/ab/2", "s/cd/3", "t/1", "s/ab/10", "sx"};
    std::vector<std::string> values;
    std::vector<blob_write> batch;
    values.reserve(keys.size());
    for (auto& k : keys) values.push_back("value of " + k);
    for (std::size_t i = 0; i < keys.size(); ++i) batch.push_back({keys[i], as_bytes(values[i])});
    s.replace_batch(batch, durability::full);
    for (std::size_t i = 0; i < keys.size(); ++i) expect_value(r, p, s, keys[i], values[i]);

    using v = std::vector<std::string>;
    auto expect_list = [&](std::string_view prefix, const v& want) {
        auto got = s.list(prefix);
        std::string shown;
        for (const auto& k : got) shown += (shown.empty() ? "" : ", ") + k;
        r.expect(got == want, p, "list(\"" + std::string(prefix) + "\") is [" + shown + "]");
    };
    expect_list("", v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3", "sx", "t/1"});
    expect_list("s/", v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3"});
    expect_list("s", v{"s/ab/1", "s/ab/10", "s/ab/2", "s/cd/3", "sx"});
    expect_list("s/ab/1", v{"s/ab/1", "s/ab/10"});
    expect_list("s/a", v{"s/ab/1", "s/ab/10", "s/ab/2"});
    expect_list("zzz", v{});
    expect_list("s/zz/", v{});
    s.remove("s/ab/2", durability::batched);
    expect_list("s/ab/", v{"s/ab/1", "s/ab/10"});
    s.flush();
}

template <class S>
void logs(conformance_report& r, S s) {
    constexpr std::string_view p = "storage.logs";
    r.expect(s.append("wal/1.log", as_bytes("hello ")) == 0u, p, "the first append's offset is not 0");
    r.expect(s.append("wal/1.log", as_bytes("world")) == 6u, p, "the second append's offset is not 6");
    s.sync("wal/1.log");
    expect_value(r, p, s, "wal/1.log", "hello world");
    r.expect(to_string(s.read_range("wal/1.log", 6, 5)) == "world", p, "read_range of a log is wrong");
    s.truncate("wal/1.log", 5);
    expect_value(r, p, s, "wal/1.log", "hello");
    r.expect(s.append("wal/1.log", as_bytes("!")) == 5u, p, "append after truncate(5) is not at offset 5");
    s.sync("wal/1.log");
    expect_value(r, p, s, "wal/1.log", "hello!");
    s.replace("wal/1.log", as_bytes("new"), durability::full);
    r.expect(s.append("wal/1.log", as_bytes("er")) == 3u, p, "append after replacing a log whole is not at its end");
    s.sync("wal/1.log");
    expect_value(r, p, s, "wal/1.log", "newer");
    r.expect(s.remove("wal/1.log", durability::full), p, "remove() of a log returned false");
    r.expect(s.append("wal/1.log", as_bytes("x")) == 0u, p, "append to a removed log is not at offset 0");
    s.flush();
    expect_value(r, p, s, "wal/1.log", "x");
    r.expect(throws_error([&] { s.sync("wal/absent.log"); }), p, "sync of an absent log does not throw stowage::error");
    r.expect(throws_error([&] { s.truncate("wal/absent.log", 0); }), p,
             "truncate of an absent log does not throw stowage::error");
}

template <class S>
void key_validation(conformance_report& r, S s) {
    constexpr std::string_view p = "storage.key_validation";
    for (const auto& key : escaping_keys()) {
        const std::string which = "key of " + std::to_string(key.size()) + " bytes \"" + key.substr(0, 40) + "\"";
        auto bad = [&](std::string_view op, auto&& f) {
            r.expect(throws_error(f, errc::bad_input), p, std::string(op) + " accepted invalid " + which);
        };
        bad("replace", [&] { s.replace(key, as_bytes("x"), durability::full); });
        bad("append", [&] { s.append(key, as_bytes("x")); });
        bad("read", [&] { (void)s.read(key); });
        bad("remove", [&] { s.remove(key, durability::full); });
    }
    r.expect(s.list("").empty(), p, "an invalid key left something behind");
}

template <class S>
void rename(conformance_report& r, S s) {
    constexpr std::string_view p = "storage.rename";
    if constexpr (renames_keys<S>) {
        s.append("tmp/stream", as_bytes("streamed "));
        s.append("tmp/stream", as_bytes("content"));
        s.sync("tmp/stream");
        s.replace("final/place", as_bytes("old"), durability::full);
        s.rename("tmp/stream", "final/place", durability::full);
        expect_value(r, p, s, "final/place", "streamed content");
        expect_value(r, p, s, "tmp/stream", std::nullopt);
        s.rename("final/place", "other/deep/name", durability::batched);
        expect_value(r, p, s, "other/deep/name", "streamed content");
        r.expect(throws_error([&] { s.rename("absent", "x", durability::full); }), p,
                 "rename of an absent key does not throw stowage::error");
        r.expect(throws_error([&] { s.rename("other/deep/name", "../x", durability::full); }), p,
                 "rename to an invalid key does not throw stowage::error");
        s.flush();
    }
}

template <class S>
void random_model(conformance_report& r, S s, std::uint64_t seed) {
    constexpr std::string_view p = "storage.random_model";
    detail::kit_random rng(seed);
    std::map<std::string, std::string> model;
    auto key = [&] { return "k/" + std::to_string(rng.below(4)) + "/" + std::to_string(rng.below(12)); };
    for (int step = 0; step < 600; ++step) {
        std::string k = key();
        auto d = static_cast<durability>(rng.below(3));
        const std::string at = " (step " + std::to_string(step) + ", seed " + std::to_string(seed) + ")";
        switch (rng.below(5)) {
            case 0:
            case 1: {
                std::string v(rng.below(300), char('a' + rng.below(26)));
                s.replace(k, as_bytes(v), d);
                model[k] = v;
                break;
            }
            case 2: r.expect(s.remove(k, d) == (model.erase(k) == 1), p, "remove(" + k + ") disagrees" + at); break;
            case 3: {
                std::string v = std::to_string(step) + ";";
                auto off = s.append(k, as_bytes(v));
                r.expect(off == model[k].size(), p, "append(" + k + ") offset disagrees" + at);
                model[k] += v;
                if (rng.below(2)) s.sync(k);
                break;
            }
            default: {
                auto got = s.read(k);
                auto it = model.find(k);
                r.expect(got.has_value() == (it != model.end()), p, "read(" + k + ") presence disagrees" + at);
                if (got && it != model.end())
                    r.expect(to_string(*got) == it->second, p, "read(" + k + ") value disagrees" + at);
            }
        }
    }
    std::vector<std::string> keys;
    for (auto& [k, v] : model) keys.push_back(k);
    r.expect(s.list("") == keys, p, "list(\"\") disagrees with the model at the end");
    s.flush();
}

template <class S>
void crash_contract(conformance_report& r, S s, std::uint64_t seed) {
    constexpr std::string_view p = "storage.crash_contract";
    if constexpr (simulates_crashes<S>) {
        detail::kit_random rng(seed);
        for (int round = 0; round < 200; ++round) {
            const std::string at = " (round " + std::to_string(round) + ", seed " + std::to_string(seed) + ")";
            s.flush();
            for (auto& k : s.list("")) s.remove(k, durability::full);
            s.replace("full", as_bytes("v0"), durability::full);
            s.replace("maybe", as_bytes("old"), durability::full);
            auto maybe_d = static_cast<durability>(rng.below(2));
            std::string maybe_new = "new-" + std::to_string(round);
            s.replace("maybe", as_bytes(maybe_new), maybe_d);
            std::vector<std::string> possible = {"old", maybe_new};
            // Unsynced contents (durability::none) may also come back empty or
            // cut short under the new name, as on a real filesystem.
            if (maybe_d == durability::none)
                for (std::size_t i = 0; i < maybe_new.size(); ++i) possible.push_back(maybe_new.substr(0, i));
            s.append("log", as_bytes("synced;"));
            s.sync("log");
            s.append("log", as_bytes("unsynced tail"));
            s.crash();
            expect_value(r, p, s, "full", "v0");
            auto m = s.read("maybe");
            if (r.expect(m.has_value(), p, "a durably written key vanished at a crash" + at))
                r.expect(std::find(possible.begin(), possible.end(), to_string(*m)) != possible.end(), p,
                         "a replaced value came back as \"" + to_string(*m) + "\", neither old nor new" + at);
            auto l = s.read("log");
            if (r.expect(l.has_value(), p, "a synced log vanished at a crash" + at)) {
                std::string lv = to_string(*l);
                r.expect(lv.starts_with("synced;") && std::string("synced;unsynced tail").starts_with(lv), p,
                         "a log came back as \"" + lv + "\", not its synced prefix plus part of its tail" + at);
            }
        }
    }
}

}  // namespace storage_kit

// Every property, each on a fresh storage from make().
template <class Make>
conformance_report check_storage(Make&& make, std::uint64_t seed = 20) {
    using S = std::decay_t<decltype(make())>;
    static_assert(storage<S>, "check_storage: make() must return a type that satisfies stowage::storage");
    conformance_report r("storage " + std::string(S::name));
    r.property("storage.replace_read_remove", [&] { storage_kit::replace_read_remove(r, make()); });
    r.property("storage.batch_and_list", [&] { storage_kit::batch_and_list(r, make()); });
    r.property("storage.logs", [&] { storage_kit::logs(r, make()); });
    r.property("storage.key_validation", [&] { storage_kit::key_validation(r, make()); });
    r.property("storage.rename", [&] { storage_kit::rename(r, make()); });
    r.property("storage.random_model", [&] { storage_kit::random_model(r, make(), seed); });
    r.property("storage.crash_contract", [&] { storage_kit::crash_contract(r, make(), seed); });
    return r;
}

}  // namespace stowage::testing
