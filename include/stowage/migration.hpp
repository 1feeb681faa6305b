// migration.hpp — schema migrations of one collection of a database:
// typed steps between schema versions, a dry run, a rollback point, batches
// with progress, verification, automatic rollback, lazy migrate-on-read,
// pause/resume/cancel.
//
//   struct note_v1 { std::string id, title; };            // + STOWAGE_DESCRIBE
//   struct note_v2 { std::string id, title; std::int64_t words = 0; };
//   auto schema = stowage::collection_schema<>("notes")    // version 1 is note_v1
//       .step<note_v1, note_v2>([](note_v1 o) { return note_v2{o.id, o.title, 0}; });
//   stowage::migration m(db, stowage::backups(stowage::backups::default_root("data")), schema);
//   auto plan = m.dry_run();                  // what would change; changes nothing
//   auto done = m.run();                      // eager: every record to version 2
//   auto n = m.get<note_v2>("n1");            // lazy: an older record migrated on read
//
// Schema versions. Every record's envelope carries the schema version that
// wrote it (envelope.hpp, offset 10; store_options::schema_version). A
// collection_schema names the entity type of each version from `first`
// (default 1) up to latest() and the step from each version to the next; a
// record of version v is decoded as v's type and stepped up to the latest.
// Records are written at latest() with the schema's codec, hasher and
// projection — the same bytes a store<Latest, ..., options.schema_version =
// latest()> writes. A record of a version the schema does not know (newer
// than latest, or older than first) is errc::unsupported.
//
// run(), eagerly:
//   1. rolls back an interrupted earlier run (recover());
//   2. reads every record's header; a damaged record stops it before
//      anything changed (repair it first: backups::repair);
//   3. makes a rollback point: a verified backup (backup.hpp), pinned so
//      rotation keeps it while the migration runs;
//   4. writes a journal record "_migrations/<collection>" naming it;
//   5. migrates in batches, each one transaction (records read in the
//      transaction, so a concurrent change of one retries the batch),
//      reporting progress, pausing or stopping between batches;
//   6. verifies: every record intact, at latest(), decodable as the latest
//      type, and every record that was there still there;
//   7. commits the end: the journal erased, the collection's listing
//      snapshot erased (its projections are stale) — in one transaction.
// A failing step, a failing verification or cancel() rolls back: every
// record of the collection is put back as the rollback point holds it (the
// backup is verified first), in batches, and the journal is erased last.
// A crash anywhere leaves either no journal — the old state (before 4) or
// the new one (after 7) — or the journal, and then recover() (which run()
// calls first; call it on open) rolls back to the old state. So after
// recovery the collection is old or new, never a mix.
//
// Lazy migration: get<Latest>(id) decodes a record of any known version
// and steps it up to the latest; with options.write_back_on_read the
// migrated record is stored (one transaction, conflict-checked against the
// read). Mixed versions are then normal, and every read is right.
//
// Limits: database<file_storage> (the rollback point is a backup). Nothing
// else may write the collection during run(): a rollback puts back the
// rollback point's records and so undoes such writes. Close every store
// over the collection before run() and reopen it after: a store keeps its
// listing in memory and writes it as a snapshot at its clean close, which
// would then describe the old projections. Lazy write-back has the same
// effect on an open store's listing for the records it rewrites. A batch
// (forward or rollback) holds batch_size records in memory.
//
// Thread safety: pause/resume/cancel/paused/waiting from any thread while
// run() runs on one; get() and dry_run() from any thread.
// Durability: full — each batch, the journal and the end are durable when
// written; run() returns after the end is durable.
#pragma once

#include <algorithm>
#include <any>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include "backup.hpp"
#include "codec/json.hpp"
#include "codec/json_document.hpp"
#include "database.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "hash/sha256.hpp"
#include "projection.hpp"
#include "store.hpp"

