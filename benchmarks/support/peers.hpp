// peers.hpp — thin RAII wrappers over the peer databases the store and
// commit benchmarks compare with (SQLite, LevelDB, RocksDB, LMDB), so the
// benchmark bodies read as the work they measure. Each part is compiled only
// when CMake found the library (STOWAGE_BENCH_HAVE_<PEER>).
//
// Every failure throws std::runtime_error with the library's message: a
// benchmark that silently did less work would report a wrong number.
//
// Thread safety: as the underlying library (an sqlite_db is one connection:
// one thread at a time; LevelDB/RocksDB handles are thread-safe; LMDB write
// transactions serialize inside mdb_txn_begin).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#if STOWAGE_BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif
#if STOWAGE_BENCH_HAVE_LEVELDB
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#endif
#if STOWAGE_BENCH_HAVE_ROCKSDB
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#endif
#if STOWAGE_BENCH_HAVE_LMDB
#include <lmdb.h>
#endif

namespace bench {

#if STOWAGE_BENCH_HAVE_SQLITE
// One SQLite connection.
class sqlite_db {
public:
    explicit sqlite_db(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            fail("open " + path);
    }
    sqlite_db(const sqlite_db&) = delete;
    sqlite_db& operator=(const sqlite_db&) = delete;
    ~sqlite_db() { sqlite3_close_v2(db_); }

    void exec(const std::string& sql) {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string m = msg ? msg : "?";
            sqlite3_free(msg);
            throw std::runtime_error("sqlite: " + sql + ": " + m);
        }
    }
    // The first column of the first row of a query, as text.
    std::string scalar(const std::string& sql) {
        statement st(*this, sql);
        if (!st.step()) return {};
        return std::string(st.text(0));
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("sqlite: " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    }
    sqlite3* get() const { return db_; }

    // A prepared statement, reset after each use.
    class statement {
    public:
        statement(sqlite_db& db, const std::string& sql) : db_(db) {
            if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) db.fail("prepare " + sql);
        }
        statement(const statement&) = delete;
        statement& operator=(const statement&) = delete;
        ~statement() { sqlite3_finalize(st_); }
        void bind(int i, std::string_view text) {
            if (sqlite3_bind_text(st_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) != SQLITE_OK)
                db_.fail("bind");
        }
        // True while a row is available.
        bool step() {
            int rc = sqlite3_step(st_);
            if (rc == SQLITE_ROW) return true;
            if (rc != SQLITE_DONE) db_.fail("step");
            return false;
        }
        void run() {
            step();
            reset();
        }
        void reset() {
            sqlite3_reset(st_);
            sqlite3_clear_bindings(st_);
        }
        std::string_view text(int col) const {
            auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
            return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col))) : std::string_view();
        }
        long long integer(int col) const { return sqlite3_column_int64(st_, col); }

    private:
        sqlite_db& db_;
        sqlite3_stmt* st_ = nullptr;
    };

private:
    sqlite3* db_ = nullptr;
};
#endif

#if STOWAGE_BENCH_HAVE_LEVELDB
inline void check(const leveldb::Status& s, const char* what) {
    if (!s.ok()) throw std::runtime_error(std::string("leveldb: ") + what + ": " + s.ToString());
}
#endif

#if STOWAGE_BENCH_HAVE_ROCKSDB
inline void check(const rocksdb::Status& s, const char* what) {
    if (!s.ok()) throw std::runtime_error(std::string("rocksdb: ") + what + ": " + s.ToString());
}
#endif

#if STOWAGE_BENCH_HAVE_LMDB
inline void lmdb_check(int rc, const char* what) {
    if (rc != MDB_SUCCESS) throw std::runtime_error(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}
#endif

}  // namespace bench
