// Tests for cas_map.hpp: round trips with every chunking policy at sizes
// around every boundary, ids equal to sha256sum's, dedup, verification of
// damaged chunks, references against a model with crashes in between, GC
// never freeing a referenced blob (also racing puts), and a 200 MB stream
// put with bounded memory.
#define BOOST_TEST_MODULE cas_map
#include "test_support.hpp"

#include <fstream>
#include <set>
#include <sys/wait.h>
#include <thread>

#include "stowage/cas_map.hpp"
#include "stowage/chunk/fastcdc.hpp"
#include "stowage/chunk/fixed_size.hpp"
#include "stowage/storage/faulty.hpp"
#include "stowage/storage/file.hpp"
#include "stowage/storage/memory.hpp"

using namespace stowage;
using stowage::test::scratch_dir;

static bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    bytes b(n);
    for (auto& x : b) x = std::byte(rng() & 0xff);
    return b;
}

static cas_options no_grace() {
    cas_options o;
    o.grace = std::chrono::seconds(0);
    o.read_block = 4096;  // small blocks exercise the streaming paths
    return o;
}

template <class Chunking>
void round_trips(Chunking chunking, std::vector<std::size_t> sizes) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, Chunking> cas(db, chunking, no_grace());
    for (std::size_t n : sizes) {
        BOOST_TEST_CONTEXT("size " << n) {
            auto data = random_bytes(n, n + 1);
            auto d = cas.put(data);
            BOOST_TEST(to_hex(d) == to_hex(hash_of<sha256>(data)));  // the id sha256sum prints
            BOOST_TEST((*cas.get(d) == data));
            // Streaming put gives the same id; streaming get the same bytes.
            std::istringstream in(std::string(as_chars(data)));
            BOOST_TEST(to_hex(cas.put(in)) == to_hex(d));
            std::ostringstream out;
            BOOST_TEST(cas.get(d, out));
            BOOST_TEST(out.str() == std::string(as_chars(data)));
            BOOST_TEST(*cas.size(d) == n);
        }
    }
    BOOST_TEST(cas.verify().ok());
    BOOST_TEST(db.raw_storage().list("cas/tmp/").empty());  // no temporary left behind
}

BOOST_AUTO_TEST_CASE(round_trips_whole) { round_trips(whole{}, {0, 1, 4095, 4096, 4097, 3 << 20}); }
BOOST_AUTO_TEST_CASE(round_trips_fixed) { round_trips(fixed_size(10000), {0, 1, 9999, 10000, 10001, 3 << 20}); }
BOOST_AUTO_TEST_CASE(round_trips_fastcdc) {
    round_trips(fastcdc(1024, 4096, 16384), {0, 1, 1023, 1024, 1025, 16383, 16384, 16385, 5 << 20});
}
BOOST_AUTO_TEST_CASE(round_trips_whole_on_file_storage_streams_via_rename) {
    scratch_dir dir("cas-file");
    database<file_storage> db{file_storage(dir.path())};
    cas_map<file_storage> cas(db, whole{}, no_grace());
    for (std::size_t n : {std::size_t(0), std::size_t(5000), std::size_t(2 << 20)}) {
        auto data = random_bytes(n, 9);
        std::istringstream in(std::string(as_chars(data)));
        auto d = cas.put(in);
        BOOST_TEST((*cas.get(d) == data));
        BOOST_TEST(db.raw_storage().contains(cas.chunk_key(to_hex(d))));
        // put(bytes) of a large one-chunk blob (stored under a temporary key
        // while it is hashed, then renamed) gives the same id, stored once.
        auto physical = cas.stats().physical_bytes;
        BOOST_TEST(to_hex(cas.put(data)) == to_hex(d));
        BOOST_TEST(cas.stats().physical_bytes == physical);
    }
    auto fresh = random_bytes(3 << 20, 10);
    auto d = cas.put(fresh);
    BOOST_TEST(to_hex(d) == to_hex(hash_of<sha256>(fresh)));
    BOOST_TEST((*cas.get(d) == fresh));
    BOOST_TEST(db.raw_storage().list("cas/tmp/").empty());
}

