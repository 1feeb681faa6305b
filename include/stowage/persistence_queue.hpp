// persistence_queue.hpp — callers enqueue writes and go on; one background
// worker applies them through the database, batched into transactions.
//
// The seed app lost data because a debounced save raced a background
// writer and blindly overwrote newer data. Here:
//   - a whole-entity write carries the version it was based on (the LSN
//     store::lsn_of reports, nullopt for "must not exist yet"); if the stored
//     entity is newer by the time it is applied, that write fails with
//     errc::conflict instead of overwriting (no blind last-write-wins);
//   - read-modify-write functions (enqueue_update) run at apply time on the
//     latest value, in enqueue order, so concurrent producers compose;
//   - nothing is dropped silently: every operation ends applied or failed,
//     reported through its future and the listener; failures of a whole
//     batch (I/O, a full disk) are retried with backoff up to a limit first.
//
// Ordering: one FIFO. Priorities decide when a batch is applied, never the
// order: a `critical` operation applies everything queued before it, and
// itself, at once; `normal` ones are batched within `batch_window`; `low`
// ones wait until the queue has been idle for `idle_delay` (or something
// more urgent arrives behind them). So each producer's writes land in the
// order it enqueued them.
//
// Reads: get() returns the stored entity with every pending operation on it
// applied in order (read-your-writes before the worker has caught up).
//
// flush() returns once everything enqueued before it is applied and
// durable (or failed). shutdown() drains the queue and stops the worker;
// later enqueues throw errc::failed_state.
//
// Memory is bounded by `max_pending` operations. When full, enqueue blocks
// (on_full::block, the default) or throws errc::no_space with "queue full"
// (on_full::reject).
//
// Maintenance jobs (add_job) run on the worker, one step at a time, only
// while the queue is idle; each can report progress and be paused, resumed
// or cancelled, and each step must be safe to interrupt by a crash (e.g.
// cas_map::collect_garbage, which is transactional). Pause and cancel take
// effect between steps; a long step may also poll queue_job::paused() and
// cancelled() and stop early (maintenance.hpp's cas_gc_job does).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <algorithm>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "database.hpp"
#include "error.hpp"

namespace stowage {

enum class priority { critical, normal, low };

struct queue_options {
    std::chrono::milliseconds batch_window{20};
    std::chrono::milliseconds idle_delay{100};
    std::size_t max_pending = 100000;
    std::size_t max_batch = 1000;
    enum class on_full { block, reject } when_full = on_full::block;
    int max_attempts = 5;                       // per batch, for I/O failures
    std::chrono::milliseconds backoff{5};       // doubled each retry
    durability commit_durability = durability::full;
};

struct queue_event {
    enum class kind { enqueued, applied, failed } what;
    std::uint64_t sequence = 0;
    std::string key;
    std::optional<error> failure;
};

template <storage Storage>
class persistence_queue;

// A maintenance job's handle.
class queue_job {
public:
    std::string name() const { return name_; }
    void pause() { paused_ = true; }
    void resume() { paused_ = false; }
    void cancel() { cancelled_ = true; }
    bool done() const { return done_; }
    bool cancelled() const { return cancelled_; }
    // Whether pause() was called (and not resumed since). The queue starts
    // no step of a paused job; a long step asks this to stop early, returning
    // false (not finished) so it runs again after resume().
    bool paused() const { return paused_; }
    std::pair<std::uint64_t, std::uint64_t> progress() const { return {done_units_, total_units_}; }
    void report(std::uint64_t done, std::uint64_t total) {
        done_units_ = done;
        total_units_ = total;
    }
    std::optional<std::string> failure() const {
        std::lock_guard lock(mutex_);
        return failure_;
    }

private:
    template <storage S>
    friend class persistence_queue;
    queue_job(std::string name, std::function<bool(queue_job&)> step) : name_(std::move(name)), step_(std::move(step)) {}
    std::string name_;
    std::function<bool(queue_job&)> step_;  // returns true when finished
    std::atomic<bool> paused_{false}, cancelled_{false}, done_{false};
    std::atomic<std::uint64_t> done_units_{0}, total_units_{0};
    mutable std::mutex mutex_;
    std::optional<std::string> failure_;
};

template <storage Storage>
class persistence_queue {
public:
    using listener = std::function<void(const queue_event&)>;

    explicit persistence_queue(database<Storage>& db, queue_options options = {}, listener on_event = {})
        : db_(db), options_(options), listener_(std::move(on_event)) {
        worker_ = std::thread([this] { run(); });
    }

