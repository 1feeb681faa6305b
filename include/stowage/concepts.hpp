// concepts.hpp — the five policy families, on one sheet.
//
// A component takes policies as template parameters; each family below is a
// C++20 concept that states the whole contract a policy signs. A client's own
// policy is a plain class that satisfies the concept (static_assert it next
// to the class). Policies configured at run time (a chunker's sizes, a
// file_storage's directory) are passed to the component's constructor;
// stateless ones are held as [[no_unique_address]] members.
//
// Optional capabilities are marker traits, not extra template parameters
// (as `is_transparent` is for comparators): see `simulates_crashes`.
//
// Thread safety: concepts only; each policy states its own.
#pragma once

#include <array>
#include <tuple>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"

namespace stowage {

// ---------------------------------------------------------------------------
// Storage: where bytes live.
//
// One namespace of keys ("sessions/ab/42", "wal/000001.log"). A key names
// either a blob, replaced whole and atomically, or a log, appended to and
// synced explicitly; the same object may be used both ways (a log can be
// replaced whole; a blob can be read by range).
//
//   read(key)              whole value, or nullopt when absent
//   read_range(key, o, n)  up to n bytes from offset o (fewer at the end;
//                          empty when o >= size); throws not_found if absent
//   size(key)              current length, or nullopt when absent
//   contains(key)
//   list(prefix)           every key starting with prefix, sorted
//   replace(key, v, d)     atomic replace: after any crash a reader sees the
//                          old value or v, never a mix. With durability::
//                            full     v is on stable storage at return;
//                            batched  v's bytes are synced but the name may
//                                     still revert to the old value at a
//                                     crash until flush();
//                            none     nothing is synced until flush().
//   replace_batch(ws, d)   the same for many keys, cheaper than one by one
//                          (one directory sync per directory); each key is
//                          atomic on its own, the batch is not a transaction
//   remove(key, d)         true if the key existed
//   append(key, v)         appends to the log (creating it), returns the
//                          offset v starts at; not durable until sync(key)
//   sync(key)              the log's bytes and its name are on stable storage
//   truncate(key, n)       cuts the log to n bytes (not durable until sync)
//   flush()                everything written before is on stable storage
//   read_only()            true when opened for reading only; every write
//                          then throws errc::read_only
//
// Keys are validated by every policy (storage/key.hpp): non-empty,
// '/'-separated components that are not empty and do not start with '.'
// (so no "." or "..": dot-names are reserved for the storage's own files),
// no NUL, control bytes or backslash, no leading or trailing '/'. An invalid
// key is errc::bad_input and touches nothing.
//
// Storage objects are handles: copies refer to the same storage (a
// component takes its storage by value; a test keeps a copy to crash and
// reopen it).
// Errors: errc::io / errc::no_space from the device, errc::bad_input for keys.
// ---------------------------------------------------------------------------
struct blob_write {
    std::string_view key;
    bytes_view data;
};

template <class S>
concept storage = requires(S& s, const S& cs, std::string_view key, bytes_view data,
                           std::uint64_t n, durability d, std::span<const blob_write> batch) {
    { S::name } -> std::convertible_to<std::string_view>;
    { cs.read(key) } -> std::same_as<std::optional<bytes>>;
    { cs.read_range(key, n, n) } -> std::same_as<bytes>;
    { cs.size(key) } -> std::same_as<std::optional<std::uint64_t>>;
    { cs.contains(key) } -> std::same_as<bool>;
    { cs.list(key) } -> std::same_as<std::vector<std::string>>;
    { s.replace(key, data, d) } -> std::same_as<void>;
    { s.replace_batch(batch, d) } -> std::same_as<void>;
    { s.remove(key, d) } -> std::same_as<bool>;
    { s.append(key, data) } -> std::same_as<std::uint64_t>;
    { s.sync(key) } -> std::same_as<void>;
    { s.truncate(key, n) } -> std::same_as<void>;
    { s.flush() } -> std::same_as<void>;
    { cs.read_only() } -> std::same_as<bool>;
};

// Marker: the storage can simulate power loss (`crash()` drops what a real
// filesystem may drop). Tests use it to crash a component and reopen it.
template <class S>
concept simulates_crashes = storage<S> && requires(S& s) {
    { s.crash() } -> std::same_as<void>;
};

// Marker: the storage can move a key to another name atomically
// (`rename(from, to, d)`, replacing `to`; durability as for replace). Used to
// put a streamed temporary (written with append + sync) into place without
// holding it in memory.
template <class S>
concept renames_keys = storage<S> && requires(S& s, std::string_view key, durability d) {
    { s.rename(key, key, d) } -> std::same_as<void>;
};

// Marker: the storage can write keys in place (`overwrite_batch(ws)`): each
// key's new bytes over its old ones, not atomic — until flush() returns, a
// crash or a concurrent reader may see a mix of old and new bytes. Only for
// callers that cover both themselves (the database's applier: its overlay
// serves those keys while they are written, its log holds them until a
// checkpoint after the flush). What it saves over replace_batch is a new
// file and a rename per key.
template <class S>
concept overwrites_in_place = storage<S> && requires(S& s, std::span<const blob_write> batch) {
    { s.overwrite_batch(batch) } -> std::same_as<void>;
};

// Marker: logs can also be written at a position (`write_at(key, o, v)`:
// creates the log if absent, zero-fills and extends it when o + size is
// past its end; like append, not durable until sync(key)). The WAL writes
// into segment space it filled with zeros ahead of time, so that most of
// its syncs do not change the file's size: an fdatasync then skips the
// metadata write (benchmarks/RESULTS.md, "Commits").
template <class S>
concept writes_logs_at = storage<S> && requires(S& s, std::string_view key, std::uint64_t n, bytes_view data) {
    { s.write_at(key, n, data) } -> std::same_as<void>;
};

// ---------------------------------------------------------------------------
// Codec: how a value becomes bytes and back.
//
//   C::name             stored in every record envelope; decoding a record
//                       whose codec name differs is errc::unsupported
//   encode(v, out)      appends v's encoding to out; a value that cannot be
//                       read back (NaN in JSON, invalid UTF-8) is bad_input
//   decode(in, v)       replaces v; malformed input is bad_input or corrupt,
//                       never a partially filled value the caller keeps
// ---------------------------------------------------------------------------
template <class C>
concept codec = requires {
    { C::name } -> std::convertible_to<std::string_view>;
};

template <class C, class T>
concept codec_for = codec<C> && requires(const C& c, const T& v, T& out, bytes& buf, bytes_view in) {
    { c.encode(v, buf) } -> std::same_as<void>;
    { c.decode(in, out) } -> std::same_as<void>;
};

// ---------------------------------------------------------------------------
// Hasher: digests for integrity and addressing.
//
//   H::digest           std::array<std::byte, N>
//   H::name             stored in envelopes ("sha256", "blake2b", "crc32c")
//   update(data)        any number of times
//   finish()            the digest of everything updated; the hasher is then
//                       reset and may be reused
// ---------------------------------------------------------------------------
template <class H>
concept hasher = std::default_initializable<H> && requires(H h, bytes_view data) {
    typename H::digest;
    requires std::same_as<typename H::digest,
                          std::array<std::byte, std::tuple_size_v<typename H::digest>>>;
    { H::name } -> std::convertible_to<std::string_view>;
    { h.update(data) } -> std::same_as<void>;
    { h.finish() } -> std::same_as<typename H::digest>;
};

// ---------------------------------------------------------------------------
// EvictionPolicy: which cache entry leaves next.
//
// The cache owns its entries; each entry derives from the policy's `hook`
// (Boost.Intrusive hooks plus whatever per-entry state the policy keeps), so
// the policy allocates nothing per entry. Weights are in the cache's units
// (1 per entry, or bytes); the policy keeps its own per-queue sums. The cache
// tells the policy about every change, under the cache's lock:
//
//   set_capacity(weight)            the budget the policy's entries share
//                                   (the cache's capacity minus pinned weight)
//   admit(key_hash, weight)         a new entry asks to enter; called once,
//                                   before the evictions that make room for it,
//                                   so the policy can adapt to the newcomer
//                                   (ARC moves its target on a ghost hit,
//                                   W-TinyLFU counts the key). false refuses
//                                   it: the entry is not cached
//   on_insert(h, key_hash, weight)  the admitted entry enters
//   on_access(h)                    a hit
//   on_update(h, weight)            the value was replaced and now weighs
//                                   `weight`; counts as an access
//   on_remove(h)                    the entry left for any reason but eviction
//                                   (erased, expired, pinned); forget it
//   evict()                         unlinks and returns the entry to evict
//                                   next (the policy may remember its key_hash
//                                   as a ghost), or nullptr when it holds none.
//                                   The cache calls it until the newcomer fits.
//   weight()                        the sum of its entries' weights
//
// on_insert may also come without admit: an unpinned entry rejoins, or a
// value that grew past the budget re-enters after room was made. Every
// call is noexcept (the cache's consistency rests on it): a policy that
// cannot allocate (a ghost, a bigger sketch) forgets instead. key_hash is
// well mixed (all 64 bits usable). Policies are not thread-safe; the cache
// serializes every call. Provided: lru, arc, s3fifo, sieve, w_tinylfu
// (evict/), each static_assert'ed against this concept.
// ---------------------------------------------------------------------------
template <class P>
concept eviction_policy = std::movable<P> && requires { typename P::hook; } &&
    requires(P& p, const P& cp, typename P::hook& h, std::uint64_t key_hash, std::uint64_t weight) {
        { P::name } -> std::convertible_to<std::string_view>;
        { p.set_capacity(weight) } noexcept -> std::same_as<void>;
        { p.admit(key_hash, weight) } noexcept -> std::same_as<bool>;
        { p.on_insert(h, key_hash, weight) } noexcept -> std::same_as<void>;
        { p.on_access(h) } noexcept -> std::same_as<void>;
        { p.on_update(h, weight) } noexcept -> std::same_as<void>;
        { p.on_remove(h) } noexcept -> std::same_as<void>;
        { p.evict() } noexcept -> std::same_as<typename P::hook*>;
        { cp.weight() } noexcept -> std::same_as<std::uint64_t>;
    };

// ---------------------------------------------------------------------------
// ChunkPolicy: where to cut a sequence.
//
// Byte chunkers cut a byte stream:
//   max_size()   the longest chunk it ever returns
//   cut(data)    the length (1..data.size()) of the first chunk of data;
//                data holds at least max_size() bytes, or the whole rest of
//                the stream. Must depend only on data's content (so equal
//                content cuts equally: that is what deduplicates).
// Item chunkers group a sequence of items (screenshots, audio segments):
//   full(items, bytes)  whether a chunk holding that many items of that many
//                       encoded bytes is complete
// ---------------------------------------------------------------------------
template <class C>
concept byte_chunker = requires(const C& c, bytes_view data) {
    { c.max_size() } -> std::same_as<std::size_t>;
    { c.cut(data) } -> std::same_as<std::size_t>;
};

template <class C>
concept item_chunker = requires(const C& c, std::size_t items, std::size_t size) {
    { c.full(items, size) } -> std::same_as<bool>;
};

template <class C>
concept chunk_policy = byte_chunker<C> || item_chunker<C>;

}  // namespace stowage
