// Tests for wal.hpp: the behaviours LevelDB's and RocksDB's log tests check,
// re-expressed for our framing (empty log, many records, records spanning
// blocks, a record ending exactly at a block boundary, truncated tail, bad
// length, checksum mismatch, unexpected middle/last fragments, a first
// fragment followed by a full record, damage between two fragmented records,
// reading from an offset inside a record), the four recovery modes,
// transactions that lost a record, group commit, failed syncs, full disks and
// checkpoints.
#define BOOST_TEST_MODULE wal
#include "test_support.hpp"

#include <thread>

#include "stowage/storage/faulty.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"
#include "stowage/wal.hpp"

using namespace stowage;
using log_t = wal<memory_storage>;
constexpr std::size_t block = log_t::block_size;
constexpr std::size_t header = log_t::header_size;

static wal_op put_op(std::string key, std::string value) {
    wal_op op;
    op.type = wal_record_type::put;
    op.key = std::move(key);
    op.value = to_bytes(value);
    return op;
}

// Options for the framing tests below: segments end where their records
// end, as in LevelDB's log tests (no zeros written ahead).
static wal_options plain_segments() {
    wal_options o;
    o.preallocate = 0;
    return o;
}

// Opens a log, recovers, appends `values` as one-put transactions, syncs.
static void write_log(memory_storage& mem, const std::vector<std::string>& values, wal_options o = plain_segments()) {
    log_t log(mem, "wal", o);
    wal_recovery_report r;
    log.recover(r);
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::vector<wal_op> ops{put_op("k" + std::to_string(i), values[i])};
        auto lsn = log.append(log.next_txid(), ops);
        log.wait_durable(lsn, durability::full);
    }
}

static std::vector<std::string> recover_values(memory_storage& mem, wal_recovery mode, wal_recovery_report* out = nullptr) {
    wal_options o;
    o.recovery = mode;
    log_t log(mem.read_only_handle(), "wal", o);
    wal_recovery_report r;
    auto txs = log.recover(r);
    std::vector<std::string> values;
    for (auto& tx : txs)
        for (auto& op : tx.ops) values.push_back(to_string(op.value));
    if (out) *out = r;
    return values;
}

static std::string only_segment(memory_storage& mem) {
    auto keys = mem.list("wal/");
    std::vector<std::string> segs;
    for (auto& k : keys)
        if (k.ends_with(".log")) segs.push_back(k);
    BOOST_TEST_REQUIRE(segs.size() == 1u);
    return segs[0];
}

static void poke(memory_storage& mem, const std::string& key, std::size_t offset, std::byte x) {
    bytes data = *mem.read(key);
    BOOST_TEST_REQUIRE(offset < data.size());
    data[offset] ^= x;
    mem.replace(key, data, durability::full);
}

// A frame built by hand, following the format in wal.hpp.
static bytes frame(std::uint8_t kind, wal_record_type type, std::uint64_t lsn, std::uint64_t txid, bytes_view payload) {
    bytes out(4);
    out.push_back(std::byte((static_cast<std::uint8_t>(type) << 3) | kind));
    detail::put_le(out, payload.size(), 2);
    detail::put_le(out, lsn, 8);
    detail::put_le(out, txid, 8);
    append(out, payload);
    crc32c h;
    h.update(bytes_view(out).subspan(4));
    auto d = h.finish();
    std::copy(d.begin(), d.end(), out.begin());
    return out;
}

static bytes put_payload(std::string key, std::string value) {
    return detail::encode_op_payload(wal_record_type::put, key, as_bytes(value));
}
static bytes commit_payload(std::uint32_t n) {
    bytes b;
    detail::put_le(b, n, 4);
    return b;
}

BOOST_AUTO_TEST_CASE(empty_log) {
    memory_storage mem;
    wal_recovery_report r;
    BOOST_TEST(recover_values(mem, wal_recovery::absolute, &r).empty());
    BOOST_TEST(r.damage.empty());
    write_log(mem, {});
    BOOST_TEST(recover_values(mem, wal_recovery::absolute).empty());
}

BOOST_AUTO_TEST_CASE(many_records) {
    memory_storage mem;
    std::vector<std::string> values;
    for (int i = 0; i < 3000; ++i) values.push_back(std::string(static_cast<std::size_t>(i % 97), char('a' + i % 26)) + std::to_string(i));
    write_log(mem, values);
    BOOST_TEST(recover_values(mem, wal_recovery::absolute) == values);
}

BOOST_AUTO_TEST_CASE(records_spanning_blocks) {
    memory_storage mem;
    std::vector<std::string> values = {"small", std::string(100000, 'x'), "medium" + std::string(block, 'm'), "end"};
    write_log(mem, values);
    BOOST_TEST(recover_values(mem, wal_recovery::absolute) == values);
    // The big record really was split into fragments.
    auto data = *mem.read(only_segment(mem));
    BOOST_TEST(data.size() > 3 * block);
}

BOOST_AUTO_TEST_CASE(record_ending_exactly_at_a_block_boundary) {
    // First record: header + payload == block exactly; its commit record
    // then starts the next block.
    memory_storage mem;
    std::size_t value_size = block - header - 2 - 2;  // payload = u16 + key "k0" + value
    std::vector<std::string> values = {std::string(value_size, 'v'), "next"};
    write_log(mem, values);
    auto data = *mem.read(only_segment(mem));
    // The commit record of transaction 1 begins exactly at the boundary.
    BOOST_TEST((std::to_integer<int>(data[block + 4]) >> 3) == int(wal_record_type::commit));
    BOOST_TEST(recover_values(mem, wal_recovery::absolute) == values);
    // And a block tail shorter than a header is padding.
    memory_storage mem2;
    std::vector<std::string> values2 = {std::string(value_size - 10, 'v'), "next"};
    write_log(mem2, values2);
    BOOST_TEST(recover_values(mem2, wal_recovery::absolute) == values2);
}

