// inverted_index.hpp — full-text and field search over a store's entities,
// persisted through a database and updated in the same transactions as the
// entities it indexes.
//
//   database<file_storage> db(file_storage("data"));
//   db_store<session, file_storage> sessions(db.storage(), "sessions");
//   index_schema schema;
//   schema.text("name", 2.0).text("description").keyword("status").keyword("topic_ids").time("start_time");
//   inverted_index<decltype(sessions)> search(db, sessions, "sessions_index", schema);
//
//   auto tx = db.transaction();
//   tx.put(sessions, s);
//   search.index(tx, s);            // staged in the same transaction:
//   tx.commit();                    // both or neither, after any crash
//   search.put(s);                  // the same, in a transaction of its own
//
//   search.search(text_query::words("weekly sync") && text_query::keyword("status", "done"));
//   search.top(text_query::any_words("rust tokio"), 10);
//
// Two layers:
//   document_index<Key, Storage, Tokenizer>  a text_index (index/text_index.hpp)
//       whose segments live in a database: keys of any index_key type,
//       documents given as text_documents (the `stowage index` command uses
//       it with numeric keys);
//   inverted_index<Store, Tokenizer>  the same for the described entities of
//       one db_store: schema fields are read from the entity's fields of the
//       same name (strings, enums, integers, bools, optionals and vectors of
//       them; int64 for time fields), plus an optional extractor for the
//       rest; verify() and rebuild() compare with / read from the store,
//       going on past a record of it that cannot be read and reporting it
//       (index_verify_report::unreadable, index_rebuild_report::damaged).
//
// Persistence (index name N, a store collection name):
//   "N/segments/<first>-<last>"   each segment's bytes (index/segment.hpp:
//                                 CRC-checked), written once, never changed
//   store collection N, id "head" the manifest: tokenizer and schema
//                                 signature, the next batch number and the
//                                 list of live segments
// A transaction that changes the index stages one new segment holding just
// its changes (its documents and tombstones), the new manifest, and
// sometimes a merge (the merged segment plus erasures of the segments it
// replaces): a transaction's delta is its own documents, plus at most one
// merge, amortized O(log n) per document. Every transaction that writes the
// index reads the manifest, so two concurrent ones conflict (errc::conflict;
// the one-transaction helpers retry) instead of interleaving. The in-memory
// index changes only when the transaction commits (the manifest write's
// on_commit publishes all of the transaction's changes at once), so a
// rolled-back transaction leaves no trace and readers never see part of one. After a crash
// the WAL replays manifest and segments together, so the reopened index
// always agrees with the store.
//
// Reopening reads the manifest and the segments, never the documents.
//
// Thread safety: searches run concurrently with each other and with one
// writer (each search works on the snapshot it started on); writes from
// several threads are safe (the manifest makes them conflict and retry).
// The index must outlive the transactions it stages writes into.
// Durability: that of the transaction (database.hpp); the helpers take a
// durability, full by default.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "codec/binary.hpp"
#include "database.hpp"
#include "describe.hpp"
#include "error.hpp"
#include "hash/crc32c.hpp"
#include "index/text_index.hpp"
#include "index/unicode_tokenizer.hpp"
#include "projection.hpp"

namespace stowage {

namespace fts {

// The persisted manifest of an index.
struct manifest {
    std::string id;                     // always "head"
    std::string signature;              // schema and tokenizer
    std::uint64_t next_number = 1;      // of the next batch
    std::vector<std::string> segments;  // live segment names, ascending
};
STOWAGE_DESCRIBE(manifest, id, signature, next_number, segments)

}  // namespace fts

using index_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// A text_index persisted in a database. See the header comment.
template <index_key Key, storage Storage, tokenizer Tokenizer = unicode_tokenizer>
class document_index {
public:
    using core_type = text_index<Key, Tokenizer>;
    using batch = index_batch<Key>;
    using hit = search_hit<Key>;
    using transaction = db_transaction<Storage>;

    // Opens (or creates, when absent) the index named `name` in db: reads
    // its manifest and segments. errc::bad_input when it was written with a
    // different schema or tokenizer; errc::corrupt when a listed segment is
    // missing or damaged.
    document_index(database<Storage>& db, std::string name, index_schema schema, Tokenizer tok = {},
                   text_index_options options = {})
        : db_(db), name_(std::move(name)), core_(std::move(schema), std::move(tok), options), meta_(open_meta(db, name_)) {
        load();
    }

    document_index(const document_index&) = delete;
    document_index& operator=(const document_index&) = delete;

    const std::string& name() const noexcept { return name_; }
    const core_type& core() const noexcept { return core_; }
    database<Storage>& db() const noexcept { return db_; }

    // --- attached: kept up to date from the database's journal ---------------------
    //
    // Where the documents come from, for an index attached to a collection
    // (database::attach under this index's name): one(tx, id) is the
    // document of id as tx sees it, nullopt when it is gone; all(tx, add)
    // calls add(id, document) for every document (a rebuild) and returns
    // the records it could not read (id, why), which stay out of the index.
    struct document_source {
        std::function<std::optional<text_document>(transaction&, const std::string&)> one;
        std::function<std::vector<std::pair<std::string, std::string>>(
            transaction&, const std::function<void(std::string, text_document)>&)>
            all;
    };

