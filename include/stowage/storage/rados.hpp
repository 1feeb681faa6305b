// storage/rados.hpp — a Ceph RADOS pool as a Storage policy, for data that
// outgrows one machine or is shared by several.
//
//   rados_storage s({.conf = "/etc/ceph/ceph.conf", .pool = "stowage"});
//   database<rados_storage> db(s);             // every component, unchanged
//
// Needs librados (Debian librados-dev); link the CMake target stowage::rados.
// This header is not part of the umbrella header, so clients who never
// include it never need librados.
//
// Mapping. Each key is one RADOS object of the same name (keys validated as
// for every storage, key.hpp). Keys longer than `max_object_name` bytes are
// stored under ".h/<sha256 of the key>" (deterministic; the key itself is
// kept in the object's "stowage.key" xattr). Names starting with '.' are
// never valid keys, so the storage's own objects cannot collide with them.
// An optional RADOS namespace isolates several storages in one pool.
//
// Listing. RADOS cannot list objects by prefix, so the storage keeps a key
// index in the omap of one object (".stowage.index": key -> object name),
// listed with omap range reads (sorted, filtered by prefix). RADOS has no
// transactions across objects, so the index is kept a *superset*: a key
// enters the index before its object is first written and leaves only after
// its object is removed. A writer that dies (or a write that times out)
// between the two steps leaves an index entry without an object; list()
// checks each listed key's object (stats in parallel) and reports only keys
// that exist, so a listing is never wrong, only sometimes a little slower.
// One index object holds every key: fine up to ~10^5 keys per storage; put
// large collections in their own namespace or pool (docs/scale-out.md).
//
// Durability. RADOS acknowledges a write only when every replica in the
// acting set has it on stable storage (and at least the pool's min_size
// replicas are up), so an acknowledged write is already replicated and
// durable: there is nothing left for sync() or flush() to push to disk.
//   replace, full       the write is acknowledged before return
//   replace, batched/none
//                       the write is sent and the call returns; at most
//                       `max_in_flight` such writes are outstanding (a new
//                       one waits for the oldest). flush() and sync() wait
//                       for them and report the first one that failed.
//                       Reads from this handle see them (RADOS orders one
//                       client's operations on one object).
//   replace_batch       all writes in flight together (bounded), then, for
//                       full, waits for every one; each key atomic on its
//                       own (write_full is atomic per object).
//   append              writes at the log's end and waits for the
//                       acknowledgement, so the returned offset is exact
//                       and the bytes are durable at return; sync(key) then
//                       only checks the key exists (and waits for writes in
//                       flight).
// A single write is limited by the cluster's osd_max_write_size (90 MB by
// default, read from the configuration at connect): larger values are
// errc::bad_input, stated clearly — large blobs belong in cas_map chunks.
//
// Failures. Every operation is bounded by `op_timeout` (set as librados'
// rados_osd_op_timeout and rados_mon_op_timeout): when too few replicas are
// up for a placement group to accept I/O, the call fails with a
// rados_error with errc::timeout (timed_out() is true) instead of hanging.
// -ENOSPC/-EDQUOT map to errc::no_space, -EPERM/-EACCES to
// errc::permission_denied, everything else to errc::io (the message names the
// key, the object and librados' error text).
//
// Writers. Like file_storage, one writer per storage (pool + namespace),
// enforced: a read-write open takes an exclusive RADOS lock, with a lease
// (`writer_lease`), on the object ".stowage.writer"; a second writer gets
// errc::locked naming the holder (its client, host and pid). A thread renews
// the lease every third of its length. Writes check the lease first: one
// that has not been renewed for most of its length is renewed on the spot
// (bounded by op_timeout: errc::timeout while the cluster is unreachable).
// A writer that dies leaves the lock until its lease lapses; the next writer
// then takes it. Every writer records itself in the lock object's
// "stowage.holder" xattr right after taking the lock, so a writer whose
// lease lapsed re-takes it only if nobody else held it meanwhile; otherwise
// it refuses every later write (errc::locked) and must be reopened — its
// cached index and log sizes may be stale. Not covered: a write already
// sent before the lease lapsed (RBD fences those by blocklisting the old
// client; this library does not). Any number of readers may open alongside.
//
// Handles: copies share one connection. Thread safety: every operation may
// be called from any number of threads (librados I/O contexts are thread
// safe; the storage's own bookkeeping is mutex-protected; appends are
// serialized).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <rados/librados.h>
#include <unistd.h>