namespace stowage {

// The entity types of a collection's schema versions and the steps between
// them. Copyable; immutable once handed to a migration.
template <class Codec = json_codec, hasher Hasher = sha256, class Projection = json_document>
class collection_schema {
public:
    using codec_type = Codec;
    using hasher_type = Hasher;

    explicit collection_schema(std::string collection, std::uint32_t first_version = 1, Codec codec = Codec())
        : collection_(std::move(collection)), first_(first_version), codec_(std::move(codec)) {
        validate_collection(collection_);
        if (first_ == 0) throw error(errc::bad_input, "collection_schema " + collection_ + ": versions start at 1");
    }

    // Names the entity type of the first version (needed only by a schema
    // that has no steps yet).
    template <class T>
        requires codec_for<Codec, T>
    collection_schema& initial() {
        if (!versions_.empty())
            throw error(errc::bad_input, "collection_schema " + collection_ + ": initial<T>() must come before every step");
        add_version<T>();
        return *this;
    }

    // Adds version latest()+1 with entity type To, reached from the latest
    // version (whose type must be From) by fn(From) -> To. The first step
    // also names From as the first version's type.
    template <class From, class To, class Fn>
        requires codec_for<Codec, From> && codec_for<Codec, To> && std::is_invocable_r_v<To, Fn&, From>
    collection_schema& step(Fn fn) {
        if (versions_.empty()) add_version<From>();
        if (versions_.back().type != std::type_index(typeid(From)))
            throw error(errc::bad_input, "collection_schema " + collection_ + ": step<From, To> where From is not version " +
                                             std::to_string(latest()) + "'s type");
        versions_.back().next = [fn = std::move(fn)](std::any in) mutable -> std::any {
            return std::any(To(std::invoke(fn, std::any_cast<From>(std::move(in)))));
        };
        add_version<To>();
        return *this;
    }

    const std::string& collection() const { return collection_; }
    std::uint32_t first() const { return first_; }
    std::uint32_t latest() const {
        if (versions_.empty()) throw error(errc::bad_input, "collection_schema " + collection_ + " has no versions");
        return first_ + static_cast<std::uint32_t>(versions_.size()) - 1;
    }
    bool knows(std::uint32_t v) const { return !versions_.empty() && v >= first_ && v <= latest(); }
    template <class T>
    bool is_latest() const {
        return !versions_.empty() && versions_.back().type == std::type_index(typeid(T));
    }

    // The entity of a verified record (header h), stepped up to the latest
    // version. unsupported for an unknown version or another codec;
    // a failing decode or step is reported with the key and versions.
    std::any upgrade(bytes_view record, const envelope_header& h, std::string_view key) const {
        if (!knows(h.schema_version))
            throw error(errc::unsupported, std::string(key) + ": schema version " + std::to_string(h.schema_version) +
                                               " is not one of " + collection_ + "'s versions " + std::to_string(first_) +
                                               ".." + std::to_string(latest()));
        if (h.codec != Codec::name)
            throw error(errc::unsupported, std::string(key) + ": record written with codec \"" + h.codec +
                                               "\", the schema reads \"" + std::string(Codec::name) + "\"");
        std::size_t at = h.schema_version - first_;
        std::any e;
        try {
            e = versions_[at].decode(record.subspan(h.payload_offset));
        } catch (const error& err) {
            throw error(err.kind(), std::string(key) + ": as schema version " + std::to_string(h.schema_version) + ": " +
                                        err.what());
        }
        for (; at + 1 < versions_.size(); ++at) {
            auto from = first_ + at;
            try {
                e = versions_[at].next(std::move(e));
            } catch (const error& err) {
                throw error(err.kind(), std::string(key) + ": step " + std::to_string(from) + " -> " +
                                            std::to_string(from + 1) + ": " + err.what());
            } catch (const std::exception& x) {
                throw error(errc::bad_input, std::string(key) + ": step " + std::to_string(from) + " -> " +
                                                 std::to_string(from + 1) + ": " + x.what());
            }
        }
        return e;
    }

