// store.hpp — a typed entity store: one collection of entities with string
// ids over any Storage policy, each entity one self-describing, checksummed
// record (envelope.hpp), with an in-memory listing of every entity's
// projection (projection.hpp) so listing never reads entities.
//
//   store<session, file_storage, gzip<json_codec>, sha256, session_summary>
//       sessions(file_storage("data"), "sessions");
//   sessions.put(s);                        // atomic, durable at return
//   auto s = sessions.get("42");            // verified, std::optional
//   for (auto& [id, summary] : sessions.list()) ...
//   for (const auto& s : sessions.entities(on_damage)) ...   // every entity
//
// Iteration reads each entity as it reaches it and never stops at a
// damaged record, nor returns one: it skips it and goes on. With
// entities(on_damage) each skipped record is reported to on_damage(id,
// error) as it is met; plain iteration (begin()/end(), range-for over the
// store) reads all the others and then, at the end, throws the first
// damage's errc naming how many records it skipped — damage is never
// hidden. (verify() reports damage by key without decoding anything.)
//
// Layout: the record of id X lives at key "<collection>/<shard>/<escaped X>"
// where shard is two hex digits of CRC-32C(X) (256 directories, so no
// directory grows huge) and the escaped id percent-encodes every byte
// outside [A-Za-z0-9_.-] (and a leading '.'); ids whose escaped form is
// longer than 150 bytes are stored under "~" + SHA-256(X) hex. The id itself
// is always in the envelope. "<collection>/listing" holds the listing
// snapshot (below).
//
// Durability (store_options::durability): `full` (default) — put/erase are
// on stable storage when they return; `batched` — a background flusher
// syncs within `batch_window`; `none` — only flush() or a clean close syncs.
// A write is atomic in every mode: after a crash a reader sees the old
// record or the new one (Storage's atomic replace).
//
// The listing after a crash: a clean close writes the listing to
// "<collection>/listing" (after flushing everything); a read-write open
// loads it and durably removes it before accepting any write. So a listing
// snapshot on disk is always exact; without one (a crash, a kill, a power
// loss) the listing is rebuilt from the records' envelope headers, which
// carry the projections. Records whose header is damaged are left out of the
// listing and reported by open_problems() and verify().
//
// Thread safety: any number of concurrent readers (get, contains, list,
// verify) with concurrent writers; writers (put, erase) are serialized by
// the store, so several threads may write. A read concurrent with a write
// of the same id sees the old or the new entity. One read-write store per
// collection per data directory (file_storage's lock enforces one writer
// process); read-only stores may run beside it and see the listing as of
// their open (refresh() re-reads it).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "codec/json.hpp"
#include "codec/json_document.hpp"
#include "concepts.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "hash/blake2b.hpp"
#include "hash/crc32c.hpp"
#include "hash/hex.hpp"
#include "hash/sha256.hpp"
#include "projection.hpp"
#include "staged_write.hpp"
#include "storage/key.hpp"

namespace stowage {

struct store_options {
    stowage::durability durability = stowage::durability::full;
    // With durability::batched: the longest time a returned write stays unsynced.
    std::chrono::milliseconds batch_window{50};
    // Written into every record; readers see which schema wrote a record.
    std::uint32_t schema_version = 1;
};

// What verify() found.
struct verify_report {
    std::size_t records = 0;                                  // records checked
    std::uint64_t bytes = 0;                                  // bytes read
    std::vector<std::pair<std::string, std::string>> damaged;  // key, what is wrong
    bool ok() const { return damaged.empty(); }
};

// Whether a failure to read a record is damage to that record — it cannot
// be read as data (corrupt or checksum_mismatch: damaged bytes;
// unsupported: a format, codec or hasher this reader does not know;
// bad_input: verified bytes that do not decode as the type) — rather than a
// failure of the storage (io, permission_denied, timeout, ...). Iteration,
// index rebuilds and exports skip and report the former and stop at the latter.
inline bool is_record_damage(errc kind) noexcept {
    return kind == errc::corrupt || kind == errc::checksum_mismatch || kind == errc::unsupported ||
           kind == errc::bad_input;
}

// --- record keys -------------------------------------------------------------

// Collection names are one key component of [A-Za-z0-9_-], not "listing".
inline void validate_collection(std::string_view c) {
    bool ok = !c.empty() && c.size() <= 64;
    for (char ch : c)
        ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-');
    if (!ok) throw error(errc::bad_input, "invalid collection name \"" + std::string(c.substr(0, 80)) +
                                              "\" (1-64 characters of A-Z a-z 0-9 _ -)");
}

// The top-level names the library keeps for its own data, each with what
// it holds. A client's store of one of these names would mix its records
// with the library's (verify would then report false damage, a blob would
// become unreadable), so a store refuses them; the library's own
// components open theirs with detail::internal_collection.
struct reserved_name {
    std::string_view name;
    std::string_view holds;
};
inline constexpr reserved_name reserved_collections[] = {
    {"wal", "the write-ahead log"},
    {"cas", "the content-addressed chunks"},
    {"cas_blobs", "the content-addressed blobs' manifests"},
    {"cas_refs", "the content-addressed blobs' references"},
    {"_migrations", "the migrations' journal"},
    {"maintenance_jobs", "the maintenance jobs' cursors"},
    {"attached", "the attachments' definitions and journals (commit_hooks.hpp)"},
};

// What a reserved name holds, or empty for a name a client may use.
inline std::string_view reserved_collection(std::string_view c) {
    for (const auto& r : reserved_collections)
        if (r.name == c) return r.holds;
    return {};
}

// A collection name a client may use: valid, and not reserved.
inline void validate_client_collection(std::string_view c) {
    validate_collection(c);
    if (auto holds = reserved_collection(c); !holds.empty())
        throw error(errc::bad_input, "collection name \"" + std::string(c) + "\" is reserved: it holds " +
                                         std::string(holds) + "; choose another name");
}

namespace detail {
// A library component's own collection (a reserved name is allowed).
struct internal_collection {
    std::string name;
};
}  // namespace detail

inline void validate_id(std::string_view id) {
    if (id.empty()) throw error(errc::bad_input, "empty entity id");
    if (id.size() > 4096) throw error(errc::bad_input, "entity id longer than 4096 bytes");
}

// The storage key of an entity's record (see the header comment).
inline std::string record_key(std::string_view collection, std::string_view id) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string escaped;
    for (std::size_t i = 0; i < id.size(); ++i) {
        auto c = static_cast<unsigned char>(id[i]);
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                     c == '-' || (c == '.' && i > 0);
        if (plain) {
            escaped += static_cast<char>(c);
        } else {
            escaped += '%';
            escaped += hex[c >> 4];
            escaped += hex[c & 15];
        }
    }
    if (escaped.size() > 150) escaped = "~" + to_hex(hash_of<sha256>(id));
    std::uint32_t shard = crc32c::of(as_bytes(id)) & 0xff;
    std::string key(collection);
    key += '/';
    key += hex[shard >> 4];
    key += hex[shard & 15];
    key += '/';
    key += escaped;
    return key;
}