#include "../bytes.hpp"
#include "../concepts.hpp"
#include "../error.hpp"
#include "../hash/hex.hpp"
#include "../hash/sha256.hpp"
#include "key.hpp"

namespace stowage {

// Where and how to connect.
struct rados_options {
    std::string conf;      // path of a ceph.conf; or empty, and mon_host set
    std::string mon_host;  // monitor address(es), e.g. "127.0.0.1:6789" (overrides conf)
    std::string pool;      // must exist
    std::string nspace;    // RADOS namespace inside the pool ("" = default)
    std::string client_id = "admin";
    std::chrono::seconds op_timeout{30};  // every operation fails after this, never hangs
    std::size_t max_in_flight = 32;       // asynchronous writes outstanding at once
    std::size_t max_object_name = 250;    // longer keys are stored under a digest
    open_mode mode = open_mode::read_write;
    std::chrono::seconds writer_lease{30};  // a dead writer's lock lapses after this
};

// A stowage::error that also carries librados' (positive) errno.
class rados_error : public error {
public:
    rados_error(errc code, const std::string& context, int rados_errno)
        : error(code, context), errno_(rados_errno) {}
    int rados_errno() const noexcept { return errno_; }
    // The operation did not complete within op_timeout (cluster unreachable,
    // or too few replicas up for the placement group to accept I/O).
    bool timed_out() const noexcept { return errno_ == ETIMEDOUT; }

private:
    int errno_;
};

namespace detail {

// r is a negative errno from librados.
[[noreturn]] inline void throw_rados(int r, const std::string& what, std::chrono::seconds timeout) {
    int e = -r;
    errc code = errc_from_errno(e);
    std::string text = what + " (";
    if (e == ETIMEDOUT)
        text += "timed out after " + std::to_string(timeout.count()) +
                " s: cluster unreachable or too few replicas up (rados_osd_op_timeout)";
    else if (e == EPERM || e == EACCES)
        text += "permission denied by the cluster: " + std::string(std::strerror(e));
    else
        text += std::strerror(e);
    text += ")";
    throw rados_error(code, text, e);
}

// Owners for librados' C handles.
struct write_op {
    rados_write_op_t op = rados_create_write_op();
    write_op() = default;
    write_op(const write_op&) = delete;
    write_op& operator=(const write_op&) = delete;
    ~write_op() { rados_release_write_op(op); }
};
struct read_op {
    rados_read_op_t op = rados_create_read_op();
    read_op() = default;
    read_op(const read_op&) = delete;
    read_op& operator=(const read_op&) = delete;
    ~read_op() { rados_release_read_op(op); }
};
struct completion {
    rados_completion_t c = nullptr;
    completion() {
        if (int r = rados_aio_create_completion2(nullptr, nullptr, &c); r < 0)
            throw error(errc::io, "rados: cannot create a completion");
    }
    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;
    ~completion() {
        if (c) rados_aio_release(c);
    }
    int wait() {
        rados_aio_wait_for_complete(c);
        return rados_aio_get_return_value(c);
    }
};

}  // namespace detail

class rados_storage {
public:
    static constexpr std::string_view name = "rados";

    explicit rados_storage(rados_options o) : impl_(std::make_shared<impl>(std::move(o))) {}
    rados_storage(const std::string& conf, const std::string& pool, open_mode mode = open_mode::read_write)
        : rados_storage(rados_options{.conf = conf, .pool = pool, .mode = mode}) {}

    // "rados:POOL:CONF" (CONF: a ceph.conf path, may contain ':'), as the
    // `stowage` command takes it; nullopt when `location` is not of that form.
    static std::optional<rados_options> parse_location(std::string_view location) {
        if (!location.starts_with("rados:")) return std::nullopt;
        auto rest = location.substr(6);
        auto colon = rest.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size())
            throw error(errc::bad_input, "\"" + std::string(location) + "\" is not rados:POOL:CONF");
        rados_options o;
        o.pool = std::string(rest.substr(0, colon));
        o.conf = std::string(rest.substr(colon + 1));
        return o;
    }

    // The RADOS object a key is stored in.
    std::string object_name(std::string_view key) const {
        validate_key(key);
        return impl_->object(key);
    }
    // Largest value one replace() accepts (osd_max_write_size).
    std::uint64_t max_write_size() const { return impl_->max_write; }
    const rados_options& options() const { return impl_->opts; }
    // Asynchronous writes not yet acknowledged.
    std::size_t in_flight() const {
        std::lock_guard lock(impl_->mutex);
        return impl_->pending.size();
    }

