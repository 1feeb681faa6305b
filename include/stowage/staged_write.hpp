// staged_write.hpp — the one currency of transactions.
//
// Every database participant (a store, and later the CAS map and the
// indexes) turns its operations into staged writes: a storage key, the new
// value (or nullopt to erase it), and what to do in memory once the
// transaction commits (e.g. update a store's listing). The database logs
// them, makes them visible together, and applies them to storage later; it
// knows nothing else about its participants (a record's entity id rides
// along only so that commit listeners and attached indexes can name it). That keeps one mechanism for
// atomicity, recovery and snapshots however many kinds of participant exist.
//
// Thread safety: plain values; on_commit runs on the committing thread
// after the transaction is ordered in the log, under no database lock.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "bytes.hpp"

namespace stowage {

struct staged_write {
    std::string key;
    std::optional<bytes> value;         // nullopt: erase the key
    std::function<void()> on_commit;    // may be empty
    std::string id = {};                // a store record's entity id (empty for other keys):
                                        // what commit listeners and attachment journals report
};

}  // namespace stowage