// Whether a key (as listed under "<collection>/") is a record key.
inline bool is_record_key(std::string_view collection, std::string_view key) {
    if (key.size() < collection.size() + 5 || !key.starts_with(collection) || key[collection.size()] != '/') return false;
    auto rest = key.substr(collection.size() + 1);
    auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    return rest.size() > 3 && is_hex(rest[0]) && is_hex(rest[1]) && rest[2] == '/' &&
           rest.find('/', 3) == std::string_view::npos;
}

// --- hashers by name -------------------------------------------------------------
//
// A component that has its Hasher as a template parameter (store, cas_map,
// migration, the database's stores) verifies with that policy. Tools that
// meet a record without knowing its type (the `stowage` command, backups,
// export and import, maintenance jobs) find the hasher by the name in the
// record's envelope: the built-in ones (sha256, blake2b, crc32c) are always
// known, and a client makes its own known once, at startup:
//
//   stowage::register_hasher<fnv1a64>();   // thread-safe; again is a no-op
//
// A name no one registered is errc::unsupported naming it (the command
// reports such a record as unverifiable: neither damaged nor verified).

// A hasher chosen by name at run time, fed in pieces like a hasher policy.
class any_hasher {
public:
    // The hasher named `name` (built in or registered), or nullopt.
    static std::optional<any_hasher> by_name(std::string_view name);

    template <hasher H>
    static any_hasher of() {
        return any_hasher(std::make_unique<model<H>>());
    }

    void update(bytes_view data) { impl_->update(data); }
    // The digest of everything updated; the hasher is then reset.
    bytes finish() { return impl_->finish(); }

private:
    struct base {
        virtual ~base() = default;
        virtual void update(bytes_view data) = 0;
        virtual bytes finish() = 0;
    };
    template <class H>
    struct model final : base {
        H h;
        void update(bytes_view data) override { h.update(data); }
        bytes finish() override {
            auto d = h.finish();
            return bytes(d.begin(), d.end());
        }
    };
    explicit any_hasher(std::unique_ptr<base> impl) : impl_(std::move(impl)) {}
    std::unique_ptr<base> impl_;
};

namespace detail {
// The client hashers registered by name (the built-ins are not in it).
struct hasher_registry {
    struct entry {
        std::string name;
        any_hasher (*make)();  // &any_hasher::of<H>: also tells one H from another
    };
    std::shared_mutex mutex;
    std::vector<entry> entries;

    static hasher_registry& instance() {
        static hasher_registry r;
        return r;
    }
};

// Whether `name` can name a hasher: it is stored in envelopes and is a key
// component of content-addressed chunks ("cas/<name>/..").
inline bool valid_hasher_name(std::string_view name) {
    bool ok = !name.empty() && name.size() <= 64 && name != "tmp" && name.front() != '.';
    for (char c : name)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                    c == '.');
    return ok;
}

inline bool builtin_hasher(std::string_view name) {
    return name == sha256::name || name == blake2b::name || name == crc32c::name;
}
}  // namespace detail

// Makes H known by its name to the tools that look hashers up by name
// (digest_by_name). Thread-safe and idempotent; the built-ins need no
// registration (registering one is a no-op). A different hasher under a
// name already taken, or a name that cannot be a key component
// ([A-Za-z0-9_.-], 1-64 characters, not "tmp", not starting with '.'), is
// errc::bad_input.
template <hasher H>
void register_hasher() {
    const std::string_view name = H::name;
    if (!detail::valid_hasher_name(name))
        throw error(errc::bad_input, "hasher name \"" + std::string(name.substr(0, 80)) +
                                         "\" cannot be registered (1-64 characters of A-Z a-z 0-9 _ . -, not \"tmp\", "
                                         "not starting with '.')");
    if (detail::builtin_hasher(name)) {
        if (std::is_same_v<H, sha256> || std::is_same_v<H, blake2b> || std::is_same_v<H, crc32c>) return;
        throw error(errc::bad_input, "hasher name \"" + std::string(name) + "\" is a built-in hasher's; choose another");
    }
    any_hasher (*make)() = &any_hasher::of<H>;
    auto& r = detail::hasher_registry::instance();
    std::unique_lock lock(r.mutex);
    for (const auto& e : r.entries) {
        if (e.name != name) continue;
        if (e.make == make) return;
        throw error(errc::bad_input, "a different hasher is already registered as \"" + std::string(name) + "\"");
    }
    r.entries.push_back({std::string(name), make});
}