    // From now on every search first catches up (catch_up()).
    void attach_source(document_source src)
        requires std::same_as<Key, std::string>
    {
        std::lock_guard lock(catch_up_mutex_);
        source_ = std::make_shared<const document_source>(std::move(src));
        caught_up_generation_ = ~std::uint64_t{0};  // the journal may hold entries of earlier runs
    }
    bool attached() const noexcept { return source_ != nullptr; }

    // Applies what the journal holds: the documents changed since the last
    // catch-up (or all of them, when a rebuild was asked), in one
    // transaction that also consumes the journal entries it applied; so a
    // crash keeps the index and the journal in step. Over a read-only
    // database the changes are applied in memory only. Cheap when nothing
    // was journaled since (an atomic counter). Returns what it skipped as
    // unreadable. Searches call it; a caller may too (to pay it up front).
    std::vector<std::pair<std::string, std::string>> catch_up() const {
        std::vector<std::pair<std::string, std::string>> unreadable;
        if constexpr (!std::same_as<Key, std::string>) {
            return unreadable;  // journals name entities by their string ids
        } else {
            if (!source_) return unreadable;
            return catch_up_string_keys();
        }
    }

    // Journal entries not yet applied (0 once caught up).
    std::size_t behind() const {
        if (!source_) return 0;
        std::size_t n = 0;
        for (const auto& k : db_.pending_entries(name_))
            if (!consumed_in_memory_.count(k)) ++n;
        return n;
    }

private:
    std::vector<std::pair<std::string, std::string>> catch_up_string_keys() const {
        std::vector<std::pair<std::string, std::string>> unreadable;
        const std::uint64_t generation = db_.journal_generation(name_);
        if (generation == caught_up_generation_.load(std::memory_order_acquire)) return unreadable;
        std::lock_guard lock(catch_up_mutex_);
        if (generation == caught_up_generation_.load(std::memory_order_acquire)) return unreadable;
        auto self = const_cast<document_index*>(this);  // the in-memory index is published, not mutated in place
        if (db_.storage().read_only()) {
            unreadable = self->catch_up_in_memory();
        } else {
            self->retry(durability::full, [&](transaction& tx) { unreadable = self->catch_up_in(tx); });
        }
        caught_up_generation_.store(generation, std::memory_order_release);
        return unreadable;
    }

public:

    // --- writing inside the caller's transaction ---------------------------------

    void apply(transaction& tx, batch b) {
        if (b.empty()) return;
        auto head = read_head(tx);
        auto changes = changes_of(tx);
        auto seg = std::make_shared<const typename core_type::prepared_segment>(core_.prepare(std::move(b), head.next_number));
        // At most one merge per transaction, planned on its first change.
        std::shared_ptr<const typename core_type::prepared_merge> merge;
        if (core_.options().auto_merge && changes->empty())
            if (auto m = core_.plan_merge(false)) merge = std::make_shared<const typename core_type::prepared_merge>(std::move(*m));
        // Everything that can fail is done: stage.
        head.next_number = seg->last + 1;
        head.segments.push_back(seg->name());
        tx.stage({segment_key(seg->name()), seg->seg->data(), {}});
        changes->add(seg);
        if (merge) stage_merge(tx, head, merge, *changes);
        stage_head(tx, head, changes);
    }
    void add(transaction& tx, Key key, text_document doc) {
        batch b;
        b.add(std::move(key), std::move(doc));
        apply(tx, std::move(b));
    }
    void remove(transaction& tx, Key key) {
        batch b;
        b.remove(std::move(key));
        apply(tx, std::move(b));
    }

    // --- writing, one transaction each (retried on conflict) ------------------------

    void apply(const batch& b, durability d = durability::full) {
        retry(d, [&](transaction& tx) { apply(tx, batch(b)); });
    }
    void add(Key key, text_document doc, durability d = durability::full) {
        batch b;
        b.add(std::move(key), std::move(doc));
        apply(b, d);
    }
    bool remove(const Key& key, durability d = durability::full) {
        bool existed = core_.contains(key);
        batch b;
        b.remove(key);
        apply(b, d);
        return existed;
    }
    // One merge towards a single clean segment, in a transaction of its own
    // (retried on conflict): the merge the merge policy plans (even with
    // auto_merge off); else the cheapest run of up to merge_factor
    // neighbouring segments (fewest documents and tombstones); else, for a
    // lone segment holding deleted documents or tombstones, its rewrite.
    // False when there was nothing to merge (no segment, or one clean one).
    // Repeating it until false ends where optimize() does, each transaction
    // bounded by what one merge rewrites, so a caller can stop in between.
    bool merge_once(durability d = durability::full) {
        bool merged = false;
        retry(d, [&](transaction& tx) {
            merged = false;
            auto head = read_head(tx);
            auto changes = changes_of(tx);
            auto m = plan_merge_once();
            if (!m) return;  // nothing staged: the commit is empty
            merged = true;
            stage_merge(tx, head, std::make_shared<const typename core_type::prepared_merge>(std::move(*m)), *changes);
            stage_head(tx, head, changes);
        });
        return merged;
    }