    // The record of a latest-version entity (LSN 0: the WAL stamps it);
    // bad_input when the steps changed its id.
    bytes record_of(const std::any& latest_entity, std::string_view id, std::string_view key) const {
        const auto& v = versions_.back();
        std::string now = v.id(latest_entity);
        if (now != id)
            throw error(errc::bad_input, std::string(key) + ": the migration steps changed the id to \"" + now + "\"");
        return v.encode(latest_entity, latest());
    }

private:
    struct version {
        std::type_index type;
        std::function<std::any(bytes_view)> decode;
        std::function<bytes(const std::any&, std::uint32_t)> encode;
        std::function<std::string(const std::any&)> id;
        std::function<std::any(std::any)> next;  // to the following version
    };

    template <class T>
    void add_version() {
        static_assert(std::is_copy_constructible_v<T>, "schema version types are held in std::any: copyable");
        version v{std::type_index(typeid(T)), {}, {}, {}, {}};
        v.decode = [codec = codec_](bytes_view payload) -> std::any {
            T e{};
            codec.decode(payload, e);
            return std::any(std::move(e));
        };
        v.encode = [codec = codec_](const std::any& a, std::uint32_t schema_version) {
            const T& e = std::any_cast<const T&>(a);
            bytes payload;
            codec.encode(e, payload);
            Hasher h;
            h.update(payload);
            auto digest = h.finish();
            envelope_header header;
            header.schema_version = schema_version;
            header.codec = std::string(Codec::name);
            header.hasher = std::string(Hasher::name);
            header.id = entity_id(e);
            header.projection = to_json(project<Projection>(e));
            header.payload_size = payload.size();
            header.payload_digest.assign(digest.begin(), digest.end());
            bytes record;
            write_envelope_header(header, record);
            append(record, payload);
            return record;
        };
        v.id = [](const std::any& a) { return entity_id(std::any_cast<const T&>(a)); };
        versions_.push_back(std::move(v));
    }

    std::string collection_;
    std::uint32_t first_;
    Codec codec_;
    std::vector<version> versions_;
};

struct migration_options {
    std::size_t batch_size = 256;  // records per transaction
    backup_progress progress;      // (records done, records to migrate)
    bool write_back_on_read = false;  // get(): store what it migrated
};

struct migration_change {
    std::string id;
    std::uint32_t from = 0;
    std::uint32_t to = 0;
};

struct migration_failure {
    std::string key;
    std::string what;
};

// What run() would do, found without changing anything.
struct migration_dry_run {
    std::string collection;
    std::uint32_t target = 0;
    std::uint64_t records = 0;
    std::map<std::uint32_t, std::uint64_t> by_version;  // records per schema version now
    std::vector<migration_change> changes;              // records run() would rewrite
    std::vector<migration_failure> failures;            // records it would fail on
    bool ok() const { return failures.empty(); }
};

enum class migration_outcome { completed, nothing_to_do, cancelled };

struct migration_report {
    migration_outcome outcome = migration_outcome::nothing_to_do;
    std::string collection;
    std::uint32_t target = 0;
    std::uint64_t records = 0;   // records in the collection
    std::uint64_t migrated = 0;  // records rewritten (0 after a cancel: rolled back)
    std::uint64_t batches = 0;
    std::string rollback_point;  // the backup taken first (empty when nothing to do)
};

template <class Schema>
class migration {
public:
    migration(database<file_storage>& db, backups rollback_root, Schema schema, migration_options options = {})
        : db_(db), backups_(std::move(rollback_root)), schema_(std::move(schema)), options_(std::move(options)) {
        (void)schema_.latest();  // a schema without versions is refused here
        if (options_.batch_size == 0) throw error(errc::bad_input, "migration: batch_size 0");
    }

    migration(const migration&) = delete;
    migration& operator=(const migration&) = delete;