// Whether a hasher of that name is known: built in or registered.
inline bool hasher_known(std::string_view name) {
    if (detail::builtin_hasher(name)) return true;
    auto& r = detail::hasher_registry::instance();
    std::shared_lock lock(r.mutex);
    for (const auto& e : r.entries)
        if (e.name == name) return true;
    return false;
}

inline std::optional<any_hasher> any_hasher::by_name(std::string_view name) {
    if (name == sha256::name) return of<sha256>();
    if (name == blake2b::name) return of<blake2b>();
    if (name == crc32c::name) return of<crc32c>();
    auto& r = detail::hasher_registry::instance();
    std::shared_lock lock(r.mutex);
    for (const auto& e : r.entries)
        if (e.name == name) return e.make();
    return std::nullopt;
}

// The digest of data with the hasher named `name` (built in or registered),
// or nullopt for a hasher this program does not know.
inline std::optional<bytes> digest_by_name(std::string_view name, bytes_view data) {
    auto h = any_hasher::by_name(name);
    if (!h) return std::nullopt;
    h->update(data);
    return h->finish();
}

// The same for a component whose own hasher policy is Own: Own when the name
// is its name (registered or not), else a built-in or registered hasher.
template <hasher Own>
std::optional<bytes> digest_by_name(std::string_view name, bytes_view data) {
    if (name == Own::name) {
        auto d = hash_of<Own>(data);
        return bytes(d.begin(), d.end());
    }
    return digest_by_name(name, data);
}

namespace detail {
// errc::unsupported for a record whose hasher is unknown, saying how to
// make it known. `own` is the reading component's hasher, when it has one.
inline error unknown_hasher(std::string_view key, std::string_view name, std::string_view own = {}) {
    std::string what = std::string(key) + ": record written with hasher \"" + std::string(name.substr(0, 80)) +
                       "\", which this program does not know (";
    if (!own.empty()) what += "this reader's hasher is \"" + std::string(own) + "\"; ";
    what += "built in: sha256, blake2b, crc32c); to read it, call stowage::register_hasher<H>() at startup with the "
            "hasher type H whose name is \"" + std::string(name.substr(0, 80)) + "\"";
    return error(errc::unsupported, what);
}
}  // namespace detail

// A record is bound to its key: the id in its envelope must be the one the
// key was made from, so a valid record copied or moved over another id's
// file is damage, never that id's data. (Keys that are not record keys,
// such as a listing, are not checked.)
inline void check_record_belongs(const envelope_header& h, std::string_view key) {
    auto slash = key.find('/');
    if (slash == std::string_view::npos) return;
    auto collection = key.substr(0, slash);
    if (is_record_key(collection, key) && (h.id.empty() || record_key(collection, h.id) != key))
        throw error(errc::corrupt, std::string(key) + ": the record holds id \"" + h.id.substr(0, 200) +
                                       "\", which belongs elsewhere (a record moved or copied over another)");
}

// The listing snapshot "<collection>/listing" (format in store's
// save_listing): its (id, projection JSON) pairs, or nullopt when it fails
// its checks. For tools that check a listing against the records.
inline std::optional<std::vector<std::pair<std::string, std::string>>> parse_listing_snapshot(bytes_view v) {
    if (v.size() < 20 || as_chars(v.first(4)) != "STWL" || detail::get_le(v.data() + 4, 4) != 1) return std::nullopt;
    if (crc32c::of(v.first(v.size() - 4)) != detail::get_le(v.data() + v.size() - 4, 4)) return std::nullopt;
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t pos = 16;
    const std::size_t end = v.size() - 4;
    auto take = [&](std::size_t n) -> std::optional<std::string_view> {
        if (end - pos < n) return std::nullopt;
        auto s = as_chars(v.subspan(pos, n));
        pos += n;
        return s;
    };
    auto take_sized = [&]() -> std::optional<std::string_view> {
        auto len = take(4);
        if (!len) return std::nullopt;
        return take(static_cast<std::size_t>(detail::get_le(as_bytes(*len).data(), 4)));
    };
    const std::uint64_t count = detail::get_le(v.data() + 8, 8);
    if (count > end / 8) return std::nullopt;  // each entry takes at least 8 bytes: a hostile count
    out.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        auto id = take_sized();
        auto json = id ? take_sized() : std::nullopt;
        if (!json) return std::nullopt;
        out.emplace_back(std::string(*id), std::string(*json));
    }
    if (pos != end) return std::nullopt;
    return out;
}

namespace detail {
// A record's header, with its payload length checked.
inline envelope_header parse_whole_record(bytes_view record, std::string_view key) {
    envelope_header h = parse_envelope_header(record, key);
    if (record.size() - h.payload_offset != h.payload_size)
        throw error(errc::corrupt, std::string(key) + ": payload is " + std::to_string(record.size() - h.payload_offset) +
                                       " bytes, header says " + std::to_string(h.payload_size));
    return h;
}
inline void check_payload_digest(const bytes& digest, const envelope_header& h, std::string_view key) {
    if (digest != h.payload_digest) throw error(errc::checksum_mismatch, std::string(key) + ": payload digest mismatch");
}
}  // namespace detail