    // Merges every segment into one.
    void optimize(durability d = durability::full) {
        retry(d, [&](transaction& tx) {
            auto head = read_head(tx);
            auto changes = changes_of(tx);
            if (auto m = core_.plan_merge(true))
                stage_merge(tx, head, std::make_shared<const typename core_type::prepared_merge>(std::move(*m)), *changes);
            stage_head(tx, head, changes);
        });
    }
    // Replaces the whole index by the documents of `all` (in the caller's
    // transaction).
    void replace_all(transaction& tx, batch all) {
        auto head = read_head(tx);
        auto changes = changes_of(tx);
        auto seg = std::make_shared<const typename core_type::prepared_segment>(core_.prepare(std::move(all), head.next_number));
        for (const auto& n : head.segments) tx.stage({segment_key(n), std::nullopt, {}});
        head.segments = {seg->name()};
        head.next_number = seg->last + 1;
        tx.stage({segment_key(seg->name()), seg->seg->data(), {}});
        changes->reset(seg);
        stage_head(tx, head, changes);
    }

    // --- searching (index/text_index.hpp) -----------------------------------------------

    // Each catches up first when the index is attached (see catch_up).
    std::vector<Key> search(const text_query& q) const {
        catch_up();
        return core_.search(q);
    }
    std::size_t count(const text_query& q) const {
        catch_up();
        return core_.count(q);
    }
    std::size_t estimate(const text_query& q) const {
        catch_up();
        return core_.estimate(q);
    }
    template <class Duration = std::chrono::milliseconds>
    std::map<std::string, std::size_t> count_by_month(std::string_view field, const text_query& q = text_query::everything()) const {
        catch_up();
        return core_.template count_by_month<Duration>(field, q);
    }
    std::vector<hit> top(const text_query& q, std::size_t k, const bm25_params& p = {}) const {
        catch_up();
        return core_.top(q, k, p);
    }
    bool contains(const Key& key) const {
        catch_up();
        return core_.contains(key);
    }
    std::size_t size() const {
        catch_up();
        return core_.size();
    }
    index_stats stats() const {
        catch_up();
        return core_.stats();
    }

    // Storage-level problems: segments listed but unreadable, segment keys
    // no manifest lists (left by a writer outside the database).
    std::vector<std::string> check_storage() const {
        std::vector<std::string> problems;
        auto head = meta_.get("head");
        std::vector<std::string> listed = head ? head->segments : std::vector<std::string>{};
        for (const auto& n : listed) {
            try {
                auto data = db_.storage().read(segment_key(n));
                if (!data) problems.push_back(segment_key(n) + ": listed in the manifest but missing");
                else fts::segment<Key>::parse(std::move(*data), core_.shape(), segment_key(n));
            } catch (const error& e) {
                problems.push_back(e.what());
            }
        }
        for (const auto& k : db_.storage().list(name_ + "/segments/")) {
            auto n = k.substr(name_.size() + 10);
            if (std::find(listed.begin(), listed.end(), n) == listed.end()) problems.push_back(k + ": not listed in the manifest");
        }
        return problems;
    }

private:
    using meta_store = db_store<fts::manifest, Storage, binary_codec, crc32c>;

    static meta_store open_meta(database<Storage>& db, const std::string& name) {
        validate_collection(name);
        return meta_store(db.storage(), name);
    }

    std::string segment_key(const std::string& segment) const { return name_ + "/segments/" + segment; }

    // See merge_once.
    std::optional<typename core_type::prepared_merge> plan_merge_once() const {
        if (auto m = core_.plan_merge(false)) return m;
        auto v = core_.snapshot();
        const auto& segs = v->segments;
        if (segs.size() <= 1) return core_.plan_merge(true);  // a lone segment: rewritten if not clean
        std::size_t width = std::min<std::size_t>(segs.size(), core_.options().merge_factor);
        std::size_t from = 0;
        std::uint64_t best = ~std::uint64_t{0};
        for (std::size_t i = 0; i + width <= segs.size(); ++i) {
            std::uint64_t sum = 0;
            for (std::size_t k = i; k < i + width; ++k) sum += segs[k].seg->size() + segs[k].seg->tombstones().size();
            if (sum < best) {
                best = sum;
                from = i;
            }
        }
        std::size_t to = from + width;
        std::vector<fts::merge_input<Key>> inputs;
        typename core_type::prepared_merge m;
        for (std::size_t i = from; i < to; ++i) {
            inputs.push_back({segs[i].seg.get(), segs[i].deleted.get()});
            m.replaced.push_back(segs[i].first);
            m.replaced_names.push_back(core_type::segment_name(segs[i].first, segs[i].last));
        }
        // Tombstones matter only while an older segment may hold their keys.
        bool keep_tombstones = from > 0;
        m.merged.first = segs[from].first;
        m.merged.last = segs[to - 1].last;
        m.merged.seg = core_type::segment_type::parse(fts::merge_segments<Key>(inputs, core_.shape(), keep_tombstones),
                                                      core_.shape(), core_type::segment_name(m.merged.first, m.merged.last));
        return m;
    }

