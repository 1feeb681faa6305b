// cas_bench.cpp — content-addressed blobs (issue 5), in one run:
//
//   chunk/...           chunking alone (fixed_size, fastcdc at several
//                       min/avg/max) over 32 MiB of random bytes
//   hash/...            the hasher's single-core limit: SHA-256 over 1 MiB
//                       blocks, Crypto++ (stowage::sha256) and OpenSSL EVP
//   ingest/...          cas_map<memory_storage>::put of a 32 MiB blob: chunk +
//                       hash + store, for whole / fixed / fastcdc
//   ingest_pipelined/.. the same work through a benchmark-local prototype of
//                       a faster put (see `pipelined_cas` below)
//   corpus/...          every version of a real versioned corpus put in
//                       order, as one tar stream per version and as
//                       individual files: dedup ratio, stored bytes, time
//
// The corpus is fetched by benchmarks/corpus/fetch-linux-headers.sh into
// $STOWAGE_CAS_CORPUS (default /tmp/stowage-corpus); without it the corpus
// benchmarks are left out of the run. benchmarks/restic/run.sh measures
// restic on the same corpus. Results: benchmarks/RESULTS.md, "Content-
// addressed blobs".
//
// Clocks. The machine is shared (2 vCPUs, other people's builds), so wall
// time says more about the neighbours than about the code. Throughputs are
// therefore per CPU-second of the threads doing the work (thread CPU
// clocks), and for the pipelined prototype per second of its critical
// path — the sum over puts of the longer of its two threads — which is the
// wall time the put would take on two otherwise idle cores. Counters:
//   crit_MBps   bytes / critical-path seconds (= cpu_MBps for one thread)
//   cpu_MBps    bytes / CPU seconds of all threads (the cost)
// Google Benchmark's own bytes_per_second is per CPU-second of the
// benchmark thread alone (UseRealTime nowhere): for pipelined rows read
// crit_MBps, not bytes_per_second.
#include <benchmark/benchmark.h>

#include <stowage/cas_map.hpp>
#include <stowage/chunk/fastcdc.hpp>
#include <stowage/chunk/fixed_size.hpp>
#include <stowage/chunk/whole.hpp>
#include <stowage/database.hpp>
#include <stowage/hash/hex.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/key.hpp>
#include <stowage/storage/memory.hpp>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <time.h>
#include <vector>

#include <cryptopp/sha.h>

#if STOWAGE_BENCH_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

namespace {

namespace fs = std::filesystem;
using stowage::bytes;
using stowage::bytes_view;

constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

// CPU seconds consumed by the calling thread.
double thread_cpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

const bytes& random_data() {
    static const bytes data = [] {
        std::mt19937_64 rng(42);
        bytes out(32 * MiB);
        for (std::size_t i = 0; i < out.size(); i += 8) {
            std::uint64_t v = rng();
            std::memcpy(out.data() + i, &v, 8);
        }
        return out;
    }();
    return data;
}

// --- heap_storage ---------------------------------------------------------------
// A plain in-memory Storage for the corpus runs: keys in one sorted map,
// sync and flush are no-ops. memory_storage is a crash simulator: its
// flush() copies every stored byte into the "synced" image, and cas_map
// flushes after every put that wrote a chunk, so putting N files costs
// O(N x bytes stored) — 47,000 files would measure memcpy, not the CAS.
class heap_storage {
public:
    static constexpr std::string_view name = "heap";

    heap_storage() : s_(std::make_shared<state>()) {}