// What check_record found: the header, and whether the payload's digest
// could be checked (false: its hasher is unknown to this program).
struct record_check {
    envelope_header header;
    bool digest_checked = true;
};

// For tools that meet records of any type: checks a whole record (header
// CRC, payload length, digest by the hasher its envelope names, id bound to
// the key) without decoding it. A record whose hasher is neither built in
// nor registered is checked as far as it can be and comes back with
// digest_checked false: unverifiable, neither damaged nor verified.
// Throws corrupt / checksum_mismatch naming the key.
inline record_check check_record(bytes_view record, std::string_view key) {
    record_check r{detail::parse_whole_record(record, key)};
    if (auto digest = digest_by_name(r.header.hasher, record.subspan(r.header.payload_offset)))
        detail::check_payload_digest(*digest, r.header, key);
    else
        r.digest_checked = false;
    check_record_belongs(r.header, key);
    return r;
}

// Checks a whole record like check_record; a hasher unknown to this program
// is errc::unsupported naming it and saying how to register it.
inline envelope_header verify_record(bytes_view record, std::string_view key) {
    record_check r = check_record(record, key);
    if (!r.digest_checked) throw detail::unknown_hasher(key, r.header.hasher);
    return std::move(r.header);
}

// The same for a component whose hasher policy is Own: a record written
// with Own is checked with it (registered or not); one written with another
// hasher (the policy was switched; old records stay readable) with that
// one, when it is built in or registered; otherwise errc::unsupported.
template <hasher Own>
envelope_header verify_record(bytes_view record, std::string_view key) {
    envelope_header h = detail::parse_whole_record(record, key);
    auto digest = digest_by_name<Own>(h.hasher, record.subspan(h.payload_offset));
    if (!digest) throw detail::unknown_hasher(key, h.hasher, Own::name);
    detail::check_payload_digest(*digest, h, key);
    check_record_belongs(h, key);
    return h;
}

// Reads just the envelope header of a record (one small read for most).
template <storage Storage>
envelope_header read_record_header(const Storage& s, std::string_view key) {
    bytes probe = s.read_range(key, 0, envelope_probe_size);
    std::size_t need = envelope_header_size(probe, key);
    if (need > probe.size()) probe = s.read_range(key, 0, need);
    return parse_envelope_header(probe, key);
}

// A storage that commits staged writes atomically (a database's view). A
// store over one writes through commit(), so its listing follow-ups run in
// the database's commit order and writers never wait on each other's
// syncs (group commit).
template <class S>
concept transactional_storage = storage<S> && requires(S& s, std::vector<staged_write>& w, durability d) {
    { s.commit(w, d) } -> std::same_as<void>;
};

// --- the store -------------------------------------------------------------------

// The store's check of its Codec against its Entity, made in the class
// body rather than a requires-clause: a codec that can say why a type cannot
// be stored (diagnose<T>(), as json_codec and binary_codec do) names the
// type, the field and the fix in the compiler's first error, and the
// store's members are then left uncompiled, so nothing follows it.
template <class Codec, class Entity>
struct stowage_codec_cannot_store_entity {
    static_assert(detail::codec_dependent_false<Codec>,
                  "stowage::store: the Codec (first template argument) has no encode/decode for the Entity "
                  "(second): it does not satisfy stowage::codec_for<Codec, Entity> (concepts.hpp)");
};

namespace detail {
template <class Codec, class Entity>
constexpr bool codec_accepts() {
    constexpr bool diagnosed = [] {
        if constexpr (requires { Codec::template diagnose<Entity>(); }) return Codec::template diagnose<Entity>();
        else return true;
    }();
    if constexpr (!diagnosed) return false;
    else if constexpr (codec_for<Codec, Entity>) return true;
    else return report_failure<stowage_codec_cannot_store_entity<Codec, Entity>>();
}
}  // namespace detail

template <class Entity, storage Storage, class Codec = json_codec, hasher Hasher = sha256,
          class Projection = json_document>
class store {
    static constexpr bool codec_accepts_entity_ = detail::codec_accepts<Codec, Entity>();
    // Checked when the store type is first used, so the error comes first.
    static_assert(codec_accepts_entity_ || true);

    // The entity's id; not compiled for an entity the codec refused (its
    // error said why), so no second error follows it.
    static std::string id_of(const Entity& e) {
        if constexpr (codec_accepts_entity_) return entity_id(e);
        else return {};
    }

public:
    using entity_type = Entity;
    using projection_type = Projection;
    using storage_type = Storage;
    using hasher_type = Hasher;

    struct listed {
        std::string id;
        Projection projection;
    };

    // A client's collection: a reserved name (reserved_collections) is
    // errc::bad_input.
    store(Storage storage, std::string collection, store_options options = {}, Codec codec = Codec())
        : store(std::move(storage), detail::internal_collection{std::move(collection)}, options, std::move(codec)) {
        validate_client_collection(collection_);
    }