    fts::manifest read_head(transaction& tx) {
        auto head = tx.get(meta_, "head");
        if (!head) return fts::manifest{"head", core_.signature(), core_.next_number(), {}};
        check_signature(*head);
        return std::move(*head);
    }

    void check_signature(const fts::manifest& head) const {
        if (head.signature != core_.signature())
            throw error(errc::bad_input, "index " + name_ + " was built as \"" + head.signature + "\", opened as \"" +
                                             core_.signature() + "\" (to change schema or tokenizer, drop it with " +
                                             "stowage::drop_index(db, \"" + name_ + "\") and open it again)");
    }

    void stage_merge(transaction& tx, fts::manifest& head, std::shared_ptr<const typename core_type::prepared_merge> m,
                     typename core_type::change_list& changes) {
        for (const auto& n : m->replaced_names) {
            tx.stage({segment_key(n), std::nullopt, {}});
            std::erase(head.segments, n);
        }
        std::string merged = m->merged.name();
        head.segments.insert(std::upper_bound(head.segments.begin(), head.segments.end(), merged), merged);
        tx.stage({segment_key(merged), m->merged.seg->data(), {}});
        changes.add(std::move(m));
    }

    // The changes this transaction made to the index so far. The manifest's
    // staged write (re-staged by every change, so the last one holds the
    // whole list) publishes them, together, when the transaction commits:
    // readers never see half a transaction.
    std::shared_ptr<typename core_type::change_list> changes_of(transaction& tx) {
        std::lock_guard lock(pending_mutex_);
        std::erase_if(pending_, [](const auto& p) { return p.second.expired(); });  // rolled back or committed
        auto& slot = pending_[tx.id()];
        auto list = slot.lock();
        if (!list) slot = list = std::make_shared<typename core_type::change_list>();
        return list;
    }

    void stage_head(transaction& tx, const fts::manifest& head, std::shared_ptr<typename core_type::change_list> changes) {
        staged_write w = meta_.stage_put(head);
        w.on_commit = [this, listing = std::move(w.on_commit), changes = std::move(changes)] {
            if (listing) listing();
            core_.publish(*changes);
        };
        tx.stage(std::move(w));
    }

    template <class Fn>
    void retry(durability d, Fn&& fn) {
        for (int attempt = 1;; ++attempt) {
            auto tx = db_.transaction(d);
            fn(tx);
            try {
                tx.commit();
                return;
            } catch (const error& e) {
                if (e.kind() != errc::conflict || attempt >= 1000) throw;
            }
        }
    }

    void load() {
        auto head = meta_.get("head");
        if (!head) return;
        check_signature(*head);
        std::uint64_t prev_last = 0;
        for (const auto& n : head->segments) {
            auto range = core_type::parse_segment_name(n);
            if (!range || (prev_last && range->first <= prev_last))
                throw error(errc::corrupt, "index " + name_ + ": bad segment name \"" + n + "\" in the manifest");
            prev_last = range->second;
            auto data = db_.storage().read(segment_key(n));
            if (!data) throw error(errc::corrupt, "index " + name_ + ": segment " + n + " is listed but missing");
            typename core_type::prepared_segment p;
            p.first = range->first;
            p.last = range->second;
            p.seg = fts::segment<Key>::parse(std::move(*data), core_.shape(), segment_key(n));
            core_.publish(p);
        }
        if (prev_last >= head->next_number)
            throw error(errc::corrupt, "index " + name_ + ": manifest's next batch number is behind its segments");
    }

    // The batch of the journal's changes (the last change of an id wins).
    batch changes_batch(transaction& tx, const journal_read& r,
                        std::vector<std::pair<std::string, std::string>>& unreadable) {
        std::map<std::string, bool> last;  // id -> erased
        for (const auto& c : r.changes) last[c.id] = c.erased;
        batch b;
        for (const auto& [id, erased] : last) {
            std::optional<text_document> doc;
            if (!erased) {
                try {
                    doc = source_->one(tx, id);
                } catch (const error& e) {
                    if (!is_record_damage(e.kind())) throw;
                    unreadable.emplace_back(id, e.what());  // left out, as a rebuild would
                }
            }
            if (doc) b.add(id, std::move(*doc));
            else if (core_.contains(id)) b.remove(id);
        }
        return b;
    }

    batch rebuild_batch(transaction& tx, std::vector<std::pair<std::string, std::string>>& unreadable) {
        batch all;
        unreadable = source_->all(tx, [&](std::string id, text_document doc) { all.add(std::move(id), std::move(doc)); });
        return all;
    }