    persistence_queue(const persistence_queue&) = delete;
    persistence_queue& operator=(const persistence_queue&) = delete;
    ~persistence_queue() { shutdown(); }

    // --- enqueue ---------------------------------------------------------------

    // A whole-entity write based on `based_on` (store::lsn_of at read time;
    // nullopt: the entity must not exist).
    template <class Store>
    std::shared_future<void> enqueue_put(Store& s, typename Store::entity_type e, std::optional<std::uint64_t> based_on,
                                         priority p = priority::normal) {
        std::string id = entity_id(e);
        std::string key = s.key_of(id);
        auto shared = std::make_shared<typename Store::entity_type>(std::move(e));
        return enqueue<typename Store::entity_type>(key, p, [&s, shared, based_on, key](db_transaction<Storage>& tx) {
            auto v = tx.version(key);
            bool matches = v && (based_on ? (v->exists && v->lsn == *based_on) : !v->exists);
            if (!matches)
                throw error(errc::conflict, key + ": stored version is newer than the one this write was based on");
            tx.put(s, *shared);
        }, [shared](std::optional<typename Store::entity_type>& current) { current = *shared; });
    }

    // An unconditional write, for data only this producer owns.
    template <class Store>
    std::shared_future<void> enqueue_overwrite(Store& s, typename Store::entity_type e, priority p = priority::normal) {
        std::string key = s.key_of(entity_id(e));
        auto shared = std::make_shared<typename Store::entity_type>(std::move(e));
        return enqueue<typename Store::entity_type>(key, p, [&s, shared](db_transaction<Storage>& tx) { tx.put(s, *shared); },
                       [shared](std::optional<typename Store::entity_type>& current) { current = *shared; });
    }

    template <class Store>
    std::shared_future<void> enqueue_erase(Store& s, std::string id, priority p = priority::normal) {
        std::string key = s.key_of(id);
        return enqueue<typename Store::entity_type>(key, p, [&s, id](db_transaction<Storage>& tx) { tx.erase(s, id); },
                       [](std::optional<typename Store::entity_type>& current) { current.reset(); });
    }

    // fn(std::optional<Entity>&) runs at apply time on the latest value
    // (nullopt when absent); leaving it empty erases the entity. Updates to
    // one entity compose in enqueue order.
    template <class Store, class Fn>
    std::shared_future<void> enqueue_update(Store& s, std::string id, Fn fn, priority p = priority::normal) {
        std::string key = s.key_of(id);
        auto f = std::make_shared<Fn>(std::move(fn));
        return enqueue<typename Store::entity_type>(key, p, [&s, id, f](db_transaction<Storage>& tx) {
            auto current = tx.get(s, id);
            (*f)(current);
            if (current) {
                if (entity_id(*current) != id) throw error(errc::bad_input, "update changed the id of " + id);
                tx.put(s, *current);
            } else {
                tx.erase(s, id);
            }
        }, [f](std::optional<typename Store::entity_type>& current) { (*f)(current); });
    }

    // --- reads -------------------------------------------------------------------

    // The entity with every pending operation on it applied.
    template <class Store>
    std::optional<typename Store::entity_type> get(Store& s, std::string_view id) {
        using entity = typename Store::entity_type;
        std::string key = s.key_of(id);
        // The gate keeps a batch from committing between reading the stored
        // value and applying the still-pending operations on top of it.
        std::shared_lock gate(apply_gate_);
        std::vector<std::shared_ptr<op>> pending;
        {
            std::lock_guard lock(mutex_);
            for (auto& o : in_flight_)
                if (o->key == key) pending.push_back(o);
            for (auto& o : queue_)
                if (o->key == key) pending.push_back(o);
        }
        std::optional<entity> value = s.get(id);
        for (auto& o : pending) {
            auto* overlay = static_cast<std::function<void(std::optional<entity>&)>*>(o->overlay.get());
            (*overlay)(value);
        }
        return value;
    }

    // --- completion ----------------------------------------------------------------

    // Returns once everything enqueued before the call is applied and
    // durable, or failed.
    void flush() {
        std::unique_lock lock(mutex_);
        std::uint64_t target = next_sequence_ - 1;
        flush_requested_ = std::max(flush_requested_, target);
        wake_.notify_all();
        done_cv_.wait(lock, [&] { return completed_ >= target || stopped_; });
    }

