// storage/faulty.hpp — fault injection over any Storage policy, in the style
// of SQLite's I/O-error tests.
//
// Every call is broken into the steps a real filesystem performs, and each
// step is numbered. `fail_at(n, kind)` makes step n fail (once, or every step
// from n on until heal()); a test loops n = 1, 2, 3 ... until the operation
// succeeds, and checks after each failure that the key holds the old value
// or the new one and that the storage is still usable.
//
//   replace    1 write temp file    (torn: a partial temp file, never visible)
//              2 sync temp file     (unless durability::none)
//              3 rename over target
//              4 sync directory     (durability::full only; on failure the
//                                    new value is visible but not durable)
//   batch      write (+sync) per key, then one rename per key, then one
//              directory-sync step; keys renamed before the failure keep
//              their new value
//   remove     1 unlink, 2 sync directory (full only)
//   rename     1 rename, 2 sync directory (full only; where S renames keys)
//   append     1 write (torn: a prefix of the data lands, then the error)
//   write_at   1 write (the same; where S writes logs at a position)
//   sync, truncate, flush, read, read_range, size, contains, list: 1 step
//
// Failure kinds: `io` (EIO), `no_space` (ENOSPC), `torn` (EIO after a
// partial write). Injected errors are stowage::error with errc::io or
// errc::no_space and a message that says they were injected.
//
// Handles: copies share the inner storage and the fault plan.
// Thread safety: the plan is mutex-protected; the inner storage's own
// guarantees apply to the rest.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "../concepts.hpp"
#include "../error.hpp"
#include "key.hpp"

namespace stowage {

enum class fault { io, no_space, torn };

template <storage S>
class faulty_storage {
public:
    static constexpr std::string_view name = "faulty";

    explicit faulty_storage(S inner = S{}) : inner_(std::move(inner)), plan_(std::make_shared<plan>()) {}

    // Step n (1 = the next step) fails with `kind`; with `persistent`, every
    // later step fails too until heal().
    void fail_at(std::uint64_t n, fault kind = fault::io, bool persistent = false) {
        std::lock_guard lock(plan_->mutex);
        plan_->armed = true;
        plan_->target = plan_->steps + n;
        plan_->kind = kind;
        plan_->persistent = persistent;
        plan_->fired = false;
    }

    void heal() {
        std::lock_guard lock(plan_->mutex);
        plan_->armed = false;
        plan_->fired = false;
    }

    // Whether an armed fault has fired since fail_at().
    bool fired() const {
        std::lock_guard lock(plan_->mutex);
        return plan_->fired;
    }

    std::uint64_t steps() const {
        std::lock_guard lock(plan_->mutex);
        return plan_->steps;
    }

    S& inner() { return inner_; }
    const S& inner() const { return inner_; }

    // --- Storage concept ---------------------------------------------------

    std::optional<bytes> read(std::string_view key) const {
        step("read " + std::string(key));
        return inner_.read(key);
    }
    bytes read_range(std::string_view key, std::uint64_t offset, std::uint64_t n) const {
        step("read " + std::string(key));
        return inner_.read_range(key, offset, n);
    }
    std::optional<std::uint64_t> size(std::string_view key) const {
        step("stat " + std::string(key));
        return inner_.size(key);
    }
    bool contains(std::string_view key) const {
        step("stat " + std::string(key));
        return inner_.contains(key);
    }
    std::vector<std::string> list(std::string_view prefix) const {
        step("list " + std::string(prefix));
        return inner_.list(prefix);
    }

    void replace(std::string_view key, bytes_view data, durability d) {
        blob_write w{key, data};
        replace_batch(std::span<const blob_write>(&w, 1), d);
    }

    void replace_batch(std::span<const blob_write> writes, durability d) {
        for (const auto& w : writes) validate_key(w.key);
        if (inner_.read_only()) throw error(errc::read_only, "faulty_storage: write through a read-only storage");
        for (const auto& w : writes) {
            step("write temp file for " + std::string(w.key));  // a torn temp file is never visible
            if (d != durability::none) step("sync temp file for " + std::string(w.key));
        }
        // Renames land one by one (with the contents synced as above); the
        // directory sync that would make them durable comes last.
        durability landed = d == durability::none ? durability::none : durability::batched;
        for (const auto& w : writes) {
            step("rename into " + std::string(w.key));
            inner_.replace(w.key, w.data, landed);
        }
        if (d == durability::full) {
            step("sync directory");
            inner_.flush();
        }
    }