    std::vector<std::pair<std::string, std::string>> catch_up_in(transaction& tx) {
        std::vector<std::pair<std::string, std::string>> unreadable;
        journal_read r = db_.read_journal(tx, name_);
        if (r.entries.empty()) return unreadable;
        if (r.rebuild) replace_all(tx, rebuild_batch(tx, unreadable));
        else apply(tx, changes_batch(tx, r, unreadable));
        db_.consume_journal(tx, r);
        return unreadable;
    }

    // Read-only: the journal's entries are applied to the in-memory index
    // and remembered, since they cannot be erased.
    std::vector<std::pair<std::string, std::string>> catch_up_in_memory() {
        std::vector<std::pair<std::string, std::string>> unreadable;
        auto tx = db_.transaction();  // reads only: never committed
        journal_read r = db_.read_journal(tx, name_, &consumed_in_memory_);
        if (r.entries.empty()) return unreadable;
        typename core_type::change_list changes;
        if (r.rebuild) {
            changes.reset(std::make_shared<const typename core_type::prepared_segment>(
                core_.prepare(rebuild_batch(tx, unreadable), core_.next_number())));
        } else {
            auto b = changes_batch(tx, r, unreadable);
            if (!b.empty())
                changes.add(std::make_shared<const typename core_type::prepared_segment>(core_.prepare(std::move(b), core_.next_number())));
        }
        core_.publish(changes);
        for (auto& k : r.entries) consumed_in_memory_.insert(std::move(k));
        tx.rollback();
        return unreadable;
    }

    database<Storage>& db_;
    std::string name_;
    core_type core_;
    mutable meta_store meta_;
    std::mutex pending_mutex_;
    std::map<std::uint64_t, std::weak_ptr<typename core_type::change_list>> pending_;  // by transaction id
    std::shared_ptr<const document_source> source_;
    mutable std::mutex catch_up_mutex_;
    mutable std::atomic<std::uint64_t> caught_up_generation_{~std::uint64_t{0}};
    std::set<std::string> consumed_in_memory_;  // journal entries applied by a read-only catch-up
};

// --- entities ----------------------------------------------------------------------------

namespace detail {

template <class View>
struct db_view_storage;
template <storage S>
struct db_view_storage<db_view<S>> {
    using type = S;
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

// Whether a member of type M can feed a field of kind k.
template <class M>
constexpr bool indexable_as(field_kind k) {
    if constexpr (is_optional<M>::value || is_vector<M>::value) {
        return indexable_as<typename M::value_type>(k);
    } else if constexpr (std::is_same_v<M, std::string>) {
        return k != field_kind::time;
    } else if constexpr (std::is_same_v<M, bool> || described_enum<M>) {
        return k == field_kind::keyword;
    } else if constexpr (std::is_integral_v<M>) {
        return k != field_kind::text;
    } else {
        return false;
    }
}

template <class M>
void extract_member(const M& m, const index_schema::field& f, text_document& doc) {
    if constexpr (is_optional<M>::value) {
        if (m) extract_member(*m, f, doc);
    } else if constexpr (is_vector<M>::value) {
        for (const auto& v : m) extract_member(static_cast<const typename M::value_type&>(v), f, doc);
    } else if constexpr (std::is_same_v<M, std::string>) {
        if (f.kind == field_kind::text) doc.text(f.name, m);
        else doc.keyword(f.name, m);
    } else if constexpr (std::is_same_v<M, bool>) {
        doc.keyword(f.name, m ? "true" : "false");
    } else if constexpr (described_enum<M>) {
        doc.keyword(f.name, std::string(enum_name(m)));
    } else if constexpr (std::is_integral_v<M>) {
        if (f.kind == field_kind::time) {
            if constexpr (std::is_unsigned_v<M> && sizeof(M) >= sizeof(std::int64_t)) {
                if (m > static_cast<M>(std::numeric_limits<std::int64_t>::max()))
                    throw error(errc::bad_input, "time field " + f.name + ": value out of range");
            }
            doc.time(f.name, static_cast<std::int64_t>(m));
        } else {
            doc.keyword(f.name, std::to_string(m));
        }
    }
}

// A JSON document's member as a field of the schema: strings (text or
// keyword), arrays of them, numbers (keyword: their text; time: an integer),
// booleans (keyword). Other kinds feed nothing.
inline void extract_json(const json_value& v, const index_schema::field& f, text_document& doc) {
    if (v.is_array()) {
        for (const auto& e : v.as_array())
            if (!e.is_array()) extract_json(e, f, doc);
    } else if (v.is_string()) {
        if (f.kind == field_kind::text) doc.text(f.name, std::string(v.as_string()));
        else if (f.kind == field_kind::keyword) doc.keyword(f.name, std::string(v.as_string()));
    } else if (v.is_number()) {
        if (f.kind == field_kind::keyword) doc.keyword(f.name, std::string(v.number_text()));
        else if (f.kind == field_kind::time)
            if (auto t = v.as_integer<std::int64_t>()) doc.time(f.name, *t);
    } else if (v.is_bool()) {
        if (f.kind == field_kind::keyword) doc.keyword(f.name, v.as_bool() ? "true" : "false");
    }
}

}  // namespace detail

// What verify() found.
struct index_verify_report {
    std::uint64_t documents = 0;       // entities read
    std::uint64_t indexed = 0;         // documents in the index
    std::vector<std::string> missing;  // entity not in the index
    std::vector<std::string> stale;    // indexed, but no such entity
    std::vector<std::string> differ;   // indexed content differs from the entity's
    std::vector<std::string> damaged;  // index structures that failed their checks
    // Records of the store that could not be read (id, what is wrong:
    // is_record_damage): not compared, and not reported as stale.
    std::vector<std::pair<std::string, std::string>> unreadable;
    bool ok() const {
        return missing.empty() && stale.empty() && differ.empty() && damaged.empty() && unreadable.empty();
    }
};

// Whether an inverted_index is attached to its store's collection (kept up
// to date from the database's journal) or maintained by the caller.
enum class index_attachment { attached, detached };

// What rebuild() did: the documents it indexed and the records of the store
// it could not read (id, what is wrong), which it left out of the index.
struct index_rebuild_report {
    std::uint64_t documents = 0;
    std::vector<std::pair<std::string, std::string>> damaged;
    bool ok() const { return damaged.empty(); }
};

// The inverted index of one db_store's entities. See the header comment.
template <class Store, tokenizer Tokenizer = unicode_tokenizer>
class inverted_index {
public:
    using entity_type = typename Store::entity_type;
    using storage_type = typename detail::db_view_storage<typename Store::storage_type>::type;
    using transaction = db_transaction<storage_type>;
    using hit = search_hit<std::string>;
    using extractor = std::function<void(const entity_type&, text_document&)>;