    // A library component's own collection.
    store(Storage storage, detail::internal_collection collection, store_options options = {}, Codec codec = Codec())
        : storage_(std::move(storage)), collection_(std::move(collection.name)), options_(options), codec_(std::move(codec)) {
        validate_collection(collection_);
        // A writer needs the listing (and must retire the snapshot) before
        // its first write; a reader loads it on first use, so `get` through
        // a read-only store reads one record and nothing else.
        if (!storage_.read_only()) load_listing();
        if (!storage_.read_only() && options_.durability == durability::batched)
            flusher_ = std::thread([this] { flusher_loop(); });
    }

    store(const store&) = delete;
    store& operator=(const store&) = delete;

    // Clean close: everything synced, then the listing snapshot written so
    // the next open need not rebuild it.
    ~store() {
        stop_flusher();
        if (storage_.read_only()) return;
        try {
            storage_.flush();
            save_listing();
        } catch (...) {
            // No snapshot: the next open rebuilds the listing from the
            // records, which is always correct.
        }
    }

    const std::string& collection() const { return collection_; }
    Storage& storage() { return storage_; }
    const store_options& options() const { return options_; }

    // --- writes ----------------------------------------------------------------

    // Stores e under its id (atomically replacing any earlier version).
    // `lsn` is the log sequence number the WAL wrote it at (0 outside the WAL).
    void put(const Entity& e, std::uint64_t lsn = 0) {
        if constexpr (transactional_storage<Storage>) {
            std::vector<staged_write> w;
            w.push_back(stage_put(e));
            storage_.commit(w, options_.durability);
            return;
        }
        std::string id = id_of(e);
        validate_id(id);
        writable();
        Projection p = project<Projection>(e);
        bytes record = make_record(id, e, p, lsn);
        std::string key = record_key(collection_, id);
        std::lock_guard write_lock(write_mutex_);
        try {
            storage_.replace(key, record, options_.durability);
        } catch (...) {
            reconcile(id, key);
            throw;
        }
        {
            std::unique_lock lock(listing_mutex_);
            listing_.insert_or_assign(std::move(id), std::move(p));
        }
        wrote();
    }

    // Stores many entities with one batched storage write (on file_storage:
    // one sync for all of them instead of one per record). Each record is
    // atomic on its own; after a crash mid-batch some may be new and some old.
    void put_many(std::span<const Entity> entities, std::uint64_t lsn = 0) {
        writable();
        if constexpr (transactional_storage<Storage>) {
            std::vector<staged_write> w;
            for (const auto& e : entities) w.push_back(stage_put(e));
            storage_.commit(w, options_.durability);
            return;
        }
        std::vector<std::string> ids, keys;
        std::vector<Projection> projections;
        std::vector<bytes> records;
        for (const auto& e : entities) {
            ids.push_back(id_of(e));
            validate_id(ids.back());
            keys.push_back(record_key(collection_, ids.back()));
            projections.push_back(project<Projection>(e));
            records.push_back(make_record(ids.back(), e, projections.back(), lsn));
        }
        std::vector<blob_write> writes;
        for (std::size_t i = 0; i < records.size(); ++i) writes.push_back({keys[i], records[i]});
        std::lock_guard write_lock(write_mutex_);
        try {
            storage_.replace_batch(writes, options_.durability);
        } catch (...) {
            for (std::size_t i = 0; i < ids.size(); ++i) reconcile(ids[i], keys[i]);
            throw;
        }
        {
            std::unique_lock lock(listing_mutex_);
            for (std::size_t i = 0; i < ids.size(); ++i) listing_.insert_or_assign(std::move(ids[i]), std::move(projections[i]));
        }
        wrote();
    }

    // Removes the entity; true if it existed.
    bool erase(std::string_view id) {
        validate_id(id);
        writable();
        if constexpr (transactional_storage<Storage>) {
            bool existed = contains(id);
            std::vector<staged_write> w;
            w.push_back(stage_erase(id));
            storage_.commit(w, options_.durability);
            return existed;
        }
        std::lock_guard write_lock(write_mutex_);
        std::string key = record_key(collection_, id);
        bool existed;
        try {
            existed = storage_.remove(key, options_.durability);
        } catch (...) {
            reconcile(std::string(id), key);
            throw;
        }
        {
            std::unique_lock lock(listing_mutex_);
            if (auto it = listing_.find(id); it != listing_.end()) {
                listing_.erase(it);
                existed = true;
            }
        }
        wrote();
        return existed;
    }

    // --- transactions ------------------------------------------------------------
    //
    // A database transaction asks the store for staged writes: the record
    // (key and bytes) plus the listing update to run once it commits.

    staged_write stage_put(const Entity& e) {
        std::string id = id_of(e);
        validate_id(id);
        writable();
        Projection p = project<Projection>(e);
        bytes record = make_record(id, e, p, 0);
        std::string key = record_key(collection_, id);
        std::string listed_id = id;
        return {std::move(key), std::move(record),
                [this, id = std::move(listed_id), p = std::move(p)]() mutable {
                    std::unique_lock lock(listing_mutex_);
                    listing_.insert_or_assign(std::move(id), std::move(p));
                },
                std::move(id)};
    }

    staged_write stage_erase(std::string_view id) {
        validate_id(id);
        writable();
        return {record_key(collection_, id), std::nullopt,
                [this, id = std::string(id)] {
                    std::unique_lock lock(listing_mutex_);
                    if (auto it = listing_.find(id); it != listing_.end()) listing_.erase(it);
                },
                std::string(id)};
    }

    std::string key_of(std::string_view id) const {
        validate_id(id);
        return record_key(collection_, id);
    }

