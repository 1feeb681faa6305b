// A client-written policy of every family — a Storage, a Codec, a Hasher, an
// EvictionPolicy, a ChunkPolicy, each written here as a client would, in a
// few lines, with no stowage::detail — plugged into a store (put, get,
// iteration, verify, a database transaction), a cas_map (put, get, dedup,
// verify) and a cache; and each passing its conformance kit
// (include/stowage/testing/). Then the hasher by name: what tools that meet
// a record without its type do with a client hasher before and after
// register_hasher, and a store whose hasher policy was switched.
#define BOOST_TEST_MODULE client_policies
#include <stowage/cache.hpp>
#include <stowage/cas_map.hpp>
#include <stowage/concepts.hpp>
#include <stowage/database.hpp>
#include <stowage/describe.hpp>
#include <stowage/hash/blake2b.hpp>
#include <stowage/hash/sha256.hpp>
#include <stowage/storage/key.hpp>
#include <stowage/store.hpp>
#include <stowage/testing/chunk.hpp>
#include <stowage/testing/codec.hpp>
#include <stowage/testing/eviction.hpp>
#include <stowage/testing/hasher.hpp>
#include <stowage/testing/storage.hpp>

#include <boost/intrusive/list.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "test_support.hpp"

namespace client_policies {

// --- Storage: everything in a std::map, shared by copies (a handle) ----------
class map_storage {
public:
    static constexpr std::string_view name = "map";

    std::optional<stowage::bytes> read(std::string_view key) const {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        auto it = s_->data.find(key);
        if (it == s_->data.end()) return std::nullopt;
        return it->second;
    }
    stowage::bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        auto v = read(key);
        if (!v) throw stowage::error(stowage::errc::not_found, "map_storage: no " + std::string(key));
        if (offset >= v->size()) return {};
        auto from = v->begin() + static_cast<std::ptrdiff_t>(offset);
        return stowage::bytes(from, from + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(n, v->size() - offset)));
    }
    std::optional<std::uint64_t> size(std::string_view key) const {
        auto v = read(key);
        return v ? std::optional<std::uint64_t>(v->size()) : std::nullopt;
    }
    bool contains(std::string_view key) const { return read(key).has_value(); }
    std::vector<std::string> list(std::string_view prefix) const {
        std::lock_guard lock(s_->mutex);
        std::vector<std::string> out;
        for (auto it = s_->data.lower_bound(prefix); it != s_->data.end() && it->first.starts_with(prefix); ++it)
            out.push_back(it->first);
        return out;
    }
    void replace(std::string_view key, stowage::bytes_view v, stowage::durability) {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        s_->data.insert_or_assign(std::string(key), stowage::bytes(v.begin(), v.end()));
    }
    void replace_batch(std::span<const stowage::blob_write> ws, stowage::durability d) {
        for (const auto& w : ws) replace(w.key, w.data, d);
    }
    bool remove(std::string_view key, stowage::durability) {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        auto it = s_->data.find(key);
        if (it == s_->data.end()) return false;
        s_->data.erase(it);
        return true;
    }
    std::uint64_t append(std::string_view key, stowage::bytes_view v) {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        auto& log = s_->data[std::string(key)];
        std::uint64_t at = log.size();
        log.insert(log.end(), v.begin(), v.end());
        return at;
    }
    void sync(std::string_view key) {
        if (!contains(key)) throw stowage::error(stowage::errc::not_found, "map_storage: no log " + std::string(key));
    }
    void truncate(std::string_view key, std::uint64_t n) {
        stowage::validate_key(key);
        std::lock_guard lock(s_->mutex);
        auto it = s_->data.find(key);
        if (it == s_->data.end()) throw stowage::error(stowage::errc::not_found, "map_storage: no log " + std::string(key));
        it->second.resize(std::min<std::uint64_t>(n, it->second.size()));
    }
    void flush() {}
    bool read_only() const { return false; }

private:
    struct state {
        std::mutex mutex;
        std::map<std::string, stowage::bytes, std::less<>> data;
    };
    std::shared_ptr<state> s_ = std::make_shared<state>();
};
static_assert(stowage::storage<map_storage>);