// A put of a large multi-chunk blob stores chunks from two threads; a
// storage fault on either of them fails the put with the error (no hang,
// no crash), and after it the content puts and reads back whole.
BOOST_AUTO_TEST_CASE(a_fault_while_two_cores_store_chunks_fails_the_put_cleanly) {
    using faulty = faulty_storage<memory_storage>;
    auto data = random_bytes(3 << 20, 77);
    const auto want = to_hex(hash_of<sha256>(data));
    std::uint64_t steps = 0;  // storage operations of one clean put
    {
        faulty fs;
        database<faulty> db(fs);
        cas_map<faulty, sha256, fastcdc> cas(db, fastcdc(4096, 16384, 65536), no_grace());
        auto before = fs.steps();
        BOOST_TEST(to_hex(cas.put(data)) == want);
        steps = fs.steps() - before;
    }
    BOOST_TEST_REQUIRE(steps > 200u);  // ~190 chunks: contains + replace each
    std::size_t failed = 0;
    for (std::uint64_t n = 1; n < steps; n += 1 + steps / 23) {
        BOOST_TEST_CONTEXT("fault at step " << n) {
            faulty fs;
            {
                database<faulty> db(fs);
                cas_map<faulty, sha256, fastcdc> cas(db, fastcdc(4096, 16384, 65536), no_grace());
                fs.fail_at(n, fault::io);
                try {
                    BOOST_TEST(to_hex(cas.put(data)) == want);
                } catch (const stowage::error&) {
                    ++failed;
                }
                BOOST_TEST(fs.fired());
            }
            fs.heal();
            database<faulty> db(fs);
            cas_map<faulty, sha256, fastcdc> cas(db, fastcdc(4096, 16384, 65536), no_grace());
            BOOST_TEST(to_hex(cas.put(data)) == want);
            BOOST_TEST((*cas.get(digest_from_hex<sha256>(want)) == data));
            BOOST_TEST(cas.verify().ok());
        }
    }
    BOOST_TEST(failed > 10u);
}

BOOST_AUTO_TEST_CASE(dedup_and_stats) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fastcdc> cas(db, fastcdc(1024, 4096, 16384), no_grace());
    auto v1 = random_bytes(1 << 20, 1);
    bytes v2 = v1;
    v2.insert(v2.begin() + 300000, std::byte{42});  // a slightly changed file
    auto d1 = cas.put(v1);
    auto s1 = cas.stats();
    cas.put(v1);  // the same content again: stored once
    auto s2 = cas.stats();
    BOOST_TEST(s2.physical_bytes == s1.physical_bytes);
    BOOST_TEST(s2.logical_bytes == 2 * s1.logical_bytes);
    BOOST_TEST(s2.blobs == 1u);
    auto d2 = cas.put(v2);
    auto s3 = cas.stats();
    BOOST_TEST(to_hex(d1) != to_hex(d2));
    BOOST_TEST(s3.blobs == 2u);
    // Only the changed chunks cost space.
    BOOST_TEST(s3.physical_bytes - s2.physical_bytes < 64u * 1024);
    BOOST_TEST(s3.dedup_ratio() > 2.5);
}

BOOST_AUTO_TEST_CASE(damaged_chunks_are_caught) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fixed_size> cas(db, fixed_size(4096), no_grace());
    auto data = random_bytes(20000, 5);
    auto d = cas.put(data);
    auto keys = mem.list("cas/sha256/");
    BOOST_TEST_REQUIRE(keys.size() == 5u);
    bytes chunk = *mem.read(keys[2]);
    chunk[100] ^= std::byte{1};
    mem.replace(keys[2], chunk, durability::full);
    try {
        (void)cas.get(d);
        BOOST_ERROR("damaged blob returned");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::checksum_mismatch));
    }
    auto report = cas.verify();
    BOOST_TEST(report.damaged.size() == 2u);  // the chunk, and the blob using it
    mem.remove(keys[2], durability::full);
    try {
        (void)cas.get(d);
        BOOST_ERROR("blob with a missing chunk returned");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::corrupt));
    }
}