    const Schema& schema() const { return schema_; }
    std::string journal_key() const { return "_migrations/" + schema_.collection(); }

    // The rollback point of a migration that did not finish (a crash, or a
    // failed rollback), or nullopt.
    std::optional<std::string> interrupted() const {
        auto j = db_.snapshot().read(journal_key());
        if (!j) return std::nullopt;
        return parse_journal(*j);
    }

    // Rolls an interrupted migration back to its rollback point. Returns
    // that backup's id, or nullopt when there was nothing to do.
    std::optional<std::string> recover() {
        auto id = interrupted();
        if (id) rollback(*id);
        return id;
    }

    migration_dry_run dry_run() const {
        migration_dry_run r;
        r.collection = schema_.collection();
        r.target = schema_.latest();
        auto snap = db_.snapshot();
        auto keys = record_keys(snap);
        std::uint64_t done = 0;
        for (const auto& key : keys) {
            if (options_.progress) options_.progress(done++, keys.size());
            auto value = snap.read(key);
            if (!value) continue;
            r.records++;
            try {
                envelope_header h = verify_record<typename Schema::hasher_type>(*value, key);
                r.by_version[h.schema_version]++;
                if (h.schema_version == r.target) continue;
                auto e = schema_.upgrade(*value, h, key);
                (void)schema_.record_of(e, h.id, key);
                r.changes.push_back({h.id, h.schema_version, r.target});
            } catch (const error& e) {
                r.failures.push_back({key, e.what()});
            }
        }
        if (options_.progress) options_.progress(keys.size(), keys.size());
        return r;
    }

    // Migrates every record to the latest version (see the header). Throws,
    // after rolling back, when a record cannot be migrated or verification
    // fails; returns outcome cancelled (rolled back) after cancel().
    migration_report run() {
        migration_report r;
        r.collection = schema_.collection();
        r.target = schema_.latest();
        recover();
        std::vector<std::string> keys, todo;
        {
            auto snap = db_.snapshot();
            keys = record_keys(snap);
            for (const auto& key : keys) {
                auto value = snap.read(key);
                if (!value) continue;
                envelope_header h;
                try {
                    h = verify_record<typename Schema::hasher_type>(*value, key);
                } catch (const error& e) {
                    throw error(e.kind(), "migration of " + r.collection + " not started (nothing changed): " + e.what());
                }
                if (!schema_.knows(h.schema_version))
                    throw error(errc::unsupported, "migration of " + r.collection + " not started (nothing changed): " + key +
                                                       " has schema version " + std::to_string(h.schema_version) +
                                                       ", the schema knows " + std::to_string(schema_.first()) + ".." +
                                                       std::to_string(r.target));
                if (h.schema_version != r.target) todo.push_back(key);
            }
        }
        r.records = keys.size();
        if (todo.empty()) return r;

        auto point = backups_.create(db_, {}, "pre-migration of " + r.collection + " to version " + std::to_string(r.target));
        r.rollback_point = point.id;
        backups_.pin(point.id);
        write_journal(point.id);
        try {
            for (std::size_t i = 0; i < todo.size(); i += options_.batch_size) {
                if (!wait_while_paused()) {
                    rollback(point.id);
                    r.outcome = migration_outcome::cancelled;
                    r.migrated = 0;
                    return r;
                }
                std::span<const std::string> batch(todo.data() + i, std::min(options_.batch_size, todo.size() - i));
                r.migrated += migrate_batch(batch);
                r.batches++;
                if (options_.progress) options_.progress(i + batch.size(), todo.size());
            }
            verify_all(keys);
            finish();
        } catch (const std::exception& x) {
            fail(x, point.id);
        }
        backups_.unpin(point.id);
        r.outcome = migration_outcome::completed;
        return r;
    }

