// libFuzzer harness: json_document::parse (codec/json_document.hpp) of
// arbitrary text. Success or stowage::error; a parsed document dumps to text
// that parses back to an equal document.
#include <stowage/codec/json_document.hpp>

#include <cstdio>
#include <cstdlib>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::expect_only_stowage_errors("json_document::parse", [&] {
        auto doc = stowage::json_document::parse(fuzz::text(data, size));
        (void)doc.id();
        const std::string text = doc.dump();
        auto again = stowage::json_document::parse(text);
        if (again.dump() != text) {
            std::fprintf(stderr, "FUZZ FINDING: dump() does not round-trip:\n%s\n%s\n", text.c_str(),
                         again.dump().c_str());
            std::abort();
        }
    });
    return 0;
}
