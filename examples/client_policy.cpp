// client_policy.cpp — a policy of the app's own, checked by its conformance
// kit and plugged into a store and a content-addressed map (docs/policies.md).
//
//   client_policy [DIR]     (default: a fresh directory under /tmp)
//
// The policy is a Hasher: 64-bit FNV-1a, a plain struct satisfying
// stowage::hasher. The store verifies every record it reads with it; the
// `stowage` command and backups, which meet records without knowing their
// types, learn it through stowage::register_hasher.
#include <stowage/stowage.hpp>
#include <stowage/testing/hasher.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

namespace app {

struct fnv1a64 {
    using digest = std::array<std::byte, 8>;
    static constexpr std::string_view name = "fnv1a64";
    void update(stowage::bytes_view data) {
        for (std::byte b : data) state_ = (state_ ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ULL;
    }
    digest finish() {
        digest d;
        for (int i = 0; i < 8; ++i) d[static_cast<std::size_t>(i)] = static_cast<std::byte>(state_ >> (56 - 8 * i));
        state_ = offset_basis;
        return d;
    }

private:
    static constexpr std::uint64_t offset_basis = 0xcbf29ce484222325ULL;
    std::uint64_t state_ = offset_basis;
};
static_assert(stowage::hasher<fnv1a64>);

struct note {
    std::string id;
    std::string text;
};
STOWAGE_DESCRIBE(note, id, text)

}  // namespace app

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "stowage-client-policy-example";
    fs::remove_all(dir);

    // 1. The contract, checked the way the app's own test suite would: the
    //    kit's known answer is FNV-1a's published digest of "a".
    const std::vector<stowage::testing::hasher_vector> published{{"a", "af63dc4c8601ec8c"}};
    auto report = stowage::testing::check_hasher<app::fnv1a64>(published);
    std::printf("%s\n", report.summary().c_str());
    if (!report.ok()) return 1;

    // 2. Tools that look hashers up by name (the CLI, backups, export).
    stowage::register_hasher<app::fnv1a64>();

    // 3. The policy in a store and in a content-addressed map.
    stowage::database<stowage::file_storage> db{stowage::file_storage(dir)};
    stowage::db_store<app::note, stowage::file_storage, stowage::json_codec, app::fnv1a64> notes(db.storage(), "notes");
    notes.put({"n1", "FNV-1a checks every read of this record"});
    auto back = notes.get("n1");
    const auto verified = notes.verify();
    std::printf("note read back: %s; verify: %zu records, %zu damaged\n", back ? back->text.c_str() : "(missing)",
                verified.records, verified.damaged.size());

    stowage::cas_map<stowage::file_storage, app::fnv1a64> blobs(db);
    const auto a = blobs.put(stowage::to_bytes("the same attachment"));
    const auto b = blobs.put(stowage::to_bytes("the same attachment"));
    std::printf("attachment stored twice under one fnv1a64 address: %s\n", a == b ? "yes" : "no");
    return back && verified.damaged.empty() && a == b ? 0 : 1;
}