    std::optional<bytes> read(std::string_view key) const {
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(key);
        if (it == s_->keys.end()) return std::nullopt;
        return it->second;
    }
    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(key);
        if (it == s_->keys.end()) throw stowage::error(stowage::errc::not_found, std::string(key));
        const bytes& d = it->second;
        if (offset >= d.size()) return {};
        auto end = offset + std::min<std::uint64_t>(n, d.size() - offset);
        return bytes(d.begin() + static_cast<std::ptrdiff_t>(offset), d.begin() + static_cast<std::ptrdiff_t>(end));
    }
    std::optional<std::uint64_t> size(std::string_view key) const {
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(key);
        if (it == s_->keys.end()) return std::nullopt;
        return it->second.size();
    }
    bool contains(std::string_view key) const { return size(key).has_value(); }
    std::vector<std::string> list(std::string_view prefix) const {
        std::lock_guard lock(s_->mutex);
        std::vector<std::string> out;
        for (auto it = s_->keys.lower_bound(prefix); it != s_->keys.end() && it->first.starts_with(prefix); ++it)
            out.push_back(it->first);
        return out;
    }
    void replace(std::string_view key, bytes_view data, stowage::durability) {
        stowage::validate_key(key);
        bytes value(data.begin(), data.end());  // copy outside the lock
        std::lock_guard lock(s_->mutex);
        s_->keys.insert_or_assign(std::string(key), std::move(value));
    }
    void replace_batch(std::span<const stowage::blob_write> writes, stowage::durability d) {
        for (const auto& w : writes) replace(w.key, w.data, d);
    }
    bool remove(std::string_view key, stowage::durability) {
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(key);
        if (it == s_->keys.end()) return false;
        s_->keys.erase(it);
        return true;
    }
    std::uint64_t append(std::string_view key, bytes_view data) {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        auto& slot = s_->keys[std::string(key)];
        std::uint64_t offset = slot.size();
        slot.insert(slot.end(), data.begin(), data.end());
        return offset;
    }
    void sync(std::string_view key) {
        if (!contains(key)) throw stowage::error(stowage::errc::not_found, "sync of absent key " + std::string(key));
    }
    void truncate(std::string_view key, std::uint64_t n) {
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(key);
        if (it == s_->keys.end()) throw stowage::error(stowage::errc::not_found, std::string(key));
        it->second.resize(n);
    }
    void rename(std::string_view from, std::string_view to, stowage::durability) {
        stowage::validate_key(to);
        std::lock_guard lock(s_->mutex);
        auto it = s_->keys.find(from);
        if (it == s_->keys.end()) throw stowage::error(stowage::errc::not_found, std::string(from));
        bytes value = std::move(it->second);
        s_->keys.erase(it);
        s_->keys.insert_or_assign(std::string(to), std::move(value));
    }
    void flush() {}
    bool read_only() const { return false; }

    // Bytes stored under keys starting with `prefix`.
    std::uint64_t bytes_under(std::string_view prefix) const {
        std::lock_guard lock(s_->mutex);
        std::uint64_t total = 0;
        for (auto it = s_->keys.lower_bound(prefix); it != s_->keys.end() && it->first.starts_with(prefix); ++it)
            total += it->second.size();
        return total;
    }

private:
    struct state {
        std::mutex mutex;
        std::map<std::string, bytes, std::less<>> keys;
    };
    std::shared_ptr<state> s_;
};
static_assert(stowage::storage<heap_storage> && stowage::renames_keys<heap_storage>);

// --- openssl_sha256 -------------------------------------------------------------
// SHA-256 through OpenSSL's EVP interface, as the hasher policy issue 5
// invites. Same digest as stowage::sha256, so the same name: chunks are
// keyed identically whichever of the two computed them.
#if STOWAGE_BENCH_HAVE_OPENSSL
class openssl_sha256 {
public:
    using digest = std::array<std::byte, 32>;
    static constexpr std::string_view name = "sha256";

    openssl_sha256() : ctx_(EVP_MD_CTX_new()) {
        if (!ctx_) throw std::bad_alloc();
        init();
    }
    openssl_sha256(const openssl_sha256&) = delete;
    openssl_sha256& operator=(const openssl_sha256&) = delete;
    ~openssl_sha256() { EVP_MD_CTX_free(ctx_); }

    void update(bytes_view data) {
        if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1)
            throw stowage::error(stowage::errc::io, "openssl sha256: EVP_DigestUpdate failed");
    }
    digest finish() {
        digest d;
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(d.data()), &n) != 1 || n != d.size())
            throw stowage::error(stowage::errc::io, "openssl sha256: EVP_DigestFinal_ex failed");
        init();
        return d;
    }