    // Schema fields named like a described field of the entity are filled
    // from it; `extra` fills the others (bad_input if a field has neither,
    // or a member type that cannot feed its kind).
    //
    // Attached (the default): the index is attached to the store's
    // collection in the database (database::attach, commit_hooks.hpp), so
    // every write to the collection, by any API, is journaled in its own
    // transaction, and the index catches up before it answers. Attaching is
    // recorded durably the first time (then the existing entities are
    // indexed on the first search); over a read-only database the index
    // catches up in memory. detached: the caller indexes in its
    // transactions (index(tx, e)) and nothing else keeps it in step.
    inverted_index(database<storage_type>& db, Store& documents, std::string name, index_schema schema, Tokenizer tok = {},
                   text_index_options options = {}, extractor extra = {},
                   index_attachment attachment = index_attachment::attached)
        : documents_(documents), extra_(std::move(extra)), index_(db, std::move(name), check(schema, extra_), std::move(tok), options) {
        if (attachment == index_attachment::detached) return;
        // Another schema or tokenizer under this name is refused, as the
        // index's manifest refuses it: to change them, detach (and drop)
        // the index and open it again.
        if (auto a = db.attachment(index_.name()); a && (a->definition != definition() || a->collection != documents_.collection()))
            throw error(errc::bad_input, "index " + index_.name() + " is attached to collection " + a->collection + " as \"" +
                                             a->definition + "\", opened over " + documents_.collection() + " as \"" +
                                             definition() + "\" (to redefine it, drop it with stowage::drop_index(db, \"" +
                                             index_.name() + "\") and open it again)");
        if (!db.storage().read_only()) db.attach(index_.name(), documents_.collection(), definition());
        if (db.attachment(index_.name())) index_.attach_source(source());
    }

    // What the database records for this attachment: the schema and
    // tokenizer (a change of either asks for a rebuild).
    std::string definition() const { return "inverted_index;" + index_.core().signature(); }

    // Catches up with the journal now (searches do it anyway); returns the
    // records it could not read.
    std::vector<std::pair<std::string, std::string>> catch_up() const { return index_.catch_up(); }
    // Journal entries not applied yet.
    std::size_t behind() const { return index_.behind(); }

    const document_index<std::string, storage_type, Tokenizer>& documents_index() const noexcept { return index_; }
    const text_index<std::string, Tokenizer>& core() const noexcept { return index_.core(); }

    // What the index holds for an entity.
    text_document document_of(const entity_type& e) const {
        text_document doc;
        if constexpr (std::same_as<entity_type, json_document>) {
            for (const auto& f : index_.core().schema().fields())
                if (const json_value* v = e.find(f.name)) detail::extract_json(*v, f, doc);
        } else {
            for_each_field(e, [&](std::string_view name, const auto& member) {
                using M = std::remove_cvref_t<decltype(member)>;
                const auto* f = index_.core().schema().find(name);
                if (!f) return;
                if constexpr (detail::indexable_as<M>(field_kind::text) || detail::indexable_as<M>(field_kind::keyword) ||
                              detail::indexable_as<M>(field_kind::time))
                    detail::extract_member(member, *f, doc);
            });
        }
        if (extra_) extra_(e, doc);
        return doc;
    }

