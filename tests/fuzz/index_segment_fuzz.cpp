// libFuzzer harness: index segments (index/segment.hpp, index/postings.hpp).
// The input is parsed as a segment of a fixed shape, with string keys and
// with integer keys, as given and with its trailing CRC-32C made right (so
// mutations reach the structure behind the checksum); a segment that parses
// has every posting list walked (next, advance, payloads) and is merged
// into a new segment, which must parse again.
#include <stowage/hash/crc32c.hpp>
#include <stowage/index/segment.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace stowage;

// make_corpus.cpp writes its seeds with this shape.
const fts::segment_shape& shape() {
    static const fts::segment_shape s{"fuzz:text=title,body;keyword=tag,status;time=start", 2, 2, 1};
    return s;
}

template <index_key Key>
void check(const bytes& data) {
    fuzz::expect_only_stowage_errors("segment::parse", [&] {
        auto seg = fts::segment<Key>::parse(data, shape(), "fuzz");
        for (std::size_t t = 0; t < seg->term_count(); ++t) {
            (void)seg->find(seg->term_key(t));
            std::uint64_t sum = 0;
            for (auto c = seg->cursor(t); c.doc() != fts::no_doc; c.next())
                c.for_each_field([&](unsigned f, std::uint32_t n) { sum += f + n; });
            auto c = seg->cursor(t);
            for (fts::doc_id target = 1; c.doc() != fts::no_doc; target = target * 3 + 1) {
                c.advance(target);
                (void)c.in_field(1);
                if (target > fts::no_doc / 4) break;
            }
            std::vector<fts::doc_id> docs;
            seg->cursor(t).drain(docs);
        }
        (void)seg->lower(std::string(1, '\1'));
        // What index compaction does with a loaded segment.
        const std::vector<fts::merge_input<Key>> inputs{{seg.get(), nullptr}};
        const bytes merged = fts::merge_segments<Key>(inputs, shape(), true);
        try {
            (void)fts::segment<Key>::parse(merged, shape(), "merged");
        } catch (const error& e) {
            std::fprintf(stderr, "FUZZ FINDING: a merged segment does not parse: %s\n", e.what());
            std::abort();
        }
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bytes in(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
    check<std::string>(in);
    check<std::uint64_t>(in);
    if (in.size() < 4) return 0;
    const std::uint32_t crc = crc32c::of(bytes_view(in).first(in.size() - 4));
    for (int i = 0; i < 4; ++i) in[in.size() - 4 + static_cast<std::size_t>(i)] = std::byte((crc >> (8 * i)) & 0xff);
    check<std::string>(in);
    check<std::uint64_t>(in);
    return 0;
}
