// Tests of `stowage repair DIR --from-backup ID`, run in-process through
// the command table entry (cli/backup_commands.hpp's repair_command) with
// stdout and stderr captured: repaired and unrepairable lines, exit codes
// (0 all repaired, 1 damage left, 2 usage), --dry-run changing nothing.
#define BOOST_TEST_MODULE cli_repair
#include "test_support.hpp"

#include <fstream>
#include <sstream>

#include "cli/backup_commands.hpp"

using namespace stowage;
using stowage::test::scratch_dir;
namespace fs = std::filesystem;

using docs_t = db_store<json_document, file_storage, gzip<json_codec>>;

struct result {
    int code;
    std::string out, err;
};

// Runs `stowage repair <words>` in this process.
static result repair(std::vector<std::string> words) {
    std::ostringstream out, err;
    auto* old_out = std::cout.rdbuf(out.rdbuf());
    auto* old_err = std::cerr.rdbuf(err.rdbuf());
    cli::arguments args("repair", std::move(words));
    int code = cli::run_command(cli::repair_command, args);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    return {code, out.str(), err.str()};
}

static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

static void flip_tail(const fs::path& p) {
    std::string c = slurp(p);
    c[c.size() - 2] ^= 0x21;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << c;
}

BOOST_AUTO_TEST_CASE(repair_command_reports_repaired_and_unrepairable) {
    scratch_dir dir("cli-repair");
    auto data = dir.path() / "data";
    std::string id;
    {
        database<file_storage> db{file_storage(data)};
        docs_t docs(db.storage(), "docs");
        auto tx = db.transaction();
        for (int i = 0; i < 10; ++i) {
            json_document d;
            d.set("id", "d" + std::to_string(i));
            d.set("n", i);
            tx.put(docs, d);
        }
        tx.commit();
        id = backups(backups::default_root(data)).create(db).id;
        json_document late;
        late.set("id", "late");
        docs.put(late);
    }
    auto d3 = data / record_key("docs", "d3");
    auto good = slurp(d3);

    auto usage = repair({data.string()});
    BOOST_TEST(usage.code == cli::exit_usage);
    BOOST_TEST(usage.err.find("--from-backup") != std::string::npos);

    auto clean = repair({data.string(), "--from-backup", id});
    BOOST_TEST(clean.code == cli::exit_ok, clean.err);
    BOOST_TEST(clean.out.find("ok: ") != std::string::npos);
    BOOST_TEST(clean.out.find("0 repaired") != std::string::npos);

    flip_tail(d3);
    flip_tail(data / record_key("docs", "late"));
    auto dry = repair({data.string(), "--from-backup", id, "--dry-run"});
    BOOST_TEST(dry.code == cli::exit_damaged);
    BOOST_TEST(dry.out.find("would repair\t" + record_key("docs", "d3") + "\t") != std::string::npos, dry.out);
    BOOST_TEST(slurp(d3) != good);

    auto r = repair({data.string(), "--from-backup=" + id});
    BOOST_TEST(r.code == cli::exit_damaged);
    BOOST_TEST(r.out.find("repaired\t" + record_key("docs", "d3") + "\t") == 0u, r.out);
    BOOST_TEST(r.out.find("unrepairable\t" + record_key("docs", "late") + "\t") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("not in backup " + id) != std::string::npos);
    BOOST_TEST(r.err.find("1 repaired from backup " + id + ", 1 could not be repaired") != std::string::npos, r.err);
    {
        database<file_storage> db{file_storage(data, open_mode::read_only)};
        docs_t docs(db.storage(), "docs");
        BOOST_TEST(docs.get("d3")->dump() == "{\"id\":\"d3\",\"n\":3}");
    }
    auto unknown = repair({data.string(), "--from-backup", "19700101T000000Z-1"});
    BOOST_TEST(unknown.code == cli::exit_failure);
    BOOST_TEST(unknown.err.find("no backup") != std::string::npos);
}
