// export.hpp — every collection of a database as JSON Lines, and back.
//
//   std::ofstream out("dump.jsonl");
//   stowage::export_database(db, out);                 // streaming
//   auto plan = stowage::validate_import("dump.jsonl", "data");   // changes nothing
//   stowage::apply_import("data", plan);               // backup, then one transaction
//
// Format (version 1). One JSON object per line, '\n' after each:
//   {"format":"stowage-export","version":1,"time":"2024-05-01T12:00:00Z","lsn":812,
//    "attachments":false,"collections":[{"name":"sessions","codec":"gzip+json","documents":104}]}
//   {"collection":"sessions","document":{"id":"s1",...}}            one per document
//   {"collection":"notes","schema":3,"document":{"id":"n1",...}}    schema version != 1
//   {"attachment":"cas/sha256/ab/ab12…","size":5,"base64":"aGVsbG8="}   with attachments
//   {"trailer":{"documents":104,"attachments":0,"sha256":"<hex>"}}
// The trailer's sha256 covers every byte before the trailer line.
// `python3 -m json.tool --json-lines` reads it (the mongoexport convention).
//
// Export. A database snapshot (database.hpp) pins one LSN; every record of
// every collection ("<collection>/<2 hex>/<id>") at that LSN is read,
// verified against its digest and written: records encoded as JSON (codec
// "json" or "gzip+json") embed their payload's JSON; records in another
// codec (binary, ...) go through a type registered for their collection in
// an export_registry (the CAS map's "cas_blobs" and "cas_refs" are
// registered by default), and a collection with neither is refused with
// errc::unsupported naming it — before anything is written. Nothing is
// skipped silently: keys that are not records (store listing snapshots,
// full-text indexes — their manifest record and segments: derived data,
// rebuilt rather than restored, named in report.indexes — the WAL, CAS
// chunks unless `attachments`) are counted in the report. A damaged record
// (corrupt, or failing its digest) does not stop the export: every record
// is checked before any output, and damaged ones are left out and named in
// report.damaged (key, what is wrong) — the header's and trailer's counts
// are those of the documents written, so the file still imports; `stowage
// export` then exits 1 naming them. Memory stays bounded: one record (or
// one chunk block) at a time, plus the key list.
// Export only reads: a database opened read-only works (committed records
// not yet applied are read from its log). Beside a writer in another
// process, a record removed during the export is errc::conflict (run it
// again) and one rewritten in place as it was read is read once more, so
// neither is reported as damage; such an export holds the state at open
// plus whatever that writer applied meanwhile, not one snapshot.
//
// Import. validate_import() reads the whole file first and changes nothing
// (it only reads the target directory, to resolve references and compare
// codecs): the header
// (format, version), every line (the validating simdjson parse json_document
// uses: RFC 8259, UTF-8, depth limit; the DOM parser would refuse or round
// numbers like 1e400 that documents may hold), the collection list and
// per-collection counts, every document (an object with a non-empty string
// "id", no id twice in a collection, decodable as its registered type), every
// attachment (strict base64 whose content matches its name), references
// (each chunk a cas_blobs manifest names is in the file or the directory),
// and the trailer (count and SHA-256; a missing trailer is refused unless
// `allow_unsigned`). Any problem is errc::bad_input (errc::unsupported for a
// version) naming the line and the reason. The file is read in blocks, and
// a line longer than options.max_line (16 MiB) is refused naming the line
// and the limit — except an attachment line exactly as export writes it,
// which is decoded, hashed and later written block by block, so a CAS chunk
// of any size imports in bounded memory. A collection the target already
// holds keeps its codec: documents for it are written the way its records
// are (json and gzip+json re-encoded), and any other difference (binary
// records, a registered type's codec) is errc::bad_input naming the
// collection and both codecs, before anything is written — a record its
// collection's readers cannot decode is never stored. apply_import() then opens the
// directory, makes a verified backup (backup.hpp), writes attachment chunks
// that are missing (immutable, outside the log), and puts every document in
// ONE transaction: all of them or none. Documents replace those with the
// same id; other documents stay (an import merges). A record's schema
// version (envelope.hpp; migration.hpp owns the versions) other than 1 is
// carried as "schema":N on its document line, and import writes it back
// into the record's envelope, so a migrated collection round-trips.
// Any Storage policy: validate_import(file, storage) resolves references in
// a storage, and apply_import(db, plan, backup_root) applies to an open
// database<Storage> (a backup root must then be named: a pool has no
// directory beside it); the stores it stages through see the database via
// import_view.
//
// Legacy files: validate_legacy(collection, file) reads a monolithic JSON
// array of objects (the seed app's format) with the same document checks;
// the plan applies as above (codec gzip+json, as `stowage put`).
//
// Thread safety: free functions; the registry is immutable once built.
// Durability: apply_import's transaction is durable (full) at return.
#pragma once

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "backup.hpp"
#include "bytes.hpp"
#include "cas_map.hpp"
#include "codec/detail/base64.hpp"
#include "codec/gzip.hpp"
#include "codec/json.hpp"
#include "codec/json_document.hpp"
#include "database.hpp"
#include "error.hpp"
#include "hash/blake2b.hpp"
#include "hash/crc32c.hpp"
#include "hash/hex.hpp"
#include "hash/sha256.hpp"
#include "storage/file.hpp"
#include "store.hpp"

namespace stowage {

inline constexpr std::string_view export_format = "stowage-export";
inline constexpr std::uint64_t export_format_version = 1;

// Opens a store for one collection and stages a validated document into it.
class import_stager {
public:
    virtual ~import_stager() = default;
    virtual staged_write stage(const json_document& doc) = 0;
};

// A database's transactional view (database::storage()) behind one type:
// the stores a registry opens to stage imported documents are made when a
// type is registered, before the database's Storage policy is known, and
// work over a database on any of them through this handle. It satisfies
// transactional_storage and forwards every call to the view it wraps.
class import_view {
public:
    static constexpr std::string_view name = "database";

    template <storage Storage>
    explicit import_view(database<Storage>& db) : impl_(std::make_shared<model<db_view<Storage>>>(db.storage())) {}