BOOST_AUTO_TEST_CASE(truncated_trailing_record) {
    memory_storage mem;
    write_log(mem, {"one", "two", std::string(5000, 't')});
    auto seg = only_segment(mem);
    auto size = *mem.size(seg);
    for (std::uint64_t cut : {std::uint64_t(1), std::uint64_t(10), std::uint64_t(header + 3), std::uint64_t(2000)}) {
        memory_storage copy;
        copy.replace(seg, bytes_view(*mem.read(seg)).first(size - cut), durability::full);
        wal_recovery_report r;
        BOOST_TEST((recover_values(copy, wal_recovery::tolerate_tail, &r) == std::vector<std::string>{"one", "two"}));
        BOOST_TEST(r.bytes_truncated > 0u);
        BOOST_CHECK_THROW(recover_values(copy, wal_recovery::absolute), stowage::error);
        BOOST_TEST((recover_values(copy, wal_recovery::point_in_time) == std::vector<std::string>{"one", "two"}));
        BOOST_TEST((recover_values(copy, wal_recovery::salvage) == std::vector<std::string>{"one", "two"}));
    }
}

// Damage in the middle: tolerate_tail refuses, point_in_time stops there,
// salvage skips it.
static void middle_damage(std::size_t offset_in_second_tx, std::byte x, const char* what) {
    BOOST_TEST_CONTEXT(what) {
        memory_storage mem;
        std::vector<std::string> values = {"first", "second", "third"};
        write_log(mem, values);
        auto seg = only_segment(mem);
        // Records: tx1 put, tx1 commit, tx2 put, ...; each put frame is
        // header + 2 + 2 + value, each commit header + 4.
        std::size_t tx1 = (header + 4 + 5) + (header + 4);
        poke(mem, seg, tx1 + offset_in_second_tx, x);
        try {
            recover_values(mem, wal_recovery::tolerate_tail);
            BOOST_ERROR("middle damage tolerated");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::corrupt));
        }
        wal_recovery_report r;
        BOOST_TEST((recover_values(mem, wal_recovery::point_in_time, &r) == std::vector<std::string>{"first"}));
        BOOST_TEST_REQUIRE(r.stopped_at.has_value());
        BOOST_TEST(r.stopped_at->offset == tx1);
        // Salvage resynchronises at the next block: everything else in this
        // (only) block is lost, and reported.
        auto salvaged = recover_values(mem, wal_recovery::salvage, &r);
        BOOST_TEST((salvaged == std::vector<std::string>{"first"}));
        BOOST_TEST(!r.damage.empty());
    }
}

// A length that still fits in the file: the checksum catches it. (A length
// pointing past the end of the file is indistinguishable from a torn append
// and is treated as one: see wal.hpp.)
BOOST_AUTO_TEST_CASE(bad_length) { middle_damage(4 + 1, std::byte{0x01}, "length byte"); }
BOOST_AUTO_TEST_CASE(checksum_mismatch) { middle_damage(header + 3, std::byte{0x01}, "payload byte"); }

BOOST_AUTO_TEST_CASE(salvage_keeps_later_blocks_and_drops_transactions_that_lost_a_record) {
    memory_storage mem;
    // tx A: one put in block 0; tx B: three puts, the second of which is in
    // block 1 (damaged); tx C entirely in block 2.
    bytes seg;
    auto add = [&](const bytes& f) { append(seg, f); };
    // A put whose frame ends exactly at the end of the current block.
    auto fill_block = [&](std::uint64_t lsn, std::uint64_t txid, std::string key) {
        std::size_t room = block - seg.size() % block - header;
        add(frame(1, wal_record_type::put, lsn, txid, put_payload(key, std::string(room - 2 - key.size(), 'f'))));
    };
    add(frame(1, wal_record_type::put, 1, 1, put_payload("a", "A")));
    add(frame(1, wal_record_type::commit, 2, 1, commit_payload(1)));
    fill_block(3, 2, "b1");
    fill_block(4, 2, "b2");
    add(frame(1, wal_record_type::put, 5, 2, put_payload("b3", "B3")));
    add(frame(1, wal_record_type::commit, 6, 2, commit_payload(3)));
    add(frame(1, wal_record_type::put, 7, 3, put_payload("c", "C")));
    add(frame(1, wal_record_type::commit, 8, 3, commit_payload(1)));
    BOOST_TEST_REQUIRE(seg.size() > 2 * block);
    seg[block + header + 1] ^= std::byte{0x40};  // damage b2
    mem.replace("wal/00000000000000000001.log", seg, durability::full);
    wal_recovery_report r;
    auto values = recover_values(mem, wal_recovery::salvage, &r);
    BOOST_TEST((values == std::vector<std::string>{"A", "C"}));
    BOOST_TEST_REQUIRE(r.dropped.size() == 1u);
    BOOST_TEST(r.dropped[0].first == 2u);
    BOOST_TEST(r.dropped[0].second.find("lost 1") != std::string::npos);
    BOOST_TEST(r.damage.size() == 1u);
}