    // Everything written so far is on stable storage.
    void flush() {
        writable();
        std::lock_guard write_lock(write_mutex_);
        storage_.flush();
        rethrow_flusher_error();
    }

    // --- reads -------------------------------------------------------------------

    // The entity, verified against its digest; nullopt when absent. Damage is
    // checksum_mismatch or corrupt naming the key, never a wrong value.
    std::optional<Entity> get(std::string_view id) const {
        validate_id(id);
        std::string key = record_key(collection_, id);
        auto record = storage_.read(key);
        if (!record) return std::nullopt;
        return decode_record(*record, key, id);
    }

    // From the listing (no I/O).
    bool contains(std::string_view id) const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        return listing_.find(id) != listing_.end();
    }

    std::size_t size() const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        return listing_.size();
    }

    // Every entity's projection, in id order, without reading any record.
    std::vector<listed> list() const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        std::vector<listed> out;
        out.reserve(listing_.size());
        for (const auto& [id, p] : listing_) out.push_back({id, p});
        return out;
    }

    std::optional<Projection> projection(std::string_view id) const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        auto it = listing_.find(id);
        if (it == listing_.end()) return std::nullopt;
        return it->second;
    }

    std::vector<std::string> ids() const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        std::vector<std::string> out;
        out.reserve(listing_.size());
        for (const auto& [id, p] : listing_) out.push_back(id);
        return out;
    }

    // The log sequence number stored with an entity's record (nullopt if absent).
    std::optional<std::uint64_t> lsn_of(std::string_view id) const {
        std::string key = record_key(collection_, id);
        if (!storage_.contains(key)) return std::nullopt;
        return read_record_header(storage_, key).lsn;
    }

    // Re-reads the listing from the records (for read-only stores beside a writer).
    void refresh() {
        {
            std::unique_lock lock(listing_mutex_);
            open_problems_.clear();
        }
        rebuild_listing();
        listing_loaded_ = true;
    }

    // Records whose header could not be read when the listing was rebuilt.
    std::vector<std::pair<std::string, std::string>> open_problems() const {
        ensure_listing();
        std::shared_lock lock(listing_mutex_);
        return open_problems_;
    }

    // Reads every record of the collection and checks its digest.
    verify_report verify() const {
        verify_report report;
        for (const auto& key : storage_.list(collection_ + "/")) {
            if (!is_record_key(collection_, key)) continue;
            ++report.records;
            try {
                auto record = storage_.read(key);
                if (!record) continue;  // erased meanwhile
                report.bytes += record->size();
                verify_record<Hasher>(*record, key);
            } catch (const error& e) {
                report.damaged.emplace_back(key, e.what());
            }
        }
        return report;
    }

    // --- iteration -------------------------------------------------------------------
    //
    // Over the entities present when begin() was called, in id order, each
    // read (and verified) as the iterator reaches it; ids erased meanwhile
    // are skipped. A record that cannot be read as data (is_record_damage:
    // damaged, an unknown format, or bytes that do not decode as Entity) is
    // never returned: iteration skips it and goes on. How it is reported:
    //   for (const auto& e : store.entities(on_damage))   on_damage(id, error)
    //       is called for each, and iteration never throws for damage (the
    //       id is empty for a record whose header is damaged, so that the
    //       listing left it out — open_problems(); the error names its key);
    //   for (const auto& e : store)   reads every other entity, then, on
    //       reaching the end, throws the first damage's errc with a message
    //       naming how many records were skipped and the first one — so plain
    //       iteration never hides damage, and never stops at it.
    // Other failures (I/O, permissions: the storage, not a record) propagate
    // from the read that met them, as from get().
    using damage_handler = std::function<void(std::string_view id, const error& problem)>;

    class entity_range;
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Entity;
        using difference_type = std::ptrdiff_t;
        using pointer = const Entity*;
        using reference = const Entity&;
        iterator() = default;
        reference operator*() const { return *current_; }
        const Entity* operator->() const { return &*current_; }
        iterator& operator++() {
            ++pos_;
            settle();
            return *this;
        }
        iterator operator++(int) {
            iterator before = *this;
            ++*this;
            return before;
        }
        friend bool operator==(const iterator& a, const iterator& b) {
            return a.at_end() == b.at_end() && (a.at_end() || a.pos_ == b.pos_);
        }

    private:
        friend class store;
        friend class entity_range;
        struct pass {
            std::vector<std::string> ids;
            damage_handler on_damage;  // empty: throw at the end instead
            std::size_t skipped = 0;
            std::optional<error> first;
            bool thrown = false;
            void damaged(std::string_view id, const error& e) {
                ++skipped;
                if (on_damage) on_damage(id, e);
                else if (!first) first = e;
            }
        };
        // A new pass over the ids listed now.
        iterator(const store* s, damage_handler on_damage) : store_(s), pass_(std::make_shared<pass>()) {
            pass_->ids = s->ids();
            pass_->on_damage = std::move(on_damage);
            // Records left out of the listing because their header is
            // damaged (open_problems): their ids are unknown, their keys
            // are in the messages.
            for (const auto& [key, what] : store_->open_problems())
                if (is_record_key(store_->collection_, key)) pass_->damaged({}, error(errc::corrupt, what));
            settle();
        }
        bool at_end() const { return !pass_ || pos_ >= pass_->ids.size(); }
        void settle() {
            current_.reset();
            for (; !at_end(); ++pos_) {
                const std::string& id = pass_->ids[pos_];
                try {
                    current_ = store_->get(id);
                } catch (const error& e) {
                    if (!is_record_damage(e.kind())) throw;
                    pass_->damaged(id, e);
                    continue;
                }
                if (current_) return;
            }
            if (pass_ && pass_->first && !pass_->thrown) {
                pass_->thrown = true;
                throw error(pass_->first->kind(),
                            "store " + store_->collection_ + ": iteration skipped " + std::to_string(pass_->skipped) +
                                " damaged record" + (pass_->skipped == 1 ? "" : "s") + " and read the rest; the first: " +
                                pass_->first->what() + " (store::entities(on_damage) iterates without throwing)");
            }
        }
        const store* store_ = nullptr;
        std::shared_ptr<pass> pass_;
        std::size_t pos_ = 0;
        std::optional<Entity> current_;
    };

    // Throws, at the end, for damage it skipped (above).
    iterator begin() const { return iterator(this, {}); }
    iterator end() const { return iterator(); }

    // The entities, skipping damaged records and calling on_damage(id, error)
    // for each (above). Each begin() is a new pass over the ids then present.
    class entity_range {
    public:
        iterator begin() const { return iterator(store_, on_damage_); }
        iterator end() const { return iterator(); }

    private:
        friend class store;
        entity_range(const store* s, damage_handler on_damage) : store_(s), on_damage_(std::move(on_damage)) {}
        const store* store_;
        damage_handler on_damage_;
    };
    entity_range entities(damage_handler on_damage) const {
        if (!on_damage) throw error(errc::bad_input, "store::entities needs a damage handler (plain iteration throws at the end instead)");
        return entity_range(this, std::move(on_damage));
    }

    // --- record format (used by the WAL and tools) --------------------------------

    bytes make_record(const std::string& id, const Entity& e, const Projection& p, std::uint64_t lsn) const {
        // Encoded into a per-thread buffer that keeps its capacity (up to
        // 1 MiB): an encoder appending to an empty vector grows it in
        // several reallocations per record, paid by every put.
        thread_local bytes scratch;
        bytes& payload = scratch;
        payload.clear();
        if constexpr (codec_accepts_entity_) codec_.encode(e, payload);
        Hasher h;
        h.update(payload);
        auto digest = h.finish();
        envelope_header header;
        header.schema_version = options_.schema_version;
        header.lsn = lsn;
        header.codec = std::string(Codec::name);
        header.hasher = std::string(Hasher::name);
        header.id = id;
        header.projection = to_json(p);
        header.payload_size = payload.size();
        header.payload_digest.assign(digest.begin(), digest.end());
        bytes record;
        record.reserve(payload.size() + 128 + header.projection.size() + id.size());
        write_envelope_header(header, record);
        append(record, payload);
        if (payload.capacity() > (1u << 20)) bytes().swap(payload);  // a rare large entity: do not keep its buffer
        return record;
    }

    Entity decode_record(bytes_view record, std::string_view key, std::string_view id) const {
        envelope_header h = verify_record<Hasher>(record, key);
        if (h.id != id) throw error(errc::corrupt, std::string(key) + ": record holds id \"" + h.id + "\"");
        if (h.codec != Codec::name)
            throw error(errc::unsupported, std::string(key) + ": record written with codec \"" + h.codec +
                                               "\", this store reads \"" + std::string(Codec::name) + "\"");
        Entity e{};
        try {
            if constexpr (codec_accepts_entity_) codec_.decode(record.subspan(h.payload_offset), e);
        } catch (const error& err) {
            // The digest matched, so these are the bytes that were written:
            // a schema or codec mismatch, reported with the key.
            throw error(err.kind(), std::string(key) + ": " + err.what());
        }
        return e;
    }