private:
    // Fetched once: an implicit fetch (EVP_sha256()) on every init costs a
    // provider lookup per small blob.
    static const EVP_MD* md() {
        static EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        return m;
    }
    void init() {
        if (!md() || EVP_DigestInit_ex(ctx_, md(), nullptr) != 1)
            throw stowage::error(stowage::errc::io, "openssl sha256: EVP_DigestInit_ex failed");
    }
    EVP_MD_CTX* ctx_;
};
static_assert(stowage::hasher<openssl_sha256>);
#endif

// --- pipelined_cas --------------------------------------------------------------
// A prototype of a faster cas_map::put(bytes_view): the same chunk keys,
// the same manifests through the same database transaction (a cas_map
// opened on the same database reads what it wrote; check_prototype() makes
// sure), with two changes:
//   1. one chunk covering the whole blob (whole, and any blob no longer than
//      the chunker's first cut) is hashed once: its chunk digest IS the blob
//      digest;
//   2. otherwise the whole-content digest is computed on a second thread
//      while this one chunks, hashes and stores the chunks, for blobs of at
//      least `parallel_from` bytes (a thread start costs tens of µs).
// It also accounts its helper thread's CPU time and how much of it overlapped
// the calling thread's, for the critical-path clock (see the top).
template <stowage::storage Storage, stowage::hasher Hasher, class Chunking>
class pipelined_cas {
public:
    using digest = typename Hasher::digest;
    using map_type = stowage::cas_map<Storage, Hasher, Chunking>;

    pipelined_cas(stowage::database<Storage>& db, Chunking chunking, std::size_t parallel_from = 1 * MiB)
        : db_(db),
          raw_(db.raw_storage()),
          chunking_(std::move(chunking)),
          manifests_(db.storage(), "cas_blobs"),
          parallel_from_(parallel_from) {}

    digest put(bytes_view data) {
        const std::size_t max = chunking_.max_size();
        std::size_t first = data.empty() ? 0 : chunking_.cut(data.first(std::min(data.size(), max)));
        std::vector<stowage::cas_chunk> chunks;
        if (first == data.size()) {  // change 1
            digest d = stowage::hash_of<Hasher>(data);
            if (!data.empty()) chunks.push_back(store_chunk(stowage::to_hex(d), data));
            return finish_put(d, std::move(chunks));
        }
        digest d{};
        const bool parallel = data.size() >= parallel_from_;
        const double main_start = parallel ? thread_cpu() : 0;
        double helper_cpu = 0;
        {
            std::jthread whole;  // joins on scope exit, also when a store throws
            if (parallel)
                whole = std::jthread([&d, &helper_cpu, data] {  // change 2
                    double t = thread_cpu();
                    d = stowage::hash_of<Hasher>(data);
                    helper_cpu = thread_cpu() - t;
                });
            else
                d = stowage::hash_of<Hasher>(data);
            std::size_t n = first;
            while (true) {
                bytes_view c = data.first(n);
                chunks.push_back(store_chunk(stowage::to_hex(stowage::hash_of<Hasher>(c)), c));
                data = data.subspan(n);
                if (data.empty()) break;
                n = chunking_.cut(data.first(std::min(data.size(), max)));
            }
        }
        if (parallel) {
            double main_cpu = thread_cpu() - main_start;  // joining blocks; it uses no CPU
            helper_cpu_ += helper_cpu;
            overlap_cpu_ += std::min(main_cpu, helper_cpu);
        }
        return finish_put(d, std::move(chunks));
    }

    // CPU seconds spent on helper threads, and the part of them that ran
    // while the calling thread was busy too.
    double helper_cpu() const { return helper_cpu_; }
    double overlap_cpu() const { return overlap_cpu_; }

private:
    // As cas_map::store_chunk.
    stowage::cas_chunk store_chunk(std::string hex, bytes_view data) {
        std::string key = map_type::chunk_key(hex);
        if (!raw_.contains(key)) {
            raw_.replace(key, data, stowage::durability::batched);
            dirty_ = true;
        }
        return {std::move(hex), data.size()};
    }