// --- Hasher: 64-bit FNV-1a --------------------------------------------------------
struct fnv1a64 {
    using digest = std::array<std::byte, 8>;
    static constexpr std::string_view name = "fnv1a64";
    std::uint64_t h = 0xcbf29ce484222325ull;
    void update(stowage::bytes_view data) {
        for (std::byte b : data) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ull;
    }
    digest finish() {
        digest d;
        for (int i = 0; i < 8; ++i) d[i] = std::byte((h >> (56 - 8 * i)) & 0xff);
        h = 0xcbf29ce484222325ull;
        return d;
    }
};
static_assert(stowage::hasher<fnv1a64>);

struct impostor_fnv : fnv1a64 {};  // another hasher under the same name

// --- the entity, and a Codec written for it -----------------------------------------
struct note {
    std::string id;
    std::string title;
    std::vector<std::string> tags;
    bool operator==(const note&) const = default;
};
STOWAGE_DESCRIBE(note, id, title, tags)

// "NOTE", u32 total size, then u32-length-prefixed strings: id, title, tags...
struct note_codec {
    static constexpr std::string_view name = "note-v1";
    void encode(const note& n, stowage::bytes& out) const {
        const std::size_t start = out.size();
        stowage::append(out, stowage::as_bytes("NOTE"));
        put32(out, 0);  // the total, filled in below
        put_string(out, n.id);
        put_string(out, n.title);
        for (const auto& t : n.tags) put_string(out, t);
        const auto total = static_cast<std::uint32_t>(out.size() - start);
        for (int i = 0; i < 4; ++i) out[start + 4 + i] = std::byte((total >> (8 * i)) & 0xff);
    }
    void decode(stowage::bytes_view in, note& n) const {
        if (in.size() < 8 || stowage::as_chars(in.first(4)) != "NOTE" || get32(in, 4) != in.size())
            throw stowage::error(stowage::errc::corrupt, "note codec: not a whole note record");
        note out;  // filled on the side: the caller's value is replaced only whole
        std::size_t pos = 8;
        out.id = get_string(in, pos);
        out.title = get_string(in, pos);
        while (pos < in.size()) out.tags.push_back(get_string(in, pos));
        n = std::move(out);
    }

private:
    static void put32(stowage::bytes& out, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) out.push_back(std::byte((v >> (8 * i)) & 0xff));
    }
    static std::uint32_t get32(stowage::bytes_view in, std::size_t at) {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(in[at + i]) << (8 * i);
        return v;
    }
    static void put_string(stowage::bytes& out, std::string_view s) {
        put32(out, static_cast<std::uint32_t>(s.size()));
        stowage::append(out, stowage::as_bytes(s));
    }
    static std::string get_string(stowage::bytes_view in, std::size_t& pos) {
        if (in.size() - pos < 4) throw stowage::error(stowage::errc::corrupt, "note codec: truncated length");
        const std::uint32_t n = get32(in, pos);
        pos += 4;
        if (in.size() - pos < n) throw stowage::error(stowage::errc::corrupt, "note codec: truncated string");
        std::string s(stowage::as_chars(in.subspan(pos, n)));
        pos += n;
        return s;
    }
};
static_assert(stowage::codec_for<note_codec, note>);

// --- EvictionPolicy: first in, first out, on a Boost.Intrusive list ------------------
class fifo {
public:
    static constexpr std::string_view name = "fifo";
    class hook : public boost::intrusive::list_base_hook<> {
        friend class fifo;
        std::uint64_t weight_ = 0;
    };
    void set_capacity(std::uint64_t) noexcept {}
    bool admit(std::uint64_t, std::uint64_t) noexcept { return true; }
    void on_insert(hook& h, std::uint64_t, std::uint64_t w) noexcept {
        h.weight_ = w;
        weight_ += w;
        queue_.push_back(h);
    }
    void on_access(hook&) noexcept {}
    void on_update(hook& h, std::uint64_t w) noexcept {
        weight_ = weight_ - h.weight_ + w;
        h.weight_ = w;
    }
    void on_remove(hook& h) noexcept {
        weight_ -= h.weight_;
        queue_.erase(queue_.iterator_to(h));
    }
    hook* evict() noexcept {
        if (queue_.empty()) return nullptr;
        hook& h = queue_.front();
        on_remove(h);
        return &h;
    }
    std::uint64_t weight() const noexcept { return weight_; }

private:
    boost::intrusive::list<hook, boost::intrusive::constant_time_size<false>> queue_;
    std::uint64_t weight_ = 0;
};
static_assert(stowage::eviction_policy<fifo>);