    // Present when the inner storage has it: one step (torn: a prefix lands).
    void write_at(std::string_view key, std::uint64_t offset, bytes_view data)
        requires writes_logs_at<S>
    {
        validate_key(key);
        if (inner_.read_only()) throw error(errc::read_only, "faulty_storage: write through a read-only storage");
        if (auto torn = step_may_tear("write into " + std::string(key))) {
            inner_.write_at(key, offset, data.first(data.size() / 2));  // a prefix landed
            throw error(errc::io, *torn);
        }
        inner_.write_at(key, offset, data);
    }

    // Present when the inner storage has it; each key is one step.
    void overwrite_batch(std::span<const blob_write> writes)
        requires overwrites_in_place<S>
    {
        for (const auto& w : writes) validate_key(w.key);
        if (inner_.read_only()) throw error(errc::read_only, "faulty_storage: write through a read-only storage");
        for (const auto& w : writes) {
            step("overwrite " + std::string(w.key));
            inner_.overwrite_batch(std::span<const blob_write>(&w, 1));
        }
    }

    bool remove(std::string_view key, durability d) {
        validate_key(key);
        step("unlink " + std::string(key));
        bool existed = inner_.remove(key, d == durability::full ? durability::none : d);
        if (d == durability::full) {
            step("sync directory of " + std::string(key));
            inner_.flush();
        }
        return existed;
    }

    std::uint64_t append(std::string_view key, bytes_view data) {
        validate_key(key);
        if (auto torn = step_may_tear("append to " + std::string(key))) {
            // A prefix of the data reached the file before the error.
            inner_.append(key, data.first(data.size() / 2));
            throw error(errc::io, *torn);
        }
        return inner_.append(key, data);
    }

    void sync(std::string_view key) {
        step("sync " + std::string(key));
        inner_.sync(key);
    }

    void rename(std::string_view from, std::string_view to, durability d)
        requires renames_keys<S>
    {
        validate_key(from);
        validate_key(to);
        step("rename " + std::string(from) + " to " + std::string(to));
        inner_.rename(from, to, d == durability::full ? durability::none : d);
        if (d == durability::full) {
            step("sync directory of " + std::string(to));
            inner_.flush();
        }
    }

    void truncate(std::string_view key, std::uint64_t n) {
        step("truncate " + std::string(key));
        inner_.truncate(key, n);
    }

    void flush() {
        step("flush");
        inner_.flush();
    }

    bool read_only() const { return inner_.read_only(); }

    // Crash simulation passes through when the inner storage has it.
    void crash()
        requires simulates_crashes<S>
    {
        inner_.crash();
    }

private:
    struct plan {
        mutable std::mutex mutex;
        std::uint64_t steps = 0;
        bool armed = false;
        std::uint64_t target = 0;
        fault kind = fault::io;
        bool persistent = false;
        bool fired = false;
    };

    // Counts a step; returns the injected message when this step must fail.
    std::optional<std::string> due(const std::string& what) const {
        std::lock_guard lock(plan_->mutex);
        std::uint64_t n = ++plan_->steps;
        if (!plan_->armed) return std::nullopt;
        if (n == plan_->target || (plan_->persistent && n > plan_->target)) {
            plan_->fired = true;
            return "injected fault at step " + std::to_string(n) + ": " + what;
        }
        return std::nullopt;
    }

    fault kind() const {
        std::lock_guard lock(plan_->mutex);
        return plan_->kind;
    }

    void step(const std::string& what) const {
        if (auto msg = due(what)) throw error(kind() == fault::no_space ? errc::no_space : errc::io, *msg);
    }

    // Like step(), but a `torn` fault is returned for the caller to apply.
    std::optional<std::string> step_may_tear(const std::string& what) const {
        auto msg = due(what);
        if (!msg) return std::nullopt;
        if (kind() == fault::torn) return msg;
        throw error(kind() == fault::no_space ? errc::no_space : errc::io, *msg);
    }

    S inner_;
    std::shared_ptr<plan> plan_;
};

}  // namespace stowage