    // As cas_map::finish_put (without the GC grace bookkeeping: one map
    // insertion under a mutex).
    digest finish_put(const digest& d, std::vector<stowage::cas_chunk> chunks) {
        if (dirty_) raw_.flush();
        dirty_ = false;
        std::string id = stowage::to_hex(d);
        std::uint64_t size = 0;
        for (auto& c : chunks) size += c.size;
        for (int attempt = 1;; ++attempt) {
            auto tx = db_.transaction();
            if (auto m = tx.get(manifests_, id)) {
                m->puts++;
                tx.put(manifests_, *m);
            } else {
                tx.put(manifests_, stowage::cas_manifest{id, size, 1, chunks});
            }
            try {
                tx.commit();
                return d;
            } catch (const stowage::error& e) {
                if (e.kind() != stowage::errc::conflict || attempt >= 1000) throw;
            }
        }
    }

    stowage::database<Storage>& db_;
    Storage raw_;
    Chunking chunking_;
    typename map_type::manifests_store manifests_;
    std::size_t parallel_from_;
    bool dirty_ = false;
    double helper_cpu_ = 0, overlap_cpu_ = 0;
};

// Helper-thread accounting of whatever ran the puts (none for cas_map).
template <class Cas>
double helper_cpu_of(const Cas& cas) {
    if constexpr (requires { cas.helper_cpu(); }) return cas.helper_cpu();
    else return 0;
}
template <class Cas>
double overlap_cpu_of(const Cas& cas) {
    if constexpr (requires { cas.overlap_cpu(); }) return cas.overlap_cpu();
    else return 0;
}

// Sets crit_MBps and cpu_MBps from the calling thread's CPU seconds `main`
// and the helpers' `helper` seconds, of which `overlap` ran concurrently.
void set_clock_counters(benchmark::State& state, double bytes, double main, double helper, double overlap) {
    state.counters["crit_MBps"] = bytes / (main + helper - overlap) / 1e6;
    state.counters["cpu_MBps"] = bytes / (main + helper) / 1e6;
}

// The prototype must store exactly what cas_map stores: a cas_map opened
// afterwards on the same database gets and verifies every blob, and
// putting the same content through cas_map finds the same digest.
template <stowage::hasher Hasher, class Chunking>
void check_prototype(Chunking chunking) {
    stowage::database<heap_storage> db{heap_storage()};
    pipelined_cas<heap_storage, Hasher, Chunking> proto(db, chunking, 64 * KiB);
    const auto& all = random_data();
    std::vector<std::pair<typename Hasher::digest, bytes_view>> put;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, 100 * std::size_t{1}, 20 * KiB, 70 * KiB, 3 * MiB})
        put.emplace_back(proto.put(bytes_view(all).subspan(n / 3, n)), bytes_view(all).subspan(n / 3, n));
    stowage::cas_map<heap_storage, Hasher, Chunking> real(db, chunking);
    for (auto& [d, content] : put) {
        auto got = real.get(d);
        if (!got || !std::equal(got->begin(), got->end(), content.begin(), content.end()) ||
            real.put(content) != d) {
            std::fprintf(stderr, "cas_bench: the pipelined prototype disagrees with cas_map (%s, %zu bytes)\n",
                         std::string(Chunking::name).c_str(), content.size());
            std::exit(1);
        }
    }
    if (!real.verify().damaged.empty()) {
        std::fprintf(stderr, "cas_bench: cas_map verify found damage after the prototype's puts\n");
        std::exit(1);
    }
}

// --- chunking alone -------------------------------------------------------------