BOOST_AUTO_TEST_CASE(unexpected_middle_and_last_fragments) {
    memory_storage mem;
    bytes seg;
    append(seg, frame(3, wal_record_type::put, 1, 1, as_bytes("orphan middle")));
    append(seg, frame(4, wal_record_type::put, 2, 1, as_bytes("orphan last")));
    append(seg, frame(1, wal_record_type::put, 3, 2, put_payload("k", "ok")));
    append(seg, frame(1, wal_record_type::commit, 4, 2, commit_payload(1)));
    std::vector<wal_damage> damage;
    auto records = log_t::read_segment("s", seg, 0, &damage);
    BOOST_TEST_REQUIRE(records.size() == 2u);
    BOOST_TEST(records[0].lsn == 3u);
    BOOST_TEST(damage.size() == 2u);
    BOOST_TEST(damage[0].reason == "unexpected middle fragment");
    BOOST_TEST(damage[1].reason == "unexpected last fragment");
}

BOOST_AUTO_TEST_CASE(first_fragment_followed_by_a_full_record) {
    bytes seg;
    append(seg, frame(2, wal_record_type::put, 1, 1, as_bytes("begins")));
    append(seg, frame(1, wal_record_type::put, 2, 1, put_payload("k", "whole")));
    std::vector<wal_damage> damage;
    auto records = log_t::read_segment("s", seg, 0, &damage);
    BOOST_TEST_REQUIRE(records.size() == 1u);
    BOOST_TEST(records[0].lsn == 2u);
    BOOST_TEST_REQUIRE(damage.size() == 1u);
    BOOST_TEST(damage[0].offset == 0u);
}

BOOST_AUTO_TEST_CASE(damaged_block_between_two_fragmented_records_never_joins_them) {
    // Record X: first in block 0, last in block 1. Record Y: first in block
    // 1, last in block 2. Damage block 1: X's first and Y's last remain and
    // must not be spliced into one record.
    bytes seg;
    auto fill = [&](std::size_t n) { return bytes(n, std::byte{'x'}); };
    append(seg, frame(2, wal_record_type::put, 10, 1, fill(block - header)));
    append(seg, frame(4, wal_record_type::put, 10, 1, fill(100)));
    append(seg, frame(2, wal_record_type::put, 11, 1, fill(block - seg.size() % block - header)));
    append(seg, frame(4, wal_record_type::put, 11, 1, fill(50)));
    seg[block + 10] ^= std::byte{1};
    std::vector<wal_damage> damage;
    auto records = log_t::read_segment("s", seg, 0, &damage);
    BOOST_TEST(records.empty());
    BOOST_TEST(damage.size() >= 2u);
    // The same lsn/txid check also refuses a forged continuation.
    bytes forged;
    append(forged, frame(2, wal_record_type::put, 20, 1, as_bytes("a")));
    append(forged, frame(4, wal_record_type::put, 21, 1, as_bytes("b")));
    BOOST_TEST(log_t::read_segment("s", forged, 0).empty());
}

BOOST_AUTO_TEST_CASE(reading_from_an_offset_inside_a_record) {
    memory_storage mem;
    std::vector<std::string> values = {"a", std::string(3 * block, 'B'), "c", "d"};
    write_log(mem, values);
    auto data = *mem.read(only_segment(mem));
    auto all = log_t::read_segment("s", data, 0);
    // From inside the big record (in its second block): the reader skips its
    // continuation fragments and starts at the next record.
    auto from_inside = log_t::read_segment("s", data, block + 100);
    BOOST_TEST_REQUIRE(!from_inside.empty());
    BOOST_TEST(from_inside.front().lsn > all[2].lsn);
    BOOST_TEST(from_inside.back().lsn == all.back().lsn);
    // From exactly a record's start, that record comes first.
    auto from_start = log_t::read_segment("s", data, all[1].offset);
    BOOST_TEST(from_start.front().lsn == all[1].lsn);
}

BOOST_AUTO_TEST_CASE(transactions_need_their_commit_record) {
    memory_storage mem;
    {
        log_t log(mem, "wal", plain_segments());
        wal_recovery_report r;
        log.recover(r);
        std::vector<wal_op> ops{put_op("a", "1"), put_op("b", "2")};
        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
    }
    auto seg = only_segment(mem);
    auto size = *mem.size(seg);
    memory_storage cut;
    cut.replace(seg, bytes_view(*mem.read(seg)).first(size - (header + 4)), durability::full);  // commit record gone
    wal_recovery_report r;
    BOOST_TEST(recover_values(cut, wal_recovery::tolerate_tail, &r).empty());
    BOOST_TEST(r.transactions_dropped == 1u);
}

// Segments filled with zeros ahead of their records (the default on
// storages that write logs at a position): the zeros are unused space, not
// damage, in every mode; a record torn into the zeros is a torn tail; bytes
// after the zeros are damage.
BOOST_AUTO_TEST_CASE(preallocated_segments_end_at_the_zeros) {
    memory_storage mem;
    wal_options o;
    o.preallocate = 64 * 1024;
    std::vector<std::string> values = {"one", std::string(70000, 'x'), "three"};  // the second grows the zeros
    write_log(mem, values, o);
    auto seg = only_segment(mem);
    const bytes data = *mem.read(seg);
    BOOST_TEST(data.size() == 2u * 64 * 1024);  // zeros written ahead, in steps of `preallocate`
    for (auto mode : {wal_recovery::absolute, wal_recovery::tolerate_tail, wal_recovery::point_in_time, wal_recovery::salvage}) {
        wal_recovery_report r;
        BOOST_TEST(recover_values(mem, mode, &r) == values);
        BOOST_TEST(r.damage.empty());
        BOOST_TEST(r.bytes_truncated == 0u);
    }
    // Where the records end: the same log written without zeros ahead.
    memory_storage plain;
    write_log(plain, values);
    const std::size_t end = static_cast<std::size_t>(*plain.size(only_segment(plain)));
    BOOST_TEST_REQUIRE(std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(end), plain.read(only_segment(plain))->begin()));
    // The last transaction's commit record lost its last bytes to the
    // power cut (they stayed zero): a torn tail.
    {
        memory_storage torn;
        bytes t = data;
        std::fill(t.begin() + static_cast<std::ptrdiff_t>(end - 6), t.begin() + static_cast<std::ptrdiff_t>(end), std::byte{0});
        torn.replace(seg, t, durability::full);
        wal_recovery_report r;
        BOOST_TEST(recover_values(torn, wal_recovery::tolerate_tail, &r) == (std::vector<std::string>{"one", values[1]}));
        BOOST_TEST(r.bytes_truncated > 0u);
        BOOST_CHECK_THROW(recover_values(torn, wal_recovery::absolute), stowage::error);
    }
    // Something after the zeros is not unused space: damage in every mode
    // that reports it, and not a tail that tolerate_tail may cut.
    {
        memory_storage junk;
        bytes t = data;
        t[end + 5000] = std::byte{0x5a};
        junk.replace(seg, t, durability::full);
        BOOST_CHECK_THROW(recover_values(junk, wal_recovery::absolute), stowage::error);
        BOOST_CHECK_THROW(recover_values(junk, wal_recovery::tolerate_tail), stowage::error);
        wal_recovery_report r;
        BOOST_TEST(recover_values(junk, wal_recovery::salvage, &r) == values);
        BOOST_TEST(!r.damage.empty());
    }
    // A log reopened after that appends to a new segment and reads back whole.
    write_log(mem, {"four"}, o);
    std::vector<std::string> all = values;
    all.push_back("four");
    BOOST_TEST(recover_values(mem, wal_recovery::absolute) == all);
}