    // --- Storage concept ---------------------------------------------------

    std::optional<bytes> read(std::string_view key) const {
        validate_key(key);
        std::string obj = impl_->object(key);
        std::size_t cap = 64 * 1024;
        for (;;) {
            // Size and data in one operation, so they describe one version;
            // when the object is larger than the guess, read again whole.
            bytes out(cap);
            std::uint64_t size = 0;
            std::size_t got = 0;
            int stat_rv = 0, read_rv = 0;
            detail::read_op op;
            rados_read_op_stat(op.op, &size, nullptr, &stat_rv);
            rados_read_op_read(op.op, 0, cap, reinterpret_cast<char*>(out.data()), &got, &read_rv);
            int r = rados_read_op_operate(op.op, impl_->io, obj.c_str(), 0);
            if (r == -ENOENT) return std::nullopt;
            if (r < 0) impl_->fail(r, "read " + std::string(key));
            if (size <= cap) {
                out.resize(got);
                return out;
            }
            cap = static_cast<std::size_t>(size);
        }
    }

    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        validate_key(key);
        std::string obj = impl_->object(key);
        constexpr std::uint64_t piece = 8u << 20;
        bytes out;
        for (;;) {
            std::uint64_t want = std::min(n - out.size(), piece);
            std::size_t at = out.size();
            out.resize(at + static_cast<std::size_t>(want));
            std::uint64_t size = 0;
            std::size_t got = 0;
            int stat_rv = 0, read_rv = 0;
            detail::read_op op;
            rados_read_op_stat(op.op, &size, nullptr, &stat_rv);
            rados_read_op_read(op.op, offset + at, want, reinterpret_cast<char*>(out.data() + at), &got, &read_rv);
            int r = rados_read_op_operate(op.op, impl_->io, obj.c_str(), 0);
            if (r == -ENOENT) throw error(errc::not_found, std::string(key));
            if (r < 0) impl_->fail(r, "read " + std::string(key));
            out.resize(at + got);
            if (got < want || out.size() == n) return out;
        }
    }

    std::optional<std::uint64_t> size(std::string_view key) const {
        validate_key(key);
        std::uint64_t size = 0;
        int r = rados_stat(impl_->io, impl_->object(key).c_str(), &size, nullptr);
        if (r == -ENOENT) return std::nullopt;
        if (r < 0) impl_->fail(r, "stat " + std::string(key));
        return size;
    }

    bool contains(std::string_view key) const { return size(key).has_value(); }

    std::vector<std::string> list(std::string_view prefix) const { return impl_->list(prefix); }

    void replace(std::string_view key, bytes_view data, durability d) {
        blob_write w{key, data};
        replace_batch(std::span<const blob_write>(&w, 1), d);
    }

    void replace_batch(std::span<const blob_write> writes, durability d) {
        impl_->writable();
        for (const auto& w : writes) {
            validate_key(w.key);
            impl_->check_size(w.key, w.data.size());
        }
        std::vector<std::string_view> keys;
        keys.reserve(writes.size());
        for (const auto& w : writes) keys.push_back(w.key);
        impl_->ensure_indexed(keys);
        impl_->write_all(writes, d == durability::full);
    }

    bool remove(std::string_view key, durability) {
        impl_->writable();
        validate_key(key);
        std::string obj = impl_->object(key);
        int r = rados_remove(impl_->io, obj.c_str());
        if (r < 0 && r != -ENOENT) impl_->fail(r, "remove " + std::string(key));
        impl_->unindex(key);
        return r == 0;
    }

    std::uint64_t append(std::string_view key, bytes_view data) {
        impl_->writable();
        validate_key(key);
        impl_->check_size(key, data.size());
        return impl_->append(key, data);
    }

    void sync(std::string_view key) {
        impl_->writable();
        validate_key(key);
        impl_->drain();
        if (impl_->known_log(key)) return;
        if (!contains(key)) throw error(errc::not_found, "sync of absent key " + std::string(key));
    }

    void truncate(std::string_view key, std::uint64_t n) {
        impl_->writable();
        validate_key(key);
        impl_->truncate(key, n);
    }

    void flush() {
        impl_->writable();
        impl_->drain();
    }

    bool read_only() const { return impl_->opts.mode == open_mode::read_only; }

