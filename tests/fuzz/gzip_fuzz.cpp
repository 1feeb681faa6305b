// libFuzzer harness: gzip_decompress (codec/gzip.hpp) of arbitrary bytes,
// with an output limit (a small input may inflate a thousandfold), then the
// inner codec's decode of what came out, as gzip<json_codec>::decode does.
#include <stowage/codec/gzip.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const stowage::bytes_view in(reinterpret_cast<const std::byte*>(data), size);
    fuzz::expect_only_stowage_errors("gzip_decompress", [&] {
        const stowage::bytes raw = stowage::gzip_decompress(in, std::size_t{1} << 20);
        fuzz::record r;
        stowage::json_codec{}.decode(raw, r);
    });
    return 0;
}