template <class Chunking>
void bm_chunk(benchmark::State& state, Chunking chunking) {
    bytes_view data = random_data();
    std::size_t chunks = 0;
    for (auto _ : state) {
        bytes_view rest = data;
        chunks = 0;
        while (!rest.empty()) {
            std::size_t n = chunking.cut(rest.first(std::min(rest.size(), chunking.max_size())));
            rest = rest.subspan(n);
            ++chunks;
        }
        benchmark::DoNotOptimize(chunks);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
    state.counters["chunks"] = static_cast<double>(chunks);
    state.counters["avg_chunk_KiB"] = static_cast<double>(data.size()) / static_cast<double>(chunks) / KiB;
}

// --- the hasher's limit ---------------------------------------------------------

template <stowage::hasher Hasher>
void bm_hash_blocks(benchmark::State& state) {
    bytes_view data = random_data();
    Hasher h;
    for (auto _ : state) {
        for (std::size_t off = 0; off < data.size(); off += MiB) {
            h.update(data.subspan(off, MiB));
            auto d = h.finish();
            benchmark::DoNotOptimize(d);
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}

// --- ingest ---------------------------------------------------------------------

// One 32 MiB blob of fresh (random) content into an empty CAS per
// iteration: everything is chunked, hashed and stored. Building and
// tearing down the database is outside the timing.
template <class Cas, class Chunking>
void run_ingest(benchmark::State& state, Chunking chunking) {
    bytes_view data = random_data();
    double main = 0, helper = 0, overlap = 0;
    for (auto _ : state) {
        state.PauseTiming();
        {
            stowage::database<stowage::memory_storage> db{stowage::memory_storage()};
            Cas cas(db, chunking);
            state.ResumeTiming();
            double t = thread_cpu();
            auto d = cas.put(data);
            main += thread_cpu() - t;
            benchmark::DoNotOptimize(d);
            state.PauseTiming();
            helper += helper_cpu_of(cas);
            overlap += overlap_cpu_of(cas);
        }
        state.ResumeTiming();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
    set_clock_counters(state, static_cast<double>(state.iterations() * data.size()), main, helper, overlap);
}

template <stowage::hasher Hasher, class Chunking>
void bm_ingest(benchmark::State& state, Chunking chunking) {
    run_ingest<stowage::cas_map<stowage::memory_storage, Hasher, Chunking>>(state, chunking);
}

template <stowage::hasher Hasher, class Chunking>
void bm_ingest_pipelined(benchmark::State& state, Chunking chunking) {
    run_ingest<pipelined_cas<stowage::memory_storage, Hasher, Chunking>>(state, chunking);
}

// --- the corpus -----------------------------------------------------------------

struct corpus {
    fs::path root;
    std::vector<std::string> versions;          // "01-6.1.0-47", ...
    std::vector<bytes> tars;                    // one tar stream per version
    std::vector<std::vector<bytes>> files;      // each version's regular files, by path
    std::uint64_t tar_bytes = 0, file_bytes = 0, file_count = 0;
};

bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    bytes out(fs::file_size(p));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (in.gcount() != static_cast<std::streamsize>(out.size())) throw std::runtime_error("short read " + p.string());
    return out;
}

// Loads everything into memory first, so the timed work is the CAS alone.
std::unique_ptr<corpus> load_corpus() {
    const char* env = std::getenv("STOWAGE_CAS_CORPUS");
    fs::path root = env && *env ? env : "/tmp/stowage-corpus";
    if (!fs::is_directory(root / "tar") || !fs::is_directory(root / "files")) return nullptr;
    auto c = std::make_unique<corpus>();
    c->root = root;
    for (auto& e : fs::directory_iterator(root / "tar"))
        if (e.path().extension() == ".tar") c->versions.push_back(e.path().stem().string());
    std::sort(c->versions.begin(), c->versions.end());
    for (const auto& v : c->versions) {
        c->tars.push_back(read_file(root / "tar" / (v + ".tar")));
        c->tar_bytes += c->tars.back().size();
        std::vector<fs::path> paths;
        for (auto& e : fs::recursive_directory_iterator(root / "files" / v))
            if (e.is_regular_file() && !e.is_symlink()) paths.push_back(e.path());
        std::sort(paths.begin(), paths.end());
        auto& files = c->files.emplace_back();
        for (auto& p : paths) {
            files.push_back(read_file(p));
            c->file_bytes += files.back().size();
        }
        c->file_count += files.size();
    }
    return c->versions.empty() ? nullptr : std::move(c);
}

enum class form { tar, files };

// Every version put in order into one fresh CAS on heap_storage. Counters:
// logical and physical (distinct chunk) bytes, the dedup ratio, chunks and
// blobs, and what the CAS keeps besides chunks (manifest records).
template <class Put>
void run_corpus(benchmark::State& state, const corpus& c, form f, const Put& put) {
    stowage::cas_stats stats;
    std::uint64_t manifest_bytes = 0;
    double main = 0, helper = 0, overlap = 0;
    for (auto _ : state) {
        state.PauseTiming();
        {
            heap_storage storage;
            stowage::database<heap_storage> db{storage};
            auto cas = put.open(db);
            state.ResumeTiming();
            double t = thread_cpu();
            for (std::size_t v = 0; v < c.versions.size(); ++v) {
                if (f == form::tar)
                    benchmark::DoNotOptimize(cas->put(c.tars[v]));
                else
                    for (const auto& file : c.files[v]) benchmark::DoNotOptimize(cas->put(file));
            }
            main += thread_cpu() - t;
            state.PauseTiming();
            helper += helper_cpu_of(*cas);
            overlap += overlap_cpu_of(*cas);
            db.checkpoint();
            stowage::cas_map<heap_storage, typename Put::hasher_type, typename Put::chunking_type> reader(db, put.chunking);
            stats = reader.stats();
            manifest_bytes = storage.bytes_under("cas_blobs/");
        }
        state.ResumeTiming();
    }
    std::uint64_t logical = f == form::tar ? c.tar_bytes : c.file_bytes;
    if (stats.logical_bytes != logical) {
        state.SkipWithError("cas stats disagree with the corpus size");
        return;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * logical));
    set_clock_counters(state, static_cast<double>(state.iterations() * logical), main, helper, overlap);
    state.counters["logical_MB"] = static_cast<double>(stats.logical_bytes) / 1e6;
    state.counters["physical_MB"] = static_cast<double>(stats.physical_bytes) / 1e6;
    state.counters["manifest_MB"] = static_cast<double>(manifest_bytes) / 1e6;
    state.counters["dedup_ratio"] = stats.dedup_ratio();
    state.counters["chunks"] = static_cast<double>(stats.chunks);
    state.counters["blobs"] = static_cast<double>(stats.blobs);
}

// How a corpus run opens its CAS: cas_map itself or the prototype.
template <stowage::hasher H, class C, bool Pipelined>
struct corpus_put {
    using hasher_type = H;
    using chunking_type = C;
    C chunking;
    auto open(stowage::database<heap_storage>& db) const {
        if constexpr (Pipelined)
            return std::make_unique<pipelined_cas<heap_storage, H, C>>(db, chunking);
        else
            return std::make_unique<stowage::cas_map<heap_storage, H, C>>(db, chunking);
    }
};

template <stowage::hasher H, bool Pipelined, class C>
void register_corpus(const corpus& c, std::string label, C chunking) {
    for (form f : {form::tar, form::files}) {
        std::string name = std::string(Pipelined ? "corpus_pipelined/" : "corpus/") +
                           (f == form::tar ? "tar/" : "files/") + label;
        benchmark::RegisterBenchmark(name.c_str(), [&c, f, chunking](benchmark::State& st) {
            corpus_put<H, C, Pipelined> put{chunking};
            run_corpus(st, c, f, put);
        })->Iterations(1)->Unit(benchmark::kMillisecond);
    }
}

std::string size_label(std::size_t n) {
    return n % MiB == 0 ? std::to_string(n / MiB) + "M" : std::to_string(n / KiB) + "K";
}
std::string cdc_label(const stowage::fastcdc& c) {
    return "fastcdc:" + size_label(c.min_size()) + ":" + size_label(c.avg_size()) + ":" + size_label(c.max_size());
}

}  // namespace

int main(int argc, char** argv) {
    using stowage::fastcdc;
    using stowage::fixed_size;
    using stowage::sha256;
    using stowage::whole;

    benchmark::AddCustomContext("cryptopp_sha256", CryptoPP::SHA256().AlgorithmProvider());
    benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));

    const std::vector<fastcdc> cdcs = {fastcdc(), fastcdc(2 * KiB, 8 * KiB, 64 * KiB),
                                       fastcdc(4 * KiB, 16 * KiB, 64 * KiB),
                                       fastcdc(512 * KiB, 1 * MiB, 8 * MiB)};  // restic's sizes
    const std::vector<fixed_size> fixeds = {fixed_size(64 * KiB), fixed_size(1 * MiB)};

    for (auto& f : fixeds)
        benchmark::RegisterBenchmark(("chunk/fixed:" + size_label(f.size())).c_str(),
                                     [f](benchmark::State& s) { bm_chunk(s, f); });
    for (auto& c : cdcs)
        benchmark::RegisterBenchmark(("chunk/" + cdc_label(c)).c_str(),
                                     [c](benchmark::State& s) { bm_chunk(s, c); });

    benchmark::RegisterBenchmark("hash/sha256_cryptopp/1MiB_blocks", bm_hash_blocks<sha256>);