    std::optional<bytes> read(std::string_view key) const { return impl_->read(key); }
    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        return impl_->read_range(key, offset, n);
    }
    std::optional<std::uint64_t> size(std::string_view key) const { return impl_->size(key); }
    bool contains(std::string_view key) const { return impl_->size(key).has_value(); }
    std::vector<std::string> list(std::string_view prefix) const { return impl_->list(prefix); }
    void replace(std::string_view key, bytes_view data, durability d) { impl_->replace(key, data, d); }
    void replace_batch(std::span<const blob_write> writes, durability d) { impl_->replace_batch(writes, d); }
    bool remove(std::string_view key, durability d) { return impl_->remove(key, d); }
    std::uint64_t append(std::string_view key, bytes_view data) { return impl_->append(key, data); }
    void sync(std::string_view key) { impl_->sync(key); }
    void truncate(std::string_view key, std::uint64_t n) { impl_->truncate(key, n); }
    void flush() { impl_->flush(); }
    bool read_only() const { return impl_->read_only(); }
    void commit(std::vector<staged_write>& writes, durability d) { impl_->commit(writes, d); }

private:
    struct base {
        virtual ~base() = default;
        virtual std::optional<bytes> read(std::string_view key) const = 0;
        virtual bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const = 0;
        virtual std::optional<std::uint64_t> size(std::string_view key) const = 0;
        virtual std::vector<std::string> list(std::string_view prefix) const = 0;
        virtual void replace(std::string_view key, bytes_view data, durability d) = 0;
        virtual void replace_batch(std::span<const blob_write> writes, durability d) = 0;
        virtual bool remove(std::string_view key, durability d) = 0;
        virtual std::uint64_t append(std::string_view key, bytes_view data) = 0;
        virtual void sync(std::string_view key) = 0;
        virtual void truncate(std::string_view key, std::uint64_t n) = 0;
        virtual void flush() = 0;
        virtual bool read_only() const = 0;
        virtual void commit(std::vector<staged_write>& writes, durability d) = 0;
    };
    template <class View>
    struct model final : base {
        explicit model(View v) : view(std::move(v)) {}
        std::optional<bytes> read(std::string_view key) const override { return view.read(key); }
        bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const override {
            return view.read_range(key, offset, n);
        }
        std::optional<std::uint64_t> size(std::string_view key) const override { return view.size(key); }
        std::vector<std::string> list(std::string_view prefix) const override { return view.list(prefix); }
        void replace(std::string_view key, bytes_view data, durability d) override { view.replace(key, data, d); }
        void replace_batch(std::span<const blob_write> writes, durability d) override { view.replace_batch(writes, d); }
        bool remove(std::string_view key, durability d) override { return view.remove(key, d); }
        std::uint64_t append(std::string_view key, bytes_view data) override { return view.append(key, data); }
        void sync(std::string_view key) override { view.sync(key); }
        void truncate(std::string_view key, std::uint64_t n) override { view.truncate(key, n); }
        void flush() override { view.flush(); }
        bool read_only() const override { return view.read_only(); }
        void commit(std::vector<staged_write>& writes, durability d) override { view.commit(writes, d); }
        View view;
    };
    std::shared_ptr<base> impl_;
};
static_assert(transactional_storage<import_view>);

// How the records of one collection become JSON and back.
struct export_type {
    std::string codec;  // the records' codec name
    // A verified record -> the entity as a JSON object (text).
    std::function<std::string(bytes_view record, std::string_view key)> to_json;
    // Throws bad_input when the document does not decode as the type.
    std::function<void(const json_document& doc)> check;
    // A store over db for `collection`, to stage documents through.
    std::function<std::unique_ptr<import_stager>(import_view db, const std::string& collection)> open;
};

namespace detail {

template <class Entity, class Codec, class Hasher, class Projection>
class typed_import_stager final : public import_stager {
public:
    // Registered types may be the library's own collections (cas_blobs,
    // cas_refs): the registry, not the store, decides what may be imported.
    typed_import_stager(import_view db, const std::string& collection)
        : store_(std::move(db), internal_collection{collection}) {}
    staged_write stage(const json_document& doc) override {
        if constexpr (std::is_same_v<Entity, json_document>) return store_.stage_put(doc);
        Entity e{};
        json_codec{}.decode(as_bytes(doc.dump()), e);
        return store_.stage_put(e);
    }

private:
    store<Entity, import_view, Codec, Hasher, Projection> store_;
};

}  // namespace detail

// Types registered per collection, for collections whose records are not
// JSON (and for JSON collections whose listing uses a typed projection).
class export_registry {
public:
    // With the CAS map's own collections registered.
    export_registry() {
        add<cas_manifest, binary_codec, crc32c, json_document>("cas_blobs");
        add<cas_refs, binary_codec, crc32c, json_document>("cas_refs");
    }

    template <class Entity, class Codec, hasher Hasher = sha256, class Projection = json_document>
    void add(std::string collection) {
        validate_collection(collection);
        export_type t;
        t.codec = std::string(Codec::name);
        t.to_json = [](bytes_view record, std::string_view key) {
            envelope_header h = verify_record<Hasher>(record, key);
            if (h.codec != Codec::name)
                throw error(errc::unsupported, std::string(key) + ": record written with codec \"" + h.codec +
                                                   "\", its registered type reads \"" + std::string(Codec::name) + "\"");
            Entity e{};
            Codec{}.decode(record.subspan(h.payload_offset), e);
            return to_json(e);
        };
        t.check = [](const json_document& doc) {
            Entity e{};
            json_codec{}.decode(as_bytes(doc.dump()), e);
        };
        t.open = [](import_view db, const std::string& c) -> std::unique_ptr<import_stager> {
            return std::make_unique<detail::typed_import_stager<Entity, Codec, Hasher, Projection>>(db, c);
        };
        types_.insert_or_assign(std::move(collection), std::move(t));
    }

    const export_type* find(std::string_view collection) const {
        auto it = types_.find(collection);
        return it == types_.end() ? nullptr : &it->second;
    }

private:
    std::map<std::string, export_type, std::less<>> types_;
};

struct export_options {
    bool attachments = false;  // CAS chunks, base64
    backup_progress progress;  // (documents done, documents total)
    std::function<std::chrono::system_clock::time_point()> clock;
    const export_registry* registry = nullptr;  // nullptr: the default registry
};

struct export_report {
    std::uint64_t lsn = 0;
    std::uint64_t documents = 0;
    std::uint64_t attachments = 0;
    std::map<std::string, std::uint64_t> collections;  // name -> documents
    std::vector<std::string> skipped_keys;             // not records (derived or internal)
    std::vector<std::string> indexes;                  // full-text indexes left out (derived: rebuilt, not exported)
    // Damaged records left out (key, what is wrong); the file holds the rest.
    std::vector<std::pair<std::string, std::string>> damaged;
    std::string sha256;  // as in the trailer
    bool ok() const { return damaged.empty(); }
};

namespace detail {

inline bool export_is_json_codec(std::string_view codec) { return codec == "json" || codec == "gzip+json"; }

inline std::string export_json_string(std::string_view s) { return json_value(s).dump(); }

// Buffers output, hashes every byte until the trailer, writes in blocks.
class export_writer {
public:
    explicit export_writer(std::ostream& out) : out_(out) {}
    void line(std::string_view text) {
        buf_ += text;
        buf_ += '\n';
        if (buf_.size() >= (1 << 16)) flush_buffer();
    }
    std::string digest() {
        flush_buffer();
        return to_hex(h_.finish());
    }
    void raw(std::string_view text) {  // the trailer: not hashed
        flush_buffer();
        out_.write(text.data(), static_cast<std::streamsize>(text.size()));
        out_.flush();
        if (!out_) throw error(errc::io, "export: writing the output failed");
    }