BOOST_AUTO_TEST_CASE(segments_roll_and_checkpoints_delete_them) {
    memory_storage mem;
    wal_options o;
    o.segment_size = 4096;
    std::vector<std::string> values;
    for (int i = 0; i < 200; ++i) values.push_back(std::string(100, char('a' + i % 26)));
    write_log(mem, values, o);
    auto segments = [&] {
        std::size_t n = 0;
        for (auto& k : mem.list("wal/")) n += k.ends_with(".log");
        return n;
    };
    BOOST_TEST(segments() > 5u);
    BOOST_TEST(recover_values(mem, wal_recovery::absolute) == values);
    {
        log_t log(mem, "wal", o);
        wal_recovery_report r;
        log.recover(r);
        log.checkpoint(log.recovered_lsn());
    }
    BOOST_TEST(segments() <= 1u);
    BOOST_TEST(recover_values(mem, wal_recovery::absolute).empty());
}

// --- reused segments (wal_options::recycle_segments) -------------------------

static std::vector<std::string> keys_ending(memory_storage& mem, std::string_view suffix) {
    std::vector<std::string> out;
    for (auto& k : mem.list("wal/"))
        if (k.ends_with(suffix)) out.push_back(k);
    return out;
}

// Small segments, so that a few hundred records roll through many.
static wal_options small_segments() {
    wal_options o;
    o.segment_size = 4096;
    return o;
}

static std::vector<std::string> numbered_values(int from, int to) {
    std::vector<std::string> v;
    for (int i = from; i < to; ++i) v.push_back("v" + std::to_string(i) + std::string(80 + i % 50, char('a' + i % 26)));
    return v;
}

// Opens the log, recovers and checkpoints everything in it: every segment
// but the current one is applied and retired. Returns the log's counters.
static wal_stats checkpoint_everything(memory_storage& mem, const wal_options& o) {
    log_t log(mem, "wal", o);
    wal_recovery_report r;
    log.recover(r);
    log.checkpoint(log.recovered_lsn());
    return log.stats();
}

// A checkpoint keeps up to recycle_segments applied segments (as .free,
// which no reader takes for a segment) and deletes the rest; the next
// segments reuse them and read back exactly, in every recovery mode, though
// the old records still lie in the files after the new ones.
BOOST_AUTO_TEST_CASE(checkpoints_keep_applied_segments_for_reuse) {
    memory_storage mem;
    const wal_options o = small_segments();
    write_log(mem, numbered_values(0, 200), o);
    const std::size_t old_file_size = static_cast<std::size_t>(*mem.size(keys_ending(mem, ".log").front()));
    {
        const auto stats = checkpoint_everything(mem, o);
        BOOST_TEST(stats.segments_recycled == o.recycle_segments);
        BOOST_TEST(stats.segments_deleted > 0u);
    }
    BOOST_TEST(keys_ending(mem, ".free").size() == o.recycle_segments);
    BOOST_TEST(keys_ending(mem, ".recycled.log").empty());

    const auto values = numbered_values(200, 260);
    write_log(mem, values, o);
    auto reused = keys_ending(mem, ".recycled.log");
    BOOST_TEST(reused.size() == o.recycle_segments);
    BOOST_TEST(keys_ending(mem, ".free").empty());
    for (auto& k : reused) BOOST_TEST(*mem.size(k) == old_file_size);  // written over, not grown or cut
    for (auto mode : {wal_recovery::absolute, wal_recovery::tolerate_tail, wal_recovery::point_in_time, wal_recovery::salvage}) {
        wal_recovery_report r;
        BOOST_TEST(recover_values(mem, mode, &r) == values);
        BOOST_TEST(r.damage.empty());
        BOOST_TEST(r.bytes_truncated == 0u);
    }
    // A reused segment's old records are really there, after the new ones:
    // the reader tells them apart by their LSNs.
    auto data = *mem.read(reused.front());
    std::vector<wal_damage> damage;
    auto records = log_t::read_segment(reused.front(), data, 0, &damage);
    BOOST_TEST(damage.empty());
    const std::uint64_t first = std::stoull(reused.front().substr(4, 20));
    BOOST_TEST_REQUIRE(!records.empty());
    for (auto& rec : records) BOOST_TEST(rec.lsn >= first);

    // recycle_segments = 0: applied segments are deleted, none kept.
    {
        wal_options none = o;
        none.recycle_segments = 0;
        BOOST_TEST(checkpoint_everything(mem, none).segments_recycled == 0u);
    }
    BOOST_TEST(keys_ending(mem, ".free").empty());
}

