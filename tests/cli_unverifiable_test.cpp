// `stowage verify` and `get` on records written with a client's own hasher,
// which the command does not know: reported as unverifiable — a distinct
// state, neither damage (exit 1) nor verified — with every other record
// still checked (docs/damage.md).
#define BOOST_TEST_MODULE cli_unverifiable
#include <stowage/cas_map.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/codec/json_document.hpp>
#include <stowage/database.hpp>
#include <stowage/storage/file.hpp>

#include "test_support.hpp"

namespace cli_unverifiable {

namespace fs = std::filesystem;
using stowage::test::run;

const std::string cli = STOWAGE_CLI;

struct fnv1a64 {  // a client's hasher, registered only in the program that writes
    using digest = std::array<std::byte, 8>;
    static constexpr std::string_view name = "fnv1a64";
    std::uint64_t h = 0xcbf29ce484222325ull;
    void update(stowage::bytes_view data) {
        for (std::byte b : data) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ull;
    }
    digest finish() {
        digest d;
        for (int i = 0; i < 8; ++i) d[i] = std::byte((h >> (56 - 8 * i)) & 0xff);
        h = 0xcbf29ce484222325ull;
        return d;
    }
};

template <class Hasher>
using documents = stowage::db_store<stowage::json_document, stowage::file_storage, stowage::gzip<stowage::json_codec>, Hasher>;

// "notes" written with fnv1a64 (two documents and an attachment), "plain"
// with the command's own sha256.
inline void write_data(const std::string& d) {
    stowage::database<stowage::file_storage> db(stowage::file_storage{fs::path(d)});
    documents<fnv1a64> notes(db.storage(), "notes");
    documents<stowage::sha256> plain(db.storage(), "plain");
    notes.put(stowage::json_document::parse(R"({"id":"n1","title":"mine"})"));
    notes.put(stowage::json_document::parse(R"({"id":"n2","title":"mine too"})"));
    plain.put(stowage::json_document::parse(R"({"id":"p1","title":"anyone's"})"));
    stowage::cas_map<stowage::file_storage, fnv1a64> blobs(db);
    blobs.put(stowage::as_bytes("an attachment"));
    db.checkpoint();
}

inline std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace cli_unverifiable

using namespace cli_unverifiable;

BOOST_AUTO_TEST_CASE(verify_reports_unknown_hashers_as_unverifiable_and_exits_0) {
    stowage::test::scratch_dir dir("cli-unverifiable");
    const std::string d = dir.str() + "/data";
    write_data(d);
    auto [code, out] = run(cli + " verify " + d + " 2>&1");
    BOOST_TEST(code == 0, out);
    // Two records and one chunk, each on its own line, "<key>\tunverifiable: ...".
    BOOST_TEST(count(out, "\tunverifiable: written with hasher \"fnv1a64\", which this build does not know") == 3u, out);
    BOOST_TEST(out.find("cas/fnv1a64/") != std::string::npos, out);
    BOOST_TEST(out.find("notes/") != std::string::npos, out);
    BOOST_TEST(out.find("plain/") == std::string::npos, out);  // verified, so not listed
    BOOST_TEST(out.find("\nok: ") != std::string::npos, out);
    BOOST_TEST(out.find("; 3 unverifiable (a hasher this build does not know)\n") != std::string::npos, out);

    // get: the command will not print what it cannot verify, and says why (not as damage).
    auto [get_code, get_out] = run(cli + " get " + d + " notes n1 2>&1");
    BOOST_TEST(get_code == 3, get_out);
    BOOST_TEST(get_out.find("unverifiable: written with hasher \"fnv1a64\"") != std::string::npos, get_out);
    auto [plain_code, plain_out] = run(cli + " get " + d + " plain p1 2>&1");
    BOOST_TEST(plain_code == 0, plain_out);
    auto [ls_code, ls_out] = run(cli + " ls " + d + " notes 2>&1");  // headers only: no digest to check
    BOOST_TEST(ls_code == 0, ls_out);
    BOOST_TEST(count(ls_out, "\n") == 2u, ls_out);
}

BOOST_AUTO_TEST_CASE(damage_beside_unverifiable_records_still_exits_1) {
    stowage::test::scratch_dir dir("cli-unverifiable-damage");
    const std::string d = dir.str() + "/data";
    write_data(d);
    fs::path plain_record;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(d) / "plain"))
        if (e.is_regular_file() && e.path().filename() != "listing") plain_record = e.path();
    BOOST_TEST_REQUIRE(!plain_record.empty());
    const auto size = fs::file_size(plain_record);
    stowage::test::flip_byte_at(plain_record, size - 1);
    auto [code, out] = run(cli + " verify " + d + " 2>&1");
    BOOST_TEST(code == 1, out);
    BOOST_TEST(out.find("payload digest mismatch") != std::string::npos, out);
    BOOST_TEST(count(out, "\tunverifiable: ") == 3u, out);
    BOOST_TEST(out.find("1 damaged in " + d) != std::string::npos, out);
    BOOST_TEST(out.find("; 3 unverifiable") != std::string::npos, out);
}
