// commit_hooks.hpp — how a database keeps what is derived from its
// collections coherent with them, whichever API wrote: commit listeners
// (in memory, for caches and a client's own derived state) and attachment
// journals (persisted, for indexes).
//
// Commit listeners. database::on_commit(prefix, fn) calls fn(commit_lsn,
// writes) after every commit that wrote a key starting with prefix, with
// those writes only: their keys, the entity id of store records, whether
// each erased, and its LSN. It runs on the committing thread inside the
// commit's ordering step: after the writes are visible to every reader,
// before commit() returns, one commit at a time in commit order. So a cache
// that drops the written keys there never serves a value older than a
// returned commit. A listener must be quick and must not write to the
// database (it would wait for itself); it may read. What it throws is
// swallowed: the commit has happened. The subscription ends when the
// returned commit_subscription is destroyed.
//
// Attachments. database::attach(name, collection, definition) records, in
// the database itself, that the state named `name` (an index) is derived
// from `collection`. From then on every commit that writes records of the
// collection, through any API of any process (stores, transactions, update,
// the persistence queue, import, migration, the `stowage` command), also
// writes a journal entry "attached/<name>/pending/<lsn>" listing the entity
// ids it changed, in the same transaction: a crash keeps both or neither.
// The attached component reads the journal, brings itself up to date and
// erases the entries it consumed in one transaction (catching up) before it
// answers anything, so it is never silently stale, even when the process
// that wrote could not maintain it (an index whose extractor lives in
// another program). Writers outside the log (a repair or restore that
// rewrites record files) call request_rebuild: the entry
// "attached/<name>/pending/rebuild" asks for a rebuild from the collection.
//
// Layout: "attached/<name>/definition" is JSON {"collection": "...",
// "definition": "<the component's own text>"}; journal entries are
//   "STWJ" | u32 version = 1 | u32 count | count x (u8 erased, u32 length,
//   id) | u32 CRC-32C of everything before it          (little-endian)
// An entry that fails its checks is read as a request to rebuild.
//
// Thread safety: plain values and pure functions; database.hpp serializes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "codec/json_document.hpp"
#include "error.hpp"
#include "hash/crc32c.hpp"

namespace stowage {

// One write of a commit, as listeners see it.
struct committed_write {
    std::string_view key;
    std::string_view id;  // the entity id when the key is a store record, else empty
    bool erased = false;
    std::uint64_t lsn = 0;
};

using commit_listener = std::function<void(std::uint64_t commit_lsn, std::span<const committed_write> writes)>;

// Ends a listener's subscription when destroyed (or on reset()).
class commit_subscription {
public:
    commit_subscription() = default;
    explicit commit_subscription(std::function<void()> end) : end_(std::move(end)) {}
    commit_subscription(commit_subscription&& o) noexcept : end_(std::exchange(o.end_, nullptr)) {}
    commit_subscription& operator=(commit_subscription&& o) noexcept {
        if (this != &o) {
            reset();
            end_ = std::exchange(o.end_, nullptr);
        }
        return *this;
    }
    commit_subscription(const commit_subscription&) = delete;
    commit_subscription& operator=(const commit_subscription&) = delete;
    ~commit_subscription() { reset(); }
    void reset() noexcept {
        if (auto end = std::exchange(end_, nullptr)) end();
    }
    explicit operator bool() const noexcept { return static_cast<bool>(end_); }

private:
    std::function<void()> end_;
};

// An attachment as the database records it.
struct attachment_info {
    std::string name;
    std::string collection;
    std::string definition;
};

// One change a journal entry records.
struct journal_change {
    std::string id;
    bool erased = false;
    friend bool operator==(const journal_change&, const journal_change&) = default;
};

// What an attached component reads to catch up.
struct journal_read {
    std::vector<std::string> entries;      // the entries' keys (to erase once consumed)
    std::vector<journal_change> changes;   // in commit order; an id may repeat
    bool rebuild = false;                  // rebuild from the collection instead
};

namespace detail {

inline constexpr std::string_view attachments_root = "attached/";

inline std::string attachment_definition_key(std::string_view name) {
    return std::string(attachments_root) + std::string(name) + "/definition";
}
inline std::string attachment_pending_prefix(std::string_view name) {
    return std::string(attachments_root) + std::string(name) + "/pending/";
}
inline std::string attachment_rebuild_key(std::string_view name) { return attachment_pending_prefix(name) + "rebuild"; }

// The journal entry of the commit whose first write has LSN `lsn`: hex, so
// keys sort in commit order.
inline std::string attachment_entry_key(std::string_view name, std::uint64_t lsn) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string key = attachment_pending_prefix(name);
    for (int shift = 60; shift >= 0; shift -= 4) key += hex[(lsn >> shift) & 15];
    return key;
}

inline void journal_put_u32(bytes& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline std::uint32_t journal_get_u32(const std::byte* p) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(p[i]) << (8 * i);
    return v;
}

inline bytes encode_journal(std::span<const journal_change> changes) {
    bytes out;
    append(out, as_bytes("STWJ"));
    journal_put_u32(out, 1);
    journal_put_u32(out, static_cast<std::uint32_t>(changes.size()));
    for (const auto& c : changes) {
        out.push_back(std::byte{c.erased ? std::uint8_t{1} : std::uint8_t{0}});
        journal_put_u32(out, static_cast<std::uint32_t>(c.id.size()));
        append(out, as_bytes(c.id));
    }
    journal_put_u32(out, crc32c::of(out));
    return out;
}

// nullopt when the entry fails any check.
inline std::optional<std::vector<journal_change>> decode_journal(bytes_view in) {
    if (in.size() < 16 || as_chars(in.first(4)) != "STWJ" || journal_get_u32(in.data() + 4) != 1) return std::nullopt;
    if (crc32c::of(in.first(in.size() - 4)) != journal_get_u32(in.data() + in.size() - 4)) return std::nullopt;
    const std::size_t end = in.size() - 4;
    const std::uint32_t count = journal_get_u32(in.data() + 8);
    if (count > end / 5) return std::nullopt;
    std::vector<journal_change> out;
    out.reserve(count);
    std::size_t pos = 12;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (end - pos < 5) return std::nullopt;
        const auto erased = std::to_integer<std::uint8_t>(in[pos]);
        const std::uint32_t n = journal_get_u32(in.data() + pos + 1);
        pos += 5;
        if (erased > 1 || end - pos < n) return std::nullopt;
        out.push_back({std::string(as_chars(in.subspan(pos, n))), erased == 1});
        pos += n;
    }
    if (pos != end) return std::nullopt;
    return out;
}

inline bytes encode_attachment_definition(std::string_view collection, std::string_view definition) {
    json_document d;
    d.set("collection", json_value(collection));
    d.set("definition", json_value(definition));
    return to_bytes(d.dump());
}

// nullopt when the text is not a definition.
inline std::optional<attachment_info> decode_attachment_definition(std::string_view name, bytes_view in) {
    try {
        auto d = json_document::parse(as_chars(in));
        const json_value* c = d.find("collection");
        const json_value* def = d.find("definition");
        if (!c || !c->is_string() || !def || !def->is_string()) return std::nullopt;
        return attachment_info{std::string(name), c->as_string(), def->as_string()};
    } catch (const error&) {
        return std::nullopt;
    }
}

}  // namespace detail
}  // namespace stowage