    // Pauses run() before its next batch; resume() continues; cancel() makes
    // it roll back and return cancelled (also while paused).
    void pause() {
        std::lock_guard lock(control_mutex_);
        paused_ = true;
    }
    void resume() {
        {
            std::lock_guard lock(control_mutex_);
            paused_ = false;
            waiting_ = false;  // from now on, until run() reaches a pause again
        }
        control_cv_.notify_all();
    }
    void cancel() {
        {
            std::lock_guard lock(control_mutex_);
            cancelled_ = true;
        }
        control_cv_.notify_all();
    }
    bool paused() const {
        std::lock_guard lock(control_mutex_);
        return paused_;
    }
    // Whether run() is waiting in a pause right now.
    bool waiting() const {
        std::lock_guard lock(control_mutex_);
        return waiting_;
    }

    // Lazy migration: the entity `id` at the latest version (Latest must be
    // its type), whatever version its record has; nullopt when absent.
    template <class Latest>
    std::optional<Latest> get(std::string_view id) {
        if (!schema_.template is_latest<Latest>())
            throw error(errc::bad_input, "migration::get<T>: T is not " + schema_.collection() + "'s latest version type");
        validate_id(id);
        std::string key = record_key(schema_.collection(), id);
        auto tx = db_.transaction();
        auto value = tx.read(key);
        if (!value) return std::nullopt;
        envelope_header h = verify_record<typename Schema::hasher_type>(*value, key);
        if (h.id != id) throw error(errc::corrupt, key + ": record holds id \"" + h.id + "\"");
        std::any e = schema_.upgrade(*value, h, key);
        if (options_.write_back_on_read && h.schema_version != schema_.latest()) {
            tx.stage({key, schema_.record_of(e, h.id, key), {}, h.id});
            try {
                tx.commit();
                migrated_on_read_++;
            } catch (const error& err) {
                // Written meanwhile by someone else: their version stands, and
                // what we read was a correct migration of what was there.
                if (err.kind() != errc::conflict) throw;
            }
        }
        return std::any_cast<Latest>(std::move(e));
    }

    std::uint64_t migrated_on_read() const { return migrated_on_read_; }

private:
    std::vector<std::string> record_keys(const db_snapshot<file_storage>& snap) const {
        std::vector<std::string> out;
        for (auto& key : snap.list(schema_.collection() + "/"))
            if (is_record_key(schema_.collection(), key)) out.push_back(std::move(key));
        return out;
    }

    std::size_t migrate_batch(std::span<const std::string> batch) {
        std::size_t n = 0;
        db_.run_transaction(
            [&](db_transaction<file_storage>& tx) {
                n = 0;
                for (const auto& key : batch) {
                    auto value = tx.read(key);
                    if (!value) continue;  // erased meanwhile
                    envelope_header h = verify_record<typename Schema::hasher_type>(*value, key);
                    if (h.schema_version == schema_.latest()) continue;
                    auto e = schema_.upgrade(*value, h, key);
                    tx.stage({key, schema_.record_of(e, h.id, key), {}, h.id});
                    ++n;
                }
            },
            durability::full);
        return n;
    }

    // Every record intact, at the latest version and decodable as its type;
    // every record that was there before still there.
    void verify_all(const std::vector<std::string>& before) {
        auto snap = db_.snapshot();
        auto now = record_keys(snap);
        std::set<std::string> present(now.begin(), now.end());
        for (const auto& key : before)
            if (!present.count(key)) throw error(errc::corrupt, "verification: " + key + " is missing after the migration");
        for (const auto& key : now) {
            auto value = snap.read(key);
            if (!value) throw error(errc::corrupt, "verification: " + key + " vanished");
            envelope_header h = verify_record<typename Schema::hasher_type>(*value, key);
            if (h.schema_version != schema_.latest())
                throw error(errc::corrupt, "verification: " + key + " has schema version " +
                                               std::to_string(h.schema_version) + " after the migration");
            if (record_key(schema_.collection(), h.id) != key)
                throw error(errc::corrupt, "verification: " + key + " holds id \"" + h.id + "\"");
            (void)schema_.upgrade(*value, h, key);
        }
    }