// The same on real files: file_storage renames an applied segment to .free
// and back into use, and the log writes over its old bytes at positions
// (pwrite) and syncs them; a reopen reads exactly the new records.
BOOST_AUTO_TEST_CASE(file_storage_reuses_applied_segments) {
    stowage::test::scratch_dir dir("wal-reuse");
    const wal_options o = small_segments();
    auto write = [&](const std::vector<std::string>& values, bool checkpoint_after) {
        wal<file_storage> log(file_storage(dir.path()), "wal", o);
        wal_recovery_report r;
        log.recover(r);
        std::uint64_t lsn = 0;
        for (const auto& v : values) {
            std::vector<wal_op> ops{put_op("k", v)};
            lsn = log.append(log.next_txid(), ops);
            log.wait_durable(lsn, durability::full);
        }
        if (checkpoint_after) log.checkpoint(lsn);
        return log.stats();
    };
    auto with_suffix = [&](std::string_view suffix) {
        std::size_t n = 0;
        for (auto& e : std::filesystem::directory_iterator(dir.path() / "wal")) n += e.path().string().ends_with(suffix);
        return n;
    };
    auto stats = write(numbered_values(0, 200), true);
    BOOST_TEST(stats.segments_recycled == o.recycle_segments);
    BOOST_TEST(with_suffix(".free") == o.recycle_segments);
    const auto values = numbered_values(200, 260);
    write(values, false);
    BOOST_TEST(with_suffix(".recycled.log") == o.recycle_segments);
    wal<file_storage> log(file_storage(dir.path(), open_mode::read_only), "wal", [] {
        wal_options a = small_segments();
        a.recovery = wal_recovery::absolute;
        return a;
    }());
    wal_recovery_report r;
    std::vector<std::string> got;
    for (auto& tx : log.recover(r)) got.push_back(to_string(tx.ops.front().value));
    BOOST_TEST(got == values);
    BOOST_TEST(r.damage.empty());
}

// Where the last write into a reused segment was torn, neither an intact
// fragment nor the zero header written after each write's frames follows
// the records: a torn tail (cut by tolerate_tail, an error under absolute),
// not a clean end. A zero header with newer records after it is damage.
BOOST_AUTO_TEST_CASE(a_reused_segment_tells_a_torn_write_from_its_end) {
    memory_storage mem;
    const wal_options o = small_segments();
    write_log(mem, numbered_values(0, 200), o);
    checkpoint_everything(mem, o);
    const auto values = numbered_values(200, 205);  // fits one segment
    write_log(mem, values, o);
    auto reused = keys_ending(mem, ".recycled.log");
    BOOST_TEST_REQUIRE(reused.size() == 1u);
    const std::string seg = reused.front();
    const bytes data = *mem.read(seg);
    auto records = log_t::read_segment(seg, data, 0);
    BOOST_TEST_REQUIRE(records.size() == 2 * values.size());  // a put and a commit each
    const auto& last = records.back();
    const std::size_t end = static_cast<std::size_t>(last.offset + header + last.payload.size());
    for (std::size_t i = end; i < end + header; ++i) BOOST_TEST_REQUIRE((data[i] == std::byte{0}));  // the marker
    BOOST_TEST_REQUIRE(std::any_of(data.begin() + static_cast<std::ptrdiff_t>(end + header), data.end(),
                                   [](std::byte b) { return b != std::byte{0}; }));  // old records after it
    auto install = [&](memory_storage& m, const bytes& d) {
        for (auto& k : mem.list("wal/")) m.replace(k, *mem.read(k), durability::full);
        m.replace(seg, d, durability::full);
    };
    std::vector<std::string> all_but_last(values.begin(), values.end() - 1);
    {
        // The last write was torn: its commit record's last bytes and the
        // marker are the old ones.
        memory_storage torn;
        bytes t = data;
        for (std::size_t i = end - 6; i < end + header; ++i) t[i] = std::byte{0x5a};
        install(torn, t);
        wal_recovery_report r;
        BOOST_TEST(recover_values(torn, wal_recovery::tolerate_tail, &r) == all_but_last);
        BOOST_TEST(r.bytes_truncated > 0u);
        BOOST_TEST_REQUIRE(r.damage.size() == 1u);
        BOOST_TEST(r.damage.front().torn_tail);
        BOOST_CHECK_THROW(recover_values(torn, wal_recovery::absolute), stowage::error);
    }
    {
        // A zero header before newer records: damage in the middle.
        memory_storage holed;
        bytes t = data;
        const auto& second_put = records[2];
        std::fill(t.begin() + static_cast<std::ptrdiff_t>(second_put.offset),
                  t.begin() + static_cast<std::ptrdiff_t>(second_put.offset + header), std::byte{0});
        install(holed, t);
        BOOST_CHECK_THROW(recover_values(holed, wal_recovery::tolerate_tail), stowage::error);
        wal_recovery_report r;
        auto salvaged = recover_values(holed, wal_recovery::salvage, &r);
        BOOST_TEST(!r.damage.empty());
        BOOST_TEST(salvaged.size() < values.size());
        BOOST_TEST(salvaged.front() == values.front());
    }
}