    void flush_buffer() {
        if (buf_.empty()) return;
        h_.update(as_bytes(buf_));
        out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        if (!out_) throw error(errc::io, "export: writing the output failed");
        buf_.clear();
    }
    std::string& buffer() { return buf_; }

private:
    std::ostream& out_;
    std::string buf_;
    sha256 h_;
};

// The codecs' base64 (codec/detail/base64.hpp): RFC 4648, padded; decoding
// is strict (canonical text only, no whitespace), nullopt when malformed.
inline std::string export_base64(bytes_view data) {
    std::string out;
    append_base64(out, data);
    return out;
}

inline std::optional<bytes> export_unbase64(std::string_view text) {
    bytes b;
    if (!decode_base64(text, b)) return std::nullopt;
    return b;
}

inline std::string export_record_json(bytes_view record, std::string_view key, const export_registry& reg,
                                      std::string_view collection, std::string& codec_out,
                                      std::uint32_t* schema_out = nullptr) {
    envelope_header h = verify_record(record, key);
    codec_out = h.codec;
    if (schema_out) *schema_out = h.schema_version;
    if (export_is_json_codec(h.codec)) {
        json_document doc;
        auto payload = record.subspan(h.payload_offset);
        if (h.codec == "json") json_codec{}.decode(payload, doc);
        else gzip<json_codec>{}.decode(payload, doc);
        return doc.dump();
    }
    if (auto* t = reg.find(collection)) return t->to_json(record, key);
    throw error(errc::unsupported, "collection " + std::string(collection) + ": records use codec \"" + h.codec +
                                       "\" and no type is registered for it (export_registry::add), so it cannot "
                                       "be exported; nothing was written");
}

// Whether a record is a full-text index's manifest (inverted_index.hpp: the
// index's store collection holds one record, "head", binary-coded with
// crc32c, whose listed projection is the index's id, signature and next
// batch number). An index is derived data, rebuilt from what it indexes, so
// export leaves it out (with its segments) rather than refusing its binary
// records; recognised by its header alone, without pulling the index in.
inline bool export_is_index_manifest(const envelope_header& h) {
    if (h.id != "head" || h.codec != "binary" || h.hasher != "crc32c") return false;
    try {
        auto p = json_document::parse(h.projection);
        auto* signature = p.find("signature");
        auto* next = p.find("next_number");
        return p.size() == 3 && signature && signature->is_string() && next && next->is_number();
    } catch (const error&) {
        return false;
    }
}

inline std::string export_time(std::chrono::system_clock::time_point t) {
    return backup_strftime(t, "%Y-%m-%dT%H:%M:%SZ");
}

}  // namespace detail

// Writes every collection (see the header) to out. Throws before writing
// anything when a collection cannot be exported.
// Any Storage policy: the export reads through the database's snapshot.
template <class Storage>
export_report export_database(database<Storage>& db, std::ostream& out, export_options options = {}) {
    static const export_registry default_registry;
    const export_registry& reg = options.registry ? *options.registry : default_registry;
    auto snap = db.snapshot();
    Storage raw = db.raw_storage();
    export_report report;
    report.lsn = snap.lsn();

    // Classify every key first, so a collection that cannot be exported is
    // refused before any output.
    std::map<std::string, std::vector<std::string>> records;  // collection -> keys
    std::vector<std::string> chunks;
    for (auto& key : snap.list("")) {
        if (key.starts_with("wal/")) continue;  // the log: its state is in the records
        if (detail::backup_is_chunk_key(key)) {
            if (options.attachments) chunks.push_back(std::move(key));
            else report.skipped_keys.push_back(std::move(key));
            continue;
        }
        auto slash = key.find('/');
        if (slash != std::string::npos && key.substr(0, slash) != "cas" && is_record_key(key.substr(0, slash), key)) {
            records[key.substr(0, slash)].push_back(std::move(key));
        } else {
            report.skipped_keys.push_back(std::move(key));
        }
    }
    // A record its collection's listing snapshot names but that has no
    // file was lost (deleted, or not a regular file): an export without it
    // would be a valid-looking file missing a document. Refused before any
    // output; `stowage verify` names it and `repair --from-backup` brings
    // it back. (No snapshot while a writer runs: nothing to check then.)
    for (const auto& key : report.skipped_keys) {
        const auto slash = key.find('/');
        if (slash == std::string::npos || key != key.substr(0, slash) + "/listing") continue;
        const std::string collection = key.substr(0, slash);
        std::optional<bytes> data;
        try {
            data = snap.read(key);
        } catch (const error&) {
            continue;  // a damaged snapshot is derived data: rebuilt on open, reported by verify
        }
        auto entries = data ? parse_listing_snapshot(*data) : std::nullopt;
        if (!entries) continue;
        auto it = records.find(collection);
        const std::set<std::string_view> present =
            it == records.end() ? std::set<std::string_view>{}
                                : std::set<std::string_view>(it->second.begin(), it->second.end());
        for (const auto& entry : *entries) {
            std::string rk = record_key(collection, entry.first);
            if (!present.contains(rk))
                throw error(errc::corrupt, "collection " + collection + ": the record of \"" + entry.first +
                                               "\" is missing (" + rk + ", listed in " + key +
                                               "); nothing was written ('stowage verify' names what is lost, "
                                               "'stowage repair --from-backup' brings it back)");
        }
    }
    std::map<std::string, std::string> codec_of;
    std::uint64_t total = 0;
    for (auto it = records.begin(); it != records.end();) {
        const auto& [collection, keys] = *it;
        envelope_header first;
        bool found = false;
        std::optional<error> unreadable;                                // not damage
        std::vector<std::pair<std::string, std::string>> header_damage;  // key, what
        for (const auto& key : keys) {
            auto value = snap.read(key);
            if (!value) continue;
            try {
                first = parse_envelope_header(*value, key);
                found = true;
                break;
            } catch (const error& e) {
                // A damaged header, or (read-only beside a writer) one
                // rewritten in place as it was read (see below): the next
                // record tells the codec; this one is read again below.
                const bool damage = e.kind() == errc::corrupt || e.kind() == errc::checksum_mismatch;
                if (!damage && !raw.read_only()) throw;
                if (damage) header_damage.emplace_back(key, e.what());
                else if (!unreadable) unreadable = e;
            }
        }
        if (!found && unreadable) throw *unreadable;
        if (!found && !header_damage.empty()) {
            // Every record of the collection is damaged: nothing of it to
            // export; each is reported.
            report.damaged.insert(report.damaged.end(), header_damage.begin(), header_damage.end());
            it = records.erase(it);
            continue;
        }
        const std::string& codec = first.codec;
        // A full-text index (derived) is left out, not refused: it is
        // rebuilt from its source (`stowage index build`, inverted_index::
        // rebuild), and the report names it.
        if (!reg.find(collection) && keys.size() == 1 && keys.front() == record_key(collection, "head") &&
            detail::export_is_index_manifest(first)) {
            report.indexes.push_back(collection);
            report.skipped_keys.push_back(keys.front());
            it = records.erase(it);
            continue;
        }
        total += keys.size();
        ++it;
        if (!detail::export_is_json_codec(codec) && !reg.find(collection))
            throw error(errc::unsupported, "collection " + collection + ": records use codec \"" + codec +
                                               "\" and no type is registered for it (export_registry::add), so it "
                                               "cannot be exported; nothing was written");
        codec_of[collection] = codec;
    }

    // One record as its document line's JSON. Opened read-only beside a
    // running writer in another process (as `stowage export` may be), a
    // record can be removed between the listing and the read: a conflict
    // to retry, not damage; and one may be rewritten in place while it is
    // read (the other writer's applier, database.hpp): it is read once more
    // before it is called damage, as `stowage verify` does.
    auto read_record = [&](const std::string& collection, const std::string& key, std::string& codec,
                           std::uint32_t& schema) {
        auto value = snap.read(key);
        if (!value && raw.read_only())
            throw error(errc::conflict, key + ": removed by another process during the export; run it again");
        if (!value) throw error(errc::corrupt, key + ": listed in the snapshot but unreadable");
        try {
            return detail::export_record_json(*value, key, reg, collection, codec, &schema);
        } catch (const error& e) {
            if (!raw.read_only() || (e.kind() != errc::corrupt && e.kind() != errc::checksum_mismatch)) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            auto again = snap.read(key);
            if (!again || *again == *value) throw;
            return detail::export_record_json(*again, key, reg, collection, codec, &schema);
        }
    };
    // Damaged records are found before any output, so the header's counts
    // (and the trailer's) are those of the documents the file holds: the
    // export goes on past damage, leaves those records out and names them
    // in report.damaged. (Each record is read twice: here and to write it.)
    auto same_codec = [](const std::string& a, const std::string& b) {
        return a == b || (detail::export_is_json_codec(a) && detail::export_is_json_codec(b));
    };
    std::set<std::string> damaged_keys;
    std::map<std::string, std::uint64_t> damaged_in;  // collection -> records left out
    for (const auto& [collection, keys] : records) {
        for (const auto& key : keys) {
            std::string codec;
            std::uint32_t schema = 1;
            try {
                (void)read_record(collection, key, codec, schema);
            } catch (const error& e) {
                if (e.kind() != errc::corrupt && e.kind() != errc::checksum_mismatch) throw;
                report.damaged.emplace_back(key, e.what());
                damaged_keys.insert(key);
                ++damaged_in[collection];
                continue;
            }
            if (!same_codec(codec, codec_of[collection]))
                throw error(errc::unsupported, key + ": codec \"" + codec + "\" differs from the collection's \"" +
                                                   codec_of[collection] + "\"; nothing was written");
        }
    }
    total -= damaged_keys.size();

    detail::export_writer w(out);
    {
        json_value::array list;
        for (const auto& [collection, keys] : records) {
            json_value::object c;
            c.emplace_back("name", collection);
            c.emplace_back("codec", codec_of[collection]);
            c.emplace_back("documents", static_cast<std::uint64_t>(keys.size() - damaged_in[collection]));
            list.emplace_back(std::move(c));
        }
        json_document header;
        header.set("format", export_format);
        header.set("version", export_format_version);
        header.set("time", detail::export_time(options.clock ? options.clock() : std::chrono::system_clock::now()));
        header.set("lsn", report.lsn);
        header.set("attachments", options.attachments);
        header.set("collections", std::move(list));
        w.line(header.dump());
    }
    std::uint64_t done = 0;
    for (const auto& [collection, keys] : records) {
        std::string prefix = "{\"collection\":" + detail::export_json_string(collection);
        for (const auto& key : keys) {
            if (damaged_keys.contains(key)) continue;  // left out, reported
            std::string codec;
            std::uint32_t schema = 1;
            std::string json = read_record(collection, key, codec, schema);
            if (!same_codec(codec, codec_of[collection]))
                throw error(errc::unsupported, key + ": codec \"" + codec + "\" differs from the collection's \"" +
                                                   codec_of[collection] + "\"");
            w.line(prefix + (schema == 1 ? "" : ",\"schema\":" + std::to_string(schema)) + ",\"document\":" + json + "}");
            report.documents++;
            report.collections[collection]++;
            if (options.progress) options.progress(++done, total);
        }
    }
    for (const auto& key : chunks) {
        // One line per chunk, encoded block by block (3-byte aligned, so the
        // pieces concatenate into one base64 text).
        auto size = raw.size(key);
        if (!size) throw error(errc::conflict, "CAS chunk " + key + " was removed during the export; try again");
        w.buffer() += "{\"attachment\":" + detail::export_json_string(key) + ",\"size\":" + std::to_string(*size) +
                      ",\"base64\":\"";
        constexpr std::uint64_t block = 3 << 18;
        for (std::uint64_t off = 0; off < *size; off += block) {
            bytes part = raw.read_range(key, off, block);
            w.buffer() += detail::export_base64(part);
            w.flush_buffer();
        }
        w.line("\"}");
        report.attachments++;
    }
    report.sha256 = w.digest();
    w.raw("{\"trailer\":{\"documents\":" + std::to_string(report.documents) +
          ",\"attachments\":" + std::to_string(report.attachments) + ",\"sha256\":\"" + report.sha256 + "\"}}\n");
    return report;
}