private:
    static constexpr const char* index_object = ".stowage.index";
    static constexpr const char* writer_object = ".stowage.writer";
    static constexpr const char* writer_lock = "stowage-writer";
    static constexpr const char* holder_xattr = "stowage.holder";  // the holder's cookie
    static constexpr const char* who_xattr = "stowage.who";        // its host and pid, for errors
    static constexpr const char* key_xattr = "stowage.key";

    struct pending_write {
        std::unique_ptr<detail::write_op> op;
        std::unique_ptr<detail::completion> done;
        bytes data;  // owned copy: the caller's buffer is gone at return
        std::string key;
    };

    struct impl {
        rados_options opts;
        rados_t cluster = nullptr;
        rados_ioctx_t io = nullptr;
        std::uint64_t max_write = 90ull << 20;

        mutable std::mutex mutex;  // guards the members below
        std::deque<pending_write> pending;
        std::set<std::string, std::less<>> indexed;                  // known to be in the index
        std::map<std::string, std::uint64_t, std::less<>> log_sizes;  // sizes after our appends
        int async_error = 0;
        std::string async_error_what;
        std::mutex drain_mutex;   // one drainer at a time
        std::mutex append_mutex;  // appends are serialized (exact offsets)

        explicit impl(rados_options o) : opts(std::move(o)) {
            if (opts.pool.empty()) throw error(errc::bad_input, "rados_storage: no pool given");
            if (opts.conf.empty() && opts.mon_host.empty())
                throw error(errc::bad_input, "rados_storage: neither a ceph.conf path nor a monitor address given");
            if (opts.max_in_flight == 0) opts.max_in_flight = 1;
            std::string where = opts.conf.empty() ? opts.mon_host : opts.conf;
            int r = rados_create(&cluster, opts.client_id.c_str());
            if (r < 0) detail::throw_rados(r, "rados: create cluster handle", opts.op_timeout);
            try {
                if (!opts.conf.empty()) {
                    r = rados_conf_read_file(cluster, opts.conf.c_str());
                    if (r < 0) detail::throw_rados(r, "rados: read configuration " + opts.conf, opts.op_timeout);
                }
                if (!opts.mon_host.empty()) conf_set("mon_host", opts.mon_host);
                std::string t = std::to_string(opts.op_timeout.count());
                conf_set("rados_osd_op_timeout", t);
                conf_set("rados_mon_op_timeout", t);
                conf_set("client_mount_timeout", t);
                char buf[64] = {};
                if (rados_conf_get(cluster, "osd_max_write_size", buf, sizeof buf - 1) == 0) {
                    auto mb = std::strtoull(buf, nullptr, 10);
                    if (mb > 0) max_write = mb << 20;
                }
                r = rados_connect(cluster);
                if (r < 0) detail::throw_rados(r, "rados: connect to the cluster of " + where, opts.op_timeout);
                r = rados_ioctx_create(cluster, opts.pool.c_str(), &io);
                if (r == -ENOENT) throw error(errc::not_found, "rados: pool " + opts.pool + " does not exist in " + where);
                if (r < 0) detail::throw_rados(r, "rados: open pool " + opts.pool, opts.op_timeout);
                rados_ioctx_set_namespace(io, opts.nspace.empty() ? nullptr : opts.nspace.c_str());
                if (opts.mode == open_mode::read_write) take_writer_lease();
            } catch (...) {
                if (io) rados_ioctx_destroy(io);
                rados_shutdown(cluster);
                throw;
            }
        }

        ~impl() {
            try {
                std::lock_guard d(drain_mutex);
                drain_locked();
            } catch (...) {
                // A destructor cannot report; unacknowledged writes with
                // durability none/batched may be lost, as documented.
            }
            if (renewer.joinable()) {
                {
                    std::lock_guard lock(lease_mutex);
                    lease_stop = true;
                }
                lease_cv.notify_all();
                renewer.join();
                rados_unlock(io, writer_object, writer_lock, cookie.c_str());  // best effort: else it lapses
            }
            rados_ioctx_destroy(io);
            rados_shutdown(cluster);
        }

        void conf_set(const char* option, const std::string& value) {
            if (int r = rados_conf_set(cluster, option, value.c_str()); r < 0)
                detail::throw_rados(r, std::string("rados: set ") + option + " = " + value, opts.op_timeout);
        }

        [[noreturn]] void fail(int r, const std::string& what) const {
            // librados learns a new OSD map only when it asks for one, and
            // it asks when an operation has been outstanding longer than
            // objecter_timeout — which an op_timeout below it never lets
            // happen. Without this, a handle whose operations timed out
            // while OSDs were down keeps using the old map (and timing out)
            // after they are back. The fetch is bounded by rados_mon_op_timeout.
            if (r == -ETIMEDOUT) rados_wait_for_latest_osdmap(cluster);
            detail::throw_rados(r, "rados pool " + opts.pool + ": " + what, opts.op_timeout);
        }

        void writable() {
            if (opts.mode == open_mode::read_only)
                throw error(errc::read_only, "rados pool " + opts.pool + " was opened read-only");
            check_lease();
        }

        // --- the writer lease (see "Writers" at the top) -------------------

        std::string cookie;    // this open's identity in the lock
        std::string identity;  // "host H, pid P": the lock's description, and who_xattr
        std::mutex lease_mutex;
        std::condition_variable lease_cv;
        bool lease_stop = false;
        bool lease_lost = false;
        std::chrono::steady_clock::time_point lease_fresh_until{};
        std::thread renewer;

        std::string where() const { return "rados pool " + opts.pool + (opts.nspace.empty() ? "" : " namespace " + opts.nspace); }

        int lock_once(std::uint8_t flags) {
            std::string desc = "stowage writer, " + identity;
            timeval lease{static_cast<time_t>(opts.writer_lease.count()), 0};
            return rados_lock_exclusive(io, writer_object, writer_lock, cookie.c_str(), desc.c_str(), &lease, flags);
        }

        std::string holder_of_lock() {
            int exclusive = 0;
            char tag[256], clients[1024], cookies[1024], addrs[1024];
            std::size_t tag_len = sizeof tag, clients_len = sizeof clients, cookies_len = sizeof cookies,
                        addrs_len = sizeof addrs;
            ssize_t n = rados_list_lockers(io, writer_object, writer_lock, &exclusive, tag, &tag_len, clients,
                                           &clients_len, cookies, &cookies_len, addrs, &addrs_len);
            if (n <= 0) return "another writer";
            std::string who = std::string(clients) + " at " + addrs;
            // list_lockers does not return the lock's description: the
            // holder's host and pid are also kept in an xattr.
            char holder[512] = {};
            int h = rados_getxattr(io, writer_object, who_xattr, holder, sizeof holder - 1);
            if (h > 0) who += " (" + std::string(holder, static_cast<std::size_t>(h)) + ")";
            return who;
        }

        void take_writer_lease() {
            std::random_device rd;
            cookie = to_hex(bytes{std::byte(rd()), std::byte(rd()), std::byte(rd()), std::byte(rd()),
                                  std::byte(rd()), std::byte(rd()), std::byte(rd()), std::byte(rd())});
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            identity = std::string("host ") + host + ", pid " + std::to_string(::getpid());
            auto started = std::chrono::steady_clock::now();
            int r = lock_once(0);
            if (r == -EBUSY)
                throw error(errc::locked, where() + " has a writer already: " + holder_of_lock() +
                                              " (if that process died, its lock lapses within " +
                                              std::to_string(opts.writer_lease.count()) + " s)");
            if (r < 0) fail(r, "take the writer lock");
            record_holder();
            lease_fresh_until = started + fresh_part();
            renewer = std::thread([this] { renew_loop(); });
        }

        // Written right after taking the lock, before any data write.
        void record_holder() {
            int r = rados_setxattr(io, writer_object, holder_xattr, cookie.data(), cookie.size());
            if (r >= 0) r = rados_setxattr(io, writer_object, who_xattr, identity.data(), identity.size());
            if (r < 0) fail(r, "record the writer lock's holder");
        }

        // A lease is trusted for three quarters of its length from the
        // moment its renewal was sent (clock drift and delays get the rest).
        std::chrono::steady_clock::duration fresh_part() const {
            return std::chrono::duration_cast<std::chrono::steady_clock::duration>(opts.writer_lease) * 3 / 4;
        }

        // Renews (or, if it lapsed and nobody held it since, re-takes) the
        // lock. Returns 0 or the failing negative errno; sets lease_lost
        // when another writer holds or held it.
        int renew() {
            auto started = std::chrono::steady_clock::now();
            int r = lock_once(LIBRADOS_LOCK_FLAG_MAY_RENEW);
            if (r == -EBUSY) {
                std::lock_guard lock(lease_mutex);
                lease_lost = true;
                return r;
            }
            if (r < 0 && r != -EEXIST) return r;
            char holder[64] = {};
            int h = rados_getxattr(io, writer_object, holder_xattr, holder, sizeof holder - 1);
            if (h < 0) return h;
            std::lock_guard lock(lease_mutex);
            if (std::string_view(holder, static_cast<std::size_t>(h)) != cookie) {
                lease_lost = true;
                return -EBUSY;
            }
            lease_fresh_until = std::max(lease_fresh_until, started + fresh_part());
            return 0;
        }

        void renew_loop() {
            std::unique_lock lock(lease_mutex);
            while (!lease_stop && !lease_lost) {
                if (lease_cv.wait_for(lock, opts.writer_lease / 3, [&] { return lease_stop; })) break;
                lock.unlock();
                renew();  // a failure shows at the next write (check_lease)
                lock.lock();
            }
        }

        void check_lease() {
            bool lost;
            {
                std::lock_guard lock(lease_mutex);
                if (!lease_lost && std::chrono::steady_clock::now() < lease_fresh_until) return;
                lost = lease_lost;
            }
            int r = lost ? -EBUSY : renew();
            if (r == 0) return;
            if (r == -EBUSY)
                throw error(errc::locked, where() + ": another writer took the writer lock over while this one's "
                                                    "lease had lapsed; reopen to write again");
            fail(r, "renew the writer lock");
        }

        void check_size(std::string_view key, std::size_t n) const {
            if (n > max_write)
                throw error(errc::bad_input, "value of " + std::to_string(n) + " bytes for " + std::string(key) +
                                                 " exceeds the cluster's osd_max_write_size of " +
                                                 std::to_string(max_write) +
                                                 " bytes (store large blobs through cas_map chunks)");
        }

        std::string object(std::string_view key) const {
            if (key.size() <= opts.max_object_name) return std::string(key);
            sha256 h;
            h.update(as_bytes(key));
            return ".h/" + to_hex(h.finish());
        }

        // Index first (superset rule, see the top of the file): one omap
        // write for every key this process has not indexed yet.
        void ensure_indexed(const std::vector<std::string_view>& keys) {
            std::vector<std::string> fresh;
            {
                std::lock_guard lock(mutex);
                for (auto k : keys)
                    if (!indexed.contains(k)) fresh.emplace_back(k);
            }
            if (fresh.empty()) return;
            std::sort(fresh.begin(), fresh.end());
            fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
            for (std::size_t at = 0; at < fresh.size(); at += 1024) {
                std::size_t end = std::min(fresh.size(), at + 1024);
                std::vector<std::string> objs;
                std::vector<const char*> ks, vs;
                std::vector<std::size_t> kl, vl;
                for (std::size_t i = at; i < end; ++i) objs.push_back(object(fresh[i]));
                for (std::size_t i = at; i < end; ++i) {
                    ks.push_back(fresh[i].c_str());
                    kl.push_back(fresh[i].size());
                    vs.push_back(objs[i - at].c_str());
                    vl.push_back(objs[i - at].size());
                }
                detail::write_op op;
                rados_write_op_omap_set2(op.op, ks.data(), vs.data(), kl.data(), vl.data(), ks.size());
                int r = rados_write_op_operate(op.op, io, index_object, nullptr, 0);
                if (r < 0) fail(r, "index " + fresh[at] + (end - at > 1 ? " and others" : ""));
            }
            std::lock_guard lock(mutex);
            for (auto& k : fresh) indexed.insert(std::move(k));
        }

        // Object first, then its index entry (superset rule).
        void unindex(std::string_view key) {
            std::string k(key);
            const char* ks[] = {k.c_str()};
            std::size_t kl[] = {k.size()};
            detail::write_op op;
            rados_write_op_omap_rm_keys2(op.op, ks, kl, 1);
            int r = rados_write_op_operate(op.op, io, index_object, nullptr, 0);
            if (r < 0 && r != -ENOENT) fail(r, "unindex " + k);
            std::lock_guard lock(mutex);
            if (auto it = indexed.find(key); it != indexed.end()) indexed.erase(it);
            if (auto it = log_sizes.find(key); it != log_sizes.end()) log_sizes.erase(it);
        }

        void build_write(detail::write_op& op, std::string_view key, const std::string& obj, bytes_view data) {
            rados_write_op_create(op.op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
            rados_write_op_write_full(op.op, reinterpret_cast<const char*>(data.data()), data.size());
            if (obj.size() != key.size()) rados_write_op_setxattr(op.op, key_xattr, key.data(), key.size());
        }

        // Full: every write in flight together (at most max_in_flight),
        // all acknowledged before return. Otherwise: queued as pending.
        void write_all(std::span<const blob_write> writes, bool wait) {
            if (!wait) {
                for (const auto& w : writes) submit_pending(w);
                return;
            }
            struct inflight {
                detail::write_op op;
                detail::completion done;
                std::string key;
            };
            std::deque<std::unique_ptr<inflight>> window;
            int first_error = 0;
            std::string first_key;
            auto finish_one = [&] {
                int r = window.front()->done.wait();
                if (r < 0 && first_error == 0) {
                    first_error = r;
                    first_key = window.front()->key;
                }
                window.pop_front();
            };
            for (const auto& w : writes) {
                if (window.size() >= opts.max_in_flight) finish_one();
                auto f = std::make_unique<inflight>();
                f->key = std::string(w.key);
                std::string obj = object(w.key);
                build_write(f->op, w.key, obj, w.data);
                int r = rados_aio_write_op_operate(f->op.op, io, f->done.c, obj.c_str(), nullptr, 0);
                if (r < 0) {
                    while (!window.empty()) finish_one();
                    fail(r, "write " + f->key);
                }
                window.push_back(std::move(f));
            }
            while (!window.empty()) finish_one();
            if (first_error) {
                forget_log_sizes();
                fail(first_error, "write " + first_key);
            }
            std::lock_guard lock(mutex);
            for (const auto& w : writes) log_sizes.insert_or_assign(std::string(w.key), w.data.size());
        }

        void submit_pending(const blob_write& w) {
            for (;;) {
                {
                    std::lock_guard lock(mutex);
                    if (pending.size() < opts.max_in_flight) break;
                }
                wait_oldest();
            }
            pending_write p;
            p.op = std::make_unique<detail::write_op>();
            p.done = std::make_unique<detail::completion>();
            p.data.assign(w.data.begin(), w.data.end());
            p.key = std::string(w.key);
            std::string obj = object(w.key);
            build_write(*p.op, w.key, obj, p.data);
            std::lock_guard lock(mutex);
            // Submitted under the lock so the queue's order is the order
            // RADOS sees (and drain() waits oldest first).
            int r = rados_aio_write_op_operate(p.op->op, io, p.done->c, obj.c_str(), nullptr, 0);
            if (r < 0) fail(r, "write " + p.key);
            log_sizes.insert_or_assign(p.key, p.data.size());
            pending.push_back(std::move(p));
        }

        // Waits for the oldest pending write; remembers its failure.
        void wait_oldest() {
            std::lock_guard d(drain_mutex);
            pending_write p;
            {
                std::lock_guard lock(mutex);
                if (pending.empty()) return;
                p = std::move(pending.front());
                pending.pop_front();
            }
            int r = p.done->wait();
            if (r < 0) {
                std::lock_guard lock(mutex);
                if (async_error == 0) {
                    async_error = r;
                    async_error_what = "write " + p.key;
                }
                log_sizes.clear();
            }
        }

        void drain_locked() {
            for (;;) {
                pending_write p;
                {
                    std::lock_guard lock(mutex);
                    if (pending.empty()) break;
                    p = std::move(pending.front());
                    pending.pop_front();
                }
                int r = p.done->wait();
                if (r < 0) {
                    std::lock_guard lock(mutex);
                    if (async_error == 0) {
                        async_error = r;
                        async_error_what = "write " + p.key;
                    }
                    log_sizes.clear();
                }
            }
        }

        // Waits for every pending write; throws the first failure since the
        // last drain (once).
        void drain() {
            {
                std::lock_guard d(drain_mutex);
                drain_locked();
            }
            std::lock_guard lock(mutex);
            if (async_error != 0) {
                int r = std::exchange(async_error, 0);
                std::string what = std::move(async_error_what);
                fail(r, what + " (written asynchronously)");
            }
        }

        void forget_log_sizes() {
            std::lock_guard lock(mutex);
            log_sizes.clear();
        }

        bool known_log(std::string_view key) const {
            std::lock_guard lock(mutex);
            return log_sizes.contains(key);
        }

        std::uint64_t append(std::string_view key, bytes_view data) {
            // One append is one RADOS write: a WAL transaction larger than
            // the cluster's limit gets a clear error, not the OSD's EFBIG.
            check_size(key, data.size());
            std::lock_guard serial(append_mutex);
            std::string k(key);
            ensure_indexed({key});
            std::string obj = object(key);
            std::optional<std::uint64_t> offset;
            {
                std::lock_guard lock(mutex);
                if (auto it = log_sizes.find(key); it != log_sizes.end()) offset = it->second;
            }
            if (!offset) {
                drain();  // a pending replace of this key decides its size
                std::uint64_t size = 0;
                int r = rados_stat(io, obj.c_str(), &size, nullptr);
                if (r < 0 && r != -ENOENT) fail(r, "stat " + k);
                offset = r == -ENOENT ? 0 : size;
            }
            detail::write_op op;
            rados_write_op_create(op.op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
            rados_write_op_write(op.op, reinterpret_cast<const char*>(data.data()), data.size(), *offset);
            if (obj.size() != key.size()) rados_write_op_setxattr(op.op, key_xattr, key.data(), key.size());
            int r = rados_write_op_operate(op.op, io, obj.c_str(), nullptr, 0);
            if (r < 0) {
                forget_log_sizes();  // the write may or may not have landed
                fail(r, "append to " + k);
            }
            std::lock_guard lock(mutex);
            log_sizes.insert_or_assign(k, *offset + data.size());
            return *offset;
        }

        void truncate(std::string_view key, std::uint64_t n) {
            std::lock_guard serial(append_mutex);
            std::string obj = object(key);
            detail::write_op op;
            rados_write_op_assert_exists(op.op);
            rados_write_op_truncate(op.op, n);
            int r = rados_write_op_operate(op.op, io, obj.c_str(), nullptr, 0);
            if (r == -ENOENT) throw error(errc::not_found, "truncate of absent key " + std::string(key));
            if (r < 0) {
                forget_log_sizes();
                fail(r, "truncate " + std::string(key));
            }
            std::lock_guard lock(mutex);
            log_sizes.insert_or_assign(std::string(key), n);
        }

        std::vector<std::string> list(std::string_view prefix) const {
            // 1. Index entries under the prefix (omap keys are sorted bytewise,
            //    the order std::string compares in).
            std::vector<std::pair<std::string, std::string>> entries;  // key, object
            std::string p(prefix), after;
            for (bool more = true; more;) {
                detail::read_op op;
                rados_omap_iter_t it = nullptr;
                unsigned char pmore = 0;
                int rv = 0;
                rados_read_op_omap_get_vals2(op.op, after.c_str(), p.c_str(), 1000, &it, &pmore, &rv);
                int r = rados_read_op_operate(op.op, io, index_object, 0);
                // The iterator is allocated whether or not the read succeeds.
                struct iter_owner {
                    rados_omap_iter_t& it;
                    ~iter_owner() {
                        if (it) rados_omap_get_end(it);
                    }
                } owner{it};
                if (r == -ENOENT) return {};
                if (r < 0) fail(r, "list " + p);
                if (rv < 0) fail(rv, "list " + p);
                std::size_t before = entries.size();
                for (;;) {
                    char *k = nullptr, *v = nullptr;
                    std::size_t kl = 0, vl = 0;
                    if (rados_omap_get_next2(it, &k, &v, &kl, &vl) < 0 || k == nullptr) break;
                    entries.emplace_back(std::string(k, kl), std::string(v, vl));
                }
                more = pmore != 0 && entries.size() > before;
                if (more) after = entries.back().first;
            }
            // 2. Keep the keys whose object exists (stats in parallel).
            struct probe {
                detail::completion done;
                std::uint64_t size = 0;
                std::size_t index = 0;
            };
            std::vector<char> exists(entries.size(), 0);
            std::deque<std::unique_ptr<probe>> window;
            int first_error = 0;
            auto finish_one = [&] {
                int r = window.front()->done.wait();
                if (r == 0) exists[window.front()->index] = 1;
                else if (r != -ENOENT && first_error == 0) first_error = r;
                window.pop_front();
            };
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (window.size() >= 4 * opts.max_in_flight) finish_one();
                auto pr = std::make_unique<probe>();
                pr->index = i;
                int r = rados_aio_stat(io, entries[i].second.c_str(), pr->done.c, &pr->size, nullptr);
                if (r < 0) {
                    while (!window.empty()) finish_one();
                    fail(r, "list " + p);
                }
                window.push_back(std::move(pr));
            }
            while (!window.empty()) finish_one();
            if (first_error) fail(first_error, "list " + p);
            std::vector<std::string> out;
            for (std::size_t i = 0; i < entries.size(); ++i)
                if (exists[i]) out.push_back(std::move(entries[i].first));
            return out;
        }
    };

    std::shared_ptr<impl> impl_;
};

static_assert(storage<rados_storage>);

}  // namespace stowage