// Power cuts while reused segments are written, checkpointed and reused
// again across several opens: every acknowledged commit after the last
// checkpoint comes back, in order, and nothing else.
BOOST_AUTO_TEST_CASE(reused_segments_survive_power_cuts) {
    auto seed = stowage::test::test_seed();
    std::size_t reused_seen = 0;
    for (std::uint64_t round = 0; round < 40; ++round) {
        memory_storage mem(memory_storage::options{seed + round, true});
        wal_options o = small_segments();
        o.segment_size = 2000 + round * 97;
        std::vector<std::string> written;  // since the last checkpoint, in order
        std::size_t acknowledged = 0;      // of written
        int next = 0;
        for (int life = 0; life < 4; ++life) {
            log_t log(mem, "wal", o);
            wal_recovery_report r;
            auto txs = log.recover(r);
            std::vector<std::string> got;
            for (auto& tx : txs) got.push_back(to_string(tx.ops.front().value));
            BOOST_TEST_REQUIRE(got.size() >= acknowledged, "round " << round << " life " << life);
            BOOST_TEST_REQUIRE(got.size() <= written.size());
            for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST_REQUIRE(got[i] == written[i]);
            written = got;
            acknowledged = got.size();
            for (int i = 0; i < 50; ++i) {
                std::string v = "r" + std::to_string(round) + "-" + std::to_string(next++) +
                                std::string(static_cast<std::size_t>(next * 37 % 300), '.');
                std::vector<wal_op> ops{put_op("k", v)};
                auto lsn = log.append(log.next_txid(), ops);
                written.push_back(v);
                if (i % 3 == 0) {
                    log.wait_durable(lsn, durability::full);
                    acknowledged = written.size();
                }
                if (i % 17 == 16) {
                    log.wait_durable(lsn, durability::full);
                    log.checkpoint(lsn);
                    written.clear();
                    acknowledged = 0;
                }
            }
            reused_seen += keys_ending(mem, ".recycled.log").size();
            mem.crash();
        }
    }
    BOOST_TEST(reused_seen > 0u);
}

// A full disk keeps the log's own space: the segments kept for reuse and
// the reserve are not given back (on ext4 freed blocks are not handed out
// again before the journal commits, and anything else may take them), and
// the log goes on in the reserve, renamed into a segment, where erases
// still fit. The fault is put on each step of an append that reuses a
// segment and needs zeros ahead of a large record.
BOOST_AUTO_TEST_CASE(a_full_disk_keeps_the_log_space_and_takes_erases) {
    std::size_t full_seen = 0;
    for (std::uint64_t step = 1; step <= 12; ++step) {
        BOOST_TEST_CONTEXT("step " << step) {
            faulty_storage<memory_storage> fs;
            wal<faulty_storage<memory_storage>> log(fs, "wal", small_segments());
            wal_recovery_report r;
            log.recover(r);
            std::uint64_t lsn = 0;
            for (const auto& v : numbered_values(0, 200)) {
                std::vector<wal_op> ops{put_op("k", v)};
                lsn = log.append(log.next_txid(), ops);
            }
            log.wait_durable(lsn, durability::full);
            log.checkpoint(lsn);
            auto kept = [&] {
                std::size_t n = 0;
                for (auto& k : fs.inner().list("wal/")) n += k.ends_with(".free");
                return n;
            };
            BOOST_TEST_REQUIRE(kept() == 2u);
            fs.fail_at(step, fault::no_space);
            std::vector<wal_op> ops{put_op("big", std::string(3 << 20, 'x'))};  // past a reused file's bytes
            try {
                log.wait_durable(log.append(log.next_txid(), ops), durability::full);
                continue;  // the fault fell after the append's writes
            } catch (const stowage::error& e) {
                if (e.kind() != errc::no_space) continue;
            }
            ++full_seen;
            fs.heal();
            BOOST_TEST(!log.failed());
            // Nothing given away: the two kept segments and the reserve are
            // still there, as they are or taken over as segments.
            std::size_t log_files = 0;
            for (auto& k : fs.inner().list("wal/"))
                log_files += k.ends_with(".free") || k.ends_with(".recycled.log") || k == "wal/reserve";
            std::string listed;
            for (auto& k : fs.inner().list("wal/")) listed += k + "(" + std::to_string(fs.inner().size(k).value_or(0)) + ") ";
            BOOST_TEST(log_files >= 3u, listed);
            // Puts are refused, erases go in (into the reserve's space).
            BOOST_CHECK_THROW(log.append(log.next_txid(), ops), stowage::error);
            wal_op erase;
            erase.type = wal_record_type::erase;
            erase.key = "k";
            std::vector<wal_op> erases{erase};
            log.wait_durable(log.append(log.next_txid(), erases), durability::full);
            log.checkpoint(log.durable_lsn());
            BOOST_TEST(fs.inner().contains("wal/reserve"));  // restored once space is back
            std::vector<wal_op> small{put_op("after", "x")};
            log.wait_durable(log.append(log.next_txid(), small), durability::full);
        }
    }
    BOOST_TEST(full_seen > 0u);
}

BOOST_AUTO_TEST_CASE(crash_during_writes_keeps_every_acknowledged_commit) {
    auto seed = stowage::test::test_seed();
    for (std::uint64_t round = 0; round < 60; ++round) {
        memory_storage mem(memory_storage::options{seed + round, true});
        wal_options o;
        o.segment_size = 2000 + round * 50;
        std::vector<std::string> written;
        {
            log_t log(mem, "wal", o);
            wal_recovery_report r;
            log.recover(r);
            for (int i = 0; i < 41; ++i) {
                std::string v = "r" + std::to_string(round) + "-" + std::to_string(i) +
                                std::string(static_cast<std::size_t>(i * 37 % 300), '.');
                std::vector<wal_op> ops{put_op("k", v)};
                auto lsn = log.append(log.next_txid(), ops);
                written.push_back(v);
                if (i % 3 == 0) log.wait_durable(lsn, durability::full);  // acknowledged
            }
            mem.crash();
        }
        auto got = recover_values(mem, wal_recovery::tolerate_tail);
        // A prefix of what was written, at least up to the last acknowledged
        // (index 39).
        BOOST_TEST_REQUIRE(got.size() >= 40u);
        for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i] == written[i]);
        // And the log keeps working after recovery (the torn tail was cut).
        write_log(mem, {"after"}, o);
        auto again = recover_values(mem, wal_recovery::tolerate_tail);
        BOOST_TEST(again.back() == "after");
    }
}