// --- import ------------------------------------------------------------------

// Lines of an export file longer than this are refused (errc::bad_input
// naming the line and the limit), so one line never costs more than a
// bounded amount of memory: a document is parsed whole, and its parsed form
// takes up to ~40 times its text (an array of small numbers). 16 MiB is
// MongoDB's document limit. Attachment lines as export writes them are
// exempt: they are decoded and written block by block, never held whole
// (a CAS chunk may be a whole video).
inline constexpr std::size_t import_default_max_line = std::size_t{16} << 20;

struct import_options {
    bool allow_unsigned = false;  // accept a file without a trailer
    const export_registry* registry = nullptr;
    std::size_t max_line = import_default_max_line;  // bytes of one line, '\n' not counted
};

struct import_document {
    std::string collection;
    json_document document;
    std::uint64_t line = 0;  // where it came from (element index for legacy files)
    std::uint32_t schema = 1;  // the schema version its record is written with
};

struct import_attachment {
    std::string key;  // cas/<hasher>/<2 hex>/<hex>
    std::uint64_t size = 0;
    std::uint64_t offset = 0;  // of its line in the file
    std::uint64_t length = 0;  // of its line
    std::uint64_t line = 0;
    bool streamed = false;  // longer than max_line: decoded block by block, never whole
};

// A validated import: what apply_import() will write.
struct import_plan {
    std::filesystem::path file;
    std::map<std::string, std::string> collections;  // name -> codec
    std::vector<import_document> documents;
    std::vector<import_attachment> attachments;
    bool signed_ = false;  // had a valid trailer
};

namespace detail {

class import_failure {
public:
    import_failure(const std::filesystem::path& file, std::uint64_t line, std::string_view label = "line")
        : file_(file.string()), line_(line), label_(label) {}
    [[noreturn]] void operator()(const std::string& why, errc code = errc::bad_input) const {
        throw error(code, file_ + ": " + label_ + " " + std::to_string(line_) + ": " + why + "; nothing was imported");
    }

private:
    std::string file_;
    std::uint64_t line_;
    std::string label_;
};

inline std::optional<std::uint64_t> import_uint(const json_value* v) {
    if (!v || !v->is_number()) return std::nullopt;
    return v->as_integer<std::uint64_t>();
}

// Checks a document against its collection's type and the ids seen so far.
inline void import_check_document(const json_value& d, const std::string& collection, const export_registry& reg,
                                  std::map<std::string, std::map<std::string, std::uint64_t>>& ids, std::uint64_t line,
                                  const import_failure& fail) {
    if (!d.is_object()) fail("\"document\" is not a JSON object");
    json_document doc(d.as_object());
    auto id = doc.id();
    if (!id || id->empty()) fail("document has no non-empty string \"id\"");
    if (auto [it, fresh] = ids[collection].emplace(*id, line); !fresh)
        fail("document id \"" + id->substr(0, 80) + "\" appears twice in collection " + collection + " (first at " +
             std::to_string(it->second) + ")");
    try {
        validate_id(*id);
        (void)record_key(collection, *id);
        if (auto* t = reg.find(collection)) t->check(doc);
        else (void)doc.dump();  // strings must be valid UTF-8 to be stored
    } catch (const error& e) {
        fail(std::string("document \"") + id->substr(0, 80) + "\" does not decode: " + e.what());
    }
}

// Rewrites the schema version of a freshly made, intact record (envelope
// offset 10) and its header CRC, as stamp_envelope_lsn does for the LSN.
inline void import_set_schema(bytes& record, std::uint32_t schema) {
    std::size_t total = envelope_header_size(record, "record");
    (void)parse_envelope_header(record, "record");
    for (int i = 0; i < 4; ++i) record[10 + i] = std::byte((schema >> (8 * i)) & 0xff);
    std::uint32_t crc = crc32c::of(bytes_view(record).first(total - 4));
    for (int i = 0; i < 4; ++i) record[total - 4 + i] = std::byte((crc >> (8 * i)) & 0xff);
}

// The lines of an export file, read in blocks so that no line is held whole
// beyond `limit` bytes: a longer one is handed over as its first `limit`
// bytes, and the caller reads the rest in pieces (an attachment as export
// writes it) or refuses it. std::getline would grow one string with the
// line: a 1 GB line took 5 GB.
class import_line_reader {
public:
    import_line_reader(const std::filesystem::path& file, std::size_t limit) : limit_(limit), in_(file, std::ios::binary) {
        // "No such file or directory" naming it, as every command reports an input file.
        if (!in_) throw_errno(errno ? errno : ENOENT, "cannot open " + file.string());
        file_ = file.string();
    }

