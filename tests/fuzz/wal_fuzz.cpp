// libFuzzer harness: the WAL segment reader (wal.hpp). The input is written
// as the only segment of a memory_storage; a wal recovers it (salvage and
// point_in_time: both must accept any damage), dumps it, and appends after
// it. Each input runs as given and with every fragment's checksum made
// right (walking the framing as the reader does), so mutations reach the
// framing and transaction logic behind the checksums; and under a plain and
// a recycled segment name (records below the name's LSN end a recycled one).
#include <stowage/storage/memory.hpp>
#include <stowage/wal.hpp>

#include <chrono>

#include "fuzz_support.hpp"

namespace {

using namespace stowage;
using log_t = wal<memory_storage>;

wal_options options(wal_recovery mode) {
    wal_options o;
    o.recovery = mode;
    o.preallocate = 0;     // no 1 MiB of zeros per input
    o.reserve_bytes = 0;   // nor a reserve file
    o.recycle_segments = 0;
    o.batch_window = std::chrono::milliseconds(0);  // no syncer thread
    o.group_commit_wait = std::chrono::microseconds(0);
    o.follower_spin = std::chrono::microseconds(0);
    return o;
}

void run(bytes_view segment, const std::string& name, wal_recovery mode) {
    fuzz::expect_only_stowage_errors("wal recover", [&] {
        memory_storage storage;
        storage.append(name, segment);
        storage.sync(name);
        const bytes value(3, std::byte{'v'});
        const wal_op op{wal_record_type::put, "c/00/k", value, 0};
        std::uint64_t lsn = 0;
        {
            log_t log(storage, "wal", options(mode));
            wal_recovery_report report;
            for (const auto& tx : log.recover(report))
                for (const auto& o : tx.ops) (void)o.key.size();
            std::vector<wal_damage> damage;
            (void)log.dump(&damage);
            // What a database does next: commit after the recovered log.
            lsn = log.append(log.next_txid(), std::span<const wal_op>(&op, 1));
            log.wait_durable(lsn, durability::full);
        }
        // That commit was acknowledged: a later recovery must return it.
        log_t again(storage, "wal", options(wal_recovery::salvage));
        wal_recovery_report report;
        auto txs = again.recover(report);
        if (txs.empty() || txs.back().commit_lsn != lsn || txs.back().ops.size() != 1 ||
            txs.back().ops[0].key != op.key || txs.back().ops[0].value != value) {
            std::fprintf(stderr, "FUZZ FINDING: the transaction committed after recovery (LSN %llu) is not recovered\n",
                         static_cast<unsigned long long>(lsn));
            std::abort();
        }
    });
}

// Rewrites the checksum of every fragment the reader would check.
bytes with_checksums(bytes_view in) {
    bytes out(in.begin(), in.end());
    constexpr std::size_t block = log_t::block_size, header = log_t::header_size, sum = log_t::checksum_size;
    std::size_t pos = 0;
    while (pos < out.size()) {
        const std::size_t left = block - pos % block;
        if (left < header) {
            pos += left;
            continue;
        }
        if (out.size() - pos < header) break;
        const std::size_t length = std::to_integer<std::size_t>(out[pos + sum + 1]) |
                                   std::to_integer<std::size_t>(out[pos + sum + 2]) << 8;
        if (length > left - header) {
            pos += left;
            continue;
        }
        if (out.size() - pos < header + length) break;
        crc32c h;
        h.update(bytes_view(out).subspan(pos + sum, header - sum + length));
        const auto digest = h.finish();
        std::copy(digest.begin(), digest.end(), out.begin() + static_cast<std::ptrdiff_t>(pos));
        pos += header + length;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (std::size_t{1} << 17)) return 0;  // four blocks are plenty
    const bytes_view raw(reinterpret_cast<const std::byte*>(data), size);
    const bytes fixed = with_checksums(raw);
    for (const bytes_view in : {raw, bytes_view(fixed)}) {
        run(in, "wal/00000000000000000001.log", wal_recovery::salvage);
        run(in, "wal/00000000000000000001.log", wal_recovery::point_in_time);
        run(in, "wal/00000000000000000001.recycled.log", wal_recovery::salvage);
    }
    return 0;
}