#if STOWAGE_BENCH_HAVE_OPENSSL
    benchmark::RegisterBenchmark("hash/sha256_openssl/1MiB_blocks", bm_hash_blocks<openssl_sha256>);
#endif

    // Ingest, cas_map as it is and the pipelined prototype, per hasher.
    auto ingest = [&]<class H>(std::string hname) {
        auto reg = [&]<class C>(std::string label, C chunking) {
            benchmark::RegisterBenchmark(("ingest/" + hname + "/" + label).c_str(),
                                         [chunking](benchmark::State& s) { bm_ingest<H>(s, chunking); })
                ->Unit(benchmark::kMillisecond);
            benchmark::RegisterBenchmark(("ingest_pipelined/" + hname + "/" + label).c_str(),
                                         [chunking](benchmark::State& s) { bm_ingest_pipelined<H>(s, chunking); })
                ->Unit(benchmark::kMillisecond);
        };
        reg("whole", whole{});
        reg("fixed:1M", fixed_size(1 * MiB));
        reg("fixed:64K", fixed_size(64 * KiB));
        reg(cdc_label(fastcdc()), fastcdc());
    };
    ingest.template operator()<sha256>("sha256_cryptopp");
#if STOWAGE_BENCH_HAVE_OPENSSL
    ingest.template operator()<openssl_sha256>("sha256_openssl");