    // The next line (without its '\n') into `line`; false at the end of the
    // file. `complete` is false when the line is longer than the limit:
    // `line` then holds its first `limit` bytes and piece() reads on.
    bool next(std::string& line, bool& complete) {
        line.clear();
        start_ = offset_;
        newline_ = false;
        complete = line_done_ = true;
        bool any = false;
        for (;;) {
            if (pos_ == buf_.size() && !fill()) return any;
            any = true;
            auto nl = buf_.find('\n', pos_);
            std::size_t take = (nl == std::string::npos ? buf_.size() : nl) - pos_;
            if (line.size() + take > limit_) {
                take = limit_ - line.size();
                line.append(buf_, pos_, take);
                consume(take);
                complete = line_done_ = false;
                return true;
            }
            line.append(buf_, pos_, take);
            consume(take);
            if (nl != std::string::npos) {
                consume(1);
                newline_ = true;
                return true;
            }
        }
    }

    // The next bytes of an over-long line (at most `max`); empty at its end
    // (and from then on, until next()). The view is valid until the next call.
    std::string_view piece(std::size_t max) {
        if (line_done_) return {};
        if (pos_ == buf_.size() && !fill()) {
            line_done_ = true;
            return {};
        }
        if (buf_[pos_] == '\n') {
            consume(1);
            newline_ = line_done_ = true;
            return {};
        }
        auto nl = buf_.find('\n', pos_);
        std::size_t end = std::min(nl == std::string::npos ? buf_.size() : nl, pos_ + max);
        std::string_view v(buf_.data() + pos_, end - pos_);
        consume(v.size());
        return v;
    }

    std::uint64_t line_offset() const { return start_; }
    std::uint64_t line_length() const { return offset_ - start_ - (newline_ ? 1 : 0); }
    bool had_newline() const { return newline_; }

private:
    bool fill() {
        buf_.resize(block);
        in_.read(buf_.data(), static_cast<std::streamsize>(block));
        buf_.resize(static_cast<std::size_t>(in_.gcount()));
        pos_ = 0;
        if (in_.bad()) throw error(errc::io, "reading " + file_ + " failed");
        return !buf_.empty();
    }
    void consume(std::size_t n) {
        pos_ += n;
        offset_ += n;
    }

    static constexpr std::size_t block = std::size_t{1} << 20;
    std::size_t limit_;
    std::ifstream in_;
    std::string file_;
    std::string buf_;
    std::size_t pos_ = 0;
    std::uint64_t offset_ = 0, start_ = 0;
    bool newline_ = false, line_done_ = true;
};

// Strict base64 (RFC 4648: padded, canonical, no whitespace), decoded as it
// arrives in pieces of any size; the same text export_unbase64 accepts.
class base64_stream_decoder {
public:
    // Decodes text into out (appended); false when it breaks the rules.
    bool feed(std::string_view text, bytes& out) {
        for (char c : text) {
            if (bad_ || done_) return !(bad_ = true);
            int v = c == '=' ? pad : value(c);
            if (v < 0 || (v != pad && n_ > 0 && quad_[n_ - 1] == pad)) return !(bad_ = true);
            if (v == pad && n_ < 2) return !(bad_ = true);
            quad_[n_++] = v;
            if (n_ == 4) emit(out);
        }
        return !bad_;
    }
    // Whether the text ended on a whole group.
    bool finish() const { return !bad_ && n_ == 0; }

private:
    static constexpr int pad = 64;
    static int value(char c) {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    }
    void emit(bytes& out) {
        n_ = 0;
        const std::uint32_t a = static_cast<std::uint32_t>(quad_[0]), b = static_cast<std::uint32_t>(quad_[1]);
        out.push_back(std::byte((a << 2 | b >> 4) & 0xff));
        if (quad_[2] == pad) {  // "xx==": one byte, and b's low bits unused (canonical: zero)
            bad_ = quad_[3] != pad || (b & 0x0f) != 0;
            done_ = true;
            return;
        }
        const std::uint32_t c = static_cast<std::uint32_t>(quad_[2]);
        out.push_back(std::byte((b << 4 | c >> 2) & 0xff));
        if (quad_[3] == pad) {  // "xxx=": two bytes
            bad_ = (c & 0x03) != 0;
            done_ = true;
            return;
        }
        out.push_back(std::byte((c << 6 | static_cast<std::uint32_t>(quad_[3])) & 0xff));
    }

