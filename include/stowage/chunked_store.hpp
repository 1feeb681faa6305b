// chunked_store.hpp — entities that own long, growing lists (a recording
// session with thousands of screenshots and audio segments), stored so that
// appending one item never loads or rewrites the whole entity.
//
//   chunked_store<session_meta, file_storage> sessions(db, "sessions");
//   auto shots = sessions.list<screenshot>("screenshots", fixed_count(10));
//   auto audio = sessions.list<audio_segment>("audio", fixed_count(50, 1 << 20));
//   sessions.put_metadata(meta);
//   shots.append(id, shot);                       // writes one chunk + a small head
//   auto meta = sessions.load_metadata(id);        // no list is read
//   auto first = shots.load_chunk(id, 0);          // 10 screenshots
//   auto [m, all_shots, all_audio] = sessions.load_full(id, shots, audio);
//   sessions.attach(tx, id, blobs, digest, "screenshot-17.png");
//   sessions.erase(tx, id, blobs);                 // lists, metadata and references
//
// Layout, all through the database (atomic, recovered by the WAL):
//   "<name>"                 the metadata, one record per entity
//   "<name>_<list>"          list chunks: id "<entity>#<chunk index>", items
//   "<name>_heads"           per entity: per list its chunk count, item count,
//                            and the fill of the last chunk; plus the entity's
//                            attachment references (digest, name)
// An append reads the head and the last chunk, adds the item (or starts a
// new chunk when the ItemChunking says the last is full) and writes both
// back in one transaction.
//
// Thread safety: concurrent appends to one entity conflict optimistically
// and are retried, so none is lost; reads from any thread.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cas_map.hpp"
#include "chunk/fixed_count.hpp"
#include "codec/binary.hpp"
#include "database.hpp"
#include "describe.hpp"
#include "error.hpp"

namespace stowage {

struct chunked_list_head {
    std::string list;
    std::uint64_t chunks = 0;      // chunk indexes 0 .. chunks-1
    std::uint64_t items = 0;       // across all chunks
    std::uint64_t last_items = 0;  // items in the last chunk
    std::uint64_t last_bytes = 0;  // encoded bytes of the last chunk's items
};
STOWAGE_DESCRIBE(chunked_list_head, list, chunks, items, last_items, last_bytes)

struct chunked_attachment {
    std::string digest;  // hex
    std::string name;
    bool operator==(const chunked_attachment&) const = default;
};
STOWAGE_DESCRIBE(chunked_attachment, digest, name)

struct chunked_head {
    std::string id;
    std::vector<chunked_list_head> lists;
    std::vector<chunked_attachment> attachments;
};
STOWAGE_DESCRIBE(chunked_head, id, lists, attachments)

template <class Item>
struct chunked_chunk {
    std::string id;  // "<entity>#<index>"
    std::vector<Item> items;
    STOWAGE_DESCRIBE_MEMBERS(chunked_chunk, id, items)
};

template <class Meta, storage Storage, class Codec = binary_codec>
class chunked_store;

// One named list of Items of every entity in a chunked_store.
template <class Meta, storage Storage, class Item, class ItemChunking, class Codec>
class chunked_list {
public:
    using item_type = Item;
    using chunk_type = chunked_chunk<Item>;
    using chunks_store = db_store<chunk_type, Storage, Codec, crc32c>;

    // Appends one item (its own transaction, retried on conflict).
    void append(std::string_view id, const Item& item) {
        owner_->retry([&](auto& tx) { append(tx, id, item); });
    }

    // Appends inside the caller's transaction.
    void append(db_transaction<Storage>& tx, std::string_view id, const Item& item) {
        auto head = owner_->head_for(tx, id);
        auto& lh = list_head(head);
        bytes encoded;
        Codec{}.encode(item, encoded);
        chunk_type chunk;
        if (lh.chunks == 0 || chunking_.full(lh.last_items, lh.last_bytes)) {
            chunk.id = chunk_id(id, lh.chunks);
            lh.chunks++;
            lh.last_items = 0;
            lh.last_bytes = 0;
        } else {
            auto last = tx.get(chunks_, chunk_id(id, lh.chunks - 1));
            if (!last) throw error(errc::corrupt, "chunked_store: chunk " + chunk_id(id, lh.chunks - 1) + " is missing");
            chunk = std::move(*last);
        }
        chunk.items.push_back(item);
        lh.items++;
        lh.last_items++;
        lh.last_bytes += encoded.size();
        tx.put(chunks_, chunk);
        tx.put(owner_->heads_, head);
    }

    std::uint64_t size(std::string_view id) const {
        auto head = owner_->heads_.get(id);
        if (!head) return 0;
        for (auto& l : head->lists)
            if (l.list == name_) return l.items;
        return 0;
    }
    std::uint64_t chunk_count(std::string_view id) const {
        auto head = owner_->heads_.get(id);
        if (!head) return 0;
        for (auto& l : head->lists)
            if (l.list == name_) return l.chunks;
        return 0;
    }

    // Chunk i's items (empty when there is no such chunk).
    std::vector<Item> load_chunk(std::string_view id, std::uint64_t i) const {
        auto c = chunks_.get(chunk_id(id, i));
        return c ? std::move(c->items) : std::vector<Item>{};
    }