    // --- inside the caller's transaction ---------------------------------------------------

    // For a detached index. Attached, they do nothing: the database's
    // journal already carries the transaction's writes to the index (and
    // reading the index's manifest here would only make the transaction
    // conflict with catch-ups).
    void index(transaction& tx, const entity_type& e) {
        if (!index_.attached()) index_.add(tx, entity_id(e), document_of(e));
    }
    void index_many(transaction& tx, std::span<const entity_type> es) {
        if (index_.attached()) return;
        index_batch<std::string> b;
        for (const auto& e : es) b.add(entity_id(e), document_of(e));
        index_.apply(tx, std::move(b));
    }
    void unindex(transaction& tx, std::string_view id) {
        if (!index_.attached()) index_.remove(tx, std::string(id));
    }

    // --- the entity and its index entry in one transaction --------------------------------

    // (Attached, the journal indexes them; detached, these do.)
    void put(const entity_type& e, durability d = durability::full) {
        retry(d, [&](transaction& tx) {
            tx.put(documents_, e);
            if (!index_.attached()) index(tx, e);
        });
    }
    void put_many(std::span<const entity_type> es, durability d = durability::full) {
        retry(d, [&](transaction& tx) {
            for (const auto& e : es) tx.put(documents_, e);
            if (!index_.attached()) index_many(tx, es);
        });
    }
    bool erase(std::string_view id, durability d = durability::full) {
        bool existed = documents_.contains(id);
        retry(d, [&](transaction& tx) {
            tx.erase(documents_, id);
            if (!index_.attached()) unindex(tx, id);
        });
        return existed;
    }

    // Re-indexes one entity, or drops a removed one, without touching the store.
    void update(const entity_type& e, durability d = durability::full) { retry(d, [&](transaction& tx) { index(tx, e); }); }
    void remove(std::string_view id, durability d = durability::full) { retry(d, [&](transaction& tx) { unindex(tx, id); }); }
    void optimize(durability d = durability::full) { index_.optimize(d); }
    // One merge towards a single segment (document_index::merge_once).
    bool merge_once(durability d = durability::full) { return index_.merge_once(d); }

    // --- searching ----------------------------------------------------------------------------

    std::vector<std::string> search(const text_query& q) const { return index_.search(q); }
    std::size_t count(const text_query& q) const { return index_.count(q); }
    std::size_t estimate(const text_query& q) const { return index_.estimate(q); }
    // Matches per calendar month of a time field (text_index::count_by_month).
    template <class Duration = std::chrono::milliseconds>
    std::map<std::string, std::size_t> count_by_month(std::string_view field, const text_query& q = text_query::everything()) const {
        return index_.template count_by_month<Duration>(field, q);
    }
    std::vector<hit> top(const text_query& q, std::size_t k, const bm25_params& p = {}) const { return index_.top(q, k, p); }
    bool contains(std::string_view id) const { return index_.contains(std::string(id)); }
    std::size_t size() const { return index_.size(); }
    index_stats stats() const { return index_.stats(); }

    // --- checking and rebuilding ------------------------------------------------------------------

    // Compares the index with the documents (any range of entities; the
    // store by default): every entity missing from the index, every indexed
    // id with no entity, every entity indexed with other content (compared
    // by a digest of what analysis gives and what the posting lists hold),
    // and damaged index structures.
    // Over the store, a record it cannot read is reported in `unreadable`
    // (not compared; its indexed id is not called stale) and the rest is
    // compared. Another range's damage is the range's to report.
    index_verify_report verify() const {
        index_.catch_up();  // what the journal holds is not a difference
        std::vector<std::pair<std::string, std::string>> unreadable;
        auto documents = documents_.entities(
            [&](std::string_view id, const error& e) { unreadable.emplace_back(std::string(id), e.what()); });
        index_verify_report r = verify(documents);
        std::erase_if(r.stale, [&](const std::string& id) {
            return std::any_of(unreadable.begin(), unreadable.end(), [&](const auto& u) { return u.first == id; });
        });
        r.unreadable = std::move(unreadable);
        return r;
    }
    template <class Range>
    index_verify_report verify(const Range& documents, const index_progress& progress = {}) const {
        index_verify_report r;
        std::vector<std::string> problems;
        auto indexed = index_.core().fingerprints(&problems);
        r.damaged = std::move(problems);
        for (auto& p : index_.check_storage()) r.damaged.push_back(std::move(p));
        r.indexed = indexed.size();
        std::vector<std::pair<std::string, std::uint64_t>> wanted;
        for (const auto& e : documents) {
            wanted.emplace_back(entity_id(e), fts::fingerprint(index_.core().analyze(document_of(e))));
            if (progress) progress(++r.documents, 0);
            else ++r.documents;
        }
        std::sort(wanted.begin(), wanted.end());
        std::size_t i = 0, j = 0;
        while (i < wanted.size() || j < indexed.size()) {
            if (j == indexed.size() || (i < wanted.size() && wanted[i].first < indexed[j].first)) {
                r.missing.push_back(wanted[i++].first);
            } else if (i == wanted.size() || indexed[j].first < wanted[i].first) {
                r.stale.push_back(indexed[j++].first);
            } else {
                if (wanted[i].second != indexed[j].second) r.differ.push_back(wanted[i].first);
                ++i;
                ++j;
            }
        }
        return r;
    }

