// libFuzzer harness: backup manifests (backup.hpp). The input is parsed as
// a manifest, and one that parses as backup "b1"'s is also read as the
// manifest of "b1" in a scratch backup root, through the public API (find,
// list) as `stowage backup list` does.
#include <stowage/backup.hpp>

#include <filesystem>
#include <fstream>

#include "fuzz_support.hpp"

namespace {

const std::filesystem::path& root() {
    static const fuzz::scratch_path p("stowage-backup-fuzz");
    static const bool made = std::filesystem::create_directories(p.path / "b1");
    (void)made;
    return p.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bool parsed = false;
    fuzz::expect_only_stowage_errors("backup_parse_manifest", [&] {
        parsed = stowage::detail::backup_parse_manifest(fuzz::text(data, size), "fuzz").id == "b1";
    });
    // Through the files only when it is b1's manifest: anything else is
    // refused the same way there, after reading it through a 1 MiB buffer.
    if (!parsed) return 0;
    {
        std::ofstream out(root() / "b1" / std::string(stowage::detail::backup_manifest_name),
                          std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) std::abort();
    }
    stowage::backups bk(root());
    fuzz::expect_only_stowage_errors("backups::find", [&] { (void)bk.find("b1"); });
    fuzz::expect_only_stowage_errors("backups::list", [&] { (void)bk.list(); });
    return 0;
}