    std::array<int, 4> quad_{};
    std::size_t n_ = 0;
    bool bad_ = false, done_ = false;  // done_: padding seen, nothing may follow
};

// A digest by hasher name (built in or registered: store.hpp's
// register_hasher), fed in pieces (digest_by_name wants it whole).
class import_digest {
public:
    explicit import_digest(std::string_view name) : h_(any_hasher::by_name(name)) {}
    bool known() const { return h_.has_value(); }
    void update(bytes_view b) {
        if (h_) h_->update(b);
    }
    std::string hex() { return h_ ? to_hex(h_->finish()) : std::string(); }

private:
    std::optional<any_hasher> h_;
};

// An attachment line exactly as export writes it,
//   {"attachment":"KEY","size":N,"base64":"TEXT"}
// read in pieces (`next()` gives the line's bytes after `head`, empty at
// its end): the content goes to `sink` block by block and is never held
// whole. Returns the problem, or "" when the line is well formed and its
// content matches its size and its name. Only a line too long to parse whole
// goes this way; shorter ones are parsed as JSON (any spacing or order).
struct import_streamed_attachment {
    std::string key;
    std::uint64_t size = 0;
};
template <class Next, class Sink>
std::string import_stream_attachment(std::string_view head, Next&& next, Sink&& sink, import_streamed_attachment& a) {
    constexpr std::string_view open = "{\"attachment\":\"", size_field = "\",\"size\":", text_field = ",\"base64\":\"";
    if (!head.starts_with(open)) return "not an attachment line";
    auto key_end = head.find('"', open.size());
    if (key_end == std::string_view::npos || !head.substr(key_end).starts_with(size_field))
        return "not an attachment line";
    a.key = std::string(head.substr(open.size(), key_end - open.size()));
    if (!valid_key(a.key) || !backup_is_chunk_key(a.key)) return "attachment key \"" + a.key.substr(0, 80) + "\" is not a CAS chunk key";
    std::size_t p = key_end + size_field.size(), digits = p;
    while (p < head.size() && head[p] >= '0' && head[p] <= '9' && p - digits < 20) ++p;
    auto parsed = std::from_chars(head.data() + digits, head.data() + p, a.size);
    if (p == digits || parsed.ec != std::errc{} || (head[digits] == '0' && p - digits > 1) ||
        !head.substr(p).starts_with(text_field))
        return "an attachment line is {\"attachment\":KEY,\"size\":N,\"base64\":TEXT}";
    std::string hasher = a.key.substr(4, a.key.find('/', 4) - 4);
    import_digest digest(hasher);
    if (!digest.known()) return "attachment " + a.key + ": unknown hasher \"" + hasher + "\"";
    // The text ends with the line's last two bytes, "}: held back until
    // the end so that they never reach the decoder.
    base64_stream_decoder decoder;
    std::string tail;
    bytes block;
    std::uint64_t decoded = 0;
    auto take = [&](std::string_view text) {
        block.clear();
        if (!decoder.feed(text, block)) return false;
        decoded += block.size();
        if (decoded > a.size) return false;
        digest.update(block);
        sink(bytes_view(block));
        return true;
    };
    auto feed = [&](std::string_view piece) {
        if (piece.size() >= 2) {
            bool ok = take(tail) && take(piece.substr(0, piece.size() - 2));
            tail.assign(piece.substr(piece.size() - 2));
            return ok;
        }
        tail += piece;
        if (tail.size() <= 2) return true;
        bool ok = take(std::string_view(tail).substr(0, tail.size() - 2));
        tail.erase(0, tail.size() - 2);
        return ok;
    };
    bool ok = feed(head.substr(p + text_field.size()));
    for (std::string_view piece = next(); ok && !piece.empty(); piece = next()) ok = feed(piece);
    if (!ok && decoded > a.size) return "attachment " + a.key + ": size does not match its content";
    if (!ok || tail != "\"}" || !decoder.finish()) return "attachment " + a.key + ": malformed base64 or line end";
    if (decoded != a.size) return "attachment " + a.key + ": size does not match its content";
    auto name = a.key.substr(a.key.rfind('/') + 1);
    if (digest.hex() != name || a.key.substr(a.key.rfind('/') - 2, 2) != name.substr(0, 2))
        return "attachment " + a.key + ": content does not match its name";
    return {};
}

// Writes a streamed attachment (import_attachment::streamed) from the file
// to raw storage block by block, checked as validate_import checked it: on a
// storage that renames (file_storage) appended to a temporary key, synced
// and renamed into place, so the chunk is never held whole (cas_map::gc
// removes a temporary key a crash leaves); elsewhere collected and written
// at once, as such a storage writes values whole.
template <class Storage>
void import_write_streamed(Storage& raw, std::ifstream& in, const std::filesystem::path& file,
                           const import_attachment& a) {
    in.clear();
    in.seekg(static_cast<std::streamoff>(a.offset));
    std::uint64_t left = a.length;
    std::string block;
    auto next = [&]() -> std::string_view {
        block.resize(static_cast<std::size_t>(std::min<std::uint64_t>(left, std::uint64_t{1} << 20)));
        in.read(block.data(), static_cast<std::streamsize>(block.size()));
        if (static_cast<std::size_t>(in.gcount()) != block.size()) block.clear();  // shrank: the checks fail
        left = block.empty() ? 0 : left - block.size();
        return block;
    };
    const std::string head(next());
    import_streamed_attachment got;
    auto changed = [&] {
        return error(errc::conflict, file.string() + ": line " + std::to_string(a.line) +
                                         " changed since it was validated; no document was imported");
    };
    if constexpr (renames_keys<Storage>) {
        const std::string temp = "cas/tmp/import-" + std::to_string(reinterpret_cast<std::uintptr_t>(&a)) + "-" +
                                 std::to_string(a.line);
        raw.replace(temp, {}, durability::none);
        try {
            auto problem = import_stream_attachment(head, next, [&](bytes_view b) { raw.append(temp, b); }, got);
            if (!problem.empty() || got.key != a.key) throw changed();
            raw.sync(temp);
            raw.rename(temp, a.key, durability::full);
        } catch (...) {
            try {
                raw.remove(temp, durability::none);
            } catch (...) {
            }
            throw;
        }
    } else {
        bytes data;
        auto problem = import_stream_attachment(head, next, [&](bytes_view b) { append(data, b); }, got);
        if (!problem.empty() || got.key != a.key) throw changed();
        raw.replace(a.key, data, durability::full);
    }
}

// The codec the records of `collection` in `target` are written with (its
// first record's), or "" when it holds none.
template <class Target>
std::string import_existing_codec(const Target& target, const std::string& collection) {
    for (const auto& key : target.list(collection + "/")) {
        if (!is_record_key(collection, key)) continue;
        if (auto value = target.read(key)) return parse_envelope_header(*value, key).codec;
    }
    return {};
}

// The codec the imported records of each collection are written with: the
// file's (or its registered type's), or, when the target already holds the
// collection in the other JSON codec, the target's (the documents are
// re-encoded), so that every record of a collection reads with the same
// codec. Any other difference is refused before anything is written: a
// record its collection's readers cannot decode must never be stored (such
// records failed every read while `verify` said ok).
template <class Target>
std::map<std::string, std::string> import_codecs(const import_plan& plan, const Target& target, const export_registry& reg,
                                                 const std::string& where) {
    std::set<std::string> used;
    for (const auto& d : plan.documents) used.insert(d.collection);
    std::map<std::string, std::string> out;
    for (const auto& [collection, file_codec] : plan.collections) {
        const export_type* t = reg.find(collection);
        std::string writes = t ? t->codec : file_codec;
        std::string existing = used.count(collection) ? import_existing_codec(target, collection) : std::string();
        if (!existing.empty() && existing != writes) {
            if (t || !export_is_json_codec(existing) || !export_is_json_codec(writes))
                throw error(errc::bad_input,
                            plan.file.string() + ": collection " + collection + " in " + where + " holds records in codec \"" +
                                existing + "\", the file's are \"" + file_codec + "\"" +
                                (t && t->codec != file_codec ? " (its registered type writes \"" + t->codec + "\")" : "") +
                                ", and they cannot be re-encoded into it; nothing was imported");
            writes = existing;
        }
        out[collection] = writes;
    }
    return out;
}

// Each chunk a cas_blobs manifest names must be in the file or in the
// target (`has_key` asks it; empty: no target yet), named `where`.
inline void import_check_references(const import_plan& plan, const std::function<bool(const std::string&)>& has_key,
                                    const std::string& where) {
    std::set<std::string> in_file;
    for (const auto& a : plan.attachments) in_file.insert(a.key.substr(a.key.rfind('/') + 1));
    for (const auto& d : plan.documents) {
        if (d.collection != "cas_blobs") continue;
        auto* chunks = d.document.find("chunks");
        if (!chunks || !chunks->is_array()) continue;  // the type check already ran
        for (const auto& c : chunks->as_array()) {
            auto* digest = c.is_object() ? c.find("digest") : nullptr;
            if (!digest || !digest->is_string()) continue;
            const std::string& hex = digest->as_string();
            if (in_file.count(hex)) continue;
            bool found = false;
            if (has_key && hex.size() >= 2 && valid_key("x/" + hex))
                for (std::string_view h : {sha256::name, blake2b::name})
                    found = found || has_key("cas/" + std::string(h) + "/" + hex.substr(0, 2) + "/" + hex);
            if (!found)
                import_failure(plan.file, d.line)("cas_blobs manifest refers to chunk " + hex.substr(0, 80) +
                                                  ", which is neither in the file (export --attachments) nor in " +
                                                  where);
        }
    }
}

}  // namespace detail