// Random add/remove of references mirrored in a model, with power loss and
// reopen in between: acknowledged (full durability) changes are exact.
BOOST_AUTO_TEST_CASE(references_against_a_model_with_crashes) {
    auto seed = stowage::test::test_seed();
    std::mt19937_64 rng(seed);
    memory_storage mem(memory_storage::options{seed, true});
    std::vector<sha256::digest> blobs;
    std::map<std::string, std::set<std::pair<std::string, std::string>>> model;
    {
        database<memory_storage> db(mem);
        cas_map<memory_storage> cas(db, whole{}, no_grace());
        for (int i = 0; i < 8; ++i) blobs.push_back(cas.put(random_bytes(100 + i, i)));
    }
    for (int life = 0; life < 12; ++life) {
        auto db = std::make_unique<database<memory_storage>>(mem);
        auto cas = std::make_unique<cas_map<memory_storage>>(*db, whole{}, no_grace());
        for (auto& b : blobs) {
            auto refs = cas->refs(b);
            std::set<std::pair<std::string, std::string>> got;
            for (auto& r : refs) got.insert({r.owner, r.name});
            BOOST_TEST_REQUIRE((got == model[to_hex(b)]), "life " << life);
            BOOST_TEST(cas->ref_count(b) == model[to_hex(b)].size());
        }
        for (int op = 0; op < 30; ++op) {
            auto& b = blobs[rng() % blobs.size()];
            std::string owner = "owner" + std::to_string(rng() % 4);
            if (rng() % 3) {
                std::string name = "att" + std::to_string(rng() % 2);
                cas->add_ref(b, owner, name);
                model[to_hex(b)].insert({owner, name});
            } else {
                cas->remove_ref(b, owner);
                std::erase_if(model[to_hex(b)], [&](auto& p) { return p.first == owner; });
            }
        }
        mem.crash();
        cas.reset();
        db.reset();
    }
}

BOOST_AUTO_TEST_CASE(references_commit_with_the_callers_transaction) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage> cas(db, whole{}, no_grace());
    auto d = cas.put(random_bytes(1000, 1));
    {
        auto tx = db.transaction();
        cas.add_ref(tx, d, "session-1", "video");
        BOOST_TEST(cas.ref_count(d) == 0u);  // not before commit
        tx.rollback();
    }
    BOOST_TEST(cas.ref_count(d) == 0u);
    auto tx = db.transaction();
    cas.add_ref(tx, d, "session-1", "video");
    tx.commit();
    BOOST_TEST(cas.ref_count(d) == 1u);
    auto missing = hash_of<sha256>(std::string_view("never stored"));
    BOOST_CHECK_THROW(cas.add_ref(missing, "o", "n"), stowage::error);
}

BOOST_AUTO_TEST_CASE(gc_frees_only_unreferenced_blobs) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fastcdc> cas(db, fastcdc(1024, 4096, 16384), no_grace());
    auto shared = random_bytes(200000, 1);
    bytes variant = shared;
    variant[150000] ^= std::byte{1};
    auto kept = cas.put(shared);
    auto dropped = cas.put(variant);            // shares most chunks with `kept`
    auto orphan = cas.put(random_bytes(50000, 2));  // put, never referenced
    cas.add_ref(kept, "s1", "a");
    cas.add_ref(dropped, "s2", "b");
    cas.remove_ref(dropped, "s2");
    auto before = cas.stats();
    auto report = cas.collect_garbage();
    BOOST_TEST(report.blobs_freed == 2u);
    BOOST_TEST(report.bytes_freed > 50000u);
    BOOST_TEST((*cas.get(kept) == shared));  // its chunks, shared with `dropped`, survived
    BOOST_TEST(!cas.get(dropped).has_value());
    BOOST_TEST(!cas.get(orphan).has_value());
    BOOST_TEST(cas.stats().physical_bytes == before.physical_bytes - report.bytes_freed);
    BOOST_TEST(cas.verify().ok());
    // With a grace period, a fresh unreferenced blob survives.
    cas_options graceful;
    graceful.grace = std::chrono::hours(1);
    cas_map<memory_storage, sha256, fastcdc> patient(db, fastcdc(1024, 4096, 16384), graceful);
    auto fresh = patient.put(random_bytes(30000, 3));
    patient.collect_garbage();
    BOOST_TEST(patient.get(fresh).has_value());
}