#endif

    check_prototype<sha256>(whole{});
    check_prototype<sha256>(fixed_size(64 * KiB));
    check_prototype<sha256>(fastcdc());
    check_prototype<sha256>(fastcdc(2 * KiB, 8 * KiB, 64 * KiB));

    // The corpus: every policy through cas_map, and the prototype for the
    // default fastcdc.
    std::unique_ptr<corpus> c;
    if (!std::getenv("STOWAGE_CAS_NO_CORPUS")) c = load_corpus();
    if (c) {
        benchmark::AddCustomContext("corpus", c->root.string() + ": " + std::to_string(c->versions.size()) +
                                                  " versions " + c->versions.front() + " .. " + c->versions.back() +
                                                  ", tar " + std::to_string(c->tar_bytes) + " bytes, " +
                                                  std::to_string(c->file_count) + " files " +
                                                  std::to_string(c->file_bytes) + " bytes");
        register_corpus<sha256, false>(*c, "whole", whole{});
        for (auto& f : fixeds) register_corpus<sha256, false>(*c, "fixed:" + size_label(f.size()), f);
        for (auto& cdc : cdcs) register_corpus<sha256, false>(*c, cdc_label(cdc), cdc);
        register_corpus<sha256, true>(*c, cdc_label(fastcdc()), fastcdc());
    } else {
        std::fprintf(stderr,
                     "cas_bench: no corpus (run benchmarks/corpus/fetch-linux-headers.sh, or set "
                     "STOWAGE_CAS_CORPUS); corpus benchmarks left out\n");
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