// Followers that yield before they sleep (the default) and followers that
// sleep at once are woken by the same syncs.
BOOST_AUTO_TEST_CASE(group_commit_shares_syncs) {
    for (auto spin : {wal_options{}.follower_spin, std::chrono::microseconds(0)}) {
        BOOST_TEST_CONTEXT("follower_spin " << spin.count() << " us") {
            stowage::test::scratch_dir dir("wal-group");
            wal_options o;
            o.follower_spin = spin;
            wal<file_storage> log(file_storage(dir.path()), "wal", o);
            wal_recovery_report r;
            log.recover(r);
            std::vector<std::thread> threads;
            for (int t = 0; t < 8; ++t)
                threads.emplace_back([&, t] {
                    for (int i = 0; i < 40; ++i) {
                        std::vector<wal_op> ops{put_op("t" + std::to_string(t), std::string(1000, 'x'))};
                        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
                    }
                });
            for (auto& t : threads) t.join();
            auto s = log.stats();
            BOOST_TEST(s.commits == 320u);
            BOOST_TEST(s.fsyncs < s.commits);  // one sync acknowledged several commits
            BOOST_TEST_MESSAGE("320 commits, " << s.fsyncs << " fsyncs");
        }
    }
}

// durability::batched returns at once and is synced by the background
// syncer within the window; durability::none is never synced by it (only by
// a later sync of someone else's commit, a flush or a checkpoint).
BOOST_AUTO_TEST_CASE(batched_commits_are_synced_within_the_window_and_none_never) {
    memory_storage mem;
    wal_options o;
    o.batch_window = std::chrono::milliseconds(20);
    log_t log(mem, "wal", o);
    wal_recovery_report r;
    log.recover(r);
    auto wait_for_durable = [&](std::uint64_t lsn, std::chrono::milliseconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (log.durable_lsn() < lsn && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return log.durable_lsn() >= lsn;
    };
    std::vector<wal_op> ops{put_op("k", "v")};
    for (int round = 0; round < 3; ++round) {
        const auto lsn = log.append(log.next_txid(), ops);
        log.wait_durable(lsn, durability::batched);
        BOOST_TEST(wait_for_durable(lsn, std::chrono::seconds(5)), "round " << round);
    }
    const auto fsyncs = log.stats().fsyncs;
    const auto unsynced = log.append(log.next_txid(), ops);
    log.wait_durable(unsynced, durability::none);
    BOOST_TEST(!wait_for_durable(unsynced, std::chrono::milliseconds(100)));  // five windows
    BOOST_TEST(log.stats().fsyncs == fsyncs);
    const auto full = log.append(log.next_txid(), ops);
    log.wait_durable(full, durability::full);
    BOOST_TEST(log.durable_lsn() >= unsynced);
}

// The leader's wait for other committers (wal_options::group_commit_wait):
// never taken by a lone committer; taken when fewer than half the recent
// committers have a commit pending while others are still preparing theirs
// (begin_commit .. end_commit, as the database brackets a transaction); and
// never when no commit is being prepared.
BOOST_AUTO_TEST_CASE(group_commit_leader_waits_only_when_others_commit) {
    stowage::test::scratch_dir dir("wal-group-wait");
    wal<file_storage> log(file_storage(dir.path()), "wal");
    wal_recovery_report r;
    log.recover(r);
    auto append = [&](const std::string& key) {
        std::vector<wal_op> ops{put_op(key, std::string(200, 'x'))};
        return log.append(log.next_txid(), ops);
    };
    for (int i = 0; i < 50; ++i) {
        log.begin_commit();
        auto lsn = append("alone");
        log.end_commit();
        log.wait_durable(lsn, durability::full);
    }
    BOOST_TEST(log.stats().group_waits == 0u);
    BOOST_TEST(log.stats().fsyncs == 50u);

    // Eight committers wait for one sync together: the leader's estimate of
    // recent committers becomes eight.
    {
        std::vector<std::uint64_t> lsns;
        for (int t = 0; t < 8; ++t) lsns.push_back(append("t" + std::to_string(t)));
        std::vector<std::thread> waiters;
        for (int t = 0; t < 8; ++t) waiters.emplace_back([&, t] { log.wait_durable(lsns[t], durability::full); });
        for (auto& w : waiters) w.join();
    }
    const auto before = log.stats().group_waits;
    // Seven of them are preparing their next commits when the eighth commits:
    // one pending of eight recent committers, so its sync waits for more
    // (until the bound: the others never arrive here).
    for (int t = 0; t < 7; ++t) log.begin_commit();
    log.begin_commit();
    auto lsn = append("first");
    log.end_commit();
    log.wait_durable(lsn, durability::full);
    BOOST_TEST(log.stats().group_waits == before + 1);
    // When nothing is being prepared any more, the next leader does not wait.
    for (int t = 0; t < 7; ++t) log.end_commit();
    log.wait_durable(append("second"), durability::full);
    BOOST_TEST(log.stats().group_waits == before + 1);

    // Unbracketed commits: nothing is known to be coming, so no leader waits.
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) log.wait_durable(append("u" + std::to_string(t)), durability::full);
        });
    for (auto& t : threads) t.join();
    BOOST_TEST(log.stats().commits == 50u + 8u + 2u + 160u);
    BOOST_TEST(log.stats().group_waits == before + 1);
}