BOOST_AUTO_TEST_CASE(blobs_lists_every_blob_with_size_and_puts) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fixed_size> cas(db, fixed_size(4096), no_grace());
    BOOST_TEST(cas.blobs().empty());
    std::map<std::string, cas_blob_info> want;
    for (std::size_t i = 0; i < 6; ++i) {
        auto data = random_bytes(1000 * i + 7, 40 + i);
        auto d = cas.put(data);
        want[to_hex(d)] = {to_hex(d), data.size(), 1};
    }
    auto again = cas.put(random_bytes(3007, 43));  // a second put of blob 3
    want[to_hex(again)].puts = 2;
    auto got = cas.blobs();
    BOOST_TEST_REQUIRE(got.size() == 6u);
    for (std::size_t i = 1; i < got.size(); ++i) BOOST_TEST(got[i - 1].id < got[i].id);  // digest order
    for (const auto& b : got) {
        BOOST_TEST_REQUIRE(want.count(b.id) == 1u);
        BOOST_TEST((b == want[b.id]));
        BOOST_TEST(*cas.size(digest_from_hex<sha256>(b.id)) == b.size);
    }
    // A reopened map lists the same.
    cas_map<memory_storage, sha256, fixed_size> reopened(db, fixed_size(4096), no_grace());
    BOOST_TEST((reopened.blobs() == got));
    cas.collect_garbage();  // nothing referenced: all freed
    BOOST_TEST(cas.blobs().empty());
}

BOOST_AUTO_TEST_CASE(head_returns_verified_prefixes) {
    memory_storage mem;
    database<memory_storage> db(mem);
    // 4096-byte chunks, read in 4096-byte blocks (no_grace's read_block).
    cas_map<memory_storage, sha256, fixed_size> cas(db, fixed_size(4096), no_grace());
    auto data = random_bytes(20000, 9);
    auto d = cas.put(data);
    for (std::size_t n : {0u, 1u, 64u, 4095u, 4096u, 4097u, 12288u, 19999u, 20000u, 50000u}) {
        BOOST_TEST_CONTEXT("n " << n) {
            auto h = cas.head(d, n);
            BOOST_TEST_REQUIRE(h.has_value());
            std::size_t want = std::min<std::size_t>(n, data.size());
            BOOST_TEST((*h == bytes(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(want))));
        }
    }
    BOOST_TEST(!cas.head(hash_of<sha256>(std::string_view("absent")), 10).has_value());
    auto empty = cas.put(bytes{});
    BOOST_TEST(cas.head(empty, 10)->empty());

    // Damage in a chunk is found by a head that reads it, never by one
    // that stops before it.
    auto keys = mem.list("cas/sha256/");
    std::string third = cas_map<memory_storage, sha256, fixed_size>::chunk_key(to_hex(hash_of<sha256>(
        bytes_view(data).subspan(8192, 4096))));
    bytes chunk = *mem.read(third);
    chunk[4000] ^= std::byte{1};
    mem.replace(third, chunk, durability::full);
    BOOST_TEST(cas.head(d, 8192)->size() == 8192u);
    for (std::size_t n : {8193u, 12288u, 20000u}) {
        try {
            (void)cas.head(d, n);
            BOOST_ERROR("damaged chunk returned by head " << n);
        } catch (const stowage::error& e) {
            BOOST_TEST((e.kind() == errc::checksum_mismatch));
        }
    }
    mem.remove(third, durability::full);
    BOOST_CHECK_THROW((void)cas.head(d, 9000), stowage::error);

    // A chunk larger than a read block (a whole blob): a short prefix is read
    // alone (it cannot be verified without reading it all)...
    cas_map<memory_storage> whole_cas(db, whole{}, no_grace());
    auto big = random_bytes(100000, 11);
    auto bd = whole_cas.put(big);
    std::string key = cas_map<memory_storage>::chunk_key(to_hex(bd));
    bytes stored = *mem.read(key);
    stored[50000] ^= std::byte{1};
    mem.replace(key, stored, durability::full);
    auto prefix = whole_cas.head(bd, 64);
    BOOST_TEST_REQUIRE(prefix.has_value());
    BOOST_TEST((*prefix == bytes(big.begin(), big.begin() + 64)));
    // ...while one reaching into its last block reads and checks it whole.
    BOOST_CHECK_THROW((void)whole_cas.head(bd, 99000), stowage::error);
    BOOST_CHECK_THROW((void)whole_cas.head(bd, 100000), stowage::error);
}