namespace detail {

// validate_import without the reference check.
inline import_plan import_read_plan(const std::filesystem::path& file, const import_options& options) {
    static const export_registry default_registry;
    const export_registry& reg = options.registry ? *options.registry : default_registry;
    import_line_reader in(file, options.max_line);
    import_plan plan;
    plan.file = file;
    std::map<std::string, std::uint64_t> declared;  // collection -> documents in the header
    std::map<std::string, std::map<std::string, std::uint64_t>> ids;
    std::map<std::string, std::uint64_t> counted;
    sha256 h;
    std::string line;
    std::uint64_t number = 0;
    bool header_seen = false, trailer_seen = false, complete = true;
    while (in.next(line, complete)) {
        ++number;
        detail::import_failure fail(file, number);
        if (trailer_seen) fail("content after the trailer");
        if (!complete) {
            // Too long to parse whole: only an attachment as export writes
            // it is read on (decoded and hashed block by block).
            import_streamed_attachment a;
            // Enough of it to hold an attachment's key and size, whatever the limit.
            for (std::string_view more; line.size() < 4096 && !(more = in.piece(4096 - line.size())).empty();) line += more;
            h.update(as_bytes(line));
            auto next = [&] {
                auto piece = in.piece(std::size_t{1} << 20);
                h.update(as_bytes(piece));
                return piece;
            };
            std::string problem =
                header_seen ? import_stream_attachment(line, next, [](bytes_view) {}, a) : "not an attachment line";
            if (problem == "not an attachment line")
                fail("the line is longer than the limit of " + std::to_string(options.max_line) +
                     " bytes (import_options::max_line; `stowage import --max-line BYTES` raises it)");
            if (!problem.empty()) fail(problem);
            if (in.had_newline()) h.update(as_bytes("\n"));
            plan.attachments.push_back({a.key, a.size, in.line_offset(), in.line_length(), number, true});
            continue;
        }
        bool had_newline = in.had_newline();
        std::uint64_t line_offset = in.line_offset();
        if (line.empty() || line == "\r") fail("empty line");
        json_document obj;
        try {
            obj = json_document::parse(line);
        } catch (const error& e) {
            fail(std::string("not a JSON object: ") + e.what());
        }
        if (!header_seen) {
            auto* format = obj.find("format");
            if (!format || !format->is_string() || format->as_string() != export_format)
                fail("not a stowage export (the first line must be a header with \"format\":\"stowage-export\")");
            auto version = detail::import_uint(obj.find("version"));
            if (!version) fail("header has no \"version\"");
            if (*version != export_format_version)
                fail("export format version " + std::to_string(*version) + " (this build reads version 1)",
                     errc::unsupported);
            auto* cols = obj.find("collections");
            if (!cols || !cols->is_array()) fail("header has no \"collections\" array");
            for (const auto& c : cols->as_array()) {
                auto* name = c.is_object() ? c.find("name") : nullptr;
                auto* codec = c.is_object() ? c.find("codec") : nullptr;
                if (!name || !name->is_string() || !codec || !codec->is_string())
                    fail("header: each collection needs a string \"name\" and \"codec\"");
                try {
                    validate_collection(name->as_string());
                } catch (const error& e) {
                    fail(std::string("header: ") + e.what());
                }
                if (name->as_string() == "wal" || name->as_string() == "cas")
                    fail("header: collection name \"" + name->as_string() + "\" is reserved");
                if (!detail::export_is_json_codec(codec->as_string()) && !reg.find(name->as_string()))
                    fail("header: collection " + name->as_string() + " uses codec \"" + codec->as_string() +
                         "\" and no type is registered for it");
                if (!plan.collections.emplace(name->as_string(), codec->as_string()).second)
                    fail("header: collection " + name->as_string() + " listed twice");
                if (auto n = detail::import_uint(c.find("documents"))) declared[name->as_string()] = *n;
                else if (c.find("documents")) fail("header: \"documents\" of " + name->as_string() + " is not a count");
            }
            header_seen = true;
            h.update(as_bytes(line));
            if (had_newline) h.update(as_bytes("\n"));
            continue;
        }
        if (auto* t = obj.find("trailer")) {
            if (obj.size() != 1 || !t->is_object()) fail("malformed trailer");
            auto docs = detail::import_uint(t->find("documents"));
            auto atts = detail::import_uint(t->find("attachments"));
            auto* digest = t->find("sha256");
            if (!docs || !atts || !digest || !digest->is_string())
                fail("trailer needs \"documents\", \"attachments\" and \"sha256\"");
            if (*docs != plan.documents.size())
                fail("trailer says " + std::to_string(*docs) + " documents, the file has " +
                     std::to_string(plan.documents.size()));
            if (*atts != plan.attachments.size())
                fail("trailer says " + std::to_string(*atts) + " attachments, the file has " +
                     std::to_string(plan.attachments.size()));
            if (digest->as_string() != to_hex(h.finish()))
                fail("SHA-256 of the file does not match its trailer (altered or damaged)");
            trailer_seen = true;
            continue;
        }
        h.update(as_bytes(line));
        if (had_newline) h.update(as_bytes("\n"));
        if (auto* c = obj.find("collection")) {
            auto* schema_field = obj.find("schema");
            if (obj.size() != (schema_field ? 3u : 2u) || !c->is_string() || !obj.find("document"))
                fail("a document line is {\"collection\":NAME[,\"schema\":N],\"document\":{...}}");
            std::uint32_t schema = 1;
            if (schema_field) {
                auto n = detail::import_uint(schema_field);
                if (!n || *n == 0 || *n > 0xffffffffu) fail("\"schema\" must be a schema version from 1 to 4294967295");
                schema = static_cast<std::uint32_t>(*n);
            }
            const std::string& collection = c->as_string();
            if (!plan.collections.count(collection)) fail("collection " + collection.substr(0, 80) + " is not in the header");
            detail::import_check_document(*obj.find("document"), collection, reg, ids, number, fail);
            counted[collection]++;
            plan.documents.push_back({collection, json_document(obj.find("document")->as_object()), number, schema});
        } else if (auto* a = obj.find("attachment")) {
            auto size = detail::import_uint(obj.find("size"));
            auto* text = obj.find("base64");
            if (obj.size() != 3 || !a->is_string() || !size || !text || !text->is_string())
                fail("an attachment line is {\"attachment\":KEY,\"size\":N,\"base64\":TEXT}");
            const std::string& key = a->as_string();
            if (!valid_key(key) || !detail::backup_is_chunk_key(key)) fail("attachment key \"" + key.substr(0, 80) + "\" is not a CAS chunk key");
            auto data = detail::export_unbase64(text->as_string());
            if (!data) fail("attachment " + key + ": malformed base64");
            if (data->size() != *size) fail("attachment " + key + ": size does not match its content");
            auto hasher_name = key.substr(4, key.find('/', 4) - 4);
            auto digest = digest_by_name(hasher_name, *data);
            if (!digest) fail("attachment " + key + ": unknown hasher \"" + hasher_name + "\"");
            if (to_hex(*digest) != key.substr(key.rfind('/') + 1) || key.substr(key.rfind('/') - 2, 2) != key.substr(key.rfind('/') + 1, 2))
                fail("attachment " + key + ": content does not match its name");
            plan.attachments.push_back({key, *size, line_offset, line.size(), number});
        } else {
            fail("unknown line (neither a document, an attachment nor the trailer)");
        }
    }
    // An empty file has no line to name ("line 0" said nothing).
    if (!header_seen)
        throw error(errc::bad_input, file.string() + ": the file is empty (an export starts with a header line); "
                                                     "nothing was imported");
    detail::import_failure at_end(file, number);
    if (!trailer_seen && !options.allow_unsigned)
        at_end("no trailer: the file is truncated or unsigned (allow_unsigned / --allow-unsigned accepts a "
               "hand-written file)");
    for (const auto& [collection, n] : declared)
        if (counted[collection] != n)
            at_end("header declares " + std::to_string(n) + " documents in " + collection + ", the file has " +
                   std::to_string(counted[collection]));
    plan.signed_ = trailer_seen;
    return plan;
}

}  // namespace detail