    void shutdown() {
        {
            std::unique_lock lock(mutex_);
            if (stopping_) {
                lock.unlock();
                if (worker_.joinable()) worker_.join();
                return;
            }
            stopping_ = true;
        }
        wake_.notify_all();
        space_cv_.notify_all();
        if (worker_.joinable()) worker_.join();
    }

    std::size_t pending() const {
        std::lock_guard lock(mutex_);
        return queue_.size() + in_flight_.size();
    }

    struct counters {
        std::uint64_t enqueued = 0, applied = 0, failed = 0, batches = 0, retries = 0;
    };
    counters stats() const {
        std::lock_guard lock(mutex_);
        return counters_;
    }

    // --- maintenance -----------------------------------------------------------------

    // step(job) does a bounded piece of work and returns true when the job
    // is finished; it is called only while the queue is idle.
    std::shared_ptr<queue_job> add_job(std::string name, std::function<bool(queue_job&)> step) {
        auto job = std::shared_ptr<queue_job>(new queue_job(std::move(name), std::move(step)));
        std::lock_guard lock(mutex_);
        jobs_.push_back(job);
        wake_.notify_all();
        return job;
    }

private:
    struct op {
        std::uint64_t sequence = 0;
        std::string key;
        priority prio = priority::normal;
        std::function<void(db_transaction<Storage>&)> apply;
        std::shared_ptr<void> overlay;  // std::function<void(std::optional<Entity>&)>
        std::promise<void> promise;
        std::chrono::steady_clock::time_point enqueued_at;
        bool in_flight = false;
    };

    template <class Entity>
    std::shared_future<void> enqueue(std::string key, priority p, std::function<void(db_transaction<Storage>&)> apply,
                                     std::function<void(std::optional<Entity>&)> overlay) {
        auto o = std::make_shared<op>();
        o->key = std::move(key);
        o->prio = p;
        o->apply = std::move(apply);
        o->overlay = std::make_shared<std::function<void(std::optional<Entity>&)>>(std::move(overlay));
        o->enqueued_at = std::chrono::steady_clock::now();
        auto future = o->promise.get_future().share();
        queue_event ev;
        {
            std::unique_lock lock(mutex_);
            if (stopping_) throw error(errc::failed_state, "persistence queue is shut down");
            if (queue_.size() + in_flight_.size() >= options_.max_pending) {
                if (options_.when_full == queue_options::on_full::reject)
                    throw error(errc::no_space, "persistence queue full (" + std::to_string(options_.max_pending) +
                                                    " operations pending)");
                space_cv_.wait(lock, [&] { return stopping_ || queue_.size() + in_flight_.size() < options_.max_pending; });
                if (stopping_) throw error(errc::failed_state, "persistence queue is shut down");
            }
            o->sequence = next_sequence_++;
            ev = {queue_event::kind::enqueued, o->sequence, o->key, std::nullopt};
            queue_.push_back(o);
            counters_.enqueued++;
        }
        wake_.notify_all();
        if (listener_) listener_(ev);
        return future;
    }

    // What the worker should take now: everything up to and including the
    // last operation whose time has come.
    std::size_t due(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::time_point& wake_at) const {
        std::size_t take = 0;
        wake_at = now + std::chrono::hours(1);
        for (std::size_t i = 0; i < queue_.size(); ++i) {
            const auto& o = *queue_[i];
            std::chrono::steady_clock::time_point ready;
            switch (o.prio) {
                case priority::critical: ready = o.enqueued_at; break;
                case priority::normal: ready = o.enqueued_at + options_.batch_window; break;
                case priority::low: ready = last_activity_ + options_.idle_delay; break;
            }
            if (flush_requested_ >= o.sequence || stopping_) ready = now;
            if (ready <= now) take = i + 1;
            else wake_at = std::min(wake_at, ready);
        }
        return std::min(take, options_.max_batch);
    }