BOOST_AUTO_TEST_CASE(refs_in_a_transaction_see_its_own_changes) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage> cas(db, whole{}, no_grace());
    auto d = cas.put(random_bytes(1000, 1));
    cas.add_ref(d, "a", "x");
    {
        auto tx = db.transaction();
        BOOST_TEST(cas.refs(tx, d).size() == 1u);
        cas.add_ref(tx, d, "b", "y");
        auto r = cas.refs(tx, d);
        BOOST_TEST_REQUIRE(r.size() == 2u);
        BOOST_TEST((r[1] == cas_ref{"b", "y"}));
        BOOST_TEST(cas.refs(d).size() == 1u);  // outside the transaction: not yet
        cas.remove_ref(tx, d, "a");
        cas.remove_ref(tx, d, "b");
        BOOST_TEST(cas.refs(tx, d).empty());
        tx.rollback();
    }
    BOOST_TEST(cas.refs(d).size() == 1u);
    // Reading the references makes a transaction conflict with a concurrent
    // change to them.
    db_store<cas_refs, memory_storage, binary_codec, crc32c> other(db.storage(), "other");
    auto tx = db.transaction();
    BOOST_TEST(cas.refs(tx, d).size() == 1u);
    cas.add_ref(d, "c", "z");  // commits in between
    tx.put(other, cas_refs{"k", {}});
    try {
        tx.commit();
        BOOST_ERROR("a transaction that read stale references committed");
    } catch (const stowage::error& e) {
        BOOST_TEST((e.kind() == errc::conflict));
    }
    BOOST_TEST(cas.ref_count(d) == 2u);
}

BOOST_AUTO_TEST_CASE(gc_stops_when_asked_and_the_next_run_finishes) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fixed_size> cas(db, fixed_size(1000), no_grace());
    std::vector<sha256::digest> ds;
    for (int i = 0; i < 10; ++i) ds.push_back(cas.put(random_bytes(3000, 100 + i)));  // 3 chunks each
    cas.add_ref(ds[0], "o", "f");
    // Stop after three blobs were examined.
    int asked = 0;
    auto r = cas.collect_garbage({}, [&] { return ++asked > 3; });
    BOOST_TEST(r.stopped);
    BOOST_TEST(asked == 4);
    BOOST_TEST(r.blobs_freed >= 1u);
    BOOST_TEST(r.blobs_freed <= 3u);
    BOOST_TEST(r.chunks_freed == 0u);  // the sweep did not run
    BOOST_TEST(cas.stats().chunks == 30u);
    std::size_t left = 0;
    for (auto& d : ds) left += cas.contains(d);
    BOOST_TEST(left == 10u - r.blobs_freed);
    BOOST_TEST(cas.contains(ds[0]));

    // Stopped in the sweep: some chunks removed, the rest stay for later.
    // (The predicate is asked after each progress report, then before each
    // chunk removal: stop at the sixth removal.)
    int calls = 0, reports = 0;
    auto r2 = cas.collect_garbage([&](std::uint64_t, std::uint64_t) { ++reports; },
                                  [&] { return ++calls - reports > 5; });
    BOOST_TEST(r2.stopped);
    BOOST_TEST(r2.blobs_freed == left - 1);
    BOOST_TEST(r2.chunks_freed == 5u);
    BOOST_TEST(cas.stats().chunks == 25u);
    BOOST_TEST((*cas.get(ds[0]) == random_bytes(3000, 100)));

    // A std::stop_token already stopped stops at once; an unstopped one
    // lets the collection finish.
    std::stop_source stopped;
    stopped.request_stop();
    auto r3 = cas.collect_garbage(stopped.get_token());
    BOOST_TEST(r3.stopped);
    BOOST_TEST(cas.stats().chunks == 25u);
    std::stop_source running;
    auto r4 = cas.collect_garbage(running.get_token());
    BOOST_TEST(!r4.stopped);
    BOOST_TEST(r4.chunks_freed == 22u);
    BOOST_TEST(cas.stats().chunks == 3u);
    BOOST_TEST(cas.verify().ok());
}