// Reads and checks the whole export file (see the header); changes nothing.
// `target` is only read, to resolve references.
inline import_plan validate_import(const std::filesystem::path& file, const std::filesystem::path& target,
                                   import_options options = {}) {
    static const export_registry default_registry;
    auto plan = detail::import_read_plan(file, options);
    std::optional<file_storage> dir;
    std::error_code ec;
    if (std::filesystem::is_directory(target, ec)) dir.emplace(target, open_mode::read_only);
    std::function<bool(const std::string&)> has_key;
    if (dir) has_key = [&](const std::string& key) { return dir->contains(key); };
    detail::import_check_references(plan, has_key, target.string());
    if (dir) {
        // Codecs that cannot be reconciled are refused here already, before
        // the directory is opened for writing (apply_import checks again).
        database<file_storage> db{*dir};
        (void)detail::import_codecs(plan, db.storage(), options.registry ? *options.registry : default_registry,
                                    target.string());
    }
    return plan;
}

// The same with the target on any Storage policy (read only: chunks are
// looked up in it to resolve references).
template <storage Storage>
import_plan validate_import(const std::filesystem::path& file, const Storage& target, import_options options = {}) {
    static const export_registry default_registry;
    auto plan = detail::import_read_plan(file, options);
    detail::import_check_references(plan, [&](const std::string& key) { return target.contains(key); },
                                    std::string(Storage::name) + " storage");
    // Applied records only (the log is not replayed here); apply_import
    // checks again through the database.
    (void)detail::import_codecs(plan, target, options.registry ? *options.registry : default_registry,
                                std::string(Storage::name) + " storage");
    return plan;
}

// A monolithic JSON array of objects (the seed app's per-collection file).
inline import_plan validate_legacy(const std::string& collection, const std::filesystem::path& file,
                                   import_options options = {}) {
    static const export_registry default_registry;
    const export_registry& reg = options.registry ? *options.registry : default_registry;
    validate_collection(collection);
    std::string text = detail::backup_read_text(file);
    json_value root;
    try {
        root = detail::parse_json_text(text, "legacy file", [](auto& r, detail::json_session& s) {
            s.unique_keys = true;  // input, as json_document::parse: a repeated key is refused
            simdjson::ondemand::json_type t{};
            s.check(r.type().get(t));
            if (t != simdjson::ondemand::json_type::array) s.fail("top level must be a JSON array of documents");
            return detail::read_json_value(r, s);
        });
    } catch (const error& e) {
        throw error(errc::bad_input, file.string() + ": " + e.what() + "; nothing was imported");
    }
    import_plan plan;
    plan.file = file;
    auto* t = reg.find(collection);
    plan.collections[collection] = t ? t->codec : "gzip+json";
    std::map<std::string, std::map<std::string, std::uint64_t>> ids;
    std::uint64_t index = 0;
    for (auto& d : root.as_array()) {
        ++index;
        detail::import_check_document(d, collection, reg, ids, index, detail::import_failure(file, index, "element"));
        plan.documents.push_back({collection, json_document(std::move(d.as_object())), index});
    }
    return plan;
}

struct import_report {
    std::string backup_id;  // the backup made before anything changed
    std::uint64_t documents = 0;
    std::uint64_t attachments_written = 0;
    std::uint64_t lsn = 0;  // the import transaction's commit LSN
};

// Applies a validated plan to the data directory: a verified backup first
// (into `backup_root`, default "<dir>.backups"), then missing attachment
// chunks, then every document in one transaction. The same over an open
// database on any Storage policy; there, `backup_root` must be given (a
// pool has no directory beside it): bad_input, nothing changed, without it.
template <storage Storage>
import_report apply_import(database<Storage>& db, const import_plan& plan, const std::filesystem::path& backup_root,
                           import_options options = {}) {
    static const export_registry default_registry;
    const export_registry& reg = options.registry ? *options.registry : default_registry;
    if (backup_root.empty())
        throw error(errc::bad_input, "import: a backup root is needed (the state before the import is backed up "
                                     "first); nothing was imported");
    import_view view(db);
    // Before anything is written (the backup included): a collection whose
    // records the target holds in a codec the imported ones cannot take.
    const auto codecs = detail::import_codecs(plan, view, reg, "the target");
    import_report report;
    backups bk(backup_root);
    report.backup_id = bk.create(db).id;

    if (!plan.attachments.empty()) {
        std::ifstream in(plan.file, std::ios::binary);
        if (!in) throw_errno(errno ? errno : ENOENT, "cannot reopen " + plan.file.string());
        Storage raw = db.raw_storage();
        for (const auto& a : plan.attachments) {
            if (raw.contains(a.key)) continue;
            if (a.streamed) {
                detail::import_write_streamed(raw, in, plan.file, a);
                report.attachments_written++;
                continue;
            }
            std::string line(a.length, '\0');
            in.seekg(static_cast<std::streamoff>(a.offset));
            in.read(line.data(), static_cast<std::streamsize>(line.size()));
            auto obj = json_document::parse(line);
            auto data = detail::export_unbase64(obj.find("base64")->as_string());
            auto digest = data ? digest_by_name(a.key.substr(4, a.key.find('/', 4) - 4), *data) : std::nullopt;
            if (!digest || to_hex(*digest) != a.key.substr(a.key.rfind('/') + 1))
                throw error(errc::conflict, plan.file.string() + ": line " + std::to_string(a.line) +
                                                " changed since it was validated; no document was imported");
            raw.replace(a.key, *data, durability::full);
            report.attachments_written++;
        }
    }

    std::map<std::string, std::unique_ptr<import_stager>> stagers;
    for (const auto& [collection, codec] : codecs) {
        if (auto* t = reg.find(collection)) {
            stagers[collection] = t->open(view, collection);
        } else if (codec == "json") {
            stagers[collection] = std::make_unique<detail::typed_import_stager<json_document, json_codec, sha256, json_document>>(view, collection);
        } else {
            stagers[collection] =
                std::make_unique<detail::typed_import_stager<json_document, gzip<json_codec>, sha256, json_document>>(view, collection);
        }
    }
    auto tx = db.transaction();
    for (const auto& d : plan.documents) {
        staged_write w = stagers.at(d.collection)->stage(d.document);
        if (w.value && d.schema != 1) detail::import_set_schema(*w.value, d.schema);
        tx.stage(std::move(w));
    }
    report.lsn = tx.commit();
    report.documents = plan.documents.size();
    return report;
}

// Opens the data directory and applies the plan (backups into
// `backup_root`, default "<dir>.backups").
inline import_report apply_import(const std::filesystem::path& dir, const import_plan& plan,
                                  const std::filesystem::path& backup_root = {}, import_options options = {}) {
    database<file_storage> db{file_storage(dir)};
    return apply_import(db, plan, backup_root.empty() ? backups::default_root(dir) : backup_root, options);
}

// validate_import, then apply_import: the whole file is checked before the
// directory is opened, so a rejected file leaves it byte-for-byte unchanged.
inline import_report import_file(const std::filesystem::path& dir, const std::filesystem::path& file,
                                 import_options options = {}, const std::filesystem::path& backup_root = {}) {
    auto plan = validate_import(file, dir, options);
    return apply_import(dir, plan, backup_root, options);
}

}  // namespace stowage
