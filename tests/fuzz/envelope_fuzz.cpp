// libFuzzer harness: the record envelope (envelope.hpp) and verify_record
// (store.hpp) over arbitrary bytes, then what a store reads out of a record
// that verifies: the projection (JSON text) and the payload (by codec name).
// Each input runs twice: as given, and with its header CRC, payload length
// and payload digest made right, so mutations reach the fields behind them.
#include <stowage/codec/binary.hpp>
#include <stowage/codec/gzip.hpp>
#include <stowage/codec/json.hpp>
#include <stowage/envelope.hpp>
#include <stowage/store.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace stowage;

void decode_payload(const envelope_header& h, bytes_view payload) {
    fuzz::record r;
    auto inflate = [&] { return gzip_decompress(payload, std::size_t{1} << 20); };  // bounded: see gzip_fuzz
    if (h.codec == "json") json_codec{}.decode(payload, r);
    else if (h.codec == "binary") binary_codec{}.decode(payload, r);
    else if (h.codec == "gzip+json") json_codec{}.decode(inflate(), r);
    else if (h.codec == "gzip+binary") binary_codec{}.decode(inflate(), r);
}

void check(bytes_view record) {
    fuzz::expect_only_stowage_errors("verify_record", [&] {
        const envelope_header h = verify_record(record, "fuzz/00/record");
        (void)json_document::parse(h.projection);
        decode_payload(h, record.subspan(h.payload_offset));
    });
    fuzz::expect_only_stowage_errors("stamp_envelope_lsn", [&] {
        bytes copy(record.begin(), record.end());
        stamp_envelope_lsn(copy, 42);
        if (envelope_lsn(copy) != 42) {
            std::fprintf(stderr, "FUZZ FINDING: stamp_envelope_lsn did not stamp\n");
            std::abort();
        }
        (void)parse_envelope_header(copy, "stamped");  // must stay intact
    });
}

void put_le(bytes& b, std::size_t at, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + static_cast<std::size_t>(i)] = std::byte((v >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const bytes_view raw(reinterpret_cast<const std::byte*>(data), size);
    check(raw);

    bytes fixed(raw.begin(), raw.end());
    std::size_t total = 0;
    try {
        total = envelope_header_size(fixed, "fix");
    } catch (const error&) {
        return 0;
    }
    if (fixed.size() < total) return 0;
    auto fix_crc = [&] { put_le(fixed, total - 4, crc32c::of(bytes_view(fixed).first(total - 4)), 4); };
    fix_crc();
    try {
        const envelope_header h = parse_envelope_header(fixed, "fix");
        // The header ends: payload length (8), digest length (1), digest, CRC (4).
        const std::size_t digest_at = total - 4 - h.payload_digest.size();
        put_le(fixed, digest_at - 9, fixed.size() - total, 8);
        if (auto d = digest_by_name(h.hasher, bytes_view(fixed).subspan(total)); d && d->size() == h.payload_digest.size())
            std::copy(d->begin(), d->end(), fixed.begin() + static_cast<std::ptrdiff_t>(digest_at));
        fix_crc();
    } catch (const error&) {
    }
    check(fixed);
    return 0;
}