    std::vector<Item> load_all(std::string_view id) const {
        std::vector<Item> out;
        for (std::uint64_t i = 0, n = chunk_count(id); i < n; ++i) {
            auto items = load_chunk(id, i);
            out.insert(out.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
        }
        return out;
    }

    const std::string& name() const { return name_; }

private:
    friend class chunked_store<Meta, Storage, Codec>;
    chunked_list(chunked_store<Meta, Storage, Codec>* owner, std::string name, ItemChunking chunking)
        : owner_(owner),
          name_(std::move(name)),
          chunking_(std::move(chunking)),
          chunks_(owner->db_.storage(), owner->name_ + "_" + name_) {}

    static std::string chunk_id(std::string_view id, std::uint64_t i) { return std::string(id) + "#" + std::to_string(i); }

    chunked_list_head& list_head(chunked_head& head) {
        for (auto& l : head.lists)
            if (l.list == name_) return l;
        head.lists.push_back({name_, 0, 0, 0, 0});
        return head.lists.back();
    }

    // Every chunk of the entity, staged for erasure.
    void erase_chunks(db_transaction<Storage>& tx, std::string_view id, const chunked_head& head) {
        for (auto& l : head.lists)
            if (l.list == name_)
                for (std::uint64_t i = 0; i < l.chunks; ++i) tx.erase(chunks_, chunk_id(id, i));
    }

    chunked_store<Meta, Storage, Codec>* owner_;
    std::string name_;
    ItemChunking chunking_;
    chunks_store chunks_;
};

template <class Meta, storage Storage, class Codec>
class chunked_store {
public:
    using meta_store = db_store<Meta, Storage, Codec, sha256>;
    using heads_store = db_store<chunked_head, Storage, binary_codec, crc32c>;

    chunked_store(database<Storage>& db, std::string name)
        : db_(db), name_(std::move(name)), meta_(db.storage(), name_), heads_(db.storage(), name_ + "_heads") {}

    chunked_store(const chunked_store&) = delete;
    chunked_store& operator=(const chunked_store&) = delete;

    // A list of this store's entities. The returned object refers to this
    // store and must not outlive it.
    template <class Item, class ItemChunking = fixed_count>
        requires item_chunker<ItemChunking>
    std::unique_ptr<chunked_list<Meta, Storage, Item, ItemChunking, Codec>> list(std::string name,
                                                                                  ItemChunking chunking = ItemChunking()) {
        validate_collection(name_ + "_" + name);
        using list_type = chunked_list<Meta, Storage, Item, ItemChunking, Codec>;
        return std::unique_ptr<list_type>(new list_type(this, std::move(name), std::move(chunking)));
    }

    void put_metadata(const Meta& m) { meta_.put(m); }
    void put_metadata(db_transaction<Storage>& tx, const Meta& m) { tx.put(meta_, m); }
    std::optional<Meta> load_metadata(std::string_view id) const { return meta_.get(id); }
    meta_store& metadata() { return meta_; }

    // Metadata and every item of the given lists.
    template <class... Lists>
    std::optional<std::tuple<Meta, std::vector<typename Lists::item_type>...>> load_full(std::string_view id,
                                                                                         const Lists&... lists) const {
        auto m = meta_.get(id);
        if (!m) return std::nullopt;
        return std::tuple<Meta, std::vector<typename Lists::item_type>...>(std::move(*m), lists.load_all(id)...);
    }
    template <class... Lists>
    std::optional<std::tuple<Meta, std::vector<typename Lists::item_type>...>> load_full(
        std::string_view id, const std::unique_ptr<Lists>&... lists) const {
        return load_full(id, *lists...);
    }

    // References a blob from the entity, inside the caller's transaction.
    template <class Cas>
    void attach(db_transaction<Storage>& tx, std::string_view id, Cas& cas, const typename Cas::digest& d,
                std::string name) {
        auto head = head_for(tx, id);
        chunked_attachment a{to_hex(d), name};
        if (std::find(head.attachments.begin(), head.attachments.end(), a) == head.attachments.end())
            head.attachments.push_back(a);
        cas.add_ref(tx, d, std::string(id), std::move(name));
        tx.put(heads_, head);
    }

    std::vector<chunked_attachment> attachments(std::string_view id) const {
        auto head = heads_.get(id);
        return head ? head->attachments : std::vector<chunked_attachment>{};
    }

    // Removes the entity: metadata, the chunks of the given lists, its head,
    // and (with a cas_map) every attachment reference — in one transaction.
    template <class Cas, class... Lists>
    void erase(db_transaction<Storage>& tx, std::string_view id, Cas* cas, Lists&... lists) {
        auto head = tx.get(heads_, id);
        tx.erase(meta_, id);
        if (!head) return;
        (lists.erase_chunks(tx, id, *head), ...);
        if (cas)
            for (auto& a : head->attachments) cas->remove_ref(tx, digest_from_hex<typename Cas::hasher_type>(a.digest), id);
        tx.erase(heads_, id);
    }

private:
    template <class, storage, class, class, class>
    friend class chunked_list;

    chunked_head head_for(db_transaction<Storage>& tx, std::string_view id) {
        auto head = tx.get(heads_, id);
        return head ? std::move(*head) : chunked_head{std::string(id), {}, {}};
    }

    template <class F>
    void retry(F&& f) {
        db_.run_transaction(std::forward<F>(f));
    }

    database<Storage>& db_;
    std::string name_;
    meta_store meta_;
    heads_store heads_;
};

}  // namespace stowage