// --- ChunkPolicy: content-defined, a cut where a rolling sum of 16 bytes hits ------
struct rolling_sum_chunker {
    std::size_t min = 64, max = 1024;
    std::size_t max_size() const { return max; }
    std::size_t cut(stowage::bytes_view data) const {
        const std::size_t n = std::min(data.size(), max);
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
            sum += std::to_integer<std::uint32_t>(data[i]);
            if (i >= 16) sum -= std::to_integer<std::uint32_t>(data[i - 16]);
            if (i + 1 >= min && sum % 97 == 0) return i + 1;
        }
        return n;
    }
};
static_assert(stowage::byte_chunker<rolling_sum_chunker>);

using notes_store = stowage::store<note, map_storage, note_codec, fnv1a64>;

inline std::vector<note> sample_notes() {
    return {{"n1", "groceries", {"home", "todo"}}, {"n2", "", {}}, {"n/3 odd id", std::string(500, 'x'), {"a"}}};
}

inline stowage::bytes pseudo_random(std::size_t n, std::uint64_t seed) {
    stowage::bytes out(n);
    for (auto& b : out) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        b = std::byte(seed >> 56);
    }
    return out;
}

inline std::string error_of(auto&& f) {
    try {
        f();
    } catch (const stowage::error& e) {
        return std::string(e.kind() == stowage::errc::unsupported ? "unsupported: " : "other: ") + e.what();
    }
    return "no error";
}

}  // namespace client_policies

using namespace client_policies;

BOOST_AUTO_TEST_CASE(each_client_policy_passes_its_kit) {
    auto s = stowage::testing::check_storage([] { return map_storage(); });
    BOOST_TEST(s.ok(), s.summary());
    auto h = stowage::testing::check_hasher<fnv1a64>({{"", "cbf29ce484222325"}, {"a", "af63dc4c8601ec8c"}});
    BOOST_TEST(h.ok(), h.summary());
    auto c = stowage::testing::check_codec(note_codec{}, sample_notes());
    BOOST_TEST(c.ok(), c.summary());
    auto e = stowage::testing::check_eviction_policy<fifo>();
    BOOST_TEST(e.ok(), e.summary());
    auto k = stowage::testing::check_chunk_policy(rolling_sum_chunker{});
    BOOST_TEST(k.ok(), k.summary());
}

BOOST_AUTO_TEST_CASE(store_with_client_policies) {
    map_storage storage;
    {
        notes_store notes(storage, "notes");
        for (const auto& n : sample_notes()) notes.put(n);
        for (const auto& n : sample_notes()) {
            auto got = notes.get(n.id);
            BOOST_TEST_REQUIRE(got.has_value());
            BOOST_TEST((*got == n));
        }
        BOOST_TEST(!notes.get("absent").has_value());
        std::set<std::string> seen;
        for (const auto& n : notes) seen.insert(n.id);
        BOOST_TEST(seen.size() == 3u);
        auto report = notes.verify();
        BOOST_TEST(report.ok());
        BOOST_TEST(report.records == 3u);
        BOOST_TEST(notes.list().size() == 3u);
    }
    // Reopened: the listing and the records are read back.
    notes_store again(storage, "notes");
    BOOST_TEST(again.size() == 3u);
    BOOST_TEST((again.get("n1")->tags == std::vector<std::string>{"home", "todo"}));
    // The records carry the client's names, and damage is caught by its hasher.
    const std::string key = again.key_of("n1");
    auto record = *storage.read(key);
    auto h = stowage::parse_envelope_header(record, key);
    BOOST_TEST(h.hasher == "fnv1a64");
    BOOST_TEST(h.codec == "note-v1");
    record.back() ^= std::byte{1};
    storage.replace(key, record, stowage::durability::full);
    BOOST_CHECK_EXCEPTION(again.get("n1"), stowage::error,
                          [](const stowage::error& e) { return e.kind() == stowage::errc::checksum_mismatch; });
    auto report = again.verify();
    BOOST_TEST(report.damaged.size() == 1u);
}

