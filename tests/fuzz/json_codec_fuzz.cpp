// libFuzzer harness: json_codec::decode (codec/json.hpp) of arbitrary bytes
// into a described struct. Success or stowage::error, nothing else; what
// decodes must encode again and read back equal.
#include <stowage/codec/json.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const stowage::bytes_view in(reinterpret_cast<const std::byte*>(data), size);
    fuzz::expect_only_stowage_errors("json_codec decode", [&] {
        fuzz::record r;
        stowage::json_codec{}.decode(in, r);
        // A decoded value re-encodes (it may be refused: a float field can
        // hold a value JSON cannot write, e.g. after rounding to infinity).
        stowage::bytes again;
        stowage::json_codec{}.encode(r, again);
        fuzz::record back;
        stowage::json_codec{}.decode(again, back);
    });
    fuzz::expect_only_stowage_errors("from_json<json_value>", [&] {
        (void)stowage::from_json<stowage::json_value>(fuzz::text(data, size));
    });
    return 0;
}