BOOST_AUTO_TEST_CASE(failed_sync_poisons_the_log_until_reopen) {
    faulty_storage<memory_storage> fs;
    {
        wal<faulty_storage<memory_storage>> log(fs, "wal");
        wal_recovery_report r;
        log.recover(r);
        std::vector<wal_op> ops{put_op("a", "1")};
        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
        auto lsn = log.append(log.next_txid(), ops);
        fs.fail_at(1, fault::io);  // the sync
        BOOST_CHECK_THROW(log.wait_durable(lsn, durability::full), stowage::error);
        fs.heal();
        try {
            log.append(log.next_txid(), ops);
            BOOST_ERROR("append after a failed sync succeeded");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::failed_state));
        }
        BOOST_TEST(log.failed());
    }
    wal<faulty_storage<memory_storage>> reopened(fs, "wal");
    wal_recovery_report r;
    auto txs = reopened.recover(r);
    BOOST_TEST(txs.size() >= 1u);
    std::vector<wal_op> ops{put_op("b", "2")};
    reopened.wait_durable(reopened.append(reopened.next_txid(), ops), durability::full);
}

// Plain segments: each append writes its frames itself.
// Zeros ahead with deferred writes (the default where the storage writes
// logs at a position): an append whose zeros cannot be extended is refused
// cleanly (torn or full disk), erases still go in on a full disk, and a
// failed write of the queued frames at sync time fails the log.
BOOST_AUTO_TEST_CASE(deferred_writes_fail_cleanly) {
    faulty_storage<memory_storage> fs;
    wal_options o;
    o.preallocate = 1024;  // smaller than a record: every put extends the zeros
    std::vector<wal_op> ops{put_op("a", std::string(1500, 'a'))};
    {
        wal<faulty_storage<memory_storage>> log(fs, "wal", o);
        wal_recovery_report r;
        log.recover(r);
        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
        fs.fail_at(1, fault::torn);  // the zeros' write
        BOOST_CHECK_THROW(log.append(log.next_txid(), ops), stowage::error);
        BOOST_TEST(!log.failed());
        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
        fs.fail_at(1, fault::no_space);
        try {
            log.append(log.next_txid(), ops);
            BOOST_ERROR("append on a full disk succeeded");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::no_space));
        }
        fs.heal();
        BOOST_TEST(!log.failed());
        BOOST_TEST(!fs.inner().contains("wal/reserve"));  // released for erases
        BOOST_CHECK_THROW(log.append(log.next_txid(), ops), stowage::error);
        wal_op erase;
        erase.type = wal_record_type::erase;
        erase.key = "a";
        std::vector<wal_op> erases{erase};
        log.wait_durable(log.append(log.next_txid(), erases), durability::full);
        log.checkpoint(log.durable_lsn());
        BOOST_TEST(fs.inner().contains("wal/reserve"));
        log.wait_durable(log.append(log.next_txid(), ops), durability::full);
        BOOST_TEST(recover_values(fs.inner(), wal_recovery::absolute).size() == 1u);
        // A small record fits the zeros already there: queued, and written
        // by the sync, whose failure fails the log.
        std::vector<wal_op> small{put_op("b", "x")};
        auto lsn = log.append(log.next_txid(), small);
        fs.fail_at(1, fault::io);
        try {
            log.wait_durable(lsn, durability::full);
            BOOST_ERROR("a commit whose frames were not written was acknowledged");
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::failed_state));
        }
        BOOST_TEST(log.failed());
        fs.heal();
    }
    // Reopened: everything acknowledged is there, the unwritten commit is not.
    BOOST_TEST(recover_values(fs.inner(), wal_recovery::absolute) == (std::vector<std::string>{std::string(1500, 'a')}));
}

BOOST_AUTO_TEST_CASE(failed_append_is_cut_back_and_full_disk_keeps_erases) {
    faulty_storage<memory_storage> fs;
    wal<faulty_storage<memory_storage>> log(fs, "wal", plain_segments());
    wal_recovery_report r;
    log.recover(r);
    std::vector<wal_op> ops{put_op("a", std::string(500, 'a'))};
    log.wait_durable(log.append(log.next_txid(), ops), durability::full);
    fs.fail_at(1, fault::torn);
    BOOST_CHECK_THROW(log.append(log.next_txid(), ops), stowage::error);
    BOOST_TEST(!log.failed());
    log.wait_durable(log.append(log.next_txid(), ops), durability::full);
    // ENOSPC: puts are refused until a checkpoint, erases still go in.
    fs.fail_at(1, fault::no_space);
    try {
        log.append(log.next_txid(), ops);
        BOOST_ERROR("append on a full disk succeeded");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::no_space));
    }
    fs.heal();
    BOOST_TEST(!fs.inner().contains("wal/reserve"));  // released for erases
    BOOST_CHECK_THROW(log.append(log.next_txid(), ops), stowage::error);
    wal_op erase;
    erase.type = wal_record_type::erase;
    erase.key = "a";
    std::vector<wal_op> erases{erase};
    log.wait_durable(log.append(log.next_txid(), erases), durability::full);
    log.checkpoint(log.durable_lsn());
    BOOST_TEST(fs.inner().contains("wal/reserve"));
    log.wait_durable(log.append(log.next_txid(), ops), durability::full);
    auto recovered = recover_values(fs.inner(), wal_recovery::absolute);
    BOOST_TEST(recovered.size() == 1u);  // after the checkpoint: the last put
}
