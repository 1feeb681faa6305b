// Tests for storage/faulty.hpp: the conformance suite over faulty-wrapped
// storages with no fault armed, and the SQLite-style loops: fail step
// N = 1, 2, 3 ... of a replace and of a log append+sync, once and
// persistently; after each failure the key holds the old or the new value
// (never a torn mix) and the storage stays usable.
#define BOOST_TEST_MODULE storage_faulty
#include "storage_conformance.hpp"

#include "stowage/storage/faulty.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using stowage::test::scratch_dir;

static_assert(storage<faulty_storage<memory_storage>>);
static_assert(storage<faulty_storage<file_storage>>);
static_assert(simulates_crashes<faulty_storage<memory_storage>>);

struct faulty_memory_factory {
    faulty_storage<memory_storage> make() {
        return faulty_storage<memory_storage>(memory_storage(memory_storage::options{stowage::test::test_seed(), true}));
    }
};
struct faulty_file_factory {
    scratch_dir dir{"faulty"};
    faulty_storage<file_storage> make() { return faulty_storage<file_storage>(file_storage(dir.path() / "data")); }
};
STOWAGE_STORAGE_CONFORMANCE(faulty_memory_conformance, faulty_memory_factory)
STOWAGE_STORAGE_CONFORMANCE(faulty_file_conformance, faulty_file_factory)

template <class S>
void replace_loop(S s, fault kind, bool persistent, durability d) {
    const std::string old_value(3000, 'o');
    const std::string new_value(5000, 'n');
    int failures = 0;
    for (std::uint64_t n = 1;; ++n) {
        s.heal();
        s.replace("k/v", as_bytes(old_value), durability::full);
        s.fail_at(n, kind, persistent);
        bool ok = true;
        try {
            s.replace("k/v", as_bytes(new_value), d);
        } catch (const stowage::error& e) {
            ok = false;
            ++failures;
            BOOST_TEST((e.kind() == (kind == fault::no_space ? errc::no_space : errc::io)));
            BOOST_TEST(std::string(e.what()).find("injected") != std::string::npos);
        }
        s.heal();
        auto v = s.inner().read("k/v");
        BOOST_TEST_REQUIRE(v.has_value());
        std::string got = to_string(*v);
        BOOST_TEST((got == old_value || got == new_value), "step " << n << ": torn value of " << got.size() << " bytes");
        if (ok) {
            BOOST_TEST(got == new_value);
            BOOST_TEST(!s.fired());
            break;
        }
        // Still usable after the failure.
        s.replace("k/other", as_bytes("fine"), durability::full);
        BOOST_TEST(to_string(*s.read("k/other")) == "fine");
        BOOST_TEST_REQUIRE(n < 20u);
    }
    BOOST_TEST(failures >= (d == durability::full ? 4 : d == durability::batched ? 3 : 2));
}

template <class S>
void append_sync_loop(S s, fault kind, bool persistent) {
    for (std::uint64_t n = 1;; ++n) {
        s.heal();
        s.replace("wal/log", as_bytes("committed;"), durability::full);
        s.fail_at(n, kind, persistent);
        bool ok = true;
        try {
            s.append("wal/log", as_bytes("record-0123456789;"));
            s.sync("wal/log");
        } catch (const stowage::error& e) {
            ok = false;
        }
        s.heal();
        std::string got = to_string(*s.inner().read("wal/log"));
        // The committed prefix is intact; the record is whole, absent, or a
        // torn prefix that a log reader must detect (only with fault::torn).
        BOOST_TEST(got.starts_with("committed;"));
        std::string tail = got.substr(10);
        if (kind == fault::torn) BOOST_TEST(std::string("record-0123456789;").starts_with(tail));
        else BOOST_TEST((tail.empty() || tail == "record-0123456789;"));
        if (ok) {
            BOOST_TEST(tail == "record-0123456789;");
            break;
        }
        BOOST_TEST_REQUIRE(n < 10u);
    }
}

BOOST_AUTO_TEST_CASE(replace_fails_at_every_step) {
    for (auto kind : {fault::io, fault::no_space, fault::torn})
        for (bool persistent : {false, true})
            for (auto d : {durability::full, durability::batched, durability::none}) {
                BOOST_TEST_CONTEXT("kind " << int(kind) << " persistent " << persistent << " durability " << int(d)) {
                    replace_loop(faulty_storage<memory_storage>(), kind, persistent, d);
                    scratch_dir dir("faulty-loop");
                    replace_loop(faulty_storage<file_storage>(file_storage(dir.path() / "data")), kind, persistent, d);
                }
            }
}

BOOST_AUTO_TEST_CASE(append_and_sync_fail_at_every_step) {
    for (auto kind : {fault::io, fault::no_space, fault::torn})
        for (bool persistent : {false, true}) {
            append_sync_loop(faulty_storage<memory_storage>(), kind, persistent);
            scratch_dir dir("faulty-log");
            append_sync_loop(faulty_storage<file_storage>(file_storage(dir.path() / "data")), kind, persistent);
        }
}

BOOST_AUTO_TEST_CASE(persistent_fault_fails_everything_until_healed) {
    faulty_storage<memory_storage> s;
    s.replace("a", as_bytes("1"), durability::full);
    s.fail_at(1, fault::io, true);
    for (int i = 0; i < 5; ++i) BOOST_CHECK_THROW(s.read("a"), stowage::error);
    BOOST_CHECK_THROW(s.flush(), stowage::error);
    s.heal();
    BOOST_TEST(to_string(*s.read("a")) == "1");
}

BOOST_AUTO_TEST_CASE(failed_sync_then_crash_keeps_only_synced_bytes) {
    // A sync that fails must not be taken as success: after a crash the
    // record may be gone, and only the previously synced bytes are certain.
    std::set<std::string> seen;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        faulty_storage<memory_storage> s(memory_storage(memory_storage::options{seed, false}));
        s.append("log", as_bytes("a;"));
        s.sync("log");
        s.append("log", as_bytes("b;"));
        s.fail_at(1);
        BOOST_CHECK_THROW(s.sync("log"), stowage::error);
        s.heal();
        s.crash();
        seen.insert(to_string(*s.read("log")));
    }
    BOOST_TEST((seen == std::set<std::string>{"a;", "a;b;"}));
}