BOOST_AUTO_TEST_CASE(database_transaction_with_client_policies) {
    map_storage storage;
    {
        stowage::database<map_storage> db(storage);
        stowage::db_store<note, map_storage, note_codec, fnv1a64> notes(db.storage(), "notes");
        auto tx = db.transaction();
        for (const auto& n : sample_notes()) tx.put(notes, n);
        BOOST_TEST(tx.get(notes, "n1")->title == "groceries");  // its own write
        tx.commit();
        auto tx2 = db.transaction();
        auto n1 = tx2.get(notes, "n1");
        BOOST_TEST_REQUIRE(n1.has_value());
        n1->title = "groceries, done";
        tx2.put(notes, *n1);
        tx2.erase(notes, "n2");
        tx2.commit();
        BOOST_TEST(notes.get("n1")->title == "groceries, done");
        BOOST_TEST(!notes.get("n2").has_value());
        db.checkpoint();
        BOOST_TEST(notes.verify().ok());
    }
    // Reopened over the same storage: recovered, applied, verified.
    stowage::database<map_storage> db(storage);
    stowage::db_store<note, map_storage, note_codec, fnv1a64> notes(db.storage(), "notes");
    BOOST_TEST(notes.get("n1")->title == "groceries, done");
    BOOST_TEST(notes.size() == 2u);
    auto report = notes.verify();
    BOOST_TEST(report.ok());
    BOOST_TEST(report.records == 2u);
}

BOOST_AUTO_TEST_CASE(cas_map_with_client_policies) {
    map_storage storage;
    stowage::database<map_storage> db(storage);
    stowage::cas_map<map_storage, fnv1a64, rolling_sum_chunker> blobs(db, rolling_sum_chunker{});
    const auto content = pseudo_random(20000, 5);
    auto d = blobs.put(content);
    BOOST_TEST((blobs.get(d) == std::optional<stowage::bytes>(content)));
    fnv1a64 h;
    h.update(content);
    BOOST_TEST((d == h.finish()));  // a blob's id is its digest by the client's hasher
    // The same content again, and a copy with a different head: chunks are shared.
    auto d2 = blobs.put(content);
    BOOST_TEST((d2 == d));
    auto edited = content;
    edited[10] ^= std::byte{0xff};
    auto d3 = blobs.put(edited);
    BOOST_TEST((blobs.get(d3) == std::optional<stowage::bytes>(edited)));
    auto stats = blobs.stats();
    BOOST_TEST(stats.blobs == 2u);
    BOOST_TEST(stats.chunks > 2u);
    BOOST_TEST(stats.physical_bytes < 2 * content.size());  // the edit reused every chunk after its own
    BOOST_TEST(stats.logical_bytes == 3 * content.size());
    blobs.add_ref(d, "n1", "attachment");
    auto clean = blobs.verify();
    BOOST_TEST(clean.ok());
    // A damaged chunk is found by the client's hasher.
    auto chunk_keys = storage.list("cas/fnv1a64/");
    BOOST_TEST_REQUIRE(!chunk_keys.empty());
    auto chunk = *storage.read(chunk_keys.front());
    chunk[0] ^= std::byte{1};
    storage.replace(chunk_keys.front(), chunk, stowage::durability::full);
    auto damaged = blobs.verify();
    BOOST_TEST(!damaged.ok());
}

