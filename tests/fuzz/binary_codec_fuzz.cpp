// libFuzzer harness: binary_codec::decode (codec/binary.hpp) of arbitrary
// bytes, into a described struct and into a json_document. Success or
// stowage::error; what decodes must encode again and read back.
#include <stowage/codec/binary.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const stowage::bytes_view in(reinterpret_cast<const std::byte*>(data), size);
    stowage::binary_codec codec;
    fuzz::expect_only_stowage_errors("binary_codec decode record", [&] {
        fuzz::record r;
        codec.decode(in, r);
        stowage::bytes again;
        codec.encode(r, again);
        fuzz::record back;
        codec.decode(again, back);
    });
    fuzz::expect_only_stowage_errors("binary_codec decode json_document", [&] {
        stowage::json_document d;
        codec.decode(in, d);
        stowage::bytes again;
        codec.encode(d, again);
        stowage::json_document back;
        codec.decode(again, back);
    });
    return 0;
}