private:
    void writable() const {
        if (storage_.read_only()) throw error(errc::read_only, "store " + collection_ + " was opened read-only");
        rethrow_flusher_error();
    }

    std::string listing_key() const { return collection_ + "/listing"; }

    // After a failed write the record may hold the old value or the new one
    // (e.g. the rename happened but the directory sync failed): make the
    // listing say what the storage now holds. If even that read fails, the
    // listing is rebuilt from the records on its next use.
    void reconcile(const std::string& id, const std::string& key) noexcept {
        try {
            std::unique_lock lock(listing_mutex_);
            if (storage_.contains(key)) {
                envelope_header h = read_record_header(storage_, key);
                listing_.insert_or_assign(id, from_json<Projection>(h.projection));
            } else if (auto it = listing_.find(id); it != listing_.end()) {
                listing_.erase(it);
            }
        } catch (...) {
            listing_loaded_ = false;
        }
    }

    // Listing snapshot: "STWL" u32 version=1, u64 count, then per entity
    // u32 id length, id, u32 projection length, projection JSON; CRC-32C of
    // everything before it.
    void save_listing() {
        bytes out;
        append(out, as_bytes("STWL"));
        detail::put_le(out, 1, 4);
        {
            std::shared_lock lock(listing_mutex_);
            detail::put_le(out, listing_.size(), 8);
            for (const auto& [id, p] : listing_) {
                std::string json = to_json(p);
                detail::put_le(out, id.size(), 4);
                append(out, as_bytes(id));
                detail::put_le(out, json.size(), 4);
                append(out, as_bytes(json));
            }
        }
        detail::put_le(out, crc32c::of(out), 4);
        // Not under the listing lock: through a database this replace is a
        // commit, and a commit takes the listing lock in its follow-up while
        // holding the database's commit lock (found by ThreadSanitizer as a
        // lock-order inversion: a deadlock with a concurrent commit).
        storage_.replace(listing_key(), out, durability::full);
    }

    // A damaged snapshot (or one that is not a regular file) is rebuilt
    // from the records; `stowage verify` reports it.
    bool load_listing_snapshot() {
        try {
            auto data = storage_.read(listing_key());
            if (!data) return false;
            auto entries = parse_listing_snapshot(*data);
            if (!entries) return false;
            std::map<std::string, Projection, std::less<>> listing;
            for (auto& [id, json] : *entries) listing.emplace(std::move(id), from_json<Projection>(json));
            std::unique_lock lock(listing_mutex_);
            listing_ = std::move(listing);
            return true;
        } catch (const error&) {
            return false;  // rebuild from the records instead
        }
    }

    // Whether the loaded snapshot names exactly the record files there are
    // (one directory walk, no record read): a record deleted, added or
    // replaced by something else behind the library's back makes the
    // snapshot stale, and the listing is then rebuilt from the records.
    bool snapshot_matches_records() {
        std::vector<std::string> files;
        for (auto& key : storage_.list(collection_ + "/"))
            if (is_record_key(collection_, key)) files.push_back(std::move(key));
        std::vector<std::string> listed;
        {
            std::shared_lock lock(listing_mutex_);
            listed.reserve(listing_.size());
            for (const auto& entry : listing_) listed.push_back(record_key(collection_, entry.first));
        }
        std::sort(listed.begin(), listed.end());
        if (listed == files) return true;
        open_problems_.emplace_back(listing_key(), "the listing snapshot disagrees with the record files; rebuilt from the records");
        return false;
    }

    // Read-only stores load the listing on first use.
    void ensure_listing() const {
        if (listing_loaded_) return;
        std::lock_guard lock(load_mutex_);
        if (listing_loaded_) return;
        const_cast<store*>(this)->load_listing();
    }

    void load_listing() {
        open_problems_.clear();
        bool loaded = load_listing_snapshot() && snapshot_matches_records();
        if (!storage_.read_only() && storage_.contains(listing_key())) {
            // From here on the snapshot would go stale: remove it, durably,
            // before any write can happen.
            storage_.remove(listing_key(), durability::full);
        }
        if (!loaded) rebuild_listing();
        listing_loaded_ = true;
    }

    void rebuild_listing() {
        std::map<std::string, Projection, std::less<>> listing;
        std::vector<std::pair<std::string, std::string>> problems;
        for (const auto& key : storage_.list(collection_ + "/")) {
            if (!is_record_key(collection_, key)) continue;
            try {
                envelope_header h = read_record_header(storage_, key);
                if (record_key(collection_, h.id) != key)
                    throw error(errc::corrupt, key + ": record holds id \"" + h.id + "\" which belongs elsewhere");
                listing.insert_or_assign(h.id, from_json<Projection>(h.projection));
            } catch (const error& e) {
                if (e.kind() == errc::not_found) continue;  // erased meanwhile
                problems.emplace_back(key, e.what());
            }
        }
        std::unique_lock lock(listing_mutex_);
        listing_ = std::move(listing);
        open_problems_.insert(open_problems_.end(), problems.begin(), problems.end());
    }

    // --- batched durability ------------------------------------------------------

    void wrote() {
        if (options_.durability != durability::batched) return;
        {
            std::lock_guard lock(flusher_mutex_);
            if (!dirty_since_) dirty_since_ = std::chrono::steady_clock::now();
        }
        flusher_cv_.notify_one();
    }

    void flusher_loop() {
        std::unique_lock lock(flusher_mutex_);
        while (!stopping_) {
            if (!dirty_since_) {
                flusher_cv_.wait(lock);
                continue;
            }
            auto due = *dirty_since_ + options_.batch_window;
            if (flusher_cv_.wait_until(lock, due, [&] { return stopping_; })) break;
            dirty_since_.reset();
            lock.unlock();
            try {
                storage_.flush();
            } catch (const error& e) {
                std::lock_guard l(flusher_mutex_);
                if (!flusher_error_) flusher_error_ = e;
            }
            lock.lock();
        }
    }

    void stop_flusher() {
        if (!flusher_.joinable()) return;
        {
            std::lock_guard lock(flusher_mutex_);
            stopping_ = true;
        }
        flusher_cv_.notify_one();
        flusher_.join();
    }

    // A failed background sync poisons the store: later writes report it
    // instead of being acknowledged on top of lost data.
    void rethrow_flusher_error() const {
        std::lock_guard lock(flusher_mutex_);
        if (flusher_error_)
            throw error(errc::failed_state, "store " + collection_ + ": background sync failed earlier: " +
                                                flusher_error_->what());
    }

    mutable Storage storage_;
    std::string collection_;
    store_options options_;
    Codec codec_;

    std::mutex write_mutex_;
    mutable std::shared_mutex listing_mutex_;
    std::map<std::string, Projection, std::less<>> listing_;
    std::vector<std::pair<std::string, std::string>> open_problems_;
    std::atomic<bool> listing_loaded_{false};
    mutable std::mutex load_mutex_;

    mutable std::mutex flusher_mutex_;
    std::condition_variable flusher_cv_;
    std::optional<std::chrono::steady_clock::time_point> dirty_since_;
    std::optional<error> flusher_error_;
    bool stopping_ = false;
    std::thread flusher_;
};

}  // namespace stowage
