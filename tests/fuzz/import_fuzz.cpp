// libFuzzer harness: reading an export file (export.hpp). The input is
// written to a temporary file, then checked as an export (validate_import;
// references resolved in an empty memory_storage) and, if it starts like a
// JSON array, as a legacy file (validate_legacy). A typed collection
// "records" is registered, so its documents are decoded as fuzz::record.
#include <stowage/codec/binary.hpp>
#include <stowage/export.hpp>
#include <stowage/storage/memory.hpp>

#include <filesystem>
#include <fstream>

#include "fuzz_support.hpp"

namespace {

const stowage::export_registry& registry() {
    static const stowage::export_registry r = [] {
        stowage::export_registry reg;
        reg.add<fuzz::record, stowage::binary_codec>("records");
        return reg;
    }();
    return r;
}

const std::filesystem::path& file() {
    static const fuzz::scratch_path p("stowage-import-fuzz.jsonl");
    return p.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream out(file(), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) std::abort();
    }
    const stowage::memory_storage target;
    fuzz::expect_only_stowage_errors("validate_import", [&] {
        stowage::import_options o;
        o.allow_unsigned = true;  // a trailer present is checked all the same
        o.registry = &registry();
        (void)stowage::validate_import(file(), target, o);
    });
    // A legacy file is a JSON array: other inputs would only be refused at
    // its first byte, after reading the file through a 1 MiB buffer.
    const auto text = fuzz::text(data, size);
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || text[first] != '[') return 0;
    fuzz::expect_only_stowage_errors("validate_legacy", [&] {
        stowage::import_options o;
        o.registry = &registry();
        (void)stowage::validate_legacy("records", file(), o);
    });
    return 0;
}