BOOST_AUTO_TEST_CASE(gc_racing_puts_and_refs_never_frees_a_referenced_blob) {
    memory_storage mem;
    database<memory_storage> db(mem);
    cas_map<memory_storage, sha256, fixed_size> cas(db, fixed_size(1000), no_grace());
    std::atomic<bool> stop{false};
    std::atomic<int> lost{0};
    std::vector<sha256::digest> referenced;
    std::mutex m;
    std::thread gc([&] {
        while (!stop) cas.collect_garbage();
    });
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w)
        writers.emplace_back([&, w] {
            for (int i = 0; i < 60; ++i) {
                // The same few contents over and over: puts deduplicate
                // against blobs the collector is trying to free.
                auto data = random_bytes(3000, static_cast<std::uint64_t>(i % 5));
                auto d = cas.put(data);
                try {
                    cas.add_ref(d, "w" + std::to_string(w), std::to_string(i));
                } catch (const stowage::error& e) {
                    if (e.kind() != errc::not_found) throw;
                    continue;  // collected between put and add_ref: a clear error, not a dangling ref
                }
                std::lock_guard lock(m);
                referenced.push_back(d);
            }
        });
    for (auto& t : writers) t.join();
    stop = true;
    gc.join();
    cas.collect_garbage();
    for (auto& d : referenced)
        if (!cas.get(d)) ++lost;
    BOOST_TEST(lost == 0);
    BOOST_TEST(cas.verify().ok());
}

// A stream that generates n pseudo-random bytes without holding them.
class generated_buf : public std::streambuf {
public:
    explicit generated_buf(std::uint64_t n) : left_(n), rng_(77) {}

protected:
    int_type underflow() override {
        if (left_ == 0) return traits_type::eof();
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, buf_.size()));
        for (std::size_t i = 0; i < n; i += 8) {
            auto v = rng_();
            std::memcpy(buf_.data() + i, &v, std::min<std::size_t>(8, n - i));
        }
        left_ -= n;
        setg(buf_.data(), buf_.data(), buf_.data() + n);
        return traits_type::to_int_type(buf_[0]);
    }

private:
    std::uint64_t left_;
    std::mt19937_64 rng_;
    std::array<char, 1 << 16> buf_{};
};

static long peak_rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
    return -1;
}

BOOST_AUTO_TEST_CASE(streaming_200_mb_keeps_memory_bounded) {
    scratch_dir dir("cas-big");
    const std::uint64_t size = 200ull << 20;
    int fds[2];
    BOOST_TEST_REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {  // a fresh process, so its peak RSS is this put's alone
        long before = peak_rss_kb();
        database<file_storage> db{file_storage(dir.path())};
        cas_map<file_storage, sha256, fastcdc> cas(db, fastcdc(), no_grace());
        generated_buf buf(size);
        std::istream in(&buf);
        auto d = cas.put(in);
        long after = peak_rss_kb();
        std::string msg = to_hex(d) + " " + std::to_string(after - before) + "\n";
        (void)!::write(fds[1], msg.data(), msg.size());
        std::_Exit(0);
    }
    ::close(fds[1]);
    char out[256] = {};
    auto n = ::read(fds[0], out, sizeof out - 1);
    ::close(fds[0]);
    int status;
    ::waitpid(pid, &status, 0);
    BOOST_TEST_REQUIRE(n > 0);
    std::istringstream parse(out);
    std::string hex;
    long grown_kb;
    parse >> hex >> grown_kb;
    // The id matches a direct hash of the same stream.
    generated_buf again(size);
    std::istream in(&again);
    sha256 h;
    std::array<char, 1 << 16> block;
    while (in.read(block.data(), block.size()) || in.gcount() > 0)
        h.update(as_bytes(std::string_view(block.data(), static_cast<std::size_t>(in.gcount()))));
    BOOST_TEST(hex == to_hex(h.finish()));
    BOOST_TEST_MESSAGE("peak RSS grew by " << grown_kb << " KiB while putting 200 MiB");
    BOOST_TEST(grown_kb < 64 * 1024);
}