    void write_journal(const std::string& backup_id) {
        json_document j;
        j.set("format", "stowage-migration");
        j.set("collection", schema_.collection());
        j.set("to", static_cast<std::uint64_t>(schema_.latest()));
        j.set("rollback_point", backup_id);
        std::string text = j.dump();
        auto tx = db_.transaction(durability::full);
        bytes record;
        append(record, as_bytes(text));
        tx.stage({journal_key(), std::move(record), {}});
        tx.commit();
    }

    std::string parse_journal(bytes_view data) const {
        try {
            auto j = json_document::parse(as_chars(data));
            auto* id = j.find("rollback_point");
            if (id && id->is_string() && !id->as_string().empty()) return id->as_string();
        } catch (const error&) {
        }
        throw error(errc::corrupt, journal_key() + ": unreadable migration journal");
    }

    // The end: journal and the stale listing snapshot go in one transaction.
    void finish() {
        auto tx = db_.transaction(durability::full);
        tx.stage({journal_key(), std::nullopt, {}});
        std::string listing = schema_.collection() + "/listing";
        if (tx.read(listing)) tx.stage({listing, std::nullopt, {}});
        tx.commit();
    }

    // Puts every record of the collection back as backup `id` holds it.
    void rollback(const std::string& id) {
        auto check = backups_.verify(id);
        if (!check.ok())
            throw error(errc::checksum_mismatch, "rollback point " + id + " is damaged (" + check.problems.front().file +
                                                     ": " + check.problems.front().what + "); nothing was rolled back");
        file_storage old(backups_.path_of(id), open_mode::read_only);
        std::set<std::string> keys;
        for (auto& key : old.list(schema_.collection() + "/"))
            if (is_record_key(schema_.collection(), key)) keys.insert(std::move(key));
        for (auto& key : record_keys(db_.snapshot())) keys.insert(std::move(key));
        std::vector<std::string> all(keys.begin(), keys.end());
        for (std::size_t i = 0; i < all.size(); i += options_.batch_size) {
            auto tx = db_.transaction(durability::full);
            for (std::size_t k = i; k < std::min(all.size(), i + options_.batch_size); ++k) {
                auto want = old.read(all[k]);
                auto have = tx.read(all[k]);
                if (want == have) continue;
                tx.stage({all[k], std::move(want), {}});
            }
            tx.commit();
        }
        finish();
        backups_.unpin(id);
    }

    [[noreturn]] void fail(const std::exception& x, const std::string& point) {
        errc kind = errc::bad_input;
        if (auto* e = dynamic_cast<const error*>(&x)) kind = e->kind();
        std::string what = "migration of " + schema_.collection() + " to version " + std::to_string(schema_.latest());
        try {
            rollback(point);
        } catch (const std::exception& y) {
            throw error(errc::failed_state, what + " failed (" + x.what() + ") and so did its rollback (" + y.what() +
                                                "); the journal stays and recover() retries the rollback");
        }
        throw error(kind, what + " failed and was rolled back to backup " + point + ": " + x.what());
    }

    // False when cancelled.
    bool wait_while_paused() {
        std::unique_lock lock(control_mutex_);
        waiting_ = paused_ && !cancelled_;
        control_cv_.wait(lock, [&] { return !paused_ || cancelled_; });
        waiting_ = false;
        return !cancelled_;
    }

    database<file_storage>& db_;
    backups backups_;
    Schema schema_;
    migration_options options_;

    mutable std::mutex control_mutex_;
    std::condition_variable control_cv_;
    bool paused_ = false;
    bool cancelled_ = false;
    bool waiting_ = false;
    std::atomic<std::uint64_t> migrated_on_read_{0};
};

}  // namespace stowage