    // Re-indexes every entity of the store, replacing the whole index, in
    // one transaction. progress(done, total) as entities are read. A record
    // of the store that cannot be read (damaged: is_record_damage) is left
    // out of the index and named in the report; the rest is indexed.
    index_rebuild_report rebuild(const index_progress& progress = {}, durability d = durability::full) {
        index_rebuild_report report;
        retry(d, [&](transaction& tx) {
            report = {};
            // The journal first: an entry written after this read stays,
            // and the next catch-up applies it again.
            journal_read pending;
            if (index_.attached()) pending = index_.db().read_journal(tx, index_.name());
            index_batch<std::string> all;
            std::uint64_t total = documents_.size(), done = 0;
            auto documents = documents_.entities([&](std::string_view id, const error& e) {
                report.damaged.emplace_back(std::string(id), e.what());
                if (progress) progress(++done, total);
            });
            for (const auto& e : documents) {
                all.add(entity_id(e), document_of(e));
                ++report.documents;
                if (progress) progress(++done, total);
            }
            index_.replace_all(tx, std::move(all));
            // What the journal held is in the rebuild: consumed with it.
            if (index_.attached()) index_.db().consume_journal(tx, pending);
        });
        return report;
    }

private:
    typename document_index<std::string, storage_type, Tokenizer>::document_source source() {
        typename document_index<std::string, storage_type, Tokenizer>::document_source src;
        src.one = [this](transaction& tx, const std::string& id) -> std::optional<text_document> {
            auto e = tx.get(documents_, id);
            if (!e) return std::nullopt;
            return document_of(*e);
        };
        src.all = [this](transaction& tx, const std::function<void(std::string, text_document)>& add) {
            std::vector<std::pair<std::string, std::string>> damaged;
            // Every record of the collection as storage lists it (not the
            // store's in-memory listing: a rebuild is also what follows a
            // write that bypassed the store), read through tx (so a
            // concurrent write makes the rebuild conflict and retry).
            const std::string& c = documents_.collection();
            for (const auto& key : index_.db().storage().list(c + "/")) {
                if (!is_record_key(c, key)) continue;
                std::string id;
                try {
                    auto value = tx.read(key);
                    if (!value) continue;
                    id = parse_envelope_header(*value, key).id;
                    add(id, document_of(documents_.decode_record(*value, key, id)));
                } catch (const error& err) {
                    if (!is_record_damage(err.kind())) throw;
                    damaged.emplace_back(id.empty() ? key : id, err.what());
                }
            }
            return damaged;
        };
        return src;
    }

    static index_schema check(const index_schema& schema, const extractor& extra) {
        if constexpr (!std::same_as<entity_type, json_document>) {  // a document's members are known per document
            for (const auto& f : schema.fields()) {
                bool member = false, usable = false;
                for_each_field_descriptor<entity_type>([&](const auto& fd) {
                    using M = typename std::remove_cvref_t<decltype(fd)>::member_type;
                    if (fd.name != f.name) return;
                    member = true;
                    usable = detail::indexable_as<M>(f.kind);
                });
                if (member && !usable)
                    throw error(errc::bad_input, "inverted_index: field " + f.name + " of " +
                                                     std::string(type_name_v<entity_type>) + " cannot be indexed as a " +
                                                     index_schema::kind_name(f.kind) + " field");
                if (!member && !extra)
                    throw error(errc::bad_input, "inverted_index: " + std::string(type_name_v<entity_type>) +
                                                     " has no field " + f.name + " (give an extractor for computed fields)");
            }
        }
        return schema;
    }

    template <class Fn>
    void retry(durability d, Fn&& fn) {
        for (int attempt = 1;; ++attempt) {
            auto tx = db().transaction(d);
            fn(tx);
            try {
                tx.commit();
                return;
            } catch (const error& e) {
                if (e.kind() != errc::conflict || attempt >= 1000) throw;
            }
        }
    }
    database<storage_type>& db() { return index_.db(); }

    Store& documents_;
    extractor extra_;
    document_index<std::string, storage_type, Tokenizer> index_;
};

// Removes the index named `name` from db: its attachment and journal
// (database::detach) and its own data (manifest and segments). No index
// object of that name may be open. True when there was anything to remove.
template <storage Storage>
bool drop_index(database<Storage>& db, const std::string& name) {
    validate_collection(name);
    bool detached = db.detach(name);
    bool removed = false;
    db.run_transaction([&](db_transaction<Storage>& tx) {
        removed = false;
        for (const auto& key : db.storage().list(name + "/")) {
            tx.stage({key, std::nullopt, {}});
            removed = true;
        }
    });
    return detached || removed;
}

}  // namespace stowage