    void run() {
        std::unique_lock lock(mutex_);
        while (true) {
            auto now = std::chrono::steady_clock::now();
            std::chrono::steady_clock::time_point wake_at;
            std::size_t take = due(now, wake_at);
            if (take == 0) {
                if (stopping_ && queue_.empty()) break;
                if (queue_.empty() && run_job_step(lock)) continue;
                if (queue_.empty()) wake_.wait_for(lock, options_.idle_delay);
                else wake_.wait_until(lock, wake_at);
                continue;
            }
            std::vector<std::shared_ptr<op>> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
            queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
            for (auto& o : batch) {
                o->in_flight = true;
                in_flight_.push_back(o);
            }
            lock.unlock();
            std::vector<std::pair<std::shared_ptr<op>, std::optional<error>>> results;
            {
                std::unique_lock gate(apply_gate_);
                results = apply_batch(batch);
                lock.lock();
                in_flight_.clear();
            }
            lock.unlock();
            // Futures and the listener outside every lock: a listener may
            // call back into the queue.
            for (auto& [o, failure] : results) {
                if (failure) o->promise.set_exception(std::make_exception_ptr(*failure));
                else o->promise.set_value();
                if (listener_)
                    listener_({failure ? queue_event::kind::failed : queue_event::kind::applied, o->sequence, o->key, failure});
            }
            lock.lock();
            completed_ = std::max(completed_, batch.back()->sequence);
            last_activity_ = std::chrono::steady_clock::now();
            counters_.batches++;
            done_cv_.notify_all();
            space_cv_.notify_all();
        }
        stopped_ = true;
        done_cv_.notify_all();
    }

    // One transaction for the batch. An operation that fails on its own
    // (a version conflict, an exception from an update function) fails
    // alone and the rest go on — each operation checks before it stages its
    // single write, so a failing one leaves nothing in the transaction. A
    // commit that fails (I/O, full disk, a concurrent writer outside the
    // queue) is retried with backoff, re-running the operations (update
    // functions may therefore run more than once: keep them pure), then
    // every remaining operation fails with that error.
    std::vector<std::pair<std::shared_ptr<op>, std::optional<error>>> apply_batch(std::vector<std::shared_ptr<op>>& batch) {
        std::vector<std::pair<std::shared_ptr<op>, std::optional<error>>> results;
        std::vector<std::shared_ptr<op>> todo = batch;
        auto backoff = options_.backoff;
        for (int attempt = 1;; ++attempt) {
            auto tx = db_.transaction(options_.commit_durability);
            std::vector<std::shared_ptr<op>> staged;
            for (auto& o : todo) {
                try {
                    o->apply(tx);
                    staged.push_back(o);
                } catch (const error& e) {
                    results.emplace_back(o, e);
                } catch (const std::exception& e) {
                    results.emplace_back(o, error(errc::bad_input, o->key + ": " + e.what()));
                }
            }
            try {
                tx.commit();
                for (auto& o : staged) results.emplace_back(o, std::nullopt);
                break;
            } catch (const error& e) {
                bool retryable = e.kind() == errc::conflict || e.kind() == errc::io || e.kind() == errc::no_space;
                if (!retryable || attempt >= options_.max_attempts) {
                    for (auto& o : staged) results.emplace_back(o, e);
                    break;
                }
                {
                    std::lock_guard lock(mutex_);
                    counters_.retries++;
                }
                std::this_thread::sleep_for(backoff);
                backoff *= 2;
                todo = staged;  // operations that failed on their own stay failed
            }
        }
        // Report in enqueue order.
        std::sort(results.begin(), results.end(), [](auto& a, auto& b) { return a.first->sequence < b.first->sequence; });
        std::lock_guard lock(mutex_);
        for (auto& [o, failure] : results) (failure ? counters_.failed : counters_.applied)++;
        return results;
    }

    // Runs one step of the first runnable job; true if one ran.
    bool run_job_step(std::unique_lock<std::mutex>& lock) {
        if (std::chrono::steady_clock::now() < last_activity_ + options_.idle_delay) return false;
        for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
            auto job = *it;
            if (job->cancelled_ || job->done_) {
                jobs_.erase(it);
                return true;
            }
            if (job->paused_) continue;
            lock.unlock();
            bool finished = false;
            try {
                finished = job->step_(*job);
            } catch (const std::exception& e) {
                std::lock_guard l(job->mutex_);
                job->failure_ = e.what();
                finished = true;
            }
            lock.lock();
            if (finished) job->done_ = true;
            return true;
        }
        return false;
    }

    database<Storage>& db_;
    queue_options options_;
    listener listener_;

    mutable std::mutex mutex_;
    std::shared_mutex apply_gate_;  // see get()
    std::condition_variable wake_, done_cv_, space_cv_;
    std::deque<std::shared_ptr<op>> queue_;
    std::vector<std::shared_ptr<op>> in_flight_;
    std::vector<std::shared_ptr<queue_job>> jobs_;
    std::uint64_t next_sequence_ = 1;
    std::uint64_t completed_ = 0;
    std::uint64_t flush_requested_ = 0;
    std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
    bool stopping_ = false;
    bool stopped_ = false;
    counters counters_;
    std::thread worker_;
};

}  // namespace stowage