BOOST_AUTO_TEST_CASE(cache_with_client_policy) {
    stowage::cache<std::string, std::string, fifo> hot(3);
    hot.put("a", "1");
    hot.put("b", "2");
    hot.put("c", "3");
    BOOST_TEST((hot.get("a") == std::optional<std::string>("1")));  // an access does not save "a" from FIFO
    hot.put("d", "4");
    BOOST_TEST(!hot.get("a").has_value());
    BOOST_TEST((hot.get("b") == std::optional<std::string>("2")));
    hot.erase("c");
    hot.put("e", "5");
    hot.put("f", "6");
    BOOST_TEST(!hot.get("b").has_value());
    BOOST_TEST((hot.get("d") == std::optional<std::string>("4")));
    BOOST_TEST((hot.get("f") == std::optional<std::string>("6")));
    BOOST_TEST(hot.size() == 3u);
}

// Tools that meet a record without its type find the hasher by name: not
// before the client registers it (unsupported, saying how; check_record
// says "unverifiable"), and from then on like a built-in. A store whose
// hasher policy was switched still reads the records of the old one.
BOOST_AUTO_TEST_CASE(client_hasher_by_name_and_switched_hashers) {
    map_storage storage;
    {
        stowage::store<note, map_storage, note_codec, stowage::sha256> old_notes(storage, "notes");
        old_notes.put({"old", "written with sha256", {}});
    }
    notes_store notes(storage, "notes");  // switched to fnv1a64
    BOOST_TEST(notes.get("old")->title == "written with sha256");
    notes.put({"new", "written with fnv1a64", {}});
    BOOST_TEST(notes.verify().ok());
    BOOST_TEST(notes.verify().records == 2u);
    const std::string key = notes.key_of("new");
    const auto record = *storage.read(key);

    // A third hasher policy that knows neither by name: only what it can name.
    stowage::store<note, map_storage, note_codec, stowage::blake2b> other(storage, "notes");
    BOOST_TEST(other.get("old")->title == "written with sha256");  // sha256 is built in
    if (!stowage::hasher_known("fnv1a64")) {
        auto what = error_of([&] { other.get("new"); });
        BOOST_TEST(what.starts_with("unsupported: "), what);
        BOOST_TEST(what.find("\"fnv1a64\"") != std::string::npos, what);
        BOOST_TEST(what.find("register_hasher") != std::string::npos, what);
        BOOST_TEST(other.verify().damaged.size() == 1u);

        what = error_of([&] { stowage::verify_record(record, key); });
        BOOST_TEST(what.starts_with("unsupported: "), what);
        BOOST_TEST(what.find("register_hasher") != std::string::npos, what);
        auto check = stowage::check_record(record, key);
        BOOST_TEST(!check.digest_checked);  // unverifiable: not damage, not fine
        BOOST_TEST(check.header.id == "new");
        BOOST_TEST(!stowage::digest_by_name("fnv1a64", stowage::as_bytes("x")).has_value());
    }

    stowage::register_hasher<fnv1a64>();
    stowage::register_hasher<fnv1a64>();         // idempotent
    stowage::register_hasher<stowage::sha256>();  // built-ins: nothing to do
    BOOST_TEST(stowage::hasher_known("fnv1a64"));
    BOOST_CHECK_EXCEPTION(stowage::register_hasher<client_policies::impostor_fnv>(), stowage::error,
                          [](const stowage::error& e) { return e.kind() == stowage::errc::bad_input; });
    BOOST_TEST(stowage::verify_record(record, key).id == "new");
    BOOST_TEST(stowage::check_record(record, key).digest_checked);
    BOOST_TEST(other.get("new")->title == "written with fnv1a64");
    BOOST_TEST(other.verify().ok());
    auto any = stowage::any_hasher::by_name("fnv1a64");
    BOOST_TEST_REQUIRE(any.has_value());
    any->update(stowage::as_bytes("a"));
    BOOST_TEST(stowage::to_hex(any->finish()) == "af63dc4c8601ec8c");

    // Damage under a registered hasher is damage, by name too.
    auto bad = record;
    bad.back() ^= std::byte{1};
    BOOST_CHECK_EXCEPTION(stowage::verify_record(bad, key), stowage::error,
                          [](const stowage::error& e) { return e.kind() == stowage::errc::checksum_mismatch; });
}
